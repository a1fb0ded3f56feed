//! The digital twin's emulated network: what the agents of every node of an inventory
//! manage, advanced in simulated time. Pure logic — no clock, no IO, no randomness — so the
//! same inventory, configurations, faults and steps always give the same samples.
//!
//! What is emulated (DESIGN §5, §7):
//!
//! * **Key generation.** Every QKD link that is up (not cut, its classical channel not cut,
//!   both end nodes up) adds `skr × dt` secret bits to a key pool at each of its two ends.
//!   `skr` is the link's rate from [`Topology`] at the inventory's QBER; a QBER raised by a
//!   fault scales it by the BB84 secret fraction `1 − (1 + f)·h(e)` relative to the
//!   inventory's QBER (never above the inventory's rate), so it reaches 0 at
//!   [`physics::qber_threshold`] — an eavesdropper starves the link. `eskr` is `skr` less
//!   the [`KEY_HEADROOM`] the compiler keeps free. Pools are capped at
//!   [`KEY_POOL_SECONDS`] of the link's rate so a restored link does not flood.
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

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use strata_compiler::config::{EndRole, NodeConfig, UnitKind};
use strata_compiler::inventory::{Inventory, KeyRate};
use strata_compiler::physics;
use strata_compiler::topology::{KEY_HEADROOM, LinkKind, Topology};

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

impl State {
    fn new(inv: &Inventory) -> State {
        // Rates before the QBER threshold: the topology zeroes links over it, but a fault
        // may bring their QBER back down.
        let mut clear = inv.clone();
        for l in &mut clear.qkd_links {
            l.qber.value = 0.0;
        }
        let (topo, _) = Topology::new(&clear);
        let qkd: BTreeMap<&str, (f64, f64)> = inv
            .qkd_links
            .iter()
            .map(|l| {
                let ec = match &l.key_rate {
                    KeyRate::Measured(_) => MEASURED_EC_INEFFICIENCY,
                    KeyRate::Protocol { params, .. } => params.ec_inefficiency,
                };
                (l.name.value.as_str(), (l.qber.value, ec))
            })
            .collect();
        let links = topo
            .qlinks
            .iter()
            .map(|q| {
                let (base_qber, ec) = match q.kind {
                    LinkKind::Qkd => qkd
                        .get(q.name.as_str())
                        .copied()
                        .unwrap_or((0.0, MEASURED_EC_INEFFICIENCY)),
                    LinkKind::Entanglement => (0.0, MEASURED_EC_INEFFICIENCY),
                };
                LinkState {
                    raw_rate: q.rate.max(0.0),
                    base_qber,
                    ec,
                    qber: base_qber,
                    fidelity: q.fidelity,
                    cut: false,
                    ends: [PoolLedger::default(); 2],
                }
            })
            .collect();
        State {
            link_index: topo
                .qlinks
                .iter()
                .enumerate()
                .map(|(i, l)| (l.name.clone(), i))
                .collect(),
            classical_index: topo
                .clinks
                .iter()
                .enumerate()
                .map(|(i, l)| (l.name.clone(), i))
                .collect(),
            now: 0.0,
            nodes: topo
                .nodes
                .iter()
                .map(|_| NodeState {
                    up: true,
                    refuse: false,
                })
                .collect(),
            links,
            classical_cut: vec![false; topo.clinks.len()],
            configs: vec![None; topo.nodes.len()],
            units: BTreeMap::new(),
            buckets: BTreeMap::new(),
            topo,
        }
    }

    /// Is the link carrying anything: not cut, its classical channel intact, both ends up?
    fn link_up(&self, l: usize) -> bool {
        let q = &self.topo.qlinks[l];
        !self.links[l].cut
            && q.classical_path.iter().all(|&c| !self.classical_cut[c])
            && q.ends.iter().all(|&n| self.nodes[n].up)
    }

    /// What the link produces while up: key bits/s (0 at or over the QBER threshold) or
    /// elementary pairs/s.
    fn physical_rate(&self, l: usize) -> f64 {
        let s = &self.links[l];
        match self.topo.qlinks[l].kind {
            LinkKind::Entanglement => s.raw_rate,
            LinkKind::Qkd => {
                if s.qber >= physics::qber_threshold(s.ec) {
                    return 0.0;
                }
                let base = secret_fraction(s.base_qber, s.ec);
                if base > 0.0 {
                    s.raw_rate * (secret_fraction(s.qber, s.ec) / base).min(1.0)
                } else {
                    s.raw_rate
                }
            }
        }
    }

    fn pool_cap(&self, l: usize) -> f64 {
        let s = &self.links[l];
        match self.topo.qlinks[l].kind {
            LinkKind::Qkd => s.raw_rate * KEY_POOL_SECONDS,
            LinkKind::Entanglement => s.raw_rate * PAIR_POOL_SECONDS,
        }
    }

    fn path_up(&self, p: &PathState) -> bool {
        p.nodes.iter().all(|&n| self.nodes[n].up) && p.links.iter().all(|&l| self.link_up(l))
    }

    /// Pair path fidelity before purification: the Werner chain, decohered for the wait.
    fn raw_pair_fidelity(&self, p: &PathState) -> f64 {
        let fids: Vec<f64> = p.links.iter().map(|&l| self.links[l].fidelity).collect();
        let chain = physics::chain_fidelity(&fids);
        if p.coherence_s.is_finite() {
            physics::decohered_fidelity(chain, p.wait_s, p.coherence_s)
        } else {
            chain
        }
    }

