//! server-axum: async axum on a multi-thread tokio runtime, one shared reqwest client
//! (the Starlette + httpx analog of the original experiment).
//!
//! Every request is a task on the runtime; while it waits on the upstream it costs a
//! socket and a parked future, no thread. `/multiple` joins its `n` upstream calls on the
//! handler's own task. Upstream connections come from one reqwest pool per process.
//!
//! Run with: `cargo run -p server-axum -- --upstream http://127.0.0.1:8090`

use std::io;
use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::header::{ALLOW, CONTENT_TYPE, SERVER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use contract::reqwest_client::ReqwestProxy;
use contract::running::{self, Running};
use contract::{Answer, BenchError, Config, hyper_serve, paths};
use hyper_util::service::TowerToHyperService;

/// What this server is, in the line its `--help` opens with (after `server-axum: `).
pub const ABOUT: &str = "the benchmark's /single and /multiple proxy on axum 0.8, reqwest as the upstream client (async: a task per request on --threads tokio workers)";

/// The `Server:` header of every response.
pub const SERVER_HEADER: &str = "axum";

/// The router of the contract: three GET endpoints, JSON 404 and 405, and the `Server`
/// header on every response (fallbacks included: the layer is added last).
pub fn app(state: Arc<ReqwestProxy>) -> Router {
    Router::new()
        .route(paths::SINGLE, get_only(single))
        .route(paths::MULTIPLE, get_only(multiple))
        .route(paths::HEALTH, get_only(health))
        // Registered after the routes: it applies to the method routers that exist.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(axum::middleware::map_response(server_header))
        .with_state(state)
}

/// Starts server-axum on its own tokio runtime (`--threads` workers, default one per
/// CPU) and returns once the listener is bound.
///
/// Served by contract's hyper loop (`hyper_serve`), as axum's docs suggest for
/// custom hyper settings: `axum::serve` has no hyper builder, so it could not apply the
/// head limits. The loop also gives the backlog, TCP_NODELAY and the graceful stop.
pub fn start(config: Config) -> io::Result<Running> {
    let state = ReqwestProxy::new(&config)?;
    running::spawn_tokio("server-axum", config.listen, config.threads_or_cpus(), move |listener, shutdown| {
        let router = app(state);
        let make_service = move || TowerToHyperService::new(router.clone());
        hyper_serve::Http1::new("server-axum", SERVER_HEADER, running::DRAIN_LIMIT).serve(
            listener,
            make_service,
            shutdown,
        )
    })
}

/// A GET-only method router. axum's `get` also answers HEAD (body stripped); the contract
/// answers 405 to every method but GET, so HEAD is routed to the 405 handler explicitly.
fn get_only<H, T>(handler: H) -> MethodRouter<Arc<ReqwestProxy>>
where
    H: axum::handler::Handler<T, Arc<ReqwestProxy>>,
    T: 'static,
{
    get(handler).head(method_not_allowed)
}

async fn single(State(app): State<Arc<ReqwestProxy>>, RawQuery(query): RawQuery) -> Response {
    respond(app.single(query.as_deref()).await)
}

async fn multiple(State(app): State<Arc<ReqwestProxy>>, RawQuery(query): RawQuery) -> Response {
    respond(app.multiple(query.as_deref()).await)
}

async fn health() -> Response {
    respond(Answer::health())
}

async fn not_found() -> Response {
    respond(BenchError::NotFound)
}

async fn method_not_allowed() -> Response {
    respond(BenchError::MethodNotAllowed)
}

/// The one place an answer becomes an axum response (the `Server` header is the layer's).
fn respond(answer: impl Into<Answer>) -> Response {
    let answer = answer.into();
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, [(CONTENT_TYPE, answer.content_type)], answer.body).into_response();
    if let Some(allow) = answer.allow {
        // Set here, axum keeps it (it would otherwise list "GET,HEAD" from the routes).
        response.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
    }
    response
}

async fn server_header(mut response: Response) -> Response {
    response.headers_mut().insert(SERVER, HeaderValue::from_static(SERVER_HEADER));
    response
}
