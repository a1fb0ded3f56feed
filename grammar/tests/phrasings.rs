//! The phrasings operators write besides the canonical ones: each parses to the same syntax
//! tree as its canonical form, and `strata fmt` prints the canonical form. Mistakes that
//! are near an accepted form get one syntax error whose help shows the accepted form.

use strata_grammar::format::{format, syntax_difference};
use strata_grammar::{FileId, parse};

/// `written` and `canonical` (both one intent or policy) say the same thing, and `written`
/// formats to `canonical`.
#[track_caller]
fn same_as(written: &str, canonical: &str) {
    let (w, diags) = parse(FileId(0), written);
    assert!(diags.is_empty(), "{written}: {diags:#?}");
    let (c, diags) = parse(FileId(0), canonical);
    assert!(diags.is_empty(), "{canonical}: {diags:#?}");
    if let Some(diff) = syntax_difference(&w, &c) {
        panic!("`{written}` is not `{canonical}`: {diff}");
    }
    assert_eq!(format(&w, written).trim_end(), canonical);
}

const HEAD: &str = "intent x: keys of 256 bits between A and B";

#[test]
fn rates_in_words_and_windows() {
    same_as(
        &format!("{HEAD}, at least 10/s"),
        &format!("{HEAD}, rate >= 10/s"),
    );
    same_as(
        &format!("{HEAD}, at most 20/s"),
        &format!("{HEAD}, rate <= 20/s"),
    );
    same_as(
        &format!("{HEAD}, rate at least 10/s"),
        &format!("{HEAD}, rate >= 10/s"),
    );
    same_as(
        &format!("{HEAD}, rate >= 10/s and <= 20/s"),
        &format!("{HEAD}, rate >= 10/s, rate <= 20/s"),
    );
    same_as(
        &format!("{HEAD}, at least 10/s and at most 20/s"),
        &format!("{HEAD}, rate >= 10/s, rate <= 20/s"),
    );
    same_as(
        &format!("{HEAD}, rate >= 10/s and rate <= 20/s"),
        &format!("{HEAD}, rate >= 10/s, rate <= 20/s"),
    );
    same_as(&format!("{HEAD}, 10 Hz"), &format!("{HEAD}, rate >= 10 Hz"));
}

#[test]
fn a_bare_fidelity_is_a_minimum_and_a_bare_latency_a_maximum() {
    same_as(
        &format!("{HEAD}, 10/s, fidelity 90%"),
        &format!("{HEAD}, rate >= 10/s, fidelity >= 90%"),
    );
    same_as(
        &format!("{HEAD}, 10/s, fidelity >= 90 %"),
        &format!("{HEAD}, rate >= 10/s, fidelity >= 90%"),
    );
    same_as(
        &format!("{HEAD}, 10/s, fidelity at least 0.9"),
        &format!("{HEAD}, rate >= 10/s, fidelity >= 0.9"),
    );
    same_as(
        &format!("{HEAD}, 10/s, latency 5 ms"),
        &format!("{HEAD}, rate >= 10/s, latency <= 5 ms"),
    );
}

#[test]
fn microseconds_and_durations_in_words_and_parts() {
    same_as(
        &format!("{HEAD}, 10/s, latency <= 500 µs"),
        &format!("{HEAD}, rate >= 10/s, latency <= 500 µs"),
    );
    same_as(
        &format!("{HEAD}, 10/s, latency <= 500 us"),
        &format!("{HEAD}, rate >= 10/s, latency <= 500 us"),
    );
    same_as(
        &format!("{HEAD}, 10/s, valid for 1h30min"),
        &format!("{HEAD}, rate >= 10/s, valid for 1h30min"),
    );
    same_as(
        &format!("{HEAD}, 10/s, valid for 1 h30 min"),
        &format!("{HEAD}, rate >= 10/s, valid for 1h30min"),
    );
    same_as(
        &format!("{HEAD}, 10/s, valid for 1 hour"),
        &format!("{HEAD}, rate >= 10/s, valid for 1 hour"),
    );
    same_as(
        &format!("{HEAD}, 10/s, lifetime 2 minutes"),
        &format!("{HEAD}, rate >= 10/s, valid for 2 minutes"),
    );
    // Parts are one word: a space starts the next clause, as before.
    let (unit, diags) = parse(FileId(0), &format!("{HEAD}, valid for 1 h 10/s"));
    assert!(diags.is_empty(), "{diags:#?}");
    let strata_grammar::ast::Item::Intent(i) = &unit.items[0] else {
        panic!()
    };
    assert_eq!(i.clauses.len(), 4);
}

#[test]
fn lists_after_plural_keywords_are_one_rule_per_name() {
    same_as(
        &format!("{HEAD}, 10/s, avoid nodes Quintin, Getafe"),
        &format!("{HEAD}, rate >= 10/s, avoid node Quintin, avoid node Getafe"),
    );
    same_as(
        &format!("{HEAD}, 10/s, avoid links q-a, q-b, priority 3"),
        &format!("{HEAD}, rate >= 10/s, avoid link q-a, avoid link q-b, priority 3"),
    );
    same_as(
        "policy p {\n    applies to all\n    never via domains d1, d2\n    via nodes N1, N2\n}",
        "policy p {\n    applies to all\n    never via domain d1\n    never via domain d2\n    via node N1\n    via node N2\n}",
    );
}

#[test]
fn from_to_is_between_and() {
    same_as(
        "intent x: keys of 256 bits from A to B, 10/s",
        "intent x: keys of 256 bits between A and B, rate >= 10/s",
    );
    same_as(
        "intent x {\n    entangled pairs\n    from urn:qkd:b to C\n    rate >= 1/s\n}",
        "intent x {\n    entangled pairs\n    between urn:qkd:b and C\n    rate >= 1/s\n}",
    );
}

/// The one syntax error of `src`: its message and help.
#[track_caller]
fn one_error(src: &str) -> (String, String) {
    let (_, diags) = parse(FileId(0), src);
    assert_eq!(diags.len(), 1, "{src}: {diags:#?}");
    let d = &diags[0];
    (d.message.clone(), d.help.clone().unwrap_or_default())
}

#[test]
fn near_misses_say_how_to_write_it() {
    let (_, help) = one_error("policy p {\n    applies to intents a b\n}");
    assert!(help.contains("`intents a, b`"), "{help}");
    let (message, help) = one_error("policy p {\n    applies to all\n    avoid nodes A B\n}");
    assert!(message.contains("policy rule"), "{message}");
    assert!(help.contains("`nodes A, B`"), "{help}");
    let (_, help) = one_error("intent x: keys of 256-bit between A and B, 10/s");
    assert!(help.contains("`keys of 256 bits`"), "{help}");
    let (_, help) = one_error("intent x: keys of 256 bits between A and B, 10 keys per second");
    assert!(help.contains("`10 keys/s`"), "{help}");
}
