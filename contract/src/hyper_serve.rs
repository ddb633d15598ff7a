//! The hyper 1 accept loop shared by gosleep, server-hyper, server-axum and server-warp
//! (feature `hyper`).
//!
//! What a framework would otherwise do, done on purpose and once: accept on a listener that
//! was bound with a 4096 backlog, set TCP_NODELAY, survive accept errors (EMFILE and friends
//! back off instead of ending the loop or spinning a core, logged at most once a second),
//! serve HTTP/1.1 keep-alive connections within the head limits of [`crate::limits`], log
//! each request at debug ([`crate::request_log`]), and on shutdown stop accepting, close
//! every connection that has no request in flight at once, and let requests in flight
//! finish within a bounded drain.
//!
//! With [`Http1::with_tls`] the same loop serves HTTPS (gosleep's `--tls-*` flags): each
//! connection's task makes the TLS handshake, bounded by the head timeout, then serves
//! HTTP/1.1 on it as on a plain socket. Without it nothing per connection or per request
//! changes: the plain path is the one the servers are benchmarked on.
//!
//! axum and warp are served here too (a `Router` through hyper-util's
//! `TowerToHyperService`, a filter through `warp::service`), as their docs suggest for
//! custom hyper settings: `axum::serve` and warp's `run` expose no hyper builder, so neither
//! could set the head limits. The framework code (router, filters) is still what answers.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::ServerConfig;
use rustls::server::ServerConnection;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::head_clock::{ConnState, HeadIo, InFlight, PeerReset, ResetWatch};
use crate::limits::{HEAD_TIMEOUT, MAX_HEAD_BYTES, MAX_HEADERS};
use crate::request_log::RequestLog;
use bench_sys::AcceptErrors;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The shared HTTP/1.1 loop: [`Http1::serve`] serves a listener under the name its log lines
/// carry, with the drain limit of its stop, over TLS once given [`Http1::with_tls`].
#[derive(Debug, Clone)]
pub struct Http1 {
    name: &'static str,
    /// The `Server:` of the answers the loop writes itself (a refused head's).
    server_header: &'static str,
    drain_limit: Duration,
    head_timeout: Duration,
    tls: Option<Tls>,
}

/// How a connection's TLS handshake ended, as [`Http1::with_tls`] reports each one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// A full handshake (a HelloRetryRequest included): no session resumed.
    Full,
    /// An earlier session resumed (by ticket or session ID).
    Resumed,
    /// The handshake failed, was abandoned by the client, or outlasted the head timeout
    /// (a plaintext client on the TLS port, say); the connection is closed.
    Failed,
}

impl Handshake {
    /// The kind of a completed handshake.
    fn of(connection: &ServerConnection) -> Self {
        match connection.handshake_kind() {
            Some(rustls::HandshakeKind::Resumed) => Self::Resumed,
            _ => Self::Full,
        }
    }
}

/// The TLS side of a loop: the acceptor, and who hears of each handshake.
#[derive(Clone)]
struct Tls {
    acceptor: TlsAcceptor,
    on_handshake: Arc<dyn Fn(Handshake) + Send + Sync>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// The handshake on an accepted `stream`, given at most `limit`; reports how it ended.
    async fn handshake(&self, stream: TcpStream, limit: Duration) -> Option<TlsStream<TcpStream>> {
        match tokio::time::timeout(limit, self.acceptor.accept(stream)).await {
            Ok(Ok(stream)) => {
                (self.on_handshake)(Handshake::of(stream.get_ref().1));
                Some(stream)
            }
            Ok(Err(_)) | Err(_) => {
                (self.on_handshake)(Handshake::Failed);
                None
            }
        }
    }
}

impl Http1 {
    /// The loop for the binary `name`, waiting at most `drain_limit` for requests in flight
    /// when it stops; heads time out after [`HEAD_TIMEOUT`].
    pub fn new(name: &'static str, server_header: &'static str, drain_limit: Duration) -> Self {
        Self { name, server_header, drain_limit, head_timeout: HEAD_TIMEOUT, tls: None }
    }

