//! No input makes `parse` panic or report a span outside the text: arbitrary strings and
//! bytes, soups of the language's tokens, and every prefix of a valid file.

mod common;

use common::{TOKENS, assert_spans_sound, config};
use proptest::prelude::*;
use proptest::sample::select;
use strata_grammar::{FileId, parse};

// ---------------------------------------------------------------------------------------
// (a) Arbitrary input never makes the parser panic.

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec((select(TOKENS), select(&[" ", "", "\n", "  "][..])), 0..60)
        .prop_map(|parts| parts.into_iter().flat_map(|(t, s)| [t, s]).collect())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        assert_spans_sound(&text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        assert_spans_sound(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn token_soup_never_panics(text in token_soup()) {
        assert_spans_sound(&text);
    }
}

// ---------------------------------------------------------------------------------------
// (c) Every prefix of a valid file.

const PREFIX_EXAMPLE: &str = "\u{feff}# fleet intents — reviewed\r\n\
use network \"../examples/metro/network.yaml\"\n\
\n\
intent vpn-core: keys of 256 bits between A and B, fidelity ≥0.9, 10/s  # trailing\n\
intent \"dc #2\" { # header\n\
    keys of 32bytes, between urn:qkd:madqci:ccips?+r?=nonce=177923 and \"x\\\"y\"\n\
    rate>=2.5 kbit/s ; latency ≤ 20ms\n\
    # before the close\n\
}\n\
policy sovereignty {\n\
    applies to intents vpn-core, \"dc #2\"\n\
    never via domain foreign-carrier avoid link L-1 via node N\n\
    valid for 1h lifetime 2 d max hops 4 disjoint paths 2 burst 5 priority -1e2\n\
    relay via trusted nodes only entangled pairs\n\
}\n\
# end\n";

#[test]
fn every_prefix_of_a_valid_file_is_handled() {
    let (_, diags) = parse(FileId(0), PREFIX_EXAMPLE);
    assert!(diags.is_empty(), "{diags:#?}");
    let mut clean = 0;
    for (i, _) in PREFIX_EXAMPLE
        .char_indices()
        .chain([(PREFIX_EXAMPLE.len(), ' ')])
    {
        clean += usize::from(assert_spans_sound(&PREFIX_EXAMPLE[..i]));
    }
    assert!(clean > 10, "only {clean} prefixes parsed cleanly");
}
