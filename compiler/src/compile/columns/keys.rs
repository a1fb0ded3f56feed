//! Pricing key intents. The consumption is additive over the path's links:
//! `bits·π(QKD link) + (bits + relay overhead)·Σ π(classical links under it)` per link, so
//! the best path is a shortest path with these link weights — under the intent's own rules:
//! the links, relays and domains its policies allow (its [`AllowedGraph`]), its `via` nodes
//! in order, no node twice, and `max hops` and `latency` bounds. That is a
//! resource-constrained shortest path, solved exactly by label setting with dominance over
//! (weight, hops, latency) — dimensions the intent does not bound are left out, so an
//! unbounded intent is plain Dijkstra.
//!

use super::{Entry, NodesLinks, Priced, Pricer, Prices, on_path_by, unwind_by};
use crate::check::CheckedIntent;
use crate::compile::allowed::AllowedGraph;
use crate::compile::paths;
use crate::topology::{self, Topology};
use std::collections::{BTreeMap, BinaryHeap};

/// Most labels kept per (node, stop) in the constrained search. A bounded intent on a dense
/// network could otherwise keep exponentially many; beyond this the search is a heuristic
/// (it can only miss a column, never add a bad one), and stays exact for unbounded intents.
const LABELS_PER_NODE: usize = 32;

impl Pricer<'_, '_> {
    /// The key path with the largest positive reduced cost: a constrained shortest path
    /// over the links' prices per bit.
    pub(super) fn price_keys(
        &self,
        intent: &CheckedIntent,
        g: &AllowedGraph,
        stops: &[usize],
        prices: &Prices,
        size_bits: u32,
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
        let bounds = Bounds {
            hops: intent.constraints.max_hops,
            latency_ms: intent.max_latency_s.map(|s| s * 1e3),
            budget: sigma - tolerance,
        };
        let (found, exact) = search(topo, g, stops, &bounds, &weight);
        let path = found.and_then(|(nodes, links)| {
            let cand = paths::evaluate_path(topo, intent, nodes, links, &self.options);
            paths::admissible(topo, intent, &cand).ok()?;
            Some(cand)
        });
        Priced { path, exact }
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
