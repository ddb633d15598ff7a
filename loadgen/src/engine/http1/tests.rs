//! One connection against a scripted server on an ephemeral port of 127.0.0.1, driven by a
//! poller of its own as the load loop drives it.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream as StdStream};
use std::thread;
use std::time::{Duration, Instant};

use mio::{Events, Poll};

use super::*;

/// Long enough for any answer on loopback; only a hung server reaches it.
const TIMEOUT: Duration = Duration::from_secs(5);

fn plan(addr: SocketAddr) -> Plan {
    Plan {
        addr,
        uri: format!("http://{addr}/x").parse().unwrap(),
        url: format!("http://{addr}/x"),
        connections: 1,
        threads: 1,
        duration: Duration::from_secs(1),
        warmup: Duration::ZERO,
        timeout: TIMEOUT,
        headers: vec![],
        rate: None,
        keepalive: true,
        server_pid: None,
        progress: false,
        tls: None,
    }
}

/// A server on 127.0.0.1 for one connection, which it hands to `then` once accepted.
fn server<F>(then: F) -> SocketAddr
where
    F: FnOnce(StdStream) + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            then(stream);
        }
    });
    addr
}

/// Reads up to the end of the request head; the head, or what came before the stream ended.
fn read_head(stream: &mut StdStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut buf = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    head
}

/// Waits until the client closes its end.
fn until_closed(stream: &mut StdStream) {
    let _ = stream.read_to_end(&mut Vec::new());
}

/// A server that answers each request on its connection with the next of `replies`, and
/// closes after the last.
fn replying(replies: Vec<&'static [u8]>) -> SocketAddr {
    server(move |mut s| {
        for reply in replies {
            read_head(&mut s);
            let _ = s.write_all(reply);
        }
    })
}

/// A connection and the poller it is registered with.
struct Client {
    connection: Connection,
    poll: Poll,
    events: Events,
    request: Request,
}

impl Client {
    fn new(addr: SocketAddr) -> Self {
        Self::with(&plan(addr))
    }

    fn with(plan: &Plan) -> Self {
        let poll = Poll::new().expect("poller");
        Self { connection: Connection::new(), poll, events: Events::with_capacity(8), request: Request::new(plan) }
    }

    /// Opens the connection: `Connected`, or what failed.
    fn open(&mut self, addr: SocketAddr) -> Progress {
        if let Err(e) = self.connection.open(addr, self.poll.registry(), Token(0)) {
            return Progress::Failed(e);
        }
        self.until_done(Progress::Waiting)
    }

    /// Sends the request and waits for its outcome.
    fn exchange(&mut self) -> Result<Answer, RequestError> {
        let progress = self.connection.send(&self.request);
        match self.until_done(progress) {
            Progress::Answered(answer) => Ok(answer),
            Progress::Failed(e) => Err(e),
            other => panic!("a request ended with {other:?}"),
        }
    }

    /// Hands the connection its events until its step reports more than `Waiting`.
    fn until_done(&mut self, mut progress: Progress) -> Progress {
        let deadline = Instant::now() + TIMEOUT;
        while progress == Progress::Waiting {
            self.wait(deadline);
            for event in self.events.iter() {
                progress = self.connection.ready(event, &self.request);
            }
        }
        progress
    }

    /// Waits for the next events, which an idle connection only notes.
    fn wait(&mut self, deadline: Instant) {
        let left = deadline.checked_duration_since(Instant::now()).expect("a step that never ended");
        self.poll.poll(&mut self.events, Some(left)).expect("poll");
    }

    /// Takes the events that come within `time` (for an idle connection: noted, not acted on).
    fn idle(&mut self, time: Duration) {
        self.wait(Instant::now() + time);
        for event in self.events.iter() {
            assert_eq!(self.connection.ready(event, &self.request), Progress::Waiting, "idle");
        }
    }
}

/// One request to `addr` on a new connection.
fn one_request(addr: SocketAddr) -> Result<Answer, RequestError> {
    let mut client = Client::new(addr);
    assert_eq!(client.open(addr), Progress::Connected);
    client.exchange()
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

#[test]
fn a_refused_connection_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut client = Client::new(addr);
    assert_eq!(client.open(addr), Progress::Failed(RequestError::Connect));
    assert!(!client.connection.is_open());
}

#[test]
fn a_whole_answer_is_its_status_its_bytes_on_the_wire_and_a_reusable_connection() {
    let addr = replying(vec![OK, OK]);
    let mut client = Client::new(addr);
    assert_eq!(client.open(addr), Progress::Connected);
    let want = Answer { status: 200, bytes: OK.len() as u64, reusable: true };
    assert_eq!(client.exchange(), Ok(want));
    assert!(client.connection.is_open(), "an idle connection the server keeps is open");
    assert_eq!(client.exchange(), Ok(want), "the same connection again");
}

#[test]
fn a_whole_non_2xx_answer_is_an_answer_with_its_status() {
    let reply = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\nno";
    let addr = replying(vec![reply]);
    let want = Answer { status: 503, bytes: reply.len() as u64, reusable: true };
    assert_eq!(one_request(addr), Ok(want));
}

#[test]
fn interim_answers_are_read_past_to_the_final_one() {
    let reply = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let addr = replying(vec![reply]);
    let want = Answer { status: 200, bytes: reply.len() as u64, reusable: true };
    assert_eq!(one_request(addr), Ok(want));
}

#[test]
fn an_answer_split_across_reads_is_put_together() {
    let addr = server(|mut s| {
        let _ = s.set_nodelay(true);
        read_head(&mut s);
        for piece in OK.chunks(3) {
            if s.write_all(piece).is_err() {
                return;
            }
            // The pacing is the test's subject: each piece comes in a read of its own.
            thread::sleep(Duration::from_millis(2));
        }
        until_closed(&mut s);
    });
    let want = Answer { status: 200, bytes: OK.len() as u64, reusable: true };
    assert_eq!(one_request(addr), Ok(want));
}

