//! The emitted configuration: one document per node and stratum, plus the compile summary.
//! This is strata's explicit, versioned output schema. Field names follow ETSI GS QKD 015
//! (`qkd_links`, `qkd_applications`, `app_qos`, `skr`, `eskr`, `expected_consumption`,
//! `virt_prev_hop`, `virt_next_hop`) and ETSI GS QKD 004 (`key_chunk_size`, `max_bps`,
//! `min_bps`, `jitter`, `priority`, `timeout`, `ttl`) where those standards define them.
//!
//! Every collection is a `Vec` in a fixed order or a `BTreeMap`, so the same inputs always
//! serialise to the same bytes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Schema identifier written into every document.
pub const SCHEMA: &str = "strata.config/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stratum {
    Service,
    Forwarding,
    Connectivity,
}

impl Stratum {
    pub const ALL: [Stratum; 3] = [Stratum::Service, Stratum::Forwarding, Stratum::Connectivity];

    pub fn as_str(self) -> &'static str {
        match self {
            Stratum::Service => "service",
            Stratum::Forwarding => "forwarding",
            Stratum::Connectivity => "connectivity",
        }
    }
}

/// All configuration of one compile: per node, the three strata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigSet {
    pub nodes: BTreeMap<String, NodeConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeConfig {
    pub service: ServiceConfig,
    pub forwarding: ForwardingConfig,
    pub connectivity: ConnectivityConfig,
}

