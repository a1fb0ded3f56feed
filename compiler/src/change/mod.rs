//! What a change to intents and/or the inventory does to every intent: two compiled
//! revisions (base and head) in, one serialisable [`Report`] out. Pure — the caller runs
//! the front end and the compiler on each revision and hands in the results.
//!
//! Each revision is first reduced to a [`Snapshot`] (per intent what was admitted and
//! where; per quantum link its capacity and reservations; per node its role and domain), so
//! the comparison itself works on plain data. Intents are matched by name.
//!
//! An intent's verdict:
//!
//! * `added` / `removed` — it exists in only one revision;
//! * `worse` — any of: a lower admitted rate; a worse admission (met → partial → rejected);
//!   fewer disjoint paths configured than its `disjoint paths N` wants, where the base had
//!   all N; its fidelity or latency now outside the intent's own bound (and not before);
//! * `better` — nothing worse, and any of: a higher admitted rate, a better admission, all
//!   wanted disjoint paths configured again, a bound violation gone;
//! * `same` — otherwise (paths, fidelity or latency may still have moved within bounds;
//!   both values are in the report).
//!
//! Rates are compared with a relative tolerance of 1e-6, so re-running the optimiser on
//! the same inputs never reads as a change.
//!
//! When an intent gets worse and the inventory changed, the inventory changes that touch
//! one of its base paths (a link of the path, or a node on it) are named next to it
//! ([`IntentChange::attribution`]). Only quantum links and nodes are compared; classical
//! links and applications are not.
//!
//! Quantum links whose utilisation (reserved / usable capacity) moved by more than
//! [`UTILISATION_THRESHOLD_PP`] percentage points are listed, largest move first.
//!
//! [`Report::assertions`] is where per-revision assertion results go once the language has
//! assertions; nothing fills it yet, and an empty list changes nothing.

use crate::check::Program;
use crate::compile::Compiled;
use crate::config::{Admission, Summary};
use crate::inventory::{Inventory, Role};
use crate::topology::{LinkKind, Topology};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Schema identifier of the report.
pub const SCHEMA: &str = "strata.diff/v1";

/// Utilisation moves at or below this many percentage points are not listed.
pub const UTILISATION_THRESHOLD_PP: f64 = 0.1;

/// Relative tolerance of rate comparisons.
const RATE_TOLERANCE: f64 = 1e-6;

mod inventory;

use inventory::{Touches, inventory_changes};

// ---------------------------------------------------------------- snapshots

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

// ---------------------------------------------------------------- report

/// What changed between two revisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub base_network: String,
    pub head_network: String,
    /// Every intent of either revision: base order, then intents only the head has.
    pub intents: Vec<IntentChange>,
    /// Quantum links whose utilisation moved by more than the threshold, largest move first.
    pub links: Vec<LinkChange>,
    /// Differences between the two inventories.
    pub inventory: Vec<InventoryChange>,
    /// Per-revision assertion results. Empty until the language has assertions; an
    /// assertion that passed in the base and fails in the head makes the report worse.
    pub assertions: Vec<AssertionChange>,
    pub counts: Counts,
    /// Some intent (or assertion) got worse.
    pub worse: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Worse,
    Better,
    Same,
    Added,
    Removed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Worse => "worse",
            Verdict::Better => "better",
            Verdict::Same => "same",
            Verdict::Added => "added",
            Verdict::Removed => "removed",
        }
    }
}

/// A value in the base and in the head (`None`: not there, or not known).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change<T> {
    pub before: T,
    pub after: T,
}

impl<T: PartialEq> Change<T> {
    pub fn changed(&self) -> bool {
        self.before != self.after
    }
}

/// Disjoint paths an intent wants and how many were configured in each revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Protection {
    pub wanted: Change<Option<u32>>,
    pub configured: Change<Option<u32>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentChange {
    pub name: String,
    pub verdict: Verdict,
    /// What made the verdict, in words ("admitted rate 10 → 4/s", …); empty for `same`.
    pub why: Vec<String>,
    pub requested: Change<Option<f64>>,
    pub admitted: Change<Option<f64>>,
    pub admission: Change<Option<Admission>>,
    pub fidelity: Change<Option<f64>>,
    pub latency_ms: Change<Option<f64>>,
    /// Each path as its chain of nodes.
    pub paths: Change<Vec<Vec<String>>>,
    /// Present when either revision asks for `disjoint paths N`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub protection: Option<Protection>,
    /// The compiler's reason for a shortfall, per revision.
    pub reason: Change<Option<String>>,
    /// For a worse intent: the inventory changes that touch its base paths.
    pub attribution: Vec<String>,
}

/// A quantum link's utilisation before and after, in percent (`None`: no such link).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkChange {
    pub link: String,
    pub kind: QuantumKind,
    pub reserved: Change<Option<f64>>,
    pub usable: Change<Option<f64>>,
    pub utilisation_pct: Change<Option<f64>>,
    /// After − before, percentage points (a missing side counts as 0).
    pub change_pp: f64,
}

