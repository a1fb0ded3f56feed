//! What a change to intents and/or the inventory does to every intent: two compiled
//! revisions (base and head) in, one serialisable [`Report`] out. Pure — the caller runs
//! the front end and the compiler on each revision and hands in the results.
//!
//! Each revision is first reduced to a [`Snapshot`] (per intent what was admitted and
//! where; per quantum link its capacity and reservations; per node its role and domain), so
//! the comparison itself works on plain data. Intents are matched by name.
//!
//! An intent's verdict:
//!
//! * `added` / `removed` — it exists in only one revision;
//! * `worse` — any of: a lower admitted rate; a worse admission (met → partial → rejected);
//!   fewer disjoint paths configured than its `disjoint paths N` wants, where the base had
//!   all N; its fidelity or latency now outside the intent's own bound (and not before);
//! * `better` — nothing worse, and any of: a higher admitted rate, a better admission, all
//!   wanted disjoint paths configured again, a bound violation gone;
//! * `same` — otherwise (paths, fidelity or latency may still have moved within bounds;
//!   both values are in the report).
//!
//! Rates are compared with a relative tolerance of 1e-6, so re-running the optimiser on
//! the same inputs never reads as a change.
//!
//! When an intent gets worse and the inventory changed, the inventory changes that touch
//! one of its base paths (a link of the path, or a node on it) are named next to it
//! ([`IntentChange::attribution`]). Only quantum links and nodes are compared; classical
//! links and applications are not.
//!
//! Quantum links whose utilisation (reserved / usable capacity) moved by more than
//! [`UTILISATION_THRESHOLD_PP`] percentage points are listed, largest move first.
//!
//! [`Report::assertions`] is where per-revision assertion results go once the language has
//! assertions; nothing fills it yet, and an empty list changes nothing.

mod inventory;
mod report;
mod snapshot;
#[cfg(test)]
mod tests;

pub use report::{
    AssertionChange, Change, Counts, IntentChange, InventoryChange, LinkChange, Protection, Report,
    Verdict, num,
};
pub use snapshot::{IntentState, LinkState, NodeState, PathState, QuantumKind, Snapshot};

use crate::config::Admission;
use inventory::{Touches, inventory_changes};
use std::collections::BTreeSet;

/// Schema identifier of the report.
pub const SCHEMA: &str = "strata.diff/v1";

/// Utilisation moves at or below this many percentage points are not listed.
pub const UTILISATION_THRESHOLD_PP: f64 = 0.1;

/// Relative tolerance of rate comparisons.
const RATE_TOLERANCE: f64 = 1e-6;

/// Compares two revisions.
pub fn compare(base: &Snapshot, head: &Snapshot) -> Report {
    let inventory = inventory_changes(base, head);
    let mut intents = Vec::new();
    for b in &base.intents {
        let h = head.intents.iter().find(|h| h.name == b.name);
        intents.push(intent_change(Some(b), h, &inventory));
    }
    for h in &head.intents {
        if !base.intents.iter().any(|b| b.name == h.name) {
            intents.push(intent_change(None, Some(h), &inventory));
        }
    }
    let mut counts = Counts::default();
    for i in &intents {
        *match i.verdict {
            Verdict::Worse => &mut counts.worse,
            Verdict::Better => &mut counts.better,
            Verdict::Same => &mut counts.same,
            Verdict::Added => &mut counts.added,
            Verdict::Removed => &mut counts.removed,
        } += 1;
    }
    let names: std::collections::BTreeSet<&String> = base
        .assertions
        .keys()
        .chain(head.assertions.keys())
        .collect();
    let assertions: Vec<AssertionChange> = names
        .into_iter()
        .map(|name| AssertionChange {
            name: name.clone(),
            passed: Change {
                before: base.assertions.get(name).map(Option::is_none),
                after: head.assertions.get(name).map(Option::is_none),
            },
            message: head.assertions.get(name).cloned().flatten(),
        })
        .collect();
    let worse = counts.worse > 0 || assertions.iter().any(AssertionChange::worse);
    Report {
        schema: SCHEMA.into(),
        base_network: base.network.clone(),
        head_network: head.network.clone(),
        intents,
        links: link_changes(base, head),
        inventory: inventory.into_iter().map(|(_, c)| c).collect(),
        assertions,
        counts,
        worse,
    }
}

