//! No inventory input makes the loader panic or point outside the text: hostile documents,
//! arbitrary strings and bytes, YAML-shaped noise and random edits of the metro example.

mod common;

use common::inventory::{HEADER, METRO};
use proptest::prelude::*;
use strata_compiler::inventory::load;
use strata_grammar::FileId;

#[test]
fn hostile_inputs_do_not_panic() {
    let deep_seq = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_map = format!("name: {}x{}", "{a: ".repeat(50_000), "}".repeat(50_000));
    let deep_block: String = (0..3_000)
        .map(|i| format!("{}- \n", " ".repeat(i)))
        .collect();
    let huge_numbers = format!(
        "{HEADER}qkd_links:\n  - {{ name: q, ends: [alpha, relay], length_km: 1e999, qber: 0.1 }}\n"
    );
    let huge_int = "name: x\nnodes:\n  - { name: r, domain: d, role: repeater, memory: { qubits: 99999999999999999999999, coherence_time_s: 1 } }\n";
    let alias_bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n";
    let inputs = [
        "",
        "\u{feff}",
        "\0\0\0",
        "---\n---\n",
        "name: x\n---\nname: y\n",
        "- - - -",
        "name: [",
        "name: \"\\u{d800}\"",
        "name: x\nnodes: ~\n",
        "name: x\nnodes:\n  - *missing\n",
        "\t\tname:\tx",
        deep_seq.as_str(),
        deep_map.as_str(),
        deep_block.as_str(),
        huge_numbers.as_str(),
        huge_int,
        alias_bomb,
    ];
    for text in inputs {
        let (inv, diags) = load(FileId(0), text);
        assert!(inv.is_some() || !diags.is_empty());
        for d in &diags {
            assert!(
                d.span.start <= d.span.end && d.span.end <= text.len(),
                "{d:#?}"
            );
        }
    }
}

fn check_no_panic(text: &str) -> Result<(), TestCaseError> {
    let (inv, diags) = load(FileId(0), text);
    prop_assert!(inv.is_some() || !diags.is_empty(), "None without a reason");
    for d in &diags {
        prop_assert!(d.span.start <= d.span.end && d.span.end <= text.len());
        prop_assert!(text.is_char_boundary(d.span.start) && text.is_char_boundary(d.span.end));
        for r in &d.related {
            prop_assert!(r.span.end <= text.len());
        }
    }
    Ok(())
}

/// A random edit of the metro example: delete, duplicate or replace a range of bytes.
fn mutate(kind: u8, at: usize, len: usize, insert: &str) -> String {
    let bytes = METRO.as_bytes();
    let at = at % bytes.len();
    let end = (at + len).min(bytes.len());
    let mut out = bytes[..at].to_vec();
    match kind % 3 {
        0 => {}
        1 => out.extend_from_slice(&bytes[at..end]),
        _ => out.extend_from_slice(insert.as_bytes()),
    }
    if kind % 3 != 1 {
        out.extend_from_slice(&bytes[end..]);
    } else {
        out.extend_from_slice(&bytes[at..]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// 256 cases per property unless `PROPTEST_CASES` asks for a longer run (CI's nightly
/// job, or a developer chasing a bug).
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok());
    ProptestConfig::with_cases(cases.unwrap_or(256))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_strings_never_panic(text in "\\PC{0,300}") {
        check_no_panic(&text)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check_no_panic(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn yaml_shaped_noise_never_panics(
        text in "([a-z_]{1,12}: ?(-?[0-9.e]{1,8}|\\[[a-z, ]{0,20}\\]|\\{[a-z:, ]{0,20}\\}|[a-zA-Z-]{0,10})?\n( {0,6}- )?){0,20}"
    ) {
        check_no_panic(&text)?;
    }

    #[test]
    fn mutated_metro_example_never_panics(
        kind in any::<u8>(),
        at in any::<usize>(),
        len in 0usize..200,
        insert in "[\\[\\]{}:,\\-#&*!|>'\"\n a-z0-9.]{0,12}",
    ) {
        check_no_panic(&mutate(kind, at, len, &insert))?;
    }
}
