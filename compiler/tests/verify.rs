//! The verifier: compiled configuration re-checks clean, every kind of tampering is caught
//! with its own code, output directories load back as written, and — as a property — for
//! random small key networks whatever the front end accepts compiles to configuration the
//! verifier finds no fault with.

use proptest::prelude::*;
use strata_compiler::check::{Program, check};
use strata_compiler::compile::{CompileOptions, Compiled, compile};
use strata_compiler::config::{ConfigSet, SUMMARY_FILE, Summary};
use strata_compiler::inventory::{DecoyBb84, Inventory, load};
use strata_compiler::physics;
use strata_compiler::verify::{Violation, codes, read_dir_documents, verify};
use strata_grammar::{Diagnostic, FileId, parse};

/// A small network with both services: keys A–B over a trusted relay R or a relay X in an
/// untrusted domain (one link computed from decoy-state BB84), and pairs P–Q over the
/// repeater M (one elementary link measured, one from physics).
const NET: &str = r#"
name: lab
domains:
  - { name: home, operator: Home, trust: trusted }
  - { name: far, operator: Far, trust: untrusted }
nodes:
  - { name: A, domain: home, role: endpoint }
  - { name: B, domain: home, role: endpoint }
  - { name: R, domain: home, role: trusted-relay }
  - { name: X, domain: far, role: trusted-relay }
  - { name: P, domain: home, role: endpoint, memory: { qubits: 10, coherence_time_s: 1.0 } }
  - { name: Q, domain: home, role: endpoint, memory: { qubits: 10, coherence_time_s: 0.5 } }
  - { name: M, domain: home, role: repeater, memory: { qubits: 20, coherence_time_s: 2.0 } }
applications:
  - { name: app-a, urn: "urn:qkd:madqci:ccips", node: A }
qkd_links:
  - { name: a-r, ends: [A, R], length_km: 20, protocol: decoy-bb84, derating: 50, qber: 0.02, classical_path: [c-a-r] }
  - { name: r-b, ends: [R, B], length_km: 10, skr_bps: 100000, qber: 0.02, classical_path: [c-r-b] }
  - { name: a-x, ends: [A, X], length_km: 10, skr_bps: 100000, qber: 0.03, classical_path: [c-a-x] }
  - { name: x-b, ends: [X, B], length_km: 10, skr_bps: 100000, qber: 0.02, classical_path: [c-x-b] }
entanglement_links:
  - { name: e-p-m, ends: [P, M], length_km: 10, pair_rate_hz: 1000, fidelity: 0.98, classical_path: [c-p-m] }
  - { name: e-m-q, ends: [M, Q], length_km: 20, efficiency: 0.5, fidelity: 0.97, classical_path: [c-m-q] }
classical_links:
  - { name: c-a-r, ends: [A, R], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: c-r-b, ends: [R, B], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: c-a-x, ends: [A, X], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: c-x-b, ends: [X, B], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: c-p-m, ends: [P, M], bandwidth_bps: 1e9, latency_ms: 0.2 }
  - { name: c-m-q, ends: [M, Q], bandwidth_bps: 1e9, latency_ms: 0.3 }
"#;

/// Keys met and partly met (`z` saturates `a-r`), a disjoint pair of paths, trusted relays
/// only, an application endpoint, and pairs with and without purification (`f` asks for
/// enough pairs that the raw pairs it purifies do not wait long in `Q`'s 0.5 s memory).
const INTENTS: &str = r#"
intent x: keys of 256 bits between A and B, fidelity ≥0.9, 10/s
intent y: keys of 256 bits between app-a and B, 150/s, priority 5
intent z: keys of 256 bits between A and B, 500/s, disjoint paths 2
intent t: keys of 128 bits between A and B, 5/s, relay via trusted nodes only, valid for 1h
intent e: entangled pairs between P and Q, fidelity >= 0.9, rate >= 2/s, latency <= 10 ms
intent f: entangled pairs between P and Q, fidelity >= 0.96, rate >= 100/s
"#;

fn errors(diags: &[Diagnostic]) -> Vec<&Diagnostic> {
    diags.iter().filter(|d| d.is_error()).collect()
}

fn inventory(net: &str) -> Inventory {
    let (inv, diags) = load(FileId(0), net);
    assert!(errors(&diags).is_empty(), "{diags:#?}");
    inv.expect("inventory loads")
}

/// Parses and checks `intents` against `inv`; the diagnostics when the front end reports
/// an error.
fn checked(inv: &Inventory, intents: &str) -> Result<Program, Vec<Diagnostic>> {
    let (unit, mut diags) = parse(FileId(1), intents);
    let (program, more) = check(&[&unit], inv);
    diags.extend(more);
    if errors(&diags).is_empty() {
        Ok(program)
    } else {
        Err(diags)
    }
}

struct Case {
    inv: Inventory,
    program: Program,
    out: Compiled,
}

impl Case {
    fn new(net: &str, intents: &str) -> Case {
        Case::with(net, intents, &CompileOptions::default())
    }

    fn with(net: &str, intents: &str, options: &CompileOptions) -> Case {
        let inv = inventory(net);
        let program = checked(&inv, intents).unwrap_or_else(|d| panic!("{d:#?}"));
        let out = compile(&program, &inv, options);
        Case { inv, program, out }
    }

    fn verify(&self) -> Vec<Violation> {
        verify(
            &self.program,
            &self.inv,
            &self.out.configs,
            &self.out.summary,
        )
    }

