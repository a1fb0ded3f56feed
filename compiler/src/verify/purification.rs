//! Entanglement paths re-evaluated from the forwarding tables: purification entries, the
//! delivered pair rate and fidelity after purification and swapping, and the swap entries.

use super::codes;
use super::flows::{Flow, PairEval, accounted_links};
use super::model::{Model, QLink, SWAP_SUCCESS};
use super::report::{Out, TOL, close, path_obj, unit_obj};
use crate::check::{CheckedIntent, Service};
use crate::config::{ConfigSet, Hop, PurificationEntry};
use crate::physics;
use std::collections::{BTreeMap, BTreeSet};

/// Purification entries per (service unit, path index), with the node holding each.
type Purifications<'c> = BTreeMap<(String, usize), Vec<(&'c str, &'c PurificationEntry)>>;

/// Evaluates every pair path of `flows` ([`Flow::pairs`]) from its purification entries, then
/// checks purification the tables hold for anything else and the swap entries.
pub(super) fn evaluate_pair_paths(
    model: &Model,
    intents: &BTreeMap<&str, &CheckedIntent>,
    configs: &ConfigSet,
    flows: &mut BTreeMap<String, Vec<Flow>>,
    v: &mut Out,
) {
    // Purification entries per (unit, path), with the node that runs them.
    let mut purification: Purifications = BTreeMap::new();
    for (node, cfg) in &configs.nodes {
        for p in &cfg.forwarding.purification {
            purification
                .entry((p.service_unit.clone(), p.path))
                .or_default()
                .push((node.as_str(), p));
        }
    }
    // Pair paths: fidelity, purification and overhead.
    for (unit, list) in flows.iter_mut() {
        let intent = intents[unit.as_str()];
        if intent.service == Service::Pairs {
            for f in list.iter_mut() {
                f.pairs = Some(evaluate_pairs(model, intent, f, &purification, configs, v));
            }
        }
    }
    // Purification of anything but a pair path that the tables hold.
    for ((unit, path), at) in &purification {
        let pair_path = flows
            .get(unit)
            .is_some_and(|l| l.iter().any(|f| f.index == *path && f.pairs.is_some()));
        if !pair_path {
            for (node, _) in at {
                v.push(
                    codes::PURIFICATION,
                    Some(node),
                    path_obj(unit, *path),
                    "purification of a path no forwarding entry carries pairs on",
                );
            }
        }
    }
    check_swaps(intents, configs, flows, v);
}

/// Fidelity, purification and elementary-pair overhead of a pair path.
fn evaluate_pairs(
    model: &Model,
    intent: &CheckedIntent,
    f: &Flow,
    purification: &Purifications,
    configs: &ConfigSet,
    v: &mut Out,
) -> PairEval {
    let unit = intent.name.as_str();
    let obj = path_obj(unit, f.index);
    let links = accounted_links(f);
    let qlinks: Vec<&QLink> = links
        .iter()
        .filter_map(|l| model.qlinks.get(l.as_str()))
        .collect();
    let fids: Vec<f64> = qlinks.iter().map(|l| l.fidelity).collect();
    let wait_s = qlinks.iter().map(|l| l.latency_ms).sum::<f64>() / 1e3;
    let path_nodes: Vec<&str> = if f.intact {
        f.nodes.iter().map(String::as_str).collect()
    } else {
        f.entry_nodes.iter().map(String::as_str).collect()
    };
    let coherence = path_nodes
        .iter()
        .filter_map(|n| model.nodes.get(n).and_then(|n| n.memory))
        .map(|m| m.coherence_time_s)
        .fold(f64::INFINITY, f64::min);
    let chain = physics::chain_fidelity(&fids);
    let raw = if coherence.is_finite() {
        physics::decohered_fidelity(chain, wait_s, coherence)
    } else {
        chain
    };
    // Purification is run by the two end nodes; their entries must agree. Raw pairs wait
    // there for their partners, at the rate the path carries.
    let ends = [
        intent.endpoints[0].node.as_str(),
        intent.endpoints[1].node.as_str(),
    ];
    let end_coherence = ends
        .iter()
        .filter_map(|n| model.nodes.get(n).and_then(|n| n.memory))
        .map(|m| m.coherence_time_s)
        .fold(f64::INFINITY, f64::min);
    let stored = |rounds: u32| physics::purify_stored(raw, rounds, f.rate, end_coherence);
    let mut rounds: Option<u32> = None;
    let mut seen_at = Vec::new();
    let here = purification.get(&(unit.to_string(), f.index));
    for &(node, p) in here.into_iter().flatten() {
        seen_at.push(node);
        if !ends.contains(&node) {
            v.push(
                codes::PURIFICATION,
                Some(node),
                obj.clone(),
                "purification scheduled at a node that is not an end of the path",
            );
            continue;
        }
        let peer = if node == ends[0] { ends[1] } else { ends[0] };
        if p.peer != peer {
            v.push(
                codes::PURIFICATION,
                Some(node),
                obj.clone(),
                format!("purification peer `{}`, expected `{peer}`", p.peer),
            );
        }
        match rounds {
            None => rounds = Some(p.rounds),
            Some(r) if r != p.rounds => v.push(
                codes::PURIFICATION,
                Some(node),
                obj.clone(),
                format!(
                    "{} purification rounds here, {r} at the other end",
                    p.rounds
                ),
            ),
            Some(_) => {}
        }
        let s = stored(p.rounds);
        if !close(p.fidelity_in, raw) || !close(p.fidelity_out, s.fidelity) {
            v.push(
                codes::PURIFICATION,
                Some(node),
                obj.clone(),
                format!(
                    "fidelity {} → {} written, recomputed {raw:.9} → {:.9} over {} round(s) at {} pairs/s",
                    p.fidelity_in, p.fidelity_out, s.fidelity, p.rounds, f.rate
                ),
            );
        }
        if !close(p.raw_pairs_per_s, s.raw_rate_per_s) || !close(p.storage_wait_s, s.wait_s) {
            v.push(
                codes::PURIFICATION,
                Some(node),
                obj.clone(),
                format!(
                    "{} raw pairs/s waiting {} s written, recomputed {:.9} pairs/s waiting {:.9} s for {} pairs/s over {} round(s)",
                    p.raw_pairs_per_s, p.storage_wait_s, s.raw_rate_per_s, s.wait_s, f.rate, p.rounds
                ),
            );
        }
    }
    let rounds = rounds.unwrap_or(0);
    if rounds > 0 {
        for end in ends {
            if configs.nodes.contains_key(end) && !seen_at.contains(&end) {
                v.push(
                    codes::PURIFICATION,
                    Some(end),
                    obj.clone(),
                    "the other end purifies this path, this end does not",
                );
            }
        }
    }
    // The reservation is sized for the least rate that keeps the fidelity bound; a path
    // carrying less would see its raw pairs decay waiting for their partners.
    let min_rate = match intent.min_fidelity {
        Some(target) => physics::purification_min_rate(raw, rounds, end_coherence, target)
            .unwrap_or(f64::INFINITY),
        None => 0.0,
    };
    if rounds > 0 && f.rate > 0.0 && f.rate < min_rate * (1.0 - TOL) {
        v.push(
            codes::PURIFICATION,
            None,
            obj.clone(),
            format!(
                "the path carries {} pairs/s, below the {min_rate:.9} pairs/s at which its raw pairs arrive fast enough to keep fidelity {} after {rounds} round(s)",
                f.rate,
                intent.min_fidelity.unwrap_or(0.0)
            ),
        );
    }
    let fidelity = stored(rounds).fidelity;
    let factor = if min_rate > 0.0 && min_rate.is_finite() {
        physics::purify_stored(raw, rounds, min_rate, end_coherence).factor
    } else {
        physics::purify(raw, rounds).1
    };
    let swaps = physics::elementary_pairs_per_link_per_s(1.0, links.len(), SWAP_SUCCESS);
    let overhead = if factor > 0.0 {
        swaps / factor
    } else {
        f64::INFINITY
    };
    PairEval {
        raw_fidelity: raw,
        rounds,
        fidelity,
        overhead,
        wait_s,
    }
}

