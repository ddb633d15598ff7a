//! gosleep: the slow upstream of the benchmark (the Rust twin of the original Go server).
//!
//! Every `GET /sleep` waits `ms` milliseconds on a tokio timer, then answers a body of
//! `bytes` bytes sliced from one shared buffer. It must never be the bottleneck: a
//! sleeping request costs one timer entry and one socket, so tens of thousands can wait
//! at once on two cores. `/stats` counts connections and requests, which is how the
//! servers' tests prove connection reuse (or its absence).
//!
//! Run with: `cargo run --release -p gosleep -- --delay-ms 1000`

#[cfg(feature = "client")]
pub mod client;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use server_common::query::{self, MAX_MS, QueryError};
use server_common::running::{self, Running};
use server_common::{Upstream, hyper_serve};

/// Largest body `/sleep` serves (`bytes=` and `--body-bytes`): the largest upstream body a
/// server's call accepts, so every body gosleep can serve is one a server counts.
pub use server_common::upstream::MAX_BODY_BYTES;

/// How long a stopping gosleep lets sleeping requests finish before it exits anyway (its
/// own limit; the servers' is [`running::DRAIN_LIMIT`]).
pub const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Command line of gosleep (README, "Running gosleep by hand"). Its help opens with what
/// gosleep is, under its own name, as every server's does.
#[derive(Debug, Clone, Parser)]
#[command(
    version,
    about = "gosleep: the benchmark's slow upstream on hyper 1 (every GET /sleep waits --delay-ms on a tokio timer, \
             then answers --body-bytes bytes)",
    long_about = None
)]
pub struct Config {
    /// Address to listen on; 127.0.0.1 unless you ask for another (port 0: ephemeral,
    /// the bound address is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8090", value_parser = server_common::config::parse_listen)]
    pub listen: SocketAddr,

    /// Sleep of a `/sleep` request that gives no `ms`, in milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=MAX_MS))]
    pub delay_ms: u64,

    /// Body size of a `/sleep` answer that gives no `bytes`.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(0..=MAX_BODY_BYTES))]
    pub body_bytes: u64,

    /// Tokio worker threads (default: one per CPU).
    #[arg(long)]
    pub threads: Option<NonZeroUsize>,
}

impl Default for Config {
    /// The defaults, on an ephemeral port of 127.0.0.1.
    fn default() -> Self {
        Self { listen: SocketAddr::from(([127, 0, 0, 1], 0)), delay_ms: 1000, body_bytes: 64, threads: None }
    }
}

/// A snapshot of the counters, as `GET /stats` serves it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// TCP connections accepted since start (or the last reset).
    pub connections_accepted: u64,
    /// TCP connections open now.
    pub connections_open: u64,
    /// `/sleep` requests received since start (or the last reset): the upstream calls.
    pub requests: u64,
    /// `/sleep` requests sleeping now.
    pub in_flight: u64,
    /// Largest `in_flight` seen since start (or the last reset).
    pub max_in_flight: u64,
}

#[derive(Default)]
struct Counters {
    connections_accepted: AtomicU64,
    connections_open: AtomicU64,
    requests: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> Stats {
        Stats {
            connections_accepted: self.connections_accepted.load(Ordering::Relaxed),
            connections_open: self.connections_open.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            max_in_flight: self.max_in_flight.load(Ordering::Relaxed),
        }
    }

    /// Zeroes the cumulative counters. The gauges (`connections_open`, `in_flight`) keep
    /// counting what is really open, and the peak restarts from the current level.
    fn reset(&self) {
        self.connections_accepted.store(0, Ordering::Relaxed);
        self.requests.store(0, Ordering::Relaxed);
        let now = self.in_flight.load(Ordering::Relaxed);
        self.max_in_flight.store(now, Ordering::Relaxed);
    }
}

/// Decrements a gauge when dropped, so a request or connection cancelled half-way (the
/// client went away) is still counted out.
struct Gauge<'a>(&'a AtomicU64);

