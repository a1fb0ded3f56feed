//! Assessing a compiled network before it ships: the properties its `assert` items claim,
//! and what failures of links and nodes would cost each intent once the runtime has
//! repaired them ([`crate::compile::repair`]). Everything here is a diagnostic at a source
//! span, so `strata check` reports it in every output format.

use crate::check::{CheckedIntent, Elements, Program, Property, RateBound, Service, Subject};
use crate::compile::optimise::Objective;
use crate::compile::repair::{Failed, delivered, repair};
use crate::compile::{Compiled, round3};
use crate::config::{Admission, IntentSummary, Summary};
use crate::inventory::Inventory;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use strata_grammar::Diagnostic;
use strata_grammar::ast::TargetKind;

pub mod codes {
    /// An `assert` item does not hold.
    pub const ASSERTION_FAILED: &str = "strata::assertion-failed";
    /// `check --failures N`: some combination of up to N failures costs the intent rate.
    pub const NOT_SURVIVABLE: &str = "strata::not-survivable";
}

/// Rates within this fraction of each other count as equal.
const SLACK: f64 = 1e-6;
/// Scenarios and intents named in one message at most.
const NAMED: usize = 3;

/// One failure scenario and the intents it costs rate after the repair: name → delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub failed: Failed,
    pub delivered: BTreeMap<String, f64>,
}

/// Every combination of up to `max` failed elements of the kind asked for that touches a
/// path in use (any other combination changes nothing). Links are the quantum links.
pub fn scenarios(inv: &Inventory, summary: &Summary, max: u32, elements: Elements) -> Vec<Failed> {
    let mut used_links = BTreeSet::new();
    let mut used_nodes = BTreeSet::new();
    for p in summary.intents.iter().flat_map(|i| &i.paths) {
        used_links.extend(p.links.iter().cloned());
        used_nodes.extend(p.nodes.iter().cloned());
    }
    let mut all: Vec<(bool, String)> = Vec::new();
    if elements != Elements::Nodes {
        all.extend(inv.quantum_link_names().map(|l| (true, l.to_string())));
    }
    if elements != Elements::Links {
        all.extend(inv.nodes.iter().map(|n| (false, n.name.value.clone())));
    }
    let used = |(link, name): &(bool, String)| {
        if *link {
            used_links.contains(name)
        } else {
            used_nodes.contains(name)
        }
    };
    let one = |e: &(bool, String), f: &mut Failed| {
        if e.0 {
            f.links.insert(e.1.clone());
        } else {
            f.nodes.insert(e.1.clone());
        }
    };
    let mut out = Vec::new();
    for (i, a) in all.iter().enumerate() {
        if used(a) {
            let mut f = Failed::default();
            one(a, &mut f);
            out.push(f);
        }
        if max >= 2 {
            for b in &all[i + 1..] {
                if used(a) || used(b) {
                    let mut f = Failed::default();
                    one(a, &mut f);
                    one(b, &mut f);
                    out.push(f);
                }
            }
        }
    }
    out
}

/// Repairs the baseline under every scenario (in parallel) and keeps what each costs.
pub fn outcomes(
    program: &Program,
    inv: &Inventory,
    baseline: &Summary,
    scenarios: Vec<Failed>,
    objective: Objective,
) -> Vec<Outcome> {
    scenarios
        .into_par_iter()
        .map(|failed| {
            let repaired = repair(program, inv, baseline, &failed, objective);
            // Both compiles list the same program's intents in the same order.
            let delivered = repaired
                .summary
                .intents
                .iter()
                .zip(&baseline.intents)
                .filter_map(|(i, before)| {
                    let d = delivered(i, &failed);
                    (d < before.admitted_rate * (1.0 - SLACK)).then(|| (i.name.clone(), d))
                })
                .collect();
            Outcome { failed, delivered }
        })
        .collect()
}

/// Does the scenario take down one of the intent's own endpoints? No network survives
/// that, so such scenarios do not count against it.
fn hits_endpoint(failed: &Failed, i: &IntentSummary) -> bool {
    i.endpoints.iter().any(|e| failed.nodes.contains(e))
}

fn elements_of(failed: &Failed) -> Elements {
    match (failed.links.is_empty(), failed.nodes.is_empty()) {
        (false, true) => Elements::Links,
        (true, false) => Elements::Nodes,
        _ => Elements::Both,
    }
}

