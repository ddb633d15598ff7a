//! Logging and the start-up line every server and gosleep print.

use std::io::{self, Write};
use std::net::SocketAddr;

/// What logs by default: warnings, except actix-http's connection dispatcher, which logs a
/// client's fault (a malformed or oversized request, a timed-out head, a reset) as an ERROR
/// line per connection. A client's bad input is no server error, and per-connection logging
/// distorts a benchmark as per-request logging does; `RUST_LOG=debug` still shows them.
pub const DEFAULT_LOG_FILTER: &str = "warn,actix_http::h1::dispatcher=off";

/// Logging to stderr, quiet by default ([`DEFAULT_LOG_FILTER`]); `RUST_LOG` asks for more
/// (e.g. `RUST_LOG=debug` logs every request).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    // A second init (tests) is harmless; ignore it.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(io::stderr).try_init();
}

/// Prints `NAME listening on SCHEME://ADDR` on stdout, flushed: scripts and tests that start
/// a binary on port 0 read the real port, and whether it speaks TLS, from this line.
pub fn announce(name: &str, scheme: &str, addr: SocketAddr) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{name} listening on {scheme}://{addr}");
    let _ = out.flush();
}
