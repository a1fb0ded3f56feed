//! Runtime benchmarks, printed as one Markdown table:
//!
//! - **apply** — a synthetic 100-node QKD network with 300 key intents
//!   ([`strata_compiler::synth`]) on an in-process digital twin: wall time and request bytes
//!   of the first apply (every node), of an apply with nothing to change (the cost of asking
//!   every agent what it runs), and of an apply after dropping 5 % of the intents (nodes
//!   touched, bytes). Each is repeated on a fresh twin; the median is shown with the range.
//!   A probe times GetRunning against one agent served as the twin serves it and with
//!   `TCP_NODELAY` on its accepted sockets, which explains most of the apply time.
//! - **fanin** — 1,000 agents ([`AgentService`] on their own loopback listeners, a backend
//!   returning a fixed 4-link, 4-unit sample) stream telemetry through
//!   [`control::subscribe`] into one consumer, which counts samples per second over a fixed
//!   window after a warm-up, at several telemetry periods: offered vs sustained load,
//!   sample age at the consumer (each sample carries its wall-clock creation time), process
//!   CPU and how busy the whole machine was.
//! - **repair** — the metro example on the twin: cut the last link of `vpn-core`'s path and
//!   time, with the loop driven as `strata run` drives it (alarms settle for one interval),
//!   (a) the cut until the re-plan that moves `vpn-core` is applied and (b) the cut until
//!   `vpn-core` is measured installed again, in wall time and in telemetry intervals
//!   (1 simulated second each), at twin speeds 1 and 20, a fresh twin per repetition; the
//!   cut falls at a random phase of the telemetry interval. For comparison it also polls the
//!   twin itself for when `vpn-core` is delivered again, and counts the repairs that follow.
//!
//! Run: `cargo bench -p strata-runtime --bench runtime` (everything, about 2 minutes), or
//! pick parts with `STRATA_RUNTIME_BENCH=apply,fanin,repair` or
//! `cargo bench -p strata-runtime --bench runtime -- fanin`. Knobs:
//! `STRATA_RUNTIME_BENCH_REPEAT` (repetitions of apply and repair, default 3 and 5),
//! `STRATA_RUNTIME_BENCH_AGENTS` (fan-in agents, default 1000, lowered to fit `ulimit -n`),
//! `STRATA_RUNTIME_BENCH_PERIODS` (fan-in telemetry periods in ms, default `50,20,10`),
//! `STRATA_RUNTIME_BENCH_WINDOW` (fan-in window in seconds, default 5),
//! `STRATA_RUNTIME_BENCH_SPEEDS` (repair twin speeds, default `1,20`).
//!
//! All traffic is on 127.0.0.1. Every wait is bounded. Nothing is asserted about time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use strata_compiler::check::Program;
use strata_compiler::compile::{CompileOptions, compile};
use strata_compiler::frontend::{self, SourceLoader};
use strata_compiler::inventory::Inventory;
use strata_compiler::synth::Scenario;
use strata_runtime::agent::Backend;
use strata_runtime::agent::channel::connect;
use strata_runtime::agent::service::AgentService;
use strata_runtime::apply::{Agents, ApplyOptions, apply};
use strata_runtime::control::{Controller, subscribe};
use strata_runtime::monitor::{Event, IntentState, IntentStatus};
use strata_runtime::pb;
use strata_runtime::state::MemoryStore;
use strata_runtime::twin::host::{Twin, TwinOptions};
use strata_runtime::twin::world::Fault;
use tokio::net::TcpListener;

const PARTS: [&str; 3] = ["apply", "fanin", "repair"];

/// Rows of the result table: part, measurement, value.
type Rows = Vec<(String, String, String)>;

