//! The digital twin's emulated network: what the agents of every node of an inventory
//! manage, advanced in simulated time. Pure logic — no clock, no IO, no randomness — so the
//! same inventory, configurations, faults and steps always give the same samples.
//!
//! It uses nothing else of the runtime: the KMEs ([`crate::kme`]) read key rates and the
//! clock from it, and the twin ([`crate::twin`]) runs it with agents and KMEs around it.
//!
//! What is emulated (DESIGN §5, §7):
//!
//! * **Key generation.** Every QKD link that is up (not cut, its classical channel not cut,
//!   both end nodes up) adds `skr × dt` secret bits to a key pool at each of its two ends.
//!   `skr` is the link's rate from [`Topology`] at the inventory's QBER; a QBER raised by a
//!   fault scales it by the BB84 secret fraction `1 − (1 + f)·h(e)` relative to the
//!   inventory's QBER (never above the inventory's rate), so it reaches 0 at
//!   [`physics::qber_threshold`] — an eavesdropper starves the link. `eskr` is `skr` less
//!   the [`KEY_HEADROOM`](strata_compiler::topology::KEY_HEADROOM) the compiler keeps
//!   free. Pools are capped at [`KEY_POOL_SECONDS`] of the link's rate so a restored link
//!   does not flood.
//! * **Entanglement generation.** Every entanglement link that is up adds elementary pairs
//!   to a pool at both ends, capped at [`PAIR_POOL_SECONDS`] of its rate (older halves would
//!   have decohered past any cut-off).
//! * **Relay.** Each service unit's paths are rebuilt from the committed forwarding tables
//!   of all nodes: an entry without `virt_prev_hop` at the unit's master starts a path,
//!   `virt_next_hop` is followed node by node, and each next node must hold the matching
//!   entry (same unit, same path index, pointing back over the same link) — a node still on
//!   an older generation breaks the path. The path must end at the unit's slave, and both
//!   ends must name each other as peers. Every step each usable path delivers up to
//!   `rate × dt` units, limited by the session's token bucket at the master end and by the
//!   scarcest pool along it. Keys take `key_size` bits from both ends of every link (hop by
//!   hop one-time pad through trusted nodes); pairs take `overhead` elementary pairs from
//!   both ends of every link, `overhead = 1/Π q_swap ÷ purify(F, rounds).1`, exactly as the
//!   compiler reserved them. Delivery stops while any node or link on the path is down.
//!   Units are served by service unit name, then path index. A token bucket starts empty
//!   and lives as long as its session, whatever happens to the unit's paths; with several
//!   paths (`disjoint paths N` reserves each for the whole rate) it is what keeps the unit at
//!   its admitted rate, and the surviving path takes over when one fails.
//!   A QKD link over the QBER threshold makes no new key, but the key already in its pools
//!   stays secret and is relayed until it runs out; a cut link or a stopped node stops the
//!   path at once.
//! * **Fidelity.** Keys: 1 − the worst QBER of the links used. Pairs: the Werner chain
//!   fidelity of the current link fidelities ([`physics::chain_fidelity`]), decohered for
//!   the path's classical latency in the shortest-lived memory on it, then purified for the
//!   configured BBPSSW rounds with the storage of raw pairs waiting for their partners in
//!   the end nodes' memories at the rate the path carries ([`physics::purify_stored`]) —
//!   the compiler's own model, so an untouched network reports what was compiled.
//!
//! Delivery is fluid: fractions of a unit carry over from step to step, `delivered_total`
//! counts whole units, and `delivered_rate` is the amount delivered over the trailing
//! [`RATE_WINDOW_S`] of simulated time — exact even for intents of a few units per minute.
//! A unit whose paths change (a re-plan moved it) is measured afresh from that moment, so
//! what it delivered before does not count for its new paths.
//!
//! This file holds the public face ([`World`], its samples and faults) and the state's
//! types; `links.rs` builds the state and says what each link can do now, `paths.rs`
//! rebuilds the units' paths and prices them, `delivery.rs` advances a step and samples
//! it, `faults.rs` applies faults.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use strata_compiler::config::{NodeConfig, UnitKind};
use strata_compiler::inventory::Inventory;
use strata_compiler::physics;
use strata_compiler::topology::Topology;

