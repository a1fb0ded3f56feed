//! The release `strata` binary on 100,000 intents against the metro example: `check` in
//! every output format (`human`, `json`, `sarif`, `junit`, `github`), front end only
//! (`--no-compile`) and in full (the optimiser too), `compile`, and the same for a file of
//! 100,000 copies of one intent (99,999 diagnostics to render). Wall time and output size of
//! each run; run with `cargo bench --bench cli` (`-- N` for another count of intents,
//! `-- N M` to check in full and compile M of them, all N by default; `full` adds the full
//! check in every format, which costs one compile each).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// N intents between the metro endpoints, in both forms, deterministic.
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
        let a = ends[i % ends.len()];
        let mut b = ends[(i / ends.len() + i + 1) % ends.len()];
        // Pairs the metro network joins only through the untrusted carrier, or not at all.
        if a == b
            || matches!(
                (a, b),
                ("Distrito-Telefonica", "ccips")
                    | ("ccips", "Distrito-Telefonica")
                    | ("Moncloa", "ipsec-controller")
                    | ("ipsec-controller", "Moncloa")
            )
        {
            b = if a == "Leganes" { "Moncloa" } else { "Leganes" };
        }
        if i % 3 == 0 {
            out.push_str(&format!(
                "intent i{i} {{\n    keys of 256 bits\n    between {a} and {b}\n    rate >= {}/s\n    fidelity >= 0.9\n    max hops 5\n    priority {}\n}}\n\n",
                1 + i % 20,
                i % 4
            ));
        } else {
            out.push_str(&format!(
                "intent i{i}: keys of 128 bits between {a} and {b}, fidelity ≥0.9, {}/s\n",
                1 + i % 7
            ));
        }
    }
    out
}

/// Runs the binary with `args` in `dir`: seconds, exit code, bytes written to stdout and
/// stderr.
fn run(dir: &Path, args: &[&str]) -> (f64, i32, usize) {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("the strata binary runs");
    let took = t.elapsed().as_secs_f64();
    assert_ne!(out.status.code(), Some(101), "{args:?} panicked");
    (
        took,
        out.status.code().unwrap_or(-1),
        out.stdout.len() + out.stderr.len(),
    )
}

fn row(what: &str, (took, code, bytes): (f64, i32, usize)) {
    println!(
        "| {what} | {took:.2} s | {code} | {:.1} MiB |",
        bytes as f64 / (1024.0 * 1024.0)
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let m: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(n);
    let full = args.iter().any(|a| a == "full");
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/metro/network.yaml"),
        dir.path().join("network.yaml"),
    )
    .expect("metro example");
    let text = intents(n);
    std::fs::write(dir.path().join("many.qi"), &text).unwrap();
    std::fs::write(dir.path().join("compiled.qi"), intents(m)).unwrap();
    let copy = "intent a: keys of 256 bits between Moncloa and Leganes, 10/s\n";
    let dup = format!("use network \"network.yaml\"\n{}", copy.repeat(n));
    std::fs::write(dir.path().join("copies.qi"), &dup).unwrap();
    println!(
        "{n} intents: {:.1} MiB of distinct intents (many.qi), {:.1} MiB of one intent repeated (copies.qi)\n",
        text.len() as f64 / (1024.0 * 1024.0),
        dup.len() as f64 / (1024.0 * 1024.0)
    );
    println!("| run | wall time | exit | output |");
    println!("|---|---:|---:|---:|");
    let formats = ["human", "json", "sarif", "junit", "github"];
    for file in ["many.qi", "copies.qi"] {
        for format in formats {
            row(
                &format!("`check --no-compile --format {format}` {file}"),
                run(
                    dir.path(),
                    &["check", "--no-compile", "--format", format, file],
                ),
            );
        }
    }
    let formats: &[&str] = if full { &formats } else { &["human"] };
    for format in formats {
        row(
            &format!("`check --format {format}` of {m} intents"),
            run(dir.path(), &["check", "--format", format, "compiled.qi"]),
        );
    }
    row(
        &format!("`compile -o out` of {m} intents"),
        run(dir.path(), &["compile", "compiled.qi", "-o", "out"]),
    );
    row(
        "`fmt --check` many.qi",
        run(dir.path(), &["fmt", "--check", "many.qi"]),
    );
}
