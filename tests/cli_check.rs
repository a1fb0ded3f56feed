//! `strata check` and `strata fmt` driven as an operator or a CI job would: the real binary
//! on the example networks, the example intents and every file of `intents/invalid/`.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn check_json(file: &str) -> (i32, Value) {
    let out = strata(&["check", "--format", "json", file]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{file}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

fn files(dir: &str, exts: &[&str]) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| exts.contains(&e))
        })
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    out.sort();
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn examples_and_intents_check_clean() {
    for f in [
        "examples/metro/network.yaml",
        "examples/continental/network.yaml",
    ]
    .into_iter()
    .map(String::from)
    .chain(files("intents", &["qi"]).iter().map(|p| rel(p)))
    {
        let (code, json) = check_json(&f);
        assert_eq!(code, 0, "{f}: {json:#}");
        assert_eq!(json["errors"], 0, "{f}");
        assert_eq!(json["warnings"], 0, "{f}: {json:#}");
    }
}

/// Each invalid file starts with `# expect: CODE LINE`: that diagnostic must be reported on
/// that line, and no error with another code may appear.
#[test]
fn every_invalid_file_fails_with_its_own_diagnostic_on_the_right_line() {
    let all = files("intents/invalid", &["qi", "yaml"]);
    assert!(all.len() >= 30, "one file per diagnostic");
    let mut codes = std::collections::BTreeSet::new();
    for path in all {
        let f = rel(&path);
        let header = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string();
        let mut words = header.trim_start_matches("# expect:").split_whitespace();
        let (code, line) = (
            words.next().unwrap().to_string(),
            words.next().unwrap().parse::<u64>().unwrap(),
        );
        let (status, json) = check_json(&f);
        let diags = json["diagnostics"].as_array().unwrap();
        let hit = diags.iter().find(|d| d["code"] == code.as_str());
        let hit = hit.unwrap_or_else(|| panic!("{f}: expected {code}, got {json:#}"));
        assert_eq!(hit["line"], line, "{f}: {hit:#}");
        assert!(
            hit["file"]
                .as_str()
                .unwrap()
                .ends_with(path.file_name().unwrap().to_str().unwrap())
                || code == "strata::io",
            "{f}"
        );
        assert!(hit["column"].as_u64().unwrap() >= 1);
        assert!(!hit["message"].as_str().unwrap().is_empty());
        for d in diags {
            if d["severity"] == "error" {
                assert_eq!(d["code"], code.as_str(), "{f}: unexpected {d:#}");
            }
        }
        let is_warning = hit["severity"] == "warning";
        assert_eq!(status, if is_warning { 0 } else { 1 }, "{f}");
        if is_warning {
            let deny = strata(&["check", "--deny-warnings", &f]);
            assert_eq!(deny.status.code(), Some(1), "{f} with --deny-warnings");
        }
        codes.insert(code);
    }
    assert!(codes.len() >= 30, "{codes:?}");
}

#[test]
fn the_one_line_form_parses_and_checks_given_nodes_a_and_b() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("net.yaml"),
        "name: ab\ndomains: [{ name: d, operator: Op, trust: trusted }]\nnodes:\n  - { name: A, domain: d, role: endpoint }\n  - { name: B, domain: d, role: endpoint }\nclassical_links: [{ name: c, ends: [A, B], bandwidth_bps: 1.0e9, latency_ms: 1 }]\nqkd_links: [{ name: q, ends: [A, B], length_km: 20, skr_bps: 1.0e5, qber: 0.02, classical_path: [c] }]\n",
    )
    .unwrap();
    let qi = dir.path().join("x.qi");
    std::fs::write(&qi, "use network \"net.yaml\"\nintent x: keys of 256 bits between A and B, fidelity ≥0.9, 10/s\n").unwrap();
    let (code, json) = check_json(qi.to_str().unwrap());
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["networks"][0]["checked_intents"], 1);
}