    fn verify_tampered(&self, configs: &ConfigSet, summary: &Summary) -> Vec<Violation> {
        verify(&self.program, &self.inv, configs, summary)
    }
}

/// The lab compiled for throughput: `x` and `t` are met and `z` takes what is left (the
/// default fair objective would cut all three to the same share).
fn lab() -> Case {
    Case::with(
        NET,
        INTENTS,
        &CompileOptions {
            objective: strata_compiler::compile::optimise::Objective::Throughput,
            ..CompileOptions::default()
        },
    )
}

fn codes_of(v: &[Violation]) -> Vec<&'static str> {
    let mut c: Vec<&str> = v.iter().map(|v| v.code).collect();
    c.dedup();
    c
}

#[track_caller]
fn assert_clean(v: &[Violation]) {
    let shown: Vec<String> = v.iter().map(ToString::to_string).collect();
    assert!(v.is_empty(), "unexpected violations:\n{}", shown.join("\n"));
}

#[track_caller]
fn assert_has(v: &[Violation], code: &str) {
    let shown: Vec<String> = v.iter().map(ToString::to_string).collect();
    assert!(
        v.iter().any(|x| x.code == code),
        "expected {code}, got:\n{}",
        shown.join("\n")
    );
}

// ------------------------------------------------------------------ clean compiles

#[test]
fn compiled_lab_verifies_clean() {
    let case = lab();
    let s = &case.out.summary;
    // The case exercises what it claims to.
    let by_name = |n: &str| s.intents.iter().find(|i| i.name == n).unwrap();
    assert_eq!(
        by_name("z").admission,
        strata_compiler::config::Admission::Partial
    );
    assert_eq!(by_name("z").paths.len(), 2);
    assert!(
        by_name("t")
            .paths
            .iter()
            .all(|p| p.nodes == ["A", "R", "B"])
    );
    assert_eq!(by_name("f").paths[0].purification_rounds, Some(1));
    assert_clean(&case.verify());
}

#[test]
fn example_networks_verify_clean() {
    let metro = Case::new(
        include_str!("../../examples/metro/network.yaml"),
        "intent a: keys of 256 bits between Distrito-Telefonica and Moncloa, 20/s, disjoint paths 2\n\
         intent b: keys of 256 bits between Montegancedo and Alcobendas, 50/s, avoid node Norte\n\
         intent c: keys of 512 bits between Leganes and Quintin, 1000/s, priority 2\n",
    );
    assert_clean(&metro.verify());
    let continental = Case::new(
        include_str!("../../examples/continental/network.yaml"),
        "intent t: entangled pairs between lab-a and lab-b, fidelity >= 0.9, 5/s\n\
         intent u: entangled pairs between lab-c and lab-d, fidelity >= 0.85, 50/s, latency <= 20 ms\n",
    );
    assert_clean(&continental.verify());
}

#[test]
fn output_directory_round_trips() {
    let case = lab();
    let mut files = case.out.configs.render();
    files.push((SUMMARY_FILE.to_string(), case.out.summary.to_json()));
    files.push(("README.txt".into(), "not a document".into()));
    let (configs, summary) = read_dir_documents(&files).expect("reads back");
    assert_eq!(configs, case.out.configs);
    assert_eq!(summary, case.out.summary);
    assert_clean(&case.verify_tampered(&configs, &summary));
}

#[test]
fn reading_bad_output_directories_fails_with_a_reason() {
    let case = lab();
    let files = case.out.configs.render();
    let err = read_dir_documents(&files).unwrap_err();
    assert!(err.contains(SUMMARY_FILE), "{err}");

    let mut moved = files.clone();
    moved[0].0 = moved[0].0.replacen("A/", "B/", 1);
    moved.push((SUMMARY_FILE.to_string(), case.out.summary.to_json()));
    let err = read_dir_documents(&moved).unwrap_err();
    assert!(err.contains("directory `B`"), "{err}");

    let mut broken = files.clone();
    broken[1].1 = "schema: [".into();
    broken.push((SUMMARY_FILE.to_string(), case.out.summary.to_json()));
    assert!(read_dir_documents(&broken).is_err());

    // A node whose documents are missing loads as empty documents, which verify reports.
    let dropped: Vec<_> = files
        .into_iter()
        .filter(|(p, _)| p != "R/service.yaml")
        .chain([(SUMMARY_FILE.to_string(), case.out.summary.to_json())])
        .collect();
    let (configs, summary) = read_dir_documents(&dropped).unwrap();
    let v = case.verify_tampered(&configs, &summary);
    assert_eq!(codes_of(&v), [codes::DOCUMENT], "{v:#?}");
}

// ------------------------------------------------------------------ tampering

/// Index of the forwarding entry of `unit` at `node`.
fn entry(cfg: &ConfigSet, node: &str, unit: &str) -> usize {
    cfg.nodes[node]
        .forwarding
        .forwarding_table
        .iter()
        .position(|e| e.service_unit == unit)
        .unwrap_or_else(|| panic!("no entry of `{unit}` at `{node}`"))
}

#[test]
fn raising_a_rate_at_one_node_breaks_conservation() {
    let case = lab();
    let mut cfg = case.out.configs.clone();
    let i = entry(&cfg, "R", "t");
    cfg.nodes.get_mut("R").unwrap().forwarding.forwarding_table[i].rate += 1.0;
    let v = case.verify_tampered(&cfg, &case.out.summary);
    assert_has(&v, codes::RATE_MISMATCH);
}

