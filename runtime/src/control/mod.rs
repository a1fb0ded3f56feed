//! The closed loop: apply a compiled configuration, subscribe to every agent's telemetry,
//! track each intent from measured delivery, and when the network drifts re-plan only the
//! intents the drift touches — the others stay pinned to their paths — and apply the
//! difference.
//!
//! Alarms are gathered after the first one until every node has reported once more (at
//! most [`LoopTiming::settle_s`]), so correlated alarms (a stopped node takes its links
//! down, and every neighbour reports it) give one event and one re-plan. A protected intent (`disjoint paths N`) that loses a path keeps
//! its surviving paths, which already carry its whole rate, and only the lost path is
//! replaced ([`strata_compiler::compile::protect`]). When a failed element has been back for
//! [`LoopTiming::hold_off_s`], the intents that were moved or degraded because of it are
//! re-optimised back — with nothing down any more, back to the plan itself; an element that
//! fails again before then restarts the wait, so a flapping link causes no churn.
//!
//! A controller that takes the loop over from another (replicated `strata run`,
//! [`Controller::resume`]) starts from the stored state: a re-plan the previous leader made
//! around a failure is kept, not undone, and the loop returns to the plan once every node
//! has reported and nothing is down for the hold-off.

mod alarms;
mod narrate;

pub use alarms::{FLAP_MEMORY, MAX_HOLD_OFF_FACTOR};
use narrate::names;

use crate::agents::Agents;
use crate::apply::{ApplyError, ApplyOptions, ApplyReport, apply};
use crate::metrics::Metrics;
use crate::monitor::{Event, Monitor};
use crate::pb;
use crate::state::{State, StateStore};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use strata_compiler::check::Program;
use strata_compiler::compile::optimise::Objective;
use strata_compiler::compile::repair::{replan_options, survivors};
use strata_compiler::compile::{CompileOptions, Compiled, compile};
use strata_compiler::inventory::Inventory;
use tokio::sync::mpsc;

/// Streams every agent's telemetry into one channel. A node whose stream breaks is reported
/// as a sample with `up: false`, and its stream is re-opened until the receiver goes away.
pub fn subscribe(agents: &Agents, retry: Duration) -> mpsc::Receiver<pb::TelemetrySample> {
    let (tx, rx) = mpsc::channel(1024);
    for (node, addr) in &agents.agents {
        let (node, addr, tx) = (node.clone(), addr.clone(), tx.clone());
        let agents = agents.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(mut client) = agents.connect(&addr, Duration::from_secs(2)).await
                    && let Ok(stream) = client
                        .telemetry(pb::TelemetryRequest { interval_ms: 0 })
                        .await
                {
                    let mut stream = stream.into_inner();
                    while let Ok(Some(sample)) = stream.message().await {
                        if tx.send(sample).await.is_err() {
                            return;
                        }
                    }
                }
                let down = pb::TelemetrySample {
                    node: node.clone(),
                    up: false,
                    ..Default::default()
                };
                if tx.send(down).await.is_err() {
                    return;
                }
                tokio::time::sleep(retry).await;
            }
        });
    }
    rx
}

/// One line of the event log.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LogLine {
    /// Seconds on the agents' clock.
    pub time_s: f64,
    /// Wall-clock time, RFC 3339 (UTC).
    pub wall_time: String,
    pub message: String,
}

/// What one repair did.
#[derive(Debug, Clone)]
pub struct Repair {
    pub replanned: BTreeSet<String>,
    pub report: ApplyReport,
}

/// How fast the loop reacts, in seconds of the agents' clock.
#[derive(Debug, Clone, PartialEq)]
pub struct LoopTiming {
    /// Alarms are gathered after the first until every node has reported again, or this
    /// long at most: one telemetry interval, so every neighbour of a failed element has
    /// reported it.
    pub settle_s: f64,
    /// A failed link or node must be back this long before intents return to it.
    pub hold_off_s: f64,
}

