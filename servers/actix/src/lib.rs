//! server-actix: actor-style workers, the tornado analog.
//!
//! actix-web runs `--threads` workers (default: one per CPU), each its own single-threaded
//! runtime with its own state, sharing nothing: every worker builds its own awc client
//! (and so its own pool of keep-alive upstream connections) in the app factory, and the
//! listener spreads connections across workers. Within a worker, a request waiting on
//! gosleep is a parked future, so one thread holds thousands of them; `/multiple` joins
//! its calls on the handler's own task, the way a tornado coroutine gathers its fetches.
//!
//! Run with: cargo run -p server-actix

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use actix_http::error::DispatchError;
use actix_http::{HttpService, Request};
use actix_rt::net::TcpStream;
use actix_server::GracefulShutdownSignal;
use actix_service::{IntoServiceFactory, ServiceFactoryExt, fn_service, map_config};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Extensions, RequestHead, Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::http::{KeepAlive, StatusCode, Version, header};
use actix_web::{App, HttpRequest, HttpResponse, middleware, web};
use awc::error::{ConnectError, PayloadError, SendRequestError};
use futures_util::StreamExt;
use server_common::head_clock::{ConnState, HeadIo, InFlight};
use server_common::limits::{HEAD_TIMEOUT, MAX_HEAD_BYTES, MAX_HEADERS};
use server_common::request_log::RequestLog;
use server_common::running::DRAIN_LIMIT;
use server_common::upstream::BodyCount;
use server_common::{Answer, BenchError, Config, Running, UpstreamError, paths, proxy};

/// What this server is, in the line its `--help` opens with (after `server-actix: `).
pub const ABOUT: &str = "the benchmark's /single and /multiple proxy on actix-web 4, awc as the upstream client (async: one single-threaded worker per --threads)";

/// The `Server:` header of every response.
pub const SERVER_HEADER: &str = "actix-web";

/// How long actix waits for a client to take its last answer before a close: `HttpServer`'s
/// default, kept now that the server is built without it.
const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Binds `config.listen` (backlog [`bench_sys::LISTEN_BACKLOG`]), starts the actix `System` and
/// its workers on a thread of their own, and returns once the server runs. Stopping the
/// [`Running`] is actix's graceful stop (`ServerHandle::stop(true)`): the listener
/// closes, workers finish the connections they hold (up to [`DRAIN_LIMIT`], then actix
/// drops what is left), and the thread ends. "Finish" is actix's (actix-server's
/// graceful-stop signal, handed to actix-http as `HttpServer` does): an idle keep-alive
/// connection is closed at once, a busy one after its current request.
pub fn start(config: Config) -> io::Result<Running> {
    // Bound here rather than by actix's `bind`, so that the backlog is ours (4096,
    // not std's 128) and a bind error or the real port (port 0) comes back at once.
    let listener = bench_sys::bind_listener(config.listen)?;
    let addr = listener.local_addr()?;
    let workers = config.threads_or_cpus();
    let (ready_tx, ready_rx) = mpsc::channel();

    let thread = thread::Builder::new().name("actix-system".into()).spawn(move || {
        actix_rt::System::new().block_on(async move {
            let builder = Server::build()
                .workers(workers)
                // Applies only to sockets actix binds itself; the listener above already has
                // this backlog. Kept so that a switch to `.bind` would not silently drop to 128.
                .backlog(bench_sys::LISTEN_BACKLOG.unsigned_abs())
                // server_common's main handles SIGTERM/SIGINT and calls stop below.
                .disable_signals()
                .shutdown_timeout(DRAIN_LIMIT.as_secs());
            // What closes idle keep-alive connections at once on a graceful stop.
            let stopping = builder.graceful_shutdown_signal();
            let server = builder.listen(format!("actix-web-service-{addr}"), listener, move || {
                // Runs once per worker, on that worker's thread: its state is its own.
                let app = App::new()
                    .app_data(web::Data::new(Worker::new(&config)))
                    // Innermost: what the contract answers, as the other servers log it.
                    .wrap(middleware::from_fn(log_request))
                    .wrap(middleware::from_fn(head_limits))
                    // Around the head limits: their answers carry it too.
                    .wrap(middleware::DefaultHeaders::new().add((header::SERVER, SERVER_HEADER)))
                    // Outermost: a request is in flight from the moment it reaches the App.
                    .wrap(middleware::from_fn(in_flight))
                    .service(endpoint(paths::SINGLE, web::get().to(single)))
                    .service(endpoint(paths::MULTIPLE, web::get().to(multiple)))
                    .service(endpoint(paths::HEALTH, web::get().to(health)))
                    // actix's own 404 has no body; the contract's is JSON.
                    .default_service(web::to(|| async { respond(BenchError::NotFound) }));
                connection_service(app, addr, stopping.clone())
            });
            match server {
                Ok(server) => {
                    let server = server.run();
                    let _ = ready_tx.send(Ok(server.handle()));
                    // Resolves when the server has fully stopped.
                    server.await
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    Ok(())
                }
            }
        })
    })?;

    let handle = match ready_rx.recv() {
        Ok(Ok(handle)) => handle,
        Ok(Err(e)) => {
            let _ = thread.join();
            return Err(e);
        }
        Err(_) => return Err(join(thread).err().unwrap_or_else(|| io::Error::other("actix server did not start"))),
    };
    Ok(Running::new(addr, move || {
        // `stop` sends the command itself; its future only waits for completion, which
        // joining the thread does too (and needs no runtime on the caller's side).
        drop(handle.stop(true));
        join(thread)
    }))
}