impl<'a> Gauge<'a> {
    fn enter(gauge: &'a AtomicU64) -> (Self, u64) {
        let now = gauge.fetch_add(1, Ordering::Relaxed) + 1;
        (Self(gauge), now)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct App {
    counters: Counters,
    default_delay: Duration,
    /// The default body, sliced (no copy) for every answer up to its length.
    body: Bytes,
}

impl App {
    fn new(config: &Config) -> Self {
        Self {
            counters: Counters::default(),
            default_delay: Duration::from_millis(config.delay_ms),
            body: filler(config.body_bytes),
        }
    }

    /// `len` bytes of body without allocating per request: a slice of the default
    /// buffer, or of a 16 MiB one made the first time a request asks for more.
    fn body(&self, len: u64) -> Bytes {
        static LARGEST: OnceLock<Bytes> = OnceLock::new();
        let len = len as usize;
        if len <= self.body.len() {
            self.body.slice(..len)
        } else {
            LARGEST.get_or_init(|| filler(MAX_BODY_BYTES)).slice(..len)
        }
    }
}

fn filler(len: u64) -> Bytes {
    Bytes::from(vec![b'z'; len as usize])
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::SERVER, HeaderValue::from_static("gosleep"));
    response
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    reply(status, "text/plain; charset=utf-8", body)
}

fn bad_query(e: &QueryError) -> Reply {
    text(StatusCode::BAD_REQUEST, format!("{e}\n"))
}

fn wrong_method(allow: &'static str) -> Reply {
    let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

async fn handle(app: Arc<App>, req: Request<Incoming>) -> Result<Reply, Infallible> {
    let method = req.method();
    let reply = match req.uri().path() {
        "/sleep" if method == Method::GET => sleep(&app, req.uri().query()).await,
        "/health" if method == Method::GET => text(StatusCode::OK, "ok"),
        "/stats" if method == Method::GET => {
            let body = serde_json::to_vec(&app.counters.snapshot()).unwrap_or_default();
            reply(StatusCode::OK, "application/json", body)
        }
        "/stats/reset" if method == Method::POST => {
            app.counters.reset();
            text(StatusCode::OK, "reset\n")
        }
        "/sleep" | "/health" | "/stats" => wrong_method("GET"),
        "/stats/reset" => wrong_method("POST"),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    };
    Ok(reply)
}

async fn sleep(app: &App, query: Option<&str>) -> Reply {
    let counters = &app.counters;
    counters.requests.fetch_add(1, Ordering::Relaxed);
    let parsed = query::ms(query).and_then(|ms| Ok((ms, query::bounded(query, "bytes", 0, MAX_BODY_BYTES)?)));
    let (ms, bytes) = match parsed {
        Ok(p) => p,
        Err(e) => return bad_query(&e),
    };
    let delay = ms.map_or(app.default_delay, Duration::from_millis);
    let body = bytes.map_or_else(|| app.body.clone(), |b| app.body(b));
    {
        let (_sleeping, now) = Gauge::enter(&counters.in_flight);
        counters.max_in_flight.fetch_max(now, Ordering::Relaxed);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
    text(StatusCode::OK, body)
}

/// Counts a connection out when its service is dropped, i.e. when the connection ends.
struct OpenConnection(Arc<App>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.counters.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves gosleep on `listener` until `shutdown` completes, then stops accepting and
/// lets sleeping requests finish for at most [`DRAIN_LIMIT`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: &Config,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let app = Arc::new(App::new(config));
    let make_service = || {
        let counters = &app.counters;
        counters.connections_accepted.fetch_add(1, Ordering::Relaxed);
        counters.connections_open.fetch_add(1, Ordering::Relaxed);
        let open = Arc::new(OpenConnection(Arc::clone(&app)));
        hyper::service::service_fn(move |req| handle(Arc::clone(&open.0), req))
    };
    hyper_serve::Http1::new("gosleep", DRAIN_LIMIT).serve(listener, make_service, shutdown).await
}

/// Starts gosleep on its own runtime in a background thread (binds first, so errors and
/// the real port of `--listen ...:0` come back here). What the binary and every test run.
pub fn start(config: Config) -> io::Result<Running> {
    let threads = config.threads.map_or_else(bench_sys::available_cpus, NonZeroUsize::get);
    running::spawn_tokio("gosleep", config.listen, threads, move |listener, shutdown| async move {
        serve(listener, &config, shutdown).await
    })
}

/// This gosleep as a server's `--upstream`.
pub fn upstream(gosleep: &Running) -> Upstream {
    Upstream::at(gosleep.addr())
}
