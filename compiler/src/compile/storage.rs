//! Purified pair paths after allocation. The rate the optimiser gives a path sets how fast
//! its raw pairs arrive, and so how long they wait in the end nodes' memories for the pairs
//! they are purified with ([`crate::physics::purify_stored`]). A path given less than its
//! least rate that keeps the intent's fidelity bound ([`Candidate::min_rate`]) is taken out
//! and the optimiser runs again without it, until every path that carries pairs keeps its
//! bound; then every used path's fidelity is the one at its allocated rate.
//!
//! A path taken out is not offered again in that compile, so the loop ends. An intent with
//! `disjoint paths N` loses its whole set (its paths protect each other); one that loses
//! its last path is rejected with the storage that decided it. Pinned intents keep their
//! paths and rates.

use super::optimise::{Allocation, Demand, Fixed};
use super::paths::{self, Blocked, Candidate};
use crate::physics;
use crate::topology::Topology;

/// Share of its least rate a path may fall short by (solver round-off).
const TOLERANCE: f64 = 1e-9;

/// (intent, path) of every unpinned path given a rate below its least rate.
pub fn too_slow(demands: &[Demand], alloc: &Allocation, fixed: &Fixed) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (i, (d, rates)) in demands.iter().zip(&alloc.path_rates).enumerate() {
        if fixed.contains_key(&i) {
            continue;
        }
        for (p, &r) in rates.iter().enumerate() {
            if r > 0.0
                && d.paths
                    .get(p)
                    .is_some_and(|c| r < c.min_rate * (1.0 - TOLERANCE))
            {
                out.push((i, p));
            }
        }
    }
    out
}

/// Takes the `slow` paths out of their intents (a disjoint set goes whole); an intent left
/// without paths is blocked by the storage at the rate it was given.
pub fn drop_slow(
    topo: &Topology,
    demands: &mut [Demand],
    alloc: &Allocation,
    blocked: &mut [Option<Blocked>],
    slow: &[(usize, usize)],
) {
    for &(i, p) in slow.iter().rev() {
        let d = &mut demands[i];
        if p >= d.paths.len() {
            continue;
        }
        let gone = at_rate(topo, &d.paths[p], alloc.path_rates[i][p]);
        d.dropped.push(d.paths[p].links.clone());
        if d.intent.constraints.disjoint_paths > 1 {
            d.paths.clear();
            d.candidates = 0;
        } else {
            d.paths.remove(p);
            if p < d.candidates {
                d.candidates -= 1;
            }
        }
        if d.paths.is_empty() {
            let names = gone
                .nodes
                .iter()
                .map(|&n| topo.nodes[n].name.clone())
                .collect();
            let target = d.intent.min_fidelity.unwrap_or(0.0);
            blocked[i] = Some(paths::fidelity_shortfall(topo, &gone, target, names));
        }
    }
}

/// Every path's purification and fidelity at the rate it was given (unused paths keep
/// those they were evaluated with).
pub fn settle(topo: &Topology, demands: &mut [Demand], alloc: &Allocation) {
    for (d, rates) in demands.iter_mut().zip(&alloc.path_rates) {
        for (c, &r) in d.paths.iter_mut().zip(rates) {
            if r > 0.0 {
                *c = at_rate(topo, c, r);
            }
        }
    }
}

/// A pair path with its purification evaluated at `rate` delivered pairs/s.
fn at_rate(topo: &Topology, c: &Candidate, rate: f64) -> Candidate {
    let mut c = c.clone();
    if c.purification_rounds > 0 {
        c.storage = physics::purify_stored(
            paths::raw_pair_fidelity(topo, &c),
            c.purification_rounds,
            rate,
            c.end_coherence_s,
        );
        c.fidelity = c.storage.fidelity;
    }
    c
}
