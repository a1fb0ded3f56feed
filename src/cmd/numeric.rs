//! Value parsers for numeric flags: a number that would hang or overflow the runtime (a
//! speed of zero, a timeout of 1e30 seconds, NaN) is refused when the arguments are read,
//! with the range it must be in.

/// Longest wait, in seconds, a flag may ask for (a day).
pub const MAX_SECONDS: f64 = 86_400.0;

fn number(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if !v.is_finite() {
        return Err(format!("`{s}` is not a finite number"));
    }
    Ok(v)
}

/// A twin speed: simulated seconds per real second, above 0 and at most 1,000,000.
pub fn speed(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v <= 0.0 || v > 1e6 {
        return Err(format!(
            "the speed must be above 0 and at most 1000000 simulated seconds per real second, not {s}"
        ));
    }
    Ok(v)
}

/// A timeout for agent calls: from 0.1 s to a day.
pub fn timeout(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if !(0.1..=MAX_SECONDS).contains(&v) {
        return Err(format!(
            "the timeout must be from 0.1 to {MAX_SECONDS} seconds, not {s}"
        ));
    }
    Ok(v)
}

/// A duration in seconds: from 0 to a day.
pub fn seconds(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if !(0.0..=MAX_SECONDS).contains(&v) {
        return Err(format!(
            "the duration must be from 0 to {MAX_SECONDS} seconds, not {s}"
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_numbers_are_refused_with_the_range() {
        for bad in ["0", "-1", "NaN", "inf", "1e30", "x"] {
            assert!(speed(bad).is_err(), "{bad}");
        }
        assert_eq!(speed("20").unwrap(), 20.0);
        assert!(speed("0").unwrap_err().contains("above 0"));
        for bad in ["1e30", "0", "-5", "nan", "inf"] {
            assert!(timeout(bad).is_err(), "{bad}");
        }
        assert_eq!(timeout("5").unwrap(), 5.0);
        assert!(seconds("-1").is_err() && seconds("0").is_ok());
    }
}
