//! A candidate path and what it delivers for an intent: hops, classical latency, fidelity
//! (with the purification rounds that help and the storage of raw pairs waiting for their
//! partners), elementary-pair overhead and the rates it can carry; whether the intent's
//! per-path bounds admit it, and why not when they do not.

use super::blocked::Blocked;
use crate::check::{CheckedIntent, Service};
use crate::physics;
use crate::topology::{Resource, Topology};
use std::sync::OnceLock;

/// Most BBPSSW rounds strata schedules on one path.
pub const MAX_PURIFICATION_ROUNDS: u32 = 3;

/// Tunables of path generation.
#[derive(Debug, Clone, Copy)]
pub struct PathOptions {
    /// Candidate paths per intent (before disjointness).
    pub k: usize,
    /// Success probability of one entanglement swap.
    pub swap_success: f64,
}

impl Default for PathOptions {
    fn default() -> Self {
        PathOptions {
            k: 3,
            swap_success: 0.5,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub nodes: Vec<usize>,
    pub links: Vec<usize>,
    pub latency_ms: f64,
    /// Keys: worst link fidelity (1 − QBER). Pairs: end to end, after purification.
    pub fidelity: f64,
    pub purification_rounds: u32,
    /// Elementary pairs each link supplies per delivered pair (1 for keys).
    pub overhead: f64,
    /// Seconds a half-pair waits in memory for the swap outcomes (pairs).
    pub wait_s: f64,
    /// Least rate (delivered pairs/s) at which the purified pairs still meet the intent's
    /// fidelity bound; 0 when any rate does (keys, no purification, memories that keep).
    pub min_rate: f64,
    /// Most delivered pairs/s the path's scarcest link supplies, after swaps and
    /// purification (pairs; +∞ for keys).
    pub max_rate: f64,
    /// Purification with its storage, at the rate the fidelity was evaluated for (pairs).
    pub storage: physics::StoredPurification,
    /// Shortest coherence time of the memories at the path's two ends, s (pairs): where raw
    /// pairs wait for their partners. Infinite without memories there.
    pub end_coherence_s: f64,
    /// Cost of the path in the search (ties are broken by nodes, then links).
    pub(super) cost: u64,
    /// What a unit of rate on the path consumes, worked out on first use.
    pub(in crate::compile) usage: UsageMemo,
}

/// What a unit of rate on a path consumes of each resource, in resource order, worked out
/// once by [`usage`](crate::compile::resources::usage): a path belongs to one intent (one
/// service) in one compile (one topology), so it never changes. A cache, not part of the
/// path: two candidates are equal whatever their memos hold.
#[derive(Clone, Default)]
pub struct UsageMemo(pub(in crate::compile) OnceLock<Vec<(Resource, f64)>>);

impl PartialEq for UsageMemo {
    fn eq(&self, _: &UsageMemo) -> bool {
        true
    }
}

impl std::fmt::Debug for UsageMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UsageMemo")
    }
}

/// Evaluates a given path (latency, fidelity, purification, overhead) for an intent.
pub fn evaluate_path(
    topo: &Topology,
    intent: &CheckedIntent,
    nodes: Vec<usize>,
    links: Vec<usize>,
    options: &PathOptions,
) -> Candidate {
    evaluate(topo, intent, nodes, links, 0, options)
}

/// Latency, fidelity, purification and overhead of a path.
pub(super) fn evaluate(
    topo: &Topology,
    intent: &CheckedIntent,
    nodes: Vec<usize>,
    links: Vec<usize>,
    cost: u64,
    options: &PathOptions,
) -> Candidate {
    let latency_ms: f64 = links.iter().map(|&l| topo.qlinks[l].latency_ms).sum();
    let fids: Vec<f64> = links.iter().map(|&l| topo.qlinks[l].fidelity).collect();
    match intent.service {
        Service::Keys { .. } => Candidate {
            fidelity: fids.iter().copied().fold(1.0, f64::min),
            nodes,
            links,
            latency_ms,
            purification_rounds: 0,
            overhead: 1.0,
            wait_s: 0.0,
            min_rate: 0.0,
            max_rate: f64::INFINITY,
            storage: physics::purify_stored(1.0, 0, 0.0, f64::INFINITY),
            end_coherence_s: f64::INFINITY,
            cost,
            usage: UsageMemo::default(),
        },
        Service::Pairs => {
            let wait_s = latency_ms / 1e3;
            let coherence = nodes
                .iter()
                .filter_map(|&n| topo.nodes[n].coherence_time_s)
                .fold(f64::INFINITY, f64::min);
            let raw = physics::fidelity_from_cost(
                fids.iter().map(|&f| physics::fidelity_cost(f)).sum::<f64>()
                    + if coherence.is_finite() {
                        physics::memory_wait_cost(wait_s, coherence)
                    } else {
                        0.0
                    },
            );
            let end_coherence_s = end_coherence(topo, &nodes);
            let swaps =
                physics::elementary_pairs_per_link_per_s(1.0, links.len(), options.swap_success);
            // Delivered pairs/s the path carries at most: its scarcest link, less the swaps
            // and the purification it runs.
            let bottleneck = links
                .iter()
                .map(|&l| topo.qlinks[l].usable)
                .fold(f64::INFINITY, f64::min)
                / swaps;
            let target = intent.min_fidelity.unwrap_or(0.0);
            let at = |rounds: u32| {
                let rate = intent
                    .min_rate
                    .min(bottleneck * physics::purify(raw, rounds).1);
                physics::purify_stored(raw, rounds, rate, end_coherence_s)
            };
            // The fewest rounds that reach the target at that rate; else the best any does.
            let mut rounds = 0;
            let mut storage = at(0);
            let mut best = (0, storage);
            while storage.fidelity < target && rounds < MAX_PURIFICATION_ROUNDS && raw > 0.5 {
                rounds += 1;
                storage = at(rounds);
                if storage.fidelity > best.1.fidelity {
                    best = (rounds, storage);
                }
            }
            if storage.fidelity < target {
                // Out of reach: keep the fewest rounds that would reach the target if raw
                // pairs never waited (so the reason names the storage), else the best found.
                let ideal = (1..=MAX_PURIFICATION_ROUNDS)
                    .find(|&r| raw > 0.5 && physics::purify(raw, r).0 >= target);
                (rounds, storage) = match ideal {
                    Some(r) => (r, at(r)),
                    None => best,
                };
            }
            let min_rate = if intent.min_fidelity.is_some() {
                physics::purification_min_rate(raw, rounds, end_coherence_s, target)
                    .unwrap_or(f64::INFINITY)
            } else {
                0.0
            };
            // Reserve for the least rate that keeps the bound: the more slowly raw pairs
            // arrive, the more they decay and the more often purification fails.
            let factor = if min_rate > 0.0 && min_rate.is_finite() {
                physics::purify_stored(raw, rounds, min_rate, end_coherence_s).factor
            } else {
                physics::purify(raw, rounds).1
            };
            Candidate {
                nodes,
                links,
                latency_ms,
                fidelity: storage.fidelity,
                purification_rounds: rounds,
                overhead: swaps / factor.max(1e-12),
                wait_s,
                min_rate,
                max_rate: bottleneck * physics::purify(raw, rounds).1,
                storage,
                end_coherence_s,
                cost,
                usage: UsageMemo::default(),
            }
        }
    }
}

