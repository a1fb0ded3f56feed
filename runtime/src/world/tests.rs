//! The emulated network against numbers computed by hand from small inventories: key and
//! pair delivery, relays, token buckets, faults and re-plans.

use super::*;
use strata_compiler::check::check;
use strata_compiler::compile::{Compiled, compile};
use strata_compiler::config::Admission;
use strata_compiler::inventory::load;
use strata_grammar::{FileId, parse};

/// Keys A–B over the trusted relay R only; keys C–D over two disjoint routes (direct, or
/// via S); pairs P–Q over the repeater M. Every rate is measured, so the expected numbers
/// come straight from this text. P and Q keep pairs for a minute or more, long enough for
/// `f`'s raw pairs to wait for their purification partners at 2/s.
const NET: &str = r#"
name: twin-lab
domains:
  - { name: home, operator: Home, trust: trusted }
nodes:
  - { name: A, domain: home, role: endpoint }
  - { name: B, domain: home, role: endpoint }
  - { name: R, domain: home, role: trusted-relay }
  - { name: C, domain: home, role: endpoint }
  - { name: D, domain: home, role: endpoint }
  - { name: S, domain: home, role: trusted-relay }
  - { name: P, domain: home, role: endpoint, memory: { qubits: 10, coherence_time_s: 100.0 } }
  - { name: Q, domain: home, role: endpoint, memory: { qubits: 10, coherence_time_s: 60.0 } }
  - { name: M, domain: home, role: repeater, memory: { qubits: 20, coherence_time_s: 2.0 } }
qkd_links:
  - { name: a-r, ends: [A, R], length_km: 10, skr_bps: 20000, qber: 0.02, classical_path: [c-a-r] }
  - { name: r-b, ends: [R, B], length_km: 10, skr_bps: 30000, qber: 0.03, classical_path: [c-r-b] }
  - { name: c-d, ends: [C, D], length_km: 10, skr_bps: 50000, qber: 0.02, classical_path: [c-c-d] }
  - { name: c-s, ends: [C, S], length_km: 10, skr_bps: 50000, qber: 0.02, classical_path: [c-c-s] }
  - { name: s-d, ends: [S, D], length_km: 10, skr_bps: 50000, qber: 0.02, classical_path: [c-s-d] }
entanglement_links:
  - { name: e-p-m, ends: [P, M], length_km: 10, pair_rate_hz: 1000, fidelity: 0.98, classical_path: [c-p-m] }
  - { name: e-m-q, ends: [M, Q], length_km: 20, pair_rate_hz: 400, fidelity: 0.97, classical_path: [c-m-q] }
classical_links:
  - { name: c-a-r, ends: [A, R], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: c-r-b, ends: [R, B], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: c-c-d, ends: [C, D], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: c-c-s, ends: [C, S], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: c-s-d, ends: [S, D], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: c-p-m, ends: [P, M], bandwidth_bps: 1e9, latency_ms: 0.2 }
  - { name: c-m-q, ends: [M, Q], bandwidth_bps: 1e9, latency_ms: 0.3 }
"#;

const INTENTS: &str = r#"
intent k: keys of 256 bits between A and B, 10/s
intent d: keys of 128 bits between C and D, 20/s, disjoint paths 2
intent p: entangled pairs between P and Q, fidelity >= 0.9, 5/s
intent f: entangled pairs between P and Q, fidelity >= 0.96, 2/s
"#;

const STEP: f64 = 0.05;

fn inventory() -> Inventory {
    let (inv, diags) = load(FileId(0), NET);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
    inv.expect("inventory loads")
}

fn compiled(inv: &Inventory, intents: &str) -> Compiled {
    let (unit, diags) = parse(FileId(1), intents);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
    let (program, diags) = check(&[&unit], inv);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
    compile(&program, inv, &Default::default())
}

/// A world with every node's configuration installed except those in `skip`.
fn world_without(skip: &[&str]) -> (World, Compiled) {
    let inv = inventory();
    let out = compiled(&inv, INTENTS);
    for i in &out.summary.intents {
        assert_eq!(
            i.admission,
            Admission::Met,
            "{} is not met: {:?}",
            i.name,
            i.reason
        );
    }
    let world = World::new(&inv);
    for (node, cfg) in &out.configs.nodes {
        if !skip.contains(&node.as_str()) {
            world.install(node, cfg.clone());
        }
    }
    (world, out)
}

fn world() -> (World, Compiled) {
    world_without(&[])
}

