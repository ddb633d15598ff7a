//! The ureq upstream client of the blocking servers (server-rouille and server-std): one
//! agent per process, shared by every thread, and the one mapping of ureq's failures to
//! [`UpstreamError`]. Both servers then differ only in how they serve HTTP, so comparing
//! them measures the framework, not the client.

use std::cell::Cell;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, Either, LazyBuffers, NextTimeout, TcpConnector, Transport,
    TransportAdapter,
};

use crate::query::MAX_FANOUT;
use crate::tls::rustls::pki_types::ServerName;
use crate::tls::rustls::{ClientConfig, ClientConnection, StreamOwned};
use crate::upstream::{BodyCount, MAX_BODY_BYTES, UpstreamError};
use crate::{Config, tls};

/// One ureq agent and the timeout its failures report.
#[derive(Debug)]
pub struct UreqUpstream {
    agent: ureq::Agent,
    timeout_ms: u64,
}

impl UreqUpstream {
    /// The client for a server whose threads make calls at once: at most `callers` request
    /// threads (`None`: no limit), each with up to [`MAX_FANOUT`] calls open. An https://
    /// upstream is called with THE client config, [`Config::upstream_tls`]; that config
    /// failing is the only error.
    pub fn new(config: &Config, callers: Option<usize>) -> io::Result<Self> {
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
        let agent = match config.upstream_tls().map_err(io::Error::other)? {
            // ureq builds a rustls config of its own from its TlsConfig (no ALPN, its own
            // resumption), so TLS is done by a connector of ours with THE config instead.
            Some(tls) => ureq::Agent::with_parts(
                ureq_config,
                ().chain(TcpConnector::default()).chain(OurTls(tls)).chain(NoteReset),
                LiteralFirst::default(),
            ),
            // http://: ureq's own chain, as before TLS came.
            None => ureq::Agent::with_parts(
                ureq_config,
                DefaultConnector::default().chain(NoteReset),
                LiteralFirst::default(),
            ),
        };
        Ok(Self { agent, timeout_ms: config.upstream_timeout_ms })
    }

    /// One upstream call: GET `url`, read the whole body (counted, never held, up to
    /// [`MAX_BODY_BYTES`]), return its length.
    pub fn call(&self, url: &str) -> Result<u64, UpstreamError> {
        let failed = |e| upstream_error(e, self.timeout_ms);
        RESET.set(false);
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
        // Only a body that ends at the close gets here after a reset: ureq fails a
        // Content-Length or chunked one cut short, reset or not.
        if RESET.get() {
            return Err(UpstreamError::Broken("connection reset before the body's end (the close it ends at)".into()));
        }
        count.finish()
    }
}

thread_local! {
    /// Set when a transport read on this thread ended in a reset: see [`NoteReset`]. A call
    /// runs on its caller's thread from start to end, so the flag is that call's.
    static RESET: Cell<bool> = const { Cell::new(false) };
}

/// The last step of both connector chains: its transport notes a read that ended in a
/// reset in [`RESET`]. ureq (3.5, `run.rs`) takes a reset for the upstream's close, which
/// is where a close-delimited body ends, so a body cut by one would count as whole.
#[derive(Debug)]
struct NoteReset;

impl<In: Transport> Connector<In> for NoteReset {
    type Out = ResetNoted<In>;

    fn connect(&self, _: &ConnectionDetails, chained: Option<In>) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(ResetNoted))
    }
}

/// A transport whose reads note a reset ([`NoteReset`]).
#[derive(Debug)]
struct ResetNoted<T>(T);

impl<T: Transport> Transport for ResetNoted<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.0.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let outcome = self.0.await_input(timeout);
        if let Err(ureq::Error::Io(e)) = &outcome
            && matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted)
        {
            RESET.set(true);
        }
        outcome
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }

    fn is_tls(&self) -> bool {
        self.0.is_tls()
    }
}

/// The TLS step of the https:// connector chain: rustls with THE client config over the
/// TCP transport ureq's `TcpConnector` made, as ureq's own `RustlsConnector` does it
/// (ureq 3.5, `tls/rustls.rs`) but without building a config of its own.
#[derive(Debug)]
struct OurTls(Arc<ClientConfig>);

impl<In: Transport> Connector<In> for OurTls {
    type Out = Either<In, TlsTransport>;

    fn connect(&self, details: &ConnectionDetails, chained: Option<In>) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        // The name verified and sent as SNI: a host name (`localhost`) or an IP literal.
        let host = details.uri.host().unwrap_or_default();
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let name = ServerName::try_from(host.to_owned()).map_err(|_| ureq::Error::Tls("invalid TLS server name"))?;
        let mut conn = ClientConnection::new(Arc::clone(&self.0), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), Arc::clone(&details.current_time));
        // The handshake's budget is what is left of the call's (counted from here: the
        // TCP connect before it took a loopback round trip).
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        let buffers = LazyBuffers::new(details.config.input_buffer_size(), details.config.output_buffer_size());
        Ok(Some(Either::B(TlsTransport { buffers, stream: StreamOwned { conn, sock } })))
    }
}

/// A TLS connection as a ureq transport: the plaintext in ureq's buffers, the records
/// through rustls to the TCP transport underneath.
struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTransport").finish_non_exhaustive()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
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