#[test]
fn all_errors_of_a_file_are_reported_at_once_in_human_form() {
    let dir = tempfile::tempdir().unwrap();
    let qi = dir.path().join("many.qi");
    let net = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/metro/network.yaml");
    std::fs::write(
        &qi,
        format!(
            "use network \"{}\"\nintent a: keys of 12 bits between Norte and Moncla, 10/s\nintent b {{ keys of 256 bits\n between Norte and Moncloa\n rate => 1/s }}\nintent c: keys of 256 bits between Norte and Moncloa, fidelity >= 2, 1/s\n",
            net.display()
        ),
    )
    .unwrap();
    let out = strata(&["check", qi.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for code in [
        "strata::key-size",
        "strata::unknown-endpoint",
        "strata::syntax",
        "strata::fidelity-range",
    ] {
        assert!(err.contains(code), "{code} missing from:\n{err}");
    }
    assert!(err.contains("did you mean `Moncloa`?"), "{err}");
    assert!(err.contains("many.qi:2:"), "file:line:col in {err}");
}

#[test]
fn garbage_and_binary_input_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bin.qi", vec![0, 159, 146, 150, 255, 10, 0]),
        ("empty.qi", vec![]),
        (
            "trunc.qi",
            b"use network \"x.yaml\"\nintent x { keys of 256 bi".to_vec(),
        ),
        ("bin.yaml", vec![0xff, 0xfe, 0, 1, 2]),
        ("junk.yaml", b"{{{{[[[: : : -".to_vec()),
    ];
    for (name, bytes) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let out = strata(&["check", p.to_str().unwrap()]);
        let code = out.status.code();
        assert!(
            matches!(code, Some(0) | Some(1)),
            "{name}: {code:?} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{name}"
        );
    }
}

#[test]
fn fmt_is_a_fixed_point_that_checks_like_its_input() {
    let dir = tempfile::tempdir().unwrap();
    for src in files("intents", &["qi"]) {
        // Keep the relative `use network` path valid by formatting next to the original.
        let copy = src.with_file_name(format!(
            ".fmt-test-{}",
            src.file_name().unwrap().to_str().unwrap()
        ));
        std::fs::copy(&src, &copy).unwrap();
        let before = check_json(copy.to_str().unwrap()).1;
        let out = strata(&["fmt", copy.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let once = std::fs::read_to_string(&copy).unwrap();
        let check = strata(&["fmt", "--check", copy.to_str().unwrap()]);
        let after = check_json(copy.to_str().unwrap()).1;
        std::fs::remove_file(&copy).unwrap();
        assert_eq!(check.status.code(), Some(0), "not a fixed point:\n{once}");
        assert_eq!(
            before["networks"][0]["checked_intents"],
            after["networks"][0]["checked_intents"]
        );
        assert_eq!(before["diagnostics"], after["diagnostics"]);
    }
    let messy = dir.path().join("messy.qi");
    std::fs::write(
        &messy,
        "intent   x :keys of 256 bits between A and B,10/s   # note\n",
    )
    .unwrap();
    let out = strata(&["fmt", "--check", messy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("messy.qi"));
    assert_eq!(
        std::fs::read_to_string(&messy).unwrap(),
        "intent   x :keys of 256 bits between A and B,10/s   # note\n"
    );
}

/// Every shipped intent file is in the layout `strata fmt` prints, so that running it on a
/// fresh checkout changes nothing. `syntax.qi` cannot be formatted (it does not parse, by
/// design); it must fail with its one syntax error and nothing else.
#[test]
fn shipped_intent_files_are_canonical() {
    let mut all: Vec<String> = files("intents", &["qi"]).iter().map(|p| rel(p)).collect();
    let invalid: Vec<String> = files("intents/invalid", &["qi"])
        .iter()
        .map(|p| rel(p))
        .collect();
    assert!(invalid.len() >= 25);
    all.extend(invalid.into_iter().filter(|f| !f.ends_with("syntax.qi")));
    let mut args = vec!["fmt", "--check"];
    args.extend(all.iter().map(String::as_str));
    let out = strata(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "not canonical:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = strata(&[
        "fmt",
        "--check",
        "--format",
        "json",
        "intents/invalid/syntax.qi",
    ]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let diags = json["diagnostics"].as_array().unwrap();
    assert_eq!(diags.len(), 1, "{json:#}");
    assert_eq!(diags[0]["code"], "strata::syntax");
}
