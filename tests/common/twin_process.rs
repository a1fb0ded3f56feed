//! A `strata twin up` of the metro example for the tests that keep state in etcd, and the
//! binary's apply and status against it.

use super::{bin, strata, text};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use strata_runtime::etcd::EtcdLocation;
use strata_runtime::etcd_store::EtcdStore;
use strata_runtime::state::{NodeGeneration, State};

/// A `strata twin up` process, killed when dropped.
pub struct TwinProcess {
    pub child: Child,
    pub agents: PathBuf,
}

impl TwinProcess {
    pub fn start(dir: &Path) -> TwinProcess {
        let agents = dir.join("agents.json");
        let child = bin()
            .args(["twin", "up", "examples/metro/network.yaml", "--speed", "20"])
            .args(["--agents-file", agents.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !agents.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "twin did not come up"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        TwinProcess { child, agents }
    }

    pub fn agents(&self) -> &str {
        self.agents.to_str().unwrap()
    }
}

impl Drop for TwinProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn apply(twin: &TwinProcess, file: &str, state: &str) -> std::process::Output {
    strata(&[
        "apply",
        file,
        "--agents",
        twin.agents(),
        "--state",
        state,
        "--timeout",
        "20",
    ])
}

/// An apply committed `generation` and ran to its end. Whether every intent was measured at
/// its rate before the apply stopped watching (exit 0, else 1) is the twin's pace on a loaded
/// machine, not the state store's, so either is accepted — but not an error.
pub fn committed(o: &std::process::Output, generation: u64) {
    let out = text(o);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{out}");
    assert!(!out.contains("error:"), "{out}");
    assert!(
        out.contains(&format!("applied generation {generation}:")),
        "{out}"
    );
    assert!(
        out.contains("intent(s) met, as measured by the agents"),
        "{out}"
    );
}

pub fn status(twin: &TwinProcess, state: &str) -> Value {
    let o = strata(&[
        "status",
        "--agents",
        twin.agents(),
        "--state",
        state,
        "--json",
    ]);
    assert!(matches!(o.status.code(), Some(0 | 3)), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

pub fn store(url: &str) -> EtcdStore {
    EtcdStore::new(EtcdLocation::parse(url).unwrap()).unwrap()
}

pub fn state(generation: u64, digest: &str) -> State {
    State {
        generation,
        config_digest: digest.into(),
        network: "madrid-metro".into(),
        nodes: [(
            "norte".to_string(),
            NodeGeneration {
                generation,
                digest: digest.into(),
            },
        )]
        .into(),
        ..State::default()
    }
}
