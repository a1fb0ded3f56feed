//! The ETSI GS QKD 015 V2.1.1 data tree (`etsi-qkd-sdn-node`, revision 2022-01-30) as
//! RFC 7951 JSON: the `qkd_node` container and what strata reads and writes of it. Leaf
//! names are the YANG identifiers; `uint32` leaves are JSON numbers, `decimal64` leaves
//! JSON strings, identityrefs `etsi-qkd-node-types:NAME` (RFC 7951 §6.8: the identities are
//! defined in another module than the leaves). Leaves strata never sets are not modelled;
//! reading a device's document keeps them in `other` so a restore writes them back.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The module that defines the `qkd_node` container.
pub const MODULE: &str = "etsi-qkd-sdn-node";
/// The module that defines the identities.
pub const TYPES_MODULE: &str = "etsi-qkd-node-types";
/// Revision of both modules.
pub const REVISION: &str = "2022-01-30";
/// The member name of the top-level container in RFC 7951 JSON, and the RESTCONF data
/// resource (`/restconf/data/etsi-qkd-sdn-node:qkd_node`).
pub const QKD_NODE: &str = "etsi-qkd-sdn-node:qkd_node";
/// File name of a node's 015 document in an output directory.
pub const FILE: &str = "qkd_node.json";

/// An identityref value of `etsi-qkd-node-types`, e.g. `identity("PHYS")`.
pub fn identity(name: &str) -> String {
    format!("{TYPES_MODULE}:{name}")
}

/// The identity name of an identityref value written with or without its module.
pub fn identity_name(value: &str) -> &str {
    value.rsplit_once(':').map_or(value, |(_, n)| n)
}