/// What one worker does with each accepted connection: what `HttpServer::listen` does
/// (HTTP/1.1, the same settings), but with the socket wrapped in a [`HeadIo`] first.
/// `HttpServer` has no hook for that, and actix-http times only a connection's first head
/// (its client request timeout, armed once per connection); the [`HeadIo`] times every
/// head, the first from the accept and each later one from its first byte, so a client
/// cannot hold a connection by trickling one. A head past the timeout closes the
/// connection without an answer, as on the hyper servers.
fn connection_service<A, S, B>(
    app: A,
    addr: SocketAddr,
    stopping: GracefulShutdownSignal,
) -> impl ServiceFactory<TcpStream, Config = (), Response = (), Error = DispatchError, InitError = ()>
where
    A: IntoServiceFactory<S, Request>,
    S: ServiceFactory<
            Request,
            Config = AppConfig,
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    S::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    // HttpServer's settings, ours where we set them: no TCP_NODELAY (HttpServer sets it only
    // when asked), its 1 s client disconnect timeout.
    let http = HttpService::build()
        .graceful_shutdown_signal(move || {
            let stopping = stopping.clone();
            async move { stopping.notified().await }
        })
        // actix's keep-alive timer (5 s by default) would close idle pooled connections,
        // which the contract keeps open however long they idle.
        .keep_alive(KeepAlive::Os)
        // Off: actix's head timer (a connection's first head only, answered 408) is set from
        // a clock it refreshes every 500 ms, so it fires up to that much before its timeout.
        // The HeadIo times every head instead, the first from the accept, and never early.
        .client_request_timeout(Duration::ZERO)
        .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
        .local_addr(addr)
        .on_connect_ext(|io: &HeadIo<TcpStream>, data: &mut Extensions| {
            data.insert(Arc::clone(io.state()));
        })
        // The App's config is its host and address for URL generation, which it does not do.
        .h1(map_config(app.into_factory().map_err(|e| e.error_response()), |()| AppConfig::default()));
    fn_service(|stream: TcpStream| async move {
        let peer = stream.peer_addr().ok();
        Ok((HeadIo::new(stream, ConnState::new(HEAD_TIMEOUT)), peer))
    })
    .and_then(http)
}

/// Marks the request in flight on its connection (see [`connection_service`]) until its
/// response is ready. Ready is done enough: the bodies here are small and whole, so actix
/// writes them at once, and a later head is timed only from its first byte anyway.
async fn in_flight(
    request: ServiceRequest,
    next: middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let _in_flight = request.conn_data::<Arc<ConnState>>().map(InFlight::begin);
    next.call(request).await
}

