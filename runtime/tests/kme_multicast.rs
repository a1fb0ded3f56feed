//! ETSI GS QKD 014 key multicast on the twin's KMEs: a master joined to two slaves by two
//! key intents asks for keys for both at once (`additional_slave_SAE_IDs`), and each slave
//! gets the same bytes under the same key_ID from its own KME; slaves not joined to the
//! master, repeated ones and more than `max_SAE_ID_count` are refused with the standard's
//! error format.

use serde_json::json;
use std::time::{Duration, Instant};
use strata_compiler::compile::{CompileOptions, compile};
use strata_runtime::apply::{ApplyOptions, apply};
use strata_runtime::kme::client::{KmeClient, keys};
use strata_runtime::state::MemoryStore;
use strata_runtime::twin::host::Twin;

mod common;

const NETWORK: &str = "name: star\ndomains: [{ name: d, operator: Op, trust: trusted }]\nnodes:\n  - { name: A, domain: d, role: endpoint }\n  - { name: R, domain: d, role: trusted-relay }\n  - { name: B, domain: d, role: endpoint }\n  - { name: C, domain: d, role: endpoint }\n  - { name: D, domain: d, role: endpoint }\nclassical_links:\n  - { name: c1, ends: [A, R], bandwidth_bps: 1.0e9, latency_ms: 1 }\n  - { name: c2, ends: [R, B], bandwidth_bps: 1.0e9, latency_ms: 1 }\n  - { name: c3, ends: [R, C], bandwidth_bps: 1.0e9, latency_ms: 1 }\n  - { name: c4, ends: [R, D], bandwidth_bps: 1.0e9, latency_ms: 1 }\nqkd_links:\n  - { name: q1, ends: [A, R], length_km: 10, skr_bps: 2.0e5, qber: 0.02, classical_path: [c1] }\n  - { name: q2, ends: [R, B], length_km: 10, skr_bps: 2.0e5, qber: 0.02, classical_path: [c2] }\n  - { name: q3, ends: [R, C], length_km: 10, skr_bps: 2.0e5, qber: 0.02, classical_path: [c3] }\n  - { name: q4, ends: [R, D], length_km: 10, skr_bps: 2.0e5, qber: 0.02, classical_path: [c4] }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_named_slave_gets_the_same_key_from_its_own_kme() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("net.yaml"), NETWORK).unwrap();
    let qi = dir.path().join("x.qi");
    std::fs::write(
        &qi,
        "use network \"net.yaml\"\nintent one: keys of 256 bits between A and B, 20/s\nintent two: keys of 256 bits between A and C, 20/s\nintent other: keys of 256 bits between D and C, 5/s\n",
    )
    .unwrap();
    let (program, inv) = common::load_file(&qi);
    let twin = Twin::start(&inv, common::twin_options(4.0)).await.unwrap();
    let c = compile(&program, &inv, &CompileOptions::default());
    apply(
        &MemoryStore::default(),
        &twin.agents,
        &c.configs,
        Some(&c.summary),
        &ApplyOptions::default(),
        None,
    )
    .await
    .unwrap();
    let until = twin.world.now() + 1.0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while twin.world.now() < until && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let d = twin.kme.as_ref().unwrap();
    let mut a = KmeClient::for_sae_at(d, "A", "A").await.unwrap();
    let st = a.status("B").await.unwrap();
    assert_eq!(st.status, 200, "{}", st.body);
    assert_eq!(
        st.body["max_SAE_ID_count"], 1,
        "A is joined to B and C: {}",
        st.body
    );

    let enc = "/api/v1/keys/B/enc_keys";
    let r = a
        .post(
            enc,
            &json!({ "number": 2, "size": 256, "additional_slave_SAE_IDs": ["C"] }),
        )
        .await
        .unwrap();
    let sent = keys(&r).unwrap();
    assert_eq!(sent.len(), 2);
    let ids: Vec<String> = sent.iter().map(|k| k.key_id.clone()).collect();
    for (slave, node) in [("B", "B"), ("C", "C")] {
        let mut s = KmeClient::for_sae_at(d, slave, node).await.unwrap();
        let got = s.dec_keys("A", &ids).await.unwrap();
        assert_eq!(got, sent, "slave {slave} got the master's keys");
        // Delivered once per slave.
        assert!(s.dec_keys("A", &ids).await.is_err());
    }

    for (body, what) in [
        (
            json!({ "number": 1, "additional_slave_SAE_IDs": ["D"] }),
            "a slave not joined to the master",
        ),
        (
            json!({ "number": 1, "additional_slave_SAE_IDs": ["C", "C"] }),
            "a repeated slave",
        ),
        (
            json!({ "number": 1, "additional_slave_SAE_IDs": ["B"] }),
            "the slave itself",
        ),
        (
            json!({ "number": 1, "additional_slave_SAE_IDs": ["C", "D"] }),
            "more than max_SAE_ID_count",
        ),
    ] {
        let r = a.post(enc, &body).await.unwrap();
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        assert!(
            r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
        assert!(r.body["details"].is_array(), "{what}: {}", r.body);
    }
    twin.shutdown().await;
}
