//! `strata check` of a large inventory: a chain of N nodes joined by N − 1 QKD links, each
//! with its own classical link, and one key intent end to end. Loading, validation, the
//! topology and the checks must grow linearly (or n log n) with N; the table shows the time
//! per node staying flat. Run with `cargo bench -p strata-compiler --bench inventory`
//! (`STRATA_BENCH_NODES=10000,100000` picks the sizes).

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use strata_compiler::frontend::{self, Options, SourceLoader};

struct Memory {
    intents: String,
    network: String,
}

impl SourceLoader for Memory {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        if path.extension().is_some_and(|e| e == "yaml") {
            Ok(self.network.clone().into_bytes())
        } else {
            Ok(self.intents.clone().into_bytes())
        }
    }
}

/// The chain inventory of `n` nodes.
fn chain(n: usize) -> String {
    let mut out = String::from(
        "name: chain\ndomains:\n  - name: core\n    operator: Operator\n    trust: trusted\nnodes:\n",
    );
    for i in 0..n {
        let role = if i == 0 || i == n - 1 {
            "endpoint"
        } else {
            "trusted-relay"
        };
        let _ = writeln!(out, "  - {{ name: n{i}, domain: core, role: {role} }}");
    }
    out.push_str("qkd_links:\n");
    for i in 0..n - 1 {
        let _ = writeln!(
            out,
            "  - {{ name: q{i}, ends: [n{i}, n{}], length_km: 10, loss_db_per_km: 0.2, skr_bps: 10000, qber: 0.02, classical_path: [c{i}] }}",
            i + 1
        );
    }
    out.push_str("classical_links:\n");
    for i in 0..n - 1 {
        let _ = writeln!(
            out,
            "  - {{ name: c{i}, ends: [n{i}, n{}], bandwidth_bps: 1e9, latency_ms: 0.05 }}",
            i + 1
        );
    }
    out
}

fn main() {
    let sizes: Vec<usize> = std::env::var("STRATA_BENCH_NODES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 20_000, 50_000, 100_000]);
    println!("| nodes | inventory size | check (s) | per node (µs) |");
    println!("|---:|---:|---:|---:|");
    for n in sizes {
        let loader = Memory {
            intents: format!(
                "use network \"network.yaml\"\nintent e2e: keys of 256 bits between n0 and n{}, rate >= 1/s\n",
                n - 1
            ),
            network: chain(n),
        };
        let t = Instant::now();
        let fe = frontend::run(&[PathBuf::from("intents.qi")], &Options::default(), &loader);
        let secs = t.elapsed().as_secs_f64();
        assert!(!fe.has_errors(), "{:?}", fe.diagnostics.first());
        assert_eq!(fe.networks[0].program.intents.len(), 1);
        println!(
            "| {n} | {:.1} MiB | {secs:.2} | {:.1} |",
            loader.network.len() as f64 / (1024.0 * 1024.0),
            secs * 1e6 / n as f64
        );
    }
}
