//! `strata check` as the CI gate, through the real binary: changes that make an intent
//! unmeetable fail it at the intent's line, every assertion form holds and fails on a
//! purpose-built network, the failure analysis finds the bridge link, and `--fail` asks
//! "what if".

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `tests/data/spur/network.yaml`, absolute, for `use network` in a temporary file.
fn spur_network() -> String {
    format!(
        "{}/tests/data/spur/network.yaml",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Writes an intent file for the spur network with `body` after its `use network` line.
fn spur(dir: &Path, body: &str) -> PathBuf {
    let file = dir.join("spur.qi");
    std::fs::write(&file, format!("use network \"{}\"\n{body}", spur_network())).unwrap();
    file
}

/// The metro intents with one piece of text replaced (and `use network` made absolute).
fn metro_with(dir: &Path, from: &str, to: &str) -> PathBuf {
    let src = std::fs::read_to_string("intents/metro.qi").unwrap();
    assert!(src.contains(from), "`{from}` is not in intents/metro.qi");
    let file = dir.join("metro.qi");
    std::fs::write(
        &file,
        src.replace(from, to).replace(
            "../examples/",
            &format!("{}/examples/", env!("CARGO_MANIFEST_DIR")),
        ),
    )
    .unwrap();
    file
}

fn check_json(args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["check", "--format", "json"];
    all.extend_from_slice(args);
    let o = strata(&all);
    let json = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    (o.status.code(), json)
}

fn diagnostics<'a>(json: &'a Value, code: &str) -> Vec<&'a Value> {
    json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == code)
        .collect()
}

/// Line (1-based) of the first line of `file` containing `text`.
fn line_of(file: &Path, text: &str) -> u64 {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .position(|l| l.contains(text))
        .unwrap() as u64
        + 1
}

