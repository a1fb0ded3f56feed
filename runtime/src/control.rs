//! The closed loop: apply a compiled configuration, subscribe to every agent's telemetry,
//! track each intent from measured delivery, and when the network drifts re-plan only the
//! intents the drift touches — the others stay pinned to their paths — and apply the
//! difference.

use crate::apply::{Agents, ApplyError, ApplyOptions, ApplyReport, apply, connect};
use crate::monitor::{Event, Monitor};
use crate::pb;
use crate::state::StateStore;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use strata_compiler::check::Program;
use strata_compiler::compile::{CompileOptions, Compiled, PinnedPath, compile};
use strata_compiler::inventory::{Inventory, KeyRate, PairRate};
use strata_grammar::Spanned;
use tokio::sync::mpsc;

/// Streams every agent's telemetry into one channel. A node whose stream breaks is reported
/// as a sample with `up: false`, and its stream is re-opened until the receiver goes away.
pub fn subscribe(agents: &Agents, retry: Duration) -> mpsc::Receiver<pb::TelemetrySample> {
    let (tx, rx) = mpsc::channel(1024);
    for (node, addr) in &agents.agents {
        let (node, addr, tx) = (node.clone(), addr.clone(), tx.clone());
        tokio::spawn(async move {
            loop {
                if let Ok(mut client) = connect(&addr, Duration::from_secs(2)).await
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

/// The inventory as the network is now: links that are down, quarantined or touch a node
/// that is down deliver nothing.
pub fn overlay(base: &Inventory, monitor: &Monitor) -> Inventory {
    let mut inv = base.clone();
    let dead = |name: &str, ends: &[Spanned<String>; 2]| {
        monitor.down_links.contains(name)
            || monitor.quarantined.contains(name)
            || ends.iter().any(|e| monitor.down_nodes.contains(&e.value))
    };
    for l in &mut inv.qkd_links {
        if dead(&l.name.value, &l.ends) {
            l.key_rate = KeyRate::Measured(Spanned::new(0.0, l.span));
        }
    }
    for l in &mut inv.entanglement_links {
        if dead(&l.name.value, &l.ends) {
            l.pair_rate = PairRate::Measured(Spanned::new(0.0, l.span));
        }
    }
    inv
}

/// One line of the event log.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LogLine {
    /// Seconds on the agents' clock.
    pub time_s: f64,
    pub message: String,
}

/// What one repair did.
#[derive(Debug, Clone)]
pub struct Repair {
    pub replanned: BTreeSet<String>,
    pub report: ApplyReport,
}

pub struct Controller {
    pub program: Program,
    pub inventory: Inventory,
    pub agents: Agents,
    pub store: Box<dyn StateStore + Send + Sync>,
    pub options: ApplyOptions,
    pub compiled: Compiled,
    pub monitor: Monitor,
    pub log: Vec<LogLine>,
    now: f64,
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
        Controller {
            program,
            inventory,
            agents,
            store,
            options,
            compiled,
            monitor,
            log: Vec::new(),
            now: 0.0,
        }
    }

    fn note(&mut self, message: String) {
        self.log.push(LogLine {
            time_s: self.now,
            message,
        });
    }

    /// Applies the current compile.
    pub async fn apply(&mut self) -> Result<ApplyReport, ApplyError> {
        let report = apply(
            self.store.as_ref(),
            &self.agents,
            &self.compiled.configs,
            Some(&self.compiled.summary),
            &self.options,
            None,
        )
        .await?;
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

    /// Feeds one sample to the monitor; returns the drift it revealed.
    pub fn observe(&mut self, sample: &pb::TelemetrySample) -> Vec<Event> {
        if sample.up {
            self.now = self.now.max(sample.time_s);
        }
        let events = self.monitor.observe(sample);
        for e in &events {
            self.note(e.to_string());
        }
        events
    }

    /// Re-plans the intents the drift touches, keeps the rest on their paths, and applies
    /// the difference. Returns `None` when no intent is affected.
    pub async fn repair(&mut self, events: &[Event]) -> Result<Option<Repair>, ApplyError> {
        let mut links = BTreeSet::new();
        let mut nodes = BTreeSet::new();
        let mut shortfalls = BTreeSet::new();
        for e in events {
            match e {
                Event::LinkDown(l)
                | Event::Quarantined(l)
                | Event::LinkUp(l)
                | Event::Released(l) => {
                    links.insert(l.clone());
                }
                Event::NodeDown(n) | Event::NodeUp(n) => {
                    nodes.insert(n.clone());
                }
                Event::Shortfall(i) => {
                    shortfalls.insert(i.clone());
                }
            }
        }
        let affected = self.monitor.affected(&links, &nodes, &shortfalls);
        if affected.is_empty() {
            return Ok(None);
        }
        let pinned: BTreeMap<String, Vec<PinnedPath>> = self
            .compiled
            .summary
            .intents
            .iter()
            .filter(|i| !affected.contains(&i.name) && !i.paths.is_empty())
            .map(|i| {
                let paths = i
                    .paths
                    .iter()
                    .map(|p| PinnedPath {
                        links: p.links.clone(),
                        nodes: p.nodes.clone(),
                        rate: p.rate,
                    })
                    .collect();
                (i.name.clone(), paths)
            })
            .collect();
        let inventory = overlay(&self.inventory, &self.monitor);
        self.compiled = compile(
            &self.program,
            &inventory,
            &CompileOptions {
                pinned,
                ..CompileOptions::default()
            },
        );
        let options = ApplyOptions {
            skip_unreachable: true,
            ..self.options.clone()
        };
        let report = apply(
            self.store.as_ref(),
            &self.agents,
            &self.compiled.configs,
            Some(&self.compiled.summary),
            &options,
            None,
        )
        .await?;
        self.monitor.set_plan(self.compiled.summary.clone());
        self.monitor
            .expect_generation(&report.nodes, report.generation);
        let names: Vec<&str> = affected.iter().map(String::as_str).collect();
        let outcome = if report.nodes.is_empty() {
            format!("nothing to change, generation {} stays", report.generation)
        } else {
            format!(
                "generation {} on {} node(s)",
                report.generation,
                report.nodes.len()
            )
        };
        self.note(format!(
            "re-planned {} ({} kept on their paths); {outcome}",
            names.join(", "),
            self.compiled.summary.intents.len() - affected.len(),
        ));
        Ok(Some(Repair {
            replanned: affected,
            report,
        }))
    }
}