fn run(w: &World, seconds: f64) {
    for _ in 0..(seconds / STEP).round() as u64 {
        w.advance(STEP);
    }
}

fn unit(w: &World, node: &str, id: &str) -> UnitSample {
    let s = w.sample(node).expect("known node");
    s.units
        .into_iter()
        .find(|u| u.service_unit == id)
        .unwrap_or_else(|| panic!("{node} has no unit {id}"))
}

fn link(w: &World, node: &str, name: &str) -> LinkSample {
    let s = w.sample(node).expect("known node");
    s.links
        .into_iter()
        .find(|l| l.link == name)
        .unwrap_or_else(|| panic!("{node} has no link {name}"))
}

#[track_caller]
fn assert_rate(u: &UnitSample, rate: f64) {
    assert!(
        (u.delivered_rate - rate).abs() <= 0.02 * rate,
        "{} at its {} end: {} delivered/s, expected {rate}",
        u.service_unit,
        u.role,
        u.delivered_rate
    );
}

fn compiled_unit_fidelity(out: &Compiled, node: &str, id: &str) -> f64 {
    out.configs.nodes[node]
        .service
        .service_units
        .iter()
        .find(|u| u.id == id)
        .expect("unit")
        .fidelity
}

#[test]
fn key_intent_delivers_its_rate_at_both_ends() {
    let (w, _) = world();
    run(&w, 10.0);
    let (a, b) = (unit(&w, "A", "k"), unit(&w, "B", "k"));
    assert_eq!((a.role.as_str(), b.role.as_str()), ("master", "slave"));
    assert_rate(&a, 10.0);
    assert_rate(&b, 10.0);
    assert_eq!(b.target_rate, 10.0);
    assert!(a.delivered_total.abs_diff(b.delivered_total) <= 1);
    // 10 keys/s for 10 s.
    assert!(
        b.delivered_total.abs_diff(100) <= 1,
        "{}",
        b.delivered_total
    );
    // Keys: 1 − the worst QBER on A–R–B (r-b, 3 %).
    assert!((b.fidelity - 0.97).abs() < 1e-12, "{}", b.fidelity);
}

#[test]
fn pair_intents_deliver_their_rate_at_the_compiled_fidelity() {
    let (w, out) = world();
    run(&w, 10.0);
    let (p, q) = (unit(&w, "P", "p"), unit(&w, "Q", "p"));
    assert_rate(&p, 5.0);
    assert_rate(&q, 5.0);
    assert!(p.delivered_total.abs_diff(q.delivered_total) <= 1);
    // Werner swap of 0.98 and 0.97 links (DESIGN §5), slightly decohered while the 0.65 ms
    // of heralding and swap messages travel.
    let chain = physics::chain_fidelity(&[0.98, 0.97]);
    assert!(
        q.fidelity < chain && chain - q.fidelity < 2e-3,
        "{} vs {chain}",
        q.fidelity
    );
    assert!((q.fidelity - compiled_unit_fidelity(&out, "Q", "p")).abs() < 1e-6);
    // `f` needs purification to pass 0.96.
    let f = unit(&w, "Q", "f");
    assert_rate(&f, 2.0);
    assert!(f.fidelity >= 0.96, "{}", f.fidelity);
    assert!((f.fidelity - compiled_unit_fidelity(&out, "Q", "f")).abs() < 1e-6);
}

#[test]
fn purified_pairs_decay_while_raw_pairs_wait_at_a_slow_rate() {
    // `f` configured at a thousandth of its rate everywhere: each raw pair waits ~2 min
    // for its partner in Q's 60 s memory, so the purified pairs fall far below 0.96 —
    // to what the decay law gives for that wait, not to the compiled fidelity.
    let inv = inventory();
    let out = compiled(&inv, INTENTS);
    let world = World::new(&inv);
    for (node, cfg) in &out.configs.nodes {
        let mut cfg = cfg.clone();
        for e in &mut cfg.forwarding.forwarding_table {
            if e.service_unit == "f" {
                e.rate /= 1000.0;
            }
        }
        world.install(node, cfg);
    }
    run(&world, 1.0);
    let f = unit(&world, "Q", "f");
    let entry = out.configs.nodes["Q"]
        .forwarding
        .purification
        .iter()
        .find(|x| x.service_unit == "f")
        .expect("f purifies")
        .clone();
    let slow = physics::purify_stored(entry.fidelity_in, entry.rounds, 2.0 / 1000.0, 60.0);
    assert!(slow.wait_s > 100.0, "{slow:?}");
    assert!(
        (f.fidelity - slow.fidelity).abs() < 1e-6,
        "{} vs {slow:?}",
        f.fidelity
    );
    assert!(f.fidelity < 0.5, "{}", f.fidelity);
    // At its compiled rate the twin reports what was compiled.
    assert!(
        entry.fidelity_out >= 0.96 && entry.storage_wait_s < 1.0,
        "{entry:?}"
    );
}