#[test]
fn raising_a_path_rate_everywhere_overbooks_the_link() {
    let case = lab();
    let mut cfg = case.out.configs.clone();
    // `z` took what `r-b` had left: any more on its links exceeds the usable key rate.
    for node in ["A", "R", "B"] {
        for e in &mut cfg.nodes.get_mut(node).unwrap().forwarding.forwarding_table {
            if e.service_unit == "y" {
                e.rate *= 1.5;
            }
        }
    }
    let v = case.verify_tampered(&cfg, &case.out.summary);
    assert_has(&v, codes::QKD_CAPACITY);
    assert_has(&v, codes::RESERVATION);
    // 225/s on the path of an intent that asked for 150/s and was admitted at 150/s.
    assert_has(&v, codes::ADMITTED_RATE);
    assert_has(&v, codes::SESSION);
}

#[test]
fn dropping_a_hop_breaks_the_path() {
    let case = lab();
    let mut cfg = case.out.configs.clone();
    let i = entry(&cfg, "R", "y");
    cfg.nodes
        .get_mut("R")
        .unwrap()
        .forwarding
        .forwarding_table
        .remove(i);
    let v = case.verify_tampered(&cfg, &case.out.summary);
    assert_has(&v, codes::BROKEN_PATH);
}

#[test]
fn a_link_that_does_not_join_the_hop_is_caught() {
    let case = lab();
    let mut cfg = case.out.configs.clone();
    let i = entry(&cfg, "A", "y");
    let hop = cfg.nodes.get_mut("A").unwrap().forwarding.forwarding_table[i]
        .virt_next_hop
        .as_mut()
        .unwrap();
    assert_eq!(hop.link, "a-r");
    hop.link = "x-b".into();
    let v = case.verify_tampered(&cfg, &case.out.summary);
    assert_has(&v, codes::LINK_NOT_JOINING);
}

#[test]
fn a_pair_hop_over_a_qkd_link_is_caught() {
    let case = lab();
    let mut cfg = case.out.configs.clone();
    let i = entry(&cfg, "P", "e");
    let hop = cfg.nodes.get_mut("P").unwrap().forwarding.forwarding_table[i]
        .virt_next_hop
        .as_mut()
        .unwrap();
    hop.link = "a-r".into();
    let v = case.verify_tampered(&cfg, &case.out.summary);
    assert_has(&v, codes::LINK_NOT_JOINING);
}

#[test]
fn exceeding_a_classical_link_is_caught() {
    let case = lab();
    // Traffic written on a hop's classical path beyond the link's bandwidth.
    let mut cfg = case.out.configs.clone();
    let paths = &mut cfg.nodes.get_mut("A").unwrap().connectivity.classical_paths;
    let p = paths.iter_mut().find(|p| p.quantum_link == "a-r").unwrap();
    p.bandwidth_bps = 2e9;
    let v = case.verify_tampered(&cfg, &case.out.summary);
    assert_has(&v, codes::CLASSICAL_CAPACITY);
    assert_has(&v, codes::CLASSICAL_PATH);

    // The same configuration against a network whose classical link has shrunk since.
    let shrunk = NET.replace(
        "{ name: c-a-r, ends: [A, R], bandwidth_bps: 1e9",
        "{ name: c-a-r, ends: [A, R], bandwidth_bps: 1e5",
    );
    let v = verify(
        &case.program,
        &inventory(&shrunk),
        &case.out.configs,
        &case.out.summary,
    );
    assert_has(&v, codes::CLASSICAL_CAPACITY);
}

#[test]
fn reservations_and_link_ends_must_agree() {
    let case = lab();
    let mut cfg = case.out.configs.clone();
    let link = cfg
        .nodes
        .get_mut("R")
        .unwrap()
        .forwarding
        .qkd_links
        .iter_mut()
        .find(|l| l.qkdl_id == "r-b")
        .unwrap();
    link.expected_consumption += 100.0;
    let v = case.verify_tampered(&cfg, &case.out.summary);
    assert_has(&v, codes::RESERVATION);
    assert_has(&v, codes::LINK_ENDS);

    let mut cfg = case.out.configs.clone();
    cfg.nodes
        .get_mut("B")
        .unwrap()
        .forwarding
        .qkd_links
        .retain(|l| l.qkdl_id != "x-b");
    assert_has(
        &case.verify_tampered(&cfg, &case.out.summary),
        codes::LINK_ENDS,
    );

    let mut cfg = case.out.configs.clone();
    cfg.nodes
        .get_mut("M")
        .unwrap()
        .forwarding
        .entanglement_links[0]
        .pair_rate *= 10.0;
    assert_has(
        &case.verify_tampered(&cfg, &case.out.summary),
        codes::FIGURES,
    );
}

#[test]
fn overbooked_pairs_and_memories_are_caught() {
    let case = lab();
    let mut cfg = case.out.configs.clone();
    for node in ["P", "M", "Q"] {
        for e in &mut cfg.nodes.get_mut(node).unwrap().forwarding.forwarding_table {
            if e.service_unit == "e" {
                e.rate = 400.0;
            }
        }
    }
    let v = case.verify_tampered(&cfg, &case.out.summary);
    assert_has(&v, codes::PAIR_CAPACITY);
    assert_has(&v, codes::SWAP_SCHEDULE);

    // A memory too small for what the paths hold: the repeater keeps both halves of
    // every pair for the path's classical round trip.
    for doc in cfg.nodes.values_mut() {
        for e in &mut doc.forwarding.forwarding_table {
            if e.service_unit == "e" {
                e.rate = 1000.0;
            }
        }
    }
    let small = NET.replace(
        "qubits: 20, coherence_time_s: 2.0",
        "qubits: 1, coherence_time_s: 2.0",
    );
    let v = verify(&case.program, &inventory(&small), &cfg, &case.out.summary);
    assert_has(&v, codes::MEMORY_CAPACITY);
}

