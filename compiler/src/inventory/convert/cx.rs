//! The conversion's context and its checks of single values: the span of a located value,
//! names (blank, padded or too long), numbers against their range ([`Range`]), and the span
//! an entry covers.

use crate::inventory::codes;
use crate::inventory::locate::Locator;
use serde_saphyr::Spanned as S;
use strata_grammar::{Diagnostic, Span, Spanned};

/// An interval a number must fall in; `hi` may be infinite.
#[derive(Debug, Clone, Copy)]
pub(super) struct Range {
    lo: f64,
    lo_open: bool,
    hi: f64,
    hi_open: bool,
}

pub(super) const NON_NEGATIVE: Range = Range::new(0.0, false, f64::INFINITY, true);

pub(super) const POSITIVE: Range = Range::new(0.0, true, f64::INFINITY, true);

pub(super) const PROBABILITY: Range = Range::new(0.0, true, 1.0, false);

pub(super) const QBER: Range = Range::new(0.0, false, 0.5, false);

/// Werner-state fidelity: 1/4 is the maximally mixed state.
pub(super) const FIDELITY: Range = Range::new(0.25, true, 1.0, false);

pub(super) const LATITUDE: Range = Range::new(-90.0, false, 90.0, false);

pub(super) const LONGITUDE: Range = Range::new(-180.0, false, 180.0, false);

pub(super) const AT_LEAST_ONE: Range = Range::new(1.0, false, f64::INFINITY, true);

/// Beyond 1/2 the detector labels are simply swapped; such a value is a typo.
pub(super) const MISALIGNMENT: Range = Range::new(0.0, true, 0.5, false);

impl Range {
    const fn new(lo: f64, lo_open: bool, hi: f64, hi_open: bool) -> Self {
        Range {
            lo,
            lo_open,
            hi,
            hi_open,
        }
    }

    fn contains(self, v: f64) -> bool {
        let above = if self.lo_open {
            v > self.lo
        } else {
            v >= self.lo
        };
        let below = if self.hi_open {
            v < self.hi
        } else {
            v <= self.hi
        };
        v.is_finite() && above && below
    }

    fn describe(self) -> String {
        let lower = if self.lo_open {
            format!("greater than {}", self.lo)
        } else {
            format!("at least {}", self.lo)
        };
        if self.hi.is_infinite() {
            return lower;
        }
        if !self.lo_open && !self.hi_open {
            return format!("between {} and {}", self.lo, self.hi);
        }
        let upper = if self.hi_open {
            format!("less than {}", self.hi)
        } else {
            format!("at most {}", self.hi)
        };
        format!("{lower} and {upper}")
    }
}

/// The smallest span from `start` that covers every part.
pub(super) fn cover(start: Span, parts: &[Span]) -> Span {
    parts.iter().fold(start, |acc, p| acc.to(*p))
}

pub(super) struct Cx<'a, 'b> {
    pub(super) locator: &'a Locator<'b>,
    pub(super) diags: &'a mut Vec<Diagnostic>,
}

impl Cx<'_, '_> {
    pub(super) fn span<T>(&self, value: &S<T>) -> Span {
        self.locator.span(&value.referenced)
    }

    /// The value as written in the file, for messages.
    pub(super) fn source(&self, span: Span) -> &str {
        self.locator
            .src
            .text
            .get(span.start..span.end)
            .unwrap_or_default()
    }

    pub(super) fn string(&self, value: &S<String>) -> Spanned<String> {
        Spanned::new(value.value.clone(), self.span(value))
    }

    /// A defining name: reported when blank or padded with whitespace.
    pub(super) fn name(&mut self, value: &S<String>, what: &str) -> Spanned<String> {
        let name = self.string(value);
        let trimmed = name.value.trim();
        if trimmed.is_empty() {
            self.diags.push(
                Diagnostic::error(
                    codes::NAME,
                    name.span,
                    format!("this {what} has an empty name"),
                )
                .label("empty name")
                .help(format!("give the {what} a name that intents can refer to")),
            );
        } else if name.value.chars().count() > crate::MAX_NAME_CHARS {
            self.diags.push(
                Diagnostic::error(
                    codes::NAME,
                    name.span,
                    format!(
                        "the name of this {what} is {} characters long, more than the {} a name may have",
                        name.value.chars().count(),
                        crate::MAX_NAME_CHARS
                    ),
                )
                .label("name too long")
                .help(format!("give the {what} a shorter name")),
            );
        } else if trimmed.len() != name.value.len() {
            self.diags.push(
                Diagnostic::error(
                    codes::NAME,
                    name.span,
                    format!("the name of this {what} starts or ends with whitespace"),
                )
                .label("whitespace inside the quotes")
                .help(format!("write `{trimmed}`")),
            );
        }
        name
    }

    /// Checks a number against its range; keeps it as written either way.
    pub(super) fn num(&mut self, field: &str, value: &S<f64>, range: Range, help: &str) -> f64 {
        let v = value.value;
        if !range.contains(v) {
            let span = self.span(value);
            let written = self.source(span).to_string();
            let (message, label) = if v.is_finite() {
                (
                    format!("`{field}` must be {}, got `{written}`", range.describe()),
                    format!("out of range: must be {}", range.describe()),
                )
            } else {
                (
                    format!("`{field}` must be a finite number, got `{written}`"),
                    "not a finite number".to_string(),
                )
            };
            self.diags.push(
                Diagnostic::error(codes::RANGE, span, message)
                    .label(label)
                    .help(help.to_string()),
            );
        }
        v
    }

    pub(super) fn opt_num(
        &mut self,
        field: &str,
        value: Option<&S<f64>>,
        default: f64,
        range: Range,
        help: &str,
    ) -> f64 {
        value.map_or(default, |v| self.num(field, v, range, help))
    }

    pub(super) fn push(&mut self, diag: Diagnostic) {
        self.diags.push(diag);
    }

    pub(super) fn ends(&self, ends: &S<[S<String>; 2]>) -> [Spanned<String>; 2] {
        ends.value.each_ref().map(|end| self.string(end))
    }
}
