//! gosleep: the slow upstream of the benchmark (the Rust twin of the original Go server).
//!
//! Every `GET /sleep` waits `ms` milliseconds on a tokio timer, then answers a body of
//! `bytes` bytes sliced from one shared buffer. It must never be the bottleneck: a
//! sleeping request costs one timer entry and one socket, so tens of thousands can wait
//! at once on two cores. `/stats` counts connections and requests, which is how the
//! servers' tests prove connection reuse (or its absence).
//!
//! With `--tls-cert/--tls-key` or `--tls-self-signed` it serves the same over HTTPS
//! (HTTP/1.1, TLS 1.3 and 1.2, sessions resumed unless `--tls-no-resumption`), on the shared
//! hyper loop's TLS option, and `/stats` counts the handshakes too: the upstream of the
//! "HTTPS upstream" runs (issue 28).
//!
//! Run with: `cargo run --release -p gosleep -- --delay-ms 1000`

#[cfg(feature = "client")]
pub mod client;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use contract::hyper_serve::Handshake;
use contract::query::{self, MAX_MS, QueryError};
use contract::running::{self, Running};
use contract::tls::rustls::ServerConfig;
use contract::tls::{self, Authority, LOCAL_NAMES, Resume, TlsError};
use contract::{Upstream, hyper_serve};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Largest body `/sleep` serves (`bytes=` and `--body-bytes`): the largest upstream body a
/// server's call accepts, so every body gosleep can serve is one a server counts.
pub use contract::upstream::MAX_BODY_BYTES;

/// What every answer of gosleep says in `Server:`.
pub const SERVER_HEADER: &str = "gosleep";

/// How long a stopping gosleep lets sleeping requests finish before it exits anyway (its
/// own limit; the servers' is [`running::DRAIN_LIMIT`]).
pub const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Command line of gosleep (docs/contract.md, "Running gosleep by hand"). Its help opens with what
/// gosleep is, under its own name, as every server's does.
#[derive(Debug, Clone, Parser)]
#[command(
    version,
    about = "gosleep: the benchmark's slow upstream on hyper 1 (every GET /sleep waits --delay-ms on a tokio timer, \
             then answers --body-bytes bytes)",
    long_about = None,
    group(clap::ArgGroup::new("tls").args(["tls_cert", "tls_self_signed"]).multiple(false))
)]
pub struct Config {
    /// Address to listen on; 127.0.0.1 unless you ask for another (port 0: ephemeral,
    /// the bound address is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8090", value_parser = contract::config::parse_listen)]
    pub listen: SocketAddr,

    /// Sleep of a `/sleep` request that gives no `ms`, in milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=MAX_MS))]
    pub delay_ms: u64,

    /// Body size of a `/sleep` answer that gives no `bytes`.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(0..=MAX_BODY_BYTES))]
    pub body_bytes: u64,

    /// Tokio worker threads, 1..=10000 (default: one per CPU).
    #[arg(long, value_parser = contract::config::parse_threads)]
    pub threads: Option<NonZeroUsize>,

    /// Serve HTTPS with this certificate chain (PEM, the leaf first); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve HTTPS with a CA made at start (ECDSA P-256) and a leaf for localhost,
    /// 127.0.0.1 and ::1, and write the CA's certificate (PEM) to CA_FILE: what servers then
    /// take as --upstream-ca. No openssl needed.
    #[arg(long, value_name = "CA_FILE", conflicts_with = "tls_key")]
    pub tls_self_signed: Option<PathBuf>,

    /// Over HTTPS, keep no TLS session and send no ticket: every handshake is full.
    /// Default: sessions resume (TLS 1.3 and 1.2 tickets, TLS 1.2 session IDs).
    #[arg(long, requires = "tls")]
    pub tls_no_resumption: bool,
}

impl Default for Config {
    /// The defaults, on an ephemeral port of 127.0.0.1.
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            delay_ms: 1000,
            body_bytes: 64,
            threads: None,
            tls_cert: None,
            tls_key: None,
            tls_self_signed: None,
            tls_no_resumption: false,
        }
    }
}

/// The name gosleep's self-signed CA carries.
const SELF_SIGNED_CA_NAME: &str = "gosleep self-signed CA";

impl Config {
    /// Parses this process's arguments, and sets up the TLS they ask for
    /// ([`Config::server_tls`]); `--help`, `--version` and a bad flag end the process as clap
    /// does, a bad flag with status 2. Unusable TLS material is a bad flag too: refused
    /// here, naming the file, before anything starts.
    pub fn parse_checked() -> (Self, Option<Arc<ServerConfig>>) {
        let mut command = <Self as clap::CommandFactory>::command();
        let matches = command.get_matches_mut();
        let config = <Self as clap::FromArgMatches>::from_arg_matches(&matches)
            .unwrap_or_else(|e| e.format(&mut command).exit());
        match config.server_tls() {
            Ok(tls) => (config, tls),
            Err(e) => command.error(clap::error::ErrorKind::ValueValidation, e).exit(),
        }
    }

    /// The TLS server config of these flags: `None` for plain HTTP. `--tls-self-signed`
    /// makes its CA and leaf here and writes the CA's PEM to its file.
    pub fn server_tls(&self) -> Result<Option<Arc<ServerConfig>>, ServerTlsError> {
        let resume = if self.tls_no_resumption { Resume::Off } else { Resume::On };
        if let Some(ca_file) = &self.tls_self_signed {
            let ca = Authority::new(SELF_SIGNED_CA_NAME)?;
            let leaf = ca.leaf(&LOCAL_NAMES)?;
            std::fs::write(ca_file, ca.pem())
                .map_err(|source| ServerTlsError::WriteCa { path: ca_file.clone(), source })?;
            return Ok(Some(tls::server_config(leaf.chain, leaf.key, resume)?));
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(tls::server_config_from_files(cert, key, resume)?)),
            (None, None) => Ok(None),
            (Some(_), None) => Err(ServerTlsError::Missing("--tls-cert needs --tls-key")),
            (None, Some(_)) => Err(ServerTlsError::Missing("--tls-key needs --tls-cert")),
        }
    }
}

