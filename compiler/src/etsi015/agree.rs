//! Whether each node's 015 document says what its `strata.config/v1` documents say: the
//! same QKD links with the same ends and figures, a virtual link for every relayed key
//! path with the right hops and bandwidth, and an application for every key service unit.
//! Compared field by field against the strata documents (never by rebuilding the 015
//! document), so a fault in the builder shows up here.

use super::build::Index;
use super::ids;
use super::model::*;
use crate::config::{ConfigSet, EndRole, ForwardingEntry, NodeConfig, UnitKind, file_name};
use crate::verify::{Violation, codes::ETSI015};
use std::collections::{BTreeMap, BTreeSet};

/// How far a document's QBER may be from the configuration's: half the last of the 015
/// document's three decimals, and a hair for round-off.
const QBER_DECIMALS_SLACK: f64 = 5e-4 + 1e-12;

/// Every disagreement between `docs` (output-directory name → `qkd_node.json` text) and
/// `configs`, sorted.
pub fn check(configs: &ConfigSet, docs: &BTreeMap<String, String>) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut push = |node: &str, object: String, message: String| {
        out.push(Violation {
            code: ETSI015,
            node: Some(node.to_string()),
            object,
            message,
        })
    };
    let key_bits: BTreeMap<&str, f64> = configs
        .nodes
        .values()
        .flat_map(|c| &c.service.service_units)
        .filter_map(|u| u.key_size.map(|b| (u.id.as_str(), f64::from(b))))
        .collect();
    let mut known = BTreeSet::new();
    for (node, cfg) in &configs.nodes {
        let dir = file_name(node);
        known.insert(dir.clone());
        let wanted = !cfg.forwarding.qkd_links.is_empty();
        let file = format!("{dir}/{FILE}");
        match (docs.get(&dir), wanted) {
            (None, false) => {}
            (None, true) => push(
                node,
                file,
                "missing: the node ends QKD links, so it needs its ETSI GS QKD 015 document; run `strata compile` again".into(),
            ),
            (Some(_), false) => push(
                node,
                file,
                "the node ends no QKD link, so it should have no ETSI GS QKD 015 document".into(),
            ),
            (Some(text), true) => match Document::parse(text) {
                Err(e) => push(node, file, e),
                Ok(doc) => {
                    for (object, message) in compare(node, cfg, &doc.qkd_node, &key_bits) {
                        push(node, object, message);
                    }
                }
            },
        }
    }
    for dir in docs.keys().filter(|d| !known.contains(*d)) {
        push(
            dir,
            format!("{dir}/{FILE}"),
            "a 015 document for a node the configuration does not have".into(),
        );
    }
    out.sort();
    out
}

