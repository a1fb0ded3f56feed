//! The repair part: the metro example, a cut link, and the loop re-planning around it.

use super::*;
use std::path::Path;
use std::time::{Duration, Instant};
use strata_compiler::check::Program;
use strata_compiler::compile::{CompileOptions, compile};
use strata_compiler::frontend::{self, SourceLoader};
use strata_compiler::inventory::Inventory;
use strata_runtime::apply::ApplyOptions;
use strata_runtime::control::{Controller, subscribe};
use strata_runtime::monitor::{Event, IntentState, IntentStatus};
use strata_runtime::state::MemoryStore;
use strata_runtime::twin::host::{Twin, TwinOptions};
use strata_runtime::world::Fault;

// ---------------------------------------------------------------------------------------
// Part 3: fault-to-repair latency on the metro example
// ---------------------------------------------------------------------------------------

pub(crate) struct Fs;

impl SourceLoader for Fs {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }
}

pub(crate) fn load_metro() -> Result<(Program, Inventory), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut fe = frontend::run(
        &[root.join("intents/metro.qi")],
        &frontend::Options::default(),
        &Fs,
    );
    if fe.has_errors() || fe.networks.is_empty() {
        return Err(format!(
            "intents/metro.qi does not check: {:#?}",
            fe.diagnostics
        ));
    }
    let net = fe.networks.remove(0);
    Ok((net.program, net.inventory.ok_or("no inventory")?))
}

pub(crate) struct RepairRun {
    settle: Duration,
    detect: Duration,
    detect_iv: f64,
    replan: Duration,
    replan_iv: f64,
    repair_call: Duration,
    repair_nodes: usize,
    repair_bytes: usize,
    back: Duration,
    back_iv: f64,
    scan: Duration,
    /// Every repair that re-planned something between the cut and the end.
    repairs: Vec<String>,
    /// Cut until the twin itself delivers vpn-core at ≥ 95 % of target again.
    truth: Option<Duration>,
}

const VPN: &str = "vpn-core";