#[test]
fn a_body_longer_than_the_buffer_is_counted_through() {
    let body = vec![b'x'; BUFFER * 5 + 3];
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    let len = (head.len() + body.len()) as u64;
    let addr = server(move |mut s| {
        read_head(&mut s);
        let _ = s.write_all(head.as_bytes());
        let _ = s.write_all(&body);
        until_closed(&mut s);
    });
    assert_eq!(one_request(addr), Ok(Answer { status: 200, bytes: len, reusable: true }));
}

#[test]
fn a_body_without_framing_ends_with_the_connection_which_is_not_reused() {
    let reply = b"HTTP/1.1 200 OK\r\n\r\nall of it";
    let addr = replying(vec![reply]);
    let want = Answer { status: 200, bytes: reply.len() as u64, reusable: false };
    assert_eq!(one_request(addr), Ok(want));
}

#[test]
fn bytes_after_the_answer_leave_the_connection_out_of_step() {
    let addr = replying(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n"]);
    let answer = one_request(addr).expect("the answer itself is whole");
    assert_eq!((answer.status, answer.bytes, answer.reusable), (200, 40, false));
}

#[test]
fn a_head_longer_than_the_limit_is_a_read_error_not_a_hang() {
    let addr = server(|mut s| {
        read_head(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n");
        let field = format!("X-Long: {}\r\n", "y".repeat(1000));
        for _ in 0..(MAX_HEAD / field.len() + 2) {
            if s.write_all(field.as_bytes()).is_err() {
                return;
            }
        }
        until_closed(&mut s);
    });
    assert_eq!(one_request(addr), Err(RequestError::Read));
}

#[test]
fn a_connection_closed_before_the_answer_is_a_read_error() {
    let addr = server(|mut s| {
        read_head(&mut s);
    });
    assert_eq!(one_request(addr), Err(RequestError::Read));
}

#[test]
fn a_malformed_answer_is_a_read_error() {
    let addr = replying(vec![b"HTTP/1.1 two hundred\r\n\r\n"]);
    assert_eq!(one_request(addr), Err(RequestError::Read));
}

#[test]
fn a_body_cut_short_is_a_read_error() {
    let addr = replying(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"]);
    assert_eq!(one_request(addr), Err(RequestError::Read));
}

#[test]
fn a_request_on_a_connection_the_server_reset_is_a_write_error() {
    // The reset waits for the client to have seen its connect made: a reset that came first
    // would fail the connect instead.
    let (connected, reset) = std::sync::mpsc::channel::<()>();
    let addr = server(move |s| {
        let _ = reset.recv();
        // Linger 0: the close sends a reset, not a FIN.
        let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
        drop(s);
    });
    let mut client = Client::new(addr);
    assert_eq!(client.open(addr), Progress::Connected);
    let _ = connected.send(());
    // Wait for the reset to arrive, without reading it (a read would take the error).
    while !client.connection.readable {
        client.idle(TIMEOUT);
    }
    assert_eq!(client.exchange(), Err(RequestError::Write));
    assert!(!client.connection.is_open(), "a failed exchange closes the connection");
}

#[test]
fn an_idle_connection_the_server_closed_is_seen_closed_before_the_next_request() {
    let addr = replying(vec![OK]);
    let mut client = Client::new(addr);
    assert_eq!(client.open(addr), Progress::Connected);
    assert!(client.exchange().is_ok());
    // The server closes after its one answer; its FIN arrives soon after.
    let deadline = Instant::now() + TIMEOUT;
    while client.connection.is_open() {
        assert!(Instant::now() < deadline, "the server's close never showed");
        client.idle(Duration::from_millis(5));
    }
}

#[test]
fn a_request_that_asks_to_close_leaves_no_reusable_connection() {
    let addr = replying(vec![OK]);
    let plan = Plan { headers: vec![("connection".into(), "Close".into())], ..plan(addr) };
    let mut client = Client::with(&plan);
    assert_eq!(client.open(addr), Progress::Connected);
    assert_eq!(client.exchange().map(|a| a.reusable), Ok(false), "the server will close it");
    assert!(!client.connection.is_open());
}

#[test]
fn a_request_on_no_open_connection_is_a_write_error() {
    let addr = replying(vec![]);
    let mut client = Client::new(addr);
    assert_eq!(client.exchange(), Err(RequestError::Write));
}

#[test]
fn the_request_carries_the_path_the_host_and_the_extra_headers_in_order() {
    let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let plan = Plan {
        uri: "http://127.0.0.1:8080/single?ms=5".parse().unwrap(),
        headers: vec![("X-A".into(), "b".into())],
        keepalive: false,
        ..plan(addr)
    };
    let request = Request::new(&plan);
    assert_eq!(
        request.text(),
        "GET /single?ms=5 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: close\r\nX-A: b\r\n\r\n"
    );
    assert!(request.closes);
}

#[test]
fn a_host_header_given_replaces_the_one_from_the_url() {
    let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let plan = Plan { headers: vec![("host".into(), "example.test".into())], ..plan(addr) };
    let request = Request::new(&plan);
    assert_eq!(request.text(), "GET /x HTTP/1.1\r\nhost: example.test\r\n\r\n");
    assert!(!request.closes);
}

#[test]
fn a_url_with_a_query_and_no_path_sends_slash_then_the_query() {
    let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let uri = crate::cli::parse_url("http://127.0.0.1:8080?x=1").unwrap().uri;
    let request = Request::new(&Plan { uri, ..plan(addr) });
    assert_eq!(request.text(), "GET /?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");
}
