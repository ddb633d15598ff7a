//! What RFC 9112 says server-actix must serve or refuse (issue 29: S2, S3, S9, S12, S14),
//! black-box over raw sockets. actix-http answers a long request line 400 (past http's
//! 64 KiB URI limit), hides a `#` from the App and 404s CONNECT and `OPTIONS *`: the shared
//! head screen (`contract::head_screen`) in front of it answers those.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::Duration;

use contract::{Config, Running, Upstream};
use testkit::raw::{LAST, statuses};

/// How long a test waits for an answer or a close before it calls the server hung.
const WAIT: Duration = Duration::from_secs(30);

/// An upstream that answers each request, after `delay`, with 200 and 5 bytes, then closes.
fn upstream(delay: Duration) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                thread::sleep(delay);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
            });
        }
    });
    Upstream::at(addr)
}

fn server(upstream: Upstream) -> Running {
    server_actix::start(Config::for_upstream(upstream)).expect("server-actix starts")
}

fn exchange_with(addr: SocketAddr, raw: &[u8], half_close: bool) -> String {
    testkit::raw::exchange_with(addr, raw, half_close, WAIT)
}

fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    testkit::raw::exchange(addr, raw, WAIT)
}

#[test]
fn a_request_line_over_the_head_limit_is_414_at_every_length() {
    let server = server(upstream(Duration::ZERO));
    for len in [17_000, 70_000, 130_000] {
        let raw = format!("GET /health?{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(len));
        let text = exchange(server.addr(), raw.as_bytes());
        // Before: 400 from 64 KiB (http's URI limit), 431 from 128 KiB.
        assert_eq!(statuses(&text), [414], "a {len}-byte query: {}", &text[..text.len().min(200)]);
    }
}

#[test]
fn connect_options_star_and_a_fragment_are_400_and_an_absolute_form_target_is_routed_by_its_path() {
    let server = server(upstream(Duration::ZERO));
    for line in ["CONNECT 127.0.0.1:22 HTTP/1.1", "OPTIONS * HTTP/1.1", "GET /health#x HTTP/1.1"] {
        let text = exchange(server.addr(), format!("{line}\r\nHost: t\r\n\r\n{LAST}").as_bytes());
        // Before: 404, 404 and 200. The connection closes after the refusal.
        assert_eq!(statuses(&text), [400], "{line}: {text}");
    }
    let text =
        exchange(server.addr(), format!("GET http://other/health HTTP/1.1\r\nHost: other\r\n\r\n{LAST}").as_bytes());
    assert_eq!(statuses(&text), [200, 200], "{text}");
    // The server goes on serving.
    assert_eq!(statuses(&exchange(server.addr(), LAST.as_bytes())), [200]);
}

#[test]
fn a_half_closed_client_gets_its_whole_answer() {
    // The upstream answers after the client's FIN is in: the answer is written after it.
    let server = server(upstream(Duration::from_millis(300)));
    for target in ["/health", "/single"] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n");
        let text = exchange_with(server.addr(), raw.as_bytes(), true);
        assert_eq!(statuses(&text), [200], "{target}: {text}");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head");
        let length = head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ")?.parse().ok());
        assert_eq!(Some(body.len()), length, "{target}: the whole body: {text}");
    }
}
