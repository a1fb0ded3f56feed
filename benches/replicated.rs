//! Replicated controllers on etcd, printed as one Markdown table:
//!
//! - **failover** — the real binary: a one-member etcd on loopback, `strata twin up` of the
//!   metro example (20× real time), a leading `strata run --state etcd://…` and a standby.
//!   The leader is killed (SIGKILL) at a spread of moments within its lease renewal period;
//!   measured from the kill until the standby logs "became leader (term N)" and until its
//!   takeover apply is done (it prints "nothing to change": the stored generation runs). Then
//!   the same with the leader stopped by SIGTERM, on which it resigns. Each kill is followed
//!   by a fresh standby, so the chain of leaders runs on one twin. For each lease TTL asked
//!   for (etcd raises TTLs below its minimum, 2 s with the default heartbeat).
//! - **store** — the cost of keeping the state in etcd instead of a file: the synthetic
//!   100-node network with 300 key intents ([`strata_compiler::synth`], seed 1, as in the
//!   runtime benchmark) applied to an in-process twin with the state in a file, in etcd, and
//!   in etcd by a controller that leads the election (every lock and commit fenced on its
//!   leader key): the first apply (every node), an apply with nothing to change and an apply
//!   after dropping 5 % of the intents, each on a fresh twin and store; and the store alone,
//!   one lock + load + save + unlock of that network's state.
//!
//! Run: `cargo bench --bench replicated` (both, about two minutes), or one part:
//! `cargo bench --bench replicated -- failover`. Knobs: `STRATA_REPLICATED_BENCH_REPEAT`
//! (kills per TTL and applies per store, default 5), `STRATA_REPLICATED_BENCH_TTLS` (lease
//! TTLs in seconds, default `5,2`). Needs `etcd` on the PATH.
//!
//! All traffic is on 127.0.0.1. Every wait is bounded. Nothing is asserted about time.

#[allow(dead_code)]
#[path = "../tests/common/etcd.rs"]
mod etcd;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strata_compiler::compile::{CompileOptions, Compiled, compile};
use strata_compiler::frontend;
use strata_compiler::synth::Scenario;
use strata_runtime::apply::{ApplyOptions, apply};
use strata_runtime::etcd::EtcdLocation;
use strata_runtime::etcd_store::EtcdStore;
use strata_runtime::state::{FileStore, StateStore};
use strata_runtime::twin::host::{Twin, TwinOptions};

const PARTS: [&str; 2] = ["failover", "store"];

/// Rows of the result table: part, measurement, value.
type Rows = Vec<(String, String, String)>;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let parts: Vec<&str> = if args.is_empty() {
        PARTS.to_vec()
    } else {
        PARTS
            .iter()
            .copied()
            .filter(|p| args.iter().any(|a| a == p))
            .collect()
    };
    if parts.is_empty() {
        eprintln!("choose parts from {}", PARTS.join(", "));
        std::process::exit(2);
    }
    let repeat: usize = std::env::var("STRATA_REPLICATED_BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5usize)
        .max(1);
    let ttls: Vec<u32> = std::env::var("STRATA_REPLICATED_BENCH_TTLS")
        .unwrap_or_else(|_| "5,2".into())
        .split(',')
        .filter_map(|t| t.trim().parse().ok())
        .collect();
    let mut rows: Rows = Vec::new();
    for part in parts {
        let t = Instant::now();
        eprintln!("[{part}] running…");
        match part {
            "failover" => {
                for &ttl in &ttls {
                    failover(&mut rows, ttl, repeat);
                }
            }
            _ => store(&mut rows, repeat),
        }
        eprintln!("[{part}] done in {:.1} s", t.elapsed().as_secs_f64());
    }
    println!();
    println!("| part | measurement | value |");
    println!("|---|---|---|");
    for (part, what, value) in &rows {
        println!("| {part} | {what} | {value} |");
    }
}

fn row(rows: &mut Rows, part: &str, what: impl Into<String>, value: impl Into<String>) {
    rows.push((part.to_string(), what.into(), value.into()));
}

/// Median with the range, in the unit `unit` (values already in it).
fn stat(v: &[f64], unit: &str) -> String {
    if v.is_empty() {
        return "no sample".into();
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let digits = if unit == "s" { 2 } else { 1 };
    format!(
        "{:.digits$} {unit} ({:.digits$}–{:.digits$}; n={})",
        s[s.len() / 2],
        s[0],
        s[s.len() - 1],
        s.len()
    )
}

// ---------------------------------------------------------------------------------------
// Failover
// ---------------------------------------------------------------------------------------

fn strata() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_strata"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1");
    c
}

