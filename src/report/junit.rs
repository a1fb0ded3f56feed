//! JUnit XML: one `<testsuite>` per file, one `<testcase>` per case (`FILE::NAME`) and one
//! per file for what lies in no case (`FILE::(file)`); error diagnostics fail the case
//! they lie in, warnings too under `--deny-warnings`, otherwise they are its
//! `<system-out>`.

use super::{Case, Paths};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use std::collections::BTreeMap;
use strata_grammar::{Diagnostic, FileId, Sources};

/// The name of the case that collects a file's diagnostics outside every case.
pub const FILE_CASE: &str = "(file)";

/// What XML 1.0 cannot carry at all (control characters other than tab and newline).
fn clean(s: &str) -> String {
    s.chars()
        .filter(|&c| c == '\t' || c == '\n' || c == '\r' || !c.is_control())
        .collect()
}

/// Attribute values stay on one line: readers fold newlines in attributes anyway.
fn attr(s: &str) -> String {
    clean(s).replace(['\r', '\n'], " ")
}

/// The index of the innermost case of `cases` (one file's, sorted by start) whose span
/// holds `d`'s span. The innermost one starts last, so the search walks back from the last
/// case starting at or before `d`: one step for a diagnostic inside an intent, where a scan
/// of every case made 100,000 intents cost 10^10 steps.
fn owner(cases: &[Case], d: &Diagnostic) -> Option<usize> {
    let before = cases.partition_point(|c| c.span.start <= d.span.start);
    (0..before).rev().find(|&i| {
        let c = &cases[i];
        c.file == d.span.file && d.span.end <= c.span.end
    })
}

fn describe(sources: &Sources, paths: &Paths, d: &Diagnostic) -> String {
    let file = sources.get(d.span.file);
    let (line, col) = file.line_col(d.span.start);
    let mut s = format!(
        "{}:{line}:{col}: {} {}: {}",
        paths.display(&file.name),
        match d.severity {
            strata_grammar::Severity::Error => "error",
            strata_grammar::Severity::Warning => "warning",
        },
        d.code,
        d.message
    );
    if !d.label.is_empty() {
        s.push_str(&format!("\n  {}", d.label));
    }
    if let Some(h) = &d.help {
        s.push_str(&format!("\n  help: {h}"));
    }
    s
}

struct TestCase<'a> {
    name: String,
    failures: Vec<&'a Diagnostic>,
    output: Vec<&'a Diagnostic>,
}

