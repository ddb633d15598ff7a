//! One connection against a scripted server on an ephemeral port of 127.0.0.1.

use std::future::Future;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::timeout;

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
    }
}

/// A server on 127.0.0.1 for one connection, which it hands to `then` once accepted.
async fn server<F, Fut>(then: F) -> SocketAddr
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        if let Ok((stream, _)) = listener.accept().await {
            then(stream).await;
        }
    });
    addr
}

/// Reads up to the end of the request head; the head, or what came before the stream ended.
async fn read_head(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut buf = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    head
}

/// A server that answers each request on its connection with the next of `replies`, and
/// closes after the last.
async fn replying(replies: Vec<&'static [u8]>) -> SocketAddr {
    server(move |mut s| async move {
        for reply in replies {
            read_head(&mut s).await;
            let _ = s.write_all(reply).await;
        }
    })
    .await
}

async fn open(addr: SocketAddr) -> Connection {
    let mut connection = Connection::new();
    connection.open(addr, TIMEOUT).await.expect("connect");
    connection
}

/// One request as the load loop sends it, bounded by the test's timeout.
async fn exchange(connection: &mut Connection, addr: SocketAddr) -> Result<Answer, RequestError> {
    let request = Request::new(&plan(addr));
    timeout(TIMEOUT, connection.exchange(&request)).await.expect("an answer or an error, not a hang")
}

/// One request to `addr` on a new connection.
async fn one_request(addr: SocketAddr) -> Result<Answer, RequestError> {
    exchange(&mut open(addr).await, addr).await
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut connection = Connection::new();
    assert_eq!(connection.open(addr, TIMEOUT).await, Err(RequestError::Connect));
    assert!(!connection.is_open());
}

#[tokio::test]
async fn a_whole_answer_is_its_status_its_bytes_on_the_wire_and_a_reusable_connection() {
    let addr = replying(vec![OK, OK]).await;
    let mut connection = open(addr).await;
    let want = Answer { status: 200, bytes: OK.len() as u64, reusable: true };
    assert_eq!(exchange(&mut connection, addr).await, Ok(want));
    assert!(connection.is_open(), "an idle connection the server keeps is open");
    assert_eq!(exchange(&mut connection, addr).await, Ok(want), "the same connection again");
}

#[tokio::test]
async fn a_whole_non_2xx_answer_is_an_answer_with_its_status() {
    let reply = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\nno";
    let addr = replying(vec![reply]).await;
    let want = Answer { status: 503, bytes: reply.len() as u64, reusable: true };
    assert_eq!(one_request(addr).await, Ok(want));
}

#[tokio::test]
async fn interim_answers_are_read_past_to_the_final_one() {
    let reply = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let addr = replying(vec![reply]).await;
    let want = Answer { status: 200, bytes: reply.len() as u64, reusable: true };
    assert_eq!(one_request(addr).await, Ok(want));
}

#[tokio::test]
async fn a_body_without_framing_ends_with_the_connection_which_is_not_reused() {
    let reply = b"HTTP/1.1 200 OK\r\n\r\nall of it";
    let addr = replying(vec![reply]).await;
    let want = Answer { status: 200, bytes: reply.len() as u64, reusable: false };
    assert_eq!(one_request(addr).await, Ok(want));
}

#[tokio::test]
async fn bytes_after_the_answer_leave_the_connection_out_of_step() {
    let addr = replying(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n"]).await;
    let answer = one_request(addr).await.expect("the answer itself is whole");
    assert_eq!((answer.status, answer.bytes, answer.reusable), (200, 40, false));
}

#[tokio::test]
async fn a_head_longer_than_the_limit_is_a_read_error_not_a_hang() {
    let addr = server(|mut s| async move {
        read_head(&mut s).await;
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n").await;
        let field = format!("X-Long: {}\r\n", "y".repeat(1000));
        for _ in 0..(MAX_HEAD / field.len() + 2) {
            if s.write_all(field.as_bytes()).await.is_err() {
                return;
            }
        }
        std::future::pending::<()>().await;
    })
    .await;
    assert_eq!(one_request(addr).await, Err(RequestError::Read));
}

#[tokio::test]
async fn a_connection_closed_before_the_answer_is_a_read_error() {
    let addr = server(|mut s| async move {
        read_head(&mut s).await;
    })
    .await;
    assert_eq!(one_request(addr).await, Err(RequestError::Read));
}

#[tokio::test]
async fn a_malformed_answer_is_a_read_error() {
    let addr = replying(vec![b"HTTP/1.1 two hundred\r\n\r\n"]).await;
    assert_eq!(one_request(addr).await, Err(RequestError::Read));
}

#[tokio::test]
async fn a_body_cut_short_is_a_read_error() {
    let addr = replying(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"]).await;
    assert_eq!(one_request(addr).await, Err(RequestError::Read));
}

#[tokio::test]
async fn a_request_on_a_connection_the_server_reset_is_a_write_error() {
    let addr = server(|s| async move {
        // Linger 0: the close sends a reset, not a FIN.
        let _ = s.set_zero_linger();
        drop(s);
    })
    .await;
    let mut connection = open(addr).await;
    // Wait for the reset to arrive, without reading it (a read would take the error).
    let stream = connection.stream.as_ref().expect("open");
    timeout(TIMEOUT, stream.readable()).await.expect("the reset never came").expect("readiness");
    assert_eq!(exchange(&mut connection, addr).await, Err(RequestError::Write));
    assert!(!connection.is_open(), "a failed exchange closes the connection");
}

#[tokio::test]
async fn an_idle_connection_the_server_closed_is_seen_closed_before_the_next_request() {
    let addr = replying(vec![OK]).await;
    let mut connection = open(addr).await;
    assert!(exchange(&mut connection, addr).await.is_ok());
    // The server closes after its one answer; its FIN arrives soon after.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while connection.is_open() {
        assert!(tokio::time::Instant::now() < deadline, "the server's close never showed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_request_that_asks_to_close_leaves_no_reusable_connection() {
    let addr = replying(vec![OK]).await;
    let plan = Plan { headers: vec![("connection".into(), "Close".into())], ..plan(addr) };
    let answer = open(addr).await.exchange(&Request::new(&plan)).await;
    assert_eq!(answer.map(|a| a.reusable), Ok(false), "the server will close it");
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
