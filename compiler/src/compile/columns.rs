//! Column generation: new candidate paths priced from the duals of a class's LP.
//!
//! The optimiser starts from each intent's k shortest paths. Solving the LP over them gives
//! a price per resource (the dual of its capacity row, π ≥ 0) and per intent (the dual of its
//! coverage row, σ ≥ 0: what one more unit of admitted rate is worth). A path not yet in the
//! LP improves it exactly when its reduced cost is positive:
//!
//! ```text
//! σᵢ − Σ_resources consumption(path, resource)·π(resource) − HOP_COST·hops / requestedᵢ  >  0
//! ```
//!
//! with the consumption of one unit of rate that [`usage`] gives the LP. Every path a search
//! below finds is built into a [`Candidate`] by [`paths::evaluate_path`] (the code that builds
//! the k shortest candidates), admitted by the intent's own bounds, and its reduced cost
//! re-computed from [`usage`] before it may join the LP ([`reduced_cost`]).
//!
//! **Keys.** The consumption is additive over the path's links:
//! `bits·π(QKD link) + (bits + relay overhead)·Σ π(classical links under it)` per link, so
//! the best path is a shortest path with these link weights — under the intent's own rules:
//! the links, relays and domains its policies allow (its [`AllowedGraph`]), its `via` nodes
//! in order, no node twice, and `max hops` and `latency` bounds. That is a
//! resource-constrained shortest path, solved exactly by label setting with dominance over
//! (weight, hops, latency) — dimensions the intent does not bound are left out, so an
//! unbounded intent is plain Dijkstra.
//!
//! **Entangled pairs.** A pair path consumes its purification overhead (elementary pairs per
//! delivered pair) on every entanglement link, 512 swap-message bits per elementary pair on
//! the classical links under them, and `halves × overhead × wait` qubits in every memory on
//! it (one half at each end, two at each repeater):
//!
//! ```text
//! σᵢ − overhead·( Σ_links (π(link) + 512·Σ π(classical)) + wait·Σ_memories halves·π(memory) )
//!    − HOP_COST·hops / requestedᵢ
//! ```
//!
//! The overhead is not additive: it is the swap losses of the path's hops divided by the
//! yield of the purification rounds the path needs, which follow from its raw end-to-end
//! fidelity (Σ −ln w of its links plus the wait in its shortest-lived memory), its
//! bottleneck link (the rate purification is evaluated at) and the intent's fidelity bound.
//! The search keeps, per node and `via` stage, every partial path that no other dominates
//! in all of (link prices, memory prices, hops, latency, Σ −ln w, shortest memory coherence,
//! bottleneck pair rate) — extending a path can only raise the first five and lower the last
//! two, and a path worse in every one of them needs at least as many purification rounds,
//! yields no more and reaches a lower fidelity — and evaluates every complete path as a
//! candidate; the one with the largest positive reduced cost is the column. Partial paths are
//! cut when even the cheapest completion could not beat the best column so far (the
//! overhead is at least the swap losses, twice that once purification is needed) or when
//! the intent's fidelity bound is out of reach even with the most purification rounds and no
//! storage. Within the label caps below the search is exact over every allowed simple path
//! (a unit test checks it against all of them on random repeater networks).
//!
//! **Caps.** Labels kept per (node, stage) and labels per pair search are capped; a search
//! that reaches a cap may miss a column (it never adds a bad one), and an intent whose search
//! reached a cap without finding one is counted as priced heuristically
//! ([`Priced::exact`]; the summary's `optimum.heuristic`), so the optimum is not reported as
//! proven.
//!
//! **`disjoint paths N`** intents keep their k shortest candidates (one set of N disjoint
//! paths); the summary counts them in `optimum.candidates_only`. Their column would be a set
//! of N disjoint paths (the cheapest under the duals: a min-cost flow of N units, node-split
//! for relay-disjointness, under the intent's rules), and several sets would then carry one
//! intent. That needs more than a pricer: the class LP a variable per set (its N paths each
//! carrying a 1/(N − 1) share, the coverage row over the sets), and everything downstream
//! that takes an intent's paths to be one disjoint set to know which set each path is in —
//! the summary's paths, the worst single failure in `covered` (optimiser and verifier: one
//! failed link can take a path from every set), the verifier's pairwise disjointness, the
//! storage re-check that drops the whole set, restoring protection (a replacement disjoint
//! from its own set's survivors), repair's survivors, `assess`, and the runtime monitor's
//! "path k of N" and protection state.

