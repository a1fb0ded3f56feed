//! Link capacities: what the forwarding tables reserve on each QKD and entanglement link,
//! recomputed, checked against the physics and against the reservations each link end reports.

use super::codes;
use super::flows::{Flow, accounted_links};
use super::model::{KEY_HEADROOM, Kind, Model, RELAY_OVERHEAD_BITS, SWAP_MESSAGE_BITS, kind_name};
use super::report::{Out, close, within};
use crate::check::{CheckedIntent, Service};
use crate::config::{ConfigSet, NodeConfig, Reservation};
use std::collections::{BTreeMap, BTreeSet};

/// What the forwarding tables reserve, recomputed.
#[derive(Default)]
pub(super) struct Usage {
    /// Quantum link → service unit → key bits/s (QKD) or elementary pairs/s.
    pub(super) qlink: BTreeMap<String, BTreeMap<String, f64>>,
    /// Classical link → service traffic, bit/s (relay or swap messages).
    pub(super) traffic: BTreeMap<String, f64>,
    /// Node → qubits held.
    pub(super) memory: BTreeMap<String, f64>,
}

impl Usage {
    pub(super) fn of(
        model: &Model,
        intents: &BTreeMap<&str, &CheckedIntent>,
        flows: &BTreeMap<String, Vec<Flow>>,
    ) -> Usage {
        let mut u = Usage::default();
        for (unit, list) in flows {
            let intent = intents[unit.as_str()];
            for f in list {
                let links = accounted_links(f);
                let (per_link, per_msg) = match (intent.service, f.pairs) {
                    (Service::Keys { size_bits }, _) => {
                        let bits = f64::from(size_bits);
                        (bits, bits + RELAY_OVERHEAD_BITS)
                    }
                    (Service::Pairs, Some(pe)) => (pe.overhead, SWAP_MESSAGE_BITS * pe.overhead),
                    (Service::Pairs, None) => (1.0, SWAP_MESSAGE_BITS),
                };
                for l in &links {
                    *u.qlink
                        .entry(l.clone())
                        .or_default()
                        .entry(unit.clone())
                        .or_default() += f.rate * per_link;
                    if let Some(q) = model.qlinks.get(l.as_str()) {
                        for c in &q.classical {
                            *u.traffic.entry((*c).to_string()).or_default() += f.rate * per_msg;
                        }
                    }
                }
                if let (Service::Pairs, Some(pe)) = (intent.service, f.pairs) {
                    let nodes: Vec<&String> = if f.intact {
                        f.nodes.iter().collect()
                    } else {
                        f.entry_nodes.iter().collect()
                    };
                    let last = nodes.len().saturating_sub(1);
                    for (i, n) in nodes.iter().enumerate() {
                        if model
                            .nodes
                            .get(n.as_str())
                            .is_some_and(|n| n.memory.is_some())
                        {
                            let halves = if f.intact && (i == 0 || i == last) {
                                1.0
                            } else {
                                2.0
                            };
                            *u.memory.entry((*n).clone()).or_default() +=
                                halves * f.rate * pe.overhead * pe.wait_s;
                        }
                    }
                }
            }
        }
        u
    }

    pub(super) fn on(&self, link: &str) -> (f64, BTreeMap<String, f64>) {
        let m = self.qlink.get(link).cloned().unwrap_or_default();
        (m.values().sum(), m)
    }
}

fn compare_reservations(
    node: &str,
    obj: &str,
    written_total: f64,
    written: &[Reservation],
    expected_total: f64,
    expected: &BTreeMap<String, f64>,
    v: &mut Out,
) {
    if !close(written_total, expected_total) {
        v.push(
            codes::RESERVATION,
            Some(node),
            obj.to_string(),
            format!("expected_consumption {written_total}, but the forwarding tables reserve {expected_total:.9}"),
        );
    }
    let mut got: BTreeMap<&str, f64> = BTreeMap::new();
    for r in written {
        *got.entry(r.service_unit.as_str()).or_default() += r.rate;
    }
    let units: BTreeSet<&str> = got
        .keys()
        .copied()
        .chain(expected.keys().map(String::as_str))
        .collect();
    for unit in units {
        let (g, e) = (
            got.get(unit).copied().unwrap_or(0.0),
            expected.get(unit).copied().unwrap_or(0.0),
        );
        if !close(g, e) {
            v.push(
                codes::RESERVATION,
                Some(node),
                obj.to_string(),
                format!("reserves {g} for `{unit}`, but its paths need {e:.9}"),
            );
        }
    }
}

