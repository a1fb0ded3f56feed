//! strata as a CI gate: the SARIF, JUnit and GitHub formats read back by independent
//! readers (the official SARIF 2.1.0 schema, an XML parser), `--json` printing one
//! document on every failure, and the exit codes of usage errors and missing state files.

mod common;

use common::*;
use quick_xml::events::Event;
use serde_json::Value;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn sarif(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["check", "--format", "sarif"];
    all.extend_from_slice(args);
    let out = strata(&all);
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out)));
    (out.status.code().unwrap_or(-1), json)
}

/// The intent files of `intents/invalid/` and the two valid example files.
fn every_intent_file() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(Path::new(ROOT).join("intents/invalid"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "qi" || e == "yaml"))
        .map(|p| p.strip_prefix(ROOT).unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    files.push("intents/metro.qi".into());
    files
}

fn validate(log: &Value) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("tests/data/sarif-schema-2.1.0.json"))
            .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the SARIF schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "SARIF schema violations: {errors:#?}");
}

#[test]
fn sarif_is_valid_and_complete() {
    let files = every_intent_file();
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let (code, log) = sarif(&args);
    assert_eq!(code, 1);
    validate(&log);
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(
        log["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "strata");
    assert_eq!(run["tool"]["driver"]["version"], env!("CARGO_PKG_VERSION"));
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert!(results.len() >= 25, "{}", results.len());
    for r in results {
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], r["ruleId"], "{r:#}");
        assert!(
            !rules[idx]["shortDescription"]["text"]
                .as_str()
                .unwrap()
                .starts_with("A strata diagnostic"),
            "no meaning for {}",
            r["ruleId"]
        );
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
        assert!(
            uri.starts_with("intents/") || uri.starts_with("examples/"),
            "{uri}"
        );
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
        assert!(loc["region"]["startColumn"].as_u64().unwrap() >= 1);
        assert!(r["partialFingerprints"]["strataFingerprint/v1"].is_string());
    }
    // Each file on its own: a valid log, every code of intents/invalid/ with a meaning.
    let mut codes = std::collections::BTreeSet::new();
    for f in &files {
        let (_, log) = sarif(&[f]);
        validate(&log);
        for r in log["runs"][0]["results"].as_array().unwrap() {
            codes.insert(r["ruleId"].as_str().unwrap().to_string());
        }
    }
    assert!(codes.len() >= 30, "{codes:?}");
    // The unknown endpoint: where it is, its help after the message.
    let (_, single) = sarif(&["intents/invalid/unknown-endpoint.qi"]);
    let unknown = single["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "strata::unknown-endpoint")
        .unwrap();
    let loc = &unknown["locations"][0]["physicalLocation"];
    assert_eq!(
        loc["artifactLocation"]["uri"],
        "intents/invalid/unknown-endpoint.qi"
    );
    assert_eq!(loc["region"]["startLine"], 4);
    assert_eq!(loc["region"]["startColumn"], 60);
    assert_eq!(loc["region"]["endColumn"], 66);
    let msg = unknown["message"]["text"].as_str().unwrap();
    assert!(
        msg.contains("`Moncla`") && msg.contains("did you mean `Moncloa`?"),
        "{msg}"
    );
    // Related spans: a duplicate points at the first definition.
    let dup = results
        .iter()
        .find(|r| r["ruleId"] == "strata::duplicate-intent")
        .unwrap();
    assert_eq!(dup["relatedLocations"][0]["id"], 1);
    assert!(dup["relatedLocations"][0]["message"]["text"].is_string());
    assert!(
        run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
            .as_str()
            .unwrap()
            .ends_with('/')
    );
    // A clean check is a valid log with no results.
    let (code, clean) = sarif(&["intents/metro.qi"]);
    assert_eq!(code, 0);
    validate(&clean);
    assert_eq!(clean["runs"][0]["results"].as_array().unwrap().len(), 0);
}

#[test]
fn schema_validation_catches_a_broken_log() {
    let (_, mut log) = sarif(&["intents/invalid/unknown-endpoint.qi"]);
    validate(&log);
    log["runs"][0]["results"][0]["level"] = "fatal".into();
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("tests/data/sarif-schema-2.1.0.json"))
            .unwrap(),
    )
    .unwrap();
    assert!(!jsonschema::is_valid(&schema, &log));
}

