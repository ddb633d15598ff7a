//! The ureq upstream client of the blocking servers (server-rouille and server-std): one
//! agent per process, shared by every thread, and the one mapping of ureq's failures to
//! [`UpstreamError`]. Both servers then differ only in how they serve HTTP, so comparing
//! them measures the framework, not the client.

use std::io::{self, ErrorKind, Read};
use std::net::{IpAddr, SocketAddr};

use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::Config;
use crate::query::MAX_FANOUT;
use crate::upstream::{BodyCount, MAX_BODY_BYTES, UpstreamError};

/// One ureq agent and the timeout its failures report.
#[derive(Debug)]
pub struct UreqUpstream {
    agent: ureq::Agent,
    timeout_ms: u64,
}

impl UreqUpstream {
    /// The client for a server whose threads make calls at once: at most `callers` request
    /// threads (`None`: no limit), each with up to [`MAX_FANOUT`] calls open.
    pub fn new(config: &Config, callers: Option<usize>) -> Self {
        // Reuse: every caller can have MAX_FANOUT calls open at once, so that many
        // connections can come back idle together; ureq's defaults (10 idle, 3 per host)
        // would close most of them and reconnect on the next burst. 200 sequential calls
        // use one connection. No reuse: an idle limit of 0 is ureq's own knob for "no
        // pooling": the pool keeps no idle connection, so ureq closes each one as soon as
        // its response body is read, and every call connects afresh.
        let idle = match (config.no_reuse, callers) {
            (true, _) => 0,
            (false, Some(callers)) => callers.saturating_mul(MAX_FANOUT),
            (false, None) => usize::MAX,
        };
        let ureq_config = ureq::Agent::config_builder()
            // One budget for the whole call: connect, request, response head and body.
            .timeout_global(Some(config.upstream_timeout()))
            // A non-2xx status is the upstream's answer, mapped to 502, not a ureq error.
            .http_status_as_error(false)
            // A proxy reports a redirect as the upstream's answer (non-2xx: 502) instead of
            // following it.
            .max_redirects(0)
            // The upstream is on loopback: ignore any http_proxy in the environment.
            .proxy(None)
            .max_idle_connections(idle)
            .max_idle_connections_per_host(idle)
            .build();
        let agent = ureq::Agent::with_parts(ureq_config, DefaultConnector::default(), LiteralFirst::default());
        Self { agent, timeout_ms: config.upstream_timeout_ms }
    }

    /// One upstream call: GET `url`, read the whole body (counted, never held, up to
    /// [`MAX_BODY_BYTES`]), return its length.
    pub fn call(&self, url: &str) -> Result<u64, UpstreamError> {
        let failed = |e| upstream_error(e, self.timeout_ms);
        let mut response = self.agent.get(url).call().map_err(failed)?;
        let status = response.status();
        if !status.is_success() {
            return Err(UpstreamError::Status(status.as_u16()));
        }
        let body = response.body_mut();
        let mut count = BodyCount::new(body.content_length())?;
        // One byte past the cap is enough to know the body is over it. Reading to the end
        // is also what returns the connection to the pool.
        let mut reader = body.as_reader().take(MAX_BODY_BYTES + 1);
        let read = io::copy(&mut reader, &mut io::sink()).map_err(|e| failed(ureq::Error::from(e)))?;
        count.add(usize::try_from(read).unwrap_or(usize::MAX))?;
        count.finish()
    }
}

/// ureq's own resolver, except that an IP-literal host (the upstream is gosleep on
/// loopback) resolves to itself without a lookup.
///
/// ureq resolves the host on every call, before it looks in its pool for an idle
/// connection, and when the call has a timeout (ours always has: the upstream budget) its
/// `DefaultResolver` does so on a thread spawned for that call, IP literal or not. That
/// was one `clone3` per proxied request, reused connection or not, a cost of ureq rather
/// than of the blocking model these servers stand for. A host name still goes to ureq's
/// resolver.
#[derive(Debug, Default)]
struct LiteralFirst(DefaultResolver);

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        match ip_literal(uri) {
            Some(addr) => {
                let mut addrs = self.empty();
                addrs.push(addr);
                Ok(addrs)
            }
            None => self.0.resolve(uri, config, timeout),
        }
    }
}

