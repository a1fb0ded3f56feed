//! One part of a class LP, written out as a sparse matrix and solved through good_lp: by
//! the simplex for an allocation (microlp, or HiGHS with the `highs` feature), and for the
//! prices that price new columns by the interior-point solver (clarabel), or by the simplex
//! over the dual LP when clarabel does not converge; with `highs`, HiGHS's interior-point
//! solver without crossover, or its simplex. Central duals price far better than a simplex
//! vertex's (fewer rounds to the optimum).

use super::HOP_COST;
use super::reduce::{Entry, Role};
use crate::compile::optimise::demand::EPS;
use crate::compile::resources::{Capacities, Resource};
use good_lp::{
    Constraint, DualValues, Expression, ProblemVariables, Solution, SolutionWithDual, SolverModel,
    Variable, variable,
};
use std::collections::BTreeMap;

/// The simplex: microlp, pure Rust, unless the `highs` feature builds in HiGHS.
#[cfg(feature = "highs")]
use good_lp::highs as simplex;
#[cfg(not(feature = "highs"))]
use good_lp::microlp as simplex;

/// Most interior-point iterations for the duals of one LP.
#[cfg(not(feature = "highs"))]
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

/// `maximise Σ cⱼ xⱼ` subject to `Σⱼ aᵢⱼ xⱼ ≤ bᵢ` for every row and `lⱼ ≤ xⱼ ≤ uⱼ`.
#[derive(Debug, Default)]
struct Matrix {
    /// Per variable: its lower bound, upper bound (infinite when none) and objective
    /// coefficient.
    cols: Vec<(f64, f64, f64)>,
    /// Per row: its coefficients and its bound.
    rows: Vec<(Vec<(usize, f64)>, f64)>,
}

impl Matrix {
    fn var(&mut self, lo: f64, hi: f64) -> usize {
        self.cols.push((lo, hi, 0.0));
        self.cols.len() - 1
    }

    fn row(&mut self, coefs: Vec<(usize, f64)>, bound: f64) -> usize {
        self.rows.push((coefs, bound));
        self.rows.len() - 1
    }

    /// The LP as good_lp sees it: its variables, objective and rows, in order.
    fn problem(&self) -> (ProblemVariables, Vec<Variable>, Expression, Vec<Constraint>) {
        let mut vars = ProblemVariables::new();
        let x: Vec<Variable> = self
            .cols
            .iter()
            .map(|&(lo, hi, _)| vars.add(variable().min(lo).max(hi)))
            .collect();
        let objective: Expression = self.cols.iter().zip(&x).map(|(c, &v)| v * c.2).sum();
        let rows = self
            .rows
            .iter()
            .map(|(coefs, bound)| {
                let lhs: Expression = coefs.iter().map(|&(j, a)| x[j] * a).sum();
                lhs.leq(*bound)
            })
            .collect();
        (vars, x, objective, rows)
    }

    /// The optimal values of the variables, at a vertex (the simplex).
    fn solve(&self) -> Option<Vec<f64>> {
        let (vars, x, objective, rows) = self.problem();
        let mut lp = vars.maximise(objective).using(simplex);
        for row in rows {
            lp.add_constraint(row);
        }
        let sol = lp.solve().ok()?;
        Some(x.iter().map(|&v| sol.value(v)).collect())
    }

    /// An optimal dual solution: the price of every row (≥ 0), and the optimum. From the
    /// interior-point solver when it converges within [`DUAL_ITERATIONS`]; otherwise from
    /// the dual LP by the simplex ([`Matrix::dual_lp`]), which always finishes.
    #[cfg(not(feature = "highs"))]
    fn duals(&self) -> Option<(Vec<f64>, f64)> {
        self.interior_duals().or_else(|| self.dual_lp())
    }

    /// An optimal dual solution: the price of every row (≥ 0), and the optimum. From HiGHS's
    /// interior-point solver without crossover (a central, strictly complementary
    /// solution), or from its simplex when that fails.
    #[cfg(feature = "highs")]
    fn duals(&self) -> Option<(Vec<f64>, f64)> {
        use good_lp::solvers::highs::HighsSolverType;
        let attempt = |interior: bool| {
            let (vars, x, objective, rows) = self.problem();
            let mut lp = vars.maximise(objective).using(simplex).set_threads(1);
            if interior {
                lp = lp
                    .set_solver(HighsSolverType::Ipm)
                    .set_option("run_crossover", "off");
            }
            self.priced(lp, &x, rows)
        };
        attempt(true).or_else(|| attempt(false))
    }

