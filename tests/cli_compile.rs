//! `strata compile` and `strata plan` on the example networks through the real binary:
//! determinism, the standards' field names, admission, and plan exit codes against a state
//! store.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

use strata_runtime::state::{FileStore, State, StateStore};

fn read_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

fn compile(intents: &str, out: &Path) -> Value {
    let o = strata(&["compile", intents, "-o", out.to_str().unwrap(), "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn compile_is_byte_identical_across_runs() {
    for intents in ["intents/metro.qi", "intents/continental.qi"] {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        compile(intents, a.path());
        compile(intents, b.path());
        let (ta, tb) = (read_tree(a.path()), read_tree(b.path()));
        assert!(ta.len() > 10, "{intents}: {} files", ta.len());
        assert_eq!(ta, tb, "{intents}");
    }
}

#[test]
fn the_example_intents_are_all_met_with_their_bounds() {
    for intents in ["intents/metro.qi", "intents/continental.qi"] {
        let dir = tempfile::tempdir().unwrap();
        let summary = compile(intents, dir.path());
        for i in summary["intents"].as_array().unwrap() {
            assert_eq!(i["admission"], "met", "{intents}: {i:#}");
            assert!(
                i["admitted_rate"].as_f64().unwrap()
                    >= i["requested_rate"].as_f64().unwrap() * (1.0 - 1e-9)
            );
            assert!(!i["paths"].as_array().unwrap().is_empty());
        }
        assert_eq!(summary["rejected"], 0);
    }
}

#[test]
fn emitted_documents_use_the_etsi_field_names() {
    let dir = tempfile::tempdir().unwrap();
    compile("intents/metro.qi", dir.path());
    let service =
        std::fs::read_to_string(dir.path().join("Distrito-Telefonica/service.yaml")).unwrap();
    let forwarding = std::fs::read_to_string(dir.path().join("Norte/forwarding.yaml")).unwrap();
    let connectivity = std::fs::read_to_string(dir.path().join("Norte/connectivity.yaml")).unwrap();
    // ETSI GS QKD 015 (applications, links) and 004 (session QoS).
    for field in [
        "qkd_applications:",
        "app_qos:",
        "max_bandwidth:",
        "min_bandwidth:",
        "jitter:",
        "ttl:",
        "key_chunk_size:",
        "max_bps:",
        "min_bps:",
        "priority:",
        "timeout:",
    ] {
        assert!(service.contains(field), "service stratum lacks {field}");
    }
    for field in [
        "qkd_links:",
        "skr:",
        "eskr:",
        "expected_consumption:",
        "virt_prev_hop:",
        "virt_next_hop:",
        "forwarding_table:",
    ] {
        assert!(
            forwarding.contains(field),
            "forwarding stratum lacks {field}"
        );
    }
    for field in [
        "classical_channels:",
        "classical_paths:",
        "classical_links:",
    ] {
        assert!(
            connectivity.contains(field),
            "connectivity stratum lacks {field}"
        );
    }
    // The three URNs of the draft: two endpoints with nonces and a lifecycle URN.
    assert!(service.contains("urn:qkd:madqci:ccips?=nonce=177923"));
    assert!(service.contains("urn:qkd:quditto:emulator:ipsec:controller?=nonce="));
    assert!(service.contains("urn:qkd:lifecycle?=size=256&valid-for=3600"));
}

#[test]
fn plan_reports_adds_then_nothing_then_changes() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let st = state.to_str().unwrap();
    // An explicit state file must exist: start from an empty one.
    FileStore::new(&state).save(&State::default()).unwrap();
    let first = strata(&[
        "plan",
        "intents/metro.qi",
        "--state",
        st,
        "--detailed-exitcode",
    ]);
    assert_eq!(
        first.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let text = String::from_utf8_lossy(&first.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("+ Moncloa/service service_units vpn-core")),
        "{text}"
    );
    assert!(text.contains("to add, 0 to change, 0 to remove"), "{text}");

    // Record what compile produces as applied, then plan again: no changes.
    let out = tempfile::tempdir().unwrap();
    compile("intents/metro.qi", out.path());
    let docs: Vec<(String, String)> = read_tree(out.path())
        .into_iter()
        .map(|(p, b)| (p, String::from_utf8(b).unwrap()))
        .collect();
    let (configs, _) = strata_compiler::verify::read_dir_documents(&docs).unwrap();
    let applied = State {
        generation: 1,
        config_digest: strata_compiler::plan::digest(&configs),
        network: "madrid-metro".into(),
        configs,
        ..State::default()
    };
    FileStore::new(&state).save(&applied).unwrap();
    let same = strata(&[
        "plan",
        "intents/metro.qi",
        "--state",
        st,
        "--detailed-exitcode",
    ]);
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );
    assert!(String::from_utf8_lossy(&same.stdout).contains("No changes"));

    // A changed rate shows as `~` lines only.
    let changed = changed_metro(dir.path());
    let plan_file = dir.path().join("p.json");
    let diff = strata(&[
        "plan",
        changed.to_str().unwrap(),
        "--state",
        st,
        "--detailed-exitcode",
        "-out",
        plan_file.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(diff.status.code(), Some(2));
    let json: Value = serde_json::from_slice(&diff.stdout).unwrap();
    assert_eq!(json["plan"]["counts"]["add"], 0);
    assert_eq!(json["plan"]["counts"]["remove"], 0);
    assert!(json["plan"]["counts"]["change"].as_u64().unwrap() > 0);
    let saved: strata_runtime::saved_plan::SavedPlan =
        serde_json::from_slice(&std::fs::read(&plan_file).unwrap()).unwrap();
    assert!(saved.check(Some(&applied)).is_ok());
    let moved = State {
        generation: 2,
        ..applied
    };
    assert!(saved.check(Some(&moved)).is_err());
}
