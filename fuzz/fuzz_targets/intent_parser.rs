//! Fuzz target: the intent parser and formatter. Any bytes (as text, invalid UTF-8
//! replaced) must parse without a panic to diagnostics whose spans lie inside the text, and
//! a file that parses cleanly must format to text that parses cleanly to the same tree and
//! is a fixed point of the formatter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_grammar::format::{format, syntax_difference};
use strata_grammar::{FileId, parse};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (unit, diags) = parse(FileId(0), &text);
    for d in &diags {
        assert!(d.span.start <= d.span.end && d.span.end <= text.len(), "{d:?}");
        assert!(text.is_char_boundary(d.span.start) && text.is_char_boundary(d.span.end));
    }
    if !diags.is_empty() {
        return;
    }
    let formatted = format(&unit, &text);
    let (again, diags) = parse(FileId(0), &formatted);
    assert!(diags.is_empty(), "formatted text does not parse: {diags:?}\n{formatted}");
    if let Some(diff) = syntax_difference(&unit, &again) {
        panic!("formatting changed the tree: {diff}\n{text}\n---\n{formatted}");
    }
    assert_eq!(format(&again, &formatted), formatted, "not a fixed point");
});