fn within(failed: &Failed, max: u32, elements: Elements) -> bool {
    let n = (failed.links.len() + failed.nodes.len()) as u32;
    n <= max && (elements == Elements::Both || elements_of(failed) == elements)
}

/// An intent's worst case over a set of outcomes.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Risk {
    pub intent: String,
    pub admitted: f64,
    /// Lowest rate delivered after any scenario and its repair.
    pub worst: f64,
    /// The scenarios that leave it at `worst`.
    pub worst_scenarios: Vec<String>,
    /// How many scenarios cost it any rate.
    pub losing_scenarios: usize,
}

/// Per intent that some scenario costs rate, its worst case.
pub fn risks(baseline: &Summary, outcomes: &[Outcome]) -> Vec<Risk> {
    let mut out = Vec::new();
    for i in &baseline.intents {
        let hits: Vec<(&Failed, f64)> = outcomes
            .iter()
            .filter(|o| !hits_endpoint(&o.failed, i))
            .filter_map(|o| Some((&o.failed, *o.delivered.get(&i.name)?)))
            .collect();
        let Some(worst) = hits.iter().map(|(_, d)| *d).reduce(f64::min) else {
            continue;
        };
        // The simplest scenarios first: one failure that suffices before pairs.
        let mut hits = hits;
        hits.sort_by_key(|(f, _)| f.links.len() + f.nodes.len());
        out.push(Risk {
            intent: i.name.clone(),
            admitted: i.admitted_rate,
            worst,
            worst_scenarios: hits
                .iter()
                .filter(|(_, d)| *d <= worst + SLACK * i.admitted_rate)
                .map(|(f, _)| f.to_string())
                .collect(),
            losing_scenarios: hits.len(),
        });
    }
    out
}

/// Everything `strata check` works out for one network.
pub struct Assessment {
    pub compiled: Compiled,
    /// Compile shortfalls, failed assertions and, with a failure analysis, intents that
    /// do not survive it.
    pub diagnostics: Vec<Diagnostic>,
    /// Every assertion by its canonical text: `None` when it holds, else why it fails.
    pub assertions: Vec<(String, Option<String>)>,
    /// The failure analysis, when one was asked for.
    pub risks: Option<Vec<Risk>>,
    pub scenarios: usize,
}

/// What to assess besides the compile.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Compile as if these were down (what-if).
    pub fail: Failed,
    /// Analyse every combination of up to this many failures of these elements.
    pub failures: Option<(u32, Elements)>,
    /// What each priority class maximises.
    pub objective: Objective,
}

/// Compiles the program and evaluates its assertions (and the failure analysis asked for).
pub fn assess(program: &Program, inv: &Inventory, options: &Options) -> Assessment {
    let inv = options.fail.overlay(inv);
    let compiled = crate::compile::compile(
        program,
        &inv,
        &crate::compile::CompileOptions {
            objective: options.objective,
            ..Default::default()
        },
    );
    let mut diagnostics = compiled.diagnostics.clone();
    // One set of scenarios serves every assertion and the analysis.
    let mut max = 0;
    let mut kinds = BTreeSet::new();
    for a in &program.assertions {
        if let Property::Survive {
            failures, elements, ..
        } = a.property
        {
            max = max.max(failures);
            kinds.insert(elements);
        }
    }
    if let Some((n, e)) = options.failures {
        max = max.max(n);
        kinds.insert(e);
    }
    let elements = match (kinds.len(), kinds.first()) {
        (1, Some(&only)) => only,
        _ => Elements::Both,
    };
    let all = if max > 0 {
        outcomes(
            program,
            &inv,
            &compiled.summary,
            scenarios(&inv, &compiled.summary, max, elements),
            options.objective,
        )
    } else {
        Vec::new()
    };
    let mut assertions = Vec::new();
    for a in &program.assertions {
        let failed = evaluate(a, program, &inv, &compiled, &all);
        assertions.push((a.text.clone(), failed.as_ref().map(|d| d.message.clone())));
        diagnostics.extend(failed);
    }
    let risks = options.failures.map(|(n, e)| {
        let picked: Vec<Outcome> = all
            .iter()
            .filter(|o| within(&o.failed, n, e))
            .cloned()
            .collect();
        let risks = risks(&compiled.summary, &picked);
        for r in &risks {
            if let Some(intent) = program.intents.iter().find(|i| i.name == r.intent) {
                diagnostics.push(not_survivable(intent, r, n, e));
            }
        }
        risks
    });
    let scenarios = match options.failures {
        Some((n, e)) => all.iter().filter(|o| within(&o.failed, n, e)).count(),
        None => all.len(),
    };
    Assessment {
        compiled,
        diagnostics,
        assertions,
        risks,
        scenarios,
    }
}

