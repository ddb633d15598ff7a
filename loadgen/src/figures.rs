//! Figures derived from a run's result, computed in one place for the report and for the
//! scripts (`loadgen field FILE NAME` prints them by [`DERIVED`] name), so that no figure
//! is computed twice, two ways.

use serde::{Deserialize, Serialize};

use crate::result::RunResult;

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

/// The server's CPU seconds per 1,000 answers in the window (results.md's row "Server CPU
/// per 1k requests"), or `None` without a server sample or without answers. CPU % alone
/// ranks servers by their load, not their cost: a thread pool capped below the async
/// servers' rate shows a smaller % while each of its answers costs more.
pub fn cpu_per_1k(result: &RunResult) -> Option<f64> {
    let s = result.server.as_ref()?;
    (result.requests > 0).then(|| 1000.0 * s.cpu_seconds / result.requests as f64)
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

/// A figure a run's result gives without holding it as a field: its name for `loadgen
/// field` and how it is computed (`None`: the run cannot give it).
pub type Derived = (&'static str, fn(&RunResult) -> Option<f64>);

/// The derived figures, by name. No name is a field of the result's JSON, so a path means
/// one thing.
pub const DERIVED: [Derived; 3] = [
    ("cpu_per_1k_requests", cpu_per_1k),
    ("non_2xx", |r| Some(r.errors.non_2xx() as f64)),
    ("socket_errors", |r| Some(r.errors.socket() as f64)),
];

/// The derived figure `name`, if there is one by that name.
pub fn derived(name: &str) -> Option<fn(&RunResult) -> Option<f64>> {
    DERIVED.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::fake;
    use crate::result::ServerSample;

    #[test]
    fn cpu_per_1k_is_cpu_seconds_per_thousand_answers() {
        let mut run = fake(0);
        run.requests = 4000;
        run.server = Some(ServerSample { cpu_seconds: 2.0, ..ServerSample::default() });
        assert_eq!(cpu_per_1k(&run), Some(0.5));
    }

    #[test]
    fn cpu_per_1k_is_none_without_answers_or_without_a_server_sample() {
        let mut run = fake(0);
        run.server = Some(ServerSample { cpu_seconds: 2.0, ..ServerSample::default() });
        run.requests = 0;
        assert_eq!(cpu_per_1k(&run), None, "no answers");
        run.requests = 10;
        run.server = None;
        assert_eq!(cpu_per_1k(&run), None, "no sample");
    }

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

    #[test]
    fn no_derived_name_is_a_field_of_the_result_json() {
        let mut run = fake(0);
        run.server = Some(ServerSample::default());
        let json = serde_json::to_string(&run).unwrap();
        for (name, _) in DERIVED {
            assert!(!json.contains(&format!("\"{name}\"")), "{name} is also a field");
            assert!(derived(name).is_some());
        }
        assert!(derived("requests").is_none());
    }
}
