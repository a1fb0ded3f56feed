//! `strata apply` and `strata run`: compile, plan and push the configuration to the agents
//! in two phases, then watch measured delivery. With no `--agents`, an embedded digital
//! twin of the inventory is started and is the target. `run` (or `apply --watch`) keeps
//! watching and repairs the network when it drifts. Several `run`s of one network on an
//! etcd state elect a leader: only it applies, the others stand by and take over when its
//! election lease ends.

mod replica;

use super::{Checked, checked_network, print_diagnostics};
use crate::Outcome;
use anyhow::{Context, bail};
use replica::{Replica, deposed, lost};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;
use strata_runtime::agents::Agents;
use strata_runtime::apply::{ApplyError, ApplyOptions, ApplyReport, Resolved};
use strata_runtime::control::{Controller, DEFAULT_HOLD_OFF_S, LogLine, subscribe};
use strata_runtime::election::{Candidate, DEFAULT_LEASE_TTL_S, Leading};
use strata_runtime::etcd::EtcdLocation;
use strata_runtime::etcd_store::EtcdStore;
use strata_runtime::monitor::{IntentState, IntentStatus, TOLERANCE, table};
use strata_runtime::saved_plan::SavedPlan;
use strata_runtime::state::{DEFAULT_STATE_PATH, MemoryStore, StateStore, StoreError};
use strata_runtime::twin::host::{Twin, TwinOptions};

/// Apply intents to the network's agents (or to an embedded digital twin) and show them met.
#[derive(clap::Args)]
pub struct Args {
    /// Intent files (all for the same network).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Agents file written by `strata twin up` (node → address). Without it, an embedded
    /// twin of the inventory is started.
    #[arg(long, value_name = "FILE")]
    agents: Option<PathBuf>,
    /// State file of the last apply (used with `--agents`) [default: .strata/state.json];
    /// written by the apply.
    /// `etcd://HOST:PORT[,HOST:PORT…]/PREFIX` keeps it in etcd instead.
    #[arg(long, value_name = "FILE|etcd://…", env = "STRATA_STATE")]
    state: Option<String>,
    /// Apply this saved plan (from `strata plan -out`) instead of compiling anew; refused if
    /// the state moved since it was made.
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// Embedded twin: simulated seconds per real second (20× so that the walkthrough ends
    /// in seconds; a twin of `strata twin up` runs at real time).
    #[arg(long, value_name = "FACTOR", default_value_t = 20.0, value_parser = super::numeric::speed)]
    speed: f64,
    /// Keep watching telemetry and repair drift (what `strata run` does).
    #[arg(long)]
    watch: bool,
    /// Stop watching after this many telemetry intervals [default: until interrupted].
    #[arg(long, value_name = "N")]
    intervals: Option<u64>,
    /// Print the final status as JSON.
    #[arg(long)]
    json: bool,
    /// Output format; `--json` is the same as `--format json`.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = super::PrintFormat::Human)]
    format: super::PrintFormat,
    /// Seconds to wait for any agent call.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0, value_parser = super::numeric::timeout)]
    timeout: f64,
    /// Use this inventory instead of the files' `use network`.
    #[arg(long, value_name = "FILE")]
    network: Option<PathBuf>,
    /// What each priority class maximises: `fair` (default) raises every intent of a class
    /// to the largest equal share of its request it can have (water-filling), then the most
    /// in total; `throughput` the most in total, whichever intent starves. A policy's
    /// `objective throughput` applies to the intents it selects.
    #[arg(long, value_enum, default_value_t = super::ObjectiveArg::Fair)]
    objective: super::ObjectiveArg,
    /// Seconds of the agents' clock a failed link or node must stay up before the intents
    /// moved off it are moved back (flap damping).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_HOLD_OFF_S, value_parser = super::numeric::seconds)]
    hold_off: f64,
    /// Apply even though the agents run a generation the state file does not know
    /// (another state file applied since): as a new generation above everything the
    /// agents run, overwriting it.
    #[arg(long)]
    force_generation: bool,
    /// Serve Prometheus metrics (OpenMetrics text) on http://ADDR/metrics while running,
    /// e.g. `127.0.0.1:9464`.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
    /// With `--state etcd://…`, every `strata run` of the network campaigns and only the
    /// elected leader applies; this is the TTL of each one's election lease: a standby takes
    /// over at most about this long after the leader dies [default: 5].
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..=3600))]
    lease_ttl: Option<u32>,
}

