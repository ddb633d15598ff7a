//! loadgen's HTTP/1.1 client: one connection, one request at a time, nothing more.
//!
//! The load loop needs a small part of HTTP/1.1 and needs it cheap: the request's bytes are
//! built once per run and written as they are; an answer is read into the connection's own
//! buffer, its head parsed in place (httparse, the parser hyper uses), its body only
//! counted. A request therefore costs one `write` and, on loopback, usually one `read`, with
//! no allocation, no task besides the connection's own and no channel: hyper's general
//! client (a dispatcher task per connection, a channel to it and a oneshot back) cost
//! loadgen more CPU per request than wrk (docs/benchmarks/loadgen.md).
//!
//! Requests are never pipelined: the next is written only after the whole answer before it.

mod body;
mod head;

use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Plan;
use crate::result::RequestError;

/// A connection's read buffer to start with: a whole usual answer fits, and a longer body is
/// read in pieces of this size (wrk reads 8 KiB at a time too).
const BUFFER: usize = 8 * 1024;

/// The longest head an answer may have (hyper's client allows about as much).
const MAX_HEAD: usize = 64 * 1024;

/// An answer that breaks HTTP/1.1 framing: counted as a read error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// The request every connection sends, serialized once.
#[derive(Debug)]
pub(super) struct Request {
    bytes: Box<[u8]>,
    /// It asks the server to close the connection after answering.
    closes: bool,
}

impl Request {
    /// `GET` of the plan's path and query, with a Host header from its authority (unless an
    /// extra header names one), `Connection: close` without keep-alive, then the extra
    /// headers (checked when the plan was made: no CR, LF or other control byte).
    pub(super) fn new(plan: &Plan) -> Self {
        let path = plan.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut text = format!("GET {path} HTTP/1.1\r\n");
        let named = |name: &str| plan.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        if let Some(authority) = plan.uri.authority()
            && !named("host")
        {
            text.push_str(&format!("Host: {authority}\r\n"));
        }
        if !plan.keepalive {
            text.push_str("Connection: close\r\n");
        }
        let mut closes = !plan.keepalive;
        for (name, value) in &plan.headers {
            text.push_str(&format!("{name}: {value}\r\n"));
            closes |= name.eq_ignore_ascii_case("connection")
                && value.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"));
        }
        text.push_str("\r\n");
        Self { bytes: text.into_bytes().into_boxed_slice(), closes }
    }

    #[cfg(test)]
    fn text(&self) -> &str {
        std::str::from_utf8(&self.bytes).unwrap_or_default()
    }
}

/// A whole answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Answer {
    pub(super) status: u16,
    /// Bytes read for it: interim answers, head and body as they came on the wire.
    pub(super) bytes: u64,
    /// The connection may carry the next request.
    pub(super) reusable: bool,
}

/// One connection of the load: its socket while open, and its read buffer, kept across
/// reconnects so that a new connection allocates nothing.
#[derive(Debug)]
pub(super) struct Connection {
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    heads: head::Parser,
}

impl Connection {
    /// Not yet open.
    pub(super) fn new() -> Self {
        Self { stream: None, buf: vec![0; BUFFER], heads: head::Parser::default() }
    }

    /// Opens it within `timeout`: a refused or failed connect is a connect error, one still
    /// not made at the timeout a timeout.
    pub(super) async fn open(&mut self, addr: SocketAddr, timeout: Duration) -> Result<(), RequestError> {
        match tokio::time::timeout(timeout, self.connect(addr)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(RequestError::Connect),
            Err(_) => Err(RequestError::Timeout),
        }
    }

    async fn connect(&mut self, addr: SocketAddr) -> io::Result<()> {
        self.stream = None;
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        self.stream = Some(stream);
        Ok(())
    }

    /// Closes it (an exchange cut off by the timeout leaves it out of step).
    pub(super) fn close(&mut self) {
        self.stream = None;
    }