fn lower(a: f64, b: f64) -> bool {
    a < b * (1.0 - RATE_TOLERANCE) - 1e-12
}

fn admission_rank(a: Admission) -> u8 {
    match a {
        Admission::Met => 0,
        Admission::Partial => 1,
        Admission::Rejected => 2,
    }
}

pub fn admission_name(a: Admission) -> &'static str {
    match a {
        Admission::Met => "met",
        Admission::Partial => "partial",
        Admission::Rejected => "rejected",
    }
}

/// How many of the paths are pairwise link- and relay-disjoint (greedy, in path order —
/// exact for the paths of a protected intent, which the compiler keeps disjoint).
pub fn disjoint_count(paths: &[PathState]) -> u32 {
    let mut links: BTreeSet<&str> = BTreeSet::new();
    let mut relays: BTreeSet<&str> = BTreeSet::new();
    let mut n = 0;
    for p in paths {
        let inner = p.nodes.iter().skip(1).take(p.nodes.len().saturating_sub(2));
        if p.links.iter().any(|l| links.contains(l.as_str()))
            || inner.clone().any(|r| relays.contains(r.as_str()))
        {
            continue;
        }
        links.extend(p.links.iter().map(String::as_str));
        relays.extend(inner.map(String::as_str));
        n += 1;
    }
    n
}

/// Outside the intent's own fidelity or latency bound.
fn violations(i: &IntentState) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(f), Some(min)) = (i.fidelity, i.min_fidelity)
        && f < min - 1e-9
    {
        out.push(format!("fidelity {} below its bound {}", num(f), num(min)));
    }
    if let (Some(l), Some(max)) = (i.latency_ms, i.max_latency_ms)
        && l > max + 1e-9
    {
        out.push(format!(
            "latency {} ms above its bound {} ms",
            num(l),
            num(max)
        ));
    }
    out
}

