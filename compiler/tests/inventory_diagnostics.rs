//! Every inventory diagnostic code fires at the line and column of the offending value,
//! says how to fix it, and all problems in a file are reported together.

mod common;

use common::inventory::{HEADER, found, load_clean, positions, single};
use std::collections::BTreeSet;
use strata_compiler::inventory::{KeyRate, PairRate, load};
use strata_grammar::{FileId, SourceFile};

// ---------------------------------------------------------------------------------------
// One test per diagnostic code, with the exact position of the offending value. HEADER is 11
// lines; the snippets below start on line 12.

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