#[test]
fn purification_must_match_at_both_ends() {
    let case = lab();
    let mut cfg = case.out.configs.clone();
    let p = &mut cfg.nodes.get_mut("Q").unwrap().forwarding.purification;
    assert_eq!(p.len(), 1, "{p:#?}");
    p[0].rounds = 2;
    let v = case.verify_tampered(&cfg, &case.out.summary);
    assert_has(&v, codes::PURIFICATION);

    // Without its purification, `f` falls short of its fidelity bound.
    let mut cfg = case.out.configs.clone();
    for node in ["P", "Q"] {
        cfg.nodes
            .get_mut(node)
            .unwrap()
            .forwarding
            .purification
            .clear();
    }
    let v = case.verify_tampered(&cfg, &case.out.summary);
    assert_has(&v, codes::FIDELITY);
}

#[test]
fn policies_are_rechecked_against_the_intents() {
    let case = lab();
    // The same configuration, judged against stricter intents than it was compiled for.
    let stricter = [
        (
            "intent y: keys of 256 bits between app-a and B, 150/s, priority 5, avoid node X",
            codes::AVOID,
        ),
        (
            "intent y: keys of 256 bits between app-a and B, 150/s, priority 5, avoid link a-x",
            codes::AVOID,
        ),
        (
            "intent y: keys of 256 bits between app-a and B, 150/s, priority 5, never via domain far",
            codes::AVOID,
        ),
        (
            "intent x: keys of 256 bits between A and B, 10/s, via X",
            codes::VIA,
        ),
        (
            "intent y: keys of 256 bits between app-a and B, 150/s, priority 5, relay via trusted nodes only",
            codes::TRUSTED_RELAY,
        ),
        (
            "intent y: keys of 256 bits between app-a and B, 150/s, priority 5, fidelity >= 0.975",
            codes::FIDELITY,
        ),
        (
            "intent e: entangled pairs between P and Q, fidelity >= 0.99, rate >= 2/s",
            codes::FIDELITY,
        ),
        (
            "intent e: entangled pairs between P and Q, rate >= 2/s, latency <= 0.1 ms",
            codes::LATENCY,
        ),
        (
            "intent x: keys of 256 bits between A and B, 8/s",
            codes::ADMITTED_RATE,
        ),
        (
            "intent x: keys of 256 bits between A and B, 20/s",
            codes::ADMISSION,
        ),
    ];
    let mut hops = case.program.clone();
    hops.intents
        .iter_mut()
        .find(|i| i.name == "x")
        .unwrap()
        .constraints
        .max_hops = Some(1);
    let v = verify(&hops, &case.inv, &case.out.configs, &case.out.summary);
    assert_has(&v, codes::MAX_HOPS);
    for (line, code) in stricter {
        // The intent the stricter line replaces: `intent NAME:`.
        let name = &line[..=line.find(':').unwrap()];
        let text: String = INTENTS
            .lines()
            .map(|l| if l.starts_with(name) { line } else { l })
            .collect::<Vec<_>>()
            .join("\n");
        let program = checked(&case.inv, &text).unwrap_or_else(|d| panic!("`{line}`: {d:#?}"));
        let v = verify(&program, &case.inv, &case.out.configs, &case.out.summary);
        assert_has(&v, code);
    }
}

#[test]
fn shared_disjoint_paths_are_caught() {
    let case = lab();
    let mut cfg = case.out.configs.clone();
    let mut summary = case.out.summary.clone();
    // Put `z`'s second path on the first one's links.
    for doc in cfg.nodes.values_mut() {
        let table = &mut doc.forwarding.forwarding_table;
        table.retain(|e| !(e.service_unit == "z" && e.path == 1));
        let copies: Vec<_> = table
            .iter()
            .filter(|e| e.service_unit == "z" && e.path == 0)
            .map(|e| strata_compiler::config::ForwardingEntry {
                path: 1,
                ..e.clone()
            })
            .collect();
        table.extend(copies);
    }
    let z = summary.intents.iter_mut().find(|i| i.name == "z").unwrap();
    z.paths[1] = z.paths[0].clone();
    let v = case.verify_tampered(&cfg, &summary);
    assert_has(&v, codes::DISJOINT);
}

