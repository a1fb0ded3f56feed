//! The verifier: an independent re-check of emitted configuration against the intents and
//! the inventory it was compiled from. It owns [`verify`], the violation codes ([`codes`])
//! and [`read_dir_documents`], which loads an output directory handed in as texts.
//!
//! Independence is the point: nothing here calls the optimiser (`compile/`) or the topology
//! it searches (`topology.rs`). Link capacities are recomputed from the inventory with
//! [`crate::physics`], every service unit's paths are rebuilt from the per-node forwarding
//! tables (never from the summary), and the summary is only compared against what those
//! tables say. The re-checks (DESIGN §4–§6):
//!
//! 1. capacities of QKD, entanglement and classical links and of memories, and the
//!    reservations each link end reports;
//! 2. flow conservation: every path is a chain of real links from the intent's first endpoint
//!    to its second, with the same rate at every node;
//! 3. per admitted intent: admitted rate, policies (avoid, via, max hops, trusted relays,
//!    relay roles, disjointness), fidelity and latency;
//! 4. the service stratum: service units at both ends, their URNs, and session token
//!    buckets at the admitted rate.
//!
//! Not re-checked: memory cut-offs, latency budgets written on classical paths, and the
//! summary's objective value — they are advice to the agents, not reservations.
//!
//! A few figures of the connectivity model are not physics but strata's own accounting of
//! classical traffic (the `CLASSICAL_*` and `*_BITS` constants below); they are restated
//! here on purpose, so that a change to them in the optimiser shows up as a violation
//! until the verifier is changed with it.

use crate::check::{CheckedIntent, Program, Service};
use crate::config::{
    Admission, ConfigSet, ConnectivityConfig, ForwardingConfig, ForwardingEntry, Hop, NodeConfig,
    PurificationEntry, Reservation, SCHEMA, SUMMARY_FILE, ServiceConfig, Summary, UnitKind,
    file_name,
};
use crate::inventory::{Inventory, KeyRate, Node, PairRate, Role, Trust};
use crate::physics;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The stable codes of verifier violations, one per kind of problem.
pub mod codes {
    /// A node's document is missing, names another node or schema, or the node is unknown.
    pub const DOCUMENT: &str = "strata::verify-document";
    /// A link is missing at one of its ends, configured at a node it does not end at, or its
    /// two ends disagree.
    pub const LINK_ENDS: &str = "strata::verify-link-ends";
    /// A figure copied or derived from the inventory (key rate, pair rate, QBER, fidelity,
    /// bandwidth, latency, memory size) differs from the recomputed one.
    pub const FIGURES: &str = "strata::verify-figures";
    /// `expected_consumption`, `reservations`, `reserved_bps` or `reserved_qubits` differ
    /// from what the forwarding tables imply.
    pub const RESERVATION: &str = "strata::verify-reservation";
    /// Key bits reserved on a QKD link exceed its usable secret key rate.
    pub const QKD_CAPACITY: &str = "strata::verify-qkd-capacity";
    /// Elementary pairs reserved on an entanglement link exceed its pair rate.
    pub const PAIR_CAPACITY: &str = "strata::verify-pair-capacity";
    /// Channels and service traffic on a classical link exceed its bandwidth.
    pub const CLASSICAL_CAPACITY: &str = "strata::verify-classical-capacity";
    /// Qubits held at a node exceed its memory.
    pub const MEMORY_CAPACITY: &str = "strata::verify-memory-capacity";
    /// A quantum link's classical channel is missing or differs from the model.
    pub const CLASSICAL_CHANNEL: &str = "strata::verify-classical-channel";
    /// A hop's classical path is missing, stray, or carries the wrong links or bandwidth.
    pub const CLASSICAL_PATH: &str = "strata::verify-classical-path";
    /// Configuration for a service unit no intent defines.
    pub const UNKNOWN_UNIT: &str = "strata::verify-unknown-unit";
    /// Forwarding entries that do not chain into one path (dropped hop, loop, mismatched
    /// previous and next hops).
    pub const BROKEN_PATH: &str = "strata::verify-broken-path";
    /// A path that does not run from the intent's first endpoint to its second.
    pub const PATH_ENDPOINTS: &str = "strata::verify-path-endpoints";
    /// A hop over a link that does not join its two nodes (or is of the wrong kind).
    pub const LINK_NOT_JOINING: &str = "strata::verify-link-not-joining";
    /// A path's rate (or share) differs between the nodes along it.
    pub const RATE_MISMATCH: &str = "strata::verify-rate-mismatch";
    /// The summary disagrees with the intents or with the forwarding tables.
    pub const SUMMARY: &str = "strata::verify-summary";
    /// An admitted rate that is not what the paths carry, or above the requested rate.
    pub const ADMITTED_RATE: &str = "strata::verify-admitted-rate";
    /// An admission status (met, partial, rejected) the rates do not support.
    pub const ADMISSION: &str = "strata::verify-admission";
    /// A path through an avoided node, link or domain.
    pub const AVOID: &str = "strata::verify-avoid";
    /// A path that misses a `via` node or visits them out of order.
    pub const VIA: &str = "strata::verify-via";
    /// A path longer than `max hops`.
    pub const MAX_HOPS: &str = "strata::verify-max-hops";
    /// A relay that is not a trusted relay in a trusted domain, under `relay via trusted
    /// nodes only`.
    pub const TRUSTED_RELAY: &str = "strata::verify-trusted-relay";
    /// An intermediate node that cannot relay keys or swap entanglement.
    pub const RELAY_ROLE: &str = "strata::verify-relay-role";
    /// Paths of a `disjoint paths N` intent that share a link or relay, or too few of them.
    pub const DISJOINT: &str = "strata::verify-disjoint";
    /// A path below the intent's fidelity bound.
    pub const FIDELITY: &str = "strata::verify-fidelity";
    /// A path over the intent's latency bound.
    pub const LATENCY: &str = "strata::verify-latency";
    /// A swap entry missing, stray or inconsistent with the path.
    pub const SWAP_SCHEDULE: &str = "strata::verify-swap-schedule";
    /// Purification entries inconsistent with the path or with each other.
    pub const PURIFICATION: &str = "strata::verify-purification";
    /// A service unit missing at an endpoint, stray, or with the wrong role, peer or rate.
    pub const SERVICE_UNIT: &str = "strata::verify-service-unit";
    /// A URN that is not RFC 8141, lacks its q-component, or does not pair with the other end.
    pub const URN: &str = "strata::verify-urn";
    /// A session missing, or its token bucket or QoS not at the admitted rate.
    pub const SESSION: &str = "strata::verify-session";
    /// A node's ETSI GS QKD 015 document (`qkd_node.json`) missing, unreadable, or saying
    /// something else than its strata documents.
    pub const ETSI015: &str = "strata::verify-etsi015";
}

/// Share of a QKD link's secret key rate kept free of reservations (DESIGN §4 headroom).
const KEY_HEADROOM: f64 = 0.1;
/// Pulse rate assumed for the PLOB bound of a link with a measured key rate.
const MEASURED_PULSE_RATE_HZ: f64 = 1e9;
/// Error-correction inefficiency assumed for a link with a measured key rate.
const MEASURED_EC_INEFFICIENCY: f64 = 1.16;
/// Source repetition limit on a physically computed elementary pair rate, pairs/s.
const MAX_SOURCE_PAIR_RATE: f64 = 1e6;
/// Success probability of one entanglement swap.
const SWAP_SUCCESS: f64 = 0.5;
/// Classical bits (sifting, error correction, authentication) per secret key bit.
const CLASSICAL_BITS_PER_KEY_BIT: f64 = 10.0;
/// Floor of a QKD link's classical channel, bit/s.
const CLASSICAL_MIN_BPS: f64 = 64e3;
/// Bits of one heralding message of an entanglement link.
const HERALD_BITS: f64 = 64.0;
/// Classical bits per relayed key beyond the key itself.
const RELAY_OVERHEAD_BITS: f64 = 256.0;
/// Classical bits per entanglement swap message.
const SWAP_MESSAGE_BITS: f64 = 512.0;

/// Relative tolerance of every comparison of rates and figures.
const TOL: f64 = 1e-6;