/// Longest step the emulation takes; longer `advance` calls are split into equal steps.
pub const MAX_STEP_S: f64 = 0.05;
/// Most steps one `advance` call takes (a huge `dt` then takes longer steps, never hangs).
pub const MAX_STEPS_PER_ADVANCE: f64 = 1e6;
/// A QKD key pool holds at most this many seconds of its link's secret key rate.
pub const KEY_POOL_SECONDS: f64 = 30.0;
/// An entanglement pool holds at most this many seconds of its link's elementary pairs.
pub const PAIR_POOL_SECONDS: f64 = 2.0;
/// Trailing window over which `delivered_rate` is measured, simulated seconds.
pub const RATE_WINDOW_S: f64 = 1.0;
/// Swap success probability at a node whose swap schedule does not give one.
pub const DEFAULT_SWAP_SUCCESS: f64 = 0.5;
/// Key size assumed for a key service unit that does not state one, bits.
pub const DEFAULT_KEY_SIZE_BITS: u32 = 256;
/// Error-correction inefficiency of links whose key rate is measured (DESIGN §5).
pub const MEASURED_EC_INEFFICIENCY: f64 = 1.16;

/// A fault the twin can inject.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Cuts a quantum link, or a classical link (which takes down every quantum link whose
    /// classical channel runs over it).
    CutLink(String),
    RestoreLink(String),
    /// Sets a QKD link's QBER (0 ≤ QBER ≤ ½), as an eavesdropper would raise it.
    SetQber(String, f64),
    /// Sets an entanglement link's elementary pair fidelity (¼ ≤ F ≤ 1).
    SetFidelity(String, f64),
    StopNode(String),
    StartNode(String),
    /// The node's agent refuses every prepare until [`Fault::AcceptPrepare`].
    RefusePrepare(String),
    AcceptPrepare(String),
}

/// One node's view of the network at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSample {
    pub node: String,
    pub time_s: f64,
    pub up: bool,
    /// Every quantum link ending at the node, in inventory order.
    pub links: Vec<LinkSample>,
    /// Every service unit the node terminates, in its configuration's order.
    pub units: Vec<UnitSample>,
}

/// A quantum link end, with ETSI GS QKD 015 `skr`/`eskr` semantics.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkSample {
    pub link: String,
    pub peer: String,
    /// `"qkd"` or `"entanglement"`.
    pub kind: String,
    pub up: bool,
    /// QKD: current secret key rate, bit/s. Entanglement: elementary pairs/s. 0 when down.
    pub skr: f64,
    /// QKD: `skr` less the headroom. Entanglement: same as `skr`.
    pub eskr: f64,
    /// QKD: current QBER. Entanglement: 0.
    pub qber: f64,
    /// Key bits (QKD) or elementary pairs (entanglement) stored at this end.
    pub pool: f64,
    /// QKD: 1 − QBER. Entanglement: elementary pair fidelity.
    pub fidelity: f64,
}

/// A service unit at one of its ends.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitSample {
    pub service_unit: String,
    /// `"master"` or `"slave"`.
    pub role: String,
    /// Units delivered over the trailing second of simulated time, per second.
    pub delivered_rate: f64,
    /// The unit's configured (admitted) rate.
    pub target_rate: f64,
    /// Fidelity of what is being delivered (keys: 1 − worst QBER on the path; pairs: end to
    /// end after swapping, storage and purification); 0 when no path is up.
    pub fidelity: f64,
    /// Whole units delivered since the unit was first configured.
    pub delivered_total: u64,
}

/// Bookkeeping of one pool at one link end: `generated − consumed − discarded = pool`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PoolLedger {
    /// Key bits or elementary pairs the link produced at this end.
    pub generated: f64,
    /// Taken by relayed service units.
    pub consumed: f64,
    /// Dropped because the pool was full.
    pub discarded: f64,
    /// Stored now.
    pub pool: f64,
}

/// The emulated network. Every method takes `&self`; the state sits behind a mutex so many
/// agent tasks can share one world.
pub struct World {
    state: Mutex<State>,
}

