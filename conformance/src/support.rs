//! What every case file shares: a runtime, gosleep, the server under test, a GET.

use std::future::Future;
use std::net::SocketAddr;

use contract::{Config, ErrorReply, ProxyReply, Running};
use testkit::{self, Conn, Response};

use crate::Subject;

/// How long a stop, a forced exit or a close may take and still count as "at once": well
/// under [`HEAD_TIMEOUT`](contract::limits::HEAD_TIMEOUT) and the drain's grace,
/// which is what a held-up one would take.
pub(crate) const AT_ONCE: std::time::Duration = std::time::Duration::from_secs(5);

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("test runtime")
}

pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

/// 200 with `{"calls": calls, "bytes": bytes}`.
pub(crate) fn assert_reply(subject: &Subject, r: &Response, calls: usize, bytes: u64, what: &str) {
    assert_eq!(r.status, 200, "{}: {what}: {}", subject.name, r.text());
    assert_eq!(r.json::<ProxyReply>(), ProxyReply { calls, bytes }, "{}: {what}", subject.name);
}

/// `status` with a JSON error; returns the error's text.
pub(crate) fn assert_error(subject: &Subject, r: &Response, status: u16, what: &str) -> String {
    assert_eq!(r.status, status, "{}: {what}: {}", subject.name, r.text());
    let error = r.json::<ErrorReply>().error;
    assert!(!error.is_empty(), "{}: {what}: empty error", subject.name);
    error
}

/// gosleep on an ephemeral port, answering after `delay_ms` by default.
pub(crate) fn gosleep(delay_ms: u64) -> Running {
    gosleep::start(gosleep::Config { delay_ms, ..gosleep::Config::default() }).expect("gosleep starts")
}

/// The server under test with `config`.
pub(crate) fn server(subject: &Subject, config: Config) -> Running {
    subject.start(config).unwrap_or_else(|e| panic!("{} does not start: {e}", subject.name))
}

/// The server under test with the contract's defaults against `upstream`.
pub(crate) fn server_for(subject: &Subject, upstream: &Running) -> Running {
    server(subject, Config::for_upstream(gosleep::upstream(upstream)))
}

/// `GET target` on a fresh connection; panics if there is no answer.
pub(crate) async fn get(addr: SocketAddr, target: &str) -> Response {
    testkit::get(addr, target).await.unwrap_or_else(|e| panic!("GET {target}: {e}"))
}

/// Sends `request` as it is on a fresh connection and reads one answer; panics if there is
/// none. Returns the connection too, for what follows on it.
pub(crate) async fn exchange(subject: &Subject, addr: SocketAddr, request: &[u8], what: &str) -> (Response, Conn) {
    let mut conn = Conn::open(addr).await.expect("connect");
    conn.send_raw(request).await.unwrap_or_else(|e| panic!("{}: {what}: send: {e}", subject.name));
    let r = conn.read_response().await.unwrap_or_else(|e| panic!("{}: {what}: no answer: {e}", subject.name));
    (r, conn)
}

/// `GET /health` on a fresh connection answers 200: the server is still serving.
pub(crate) async fn assert_still_serving(subject: &Subject, addr: SocketAddr, after: &str) {
    assert_eq!(get(addr, "/health").await.status, 200, "{}: down after {after}", subject.name);
}
