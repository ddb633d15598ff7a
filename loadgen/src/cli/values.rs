//! The flags' values: durations, rates and headers, each refused with a one-line reason that
//! quotes the value escaped.

use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};

/// Parses `500ms`, `2s`, `1.5s`, `3m`, `1h`, or a bare number of seconds (as wrk does).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("not a duration: {s:?} (try 30s, 500ms, 2m)"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "us" => value / 1_000_000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in {s:?} (use us, ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("not a duration: {s:?}"))
}

/// Parses `Name: value`. A name or value hyper would refuse to send (a CR or LF, which
/// would split the request, or another control byte) is an error here, not a header
/// silently left out of every request.
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once(':').ok_or_else(|| format!("a header is \"Name: value\", got {s:?}"))?;
    let (name, value) = (name.trim(), value.trim());
    check_header(name, value)?;
    Ok((name.to_owned(), value.to_owned()))
}

/// Whether hyper can send this header as it is (see [`parse_header`]).
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

/// Parses a rate: a positive number of requests per second.
pub(super) fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!("a rate is a positive number of requests per second, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_wrk() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "s", "ten", "10x", "-1s", "1..2s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
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
