//! The upstream client: awc, one per worker, and how its failures map to the contract's
//! [`UpstreamError`]s. awc hides two body endings the contract must see (a close-delimited
//! body, a chunked body cut at a chunk boundary), so the connector watches each socket for
//! its end-of-file ([`eof`]).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use actix_rt::net::ActixStream;
use actix_service::Service;
use actix_tls::connect::rustls_0_23::reexports::ClientConfig;
use actix_tls::connect::{ConnectError as TcpConnectError, ConnectInfo, Connection};
use actix_web::http::header::HeaderMap;
use actix_web::http::{StatusCode, Version, header};
use awc::error::{ConnectError, PayloadError, SendRequestError};
use awc::http::Uri;
use awc::http::uri::Authority;
use contract::upstream::BodyCount;
use contract::{Config, Upstream, UpstreamError, tls};
use futures_util::StreamExt;

/// A worker's client: no cap on connections, the whole call's budget for the connect (and
/// for the TLS handshake in it), no redirects; `tls` is THE client config of an https://
/// upstream ([`Config::upstream_tls`]), whose calls then go to the URLs of [`as_called`].
pub(crate) fn client(config: &Config, tls: Option<Arc<ClientConfig>>) -> awc::Client {
    let timeout = config.upstream_timeout();
    match tls {
        None => build(awc::Connector::new().connector(eof::connector()), timeout),
        Some(tls) => build(awc::Connector::new().connector(eof::tls_connector(tls)), timeout),
    }
}

fn build<S, Io>(connector: awc::Connector<S>, timeout: Duration) -> awc::Client
where
    S: Service<ConnectInfo<Uri>, Response = Connection<Uri, Io>, Error = TcpConnectError> + Clone + 'static,
    Io: ActixStream + std::fmt::Debug + 'static,
{
    // limit(0): no cap on connections. awc's default of 100 per worker would queue
    // calls beyond it, capping `/multiple` at 100 / fanout concurrent requests per
    // worker. The connect timeout (5 s by default) gets the whole call's budget; the
    // call itself is bounded in `call`. Reuse needs nothing more: awc pools
    // keep-alive connections by default (idle up to 15 s).
    let connector = connector.limit(0).timeout(timeout);
    awc::Client::builder()
        .connector(connector)
        // awc's 5 s default would cut calls the contract allows 30 s; `call` bounds
        // the whole exchange (head and body) with `--upstream-timeout-ms` instead.
        .disable_timeout()
        // A proxy reports a redirect as the upstream's answer (non-2xx: 502).
        .disable_redirects()
        .finish()
}

/// The upstream as this client is handed it: an https:// upstream as http:// with its
/// port written out (443 if none), because the TLS handshake is made in this client's own
/// connector ([`eof::tls_connector`]). awc's built-in TLS step (`Connector::rustls_0_23`)
/// would put the TLS stream on top of the [`eof`] watch, which then never sees the end of
/// a body that closes with a TLS close_notify; and awc sends only https:// URIs to it.
/// The request awc writes is the same: path, and `Host: HOST:PORT`.
pub(crate) fn as_called(upstream: &Upstream) -> Upstream {
    if !upstream.is_https() {
        return upstream.clone();
    }
    let rest = &upstream.base()["https://".len()..];
    let authority = rest.split('/').next().unwrap_or(rest);
    let path = &rest[authority.len()..];
    let with_port = match authority.parse::<Authority>() {
        Ok(parsed) if parsed.port_u16().is_none() => format!("{authority}:{HTTPS_PORT}"),
        _ => authority.to_owned(),
    };
    Upstream::parse(&format!("http://{with_port}{path}")).unwrap_or_else(|_| upstream.clone())
}

/// The port of an https:// URL without one.
const HTTPS_PORT: u16 = 443;

