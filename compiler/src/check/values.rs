//! Values: units and dimensions of every quantity, and the range each clause allows
//! (key sizes, rates, fidelities, latencies, whole numbers).

use super::checked::Service;
use super::codes;
use crate::units::{self, Dimension};
use strata_grammar::ast::{Bound, Cmp, Quantity};
use strata_grammar::diag::did_you_mean;
use strata_grammar::{Diagnostic, Span};

/// The value of a quantity in the base unit of one of `want`, or a diagnostic.
pub(super) fn measure_quantity(
    q: &Quantity,
    want: &[Dimension],
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Dimension, f64)> {
    measure(q, want, what, diags)
}

pub(super) fn measure(
    q: &Quantity,
    want: &[Dimension],
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Dimension, f64)> {
    if !units::compound_parts_agree(q)
        && std::iter::once(q).chain(&q.rest).all(|p| {
            p.unit
                .as_ref()
                .is_some_and(|u| units::lookup(&u.text).is_some())
        })
    {
        diags.push(
            Diagnostic::error(
                codes::WRONG_DIMENSION,
                q.span,
                format!(
                    "only a duration is written in parts, but `{}` is not one",
                    quantity_text(q)
                ),
            )
            .label("parts of different kinds")
            .help(format!(
                "write {what} as one number and unit: {}",
                want[0].describe()
            )),
        );
        return None;
    }
    let Some((dim, value)) = units::measure(q) else {
        // The part whose unit is unknown.
        let q = std::iter::once(q)
            .chain(&q.rest)
            .find(|p| {
                p.unit
                    .as_ref()
                    .is_some_and(|u| units::lookup(&u.text).is_none())
            })
            .unwrap_or(q);
        let unit = q.unit.as_ref().map_or("", |u| u.text.as_str());
        let known = units::known_units();
        let mut d = Diagnostic::error(
            codes::UNKNOWN_UNIT,
            q.unit.as_ref().map_or(q.span, |u| u.span),
            format!("`{unit}` is not a unit strata knows"),
        )
        .label("unknown unit");
        d = match did_you_mean(unit, known.iter().map(String::as_str)) {
            Some(s) => d.help(format!(
                "did you mean `{s}`? {what} is {}",
                want[0].describe()
            )),
            None => d.help(format!("{what} is {}", want[0].describe())),
        };
        diags.push(d);
        return None;
    };
    if !value.is_finite() {
        diags.push(
            Diagnostic::error(
                codes::OUT_OF_RANGE,
                q.span,
                format!("{what} is too large to be meaningful"),
            )
            .label("out of range")
            .help("use a finite number"),
        );
        return None;
    }
    if want.contains(&dim) {
        return Some((dim, value));
    }
    if dim == Dimension::Number {
        diags.push(
            Diagnostic::error(codes::MISSING_UNIT, q.span, format!("{what} needs a unit"))
                .label("no unit")
                .help(format!("write {}", want[0].describe())),
        );
    } else {
        diags.push(
            Diagnostic::error(
                codes::WRONG_DIMENSION,
                q.span,
                format!(
                    "{what} must be {}, but `{}` is {}",
                    want[0].describe(),
                    quantity_text(q),
                    dim.describe()
                ),
            )
            .label(format!("expected {}", want[0].describe()))
            .help(format!("write {}", want[0].describe())),
        );
    }
    None
}

pub(super) fn quantity_text(q: &Quantity) -> String {
    let mut out = match &q.unit {
        Some(u) if !q.rest.is_empty() => format!("{}{}", q.number, u.text),
        Some(u) if u.text.starts_with('/') || u.text == "%" => format!("{}{}", q.number, u.text),
        Some(u) => format!("{} {}", q.number, u.text),
        None => q.number.clone(),
    };
    for part in &q.rest {
        out.push_str(&quantity_text(part).replace(' ', ""));
    }
    out
}

pub(super) fn key_size(
    size: Option<&Quantity>,
    clause_span: Span,
    diags: &mut Vec<Diagnostic>,
) -> Option<u32> {
    let Some(q) = size else {
        diags.push(
            Diagnostic::error(codes::KEY_SIZE, clause_span, "keys need a size")
                .label("how many bits per key?")
                .help("write `keys of 256 bits`"),
        );
        return None;
    };
    let (_, bits) = measure(q, &[Dimension::Size], "a key size", diags)?;
    if bits <= 0.0 || bits.fract() != 0.0 || bits % 8.0 != 0.0 || bits > u32::MAX as f64 {
        diags.push(
            Diagnostic::error(
                codes::KEY_SIZE,
                q.span,
                format!(
                    "a key size must be a positive whole number of bytes, but `{}` is {} bits",
                    quantity_text(q),
                    fmt_num(bits)
                ),
            )
            .label("not a positive multiple of 8 bits")
            .help(format!(
                "use a multiple of 8 bits, e.g. `{} bits`",
                nearest_multiple_of_8(bits)
            )),
        );
        return None;
    }
    Some(bits as u32)
}

