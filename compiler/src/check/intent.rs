//! Intents: each clause of an `intent` checked on its own (service, endpoints, rate
//! window, bounds, lifecycle, path rules), the policies merged in, then the intent as a
//! whole — contradictions between its rules and whether any allowed path can serve it.

use super::checked::{CheckedIntent, Endpoint, Service};
use super::codes;
use super::names::resolve_endpoint;
use super::policy::PolicyDraft;
use super::reach::Reach;
use super::rules::{PathRule, RuleKind, Seen, constraints, path_rule};
use super::values::{
    fidelity_bound, fmt_num, integer, key_size, latency_bound, positive, quantity_text, rate_value,
};
use crate::inventory::{Inventory, Role, Trust};
use crate::units::{self, Dimension};
use strata_grammar::ast::{self, Clause, ClauseKind, Cmp};
use strata_grammar::{Diagnostic, Span};

/// An intent whose clauses have been checked one by one.
pub struct IntentDraft {
    name: String,
    span: Span,
    name_span: Span,
    service: Service,
    endpoints: [Endpoint; 2],
    min_rate: Option<(f64, Span)>,
    max_rate: Option<(f64, Span)>,
    fidelity: Option<(f64, Span)>,
    latency: Option<(f64, Span)>,
    lifetime_s: Option<f64>,
    priority: i64,
    burst: Option<u32>,
    rules: Vec<PathRule>,
    policies: Vec<String>,
}