/// One difference between the inventories.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryChange {
    /// `link` or `node`.
    pub element: String,
    pub name: String,
    /// `removed`, `added`, `key_rate`, `pair_rate`, `qber`, `length_km`, `role`, `domain`
    /// or `ends`.
    pub change: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub after: Option<String>,
    /// The change in words, e.g. "link q-norte-moncloa was removed".
    pub description: String,
}

/// An assertion's result in each revision (`None`: not present there).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssertionChange {
    pub name: String,
    pub passed: Change<Option<bool>>,
    /// Why it fails, when it does.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
}

impl AssertionChange {
    pub fn worse(&self) -> bool {
        self.passed.before == Some(true) && self.passed.after == Some(false)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub worse: usize,
    pub better: usize,
    pub same: usize,
    pub added: usize,
    pub removed: usize,
}

/// Compares two revisions.
pub fn compare(base: &Snapshot, head: &Snapshot) -> Report {
    let inventory = inventory_changes(base, head);
    let mut intents = Vec::new();
    for b in &base.intents {
        let h = head.intents.iter().find(|h| h.name == b.name);
        intents.push(intent_change(Some(b), h, &inventory));
    }
    for h in &head.intents {
        if !base.intents.iter().any(|b| b.name == h.name) {
            intents.push(intent_change(None, Some(h), &inventory));
        }
    }
    let mut counts = Counts::default();
    for i in &intents {
        *match i.verdict {
            Verdict::Worse => &mut counts.worse,
            Verdict::Better => &mut counts.better,
            Verdict::Same => &mut counts.same,
            Verdict::Added => &mut counts.added,
            Verdict::Removed => &mut counts.removed,
        } += 1;
    }
    let names: std::collections::BTreeSet<&String> = base
        .assertions
        .keys()
        .chain(head.assertions.keys())
        .collect();
    let assertions: Vec<AssertionChange> = names
        .into_iter()
        .map(|name| AssertionChange {
            name: name.clone(),
            passed: Change {
                before: base.assertions.get(name).map(Option::is_none),
                after: head.assertions.get(name).map(Option::is_none),
            },
            message: head.assertions.get(name).cloned().flatten(),
        })
        .collect();
    let worse = counts.worse > 0 || assertions.iter().any(AssertionChange::worse);
    Report {
        schema: SCHEMA.into(),
        base_network: base.network.clone(),
        head_network: head.network.clone(),
        intents,
        links: link_changes(base, head),
        inventory: inventory.into_iter().map(|(_, c)| c).collect(),
        assertions,
        counts,
        worse,
    }
}

fn lower(a: f64, b: f64) -> bool {
    a < b * (1.0 - RATE_TOLERANCE) - 1e-12
}

fn admission_rank(a: Admission) -> u8 {
    match a {
        Admission::Met => 0,
        Admission::Partial => 1,
        Admission::Rejected => 2,
    }
}

pub fn admission_name(a: Admission) -> &'static str {
    match a {
        Admission::Met => "met",
        Admission::Partial => "partial",
        Admission::Rejected => "rejected",
    }
}

/// How many of the paths are pairwise link- and relay-disjoint (greedy, in path order —
/// exact for the paths of a protected intent, which the compiler keeps disjoint).
pub fn disjoint_count(paths: &[PathState]) -> u32 {
    let mut links: BTreeSet<&str> = BTreeSet::new();
    let mut relays: BTreeSet<&str> = BTreeSet::new();
    let mut n = 0;
    for p in paths {
        let inner = p.nodes.iter().skip(1).take(p.nodes.len().saturating_sub(2));
        if p.links.iter().any(|l| links.contains(l.as_str()))
            || inner.clone().any(|r| relays.contains(r.as_str()))
        {
            continue;
        }
        links.extend(p.links.iter().map(String::as_str));
        relays.extend(inner.map(String::as_str));
        n += 1;
    }
    n
}

/// Outside the intent's own fidelity or latency bound.
fn violations(i: &IntentState) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(f), Some(min)) = (i.fidelity, i.min_fidelity)
        && f < min - 1e-9
    {
        out.push(format!("fidelity {} below its bound {}", num(f), num(min)));
    }
    if let (Some(l), Some(max)) = (i.latency_ms, i.max_latency_ms)
        && l > max + 1e-9
    {
        out.push(format!(
            "latency {} ms above its bound {} ms",
            num(l),
            num(max)
        ));
    }
    out
}

