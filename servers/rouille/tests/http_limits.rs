//! What server-rouille does with a request head it must not serve: one it cannot frame, one
//! over the size limits, one that comes too slowly. rouille cannot be told any of this; the
//! workspace's copy of tiny_http does it (third_party/tiny_http/PATCHES.md), and these tests
//! hold it to the contract's numbers in `contract::limits`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use contract::limits::{HEAD_TIMEOUT, MAX_HEAD_BYTES, MAX_HEADERS};
use contract::{Config, Running};

/// How long a test waits for an answer or a close before it calls the server hung.
const WAIT: Duration = Duration::from_secs(30);

/// How much later than [`HEAD_TIMEOUT`] a slow head may be closed: room for a busy machine.
const MARGIN: Duration = Duration::from_secs(5);

fn gosleep() -> Running {
    gosleep::start(gosleep::Config { delay_ms: 0, ..gosleep::Config::default() }).expect("gosleep starts")
}

fn server(upstream: &Running) -> Running {
    server_rouille::start(Config::for_upstream(gosleep::upstream(upstream))).expect("server-rouille starts")
}

/// The `/sleep` calls gosleep has received: the requests the server executed.
fn upstream_calls(upstream: &Running) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(gosleep::client::upstream_stats(upstream.addr())).requests
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    stream
}

/// Everything the server sends until it closes (or resets) the connection, and whether it
/// closed: `Ok` on a clean close, the error on a reset.
fn read_until_closed(mut stream: &TcpStream) -> (String, io::Result<()>) {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        match stream.read(&mut chunk) {
            Ok(0) => break Ok(()),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) => break Err(e),
        }
    };
    (String::from_utf8_lossy(&got).into_owned(), end)
}

/// The status codes of the responses in `text` (one per `HTTP/1.1 NNN` status line).
fn statuses(text: &str) -> Vec<u16> {
    text.split("HTTP/1.1 ").skip(1).filter_map(|r| r.get(..3)?.parse().ok()).collect()
}

/// One response on a connection that stays open: its status (the body is read and dropped).
fn read_one_response(mut stream: &TcpStream) -> u16 {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("a response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let lower = head.to_ascii_lowercase();
    let length = lower.split("\r\ncontent-length: ").nth(1).and_then(|rest| rest.split("\r\n").next());
    let mut body = vec![0u8; length.and_then(|l| l.parse().ok()).expect("a content-length")];
    stream.read_exact(&mut body).expect("a response body");
    statuses(&head)[0]
}

fn assert_not_a_timeout(end: &io::Result<()>, what: &str) {
    if let Err(e) = end {
        assert!(!matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut), "{what}: server hung");
    }
}

/// The server refused a request: answered `status` alone, or reset the connection before
/// an answer arrived (it closes with the rest of the request unread).
fn assert_refused(text: &str, end: &io::Result<()>, status: u16, what: &str) {
    assert_not_a_timeout(end, what);
    let answers = statuses(text);
    assert!(answers == [status] || (answers.is_empty() && end.is_err()), "{what}: {text:?} {end:?}");
}

/// Sends `request` whole while reading the answer (the server may stop reading and close
/// first: then the write fails, which is not an error here). Returns what was read, how
/// the connection ended, and whether the whole request was written.
fn send_and_read(addr: SocketAddr, request: Vec<u8>) -> (String, io::Result<()>, bool) {
    let stream = connect(addr);
    let mut writer = stream.try_clone().expect("clone");
    let sent = thread::spawn(move || {
        let sent = request.chunks(64 * 1024).all(|chunk| writer.write_all(chunk).is_ok());
        // The request is over (a head that never ends, for the oversized ones).
        let _ = writer.shutdown(std::net::Shutdown::Write);
        sent
    });
    let (text, end) = read_until_closed(&stream);
    (text, end, sent.join().expect("writer"))
}

