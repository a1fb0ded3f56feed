//! Protection benchmark, printed as a Markdown table: the metro example on the digital twin
//! with the closed loop running (`Controller::step`, as `strata run` drives it).
//!
//! - **switch** — cut `q-norte-moncloa`, on the first of `dc-backup`'s two disjoint paths:
//!   how long the twin itself (polled every 2 ms) measures `dc-backup` below 99 % of its
//!   target at its slave end, and how long until the loop reports it `degraded`.
//! - **restore** — the same intent without its maintenance exclusion has a third route;
//!   cut `q-distrito-norte` and time until the loop has replaced the lost path and reports
//!   the intent protected again.
//! - **revert** — restore the cut link and time until the whole network is back on the
//!   plan (the compile of the declared inventory) with every intent installed: the hold-off
//!   (3 s by default) plus the settle interval and one apply.
//!
//! Times are on the agents' clock (the twin runs at `STRATA_PROTECTION_BENCH_SPEED`, default
//! 20× real time) and in wall time; each is the median of `STRATA_PROTECTION_BENCH_REPEAT`
//! runs (default 5) on a fresh twin, with the range.
//!
//! Run: `cargo bench -p strata-runtime --bench protection`. All traffic is on 127.0.0.1,
//! every wait is bounded, and nothing is asserted about time.

use std::path::Path;
use std::time::{Duration, Instant};
use strata_compiler::check::Program;
use strata_compiler::compile::{CompileOptions, compile};
use strata_compiler::frontend::{self, SourceLoader};
use strata_compiler::inventory::Inventory;
use strata_runtime::apply::ApplyOptions;
use strata_runtime::control::{Controller, subscribe};
use strata_runtime::monitor::{IntentState, IntentStatus};
use strata_runtime::pb;
use strata_runtime::state::MemoryStore;
use strata_runtime::twin::host::{Twin, TwinOptions};
use strata_runtime::world::Fault;
use tokio::sync::mpsc::Receiver;

struct Fs;
impl SourceLoader for Fs {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }
}