fn check_swaps(
    intents: &BTreeMap<&str, &CheckedIntent>,
    configs: &ConfigSet,
    flows: &BTreeMap<String, Vec<Flow>>,
    v: &mut Out,
) {
    // Expected swaps: every intermediate node of an intact pair path.
    let mut expected: BTreeMap<(String, String, usize), (Hop, Hop, f64)> = BTreeMap::new();
    for (unit, list) in flows {
        for f in list.iter().filter(|f| f.intact) {
            let Some(pe) = f.pairs else { continue };
            for i in 1..f.nodes.len().saturating_sub(1) {
                let left = Hop {
                    node: f.nodes[i - 1].clone(),
                    link: f.links[i - 1].clone(),
                };
                let right = Hop {
                    node: f.nodes[i + 1].clone(),
                    link: f.links[i].clone(),
                };
                expected.insert(
                    (f.nodes[i].clone(), unit.clone(), f.index),
                    (left, right, f.rate * pe.overhead),
                );
            }
        }
    }
    let mut found = BTreeSet::new();
    for (node, cfg) in &configs.nodes {
        for s in &cfg.forwarding.swap_schedule {
            let obj = path_obj(&s.service_unit, s.path);
            if !intents.contains_key(s.service_unit.as_str()) {
                v.push(
                    codes::UNKNOWN_UNIT,
                    Some(node),
                    unit_obj(&s.service_unit),
                    "swap entry for a service unit no intent defines",
                );
                continue;
            }
            let key = (node.clone(), s.service_unit.clone(), s.path);
            match expected.get(&key) {
                None => v.push(
                    codes::SWAP_SCHEDULE,
                    Some(node),
                    obj,
                    "swap entry at a node that is not an intermediate node of this path",
                ),
                Some((left, right, rate)) => {
                    if !found.insert(key.clone()) {
                        v.push(
                            codes::SWAP_SCHEDULE,
                            Some(node),
                            obj.clone(),
                            "two swap entries for the same path",
                        );
                    }
                    if (&s.left, &s.right) != (left, right) && (&s.left, &s.right) != (right, left)
                    {
                        v.push(
                            codes::SWAP_SCHEDULE,
                            Some(node),
                            obj.clone(),
                            format!("swaps `{}`/`{}` with `{}`/`{}`, but the path's hops are `{}`/`{}` and `{}`/`{}`",
                                s.left.node, s.left.link, s.right.node, s.right.link, left.node, left.link, right.node, right.link),
                        );
                    }
                    if !close(s.rate, *rate) || !close(s.success_probability, SWAP_SUCCESS) {
                        v.push(
                            codes::SWAP_SCHEDULE,
                            Some(node),
                            obj,
                            format!(
                                "{} swaps/s at success {}, expected {rate:.9} at {SWAP_SUCCESS}",
                                s.rate, s.success_probability
                            ),
                        );
                    }
                }
            }
        }
    }
    for (node, unit, path) in expected.keys() {
        if configs.nodes.contains_key(node) && !found.contains(&(node.clone(), unit.clone(), *path))
        {
            v.push(
                codes::SWAP_SCHEDULE,
                Some(node),
                path_obj(unit, *path),
                "no swap entry at this intermediate node",
            );
        }
    }
}
