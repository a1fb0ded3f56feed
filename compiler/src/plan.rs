//! Plans: what changes between the configuration last applied and the configuration that
//! compiles now, object by object (`+` add, `~` change, `-` remove), plus the digests that
//! bind a saved plan to the state it was made against.
//!
//! An object is one entry of a per-node, per-stratum document — a service unit, a session,
//! a QKD link, a forwarding entry, … — identified by its collection and its key fields, so
//! a plan line names exactly what an agent will add, change or remove.

use crate::config::{ConfigSet, NodeConfig, Stratum};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Change,
    Remove,
}

impl Action {
    pub fn sign(self) -> char {
        match self {
            Action::Add => '+',
            Action::Change => '~',
            Action::Remove => '-',
        }
    }
}

/// One line of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub action: Action,
    pub node: String,
    pub stratum: Stratum,
    /// Collection inside the document, e.g. `qkd_links`.
    pub collection: String,
    /// Identity inside the collection, e.g. `q-norte-quintin`.
    pub key: String,
    /// For changes: each field that differs, with its whole old and new values.
    pub fields: Vec<FieldChange>,
}

/// One field of a changed object (nested fields joined with `.`); `null` stands for a
/// field that is absent on that side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Value,
    pub new: Value,
}

impl std::fmt::Display for FieldChange {
    /// `field: old → new`, long values shortened for reading.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} → {}",
            self.field,
            short(&self.old),
            short(&self.new)
        )
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}/{} {} {}",
            self.action.sign(),
            self.node,
            self.stratum.as_str(),
            self.collection,
            self.key
        )?;
        if !self.fields.is_empty() {
            let fields: Vec<String> = self.fields.iter().map(ToString::to_string).collect();
            write!(f, " ({})", fields.join(", "))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanCounts {
    pub add: usize,
    pub change: usize,
    pub remove: usize,
}

/// The difference between two configuration sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub counts: PlanCounts,
    /// Nodes whose documents differ (the agents an apply must touch).
    pub affected_nodes: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Key fields per collection, in the order they are joined into the object's identity.
fn key_fields(collection: &str) -> &'static [&'static str] {
    match collection {
        "service_units" => &["id"],
        "qkd_applications" => &["app_id"],
        "sessions" => &["key_stream_id"],
        "qkd_links" => &["qkdl_id"],
        "entanglement_links" => &["link_id"],
        "forwarding_table" | "swap_schedule" | "purification" => &["service_unit", "path"],
        "classical_links" => &["link_id"],
        "classical_channels" => &["quantum_link"],
        "classical_paths" => &["service_unit", "path", "quantum_link"],
        _ => &[],
    }
}

fn key_of(collection: &str, item: &Value, position: usize) -> String {
    let fields = key_fields(collection);
    let parts: Vec<String> = fields
        .iter()
        .filter_map(|f| item.get(*f))
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    if parts.len() == fields.len() && !parts.is_empty() {
        parts.join("#")
    } else {
        format!("[{position}]")
    }
}

/// Flattens one document into (collection, key) → object.
fn objects(doc: &Value) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    let Value::Object(map) = doc else { return out };
    for (field, value) in map {
        if matches!(field.as_str(), "schema" | "node") {
            continue;
        }
        match value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    out.insert((field.clone(), key_of(field, item, i)), item.clone());
                }
            }
            Value::Null => {}
            other => {
                out.insert((field.clone(), field.clone()), other.clone());
            }
        }
    }
    out
}

fn doc(node: &NodeConfig, stratum: Stratum) -> Value {
    let v = match stratum {
        Stratum::Service => serde_json::to_value(&node.service),
        Stratum::Forwarding => serde_json::to_value(&node.forwarding),
        Stratum::Connectivity => serde_json::to_value(&node.connectivity),
    };
    v.unwrap_or(Value::Null)
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(57).collect::<String>())
    } else {
        s
    }
}

/// Every leaf that differs (nested fields joined with `.`), with whole values.
fn field_changes(prefix: &str, old: &Value, new: &Value, out: &mut Vec<FieldChange>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                field_changes(
                    &name,
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (a, b) if a != b => out.push(FieldChange {
            field: prefix.to_string(),
            old: a.clone(),
            new: b.clone(),
        }),
        _ => {}
    }
}

/// What must change to go from `old` (last applied; `None` if nothing was) to `new`.
pub fn diff(old: Option<&ConfigSet>, new: &ConfigSet) -> Plan {
    let empty = ConfigSet::default();
    let old = old.unwrap_or(&empty);
    let nodes: std::collections::BTreeSet<&String> =
        old.nodes.keys().chain(new.nodes.keys()).collect();
    let mut changes = Vec::new();
    for node in nodes {
        let (a, b) = (old.nodes.get(node), new.nodes.get(node));
        for stratum in Stratum::ALL {
            let oa = a.map(|n| objects(&doc(n, stratum))).unwrap_or_default();
            let ob = b.map(|n| objects(&doc(n, stratum))).unwrap_or_default();
            let keys: std::collections::BTreeSet<&(String, String)> =
                oa.keys().chain(ob.keys()).collect();
            for k in keys {
                let (action, fields) = match (oa.get(k), ob.get(k)) {
                    (None, Some(_)) => (Action::Add, Vec::new()),
                    (Some(_), None) => (Action::Remove, Vec::new()),
                    (Some(x), Some(y)) if x != y => {
                        let mut f = Vec::new();
                        field_changes("", x, y, &mut f);
                        (Action::Change, f)
                    }
                    _ => continue,
                };
                changes.push(Change {
                    action,
                    node: node.clone(),
                    stratum,
                    collection: k.0.clone(),
                    key: k.1.clone(),
                    fields,
                });
            }
        }
    }
    let counts = PlanCounts {
        add: changes.iter().filter(|c| c.action == Action::Add).count(),
        change: changes
            .iter()
            .filter(|c| c.action == Action::Change)
            .count(),
        remove: changes
            .iter()
            .filter(|c| c.action == Action::Remove)
            .count(),
    };
    let mut affected_nodes: Vec<String> = changes.iter().map(|c| c.node.clone()).collect();
    affected_nodes.dedup();
    Plan {
        changes,
        counts,
        affected_nodes,
    }
}

/// SHA-256 (hex) of a configuration set's rendered documents: what identifies a generation.
pub fn digest(configs: &ConfigSet) -> String {
    let mut h = Sha256::new();
    for (path, text) in configs.render() {
        h.update(path.as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod field_change_tests {
    use super::*;

    #[test]
    fn values_stay_whole_and_only_the_display_shortens_them() {
        let long = "x".repeat(100);
        let mut out = Vec::new();
        field_changes(
            "",
            &serde_json::json!({ "urn": long }),
            &serde_json::json!({ "urn": "short" }),
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].old, Value::String(long.clone()));
        let shown = out[0].to_string();
        assert!(
            shown.starts_with("urn: xxx") && shown.contains("… → short"),
            "{shown}"
        );
        assert!(!serde_json::to_string(&out[0]).unwrap().contains('…'));
    }
}
