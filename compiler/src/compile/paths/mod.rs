//! Candidate paths per intent: the k shortest simple paths over the links and nodes the
//! intent's constraints and policies allow, evaluated for hops, classical latency and
//! fidelity (with purification where it helps), plus a disjoint set when the intent asks
//! for one. When nothing survives, the reason says which requirement removed the last path.
//!
//! Purification counts the storage of raw pairs waiting for their partners
//! ([`purify_stored`](crate::physics::purify_stored)); that wait depends on the rate a path
//! is given, which only the optimiser decides. A path is admitted at the most it can carry for the intent (the
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
//!
//! This file runs the searches; `candidate.rs` evaluates and admits one path, `blocked.rs`
//! says why an intent has none, and `disjoint_set.rs` picks the `disjoint paths N` set.

mod blocked;
mod candidate;
mod disjoint_set;
#[cfg(test)]
mod testnet;

pub use blocked::Blocked;
pub(in crate::compile) use candidate::admissible;
pub use candidate::{
    Candidate, MAX_PURIFICATION_ROUNDS, PathOptions, end_coherence, evaluate_path,
    fidelity_shortfall, raw_pair_fidelity,
};

use super::allowed::{AllowedGraph, Links, Signature};
use super::yen::{NodePath, Scratch, via_paths};
use crate::check::CheckedIntent;
use crate::topology::Topology;
use candidate::{evaluate, sort_dedup};
use disjoint_set::disjoint_candidates;
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

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
        return disjoint_candidates(topo, intent, options, sig, g, &search.stops, out);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::paths::disjoint_set::disjoint;
    use crate::compile::paths::testnet::{all_paths, keys, names, network, random_network};
    use crate::compile::yen;
    use crate::synth::Rng;

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