/// One upstream call: GET `url`, read the whole body, return its length; all of it
/// within `--upstream-timeout-ms`.
pub(crate) async fn call(client: &awc::Client, config: &Config, url: String) -> Result<u64, UpstreamError> {
    let request = client.get(url);
    // No reuse: `Connection: close` on the request. awc then closes the connection
    // after the response instead of returning it to the pool (and gosleep closes its
    // end too), so every call opens a fresh one.
    let request = if config.no_reuse { request.force_close() } else { request };
    let timeout_ms = config.upstream_timeout_ms;
    let exchange = async {
        let mut response = request.send().await.map_err(|e| send_error(e, timeout_ms))?;
        if !response.status().is_success() {
            return Err(UpstreamError::Status(response.status().as_u16()));
        }
        // A 204 has no content (RFC 9110, 15.3.5): bytes after its head, whatever its
        // Content-Length says, are not its body, and awc would count them as one. Unread,
        // they close the connection instead of going back to the pool.
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(0);
        }
        let framing = framing(response.version(), response.headers())?;
        let length = match framing {
            Framing::Length(length) => Some(length),
            Framing::Chunked | Framing::Close => None,
        };
        let mut count = BodyCount::new(length)?;
        // Counted chunk by chunk: no body-size limit to raise, no buffer to fill.
        // Reading to the end is also what returns the connection to the pool.
        let mut closed = false;
        loop {
            let (chunk, eof) = eof::watch(response.next()).await;
            closed |= eof;
            match chunk {
                Some(chunk) => count.add(chunk.map_err(|e| payload_error(e, timeout_ms))?.len())?,
                None => break,
            }
        }
        // awc ends a body cut short by a close as if it were complete: comparing with
        // the Content-Length is what makes a short one a failure, and for a chunked
        // body the socket's end-of-file before the last chunk is. An HTTP/1.0 body
        // without a length ends at the close: there, the close is its end.
        if closed && framing == Framing::Chunked {
            return Err(UpstreamError::Broken("chunked body ended by a close before its last chunk".into()));
        }
        count.finish()
    };
    actix_rt::time::timeout(config.upstream_timeout(), exchange)
        .await
        .unwrap_or(Err(UpstreamError::Timeout(timeout_ms)))
}

/// Maps a failure to send the request or read the response head. `timeout_ms` is the
/// per-call timeout (awc's connect timeout is set to the same budget).
fn send_error(e: SendRequestError, timeout_ms: u64) -> UpstreamError {
    match e {
        SendRequestError::Timeout | SendRequestError::Connect(ConnectError::Timeout) => {
            UpstreamError::Timeout(timeout_ms)
        }
        // A handshake that failed: rustls's error inside the connect's io::Error.
        SendRequestError::Connect(ConnectError::Io(io)) => match tls::failure_in(&io) {
            Some(reason) => UpstreamError::Tls(reason),
            None => UpstreamError::Connect(io.to_string()),
        },
        SendRequestError::Connect(e) => UpstreamError::Connect(e.to_string()),
        // Sending failed, or the response was cut short or malformed (e.g. a pooled
        // connection the upstream had closed).
        e => UpstreamError::Broken(e.to_string()),
    }
}

/// How a 2xx answer's body (not a 204's) ends, as its head says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// After its Content-Length.
    Length(u64),
    /// At its last chunk.
    Chunked,
    /// At the close: an HTTP/1.0 answer without a length.
    Close,
}

/// How a 2xx answer's body is framed; an HTTP/1.1 body framed by the close alone is a
/// failure. awc (actix-http 3) reads that body as empty, so counting it would answer 200
/// with 0 bytes: a wrong count, where a 502 says what happened.
fn framing(version: Version, headers: &HeaderMap) -> Result<Framing, UpstreamError> {
    if let Some(length) = headers.get(header::CONTENT_LENGTH) {
        let length = length.to_str().ok().and_then(|l| l.trim().parse().ok());
        return length.map(Framing::Length).ok_or_else(|| UpstreamError::Broken("malformed Content-Length".into()));
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        Ok(Framing::Chunked)
    } else if version < Version::HTTP_11 {
        Ok(Framing::Close)
    } else {
        Err(UpstreamError::Broken("HTTP/1.1 body delimited by the connection's close, which awc cannot read".into()))
    }
}

/// Maps a failure while reading the response body.
fn payload_error(e: PayloadError, timeout_ms: u64) -> UpstreamError {
    match e {
        PayloadError::Io(e) if e.kind() == io::ErrorKind::TimedOut => UpstreamError::Timeout(timeout_ms),
        PayloadError::Io(e) => match tls::failure_in(&e) {
            Some(reason) => UpstreamError::Tls(reason),
            None => UpstreamError::Broken(PayloadError::Io(e).to_string()),
        },
        e => UpstreamError::Broken(e.to_string()),
    }
}

/// Whether a call's body ended at the socket's end-of-file rather than at its own end.
///
/// awc's body stream ends the same way for both (awc 3.11, `h1proto.rs`, `PlStream`), so a
/// chunked body cut off at a chunk boundary would count as complete. The connector wraps
/// each upstream socket in [`Watched`], which notes a read of end-of-file in a flag that
/// [`watch`] sets up around each poll of a body: a worker is one thread, and the body is
/// read inside that poll, so the flag belongs to the call being polled.
mod eof {
    use std::cell::Cell;
    use std::future::Future;
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use actix_rt::net::{ActixStream, Ready, TcpStream};
    use actix_service::{Service, ServiceExt};
    use std::sync::Arc;

