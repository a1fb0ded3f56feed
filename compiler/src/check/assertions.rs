//! Checks `assert` items: the intents they name exist, their targets are in the inventory,
//! and their numbers have the right units and ranges. What they claim is evaluated after
//! compiling ([`crate::assess`]).

use super::checked::{CheckedAssertion, Elements, Property, RateBound, Subject};
use super::codes;
use super::names::resolve_target;
use super::values::measure_quantity;
use crate::inventory::Inventory;
use crate::units::Dimension;
use strata_grammar::Diagnostic;
use strata_grammar::ast::{AssertKind, Assertion, Cmp, Selector, TargetKind};
use strata_grammar::diag::did_you_mean;
use strata_grammar::format::assertion as canonical;

/// Most simultaneous failures an assertion may ask for: every combination is compiled.
pub const MAX_FAILURES: u32 = 2;

pub fn check(
    a: &Assertion,
    inv: &Inventory,
    intent_names: &[&str],
    diags: &mut Vec<Diagnostic>,
) -> Option<CheckedAssertion> {
    let before = diags.len();
    let subject = |sel: &Selector, diags: &mut Vec<Diagnostic>| match sel {
        Selector::All => Subject::All,
        Selector::Keys => Subject::Keys,
        Selector::Pairs => Subject::Pairs,
        Selector::Intents(names) => {
            for n in names {
                if intent_names.contains(&n.text.as_str()) {
                    continue;
                }
                let d = Diagnostic::error(
                    codes::UNKNOWN_INTENT,
                    n.span,
                    format!(
                        "the assertion names intent `{}`, which does not exist",
                        n.text
                    ),
                )
                .label("no such intent");
                diags.push(match did_you_mean(&n.text, intent_names.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help("name an intent defined in the files checked together"),
                });
            }
            Subject::Intents(names.iter().map(|n| n.text.clone()).collect())
        }
    };
    let property = match &a.kind {
        AssertKind::Survive {
            subject: sel,
            count,
            element,
            share,
        } => {
            let subject = subject(sel, diags);
            let failures = count.value;
            if !(1.0..=f64::from(MAX_FAILURES)).contains(&failures) || failures.fract() != 0.0 {
                diags.push(
                    Diagnostic::error(
                        codes::OUT_OF_RANGE,
                        count.span,
                        format!(
                            "an assertion can ask for 1 to {MAX_FAILURES} simultaneous failures, not {}",
                            count.number
                        ),
                    )
                    .label("out of range")
                    .help("every combination of that many failures is compiled; write 1 or 2"),
                );
            }
            let share = match share {
                None => Some(1.0),
                Some(q) => measure_quantity(q, &[Dimension::Number], "the share kept", diags)
                    .and_then(|(_, v)| share_in_range(v, q.span, diags)),
            };
            Property::Survive {
                subject,
                failures: failures as u32,
                elements: match element {
                    Some(TargetKind::Node) => Elements::Nodes,
                    Some(_) => Elements::Links,
                    None => Elements::Both,
                },
                share: share.unwrap_or(1.0),
            }
        }
        AssertKind::Utilisation { link, bound } => {
            if let Some(l) = link
                && !inv.quantum_link_names().any(|n| n == l.text)
            {
                let d = Diagnostic::error(
                    codes::UNKNOWN_LINK,
                    l.span,
                    format!(
                        "there is no link named `{}` in network `{}`",
                        l.text, inv.name
                    ),
                )
                .label("unknown link");
                diags.push(match did_you_mean(&l.text, inv.quantum_link_names()) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help("check the spelling against the inventory"),
                });
            }
            if bound.cmp != Cmp::AtMost {
                diags.push(
                    Diagnostic::error(
                        codes::BOUND_DIRECTION,
                        bound.cmp_span,
                        "utilisation can only be bounded from above",
                    )
                    .label("use `<=`")
                    .help("write `link utilisation <= 80 %`"),
                );
            }
            let max = measure_quantity(&bound.value, &[Dimension::Number], "a utilisation", diags)
                .and_then(|(_, v)| share_in_range(v, bound.value.span, diags));
            Property::Utilisation {
                link: link.as_ref().map(|l| l.text.clone()),
                max: max.unwrap_or(1.0),
            }
        }
        AssertKind::NoVia { service, target } => {
            let kind = resolve_target(target, inv, diags).unwrap_or(target.kind());
            Property::NoVia {
                subject: match service {
                    Some(Selector::Keys) => Subject::Keys,
                    Some(Selector::Pairs) => Subject::Pairs,
                    _ => Subject::All,
                },
                kind,
                name: target.name.text.clone(),
            }
        }
        AssertKind::Admitted {
            subject: sel,
            bound,
        } => {
            let subject = subject(sel, diags);
            let rate = measure_quantity(
                &bound.value,
                &[Dimension::Rate, Dimension::BitRate],
                "an admitted rate",
                diags,
            )
            .map(|(dim, v)| {
                if dim == Dimension::BitRate {
                    RateBound::BitsPerSecond(v)
                } else {
                    RateBound::PerSecond(v)
                }
            });
            Property::Admitted {
                subject,
                at_least: bound.cmp == Cmp::AtLeast,
                rate: rate.unwrap_or(RateBound::PerSecond(0.0)),
            }
        }
    };
    (diags.len() == before).then(|| CheckedAssertion {
        text: canonical(&a.kind),
        span: a.span,
        property,
    })
}

fn share_in_range(v: f64, span: strata_grammar::Span, diags: &mut Vec<Diagnostic>) -> Option<f64> {
    if (0.0..=1.0).contains(&v) {
        return Some(v);
    }
    diags.push(
        Diagnostic::error(
            codes::OUT_OF_RANGE,
            span,
            "a share must lie between 0 % and 100 %",
        )
        .label("out of range")
        .help("write a percentage such as `80 %`, or a fraction such as `0.8`"),
    );
    None
}
