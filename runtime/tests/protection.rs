//! Failure behaviour of the closed loop on loopback, with real gRPC agents of an in-process
//! digital twin: a protected intent keeps delivering through a cut and gets its protection
//! back, a stopped node is one event and one re-plan, a flapping link is damped, and the
//! network returns to the plan once everything is back.

use std::time::Duration;
use strata_compiler::check::Program;
use strata_compiler::compile::{CompileOptions, compile};
use strata_compiler::config::IntentSummary;
use strata_compiler::inventory::Inventory;
use strata_runtime::control::Controller;
use strata_runtime::monitor::{IntentState, IntentStatus, TOLERANCE};
use strata_runtime::pb;
use strata_runtime::twin::host::Twin;
use strata_runtime::world::Fault;
use tokio::sync::mpsc::Receiver;

mod common;

use common::{controlled, load_file, root};

/// The twin at 10× real time: every bound below is in seconds of the agents' clock, and
/// a slow, loaded machine stretches the real time an apply takes by less than that.
async fn applied(
    program: Program,
    inv: Inventory,
) -> (Twin, Controller, Receiver<pb::TelemetrySample>) {
    controlled(program, inv, 10.0).await
}

/// Feeds samples through the loop (alarms, repairs, reversions) until `done` holds or
/// `seconds` of the agents' clock have passed; `each` sees every sample after the loop has.
async fn run(
    controller: &mut Controller,
    rx: &mut Receiver<pb::TelemetrySample>,
    seconds: f64,
    mut each: impl FnMut(&Controller, &pb::TelemetrySample),
    done: impl Fn(&Controller) -> bool,
) -> bool {
    let end = controller.monitor.now() + seconds;
    while controller.monitor.now() < end {
        let sample = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("telemetry stalled")
            .expect("telemetry ended");
        controller.step(&sample).await.unwrap();
        each(controller, &sample);
        if done(controller) {
            return true;
        }
    }
    false
}

fn status(c: &Controller, name: &str) -> IntentStatus {
    c.monitor
        .statuses()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap()
}

fn summary(c: &Controller, name: &str) -> IntentSummary {
    c.compiled
        .summary
        .intents
        .iter()
        .find(|i| i.name == name)
        .unwrap()
        .clone()
}

fn all_installed(c: &Controller) -> bool {
    c.monitor
        .statuses()
        .iter()
        .all(|s| s.state == IntentState::Installed)
}