    fn path_fidelity(&self, kind: UnitKind, p: &PathState) -> f64 {
        match kind {
            UnitKind::Keys => p
                .links
                .iter()
                .map(|&l| 1.0 - self.links[l].qber)
                .fold(1.0, f64::min),
            UnitKind::EntangledPairs => self.purified(p).fidelity,
        }
    }

    /// Purification of a pair path at the rate it carries, raw pairs waiting in the end
    /// nodes' memories for their partners.
    fn purified(&self, p: &PathState) -> physics::StoredPurification {
        physics::purify_stored(
            self.raw_pair_fidelity(p),
            p.rounds,
            p.rate,
            p.end_coherence_s,
        )
    }

    /// Pool units (key bits or elementary pairs) one delivered unit takes from every link
    /// end of the path.
    fn unit_cost(&self, unit: &UnitState, p: &PathState) -> f64 {
        match unit.kind {
            UnitKind::Keys => unit.key_size_bits,
            UnitKind::EntangledPairs => {
                let factor = self.purified(p).factor;
                1.0 / p.swap_success.max(1e-12) / factor.max(1e-12)
            }
        }
    }

    /// Rebuilds every unit's paths and token bucket from the committed configurations.
    fn rebuild(&mut self) {
        let mut found: BTreeMap<UnitKey, (UnitKind, f64, Vec<PathState>)> = BTreeMap::new();
        let mut buckets: BTreeMap<(String, usize), (f64, f64)> = BTreeMap::new();
        for (s, cfg) in self.configs.iter().enumerate() {
            let Some(cfg) = cfg else { continue };
            for e in cfg
                .forwarding
                .forwarding_table
                .iter()
                .filter(|e| e.virt_prev_hop.is_none())
            {
                let Some(master) = cfg
                    .service
                    .service_units
                    .iter()
                    .find(|u| u.id == e.service_unit && u.role == EndRole::Master)
                else {
                    continue;
                };
                let Some(path) = self.walk(s, e, master.kind) else {
                    continue;
                };
                let slave = *path.nodes.last().unwrap_or(&s);
                let slave_name = &self.topo.nodes[slave].name;
                let Some(slave_cfg) = &self.configs[slave] else {
                    continue;
                };
                let agrees = master.peer == *slave_name
                    && slave_cfg.service.service_units.iter().any(|u| {
                        u.id == e.service_unit
                            && u.role == EndRole::Slave
                            && u.kind == master.kind
                            && u.peer == self.topo.nodes[s].name
                    });
                if !agrees {
                    continue;
                }
                let key = UnitKey {
                    id: e.service_unit.clone(),
                    master: s,
                    slave,
                };
                let key_size = f64::from(master.key_size.unwrap_or(DEFAULT_KEY_SIZE_BITS));
                let entry = found
                    .entry(key.clone())
                    .or_insert_with(|| (master.kind, key_size, Vec::new()));
                if !entry.2.iter().any(|p| p.index == path.index) {
                    entry.2.push(path);
                }
            }
            // Every session at a master end keeps its bucket, whether or not its paths are
            // complete right now (they are not while an apply commits node by node).
            for su in cfg
                .service
                .service_units
                .iter()
                .filter(|u| u.role == EndRole::Master)
            {
                let bucket = cfg
                    .service
                    .sessions
                    .iter()
                    .find(|x| x.service_unit == su.id)
                    .map(|x| (x.token_bucket.rate, f64::from(x.token_bucket.burst.max(1))))
                    .unwrap_or((su.rate, su.rate.ceil().max(1.0)));
                buckets.insert((su.id.clone(), s), bucket);
            }
        }
        // A unit whose paths change is measured afresh from now on; the others keep their
        // measurement window.
        let now = self.now;
        for (key, unit) in &mut self.units {
            if !found.contains_key(key) && !unit.paths.is_empty() {
                unit.paths.clear();
                unit.history.clear();
                unit.measured_from = now;
            }
        }
        for (key, (kind, key_size_bits, mut paths)) in found {
            paths.sort_by_key(|p| p.index);
            let unit = self.units.entry(key).or_insert_with(|| UnitState {
                kind,
                key_size_bits,
                paths: Vec::new(),
                delivered: 0.0,
                history: VecDeque::new(),
                measured_from: now,
            });
            let same = unit.paths.len() == paths.len()
                && unit.paths.iter().zip(&paths).all(|(a, b)| a.same_route(b));
            if !same {
                unit.history.clear();
                unit.measured_from = now;
            }
            unit.kind = kind;
            unit.key_size_bits = key_size_bits;
            unit.paths = paths;
        }
        self.buckets.retain(|k, _| buckets.contains_key(k));
        for (key, (rate, burst)) in buckets {
            let rate = if rate.is_finite() { rate.max(0.0) } else { 0.0 };
            // A new session starts with an empty bucket, so what is measured from its first
            // second on is its rate, not a burst of stored-up tokens.
            let b = self.buckets.entry(key).or_insert(Bucket {
                rate,
                burst,
                tokens: 0.0,
            });
            b.rate = rate;
            b.burst = burst;
            b.tokens = b.tokens.min(burst);
        }
    }

