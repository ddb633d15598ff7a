//! server-std at its limits, black-box over TCP: out of threads it answers 503 and lives
//! on; a request head too large, too slow or trickled is refused without locking anyone
//! out for longer than [`HEAD_TIMEOUT`]. Plain std sockets, so each test controls every
//! byte and when it is sent.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use contract::limits::{HEAD_TIMEOUT, MAX_HEAD_BYTES};
use contract::{Config, ErrorReply, Running, Upstream};

/// Slack for a busy 2-core machine on every time bound below.
const MARGIN: Duration = Duration::from_secs(5);

/// server-std with `--threads threads` against `upstream`.
fn server(upstream: Upstream, threads: usize) -> Running {
    let mut config = Config::for_upstream(upstream);
    config.threads = NonZeroUsize::new(threads);
    server_std::start(config).expect("server-std starts")
}

/// An upstream nobody listens on: for requests that never call it.
fn vacant() -> Upstream {
    Upstream::at(TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port"))
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(HEAD_TIMEOUT + 3 * MARGIN)).expect("read timeout");
    stream
}

/// Reads one answer's status and body from `stream`: the whole rest of the stream, or
/// what came before a reset or the read timeout.
fn read_answer(mut stream: &TcpStream) -> (u16, String) {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
        }
        let text = String::from_utf8_lossy(&raw);
        // Keep-alive answers end at their Content-Length, not at the stream's end.
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| l.strip_prefix("Content-Length: ")?.parse::<usize>().ok());
            if length.is_some_and(|length| body.len() >= length) {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no answer: {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body).to_owned();
    (status, body)
}

