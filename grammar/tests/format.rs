//! The canonical layout of `strata fmt`: golden examples, comment placement, and on every
//! input the two properties the formatter promises — it is a fixed point, and the text it
//! prints parses to the same syntax tree (spans aside) as its input.

use strata_grammar::format::{format, syntax_difference};
use strata_grammar::{FileId, parse};

/// Parses `src` (which must be clean), formats it and checks both promises; returns the
/// formatted text.
#[track_caller]
fn fmt(src: &str) -> String {
    let (unit, diags) = parse(FileId(0), src);
    assert!(
        diags.is_empty(),
        "input does not parse cleanly: {diags:#?}\n{src}"
    );
    let out = format(&unit, src);
    let (again, diags) = parse(FileId(0), &out);
    assert!(
        diags.is_empty(),
        "formatted text does not parse: {diags:#?}\n{out}"
    );
    if let Some(diff) = syntax_difference(&unit, &again) {
        panic!("formatting changed the syntax tree: {diff}\n--- formatted:\n{out}");
    }
    let comments = |u: &strata_grammar::ast::SourceUnit| -> Vec<String> {
        u.comments
            .iter()
            .map(|c| c.text.trim_end().to_string())
            .collect()
    };
    assert_eq!(
        comments(&unit),
        comments(&again),
        "comments lost or reordered\n{out}"
    );
    assert_eq!(format(&again, &out), out, "formatting is not a fixed point");
    out
}

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

const DESIGN_EXAMPLE_FORMATTED: &str = r#"use network "../examples/metro/network.yaml"

# one line, as an operator says it (>= and ≥ both work, spaces optional)
intent vpn-core: keys of 256 bits between A and B, fidelity >= 0.9, rate >= 10/s

intent dc-backup {
    keys of 256 bits
    between urn:qkd:madqci:ccips?=nonce=177923 and urn:qkd:quditto:emulator:ipsec:controller
    rate >= 10/s      # service units per second; bit rates like 2.5 kbit/s also work
    fidelity >= 0.9
    valid for 1 h     # lifetime of each key → valid-until in the lifecycle URN
    priority 10       # higher wins when not everything fits
    avoid node Quintin
    relay via trusted nodes only
    max hops 4
    disjoint paths 2  # survive any single link or relay failure
}

intent teleport-lab {
    entangled pairs
    between lab-a and lab-b
    fidelity >= 0.92  # end to end, after swapping and storage
    rate >= 5/s
    latency <= 20 ms
}

policy sovereignty {
    applies to all
    never via domain foreign-carrier
}
"#;

#[test]
fn design_brief_example_has_its_canonical_layout() {
    assert_eq!(fmt(DESIGN_EXAMPLE), DESIGN_EXAMPLE_FORMATTED);
}

#[test]
fn canonical_text_is_left_alone() {
    assert_eq!(fmt(DESIGN_EXAMPLE_FORMATTED), DESIGN_EXAMPLE_FORMATTED);
}

#[test]
fn spelling_variants_print_their_canonical_form() {
    let src = "intent  x :keys of 32bytes   between A and B 2.5kbit/s,latency≤20ms, lifetime 1h\n\
               intent y{entangled pairs, between \"a \\\"b\\\"\" and urn:ex:n?+r?=q ; 50 %;priority 3}\n\
               policy p { applies to intent x, y\n avoid Quintin via link L-1 never via domain D }";
    let expected = "intent x: keys of 32 bytes between A and B, rate >= 2.5 kbit/s, latency <= 20 ms, valid for 1 h\n\
                    \n\
                    intent y {\n    entangled pairs\n    between \"a \\\"b\\\"\" and urn:ex:n?+r?=q\n    rate >= 50%\n    priority 3\n}\n\
                    \n\
                    policy p {\n    applies to intents x, y\n    avoid Quintin\n    via link L-1\n    never via domain D\n}\n";
    assert_eq!(fmt(src), expected);
}