/// Default [`LoopTiming::hold_off_s`]: three telemetry intervals of one second.
pub const DEFAULT_HOLD_OFF_S: f64 = 3.0;

impl Default for LoopTiming {
    fn default() -> Self {
        LoopTiming {
            settle_s: 1.0,
            hold_off_s: DEFAULT_HOLD_OFF_S,
        }
    }
}

/// A link or node that can fail.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Element {
    Link(String),
    Node(String),
}

impl std::fmt::Display for Element {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Element::Link(l) => write!(f, "link {l}"),
            Element::Node(n) => write!(f, "node {n}"),
        }
    }
}

pub struct Controller {
    pub program: Program,
    pub inventory: Inventory,
    pub agents: Agents,
    pub store: Box<dyn StateStore + Send + Sync>,
    pub options: ApplyOptions,
    pub timing: LoopTiming,
    /// What each priority class maximises, in every compile the loop makes.
    pub objective: Objective,
    pub compiled: Compiled,
    pub monitor: Monitor,
    pub log: Vec<LogLine>,
    /// The generation the network runs, as of the last apply.
    pub generation: u64,
    /// What the loop and the telemetry say, for Prometheus.
    pub metrics: Arc<Metrics>,
    /// Alarms gathered since the first one not yet acted on, and when it came.
    pending: Vec<Event>,
    pending_since: Option<f64>,
    /// Nodes not yet heard from since the first pending alarm: once every node has
    /// reported, every alarm of the same failure is in.
    awaiting: BTreeSet<String>,
    /// Elements back up, and when their hold-off ends.
    reversions: BTreeMap<Element, f64>,
    /// Intents moved or degraded because of each failed element.
    displaced: BTreeMap<Element, BTreeSet<String>>,
    /// A repair whose apply failed, to try again at the given time.
    retry: Option<(f64, Vec<Event>)>,
    /// When each element last failed, within [`FLAP_MEMORY`] hold-offs: an element that keeps
    /// failing waits longer before intents return to it.
    failures: BTreeMap<Element, Vec<f64>>,
    /// The compile of the intents on the network as declared: what the loop returns to.
    plan: Compiled,
    /// Nodes not heard from since [`Self::resume`].
    unheard: BTreeSet<String>,
    /// After resuming on a re-plan: return to the plan once every node has reported and
    /// nothing is down, at the given time.
    back_to_plan: BackToPlan,
}

/// Whether a resumed loop still owes the return to the plan.
#[derive(Debug, Clone, Copy, PartialEq)]
enum BackToPlan {
    No,
    /// Once every node has reported.
    WhenHeard,
    /// At this agent-clock time, if nothing goes down before.
    At(f64),
}

impl Controller {
    /// Compiles the program against the inventory as declared.
    pub fn new(
        program: Program,
        inventory: Inventory,
        agents: Agents,
        store: Box<dyn StateStore + Send + Sync>,
        options: ApplyOptions,
    ) -> Controller {
        let compiled = compile(&program, &inventory, &CompileOptions::default());
        let monitor = Monitor::new(compiled.summary.clone());
        let metrics = Arc::new(Metrics::new(&inventory.name));
        Controller {
            metrics,
            plan: compiled.clone(),
            unheard: BTreeSet::new(),
            back_to_plan: BackToPlan::No,
            program,
            inventory,
            agents,
            store,
            options,
            timing: LoopTiming::default(),
            objective: Objective::default(),
            compiled,
            monitor,
            log: Vec::new(),
            generation: 0,
            pending: Vec::new(),
            pending_since: None,
            awaiting: BTreeSet::new(),
            reversions: BTreeMap::new(),
            displaced: BTreeMap::new(),
            failures: BTreeMap::new(),
            retry: None,
        }
    }