fn load(path: &Path) -> Result<(Program, Inventory), String> {
    let mut fe = frontend::run(&[path.to_path_buf()], &frontend::Options::default(), &Fs);
    if fe.has_errors() {
        return Err(format!("{} does not check clean", path.display()));
    }
    let net = fe.networks.remove(0);
    Ok((net.program, net.inventory.ok_or("no inventory")?))
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// One measurement: agent-clock seconds and wall time.
type Span = (f64, Duration);

struct Run {
    below_target_s: f64,
    degraded: Span,
    restored: Span,
    reverted: Span,
}

fn status(c: &Controller, name: &str) -> Option<IntentStatus> {
    c.monitor.statuses().into_iter().find(|s| s.name == name)
}

/// Steps the loop until `done` or `limit_s` agent seconds; returns the time it took.
async fn until(
    c: &mut Controller,
    rx: &mut Receiver<pb::TelemetrySample>,
    limit_s: f64,
    done: impl Fn(&Controller) -> bool,
) -> Result<Span, String> {
    let (t0, w0) = (c.monitor.now(), Instant::now());
    while c.monitor.now() < t0 + limit_s {
        let s = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .map_err(|_| "telemetry stalled")?
            .ok_or("telemetry ended")?;
        c.step(&s).await.map_err(|e| e.to_string())?;
        if done(c) {
            return Ok((c.monitor.now() - t0, w0.elapsed()));
        }
    }
    Err(format!("not done within {limit_s} s"))
}

async fn started(
    program: Program,
    inventory: Inventory,
    speed: f64,
) -> Result<(Twin, Controller, Receiver<pb::TelemetrySample>), String> {
    let twin = Twin::start(
        &inventory,
        TwinOptions {
            speed,
            ..TwinOptions::default()
        },
    )
    .await?;
    let mut c = Controller::new(
        program,
        inventory,
        twin.agents.clone(),
        Box::new(MemoryStore::default()),
        ApplyOptions::default(),
    );
    let mut rx = subscribe(&twin.agents, Duration::from_millis(50));
    c.apply().await.map_err(|e| e.to_string())?;
    let installed = |c: &Controller| {
        c.monitor
            .statuses()
            .iter()
            .all(|s| s.state == IntentState::Installed)
    };
    until(&mut c, &mut rx, 40.0, installed).await?;
    Ok((twin, c, rx))
}

async fn one_run(
    metro: &(Program, Inventory),
    guarded: &(Program, Inventory),
    speed: f64,
) -> Result<Run, String> {
    // switch + revert, on the metro example.
    let (twin, mut c, mut rx) = started(metro.0.clone(), metro.1.clone(), speed).await?;
    let world = twin.world.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_probe = stop.clone();
    let probe = tokio::spawn(async move {
        // Longest stretch, in agent seconds, that Moncloa measures dc-backup short.
        let (mut worst, mut since): (f64, Option<f64>) = (0.0, None);
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end && !stop_probe.load(std::sync::atomic::Ordering::SeqCst) {
            if let Some(s) = world.sample("Moncloa") {
                let u = s.units.iter().find(|u| u.service_unit == "dc-backup");
                let short = u.is_none_or(|u| u.delivered_rate < 0.99 * u.target_rate);
                match (short, since) {
                    (true, None) => since = Some(s.time_s),
                    (false, Some(t)) => {
                        worst = worst.max(s.time_s - t);
                        since = None;
                    }
                    _ => {}
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        worst
    });
    twin.world
        .apply_fault(&Fault::CutLink("q-norte-moncloa".into()))?;
    let degraded = until(&mut c, &mut rx, 20.0, |c| {
        status(c, "dc-backup").is_some_and(|s| matches!(s.state, IntentState::Degraded(_)))
    })
    .await?;
    // Keep the loop running (it re-plans vpn-core meanwhile) for a few more intervals.
    let _ = until(&mut c, &mut rx, 3.0, |_| false).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let below_target_s = probe.await.map_err(|e| e.to_string())?;
    twin.world
        .apply_fault(&Fault::RestoreLink("q-norte-moncloa".into()))?;
    let plan = compile(&c.program, &c.inventory, &CompileOptions::default()).summary;
    let reverted = until(&mut c, &mut rx, 60.0, |c| {
        c.compiled.summary == plan
            && c.monitor
                .statuses()
                .iter()
                .all(|s| s.state == IntentState::Installed)
    })
    .await?;
    twin.shutdown().await;

    // restore, on the intent with a third route.
    let (twin, mut c, mut rx) = started(guarded.0.clone(), guarded.1.clone(), speed).await?;
    twin.world
        .apply_fault(&Fault::CutLink("q-distrito-norte".into()))?;
    let restored = until(&mut c, &mut rx, 20.0, |c| {
        let moved = c.compiled.summary.intents[0]
            .paths
            .iter()
            .all(|p| !p.links.iter().any(|l| l == "q-distrito-norte"));
        moved
            && status(c, "guarded")
                .is_some_and(|s| s.protected && s.state == IntentState::Installed)
    })
    .await?;
    twin.shutdown().await;
    Ok(Run {
        below_target_s,
        degraded,
        restored,
        reverted,
    })
}

fn median_range(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let speed: f64 = env_num("STRATA_PROTECTION_BENCH_SPEED", 20.0);
    let repeat: usize = env_num("STRATA_PROTECTION_BENCH_REPEAT", 5usize).max(1);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let metro = load(&root.join("intents/metro.qi")).expect("metro intents");
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("guarded.qi");
    std::fs::write(
        &file,
        format!(
            "use network \"{}\"\nintent guarded: keys of 256 bits between Distrito-Telefonica and Moncloa, 10/s, relay via trusted nodes only, disjoint paths 2\n",
            root.join("examples/metro/network.yaml").display()
        ),
    )
    .expect("write intents");
    let guarded = load(&file).expect("guarded intent");
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut runs = Vec::new();
    for i in 0..repeat {
        match rt.block_on(one_run(&metro, &guarded, speed)) {
            Ok(r) => runs.push(r),
            Err(e) => eprintln!("run {i}: {e}"),
        }
    }
    if runs.is_empty() {
        eprintln!("no run completed");
        std::process::exit(1);
    }
    let row = |what: &str, pick: &dyn Fn(&Run) -> Span| {
        let (s, smin, smax) = median_range(runs.iter().map(|r| pick(r).0).collect());
        let (w, wmin, wmax) =
            median_range(runs.iter().map(|r| pick(r).1.as_secs_f64() * 1e3).collect());
        println!("| {what} | {s:.2} s ({smin:.2}–{smax:.2}) | {w:.0} ms ({wmin:.0}–{wmax:.0}) |");
    };
    println!("\n{} run(s), twin at {speed}× real time\n", runs.len());
    println!("| measurement | agents' clock, median (range) | wall time, median (range) |");
    println!("|---|---|---|");
    let (b, bmin, bmax) = median_range(runs.iter().map(|r| r.below_target_s).collect());
    println!(
        "| dc-backup below target after the cut (twin, polled) | {b:.2} s ({bmin:.2}–{bmax:.2}) | — |"
    );
    row(
        "cut → dc-backup reported degraded (protection lost)",
        &|r| r.degraded,
    );
    row(
        "cut → lost path replaced, guarded protected again",
        &|r| r.restored,
    );
    row(
        "restore → network back on the plan, all installed",
        &|r| r.reverted,
    );
}