pub(crate) fn bench_repair(rows: &mut Rows) {
    let part = "repair";
    let (program, inventory) = match load_metro() {
        Ok(x) => x,
        Err(e) => {
            row(rows, part, "error", e);
            return;
        }
    };
    let repeat: usize = env_num("STRATA_RUNTIME_BENCH_REPEAT", 5).max(1);
    let speeds = env_list("STRATA_RUNTIME_BENCH_SPEEDS", &[1.0, 20.0]);
    let mut cut_link = String::new();
    let mut rng = strata_compiler::synth::Rng::new(7);
    let compile_times: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let _ = compile(&program, &inventory, &CompileOptions::default());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    row(
        rows,
        part,
        format!(
            "metro compile ({} nodes), median of 5",
            inventory.nodes.len()
        ),
        format!("{:.2} ms", median(&compile_times)),
    );
    for speed in speeds {
        let speed = speed.clamp(0.1, 200.0);
        let mut runs = Vec::new();
        let mut failures = Vec::new();
        for r in 0..repeat {
            let rt = runtime();
            let run = rt.block_on(repair_once(
                &program,
                &inventory,
                speed,
                rng.unit(),
                &mut cut_link,
            ));
            rt.shutdown_timeout(Duration::from_secs(2));
            match run {
                Ok(run) => {
                    eprintln!(
                        "  speed {speed}, run {}: re-plan applied after {:.0} ms ({:.2} intervals), installed after {:.0} ms ({:.2} intervals)",
                        r + 1,
                        run.replan.as_secs_f64() * 1e3,
                        run.replan_iv,
                        run.back.as_secs_f64() * 1e3,
                        run.back_iv
                    );
                    if let Some(t) = run.truth {
                        eprintln!(
                            "      twin delivers {VPN} again after {:.0} ms",
                            t.as_secs_f64() * 1e3
                        );
                    }
                    for line in &run.repairs {
                        eprintln!("      repair at {line}");
                    }
                    runs.push(run);
                }
                Err(e) => {
                    eprintln!("  speed {speed}, run {}: {e}", r + 1);
                    failures.push(e);
                }
            }
        }
        let what = format!("speed {speed}");
        if !failures.is_empty() {
            row(
                rows,
                part,
                format!("{what}: failed runs"),
                format!("{} of {repeat}: {}", failures.len(), failures.join("; ")),
            );
        }
        if runs.is_empty() {
            continue;
        }
        let med_max = |f: &dyn Fn(&RepairRun) -> f64, unit: &str, scale: f64, digits: usize| {
            let v: Vec<f64> = runs.iter().map(|r| f(r) * scale).collect();
            format!("{:.digits$}{unit} / {:.digits$}{unit}", median(&v), max(&v))
        };
        let n = runs.len();
        row(
            rows,
            part,
            format!("{what}: settle after first apply, median / max (n={n})"),
            med_max(&|r| r.settle.as_secs_f64(), " ms", 1e3, 0),
        );
        row(
            rows,
            part,
            format!("{what}: cut → link-down observed, median / max"),
            format!(
                "{} ({} intervals)",
                med_max(&|r| r.detect.as_secs_f64(), " ms", 1e3, 1),
                med_max(&|r| r.detect_iv, "", 1.0, 2)
            ),
        );
        row(
            rows,
            part,
            format!("{what}: `Controller::repair` call (re-compile + apply), median / max"),
            format!(
                "{} ({} node(s), {} sent)",
                med_max(&|r| r.repair_call.as_secs_f64(), " ms", 1e3, 1),
                runs[0].repair_nodes,
                kib(runs[0].repair_bytes as f64)
            ),
        );
        row(
            rows,
            part,
            format!(
                "{what}: sequential connect + GetRunning to every agent (apply's first loop), median / max"
            ),
            med_max(&|r| r.scan.as_secs_f64(), " ms", 1e3, 1),
        );
        row(
            rows,
            part,
            format!("{what}: (a) cut → re-plan applied, median / max"),
            format!(
                "{} ({} intervals)",
                med_max(&|r| r.replan.as_secs_f64(), " ms", 1e3, 1),
                med_max(&|r| r.replan_iv, "", 1.0, 2)
            ),
        );
        row(
            rows,
            part,
            format!("{what}: (b) cut → {VPN} measured installed, median / max"),
            format!(
                "{} ({} intervals)",
                med_max(&|r| r.back.as_secs_f64(), " ms", 1e3, 0),
                med_max(&|r| r.back_iv, "", 1.0, 2)
            ),
        );
        let truths: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.truth)
            .map(|d| d.as_secs_f64())
            .collect();
        row(
            rows,
            part,
            format!(
                "{what}: cut → twin delivers {VPN} at ≥ 95 % again (ground truth, polled), median / max"
            ),
            if truths.is_empty() {
                "not seen".to_string()
            } else {
                format!(
                    "{:.0} ms / {:.0} ms ({:.2} / {:.2} intervals; n={})",
                    median(&truths) * 1e3,
                    max(&truths) * 1e3,
                    median(&truths) * speed,
                    max(&truths) * speed,
                    truths.len()
                )
            },
        );
        let extra = runs.iter().filter(|r| r.repairs.len() > 1).count();
        row(
            rows,
            part,
            format!("{what}: runs with more than one repair after the cut"),
            format!(
                "{extra} of {n}{}",
                runs.iter()
                    .find(|r| r.repairs.len() > 1)
                    .map_or(String::new(), |r| format!(
                        " (e.g. {})",
                        r.repairs[1..].join("; ")
                    ))
            ),
        );
    }
    row(
        rows,
        part,
        "setup",
        format!(
            "examples/metro + intents/metro.qi, cut `{cut_link}` (last link of {VPN}'s path); telemetry interval 1 simulated s, twin tick 20 ms; fresh twin per run, cut at a random phase of the telemetry interval"
        ),
    );
}

