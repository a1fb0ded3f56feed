//! Compile benchmark over synthetic QKD networks ([`strata_compiler::synth`]): for each size
//! (nodes × intents) it times the front end (parse + inventory load + checks) and
//! `compile::compile`, records the peak memory of the two, and compares the admitted demand
//! (Σ admitted rate / requested rate over intents) of the compile with the greedy baseline
//! and the LP upper bound. A second table splits the compile into its phases, each timed on
//! its own: topology, candidate paths (Yen), the successive LPs, greedy, emission.
//!
//! Run: `cargo bench -p strata-compiler --bench compile` (every size), or pick sizes with
//! `STRATA_BENCH=100x100,1000x1000` or `cargo bench -p strata-compiler --bench compile --
//! 1000x10000`. `STRATA_BENCH_SEED` (default 1) changes the networks,
//! `STRATA_BENCH_PROFILE=0` skips the phase table and the LP bound, and
//! `STRATA_BENCH_DUMP=DIR` writes each scenario's texts to `DIR/NxM/` for the CLI.
//!
//! Peak heap comes from a counting global allocator around the system one (bytes live at
//! the peak above those live when the size started); its atomic counters add roughly 5–10 %
//! to the allocation-heavy path search. Times are wall clock of one run; nothing is asserted
//! about them.

use peakmem_alloc::{INSTRUMENTED_SYSTEM, PeakMemAlloc, PeakMemAllocTrait};
use std::alloc::System;
use std::time::{Duration, Instant};
use strata_compiler::compile::emit::emit;
use strata_compiler::compile::optimise::{self, Demand};
use strata_compiler::compile::{self, CompileOptions, paths};
use strata_compiler::synth::Scenario;
use strata_compiler::topology::Topology;

#[global_allocator]
static GLOBAL: &PeakMemAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Every size the benchmark knows, in run order; all run by default (about 2.5 min).
const ALL: [(usize, usize); 6] = [
    (100, 100),
    (100, 1_000),
    (100, 10_000),
    (1_000, 100),
    (1_000, 1_000),
    (1_000, 10_000),
];

struct Row {
    nodes: usize,
    links: usize,
    intents: usize,
    frontend: Duration,
    compile: Duration,
    peak_bytes: usize,
    admitted: f64,
    /// How far the optimiser's path search went: all allowed paths (proven), or why not.
    searched: String,
    profile: Option<Profile>,
}

struct Profile {
    topology: Duration,
    paths: Duration,
    lp: Duration,
    greedy: Duration,
    emit: Duration,
    bound: Duration,
    greedy_admitted: f64,
    bound_admitted: f64,
    mean_paths: f64,
    no_path: usize,
}

