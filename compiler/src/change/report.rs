//! The report of a change ([`Report`]): a verdict per intent with what moved, the links
//! whose utilisation moved, the inventory changes and the assertions; and how it writes
//! and compares figures.

use super::snapshot::QuantumKind;
use crate::config::Admission;
use serde::{Deserialize, Serialize};

/// What changed between two revisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub base_network: String,
    pub head_network: String,
    /// Every intent of either revision: base order, then intents only the head has.
    pub intents: Vec<IntentChange>,
    /// Quantum links whose utilisation moved by more than the threshold, largest move first.
    pub links: Vec<LinkChange>,
    /// Differences between the two inventories.
    pub inventory: Vec<InventoryChange>,
    /// Per-revision assertion results. Empty until the language has assertions; an
    /// assertion that passed in the base and fails in the head makes the report worse.
    pub assertions: Vec<AssertionChange>,
    pub counts: Counts,
    /// Some intent (or assertion) got worse.
    pub worse: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Worse,
    Better,
    Same,
    Added,
    Removed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Worse => "worse",
            Verdict::Better => "better",
            Verdict::Same => "same",
            Verdict::Added => "added",
            Verdict::Removed => "removed",
        }
    }
}

/// A value in the base and in the head (`None`: not there, or not known).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change<T> {
    pub before: T,
    pub after: T,
}

impl<T: PartialEq> Change<T> {
    pub fn changed(&self) -> bool {
        self.before != self.after
    }
}

/// Disjoint paths an intent wants and how many were configured in each revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Protection {
    pub wanted: Change<Option<u32>>,
    pub configured: Change<Option<u32>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentChange {
    pub name: String,
    pub verdict: Verdict,
    /// What made the verdict, in words ("admitted rate 10 → 4/s", …); empty for `same`.
    pub why: Vec<String>,
    pub requested: Change<Option<f64>>,
    pub admitted: Change<Option<f64>>,
    pub admission: Change<Option<Admission>>,
    pub fidelity: Change<Option<f64>>,
    pub latency_ms: Change<Option<f64>>,
    /// Each path as its chain of nodes.
    pub paths: Change<Vec<Vec<String>>>,
    /// Present when either revision asks for `disjoint paths N`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub protection: Option<Protection>,
    /// The compiler's reason for a shortfall, per revision.
    pub reason: Change<Option<String>>,
    /// For a worse intent: the inventory changes that touch its base paths.
    pub attribution: Vec<String>,
}

/// A quantum link's utilisation before and after, in percent (`None`: no such link).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkChange {
    pub link: String,
    pub kind: QuantumKind,
    pub reserved: Change<Option<f64>>,
    pub usable: Change<Option<f64>>,
    pub utilisation_pct: Change<Option<f64>>,
    /// After − before, percentage points (a missing side counts as 0).
    pub change_pp: f64,
}

/// One difference between the inventories.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryChange {
    /// `link` or `node`.
    pub element: String,
    pub name: String,
    /// `removed`, `added`, `key_rate`, `pair_rate`, `qber`, `length_km`, `role`, `domain`
    /// or `ends`.
    pub change: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub after: Option<String>,
    /// The change in words, e.g. "link q-norte-moncloa was removed".
    pub description: String,
}

/// An assertion's result in each revision (`None`: not present there).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssertionChange {
    pub name: String,
    pub passed: Change<Option<bool>>,
    /// Why it fails, when it does.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
}

impl AssertionChange {
    pub fn worse(&self) -> bool {
        self.passed.before == Some(true) && self.passed.after == Some(false)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub worse: usize,
    pub better: usize,
    pub same: usize,
    pub added: usize,
    pub removed: usize,
}

/// Two figures differ beyond round-off.
pub(super) fn differs(a: f64, b: f64) -> bool {
    (a - b).abs() > 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// A number for people: integers as integers, others with up to four decimals.
pub fn num(v: f64) -> String {
    if v.abs() >= 1000.0 || (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round())
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}
