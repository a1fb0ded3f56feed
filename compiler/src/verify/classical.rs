//! Classical links: the bandwidth the connectivity model needs for key sifting, heralds,
//! relays and swaps, recomputed and checked against each classical link and what it reserves.

use super::capacity::Usage;
use super::codes;
use super::flows::Flow;
use super::model::{Model, RELAY_OVERHEAD_BITS, SWAP_MESSAGE_BITS};
use super::report::{Out, close, path_obj, unit_obj, within};
use crate::check::{CheckedIntent, Service};
use crate::config::{ClassicalLinkConfig, ConfigSet, ConnectivityConfig};
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn check_classical(
    model: &Model,
    configs: &ConfigSet,
    flows: &BTreeMap<String, Vec<Flow>>,
    intents: &BTreeMap<&str, &CheckedIntent>,
    usage: &Usage,
    v: &mut Out,
) {
    // Classical channels of quantum links: one per link end, as the model sizes them.
    let mut channel: BTreeMap<&str, (f64, BTreeSet<String>)> = BTreeMap::new();
    for (node, cfg) in &configs.nodes {
        let ConnectivityConfig {
            classical_channels, ..
        } = &cfg.connectivity;
        for ch in classical_channels {
            let obj = format!("classical channel of `{}`", ch.quantum_link);
            let Some(q) = model.qlinks.get(ch.quantum_link.as_str()) else {
                v.push(
                    codes::CLASSICAL_CHANNEL,
                    Some(node),
                    obj,
                    "channel of a quantum link the inventory does not define",
                );
                continue;
            };
            if q.other(node).is_none() {
                v.push(
                    codes::CLASSICAL_CHANNEL,
                    Some(node),
                    obj.clone(),
                    "channel of a quantum link that does not end at this node",
                );
            }
            if ch
                .path
                .iter()
                .map(String::as_str)
                .ne(q.classical.iter().copied())
                || !close(ch.bandwidth_bps, q.channel_bps)
            {
                v.push(
                    codes::CLASSICAL_CHANNEL,
                    Some(node),
                    obj,
                    format!(
                        "{} bit/s over [{}], expected {:.9} bit/s over [{}]",
                        ch.bandwidth_bps,
                        ch.path.join(", "),
                        q.channel_bps,
                        q.classical.join(", ")
                    ),
                );
            }
            let entry = channel.entry(ch.quantum_link.as_str()).or_default();
            entry.0 = entry.0.max(ch.bandwidth_bps);
            entry.1.extend(ch.path.iter().cloned());
        }
    }
    for (name, q) in &model.qlinks {
        for end in q.ends {
            let has = configs.nodes.get(end).is_some_and(|c| {
                c.connectivity
                    .classical_channels
                    .iter()
                    .any(|ch| ch.quantum_link == *name)
            });
            if configs.nodes.contains_key(end) && !has {
                v.push(
                    codes::CLASSICAL_CHANNEL,
                    Some(end),
                    format!("classical channel of `{name}`"),
                    "no classical channel for this quantum link end",
                );
            }
        }
    }
    // Classical paths: one per hop of every path, at the node the hop leaves.
    // (node, unit, path, quantum link) → (classical links, bit/s).
    type HopKey = (String, String, usize, String);
    let mut expected: BTreeMap<HopKey, (Vec<&str>, f64)> = BTreeMap::new();
    for (unit, list) in flows {
        let intent = intents[unit.as_str()];
        for f in list.iter().filter(|f| f.intact) {
            let per_msg = match (intent.service, f.pairs) {
                (Service::Keys { size_bits }, _) => f64::from(size_bits) + RELAY_OVERHEAD_BITS,
                (Service::Pairs, Some(pe)) => SWAP_MESSAGE_BITS * pe.overhead,
                (Service::Pairs, None) => SWAP_MESSAGE_BITS,
            };
            for (i, l) in f.links.iter().enumerate() {
                let classical = model
                    .qlinks
                    .get(l.as_str())
                    .map(|q| q.classical.clone())
                    .unwrap_or_default();
                expected.insert(
                    (f.nodes[i].clone(), unit.clone(), f.index, l.clone()),
                    (classical, f.rate * per_msg),
                );
            }
        }
    }
    let mut traffic_written: BTreeMap<&str, f64> = BTreeMap::new();
    let mut found = BTreeSet::new();
    for (node, cfg) in &configs.nodes {
        for p in &cfg.connectivity.classical_paths {
            for c in &p.classical_links {
                *traffic_written.entry(c.as_str()).or_default() += p.bandwidth_bps;
            }
            let obj = format!(
                "classical path of {} over `{}`",
                path_obj(&p.service_unit, p.path),
                p.quantum_link
            );
            if !intents.contains_key(p.service_unit.as_str()) {
                v.push(
                    codes::UNKNOWN_UNIT,
                    Some(node),
                    unit_obj(&p.service_unit),
                    "classical path for a service unit no intent defines",
                );
                continue;
            }
            let key = (
                node.clone(),
                p.service_unit.clone(),
                p.path,
                p.quantum_link.clone(),
            );
            let Some((links, bps)) = expected.get(&key) else {
                // Broken paths are reported as such; only flag entries of whole paths.
                let whole = flows
                    .get(&p.service_unit)
                    .is_some_and(|l| l.iter().any(|f| f.index == p.path && f.intact));
                if whole || !flows.contains_key(&p.service_unit) {
                    v.push(
                        codes::CLASSICAL_PATH,
                        Some(node),
                        obj,
                        "no hop of the path leaves this node over this quantum link",
                    );
                }
                continue;
            };
            if !found.insert(key.clone()) {
                v.push(
                    codes::CLASSICAL_PATH,
                    Some(node),
                    obj.clone(),
                    "two classical paths for the same hop",
                );
            }
            if p.classical_links
                .iter()
                .map(String::as_str)
                .ne(links.iter().copied())
                || !close(p.bandwidth_bps, *bps)
            {
                v.push(
                    codes::CLASSICAL_PATH,
                    Some(node),
                    obj,
                    format!(
                        "{} bit/s over [{}], expected {bps:.9} bit/s over [{}]",
                        p.bandwidth_bps,
                        p.classical_links.join(", "),
                        links.join(", ")
                    ),
                );
            }
        }
    }
    for (node, unit, path, link) in expected.keys() {
        if configs.nodes.contains_key(node)
            && !found.contains(&(node.clone(), unit.clone(), *path, link.clone()))
        {
            v.push(
                codes::CLASSICAL_PATH,
                Some(node),
                format!("classical path of {} over `{link}`", path_obj(unit, *path)),
                "the hop leaving this node has no classical path",
            );
        }
    }
    // Capacity of every classical link: channels plus service traffic, as written and as
    // the forwarding tables imply, whichever is larger.
    let mut entries: BTreeMap<(&str, &str), &ClassicalLinkConfig> = BTreeMap::new();
    for (node, cfg) in &configs.nodes {
        for c in &cfg.connectivity.classical_links {
            let obj = format!("classical link `{}`", c.link_id);
            let Some(l) = model.clinks.get(c.link_id.as_str()) else {
                v.push(
                    codes::LINK_ENDS,
                    Some(node),
                    obj,
                    "no classical link of this name in the inventory",
                );
                continue;
            };
            let ok_end = (l.ends[0] == node && l.ends[1] == c.remote_node)
                || (l.ends[1] == node && l.ends[0] == c.remote_node);
            if !ok_end {
                v.push(
                    codes::LINK_ENDS,
                    Some(node),
                    obj,
                    format!(
                        "configured towards `{}`, but the link joins `{}` and `{}`",
                        c.remote_node, l.ends[0], l.ends[1]
                    ),
                );
                continue;
            }
            if entries
                .insert((c.link_id.as_str(), node.as_str()), c)
                .is_some()
            {
                v.push(
                    codes::LINK_ENDS,
                    Some(node),
                    obj,
                    "configured twice at this node",
                );
            }
        }
    }
    for (name, l) in &model.clinks {
        let obj = format!("classical link `{name}`");
        let channels_model: f64 = model
            .qlinks
            .values()
            .filter(|q| q.classical.contains(name))
            .map(|q| q.channel_bps)
            .sum();
        let channels_written: f64 = channel
            .values()
            .filter(|(_, path)| path.contains(*name))
            .map(|(bps, _)| bps)
            .sum();
        let traffic_model = usage.traffic.get(*name).copied().unwrap_or(0.0);
        let traffic = traffic_written.get(name).copied().unwrap_or(0.0);
        let load = channels_model.max(channels_written) + traffic_model.max(traffic);
        if !within(load, l.bandwidth_bps) {
            v.push(
                codes::CLASSICAL_CAPACITY,
                None,
                obj.clone(),
                format!(
                    "{:.3} bit/s of quantum-link channels and {:.3} bit/s of relay/swap traffic, over its {} bit/s",
                    channels_model.max(channels_written),
                    traffic_model.max(traffic),
                    l.bandwidth_bps
                ),
            );
        }
        let mut ends = Vec::new();
        for end in l.ends {
            if !configs.nodes.contains_key(end) {
                continue;
            }
            let Some(c) = entries.get(&(*name, end)) else {
                v.push(
                    codes::LINK_ENDS,
                    Some(end),
                    obj.clone(),
                    "not configured at this end",
                );
                continue;
            };
            ends.push(*c);
            if c.bandwidth_bps != l.bandwidth_bps || c.latency_ms != l.latency_ms {
                v.push(
                    codes::FIGURES,
                    Some(end),
                    obj.clone(),
                    format!(
                        "{} bit/s, {} ms written; the inventory says {} bit/s, {} ms",
                        c.bandwidth_bps, c.latency_ms, l.bandwidth_bps, l.latency_ms
                    ),
                );
            }
            let reserved = channels_model + traffic_model;
            if !close(c.reserved_bps, reserved) {
                v.push(
                    codes::RESERVATION,
                    Some(end),
                    obj.clone(),
                    format!(
                        "reserved_bps {}, but channels and paths need {reserved:.9}",
                        c.reserved_bps
                    ),
                );
            }
        }
        if let [a, b] = ends.as_slice()
            && (a.bandwidth_bps != b.bandwidth_bps
                || a.reserved_bps != b.reserved_bps
                || a.latency_ms != b.latency_ms)
        {
            v.push(
                codes::LINK_ENDS,
                None,
                obj,
                "the two ends of the link disagree",
            );
        }
    }
}
