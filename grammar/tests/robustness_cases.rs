//! Single cases of the parser's robustness: a file of ten thousand intents, and regressions
//! (spans that ran on over trailing comments, clauses and units glued to numbers).

mod common;

use common::{assert_formats_well, clauses};
use strata_grammar::ast::*;
use strata_grammar::{FileId, parse};

// ---------------------------------------------------------------------------------------
// (d) A large file.

#[test]
fn ten_thousand_intents_parse_without_diagnostics() {
    let mut text = String::from("use network \"big.yaml\"\n");
    for n in 0..10_000 {
        match n % 4 {
            0 => text.push_str(&format!("intent i{n}: keys of 256 bits between n{} and n{}, fidelity >= 0.9, {}/s\n", n % 97, n % 89, n % 50 + 1)),
            1 => text.push_str(&format!(
                "# intent {n}\nintent i{n} {{\n    entangled pairs between lab-{n} and urn:qkd:site:{n}\n    fidelity >= 0.8  # e2e\n    latency <= {n} ms\n}}\n"
            )),
            2 => text.push_str(&format!("intent \"i {n}\": keys between a and b, rate >= 2.5 kbit/s, valid for 1h, avoid node x{n}\n")),
            _ => text.push_str(&format!("intent i{n} {{ keys of 8 bytes; between a and b; max hops {} }}\n\n", n % 7)),
        }
    }
    let (unit, diags) = parse(FileId(0), &text);
    assert!(diags.is_empty(), "{:#?}", &diags[..diags.len().min(3)]);
    assert_eq!(unit.items.len(), 10_001);
    assert_eq!(unit.comments.len(), 5_000);
    let out = assert_formats_well(&unit, &text);
    assert_eq!(out.matches("\nintent ").count(), 10_000);
}

// ---------------------------------------------------------------------------------------
// Regressions.

/// pest's implicit skip before a trailing `?`/`*` that matched nothing used to stay in the
/// span: `keys`, a one-clause line intent and `intents a` ran on over the comments after them.
#[test]
fn spans_end_where_the_code_ends() {
    let text = "intent a: keys  # k\n\n# next\nintent b {\n    keys\n    # last\n}\npolicy p { applies to intents a  # x\n}\n";
    let (unit, diags) = parse(FileId(0), text);
    assert!(diags.is_empty(), "{diags:#?}");
    let span_texts: Vec<&str> = unit
        .items
        .iter()
        .flat_map(|i| std::iter::once(i.span()).chain(clauses(i).iter().map(|c| c.span)))
        .map(|s| &text[s.start..s.end])
        .collect();
    assert_eq!(
        span_texts,
        [
            "intent a: keys",
            "keys",
            "intent b {\n    keys\n    # last\n}",
            "keys",
            "policy p { applies to intents a  # x\n}",
            "applies to intents a",
        ]
    );
}

/// `keys` right after a bare number starts a clause; `keys/s` is still a unit.
#[test]
fn keys_after_a_number_starts_a_clause() {
    let (unit, diags) = parse(
        FileId(0),
        "intent a: priority 3 keys of 256 bits between A and B, rate >= 10 keys/s\n",
    );
    assert!(diags.is_empty(), "{diags:#?}");
    let Item::Intent(i) = &unit.items[0] else {
        panic!()
    };
    let kinds: Vec<&str> = i.clauses.iter().map(|c| c.kind.keyword()).collect();
    assert_eq!(kinds, ["priority", "keys", "between", "rate"]);
    match (&i.clauses[0].kind, &i.clauses[3].kind) {
        (ClauseKind::Priority(p), ClauseKind::Rate(r)) => {
            assert_eq!(p.unit, None);
            assert_eq!(
                r.value.unit.as_ref().map(|u| u.text.as_str()),
                Some("keys/s")
            );
        }
        other => panic!("{other:?}"),
    }
}

/// A unit is judged by the letters it takes: `0entangled0` used to read as `0` in the unit
/// `entangled`, which `fmt` printed as `0 entangled` — the start of a different clause.
#[test]
fn a_keyword_glued_to_digits_is_not_a_unit() {
    let (_, diags) = parse(FileId(0), "intent a: keys of 0entangled0\n");
    assert_eq!(diags.len(), 1, "{diags:#?}");
}
