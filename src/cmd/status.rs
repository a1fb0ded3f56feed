//! `strata status`: each intent's state from the agents' measured delivery, once, each
//! node's generation and digest, a warning for every node that runs something other than the
//! state says (another generation, or the same one with another digest) or holds a
//! generation staged, and with a state on etcd which `strata run` leads. Exits 0 when every
//! intent is met, 3 when any is not (pending, degraded, unsatisfiable, failed), 1 on error.

use crate::Outcome;
use anyhow::Context;
use std::path::PathBuf;
use std::time::Duration;
use strata_runtime::agents::Agents;
use strata_runtime::control::subscribe;
use strata_runtime::monitor::{IntentState, Monitor, WARMUP, table};
use strata_runtime::running::{disagreements, probe};

/// Show each applied intent's target, measured rate and state.
///
/// States: `installed` — delivered at its target, as measured by the agents; `pending` —
/// applied, and not measured at its target yet; `degraded` — delivered below its target or
/// without its protection (the reason is shown); `unsatisfiable` — the network cannot
/// admit it in full (the bottleneck is shown); `failed` — nothing is delivered (the
/// reason is shown). With a state on etcd it names the `strata run` that leads and its term.
/// Exit status 0 when every intent is installed, 3 when some is not.
#[derive(clap::Args)]
pub struct Args {
    /// Agents file (node → address).
    #[arg(long, value_name = "FILE", default_value = super::twin::DEFAULT_AGENTS_PATH)]
    agents: PathBuf,
    /// State file of the last apply [default: .strata/state.json]; given explicitly, it
    /// must exist.
    /// `etcd://HOST:PORT[,HOST:PORT…]/PREFIX` keeps it in etcd instead.
    #[arg(long, value_name = "FILE|etcd://…", env = "STRATA_STATE")]
    state: Option<String>,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
    /// Output format; `--json` is the same as `--format json`.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = super::PrintFormat::Human)]
    format: super::PrintFormat,
    /// Seconds to listen to telemetry at most.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = super::numeric::seconds)]
    wait: f64,
}

impl Args {
    pub fn run(mut self) -> anyhow::Result<Outcome> {
        self.json |= self.format == super::PrintFormat::Json;
        tokio::runtime::Runtime::new()?.block_on(async move {
            let (store, _) = super::open_state(self.state.as_deref())?;
            let agents = Agents::load(&self.agents).map_err(anyhow::Error::msg)?;
            let state = store.load()?.context("nothing has been applied yet (no state)")?;
            // Which `strata run` leads, when controllers share the state on etcd.
            let leader = match strata_runtime::etcd_store::EtcdStore::of(&*store) {
                Some(etcd) => Some(etcd.leader()?),
                None => None,
            };
            let summary = state.summary.clone().context("the state holds no compile summary; apply again")?;
            let mut monitor = Monitor::new(summary);
            let mut rx = subscribe(&agents, Duration::from_millis(200));
            let want = (WARMUP as usize + 2) * agents.agents.len();
            let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(self.wait);
            let mut heard = false;
            for _ in 0..want {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(s)) => {
                        heard |= s.up;
                        monitor.observe(&s);
                    }
                    _ => break,
                }
            }
            if !heard {
                anyhow::bail!(
                    "no agent of `{}` answered within {} s: is the network (or `strata twin up`) running, and is `{}` its agents file?",
                    agents.network,
                    self.wait,
                    self.agents.display()
                );
            }
            let statuses = monitor.statuses();
            let running = probe(&agents, Duration::from_secs(2)).await;
            let nodes: Vec<_> = running
                .iter()
                .map(|(node, r)| match r {
                    Ok(r) => serde_json::json!({ "node": node, "up": true, "generation": r.generation, "digest": r.digest, "prepared_generation": r.prepared_generation, "prepared_digest": r.prepared_digest }),
                    Err(_) => serde_json::json!({ "node": node, "up": false }),
                })
                .collect();
            // The state and the agents disagree: someone applied from another state file,
            // or a node fell behind.
            let disagree = disagreements(&state, &running);
            let warnings: Vec<_> = disagree
                .iter()
                .map(|d| serde_json::json!({ "node": d.node, "state_generation": d.state_generation, "expected_generation": d.expected.generation, "running_generation": d.running.generation, "out_of_date_state": d.foreign, "message": d.to_string() }))
                .collect();
            if self.json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "generation": state.generation, "intents": statuses, "nodes": nodes, "warnings": warnings, "leader": leader.flatten() }))?
                );
            } else {
                for d in &disagree {
                    eprintln!("warning: {d}");
                }
                outln!("generation {}", state.generation);
                match &leader {
                    Some(Some(l)) => outln!(
                        "leader: {}{}",
                        l.holder,
                        l.term.map_or_else(String::new, |t| format!(" (term {t})"))
                    ),
                    Some(None) => outln!("leader: none (no `strata run` leads this network now)"),
                    None => {}
                }
                out!("{}", table(&statuses, monitor.now()));
                for n in &nodes {
                    let name = n["node"].as_str().unwrap_or("");
                    let Some(g) = n["generation"].as_u64() else {
                        outln!("  {name:<24} unreachable");
                        continue;
                    };
                    let digest = short_digest(n["digest"].as_str().unwrap_or(""));
                    match n["prepared_generation"].as_u64().filter(|p| *p != 0) {
                        Some(p) => {
                            eprintln!(
                                "warning: node `{name}` holds generation {p} staged (an apply stopped part-way): the next `strata apply` commits it if that apply recorded its decision, and aborts it otherwise"
                            );
                            outln!("  {name:<24} generation {g} ({digest}), generation {p} staged");
                        }
                        None => outln!("  {name:<24} generation {g} ({digest})"),
                    }
                }
            }
            let all_met = statuses.iter().all(|s| s.state == IntentState::Installed);
            Ok(if all_met { Outcome::Ok } else { Outcome::NotMet })
        })
    }
}

/// The first 12 hex digits of a configuration digest, enough to tell generations apart by
/// eye; "no configuration" for a node that runs none.
fn short_digest(digest: &str) -> String {
    if digest.is_empty() {
        return "no configuration".into();
    }
    format!("digest {}", digest.get(..12).unwrap_or(digest))
}
