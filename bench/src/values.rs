//! The flags' value parsers that more than one command shares: each names the value it
//! refuses, in words that follow the flag's name ("--duration takes a positive integer").

/// A whole number of at least 1, written without a sign or a leading zero.
pub fn positive_integer(s: &str) -> Result<u64, String> {
    s.parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && !s.starts_with(['+', '0']))
        .ok_or_else(|| format!("takes a positive integer, not {s}"))
}

/// Cores of a CPU quota, 0 for none: digits and a point only.
pub fn cores(s: &str) -> Result<f64, String> {
    decimal(s).ok_or_else(|| format!("takes a number of cores (e.g. 0.5; 0 for none), not {s}"))
}

/// Cores of a CPU quota that must be there: above 0.
pub fn positive_cores(s: &str) -> Result<f64, String> {
    decimal(s).filter(|c| *c > 0.0).ok_or_else(|| format!("takes a number of cores above 0, not {s}"))
}

/// Seconds, above 0.
pub fn positive_seconds(s: &str) -> Result<f64, String> {
    decimal(s).filter(|v| *v > 0.0).ok_or_else(|| format!("takes a positive number of seconds (e.g. 3), not {s}"))
}

/// A finite decimal of digits and a point.
fn decimal(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|c| c.is_finite() && *c >= 0.0 && s.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_refused_naming_what_was_given() {
        assert_eq!(positive_integer("5"), Ok(5));
        for bad in ["0", "05", "+5", "-5", "x", ""] {
            assert!(positive_integer(bad).is_err(), "{bad}");
        }
        assert_eq!(cores("0"), Ok(0.0));
        assert!(positive_cores("0").unwrap_err().contains("above 0, not 0"));
        assert_eq!(positive_seconds("0.5"), Ok(0.5));
        assert!(cores("-1").is_err() && cores("1e3").is_err() && cores("inf").is_err());
    }
}
