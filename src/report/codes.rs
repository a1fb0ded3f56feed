//! What every diagnostic code means, for formats that describe their rules (SARIF).
//! Built from docs/language.md, docs/inventory.md and the compile and verify codes; a
//! test keeps it complete against every code the sources use.

/// One diagnostic code: its default severity, what it means, and where it is documented.
pub struct CodeInfo {
    pub code: &'static str,
    pub warning: bool,
    pub meaning: &'static str,
    pub doc: &'static str,
}

const LANG: &str = "docs/language.md#diagnostics";
const INV: &str = "docs/inventory.md#diagnostics";
const VERIFY: &str = "docs/ci.md#verifying-configuration-strata-verify";

macro_rules! codes {
    ($($code:literal, $warning:expr, $doc:expr, $meaning:literal;)*) => {
        pub const CODES: &[CodeInfo] = &[$(CodeInfo { code: $code, warning: $warning, meaning: $meaning, doc: $doc }),*];
    };
}

codes! {
    "strata::syntax", false, LANG, "The text does not follow the grammar of the intent language.";
    "strata::unknown-endpoint", false, LANG, "An endpoint names an application that is not in the inventory.";
    "strata::unknown-node", false, LANG, "A name that is not a node of the inventory.";
    "strata::unknown-link", false, LANG, "A name that is not a link of the inventory.";
    "strata::unknown-domain", false, LANG, "A name that is not a domain of the inventory.";
    "strata::unknown-intent", false, LANG, "A name that is not an intent of the files checked together.";
    "strata::name-too-long", false, LANG, "An intent or policy name longer than 256 characters.";
    "strata::unknown-unit", false, LANG, "A unit the language does not know.";
    "strata::missing-unit", false, LANG, "A number that needs a unit has none.";
    "strata::wrong-dimension", false, LANG, "A unit of the wrong dimension, such as a rate where a size belongs.";
    "strata::key-size", false, LANG, "A key size out of range.";
    "strata::fidelity-range", false, LANG, "A fidelity out of range.";
    "strata::rate-range", false, LANG, "A rate out of range.";
    "strata::out-of-range", false, LANG, "A value out of range.";
    "strata::bound-direction", false, LANG, "A bound in the direction that constrains nothing useful (`fidelity <=` or `latency >=`).";
    "strata::duplicate-intent", false, LANG, "Two intents share a name.";
    "strata::duplicate-policy", false, LANG, "Two policies share a name.";
    "strata::duplicate-clause", false, LANG, "A clause given twice.";
    "strata::duplicate-network", false, LANG, "`use network` given twice in one file.";
    "strata::missing-service", false, LANG, "An intent without its service.";
    "strata::missing-endpoints", false, LANG, "An intent without its endpoints.";
    "strata::missing-rate", false, LANG, "An intent without its rate.";
    "strata::missing-selector", false, LANG, "A policy without the selector of the intents it applies to.";
    "strata::missing-network", false, LANG, "An intent file without `use network` (and no `--network` given).";
    "strata::clause-not-allowed", false, LANG, "A policy-only clause in an intent, or an intent-only clause in a policy.";
    "strata::contradiction", false, LANG, "Constraints that contradict each other: `avoid` and `via` the same node, a minimum above its maximum, an endpoint excluded by a rule.";
    "strata::same-endpoints", false, LANG, "Both ends of an intent are served by one node.";
    "strata::no-path", false, LANG, "No chain of links joins the endpoints at all.";
    "strata::no-allowed-path", false, LANG, "Constraints and policies remove every path between the endpoints; the rules responsible are named.";
    "strata::above-plob", false, LANG, "A QKD link's key rate is above the repeaterless (PLOB) bound.";
    "strata::classical-overbooked", false, LANG, "A classical link cannot carry the classical channels of the quantum links that use it.";
    "strata::qber-over-threshold", true, LANG, "A QKD link's QBER leaves no secret key.";
    "strata::unused-policy", true, LANG, "A policy selects no intent.";
    "strata::no-effect", true, LANG, "A clause that cannot change anything.";
    "strata::io", false, LANG, "A file that cannot be read.";
    "strata::not-utf8", false, LANG, "A file that is not UTF-8 text.";
    "strata::unsatisfiable", true, LANG, "Compile: the network cannot serve the intent at all; the bottleneck is named.";
    "strata::partially-met", true, LANG, "Compile: the network serves only part of the intent's rate; the bottleneck and the shortfall are named.";
    "strata::lifetime-decoherence", true, LANG, "Compile: entangled pairs kept for their whole `valid for` decay in an endpoint's memory below the intent's fidelity bound; the longest lifetime that keeps it is given.";
    "strata::assertion-failed", false, LANG, "An `assert` item does not hold for the compiled network: the intent, link or failure scenario that breaks it is named.";
    "strata::not-survivable", true, LANG, "`check --failures N`: some combination of up to N failed links or nodes costs the intent rate even after the runtime's repair.";
    "strata::inventory-syntax", false, INV, "The inventory YAML cannot be read: bad syntax, a wrong type, an unknown or missing field, an empty file.";
    "strata::inventory-duplicate", false, INV, "Two domains, nodes, applications or links of any kind share a name, or two applications share a URN.";
    "strata::inventory-unknown-reference", false, INV, "A node's domain, an application's node, a link end or a classical_path entry names nothing.";
    "strata::inventory-range", false, INV, "An inventory number outside its physical range, or not finite.";
    "strata::inventory-link-ends", false, INV, "A link whose two ends are the same node.";
    "strata::inventory-urn", false, INV, "An application URN that is not RFC 8141 syntax, or that carries a component.";
    "strata::inventory-classical-path", false, INV, "A quantum link whose classical_path is missing or does not walk from one of its ends to the other.";
    "strata::inventory-memory", false, INV, "A repeater without quantum memory.";
    "strata::inventory-rate-source", false, INV, "A link with both or neither of its two ways of giving a rate, or with physics parameters next to a measured rate.";
    "strata::inventory-agent", false, INV, "A node agent address that is not host:port with a port from 1 to 65535.";
    "strata::inventory-name", false, INV, "A name that is empty or starts or ends with whitespace.";
    "strata::verify-document", false, VERIFY, "A node's document is missing, names another node or schema, or the node is unknown.";
    "strata::verify-link-ends", false, VERIFY, "A link is missing at one of its ends, configured at a node it does not end at, or its two ends disagree.";
    "strata::verify-figures", false, VERIFY, "A figure copied or derived from the inventory differs from the recomputed one.";
    "strata::verify-reservation", false, VERIFY, "Reservations differ from what the forwarding tables imply.";
    "strata::verify-qkd-capacity", false, VERIFY, "Key bits reserved on a QKD link exceed its usable secret key rate.";
    "strata::verify-pair-capacity", false, VERIFY, "Elementary pairs reserved on an entanglement link exceed its pair rate.";
    "strata::verify-classical-capacity", false, VERIFY, "Channels and service traffic on a classical link exceed its bandwidth.";
    "strata::verify-memory-capacity", false, VERIFY, "Qubits held at a node exceed its memory.";
    "strata::verify-classical-channel", false, VERIFY, "A quantum link's classical channel is missing or differs from the model.";
    "strata::verify-classical-path", false, VERIFY, "A hop's classical path is missing, stray, or carries the wrong links or bandwidth.";
    "strata::verify-unknown-unit", false, VERIFY, "Configuration for a service unit no intent defines.";
    "strata::verify-broken-path", false, VERIFY, "Forwarding entries that do not chain into one path.";
    "strata::verify-path-endpoints", false, VERIFY, "A path that does not run from the intent's first endpoint to its second.";
    "strata::verify-link-not-joining", false, VERIFY, "A hop over a link that does not join its two nodes, or is of the wrong kind.";
    "strata::verify-rate-mismatch", false, VERIFY, "A path's rate or share differs between the nodes along it.";
    "strata::verify-summary", false, VERIFY, "The summary disagrees with the intents or with the forwarding tables.";
    "strata::verify-admitted-rate", false, VERIFY, "An admitted rate that is not what the paths carry, or above the requested rate.";
    "strata::verify-admission", false, VERIFY, "An admission status (met, partial, rejected) the rates do not support.";
    "strata::verify-avoid", false, VERIFY, "A path through an avoided node, link or domain.";
    "strata::verify-via", false, VERIFY, "A path that misses a via node or visits them out of order.";
    "strata::verify-max-hops", false, VERIFY, "A path longer than max hops.";
    "strata::verify-trusted-relay", false, VERIFY, "A relay that is not a trusted relay in a trusted domain, under `relay via trusted nodes only`.";
    "strata::verify-relay-role", false, VERIFY, "An intermediate node that cannot relay keys or swap entanglement.";
    "strata::verify-disjoint", false, VERIFY, "Paths of a `disjoint paths N` intent that share a link or relay, or too few of them.";
    "strata::verify-fidelity", false, VERIFY, "A path below the intent's fidelity bound.";
    "strata::verify-latency", false, VERIFY, "A path over the intent's latency bound.";
    "strata::verify-swap-schedule", false, VERIFY, "A swap entry missing, stray or inconsistent with the path.";
    "strata::verify-purification", false, VERIFY, "Purification entries inconsistent with the path or with each other.";
    "strata::verify-service-unit", false, VERIFY, "A service unit missing at an endpoint, stray, or with the wrong role, peer or rate.";
    "strata::verify-urn", false, VERIFY, "A URN that is not RFC 8141, lacks its q-component, or does not pair with the other end.";
    "strata::verify-session", false, VERIFY, "A session missing, or its token bucket or QoS not at the admitted rate.";
    "strata::verify-etsi015", false, VERIFY, "A node's ETSI GS QKD 015 document missing, unreadable, or saying something else than its strata documents.";
}

