//! `strata diff` through the real binary: identical revisions, a raised rate, a removed
//! link with its attribution, a name of a removed link in HEAD, `--git`, and the JSON
//! field names.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

fn intent<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["intents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no intent {name} in {report:#}"))
}

fn metro_intents() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("intents/metro.qi")).unwrap()
}

fn metro_network() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("examples/metro/network.yaml")).unwrap()
}

/// The metro inventory without one QKD link (its YAML entry cut out).
fn without_link(network: &str, link: &str) -> String {
    let start = network
        .find(&format!("  - name: {link}\n"))
        .expect("link in the inventory");
    let len = network[start + 1..]
        .find("\n  - name: ")
        .expect("a next entry")
        + 1;
    let out = format!("{}{}", &network[..start], &network[start + len..]);
    assert!(!out.contains(&format!("name: {link}\n")));
    out
}

/// `dir/network.yaml` and `dir/metro.qi` using it.
fn revision(dir: &Path, intents: &str, network: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("network.yaml"), network).unwrap();
    let qi = dir.join("metro.qi");
    std::fs::write(
        &qi,
        intents.replace("../examples/metro/network.yaml", "network.yaml"),
    )
    .unwrap();
    qi
}

#[test]
fn identical_revisions_exit_0_with_every_intent_the_same() {
    let o = strata(&[
        "diff",
        "intents/metro.qi",
        "intents/metro.qi",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = json(&o);
    let intents = r["intents"].as_array().unwrap();
    assert_eq!(intents.len(), 4);
    for i in intents {
        assert_eq!(i["verdict"], "same", "{i:#}");
    }
    assert_eq!(r["worse"], false);
    assert_eq!(r["links"].as_array().unwrap().len(), 0);
    assert_eq!(r["inventory"].as_array().unwrap().len(), 0);

    let o = strata(&["diff", "intents/metro.qi", "intents/metro.qi"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("0 worse, 0 better, 4 same, 0 added, 0 removed"),
        "{}",
        text(&o)
    );
}

#[test]
fn raising_vpn_core_shows_its_new_rate_and_exit_2_when_an_intent_gets_worse() {
    let dir = tempfile::tempdir().unwrap();
    let src = metro_intents();
    let raised = src.replace(
        "fidelity >= 0.95, rate >= 10/s",
        "fidelity >= 0.95, rate >= 100000/s",
    );
    assert_ne!(raised, src);
    let head = revision(&dir.path().join("head"), &raised, &metro_network());
    let head = head.to_str().unwrap();

    // What the compiler really admits for the head.
    let out = dir.path().join("out");
    let c = strata(&["compile", head, "-o", out.to_str().unwrap(), "--json"]);
    assert_eq!(c.status.code(), Some(0), "{}", text(&c));
    let compiled = json(&c);
    let admitted = |name: &str| intent(&compiled, name)["admitted_rate"].as_f64().unwrap();
    assert!(admitted("vpn-core") > 10.0 && admitted("vpn-core") < 100000.0);

    let o = strata(&["diff", "intents/metro.qi", head, "--format", "json"]);
    let r = json(&o);
    let vpn = intent(&r, "vpn-core");
    assert_eq!(vpn["requested"]["before"], 10.0);
    assert_eq!(vpn["requested"]["after"], 100000.0);
    assert_eq!(vpn["admitted"]["before"], 10.0);
    assert_eq!(
        vpn["admitted"]["after"].as_f64(),
        Some(admitted("vpn-core"))
    );
    // Met before, only partly met now: a worse admission.
    assert_eq!(vpn["admission"]["before"], "met");
    assert_eq!(vpn["admission"]["after"], "partial");
    assert_eq!(vpn["verdict"], "worse");
    for name in ["dc-backup", "campus-backup", "carrier-dc"] {
        let i = intent(&r, name);
        let before = i["admitted"]["before"].as_f64().unwrap();
        assert_eq!(i["admitted"]["after"].as_f64(), Some(admitted(name)));
        let expected = if admitted(name) < before * (1.0 - 1e-6) {
            "worse"
        } else {
            "same"
        };
        assert_eq!(i["verdict"], expected, "{i:#}");
    }
    assert_eq!(r["worse"], true);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // The links vpn-core now fills are listed, the biggest move first.
    let links = r["links"].as_array().unwrap();
    assert!(!links.is_empty());
    let moves: Vec<f64> = links
        .iter()
        .map(|l| l["change_pp"].as_f64().unwrap().abs())
        .collect();
    assert!(moves.windows(2).all(|w| w[0] >= w[1]), "{moves:?}");
    assert!(moves.iter().all(|&m| m > 0.1));

    let o = strata(&["diff", "intents/metro.qi", head]);
    assert_eq!(o.status.code(), Some(2));
    let human = String::from_utf8_lossy(&o.stdout);
    let row = human
        .lines()
        .find(|l| l.starts_with("vpn-core"))
        .unwrap_or_else(|| panic!("{human}"));
    assert!(row.contains("10 → 100000"), "{row}");
    assert!(row.contains("met → partial"), "{row}");
}

#[test]
fn a_removed_link_makes_dc_backup_worse_and_is_named_as_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    // carrier-dc names the link in `avoid link`; without that clause the intents check
    // against both inventories.
    let intents = metro_intents().replace(", avoid link q-distrito-concepcion", "");
    let network = metro_network();
    revision(&dir.path().join("base"), &intents, &network);
    revision(
        &dir.path().join("head"),
        &intents,
        &without_link(&network, "q-distrito-concepcion"),
    );
    let (base, head) = (dir.path().join("base"), dir.path().join("head"));
    let (base, head) = (base.to_str().unwrap(), head.to_str().unwrap());

    let o = strata(&["diff", base, head, "--format", "json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let r = json(&o);
    let dc = intent(&r, "dc-backup");
    assert_eq!(dc["verdict"], "worse");
    // Only one disjoint path is left, and it needs two: it cannot be served at all.
    assert_eq!(dc["admission"]["before"], "met");
    assert_eq!(dc["admission"]["after"], "rejected");
    assert_eq!(dc["admitted"]["after"], 0.0);
    assert_eq!(dc["paths"]["after"].as_array().unwrap().len(), 0);
    assert_eq!(
        dc["attribution"],
        serde_json::json!(["link q-distrito-concepcion was removed"])
    );
    assert!(
        dc["reason"]["after"]
            .as_str()
            .unwrap()
            .contains("disjoint paths 2"),
        "{dc:#}"
    );
    for name in ["vpn-core", "campus-backup", "carrier-dc"] {
        assert_eq!(intent(&r, name)["verdict"], "same");
        assert!(
            intent(&r, name)["attribution"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
    assert_eq!(r["inventory"][0]["change"], "removed");
    assert_eq!(r["inventory"][0]["name"], "q-distrito-concepcion");
    assert_eq!(r["links"][0]["link"], "q-distrito-concepcion");
    assert_eq!(r["links"][0]["utilisation_pct"]["after"], Value::Null);

    for format in ["human", "markdown"] {
        let o = strata(&["diff", base, head, "--format", format]);
        assert_eq!(o.status.code(), Some(2));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains("link q-distrito-concepcion was removed"),
            "{out}"
        );
        let line = out
            .lines()
            .find(|l| l.contains("because link q-distrito-concepcion was removed"))
            .unwrap_or_else(|| panic!("{format}: no attribution line in\n{out}"));
        if format == "markdown" {
            assert!(line.contains("`dc-backup`"), "{line}");
        }
    }
}

#[test]
fn an_intent_naming_a_removed_link_stops_the_diff_with_its_diagnostic() {
    let dir = tempfile::tempdir().unwrap();
    let intents = metro_intents();
    let network = metro_network();
    let base = revision(&dir.path().join("base"), &intents, &network);
    let head = revision(
        &dir.path().join("head"),
        &intents,
        &without_link(&network, "q-distrito-concepcion"),
    );
    let (base, head) = (base.to_str().unwrap(), head.to_str().unwrap());

    let o = strata(&["diff", base, head]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("there is no link named `q-distrito-concepcion`"),
        "{err}"
    );
    assert!(err.contains("does not check"), "{err}");
    assert!(o.stdout.is_empty());

    let o = strata(&["diff", base, head, "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let r = json(&o);
    assert_eq!(r["ok"], false);
    assert!(r["errors"].as_u64().unwrap() >= 1);
    assert_eq!(r["warnings"], 0);
    let codes: Vec<&str> = r["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"strata::unknown-link"), "{codes:?}");
    assert!(r["diagnostics"][0]["line"].as_u64().unwrap() > 0);
}

fn git(dir: &Path, args: &[&str]) {
    let o = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=strata",
            "-c",
            "user.email=strata@example.org",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(o.status.success(), "git {args:?}: {}", text(&o));
}

#[test]
fn git_base_reads_the_intents_and_their_inventory_from_a_revision() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    // The inventory in its own folder, so the base must follow `use network` inside git.
    std::fs::create_dir_all(repo.join("net")).unwrap();
    std::fs::write(repo.join("net/network.yaml"), metro_network()).unwrap();
    std::fs::create_dir_all(repo.join("intents")).unwrap();
    std::fs::write(
        repo.join("intents/metro.qi"),
        metro_intents().replace("../examples/metro/", "../net/"),
    )
    .unwrap();
    git(repo, &["init", "-q"]);
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "base"]);
    // Only the working tree's inventory changes: the shared link's key rate collapses.
    let network = metro_network();
    let cut = network.replace("skr_bps: 132000 ", "skr_bps: 1000 ");
    assert_ne!(cut, network);
    std::fs::write(repo.join("net/network.yaml"), cut).unwrap();

    let run = |cwd: &Path, args: &[&str]| {
        bin()
            .current_dir(cwd)
            .args(args)
            .output()
            .expect("the strata binary runs")
    };
    let o = run(
        repo,
        &[
            "diff",
            "--git",
            "HEAD",
            "intents/metro.qi",
            "--format",
            "markdown",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(
        md.starts_with("### strata diff: 1 of 4 intent(s) worse"),
        "{md}"
    );
    assert!(md.contains(
        "| intent | verdict | requested/s | admitted/s | admission | fidelity | latency ms | protection | paths |"
    ));
    let row = md
        .lines()
        .find(|l| l.starts_with("| `dc-backup` |"))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(row.contains("| **worse** |"), "{row}");
    assert!(row.contains("met → partial"), "{row}");
    assert!(
        md.contains("because link q-distrito-norte: key rate 132000 → 1000 bit/s"),
        "{md}"
    );

    // From a subdirectory, with a directory argument: the same comparison.
    let o = run(
        &repo.join("intents"),
        &["diff", "--git", "HEAD", ".", "--format", "json"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(intent(&json(&o), "dc-backup")["verdict"], "worse");

    // Against the working tree's own state nothing is worse.
    git(repo, &["commit", "-q", "-a", "-m", "head"]);
    let o = run(repo, &["diff", "--git", "HEAD", "intents/metro.qi"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // A revision that does not exist is an error.
    let o = run(repo, &["diff", "--git", "no-such-rev", "intents/metro.qi"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("no-such-rev"), "{}", text(&o));
}

#[test]
fn json_report_field_names_are_stable() {
    let dir = tempfile::tempdir().unwrap();
    let changed = changed_metro(dir.path());
    let o = strata(&[
        "diff",
        "intents/metro.qi",
        changed.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(matches!(o.status.code(), Some(0 | 2)), "{}", text(&o));
    let r = json(&o);
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&r),
        [
            "assertions",
            "base_network",
            "counts",
            "head_network",
            "intents",
            "inventory",
            "links",
            "schema",
            "worse"
        ]
    );
    assert_eq!(r["schema"], "strata.diff/v1");
    assert_eq!(r["base_network"], "madrid-metro");
    assert_eq!(
        keys(&r["counts"]),
        ["added", "better", "removed", "same", "worse"]
    );
    let dc = intent(&r, "dc-backup");
    assert_eq!(
        keys(dc),
        [
            "admission",
            "admitted",
            "attribution",
            "fidelity",
            "latency_ms",
            "name",
            "paths",
            "protection",
            "reason",
            "requested",
            "verdict",
            "why"
        ]
    );
    for k in [
        "admission",
        "admitted",
        "fidelity",
        "latency_ms",
        "paths",
        "reason",
        "requested",
    ] {
        assert_eq!(keys(&dc[k]), ["after", "before"], "{k}");
    }
    assert_eq!(keys(&dc["protection"]), ["configured", "wanted"]);
    assert_eq!(dc["protection"]["wanted"]["after"], 2);
    assert_eq!(dc["protection"]["configured"]["after"], 2);
    // The changed intent (12/s instead of 10/s) admits more: better.
    let vpn = intent(&r, "vpn-core");
    assert!(vpn.get("protection").is_none());
    assert_eq!(vpn["verdict"], "better");
    assert_eq!(vpn["why"][0], "admitted rate 10 → 12/s");
    let link = &r["links"][0];
    assert_eq!(
        keys(link),
        [
            "change_pp",
            "kind",
            "link",
            "reserved",
            "usable",
            "utilisation_pct"
        ]
    );
    assert_eq!(link["kind"], "qkd");
}

#[test]
fn without_git_it_takes_exactly_two_paths() {
    let o = strata(&["diff", "intents/metro.qi"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("BASE and HEAD"), "{}", text(&o));
}