    use actix_tls::connect::rustls_0_23::TlsConnector;
    use actix_tls::connect::rustls_0_23::reexports::{AsyncTlsStream as TlsStream, ClientConfig};
    use actix_tls::connect::{ConnectError, ConnectInfo, Connection, Connector, Resolver};
    use awc::http::Uri;
    use contract::limits::MAX_HEAD_BYTES;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    thread_local! {
        /// Set by a [`Watched`] socket that read end-of-file during the poll in progress.
        static SEEN: Cell<bool> = const { Cell::new(false) };
    }

    /// awc's own TCP connector, its sockets wrapped in [`Watched`].
    pub(super) fn connector()
    -> impl Service<ConnectInfo<Uri>, Response = Connection<Uri, Watched<TcpStream>>, Error = ConnectError> + Clone
    {
        Connector::new(Resolver::default()).service().map(watched)
    }

    /// awc's own TCP connector, then a TLS handshake with `tls` (actix-tls's rustls 0.23
    /// step, the one awc's `rustls_0_23` uses), the TLS stream wrapped in [`Watched`]: its
    /// end-of-file is the body's end, whether a close_notify or the TCP close says it.
    pub(super) fn tls_connector(
        tls: Arc<ClientConfig>,
    ) -> impl Service<ConnectInfo<Uri>, Response = Connection<Uri, Watched<TlsStream<TcpStream>>>, Error = ConnectError>
    + Clone {
        let handshake = TlsConnector::service(tls).map_err(ConnectError::Io);
        Connector::new(Resolver::default()).service().and_then(handshake).map(watched)
    }

    fn watched<Io>(connection: Connection<Uri, Io>) -> Connection<Uri, Watched<Io>> {
        let (io, connection) = connection.replace_io(());
        connection.replace_io(Watched { io, screening: false, held: Vec::new() }).1
    }

    /// Awaits `future`, and says whether a watched socket read end-of-file while it ran.
    pub(super) async fn watch<F: Future>(future: F) -> (F::Output, bool) {
        let mut future = std::pin::pin!(future);
        let mut seen = false;
        let output = std::future::poll_fn(|cx| {
            let outer = SEEN.replace(false);
            let poll = future.as_mut().poll(cx);
            seen |= SEEN.replace(outer);
            poll
        })
        .await;
        (output, seen)
    }

    /// An upstream socket (TCP, or TLS over TCP) that notes a read of end-of-file, and
    /// takes the interim (1xx) answers out of the start of each response.
    ///
    /// awc (3.11, `h1proto.rs`) takes the first response head it reads for the answer, so an
    /// upstream's `100 Continue` or `103 Early Hints` before its 200 was the call's status
    /// (a 502 "upstream answered HTTP 100"). A client must skip them (RFC 9110, 15.2): a
    /// request written starts [`Watched::screening`] its response, whose interim heads are
    /// dropped here; the first other status line ends it, and awc reads from there.
    #[derive(Debug)]
    pub(super) struct Watched<Io> {
        io: Io,
        /// The start of a response is being read: its interim heads are not awc's.
        screening: bool,
        /// Read but not yet handed to awc: the start of a response under screening.
        held: Vec<u8>,
    }

    impl<Io: AsyncRead + Unpin> Watched<Io> {
        /// One read of the socket, noting an end-of-file in [`SEEN`].
        fn read_noting_eof(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            let before = buf.filled().len();
            let poll = Pin::new(&mut self.io).poll_read(cx, buf);
            if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() == before && buf.remaining() > 0 {
                SEEN.set(true);
            }
            poll
        }

        /// Drops the whole interim heads at the start of `held`; ends the screening at the
        /// first other status line, or once a head would be past the contract's head limit
        /// (awc then judges what it reads, as without the screen).
        fn screen(&mut self) {
            while self.screening {
                let Some(line) = find(&self.held, b"\r\n") else { break };
                if !interim(&self.held[..line]) {
                    self.screening = false;
                } else if let Some(end) = find(&self.held, b"\r\n\r\n") {
                    self.held.drain(..end + 4);
                    continue;
                }
                break;
            }
            if self.held.len() > MAX_HEAD_BYTES {
                self.screening = false;
            }
        }
    }

