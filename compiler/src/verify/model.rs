//! The network as the verifier sees it, rebuilt from the inventory alone: its quantum and
//! classical links with capacities from [`crate::physics`], and the check that every node has
//! its documents.

use super::codes;
use super::report::Out;
use crate::check::{CheckedIntent, Service};
use crate::config::{ConfigSet, SCHEMA};
use crate::inventory::{Inventory, KeyRate, Node, PairRate, Trust};
use crate::physics;
use std::collections::BTreeMap;

/// Share of a QKD link's secret key rate kept free of reservations (DESIGN §4 headroom).
pub(super) const KEY_HEADROOM: f64 = 0.1;
/// Pulse rate assumed for the PLOB bound of a link with a measured key rate.
pub(super) const MEASURED_PULSE_RATE_HZ: f64 = 1e9;
/// Error-correction inefficiency assumed for a link with a measured key rate.
pub(super) const MEASURED_EC_INEFFICIENCY: f64 = 1.16;
/// Source repetition limit on a physically computed elementary pair rate, pairs/s.
pub(super) const MAX_SOURCE_PAIR_RATE: f64 = 1e6;
/// Success probability of one entanglement swap.
pub(super) const SWAP_SUCCESS: f64 = 0.5;
/// Classical bits (sifting, error correction, authentication) per secret key bit.
pub(super) const CLASSICAL_BITS_PER_KEY_BIT: f64 = 10.0;
/// Floor of a QKD link's classical channel, bit/s.
pub(super) const CLASSICAL_MIN_BPS: f64 = 64e3;
/// Bits of one heralding message of an entanglement link.
pub(super) const HERALD_BITS: f64 = 64.0;
/// Classical bits per relayed key beyond the key itself.
pub(super) const RELAY_OVERHEAD_BITS: f64 = 256.0;
/// Classical bits per entanglement swap message.
pub(super) const SWAP_MESSAGE_BITS: f64 = 512.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Qkd,
    Entanglement,
}

pub(super) fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Qkd => "QKD",
        Kind::Entanglement => "entanglement",
    }
}

/// The kind of link an intent's service runs over.
pub(super) fn service_of(intent: &CheckedIntent) -> Kind {
    match intent.service {
        Service::Keys { .. } => Kind::Qkd,
        Service::Pairs => Kind::Entanglement,
    }
}

/// A quantum link as the physics makes it, recomputed from the inventory.
pub(super) struct QLink<'a> {
    pub(super) kind: Kind,
    pub(super) ends: [&'a str; 2],
    /// QKD: secret key rate, bit/s. Entanglement: elementary pairs/s.
    pub(super) rate: f64,
    /// QKD: the rate less the headroom. Entanglement: the pair rate.
    pub(super) usable: f64,
    /// QKD: 1 − QBER. Entanglement: elementary pair fidelity.
    pub(super) fidelity: f64,
    pub(super) qber: f64,
    pub(super) classical: Vec<&'a str>,
    /// Classical latency of the link's classical path (plus the fibre delay for
    /// entanglement links), ms.
    pub(super) latency_ms: f64,
    /// Bandwidth of the link's own classical channel, bit/s.
    pub(super) channel_bps: f64,
}

impl QLink<'_> {
    pub(super) fn joins(&self, a: &str, b: &str) -> bool {
        (self.ends[0] == a && self.ends[1] == b) || (self.ends[0] == b && self.ends[1] == a)
    }

    pub(super) fn other(&self, n: &str) -> Option<&str> {
        if self.ends[0] == n {
            Some(self.ends[1])
        } else if self.ends[1] == n {
            Some(self.ends[0])
        } else {
            None
        }
    }
}

pub(super) struct CLink<'a> {
    pub(super) ends: [&'a str; 2],
    pub(super) bandwidth_bps: f64,
    pub(super) latency_ms: f64,
}

pub(super) struct Model<'a> {
    pub(super) inv: &'a Inventory,
    pub(super) nodes: BTreeMap<&'a str, &'a Node>,
    pub(super) trusted: BTreeMap<&'a str, bool>,
    pub(super) qlinks: BTreeMap<&'a str, QLink<'a>>,
    pub(super) clinks: BTreeMap<&'a str, CLink<'a>>,
}