fn get_health(addr: SocketAddr) -> Vec<u16> {
    let stream = connect(addr);
    (&stream).write_all(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").expect("send");
    statuses(&read_until_closed(&stream).0)
}

#[test]
fn framing_error_is_400_then_close_and_the_pipelined_request_is_not_executed() {
    let g = gosleep();
    let s = server(&g);
    let next = "GET /single?ms=0 HTTP/1.1\r\nHost: t\r\n\r\n";
    // The counter counts: a valid pipelined pair is two executed requests.
    let stream = connect(s.addr());
    (&stream)
        .write_all(format!("{next}GET /single?ms=0 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    assert_eq!(statuses(&read_until_closed(&stream).0), [200, 200]);
    assert_eq!(upstream_calls(&g), 2);

    for framing in [
        "Content-Length: abc",
        "Content-Length: -1",
        "Content-Length: 1\r\nContent-Length: 2",
        "Transfer-Encoding: chunked\r\nContent-Length: 0",
        "Transfer-Encoding: gzip",
    ] {
        let stream = connect(s.addr());
        let request = format!("GET /single?ms=0 HTTP/1.1\r\nHost: t\r\n{framing}\r\n\r\n{next}");
        (&stream).write_all(request.as_bytes()).unwrap();
        let (text, end) = read_until_closed(&stream);
        assert_not_a_timeout(&end, framing);
        assert_eq!(statuses(&text), [400], "{framing:?}: {text}");
    }
    assert_eq!(upstream_calls(&g), 2, "a request after a framing error was executed");
    assert_eq!(get_health(s.addr()), [200]);
    s.stop().unwrap();
}

#[test]
fn request_line_over_the_head_limit_is_414_or_close_never_200() {
    let g = gosleep();
    let s = server(&g);
    let line = |len: usize| {
        let start = "GET /single?ms=0&pad=";
        let end = " HTTP/1.1\r\n";
        format!("{start}{}{end}", "a".repeat(len - start.len() - end.len()))
    };
    // Under the limit, with its headers: served.
    let fits = line(MAX_HEAD_BYTES - 100) + "Host: t\r\nConnection: close\r\n\r\n";
    let (text, _, _) = send_and_read(s.addr(), fits.into_bytes());
    assert_eq!(statuses(&text), [200], "a head under the limit");

    for len in [MAX_HEAD_BYTES + 1, 100 * 1024] {
        let (text, end, _) = send_and_read(s.addr(), (line(len) + "Host: t\r\n\r\n").into_bytes());
        assert_refused(&text, &end, 414, &format!("a {len}-byte request line"));
    }
    assert_eq!(upstream_calls(&g), 1, "an over-long request was executed");
    assert_eq!(get_health(s.addr()), [200]);
    s.stop().unwrap();
}

#[test]
fn head_over_the_size_or_header_count_limit_is_431_and_is_not_read_to_its_end() {
    let g = gosleep();
    let s = server(&g);
    let with_headers = |n: usize| {
        let fields: String = (0..n).map(|i| format!("X-{i}: y\r\n")).collect();
        format!("GET /health HTTP/1.1\r\nHost: t\r\n{fields}Connection: close\r\n\r\n").into_bytes()
    };
    // `Host` and `Connection` are two of the fields.
    assert_eq!(statuses(&send_and_read(s.addr(), with_headers(MAX_HEADERS - 2)).0), [200]);
    let (text, end, _) = send_and_read(s.addr(), with_headers(MAX_HEADERS - 1));
    assert_refused(&text, &end, 431, "one header too many");

    // 8 MiB of header: more than the socket buffers hold, so the whole of it is written
    // only if the server reads it all (upstream tiny_http did, into memory).
    let huge = [&b"GET /health HTTP/1.1\r\nX-Big: "[..], &vec![b'a'; 8 << 20], b"\r\n\r\n"].concat();
    let started = Instant::now();
    let (text, end, sent) = send_and_read(s.addr(), huge);
    assert_refused(&text, &end, 431, "an 8 MiB header");
    assert!(!sent, "the server read all of an 8 MiB head");
    assert!(started.elapsed() < WAIT / 2, "an 8 MiB header took {:?}", started.elapsed());
    assert_eq!(get_health(s.addr()), [200]);
    s.stop().unwrap();
}

#[test]
fn slow_head_is_closed_after_the_head_timeout_and_an_idle_keep_alive_connection_is_not() {
    let g = gosleep();
    let s = server(&g);
    let health = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n";
    let idle = connect(s.addr());
    (&idle).write_all(health).unwrap();
    assert_eq!(read_one_response(&idle), 200);
    let idle_since = Instant::now();

    // Sends `first` at once, then a byte of `trickle` a second until the server closes.
    let slow = |first: &'static [u8], trickle: &'static [u8]| {
        let stream = connect(s.addr());
        let started = Instant::now();
        (&stream).write_all(first).unwrap();
        let writer = stream.try_clone().unwrap();
        thread::spawn(move || {
            for byte in trickle.iter().cycle() {
                thread::sleep(Duration::from_secs(1));
                if (&writer).write_all(&[*byte]).is_err() {
                    return;
                }
            }
        });
        thread::spawn(move || {
            let (text, end) = read_until_closed(&stream);
            (started.elapsed(), text, end)
        })
    };
    let cases = [
        // A first request that never starts: timed from the accept.
        ("silent", slow(b"", b"")),
        // A first request whose head never ends.
        ("first", slow(b"GET /health HTTP/1.1\r\n", b"X: y\r\n")),
        // A later request on a keep-alive connection: timed from its first byte.
        ("later", slow(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\nG", b"ET /health HTTP/1.1\r\n")),
    ];
    for (what, case) in cases {
        let (took, text, end) = case.join().unwrap();
        assert_not_a_timeout(&end, what);
        assert!(took >= HEAD_TIMEOUT - MARGIN && took <= HEAD_TIMEOUT + MARGIN, "{what}: closed after {took:?}");
        let answers = statuses(&text);
        let expected: &[u16] = if what == "later" { &[200, 408] } else { &[408] };
        assert!(answers == expected || answers == expected[..expected.len() - 1], "{what}: {text:?}");
    }

    // Idle for longer than the head timeout, and still served.
    assert!(idle_since.elapsed() > HEAD_TIMEOUT);
    (&idle).write_all(health).expect("the idle keep-alive connection was closed");
    assert_eq!(read_one_response(&idle), 200, "the idle keep-alive connection");
    s.stop().unwrap();
}
