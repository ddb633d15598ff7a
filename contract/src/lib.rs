//! The bench contract, in one place, for every server in this workspace.
//!
//! Each server crate (rouille, axum, actix, warp, hyper, std) holds only what is specific
//! to its framework and upstream client; everything a reader would otherwise compare
//! across six files lives here: the CLI ([`Config`]), the endpoints ([`paths`]), query
//! validation ([`query`]), the JSON bodies and the one mapping from failure kind to status
//! ([`reply`]), the endpoints as functions over one upstream call ([`proxy`]; the blocking
//! servers' whole handler is `proxy::blocking`, and their fan-out threads [`cached_pool`]),
//! the upstream URL and failure kinds ([`upstream`]), starting and stopping ([`running`]),
//! logging ([`log`]) and the per-request debug line ([`request_log`]). gosleep uses the same
//! query helpers and hyper loop, so the `ms` limit is defined once. Sockets, the fd limit
//! and signals are bench-sys's (`sys/`), shared with loadgen. docs/ARCHITECTURE.md draws
//! the crates and how a request goes through them.
//!
//! There is deliberately no web-framework dependency here.

pub mod cached_pool;
pub mod config;
#[cfg(any(test, feature = "fault"))]
pub mod fault;
#[cfg(feature = "head-clock")]
pub mod head_clock;
#[cfg(feature = "head-clock")]
pub mod head_screen;
#[cfg(feature = "hyper")]
pub mod hyper_serve;
pub mod limits;
pub mod log;
pub mod proxy;
pub mod query;
pub mod reply;
pub mod request_log;
#[cfg(feature = "reqwest")]
pub mod reqwest_client;
pub mod running;
pub mod upstream;
#[cfg(feature = "ureq")]
pub mod ureq_client;

/// TLS, shared with gosleep and loadgen: the `bench-tls` crate.
pub use bench_tls as tls;
pub use config::Config;
pub use query::{MultipleQuery, QueryError, SingleQuery};
pub use reply::{Answer, BenchError, ErrorReply, ProxyReply};
pub use running::Running;
pub use upstream::{Upstream, UpstreamError, UpstreamUrlError};

/// The request paths of the contract (docs/ARCHITECTURE.md, "The contract").
pub mod paths {
    /// One upstream call.
    pub const SINGLE: &str = "/single";
    /// N concurrent upstream calls.
    pub const MULTIPLE: &str = "/multiple";
    /// Liveness; touches nothing upstream.
    pub const HEALTH: &str = "/health";
}

/// The body of `GET /health`.
pub const HEALTH_BODY: &str = "ok";

/// Content-Type of every JSON answer (bodies and errors alike).
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// The `Allow` header of a 405: every endpoint of the contract is GET-only.
pub const ALLOW: &str = "GET";

/// Content-Type of `/health`.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; charset=utf-8";
