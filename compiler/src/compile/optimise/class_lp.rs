//! One LP of a priority class, built once and solved by either solver: the simplex
//! (microlp) for the allocation, the interior-point solver (clarabel) for the duals that
//! price new columns. The solvers are chosen here and nowhere else.

use super::demand::{Demand, EPS};
use crate::compile::resources::{Capacities, Resource, usage};
use crate::topology::Topology;
use good_lp::{
    DualValues, Expression, ProblemVariables, Solution, SolutionWithDual, SolverModel, Variable,
    variable,
};
use std::collections::BTreeMap;

/// Relative weight of the path-length tie-break in the objective.
pub(super) const HOP_COST: f64 = 1e-6;

/// Most interior-point iterations for the duals of one LP.
const DUAL_ITERATIONS: u32 = 60;

/// The intents of one class LP: its members, and the intents of higher classes (`held`)
/// free to move but each kept at its `levels` rate.
pub(super) struct Class<'c> {
    pub(super) members: &'c [usize],
    pub(super) held: &'c [usize],
    pub(super) levels: &'c [f64],
}

/// Rates per path, per intent.
pub(super) type PathRates = Vec<Vec<f64>>;

/// One LP of a class (see `levels.rs`).
#[derive(Debug, Clone, Copy)]
pub(super) enum Stage<'s> {
    /// Maximise the smallest admitted fraction of the members without a level; those with
    /// one keep at least that fraction.
    MaxMin(&'s [Option<f64>]),
    /// Maximise the members' total admitted fraction, each at least its floor.
    Throughput(&'s [f64]),
}

/// The duals of a class LP, as prices of the unscaled LP.
pub(super) struct Duals {
    /// Per LP intent: what one more unit per second of its admitted rate is worth (0
    /// without a coverage row).
    pub(super) sigma: Vec<f64>,
    /// Per resource: what one more unit of it is worth (0 without a capacity row).
    pub(super) pi: Vec<f64>,
    /// Per member, max-min stage: the dual of its row `level ≤ fraction` (0 otherwise).
    pub(super) tau: Vec<f64>,
    /// The max-min level reached (max-min stage).
    pub(super) fraction: f64,
}

/// One LP of a class (see `levels.rs`), built once and solved by either solver: the
/// simplex (microlp) for the allocation, the interior-point solver (clarabel) for the
/// duals that price new columns.
///
/// The LP is scaled so that both solvers see numbers near 1: each path variable is the
/// fraction of its intent's requested rate it carries, each admitted variable the fraction
/// admitted, and each capacity row is divided by the capacity. The objective keeps its
/// value (Σ admitted / requested − hop tie-break). Every row is written `expression ≤
/// constant`, so every dual is ≥ 0; [`ClassLp::duals`] turns them back into prices per
/// unit of rate and per unit of resource.
pub(super) struct ClassLp {
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
    pub(super) fn build(
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
    pub(super) fn solve(self) -> Option<(PathRates, f64)> {
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
    pub(super) fn duals(self, resources: usize) -> Option<Duals> {
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
