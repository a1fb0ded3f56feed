//! Units of the intent language: which units exist, what dimension each measures and the
//! factor to the base unit of that dimension (bits, seconds, service units per second,
//! bit/s, plain numbers).

use strata_grammar::ast::Quantity;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// bits
    Size,
    /// service units per second
    Rate,
    /// bits per second
    BitRate,
    /// seconds
    Duration,
    /// a plain number (`%` scales by 1/100)
    Number,
}

impl Dimension {
    /// What a value of this dimension looks like, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Dimension::Size => "a size such as `256 bits`",
            Dimension::Rate => "a rate such as `10/s`",
            Dimension::BitRate => "a bit rate such as `2.5 kbit/s`",
            Dimension::Duration => "a duration such as `20 ms`",
            Dimension::Number => "a plain number",
        }
    }
}

const SIZES: &[(&str, f64)] = &[
    ("bit", 1.0),
    ("bits", 1.0),
    ("kbit", 1e3),
    ("kbits", 1e3),
    ("Mbit", 1e6),
    ("Mbits", 1e6),
    ("Gbit", 1e9),
    ("Gbits", 1e9),
    ("byte", 8.0),
    ("bytes", 8.0),
    ("B", 8.0),
    ("kB", 8e3),
];

const TIMES: &[(&str, f64)] = &[
    ("us", 1e-6),
    ("µs", 1e-6),
    ("μs", 1e-6),
    ("ms", 1e-3),
    ("s", 1.0),
    ("sec", 1.0),
    ("second", 1.0),
    ("seconds", 1.0),
    ("min", 60.0),
    ("minute", 60.0),
    ("minutes", 60.0),
    ("h", 3600.0),
    ("hour", 3600.0),
    ("hours", 3600.0),
    ("d", 86400.0),
    ("day", 86400.0),
    ("days", 86400.0),
];

/// Frequencies read as rates: `10 Hz` is ten service units per second.
const FREQUENCIES: &[(&str, f64)] = &[("Hz", 1.0), ("kHz", 1e3), ("MHz", 1e6)];

const COUNTS: &[&str] = &["", "keys", "key", "pairs", "pair", "units", "unit"];

const BIT_RATES: &[(&str, f64)] = &[("bps", 1.0), ("kbps", 1e3), ("Mbps", 1e6), ("Gbps", 1e9)];

/// Dimension and factor to the base unit of a unit as written, or `None` if unknown.
pub fn lookup(unit: &str) -> Option<(Dimension, f64)> {
    if unit == "%" {
        return Some((Dimension::Number, 0.01));
    }
    if let Some(&(_, f)) = SIZES.iter().find(|(u, _)| *u == unit) {
        return Some((Dimension::Size, f));
    }
    if let Some(&(_, f)) = TIMES.iter().find(|(u, _)| *u == unit) {
        return Some((Dimension::Duration, f));
    }
    if let Some(&(_, f)) = BIT_RATES.iter().find(|(u, _)| *u == unit) {
        return Some((Dimension::BitRate, f));
    }
    if let Some(&(_, f)) = FREQUENCIES.iter().find(|(u, _)| *u == unit) {
        return Some((Dimension::Rate, f));
    }
    let (num, den) = unit.split_once('/')?;
    let (_, per) = TIMES.iter().find(|(u, _)| *u == den)?;
    if COUNTS.contains(&num) {
        return Some((Dimension::Rate, 1.0 / per));
    }
    let (_, size) = SIZES.iter().find(|(u, _)| *u == num)?;
    Some((Dimension::BitRate, size / per))
}

/// Every unit spelling, for "did you mean" suggestions.
pub fn known_units() -> Vec<String> {
    let mut all: Vec<String> = SIZES
        .iter()
        .chain(TIMES)
        .chain(BIT_RATES)
        .chain(FREQUENCIES)
        .map(|(u, _)| u.to_string())
        .collect();
    for (t, _) in TIMES {
        all.push(format!("/{t}"));
        all.push(format!("keys/{t}"));
        all.push(format!("pairs/{t}"));
        all.push(format!("bit/{t}"));
        all.push(format!("kbit/{t}"));
        all.push(format!("Mbit/{t}"));
        all.push(format!("Gbit/{t}"));
    }
    all.push("%".into());
    all
}

