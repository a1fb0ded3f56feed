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

mod apply;
mod fanin;
mod machine;
mod repair;

use apply::*;
use fanin::*;
use machine::*;
use repair::*;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

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
