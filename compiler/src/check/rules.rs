//! Path rules: what an `avoid`, `never via`, `via`, `relay via trusted nodes only`, `max
//! hops` or `disjoint paths` clause asks of every path, where it was written (so that a
//! blocked intent can name its cause), and the constraint set the optimiser reads.

use super::checked::{Constraints, Objective};
use super::codes;
use super::names::resolve_target;
use super::values::integer;
use crate::inventory::Inventory;
use strata_grammar::ast::{Clause, ClauseKind, ObjectiveKind, TargetKind};
use strata_grammar::{Diagnostic, Span};

/// One path rule and where it came from, so that a blocked intent can name its cause.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRule {
    pub kind: RuleKind,
    pub span: Span,
    pub policy: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    AvoidNode(String),
    AvoidLink(String),
    AvoidDomain(String),
    Via(String),
    TrustedOnly,
    MaxHops(u32),
    Disjoint(u32),
    Objective(Objective),
}

impl PathRule {
    pub fn describe(&self) -> String {
        let what = match &self.kind {
            RuleKind::AvoidNode(n) => format!("`avoid node {n}`"),
            RuleKind::AvoidLink(n) => format!("`avoid link {n}`"),
            RuleKind::AvoidDomain(n) => format!("`avoid domain {n}`"),
            RuleKind::Via(n) => format!("`via node {n}`"),
            RuleKind::TrustedOnly => "`relay via trusted nodes only`".to_string(),
            RuleKind::MaxHops(n) => format!("`max hops {n}`"),
            RuleKind::Disjoint(n) => format!("`disjoint paths {n}`"),
            RuleKind::Objective(Objective::Fair) => "`objective fair`".to_string(),
            RuleKind::Objective(Objective::Throughput) => "`objective throughput`".to_string(),
        };
        match &self.policy {
            Some(p) => format!("{what} (policy `{p}`)"),
            None => what,
        }
    }
}

/// Builds the constraint set from a list of rules.
pub fn constraints(rules: &[PathRule]) -> Constraints {
    let mut c = Constraints {
        disjoint_paths: 1,
        ..Constraints::default()
    };
    for r in rules {
        match &r.kind {
            RuleKind::AvoidNode(n) => {
                c.avoid_nodes.insert(n.clone());
            }
            RuleKind::AvoidLink(n) => {
                c.avoid_links.insert(n.clone());
            }
            RuleKind::AvoidDomain(n) => {
                c.avoid_domains.insert(n.clone());
            }
            RuleKind::Via(n) => {
                if !c.via_nodes.contains(n) {
                    c.via_nodes.push(n.clone());
                }
            }
            RuleKind::TrustedOnly => c.trusted_relays_only = true,
            RuleKind::MaxHops(h) => c.max_hops = Some(c.max_hops.map_or(*h, |m| m.min(*h))),
            RuleKind::Disjoint(d) => c.disjoint_paths = c.disjoint_paths.max(*d),
            // The intent's own clause comes first, then its policies in order: the first
            // one that says wins.
            RuleKind::Objective(o) => {
                c.objective.get_or_insert(*o);
            }
        }
    }
    c
}

/// Remembers the first occurrence of each clause keyword to flag repeats.
#[derive(Default)]
pub(super) struct Seen(Vec<(&'static str, Span)>);

impl Seen {
    pub(super) fn once(
        &mut self,
        key: &'static str,
        clause: &Clause,
        diags: &mut Vec<Diagnostic>,
    ) -> bool {
        if let Some((_, first)) = self.0.iter().find(|(k, _)| *k == key) {
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_CLAUSE,
                    clause.span,
                    format!("`{}` is given twice", clause.kind.keyword()),
                )
                .label("repeated here")
                .related(*first, "first given here")
                .help("keep one of the two clauses"),
            );
            return false;
        }
        self.0.push((key, clause.span));
        true
    }
}

/// Turns a path-constraint clause into a rule, resolving the names it mentions.
pub(super) fn path_rule(
    clause: &Clause,
    inv: &Inventory,
    policy: Option<&str>,
    seen: &mut Seen,
    diags: &mut Vec<Diagnostic>,
) -> Option<PathRule> {
    let kind = match &clause.kind {
        ClauseKind::Avoid { target, .. } => match resolve_target(target, inv, diags)? {
            TargetKind::Node => RuleKind::AvoidNode(target.name.text.clone()),
            TargetKind::Link => RuleKind::AvoidLink(target.name.text.clone()),
            TargetKind::Domain => RuleKind::AvoidDomain(target.name.text.clone()),
        },
        ClauseKind::Via(target) => {
            if target.kind() != TargetKind::Node {
                diags.push(
                    Diagnostic::error(
                        codes::CLAUSE_NOT_ALLOWED,
                        clause.span,
                        format!("`via` takes a node, not a {}", target.kind().word()),
                    )
                    .label("expected `via node NAME`")
                    .help("name a node the path must pass through"),
                );
                return None;
            }
            resolve_target(target, inv, diags)?;
            RuleKind::Via(target.name.text.clone())
        }
        ClauseKind::TrustedRelaysOnly => {
            if !seen.once("trusted", clause, diags) {
                return None;
            }
            RuleKind::TrustedOnly
        }
        ClauseKind::MaxHops(q) => {
            if !seen.once("hops", clause, diags) {
                return None;
            }
            RuleKind::MaxHops(integer(q, "max hops", 1, 1000, diags)? as u32)
        }
        ClauseKind::DisjointPaths(q) => {
            if !seen.once("disjoint", clause, diags) {
                return None;
            }
            RuleKind::Disjoint(integer(q, "disjoint paths", 1, 16, diags)? as u32)
        }
        ClauseKind::Objective(kind) => {
            if !seen.once("objective", clause, diags) {
                return None;
            }
            RuleKind::Objective(match kind {
                ObjectiveKind::Fair => Objective::Fair,
                ObjectiveKind::Throughput => Objective::Throughput,
            })
        }
        _ => return None,
    };
    Some(PathRule {
        kind,
        span: clause.span,
        policy: policy.map(str::to_string),
    })
}