fn compare(
    node: &str,
    cfg: &NodeConfig,
    doc: &QkdNode,
    key_bits: &BTreeMap<&str, f64>,
) -> Vec<(String, String)> {
    let mut bad = Vec::new();
    let me = ids::node(node);
    if doc.qkdn_id != me {
        bad.push((
            "qkdn_id".into(),
            format!("is `{}`, the id of node `{node}` is `{me}`", doc.qkdn_id),
        ));
    }
    if doc.qkdn_location_id.as_deref() != Some(node) {
        bad.push((
            "qkdn_location_id".into(),
            format!("should name the node, `{node}`"),
        ));
    }
    let links: BTreeMap<&str, &Link> = doc
        .qkd_links
        .qkd_link
        .iter()
        .map(|l| (l.qkdl_id.as_str(), l))
        .collect();
    let interfaces: BTreeSet<u32> = doc
        .qkd_interfaces
        .qkd_interface
        .iter()
        .map(|i| i.qkdi_id)
        .collect();
    let mut expected: BTreeSet<String> = BTreeSet::new();
    for l in &cfg.forwarding.qkd_links {
        let id = ids::link(&l.qkdl_id);
        expected.insert(id.clone());
        let object = format!("QKD link `{}` ({id})", l.qkdl_id);
        let Some(d) = links.get(id.as_str()) else {
            bad.push((object, "missing from qkd_links".into()));
            continue;
        };
        let mut why = Vec::new();
        if d.qkdl_type.as_deref().map(identity_name) != Some("PHYS") {
            why.push("qkdl_type is not PHYS".to_string());
        }
        let local = d.qkdl_local.as_ref();
        if local.and_then(|e| e.qkdn_id.as_deref()) != Some(me.as_str()) {
            why.push("qkdl_local is not this node".into());
        }
        match local.and_then(|e| e.qkdi_id) {
            Some(i) if interfaces.contains(&i) => {}
            _ => why.push("qkdl_local names no interface of qkd_interfaces".into()),
        }
        if d.qkdl_remote.as_ref().and_then(|e| e.qkdn_id.clone())
            != Some(ids::node(&l.remote_qkdn_id))
        {
            why.push(format!("qkdl_remote is not node `{}`", l.remote_qkdn_id));
        }
        let perf = d.qkdl_performance.clone().unwrap_or_default();
        for (name, got, want) in [
            ("skr", perf.skr, l.skr),
            ("eskr", perf.eskr, l.eskr),
            (
                "expected_consumption",
                perf.expected_consumption,
                l.expected_consumption,
            ),
        ] {
            if got != Some(uint32(want)) {
                why.push(format!(
                    "{name} is {got:?}, the configuration says {want} bit/s"
                ));
            }
        }
        match Document::qber(d) {
            // Three decimals are off by at most half a thousandth, in either direction at a
            // tie; round-off may add a hair to the difference.
            Some(q) if (q - l.qber).abs() <= QBER_DECIMALS_SLACK => {}
            q => why.push(format!("QBER is {q:?}, the configuration says {}", l.qber)),
        }
        let apps: BTreeSet<String> = l
            .reservations
            .iter()
            .map(|r| ids::app(&r.service_unit))
            .collect();
        if d.qkdl_applications.iter().cloned().collect::<BTreeSet<_>>() != apps {
            why.push("qkdl_applications are not the service units reserving the link".into());
        }
        if !why.is_empty() {
            bad.push((object, why.join("; ")));
        }
    }
    let index = Index::new(cfg);
    let mut backing: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for &e in &index.key_entries {
        let peer = index.peers.get(e.service_unit.as_str()).copied();
        if let Some(h) = index.direct(e) {
            backing
                .entry(&e.service_unit)
                .or_default()
                .insert(ids::link(&h.link));
            continue;
        }
        let id = ids::virtual_link(&e.service_unit, e.path);
        backing
            .entry(&e.service_unit)
            .or_default()
            .insert(id.clone());
        expected.insert(id.clone());
        let object = format!("intent `{}` path {} ({id})", e.service_unit, e.path);
        match links.get(id.as_str()) {
            None => bad.push((object, "relays keys here but has no VIRT link".into())),
            Some(d) => {
                let why = virtual_mismatch(node, e, d, peer, key_bits);
                if !why.is_empty() {
                    bad.push((object, why.join("; ")));
                }
            }
        }
    }
    for id in links.keys().filter(|id| !expected.contains(**id)) {
        bad.push((
            format!("qkd_link {id}"),
            "no QKD link or relayed key path of the configuration".into(),
        ));
    }
    let apps: BTreeMap<&str, &App> = doc
        .qkd_applications
        .qkd_app
        .iter()
        .map(|a| (a.app_id.as_str(), a))
        .collect();
    let mut wanted_apps = BTreeSet::new();
    for u in cfg
        .service
        .service_units
        .iter()
        .filter(|u| u.kind == UnitKind::Keys)
    {
        let id = ids::app(&u.id);
        wanted_apps.insert(id.clone());
        let object = format!("application of intent `{}` ({id})", u.id);
        let Some(a) = apps.get(id.as_str()) else {
            bad.push((object, "missing from qkd_applications".into()));
            continue;
        };
        let mut why = Vec::new();
        let (master, slave) = match u.role {
            EndRole::Master => (&u.urns.local, &u.urns.remote),
            EndRole::Slave => (&u.urns.remote, &u.urns.local),
        };
        if a.app_type.as_deref().map(identity_name) != Some("CLIENT") {
            why.push("app_type is not CLIENT".to_string());
        }
        if a.server_app_id.as_ref() != Some(master) {
            why.push(format!("server_app_id is not the master's URN `{master}`"));
        }
        if a.client_app_id != [slave.clone()] {
            why.push(format!("client_app_id is not the slave's URN `{slave}`"));
        }
        if a.local_qkdn_id.as_deref() != Some(me.as_str()) {
            why.push("local_qkdn_id is not this node".into());
        }
        if a.remote_qkdn_id != Some(ids::node(&u.peer)) {
            why.push(format!("remote_qkdn_id is not node `{}`", u.peer));
        }
        let bits = f64::from(u.key_size.unwrap_or(0));
        let min = a.app_qos.as_ref().and_then(|q| q.min_bandwidth);
        if min != Some(uint32(u.rate * bits)) {
            why.push(format!(
                "min_bandwidth is {min:?}, the admitted rate is {} bit/s",
                u.rate * bits
            ));
        }
        let session = cfg.service.sessions.iter().find(|s| s.service_unit == u.id);
        if let Some(s) = session {
            let want = u32::try_from(s.qos.priority.max(0)).unwrap_or(u32::MAX);
            if a.app_priority != Some(want) {
                why.push(format!("app_priority is not {want}"));
            }
            let max = a.app_qos.as_ref().and_then(|q| q.max_bandwidth);
            if max != Some(uint32(s.qos.max_bps)) {
                why.push(format!(
                    "max_bandwidth is {max:?}, the session allows {} bit/s",
                    s.qos.max_bps
                ));
            }
        }
        let got: BTreeSet<String> = a.backing_qkdl_id.iter().cloned().collect();
        if got != backing.remove(u.id.as_str()).unwrap_or_default() {
            why.push("backing_qkdl_id are not the links of the unit's paths".into());
        }
        if !why.is_empty() {
            bad.push((object, why.join("; ")));
        }
    }
    for id in apps.keys().filter(|id| !wanted_apps.contains(**id)) {
        bad.push((
            format!("qkd_app {id}"),
            "no key service unit of the configuration".into(),
        ));
    }
    bad
}

