//! Clause-level checks: units and ranges of every value, duplicate and misplaced clauses,
//! name resolution of endpoints and targets, policy selection and merging, and the
//! contradictions an intent and its policies can contain.

use super::checked::{CheckedIntent, Constraints, Endpoint, Objective, Service};
use super::codes;
use super::reach::Reach;
use super::units::{self, Dimension};
use crate::inventory::{Inventory, Role, Trust};
use strata_grammar::ast::{
    self, Bound, Clause, ClauseKind, Cmp, ObjectiveKind, Quantity, Selector, Target, TargetKind,
};
use strata_grammar::diag::did_you_mean;
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

/// A policy whose clauses have been checked.
pub struct PolicyDraft {
    pub name: String,
    pub name_span: Span,
    selector: Option<Selector>,
    rules: Vec<PathRule>,
    fidelity: Option<(f64, Span)>,
    latency: Option<(f64, Span)>,
}

/// Remembers the first occurrence of each clause keyword to flag repeats.
#[derive(Default)]
struct Seen(Vec<(&'static str, Span)>);

impl Seen {
    fn once(&mut self, key: &'static str, clause: &Clause, diags: &mut Vec<Diagnostic>) -> bool {
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

        for clause in &intent.clauses {
            match &clause.kind {
                ClauseKind::Keys(size) => {
                    if seen.once("service", clause, diags) {
                        let bits = key_size(size.as_ref(), clause.span, diags);
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
                        fidelity = fidelity_bound(bound, diags).map(|f| (f, clause.span));
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
        if !intent
            .clauses
            .iter()
            .any(|c| matches!(c.kind, ClauseKind::Rate(_)))
        {
            diags.push(
                Diagnostic::error(
                    codes::MISSING_RATE,
                    intent.name.span,
                    format!("intent `{}` has no rate", intent.name.text),
                )
                .label("how many per second?")
                .help("add `rate >= 10/s` (or a bit rate such as `rate >= 2.5 kbit/s` for keys)"),
            );
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
                        draft.fidelity = fidelity_bound(bound, diags).map(|f| (f, clause.span));
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

    pub fn selects(&self, intent: &IntentDraft) -> bool {
        match &self.selector {
            None => false,
            Some(Selector::All) => true,
            Some(Selector::Keys) => matches!(intent.service(), Service::Keys { .. }),
            Some(Selector::Pairs) => intent.service() == Service::Pairs,
            Some(Selector::Intents(names)) => names.iter().any(|n| n.text == intent.name()),
        }
    }
}

/// Turns a path-constraint clause into a rule, resolving the names it mentions.
fn path_rule(
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

pub(super) fn resolve_target(
    target: &Target,
    inv: &Inventory,
    diags: &mut Vec<Diagnostic>,
) -> Option<TargetKind> {
    let name = &target.name.text;
    let kind = target.kind();
    let (found, code, candidates): (bool, &'static str, Vec<&str>) = match kind {
        TargetKind::Node => (
            inv.node(name).is_some(),
            codes::UNKNOWN_NODE,
            inv.nodes.iter().map(|n| n.name.value.as_str()).collect(),
        ),
        TargetKind::Link => (
            inv.link_names().any(|l| l == name),
            codes::UNKNOWN_LINK,
            inv.link_names().collect(),
        ),
        TargetKind::Domain => (
            inv.domain(name).is_some(),
            codes::UNKNOWN_DOMAIN,
            inv.domains.iter().map(|d| d.name.value.as_str()).collect(),
        ),
    };
    if found {
        return Some(kind);
    }
    let mut d = Diagnostic::error(
        code,
        target.name.span,
        format!(
            "there is no {} named `{name}` in network `{}`",
            kind.word(),
            inv.name
        ),
    )
    .label(format!("unknown {}", kind.word()));
    d = suggest(d, name, candidates);
    diags.push(d);
    None
}

fn resolve_endpoint(
    ep: &ast::Endpoint,
    inv: &Inventory,
    diags: &mut Vec<Diagnostic>,
) -> Option<Endpoint> {
    match ep {
        ast::Endpoint::Name(n) => {
            if inv.node(&n.text).is_some() {
                return Some(Endpoint {
                    node: n.text.clone(),
                    application: None,
                    urn: None,
                    span: n.span,
                });
            }
            if let Some(app) = inv.application(&n.text) {
                return Some(Endpoint {
                    node: app.node.value.clone(),
                    application: Some(app.name.value.clone()),
                    urn: Some(app.urn.value.clone()),
                    span: n.span,
                });
            }
            let candidates = inv
                .nodes
                .iter()
                .map(|n| n.name.value.as_str())
                .chain(inv.applications.iter().map(|a| a.name.value.as_str()));
            let d = Diagnostic::error(
                codes::UNKNOWN_ENDPOINT,
                n.span,
                format!(
                    "`{}` is neither a node nor an application of network `{}`",
                    n.text, inv.name
                ),
            )
            .label("unknown endpoint");
            diags.push(suggest(d, &n.text, candidates));
            None
        }
        ast::Endpoint::Urn(u) => {
            let wanted = u.assigned_name();
            let app = inv
                .applications
                .iter()
                .find(|a| urn_key(&a.urn.value) == wanted);
            if let Some(app) = app {
                return Some(Endpoint {
                    node: app.node.value.clone(),
                    application: Some(app.name.value.clone()),
                    urn: Some(u.text.clone()),
                    span: u.span,
                });
            }
            let d = Diagnostic::error(
                codes::UNKNOWN_ENDPOINT,
                u.span,
                format!(
                    "no application of network `{}` has the URN `{wanted}`",
                    inv.name
                ),
            )
            .label("unknown URN");
            diags.push(suggest(
                d,
                &wanted,
                inv.applications.iter().map(|a| a.urn.value.as_str()),
            ));
            None
        }
    }
}

/// RFC 8141 equivalence key of an inventory URN: `urn:` and the NID are case-insensitive.
fn urn_key(urn: &str) -> String {
    let mut parts = urn.splitn(3, ':');
    let (_, nid, nss) = (
        parts.next(),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let nss = nss
        .split("?+")
        .next()
        .unwrap_or("")
        .split("?=")
        .next()
        .unwrap_or("");
    format!("urn:{}:{}", nid.to_ascii_lowercase(), nss)
}

fn suggest<'a>(
    d: Diagnostic,
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Diagnostic {
    match did_you_mean(name, candidates) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help("check the spelling against the inventory"),
    }
}

/// The value of a quantity in the base unit of one of `want`, or a diagnostic.
pub(super) fn measure_quantity(
    q: &Quantity,
    want: &[Dimension],
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Dimension, f64)> {
    measure(q, want, what, diags)
}

fn measure(
    q: &Quantity,
    want: &[Dimension],
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Dimension, f64)> {
    let Some((dim, value)) = units::measure(q) else {
        let unit = q.unit.as_ref().map_or("", |u| u.text.as_str());
        let known = units::known_units();
        let mut d = Diagnostic::error(
            codes::UNKNOWN_UNIT,
            q.unit.as_ref().map_or(q.span, |u| u.span),
            format!("`{unit}` is not a unit strata knows"),
        )
        .label("unknown unit");
        d = match did_you_mean(unit, known.iter().map(String::as_str)) {
            Some(s) => d.help(format!(
                "did you mean `{s}`? {what} is {}",
                want[0].describe()
            )),
            None => d.help(format!("{what} is {}", want[0].describe())),
        };
        diags.push(d);
        return None;
    };
    if !value.is_finite() {
        diags.push(
            Diagnostic::error(
                codes::OUT_OF_RANGE,
                q.span,
                format!("{what} is too large to be meaningful"),
            )
            .label("out of range")
            .help("use a finite number"),
        );
        return None;
    }
    if want.contains(&dim) {
        return Some((dim, value));
    }
    if dim == Dimension::Number {
        diags.push(
            Diagnostic::error(codes::MISSING_UNIT, q.span, format!("{what} needs a unit"))
                .label("no unit")
                .help(format!("write {}", want[0].describe())),
        );
    } else {
        diags.push(
            Diagnostic::error(
                codes::WRONG_DIMENSION,
                q.span,
                format!(
                    "{what} must be {}, but `{}` is {}",
                    want[0].describe(),
                    quantity_text(q),
                    dim.describe()
                ),
            )
            .label(format!("expected {}", want[0].describe()))
            .help(format!("write {}", want[0].describe())),
        );
    }
    None
}

fn quantity_text(q: &Quantity) -> String {
    match &q.unit {
        Some(u) if u.text.starts_with('/') => format!("{}{}", q.number, u.text),
        Some(u) => format!("{} {}", q.number, u.text),
        None => q.number.clone(),
    }
}

fn key_size(
    size: Option<&Quantity>,
    clause_span: Span,
    diags: &mut Vec<Diagnostic>,
) -> Option<u32> {
    let Some(q) = size else {
        diags.push(
            Diagnostic::error(codes::KEY_SIZE, clause_span, "keys need a size")
                .label("how many bits per key?")
                .help("write `keys of 256 bits`"),
        );
        return None;
    };
    let (_, bits) = measure(q, &[Dimension::Size], "a key size", diags)?;
    if bits <= 0.0 || bits.fract() != 0.0 || bits % 8.0 != 0.0 || bits > u32::MAX as f64 {
        diags.push(
            Diagnostic::error(
                codes::KEY_SIZE,
                q.span,
                format!(
                    "a key size must be a positive whole number of bytes, but `{}` is {} bits",
                    quantity_text(q),
                    fmt_num(bits)
                ),
            )
            .label("not a positive multiple of 8 bits")
            .help(format!(
                "use a multiple of 8 bits, e.g. `{} bits`",
                nearest_multiple_of_8(bits)
            )),
        );
        return None;
    }
    Some(bits as u32)
}

fn nearest_multiple_of_8(bits: f64) -> u64 {
    let n = (bits / 8.0).round().max(1.0);
    (n * 8.0).min(u32::MAX as f64) as u64
}

/// Service units per second; `service` is `None` when the service clause itself was bad
/// (the rate is still checked, so that all errors show at once).
fn rate_value(q: &Quantity, service: Option<Service>, diags: &mut Vec<Diagnostic>) -> Option<f64> {
    let want: &[Dimension] = match service {
        Some(Service::Pairs) => &[Dimension::Rate],
        _ => &[Dimension::Rate, Dimension::BitRate],
    };
    let (dim, value) = measure(q, want, "a rate", diags)?;
    let per_s = match (dim, service) {
        (Dimension::BitRate, Some(Service::Keys { size_bits })) => value / f64::from(size_bits),
        _ => value,
    };
    if per_s <= 0.0 {
        diags.push(
            Diagnostic::error(
                codes::RATE_RANGE,
                q.span,
                format!(
                    "a rate must be above zero, but this one is `{}`",
                    quantity_text(q)
                ),
            )
            .label("zero or negative rate")
            .help("give the rate the intent needs, e.g. `rate >= 1/s`"),
        );
        return None;
    }
    Some(per_s)
}

fn fidelity_bound(bound: &Bound, diags: &mut Vec<Diagnostic>) -> Option<f64> {
    let (_, f) = measure(&bound.value, &[Dimension::Number], "a fidelity", diags)?;
    if bound.cmp != Cmp::AtLeast {
        diags.push(
            Diagnostic::error(
                codes::BOUND_DIRECTION,
                bound.cmp_span,
                "fidelity is a lower bound",
            )
            .label("expected `>=`")
            .help(format!("write `fidelity >= {}`", bound.value.number)),
        );
        return None;
    }
    if !(f > 0.25 && f <= 1.0) {
        diags.push(
            Diagnostic::error(
                codes::FIDELITY_RANGE,
                bound.value.span,
                format!(
                    "fidelity must be above 0.25 and at most 1, but it is {}",
                    fmt_num(f)
                ),
            )
            .label("outside (0.25, 1]")
            .help("0.25 is a fully mixed state and 1 a perfect pair; typical targets are 0.8–0.99"),
        );
        return None;
    }
    Some(f)
}

fn latency_bound(bound: &Bound, diags: &mut Vec<Diagnostic>) -> Option<f64> {
    if bound.cmp != Cmp::AtMost {
        diags.push(
            Diagnostic::error(
                codes::BOUND_DIRECTION,
                bound.cmp_span,
                "latency is an upper bound",
            )
            .label("expected `<=`")
            .help(format!(
                "write `latency <= {}`",
                quantity_text(&bound.value)
            )),
        );
        return None;
    }
    positive(&bound.value, Dimension::Duration, "a latency", diags)
}

fn positive(q: &Quantity, dim: Dimension, what: &str, diags: &mut Vec<Diagnostic>) -> Option<f64> {
    let (_, v) = measure(q, &[dim], what, diags)?;
    if v <= 0.0 {
        diags.push(
            Diagnostic::error(
                codes::OUT_OF_RANGE,
                q.span,
                format!("{what} must be above zero"),
            )
            .label("zero or negative")
            .help(format!("write {}", dim.describe())),
        );
        return None;
    }
    Some(v)
}

fn integer(
    q: &Quantity,
    what: &str,
    min: i64,
    max: i64,
    diags: &mut Vec<Diagnostic>,
) -> Option<i64> {
    let (_, v) = measure(q, &[Dimension::Number], what, diags)?;
    if v.fract() != 0.0 || v < min as f64 || v > max as f64 {
        diags.push(
            Diagnostic::error(
                codes::OUT_OF_RANGE,
                q.span,
                format!(
                    "`{what}` takes a whole number from {min} to {max}, not {}",
                    q.number
                ),
            )
            .label("out of range")
            .help(format!("write a whole number from {min} to {max}")),
        );
        return None;
    }
    Some(v as i64)
}

/// Prints a number without a trailing `.0`.
pub fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}