impl<'a> Model<'a> {
    pub(super) fn new(inv: &'a Inventory) -> Model<'a> {
        let nodes = inv
            .nodes
            .iter()
            .map(|n| (n.name.value.as_str(), n))
            .collect();
        let trusted = inv
            .domains
            .iter()
            .map(|d| (d.name.value.as_str(), d.trust == Trust::Trusted))
            .collect();
        let clinks: BTreeMap<&str, CLink> = inv
            .classical_links
            .iter()
            .map(|c| {
                (
                    c.name.value.as_str(),
                    CLink {
                        ends: [c.ends[0].value.as_str(), c.ends[1].value.as_str()],
                        bandwidth_bps: c.bandwidth_bps,
                        latency_ms: c.latency_ms,
                    },
                )
            })
            .collect();
        let classical = |path: &'a [strata_grammar::Spanned<String>]| -> (Vec<&'a str>, f64) {
            let names: Vec<&str> = path.iter().map(|c| c.value.as_str()).collect();
            let latency = names
                .iter()
                .filter_map(|c| clinks.get(c))
                .map(|c| c.latency_ms)
                .sum();
            (names, latency)
        };
        let mut qlinks = BTreeMap::new();
        for l in &inv.qkd_links {
            let eta = physics::transmittance(l.loss_db_per_km, l.length_km, l.extra_loss_db);
            let (mut rate, pulse_hz, ec) = match &l.key_rate {
                KeyRate::Measured(r) => (r.value, MEASURED_PULSE_RATE_HZ, MEASURED_EC_INEFFICIENCY),
                KeyRate::Protocol {
                    params, derating, ..
                } => (
                    physics::decoy_bb84_key_rate_bps(params, eta) / derating.max(1.0),
                    params.pulse_rate_hz,
                    params.ec_inefficiency,
                ),
            };
            // No link may be configured above the repeaterless bound, and none yields key at
            // or above the QBER threshold.
            if rate > physics::plob_rate_bps(eta, pulse_hz)
                || l.qber.value >= physics::qber_threshold(ec)
            {
                rate = 0.0;
            }
            let (classical, latency_ms) = classical(&l.classical_path);
            qlinks.insert(
                l.name.value.as_str(),
                QLink {
                    kind: Kind::Qkd,
                    ends: [l.ends[0].value.as_str(), l.ends[1].value.as_str()],
                    rate,
                    usable: rate * (1.0 - KEY_HEADROOM),
                    fidelity: 1.0 - l.qber.value,
                    qber: l.qber.value,
                    classical,
                    latency_ms,
                    channel_bps: (rate * CLASSICAL_BITS_PER_KEY_BIT).max(CLASSICAL_MIN_BPS),
                },
            );
        }
        for l in &inv.entanglement_links {
            let rate = match &l.pair_rate {
                PairRate::Measured(r) => r.value,
                PairRate::Physical { efficiency, .. } => l
                    .heralding
                    .pair_rate_per_s(l.loss_db_per_km, l.length_km, *efficiency)
                    .min(MAX_SOURCE_PAIR_RATE),
            };
            // One heralding message per round: a two-round attempt takes twice as long and
            // sends two.
            let heralds_per_s = f64::from(l.heralding.rounds())
                / l.heralding
                    .attempt_period_s(l.length_km)
                    .max(1.0 / MAX_SOURCE_PAIR_RATE);
            let (classical, latency_ms) = classical(&l.classical_path);
            qlinks.insert(
                l.name.value.as_str(),
                QLink {
                    kind: Kind::Entanglement,
                    ends: [l.ends[0].value.as_str(), l.ends[1].value.as_str()],
                    rate,
                    usable: rate,
                    fidelity: l.fidelity.value,
                    qber: 0.0,
                    classical,
                    latency_ms: latency_ms + physics::fibre_delay_s(l.length_km) * 1e3,
                    channel_bps: heralds_per_s * HERALD_BITS,
                },
            );
        }
        Model {
            inv,
            nodes,
            trusted,
            qlinks,
            clinks,
        }
    }

    pub(super) fn trusted_domain(&self, node: &str) -> bool {
        self.nodes
            .get(node)
            .and_then(|n| self.trusted.get(n.domain.value.as_str()))
            .copied()
            .unwrap_or(false)
    }
}

// ------------------------------------------------------------------ documents

pub(super) fn check_documents(model: &Model, configs: &ConfigSet, v: &mut Out) {
    for (name, cfg) in &configs.nodes {
        if !model.nodes.contains_key(name.as_str()) {
            v.push(
                codes::DOCUMENT,
                Some(name),
                format!("node `{name}`"),
                "configuration for a node the inventory does not define",
            );
        }
        let docs = [
            ("service", &cfg.service.schema, &cfg.service.node),
            ("forwarding", &cfg.forwarding.schema, &cfg.forwarding.node),
            (
                "connectivity",
                &cfg.connectivity.schema,
                &cfg.connectivity.node,
            ),
        ];
        for (stratum, schema, node) in docs {
            if schema != SCHEMA {
                let what = if schema.is_empty() {
                    "is missing".to_string()
                } else {
                    format!("has schema `{schema}`, expected `{SCHEMA}`")
                };
                v.push(
                    codes::DOCUMENT,
                    Some(name),
                    format!("{stratum} document"),
                    format!("the {stratum} document {what}"),
                );
            } else if node != name {
                v.push(
                    codes::DOCUMENT,
                    Some(name),
                    format!("{stratum} document"),
                    format!("the {stratum} document names node `{node}`"),
                );
            }
        }
    }
    for node in model.nodes.keys() {
        if !configs.nodes.contains_key(*node) {
            v.push(
                codes::DOCUMENT,
                Some(node),
                format!("node `{node}`"),
                "no configuration was emitted for this node",
            );
        }
    }
}