/// The dimension and base-unit value of a quantity, if its unit is known. The parts of
/// a compound duration (`1h30min`) add up; parts of another dimension give `None` (the
/// checker says why, see [`compound_parts_agree`]).
pub fn measure(q: &Quantity) -> Option<(Dimension, f64)> {
    let (dim, mut value) = match &q.unit {
        None => (Dimension::Number, q.value),
        Some(u) => lookup(&u.text).map(|(d, f)| (d, q.value * f))?,
    };
    for part in &q.rest {
        let (d, v) = measure(part)?;
        if d != Dimension::Duration || dim != Dimension::Duration {
            return None;
        }
        value += v;
    }
    Some((dim, value))
}

/// Whether every part of a compound quantity has a known unit and all are durations.
pub fn compound_parts_agree(q: &Quantity) -> bool {
    q.rest.is_empty()
        || std::iter::once(q).chain(&q.rest).all(|p| {
            p.unit
                .as_ref()
                .and_then(|u| lookup(&u.text))
                .map(|(d, _)| d)
                == Some(Dimension::Duration)
        })
}

/// A bit rate as people write it: four significant digits and an SI prefix
/// (`255.8 Mbit/s`, `13.2 kbit/s`, `0.129 bit/s`).
pub fn format_bit_rate(bps: f64) -> String {
    if !bps.is_finite() {
        return format!("{bps} bit/s");
    }
    let (value, prefix) = match bps.abs() {
        v if v >= 1e9 => (bps / 1e9, "G"),
        v if v >= 1e6 => (bps / 1e6, "M"),
        v if v >= 1e3 => (bps / 1e3, "k"),
        _ => (bps, ""),
    };
    format!("{} {prefix}bit/s", significant(value, 4))
}

/// An amount in a unit as it reads in a message: bit rates with an SI prefix
/// (`255.8 Mbit/s of key`), anything else with four significant digits (`760.6 qubits`).
pub fn format_amount(v: f64, unit: &str) -> String {
    match unit.strip_prefix("bit/s") {
        Some(rest) => format!("{}{rest}", format_bit_rate(v)),
        None if unit.starts_with('/') => format!("{}{unit}", significant(v, 4)),
        None => format!("{} {unit}", significant(v, 4)),
    }
}

/// `v` with at most `digits` significant digits, without trailing zeros.
pub fn significant(v: f64, digits: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" { "0".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_rates_read_as_people_write_them() {
        assert_eq!(format_bit_rate(255_805_281.959), "255.8 Mbit/s");
        assert_eq!(format_bit_rate(0.129), "0.129 bit/s");
        assert_eq!(format_bit_rate(13_200.0), "13.2 kbit/s");
        assert_eq!(format_bit_rate(144_000.0), "144 kbit/s");
        assert_eq!(format_bit_rate(2.5e9), "2.5 Gbit/s");
        assert_eq!(format_bit_rate(0.0), "0 bit/s");
        assert_eq!(
            format_amount(255_805_281.959, "bit/s of key"),
            "255.8 Mbit/s of key"
        );
        assert_eq!(format_amount(760.617, "/s"), "760.6/s");
        assert_eq!(format_amount(0.09999999999999999, "ms"), "0.1 ms");
    }

    #[test]
    fn units_of_the_design_brief() {
        assert_eq!(lookup("/s"), Some((Dimension::Rate, 1.0)));
        assert_eq!(lookup("bits"), Some((Dimension::Size, 1.0)));
        assert_eq!(lookup("kbit/s"), Some((Dimension::BitRate, 1e3)));
        assert_eq!(lookup("ms"), Some((Dimension::Duration, 1e-3)));
        assert_eq!(lookup("h"), Some((Dimension::Duration, 3600.0)));
        assert_eq!(lookup("pairs/min"), Some((Dimension::Rate, 1.0 / 60.0)));
        assert_eq!(lookup("bytes"), Some((Dimension::Size, 8.0)));
        assert_eq!(lookup("furlongs"), None);
        assert_eq!(lookup("Hz"), Some((Dimension::Rate, 1.0)));
        assert_eq!(lookup("µs"), Some((Dimension::Duration, 1e-6)));
        assert_eq!(lookup("hours"), Some((Dimension::Duration, 3600.0)));
        assert_eq!(lookup("keys/minute"), Some((Dimension::Rate, 1.0 / 60.0)));
        for u in known_units() {
            assert!(lookup(&u).is_some(), "{u}");
        }
    }
}
