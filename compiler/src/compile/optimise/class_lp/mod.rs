//! One LP of a priority class, reduced before it is solved and then solved by either
//! solver: the simplex (microlp) for the allocation, the interior-point solver (clarabel)
//! for the duals that price new columns, with the simplex over the dual LP when clarabel
//! does not converge (or HiGHS for both, with the `highs` feature). The solvers are chosen
//! in `model.rs` and nowhere else.
//!
//! Three exact reductions keep the LPs small (`reduce.rs`):
//! - **Identical members are one entry.** Members with the same paths, the same use of every
//!   resource and (max-min stage) the same level share their paths' capacity in one
//!   coverage row; their admitted fractions stay separate variables (bounds, not rows), so
//!   the throughput objective is unchanged, and in the max-min stage they are symmetric and
//!   share one fraction. 100,000 intents between a handful of endpoints are a handful of
//!   rows.
//! - **Rows that cannot bind are left out.** A resource whose load is within its capacity
//!   even if every intent crossing it had all of its requested rate on its heaviest path
//!   there (each of the N disjoint paths at a share 1/(N − 1)) has no row. Path rates are
//!   normalised after the solve (no intent's paths carry more than it is admitted), so the
//!   bound holds and the rows left out are never exceeded; their duals are 0.
//! - **Independent parts are separate LPs.** Entries that share no remaining row are solved
//!   apart, in parallel: the throughput objective is a sum over parts; in the max-min stage
//!   the class's level is the lowest part's, and the duals of a part above it are 0 (as in
//!   the LP of the whole class, where such a part has slack).
//!
//! An entry none of whose paths has a row left is served in full without an LP: all on its
//! path with the fewest hops (each of N disjoint paths a share 1/(N − 1)).

mod model;
mod reduce;

use super::demand::Demand;
use crate::compile::resources::{Capacities, Resource};
use crate::topology::Topology;
use model::{Part, PartDuals, PartSolution};
use rayon::prelude::*;
use reduce::{Entry, Role};

/// Relative weight of the path-length tie-break in the objective.
pub(super) const HOP_COST: f64 = 1e-6;

/// A part whose max-min level exceeds the lowest by more than this has slack at the class's
/// level.
const LEVEL_SLACK: f64 = 1e-7;

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
    /// Per LP intent: the rate its reduced cost is counted per — its requested rate, or for
    /// identical members sharing one row their mean requested rate (the path-length
    /// tie-break and the pricing tolerance are per unit of it).
    pub(super) rate: Vec<f64>,
    /// Per resource: what one more unit of it is worth (0 without a capacity row).
    pub(super) pi: Vec<f64>,
    /// Per member, max-min stage: the dual of its row `level ≤ fraction` (0 otherwise).
    pub(super) tau: Vec<f64>,
    /// The max-min level reached (max-min stage).
    pub(super) fraction: f64,
}

/// One LP of a class (see `levels.rs`), reduced (see the module doc) and solved part by
/// part.
///
/// Each part's LP is scaled so that both solvers see numbers near 1: each path variable is
/// the fraction of its entry's requested rate it carries, each admitted variable the
/// fraction admitted, and each capacity row is divided by the capacity. The objective keeps
/// its value (Σ admitted / requested − hop tie-break). Every row is written `expression ≤
/// constant`, so every dual is ≥ 0; [`ClassLp::duals`] turns them back into prices per unit
/// of rate and per unit of resource.
pub(super) struct ClassLp<'d> {
    max_min: bool,
    /// LP intents: the class's members, then its held intents.
    positions: usize,
    members: usize,
    entries: Vec<Entry<'d>>,
    /// Entries that share rows, each solved as one LP.
    parts: Vec<Part>,
}