fn failures_phrase(n: u32, e: Elements) -> String {
    let what = match e {
        Elements::Links => "link ",
        Elements::Nodes => "node ",
        Elements::Both => "",
    };
    let s = if n == 1 { "" } else { "s" };
    format!("{n} {what}failure{s}")
}

fn not_survivable(intent: &CheckedIntent, r: &Risk, n: u32, e: Elements) -> Diagnostic {
    Diagnostic::warning(
        codes::NOT_SURVIVABLE,
        intent.name_span,
        format!(
            "intent `{}` does not survive {}: {} leaves it at {} of {}/s ({} scenario(s) cost it rate)",
            r.intent,
            failures_phrase(n, e),
            named(&r.worst_scenarios),
            round3(r.worst),
            round3(r.admitted),
            r.losing_scenarios
        ),
    )
    .label("not survivable")
    .help(protect_help(intent))
}

fn protect_help(intent: &CheckedIntent) -> String {
    if intent.constraints.disjoint_paths > 1 {
        "add capacity or an independent route, so that the repair finds room for it".into()
    } else {
        format!(
            "give `{}` `disjoint paths 2` so that a second path already carries it, or add a link that gives it an independent route",
            intent.name
        )
    }
}

fn named(items: &[String]) -> String {
    let mut s = items
        .iter()
        .take(NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > NAMED {
        s.push_str(&format!(" (and {} more)", items.len() - NAMED));
    }
    s
}

fn selected<'a>(
    program: &'a Program,
    subject: &'a Subject,
) -> impl Iterator<Item = &'a CheckedIntent> {
    program.intents.iter().filter(move |i| subject.selects(i))
}