    /// Serves HTTPS instead: each accepted connection first makes a TLS handshake with
    /// `config`, in its own task, within the head timeout (the first head's clock runs from
    /// the accept, so handshake and head together get [`HEAD_TIMEOUT`]). `on_handshake`
    /// hears how each one ended; a failed one closes its connection and nothing else.
    pub fn with_tls(
        mut self,
        config: Arc<ServerConfig>,
        on_handshake: impl Fn(Handshake) + Send + Sync + 'static,
    ) -> Self {
        self.tls = Some(Tls { acceptor: TlsAcceptor::from(config), on_handshake: Arc::new(on_handshake) });
        self
    }

    /// Serves HTTP/1.1 on `listener` until `shutdown` completes, then stops accepting, closes
    /// the connections with no request in flight, and waits at most the drain limit for the
    /// others. `make_service` is called once per accepted connection; the service it returns
    /// is dropped when that connection ends (so a guard captured in it can count open
    /// connections).
    ///
    /// Heads follow [`crate::limits`]: a request line that fills [`MAX_HEAD_BYTES`] on its
    /// own is 414 (the head screen's, [`HeadIo::screening_heads`]: hyper's 414 is only for
    /// a URI over 64 KiB), any other head over [`MAX_HEAD_BYTES`] or [`MAX_HEADERS`] is
    /// hyper's 431, each then closed; a head not complete [`HEAD_TIMEOUT`] after its first
    /// byte (after the accept, for a connection's first request) closes the connection
    /// without an answer. The screen also refuses (400) what hyper would hand on to the
    /// framework but the contract refuses: a raw `#`, a `CONNECT host:port` or `*` target,
    /// a missing or second Host, Content-Length with Transfer-Encoding.
    pub async fn serve<M, S, B>(
        self,
        listener: tokio::net::TcpListener,
        mut make_service: M,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()>
    where
        M: FnMut() -> S,
        S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let Self { name, server_header, drain_limit, head_timeout, tls } = self;
        let mut http = hyper::server::conn::http1::Builder::new();
        // No hyper timer, so no header_read_timeout: hyper's starts whenever the connection
        // waits for a head, idle keep-alive time included, and would close the pooled idle
        // connections a benchmark's clients keep between runs (Go's net/http server keeps them
        // too). `HeadIo` times a head from its first byte instead, without a timer per request.
        http.max_header_size(MAX_HEAD_BYTES).max_headers(MAX_HEADERS);
        let graceful = GracefulShutdown::new();
        let stopping = Arc::new(AtomicBool::new(false));
        let mut errors = AcceptErrors::new(name);
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                biased;
                () = &mut shutdown => break,
                accepted = listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // The loop goes on after any accept error; only shutdown ends it.
                    if let Some(pause) = errors.failed(&e) {
                        tokio::time::sleep(pause).await;
                    }
                    continue;
                }
            };
            // Answers are small and latency is what is measured: no Nagle delay.
            let _ = stream.set_nodelay(true);
            let state = ConnState::new(head_timeout);
            if let Some(tls) = &tls {
                let (tls, http, watcher) = (tls.clone(), http.clone(), graceful.watcher());
                let stopping = Arc::clone(&stopping);
                let service = Tracked { inner: make_service(), state: Arc::clone(&state) };
                // The handshake in the connection's task, so a slow client never holds the
                // accept loop; a stop waits for it (the watcher), at most the head timeout.
                tokio::spawn(async move {
                    let Some(stream) = tls.handshake(stream, head_timeout).await else { return };
                    let io = HeadIo::new(stream, state)
                        .screening_heads(server_header)
                        .ending_unserved_on(stopping)
                        .probing_fin();
                    let _ = watcher.watch(http.serve_connection(TokioIo::new(io), service)).await;
                });
                continue;
            }
            // hyper's graceful shutdown closes a keep-alive connection that is idle (or holds
            // part of its next head) at once, but one still on its first head counts as busy
            // to it: ending those at the stop keeps a silent client from holding it the whole
            // drain.
            // A client's FIN mid-request is probed: hyper alone would take it for the client
            // gone (so a half-closed client got no answer), and holding it for the answer made
            // these servers work on for clients that had closed altogether and recover from an
            // overload 10x slower (docs/benchmarks/servers-recovery.md, 2026-12-07).
            let io = HeadIo::new(stream, Arc::clone(&state))
                .screening_heads(server_header)
                .ending_unserved_on(Arc::clone(&stopping))
                .probing_fin();
            let service = Tracked { inner: make_service(), state };
            let conn = graceful.watch(http.serve_connection(TokioIo::new(io), service));
            tokio::spawn(async move {
                // A client that resets, sends garbage or stalls ends its own connection, nothing more.
                let _ = conn.await;
            });
        }
        drop(listener);
        // Read before the connections are woken by `graceful.shutdown()`.
        stopping.store(true, Relaxed);
        if tokio::time::timeout(drain_limit, graceful.shutdown()).await.is_err() {
            tracing::warn!("{name}: still draining after {drain_limit:?}, dropping requests in flight");
        }
        Ok(())
    }
}