#[test]
fn the_example_intents_pass_the_gate() {
    let o = strata(&[
        "check",
        "--deny-warnings",
        "intents/metro.qi",
        "intents/continental.qi",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn changes_that_make_an_intent_unmeetable_fail_the_gate_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    for (from, to, code) in [
        // 730/s of it can be admitted.
        (
            "fidelity >= 0.95, rate >= 10/s",
            "fidelity >= 0.95, rate >= 100000/s",
            "strata::partially-met",
        ),
        // No link of the metro network is that good.
        (
            "fidelity >= 0.9\n    valid",
            "fidelity >= 0.99\n    valid",
            "",
        ),
        ("latency <= 5 ms", "latency <= 100 us", ""),
    ] {
        let file = metro_with(dir.path(), from, to);
        let (code_seen, json) = check_json(&["--deny-warnings", file.to_str().unwrap()]);
        assert_eq!(code_seen, Some(1), "{from} → {to}: {json:#}");
        let found: Vec<&Value> = json["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| code.is_empty() || d["code"] == code)
            .collect();
        assert!(!found.is_empty(), "{from} → {to}: {json:#}");
        assert_eq!(found[0]["file"], file.to_str().unwrap(), "{json:#}");
        // Without the optimiser only the front end's checks run.
        if !code.is_empty() {
            let (quick, json) =
                check_json(&["--deny-warnings", "--no-compile", file.to_str().unwrap()]);
            assert_eq!(quick, Some(0), "{json:#}");
        }
    }
    let raised = metro_with(
        dir.path(),
        "fidelity >= 0.95, rate >= 10/s",
        "fidelity >= 0.95, rate >= 100000/s",
    );
    let (_, json) = check_json(&[raised.to_str().unwrap()]);
    let d = diagnostics(&json, "strata::partially-met");
    assert_eq!(
        d[0]["line"],
        line_of(&raised, "intent vpn-core"),
        "{json:#}"
    );
    assert!(
        d[0]["message"]
            .as_str()
            .unwrap()
            .contains("of 100000/s admitted"),
        "{json:#}"
    );
}

#[test]
fn a_link_qber_that_leaves_an_intent_no_path_fails_the_gate() {
    // Raise one link's QBER over the BB84 threshold in a copy of the inventory: dc-backup,
    // which needs two disjoint paths, loses one of them.
    let dir = tempfile::tempdir().unwrap();
    let inv = std::fs::read_to_string("examples/metro/network.yaml").unwrap();
    let marker = "  - name: q-distrito-concepcion\n";
    let at = inv.find(marker).unwrap();
    let qber_at = at + inv[at..].find("qber:").unwrap();
    let end = qber_at + inv[qber_at..].find('\n').unwrap();
    let bad = format!("{}qber: 0.2{}", &inv[..qber_at], &inv[end..]);
    std::fs::write(dir.path().join("network.yaml"), bad).unwrap();
    let src = std::fs::read_to_string("intents/metro.qi")
        .unwrap()
        .replace("../examples/metro/network.yaml", "network.yaml")
        .replace(", avoid link q-distrito-concepcion", "");
    let file = dir.path().join("metro.qi");
    std::fs::write(&file, src).unwrap();
    let (code, json) = check_json(&["--deny-warnings", file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{json:#}");
    let about_dc: Vec<&Value> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| {
            d["line"] == line_of(&file, "intent dc-backup")
                || d["message"].as_str().unwrap().contains("dc-backup")
        })
        .collect();
    assert!(!about_dc.is_empty(), "{json:#}");
}

#[test]
fn every_assertion_form_holds_on_a_network_built_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = spur(
        dir.path(),
        "intent ring: keys of 256 bits between A and B, 10/s
intent spur: keys of 256 bits between A and C, 10/s
assert ring survive 1 link failure
assert ring survives 1 node failure
assert ring survive 2 link failures at 100 %
assert link utilisation <= 10 %
assert link b-c utilisation <= 3 %
assert no keys via domain far
assert no key via node X
assert ring, spur admitted >= 10/s
assert keys admitted >= 2.5 kbit/s
",
    );
    let (code, json) = check_json(&["--deny-warnings", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{json:#}");
}

#[test]
fn every_assertion_form_fails_when_it_should_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let file = spur(
        dir.path(),
        "intent ring: keys of 256 bits between A and B, 10/s
intent spur: keys of 256 bits between A and C, 10/s
intent cheap: keys of 256 bits between A and B, 1/s, via node X
assert all survive 1 link failure
assert spur survive 1 node failure
assert keys survive 1 failure at 50 %
assert link utilisation <= 1 %
assert no key via domain far
assert ring admitted >= 20/s
",
    );
    let (code, json) = check_json(&[file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{json:#}");
    let failed = diagnostics(&json, "strata::assertion-failed");
    let at = |text: &str| {
        failed
            .iter()
            .find(|d| d["line"] == line_of(&file, text))
            .unwrap_or_else(|| panic!("no failure at `{text}`: {json:#}"))["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let m = at("assert all survive 1 link failure");
    assert!(
        m.contains("cut of link b-c leaves `spur` at 0 of 10/s"),
        "{m}"
    );
    assert!(
        m.contains("cut of link a-x leaves `cheap` at 0 of 1/s"),
        "{m}"
    );
    assert!(!m.contains("`ring`"), "ring survives every single cut: {m}");
    // B relays for spur; A and C are its own ends and do not count.
    let m = at("assert spur survive 1 node failure");
    assert!(
        m.contains("loss of node B leaves `spur` at 0 of 10/s"),
        "{m}"
    );
    assert!(!m.contains("node A") && !m.contains("node C"), "{m}");
    let m = at("assert keys survive 1 failure at 50 %");
    assert!(m.contains("below the 50% asserted"), "{m}");
    let m = at("assert link utilisation <= 1 %");
    assert!(m.contains("link b-c carries 2.56% of its rate"), "{m}");
    let m = at("assert no key via domain far");
    assert!(
        m.contains("`cheap` is relayed through domain far (path A→X→B)"),
        "{m}"
    );
    let m = at("assert ring admitted >= 20/s");
    assert!(
        m.contains("`ring` is admitted 10/s, below the 20/s asserted"),
        "{m}"
    );
    assert_eq!(failed.len(), 6, "{json:#}");
    // The intents that break an assertion are related locations.
    let related = failed[0]["related"].as_array().unwrap();
    assert!(!related.is_empty(), "{json:#}");
}

#[test]
fn assertions_with_unknown_names_or_bad_values_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let file = spur(
        dir.path(),
        "intent ring: keys of 256 bits between A and B, 10/s
assert rings survive 1 link failure
assert all survive 3 link failures
assert link b-d utilisation <= 80 %
assert link utilisation >= 80 %
assert no keys via domain farr
assert ring admitted >= 10 bits
",
    );
    let (code, json) = check_json(&[file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{json:#}");
    let codes: Vec<&str> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    for want in [
        "strata::unknown-intent",
        "strata::out-of-range",
        "strata::unknown-link",
        "strata::bound-direction",
        "strata::unknown-domain",
        "strata::wrong-dimension",
    ] {
        assert!(codes.contains(&want), "{want} missing: {json:#}");
    }
    let unknown = diagnostics(&json, "strata::unknown-intent");
    assert_eq!(unknown[0]["help"], "did you mean `ring`?", "{json:#}");
}

#[test]
fn the_failure_analysis_finds_the_bridge_link() {
    let dir = tempfile::tempdir().unwrap();
    let file = spur(
        dir.path(),
        "intent ring: keys of 256 bits between A and B, 10/s
intent spur: keys of 256 bits between A and C, 10/s
",
    );
    let (code, json) = check_json(&[
        "--failures",
        "1",
        "--failure-kind",
        "links",
        file.to_str().unwrap(),
    ]);
    // A warning: the gate fails only with --deny-warnings.
    assert_eq!(code, Some(0), "{json:#}");
    let report = &json["failures"][0];
    let intents = report["intents"].as_array().unwrap();
    assert_eq!(intents.len(), 1, "only spur is at risk: {json:#}");
    assert_eq!(intents[0]["intent"], "spur");
    assert_eq!(intents[0]["worst"], 0.0);
    assert_eq!(
        intents[0]["worst_scenarios"],
        serde_json::json!(["cut of link b-c"])
    );
    let warn = diagnostics(&json, "strata::not-survivable");
    assert_eq!(warn.len(), 1, "{json:#}");
    assert_eq!(warn[0]["line"], line_of(&file, "intent spur"));
    let (code, _) = check_json(&["--deny-warnings", "--failures", "1", file.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    // Human output names the scenario too.
    let o = strata(&["check", "--failures", "1", file.to_str().unwrap()]);
    assert!(
        text(&o).contains("spur                 worst 0 of 10/s after cut of link b-c"),
        "{}",
        text(&o)
    );
}

#[test]
fn what_if_a_link_fails() {
    let dir = tempfile::tempdir().unwrap();
    let file = spur(
        dir.path(),
        "intent spur: keys of 256 bits between A and C, 10/s, avoid link a-x\n",
    );
    // The intent names a-x; failing a-x by --fail keeps it valid.
    let (code, json) = check_json(&["--fail", "a-x", "--deny-warnings", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{json:#}");
    let (code, json) = check_json(&["--fail", "b-c", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "an unmet intent is a warning: {json:#}");
    let d = diagnostics(&json, "strata::unsatisfiable");
    assert_eq!(d.len(), 1, "{json:#}");
    // A classical link takes down the quantum link whose channel it carries.
    let (_, json) = check_json(&["--fail", "c-b-c", file.to_str().unwrap()]);
    assert_eq!(
        diagnostics(&json, "strata::unsatisfiable").len(),
        1,
        "{json:#}"
    );
    let out = dir.path().join("out");
    let o = strata(&[
        "compile",
        "--fail",
        "b-c",
        "--json",
        "-o",
        out.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    let summary: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    let spur = summary["intents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "spur")
        .unwrap();
    assert_eq!(spur["admission"], "rejected", "{summary:#}");
    let o = strata(&["check", "--fail", "bc-c", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("did you mean `b-c`?"), "{}", text(&o));
}

#[test]
fn diff_says_when_a_change_breaks_an_assertion() {
    let dir = tempfile::tempdir().unwrap();
    let (base, head) = (dir.path().join("base"), dir.path().join("head"));
    std::fs::create_dir_all(&base).unwrap();
    std::fs::create_dir_all(&head).unwrap();
    let body = |rate: u32| {
        format!(
            "intent ring: keys of 256 bits between A and B, {rate}/s\nassert link utilisation <= 2.8 %\n"
        )
    };
    let base_file = spur(&base, &body(10));
    let head_file = spur(&head, &body(12));
    let o = strata(&[
        "diff",
        base_file.to_str().unwrap(),
        head_file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let json: Value = serde_json::from_slice(&o.stdout).unwrap();
    let a = &json["assertions"][0];
    assert_eq!(a["name"], "link utilisation <= 2.8%", "{json:#}");
    assert_eq!(
        (
            a["passed"]["before"].as_bool(),
            a["passed"]["after"].as_bool()
        ),
        (Some(true), Some(false))
    );
    assert!(
        a["message"]
            .as_str()
            .unwrap()
            .contains("link a-r1 carries 3.072% of its rate"),
        "{json:#}"
    );
    let md = strata(&[
        "diff",
        base_file.to_str().unwrap(),
        head_file.to_str().unwrap(),
        "--format",
        "markdown",
    ]);
    assert!(
        text(&md).contains("**assert link utilisation <= 2.8%: holds → fails"),
        "{}",
        text(&md)
    );
    // Unchanged: exit 0.
    let same = strata(&[
        "diff",
        base_file.to_str().unwrap(),
        base_file.to_str().unwrap(),
    ]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
}
