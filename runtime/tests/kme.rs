//! ETSI GS QKD 014 key delivery on the digital twin, end to end over mutual TLS: keys
//! relayed hop by hop through trusted nodes, KME to KME over the relay listeners, reach both
//! SAEs identical, wrong callers are refused, malformed requests get their 400, the
//! session's token bucket holds a client to the intent's rate, keys expire, and keys flow
//! again after a cut link is re-planned.

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use strata_compiler::check::Program;
use strata_compiler::compile::{CompileOptions, compile};
use strata_compiler::inventory::Inventory;
use strata_runtime::apply::{ApplyOptions, apply};
use strata_runtime::control::Controller;
use strata_runtime::kme::KmeDirectory;
use strata_runtime::kme::client::{KmeClient, keys};
use strata_runtime::monitor::IntentState;
use strata_runtime::pb;
use strata_runtime::pki::{self, Pki};
use strata_runtime::state::MemoryStore;
use strata_runtime::twin::host::{Twin, TwinOptions};
use strata_runtime::world::Fault;

mod common;

use common::{load_file, root};

fn metro() -> (Program, Inventory) {
    load_file(&root().join("intents/metro.qi"))
}

fn options(speed: f64) -> TwinOptions {
    common::twin_options(speed)
}

/// A twin of `inv` with `program` applied, and `settle_s` of twin time for the pools to fill.
async fn running(program: &Program, inv: &Inventory, speed: f64) -> Twin {
    let twin = Twin::start(inv, options(speed)).await.unwrap();
    let c = compile(program, inv, &CompileOptions::default());
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
    settle(&twin, 0.5).await;
    twin
}