pub(crate) async fn repair_once(
    program: &Program,
    inventory: &Inventory,
    speed: f64,
    phase: f64,
    cut_link: &mut String,
) -> Result<RepairRun, String> {
    let interval_s = 1.0;
    let options = TwinOptions {
        speed,
        telemetry_interval_s: interval_s,
        ..TwinOptions::default()
    };
    let twin = Twin::start(inventory, options).await?;
    let nodes = twin.agents.agents.len();
    let mut controller = Controller::new(
        program.clone(),
        inventory.clone(),
        twin.agents.clone(),
        Box::new(MemoryStore::default()),
        ApplyOptions::default(),
    );
    let mut rx = subscribe(&twin.agents, Duration::from_millis(50));
    let t = Instant::now();
    controller
        .apply()
        .await
        .map_err(|e| format!("apply: {e}"))?;
    // Bounds: simulated intervals, and wall time derived from them.
    let wall_bound =
        |intervals: f64| Duration::from_secs_f64(intervals * interval_s / speed + 10.0);
    let recv_wait = Duration::from_secs_f64((3.0 * interval_s / speed).max(1.0) + 2.0);

    // Settle: every intent installed at its rate.
    let all_met = |s: &[IntentStatus]| {
        s.iter().all(|i| {
            i.state == IntentState::Installed && (i.measured - i.target).abs() <= 0.05 * i.target
        })
    };
    let deadline = Instant::now() + wall_bound(40.0);
    loop {
        if Instant::now() > deadline {
            return Err("did not settle within 40 intervals".into());
        }
        let s = tokio::time::timeout(recv_wait, rx.recv())
            .await
            .map_err(|_| "no telemetry while settling")?
            .ok_or("subscription closed")?;
        controller.observe(&s);
        if all_met(&controller.monitor.statuses()) {
            break;
        }
    }
    let settle = t.elapsed();

    let path = controller
        .compiled
        .summary
        .intents
        .iter()
        .find(|i| i.name == VPN)
        .and_then(|i| i.paths.first())
        .ok_or_else(|| format!("{VPN} has no path"))?;
    let cut = path.links.last().ok_or("empty path")?.clone();
    cut_link.clone_from(&cut);

    // Cut at a random phase of the telemetry interval, not right after a sample.
    let cut_at = tokio::time::Instant::now() + Duration::from_secs_f64(phase * interval_s / speed);
    loop {
        match tokio::time::timeout_at(cut_at, rx.recv()).await {
            Ok(Some(s)) => {
                controller.observe(&s);
            }
            Ok(None) => return Err("subscription closed".into()),
            Err(_) => break,
        }
    }
    let slave = controller
        .compiled
        .summary
        .intents
        .iter()
        .find(|i| i.name == VPN)
        .map(|i| i.endpoints[1].clone())
        .ok_or("no vpn-core")?;
    let t0 = Instant::now();
    twin.world.apply_fault(&Fault::CutLink(cut.clone()))?;
    // Ground truth from the twin itself, polled every 2 ms: when the slave end's delivered
    // rate (trailing simulated second) first drops under 95 % of target and then is back.
    let world = twin.world.clone();
    let watch_until = Instant::now() + wall_bound(40.0);
    let truth = tokio::spawn(async move {
        let mut dropped = false;
        while Instant::now() < watch_until {
            let unit = world.sample(&slave).and_then(|s| {
                s.units
                    .into_iter()
                    .find(|u| u.service_unit == VPN && u.role == "slave")
            });
            let met = unit
                .is_some_and(|u| u.target_rate > 0.0 && u.delivered_rate >= 0.95 * u.target_rate);
            if !met {
                dropped = true;
            } else if dropped {
                return Some(t0.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        None
    });
    let mut detect: Option<(Duration, f64)> = None;
    let mut replan: Option<(Duration, f64, Duration, usize, usize)> = None;
    let deadline = Instant::now() + wall_bound(40.0);
    let mut handled = 0;
    let mut repairs: Vec<String> = Vec::new();
    let back = loop {
        if Instant::now() > deadline {
            return Err(format!(
                "{VPN} not installed again within 40 intervals (re-planned: {})",
                replan.is_some()
            ));
        }
        let s = tokio::time::timeout(recv_wait, rx.recv())
            .await
            .map_err(|_| "no telemetry after the cut")?
            .ok_or("subscription closed")?;
        handled += 1;
        let events = controller.observe(&s);
        if detect.is_none()
            && events
                .iter()
                .any(|e| matches!(e, Event::LinkDown(l) if *l == cut))
        {
            detect = Some((t0.elapsed(), t0.elapsed().as_secs_f64() * speed));
        }
        // As `strata run` does: alarms settle for one interval, then one re-plan.
        let tr = Instant::now();
        let done = controller
            .tick()
            .await
            .map_err(|e| format!("repair: {e}"))?;
        let call = tr.elapsed();
        for r in done {
            repairs.push(format!(
                "{:.0} ms: re-planned {}",
                t0.elapsed().as_secs_f64() * 1e3,
                r.replanned.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
            if replan.is_none() && r.replanned.contains(VPN) {
                replan = Some((
                    t0.elapsed(),
                    t0.elapsed().as_secs_f64() * speed,
                    call,
                    r.report.nodes.len(),
                    r.report.bytes_sent,
                ));
            }
        }
        if replan.is_some()
            && controller
                .monitor
                .statuses()
                .iter()
                .any(|i| i.name == VPN && i.state == IntentState::Installed)
        {
            break (t0.elapsed(), t0.elapsed().as_secs_f64() * speed);
        }
        if handled > 100 * nodes * 40 {
            return Err("too many samples without repair".into());
        }
    };
    let truth = truth.await.ok().flatten();
    let scan_t = scan(&twin.agents).await?;
    twin.shutdown().await;
    let (detect, detect_sim) = detect.ok_or("the cut was never observed")?;
    let (replan_t, replan_sim, call, repair_nodes, repair_bytes) =
        replan.ok_or("never re-planned")?;
    Ok(RepairRun {
        settle,
        detect,
        detect_iv: detect_sim / interval_s,
        replan: replan_t,
        replan_iv: replan_sim / interval_s,
        repair_call: call,
        repair_nodes,
        repair_bytes,
        back: back.0,
        back_iv: back.1 / interval_s,
        scan: scan_t,
        repairs,
        truth,
    })
}