/// Why gosleep's TLS flags give no server config: a bad flag, refused before start.
#[derive(Debug, Error)]
pub enum ServerTlsError {
    /// A PEM file that cannot be used (missing, no certificate, no key, a key that does not
    /// fit the certificate), or a certificate that could not be made.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// `--tls-self-signed`'s CA file could not be written.
    #[error("--tls-self-signed {}: cannot write the CA certificate: {source}", path.display())]
    WriteCa {
        /// The CA file named.
        path: PathBuf,
        /// Why it could not be written.
        source: io::Error,
    },
    /// Half of `--tls-cert/--tls-key` (a [`Config`] built in code; clap refuses it itself).
    #[error("{0}")]
    Missing(&'static str),
}

impl From<ServerTlsError> for io::Error {
    fn from(e: ServerTlsError) -> Self {
        io::Error::new(io::ErrorKind::InvalidInput, e)
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
    /// Over HTTPS: full TLS handshakes (no session resumed) since start (or the last reset).
    #[serde(default)]
    pub tls_handshakes_full: u64,
    /// Over HTTPS: handshakes that resumed a session since start (or the last reset).
    #[serde(default)]
    pub tls_handshakes_resumed: u64,
    /// Over HTTPS: handshakes that failed, were abandoned or timed out (a plaintext client
    /// on the TLS port, say) since start (or the last reset).
    #[serde(default)]
    pub tls_failures: u64,
}

#[derive(Default)]
struct Counters {
    connections_accepted: AtomicU64,
    connections_open: AtomicU64,
    requests: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    tls_handshakes_full: AtomicU64,
    tls_handshakes_resumed: AtomicU64,
    tls_failures: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> Stats {
        Stats {
            connections_accepted: self.connections_accepted.load(Ordering::Relaxed),
            connections_open: self.connections_open.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            max_in_flight: self.max_in_flight.load(Ordering::Relaxed),
            tls_handshakes_full: self.tls_handshakes_full.load(Ordering::Relaxed),
            tls_handshakes_resumed: self.tls_handshakes_resumed.load(Ordering::Relaxed),
            tls_failures: self.tls_failures.load(Ordering::Relaxed),
        }
    }

    /// Counts a connection's TLS handshake as it ended.
    fn handshake(&self, handshake: Handshake) {
        let counter = match handshake {
            Handshake::Full => &self.tls_handshakes_full,
            Handshake::Resumed => &self.tls_handshakes_resumed,
            Handshake::Failed => &self.tls_failures,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Zeroes the cumulative counters. The gauges (`connections_open`, `in_flight`) keep
    /// counting what is really open, and the peak restarts from the current level.
    fn reset(&self) {
        self.connections_accepted.store(0, Ordering::Relaxed);
        self.requests.store(0, Ordering::Relaxed);
        self.tls_handshakes_full.store(0, Ordering::Relaxed);
        self.tls_handshakes_resumed.store(0, Ordering::Relaxed);
        self.tls_failures.store(0, Ordering::Relaxed);
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
    headers.insert(header::SERVER, HeaderValue::from_static(SERVER_HEADER));
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
/// lets sleeping requests finish for at most [`DRAIN_LIMIT`]. Over HTTPS with `tls`
/// ([`Config::server_tls`]), plain HTTP without.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: &Config,
    tls: Option<Arc<ServerConfig>>,
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
    let mut http = hyper_serve::Http1::new("gosleep", SERVER_HEADER, DRAIN_LIMIT);
    if let Some(tls) = tls {
        let app = Arc::clone(&app);
        http = http.with_tls(tls, move |handshake| app.counters.handshake(handshake));
    }
    http.serve(listener, make_service, shutdown).await
}

/// Starts gosleep on its own runtime in a background thread (binds first, so errors and
/// the real port of `--listen ...:0` come back here). What every test runs: TLS flags are
/// set up here ([`Config::server_tls`]), their errors returned as `InvalidInput`.
pub fn start(config: Config) -> io::Result<Running> {
    let tls = config.server_tls()?;
    start_with(config, tls)
}

/// [`start`] with the TLS config already set up (the binary's [`Config::parse_checked`]).
pub fn start_with(config: Config, tls: Option<Arc<ServerConfig>>) -> io::Result<Running> {
    let threads = config.threads.map_or_else(bench_sys::available_cpus, NonZeroUsize::get);
    let https = tls.is_some();
    let running = running::spawn_tokio("gosleep", config.listen, threads, move |listener, shutdown| async move {
        serve(listener, &config, tls, shutdown).await
    })?;
    Ok(if https { running.with_tls() } else { running })
}

/// This gosleep as a server's `--upstream`.
pub fn upstream(gosleep: &Running) -> Upstream {
    Upstream::at(gosleep.addr())
}

/// This gosleep, serving HTTPS, as a server's `--upstream`: `https://localhost:PORT` when
/// it listens on 127.0.0.1 (the name its self-signed leaf is checked against), else its IP.
pub fn https_upstream(gosleep: &Running) -> Upstream {
    let addr = gosleep.addr();
    let url = match addr.ip() {
        IpAddr::V4(Ipv4Addr::LOCALHOST) => format!("https://localhost:{}", addr.port()),
        _ => format!("https://{addr}"),
    };
    Upstream::parse(&url).unwrap_or_else(|e| panic!("{url}: {e}"))
}
