//! Parser behaviour on the language forms of the design brief.

use strata_grammar::ast::*;
use strata_grammar::{FileId, parse};

const DESIGN_EXAMPLE: &str = r#"use network "../examples/metro/network.yaml"

# one line, as an operator says it (>= and ≥ both work, spaces optional)
intent vpn-core: keys of 256 bits between A and B, fidelity ≥0.9, 10/s

intent dc-backup {
    keys of 256 bits
    between urn:qkd:madqci:ccips?=nonce=177923 and urn:qkd:quditto:emulator:ipsec:controller
    rate >= 10/s            # service units per second; bit rates like 2.5 kbit/s also work
    fidelity >= 0.9
    valid for 1h            # lifetime of each key → valid-until in the lifecycle URN
    priority 10             # higher wins when not everything fits
    avoid node Quintin
    relay via trusted nodes only
    max hops 4
    disjoint paths 2        # survive any single link or relay failure
}

intent teleport-lab {
    entangled pairs between lab-a and lab-b
    fidelity >= 0.92        # end to end, after swapping and storage
    rate >= 5/s
    latency <= 20 ms
}

policy sovereignty {
    applies to all
    never via domain foreign-carrier
}
"#;

fn intents(unit: &SourceUnit) -> Vec<&Intent> {
    unit.items
        .iter()
        .filter_map(|i| match i {
            Item::Intent(i) => Some(i),
            _ => None,
        })
        .collect()
}

#[test]
fn design_brief_example_parses_completely() {
    let (unit, diags) = parse(FileId(0), DESIGN_EXAMPLE);
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(unit.items.len(), 5);
    let intents = intents(&unit);
    let vpn = intents[0];
    assert_eq!(vpn.name.text, "vpn-core");
    assert_eq!(vpn.form, Form::Line);
    let kinds: Vec<&str> = vpn.clauses.iter().map(|c| c.kind.keyword()).collect();
    assert_eq!(kinds, ["keys", "between", "fidelity", "rate"]);
    match &vpn.clauses[3].kind {
        ClauseKind::Rate(b) => {
            assert_eq!(b.cmp, Cmp::AtLeast);
            assert_eq!(b.value.value, 10.0);
            assert_eq!(b.value.unit.as_ref().unwrap().text, "/s");
        }
        other => panic!("{other:?}"),
    }
    let backup = intents[1];
    assert_eq!(backup.clauses.len(), 10);
    match &backup.clauses[1].kind {
        ClauseKind::Between(Endpoint::Urn(a), Endpoint::Urn(b)) => {
            assert_eq!(a.nid, "qkd");
            assert_eq!(a.nss, "madqci:ccips");
            assert_eq!(a.q_component.as_deref(), Some("nonce=177923"));
            assert_eq!(b.nss, "quditto:emulator:ipsec:controller");
            assert_eq!(b.q_component, None);
        }
        other => panic!("{other:?}"),
    }
    assert!(unit.comments.len() >= 6);
    assert!(unit.comments.iter().all(|c| c.text.starts_with('#')));
}

#[test]
fn one_syntax_error_per_broken_item_and_the_rest_still_parses() {
    let src = "intent a: keys of 256 bits between A and B\nintent b { rate >> 5/s }\nintent c: keys of 8 bits between A and C\npolicy p { applies to }\n";
    let (unit, diags) = parse(FileId(0), src);
    assert_eq!(intents(&unit).len(), 2);
    assert_eq!(diags.len(), 2, "{diags:#?}");
    assert!(diags.iter().all(|d| d.code == "strata::syntax"));
    assert_eq!(&src[diags[0].span.start..diags[0].span.end], ">>");
}