impl World {
    pub fn new(inventory: &Inventory) -> World {
        World {
            state: Mutex::new(State::new(inventory)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The node's newly committed configuration (replaces the previous one). A node the
    /// inventory does not know is ignored.
    pub fn install(&self, node: &str, config: NodeConfig) {
        let mut s = self.lock();
        if let Some(&n) = s.topo.index.get(node) {
            s.configs[n] = Some(config);
            s.rebuild();
        }
    }

    /// Advances simulated time by `dt_s` seconds, in steps of at most [`MAX_STEP_S`]. A
    /// non-positive or non-finite `dt_s` does nothing.
    pub fn advance(&self, dt_s: f64) {
        if !(dt_s.is_finite() && dt_s > 0.0) {
            return;
        }
        let steps = (dt_s / MAX_STEP_S).ceil().clamp(1.0, MAX_STEPS_PER_ADVANCE);
        let step = dt_s / steps;
        let mut s = self.lock();
        for _ in 0..steps as u64 {
            s.step(step);
        }
    }

    /// Simulated time, seconds since the world was created.
    pub fn now(&self) -> f64 {
        self.lock().now
    }

    /// What the node's agent reports now; `None` for a node the inventory does not know.
    pub fn sample(&self, node: &str) -> Option<NodeSample> {
        let s = self.lock();
        let n = *s.topo.index.get(node)?;
        Some(s.sample(n))
    }

    /// Injects a fault. Errors name an unknown link or node, a fault that does not apply to
    /// the link's kind, or a value out of range.
    pub fn apply_fault(&self, fault: &Fault) -> Result<(), String> {
        self.lock().apply_fault(fault)
    }

    /// Is the node running? False for a node the inventory does not know.
    pub fn node_up(&self, node: &str) -> bool {
        let s = self.lock();
        s.topo.index.get(node).is_some_and(|&n| s.nodes[n].up)
    }

    /// Is the node's agent told to refuse prepares?
    pub fn refuses_prepare(&self, node: &str) -> bool {
        let s = self.lock();
        s.topo.index.get(node).is_some_and(|&n| s.nodes[n].refuse)
    }

    /// Every node of the inventory, in inventory order.
    pub fn nodes(&self) -> Vec<String> {
        self.lock()
            .topo
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect()
    }

    /// The ledger of the pool at `node`'s end of quantum link `link`; `None` when the link
    /// is unknown or does not end at the node.
    pub fn pool_ledger(&self, node: &str, link: &str) -> Option<PoolLedger> {
        let s = self.lock();
        let n = *s.topo.index.get(node)?;
        let l = *s.link_index.get(link)?;
        let end = s.topo.qlinks[l].ends.iter().position(|&e| e == n)?;
        Some(s.links[l].ends[end])
    }
}

// ---------------------------------------------------------------- state

struct NodeState {
    up: bool,
    refuse: bool,
}

struct LinkState {
    /// QKD: secret key rate at (or below) the inventory's QBER, bit/s, before the QBER
    /// threshold is applied. Entanglement: elementary pairs/s.
    raw_rate: f64,
    /// The inventory's QBER (QKD).
    base_qber: f64,
    /// Error-correction inefficiency f of the link's BB84 post-processing (QKD).
    ec: f64,
    qber: f64,
    /// Elementary pair fidelity (entanglement).
    fidelity: f64,
    cut: bool,
    ends: [PoolLedger; 2],
}

/// A service unit is known by its name and its two ends, so an old and a new generation
/// that move a unit's endpoints do not mix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct UnitKey {
    id: String,
    master: usize,
    slave: usize,
}

struct PathState {
    index: usize,
    nodes: Vec<usize>,
    links: Vec<usize>,
    /// Units per second this path may carry.
    rate: f64,
    /// BBPSSW rounds both ends run (pairs).
    rounds: u32,
    /// Product of the swap success probabilities at the intermediate nodes (pairs).
    swap_success: f64,
    /// Time a pair waits in memory: the path's classical latency, s (pairs).
    wait_s: f64,
    /// Shortest memory coherence time on the path, s; infinite without memories.
    coherence_s: f64,
    /// Shortest memory coherence time at the path's two ends, where raw pairs wait for
    /// their purification partners, s; infinite without memories there.
    end_coherence_s: f64,
    /// Delivered in the last step.
    last: f64,
}

impl PathState {
    /// Same route and rate: a re-plan that keeps the path keeps its measurement.
    fn same_route(&self, other: &PathState) -> bool {
        self.index == other.index
            && self.nodes == other.nodes
            && self.links == other.links
            && self.rate == other.rate
    }
}

struct UnitState {
    kind: UnitKind,
    key_size_bits: f64,
    paths: Vec<PathState>,
    /// Cumulative units delivered (fluid).
    delivered: f64,
    /// (step end, step length, units delivered in the step) for recent steps that delivered.
    history: VecDeque<(f64, f64, f64)>,
    /// When the unit's paths last changed: the measurement window starts no earlier.
    measured_from: f64,
}

struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
}

struct State {
    topo: Topology,
    link_index: BTreeMap<String, usize>,
    classical_index: BTreeMap<String, usize>,
    now: f64,
    nodes: Vec<NodeState>,
    links: Vec<LinkState>,
    classical_cut: Vec<bool>,
    configs: Vec<Option<NodeConfig>>,
    units: BTreeMap<UnitKey, UnitState>,
    /// Token bucket of each unit's session at its master end.
    buckets: BTreeMap<(String, usize), Bucket>,
}

fn secret_fraction(qber: f64, ec: f64) -> f64 {
    (1.0 - (1.0 + ec) * physics::binary_entropy(qber)).max(0.0)
}

mod delivery;
mod faults;
mod links;
mod paths;
#[cfg(test)]
mod tests;
