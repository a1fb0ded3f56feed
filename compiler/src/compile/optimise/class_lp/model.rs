//! One part of a class LP as a good_lp model, solved by the simplex (microlp) for an
//! allocation or by the interior-point solver (clarabel) for its duals.

use super::HOP_COST;
use super::reduce::{Entry, Role};
use crate::compile::optimise::demand::EPS;
use crate::compile::resources::{Capacities, Resource};
use good_lp::{
    Constraint, DualValues, Expression, ProblemVariables, Solution, SolutionWithDual, SolverModel,
    Variable, variable,
};
use std::collections::BTreeMap;

/// Most interior-point iterations for the duals of one LP.
const DUAL_ITERATIONS: u32 = 60;

/// Entries of a class LP that share capacity rows, with those rows.
pub(super) struct Part {
    pub(super) entries: Vec<usize>,
    /// Its capacity rows: the resource, what the row is divided by, and its bound (1, or 0
    /// for an exhausted resource, whose row stays unscaled: nothing may use it).
    rows: Vec<(Resource, f64, f64)>,
    max_min: bool,
}

/// A part's allocation: per entry its admitted fractions (one per member, or one shared)
/// and its path flows (fractions of its total rate), and its max-min level (1 otherwise).
pub(super) struct PartSolution {
    pub(super) fractions: Vec<Vec<f64>>,
    pub(super) flows: Vec<Vec<f64>>,
    pub(super) level: f64,
}

/// A part's duals, as prices of the scaled LP: per entry the dual of its coverage row (if
/// it has one) and of its level row (0 without); per row its resource's price per unit.
pub(super) struct PartDuals {
    pub(super) entries: Vec<(Option<f64>, f64)>,
    pub(super) prices: Vec<(Resource, f64)>,
    pub(super) level: f64,
}

struct Model {
    vars: ProblemVariables,
    objective: Expression,
    constraints: Vec<Constraint>,
    level: Option<Variable>,
    /// Per entry: its fraction variables (none for a held intent), and per member which of
    /// them is its own.
    fractions: Vec<(Vec<Variable>, Vec<usize>)>,
    flows: Vec<Vec<Variable>>,
    cover: Vec<Option<usize>>,
    level_rows: Vec<Option<usize>>,
    capacity: Vec<usize>,
}

impl Part {
    pub(super) fn new(
        entries: Vec<usize>,
        resources: Vec<Resource>,
        caps: &Capacities,
        max_min: bool,
    ) -> Part {
        let rows = resources
            .into_iter()
            .map(|r| {
                let cap = caps.cap[r.0];
                if cap > EPS {
                    (r, cap, 1.0)
                } else {
                    (r, 1.0, 0.0)
                }
            })
            .collect();
        Part {
            entries,
            rows,
            max_min,
        }
    }