fn main() {
    let parts = selection();
    let mut rows: Rows = Vec::new();
    machine_notes(&mut rows);
    for part in &parts {
        let t = Instant::now();
        let load = loadavg();
        eprintln!("[{part}] running…");
        match part.as_str() {
            "apply" => bench_apply(&mut rows),
            "fanin" => bench_fanin(&mut rows),
            "repair" => bench_repair(&mut rows),
            _ => unreachable!(),
        }
        eprintln!("[{part}] done in {:.1} s", t.elapsed().as_secs_f64());
        row(
            &mut rows,
            "machine",
            format!("{part}: wall time / load average before → after"),
            format!(
                "{:.1} s / {load} → {}",
                t.elapsed().as_secs_f64(),
                loadavg()
            ),
        );
    }
    println!();
    println!("| part | measurement | value |");
    println!("|---|---|---|");
    for (part, what, value) in &rows {
        println!("| {part} | {what} | {value} |");
    }
}

fn selection() -> Vec<String> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let spec = if args.is_empty() {
        std::env::var("STRATA_RUNTIME_BENCH").unwrap_or_default()
    } else {
        args.join(",")
    };
    let mut out: Vec<String> = Vec::new();
    for tok in spec
        .split([',', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        if tok == "all" {
            out.extend(PARTS.iter().map(|p| p.to_string()));
        } else if PARTS.contains(&tok) {
            out.push(tok.to_string());
        } else {
            eprintln!(
                "unknown part `{tok}`; choose from {} or all",
                PARTS.join(", ")
            );
            std::process::exit(2);
        }
    }
    if out.is_empty() {
        out = PARTS.iter().map(|p| p.to_string()).collect();
    }
    let mut seen = BTreeSet::new();
    out.retain(|p| seen.insert(p.clone()));
    out
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn env_list(name: &str, default: &[f64]) -> Vec<f64> {
    match std::env::var(name) {
        Ok(v) => {
            let l: Vec<f64> = v.split(',').filter_map(|s| s.trim().parse().ok()).collect();
            if l.is_empty() { default.to_vec() } else { l }
        }
        Err(_) => default.to_vec(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn row(rows: &mut Rows, part: &str, what: impl Into<String>, value: impl Into<String>) {
    rows.push((part.to_string(), what.into(), value.into()));
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return f64::NAN;
    }
    s[s.len() / 2]
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::min)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn kib(b: f64) -> String {
    format!("{:.1} KiB", b / 1024.0)
}

// ---------------------------------------------------------------------------------------
// Machine notes
// ---------------------------------------------------------------------------------------

fn machine_notes(rows: &mut Rows) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    row(
        rows,
        "machine",
        "CPU",
        format!("{cpu}, {cores} core(s) available"),
    );
    row(
        rows,
        "machine",
        "open files limit (soft/hard)",
        nofile_limit().map_or("unknown".into(), |(s, h)| format!("{s} / {h}")),
    );
}

/// Soft and hard `RLIMIT_NOFILE`, from /proc (no libc needed).
fn nofile_limit() -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut nums = line["Max open files".len()..]
        .split_whitespace()
        .map(|w| w.parse::<u64>().unwrap_or(u64::MAX));
    Some((nums.next()?, nums.next()?))
}

/// The 1-minute load average (other work on the machine competes with the benchmark).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Busy and total jiffies of all CPUs, from /proc/stat.
fn machine_cpu() -> (u64, u64) {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return (0, 0);
    };
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    // idle + iowait
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// User + system CPU time of the whole process (all threads), from /proc/self/stat.
fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return Duration::ZERO;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // USER_HZ is 100 on every Linux this runs on.
    Duration::from_millis(ticks * 10)
}

// ---------------------------------------------------------------------------------------
// Part 1: apply of a 100-node network
// ---------------------------------------------------------------------------------------

const APPLY_NODES: usize = 100;
const APPLY_INTENTS: usize = 300;
const APPLY_SEED: u64 = 1;

