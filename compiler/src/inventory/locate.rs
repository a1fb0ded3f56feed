//! Where a value sits in the inventory file: serde-saphyr locations (line, column, bytes)
//! turned into our byte-range [`Span`]s, for the loader's syntax errors and every
//! diagnostic of the conversion.

use strata_grammar::{FileId, SourceFile, Span};

/// Turns serde-saphyr locations into our byte-range [`Span`]s.
pub(super) struct Locator<'a> {
    pub file: FileId,
    pub src: &'a SourceFile,
}

impl Locator<'_> {
    /// The span of a located YAML value: its bytes when serde-saphyr knows them, else one
    /// character at its line and column; the start of the file when the location is unknown.
    pub fn span(&self, loc: &serde_saphyr::Location) -> Span {
        let text = &self.src.text;
        if loc.line() == 0 {
            return Span::new(self.file, 0, 0);
        }
        let (start, end) = match (loc.span().byte_offset(), loc.span().byte_len()) {
            (Some(off), Some(len)) => {
                let start = clamp(text, usize::try_from(off).unwrap_or(usize::MAX));
                let end = clamp(
                    text,
                    start.saturating_add(usize::try_from(len).unwrap_or(0)),
                );
                (start, end)
            }
            _ => {
                let line = usize::try_from(loc.line()).unwrap_or(usize::MAX);
                let col = usize::try_from(loc.column()).unwrap_or(usize::MAX);
                let start = clamp(text, self.src.offset_of(line, col));
                let end = text[start..]
                    .chars()
                    .next()
                    .filter(|c| *c != '\n')
                    .map_or(start, |c| start + c.len_utf8());
                (start, end)
            }
        };
        Span::new(self.file, start, end)
    }
}

/// `offset` moved down to the text's length and to a character boundary.
fn clamp(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}
