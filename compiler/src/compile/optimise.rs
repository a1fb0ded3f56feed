//! Admission and rate split as linear programs (good_lp; the solver is chosen in one place,
//! [`solve`]).
//!
//! Model: one variable per candidate path (service units per second on it) and one per
//! intent (its admitted rate, at most its requested rate). An intent's admitted rate is
//! covered by its paths — with `disjoint paths N`, every one of its N disjoint paths carries
//! at least 1/(N − 1) of it, so the paths left after losing any one still carry it all. Every resource (QKD key rate, elementary pair rate, classical bandwidth, memory
//! qubits) bounds the sum of what its paths consume.
//!
//! Priorities: intents are solved class by class, highest priority first; each class gets
//! what earlier classes left (successive LPs), so a lower priority never displaces a higher
//! one. Objective per class: maximise the total fraction of requested rate admitted,
//! Σ admittedᵢ / requestedᵢ, minus a tiny cost per reserved hop so that no path reserves
//! more than its intent uses. The greedy baseline (priority order, shortest allowed path,
//! first fit) is computed too, and kept instead whenever it scores better class by class:
//! the repair step that guarantees strata never admits less than greedy.

use super::paths::Candidate;
use super::resources::{Capacities, Resource, usage};
use crate::check::CheckedIntent;
use crate::topology::Topology;
use good_lp::{Expression, ProblemVariables, Solution, SolverModel, Variable, variable};
use std::collections::{BTreeMap, BTreeSet};

/// Relative weight of the path-length tie-break in the objective.
const HOP_COST: f64 = 1e-6;
/// Rates below this many service units per second are treated as zero.
const EPS: f64 = 1e-9;
/// Largest LP (intents of the class plus higher-class intents free to reroute) for the
/// lexicographic step; above it a class is solved over what the higher classes hold, which
/// keeps 10,000-intent compiles within seconds on microlp.
pub const LEXICOGRAPHIC_LIMIT: usize = 2_000;
/// A path rate (or an admitted rate) below this fraction of the intent's requested rate is
/// solver round-off, not an allocation: it is 0 instead, so that no `0.000000195 of 10/s`
/// reaches a summary.
pub const RATE_FLOOR: f64 = 1e-6;

/// What each priority class maximises.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Objective {
    /// First the smallest admitted fraction of requested rate in the class (max-min), then,
    /// with every intent kept at least at that fraction, the total. Two LPs per class.
    Fair,
    /// The total admitted fraction alone: which intent starves does not matter.
    #[default]
    Throughput,
}

/// One intent as the optimiser sees it.
pub struct Demand<'a> {
    pub intent: &'a CheckedIntent,
    pub paths: Vec<Candidate>,
    /// Requested service units per second.
    pub rate: f64,
}

/// Service units per second per demand and per path.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    pub admitted: Vec<f64>,
    pub path_rates: Vec<Vec<f64>>,
}

impl Allocation {
    fn empty(demands: &[Demand]) -> Allocation {
        Allocation {
            admitted: vec![0.0; demands.len()],
            path_rates: demands.iter().map(|d| vec![0.0; d.paths.len()]).collect(),
        }
    }

    /// Σ admitted / requested per priority class, highest priority first.
    pub fn scores(&self, demands: &[Demand]) -> Vec<f64> {
        let mut by_class: BTreeMap<std::cmp::Reverse<i64>, f64> = BTreeMap::new();
        for (d, a) in demands.iter().zip(&self.admitted) {
            *by_class
                .entry(std::cmp::Reverse(d.intent.priority))
                .or_default() += a / d.rate;
        }
        by_class.into_values().collect()
    }

    /// Per priority class, highest first: its smallest admitted fraction, then its total.
    pub fn fair_scores(&self, demands: &[Demand]) -> Vec<f64> {
        let mut by_class: BTreeMap<std::cmp::Reverse<i64>, (f64, f64)> = BTreeMap::new();
        for (d, a) in demands.iter().zip(&self.admitted) {
            if d.paths.is_empty() {
                continue;
            }
            let e = by_class
                .entry(std::cmp::Reverse(d.intent.priority))
                .or_insert((f64::INFINITY, 0.0));
            e.0 = e.0.min(a / d.rate);
            e.1 += a / d.rate;
        }
        by_class.into_values().flat_map(|(m, t)| [m, t]).collect()
    }