/// The entry of `code`, if the table has one.
pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    CODES.iter().find(|c| c.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn collect(dir: &Path, found: &mut std::collections::BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                collect(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs" || e == "md") {
                let text = std::fs::read_to_string(&path).unwrap();
                let mut rest = text.as_str();
                while let Some(i) = rest.find("strata::") {
                    let tail = &rest[i + "strata::".len()..];
                    let end = tail
                        .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
                        .unwrap_or(tail.len());
                    let name = tail[..end].trim_end_matches('-');
                    // `strata::inventory-*`, `-node` shorthands and prose are not codes.
                    if !name.is_empty() && !name.ends_with("inventory") {
                        found.insert(format!("strata::{name}"));
                    }
                    rest = &tail[end..];
                }
            }
        }
    }

    #[test]
    fn every_code_in_the_sources_has_a_meaning() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut found = std::collections::BTreeSet::new();
        for dir in ["grammar/src", "compiler/src", "runtime/src"] {
            collect(&root.join(dir), &mut found);
        }
        assert!(found.contains("strata::unknown-endpoint"), "{found:?}");
        assert!(found.len() > 60, "too few codes found: {found:?}");
        let missing: Vec<&String> = found.iter().filter(|c| lookup(c).is_none()).collect();
        assert!(missing.is_empty(), "codes without a meaning: {missing:?}");
    }

    #[test]
    fn every_code_in_the_table_is_unique_and_documented() {
        let mut seen = std::collections::BTreeSet::new();
        for c in CODES {
            assert!(seen.insert(c.code), "{} twice", c.code);
            assert!(c.meaning.ends_with('.'), "{}", c.code);
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let docs = std::fs::read_to_string(root.join("docs/language.md")).unwrap()
            + &std::fs::read_to_string(root.join("docs/inventory.md")).unwrap();
        for c in CODES.iter().filter(|c| c.doc != VERIFY) {
            let short = c.code.rsplit('-').next().unwrap();
            assert!(
                docs.contains(c.code) || docs.contains(&format!("-{short}`")),
                "{} is not in the docs",
                c.code
            );
        }
    }
}