/// Over TLS the probe is written as application data and the reset watched on the socket.
impl PeerReset for TlsStream<TcpStream> {
    fn reset(&self) -> bool {
        self.get_ref().0.reset()
    }

    fn watch_reset(&self) -> Option<ResetWatch> {
        self.get_ref().0.watch_reset()
    }
}

/// The connection's service, counting its requests in flight and logging each one
/// ([`RequestLog`]: one debug line, nothing with debug off).
struct Tracked<S> {
    inner: S,
    state: Arc<ConnState>,
}

impl<S, B> Service<Request<Incoming>> for Tracked<S>
where
    S: Service<Request<Incoming>, Response = Response<B>>,
{
    type Response = Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        // RFC 9110 15.2: no 1xx to an HTTP/1.0 client.
        let guard = Some(InFlight::awaiting(&self.state, req.version() >= hyper::Version::HTTP_11));
        let log = Some(RequestLog::begin(req.method(), req.uri()));
        TrackedFuture { inner: self.inner.call(req), guard, log }
    }
}

pin_project_lite::pin_project! {
    /// The service's future, holding the request's [`InFlight`] until it hands it on to
    /// the response body, and its log until the response is ready.
    struct TrackedFuture<F> {
        #[pin]
        inner: F,
        guard: Option<InFlight>,
        log: Option<RequestLog>,
    }
}

impl<F, B, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<TrackedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(this.inner.poll(cx))?;
        if let Some(log) = this.log.take() {
            log.end(response.status().as_u16());
        }
        let mut guard = this.guard.take();
        if let Some(guard) = guard.as_mut() {
            guard.answer_begun();
        }
        Poll::Ready(Ok(response.map(|inner| TrackedBody { inner, _guard: guard })))
    }
}

pin_project_lite::pin_project! {
    /// A response body that ends its request's [`InFlight`] when hyper drops it.
    struct TrackedBody<B> {
        #[pin]
        inner: B,
        _guard: Option<InFlight>,
    }
}

