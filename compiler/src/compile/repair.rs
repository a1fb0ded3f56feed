//! Repair after failures, exactly as the runtime's loop makes it, so that `strata check`
//! can predict what a failure costs and the runtime can act on it: intents none of whose
//! paths use a failed element stay where they are; a protected intent (`disjoint paths N`)
//! that still has a working path keeps it and has its lost paths replaced
//! ([`super::protect`]); every other affected intent is re-planned over what still works.

use super::optimise::Objective;
use super::{CompileOptions, Compiled, PinnedPath, compile};
use crate::check::Program;
use crate::config::{IntentSummary, PathSummary, Summary};
use crate::inventory::{Inventory, KeyRate, PairRate};
use std::collections::{BTreeMap, BTreeSet};
use strata_grammar::Spanned;

/// Links and nodes that are down.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Failed {
    /// Quantum links (cut, or quarantined for their QBER).
    pub links: BTreeSet<String>,
    pub nodes: BTreeSet<String>,
}

impl Failed {
    pub fn is_empty(&self) -> bool {
        self.links.is_empty() && self.nodes.is_empty()
    }

    /// The first failed node or link of a path, as `node X` or `link Y`.
    pub fn path_down(&self, p: &PathSummary) -> Option<String> {
        if let Some(n) = p.nodes.iter().find(|n| self.nodes.contains(*n)) {
            return Some(format!("node {n}"));
        }
        p.links
            .iter()
            .find(|l| self.links.contains(*l))
            .map(|l| format!("link {l}"))
    }

    /// The inventory as the network is now: failed links, and every link of a failed
    /// node, deliver nothing.
    pub fn overlay(&self, base: &Inventory) -> Inventory {
        let mut inv = base.clone();
        let dead = |name: &str, ends: &[Spanned<String>; 2]| {
            self.links.contains(name) || ends.iter().any(|e| self.nodes.contains(&e.value))
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

    /// Intents with a configured path over a failed element.
    pub fn affected(&self, summary: &Summary) -> BTreeSet<String> {
        summary
            .intents
            .iter()
            .filter(|i| i.paths.iter().any(|p| self.path_down(p).is_some()))
            .map(|i| i.name.clone())
            .collect()
    }

    /// The numbers of an intent's paths that are down.
    pub fn lost_paths(&self, i: &IntentSummary) -> BTreeSet<usize> {
        i.paths
            .iter()
            .filter(|p| self.path_down(p).is_some())
            .map(|p| p.path)
            .collect()
    }
}

impl std::fmt::Display for Failed {
    /// `cut of link a`, `loss of node N`, `cut of links a, b`, `loss of node N and cut of link a`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
        let mut parts = Vec::new();
        if !self.nodes.is_empty() {
            let s = if self.nodes.len() > 1 { "s" } else { "" };
            parts.push(format!("loss of node{s} {}", list(&self.nodes)));
        }
        if !self.links.is_empty() {
            let s = if self.links.len() > 1 { "s" } else { "" };
            parts.push(format!("cut of link{s} {}", list(&self.links)));
        }
        f.write_str(&parts.join(" and "))
    }
}

/// Protected intents among `intents` that keep a working path: name → the numbers of
/// their paths that are down.
pub fn survivors(
    summary: &Summary,
    intents: &BTreeSet<String>,
    failed: &Failed,
) -> BTreeMap<String, BTreeSet<usize>> {
    summary
        .intents
        .iter()
        .filter(|i| intents.contains(&i.name))
        .filter(|i| i.disjoint_paths.is_some_and(|n| n > 1))
        .filter_map(|i| {
            let lost = failed.lost_paths(i);
            (!lost.is_empty() && lost.len() < i.paths.len()).then(|| (i.name.clone(), lost))
        })
        .collect()
}

/// The paths of a summary's intent, as the compiler pins them.
pub fn pinned_paths(i: &IntentSummary) -> Vec<PinnedPath> {
    i.paths
        .iter()
        .map(|p| PinnedPath {
            index: p.path,
            links: p.links.clone(),
            nodes: p.nodes.clone(),
            rate: p.rate,
        })
        .collect()
}

/// Options of a compile that re-plans `moved` and keeps every other intent of `summary`
/// where it is; those in `restore` keep their surviving paths and replace the lost ones.
pub fn replan_options(
    summary: &Summary,
    moved: &BTreeSet<String>,
    restore: BTreeMap<String, BTreeSet<usize>>,
    objective: Objective,
) -> CompileOptions {
    CompileOptions {
        pinned: summary
            .intents
            .iter()
            .filter(|i| !moved.contains(&i.name) && !i.paths.is_empty())
            .map(|i| (i.name.clone(), pinned_paths(i)))
            .collect(),
        restore,
        objective,
        ..CompileOptions::default()
    }
}

/// The compile the runtime applies after `failed` went down, starting from `summary`.
pub fn repair(
    program: &Program,
    inv: &Inventory,
    summary: &Summary,
    failed: &Failed,
    objective: Objective,
) -> Compiled {
    let affected = failed.affected(summary);
    let restore = survivors(summary, &affected, failed);
    let moved = affected
        .into_iter()
        .filter(|n| !restore.contains_key(n))
        .collect();
    compile(
        program,
        &failed.overlay(inv),
        &replan_options(summary, &moved, restore, objective),
    )
}

/// What an intent delivers while `failed` are down: the rate its working paths carry, at
/// most its admitted rate (protected paths each carry the whole rate).
pub fn delivered(i: &IntentSummary, failed: &Failed) -> f64 {
    let up: f64 = i
        .paths
        .iter()
        .filter(|p| failed.path_down(p).is_none())
        .map(|p| p.rate)
        .sum();
    up.min(i.admitted_rate).max(0.0)
}
