//! `strata agent` processes as real node agents: apply to them over mutual TLS on loopback,
//! restart one, and find it still running the generation it had committed; an agent without
//! certificates refuses to start unless told `--insecure-dev`.

mod common;

use common::*;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use strata_runtime::pki::Pki;

struct Agent(Child);

/// A CA, a server certificate and key for agents A and B (`agent/A.pem`, `agent/A.key`) and
/// the controller's client certificate (`controller.pem`, `controller.key`) under `dir`.
fn certificates(dir: &Path) -> Pki {
    let pki = Pki::create_with_agents(dir, "pair", &[], &[], &["A".into(), "B".into()]).unwrap();
    for (node, id) in &pki.agents {
        std::fs::write(dir.join("agent").join(format!("{node}.key")), &id.key_pem).unwrap();
    }
    pki
}

impl Agent {
    fn start(node: &str, port: u16, dir: &Path, pki: &Path) -> Agent {
        let (cert, key) = (
            pki.join("agent").join(format!("{node}.pem")),
            pki.join("agent").join(format!("{node}.key")),
        );
        let child = bin()
            .args([
                "agent",
                "--node",
                node,
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--state-dir",
                dir.to_str().unwrap(),
                "--ca",
                pki.join("ca.pem").to_str().unwrap(),
                "--cert",
                cert.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
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
    let pki_dir = dir.path().join("pki");
    certificates(&pki_dir);
    let a = Agent::start("A", pa, &state_dir, &pki_dir);
    let b = Agent::start("B", pb, &state_dir, &pki_dir);
    let agents = dir.path().join("agents.json");
    // Paths in the agents file are relative to it.
    std::fs::write(
        &agents,
        format!("{{\"network\": \"pair\", \"agents\": {{\"A\": \"127.0.0.1:{pa}\", \"B\": \"127.0.0.1:{pb}\"}}, \"tls\": {{\"ca\": \"pki/ca.pem\", \"cert\": \"pki/controller.pem\", \"key\": \"pki/controller.key\"}}}}"),
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

    // Without the controller's credentials the agents answer nothing.
    let plain = dir.path().join("plain.json");
    std::fs::write(
        &plain,
        format!("{{\"network\": \"pair\", \"agents\": {{\"A\": \"127.0.0.1:{pa}\", \"B\": \"127.0.0.1:{pb}\"}}}}"),
    )
    .unwrap();
    let refused = strata(&[
        "state",
        "pull",
        "--agents",
        plain.to_str().unwrap(),
        "--state",
        st,
    ]);
    assert_ne!(refused.status.code(), Some(0), "{}", text(&refused));

    drop(a);
    let _a = Agent::start("A", pa, &state_dir, &pki_dir);
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

#[test]
fn an_agent_without_certificates_refuses_to_start_unless_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("agents");
    let out = strata(&[
        "agent",
        "--node",
        "A",
        "--state-dir",
        state_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("--ca") && said.contains("--cert"), "{said}");
    assert!(said.contains("--insecure-dev"), "{said}");

    // With --insecure-dev it serves, in plaintext, and says so loudly.
    let port = free_port();
    let mut child = bin()
        .args([
            "agent",
            "--node",
            "A",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--state-dir",
            state_dir.to_str().unwrap(),
            "--insecure-dev",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "no listener");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(
        warning.contains("WARNING") && warning.contains("without authentication"),
        "{warning}"
    );
}
