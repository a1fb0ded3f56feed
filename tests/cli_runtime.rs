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

fn status(twin: &TwinProcess, state: &str) -> Value {
    let o = strata(&[
        "status",
        "--agents",
        twin.agents(),
        "--state",
        state,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
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
    let changed = dir.path().join("changed.qi");
    let src = std::fs::read_to_string("intents/metro.qi")
        .unwrap()
        .replace("fidelity ≥0.95, 10/s", "fidelity ≥0.95, 12/s");
    std::fs::write(
        &changed,
        src.replace(
            "../examples/",
            &format!("{}/examples/", env!("CARGO_MANIFEST_DIR")),
        ),
    )
    .unwrap();
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
    std::fs::write(
        dir.path().join("state.json.lock"),
        "strata apply, pid 999999\n",
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
    std::fs::remove_file(dir.path().join("state.json.lock")).unwrap();

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
}