/// Shortest coherence time of the memories at a path's two ends, where raw pairs wait for
/// their purification partners; infinite when neither end has a memory.
pub fn end_coherence(topo: &Topology, nodes: &[usize]) -> f64 {
    [nodes.first(), nodes.last()]
        .into_iter()
        .flatten()
        .filter_map(|&n| topo.nodes[n].coherence_time_s)
        .fold(f64::INFINITY, f64::min)
}

/// Why a pair path's purified fidelity misses `target`: storage while raw pairs wait for
/// their partners when the same rounds would reach it with pairs that never wait, else the
/// path's links and swaps themselves.
pub fn fidelity_shortfall(
    topo: &Topology,
    c: &Candidate,
    target: f64,
    path: Vec<String>,
) -> Blocked {
    let ideal = physics::purify(raw_pair_fidelity(topo, c), c.purification_rounds).0;
    if c.purification_rounds > 0 && ideal >= target && c.storage.wait_s > 0.0 {
        let rate = c.storage.raw_rate_per_s * c.storage.factor;
        return Blocked::Storage {
            best: c.fidelity,
            target,
            path,
            rounds: c.purification_rounds,
            rate,
            raw_period_s: 1.0 / c.storage.raw_rate_per_s,
            wait_s: c.storage.wait_s,
            coherence_s: c.end_coherence_s,
            min_rate: c.min_rate.is_finite().then_some(c.min_rate),
            max_rate: c.max_rate,
        };
    }
    Blocked::Fidelity {
        best: c.fidelity,
        target,
        path,
    }
}

/// End-to-end fidelity of a pair path before purification: the swapped chain of its links,
/// decayed for the path's classical latency in the shortest-lived memory on it.
pub fn raw_pair_fidelity(topo: &Topology, path: &Candidate) -> f64 {
    let coherence = path
        .nodes
        .iter()
        .filter_map(|&n| topo.nodes[n].coherence_time_s)
        .fold(f64::INFINITY, f64::min);
    let wait = if coherence.is_finite() {
        physics::memory_wait_cost(path.wait_s, coherence)
    } else {
        0.0
    };
    physics::fidelity_from_cost(
        path.links
            .iter()
            .map(|&l| physics::fidelity_cost(topo.qlinks[l].fidelity))
            .sum::<f64>()
            + wait,
    )
}

pub(in crate::compile) fn admissible(
    topo: &Topology,
    intent: &CheckedIntent,
    c: &Candidate,
) -> Result<(), Blocked> {
    let names = || {
        c.nodes
            .iter()
            .map(|&n| topo.nodes[n].name.clone())
            .collect::<Vec<_>>()
    };
    if let Some(limit) = intent.constraints.max_hops
        && c.links.len() > limit as usize
    {
        return Err(Blocked::Hops {
            best: c.links.len(),
            limit,
        });
    }
    if let Some(max_s) = intent.max_latency_s
        && c.latency_ms > max_s * 1e3
    {
        return Err(Blocked::Latency {
            best_ms: c.latency_ms,
            limit_ms: max_s * 1e3,
            path: names(),
        });
    }
    if intent.service == Service::Pairs
        && let Some(target) = intent.min_fidelity
        && c.fidelity < target
    {
        return Err(fidelity_shortfall(topo, c, target, names()));
    }
    Ok(())
}

/// Orders candidates by cost, then nodes, then links, and drops repeats of the same links.
pub(super) fn sort_dedup(cands: &mut Vec<Candidate>) {
    cands.sort_by(|a, b| {
        a.cost
            .cmp(&b.cost)
            .then_with(|| a.nodes.cmp(&b.nodes))
            .then_with(|| a.links.cmp(&b.links))
    });
    cands.dedup_by(|a, b| a.links == b.links);
}