// ---------------------------------------------------------------- service stratum

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceConfig {
    pub schema: String,
    pub node: String,
    /// Service units this node's KME (or memory) terminates.
    pub service_units: Vec<ServiceUnit>,
    /// ETSI GS QKD 015 applications registered at this KME.
    pub qkd_applications: Vec<QkdApplication>,
    /// Application sessions with their QoS (ETSI GS QKD 004) and token bucket.
    pub sessions: Vec<Session>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnitKind {
    Keys,
    EntangledPairs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndRole {
    /// First endpoint of the intent: calls `enc_keys` (ETSI 014 master SAE).
    Master,
    /// Second endpoint: calls `dec_keys` (slave SAE).
    Slave,
}

/// The draft's three URNs of a service unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitUrns {
    /// The local application endpoint, with its nonce in the q-component.
    pub local: String,
    /// The peer application endpoint, with its nonce.
    pub remote: String,
    /// Lifecycle URN: size/count, lifetime and (pairs) fidelity of each unit.
    pub lifecycle: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceUnit {
    /// The intent this unit serves.
    pub id: String,
    pub kind: UnitKind,
    pub role: EndRole,
    pub peer: String,
    pub urns: UnitUrns,
    /// Key size in bits (keys only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key_size: Option<u32>,
    /// Admitted service units per second.
    pub rate: f64,
    /// Lifetime of each unit in seconds, when the intent bounds it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub valid_for_s: Option<f64>,
    /// End-to-end fidelity delivered (pairs) or worst link fidelity 1 − QBER (keys).
    pub fidelity: f64,
}

/// `app_qos` of ETSI GS QKD 015, in bit/s and seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppQos {
    pub max_bandwidth: f64,
    pub min_bandwidth: f64,
    pub jitter: f64,
    pub ttl: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QkdApplication {
    pub app_id: String,
    pub app_type: String,
    pub client_app_id: Vec<String>,
    pub server_app_id: Vec<String>,
    pub app_priority: i64,
    pub app_qos: AppQos,
}

/// Session QoS as ETSI GS QKD 004 names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionQos {
    pub key_chunk_size: u32,
    pub max_bps: f64,
    pub min_bps: f64,
    pub jitter: f64,
    pub priority: i64,
    pub timeout: f64,
    pub ttl: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenBucket {
    /// Tokens (service units) added per second.
    pub rate: f64,
    /// Bucket depth in service units.
    pub burst: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub key_stream_id: String,
    pub service_unit: String,
    pub application: String,
    pub qos: SessionQos,
    pub token_bucket: TokenBucket,
}

// ---------------------------------------------------------------- forwarding stratum

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ForwardingConfig {
    pub schema: String,
    pub node: String,
    pub qkd_links: Vec<QkdLinkConfig>,
    pub entanglement_links: Vec<EntanglementLinkConfig>,
    pub forwarding_table: Vec<ForwardingEntry>,
    pub swap_schedule: Vec<SwapEntry>,
    pub purification: Vec<PurificationEntry>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub memory: Option<MemoryConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reservation {
    pub service_unit: String,
    /// Reserved share of the link: key bits per second (QKD) or elementary pairs per second.
    pub rate: f64,
}

/// A QKD link end as ETSI GS QKD 015 describes it, with strata's reservations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QkdLinkConfig {
    pub qkdl_id: String,
    pub qkdl_type: String,
    pub local_qkdn_id: String,
    pub remote_qkdn_id: String,
    /// Secret key rate of the link, bit/s.
    pub skr: f64,
    /// Effective secret key rate strata may reserve (skr less the headroom), bit/s.
    pub eskr: f64,
    /// Key bits per second reserved by admitted service units.
    pub expected_consumption: f64,
    pub qber: f64,
    pub reservations: Vec<Reservation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntanglementLinkConfig {
    pub link_id: String,
    pub local_node: String,
    pub remote_node: String,
    /// Elementary pairs per second the link generates.
    pub pair_rate: f64,
    pub fidelity: f64,
    /// Elementary pairs per second reserved (swap overhead included).
    pub expected_consumption: f64,
    pub reservations: Vec<Reservation>,
}

/// One hop of a service unit's path as seen from this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    pub node: String,
    pub link: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwardingEntry {
    pub service_unit: String,
    /// Index of the path among the unit's paths (see the summary).
    pub path: usize,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub virt_prev_hop: Option<Hop>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub virt_next_hop: Option<Hop>,
    /// Share of the unit's admitted rate carried on this path.
    pub share: f64,
    /// Service units per second on this path.
    pub rate: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwapEntry {
    pub service_unit: String,
    pub path: usize,
    pub left: Hop,
    pub right: Hop,
    /// Swaps attempted per second at this node.
    pub rate: f64,
    pub success_probability: f64,
    /// Discard a stored half-pair older than this.
    pub memory_cutoff_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PurificationEntry {
    pub service_unit: String,
    pub path: usize,
    pub peer: String,
    pub protocol: String,
    pub rounds: u32,
    /// Fidelity of the raw end-to-end pairs as they arrive.
    pub fidelity_in: f64,
    /// Fidelity of the purified pairs, after the storage below.
    pub fidelity_out: f64,
    /// Raw end-to-end pairs per second that deliver the path's rate.
    #[serde(default)]
    pub raw_pairs_per_s: f64,
    /// Seconds the first raw pair of a batch of 2^rounds waits in memory for the last.
    #[serde(default)]
    pub storage_wait_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryConfig {
    pub qubits: u32,
    pub coherence_time_s: f64,
    /// Qubits held on average by admitted service units.
    pub reserved_qubits: f64,
}

// ---------------------------------------------------------------- connectivity stratum

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectivityConfig {
    pub schema: String,
    pub node: String,
    pub classical_links: Vec<ClassicalLinkConfig>,
    /// The classical channel of every quantum link that ends at this node.
    pub classical_channels: Vec<ClassicalChannel>,
    /// Classical paths of the service units this node relays or terminates.
    pub classical_paths: Vec<ClassicalPath>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassicalLinkConfig {
    pub link_id: String,
    pub remote_node: String,
    pub bandwidth_bps: f64,
    pub reserved_bps: f64,
    pub latency_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassicalChannel {
    pub quantum_link: String,
    pub path: Vec<String>,
    pub bandwidth_bps: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassicalPath {
    pub service_unit: String,
    pub path: usize,
    /// The quantum hop this classical path serves (relay or swap messages).
    pub quantum_link: String,
    pub classical_links: Vec<String>,
    pub bandwidth_bps: f64,
    pub latency_budget_ms: f64,
}

// ---------------------------------------------------------------- summary

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Admission {
    /// The full requested rate is reserved.
    Met,
    /// Some rate is reserved, less than requested.
    Partial,
    /// Nothing could be reserved.
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathSummary {
    /// The path's number within its intent, as the forwarding tables number it (`path`);
    /// stable across re-plans that keep the path.
    #[serde(default)]
    pub path: usize,
    pub nodes: Vec<String>,
    pub links: Vec<String>,
    pub rate: f64,
    pub fidelity: f64,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub purification_rounds: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentSummary {
    pub name: String,
    pub kind: UnitKind,
    pub endpoints: [String; 2],
    pub priority: i64,
    pub requested_rate: f64,
    pub admitted_rate: f64,
    pub admission: Admission,
    pub paths: Vec<PathSummary>,
    /// Worst fidelity over the paths used (pairs: end to end; keys: 1 − worst QBER).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fidelity: Option<f64>,
    /// Worst classical latency over the paths used, ms.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub latency_ms: Option<f64>,
    /// Why the intent is not fully met, in the operator's terms.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// The intent's `disjoint paths N`, when it asks for protection (N > 1).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub disjoint_paths: Option<u32>,
    /// Why one of its disjoint paths could not be replaced after a failure: the intent is
    /// carried in full by its other paths but would not survive another failure.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub protection_lost: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub schema: String,
    pub network: String,
    pub intents: Vec<IntentSummary>,
    pub admitted: usize,
    pub partial: usize,
    pub rejected: usize,
    /// Σ admitted rate × priority weight, the optimiser's objective value.
    pub objective: f64,
    /// Whether the allocation is optimal over every allowed path, or over candidates only.
    #[serde(default)]
    pub optimum: Optimum,
}

/// How far the optimiser's search over paths went (column generation).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Optimum {
    /// No allowed path could improve any LP of the compile: the allocation is the optimum
    /// over all allowed paths of the priced intents.
    pub proven: bool,
    /// Paths found beyond each intent's k shortest candidates and given a rate.
    pub columns_added: usize,
    /// Pricing rounds over all LPs.
    pub pricing_rounds: usize,
    /// Intents optimised over their candidate paths only, never priced (`disjoint paths N`,
    /// whose column is a set of N disjoint paths rather than one path).
    pub candidates_only: usize,
    /// Intents whose pricing search reached its label cap without finding an improving
    /// path: priced heuristically, so the optimum is not proven.
    #[serde(default)]
    pub heuristic: usize,
    /// Why the search stopped before proving optimality, when it did.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limit: Option<String>,
}

/// File name of the summary inside an output directory.
pub const SUMMARY_FILE: &str = "summary.json";

impl ConfigSet {
    /// Per quantum link: what it reserves (`expected_consumption`) and its rate (`skr`, or
    /// `pair_rate` for entanglement), as the first node holding it lists them.
    pub fn link_loads(&self) -> BTreeMap<String, (f64, f64)> {
        let mut out = BTreeMap::new();
        for cfg in self.nodes.values() {
            for l in &cfg.forwarding.qkd_links {
                out.entry(l.qkdl_id.clone())
                    .or_insert((l.expected_consumption, l.skr));
            }
            for l in &cfg.forwarding.entanglement_links {
                out.entry(l.link_id.clone())
                    .or_insert((l.expected_consumption, l.pair_rate));
            }
        }
        out
    }

    /// Every document as (relative path, YAML text): `NODE/STRATUM.yaml`, in a fixed order.
    pub fn render(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (node, cfg) in &self.nodes {
            let dir = file_name(node);
            out.push((format!("{dir}/service.yaml"), to_yaml(&cfg.service)));
            out.push((format!("{dir}/forwarding.yaml"), to_yaml(&cfg.forwarding)));
            out.push((
                format!("{dir}/connectivity.yaml"),
                to_yaml(&cfg.connectivity),
            ));
        }
        out
    }
}

impl Summary {
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

fn to_yaml<T: Serialize>(value: &T) -> String {
    serde_yaml::to_string(value).unwrap_or_default()
}

/// A node name as a directory name: path separators and dots-only names are escaped.
pub fn file_name(node: &str) -> String {
    let s: String = node
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c == '\0' {
                '_'
            } else {
                c
            }
        })
        .collect();
    if s.chars().all(|c| c == '.') {
        format!("_{s}")
    } else {
        s
    }
}