    /// Follows a path from its first entry at `start`; `None` unless every node along it
    /// holds a matching entry over a link of the right kind that joins the two nodes.
    fn walk(
        &self,
        start: usize,
        first: &strata_compiler::config::ForwardingEntry,
        kind: UnitKind,
    ) -> Option<PathState> {
        let want = match kind {
            UnitKind::Keys => LinkKind::Qkd,
            UnitKind::EntangledPairs => LinkKind::Entanglement,
        };
        let (mut nodes, mut links) = (vec![start], Vec::new());
        let (mut cur, mut entry, mut rate) = (start, first, first.rate);
        while let Some(next) = &entry.virt_next_hop {
            let l = *self.link_index.get(&next.link)?;
            let t = *self.topo.index.get(&next.node)?;
            let q = &self.topo.qlinks[l];
            if q.kind != want || !(q.ends == [cur, t] || q.ends == [t, cur]) || nodes.contains(&t) {
                return None;
            }
            let cur_name = &self.topo.nodes[cur].name;
            entry = self.configs[t]
                .as_ref()?
                .forwarding
                .forwarding_table
                .iter()
                .find(|x| {
                    x.service_unit == first.service_unit
                        && x.path == first.path
                        && x.virt_prev_hop
                            .as_ref()
                            .is_some_and(|h| h.node == *cur_name && h.link == next.link)
                })?;
            rate = rate.min(entry.rate);
            nodes.push(t);
            links.push(l);
            cur = t;
        }
        if links.is_empty() {
            return None;
        }
        let last = cur;
        let rounds_at = |n: usize| {
            self.configs[n].as_ref().and_then(|c| {
                c.forwarding
                    .purification
                    .iter()
                    .find(|p| p.service_unit == first.service_unit && p.path == first.path)
                    .map(|p| p.rounds)
            })
        };
        // Purification needs both ends to run it.
        let rounds = match (rounds_at(start), rounds_at(last)) {
            (Some(a), Some(b)) => a.min(b),
            _ => 0,
        };
        let swap_success = nodes[1..nodes.len() - 1]
            .iter()
            .map(|&n| {
                self.configs[n]
                    .as_ref()
                    .and_then(|c| {
                        c.forwarding
                            .swap_schedule
                            .iter()
                            .find(|w| w.service_unit == first.service_unit && w.path == first.path)
                            .map(|w| w.success_probability)
                    })
                    .filter(|p| p.is_finite() && *p > 0.0)
                    .map_or(DEFAULT_SWAP_SUCCESS, |p| p.min(1.0))
            })
            .product();
        let wait_s = links
            .iter()
            .map(|&l| self.topo.qlinks[l].latency_ms)
            .sum::<f64>()
            / 1e3;
        let coherence_s = nodes
            .iter()
            .filter_map(|&n| self.topo.nodes[n].coherence_time_s)
            .fold(f64::INFINITY, f64::min);
        let end_coherence_s = [start, last]
            .iter()
            .filter_map(|&n| self.topo.nodes[n].coherence_time_s)
            .fold(f64::INFINITY, f64::min);
        Some(PathState {
            index: first.path,
            nodes,
            links,
            rate: if rate.is_finite() { rate.max(0.0) } else { 0.0 },
            rounds,
            swap_success,
            wait_s,
            coherence_s,
            end_coherence_s,
            last: 0.0,
        })
    }

    fn step(&mut self, dt: f64) {
        self.now += dt;
        // Generation.
        for l in 0..self.links.len() {
            let rate = if self.link_up(l) {
                self.physical_rate(l)
            } else {
                0.0
            };
            let cap = self.pool_cap(l);
            for end in &mut self.links[l].ends {
                let add = rate * dt;
                end.generated += add;
                end.pool += add;
                if end.pool > cap {
                    end.discarded += end.pool - cap;
                    end.pool = cap;
                }
            }
        }
        for b in self.buckets.values_mut() {
            b.tokens = (b.tokens + b.rate * dt).min(b.burst);
        }
        // Relay, by unit name then path.
        let keys: Vec<UnitKey> = self.units.keys().cloned().collect();
        for key in keys {
            let Some(mut unit) = self.units.remove(&key) else {
                continue;
            };
            let plan: Vec<Option<f64>> = unit
                .paths
                .iter()
                .map(|p| self.path_up(p).then(|| self.unit_cost(&unit, p)))
                .collect();
            let mut step_total = 0.0;
            for (p, cost) in unit.paths.iter_mut().zip(plan) {
                p.last = 0.0;
                let Some(cost) = cost else { continue };
                let mut amount = p.rate * dt;
                if let Some(b) = self.buckets.get(&(key.id.clone(), key.master)) {
                    amount = amount.min(b.tokens);
                }
                for &l in &p.links {
                    let e = &self.links[l].ends;
                    amount = amount.min(e[0].pool.min(e[1].pool) / cost);
                }
                if amount.is_nan() || amount <= 0.0 {
                    continue;
                }
                for &l in &p.links {
                    for end in &mut self.links[l].ends {
                        end.consumed += amount * cost;
                        end.pool = (end.pool - amount * cost).max(0.0);
                    }
                }
                if let Some(b) = self.buckets.get_mut(&(key.id.clone(), key.master)) {
                    b.tokens = (b.tokens - amount).max(0.0);
                }
                p.last = amount;
                step_total += amount;
            }
            if step_total > 0.0 {
                unit.delivered += step_total;
                unit.history.push_back((self.now, dt, step_total));
            }
            while unit
                .history
                .front()
                .is_some_and(|&(end, _, _)| end <= self.now - RATE_WINDOW_S)
            {
                unit.history.pop_front();
            }
            self.units.insert(key, unit);
        }
    }

    /// Units per second delivered over the trailing window.
    fn delivered_rate(&self, unit: &UnitState) -> f64 {
        let window = RATE_WINDOW_S.min(self.now - unit.measured_from);
        if window <= 0.0 {
            return 0.0;
        }
        let start = self.now - window;
        let amount: f64 = unit
            .history
            .iter()
            .map(|&(end, dt, n)| {
                let overlap = (end - (end - dt).max(start)).clamp(0.0, dt);
                if dt > 0.0 { n * overlap / dt } else { 0.0 }
            })
            .sum();
        amount / window
    }