/// A copy of `intents/invalid/unknown-endpoint.qi` inside the repository, with `blank`
/// empty lines before its intent.
fn moved_copy(dir: &Path, blank: usize) -> PathBuf {
    let src = std::fs::read_to_string(Path::new(ROOT).join("intents/invalid/unknown-endpoint.qi"))
        .unwrap()
        .replace("../../examples/", &format!("{ROOT}/examples/"));
    let (head, rest) = src.split_at(src.find("intent").unwrap());
    let path = dir.join("moved.qi");
    std::fs::write(&path, format!("{head}{}{rest}", "\n".repeat(blank))).unwrap();
    path
}

#[test]
fn sarif_fingerprints_survive_moved_lines() {
    // Inside the repository, so that SARIF paths are relative to it; `target/` may not
    // exist yet when the build went to another target directory.
    let inside = Path::new(ROOT).join("target");
    std::fs::create_dir_all(&inside).unwrap();
    let dir = tempfile::tempdir_in(inside).unwrap();
    let path = moved_copy(dir.path(), 0);
    let (_, a) = sarif(&[path.to_str().unwrap()]);
    let (_, again) = sarif(&[path.to_str().unwrap()]);
    moved_copy(dir.path(), 4);
    let (_, b) = sarif(&[path.to_str().unwrap()]);
    let r = |log: &Value| log["runs"][0]["results"][0].clone();
    let fp = |log: &Value| r(log)["partialFingerprints"]["strataFingerprint/v1"].clone();
    assert_eq!(fp(&a), fp(&again));
    assert_eq!(fp(&a), fp(&b));
    let line =
        |log: &Value| r(log)["locations"][0]["physicalLocation"]["region"]["startLine"].clone();
    assert_eq!(line(&b).as_u64().unwrap(), line(&a).as_u64().unwrap() + 4);
    assert!(
        r(&a)["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .starts_with("target/")
    );
}

/// A test case read back from JUnit XML.
#[derive(Debug, Default)]
struct Case {
    suite: String,
    name: String,
    failures: Vec<String>,
    out: String,
}

/// Parses JUnit XML; returns each suite's (name, tests, failures) and every case.
fn read_junit(xml: &str) -> (Vec<(String, usize, usize)>, Vec<Case>) {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut suites = Vec::new();
    let mut cases: Vec<Case> = Vec::new();
    let mut in_out = false;
    let attr = |e: &quick_xml::events::BytesStart, k: &str| -> String {
        e.try_get_attribute(k)
            .unwrap()
            .map(|a| a.unescape_value().unwrap().into_owned())
            .unwrap_or_default()
    };
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                b"testsuite" => suites.push((
                    attr(&e, "name"),
                    attr(&e, "tests").parse().unwrap(),
                    attr(&e, "failures").parse().unwrap(),
                )),
                b"testcase" => cases.push(Case {
                    suite: suites.last().unwrap().0.clone(),
                    name: attr(&e, "name"),
                    ..Case::default()
                }),
                b"failure" => cases.last_mut().unwrap().failures.push(attr(&e, "type")),
                b"system-out" => in_out = true,
                _ => {}
            },
            Event::Text(t) if in_out => {
                cases.last_mut().unwrap().out += &t.decode().unwrap();
            }
            Event::End(e) if e.name().as_ref() == b"system-out" => in_out = false,
            Event::Eof => break,
            _ => {}
        }
    }
    (suites, cases)
}

