//! Syntax errors in the operator's terms: where parsing stopped, what was found, what the
//! grammar expected there (named for people, not by rule), and a hint for the usual slips.

use super::grammar::Rule;
use crate::diag::Diagnostic;
use crate::span::{FileId, Span};

/// Diagnostic code of every syntax error.
pub const SYNTAX: &str = "strata::syntax";

pub(super) fn syntax_error(
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