    fn unit_fidelity(&self, unit: &UnitState) -> f64 {
        let delivering: Vec<&PathState> = unit.paths.iter().filter(|p| p.last > 0.0).collect();
        let used = if delivering.is_empty() {
            unit.paths.iter().filter(|p| self.path_up(p)).collect()
        } else {
            delivering
        };
        used.iter()
            .map(|p| self.path_fidelity(unit.kind, p))
            .reduce(f64::min)
            .unwrap_or(0.0)
    }

    fn sample(&self, n: usize) -> NodeSample {
        let up = self.nodes[n].up;
        let links = self
            .topo
            .qlinks
            .iter()
            .enumerate()
            .filter_map(|(l, q)| {
                let end = q.ends.iter().position(|&e| e == n)?;
                let s = &self.links[l];
                let link_up = self.link_up(l);
                let skr = if link_up { self.physical_rate(l) } else { 0.0 };
                Some(match q.kind {
                    LinkKind::Qkd => LinkSample {
                        link: q.name.clone(),
                        peer: self.topo.nodes[q.ends[1 - end]].name.clone(),
                        kind: "qkd".into(),
                        up: link_up,
                        skr,
                        eskr: skr * (1.0 - KEY_HEADROOM),
                        qber: s.qber,
                        pool: s.ends[end].pool,
                        fidelity: 1.0 - s.qber,
                    },
                    LinkKind::Entanglement => LinkSample {
                        link: q.name.clone(),
                        peer: self.topo.nodes[q.ends[1 - end]].name.clone(),
                        kind: "entanglement".into(),
                        up: link_up,
                        skr,
                        eskr: skr,
                        qber: 0.0,
                        pool: s.ends[end].pool,
                        fidelity: s.fidelity,
                    },
                })
            })
            .collect();
        let units = self.configs[n]
            .iter()
            .flat_map(|cfg| &cfg.service.service_units)
            .map(|su| {
                let peer = self.topo.index.get(&su.peer).copied();
                let key = peer.map(|p| match su.role {
                    EndRole::Master => UnitKey {
                        id: su.id.clone(),
                        master: n,
                        slave: p,
                    },
                    EndRole::Slave => UnitKey {
                        id: su.id.clone(),
                        master: p,
                        slave: n,
                    },
                });
                let state = key.and_then(|k| self.units.get(&k));
                UnitSample {
                    service_unit: su.id.clone(),
                    role: match su.role {
                        EndRole::Master => "master".into(),
                        EndRole::Slave => "slave".into(),
                    },
                    delivered_rate: state.filter(|_| up).map_or(0.0, |u| self.delivered_rate(u)),
                    target_rate: su.rate,
                    fidelity: state.filter(|_| up).map_or(0.0, |u| self.unit_fidelity(u)),
                    delivered_total: state.map_or(0, |u| (u.delivered + 1e-6).floor() as u64),
                }
            })
            .collect();
        NodeSample {
            node: self.topo.nodes[n].name.clone(),
            time_s: self.now,
            up,
            links,
            units,
        }
    }

    fn node(&self, name: &str) -> Result<usize, String> {
        self.topo
            .index
            .get(name)
            .copied()
            .ok_or_else(|| format!("unknown node `{name}`"))
    }

    fn quantum_link(&self, name: &str) -> Result<usize, String> {
        self.link_index
            .get(name)
            .copied()
            .ok_or_else(|| format!("unknown quantum link `{name}`"))
    }

