//! `strata apply` and `strata agent` processes killed with SIGKILL at every step of a
//! two-phase apply — the apply after reading, after every vote, after recording its
//! decision, after committing, after rolling back, after recording its result; an agent on
//! receiving a prepare, after voting, on receiving a commit, after committing — one step
//! after another in a loop, each reached deterministically with `STRATA_TEST_CRASH_AT`
//! (the process stops there and says so, and the test kills it). After each death the killed
//! agents (or all of them) restart from their state directory, the next apply resolves what
//! was left in doubt, and the test checks that every node runs one generation with one
//! digest — the state's — with nothing staged, and that the apply after that has nothing to
//! change.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};
use strata_runtime::agents::Agents;
use strata_runtime::crash_point::{Step, VAR, marker};
use strata_runtime::running::probe;
use strata_runtime::state::{FileStore, StateStore};

/// How long a process may take to reach a step before the test calls it hung. Only a hang
/// trips it: every step is reached in well under a second.
const HANG: Duration = Duration::from_secs(60);

/// A process whose standard error is read line by line as it comes.
struct Proc {
    child: Child,
    stderr: Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the strata binary runs");
        let (tx, rx) = channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Proc {
            child,
            stderr: rx,
            seen: Vec::new(),
        }
    }

    /// Waits until the process says it stopped at `step`.
    fn wait_for(&mut self, step: Step) {
        let want = marker(step);
        let start = Instant::now();
        loop {
            let left = HANG.saturating_sub(start.elapsed());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line == want => return,
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("never reached {}: {:#?}", step.name(), self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "ended ({:?}) before {}: {:#?}",
                    self.child.try_wait(),
                    step.name(),
                    self.seen
                ),
            }
        }
    }

    /// SIGKILL, as `kill -9` sends it.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to end on its own; its standard output and error.
    fn finish(mut self) -> String {
        let start = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(start.elapsed() < HANG, "hung: {:#?}", self.seen);
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut out = String::new();
        std::io::Read::read_to_string(self.child.stdout.as_mut().unwrap(), &mut out).unwrap();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        format!("{out}{}", self.seen.join("\n"))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A chain A — R — B (R a trusted relay) with its agents' state directory, agents file,
/// state file and the agents themselves.
struct Net {
    dir: tempfile::TempDir,
    ports: Vec<(String, u16)>,
    agents: Vec<Option<Proc>>,
}

const NODES: [&str; 3] = ["A", "R", "B"];

impl Net {
    fn new() -> Net {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("net.yaml"),
            "name: chain\ndomains: [{ name: d, operator: Op, trust: trusted }]\nnodes:\n  - { name: A, domain: d, role: endpoint }\n  - { name: R, domain: d, role: trusted-relay }\n  - { name: B, domain: d, role: endpoint }\nclassical_links:\n  - { name: c1, ends: [A, R], bandwidth_bps: 1.0e9, latency_ms: 1 }\n  - { name: c2, ends: [R, B], bandwidth_bps: 1.0e9, latency_ms: 1 }\nqkd_links:\n  - { name: q1, ends: [A, R], length_km: 20, skr_bps: 1.0e5, qber: 0.02, classical_path: [c1] }\n  - { name: q2, ends: [R, B], length_km: 20, skr_bps: 1.0e5, qber: 0.02, classical_path: [c2] }\n",
        )
        .unwrap();
        let ports: Vec<(String, u16)> =
            NODES.iter().map(|n| (n.to_string(), free_port())).collect();
        let agents = ports
            .iter()
            .map(|(n, p)| format!("\"{n}\": \"127.0.0.1:{p}\""))
            .collect::<Vec<_>>()
            .join(", ");
        std::fs::write(
            dir.path().join("agents.json"),
            format!("{{\"network\": \"chain\", \"agents\": {{{agents}}}}}"),
        )
        .unwrap();
        let mut net = Net {
            dir,
            agents: ports.iter().map(|_| None).collect(),
            ports,
        };
        for i in 0..NODES.len() {
            net.start(i, None);
        }
        net
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts agent `i` (stopping at `step` when given) and waits until it listens.
    fn start(&mut self, i: usize, step: Option<Step>) {
        let (node, port) = self.ports[i].clone();
        let mut cmd = bin();
        cmd.args(["agent", "--node", &node, "--insecure-dev", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--state-dir")
            .arg(self.path("agents"));
        if let Some(step) = step {
            cmd.env(VAR, step.name());
        }
        self.agents[i] = Some(Proc::spawn(cmd));
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < HANG, "agent {node} did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut a) = self.agents[i].take() {
            a.kill();
        }
    }

    /// The intent between A and B at `rate` keys per second, in its own file.
    fn intents(&self, rate: u32) -> PathBuf {
        let file = self.path(&format!("keys-{rate}.qi"));
        std::fs::write(
            &file,
            format!(
                "use network \"net.yaml\"\nintent k: keys of 256 bits between A and B, {rate}/s\n"
            ),
        )
        .unwrap();
        file
    }

    /// `strata apply` of `intents`, stopping at `step` when given.
    fn apply(&self, intents: &Path, step: Option<Step>) -> Proc {
        let mut cmd = bin();
        cmd.arg("apply")
            .arg(intents)
            .arg("--agents")
            .arg(self.path("agents.json"))
            .arg("--state")
            .arg(self.path("state.json"))
            .args(["--intervals", "0", "--timeout", "5"]);
        if let Some(step) = step {
            cmd.env(VAR, step.name());
        }
        Proc::spawn(cmd)
    }

    /// Every node runs the generation and digest the state records for the whole
    /// configuration, nothing is staged and no decision is left in doubt.
    fn assert_one_generation(&self, what: &str) -> u64 {
        let state = FileStore::new(self.path("state.json"))
            .load()
            .unwrap()
            .unwrap_or_else(|| panic!("{what}: no state"));
        assert_eq!(state.decided, None, "{what}: a decision is left in doubt");
        let agents = Agents::load(&self.path("agents.json")).unwrap();
        let running = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(probe(&agents, Duration::from_secs(10)));
        for (node, r) in &running {
            let r = r
                .as_ref()
                .unwrap_or_else(|e| panic!("{what}: {node} did not answer: {e}"));
            assert_eq!(
                (r.generation, r.digest.as_str(), r.prepared_generation),
                (state.generation, state.config_digest.as_str(), 0),
                "{what}: node {node} against the state's generation {}",
                state.generation
            );
        }
        state.generation
    }
}

/// An apply that did its work: it says which generation the network runs.
fn assert_applied(out: &str, what: &str) -> u64 {
    assert!(!out.contains("error:"), "{what}: {out}");
    let generation = out
        .lines()
        .find_map(|l| {
            l.strip_prefix("applied generation ").or_else(|| {
                l.strip_prefix("nothing to change: the network already runs generation ")
            })
        })
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|g| g.parse().ok());
    generation.unwrap_or_else(|| panic!("{what}: no generation in {out}"))
}

/// Who stops where and is killed in one round.
#[derive(Debug, Clone, Copy)]
enum Round {
    /// The apply stops at the step and is killed; then every agent too when `true`.
    Apply(Step, bool),
    /// Agent B stops at the step and is killed; the apply goes on and ends as it must
    /// (aborted, rolled back).
    Agent(Step),
    /// Agent B stops at the step; the apply, waiting on it, is killed, then B, then every
    /// agent when `true`.
    Both(Step, bool),
    /// Agent B stops at the first step and is killed; the apply, going on, stops at the
    /// second and is killed.
    AgentThenApply(Step, Step),
}

#[test]
fn applies_and_agents_killed_at_every_step_leave_one_generation() {
    use Round::*;
    use Step::*;
    // Each round, with what the next apply finds: how far past the last generation the
    // network ends, and whether the dead apply's decided generation is completed (recorded
    // by the next apply) rather than aborted or passed.
    let rounds = [
        (Apply(ApplyRead, false), 1, false),
        (Apply(ApplyPrepared, false), 1, false),
        (Apply(ApplyPrepared, true), 1, false),
        (Apply(ApplyDecided, false), 1, true),
        (Apply(ApplyDecided, true), 1, true),
        (Apply(ApplyCommitted, false), 1, true),
        (Apply(ApplyCommitted, true), 1, true),
        (Apply(ApplySaved, false), 1, false),
        (Agent(AgentPrepare), 1, false),
        (Both(AgentPrepare, false), 1, false),
        (Agent(AgentVoted), 1, false),
        (Both(AgentVoted, true), 1, false),
        // A rolled-back generation's number is not used again.
        (Agent(AgentCommit), 2, false),
        (AgentThenApply(AgentCommit, ApplyRolledBack), 2, false),
        (Both(AgentCommit, true), 1, true),
        (Agent(AgentCommitted), 2, false),
        (Both(AgentCommitted, false), 1, true),
    ];
    let mut net = Net::new();
    let b = NODES.iter().position(|n| *n == "B").unwrap();
    let first = net.apply(&net.intents(10), None).finish();
    let mut generation = assert_applied(&first, "first apply");
    assert_eq!(net.assert_one_generation("first apply"), generation);

    for (i, (r, ahead, completed)) in rounds.iter().enumerate() {
        let what = format!("round {i} {r:?}");
        let intents = net.intents(11 + i as u32);
        let (apply_step, agent_step, restart_all) = match *r {
            Apply(step, all) => (Some(step), None, all),
            Agent(step) => (None, Some(step), false),
            Both(step, all) => (None, Some(step), all),
            AgentThenApply(agent, apply) => (Some(apply), Some(agent), false),
        };
        if let Some(step) = agent_step {
            net.kill(b);
            net.start(b, Some(step));
        }
        let mut apply = net.apply(&intents, apply_step);
        if let Some(step) = agent_step {
            net.agents[b].as_mut().unwrap().wait_for(step);
        }
        match *r {
            Apply(step, _) => {
                apply.wait_for(step);
                apply.kill();
            }
            Agent(_) => {
                net.kill(b);
                let out = apply.finish();
                assert!(
                    out.contains("error:"),
                    "{what}: the apply went through: {out}"
                );
            }
            Both(..) => {
                apply.kill();
                net.kill(b);
            }
            AgentThenApply(_, step) => {
                net.kill(b);
                apply.wait_for(step);
                apply.kill();
            }
        }
        if restart_all {
            for a in 0..NODES.len() {
                net.kill(a);
            }
        }
        for a in 0..NODES.len() {
            if net.agents[a].is_none() {
                net.start(a, None);
            }
        }

        // The next apply of the same intents resolves what was left and goes through.
        let out = net.apply(&intents, None).finish();
        let g = assert_applied(&out, &what);
        assert_eq!(g, generation + ahead, "{what}: {out}");
        assert_eq!(
            out.contains(&format!(
                "recorded generation {g}, which an earlier apply decided"
            )),
            *completed,
            "{what}: {out}"
        );
        assert_eq!(net.assert_one_generation(&what), g, "{what}: {out}");
        generation = g;
        // And the one after it has nothing to change.
        let again = net.apply(&intents, None).finish();
        assert!(
            again.contains(&format!(
                "nothing to change: the network already runs generation {g}"
            )),
            "{what}: {again}"
        );
    }

    // `strata status` sees every node on the state's generation and digest.
    let status = strata(&[
        "status",
        "--agents",
        net.path("agents.json").to_str().unwrap(),
        "--state",
        net.path("state.json").to_str().unwrap(),
        "--json",
        "--wait",
        "2",
    ]);
    let json: serde_json::Value =
        serde_json::from_slice(&status.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&status)));
    assert_eq!(json["warnings"], serde_json::json!([]), "{json:#}");
    let nodes = json["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), NODES.len());
    for n in nodes {
        assert_eq!(n["generation"], generation, "{json:#}");
        assert_eq!(n["prepared_generation"], 0, "{json:#}");
        assert_eq!(n["digest"], nodes[0]["digest"], "{json:#}");
    }
}
