//! Inventory loader: the example networks load clean and keep the properties their
//! walkthroughs promise; every diagnostic code fires at the line and column of the
//! offending value; all problems in a file are reported together; no input panics.

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use strata_compiler::inventory::{Inventory, KeyRate, PairRate, Role, Trust, load};
use strata_grammar::{Diagnostic, FileId, SourceFile};

const METRO: &str = include_str!("../../examples/metro/network.yaml");
const CONTINENTAL: &str = include_str!("../../examples/continental/network.yaml");

fn load_clean(text: &str) -> Inventory {
    let (inv, diags) = load(FileId(0), text);
    assert!(diags.is_empty(), "unexpected diagnostics: {diags:#?}");
    inv.expect("a clean load returns the inventory")
}

/// Diagnostics of `text` as (code, line, column) of their primary span.
fn found(text: &str) -> Vec<(&'static str, usize, usize)> {
    let (_, diags) = load(FileId(0), text);
    positions(text, &diags)
}

fn positions(text: &str, diags: &[Diagnostic]) -> Vec<(&'static str, usize, usize)> {
    let src = SourceFile::new("test.yaml", text);
    diags
        .iter()
        .map(|d| {
            let (line, col) = src.line_col(d.span.start);
            (d.code, line, col)
        })
        .collect()
}

/// The one diagnostic `text` produces, which must carry `code`.
fn single(text: &str, code: &str) -> (Diagnostic, usize, usize) {
    let (_, diags) = load(FileId(0), text);
    assert_eq!(diags.len(), 1, "expected one diagnostic, got {diags:#?}");
    let d = diags[0].clone();
    assert_eq!(d.code, code, "{d:#?}");
    assert!(
        d.help.is_some(),
        "every inventory diagnostic says how to fix it: {d:#?}"
    );
    assert!(!d.label.is_empty(), "{d:#?}");
    let (line, col) = SourceFile::new("t", text).line_col(d.span.start);
    (d, line, col)
}

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

// ---------------------------------------------------------------------------------------
// The examples

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

// ---------------------------------------------------------------------------------------
// One test per diagnostic code, with the exact position of the offending value

const HEADER: &str = "\
name: test
domains:
  - { name: core, operator: Core Telecom, trust: trusted }
  - { name: other, operator: Other Carrier, trust: untrusted }
nodes:
  - { name: alpha, domain: core, role: endpoint }
  - { name: relay, domain: core, role: trusted-relay }
  - { name: beta, domain: other, role: endpoint }
classical_links:
  - { name: c1, ends: [alpha, relay], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: c2, ends: [relay, beta], bandwidth_bps: 1e9, latency_ms: 0.1 }
";
// HEADER is 11 lines; the snippets below start on line 12.

#[test]
fn header_alone_is_clean() {
    load_clean(HEADER);
}

#[test]
fn syntax_error_points_at_the_broken_yaml() {
    let text = "name: x\nnodes: [\n  {name: a\n";
    let (d, line, _) = single(text, "strata::inventory-syntax");
    assert!(line >= 2, "{d:#?}");
}

#[test]
fn unknown_field_suggests_the_right_name() {
    let text = format!(
        "{HEADER}qkd_links:
  - name: q1
    ends: [alpha, relay]
    lenght_km: 10
"
    );
    let (d, line, col) = single(&text, "strata::inventory-syntax");
    assert_eq!((line, col), (15, 5));
    assert!(d.message.contains("lenght_km"), "{}", d.message);
    assert_eq!(d.help.as_deref(), Some("did you mean `length_km`?"));
}

#[test]
fn wrong_type_is_a_syntax_error_at_the_value() {
    let text = format!(
        "{HEADER}qkd_links:
  - name: q1
    ends: [alpha, relay]
    length_km: ten
"
    );
    let (_, line, col) = single(&text, "strata::inventory-syntax");
    assert_eq!((line, col), (15, 16));
}

#[test]
fn misspelt_enum_value_gets_a_suggestion() {
    let text = "name: x\ndomains:\n  - { name: d, operator: o, trust: trustd }\n";
    let (d, line, col) = single(text, "strata::inventory-syntax");
    assert_eq!((line, col), (3, 36));
    assert_eq!(d.help.as_deref(), Some("did you mean `trusted`?"));
}

#[test]
fn empty_file_is_one_clear_error() {
    for text in ["", "\n\n", "# only a comment\n"] {
        let (d, _, _) = single(text, "strata::inventory-syntax");
        assert!(d.message.contains("empty"), "{d:#?}");
        assert_eq!(load(FileId(0), text).0, None);
    }
}

