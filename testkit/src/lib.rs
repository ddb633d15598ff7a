//! Helpers for black-box tests of the workspace's binaries (a dev-dependency only): a
//! minimal HTTP/1.1 client (here) and child processes ([`process`]).
//!
//! The client is hand-written on purpose: the tests must control exactly which TCP
//! connection carries which request (keep-alive vs `Connection: close` is what gosleep's
//! `/stats` counts), and must be able to send malformed bytes. A pooled client library
//! would hide both.

pub mod process;
pub mod raw;
pub mod sockets;
pub mod wait;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use contract::upstream::MAX_BODY_BYTES;

pub use process::{Child, assert_a_port_in_use_is_named, binary_name, help_first_line, run_to_exit};
pub use wait::wait_until;

/// How long any single test request may take before the test fails instead of hanging.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body (by Content-Length; or to EOF when the server sent none).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 (lossy), for messages and asserts.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON into `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not the expected JSON ({e}): {:?}", self.text()))
    }
}

/// One TCP connection: requests sent on it reuse it (HTTP/1.1 keep-alive).
pub struct Conn {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    /// Connects to `addr`.
    pub async fn open(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self { stream: BufReader::new(stream), host: addr.to_string() })
    }

    /// Sends `METHOD target` with `extra` header lines and reads the answer.
    pub async fn request(&mut self, method: &str, target: &str, extra: &[(&str, &str)]) -> io::Result<Response> {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if method == "POST" || method == "PUT" {
            head.push_str("Content-Length: 0\r\n");
        }
        head.push_str("\r\n");
        self.send_raw(head.as_bytes()).await?;
        self.read_response().await
    }

    /// `GET target` on this connection.
    pub async fn get(&mut self, target: &str) -> io::Result<Response> {
        self.request("GET", target, &[]).await
    }

    /// This end's address: with the server's, it names the connection (for
    /// [`sockets::unread_bytes`]).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.get_ref().local_addr()
    }

    /// Writes bytes as they are (for malformed requests).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.get_mut().write_all(bytes).await
    }

    /// Shuts down the write side (a TCP FIN): the half-close of a client that has sent all
    /// it will send and still waits for its answer.
    pub async fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.get_mut().shutdown().await
    }

    /// Reads one final response (bounded by [`REQUEST_TIMEOUT`]), skipping any interim 1xx
    /// before it, as RFC 9110 15.2 requires of a client (a server may send one unasked: the
    /// hyper loop's probe of a half-close is a `100 Continue`).
    pub async fn read_response(&mut self) -> io::Result<Response> {
        tokio::time::timeout(REQUEST_TIMEOUT, async {
            loop {
                let response = self.read_response_unbounded().await?;
                if !(100..200).contains(&response.status) || response.status == 101 {
                    return Ok(response);
                }
            }
        })
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no response in time"))?
    }

    async fn read_response_unbounded(&mut self) -> io::Result<Response> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before a response"));
        }
        let status =
            line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad("malformed status line"))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).await?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').ok_or_else(|| bad("malformed header"))?;
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        let mut response = Response { status, headers, body: Vec::new() };
        // RFC 9112 6.3: a 1xx, 204 or 304 ends at its head.
        if (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(response);
        }
        // Bodies are held here, so no more than the largest a server or gosleep may send:
        // a bad length or an endless body fails the test instead of exhausting memory.
        let too_large = || bad("body over MAX_BODY_BYTES");
        match response.header("content-length") {
            Some(len) => {
                let len: u64 = len.parse().map_err(|_| bad("bad content-length"))?;
                if len > MAX_BODY_BYTES {
                    return Err(too_large());
                }
                response.body.resize(len as usize, 0);
                self.stream.read_exact(&mut response.body).await?;
            }
            None if response.header("transfer-encoding").is_some() => {
                return Err(bad("chunked bodies are not expected here"));
            }
            None => {
                (&mut self.stream).take(MAX_BODY_BYTES + 1).read_to_end(&mut response.body).await?;
                if response.body.len() as u64 > MAX_BODY_BYTES {
                    return Err(too_large());
                }
            }
        }
        Ok(response)
    }

    /// True once the server has closed this connection (reads EOF within `wait`).
    pub async fn closed_by_peer(&mut self, wait: Duration) -> bool {
        let mut byte = [0u8; 1];
        matches!(tokio::time::timeout(wait, self.stream.read(&mut byte)).await, Ok(Ok(0) | Err(_)))
    }
}

/// `GET target` on a fresh connection that asks to be closed afterwards.
pub async fn get(addr: SocketAddr, target: &str) -> io::Result<Response> {
    Conn::open(addr).await?.request("GET", target, &[("Connection", "close")]).await
}

/// `METHOD target` on a fresh connection that asks to be closed afterwards.
pub async fn request(addr: SocketAddr, method: &str, target: &str) -> io::Result<Response> {
    Conn::open(addr).await?.request(method, target, &[("Connection", "close")]).await
}

#[cfg(test)]
mod tests {
    use contract::fault::{Fault, FaultUpstream};
    use contract::upstream::MAX_BODY_BYTES;

    #[tokio::test]
    async fn the_client_refuses_a_body_over_the_contracts_cap() {
        for fault in [Fault::Ok(MAX_BODY_BYTES + 1), Fault::CloseDelimited(MAX_BODY_BYTES + 1)] {
            let upstream = FaultUpstream::start(fault).unwrap();
            let e = super::get(upstream.addr(), "/").await.unwrap_err();
            assert!(e.to_string().contains("over MAX_BODY_BYTES"), "{fault:?}: {e}");
        }
    }
}