struct ApplyRun {
    first: Duration,
    first_nodes: usize,
    first_bytes: usize,
    noop: Duration,
    noop_nodes: usize,
    scan_empty: Duration,
    second: Duration,
    second_nodes: usize,
    second_affected: usize,
    second_bytes: usize,
    scan: Duration,
}

fn bench_apply(rows: &mut Rows) {
    let part = "apply";
    let scenario = Scenario::generate(APPLY_NODES, APPLY_INTENTS, APPLY_SEED);
    let t = Instant::now();
    let mut fe = frontend::run(
        &[std::path::PathBuf::from(
            strata_compiler::synth::INTENTS_PATH,
        )],
        &frontend::Options::default(),
        &scenario.loader(),
    );
    let frontend_time = t.elapsed();
    if fe.has_errors() || fe.networks.is_empty() {
        eprintln!(
            "the synthetic scenario does not check: {:#?}",
            fe.diagnostics
        );
        row(
            rows,
            part,
            "error",
            "synthetic scenario has errors; skipped",
        );
        return;
    }
    let net = fe.networks.remove(0);
    let (program, inventory) = (net.program, net.inventory.expect("inventory"));

    let t = Instant::now();
    let full = compile(&program, &inventory, &CompileOptions::default());
    let compile_full = t.elapsed();
    // ~5 % fewer intents: drop every 20th.
    let mut smaller = program.clone();
    let before = smaller.intents.len();
    let mut k = 0;
    smaller.intents.retain(|_| {
        k += 1;
        k % 20 != 0
    });
    let dropped = before - smaller.intents.len();
    let t = Instant::now();
    let reduced = compile(&smaller, &inventory, &CompileOptions::default());
    let compile_reduced = t.elapsed();
    let docs_bytes: usize = full
        .configs
        .nodes
        .values()
        .map(|n| serde_yaml::to_string(n).map_or(0, |s| s.len()))
        .sum();

    row(
        rows,
        part,
        "scenario",
        format!(
            "{} nodes, {} links, {} intents (synth seed {APPLY_SEED}); {} nodes configured; {} admitted, {} partial, {} rejected",
            scenario.network.nodes.len(),
            scenario.network.links.len(),
            program.intents.len(),
            full.configs.nodes.len(),
            full.summary.admitted,
            full.summary.partial,
            full.summary.rejected
        ),
    );
    row(rows, part, "front end (parse + check)", ms(frontend_time));
    row(
        rows,
        part,
        "compile (all intents / 5 % dropped)",
        format!("{} / {}", ms(compile_full), ms(compile_reduced)),
    );

    let repeat: usize = env_num("STRATA_RUNTIME_BENCH_REPEAT", 3).max(1);
    let rt = runtime();
    let mut runs = Vec::new();
    for r in 0..repeat {
        let run = rt.block_on(async {
            let twin = Twin::start(&inventory, TwinOptions::default())
                .await
                .map_err(|e| format!("twin: {e}"))?;
            let store = MemoryStore::default();
            let options = ApplyOptions::default();
            let scan_empty = scan(&twin.agents).await?;
            let t = Instant::now();
            let first = apply(
                &store,
                &twin.agents,
                &full.configs,
                Some(&full.summary),
                &options,
                None,
            )
            .await
            .map_err(|e| format!("first apply: {e}"))?;
            let first_t = t.elapsed();
            let t = Instant::now();
            let noop = apply(
                &store,
                &twin.agents,
                &full.configs,
                Some(&full.summary),
                &options,
                None,
            )
            .await
            .map_err(|e| format!("no-op apply: {e}"))?;
            let noop_t = t.elapsed();
            let t = Instant::now();
            let second = apply(
                &store,
                &twin.agents,
                &reduced.configs,
                Some(&reduced.summary),
                &options,
                None,
            )
            .await
            .map_err(|e| format!("second apply: {e}"))?;
            let second_t = t.elapsed();
            let scan = scan(&twin.agents).await?;
            twin.shutdown().await;
            Ok::<_, String>(ApplyRun {
                first: first_t,
                first_nodes: first.nodes.len(),
                first_bytes: first.bytes_sent,
                noop: noop_t,
                noop_nodes: noop.nodes.len(),
                scan_empty,
                second: second_t,
                second_nodes: second.nodes.len(),
                second_affected: second.plan.affected_nodes.len(),
                second_bytes: second.bytes_sent,
                scan,
            })
        });
        match run {
            Ok(run) => {
                eprintln!(
                    "  run {}: first {:.0} ms, no-op {:.0} ms, second {:.0} ms",
                    r + 1,
                    run.first.as_secs_f64() * 1e3,
                    run.noop.as_secs_f64() * 1e3,
                    run.second.as_secs_f64() * 1e3
                );
                runs.push(run);
            }
            Err(e) => {
                eprintln!("  run {}: {e}", r + 1);
                row(rows, part, format!("run {}", r + 1), format!("failed: {e}"));
            }
        }
    }
    let probe = rt.block_on(nagle_probe(&full.configs));
    rt.shutdown_timeout(Duration::from_secs(2));
    match probe {
        Ok(p) => {
            for (what, v) in p {
                row(rows, part, what, v);
            }
        }
        Err(e) => row(rows, part, "GetRunning probe", format!("failed: {e}")),
    }
    if runs.is_empty() {
        return;
    }
    let stat = |f: &dyn Fn(&ApplyRun) -> Duration| {
        let v: Vec<f64> = runs.iter().map(|r| f(r).as_secs_f64() * 1e3).collect();
        format!(
            "{:.1} ms (min {:.1}, max {:.1}; n={})",
            median(&v),
            min(&v),
            max(&v),
            v.len()
        )
    };
    let r0 = &runs[0];
    row(rows, part, "first apply: wall time", stat(&|r| r.first));
    row(
        rows,
        part,
        "first apply: nodes pushed / bytes sent",
        format!(
            "{} / {} (prepare requests; {} of YAML documents)",
            r0.first_nodes,
            kib(r0.first_bytes as f64),
            kib(docs_bytes as f64)
        ),
    );
    row(
        rows,
        part,
        "no-op apply (same configs): wall time",
        stat(&|r| r.noop),
    );
    row(
        rows,
        part,
        "no-op apply: nodes pushed",
        r0.noop_nodes.to_string(),
    );
    row(
        rows,
        part,
        "sequential connect + GetRunning to every agent: before first apply / after",
        format!("{} / {}", stat(&|r| r.scan_empty), stat(&|r| r.scan)),
    );
    row(
        rows,
        part,
        format!("second apply ({dropped} of {before} intents dropped): wall time"),
        stat(&|r| r.second),
    );
    row(
        rows,
        part,
        "second apply: nodes pushed (plan's affected nodes) / bytes sent",
        format!(
            "{} ({}) / {}",
            r0.second_nodes,
            r0.second_affected,
            kib(r0.second_bytes as f64)
        ),
    );
}

