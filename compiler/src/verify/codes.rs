//! The stable codes of verifier violations, one per kind of problem.

/// A node's document is missing, names another node or schema, or the node is unknown.
pub const DOCUMENT: &str = "strata::verify-document";
/// A link is missing at one of its ends, configured at a node it does not end at, or its
/// two ends disagree.
pub const LINK_ENDS: &str = "strata::verify-link-ends";
/// A figure copied or derived from the inventory (key rate, pair rate, QBER, fidelity,
/// bandwidth, latency, memory size) differs from the recomputed one.
pub const FIGURES: &str = "strata::verify-figures";
/// `expected_consumption`, `reservations`, `reserved_bps` or `reserved_qubits` differ
/// from what the forwarding tables imply.
pub const RESERVATION: &str = "strata::verify-reservation";
/// Key bits reserved on a QKD link exceed its usable secret key rate.
pub const QKD_CAPACITY: &str = "strata::verify-qkd-capacity";
/// Elementary pairs reserved on an entanglement link exceed its pair rate.
pub const PAIR_CAPACITY: &str = "strata::verify-pair-capacity";
/// Channels and service traffic on a classical link exceed its bandwidth.
pub const CLASSICAL_CAPACITY: &str = "strata::verify-classical-capacity";
/// Qubits held at a node exceed its memory.
pub const MEMORY_CAPACITY: &str = "strata::verify-memory-capacity";
/// A quantum link's classical channel is missing or differs from the model.
pub const CLASSICAL_CHANNEL: &str = "strata::verify-classical-channel";
/// A hop's classical path is missing, stray, or carries the wrong links or bandwidth.
pub const CLASSICAL_PATH: &str = "strata::verify-classical-path";
/// Configuration for a service unit no intent defines.
pub const UNKNOWN_UNIT: &str = "strata::verify-unknown-unit";
/// Forwarding entries that do not chain into one path (dropped hop, loop, mismatched
/// previous and next hops).
pub const BROKEN_PATH: &str = "strata::verify-broken-path";
/// A path that does not run from the intent's first endpoint to its second.
pub const PATH_ENDPOINTS: &str = "strata::verify-path-endpoints";
/// A hop over a link that does not join its two nodes (or is of the wrong kind).
pub const LINK_NOT_JOINING: &str = "strata::verify-link-not-joining";
/// A path's rate (or share) differs between the nodes along it.
pub const RATE_MISMATCH: &str = "strata::verify-rate-mismatch";
/// The summary disagrees with the intents or with the forwarding tables.
pub const SUMMARY: &str = "strata::verify-summary";
/// An admitted rate that is not what the paths carry, or above the requested rate.
pub const ADMITTED_RATE: &str = "strata::verify-admitted-rate";
/// An admission status (met, partial, rejected) the rates do not support.
pub const ADMISSION: &str = "strata::verify-admission";
/// A path through an avoided node, link or domain.
pub const AVOID: &str = "strata::verify-avoid";
/// A path that misses a `via` node or visits them out of order.
pub const VIA: &str = "strata::verify-via";
/// A path longer than `max hops`.
pub const MAX_HOPS: &str = "strata::verify-max-hops";
/// A relay that is not a trusted relay in a trusted domain, under `relay via trusted
/// nodes only`.
pub const TRUSTED_RELAY: &str = "strata::verify-trusted-relay";
/// An intermediate node that cannot relay keys or swap entanglement.
pub const RELAY_ROLE: &str = "strata::verify-relay-role";
/// Paths of a `disjoint paths N` intent that share a link or relay, or too few of them.
pub const DISJOINT: &str = "strata::verify-disjoint";
/// A path below the intent's fidelity bound.
pub const FIDELITY: &str = "strata::verify-fidelity";
/// A path over the intent's latency bound.
pub const LATENCY: &str = "strata::verify-latency";
/// A swap entry missing, stray or inconsistent with the path.
pub const SWAP_SCHEDULE: &str = "strata::verify-swap-schedule";
/// Purification entries inconsistent with the path or with each other.
pub const PURIFICATION: &str = "strata::verify-purification";
/// A service unit missing at an endpoint, stray, or with the wrong role, peer or rate.
pub const SERVICE_UNIT: &str = "strata::verify-service-unit";
/// A URN that is not RFC 8141, lacks its q-component, or does not pair with the other end.
pub const URN: &str = "strata::verify-urn";
/// A session missing, or its token bucket or QoS not at the admitted rate.
pub const SESSION: &str = "strata::verify-session";
/// A node's ETSI GS QKD 015 document (`qkd_node.json`) missing, unreadable, or saying
/// something else than its strata documents.
pub const ETSI015: &str = "strata::verify-etsi015";
