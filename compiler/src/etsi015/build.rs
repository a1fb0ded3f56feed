//! Builds a node's ETSI GS QKD 015 document from its `strata.config/v1` documents alone, so
//! the compiler and a node's agent derive the same bytes: one `PHYS` link per QKD link end
//! with its interface, one `VIRT` link per relayed key path through the node, and one
//! `CLIENT` application per key service unit it terminates. The mapping is documented in
//! docs/etsi015.md.

use super::ids;
use super::model::*;
use crate::config::{EndRole, ForwardingEntry, NodeConfig, UnitKind};
use std::collections::BTreeMap;

/// True when the node has a document to write: it ends at least one QKD link.
pub fn has_document(cfg: &NodeConfig) -> bool {
    !cfg.forwarding.qkd_links.is_empty()
}

/// The node's `qkd_node` document. Performance leaves (`skr`, `eskr`,
/// `expected_consumption`, QBER) carry the compiled figures; [`Document::config_only`]
/// drops them for a device write.
pub fn document(node: &str, cfg: &NodeConfig) -> Document {
    let me = ids::node(node);
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
    for e in key_entries(cfg) {
        if let Some(v) = virtual_link(node, cfg, e) {
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
        let qos = cfg
            .service
            .sessions
            .iter()
            .find(|s| s.service_unit == u.id)
            .map(|s| &s.qos);
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
            backing_qkdl_id: backing(cfg, &u.id),
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

/// Forwarding entries of key service units: those whose hops are QKD links.
fn key_entries(cfg: &NodeConfig) -> impl Iterator<Item = &ForwardingEntry> {
    let qkd: Vec<&str> = cfg
        .forwarding
        .qkd_links
        .iter()
        .map(|l| l.qkdl_id.as_str())
        .collect();
    cfg.forwarding.forwarding_table.iter().filter(move |e| {
        e.virt_prev_hop
            .iter()
            .chain(&e.virt_next_hop)
            .any(|h| qkd.contains(&h.link.as_str()))
    })
}

/// The peer endpoint of a service unit this node terminates.
fn unit_peer<'a>(cfg: &'a NodeConfig, unit: &str) -> Option<&'a str> {
    cfg.service
        .service_units
        .iter()
        .find(|u| u.id == unit)
        .map(|u| u.peer.as_str())
}

/// True when the path of `e` is one QKD link straight to the unit's peer: the key comes
/// off that physical link with no relay, and no virtual link is configured.
fn direct(cfg: &NodeConfig, e: &ForwardingEntry) -> bool {
    let Some(peer) = unit_peer(cfg, &e.service_unit) else {
        return false;
    };
    match (&e.virt_prev_hop, &e.virt_next_hop) {
        (Some(h), None) | (None, Some(h)) => h.node == peer,
        _ => false,
    }
}

/// Key bits per second the path of `e` reserves: its share of what the unit reserves on the
/// QKD link of one of its hops here (every path over that link passes this node).
pub fn path_bandwidth(cfg: &NodeConfig, e: &ForwardingEntry) -> f64 {
    let Some(hop) = e.virt_next_hop.as_ref().or(e.virt_prev_hop.as_ref()) else {
        return 0.0;
    };
    let reserved: f64 = cfg
        .forwarding
        .qkd_links
        .iter()
        .filter(|l| l.qkdl_id == hop.link)
        .flat_map(|l| &l.reservations)
        .filter(|r| r.service_unit == e.service_unit)
        .map(|r| r.rate)
        .sum();
    let carried: f64 = cfg
        .forwarding
        .forwarding_table
        .iter()
        .filter(|x| x.service_unit == e.service_unit)
        .filter(|x| {
            x.virt_prev_hop
                .iter()
                .chain(&x.virt_next_hop)
                .any(|h| h.link == hop.link)
        })
        .map(|x| x.rate)
        .sum();
    if carried > 0.0 {
        reserved * e.rate / carried
    } else {
        0.0
    }
}

fn virtual_link(node: &str, cfg: &NodeConfig, e: &ForwardingEntry) -> Option<Link> {
    if direct(cfg, e) {
        return None;
    }
    let peer = unit_peer(cfg, &e.service_unit);
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
        virt_bandwidth: Some(uint32(path_bandwidth(cfg, e))),
        ..Link::default()
    })
}

/// `backing_qkdl_id` of a unit's application: per path, the physical link a direct path
/// uses, or the path's virtual link.
fn backing(cfg: &NodeConfig, unit: &str) -> Vec<String> {
    let mut by_path: BTreeMap<usize, String> = BTreeMap::new();
    for e in key_entries(cfg).filter(|e| e.service_unit == unit) {
        let id = if direct(cfg, e) {
            let hop = e.virt_next_hop.as_ref().or(e.virt_prev_hop.as_ref());
            hop.map(|h| ids::link(&h.link)).unwrap_or_default()
        } else {
            ids::virtual_link(unit, e.path)
        };
        by_path.insert(e.path, id);
    }
    by_path.into_values().collect()
}
