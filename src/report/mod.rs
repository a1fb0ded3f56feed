//! Diagnostics in the formats CI systems read: SARIF 2.1.0 for code scanning, JUnit XML
//! for test reports, GitHub Actions workflow commands for inline annotations. Each format
//! is one file; they share the cases (what a test report counts), repository-relative
//! paths and the table of what every code means.

pub mod codes;
pub mod github;
pub mod junit;
pub mod sarif;

use std::path::{Component, Path, PathBuf};
use strata_compiler::frontend::Frontend;
use strata_grammar::ast::Item;
use strata_grammar::{FileId, Sources, Span};

/// One thing a test report lists as a test case: today every intent; diagnostics whose
/// span lies inside a case's span belong to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub file: FileId,
    pub name: String,
    pub span: Span,
}

/// The cases of a front-end run: every checked intent, and every intent the parser read
/// in files that did not check, in source order, each once.
pub fn cases(fe: &Frontend) -> Vec<Case> {
    let mut out: Vec<Case> = Vec::new();
    // Seen cases by where they are and their name: a linear `contains` made a file of
    // 100,000 intents cost 10^10 comparisons (40 s for `--format sarif`).
    let mut seen = std::collections::HashSet::new();
    let mut push = |c: Case| {
        if seen.insert((c.file, c.span.start, c.span.end, c.name.clone())) {
            out.push(c);
        }
    };
    for net in &fe.networks {
        for i in &net.program.intents {
            push(Case {
                file: i.span.file,
                name: i.name.clone(),
                span: i.span,
            });
        }
        for unit in &net.units {
            for item in &unit.items {
                match item {
                    Item::Intent(i) => push(Case {
                        file: unit.file,
                        name: i.name.text.clone(),
                        span: i.span,
                    }),
                    Item::Assert(a) => push(Case {
                        file: unit.file,
                        name: format!("assert {}", strata_grammar::format::assertion(&a.kind)),
                        span: a.span,
                    }),
                    _ => {}
                }
            }
        }
    }
    out.sort_by_key(|c| (c.file, c.span.start));
    out
}

/// Where paths in reports are relative to: the nearest ancestor of the current directory
/// holding `.git`, else the current directory.
pub fn repository_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    cwd.ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(&cwd)
        .to_path_buf()
}

/// Removes `.` and folds `..` without touching the file system.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Paths of source files as reports name them.
pub struct Paths {
    pub root: PathBuf,
    cwd: PathBuf,
}

impl Paths {
    pub fn new() -> Self {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Paths {
            root: lexical(&repository_root()),
            cwd: lexical(&cwd),
        }
    }

    /// `name` (as the front end read it) relative to the repository root, with `/`
    /// separators; `None` when the file lies outside the repository.
    pub fn relative(&self, name: &str) -> Option<String> {
        let abs = lexical(&self.cwd.join(name));
        let rel = abs.strip_prefix(&self.root).ok()?;
        Some(
            rel.components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/"),
        )
    }

    /// The absolute path of `name`.
    pub fn absolute(&self, name: &str) -> PathBuf {
        lexical(&self.cwd.join(name))
    }

    /// What a report prints for a file: relative to the root when inside it.
    pub fn display(&self, name: &str) -> String {
        self.relative(name)
            .unwrap_or_else(|| self.absolute(name).display().to_string())
    }
}

/// The source text a span covers.
pub fn snippet(sources: &Sources, span: Span) -> &str {
    let text = &sources.get(span.file).text;
    let start = span.start.min(text.len());
    let end = span.end.clamp(start, text.len());
    text.get(start..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_folds_dots() {
        assert_eq!(lexical(Path::new("/a/b/../c/./d")), PathBuf::from("/a/c/d"));
        let p = Paths {
            root: PathBuf::from("/repo"),
            cwd: PathBuf::from("/repo/intents"),
        };
        assert_eq!(
            p.relative("../examples/metro/network.yaml").as_deref(),
            Some("examples/metro/network.yaml")
        );
        assert_eq!(p.relative("/elsewhere/x.qi"), None);
        assert_eq!(p.display("/elsewhere/x.qi"), "/elsewhere/x.qi");
    }
}
