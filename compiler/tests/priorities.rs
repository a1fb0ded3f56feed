//! Priorities are lexicographic: a lower class never costs a higher one anything, but it
//! may use capacity that rerouting a higher-class intent frees.

use strata_compiler::check::{Program, check};
use strata_compiler::compile::{CompileOptions, compile};
use strata_compiler::inventory::{Inventory, load};
use strata_compiler::synth::Scenario;
use strata_grammar::{FileId, parse};

/// A–C–B (two hops) and A–D–E–B (three) join A and B; C–B is also the only short way from C
/// to B. Each link carries exactly one 10/s intent of 256-bit keys (2560 bit/s usable).
const NET: &str = r#"
name: five
domains:
  - { name: d, operator: D, trust: trusted }
nodes:
  - { name: A, domain: d, role: endpoint }
  - { name: B, domain: d, role: endpoint }
  - { name: C, domain: d, role: trusted-relay }
  - { name: D, domain: d, role: trusted-relay }
  - { name: E, domain: d, role: trusted-relay }
qkd_links:
  - { name: a-c, ends: [A, C], length_km: 5, skr_bps: 2844.4445, qber: 0.02, classical_path: [k-a-c] }
  - { name: c-b, ends: [C, B], length_km: 5, skr_bps: 2844.4445, qber: 0.02, classical_path: [k-c-b] }
  - { name: a-d, ends: [A, D], length_km: 5, skr_bps: 2844.4445, qber: 0.02, classical_path: [k-a-d] }
  - { name: d-e, ends: [D, E], length_km: 5, skr_bps: 2844.4445, qber: 0.02, classical_path: [k-d-e] }
  - { name: e-b, ends: [E, B], length_km: 5, skr_bps: 2844.4445, qber: 0.02, classical_path: [k-e-b] }
classical_links:
  - { name: k-a-c, ends: [A, C], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: k-c-b, ends: [C, B], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: k-a-d, ends: [A, D], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: k-d-e, ends: [D, E], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: k-e-b, ends: [E, B], bandwidth_bps: 1e9, latency_ms: 0.1 }
"#;

fn program(inv: &Inventory, text: &str) -> Program {
    let (unit, diags) = parse(FileId(1), text);
    assert!(diags.is_empty(), "{diags:#?}");
    let (program, diags) = check(&[&unit], inv);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
    program
}

#[test]
fn a_higher_class_is_rerouted_so_that_a_lower_one_fits() {
    let (inv, diags) = load(FileId(0), NET);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
    let inv = inv.unwrap();
    let p = program(
        &inv,
        "intent high: keys of 256 bits between A and B, 10/s, priority 10\n\
         intent low: keys of 256 bits between C and B, 10/s\n",
    );
    let out = compile(&p, &inv, &CompileOptions::default());
    let by = |n: &str| out.summary.intents.iter().find(|i| i.name == n).unwrap();
    assert!(
        (by("high").admitted_rate - 10.0).abs() < 1e-6,
        "{:#?}",
        out.summary
    );
    assert!(
        (by("low").admitted_rate - 10.0).abs() < 1e-6,
        "{:#?}",
        out.summary
    );
    assert_eq!(by("high").paths.len(), 1, "{:#?}", by("high"));
    assert_eq!(by("high").paths[0].nodes, ["A", "D", "E", "B"]);
    assert_eq!(by("low").paths[0].nodes, ["C", "B"]);
}

/// On generated networks, every class admits exactly what it admits with the lower classes
/// left out.
#[test]
fn lower_classes_never_cost_a_higher_one() {
    for seed in 1..=3 {
        let scenario = Scenario::generate(30, 80, seed);
        let fe = scenario.frontend();
        let net = &fe.networks[0];
        let inv = net.inventory.as_ref().unwrap();
        let full = compile(&net.program, inv, &CompileOptions::default());
        let mut priorities: Vec<i64> = net.program.intents.iter().map(|i| i.priority).collect();
        priorities.sort_unstable();
        priorities.dedup();
        for &floor in priorities.iter().skip(1) {
            let mut upper = net.program.clone();
            upper.intents.retain(|i| i.priority >= floor);
            let alone = compile(&upper, inv, &CompileOptions::default());
            let total = |s: &strata_compiler::config::Summary| -> f64 {
                s.intents
                    .iter()
                    .filter(|i| i.priority >= floor)
                    .map(|i| i.admitted_rate / i.requested_rate)
                    .sum()
            };
            let (with_lower, without) = (total(&full.summary), total(&alone.summary));
            assert!(
                with_lower >= without - 1e-4 * without.max(1.0),
                "seed {seed}: classes ≥ {floor} admit {with_lower} with the lower classes, {without} without"
            );
        }
    }
}

/// One link that carries 10/s of 256-bit keys (2560 bit/s usable) and nothing else.
const ONE_LINK: &str = r#"
name: one
domains:
  - { name: d, operator: D, trust: trusted }
nodes:
  - { name: X, domain: d, role: endpoint }
  - { name: Y, domain: d, role: endpoint }
qkd_links:
  - { name: x-y, ends: [X, Y], length_km: 5, skr_bps: 2844.4445, qber: 0.02, classical_path: [k-x-y] }
classical_links:
  - { name: k-x-y, ends: [X, Y], bandwidth_bps: 1e9, latency_ms: 0.1 }
"#;

fn shares(objective: strata_compiler::compile::optimise::Objective) -> Vec<f64> {
    let (inv, _) = load(FileId(0), ONE_LINK);
    let inv = inv.unwrap();
    let p = program(
        &inv,
        "intent p: keys of 256 bits between X and Y, 10/s\n\
         intent q: keys of 256 bits between X and Y, 10/s\n\
         intent r: keys of 256 bits between X and Y, 5/s\n",
    );
    let out = compile(
        &p,
        &inv,
        &CompileOptions {
            objective,
            ..CompileOptions::default()
        },
    );
    out.summary
        .intents
        .iter()
        .map(|i| i.admitted_rate / i.requested_rate)
        .collect()
}

#[test]
fn intents_sharing_a_bottleneck_get_equal_shares_when_fair() {
    use strata_compiler::compile::optimise::Objective;
    let fair = shares(Objective::Fair);
    // 25/s asked for, 10/s fit: every intent gets 40 % of what it asked for.
    for s in &fair {
        assert!((s - 0.4).abs() < 1e-6, "{fair:?}");
    }
    // Throughput alone admits the same total rate but does not care who starves.
    let rates = |shares: &[f64]| shares[0] * 10.0 + shares[1] * 10.0 + shares[2] * 5.0;
    let throughput = shares(Objective::Throughput);
    assert!((rates(&fair) - 10.0).abs() < 1e-6);
    assert!((rates(&throughput) - 10.0).abs() < 1e-6);
    assert!(throughput.iter().sum::<f64>() >= fair.iter().sum::<f64>() - 1e-9);
}