#[test]
fn urn_with_r_and_q_components_and_commas() {
    let src = "intent u: keys of 8 bits between urn:ex:a,b?+res?=q=1 and B, 1/s";
    let (unit, diags) = parse(FileId(0), src);
    assert!(diags.is_empty(), "{diags:#?}");
    match &intents(&unit)[0].clauses[1].kind {
        ClauseKind::Between(Endpoint::Urn(a), Endpoint::Name(b)) => {
            assert_eq!(a.nss, "a,b");
            assert_eq!(a.r_component.as_deref(), Some("res"));
            assert_eq!(a.q_component.as_deref(), Some("q=1"));
            assert_eq!(b.text, "B");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn units_stay_on_their_line_and_keywords_are_not_units() {
    let src = "intent x {\n keys of 32 bytes\n between A and B\n priority 3\n avoid node C\n rate >= 2.5 kbit/s max hops 3\n}";
    let (unit, diags) = parse(FileId(0), src);
    assert!(diags.is_empty(), "{diags:#?}");
    let i = intents(&unit)[0];
    assert_eq!(i.clauses.len(), 6);
    match &i.clauses[2].kind {
        ClauseKind::Priority(q) => assert!(q.unit.is_none()),
        other => panic!("{other:?}"),
    }
}

/// Every assertion form parses to what it says, and formats to its canonical text.
#[test]
fn assertion_forms_parse_and_format_canonically() {
    let text = "assert all survive 1 link failure
assert vpn-core, dc-backup survive 1 node failure
assert keys survive 2 link failures at 50 %
assert link utilisation <= 80 %
assert link q-a-b utilization <= 0.5
assert no key via domain foreign-carrier
assert vpn-core admitted >= 10/s
assert entangled pairs survives 1 failure
assert intents a admitted <= 2.5 kbit/s
";
    let (unit, diags) = parse(FileId(0), text);
    assert!(diags.is_empty(), "{diags:#?}");
    let kinds: Vec<&AssertKind> = unit
        .items
        .iter()
        .map(|i| match i {
            Item::Assert(a) => &a.kind,
            other => panic!("not an assertion: {other:?}"),
        })
        .collect();
    assert_eq!(kinds.len(), 9);
    match kinds[1] {
        AssertKind::Survive {
            subject: Selector::Intents(names),
            count,
            element: Some(TargetKind::Node),
            share: None,
        } => {
            let names: Vec<&str> = names.iter().map(|n| n.text.as_str()).collect();
            assert_eq!(names, ["vpn-core", "dc-backup"]);
            assert_eq!(count.value, 1.0);
        }
        other => panic!("{other:?}"),
    }
    match kinds[2] {
        AssertKind::Survive {
            subject: Selector::Keys,
            count,
            element: Some(TargetKind::Link),
            share: Some(share),
        } => {
            assert_eq!(count.value, 2.0);
            assert_eq!(share.unit.as_ref().unwrap().text, "%");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        kinds[4],
        AssertKind::Utilisation { link: Some(l), .. } if l.text == "q-a-b"
    ));
    assert!(matches!(
        kinds[5],
        AssertKind::NoVia { service: Some(Selector::Keys), target } if target.kind == Some(TargetKind::Domain)
    ));
    assert!(matches!(
        kinds[7],
        AssertKind::Survive {
            subject: Selector::Pairs,
            element: None,
            ..
        }
    ));
    let formatted = strata_grammar::format::format(&unit, text);
    assert_eq!(
        formatted,
        "assert all survive 1 link failure

assert vpn-core, dc-backup survive 1 node failure

assert keys survive 2 link failures at 50%

assert link utilisation <= 80%

assert link q-a-b utilisation <= 0.5

assert no keys via domain foreign-carrier

assert vpn-core admitted >= 10/s

assert entangled pairs survive 1 failure

assert a admitted <= 2.5 kbit/s
"
    );
    let (again, diags) = parse(FileId(0), &formatted);
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(
        strata_grammar::format::syntax_difference(&unit, &again),
        None
    );
}

/// A mistake inside an assertion is reported at the assertion, and other items still parse.
#[test]
fn a_broken_assertion_is_one_syntax_error() {
    let text = "intent a: keys of 256 bits between X and Y, 1/s
assert all survive link failure
assert a admitted >= 1/s
";
    let (unit, diags) = parse(FileId(0), text);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].code, "strata::syntax");
    assert_eq!(unit.items.len(), 2);
}

#[test]
fn cr_only_and_mixed_line_endings_break_lines() {
    let lf = "# a comment\nintent a: keys of 256 bits between A and B, 1/s\nintent b: keys of 256 bits between A and C, 1/s\n# another\nintent c: keys of 256 bits between B and C, 1/s\n";
    let (expected, diags) = parse(FileId(0), lf);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(intents(&expected).len(), 3);
    for text in [
        lf.replace('\n', "\r"),
        lf.replace('\n', "\r\n"),
        lf.replacen('\n', "\r", 2).replacen('\n', "\r\n", 1),
    ] {
        let (unit, diags) = parse(FileId(0), &text);
        assert!(diags.is_empty(), "{text:?}: {diags:?}");
        let names: Vec<&str> = intents(&unit)
            .iter()
            .map(|i| i.name.text.as_str())
            .collect();
        assert_eq!(names, ["a", "b", "c"], "{text:?}");
    }
}
