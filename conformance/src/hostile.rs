//! The cases of hostile and careless clients: heads over the size limits, heads sent too
//! slowly, idle keep-alive connections, connections left half-read at a stop, new
//! connections during the drain, and an impatient second signal. Each starts its own gosleep and server on ephemeral ports.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use contract::Running;
use contract::limits::{HEAD_TIMEOUT, MAX_HEAD_BYTES, MAX_HEADERS};
use testkit::{self, Child, Conn};

use crate::Subject;
use crate::support::{self, AT_ONCE, block_on, runtime, server_for};

fn gosleep() -> Running {
    support::gosleep(0)
}

/// Sends `request` on a fresh connection and checks the answer is one of `allowed` or a
/// close without one (a server may close before it has read all of it, so a failed write
/// or a reset counts as closed); after an answer the connection must close too.
async fn assert_refused(subject: &Subject, addr: SocketAddr, request: &[u8], allowed: &[u16], what: &str) {
    let mut conn = Conn::open(addr).await.expect("connect");
    let sent = conn.send_raw(request).await;
    match conn.read_response().await {
        Ok(r) => {
            assert!(allowed.contains(&r.status), "{}: {what}: answered {} ({:?})", subject.name, r.status, r.text());
            assert!(
                conn.closed_by_peer(AT_ONCE).await,
                "{}: {what}: connection left open after {}",
                subject.name,
                r.status
            );
        }
        Err(e) => {
            assert_ne!(e.kind(), io::ErrorKind::TimedOut, "{}: {what}: no answer and no close ({sent:?})", subject.name)
        }
    }
}

/// A request line longer than the whole head limit is 414 at any length past it (not a
/// 431, which is for the fields; not a close without an answer once the line outgrows a
/// framework's buffer), then the connection closes. The write may fail once the server has
/// answered and closed: the answer must still have been sent.
pub fn a_request_line_over_the_limit_is_414(subject: &Subject) {
    let g = gosleep();
    let s = server_for(subject, &g);
    block_on(async {
        for line in [17_000, 70_000, 130_000] {
            let what = format!("a {line}-byte request line");
            let target = format!("/health?{}", "q".repeat(line - "GET /health? HTTP/1.1".len()));
            let request = format!("GET {target} HTTP/1.1\r\nHost: conformance\r\n\r\n");
            let mut conn = Conn::open(s.addr()).await.expect("connect");
            let _ = conn.send_raw(request.as_bytes()).await;
            let r = conn.read_response().await.unwrap_or_else(|e| panic!("{}: {what}: no answer: {e}", subject.name));
            assert_eq!(r.status, 414, "{}: {what}: answered {} ({:?})", subject.name, r.status, r.text());
            assert!(conn.closed_by_peer(AT_ONCE).await, "{}: {what}: connection left open after the 414", subject.name);
        }
        support::assert_still_serving(subject, s.addr(), "request lines over the limit").await;
    });
}

/// A head over [`MAX_HEAD_BYTES`], or with more than [`MAX_HEADERS`] fields: 431 or a
/// close, never an answer from the endpoint, and serving goes on.
pub fn a_head_over_the_limit_is_431_or_closed(subject: &Subject) {
    let g = gosleep();
    let s = server_for(subject, &g);
    let head = |filler: usize, fields: usize| {
        let fields: String = (1..fields).map(|i| format!("X-Field-{i}: {i}\r\n")).collect();
        format!("GET /health HTTP/1.1\r\nHost: conformance\r\n{fields}X-Filler: {}\r\n\r\n", "f".repeat(filler))
    };
    block_on(async {
        // Within the limits, the same heads are served: what is refused is their size.
        for (what, within) in [
            ("1 KiB under the byte limit", head(MAX_HEAD_BYTES - 1024, 1)),
            ("at the field-count limit", head(1, MAX_HEADERS - 1)),
        ] {
            let mut conn = Conn::open(s.addr()).await.expect("connect");
            conn.send_raw(within.as_bytes()).await.expect("send");
            let r = conn.read_response().await.unwrap_or_else(|e| panic!("{}: a head {what}: {e}", subject.name));
            assert_eq!(r.status, 200, "{}: a head {what}", subject.name);
        }
        let big = head(MAX_HEAD_BYTES, 1);
        assert_refused(subject, s.addr(), big.as_bytes(), &[431], "head over the byte limit").await;
        let many = head(1, MAX_HEADERS);
        assert!(many.len() < MAX_HEAD_BYTES, "the many-fields head must be over the count limit only");
        assert_refused(subject, s.addr(), many.as_bytes(), &[431], "head over the field-count limit").await;
        assert_eq!(
            testkit::get(s.addr(), "/health").await.expect("GET /health").status,
            200,
            "{}: down after",
            subject.name
        );
    });
}

