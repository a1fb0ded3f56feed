//! What a violation is and how the checks report one: [`Violation`], the collector every check
//! pushes into (messages with tidied numbers), the tolerance of every comparison, and the
//! names violations give the objects they are about.

use crate::config::Hop;
use serde::Serialize;
use std::fmt;

/// Relative tolerance of every comparison of rates and figures.
pub(super) const TOL: f64 = 1e-6;

/// One thing the emitted configuration gets wrong.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Violation {
    /// One of [`codes`](super::codes).
    pub code: &'static str,
    /// The node whose document is at fault, when one is.
    pub node: Option<String>,
    /// What is wrong, e.g. "QKD link `a-r`" or "intent `x` path 0".
    pub object: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.object)?;
        if let Some(n) = &self.node {
            write!(f, " at node `{n}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[derive(Default)]
pub(super) struct Out(Vec<Violation>);

impl Out {
    /// Every violation pushed, sorted, each once.
    pub(super) fn into_sorted(self) -> Vec<Violation> {
        let mut out = self.0;
        out.sort();
        out.dedup();
        out
    }

    pub(super) fn push(
        &mut self,
        code: &'static str,
        node: Option<&str>,
        object: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.0.push(Violation {
            code,
            node: node.map(str::to_string),
            object: object.into(),
            message: tidy_numbers(&message.into()),
        });
    }
}

/// Drops the trailing zeros that fixed-precision formatting leaves in decimal numbers
/// (`6144.000000000` → `6144`, `0.250` → `0.25`), so messages read as people write numbers.
fn tidy_numbers(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let starts_number = b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        if !starts_number {
            let c = s[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let mut j = i;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let mut end = j;
        if j + 1 < b.len() && b[j] == b'.' && b[j + 1].is_ascii_digit() {
            let mut k = j + 1;
            while k < b.len() && b[k].is_ascii_digit() {
                k += 1;
            }
            // Only a whole number token: not part of a name like `1.2.3` or `2e5`.
            let whole = k == b.len()
                || !(b[k].is_ascii_alphanumeric()
                    || b[k] == b'.' && b.get(k + 1).is_some_and(u8::is_ascii_digit));
            end = k;
            if whole {
                let mut t = k;
                while t > j + 1 && b[t - 1] == b'0' {
                    t -= 1;
                }
                if t == j + 1 && b[j + 1] == b'0' {
                    t = j;
                }
                out.push_str(&s[i..t]);
                i = k;
                continue;
            }
        }
        out.push_str(&s[i..end]);
        i = end;
    }
    out
}

/// `a` and `b` agree to the relative tolerance (absolute below 1).
pub(super) fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOL * a.abs().max(b.abs()).max(1.0)
}

/// `a` ≤ `b` to the relative tolerance (absolute below 1).
pub(super) fn within(a: f64, b: f64) -> bool {
    a <= b + TOL * b.abs().max(1.0)
}

pub(super) fn unit_obj(unit: &str) -> String {
    format!("service unit `{unit}`")
}

pub(super) fn path_obj(unit: &str, path: usize) -> String {
    format!("intent `{unit}` path {path}")
}

pub(super) fn hop_str(h: Option<&Hop>) -> String {
    h.map_or("none".into(), |h| format!("`{}` over `{}`", h.node, h.link))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_tidied() {
        assert_eq!(
            tidy_numbers("need 6144.000000000 bit/s, 0.250 of 12.5, 3.000 at `n1.0`"),
            "need 6144 bit/s, 0.25 of 12.5, 3 at `n1.0`"
        );
        assert_eq!(
            tidy_numbers("v1.20 and 1.2.30 and 7"),
            "v1.20 and 1.2.30 and 7"
        );
        assert_eq!(tidy_numbers("0.000 → 10.0 µ"), "0 → 10 µ");
    }
}
