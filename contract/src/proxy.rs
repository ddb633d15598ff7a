//! The contract endpoints as functions over "make one upstream call".
//!
//! A server supplies only what is specific to it, how its client makes one call
//! (`url -> Result<body bytes, UpstreamError>`); the parsing, the fan-out and the summing
//! are here, once, so the servers cannot drift apart. Here: the routing, for servers that
//! route by hand, and the async endpoints, which join the `n` calls on the handler's own
//! task (no spawn per call: the natural async way). The blocking servers give each call
//! a thread of its own: [`blocking`].

use std::future::Future;

use crate::cached_pool::MAX_PROCESS_THREADS;
use crate::query::{MultipleQuery, SingleQuery};
use crate::reply::{BenchError, ProxyReply, sum_calls};
use crate::upstream::{Upstream, UpstreamError};

pub mod blocking;

/// The most threads a blocking server's `/multiple` pool holds: half of
/// [`MAX_PROCESS_THREADS`], the other half being its request threads'.
pub const MAX_FANOUT_THREADS: usize = MAX_PROCESS_THREADS / 2;

/// The endpoints of the contract, for servers that route by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /single`
    Single,
    /// `GET /multiple`
    Multiple,
    /// `GET /health`
    Health,
}

/// Routes a request: a known path with `GET` is its endpoint; a known path with another
/// method is 405; anything else is 404.
pub fn route(method: &str, path: &str) -> Result<Endpoint, BenchError> {
    let endpoint = match path {
        crate::paths::SINGLE => Endpoint::Single,
        crate::paths::MULTIPLE => Endpoint::Multiple,
        crate::paths::HEALTH => Endpoint::Health,
        _ => return Err(BenchError::NotFound),
    };
    if method == "GET" { Ok(endpoint) } else { Err(BenchError::MethodNotAllowed) }
}

/// Checks a request's `Content-Length` values (RFC 9112, 6.3), for servers whose HTTP layer
/// lets a bad one through: not a number, one past `u64::MAX`, or several that differ, is a
/// 400 whose reason this returns. `Ok(true)` when they announce a body.
pub fn content_length<'v>(values: impl IntoIterator<Item = &'v [u8]>) -> Result<bool, &'static str> {
    let mut first: Option<&[u8]> = None;
    for value in values {
        let value = value.trim_ascii();
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return Err("malformed Content-Length header");
        }
        // Digits alone: a length no u64 holds would wrap or be read as another number.
        if std::str::from_utf8(value).ok().and_then(|v| v.parse::<u64>().ok()).is_none() {
            return Err("Content-Length out of range");
        }
        if first.is_some_and(|first| first != value) {
            return Err("conflicting Content-Length headers");
        }
        first = Some(value);
    }
    Ok(first.is_some_and(|length| length.iter().any(|&digit| digit != b'0')))
}

/// `GET /single[?ms=M]`: validates the raw query, makes one call.
pub async fn single<F, Fut>(query: Option<&str>, upstream: &Upstream, call: F) -> Result<ProxyReply, BenchError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<u64, UpstreamError>>,
{
    let q = SingleQuery::parse(query)?;
    sum_calls([call(upstream.sleep_url(q.ms)).await])
}

/// `GET /multiple[?n=N][&ms=M]`: validates the raw query, issues the `n` calls at once
/// and waits for all of them (a failed call does not cancel the others: each upstream
/// request is seen through, as a real proxy's would be).
pub async fn multiple<F, Fut>(
    query: Option<&str>,
    default_fanout: usize,
    upstream: &Upstream,
    call: F,
) -> Result<ProxyReply, BenchError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<u64, UpstreamError>>,
{
    let q = MultipleQuery::parse(query, default_fanout)?;
    let url = upstream.sleep_url(q.ms);
    let calls = (0..q.n).map(|_| call(url.clone()));
    sum_calls(futures_util::future::join_all(calls).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn upstream() -> Upstream {
        Upstream::parse("http://127.0.0.1:9").unwrap()
    }

    #[test]
    fn content_length_must_be_one_number() {
        let check = |values: &[&str]| content_length(values.iter().map(|v| v.as_bytes()));
        assert_eq!(check(&[]), Ok(false));
        assert_eq!(check(&["0"]), Ok(false));
        assert_eq!(check(&["00", "00"]), Ok(false));
        assert_eq!(check(&[" 12 ", "12"]), Ok(true));
        assert_eq!(check(&["18446744073709551615"]), Ok(true));
        for bad in [&["nope"][..], &["-1"], &[""], &["1", "2"], &["1", "x"], &["18446744073709551616"]] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn route_knows_the_three_endpoints_and_only_get() {
        assert_eq!(route("GET", "/single"), Ok(Endpoint::Single));
        assert_eq!(route("GET", "/multiple"), Ok(Endpoint::Multiple));
        assert_eq!(route("GET", "/health"), Ok(Endpoint::Health));
        assert_eq!(route("POST", "/single"), Err(BenchError::MethodNotAllowed));
        assert_eq!(route("HEAD", "/health"), Err(BenchError::MethodNotAllowed));
        assert_eq!(route("GET", "/"), Err(BenchError::NotFound));
        assert_eq!(route("GET", "/single/"), Err(BenchError::NotFound));
    }

    #[tokio::test]
    async fn async_multiple_joins_calls_concurrently() {
        // Each call returns once all 10 are in flight: calls made one after another never
        // get there, and fail after 10 s.
        let all_in_flight = &tokio::sync::Barrier::new(10);
        let reply = multiple(Some("n=10"), 5, &upstream(), move |url| async move {
            assert_eq!(url, "http://127.0.0.1:9/sleep");
            let met = tokio::time::timeout(Duration::from_secs(10), all_in_flight.wait()).await;
            met.expect("the 10 calls were never in flight at once");
            Ok(3)
        })
        .await;
        assert_eq!(reply, Ok(ProxyReply { calls: 10, bytes: 30 }));
        let one = single(Some("ms=7"), &upstream(), |url| async move {
            assert_eq!(url, "http://127.0.0.1:9/sleep?ms=7");
            Ok(64)
        })
        .await;
        assert_eq!(one, Ok(ProxyReply { calls: 1, bytes: 64 }));
    }
}
