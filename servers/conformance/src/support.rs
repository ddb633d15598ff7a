//! What every case file shares: a runtime, gosleep, the server under test, a GET.

use std::future::Future;
use std::net::SocketAddr;

use server_common::{Config, ErrorReply, ProxyReply, Running};
use testkit::{self, Response};

use crate::Subject;

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
