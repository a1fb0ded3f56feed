//! As a property: for random small networks — keys, and pairs with repeaters and memories —
//! whatever the front end accepts compiles to configuration the verifier finds no fault
//! with.

mod common;

use common::lab::{checked, errors};
use proptest::prelude::*;
use strata_compiler::compile::{CompileOptions, compile};
use strata_compiler::inventory::{DecoyBb84, load};
use strata_compiler::physics;
use strata_compiler::verify::verify;
use strata_grammar::FileId;

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
