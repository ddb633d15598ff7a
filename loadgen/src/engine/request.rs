//! One connection's HTTP: opening it, one request and its whole answer, and which error
//! counter each failure goes to.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONNECTION, HOST, HeaderName, HeaderValue};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::Plan;
use crate::result::RequestError;

/// The sending half of one client connection.
pub(super) type Sender = SendRequest<Empty<Bytes>>;

/// Opens a connection within `timeout`: a refused or failed connect is a connect error, one
/// still not made at the timeout a timeout.
pub(super) async fn open(addr: SocketAddr, timeout: Duration) -> Result<Sender, RequestError> {
    match tokio::time::timeout(timeout, connect(addr)).await {
        Ok(Ok(sender)) => Ok(sender),
        Ok(Err(_)) => Err(RequestError::Connect),
        Err(_) => Err(RequestError::Timeout),
    }
}

pub(super) async fn connect(addr: SocketAddr) -> io::Result<Sender> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(io::Error::other)?;
    tokio::spawn(async move {
        // Ends when the connection closes; its errors surface on the request side.
        let _ = conn.await;
    });
    Ok(sender)
}

/// One request and its whole answer within `timeout` (see [`exchange`]); no whole answer by
/// then is a timeout.
pub(super) async fn send(
    sender: &mut Sender,
    request: Request<Empty<Bytes>>,
    timeout: Duration,
) -> Result<(u16, u64), RequestError> {
    tokio::time::timeout(timeout, exchange(sender, request)).await.unwrap_or(Err(RequestError::Timeout))
}

/// One request and its whole answer: the status and the bytes read (status line and
/// headers estimated from their lengths, body counted).
async fn exchange(sender: &mut Sender, request: Request<Empty<Bytes>>) -> Result<(u16, u64), RequestError> {
    sender.ready().await.map_err(|_| RequestError::Write)?;
    let response = sender.send_request(request).await.map_err(|e| classify(&e))?;
    let status = response.status().as_u16();
    // "HTTP/1.1 200 OK\r\n" plus "Name: value\r\n" per header plus the blank line.
    let mut bytes =
        17 + 2 + response.headers().iter().map(|(k, v)| (k.as_str().len() + v.len() + 4) as u64).sum::<u64>();
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| RequestError::Read)?;
        if let Some(data) = frame.data_ref() {
            bytes += data.len() as u64;
        }
    }
    Ok((status, bytes))
}

/// A request that never went out (the connection was gone first) is a write error; one
/// whose answer broke off or did not parse is a read error.
fn classify(e: &hyper::Error) -> RequestError {
    let broken_pipe = std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<io::Error>())
        .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe);
    if e.is_canceled() || broken_pipe { RequestError::Write } else { RequestError::Read }
}

/// The error a whole answer with `status` counts as: none for a 2xx.
pub(super) fn status_error(status: u16) -> Option<RequestError> {
    (!(200..=299).contains(&status)).then_some(RequestError::Status(status))
}

/// The request every connection sends, its headers built once.
pub(super) struct RequestTemplate {
    uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl RequestTemplate {
    pub(super) fn new(plan: &Plan) -> Self {
        let mut headers = Vec::new();
        if let Some(authority) = plan.uri.authority()
            && let Ok(v) = HeaderValue::from_str(authority.as_str())
        {
            headers.push((HOST, v));
        }
        if !plan.keepalive {
            headers.push((CONNECTION, HeaderValue::from_static("close")));
        }
        for (name, value) in &plan.headers {
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
                headers.push((n, v));
            }
        }
        let path = plan.uri.path_and_query().map_or("/", |p| p.as_str());
        Self { uri: path.parse().unwrap_or_else(|_| Uri::from_static("/")), headers }
    }