use super::allowed::{AllowedGraph, Links, Signature};
use super::paths::{self, Candidate, MAX_PURIFICATION_ROUNDS, PathOptions};
use super::resources::{Capacities, usage};
use crate::check::{CheckedIntent, Service};
use crate::physics;
use crate::topology::{self, LinkKind, Topology};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

/// Most labels kept per (node, stop) in the constrained search. A bounded intent on a dense
/// network could otherwise keep exponentially many; beyond this the search is a heuristic
/// (it can only miss a column, never add a bad one), and stays exact for unbounded intents.
const LABELS_PER_NODE: usize = 32;

/// Most labels kept per (node, stop) in a pair search, whose dominance is over seven
/// dimensions and so keeps more of them.
const PAIR_LABELS_PER_NODE: usize = 64;

/// Most labels one pair search creates; beyond this it is a heuristic too.
const PAIR_LABELS: usize = 50_000;

/// What pricing one intent found.
#[derive(Debug, Clone)]
pub struct Priced {
    /// The allowed path with the largest positive reduced cost the search found, built and
    /// admitted as a candidate.
    pub path: Option<Candidate>,
    /// The search covered every allowed path (it reached no label cap): without a path, no
    /// allowed path has a positive reduced cost.
    pub exact: bool,
}

impl Priced {
    fn none() -> Priced {
        Priced {
            path: None,
            exact: true,
        }
    }
}

/// Reduced cost of `path` for an intent at the duals: σ less what one unit of rate on it
/// consumes ([`usage`], as the LP has it) at the prices `pi`, less the hop tie-break.
#[allow(clippy::too_many_arguments)]
pub fn reduced_cost(
    topo: &Topology,
    caps: &Capacities,
    service: Service,
    rate: f64,
    sigma: f64,
    pi: &[f64],
    hop_cost: f64,
    path: &Candidate,
) -> f64 {
    let consumed: f64 = usage(topo, caps, service, path)
        .iter()
        .map(|&(r, v)| v * pi[r.0])
        .sum();
    sigma - consumed - hop_cost * path.links.len() as f64 / rate
}

/// The allowed graphs of the intents being priced, built once per signature.
pub struct Pricer<'t, 'a> {
    topo: &'t Topology,
    options: PathOptions,
    graphs: BTreeMap<Signature<'a>, AllowedGraph>,
}

/// Can this intent get new columns at all? Key and pair intents can, unless they ask for
/// `disjoint paths N`.
pub fn priceable(intent: &CheckedIntent) -> bool {
    intent.constraints.disjoint_paths <= 1
}

impl<'t, 'a> Pricer<'t, 'a> {
    pub fn new(topo: &'t Topology, options: PathOptions) -> Pricer<'t, 'a> {
        Pricer {
            topo,
            options,
            graphs: BTreeMap::new(),
        }
    }

    /// Builds the allowed graph of every intent's signature not seen yet.
    pub fn prepare(&mut self, intents: impl IntoIterator<Item = &'a CheckedIntent>) {
        for intent in intents.into_iter().filter(|i| priceable(i)) {
            let sig = Signature::of(intent);
            if !self.graphs.contains_key(&sig) {
                let g = AllowedGraph::new(self.topo, &sig, Links::Usable);
                self.graphs.insert(sig, g);
            }
        }
    }