#[test]
fn service_stratum_tampering_is_caught() {
    let case = lab();
    let swap_urn = |cfg: &mut ConfigSet| {
        let u = &mut cfg.nodes.get_mut("B").unwrap().service.service_units;
        let y = u.iter_mut().find(|u| u.id == "y").unwrap();
        std::mem::swap(&mut y.urns.local, &mut y.urns.remote);
    };
    let mut cfg = case.out.configs.clone();
    swap_urn(&mut cfg);
    assert_has(&case.verify_tampered(&cfg, &case.out.summary), codes::URN);

    let mut cfg = case.out.configs.clone();
    let u = &mut cfg.nodes.get_mut("A").unwrap().service.service_units;
    u.iter_mut().find(|u| u.id == "x").unwrap().urns.local = "urn:x:no-nid?=nonce=1".into();
    assert_has(&case.verify_tampered(&cfg, &case.out.summary), codes::URN);

    let mut cfg = case.out.configs.clone();
    let u = &mut cfg.nodes.get_mut("A").unwrap().service.service_units;
    let x = u.iter_mut().find(|u| u.id == "x").unwrap();
    x.urns.local = x.urns.local.split("?=").next().unwrap().to_string();
    assert_has(&case.verify_tampered(&cfg, &case.out.summary), codes::URN);

    let mut cfg = case.out.configs.clone();
    let u = &mut cfg.nodes.get_mut("B").unwrap().service.service_units;
    u.iter_mut().find(|u| u.id == "x").unwrap().role = strata_compiler::config::EndRole::Master;
    assert_has(
        &case.verify_tampered(&cfg, &case.out.summary),
        codes::SERVICE_UNIT,
    );

    let mut cfg = case.out.configs.clone();
    cfg.nodes
        .get_mut("B")
        .unwrap()
        .service
        .service_units
        .retain(|u| u.id != "t");
    assert_has(
        &case.verify_tampered(&cfg, &case.out.summary),
        codes::SERVICE_UNIT,
    );

    let mut cfg = case.out.configs.clone();
    let s = &mut cfg.nodes.get_mut("A").unwrap().service.sessions;
    s.iter_mut()
        .find(|s| s.service_unit == "y")
        .unwrap()
        .token_bucket
        .rate *= 2.0;
    assert_has(
        &case.verify_tampered(&cfg, &case.out.summary),
        codes::SESSION,
    );

    let mut summary = case.out.summary.clone();
    summary
        .intents
        .iter_mut()
        .find(|i| i.name == "z")
        .unwrap()
        .admission = strata_compiler::config::Admission::Met;
    let v = case.verify_tampered(&case.out.configs, &summary);
    assert_has(&v, codes::ADMISSION);
    assert_has(&v, codes::SUMMARY);

    let mut cfg = case.out.configs.clone();
    let mut stray = cfg.nodes["A"].forwarding.forwarding_table[0].clone();
    stray.service_unit = "ghost".into();
    cfg.nodes
        .get_mut("A")
        .unwrap()
        .forwarding
        .forwarding_table
        .push(stray);
    assert_has(
        &case.verify_tampered(&cfg, &case.out.summary),
        codes::UNKNOWN_UNIT,
    );
}

#[test]
fn violations_are_sorted_and_displayed() {
    let case = lab();
    let mut cfg = case.out.configs.clone();
    let i = entry(&cfg, "R", "t");
    cfg.nodes.get_mut("R").unwrap().forwarding.forwarding_table[i].rate += 1.0;
    let i = entry(&cfg, "A", "y");
    cfg.nodes.get_mut("A").unwrap().forwarding.forwarding_table[i].rate += 1.0;
    let v = case.verify_tampered(&cfg, &case.out.summary);
    let mut sorted = v.clone();
    sorted.sort();
    assert_eq!(v, sorted);
    assert_eq!(v, case.verify_tampered(&cfg, &case.out.summary));
    let line = v[0].to_string();
    assert!(line.starts_with(v[0].code), "{line}");
    assert!(line.contains(&v[0].message), "{line}");
}

// ------------------------------------------------------------------ the property

#[derive(Debug, Clone)]
struct NodeSpec {
    role: usize,
    trusted: bool,
}

#[derive(Debug, Clone)]
struct LinkSpec {
    a: usize,
    b: usize,
    /// Measured secret key rate, bit/s …
    skr: f64,
    /// … unless the link computes it from decoy-state BB84 with this derating.
    protocol: Option<f64>,
    qber: f64,
    length_km: f64,
    spare_bps: f64,
    latency_ms: f64,
}

#[derive(Debug, Clone)]
struct IntentSpec {
    a: usize,
    b: usize,
    size: u32,
    rate: f64,
    priority: Option<i64>,
    avoid: Option<usize>,
    max_hops: Option<u32>,
    disjoint: bool,
    trusted_only: bool,
    fidelity: Option<f64>,
    via: Option<usize>,
}

fn node_spec() -> impl Strategy<Value = NodeSpec> {
    (
        prop::sample::select(vec![0usize, 0, 0, 1, 1, 2]),
        any::<bool>(),
    )
        .prop_map(|(role, trusted)| NodeSpec { role, trusted })
}

fn link_spec(n: usize) -> impl Strategy<Value = LinkSpec> {
    (
        (0..n, 1..n, 1e3..2e5f64),
        prop::option::weighted(0.3, 5.0..500.0f64),
        (0.005..0.12f64, 2.0..60.0f64, 0.0..4e5f64, 0.05..2.0f64),
    )
        .prop_map(
            move |((a, d, skr), protocol, (qber, length_km, spare_bps, latency_ms))| LinkSpec {
                a,
                b: (a + d) % n,
                skr,
                protocol,
                qber,
                length_km,
                spare_bps,
                latency_ms,
            },
        )
}

fn intent_spec(n: usize) -> impl Strategy<Value = IntentSpec> {
    (
        (
            0..n,
            1..n,
            prop::sample::select(vec![128u32, 256, 512]),
            0.5..400.0f64,
        ),
        (
            prop::option::weighted(0.4, 0..10i64),
            prop::option::weighted(0.3, 0..n),
            prop::option::weighted(0.3, 1..5u32),
            prop::bool::weighted(0.25),
            prop::bool::weighted(0.2),
            prop::option::weighted(0.2, 0.9..0.99f64),
            prop::option::weighted(0.15, 0..n),
        ),
    )
        .prop_map(
            move |(
                (a, d, size, rate),
                (priority, avoid, max_hops, disjoint, trusted_only, fidelity, via),
            )| {
                let b = (a + d) % n;
                let not_an_end = |x: &usize| *x != a && *x != b;
                IntentSpec {
                    a,
                    b,
                    size,
                    rate,
                    priority,
                    avoid: avoid.filter(not_an_end),
                    max_hops,
                    disjoint,
                    trusted_only,
                    fidelity,
                    via: via.filter(not_an_end),
                }
            },
        )
}

