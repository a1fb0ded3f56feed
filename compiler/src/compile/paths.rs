//! Candidate paths per intent: the k shortest simple paths over the links and nodes the
//! intent's constraints and policies allow, evaluated for hops, classical latency and
//! fidelity (with purification where it helps), plus a disjoint set when the intent asks
//! for one. When nothing survives, the reason says which requirement removed the last path.
//!
//! Purification counts the storage of raw pairs waiting for their partners
//! ([`physics::purify_stored`]); that wait depends on the rate a path is given, which only
//! the optimiser decides. A path is admitted at the most it can carry for the intent (the
//! intent's rate, or the path's bottleneck if lower): if its fidelity misses the bound even
//! then, no allocation can help. Each candidate also carries the least rate that keeps the
//! bound (`min_rate`); the compiler re-checks every allocated path against it
//! ([`super::storage`]).
//!
//! The search runs on index arrays built once per constraint signature
//! ([`super::allowed`]): Yen's algorithm with Lawler's refinement and A* spur searches
//! ([`super::yen`]); `disjoint paths N` takes the least-cost N link- and relay-disjoint paths
//! from a min-cost flow ([`super::disjoint`]). [`candidates_all`] answers for many intents at
//! once, sharing graphs and searches between intents and spreading the work over threads.
//! Every result is deterministic: searches break ties by node index, candidates of equal
//! cost are ordered by their node index sequence, and parallel results are collected in
//! intent order.

use super::allowed::{AllowedGraph, Links, Signature};
use super::disjoint::{self, FlowPath};
use super::yen::{NodePath, Scratch, via_paths};
use crate::check::{CheckedIntent, Service};
use crate::physics;
use crate::topology::Topology;
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
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
    cost: u64,
}

/// Why an intent has no usable path, in the operator's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Blocked {
    /// Every allowed path uses a link that currently delivers nothing.
    NoCapacity,
    /// No loop-free path satisfies the constraints together (e.g. `via` forces a detour back).
    NoSimplePath,
    Fidelity {
        best: f64,
        target: f64,
        path: Vec<String>,
    },
    Latency {
        best_ms: f64,
        limit_ms: f64,
        path: Vec<String>,
    },
    Hops {
        best: usize,
        limit: u32,
    },
    Disjoint {
        found: u32,
        wanted: u32,
    },
    /// Purification would reach the bound, but raw pairs arrive too seldom: the first of a
    /// batch decays in memory while it waits for the others.
    Storage {
        best: f64,
        target: f64,
        path: Vec<String>,
        rounds: u32,
        /// Delivered pairs/s the path was evaluated at.
        rate: f64,
        /// Seconds between raw end-to-end pairs at that rate.
        raw_period_s: f64,
        /// Seconds the first raw pair of a batch waits for the last.
        wait_s: f64,
        coherence_s: f64,
        /// Least delivered rate that keeps the bound, if any does.
        min_rate: Option<f64>,
        /// Most delivered pairs/s the path's links supply.
        max_rate: f64,
    },
}

impl Blocked {
    pub fn describe(&self) -> String {
        match self {
            Blocked::NoCapacity => {
                "every allowed path crosses a link that currently yields no key or pairs".into()
            }
            Blocked::NoSimplePath => {
                "no loop-free path satisfies all of its constraints and policies together".into()
            }
            Blocked::Fidelity { best, target, path } => format!(
                "the best fidelity any allowed path reaches is {best:.4} (via {}), below the required {target}",
                path.join(" – ")
            ),
            Blocked::Latency {
                best_ms,
                limit_ms,
                path,
            } => format!(
                "the fastest allowed path takes {best_ms:.2} ms (via {}), over the {} allowed",
                path.join(" – "),
                crate::check::units::format_amount(*limit_ms, "ms")
            ),
            Blocked::Hops { best, limit } => {
                format!("the shortest allowed path has {best} hops, over the {limit} allowed")
            }
            Blocked::Disjoint { found, wanted } => {
                format!("only {found} disjoint allowed path(s) exist, {wanted} are required")
            }
            Blocked::Storage {
                best,
                target,
                path,
                rounds,
                rate,
                raw_period_s,
                wait_s,
                coherence_s,
                min_rate,
                max_rate,
            } => {
                let need = match min_rate {
                    Some(m) if *m <= *max_rate => {
                        format!("; it needs at least {} pairs/s", significant(*m))
                    }
                    Some(m) => format!(
                        "; it would need at least {} pairs/s, more than the path's links supply ({} pairs/s)",
                        significant(*m),
                        significant(*max_rate)
                    ),
                    None => String::new(),
                };
                format!(
                    "after {rounds} purification round(s) the best allowed path (via {}) reaches fidelity {best:.4}, below the required {target}: at {} pairs/s a raw pair arrives every {} s, and the first of the {} pairs purified together waits {} s for the others in a memory that keeps {} s{need}",
                    path.join(" – "),
                    significant(*rate),
                    significant(*raw_period_s),
                    1u64 << rounds,
                    significant(*wait_s),
                    significant(*coherence_s),
                )
            }
        }
    }

