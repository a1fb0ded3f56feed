//! Builds a node's ETSI GS QKD 015 document from its `strata.config/v1` documents alone, so
//! the compiler and a node's agent derive the same bytes: one `PHYS` link per QKD link end
//! with its interface, one `VIRT` link per relayed key path through the node, and one
//! `CLIENT` application per key service unit it terminates. The mapping is documented in
//! docs/etsi015.md.

use super::ids;
use super::model::*;
use crate::config::{EndRole, ForwardingEntry, Hop, NodeConfig, SessionQos, UnitKind};
use std::collections::{BTreeMap, BTreeSet};

/// True when the node has a document to write: it ends at least one QKD link.
pub fn has_document(cfg: &NodeConfig) -> bool {
    !cfg.forwarding.qkd_links.is_empty()
}

/// The node's `qkd_node` document. Performance leaves (`skr`, `eskr`,
/// `expected_consumption`, QBER) carry the compiled figures; [`Document::config_only`]
/// drops them for a device write.
pub fn document(node: &str, cfg: &NodeConfig) -> Document {
    let me = ids::node(node);
    let index = Index::new(cfg);
    let mut links = Vec::new();
    let mut interfaces = Vec::new();
    for (i, l) in cfg.forwarding.qkd_links.iter().enumerate() {
        let qkdi = u32::try_from(i + 1).unwrap_or(u32::MAX);
        interfaces.push(Interface {
            qkdi_id: qkdi,
            ..Interface::default()
        });
        links.push(Link {
            qkdl_id: ids::link(&l.qkdl_id),
            qkdl_enable: Some(true),
            qkdl_local: Some(LinkEnd {
                qkdn_id: Some(me.clone()),
                qkdi_id: Some(qkdi),
            }),
            qkdl_remote: Some(LinkEnd {
                qkdn_id: Some(ids::node(&l.remote_qkdn_id)),
                qkdi_id: None,
            }),
            qkdl_type: Some(identity("PHYS")),
            qkdl_applications: sorted_ids(l.reservations.iter().map(|r| ids::app(&r.service_unit))),
            qkdl_performance: Some(Performance {
                expected_consumption: Some(uint32(l.expected_consumption)),
                skr: Some(uint32(l.skr)),
                eskr: Some(uint32(l.eskr)),
                phys_perf: vec![PhysPerf {
                    perf_type: identity("QBER"),
                    value: decimal3(l.qber),
                }],
            }),
            ..Link::default()
        });
    }
    for e in &index.key_entries {
        if let Some(v) = virtual_link(node, &index, e) {
            links.push(v);
        }
    }
    let mut apps = Vec::new();
    for u in &cfg.service.service_units {
        if u.kind != UnitKind::Keys {
            continue;
        }
        let (master, slave) = match u.role {
            EndRole::Master => (&u.urns.local, &u.urns.remote),
            EndRole::Slave => (&u.urns.remote, &u.urns.local),
        };
        let key_bits = f64::from(u.key_size.unwrap_or(0));
        let qos = index.qos.get(u.id.as_str()).copied();
        apps.push(App {
            app_id: ids::app(&u.id),
            app_type: Some(identity("CLIENT")),
            server_app_id: Some(master.clone()),
            client_app_id: vec![slave.clone()],
            app_priority: Some(priority(qos.map_or(0, |q| q.priority))),
            app_qos: Some(AppQos {
                max_bandwidth: Some(uint32(qos.map_or(u.rate * key_bits, |q| q.max_bps))),
                min_bandwidth: Some(uint32(u.rate * key_bits)),
                jitter: Some(uint32(qos.map_or(0.0, |q| q.jitter) * 1e3)),
                ttl: Some(uint32(u.valid_for_s.unwrap_or(0.0))),
                ..AppQos::default()
            }),
            backing_qkdl_id: backing(&index, &u.id),
            local_qkdn_id: Some(me.clone()),
            remote_qkdn_id: Some(ids::node(&u.peer)),
            ..App::default()
        });
    }
    Document {
        qkd_node: QkdNode {
            qkdn_id: me,
            qkdn_location_id: Some(node.to_string()),
            qkd_applications: Applications { qkd_app: apps },
            qkd_interfaces: Interfaces {
                qkd_interface: interfaces,
            },
            qkd_links: Links { qkd_link: links },
            ..QkdNode::default()
        },
    }
}

/// `app_priority` is a `uint32`: strata's priorities below zero become 0.
pub fn priority(p: i64) -> u32 {
    u32::try_from(p.max(0)).unwrap_or(u32::MAX)
}

fn sorted_ids(it: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = it.collect();
    v.sort();
    v.dedup();
    v
}

/// What the document is built from, looked up by name once per node (a node may terminate
/// tens of thousands of service units).
pub(super) struct Index<'c> {
    /// Forwarding entries of key service units (those whose hops are QKD links), in table
    /// order, and per unit.
    pub(super) key_entries: Vec<&'c ForwardingEntry>,
    by_unit: BTreeMap<&'c str, Vec<&'c ForwardingEntry>>,
    /// The peer endpoint of each service unit this node terminates.
    pub(super) peers: BTreeMap<&'c str, &'c str>,
    /// The QoS of each unit's first session.
    qos: BTreeMap<&'c str, &'c SessionQos>,
    /// Key bits per second reserved per (QKD link, unit).
    reserved: BTreeMap<(&'c str, &'c str), f64>,
    /// Service units per second per (unit, link), over every path through that link here.
    carried: BTreeMap<(&'c str, &'c str), f64>,
}