fn intent_change(
    b: Option<&IntentState>,
    h: Option<&IntentState>,
    inventory: &[(Touches, InventoryChange)],
) -> IntentChange {
    let name = b.or(h).map(|i| i.name.clone()).unwrap_or_default();
    let chains = |i: Option<&IntentState>| -> Vec<Vec<String>> {
        i.map(|i| i.paths.iter().map(|p| p.nodes.clone()).collect())
            .unwrap_or_default()
    };
    let wanted = Change {
        before: b.and_then(|i| i.disjoint_wanted),
        after: h.and_then(|i| i.disjoint_wanted),
    };
    let protection = (wanted.before.is_some() || wanted.after.is_some()).then(|| Protection {
        configured: Change {
            before: b
                .filter(|i| i.disjoint_wanted.is_some())
                .map(|i| disjoint_count(&i.paths)),
            after: h
                .filter(|i| i.disjoint_wanted.is_some())
                .map(|i| disjoint_count(&i.paths)),
        },
        wanted,
    });
    let mut worse = Vec::new();
    let mut better = Vec::new();
    let verdict = match (b, h) {
        (None, _) => Verdict::Added,
        (Some(_), None) => Verdict::Removed,
        (Some(b), Some(h)) => {
            if lower(h.admitted, b.admitted) {
                worse.push(format!(
                    "admitted rate {} → {}/s",
                    num(b.admitted),
                    num(h.admitted)
                ));
            } else if lower(b.admitted, h.admitted) {
                better.push(format!(
                    "admitted rate {} → {}/s",
                    num(b.admitted),
                    num(h.admitted)
                ));
            }
            let (rb, rh) = (admission_rank(b.admission), admission_rank(h.admission));
            let adm = format!(
                "admission {} → {}",
                admission_name(b.admission),
                admission_name(h.admission)
            );
            if rh > rb {
                worse.push(adm);
            } else if rh < rb {
                better.push(adm);
            }
            if let Some(p) = &protection
                && let Some(want) = p.wanted.after
            {
                let had = p.configured.before.unwrap_or(0) >= p.wanted.before.unwrap_or(0)
                    && p.wanted.before.is_some();
                let has = p.configured.after.unwrap_or(0) >= want;
                let text = format!(
                    "disjoint paths {} → {} of {want}",
                    p.configured.before.unwrap_or(0),
                    p.configured.after.unwrap_or(0)
                );
                if had && !has {
                    worse.push(text);
                } else if !had && has && p.wanted.before.is_some() {
                    better.push(text);
                }
            }
            let (vb, vh) = (violations(b), violations(h));
            if vh.is_empty() && !vb.is_empty() {
                better.push(format!("no longer {}", vb.join(", ")));
            }
            if !vh.is_empty() && vb.is_empty() {
                worse.extend(vh);
            }
            if !worse.is_empty() {
                Verdict::Worse
            } else if !better.is_empty() {
                Verdict::Better
            } else {
                Verdict::Same
            }
        }
    };
    let attribution = match (verdict, b) {
        (Verdict::Worse, Some(b)) => inventory
            .iter()
            .filter(|(t, _)| {
                b.paths.iter().any(|p| {
                    t.links.iter().any(|l| p.links.contains(l))
                        || t.nodes.iter().any(|n| p.nodes.contains(n))
                })
            })
            .map(|(_, c)| c.description.clone())
            .collect(),
        _ => Vec::new(),
    };
    IntentChange {
        name,
        verdict,
        why: if verdict == Verdict::Worse {
            worse
        } else {
            better
        },
        requested: Change {
            before: b.and_then(|i| i.requested),
            after: h.and_then(|i| i.requested),
        },
        admitted: Change {
            before: b.map(|i| i.admitted),
            after: h.map(|i| i.admitted),
        },
        admission: Change {
            before: b.map(|i| i.admission),
            after: h.map(|i| i.admission),
        },
        fidelity: Change {
            before: b.and_then(|i| i.fidelity),
            after: h.and_then(|i| i.fidelity),
        },
        latency_ms: Change {
            before: b.and_then(|i| i.latency_ms),
            after: h.and_then(|i| i.latency_ms),
        },
        paths: Change {
            before: chains(b),
            after: chains(h),
        },
        protection,
        reason: Change {
            before: b.and_then(|i| i.reason.clone()),
            after: h.and_then(|i| i.reason.clone()),
        },
        attribution,
    }
}

pub(super) fn differs(a: f64, b: f64) -> bool {
    (a - b).abs() > 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn link_changes(base: &Snapshot, head: &Snapshot) -> Vec<LinkChange> {
    let names: BTreeSet<&String> = base.links.keys().chain(head.links.keys()).collect();
    let mut out: Vec<LinkChange> = names
        .into_iter()
        .filter_map(|name| {
            let (b, h) = (base.links.get(name), head.links.get(name));
            let pct = |l: Option<&LinkState>| l.map(|l| l.utilisation() * 100.0);
            let change_pp = pct(h).unwrap_or(0.0) - pct(b).unwrap_or(0.0);
            if change_pp.abs() <= UTILISATION_THRESHOLD_PP {
                return None;
            }
            Some(LinkChange {
                link: name.clone(),
                kind: b.or(h)?.kind,
                reserved: Change {
                    before: b.map(|l| l.reserved),
                    after: h.map(|l| l.reserved),
                },
                usable: Change {
                    before: b.map(|l| l.usable),
                    after: h.map(|l| l.usable),
                },
                utilisation_pct: Change {
                    before: pct(b),
                    after: pct(h),
                },
                change_pp,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.change_pp
            .abs()
            .total_cmp(&a.change_pp.abs())
            .then_with(|| a.link.cmp(&b.link))
    });
    out
}

/// A number for people: integers as integers, others with up to four decimals.
pub fn num(v: f64) -> String {
    if v.abs() >= 1000.0 || (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round())
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests;
