//! Replicated `strata run` on a real etcd on loopback: one elected leader, a standby that
//! takes over from a killed one without re-applying and repairs a later cut, and a leader
//! fenced off once its election lease is gone.

mod common;

use common::etcd::Etcd;
use common::twin_process::{TwinProcess, state, status, store};
use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strata_runtime::state::{StateStore, StoreError};

fn leader_lease(etcd: &Etcd, prefix: &str) -> String {
    let term: Value = serde_json::from_str(&etcd.get(&format!("{prefix}/term"))).unwrap();
    let key = term["key"].as_str().unwrap();
    key.rsplit('/').next().unwrap().to_string()
}

#[test]
fn a_leader_whose_election_lease_is_revoked_cannot_commit_and_the_next_candidate_leads() {
    let etcd = Etcd::start(1);
    let url = etcd.url("strata/elect");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let a = store(&url);
    a.save(&state(1, "one")).unwrap();
    assert_eq!(a.leader().unwrap(), None, "nobody campaigns yet");

    let ca = a.candidate("controller a", 5).unwrap();
    let mut campaign_a = ca.campaign();
    let leading_a = rt.block_on(campaign_a.won()).unwrap();
    assert_eq!(leading_a.leadership.term, 1);
    let info = a.leader().unwrap().unwrap();
    assert_eq!((info.holder.as_str(), info.term), ("controller a", Some(1)));

    // b stands by while a leads.
    let b = store(&url);
    let cb = b.candidate("controller b", 5).unwrap();
    let mut campaign_b = cb.campaign();
    let early = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(2), campaign_b.won())
            .await
            .is_ok()
    });
    assert!(!early, "b won while a leads");

    // a commits under its leadership; its apply lock lives on the election lease.
    a.load().unwrap();
    let guard = a.lock("controller a").unwrap();
    assert_eq!(etcd.get("/strata/elect/lock"), "controller a");
    a.save(&state(2, "two")).unwrap();
    drop(guard);
    assert!(
        !etcd
            .keys("/strata/elect/")
            .iter()
            .any(|k| k.ends_with("/lock"))
    );

    // The lease ends under a (as when etcd expires it): its next commit is refused.
    let o = etcd.ctl(&["lease", "revoke", &leader_lease(&etcd, "/strata/elect")]);
    assert!(o.status.success(), "{}", text(&o));
    a.load().unwrap();
    let err = a.save(&state(3, "three")).unwrap_err();
    assert!(matches!(err, StoreError::Deposed(..)), "{err:?}");
    assert!(
        err.to_string()
            .contains("no longer leads: its term 1 ended"),
        "{err}"
    );
    let err = a.lock("controller a").unwrap_err();
    assert!(matches!(err, StoreError::Deposed(..)), "{err:?}");
    assert_eq!(etcd.get("/strata/elect/generation"), "2");

    // a learns it no longer leads; b leads in term 2 and commits.
    let why = rt.block_on(async {
        let mut leading_a = leading_a;
        leading_a.lost().await
    });
    assert!(why.contains("lease is gone"), "{why}");
    let leading_b = rt.block_on(campaign_b.won()).unwrap();
    assert_eq!(leading_b.leadership.term, 2);
    b.load().unwrap();
    let guard = b.lock("controller b").unwrap();
    b.save(&state(3, "three")).unwrap();
    drop(guard);
    assert_eq!(etcd.get("/strata/elect/generation"), "3");
    let info = a.leader().unwrap().unwrap();
    assert_eq!((info.holder.as_str(), info.term), ("controller b", Some(2)));

    // Resigning hands leadership over at once: nobody leads now.
    rt.block_on(leading_b.resign());
    assert_eq!(a.leader().unwrap(), None);
}

