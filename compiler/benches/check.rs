//! `strata check` on one big file: 10,000 intents (one-line and block forms, URNs,
//! constraints, a policy) against the Madrid metro example. Prints parse, check and total
//! times over a few runs; run with `cargo bench -p strata-compiler --bench check`.

use std::path::{Path, PathBuf};
use std::time::Instant;
use strata_compiler::frontend::{self, Options, SourceLoader};

struct Memory {
    intents: String,
    network: Vec<u8>,
}

impl SourceLoader for Memory {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        if path.extension().is_some_and(|e| e == "yaml") {
            Ok(self.network.clone())
        } else {
            Ok(self.intents.clone().into_bytes())
        }
    }
}

/// 10,000 intents between the metro endpoints, deterministic.
fn intents(n: usize) -> String {
    let ends = [
        "Distrito-Telefonica",
        "Moncloa",
        "Montegancedo",
        "Leganes",
        "ccips",
        "ipsec-controller",
    ];
    let mut out = String::from(
        "use network \"network.yaml\"\n\npolicy sovereignty {\n    applies to keys\n    never via domain foreign-carrier\n}\n\n",
    );
    for i in 0..n {
        let (a, b) = (
            ends[i % ends.len()],
            ends[(i / ends.len() + i + 1) % ends.len()],
        );
        let b = if a == b
            || (a, b) == ("Distrito-Telefonica", "ccips")
            || (a, b) == ("ccips", "Distrito-Telefonica")
            || (a, b) == ("Moncloa", "ipsec-controller")
            || (a, b) == ("ipsec-controller", "Moncloa")
        {
            "Leganes"
        } else {
            b
        };
        let a = if a == b { "Moncloa" } else { a };
        if i % 3 == 0 {
            out.push_str(&format!(
                "intent i{i} {{\n    keys of 256 bits\n    between {a} and {b}\n    rate >= {}/s\n    fidelity >= 0.9\n    max hops 5\n    priority {}\n}}\n\n",
                1 + i % 20,
                i % 4
            ));
        } else {
            out.push_str(&format!("intent i{i}: keys of 128 bits between {a} and {b}, fidelity ≥0.9, {}/s, avoid node Quintin\n", 1 + i % 7));
        }
    }
    out
}

fn main() {
    let network =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/metro/network.yaml"))
            .expect("metro example");
    let n = std::env::var("STRATA_BENCH_INTENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let loader = Memory {
        intents: intents(n),
        network,
    };
    println!("| intents | file size | parse (ms) | parse + check (ms) |");
    println!("|---:|---:|---:|---:|");
    let mut best_parse = f64::INFINITY;
    let mut best_total = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        let (unit, diags) = strata_grammar::parse(strata_grammar::FileId(0), &loader.intents);
        best_parse = best_parse.min(t.elapsed().as_secs_f64() * 1e3);
        assert!(diags.is_empty() && unit.items.len() == n + 2);
        let t = Instant::now();
        let fe = frontend::run(&[PathBuf::from("intents.qi")], &Options::default(), &loader);
        best_total = best_total.min(t.elapsed().as_secs_f64() * 1e3);
        assert!(!fe.has_errors(), "{:?}", fe.diagnostics.first());
        assert_eq!(fe.networks[0].program.intents.len(), n);
    }
    println!(
        "| {n} | {} KiB | {best_parse:.1} | {best_total:.1} |",
        loader.intents.len() / 1024
    );
}
