//! Flows rebuilt from the per-node forwarding tables: each service unit's paths as chains of
//! real links from one endpoint to the other, with flow conservation (the same rate at every
//! node) checked along the way.

use super::codes;
use super::model::{Model, kind_name, service_of};
use super::report::{Out, close, hop_str, path_obj, unit_obj};
use crate::check::CheckedIntent;
use crate::config::{ConfigSet, Defect, ForwardedPaths, PathEntries, paths_from_forwarding};
use std::collections::{BTreeMap, BTreeSet};

/// One path of a service unit, rebuilt from the forwarding tables.
#[derive(Debug, Clone)]
pub(super) struct Flow {
    pub(super) index: usize,
    /// Nodes in order, when the entries chain from one end to the other.
    pub(super) nodes: Vec<String>,
    pub(super) links: Vec<String>,
    /// Every link any entry of the path names (for accounting when the chain is broken).
    pub(super) all_links: BTreeSet<String>,
    /// Every node holding an entry of the path.
    pub(super) entry_nodes: BTreeSet<String>,
    /// Service units per second: the largest rate any node of the path carries.
    pub(super) rate: f64,
    /// The entries chain from the intent's first endpoint to its second.
    pub(super) intact: bool,
    /// Pairs: what the path costs and delivers.
    pub(super) pairs: Option<PairEval>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct PairEval {
    pub(super) raw_fidelity: f64,
    pub(super) rounds: u32,
    pub(super) fidelity: f64,
    /// Elementary pairs per link per delivered pair.
    pub(super) overhead: f64,
    pub(super) wait_s: f64,
}

/// Rebuilds every service unit's paths from the forwarding tables, reporting entries that do
/// not chain, rates that differ along a path and shares that do not add up. Pair paths get
/// their [`PairEval`] afterwards (`purification.rs`).
pub(super) fn reconstruct(
    model: &Model,
    intents: &BTreeMap<&str, &CheckedIntent>,
    configs: &ConfigSet,
    v: &mut Out,
) -> BTreeMap<String, Vec<Flow>> {
    let tables = paths_from_forwarding(
        configs
            .nodes
            .iter()
            .map(|(node, cfg)| (node.as_str(), &cfg.forwarding)),
    );
    let mut flows: BTreeMap<String, Vec<Flow>> = BTreeMap::new();
    let mut reported_unknown = BTreeSet::new();
    for (unit, index, at) in tables.iter() {
        let Some(intent) = intents.get(unit) else {
            if reported_unknown.insert(unit) {
                for node in at.keys() {
                    v.push(
                        codes::UNKNOWN_UNIT,
                        Some(node),
                        unit_obj(unit),
                        "forwarding entries for a service unit no intent defines",
                    );
                }
            }
            continue;
        };
        let flow = rebuild(model, intent, &tables, index, at, v);
        flows.entry(unit.to_string()).or_default().push(flow);
    }
    // Every node of a path gives it the same share of the unit's rate.
    for (unit, list) in &flows {
        let total: f64 = list.iter().map(|f| f.rate).sum();
        for f in list {
            if let Some(at) = tables.entries(unit, f.index) {
                for (node, es) in at {
                    for e in es {
                        if total > 0.0 && !close(e.share, f.rate / total) {
                            v.push(
                                codes::RATE_MISMATCH,
                                Some(node),
                                path_obj(unit, f.index),
                                format!("share {} of the unit's rate, but the path carries {} of {} units/s", e.share, f.rate, total),
                            );
                        }
                    }
                }
            }
        }
    }
    flows
}

/// Rebuilds one path from its entries and checks the chain.
fn rebuild(
    model: &Model,
    intent: &CheckedIntent,
    tables: &ForwardedPaths,
    index: usize,
    at: &PathEntries,
    v: &mut Out,
) -> Flow {
    let unit = intent.name.as_str();
    let obj = path_obj(unit, index);
    let kind = service_of(intent);
    let mut all_links = BTreeSet::new();
    let mut rate: f64 = 0.0;
    let (mut lowest, mut highest) = (f64::INFINITY, f64::NEG_INFINITY);
    for (node, es) in at {
        if es.len() > 1 {
            v.push(
                codes::BROKEN_PATH,
                Some(node),
                obj.clone(),
                format!(
                    "{} forwarding entries for the same path at one node",
                    es.len()
                ),
            );
        }
        for e in es {
            rate = rate.max(e.rate);
            lowest = lowest.min(e.rate);
            highest = highest.max(e.rate);
            if !(e.rate.is_finite() && e.rate > 0.0) {
                v.push(
                    codes::RATE_MISMATCH,
                    Some(node),
                    obj.clone(),
                    format!(
                        "forwards at {} units/s; a path carries a positive rate",
                        e.rate
                    ),
                );
            }
            for h in [&e.virt_prev_hop, &e.virt_next_hop].into_iter().flatten() {
                all_links.insert(h.link.clone());
                // Every hop must name a link of the right kind that joins the two nodes.
                match model.qlinks.get(h.link.as_str()) {
                    Some(l) if l.kind == kind && l.joins(node, &h.node) => {}
                    Some(l) if l.kind != kind => v.push(
                        codes::LINK_NOT_JOINING,
                        Some(node),
                        obj.clone(),
                        format!(
                            "hop to `{}` over `{}`, which is not a {} link",
                            h.node,
                            h.link,
                            kind_name(kind)
                        ),
                    ),
                    Some(l) => v.push(
                        codes::LINK_NOT_JOINING,
                        Some(node),
                        obj.clone(),
                        format!(
                            "hop to `{}` over `{}`, which joins `{}` and `{}`",
                            h.node, h.link, l.ends[0], l.ends[1]
                        ),
                    ),
                    None => v.push(
                        codes::LINK_NOT_JOINING,
                        Some(node),
                        obj.clone(),
                        format!(
                            "hop to `{}` over `{}`, which is not a quantum link of the inventory",
                            h.node, h.link
                        ),
                    ),
                }
            }
        }
    }
    if lowest.is_finite() && highest.is_finite() && !close(lowest, highest) {
        let list: Vec<String> = at
            .iter()
            .flat_map(|(n, es)| es.iter().map(move |e| format!("{} at `{n}`", e.rate)))
            .collect();
        v.push(
            codes::RATE_MISMATCH,
            None,
            obj.clone(),
            format!("the rate differs along the path: {}", list.join(", ")),
        );
    }
    let starts: Vec<&str> = at
        .iter()
        .filter(|(_, es)| es.iter().any(|e| e.virt_prev_hop.is_none()))
        .map(|(n, _)| *n)
        .collect();
    let ends: Vec<&str> = at
        .iter()
        .filter(|(_, es)| es.iter().any(|e| e.virt_next_hop.is_none()))
        .map(|(n, _)| *n)
        .collect();
    let mut intact = true;
    if starts.len() != 1 || ends.len() != 1 {
        intact = false;
        v.push(
            codes::BROKEN_PATH,
            None,
            obj.clone(),
            format!("{} entries without a previous hop ({}) and {} without a next hop ({}); a path has one of each", starts.len(), starts.join(", "), ends.len(), ends.join(", ")),
        );
    }
    // Walk from the first endpoint when it holds an entry, else from the only start.
    let src = intent.endpoints[0].node.as_str();
    let dst = intent.endpoints[1].node.as_str();
    let begin = if at.contains_key(src) {
        src
    } else {
        starts.first().copied().unwrap_or(src)
    };
    let chain = tables.follow(unit, index, begin);
    for defect in &chain.defects {
        intact = false;
        match *defect {
            Defect::StartsMidway { node, prev } => v.push(
                codes::BROKEN_PATH,
                Some(node),
                obj.clone(),
                format!(
                    "the path's first node has a previous hop {}",
                    hop_str(Some(prev))
                ),
            ),
            Defect::Dangling { node, next } => v.push(
                codes::BROKEN_PATH,
                Some(node),
                obj.clone(),
                format!(
                    "next hop `{}` over `{}` holds no forwarding entry for this path",
                    next.node, next.link
                ),
            ),
            Defect::PointsElsewhere {
                node,
                prev,
                from,
                link,
            } => v.push(
                codes::BROKEN_PATH,
                Some(node),
                obj.clone(),
                format!(
                    "previous hop is {}, but `{from}` forwards to it over `{link}`",
                    hop_str(prev)
                ),
            ),
            Defect::Loop { node } => v.push(
                codes::BROKEN_PATH,
                Some(node),
                obj.clone(),
                "the path loops back to a node it already passed",
            ),
        }
    }
    let seen: BTreeSet<&str> = chain.nodes.iter().copied().collect();
    let nodes: Vec<String> = chain.nodes.iter().map(|n| n.to_string()).collect();
    let links: Vec<String> = chain.links.iter().map(|l| l.to_string()).collect();
    for node in at.keys() {
        if !seen.contains(node) {
            intact = false;
            v.push(
                codes::BROKEN_PATH,
                Some(node),
                obj.clone(),
                "forwarding entry off the chain from the path's first node",
            );
        }
    }
    if nodes.first().map(String::as_str) != Some(src)
        || nodes.last().map(String::as_str) != Some(dst)
        || !intact
    {
        let shown = if nodes.is_empty() {
            "nothing".to_string()
        } else {
            nodes.join(" → ")
        };
        if nodes.first().map(String::as_str) != Some(src)
            || nodes.last().map(String::as_str) != Some(dst)
        {
            v.push(
                codes::PATH_ENDPOINTS,
                None,
                obj.clone(),
                format!("the path runs {shown}, not from `{src}` to `{dst}`"),
            );
        }
        intact = false;
    }
    Flow {
        index,
        nodes,
        links,
        all_links,
        entry_nodes: at.keys().map(|n| n.to_string()).collect(),
        rate,
        intact,
        pairs: None,
    }
}

/// Links of a flow for accounting: the chain when it is whole, else every link named.
pub(super) fn accounted_links(f: &Flow) -> Vec<String> {
    if f.intact {
        f.links.clone()
    } else {
        f.all_links.iter().cloned().collect()
    }
}

/// Admitted rate the paths give: the sum, or with `disjoint paths N` the worst case after
/// losing any one path.
pub(super) fn covered(intent: &CheckedIntent, flows: &[Flow]) -> f64 {
    let total: f64 = flows.iter().map(|f| f.rate).sum();
    if intent.constraints.disjoint_paths > 1 {
        flows
            .iter()
            .map(|f| total - f.rate)
            .fold(f64::INFINITY, f64::min)
            .min(total)
    } else {
        total
    }
}

/// Keys: worst link fidelity (1 − QBER). Pairs: end to end after purification.
pub(super) fn path_fidelity(model: &Model, links: &[String], pairs: Option<PairEval>) -> f64 {
    match pairs {
        Some(p) => p.fidelity,
        None => links
            .iter()
            .filter_map(|l| model.qlinks.get(l.as_str()))
            .map(|q| q.fidelity)
            .fold(1.0, f64::min),
    }
}
