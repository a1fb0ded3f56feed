//! The `disjoint paths N` set of an intent: the least-cost link- and relay-disjoint paths
//! from a min-cost flow ([`crate::compile::disjoint`]), pruned and searched again when a
//! path of the flow breaks a per-path bound, and, as the last resort, the cheapest disjoint
//! combination of every admissible path seen.

use super::blocked::Blocked;
use super::candidate::{Candidate, PathOptions, admissible, evaluate, sort_dedup};
use crate::check::CheckedIntent;
use crate::compile::allowed::{AllowedGraph, Signature};
use crate::compile::disjoint::{self, FlowPath};
use crate::topology::Topology;

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
/// at most one disjoint path exists; the k shortest paths decide that case. `stops` are the
/// intent's source, `via` nodes and destination.
pub(super) fn disjoint_candidates(
    topo: &Topology,
    intent: &CheckedIntent,
    options: &PathOptions,
    sig: &Signature,
    g: &AllowedGraph,
    stops: &[usize],
    mut pool: Vec<Candidate>,
) -> Result<Vec<Candidate>, Blocked> {
    let wanted = intent.constraints.disjoint_paths;
    let want = wanted as usize;
    let (src, dst) = (stops[0], stops[stops.len() - 1]);
    let via_relays = stops[1..stops.len() - 1]
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

pub(super) fn disjoint(a: &Candidate, b: &Candidate) -> bool {
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
    use crate::compile::allowed::{Links, Signature};
    use crate::compile::paths::PathOptions;
    use crate::compile::paths::testnet::{all_paths, keys, random_network};
    use crate::synth::Rng;
    use crate::topology::LinkKind;

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
}