    fn model(&self, all: &[Entry]) -> Model {
        let mut vars = ProblemVariables::new();
        let level = self.max_min.then(|| vars.add(variable().min(0.0).max(1.0)));
        let mut objective = Expression::from(0.0);
        let mut constraints = Vec::new();
        let mut row_of: BTreeMap<Resource, Expression> = self
            .rows
            .iter()
            .map(|&(r, _, _)| (r, Expression::from(0.0)))
            .collect();
        let (mut fractions, mut flows, mut cover, mut level_rows) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &e in &self.entries {
            let entry = &all[e];
            let ys: Vec<Variable> = entry
                .paths
                .iter()
                .map(|_| vars.add(variable().min(0.0)))
                .collect();
            for (path, &y) in entry.paths.iter().zip(&ys) {
                // The hop tie-break belongs to the throughput stage: in a max-min LP it would
                // make every member's level row bind and hide which members are blocked.
                if level.is_none() {
                    objective -= y * (HOP_COST * (path.hops * entry.who.len()) as f64);
                }
                for &(r, coef) in &path.usage {
                    if let Some(row) = row_of.get_mut(&r) {
                        *row += y * (coef * entry.total);
                    }
                }
            }
            let carried = || -> Expression { ys.iter().map(|&v| Expression::from(v)).sum() };
            let mut level_row = None;
            let (admitted, fs): (Expression, (Vec<Variable>, Vec<usize>)) =
                match (&entry.role, level) {
                    // Max-min, one coverage row over all paths: the admitted fraction is what
                    // the paths carry (capped at 1 by the level's own bound), so one row says both
                    // `level ≤ admitted` and `admitted ≤ carried`, or `floor ≤ carried`.
                    // A member held at 0 has no row at all (nothing asks its paths to carry).
                    (Role::Members { floors, rising }, Some(t)) if entry.disjoint <= 1 => {
                        let row = constraints.len();
                        if *rising {
                            level_row = Some(row);
                            constraints.push((t - carried()).leq(0.0));
                        } else if floors[0] > 0.0 {
                            constraints.push((Expression::from(floors[0]) - carried()).leq(0.0));
                        }
                        cover.push((constraints.len() > row).then_some(row));
                        fractions.push((Vec::new(), Vec::new()));
                        flows.push(ys);
                        level_rows.push(level_row);
                        continue;
                    }
                    (Role::Held { fraction }, _) => {
                        (Expression::from(*fraction), (Vec::new(), Vec::new()))
                    }
                    (Role::Members { floors, rising }, Some(t)) => {
                        let g = vars.add(variable().min(floors[0]).max(1.0));
                        if *rising {
                            level_row = Some(constraints.len());
                            constraints.push((t - g).leq(0.0));
                        }
                        (g.into(), (vec![g], vec![0; entry.who.len()]))
                    }
                    // Throughput: members with the same request and floor are interchangeable,
                    // so they share one fraction variable, counted once per member — the
                    // objective and the coverage are the same, and the LP has a handful of
                    // variables where it would have one per copy.
                    (Role::Members { floors, .. }, None) => {
                        let mut alike: BTreeMap<(u64, u64), usize> = BTreeMap::new();
                        let mut counts: Vec<(f64, f64, usize)> = Vec::new();
                        let mut own = Vec::with_capacity(floors.len());
                        for (&floor, &rate) in floors.iter().zip(&entry.rates) {
                            let next = counts.len();
                            let s = *alike
                                .entry((rate.to_bits(), floor.to_bits()))
                                .or_insert(next);
                            if s == next {
                                counts.push((rate, floor, 0));
                            }
                            counts[s].2 += 1;
                            own.push(s);
                        }
                        let mut sum = Expression::from(0.0);
                        let mut fs = Vec::with_capacity(counts.len());
                        for (rate, floor, n) in counts {
                            let f = vars.add(variable().min(floor).max(1.0));
                            objective += f * n as f64;
                            sum += f * (n as f64 * rate / entry.total);
                            fs.push(f);
                        }
                        (sum, (fs, own))
                    }
                };
            if entry.disjoint > 1 {
                for &y in &ys {
                    constraints
                        .push((admitted.clone() - y * f64::from(entry.disjoint - 1)).leq(0.0));
                }
                cover.push(None);
            } else {
                cover.push(Some(constraints.len()));
                constraints.push((admitted - carried()).leq(0.0));
            }
            fractions.push(fs);
            flows.push(ys);
            level_rows.push(level_row);
        }
        let mut capacity = Vec::with_capacity(self.rows.len());
        for &(r, scale, bound) in &self.rows {
            let expr = row_of.remove(&r).unwrap_or_default();
            capacity.push(constraints.len());
            constraints.push((expr * (1.0 / scale)).leq(bound));
        }
        if let Some(t) = level {
            objective += t;
        }
        Model {
            vars,
            objective,
            constraints,
            level,
            fractions,
            flows,
            cover,
            level_rows,
            capacity,
        }
    }

    /// The part's allocation at a vertex (simplex).
    pub(super) fn solve(&self, all: &[Entry]) -> Option<PartSolution> {
        let m = self.model(all);
        let mut lp = m.vars.maximise(m.objective).using(good_lp::microlp);
        for c in m.constraints {
            lp.add_constraint(c);
        }
        let sol = lp.solve().ok()?;
        let fractions = self
            .entries
            .iter()
            .zip(&m.fractions)
            .zip(&m.flows)
            .map(|((&e, fs), ys)| match all[e].role {
                Role::Held { fraction } => vec![fraction],
                // One row says it all (max-min): the fraction is what the paths carry.
                Role::Members { .. } if fs.0.is_empty() => {
                    vec![
                        ys.iter()
                            .map(|&y| sol.value(y).max(0.0))
                            .sum::<f64>()
                            .min(1.0),
                    ]
                }
                Role::Members { .. } => fs.1.iter().map(|&s| sol.value(fs.0[s])).collect(),
            })
            .collect();
        let flows = m
            .flows
            .iter()
            .map(|ys| ys.iter().map(|&y| sol.value(y).max(0.0)).collect())
            .collect();
        let level = m.level.map_or(1.0, |t| sol.value(t));
        Some(PartSolution {
            fractions,
            flows,
            level,
        })
    }

    /// The part's duals (interior point).
    pub(super) fn duals(&self, all: &[Entry]) -> Option<PartDuals> {
        let m = self.model(all);
        let mut lp = m.vars.maximise(m.objective).using(good_lp::clarabel);
        // A well-scaled LP converges in a few dozen interior-point iterations; one that does
        // not is given up (its class keeps the columns it has) rather than ground on.
        lp.settings().max_iter(DUAL_ITERATIONS);
        let refs: Vec<_> = m
            .constraints
            .into_iter()
            .map(|c| lp.add_constraint(c))
            .collect();
        let mut sol = lp.solve().ok()?;
        let level = m.level.map_or(1.0, |t| sol.value(t));
        let duals = sol.compute_dual();
        let dual = |r: usize| duals.dual(refs[r].clone()).max(0.0);
        let entries = m
            .cover
            .iter()
            .zip(&m.level_rows)
            .map(|(c, l)| (c.map(dual), l.map_or(0.0, dual)))
            .collect();
        let prices = self
            .rows
            .iter()
            .zip(&m.capacity)
            .map(|(&(r, scale, _), &row)| (r, dual(row) / scale))
            .collect();
        Some(PartDuals {
            entries,
            prices,
            level,
        })
    }
}
