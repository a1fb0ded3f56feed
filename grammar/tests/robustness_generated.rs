//! Every valid file the generator can write parses to exactly the tree it was written from,
//! and formats to a fixed point with the same tree and the same comments; one random edit
//! of such a file never makes the parser panic.

mod common;

use common::{TOKENS, assert_formats_well, assert_spans_sound, clauses, comment_texts, config};
use proptest::prelude::*;
use proptest::sample::select;
use strata_grammar::ast::*;
use strata_grammar::format::syntax_difference;
use strata_grammar::{FileId, Span, parse};

// ---------------------------------------------------------------------------------------
// (b) Valid files, generated together with the tree they must parse to.

const RESERVED: &[&str] = &[
    "between",
    "rate",
    "fidelity",
    "latency",
    "valid",
    "lifetime",
    "priority",
    "burst",
    "relay",
    "avoid",
    "never",
    "via",
    "max",
    "disjoint",
    "applies",
    "entangled",
    "and",
    "intents",
    "intent",
    "policy",
    "use",
    "keys",
    "of",
    "node",
    "link",
    "domain",
    "all",
    "trusted",
    "only",
    "hops",
    "paths",
    "to",
    "for",
];

/// A piece of syntax tree and one way of writing it.
type Written<T> = (T, String);

fn no_span() -> Span {
    Span::default()
}

fn name() -> BoxedStrategy<Written<Name>> {
    let ident = "[A-Za-z_][A-Za-z0-9_.-]{0,8}"
        .prop_filter("reserved word", |s| !RESERVED.contains(&s.as_str()))
        .prop_map(|s| {
            (
                Name {
                    text: s.clone(),
                    quoted: false,
                    span: no_span(),
                },
                s,
            )
        });
    let quoted = "[a-zA-Z0-9 #{},:\"\\\\é≥-]{0,10}".prop_map(|s| {
        let written = format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        (
            Name {
                text: s,
                quoted: true,
                span: no_span(),
            },
            written,
        )
    });
    prop_oneof![4 => ident, 1 => quoted].boxed()
}

fn urn() -> impl Strategy<Value = Written<Urn>> {
    let seg = "[a-zA-Z0-9._~-]{1,5}|%2[fF]";
    (
        select(&["urn", "URN", "Urn"][..]),
        "[a-z0-9][a-z0-9-]{1,8}",
        prop::collection::vec((select(&[":", "/", ","][..]), seg), 0..3),
        seg,
        prop::option::of("[a-z0-9=]{1,5}"),
        prop::option::of("[a-z0-9=]{1,5}"),
    )
        .prop_map(|(scheme, nid, rest, first, r, q)| {
            let mut nss = first;
            for (sep, s) in rest {
                nss.push_str(sep);
                nss.push_str(&s);
            }
            let mut text = format!("{scheme}:{nid}:{nss}");
            if let Some(r) = &r {
                text.push_str("?+");
                text.push_str(r);
            }
            if let Some(q) = &q {
                text.push_str("?=");
                text.push_str(q);
            }
            let urn = Urn {
                text: text.clone(),
                nid,
                nss,
                r_component: r,
                q_component: q,
                span: no_span(),
            };
            (urn, text)
        })
}

fn endpoint() -> impl Strategy<Value = Written<Endpoint>> {
    prop_oneof![
        3 => name().prop_map(|(n, s)| (Endpoint::Name(n), s)),
        1 => urn().prop_map(|(u, s)| (Endpoint::Urn(u), s)),
    ]
}

const UNITS: &[&str] = &[
    "bits",
    "bytes",
    "kbit",
    "B",
    "kB",
    "ms",
    "s",
    "min",
    "h",
    "d",
    "/s",
    "/min",
    "/h",
    "%",
    "kbit/s",
    "Mbit/s",
    "keys/s",
    "pairs/min",
    "units",
    "bps",
];

fn quantity() -> impl Strategy<Value = Written<Quantity>> {
    (
        "[+-]?[0-9]{1,4}(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?",
        prop::option::of((select(UNITS), select(&["", " ", "\t", "  "][..]))),
    )
        .prop_map(|(number, unit)| {
            let written = match unit {
                None => number.clone(),
                Some((u, gap)) => format!("{number}{gap}{u}"),
            };
            let unit = unit.map(|(u, _)| Unit {
                text: u.to_string(),
                span: no_span(),
            });
            (
                Quantity {
                    value: 0.0,
                    number,
                    unit,
                    rest: Vec::new(),
                    span: no_span(),
                },
                written,
            )
        })
}