fn intent_change(
    b: Option<&IntentState>,
    h: Option<&IntentState>,
    inventory: &[(Touches, InventoryChange)],
) -> IntentChange {
    let name = b.or(h).map(|i| i.name.clone()).unwrap_or_default();
    let chains = |i: Option<&IntentState>| -> Vec<Vec<String>> {
        i.map(|i| i.paths.iter().map(|p| p.nodes.clone()).collect())
            .unwrap_or_default()
    };
    let wanted = Change {
        before: b.and_then(|i| i.disjoint_wanted),
        after: h.and_then(|i| i.disjoint_wanted),
    };
    let protection = (wanted.before.is_some() || wanted.after.is_some()).then(|| Protection {
        configured: Change {
            before: b
                .filter(|i| i.disjoint_wanted.is_some())
                .map(|i| disjoint_count(&i.paths)),
            after: h
                .filter(|i| i.disjoint_wanted.is_some())
                .map(|i| disjoint_count(&i.paths)),
        },
        wanted,
    });
    let mut worse = Vec::new();
    let mut better = Vec::new();
    let verdict = match (b, h) {
        (None, _) => Verdict::Added,
        (Some(_), None) => Verdict::Removed,
        (Some(b), Some(h)) => {
            if lower(h.admitted, b.admitted) {
                worse.push(format!(
                    "admitted rate {} → {}/s",
                    num(b.admitted),
                    num(h.admitted)
                ));
            } else if lower(b.admitted, h.admitted) {
                better.push(format!(
                    "admitted rate {} → {}/s",
                    num(b.admitted),
                    num(h.admitted)
                ));
            }
            let (rb, rh) = (admission_rank(b.admission), admission_rank(h.admission));
            let adm = format!(
                "admission {} → {}",
                admission_name(b.admission),
                admission_name(h.admission)
            );
            if rh > rb {
                worse.push(adm);
            } else if rh < rb {
                better.push(adm);
            }
            if let Some(p) = &protection
                && let Some(want) = p.wanted.after
            {
                let had = p.configured.before.unwrap_or(0) >= p.wanted.before.unwrap_or(0)
                    && p.wanted.before.is_some();
                let has = p.configured.after.unwrap_or(0) >= want;
                let text = format!(
                    "disjoint paths {} → {} of {want}",
                    p.configured.before.unwrap_or(0),
                    p.configured.after.unwrap_or(0)
                );
                if had && !has {
                    worse.push(text);
                } else if !had && has && p.wanted.before.is_some() {
                    better.push(text);
                }
            }
            let (vb, vh) = (violations(b), violations(h));
            if vh.is_empty() && !vb.is_empty() {
                better.push(format!("no longer {}", vb.join(", ")));
            }
            if !vh.is_empty() && vb.is_empty() {
                worse.extend(vh);
            }
            if !worse.is_empty() {
                Verdict::Worse
            } else if !better.is_empty() {
                Verdict::Better
            } else {
                Verdict::Same
            }
        }
    };
    let attribution = match (verdict, b) {
        (Verdict::Worse, Some(b)) => inventory
            .iter()
            .filter(|(t, _)| {
                b.paths.iter().any(|p| {
                    t.links.iter().any(|l| p.links.contains(l))
                        || t.nodes.iter().any(|n| p.nodes.contains(n))
                })
            })
            .map(|(_, c)| c.description.clone())
            .collect(),
        _ => Vec::new(),
    };
    IntentChange {
        name,
        verdict,
        why: if verdict == Verdict::Worse {
            worse
        } else {
            better
        },
        requested: Change {
            before: b.and_then(|i| i.requested),
            after: h.and_then(|i| i.requested),
        },
        admitted: Change {
            before: b.map(|i| i.admitted),
            after: h.map(|i| i.admitted),
        },
        admission: Change {
            before: b.map(|i| i.admission),
            after: h.map(|i| i.admission),
        },
        fidelity: Change {
            before: b.and_then(|i| i.fidelity),
            after: h.and_then(|i| i.fidelity),
        },
        latency_ms: Change {
            before: b.and_then(|i| i.latency_ms),
            after: h.and_then(|i| i.latency_ms),
        },
        paths: Change {
            before: chains(b),
            after: chains(h),
        },
        protection,
        reason: Change {
            before: b.and_then(|i| i.reason.clone()),
            after: h.and_then(|i| i.reason.clone()),
        },
        attribution,
    }
}

fn link_changes(base: &Snapshot, head: &Snapshot) -> Vec<LinkChange> {
    let names: BTreeSet<&String> = base.links.keys().chain(head.links.keys()).collect();
    let mut out: Vec<LinkChange> = names
        .into_iter()
        .filter_map(|name| {
            let (b, h) = (base.links.get(name), head.links.get(name));
            let pct = |l: Option<&LinkState>| l.map(|l| l.utilisation() * 100.0);
            let change_pp = pct(h).unwrap_or(0.0) - pct(b).unwrap_or(0.0);
            if change_pp.abs() <= UTILISATION_THRESHOLD_PP {
                return None;
            }
            Some(LinkChange {
                link: name.clone(),
                kind: b.or(h)?.kind,
                reserved: Change {
                    before: b.map(|l| l.reserved),
                    after: h.map(|l| l.reserved),
                },
                usable: Change {
                    before: b.map(|l| l.usable),
                    after: h.map(|l| l.usable),
                },
                utilisation_pct: Change {
                    before: pct(b),
                    after: pct(h),
                },
                change_pp,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.change_pp
            .abs()
            .total_cmp(&a.change_pp.abs())
            .then_with(|| a.link.cmp(&b.link))
    });
    out
}