    fn apply_fault(&mut self, fault: &Fault) -> Result<(), String> {
        match fault {
            Fault::CutLink(name) | Fault::RestoreLink(name) => {
                let cut = matches!(fault, Fault::CutLink(_));
                if let Some(&l) = self.link_index.get(name) {
                    self.links[l].cut = cut;
                } else if let Some(&c) = self.classical_index.get(name) {
                    self.classical_cut[c] = cut;
                } else {
                    return Err(format!("unknown link `{name}`"));
                }
            }
            Fault::SetQber(name, value) => {
                let l = self.quantum_link(name)?;
                if self.topo.qlinks[l].kind != LinkKind::Qkd {
                    return Err(format!(
                        "`{name}` is an entanglement link; QBER applies to QKD links (set its fidelity instead)"
                    ));
                }
                if !(value.is_finite() && (0.0..=0.5).contains(value)) {
                    return Err(format!(
                        "QBER {value} is out of range: it must be between 0 and 0.5"
                    ));
                }
                self.links[l].qber = *value;
            }
            Fault::SetFidelity(name, value) => {
                let l = self.quantum_link(name)?;
                if self.topo.qlinks[l].kind != LinkKind::Entanglement {
                    return Err(format!(
                        "`{name}` is a QKD link; fidelity applies to entanglement links (set its QBER instead)"
                    ));
                }
                if !(value.is_finite() && (0.25..=1.0).contains(value)) {
                    return Err(format!(
                        "fidelity {value} is out of range: it must be between 0.25 and 1"
                    ));
                }
                self.links[l].fidelity = *value;
            }
            Fault::StopNode(name) => {
                let n = self.node(name)?;
                self.nodes[n].up = false;
            }
            Fault::StartNode(name) => {
                let n = self.node(name)?;
                self.nodes[n].up = true;
            }
            Fault::RefusePrepare(name) => {
                let n = self.node(name)?;
                self.nodes[n].refuse = true;
            }
            Fault::AcceptPrepare(name) => {
                let n = self.node(name)?;
                self.nodes[n].refuse = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_compiler::check::check;
    use strata_compiler::compile::{Compiled, compile};
    use strata_compiler::config::Admission;
    use strata_compiler::inventory::load;
    use strata_grammar::{FileId, parse};

    /// Keys A–B over the trusted relay R only; keys C–D over two disjoint routes (direct, or
    /// via S); pairs P–Q over the repeater M. Every rate is measured, so the expected numbers
    /// come straight from this text. P and Q keep pairs for a minute or more, long enough for
    /// `f`'s raw pairs to wait for their purification partners at 2/s.
    const NET: &str = r#"
name: twin-lab
domains:
  - { name: home, operator: Home, trust: trusted }
nodes:
  - { name: A, domain: home, role: endpoint }
  - { name: B, domain: home, role: endpoint }
  - { name: R, domain: home, role: trusted-relay }
  - { name: C, domain: home, role: endpoint }
  - { name: D, domain: home, role: endpoint }
  - { name: S, domain: home, role: trusted-relay }
  - { name: P, domain: home, role: endpoint, memory: { qubits: 10, coherence_time_s: 100.0 } }
  - { name: Q, domain: home, role: endpoint, memory: { qubits: 10, coherence_time_s: 60.0 } }
  - { name: M, domain: home, role: repeater, memory: { qubits: 20, coherence_time_s: 2.0 } }
qkd_links:
  - { name: a-r, ends: [A, R], length_km: 10, skr_bps: 20000, qber: 0.02, classical_path: [c-a-r] }
  - { name: r-b, ends: [R, B], length_km: 10, skr_bps: 30000, qber: 0.03, classical_path: [c-r-b] }
  - { name: c-d, ends: [C, D], length_km: 10, skr_bps: 50000, qber: 0.02, classical_path: [c-c-d] }
  - { name: c-s, ends: [C, S], length_km: 10, skr_bps: 50000, qber: 0.02, classical_path: [c-c-s] }
  - { name: s-d, ends: [S, D], length_km: 10, skr_bps: 50000, qber: 0.02, classical_path: [c-s-d] }
entanglement_links:
  - { name: e-p-m, ends: [P, M], length_km: 10, pair_rate_hz: 1000, fidelity: 0.98, classical_path: [c-p-m] }
  - { name: e-m-q, ends: [M, Q], length_km: 20, pair_rate_hz: 400, fidelity: 0.97, classical_path: [c-m-q] }
classical_links:
  - { name: c-a-r, ends: [A, R], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: c-r-b, ends: [R, B], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: c-c-d, ends: [C, D], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: c-c-s, ends: [C, S], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: c-s-d, ends: [S, D], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: c-p-m, ends: [P, M], bandwidth_bps: 1e9, latency_ms: 0.2 }
  - { name: c-m-q, ends: [M, Q], bandwidth_bps: 1e9, latency_ms: 0.3 }
"#;

    const INTENTS: &str = r#"
intent k: keys of 256 bits between A and B, 10/s
intent d: keys of 128 bits between C and D, 20/s, disjoint paths 2
intent p: entangled pairs between P and Q, fidelity >= 0.9, 5/s
intent f: entangled pairs between P and Q, fidelity >= 0.96, 2/s
"#;

    const STEP: f64 = 0.05;

    fn inventory() -> Inventory {
        let (inv, diags) = load(FileId(0), NET);
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
        inv.expect("inventory loads")
    }

    fn compiled(inv: &Inventory, intents: &str) -> Compiled {
        let (unit, diags) = parse(FileId(1), intents);
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
        let (program, diags) = check(&[&unit], inv);
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
        compile(&program, inv, &Default::default())
    }

    /// A world with every node's configuration installed except those in `skip`.
    fn world_without(skip: &[&str]) -> (World, Compiled) {
        let inv = inventory();
        let out = compiled(&inv, INTENTS);
        for i in &out.summary.intents {
            assert_eq!(
                i.admission,
                Admission::Met,
                "{} is not met: {:?}",
                i.name,
                i.reason
            );
        }
        let world = World::new(&inv);
        for (node, cfg) in &out.configs.nodes {
            if !skip.contains(&node.as_str()) {
                world.install(node, cfg.clone());
            }
        }
        (world, out)
    }

    fn world() -> (World, Compiled) {
        world_without(&[])
    }

    fn run(w: &World, seconds: f64) {
        for _ in 0..(seconds / STEP).round() as u64 {
            w.advance(STEP);
        }
    }

    fn unit(w: &World, node: &str, id: &str) -> UnitSample {
        let s = w.sample(node).expect("known node");
        s.units
            .into_iter()
            .find(|u| u.service_unit == id)
            .unwrap_or_else(|| panic!("{node} has no unit {id}"))
    }

    fn link(w: &World, node: &str, name: &str) -> LinkSample {
        let s = w.sample(node).expect("known node");
        s.links
            .into_iter()
            .find(|l| l.link == name)
            .unwrap_or_else(|| panic!("{node} has no link {name}"))
    }

    #[track_caller]
    fn assert_rate(u: &UnitSample, rate: f64) {
        assert!(
            (u.delivered_rate - rate).abs() <= 0.02 * rate,
            "{} at its {} end: {} delivered/s, expected {rate}",
            u.service_unit,
            u.role,
            u.delivered_rate
        );
    }

    fn compiled_unit_fidelity(out: &Compiled, node: &str, id: &str) -> f64 {
        out.configs.nodes[node]
            .service
            .service_units
            .iter()
            .find(|u| u.id == id)
            .expect("unit")
            .fidelity
    }

    #[test]
    fn key_intent_delivers_its_rate_at_both_ends() {
        let (w, _) = world();
        run(&w, 10.0);
        let (a, b) = (unit(&w, "A", "k"), unit(&w, "B", "k"));
        assert_eq!((a.role.as_str(), b.role.as_str()), ("master", "slave"));
        assert_rate(&a, 10.0);
        assert_rate(&b, 10.0);
        assert_eq!(b.target_rate, 10.0);
        assert!(a.delivered_total.abs_diff(b.delivered_total) <= 1);
        // 10 keys/s for 10 s.
        assert!(
            b.delivered_total.abs_diff(100) <= 1,
            "{}",
            b.delivered_total
        );
        // Keys: 1 − the worst QBER on A–R–B (r-b, 3 %).
        assert!((b.fidelity - 0.97).abs() < 1e-12, "{}", b.fidelity);
    }

    #[test]
    fn pair_intents_deliver_their_rate_at_the_compiled_fidelity() {
        let (w, out) = world();
        run(&w, 10.0);
        let (p, q) = (unit(&w, "P", "p"), unit(&w, "Q", "p"));
        assert_rate(&p, 5.0);
        assert_rate(&q, 5.0);
        assert!(p.delivered_total.abs_diff(q.delivered_total) <= 1);
        // Werner swap of 0.98 and 0.97 links (DESIGN §5), slightly decohered while the 0.65 ms
        // of heralding and swap messages travel.
        let chain = physics::chain_fidelity(&[0.98, 0.97]);
        assert!(
            q.fidelity < chain && chain - q.fidelity < 2e-3,
            "{} vs {chain}",
            q.fidelity
        );
        assert!((q.fidelity - compiled_unit_fidelity(&out, "Q", "p")).abs() < 1e-6);
        // `f` needs purification to pass 0.96.
        let f = unit(&w, "Q", "f");
        assert_rate(&f, 2.0);
        assert!(f.fidelity >= 0.96, "{}", f.fidelity);
        assert!((f.fidelity - compiled_unit_fidelity(&out, "Q", "f")).abs() < 1e-6);
    }

    #[test]
    fn purified_pairs_decay_while_raw_pairs_wait_at_a_slow_rate() {
        // `f` configured at a thousandth of its rate everywhere: each raw pair waits ~2 min
        // for its partner in Q's 60 s memory, so the purified pairs fall far below 0.96 —
        // to what the decay law gives for that wait, not to the compiled fidelity.
        let inv = inventory();
        let out = compiled(&inv, INTENTS);
        let world = World::new(&inv);
        for (node, cfg) in &out.configs.nodes {
            let mut cfg = cfg.clone();
            for e in &mut cfg.forwarding.forwarding_table {
                if e.service_unit == "f" {
                    e.rate /= 1000.0;
                }
            }
            world.install(node, cfg);
        }
        run(&world, 1.0);
        let f = unit(&world, "Q", "f");
        let entry = out.configs.nodes["Q"]
            .forwarding
            .purification
            .iter()
            .find(|x| x.service_unit == "f")
            .expect("f purifies")
            .clone();
        let slow = physics::purify_stored(entry.fidelity_in, entry.rounds, 2.0 / 1000.0, 60.0);
        assert!(slow.wait_s > 100.0, "{slow:?}");
        assert!(
            (f.fidelity - slow.fidelity).abs() < 1e-6,
            "{} vs {slow:?}",
            f.fidelity
        );
        assert!(f.fidelity < 0.5, "{}", f.fidelity);
        // At its compiled rate the twin reports what was compiled.
        assert!(
            entry.fidelity_out >= 0.96 && entry.storage_wait_s < 1.0,
            "{entry:?}"
        );
    }

    #[test]
    fn pools_conserve_key_and_pairs_and_never_go_negative() {
        let (w, out) = world();
        for _ in 0..200 {
            w.advance(STEP);
            for node in w.nodes() {
                for l in w.sample(&node).expect("node").links {
                    assert!(l.pool >= 0.0, "{node} {}: {}", l.link, l.pool);
                }
            }
        }
        let k = unit(&w, "B", "k").delivered_total as f64;
        for (node, l) in [("A", "a-r"), ("R", "a-r"), ("R", "r-b"), ("B", "r-b")] {
            let ledger = w.pool_ledger(node, l).expect("ledger");
            let skr = if l == "a-r" { 20000.0 } else { 30000.0 };
            // Generated at the link's rate; nothing discarded well below the 30 s cap.
            assert!(
                (ledger.generated - skr * 10.0).abs() < 1e-6 * skr,
                "{node} {l}: {ledger:?}"
            );
            assert_eq!(ledger.discarded, 0.0);
            // Only `k` crosses A–R–B: 256 bits per delivered key at both ends of each hop.
            assert!(
                (ledger.consumed - k * 256.0).abs() <= 256.0,
                "{node} {l}: {ledger:?}, {k} keys"
            );
            assert!(
                (ledger.generated - ledger.consumed - ledger.pool).abs() < 1e-6,
                "{ledger:?}"
            );
            assert_eq!(Some(ledger.pool), Some(link(&w, node, l).pool));
        }
        // Pairs: both ends of a link agree and keep generated − consumed − discarded = pool.
        // Each pair of `p` takes 1/0.5 elementary pairs from both links (one swap); each pair
        // of `f` also needs one BBPSSW round, which keeps p_s/2 pairs per input pair, p_s
        // taken from the raw fidelity the compiler wrote into the purification entry.
        let raw = out.configs.nodes["P"]
            .forwarding
            .purification
            .iter()
            .find(|x| x.service_unit == "f")
            .expect("f purifies");
        assert_eq!(raw.rounds, 1);
        let per_f = 2.0 / (physics::bbpssw_success_probability(raw.fidelity_in) / 2.0);
        let (p, f) = (
            unit(&w, "Q", "p").delivered_total as f64,
            unit(&w, "Q", "f").delivered_total as f64,
        );
        for (l, far) in [("e-p-m", "P"), ("e-m-q", "Q")] {
            let m = w.pool_ledger("M", l).expect("ledger");
            assert_eq!(Some(m), w.pool_ledger(far, l));
            assert!(
                (m.generated - m.consumed - m.discarded - m.pool).abs() < 1e-6,
                "{m:?}"
            );
            let expected = p * 2.0 + f * per_f;
            assert!(
                (m.consumed - expected).abs() <= 2.0 + per_f,
                "{l}: {m:?}, expected {expected}"
            );
        }
    }

    #[test]
    fn cutting_a_link_stops_delivery_and_restoring_it_resumes() {
        let (w, _) = world();
        run(&w, 5.0);
        w.apply_fault(&Fault::CutLink("r-b".into()))
            .expect("known link");
        run(&w, 2.0);
        let b = unit(&w, "B", "k");
        assert_eq!(b.delivered_rate, 0.0);
        for node in ["R", "B"] {
            let l = link(&w, node, "r-b");
            assert!(!l.up && l.skr == 0.0 && l.eskr == 0.0, "{l:?}");
        }
        assert!(link(&w, "A", "a-r").up);
        run(&w, 2.0);
        assert_eq!(unit(&w, "B", "k").delivered_total, b.delivered_total);
        w.apply_fault(&Fault::RestoreLink("r-b".into()))
            .expect("known link");
        run(&w, 2.0);
        assert_rate(&unit(&w, "B", "k"), 10.0);
        // Cutting the classical link that carries r-b's channel takes r-b down too.
        w.apply_fault(&Fault::CutLink("c-r-b".into()))
            .expect("known link");
        run(&w, 2.0);
        assert!(!link(&w, "B", "r-b").up);
        assert_eq!(unit(&w, "B", "k").delivered_rate, 0.0);
        assert!(w.apply_fault(&Fault::CutLink("nope".into())).is_err());
    }

    #[test]
    fn disjoint_paths_survive_losing_one() {
        let (w, out) = world();
        run(&w, 10.0);
        assert_rate(&unit(&w, "D", "d"), 20.0);
        let d = out
            .summary
            .intents
            .iter()
            .find(|i| i.name == "d")
            .expect("d");
        assert_eq!(d.paths.len(), 2);
        let first = d.paths[0].links[0].clone();
        w.apply_fault(&Fault::CutLink(first)).expect("known link");
        run(&w, 2.0);
        assert_rate(&unit(&w, "D", "d"), 20.0);
    }

    #[test]
    fn qber_over_the_threshold_yields_no_key() {
        let (w, _) = world();
        run(&w, 1.0);
        let threshold = physics::qber_threshold(1.16);
        w.apply_fault(&Fault::SetQber("a-r".into(), threshold))
            .expect("valid");
        w.advance(STEP);
        let generated = w.pool_ledger("A", "a-r").expect("ledger").generated;
        run(&w, 1.0);
        for node in ["A", "R"] {
            let l = link(&w, node, "a-r");
            assert!(
                l.up && l.skr == 0.0 && l.eskr == 0.0 && l.qber == threshold,
                "{l:?}"
            );
        }
        assert_eq!(
            w.pool_ledger("A", "a-r").expect("ledger").generated,
            generated
        );
        // Below the threshold the secret fraction shrinks, never above the measured rate.
        w.apply_fault(&Fault::SetQber("a-r".into(), 0.05))
            .expect("valid");
        let skr = link(&w, "A", "a-r").skr;
        assert!(skr > 0.0 && skr < 20000.0, "{skr}");
        w.apply_fault(&Fault::SetQber("a-r".into(), 0.02))
            .expect("valid");
        let l = link(&w, "A", "a-r");
        assert_eq!((l.skr, l.eskr), (20000.0, 18000.0));
        // Faults that do not apply.
        assert!(w.apply_fault(&Fault::SetQber("a-r".into(), 0.7)).is_err());
        assert!(
            w.apply_fault(&Fault::SetQber("a-r".into(), f64::NAN))
                .is_err()
        );
        assert!(
            w.apply_fault(&Fault::SetQber("e-p-m".into(), 0.01))
                .is_err()
        );
        assert!(w.apply_fault(&Fault::SetQber("zz".into(), 0.01)).is_err());
        assert!(
            w.apply_fault(&Fault::SetFidelity("a-r".into(), 0.9))
                .is_err()
        );
        assert!(
            w.apply_fault(&Fault::SetFidelity("e-p-m".into(), 1.5))
                .is_err()
        );
    }

    #[test]
    fn lower_link_fidelity_lowers_pair_fidelity() {
        let (w, _) = world();
        run(&w, 2.0);
        let before = unit(&w, "Q", "p").fidelity;
        w.apply_fault(&Fault::SetFidelity("e-p-m".into(), 0.9))
            .expect("valid");
        assert_eq!(link(&w, "P", "e-p-m").fidelity, 0.9);
        run(&w, 1.0);
        let after = unit(&w, "Q", "p").fidelity;
        let chain = physics::chain_fidelity(&[0.9, 0.97]);
        assert!(
            after < before && (after - chain).abs() < 2e-3,
            "{before} → {after}, chain {chain}"
        );
    }

    #[test]
    fn a_half_installed_intent_delivers_nothing() {
        let (w, out) = world_without(&["R"]);
        run(&w, 10.0);
        for node in ["A", "B"] {
            let k = unit(&w, node, "k");
            assert_eq!(
                (k.delivered_total, k.delivered_rate, k.fidelity),
                (0, 0.0, 0.0),
                "{k:?}"
            );
        }
        // Other intents do not depend on R.
        assert_rate(&unit(&w, "Q", "p"), 5.0);
        // R on an older generation that never heard of `k` breaks the path just the same.
        let old = compiled(
            &inventory(),
            "intent p: entangled pairs between P and Q, 5/s\n",
        );
        w.install("R", old.configs.nodes["R"].clone());
        run(&w, 2.0);
        assert_eq!(unit(&w, "B", "k").delivered_total, 0);
        w.install("R", out.configs.nodes["R"].clone());
        run(&w, 2.0);
        assert_rate(&unit(&w, "B", "k"), 10.0);
    }

    #[test]
    fn a_stopped_node_is_down_with_its_links() {
        let (w, _) = world();
        run(&w, 3.0);
        w.apply_fault(&Fault::StopNode("R".into()))
            .expect("known node");
        assert!(!w.node_up("R"));
        run(&w, 2.0);
        let r = w.sample("R").expect("node");
        assert!(!r.up);
        assert!(r.links.iter().all(|l| !l.up && l.skr == 0.0));
        assert!(!link(&w, "A", "a-r").up);
        assert!(w.sample("A").expect("node").up);
        assert_eq!(unit(&w, "B", "k").delivered_rate, 0.0);
        w.apply_fault(&Fault::StartNode("R".into()))
            .expect("known node");
        run(&w, 2.0);
        assert_rate(&unit(&w, "B", "k"), 10.0);
        // A stopped endpoint reports no deliveries at once.
        w.apply_fault(&Fault::StopNode("B".into()))
            .expect("known node");
        let b = w.sample("B").expect("node");
        assert!(!b.up && b.units.iter().all(|u| u.delivered_rate == 0.0));
        assert!(w.apply_fault(&Fault::StopNode("nope".into())).is_err());
    }

    #[test]
    fn refuse_prepare_is_a_flag_until_accepted() {
        let (w, _) = world();
        assert!(!w.refuses_prepare("R"));
        w.apply_fault(&Fault::RefusePrepare("R".into()))
            .expect("known node");
        assert!(w.refuses_prepare("R") && w.node_up("R"));
        w.apply_fault(&Fault::AcceptPrepare("R".into()))
            .expect("known node");
        assert!(!w.refuses_prepare("R"));
        assert!(!w.refuses_prepare("nope") && !w.node_up("nope"));
        assert!(w.apply_fault(&Fault::RefusePrepare("nope".into())).is_err());
        assert!(w.sample("nope").is_none());
        assert_eq!(w.nodes(), ["A", "B", "R", "C", "D", "S", "P", "Q", "M"]);
    }

    #[test]
    fn same_inputs_same_samples() {
        let script = |w: &World| {
            run(w, 3.0);
            w.apply_fault(&Fault::SetQber("c-d".into(), 0.2))
                .expect("valid");
            run(w, 1.5);
            w.apply_fault(&Fault::StopNode("M".into())).expect("valid");
            w.advance(0.73);
            w.apply_fault(&Fault::StartNode("M".into())).expect("valid");
            w.advance(2.0);
            w.nodes()
                .iter()
                .map(|n| w.sample(n).expect("node"))
                .collect::<Vec<_>>()
        };
        let (a, _) = world();
        let (b, _) = world();
        assert_eq!(script(&a), script(&b));
    }

    #[test]
    fn time_advances_only_forward() {
        let (w, _) = world();
        w.advance(1.0);
        w.advance(-1.0);
        w.advance(f64::NAN);
        w.advance(f64::INFINITY);
        assert!((w.now() - 1.0).abs() < 1e-12);
        // One long call equals many short ones.
        assert_rate(&unit(&w, "B", "k"), 10.0);
    }

    /// The example networks end to end: every intent's slave end measures its admitted rate
    /// (bit-rate intents, disjoint paths and pairs per minute included) at a fidelity no
    /// worse than the compiler promised.
    #[test]
    fn example_networks_run_at_their_compiled_rates() {
        example(
            include_str!("../../../examples/metro/network.yaml"),
            include_str!("../../../intents/metro.qi"),
        );
        example(
            include_str!("../../../examples/continental/network.yaml"),
            include_str!("../../../intents/continental.qi"),
        );
    }

    fn example(net: &str, intents: &str) {
        let (inv, diags) = load(FileId(0), net);
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
        let inv = inv.expect("inventory loads");
        let out = compiled(&inv, intents);
        let w = World::new(&inv);
        for (node, cfg) in &out.configs.nodes {
            w.install(node, cfg.clone());
        }
        run(&w, 10.0);
        let admitted: Vec<_> = out
            .summary
            .intents
            .iter()
            .filter(|i| i.admitted_rate > 0.0)
            .collect();
        assert!(!admitted.is_empty());
        for i in admitted {
            let u = unit(&w, &i.endpoints[1], &i.name);
            assert_rate(&u, i.admitted_rate);
            // Fidelity of the paths carrying the keys now: one of the compiled paths', never
            // below the worst the compiler promised.
            let promised = i.fidelity.expect("met intents have a fidelity");
            assert!(
                u.fidelity >= promised - 1e-6,
                "{}: {} < {promised}",
                i.name,
                u.fidelity
            );
            assert!(
                i.paths
                    .iter()
                    .any(|p| (p.fidelity - u.fidelity).abs() < 1e-3),
                "{}: {} matches no path",
                i.name,
                u.fidelity
            );
        }
    }
}