impl IntentDraft {
    pub fn check(
        intent: &ast::Intent,
        inv: &Inventory,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<IntentDraft> {
        let before = diags.len();
        let mut seen = Seen::default();
        let mut service: Option<(Service, Span)> = None;
        let mut between = None;
        let mut rates: Vec<&Clause> = Vec::new();
        let mut fidelity = None;
        let mut latency = None;
        let mut lifetime_s = None;
        let mut priority = 0;
        let mut burst = None;
        let mut rules = Vec::new();

        // What the intent says it delivers, to phrase the help of other clauses.
        let written_service = intent.clauses.iter().find_map(|c| match c.kind {
            ClauseKind::Keys(_) => Some(Service::Keys { size_bits: 0 }),
            ClauseKind::Pairs => Some(Service::Pairs),
            _ => None,
        });
        // `keys 256 bits`: the size without `of` parses as a bare rate after `keys`.
        let size_without_of = size_without_of(&intent.clauses);
        // `valid for 2h 15min`: the second part parses as a bare rate.
        let split = split_duration(&intent.clauses);
        for (k, clause) in intent.clauses.iter().enumerate() {
            if size_without_of.is_some_and(|(_, size)| size == k) {
                continue;
            }
            if let Some((at, part)) = split {
                if part == k {
                    continue;
                }
                if at == k {
                    let rest = &intent.clauses[part];
                    let (ClauseKind::ValidFor(q), ClauseKind::Rate(b)) = (&clause.kind, &rest.kind)
                    else {
                        unreachable!("split_duration finds a lifetime and a rate");
                    };
                    let joined = format!(
                        "{}{}",
                        quantity_text(q).replace(' ', ""),
                        quantity_text(&b.value).replace(' ', "")
                    );
                    diags.push(
                        Diagnostic::error(
                            codes::WRONG_DIMENSION,
                            Span::new(clause.span.file, q.span.start, rest.span.end),
                            "the parts of a duration are written without a space between them",
                        )
                        .label("one duration?")
                        .help(format!("write `valid for {joined}`")),
                    );
                    continue;
                }
            }
            match &clause.kind {
                ClauseKind::Keys(size) => {
                    if seen.once("service", clause, diags) {
                        let size = match size_without_of {
                            Some((at, size)) if at == k => {
                                let written = &intent.clauses[size];
                                let ClauseKind::Rate(bound) = &written.kind else {
                                    unreachable!("size_without_of finds a rate");
                                };
                                diags.push(
                                    Diagnostic::error(
                                        codes::KEY_SIZE,
                                        Span::new(
                                            clause.span.file,
                                            clause.span.start,
                                            written.span.end,
                                        ),
                                        "a key size follows `keys of`",
                                    )
                                    .label("`of` is missing")
                                    .help(format!(
                                        "write `keys of {}`",
                                        quantity_text(&bound.value)
                                    )),
                                );
                                Some(&bound.value)
                            }
                            _ => size.as_ref(),
                        };
                        let bits = key_size(size, clause.span, diags);
                        service = bits.map(|b| (Service::Keys { size_bits: b }, clause.span));
                    }
                }
                ClauseKind::Pairs => {
                    if seen.once("service", clause, diags) {
                        service = Some((Service::Pairs, clause.span));
                    }
                }
                ClauseKind::Between(a, b) => {
                    if seen.once("between", clause, diags) {
                        let a = resolve_endpoint(a, inv, diags);
                        let b = resolve_endpoint(b, inv, diags);
                        if let (Some(a), Some(b)) = (a, b) {
                            between = Some([a, b]);
                        }
                    }
                }
                ClauseKind::Rate(bound) => {
                    let key = if bound.cmp == Cmp::AtLeast {
                        "rate>="
                    } else {
                        "rate<="
                    };
                    if seen.once(key, clause, diags) {
                        rates.push(clause);
                    }
                }
                ClauseKind::Fidelity(bound) => {
                    if seen.once("fidelity", clause, diags) {
                        fidelity =
                            fidelity_bound(bound, written_service, diags).map(|f| (f, clause.span));
                    }
                }
                ClauseKind::Latency(bound) => {
                    if seen.once("latency", clause, diags) {
                        latency = latency_bound(bound, diags).map(|l| (l, clause.span));
                    }
                }
                ClauseKind::ValidFor(q) => {
                    if seen.once("valid", clause, diags) {
                        lifetime_s = positive(q, Dimension::Duration, "a lifetime", diags);
                    }
                }
                ClauseKind::Priority(q) => {
                    if seen.once("priority", clause, diags) {
                        priority =
                            integer(q, "priority", -1_000_000, 1_000_000, diags).unwrap_or(0);
                    }
                }
                ClauseKind::Burst(q) => {
                    if seen.once("burst", clause, diags) {
                        burst = integer(q, "burst", 1, 1_000_000, diags).map(|b| b as u32);
                    }
                }
                ClauseKind::AppliesTo(_) => {
                    diags.push(
                        Diagnostic::error(
                            codes::CLAUSE_NOT_ALLOWED,
                            clause.span,
                            "`applies to` belongs in a policy, not in an intent",
                        )
                        .label("not allowed in an intent")
                        .help("move it into a `policy NAME { ... }` block"),
                    );
                }
                _ => {
                    if let Some(rule) = path_rule(clause, inv, None, &mut seen, diags) {
                        rules.push(rule);
                    }
                }
            }
        }

        if service.is_none()
            && !intent
                .clauses
                .iter()
                .any(|c| matches!(c.kind, ClauseKind::Keys(_) | ClauseKind::Pairs))
        {
            diags.push(
                Diagnostic::error(
                    codes::MISSING_SERVICE,
                    intent.name.span,
                    format!(
                        "intent `{}` does not say what it delivers",
                        intent.name.text
                    ),
                )
                .label("keys or entangled pairs?")
                .help("add `keys of 256 bits` or `entangled pairs`"),
            );
        }
        if !intent
            .clauses
            .iter()
            .any(|c| matches!(c.kind, ClauseKind::Between(..)))
        {
            diags.push(
                Diagnostic::error(
                    codes::MISSING_ENDPOINTS,
                    intent.name.span,
                    format!("intent `{}` has no endpoints", intent.name.text),
                )
                .label("between which endpoints?")
                .help("add `between NODE and NODE` (nodes, applications or URNs)"),
            );
        }
        let upper = intent
            .clauses
            .iter()
            .find(|c| matches!(&c.kind, ClauseKind::Rate(b) if b.cmp == Cmp::AtMost));
        if !intent
            .clauses
            .iter()
            .any(|c| matches!(&c.kind, ClauseKind::Rate(b) if b.cmp == Cmp::AtLeast))
        {
            let d = match upper {
                Some(upper) => Diagnostic::error(
                    codes::MISSING_RATE,
                    upper.span,
                    format!(
                        "intent `{}` caps its rate but does not say what it needs",
                        intent.name.text
                    ),
                )
                .label("an upper bound only")
                .related(intent.name.span, "intent without a minimum rate")
                .help("add the rate the intent needs: `rate >= 10/s`, or both bounds at once: `rate >= 10/s and <= 20/s`"),
                None => Diagnostic::error(
                    codes::MISSING_RATE,
                    intent.name.span,
                    format!("intent `{}` has no rate", intent.name.text),
                )
                .label("how many per second?")
                .help("add `rate >= 10/s` (or a bit rate such as `rate >= 2.5 kbit/s` for keys)"),
            };
            diags.push(d);
        }

        let mut min_rate = None;
        let mut max_rate = None;
        for clause in rates {
            let ClauseKind::Rate(bound) = &clause.kind else {
                continue;
            };
            if let Some(r) = rate_value(&bound.value, service.map(|s| s.0), diags) {
                match bound.cmp {
                    Cmp::AtLeast => min_rate = Some((r, clause.span)),
                    Cmp::AtMost => max_rate = Some((r, clause.span)),
                }
            }
        }
        let (service, _) = service?;
        if let (Some((lo, lo_span)), Some((hi, hi_span))) = (min_rate, max_rate)
            && lo > hi
        {
            diags.push(
                Diagnostic::error(
                    codes::CONTRADICTION,
                    lo_span,
                    format!(
                        "the minimum rate ({}/s) is above the maximum rate ({}/s)",
                        fmt_num(lo),
                        fmt_num(hi)
                    ),
                )
                .label("minimum")
                .related(hi_span, "maximum")
                .help("lower the minimum or raise the maximum"),
            );
        }
        if service == Service::Pairs
            && let Some(rule) = rules.iter().find(|r| r.kind == RuleKind::TrustedOnly)
        {
            diags.push(
                Diagnostic::warning(
                    codes::NO_EFFECT,
                    rule.span,
                    "`relay via trusted nodes only` has no effect on entangled pairs",
                )
                .label("ignored")
                .help(
                    "entanglement swapping never reveals the pair to a repeater; remove the clause",
                ),
            );
        }
        if diags[before..].iter().any(Diagnostic::is_error) {
            return None;
        }
        Some(IntentDraft {
            name: intent.name.text.clone(),
            span: intent.span,
            name_span: intent.name.span,
            service,
            endpoints: between?,
            min_rate,
            max_rate,
            fidelity,
            latency,
            lifetime_s,
            priority,
            burst,
            rules,
            policies: Vec::new(),
        })
    }

    /// Merges a policy into the intent: its rules add up, bounds take the stricter value.
    pub fn apply(&mut self, policy: &PolicyDraft) {
        self.policies.push(policy.name.clone());
        self.rules.extend(policy.rules.iter().cloned());
        if let Some((f, s)) = policy.fidelity
            && self.fidelity.is_none_or(|(mine, _)| f > mine)
        {
            self.fidelity = Some((f, s));
        }
        if let Some((l, s)) = policy.latency
            && self.latency.is_none_or(|(mine, _)| l < mine)
        {
            self.latency = Some((l, s));
        }
    }

    /// Contradictions and reachability; the checked intent when all is well.
    pub fn finish(
        self,
        inv: &Inventory,
        reach: &Reach,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<CheckedIntent> {
        let before = diags.len();
        let [a, b] = &self.endpoints;
        if a.node == b.node {
            let what = if a.application.is_some() && a.application == b.application {
                "both ends are the same application".to_string()
            } else {
                format!("both ends are served by node `{}`", a.node)
            };
            diags.push(
                Diagnostic::error(
                    codes::SAME_ENDPOINTS,
                    b.span,
                    format!("intent `{}` joins a node to itself: {what}", self.name),
                )
                .label("same node as the other end")
                .related(a.span, "first end")
                .help("a key or pair needs two different nodes; pick another endpoint"),
            );
            return None;
        }
        self.contradictions(inv, diags);
        if diags[before..].iter().any(Diagnostic::is_error) {
            return None;
        }
        if let Some(diag) =
            reach.explain_unreachable(&self.name, self.service, a, b, &self.rules, self.name_span)
        {
            diags.push(diag);
            return None;
        }
        if let (Service::Keys { .. }, Some(fidelity)) = (self.service, self.fidelity)
            && let Some(diag) = reach.explain_key_fidelity(
                &self.name,
                (a, b),
                &self.rules,
                fidelity,
                self.name_span,
            )
        {
            diags.push(diag);
            return None;
        }
        let (min_rate, rate_span) = self.min_rate.unwrap_or((0.0, self.span));
        Some(CheckedIntent {
            name: self.name,
            span: self.span,
            name_span: self.name_span,
            service: self.service,
            constraints: constraints(&self.rules),
            endpoints: self.endpoints,
            min_rate,
            max_rate: self.max_rate.map(|(r, _)| r),
            rate_span,
            min_fidelity: self.fidelity.map(|(f, _)| f),
            fidelity_span: self.fidelity.map(|(_, s)| s),
            max_latency_s: self.latency.map(|(l, _)| l),
            latency_span: self.latency.map(|(_, s)| s),
            lifetime_s: self.lifetime_s,
            priority: self.priority,
            burst: self.burst,
            policies: self.policies,
        })
    }

    fn contradictions(&self, inv: &Inventory, diags: &mut Vec<Diagnostic>) {
        let domain_of = |node: &str| inv.node(node).map(|n| n.domain.value.clone());
        for via in &self.rules {
            let RuleKind::Via(v) = &via.kind else {
                continue;
            };
            for other in &self.rules {
                let clash = match &other.kind {
                    RuleKind::AvoidNode(n) => n == v,
                    RuleKind::AvoidDomain(d) => domain_of(v).as_deref() == Some(d.as_str()),
                    RuleKind::TrustedOnly => inv.node(v).is_some_and(|n| {
                        n.role.value != Role::TrustedRelay
                            || inv
                                .domain(&n.domain.value)
                                .is_some_and(|d| d.trust == Trust::Untrusted)
                    }),
                    _ => false,
                };
                if clash {
                    diags.push(
                        Diagnostic::error(
                            codes::CONTRADICTION,
                            via.span,
                            format!(
                                "intent `{}` must pass through `{v}`, but {} forbids it",
                                self.name,
                                other.describe()
                            ),
                        )
                        .label("required here")
                        .related(other.span, "forbidden here")
                        .help("drop one of the two constraints"),
                    );
                }
            }
            if self.endpoints.iter().any(|e| &e.node == v) {
                diags.push(
                    Diagnostic::warning(
                        codes::NO_EFFECT,
                        via.span,
                        format!(
                            "`{v}` is an endpoint of `{}`; every path passes it",
                            self.name
                        ),
                    )
                    .label("always true")
                    .help("remove the clause"),
                );
            }
        }
        for end in &self.endpoints {
            for rule in &self.rules {
                let clash = match &rule.kind {
                    RuleKind::AvoidNode(n) => n == &end.node,
                    RuleKind::AvoidDomain(d) => domain_of(&end.node).as_deref() == Some(d.as_str()),
                    _ => false,
                };
                if clash {
                    diags.push(
                        Diagnostic::error(
                            codes::CONTRADICTION,
                            end.span,
                            format!("endpoint `{}` of intent `{}` is excluded by {}", end.node, self.name, rule.describe()),
                        )
                        .label("this endpoint")
                        .related(rule.span, "excludes it")
                        .help("an intent cannot avoid its own endpoint; change the endpoint or the constraint"),
                    );
                }
            }
        }
    }

    pub fn service(&self) -> Service {
        self.service
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// `keys 256 bits`: a `keys` clause without a size right before a bare rate that is a
/// size. Returns the positions of the two clauses.
fn size_without_of(clauses: &[Clause]) -> Option<(usize, usize)> {
    clauses.windows(2).enumerate().find_map(|(k, pair)| {
        let (ClauseKind::Keys(None), ClauseKind::Rate(bound)) = (&pair[0].kind, &pair[1].kind)
        else {
            return None;
        };
        let bare = bound.cmp_span.start == bound.cmp_span.end;
        let size = units::measure(&bound.value).is_some_and(|(d, _)| d == Dimension::Size);
        (bare && size).then_some((k, k + 1))
    })
}

/// `valid for 2h 15min`: a lifetime right before a bare rate that is a duration. Returns
/// the positions of the two clauses.
fn split_duration(clauses: &[Clause]) -> Option<(usize, usize)> {
    let duration =
        |q: &ast::Quantity| units::measure(q).is_some_and(|(d, _)| d == Dimension::Duration);
    clauses.windows(2).enumerate().find_map(|(k, pair)| {
        let (ClauseKind::ValidFor(q), ClauseKind::Rate(bound)) = (&pair[0].kind, &pair[1].kind)
        else {
            return None;
        };
        let bare = bound.cmp_span.start == bound.cmp_span.end;
        (bare && duration(q) && duration(&bound.value)).then_some((k, k + 1))
    })
}