/// One debug line per request ([`RequestLog`]), as in every server.
async fn log_request(
    request: ServiceRequest,
    next: middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let log = RequestLog::begin(request.method(), request.uri());
    let response = next.call(request).await;
    let status = match &response {
        Ok(response) => response.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    log.end(status.as_u16());
    response
}

/// The contract's head limits, where actix's own are looser: actix-http reads heads up to
/// 128 KiB and 96 header fields (431 past them), so a longer head than
/// [`MAX_HEAD_BYTES`] or more fields than [`MAX_HEADERS`] is answered here, from the
/// parsed head: 414 when the request line alone is over the limit, else 431; either way
/// the connection closes, as hyper's does.
async fn head_limits(
    request: ServiceRequest,
    next: middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    match over_head_limits(request.head()) {
        None => next.call(request).await.map(ServiceResponse::map_into_left_body),
        Some(status) => {
            let response = HttpResponse::build(status).force_close().finish();
            Ok(request.into_response(response).map_into_right_body())
        }
    }
}

/// The status a head over the contract's limits is answered with. Its size is counted back
/// from the parsed head as a client writes it (`NAME: value` fields, CRLF line ends).
fn over_head_limits(head: &RequestHead) -> Option<StatusCode> {
    // "METHOD SP target SP HTTP/1.1 CRLF", the target as sent (origin form: path and query).
    let target = head.uri.authority().map_or(0, |a| a.as_str().len())
        + head.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    let request_line = head.method.as_str().len() + target + 12;
    if request_line > MAX_HEAD_BYTES {
        return Some(StatusCode::URI_TOO_LONG);
    }
    let fields = head.headers().len();
    let field_bytes: usize = head.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    (fields > MAX_HEADERS || request_line + field_bytes + 2 > MAX_HEAD_BYTES)
        .then_some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
}

fn join(thread: thread::JoinHandle<io::Result<()>>) -> io::Result<()> {
    thread.join().unwrap_or_else(|_| Err(io::Error::other("actix system thread panicked")))
}

/// A contract path: `route` for GET, and the contract's 405 for any other method.
fn endpoint(path: &str, route: actix_web::Route) -> actix_web::Resource {
    web::resource(path).route(route).default_service(web::to(|| async { respond(BenchError::MethodNotAllowed) }))
}

/// The state of one worker: the config and that worker's upstream client.
struct Worker {
    config: Config,
    client: awc::Client,
}

impl Worker {
    fn new(config: &Config) -> Self {
        let timeout = config.upstream_timeout();
        // limit(0): no cap on connections. awc's default of 100 per worker would queue
        // calls beyond it, capping `/multiple` at 100 / fanout concurrent requests per
        // worker. The connect timeout (5 s by default) gets the whole call's budget; the
        // call itself is bounded in `call`. Reuse needs nothing more: awc pools
        // keep-alive connections by default (idle up to 15 s).
        let connector = awc::Connector::new().connector(eof::connector()).limit(0).timeout(timeout);
        let client = awc::Client::builder()
            .connector(connector)
            // awc's 5 s default would cut calls the contract allows 30 s; `call` bounds
            // the whole exchange (head and body) with `--upstream-timeout-ms` instead.
            .disable_timeout()
            // A proxy reports a redirect as the upstream's answer (non-2xx: 502).
            .disable_redirects()
            .finish();
        Self { config: config.clone(), client }
    }

    /// One upstream call: GET `url`, read the whole body, return its length; all of it
    /// within `--upstream-timeout-ms`.
    async fn call(&self, url: String) -> Result<u64, UpstreamError> {
        let request = self.client.get(url);
        // No reuse: `Connection: close` on the request. awc then closes the connection
        // after the response instead of returning it to the pool (and gosleep closes its
        // end too), so every call opens a fresh one.
        let request = if self.config.no_reuse { request.force_close() } else { request };
        let timeout_ms = self.config.upstream_timeout_ms;
        let exchange = async {
            let mut response = request.send().await.map_err(|e| send_error(e, timeout_ms))?;
            if !response.status().is_success() {
                return Err(UpstreamError::Status(response.status().as_u16()));
            }
            let length = framing(response.version(), response.status(), response.headers())?;
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
            // body (no length) the socket's end-of-file before the last chunk is.
            if closed && length.is_none() {
                return Err(UpstreamError::Broken("chunked body ended by a close before its last chunk".into()));
            }
            count.finish()
        };
        actix_rt::time::timeout(self.config.upstream_timeout(), exchange)
            .await
            .unwrap_or(Err(UpstreamError::Timeout(timeout_ms)))
    }
}

async fn single(request: HttpRequest, worker: web::Data<Worker>) -> HttpResponse {
    let upstream = &worker.config.upstream;
    respond(proxy::single(request.uri().query(), upstream, |url| worker.call(url)).await)
}

async fn multiple(request: HttpRequest, worker: web::Data<Worker>) -> HttpResponse {
    let (fanout, upstream) = (worker.config.fanout, &worker.config.upstream);
    respond(proxy::multiple(request.uri().query(), fanout, upstream, |url| worker.call(url)).await)
}

async fn health() -> HttpResponse {
    respond(Answer::health())
}

/// The one place an answer becomes an actix response (the `Server` header is the
/// `DefaultHeaders` middleware's).
fn respond(answer: impl Into<Answer>) -> HttpResponse {
    let answer = answer.into();
    let mut response =
        HttpResponse::build(StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    response.content_type(answer.content_type);
    if let Some(allow) = answer.allow {
        response.insert_header((header::ALLOW, allow));
    }
    response.body(answer.body)
}

/// Maps a failure to send the request or read the response head. `timeout_ms` is the
/// per-call timeout (awc's connect timeout is set to the same budget).
fn send_error(e: SendRequestError, timeout_ms: u64) -> UpstreamError {
    match e {
        SendRequestError::Timeout | SendRequestError::Connect(ConnectError::Timeout) => {
            UpstreamError::Timeout(timeout_ms)
        }
        SendRequestError::Connect(e) => UpstreamError::Connect(e.to_string()),
        // Sending failed, or the response was cut short or malformed (e.g. a pooled
        // connection the upstream had closed).
        e => UpstreamError::Broken(e.to_string()),
    }
}

/// The Content-Length of a 2xx answer's body, or `None` for one awc frames itself
/// (chunked, or HTTP/1.0 read to the close); an HTTP/1.1 body framed by the close alone is
/// a failure. awc (actix-http 3) reads that body as empty, so counting it would answer 200
/// with 0 bytes: a wrong count, where a 502 says what happened.
fn framing(version: Version, status: StatusCode, headers: &HeaderMap) -> Result<Option<u64>, UpstreamError> {
    if let Some(length) = headers.get(header::CONTENT_LENGTH) {
        let length = length.to_str().ok().and_then(|l| l.trim().parse().ok());
        return length.map(Some).ok_or_else(|| UpstreamError::Broken("malformed Content-Length".into()));
    }
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    if chunked || version < Version::HTTP_11 || status == StatusCode::NO_CONTENT {
        Ok(None)
    } else {
        Err(UpstreamError::Broken("body delimited by the connection's close, which awc cannot read".into()))
    }
}

/// Maps a failure while reading the response body.
fn payload_error(e: PayloadError, timeout_ms: u64) -> UpstreamError {
    match e {
        PayloadError::Io(e) if e.kind() == io::ErrorKind::TimedOut => UpstreamError::Timeout(timeout_ms),
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
    use actix_tls::connect::{ConnectError, ConnectInfo, Connection, Connector, Resolver};
    use awc::http::Uri;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    thread_local! {
        /// Set by a [`Watched`] socket that read end-of-file during the poll in progress.
        static SEEN: Cell<bool> = const { Cell::new(false) };
    }

    /// awc's own TCP connector, its sockets wrapped in [`Watched`].
    pub(super) fn connector()
    -> impl Service<ConnectInfo<Uri>, Response = Connection<Uri, Watched>, Error = ConnectError> + Clone {
        Connector::new(Resolver::default()).service().map(|connection: Connection<Uri, TcpStream>| {
            let (io, connection) = connection.replace_io(());
            connection.replace_io(Watched(io)).1
        })
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

    /// An upstream socket that notes a read of end-of-file.
    #[derive(Debug)]
    pub(super) struct Watched(TcpStream);

    impl AsyncRead for Watched {
        fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            let before = buf.filled().len();
            let poll = Pin::new(&mut self.0).poll_read(cx, buf);
            if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() == before && buf.remaining() > 0 {
                SEEN.set(true);
            }
            poll
        }
    }

    impl AsyncWrite for Watched {
        fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.0).poll_write(cx, buf)
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
        }

        fn is_write_vectored(&self) -> bool {
            self.0.is_write_vectored()
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    impl ActixStream for Watched {
        fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
            ActixStream::poll_read_ready(&self.0, cx)
        }

        fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
            ActixStream::poll_write_ready(&self.0, cx)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let ok = StatusCode::OK;
        assert_eq!(framing(Version::HTTP_11, ok, &headers(&[(header::CONTENT_LENGTH, "12")])), Ok(Some(12)));
        assert_eq!(framing(Version::HTTP_11, ok, &headers(&[(header::TRANSFER_ENCODING, "chunked")])), Ok(None));
        assert_eq!(framing(Version::HTTP_10, ok, &headers(&[])), Ok(None));
        assert_eq!(framing(Version::HTTP_11, StatusCode::NO_CONTENT, &headers(&[])), Ok(None));
        assert!(matches!(framing(Version::HTTP_11, ok, &headers(&[])), Err(UpstreamError::Broken(_))));
    }

    #[test]
    fn errors_answer_their_status_as_json() {
        let r = respond(BenchError::MethodNotAllowed);
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers().get(header::ALLOW).and_then(|v| v.to_str().ok()), Some("GET"));
        let ct = r.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        assert_eq!(ct, Some(server_common::CONTENT_TYPE_JSON));
        assert_eq!(respond(BenchError::Upstream(UpstreamError::Timeout(1))).status(), StatusCode::GATEWAY_TIMEOUT);
    }
}