fn scenario() -> impl Strategy<Value = (Vec<NodeSpec>, Vec<LinkSpec>, Vec<IntentSpec>)> {
    (5usize..=15).prop_flat_map(|n| {
        (
            prop::collection::vec(node_spec(), n),
            prop::collection::vec(link_spec(n), n..=3 * n),
            prop::collection::vec(intent_spec(n), 1..=6),
        )
    })
}

fn network_yaml(nodes: &[NodeSpec], links: &[LinkSpec]) -> String {
    let roles = ["endpoint", "trusted-relay", "untrusted-relay"];
    let mut y = String::from(
        "name: random\ndomains:\n  - { name: safe, operator: S, trust: trusted }\n  - { name: wild, operator: W, trust: untrusted }\nnodes:\n",
    );
    for (i, n) in nodes.iter().enumerate() {
        let domain = if n.trusted { "safe" } else { "wild" };
        y += &format!(
            "  - {{ name: n{i}, domain: {domain}, role: {} }}\n",
            roles[n.role]
        );
    }
    y += "qkd_links:\n";
    for (i, l) in links.iter().enumerate() {
        let rate = match l.protocol {
            Some(d) => format!("protocol: decoy-bb84, derating: {d}"),
            None => format!("skr_bps: {}", l.skr),
        };
        y += &format!(
            "  - {{ name: q{i}, ends: [n{}, n{}], length_km: {}, loss_db_per_km: 0.2, {rate}, qber: {}, classical_path: [c{i}] }}\n",
            l.a, l.b, l.length_km, l.qber
        );
    }
    y += "classical_links:\n";
    for (i, l) in links.iter().enumerate() {
        // Room for the link's own channel (10 bit per key bit, at least 64 kbit/s) plus a
        // little relay traffic, so that classical capacity binds too.
        let skr = match l.protocol {
            Some(d) => {
                let eta = physics::transmittance(0.2, l.length_km, 0.0);
                physics::decoy_bb84_key_rate_bps(&DecoyBb84::default(), eta) / d
            }
            None => l.skr,
        };
        let channel = (skr * 10.0).max(64e3);
        y += &format!(
            "  - {{ name: c{i}, ends: [n{}, n{}], bandwidth_bps: {}, latency_ms: {} }}\n",
            l.a,
            l.b,
            channel + l.spare_bps,
            l.latency_ms
        );
    }
    y
}

