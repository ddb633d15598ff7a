//! What RFC 9112 says server-std must serve or refuse (issue 29: S4, S5; the conformance
//! suite has the rest), black-box over raw sockets: the head is this server's own parser's
//! (`head.rs`).

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use contract::{Config, Running, Upstream};
use testkit::raw::{LAST, statuses};

/// How long a test waits for an answer or a close before it calls the server hung.
const WAIT: Duration = Duration::from_secs(30);

/// An upstream nobody listens on: for requests that never call it.
fn vacant() -> Upstream {
    Upstream::at(TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port"))
}

fn server() -> Running {
    server_std::start(Config::for_upstream(vacant())).expect("server-std starts")
}

/// Sends `raw` on a fresh connection, and reads until the server closes it.
fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    testkit::raw::exchange(addr, raw, WAIT)
}

#[test]
fn a_body_framed_two_ways_not_chunked_last_or_past_u64_is_400_and_the_connection_closes() {
    let server = server();
    for fields in [
        "Content-Length: 5\r\nTransfer-Encoding: chunked",
        "Content-Length: 18446744073709551616",
        "Transfer-Encoding: gzip",
        "Transfer-Encoding: chunked, identity",
    ] {
        // The pipelined request after it is never read: where it starts is unknown.
        let raw = format!("GET /health HTTP/1.1\r\nHost: t\r\n{fields}\r\n\r\n0\r\n\r\n{LAST}");
        let text = exchange(server.addr(), raw.as_bytes());
        // Before: 200 (a 405 for a POST), then the close.
        assert_eq!(statuses(&text), [400], "{fields}: {text}");
    }
}

#[test]
fn an_empty_line_before_a_request_is_ignored_and_an_empty_chunked_body_gets_one_answer() {
    let server = server();
    let text = exchange(server.addr(), format!("\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n{LAST}").as_bytes());
    assert_eq!(statuses(&text), [200, 200], "{text}");
    // The connection goes on after it: before, a 200 with `Connection: close`, then the close.
    let raw = format!("GET /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{LAST}");
    assert_eq!(statuses(&exchange(server.addr(), raw.as_bytes())), [200, 200]);
    let raw =
        format!("POST /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n{LAST}");
    assert_eq!(statuses(&exchange(server.addr(), raw.as_bytes())), [405, 200]);
}
