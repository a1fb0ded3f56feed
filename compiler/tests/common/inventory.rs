//! The example networks and where inventory diagnostics land: loading clean, each
//! diagnostic as (code, line, column), and a header of domains and nodes that test snippets
//! extend.

use strata_compiler::inventory::{Inventory, load};
use strata_grammar::{Diagnostic, FileId, SourceFile};

pub const METRO: &str = include_str!("../../../examples/metro/network.yaml");
pub const CONTINENTAL: &str = include_str!("../../../examples/continental/network.yaml");

pub fn load_clean(text: &str) -> Inventory {
    let (inv, diags) = load(FileId(0), text);
    assert!(diags.is_empty(), "unexpected diagnostics: {diags:#?}");
    inv.expect("a clean load returns the inventory")
}

/// Diagnostics of `text` as (code, line, column) of their primary span.
pub fn found(text: &str) -> Vec<(&'static str, usize, usize)> {
    let (_, diags) = load(FileId(0), text);
    positions(text, &diags)
}

pub fn positions(text: &str, diags: &[Diagnostic]) -> Vec<(&'static str, usize, usize)> {
    let src = SourceFile::new("test.yaml", text);
    diags
        .iter()
        .map(|d| {
            let (line, col) = src.line_col(d.span.start);
            (d.code, line, col)
        })
        .collect()
}

/// The one diagnostic `text` produces, which must carry `code`.
pub fn single(text: &str, code: &str) -> (Diagnostic, usize, usize) {
    let (_, diags) = load(FileId(0), text);
    assert_eq!(diags.len(), 1, "expected one diagnostic, got {diags:#?}");
    let d = diags[0].clone();
    assert_eq!(d.code, code, "{d:#?}");
    assert!(
        d.help.is_some(),
        "every inventory diagnostic says how to fix it: {d:#?}"
    );
    assert!(!d.label.is_empty(), "{d:#?}");
    let (line, col) = SourceFile::new("t", text).line_col(d.span.start);
    (d, line, col)
}

pub const HEADER: &str = "\
name: test
domains:
  - { name: core, operator: Core Telecom, trust: trusted }
  - { name: other, operator: Other Carrier, trust: untrusted }
nodes:
  - { name: alpha, domain: core, role: endpoint }
  - { name: relay, domain: core, role: trusted-relay }
  - { name: beta, domain: other, role: endpoint }
classical_links:
  - { name: c1, ends: [alpha, relay], bandwidth_bps: 1e9, latency_ms: 0.1 }
  - { name: c2, ends: [relay, beta], bandwidth_bps: 1e9, latency_ms: 0.1 }
";
// HEADER is 11 lines; the snippets below start on line 12.