/// A client that sends its first head a line a second is cut off once [`HEAD_TIMEOUT`]
/// has passed since the accept (with a 408 where the framework sends one), not before,
/// and not much later.
pub fn a_head_trickled_past_the_head_timeout_is_closed(subject: &Subject) {
    let g = gosleep();
    let s = server_for(subject, &g);
    block_on(async {
        let started = Instant::now();
        let mut conn = Conn::open(s.addr()).await.expect("connect");
        assert_trickled_head_closed(subject, s.addr(), &mut conn, started, "a trickled first head").await;
    });
}

/// The same for a connection's second head, timed from its own first byte: a client that
/// had one request answered cannot then hold the connection by trickling the next head.
pub fn a_later_head_trickled_past_the_head_timeout_is_closed(subject: &Subject) {
    let g = gosleep();
    let s = server_for(subject, &g);
    block_on(async {
        let mut conn = Conn::open(s.addr()).await.expect("connect");
        assert_eq!(conn.get("/health").await.expect("first GET").status, 200, "{}", subject.name);
        let started = Instant::now();
        assert_trickled_head_closed(subject, s.addr(), &mut conn, started, "a trickled second head").await;
    });
}

/// Sends a head's first line on `conn`, then a header line a second, and checks the server
/// cuts it off (408 or a close) no earlier than [`HEAD_TIMEOUT`] after `started` and within
/// 15 s more; then that the server still answers.
async fn assert_trickled_head_closed(
    subject: &Subject,
    addr: SocketAddr,
    conn: &mut Conn,
    started: Instant,
    what: &str,
) {
    conn.send_raw(b"GET /health HTTP/1.1\r\nHost: conformance\r\n").await.expect("send");
    let give_up = HEAD_TIMEOUT + Duration::from_secs(15);
    let closed_after = loop {
        assert!(started.elapsed() < give_up, "{}: {what} still open after {give_up:?}", subject.name);
        if conn.send_raw(b"X-Trickle: 1\r\n").await.is_err() {
            break started.elapsed();
        }
        match tokio::time::timeout(Duration::from_secs(1), conn.read_response()).await {
            Err(_pacing) => continue,
            Ok(Ok(r)) => {
                assert_eq!(r.status, 408, "{}: {what} was answered", subject.name);
                assert!(conn.closed_by_peer(AT_ONCE).await, "{}: {what}: open after its 408", subject.name);
                break started.elapsed();
            }
            Ok(Err(_closed)) => break started.elapsed(),
        }
    };
    // Timers fire late on a busy machine, never early: the lower bound is firm.
    assert!(
        closed_after >= HEAD_TIMEOUT,
        "{}: {what} cut off after {closed_after:?}, before {HEAD_TIMEOUT:?}",
        subject.name
    );
    assert_eq!(testkit::get(addr, "/health").await.expect("GET /health").status, 200, "{}: down after", subject.name);
}

/// Between requests a keep-alive connection may idle longer than [`HEAD_TIMEOUT`]: the
/// benchmark's pooled clients keep theirs across pauses.
pub fn an_idle_keep_alive_connection_outlives_the_head_timeout(subject: &Subject) {
    let g = gosleep();
    let s = server_for(subject, &g);
    block_on(async {
        let mut conn = Conn::open(s.addr()).await.expect("connect");
        assert_eq!(conn.get("/health").await.expect("first GET").status, 200);
        // Idle past the head timeout: the wait is the test's subject.
        tokio::time::sleep(HEAD_TIMEOUT + Duration::from_secs(2)).await;
        let again =
            conn.get("/health").await.unwrap_or_else(|e| panic!("{}: idle connection closed: {e}", subject.name));
        assert_eq!(again.status, 200, "{}", subject.name);
    });
}