/// A whole document: `{"etsi-qkd-sdn-node:qkd_node": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    #[serde(rename = "etsi-qkd-sdn-node:qkd_node")]
    pub qkd_node: QkdNode,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QkdNode {
    pub qkdn_id: String,
    /// `config false`: written by devices, never by strata.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub qkdn_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub qkdn_location_id: Option<String>,
    #[serde(default)]
    pub qkd_applications: Applications,
    #[serde(default)]
    pub qkd_interfaces: Interfaces,
    #[serde(default)]
    pub qkd_links: Links,
    /// Leaves strata does not model (`qkdn_version`, `qkdn_capabilities`, …).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Applications {
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub qkd_app: Vec<App>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interfaces {
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub qkd_interface: Vec<Interface>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Links {
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub qkd_link: Vec<Link>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct App {
    pub app_id: String,
    /// `config false`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub app_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub app_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub server_app_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub client_app_id: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub app_priority: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub app_qos: Option<AppQos>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub backing_qkdl_id: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub local_qkdn_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub remote_qkdn_id: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `app_qos`: bandwidths in bit/s, `jitter` in ms, `ttl` in s.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppQos {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_bandwidth: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub min_bandwidth: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub jitter: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ttl: Option<u32>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    pub qkdi_id: u32,
    /// `config false`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub qkdi_status: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One end of a link: `qkdl_local` or `qkdl_remote`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkEnd {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub qkdn_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub qkdi_id: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub qkdl_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub qkdl_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub qkdl_enable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub qkdl_local: Option<LinkEnd>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub qkdl_remote: Option<LinkEnd>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub qkdl_type: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub qkdl_applications: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub virt_prev_hop: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub virt_next_hop: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub virt_bandwidth: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub qkdl_performance: Option<Performance>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `qkdl_performance`: every leaf is `config false`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Performance {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expected_consumption: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub skr: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub eskr: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub phys_perf: Vec<PhysPerf>,
}

/// One `phys_perf` entry: `value` is a `decimal64` with three fraction digits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhysPerf {
    pub perf_type: String,
    pub value: String,
}

impl Document {
    /// Pretty RFC 7951 JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Parses RFC 7951 JSON of the `qkd_node` resource.
    pub fn parse(text: &str) -> Result<Document, String> {
        serde_json::from_str(text).map_err(|e| {
            format!(
                "not an `{QKD_NODE}` document in RFC 7951 JSON (line {}, column {}): {e}",
                e.line(),
                e.column()
            )
        })
    }

    /// The configuration (`config true`) part only: what a RESTCONF `PUT` writes. Drops
    /// node, interface and application status and every leaf of `qkdl_performance`.
    pub fn config_only(&self) -> Document {
        let mut d = self.clone();
        let n = &mut d.qkd_node;
        n.qkdn_status = None;
        for a in &mut n.qkd_applications.qkd_app {
            a.app_status = None;
            a.other.remove("creation_time");
            a.other.remove("app_statistics");
        }
        for i in &mut n.qkd_interfaces.qkd_interface {
            i.qkdi_status = None;
        }
        for l in &mut n.qkd_links.qkd_link {
            l.qkdl_performance = None;
        }
        d
    }

    /// The QBER a link reports in `phys_perf`, when it reports one.
    pub fn qber(link: &Link) -> Option<f64> {
        link.qkdl_performance.as_ref().and_then(|p| {
            p.phys_perf
                .iter()
                .find(|x| identity_name(&x.perf_type) == "QBER")
                .and_then(|x| x.value.parse().ok())
        })
    }
}

/// Checks what the YANG modules require of a document beyond its JSON shape: UUIDs in
/// `yang:uuid` syntax, identities that `etsi-qkd-node-types` defines for each leaf, unique
/// list keys, and link ends naming interfaces of the node.
pub fn check(doc: &Document) -> Result<(), String> {
    let mut bad = Vec::new();
    let n = &doc.qkd_node;
    let mut uuid = |what: &str, v: &str| {
        let ok = v.len() == 36 && uuid::Uuid::parse_str(v).is_ok() && v == v.to_lowercase();
        if !ok {
            bad.push(format!("{what} `{v}` is not a lower-case UUID"));
        }
    };
    uuid("qkdn_id", &n.qkdn_id);
    for l in &n.qkd_links.qkd_link {
        uuid("qkdl_id", &l.qkdl_id);
        for e in [&l.qkdl_local, &l.qkdl_remote].into_iter().flatten() {
            if let Some(id) = &e.qkdn_id {
                uuid("qkdn_id", id);
            }
        }
        for id in l
            .qkdl_applications
            .iter()
            .chain(&l.virt_next_hop)
            .chain(&l.virt_prev_hop)
        {
            uuid("link reference", id);
        }
    }
    for a in &n.qkd_applications.qkd_app {
        uuid("app_id", &a.app_id);
        for id in a
            .backing_qkdl_id
            .iter()
            .chain(&a.local_qkdn_id)
            .chain(&a.remote_qkdn_id)
        {
            uuid("application reference", id);
        }
    }
    let mut ident = |what: &str, v: &Option<String>, allowed: &[&str]| {
        if let Some(v) = v {
            let known = v
                .strip_prefix(TYPES_MODULE)
                .and_then(|r| r.strip_prefix(':'))
                .is_some_and(|name| allowed.contains(&name));
            if !known {
                bad.push(format!(
                    "{what} `{v}` is none of {}",
                    allowed
                        .iter()
                        .map(|a| identity(a))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    };
    for l in &n.qkd_links.qkd_link {
        ident("qkdl_type", &l.qkdl_type, &["VIRT", "PHYS"]);
        ident(
            "qkdl_status",
            &l.qkdl_status,
            &["ACTIVE", "PASSIVE", "PENDING", "OFF"],
        );
        for p in l.qkdl_performance.iter().flat_map(|p| &p.phys_perf) {
            ident("perf_type", &Some(p.perf_type.clone()), &["QBER", "SNR"]);
        }
    }
    for a in &n.qkd_applications.qkd_app {
        ident("app_type", &a.app_type, &["CLIENT", "INTERNAL"]);
    }
    let mut keys = std::collections::BTreeSet::new();
    for l in &n.qkd_links.qkd_link {
        if !keys.insert(("qkd_link", l.qkdl_id.clone())) {
            bad.push(format!("two qkd_link entries {}", l.qkdl_id));
        }
    }
    for a in &n.qkd_applications.qkd_app {
        if !keys.insert(("qkd_app", a.app_id.clone())) {
            bad.push(format!("two qkd_app entries {}", a.app_id));
        }
    }
    let interfaces: std::collections::BTreeSet<u32> = n
        .qkd_interfaces
        .qkd_interface
        .iter()
        .map(|i| i.qkdi_id)
        .collect();
    if interfaces.len() != n.qkd_interfaces.qkd_interface.len() {
        bad.push("two qkd_interface entries with one qkdi_id".into());
    }
    for l in &n.qkd_links.qkd_link {
        if let Some(i) = l.qkdl_local.as_ref().and_then(|e| e.qkdi_id)
            && !interfaces.contains(&i)
        {
            bad.push(format!(
                "link {} uses interface {i}, which the node does not have",
                l.qkdl_id
            ));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad.join("; "))
    }
}

/// A `decimal64` with three fraction digits, as RFC 7951 writes it (a string).
pub fn decimal3(v: f64) -> String {
    format!("{:.3}", v.max(0.0))
}

/// A non-negative rate as a `uint32`: rounded to the nearest integer, saturating.
pub fn uint32(v: f64) -> u32 {
    if v.is_finite() && v > 0.0 {
        v.round().min(f64::from(u32::MAX)) as u32
    } else {
        0
    }
}
