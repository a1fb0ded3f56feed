//! Intent status from *measured* delivery, and drift detection, over the telemetry the
//! agents stream. Pure bookkeeping: samples in, statuses and events out.
//!
//! An intent is *met* when the rate its slave end measures is at least
//! `(1 − TOLERANCE)` × what was admitted; `apply`, `run` and `status` all use this one rule.
//! It is `pending` until its first met interval, `installed` while met, `degraded` when it
//! delivers less, was only partly admitted, or — with `disjoint paths N` — while fewer than
//! its N paths are up (it is then carried by the survivors but unprotected), `failed` after
//! [`FAILED_AFTER`] intervals without delivery, and `unsatisfiable` when the compiler could
//! not admit it. Drift is a link going down, a QBER at or over the BB84 threshold (the link
//! is quarantined), a node going down, or a shortfall lasting [`SHORTFALL_AFTER`] intervals.
//!
//! A new plan restarts the measurement of only the intents whose paths or rate it changed;
//! until their first sample under the new generation they keep showing what was last
//! measured, and every other intent keeps its measurement and state across the re-plan.

use crate::pb;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use strata_compiler::compile::repair::Failed;
use strata_compiler::config::{Admission, IntentSummary, PathSummary, Summary};
use strata_compiler::physics;

/// Relative shortfall still counted as meeting the rate: an intent is met at 99 % of its
/// admitted rate or more.
pub const TOLERANCE: f64 = 0.01;
/// Intervals without any delivery before an installed intent counts as failed.
pub const FAILED_AFTER: u32 = 3;
/// Intervals of shortfall before it counts as drift.
pub const SHORTFALL_AFTER: u32 = 5;
/// Intervals an intent may take to reach its rate after (re)configuration.
pub const WARMUP: u32 = 3;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", content = "reason", rename_all = "lowercase")]
pub enum IntentState {
    Pending,
    Installed,
    Degraded(String),
    Unsatisfiable(String),
    Failed(String),
}

