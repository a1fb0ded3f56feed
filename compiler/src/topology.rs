//! The inventory as a graph the optimiser and the checks search: node attributes, quantum
//! links with their physics-derived capacities (secret key rate, elementary pair rate,
//! fidelity, classical latency), classical links, and adjacency per service. Built once per
//! run from an [`Inventory`]; also reports links the physics rules out (above the PLOB
//! bound, QBER over the threshold).

use crate::inventory::{Inventory, KeyRate, PairRate, Role, Trust};
use crate::physics;
use crate::units::format_bit_rate;
use std::collections::BTreeMap;
use strata_grammar::{Diagnostic, Span};

/// Share of each QKD link's secret key rate kept free of reservations, for fluctuations.
pub const KEY_HEADROOM: f64 = 0.1;
/// Pulse rate assumed for the PLOB check of links that only give a measured rate.
pub const DEFAULT_PULSE_RATE_HZ: f64 = 1e9;
/// Classical bits exchanged (sifting, error correction, authentication) per secret key bit.
pub const QKD_CLASSICAL_BITS_PER_KEY_BIT: f64 = 10.0;
/// Floor of a QKD link's classical channel, bit/s.
pub const QKD_CLASSICAL_MIN_BPS: f64 = 64e3;
/// Bits of one heralding message of an entanglement link.
pub const HERALD_BITS: f64 = 64.0;
/// Classical bits per relayed key beyond the key itself (header, authentication tag).
pub const RELAY_OVERHEAD_BITS: f64 = 256.0;
/// Classical bits sent per entanglement swap (Bell-measurement outcome, header).
pub const SWAP_MESSAGE_BITS: f64 = 512.0;
/// Cap on a physically computed elementary pair rate (source repetition limit), pairs/s.
pub const MAX_SOURCE_PAIR_RATE: f64 = 1e6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Qkd,
    Entanglement,
}

/// Index of a resource the optimiser shares out: quantum links first, then classical links,
/// then node memories (`compile::resources::Capacities` numbers them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Resource(pub usize);

#[derive(Debug, Clone)]
pub struct TNode {
    pub name: String,
    pub domain: String,
    pub role: Role,
    pub trusted_domain: bool,
    pub memory_qubits: Option<u32>,
    pub coherence_time_s: Option<f64>,
}

impl TNode {
    /// Can keys be relayed (hop-by-hop one-time pad) through this node?
    pub fn relays_keys(&self) -> bool {
        matches!(self.role, Role::Endpoint | Role::TrustedRelay)
    }

    /// Can entanglement be swapped at this node?
    pub fn swaps(&self) -> bool {
        self.role == Role::Repeater
    }

    /// Is this node trusted to see relayed keys under `relay via trusted nodes only`?
    pub fn trusted_relay(&self) -> bool {
        self.role == Role::TrustedRelay && self.trusted_domain
    }
}

/// A quantum link with what the physics says it can do.
#[derive(Debug, Clone)]
pub struct QLink {
    pub name: String,
    pub kind: LinkKind,
    pub ends: [usize; 2],
    /// QKD: secret key rate, bit/s. Entanglement: elementary pairs per second.
    pub rate: f64,
    /// QKD: rate strata may reserve (after headroom), bit/s. Entanglement: same as `rate`.
    pub usable: f64,
    /// QKD: 1 − QBER. Entanglement: elementary pair fidelity.
    pub fidelity: f64,
    pub qber: f64,
    /// Classical links carrying this link's classical channel, in order.
    pub classical_path: Vec<usize>,
    /// Latency of the classical path, ms.
    pub latency_ms: f64,
    /// Classical bandwidth the link's own channel needs, bit/s.
    pub channel_bps: f64,
    pub span: Span,
}

impl QLink {
    pub fn other(&self, n: usize) -> usize {
        if self.ends[0] == n {
            self.ends[1]
        } else {
            self.ends[0]
        }
    }
}

#[derive(Debug, Clone)]
pub struct CLink {
    pub name: String,
    pub span: Span,
    pub ends: [usize; 2],
    pub bandwidth_bps: f64,
    pub latency_ms: f64,
}