/// One thing the emitted configuration gets wrong.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Violation {
    /// One of [`codes`].
    pub code: &'static str,
    /// The node whose document is at fault, when one is.
    pub node: Option<String>,
    /// What is wrong, e.g. "QKD link `a-r`" or "intent `x` path 0".
    pub object: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.object)?;
        if let Some(n) = &self.node {
            write!(f, " at node `{n}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Re-checks `configs` and `summary` against the intents and the inventory they were
/// compiled from. Returns every violation found, sorted; empty means the configuration is
/// sound.
pub fn verify(
    program: &Program,
    inventory: &Inventory,
    configs: &ConfigSet,
    summary: &Summary,
) -> Vec<Violation> {
    let model = Model::new(inventory);
    let mut v = Out::default();
    check_documents(&model, configs, &mut v);
    let intents: BTreeMap<&str, &CheckedIntent> = program
        .intents
        .iter()
        .map(|i| (i.name.as_str(), i))
        .collect();
    let flows = reconstruct(&model, &intents, configs, &mut v);
    let usage = Usage::of(&model, &intents, &flows);
    check_qkd_links(&model, configs, &usage, &mut v);
    check_entanglement_links(&model, configs, &usage, &mut v);
    check_classical(&model, configs, &flows, &intents, &usage, &mut v);
    check_memories(&model, configs, &usage, &mut v);
    check_summary(&model, &intents, summary, &flows, &mut v);
    let admissions: BTreeMap<&str, Admission> = summary
        .intents
        .iter()
        .map(|s| (s.name.as_str(), s.admission))
        .collect();
    for intent in &program.intents {
        let admission = admissions.get(intent.name.as_str()).copied();
        let paths = flows
            .get(intent.name.as_str())
            .map_or(&[][..], Vec::as_slice);
        check_intent(&model, intent, admission, paths, &mut v);
        check_service(&model, intent, admission, paths, configs, &mut v);
    }
    check_stray_service(&intents, configs, &mut v);
    let mut out = v.0;
    out.sort();
    out.dedup();
    out
}

// ------------------------------------------------------------------ helpers

#[derive(Default)]
struct Out(Vec<Violation>);

impl Out {
    fn push(
        &mut self,
        code: &'static str,
        node: Option<&str>,
        object: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.0.push(Violation {
            code,
            node: node.map(str::to_string),
            object: object.into(),
            message: tidy_numbers(&message.into()),
        });
    }
}

/// Drops the trailing zeros that fixed-precision formatting leaves in decimal numbers
/// (`6144.000000000` → `6144`, `0.250` → `0.25`), so messages read as people write numbers.
fn tidy_numbers(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let starts_number = b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        if !starts_number {
            let c = s[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let mut j = i;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let mut end = j;
        if j + 1 < b.len() && b[j] == b'.' && b[j + 1].is_ascii_digit() {
            let mut k = j + 1;
            while k < b.len() && b[k].is_ascii_digit() {
                k += 1;
            }
            // Only a whole number token: not part of a name like `1.2.3` or `2e5`.
            let whole = k == b.len()
                || !(b[k].is_ascii_alphanumeric()
                    || b[k] == b'.' && b.get(k + 1).is_some_and(u8::is_ascii_digit));
            end = k;
            if whole {
                let mut t = k;
                while t > j + 1 && b[t - 1] == b'0' {
                    t -= 1;
                }
                if t == j + 1 && b[j + 1] == b'0' {
                    t = j;
                }
                out.push_str(&s[i..t]);
                i = k;
                continue;
            }
        }
        out.push_str(&s[i..end]);
        i = end;
    }
    out
}

/// `a` and `b` agree to the relative tolerance (absolute below 1).
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOL * a.abs().max(b.abs()).max(1.0)
}

/// `a` ≤ `b` to the relative tolerance (absolute below 1).
fn within(a: f64, b: f64) -> bool {
    a <= b + TOL * b.abs().max(1.0)
}

fn unit_obj(unit: &str) -> String {
    format!("service unit `{unit}`")
}

fn path_obj(unit: &str, path: usize) -> String {
    format!("intent `{unit}` path {path}")
}

fn hop_str(h: &Option<Hop>) -> String {
    h.as_ref()
        .map_or("none".into(), |h| format!("`{}` over `{}`", h.node, h.link))
}

// ------------------------------------------------------------------ the recomputed network

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Qkd,
    Entanglement,
}

/// A quantum link as the physics makes it, recomputed from the inventory.
struct QLink<'a> {
    kind: Kind,
    ends: [&'a str; 2],
    /// QKD: secret key rate, bit/s. Entanglement: elementary pairs/s.
    rate: f64,
    /// QKD: the rate less the headroom. Entanglement: the pair rate.
    usable: f64,
    /// QKD: 1 − QBER. Entanglement: elementary pair fidelity.
    fidelity: f64,
    qber: f64,
    classical: Vec<&'a str>,
    /// Classical latency of the link's classical path (plus the fibre delay for
    /// entanglement links), ms.
    latency_ms: f64,
    /// Bandwidth of the link's own classical channel, bit/s.
    channel_bps: f64,
}

impl QLink<'_> {
    fn joins(&self, a: &str, b: &str) -> bool {
        (self.ends[0] == a && self.ends[1] == b) || (self.ends[0] == b && self.ends[1] == a)
    }

    fn other(&self, n: &str) -> Option<&str> {
        if self.ends[0] == n {
            Some(self.ends[1])
        } else if self.ends[1] == n {
            Some(self.ends[0])
        } else {
            None
        }
    }
}

struct CLink<'a> {
    ends: [&'a str; 2],
    bandwidth_bps: f64,
    latency_ms: f64,
}

struct Model<'a> {
    inv: &'a Inventory,
    nodes: BTreeMap<&'a str, &'a Node>,
    trusted: BTreeMap<&'a str, bool>,
    qlinks: BTreeMap<&'a str, QLink<'a>>,
    clinks: BTreeMap<&'a str, CLink<'a>>,
}

