//! Turns diagnostics into what people and machines read: miette's annotated snippets for
//! terminals, or one JSON object per diagnostic with file, line and column.

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};
use serde::Serialize;
use std::fmt;
use std::io::IsTerminal;
use strata_grammar::{Diagnostic, Severity, SourceFile, Sources, Span};

/// A source file as miette reads it, a few lines around each label at a time: miette's own
/// reading of a string scans it from the start for every label, so N diagnostics in one
/// file would take time N × its length.
#[derive(Debug)]
struct Excerpts<'a>(&'a SourceFile);

impl SourceCode for Excerpts<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let file = self.0;
        let start = span.offset().min(file.text.len());
        let end = (span.offset() + span.len()).min(file.text.len());
        let first = file.line_index(start).saturating_sub(before);
        let last = file.line_index(end) + after + 2;
        let (from, to) = (file.line_start(first), file.line_start(last));
        let window = &file.text.as_bytes()[from..to];
        let local = SourceSpan::new((start - from).into(), end - start);
        let inner = window.read_span(&local, before, after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            file.name.clone(),
            inner.data(),
            SourceSpan::new((inner.span().offset() + from).into(), inner.span().len()),
            inner.line() + first,
            inner.column(),
            inner.line_count(),
        )))
    }
}

/// A diagnostic bound to its source text, in the shape miette renders.
#[derive(Debug)]
struct Report<'a> {
    diag: Diagnostic,
    source: Excerpts<'a>,
    labels: Vec<LabeledSpan>,
    elsewhere: Vec<Report<'a>>,
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diag.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.elsewhere.is_empty() {
            return None;
        }
        Some(Box::new(
            self.elsewhere.iter().map(|r| r as &dyn miette::Diagnostic),
        ))
    }
}

fn source_span(sources: &Sources, span: Span) -> SourceSpan {
    let len = sources.get(span.file).text.len();
    let start = span.start.min(len);
    SourceSpan::new(start.into(), span.end.clamp(start, len) - start)
}

fn report<'a>(sources: &'a Sources, diag: &Diagnostic) -> Report<'a> {
    let file = sources.get(diag.span.file);
    let mut labels = vec![LabeledSpan::new_primary_with_span(
        Some(diag.label.clone()).filter(|l| !l.is_empty()),
        source_span(sources, diag.span),
    )];
    let mut elsewhere = Vec::new();
    for rel in &diag.related {
        if rel.span.file == diag.span.file {
            labels.push(LabeledSpan::new_with_span(
                Some(rel.message.clone()),
                source_span(sources, rel.span),
            ));
        } else {
            let other = sources.get(rel.span.file);
            let note = Diagnostic {
                code: diag.code,
                severity: diag.severity,
                message: rel.message.clone(),
                span: rel.span,
                label: rel.message.clone(),
                related: Vec::new(),
                help: None,
            };
            elsewhere.push(Report {
                labels: vec![LabeledSpan::new_primary_with_span(
                    Some(rel.message.clone()),
                    source_span(sources, rel.span),
                )],
                diag: note,
                source: Excerpts(other),
                elsewhere: Vec::new(),
            });
        }
    }
    Report {
        diag: diag.clone(),
        source: Excerpts(file),
        labels,
        elsewhere,
    }
}

/// Renders diagnostics for a terminal (colour only when stderr is one).
pub fn human(sources: &Sources, diags: &[Diagnostic]) -> String {
    let theme = if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    for d in diags {
        let r = report(sources, d);
        if handler.render_report(&mut out, &r).is_err() {
            out.push_str(&format!("{}: {}\n", d.code, d.message));
        }
    }
    out
}

#[derive(Serialize)]
pub struct JsonLabel {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A diagnostic as machines read it.
#[derive(Serialize)]
pub struct JsonDiagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
    pub related: Vec<JsonLabel>,
}

pub fn json(sources: &Sources, diags: &[Diagnostic]) -> Vec<JsonDiagnostic> {
    diags
        .iter()
        .map(|d| {
            let file = sources.get(d.span.file);
            let (line, column) = file.line_col(d.span.start);
            let (end_line, end_column) = file.line_col(d.span.end);
            JsonDiagnostic {
                file: file.name.clone(),
                line,
                column,
                end_line,
                end_column,
                code: d.code,
                severity: d.severity,
                message: d.message.clone(),
                label: d.label.clone(),
                help: d.help.clone(),
                related: d
                    .related
                    .iter()
                    .map(|r| {
                        let f = sources.get(r.span.file);
                        let (line, column) = f.line_col(r.span.start);
                        JsonLabel {
                            file: f.name.clone(),
                            line,
                            column,
                            message: r.message.clone(),
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Orders diagnostics by file, position and code so output never depends on check order.
pub fn sort(sources: &Sources, diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        let fa = &sources.get(a.span.file).name;
        let fb = &sources.get(b.span.file).name;
        fa.cmp(fb)
            .then(a.span.start.cmp(&b.span.start))
            .then(a.code.cmp(b.code))
            .then(a.message.cmp(&b.message))
    });
}

/// Rows of cells as left-aligned columns two spaces apart, each line without trailing
/// blanks.
pub fn columns(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| strata_runtime::monitor::pad(cell, *w))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_deep_in_a_file_shows_its_own_lines() {
        let mut sources = Sources::new();
        let text: String = (1..=3000).map(|i| format!("line {i}\n")).collect();
        let file = sources.add("x.qi", text.as_str());
        let at = |line: usize| {
            let start = text.find(&format!("line {line}\n")).unwrap();
            Span::new(file, start, start + format!("line {line}").len())
        };
        let d = Diagnostic::error("strata::duplicate-intent", at(2500), "twice")
            .label("here")
            .related(at(3), "first");
        let out = human(&sources, &[d]);
        assert!(out.contains("[x.qi:2500:1]"), "{out}");
        for line in [2499, 2500, 2501, 2, 3, 4] {
            assert!(
                out.contains(&format!("{line} │ line {line}\n")),
                "{line}: {out}"
            );
        }
        assert!(!out.contains("line 1000"), "{out}");
    }
}
