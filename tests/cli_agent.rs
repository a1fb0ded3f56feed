//! `strata agent` processes as real node agents: apply to them over loopback, restart one,
//! and find it still running the generation it had committed.

mod common;

use common::*;
use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Agent(Child);

impl Agent {
    fn start(node: &str, port: u16, dir: &std::path::Path) -> Agent {
        let child = bin()
            .args([
                "agent",
                "--node",
                node,
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--state-dir",
                dir.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "agent {node} did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Agent(child)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn standalone_agents_take_a_generation_and_keep_it_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("net.yaml"),
        "name: pair\ndomains: [{ name: d, operator: Op, trust: trusted }]\nnodes:\n  - { name: A, domain: d, role: endpoint }\n  - { name: B, domain: d, role: endpoint }\nclassical_links: [{ name: c, ends: [A, B], bandwidth_bps: 1.0e9, latency_ms: 1 }]\nqkd_links: [{ name: q, ends: [A, B], length_km: 20, skr_bps: 1.0e5, qber: 0.02, classical_path: [c] }]\n",
    )
    .unwrap();
    let qi = dir.path().join("x.qi");
    std::fs::write(
        &qi,
        "use network \"net.yaml\"\nintent x: keys of 256 bits between A and B, 10/s\n",
    )
    .unwrap();
    let (pa, pb) = (free_port(), free_port());
    let state_dir = dir.path().join("agents");
    let a = Agent::start("A", pa, &state_dir);
    let b = Agent::start("B", pb, &state_dir);
    let agents = dir.path().join("agents.json");
    std::fs::write(
        &agents,
        format!("{{\"network\": \"pair\", \"agents\": {{\"A\": \"127.0.0.1:{pa}\", \"B\": \"127.0.0.1:{pb}\"}}}}"),
    )
    .unwrap();
    let state = dir.path().join("state.json");
    let (q, ag, st) = (
        qi.to_str().unwrap(),
        agents.to_str().unwrap(),
        state.to_str().unwrap(),
    );
    // Standalone agents measure nothing (no device driver), so apply reports the intent
    // pending, but every node takes the generation.
    let applied = strata(&[
        "apply",
        q,
        "--agents",
        ag,
        "--state",
        st,
        "--intervals",
        "2",
    ]);
    assert!(
        text(&applied).contains("applied generation 1"),
        "{}",
        text(&applied)
    );
    let faults = strata(&["twin", "fault", "--agents", ag, "cut", "q"]);
    assert_eq!(faults.status.code(), Some(1), "real agents take no faults");

    drop(a);
    let _a = Agent::start("A", pa, &state_dir);
    let s = strata(&[
        "status", "--agents", ag, "--state", st, "--json", "--wait", "2",
    ]);
    let json: serde_json::Value =
        serde_json::from_slice(&s.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&s)));
    for n in json["nodes"].as_array().unwrap() {
        assert_eq!(n["generation"], 1, "{json:#}");
    }
    drop(b);
}