    /// Compiles with `objective` from now on, starting with the plan itself.
    pub fn set_objective(&mut self, objective: Objective) {
        self.objective = objective;
        self.compiled = compile(
            &self.program,
            &self.inventory,
            &CompileOptions {
                objective,
                ..CompileOptions::default()
            },
        );
        self.monitor = Monitor::new(self.compiled.summary.clone());
        self.plan = self.compiled.clone();
    }

    /// Takes the loop over from `stored`, the state another controller left (or this one,
    /// in an earlier term): what this controller's loop gathered before — alarms, hold-offs,
    /// displaced intents, measurements — is forgotten, as it may be out of date. When
    /// `stored` is a re-plan of the same intents (its configuration differs from the plan's,
    /// its intents do not), it becomes the current plan, so that the next [`Self::apply`]
    /// changes nothing: the network stays as the previous leader left it, and the loop
    /// returns to the plan once every node has reported and nothing is down for the
    /// hold-off. Otherwise the plan is current again. Returns whether `stored` was kept.
    pub fn resume(&mut self, stored: Option<&State>) -> bool {
        self.pending.clear();
        self.pending_since = None;
        self.awaiting.clear();
        self.reversions.clear();
        self.displaced.clear();
        self.retry = None;
        self.failures.clear();
        self.unheard = self.agents.agents.keys().cloned().collect();
        self.compiled = self.plan.clone();
        self.back_to_plan = BackToPlan::No;
        let replanned = stored.and_then(|s| {
            let summary = s.summary.as_ref()?;
            let differs = s.config_digest != strata_compiler::plan::digest(&self.plan.configs);
            (differs && same_intents(summary, &self.plan.summary)).then_some((s, summary))
        });
        if let Some((s, summary)) = replanned {
            self.compiled = Compiled {
                configs: s.configs.clone(),
                summary: summary.clone(),
                diagnostics: self.plan.diagnostics.clone(),
            };
            self.back_to_plan = BackToPlan::WhenHeard;
        }
        self.monitor = Monitor::new(self.compiled.summary.clone());
        self.generation = stored.map_or(0, |s| s.generation);
        replanned.is_some()
    }

    /// Adds a line to the event log.
    pub fn note(&mut self, message: String) {
        self.log.push(LogLine {
            time_s: self.monitor.now(),
            wall_time: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            message,
        });
    }

    /// Applies the current compile.
    pub async fn apply(&mut self) -> Result<ApplyReport, ApplyError> {
        let started = Instant::now();
        let applied = apply(
            self.store.as_ref(),
            &self.agents,
            &self.compiled.configs,
            Some(&self.compiled.summary),
            &self.options,
            None,
        )
        .await;
        let report = self.measured(started, applied)?;
        self.generation = report.generation;
        self.monitor.set_plan(self.compiled.summary.clone());
        self.monitor
            .expect_generation(&report.nodes, report.generation);
        let msg = if report.nodes.is_empty() {
            format!(
                "configuration already in place (generation {})",
                report.generation
            )
        } else {
            format!(
                "applied generation {} to {} node(s)",
                report.generation,
                report.nodes.len()
            )
        };
        self.note(msg);
        Ok(report)
    }

    /// Feeds one sample to the monitor and gathers the alarms it raised; [`Self::tick`]
    /// acts on them once they have settled. Returns the alarms.
    pub fn observe(&mut self, sample: &pb::TelemetrySample) -> Vec<Event> {
        let events = self.monitor.observe(sample);
        self.metrics.observe(sample);
        self.unheard.remove(&sample.node);
        // Intents change with what their slave ends measure, or with an event.
        if !sample.units.is_empty() || !events.is_empty() {
            self.metrics
                .record_intents(self.monitor.summary(), &self.monitor.statuses());
        }
        self.awaiting.remove(&sample.node);
        if !events.is_empty() {
            if self.pending_since.is_none() {
                self.gather(Some(&sample.node));
            }
            self.pending.extend(events.iter().cloned());
        }
        if events.iter().any(Event::is_drift) && matches!(self.back_to_plan, BackToPlan::At(_)) {
            // Something went down before the return: the elements' own return leads back.
            self.back_to_plan = BackToPlan::No;
        }
        events
    }