    /// The allowed path of `intent` with the largest positive reduced cost: `sigma` is the
    /// dual of its coverage row, `pi` the dual of every resource row (0 where there is no
    /// row), `caps` what is left of each resource (a link or memory with a resource at 0 is
    /// not offered). `rate` is the intent's requested rate.
    #[allow(clippy::too_many_arguments)]
    pub fn price(
        &self,
        intent: &CheckedIntent,
        rate: f64,
        sigma: f64,
        pi: &[f64],
        caps: &Capacities,
        tolerance: f64,
        hop_cost: f64,
    ) -> Priced {
        let topo = self.topo;
        let Some(g) = self.graphs.get(&Signature::of(intent)) else {
            return Priced::none();
        };
        let Some(stops) = stops(topo, intent) else {
            return Priced::none();
        };
        let bits = match intent.service {
            Service::Keys { size_bits } => f64::from(size_bits),
            Service::Pairs => {
                let prices = Prices {
                    rate,
                    sigma,
                    pi,
                    caps,
                    tolerance,
                    hop_cost,
                };
                return self.price_pairs(intent, g, &stops, &prices);
            }
        };
        let weight = |l: usize| -> Option<f64> {
            let q = caps.qlink(l);
            if caps.cap[q.0] <= 0.0 {
                return None;
            }
            let mut w = bits * pi[q.0] + hop_cost / rate;
            for &c in &topo.qlinks[l].classical_path {
                let r = caps.clink(c);
                if caps.cap[r.0] <= 0.0 {
                    return None;
                }
                w += (bits + topology::RELAY_OVERHEAD_BITS) * pi[r.0];
            }
            Some(w)
        };
        let bounds = Bounds {
            hops: intent.constraints.max_hops,
            latency_ms: intent.max_latency_s.map(|s| s * 1e3),
            budget: sigma - tolerance,
        };
        let (found, exact) = search(topo, g, &stops, &bounds, &weight);
        let path = found.and_then(|(nodes, links)| {
            let cand = paths::evaluate_path(topo, intent, nodes, links, &self.options);
            paths::admissible(topo, intent, &cand).ok()?;
            Some(cand)
        });
        Priced { path, exact }
    }

