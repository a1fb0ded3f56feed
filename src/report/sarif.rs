//! SARIF 2.1.0: one run of the `strata` driver, one rule per code that occurs, one result
//! per diagnostic with repository-relative locations and fingerprints that survive edits
//! which only move lines.

use super::{Paths, codes, snippet};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use strata_grammar::{Diagnostic, Severity, Sources, Span};

pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
/// The key of [`fingerprint`] in `partialFingerprints`.
pub const FINGERPRINT_KEY: &str = "strataFingerprint/v1";
const SRCROOT: &str = "%SRCROOT%";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// Percent-encodes what a URI path may not carry literally.
fn uri_path(p: &str) -> String {
    let mut out = String::new();
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The artifact location of a file: relative to `%SRCROOT%` when inside the repository,
/// an absolute `file:` URI otherwise.
fn artifact_location(paths: &Paths, name: &str) -> Value {
    match paths.relative(name) {
        Some(rel) => json!({ "uri": uri_path(&rel), "uriBaseId": SRCROOT }),
        None => {
            let abs = paths
                .absolute(name)
                .display()
                .to_string()
                .replace('\\', "/");
            let abs = if abs.starts_with('/') {
                abs
            } else {
                format!("/{abs}")
            };
            json!({ "uri": format!("file://{}", uri_path(&abs)) })
        }
    }
}

fn region(sources: &Sources, span: Span) -> Value {
    let file = sources.get(span.file);
    let (start_line, start_column) = file.line_col(span.start);
    let (end_line, end_column) = file.line_col(span.end.max(span.start));
    json!({
        "startLine": start_line,
        "startColumn": start_column,
        "endLine": end_line,
        "endColumn": end_column,
    })
}

/// A stable identity for one finding: the code, the file, the flagged text and how many
/// identical findings come before it; no line numbers, so moving lines keeps it.
pub fn fingerprint(code: &str, path: &str, snippet: &str, occurrence: usize) -> String {
    let mut h = Sha256::new();
    for part in [code, path, snippet, &occurrence.to_string()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The SARIF log of `diags` (sorted already).
pub fn render(sources: &Sources, diags: &[Diagnostic], paths: &Paths) -> Value {
    let used: BTreeSet<&str> = diags.iter().map(|d| d.code).collect();
    let rule_index: BTreeMap<&str, usize> = used.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    let rules: Vec<Value> = used
        .iter()
        .map(|code| {
            let info = codes::lookup(code);
            let meaning = info.map_or("A strata diagnostic.", |i| i.meaning);
            let doc = info.map_or("docs/language.md", |i| i.doc);
            let warning = info.is_some_and(|i| i.warning);
            json!({
                "id": code,
                "shortDescription": { "text": meaning },
                "fullDescription": { "text": format!("{meaning} Documented in {doc}.") },
                "help": { "text": format!("{meaning} Each finding carries its own help; the code is documented in {doc}.") },
                "defaultConfiguration": { "level": if warning { "warning" } else { "error" } },
            })
        })
        .collect();

    let mut artifacts: Vec<String> = Vec::new();
    let mut artifact_index = |name: &str| -> usize {
        match artifacts.iter().position(|a| a == name) {
            Some(i) => i,
            None => {
                artifacts.push(name.to_string());
                artifacts.len() - 1
            }
        }
    };
    let mut seen: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    let mut results = Vec::new();
    for d in diags {
        let name = &sources.get(d.span.file).name;
        let shown = paths.display(name);
        let text = snippet(sources, d.span);
        let count = seen
            .entry((d.code.to_string(), shown.clone(), text.to_string()))
            .or_insert(0);
        let occurrence = *count;
        *count += 1;
        let mut location = artifact_location(paths, name);
        location["index"] = json!(artifact_index(name));
        let message = match &d.help {
            Some(h) => format!("{}\nhelp: {h}", d.message),
            None => d.message.clone(),
        };
        let mut result = json!({
            "ruleId": d.code,
            "ruleIndex": rule_index[d.code],
            "level": level(d.severity),
            "message": { "text": message },
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": location,
                    "region": region(sources, d.span),
                },
            }],
            "partialFingerprints": {
                FINGERPRINT_KEY: fingerprint(d.code, &shown, text, occurrence),
            },
        });
        if !d.label.is_empty() {
            result["locations"][0]["message"] = json!({ "text": d.label });
        }
        if !d.related.is_empty() {
            let related: Vec<Value> = d
                .related
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let rname = &sources.get(r.span.file).name;
                    let mut loc = artifact_location(paths, rname);
                    loc["index"] = json!(artifact_index(rname));
                    json!({
                        "id": i + 1,
                        "message": { "text": r.message },
                        "physicalLocation": {
                            "artifactLocation": loc,
                            "region": region(sources, r.span),
                        },
                    })
                })
                .collect();
            result["relatedLocations"] = json!(related);
        }
        results.push(result);
    }

    let root = paths.root.display().to_string().replace('\\', "/");
    let root = if root.ends_with('/') {
        root
    } else {
        format!("{root}/")
    };
    let root = if root.starts_with('/') {
        root
    } else {
        format!("/{root}")
    };
    let mut driver = json!({
        "name": "strata",
        "version": env!("CARGO_PKG_VERSION"),
        "rules": rules,
    });
    if let Some(uri) = information_uri() {
        driver["informationUri"] = json!(uri);
    }
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": driver },
            "originalUriBaseIds": {
                SRCROOT: { "uri": format!("file://{}", uri_path(&root)) },
            },
            "columnKind": "unicodeCodePoints",
            "artifacts": artifacts
                .iter()
                .map(|a| json!({ "location": artifact_location(paths, a) }))
                .collect::<Vec<_>>(),
            "results": results,
        }],
    })
}

/// The project's home page from the package manifest (`homepage`, else `repository`).
fn information_uri() -> Option<&'static str> {
    [
        option_env!("CARGO_PKG_HOMEPAGE"),
        option_env!("CARGO_PKG_REPOSITORY"),
    ]
    .into_iter()
    .flatten()
    .find(|u| !u.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_lines_but_not_text_or_occurrence() {
        let a = fingerprint("strata::no-path", "intents/a.qi", "x <-> y", 0);
        assert_eq!(
            a,
            fingerprint("strata::no-path", "intents/a.qi", "x <-> y", 0)
        );
        assert_ne!(
            a,
            fingerprint("strata::no-path", "intents/a.qi", "x <-> y", 1)
        );
        assert_ne!(
            a,
            fingerprint("strata::no-path", "intents/b.qi", "x <-> y", 0)
        );
        assert_ne!(
            a,
            fingerprint("strata::no-path", "intents/a.qi", "x <-> z", 0)
        );
        assert_eq!(uri_path("a b/ü.qi"), "a%20b/%C3%BC.qi");
    }
}