fn main() {
    let sizes = selection();
    let seed: u64 = std::env::var("STRATA_BENCH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let profile = std::env::var("STRATA_BENCH_PROFILE").map_or(true, |v| v != "0");
    let dump = std::env::var("STRATA_BENCH_DUMP").ok();
    let mut rows = Vec::new();
    for (nodes, intents) in sizes {
        eprintln!("[{nodes} nodes × {intents} intents] generating (seed {seed})…");
        let scenario = Scenario::generate(nodes, intents, seed);
        if let Some(dir) = &dump {
            let dir = std::path::Path::new(dir).join(format!("{nodes}x{intents}"));
            std::fs::create_dir_all(&dir).expect("create dump directory");
            std::fs::write(dir.join("network.yaml"), &scenario.network.yaml)
                .expect("write network.yaml");
            std::fs::write(dir.join("intents.qi"), &scenario.intents).expect("write intents.qi");
        }
        rows.push(run(&scenario, nodes, intents, profile));
    }
    println!("{}", results_table(&rows));
    if rows.iter().any(|r| r.profile.is_some()) {
        println!("{}", profile_table(&rows));
    }
}

/// Sizes from the arguments (`NxM`, `all`), else `STRATA_BENCH`, else the defaults.
fn selection() -> Vec<(usize, usize)> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let spec = if !args.is_empty() {
        args.join(",")
    } else {
        std::env::var("STRATA_BENCH").unwrap_or_default()
    };
    if spec.trim().is_empty() {
        return ALL.to_vec();
    }
    let mut out = Vec::new();
    for tok in spec
        .split([',', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        if tok == "all" {
            out.extend(ALL);
            continue;
        }
        let parsed = tok.split_once('x').and_then(|(n, m)| {
            Some((
                n.replace('_', "").parse().ok()?,
                m.replace('_', "").parse().ok()?,
            ))
        });
        match parsed {
            Some(size) => out.push(size),
            None => panic!(
                "cannot read benchmark size `{tok}`: write NODESxINTENTS, e.g. 1000x10000, or `all`"
            ),
        }
    }
    out
}

fn run(scenario: &Scenario, nodes: usize, intents: usize, profile: bool) -> Row {
    let loader = scenario.loader();
    GLOBAL.reset_peak_memory();
    let t = Instant::now();
    let fe = strata_compiler::synth::run_frontend(&loader);
    let frontend = t.elapsed();
    assert!(
        !fe.has_errors(),
        "synthetic scenario has {} errors, first: {:?}",
        fe.error_count(),
        fe.diagnostics.first()
    );
    let net = &fe.networks[0];
    let inv = net
        .inventory
        .as_ref()
        .expect("the synthetic inventory loads");
    let program = &net.program;
    assert_eq!(
        program.intents.len(),
        intents,
        "every synthetic intent passes the checks"
    );
    eprintln!("  front end {:.2} s; compiling…", frontend.as_secs_f64());
    let options = CompileOptions::default();
    let t = Instant::now();
    let compiled = compile::compile(program, inv, &options);
    let compile_time = t.elapsed();
    let peak_bytes = GLOBAL.get_peak_memory();
    let admitted: f64 = compiled
        .summary
        .intents
        .iter()
        .map(|s| s.admitted_rate / s.requested_rate)
        .sum();
    let optimum = &compiled.summary.optimum;
    let searched = if optimum.proven {
        format!("all (+{} paths)", optimum.columns_added)
    } else {
        format!(
            "candidates ({})",
            optimum.limit.as_deref().unwrap_or("limit")
        )
    };
    eprintln!(
        "  compile {:.2} s, admitted {admitted:.1}; paths searched: {searched}",
        compile_time.as_secs_f64()
    );
    drop(compiled);

    let profile = profile.then(|| {
        let t = Instant::now();
        let (topo, _) = Topology::new(inv);
        let topology = t.elapsed();
        let t = Instant::now();
        let mut demands: Vec<Demand> = program
            .intents
            .iter()
            .map(|intent| {
                Demand::new(
                    intent,
                    paths::candidates(&topo, intent, &options.paths).unwrap_or_default(),
                    intent.min_rate.max(f64::MIN_POSITIVE),
                )
            })
            .collect();
        let paths_time = t.elapsed();
        let no_path = demands.iter().filter(|d| d.paths.is_empty()).count();
        let mean_paths = demands.iter().map(|d| d.paths.len()).sum::<usize>() as f64
            / demands.len().max(1) as f64;
        eprintln!("  paths {:.2} s; successive LPs…", paths_time.as_secs_f64());
        let t = Instant::now();
        let lp = optimise::successive_lp(&topo, &mut demands);
        let lp_time = t.elapsed();
        let t = Instant::now();
        let greedy = optimise::greedy(&topo, &demands);
        let greedy_time = t.elapsed();
        let reasons = vec![None; demands.len()];
        let t = Instant::now();
        let emitted = emit(&topo, &demands, &lp, &reasons);
        let emit_time = t.elapsed();
        drop(emitted);
        eprintln!(
            "  LP {:.2} s, greedy {:.2} s; LP bound…",
            lp_time.as_secs_f64(),
            greedy_time.as_secs_f64()
        );
        let t = Instant::now();
        let bound = optimise::lp_bound(&topo, &mut demands);
        let bound_time = t.elapsed();
        eprintln!("  LP bound {:.2} s", bound_time.as_secs_f64());
        Profile {
            topology,
            paths: paths_time,
            lp: lp_time,
            greedy: greedy_time,
            emit: emit_time,
            bound: bound_time,
            greedy_admitted: greedy.admitted_demand(&demands),
            bound_admitted: bound,
            mean_paths,
            no_path,
        }
    });
    Row {
        nodes,
        links: inv.qkd_links.len(),
        intents,
        frontend,
        compile: compile_time,
        peak_bytes,
        admitted,
        searched,
        profile,
    }
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

fn results_table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| nodes | QKD links | intents | front end (s) | compile (s) | peak heap (MiB) | admitted: strata | paths searched | greedy | LP bound | strata / bound |\n\
         |---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|\n",
    );
    for r in rows {
        let (greedy, bound, ratio) = match &r.profile {
            Some(p) => (
                format!("{:.2}", p.greedy_admitted),
                format!("{:.2}", p.bound_admitted),
                format!(
                    "{:.1} %",
                    100.0 * r.admitted / p.bound_admitted.max(f64::MIN_POSITIVE)
                ),
            ),
            None => ("–".into(), "–".into(), "–".into()),
        };
        s += &format!(
            "| {} | {} | {} | {} | {} | {:.1} | {:.2} | {} | {greedy} | {bound} | {ratio} |\n",
            r.nodes,
            r.links,
            r.intents,
            secs(r.frontend),
            secs(r.compile),
            r.peak_bytes as f64 / (1024.0 * 1024.0),
            r.admitted,
            r.searched,
        );
    }
    s
}

fn profile_table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| nodes × intents | topology (s) | paths (s) | successive LP (s) | greedy (s) | emit (s) | LP bound (s) | paths / intent | no path |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let Some(p) = &r.profile else { continue };
        s += &format!(
            "| {} × {} | {} | {} | {} | {} | {} | {} | {:.2} | {} |\n",
            r.nodes,
            r.intents,
            secs(p.topology),
            secs(p.paths),
            secs(p.lp),
            secs(p.greedy),
            secs(p.emit),
            secs(p.bound),
            p.mean_paths,
            p.no_path,
        );
    }
    s
}