    /// Where `needle` first starts in `haystack`.
    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|window| window == needle)
    }

    /// Whether a status line is an interim answer's: 1xx but 101, which would switch
    /// protocols (never asked for here, so left to awc to refuse).
    fn interim(status_line: &[u8]) -> bool {
        match status_line {
            [b'H', b'T', b'T', b'P', b'/', b'1', b'.', _, b' ', b'1', tens, units, rest @ ..] => {
                tens.is_ascii_digit()
                    && units.is_ascii_digit()
                    && (*tens, *units) != (b'0', b'1')
                    && rest.first().is_none_or(|&b| b == b' ')
            }
            _ => false,
        }
    }

    impl<Io: AsyncRead + Unpin> AsyncRead for Watched<Io> {
        fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            let this = &mut *self;
            loop {
                if !this.screening {
                    if this.held.is_empty() {
                        return this.read_noting_eof(cx, buf);
                    }
                    let n = this.held.len().min(buf.remaining());
                    buf.put_slice(&this.held[..n]);
                    this.held.drain(..n);
                    return Poll::Ready(Ok(()));
                }
                let mut chunk = [0u8; 4096];
                let mut read = ReadBuf::new(&mut chunk);
                match this.read_noting_eof(cx, &mut read) {
                    Poll::Ready(Ok(())) if read.filled().is_empty() => this.screening = false,
                    Poll::Ready(Ok(())) => this.held.extend_from_slice(read.filled()),
                    other => return other,
                }
                this.screen();
            }
        }
    }

    impl<Io: AsyncWrite + Unpin> Watched<Io> {
        /// A request (or part of one) was written: its response starts with the next read.
        fn wrote(&mut self, poll: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
            if matches!(poll, Poll::Ready(Ok(n)) if n > 0) && self.held.is_empty() {
                self.screening = true;
            }
            poll
        }
    }

    impl<Io: AsyncWrite + Unpin> AsyncWrite for Watched<Io> {
        fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            let poll = Pin::new(&mut self.io).poll_write(cx, buf);
            self.wrote(poll)
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
            self.wrote(poll)
        }

        fn is_write_vectored(&self) -> bool {
            self.io.is_write_vectored()
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.io).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.io).poll_shutdown(cx)
        }
    }

    impl ActixStream for Watched<TcpStream> {
        fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
            ActixStream::poll_read_ready(&self.io, cx)
        }

        fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
            ActixStream::poll_write_ready(&self.io, cx)
        }
    }

    /// Readiness is the TCP socket's: awc's client boxes the stream as plain AsyncRead +
    /// AsyncWrite and never asks; `Connector::connector` only requires the trait.
    impl ActixStream for Watched<TlsStream<TcpStream>> {
        fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
            ActixStream::poll_read_ready(self.io.get_ref().0, cx)
        }

        fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
            ActixStream::poll_write_ready(self.io.get_ref().0, cx)
        }
    }
}

#[cfg(test)]
mod tests {
    use contract::fault::{Certificate, Fault, TlsFaultUpstream};

    use super::*;

    /// One call through a worker's client, on an actix runtime as a worker has.
    fn call_tls(certificate: Certificate) -> Result<u64, UpstreamError> {
        call_tls_with(certificate, Fault::Ok(5))
    }

    fn call_tls_with(certificate: Certificate, fault: Fault) -> Result<u64, UpstreamError> {
        let upstream = TlsFaultUpstream::start(certificate, fault).unwrap();
        let config = upstream.config();
        let tls = config.upstream_tls().unwrap();
        actix_rt::System::new().block_on(async {
            let client = client(&config, tls);
            call(&client, &config, as_called(&config.upstream).sleep_url(None)).await
        })
    }

