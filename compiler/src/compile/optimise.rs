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

use super::columns::{Pricer, priceable};
use super::paths::{Candidate, PathOptions};
use super::resources::{Capacities, Resource, usage};
use crate::check::CheckedIntent;
use crate::config::Optimum;
use crate::topology::Topology;
use good_lp::{
    DualValues, Expression, ProblemVariables, Solution, SolutionWithDual, SolverModel, Variable,
    variable,
};
use rayon::prelude::*;
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
/// Largest class LP (intents, with the higher-class intents free to reroute) that gets new
/// columns; a larger one is solved over its candidate paths, and the summary says so.
pub const COLUMN_LIMIT: usize = 2_000;
/// Most pricing rounds per LP; the summary says when a round limit ended the search.
pub const COLUMN_ROUNDS: usize = 40;
/// Most pricing rounds in one compile, over all its LPs (classes, water-filling levels,
/// lexicographic re-solves): the work stays bounded on large networks, and the summary says
/// when the budget ran out.
pub const COLUMN_BUDGET: usize = 60;
/// Most interior-point iterations for the duals of one LP.
const DUAL_ITERATIONS: u32 = 60;
/// A new path enters the LP when its reduced cost exceeds this much per unit of requested
/// rate (the interior-point duals are accurate to about 1e-8).
const PRICE_TOLERANCE: f64 = 1e-6;

pub use crate::check::Objective;

/// One intent as the optimiser sees it.
pub struct Demand<'a> {
    pub intent: &'a CheckedIntent,
    /// Its candidate paths, then any path column generation added.
    pub paths: Vec<Candidate>,
    /// How many of `paths` are the candidates it started with.
    pub candidates: usize,
    /// Requested service units per second.
    pub rate: f64,
}

impl<'a> Demand<'a> {
    pub fn new(intent: &'a CheckedIntent, paths: Vec<Candidate>, rate: f64) -> Demand<'a> {
        Demand {
            intent,
            candidates: paths.len(),
            paths,
            rate,
        }
    }
}

/// Service units per second per demand and per path.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    pub admitted: Vec<f64>,
    pub path_rates: Vec<Vec<f64>>,
    /// What column generation did to reach this allocation.
    pub columns: ColumnReport,
}

/// What column generation did over a compile's LPs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnReport {
    /// Paths added to intents' candidates because their reduced cost was positive.
    pub added: usize,
    /// Pricing rounds over all LPs.
    pub rounds: usize,
    /// LPs whose pricing stopped at [`COLUMN_ROUNDS`] with improving paths left.
    pub round_limited: usize,
    /// LPs larger than [`COLUMN_LIMIT`], solved over their candidates only.
    pub too_large: usize,
    /// LPs whose dual solve failed, solved over the columns they had.
    pub failed: usize,
    /// The compile's pricing budget ([`COLUMN_BUDGET`]) ran out.
    pub budget_spent: bool,
    /// Intents never priced: pairs and `disjoint paths N` keep their candidate paths.
    pub candidates_only: usize,
}

impl ColumnReport {
    /// Is the allocation optimal over every allowed path of every priceable intent?
    pub fn proven(&self) -> bool {
        self.round_limited == 0 && self.too_large == 0 && self.failed == 0 && !self.budget_spent
    }

    /// The summary's account of it: columns that ended with a rate, and why the search
    /// stopped short, in the operator's terms.
    pub fn optimum(&self, demands: &[Demand]) -> Optimum {
        let mut limits = Vec::new();
        if self.too_large > 0 {
            limits.push(format!(
                "{} LP(s) over {COLUMN_LIMIT} intents solved over candidate paths only",
                self.too_large
            ));
        }
        if self.round_limited > 0 {
            limits.push(format!(
                "{} LP(s) stopped after {COLUMN_ROUNDS} pricing rounds",
                self.round_limited
            ));
        }
        if self.budget_spent {
            limits.push(format!(
                "the compile's {COLUMN_BUDGET} pricing rounds were spent; later LPs kept the paths they had"
            ));
        }
        if self.failed > 0 {
            limits.push(format!(
                "{} LP(s) could not be priced (dual solve failed)",
                self.failed
            ));
        }
        Optimum {
            proven: self.proven(),
            columns_added: demands.iter().map(|d| d.paths.len() - d.candidates).sum(),
            pricing_rounds: self.rounds,
            candidates_only: self.candidates_only,
            limit: (!limits.is_empty()).then(|| limits.join("; ")),
        }
    }
}