impl<'c> Index<'c> {
    pub(super) fn new(cfg: &'c NodeConfig) -> Index<'c> {
        let qkd: BTreeSet<&str> = cfg
            .forwarding
            .qkd_links
            .iter()
            .map(|l| l.qkdl_id.as_str())
            .collect();
        let mut key_entries = Vec::new();
        let mut by_unit: BTreeMap<&str, Vec<&ForwardingEntry>> = BTreeMap::new();
        let mut carried: BTreeMap<(&str, &str), f64> = BTreeMap::new();
        for e in &cfg.forwarding.forwarding_table {
            let hops = || e.virt_prev_hop.iter().chain(&e.virt_next_hop);
            let links: BTreeSet<&str> = hops().map(|h| h.link.as_str()).collect();
            for link in links {
                *carried
                    .entry((e.service_unit.as_str(), link))
                    .or_insert(0.0) += e.rate;
            }
            if hops().any(|h| qkd.contains(h.link.as_str())) {
                key_entries.push(e);
                by_unit.entry(&e.service_unit).or_default().push(e);
            }
        }
        let mut reserved: BTreeMap<(&str, &str), f64> = BTreeMap::new();
        for l in &cfg.forwarding.qkd_links {
            for r in &l.reservations {
                *reserved
                    .entry((l.qkdl_id.as_str(), r.service_unit.as_str()))
                    .or_insert(0.0) += r.rate;
            }
        }
        let mut peers = BTreeMap::new();
        for u in &cfg.service.service_units {
            peers.entry(u.id.as_str()).or_insert(u.peer.as_str());
        }
        let mut qos = BTreeMap::new();
        for s in &cfg.service.sessions {
            qos.entry(s.service_unit.as_str()).or_insert(&s.qos);
        }
        Index {
            key_entries,
            by_unit,
            peers,
            qos,
            reserved,
            carried,
        }
    }

    /// The one hop of `e` when its path is one QKD link straight to the unit's peer: the key
    /// comes off that physical link with no relay, and no virtual link is configured.
    pub(super) fn direct<'e>(&self, e: &'e ForwardingEntry) -> Option<&'e Hop> {
        let peer = self.peers.get(e.service_unit.as_str())?;
        match (&e.virt_prev_hop, &e.virt_next_hop) {
            (Some(h), None) | (None, Some(h)) if h.node == *peer => Some(h),
            _ => None,
        }
    }

    /// Key bits per second the path of `e` reserves: its share of what the unit reserves on
    /// the QKD link of one of its hops here (every path over that link passes this node).
    fn path_bandwidth(&self, e: &ForwardingEntry) -> f64 {
        let Some(hop) = e.virt_next_hop.as_ref().or(e.virt_prev_hop.as_ref()) else {
            return 0.0;
        };
        let unit = e.service_unit.as_str();
        let link = hop.link.as_str();
        let reserved = self.reserved.get(&(link, unit)).copied().unwrap_or(0.0);
        let carried = self.carried.get(&(unit, link)).copied().unwrap_or(0.0);
        if carried > 0.0 {
            reserved * e.rate / carried
        } else {
            0.0
        }
    }
}

/// `backing_qkdl_id` of a unit's application: per path, the physical link a direct path
/// uses, or the path's virtual link.
fn backing(index: &Index, unit: &str) -> Vec<String> {
    let mut by_path: BTreeMap<usize, String> = BTreeMap::new();
    for e in index.by_unit.get(unit).into_iter().flatten() {
        let id = match index.direct(e) {
            Some(hop) => ids::link(&hop.link),
            None => ids::virtual_link(unit, e.path),
        };
        by_path.insert(e.path, id);
    }
    by_path.into_values().collect()
}

fn virtual_link(node: &str, index: &Index, e: &ForwardingEntry) -> Option<Link> {
    if index.direct(e).is_some() {
        return None;
    }
    let peer = index.peers.get(e.service_unit.as_str());
    Some(Link {
        qkdl_id: ids::virtual_link(&e.service_unit, e.path),
        qkdl_enable: Some(true),
        qkdl_local: Some(LinkEnd {
            qkdn_id: Some(ids::node(node)),
            qkdi_id: None,
        }),
        qkdl_remote: peer.map(|p| LinkEnd {
            qkdn_id: Some(ids::node(p)),
            qkdi_id: None,
        }),
        qkdl_type: Some(identity("VIRT")),
        qkdl_applications: vec![ids::app(&e.service_unit)],
        virt_prev_hop: e.virt_prev_hop.as_ref().map(|h| ids::node(&h.node)),
        virt_next_hop: e.virt_next_hop.iter().map(|h| ids::node(&h.node)).collect(),
        virt_bandwidth: Some(uint32(index.path_bandwidth(e))),
        ..Link::default()
    })
}