/// A child process whose output lines are kept with the moment each was read.
struct Proc {
    child: Child,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("strata runs");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().expect("stdout"));
        let err: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().expect("stderr"));
        for stream in [out, err] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((Instant::now(), line));
                }
            });
        }
        Proc { child, lines }
    }

    /// When the first line after `after` that contains `text` was read (a minute at most).
    fn wait_for(&self, text: &str, after: Instant) -> Option<Instant> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            let found = self
                .lines
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .find(|(t, l)| *t >= after && l.contains(text))
                .map(|(t, _)| *t);
            if found.is_some() {
                return found;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `strata run` of the metro intents on the twin, its election lease `ttl` seconds.
fn run(agents: &Path, url: &str, ttl: u32) -> Proc {
    let mut c = strata();
    c.args(["run", "intents/metro.qi", "--agents"])
        .arg(agents)
        .args(["--state", url, "--lease-ttl", &ttl.to_string()]);
    Proc::spawn(c)
}

fn failover(rows: &mut Rows, ttl: u32, repeat: usize) {
    let part = "failover";
    let etcd = etcd::Etcd::start(1);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let agents = dir.path().join("agents.json");
    let mut twin = strata();
    twin.args(["twin", "up", "examples/metro/network.yaml", "--speed", "20"])
        .arg("--agents-file")
        .arg(&agents);
    let _twin = Proc::spawn(twin);
    let start = Instant::now();
    while !agents.exists() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = etcd.url(&format!("strata/bench-{ttl}"));
    let mut leader = run(&agents, &url, ttl);
    if leader
        .wait_for("became leader (term 1)", start)
        .and_then(|_| leader.wait_for("applied generation 1:", start))
        .is_none()
    {
        row(
            rows,
            part,
            format!("lease TTL {ttl} s"),
            "the first leader never applied",
        );
        return;
    }
    let (mut elected, mut resumed) = (Vec::new(), Vec::new());
    let (mut resigned_elected, mut resigned_resumed) = (Vec::new(), Vec::new());
    let renewal = Duration::from_secs(u64::from(ttl)) / 3;
    for k in 0..repeat + 2 {
        let spawned = Instant::now();
        let standby = run(&agents, &url, ttl);
        if standby.wait_for("standing by: ", spawned).is_none() {
            row(
                rows,
                part,
                format!("lease TTL {ttl} s, kill {k}"),
                "no standby",
            );
            return;
        }
        // Kills at a spread of moments within the renewal period; the last two are SIGTERMs.
        let graceful = k >= repeat;
        std::thread::sleep(renewal.mul_f64(k as f64 / repeat as f64) + Duration::from_millis(300));
        let killed = Instant::now();
        leader.signal(if graceful { "-TERM" } else { "-KILL" });
        let term = k + 2;
        let won = standby.wait_for(&format!("became leader (term {term})"), killed);
        let done = standby.wait_for("nothing to change: the network already runs", killed);
        let (Some(won), Some(done)) = (won, done) else {
            row(
                rows,
                part,
                format!("lease TTL {ttl} s, kill {k}"),
                "the standby never took over",
            );
            return;
        };
        let (e, r) = (
            won.duration_since(killed).as_secs_f64(),
            done.duration_since(killed).as_secs_f64(),
        );
        eprintln!(
            "  TTL {ttl} s, {}: leader after {e:.2} s, applying after {r:.2} s",
            if graceful { "SIGTERM" } else { "SIGKILL" }
        );
        if graceful {
            resigned_elected.push(e * 1e3);
            resigned_resumed.push(r * 1e3);
        } else {
            elected.push(e);
            resumed.push(r);
        }
        leader = standby;
    }
    row(
        rows,
        part,
        format!("lease TTL {ttl} s: SIGKILL of the leader → standby logs \"became leader\""),
        stat(&elected, "s"),
    );
    row(
        rows,
        part,
        format!("lease TTL {ttl} s: SIGKILL → takeover apply done (nothing re-applied)"),
        stat(&resumed, "s"),
    );
    row(
        rows,
        part,
        format!("lease TTL {ttl} s: SIGTERM (the leader resigns) → \"became leader\" / apply done"),
        format!(
            "{} / {}",
            stat(&resigned_elected, "ms"),
            stat(&resigned_resumed, "ms")
        ),
    );
}

// ---------------------------------------------------------------------------------------
// Store
// ---------------------------------------------------------------------------------------

/// The synthetic network and two compiles of it: every intent, and 5 % of them dropped.
fn scenario() -> Option<(strata_compiler::inventory::Inventory, Compiled, Compiled)> {
    let scenario = Scenario::generate(100, 300, 1);
    let mut fe = frontend::run(
        &[PathBuf::from(strata_compiler::synth::INTENTS_PATH)],
        &frontend::Options::default(),
        &scenario.loader(),
    );
    if fe.has_errors() || fe.networks.is_empty() {
        return None;
    }
    let net = fe.networks.remove(0);
    let (program, inventory) = (net.program, net.inventory?);
    let full = compile(&program, &inventory, &CompileOptions::default());
    let mut smaller = program.clone();
    let mut k = 0;
    smaller.intents.retain(|_| {
        k += 1;
        k % 20 != 0
    });
    let reduced = compile(&smaller, &inventory, &CompileOptions::default());
    Some((inventory, full, reduced))
}

/// Which store an apply writes to.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    File,
    Etcd,
    EtcdLeading,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Etcd => "etcd",
            Kind::EtcdLeading => "etcd, leading the election",
        }
    }
}

