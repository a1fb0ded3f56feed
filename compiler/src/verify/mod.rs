//! The verifier: an independent re-check of emitted configuration against the intents and
//! the inventory it was compiled from. It owns [`verify`], the violation codes ([`codes`])
//! and [`read_dir_documents`], which loads an output directory handed in as texts.
//!
//! Independence is the point: nothing here calls the optimiser (`compile/`) or the topology
//! it searches (`topology.rs`). Link capacities are recomputed from the inventory with
//! [`crate::physics`], every service unit's paths are rebuilt from the per-node forwarding
//! tables (never from the summary), and the summary is only compared against what those
//! tables say. The re-checks (DESIGN §4–§6):
//!
//! 1. capacities of QKD, entanglement and classical links and of memories, and the
//!    reservations each link end reports;
//! 2. flow conservation: every path is a chain of real links from the intent's first endpoint
//!    to its second, with the same rate at every node;
//! 3. per admitted intent: admitted rate, policies (avoid, via, max hops, trusted relays,
//!    relay roles, disjointness), fidelity and latency;
//! 4. the service stratum: service units at both ends, their URNs, and session token
//!    buckets at the admitted rate.
//!
//! Not re-checked: memory cut-offs, latency budgets written on classical paths, and the
//! summary's objective value — they are advice to the agents, not reservations.
//!
//! One concept per file, each using only those listed before it: `report.rs` (what a
//! violation is, the tolerance of comparisons) and `codes.rs`; `urn.rs` (RFC 8141 syntax);
//! `model.rs` (the network recomputed from the inventory); `flows.rs` (paths rebuilt from the
//! forwarding tables); `purification.rs` (what pair paths deliver, swap entries);
//! `capacity.rs` (quantum link reservations), then `classical.rs` and `memories.rs`;
//! `summary.rs`, `intents.rs` and `service.rs` (the summary, each intent's bounds, the service
//! stratum). This file only runs them in order and loads output directories.
//!
//! A few figures of the connectivity model are not physics but strata's own accounting of
//! classical traffic (the `CLASSICAL_*` and `*_BITS` constants of `model.rs`); they are
//! restated here on purpose, so that a change to them in the optimiser shows up as a violation
//! until the verifier is changed with it.

mod capacity;
mod classical;
pub mod codes;
mod flows;
mod intents;
mod memories;
mod model;
mod purification;
mod report;
mod service;
mod summary;
mod urn;

pub use report::Violation;

use capacity::{Usage, check_entanglement_links, check_qkd_links};
use classical::check_classical;
use flows::reconstruct;
use intents::check_intent;
use memories::check_memories;
use model::{Model, check_documents};
use purification::evaluate_pair_paths;
use report::Out;
use service::{ServiceIndex, check_service, check_stray_service};
use summary::check_summary;

use crate::check::{CheckedIntent, Program};
use crate::config::{
    Admission, ConfigSet, ConnectivityConfig, ForwardingConfig, SUMMARY_FILE, ServiceConfig,
    Summary, file_name,
};
use crate::inventory::Inventory;
use std::collections::{BTreeMap, BTreeSet};

/// Re-checks `configs` and `summary` against the intents and the inventory they were
/// compiled from. Returns every violation found, sorted; empty means the configuration is
/// sound.
pub fn verify(
    program: &Program,
    inventory: &Inventory,
    configs: &ConfigSet,
    summary: &Summary,
) -> Vec<Violation> {
    let model = Model::new(inventory);
    let mut v = Out::default();
    check_documents(&model, configs, &mut v);
    let intents: BTreeMap<&str, &CheckedIntent> = program
        .intents
        .iter()
        .map(|i| (i.name.as_str(), i))
        .collect();
    let mut flows = reconstruct(&model, &intents, configs, &mut v);
    evaluate_pair_paths(&model, &intents, configs, &mut flows, &mut v);
    let usage = Usage::of(&model, &intents, &flows);
    check_qkd_links(&model, configs, &usage, &mut v);
    check_entanglement_links(&model, configs, &usage, &mut v);
    check_classical(&model, configs, &flows, &intents, &usage, &mut v);
    check_memories(&model, configs, &usage, &mut v);
    check_summary(&model, &intents, summary, &flows, &mut v);
    let admissions: BTreeMap<&str, Admission> = summary
        .intents
        .iter()
        .map(|s| (s.name.as_str(), s.admission))
        .collect();
    let services = ServiceIndex::new(configs);
    for intent in &program.intents {
        let admission = admissions.get(intent.name.as_str()).copied();
        let paths = flows
            .get(intent.name.as_str())
            .map_or(&[][..], Vec::as_slice);
        check_intent(&model, intent, admission, paths, &mut v);
        check_service(&model, intent, admission, paths, &services, &mut v);
    }
    check_stray_service(&intents, configs, &mut v);
    v.into_sorted()
}

// ------------------------------------------------------------------ reading an output dir

/// Loads an output directory written by `strata compile`: `files` are (relative path, text)
/// pairs as [`ConfigSet::render`] names them (`NODE/STRATUM.yaml`), plus `summary.json`.
/// Other files are ignored. A node whose documents are missing gets empty ones, which
/// [`verify`] reports.
pub fn read_dir_documents(files: &[(String, String)]) -> Result<(ConfigSet, Summary), String> {
    let mut set = ConfigSet::default();
    let mut summary = None;
    let mut seen: BTreeSet<(String, &str)> = BTreeSet::new();
    for (path, text) in files {
        let rel = path.replace('\\', "/");
        let rel = rel.trim_start_matches("./");
        if rel == SUMMARY_FILE {
            summary =
                Some(serde_json::from_str::<Summary>(text).map_err(|e| format!("`{rel}`: {e}"))?);
            continue;
        }
        let Some((dir, doc)) = rel.rsplit_once('/') else {
            continue;
        };
        if dir.contains('/') {
            continue;
        }
        let stratum = match doc {
            "service.yaml" => "service",
            "forwarding.yaml" => "forwarding",
            "connectivity.yaml" => "connectivity",
            _ => continue,
        };
        let err = |e: serde_yaml::Error| format!("`{rel}`: {e}");
        let node = match stratum {
            "service" => {
                let d: ServiceConfig = serde_yaml::from_str(text).map_err(err)?;
                let n = d.node.clone();
                set.nodes.entry(n.clone()).or_default().service = d;
                n
            }
            "forwarding" => {
                let d: ForwardingConfig = serde_yaml::from_str(text).map_err(err)?;
                let n = d.node.clone();
                set.nodes.entry(n.clone()).or_default().forwarding = d;
                n
            }
            _ => {
                let d: ConnectivityConfig = serde_yaml::from_str(text).map_err(err)?;
                let n = d.node.clone();
                set.nodes.entry(n.clone()).or_default().connectivity = d;
                n
            }
        };
        if file_name(&node) != dir {
            return Err(format!(
                "`{rel}` configures node `{node}` but sits in directory `{dir}`"
            ));
        }
        if !seen.insert((node.clone(), stratum)) {
            return Err(format!("two {stratum} documents for node `{node}`"));
        }
    }
    let summary = summary.ok_or_else(|| format!("no `{SUMMARY_FILE}` in the output directory"))?;
    Ok((set, summary))
}
