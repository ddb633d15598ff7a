//! The cases of what HTTP/1.1 (RFC 9112) says a server must do with a request's framing
//! and target, where frameworks differ (issue 29): request-target forms, a half-closed
//! client, a body framed two ways or by an unknown coding, an empty chunked body, a
//! leading empty line, Host missing or doubled, a `#` in the target. Each case starts its
//! own gosleep and server, sends raw bytes, and checks the server goes on serving.

use std::net::SocketAddr;

use contract::ProxyReply;
use testkit::Response;

use crate::Subject;
use crate::support::{AT_ONCE, assert_still_serving, block_on, exchange, gosleep, server_for};

/// gosleep's default body: the bytes of one `/single` call.
const BODY: u64 = 64;

/// `/health`'s answer.
fn assert_health(subject: &Subject, r: &Response, what: &str) {
    assert_eq!((r.status, r.text().as_str()), (200, "ok"), "{}: {what}", subject.name);
}

/// `/single`'s answer: one call of gosleep's [`BODY`].
fn assert_single(subject: &Subject, r: &Response, what: &str) {
    assert_eq!(r.status, 200, "{}: {what}: {}", subject.name, r.text());
    assert_eq!(r.json::<ProxyReply>(), ProxyReply { calls: 1, bytes: BODY }, "{}: {what}", subject.name);
}

/// `request` on a fresh connection is answered 400 (never served, never dropped without an
/// answer); if `closed`, the connection then closes. With `whole`, the 400 carries the
/// contract's Date and Server, as any response does: for the refusals every server makes in
/// its own code or its head screen (a target with no path, a `#`). The HTTP libraries' own
/// 400s for framing and Host (hyper's, actix-http's, tiny_http's) carry no Server.
async fn assert_400(subject: &Subject, addr: SocketAddr, request: &str, closed: bool, whole: bool) {
    let what = format!("{request:?}");
    let (r, mut conn) = exchange(subject, addr, request.as_bytes(), &what).await;
    assert_eq!(r.status, 400, "{}: {what}: answered {} ({:?})", subject.name, r.status, r.text());
    if whole {
        assert!(r.header("date").is_some(), "{}: {what}: a 400 without Date", subject.name);
        assert_eq!(r.header("server"), Some(subject.server_header), "{}: {what}: the 400's Server", subject.name);
    }
    if closed {
        assert!(conn.closed_by_peer(AT_ONCE).await, "{}: {what}: connection left open after the 400", subject.name);
    }
}

/// `CONNECT host:port` (authority-form) and `OPTIONS *` (asterisk-form) name no path to
/// route: 400, not a panic or a dropped connection, and serving goes on.
pub fn connect_and_asterisk_form_are_400_and_serving_goes_on(subject: &Subject) {
    let g = gosleep(0);
    let s = server_for(subject, &g);
    block_on(async {
        for request in [
            "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\nHost: conformance\r\n\r\n",
        ] {
            assert_400(subject, s.addr(), request, false, true).await;
        }
        assert_still_serving(subject, s.addr(), "CONNECT and OPTIONS *").await;
    });
}

/// A client that sends its whole request, then shuts down its write side (FIN), still gets
/// its whole answer, then the close: the FIN ends the request stream, not the answer. The
/// `/single` call takes 300 ms upstream, so the FIN arrives while the answer is pending.
pub fn a_half_closed_client_gets_its_whole_answer(subject: &Subject) {
    let g = gosleep(0);
    let s = server_for(subject, &g);
    block_on(async {
        for target in ["/health", "/single?ms=300"] {
            let what = format!("GET {target} then a half-close");
            let mut conn = testkit::Conn::open(s.addr()).await.expect("connect");
            let request = format!("GET {target} HTTP/1.1\r\nHost: conformance\r\n\r\n");
            conn.send_raw(request.as_bytes()).await.expect("send");
            conn.shutdown_write().await.expect("shutdown(Write)");
            let r = conn.read_response().await.unwrap_or_else(|e| panic!("{}: {what}: no answer: {e}", subject.name));
            if target == "/health" {
                assert_health(subject, &r, &what);
            } else {
                assert_single(subject, &r, &what);
            }
            assert!(conn.closed_by_peer(AT_ONCE).await, "{}: {what}: not closed after the answer", subject.name);
        }
    });
}