/// A fresh store of `kind`; for a leading one, the leadership to keep while it is used.
fn fresh(
    kind: Kind,
    dir: &Path,
    etcd: &etcd::Etcd,
    n: usize,
    rt: &tokio::runtime::Runtime,
) -> (
    Box<dyn StateStore + Send + Sync>,
    Option<strata_runtime::election::Leading>,
) {
    if kind == Kind::File {
        return (
            Box::new(FileStore::new(dir.join(format!("state-{n}.json")))),
            None,
        );
    }
    let location = EtcdLocation::parse(&etcd.url(&format!("strata/store-{n}"))).expect("a URL");
    let store = EtcdStore::new(location).expect("an etcd store");
    let leading = (kind == Kind::EtcdLeading).then(|| {
        let candidate = store.candidate("bench", 10).expect("a candidate");
        let mut campaign = candidate.campaign();
        rt.block_on(campaign.won()).expect("leads")
    });
    (Box::new(store), leading)
}

fn store(rows: &mut Rows, repeat: usize) {
    let part = "store";
    let Some((inventory, full, reduced)) = scenario() else {
        row(rows, part, "error", "the synthetic scenario does not check");
        return;
    };
    let etcd = etcd::Etcd::start(1);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let options = ApplyOptions::default();
    let mut n = 0;
    let mut state_bytes = (0, 0);
    for kind in [Kind::File, Kind::Etcd, Kind::EtcdLeading] {
        let (mut first, mut noop, mut second, mut cycle) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..repeat {
            n += 1;
            let (store, leading) = fresh(kind, dir.path(), &etcd, n, &rt);
            let twin = match rt.block_on(Twin::start(&inventory, TwinOptions::default())) {
                Ok(t) => t,
                Err(e) => {
                    row(rows, part, "error", format!("twin: {e}"));
                    return;
                }
            };
            let timed = |compiled: &Compiled| {
                let t = Instant::now();
                let r = rt.block_on(apply(
                    store.as_ref(),
                    &twin.agents,
                    &compiled.configs,
                    Some(&compiled.summary),
                    &options,
                    None,
                ));
                r.map(|_| t.elapsed().as_secs_f64() * 1e3)
            };
            let runs = (|| {
                Ok::<_, strata_runtime::apply::ApplyError>((
                    timed(&full)?,
                    timed(&full)?,
                    timed(&reduced)?,
                ))
            })();
            match runs {
                Ok((a, b, c)) => {
                    first.push(a);
                    noop.push(b);
                    second.push(c);
                }
                Err(e) => {
                    row(rows, part, kind.name(), format!("apply failed: {e}"));
                    return;
                }
            }
            // The store alone: what an apply asks of it, without the agents.
            for _ in 0..10 {
                let t = Instant::now();
                let guard = store.lock("bench");
                let state = store.load();
                let saved = match (&guard, state) {
                    (Ok(_), Ok(Some(s))) => {
                        state_bytes = (
                            serde_json::to_vec_pretty(&s).map_or(0, |b| b.len()),
                            serde_json::to_vec(&s).map_or(0, |b| b.len()),
                        );
                        store.save(&s).is_ok()
                    }
                    _ => false,
                };
                drop(guard);
                if saved {
                    cycle.push(t.elapsed().as_secs_f64() * 1e3);
                }
            }
            rt.block_on(twin.shutdown());
            if let Some(l) = leading {
                rt.block_on(l.resign());
            }
        }
        let name = kind.name();
        row(
            rows,
            part,
            format!("{name}: first apply (100 nodes)"),
            stat(&first, "ms"),
        );
        row(
            rows,
            part,
            format!("{name}: no-op apply"),
            stat(&noop, "ms"),
        );
        row(
            rows,
            part,
            format!("{name}: apply with 5 % of the intents dropped"),
            stat(&second, "ms"),
        );
        row(
            rows,
            part,
            format!("{name}: lock + load + save + unlock alone"),
            stat(&cycle, "ms"),
        );
    }
    row(
        rows,
        part,
        "state of the 100-node network: in the file / in etcd (compact)",
        format!(
            "{:.0} KiB / {:.0} KiB of JSON (etcd takes 1,536 KiB in one request by default)",
            state_bytes.0 as f64 / 1024.0,
            state_bytes.1 as f64 / 1024.0
        ),
    );
}
