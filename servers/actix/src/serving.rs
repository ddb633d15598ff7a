//! How a worker serves a connection: actix-http with `HttpServer`'s settings, the socket
//! wrapped in the shared head clock, and the middlewares every request goes through (in
//! flight and its log line, the contract's head limits).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_http::error::DispatchError;
use actix_http::{HttpService, Request};
use actix_rt::net::TcpStream;
use actix_server::GracefulShutdownSignal;
use actix_service::{IntoServiceFactory, ServiceFactoryExt, fn_service, map_config};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Extensions, RequestHead, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::{KeepAlive, StatusCode};
use actix_web::{HttpResponse, middleware};
use contract::head_clock::{ConnState, HeadIo, InFlight};
use contract::limits::{HEAD_TIMEOUT, MAX_HEAD_BYTES, MAX_HEADERS};
use contract::request_log::RequestLog;

/// How long actix waits for a client to take its last answer before a close: `HttpServer`'s
/// default, kept now that the server is built without it.
const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// What one worker does with each accepted connection: what `HttpServer::listen` does
/// (HTTP/1.1, the same settings), but with the socket wrapped in a [`HeadIo`] first.
/// `HttpServer` has no hook for that, and actix-http times only a connection's first head
/// (its client request timeout, armed once per connection); the [`HeadIo`] times every
/// head, the first from the accept and each later one from its first byte, so a client
/// cannot hold a connection by trickling one. A head past the timeout closes the
/// connection without an answer, as on the hyper servers.
pub(crate) fn connection_service<A, S, B>(
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
        // The screen answers what actix-http misanswers or hides from the App: a request line
        // over the head limit (400 from actix-http past http's 64 KiB URI limit), a raw `#`
        // (dropped from the URI it hands on), a CONNECT or `OPTIONS *` target (404).
        Ok((HeadIo::new(stream, ConnState::new(HEAD_TIMEOUT)).screening_heads(crate::SERVER_HEADER), peer))
    })
    .and_then(http)
}

/// Marks the request in flight on its connection (see [`connection_service`]) until its
/// response is ready, and logs it ([`RequestLog`]: one debug line, as in every server,
/// nothing with debug off). Ready is done enough: the bodies here are small and whole, so
/// actix writes them at once, and a later head is timed only from its first byte anyway.
/// One middleware for both, so that a request pays for one layer, not two.
pub(crate) async fn in_flight(
    request: ServiceRequest,
    next: middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let _in_flight = request.conn_data::<Arc<ConnState>>().map(InFlight::begin);
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
/// [`MAX_HEAD_BYTES`] or more fields than [`MAX_HEADERS`] is answered 431 here, from the
/// parsed head, and the connection closes, as hyper's does. A request line alone over the
/// limit never gets here: the head screen (see [`connection_service`]) answers it 414.
pub(crate) async fn head_limits(
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
    let fields = head.headers().len();
    let field_bytes: usize = head.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    (fields > MAX_HEADERS || request_line + field_bytes + 2 > MAX_HEAD_BYTES)
        .then_some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
}