/// A stop does not wait for clients that are not waiting for an answer: a keep-alive
/// connection between requests, one that has sent half a head, one half-way through its
/// second head, and one that has sent nothing all close at once.
pub fn stop_closes_idle_and_half_read_connections_at_once(subject: &Subject) {
    let g = gosleep();
    let s = server_for(subject, &g);
    let addr = s.addr();
    // One runtime for the whole case: the connections must outlive the first block_on.
    let rt = runtime();
    let mut conns = rt.block_on(async {
        let mut idle = Conn::open(addr).await.expect("connect");
        assert_eq!(idle.get("/health").await.expect("GET").status, 200);
        let mut half = Conn::open(addr).await.expect("connect");
        half.send_raw(b"GET /health HTTP/1.1\r\nHost: confor").await.expect("send");
        let mut second_half = Conn::open(addr).await.expect("connect");
        assert_eq!(second_half.get("/health").await.expect("GET").status, 200);
        second_half.send_raw(b"GET /health HTTP/1.1\r\nHo").await.expect("send");
        let silent = Conn::open(addr).await.expect("connect");
        vec![("idle", idle), ("half a first head", half), ("half a second head", second_half), ("silent", silent)]
    });
    // The server takes in the partial heads before it is told to stop: it has read every
    // byte the clients sent (a connection already gone has nothing left unread either).
    for (what, conn) in &conns {
        let client = conn.local_addr().expect("local address");
        testkit::wait_until(Duration::from_secs(20), &format!("{}: the {what} connection read", subject.name), || {
            testkit::sockets::unread_bytes(addr, client).unwrap_or(0) == 0
        });
    }
    let t = Instant::now();
    s.stop().expect("stop");
    let took = t.elapsed();
    assert!(took < AT_ONCE, "{}: stop took {took:?} with idle and half-read connections open", subject.name);
    rt.block_on(async {
        for (what, conn) in &mut conns {
            assert!(
                conn.closed_by_peer(AT_ONCE).await,
                "{}: the {what} connection is still open after the stop",
                subject.name
            );
        }
    });
}