#[test]
fn pools_conserve_key_and_pairs_and_never_go_negative() {
    let (w, out) = world();
    for _ in 0..200 {
        w.advance(STEP);
        for node in w.nodes() {
            for l in w.sample(&node).expect("node").links {
                assert!(l.pool >= 0.0, "{node} {}: {}", l.link, l.pool);
            }
        }
    }
    let k = unit(&w, "B", "k").delivered_total as f64;
    for (node, l) in [("A", "a-r"), ("R", "a-r"), ("R", "r-b"), ("B", "r-b")] {
        let ledger = w.pool_ledger(node, l).expect("ledger");
        let skr = if l == "a-r" { 20000.0 } else { 30000.0 };
        // Generated at the link's rate; nothing discarded well below the 30 s cap.
        assert!(
            (ledger.generated - skr * 10.0).abs() < 1e-6 * skr,
            "{node} {l}: {ledger:?}"
        );
        assert_eq!(ledger.discarded, 0.0);
        // Only `k` crosses A–R–B: 256 bits per delivered key at both ends of each hop.
        assert!(
            (ledger.consumed - k * 256.0).abs() <= 256.0,
            "{node} {l}: {ledger:?}, {k} keys"
        );
        assert!(
            (ledger.generated - ledger.consumed - ledger.pool).abs() < 1e-6,
            "{ledger:?}"
        );
        assert_eq!(Some(ledger.pool), Some(link(&w, node, l).pool));
    }
    // Pairs: both ends of a link agree and keep generated − consumed − discarded = pool.
    // Each pair of `p` takes 1/0.5 elementary pairs from both links (one swap); each pair
    // of `f` also needs one BBPSSW round, which keeps p_s/2 pairs per input pair, p_s
    // taken from the raw fidelity the compiler wrote into the purification entry.
    let raw = out.configs.nodes["P"]
        .forwarding
        .purification
        .iter()
        .find(|x| x.service_unit == "f")
        .expect("f purifies");
    assert_eq!(raw.rounds, 1);
    let per_f = 2.0 / (physics::bbpssw_success_probability(raw.fidelity_in) / 2.0);
    let (p, f) = (
        unit(&w, "Q", "p").delivered_total as f64,
        unit(&w, "Q", "f").delivered_total as f64,
    );
    for (l, far) in [("e-p-m", "P"), ("e-m-q", "Q")] {
        let m = w.pool_ledger("M", l).expect("ledger");
        assert_eq!(Some(m), w.pool_ledger(far, l));
        assert!(
            (m.generated - m.consumed - m.discarded - m.pool).abs() < 1e-6,
            "{m:?}"
        );
        let expected = p * 2.0 + f * per_f;
        assert!(
            (m.consumed - expected).abs() <= 2.0 + per_f,
            "{l}: {m:?}, expected {expected}"
        );
    }
}

#[test]
fn cutting_a_link_stops_delivery_and_restoring_it_resumes() {
    let (w, _) = world();
    run(&w, 5.0);
    w.apply_fault(&Fault::CutLink("r-b".into()))
        .expect("known link");
    run(&w, 2.0);
    let b = unit(&w, "B", "k");
    assert_eq!(b.delivered_rate, 0.0);
    for node in ["R", "B"] {
        let l = link(&w, node, "r-b");
        assert!(!l.up && l.skr == 0.0 && l.eskr == 0.0, "{l:?}");
    }
    assert!(link(&w, "A", "a-r").up);
    run(&w, 2.0);
    assert_eq!(unit(&w, "B", "k").delivered_total, b.delivered_total);
    w.apply_fault(&Fault::RestoreLink("r-b".into()))
        .expect("known link");
    run(&w, 2.0);
    assert_rate(&unit(&w, "B", "k"), 10.0);
    // Cutting the classical link that carries r-b's channel takes r-b down too.
    w.apply_fault(&Fault::CutLink("c-r-b".into()))
        .expect("known link");
    run(&w, 2.0);
    assert!(!link(&w, "B", "r-b").up);
    assert_eq!(unit(&w, "B", "k").delivered_rate, 0.0);
    assert!(w.apply_fault(&Fault::CutLink("nope".into())).is_err());
}