#[test]
fn duplicate_names_point_at_the_second_definition() {
    let text = format!(
        "{HEADER}entanglement_links:
  - name: c2
    ends: [alpha, relay]
    length_km: 10
    pair_rate_hz: 100
    fidelity: 0.95
    classical_path: [c1]
"
    );
    let (d, line, col) = single(&text, "strata::inventory-duplicate");
    // Links of every kind share one namespace: the classical `c2` was defined first.
    assert_eq!((line, col), (13, 11));
    let first = SourceFile::new("t", &*text).line_col(d.related[0].span.start);
    assert_eq!(first, (11, 13));
    assert_eq!(d.related[0].message, "first defined here");

    let nodes = HEADER.replace(
        "  - { name: beta, domain: other, role: endpoint }\n",
        "  - { name: beta, domain: other, role: endpoint }\n  - { name: alpha, domain: other, role: endpoint }\n",
    );
    let (_, line, col) = single(&nodes, "strata::inventory-duplicate");
    assert_eq!((line, col), (9, 13));
}

#[test]
fn unknown_references_suggest_close_names() {
    let text = HEADER.replace("name: beta, domain: other", "name: beta, domain: othr");
    let (d, line, col) = single(&text, "strata::inventory-unknown-reference");
    assert_eq!((line, col), (8, 27));
    assert_eq!(d.help.as_deref(), Some("did you mean `other`?"));

    let text = format!(
        "{HEADER}applications:
  - name: app
    urn: urn:qkd:test:app
    node: alpa
"
    );
    let (d, line, col) = single(&text, "strata::inventory-unknown-reference");
    assert_eq!((line, col), (15, 11));
    assert_eq!(d.help.as_deref(), Some("did you mean `alpha`?"));

    let text = format!(
        "{HEADER}qkd_links:
  - name: q1
    ends: [alpha, rela]
    length_km: 10
    skr_bps: 1000
    qber: 0.02
    classical_path: [c1]
"
    );
    let (d, line, col) = single(&text, "strata::inventory-unknown-reference");
    assert_eq!((line, col), (14, 19));
    assert_eq!(d.help.as_deref(), Some("did you mean `relay`?"));

    let text = format!(
        "{HEADER}qkd_links:
  - name: q1
    ends: [alpha, relay]
    length_km: 10
    skr_bps: 1000
    qber: 0.02
    classical_path: [c3]
"
    );
    let (_, line, col) = single(&text, "strata::inventory-unknown-reference");
    assert_eq!((line, col), (18, 22));
}

#[test]
fn out_of_range_values_are_reported_where_written() {
    let text = format!(
        "{HEADER}qkd_links:
  - name: q1
    ends: [alpha, relay]
    length_km: -3
    skr_bps: 1000
    qber: 2
    classical_path: [c1]
"
    );
    let found = found(&text);
    assert_eq!(
        found,
        vec![
            ("strata::inventory-range", 15, 16),
            ("strata::inventory-range", 17, 11)
        ]
    );
    let (_, diags) = load(FileId(0), &text);
    assert_eq!(
        diags[1].help.as_deref(),
        Some("QBER is a fraction, not a percentage: 2 % is `0.02`")
    );
}

#[test]
fn not_a_number_is_out_of_range() {
    let text = format!(
        "{HEADER}entanglement_links:
  - name: e1
    ends: [alpha, relay]
    length_km: 10
    efficiency: .nan
    fidelity: 0.2
    classical_path: [c1]
"
    );
    assert_eq!(
        found(&text),
        vec![
            ("strata::inventory-range", 16, 17),
            ("strata::inventory-range", 17, 15)
        ]
    );
}

#[test]
fn protocol_parameters_and_derating_are_range_checked() {
    let text = format!(
        "{HEADER}qkd_links:
  - name: q1
    ends: [alpha, relay]
    length_km: 10
    protocol: decoy-bb84
    params: {{ detector_efficiency: 1.5, ec_inefficiency: 0.9 }}
    derating: 0.5
    qber: 0.02
    classical_path: [c1]
"
    );
    assert_eq!(
        found(&text),
        vec![
            ("strata::inventory-range", 17, 36),
            ("strata::inventory-range", 17, 58),
            ("strata::inventory-range", 18, 15),
        ]
    );
}

