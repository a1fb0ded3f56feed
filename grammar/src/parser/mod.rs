//! Text → [`SourceUnit`]. The file is cut into top-level items (every line whose first word
//! is `use`, `intent` or `policy` starts one) and each item is parsed on its own, so one
//! syntax error never hides the next: the caller gets every item that parsed and a
//! diagnostic for every one that did not.

mod build;
mod errors;
mod grammar;

pub use errors::SYNTAX;

use crate::ast::*;
use crate::diag::Diagnostic;
use crate::span::{FileId, Span};
use build::Builder;
use errors::syntax_error;
use grammar::{IntentParser, Rule};
use pest::Parser as _;

/// Parses one intent file. Never panics; returns what parsed and the syntax errors.
pub fn parse(file: FileId, text: &str) -> (SourceUnit, Vec<Diagnostic>) {
    let text = &*crate::span::line_breaks(text);
    let comments = scan_comments(file, text);
    let mut items = Vec::new();
    let mut diags = Vec::new();
    for (start, end) in item_chunks(text) {
        let chunk = &text[start..end];
        match IntentParser::parse(Rule::item_only, chunk) {
            Ok(pairs) => {
                let b = Builder {
                    file,
                    offset: start,
                };
                for pair in pairs {
                    if let Some(item) = b.item(pair) {
                        items.push(item);
                    }
                }
            }
            Err(err) => diags.push(syntax_error(file, text, start, &err)),
        }
    }
    (
        SourceUnit {
            file,
            items,
            comments,
        },
        diags,
    )
}

/// Byte ranges of the top-level items. A new item starts at each line whose first word is
/// `use`, `intent`, `policy` or `assert`; comment-only and blank lines before it belong to it.
fn item_chunks(text: &str) -> Vec<(usize, usize)> {
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let word: String = line
            .trim_start_matches([' ', '\t', '\u{feff}'])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || *c == '.')
            .collect();
        if matches!(word.as_str(), "use" | "intent" | "policy" | "assert") {
            starts.push(offset);
        }
        offset += line.len();
    }
    if starts.first() != Some(&0) {
        starts.insert(0, 0);
    }
    let mut chunks: Vec<(usize, usize)> = starts
        .windows(2)
        .map(|w| (w[0], w[1]))
        .chain(starts.last().map(|&s| (s, text.len())))
        .collect();
    chunks.retain(|&(s, e)| s < e);
    chunks
}

/// Finds `# ...` comments, skipping `#` inside quoted strings.
fn scan_comments(file: FileId, text: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    let mut iter = text.char_indices();
    while let Some((i, c)) = iter.next() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' | '\n' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '#' => {
                let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                let body = text[i..end].trim_end_matches('\r');
                out.push(Comment {
                    span: Span::new(file, i, i + body.len()),
                    text: body.to_string(),
                });
                for (j, _) in iter.by_ref() {
                    if j + 1 >= end {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}