    /// The duals from the interior-point solver (clarabel), whose solution is strictly
    /// complementary: every row that binds at all optima has a positive price.
    #[cfg(not(feature = "highs"))]
    fn interior_duals(&self) -> Option<(Vec<f64>, f64)> {
        let (vars, x, objective, rows) = self.problem();
        let mut lp = vars.maximise(objective.clone()).using(good_lp::clarabel);
        // A well-scaled LP converges in a few dozen interior-point iterations; one that does
        // not is handed to the simplex rather than ground on.
        lp.settings().max_iter(DUAL_ITERATIONS);
        self.priced(lp, &x, rows)
    }

    /// Solves `lp` with `rows` added in order, for the price of every row (≥ 0) and the
    /// optimum.
    fn priced<S>(&self, mut lp: S, x: &[Variable], rows: Vec<Constraint>) -> Option<(Vec<f64>, f64)>
    where
        S: SolverModel,
        for<'s> S::Solution: SolutionWithDual<'s>,
    {
        let refs: Vec<_> = rows.into_iter().map(|c| lp.add_constraint(c)).collect();
        let mut sol = lp.solve().ok()?;
        let optimum = self
            .cols
            .iter()
            .zip(x)
            .map(|(c, &v)| c.2 * sol.value(v))
            .sum();
        let duals = sol.compute_dual();
        let y = refs.into_iter().map(|r| duals.dual(r).max(0.0)).collect();
        Some((y, optimum))
    }

    /// The duals as the optimal solution of the dual LP, by the simplex (a vertex). With
    /// every variable shifted to `x = l + x'`, the dual is
    /// `minimise Σ (bᵢ − Σⱼ aᵢⱼ lⱼ) yᵢ + Σ (uⱼ − lⱼ) wⱼ` subject to
    /// `Σᵢ aᵢⱼ yᵢ + wⱼ ≥ cⱼ` for every variable, `y, w ≥ 0` (no `wⱼ` without an upper
    /// bound); its optimum is the primal's less the constant `Σ cⱼ lⱼ`.
    #[cfg(not(feature = "highs"))]
    fn dual_lp(&self) -> Option<(Vec<f64>, f64)> {
        let mut vars = ProblemVariables::new();
        let y: Vec<Variable> = self
            .rows
            .iter()
            .map(|_| vars.add(variable().min(0.0)))
            .collect();
        let mut columns: Vec<Expression> =
            self.cols.iter().map(|_| Expression::from(0.0)).collect();
        let mut objective = Expression::from(0.0);
        for ((coefs, bound), &yi) in self.rows.iter().zip(&y) {
            let mut shifted = *bound;
            for &(j, a) in coefs {
                columns[j] += yi * a;
                shifted -= a * self.cols[j].0;
            }
            objective += yi * shifted;
        }
        let mut constant = 0.0;
        for (&(lo, hi, c), column) in self.cols.iter().zip(&mut columns) {
            constant += c * lo;
            if hi.is_finite() {
                let w = vars.add(variable().min(0.0));
                objective += w * (hi - lo);
                *column += w;
            }
        }
        let mut lp = vars.minimise(objective.clone()).using(simplex);
        for (column, &(_, _, c)) in columns.into_iter().zip(&self.cols) {
            lp.add_constraint(column.geq(c));
        }
        let sol = lp.solve().ok()?;
        let optimum = sol.eval(&objective) + constant;
        Some((y.iter().map(|&v| sol.value(v).max(0.0)).collect(), optimum))
    }
}

/// An entry's fraction variables, and per member which of them is its own.
type Own = (Vec<usize>, Vec<usize>);