/// The real binary: a second SIGTERM while a request is still in flight ends the process
/// at once, with a failure status and a line on stderr saying why.
pub fn a_second_sigterm_exits_at_once_with_a_failure_status(subject: &Subject) {
    let g = gosleep();
    let upstream = gosleep::upstream(&g);
    let mut command = std::process::Command::new(subject.binary);
    command.args(["--listen", "127.0.0.1:0", "--upstream", upstream.base()]).stderr(std::process::Stdio::piped());
    let mut child = Child::spawn_command(&mut command).unwrap_or_else(|e| panic!("{} binary: {e}", subject.name));
    let addr = child.addr();
    // One runtime for the whole case: the request in flight must stay open until the end.
    let rt = runtime();
    rt.block_on(async {
        // Far longer than the test waits: only a forced exit ends the process in time.
        tokio::spawn(testkit::get(addr, "/single?ms=25000"));
        gosleep::client::wait_for_upstream_in_flight(g.addr(), 1, Duration::from_secs(10)).await;
        child.signal("TERM").expect("first SIGTERM");
        // Two signals sent back to back may be delivered as one: send the second once the
        // first has shown (the listener closes), or after a while if it never closes.
        let deadline = Instant::now() + AT_ONCE;
        while Instant::now() < deadline && tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    assert_eq!(
        child.wait_timeout(Duration::ZERO).expect("wait"),
        None,
        "{}: exited on the first SIGTERM",
        subject.name
    );
    child.signal("TERM").expect("second SIGTERM");
    let status = child.wait_timeout(AT_ONCE).expect("wait");
    let status = status.unwrap_or_else(|| panic!("{}: still running {AT_ONCE:?} after a second SIGTERM", subject.name));
    assert!(status.code().is_some_and(|c| c != 0), "{}: exit after a second SIGTERM: {status}", subject.name);
    let stderr = child.stderr_text();
    assert!(stderr.contains("second signal"), "{}: stderr does not say why it exited:\n{stderr}", subject.name);
}

/// The real binary: once SIGTERM has started the drain (a request still in flight), the
/// listener is closed: a new connect is refused, or closed without an answer, never
/// answered (a 503 from a server that has stopped serving, or a 200 it should not take on).
/// The request in flight still gets its 200.
pub fn new_connections_during_the_drain_are_refused(subject: &Subject) {
    let g = gosleep();
    let upstream = gosleep::upstream(&g);
    let mut child = Child::spawn(subject.binary, &["--listen", "127.0.0.1:0", "--upstream", upstream.base()])
        .unwrap_or_else(|e| panic!("{} binary: {e}", subject.name));
    let addr = child.addr();
    block_on(async {
        // Long enough to span the signal, the wait for it to take effect and the probe.
        let in_flight = tokio::spawn(testkit::get(addr, "/single?ms=4000"));
        gosleep::client::wait_for_upstream_in_flight(g.addr(), 1, Duration::from_secs(10)).await;
        child.signal("TERM").expect("SIGTERM");
        // Time for the signal to be handled: a connect before that is still an ordinary one.
        // No event shows that moment from outside but the closed listener, and that is what
        // the probe below checks: waiting for it would assume the result.
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Ok(mut conn) = Conn::open(addr).await {
            let sent = conn.send_raw(b"GET /health HTTP/1.1\r\nHost: conformance\r\n\r\n").await;
            match conn.read_response().await {
                Ok(r) => {
                    panic!("{}: a connection made during the drain was answered {} ({sent:?})", subject.name, r.status)
                }
                Err(e) => {
                    assert_ne!(e.kind(), io::ErrorKind::TimedOut, "{}: neither answered nor closed", subject.name)
                }
            }
        }
        let r = in_flight.await.expect("task").expect("the request in flight");
        assert_eq!(r.status, 200, "{}: the request in flight: {}", subject.name, r.text());
    });
    let status = child.wait_timeout(Duration::from_secs(40)).expect("wait");
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{}: exit after SIGTERM", subject.name);
}

/// The real binary, default logging: malformed, oversized and refused requests are the
/// client's fault, not the server's, and log no ERROR line (actix-http logs one per
/// connection), nor a panic or a Python traceback (issue 29: a CONNECT panicked in warp).
pub fn a_clients_bad_input_logs_no_error(subject: &Subject) {
    let g = gosleep();
    let upstream = gosleep::upstream(&g);
    let mut command = std::process::Command::new(subject.binary);
    command
        .args(["--listen", "127.0.0.1:0", "--upstream", upstream.base()])
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped());
    let mut child = Child::spawn_command(&mut command).unwrap_or_else(|e| panic!("{} binary: {e}", subject.name));
    let addr = child.addr();
    block_on(async {
        let too_long = format!("GET /health HTTP/1.1\r\nX-Filler: {}\r\n\r\n", "f".repeat(MAX_HEAD_BYTES));
        let long_line = format!("GET /health?{} HTTP/1.1\r\nHost: conformance\r\n\r\n", "q".repeat(70_000));
        for bad in [
            &b"NOT HTTP AT ALL\r\n\r\n"[..],
            b"GET /single HTTP/1.1\r\nHost\r\n\r\n",
            too_long.as_bytes(),
            long_line.as_bytes(),
            b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\nHost: conformance\r\n\r\n",
            b"GET /health#x HTTP/1.1\r\nHost: conformance\r\n\r\n",
            b"GET /health HTTP/1.1\r\nHost: conformance\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"GET /health HTTP/1.1\r\nHost: conformance\r\nTransfer-Encoding: gzip\r\n\r\nhello",
            b"GET /health HTTP/1.1\r\n\r\n",
        ] {
            let mut conn = Conn::open(addr).await.expect("connect");
            let _ = conn.send_raw(bad).await;
            let _ = conn.read_response().await;
        }
        assert_eq!(testkit::get(addr, "/health").await.expect("GET /health").status, 200, "{}", subject.name);
    });
    child.signal("TERM").expect("SIGTERM");
    let status = child.wait_timeout(Duration::from_secs(40)).expect("wait");
    assert!(status.is_some(), "{}: did not exit after SIGTERM", subject.name);
    let stderr = child.stderr_text();
    for sign in ["ERROR", "panicked", "Traceback"] {
        assert!(!stderr.contains(sign), "{}: a client's bad input logged {sign}:\n{stderr}", subject.name);
    }
}