#[test]
fn disjoint_paths_survive_losing_one() {
    let (w, out) = world();
    run(&w, 10.0);
    assert_rate(&unit(&w, "D", "d"), 20.0);
    let d = out
        .summary
        .intents
        .iter()
        .find(|i| i.name == "d")
        .expect("d");
    assert_eq!(d.paths.len(), 2);
    let first = d.paths[0].links[0].clone();
    w.apply_fault(&Fault::CutLink(first)).expect("known link");
    run(&w, 2.0);
    assert_rate(&unit(&w, "D", "d"), 20.0);
}

#[test]
fn qber_over_the_threshold_yields_no_key() {
    let (w, _) = world();
    run(&w, 1.0);
    let threshold = physics::qber_threshold(1.16);
    w.apply_fault(&Fault::SetQber("a-r".into(), threshold))
        .expect("valid");
    w.advance(STEP);
    let generated = w.pool_ledger("A", "a-r").expect("ledger").generated;
    run(&w, 1.0);
    for node in ["A", "R"] {
        let l = link(&w, node, "a-r");
        assert!(
            l.up && l.skr == 0.0 && l.eskr == 0.0 && l.qber == threshold,
            "{l:?}"
        );
    }
    assert_eq!(
        w.pool_ledger("A", "a-r").expect("ledger").generated,
        generated
    );
    // Below the threshold the secret fraction shrinks, never above the measured rate.
    w.apply_fault(&Fault::SetQber("a-r".into(), 0.05))
        .expect("valid");
    let skr = link(&w, "A", "a-r").skr;
    assert!(skr > 0.0 && skr < 20000.0, "{skr}");
    w.apply_fault(&Fault::SetQber("a-r".into(), 0.02))
        .expect("valid");
    let l = link(&w, "A", "a-r");
    assert_eq!((l.skr, l.eskr), (20000.0, 18000.0));
    // Faults that do not apply.
    assert!(w.apply_fault(&Fault::SetQber("a-r".into(), 0.7)).is_err());
    assert!(
        w.apply_fault(&Fault::SetQber("a-r".into(), f64::NAN))
            .is_err()
    );
    assert!(
        w.apply_fault(&Fault::SetQber("e-p-m".into(), 0.01))
            .is_err()
    );
    assert!(w.apply_fault(&Fault::SetQber("zz".into(), 0.01)).is_err());
    assert!(
        w.apply_fault(&Fault::SetFidelity("a-r".into(), 0.9))
            .is_err()
    );
    assert!(
        w.apply_fault(&Fault::SetFidelity("e-p-m".into(), 1.5))
            .is_err()
    );
}

#[test]
fn lower_link_fidelity_lowers_pair_fidelity() {
    let (w, _) = world();
    run(&w, 2.0);
    let before = unit(&w, "Q", "p").fidelity;
    w.apply_fault(&Fault::SetFidelity("e-p-m".into(), 0.9))
        .expect("valid");
    assert_eq!(link(&w, "P", "e-p-m").fidelity, 0.9);
    run(&w, 1.0);
    let after = unit(&w, "Q", "p").fidelity;
    let chain = physics::chain_fidelity(&[0.9, 0.97]);
    assert!(
        after < before && (after - chain).abs() < 2e-3,
        "{before} → {after}, chain {chain}"
    );
}

#[test]
fn a_half_installed_intent_delivers_nothing() {
    let (w, out) = world_without(&["R"]);
    run(&w, 10.0);
    for node in ["A", "B"] {
        let k = unit(&w, node, "k");
        assert_eq!(
            (k.delivered_total, k.delivered_rate, k.fidelity),
            (0, 0.0, 0.0),
            "{k:?}"
        );
    }
    // Other intents do not depend on R.
    assert_rate(&unit(&w, "Q", "p"), 5.0);
    // R on an older generation that never heard of `k` breaks the path just the same.
    let old = compiled(
        &inventory(),
        "intent p: entangled pairs between P and Q, 5/s\n",
    );
    w.install("R", old.configs.nodes["R"].clone());
    run(&w, 2.0);
    assert_eq!(unit(&w, "B", "k").delivered_total, 0);
    w.install("R", out.configs.nodes["R"].clone());
    run(&w, 2.0);
    assert_rate(&unit(&w, "B", "k"), 10.0);
}