fn sp() -> impl Strategy<Value = &'static str> {
    select(&[" ", " ", " ", "\t", "  "][..])
}

fn bound(keyword: &'static str, cmp: Option<Cmp>) -> impl Strategy<Value = Written<Bound>> {
    let cmps: Vec<(Cmp, &str)> = [
        (Cmp::AtLeast, ">="),
        (Cmp::AtLeast, "≥"),
        (Cmp::AtMost, "<="),
        (Cmp::AtMost, "≤"),
    ]
    .into_iter()
    .filter(|(c, _)| cmp.is_none_or(|want| want == *c))
    .collect();
    (
        select(cmps),
        quantity(),
        select(&["", " "][..]),
        select(&["", " "][..]),
    )
        .prop_map(move |((cmp, cmp_text), (value, q), a, b)| {
            (
                Bound {
                    cmp,
                    cmp_span: no_span(),
                    value,
                },
                format!("{keyword}{a}{cmp_text}{b}{q}"),
            )
        })
}

fn target() -> impl Strategy<Value = Written<Target>> {
    (
        prop::option::of(select(
            &[TargetKind::Node, TargetKind::Link, TargetKind::Domain][..],
        )),
        name(),
        sp(),
    )
        .prop_map(|(kind, (name, n), s)| {
            let written = match kind {
                Some(k) => format!("{}{s}{n}", k.word()),
                None => n,
            };
            (Target { kind, name }, written)
        })
}

fn selector() -> impl Strategy<Value = Written<Selector>> {
    prop_oneof![
        Just((Selector::All, "all".to_string())),
        Just((Selector::Keys, "keys".to_string())),
        Just((Selector::Pairs, "entangled  pairs".to_string())),
        (
            select(&["intents", "intent"][..]),
            prop::collection::vec(name(), 1..4),
            select(&[",", ", ", " , "][..])
        )
            .prop_map(|(kw, names, sep)| {
                let written: Vec<String> = names.iter().map(|(_, s)| s.clone()).collect();
                let names = names.into_iter().map(|(n, _)| n).collect();
                (
                    Selector::Intents(names),
                    format!("{kw} {}", written.join(sep)),
                )
            }),
    ]
}

fn clause() -> BoxedStrategy<Written<Clause>> {
    clause_kind()
        .prop_map(|(kind, s)| {
            (
                Clause {
                    kind,
                    span: no_span(),
                },
                s,
            )
        })
        .boxed()
}

fn clause_kind() -> BoxedStrategy<Written<ClauseKind>> {
    let q = quantity;
    prop_oneof![
        Just((ClauseKind::Keys(None), "keys".to_string())),
        (q(), sp()).prop_map(|((v, s), w)| (ClauseKind::Keys(Some(v)), format!("keys{w}of {s}"))),
        Just((ClauseKind::Pairs, "entangled pairs".to_string())),
        (endpoint(), endpoint(), sp()).prop_map(|((a, x), (b, y), w)| {
            (
                ClauseKind::Between(a, b),
                format!("between{w}{x} and{w}{y}"),
            )
        }),
        bound("rate ", None).prop_map(|(b, s)| (ClauseKind::Rate(b), s)),
        bound("", Some(Cmp::AtLeast)).prop_map(|(b, _)| {
            let written = b.value.number.clone()
                + &b.value
                    .unit
                    .as_ref()
                    .map_or(String::new(), |u| format!(" {}", u.text));
            (ClauseKind::Rate(b), written)
        }),
        bound("fidelity", None).prop_map(|(b, s)| (ClauseKind::Fidelity(b), s)),
        bound("latency ", None).prop_map(|(b, s)| (ClauseKind::Latency(b), s)),
        (
            q(),
            select(&["valid for ", "lifetime ", "valid\tfor  "][..])
        )
            .prop_map(|((v, s), kw)| (ClauseKind::ValidFor(v), format!("{kw}{s}"))),
        q().prop_map(|(v, s)| (ClauseKind::Priority(v), format!("priority {s}"))),
        q().prop_map(|(v, s)| (ClauseKind::Burst(v), format!("burst {s}"))),
        Just((
            ClauseKind::TrustedRelaysOnly,
            "relay via  trusted nodes only".to_string()
        )),
        target().prop_map(|(t, s)| (
            ClauseKind::Avoid {
                target: t,
                never_via: false
            },
            format!("avoid {s}")
        )),
        target().prop_map(|(t, s)| (
            ClauseKind::Avoid {
                target: t,
                never_via: true
            },
            format!("never via {s}")
        )),
        target().prop_map(|(t, s)| (ClauseKind::Via(t), format!("via {s}"))),
        q().prop_map(|(v, s)| (ClauseKind::MaxHops(v), format!("max hops {s}"))),
        q().prop_map(|(v, s)| (ClauseKind::DisjointPaths(v), format!("disjoint paths {s}"))),
        selector().prop_map(|(v, s)| (ClauseKind::AppliesTo(v), format!("applies to {s}"))),
    ]
    .boxed()
}

