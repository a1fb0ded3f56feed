//! Policies: the checked clauses of a `policy` block, which intents it selects, and the
//! rules and bounds it adds to each of them.

use super::checked::Service;
use super::codes;
use super::rules::{PathRule, Seen, path_rule};
use super::values::{fidelity_bound, latency_bound};
use crate::inventory::Inventory;
use strata_grammar::ast::{self, ClauseKind, Selector};
use strata_grammar::diag::did_you_mean;
use strata_grammar::{Diagnostic, Span};

/// A policy whose clauses have been checked.
pub struct PolicyDraft {
    pub name: String,
    pub name_span: Span,
    selector: Option<Selector>,
    pub(super) rules: Vec<PathRule>,
    pub(super) fidelity: Option<(f64, Span)>,
    pub(super) latency: Option<(f64, Span)>,
}

impl PolicyDraft {
    pub fn check(
        policy: &ast::Policy,
        inv: &Inventory,
        intent_names: &[&str],
        diags: &mut Vec<Diagnostic>,
    ) -> PolicyDraft {
        let mut seen = Seen::default();
        let mut draft = PolicyDraft {
            name: policy.name.text.clone(),
            name_span: policy.name.span,
            selector: None,
            rules: Vec::new(),
            fidelity: None,
            latency: None,
        };
        for clause in &policy.clauses {
            match &clause.kind {
                ClauseKind::AppliesTo(sel) => {
                    if seen.once("applies", clause, diags) {
                        if let Selector::Intents(names) = sel {
                            for n in names {
                                if !intent_names.contains(&n.text.as_str()) {
                                    let mut d = Diagnostic::error(
                                        codes::UNKNOWN_INTENT,
                                        n.span,
                                        format!("policy `{}` names intent `{}`, which does not exist", policy.name.text, n.text),
                                    )
                                    .label("no such intent");
                                    d = match did_you_mean(&n.text, intent_names.iter().copied()) {
                                        Some(s) => d.help(format!("did you mean `{s}`?")),
                                        None => d.help("name an intent defined in the files checked together with this policy"),
                                    };
                                    diags.push(d);
                                }
                            }
                        }
                        draft.selector = Some(sel.clone());
                    }
                }
                ClauseKind::Fidelity(bound) => {
                    if seen.once("fidelity", clause, diags) {
                        draft.fidelity = fidelity_bound(bound, None, diags).map(|f| (f, clause.span));
                    }
                }
                ClauseKind::Latency(bound) => {
                    if seen.once("latency", clause, diags) {
                        draft.latency = latency_bound(bound, diags).map(|l| (l, clause.span));
                    }
                }
                ClauseKind::Avoid { .. }
                | ClauseKind::Via(_)
                | ClauseKind::TrustedRelaysOnly
                | ClauseKind::MaxHops(_)
                | ClauseKind::DisjointPaths(_)
                | ClauseKind::Objective(_) => {
                    if let Some(rule) = path_rule(clause, inv, Some(&policy.name.text), &mut seen, diags) {
                        draft.rules.push(rule);
                    }
                }
                other => diags.push(
                    Diagnostic::error(
                        codes::CLAUSE_NOT_ALLOWED,
                        clause.span,
                        format!("`{}` belongs in an intent, not in a policy", other.keyword()),
                    )
                    .label("not allowed in a policy")
                    .help("policies hold `applies to`, path constraints (`avoid`, `never via`, `via`, `relay via trusted nodes only`, `max hops`, `disjoint paths`), `objective`, and minimum `fidelity` or maximum `latency`"),
                ),
            }
        }
        if draft.selector.is_none() {
            diags.push(
                Diagnostic::error(
                    codes::MISSING_SELECTOR,
                    policy.name.span,
                    format!("policy `{}` does not say which intents it applies to", policy.name.text),
                )
                .label("applies to what?")
                .help("add `applies to all`, `applies to keys`, `applies to entangled pairs` or `applies to intents NAME, NAME`"),
            );
        }
        draft
    }

    pub fn has_selector(&self) -> bool {
        self.selector.is_some()
    }

    /// Whether the policy applies to the intent `name`, which asks for `service`.
    pub fn selects(&self, name: &str, service: Service) -> bool {
        match &self.selector {
            None => false,
            Some(Selector::All) => true,
            Some(Selector::Keys) => matches!(service, Service::Keys { .. }),
            Some(Selector::Pairs) => service == Service::Pairs,
            Some(Selector::Intents(names)) => names.iter().any(|n| n.text == name),
        }
    }
}
