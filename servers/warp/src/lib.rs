//! server-warp: warp filters on a multi-thread tokio runtime, one shared reqwest client.
//!
//! The same async model as server-axum (a task per request, no thread while waiting on
//! the upstream, `/multiple` joined on the handler's task, one reqwest pool per process),
//! with routing done the warp way: each endpoint is a chain of filters, and what no
//! filter accepts comes back as a rejection that one `recover` turns into the contract's
//! JSON 404 or 405.
//!
//! Run with: `cargo run -p server-warp -- --upstream http://127.0.0.1:8090`

use std::convert::Infallible;
use std::io;
use std::sync::Arc;

use contract::reqwest_client::ReqwestProxy;
use contract::running::{self, Running};
use contract::{Answer, BenchError, Config, hyper_serve, paths};
use hyper_util::service::TowerToHyperService;
use warp::filters::path::FullPath;
use warp::http::header::{ALLOW, CONTENT_TYPE, SERVER};
use warp::http::{HeaderValue, StatusCode};
use warp::reject::{MethodNotAllowed, Rejection};
use warp::reply::Response;
use warp::{Filter, Reply};

/// What this server is, in the line its `--help` opens with (after `server-warp: `).
pub const ABOUT: &str = "the benchmark's /single and /multiple proxy on warp 0.4 filters, reqwest as the upstream client (async: a task per request on --threads tokio workers)";

/// The `Server:` header of every response.
pub const SERVER_HEADER: &str = "warp";

/// The whole service as one filter: the three endpoints, JSON 404/405 from the
/// rejections, and the `Server` header on every response.
pub fn routes(state: Arc<ReqwestProxy>) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let state = warp::any().map(move || Arc::clone(&state));
    let single = endpoint(paths::SINGLE).and(raw_query()).and(state.clone()).then(single);
    let multiple = endpoint(paths::MULTIPLE).and(raw_query()).and(state).then(multiple);
    let health = endpoint(paths::HEALTH).map(|| respond(Answer::health()));
    single
        .or(multiple)
        .unify()
        .or(health)
        .unify()
        .recover(rejection)
        .unify()
        .with(warp::reply::with::header(SERVER, SERVER_HEADER))
}

/// Starts server-warp on its own tokio runtime (`--threads` workers, default one per
/// CPU) and returns once the listener is bound.
///
/// Served by contract's hyper loop (`hyper_serve`) through `warp::service`, as warp's
/// docs suggest for custom hyper settings: warp's own `run` has no hyper builder, so it
/// could not apply the head limits. The loop also gives the backlog, TCP_NODELAY and the
/// graceful stop.
pub fn start(config: Config) -> io::Result<Running> {
    let state = ReqwestProxy::new(&config)?;
    running::spawn_tokio("server-warp", config.listen, config.threads_or_cpus(), move |listener, shutdown| {
        let filter = routes(state);
        let make_service = move || TowerToHyperService::new(warp::service(filter.clone()));
        hyper_serve::Http1::new("server-warp", SERVER_HEADER, running::DRAIN_LIMIT).serve(
            listener,
            make_service,
            shutdown,
        )
    })
}

/// `GET {path}` exactly. The path is matched before the method, so a wrong method on a
/// known path is a `MethodNotAllowed` rejection (405) and any other path only `not_found`
/// (404); warp prefers the 405 when it combines the rejections of all the routes.
///
/// The path is compared whole rather than with `warp::path("single").and(warp::path::end())`:
/// that chain also accepts `/single/` (warp consumes the slash after a matched segment),
/// and the contract's paths are exact (`/single/` is 404 in every server).
fn endpoint(path: &'static str) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::path::full()
        .and_then(move |full: FullPath| async move {
            if full.as_str() == path { Ok(()) } else { Err(warp::reject::not_found()) }
        })
        .untuple_one()
        .and(warp::get())
}

/// The raw query string, `None` when the request has none (`warp::query::raw` rejects
/// that case; the contract treats it as "all defaults").
fn raw_query() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Copy {
    warp::query::raw().map(Some).or(warp::any().map(|| None)).unify()
}

async fn single(query: Option<String>, app: Arc<ReqwestProxy>) -> Response {
    respond(app.single(query.as_deref()).await)
}

async fn multiple(query: Option<String>, app: Arc<ReqwestProxy>) -> Response {
    respond(app.multiple(query.as_deref()).await)
}

/// Rejections of the routing filters as the contract's errors. Only routing can reject
/// (the query is parsed in the handlers, by contract), so anything else is passed
/// on to warp's default handling unchanged.
async fn rejection(rejection: Rejection) -> Result<Response, Rejection> {
    if rejection.find::<MethodNotAllowed>().is_some() {
        Ok(respond(BenchError::MethodNotAllowed))
    } else if rejection.is_not_found() {
        Ok(respond(BenchError::NotFound))
    } else {
        Err(rejection)
    }
}

/// The one place an answer becomes a warp response (the `Server` header is the filter's).
fn respond(answer: impl Into<Answer>) -> Response {
    let answer = answer.into();
    let mut response = Response::new(answer.body.into());
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(answer.content_type));
    if let Some(allow) = answer.allow {
        response.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
    }
    response
}