struct Model {
    matrix: Matrix,
    level: Option<usize>,
    /// Per entry: its fraction variables (none for a held intent), and per member which of
    /// them is its own.
    fractions: Vec<Own>,
    flows: Vec<Vec<usize>>,
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
        let mut matrix = Matrix::default();
        let level = self.max_min.then(|| matrix.var(0.0, 1.0));
        let slot: BTreeMap<Resource, usize> = self
            .rows
            .iter()
            .enumerate()
            .map(|(k, &(r, _, _))| (r, k))
            .collect();
        let mut loads: Vec<Vec<(usize, f64)>> = vec![Vec::new(); self.rows.len()];
        let (mut fractions, mut flows, mut cover, mut level_rows) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &e in &self.entries {
            let entry = &all[e];
            let ys: Vec<usize> = entry
                .paths
                .iter()
                .map(|_| matrix.var(0.0, f64::INFINITY))
                .collect();
            for (path, &y) in entry.paths.iter().zip(&ys) {
                // The hop tie-break belongs to the throughput stage: in a max-min LP it would
                // make every member's level row bind and hide which members are blocked.
                if level.is_none() {
                    matrix.cols[y].2 -= HOP_COST * (path.hops * entry.who.len()) as f64;
                }
                for &(r, coef) in path.usage {
                    if let Some(&k) = slot.get(&r) {
                        loads[k].push((y, coef * entry.total / self.rows[k].1));
                    }
                }
            }
            let less_carried = |mut row: Vec<(usize, f64)>| {
                row.extend(ys.iter().map(|&y| (y, -1.0)));
                row
            };
            let mut level_row = None;
            // What the entry is admitted, as a fraction of its total: a sum of variables and
            // a constant.
            let (admitted, constant, fs): (Vec<(usize, f64)>, f64, Own) = match (&entry.role, level)
            {
                // Max-min, one coverage row over all paths: the admitted fraction is what
                // the paths carry (capped at 1 by the level's own bound), so one row says
                // both `level ≤ admitted` and `admitted ≤ carried`, or `floor ≤ carried`.
                // A member held at 0 has no row at all (nothing asks its paths to carry).
                (Role::Members { floors, rising }, Some(t)) if entry.disjoint <= 1 => {
                    let mut row = None;
                    if *rising {
                        row = Some(matrix.row(less_carried(vec![(t, 1.0)]), 0.0));
                        level_row = row;
                    } else if floors[0] > 0.0 {
                        row = Some(matrix.row(less_carried(Vec::new()), -floors[0]));
                    }
                    cover.push(row);
                    fractions.push((Vec::new(), Vec::new()));
                    flows.push(ys);
                    level_rows.push(level_row);
                    continue;
                }
                (Role::Held { fraction }, _) => (Vec::new(), *fraction, (Vec::new(), Vec::new())),
                (Role::Members { floors, rising }, Some(t)) => {
                    let g = matrix.var(floors[0], 1.0);
                    if *rising {
                        level_row = Some(matrix.row(vec![(t, 1.0), (g, -1.0)], 0.0));
                    }
                    (vec![(g, 1.0)], 0.0, (vec![g], vec![0; entry.who.len()]))
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
                    let mut sum = Vec::with_capacity(counts.len());
                    let mut fs = Vec::with_capacity(counts.len());
                    for (rate, floor, n) in counts {
                        let f = matrix.var(floor, 1.0);
                        matrix.cols[f].2 += n as f64;
                        sum.push((f, n as f64 * rate / entry.total));
                        fs.push(f);
                    }
                    (sum, 0.0, (fs, own))
                }
            };
            if entry.disjoint > 1 {
                for &y in &ys {
                    let mut row = admitted.clone();
                    row.push((y, -f64::from(entry.disjoint - 1)));
                    matrix.row(row, -constant);
                }
                cover.push(None);
            } else {
                cover.push(Some(matrix.row(less_carried(admitted), -constant)));
            }
            fractions.push(fs);
            flows.push(ys);
            level_rows.push(level_row);
        }
        let capacity = self
            .rows
            .iter()
            .zip(loads)
            .map(|(&(_, _, bound), load)| matrix.row(load, bound))
            .collect();
        if let Some(t) = level {
            matrix.cols[t].2 += 1.0;
        }
        Model {
            matrix,
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
        let x = m.matrix.solve()?;
        let fractions = self
            .entries
            .iter()
            .zip(&m.fractions)
            .zip(&m.flows)
            .map(|((&e, fs), ys)| match all[e].role {
                Role::Held { fraction } => vec![fraction],
                // One row says it all (max-min): the fraction is what the paths carry.
                Role::Members { .. } if fs.0.is_empty() => {
                    vec![ys.iter().map(|&y| x[y].max(0.0)).sum::<f64>().min(1.0)]
                }
                Role::Members { .. } => fs.1.iter().map(|&s| x[fs.0[s]]).collect(),
            })
            .collect();
        let flows = m
            .flows
            .iter()
            .map(|ys| ys.iter().map(|&y| x[y].max(0.0)).collect())
            .collect();
        let level = m.level.map_or(1.0, |t| x[t]);
        Some(PartSolution {
            fractions,
            flows,
            level,
        })
    }