    /// Total fraction of requested rate admitted over all intents.
    pub fn admitted_demand(&self, demands: &[Demand]) -> f64 {
        demands
            .iter()
            .zip(&self.admitted)
            .map(|(d, a)| a / d.rate)
            .sum()
    }
}

/// Admitted rate implied by path rates: the sum, or with N disjoint paths what every path
/// carries times N − 1 (each path carries at least a share 1/(N − 1), so losing any one
/// still leaves the full rate).
fn covered(d: &Demand, rates: &[f64]) -> f64 {
    let n = d.intent.constraints.disjoint_paths;
    if n > 1 {
        rates
            .iter()
            .map(|r| r * f64::from(n - 1))
            .fold(f64::INFINITY, f64::min)
    } else {
        rates.iter().sum()
    }
}

/// Path rates fixed in advance, per demand index: intents a re-plan leaves where they are.
pub type Fixed = BTreeMap<usize, Vec<f64>>;

/// Optimises every demand; returns the better of the LP and the greedy baseline.
pub fn optimise(topo: &Topology, demands: &[Demand]) -> Allocation {
    optimise_with(topo, demands, &Fixed::new(), Objective::default())
}

/// Like [`optimise`], with some demands' path rates reserved first and left unchanged.
pub fn optimise_with(
    topo: &Topology,
    demands: &[Demand],
    fixed: &Fixed,
    objective: Objective,
) -> Allocation {
    let lp = successive_lp_with(topo, demands, fixed, objective);
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
    if better(&scores(&greedy), &scores(&lp)) {
        greedy
    } else {
        lp
    }
}

/// Reserves the fixed demands first, exactly as given: they hold their capacity already,
/// and a protected intent keeps the rate of a path that is down so that the path carries
/// again the moment the failed element returns.
fn start(topo: &Topology, demands: &[Demand], fixed: &Fixed) -> (Capacities, Allocation) {
    let mut caps = Capacities::new(topo);
    let shape = caps.clone();
    let mut alloc = Allocation::empty(demands);
    for (&i, rates) in fixed {
        let Some(d) = demands.get(i).filter(|d| d.paths.len() == rates.len()) else {
            continue;
        };
        let rates: Vec<f64> = rates
            .iter()
            .map(|&r| if r > EPS { r } else { 0.0 })
            .collect();
        for (p, r) in rates.iter().enumerate() {
            for (res, coef) in usage(topo, &shape, d.intent.service, &d.paths[p]) {
                caps.cap[res.0] = (caps.cap[res.0] - r * coef).max(0.0);
            }
        }
        alloc.admitted[i] = covered(d, &rates).min(d.rate);
        alloc.path_rates[i] = rates;
    }
    (caps, alloc)
}

/// Priority classes as successive LPs over the capacity left by earlier classes.
pub fn successive_lp(topo: &Topology, demands: &[Demand]) -> Allocation {
    successive_lp_with(topo, demands, &Fixed::new(), Objective::default())
}

