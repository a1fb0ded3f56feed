//! The runtime through the real binary: `strata apply` on the embedded twin (the README's
//! main command), and `strata twin up` + `apply --agents` + `status` + `twin fault` +
//! `run` on loopback, including a refused prepare, a held lock, a stale saved plan and a
//! repair after a cut link.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A `strata twin up` process, killed when dropped.
struct TwinProcess {
    child: Child,
    agents: PathBuf,
}

impl TwinProcess {
    fn start(dir: &Path, network: &str, speed: &str) -> TwinProcess {
        let agents = dir.join("agents.json");
        let child = bin()
            .args([
                "twin",
                "up",
                network,
                "--speed",
                speed,
                "--agents-file",
                agents.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !agents.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "twin did not come up"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        TwinProcess { child, agents }
    }

    fn agents(&self) -> &str {
        self.agents.to_str().unwrap()
    }
}

impl Drop for TwinProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `strata status --json`, which must exit with one of `codes` (0: every intent met, 3: not).
fn status_with(twin: &TwinProcess, state: &str, codes: &[i32]) -> Value {
    let o = strata(&[
        "status",
        "--agents",
        twin.agents(),
        "--state",
        state,
        "--json",
    ]);
    assert!(
        o.status.code().is_some_and(|c| codes.contains(&c)),
        "{}",
        text(&o)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn status(twin: &TwinProcess, state: &str) -> Value {
    status_with(twin, state, &[0, 3])
}

#[test]
fn the_main_command_applies_the_example_intents_to_the_embedded_twin_and_shows_them_met() {
    let o = strata(&["apply", "intents/metro.qi", "--speed", "50"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("started an embedded digital twin of `madrid-metro`"),
        "{out}"
    );
    assert!(
        out.contains("4 of 4 intent(s) met, as measured by the agents"),
        "{out}"
    );
    for intent in ["vpn-core", "dc-backup", "campus-backup", "carrier-dc"] {
        assert!(
            out.lines()
                .any(|l| l.split_whitespace().next() == Some(intent)
                    && l.split_whitespace().nth(4) == Some("installed")),
            "{intent}: {out}"
        );
    }
    let pairs = strata(&["apply", "intents/continental.qi", "--speed", "50", "--json"]);
    assert_eq!(pairs.status.code(), Some(0), "{}", text(&pairs));
    let json: Value = serde_json::from_slice(&pairs.stdout).unwrap();
    for i in json["intents"].as_array().unwrap() {
        assert_eq!(i["state"], "installed", "{i:#}");
        let (measured, target) = (
            i["measured"].as_f64().unwrap(),
            i["target"].as_f64().unwrap(),
        );
        assert!((measured - target).abs() <= 0.05 * target, "{i:#}");
    }
}

#[test]
fn apply_to_a_twin_process_is_all_or_nothing_and_guarded() {
    let dir = tempfile::tempdir().unwrap();
    let twin = TwinProcess::start(dir.path(), "examples/metro/network.yaml", "20");
    let state = dir.path().join("state.json");
    let st = state.to_str().unwrap();

    let first = strata(&[
        "apply",
        "intents/metro.qi",
        "--agents",
        twin.agents(),
        "--state",
        st,
    ]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let s = status(&twin, st);
    assert_eq!(s["generation"], 1);
    assert!(
        s["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["generation"] == 1),
        "{s:#}"
    );
    assert!(
        s["intents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["state"] == "installed"),
        "{s:#}"
    );

    // A plan saved now, against generation 1.
    let changed = changed_metro(dir.path());
    let saved = dir.path().join("plan.json");
    let plan = strata(&[
        "plan",
        changed.to_str().unwrap(),
        "--state",
        st,
        "-out",
        saved.to_str().unwrap(),
    ]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));

    // Norte refuses to prepare: nothing changes anywhere.
    let refuse = strata(&[
        "twin",
        "fault",
        "--agents",
        twin.agents(),
        "refuse",
        "Norte",
    ]);
    assert_eq!(refuse.status.code(), Some(0), "{}", text(&refuse));
    let failed = strata(&[
        "apply",
        changed.to_str().unwrap(),
        "--agents",
        twin.agents(),
        "--state",
        st,
    ]);
    assert_eq!(failed.status.code(), Some(1));
    let msg = text(&failed);
    assert!(
        msg.contains("could not prepare") && msg.contains("Norte"),
        "{msg}"
    );
    let s = status(&twin, st);
    assert_eq!(s["generation"], 1);
    assert!(
        s["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["generation"] == 1 && n["prepared_generation"] == 0),
        "{s:#}"
    );

    // A second apply while another holds the lock fails with a clear message.
    let held = strata_runtime::state::StateStore::lock(
        &strata_runtime::state::FileStore::new(st),
        "strata apply, pid 999999",
    )
    .unwrap();
    let locked = strata(&[
        "apply",
        "intents/metro.qi",
        "--agents",
        twin.agents(),
        "--state",
        st,
    ]);
    assert_eq!(locked.status.code(), Some(1));
    assert!(
        text(&locked).contains("another apply is running (strata apply, pid 999999)"),
        "{}",
        text(&locked)
    );
    drop(held);

    // Accept again; the saved plan still matches the state and applies.
    strata(&[
        "twin",
        "fault",
        "--agents",
        twin.agents(),
        "accept",
        "Norte",
    ]);
    let with_plan = strata(&[
        "apply",
        changed.to_str().unwrap(),
        "--agents",
        twin.agents(),
        "--state",
        st,
        "--plan",
        saved.to_str().unwrap(),
    ]);
    assert_eq!(with_plan.status.code(), Some(0), "{}", text(&with_plan));
    assert_eq!(status(&twin, st)["generation"], 2);
    // The state has moved on: the same saved plan is now refused.
    let stale = strata(&[
        "apply",
        changed.to_str().unwrap(),
        "--agents",
        twin.agents(),
        "--state",
        st,
        "--plan",
        saved.to_str().unwrap(),
    ]);
    assert_eq!(stale.status.code(), Some(1));
    assert!(text(&stale).contains("state has moved"), "{}", text(&stale));
}

#[test]
fn run_repairs_a_cut_link_and_gets_the_intent_back_to_rate() {
    let dir = tempfile::tempdir().unwrap();
    let twin = TwinProcess::start(dir.path(), "examples/metro/network.yaml", "20");
    let state = dir.path().join("state.json");
    let run = bin()
        .args([
            "run",
            "intents/metro.qi",
            "--agents",
            twin.agents(),
            "--state",
            state.to_str().unwrap(),
            "--intervals",
            "60",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let it apply and settle, then cut the link vpn-core uses into Moncloa.
    let start = Instant::now();
    while !state.exists() {
        assert!(start.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let cut = strata(&[
        "twin",
        "fault",
        "--agents",
        twin.agents(),
        "cut",
        "q-norte-moncloa",
    ]);
    assert_eq!(cut.status.code(), Some(0), "{}", text(&cut));
    let out = run.wait_with_output().unwrap();
    let json: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let events: Vec<&str> = json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        events.contains(&"link q-norte-moncloa is down"),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("re-planned") && e.contains("vpn-core")),
        "{events:#?}"
    );
    let vpn = json["intents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "vpn-core")
        .unwrap();
    assert_eq!(vpn["state"], "installed", "{json:#}");

    // dc-backup (`disjoint paths 2`) lost its first path and is carried by the second.
    let intent = |json: &Value, name: &str| {
        json["intents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name)
            .unwrap()
            .clone()
    };
    let dc = intent(&json, "dc-backup");
    assert_eq!(dc["state"], "degraded", "{json:#}");
    assert!(
        dc["reason"]
            .as_str()
            .unwrap()
            .starts_with("protection lost: path 1 of 2 is down (link q-norte-moncloa)"),
        "{dc:#}"
    );
    assert_eq!(
        (dc["paths"].as_u64(), dc["protected"].as_bool()),
        (Some(1), Some(false))
    );
    assert!(dc["measured"].as_f64().unwrap() >= 0.99 * dc["target"].as_f64().unwrap());
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("dc-backup stays on path 2")),
        "{events:#?}"
    );
    let status = |code: i32| status_with(&twin, state.to_str().unwrap(), &[code]);
    // Not every intent is met: status says so in its exit code.
    let degraded = status(3);
    assert_eq!(intent(&degraded, "dc-backup")["protected"], false);

    // The lost path stayed configured, so the restored link protects dc-backup again.
    let restore = strata(&[
        "twin",
        "fault",
        "--agents",
        twin.agents(),
        "restore",
        "q-norte-moncloa",
    ]);
    assert_eq!(restore.status.code(), Some(0), "{}", text(&restore));
    let back = status(0);
    let dc = intent(&back, "dc-backup");
    assert_eq!(
        (dc["paths"].as_u64(), dc["protected"].as_bool()),
        (Some(2), Some(true)),
        "{back:#}"
    );
    assert_eq!(dc["state"], "installed", "{back:#}");
}

#[test]
fn an_apply_from_a_second_state_file_is_refused_until_pulled_or_forced() {
    let dir = tempfile::tempdir().unwrap();
    let twin = TwinProcess::start(dir.path(), "examples/metro/network.yaml", "50");
    let first = dir.path().join("first/state.json");
    let second = dir.path().join("second/state.json");
    let (a, b) = (first.to_str().unwrap(), second.to_str().unwrap());
    let changed = changed_metro(dir.path());
    let changed = changed.to_str().unwrap();
    let apply = |file: &str, state: &str, extra: &[&str]| {
        let mut args = vec!["apply", file, "--agents", twin.agents(), "--state", state];
        args.extend_from_slice(extra);
        strata(&args)
    };
    for (file, generation) in [("intents/metro.qi", 1), (changed, 2)] {
        let o = apply(file, a, &[]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(
            text(&o).contains(&format!("applied generation {generation}:")),
            "{}",
            text(&o)
        );
    }
    let nodes = |s: &Value| -> Vec<(String, u64)> {
        s["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["node"].as_str().unwrap().to_string(),
                    n["generation"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let s = status(&twin, a);
    assert_eq!(s["warnings"], serde_json::json!([]), "{s:#}");
    let before = nodes(&s);
    assert!(before.iter().any(|(_, g)| *g == 2), "{before:?}");

    // From a second directory's fresh state: refused before any prepare, nothing moves.
    let refused = apply("intents/metro.qi", b, &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let msg = text(&refused);
    for part in [
        "the network runs generation 2 (node `",
        "newer than the state file's generation 0",
        "nothing was applied",
        "`strata state pull --agents FILE`",
        "`--force-generation`",
    ] {
        assert!(msg.contains(part), "{part}: {msg}");
    }
    assert!(!second.exists());
    let s = status(&twin, a);
    assert_eq!(nodes(&s), before, "{s:#}");
    assert!(
        s["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["prepared_generation"] == 0),
        "{s:#}"
    );

    // Forced: generation 3 everywhere.
    let forced = apply("intents/metro.qi", b, &["--force-generation"]);
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced));
    assert!(
        text(&forced).contains("applied generation 3:"),
        "{}",
        text(&forced)
    );
    let s = status(&twin, b);
    assert!(nodes(&s).iter().all(|(_, g)| *g == 3), "{s:#}");
    assert_eq!(s["warnings"], serde_json::json!([]), "{s:#}");

    // The first directory's status now warns, per node, in JSON and on stderr.
    let s = status(&twin, a);
    let warnings = s["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), before.len(), "{s:#}");
    for w in warnings {
        assert_eq!(w["running_generation"], 3, "{w:#}");
        assert_eq!(w["state_generation"], 2, "{w:#}");
        assert_eq!(w["out_of_date_state"], true, "{w:#}");
        let m = w["message"].as_str().unwrap();
        assert!(
            m.contains(&format!(
                "node `{}` runs generation 3",
                w["node"].as_str().unwrap()
            )) && m.contains("the state file (generation 2)")
                && m.contains("strata state pull"),
            "{m}"
        );
    }
    let human = strata(&[
        "status",
        "--agents",
        twin.agents(),
        "--state",
        a,
        "--wait",
        "5",
    ]);
    // vpn-core runs at 10/s where this state file asks 12/s: not met, exit 3.
    assert_eq!(human.status.code(), Some(3), "{}", text(&human));
    let stderr = String::from_utf8_lossy(&human.stderr);
    assert!(
        stderr.contains("warning: node `") && stderr.contains("runs generation 3"),
        "{stderr}"
    );

    // Pull adopts what runs; then the same intents change nothing, and a change applies.
    let pulled = strata(&["state", "pull", "--agents", twin.agents(), "--state", a]);
    assert_eq!(pulled.status.code(), Some(0), "{}", text(&pulled));
    assert!(
        text(&pulled).contains(&format!(
            "adopted generation 3 from {} agent(s)",
            before.len()
        )),
        "{}",
        text(&pulled)
    );
    let plan = strata(&["plan", "intents/metro.qi", "--state", a]);
    assert!(
        text(&plan)
            .contains("No changes: the network already runs this configuration (generation 3)"),
        "{}",
        text(&plan)
    );
    let same = apply("intents/metro.qi", a, &[]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    assert!(
        text(&same).contains("nothing to change: the network already runs generation 3"),
        "{}",
        text(&same)
    );
    let next = apply(changed, a, &[]);
    assert_eq!(next.status.code(), Some(0), "{}", text(&next));
    assert!(
        text(&next).contains("applied generation 4:"),
        "{}",
        text(&next)
    );
    assert_eq!(status(&twin, a)["warnings"], serde_json::json!([]));
}

/// Runs `strata ARGS | READER` in bash with pipefail and returns strata's exit status and
/// what it wrote on stderr.
fn piped(args: &str, reader: &str) -> (i32, String) {
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; \"$STRATA\" {args} | {reader}; echo \"status=${{PIPESTATUS[0]}}\" >&2"
        ))
        .env("STRATA", env!("CARGO_BIN_EXE_strata"))
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    let code = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("status="))
        .next_back()
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status: {stderr}"));
    (code, stderr)
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    // An empty network: the plan lists every object, more than a pipe buffer holds.
    let none = dir.path().join("none.json");
    std::fs::write(
        &none,
        r#"{"generation":0,"config_digest":"","network":"madrid-metro","configs":{"nodes":{}}}"#,
    )
    .unwrap();
    let twin = TwinProcess::start(dir.path(), "examples/metro/network.yaml", "50");
    let state = dir.path().join("state.json");
    let applied = strata(&[
        "apply",
        "intents/metro.qi",
        "--agents",
        twin.agents(),
        "--state",
        state.to_str().unwrap(),
    ]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    let plan = format!("plan intents/metro.qi --state {}", none.display());
    let status = format!(
        "status --json --wait 5 --agents {} --state {}",
        twin.agents(),
        state.display()
    );
    // `true` reads nothing and is gone before strata prints: every write meets a closed
    // pipe. `head -1` is the everyday case.
    for args in [&plan, &format!("{plan} --json"), &status] {
        for reader in ["true", "head -1 >/dev/null", "head -c 1 >/dev/null"] {
            for _ in 0..3 {
                let (code, stderr) = piped(args, reader);
                assert!(
                    (code == 0 || code == 141) && !stderr.contains("panicked"),
                    "strata {args} | {reader}: exit {code}\n{stderr}"
                );
            }
        }
    }
    // Clients that went away mid-stream did not take the twin down with them.
    let o = strata(&[
        "status",
        "--agents",
        twin.agents(),
        "--state",
        state.to_str().unwrap(),
        "--wait",
        "5",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("unreachable"), "{}", text(&o));
}