#[derive(Debug, Clone)]
pub struct Topology {
    pub network: String,
    pub nodes: Vec<TNode>,
    pub index: BTreeMap<String, usize>,
    pub qlinks: Vec<QLink>,
    pub clinks: Vec<CLink>,
    /// Per node: (neighbour, quantum link index) over QKD links.
    pub adj_keys: Vec<Vec<(usize, usize)>>,
    /// Per node: (neighbour, quantum link index) over entanglement links.
    pub adj_pairs: Vec<Vec<(usize, usize)>>,
}

pub mod codes {
    pub const CLASSICAL_OVERBOOKED: &str = "strata::classical-overbooked";
    pub const ABOVE_PLOB: &str = "strata::above-plob";
    pub const QBER_OVER_THRESHOLD: &str = "strata::qber-over-threshold";
}

impl Topology {
    /// Builds the graph. References the inventory validation already reported as unknown are
    /// skipped. Returns the physics diagnostics too.
    pub fn new(inv: &Inventory) -> (Topology, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let trust: BTreeMap<&str, bool> = inv
            .domains
            .iter()
            .map(|d| (d.name.value.as_str(), d.trust == Trust::Trusted))
            .collect();
        let nodes: Vec<TNode> = inv
            .nodes
            .iter()
            .map(|n| TNode {
                name: n.name.value.clone(),
                domain: n.domain.value.clone(),
                role: n.role.value,
                trusted_domain: trust.get(n.domain.value.as_str()).copied().unwrap_or(false),
                memory_qubits: n.memory.map(|m| m.qubits),
                coherence_time_s: n.memory.map(|m| m.coherence_time_s),
            })
            .collect();
        let index: BTreeMap<String, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
        let clinks: Vec<CLink> = inv
            .classical_links
            .iter()
            .filter_map(|c| {
                Some(CLink {
                    name: c.name.value.clone(),
                    span: c.span,
                    ends: [*index.get(&c.ends[0].value)?, *index.get(&c.ends[1].value)?],
                    bandwidth_bps: c.bandwidth_bps,
                    latency_ms: c.latency_ms,
                })
            })
            .collect();
        let cindex: BTreeMap<&str, usize> = clinks
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_str(), i))
            .collect();
        let classical = |path: &[strata_grammar::Spanned<String>]| -> (Vec<usize>, f64) {
            let ids: Vec<usize> = path
                .iter()
                .filter_map(|c| cindex.get(c.value.as_str()).copied())
                .collect();
            let latency = ids.iter().map(|&c| clinks[c].latency_ms).sum();
            (ids, latency)
        };

        let mut qlinks = Vec::new();
        for l in &inv.qkd_links {
            let (Some(&a), Some(&b)) = (index.get(&l.ends[0].value), index.get(&l.ends[1].value))
            else {
                continue;
            };
            let eta = physics::transmittance(l.loss_db_per_km, l.length_km, l.extra_loss_db);
            let (rate, pulse_rate, ec, rate_span) = match &l.key_rate {
                KeyRate::Measured(r) => (r.value, DEFAULT_PULSE_RATE_HZ, 1.16, r.span),
                KeyRate::Protocol {
                    params,
                    derating,
                    span,
                } => (
                    physics::decoy_bb84_key_rate_bps(params, eta) / derating.max(1.0),
                    params.pulse_rate_hz,
                    params.ec_inefficiency,
                    *span,
                ),
            };
            let plob = physics::plob_rate_bps(eta, pulse_rate);
            let mut rate = rate;
            if rate > plob {
                diags.push(
                    Diagnostic::error(
                        codes::ABOVE_PLOB,
                        rate_span,
                        format!(
                            "QKD link `{}` is configured at {}, above the repeaterless (PLOB) bound of {} for {} km at {} dB/km (+{} dB) and {} MHz",
                            l.name.value,
                            format_bit_rate(rate),
                            format_bit_rate(plob),
                            l.length_km,
                            l.loss_db_per_km,
                            l.extra_loss_db,
                            pulse_rate / 1e6
                        ),
                    )
                    .label("physically impossible rate")
                    .help("no point-to-point QKD link can beat −log2(1−η) bits per pulse; check the measured rate, the length and the loss"),
                );
                rate = 0.0;
            }
            let threshold = physics::qber_threshold(ec);
            if l.qber.value >= threshold {
                diags.push(
                    Diagnostic::warning(
                        codes::QBER_OVER_THRESHOLD,
                        l.qber.span,
                        format!(
                            "QKD link `{}` has a QBER of {:.1} %, at or above the {:.1} % at which BB84 yields no key; strata will not use it",
                            l.name.value,
                            l.qber.value * 100.0,
                            threshold * 100.0
                        ),
                    )
                    .label("no secret key at this QBER")
                    .help("repair or re-align the link, then update its QBER"),
                );
                rate = 0.0;
            }
            let (classical_path, latency_ms) = classical(&l.classical_path);
            qlinks.push(QLink {
                name: l.name.value.clone(),
                kind: LinkKind::Qkd,
                ends: [a, b],
                rate,
                usable: rate * (1.0 - KEY_HEADROOM),
                fidelity: 1.0 - l.qber.value,
                qber: l.qber.value,
                classical_path,
                latency_ms,
                channel_bps: (rate * QKD_CLASSICAL_BITS_PER_KEY_BIT).max(QKD_CLASSICAL_MIN_BPS),
                span: l.span,
            });
        }
        for l in &inv.entanglement_links {
            let (Some(&a), Some(&b)) = (index.get(&l.ends[0].value), index.get(&l.ends[1].value))
            else {
                continue;
            };
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
            let (classical_path, latency_ms) = classical(&l.classical_path);
            qlinks.push(QLink {
                name: l.name.value.clone(),
                kind: LinkKind::Entanglement,
                ends: [a, b],
                rate,
                usable: rate,
                fidelity: l.fidelity.value,
                qber: 0.0,
                classical_path,
                latency_ms: latency_ms + physics::fibre_delay_s(l.length_km) * 1e3,
                channel_bps: heralds_per_s * HERALD_BITS,
                span: l.span,
            });
        }
        // The quantum links riding on each classical link, in one pass over the links.
        let mut riding: Vec<Vec<usize>> = vec![Vec::new(); clinks.len()];
        for (q, link) in qlinks.iter().enumerate() {
            for &c in &link.classical_path {
                if riding[c].last() != Some(&q) {
                    riding[c].push(q);
                }
            }
        }
        for (c, link) in clinks.iter().enumerate() {
            let riders: Vec<&QLink> = riding[c].iter().map(|&q| &qlinks[q]).collect();
            let need: f64 = riders.iter().map(|q| q.channel_bps).sum();
            if need > link.bandwidth_bps {
                let names: Vec<String> = riders.iter().map(|q| format!("`{}`", q.name)).collect();
                diags.push(
                    Diagnostic::error(
                        codes::CLASSICAL_OVERBOOKED,
                        link.span,
                        format!(
                            "classical link `{}` has {}, but the classical channels of {} need {}",
                            link.name,
                            format_bit_rate(link.bandwidth_bps),
                            names.join(", "),
                            format_bit_rate(need)
                        ),
                    )
                    .label("too little bandwidth for its quantum links")
                    .help(format!(
                        "raise its bandwidth_bps, or carry some of these channels on other classical links (each QKD link needs {QKD_CLASSICAL_BITS_PER_KEY_BIT} bit/s per secret bit/s, at least {QKD_CLASSICAL_MIN_BPS} bit/s)"
                    )),
                );
            }
        }
        let mut adj_keys = vec![Vec::new(); nodes.len()];
        let mut adj_pairs = vec![Vec::new(); nodes.len()];
        for (i, l) in qlinks.iter().enumerate() {
            let adj = match l.kind {
                LinkKind::Qkd => &mut adj_keys,
                LinkKind::Entanglement => &mut adj_pairs,
            };
            adj[l.ends[0]].push((l.ends[1], i));
            adj[l.ends[1]].push((l.ends[0], i));
        }
        (
            Topology {
                network: inv.name.clone(),
                nodes,
                index,
                qlinks,
                clinks,
                adj_keys,
                adj_pairs,
            },
            diags,
        )
    }

    pub fn adjacency(&self, kind: LinkKind) -> &[Vec<(usize, usize)>] {
        match kind {
            LinkKind::Qkd => &self.adj_keys,
            LinkKind::Entanglement => &self.adj_pairs,
        }
    }
}