    /// Whether it can carry the next request: open, and not closed by the server while idle
    /// (nor sent something no request asked for, which leaves it out of step; either way it
    /// is closed here). Costs no system call unless the socket became readable since the
    /// last answer.
    pub(super) fn is_open(&mut self) -> bool {
        let Some(stream) = &self.stream else { return false };
        let mut cx = Context::from_waker(Waker::noop());
        let closed = match stream.poll_read_ready(&mut cx) {
            Poll::Pending => false,
            Poll::Ready(Err(_)) => true,
            Poll::Ready(Ok(())) => {
                !matches!(stream.try_read(&mut self.buf), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        };
        if closed {
            self.close();
        }
        !closed
    }

    /// Sends `request` and reads its whole answer. A failed write (or no connection) is a
    /// write error; an answer that breaks off or does not parse is a read error. The
    /// connection stays open only if it can carry the next request.
    pub(super) async fn exchange(&mut self, request: &Request) -> Result<Answer, RequestError> {
        let outcome = self.exchange_on_stream(request).await;
        if !matches!(outcome, Ok(Answer { reusable: true, .. })) {
            self.close();
        }
        outcome
    }

    async fn exchange_on_stream(&mut self, request: &Request) -> Result<Answer, RequestError> {
        let stream = self.stream.as_mut().ok_or(RequestError::Write)?;
        // A request fits the socket's empty send buffer: written at once, without a future.
        let sent = match stream.try_write(&request.bytes) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(_) => return Err(RequestError::Write),
        };
        if sent < request.bytes.len() {
            stream.write_all(&request.bytes[sent..]).await.map_err(|_| RequestError::Write)?;
        }
        let mut answer = self.read_answer().await.map_err(|_| RequestError::Read)?;
        answer.reusable &= !request.closes;
        Ok(answer)
    }

    async fn read_answer(&mut self) -> Result<Answer, Malformed> {
        // The buffer holds bytes [start, filled) not yet taken.
        let (mut start, mut filled, mut bytes) = (0, 0, 0);
        let head = loop {
            match self.heads.parse(&self.buf[start..filled])? {
                Some(head) if head.interim() => {
                    start += head.len;
                    bytes += head.len;
                }
                Some(head) => break head,
                None => {
                    if start > 0 {
                        self.buf.copy_within(start..filled, 0);
                        filled -= start;
                        start = 0;
                    }
                    if filled == self.buf.len() {
                        if filled >= MAX_HEAD {
                            return Err(Malformed);
                        }
                        self.buf.resize((filled * 2).min(MAX_HEAD), 0);
                    }
                    filled += self.read_more(filled).await?;
                }
            }
        };
        start += head.len;
        bytes += head.len;
        let mut body = head.body;
        let (used, mut done) = body.feed(&self.buf[start..filled])?;
        start += used;
        bytes += used;
        let mut ended = false;
        while !done {
            let n = self.read_at(0).await.map_err(|_| Malformed)?;
            if n == 0 {
                body.end_of_stream()?;
                ended = true;
                break;
            }
            let (used, complete) = body.feed(&self.buf[..n])?;
            (start, filled, done) = (used, n, complete);
            bytes += used;
        }
        // Bytes past the answer were never asked for: the connection is out of step.
        let extra = start < filled;
        Ok(Answer { status: head.status, bytes: bytes as u64, reusable: head.reusable && !extra && !ended })
    }

    /// Reads more of a head into the buffer from `at`: how many bytes came. The connection's
    /// end before a whole head, or an error, leaves the answer malformed.
    async fn read_more(&mut self, at: usize) -> Result<usize, Malformed> {
        match self.read_at(at).await {
            Ok(0) | Err(_) => Err(Malformed),
            Ok(n) => Ok(n),
        }
    }

    /// Reads into the buffer from `at`: how many bytes came, 0 at the end of the stream.
    async fn read_at(&mut self, at: usize) -> io::Result<usize> {
        let Self { stream: Some(stream), buf, .. } = self else { return Err(io::ErrorKind::NotConnected.into()) };
        stream.read(&mut buf[at..]).await
    }
}

#[cfg(test)]
mod tests;
