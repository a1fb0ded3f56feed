//! What changed in the inventory between two revisions — links and nodes removed, added
//! or altered — and which links and nodes each change touches, so a worse intent can be
//! attributed to it.

use super::report::{InventoryChange, differs, num};
use super::snapshot::{QuantumKind, Snapshot};

/// The links and nodes an inventory change touches: an intent whose base path uses one of
/// them is attributed the change.
#[derive(Debug, Clone, Default)]
pub(super) struct Touches {
    pub links: Vec<String>,
    pub nodes: Vec<String>,
}

pub(super) fn inventory_changes(
    base: &Snapshot,
    head: &Snapshot,
) -> Vec<(Touches, InventoryChange)> {
    let mut out = Vec::new();
    let link =
        |name: &str, change: &str, before: Option<String>, after: Option<String>, d: String| {
            (
                Touches {
                    links: vec![name.to_string()],
                    nodes: Vec::new(),
                },
                InventoryChange {
                    element: "link".into(),
                    name: name.to_string(),
                    change: change.into(),
                    before,
                    after,
                    description: d,
                },
            )
        };
    for (name, b) in &base.links {
        let Some(h) = head.links.get(name) else {
            out.push(link(
                name,
                "removed",
                None,
                None,
                format!("link {name} was removed"),
            ));
            continue;
        };
        if b.ends != h.ends {
            let (eb, eh) = (b.ends.join("–"), h.ends.join("–"));
            out.push(link(
                name,
                "ends",
                Some(eb.clone()),
                Some(eh.clone()),
                format!("link {name}: ends {eb} → {eh}"),
            ));
        }
        if differs(b.rate, h.rate) {
            let (field, what, unit) = match h.kind {
                QuantumKind::Qkd => ("key_rate", "key rate", "bit/s"),
                QuantumKind::Entanglement => ("pair_rate", "pair rate", "pairs/s"),
            };
            out.push(link(
                name,
                field,
                Some(num(b.rate)),
                Some(num(h.rate)),
                format!(
                    "link {name}: {what} {} → {} {unit}",
                    num(b.rate),
                    num(h.rate)
                ),
            ));
        }
        if differs(b.qber, h.qber) {
            out.push(link(
                name,
                "qber",
                Some(num(b.qber)),
                Some(num(h.qber)),
                format!("link {name}: QBER {} → {}", num(b.qber), num(h.qber)),
            ));
        }
        if differs(b.length_km, h.length_km) {
            out.push(link(
                name,
                "length_km",
                Some(num(b.length_km)),
                Some(num(h.length_km)),
                format!(
                    "link {name}: length {} → {} km",
                    num(b.length_km),
                    num(h.length_km)
                ),
            ));
        }
    }
    for name in head.links.keys().filter(|n| !base.links.contains_key(*n)) {
        out.push(link(
            name,
            "added",
            None,
            None,
            format!("link {name} was added"),
        ));
    }
    let node =
        |name: &str, change: &str, before: Option<String>, after: Option<String>, d: String| {
            (
                Touches {
                    links: Vec::new(),
                    nodes: vec![name.to_string()],
                },
                InventoryChange {
                    element: "node".into(),
                    name: name.to_string(),
                    change: change.into(),
                    before,
                    after,
                    description: d,
                },
            )
        };
    for (name, b) in &base.nodes {
        let Some(h) = head.nodes.get(name) else {
            out.push(node(
                name,
                "removed",
                None,
                None,
                format!("node {name} was removed"),
            ));
            continue;
        };
        if b.role != h.role {
            out.push(node(
                name,
                "role",
                Some(b.role.clone()),
                Some(h.role.clone()),
                format!("node {name}: role {} → {}", b.role, h.role),
            ));
        }
        if b.domain != h.domain {
            out.push(node(
                name,
                "domain",
                Some(b.domain.clone()),
                Some(h.domain.clone()),
                format!("node {name}: domain {} → {}", b.domain, h.domain),
            ));
        }
    }
    for name in head.nodes.keys().filter(|n| !base.nodes.contains_key(*n)) {
        out.push(node(
            name,
            "added",
            None,
            None,
            format!("node {name} was added"),
        ));
    }
    out
}