#[test]
fn a_stopped_node_is_down_with_its_links() {
    let (w, _) = world();
    run(&w, 3.0);
    w.apply_fault(&Fault::StopNode("R".into()))
        .expect("known node");
    assert!(!w.node_up("R"));
    run(&w, 2.0);
    let r = w.sample("R").expect("node");
    assert!(!r.up);
    assert!(r.links.iter().all(|l| !l.up && l.skr == 0.0));
    assert!(!link(&w, "A", "a-r").up);
    assert!(w.sample("A").expect("node").up);
    assert_eq!(unit(&w, "B", "k").delivered_rate, 0.0);
    w.apply_fault(&Fault::StartNode("R".into()))
        .expect("known node");
    run(&w, 2.0);
    assert_rate(&unit(&w, "B", "k"), 10.0);
    // A stopped endpoint reports no deliveries at once.
    w.apply_fault(&Fault::StopNode("B".into()))
        .expect("known node");
    let b = w.sample("B").expect("node");
    assert!(!b.up && b.units.iter().all(|u| u.delivered_rate == 0.0));
    assert!(w.apply_fault(&Fault::StopNode("nope".into())).is_err());
}

#[test]
fn refuse_prepare_is_a_flag_until_accepted() {
    let (w, _) = world();
    assert!(!w.refuses_prepare("R"));
    w.apply_fault(&Fault::RefusePrepare("R".into()))
        .expect("known node");
    assert!(w.refuses_prepare("R") && w.node_up("R"));
    w.apply_fault(&Fault::AcceptPrepare("R".into()))
        .expect("known node");
    assert!(!w.refuses_prepare("R"));
    assert!(!w.refuses_prepare("nope") && !w.node_up("nope"));
    assert!(w.apply_fault(&Fault::RefusePrepare("nope".into())).is_err());
    assert!(w.sample("nope").is_none());
    assert_eq!(w.nodes(), ["A", "B", "R", "C", "D", "S", "P", "Q", "M"]);
}

#[test]
fn same_inputs_same_samples() {
    let script = |w: &World| {
        run(w, 3.0);
        w.apply_fault(&Fault::SetQber("c-d".into(), 0.2))
            .expect("valid");
        run(w, 1.5);
        w.apply_fault(&Fault::StopNode("M".into())).expect("valid");
        w.advance(0.73);
        w.apply_fault(&Fault::StartNode("M".into())).expect("valid");
        w.advance(2.0);
        w.nodes()
            .iter()
            .map(|n| w.sample(n).expect("node"))
            .collect::<Vec<_>>()
    };
    let (a, _) = world();
    let (b, _) = world();
    assert_eq!(script(&a), script(&b));
}

#[test]
fn time_advances_only_forward() {
    let (w, _) = world();
    w.advance(1.0);
    w.advance(-1.0);
    w.advance(f64::NAN);
    w.advance(f64::INFINITY);
    assert!((w.now() - 1.0).abs() < 1e-12);
    // One long call equals many short ones.
    assert_rate(&unit(&w, "B", "k"), 10.0);
}

/// The example networks end to end: every intent's slave end measures its admitted rate
/// (bit-rate intents, disjoint paths and pairs per minute included) at a fidelity no
/// worse than the compiler promised.
#[test]
fn example_networks_run_at_their_compiled_rates() {
    example(
        include_str!("../../../examples/metro/network.yaml"),
        include_str!("../../../intents/metro.qi"),
    );
    example(
        include_str!("../../../examples/continental/network.yaml"),
        include_str!("../../../intents/continental.qi"),
    );
}

fn example(net: &str, intents: &str) {
    let (inv, diags) = load(FileId(0), net);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
    let inv = inv.expect("inventory loads");
    let out = compiled(&inv, intents);
    let w = World::new(&inv);
    for (node, cfg) in &out.configs.nodes {
        w.install(node, cfg.clone());
    }
    run(&w, 10.0);
    let admitted: Vec<_> = out
        .summary
        .intents
        .iter()
        .filter(|i| i.admitted_rate > 0.0)
        .collect();
    assert!(!admitted.is_empty());
    for i in admitted {
        let u = unit(&w, &i.endpoints[1], &i.name);
        assert_rate(&u, i.admitted_rate);
        // Fidelity of the paths carrying the keys now: one of the compiled paths', never
        // below the worst the compiler promised.
        let promised = i.fidelity.expect("met intents have a fidelity");
        assert!(
            u.fidelity >= promised - 1e-6,
            "{}: {} < {promised}",
            i.name,
            u.fidelity
        );
        assert!(
            i.paths
                .iter()
                .any(|p| (p.fidelity - u.fidelity).abs() < 1e-3),
            "{}: {} matches no path",
            i.name,
            u.fidelity
        );
    }
}