#[test]
fn selectors_and_targets() {
    let src = "policy a { applies to keys\n avoid node N }\npolicy b { applies to entangled pairs\n via \"node\" }\n";
    assert_eq!(
        fmt(src),
        "policy a {\n    applies to keys\n    avoid node N\n}\n\npolicy b {\n    applies to entangled pairs\n    via \"node\"\n}\n"
    );
}

#[test]
fn use_paths_are_re_escaped() {
    let src = r#"use   network "dir\\with \"quotes\".yaml""#;
    assert_eq!(
        fmt(src),
        "use network \"dir\\\\with \\\"quotes\\\".yaml\"\n"
    );
}

#[test]
fn empty_and_comment_only_files() {
    assert_eq!(fmt(""), "");
    assert_eq!(fmt("\n\n  \n"), "");
    assert_eq!(fmt("# only a comment   "), "# only a comment\n");
    assert_eq!(fmt("\n# a\n# b\n\n\n# c\n\n"), "# a\n# b\n\n# c\n");
}

#[test]
fn items_are_separated_by_exactly_one_blank_line() {
    let src = "intent a: keys between A and B\nintent b: keys between A and C\n\n\n\npolicy p {\n\n applies to all\n\n}\n\n\n";
    assert_eq!(
        fmt(src),
        "intent a: keys between A and B\n\nintent b: keys between A and C\n\npolicy p {\n    applies to all\n}\n"
    );
}

#[test]
fn leading_comments_stay_before_their_item_and_clause() {
    let src = "intent a: keys between A and B\n# about b\n\n# more about b\n\nintent b {\n  # the service\n\n  keys of 8 bits\n    # where\n  between A and B\n}\n";
    assert_eq!(
        fmt(src),
        "intent a: keys between A and B\n\n# about b\n\n# more about b\nintent b {\n    # the service\n    keys of 8 bits\n    # where\n    between A and B\n}\n"
    );
}

#[test]
fn opening_comments_keep_their_blank_line_to_the_first_item() {
    let src = "# licence\n# header\n\n\nuse network \"n.yaml\"\n";
    assert_eq!(fmt(src), "# licence\n# header\n\nuse network \"n.yaml\"\n");
    let src = "# about the use\nuse network \"n.yaml\"\n";
    assert_eq!(fmt(src), "# about the use\nuse network \"n.yaml\"\n");
}

#[test]
fn trailing_comments_end_their_printed_line() {
    let src = "use network \"n\" # the net\nintent a { # header\n keys of 8 bits, # service\n between A and B }   # closed\npolicy p {applies to all} # p\n";
    assert_eq!(
        fmt(src),
        "use network \"n\"  # the net\n\nintent a {  # header\n    keys of 8 bits  # service\n    between A and B\n}  # closed\n\npolicy p {\n    applies to all\n}  # p\n"
    );
}

#[test]
fn comments_before_a_closing_brace_stay_inside_the_block() {
    let src = "intent a {\n keys\n # last words\n}\npolicy p {\n # nothing yet\n}\n";
    assert_eq!(
        fmt(src),
        "intent a {\n    keys\n    # last words\n}\n\npolicy p {\n    # nothing yet\n}\n"
    );
}

#[test]
fn comments_inside_a_one_line_intent_follow_it() {
    let src = "intent a: keys of 8 bits, # service\n   between A # from\n and B, # to\n 10/s\nintent b: keys between A and B\n";
    assert_eq!(
        fmt(src),
        "intent a: keys of 8 bits between A and B, rate >= 10/s  # service\n\n# from\n# to\nintent b: keys between A and B\n"
    );
    // At the end of the file they stay at the end.
    let src = "intent a: keys # one\n between A and B # two\n";
    assert_eq!(fmt(src), "intent a: keys between A and B  # one\n# two\n");
}

#[test]
fn comments_between_header_and_brace_and_inside_clauses() {
    let src = "intent a # name\n{\n between A # first\n # second\n and B # third\n}\n";
    assert_eq!(
        fmt(src),
        "intent a {  # name\n    between A and B  # first\n    # second\n    # third\n}\n"
    );
}