    /// The pair path with the largest positive reduced cost (see the module header): label
    /// setting over every non-dominated partial path, each complete one evaluated as a
    /// candidate.
    fn price_pairs(
        &self,
        intent: &CheckedIntent,
        g: &AllowedGraph,
        stops: &[usize],
        prices: &Prices,
    ) -> Priced {
        let topo = self.topo;
        let Prices {
            rate,
            sigma,
            pi,
            caps,
            tolerance,
            hop_cost,
        } = *prices;
        let last = stops.len() - 1;
        if stops.iter().any(|&s| !g.end[s]) {
            return Priced::none();
        }
        // Price of one qubit-second in a node's memory; None when the memory is exhausted.
        let memory = |n: usize| -> Option<f64> {
            if topo.nodes[n].memory_qubits.is_none() {
                return Some(0.0);
            }
            let r = caps.memory(n);
            (caps.cap[r.0] > 0.0).then_some(pi[r.0])
        };
        // Price of one elementary pair on a link and its swap message; None when exhausted.
        let link_price = |l: usize| -> Option<f64> {
            let q = caps.qlink(l);
            if caps.cap[q.0] <= 0.0 {
                return None;
            }
            let mut w = pi[q.0];
            for &c in &topo.qlinks[l].classical_path {
                let r = caps.clink(c);
                if caps.cap[r.0] <= 0.0 {
                    return None;
                }
                w += topology::SWAP_MESSAGE_BITS * pi[r.0];
            }
            Some(w)
        };
        let target = intent.min_fidelity;
        // Least overhead any completion of a partial path can have, per unit of swap loss:
        // 1, or 2 once the fidelity bound needs purification (each round yields at most ½);
        // None when no completion can reach the bound.
        let least_yield = |lab: &PairLabel| -> Option<f64> {
            let Some(target) = target else {
                return Some(1.0);
            };
            let wait = if lab.coherence_s.is_finite() {
                physics::memory_wait_cost(lab.latency_ms / 1e3, lab.coherence_s)
            } else {
                0.0
            };
            // Raw fidelity only falls as the path grows, and purification only helps less
            // on worse pairs; the slack keeps round-off from cutting a path at the bound.
            let raw = physics::fidelity_from_cost(lab.fidelity_cost + wait) + 1e-12;
            if raw >= target {
                return Some(1.0);
            }
            (raw > 0.5
                && (1..=MAX_PURIFICATION_ROUNDS).any(|r| physics::purify(raw, r).0 >= target))
            .then_some(2.0)
        };
        let swap_success = self.options.swap_success;
        // Least cost any completion of a partial path has (a lower bound on what the
        // reduced cost subtracts from σ), or None when none can be admitted.
        let floor_cost = |lab: &PairLabel| -> Option<f64> {
            let swaps =
                physics::elementary_pairs_per_link_per_s(1.0, lab.hops as usize, swap_success);
            Some(
                least_yield(lab)? * swaps * (lab.links + lab.latency_ms / 1e3 * lab.memory)
                    + hop_cost * f64::from(lab.hops) / rate,
            )
        };
        let src = stops[0];
        let Some(m0) = memory(src) else {
            return Priced::none();
        };
        let max_hops = intent.constraints.max_hops;
        let max_latency_ms = intent.max_latency_s.map(|s| s * 1e3);
        let adjacency = topo.adjacency(LinkKind::Entanglement);
        let mut labels = vec![PairLabel {
            links: 0.0,
            memory: m0,
            hops: 0,
            latency_ms: 0.0,
            fidelity_cost: 0.0,
            coherence_s: topo.nodes[src].coherence_time_s.unwrap_or(f64::INFINITY),
            usable: f64::INFINITY,
            node: src,
            stage: 1,
            pred: None,
        }];
        let mut settled: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
        let mut heap = BinaryHeap::new();
        heap.push(Entry(0.0, 0, 0));
        let mut best: Option<(f64, Candidate)> = None;
        let mut exact = true;
        while let Some(Entry(cost, _, id)) = heap.pop() {
            // A column must beat the tolerance and the best column found so far.
            let floor = best.as_ref().map_or(tolerance, |b| b.0.max(tolerance));
            if sigma - cost <= floor {
                // Entries come least cost first: none left can do better.
                break;
            }
            let label = labels[id];
            let kept = settled.entry((label.node, label.stage)).or_default();
            if kept.iter().any(|&k| labels[k].dominates(&label)) {
                continue;
            }
            if kept.len() >= PAIR_LABELS_PER_NODE {
                exact = false;
                continue;
            }
            kept.push(id);
            if label.stage > last {
                let (nodes, links) = unwind_by(id, |i| (labels[i].node, labels[i].pred));
                let cand = paths::evaluate_path(topo, intent, nodes, links, &self.options);
                if paths::admissible(topo, intent, &cand).is_ok() {
                    let rc =
                        reduced_cost(topo, caps, intent.service, rate, sigma, pi, hop_cost, &cand);
                    if rc > floor {
                        best = Some((rc, cand));
                    }
                }
                continue;
            }
            if labels.len() >= PAIR_LABELS {
                exact = false;
                break;
            }
            let goal = stops[label.stage];
            for &(v, l) in &adjacency[label.node] {
                if v == label.node || !g.link_ok[l] || !g.enterable(v, goal) {
                    continue;
                }
                let stage = if v == goal {
                    label.stage + 1
                } else {
                    label.stage
                };
                let (Some(w), Some(m)) = (link_price(l), memory(v)) else {
                    continue;
                };
                let halves = if stage > last { 1.0 } else { 2.0 };
                let link = &topo.qlinks[l];
                let next = PairLabel {
                    links: label.links + w,
                    memory: label.memory + halves * m,
                    hops: label.hops + 1,
                    latency_ms: label.latency_ms + link.latency_ms,
                    fidelity_cost: label.fidelity_cost + physics::fidelity_cost(link.fidelity),
                    coherence_s: label
                        .coherence_s
                        .min(topo.nodes[v].coherence_time_s.unwrap_or(f64::INFINITY)),
                    usable: label.usable.min(link.usable),
                    node: v,
                    stage,
                    pred: Some((id, l)),
                };
                if max_hops.is_some_and(|h| next.hops > h)
                    || max_latency_ms.is_some_and(|m| next.latency_ms > m)
                    || on_path_by(id, v, |i| (labels[i].node, labels[i].pred))
                {
                    continue;
                }
                let Some(cost) = floor_cost(&next) else {
                    continue;
                };
                if sigma - cost <= floor {
                    continue;
                }
                labels.push(next);
                heap.push(Entry(cost, next.hops, labels.len() - 1));
            }
        }
        Priced {
            path: best.map(|(_, c)| c),
            exact,
        }
    }
}