fn virtual_mismatch(
    node: &str,
    e: &ForwardingEntry,
    d: &Link,
    peer: Option<&str>,
    key_bits: &BTreeMap<&str, f64>,
) -> Vec<String> {
    let mut why = Vec::new();
    if d.qkdl_type.as_deref().map(identity_name) != Some("VIRT") {
        why.push("qkdl_type is not VIRT".to_string());
    }
    if d.qkdl_local.as_ref().and_then(|x| x.qkdn_id.clone()) != Some(ids::node(node)) {
        why.push("qkdl_local is not this node".into());
    }
    if let Some(p) = peer
        && d.qkdl_remote.as_ref().and_then(|x| x.qkdn_id.clone()) != Some(ids::node(p))
    {
        why.push(format!("qkdl_remote is not the far endpoint `{p}`"));
    }
    if d.virt_prev_hop != e.virt_prev_hop.as_ref().map(|h| ids::node(&h.node)) {
        why.push("virt_prev_hop is not the previous node of the path".into());
    }
    let next: Vec<String> = e.virt_next_hop.iter().map(|h| ids::node(&h.node)).collect();
    if d.virt_next_hop != next {
        why.push("virt_next_hop is not the next node of the path".into());
    }
    let bits = key_bits
        .get(e.service_unit.as_str())
        .copied()
        .unwrap_or(0.0);
    let want = e.rate * bits;
    // Rounded on both sides, so allow one bit/s.
    let got = d.virt_bandwidth.map(f64::from);
    if got.is_none_or(|g| (g - want).abs() > 1.0) {
        why.push(format!(
            "virt_bandwidth is {:?}, the path carries {want} bit/s of key",
            d.virt_bandwidth
        ));
    }
    if d.qkdl_applications != [ids::app(&e.service_unit)] {
        why.push("qkdl_applications is not the intent's application".into());
    }
    why
}
