//! What RFC 9112 says server-rouille must serve or refuse (issue 29: S5, S6; the conformance
//! suite has the rest), black-box over raw sockets: the refusals of a head are the
//! workspace's copy of tiny_http (third_party/tiny_http/PATCHES.md).

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use contract::{Config, Running, Upstream};
use testkit::raw::{LAST, statuses};

/// How long a test waits for an answer or a close before it calls the server hung.
const WAIT: Duration = Duration::from_secs(30);

/// An upstream nobody listens on: for requests that never call it.
fn vacant() -> Upstream {
    Upstream::at(TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port"))
}

fn server(upstream: Upstream) -> Running {
    server_rouille::start(Config::for_upstream(upstream)).expect("server-rouille starts")
}

/// Sends `raw` on a fresh connection, and reads until the server closes it.
fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    testkit::raw::exchange(addr, raw, WAIT)
}

/// Runs a testkit future (gosleep's stats) from these blocking tests.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

#[test]
fn an_empty_line_before_a_request_is_ignored_and_an_empty_chunked_body_gets_one_answer() {
    let server = server(vacant());
    let raw = format!(
        "\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n\
         GET /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{LAST}"
    );
    let text = exchange(server.addr(), raw.as_bytes());
    // Before: a 400 for the empty line; a 200, then a 400 for the unread "0" chunk.
    assert_eq!(statuses(&text), [200, 200, 200], "{text}");
    // A short chunked body nobody reads is skipped as well; a malformed one is a 400.
    let raw =
        format!("POST /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n{LAST}");
    assert_eq!(statuses(&exchange(server.addr(), raw.as_bytes())), [405, 200]);
    let raw = format!("POST /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{LAST}");
    assert_eq!(statuses(&exchange(server.addr(), raw.as_bytes())), [400]);
}

#[test]
fn a_new_connection_during_the_drain_is_refused_and_the_one_in_flight_is_answered() {
    let gosleep =
        gosleep::start(gosleep::Config { delay_ms: 2000, ..gosleep::Config::default() }).expect("gosleep starts");
    let server = server(gosleep::upstream(&gosleep));
    let addr = server.addr();
    let in_flight =
        thread::spawn(move || exchange(addr, b"GET /single HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    // The drain lasts until the upstream call ends, 2 s after gosleep has it.
    let upstream_in_flight = || block_on(gosleep::client::upstream_stats(gosleep.addr())).in_flight;
    testkit::wait_until(WAIT, "the call in flight at gosleep", || upstream_in_flight() == 1);
    let stopping = thread::spawn(move || server.stop());
    // The drain has begun once a connect is refused; one made before that is an ordinary
    // connection, dropped here. Before: accepted, held, then answered 500 by tiny_http when
    // the drain ended, so a connect was refused only once the call was over.
    testkit::wait_until(WAIT, "a connect refused", || match TcpStream::connect(addr) {
        Ok(_ordinary) => false,
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => true,
        Err(e) => panic!("connect: {e}"),
    });
    assert_eq!(upstream_in_flight(), 1, "connections were taken until the call in flight had ended");
    assert_eq!(statuses(&in_flight.join().expect("client thread")), [200]);
    stopping.join().expect("stop thread").expect("a clean stop");
}