    pub(super) fn build(&self) -> Request<Empty<Bytes>> {
        let mut request = Request::new(Empty::new());
        *request.uri_mut() = self.uri.clone();
        request.headers_mut().extend(self.headers.iter().cloned());
        request
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

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

    /// Reads up to the end of the request head.
    async fn read_head(stream: &mut TcpStream) {
        let mut head = Vec::new();
        let mut buf = [0; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// A server that reads the request, writes `reply` and closes.
    async fn replying(reply: &'static [u8]) -> SocketAddr {
        server(move |mut s| async move {
            read_head(&mut s).await;
            let _ = s.write_all(reply).await;
        })
        .await
    }

    /// One request to `addr` on a new connection, as a connection task sends it.
    async fn one_request(addr: SocketAddr, timeout: Duration) -> Result<(u16, u64), RequestError> {
        let mut sender = open(addr, TIMEOUT).await?;
        send(&mut sender, RequestTemplate::new(&plan(addr)).build(), timeout).await
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        assert_eq!(open(addr, TIMEOUT).await.err(), Some(RequestError::Connect));
    }

    #[tokio::test]
    async fn no_whole_answer_within_the_timeout_is_a_timeout_error() {
        let addr = server(|mut s| async move {
            read_head(&mut s).await;
            // Holds the connection open, silent, until the test's runtime ends.
            std::future::pending::<()>().await;
        })
        .await;
        assert_eq!(one_request(addr, Duration::from_millis(200)).await, Err(RequestError::Timeout));
    }

    #[tokio::test]
    async fn a_connection_closed_before_the_answer_is_a_read_error() {
        let addr = server(|mut s| async move { read_head(&mut s).await }).await;
        assert_eq!(one_request(addr, TIMEOUT).await, Err(RequestError::Read));
    }

    #[tokio::test]
    async fn a_malformed_answer_is_a_read_error() {
        let addr = replying(b"HTTP/1.1 two hundred\r\n\r\n").await;
        assert_eq!(one_request(addr, TIMEOUT).await, Err(RequestError::Read));
    }

    #[tokio::test]
    async fn a_body_cut_short_is_a_read_error() {
        let addr = replying(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc").await;
        assert_eq!(one_request(addr, TIMEOUT).await, Err(RequestError::Read));
    }

    #[tokio::test]
    async fn a_request_on_a_connection_already_gone_is_a_write_error() {
        let addr = server(|s| async move { drop(s) }).await;
        let mut sender = open(addr, TIMEOUT).await.unwrap();
        // The connection's task sees the end of file and closes the sender.
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        while !sender.is_closed() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(sender.is_closed(), "the server's close never reached the client");
        let request = RequestTemplate::new(&plan(addr)).build();
        assert_eq!(send(&mut sender, request, TIMEOUT).await, Err(RequestError::Write));
    }

    #[tokio::test]
    async fn a_whole_non_2xx_answer_is_an_answer_counted_by_its_status() {
        let addr = replying(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\nno").await;
        // 17 bytes for the status line as estimated, "content-length: 2\r\n", the blank line, the body.
        assert_eq!(one_request(addr, TIMEOUT).await, Ok((503, 17 + 19 + 2 + 2)));
        assert_eq!(status_error(503), Some(RequestError::Status(503)));
    }

    #[test]
    fn only_a_status_outside_2xx_is_an_error() {
        for ok in [200, 204, 299] {
            assert_eq!(status_error(ok), None, "{ok}");
        }
        for bad in [101, 199, 300, 304, 404, 500, 502, 999] {
            assert_eq!(status_error(bad), Some(RequestError::Status(bad)), "{bad}");
        }
    }

    #[test]
    fn the_request_carries_the_host_the_path_and_the_extra_headers() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let plan = Plan {
            uri: "http://127.0.0.1:8080/single?ms=5".parse().unwrap(),
            headers: vec![("X-A".into(), "b".into())],
            keepalive: false,
            ..plan(addr)
        };
        let request = RequestTemplate::new(&plan).build();
        assert_eq!(request.uri(), "/single?ms=5");
        let h = request.headers();
        assert_eq!((h[HOST].to_str().ok(), h[CONNECTION].to_str().ok()), (Some("127.0.0.1:8080"), Some("close")));
        assert_eq!(h["x-a"], "b");
    }
}