fn successive_lp_with(
    topo: &Topology,
    demands: &[Demand],
    fixed: &Fixed,
    objective: Objective,
) -> Allocation {
    let (mut caps, mut alloc) = start(topo, demands, fixed);
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
        let alone = solve(topo, &caps, demands, members, objective);
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
                        .into_iter()
                        .map(|(r, _)| r),
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
        match solve_levels(topo, &open, demands, members, &movable, &levels, objective) {
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
    alloc
}

/// Gives back what a demand's path rates reserve.
fn release(topo: &Topology, caps: &mut Capacities, d: &Demand, rates: &[f64]) {
    let shape = caps.clone();
    for (p, r) in rates.iter().enumerate() {
        for (res, coef) in usage(topo, &shape, d.intent.service, &d.paths[p]) {
            caps.cap[res.0] += r * coef;
        }
    }
}

/// Upper bound on the admitted demand: one LP over all intents, ignoring priorities.
pub fn lp_bound(topo: &Topology, demands: &[Demand]) -> f64 {
    let caps = Capacities::new(topo);
    let members: Vec<usize> = (0..demands.len())
        .filter(|&i| !demands[i].paths.is_empty())
        .collect();
    let rates = solve(topo, &caps, demands, &members, Objective::Throughput);
    members
        .iter()
        .zip(rates)
        .map(|(&i, r)| covered(&demands[i], &r).min(demands[i].rate) / demands[i].rate)
        .sum()
}

/// Reserves a demand's path rates, keeping them within the remaining capacity.
fn commit(
    topo: &Topology,
    caps: &mut Capacities,
    d: &Demand,
    rates: &[f64],
    alloc: &mut Allocation,
    i: usize,
) {
    let floor = (RATE_FLOOR * d.rate).max(EPS);
    let mut rates: Vec<f64> = rates
        .iter()
        .map(|r| if *r > floor { *r } else { 0.0 })
        .collect();
    // Repair solver round-off: scale a path down until every resource it uses fits.
    for (p, r) in rates.iter_mut().enumerate() {
        for (res, coef) in usage(topo, caps, d.intent.service, &d.paths[p]) {
            let need = *r * coef;
            if need > caps.cap[res.0] {
                *r = (caps.cap[res.0] / coef).max(0.0);
            }
        }
        for (res, coef) in usage(topo, caps, d.intent.service, &d.paths[p]) {
            caps.cap[res.0] = (caps.cap[res.0] - *r * coef).max(0.0);
        }
    }
    let admitted = covered(d, &rates).min(d.rate);
    if admitted <= floor {
        // Nothing useful: release what was reserved.
        for (p, r) in rates.iter().enumerate() {
            for (res, coef) in usage(topo, caps, d.intent.service, &d.paths[p]) {
                caps.cap[res.0] += r * coef;
            }
        }
        return;
    }
    alloc.admitted[i] = admitted;
    alloc.path_rates[i] = rates;
}

/// The LP of one priority class. Returns the path rates per member.
fn solve(
    topo: &Topology,
    caps: &Capacities,
    demands: &[Demand],
    members: &[usize],
    objective: Objective,
) -> Vec<Vec<f64>> {
    match solve_levels(topo, caps, demands, members, &[], &[], objective) {
        Some((rates, _)) => rates,
        // An LP with only zero-bounded variables is always feasible; a solver failure leaves
        // this class to the greedy baseline.
        None => members
            .iter()
            .map(|&i| vec![0.0; demands[i].paths.len()])
            .collect(),
    }
}

/// The LP of one priority class, with the intents in `held` (of higher classes) free to
/// move but each kept at its `levels` rate. Maximises the class's admitted fraction;
/// returns the path rates of the members and of the held intents, or `None` when the
/// solver fails.
#[allow(clippy::too_many_arguments)]
fn solve_levels(
    topo: &Topology,
    caps: &Capacities,
    demands: &[Demand],
    members: &[usize],
    held: &[usize],
    levels: &[f64],
    objective: Objective,
) -> Option<(PathRates, PathRates)> {
    let stage = |s| lp_once(topo, caps, demands, members, held, levels, s);
    if objective == Objective::Throughput || members.len() < 2 {
        return stage(Stage::Throughput { floor: 0.0 }).map(|(r, m, _)| (r, m));
    }
    // Max-min first: the largest fraction every member can have at once …
    let (_, _, fraction) = stage(Stage::MaxMin)?;
    // … then the most in total with every member kept at that fraction (less round-off).
    stage(Stage::Throughput {
        floor: (fraction * (1.0 - 1e-7) - 1e-9).max(0.0),
    })
    .map(|(r, m, _)| (r, m))
}

/// Rates per path, per intent.
type PathRates = Vec<Vec<f64>>;

/// One LP of a class (see [`solve_levels`]).
#[derive(Debug, Clone, Copy)]
enum Stage {
    /// Maximise the smallest admitted fraction of the members.
    MaxMin,
    /// Maximise the members' total admitted fraction, each at least `floor` of its rate.
    Throughput { floor: f64 },
}

/// Builds and solves one LP; the path rates of the members and of the held intents, and
/// the smallest fraction (max-min stage).
fn lp_once(
    topo: &Topology,
    caps: &Capacities,
    demands: &[Demand],
    members: &[usize],
    held: &[usize],
    levels: &[f64],
    stage: Stage,
) -> Option<(PathRates, PathRates, f64)> {
    let mut vars = ProblemVariables::new();
    let fraction = match stage {
        Stage::MaxMin => Some(vars.add(variable().min(0.0).max(1.0))),
        Stage::Throughput { .. } => None,
    };
    let mut objective = Expression::from(0.0);
    let mut x: Vec<Vec<Variable>> = Vec::new();
    let mut rows: BTreeMap<Resource, Expression> = BTreeMap::new();
    let mut coverage = Vec::new();
    let all = members
        .iter()
        .map(|&i| (i, None))
        .chain(held.iter().zip(levels).map(|(&j, &l)| (j, Some(l))));
    for (i, level) in all {
        let d = &demands[i];
        let a = match level {
            // What it had reserved was given back, so its level is always feasible.
            Some(l) => vars.add(variable().min(l.min(d.rate)).max(d.rate)),
            None => match stage {
                Stage::Throughput { floor } => {
                    let a = vars.add(variable().min(floor * d.rate).max(d.rate));
                    objective += a * (1.0 / d.rate);
                    a
                }
                Stage::MaxMin => {
                    let a = vars.add(variable().min(0.0).max(d.rate));
                    if let Some(t) = fraction {
                        coverage.push(Expression::from(a).geq(t * d.rate));
                    }
                    a
                }
            },
        };
        let xs: Vec<Variable> = d
            .paths
            .iter()
            .map(|_| vars.add(variable().min(0.0)))
            .collect();
        for (p, &xp) in xs.iter().enumerate() {
            objective -= xp * (HOP_COST * d.paths[p].links.len() as f64 / d.rate);
            for (res, coef) in usage(topo, caps, d.intent.service, &d.paths[p]) {
                *rows.entry(res).or_insert_with(|| Expression::from(0.0)) += xp * coef;
            }
        }
        let n = d.intent.constraints.disjoint_paths;
        if n > 1 {
            for &xp in &xs {
                coverage.push(Expression::from(a).leq(xp * f64::from(n - 1)));
            }
        } else {
            let all: Expression = xs.iter().map(|&v| Expression::from(v)).sum();
            coverage.push(Expression::from(a).leq(all));
        }
        x.push(xs);
    }
    if let Some(t) = fraction {
        objective += t;
    }
    let mut model = vars.maximise(objective).using(good_lp::microlp);
    for c in coverage {
        model.add_constraint(c);
    }
    for (res, expr) in rows {
        // What the held intents had reserved was given back, so their levels fit.
        model.add_constraint(expr.leq(caps.cap[res.0]));
    }
    let sol = model.solve().ok()?;
    let mut rates: Vec<Vec<f64>> = x
        .iter()
        .map(|xs| xs.iter().map(|&v| sol.value(v).max(0.0)).collect())
        .collect();
    let moved = rates.split_off(members.len());
    Some((rates, moved, fraction.map_or(0.0, |t| sol.value(t))))
}

/// Baseline: intents in priority order (then source order), each on its shortest allowed
/// path (all of its disjoint paths with `disjoint paths N`), first fit.
pub fn greedy(topo: &Topology, demands: &[Demand]) -> Allocation {
    greedy_with(topo, demands, &Fixed::new())
}

fn greedy_with(topo: &Topology, demands: &[Demand], fixed: &Fixed) -> Allocation {
    let (mut caps, mut alloc) = start(topo, demands, fixed);
    let mut order: Vec<usize> = (0..demands.len())
        .filter(|&i| !demands[i].paths.is_empty() && !fixed.contains_key(&i))
        .collect();
    order.sort_by_key(|&i| std::cmp::Reverse(demands[i].intent.priority));
    for i in order {
        let d = &demands[i];
        let n = d.intent.constraints.disjoint_paths.max(1) as usize;
        let used: Vec<usize> = (0..n.min(d.paths.len())).collect();
        // With N disjoint paths each carries rate / (N − 1) so any N − 1 of them cover it.
        let per_path_target = if n > 1 {
            d.rate / (n - 1) as f64
        } else {
            d.rate
        };
        let mut fit = per_path_target;
        for &p in &used {
            for (res, coef) in usage(topo, &caps, d.intent.service, &d.paths[p]) {
                fit = fit.min(caps.cap[res.0] / coef);
            }
        }
        let mut rates = vec![0.0; d.paths.len()];
        for &p in &used {
            rates[p] = fit.max(0.0);
        }
        commit(topo, &mut caps, d, &rates, &mut alloc, i);
    }
    alloc
}