/// What apply's first loop does: connect + GetRunning, one agent after another.
async fn scan(agents: &Agents) -> Result<Duration, String> {
    let t = Instant::now();
    for addr in agents.agents.values() {
        let mut c = agents.connect(addr, Duration::from_secs(5)).await?;
        c.get_running(pb::RunningRequest {})
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(t.elapsed())
}

/// One agent holding the largest node's documents, served like the twin serves it (the
/// accepted sockets keep Nagle's algorithm on) and with `TCP_NODELAY` on accepted sockets:
/// the median of 20 GetRunning calls on a warm channel, before and after it holds them.
async fn nagle_probe(
    configs: &strata_compiler::config::ConfigSet,
) -> Result<Vec<(String, String)>, String> {
    use tokio_stream::StreamExt;
    let docs = strata_runtime::state::node_documents(configs);
    let (node, documents) = docs
        .iter()
        .max_by_key(|(_, d)| d.values().map(String::len).sum::<usize>())
        .ok_or("no documents")?;
    let size: usize = documents.values().map(String::len).sum();
    let mut out = Vec::new();
    for nodelay in [false, true] {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener
            .local_addr()
            .map_err(|e| e.to_string())?
            .to_string();
        let service = AgentService::new(
            node.clone(),
            Arc::new(strata_runtime::agent::ConfigOnly::new()),
        )
        .into_server();
        let server = tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(move |s| {
                if let Ok(s) = &s {
                    let _ = s.set_nodelay(nodelay);
                }
                s
            });
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await;
        });
        let mut c = connect(&addr, None, Duration::from_secs(5)).await?;
        let time_calls = async |c: &mut strata_runtime::pb::agent_client::AgentClient<_>| {
            let mut v = Vec::new();
            for _ in 0..20 {
                let t = Instant::now();
                c.get_running(pb::RunningRequest {})
                    .await
                    .map_err(|e| e.to_string())?;
                v.push(t.elapsed().as_secs_f64() * 1e3);
            }
            Ok::<f64, String>(median(&v))
        };
        let empty = time_calls(&mut c).await?;
        let mut fresh = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let mut c = connect(&addr, None, Duration::from_secs(5)).await?;
            c.get_running(pb::RunningRequest {})
                .await
                .map_err(|e| e.to_string())?;
            fresh.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let fresh = (
            median(&fresh),
            fresh.iter().sum::<f64>() / fresh.len() as f64,
        );
        let req = pb::PrepareRequest {
            generation: 1,
            digest: "probe".into(),
            node: node.clone(),
            base_generation: 0,
            documents: documents.clone().into_iter().collect(),
        };
        let ok = c
            .prepare(req)
            .await
            .map_err(|e| e.to_string())?
            .into_inner();
        if !ok.ok {
            return Err(ok.error);
        }
        c.commit(pb::CommitRequest {
            generation: 1,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
        let full = time_calls(&mut c).await?;
        server.abort();
        out.push((
            format!(
                "GetRunning, accepted socket {}: new connection + call, empty agent (median of 20) / warm channel, empty (median of 20) / warm channel, holding {node}'s {}",
                if nodelay { "with TCP_NODELAY" } else { "as the twin serves it (Nagle on)" },
                kib(size as f64)
            ),
            format!("{:.2} ms (mean {:.2}) / {empty:.2} ms / {full:.2} ms", fresh.0, fresh.1),
        ));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Part 2: telemetry fan-in
// ---------------------------------------------------------------------------------------

/// An agent backend whose telemetry is a fixed realistic sample: 4 QKD links and 4 service
/// units, stamped with the wall-clock time it was made.
struct FixedBackend {
    period: Duration,
    template: pb::TelemetrySample,
}

impl FixedBackend {
    fn new(node: &str, period: Duration) -> FixedBackend {
        let links = (0..4)
            .map(|i| pb::LinkSample {
                link: format!("q-{node}-peer{i}"),
                peer: format!("peer{i}"),
                kind: "qkd".into(),
                up: true,
                skr: 250_000.0 + 1_000.0 * i as f64,
                eskr: 240_000.0,
                qber: 0.021,
                pool: 1.5e6,
                fidelity: 0.979,
            })
            .collect();
        let units = (0..4)
            .map(|i| pb::UnitSample {
                service_unit: format!("key-{node}-{i:03}"),
                role: if i % 2 == 0 {
                    "master".into()
                } else {
                    "slave".into()
                },
                delivered_rate: 25.0,
                target_rate: 25.0,
                fidelity: 0.979,
                delivered_total: 123_456,
            })
            .collect();
        FixedBackend {
            period,
            template: pb::TelemetrySample {
                node: node.into(),
                generation: 0,
                time_s: 0.0,
                up: true,
                links,
                units,
            },
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Backend for FixedBackend {
    fn install(&self, _node: &str, _config: &strata_compiler::config::NodeConfig) {}

    fn sample(&self, _node: &str, generation: u64) -> pb::TelemetrySample {
        let mut s = self.template.clone();
        s.generation = generation;
        s.time_s = unix_now();
        s
    }

    fn fault(&self, _fault: &pb::FaultRequest) -> Result<(), String> {
        Err("no faults here".into())
    }

    fn telemetry_period(&self) -> Duration {
        self.period
    }
}

struct FaninRun {
    agents: usize,
    period_ms: f64,
    connected: usize,
    setup: Duration,
    window: Duration,
    samples: usize,
    down: usize,
    nodes_seen: usize,
    lag_p50: f64,
    lag_p99: f64,
    lag_max: f64,
    cpu: Duration,
    fds: usize,
    sample_bytes: usize,
    /// Share of all CPUs busy (any process) during the window.
    machine_busy: f64,
}

fn bench_fanin(rows: &mut Rows) {
    let part = "fanin";
    let wanted: usize = env_num("STRATA_RUNTIME_BENCH_AGENTS", 1000).max(1);
    // Each agent costs 3 descriptors: its listener, the accepted connection and the
    // subscriber's connection. Keep 256 spare.
    let limit = nofile_limit().map_or(1024, |(s, _)| s);
    let fit = (limit.saturating_sub(256) / 3) as usize;
    let agents = wanted.min(fit.max(1));
    if agents < wanted {
        row(
            rows,
            part,
            "agents lowered",
            format!("{wanted} wanted, {agents} fit in `ulimit -n` = {limit}"),
        );
    }
    let window_s: f64 = env_num("STRATA_RUNTIME_BENCH_WINDOW", 5.0f64).clamp(0.5, 60.0);
    let periods = env_list("STRATA_RUNTIME_BENCH_PERIODS", &[50.0, 20.0, 10.0]);
    for period_ms in periods {
        let period_ms = period_ms.clamp(1.0, 10_000.0);
        let rt = runtime();
        let run = rt.block_on(fanin_once(agents, period_ms, window_s));
        // Dropping the runtime cancels every server, stream and subscriber task.
        rt.shutdown_timeout(Duration::from_secs(2));
        match run {
            Ok(r) => {
                let offered = r.agents as f64 * 1e3 / r.period_ms;
                let sustained = r.samples as f64 / r.window.as_secs_f64();
                let cpu = r.cpu.as_secs_f64() / r.window.as_secs_f64();
                let what = format!("{} agents, period {} ms", r.agents, r.period_ms);
                row(
                    rows,
                    part,
                    format!("{what}: offered / sustained samples/s"),
                    format!(
                        "{offered:.0} / {sustained:.0} ({:.0} %)",
                        100.0 * sustained / offered
                    ),
                );
                row(
                    rows,
                    part,
                    format!("{what}: sample age at consumer p50 / p99 / max"),
                    format!(
                        "{:.1} / {:.1} / {:.1} ms",
                        r.lag_p50 * 1e3,
                        r.lag_p99 * 1e3,
                        r.lag_max * 1e3
                    ),
                );
                row(
                    rows,
                    part,
                    format!("{what}: process CPU during window"),
                    format!(
                        "{:.2} cores ({:.1} µs CPU per sample, {} B per encoded sample); all CPUs {:.0} % busy",
                        cpu,
                        r.cpu.as_secs_f64() * 1e6 / r.samples.max(1) as f64,
                        r.sample_bytes,
                        100.0 * r.machine_busy
                    ),
                );
                row(
                    rows,
                    part,
                    format!("{what}: setup / streams / nodes heard / reconnects / fds"),
                    format!(
                        "{} / {} / {} / {} / {}",
                        ms(r.setup),
                        r.connected,
                        r.nodes_seen,
                        r.down,
                        r.fds
                    ),
                );
            }
            Err(e) => row(
                rows,
                part,
                format!("{agents} agents, period {period_ms} ms"),
                format!("failed: {e}"),
            ),
        }
    }
    row(
        rows,
        part,
        "window",
        format!(
            "{window_s} s after 2 s warm-up; consumer = one task on `control::subscribe`'s channel"
        ),
    );
}

async fn fanin_once(agents: usize, period_ms: f64, window_s: f64) -> Result<FaninRun, String> {
    use prost::Message;
    let period = Duration::from_secs_f64(period_ms / 1e3);
    let t = Instant::now();
    let mut addresses = BTreeMap::new();
    let mut sample_bytes = 0;
    for i in 0..agents {
        let node = format!("agent{i:04}");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("bind #{i}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        addresses.insert(node.clone(), addr.to_string());
        let backend = Arc::new(FixedBackend::new(&node, period));
        if i == 0 {
            sample_bytes = backend.sample(&node, 1).encoded_len();
        }
        let service = AgentService::new(node, backend).into_server();
        tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await;
        });
    }
    let agents_file = Agents {
        network: "fanin".into(),
        twin: false,
        agents: addresses,
        tls: None,
    };
    let mut rx = subscribe(&agents_file, Duration::from_millis(200));
    // Warm-up: until every agent was heard from (bounded), then 2 s more.
    let mut heard = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while heard.len() < agents && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(s)) => {
                if s.up {
                    heard.insert(s.node);
                }
            }
            Ok(None) => return Err("subscription closed".into()),
            Err(_) => break,
        }
    }
    let connected = heard.len();
    let setup = t.elapsed();
    let warm_until = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < warm_until {
        if tokio::time::timeout_at(warm_until, rx.recv())
            .await
            .is_ok_and(|s| s.is_none())
        {
            return Err("subscription closed".into());
        }
    }

    let cpu0 = process_cpu();
    let machine0 = machine_cpu();
    let start = Instant::now();
    let end = tokio::time::Instant::now() + Duration::from_secs_f64(window_s);
    let mut samples = 0usize;
    let mut down = 0usize;
    let mut nodes = BTreeSet::new();
    let mut lags = Vec::with_capacity((agents as f64 * 1e3 / period_ms * window_s) as usize + 16);
    let mut fds = 0;
    loop {
        match tokio::time::timeout_at(end, rx.recv()).await {
            Ok(Some(s)) => {
                if s.up {
                    samples += 1;
                    lags.push(unix_now() - s.time_s);
                    if samples % 4096 == 1 {
                        nodes.insert(s.node);
                        fds = fds.max(open_fds());
                    } else if nodes.len() < agents {
                        nodes.insert(s.node);
                    }
                } else {
                    down += 1;
                }
            }
            Ok(None) => return Err("subscription closed".into()),
            Err(_) => break,
        }
    }
    let window = start.elapsed();
    let cpu = process_cpu().saturating_sub(cpu0);
    let machine1 = machine_cpu();
    let machine_busy = (machine1.0 - machine0.0) as f64 / (machine1.1 - machine0.1).max(1) as f64;
    lags.sort_by(f64::total_cmp);
    Ok(FaninRun {
        agents,
        period_ms,
        connected,
        setup,
        window,
        samples,
        down,
        nodes_seen: nodes.len(),
        lag_p50: quantile(&lags, 0.5),
        lag_p99: quantile(&lags, 0.99),
        lag_max: lags.last().copied().unwrap_or(f64::NAN),
        cpu,
        fds: fds.max(open_fds()),
        sample_bytes,
        machine_busy,
    })
}

// ---------------------------------------------------------------------------------------
// Part 3: fault-to-repair latency on the metro example
// ---------------------------------------------------------------------------------------

struct Fs;

impl SourceLoader for Fs {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }
}

fn load_metro() -> Result<(Program, Inventory), String> {
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

struct RepairRun {
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

fn bench_repair(rows: &mut Rows) {
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

async fn repair_once(
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