/// The JUnit report of `diags` over `cases`; `files` are the files to list even when
/// nothing is wrong in them (every intent file checked).
pub fn render(
    sources: &Sources,
    diags: &[Diagnostic],
    cases: &[Case],
    files: &[FileId],
    deny_warnings: bool,
    paths: &Paths,
) -> String {
    let mut order: Vec<FileId> = files.to_vec();
    for id in cases
        .iter()
        .map(|c| c.file)
        .chain(diags.iter().map(|d| d.span.file))
    {
        if !order.contains(&id) {
            order.push(id);
        }
    }
    let mut suites: Vec<(String, Vec<TestCase>)> = Vec::new();
    for &file in &order {
        let fname = paths.display(&sources.get(file).name);
        let mut tcs: Vec<TestCase> = cases
            .iter()
            .filter(|c| c.file == file)
            .map(|c| TestCase {
                name: format!("{fname}::{}", c.name),
                failures: Vec::new(),
                output: Vec::new(),
            })
            .collect();
        tcs.push(TestCase {
            name: format!("{fname}::{FILE_CASE}"),
            failures: Vec::new(),
            output: Vec::new(),
        });
        suites.push((fname, tcs));
    }
    // `cases` come sorted by file and start (`report::cases`), as the test cases are built.
    let mut by_file: BTreeMap<FileId, Vec<Case>> = BTreeMap::new();
    for c in cases {
        by_file.entry(c.file).or_default().push(c.clone());
    }
    for d in diags {
        let Some(s) = order.iter().position(|&f| f == d.span.file) else {
            continue;
        };
        let file_cases = by_file.get(&d.span.file).map_or(&[][..], Vec::as_slice);
        let tcs = &mut suites[s].1;
        let at = owner(file_cases, d).unwrap_or(tcs.len() - 1);
        if d.is_error() || deny_warnings {
            tcs[at].failures.push(d);
        } else {
            tcs[at].output.push(d);
        }
    }

    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let total: usize = suites.iter().map(|(_, t)| t.len()).sum();
    let failed = |t: &[TestCase]| t.iter().filter(|c| !c.failures.is_empty()).count();
    let total_failed: usize = suites.iter().map(|(_, t)| failed(t)).sum();
    let write = |w: &mut Writer<Vec<u8>>| -> std::io::Result<()> {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        let mut root = BytesStart::new("testsuites");
        root.push_attribute(("name", "strata"));
        root.push_attribute(("tests", total.to_string().as_str()));
        root.push_attribute(("failures", total_failed.to_string().as_str()));
        root.push_attribute(("errors", "0"));
        w.write_event(Event::Start(root))?;
        for (fname, tcs) in &suites {
            let mut suite = BytesStart::new("testsuite");
            suite.push_attribute(("name", attr(fname).as_str()));
            suite.push_attribute(("tests", tcs.len().to_string().as_str()));
            suite.push_attribute(("failures", failed(tcs).to_string().as_str()));
            suite.push_attribute(("errors", "0"));
            suite.push_attribute(("skipped", "0"));
            w.write_event(Event::Start(suite))?;
            for tc in tcs {
                let mut case = BytesStart::new("testcase");
                case.push_attribute(("classname", attr(fname).as_str()));
                case.push_attribute(("name", attr(&tc.name).as_str()));
                case.push_attribute(("time", "0"));
                if tc.failures.is_empty() && tc.output.is_empty() {
                    w.write_event(Event::Empty(case))?;
                    continue;
                }
                w.write_event(Event::Start(case))?;
                for d in &tc.failures {
                    let mut f = BytesStart::new("failure");
                    f.push_attribute(("message", attr(&d.message).as_str()));
                    f.push_attribute(("type", d.code));
                    w.write_event(Event::Start(f))?;
                    let text = clean(&describe(sources, paths, d));
                    w.write_event(Event::Text(BytesText::new(&text)))?;
                    w.write_event(Event::End(BytesEnd::new("failure")))?;
                }
                if !tc.output.is_empty() {
                    w.write_event(Event::Start(BytesStart::new("system-out")))?;
                    let text: Vec<String> = tc
                        .output
                        .iter()
                        .map(|d| clean(&describe(sources, paths, d)))
                        .collect();
                    w.write_event(Event::Text(BytesText::new(&text.join("\n"))))?;
                    w.write_event(Event::End(BytesEnd::new("system-out")))?;
                }
                w.write_event(Event::End(BytesEnd::new("testcase")))?;
            }
            w.write_event(Event::End(BytesEnd::new("testsuite")))?;
        }
        w.write_event(Event::End(BytesEnd::new("testsuites")))
    };
    write(&mut w).expect("writing to memory cannot fail");
    let mut out = String::from_utf8(w.into_inner()).expect("the writer writes UTF-8");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_grammar::Span;

    #[test]
    fn markup_in_messages_is_escaped() {
        let mut sources = Sources::new();
        let f = sources.add("a.qi", "intent x { }\n");
        let d = Diagnostic::error("strata::syntax", Span::new(f, 7, 8), "<&\"'>\u{1}")
            .help("a < b & c");
        let cases = [Case {
            file: f,
            name: "x<y>".into(),
            span: Span::new(f, 0, 12),
        }];
        let xml = render(&sources, &[d], &cases, &[f], false, &Paths::new());
        assert!(
            xml.contains("message=\"&lt;&amp;&quot;&apos;&gt;\""),
            "{xml}"
        );
        assert!(xml.contains("a &lt; b &amp; c"), "{xml}");
        assert!(xml.contains("::x&lt;y&gt;\""), "{xml}");
        assert!(!xml.contains('\u{1}'));
    }
}
