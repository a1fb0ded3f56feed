//! Intent status from *measured* delivery, and drift detection, over the telemetry the
//! agents stream. Pure bookkeeping: samples in, statuses and events out.
//!
//! An intent is `pending` until its first full-rate interval, `installed` while the rate
//! its slave end measures is within [`TOLERANCE`] of what was admitted, `degraded` when it
//! delivers less (or was only partly admitted), `failed` after [`FAILED_AFTER`] intervals
//! without delivery, and `unsatisfiable` when the compiler could not admit it. Drift is a
//! link going down, a QBER at or over the BB84 threshold (the link is quarantined), a node
//! going down, or a shortfall lasting [`SHORTFALL_AFTER`] intervals.

use crate::pb;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use strata_compiler::config::{Admission, Summary};
use strata_compiler::physics;

/// Relative shortfall still counted as meeting the rate.
pub const TOLERANCE: f64 = 0.05;
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
        };
        m.set_plan(summary);
        m
    }

    /// A new compile was applied: targets change and every intent gets a new warm-up.
    pub fn set_plan(&mut self, summary: Summary) {
        for i in &summary.intents {
            let t = self.tracks.entry(i.name.clone()).or_default();
            t.samples_since_plan = 0;
            t.measured = 0.0;
            t.fidelity = None;
            t.short_run = 0;
            t.zero_run = 0;
            t.reported_shortfall = false;
        }
        self.tracks
            .retain(|n, _| summary.intents.iter().any(|i| &i.name == n));
        self.summary = summary;
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
            }
            return events;
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
            return events;
        }
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
        events
    }

    /// Every intent's state now.
    pub fn statuses(&self) -> Vec<IntentStatus> {
        self.summary
            .intents
            .iter()
            .map(|i| {
                let t = self.tracks.get(&i.name).cloned().unwrap_or_default();
                let state = if i.admission == Admission::Rejected {
                    IntentState::Unsatisfiable(i.reason.clone().unwrap_or_default())
                } else if t.zero_run >= FAILED_AFTER {
                    IntentState::Failed(format!("nothing delivered for {} intervals", t.zero_run))
                } else if t.measured >= i.admitted_rate * (1.0 - TOLERANCE)
                    && t.samples_since_plan > 0
                {
                    match (&i.admission, &i.reason) {
                        (Admission::Partial, Some(r)) => {
                            IntentState::Degraded(format!("only partly admitted: {r}"))
                        }
                        _ => IntentState::Installed,
                    }
                } else if !t.reached || t.samples_since_plan <= WARMUP {
                    IntentState::Pending
                } else {
                    IntentState::Degraded(format!(
                        "{:.3}/s measured, {:.3}/s admitted",
                        t.measured, i.admitted_rate
                    ))
                };
                IntentStatus {
                    name: i.name.clone(),
                    requested: i.requested_rate,
                    target: i.admitted_rate,
                    measured: t.measured,
                    fidelity: t.fidelity,
                    state,
                }
            })
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
                    || i.admission != Admission::Met
                    || i.paths.iter().any(|p| {
                        p.links.iter().any(|l| links.contains(l))
                            || p.nodes.iter().any(|n| nodes.contains(n))
                    })
            })
            .map(|i| i.name.clone())
            .collect()
    }
}

/// The status table as the terminal shows it.
pub fn table(statuses: &[IntentStatus]) -> String {
    let mut rows = vec![[
        "intent".to_string(),
        "target/s".into(),
        "measured/s".into(),
        "fidelity".into(),
        "state".into(),
    ]];
    for s in statuses {
        let state = match &s.state {
            IntentState::Degraded(r) | IntentState::Unsatisfiable(r) | IntentState::Failed(r) => {
                format!("{} ({r})", s.state.word())
            }
            other => other.word().to_string(),
        };
        rows.push([
            s.name.clone(),
            format!("{:.3}", s.target),
            format!("{:.3}", s.measured),
            s.fidelity.map_or("-".into(), |f| format!("{f:.4}")),
            state,
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            format!("{}\n", line.join("  ").trim_end())
        })
        .collect()
}