/// Waits until the twin's clock has moved `sim_s` seconds.
async fn settle(twin: &Twin, sim_s: f64) {
    let until = twin.world.now() + sim_s;
    let deadline = Instant::now() + Duration::from_secs(30);
    while twin.world.now() < until && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn dir(twin: &Twin) -> &KmeDirectory {
    twin.kme.as_ref().expect("the twin runs KMEs")
}

async fn sae(twin: &Twin, sae: &str, node: &str) -> KmeClient {
    KmeClient::for_sae_at(dir(twin), sae, node).await.unwrap()
}

fn assert_error(r: &strata_runtime::kme::api::Reply, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.body);
    let message = r.body["message"].as_str().unwrap_or("");
    assert!(!message.is_empty(), "{what}: no message in {}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_relayed_through_trusted_nodes_are_identical_at_both_saes() {
    let (program, inv) = metro();
    let twin = running(&program, &inv, 4.0).await;
    let d = dir(&twin);
    assert!(d.ca.exists());
    assert!(d.saes["ccips"].cert.exists() && d.saes["ccips"].key.exists());
    assert_eq!(d.saes["ccips"].kme, "Distrito-Telefonica");
    assert_eq!(d.kmes.len(), 10);
    let mut ccips = sae(&twin, "ccips", "Distrito-Telefonica").await;
    let mut ctl = sae(&twin, "ipsec-controller", "Moncloa").await;

    // Status, with the standard's field names and the service unit's three URNs.
    let st = ccips.status("ipsec-controller").await.unwrap();
    assert_eq!(st.status, 200, "{}", st.body);
    for field in [
        "source_KME_ID",
        "target_KME_ID",
        "master_SAE_ID",
        "slave_SAE_ID",
        "key_size",
        "stored_key_count",
        "max_key_count",
        "max_key_per_request",
        "max_key_size",
        "min_key_size",
        "max_SAE_ID_count",
        "status_extension",
    ] {
        assert!(
            st.body.get(field).is_some(),
            "status lacks {field}: {}",
            st.body
        );
    }
    assert_eq!(st.body["source_KME_ID"], "Distrito-Telefonica");
    assert_eq!(st.body["target_KME_ID"], "Moncloa");
    assert_eq!(st.body["master_SAE_ID"], "ccips");
    assert_eq!(st.body["slave_SAE_ID"], "ipsec-controller");
    assert_eq!(st.body["key_size"], 256);
    assert_eq!(st.body["max_key_per_request"], 10, "dc-backup's burst");
    assert!(st.body["stored_key_count"].as_u64().unwrap() > 0);
    let unit = &st.body["status_extension"]["strata_service_unit"];
    assert_eq!(unit["id"], "dc-backup");
    assert_eq!(unit["urns"]["local"], "urn:qkd:madqci:ccips?=nonce=177923");
    assert!(
        unit["urns"]["remote"]
            .as_str()
            .unwrap()
            .starts_with("urn:qkd:quditto:emulator:ipsec:controller?=nonce=")
    );
    assert!(
        unit["urns"]["lifecycle"]
            .as_str()
            .unwrap()
            .starts_with("urn:qkd:lifecycle?=size=256")
    );
    // dc-backup has two disjoint paths, both through trusted relays.
    let paths = unit["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 2, "{unit}");
    assert_eq!(
        paths[0]["nodes"],
        json!(["Distrito-Telefonica", "Norte", "Moncloa"])
    );

    // POST enc_keys at the master KME, dec_keys at the slave KME.
    let enc = ccips.enc_keys("ipsec-controller", 3, 256).await.unwrap();
    assert_eq!(enc.len(), 3);
    let ids: Vec<String> = enc.iter().map(|k| k.key_id.clone()).collect();
    for k in &enc {
        assert!(strata_runtime::kme::api::is_uuid(&k.key_id), "{}", k.key_id);
        assert_eq!(k.key.len(), 32);
    }
    assert_ne!(enc[0].key, enc[1].key);
    let dec = ctl.dec_keys("ccips", &ids).await.unwrap();
    assert_eq!(dec, enc, "identical key bytes at both ends");

    // A key is served once per side.
    let again = ctl
        .post(
            "/api/v1/keys/ccips/dec_keys",
            &json!({ "key_IDs": [{ "key_ID": ids[0] }] }),
        )
        .await
        .unwrap();
    assert_error(&again, 400, "a key fetched twice");

    // The GET forms, with a smaller key.
    let r = ccips
        .get("/api/v1/keys/ipsec-controller/enc_keys?number=1&size=128")
        .await
        .unwrap();
    let enc = keys(&r).unwrap();
    assert_eq!(enc[0].key.len(), 16);
    let r = ctl
        .get(&format!(
            "/api/v1/keys/ccips/dec_keys?key_ID={}",
            enc[0].key_id
        ))
        .await
        .unwrap();
    assert_eq!(keys(&r).unwrap(), enc);

    // The relay really went through Norte: both pools of its hop gave the key bytes.
    let log = twin.kms.as_ref().unwrap().log_lines();
    assert!(
        log.iter().any(|l| l.node == "Distrito-Telefonica"
            && l.message.contains("enc_keys")
            && l.message.contains("Distrito-Telefonica→Norte→Moncloa")
            && l.message.contains("urn:qkd:madqci:ccips?=nonce=177923")),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|l| l.node == "Moncloa" && l.message.contains("service unit dc-backup (slave end")),
        "{log:#?}"
    );
    // Norte's KME took the keys over its relay listener and passed them on: the twin's KMEs
    // relay to each other over the network, as separate processes do.
    assert_eq!(d.relays.len(), 10);
    assert!(
        log.iter().any(|l| l.node == "Norte"
            && l.message.contains(
                "relayed 3 key(s) of service unit dc-backup from KME Distrito-Telefonica to KME Moncloa"
            )),
        "{log:#?}"
    );
    twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_callers_are_refused() {
    let (program, inv) = metro();
    let twin = running(&program, &inv, 4.0).await;
    let mut ccips = sae(&twin, "ccips", "Distrito-Telefonica").await;
    let enc = ccips.enc_keys("ipsec-controller", 1, 256).await.unwrap();
    let body = json!({ "key_IDs": [{ "key_ID": enc[0].key_id }] });

    // `Moncloa` is a slave SAE at Moncloa (vpn-core), but not of this key.
    let mut moncloa = sae(&twin, "Moncloa", "Moncloa").await;
    let r = moncloa
        .post("/api/v1/keys/ccips/dec_keys", &body)
        .await
        .unwrap();
    assert_error(&r, 401, "dec_keys by an SAE that is not the key's slave");
    // An SAE attached elsewhere.
    let mut other = sae(&twin, "montegancedo-vpn", "Moncloa").await;
    let r = other
        .post("/api/v1/keys/ccips/dec_keys", &body)
        .await
        .unwrap();
    assert_error(&r, 401, "dec_keys by a stranger");
    // The master asking the slave's KME for its own key.
    let mut ccips_at_moncloa = sae(&twin, "ccips", "Moncloa").await;
    let r = ccips_at_moncloa
        .post("/api/v1/keys/ccips/dec_keys", &body)
        .await
        .unwrap();
    assert_error(&r, 401, "dec_keys by the master");
    // enc_keys by the slave end, and towards an SAE without a service unit.
    let mut ctl = sae(&twin, "ipsec-controller", "Moncloa").await;
    let r = ctl
        .get("/api/v1/keys/ccips/enc_keys?number=1")
        .await
        .unwrap();
    assert_error(&r, 401, "enc_keys by the slave");
    let r = ccips
        .get("/api/v1/keys/leganes-backup/enc_keys")
        .await
        .unwrap();
    assert_error(&r, 401, "enc_keys towards an unrelated SAE");
    // The refused key is still there for its real slave.
    assert_eq!(
        ctl.dec_keys("ccips", &[enc[0].key_id.clone()])
            .await
            .unwrap(),
        enc
    );

    // No client certificate, or one from another CA: no HTTP answer at all.
    let d = dir(&twin);
    let addr = &d.kmes["Moncloa"];
    let ca = std::fs::read_to_string(&d.ca).unwrap();
    let anonymous = pki::anonymous_client_config(&ca).unwrap();
    let foreign_dir = tempfile::tempdir().unwrap();
    let foreign = Pki::create(
        foreign_dir.path(),
        "elsewhere",
        &[],
        &["ipsec-controller".into()],
    )
    .unwrap();
    let id = &foreign.saes["ipsec-controller"];
    let impostor = pki::client_config(&ca, &id.cert_pem, &id.key_pem).unwrap();
    for (what, tls) in [("no certificate", anonymous), ("a foreign CA", impostor)] {
        let answer = match KmeClient::connect(addr, tls).await {
            Err(_) => None,
            Ok(mut c) => c.get("/api/v1/keys/ccips/status").await.ok(),
        };
        assert!(answer.is_none(), "{what}: {answer:?}");
    }
    let log = twin.kms.as_ref().unwrap().log_lines();
    assert!(
        log.iter()
            .any(|l| l.node == "Moncloa" && l.message.contains("TLS handshake")),
        "{log:#?}"
    );
    twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400_with_a_message() {
    let (program, inv) = metro();
    let twin = running(&program, &inv, 4.0).await;
    let mut ccips = sae(&twin, "ccips", "Distrito-Telefonica").await;
    let mut ctl = sae(&twin, "ipsec-controller", "Moncloa").await;
    let enc = "/api/v1/keys/ipsec-controller/enc_keys";
    for (query, what) in [
        ("size=100", "size not a multiple of 8"),
        ("size=1024", "size above max_key_size"),
        ("size=32", "size below min_key_size"),
        ("number=0", "number 0"),
        ("number=-1", "negative number"),
        ("number=abc", "alphanumeric number"),
        ("size=12a", "alphanumeric size"),
        ("number=11", "number above max_key_per_request"),
        ("numbr=1", "unknown parameter"),
    ] {
        let r = ccips.get(&format!("{enc}?{query}")).await.unwrap();
        assert_error(&r, 400, what);
    }
    for (body, what) in [
        (json!({ "number": "1" }), "number as a string"),
        (json!({ "number": 1.5 }), "fractional number"),
        (json!({ "size": -256 }), "negative size"),
        (json!({ "number": 0 }), "number 0"),
        (json!({ "size": 260 }), "size not a multiple of 8"),
        (
            json!({ "number": 1, "additional_slave_SAE_IDs": ["Moncloa"] }),
            "additional slave SAEs above max_SAE_ID_count",
        ),
        (
            json!({ "number": 1, "extension_mandatory": [{ "abc_route": "x" }] }),
            "unsupported mandatory extension",
        ),
        (
            json!({ "extension_mandatory": "x" }),
            "extension_mandatory not an array",
        ),
        (json!([1, 2]), "body not an object"),
    ] {
        let r = ccips.post(enc, &body).await.unwrap();
        assert_error(&r, 400, what);
    }
    let r = ccips
        .request("POST", enc, None)
        .await
        .map(|r| r.status)
        .unwrap();
    assert_eq!(r, 200, "an empty body asks for one key of the default size");
    // The supported mandatory extension, and unknown optional ones, are fine.
    let r = ccips
        .post(
            enc,
            &json!({
                "number": 1,
                "size": 256,
                "extension_mandatory": [{ "strata_service_unit": "dc-backup" }],
                "extension_optional": [{ "abc_route": "x" }],
            }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let r = ccips
        .post(
            enc,
            &json!({ "extension_mandatory": [{ "strata_service_unit": "vpn-core" }] }),
        )
        .await
        .unwrap();
    assert_error(&r, 401, "a service unit the SAE is not master of");

    let dec = "/api/v1/keys/ccips/dec_keys";
    for (query, what) in [
        (
            "key_ID=3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "unknown key_ID",
        ),
        ("key_ID=not-a-uuid", "malformed key_ID"),
        ("", "no key_ID"),
    ] {
        let r = ctl.get(&format!("{dec}?{query}")).await.unwrap();
        assert_error(&r, 400, what);
    }
    for (body, what) in [
        (json!({ "key_IDs": [] }), "empty key_IDs"),
        (
            json!({ "key_IDs": [{ "id": "x" }] }),
            "entry without key_ID",
        ),
        (json!({}), "no key_IDs"),
    ] {
        let r = ctl.post(dec, &body).await.unwrap();
        assert_error(&r, 400, what);
    }
    // A key asked for under the wrong master SAE.
    let k = ccips.enc_keys("ipsec-controller", 1, 256).await.unwrap();
    let r = ctl
        .get(&format!(
            "/api/v1/keys/Moncloa/dec_keys?key_ID={}",
            k[0].key_id
        ))
        .await
        .unwrap();
    assert_error(&r, 400, "wrong master_SAE_ID");
    // Not an API resource.
    let r = ccips.get("/api/v2/whatever").await.unwrap();
    assert_eq!(r.status, 404);
    twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustained_requests_are_held_to_the_intent_rate() {
    let (program, inv) = metro();
    let twin = running(&program, &inv, 4.0).await;
    // vpn-core: keys of 256 bits between Distrito-Telefonica and Moncloa, 10/s, burst 10.
    let mut a = sae(&twin, "Distrito-Telefonica", "Distrito-Telefonica").await;
    let path = "/api/v1/keys/Moncloa/enc_keys?number=1";
    // Drain the burst. The bucket refills at 10/s of twin time while it drains (a relayed
    // request can take a while on a loaded machine), so it may serve that much more.
    let drain_from = twin.world.now();
    let mut burst = 0;
    loop {
        let r = a.get(path).await.unwrap();
        if r.status != 200 {
            assert_error(&r, 503, "over the rate");
            assert!(
                r.body["message"].as_str().unwrap().contains("rate limit"),
                "{}",
                r.body
            );
            assert!(r.body["details"].is_array(), "{}", r.body);
            break;
        }
        burst += 1;
        let refilled = 10.0 * (twin.world.now() - drain_from);
        assert!(
            f64::from(burst) <= 10.0 + refilled + 1.0,
            "the bucket served {burst} keys with {refilled:.1} refilled"
        );
        assert!(burst < 1_000, "the bucket never ran dry");
    }
    assert!(burst >= 10, "a full bucket serves its burst: {burst}");
    // Then as fast as the client can ask, for 20 s of twin time.
    let t0 = twin.world.now();
    let (mut served, mut refused, mut slowest) = (0u64, 0u64, Duration::ZERO);
    while twin.world.now() < t0 + 20.0 {
        let started = Instant::now();
        let r = a.get(path).await.unwrap();
        slowest = slowest.max(started.elapsed());
        match r.status {
            200 => served += 1,
            503 => refused += 1,
            s => panic!("unexpected {s}: {}", r.body),
        }
        // A real client backs off a little between refusals.
        if r.status == 503 {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    let elapsed = twin.world.now() - t0;
    let rate = served as f64 / elapsed;
    println!(
        "{served} keys in {elapsed:.2} s of twin time = {rate:.3}/s ({refused} refused, slowest answer {slowest:?})"
    );
    assert!(
        (rate - 10.0).abs() <= 0.5,
        "held to 10/s within 5 %: {rate}"
    );
    assert!(refused > 0);
    assert!(
        slowest < Duration::from_secs(1),
        "never a hang: {slowest:?}"
    );
    twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_expire_at_their_valid_until() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("short.qi");
    let net = root().join("examples/metro/network.yaml");
    std::fs::write(
        &file,
        format!(
            "use network \"{}\"\nintent short-lived {{\n    keys of 256 bits\n    between ccips and ipsec-controller\n    rate >= 10/s\n    valid for 2 s\n}}\n",
            net.display()
        ),
    )
    .unwrap();
    let (program, inv) = load_file(&file);
    let twin = running(&program, &inv, 4.0).await;
    let mut ccips = sae(&twin, "ccips", "Distrito-Telefonica").await;
    let mut ctl = sae(&twin, "ipsec-controller", "Moncloa").await;
    let st = ccips.status("ipsec-controller").await.unwrap();
    assert_eq!(
        st.body["status_extension"]["strata_service_unit"]["valid_for_s"],
        2.0
    );
    let early = ccips.enc_keys("ipsec-controller", 2, 256).await.unwrap();
    let got = ctl
        .dec_keys("ccips", &[early[0].key_id.clone()])
        .await
        .unwrap();
    assert_eq!(got[0], early[0]);
    settle(&twin, 2.2).await;
    let r = ctl
        .get(&format!(
            "/api/v1/keys/ccips/dec_keys?key_ID={}",
            early[1].key_id
        ))
        .await
        .unwrap();
    assert_error(&r, 400, "an expired key");
    assert!(r.body.to_string().contains("expired"), "{}", r.body);
    twin.shutdown().await;
}

/// Runs the loop until `done` holds for the statuses.
async fn run_until(
    controller: &mut Controller,
    rx: &mut tokio::sync::mpsc::Receiver<pb::TelemetrySample>,
    nodes: usize,
    max_intervals: usize,
    done: impl Fn(&Controller) -> bool,
) -> bool {
    for _ in 0..max_intervals * nodes {
        let Ok(Some(sample)) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await
        else {
            return false;
        };
        controller.step(&sample).await.unwrap();
        if done(controller) {
            return true;
        }
    }
    false
}

async fn key_pair(a: &mut KmeClient, b: &mut KmeClient) -> Result<(), String> {
    let enc = a.enc_keys("Moncloa", 1, 256).await?;
    let dec = b
        .dec_keys("Distrito-Telefonica", &[enc[0].key_id.clone()])
        .await?;
    assert_eq!(dec, enc);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_flow_again_after_a_cut_link_is_replanned() {
    let (program, inv) = metro();
    let (twin, mut controller, mut rx) = common::controlled(program, inv, 20.0).await;
    let nodes = twin.agents.agents.len();
    settle(&twin, 1.0).await;
    let mut a = sae(&twin, "Distrito-Telefonica", "Distrito-Telefonica").await;
    let mut b = sae(&twin, "Moncloa", "Moncloa").await;
    key_pair(&mut a, &mut b).await.unwrap();

    // vpn-core runs Distrito-Telefonica → Norte → Moncloa; cut its last hop.
    let vpn = |c: &Controller| {
        c.compiled
            .summary
            .intents
            .iter()
            .find(|i| i.name == "vpn-core")
            .unwrap()
            .paths
            .clone()
    };
    let cut = vpn(&controller)[0].links.last().unwrap().clone();
    assert_eq!(cut, "q-norte-moncloa");
    twin.world
        .apply_fault(&Fault::CutLink(cut.clone()))
        .unwrap();
    settle(&twin, 0.2).await;
    let r = a.get("/api/v1/keys/Moncloa/enc_keys").await.unwrap();
    assert_error(&r, 503, "a path over a cut link");
    assert!(
        r.body["message"].as_str().unwrap().contains(&cut),
        "{}",
        r.body
    );

    // The loop notices, re-plans vpn-core around the cut and applies it.
    let rerouted = run_until(&mut controller, &mut rx, nodes, 40, |c| {
        let p = vpn(c);
        !p.is_empty() && p.iter().all(|p| !p.links.contains(&cut))
    })
    .await;
    assert!(rerouted, "{:#?}", controller.log);
    let installed = run_until(&mut controller, &mut rx, nodes, 40, |c| {
        c.monitor
            .statuses()
            .iter()
            .any(|s| s.name == "vpn-core" && s.state == IntentState::Installed)
    })
    .await;
    assert!(installed, "{:#?}", controller.monitor.statuses());
    key_pair(&mut a, &mut b).await.unwrap();
    let st = a.status("Moncloa").await.unwrap();
    let paths = st.body["status_extension"]["strata_service_unit"]["paths"]
        .as_array()
        .unwrap();
    assert!(
        !paths.is_empty()
            && paths.iter().all(|p| !p["links"]
                .as_array()
                .unwrap()
                .contains(&Value::from(cut.as_str()))),
        "{}",
        st.body
    );
    twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_over_the_qber_threshold_or_cut_make_no_key() {
    let (program, inv) = metro();
    let twin = running(&program, &inv, 8.0).await;
    let kms = twin.kms.clone().unwrap();
    let link = "q-distrito-quintin";
    let grows = |before: usize, after: usize| after > before;
    let before = kms.pool_bytes(link).unwrap();
    settle(&twin, 0.5).await;
    assert!(
        grows(before, kms.pool_bytes(link).unwrap()),
        "an idle link fills its pool"
    );
    // An intercept-resend eavesdropper: QBER 12 %, over the threshold.
    twin.world
        .apply_fault(&Fault::SetQber(link.into(), 0.12))
        .unwrap();
    settle(&twin, 0.2).await;
    let before = kms.pool_bytes(link).unwrap();
    settle(&twin, 1.0).await;
    assert_eq!(
        kms.pool_bytes(link).unwrap(),
        before,
        "no key over the threshold"
    );
    twin.world
        .apply_fault(&Fault::SetQber(link.into(), 0.018))
        .unwrap();
    settle(&twin, 0.5).await;
    assert!(grows(before, kms.pool_bytes(link).unwrap()));
    twin.world
        .apply_fault(&Fault::CutLink(link.into()))
        .unwrap();
    settle(&twin, 0.2).await;
    let before = kms.pool_bytes(link).unwrap();
    settle(&twin, 1.0).await;
    assert_eq!(kms.pool_bytes(link).unwrap(), before, "no key while cut");
    twin.shutdown().await;
}
