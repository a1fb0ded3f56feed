//! What the event log says about re-plans: intent lists kept short, routes as operators
//! read them, and what became of a protected intent that lost a path.

use super::Controller;
use std::collections::BTreeSet;
use strata_compiler::config::Summary;

/// At most this many intent names in one log line.
const NAMES_IN_LOG: usize = 8;

pub(super) fn names(set: &BTreeSet<String>) -> String {
    let mut v: Vec<&str> = set.iter().take(NAMES_IN_LOG).map(String::as_str).collect();
    let more = set.len().saturating_sub(NAMES_IN_LOG);
    if more > 0 {
        v.push("…");
        return format!("{} and {more} more", v.join(", "));
    }
    v.join(", ")
}

/// The path of a summary path, as an operator reads it.
fn route(nodes: &[String]) -> String {
    nodes.join("→")
}

impl Controller {
    /// Says what became of a protected intent that lost the paths numbered `lost`.
    pub(super) fn note_protection(
        &mut self,
        before: &Summary,
        after: &Summary,
        name: &str,
        lost: &BTreeSet<usize>,
    ) {
        let (Some(b), Some(a)) = (
            before.intents.iter().find(|i| i.name == name),
            after.intents.iter().find(|i| i.name == name),
        ) else {
            return;
        };
        if b.paths == a.paths && b.protection_lost == a.protection_lost {
            // Said when the path was first lost.
            return;
        }
        let kept: Vec<String> = a
            .paths
            .iter()
            .filter(|p| !lost.contains(&p.path) && b.paths.contains(p))
            .map(|p| format!("path {} ({})", p.path + 1, route(&p.nodes)))
            .collect();
        let replaced: Vec<String> = a
            .paths
            .iter()
            .filter(|p| !b.paths.contains(p))
            .map(|p| format!("path {} now runs {}", p.path + 1, route(&p.nodes)))
            .collect();
        let carried: f64 = a
            .paths
            .iter()
            .filter(|p| !lost.contains(&p.path))
            .map(|p| p.rate)
            .sum::<f64>()
            .min(a.admitted_rate);
        let rate = if carried >= a.admitted_rate * (1.0 - 1e-9) {
            "at full rate".to_string()
        } else {
            format!("at {:.3} of {:.3}/s", carried, a.admitted_rate)
        };
        let msg = match &a.protection_lost {
            Some(why) => format!(
                "{name} stays on {} {rate}, unprotected: {why}",
                kept.join(", ")
            ),
            None if !replaced.is_empty() => format!(
                "{name} protection restored: {}; {} kept",
                replaced.join(", "),
                kept.join(", ")
            ),
            None => return,
        };
        self.note(msg);
    }
}
