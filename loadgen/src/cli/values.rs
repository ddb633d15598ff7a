//! The flags' values: durations, rates and headers, each refused with a one-line reason that
//! quotes the value escaped.

use std::time::Duration;

use http::header::{HeaderName, HeaderValue};

/// The longest duration a flag takes (`-d`, `--warmup`, `--timeout`, `--slo-p99`), and the
/// longest time between two requests of a `--rate`: a year, beyond any run, and far from
/// where adding it to a clock reading overflows (a panic in the run).
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Parses a duration as humantime does (`500ms`, `2s`, `1.5s`, `3m`, `1h`, `1m 30s`), or a
/// bare number of seconds: wrk takes one, and humantime wants a unit.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bare = !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.');
    let parsed = if bare { humantime::parse_duration(&format!("{s}s")) } else { humantime::parse_duration(s) };
    let parsed = parsed.map_err(|e| format!("not a duration: {s:?} ({e}; try 30s, 500ms, 2m)"))?;
    if parsed > MAX_DURATION {
        return Err(format!("{s:?} is longer than a year, the longest duration loadgen takes"));
    }
    Ok(parsed)
}

/// Parses `Name: value`. A name or value that is not a valid field (a CR or LF, which would
/// split the request, or another control byte) is an error here, not a broken request.
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once(':').ok_or_else(|| format!("a header is \"Name: value\", got {s:?}"))?;
    let (name, value) = (name.trim(), value.trim());
    check_header(name, value)?;
    Ok((name.to_owned(), value.to_owned()))
}

/// Whether this header can go into the request as it is (see [`parse_header`]).
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    if name.is_empty() || HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(format!("not a header name: {name:?}"));
    }
    if value.contains(['\r', '\n']) {
        return Err(format!("header {name} has a CR or LF in its value: {value:?}"));
    }
    if HeaderValue::from_str(value).is_err() {
        return Err(format!("header {name} has a control character in its value: {value:?}"));
    }
    Ok(())
}

/// Parses a rate: a positive number of requests per second, at least one request in the
/// longest duration loadgen takes.
pub(super) fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r * MAX_DURATION.as_secs_f64() >= 1.0 => Ok(r),
        _ => Err(format!("a rate is a positive number of requests per second, at least one request a year, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_wrk() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "s", "ten", "10x", "-1s", "1..2s", "."] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    /// The forms run_all.sh and the scripts pass (`-d "${secs}s"`, `--warmup 0.25s`, ...).
    #[test]
    fn durations_the_scripts_pass_parse() {
        for (given, ms) in [("0s", 0), ("0.2s", 200), ("0.25s", 250), ("0.5s", 500), ("5s", 5000), ("10s", 10_000)] {
            assert_eq!(parse_duration(given), Ok(Duration::from_millis(ms)), "{given}");
        }
    }

    /// A flag out of range fails before anything starts: a duration past what a clock
    /// reading can have added to it panicked in the run, where it is now refused.
    #[test]
    fn a_duration_over_a_year_is_refused_not_a_panic_in_the_run() {
        assert_eq!(parse_duration("365d"), Ok(Duration::from_secs(365 * 86_400)));
        for long in ["366d", "500000000000y", "18446744073709551615"] {
            let e = parse_duration(long).expect_err(long);
            assert!(e.contains("longer than a year"), "{long}: {e}");
        }
    }

    /// Likewise a rate so low that the time between two requests is over a year (one
    /// connection's share of it overflowed the conversion to a duration).
    #[test]
    fn a_rate_under_one_request_a_year_is_refused_not_a_panic_in_the_run() {
        assert!(parse_rate("0.001").is_ok());
        for low in ["1e-300", "1e-8", "5e-324"] {
            let e = parse_rate(low).expect_err(low);
            assert!(e.contains("at least one request a year"), "{low}: {e}");
        }
    }

    #[test]
    fn a_bad_duration_is_one_line_quoting_it_escaped() {
        let e = parse_duration("1\nx").unwrap_err();
        assert!(e.starts_with("not a duration: \"1\\nx\" ("), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn headers_parse_name_and_value() {
        assert_eq!(parse_header("X-Test: a b"), Ok(("X-Test".into(), "a b".into())));
        assert_eq!(parse_header("Accept:*/*"), Ok(("Accept".into(), "*/*".into())));
        for bad in ["no colon", ": v", "bad name: v"] {
            assert!(parse_header(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_header_with_cr_or_lf_is_an_error_not_dropped() {
        for bad in ["X-A: a\r\nX-Injected: 1", "X-A: a\nb", "X-A: a\rb", "X-A: a\u{0}b"] {
            let e = parse_header(bad).expect_err(bad);
            assert!(e.contains("X-A"), "{e}");
        }
        assert_eq!(parse_header("X-A: a\tb"), Ok(("X-A".into(), "a\tb".into())), "a tab is a legal value byte");
    }
}
