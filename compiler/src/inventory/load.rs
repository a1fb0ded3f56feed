//! YAML text → [`Inventory`] plus diagnostics: runs serde-saphyr over the [`raw`] wire
//! structs, turns a YAML or type error into one `strata::inventory-syntax` diagnostic at
//! its line and column, then hands the raw tree to [`convert`] (values and ranges) and
//! [`validate`] (names, references, topology). Never panics, whatever the input.
//!
//! [`raw`]: super::raw
//! [`convert`]: super::convert
//! [`validate`]: super::validate

use super::codes::SYNTAX;
use super::convert;
use super::locate::Locator;
use super::model::Inventory;
use super::raw::RawInventory;
use super::validate;
use serde_saphyr::{Error as YamlError, MessageFormatter, UserMessageFormatter};
use strata_grammar::diag::did_you_mean;
use strata_grammar::{Diagnostic, FileId, SourceFile, Span};

/// Reads an inventory. Returns `None` only when the YAML cannot be turned into an inventory
/// at all; every problem found is in the diagnostics.
pub fn load(file: FileId, text: &str) -> (Option<Inventory>, Vec<Diagnostic>) {
    let src = SourceFile::new("", text);
    // The default budget caps a document at 250,000 YAML nodes, about 20,000 links; large
    // generated inventories (benchmarks) need more. Depth and alias limits stay as they are.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 20_000_000;
    budget.max_nodes = 10_000_000;
    let options = serde_saphyr::options! { with_snippet: false, budget: Some(budget) };
    let raw: RawInventory = match serde_saphyr::from_str_with_options(text, options) {
        Ok(raw) => raw,
        Err(err) => return (None, vec![syntax_diagnostic(&err, &src, file)]),
    };
    let mut diags = Vec::new();
    let inventory = convert::convert(raw, &Locator { file, src: &src }, &mut diags);
    validate::validate(&inventory, text, &mut diags);
    // Operators read a file top to bottom; so do its diagnostics.
    diags.sort_by_key(|d| d.span.start);
    (Some(inventory), diags)
}

/// One diagnostic for a document serde-saphyr could not read into the wire structs.
fn syntax_diagnostic(err: &YamlError, src: &SourceFile, file: FileId) -> Diagnostic {
    let locator = Locator { file, src };
    let span = err
        .location()
        .map_or(Span::new(file, 0, 0), |loc| locator.span(&loc));
    let err = innermost(err);
    if is_blank(&src.text) {
        return Diagnostic::error(SYNTAX, span, "the inventory is empty")
            .label("nothing here")
            .help(
                "an inventory is a YAML mapping with `name`, `domains`, `nodes`, `applications`, \
                 `qkd_links`, `entanglement_links` and `classical_links`; see docs/inventory.md",
            );
    }
    let (message, label, help) = explain(err);
    let message = message.unwrap_or_else(|| sanitize(&UserMessageFormatter.format_message(err)));
    Diagnostic::error(SYNTAX, span, message)
        .label(label)
        .help(help)
}

/// The error an alias or snippet wrapper is about.
fn innermost(err: &YamlError) -> &YamlError {
    match err {
        YamlError::AliasError { error, .. } => innermost(error),
        YamlError::WithSnippet { error, .. } => innermost(error),
        other => other,
    }
}

/// For a deserialisation error: a clearer message where serde's is too terse, a label and
/// a help line.
fn explain(err: &YamlError) -> (Option<String>, &'static str, String) {
    match err {
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => {
            let help = match did_you_mean(field, expected.iter().copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None if expected.is_empty() => "remove this field".to_string(),
                None => format!("fields allowed here: {}", expected.join(", ")),
            };
            (None, "unknown field", help)
        }
        YamlError::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            let help = match did_you_mean(variant, expected.iter().copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!("write one of: {}", expected.join(", ")),
            };
            (None, "unknown value", help)
        }
        YamlError::SerdeMissingField { field, .. } => (
            None,
            "this entry is incomplete",
            format!("add `{field}: …` to this entry (see docs/inventory.md)"),
        ),
        YamlError::SerdeInvalidLength { len, .. } => (
            Some(format!("a link has exactly two ends, but {len} are listed")),
            "wrong number of ends",
            "list the two nodes the link joins, e.g. `ends: [Norte, Quintin]`".to_string(),
        ),
        YamlError::InvalidScalar { ty, .. } => (None, "not a valid value", scalar_help(ty)),
        YamlError::NullIntoString { .. } => (
            None,
            "no value given",
            "write a value after the colon, or remove the field".to_string(),
        ),
        YamlError::DuplicateMappingKey { .. } => (
            None,
            "given twice",
            "each field may appear once per entry; remove one of them".to_string(),
        ),
        YamlError::Unexpected { expected, .. } => {
            let (what, help) = structure(expected);
            (
                Some(format!("expected {what} here")),
                "unexpected here",
                help.to_string(),
            )
        }
        YamlError::SerdeInvalidType { .. } => (
            None,
            "wrong type",
            "docs/inventory.md gives the type of every field".to_string(),
        ),
        YamlError::MultipleDocuments { .. } => (
            None,
            "second document",
            "an inventory is one YAML document; remove the `---` separator".to_string(),
        ),
        YamlError::Budget { .. } => (
            None,
            "limit reached here",
            "the file is larger or more deeply nested than any inventory needs".to_string(),
        ),
        _ => (
            None,
            "here",
            "check the YAML near this point: indentation, a `:` after each key, matching \
             brackets and quotes"
                .to_string(),
        ),
    }
}

fn scalar_help(ty: &str) -> String {
    match ty {
        "f64" | "f32" => "expected a finite number such as `12.5` or `3e5` \
                          (no units, no `_` digit separators)"
            .to_string(),
        "u32" | "u64" | "usize" => "expected a whole number such as `50`".to_string(),
        other => format!("expected a value of type {other}"),
    }
}

/// What serde-saphyr expected, in words, and how to write it.
fn structure(expected: &str) -> (&'static str, &'static str) {
    if expected.contains("mapping") {
        (
            "a mapping",
            "write `key: value` lines, or `{ key: value, … }`; docs/inventory.md shows each section",
        )
    } else if expected.contains("sequence") {
        (
            "a list",
            "write `- item` lines, or `[a, b]`; even a single entry goes in a list",
        )
    } else if expected.contains("string") || expected.contains("scalar") {
        (
            "a single value",
            "write one value, such as a name, not a list or a mapping",
        )
    } else {
        (
            "something else",
            "check the indentation and the structure against docs/inventory.md",
        )
    }
}

/// True when the text holds no YAML content: only whitespace and comments.
fn is_blank(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim_start_matches('\u{feff}').trim();
        line.is_empty() || line.starts_with('#') || line == "---" || line == "..."
    })
}

/// Messages may quote input text; keep control characters out of the terminal.
fn sanitize(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
