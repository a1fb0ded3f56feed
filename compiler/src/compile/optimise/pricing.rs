//! Column generation over a compile's class LPs: paths with a positive reduced cost at the
//! LP's duals join their intents' candidates, round after round, within the limits below;
//! [`ColumnReport`] says what it did and why it stopped short.

use super::class_lp::{Class, ClassLp, Duals, HOP_COST, Stage};
use super::demand::{Demand, Fixed};
use crate::compile::columns::{Pricer, priceable, reduced_cost};
use crate::compile::paths::{Candidate, PathOptions};
use crate::compile::resources::Capacities;
use crate::config::Optimum;
use crate::topology::Topology;
use rayon::prelude::*;
use std::collections::BTreeSet;

/// Largest class LP (intents, with the higher-class intents free to reroute) that gets new
/// columns; a larger one is solved over its candidate paths, and the summary says so.
pub const COLUMN_LIMIT: usize = 2_000;

/// Most pricing rounds per LP; the summary says when a round limit ended the search.
pub const COLUMN_ROUNDS: usize = 40;

/// Most pricing rounds in one compile, over all its LPs (classes, water-filling levels,
/// lexicographic re-solves): the work stays bounded on large networks, and the summary says
/// when the budget ran out.
pub const COLUMN_BUDGET: usize = 60;

/// A new path enters the LP when its reduced cost exceeds this much per unit of requested
/// rate (the duals are accurate to about 1e-8).
const PRICE_TOLERANCE: f64 = 1e-6;

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
    /// Intents never priced: `disjoint paths N` intents keep their candidate paths.
    pub candidates_only: usize,
    /// Intents (demand positions) whose path search reached a label cap without finding a
    /// column: there may be an improving path it did not see.
    pub heuristic: BTreeSet<usize>,
}

impl ColumnReport {
    /// Is the allocation optimal over every allowed path of every priceable intent?
    pub fn proven(&self) -> bool {
        self.round_limited == 0
            && self.too_large == 0
            && self.failed == 0
            && !self.budget_spent
            && self.heuristic.is_empty()
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
        if !self.heuristic.is_empty() {
            limits.push(format!(
                "{} intent(s) priced heuristically (the constrained path search reached its label cap)",
                self.heuristic.len()
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
            heuristic: self.heuristic.len(),
            limit: (!limits.is_empty()).then(|| limits.join("; ")),
        }
    }
}

/// Column generation over a compile's class LPs: the pricer and what it did.
pub(super) struct Columns<'t, 'a> {
    pricer: Pricer<'t, 'a>,
    pub(super) report: ColumnReport,
}

impl<'t, 'a> Columns<'t, 'a> {
    pub(super) fn new(
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
    /// limit is reached (counted in the report). Returns the duals of the last round when
    /// it found no column: they are the duals of the LP over the paths the intents now have.
    pub(super) fn generate(
        &mut self,
        topo: &Topology,
        caps: &Capacities,
        demands: &mut [Demand],
        class: &Class,
        stage: Stage,
    ) -> Option<Duals> {
        let positions: Vec<usize> = class.members.iter().chain(class.held).copied().collect();
        if !positions.iter().any(|&i| priceable(demands[i].intent)) {
            return None;
        }
        if positions.len() > COLUMN_LIMIT {
            self.report.too_large += 1;
            return None;
        }
        for _ in 0..COLUMN_ROUNDS {
            if self.report.rounds >= COLUMN_BUDGET {
                self.report.budget_spent = true;
                return None;
            }
            let lp = ClassLp::build(topo, caps, demands, class, stage);
            let Some(duals) = lp.duals(caps.len()) else {
                self.report.failed += 1;
                return None;
            };
            let Duals {
                sigma, rate, pi, ..
            } = &duals;
            self.report.rounds += 1;
            let pricer = &self.pricer;
            let shared: &[Demand] = demands;
            let hop_cost = match stage {
                Stage::MaxMin(_) => 0.0,
                Stage::Throughput(_) => HOP_COST,
            };
            // Per priced intent: the column found (if it is new and its reduced cost, from
            // what the LP charges it, is positive), and whether the search was exact.
            let priced: Vec<(usize, Option<Candidate>, bool)> = positions
                .par_iter()
                .zip(sigma.par_iter().zip(rate))
                .filter_map(|(&i, (&s, &rate))| {
                    let d = &shared[i];
                    let tolerance = PRICE_TOLERANCE / rate;
                    if s <= tolerance || !priceable(d.intent) {
                        return None;
                    }
                    let got = pricer.price(d.intent, rate, s, pi, caps, tolerance, hop_cost);
                    // The best path is one that could not carry its rate before: it stays
                    // out, and the search is no proof that nothing else improves.
                    if got
                        .path
                        .as_ref()
                        .is_some_and(|c| d.dropped.contains(&c.links))
                    {
                        return Some((i, None, false));
                    }
                    let column = got.path.filter(|c| {
                        !d.paths.iter().any(|p| p.links == c.links)
                            && reduced_cost(topo, caps, d.intent.service, rate, s, pi, hop_cost, c)
                                > tolerance
                    });
                    Some((i, column, got.exact))
                })
                .collect();
            let mut found = 0;
            for (i, column, exact) in priced {
                match column {
                    Some(c) => {
                        demands[i].paths.push(c);
                        found += 1;
                    }
                    None if !exact => {
                        self.report.heuristic.insert(i);
                    }
                    None => {}
                }
            }
            if found == 0 {
                return Some(duals);
            }
            self.report.added += found;
        }
        self.report.round_limited += 1;
        None
    }
}