#[test]
fn comments_at_the_end_of_the_file_stay_at_the_end() {
    let src = "intent a: keys between A and B\n# tail\n";
    assert_eq!(fmt(src), "intent a: keys between A and B\n# tail\n");
    let src = "intent a: keys between A and B\n\n\n# tail\n\n# tail 2";
    assert_eq!(
        fmt(src),
        "intent a: keys between A and B\n\n# tail\n\n# tail 2\n"
    );
    let src = "policy p { applies to all # all\n}\n\n# tail";
    assert_eq!(
        fmt(src),
        "policy p {\n    applies to all  # all\n}\n\n# tail\n"
    );
}

#[test]
fn hash_signs_inside_strings_are_not_comments() {
    let src = "intent \"a#1\": keys between \"#b\" and C # real\n";
    assert_eq!(
        fmt(src),
        "intent \"a#1\": keys between \"#b\" and C  # real\n"
    );
}

#[test]
fn crlf_tabs_and_byte_order_mark() {
    let src =
        "\u{feff}# top\r\n\r\nintent a {\r\n\tkeys of 8 bits\t# k\r\n\tbetween A and B\r\n}\r\n";
    assert_eq!(
        fmt(src),
        "# top\n\nintent a {\n    keys of 8 bits  # k\n    between A and B\n}\n"
    );
}

#[test]
fn numbers_and_units_are_kept_verbatim() {
    let src = "intent a: keys of 1.50e+3 bits between A and B, 0.5 /min, rate >= 10 keys/s, fidelity >= 90 %, burst 007\n";
    assert_eq!(
        fmt(src),
        "intent a: keys of 1.50e+3 bits between A and B, rate >= 0.5/min, rate >= 10 keys/s, fidelity >= 90%, burst 007\n"
    );
}

#[test]
fn formatting_is_idempotent_and_meaning_preserving_on_assorted_inputs() {
    let inputs = [
        DESIGN_EXAMPLE,
        "intent a: entangled pairs between x and y fidelity >= 0.8 latency <= 5 ms\n",
        "intent a {keys; between A and B; 1/s}\n# c\n\n\n\n# d\nintent b: keys between A and B\n",
        "# x\n\n\n# y\n\n\npolicy p { # h\n\n # in\n applies to intents a,\n   b, c\n\n # out\n} # end\n# tail\n",
        "intent a: between urn:ab:b,c?=x and urn:qkd:z, keys of 9 bits, disjoint paths 2, max hops 3, via node N, relay via trusted nodes only\n",
        "intent \"with space\" { between \"a\\\\b\" and B  }",
    ];
    for src in inputs {
        let once = fmt(src);
        assert_eq!(fmt(&once), once);
    }
}

#[test]
fn aligned_trailing_comments_stay_aligned() {
    let src = "intent x {\n    keys of 256 bits\n    between A and B\n    rate >= 10/s            # per second\n    valid for 1h\n    priority 10             # higher first\n    disjoint paths 2        # survive one failure\n    max hops 4  # alone\n}\n";
    let out = fmt(src);
    assert_eq!(
        out,
        "intent x {\n    keys of 256 bits\n    between A and B\n    rate >= 10/s      # per second\n    valid for 1 h\n    priority 10       # higher first\n    disjoint paths 2  # survive one failure\n    max hops 4  # alone\n}\n"
    );
}

#[test]
fn objective_clauses_parse_and_print_canonically() {
    let text = "policy bulk { applies to intents a\n objective   throughput }\nintent a: keys of 256 bits between X and Y, 10/s, objective fair\n";
    let (unit, diags) = parse(FileId(0), text);
    assert!(diags.is_empty(), "{diags:#?}");
    let out = format(&unit, text);
    assert!(out.contains("objective throughput"), "{out}");
    assert!(out.contains("objective fair"), "{out}");
    let (again, diags) = parse(FileId(0), &out);
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(format(&again, &out), out);
}