#[test]
fn memory_and_classical_ranges() {
    let text = "name: x
domains: [{ name: d, operator: o, trust: trusted }]
nodes:
  - name: r
    domain: d
    role: repeater
    memory: { qubits: 0, coherence_time_s: 0 }
classical_links:
  - { name: c, ends: [r, s], bandwidth_bps: 0, latency_ms: -1 }
";
    let codes = found(text);
    assert!(
        codes.contains(&("strata::inventory-range", 7, 23)),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("strata::inventory-range", 7, 44)),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("strata::inventory-range", 9, 45)),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("strata::inventory-range", 9, 60)),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("strata::inventory-unknown-reference", 9, 26)),
        "{codes:?}"
    );
}

#[test]
fn link_with_both_ends_at_one_node() {
    let text = HEADER.replace("ends: [relay, beta]", "ends: [relay, relay]");
    let (d, line, col) = single(&text, "strata::inventory-link-ends");
    assert_eq!((line, col), (11, 31));
    let first = SourceFile::new("t", &*text).line_col(d.related[0].span.start);
    assert_eq!(first, (11, 24));
}

#[test]
fn urn_must_be_rfc_8141_without_q_component() {
    let app = |urn: &str| {
        format!("{HEADER}applications:\n  - {{ name: app, node: alpha, urn: \"{urn}\" }}\n")
    };
    // The label points at the character that breaks the syntax.
    let (_, line, col) = single(
        &app("urn:qkd:madqci:ccips?=nonce=177923"),
        "strata::inventory-urn",
    );
    assert_eq!((line, col), (13, 57));
    let (_, line, col) = single(&app("urn:q:ccips"), "strata::inventory-urn");
    assert_eq!((line, col), (13, 41));
    let (_, line, col) = single(&app("qkd:madqci"), "strata::inventory-urn");
    assert_eq!((line, col), (13, 37));
    let (_, line, col) = single(&app("urn:qkd:a b"), "strata::inventory-urn");
    assert_eq!((line, col), (13, 46));
    load_clean(&app("urn:qkd:madqci:ccips"));
}

#[test]
fn classical_path_must_walk_between_the_link_ends() {
    let link = |path: &str| {
        format!(
            "{HEADER}qkd_links:
  - name: q1
    ends: [alpha, beta]
    length_km: 10
    skr_bps: 1000
    qber: 0.02
    classical_path: {path}
"
        )
    };
    load_clean(&link("[c1, c2]"));
    load_clean(&link("[c2, c1]"));
    // c2 does not touch alpha, where the walk starts.
    let (_, line, col) = single(&link("[c2, c2]"), "strata::inventory-classical-path");
    assert_eq!((line, col), (18, 26));
    // Ends at relay instead of beta.
    let (_, line, col) = single(&link("[c1]"), "strata::inventory-classical-path");
    assert_eq!((line, col), (18, 22));
    // Missing altogether: reported at the link's name.
    let text = link("[]");
    let (d, line, col) = single(&text, "strata::inventory-classical-path");
    assert_eq!((line, col), (13, 11));
    assert!(d.message.contains("no classical path"));
}

#[test]
fn missing_classical_path_suggests_the_direct_link() {
    let text = format!(
        "{HEADER}qkd_links:
  - name: q1
    ends: [relay, alpha]
    length_km: 10
    skr_bps: 1000
    qber: 0.02
"
    );
    let (d, line, col) = single(&text, "strata::inventory-classical-path");
    assert_eq!((line, col), (13, 11));
    assert!(
        d.help
            .as_deref()
            .is_some_and(|h| h.contains("classical_path: [c1]"))
    );
}

#[test]
fn repeater_needs_memory() {
    let text = HEADER.replace("role: trusted-relay", "role: repeater");
    let (_, line, col) = single(&text, "strata::inventory-memory");
    assert_eq!((line, col), (7, 40));
}

#[test]
fn rate_source_must_be_exactly_one() {
    let qkd = |rate: &str| {
        format!(
            "{HEADER}qkd_links:
  - name: q1
    ends: [alpha, relay]
    length_km: 10
{rate}    qber: 0.02
    classical_path: [c1]
"
        )
    };
    let (_, line, col) = single(&qkd(""), "strata::inventory-rate-source");
    assert_eq!((line, col), (13, 11));
    let both = qkd("    skr_bps: 1000\n    protocol: decoy-bb84\n");
    let (d, line, col) = single(&both, "strata::inventory-rate-source");
    assert_eq!((line, col), (17, 15));
    assert_eq!(
        SourceFile::new("t", &*both).line_col(d.related[0].span.start),
        (16, 14)
    );
    let stray = qkd("    skr_bps: 1000\n    derating: 15\n");
    let (_, line, col) = single(&stray, "strata::inventory-rate-source");
    assert_eq!((line, col), (17, 15));
    load_clean(&qkd("    protocol: decoy-bb84\n"));

    let ent = |rate: &str| {
        format!(
            "{HEADER}entanglement_links:
  - name: e1
    ends: [alpha, relay]
    length_km: 10
{rate}    fidelity: 0.95
    classical_path: [c1]
"
        )
    };
    let (_, line, col) = single(&ent(""), "strata::inventory-rate-source");
    assert_eq!((line, col), (13, 11));
    let both = ent("    pair_rate_hz: 100\n    efficiency: 0.5\n");
    let (_, line, col) = single(&both, "strata::inventory-rate-source");
    assert_eq!((line, col), (17, 17));
    load_clean(&ent("    efficiency: 0.5\n"));
}

