//! The agents' control channel on the digital twin: only the controller's certificate may
//! prepare, commit, abort, read a node's configuration or subscribe to its telemetry. A
//! plaintext caller and a caller with another certificate of the same CA (an SAE's) are
//! refused, and the session whose slave application they tried to redirect keeps sending
//! its keys to the real slave only.

use serde_json::json;
use std::time::Duration;
use strata_compiler::compile::{CompileOptions, compile};
use strata_runtime::agent::channel::{ControlTls, connect};
use strata_runtime::apply::{ApplyOptions, apply};
use strata_runtime::kme::client::KmeClient;
use strata_runtime::pb;
use strata_runtime::state::{MemoryStore, node_documents};
use strata_runtime::twin::host::Twin;
use tonic::Code;

mod common;

use common::{load, twin_options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_controller_certificate_reconfigures_an_agent() {
    let (program, inv) = load("intents/metro.qi");
    let twin = Twin::start(&inv, twin_options(4.0)).await.unwrap();
    let c = compile(&program, &inv, &CompileOptions::default());
    let report = apply(
        &MemoryStore::default(),
        &twin.agents,
        &c.configs,
        Some(&c.summary),
        &ApplyOptions::default(),
        None,
    )
    .await
    .unwrap();
    let kme = twin.kme.clone().expect("the twin runs KMEs");
    let moncloa = &twin.agents.agents["Moncloa"];
    let timeout = Duration::from_secs(5);

    // What an attacker would push: Moncloa's own documents, with dc-backup's slave
    // application at Moncloa replaced by another site's application.
    let mut documents = node_documents(&c.configs)["Moncloa"].clone();
    let service = documents.get_mut("service").unwrap();
    assert!(service.contains("ipsec-controller"), "{service}");
    *service = service.replace("ipsec-controller", "leganes-backup");
    let prepare = pb::PrepareRequest {
        generation: report.generation + 1000,
        digest: "attacker".into(),
        node: "Moncloa".into(),
        documents: documents.into_iter().collect(),
        base_generation: report.generation,
    };

    // A plaintext client gets no gRPC answer at all.
    match connect(moncloa, None, timeout).await {
        Err(_) => {}
        Ok(mut plain) => {
            let err = plain.prepare(prepare.clone()).await.unwrap_err();
            assert_ne!(err.code(), Code::Ok);
            assert!(plain.get_running(pb::RunningRequest {}).await.is_err());
        }
    }

    // A certificate of the same CA that is not the controller's: refused by name.
    let sae = &kme.saes["leganes-backup"];
    let wrong = ControlTls {
        ca: kme.ca.clone(),
        cert: sae.cert.clone(),
        key: sae.key.clone(),
    };
    let mut intruder = connect(moncloa, Some(&wrong), timeout).await.unwrap();
    let err = intruder.prepare(prepare.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert!(
        err.message().contains("leganes-backup"),
        "{}",
        err.message()
    );
    let err = intruder
        .commit(pb::CommitRequest {
            generation: prepare.generation,
            digest: prepare.digest.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = intruder
        .abort(pb::AbortRequest {
            generation: report.generation,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = intruder
        .get_running(pb::RunningRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = intruder
        .telemetry(pb::TelemetryRequest { interval_ms: 0 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = intruder
        .inject_fault(pb::FaultRequest {
            fault: Some(pb::fault_request::Fault::StopNode("Moncloa".into())),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");

    // The controller's certificate is obeyed, and Moncloa still runs what apply gave it.
    let mut controller = twin.agents.connect(moncloa, timeout).await.unwrap();
    let running = controller
        .get_running(pb::RunningRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(running.generation, report.generation);
    assert_eq!(running.prepared_generation, 0, "nothing was staged");
    assert!(running.documents["service"].contains("ipsec-controller"));

    // dc-backup's keys reach its real slave, and not the application of the attempt.
    let until = twin.world.now() + 0.5;
    while twin.world.now() < until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut ccips = KmeClient::for_sae_at(&kme, "ccips", "Distrito-Telefonica")
        .await
        .unwrap();
    let enc = ccips.enc_keys("ipsec-controller", 3, 256).await.unwrap();
    let ids: Vec<String> = enc.iter().map(|k| k.key_id.clone()).collect();
    let mut third = KmeClient::for_sae_at(&kme, "leganes-backup", "Moncloa")
        .await
        .unwrap();
    let ask =
        json!({ "key_IDs": ids.iter().map(|id| json!({ "key_ID": id })).collect::<Vec<_>>() });
    let r = third
        .post("/api/v1/keys/ccips/dec_keys", &ask)
        .await
        .unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    let mut slave = KmeClient::for_sae_at(&kme, "ipsec-controller", "Moncloa")
        .await
        .unwrap();
    assert_eq!(slave.dec_keys("ccips", &ids).await.unwrap(), enc);
    twin.shutdown().await;
}