/// The socket address of an `http://IP[:PORT]` URI (IPv6 in brackets), if its host is an
/// IP literal; the port defaults to 80.
fn ip_literal(uri: &ureq::http::Uri) -> Option<SocketAddr> {
    if uri.scheme_str() != Some("http") {
        return None;
    }
    let host = uri.host()?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let ip: IpAddr = host.parse().ok()?;
    Some(SocketAddr::new(ip, uri.port_u16().unwrap_or(80)))
}

/// Maps a ureq failure to its kind. `timeout_ms` is the configured per-call timeout.
fn upstream_error(e: ureq::Error, timeout_ms: u64) -> UpstreamError {
    match e {
        ureq::Error::Timeout(_) => UpstreamError::Timeout(timeout_ms),
        ureq::Error::StatusCode(code) => UpstreamError::Status(code),
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => UpstreamError::Connect(e.to_string()),
        ureq::Error::Io(io) => match io.kind() {
            ErrorKind::TimedOut => UpstreamError::Timeout(timeout_ms),
            // Nothing was sent: the connection itself could not be made.
            ErrorKind::ConnectionRefused
            | ErrorKind::HostUnreachable
            | ErrorKind::NetworkUnreachable
            | ErrorKind::NetworkDown
            | ErrorKind::AddrNotAvailable => UpstreamError::Connect(io.to_string()),
            _ => UpstreamError::Broken(io.to_string()),
        },
        // Protocol errors, a body cut short, and whatever else ureq may add.
        other => UpstreamError::Broken(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::{Fault, FaultUpstream};

    #[test]
    fn ureq_errors_map_to_their_kind() {
        let refused = ureq::Error::Io(io::Error::from(ErrorKind::ConnectionRefused));
        assert!(matches!(upstream_error(refused, 5), UpstreamError::Connect(_)));
        let reset = ureq::Error::Io(io::Error::from(ErrorKind::ConnectionReset));
        assert!(matches!(upstream_error(reset, 5), UpstreamError::Broken(_)));
        assert_eq!(upstream_error(ureq::Error::Timeout(ureq::Timeout::Global), 5), UpstreamError::Timeout(5));
        assert_eq!(upstream_error(ureq::Error::StatusCode(503), 5), UpstreamError::Status(503));
        // A body read failure arrives as an io::Error wrapping the ureq error.
        let wrapped = ureq::Error::Timeout(ureq::Timeout::RecvBody).into_io();
        assert_eq!(upstream_error(ureq::Error::from(wrapped), 7), UpstreamError::Timeout(7));
    }

    fn call(fault: Fault) -> Result<u64, UpstreamError> {
        let upstream = FaultUpstream::start(fault).unwrap();
        let client = UreqUpstream::new(&Config::for_upstream(upstream.upstream()), None);
        client.call(&upstream.upstream().sleep_url(None))
    }

    #[test]
    fn a_body_at_the_cap_is_counted_and_an_endless_one_is_too_large() {
        assert_eq!(call(Fault::CloseDelimited(MAX_BODY_BYTES)), Ok(MAX_BODY_BYTES));
        assert_eq!(call(Fault::Endless), Err(UpstreamError::TooLarge));
    }

    #[test]
    fn a_body_cut_short_is_broken() {
        for fault in [Fault::ShortBody, Fault::ChunkedWithoutLastChunk, Fault::ResetMidBody] {
            assert!(matches!(call(fault), Err(UpstreamError::Broken(_))), "{fault:?}");
        }
    }

    #[test]
    fn ip_literal_hosts_resolve_without_a_lookup_and_names_do_not() {
        let literal = |uri: &str| ip_literal(&uri.parse().unwrap());
        assert_eq!(literal("http://127.0.0.1:8090/sleep?ms=5"), Some("127.0.0.1:8090".parse().unwrap()));
        assert_eq!(literal("http://[::1]:8090/sleep"), Some("[::1]:8090".parse().unwrap()));
        assert_eq!(literal("http://10.1.2.3/sleep"), Some("10.1.2.3:80".parse().unwrap()));
        assert_eq!(literal("http://localhost:8090/sleep"), None);
        assert_eq!(literal("https://127.0.0.1:8090/sleep"), None);
    }
}