#[test]
fn agent_must_be_host_and_port() {
    let node = |agent: &str| {
        HEADER.replace(
            "{ name: alpha, domain: core, role: endpoint }",
            &format!("{{ name: alpha, domain: core, role: endpoint, agent: \"{agent}\" }}"),
        )
    };
    load_clean(&node("10.0.3.7:50051"));
    load_clean(&node("[fd00::7]:50051"));
    for bad in ["10.0.3.7", "host:0", ":50051", "host:port", "fd00::7:50051"] {
        let (_, line, col) = single(&node(bad), "strata::inventory-agent");
        assert_eq!((line, col), (6, 57), "{bad}");
    }
}

#[test]
fn blank_names_are_reported() {
    let text = HEADER.replace("name: relay,", "name: \" relay\",");
    let codes = found(&text);
    assert!(
        codes.contains(&("strata::inventory-name", 7, 13)),
        "{codes:?}"
    );
}

#[test]
fn positions_count_characters_after_non_ascii_text() {
    let text = "\u{feff}name: Peñalara\ndomains: [{ name: señal, operator: Ñ, trust: trusted }]\n\
                nodes:\n  - { name: \"Cañada\", domain: senal, role: endpoint }\n";
    let (d, line, col) = single(text, "strata::inventory-unknown-reference");
    assert_eq!((line, col), (4, 31));
    assert_eq!(&text[d.span.start..d.span.end], "senal");
}

#[test]
fn optional_fields_take_their_documented_defaults() {
    let text = format!(
        "{HEADER}qkd_links:
  - name: q1
    ends: [alpha, relay]
    length_km: 10
    protocol: decoy-bb84
    params: {{ pulse_rate_hz: 2.5e8 }}
    qber: 0.02
    classical_path: [c1]
entanglement_links:
  - name: e1
    ends: [alpha, relay]
    length_km: 10
    efficiency: 0.5
    fidelity: 0.95
    classical_path: [c1]
"
    );
    let inv = load_clean(&text);
    let q = &inv.qkd_links[0];
    assert_eq!((q.loss_db_per_km, q.extra_loss_db), (0.2, 0.0));
    let KeyRate::Protocol {
        params, derating, ..
    } = &q.key_rate
    else {
        panic!("protocol rate expected: {:?}", q.key_rate);
    };
    assert_eq!(*derating, 1.0);
    assert_eq!(params.pulse_rate_hz, 2.5e8);
    assert_eq!(params.mean_photon_number, 0.5);
    assert_eq!(params.detector_efficiency, 0.2);
    assert_eq!(params.dark_count_yield, 1e-6);
    assert_eq!(params.misalignment, 0.01);
    assert_eq!(params.ec_inefficiency, 1.16);
    assert_eq!(params.sifting, 0.9);
    let e = &inv.entanglement_links[0];
    assert_eq!(e.loss_db_per_km, 0.2);
    assert!(matches!(e.pair_rate, PairRate::Physical { efficiency, .. } if efficiency == 0.5));
    assert_eq!(inv.classical_links[1].latency_ms, 0.1);
}

// ---------------------------------------------------------------------------------------
// All errors at once

