//! What the optimiser produces ([`Allocation`]: admitted rates and path rates) and how an
//! allocation is reserved against the capacities: fixed demands first, each demand's rates
//! committed within what is left (solver round-off repaired), and released again.

use super::demand::{Demand, EPS, Fixed, covered};
use super::pricing::ColumnReport;
use crate::compile::resources::{Capacities, usage};
use crate::topology::Topology;
use std::collections::BTreeMap;

/// A path rate (or an admitted rate) below this fraction of the intent's requested rate is
/// solver round-off, not an allocation: it is 0 instead, so that no `0.000000195 of 10/s`
/// reaches a summary.
pub const RATE_FLOOR: f64 = 1e-6;

/// Service units per second per demand and per path.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    pub admitted: Vec<f64>,
    pub path_rates: Vec<Vec<f64>>,
    /// What column generation did to reach this allocation.
    pub columns: ColumnReport,
}

impl Allocation {
    pub(super) fn empty(demands: &[Demand]) -> Allocation {
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

/// Reserves the fixed demands first, exactly as given: they hold their capacity already,
/// and a protected intent keeps the rate of a path that is down so that the path carries
/// again the moment the failed element returns.
pub(super) fn start(
    topo: &Topology,
    demands: &[Demand],
    fixed: &Fixed,
) -> (Capacities, Allocation) {
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

/// Gives back what a demand's path rates reserve.
pub(super) fn release(topo: &Topology, caps: &mut Capacities, d: &Demand, rates: &[f64]) {
    let shape = caps.clone();
    for (p, r) in rates.iter().enumerate() {
        for (res, coef) in usage(topo, &shape, d.intent.service, &d.paths[p]) {
            caps.cap[res.0] += r * coef;
        }
    }
}

/// Reserves a demand's path rates, keeping them within the remaining capacity.
pub(super) fn commit(
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