/// A body framed both by `Content-Length` and `Transfer-Encoding`, by a coding that does
/// not end in `chunked`, or by a `Content-Length` that is not a plain decimal or overflows
/// u64: the server cannot know where the request ends (the ground of request smuggling),
/// so it answers 400 and closes (RFC 9112 6.1, 6.3).
pub fn content_length_with_transfer_encoding_is_400_and_closed(subject: &Subject) {
    let g = gosleep(0);
    let s = server_for(subject, &g);
    block_on(async {
        for (framing, body) in [
            ("Content-Length: 5\r\nTransfer-Encoding: chunked", "0\r\n\r\n"),
            ("Transfer-Encoding: chunked\r\nContent-Length: 5", "0\r\n\r\n"),
            ("Transfer-Encoding: gzip", "hello"),
            ("Transfer-Encoding: chunked, identity", "0\r\n\r\n"),
            ("Content-Length: 18446744073709551616", "hello"),
            ("Content-Length: +5", "hello"),
            ("Content-Length: 0x5", "hello"),
        ] {
            let request = format!("GET /health HTTP/1.1\r\nHost: conformance\r\n{framing}\r\n\r\n{body}");
            assert_400(subject, s.addr(), &request, true, false).await;
        }
        assert_still_serving(subject, s.addr(), "ambiguous request framings").await;
    });
}

/// A GET may carry a chunked body, here the empty one (`0` CRLF CRLF): it is the request's
/// body, not a second request, so there is exactly one answer, and the connection goes on.
pub fn a_get_with_an_empty_chunked_body_gets_one_answer(subject: &Subject) {
    let g = gosleep(0);
    let s = server_for(subject, &g);
    block_on(async {
        let request = "GET /health HTTP/1.1\r\nHost: conformance\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        let (r, mut conn) = exchange(subject, s.addr(), request.as_bytes(), "GET with an empty chunked body").await;
        assert_health(subject, &r, "GET with an empty chunked body");
        // An answer to the body read as a request would come before this one.
        let next = conn.get("/health").await.unwrap_or_else(|e| panic!("{}: the next request: {e}", subject.name));
        assert_health(subject, &next, "the next request on the connection");
    });
}

/// An empty line before a request line is ignored (RFC 9112 2.2: a robust server SHOULD),
/// as a client may send one after a body: the request is served as if it were not there.
pub fn a_leading_empty_line_is_ignored(subject: &Subject) {
    let g = gosleep(0);
    let s = server_for(subject, &g);
    block_on(async {
        let request = "\r\nGET /health HTTP/1.1\r\nHost: conformance\r\n\r\n";
        let (r, mut conn) = exchange(subject, s.addr(), request.as_bytes(), "a leading empty line").await;
        assert_health(subject, &r, "a leading empty line");
        let next = conn.get("/health").await.unwrap_or_else(|e| panic!("{}: the next request: {e}", subject.name));
        assert_health(subject, &next, "the next request on the connection");
    });
}

/// A server MUST accept the absolute-form `http://host/path` (RFC 9112 3.2.2) and route it
/// by its path, as a proxy-aware client may send it.
pub fn an_absolute_form_target_is_routed_by_its_path(subject: &Subject) {
    let g = gosleep(0);
    let s = server_for(subject, &g);
    block_on(async {
        let health = "GET http://other/health HTTP/1.1\r\nHost: other\r\n\r\n";
        let (r, mut conn) = exchange(subject, s.addr(), health.as_bytes(), health).await;
        assert_health(subject, &r, health);
        let single = "GET http://other/single?ms=0 HTTP/1.1\r\nHost: other\r\n\r\n";
        conn.send_raw(single.as_bytes()).await.expect("send");
        let r = conn.read_response().await.unwrap_or_else(|e| panic!("{}: {single:?}: no answer: {e}", subject.name));
        assert_single(subject, &r, single);
    });
}

/// An HTTP/1.1 request without a Host field, or with two, is 400 (RFC 9112 3.2); an
/// HTTP/1.0 one, which need not send Host, is served.
pub fn a_missing_or_doubled_host_is_400(subject: &Subject) {
    let g = gosleep(0);
    let s = server_for(subject, &g);
    block_on(async {
        for request in [
            "GET /health HTTP/1.1\r\n\r\n",
            "GET /health HTTP/1.1\r\nHost: one\r\nHost: two\r\n\r\n",
            "GET /single?ms=0 HTTP/1.1\r\nHost: one\r\nHost: one\r\n\r\n",
        ] {
            assert_400(subject, s.addr(), request, false, false).await;
        }
        let old = "GET /health HTTP/1.0\r\n\r\n";
        let (r, _) = exchange(subject, s.addr(), old.as_bytes(), old).await;
        assert_health(subject, &r, "HTTP/1.0 without Host");
    });
}

/// `#` is not a request-target character (the fragment is the client's own): a target
/// with one is 400, wherever it is, and serving goes on.
pub fn a_hash_in_the_target_is_400(subject: &Subject) {
    let g = gosleep(0);
    let s = server_for(subject, &g);
    block_on(async {
        for target in ["/health#x", "/single?ms=0#x", "/#"] {
            let request = format!("GET {target} HTTP/1.1\r\nHost: conformance\r\n\r\n");
            assert_400(subject, s.addr(), &request, false, true).await;
        }
        assert_still_serving(subject, s.addr(), "a # in the target").await;
    });
}
