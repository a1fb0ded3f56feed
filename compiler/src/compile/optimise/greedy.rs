//! The greedy baseline: intents in priority order, each on its shortest allowed path (all of
//! its disjoint paths with `disjoint paths N`), first fit. The optimiser keeps it whenever
//! it scores better, so strata never admits less than greedy.

use super::allocation::{Allocation, commit, start};
use super::demand::{Demand, Fixed};
use crate::compile::resources::usage;
use crate::topology::Topology;

/// Baseline: intents in priority order (then source order), each on its shortest allowed
/// path (all of its disjoint paths with `disjoint paths N`), first fit.
pub fn greedy(topo: &Topology, demands: &[Demand]) -> Allocation {
    greedy_with(topo, demands, &Fixed::new())
}

pub(super) fn greedy_with(topo: &Topology, demands: &[Demand], fixed: &Fixed) -> Allocation {
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