impl Allocation {
    fn empty(demands: &[Demand]) -> Allocation {
        Allocation {
            admitted: vec![0.0; demands.len()],
            path_rates: demands.iter().map(|d| vec![0.0; d.paths.len()]).collect(),
            columns: ColumnReport::default(),
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

/// Gives back what a demand's path rates reserve.
fn release(topo: &Topology, caps: &mut Capacities, d: &Demand, rates: &[f64]) {
    let shape = caps.clone();
    for (p, r) in rates.iter().enumerate() {
        for (res, coef) in usage(topo, &shape, d.intent.service, &d.paths[p]) {
            caps.cap[res.0] += r * coef;
        }
    }
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
    demands: &mut [Demand],
    members: &[usize],
    objective: Objective,
    columns: &mut Columns,
) -> Vec<Vec<f64>> {
    let class = Class {
        members,
        held: &[],
        levels: &[],
    };
    match solve_levels(topo, caps, demands, &class, objective, columns) {
        Some((rates, _)) => rates,
        // An LP with only zero-bounded variables is always feasible; a solver failure leaves
        // this class to the greedy baseline.
        None => members
            .iter()
            .map(|&i| vec![0.0; demands[i].paths.len()])
            .collect(),
    }
}

/// The intents of one class LP: its members, and the intents of higher classes (`held`)
/// free to move but each kept at its `levels` rate.
struct Class<'c> {
    members: &'c [usize],
    held: &'c [usize],
    levels: &'c [f64],
}

/// The LP of one priority class with its held intents. Returns the path rates of the
/// members and of the held intents, or `None` when the solver fails. Each LP first prices
/// new columns.
///
/// Throughput: one LP, the most admitted in total. Fair: water-filling — the largest
/// fraction every member can have at once; the members that cannot have more without
/// taking it from another at that fraction (those whose max-min row has a positive dual
/// in the interior-point solution, which is strictly complementary) keep it, and the rest
/// are raised again, for at most [`WATER_ROUNDS`] levels; then the most in total with every
/// member kept at its level. A class too large for the interior-point solver
/// ([`COLUMN_LIMIT`]) gets one level for all (max-min, then throughput).
fn solve_levels(
    topo: &Topology,
    caps: &Capacities,
    demands: &mut [Demand],
    class: &Class,
    objective: Objective,
    columns: &mut Columns,
) -> Option<(PathRates, PathRates)> {
    let m = class.members.len();
    let throughput = |floors: &[f64], demands: &mut [Demand], columns: &mut Columns| {
        let stage = Stage::Throughput(floors);
        columns.generate(topo, caps, demands, class, stage);
        let (mut rates, _) = ClassLp::build(topo, caps, demands, class, stage).solve()?;
        let moved = rates.split_off(m);
        Some((rates, moved))
    };
    // Members that share fairly; the others (`objective throughput`) take part in the
    // total only, from a level of 0.
    let mut levels: Vec<Option<f64>> = class
        .members
        .iter()
        .map(|&i| {
            let own = demands[i].intent.constraints.objective;
            (own.unwrap_or(objective) == Objective::Throughput).then_some(0.0)
        })
        .collect();
    if levels.iter().filter(|l| l.is_none()).count() < 2 {
        return throughput(&vec![0.0; m], demands, columns);
    }
    if m + class.held.len() > COLUMN_LIMIT {
        // One level for all, from the simplex, over the members that can have anything at
        // all (the others would hold everyone at 0).
        for (k, &i) in class.members.iter().enumerate() {
            if levels[k].is_none() && starved(topo, caps, &demands[i]) {
                levels[k] = Some(0.0);
            }
        }
        if levels.iter().all(Option::is_some) {
            return throughput(&vec![0.0; m], demands, columns);
        }
        let (_, t) = ClassLp::build(topo, caps, demands, class, Stage::MaxMin(&levels)).solve()?;
        let floors: Vec<f64> = levels.iter().map(|l| l.unwrap_or(below(t))).collect();
        return throughput(&floors, demands, columns);
    }
    for _ in 0..WATER_ROUNDS {
        let stage = Stage::MaxMin(&levels);
        columns.generate(topo, caps, demands, class, stage);
        let lp = ClassLp::build(topo, caps, demands, class, stage);
        let Some(duals) = lp.duals(caps.len()) else {
            // No duals: one level for the members still rising, from the simplex.
            columns.report.failed += 1;
            let (_, t) = ClassLp::build(topo, caps, demands, class, stage).solve()?;
            for l in levels.iter_mut().filter(|l| l.is_none()) {
                *l = Some(below(t));
            }
            break;
        };
        let t = duals.fraction;
        let free: Vec<usize> = (0..m).filter(|&k| levels[k].is_none()).collect();
        let blocked: Vec<usize> = free
            .iter()
            .copied()
            .filter(|&k| duals.tau[k] > BLOCKED_DUAL && t < 1.0 - 1e-9)
            .collect();
        // Everyone fully served, or no member provably blocked (round-off): all stay here.
        let settle = if blocked.is_empty() { &free } else { &blocked };
        for &k in settle {
            levels[k] = Some(below(t));
        }
        if levels.iter().all(Option::is_some) {
            break;
        }
    }
    // Members still rising when the rounds ran out keep the last level reached.
    let last = levels.iter().flatten().copied().fold(0.0, f64::max);
    let floors: Vec<f64> = levels.iter().map(|l| l.unwrap_or(last)).collect();
    throughput(&floors, demands, columns)
}

/// Can `d` have no rate above the floor ([`RATE_FLOOR`]) at all, because what is left of
/// the resources its paths cross is too little even with the whole of it — for every path,
/// or with `disjoint paths N` for any one of them, since each must carry a share?
fn starved(topo: &Topology, caps: &Capacities, d: &Demand) -> bool {
    let n = d.intent.constraints.disjoint_paths;
    let share = if n > 1 { 1.0 / f64::from(n - 1) } else { 1.0 };
    let blocked = |p: &Candidate| {
        usage(topo, caps, d.intent.service, p)
            .iter()
            .any(|&(r, coef)| caps.cap[r.0] <= coef * share * d.rate * RATE_FLOOR)
    };
    if n > 1 {
        d.paths.iter().any(blocked)
    } else {
        d.paths.iter().all(blocked)
    }
}

/// Most water-filling levels per class (each an LP solved twice: priced, then for duals).
pub const WATER_ROUNDS: usize = 8;
/// A max-min row whose dual exceeds this binds: its member is blocked at the level.
const BLOCKED_DUAL: f64 = 1e-6;

/// A level kept as a floor, a hair under the solver's value so that round-off never makes
/// the next LP infeasible.
fn below(t: f64) -> f64 {
    (t * (1.0 - 1e-7) - 1e-9).clamp(0.0, 1.0)
}

/// Column generation over a compile's class LPs: the pricer and what it did.
struct Columns<'t, 'a> {
    pricer: Pricer<'t, 'a>,
    report: ColumnReport,
}

impl<'t, 'a> Columns<'t, 'a> {
    fn new(
        topo: &'t Topology,
        options: &PathOptions,
        demands: &[Demand<'a>],
        fixed: &Fixed,
    ) -> Columns<'t, 'a> {
        let mut pricer = Pricer::new(topo, *options);
        let open = || {
            demands
                .iter()
                .enumerate()
                .filter(|(i, d)| !d.paths.is_empty() && !fixed.contains_key(i))
        };
        pricer.prepare(open().map(|(_, d)| d.intent));
        let report = ColumnReport {
            candidates_only: open().filter(|(_, d)| !priceable(d.intent)).count(),
            ..ColumnReport::default()
        };
        Columns { pricer, report }
    }

    /// Adds to the class's intents every path with a positive reduced cost, round after
    /// round, until there is none (the LP is then optimal over all allowed paths) or a
    /// limit is reached (counted in the report).
    fn generate(
        &mut self,
        topo: &Topology,
        caps: &Capacities,
        demands: &mut [Demand],
        class: &Class,
        stage: Stage,
    ) {
        let positions: Vec<usize> = class.members.iter().chain(class.held).copied().collect();
        if !positions.iter().any(|&i| priceable(demands[i].intent)) {
            return;
        }
        if positions.len() > COLUMN_LIMIT {
            self.report.too_large += 1;
            return;
        }
        for _ in 0..COLUMN_ROUNDS {
            if self.report.rounds >= COLUMN_BUDGET {
                self.report.budget_spent = true;
                return;
            }
            let lp = ClassLp::build(topo, caps, demands, class, stage);
            let Some(Duals { sigma, pi, .. }) = lp.duals(caps.len()) else {
                self.report.failed += 1;
                return;
            };
            self.report.rounds += 1;
            let pricer = &self.pricer;
            let shared: &[Demand] = demands;
            let hop_cost = match stage {
                Stage::MaxMin(_) => 0.0,
                Stage::Throughput(_) => HOP_COST,
            };
            let found: Vec<(usize, Candidate)> = positions
                .par_iter()
                .zip(&sigma)
                .filter_map(|(&i, &s)| {
                    let d = &shared[i];
                    let tolerance = PRICE_TOLERANCE / d.rate;
                    if s <= tolerance || !priceable(d.intent) {
                        return None;
                    }
                    let c = pricer.price(d.intent, d.rate, s, &pi, caps, tolerance, hop_cost)?;
                    (!d.paths.iter().any(|p| p.links == c.links)).then_some((i, c))
                })
                .collect();
            if found.is_empty() {
                return;
            }
            self.report.added += found.len();
            for (i, c) in found {
                demands[i].paths.push(c);
            }
        }
        self.report.round_limited += 1;
    }
}

/// Rates per path, per intent.
type PathRates = Vec<Vec<f64>>;

/// One LP of a class (see [`solve_levels`]).
#[derive(Debug, Clone, Copy)]
enum Stage<'s> {
    /// Maximise the smallest admitted fraction of the members without a level; those with
    /// one keep at least that fraction.
    MaxMin(&'s [Option<f64>]),
    /// Maximise the members' total admitted fraction, each at least its floor.
    Throughput(&'s [f64]),
}

/// The duals of a class LP, as prices of the unscaled LP.
struct Duals {
    /// Per LP intent: what one more unit per second of its admitted rate is worth (0
    /// without a coverage row).
    sigma: Vec<f64>,
    /// Per resource: what one more unit of it is worth (0 without a capacity row).
    pi: Vec<f64>,
    /// Per member, max-min stage: the dual of its row `level ≤ fraction` (0 otherwise).
    tau: Vec<f64>,
    /// The max-min level reached (max-min stage).
    fraction: f64,
}

/// One LP of a class (see [`solve_levels`]), built once and solved by either solver: the
/// simplex (microlp) for the allocation, the interior-point solver (clarabel) for the
/// duals that price new columns.
///
/// The LP is scaled so that both solvers see numbers near 1: each path variable is the
/// fraction of its intent's requested rate it carries, each admitted variable the fraction
/// admitted, and each capacity row is divided by the capacity. The objective keeps its
/// value (Σ admitted / requested − hop tie-break). Every row is written `expression ≤
/// constant`, so every dual is ≥ 0; [`ClassLp::duals`] turns them back into prices per
/// unit of rate and per unit of resource.
struct ClassLp {
    vars: ProblemVariables,
    objective: Expression,
    constraints: Vec<good_lp::Constraint>,
    /// Per LP intent (members, then held): its requested rate, and its coverage row when it
    /// has one row over all its paths (not with `disjoint paths N`).
    coverage: Vec<(f64, Option<usize>)>,
    /// Capacity rows: the resource, the row, and what the row was divided by.
    capacity: Vec<(Resource, usize, f64)>,
    /// Per LP intent, per path: its variable (a fraction of the requested rate).
    x: Vec<Vec<Variable>>,
    rates: Vec<f64>,
    fraction: Option<Variable>,
    /// Per member, max-min stage: its row `fraction ≤ admitted`, if it has one.
    level_rows: Vec<Option<usize>>,
}

impl ClassLp {
    fn build(
        topo: &Topology,
        caps: &Capacities,
        demands: &[Demand],
        class: &Class,
        stage: Stage,
    ) -> ClassLp {
        let mut vars = ProblemVariables::new();
        let fraction = match stage {
            Stage::MaxMin(_) => Some(vars.add(variable().min(0.0).max(1.0))),
            Stage::Throughput(_) => None,
        };
        let mut level_rows = Vec::new();
        let mut objective = Expression::from(0.0);
        let mut x: Vec<Vec<Variable>> = Vec::new();
        let mut rows: BTreeMap<Resource, Expression> = BTreeMap::new();
        let mut constraints = Vec::new();
        let mut coverage = Vec::new();
        let mut rates = Vec::new();
        let all = class
            .members
            .iter()
            .enumerate()
            .map(|(k, &i)| (i, Err(k)))
            .chain(
                class
                    .held
                    .iter()
                    .zip(class.levels)
                    .map(|(&j, &l)| (j, Ok(l))),
            );
        for (i, level) in all {
            let d = &demands[i];
            // A held intent's admitted fraction is its level, a constant (what it had
            // reserved was given back, so the level is always feasible); a member's is a
            // variable.
            let f: Expression = match level {
                Ok(l) => Expression::from((l / d.rate).min(1.0)),
                Err(k) => match stage {
                    Stage::Throughput(floors) => {
                        let f = vars.add(variable().min(floors[k]).max(1.0));
                        objective += f;
                        f.into()
                    }
                    Stage::MaxMin(levels) => match (levels[k], fraction) {
                        (None, Some(t)) => {
                            let f = vars.add(variable().min(0.0).max(1.0));
                            level_rows.push(Some(constraints.len()));
                            constraints.push((t - f).leq(0.0));
                            f.into()
                        }
                        (level, _) => {
                            level_rows.push(None);
                            vars.add(variable().min(level.unwrap_or(0.0)).max(1.0))
                                .into()
                        }
                    },
                },
            };
            let ys: Vec<Variable> = d
                .paths
                .iter()
                .map(|_| vars.add(variable().min(0.0)))
                .collect();
            for (p, &yp) in ys.iter().enumerate() {
                // The hop tie-break belongs to the throughput stage: in a max-min LP it would
                // make every member's level row bind and hide which members are blocked.
                if fraction.is_none() {
                    objective -= yp * (HOP_COST * d.paths[p].links.len() as f64);
                }
                for (res, coef) in usage(topo, caps, d.intent.service, &d.paths[p]) {
                    *rows.entry(res).or_insert_with(|| Expression::from(0.0)) +=
                        yp * (coef * d.rate);
                }
            }
            let n = d.intent.constraints.disjoint_paths;
            if n > 1 {
                for &yp in &ys {
                    constraints.push((f.clone() - yp * f64::from(n - 1)).leq(0.0));
                }
                coverage.push((d.rate, None));
            } else {
                let all: Expression = ys.iter().map(|&v| Expression::from(v)).sum();
                coverage.push((d.rate, Some(constraints.len())));
                constraints.push((f - all).leq(0.0));
            }
            x.push(ys);
            rates.push(d.rate);
        }
        if let Some(t) = fraction {
            objective += t;
        }
        let mut capacity = Vec::with_capacity(rows.len());
        for (res, expr) in rows {
            // An exhausted resource keeps its row unscaled: nothing may use it.
            let scale = if caps.cap[res.0] > EPS {
                caps.cap[res.0]
            } else {
                1.0
            };
            let bound = if caps.cap[res.0] > EPS { 1.0 } else { 0.0 };
            capacity.push((res, constraints.len(), scale));
            constraints.push((expr * (1.0 / scale)).leq(bound));
        }
        ClassLp {
            vars,
            objective,
            constraints,
            coverage,
            capacity,
            x,
            rates,
            fraction,
            level_rows,
        }
    }

    /// The allocation at a vertex of the LP: path rates (service units per second) per LP
    /// intent, and the smallest fraction (max-min stage).
    fn solve(self) -> Option<(PathRates, f64)> {
        let mut model = self.vars.maximise(self.objective).using(good_lp::microlp);
        for c in self.constraints {
            model.add_constraint(c);
        }
        let sol = model.solve().ok()?;
        let rates = self
            .x
            .iter()
            .zip(&self.rates)
            .map(|(ys, &rate)| ys.iter().map(|&v| sol.value(v).max(0.0) * rate).collect())
            .collect();
        Some((rates, self.fraction.map_or(0.0, |t| sol.value(t))))
    }

    /// The duals of the LP (interior point).
    fn duals(self, resources: usize) -> Option<Duals> {
        let mut model = self.vars.maximise(self.objective).using(good_lp::clarabel);
        // A well-scaled LP converges in a few dozen interior-point iterations; one that does
        // not is given up (its class keeps the columns it has) rather than ground on.
        model.settings().max_iter(DUAL_ITERATIONS);
        let refs: Vec<_> = self
            .constraints
            .into_iter()
            .map(|c| model.add_constraint(c))
            .collect();
        let mut sol = model.solve().ok()?;
        let fraction = self.fraction.map_or(0.0, |t| sol.value(t));
        let duals = sol.compute_dual();
        let dual = |r: usize| duals.dual(refs[r].clone()).max(0.0);
        let sigma = self
            .coverage
            .iter()
            .map(|&(rate, row)| row.map_or(0.0, |r| dual(r) / rate))
            .collect();
        let mut pi = vec![0.0; resources];
        for &(res, r, scale) in &self.capacity {
            pi[res.0] = dual(r) / scale;
        }
        let tau = self
            .level_rows
            .iter()
            .map(|row| row.map_or(0.0, dual))
            .collect();
        Some(Duals {
            sigma,
            pi,
            tau,
            fraction,
        })
    }
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