/// A `strata run` process on the twin and an etcd state, its output (standard output and
/// error) collected line by line as it comes; killed when dropped.
struct RunProcess {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl RunProcess {
    fn start(twin: &TwinProcess, url: &str, extra: &[&str]) -> RunProcess {
        let mut child = bin()
            .args(["run", "intents/metro.qi", "--agents", twin.agents()])
            .args(["--state", url, "--timeout", "20"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for stream in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        RunProcess { child, lines }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits (two minutes at most) for a line that `matches`, after line `from`; its index.
    fn wait_for(&self, from: usize, what: &str, matches: impl Fn(&str) -> bool) -> usize {
        let start = Instant::now();
        loop {
            let lines = self.lines();
            if let Some(i) = lines.iter().skip(from).position(|l| matches(l)) {
                return from + i;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "no line {what} from pid {}:\n{}",
                self.pid(),
                lines.join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the event log line whose message is `message`, after line `from`.
    fn wait_event(&self, from: usize, message: &str) -> usize {
        self.wait_for(from, &format!("`{message}`"), |l| {
            l.split_once("] ").is_some_and(|(_, m)| m == message)
        })
    }

    /// Sends `signal` (`-KILL`, `-STOP`, `-CONT`) with kill(1).
    fn signal(&self, signal: &str) {
        let o = std::process::Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
}

impl Drop for RunProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Who `status --json` says leads: the holder's pid and the term.
fn leader_of(twin: &TwinProcess, url: &str) -> (u32, u64) {
    let s = status(twin, url);
    let holder = s["leader"]["holder"]
        .as_str()
        .unwrap_or_else(|| panic!("{s:#}"));
    let pid = holder.rsplit("pid ").next().unwrap().parse().unwrap();
    (pid, s["leader"]["term"].as_u64().unwrap())
}

/// The OpenMetrics text a `strata run --metrics` serves, from the address it printed.
fn scrape(run: &RunProcess) -> String {
    use std::io::{Read, Write};
    let line = run.wait_for(0, "serving metrics", |l| l.contains("/metrics"));
    let line = &run.lines()[line];
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw
}

fn fault(twin: &TwinProcess, what: &str, link: &str) {
    let o = strata(&["twin", "fault", "--agents", twin.agents(), what, link]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn a_killed_leader_is_replaced_by_a_standby_that_resumes_without_reapplying_and_repairs() {
    let etcd = Etcd::start(1);
    let dir = tempfile::tempdir().unwrap();
    let twin = TwinProcess::start(dir.path());
    let url = etcd.url("strata/metro");

    let a = RunProcess::start(&twin, &url, &[]);
    a.wait_event(0, "became leader (term 1)");
    a.wait_for(0, "applying generation 1", |l| {
        l.ends_with("applied generation 1 to 10 node(s)")
    });
    let b = RunProcess::start(&twin, &url, &["--metrics", "127.0.0.1:0"]);
    let standing = format!("pid {} leads", a.pid());
    b.wait_for(0, "standing by", |l| {
        l.contains("standing by: ") && l.ends_with(&standing)
    });
    let metrics = scrape(&b);
    assert!(
        metrics.contains("\nstrata_controller_leader{network=\"madrid-metro\"} 0\n"),
        "{metrics}"
    );

    // status names the leader, in JSON and for people.
    assert_eq!(leader_of(&twin, &url), (a.pid(), 1));
    let o = strata(&["status", "--agents", twin.agents(), "--state", &url]);
    assert!(
        text(&o).contains("\nleader: strata run on ")
            && text(&o).contains(&format!(", pid {} (term 1)\n", a.pid())),
        "{}",
        text(&o)
    );
    let s = status(&twin, &url);
    assert_eq!(s["generation"], 1, "{s:#}");
    assert!(
        s["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["generation"] == 1),
        "{s:#}"
    );

    // The leader dies mid-loop; a link is cut after it died.
    a.signal("-KILL");
    fault(&twin, "cut", "q-norte-moncloa");
    let took = b.wait_event(0, "became leader (term 2)");
    // It resumes from the stored generation: nothing applied, the nodes stay on 1 …
    let resumed = b.wait_event(took, "configuration already in place (generation 1)");
    b.wait_for(resumed, "saying nothing changed", |l| {
        l == "nothing to change: the network already runs generation 1"
    });
    // … and repairs the cut as generation 2, the first it makes.
    let down = b.wait_event(resumed, "link q-norte-moncloa is down");
    let repaired = b.wait_for(down, "re-planning vpn-core", |l| {
        l.contains("] re-planned ") && l.contains("vpn-core") && l.contains("; generation 2 on ")
    });
    let lines = b.lines();
    assert!(
        !lines.iter().any(|l| l.contains("applied generation")),
        "{lines:#?}"
    );
    assert!(
        !lines[..repaired].iter().any(|l| l.contains("generation 2")),
        "{lines:#?}"
    );
    assert_eq!(etcd.get("/strata/metro/generation"), "2");
    assert_eq!(leader_of(&twin, &url), (b.pid(), 2));
    let metrics = scrape(&b);
    for (metric, value) in [("leader", 1), ("leader_term", 2)] {
        assert!(
            metrics.contains(&format!(
                "\nstrata_controller_{metric}{{network=\"madrid-metro\"}} {value}\n"
            )),
            "{metrics}"
        );
    }

    // The next leader takes over from the re-plan without undoing it, and once it has
    // heard from every node with nothing down it returns to the plan.
    let c = RunProcess::start(&twin, &url, &[]);
    let standing = format!("pid {} leads", b.pid());
    c.wait_for(0, "standing by", |l| {
        l.contains("standing by: ") && l.ends_with(&standing)
    });
    b.signal("-KILL");
    fault(&twin, "restore", "q-norte-moncloa");
    let took = c.wait_event(0, "became leader (term 3)");
    let kept = c.wait_event(
        took,
        "resuming on generation 2 as the previous leader left it (re-planned around a failure); back to the plan once nothing is down",
    );
    let same = c.wait_event(kept, "configuration already in place (generation 2)");
    let back = c.wait_event(
        same,
        "nothing is down: re-optimising the whole network back to the plan",
    );
    c.wait_for(back, "returning to the plan", |l| {
        l.contains("] re-planned ") && l.contains("; generation 3 on ")
    });
    assert_eq!(etcd.get("/strata/metro/generation"), "3");
    let start = Instant::now();
    loop {
        let s = status(&twin, &url);
        let met = s["intents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["state"] == "installed");
        if met && s["warnings"] == serde_json::json!([]) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{s:#}");
    }
    assert_eq!(leader_of(&twin, &url), (c.pid(), 3));
}

#[test]
fn a_paused_leader_whose_lease_is_revoked_applies_nothing_when_it_wakes() {
    let etcd = Etcd::start(1);
    let dir = tempfile::tempdir().unwrap();
    let twin = TwinProcess::start(dir.path());
    let url = etcd.url("strata/metro");

    // A long lease: the paused leader would still think it leads when it wakes.
    let a = RunProcess::start(&twin, &url, &["--lease-ttl", "60"]);
    a.wait_event(0, "became leader (term 1)");
    a.wait_for(0, "applying generation 1", |l| {
        l.ends_with("applied generation 1 to 10 node(s)")
    });
    let b = RunProcess::start(&twin, &url, &[]);
    let standing = format!("pid {} leads", a.pid());
    b.wait_for(0, "standing by", |l| {
        l.contains("standing by: ") && l.ends_with(&standing)
    });

    // The leader stalls (as in a long pause of its host) and its lease is revoked.
    a.signal("-STOP");
    let paused = a.lines().len();
    let o = etcd.ctl(&["lease", "revoke", &leader_lease(&etcd, "/strata/metro")]);
    assert!(o.status.success(), "{}", text(&o));
    let took = b.wait_event(0, "became leader (term 2)");
    fault(&twin, "cut", "q-norte-moncloa");
    b.wait_for(took, "repairing the cut", |l| {
        l.contains("] re-planned ") && l.contains("; generation 2 on ")
    });
    assert_eq!(etcd.get("/strata/metro/generation"), "2");

    // It wakes with the cut in its telemetry and its term over: whether it learns that from
    // its lease or from its store refusing to lock or commit, it applies nothing.
    a.signal("-CONT");
    let lost = a.wait_for(paused, "losing leadership", |l| {
        l.contains("] lost leadership (term 1): ")
    });
    let standing = format!("pid {} leads", b.pid());
    a.wait_for(lost, "standing by again", |l| {
        l.contains("standing by: ") && l.ends_with(&standing)
    });
    let lines = a.lines();
    let applied = |l: &String| {
        l.contains("re-planned") || l.contains("applied generation 2") || l.contains("generation 3")
    };
    assert!(!lines[paused..].iter().any(applied), "{lines:#?}");
    println!("the paused leader woke: {}", lines[lost]);
    assert!(
        lines[lost].contains("its election lease is gone")
            || lines[lost].contains("no longer leads: its term 1 ended"),
        "{}",
        lines[lost]
    );
    assert_eq!(etcd.get("/strata/metro/generation"), "2");
    assert_eq!(leader_of(&twin, &url), (b.pid(), 2));
    let s = status(&twin, &url);
    assert_eq!(s["warnings"], serde_json::json!([]), "{s:#}");
}
