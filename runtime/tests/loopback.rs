//! The runtime on loopback with real gRPC agents of an in-process digital twin: two-phase
//! apply (all or nothing), measured delivery, repair after a link cut, and a controller
//! taking the loop over from a re-planned state.

use std::sync::Arc;
use std::time::Duration;
use strata_compiler::compile::{CompileOptions, compile};
use strata_runtime::apply::{ApplyError, ApplyOptions, apply};
use strata_runtime::control::{Controller, subscribe};
use strata_runtime::monitor::IntentState;
use strata_runtime::pb;
use strata_runtime::running::pull;
use strata_runtime::state::{FileStore, MemoryStore, StateStore};
use strata_runtime::twin::host::{Twin, TwinOptions};
use strata_runtime::world::Fault;

mod common;

use common::load;

fn fast() -> TwinOptions {
    common::twin_options(50.0)
}

async fn generations(twin: &Twin) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for (node, addr) in &twin.agents.agents {
        let mut c = twin
            .agents
            .connect(addr, Duration::from_secs(2))
            .await
            .unwrap();
        let r = c
            .get_running(pb::RunningRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            r.prepared_generation, 0,
            "{node} was left with a staged generation"
        );
        out.push((node.clone(), r.generation));
    }
    out
}

/// Applies a compile with default options and no hook.
async fn apply_default(
    store: &dyn StateStore,
    twin: &Twin,
    compiled: &strata_compiler::compile::Compiled,
) -> Result<strata_runtime::apply::ApplyReport, ApplyError> {
    apply(
        store,
        &twin.agents,
        &compiled.configs,
        Some(&compiled.summary),
        &ApplyOptions::default(),
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_prepare_leaves_every_node_on_its_previous_generation() {
    let (program, inv) = load("intents/metro.qi");
    let twin = Twin::start(&inv, fast()).await.unwrap();
    let store = MemoryStore::default();
    let first = compile(&program, &inv, &CompileOptions::default());
    let report = apply_default(&store, &twin, &first).await.unwrap();
    assert_eq!(report.generation, 1);
    let before = generations(&twin).await;
    assert!(before.iter().all(|(_, g)| *g == 1), "{before:?}");

    // A different configuration (one intent fewer) that Norte refuses to prepare.
    let mut smaller = program.clone();
    smaller.intents.retain(|i| i.name != "vpn-core");
    let second = compile(&smaller, &inv, &CompileOptions::default());
    twin.world
        .apply_fault(&Fault::RefusePrepare("Norte".into()))
        .unwrap();
    let err = apply_default(&store, &twin, &second).await.unwrap_err();
    assert!(
        matches!(&err, ApplyError::Aborted { failures, .. } if failures.iter().any(|(n, _)| n == "Norte")),
        "{err}"
    );
    assert_eq!(generations(&twin).await, before);
    assert_eq!(
        store.load().unwrap().unwrap().generation,
        1,
        "the state store must not move"
    );

    // Once Norte accepts again the same apply goes through everywhere.
    twin.world
        .apply_fault(&Fault::AcceptPrepare("Norte".into()))
        .unwrap();
    let ok = apply_default(&store, &twin, &second).await.unwrap();
    assert_eq!(ok.generation, 2);
    twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_between_prepare_and_commit_rolls_everyone_back() {
    let (program, inv) = load("intents/metro.qi");
    let twin = Twin::start(&inv, fast()).await.unwrap();
    let store = MemoryStore::default();
    let first = compile(&program, &inv, &CompileOptions::default());
    apply_default(&store, &twin, &first).await.unwrap();
    let before = generations(&twin).await;

    let mut smaller = program.clone();
    smaller.intents.retain(|i| i.name != "campus-backup");
    let second = compile(&smaller, &inv, &CompileOptions::default());
    // Montegancedo terminates campus-backup, so it must change; it dies after preparing.
    let world = twin.world.clone();
    let kill: strata_runtime::apply::Hook = Box::new(move || {
        world
            .apply_fault(&Fault::StopNode("Montegancedo".into()))
            .unwrap()
    });
    let options = ApplyOptions {
        timeout: Duration::from_secs(2),
        ..ApplyOptions::default()
    };
    let err = apply(
        &store,
        &twin.agents,
        &second.configs,
        Some(&second.summary),
        &options,
        Some(&kill),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, ApplyError::RolledBack { failures, .. } if failures.iter().any(|(n, _)| n == "Montegancedo")),
        "{err}"
    );
    twin.world
        .apply_fault(&Fault::StartNode("Montegancedo".into()))
        .unwrap();
    assert_eq!(
        generations(&twin).await,
        before,
        "every node back on generation 1"
    );
    assert_eq!(store.load().unwrap().unwrap().generation, 1);
    twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_apply_fails_clearly_while_the_lock_is_held() {
    let (program, inv) = load("intents/metro.qi");
    let twin = Twin::start(&inv, fast()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("state.json"));
    let held = store.lock("strata apply, pid 4242").unwrap();
    let c = compile(&program, &inv, &CompileOptions::default());
    let err = apply_default(&store, &twin, &c).await.unwrap_err();
    assert!(err.to_string().contains("pid 4242"), "{err}");
    drop(held);
    apply_default(&store, &twin, &c).await.unwrap();
    twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_from_an_out_of_date_state_is_refused_before_any_prepare() {
    let (program, inv) = load("intents/metro.qi");
    let twin = Twin::start(&inv, fast()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = FileStore::new(dir.path().join("first/state.json"));
    let all = compile(&program, &inv, &CompileOptions::default());
    let mut smaller = program.clone();
    smaller.intents.retain(|i| i.name != "vpn-core");
    let fewer = compile(&smaller, &inv, &CompileOptions::default());
    assert_eq!(
        apply_default(&first, &twin, &all).await.unwrap().generation,
        1
    );
    assert_eq!(
        apply_default(&first, &twin, &fewer)
            .await
            .unwrap()
            .generation,
        2
    );
    let before = generations(&twin).await;
    assert!(before.iter().any(|(_, g)| *g == 2), "{before:?}");
    assert!(before.iter().all(|(_, g)| *g >= 1), "{before:?}");

    // A second directory's fresh state (generation 0) would make generation 1 again.
    let second = FileStore::new(dir.path().join("second/state.json"));
    let err = apply_default(&second, &twin, &all).await.unwrap_err();
    assert!(
        matches!(
            &err,
            ApplyError::StaleState {
                state_generation: 0,
                running_generation: 2,
                other_contents: false,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    for part in [
        "the network runs generation 2 (node `",
        "state file's generation 0",
        "strata state pull --agents FILE",
        "--force-generation",
    ] {
        assert!(msg.contains(part), "{part}: {msg}");
    }
    assert_eq!(generations(&twin).await, before, "no node moved");
    assert_eq!(second.load().unwrap(), None, "nothing saved");

    // The agents refuse it on their own too: a prepare must build on what runs, and go up.
    let (node, running) = before.iter().find(|(_, g)| *g == 2).unwrap();
    let mut c = twin
        .agents
        .connect(&twin.agents.agents[node], Duration::from_secs(2))
        .await
        .unwrap();
    let prepare = |generation, base_generation| pb::PrepareRequest {
        generation,
        digest: "elsewhere".into(),
        node: node.clone(),
        base_generation,
        documents: Default::default(),
    };
    let stale_base = c.prepare(prepare(3, 1)).await.unwrap().into_inner();
    assert!(
        !stale_base.ok
            && stale_base.error.contains(&format!(
                "builds on generation 1, but node `{node}` runs generation {running}"
            )),
        "{stale_base:?}"
    );
    let back = c.prepare(prepare(1, 2)).await.unwrap().into_inner();
    assert!(
        !back.ok
            && back
                .error
                .contains("generation 1 is not above the running generation 2"),
        "{back:?}"
    );
    assert_eq!(generations(&twin).await, before);

    // Forcing makes a generation above everything that runs, on every node.
    let forced = apply(
        &second,
        &twin.agents,
        &all.configs,
        Some(&all.summary),
        &ApplyOptions {
            force_generation: true,
            ..ApplyOptions::default()
        },
        None,
    )
    .await
    .unwrap();
    assert_eq!(forced.generation, 3);
    let after = generations(&twin).await;
    assert!(after.iter().all(|(_, g)| *g == 3), "{after:?}");
    assert_eq!(second.load().unwrap().unwrap().generation, 3);

    // The first directory is now out of date; it adopts what the agents run.
    let err = apply_default(&first, &twin, &fewer).await.unwrap_err();
    assert!(
        matches!(
            &err,
            ApplyError::StaleState {
                state_generation: 2,
                running_generation: 3,
                ..
            }
        ),
        "{err:?}"
    );
    let pulled = pull(&first, &twin.agents, Duration::from_secs(2), "test", false)
        .await
        .unwrap();
    assert_eq!(pulled.generation, 3);
    assert_eq!(pulled.configs, all.configs);
    assert_eq!(first.load().unwrap().unwrap(), pulled);
    // The same configuration again: nothing to change, no new generation, nothing saved.
    let same = apply_default(&first, &twin, &all).await.unwrap();
    assert_eq!((same.generation, same.nodes.len()), (3, 0), "{same:?}");
    assert!(same.plan.is_empty());
    assert_eq!(first.load().unwrap().unwrap(), pulled);
    assert_eq!(generations(&twin).await, after);
    // A change goes on from there.
    let next = apply_default(&first, &twin, &fewer).await.unwrap();
    assert_eq!(next.generation, 4);
    assert!(!next.nodes.is_empty());

    // A pull never moves a state file back unless forced.
    let ahead = FileStore::new(dir.path().join("ahead/state.json"));
    let mut far = pulled.clone();
    far.generation = 9;
    ahead.save(&far).unwrap();
    let err = pull(&ahead, &twin.agents, Duration::from_secs(2), "test", false)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("state file is at generation 9, higher than the generation 4"),
        "{err}"
    );
    assert_eq!(ahead.load().unwrap().unwrap().generation, 9);
    let forced = pull(&ahead, &twin.agents, Duration::from_secs(2), "test", true)
        .await
        .unwrap();
    assert_eq!(forced.generation, 4);
    twin.shutdown().await;
}

/// Runs the loop until `done` holds for the statuses, returning the telemetry intervals it took.
async fn run_until(
    controller: &mut Controller,
    rx: &mut tokio::sync::mpsc::Receiver<pb::TelemetrySample>,
    nodes: usize,
    max_intervals: usize,
    repair: bool,
    done: impl Fn(&[strata_runtime::monitor::IntentStatus]) -> bool,
) -> Option<usize> {
    for n in 0..max_intervals * nodes {
        let sample = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .ok()??;
        if repair {
            controller.step(&sample).await.unwrap();
        } else {
            controller.observe(&sample);
        }
        if done(&controller.monitor.statuses()) {
            return Some(n / nodes + 1);
        }
    }
    None
}

/// A twin of the intents' network with the intents applied by a controller that is
/// subscribed to every agent's telemetry.
async fn applied(
    intents: &str,
) -> (
    Twin,
    Controller,
    tokio::sync::mpsc::Receiver<pb::TelemetrySample>,
    usize,
) {
    let (program, inv) = load(intents);
    let (twin, controller, rx) = common::controlled(program, inv, 50.0).await;
    let nodes = twin.agents.agents.len();
    (twin, controller, rx, nodes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measured_delivery_meets_every_intent_and_a_cut_link_is_routed_around() {
    let (twin, mut controller, mut rx, nodes) = applied("intents/metro.qi").await;
    let all_met = |s: &[strata_runtime::monitor::IntentStatus]| {
        s.iter().all(|i| {
            i.state == IntentState::Installed && (i.measured - i.target).abs() <= 0.05 * i.target
        })
    };
    let settled = run_until(&mut controller, &mut rx, nodes, 30, false, all_met).await;
    assert!(settled.is_some(), "{:#?}", controller.monitor.statuses());
    for s in controller.monitor.statuses() {
        assert!((s.measured - s.target).abs() <= 0.05 * s.target, "{s:?}");
    }

    // vpn-core runs Distrito-Telefonica → Norte → Moncloa; cut its last hop.
    let path = &controller
        .compiled
        .summary
        .intents
        .iter()
        .find(|i| i.name == "vpn-core")
        .unwrap()
        .paths[0];
    let cut = path.links.last().unwrap().clone();
    twin.world
        .apply_fault(&Fault::CutLink(cut.clone()))
        .unwrap();
    let vpn_met = |s: &[strata_runtime::monitor::IntentStatus]| {
        s.iter()
            .any(|i| i.name == "vpn-core" && i.state == IntentState::Installed)
    };
    // First the loop must notice the failure …
    let noticed = run_until(&mut controller, &mut rx, nodes, 20, true, |_| false).await;
    assert!(noticed.is_none());
    let new_path = &controller
        .compiled
        .summary
        .intents
        .iter()
        .find(|i| i.name == "vpn-core")
        .unwrap()
        .paths;
    assert!(
        !new_path.is_empty() && new_path.iter().all(|p| !p.links.contains(&cut)),
        "re-routed around {cut}: {new_path:?}"
    );
    // … and then the intent is back at its rate.
    let back = run_until(&mut controller, &mut rx, nodes, 40, true, vpn_met).await;
    assert!(
        back.is_some(),
        "{:#?}\n{:#?}",
        controller.monitor.statuses(),
        controller.log
    );
    println!(
        "vpn-core back to rate {} telemetry interval(s) after the re-route",
        back.unwrap()
    );
    assert!(
        controller
            .log
            .iter()
            .any(|l| l.message.contains(&format!("link {cut} is down")))
    );
    assert!(
        controller
            .log
            .iter()
            .any(|l| l.message.starts_with("re-planned"))
    );
    twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entanglement_intents_are_measured_at_their_rate_and_fidelity() {
    let (twin, mut controller, mut rx, nodes) = applied("intents/continental.qi").await;
    let all_met = |s: &[strata_runtime::monitor::IntentStatus]| {
        s.iter().all(|i| i.state == IntentState::Installed)
    };
    assert!(
        run_until(&mut controller, &mut rx, nodes, 40, false, all_met)
            .await
            .is_some(),
        "{:#?}",
        controller.monitor.statuses()
    );
    let summary = controller.compiled.summary.clone();
    for s in controller.monitor.statuses() {
        let promised = summary
            .intents
            .iter()
            .find(|i| i.name == s.name)
            .unwrap()
            .fidelity
            .unwrap();
        assert!(
            s.fidelity.unwrap() >= promised - 1e-3,
            "{s:?} promised {promised}"
        );
    }
    let _ = Arc::new(());
    twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_taking_over_keeps_a_replanned_state_and_returns_to_the_plan_once_nothing_is_down()
 {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let (program, inv) = load("intents/metro.qi");
    let twin = Twin::start(&inv, fast()).await.unwrap();
    let nodes = twin.agents.agents.len();
    let controller = |program: strata_compiler::check::Program| {
        Controller::new(
            program,
            inv.clone(),
            twin.agents.clone(),
            Box::new(FileStore::new(&path)),
            ApplyOptions::default(),
        )
    };
    let digest = strata_compiler::plan::digest;

    // The first leader applies the plan; a state that is the plan is nothing to keep.
    let mut first = controller(program.clone());
    assert!(!first.resume(None));
    let plan = first.compiled.configs.clone();
    let mut rx = subscribe(&twin.agents, Duration::from_millis(50));
    assert_eq!(first.apply().await.unwrap().generation, 1);
    assert!(!first.resume(first.store.load().unwrap().as_ref()));

    // It re-plans around a cut link, and dies.
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
    let cut = vpn(&first)[0].links.last().unwrap().clone();
    twin.world
        .apply_fault(&Fault::CutLink(cut.clone()))
        .unwrap();
    for _ in 0..40 * nodes {
        let sample = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        first.step(&sample).await.unwrap();
        if first.generation == 2 {
            break;
        }
    }
    assert_eq!(first.generation, 2, "{:#?}", first.log);
    drop((first, rx));
    let stored = FileStore::new(&path).load().unwrap().unwrap();
    assert_eq!(stored.generation, 2);
    assert_ne!(stored.config_digest, digest(&plan));

    // A controller of other intents applies its own: the stored re-plan is not its plan's.
    let mut fewer = program.clone();
    fewer.intents.pop();
    assert!(!controller(fewer).resume(Some(&stored)));

    // A controller of the same intents takes over: it keeps the re-plan, and applying it
    // changes nothing.
    let mut second = controller(program.clone());
    assert!(second.resume(Some(&stored)));
    assert_eq!(second.compiled.configs, stored.configs);
    assert!(vpn(&second).iter().all(|p| !p.links.contains(&cut)));
    let report = second.apply().await.unwrap();
    assert_eq!(
        (report.generation, report.nodes.len()),
        (2, 0),
        "{report:?}"
    );

    // The link came back while nobody led: once every node has reported and nothing is
    // down for the hold-off, the new leader returns to the plan.
    twin.world
        .apply_fault(&Fault::RestoreLink(cut.clone()))
        .unwrap();
    let mut rx = subscribe(&twin.agents, Duration::from_millis(50));
    for _ in 0..40 * nodes {
        let sample = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        second.step(&sample).await.unwrap();
        if second.generation == 3 {
            break;
        }
    }
    assert_eq!(second.generation, 3, "{:#?}", second.log);
    assert_eq!(digest(&second.compiled.configs), digest(&plan));
    assert!(
        second
            .log
            .iter()
            .any(|l| l.message
                == "nothing is down: re-optimising the whole network back to the plan"),
        "{:#?}",
        second.log
    );
    twin.shutdown().await;
}