/// Checks that every link of `kind` in the inventory is configured exactly once at each of
/// its ends and nowhere else; returns the entries found per (link, node).
fn link_entries<'c, T>(
    model: &Model,
    configs: &'c ConfigSet,
    kind: Kind,
    list: impl Fn(&'c NodeConfig) -> &'c [T],
    ids: impl Fn(&T) -> (&str, &str, &str),
    v: &mut Out,
) -> BTreeMap<(String, String), &'c T> {
    let mut found: BTreeMap<(String, String), &T> = BTreeMap::new();
    for (node, cfg) in &configs.nodes {
        for e in list(cfg) {
            let (id, local, remote) = ids(e);
            let obj = format!("{} link `{id}`", kind_name(kind));
            let Some(l) = model.qlinks.get(id).filter(|l| l.kind == kind) else {
                v.push(
                    codes::LINK_ENDS,
                    Some(node),
                    obj,
                    format!("no {} link of this name in the inventory", kind_name(kind)),
                );
                continue;
            };
            if local != node || l.other(node) != Some(remote) {
                v.push(
                    codes::LINK_ENDS,
                    Some(node),
                    obj.clone(),
                    format!(
                        "configured as `{local}` – `{remote}`, but the link joins `{}` and `{}`",
                        l.ends[0], l.ends[1]
                    ),
                );
                continue;
            }
            if found.insert((id.to_string(), node.clone()), e).is_some() {
                v.push(
                    codes::LINK_ENDS,
                    Some(node),
                    obj,
                    "configured twice at this node",
                );
            }
        }
    }
    for (name, l) in model.qlinks.iter().filter(|(_, l)| l.kind == kind) {
        for end in l.ends {
            if configs.nodes.contains_key(end)
                && !found.contains_key(&(name.to_string(), end.to_string()))
            {
                v.push(
                    codes::LINK_ENDS,
                    Some(end),
                    format!("{} link `{name}`", kind_name(kind)),
                    "not configured at this end",
                );
            }
        }
    }
    found
}

pub(super) fn check_qkd_links(model: &Model, configs: &ConfigSet, usage: &Usage, v: &mut Out) {
    let found = link_entries(
        model,
        configs,
        Kind::Qkd,
        |c| c.forwarding.qkd_links.as_slice(),
        |e| {
            (
                e.qkdl_id.as_str(),
                e.local_qkdn_id.as_str(),
                e.remote_qkdn_id.as_str(),
            )
        },
        v,
    );
    for (name, l) in model.qlinks.iter().filter(|(_, l)| l.kind == Kind::Qkd) {
        let obj = format!("QKD link `{name}`");
        let (total, per_unit) = usage.on(name);
        if !within(total, l.usable) {
            v.push(
                codes::QKD_CAPACITY,
                None,
                obj.clone(),
                format!(
                    "the forwarding tables draw {total:.3} bit/s of key, over its usable {:.3} bit/s (secret key rate {:.3} less {}% headroom)",
                    l.usable,
                    l.rate,
                    KEY_HEADROOM * 100.0
                ),
            );
        }
        let ends: Vec<_> = l
            .ends
            .iter()
            .filter_map(|e| {
                found
                    .get(&(name.to_string(), e.to_string()))
                    .map(|x| (*e, *x))
            })
            .collect();
        for (node, e) in &ends {
            if !close(e.skr, l.rate) || !close(e.eskr, l.usable) || !close(e.qber, l.qber) {
                v.push(
                    codes::FIGURES,
                    Some(node),
                    obj.clone(),
                    format!(
                        "skr {} / eskr {} / qber {} written, recomputed {:.9} / {:.9} / {}",
                        e.skr, e.eskr, e.qber, l.rate, l.usable, l.qber
                    ),
                );
            }
            compare_reservations(
                node,
                &obj,
                e.expected_consumption,
                &e.reservations,
                total,
                &per_unit,
                v,
            );
        }
        if let [(_, a), (_, b)] = ends.as_slice()
            && (a.skr != b.skr
                || a.eskr != b.eskr
                || a.qber != b.qber
                || a.expected_consumption != b.expected_consumption
                || a.reservations != b.reservations)
        {
            v.push(
                codes::LINK_ENDS,
                None,
                obj,
                "the two ends of the link disagree on its figures or reservations",
            );
        }
    }
}

pub(super) fn check_entanglement_links(
    model: &Model,
    configs: &ConfigSet,
    usage: &Usage,
    v: &mut Out,
) {
    let found = link_entries(
        model,
        configs,
        Kind::Entanglement,
        |c| c.forwarding.entanglement_links.as_slice(),
        |e| {
            (
                e.link_id.as_str(),
                e.local_node.as_str(),
                e.remote_node.as_str(),
            )
        },
        v,
    );
    for (name, l) in model
        .qlinks
        .iter()
        .filter(|(_, l)| l.kind == Kind::Entanglement)
    {
        let obj = format!("entanglement link `{name}`");
        let (total, per_unit) = usage.on(name);
        if !within(total, l.usable) {
            v.push(
                codes::PAIR_CAPACITY,
                None,
                obj.clone(),
                format!("the forwarding tables draw {total:.6} elementary pairs/s (swap and purification overhead included), over the link's {:.6} pairs/s", l.usable),
            );
        }
        let ends: Vec<_> = l
            .ends
            .iter()
            .filter_map(|e| {
                found
                    .get(&(name.to_string(), e.to_string()))
                    .map(|x| (*e, *x))
            })
            .collect();
        for (node, e) in &ends {
            if !close(e.pair_rate, l.rate) || !close(e.fidelity, l.fidelity) {
                v.push(
                    codes::FIGURES,
                    Some(node),
                    obj.clone(),
                    format!(
                        "pair rate {} / fidelity {} written, recomputed {:.9} / {}",
                        e.pair_rate, e.fidelity, l.rate, l.fidelity
                    ),
                );
            }
            compare_reservations(
                node,
                &obj,
                e.expected_consumption,
                &e.reservations,
                total,
                &per_unit,
                v,
            );
        }
        if let [(_, a), (_, b)] = ends.as_slice()
            && (a.pair_rate != b.pair_rate
                || a.fidelity != b.fidelity
                || a.expected_consumption != b.expected_consumption
                || a.reservations != b.reservations)
        {
            v.push(
                codes::LINK_ENDS,
                None,
                obj,
                "the two ends of the link disagree on its figures or reservations",
            );
        }
    }
}