    /// `calls` calls in a row through a worker's client, to an upstream that answers each
    /// request it reads with `answer` and keeps the connection open (it closes after an
    /// answer that asks for the close); with the connections the upstream accepted.
    fn call_raw(answer: &'static [u8], calls: usize) -> (Vec<Result<u64, UpstreamError>>, usize) {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let config = Config::for_upstream(Upstream::at(listener.local_addr().unwrap()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while stream.read(&mut byte).is_ok_and(|n| n == 1) {
                        head.push(byte[0]);
                        if head.ends_with(b"\r\n\r\n") {
                            head.clear();
                            if stream.write_all(answer).is_err() || answer.starts_with(b"HTTP/1.0") {
                                break;
                            }
                        }
                    }
                });
            }
        });
        let outcomes = actix_rt::System::new().block_on(async {
            let client = client(&config, None);
            let mut outcomes = Vec::new();
            for _ in 0..calls {
                outcomes.push(call(&client, &config, config.upstream.sleep_url(None)).await);
            }
            outcomes
        });
        (outcomes, accepted.load(Ordering::SeqCst))
    }

    #[test]
    fn interim_answers_before_the_200_are_skipped_and_the_connection_is_reused() {
        for answer in [
            &b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"[..],
            b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        ] {
            // Before: a 502, "upstream answered HTTP 100" (103).
            let (outcomes, connections) = call_raw(answer, 3);
            assert_eq!(outcomes, [Ok(5), Ok(5), Ok(5)], "{:?}", String::from_utf8_lossy(answer));
            assert_eq!(connections, 1, "{:?}", String::from_utf8_lossy(answer));
        }
    }

    #[test]
    fn a_204_is_0_bytes_whatever_its_content_length_says() {
        // Before: 5 bytes, the ones after the head.
        let (outcomes, _) = call_raw(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", 2);
        assert_eq!(outcomes, [Ok(0), Ok(0)]);
    }

    #[test]
    fn a_body_error_names_the_framing_the_upstream_used_and_an_http_1_0_body_ends_at_the_close() {
        // Before: "chunked body ended by a close before its last chunk".
        let (outcomes, _) = call_raw(b"HTTP/1.0 200 OK\r\n\r\nhello", 1);
        assert_eq!(outcomes, [Ok(5)]);
        let broken = |answer: &'static [u8]| match call_raw(answer, 1).0.remove(0) {
            Err(UpstreamError::Broken(message)) => message,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(answer)),
        };
        let short = broken(b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nhello");
        assert!(!short.contains("chunk") && short.contains("5 of its 10"), "{short}");
        let cut = broken(b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
        assert!(cut.contains("chunked"), "{cut}");
        let unframed = broken(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello");
        assert!(!unframed.contains("chunk") && unframed.contains("close"), "{unframed}");
    }

    #[test]
    fn an_https_call_returns_the_body_length() {
        assert_eq!(call_tls(Certificate::Trusted), Ok(5));
    }

    #[test]
    fn a_body_cut_short_over_tls_is_broken() {
        for fault in [Fault::ShortBody, Fault::ChunkedWithoutLastChunk, Fault::ResetMidBody] {
            let outcome = call_tls_with(Certificate::Trusted, fault);
            assert!(matches!(outcome, Err(UpstreamError::Broken(_))), "{fault:?}: {outcome:?}");
        }
    }

    #[test]
    fn an_https_upstream_is_called_as_http_with_its_port() {
        let called = |url: &str| as_called(&Upstream::parse(url).unwrap()).base().to_owned();
        assert_eq!(called("https://127.0.0.1:8443"), "http://127.0.0.1:8443");
        assert_eq!(called("https://localhost/api"), "http://localhost:443/api");
        assert_eq!(called("https://[::1]:9/a/b"), "http://[::1]:9/a/b");
        assert_eq!(called("http://localhost"), "http://localhost");
    }

    #[test]
    fn an_untrusted_ca_is_a_tls_failure() {
        let outcome = call_tls(Certificate::UntrustedCa);
        assert!(matches!(&outcome, Err(UpstreamError::Tls(m)) if m.contains("UnknownIssuer")), "{outcome:?}");
    }

    #[test]
    fn awc_errors_map_to_their_kind() {
        let refused = SendRequestError::Connect(ConnectError::Io(io::Error::from(io::ErrorKind::ConnectionRefused)));
        assert!(matches!(send_error(refused, 5), UpstreamError::Connect(_)));
        assert_eq!(send_error(SendRequestError::Timeout, 5), UpstreamError::Timeout(5));
        assert_eq!(send_error(SendRequestError::Connect(ConnectError::Timeout), 5), UpstreamError::Timeout(5));
        let reset = SendRequestError::Send(io::Error::from(io::ErrorKind::ConnectionReset));
        assert!(matches!(send_error(reset, 5), UpstreamError::Broken(_)));
        assert!(matches!(payload_error(PayloadError::Incomplete(None), 5), UpstreamError::Broken(_)));
    }

    #[test]
    fn only_a_close_delimited_http_1_1_body_is_unframed() {
        let headers = |pairs: &[(header::HeaderName, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(name.clone(), header::HeaderValue::from_static(value));
            }
            map
        };
        let length = headers(&[(header::CONTENT_LENGTH, "12")]);
        assert_eq!(framing(Version::HTTP_11, &length), Ok(Framing::Length(12)));
        let chunked = headers(&[(header::TRANSFER_ENCODING, "chunked")]);
        assert_eq!(framing(Version::HTTP_11, &chunked), Ok(Framing::Chunked));
        assert_eq!(framing(Version::HTTP_10, &headers(&[])), Ok(Framing::Close));
        assert!(matches!(framing(Version::HTTP_11, &headers(&[])), Err(UpstreamError::Broken(_))));
    }
}