fn nearest_multiple_of_8(bits: f64) -> u64 {
    let n = (bits / 8.0).round().max(1.0);
    (n * 8.0).min(u32::MAX as f64) as u64
}

/// Service units per second; `service` is `None` when the service clause itself was bad
/// (the rate is still checked, so that all errors show at once).
pub(super) fn rate_value(
    q: &Quantity,
    service: Option<Service>,
    diags: &mut Vec<Diagnostic>,
) -> Option<f64> {
    let want: &[Dimension] = match service {
        Some(Service::Pairs) => &[Dimension::Rate],
        _ => &[Dimension::Rate, Dimension::BitRate],
    };
    let (dim, value) = measure(q, want, "a rate", diags)?;
    let per_s = match (dim, service) {
        (Dimension::BitRate, Some(Service::Keys { size_bits })) => value / f64::from(size_bits),
        _ => value,
    };
    if per_s <= 0.0 {
        diags.push(
            Diagnostic::error(
                codes::RATE_RANGE,
                q.span,
                format!(
                    "a rate must be above zero, but this one is `{}`",
                    quantity_text(q)
                ),
            )
            .label("zero or negative rate")
            .help("give the rate the intent needs, e.g. `rate >= 1/s`"),
        );
        return None;
    }
    Some(per_s)
}

const KEY_FIDELITY_HELP: &str = "for keys, fidelity F admits QKD links whose QBER is at most 1 − F (`fidelity >= 0.9` allows 10 % QBER); BB84 distils no key above about 11 % QBER, so useful values are 0.89–0.99";
const PAIR_FIDELITY_HELP: &str =
    "0.25 is a fully mixed state and 1 a perfect pair; typical targets are 0.8–0.99";

/// A fidelity bound, checked for the service it constrains (`None` in a policy, which may
/// select both).
pub(super) fn fidelity_bound(
    bound: &Bound,
    service: Option<Service>,
    diags: &mut Vec<Diagnostic>,
) -> Option<f64> {
    let (_, f) = measure(&bound.value, &[Dimension::Number], "a fidelity", diags)?;
    if bound.cmp != Cmp::AtLeast {
        diags.push(
            Diagnostic::error(
                codes::BOUND_DIRECTION,
                bound.cmp_span,
                "fidelity is a lower bound",
            )
            .label("expected `>=`")
            .help(format!("write `fidelity >= {}`", bound.value.number)),
        );
        return None;
    }
    if !(f > 0.25 && f <= 1.0) {
        diags.push(
            Diagnostic::error(
                codes::FIDELITY_RANGE,
                bound.value.span,
                format!(
                    "fidelity must be above 0.25 and at most 1, but it is {}",
                    fmt_num(f)
                ),
            )
            .label("outside (0.25, 1]")
            .help(match service {
                Some(Service::Keys { .. }) => KEY_FIDELITY_HELP,
                Some(Service::Pairs) => PAIR_FIDELITY_HELP,
                None => "for keys, fidelity F admits QKD links with QBER ≤ 1 − F (typically 0.89–0.99); for entangled pairs, 0.25 is a fully mixed state and 1 a perfect pair (typically 0.8–0.99)",
            }),
        );
        return None;
    }
    Some(f)
}

pub(super) fn latency_bound(bound: &Bound, diags: &mut Vec<Diagnostic>) -> Option<f64> {
    if bound.cmp != Cmp::AtMost {
        diags.push(
            Diagnostic::error(
                codes::BOUND_DIRECTION,
                bound.cmp_span,
                "latency is an upper bound",
            )
            .label("expected `<=`")
            .help(format!(
                "write `latency <= {}`",
                quantity_text(&bound.value)
            )),
        );
        return None;
    }
    positive(&bound.value, Dimension::Duration, "a latency", diags)
}

pub(super) fn positive(
    q: &Quantity,
    dim: Dimension,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<f64> {
    let (_, v) = measure(q, &[dim], what, diags)?;
    if v <= 0.0 {
        diags.push(
            Diagnostic::error(
                codes::OUT_OF_RANGE,
                q.span,
                format!("{what} must be above zero"),
            )
            .label("zero or negative")
            .help(format!("write {}", dim.describe())),
        );
        return None;
    }
    Some(v)
}

pub(super) fn integer(
    q: &Quantity,
    what: &str,
    min: i64,
    max: i64,
    diags: &mut Vec<Diagnostic>,
) -> Option<i64> {
    let (_, v) = measure(q, &[Dimension::Number], what, diags)?;
    if v.fract() != 0.0 || v < min as f64 || v > max as f64 {
        diags.push(
            Diagnostic::error(
                codes::OUT_OF_RANGE,
                q.span,
                format!(
                    "`{what}` takes a whole number from {min} to {max}, not {}",
                    q.number
                ),
            )
            .label("out of range")
            .help(format!("write a whole number from {min} to {max}")),
        );
        return None;
    }
    Some(v as i64)
}

/// Prints a number without a trailing `.0`.
pub fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}