    /// Whether nothing is down or quarantined now.
    fn nothing_down(&self) -> bool {
        self.monitor.down_links.is_empty()
            && self.monitor.quarantined.is_empty()
            && self.monitor.down_nodes.is_empty()
    }

    /// Feeds one sample and reacts to what has settled: [`Self::observe`] then
    /// [`Self::tick`].
    pub async fn step(&mut self, sample: &pb::TelemetrySample) -> Result<Vec<Repair>, ApplyError> {
        self.observe(sample);
        self.tick().await
    }

    /// Acts on alarms once gathered (one log line per failure, one re-plan for all of them) and on elements whose hold-off has ended. Returns what was
    /// re-planned.
    pub async fn tick(&mut self) -> Result<Vec<Repair>, ApplyError> {
        let now = self.monitor.now();
        let mut done = Vec::new();
        if self.pending_since.is_some_and(|t| self.gathered(t, now)) {
            let events = self.take_batch(now);
            if events.iter().any(Event::is_drift) {
                match self.repair(&events).await {
                    Ok(r) => done.extend(r),
                    Err(e) => {
                        // Try again once the next round of telemetry is in.
                        self.retry = Some((now + self.timing.settle_s, events));
                        return Err(e);
                    }
                }
            }
        }
        if let Some((at, _)) = &self.retry
            && now >= *at
            && let Some((_, events)) = self.retry.take()
        {
            match self.repair(&events).await {
                Ok(r) => done.extend(r),
                Err(e) => {
                    self.retry = Some((now + self.timing.settle_s, events));
                    return Err(e);
                }
            }
        }
        if self.back_to_plan == BackToPlan::WhenHeard && self.unheard.is_empty() {
            // With something down, that element's return leads back to the plan (a revert
            // with nothing down is the whole plan); with nothing down, the hold-off does.
            self.back_to_plan = if self.nothing_down() && self.pending.is_empty() {
                BackToPlan::At(now + self.timing.hold_off_s)
            } else {
                BackToPlan::No
            };
        }
        if let BackToPlan::At(at) = self.back_to_plan
            && now >= at
        {
            self.back_to_plan = BackToPlan::No;
            if self.nothing_down() {
                self.note(
                    "nothing is down: re-optimising the whole network back to the plan".into(),
                );
                let all = self
                    .compiled
                    .summary
                    .intents
                    .iter()
                    .map(|i| i.name.clone())
                    .collect();
                match self.replan(all, BTreeMap::new(), false).await {
                    Ok(r) => done.extend(r),
                    Err(e) => {
                        self.back_to_plan = BackToPlan::At(now + self.timing.settle_s);
                        return Err(e);
                    }
                }
            }
        }
        let due: Vec<Element> = self
            .reversions
            .iter()
            .filter(|&(_, &t)| t <= now)
            .map(|(e, _)| e.clone())
            .collect();
        if !due.is_empty() {
            for e in &due {
                self.reversions.remove(e);
            }
            let displaced: Vec<(Element, BTreeSet<String>)> = due
                .iter()
                .filter_map(|e| Some((e.clone(), self.displaced.get(e)?.clone())))
                .collect();
            match self.revert(&due).await {
                Ok(r) => done.extend(r),
                Err(e) => {
                    // Move back later: the element is still up, nothing was applied.
                    for el in due {
                        self.reversions.insert(el, now + self.timing.hold_off_s);
                    }
                    self.displaced.extend(displaced);
                    return Err(e);
                }
            }
        }
        Ok(done)
    }

