//! Admission and rate split as linear programs (good_lp; the solvers are chosen in one place,
//! `class_lp/model.rs`).
//!
//! Model: one variable per candidate path (service units per second on it) and one per
//! intent (its admitted rate, at most its requested rate). An intent's admitted rate is
//! covered by its paths — with `disjoint paths N`, every one of its N disjoint paths carries
//! at least 1/(N − 1) of it, so the paths left after losing any one still carry it all.
//! Every resource (QKD key rate, elementary pair rate, classical bandwidth, memory qubits)
//! bounds the sum of what its paths consume.
//!
//! Priorities: intents are solved class by class, highest priority first; each class gets
//! what earlier classes left (successive LPs), so a lower priority never displaces a higher
//! one. Objective per class: maximise the total fraction of requested rate admitted,
//! Σ admittedᵢ / requestedᵢ, minus a tiny cost per reserved hop so that no path reserves
//! more than its intent uses. The greedy baseline (priority order, shortest allowed path,
//! first fit) is computed too, and kept instead whenever it scores better class by class:
//! the repair step that guarantees strata never admits less than greedy.
//!
//! This file runs the classes in order; `demand.rs` is what it works on, `allocation.rs`
//! what it produces and how that is reserved, `class_lp/` one class LP, reduced, and its solvers,
//! `pricing.rs` column generation, `levels.rs` a class's throughput or water-filling LPs,
//! and `greedy.rs` the baseline.

mod allocation;
mod class_lp;
mod demand;
mod greedy;
mod levels;
mod pricing;

pub use crate::check::Objective;
pub use allocation::{Allocation, RATE_FLOOR};
pub use demand::{Demand, Fixed};
pub use greedy::greedy;
pub use levels::WATER_ROUNDS;
pub use pricing::{COLUMN_BUDGET, COLUMN_LIMIT, COLUMN_ROUNDS, ColumnReport};

use super::paths::PathOptions;
use super::resources::{Capacities, Resource, usage};
use crate::topology::Topology;
use allocation::{commit, release, start};
use class_lp::Class;
use demand::covered;
use greedy::greedy_with;
use levels::{solve, solve_levels};
use pricing::Columns;
use std::collections::{BTreeMap, BTreeSet};

/// Largest LP (intents of the class plus higher-class intents free to reroute) for the
/// lexicographic step; above it a class is solved over what the higher classes hold, which
/// keeps 10,000-intent compiles within seconds on microlp.
pub const LEXICOGRAPHIC_LIMIT: usize = 2_000;

/// Optimises every demand; returns the better of the LP and the greedy baseline.
pub fn optimise(topo: &Topology, demands: &mut [Demand]) -> Allocation {
    optimise_with(
        topo,
        demands,
        &Fixed::new(),
        Objective::default(),
        &PathOptions::default(),
    )
}

/// Like [`optimise`], with some demands' path rates reserved first and left unchanged. New
/// paths found by column generation are appended to the demands' candidates.
pub fn optimise_with(
    topo: &Topology,
    demands: &mut [Demand],
    fixed: &Fixed,
    objective: Objective,
    options: &PathOptions,
) -> Allocation {
    let mut lp = successive_lp_with(topo, demands, fixed, objective, options);
    let greedy = greedy_with(topo, demands, fixed);
    let better = |a: &[f64], b: &[f64]| {
        for (x, y) in a.iter().zip(b) {
            if (x - y).abs() > 1e-6 {
                return x > y;
            }
        }
        false
    };
    let scores = |alloc: &Allocation| match objective {
        Objective::Throughput => alloc.scores(demands),
        Objective::Fair => alloc.fair_scores(demands),
    };
    let mut chosen = if better(&scores(&greedy), &scores(&lp)) {
        Allocation {
            columns: std::mem::take(&mut lp.columns),
            ..greedy
        }
    } else {
        lp
    };
    drop_unused_columns(demands, &mut chosen, fixed);
    chosen
}

/// Generated paths that ended with no rate are dropped again (the k shortest candidates
/// stay, so explanations and protection see what they always saw).
fn drop_unused_columns(demands: &mut [Demand], alloc: &mut Allocation, fixed: &Fixed) {
    for (i, d) in demands.iter_mut().enumerate() {
        let rates = &mut alloc.path_rates[i];
        rates.resize(d.paths.len(), 0.0);
        if fixed.contains_key(&i) {
            continue;
        }
        let keep = d.candidates;
        let mut p = d.paths.len();
        while p > keep {
            p -= 1;
            if rates[p] <= 0.0 {
                d.paths.remove(p);
                rates.remove(p);
            }
        }
    }
}