#[test]
fn junit_lists_every_intent_and_fails_the_right_ones() {
    let files = [
        "intents/metro.qi",
        "intents/invalid/unknown-endpoint.qi",
        "intents/invalid/unused-policy.qi",
        "intents/invalid/syntax.qi",
    ];
    let mut args = vec!["check", "--format", "junit"];
    args.extend_from_slice(&files);
    let out = strata(&args);
    assert_eq!(out.status.code(), Some(1));
    let xml = String::from_utf8(out.stdout).unwrap();
    let (suites, cases) = read_junit(&xml);
    let names: Vec<&str> = suites.iter().map(|s| s.0.as_str()).collect();
    for f in files {
        assert!(names.contains(&f), "{names:?}");
    }
    for (name, tests, failures) in &suites {
        let mine: Vec<&Case> = cases.iter().filter(|c| &c.suite == name).collect();
        assert_eq!(*tests, mine.len(), "{name}");
        assert_eq!(
            *failures,
            mine.iter().filter(|c| !c.failures.is_empty()).count(),
            "{name}"
        );
        assert!(mine.iter().any(|c| c.name == format!("{name}::(file)")));
    }
    let case = |n: &str| {
        cases
            .iter()
            .find(|c| c.name == n)
            .unwrap_or_else(|| panic!("no case {n} in {xml}"))
    };
    for i in ["vpn-core", "dc-backup", "campus-backup", "carrier-dc"] {
        assert!(case(&format!("intents/metro.qi::{i}")).failures.is_empty());
    }
    assert_eq!(
        case("intents/invalid/unknown-endpoint.qi::x").failures,
        ["strata::unknown-endpoint"]
    );
    assert!(
        case("intents/invalid/syntax.qi::(file)")
            .failures
            .iter()
            .all(|f| f == "strata::syntax")
    );
    assert!(
        suites
            .iter()
            .find(|s| s.0 == "intents/invalid/syntax.qi")
            .unwrap()
            .2
            >= 1,
        "{xml}"
    );
    // A warning outside any intent is output, not a failure, unless warnings are denied.
    let policy = case("intents/invalid/unused-policy.qi::(file)");
    assert!(policy.failures.is_empty(), "{xml}");
    assert!(policy.out.contains("strata::unused-policy"), "{xml}");
    let denied = strata(&[
        "check",
        "--format",
        "junit",
        "--deny-warnings",
        "intents/invalid/unused-policy.qi",
    ]);
    assert_eq!(denied.status.code(), Some(1));
    let (_, cases) = read_junit(&String::from_utf8(denied.stdout).unwrap());
    let policy = cases
        .iter()
        .find(|c| c.name == "intents/invalid/unused-policy.qi::(file)")
        .unwrap();
    assert_eq!(policy.failures, ["strata::unused-policy"]);
}

#[test]
fn github_annotations_point_at_the_span() {
    let out = strata(&[
        "check",
        "--format",
        "github",
        "intents/invalid/unknown-endpoint.qi",
        "intents/invalid/unused-policy.qi",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    // The two files define the same intent: an error with the first definition named.
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[1].contains("%0Aintents/invalid/unknown-endpoint.qi:4:8: first defined here"),
        "{stdout}"
    );
    assert!(
        lines[0].starts_with(
            "::error file=intents/invalid/unknown-endpoint.qi,line=4,col=60,endLine=4,endColumn=66,title=strata%3A%3Aunknown-endpoint::`Moncla` is neither"
        ),
        "{stdout}"
    );
    assert!(
        lines[0].contains("%0Ahelp: did you mean `Moncloa`?"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("::warning file=intents/invalid/unused-policy.qi,"),
        "{stdout}"
    );
}

/// `--json` on a failing run prints the report of `check --format json` on stdout.
fn assert_json_failure(args: &[&str]) -> Value {
    let out = strata(args);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: stdout is not one JSON document ({e}): {}",
            text(&out)
        )
    });
    assert_eq!(json["ok"], false, "{json:#}");
    assert!(json["errors"].as_u64().unwrap() >= 1, "{json:#}");
    assert!(json["warnings"].is_u64());
    assert!(json["networks"].is_array());
    assert!(json["diagnostics"].is_array());
    json
}

