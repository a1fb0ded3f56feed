//! Pricing entangled-pair intents. A pair path consumes its purification overhead (elementary pairs per
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

use super::{Entry, Priced, Pricer, Prices, on_path_by, reduced_cost, unwind_by};
use crate::check::CheckedIntent;
use crate::compile::allowed::AllowedGraph;
use crate::compile::paths::{self, Candidate, MAX_PURIFICATION_ROUNDS};
use crate::physics;
use crate::topology::{self, LinkKind};
use std::collections::{BTreeMap, BinaryHeap};

/// Most labels kept per (node, stop) in a pair search, whose dominance is over seven
/// dimensions and so keeps more of them.
const PAIR_LABELS_PER_NODE: usize = 64;

/// Most labels one pair search creates; beyond this it is a heuristic too.
const PAIR_LABELS: usize = 50_000;

impl Pricer<'_, '_> {
    /// The pair path with the largest positive reduced cost (see the module header): label
    /// setting over every non-dominated partial path, each complete one evaluated as a
    /// candidate.
    pub(super) fn price_pairs(
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