    pub fn fix(&self) -> &'static str {
        match self {
            Blocked::NoCapacity => "restore the failed links, or allow other paths",
            Blocked::NoSimplePath => {
                "relax `via`, `avoid` or the policies so that a path need not pass a node twice"
            }
            Blocked::Fidelity { .. } => {
                "lower the fidelity target, allow other paths, or improve the links on the best path"
            }
            Blocked::Latency { .. } => "raise the latency bound or allow a shorter path",
            Blocked::Hops { .. } => "raise `max hops` or add a shorter link",
            Blocked::Disjoint { .. } => {
                "lower `disjoint paths` or add links that give independent routes"
            }
            Blocked::Storage { .. } => {
                "raise the rate or the entanglement capacity of the path so that raw pairs arrive faster, use end-node memories with longer coherence times, or lower the fidelity target"
            }
        }
    }
}

/// Three significant digits, for rates and durations from microseconds to hours.
fn significant(v: f64) -> String {
    if !v.is_finite() {
        return "∞".into();
    }
    if v <= 0.0 {
        return "0".into();
    }
    let decimals = (2 - v.log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Most A* cost-to-go tables [`candidates_all`] holds at once.
const TABLES: usize = 256;

/// The graphs of one constraint signature: the one paths are searched on, and (built only
/// when some intent finds no path) the one that ignores link rates.
struct Graphs {
    usable: AllowedGraph,
    policy: OnceLock<AllowedGraph>,
}

impl Graphs {
    fn new(topo: &Topology, sig: &Signature) -> Graphs {
        Graphs {
            usable: AllowedGraph::new(topo, sig, Links::Usable),
            policy: OnceLock::new(),
        }
    }

    fn policy(&self, topo: &Topology, sig: &Signature) -> &AllowedGraph {
        self.policy
            .get_or_init(|| AllowedGraph::new(topo, sig, Links::Policy))
    }
}

/// What a path search for an intent depends on besides its signature.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Search {
    /// Source, `via` nodes in order, destination.
    stops: Vec<usize>,
    k: usize,
}

impl Search {
    fn of(topo: &Topology, intent: &CheckedIntent, options: &PathOptions) -> Option<Search> {
        let (&src, &dst) = (
            topo.index.get(&intent.endpoints[0].node)?,
            topo.index.get(&intent.endpoints[1].node)?,
        );
        let c = &intent.constraints;
        let mut stops = vec![src];
        stops.extend(
            c.via_nodes
                .iter()
                .filter_map(|v| topo.index.get(v).copied()),
        );
        stops.push(dst);
        Some(Search {
            stops,
            k: options.k.max(3 * c.disjoint_paths as usize),
        })
    }
}

/// Candidate paths for one intent, best first, or why there are none.
pub fn candidates(
    topo: &Topology,
    intent: &CheckedIntent,
    options: &PathOptions,
) -> Result<Vec<Candidate>, Blocked> {
    let Some(search) = Search::of(topo, intent, options) else {
        return Err(Blocked::NoCapacity);
    };
    let sig = Signature::of(intent);
    let graphs = Graphs::new(topo, &sig);
    let mut scratch = Scratch::default();
    let g = &graphs.usable;
    let node_paths = via_paths(
        g,
        &search.stops,
        search.k,
        &|to| Cow::Owned(g.distances_to(to)),
        &mut scratch,
    );
    finish(
        topo,
        intent,
        options,
        &sig,
        &graphs,
        &search,
        &node_paths,
        &mut scratch,
    )
}

/// [`candidates`] for every intent, in the order given: the same results, computed once per
/// distinct search. The allowed graph is built once per constraint signature, the A*
/// cost-to-go once per (signature, destination), the k shortest paths once per (signature,
/// ends, `via` nodes, k), and the work is spread over threads with the results collected in
/// intent order, so the output never depends on thread timing.
pub fn candidates_all(
    topo: &Topology,
    intents: &[CheckedIntent],
    options: &PathOptions,
) -> Vec<Result<Vec<Candidate>, Blocked>> {
    candidates_in_chunks(topo, intents, options, TABLES)
}

/// [`candidates_all`] holding at most `tables` cost-to-go tables at once.
fn candidates_in_chunks(
    topo: &Topology,
    intents: &[CheckedIntent],
    options: &PathOptions,
    tables: usize,
) -> Vec<Result<Vec<Candidate>, Blocked>> {
    let mut sig_ids: BTreeMap<Signature, usize> = BTreeMap::new();
    let mut search_ids: BTreeMap<(usize, Search), usize> = BTreeMap::new();
    // Per intent: its signature and search, or None when an endpoint is unknown.
    let mut plan: Vec<Option<(usize, usize)>> = Vec::with_capacity(intents.len());
    for intent in intents {
        let Some(search) = Search::of(topo, intent, options) else {
            plan.push(None);
            continue;
        };
        let next = sig_ids.len();
        let sig = *sig_ids.entry(Signature::of(intent)).or_insert(next);
        let next = search_ids.len();
        let id = *search_ids.entry((sig, search)).or_insert(next);
        plan.push(Some((sig, id)));
    }
    let mut sigs: Vec<(Signature, usize)> = sig_ids.into_iter().collect();
    sigs.sort_by_key(|&(_, id)| id);
    let sigs: Vec<Signature> = sigs.into_iter().map(|(s, _)| s).collect();
    let graphs: Vec<Graphs> = sigs.par_iter().map(|sig| Graphs::new(topo, sig)).collect();
    let mut searches: Vec<((usize, Search), usize)> = search_ids.into_iter().collect();
    searches.sort_by_key(|&(_, id)| id);
    let searches: Vec<(usize, Search)> = searches.into_iter().map(|(s, _)| s).collect();

    // The k shortest paths of every distinct search. Searches run grouped by (signature,
    // destination) so that each A* cost-to-go table is computed once, a bounded number of
    // tables at a time (memory stays at TABLES × nodes whatever the network).
    let mut order: Vec<usize> = (0..searches.len()).collect();
    order.sort_by_key(|&i| (searches[i].0, searches[i].1.stops.last().copied()));
    let mut found: Vec<Vec<NodePath>> = vec![Vec::new(); searches.len()];
    let mut at = 0;
    while at < order.len() {
        let mut targets: BTreeSet<(usize, usize)> = BTreeSet::new();
        let mut end = at;
        while end < order.len() {
            let (sig, s) = &searches[order[end]];
            let new = s.stops[1..]
                .iter()
                .filter(|&&to| !targets.contains(&(*sig, to)))
                .count();
            if !targets.is_empty() && targets.len() + new > tables {
                break;
            }
            targets.extend(s.stops[1..].iter().map(|&to| (*sig, to)));
            end += 1;
        }
        let targets: Vec<(usize, usize)> = targets.into_iter().collect();
        let tables: Vec<Vec<u64>> = targets
            .par_iter()
            .map(|&(sig, to)| graphs[sig].usable.distances_to(to))
            .collect();
        let table = |sig: usize, to: usize| -> &[u64] {
            let i = targets
                .binary_search(&(sig, to))
                .expect("every segment end has its table");
            &tables[i]
        };
        let chunk: Vec<Vec<NodePath>> = order[at..end]
            .par_iter()
            .map_init(Scratch::default, |scratch, &id| {
                let (sig, s) = &searches[id];
                via_paths(
                    &graphs[*sig].usable,
                    &s.stops,
                    s.k,
                    &|to| Cow::Borrowed(table(*sig, to)),
                    scratch,
                )
            })
            .collect();
        for (&id, paths) in order[at..end].iter().zip(chunk) {
            found[id] = paths;
        }
        at = end;
    }

    intents
        .par_iter()
        .zip(plan.par_iter())
        .map_init(Scratch::default, |scratch, (intent, plan)| {
            let Some((sig, id)) = *plan else {
                return Err(Blocked::NoCapacity);
            };
            finish(
                topo,
                intent,
                options,
                &sigs[sig],
                &graphs[sig],
                &searches[id].1,
                &found[id],
                scratch,
            )
        })
        .collect()
}

/// From the k shortest node paths of an intent to its candidates (or why there are none).
#[allow(clippy::too_many_arguments)]
fn finish(
    topo: &Topology,
    intent: &CheckedIntent,
    options: &PathOptions,
    sig: &Signature,
    graphs: &Graphs,
    search: &Search,
    node_paths: &[NodePath],
    scratch: &mut Scratch,
) -> Result<Vec<Candidate>, Blocked> {
    if node_paths.is_empty() {
        let policy = graphs.policy(topo, sig);
        let any = via_paths(
            policy,
            &search.stops,
            1,
            &|to| Cow::Owned(policy.distances_to(to)),
            scratch,
        );
        return Err(if any.is_empty() {
            Blocked::NoSimplePath
        } else {
            Blocked::NoCapacity
        });
    }
    let g = &graphs.usable;
    let mut out = Vec::new();
    let mut first_failure = None;
    for (nodes, cost) in node_paths {
        let Some(links) = nodes
            .windows(2)
            .map(|w| g.link_between(w[0], w[1]))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        let cand = evaluate(topo, intent, nodes.clone(), links, *cost, options);
        match admissible(topo, intent, &cand) {
            Ok(()) => out.push(cand),
            Err(b) => {
                if first_failure.is_none() {
                    first_failure = Some(b);
                }
            }
        }
    }
    if out.is_empty() {
        return Err(first_failure.unwrap_or(Blocked::NoCapacity));
    }
    sort_dedup(&mut out);
    if intent.constraints.disjoint_paths > 1 {
        return disjoint_candidates(topo, intent, options, sig, g, search, out);
    }
    Ok(out)
}

fn sort_dedup(cands: &mut Vec<Candidate>) {
    cands.sort_by(|a, b| {
        a.cost
            .cmp(&b.cost)
            .then_with(|| a.nodes.cmp(&b.nodes))
            .then_with(|| a.links.cmp(&b.links))
    });
    cands.dedup_by(|a, b| a.links == b.links);
}

/// The `disjoint paths N` set of an intent, given its admissible k shortest paths.
///
/// The N link- and relay-disjoint paths of least total cost come from a min-cost flow
/// ([`disjoint::disjoint_paths`]); if it cannot send N units, the number it sent is the true
/// maximum and the intent is rejected with it. A min-cost set may still break a per-path
/// bound (max hops, latency, fidelity). Then, in order: the flow again on the graph without
/// the nodes that no path within the hop and latency bounds can reach (a safe pruning), and
/// finally the cheapest disjoint combination of every admissible path seen (the k shortest
/// and the flows' paths). Disjoint paths under per-path bounds is NP-hard in general, so this
/// last step may miss a set that exists; the rejection then reports the largest admissible
/// disjoint set found, which is a lower bound. With `via` relays every path shares them, so
/// at most one disjoint path exists; the k shortest paths decide that case.
fn disjoint_candidates(
    topo: &Topology,
    intent: &CheckedIntent,
    options: &PathOptions,
    sig: &Signature,
    g: &AllowedGraph,
    search: &Search,
    mut pool: Vec<Candidate>,
) -> Result<Vec<Candidate>, Blocked> {
    let wanted = intent.constraints.disjoint_paths;
    let want = wanted as usize;
    let (src, dst) = (search.stops[0], search.stops[search.stops.len() - 1]);
    let via_relays = search.stops[1..search.stops.len() - 1]
        .iter()
        .any(|&v| v != src && v != dst);
    if !via_relays {
        let kind = sig.kind();
        let to_candidates = |paths: Vec<FlowPath>| -> (Vec<Candidate>, bool) {
            let mut all = true;
            let mut ok = Vec::new();
            for p in paths {
                let cand = evaluate(topo, intent, p.nodes, p.links, p.cost, options);
                if admissible(topo, intent, &cand).is_ok() {
                    ok.push(cand);
                } else {
                    all = false;
                }
            }
            (ok, all)
        };
        let flow = disjoint::disjoint_paths(topo, kind, g, src, dst, want, None);
        if flow.len() < want {
            return Err(Blocked::Disjoint {
                found: flow.len() as u32,
                wanted,
            });
        }
        let (cands, all) = to_candidates(flow);
        if all {
            return Ok(cands);
        }
        pool.extend(cands);
        let c = &intent.constraints;
        if c.max_hops.is_some() || intent.max_latency_s.is_some() {
            let mut keep = vec![true; g.node_count()];
            if let Some(limit) = c.max_hops {
                let (from, to) = (
                    disjoint::hops_from(g, src, dst),
                    disjoint::hops_from(g, dst, src),
                );
                for (v, k) in keep.iter_mut().enumerate() {
                    *k &= from[v].saturating_add(to[v]) <= u64::from(limit);
                }
            }
            if let Some(max_s) = intent.max_latency_s {
                let (from, to) = (
                    disjoint::latency_from(topo, g, src, dst),
                    disjoint::latency_from(topo, g, dst, src),
                );
                for (v, k) in keep.iter_mut().enumerate() {
                    *k &= from[v] + to[v] <= max_s * 1e3;
                }
            }
            let flow = disjoint::disjoint_paths(topo, kind, g, src, dst, want, Some(&keep));
            let complete = flow.len() == want;
            let (cands, all) = to_candidates(flow);
            if complete && all {
                return Ok(cands);
            }
            pool.extend(cands);
        }
        sort_dedup(&mut pool);
    }
    disjoint_set(&pool, wanted).ok_or(Blocked::Disjoint {
        found: max_disjoint(&pool),
        wanted,
    })
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
fn evaluate(
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

pub(super) fn admissible(
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

fn disjoint(a: &Candidate, b: &Candidate) -> bool {
    let inner = |c: &Candidate| c.nodes[1..c.nodes.len() - 1].to_vec();
    a.links.iter().all(|l| !b.links.contains(l)) && inner(a).iter().all(|n| !inner(b).contains(n))
}

/// The cheapest set of `n` mutually disjoint candidates, searching combinations in order.
fn disjoint_set(cands: &[Candidate], n: u32) -> Option<Vec<Candidate>> {
    fn search(cands: &[Candidate], start: usize, n: usize, chosen: &mut Vec<usize>) -> bool {
        if chosen.len() == n {
            return true;
        }
        for i in start..cands.len() {
            if chosen.iter().all(|&j| disjoint(&cands[i], &cands[j])) {
                chosen.push(i);
                if search(cands, i + 1, n, chosen) {
                    return true;
                }
                chosen.pop();
            }
        }
        false
    }
    let mut chosen = Vec::new();
    search(cands, 0, n as usize, &mut chosen)
        .then(|| chosen.iter().map(|&i| cands[i].clone()).collect())
}

/// Size of the largest disjoint set among `cands` (a set's subsets are sets, so count up).
fn max_disjoint(cands: &[Candidate]) -> u32 {
    (1..=cands.len() as u32)
        .take_while(|&n| disjoint_set(cands, n).is_some())
        .last()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Constraints, Endpoint};
    use crate::compile::yen;
    use crate::inventory::Role;
    use crate::synth::Rng;
    use crate::topology::{LinkKind, QLink, TNode};
    use strata_grammar::Span;

    /// A QKD network: `s` and `t` are endpoints, every other node a trusted relay; each link
    /// is (end, end, classical latency in ms).
    fn network(links: &[(&str, &str, f64)]) -> Topology {
        let mut names: Vec<&str> = vec!["s", "t"];
        for &(a, b, _) in links {
            for n in [a, b] {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        let nodes: Vec<TNode> = names
            .iter()
            .map(|&n| TNode {
                name: n.to_string(),
                domain: "d".into(),
                role: if n == "s" || n == "t" {
                    Role::Endpoint
                } else {
                    Role::TrustedRelay
                },
                trusted_domain: true,
                memory_qubits: None,
                coherence_time_s: None,
            })
            .collect();
        let index: BTreeMap<String, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), i))
            .collect();
        let qlinks: Vec<QLink> = links
            .iter()
            .map(|&(a, b, latency_ms)| QLink {
                name: format!("{a}-{b}"),
                kind: LinkKind::Qkd,
                ends: [index[a], index[b]],
                rate: 1e4,
                usable: 9e3,
                fidelity: 0.98,
                qber: 0.02,
                classical_path: Vec::new(),
                latency_ms,
                channel_bps: 1e5,
                span: Span::default(),
            })
            .collect();
        let mut adj_keys = vec![Vec::new(); nodes.len()];
        for (i, l) in qlinks.iter().enumerate() {
            adj_keys[l.ends[0]].push((l.ends[1], i));
            adj_keys[l.ends[1]].push((l.ends[0], i));
        }
        let adj_pairs = vec![Vec::new(); nodes.len()];
        Topology {
            network: "test".into(),
            nodes,
            index,
            qlinks,
            clinks: Vec::new(),
            adj_keys,
            adj_pairs,
        }
    }

    fn keys(from: &str, to: &str, disjoint: u32) -> CheckedIntent {
        let end = |n: &str| Endpoint {
            node: n.into(),
            application: None,
            urn: None,
            span: Span::default(),
        };
        CheckedIntent {
            name: "i".into(),
            span: Span::default(),
            name_span: Span::default(),
            service: Service::Keys { size_bits: 256 },
            endpoints: [end(from), end(to)],
            min_rate: 1.0,
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
                disjoint_paths: disjoint,
                ..Constraints::default()
            },
            policies: Vec::new(),
        }
    }

    fn names(topo: &Topology, c: &Candidate) -> String {
        c.nodes
            .iter()
            .map(|&n| topo.nodes[n].name.as_str())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// The shortest path s-a-b-t takes a relay from each of the only two disjoint paths
    /// (s-a-d1-d2-d3-t and s-c1-c2-c3-b-t), and eight detours s-xi-a-b-t crowd every other
    /// short path through a and b.
    fn trap(with_second_route: bool) -> Topology {
        let mut links = vec![("s", "a", 1.0), ("a", "b", 1.0), ("b", "t", 1.0)];
        for x in ["x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8"] {
            links.push(("s", x, 1.0));
            links.push((x, "a", 1.0));
        }
        links.extend([
            ("a", "d1", 1.0),
            ("d1", "d2", 1.0),
            ("d2", "d3", 1.0),
            ("d3", "t", 1.0),
        ]);
        if with_second_route {
            links.extend([
                ("s", "c1", 1.0),
                ("c1", "c2", 1.0),
                ("c2", "c3", 1.0),
                ("c3", "b", 1.0),
            ]);
        }
        network(&links)
    }

    #[test]
    fn disjoint_paths_are_found_when_the_shortest_path_blocks_them() {
        let topo = trap(true);
        let intent = keys("s", "t", 2);
        // The k shortest paths the intent's k (3 × 2) gives all share relays a and b: picking
        // a disjoint pair among them finds one path only.
        let g = AllowedGraph::new(&topo, &Signature::of(&intent), Links::Usable);
        let (s, t) = (topo.index["s"], topo.index["t"]);
        let shortest = yen::k_shortest(&g, s, t, 6, &g.distances_to(t), &mut Scratch::default());
        assert_eq!(shortest.len(), 6);
        assert!(
            shortest
                .iter()
                .all(|(p, _)| p.contains(&topo.index["a"]) && p.contains(&topo.index["b"]))
        );

        let found =
            candidates(&topo, &intent, &PathOptions::default()).expect("two disjoint paths exist");
        let got: Vec<String> = found.iter().map(|c| names(&topo, c)).collect();
        assert_eq!(got, ["s-a-d1-d2-d3-t", "s-c1-c2-c3-b-t"]);
        assert!(disjoint(&found[0], &found[1]));
        for c in &found {
            assert_eq!(c.links.len(), c.nodes.len() - 1);
            for (w, &l) in c.nodes.windows(2).zip(&c.links) {
                let ends = topo.qlinks[l].ends;
                assert!(ends == [w[0], w[1]] || ends == [w[1], w[0]]);
            }
        }
    }

    #[test]
    fn a_single_route_is_rejected_with_the_true_maximum() {
        let topo = trap(false);
        let got = candidates(&topo, &keys("s", "t", 2), &PathOptions::default());
        assert_eq!(
            got,
            Err(Blocked::Disjoint {
                found: 1,
                wanted: 2
            })
        );
        // Three disjoint paths are wanted where two exist: the flow reports two.
        let got = candidates(&trap(true), &keys("s", "t", 3), &PathOptions::default());
        assert_eq!(
            got,
            Err(Blocked::Disjoint {
                found: 2,
                wanted: 3
            })
        );
    }

    #[test]
    fn disjoint_paths_keep_per_path_bounds() {
        // Fewest hops overall: s-a-t (slow) with s-b-t; within 50 ms, s-b-t with s-c1-c2-t.
        let topo = network(&[
            ("s", "a", 100.0),
            ("a", "t", 100.0),
            ("s", "b", 1.0),
            ("b", "t", 1.0),
            ("s", "c1", 1.0),
            ("c1", "c2", 1.0),
            ("c2", "t", 1.0),
        ]);
        let mut intent = keys("s", "t", 2);
        let found = candidates(&topo, &intent, &PathOptions::default()).unwrap();
        assert_eq!(
            found.iter().map(|c| names(&topo, c)).collect::<Vec<_>>(),
            ["s-b-t", "s-a-t"]
        );
        intent.max_latency_s = Some(0.05);
        let found = candidates(&topo, &intent, &PathOptions::default()).unwrap();
        assert_eq!(
            found.iter().map(|c| names(&topo, c)).collect::<Vec<_>>(),
            ["s-b-t", "s-c1-c2-t"]
        );
        // Within 2 hops only one path is left.
        intent.max_latency_s = None;
        intent.constraints.max_hops = Some(2);
        intent.constraints.avoid_nodes.insert("a".into());
        assert_eq!(
            candidates(&topo, &intent, &PathOptions::default()),
            Err(Blocked::Disjoint {
                found: 1,
                wanted: 2
            })
        );
    }

    /// Every simple path s → t by brute force, as (cost, nodes), cheapest first.
    fn all_paths(g: &AllowedGraph, s: usize, t: usize) -> Vec<(u64, Vec<usize>)> {
        fn walk(
            g: &AllowedGraph,
            t: usize,
            path: &mut Vec<usize>,
            cost: u64,
            out: &mut Vec<(u64, Vec<usize>)>,
        ) {
            let u = *path.last().unwrap();
            if u == t {
                out.push((cost, path.clone()));
                return;
            }
            for (v, _, c) in g.arcs(u) {
                if !path.contains(&v) && g.enterable(v, t) {
                    path.push(v);
                    walk(g, t, path, cost + c, out);
                    path.pop();
                }
            }
        }
        let mut out = Vec::new();
        walk(g, t, &mut vec![s], 0, &mut out);
        out.sort();
        out
    }

    /// Random small networks: s, t and seven relays, each pair linked with probability ½,
    /// latencies from a few values so that equal costs occur.
    fn random_network(rng: &mut Rng) -> Topology {
        let names = ["s", "t", "r1", "r2", "r3", "r4", "r5", "r6", "r7"];
        let mut links = Vec::new();
        for i in 0..names.len() {
            for j in i + 1..names.len() {
                if rng.chance(0.45) {
                    links.push((names[i], names[j], [1.0, 2.0, 3.0][rng.below(3)]));
                }
            }
        }
        network(&links)
    }

    #[test]
    fn k_shortest_paths_match_brute_force() {
        let mut rng = Rng::new(7);
        for _ in 0..200 {
            let topo = random_network(&mut rng);
            let intent = keys("s", "t", 1);
            let g = AllowedGraph::new(&topo, &Signature::of(&intent), Links::Usable);
            let (s, t) = (topo.index["s"], topo.index["t"]);
            let all = all_paths(&g, s, t);
            for k in [1, 3, 7] {
                let got = yen::k_shortest(&g, s, t, k, &g.distances_to(t), &mut Scratch::default());
                let costs: Vec<u64> = got.iter().map(|p| p.1).collect();
                let want: Vec<u64> = all.iter().take(k).map(|p| p.0).collect();
                assert_eq!(costs, want, "k = {k}");
                for (p, c) in &got {
                    assert!(
                        all.contains(&(*c, p.clone())),
                        "{p:?} is a simple allowed path of cost {c}"
                    );
                }
                let mut distinct = got.clone();
                distinct.dedup();
                assert_eq!(distinct.len(), got.len());
            }
        }
    }

    #[test]
    fn disjoint_flow_matches_brute_force() {
        let mut rng = Rng::new(11);
        for _ in 0..200 {
            let topo = random_network(&mut rng);
            let intent = keys("s", "t", 2);
            let g = AllowedGraph::new(&topo, &Signature::of(&intent), Links::Usable);
            let (s, t) = (topo.index["s"], topo.index["t"]);
            let all: Vec<Candidate> = all_paths(&g, s, t)
                .into_iter()
                .map(|(cost, nodes)| {
                    let links = nodes
                        .windows(2)
                        .map(|w| g.link_between(w[0], w[1]).unwrap())
                        .collect();
                    evaluate(&topo, &intent, nodes, links, cost, &PathOptions::default())
                })
                .collect();
            let mut best: Option<u64> = None;
            for i in 0..all.len() {
                for j in i + 1..all.len() {
                    if disjoint(&all[i], &all[j]) {
                        let c = all[i].cost + all[j].cost;
                        best = Some(best.map_or(c, |b| b.min(c)));
                    }
                }
            }
            let flow = disjoint::disjoint_paths(&topo, LinkKind::Qkd, &g, s, t, 2, None);
            let expected_count = if best.is_some() {
                2
            } else {
                max_disjoint(&all) as usize
            };
            assert_eq!(flow.len(), expected_count);
            if let Some(best) = best {
                assert_eq!(flow.iter().map(|p| p.cost).sum::<u64>(), best);
                let c: Vec<Candidate> = flow
                    .into_iter()
                    .map(|p| {
                        evaluate(
                            &topo,
                            &intent,
                            p.nodes,
                            p.links,
                            p.cost,
                            &PathOptions::default(),
                        )
                    })
                    .collect();
                assert!(disjoint(&c[0], &c[1]));
                assert!(
                    c.iter()
                        .all(|c| all.iter().any(|a| a.nodes == c.nodes && a.cost == c.cost))
                );
            }
        }
    }

    #[test]
    fn batch_and_single_searches_agree() {
        let mut rng = Rng::new(3);
        let topo = random_network(&mut rng);
        let mut intents = Vec::new();
        for (a, b) in [
            ("s", "t"),
            ("t", "s"),
            ("s", "r3"),
            ("r1", "r5"),
            ("s", "t"),
        ] {
            for d in [1, 2] {
                intents.push(keys(a, b, d));
            }
        }
        intents[1].constraints.via_nodes = vec!["r2".into()];
        intents[3].constraints.avoid_nodes.insert("r4".into());
        intents[4].constraints.max_hops = Some(2);
        let options = PathOptions::default();
        let single: Vec<_> = intents
            .iter()
            .map(|i| candidates(&topo, i, &options))
            .collect();
        assert_eq!(candidates_all(&topo, &intents, &options), single);
        for tables in [1, 2, 3] {
            assert_eq!(
                candidates_in_chunks(&topo, &intents, &options, tables),
                single
            );
        }
    }
}