/// A sample from the slave end of `intent` (where delivery is measured) under the current
/// plan.
fn measures(c: &Controller, sample: &pb::TelemetrySample, intent: &str) -> bool {
    sample.up && summary(c, intent).endpoints[1] == sample.node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_on_a_protected_path_never_costs_the_intent_its_rate() {
    let (program, inv) = load_file(&root().join("intents/metro.qi"));
    let (twin, mut c, mut rx) = applied(program, inv).await;
    assert!(run(&mut c, &mut rx, 40.0, |_, _| {}, all_installed).await);
    let before = summary(&c, "dc-backup");
    assert_eq!(before.paths.len(), 2);
    let survivor = before.paths[1].clone();
    assert!(status(&c, "dc-backup").protected);

    // q-norte-moncloa is on dc-backup's first path (and on vpn-core's only one).
    assert!(
        before.paths[0]
            .links
            .contains(&"q-norte-moncloa".to_string())
    );
    twin.world
        .apply_fault(&Fault::CutLink("q-norte-moncloa".into()))
        .unwrap();
    let mut short_run = 0;
    let mut worst_run = 0;
    let mut saw_degraded = false;
    run(
        &mut c,
        &mut rx,
        8.0,
        |c, s| {
            if !measures(c, s, "dc-backup") {
                return;
            }
            let st = status(c, "dc-backup");
            if st.measured < st.target * (1.0 - TOLERANCE) {
                short_run += 1;
                worst_run = worst_run.max(short_run);
            } else {
                short_run = 0;
            }
            if let IntentState::Degraded(reason) = &st.state {
                assert!(
                    reason
                        .starts_with("protection lost: path 1 of 2 is down (link q-norte-moncloa)"),
                    "{reason}"
                );
                assert_eq!((st.paths, st.protected), (1, false));
                saw_degraded = true;
            }
            assert!(
                !matches!(
                    st.state,
                    IntentState::Unsatisfiable(_) | IntentState::Failed(_)
                ),
                "{st:?}"
            );
        },
        |_| false,
    )
    .await;
    assert!(saw_degraded, "{:#?}", c.monitor.statuses());
    assert!(
        worst_run <= 1,
        "dc-backup was below its target for {worst_run} telemetry intervals in a row"
    );
    // The surviving path never moved, and the lost one is still configured to carry again.
    let during = summary(&c, "dc-backup");
    assert!(during.paths.contains(&survivor), "{during:#?}");
    assert!(during.protection_lost.is_some());
    // vpn-core, unprotected, was moved off the cut link.
    assert!(
        summary(&c, "vpn-core")
            .paths
            .iter()
            .all(|p| !p.links.contains(&"q-norte-moncloa".to_string()))
    );

    twin.world
        .apply_fault(&Fault::RestoreLink("q-norte-moncloa".into()))
        .unwrap();
    let hold_off = c.timing.hold_off_s;
    let back = run(
        &mut c,
        &mut rx,
        hold_off + 20.0,
        |_, _| {},
        |c| {
            let s = status(c, "dc-backup");
            s.state == IntentState::Installed && s.protected && s.paths == 2
        },
    )
    .await;
    assert!(back, "{:#?}\n{:#?}", c.monitor.statuses(), c.log);
    // After the hold-off the whole network is back on the plan.
    let plan = compile(&c.program, &c.inventory, &CompileOptions::default());
    assert!(
        run(
            &mut c,
            &mut rx,
            hold_off + 20.0,
            |_, _| {},
            |c| { c.compiled.summary == plan.summary && all_installed(c) }
        )
        .await,
        "{:#?}",
        c.log
    );
    twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_path_is_replaced_by_a_disjoint_one_and_the_survivor_stays() {
    // dc-backup without its maintenance exclusion: three routes lead from Distrito to
    // Moncloa, through Norte, through Concepcion and Almagro, and through Quintin and Norte.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("protected.qi");
    std::fs::write(
        &file,
        format!(
            "use network \"{}\"\nintent guarded: keys of 256 bits between Distrito-Telefonica and Moncloa, 10/s, relay via trusted nodes only, disjoint paths 2\n",
            root().join("examples/metro/network.yaml").display()
        ),
    )
    .unwrap();
    let (program, inv) = load_file(&file);
    let (twin, mut c, mut rx) = applied(program, inv).await;
    assert!(run(&mut c, &mut rx, 40.0, |_, _| {}, all_installed).await);
    let before = summary(&c, "guarded");
    let lost = before
        .paths
        .iter()
        .find(|p| p.links.contains(&"q-distrito-norte".to_string()))
        .expect("a path over q-distrito-norte")
        .clone();
    let survivor = before.paths.iter().find(|p| **p != lost).unwrap().clone();

    twin.world
        .apply_fault(&Fault::CutLink("q-distrito-norte".into()))
        .unwrap();
    let restored = run(
        &mut c,
        &mut rx,
        10.0,
        |_, _| {},
        |c| {
            let s = status(c, "guarded");
            let moved = summary(c, "guarded")
                .paths
                .iter()
                .all(|p| !p.links.contains(&"q-distrito-norte".to_string()));
            moved && s.protected && s.state == IntentState::Installed
        },
    )
    .await;
    assert!(restored, "{:#?}\n{:#?}", c.monitor.statuses(), c.log);
    let after = summary(&c, "guarded");
    assert!(after.protection_lost.is_none());
    assert!(after.paths.contains(&survivor), "{after:#?}");
    let replacement = after.paths.iter().find(|p| p.path == lost.path).unwrap();
    assert!(
        !replacement.links.contains(&"q-distrito-norte".to_string()),
        "{before:#?}\n{after:#?}\n{:#?}",
        c.log
    );
    // Disjoint from the survivor: no shared link, no shared relay.
    assert!(
        replacement
            .links
            .iter()
            .all(|l| !survivor.links.contains(l))
    );
    let inner = |p: &strata_compiler::config::PathSummary| p.nodes[1..p.nodes.len() - 1].to_vec();
    assert!(
        inner(replacement)
            .iter()
            .all(|n| !inner(&survivor).contains(n))
    );
    assert!(
        c.log
            .iter()
            .any(|l| l.message.contains("guarded protection restored")),
        "{:#?}",
        c.log
    );
    twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_is_one_event_and_one_generation() {
    let (program, inv) = load_file(&root().join("intents/metro.qi"));
    let (twin, mut c, mut rx) = applied(program, inv).await;
    assert!(run(&mut c, &mut rx, 40.0, |_, _| {}, all_installed).await);
    let (generation, lines) = (c.generation, c.log.len());
    twin.world
        .apply_fault(&Fault::StopNode("Norte".into()))
        .unwrap();
    run(&mut c, &mut rx, 6.0, |_, _| {}, |_| false).await;
    let new: Vec<&str> = c.log[lines..].iter().map(|l| l.message.as_str()).collect();
    let down: Vec<&&str> = new.iter().filter(|m| m.contains("is down")).collect();
    assert_eq!(down.len(), 1, "{new:#?}");
    assert!(
        down[0].starts_with("node Norte is down (with link(s) "),
        "{new:#?}"
    );
    assert_eq!(c.generation, generation + 1, "{new:#?}");
    // dc-backup is carried by its other path meanwhile.
    let dc = status(&c, "dc-backup");
    assert!(
        matches!(&dc.state, IntentState::Degraded(r) if r.contains("(node Norte)")),
        "{dc:?}"
    );

    let lines = c.log.len();
    twin.world
        .apply_fault(&Fault::StartNode("Norte".into()))
        .unwrap();
    let hold_off = c.timing.hold_off_s;
    let plan = compile(&c.program, &c.inventory, &CompileOptions::default());
    let back = run(
        &mut c,
        &mut rx,
        hold_off + 20.0,
        |_, _| {},
        |c| c.compiled.summary == plan.summary && all_installed(c),
    )
    .await;
    assert!(back, "{:#?}", &c.log[lines..]);
    let up = c.log[lines..]
        .iter()
        .filter(|l| l.message.contains("is up again"))
        .count();
    assert_eq!(up, 1, "{:#?}", &c.log[lines..]);
    assert_eq!(c.generation, generation + 2, "{:#?}", &c.log[lines..]);
    twin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_link_is_damped() {
    let (program, inv) = load_file(&root().join("intents/metro.qi"));
    // Four samples per second at 10× real time, so that the loop sees every flap.
    let mut options = common::twin_options(10.0);
    options.telemetry_interval_s = 0.25;
    let (twin, mut c, mut rx) = common::controlled_with(program, inv, options).await;
    assert!(run(&mut c, &mut rx, 40.0, |_, _| {}, all_installed).await);
    let generation = c.generation;
    // Five cuts in five seconds of the twin's clock, each restored half a second later,
    // timed on the twin itself whatever the loop is doing.
    let start = twin.world.now();
    let world = twin.world.clone();
    let flapper = tokio::spawn(async move {
        for k in 0..10 {
            while world.now() < start + k as f64 * 0.5 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let link = "q-norte-moncloa".to_string();
            let fault = if k % 2 == 0 {
                Fault::CutLink(link)
            } else {
                Fault::RestoreLink(link)
            };
            world.apply_fault(&fault).unwrap();
        }
    });
    run(&mut c, &mut rx, 6.0, |_, _| {}, |_| false).await;
    flapper.await.unwrap();
    // Long enough for the damped hold-off to end and the network to settle.
    let plan = compile(&c.program, &c.inventory, &CompileOptions::default());
    let settled = run(
        &mut c,
        &mut rx,
        60.0,
        |_, _| {},
        |c| c.compiled.summary == plan.summary && all_installed(c),
    )
    .await;
    assert!(settled, "{:#?}", c.log);
    for l in &c.log {
        println!("t={:>7.2}s {}", l.time_s - start, l.message);
    }
    let seen = c
        .log
        .iter()
        .filter(|l| l.message == "link q-norte-moncloa is down")
        .count();
    assert!(
        seen >= 4,
        "the loop saw only {seen} of the 5 cuts:\n{:#?}",
        c.log
    );
    assert!(
        c.generation - generation <= 2,
        "{} re-plans for one flapping link:\n{:#?}",
        c.generation - generation,
        c.log
    );
    twin.shutdown().await;
}