/// Priority classes as successive LPs over the capacity left by earlier classes.
pub fn successive_lp(topo: &Topology, demands: &mut [Demand]) -> Allocation {
    successive_lp_with(
        topo,
        demands,
        &Fixed::new(),
        Objective::default(),
        &PathOptions::default(),
    )
}

fn successive_lp_with(
    topo: &Topology,
    demands: &mut [Demand],
    fixed: &Fixed,
    objective: Objective,
    options: &PathOptions,
) -> Allocation {
    let (mut caps, mut alloc) = start(topo, demands, fixed);
    let mut columns = Columns::new(topo, options, demands, fixed);
    let mut classes: BTreeMap<std::cmp::Reverse<i64>, Vec<usize>> = BTreeMap::new();
    for (i, d) in demands.iter().enumerate() {
        if !d.paths.is_empty() && !fixed.contains_key(&i) {
            classes
                .entry(std::cmp::Reverse(d.intent.priority))
                .or_default()
                .push(i);
        }
    }
    // Intents of the classes solved so far (highest first).
    let mut solved: Vec<usize> = Vec::new();
    for members in classes.values() {
        // First the class over what the higher classes hold. When every member fits, or
        // there is no higher class, that is the answer.
        let alone = solve(topo, &caps, demands, members, objective, &mut columns);
        let short: Vec<usize> = members
            .iter()
            .zip(&alone)
            .filter(|&(&i, r)| covered(&demands[i], r) < demands[i].rate * (1.0 - 1e-6))
            .map(|(&i, _)| i)
            .collect();
        // Otherwise higher-class intents that share a resource with a short member's
        // candidates may be rerouted, as long as each keeps the rate it was admitted
        // (lexicographic priorities: a lower class never costs a higher one, but can use
        // what a reroute of a higher one frees).
        let mut used: BTreeSet<Resource> = BTreeSet::new();
        for &i in &short {
            for p in &demands[i].paths {
                used.extend(
                    usage(topo, &caps, demands[i].intent.service, p)
                        .iter()
                        .map(|&(r, _)| r),
                );
            }
        }
        let movable: Vec<usize> = solved
            .iter()
            .copied()
            .filter(|&j| {
                alloc.admitted[j] > 0.0
                    && demands[j].paths.len() > 1
                    && demands[j].paths.iter().any(|p| {
                        usage(topo, &caps, demands[j].intent.service, p)
                            .iter()
                            .any(|(r, _)| used.contains(r))
                    })
            })
            .collect();
        if movable.is_empty() || members.len() + movable.len() > LEXICOGRAPHIC_LIMIT {
            for (&i, r) in members.iter().zip(alone) {
                commit(topo, &mut caps, &demands[i], &r, &mut alloc, i);
            }
            solved.extend(members.iter().copied());
            continue;
        }
        let mut open = caps.clone();
        for &j in &movable {
            release(topo, &mut open, &demands[j], &alloc.path_rates[j]);
        }
        let levels: Vec<f64> = movable.iter().map(|&j| alloc.admitted[j]).collect();
        let class = Class {
            members,
            held: &movable,
            levels: &levels,
        };
        match solve_levels(topo, &open, demands, &class, objective, &mut columns) {
            Some((rates, moved)) => {
                caps = open;
                for (&j, r) in movable.iter().zip(moved) {
                    alloc.admitted[j] = 0.0;
                    commit(topo, &mut caps, &demands[j], &r, &mut alloc, j);
                }
                for (&i, r) in members.iter().zip(rates) {
                    commit(topo, &mut caps, &demands[i], &r, &mut alloc, i);
                }
            }
            // The solver gave up: the class over what the others hold, as solved first.
            None => {
                for (&i, r) in members.iter().zip(alone) {
                    commit(topo, &mut caps, &demands[i], &r, &mut alloc, i);
                }
            }
        }
        solved.extend(members.iter().copied());
    }
    alloc.columns = columns.report;
    alloc
}

/// Upper bound on the admitted demand: one LP over all intents, ignoring priorities, and
/// over every allowed path of each priceable intent when the LP is within
/// [`COLUMN_LIMIT`] (over the candidates otherwise).
pub fn lp_bound(topo: &Topology, demands: &mut [Demand]) -> f64 {
    let caps = Capacities::new(topo);
    let members: Vec<usize> = (0..demands.len())
        .filter(|&i| !demands[i].paths.is_empty())
        .collect();
    let mut columns = Columns::new(topo, &PathOptions::default(), demands, &Fixed::new());
    let rates = solve(
        topo,
        &caps,
        demands,
        &members,
        Objective::Throughput,
        &mut columns,
    );
    members
        .iter()
        .zip(rates)
        .map(|(&i, r)| covered(&demands[i], &r).min(demands[i].rate) / demands[i].rate)
        .sum()
}