impl Args {
    pub fn run(mut self, watch: bool) -> anyhow::Result<Outcome> {
        self.json |= self.format == super::PrintFormat::Json;
        tokio::runtime::Runtime::new()?.block_on(self.run_async(watch))
    }

    async fn run_async(self, watch: bool) -> anyhow::Result<Outcome> {
        let watch = watch || self.watch;
        let format = super::Format::json_if(self.json);
        // A missing state file is where a first apply starts; applying from a state file
        // the agents have moved past is refused by the generation fence.
        let state_path = self
            .state
            .clone()
            .unwrap_or_else(|| DEFAULT_STATE_PATH.to_string());
        // Several controllers of one network on etcd elect the one that applies.
        let replicated = watch && self.agents.is_some() && EtcdLocation::is_etcd(&state_path);
        if self.lease_ttl.is_some() && !replicated {
            bail!(
                "--lease-ttl is the election lease of controllers that share a state on etcd: use it with `strata run --agents FILE --state etcd://…`"
            );
        }
        if replicated && self.plan.is_some() {
            bail!(
                "a saved plan is applied once, by `strata apply --plan`; `strata run --state etcd://…` elects a leader, and whichever controller leads applies the intents it was given"
            );
        }
        let Some(Checked {
            mut fe,
            program,
            inventory,
        }) = checked_network(&self.files, self.network.clone(), format)?
        else {
            return Ok(Outcome::Failed);
        };
        let mut twin = None;
        let (agents, store): (Agents, Box<dyn StateStore + Send + Sync>) = match &self.agents {
            Some(path) => (
                Agents::load(path).map_err(anyhow::Error::msg)?,
                strata_runtime::store::open(&state_path).map_err(anyhow::Error::msg)?,
            ),
            None => {
                let t = Twin::start(
                    &inventory,
                    TwinOptions {
                        speed: self.speed,
                        ..TwinOptions::default()
                    },
                )
                .await
                .map_err(anyhow::Error::msg)?;
                eprintln!(
                    "started an embedded digital twin of `{}`: {} agents on loopback, {}× real time",
                    inventory.name,
                    t.agents.agents.len(),
                    self.speed
                );
                let agents = t.agents.clone();
                twin = Some(t);
                (agents, Box::new(MemoryStore::default()))
            }
        };
        let mut options = ApplyOptions {
            timeout: Duration::from_secs_f64(self.timeout.max(0.1)),
            force_generation: self.force_generation,
            ..ApplyOptions::default()
        };
        if replicated {
            options.holder = holder_name();
        }
        let network = inventory.name.clone();
        let mut controller =
            Controller::new(program, inventory, agents.clone(), store, options.clone());
        controller.timing.hold_off_s = self.hold_off.max(0.0);
        if self.objective != super::ObjectiveArg::Fair {
            controller.set_objective(self.objective.into());
        }
        if let Some(plan) = &self.plan {
            let saved: SavedPlan = serde_json::from_slice(
                &strata_runtime::input_file::read(plan)
                    .with_context(|| format!("cannot read `{}`", plan.display()))?,
            )
            .with_context(|| format!("`{}` is not a saved plan", plan.display()))?;
            saved
                .check(controller.store.load()?.as_ref())
                .map_err(anyhow::Error::msg)?;
            if saved.config_digest != strata_compiler::plan::digest(&controller.compiled.configs) {
                bail!(
                    "the intents no longer compile to the saved plan's configuration; run `strata plan` again"
                );
            }
            options.expected_state = Some(saved.base_state_digest.clone());
            controller.options = options.clone();
        }
        fe.diagnostics
            .extend(controller.compiled.diagnostics.clone());
        print_diagnostics(&mut fe, format);
        // One controller without an election leads on its own; replicated ones stand by
        // until they win.
        controller.metrics.record_leadership(!replicated, 0);
        let _metrics_server = match &self.metrics {
            Some(addr) => {
                let (bound, task) =
                    strata_runtime::metrics::serve(controller.metrics.clone(), addr)
                        .await
                        .map_err(anyhow::Error::msg)?;
                eprintln!("serving Prometheus metrics on http://{bound}/metrics");
                Some(AbortOnDrop(task))
            }
            None => None,
        };

        // Watch measured delivery: until every admitted intent is met (apply), or for as
        // long as asked (run).
        let nodes = agents.agents.len().max(1) as u64;
        let limit =
            self.intervals
                .map(|n| n * nodes)
                .unwrap_or(if watch { u64::MAX } else { 40 * nodes });
        // On a terminal `run` redraws one screen; otherwise it appends to a log.
        let live = watch && !self.json && std::io::stdout().is_terminal();
        let mut screen = Screen {
            live,
            json: self.json,
            watch,
            nodes,
            printed: 0,
            last_table: String::new(),
        };
        let mut seen = 0u64;
        let (stop, terms) = if replicated {
            let ttl = i64::from(self.lease_ttl.unwrap_or(DEFAULT_LEASE_TTL_S as u32));
            let candidate = EtcdStore::of(&*controller.store)
                .context("an etcd state store")?
                .candidate(&controller.options.holder, ttl)?;
            // SIGTERM too: a leader that is stopped resigns, so a standby takes over at once.
            let mut interrupt = Interrupt::listen(true);
            let mut replica = Replica {
                args: &self,
                candidate,
                network: &network,
                ttl,
                terms: Vec::new(),
            };
            let stop = replica
                .lead_or_stand_by(
                    &mut controller,
                    &agents,
                    &mut screen,
                    limit,
                    &mut seen,
                    &mut interrupt,
                )
                .await;
            (stop, Some(replica.terms))
        } else {
            let mut telemetry = subscribe(&agents, Duration::from_millis(200));
            let report = controller.apply().await?;
            // Forcing is for this apply; repairs while watching are fenced as usual.
            controller.options.force_generation = false;
            self.print_applied(&report);
            screen.printed = controller.log.len();
            // One listener for the whole loop, so a Ctrl-C pressed while a repair is being
            // applied is not lost.
            let mut interrupt = Interrupt::listen(false);
            let stop = watch_loop(
                &mut controller,
                &mut telemetry,
                &mut screen,
                Limits { limit, watch },
                &mut seen,
                &mut interrupt,
                None,
            )
            .await;
            (stop, None)
        };
        let interrupted = matches!(stop, Stop::Interrupted);
        let never_led = terms.as_ref().is_some_and(Vec::is_empty);

        let statuses = if never_led {
            Vec::new()
        } else {
            controller.monitor.statuses()
        };
        if self.json {
            let mut doc = serde_json::json!({ "generation": controller.generation, "intents": statuses, "events": controller.log });
            if let Some(terms) = &terms {
                doc["terms"] = serde_json::json!(terms);
            }
            outln!("{}", serde_json::to_string_pretty(&doc)?);
        } else if never_led {
            if live {
                outln!();
            }
            outln!(
                "{}: this controller stood by and never led; {} event(s) logged",
                if interrupted {
                    "interrupted"
                } else {
                    "stopped"
                },
                controller.log.len()
            );
        } else {
            if live {
                outln!();
            }
            out!("{}", table(&statuses, controller.monitor.now()));
            let met = statuses
                .iter()
                .filter(|s| s.state == IntentState::Installed)
                .count();
            outln!(
                "{met} of {} intent(s) met, as measured by the agents",
                statuses.len()
            );
            if watch {
                let generation = controller.generation;
                let led = match &terms {
                    Some(t) => format!(", led term(s) {}", join(t)),
                    None => String::new(),
                };
                outln!(
                    "{} after {:.1} s of the agents' clock: generation {generation}, {} event(s) logged{led}",
                    if interrupted {
                        "interrupted"
                    } else {
                        "stopped"
                    },
                    controller.monitor.now(),
                    controller.log.len()
                );
            }
        }
        if let Some(t) = twin {
            t.shutdown().await;
        }
        if never_led {
            return Ok(Outcome::Ok);
        }
        let all_met = statuses.iter().all(|s| s.state == IntentState::Installed);
        Ok(if all_met {
            Outcome::Ok
        } else {
            Outcome::Failed
        })
    }

