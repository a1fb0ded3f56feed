//! The verifier's lab: a small network with both services and intents that exercise every
//! re-check, the front end and compile in one call ([`Case`]), and assertions on the
//! violations found.

use strata_compiler::check::{Program, check};
use strata_compiler::compile::{CompileOptions, Compiled, compile};
use strata_compiler::config::{ConfigSet, Summary};
use strata_compiler::inventory::{Inventory, load};
use strata_compiler::verify::{Violation, verify};
use strata_grammar::{Diagnostic, FileId, parse};

/// A small network with both services: keys A–B over a trusted relay R or a relay X in an
/// untrusted domain (one link computed from decoy-state BB84), and pairs P–Q over the
/// repeater M (one elementary link measured, one from physics).
pub const NET: &str = r#"
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
pub const INTENTS: &str = r#"
intent x: keys of 256 bits between A and B, fidelity ≥0.9, 10/s
intent y: keys of 256 bits between app-a and B, 150/s, priority 5
intent z: keys of 256 bits between A and B, 500/s, disjoint paths 2
intent t: keys of 128 bits between A and B, 5/s, relay via trusted nodes only, valid for 1h
intent e: entangled pairs between P and Q, fidelity >= 0.9, rate >= 2/s, latency <= 10 ms
intent f: entangled pairs between P and Q, fidelity >= 0.96, rate >= 100/s
"#;

pub fn errors(diags: &[Diagnostic]) -> Vec<&Diagnostic> {
    diags.iter().filter(|d| d.is_error()).collect()
}

pub fn inventory(net: &str) -> Inventory {
    let (inv, diags) = load(FileId(0), net);
    assert!(errors(&diags).is_empty(), "{diags:#?}");
    inv.expect("inventory loads")
}

/// Parses and checks `intents` against `inv`; the diagnostics when the front end reports
/// an error.
pub fn checked(inv: &Inventory, intents: &str) -> Result<Program, Vec<Diagnostic>> {
    let (unit, mut diags) = parse(FileId(1), intents);
    let (program, more) = check(&[&unit], inv);
    diags.extend(more);
    if errors(&diags).is_empty() {
        Ok(program)
    } else {
        Err(diags)
    }
}

pub struct Case {
    pub inv: Inventory,
    pub program: Program,
    pub out: Compiled,
}

impl Case {
    pub fn new(net: &str, intents: &str) -> Case {
        Case::with(net, intents, &CompileOptions::default())
    }

    pub fn with(net: &str, intents: &str, options: &CompileOptions) -> Case {
        let inv = inventory(net);
        let program = checked(&inv, intents).unwrap_or_else(|d| panic!("{d:#?}"));
        let out = compile(&program, &inv, options);
        Case { inv, program, out }
    }

    pub fn verify(&self) -> Vec<Violation> {
        verify(
            &self.program,
            &self.inv,
            &self.out.configs,
            &self.out.summary,
        )
    }

    pub fn verify_tampered(&self, configs: &ConfigSet, summary: &Summary) -> Vec<Violation> {
        verify(&self.program, &self.inv, configs, summary)
    }
}

/// The lab compiled for throughput: `x` and `t` are met and `z` takes what is left (the
/// default fair objective would cut all three to the same share).
pub fn lab() -> Case {
    Case::with(
        NET,
        INTENTS,
        &CompileOptions {
            objective: strata_compiler::compile::optimise::Objective::Throughput,
            ..CompileOptions::default()
        },
    )
}

pub fn codes_of(v: &[Violation]) -> Vec<&'static str> {
    let mut c: Vec<&str> = v.iter().map(|v| v.code).collect();
    c.dedup();
    c
}

#[track_caller]
pub fn assert_clean(v: &[Violation]) {
    let shown: Vec<String> = v.iter().map(ToString::to_string).collect();
    assert!(v.is_empty(), "unexpected violations:\n{}", shown.join("\n"));
}

#[track_caller]
pub fn assert_has(v: &[Violation], code: &str) {
    let shown: Vec<String> = v.iter().map(ToString::to_string).collect();
    assert!(
        v.iter().any(|x| x.code == code),
        "expected {code}, got:\n{}",
        shown.join("\n")
    );
}