impl<'a> Model<'a> {
    fn new(inv: &'a Inventory) -> Model<'a> {
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

    fn trusted_domain(&self, node: &str) -> bool {
        self.nodes
            .get(node)
            .and_then(|n| self.trusted.get(n.domain.value.as_str()))
            .copied()
            .unwrap_or(false)
    }
}

// ------------------------------------------------------------------ documents

fn check_documents(model: &Model, configs: &ConfigSet, v: &mut Out) {
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

// ------------------------------------------------------------------ flows

/// One path of a service unit, rebuilt from the forwarding tables.
#[derive(Debug, Clone)]
struct Flow {
    index: usize,
    /// Nodes in order, when the entries chain from one end to the other.
    nodes: Vec<String>,
    links: Vec<String>,
    /// Every link any entry of the path names (for accounting when the chain is broken).
    all_links: BTreeSet<String>,
    /// Every node holding an entry of the path.
    entry_nodes: BTreeSet<String>,
    /// Service units per second: the largest rate any node of the path carries.
    rate: f64,
    /// The entries chain from the intent's first endpoint to its second.
    intact: bool,
    /// Pairs: what the path costs and delivers.
    pairs: Option<PairEval>,
}

#[derive(Debug, Clone, Copy)]
struct PairEval {
    raw_fidelity: f64,
    rounds: u32,
    fidelity: f64,
    /// Elementary pairs per link per delivered pair.
    overhead: f64,
    wait_s: f64,
}

fn service_of(intent: &CheckedIntent) -> Kind {
    match intent.service {
        Service::Keys { .. } => Kind::Qkd,
        Service::Pairs => Kind::Entanglement,
    }
}

fn reconstruct<'c>(
    model: &Model,
    intents: &BTreeMap<&str, &CheckedIntent>,
    configs: &'c ConfigSet,
    v: &mut Out,
) -> BTreeMap<String, Vec<Flow>> {
    // (unit, path) → node → entries.
    let mut entries: BTreeMap<(&'c str, usize), BTreeMap<&'c str, Vec<&'c ForwardingEntry>>> =
        BTreeMap::new();
    for (node, cfg) in &configs.nodes {
        for e in &cfg.forwarding.forwarding_table {
            entries
                .entry((e.service_unit.as_str(), e.path))
                .or_default()
                .entry(node.as_str())
                .or_default()
                .push(e);
        }
    }
    let mut flows: BTreeMap<String, Vec<Flow>> = BTreeMap::new();
    let mut reported_unknown = BTreeSet::new();
    for ((unit, index), at) in &entries {
        let Some(intent) = intents.get(unit) else {
            if reported_unknown.insert(*unit) {
                for node in at.keys() {
                    v.push(
                        codes::UNKNOWN_UNIT,
                        Some(node),
                        unit_obj(unit),
                        "forwarding entries for a service unit no intent defines",
                    );
                }
            }
            continue;
        };
        let flow = rebuild(model, intent, *index, at, v);
        flows.entry(unit.to_string()).or_default().push(flow);
    }
    // Purification entries per (unit, path), with the node that runs them.
    let mut purification: Purifications = BTreeMap::new();
    for (node, cfg) in &configs.nodes {
        for p in &cfg.forwarding.purification {
            purification
                .entry((p.service_unit.clone(), p.path))
                .or_default()
                .push((node.as_str(), p));
        }
    }
    // Pair paths: fidelity, purification and overhead; then swap and share checks.
    for (unit, list) in &mut flows {
        let intent = intents[unit.as_str()];
        let total: f64 = list.iter().map(|f| f.rate).sum();
        for f in list.iter_mut() {
            if intent.service == Service::Pairs {
                f.pairs = Some(evaluate_pairs(model, intent, f, &purification, configs, v));
            }
            if let Some(at) = entries.get(&(unit.as_str(), f.index)) {
                for (node, es) in at {
                    for e in es {
                        if total > 0.0 && !close(e.share, f.rate / total) {
                            v.push(
                                codes::RATE_MISMATCH,
                                Some(node),
                                path_obj(unit, f.index),
                                format!("share {} of the unit's rate, but the path carries {} of {} units/s", e.share, f.rate, total),
                            );
                        }
                    }
                }
            }
        }
    }
    // Purification of anything but a pair path that the tables hold.
    for ((unit, path), at) in &purification {
        let pair_path = flows
            .get(unit)
            .is_some_and(|l| l.iter().any(|f| f.index == *path && f.pairs.is_some()));
        if !pair_path {
            for (node, _) in at {
                v.push(
                    codes::PURIFICATION,
                    Some(node),
                    path_obj(unit, *path),
                    "purification of a path no forwarding entry carries pairs on",
                );
            }
        }
    }
    check_swaps(intents, configs, &flows, v);
    flows
}

/// Rebuilds one path from its entries and checks the chain.
fn rebuild(
    model: &Model,
    intent: &CheckedIntent,
    index: usize,
    at: &BTreeMap<&str, Vec<&ForwardingEntry>>,
    v: &mut Out,
) -> Flow {
    let unit = intent.name.as_str();
    let obj = path_obj(unit, index);
    let kind = service_of(intent);
    let mut all_links = BTreeSet::new();
    let mut rate: f64 = 0.0;
    let (mut lowest, mut highest) = (f64::INFINITY, f64::NEG_INFINITY);
    for (node, es) in at {
        if es.len() > 1 {
            v.push(
                codes::BROKEN_PATH,
                Some(node),
                obj.clone(),
                format!(
                    "{} forwarding entries for the same path at one node",
                    es.len()
                ),
            );
        }
        for e in es {
            rate = rate.max(e.rate);
            lowest = lowest.min(e.rate);
            highest = highest.max(e.rate);
            if !(e.rate.is_finite() && e.rate > 0.0) {
                v.push(
                    codes::RATE_MISMATCH,
                    Some(node),
                    obj.clone(),
                    format!(
                        "forwards at {} units/s; a path carries a positive rate",
                        e.rate
                    ),
                );
            }
            for h in [&e.virt_prev_hop, &e.virt_next_hop].into_iter().flatten() {
                all_links.insert(h.link.clone());
                // Every hop must name a link of the right kind that joins the two nodes.
                match model.qlinks.get(h.link.as_str()) {
                    Some(l) if l.kind == kind && l.joins(node, &h.node) => {}
                    Some(l) if l.kind != kind => v.push(
                        codes::LINK_NOT_JOINING,
                        Some(node),
                        obj.clone(),
                        format!(
                            "hop to `{}` over `{}`, which is not a {} link",
                            h.node,
                            h.link,
                            kind_name(kind)
                        ),
                    ),
                    Some(l) => v.push(
                        codes::LINK_NOT_JOINING,
                        Some(node),
                        obj.clone(),
                        format!(
                            "hop to `{}` over `{}`, which joins `{}` and `{}`",
                            h.node, h.link, l.ends[0], l.ends[1]
                        ),
                    ),
                    None => v.push(
                        codes::LINK_NOT_JOINING,
                        Some(node),
                        obj.clone(),
                        format!(
                            "hop to `{}` over `{}`, which is not a quantum link of the inventory",
                            h.node, h.link
                        ),
                    ),
                }
            }
        }
    }
    if lowest.is_finite() && highest.is_finite() && !close(lowest, highest) {
        let list: Vec<String> = at
            .iter()
            .flat_map(|(n, es)| es.iter().map(move |e| format!("{} at `{n}`", e.rate)))
            .collect();
        v.push(
            codes::RATE_MISMATCH,
            None,
            obj.clone(),
            format!("the rate differs along the path: {}", list.join(", ")),
        );
    }
    let first = |n: &str| at.get(n).and_then(|es| es.first().copied());
    let starts: Vec<&str> = at
        .iter()
        .filter(|(_, es)| es.iter().any(|e| e.virt_prev_hop.is_none()))
        .map(|(n, _)| *n)
        .collect();
    let ends: Vec<&str> = at
        .iter()
        .filter(|(_, es)| es.iter().any(|e| e.virt_next_hop.is_none()))
        .map(|(n, _)| *n)
        .collect();
    let mut intact = true;
    if starts.len() != 1 || ends.len() != 1 {
        intact = false;
        v.push(
            codes::BROKEN_PATH,
            None,
            obj.clone(),
            format!("{} entries without a previous hop ({}) and {} without a next hop ({}); a path has one of each", starts.len(), starts.join(", "), ends.len(), ends.join(", ")),
        );
    }
    // Walk from the first endpoint when it holds an entry, else from the only start.
    let src = intent.endpoints[0].node.as_str();
    let dst = intent.endpoints[1].node.as_str();
    let begin = if at.contains_key(src) {
        Some(src)
    } else {
        starts.first().copied()
    };
    let mut nodes: Vec<String> = Vec::new();
    let mut links: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    if let Some(begin) = begin {
        let mut cur = begin;
        if let Some(e) = first(cur)
            && e.virt_prev_hop.is_some()
        {
            intact = false;
            v.push(
                codes::BROKEN_PATH,
                Some(cur),
                obj.clone(),
                format!(
                    "the path's first node has a previous hop {}",
                    hop_str(&e.virt_prev_hop)
                ),
            );
        }
        loop {
            nodes.push(cur.to_string());
            seen.insert(cur);
            let Some(e) = first(cur) else { break };
            let Some(next) = &e.virt_next_hop else { break };
            let Some(ne) = first(&next.node) else {
                intact = false;
                v.push(
                    codes::BROKEN_PATH,
                    Some(cur),
                    obj.clone(),
                    format!(
                        "next hop `{}` over `{}` holds no forwarding entry for this path",
                        next.node, next.link
                    ),
                );
                break;
            };
            let expected = Some(Hop {
                node: cur.to_string(),
                link: next.link.clone(),
            });
            if ne.virt_prev_hop != expected {
                intact = false;
                v.push(
                    codes::BROKEN_PATH,
                    Some(&next.node),
                    obj.clone(),
                    format!(
                        "previous hop is {}, but `{cur}` forwards to it over `{}`",
                        hop_str(&ne.virt_prev_hop),
                        next.link
                    ),
                );
            }
            links.push(next.link.clone());
            if seen.contains(next.node.as_str()) {
                intact = false;
                v.push(
                    codes::BROKEN_PATH,
                    Some(&next.node),
                    obj.clone(),
                    "the path loops back to a node it already passed",
                );
                break;
            }
            cur = next.node.as_str();
        }
    }
    for node in at.keys() {
        if !seen.contains(node) {
            intact = false;
            v.push(
                codes::BROKEN_PATH,
                Some(node),
                obj.clone(),
                "forwarding entry off the chain from the path's first node",
            );
        }
    }
    if nodes.first().map(String::as_str) != Some(src)
        || nodes.last().map(String::as_str) != Some(dst)
        || !intact
    {
        let shown = if nodes.is_empty() {
            "nothing".to_string()
        } else {
            nodes.join(" → ")
        };
        if nodes.first().map(String::as_str) != Some(src)
            || nodes.last().map(String::as_str) != Some(dst)
        {
            v.push(
                codes::PATH_ENDPOINTS,
                None,
                obj.clone(),
                format!("the path runs {shown}, not from `{src}` to `{dst}`"),
            );
        }
        intact = false;
    }
    Flow {
        index,
        nodes,
        links,
        all_links,
        entry_nodes: at.keys().map(|n| n.to_string()).collect(),
        rate,
        intact,
        pairs: None,
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Qkd => "QKD",
        Kind::Entanglement => "entanglement",
    }
}

/// Links of a flow for accounting: the chain when it is whole, else every link named.
fn accounted_links(f: &Flow) -> Vec<String> {
    if f.intact {
        f.links.clone()
    } else {
        f.all_links.iter().cloned().collect()
    }
}

/// Purification entries per (service unit, path index), with the node holding each.
type Purifications<'c> = BTreeMap<(String, usize), Vec<(&'c str, &'c PurificationEntry)>>;

/// Fidelity, purification and elementary-pair overhead of a pair path.
fn evaluate_pairs(
    model: &Model,
    intent: &CheckedIntent,
    f: &Flow,
    purification: &Purifications,
    configs: &ConfigSet,
    v: &mut Out,
) -> PairEval {
    let unit = intent.name.as_str();
    let obj = path_obj(unit, f.index);
    let links = accounted_links(f);
    let qlinks: Vec<&QLink> = links
        .iter()
        .filter_map(|l| model.qlinks.get(l.as_str()))
        .collect();
    let fids: Vec<f64> = qlinks.iter().map(|l| l.fidelity).collect();
    let wait_s = qlinks.iter().map(|l| l.latency_ms).sum::<f64>() / 1e3;
    let path_nodes: Vec<&str> = if f.intact {
        f.nodes.iter().map(String::as_str).collect()
    } else {
        f.entry_nodes.iter().map(String::as_str).collect()
    };
    let coherence = path_nodes
        .iter()
        .filter_map(|n| model.nodes.get(n).and_then(|n| n.memory))
        .map(|m| m.coherence_time_s)
        .fold(f64::INFINITY, f64::min);
    let chain = physics::chain_fidelity(&fids);
    let raw = if coherence.is_finite() {
        physics::decohered_fidelity(chain, wait_s, coherence)
    } else {
        chain
    };
    // Purification is run by the two end nodes; their entries must agree. Raw pairs wait
    // there for their partners, at the rate the path carries.
    let ends = [
        intent.endpoints[0].node.as_str(),
        intent.endpoints[1].node.as_str(),
    ];
    let end_coherence = ends
        .iter()
        .filter_map(|n| model.nodes.get(n).and_then(|n| n.memory))
        .map(|m| m.coherence_time_s)
        .fold(f64::INFINITY, f64::min);
    let stored = |rounds: u32| physics::purify_stored(raw, rounds, f.rate, end_coherence);
    let mut rounds: Option<u32> = None;
    let mut seen_at = Vec::new();
    let here = purification.get(&(unit.to_string(), f.index));
    for &(node, p) in here.into_iter().flatten() {
        seen_at.push(node);
        if !ends.contains(&node) {
            v.push(
                codes::PURIFICATION,
                Some(node),
                obj.clone(),
                "purification scheduled at a node that is not an end of the path",
            );
            continue;
        }
        let peer = if node == ends[0] { ends[1] } else { ends[0] };
        if p.peer != peer {
            v.push(
                codes::PURIFICATION,
                Some(node),
                obj.clone(),
                format!("purification peer `{}`, expected `{peer}`", p.peer),
            );
        }
        match rounds {
            None => rounds = Some(p.rounds),
            Some(r) if r != p.rounds => v.push(
                codes::PURIFICATION,
                Some(node),
                obj.clone(),
                format!(
                    "{} purification rounds here, {r} at the other end",
                    p.rounds
                ),
            ),
            Some(_) => {}
        }
        let s = stored(p.rounds);
        if !close(p.fidelity_in, raw) || !close(p.fidelity_out, s.fidelity) {
            v.push(
                codes::PURIFICATION,
                Some(node),
                obj.clone(),
                format!(
                    "fidelity {} → {} written, recomputed {raw:.9} → {:.9} over {} round(s) at {} pairs/s",
                    p.fidelity_in, p.fidelity_out, s.fidelity, p.rounds, f.rate
                ),
            );
        }
        if !close(p.raw_pairs_per_s, s.raw_rate_per_s) || !close(p.storage_wait_s, s.wait_s) {
            v.push(
                codes::PURIFICATION,
                Some(node),
                obj.clone(),
                format!(
                    "{} raw pairs/s waiting {} s written, recomputed {:.9} pairs/s waiting {:.9} s for {} pairs/s over {} round(s)",
                    p.raw_pairs_per_s, p.storage_wait_s, s.raw_rate_per_s, s.wait_s, f.rate, p.rounds
                ),
            );
        }
    }
    let rounds = rounds.unwrap_or(0);
    if rounds > 0 {
        for end in ends {
            if configs.nodes.contains_key(end) && !seen_at.contains(&end) {
                v.push(
                    codes::PURIFICATION,
                    Some(end),
                    obj.clone(),
                    "the other end purifies this path, this end does not",
                );
            }
        }
    }
    // The reservation is sized for the least rate that keeps the fidelity bound; a path
    // carrying less would see its raw pairs decay waiting for their partners.
    let min_rate = match intent.min_fidelity {
        Some(target) => physics::purification_min_rate(raw, rounds, end_coherence, target)
            .unwrap_or(f64::INFINITY),
        None => 0.0,
    };
    if rounds > 0 && f.rate > 0.0 && f.rate < min_rate * (1.0 - TOL) {
        v.push(
            codes::PURIFICATION,
            None,
            obj.clone(),
            format!(
                "the path carries {} pairs/s, below the {min_rate:.9} pairs/s at which its raw pairs arrive fast enough to keep fidelity {} after {rounds} round(s)",
                f.rate,
                intent.min_fidelity.unwrap_or(0.0)
            ),
        );
    }
    let fidelity = stored(rounds).fidelity;
    let factor = if min_rate > 0.0 && min_rate.is_finite() {
        physics::purify_stored(raw, rounds, min_rate, end_coherence).factor
    } else {
        physics::purify(raw, rounds).1
    };
    let swaps = physics::elementary_pairs_per_link_per_s(1.0, links.len(), SWAP_SUCCESS);
    let overhead = if factor > 0.0 {
        swaps / factor
    } else {
        f64::INFINITY
    };
    PairEval {
        raw_fidelity: raw,
        rounds,
        fidelity,
        overhead,
        wait_s,
    }
}

fn check_swaps(
    intents: &BTreeMap<&str, &CheckedIntent>,
    configs: &ConfigSet,
    flows: &BTreeMap<String, Vec<Flow>>,
    v: &mut Out,
) {
    // Expected swaps: every intermediate node of an intact pair path.
    let mut expected: BTreeMap<(String, String, usize), (Hop, Hop, f64)> = BTreeMap::new();
    for (unit, list) in flows {
        for f in list.iter().filter(|f| f.intact) {
            let Some(pe) = f.pairs else { continue };
            for i in 1..f.nodes.len().saturating_sub(1) {
                let left = Hop {
                    node: f.nodes[i - 1].clone(),
                    link: f.links[i - 1].clone(),
                };
                let right = Hop {
                    node: f.nodes[i + 1].clone(),
                    link: f.links[i].clone(),
                };
                expected.insert(
                    (f.nodes[i].clone(), unit.clone(), f.index),
                    (left, right, f.rate * pe.overhead),
                );
            }
        }
    }
    let mut found = BTreeSet::new();
    for (node, cfg) in &configs.nodes {
        for s in &cfg.forwarding.swap_schedule {
            let obj = path_obj(&s.service_unit, s.path);
            if !intents.contains_key(s.service_unit.as_str()) {
                v.push(
                    codes::UNKNOWN_UNIT,
                    Some(node),
                    unit_obj(&s.service_unit),
                    "swap entry for a service unit no intent defines",
                );
                continue;
            }
            let key = (node.clone(), s.service_unit.clone(), s.path);
            match expected.get(&key) {
                None => v.push(
                    codes::SWAP_SCHEDULE,
                    Some(node),
                    obj,
                    "swap entry at a node that is not an intermediate node of this path",
                ),
                Some((left, right, rate)) => {
                    if !found.insert(key.clone()) {
                        v.push(
                            codes::SWAP_SCHEDULE,
                            Some(node),
                            obj.clone(),
                            "two swap entries for the same path",
                        );
                    }
                    if (&s.left, &s.right) != (left, right) && (&s.left, &s.right) != (right, left)
                    {
                        v.push(
                            codes::SWAP_SCHEDULE,
                            Some(node),
                            obj.clone(),
                            format!("swaps `{}`/`{}` with `{}`/`{}`, but the path's hops are `{}`/`{}` and `{}`/`{}`",
                                s.left.node, s.left.link, s.right.node, s.right.link, left.node, left.link, right.node, right.link),
                        );
                    }
                    if !close(s.rate, *rate) || !close(s.success_probability, SWAP_SUCCESS) {
                        v.push(
                            codes::SWAP_SCHEDULE,
                            Some(node),
                            obj,
                            format!(
                                "{} swaps/s at success {}, expected {rate:.9} at {SWAP_SUCCESS}",
                                s.rate, s.success_probability
                            ),
                        );
                    }
                }
            }
        }
    }
    for (node, unit, path) in expected.keys() {
        if configs.nodes.contains_key(node) && !found.contains(&(node.clone(), unit.clone(), *path))
        {
            v.push(
                codes::SWAP_SCHEDULE,
                Some(node),
                path_obj(unit, *path),
                "no swap entry at this intermediate node",
            );
        }
    }
}

// ------------------------------------------------------------------ usage and capacities

/// What the forwarding tables reserve, recomputed.
#[derive(Default)]
struct Usage {
    /// Quantum link → service unit → key bits/s (QKD) or elementary pairs/s.
    qlink: BTreeMap<String, BTreeMap<String, f64>>,
    /// Classical link → service traffic, bit/s (relay or swap messages).
    traffic: BTreeMap<String, f64>,
    /// Node → qubits held.
    memory: BTreeMap<String, f64>,
}

impl Usage {
    fn of(
        model: &Model,
        intents: &BTreeMap<&str, &CheckedIntent>,
        flows: &BTreeMap<String, Vec<Flow>>,
    ) -> Usage {
        let mut u = Usage::default();
        for (unit, list) in flows {
            let intent = intents[unit.as_str()];
            for f in list {
                let links = accounted_links(f);
                let (per_link, per_msg) = match (intent.service, f.pairs) {
                    (Service::Keys { size_bits }, _) => {
                        let bits = f64::from(size_bits);
                        (bits, bits + RELAY_OVERHEAD_BITS)
                    }
                    (Service::Pairs, Some(pe)) => (pe.overhead, SWAP_MESSAGE_BITS * pe.overhead),
                    (Service::Pairs, None) => (1.0, SWAP_MESSAGE_BITS),
                };
                for l in &links {
                    *u.qlink
                        .entry(l.clone())
                        .or_default()
                        .entry(unit.clone())
                        .or_default() += f.rate * per_link;
                    if let Some(q) = model.qlinks.get(l.as_str()) {
                        for c in &q.classical {
                            *u.traffic.entry((*c).to_string()).or_default() += f.rate * per_msg;
                        }
                    }
                }
                if let (Service::Pairs, Some(pe)) = (intent.service, f.pairs) {
                    let nodes: Vec<&String> = if f.intact {
                        f.nodes.iter().collect()
                    } else {
                        f.entry_nodes.iter().collect()
                    };
                    let last = nodes.len().saturating_sub(1);
                    for (i, n) in nodes.iter().enumerate() {
                        if model
                            .nodes
                            .get(n.as_str())
                            .is_some_and(|n| n.memory.is_some())
                        {
                            let halves = if f.intact && (i == 0 || i == last) {
                                1.0
                            } else {
                                2.0
                            };
                            *u.memory.entry((*n).clone()).or_default() +=
                                halves * f.rate * pe.overhead * pe.wait_s;
                        }
                    }
                }
            }
        }
        u
    }

    fn on(&self, link: &str) -> (f64, BTreeMap<String, f64>) {
        let m = self.qlink.get(link).cloned().unwrap_or_default();
        (m.values().sum(), m)
    }
}

fn compare_reservations(
    node: &str,
    obj: &str,
    written_total: f64,
    written: &[Reservation],
    expected_total: f64,
    expected: &BTreeMap<String, f64>,
    v: &mut Out,
) {
    if !close(written_total, expected_total) {
        v.push(
            codes::RESERVATION,
            Some(node),
            obj.to_string(),
            format!("expected_consumption {written_total}, but the forwarding tables reserve {expected_total:.9}"),
        );
    }
    let mut got: BTreeMap<&str, f64> = BTreeMap::new();
    for r in written {
        *got.entry(r.service_unit.as_str()).or_default() += r.rate;
    }
    let units: BTreeSet<&str> = got
        .keys()
        .copied()
        .chain(expected.keys().map(String::as_str))
        .collect();
    for unit in units {
        let (g, e) = (
            got.get(unit).copied().unwrap_or(0.0),
            expected.get(unit).copied().unwrap_or(0.0),
        );
        if !close(g, e) {
            v.push(
                codes::RESERVATION,
                Some(node),
                obj.to_string(),
                format!("reserves {g} for `{unit}`, but its paths need {e:.9}"),
            );
        }
    }
}

/// Checks that every link of `kind` in the inventory is configured exactly once at each of
/// its ends and nowhere else; returns the entries found per (link, node).
fn link_entries<'c, T>(
    model: &Model,
    configs: &'c ConfigSet,
    kind: Kind,
    list: impl Fn(&'c NodeConfig) -> &'c [T],
    ids: impl Fn(&T) -> (&str, &str, &str),
    v: &mut Out,
) -> BTreeMap<(String, String), &'c T> {
    let mut found: BTreeMap<(String, String), &T> = BTreeMap::new();
    for (node, cfg) in &configs.nodes {
        for e in list(cfg) {
            let (id, local, remote) = ids(e);
            let obj = format!("{} link `{id}`", kind_name(kind));
            let Some(l) = model.qlinks.get(id).filter(|l| l.kind == kind) else {
                v.push(
                    codes::LINK_ENDS,
                    Some(node),
                    obj,
                    format!("no {} link of this name in the inventory", kind_name(kind)),
                );
                continue;
            };
            if local != node || l.other(node) != Some(remote) {
                v.push(
                    codes::LINK_ENDS,
                    Some(node),
                    obj.clone(),
                    format!(
                        "configured as `{local}` – `{remote}`, but the link joins `{}` and `{}`",
                        l.ends[0], l.ends[1]
                    ),
                );
                continue;
            }
            if found.insert((id.to_string(), node.clone()), e).is_some() {
                v.push(
                    codes::LINK_ENDS,
                    Some(node),
                    obj,
                    "configured twice at this node",
                );
            }
        }
    }
    for (name, l) in model.qlinks.iter().filter(|(_, l)| l.kind == kind) {
        for end in l.ends {
            if configs.nodes.contains_key(end)
                && !found.contains_key(&(name.to_string(), end.to_string()))
            {
                v.push(
                    codes::LINK_ENDS,
                    Some(end),
                    format!("{} link `{name}`", kind_name(kind)),
                    "not configured at this end",
                );
            }
        }
    }
    found
}

fn check_qkd_links(model: &Model, configs: &ConfigSet, usage: &Usage, v: &mut Out) {
    let found = link_entries(
        model,
        configs,
        Kind::Qkd,
        |c| c.forwarding.qkd_links.as_slice(),
        |e| {
            (
                e.qkdl_id.as_str(),
                e.local_qkdn_id.as_str(),
                e.remote_qkdn_id.as_str(),
            )
        },
        v,
    );
    for (name, l) in model.qlinks.iter().filter(|(_, l)| l.kind == Kind::Qkd) {
        let obj = format!("QKD link `{name}`");
        let (total, per_unit) = usage.on(name);
        if !within(total, l.usable) {
            v.push(
                codes::QKD_CAPACITY,
                None,
                obj.clone(),
                format!(
                    "the forwarding tables draw {total:.3} bit/s of key, over its usable {:.3} bit/s (secret key rate {:.3} less {}% headroom)",
                    l.usable,
                    l.rate,
                    KEY_HEADROOM * 100.0
                ),
            );
        }
        let ends: Vec<_> = l
            .ends
            .iter()
            .filter_map(|e| {
                found
                    .get(&(name.to_string(), e.to_string()))
                    .map(|x| (*e, *x))
            })
            .collect();
        for (node, e) in &ends {
            if !close(e.skr, l.rate) || !close(e.eskr, l.usable) || !close(e.qber, l.qber) {
                v.push(
                    codes::FIGURES,
                    Some(node),
                    obj.clone(),
                    format!(
                        "skr {} / eskr {} / qber {} written, recomputed {:.9} / {:.9} / {}",
                        e.skr, e.eskr, e.qber, l.rate, l.usable, l.qber
                    ),
                );
            }
            compare_reservations(
                node,
                &obj,
                e.expected_consumption,
                &e.reservations,
                total,
                &per_unit,
                v,
            );
        }
        if let [(_, a), (_, b)] = ends.as_slice()
            && (a.skr != b.skr
                || a.eskr != b.eskr
                || a.qber != b.qber
                || a.expected_consumption != b.expected_consumption
                || a.reservations != b.reservations)
        {
            v.push(
                codes::LINK_ENDS,
                None,
                obj,
                "the two ends of the link disagree on its figures or reservations",
            );
        }
    }
}

fn check_entanglement_links(model: &Model, configs: &ConfigSet, usage: &Usage, v: &mut Out) {
    let found = link_entries(
        model,
        configs,
        Kind::Entanglement,
        |c| c.forwarding.entanglement_links.as_slice(),
        |e| {
            (
                e.link_id.as_str(),
                e.local_node.as_str(),
                e.remote_node.as_str(),
            )
        },
        v,
    );
    for (name, l) in model
        .qlinks
        .iter()
        .filter(|(_, l)| l.kind == Kind::Entanglement)
    {
        let obj = format!("entanglement link `{name}`");
        let (total, per_unit) = usage.on(name);
        if !within(total, l.usable) {
            v.push(
                codes::PAIR_CAPACITY,
                None,
                obj.clone(),
                format!("the forwarding tables draw {total:.6} elementary pairs/s (swap and purification overhead included), over the link's {:.6} pairs/s", l.usable),
            );
        }
        let ends: Vec<_> = l
            .ends
            .iter()
            .filter_map(|e| {
                found
                    .get(&(name.to_string(), e.to_string()))
                    .map(|x| (*e, *x))
            })
            .collect();
        for (node, e) in &ends {
            if !close(e.pair_rate, l.rate) || !close(e.fidelity, l.fidelity) {
                v.push(
                    codes::FIGURES,
                    Some(node),
                    obj.clone(),
                    format!(
                        "pair rate {} / fidelity {} written, recomputed {:.9} / {}",
                        e.pair_rate, e.fidelity, l.rate, l.fidelity
                    ),
                );
            }
            compare_reservations(
                node,
                &obj,
                e.expected_consumption,
                &e.reservations,
                total,
                &per_unit,
                v,
            );
        }
        if let [(_, a), (_, b)] = ends.as_slice()
            && (a.pair_rate != b.pair_rate
                || a.fidelity != b.fidelity
                || a.expected_consumption != b.expected_consumption
                || a.reservations != b.reservations)
        {
            v.push(
                codes::LINK_ENDS,
                None,
                obj,
                "the two ends of the link disagree on its figures or reservations",
            );
        }
    }
}

fn check_classical(
    model: &Model,
    configs: &ConfigSet,
    flows: &BTreeMap<String, Vec<Flow>>,
    intents: &BTreeMap<&str, &CheckedIntent>,
    usage: &Usage,
    v: &mut Out,
) {
    // Classical channels of quantum links: one per link end, as the model sizes them.
    let mut channel: BTreeMap<&str, (f64, BTreeSet<String>)> = BTreeMap::new();
    for (node, cfg) in &configs.nodes {
        let ConnectivityConfig {
            classical_channels, ..
        } = &cfg.connectivity;
        for ch in classical_channels {
            let obj = format!("classical channel of `{}`", ch.quantum_link);
            let Some(q) = model.qlinks.get(ch.quantum_link.as_str()) else {
                v.push(
                    codes::CLASSICAL_CHANNEL,
                    Some(node),
                    obj,
                    "channel of a quantum link the inventory does not define",
                );
                continue;
            };
            if q.other(node).is_none() {
                v.push(
                    codes::CLASSICAL_CHANNEL,
                    Some(node),
                    obj.clone(),
                    "channel of a quantum link that does not end at this node",
                );
            }
            if ch
                .path
                .iter()
                .map(String::as_str)
                .ne(q.classical.iter().copied())
                || !close(ch.bandwidth_bps, q.channel_bps)
            {
                v.push(
                    codes::CLASSICAL_CHANNEL,
                    Some(node),
                    obj,
                    format!(
                        "{} bit/s over [{}], expected {:.9} bit/s over [{}]",
                        ch.bandwidth_bps,
                        ch.path.join(", "),
                        q.channel_bps,
                        q.classical.join(", ")
                    ),
                );
            }
            let entry = channel.entry(ch.quantum_link.as_str()).or_default();
            entry.0 = entry.0.max(ch.bandwidth_bps);
            entry.1.extend(ch.path.iter().cloned());
        }
    }
    for (name, q) in &model.qlinks {
        for end in q.ends {
            let has = configs.nodes.get(end).is_some_and(|c| {
                c.connectivity
                    .classical_channels
                    .iter()
                    .any(|ch| ch.quantum_link == *name)
            });
            if configs.nodes.contains_key(end) && !has {
                v.push(
                    codes::CLASSICAL_CHANNEL,
                    Some(end),
                    format!("classical channel of `{name}`"),
                    "no classical channel for this quantum link end",
                );
            }
        }
    }
    // Classical paths: one per hop of every path, at the node the hop leaves.
    // (node, unit, path, quantum link) → (classical links, bit/s).
    type HopKey = (String, String, usize, String);
    let mut expected: BTreeMap<HopKey, (Vec<&str>, f64)> = BTreeMap::new();
    for (unit, list) in flows {
        let intent = intents[unit.as_str()];
        for f in list.iter().filter(|f| f.intact) {
            let per_msg = match (intent.service, f.pairs) {
                (Service::Keys { size_bits }, _) => f64::from(size_bits) + RELAY_OVERHEAD_BITS,
                (Service::Pairs, Some(pe)) => SWAP_MESSAGE_BITS * pe.overhead,
                (Service::Pairs, None) => SWAP_MESSAGE_BITS,
            };
            for (i, l) in f.links.iter().enumerate() {
                let classical = model
                    .qlinks
                    .get(l.as_str())
                    .map(|q| q.classical.clone())
                    .unwrap_or_default();
                expected.insert(
                    (f.nodes[i].clone(), unit.clone(), f.index, l.clone()),
                    (classical, f.rate * per_msg),
                );
            }
        }
    }
    let mut traffic_written: BTreeMap<&str, f64> = BTreeMap::new();
    let mut found = BTreeSet::new();
    for (node, cfg) in &configs.nodes {
        for p in &cfg.connectivity.classical_paths {
            for c in &p.classical_links {
                *traffic_written.entry(c.as_str()).or_default() += p.bandwidth_bps;
            }
            let obj = format!(
                "classical path of {} over `{}`",
                path_obj(&p.service_unit, p.path),
                p.quantum_link
            );
            if !intents.contains_key(p.service_unit.as_str()) {
                v.push(
                    codes::UNKNOWN_UNIT,
                    Some(node),
                    unit_obj(&p.service_unit),
                    "classical path for a service unit no intent defines",
                );
                continue;
            }
            let key = (
                node.clone(),
                p.service_unit.clone(),
                p.path,
                p.quantum_link.clone(),
            );
            let Some((links, bps)) = expected.get(&key) else {
                // Broken paths are reported as such; only flag entries of whole paths.
                let whole = flows
                    .get(&p.service_unit)
                    .is_some_and(|l| l.iter().any(|f| f.index == p.path && f.intact));
                if whole || !flows.contains_key(&p.service_unit) {
                    v.push(
                        codes::CLASSICAL_PATH,
                        Some(node),
                        obj,
                        "no hop of the path leaves this node over this quantum link",
                    );
                }
                continue;
            };
            if !found.insert(key.clone()) {
                v.push(
                    codes::CLASSICAL_PATH,
                    Some(node),
                    obj.clone(),
                    "two classical paths for the same hop",
                );
            }
            if p.classical_links
                .iter()
                .map(String::as_str)
                .ne(links.iter().copied())
                || !close(p.bandwidth_bps, *bps)
            {
                v.push(
                    codes::CLASSICAL_PATH,
                    Some(node),
                    obj,
                    format!(
                        "{} bit/s over [{}], expected {bps:.9} bit/s over [{}]",
                        p.bandwidth_bps,
                        p.classical_links.join(", "),
                        links.join(", ")
                    ),
                );
            }
        }
    }
    for (node, unit, path, link) in expected.keys() {
        if configs.nodes.contains_key(node)
            && !found.contains(&(node.clone(), unit.clone(), *path, link.clone()))
        {
            v.push(
                codes::CLASSICAL_PATH,
                Some(node),
                format!("classical path of {} over `{link}`", path_obj(unit, *path)),
                "the hop leaving this node has no classical path",
            );
        }
    }
    // Capacity of every classical link: channels plus service traffic, as written and as
    // the forwarding tables imply, whichever is larger.
    let mut entries: BTreeMap<(&str, &str), &crate::config::ClassicalLinkConfig> = BTreeMap::new();
    for (node, cfg) in &configs.nodes {
        for c in &cfg.connectivity.classical_links {
            let obj = format!("classical link `{}`", c.link_id);
            let Some(l) = model.clinks.get(c.link_id.as_str()) else {
                v.push(
                    codes::LINK_ENDS,
                    Some(node),
                    obj,
                    "no classical link of this name in the inventory",
                );
                continue;
            };
            let ok_end = (l.ends[0] == node && l.ends[1] == c.remote_node)
                || (l.ends[1] == node && l.ends[0] == c.remote_node);
            if !ok_end {
                v.push(
                    codes::LINK_ENDS,
                    Some(node),
                    obj,
                    format!(
                        "configured towards `{}`, but the link joins `{}` and `{}`",
                        c.remote_node, l.ends[0], l.ends[1]
                    ),
                );
                continue;
            }
            if entries
                .insert((c.link_id.as_str(), node.as_str()), c)
                .is_some()
            {
                v.push(
                    codes::LINK_ENDS,
                    Some(node),
                    obj,
                    "configured twice at this node",
                );
            }
        }
    }
    for (name, l) in &model.clinks {
        let obj = format!("classical link `{name}`");
        let channels_model: f64 = model
            .qlinks
            .values()
            .filter(|q| q.classical.contains(name))
            .map(|q| q.channel_bps)
            .sum();
        let channels_written: f64 = channel
            .values()
            .filter(|(_, path)| path.contains(*name))
            .map(|(bps, _)| bps)
            .sum();
        let traffic_model = usage.traffic.get(*name).copied().unwrap_or(0.0);
        let traffic = traffic_written.get(name).copied().unwrap_or(0.0);
        let load = channels_model.max(channels_written) + traffic_model.max(traffic);
        if !within(load, l.bandwidth_bps) {
            v.push(
                codes::CLASSICAL_CAPACITY,
                None,
                obj.clone(),
                format!(
                    "{:.3} bit/s of quantum-link channels and {:.3} bit/s of relay/swap traffic, over its {} bit/s",
                    channels_model.max(channels_written),
                    traffic_model.max(traffic),
                    l.bandwidth_bps
                ),
            );
        }
        let mut ends = Vec::new();
        for end in l.ends {
            if !configs.nodes.contains_key(end) {
                continue;
            }
            let Some(c) = entries.get(&(*name, end)) else {
                v.push(
                    codes::LINK_ENDS,
                    Some(end),
                    obj.clone(),
                    "not configured at this end",
                );
                continue;
            };
            ends.push(*c);
            if c.bandwidth_bps != l.bandwidth_bps || c.latency_ms != l.latency_ms {
                v.push(
                    codes::FIGURES,
                    Some(end),
                    obj.clone(),
                    format!(
                        "{} bit/s, {} ms written; the inventory says {} bit/s, {} ms",
                        c.bandwidth_bps, c.latency_ms, l.bandwidth_bps, l.latency_ms
                    ),
                );
            }
            let reserved = channels_model + traffic_model;
            if !close(c.reserved_bps, reserved) {
                v.push(
                    codes::RESERVATION,
                    Some(end),
                    obj.clone(),
                    format!(
                        "reserved_bps {}, but channels and paths need {reserved:.9}",
                        c.reserved_bps
                    ),
                );
            }
        }
        if let [a, b] = ends.as_slice()
            && (a.bandwidth_bps != b.bandwidth_bps
                || a.reserved_bps != b.reserved_bps
                || a.latency_ms != b.latency_ms)
        {
            v.push(
                codes::LINK_ENDS,
                None,
                obj,
                "the two ends of the link disagree",
            );
        }
    }
}

fn check_memories(model: &Model, configs: &ConfigSet, usage: &Usage, v: &mut Out) {
    for (name, node) in &model.nodes {
        let held = usage.memory.get(*name).copied().unwrap_or(0.0);
        let obj = format!("memory of `{name}`");
        let Some(cfg) = configs.nodes.get(*name) else {
            continue;
        };
        let ForwardingConfig { memory, .. } = &cfg.forwarding;
        match (node.memory, memory) {
            (None, None) => {}
            (None, Some(_)) => v.push(
                codes::FIGURES,
                Some(name),
                obj.clone(),
                "memory configured at a node without quantum memory",
            ),
            (Some(_), None) => v.push(
                codes::FIGURES,
                Some(name),
                obj.clone(),
                "the node's quantum memory is not configured",
            ),
            (Some(m), Some(c)) => {
                if c.qubits != m.qubits || c.coherence_time_s != m.coherence_time_s {
                    v.push(
                        codes::FIGURES,
                        Some(name),
                        obj.clone(),
                        format!(
                            "{} qubits, {} s written; the inventory says {} qubits, {} s",
                            c.qubits, c.coherence_time_s, m.qubits, m.coherence_time_s
                        ),
                    );
                }
                if !close(c.reserved_qubits, held) {
                    v.push(
                        codes::RESERVATION,
                        Some(name),
                        obj.clone(),
                        format!(
                            "reserved_qubits {}, but the paths through it hold {held:.9}",
                            c.reserved_qubits
                        ),
                    );
                }
            }
        }
        let qubits = node.memory.map_or(0.0, |m| f64::from(m.qubits));
        if !within(held, qubits) {
            v.push(
                codes::MEMORY_CAPACITY,
                Some(name),
                obj,
                format!("the paths through it hold {held:.6} qubits on average, over its {qubits}"),
            );
        }
    }
}

// ------------------------------------------------------------------ summary and intents

/// Admitted rate the paths give: the sum, or with `disjoint paths N` the worst case after
/// losing any one path.
fn covered(intent: &CheckedIntent, flows: &[Flow]) -> f64 {
    let total: f64 = flows.iter().map(|f| f.rate).sum();
    if intent.constraints.disjoint_paths > 1 {
        flows
            .iter()
            .map(|f| total - f.rate)
            .fold(f64::INFINITY, f64::min)
            .min(total)
    } else {
        total
    }
}

fn check_summary(
    model: &Model,
    intents: &BTreeMap<&str, &CheckedIntent>,
    summary: &Summary,
    flows: &BTreeMap<String, Vec<Flow>>,
    v: &mut Out,
) {
    if summary.schema != SCHEMA {
        v.push(
            codes::SUMMARY,
            None,
            "summary",
            format!("schema `{}`, expected `{SCHEMA}`", summary.schema),
        );
    }
    if summary.network != model.inv.name {
        v.push(
            codes::SUMMARY,
            None,
            "summary",
            format!(
                "network `{}`, but the intents use `{}`",
                summary.network, model.inv.name
            ),
        );
    }
    let count = |a: Admission| summary.intents.iter().filter(|s| s.admission == a).count();
    let counts = (
        count(Admission::Met),
        count(Admission::Partial),
        count(Admission::Rejected),
    );
    if counts != (summary.admitted, summary.partial, summary.rejected) {
        v.push(
            codes::SUMMARY,
            None,
            "summary",
            format!(
                "counts {} met / {} partial / {} rejected, but its intents say {} / {} / {}",
                summary.admitted, summary.partial, summary.rejected, counts.0, counts.1, counts.2
            ),
        );
    }
    let mut seen = BTreeSet::new();
    for s in &summary.intents {
        let obj = format!("intent `{}`", s.name);
        if !seen.insert(s.name.as_str()) {
            v.push(
                codes::SUMMARY,
                None,
                obj.clone(),
                "listed twice in the summary",
            );
        }
        let Some(intent) = intents.get(s.name.as_str()) else {
            v.push(
                codes::SUMMARY,
                None,
                obj,
                "in the summary but not among the intents",
            );
            continue;
        };
        let kind = match intent.service {
            Service::Keys { .. } => UnitKind::Keys,
            Service::Pairs => UnitKind::EntangledPairs,
        };
        let ends = [
            intent.endpoints[0].node.clone(),
            intent.endpoints[1].node.clone(),
        ];
        if s.kind != kind
            || s.endpoints != ends
            || s.priority != intent.priority
            || !close(s.requested_rate, intent.min_rate)
        {
            v.push(
                codes::SUMMARY,
                None,
                obj.clone(),
                format!(
                    "{:?} between {} and {} at priority {} for {}/s, but the intent asks {:?} between {} and {} at priority {} for {}/s",
                    s.kind, s.endpoints[0], s.endpoints[1], s.priority, s.requested_rate, kind, ends[0], ends[1], intent.priority, intent.min_rate
                ),
            );
        }
        // The summary's paths must be those of the forwarding tables.
        let list = flows.get(&s.name).map_or(&[][..], Vec::as_slice);
        let mut tables: Vec<&Flow> = list.iter().filter(|f| f.intact).collect();
        tables.sort_by(|a, b| (&a.nodes, &a.links).cmp(&(&b.nodes, &b.links)));
        let mut written: Vec<_> = s.paths.iter().collect();
        written.sort_by(|a, b| (&a.nodes, &a.links).cmp(&(&b.nodes, &b.links)));
        if list.iter().all(|f| f.intact) {
            let same = tables.len() == written.len()
                && tables.iter().zip(&written).all(|(t, w)| {
                    t.nodes == w.nodes && t.links == w.links && close(t.rate, w.rate)
                });
            if !same {
                let show = |p: &[String], r: f64| format!("{} at {r}/s", p.join("→"));
                v.push(
                    codes::SUMMARY,
                    None,
                    obj.clone(),
                    format!(
                        "the summary lists [{}], the forwarding tables hold [{}]",
                        written
                            .iter()
                            .map(|w| show(&w.nodes, w.rate))
                            .collect::<Vec<_>>()
                            .join(" | "),
                        tables
                            .iter()
                            .map(|t| show(&t.nodes, t.rate))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    ),
                );
            } else {
                for (t, w) in tables.iter().zip(&written) {
                    let latency: f64 = t
                        .links
                        .iter()
                        .filter_map(|l| model.qlinks.get(l.as_str()))
                        .map(|q| q.latency_ms)
                        .sum();
                    let fidelity = path_fidelity(model, &t.links, t.pairs);
                    let rounds = t.pairs.map_or(0, |p| p.rounds);
                    if !close(w.latency_ms, latency)
                        || !close(w.fidelity, fidelity)
                        || w.purification_rounds.unwrap_or(0) != rounds
                    {
                        v.push(
                            codes::SUMMARY,
                            None,
                            obj.clone(),
                            format!(
                                "path {} claims fidelity {}, {} ms, {} purification round(s); recomputed {fidelity:.9}, {latency:.9} ms, {rounds}",
                                w.nodes.join("→"),
                                w.fidelity,
                                w.latency_ms,
                                w.purification_rounds.unwrap_or(0)
                            ),
                        );
                    }
                }
            }
        }
        let admitted = covered(intent, list);
        if !close(s.admitted_rate, admitted) {
            v.push(
                codes::ADMITTED_RATE,
                None,
                obj.clone(),
                format!(
                    "admitted {}/s in the summary, but its paths carry {admitted:.9}/s",
                    s.admitted_rate
                ),
            );
        }
    }
    for name in intents.keys() {
        if !seen.contains(name) {
            v.push(
                codes::SUMMARY,
                None,
                format!("intent `{name}`"),
                "missing from the summary",
            );
        }
    }
}

/// Keys: worst link fidelity (1 − QBER). Pairs: end to end after purification.
fn path_fidelity(model: &Model, links: &[String], pairs: Option<PairEval>) -> f64 {
    match pairs {
        Some(p) => p.fidelity,
        None => links
            .iter()
            .filter_map(|l| model.qlinks.get(l.as_str()))
            .map(|q| q.fidelity)
            .fold(1.0, f64::min),
    }
}

fn check_intent(
    model: &Model,
    intent: &CheckedIntent,
    admission: Option<Admission>,
    flows: &[Flow],
    v: &mut Out,
) {
    let obj = format!("intent `{}`", intent.name);
    let admitted = covered(intent, flows);
    let requested = intent.min_rate;
    match admission {
        Some(Admission::Rejected) | None => {
            if !flows.is_empty() {
                v.push(
                    codes::ADMISSION,
                    None,
                    obj.clone(),
                    "not admitted, yet forwarding entries carry it",
                );
            }
        }
        Some(Admission::Met) => {
            if admitted < requested * (1.0 - TOL) {
                v.push(
                    codes::ADMISSION,
                    None,
                    obj.clone(),
                    format!("marked met, but its paths carry {admitted:.9} of {requested}/s"),
                );
            }
        }
        Some(Admission::Partial) => {
            if admitted <= 0.0 || admitted >= requested * (1.0 - TOL) {
                v.push(
                    codes::ADMISSION,
                    None,
                    obj.clone(),
                    format!("marked partial, but its paths carry {admitted:.9} of {requested}/s"),
                );
            }
        }
    }
    if !within(admitted, requested) {
        v.push(
            codes::ADMITTED_RATE,
            None,
            obj.clone(),
            format!("its paths carry {admitted:.9}/s, more than the {requested}/s requested"),
        );
    }
    let c = &intent.constraints;
    for f in flows.iter().filter(|f| f.intact) {
        let pobj = path_obj(&intent.name, f.index);
        for n in &f.nodes {
            let domain = model
                .nodes
                .get(n.as_str())
                .map(|n| n.domain.value.as_str())
                .unwrap_or("");
            if c.avoid_nodes.contains(n) {
                v.push(
                    codes::AVOID,
                    None,
                    pobj.clone(),
                    format!("passes node `{n}`, which the intent avoids"),
                );
            }
            if c.avoid_domains.contains(domain) {
                v.push(
                    codes::AVOID,
                    None,
                    pobj.clone(),
                    format!("passes node `{n}` of domain `{domain}`, which the intent avoids"),
                );
            }
        }
        for l in &f.links {
            if c.avoid_links.contains(l) {
                v.push(
                    codes::AVOID,
                    None,
                    pobj.clone(),
                    format!("uses link `{l}`, which the intent avoids"),
                );
            }
        }
        let mut pos = 0;
        for via in &c.via_nodes {
            match f.nodes[pos..].iter().position(|n| n == via) {
                Some(i) => pos += i,
                None => {
                    v.push(
                        codes::VIA,
                        None,
                        pobj.clone(),
                        format!("does not pass `{via}` (in order of the intent's via nodes)"),
                    );
                    break;
                }
            }
        }
        if let Some(max) = c.max_hops
            && f.links.len() > max as usize
        {
            v.push(
                codes::MAX_HOPS,
                None,
                pobj.clone(),
                format!("{} hops, over the {max} allowed", f.links.len()),
            );
        }
        let inner = &f.nodes[1..f.nodes.len().saturating_sub(1).max(1)];
        for n in inner {
            let Some(node) = model.nodes.get(n.as_str()) else {
                continue;
            };
            let role = node.role.value;
            match intent.service {
                Service::Keys { .. } => {
                    if !matches!(role, Role::Endpoint | Role::TrustedRelay) {
                        v.push(
                            codes::RELAY_ROLE,
                            None,
                            pobj.clone(),
                            format!(
                                "relays keys through `{n}`, an {} that cannot relay keys",
                                role.describe()
                            ),
                        );
                    }
                    if c.trusted_relays_only
                        && !(role == Role::TrustedRelay && model.trusted_domain(n))
                    {
                        v.push(
                            codes::TRUSTED_RELAY,
                            None,
                            pobj.clone(),
                            format!("relays through `{n}` ({} in domain `{}`), but the intent relays via trusted nodes only", role.describe(), node.domain.value),
                        );
                    }
                }
                Service::Pairs => {
                    // Only repeaters swap; an endpoint's memory only stores its own pairs.
                    if role != Role::Repeater {
                        v.push(
                            codes::RELAY_ROLE,
                            None,
                            pobj.clone(),
                            format!(
                                "swaps entanglement at `{n}`, an {}: only repeaters swap",
                                role.describe()
                            ),
                        );
                    }
                }
            }
        }
        // Fidelity.
        if let Some(min) = intent.min_fidelity {
            match intent.service {
                Service::Keys { .. } => {
                    for l in &f.links {
                        if let Some(q) = model.qlinks.get(l.as_str())
                            && q.fidelity < min - 1e-12
                        {
                            v.push(
                                codes::FIDELITY,
                                None,
                                pobj.clone(),
                                format!(
                                    "link `{l}` has fidelity 1 − QBER = {:.6}, below the required {min}",
                                    q.fidelity
                                ),
                            );
                        }
                    }
                }
                Service::Pairs => {
                    let got = f.pairs.map_or(0.0, |p| p.fidelity);
                    if got < min - 1e-9 {
                        let raw = f.pairs.map_or(0.0, |p| p.raw_fidelity);
                        v.push(
                            codes::FIDELITY,
                            None,
                            pobj.clone(),
                            format!("delivers fidelity {got:.6} ({raw:.6} before purification), below the required {min}"),
                        );
                    }
                }
            }
        }
        if let Some(max_s) = intent.max_latency_s {
            let latency: f64 = f
                .links
                .iter()
                .filter_map(|l| model.qlinks.get(l.as_str()))
                .map(|q| q.latency_ms)
                .sum();
            if !within(latency, max_s * 1e3) {
                v.push(
                    codes::LATENCY,
                    None,
                    pobj.clone(),
                    format!(
                        "classical latency {latency:.6} ms, over the {} ms allowed",
                        max_s * 1e3
                    ),
                );
            }
        }
    }
    if c.disjoint_paths > 1 && !flows.is_empty() {
        let used: Vec<&Flow> = flows.iter().filter(|f| f.rate > 0.0).collect();
        if used.len() < c.disjoint_paths as usize {
            v.push(
                codes::DISJOINT,
                None,
                obj.clone(),
                format!(
                    "spread over {} path(s), but the intent asks for {} disjoint paths",
                    used.len(),
                    c.disjoint_paths
                ),
            );
        }
        for (i, a) in used.iter().enumerate() {
            for b in &used[i + 1..] {
                let shared_link = a.links.iter().find(|l| b.links.contains(l));
                let inner = |f: &Flow| f.nodes[1..f.nodes.len().saturating_sub(1).max(1)].to_vec();
                let (ia, ib) = (inner(a), inner(b));
                let shared_node = ia.iter().find(|n| ib.contains(n));
                if let Some(l) = shared_link {
                    v.push(
                        codes::DISJOINT,
                        None,
                        obj.clone(),
                        format!("paths {} and {} share link `{l}`", a.index, b.index),
                    );
                }
                if let Some(n) = shared_node {
                    v.push(
                        codes::DISJOINT,
                        None,
                        obj.clone(),
                        format!("paths {} and {} share relay `{n}`", a.index, b.index),
                    );
                }
            }
        }
    }
}

// ------------------------------------------------------------------ service stratum

fn check_service(
    model: &Model,
    intent: &CheckedIntent,
    admission: Option<Admission>,
    flows: &[Flow],
    configs: &ConfigSet,
    v: &mut Out,
) {
    let admitted_status = matches!(admission, Some(Admission::Met | Admission::Partial));
    let obj = unit_obj(&intent.name);
    let admitted = covered(intent, flows);
    let (kind, key_size) = match intent.service {
        Service::Keys { size_bits } => (UnitKind::Keys, Some(size_bits)),
        Service::Pairs => (UnitKind::EntangledPairs, None),
    };
    // What the worst path delivers: end to end for pairs, the worst link for keys.
    let fidelity: Vec<f64> = flows
        .iter()
        .filter(|f| f.intact)
        .map(|f| path_fidelity(model, &f.links, f.pairs))
        .collect();
    let mut urns = Vec::new();
    for (end, role) in [
        (0usize, crate::config::EndRole::Master),
        (1, crate::config::EndRole::Slave),
    ] {
        let node = intent.endpoints[end].node.as_str();
        let peer = intent.endpoints[1 - end].node.as_str();
        let Some(cfg) = configs.nodes.get(node) else {
            continue;
        };
        let ServiceConfig {
            service_units,
            sessions,
            ..
        } = &cfg.service;
        let units: Vec<_> = service_units
            .iter()
            .filter(|u| u.id == intent.name)
            .collect();
        let sess: Vec<_> = sessions
            .iter()
            .filter(|s| s.service_unit == intent.name)
            .collect();
        if !admitted_status {
            if !units.is_empty() || !sess.is_empty() {
                v.push(
                    codes::SERVICE_UNIT,
                    Some(node),
                    obj.clone(),
                    "service unit or session of an intent that was not admitted",
                );
            }
            continue;
        }
        let [u] = units.as_slice() else {
            v.push(
                codes::SERVICE_UNIT,
                Some(node),
                obj.clone(),
                format!(
                    "{} service unit entries at this endpoint, expected one",
                    units.len()
                ),
            );
            continue;
        };
        if u.role != role
            || u.peer != peer
            || u.kind != kind
            || u.key_size != key_size
            || !close(u.rate, admitted)
        {
            v.push(
                codes::SERVICE_UNIT,
                Some(node),
                obj.clone(),
                format!(
                    "{:?} {:?} with peer `{}`, key size {:?}, {}/s; expected {role:?} {kind:?} with peer `{peer}`, key size {key_size:?}, {admitted:.9}/s",
                    u.role, u.kind, u.peer, u.key_size, u.rate
                ),
            );
        }
        let worst = fidelity.iter().copied().fold(1.0, f64::min);
        if !fidelity.is_empty() && u.fidelity > worst + TOL {
            v.push(
                codes::SERVICE_UNIT,
                Some(node),
                obj.clone(),
                format!(
                    "advertises fidelity {}, but its worst path delivers {worst:.9}",
                    u.fidelity
                ),
            );
        }
        for (what, urn) in [
            ("local", &u.urns.local),
            ("remote", &u.urns.remote),
            ("lifecycle", &u.urns.lifecycle),
        ] {
            match parse_urn(urn) {
                Err(e) => v.push(
                    codes::URN,
                    Some(node),
                    obj.clone(),
                    format!("{what} URN `{urn}` is not RFC 8141: {e}"),
                ),
                Ok(p) if p.q.is_none_or(str::is_empty) => v.push(
                    codes::URN,
                    Some(node),
                    obj.clone(),
                    format!("{what} URN `{urn}` has no `?=` q-component"),
                ),
                Ok(_) => {}
            }
        }
        if let Ok(UrnParts {
            nss, q: Some(q), ..
        }) = parse_urn(&u.urns.lifecycle)
        {
            let params: BTreeMap<&str, &str> =
                q.split('&').filter_map(|kv| kv.split_once('=')).collect();
            let ok = nss == "lifecycle"
                && match key_size {
                    Some(bits) => params.get("size") == Some(&bits.to_string().as_str()),
                    None => params.contains_key("count") && params.contains_key("fidelity"),
                };
            if !ok {
                v.push(
                    codes::URN,
                    Some(node),
                    obj.clone(),
                    format!(
                        "lifecycle URN `{}` does not state the unit's {}",
                        u.urns.lifecycle,
                        if key_size.is_some() {
                            "key size"
                        } else {
                            "pair count and fidelity"
                        }
                    ),
                );
            }
        }
        if let Some(given) = &intent.endpoints[end].urn {
            let ok = if given.contains("?=") {
                u.urns.local == *given
            } else {
                u.urns.local.starts_with(&format!("{given}?="))
            };
            if !ok {
                v.push(
                    codes::URN,
                    Some(node),
                    obj.clone(),
                    format!(
                        "local URN `{}` is not the endpoint's URN `{given}`",
                        u.urns.local
                    ),
                );
            }
        }
        urns.push((node, u.urns.clone()));
        // Keys: the KME registers the application (ETSI GS QKD 015) with its peer.
        if let Some(bits) = key_size {
            let app = cfg.service.qkd_applications.iter().find(|a| {
                a.client_app_id.contains(&u.urns.local) && a.server_app_id.contains(&u.urns.remote)
            });
            match app {
                None => v.push(
                    codes::SERVICE_UNIT,
                    Some(node),
                    obj.clone(),
                    format!(
                        "no qkd_application registers `{}` with peer `{}`",
                        u.urns.local, u.urns.remote
                    ),
                ),
                Some(a) if !close(a.app_qos.min_bandwidth, admitted * f64::from(bits)) => v.push(
                    codes::SERVICE_UNIT,
                    Some(node),
                    obj.clone(),
                    format!(
                        "app_qos.min_bandwidth {} bit/s, but {:.9} bit/s of key is admitted",
                        a.app_qos.min_bandwidth,
                        admitted * f64::from(bits)
                    ),
                ),
                Some(_) => {}
            }
        }
        let [s] = sess.as_slice() else {
            v.push(
                codes::SESSION,
                Some(node),
                obj.clone(),
                format!("{} sessions at this endpoint, expected one", sess.len()),
            );
            continue;
        };
        let bits = key_size.map_or(0.0, f64::from);
        if !close(s.token_bucket.rate, admitted)
            || (key_size.is_some() && !close(s.qos.min_bps, admitted * bits))
        {
            v.push(
                codes::SESSION,
                Some(node),
                obj.clone(),
                format!(
                    "token bucket at {}/s (min_bps {}), but {admitted:.9}/s is admitted",
                    s.token_bucket.rate, s.qos.min_bps
                ),
            );
        }
    }
    if let [(a, ua), (b, ub)] = urns.as_slice() {
        if ua.local != ub.remote || ua.remote != ub.local {
            v.push(
                codes::URN,
                None,
                obj.clone(),
                format!("`{a}` names itself `{}` and its peer `{}`, but `{b}` names itself `{}` and its peer `{}`", ua.local, ua.remote, ub.local, ub.remote),
            );
        }
        if ua.lifecycle != ub.lifecycle {
            v.push(
                codes::URN,
                None,
                obj,
                format!(
                    "the ends disagree on the lifecycle URN: `{}` vs `{}`",
                    ua.lifecycle, ub.lifecycle
                ),
            );
        }
    }
}

/// Service units and sessions at nodes that are not an endpoint of their intent.
fn check_stray_service(intents: &BTreeMap<&str, &CheckedIntent>, configs: &ConfigSet, v: &mut Out) {
    for (node, cfg) in &configs.nodes {
        let ids = cfg
            .service
            .service_units
            .iter()
            .map(|u| u.id.as_str())
            .chain(cfg.service.sessions.iter().map(|s| s.service_unit.as_str()));
        for id in ids.collect::<BTreeSet<_>>() {
            match intents.get(id) {
                None => v.push(
                    codes::UNKNOWN_UNIT,
                    Some(node),
                    unit_obj(id),
                    "service unit or session no intent defines",
                ),
                Some(i) if !i.endpoints.iter().any(|e| &e.node == node) => v.push(
                    codes::SERVICE_UNIT,
                    Some(node),
                    unit_obj(id),
                    "service unit or session at a node that is not an endpoint of the intent",
                ),
                Some(_) => {}
            }
        }
    }
}

/// The parts of an RFC 8141 URN.
#[derive(Debug, PartialEq, Eq)]
struct UrnParts<'a> {
    nid: &'a str,
    nss: &'a str,
    r: Option<&'a str>,
    q: Option<&'a str>,
    f: Option<&'a str>,
}

/// Parses `urn:NID:NSS[?+r][?=q][#f]` after RFC 8141 §2.
fn parse_urn(s: &str) -> Result<UrnParts<'_>, String> {
    if s.len() < 4 || !s[..4].eq_ignore_ascii_case("urn:") {
        return Err("it does not start with `urn:`".into());
    }
    let rest = &s[4..];
    let (nid, rest) = rest
        .split_once(':')
        .ok_or("no `:` after the namespace identifier")?;
    let nid_ok = (2..=32).contains(&nid.len())
        && nid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !nid.starts_with('-')
        && !nid.ends_with('-');
    if !nid_ok {
        return Err(format!(
            "namespace identifier `{nid}` is not 2–32 letters, digits and inner hyphens"
        ));
    }
    let (rest, f) = match rest.split_once('#') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let nss_end = rest.find('?').unwrap_or(rest.len());
    let (nss, mut tail) = rest.split_at(nss_end);
    if nss.is_empty() || nss.starts_with('/') || !chars_ok(nss, false) {
        return Err(format!(
            "namespace-specific string `{nss}` is empty or has characters RFC 8141 does not allow"
        ));
    }
    let mut r = None;
    if let Some(t) = tail.strip_prefix("?+") {
        let end = t.find("?=").unwrap_or(t.len());
        r = Some(&t[..end]);
        tail = &t[end..];
    }
    let mut q = None;
    if let Some(t) = tail.strip_prefix("?=") {
        q = Some(t);
        tail = "";
    }
    if !tail.is_empty() {
        return Err(format!(
            "`{tail}` is neither an r- (`?+`) nor a q-component (`?=`)"
        ));
    }
    for (what, part) in [("r-component", r), ("q-component", q), ("f-component", f)] {
        if let Some(p) = part
            && (p.is_empty() || !chars_ok(p, true))
        {
            return Err(format!(
                "{what} `{p}` is empty or has characters RFC 8141 does not allow"
            ));
        }
    }
    Ok(UrnParts { nid, nss, r, q, f })
}

