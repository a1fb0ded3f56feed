//! One intent as the optimiser sees it ([`Demand`]), the rate its paths cover, and the path
//! rates a re-plan fixes in advance ([`Fixed`]).

use crate::check::CheckedIntent;
use crate::compile::paths::Candidate;
use std::collections::BTreeMap;

/// Rates below this many service units per second are treated as zero.
pub(super) const EPS: f64 = 1e-9;

/// One intent as the optimiser sees it.
pub struct Demand<'a> {
    pub intent: &'a CheckedIntent,
    /// Its candidate paths, then any path column generation added.
    pub paths: Vec<Candidate>,
    /// How many of `paths` are the candidates it started with.
    pub candidates: usize,
    /// Requested service units per second.
    pub rate: f64,
    /// Paths taken out because they could not carry their rate (as links): column
    /// generation never offers them again, so a re-plan without them ends.
    pub dropped: Vec<Vec<usize>>,
}

impl<'a> Demand<'a> {
    pub fn new(intent: &'a CheckedIntent, paths: Vec<Candidate>, rate: f64) -> Demand<'a> {
        Demand {
            intent,
            candidates: paths.len(),
            paths,
            rate,
            dropped: Vec::new(),
        }
    }
}

/// Admitted rate implied by path rates: the sum, or with N disjoint paths what every path
/// carries times N − 1 (each path carries at least a share 1/(N − 1), so losing any one
/// still leaves the full rate).
pub(super) fn covered(d: &Demand, rates: &[f64]) -> f64 {
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
