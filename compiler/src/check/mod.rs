//! Semantic checks: resolve the names, units and policies of parsed intent files against a
//! network inventory, and report every problem at once. What survives becomes a
//! [`Program`] of [`CheckedIntent`]s for the optimiser.
//!
//! Steps: collect intents, policies and assertions (duplicates), check each policy, check each intent's
//! clauses (dimensions, ranges, duplicates), resolve endpoints and targets, merge the
//! policies that apply, look for contradictions, and finally ask the topology whether any
//! allowed path joins the two endpoints.

mod assertions;
mod checked;
pub mod codes;
mod intent;
mod names;
mod policy;
mod reach;
mod rules;
mod values;

/// The units of the intent language, kept here for the paths that name them
/// `check::units`.
pub use crate::units;
pub use checked::*;

use crate::inventory::Inventory;
use crate::topology::Topology;
use intent::IntentDraft;
use policy::PolicyDraft;
use std::collections::BTreeMap;
use strata_grammar::ast::{Item, SourceUnit};
use strata_grammar::{Diagnostic, Span};

/// A diagnostic for a name over [`crate::MAX_NAME_CHARS`] characters.
fn too_long(what: &str, name: &strata_grammar::ast::Name) -> Option<Diagnostic> {
    let n = name.text.chars().count();
    (n > crate::MAX_NAME_CHARS).then(|| {
        Diagnostic::error(
            codes::NAME_TOO_LONG,
            name.span,
            format!(
                "this {what} name is {n} characters long, more than the {} a name may have",
                crate::MAX_NAME_CHARS
            ),
        )
        .label("name too long")
        .help("give it a shorter name")
    })
}

/// Checks the intent files that share one inventory. Every diagnostic is returned; the
/// program holds the intents that passed every check.
pub fn check(units: &[&SourceUnit], inventory: &Inventory) -> (Program, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut intents = Vec::new();
    let mut policies = Vec::new();
    let mut asserts = Vec::new();
    let mut seen_intents: BTreeMap<&str, Span> = BTreeMap::new();
    let mut seen_policies: BTreeMap<&str, Span> = BTreeMap::new();
    for unit in units {
        for item in &unit.items {
            match item {
                Item::Intent(i) => {
                    if let Some(d) = too_long("intent", &i.name) {
                        diags.push(d);
                        continue;
                    }
                    if let Some(first) = seen_intents.get(i.name.text.as_str()) {
                        diags.push(
                            Diagnostic::error(
                                codes::DUPLICATE_INTENT,
                                i.name.span,
                                format!("intent `{}` is defined twice", i.name.text),
                            )
                            .label("second definition")
                            .related(*first, "first defined here")
                            .help("give each intent a unique name"),
                        );
                        continue;
                    }
                    seen_intents.insert(&i.name.text, i.name.span);
                    intents.push(i);
                }
                Item::Policy(p) => {
                    if let Some(d) = too_long("policy", &p.name) {
                        diags.push(d);
                        continue;
                    }
                    if let Some(first) = seen_policies.get(p.name.text.as_str()) {
                        diags.push(
                            Diagnostic::error(
                                codes::DUPLICATE_POLICY,
                                p.name.span,
                                format!("policy `{}` is defined twice", p.name.text),
                            )
                            .label("second definition")
                            .related(*first, "first defined here")
                            .help("give each policy a unique name, or merge the two"),
                        );
                        continue;
                    }
                    seen_policies.insert(&p.name.text, p.name.span);
                    policies.push(p);
                }
                Item::Assert(a) => asserts.push(a),
                Item::Use(_) => {}
            }
        }
    }

    let intent_names: Vec<&str> = intents.iter().map(|i| i.name.text.as_str()).collect();
    let policies: Vec<PolicyDraft> = policies
        .iter()
        .map(|p| PolicyDraft::check(p, inventory, &intent_names, &mut diags))
        .collect();

    let (topology, physics_diags) = Topology::new(inventory);
    diags.extend(physics_diags);
    let reach = reach::Reach {
        topology: &topology,
    };
    let mut used = vec![false; policies.len()];
    let mut program = Program::default();
    for intent in intents {
        let Some(mut draft) = IntentDraft::check(intent, inventory, &mut diags) else {
            continue;
        };
        for (k, policy) in policies.iter().enumerate() {
            if policy.selects(draft.name(), draft.service()) {
                used[k] = true;
                draft.apply(policy);
            }
        }
        if let Some(checked) = draft.finish(inventory, &reach, &mut diags) {
            program.intents.push(checked);
        }
    }
    program.assertions = asserts
        .iter()
        .filter_map(|a| assertions::check(a, inventory, &intent_names, &mut diags))
        .collect();
    for (policy, used) in policies.iter().zip(used) {
        if !used && policy.has_selector() {
            diags.push(
                Diagnostic::warning(
                    codes::UNUSED_POLICY,
                    policy.name_span,
                    format!("policy `{}` applies to no intent", policy.name),
                )
                .label("selects nothing")
                .help("check its `applies to` line, or remove the policy"),
            );
        }
    }
    (program, diags)
}