/// The socket address of an `http[s]://IP[:PORT]` URI (IPv6 in brackets), if its host is an
/// IP literal; the port defaults to the scheme's (80, 443).
fn ip_literal(uri: &ureq::http::Uri) -> Option<SocketAddr> {
    let default_port = match uri.scheme_str() {
        Some("http") => 80,
        Some("https") => 443,
        _ => return None,
    };
    let host = uri.host()?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let ip: IpAddr = host.parse().ok()?;
    Some(SocketAddr::new(ip, uri.port_u16().unwrap_or(default_port)))
}

/// Maps a ureq failure to its kind. `timeout_ms` is the configured per-call timeout.
fn upstream_error(e: ureq::Error, timeout_ms: u64) -> UpstreamError {
    match e {
        ureq::Error::Timeout(_) => UpstreamError::Timeout(timeout_ms),
        // rustls refusing the name or the session, or (inside an io::Error, as
        // complete_io and StreamOwned report it) failing the handshake or a record.
        ureq::Error::Rustls(e) => UpstreamError::Tls(e.to_string()),
        ureq::Error::Tls(reason) => UpstreamError::Tls(reason.to_owned()),
        ureq::Error::Io(io) if tls::failure_in(&io).is_some() => {
            UpstreamError::Tls(tls::failure_in(&io).unwrap_or_default())
        }
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
    use crate::fault::{Certificate, Fault, FaultUpstream, TlsFaultUpstream};

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
        let client = UreqUpstream::new(&Config::for_upstream(upstream.upstream()), None).unwrap();
        client.call(&upstream.upstream().sleep_url(None))
    }

    fn call_tls(certificate: Certificate, fault: Fault) -> Result<u64, UpstreamError> {
        let upstream = TlsFaultUpstream::start(certificate, fault).unwrap();
        let client = UreqUpstream::new(&upstream.config(), None).unwrap();
        client.call(&upstream.upstream().sleep_url(None))
    }

    #[test]
    fn an_https_call_returns_the_body_length() {
        assert_eq!(call_tls(Certificate::Trusted, Fault::Ok(5)), Ok(5));
        assert_eq!(call_tls(Certificate::Trusted, Fault::CloseDelimited(70_000)), Ok(70_000));
    }

    #[test]
    fn an_https_call_by_host_name_sends_and_verifies_that_name() {
        let upstream = TlsFaultUpstream::start(Certificate::Trusted, Fault::Ok(5)).unwrap();
        let client = UreqUpstream::new(&upstream.config(), None).unwrap();
        let url = format!("https://localhost:{}/sleep", upstream.addr().port());
        assert_eq!(client.call(&url), Ok(5));
    }

    #[test]
    fn an_untrusted_ca_is_a_tls_failure() {
        let outcome = call_tls(Certificate::UntrustedCa, Fault::Ok(5));
        assert!(matches!(&outcome, Err(UpstreamError::Tls(m)) if m.contains("UnknownIssuer")), "{outcome:?}");
    }

    #[test]
    fn a_silent_tls_upstream_is_a_timeout() {
        let upstream = TlsFaultUpstream::silent().unwrap();
        let config = Config { upstream_timeout_ms: 200, ..upstream.config() };
        let client = UreqUpstream::new(&config, None).unwrap();
        assert_eq!(client.call(&upstream.upstream().sleep_url(None)), Err(UpstreamError::Timeout(200)));
    }

    #[test]
    fn reuse_over_https_keeps_one_connection_and_no_reuse_opens_one_per_call() {
        for (no_reuse, connections) in [(false, 1), (true, 5)] {
            let upstream = TlsFaultUpstream::start(Certificate::Trusted, Fault::KeepAlive(5)).unwrap();
            let client = UreqUpstream::new(&Config { no_reuse, ..upstream.config() }, None).unwrap();
            for _ in 0..5 {
                assert_eq!(client.call(&upstream.upstream().sleep_url(None)), Ok(5));
            }
            assert_eq!(upstream.connections(), connections, "no_reuse: {no_reuse}");
        }
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
    fn a_body_cut_by_a_reset_is_broken_and_named_for_no_framing_it_did_not_use() {
        // Before: a close-delimited body cut by a reset counted as whole (ureq takes a
        // reset for the close), 200 with its first bytes.
        for fault in [Fault::ResetMidCloseDelimited, Fault::ResetMidChunked, Fault::ResetMidBody] {
            let outcome = call(fault);
            assert!(
                matches!(&outcome, Err(UpstreamError::Broken(m)) if !m.contains("chunked") && !m.contains("Content-Length")),
                "{fault:?}: {outcome:?}"
            );
        }
        // A close-delimited body that ends at a clean close still counts.
        assert_eq!(call(Fault::CloseDelimited(100)), Ok(100));
    }

    #[test]
    fn ip_literal_hosts_resolve_without_a_lookup_and_names_do_not() {
        let literal = |uri: &str| ip_literal(&uri.parse().unwrap());
        assert_eq!(literal("http://127.0.0.1:8090/sleep?ms=5"), Some("127.0.0.1:8090".parse().unwrap()));
        assert_eq!(literal("http://[::1]:8090/sleep"), Some("[::1]:8090".parse().unwrap()));
        assert_eq!(literal("http://10.1.2.3/sleep"), Some("10.1.2.3:80".parse().unwrap()));
        assert_eq!(literal("http://localhost:8090/sleep"), None);
        assert_eq!(literal("https://127.0.0.1:8443/sleep"), Some("127.0.0.1:8443".parse().unwrap()));
        assert_eq!(literal("https://[::1]/sleep"), Some("[::1]:443".parse().unwrap()));
        assert_eq!(literal("https://localhost:8443/sleep"), None);
        assert_eq!(literal("ftp://127.0.0.1/x"), None);
    }
}