/// Evaluates one assertion; a diagnostic when it does not hold.
fn evaluate(
    a: &crate::check::CheckedAssertion,
    program: &Program,
    inv: &Inventory,
    compiled: &Compiled,
    all: &[Outcome],
) -> Option<Diagnostic> {
    let by_name: BTreeMap<&str, &IntentSummary> = compiled
        .summary
        .intents
        .iter()
        .map(|i| (i.name.as_str(), i))
        .collect();
    let summary = |name: &str| by_name.get(name).copied();
    let mut breaks: Vec<(String, Option<&CheckedIntent>)> = Vec::new();
    let mut help = None;
    match &a.property {
        Property::Survive {
            subject,
            failures,
            elements,
            share,
        } => {
            for intent in selected(program, subject) {
                let Some(s) = summary(&intent.name) else {
                    continue;
                };
                if s.admission == Admission::Rejected {
                    breaks.push((
                        format!("`{}` is not admitted even with nothing failed", intent.name),
                        Some(intent),
                    ));
                    continue;
                }
                let need = share * s.admitted_rate * (1.0 - SLACK);
                let mut losing: Vec<(&Failed, f64)> = all
                    .iter()
                    .filter(|o| {
                        within(&o.failed, *failures, *elements) && !hits_endpoint(&o.failed, s)
                    })
                    .filter_map(|o| Some((&o.failed, *o.delivered.get(&intent.name)?)))
                    .filter(|(_, d)| *d < need)
                    .collect();
                losing.sort_by(|x, y| {
                    x.1.total_cmp(&y.1).then(
                        (x.0.links.len() + x.0.nodes.len())
                            .cmp(&(y.0.links.len() + y.0.nodes.len())),
                    )
                });
                if let Some((f, d)) = losing.first() {
                    let below = if *share < 1.0 {
                        format!(", below the {}% asserted", round3(share * 100.0))
                    } else {
                        String::new()
                    };
                    let more = if losing.len() > 1 {
                        format!(" ({} failure scenario(s) in all)", losing.len())
                    } else {
                        String::new()
                    };
                    breaks.push((
                        format!(
                            "{f} leaves `{}` at {} of {}/s{below}{more}",
                            intent.name,
                            round3(*d),
                            round3(s.admitted_rate)
                        ),
                        Some(intent),
                    ));
                    help.get_or_insert_with(|| protect_help(intent));
                }
            }
        }
        Property::Admitted {
            subject,
            at_least,
            rate,
        } => {
            for intent in selected(program, subject) {
                let Some(s) = summary(&intent.name) else {
                    continue;
                };
                let (value, bound, unit) = match (rate, intent.service) {
                    (RateBound::PerSecond(r), _) => (s.admitted_rate, *r, "/s"),
                    (RateBound::BitsPerSecond(r), Service::Keys { size_bits }) => {
                        (s.admitted_rate * f64::from(size_bits), *r, " bit/s")
                    }
                    (RateBound::BitsPerSecond(r), Service::Pairs) => (f64::NAN, *r, " bit/s"),
                };
                let ok = if value.is_nan() {
                    false
                } else if *at_least {
                    value >= bound * (1.0 - SLACK)
                } else {
                    value <= bound * (1.0 + SLACK)
                };
                if !ok {
                    breaks.push((
                        if value.is_nan() {
                            format!(
                                "`{}` delivers entangled pairs, which have no bit rate",
                                intent.name
                            )
                        } else {
                            format!(
                                "`{}` is admitted {}{unit}, {} the {}{unit} asserted{}",
                                intent.name,
                                round3(value),
                                if *at_least { "below" } else { "above" },
                                round3(bound),
                                s.reason
                                    .as_ref()
                                    .map_or(String::new(), |r| format!(" ({r})"))
                            )
                        },
                        Some(intent),
                    ));
                    help.get_or_insert_with(|| {
                        "raise the intent's priority, add capacity on its bottleneck, or relax the assertion".to_string()
                    });
                }
            }
        }
        Property::Utilisation { link, max } => {
            for (name, used, capacity) in utilisation(compiled) {
                if link.as_ref().is_some_and(|l| *l != name) || capacity <= 0.0 {
                    continue;
                }
                let u = used / capacity;
                if u > max * (1.0 + SLACK) {
                    breaks.push((
                        format!(
                            "link {name} carries {}% of its rate ({} of {}), above the {}% asserted",
                            round3(u * 100.0),
                            round3(used),
                            round3(capacity),
                            round3(max * 100.0)
                        ),
                        None,
                    ));
                }
            }
            help =
                Some("lower the rates that cross the busiest links, or add capacity there".into());
        }
        Property::NoVia {
            subject,
            kind,
            name,
        } => {
            for intent in selected(program, subject) {
                let Some(s) = summary(&intent.name) else {
                    continue;
                };
                for p in &s.paths {
                    let inner = &p.nodes[1..p.nodes.len().saturating_sub(1)];
                    let hit = match kind {
                        TargetKind::Link => p.links.contains(name),
                        TargetKind::Node => inner.contains(name),
                        TargetKind::Domain => inner
                            .iter()
                            .any(|n| inv.node(n).is_some_and(|node| node.domain.value == *name)),
                    };
                    if hit {
                        breaks.push((
                            format!(
                                "`{}` is relayed through {} {name} (path {})",
                                intent.name,
                                kind.word(),
                                p.nodes.join("→")
                            ),
                            Some(intent),
                        ));
                        break;
                    }
                }
            }
            help = Some(format!(
                "add `never via {} {name}` to the intents (or to a policy that applies to them)",
                kind.word()
            ));
        }
    }
    if breaks.is_empty() {
        return None;
    }
    let texts: Vec<String> = breaks.iter().map(|(t, _)| t.clone()).collect();
    let mut d = Diagnostic::error(
        codes::ASSERTION_FAILED,
        a.span,
        format!("assertion `{}` fails: {}", a.text, named(&texts)),
    )
    .label("does not hold");
    for (_, intent) in breaks.iter().take(NAMED) {
        if let Some(i) = intent {
            d = d.related(i.name_span, format!("intent `{}`", i.name));
        }
    }
    Some(match help {
        Some(h) => d.help(h),
        None => d,
    })
}

/// Per quantum link: (name, reserved, rate) from the emitted configuration — key bits/s
/// against the secret key rate, or elementary pairs/s against the pair rate.
pub fn utilisation(compiled: &Compiled) -> Vec<(String, f64, f64)> {
    compiled
        .configs
        .link_loads()
        .into_iter()
        .map(|(n, (u, c))| (n, u, c))
        .collect()
}