    /// Re-plans for drift: the intents whose paths use an element that is still down (or
    /// that fell short) move; a protected intent that still has a working path keeps its
    /// survivors and gets replacements for its lost paths; every other intent stays pinned.
    /// Returns `None` when no intent is affected.
    pub async fn repair(&mut self, events: &[Event]) -> Result<Option<Repair>, ApplyError> {
        let mut links = BTreeSet::new();
        let mut nodes = BTreeSet::new();
        let mut shortfalls = BTreeSet::new();
        for e in events {
            match e {
                Event::LinkDown(l) | Event::Quarantined(l) if self.link_down(l) => {
                    links.insert(l.clone());
                }
                Event::NodeDown(n) if self.monitor.down_nodes.contains(n) => {
                    nodes.insert(n.clone());
                }
                Event::Shortfall(i) => {
                    shortfalls.insert(i.clone());
                }
                _ => {}
            }
        }
        let affected = self.monitor.affected(&links, &nodes, &shortfalls);
        if affected.is_empty() {
            return Ok(None);
        }
        for i in &self.compiled.summary.intents {
            if !affected.contains(&i.name) {
                continue;
            }
            let touched = links
                .iter()
                .filter(|l| i.paths.iter().any(|p| p.links.contains(l)))
                .map(|l| Element::Link(l.clone()))
                .chain(
                    nodes
                        .iter()
                        .filter(|n| i.paths.iter().any(|p| p.nodes.contains(n)))
                        .map(|n| Element::Node(n.clone())),
                );
            for e in touched.collect::<Vec<_>>() {
                self.displaced.entry(e).or_default().insert(i.name.clone());
            }
        }
        let restore = self.survivors(&affected, &shortfalls);
        let moved: BTreeSet<String> = affected
            .iter()
            .filter(|n| !restore.contains_key(*n))
            .cloned()
            .collect();
        self.replan(moved, restore, true).await
    }

    /// Protected intents among `intents` that still have a working path: name → the numbers
    /// of their paths that are down.
    fn survivors(
        &self,
        intents: &BTreeSet<String>,
        except: &BTreeSet<String>,
    ) -> BTreeMap<String, BTreeSet<usize>> {
        let intents = intents.difference(except).cloned().collect();
        survivors(&self.compiled.summary, &intents, &self.monitor.failed())
    }

    /// Moves intents back once the elements that displaced them have held for the hold-off:
    /// with nothing down any more, the whole network returns to the plan; otherwise only the
    /// displaced intents (and those not fully admitted) are re-optimised.
    async fn revert(&mut self, back: &[Element]) -> Result<Option<Repair>, ApplyError> {
        let mut intents = BTreeSet::new();
        for e in back {
            intents.extend(self.displaced.remove(e).unwrap_or_default());
        }
        let nodes_back: BTreeSet<String> = back
            .iter()
            .filter_map(|e| match e {
                Element::Node(n) => Some(n.clone()),
                Element::Link(_) => None,
            })
            .collect();
        let with_nodes: BTreeSet<String> =
            nodes_back.iter().flat_map(|n| self.links_of(n)).collect();
        let what = back
            .iter()
            .filter(|e| !matches!(e, Element::Link(l) if with_nodes.contains(l)))
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let nothing_down = self.nothing_down();
        self.note(format!(
            "{what} back and stable: re-optimising {}",
            if nothing_down {
                "the whole network back to the plan".to_string()
            } else if intents.is_empty() {
                "the intents not fully admitted".to_string()
            } else {
                names(&intents)
            }
        ));
        if nothing_down {
            self.displaced.clear();
            let all = self
                .compiled
                .summary
                .intents
                .iter()
                .map(|i| i.name.clone())
                .collect();
            return self.replan(all, BTreeMap::new(), false).await;
        }
        intents.extend(self.monitor.not_met());
        let restore = self.survivors(&intents, &BTreeSet::new());
        let moved = intents
            .iter()
            .filter(|n| !restore.contains_key(*n))
            .cloned()
            .collect();
        self.replan(moved, restore, true).await
    }

