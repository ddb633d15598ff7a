//! The cases of upstream answers that are valid HTTP but easy to get wrong (issue 29): a
//! redirect (never followed), interim 1xx answers before the 200, a 204 with bytes after
//! its head, and framing errors named for the framing the upstream used. Each starts its
//! own fault upstream ([`contract::fault`]) and server.

use contract::fault::{Fault, FaultUpstream};
use contract::{Config, Running};

use crate::Subject;
use crate::support::{self, assert_error, assert_reply, assert_still_serving, block_on, get};

/// The body of a good call.
const GOOD: u64 = 64;

/// A host nothing answers (TEST-NET for benchmarks, RFC 2544): a client that followed a
/// redirect there would wait for its connect to time out.
const ANOTHER_HOST: &str = "http://198.18.0.1:9/x";

/// The upstream timeout here: long enough that following a redirect to [`ANOTHER_HOST`]
/// would show as a late 504, short enough to keep the case quick if it does.
const UPSTREAM_TIMEOUT_MS: u64 = 5_000;

fn server(subject: &Subject, upstream: &FaultUpstream) -> Running {
    let config = Config { upstream_timeout_ms: UPSTREAM_TIMEOUT_MS, ..Config::for_upstream(upstream.upstream()) };
    support::server(subject, config)
}

/// An upstream 302 is the upstream's answer, a non-2xx like any other: 502 naming it, and
/// the redirect is not followed (the upstream saw the one request), whether its Location
/// is relative or another host.
pub fn an_upstream_redirect_is_502_and_never_followed(subject: &Subject) {
    for location in ["/other", ANOTHER_HOST] {
        let upstream = FaultUpstream::start(Fault::Redirect(location)).expect("fault upstream starts");
        let s = server(subject, &upstream);
        block_on(async {
            let what = format!("upstream 302 to {location}");
            let error = assert_error(subject, &get(s.addr(), "/single?ms=0").await, 502, &what);
            // The error of any non-2xx (`UpstreamError::Status`, Python's twin).
            let usual = "upstream answered HTTP 302";
            assert!(error.contains(usual), "{}: {what}: the error is not {usual:?}: {error}", subject.name);
            assert_eq!(upstream.requests(), 1, "{}: {what}: the redirect was followed", subject.name);
        });
    }
}

/// Interim answers (`100 Continue`; `103 Early Hints` with a `Link`) before the upstream's
/// 200 are skipped (RFC 9110 15.2): the call is the 200's, with its bytes.
pub fn a_1xx_before_the_upstreams_200_is_200(subject: &Subject) {
    for fault in [Fault::ContinueThenOk(GOOD), Fault::EarlyHintsThenOk(GOOD)] {
        let upstream = FaultUpstream::start(fault).expect("fault upstream starts");
        let s = server(subject, &upstream);
        block_on(async {
            let what = format!("{fault:?}");
            assert_reply(subject, &get(s.addr(), "/single?ms=0").await, 1, GOOD, &what);
            assert_reply(subject, &get(s.addr(), "/multiple?n=3&ms=0").await, 3, 3 * GOOD, &what);
        });
    }
}

/// A 204 has no content (RFC 9110 15.3.5), whatever its Content-Length says: bytes after
/// its head are not its body, and the call succeeded with 0 bytes.
pub fn an_upstream_204_with_a_body_is_a_call_of_0_bytes(subject: &Subject) {
    let upstream = FaultUpstream::start(Fault::NoContentWithBytes).expect("fault upstream starts");
    let s = server(subject, &upstream);
    block_on(async {
        assert_reply(subject, &get(s.addr(), "/single?ms=0").await, 1, 0, "204 with 5 bytes after its head");
        assert_reply(subject, &get(s.addr(), "/multiple?n=3&ms=0").await, 3, 0, "three 204s with bytes");
        assert_still_serving(subject, s.addr(), "204s with bytes").await;
    });
}

/// Words that name a framing in an error, lower-cased.
const CHUNKED: &[&str] = &["chunk"];
const CONTENT_LENGTH: &[&str] = &["content-length", "content length"];

/// A body broken off (short of its Content-Length, a chunked body without its last chunk,
/// a reset in a body of each framing) is a 502 whose error never names a framing the
/// upstream did not use: a Content-Length body's is not "chunked", a chunked body's is
/// not about a Content-Length, and a close-delimited body's is neither.
pub fn a_framing_error_is_named_for_the_framing_the_upstream_used(subject: &Subject) {
    let not_close_delimited = [CHUNKED, CONTENT_LENGTH].concat();
    for (fault, wrong) in [
        (Fault::ShortBody, CHUNKED),
        (Fault::ResetMidBody, CHUNKED),
        (Fault::ChunkedWithoutLastChunk, CONTENT_LENGTH),
        (Fault::ResetMidChunked, CONTENT_LENGTH),
        (Fault::ResetMidCloseDelimited, &not_close_delimited[..]),
    ] {
        let upstream = FaultUpstream::start(fault).expect("fault upstream starts");
        let s = server(subject, &upstream);
        block_on(async {
            let what = format!("{fault:?}");
            let error = assert_error(subject, &get(s.addr(), "/single?ms=0").await, 502, &what);
            let lower = error.to_ascii_lowercase();
            let named = wrong.iter().find(|word| lower.contains(*word));
            assert!(
                named.is_none(),
                "{}: {what}: the error names a framing not used ({named:?}): {error}",
                subject.name
            );
        });
    }
}
