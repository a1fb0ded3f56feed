//! Column generation: new candidate paths priced from the duals of a class's LP.
//!
//! The optimiser starts from each intent's k shortest paths. Solving the LP over them gives
//! a price per resource (the dual of its capacity row, π ≥ 0) and per intent (the dual of its
//! coverage row, σ ≥ 0: what one more unit of admitted rate is worth). A path not yet in the
//! LP improves it exactly when its reduced cost is positive:
//!
//! ```text
//! σᵢ − Σ_links ( bits·π(QKD link) + (bits + relay overhead)·Σ π(classical links under it) )
//!    − HOP_COST·hops / requestedᵢ  >  0
//! ```
//!
//! For key intents every term is additive over the path's links, so the best path is a
//! shortest path with these link weights — under the intent's own rules: the links, relays
//! and domains its policies allow (its [`AllowedGraph`]), its `via` nodes in order, no node
//! twice, and `max hops` and `latency` bounds. That is a resource-constrained shortest path,
//! solved exactly by label setting with dominance over (weight, hops, latency) — dimensions
//! the intent does not bound are left out, so an unbounded intent is plain Dijkstra.
//!
//! Pair intents (whose consumption per link depends on the whole path's purification) and
//! `disjoint paths N` intents (whose column is a set of N paths) keep their k shortest
//! candidates; the summary says when an optimum is over candidates only.

use super::allowed::{AllowedGraph, Links, Signature};
use super::paths::{self, Candidate, PathOptions};
use super::resources::Capacities;
use crate::check::{CheckedIntent, Service};
use crate::topology::{self, Topology};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

/// Most labels kept per (node, stop) in the constrained search. A bounded intent on a dense
/// network could otherwise keep exponentially many; beyond this the search is a heuristic
/// (it can only miss a column, never add a bad one), and stays exact for unbounded intents.
const LABELS_PER_NODE: usize = 32;

/// The allowed graphs of the intents being priced, built once per signature.
pub struct Pricer<'t, 'a> {
    topo: &'t Topology,
    options: PathOptions,
    graphs: BTreeMap<Signature<'a>, AllowedGraph>,
}

/// Can this intent get new columns at all?
pub fn priceable(intent: &CheckedIntent) -> bool {
    matches!(intent.service, Service::Keys { .. }) && intent.constraints.disjoint_paths <= 1
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

    /// The path of least weight for `intent` if its reduced cost is positive: `sigma` is the
    /// dual of its coverage row, `pi` the dual of every resource row (0 where there is no
    /// row), `caps` what is left of each resource (a link with a resource at 0 is not
    /// offered). `rate` is the intent's requested rate.
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
    ) -> Option<Candidate> {
        let Service::Keys { size_bits } = intent.service else {
            return None;
        };
        let topo = self.topo;
        let g = self.graphs.get(&Signature::of(intent))?;
        let bits = f64::from(size_bits);
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
        let mut stops = vec![*topo.index.get(&intent.endpoints[0].node)?];
        stops.extend(
            intent
                .constraints
                .via_nodes
                .iter()
                .filter_map(|v| topo.index.get(v).copied()),
        );
        stops.push(*topo.index.get(&intent.endpoints[1].node)?);
        let bounds = Bounds {
            hops: intent.constraints.max_hops,
            latency_ms: intent.max_latency_s.map(|s| s * 1e3),
            budget: sigma - tolerance,
        };
        let (nodes, links) = search(topo, g, &stops, &bounds, &weight)?;
        let cand = paths::evaluate_path(topo, intent, nodes, links, &self.options);
        paths::admissible(topo, intent, &cand).ok()?;
        Some(cand)
    }
}

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

/// The lightest simple path through `stops` in order within `bounds`, as (nodes, links).
fn search(
    topo: &Topology,
    g: &AllowedGraph,
    stops: &[usize],
    bounds: &Bounds,
    weight: &dyn Fn(usize) -> Option<f64>,
) -> Option<(Vec<usize>, Vec<usize>)> {
    let last = stops.len() - 1;
    if stops.iter().any(|&s| !g.end[s]) {
        return None;
    }
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
            continue;
        }
        kept.push(id);
        if label.stage > last {
            return Some(unwind(&labels, id));
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
                || on_path(&labels, id, v)
            {
                continue;
            }
            labels.push(next);
            heap.push(Entry(next.weight, next.hops, labels.len() - 1));
        }
    }
    None
}

/// Does `a` make `b` useless: no heavier, and no worse in any bound the intent has?
fn dominates(a: &Label, b: &Label, bounds: &Bounds) -> bool {
    a.weight <= b.weight
        && (bounds.hops.is_none() || a.hops <= b.hops)
        && (bounds.latency_ms.is_none() || a.latency_ms <= b.latency_ms)
}

/// Is `node` already on the path that ends in label `id`?
fn on_path(labels: &[Label], mut id: usize, node: usize) -> bool {
    loop {
        if labels[id].node == node {
            return true;
        }
        match labels[id].pred {
            Some((p, _)) => id = p,
            None => return false,
        }
    }
}

fn unwind(labels: &[Label], mut id: usize) -> (Vec<usize>, Vec<usize>) {
    let mut nodes = vec![labels[id].node];
    let mut links = Vec::new();
    while let Some((p, l)) = labels[id].pred {
        links.push(l);
        nodes.push(labels[p].node);
        id = p;
    }
    nodes.reverse();
    links.reverse();
    (nodes, links)
}
