//! Query-string validation for `/single`, `/multiple` and gosleep's `/sleep`.
//!
//! Rules, shared by every server so that a bad query gets the same 400 everywhere:
//! - a number is a plain decimal integer (ASCII digits only: no sign, no spaces, no
//!   fraction), after percent-decoding;
//! - a key given twice is rejected rather than guessed at;
//! - unknown keys are ignored, as most HTTP servers do (cache-busters keep working).

use std::borrow::Cow;

use thiserror::Error;

/// Largest `ms` any endpoint accepts (10 minutes): larger asks are mistakes, not load.
pub const MAX_MS: u64 = 600_000;
/// Largest fan-out of `/multiple` (`n`), and of `--fanout`.
pub const MAX_FANOUT: usize = 64;

/// Why a query was rejected; every variant answers 400.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QueryError {
    /// The value is not a plain decimal integer (empty, signed, fractional, text).
    #[error("query parameter `{key}` must be a non-negative integer, got {value:?}")]
    NotAnInteger {
        /// The parameter name.
        key: &'static str,
        /// The value as sent (percent-decoded).
        value: String,
    },
    /// The value is an integer outside the accepted range.
    #[error("query parameter `{key}` must be in {min}..={max}, got {value}")]
    OutOfRange {
        /// The parameter name.
        key: &'static str,
        /// The value as sent.
        value: String,
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// The parameter appears more than once.
    #[error("query parameter `{key}` is given more than once")]
    Repeated {
        /// The parameter name.
        key: &'static str,
    },
}

/// The single value of `key` in `query` (percent-decoded), `None` when absent.
pub fn param<'q>(query: Option<&'q str>, key: &'static str) -> Result<Option<Cow<'q, str>>, QueryError> {
    let mut found = None;
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if k == key {
            if found.is_some() {
                return Err(QueryError::Repeated { key });
            }
            found = Some(v);
        }
    }
    Ok(found)
}

/// `key` parsed as an integer in `min..=max`, `None` when absent.
pub fn bounded(query: Option<&str>, key: &'static str, min: u64, max: u64) -> Result<Option<u64>, QueryError> {
    let Some(value) = param(query, key)? else {
        return Ok(None);
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QueryError::NotAnInteger { key, value: value.into_owned() });
    }
    match value.parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(Some(v)),
        // Digits only, so a parse failure is an overflow: out of range too.
        _ => Err(QueryError::OutOfRange { key, value: value.into_owned(), min, max }),
    }
}

/// `ms`: how long the upstream should sleep, `0..=MAX_MS`; `None` means gosleep's default.
pub fn ms(query: Option<&str>) -> Result<Option<u64>, QueryError> {
    bounded(query, "ms", 0, MAX_MS)
}

/// The query of `GET /single[?ms=M]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SingleQuery {
    /// Upstream sleep, passed through; `None` leaves it to gosleep's `--delay-ms`.
    pub ms: Option<u64>,
}

impl SingleQuery {
    /// Parses the raw (still percent-encoded) query string, `None` when the URI has none.
    pub fn parse(query: Option<&str>) -> Result<Self, QueryError> {
        Ok(Self { ms: ms(query)? })
    }
}

/// The query of `GET /multiple[?n=N][&ms=M]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultipleQuery {
    /// How many upstream calls to issue concurrently, `1..=MAX_FANOUT`.
    pub n: usize,
    /// Upstream sleep of each call, passed through.
    pub ms: Option<u64>,
}

impl MultipleQuery {
    /// Parses the raw query string; a missing `n` is the server's `--fanout`.
    pub fn parse(query: Option<&str>, default_fanout: usize) -> Result<Self, QueryError> {
        let n = bounded(query, "n", 1, MAX_FANOUT as u64)?;
        Ok(Self { n: n.map_or(default_fanout, |n| n as usize), ms: ms(query)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_accepts_absent_zero_max_and_encoded_ms() {
        for (q, want) in [
            (None, None),
            (Some(""), None),
            (Some("ms=0"), Some(0)),
            (Some("ms=250"), Some(250)),
            (Some("ms=600000"), Some(600_000)),
            (Some("ms=%32%35"), Some(25)),
            (Some("other=x&ms=7"), Some(7)),
            (Some("ms=0007"), Some(7)),
        ] {
            assert_eq!(SingleQuery::parse(q), Ok(SingleQuery { ms: want }), "query {q:?}");
        }
    }

    #[test]
    fn single_rejects_non_integer_ms() {
        for q in ["ms=", "ms", "ms=abc", "ms=-1", "ms=+5", "ms=1.5", "ms=%20%31", "ms=1e3", "ms=١"] {
            assert!(
                matches!(SingleQuery::parse(Some(q)), Err(QueryError::NotAnInteger { key: "ms", .. })),
                "query {q:?} gave {:?}",
                SingleQuery::parse(Some(q))
            );
        }
    }

    #[test]
    fn single_rejects_ms_out_of_range() {
        for q in ["ms=600001", "ms=18446744073709551616", "ms=99999999999999999999999999"] {
            assert!(
                matches!(SingleQuery::parse(Some(q)), Err(QueryError::OutOfRange { key: "ms", .. })),
                "query {q:?}"
            );
        }
    }

    #[test]
    fn repeated_key_is_rejected() {
        assert_eq!(SingleQuery::parse(Some("ms=1&ms=2")), Err(QueryError::Repeated { key: "ms" }));
        assert_eq!(MultipleQuery::parse(Some("n=1&n=1"), 5), Err(QueryError::Repeated { key: "n" }));
    }

    #[test]
    fn multiple_n_defaults_to_fanout() {
        assert_eq!(MultipleQuery::parse(None, 5), Ok(MultipleQuery { n: 5, ms: None }));
        assert_eq!(MultipleQuery::parse(Some("ms=3"), 9), Ok(MultipleQuery { n: 9, ms: Some(3) }));
    }

    #[test]
    fn multiple_accepts_n_from_1_to_64() {
        for n in [1, 2, 63, 64] {
            let q = format!("n={n}&ms=10");
            assert_eq!(MultipleQuery::parse(Some(&q), 5), Ok(MultipleQuery { n, ms: Some(10) }));
        }
    }

    #[test]
    fn multiple_rejects_n_outside_1_to_64() {
        for q in ["n=0", "n=65", "n=1000", "n=99999999999999999999"] {
            assert!(
                matches!(MultipleQuery::parse(Some(q), 5), Err(QueryError::OutOfRange { key: "n", .. })),
                "query {q:?}"
            );
        }
    }

    #[test]
    fn multiple_rejects_non_integer_n_and_ms() {
        for q in ["n=", "n=two", "n=-3", "n=2.0", "n=5&ms=x", "n=5&ms=-1"] {
            assert!(matches!(MultipleQuery::parse(Some(q), 5), Err(QueryError::NotAnInteger { .. })), "query {q:?}");
        }
    }

    #[test]
    fn error_messages_name_the_parameter() {
        let e = MultipleQuery::parse(Some("n=65"), 5).unwrap_err();
        assert_eq!(e.to_string(), "query parameter `n` must be in 1..=64, got 65");
        let e = SingleQuery::parse(Some("ms=x")).unwrap_err();
        assert_eq!(e.to_string(), "query parameter `ms` must be a non-negative integer, got \"x\"");
    }
}