    /// The line an apply prints once it went through.
    fn print_applied(&self, report: &ApplyReport) {
        if self.json {
            return;
        }
        for line in resolution(&report.resolved) {
            outln!("{line}");
        }
        if report.nodes.is_empty() && report.plan.is_empty() {
            outln!(
                "nothing to change: the network already runs generation {}",
                report.generation
            );
        } else {
            outln!(
                "applied generation {}: {} object(s) added, {} changed, {} removed on {} node(s), {} bytes to the agents{}",
                report.generation,
                report.plan.counts.add,
                report.plan.counts.change,
                report.plan.counts.remove,
                report.nodes.len(),
                report.bytes_sent,
                // The embedded twin keeps no state file for `strata plan` to compare with.
                if self.agents.is_some() {
                    " (`strata plan` lists each change)"
                } else {
                    ""
                }
            );
        }
    }
}

/// How this controller names itself in the election and the apply lock:
/// `strata run on HOST, pid N`.
fn holder_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this host".into());
    format!("strata run on {host}, pid {}", std::process::id())
}

fn join(terms: &[u64]) -> String {
    terms
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why watching stopped.
enum Stop {
    /// The intervals asked for are over, everything settled (apply), or telemetry ended.
    Done,
    /// Ctrl-C (or, for a replicated controller, SIGTERM).
    Interrupted,
    /// This controller no longer leads, and why.
    Lost(String),
}

/// Ctrl-C (and, for replicated controllers, SIGTERM), heard once for the whole run so that
/// one that comes while a repair is being applied is not lost.
struct Interrupt(tokio::sync::watch::Receiver<bool>);

impl Interrupt {
    fn listen(terminate_too: bool) -> Interrupt {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let terminate = async {
                #[cfg(unix)]
                if terminate_too
                    && let Ok(mut term) =
                        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                {
                    term.recv().await;
                    return;
                }
                #[cfg(not(unix))]
                let _ = terminate_too;
                std::future::pending::<()>().await
            };
            tokio::pin!(terminate);
            tokio::select! {
                r = tokio::signal::ctrl_c() => {
                    if r.is_err() {
                        // No Ctrl-C to be had: only SIGTERM (if asked for) interrupts.
                        (&mut terminate).await;
                    }
                }
                _ = &mut terminate => {}
            }
            let _ = tx.send(true);
        });
        Interrupt(rx)
    }

    /// Returns once interrupted.
    async fn wait(&mut self) {
        if self.0.wait_for(|v| *v).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// What `apply` and `run` print while they watch: the event log as it grows and the status
/// table when it changes, or on a terminal one screen redrawn in place.
struct Screen {
    live: bool,
    json: bool,
    watch: bool,
    nodes: u64,
    /// Lines of the event log printed so far.
    printed: usize,
    last_table: String,
}

impl Screen {
    /// Prints the events logged since last time (nothing with `--json`, whose document
    /// holds them).
    fn log(&mut self, c: &Controller) {
        if !self.json {
            for line in &c.log[self.printed.min(c.log.len())..] {
                outln!("{}", log_line(line));
            }
        }
        self.printed = c.log.len();
    }

    /// Prints what one more sample (the `seen`th) changed.
    fn sample(&mut self, c: &Controller, seen: u64) {
        let statuses = c.monitor.statuses();
        let now = c.monitor.now();
        if self.live {
            if seen.is_multiple_of(self.nodes) || c.log.len() > self.printed {
                out!("{}", screen(&statuses, now, &c.log, c.generation));
                self.printed = c.log.len();
            }
            return;
        }
        self.log(c);
        if self.watch && !self.json && seen.is_multiple_of(self.nodes) {
            // The `since` column changes every interval; print when anything else does.
            let key = table_key(&statuses);
            if key != self.last_table {
                out!("{}", table(&statuses, now));
                self.last_table = key;
            }
        }
    }
}

/// How long to watch: `limit` samples at most, and with `watch` off only until settled.
#[derive(Clone, Copy)]
struct Limits {
    limit: u64,
    watch: bool,
}

/// Feeds telemetry to the loop and (with `watch`) repairs drift, until the limit, an
/// interrupt or — when `leading` — the end of this controller's leadership.
async fn watch_loop(
    c: &mut Controller,
    telemetry: &mut tokio::sync::mpsc::Receiver<strata_runtime::pb::TelemetrySample>,
    screen: &mut Screen,
    Limits { limit, watch }: Limits,
    seen: &mut u64,
    interrupt: &mut Interrupt,
    mut leading: Option<&mut Leading>,
) -> Stop {
    while *seen < limit {
        let sample = tokio::select! {
            s = telemetry.recv() => s,
            _ = interrupt.wait() => return Stop::Interrupted,
            why = lost(&mut leading) => return Stop::Lost(why),
        };
        let Some(sample) = sample else {
            return Stop::Done;
        };
        *seen += 1;
        c.observe(&sample);
        if watch {
            // A leader whose lease may have run out applies nothing more.
            if let Some(why) = leading.as_ref().and_then(|l| l.check()) {
                return Stop::Lost(why);
            }
            let ticked = tokio::select! {
                r = c.tick() => r,
                why = lost(&mut leading) => return Stop::Lost(why),
            };
            match ticked {
                Err(e) if deposed(&e) => return Stop::Lost(e.to_string()),
                Err(e) => c.note(format!("repair failed: {e}")),
                Ok(_) => {}
            }
        }
        screen.sample(c, *seen);
        // Settled: every intent delivers its rate, and no longer more than it (an agent
        // whose sessions start with stored-up tokens can run over in the first interval).
        let settled = c.monitor.statuses().iter().all(|s| match s.state {
            IntentState::Installed => s.measured <= s.target * (1.0 + TOLERANCE),
            IntentState::Unsatisfiable(_) => true,
            _ => false,
        });
        if !watch && settled && *seen >= screen.nodes {
            return Stop::Done;
        }
    }
    Stop::Done
}

/// What an apply found left in doubt by an earlier one and did about it, in lines.
fn resolution(r: &Resolved) -> Vec<String> {
    let mut lines = Vec::new();
    if !r.committed.is_empty() {
        lines.push(format!(
            "committed the generation an earlier apply decided on {} node(s) that still held it staged: {}",
            r.committed.len(),
            r.committed.join(", ")
        ));
    }
    if let Some(g) = r.completed {
        lines.push(format!(
            "recorded generation {g}, which an earlier apply decided and did not record"
        ));
    }
    if !r.aborted.is_empty() {
        let nodes: Vec<String> = r
            .aborted
            .iter()
            .map(|(n, g)| format!("{n} (generation {g})"))
            .collect();
        lines.push(format!(
            "aborted what an earlier apply staged and never decided to commit on {} node(s): {}",
            nodes.len(),
            nodes.join(", ")
        ));
    }
    lines
}

/// Stops a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One event log line: wall-clock time, agent-clock time, message.
fn log_line(line: &LogLine) -> String {
    format!(
        "[{} t={:>8.1}s] {}",
        line.wall_time, line.time_s, line.message
    )
}

/// What the live table shows, without the `since` column that moves every interval.
fn table_key(statuses: &[IntentStatus]) -> String {
    statuses
        .iter()
        .map(|s| {
            format!(
                "{} {:.3} {:.3} {:?} {:?} {} {}\n",
                s.name, s.target, s.measured, s.fidelity, s.state, s.paths, s.protected
            )
        })
        .collect()
}

/// Lines of the event log the live screen keeps under the table.
const LIVE_LOG_LINES: usize = 12;

/// The live screen: cursor home, clear, the table, then the latest events.
fn screen(statuses: &[IntentStatus], now: f64, log: &[LogLine], generation: u64) -> String {
    let mut out = String::from("\x1b[H\x1b[2J");
    out.push_str(&format!(
        "strata run — t={now:.1}s on the agents' clock, generation {generation} (Ctrl-C stops)\n\n"
    ));
    out.push_str(&table(statuses, now));
    out.push_str("\nevents:\n");
    for line in &log[log.len().saturating_sub(LIVE_LOG_LINES)..] {
        out.push_str(&log_line(line));
        out.push('\n');
    }
    out
}