/// The duals and limits one pair search prices with.
#[derive(Clone, Copy)]
struct Prices<'p> {
    rate: f64,
    sigma: f64,
    pi: &'p [f64],
    caps: &'p Capacities,
    tolerance: f64,
    hop_cost: f64,
}

/// Source, `via` nodes in order, destination.
fn stops(topo: &Topology, intent: &CheckedIntent) -> Option<Vec<usize>> {
    let mut stops = vec![*topo.index.get(&intent.endpoints[0].node)?];
    stops.extend(
        intent
            .constraints
            .via_nodes
            .iter()
            .filter_map(|v| topo.index.get(v).copied()),
    );
    stops.push(*topo.index.get(&intent.endpoints[1].node)?);
    Some(stops)
}

/// One partial pair path in the label-setting search.
#[derive(Clone, Copy)]
struct PairLabel {
    /// Σ over its links of π(link) + 512·Σ π(classical links under it).
    links: f64,
    /// Σ over its memories of halves × π(memory): 1 at the source, 2 at each repeater (and 1
    /// at the destination once reached).
    memory: f64,
    hops: u32,
    latency_ms: f64,
    /// Σ −ln w of its links.
    fidelity_cost: f64,
    /// Shortest coherence time of the memories on it (∞ without any).
    coherence_s: f64,
    /// Least usable elementary pair rate of its links.
    usable: f64,
    node: usize,
    stage: usize,
    pred: Option<(usize, usize)>,
}

impl PairLabel {
    /// Is `self` no worse than `other` in every dimension the candidate's overhead,
    /// admission and prices depend on?
    fn dominates(&self, other: &PairLabel) -> bool {
        self.links <= other.links
            && self.memory <= other.memory
            && self.hops <= other.hops
            && self.latency_ms <= other.latency_ms
            && self.fidelity_cost <= other.fidelity_cost
            && self.coherence_s >= other.coherence_s
            && self.usable >= other.usable
    }
}

/// A path as its nodes and the links between them.
type NodesLinks = (Vec<usize>, Vec<usize>);

/// What a priced path must stay within.
struct Bounds {
    hops: Option<u32>,
    latency_ms: Option<f64>,
    /// A path must weigh less than this to have a positive reduced cost.
    budget: f64,
}

/// One partial path in the label-setting search.
#[derive(Clone, Copy)]
struct Label {
    weight: f64,
    hops: u32,
    latency_ms: f64,
    node: usize,
    /// Index of the next stop to reach (1 = the first after the source).
    stage: usize,
    /// The label this one extends, and the link it crossed.
    pred: Option<(usize, usize)>,
}

/// Heap entry: least weight first, then fewest hops, then label index (deterministic).
#[derive(PartialEq)]
struct Entry(f64, u32, usize);