fn intents_text(intents: &[IntentSpec]) -> String {
    let mut t = String::new();
    for (i, s) in intents.iter().enumerate() {
        t += &format!(
            "intent i{i} {{\n  keys of {} bits\n  between n{} and n{}\n  rate >= {:.3}/s\n",
            s.size, s.a, s.b, s.rate
        );
        if let Some(p) = s.priority {
            t += &format!("  priority {p}\n");
        }
        if let Some(x) = s.avoid {
            t += &format!("  avoid node n{x}\n");
        }
        if let Some(h) = s.max_hops {
            t += &format!("  max hops {h}\n");
        }
        if s.disjoint {
            t += "  disjoint paths 2\n";
        }
        if s.trusted_only {
            t += "  relay via trusted nodes only\n";
        }
        if let Some(f) = s.fidelity {
            t += &format!("  fidelity >= {f:.3}\n");
        }
        if let Some(v) = s.via {
            t += &format!("  via n{v}\n");
        }
        t += "}\n";
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn whatever_compiles_verifies((nodes, links, intents) in scenario()) {
        let net = network_yaml(&nodes, &links);
        let (inv, diags) = load(FileId(0), &net);
        prop_assert!(errors(&diags).is_empty(), "{net}\n{diags:#?}");
        let inv = inv.unwrap();
        // Only what the front end accepts is compiled: intents it refuses on their own (no
        // allowed path, contradictions) are left out, so that one does not void the case.
        let kept: Vec<IntentSpec> = intents
            .iter()
            .filter(|i| checked(&inv, &intents_text(std::slice::from_ref(i))).is_ok())
            .cloned()
            .collect();
        let text = intents_text(&kept);
        let Ok(program) = checked(&inv, &text) else { return Ok(()) };
        let out = compile(&program, &inv, &CompileOptions::default());
        let v = verify(&program, &inv, &out.configs, &out.summary);
        let shown: Vec<String> = v.iter().map(ToString::to_string).collect();
        prop_assert!(v.is_empty(), "{net}\n{text}\n{}", shown.join("\n"));
        // No solver residue reaches the summary: an admitted rate is 0 or a real share.
        for i in &out.summary.intents {
            prop_assert!(
                i.admitted_rate == 0.0
                    || i.admitted_rate >= i.requested_rate * strata_compiler::compile::optimise::RATE_FLOOR,
                "{}: {} of {}", i.name, i.admitted_rate, i.requested_rate
            );
        }
    }
}

#[derive(Debug, Clone)]
struct PairNodeSpec {
    /// 0: endpoint with memory, 1: repeater, 2: endpoint without memory.
    kind: usize,
    qubits: u32,
    coherence_s: f64,
}

#[derive(Debug, Clone)]
struct PairLinkSpec {
    a: usize,
    b: usize,
    /// Measured pairs/s, or `None` for the physical rate at efficiency `efficiency`.
    measured: Option<f64>,
    efficiency: f64,
    fidelity: f64,
    length_km: f64,
    spare_bps: f64,
    latency_ms: f64,
}

#[derive(Debug, Clone)]
struct PairIntentSpec {
    a: usize,
    b: usize,
    rate: f64,
    fidelity: Option<f64>,
    latency_ms: Option<f64>,
    priority: Option<i64>,
    disjoint: bool,
}

fn pair_scenario()
-> impl Strategy<Value = (Vec<PairNodeSpec>, Vec<PairLinkSpec>, Vec<PairIntentSpec>)> {
    (5usize..=12).prop_flat_map(|n| {
        let node = (
            prop::sample::select(vec![0usize, 0, 1, 1, 1, 2]),
            1..60u32,
            0.01..5.0f64,
        )
            .prop_map(|(kind, qubits, coherence_s)| PairNodeSpec {
                kind,
                qubits,
                coherence_s,
            });
        let link = (
            (0..n, 1..n, prop::option::weighted(0.5, 1.0..3000.0f64)),
            (0.2..0.9f64, 0.85..0.999f64, 1.0..60.0f64),
            (0.0..3e5f64, 0.05..3.0f64),
        )
            .prop_map(
                move |(
                    (a, d, measured),
                    (efficiency, fidelity, length_km),
                    (spare, latency_ms),
                )| {
                    PairLinkSpec {
                        a,
                        b: (a + d) % n,
                        measured,
                        efficiency,
                        fidelity,
                        length_km,
                        spare_bps: spare,
                        latency_ms,
                    }
                },
            );
        let intent = (
            (0..n, 1..n, 0.05..80.0f64),
            (
                prop::option::weighted(0.6, 0.6..0.97f64),
                prop::option::weighted(0.3, 1.0..30.0f64),
                prop::option::weighted(0.4, 0..5i64),
                prop::bool::weighted(0.2),
            ),
        )
            .prop_map(
                move |((a, d, rate), (fidelity, latency_ms, priority, disjoint))| PairIntentSpec {
                    a,
                    b: (a + d) % n,
                    rate,
                    fidelity,
                    latency_ms,
                    priority,
                    disjoint,
                },
            );
        (
            prop::collection::vec(node, n),
            prop::collection::vec(link, n..=3 * n),
            prop::collection::vec(intent, 1..=5),
        )
    })
}

fn pair_network_yaml(nodes: &[PairNodeSpec], links: &[PairLinkSpec]) -> String {
    let mut y = String::from(
        "name: pairs\ndomains:\n  - { name: lab, operator: L, trust: trusted }\nnodes:\n",
    );
    for (i, n) in nodes.iter().enumerate() {
        let (role, memory) = match n.kind {
            0 => ("endpoint", true),
            1 => ("repeater", true),
            _ => ("endpoint", false),
        };
        y += &format!("  - {{ name: n{i}, domain: lab, role: {role}");
        if memory {
            y += &format!(
                ", memory: {{ qubits: {}, coherence_time_s: {} }}",
                n.qubits, n.coherence_s
            );
        }
        y += " }\n";
    }
    y += "entanglement_links:\n";
    for (i, l) in links.iter().enumerate() {
        let rate = match l.measured {
            Some(r) => format!("pair_rate_hz: {r}"),
            None => format!("efficiency: {}", l.efficiency),
        };
        y += &format!(
            "  - {{ name: e{i}, ends: [n{}, n{}], length_km: {}, {rate}, fidelity: {}, classical_path: [c{i}] }}\n",
            l.a, l.b, l.length_km, l.fidelity
        );
    }
    y += "classical_links:\n";
    for (i, l) in links.iter().enumerate() {
        // Room for the heralding channel (64 bits per attempt, one attempt per L/c) plus a
        // little swap traffic.
        let herald = (2e5 / l.length_km).min(1e6) * 64.0;
        y += &format!(
            "  - {{ name: c{i}, ends: [n{}, n{}], bandwidth_bps: {}, latency_ms: {} }}\n",
            l.a,
            l.b,
            herald + l.spare_bps,
            l.latency_ms
        );
    }
    y
}

fn pair_intents_text(intents: &[PairIntentSpec]) -> String {
    let mut t = String::new();
    for (i, s) in intents.iter().enumerate() {
        t += &format!(
            "intent p{i} {{\n  entangled pairs\n  between n{} and n{}\n  rate >= {:.3}/s\n",
            s.a, s.b, s.rate
        );
        if let Some(f) = s.fidelity {
            t += &format!("  fidelity >= {f:.3}\n");
        }
        if let Some(l) = s.latency_ms {
            t += &format!("  latency <= {l:.3} ms\n");
        }
        if let Some(p) = s.priority {
            t += &format!("  priority {p}\n");
        }
        if s.disjoint {
            t += "  disjoint paths 2\n";
        }
        t += "}\n";
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn whatever_compiles_verifies_for_pairs((nodes, links, intents) in pair_scenario()) {
        let net = pair_network_yaml(&nodes, &links);
        let (inv, diags) = load(FileId(0), &net);
        prop_assert!(errors(&diags).is_empty(), "{net}\n{diags:#?}");
        let inv = inv.unwrap();
        let kept: Vec<PairIntentSpec> = intents
            .iter()
            .filter(|i| checked(&inv, &pair_intents_text(std::slice::from_ref(i))).is_ok())
            .cloned()
            .collect();
        let text = pair_intents_text(&kept);
        let Ok(program) = checked(&inv, &text) else { return Ok(()) };
        let out = compile(&program, &inv, &CompileOptions::default());
        let v = verify(&program, &inv, &out.configs, &out.summary);
        let shown: Vec<String> = v.iter().map(ToString::to_string).collect();
        prop_assert!(v.is_empty(), "{net}\n{text}\n{}", shown.join("\n"));
    }
}

#[test]
fn synthetic_network_verifies_clean() {
    let sc = strata_compiler::synth::Scenario::generate(40, 120, 7);
    let case = Case::new(&sc.network.yaml, &sc.intents);
    assert!(case.out.summary.admitted > 0);
    assert_clean(&case.verify());
}

/// Only repeaters swap entanglement: an endpoint with memory stores its own pairs and never
/// sits in the middle of another intent's path (it used to, e.g. rep-den-haag → lab-a →
/// rep-rotterdam with a swap scheduled at lab-a).
#[test]
fn endpoints_with_memory_never_swap_for_other_intents() {
    let net = "name: line
domains:
  - { name: d, operator: D, trust: trusted }
nodes:
  - { name: P, domain: d, role: endpoint, memory: { qubits: 10, coherence_time_s: 1.0 } }
  - { name: E, domain: d, role: endpoint, memory: { qubits: 10, coherence_time_s: 1.0 } }
  - { name: Q, domain: d, role: endpoint, memory: { qubits: 10, coherence_time_s: 1.0 } }
  - { name: M, domain: d, role: repeater, memory: { qubits: 20, coherence_time_s: 2.0 } }
entanglement_links:
  - { name: e-p-e, ends: [P, E], length_km: 5, pair_rate_hz: 1000, fidelity: 0.99, classical_path: [c-p-e] }
  - { name: e-e-q, ends: [E, Q], length_km: 5, pair_rate_hz: 1000, fidelity: 0.99, classical_path: [c-e-q] }
  - { name: e-p-m, ends: [P, M], length_km: 20, pair_rate_hz: 500, fidelity: 0.97, classical_path: [c-p-m] }
  - { name: e-m-q, ends: [M, Q], length_km: 20, pair_rate_hz: 500, fidelity: 0.97, classical_path: [c-m-q] }
classical_links:
  - { name: c-p-e, ends: [P, E], bandwidth_bps: 1e9, latency_ms: 0.05 }
  - { name: c-e-q, ends: [E, Q], bandwidth_bps: 1e9, latency_ms: 0.05 }
  - { name: c-p-m, ends: [P, M], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: c-m-q, ends: [M, Q], bandwidth_bps: 1e9, latency_ms: 0.1 }
";
    // Through E would be shorter and better; E is an endpoint, so the path goes via M.
    let case = Case::new(
        net,
        "intent x: entangled pairs between P and Q, fidelity >= 0.8, 1/s\n",
    );
    let x = &case.out.summary.intents[0];
    assert_eq!(x.paths.len(), 1, "{x:#?}");
    assert_eq!(x.paths[0].nodes, ["P", "M", "Q"]);
    for (node, cfg) in &case.out.configs.nodes {
        if node != "M" {
            assert!(cfg.forwarding.swap_schedule.is_empty(), "{node} swaps");
        }
    }
    assert_clean(&case.verify());
    // And the continental example keeps its swaps at repeaters.
    let continental = Case::new(
        include_str!("../../examples/continental/network.yaml"),
        include_str!("../../intents/continental.qi")
            .lines()
            .filter(|l| !l.starts_with("use network"))
            .collect::<Vec<_>>()
            .join("\n")
            .as_str(),
    );
    for (node, cfg) in &continental.out.configs.nodes {
        let role = &continental.inv.node(node).unwrap().role.value;
        if !cfg.forwarding.swap_schedule.is_empty() {
            assert_eq!(
                *role,
                strata_compiler::inventory::Role::Repeater,
                "{node} swaps"
            );
        }
    }
}

/// A pair kept for its whole `valid for` in a short-lived memory decays below the bound:
/// a warning with the longest lifetime that keeps it (F(t) = 1/4 + (F0 − 1/4)·e^(−t/T)).
#[test]
fn a_lifetime_longer_than_the_memory_keeps_the_fidelity_is_warned() {
    let net = include_str!("../../examples/continental/network.yaml");
    let intents = |life: &str| {
        format!(
            "intent c: entangled pairs between lab-c and lab-d, fidelity >= 0.8, 1/s, valid for {life}\n"
        )
    };
    let long = Case::new(net, &intents("2 s"));
    let d: Vec<_> = long
        .out
        .diagnostics
        .iter()
        .filter(|d| d.code == "strata::lifetime-decoherence")
        .collect();
    assert_eq!(d.len(), 1, "{:#?}", long.out.diagnostics);
    let f0 = long.out.summary.intents[0].fidelity.unwrap();
    let t = 0.5; // lab-d's coherence time, the shorter of the two ends
    let expected = physics::decohered_fidelity(f0, 2.0, t);
    assert!((expected - 0.2613).abs() < 0.01, "{expected}");
    assert!(
        d[0].message.contains(&format!(
            "decay to fidelity {}",
            (expected * 1000.0).round() / 1000.0
        )),
        "{}",
        d[0].message
    );
    let longest = t * ((f0 - 0.25) / (0.8 - 0.25)).ln();
    assert!(physics::decohered_fidelity(f0, longest, t) >= 0.8 - 1e-9);
    let short = Case::new(net, &intents("50 ms"));
    assert!(
        short
            .out
            .diagnostics
            .iter()
            .all(|d| d.code != "strata::lifetime-decoherence"),
        "{:#?}",
        short.out.diagnostics
    );
}
