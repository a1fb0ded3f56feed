//! Checks shared by the parser's robustness properties: spans that stay inside the text,
//! clean parses that format to a fixed point with the same tree and comments, the number
//! of cases per property, and the words random inputs are made of. Each test file uses
//! part of it, hence `dead_code` is allowed.
#![allow(dead_code)]

use proptest::prelude::*;
use strata_grammar::ast::*;
use strata_grammar::format::{format, syntax_difference};
use strata_grammar::{FileId, Span, parse};

/// Every diagnostic and every syntax-tree span lies inside `text`, on char boundaries; a
/// clean parse also formats well. Returns whether the parse was clean.
pub fn assert_spans_sound(text: &str) -> bool {
    let (unit, diags) = parse(FileId(0), text);
    let ok = |s: Span| {
        s.start <= s.end
            && s.end <= text.len()
            && text.is_char_boundary(s.start)
            && text.is_char_boundary(s.end)
    };
    for d in &diags {
        assert!(
            ok(d.span),
            "diagnostic span {:?} outside {:?}",
            d.span,
            text
        );
        for l in &d.related {
            assert!(ok(l.span), "related span {:?} outside {:?}", l.span, text);
        }
    }
    for item in &unit.items {
        assert!(
            ok(item.span()),
            "item span {:?} outside {:?}",
            item.span(),
            text
        );
        for c in clauses(item) {
            assert!(ok(c.span), "clause span {:?} outside {:?}", c.span, text);
        }
    }
    for c in &unit.comments {
        assert!(ok(c.span), "comment span {:?} outside {:?}", c.span, text);
    }
    if diags.is_empty() {
        assert_formats_well(&unit, text);
    }
    diags.is_empty()
}

pub fn clauses(item: &Item) -> &[Clause] {
    match item {
        Item::Use(_) | Item::Assert(_) => &[],
        Item::Intent(i) => &i.clauses,
        Item::Policy(p) => &p.clauses,
    }
}

pub fn comment_texts(unit: &SourceUnit) -> Vec<String> {
    unit.comments
        .iter()
        .map(|c| c.text.trim_end().to_string())
        .collect()
}

/// `unit` parsed cleanly from `text`: its formatted text parses cleanly to the same tree
/// and comments, is laid out tidily and is a fixed point of the formatter.
pub fn assert_formats_well(unit: &SourceUnit, text: &str) -> String {
    let out = format(unit, text);
    let (again, diags) = parse(FileId(0), &out);
    assert!(
        diags.is_empty(),
        "formatted text does not parse: {diags:#?}\n--- input:\n{text}\n--- formatted:\n{out}"
    );
    if let Some(diff) = syntax_difference(unit, &again) {
        panic!("formatting changed the tree: {diff}\n--- input:\n{text}\n--- formatted:\n{out}");
    }
    assert_eq!(
        comment_texts(unit),
        comment_texts(&again),
        "comments changed\n--- input:\n{text}\n--- formatted:\n{out}"
    );
    assert!(
        out.is_empty() || out.ends_with('\n') && !out.ends_with("\n\n"),
        "{out:?}"
    );
    assert!(!out.contains("\n\n\n"), "{out:?}");
    assert!(
        out.lines().all(|l| l.trim_end() == l),
        "trailing whitespace in {out:?}"
    );
    assert_eq!(
        format(&again, &out),
        out,
        "not a fixed point\n--- input:\n{text}"
    );
    out
}

/// 256 cases per property unless `PROPTEST_CASES` asks for a longer run.
pub fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok());
    ProptestConfig::with_cases(cases.unwrap_or(256))
}

/// Words of the language and its neighbours, so that random sequences get deep into it.
pub const TOKENS: &[&str] = &[
    "intent",
    "policy",
    "use",
    "network",
    "keys",
    "of",
    "entangled",
    "pairs",
    "between",
    "and",
    "rate",
    "fidelity",
    "latency",
    "valid",
    "for",
    "lifetime",
    "priority",
    "burst",
    "relay",
    "via",
    "trusted",
    "nodes",
    "only",
    "avoid",
    "never",
    "node",
    "link",
    "domain",
    "max",
    "hops",
    "disjoint",
    "paths",
    "applies",
    "to",
    "all",
    "intents",
    "assert",
    "survive",
    "survives",
    "failure",
    "failures",
    "no",
    "key",
    "admitted",
    "utilisation",
    "at",
    "A",
    "b-2",
    "x.y",
    "_z",
    "\"q\"",
    "\"a \\\" b\"",
    "\"",
    "\\",
    "urn:qkd:a:b",
    "urn:ex:n?+r?=q",
    "urn:",
    "URN:ab:c,d",
    "10",
    "0.9",
    "-1",
    "1e3",
    "2.5",
    "256",
    "bits",
    "/s",
    "%",
    "kbit/s",
    "ms",
    "h",
    "keys/s",
    ">=",
    "<=",
    "≥",
    "≤",
    ">",
    "=",
    ":",
    ",",
    ";",
    "{",
    "}",
    "# c",
    "#",
    "\n",
    "\r\n",
    "\t",
    " ",
    "é",
    "\u{feff}",
    "→",
];
