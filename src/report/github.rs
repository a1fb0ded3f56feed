//! GitHub Actions workflow commands: one `::error` or `::warning` line per diagnostic,
//! which the runner turns into an annotation on the file and lines.

use super::Paths;
use strata_grammar::{Diagnostic, Severity, Sources};

/// Escapes a command's message (`%`, carriage return, newline).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value: as a message, and `:` and `,` as well.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One line per diagnostic, each ending in a newline.
pub fn render(sources: &Sources, diags: &[Diagnostic], paths: &Paths) -> String {
    let mut out = String::new();
    for d in diags {
        let file = sources.get(d.span.file);
        let (line, col) = file.line_col(d.span.start);
        let (end_line, end_col) = file.line_col(d.span.end.max(d.span.start));
        let mut message = d.message.clone();
        if !d.label.is_empty() {
            message.push_str(&format!("\n{}", d.label));
        }
        if let Some(h) = &d.help {
            message.push_str(&format!("\nhelp: {h}"));
        }
        for r in &d.related {
            let rf = sources.get(r.span.file);
            let (rl, rc) = rf.line_col(r.span.start);
            message.push_str(&format!(
                "\n{}:{rl}:{rc}: {}",
                paths.display(&rf.name),
                r.message
            ));
        }
        out.push_str(&format!(
            "::{} file={},line={line},col={col},endLine={end_line},endColumn={end_col},title={}::{}\n",
            match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            },
            escape_property(&paths.display(&file.name)),
            escape_property(d.code),
            escape_data(&message)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_the_workflow_command_rules() {
        assert_eq!(escape_data("50% a\r\nb:c,d"), "50%25 a%0D%0Ab:c,d");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }
}