impl Eq for Entry {}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .0
            .total_cmp(&self.0)
            .then(other.1.cmp(&self.1))
            .then(other.2.cmp(&self.2))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The lightest simple path through `stops` in order within `bounds`, as (nodes, links),
/// and whether the search was exact (reached no label cap).
fn search(
    topo: &Topology,
    g: &AllowedGraph,
    stops: &[usize],
    bounds: &Bounds,
    weight: &dyn Fn(usize) -> Option<f64>,
) -> (Option<NodesLinks>, bool) {
    let last = stops.len() - 1;
    if stops.iter().any(|&s| !g.end[s]) {
        return (None, true);
    }
    let mut exact = true;
    let adjacency = topo.adjacency(topology::LinkKind::Qkd);
    let mut labels: Vec<Label> = vec![Label {
        weight: 0.0,
        hops: 0,
        latency_ms: 0.0,
        node: stops[0],
        stage: 1,
        pred: None,
    }];
    // Settled labels per (node, stage), for dominance.
    let mut settled: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
    let mut heap = BinaryHeap::new();
    heap.push(Entry(0.0, 0, 0));
    while let Some(Entry(_, _, id)) = heap.pop() {
        let label = labels[id];
        let key = (label.node, label.stage);
        let kept = settled.entry(key).or_default();
        if kept.iter().any(|&k| dominates(&labels[k], &label, bounds)) {
            continue;
        }
        if kept.len() >= LABELS_PER_NODE {
            exact = false;
            continue;
        }
        kept.push(id);
        if label.stage > last {
            return (
                Some(unwind_by(id, |i| (labels[i].node, labels[i].pred))),
                exact,
            );
        }
        for &(v, l) in &adjacency[label.node] {
            if v == label.node || !g.link_ok[l] {
                continue;
            }
            let Some(w) = weight(l) else { continue };
            let target = stops[label.stage];
            let stage = if v == target {
                label.stage + 1
            } else {
                label.stage
            };
            if !g.enterable(v, target) {
                continue;
            }
            let next = Label {
                weight: label.weight + w,
                hops: label.hops + 1,
                latency_ms: label.latency_ms + topo.qlinks[l].latency_ms,
                node: v,
                stage,
                pred: Some((id, l)),
            };
            if next.weight >= bounds.budget
                || bounds.hops.is_some_and(|h| next.hops > h)
                || bounds.latency_ms.is_some_and(|m| next.latency_ms > m)
                || on_path_by(id, v, |i| (labels[i].node, labels[i].pred))
            {
                continue;
            }
            labels.push(next);
            heap.push(Entry(next.weight, next.hops, labels.len() - 1));
        }
    }
    (None, exact)
}

/// Does `a` make `b` useless: no heavier, and no worse in any bound the intent has?
fn dominates(a: &Label, b: &Label, bounds: &Bounds) -> bool {
    a.weight <= b.weight
        && (bounds.hops.is_none() || a.hops <= b.hops)
        && (bounds.latency_ms.is_none() || a.latency_ms <= b.latency_ms)
}

/// Is `node` already on the path that ends in label `id`? `at` gives a label's node and
/// predecessor.
fn on_path_by(
    mut id: usize,
    node: usize,
    at: impl Fn(usize) -> (usize, Option<(usize, usize)>),
) -> bool {
    loop {
        let (n, pred) = at(id);
        if n == node {
            return true;
        }
        match pred {
            Some((p, _)) => id = p,
            None => return false,
        }
    }
}

