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

mod serving;
mod upstream;

use std::io;
use std::sync::{Arc, mpsc};
use std::thread;

use actix_tls::connect::rustls_0_23::reexports::ClientConfig;
use actix_web::dev::Server;
use actix_web::http::{StatusCode, header};
use actix_web::{App, HttpRequest, HttpResponse, middleware, web};
use contract::running::DRAIN_LIMIT;
use contract::{Answer, BenchError, Config, Running, UpstreamError, paths, proxy};
use serving::{connection_service, head_limits, in_flight};

/// What this server is, in the line its `--help` opens with (after `server-actix: `).
pub const ABOUT: &str = "the benchmark's /single and /multiple proxy on actix-web 4, awc as the upstream client (async: one single-threaded worker per --threads)";

/// The `Server:` header of every response.
pub const SERVER_HEADER: &str = "actix-web";

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
    // THE client config, built once: every worker's awc client shares it, and with it one
    // session store.
    let tls = config.upstream_tls().map_err(io::Error::other)?;
    let (ready_tx, ready_rx) = mpsc::channel();

    let thread = thread::Builder::new().name("actix-system".into()).spawn(move || {
        actix_rt::System::new().block_on(async move {
            let builder = Server::build()
                .workers(workers)
                // Applies only to sockets actix binds itself; the listener above already has
                // this backlog. Kept so that a switch to `.bind` would not silently drop to 128.
                .backlog(bench_sys::LISTEN_BACKLOG.unsigned_abs())
                // contract's main handles SIGTERM/SIGINT and calls stop below.
                .disable_signals()
                .shutdown_timeout(DRAIN_LIMIT.as_secs());
            // What closes idle keep-alive connections at once on a graceful stop.
            let stopping = builder.graceful_shutdown_signal();
            let server = builder.listen(format!("actix-web-service-{addr}"), listener, move || {
                // Runs once per worker, on that worker's thread: its state is its own.
                let app = App::new()
                    .app_data(web::Data::new(Worker::new(&config, tls.clone())))
                    .wrap(middleware::from_fn(head_limits))
                    // Around the head limits: their answers carry it too.
                    .wrap(middleware::DefaultHeaders::new().add((header::SERVER, SERVER_HEADER)))
                    // Outermost: a request is in flight (and timed for its log line) from the
                    // moment it reaches the App.
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
    /// The upstream as the client is handed it ([`upstream::as_called`]).
    called: contract::Upstream,
}

impl Worker {
    fn new(config: &Config, tls: Option<Arc<ClientConfig>>) -> Self {
        let called = upstream::as_called(&config.upstream);
        Self { config: config.clone(), client: upstream::client(config, tls), called }
    }

    /// One upstream call ([`upstream::call`]).
    async fn call(&self, url: String) -> Result<u64, UpstreamError> {
        upstream::call(&self.client, &self.config, url).await
    }
}

async fn single(request: HttpRequest, worker: web::Data<Worker>) -> HttpResponse {
    let upstream = &worker.called;
    respond(proxy::single(request.uri().query(), upstream, |url| worker.call(url)).await)
}

async fn multiple(request: HttpRequest, worker: web::Data<Worker>) -> HttpResponse {
    let (fanout, upstream) = (worker.config.fanout, &worker.called);
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

#[cfg(test)]
mod tests {
    use super::*;
    use contract::UpstreamError;

    #[test]
    fn errors_answer_their_status_as_json() {
        let r = respond(BenchError::MethodNotAllowed);
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers().get(header::ALLOW).and_then(|v| v.to_str().ok()), Some("GET"));
        let ct = r.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        assert_eq!(ct, Some(contract::CONTENT_TYPE_JSON));
        assert_eq!(respond(BenchError::Upstream(UpstreamError::Timeout(1))).status(), StatusCode::GATEWAY_TIMEOUT);
    }
}