#[test]
fn json_commands_print_one_document_when_they_fail() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let bad = "intents/invalid/unknown-endpoint.qi";
    for args in [
        vec!["compile", bad, "-o", out.to_str().unwrap(), "--json"],
        vec!["plan", bad, "--json"],
        vec!["verify", bad, "--config", out.to_str().unwrap(), "--json"],
    ] {
        let json = assert_json_failure(&args);
        assert_eq!(
            json["diagnostics"][0]["code"], "strata::unknown-endpoint",
            "{json:#}"
        );
        assert_eq!(json["diagnostics"][0]["line"], 4);
        assert!(json.get("error").is_none());
    }
    // Failures that are not diagnostics: a missing config directory, a missing state.
    let missing = dir.path().join("nothing-here");
    let json = assert_json_failure(&[
        "verify",
        "intents/metro.qi",
        "--config",
        missing.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        json["error"].as_str().unwrap().contains("nothing-here"),
        "{json:#}"
    );
    let json = assert_json_failure(&[
        "plan",
        "intents/metro.qi",
        "--state",
        missing.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        json["error"].as_str().unwrap().contains("nothing-here"),
        "{json:#}"
    );
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    for args in [
        vec!["check", "--bogus", "intents/metro.qi"],
        vec!["check", "--format", "xml", "intents/metro.qi"],
        vec!["check"],
        vec!["compile", "intents/metro.qi"],
        vec!["plan", "--detailed-exitcode"],
        vec!["verify", "intents/metro.qi"],
        vec!["apply", "--speed", "fast", "intents/metro.qi"],
        vec!["run", "--bogus"],
        vec!["status", "--wait", "soon"],
        vec!["state", "--bogus"],
        vec!["twin", "--bogus"],
        vec!["agent", "--bogus"],
        vec!["fmt", "--format", "xml", "intents/metro.qi"],
        vec!["no-such-command"],
        vec![],
    ] {
        let out = strata(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
    for args in [
        vec!["--help"],
        vec!["--version"],
        vec!["check", "--help"],
        vec!["plan", "-h"],
    ] {
        let out = strata(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn an_explicit_state_file_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo-state.json");
    let m = missing.to_str().unwrap();
    for args in [
        vec!["plan", "intents/metro.qi", "--state", m],
        vec!["status", "--state", m],
    ] {
        let out = strata(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("typo-state.json") && err.contains("does not exist"),
            "{err}"
        );
    }
    // The default path may be missing: nothing has been applied yet.
    let root = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(root.path())
        .args([
            "plan",
            &format!("{ROOT}/intents/metro.qi"),
            "--state",
            ".strata/state.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn plan_json_carries_whole_values() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    // Plan against an applied state made from the original, then the changed file.
    let saved = dir.path().join("p.json");
    let first = strata(&[
        "plan",
        "intents/metro.qi",
        "-out",
        saved.to_str().unwrap(),
        "--state",
        ".strata/state.json",
    ]);
    assert!(first.status.success(), "{}", text(&first));
    // The saved plan's configuration as the applied state.
    let plan: Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    let configs = plan["configs"].clone();
    assert!(configs.is_object(), "{plan:#}");
    let st = serde_json::json!({
        "generation": 1,
        "config_digest": plan["config_digest"],
        "network": plan["network"],
        "configs": configs,
    });
    std::fs::write(&state, serde_json::to_vec(&st).unwrap()).unwrap();
    let changed = changed_metro(dir.path());
    let o = strata(&[
        "plan",
        changed.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert!(!stdout.contains('…'), "{stdout}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    let fields: Vec<&Value> = json["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["fields"].as_array().unwrap())
        .collect();
    assert!(!fields.is_empty(), "{stdout}");
    for f in fields {
        assert!(
            f["field"].is_string() && f.get("old").is_some() && f.get("new").is_some(),
            "{f}"
        );
    }
}
