//! The LPs of one priority class: throughput (the most admitted in total) or water-filling
//! fair shares (max-min levels from the LP's duals, then the most in total with
//! every member kept at its level).

use super::RATE_FLOOR;
use super::class_lp::{Class, ClassLp, PathRates, Stage};
use super::demand::Demand;
use super::pricing::{COLUMN_LIMIT, Columns};
use crate::check::Objective;
use crate::compile::paths::Candidate;
use crate::compile::resources::{Capacities, usage};
use crate::topology::Topology;

/// The LP of one priority class. Returns the path rates per member.
pub(super) fn solve(
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

/// The LP of one priority class with its held intents. Returns the path rates of the
/// members and of the held intents, or `None` when the solver fails. Each LP first prices
/// new columns.
///
/// Throughput: one LP, the most admitted in total. Fair: water-filling — the largest
/// fraction every member can have at once; the members that cannot have more without
/// taking it from another at that fraction (those whose max-min row has a positive dual:
/// by complementary slackness that row binds at every optimum) keep it, and the rest are
/// raised again, for at most [`WATER_ROUNDS`] levels; then the most in total with every
/// member kept at its level. The interior-point duals are strictly complementary, so one
/// round settles every blocked member; duals at a vertex (the simplex's fallback) may
/// settle only some, and the next round finds the rest at the same level. A class too
/// large for pricing ([`COLUMN_LIMIT`]) gets one level for all (max-min, then throughput).
pub(super) fn solve_levels(
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
        let priced = columns.generate(topo, caps, demands, class, stage);
        let duals =
            priced.or_else(|| ClassLp::build(topo, caps, demands, class, stage).duals(caps.len()));
        let Some(duals) = duals else {
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
