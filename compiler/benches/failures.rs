//! Failure-analysis benchmark: `strata check --failures N` on generated QKD networks
//! ([`strata_compiler::synth`]): the baseline compile, then every scenario of up to N failed
//! links and nodes that touches a path in use, each re-solved with the runtime's repair
//! semantics ([`strata_compiler::assess`]). Prints wall time, scenarios and intents at risk.
//!
//! Run: `cargo bench -p strata-compiler --bench failures` (default 100 nodes × 300 intents,
//! single failures), or pick sizes and depth: `-- 100x300:1 200x1000:1 50x100:2`.
//! Nothing is asserted about time.

use std::time::Instant;
use strata_compiler::assess::{Options, assess};
use strata_compiler::check::Elements;
use strata_compiler::synth::Scenario;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let specs = if args.is_empty() {
        vec!["100x300:1".to_string()]
    } else {
        args
    };
    println!(
        "| nodes × intents | failures | quantum links | scenarios | intents at risk | analysis |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for spec in specs {
        let (size, depth) = spec.split_once(':').unwrap_or((spec.as_str(), "1"));
        let (n, m) = size.split_once('x').expect("sizes are NODESxINTENTS");
        let (nodes, intents): (usize, usize) =
            (n.parse().expect("nodes"), m.parse().expect("intents"));
        let depth: u32 = depth.parse().expect("failures");
        let scenario = Scenario::generate(nodes, intents, 1);
        let fe = scenario.frontend();
        let net = &fe.networks[0];
        let inv = net.inventory.as_ref().expect("inventory");
        let t = Instant::now();
        let a = assess(
            &net.program,
            inv,
            &Options {
                failures: Some((depth, Elements::Both)),
                ..Options::default()
            },
        );
        let took = t.elapsed();
        println!(
            "| {nodes} × {intents} | {depth} | {} | {} | {} | {:.2} s |",
            inv.qkd_links.len() + inv.entanglement_links.len(),
            a.scenarios,
            a.risks.as_ref().map_or(0, Vec::len),
            took.as_secs_f64()
        );
    }
}
