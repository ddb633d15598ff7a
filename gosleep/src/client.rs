//! A test's view of a running gosleep (feature `client`): its `/stats`, typed as gosleep
//! serves them, over the test suites' raw HTTP client.

use std::net::SocketAddr;
use std::time::Duration;

use crate::Stats;

/// gosleep's `GET /stats`; panics on failure, as a test helper should. One version for
/// every test suite that counts upstream connections.
pub async fn upstream_stats(gosleep: SocketAddr) -> Stats {
    testkit::get(gosleep, "/stats").await.unwrap_or_else(|e| panic!("GET /stats: {e}")).json()
}

/// gosleep's `POST /stats/reset`; panics unless it answers 200.
pub async fn reset_upstream_stats(gosleep: SocketAddr) {
    let r =
        testkit::request(gosleep, "POST", "/stats/reset").await.unwrap_or_else(|e| panic!("POST /stats/reset: {e}"));
    assert_eq!(r.status, 200, "POST /stats/reset");
}

/// Waits until gosleep reports `n` `/sleep` requests in flight; panics after `within`.
///
/// Tests that act on "a request in flight" (a signal, a dropped client) wait for this
/// instead of giving the request a fixed head start: on a loaded machine a head start is a
/// race, and a request the server has not read yet is not in flight.
pub async fn wait_for_upstream_in_flight(gosleep: SocketAddr, n: u64, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let now = upstream_stats(gosleep).await.in_flight;
        if now == n {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "gosleep: {now} requests in flight after {within:?}, not {n}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