/// The path that ends in label `id`, as (nodes, links).
fn unwind_by(mut id: usize, at: impl Fn(usize) -> (usize, Option<(usize, usize)>)) -> NodesLinks {
    let mut nodes = vec![at(id).0];
    let mut links = Vec::new();
    while let (_, Some((p, l))) = at(id) {
        links.push(l);
        nodes.push(at(p).0);
        id = p;
    }
    nodes.reverse();
    links.reverse();
    (nodes, links)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Constraints, Endpoint};
    use crate::inventory::Role;
    use crate::synth::Rng;
    use crate::topology::{CLink, QLink, TNode};
    use strata_grammar::Span;

    /// A random repeater network: endpoints s and t and six repeaters, all with memories of
    /// random coherence; entanglement links of random fidelity, pair rate and latency, each
    /// with its own classical link.
    fn pair_network(rng: &mut Rng) -> Topology {
        let names = ["s", "t", "r1", "r2", "r3", "r4", "r5", "r6"];
        let nodes: Vec<TNode> = names
            .iter()
            .map(|&n| TNode {
                name: n.into(),
                domain: "d".into(),
                role: if n.starts_with('r') {
                    Role::Repeater
                } else {
                    Role::Endpoint
                },
                trusted_domain: true,
                memory_qubits: Some(10),
                coherence_time_s: Some([0.02, 0.05, 0.2, 1.0][rng.below(4)]),
            })
            .collect();
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), i))
            .collect();
        let (mut qlinks, mut clinks) = (Vec::new(), Vec::new());
        for i in 0..names.len() {
            for j in i + 1..names.len() {
                if (i, j) == (0, 1) || !rng.chance(0.5) {
                    continue;
                }
                // Values from short lists, so that partial paths tie and dominate each other.
                let usable = [30.0, 200.0, 1000.0][rng.below(3)];
                clinks.push(CLink {
                    name: format!("c{i}-{j}"),
                    span: Span::default(),
                    ends: [i, j],
                    bandwidth_bps: 1e9,
                    latency_ms: 0.1,
                });
                qlinks.push(QLink {
                    name: format!("e{i}-{j}"),
                    kind: LinkKind::Entanglement,
                    ends: [i, j],
                    rate: usable,
                    usable,
                    fidelity: [0.9, 0.95, 0.98, 0.99][rng.below(4)],
                    qber: 0.0,
                    classical_path: vec![clinks.len() - 1],
                    latency_ms: [0.5, 1.0, 2.0, 4.0][rng.below(4)],
                    channel_bps: 1e3,
                    span: Span::default(),
                });
            }
        }
        let mut adj_pairs = vec![Vec::new(); nodes.len()];
        for (l, q) in qlinks.iter().enumerate() {
            adj_pairs[q.ends[0]].push((q.ends[1], l));
            adj_pairs[q.ends[1]].push((q.ends[0], l));
        }
        Topology {
            network: "pairs".into(),
            adj_keys: vec![Vec::new(); nodes.len()],
            nodes,
            index,
            qlinks,
            clinks,
            adj_pairs,
        }
    }

    fn pairs(rate: f64) -> CheckedIntent {
        let end = |n: &str| Endpoint {
            node: n.into(),
            application: None,
            urn: None,
            span: Span::default(),
        };
        CheckedIntent {
            name: "p".into(),
            span: Span::default(),
            name_span: Span::default(),
            service: Service::Pairs,
            endpoints: [end("s"), end("t")],
            min_rate: rate,
            max_rate: None,
            rate_span: Span::default(),
            min_fidelity: None,
            fidelity_span: None,
            max_latency_s: None,
            latency_span: None,
            lifetime_s: None,
            priority: 0,
            burst: None,
            constraints: Constraints {
                disjoint_paths: 1,
                ..Constraints::default()
            },
            policies: Vec::new(),
        }
    }

    /// Every allowed simple path of the intent, as (nodes, links), by depth-first search.
    fn all_paths(
        topo: &Topology,
        g: &AllowedGraph,
        stops: &[usize],
    ) -> Vec<(Vec<usize>, Vec<usize>)> {
        fn walk(
            topo: &Topology,
            g: &AllowedGraph,
            stops: &[usize],
            stage: usize,
            nodes: &mut Vec<usize>,
            links: &mut Vec<usize>,
            out: &mut Vec<(Vec<usize>, Vec<usize>)>,
        ) {
            if stage == stops.len() {
                out.push((nodes.clone(), links.clone()));
                return;
            }
            let u = *nodes.last().unwrap();
            for &(v, l) in &topo.adj_pairs[u] {
                if nodes.contains(&v) || !g.link_ok[l] || !g.enterable(v, stops[stage]) {
                    continue;
                }
                let next = if v == stops[stage] { stage + 1 } else { stage };
                nodes.push(v);
                links.push(l);
                walk(topo, g, stops, next, nodes, links, out);
                nodes.pop();
                links.pop();
            }
        }
        let mut out = Vec::new();
        walk(
            topo,
            g,
            stops,
            1,
            &mut vec![stops[0]],
            &mut Vec::new(),
            &mut out,
        );
        out
    }

    #[test]
    fn pair_pricing_finds_the_best_path_of_all() {
        let mut rng = Rng::new(11);
        let options = PathOptions::default();
        let (mut columns, mut none) = (0, 0);
        for round in 0..600 {
            let topo = pair_network(&mut rng);
            let mut intent = pairs(rng.range(0.5, 50.0));
            intent.min_fidelity = [None, Some(0.7), Some(0.8), Some(0.9), Some(0.95)][rng.below(5)];
            if rng.chance(0.25) {
                intent.constraints.max_hops = Some(3);
            }
            if rng.chance(0.25) {
                intent.max_latency_s = Some(0.006);
            }
            if rng.chance(0.2) {
                intent.constraints.via_nodes = vec!["r3".into()];
            }
            if rng.chance(0.2) {
                intent.constraints.avoid_nodes.insert("r1".into());
            }
            let caps = Capacities::new(&topo);
            // Prices of the order that makes paths compete: per elementary pair, per swap
            // message bit, per qubit-second.
            let (q, c) = (topo.qlinks.len(), topo.clinks.len());
            let pi: Vec<f64> = (0..caps.len())
                .map(|r| {
                    let top = if r < q {
                        0.05
                    } else if r < q + c {
                        0.05 / 512.0
                    } else {
                        20.0
                    };
                    top * [0.0, 0.0, 0.25, 0.5, 1.0][rng.below(5)]
                })
                .collect();
            let sigma = rng.range(0.0, 1.5);
            let (rate, tolerance, hop_cost) = (intent.min_rate, 1e-9, 1e-6);
            let mut pricer = Pricer::new(&topo, options);
            pricer.prepare([&intent]);
            let got = pricer.price(&intent, rate, sigma, &pi, &caps, tolerance, hop_cost);
            assert!(
                got.exact,
                "round {round}: a small network stays within the caps"
            );

            let g = AllowedGraph::new(&topo, &Signature::of(&intent), Links::Usable);
            let stops = stops(&topo, &intent).unwrap();
            let rc = |c: &Candidate| {
                reduced_cost(&topo, &caps, intent.service, rate, sigma, &pi, hop_cost, c)
            };
            let best = all_paths(&topo, &g, &stops)
                .into_iter()
                .map(|(nodes, links)| paths::evaluate_path(&topo, &intent, nodes, links, &options))
                .filter(|c| paths::admissible(&topo, &intent, c).is_ok())
                .map(|c| rc(&c))
                .fold(f64::NEG_INFINITY, f64::max);
            match got.path {
                Some(c) => {
                    columns += 1;
                    assert!(paths::admissible(&topo, &intent, &c).is_ok());
                    let found = rc(&c);
                    assert!(found > tolerance, "round {round}");
                    assert!(
                        (found - best).abs() <= 1e-9 * best.abs().max(1.0),
                        "round {round}: priced {found}, best of all paths {best}"
                    );
                }
                None => {
                    none += 1;
                    assert!(
                        best <= tolerance,
                        "round {round}: missed a column worth {best}"
                    );
                }
            }
        }
        // Both outcomes occur often enough to mean something.
        assert!(
            columns > 30 && none > 30,
            "{columns} columns, {none} without"
        );
    }
}
