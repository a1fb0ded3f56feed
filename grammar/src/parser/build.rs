//! From pest pairs to the syntax tree: [`Builder`] turns the pairs of one item into AST
//! nodes with spans shifted to the file, and trims the trailing blank lines and comments
//! pest leaves in a rule's span.

use super::grammar::Rule;
use crate::ast::*;
use crate::span::{FileId, Span};
use pest::iterators::Pair;

/// Turns pest pairs into AST nodes, shifting spans by the chunk offset.
pub(super) struct Builder {
    pub(super) file: FileId,
    pub(super) offset: usize,
}

impl Builder {
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        Span::new(
            self.file,
            self.offset + s.start(),
            self.offset + code_end(pair),
        )
    }

    pub(super) fn item(&self, pair: Pair<Rule>) -> Option<Item> {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::use_decl => {
                let string = pair.into_inner().find(|p| p.as_rule() == Rule::string)?;
                let path_span = self.span(&string);
                Some(Item::Use(UseNetwork {
                    path: unescape(string.into_inner().next().map_or("", |p| p.as_str())),
                    path_span,
                    span,
                }))
            }
            Rule::intent => {
                let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::kw_intent);
                let name = self.name(inner.next()?);
                let body = inner.next()?;
                let form = if body.as_rule() == Rule::intent_line {
                    Form::Line
                } else {
                    Form::Block
                };
                let clauses = body.into_inner().flat_map(|c| self.clause(c)).collect();
                Some(Item::Intent(Intent {
                    name,
                    form,
                    clauses,
                    span,
                }))
            }
            Rule::assertion => {
                let body = pair.into_inner().find(|p| p.as_rule() != Rule::kw_assert)?;
                Some(Item::Assert(Assertion {
                    kind: self.assertion(body)?,
                    span,
                }))
            }
            Rule::policy => {
                let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::kw_policy);
                let name = self.name(inner.next()?);
                let clauses = inner
                    .next()?
                    .into_inner()
                    .flat_map(|c| self.clause(c))
                    .collect();
                Some(Item::Policy(Policy {
                    name,
                    clauses,
                    span,
                }))
            }
            _ => None,
        }
    }

    fn name(&self, pair: Pair<Rule>) -> Name {
        let span = self.span(&pair);
        let inner = pair.into_inner().next();
        match inner {
            Some(p) if p.as_rule() == Rule::string => Name {
                text: unescape(p.into_inner().next().map_or("", |s| s.as_str())),
                quoted: true,
                span,
            },
            Some(p) => Name {
                text: p.as_str().to_string(),
                quoted: false,
                span,
            },
            None => Name {
                text: String::new(),
                quoted: false,
                span,
            },
        }
    }

    /// The clauses one written clause stands for: `rate >= 10/s and <= 20/s` is two
    /// bounds, `avoid nodes A, B` one rule per name; every other clause is one.
    fn clause(&self, pair: Pair<Rule>) -> Vec<Clause> {
        let span = self.span(&pair);
        // `clause` wraps exactly one alternative.
        let alt = pair
            .into_inner()
            .next()
            .expect("clause has one alternative");
        let rule = alt.as_rule();
        let parts: Vec<Pair<Rule>> = alt
            .into_inner()
            .filter(|p| !p.as_rule().is_keyword())
            .collect();
        let one = |kind| vec![Clause { kind, span }];
        match rule {
            Rule::keys => one(ClauseKind::Keys(
                parts.into_iter().next().map(|q| self.quantity(q)),
            )),
            Rule::pairs => one(ClauseKind::Pairs),
            Rule::between => {
                let mut it = parts.into_iter().map(|p| self.endpoint(p));
                let a = it.next().expect("between has two endpoints");
                let b = it.next().expect("between has two endpoints");
                one(ClauseKind::Between(a, b))
            }
            Rule::rate | Rule::bare_rate => self.rates(parts, span),
            Rule::fidelity => one(ClauseKind::Fidelity(self.bound_or(
                parts,
                Cmp::AtLeast,
                span,
            ))),
            Rule::latency => one(ClauseKind::Latency(self.bound_or(parts, Cmp::AtMost, span))),
            Rule::valid_for => one(ClauseKind::ValidFor(self.first_quantity(parts))),
            Rule::priority => one(ClauseKind::Priority(self.first_quantity(parts))),
            Rule::burst => one(ClauseKind::Burst(self.first_quantity(parts))),
            Rule::max_hops => one(ClauseKind::MaxHops(self.first_quantity(parts))),
            Rule::disjoint => one(ClauseKind::DisjointPaths(self.first_quantity(parts))),
            Rule::trusted_only => one(ClauseKind::TrustedRelaysOnly),
            Rule::avoid | Rule::never_via | Rule::via => {
                let targets = self.targets(parts.into_iter().next().expect("target"));
                let n = targets.len();
                targets
                    .into_iter()
                    .enumerate()
                    .map(|(k, (target, name_span))| {
                        // The first rule spans the keyword; each further one its name.
                        let span = match k {
                            0 if n > 1 => Span::new(self.file, span.start, name_span.end),
                            0 => span,
                            _ => name_span,
                        };
                        let kind = if rule == Rule::via {
                            ClauseKind::Via(target)
                        } else {
                            ClauseKind::Avoid {
                                target,
                                never_via: rule == Rule::never_via,
                            }
                        };
                        Clause { kind, span }
                    })
                    .collect()
            }
            Rule::objective => {
                let kind = parts.into_iter().next().expect("objective kind");
                let word = kind.into_inner().next().expect("objective keyword");
                one(ClauseKind::Objective(if word.as_rule() == Rule::kw_fair {
                    ObjectiveKind::Fair
                } else {
                    ObjectiveKind::Throughput
                }))
            }
            Rule::applies_to => {
                let sel = parts.into_iter().next().expect("selector");
                let alt = sel.into_inner().next().expect("selector alternative");
                one(ClauseKind::AppliesTo(match alt.as_rule() {
                    Rule::sel_all => Selector::All,
                    Rule::sel_keys => Selector::Keys,
                    Rule::sel_pairs => Selector::Pairs,
                    _ => Selector::Intents(
                        alt.into_inner()
                            .filter(|p| p.as_rule() == Rule::name)
                            .map(|p| self.name(p))
                            .collect(),
                    ),
                }))
            }
            other => unreachable!("grammar has no clause {other:?}"),
        }
    }

    /// `rate >= Q`, a bare `Q` (a minimum), `at most Q`, each optionally followed by
    /// `and <= Q`: one `Rate` clause per bound.
    fn rates(&self, parts: Vec<Pair<Rule>>, span: Span) -> Vec<Clause> {
        let (first, upper): (Vec<_>, Vec<_>) = parts
            .into_iter()
            .partition(|p| p.as_rule() != Rule::rate_upper);
        let mut out = Vec::new();
        let first_end = upper.first().map_or(span.end, |u| {
            let prev = first.last().map_or(span.start, |q| self.span(q).end);
            prev.min(self.offset + u.as_span().start())
        });
        out.push(Clause {
            kind: ClauseKind::Rate(self.bound_or(first, Cmp::AtLeast, span)),
            span: Span::new(self.file, span.start, first_end),
        });
        for u in upper {
            let u_span = self.span(&u);
            let parts = u
                .into_inner()
                .filter(|p| !p.as_rule().is_keyword())
                .collect();
            out.push(Clause {
                kind: ClauseKind::Rate(self.bound_or(parts, Cmp::AtLeast, u_span)),
                span: u_span,
            });
        }
        out
    }

    /// The names of a target or of a `nodes A, B` list, each with the kind it names and
    /// its span.
    fn targets(&self, pair: Pair<Rule>) -> Vec<(Target, Span)> {
        if pair.as_rule() == Rule::target {
            let t = self.target(pair);
            let span = t.name.span;
            return vec![(t, span)];
        }
        let mut kind = TargetKind::Node;
        let mut out = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::plural_kind => {
                    kind = match p.as_str() {
                        "links" => TargetKind::Link,
                        "domains" => TargetKind::Domain,
                        _ => TargetKind::Node,
                    }
                }
                Rule::name => {
                    let name = self.name(p);
                    let span = name.span;
                    out.push((
                        Target {
                            kind: Some(kind),
                            name,
                        },
                        span,
                    ));
                }
                _ => {}
            }
        }
        out
    }

    fn assertion(&self, body: Pair<Rule>) -> Option<AssertKind> {
        let rule = body.as_rule();
        let parts: Vec<Pair<Rule>> = body
            .into_inner()
            .filter(|p| !p.as_rule().is_keyword())
            .collect();
        Some(match rule {
            Rule::assert_no_via => {
                let mut service = None;
                let mut target = None;
                for p in parts {
                    match p.as_rule() {
                        Rule::assert_service => {
                            service = Some(if p.as_str().starts_with("key") {
                                Selector::Keys
                            } else {
                                Selector::Pairs
                            })
                        }
                        Rule::target => target = Some(self.target(p)),
                        _ => {}
                    }
                }
                AssertKind::NoVia {
                    service,
                    target: target?,
                }
            }
            Rule::assert_util => {
                let mut it = parts.into_iter().peekable();
                let link = it
                    .next_if(|p| p.as_rule() == Rule::name)
                    .map(|p| self.name(p));
                AssertKind::Utilisation {
                    link,
                    bound: self.bound(it.collect()),
                }
            }
            Rule::assert_survive => {
                let mut it = parts.into_iter();
                let subject = self.subject(it.next()?);
                let count = it.next()?;
                let count = Quantity {
                    value: count.as_str().parse().unwrap_or(f64::NAN),
                    number: count.as_str().to_string(),
                    unit: None,
                    rest: Vec::new(),
                    span: self.span(&count),
                };
                let mut element = None;
                let mut share = None;
                for p in it {
                    match p.as_rule() {
                        Rule::fail_kind => {
                            element = Some(if p.as_str() == "node" {
                                TargetKind::Node
                            } else {
                                TargetKind::Link
                            })
                        }
                        Rule::quantity => share = Some(self.quantity(p)),
                        _ => {}
                    }
                }
                AssertKind::Survive {
                    subject,
                    count,
                    element,
                    share,
                }
            }
            Rule::assert_admitted => {
                let mut it = parts.into_iter();
                let subject = self.subject(it.next()?);
                AssertKind::Admitted {
                    subject,
                    bound: self.bound(it.collect()),
                }
            }
            _ => return None,
        })
    }

    fn subject(&self, pair: Pair<Rule>) -> Selector {
        match pair.into_inner().next() {
            Some(p) if p.as_rule() == Rule::sel_all => Selector::All,
            Some(p) if p.as_rule() == Rule::sel_keys => Selector::Keys,
            Some(p) if p.as_rule() == Rule::sel_pairs => Selector::Pairs,
            Some(p) => Selector::Intents(
                p.into_inner()
                    .filter(|n| n.as_rule() == Rule::name)
                    .map(|n| self.name(n))
                    .collect(),
            ),
            None => Selector::Intents(Vec::new()),
        }
    }

    fn first_quantity(&self, parts: Vec<Pair<Rule>>) -> Quantity {
        self.quantity(parts.into_iter().next().expect("quantity"))
    }

    fn bound(&self, parts: Vec<Pair<Rule>>) -> Bound {
        let span = parts.first().map_or(Span::default(), |p| self.span(p));
        self.bound_or(parts, Cmp::AtLeast, span)
    }

    /// A comparator and a quantity; without a comparator, `default` (an empty span at
    /// the start of `span` marks where it would be).
    fn bound_or(&self, parts: Vec<Pair<Rule>>, default: Cmp, span: Span) -> Bound {
        let mut it = parts.into_iter().peekable();
        let (cmp, cmp_span) = match it.next_if(|p| p.as_rule() == Rule::cmp) {
            Some(cmp) => {
                let cmp_span = self.span(&cmp);
                let text = cmp.as_str();
                let at_least = matches!(text, ">=" | "≥") || text.ends_with("least");
                (if at_least { Cmp::AtLeast } else { Cmp::AtMost }, cmp_span)
            }
            None => (default, Span::new(self.file, span.start, span.start)),
        };
        Bound {
            cmp,
            cmp_span,
            value: self.quantity(it.next().expect("quantity")),
        }
    }

    fn quantity(&self, pair: Pair<Rule>) -> Quantity {
        let span = self.span(&pair);
        let mut number = String::new();
        let mut unit = None;
        let mut rest = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::number => number = p.as_str().to_string(),
                Rule::unit | Rule::plain_unit => {
                    unit = Some(Unit {
                        text: p.as_str().to_string(),
                        span: self.span(&p),
                    })
                }
                Rule::quantity_part => rest.push(self.quantity(p)),
                _ => {}
            }
        }
        Quantity {
            value: number.parse().unwrap_or(f64::NAN),
            number,
            unit,
            rest,
            span,
        }
    }

    fn endpoint(&self, pair: Pair<Rule>) -> Endpoint {
        let inner = pair.into_inner().next().expect("endpoint alternative");
        if inner.as_rule() == Rule::urn {
            Endpoint::Urn(self.urn(inner))
        } else {
            Endpoint::Name(self.name(inner))
        }
    }

    fn urn(&self, pair: Pair<Rule>) -> Urn {
        let span = self.span(&pair);
        let text = pair.as_str().to_string();
        let mut nid = String::new();
        let mut nss = String::new();
        let mut r_component = None;
        let mut q_component = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::urn_nid => nid = p.as_str().to_string(),
                Rule::urn_nss => nss = p.as_str().to_string(),
                Rule::urn_r => r_component = Some(p.as_str().to_string()),
                Rule::urn_q => q_component = Some(p.as_str().to_string()),
                _ => {}
            }
        }
        Urn {
            text,
            nid,
            nss,
            r_component,
            q_component,
            span,
        }
    }

    fn target(&self, pair: Pair<Rule>) -> Target {
        let mut kind = None;
        let mut name = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::target_kind => {
                    kind = match p.as_str() {
                        "link" => Some(TargetKind::Link),
                        "domain" => Some(TargetKind::Domain),
                        _ => Some(TargetKind::Node),
                    }
                }
                Rule::name => name = Some(self.name(p)),
                _ => {}
            }
        }
        Target {
            kind,
            name: name.expect("target has a name"),
        }
    }
}

/// Where `pair`'s code ends. pest skips whitespace and comments before every element of a
/// sequence, so a rule ending in a `?` or `*` that matched nothing (`keys` without a size,
/// a one-clause `intent x: ...`, `intents a`) would otherwise stretch over the blank lines
/// and comments after it.
fn code_end(pair: &Pair<Rule>) -> usize {
    let end = pair.as_span().end();
    let Some(last) = pair.clone().into_inner().last() else {
        return end;
    };
    let inner_end = code_end(&last);
    match pair.get_input().get(inner_end..end) {
        Some(gap) if only_whitespace_and_comments(gap) => inner_end,
        _ => end,
    }
}

fn only_whitespace_and_comments(text: &str) -> bool {
    let mut in_comment = false;
    text.chars().all(|c| {
        match c {
            '\n' => in_comment = false,
            '#' => in_comment = true,
            _ => {}
        }
        in_comment || matches!(c, ' ' | '\t' | '\r' | '\n' | '\u{feff}')
    })
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}
