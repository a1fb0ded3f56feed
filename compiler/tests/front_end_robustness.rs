//! The whole front end of `strata check` (parse, names, units, policies, reachability)
//! against the metro example never panics, whatever the intent file holds, and every
//! diagnostic it reports points inside that file or the inventory. The parser alone is
//! covered by `grammar/tests/robustness.rs` and the inventory loader by `inventory.rs`; this
//! drives the checks behind them with words they know. `PROPTEST_CASES` sets the number of
//! cases (256 by default) for longer runs.

use proptest::prelude::*;
use proptest::sample::select;
use std::path::{Path, PathBuf};
use strata_compiler::frontend::{self, Options, SourceLoader};

const METRO: &str = include_str!("../../examples/metro/network.yaml");

struct Memory(String);

impl SourceLoader for Memory {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        if path.extension().is_some_and(|e| e == "yaml") {
            Ok(METRO.as_bytes().to_vec())
        } else {
            Ok(self.0.clone().into_bytes())
        }
    }
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok());
    ProptestConfig::with_cases(cases.unwrap_or(256))
}

/// Words of the language, the metro network's names and numbers with units, so that random
/// sequences reach the checks behind the parser.
const WORDS: &[&str] = &[
    "intent",
    "policy",
    "assert",
    "keys",
    "of",
    "256",
    "bits",
    "entangled",
    "pairs",
    "between",
    "and",
    "from",
    "to",
    "rate",
    ">=",
    "<=",
    "10/s",
    "0/s",
    "1e308/s",
    "fidelity",
    "0.9",
    "90%",
    "latency",
    "5 ms",
    "max",
    "hops",
    "disjoint",
    "paths",
    "2",
    "priority",
    "avoid",
    "node",
    "nodes",
    "domain",
    "via",
    "never",
    "applies",
    "objective",
    "throughput",
    "Moncloa",
    "Leganes",
    "Norte",
    "Quintin",
    "ccips",
    "foreign-carrier",
    "telefonica",
    "{",
    "}",
    ",",
    ":",
    "\n",
    "\"",
    "#",
];

/// Endpoints of the metro network, and one it does not have.
const ENDS: &[&str] = &["Moncloa", "Leganes", "Norte", "ccips", "Nowhere"];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(select(WORDS), 0..60).prop_map(|w| w.join(" "))
}

/// The front end over `body`, after a `use network` line: no panic, and every span inside
/// the file it names.
fn check(body: &str) -> Result<(), TestCaseError> {
    let text = format!("use network \"network.yaml\"\n{body}");
    let fe = frontend::run(&[PathBuf::from("x.qi")], &Options::default(), &Memory(text));
    for d in &fe.diagnostics {
        for span in std::iter::once(d.span).chain(d.related.iter().map(|l| l.span)) {
            let file = fe.sources.get(span.file);
            prop_assert!(
                span.start <= span.end && span.end <= file.text.len(),
                "{d:#?}"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn word_soup_never_panics_the_checks(body in soup()) {
        check(&body)?;
    }

    #[test]
    fn intents_with_random_clauses_never_panic_the_checks(
        name in "[a-z][a-z0-9-]{0,8}",
        a in select(ENDS),
        b in select(ENDS),
        clauses in prop::collection::vec(soup(), 0..4),
    ) {
        let body = format!(
            "intent {name}: keys of 256 bits between {a} and {b}, {}\n",
            clauses.join(", ")
        );
        check(&body)?;
    }
}