/// Every character is a pchar, `/` or (when `question` is set) `?`; `%` starts two hex digits.
fn chars_ok(s: &str, question: bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let ok = c.is_ascii_alphanumeric()
            || b"-._~!$&'()*+,;=:@/".contains(&c)
            || (question && c == b'?');
        if c == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
            continue;
        }
        if !ok {
            return false;
        }
        i += 1;
    }
    true
}

// ------------------------------------------------------------------ reading an output dir

/// Loads an output directory written by `strata compile`: `files` are (relative path, text)
/// pairs as [`ConfigSet::render`] names them (`NODE/STRATUM.yaml`), plus `summary.json`.
/// Other files are ignored. A node whose documents are missing gets empty ones, which
/// [`verify`] reports.
pub fn read_dir_documents(files: &[(String, String)]) -> Result<(ConfigSet, Summary), String> {
    let mut set = ConfigSet::default();
    let mut summary = None;
    let mut seen: BTreeSet<(String, &str)> = BTreeSet::new();
    for (path, text) in files {
        let rel = path.replace('\\', "/");
        let rel = rel.trim_start_matches("./");
        if rel == SUMMARY_FILE {
            summary =
                Some(serde_json::from_str::<Summary>(text).map_err(|e| format!("`{rel}`: {e}"))?);
            continue;
        }
        let Some((dir, doc)) = rel.rsplit_once('/') else {
            continue;
        };
        if dir.contains('/') {
            continue;
        }
        let stratum = match doc {
            "service.yaml" => "service",
            "forwarding.yaml" => "forwarding",
            "connectivity.yaml" => "connectivity",
            _ => continue,
        };
        let err = |e: serde_yaml::Error| format!("`{rel}`: {e}");
        let node = match stratum {
            "service" => {
                let d: ServiceConfig = serde_yaml::from_str(text).map_err(err)?;
                let n = d.node.clone();
                set.nodes.entry(n.clone()).or_default().service = d;
                n
            }
            "forwarding" => {
                let d: ForwardingConfig = serde_yaml::from_str(text).map_err(err)?;
                let n = d.node.clone();
                set.nodes.entry(n.clone()).or_default().forwarding = d;
                n
            }
            _ => {
                let d: ConnectivityConfig = serde_yaml::from_str(text).map_err(err)?;
                let n = d.node.clone();
                set.nodes.entry(n.clone()).or_default().connectivity = d;
                n
            }
        };
        if file_name(&node) != dir {
            return Err(format!(
                "`{rel}` configures node `{node}` but sits in directory `{dir}`"
            ));
        }
        if !seen.insert((node.clone(), stratum)) {
            return Err(format!("two {stratum} documents for node `{node}`"));
        }
    }
    let summary = summary.ok_or_else(|| format!("no `{SUMMARY_FILE}` in the output directory"))?;
    Ok((set, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_tidied() {
        assert_eq!(
            tidy_numbers("need 6144.000000000 bit/s, 0.250 of 12.5, 3.000 at `n1.0`"),
            "need 6144 bit/s, 0.25 of 12.5, 3 at `n1.0`"
        );
        assert_eq!(
            tidy_numbers("v1.20 and 1.2.30 and 7"),
            "v1.20 and 1.2.30 and 7"
        );
        assert_eq!(tidy_numbers("0.000 → 10.0 µ"), "0 → 10 µ");
    }

    #[test]
    fn urn_syntax() {
        let p = parse_urn("urn:qkd:madqci:ccips?=nonce=177923").unwrap();
        assert_eq!(
            (p.nid, p.nss, p.q),
            ("qkd", "madqci:ccips", Some("nonce=177923"))
        );
        assert!(parse_urn("urn:qkd:lifecycle?=size=256&valid-until=1750708945").is_ok());
        assert!(parse_urn("URN:ex:a/b?+res?=q=1#frag").is_ok());
        assert!(parse_urn("urn:x:abc").is_err(), "one-letter NID");
        assert!(parse_urn("urn:-ab:abc").is_err());
        assert!(parse_urn("urn:ab:").is_err());
        assert!(parse_urn("urn:ab:a b").is_err());
        assert!(parse_urn("urn:ab:a%2").is_err());
        assert!(parse_urn("urn:ab:a%2f").is_ok());
        assert!(parse_urn("urn:ab:a?x").is_err());
        assert!(parse_urn("urn:ab:a?=").is_err());
        assert!(parse_urn("http://x").is_err());
    }
}
