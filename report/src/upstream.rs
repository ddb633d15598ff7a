//! What gosleep counted over an HTTPS cell's window, and the report's figures from it.

use loadgen::result::RunResult;
use serde::{Deserialize, Serialize};

/// What gosleep counted over one HTTPS cell's recorded window (`DIR/{cell}.upstream.json`):
/// run_all.sh resets its `/stats` as the window opens and keeps what `/stats` says when
/// loadgen has finished. Only the fields the report reads; the file holds the others too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamTls {
    /// Upstream calls (`/sleep` requests) received.
    pub requests: u64,
    /// TLS handshakes that set up a new session.
    pub tls_handshakes_full: u64,
    /// TLS handshakes that resumed a session (a ticket or a session ID).
    pub tls_handshakes_resumed: u64,
    /// TLS handshakes that failed.
    pub tls_failures: u64,
}

/// What the upstream did per request loadgen answered in an HTTPS cell's window (the rows
/// "Upstream calls per request" and "Upstream TLS handshakes per request" of results.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpstreamPerRequest {
    /// Upstream calls: 1 for `/single`, the fan-out for `/multiple`, when the window's two
    /// counts line up.
    pub calls: f64,
    /// Handshakes that set up a new TLS session: a new connection's cost in full.
    pub full_handshakes: f64,
    /// Handshakes that resumed a session: a new connection, but not a new session.
    pub resumed_handshakes: f64,
}

/// Full handshakes in an HTTPS cell's counts that are run_all.sh's own: the curl that reads
/// `/stats` after the window opens a connection of its own (a fresh process: no session
/// to resume), counted before its request is answered. The reset's connection was set up
/// before the counters were zeroed.
pub const STATS_READ_HANDSHAKES: u64 = 1;

/// gosleep's counts over an HTTPS cell's window, less run_all.sh's own read
/// ([`STATS_READ_HANDSHAKES`]), divided by the requests loadgen answered in it, or `None`
/// without answers.
pub fn upstream_per_request(upstream: &UpstreamTls, result: &RunResult) -> Option<UpstreamPerRequest> {
    let answered = result.requests as f64;
    let full = upstream.tls_handshakes_full.saturating_sub(STATS_READ_HANDSHAKES);
    (result.requests > 0).then(|| UpstreamPerRequest {
        calls: upstream.requests as f64 / answered,
        full_handshakes: full as f64 / answered,
        resumed_handshakes: upstream.tls_handshakes_resumed as f64 / answered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::fake;

    #[test]
    fn upstream_per_request_divides_the_upstreams_counts_less_the_read_by_the_answers() {
        let mut run = fake(0);
        run.requests = 2000;
        let upstream =
            UpstreamTls { requests: 10_000, tls_handshakes_full: 21, tls_handshakes_resumed: 1980, tls_failures: 0 };
        let per = upstream_per_request(&upstream, &run).unwrap();
        assert_eq!(per, UpstreamPerRequest { calls: 5.0, full_handshakes: 0.01, resumed_handshakes: 0.99 });
        run.requests = 0;
        assert_eq!(upstream_per_request(&upstream, &run), None, "no answers");
    }
}
