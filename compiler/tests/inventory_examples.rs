//! The example networks load clean and keep the properties their walkthroughs promise.

mod common;

use common::inventory::{CONTINENTAL, METRO, load_clean};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use strata_compiler::inventory::{Inventory, KeyRate, PairRate, Role, Trust};

/// Quantum adjacency: node → neighbours over QKD and entanglement links.
fn quantum_graph(inv: &Inventory) -> BTreeMap<&str, BTreeSet<&str>> {
    let mut g: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let ends = inv
        .qkd_links
        .iter()
        .map(|l| &l.ends)
        .chain(inv.entanglement_links.iter().map(|l| &l.ends));
    for [a, b] in ends {
        g.entry(&a.value).or_default().insert(&b.value);
        g.entry(&b.value).or_default().insert(&a.value);
    }
    g
}

/// Fewest hops from `from` to `to` that pass only through nodes `allowed` as relays.
fn hops(
    g: &BTreeMap<&str, BTreeSet<&str>>,
    from: &str,
    to: &str,
    allowed: &dyn Fn(&str) -> bool,
) -> Option<usize> {
    let mut seen = BTreeSet::from([from]);
    let mut queue = VecDeque::from([(from, 0)]);
    while let Some((at, d)) = queue.pop_front() {
        if at == to {
            return Some(d);
        }
        if at != from && !allowed(at) {
            continue;
        }
        for &next in g.get(at).into_iter().flatten() {
            if seen.insert(next) {
                queue.push_back((next, d + 1));
            }
        }
    }
    None
}

fn node_of_urn<'a>(inv: &'a Inventory, urn: &str) -> &'a str {
    let app = inv.applications.iter().find(|a| a.urn.value == urn);
    &app.expect("application present").node.value
}

#[test]
fn metro_example_loads_clean_and_matches_its_walkthrough() {
    let inv = load_clean(METRO);
    assert!(inv.nodes.len() >= 9);
    assert_eq!(
        inv.domain("foreign-carrier").map(|d| d.trust),
        Some(Trust::Untrusted)
    );
    assert_eq!(
        inv.domain("telefonica").map(|d| d.trust),
        Some(Trust::Trusted)
    );
    let foreign: Vec<_> = inv
        .nodes
        .iter()
        .filter(|n| n.domain.value == "foreign-carrier")
        .collect();
    assert!(!foreign.is_empty());
    assert!(inv.qkd_links.iter().any(|l| {
        l.ends
            .iter()
            .any(|e| foreign.iter().any(|n| n.name.value == e.value))
    }));

    // Both key-rate sources appear, with realistic numbers.
    for link in &inv.qkd_links {
        assert!(
            (3.0..=40.0).contains(&link.length_km),
            "{}",
            link.name.value
        );
        assert!(
            (0.25..=0.4).contains(&link.loss_db_per_km),
            "{}",
            link.name.value
        );
        assert!(
            (0.01..=0.04).contains(&link.qber.value),
            "{}",
            link.name.value
        );
        match &link.key_rate {
            KeyRate::Measured(r) => assert!((1e4..=1e6).contains(&r.value)),
            KeyRate::Protocol { derating, .. } => assert!((10.0..=20.0).contains(derating)),
        }
    }
    assert!(
        inv.qkd_links
            .iter()
            .any(|l| matches!(l.key_rate, KeyRate::Measured(_)))
    );
    assert!(
        inv.qkd_links
            .iter()
            .any(|l| matches!(l.key_rate, KeyRate::Protocol { .. }))
    );

    // ccips and the Quditto controller: 2–3 hops apart through trusted relays, and still
    // connected with Quintin and the foreign carrier removed, by two relay-disjoint paths.
    let g = quantum_graph(&inv);
    let from = node_of_urn(&inv, "urn:qkd:madqci:ccips");
    let to = node_of_urn(&inv, "urn:qkd:quditto:emulator:ipsec:controller");
    let trusted_relay = |n: &str| {
        inv.node(n).is_some_and(|node| {
            node.role.value == Role::TrustedRelay
                && inv.domain(&node.domain.value).map(|d| d.trust) == Some(Trust::Trusted)
        })
    };
    let d = hops(&g, from, to, &trusted_relay);
    assert!(matches!(d, Some(2..=3)), "{from} → {to}: {d:?}");
    // With Quintin avoided, removing any one more relay still leaves a trusted path of at
    // most 4 hops: by Menger's theorem, two relay-disjoint paths (`disjoint paths 2`).
    for relay in inv.nodes.iter().filter(|n| trusted_relay(&n.name.value)) {
        let r = relay.name.value.as_str();
        let allowed = |x: &str| trusted_relay(x) && x != "Quintin" && x != r;
        let d = hops(&g, from, to, &allowed);
        assert!(matches!(d, Some(1..=4)), "without {r}: {d:?}");
    }
}

#[test]
fn continental_example_loads_clean_and_matches_its_walkthrough() {
    let inv = load_clean(CONTINENTAL);
    assert!(inv.nodes.len() >= 20);
    assert!(inv.domains.len() >= 2);
    assert!(inv.nodes.iter().all(|n| n.memory.is_some()));
    for node in inv.nodes.iter().filter(|n| n.role.value == Role::Repeater) {
        let m = node.memory.expect("repeaters have memory");
        assert!((10..=100).contains(&m.qubits), "{}", node.name.value);
        assert!(
            (0.1..=10.0).contains(&m.coherence_time_s),
            "{}",
            node.name.value
        );
    }
    for link in &inv.entanglement_links {
        assert!(
            (10.0..=60.0).contains(&link.length_km),
            "{}",
            link.name.value
        );
        assert!(
            (0.95..=0.99).contains(&link.fidelity.value),
            "{}",
            link.name.value
        );
    }
    let links = &inv.entanglement_links;
    assert!(
        links
            .iter()
            .any(|l| matches!(l.pair_rate, PairRate::Measured(_)))
    );
    assert!(
        links
            .iter()
            .any(|l| matches!(l.pair_rate, PairRate::Physical { .. }))
    );
    assert!(inv.node("lab-a").is_some_and(|n| n.memory.is_some()));
    assert!(inv.node("lab-b").is_some_and(|n| n.memory.is_some()));
    let g = quantum_graph(&inv);
    let repeater = |n: &str| inv.node(n).is_some_and(|x| x.role.value == Role::Repeater);
    assert_eq!(hops(&g, "lab-a", "lab-b", &repeater), Some(5));
}

#[test]
fn every_quantum_link_has_its_classical_channel() {
    for text in [METRO, CONTINENTAL] {
        let inv = load_clean(text);
        let paths = inv
            .qkd_links
            .iter()
            .map(|l| &l.classical_path)
            .chain(inv.entanglement_links.iter().map(|l| &l.classical_path));
        for path in paths {
            assert!(!path.is_empty());
        }
    }
}