impl<B: Body> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::net::SocketAddr;

    use bytes::Bytes;
    use http_body_util::Full;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    /// Short enough for a test, long enough that a busy machine reads a head well within it.
    const TEST_HEAD_TIMEOUT: Duration = Duration::from_millis(500);

    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n";

    /// How long `/slow` takes to answer.
    const SLOW: Duration = Duration::from_millis(200);

    /// Serves `ok` with [`TEST_HEAD_TIMEOUT`] until the returned sender is dropped.
    async fn start() -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        start_with(|http| http).await
    }

    /// [`start`], with `tls` applied to the loop first.
    async fn start_with(tls: impl FnOnce(Http1) -> Http1) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let (addr, stop, _slow) = start_counting(tls).await;
        (addr, stop)
    }

    /// How many `/slow` answers have begun, how many ran to their end, and how many have
    /// settled: ended, or had their work dropped before the end.
    #[derive(Debug, Default)]
    struct Slow {
        begun: std::sync::atomic::AtomicUsize,
        ended: std::sync::atomic::AtomicUsize,
        settled: std::sync::atomic::AtomicUsize,
    }

    /// Counts a `/slow` answer settled when its work goes, run to its end or dropped.
    struct Settles(Arc<Slow>);

    impl Drop for Settles {
        fn drop(&mut self) {
            // Release: whoever sees the answer settled also sees its `ended`.
            self.0.settled.fetch_add(1, std::sync::atomic::Ordering::Release);
        }
    }

    impl Slow {
        /// Returns once `n` answers have begun (a test failure after 10 s).
        async fn wait_until_begun(&self, n: usize) {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while self.begun.load(Relaxed) < n {
                assert!(tokio::time::Instant::now() < deadline, "the request was never served");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }

        /// After a client left mid-answer: waits until every begun answer has settled (its
        /// work ended or was dropped; a test failure after 10 s), then checks that `ended`
        /// of them ran to their end, the answers served before the client left.
        async fn assert_ended_after_leaving(&self, ended: usize) {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while self.settled.load(std::sync::atomic::Ordering::Acquire) < self.begun.load(Relaxed) {
                assert!(tokio::time::Instant::now() < deadline, "an answer neither ended nor was dropped in 10 s");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(self.ended.load(Relaxed), ended, "the work went on for a client that had left");
        }
    }

    /// [`start_with`], counting the `/slow` answers.
    async fn start_counting(
        tls: impl FnOnce(Http1) -> Http1,
    ) -> (SocketAddr, tokio::sync::oneshot::Sender<()>, Arc<Slow>) {
        let listener = bench_sys::bind_tokio_listener("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let slow = Arc::new(Slow::default());
        let counts = Arc::clone(&slow);
        let make_service = move || {
            let counts = Arc::clone(&counts);
            hyper::service::service_fn(move |req: Request<Incoming>| {
                let counts = Arc::clone(&counts);
                async move {
                    // An answer that is not ready at once, as an upstream call's is not.
                    if req.uri().path() == "/slow" {
                        counts.begun.fetch_add(1, Relaxed);
                        let _settles = Settles(Arc::clone(&counts));
                        tokio::time::sleep(SLOW).await;
                        counts.ended.fetch_add(1, Relaxed);
                    }
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
                }
            })
        };
        let shutdown = async move {
            let _ = stopped.await;
        };
        let http = tls(Http1 { head_timeout: TEST_HEAD_TIMEOUT, ..Http1::new("test", "test", Duration::from_secs(5)) });
        tokio::spawn(http.serve(listener, make_service, shutdown));
        (addr, stop, slow)
    }

    /// Reads until the server closes (true) or `within` passes (false); answers are skipped.
    async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
        let mut buf = [0u8; 1024];
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }

    async fn read_answer(stream: &mut TcpStream) -> String {
        let mut buf = [0u8; 1024];
        let n =
            tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await.expect("answer").expect("read");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// Sends `request` on a new connection and reads until the server closes (a test
    /// failure after 10 s): everything it answered.
    async fn answer_then_close(addr: SocketAddr, request: &[u8]) -> String {
        let mut conn = TcpStream::connect(addr).await.expect("connect");
        // The server may answer and close before reading all of a long request.
        let _ = conn.write_all(request).await;
        read_until_closed(&mut conn).await
    }

    /// Sends `request`, shuts the write side, and reads until the server closes.
    async fn half_closed_answer(addr: SocketAddr, request: &[u8]) -> String {
        let mut conn = TcpStream::connect(addr).await.expect("connect");
        conn.write_all(request).await.expect("send");
        conn.shutdown().await.expect("half-close");
        read_until_closed(&mut conn).await
    }

    /// Everything the server sends on `conn` until it closes (a test failure after 10 s).
    async fn read_until_closed(conn: &mut TcpStream) -> String {
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer))
            .await
            .expect("closed within 10 s")
            .expect("read");
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test]
    async fn a_client_that_half_closes_mid_request_gets_a_100_continue_then_its_answer_then_the_close() {
        let (addr, _stop) = start().await;
        let answer = half_closed_answer(addr, b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"), "{answer:?}");
        assert!(answer.ends_with("\r\n\r\nok"), "{answer:?}");
    }

    #[tokio::test]
    async fn a_client_that_closes_its_socket_mid_request_has_its_work_dropped() {
        let (addr, _stop, slow) = start_counting(|http| http).await;
        let mut conn = TcpStream::connect(addr).await.expect("connect");
        conn.write_all(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n").await.expect("send");
        slow.wait_until_begun(1).await;
        drop(conn);
        slow.assert_ended_after_leaving(0).await;
    }

    /// RFC 9110 15.2: a server must not send a 1xx to an HTTP/1.0 client, so its FIN cannot
    /// be probed and is taken for the client gone.
    #[tokio::test]
    async fn an_http_1_0_client_that_half_closes_mid_request_is_sent_no_1xx_and_taken_for_gone() {
        let (addr, _stop, slow) = start_counting(|http| http).await;
        let answer = half_closed_answer(addr, b"GET /slow HTTP/1.0\r\n\r\n").await;
        assert!(answer.is_empty(), "{answer:?}");
        assert_eq!(slow.begun.load(Relaxed), 1, "the request was never served");
        slow.assert_ended_after_leaving(0).await;
    }

    #[tokio::test]
    async fn a_client_that_half_closes_after_its_answer_began_gets_no_1xx() {
        let (addr, _stop) = start().await;
        // /health answers at once: by the FIN the answer is out, and only the close follows.
        let answer = half_closed_answer(addr, b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
        assert!(answer.ends_with("\r\n\r\nok"), "{answer:?}");
    }

    #[tokio::test]
    async fn a_request_line_over_the_head_limit_is_414_at_any_length_then_closed() {
        let (addr, _stop) = start().await;
        for len in [17_000, 70_000, 130_000] {
            let request = format!("GET /{} HTTP/1.1\r\nHost: test\r\n\r\n", "a".repeat(len));
            let answer = answer_then_close(addr, request.as_bytes()).await;
            assert!(answer.starts_with("HTTP/1.1 414 "), "{len}: {answer:?}");
            assert!(answer.ends_with(r#"{"error":"request line longer than 16384 bytes"}"#), "{len}: {answer:?}");
        }
    }

    #[tokio::test]
    async fn headers_over_the_head_limit_stay_431() {
        let (addr, _stop) = start().await;
        let request = format!("GET / HTTP/1.1\r\nHost: test\r\nX-Big: {}\r\n\r\n", "a".repeat(17_000));
        let answer = answer_then_close(addr, request.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 431 "), "{answer:?}");
    }

    #[tokio::test]
    async fn heads_the_contract_refuses_and_hyper_serves_are_400_then_closed() {
        let (addr, _stop) = start().await;
        for request in [
            &b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n"[..],
            b"OPTIONS * HTTP/1.1\r\nHost: test\r\n\r\n",
            b"GET /health#x HTTP/1.1\r\nHost: test\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        ] {
            let answer = answer_then_close(addr, request).await;
            assert!(answer.starts_with("HTTP/1.1 400 "), "{:?}: {answer:?}", String::from_utf8_lossy(request));
            assert!(answer.contains(r#"{"error":"#), "{answer:?}");
        }
    }

    /// Framing hyper refuses on its own (RFC 9112 6.1, 6.3): checked, so that a hyper
    /// upgrade that starts accepting it shows here.
    #[tokio::test]
    async fn a_transfer_coding_not_ending_in_chunked_or_a_bad_content_length_is_400_then_closed() {
        let (addr, _stop) = start().await;
        for framing in [
            "Transfer-Encoding: gzip",
            "Transfer-Encoding: chunked, identity",
            "Content-Length: 18446744073709551616",
            "Content-Length: 5x",
            "Content-Length: -1",
        ] {
            let request = format!("GET / HTTP/1.1\r\nHost: test\r\n{framing}\r\n\r\n");
            let answer = answer_then_close(addr, request.as_bytes()).await;
            assert!(answer.starts_with("HTTP/1.1 400 "), "{framing}: {answer:?}");
        }
    }

    #[tokio::test]
    async fn absolute_form_an_empty_line_first_an_empty_chunked_body_and_http_1_0_without_host_are_served() {
        let (addr, _stop) = start().await;
        let mut conn = TcpStream::connect(addr).await.expect("connect");
        for request in [
            &b"GET http://other/health HTTP/1.1\r\nHost: other\r\n\r\n"[..],
            b"\r\nGET / HTTP/1.1\r\nHost: test\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ] {
            conn.write_all(request).await.expect("send");
            let answer = read_answer(&mut conn).await;
            assert!(answer.starts_with("HTTP/1.1 200"), "{:?}: {answer:?}", String::from_utf8_lossy(request));
        }
        let answer = answer_then_close(addr, b"GET / HTTP/1.0\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.0 200"), "{answer:?}");
    }

    #[tokio::test]
    async fn a_later_head_is_timed_from_its_first_byte_not_from_the_idle_time_before_it() {
        let (addr, _stop) = start().await;
        let mut conn = TcpStream::connect(addr).await.expect("connect");
        conn.write_all(REQUEST).await.expect("send");
        assert!(read_answer(&mut conn).await.starts_with("HTTP/1.1 200"));
        // Idle for several head timeouts (the wait is the test's subject): no head has
        // begun, so nothing is timed.
        tokio::time::sleep(TEST_HEAD_TIMEOUT * 4).await;
        conn.write_all(b"GET / HTTP/1.1\r\n").await.expect("send half a head");
        // Not cut off for the idle time: the rest of the head, sent at once, is answered...
        conn.write_all(b"Host: test\r\n\r\n").await.expect("send the rest");
        assert!(read_answer(&mut conn).await.starts_with("HTTP/1.1 200"));
        // ...while a head left half-sent is cut off once the timeout has passed.
        conn.write_all(b"GET / HTTP/1.1\r\n").await.expect("send half a head");
        assert!(closed_within(&mut conn, TEST_HEAD_TIMEOUT * 20).await, "a half head was not timed out");
    }

    #[tokio::test]
    async fn a_silent_connection_is_timed_from_the_accept() {
        let (addr, _stop) = start().await;
        let mut conn = TcpStream::connect(addr).await.expect("connect");
        assert!(closed_within(&mut conn, TEST_HEAD_TIMEOUT * 20).await, "a silent connection was not timed out");
    }

    /// The loop over TLS with a leaf of a fresh CA, reporting handshakes on the channel;
    /// and a client config that trusts that CA.
    async fn start_tls() -> (
        SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::sync::mpsc::UnboundedReceiver<Handshake>,
        Arc<rustls::ClientConfig>,
        Arc<Slow>,
    ) {
        use crate::tls::{Authority, CaFile, LOCAL_NAMES, Resume};
        let ca = Authority::new("test CA").expect("CA");
        let leaf = ca.leaf(&LOCAL_NAMES).expect("leaf");
        let config = crate::tls::server_config(leaf.chain, leaf.key, Resume::On).expect("server config");
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_path = dir.path().join("ca.pem");
        std::fs::write(&ca_path, ca.pem()).expect("write CA");
        let client = crate::tls::client_config(Some(&CaFile::load(&ca_path).expect("CA file")), Resume::On)
            .expect("client config");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (addr, stop, slow) = start_counting(|http| {
            http.with_tls(config, move |h| {
                let _ = tx.send(h);
            })
        })
        .await;
        (addr, stop, rx, client, slow)
    }

    #[tokio::test]
    async fn over_tls_a_handshake_is_reported_then_http_is_served() {
        let (addr, _stop, mut handshakes, client, _slow) = start_tls().await;
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let mut tls = tokio_rustls::TlsConnector::from(client).connect(name, tcp).await.expect("handshake");
        tls.write_all(REQUEST).await.expect("send");
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), tls.read(&mut buf)).await.expect("answer").expect("read");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", String::from_utf8_lossy(&buf[..n]));
        assert_eq!(handshakes.recv().await, Some(Handshake::Full));
    }

    #[tokio::test]
    async fn over_tls_a_half_closed_client_gets_its_answer_and_a_client_that_left_has_its_work_dropped() {
        let (addr, _stop, _handshakes, client, slow) = start_tls().await;
        let connector = tokio_rustls::TlsConnector::from(client);
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let slow_request = b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n";
        let mut tls =
            connector.connect(name.clone(), TcpStream::connect(addr).await.expect("connect")).await.expect("tls");
        tls.write_all(slow_request).await.expect("send");
        // close_notify, then the FIN.
        tls.shutdown().await.expect("half-close");
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut answer))
            .await
            .expect("closed within 10 s")
            .expect("read");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"), "{answer:?}");
        assert!(answer.ends_with("\r\n\r\nok"), "{answer:?}");

        let mut tls = connector.connect(name, TcpStream::connect(addr).await.expect("connect")).await.expect("tls");
        tls.write_all(slow_request).await.expect("send");
        slow.wait_until_begun(2).await;
        drop(tls);
        slow.assert_ended_after_leaving(1).await;
    }

    #[tokio::test]
    async fn over_tls_a_silent_client_is_a_failed_handshake_within_the_head_timeout() {
        let (addr, _stop, mut handshakes, _client, _slow) = start_tls().await;
        let mut conn = TcpStream::connect(addr).await.expect("connect");
        assert!(closed_within(&mut conn, TEST_HEAD_TIMEOUT * 20).await, "a silent TLS client was not timed out");
        assert_eq!(handshakes.recv().await, Some(Handshake::Failed));
    }
}