    /// Records an apply that started at `started` in the metrics and passes its result on.
    fn measured(
        &self,
        started: Instant,
        applied: Result<ApplyReport, ApplyError>,
    ) -> Result<ApplyReport, ApplyError> {
        self.metrics.record_apply(
            started.elapsed(),
            applied.as_ref().ok().map(|r| r.generation),
        );
        applied
    }

    /// Compiles with every intent outside `moved` pinned (those in `restore` keep their
    /// surviving paths), on the network as it is now (`overlay`) or as declared, and
    /// applies the difference.
    async fn replan(
        &mut self,
        moved: BTreeSet<String>,
        restore: BTreeMap<String, BTreeSet<usize>>,
        overlay_now: bool,
    ) -> Result<Option<Repair>, ApplyError> {
        let inventory = if overlay_now {
            self.monitor.failed().overlay(&self.inventory)
        } else {
            self.inventory.clone()
        };
        let compiled = compile(
            &self.program,
            &inventory,
            &replan_options(
                &self.compiled.summary,
                &moved,
                restore.clone(),
                self.objective,
            ),
        );
        let options = ApplyOptions {
            skip_unreachable: true,
            ..self.options.clone()
        };
        self.metrics.record_replan();
        let started = Instant::now();
        let applied = apply(
            self.store.as_ref(),
            &self.agents,
            &compiled.configs,
            Some(&compiled.summary),
            &options,
            None,
        )
        .await;
        let report = self.measured(started, applied)?;
        self.generation = report.generation;
        let before = std::mem::replace(&mut self.compiled, compiled);
        self.monitor.set_plan(self.compiled.summary.clone());
        self.monitor
            .expect_generation(&report.nodes, report.generation);
        let after = self.compiled.summary.clone();
        for (name, lost) in &restore {
            self.note_protection(&before.summary, &after, name, lost);
        }
        let changed: BTreeSet<String> = after
            .intents
            .iter()
            .filter(|i| {
                !restore.contains_key(&i.name)
                    && before
                        .summary
                        .intents
                        .iter()
                        .find(|b| b.name == i.name)
                        .is_none_or(|b| b.paths != i.paths || b.admitted_rate != i.admitted_rate)
            })
            .map(|i| i.name.clone())
            .collect();
        let kept: BTreeSet<String> = after
            .intents
            .iter()
            .filter(|i| !changed.contains(&i.name))
            .map(|i| i.name.clone())
            .collect();
        if report.nodes.is_empty() {
            self.note(format!(
                "nothing to change, generation {} stays",
                report.generation
            ));
        } else {
            let kept_part = if kept.is_empty() {
                String::new()
            } else {
                format!("; kept on their paths: {}", names(&kept))
            };
            self.note(format!(
                "re-planned {}{kept_part}; generation {} on {} node(s)",
                if changed.is_empty() {
                    "nothing else".to_string()
                } else {
                    names(&changed)
                },
                report.generation,
                report.nodes.len()
            ));
        }
        Ok(Some(Repair {
            replanned: changed,
            report,
        }))
    }
}

/// Whether two compiles are of the same intents: the same names, ends, kinds, requested rates
/// priorities and protection, in the same order. A re-plan around a failure keeps all of them (it
/// changes paths and admitted rates); a change to the intent files does not.
fn same_intents(
    a: &strata_compiler::config::Summary,
    b: &strata_compiler::config::Summary,
) -> bool {
    a.network == b.network
        && a.intents.len() == b.intents.len()
        && a.intents.iter().zip(&b.intents).all(|(x, y)| {
            x.name == y.name
                && x.endpoints == y.endpoints
                && x.kind == y.kind
                && x.priority == y.priority
                && x.requested_rate == y.requested_rate
                && x.disjoint_paths == y.disjoint_paths
        })
}
