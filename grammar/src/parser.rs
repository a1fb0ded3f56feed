//! Text → [`SourceUnit`]. The file is cut into top-level items (every line whose first word
//! is `use`, `intent` or `policy` starts one) and each item is parsed on its own, so one
//! syntax error never hides the next: the caller gets every item that parsed and a
//! diagnostic for every one that did not.

use crate::ast::*;
use crate::diag::Diagnostic;
use crate::span::{FileId, Span};
use pest::Parser as _;
use pest::iterators::Pair;

#[derive(pest_derive::Parser)]
#[grammar = "intent.pest"]
struct IntentParser;

/// Diagnostic code of every syntax error.
pub const SYNTAX: &str = "strata::syntax";

/// Parses one intent file. Never panics; returns what parsed and the syntax errors.
pub fn parse(file: FileId, text: &str) -> (SourceUnit, Vec<Diagnostic>) {
    let text = &*crate::span::line_breaks(text);
    let comments = scan_comments(file, text);
    let mut items = Vec::new();
    let mut diags = Vec::new();
    for (start, end) in item_chunks(text) {
        let chunk = &text[start..end];
        match IntentParser::parse(Rule::item_only, chunk) {
            Ok(pairs) => {
                let b = Builder {
                    file,
                    offset: start,
                };
                for pair in pairs {
                    if let Some(item) = b.item(pair) {
                        items.push(item);
                    }
                }
            }
            Err(err) => diags.push(syntax_error(file, text, start, &err)),
        }
    }
    (
        SourceUnit {
            file,
            items,
            comments,
        },
        diags,
    )
}

/// Byte ranges of the top-level items. A new item starts at each line whose first word is
/// `use`, `intent`, `policy` or `assert`; comment-only and blank lines before it belong to it.
fn item_chunks(text: &str) -> Vec<(usize, usize)> {
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let word: String = line
            .trim_start_matches([' ', '\t', '\u{feff}'])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || *c == '.')
            .collect();
        if matches!(word.as_str(), "use" | "intent" | "policy" | "assert") {
            starts.push(offset);
        }
        offset += line.len();
    }
    if starts.first() != Some(&0) {
        starts.insert(0, 0);
    }
    let mut chunks: Vec<(usize, usize)> = starts
        .windows(2)
        .map(|w| (w[0], w[1]))
        .chain(starts.last().map(|&s| (s, text.len())))
        .collect();
    chunks.retain(|&(s, e)| s < e);
    chunks
}

/// Finds `# ...` comments, skipping `#` inside quoted strings.
fn scan_comments(file: FileId, text: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    let mut iter = text.char_indices();
    while let Some((i, c)) = iter.next() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' | '\n' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '#' => {
                let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                let body = text[i..end].trim_end_matches('\r');
                out.push(Comment {
                    span: Span::new(file, i, i + body.len()),
                    text: body.to_string(),
                });
                for (j, _) in iter.by_ref() {
                    if j + 1 >= end {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn syntax_error(
    file: FileId,
    text: &str,
    offset: usize,
    err: &pest::error::Error<Rule>,
) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let pos = match err.location {
        InputLocation::Pos(p) => offset + p,
        InputLocation::Span((s, _)) => offset + s,
    };
    let found = token_at(text, pos);
    let span = Span::new(file, pos, pos + found.len());
    let mut expected = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => describe_expected(positives),
        ErrorVariant::CustomError { message } => message.clone(),
    };
    let in_policy = text[offset..].trim_start().starts_with("policy");
    if in_policy {
        expected = expected.replace(CLAUSE, POLICY_RULE);
    }
    let line_start = text[..pos].rfind('\n').map_or(0, |n| n + 1);
    let before = &text[line_start.max(offset)..pos];
    let found_text = if found.is_empty() {
        "the end of the file".to_string()
    } else {
        format!("`{found}`")
    };
    let mut diag = Diagnostic::error(
        SYNTAX,
        span,
        format!("expected {expected}, found {found_text}"),
    )
    .label(format!("expected {expected} here"));
    if let Some(help) = syntax_help(&found, &expected, before) {
        diag = diag.help(help);
    }
    diag
}

/// The token starting at `pos`: a word, or a single character.
fn token_at(text: &str, pos: usize) -> String {
    let rest = text.get(pos..).unwrap_or("");
    let word: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '{' | '}' | ':' | '#'))
        .take(40)
        .collect();
    if word.is_empty() {
        rest.chars()
            .next()
            .filter(|c| *c != '\n')
            .map(String::from)
            .unwrap_or_default()
    } else {
        word
    }
}