fn comment() -> impl Strategy<Value = String> {
    "#[^\n\r]{0,16}"
}

/// What follows a clause inside a one-line intent, before the next clause.
fn line_separator() -> impl Strategy<Value = (String, Vec<String>)> {
    prop_oneof![
        4 => select(&[", ", ",", " ", "  ,  ", ",\n    ", "\n  "][..]).prop_map(|s| (s.to_string(), vec![])),
        1 => (comment(), select(&[",", ""][..])).prop_map(|(c, comma)| (format!("{comma} {c}\n    "), vec![c])),
    ]
}

/// What follows a clause inside a block (the last one is followed by the `}`).
fn block_separator() -> impl Strategy<Value = (String, Vec<String>)> {
    prop_oneof![
        6 => select(&["\n", ",\n", " ;\n", " ", ", ", " ; ", "\n\n"][..]).prop_map(|s| (s.to_string(), vec![])),
        2 => comment().prop_map(|c| (format!("  {c}\n"), vec![c.clone()])),
        1 => (comment(), comment()).prop_map(|(a, b)| (format!(",\n    {a}\n\n    {b}\n"), vec![a, b])),
    ]
}

/// One item, the comments written in it, and its text (ending in a newline).
type WrittenItem = (Item, Vec<String>, String);

fn item() -> impl Strategy<Value = WrittenItem> {
    let trailing = || prop::option::of(comment());
    let use_decl = ("[a-zA-Z0-9 ./\"\\\\é-]{0,16}", sp(), trailing()).prop_map(|(path, s, t)| {
        let written = format!("\"{}\"", path.replace('\\', "\\\\").replace('"', "\\\""));
        let item = Item::Use(UseNetwork {
            path,
            path_span: no_span(),
            span: no_span(),
        });
        with_trailing(item, vec![], format!("use{s}network {written}"), t)
    });
    let line = (
        name(),
        select(&[": ", ":", " : ", " :\n  "][..]),
        clause(),
        prop::collection::vec((line_separator(), clause()), 0..5),
        trailing(),
    )
        .prop_map(|((n, nw), colon, first, rest, t)| {
            let mut text = format!("intent {nw}{colon}{}", first.1);
            let mut clauses = vec![first.0];
            let mut comments = vec![];
            for ((mut sep, cs), (c, w)) in rest {
                // `urn:a:b,c` is one URN (RFC 8141 allows commas): a comma after a URN
                // needs a space to separate clauses.
                if ends_in_urn(clauses.last()) && sep == "," {
                    sep = ", ".into();
                }
                text.push_str(&sep);
                text.push_str(&w);
                comments.extend(cs);
                clauses.push(c);
            }
            let item = Item::Intent(Intent {
                name: n,
                form: Form::Line,
                clauses,
                span: no_span(),
            });
            with_trailing(item, comments, text, t)
        });
    let block = (
        select(&["intent", "policy"][..]),
        name(),
        select(&[" {", "{", "\n{", " { "][..]),
        prop::option::of(comment()),
        prop::collection::vec(
            (prop::option::of(comment()), clause(), block_separator()),
            0..7,
        ),
        prop::option::of(comment()),
        trailing(),
    )
        .prop_map(|(kw, (n, nw), open, head_comment, body, last_comment, t)| {
            let mut text = format!("{kw} {nw}{open}");
            let mut comments = vec![];
            match head_comment {
                Some(c) => {
                    text.push_str(&format!(" {c}\n"));
                    comments.push(c);
                }
                None => text.push('\n'),
            }
            let mut clauses = vec![];
            for (leading, (c, w), (sep, cs)) in body {
                if let Some(l) = leading {
                    if !text.ends_with('\n') {
                        text.push('\n');
                    }
                    text.push_str(&format!("  {l}\n"));
                    comments.push(l);
                }
                text.push_str(&format!("    {w}{sep}"));
                comments.extend(cs);
                clauses.push(c);
            }
            if let Some(c) = last_comment {
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(&format!("    {c}\n"));
                comments.push(c);
            }
            text.push('}');
            let item = if kw == "intent" {
                Item::Intent(Intent {
                    name: n,
                    form: Form::Block,
                    clauses,
                    span: no_span(),
                })
            } else {
                Item::Policy(Policy {
                    name: n,
                    clauses,
                    span: no_span(),
                })
            };
            with_trailing(item, comments, text, t)
        });
    prop_oneof![1 => use_decl, 3 => line, 3 => block]
}