/// `GET target` on a fresh connection that asks to be closed.
fn get(addr: SocketAddr, target: &str) -> (u16, String) {
    let stream = connect(addr);
    (&stream)
        .write_all(format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
        .expect("request sent");
    read_answer(&stream)
}

/// Sends `raw` from a thread of its own (the server may stop reading part-way and answer
/// first) and reads the answer.
fn send_and_read(addr: SocketAddr, raw: Vec<u8>) -> (u16, String) {
    let stream = connect(addr);
    let writer = {
        let stream = stream.try_clone().expect("socket clone");
        thread::spawn(move || (&stream).write_all(&raw))
    };
    let answer = read_answer(&stream);
    let _ = writer.join();
    answer
}

#[test]
fn out_of_threads_a_multiple_answers_503_not_502_and_the_server_lives_on() {
    let gosleep =
        gosleep::start(gosleep::Config { delay_ms: 500, ..gosleep::Config::default() }).expect("gosleep starts");
    let mut config = Config::for_upstream(gosleep::upstream(&gosleep));
    config.threads = NonZeroUsize::new(64);
    // 8 fan-out threads: n=64 never gets its 63, and two n=5 fill them.
    let server = server_std::start_with_fanout_threads(config, 8).expect("server-std starts");
    let addr = server.addr();
    let clients: Vec<_> = (0..160)
        .map(|i| {
            let target = if i % 5 == 0 { "/multiple?n=5&ms=500" } else { "/multiple?n=64&ms=500" };
            thread::spawn(move || (target, get(addr, target)))
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for client in clients {
        let (target, (status, body)) = client.join().expect("client thread");
        match status {
            200 => {
                assert!(target.contains("n=5"), "{target} got its 63 threads of 8");
                ok += 1;
            }
            503 => {
                let error: ErrorReply = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
                assert!(error.error.contains("thread"), "{}", error.error);
                refused += 1;
            }
            other => panic!("{target}: {other} {body}"),
        }
    }
    // 32 n=5 requests of 500 ms on 8 threads (two at a time) arrived within moments of
    // each other, with the n=64 ones between them: some must have found no thread.
    assert!(ok >= 1 && refused > 128, "{ok} answered, {refused} refused");
    // The server is still there, and its threads come back: all 8 for one n=9 (a thread
    // counts itself idle a moment after its call's answer is in).
    assert_eq!(get(addr, "/health").0, 200);
    let until = Instant::now() + MARGIN;
    while get(addr, "/multiple?n=9&ms=0").0 != 200 {
        assert!(Instant::now() < until, "the fan-out threads did not come back");
        thread::sleep(Duration::from_millis(50));
    }
    server.stop().expect("server stops");
}

#[test]
fn two_trickled_heads_lock_a_third_client_out_of_threads_2_for_head_timeout_at_most() {
    let server = server(vacant(), 2);
    let addr = server.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let tricklers: Vec<_> = (0..2)
        .map(|_| {
            let stream = connect(addr);
            let (writer, stop) = (stream.try_clone().expect("socket clone"), Arc::clone(&stop));
            // A byte every 200 ms, a head that never ends, until the server closes or the
            // test is done.
            let trickle = thread::spawn(move || {
                let bytes = b"GET /health HTTP/1.1\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'x'));
                for byte in bytes {
                    if stop.load(Ordering::SeqCst) || (&writer).write_all(&[*byte]).is_err() {
                        return;
                    }
                    thread::sleep(Duration::from_millis(200));
                }
            });
            (stream, trickle)
        })
        .collect();
    // Both hold their threads before the third comes: the server has taken both from its
    // listen backlog (and started their head timers).
    testkit::wait_until(Duration::from_secs(20), "both tricklers accepted", || {
        testkit::sockets::accept_queue(addr) == Some(0)
    });
    let t = Instant::now();
    let (status, body) = get(addr, "/health");
    let waited = t.elapsed();
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert!(waited <= HEAD_TIMEOUT + MARGIN, "the third client waited {waited:?}");
    // It did wait: the two held both threads (else this test shows nothing).
    assert!(waited >= HEAD_TIMEOUT / 2, "the third client waited only {waited:?}");
    for (stream, trickle) in tricklers {
        assert_eq!(read_answer(&stream).0, 408);
        stop.store(true, Ordering::SeqCst);
        trickle.join().expect("client thread");
    }
    server.stop().expect("server stops");
}

#[test]
fn idle_keep_alive_is_not_timed_out_and_a_head_is_due_head_timeout_after_its_first_byte() {
    let server = server(vacant(), 8);
    let addr = server.addr();
    let request = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n";
    let idle_then = move |rest: &'static [u8]| {
        let stream = connect(addr);
        (&stream).write_all(request).expect("request sent");
        assert_eq!(read_answer(&stream), (200, "ok".to_owned()));
        // Idle past the head timeout: the wait is the test's subject.
        thread::sleep(HEAD_TIMEOUT + Duration::from_secs(1));
        let t = Instant::now();
        (&stream).write_all(rest).expect("request sent");
        (read_answer(&stream), t.elapsed())
    };
    // The first head of a connection is due HEAD_TIMEOUT after the accept.
    let silent = thread::spawn(move || {
        let stream = connect(addr);
        let t = Instant::now();
        (read_answer(&stream).0, t.elapsed())
    });
    let whole = thread::spawn(move || idle_then(request));
    let partial = thread::spawn(move || idle_then(b"GET /health HTTP/1.1\r\n"));

    let ((status, body), _) = whole.join().expect("client thread");
    assert_eq!((status, body.as_str()), (200, "ok"), "an idle keep-alive connection was closed");
    // Timed from the idle connection's last answer, the partial head would be late at once.
    let ((status, _), took) = partial.join().expect("client thread");
    assert_eq!(status, 408);
    assert!(took >= HEAD_TIMEOUT - Duration::from_secs(1) && took <= HEAD_TIMEOUT + MARGIN, "408 after {took:?}");
    let (status, took) = silent.join().expect("client thread");
    assert_eq!(status, 408);
    assert!(took >= HEAD_TIMEOUT - Duration::from_secs(1) && took <= HEAD_TIMEOUT + MARGIN, "408 after {took:?}");
    server.stop().expect("server stops");
}

#[test]
fn a_request_line_longer_than_max_head_bytes_is_414() {
    let server = server(vacant(), 8);
    let line = format!("GET /health?{} HTTP/1.1\r\nHost: t\r\n\r\n", "x".repeat(100 * 1024));
    assert!(line.len() > MAX_HEAD_BYTES);
    assert_eq!(send_and_read(server.addr(), line.into_bytes()).0, 414);
    // Just under the limit is a request like any other (404: the query is not /health's).
    let fits =
        format!("GET /nowhere?{} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", "x".repeat(MAX_HEAD_BYTES - 200));
    assert_eq!(send_and_read(server.addr(), fits.into_bytes()).0, 404);
    server.stop().expect("server stops");
}

#[test]
fn a_head_with_a_20_kib_header_is_431() {
    let server = server(vacant(), 8);
    let head = format!("GET /health HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "x".repeat(20 * 1024));
    let (status, body) = send_and_read(server.addr(), head.into_bytes());
    assert_eq!(status, 431, "{body}");
    // The connection is closed after it, and the server serves the next.
    assert_eq!(get(server.addr(), "/health").0, 200);
    server.stop().expect("server stops");
}