impl<'d> ClassLp<'d> {
    pub(super) fn build(
        topo: &Topology,
        caps: &Capacities,
        demands: &'d [Demand],
        class: &Class,
        stage: Stage,
    ) -> ClassLp<'d> {
        let max_min = matches!(stage, Stage::MaxMin(_));
        let entries = reduce::entries(topo, caps, demands, class, stage);
        let parts = reduce::parts(caps, &entries, max_min);
        ClassLp {
            max_min,
            positions: class.members.len() + class.held.len(),
            members: class.members.len(),
            entries,
            parts,
        }
    }

    /// The allocation at a vertex of the LP: path rates (service units per second) per LP
    /// intent, and the smallest fraction (max-min stage).
    pub(super) fn solve(self) -> Option<(PathRates, f64)> {
        let solved: Vec<Option<PartSolution>> = self
            .parts
            .par_iter()
            .map(|p| p.solve(&self.entries))
            .collect();
        let mut fractions: Vec<Option<Vec<f64>>> = vec![None; self.entries.len()];
        let mut flows: Vec<Option<Vec<f64>>> = vec![None; self.entries.len()];
        let mut level: f64 = 1.0;
        for (part, sol) in self.parts.iter().zip(solved) {
            let sol = sol?;
            level = level.min(sol.level);
            for ((&e, f), y) in part.entries.iter().zip(sol.fractions).zip(sol.flows) {
                fractions[e] = Some(f);
                flows[e] = Some(y);
            }
        }
        let mut rates: PathRates = vec![Vec::new(); self.positions];
        for (k, entry) in self.entries.iter().enumerate() {
            let (f, y) = match (fractions[k].take(), flows[k].take()) {
                (Some(f), Some(y)) => (f, y),
                _ => entry.served_in_full(),
            };
            for (pos, r) in entry.split(&f, &y) {
                rates[pos] = r;
            }
        }
        Some((rates, level))
    }

    /// The duals of the LP (see `model.rs` for the solver).
    pub(super) fn duals(self, resources: usize) -> Option<Duals> {
        let solved: Vec<Option<PartDuals>> = self
            .parts
            .par_iter()
            .map(|p| p.duals(&self.entries))
            .collect();
        let solved: Vec<PartDuals> = solved.into_iter().collect::<Option<_>>()?;
        let fraction = solved.iter().map(|d| d.level).fold(1.0, f64::min);
        let mut sigma = vec![0.0; self.positions];
        let mut rate = vec![0.0; self.positions];
        let mut pi = vec![0.0; resources];
        let mut tau = vec![0.0; self.members];
        for entry in &self.entries {
            let each = entry.total / entry.who.len() as f64;
            // Served in full: one more unit of coverage saves the tie-break of its shortest
            // path (throughput stage); a part's rows below say the rest.
            let free = if self.max_min || entry.disjoint > 1 {
                0.0
            } else {
                entry.who.len() as f64 * HOP_COST * entry.fewest_hops() as f64 / entry.total
            };
            for &pos in &entry.who {
                sigma[pos] = free;
                rate[pos] = each;
            }
        }
        for (part, d) in self.parts.iter().zip(solved) {
            // A part above the class's level has slack there: no price (max-min stage).
            if self.max_min && d.level > fraction + LEVEL_SLACK {
                for &e in &part.entries {
                    for &pos in &self.entries[e].who {
                        sigma[pos] = 0.0;
                    }
                }
                continue;
            }
            for (&e, (cover, level)) in part.entries.iter().zip(d.entries) {
                let entry = &self.entries[e];
                for &pos in &entry.who {
                    sigma[pos] = cover.map_or(0.0, |c| c / entry.total);
                    if pos < self.members {
                        tau[pos] = level;
                    }
                }
            }
            for (Resource(r), price) in d.prices {
                pi[r] = price;
            }
        }
        Some(Duals {
            sigma,
            rate,
            pi,
            tau,
            fraction,
        })
    }
}

impl Entry<'_> {
    /// The fractions and path flows of an entry with no row: every member in full, on the
    /// path with the fewest hops (a share on each of N disjoint paths).
    fn served_in_full(&self) -> (Vec<f64>, Vec<f64>) {
        let full = match &self.role {
            Role::Held { fraction } => *fraction,
            Role::Members { .. } => 1.0,
        };
        let fractions = vec![full; self.who.len()];
        let mut flows = vec![0.0; self.paths.len()];
        if self.disjoint > 1 {
            flows.fill(full / f64::from(self.disjoint - 1));
        } else if let Some(p) = (0..self.paths.len()).min_by_key(|&p| self.paths[p].hops) {
            flows[p] = full;
        }
        (fractions, flows)
    }

    fn fewest_hops(&self) -> usize {
        self.paths.iter().map(|p| p.hops).min().unwrap_or(0)
    }

    /// Each LP intent's path rates (service units per second) from the entry's admitted
    /// fractions (one per member, or one shared) and path flows (fractions of the entry's
    /// total rate): each intent's share of every path in proportion to what it is admitted,
    /// scaled to carry exactly that (N disjoint paths: a share 1/(N − 1) each). Never more
    /// than the flows, so every capacity row, kept or not, holds.
    fn split(&self, fractions: &[f64], flows: &[f64]) -> Vec<(usize, Vec<f64>)> {
        let total: f64 = flows.iter().map(|y| y.max(0.0)).sum();
        self.who
            .iter()
            .enumerate()
            .map(|(k, &pos)| {
                let f = fractions
                    .get(k)
                    .or(fractions.first())
                    .copied()
                    .unwrap_or(0.0);
                let admitted = f.clamp(0.0, 1.0) * self.rates[k];
                let rates = if admitted <= 0.0 {
                    vec![0.0; flows.len()]
                } else if self.disjoint > 1 {
                    vec![admitted / f64::from(self.disjoint - 1); flows.len()]
                } else if total > 0.0 {
                    flows
                        .iter()
                        .map(|y| admitted * y.max(0.0) / total)
                        .collect()
                } else {
                    vec![0.0; flows.len()]
                };
                (pos, rates)
            })
            .collect()
    }
}