fn ends_in_urn(clause: Option<&Clause>) -> bool {
    matches!(
        clause.map(|c| &c.kind),
        Some(ClauseKind::Between(_, Endpoint::Urn(_)))
    )
}

fn with_trailing(
    item: Item,
    mut comments: Vec<String>,
    mut text: String,
    trailing: Option<String>,
) -> WrittenItem {
    if let Some(c) = trailing {
        text.push_str("   ");
        text.push_str(&c);
        comments.push(c);
    }
    text.push('\n');
    (item, comments, text)
}

/// Comment lines and blank lines between items.
fn gap() -> impl Strategy<Value = (String, Vec<String>)> {
    prop::collection::vec((select(&["", "\n"][..]), comment()), 0..3).prop_map(|lines| {
        let mut text = String::new();
        let mut comments = vec![];
        for (blank, c) in lines {
            text.push_str(blank);
            text.push_str(&c);
            text.push('\n');
            comments.push(c);
        }
        (text, comments)
    })
}

/// A whole valid file: its tree, its comments in order and its text.
fn valid_file() -> impl Strategy<Value = (SourceUnit, Vec<String>, String)> {
    (
        gap(),
        select(&["", "\n"][..]),
        prop::collection::vec((select(&["", "\n", "\n\n"][..]), gap(), item()), 0..6),
        gap(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                (top, mut comments),
                top_blank,
                items,
                (tail, tail_comments),
                crlf,
                final_newline,
            )| {
                let mut text = top + top_blank;
                let mut tree = vec![];
                for (blank, (gap, gap_comments), (item, item_comments, written)) in items {
                    text.push_str(blank);
                    text.push_str(&gap);
                    text.push_str(&written);
                    comments.extend(gap_comments);
                    comments.extend(item_comments);
                    tree.push(item);
                }
                text.push_str(&tail);
                comments.extend(tail_comments);
                if !final_newline && text.ends_with('\n') {
                    text.pop();
                }
                if crlf {
                    text = text.replace('\n', "\r\n");
                }
                let unit = SourceUnit {
                    file: FileId(0),
                    items: tree,
                    comments: vec![],
                };
                (unit, comments, text)
            },
        )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn valid_files_with_one_edit_never_panic(
        (_, _, text) in valid_file(),
        at in any::<prop::sample::Index>(),
        cut in 0usize..4,
        insert in select(TOKENS),
    ) {
        let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
        let start = bounds[at.index(bounds.len())];
        let end = bounds[(at.index(bounds.len()) + cut).min(bounds.len() - 1)];
        let edited = format!("{}{insert}{}", &text[..start], &text[end..]);
        assert_spans_sound(&edited);
    }

    #[test]
    fn valid_files_parse_to_their_tree_and_format_to_a_fixed_point((expected, comments, text) in valid_file()) {
        let (unit, diags) = parse(FileId(0), &text);
        prop_assert!(diags.is_empty(), "{diags:#?}\n--- text:\n{text}");
        if let Some(diff) = syntax_difference(&expected, &unit) {
            panic!("parsed tree differs from the written one: {diff}\n--- text:\n{text}");
        }
        let trimmed: Vec<String> = comments.iter().map(|c| c.trim_end().to_string()).collect();
        prop_assert_eq!(comment_texts(&unit), trimmed, "{}", text);
        // Spans cover code only: no surrounding whitespace, no comment swallowed at the end.
        for item in &unit.items {
            let spans = std::iter::once(item.span()).chain(clauses(item).iter().map(|c| c.span));
            for s in spans {
                let t = &text[s.start..s.end];
                prop_assert_eq!(t.trim_matches([' ', '\t', '\r', '\n', '\u{feff}']), t, "{}", text);
                prop_assert!(!unit.comments.iter().any(|c| c.span.end == s.end), "span {:?} ends in a comment: {:?}", s, t);
            }
        }
        assert_formats_well(&unit, &text);
    }
}