    /// The part's duals (the dual LP, at a vertex). Its level, in the max-min stage, is the
    /// optimum: the objective is the level alone.
    pub(super) fn duals(&self, all: &[Entry]) -> Option<PartDuals> {
        let m = self.model(all);
        let (y, optimum) = m.matrix.duals()?;
        let level = if self.max_min { optimum } else { 1.0 };
        let entries = m
            .cover
            .iter()
            .zip(&m.level_rows)
            .map(|(c, l)| (c.map(|r| y[r]), l.map_or(0.0, |r| y[r])))
            .collect();
        let prices = self
            .rows
            .iter()
            .zip(&m.capacity)
            .map(|(&(r, scale, _), &row)| (r, y[row] / scale))
            .collect();
        Some(PartDuals {
            entries,
            prices,
            level,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Matrix;
    use proptest::prelude::*;

    /// `maximise x + y − z` subject to `x + 2y + z ≤ 4`, `3x + y ≤ 6`, `0 ≤ x ≤ 10`,
    /// `0 ≤ y ≤ 1`, `0.5 ≤ z ≤ 2`. Worked by hand: z stays at its lower bound, both rows
    /// bind at x = 1.7, y = 0.9 (objective 2.1), and their prices solve `1 = p₁ + 3p₂`,
    /// `1 = 2p₁ + p₂`: p = (0.4, 0.2).
    fn lp() -> Matrix {
        let mut m = Matrix::default();
        let (x, y, z) = (m.var(0.0, 10.0), m.var(0.0, 1.0), m.var(0.5, 2.0));
        m.cols[x].2 = 1.0;
        m.cols[y].2 = 1.0;
        m.cols[z].2 = -1.0;
        m.row(vec![(x, 1.0), (y, 2.0), (z, 1.0)], 4.0);
        m.row(vec![(x, 3.0), (y, 1.0)], 6.0);
        m
    }

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
    }

    #[test]
    fn the_simplex_finds_the_vertex() {
        let x = lp().solve().unwrap();
        assert!(close(&x, &[1.7, 0.9, 0.5]), "{x:?}");
    }

    #[test]
    fn the_duals_price_both_rows() {
        let (y, optimum) = lp().duals().unwrap();
        assert!(close(&y, &[0.4, 0.2]), "{y:?}");
        assert!((optimum - 2.1).abs() < 1e-6, "{optimum}");
    }

    /// The fallback when the interior-point solver does not converge gives the same prices
    /// and optimum, from the dual LP with its shifted bounds.
    #[cfg(not(feature = "highs"))]
    #[test]
    fn the_dual_lp_agrees_with_the_interior_point() {
        let m = lp();
        let (interior, a) = m.interior_duals().unwrap();
        let (simplex, b) = m.dual_lp().unwrap();
        assert!(close(&interior, &[0.4, 0.2]), "{interior:?}");
        assert!(close(&simplex, &[0.4, 0.2]), "{simplex:?}");
        assert!((a - 2.1).abs() < 1e-6 && (b - 2.1).abs() < 1e-6, "{a} {b}");
    }

    /// A random LP that is feasible at its lower bounds and bounded: non-negative rows,
    /// every bound finite, each right-hand side at least the rows' use at the lower bounds.
    fn random_lp() -> impl Strategy<Value = Matrix> {
        (1usize..6, 1usize..6).prop_flat_map(|(n, m)| {
            let cols = prop::collection::vec((0.0..1.0f64, 0.1..3.0f64, -2.0..2.0f64), n);
            let rows =
                prop::collection::vec((prop::collection::vec(0.0..5.0f64, n), 0.0..10.0f64), m);
            (cols, rows).prop_map(|(cols, rows)| {
                let mut lp = Matrix::default();
                for (lo, width, c) in cols {
                    let j = lp.var(lo, lo + width);
                    lp.cols[j].2 = c;
                }
                for (coefs, slack) in rows {
                    let least: f64 = coefs.iter().zip(&lp.cols).map(|(a, c)| a * c.0).sum();
                    lp.row(coefs.into_iter().enumerate().collect(), least + slack);
                }
                lp
            })
        })
    }

    proptest! {
        /// Strong duality and complementary slackness between the simplex's allocation
        /// and the prices, whichever way the prices are found: the optimum of the prices
        /// equals the allocation's objective, and a priced row binds.
        #[test]
        fn the_prices_are_optimal_duals_of_the_allocation(lp in random_lp()) {
            let x = lp.solve().unwrap();
            let objective: f64 = lp.cols.iter().zip(&x).map(|(c, v)| c.2 * v).sum();
            let mut ways = vec![lp.duals().unwrap()];
            #[cfg(not(feature = "highs"))]
            ways.push(lp.dual_lp().unwrap());
            for (y, optimum) in ways {
                prop_assert!((optimum - objective).abs() < 1e-5, "{optimum} vs {objective}");
                for ((coefs, bound), price) in lp.rows.iter().zip(&y) {
                    let slack = bound - coefs.iter().map(|&(j, a)| a * x[j]).sum::<f64>();
                    prop_assert!(slack > -1e-6, "row exceeded by {slack}");
                    prop_assert!(*price < 1e-4 || slack < 1e-4, "price {price} on a row with slack {slack}");
                }
            }
        }
    }
}
