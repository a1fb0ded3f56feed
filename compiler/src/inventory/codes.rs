//! The stable diagnostic codes of the inventory loader, one per kind of problem. Tools and
//! tests match on these strings; `docs/inventory.md` lists each with an example.

/// The YAML cannot be read: bad syntax, a wrong type, an unknown or missing field.
pub const SYNTAX: &str = "strata::inventory-syntax";
/// Two domains, nodes, applications or links (of any kind) share a name, an application has
/// a node's name, or two applications share a URN.
pub const DUPLICATE: &str = "strata::inventory-duplicate";
/// A name that refers to a domain, node or classical link that is not defined.
pub const UNKNOWN_REFERENCE: &str = "strata::inventory-unknown-reference";
/// A number outside its physical range, or not finite.
pub const RANGE: &str = "strata::inventory-range";
/// A link whose two ends are the same node.
pub const LINK_ENDS: &str = "strata::inventory-link-ends";
/// An application URN that is not RFC 8141 syntax, or that carries a component.
pub const URN: &str = "strata::inventory-urn";
/// A quantum link whose `classical_path` is missing or does not walk from one end to the
/// other.
pub const CLASSICAL_PATH: &str = "strata::inventory-classical-path";
/// A repeater without quantum memory.
pub const MEMORY: &str = "strata::inventory-memory";
/// A link with both or neither of its two ways of giving a rate, or with physics
/// parameters next to a measured rate.
pub const RATE_SOURCE: &str = "strata::inventory-rate-source";
/// A node agent address that is not `host:port`.
pub const AGENT: &str = "strata::inventory-agent";
/// A name that is empty, starts or ends with whitespace, or is longer than
/// [`crate::MAX_NAME_CHARS`].
pub const NAME: &str = "strata::inventory-name";