fn describe_expected(rules: &[Rule]) -> String {
    let mut names: Vec<&str> = rules.iter().filter_map(|r| rule_name(*r)).collect();
    names.dedup();
    let mut uniq = Vec::new();
    for n in names {
        if !uniq.contains(&n) {
            uniq.push(n);
        }
    }
    match uniq.as_slice() {
        [] => "valid intent syntax".to_string(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

fn rule_name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "the end of the item",
        Rule::use_decl | Rule::kw_use => "`use network \"...\"`",
        Rule::intent | Rule::kw_intent => "`intent NAME ...`",
        Rule::policy | Rule::kw_policy => "`policy NAME { ... }`",
        Rule::assertion | Rule::kw_assert => "`assert ...`",
        Rule::assert_no_via => "`no keys via TARGET`",
        Rule::assert_util => "`link utilisation <= X %`",
        Rule::assert_survive | Rule::assert_admitted | Rule::assert_subject => {
            "`all`, `keys`, `entangled pairs` or intent names, then `survive N link failures` or `admitted >= RATE`"
        }
        Rule::kw_survive | Rule::kw_survives => "`survive`",
        Rule::kw_failure | Rule::kw_failures => "`failure` or `failures`",
        Rule::kw_utilisation | Rule::kw_utilization => "`utilisation`",
        Rule::count => "a whole number",
        Rule::intent_line | Rule::intent_block => "`:` or `{`",
        Rule::clause => CLAUSE,
        Rule::between | Rule::kw_between => "`between X and Y`",
        Rule::kw_and => "`and`",
        Rule::kw_of => "`of`",
        Rule::kw_pairs => "`pairs`",
        Rule::kw_network => "`network`",
        Rule::kw_via => "`via`",
        Rule::kw_trusted => "`trusted`",
        Rule::kw_nodes => "`nodes`",
        Rule::kw_only => "`only`",
        Rule::kw_hops => "`hops`",
        Rule::kw_paths => "`paths`",
        Rule::kw_to => "`to`",
        Rule::kw_for => "`for`",
        Rule::endpoint => "an endpoint (node, application or URN)",
        Rule::name | Rule::ident | Rule::string | Rule::target => "a name",
        Rule::selector => "`all`, `keys`, `entangled pairs` or `intents NAME, ...`",
        Rule::cmp => "`>=` or `<=`",
        Rule::quantity | Rule::number => "a number",
        Rule::unit => "a unit",
        Rule::urn => "a URN",
        _ => return None,
    })
}

const CLAUSE: &str = "a clause such as `rate >= 10/s`";
const POLICY_RULE: &str = "a policy rule such as `avoid node NAME`";

/// How to write what was meant, from the token found and the text before it on its line.
fn syntax_help(found: &str, expected: &str, before: &str) -> Option<String> {
    let words: Vec<&str> = before
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    if found.starts_with('-') && before.ends_with(|c: char| c.is_ascii_digit()) {
        return Some(
            "a unit follows its number, without a hyphen: `keys of 256 bits`, `latency <= 20 ms`"
                .into(),
        );
    }
    if found == "per" {
        return Some(
            "write a rate with a slash: `10/s`, `10 keys/s`, `600/min`, or `rate >= 10/s`".into(),
        );
    }
    let word_like = found
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '"');
    let list = words
        .iter()
        .rposition(|w| matches!(*w, "intents" | "nodes" | "links" | "domains"));
    if word_like && let Some(k) = list {
        let kind = words[k];
        let names = &words[k + 1..];
        if !names.is_empty()
            && !before.trim_end().ends_with(',')
            && names.iter().all(|w| !w.contains([':', '{', '}']))
        {
            return Some(format!(
                "separate the names after `{kind}` with commas: `{kind} {}, {found}`",
                names.join(", ")
            ));
        }
    }
    if found == "to" && words.contains(&"between") {
        return Some("write `between X and Y`, or `from X to Y`".into());
    }
    if found.is_empty() && expected.contains("clause") {
        return Some("a block intent ends with `}`".into());
    }
    if found == "}" && expected.contains(':') {
        return Some("write `intent NAME { ... }` or `intent NAME: clause, clause`".into());
    }
    if found.starts_with('>') || found.starts_with('<') || found.starts_with('=') {
        return Some("bounds are written `>=`, `≥`, `<=` or `≤`".into());
    }
    None
}

/// Turns pest pairs into AST nodes, shifting spans by the chunk offset.
struct Builder {
    file: FileId,
    offset: usize,
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

    fn item(&self, pair: Pair<Rule>) -> Option<Item> {
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

impl Rule {
    /// The `kw_*` rules: keywords carry no value for the tree.
    fn is_keyword(self) -> bool {
        matches!(
            self,
            Rule::kw_all
                | Rule::kw_admitted
                | Rule::kw_and
                | Rule::kw_assert
                | Rule::kw_at
                | Rule::kw_failure
                | Rule::kw_failures
                | Rule::kw_key
                | Rule::kw_no
                | Rule::kw_pair
                | Rule::kw_survive
                | Rule::kw_survives
                | Rule::kw_utilisation
                | Rule::kw_utilization
                | Rule::kw_applies
                | Rule::kw_objective
                | Rule::kw_avoid
                | Rule::kw_between
                | Rule::kw_burst
                | Rule::kw_disjoint
                | Rule::kw_domain
                | Rule::kw_entangled
                | Rule::kw_fidelity
                | Rule::kw_for
                | Rule::kw_hops
                | Rule::kw_intent
                | Rule::kw_intents
                | Rule::kw_keys
                | Rule::kw_latency
                | Rule::kw_lifetime
                | Rule::kw_link
                | Rule::kw_max
                | Rule::kw_network
                | Rule::kw_never
                | Rule::kw_node
                | Rule::kw_nodes
                | Rule::kw_links
                | Rule::kw_domains
                | Rule::kw_from
                | Rule::kw_of
                | Rule::kw_only
                | Rule::kw_pairs
                | Rule::kw_paths
                | Rule::kw_policy
                | Rule::kw_priority
                | Rule::kw_rate
                | Rule::kw_relay
                | Rule::kw_to
                | Rule::kw_trusted
                | Rule::kw_use
                | Rule::kw_valid
                | Rule::kw_via
        )
    }
}
