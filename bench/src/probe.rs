//! The runner's own HTTP/1.0 requests: `/health` of a process it started, gosleep's
//! `/sleep?ms=0` (the upstream still serves), `/stats` and `/stats/reset`. One request a
//! connection, over TLS for an https:// address (trusting the run's CA alone), each
//! bounded by [`PROBE_LIMIT`] so that a wedged process cannot hang the run.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;

use crate::error::BenchError;

/// How long a probe waits to connect, and for each read: anything alive answers a trivial
/// request on loopback far sooner.
pub const PROBE_LIMIT: Duration = Duration::from_secs(5);

/// An address the runner asks: plain, or TLS with the config that trusts the run's CA.
#[derive(Clone)]
pub struct Target {
    addr: SocketAddr,
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// An answer: its status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The body, as text.
    pub body: String,
}

impl Target {
    /// `http://HOST:PORT` or `https://HOST:PORT` (the latter trusting the CA in `trust`).
    pub fn parse(url: &str, trust: Option<&Path>) -> Result<Self, BenchError> {
        let bad = |why: &str| BenchError::Start(format!("{url}: {why}"));
        let (tls, rest) = match url.split_once("://") {
            Some(("http", rest)) => (false, rest),
            Some(("https", rest)) => (true, rest),
            _ => return Err(bad("not an http:// or https:// address")),
        };
        let addr: SocketAddr = rest.trim_end_matches('/').parse().map_err(|_| bad("not IP:PORT"))?;
        let tls = if tls {
            let ca = trust.ok_or_else(|| bad("an https:// address, and no CA to trust"))?;
            let ca = bench_tls::CaFile::load(ca).map_err(|e| bad(&e.to_string()))?;
            Some(bench_tls::client_config(Some(&ca), bench_tls::Resume::Off).map_err(|e| bad(&e.to_string()))?)
        } else {
            None
        };
        Ok(Self { addr, tls })
    }

    /// HOST:PORT.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its URL, `http://HOST:PORT` or `https://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls.is_some() { "https" } else { "http" }, self.addr)
    }

    /// GET `path`.
    pub fn get(&self, path: &str) -> Result<Answer, String> {
        self.request("GET", path, PROBE_LIMIT)
    }

    /// GET `path`, waiting up to `limit` to connect and for each read (a server still
    /// working off an overload may take long to answer, and that time is the figure).
    pub fn get_within(&self, path: &str, limit: Duration) -> Result<Answer, String> {
        self.request("GET", path, limit)
    }

    /// POST `path`, without a body.
    pub fn post(&self, path: &str) -> Result<Answer, String> {
        self.request("POST", path, PROBE_LIMIT)
    }

    fn request(&self, method: &str, path: &str, limit: Duration) -> Result<Answer, String> {
        let stream = TcpStream::connect_timeout(&self.addr, limit).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(limit)).map_err(|e| e.to_string())?;
        stream.set_write_timeout(Some(limit)).map_err(|e| e.to_string())?;
        let head = format!("{method} {path} HTTP/1.0\r\nHost: {}\r\nContent-Length: 0\r\n\r\n", self.addr);
        let mut raw = Vec::new();
        match &self.tls {
            None => exchange(stream, head.as_bytes(), &mut raw)?,
            Some(config) => {
                let name = ServerName::IpAddress(self.addr.ip().into());
                let conn = rustls::ClientConnection::new(config.clone(), name).map_err(|e| e.to_string())?;
                exchange(rustls::StreamOwned::new(conn, stream), head.as_bytes(), &mut raw)?;
            }
        }
        parse_answer(&raw)
    }
}

/// Writes the request, then reads the answer until the server closes (HTTP/1.0).
fn exchange(mut stream: impl Read + Write, head: &[u8], raw: &mut Vec<u8>) -> Result<(), String> {
    stream.write_all(head).map_err(|e| e.to_string())?;
    stream.flush().map_err(|e| e.to_string())?;
    match stream.read_to_end(raw) {
        Ok(_) => Ok(()),
        // A TLS peer that closes without close_notify has still sent the whole answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// The status line's code and the body after the head.
fn parse_answer(raw: &[u8]) -> Result<Answer, String> {
    let text = String::from_utf8_lossy(raw);
    let status = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| if text.is_empty() { "no answer".to_owned() } else { "not an HTTP answer".to_owned() })?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    Ok(Answer { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_its_status_and_body() {
        let a = parse_answer(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!(a, Answer { status: 200, body: "{}".to_owned() });
        assert_eq!(parse_answer(b"").unwrap_err(), "no answer");
        assert_eq!(parse_answer(b"SSH-2.0\r\n").unwrap_err(), "not an HTTP answer");
    }

    #[test]
    fn an_address_is_http_or_https_ip_and_port() {
        let t = Target::parse("http://127.0.0.1:80", None).unwrap();
        assert_eq!(t.url(), "http://127.0.0.1:80");
        assert!(Target::parse("https://127.0.0.1:443", None).is_err(), "no CA to trust");
        assert!(Target::parse("ftp://127.0.0.1:21", None).is_err());
        assert!(Target::parse("http://localhost:80", None).is_err(), "an IP literal, as every process prints");
    }
}