impl IntentState {
    pub fn word(&self) -> &'static str {
        match self {
            IntentState::Pending => "pending",
            IntentState::Installed => "installed",
            IntentState::Degraded(_) => "degraded",
            IntentState::Unsatisfiable(_) => "unsatisfiable",
            IntentState::Failed(_) => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntentStatus {
    pub name: String,
    pub requested: f64,
    /// Admitted rate: what the network was configured to deliver.
    pub target: f64,
    /// Measured at the slave end over the last interval.
    pub measured: f64,
    pub fidelity: Option<f64>,
    #[serde(flatten)]
    pub state: IntentState,
    /// Configured paths that are up (none of their links or nodes is down or quarantined).
    pub paths: usize,
    /// True when the intent asks for `disjoint paths N` and all N are up: it survives any
    /// single link or relay failure. False for intents without protection.
    pub protected: bool,
    /// Agent-clock seconds at which the state last changed.
    pub since_s: f64,
    /// The intent's `disjoint paths N` (1 without protection).
    #[serde(skip)]
    pub wanted_paths: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "event", content = "subject", rename_all = "kebab-case")]
pub enum Event {
    LinkDown(String),
    LinkUp(String),
    Quarantined(String),
    Released(String),
    NodeDown(String),
    NodeUp(String),
    Shortfall(String),
}

impl Event {
    /// Does this event call for a re-plan?
    pub fn is_drift(&self) -> bool {
        !matches!(
            self,
            Event::Released(_) | Event::LinkUp(_) | Event::NodeUp(_)
        )
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::LinkDown(l) => write!(f, "link {l} is down"),
            Event::LinkUp(l) => write!(f, "link {l} is up again"),
            Event::Quarantined(l) => write!(
                f,
                "link {l} quarantined: QBER at or over the BB84 threshold"
            ),
            Event::Released(l) => write!(f, "link {l} released from quarantine"),
            Event::NodeDown(n) => write!(f, "node {n} is down"),
            Event::NodeUp(n) => write!(f, "node {n} is up again"),
            Event::Shortfall(i) => write!(f, "intent {i} delivers less than admitted"),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Track {
    measured: f64,
    fidelity: Option<f64>,
    samples_since_plan: u32,
    reached: bool,
    zero_run: u32,
    short_run: u32,
    reported_shortfall: bool,
    /// The state last shown, kept while a changed intent awaits its first new sample.
    last: Option<IntentState>,
    since_s: f64,
}

/// The controller's view of the network, fed by telemetry.
#[derive(Debug, Clone)]
pub struct Monitor {
    summary: Summary,
    tracks: BTreeMap<String, Track>,
    pub down_links: BTreeSet<String>,
    pub quarantined: BTreeSet<String>,
    pub down_nodes: BTreeSet<String>,
    /// Latest secret key (or pair) rate reported per link.
    pub link_rates: BTreeMap<String, f64>,
    /// Per node, the generation it was last given: delivery measured under an older one
    /// (samples queued while an apply ran) says nothing about the new plan.
    expected: BTreeMap<String, u64>,
    /// Latest agent-clock time seen.
    now: f64,
}

impl Monitor {
    pub fn new(summary: Summary) -> Monitor {
        let mut m = Monitor {
            summary: Summary {
                intents: Vec::new(),
                ..summary.clone()
            },
            tracks: BTreeMap::new(),
            down_links: BTreeSet::new(),
            quarantined: BTreeSet::new(),
            down_nodes: BTreeSet::new(),
            link_rates: BTreeMap::new(),
            expected: BTreeMap::new(),
            now: 0.0,
        };
        m.set_plan(summary);
        m
    }

    /// A new compile was applied: intents whose paths or rate changed get a new warm-up;
    /// the others keep their measurement and state.
    pub fn set_plan(&mut self, summary: Summary) {
        for i in &summary.intents {
            let unchanged = self.summary.intents.iter().any(|old| {
                old.name == i.name
                    && old.paths == i.paths
                    && old.admitted_rate == i.admitted_rate
                    && old.admission == i.admission
            });
            if unchanged {
                continue;
            }
            let t = self.tracks.entry(i.name.clone()).or_default();
            t.samples_since_plan = 0;
            t.reached = false;
            t.short_run = 0;
            t.zero_run = 0;
            t.reported_shortfall = false;
        }
        self.tracks
            .retain(|n, _| summary.intents.iter().any(|i| &i.name == n));
        self.summary = summary;
        self.refresh(None);
    }

    /// Agent-clock time of the latest sample.
    pub fn now(&self) -> f64 {
        self.now
    }

    /// Records the state of every intent (or only of `only`) to keep `since_s` and the
    /// state shown across a re-plan.
    fn refresh(&mut self, only: Option<&BTreeSet<String>>) {
        let states: Vec<(String, IntentState)> = self
            .summary
            .intents
            .iter()
            .filter(|i| only.is_none_or(|o| o.contains(&i.name)))
            .map(|i| {
                let t = self.tracks.get(&i.name).cloned().unwrap_or_default();
                (i.name.clone(), self.state_of(i, &t))
            })
            .collect();
        for (name, state) in states {
            let now = self.now;
            let t = self.tracks.entry(name).or_default();
            if t.last.as_ref().map(IntentState::word) != Some(state.word()) {
                t.since_s = now;
            }
            t.last = Some(state);
        }
    }

    /// `nodes` now run `generation`; their older samples no longer count for intents.
    pub fn expect_generation(&mut self, nodes: &[String], generation: u64) {
        for n in nodes {
            self.expected.insert(n.clone(), generation);
        }
    }

    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Takes one node's sample; returns what changed in the network.
    pub fn observe(&mut self, s: &pb::TelemetrySample) -> Vec<Event> {
        let mut events = Vec::new();
        if !s.up {
            if self.down_nodes.insert(s.node.clone()) {
                events.push(Event::NodeDown(s.node.clone()));
                self.refresh(None);
            }
            return events;
        }
        let first = self.now <= 0.0 && s.time_s > 0.0;
        self.now = self.now.max(s.time_s);
        if first {
            // The first time on the agents' clock: states start now.
            for t in self.tracks.values_mut() {
                t.since_s = self.now;
            }
        }
        if self.down_nodes.remove(&s.node) {
            events.push(Event::NodeUp(s.node.clone()));
        }
        let threshold = physics::qber_threshold(1.16);
        for l in &s.links {
            self.link_rates.insert(l.link.clone(), l.skr);
            if !l.up {
                if self.down_links.insert(l.link.clone()) {
                    events.push(Event::LinkDown(l.link.clone()));
                }
            } else if self.down_links.remove(&l.link) {
                events.push(Event::LinkUp(l.link.clone()));
            }
            if l.kind == "qkd" && l.qber >= threshold {
                if self.quarantined.insert(l.link.clone()) {
                    events.push(Event::Quarantined(l.link.clone()));
                }
            } else if l.kind == "qkd" && self.quarantined.remove(&l.link) {
                events.push(Event::Released(l.link.clone()));
            }
        }
        if s.generation < self.expected.get(&s.node).copied().unwrap_or(0) {
            if !events.is_empty() {
                self.refresh(None);
            }
            return events;
        }
        let mut touched = BTreeSet::new();
        for u in &s.units {
            let Some(intent) = self
                .summary
                .intents
                .iter()
                .find(|i| i.name == u.service_unit)
            else {
                continue;
            };
            // The slave end measures what arrived.
            if intent.endpoints[1] != s.node {
                continue;
            }
            let target = intent.admitted_rate;
            touched.insert(intent.name.clone());
            let t = self.tracks.entry(intent.name.clone()).or_default();
            t.measured = u.delivered_rate;
            t.fidelity = Some(u.fidelity);
            t.samples_since_plan += 1;
            let met = u.delivered_rate >= target * (1.0 - TOLERANCE);
            if met {
                t.reached = true;
                t.short_run = 0;
                t.zero_run = 0;
                t.reported_shortfall = false;
            } else if t.samples_since_plan > WARMUP {
                t.short_run += 1;
                if u.delivered_rate <= 0.0 {
                    t.zero_run += 1;
                }
                if t.short_run >= SHORTFALL_AFTER && !t.reported_shortfall {
                    t.reported_shortfall = true;
                    events.push(Event::Shortfall(intent.name.clone()));
                }
            }
        }
        self.refresh((events.is_empty()).then_some(&touched));
        events
    }

    /// What is down now: cut links, quarantined links and stopped nodes.
    pub fn failed(&self) -> Failed {
        Failed {
            links: self.down_links.union(&self.quarantined).cloned().collect(),
            nodes: self.down_nodes.clone(),
        }
    }

    /// Why a path delivers nothing now: the first of its links or nodes that is down (the
    /// wording of [`Failed::path_down`], with quarantine said).
    pub fn path_down(&self, p: &PathSummary) -> Option<String> {
        if let Some(n) = p.nodes.iter().find(|n| self.down_nodes.contains(*n)) {
            return Some(format!("node {n}"));
        }
        p.links.iter().find_map(|l| {
            if self.down_links.contains(l) {
                Some(format!("link {l}"))
            } else if self.quarantined.contains(l) {
                Some(format!("link {l}, quarantined"))
            } else {
                None
            }
        })
    }

    /// Paths up, and whether the intent has all the disjoint paths it asks for up.
    fn protection(&self, i: &IntentSummary) -> (usize, bool) {
        let up = i
            .paths
            .iter()
            .filter(|p| self.path_down(p).is_none())
            .count();
        let wanted = i.disjoint_paths.unwrap_or(1) as usize;
        (up, wanted > 1 && up >= wanted)
    }

    fn state_of(&self, i: &IntentSummary, t: &Track) -> IntentState {
        if i.admission == Admission::Rejected {
            return IntentState::Unsatisfiable(i.reason.clone().unwrap_or_default());
        }
        if t.samples_since_plan == 0
            && let Some(last) = &t.last
        {
            return last.clone();
        }
        if t.zero_run >= FAILED_AFTER {
            return IntentState::Failed(format!("nothing delivered for {} intervals", t.zero_run));
        }
        let met = t.measured >= i.admitted_rate * (1.0 - TOLERANCE) && t.samples_since_plan > 0;
        if !met {
            return if !t.reached || t.samples_since_plan <= WARMUP {
                IntentState::Pending
            } else {
                IntentState::Degraded(format!(
                    "{:.3}/s measured, {:.3}/s admitted",
                    t.measured, i.admitted_rate
                ))
            };
        }
        if let (Admission::Partial, Some(r)) = (&i.admission, &i.reason) {
            return IntentState::Degraded(format!("only partly admitted: {r}"));
        }
        match i.disjoint_paths {
            Some(wanted) if wanted > 1 => {
                let down: Vec<String> = i
                    .paths
                    .iter()
                    .filter_map(|p| {
                        let why = self.path_down(p)?;
                        Some(format!("path {} of {wanted} is down ({why})", p.path + 1))
                    })
                    .collect();
                if down.is_empty() {
                    IntentState::Installed
                } else {
                    let mut reason = format!("protection lost: {}", down.join(", "));
                    if i.protection_lost.is_some() {
                        reason.push_str("; no disjoint replacement exists");
                    }
                    IntentState::Degraded(reason)
                }
            }
            _ => IntentState::Installed,
        }
    }

    /// Every intent's state now.
    pub fn statuses(&self) -> Vec<IntentStatus> {
        self.summary
            .intents
            .iter()
            .map(|i| {
                let t = self.tracks.get(&i.name).cloned().unwrap_or_default();
                let (paths, protected) = self.protection(i);
                IntentStatus {
                    name: i.name.clone(),
                    requested: i.requested_rate,
                    target: i.admitted_rate,
                    measured: t.measured,
                    fidelity: t.fidelity,
                    state: self.state_of(i, &t),
                    paths,
                    protected,
                    since_s: t.since_s,
                    wanted_paths: i.disjoint_paths.unwrap_or(1),
                }
            })
            .collect()
    }

    /// Intents admitted less than they asked for.
    pub fn not_met(&self) -> BTreeSet<String> {
        self.summary
            .intents
            .iter()
            .filter(|i| i.admission != Admission::Met)
            .map(|i| i.name.clone())
            .collect()
    }

    /// Intents whose paths use a link or node that drift touched.
    pub fn affected(
        &self,
        links: &BTreeSet<String>,
        nodes: &BTreeSet<String>,
        shortfalls: &BTreeSet<String>,
    ) -> BTreeSet<String> {
        self.summary
            .intents
            .iter()
            .filter(|i| {
                shortfalls.contains(&i.name)
                    || i.paths.iter().any(|p| {
                        p.links.iter().any(|l| links.contains(l))
                            || p.nodes.iter().any(|n| nodes.contains(n))
                    })
            })
            .map(|i| i.name.clone())
            .collect()
    }
}

/// `cell` followed by spaces up to `width` characters. (A `{:<w$}` format panics for a width
/// above 65,535, which a long intent name reaches.)
pub fn pad(cell: &str, width: usize) -> String {
    let mut out = String::from(cell);
    out.extend(std::iter::repeat_n(
        ' ',
        width.saturating_sub(cell.chars().count()),
    ));
    out
}

/// The status table as the terminal shows it; `now_s` (agent clock) gives the `since`
/// column, how long each intent has been in its state.
pub fn table(statuses: &[IntentStatus], now_s: f64) -> String {
    let mut rows = vec![[
        "intent".to_string(),
        "target/s".into(),
        "measured/s".into(),
        "fidelity".into(),
        "state".into(),
        "paths".into(),
        "since".into(),
        String::new(),
    ]];
    for s in statuses {
        let reason = match &s.state {
            IntentState::Degraded(r) | IntentState::Unsatisfiable(r) | IntentState::Failed(r) => {
                format!("({r})")
            }
            _ => String::new(),
        };
        let paths = if s.wanted_paths > 1 {
            format!("{} of {}", s.paths, s.wanted_paths)
        } else {
            s.paths.to_string()
        };
        rows.push([
            s.name.clone(),
            format!("{:.3}", s.target),
            format!("{:.3}", s.measured),
            s.fidelity.map_or("-".into(), |f| format!("{f:.4}")),
            s.state.word().to_string(),
            paths,
            format!("{:.1}s", (now_s - s.since_s).max(0.0)),
            reason,
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            let line: Vec<String> = r.iter().zip(&widths).map(|(c, w)| pad(c, *w)).collect();
            format!("{}\n", line.join("  ").trim_end())
        })
        .collect()
}
