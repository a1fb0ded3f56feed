//! One compiled revision reduced to plain data ([`Snapshot`]): per intent what was admitted
//! and where, per quantum link its capacity and reservations, per node its role and domain.

use crate::check::Program;
use crate::compile::Compiled;
use crate::config::{Admission, Summary};
use crate::inventory::{Inventory, Role};
use crate::topology::{LinkKind, Topology};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One revision reduced to what the comparison needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub network: String,
    /// In the revision's intent order.
    pub intents: Vec<IntentState>,
    /// Quantum links by name.
    pub links: BTreeMap<String, LinkState>,
    /// Nodes by name.
    pub nodes: BTreeMap<String, NodeState>,
    /// The revision's assertions by canonical text: `None` when it holds, else why not
    /// ([`crate::assess::Assessment::assertions`]).
    pub assertions: BTreeMap<String, Option<String>>,
}

/// One intent as compiled in one revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentState {
    pub name: String,
    /// Service units per second asked for; unknown for an intent the front end could not
    /// serve at all ([`Snapshot::add_unservable`]).
    pub requested: Option<f64>,
    pub admitted: f64,
    pub admission: Admission,
    pub fidelity: Option<f64>,
    pub latency_ms: Option<f64>,
    /// Paths that carry a rate.
    pub paths: Vec<PathState>,
    /// The intent's `disjoint paths N`, when N > 1.
    pub disjoint_wanted: Option<u32>,
    /// The intent's own fidelity bound (with its policies).
    pub min_fidelity: Option<f64>,
    /// The intent's own latency bound, ms.
    pub max_latency_ms: Option<f64>,
    /// Why it is not fully met, as the compiler says it.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathState {
    pub nodes: Vec<String>,
    pub links: Vec<String>,
    pub rate: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuantumKind {
    Qkd,
    Entanglement,
}

/// A quantum link's capacity and what the compile reserved on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkState {
    pub kind: QuantumKind,
    pub ends: [String; 2],
    /// QKD: secret key rate, bit/s; entanglement: elementary pairs/s (physics-derived where
    /// the inventory gives no measurement).
    pub rate: f64,
    /// What may be reserved (QKD: the key rate less the headroom).
    pub usable: f64,
    pub qber: f64,
    pub length_km: f64,
    /// Reserved by admitted intents (key bit/s or elementary pairs/s).
    pub reserved: f64,
}

impl LinkState {
    /// Reserved / usable, as a fraction.
    pub fn utilisation(&self) -> f64 {
        if self.usable > 0.0 {
            // A reservation of -0.0 or a rounding error below zero reads as 0.
            (self.reserved / self.usable).max(0.0) + 0.0
        } else {
            0.0
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    pub role: String,
    pub domain: String,
}

impl Snapshot {
    /// Reduces one compiled revision: its checked program (for the intents' bounds), its
    /// inventory and what the compiler made of them.
    pub fn new(program: &Program, inventory: &Inventory, compiled: &Compiled) -> Snapshot {
        let (topo, _) = Topology::new(inventory);
        let lengths: BTreeMap<&str, f64> = inventory
            .qkd_links
            .iter()
            .map(|l| (l.name.value.as_str(), l.length_km))
            .chain(
                inventory
                    .entanglement_links
                    .iter()
                    .map(|l| (l.name.value.as_str(), l.length_km)),
            )
            .collect();
        let reserved: BTreeMap<String, f64> = compiled
            .configs
            .link_loads()
            .into_iter()
            .map(|(n, (used, _))| (n, used))
            .collect();
        let links = topo
            .qlinks
            .iter()
            .map(|l| {
                (
                    l.name.clone(),
                    LinkState {
                        kind: match l.kind {
                            LinkKind::Qkd => QuantumKind::Qkd,
                            LinkKind::Entanglement => QuantumKind::Entanglement,
                        },
                        ends: l.ends.map(|e| topo.nodes[e].name.clone()),
                        rate: l.rate,
                        usable: l.usable,
                        qber: l.qber,
                        length_km: lengths.get(l.name.as_str()).copied().unwrap_or(0.0),
                        reserved: reserved.get(&l.name).copied().unwrap_or(0.0),
                    },
                )
            })
            .collect();
        let nodes = inventory
            .nodes
            .iter()
            .map(|n| {
                (
                    n.name.value.clone(),
                    NodeState {
                        role: role_name(n.role.value).to_string(),
                        domain: n.domain.value.clone(),
                    },
                )
            })
            .collect();
        let bounds: BTreeMap<&str, (Option<f64>, Option<f64>)> = program
            .intents
            .iter()
            .map(|i| {
                (
                    i.name.as_str(),
                    (i.min_fidelity, i.max_latency_s.map(|s| s * 1000.0)),
                )
            })
            .collect();
        let mut snap = Snapshot::from_summary(&compiled.summary);
        snap.links = links;
        snap.nodes = nodes;
        for i in &mut snap.intents {
            if let Some((f, l)) = bounds.get(i.name.as_str()) {
                i.min_fidelity = *f;
                i.max_latency_ms = *l;
            }
        }
        snap
    }

    /// The intents of a compile summary, without bounds, links or nodes.
    pub fn from_summary(summary: &Summary) -> Snapshot {
        let intents = summary
            .intents
            .iter()
            .map(|i| IntentState {
                name: i.name.clone(),
                requested: Some(i.requested_rate),
                admitted: i.admitted_rate,
                admission: i.admission,
                fidelity: i.fidelity,
                latency_ms: i.latency_ms,
                paths: i
                    .paths
                    .iter()
                    .filter(|p| p.rate > 0.0)
                    .map(|p| PathState {
                        nodes: p.nodes.clone(),
                        links: p.links.clone(),
                        rate: p.rate,
                    })
                    .collect(),
                disjoint_wanted: i.disjoint_paths.filter(|&n| n > 1),
                min_fidelity: None,
                max_latency_ms: None,
                reason: i.reason.clone(),
            })
            .collect();
        Snapshot {
            network: summary.network.clone(),
            intents,
            ..Snapshot::default()
        }
    }

    /// Records an intent the front end found no allowed path for at all (it never reached
    /// the compiler): it counts as rejected, with `reason` saying why.
    pub fn add_unservable(&mut self, name: &str, reason: &str) {
        if self.intents.iter().any(|i| i.name == name) {
            return;
        }
        self.intents.push(IntentState {
            name: name.to_string(),
            requested: None,
            admitted: 0.0,
            admission: Admission::Rejected,
            fidelity: None,
            latency_ms: None,
            paths: Vec::new(),
            disjoint_wanted: None,
            min_fidelity: None,
            max_latency_ms: None,
            reason: Some(reason.to_string()),
        });
    }
}

/// Reserved capacity per quantum link, from the forwarding documents (each link is listed
/// at both ends with the same figure).
fn role_name(role: Role) -> &'static str {
    match role {
        Role::Endpoint => "endpoint",
        Role::TrustedRelay => "trusted-relay",
        Role::UntrustedRelay => "untrusted-relay",
        Role::Repeater => "repeater",
    }
}
