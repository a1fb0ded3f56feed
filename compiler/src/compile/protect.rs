//! Restoring protection: when some paths of a `disjoint paths N` intent fail, its surviving
//! paths already carry the whole rate (each carries at least 1/(N − 1) of it), so they stay
//! exactly where they are. Each lost path is replaced by a path that is disjoint from the
//! survivors, avoids what failed, and fits in the capacity every other intent leaves; the
//! replacement takes the lost path's number and rate, so nothing else in the intent's
//! configuration moves. When there is no such path the lost path stays configured and the
//! intent is reported as carried without protection.

use super::explain::{residual, round3};
use super::optimise::{Allocation, Demand};
use super::paths::{self, Candidate, PathOptions};
use super::resources::{Capacities, usage};
use crate::topology::Topology;
use std::collections::BTreeSet;

/// Replaces the `lost` paths of demand `i` in place; returns why protection stays lost, or
/// `None` when every lost path was replaced.
pub fn replace_lost(
    topo: &Topology,
    demands: &mut [Demand],
    alloc: &Allocation,
    i: usize,
    lost: &BTreeSet<usize>,
    options: &PathOptions,
) -> Option<String> {
    let d = &demands[i];
    let wanted = d.intent.constraints.disjoint_paths as usize;
    let slots: Vec<usize> = lost
        .iter()
        .copied()
        .filter(|&p| p < d.paths.len() && alloc.path_rates[i][p] > 0.0)
        .collect();
    if slots.is_empty() {
        return None;
    }
    let survivors: Vec<&Candidate> = (0..d.paths.len())
        .filter(|p| !lost.contains(p) && alloc.path_rates[i][*p] > 0.0)
        .map(|p| &d.paths[p])
        .collect();
    let failed = failed_elements(
        topo,
        &slots.iter().map(|&p| &d.paths[p]).collect::<Vec<_>>(),
    );
    let numbers = slots
        .iter()
        .map(|p| (p + 1).to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let lost_what =
        format!("path {numbers} of {wanted} cannot be replaced by one that avoids {failed}");

    // The search: the intent's own constraints, minus everything the survivors use.
    let mut search = d.intent.clone();
    for s in &survivors {
        search
            .constraints
            .avoid_links
            .extend(s.links.iter().map(|&l| topo.qlinks[l].name.clone()));
        let inner = &s.nodes[1..s.nodes.len().saturating_sub(1)];
        search
            .constraints
            .avoid_nodes
            .extend(inner.iter().map(|&n| topo.nodes[n].name.clone()));
    }
    search.constraints.disjoint_paths = slots.len() as u32;
    let found = match paths::candidates(topo, &search, options) {
        Ok(found) => found,
        Err(blocked) => {
            return Some(format!(
                "{lost_what} and is disjoint from the surviving path(s): {}",
                blocked.describe()
            ));
        }
    };

    // Capacity: what every intent holds, less what the lost paths held.
    let mut left = residual(topo, demands, alloc);
    let shape = Capacities::new(topo);
    let service = demands[i].intent.service;
    for &p in &slots {
        for (res, coef) in usage(topo, &shape, service, &demands[i].paths[p]) {
            left.cap[res.0] += alloc.path_rates[i][p] * coef;
        }
    }
    let fits = |left: &Capacities, c: &Candidate, rate: f64| {
        usage(topo, &shape, service, c)
            .iter()
            .all(|(res, coef)| left.cap[res.0] >= rate * coef * (1.0 - 1e-9))
    };
    let mut chosen: Vec<Candidate> = Vec::new();
    if slots.len() == 1 {
        // Any one path will do: the first, in order of preference, that has the room.
        let rate = alloc.path_rates[i][slots[0]];
        match found.iter().find(|c| fits(&left, c, rate)) {
            Some(c) => chosen.push(c.clone()),
            None => {
                return Some(format!(
                    "{lost_what} and has capacity for {}/s",
                    round3(rate)
                ));
            }
        }
    } else {
        // Several lost paths: the disjoint set found, each with its lost path's rate.
        for (&p, c) in slots.iter().zip(&found) {
            let rate = alloc.path_rates[i][p];
            if !fits(&left, c, rate) {
                return Some(format!(
                    "{lost_what} and has capacity for {}/s",
                    round3(rate)
                ));
            }
            for (res, coef) in usage(topo, &shape, service, c) {
                left.cap[res.0] -= rate * coef;
            }
            chosen.push(c.clone());
        }
        if chosen.len() < slots.len() {
            return Some(format!(
                "{lost_what}: only {} disjoint path(s) are left",
                chosen.len()
            ));
        }
    }
    for (&p, c) in slots.iter().zip(chosen) {
        demands[i].paths[p] = c;
    }
    None
}

/// The links and nodes of `paths` that deliver nothing now, for messages.
fn failed_elements(topo: &Topology, paths: &[&Candidate]) -> String {
    let mut out = BTreeSet::new();
    for p in paths {
        for &l in &p.links {
            if topo.qlinks[l].usable <= 0.0 {
                out.insert(format!("link {}", topo.qlinks[l].name));
            }
        }
    }
    if out.is_empty() {
        "the failed element".to_string()
    } else {
        out.into_iter().collect::<Vec<_>>().join(", ")
    }
}