#[test]
fn every_problem_in_a_file_is_reported() {
    let text = "name: broken
domains:
  - { name: core, operator: Core, trust: trusted }
  - { name: core, operator: Again, trust: untrusted }
nodes:
  - { name: a, domain: core, role: endpoint }
  - { name: b, domain: cor, role: repeater }
applications:
  - { name: app, urn: \"urn:qkd:app?=nonce=1\", node: a }
qkd_links:
  - name: q
    ends: [a, a]
    length_km: -1
    qber: 0.9
    classical_path: [nowhere]
classical_links:
  - { name: c, ends: [a, b], bandwidth_bps: 1e9, latency_ms: 0.1 }
";
    let (inv, diags) = load(FileId(7), text);
    assert!(
        inv.is_some(),
        "the YAML parsed, so the inventory comes back"
    );
    let starts: Vec<usize> = diags.iter().map(|d| d.span.start).collect();
    assert!(starts.is_sorted(), "reported in file order: {starts:?}");
    assert!(diags.iter().all(|d| d.span.file == FileId(7)));
    let codes: BTreeSet<&str> = diags.iter().map(|d| d.code).collect();
    let expected = [
        "strata::inventory-duplicate",
        "strata::inventory-unknown-reference",
        "strata::inventory-memory",
        "strata::inventory-urn",
        "strata::inventory-link-ends",
        "strata::inventory-range",
        "strata::inventory-rate-source",
    ];
    for code in expected {
        assert!(codes.contains(code), "{code} missing from {diags:#?}");
    }
    assert!(diags.len() >= 9, "{:?}", positions(text, &diags));
}

// ---------------------------------------------------------------------------------------
// Robustness: nothing panics

#[test]
fn hostile_inputs_do_not_panic() {
    let deep_seq = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_map = format!("name: {}x{}", "{a: ".repeat(50_000), "}".repeat(50_000));
    let deep_block: String = (0..3_000)
        .map(|i| format!("{}- \n", " ".repeat(i)))
        .collect();
    let huge_numbers = format!(
        "{HEADER}qkd_links:\n  - {{ name: q, ends: [alpha, relay], length_km: 1e999, qber: 0.1 }}\n"
    );
    let huge_int = "name: x\nnodes:\n  - { name: r, domain: d, role: repeater, memory: { qubits: 99999999999999999999999, coherence_time_s: 1 } }\n";
    let alias_bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n";
    let inputs = [
        "",
        "\u{feff}",
        "\0\0\0",
        "---\n---\n",
        "name: x\n---\nname: y\n",
        "- - - -",
        "name: [",
        "name: \"\\u{d800}\"",
        "name: x\nnodes: ~\n",
        "name: x\nnodes:\n  - *missing\n",
        "\t\tname:\tx",
        deep_seq.as_str(),
        deep_map.as_str(),
        deep_block.as_str(),
        huge_numbers.as_str(),
        huge_int,
        alias_bomb,
    ];
    for text in inputs {
        let (inv, diags) = load(FileId(0), text);
        assert!(inv.is_some() || !diags.is_empty());
        for d in &diags {
            assert!(
                d.span.start <= d.span.end && d.span.end <= text.len(),
                "{d:#?}"
            );
        }
    }
}

fn check_no_panic(text: &str) -> Result<(), TestCaseError> {
    let (inv, diags) = load(FileId(0), text);
    prop_assert!(inv.is_some() || !diags.is_empty(), "None without a reason");
    for d in &diags {
        prop_assert!(d.span.start <= d.span.end && d.span.end <= text.len());
        prop_assert!(text.is_char_boundary(d.span.start) && text.is_char_boundary(d.span.end));
        for r in &d.related {
            prop_assert!(r.span.end <= text.len());
        }
    }
    Ok(())
}

/// A random edit of the metro example: delete, duplicate or replace a range of bytes.
fn mutate(kind: u8, at: usize, len: usize, insert: &str) -> String {
    let bytes = METRO.as_bytes();
    let at = at % bytes.len();
    let end = (at + len).min(bytes.len());
    let mut out = bytes[..at].to_vec();
    match kind % 3 {
        0 => {}
        1 => out.extend_from_slice(&bytes[at..end]),
        _ => out.extend_from_slice(insert.as_bytes()),
    }
    if kind % 3 != 1 {
        out.extend_from_slice(&bytes[end..]);
    } else {
        out.extend_from_slice(&bytes[at..]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// 256 cases per property unless `PROPTEST_CASES` asks for a longer run (CI's nightly
/// job, or a developer chasing a bug).
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok());
    ProptestConfig::with_cases(cases.unwrap_or(256))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_strings_never_panic(text in "\\PC{0,300}") {
        check_no_panic(&text)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check_no_panic(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn yaml_shaped_noise_never_panics(
        text in "([a-z_]{1,12}: ?(-?[0-9.e]{1,8}|\\[[a-z, ]{0,20}\\]|\\{[a-z:, ]{0,20}\\}|[a-zA-Z-]{0,10})?\n( {0,6}- )?){0,20}"
    ) {
        check_no_panic(&text)?;
    }

    #[test]
    fn mutated_metro_example_never_panics(
        kind in any::<u8>(),
        at in any::<usize>(),
        len in 0usize..200,
        insert in "[\\[\\]{}:,\\-#&*!|>'\"\n a-z0-9.]{0,12}",
    ) {
        check_no_panic(&mutate(kind, at, len, &insert))?;
    }
}
