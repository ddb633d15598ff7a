//! loadgen's HTTP/1.1 client: one connection, one request at a time, nothing more.
//!
//! The load loop needs a small part of HTTP/1.1 and needs it cheap: the request's bytes are
//! built once per run and written as they are; an answer is read into the connection's own
//! buffer, its head parsed in place (httparse, the parser hyper uses), its body only
//! counted. A request therefore costs one `write` and, on loopback, usually one `read`, with
//! no allocation, no task and no channel: hyper's general client (a dispatcher task per
//! connection, a channel to it and a oneshot back) cost loadgen more CPU per request than
//! wrk (docs/benchmarks/loadgen.md).
//!
//! A [`Connection`] is a state machine over a non-blocking socket registered with the
//! thread's edge-triggered poller: the load loop starts a step ([`Connection::open`],
//! [`Connection::send`]) and hands it each readiness event ([`Connection::ready`]) until the
//! step reports what became of it. Requests are never pipelined: the next is written only
//! after the whole answer before it.
//!
//! An `https://` connection puts a TLS session (`http1/tls.rs`) between the client and the
//! socket: its handshake is a step of the connect, and the client reads and writes the
//! session's plaintext where it would the socket's bytes. A plain connection never touches
//! that layer, and pays a test for it per read, write and idle check.

mod body;
mod head;
mod tls;

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use self::body::Body;
use self::head::Head;
use self::tls::{Broken, Handshaking, Session};
pub(super) use self::tls::{Failure, Handshake, Negotiated};
use super::Plan;
use super::tls::TlsPlan;
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
    /// Its target's TLS, for an `https://` one.
    tls: Option<TlsPlan>,
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
        Self { bytes: text.into_bytes().into_boxed_slice(), closes, tls: plan.tls.clone() }
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

/// What became of a connection's step so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Progress {
    /// Nothing to report yet: wait for the socket's next event.
    Waiting,
    /// The connect succeeded: the connection is idle and open.
    Connected,
    /// The request's whole answer came. The connection is idle and open if the answer is
    /// reusable, closed otherwise.
    Answered(Answer),
    /// The step failed; the connection is closed.
    Failed(RequestError),
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed,
    Connecting,
    /// Connected, making the TLS handshake.
    Handshaking,
    Idle,
    /// The request's first `usize` bytes are written.
    Writing(usize),
    /// Reading the final answer's head: the buffer holds bytes [start, filled) not yet
    /// taken, after `bytes` bytes of interim answers.
    Head {
        start: usize,
        filled: usize,
        bytes: usize,
    },
    /// Reading the body of the final answer `head`, whose head and body so far came in
    /// `bytes`; the buffer holds bytes [start, filled) not yet fed to the body.
    Body {
        head: Head,
        body: Body,
        bytes: usize,
        start: usize,
        filled: usize,
    },
}

/// One connection of the load: its socket while open, its read buffer, kept across
/// reconnects so that a new connection allocates nothing, and the readiness its poller
/// reported that it has not used up yet (the poller is edge-triggered: it reports a change
/// once). The peer's end of the stream or an error stays reported until the socket closes:
/// no later event would report it again.
///
/// Over TLS it also holds its session, the handshake it completed last and the TLS
/// failure that closed it last, each until the load loop takes it.
#[derive(Debug)]
pub(super) struct Connection {
    stream: Option<TcpStream>,
    tls: Option<Session>,
    phase: Phase,
    buf: Vec<u8>,
    heads: head::Parser,
    readable: bool,
    writable: bool,
    hung_up: bool,
    handshake: Option<Handshake>,
    tls_failure: Option<Failure>,
}

impl Connection {
    /// Not yet open.
    pub(super) fn new() -> Self {
        Self {
            stream: None,
            tls: None,
            phase: Phase::Closed,
            buf: vec![0; BUFFER],
            heads: head::Parser::default(),
            readable: false,
            writable: false,
            hung_up: false,
            handshake: None,
            tls_failure: None,
        }
    }

    /// Starts connecting to `addr`, its events reported to `registry` under `token`; the
    /// outcome comes from [`Connection::ready`]: `Connected` (over TLS, once the handshake
    /// is made), or a connect error (a TLS failure in the handshake too). A connect refused
    /// at once is a connect error here.
    pub(super) fn open(&mut self, addr: SocketAddr, registry: &Registry, token: Token) -> Result<(), RequestError> {
        self.close();
        let mut stream = TcpStream::connect(addr).map_err(|_| RequestError::Connect)?;
        stream.set_nodelay(true).map_err(|_| RequestError::Connect)?;
        registry
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .map_err(|_| RequestError::Connect)?;
        self.stream = Some(stream);
        self.phase = Phase::Connecting;
        Ok(())
    }

    /// Closes it (an exchange cut off by the timeout leaves it out of step). Closing the
    /// socket takes it out of the poller: it is never shared, so no other descriptor keeps
    /// it registered.
    pub(super) fn close(&mut self) {
        self.stream = None;
        self.tls = None;
        self.phase = Phase::Closed;
        self.readable = false;
        self.writable = false;
        self.hung_up = false;
    }

    /// Whether it can carry the next request: open and idle, and not closed by the server
    /// while idle (nor sent something no request asked for, which leaves it out of step;
    /// either way it is closed here). Costs no system call unless the socket was reported
    /// readable since the last answer.
    pub(super) fn is_open(&mut self) -> bool {
        let Self { stream: Some(stream), phase: Phase::Idle, .. } = self else { return false };
        if let Some(session) = &mut self.tls {
            // Asked even when the socket has nothing new: plaintext past the last answer may
            // already be decrypted, and costs no system call to see.
            if !session.idle_usable(stream, &mut self.readable) {
                self.close();
                return false;
            }
        } else if self.readable {
            match stream.read(&mut self.buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                _ => {
                    self.close();
                    return false;
                }
            }
        }
        true
    }

    /// Sends `request` on the idle connection (a write error if there is none) and reads
    /// its answer as far as the socket allows.
    pub(super) fn send(&mut self, request: &Request) -> Progress {
        if !matches!(self.phase, Phase::Idle) {
            self.close();
            return Progress::Failed(RequestError::Write);
        }
        // A request fits the socket's empty send buffer: written at once, as a rule.
        self.writable = true;
        self.phase = Phase::Writing(0);
        self.advance(request)
    }

    /// The handshake that made it `Connected` last, once: `None` over plain HTTP.
    pub(super) fn take_handshake(&mut self) -> Option<Handshake> {
        self.handshake.take()
    }

    /// The TLS failure that made its step fail last, once: `None` when the failure was not
    /// TLS's.
    pub(super) fn take_tls_failure(&mut self) -> Option<Failure> {
        self.tls_failure.take()
    }

    /// Takes the socket's readiness `event` and goes on with the step as far as it allows.
    pub(super) fn ready(&mut self, event: &Event, request: &Request) -> Progress {
        // An error or a hang-up is seen by the next read or write, as its error or its end.
        self.hung_up |= event.is_read_closed() || event.is_error();
        self.readable |= event.is_readable() || self.hung_up;
        self.writable |= event.is_writable() || event.is_write_closed() || event.is_error();
        self.advance(request)
    }

    /// Goes on with the current step; the connection closes if the step failed or its
    /// answer leaves it unusable.
    fn advance(&mut self, request: &Request) -> Progress {
        let progress = match self.phase {
            Phase::Closed | Phase::Idle => return Progress::Waiting,
            Phase::Connecting => self.connected(request),
            Phase::Handshaking => self.handshake(),
            Phase::Writing(_) | Phase::Head { .. } | Phase::Body { .. } => self.exchange(request),
        };
        match progress {
            Progress::Failed(_) | Progress::Answered(Answer { reusable: false, .. }) => self.close(),
            Progress::Connected | Progress::Answered(_) => self.phase = Phase::Idle,
            Progress::Waiting => {}
        }
        progress
    }

    /// A connect in progress: it is made once the socket is writable with no error pending,
    /// and then, to an `https://` target, its TLS handshake starts.
    fn connected(&mut self, request: &Request) -> Progress {
        let Some(stream) = &self.stream else { return Progress::Failed(RequestError::Connect) };
        match stream.take_error() {
            Ok(None) if self.writable => {}
            Ok(None) => return Progress::Waiting,
            Ok(Some(_)) | Err(_) => return Progress::Failed(RequestError::Connect),
        }
        let Some(plan) = &request.tls else { return Progress::Connected };
        match Session::new(plan) {
            Ok(session) => self.tls = Some(session),
            Err(failure) => return self.tls_failed(failure, RequestError::Connect),
        }
        self.phase = Phase::Handshaking;
        self.handshake()
    }

    /// A TLS handshake in progress: `Connected` once it is made.
    fn handshake(&mut self) -> Progress {
        let Self { stream: Some(stream), tls: Some(session), readable, writable, .. } = self else {
            return Progress::Failed(RequestError::Connect);
        };
        match session.handshake(stream, readable, writable) {
            Ok(Handshaking::Waiting) => Progress::Waiting,
            Ok(Handshaking::Done(handshake)) => {
                self.handshake = Some(handshake);
                Progress::Connected
            }
            Err(broken) => self.broke(broken, RequestError::Connect),
        }
    }

    /// The step failed in the TLS layer: a failure of TLS's own is kept to name, and the
    /// step fails as `kind` either way.
    fn broke(&mut self, broken: Broken, kind: RequestError) -> Progress {
        match broken {
            Broken::Tls(failure) => self.tls_failed(failure, kind),
            Broken::Socket => Progress::Failed(kind),
        }
    }

    fn tls_failed(&mut self, failure: Failure, kind: RequestError) -> Progress {
        self.tls_failure = Some(failure);
        Progress::Failed(kind)
    }

    /// Writes what is left of the request, then reads its answer, as far as the socket's
    /// readiness goes. A failed write is a write error; an answer that breaks off or does not
    /// parse is a read error.
    fn exchange(&mut self, request: &Request) -> Progress {
        if let Phase::Writing(sent) = self.phase {
            match self.write(&request.bytes, sent) {
                // Over TLS, the last record must be out too: nothing else would send it.
                Ok(n) if sent + n == request.bytes.len() && self.tls.as_ref().is_none_or(Session::flushed) => {
                    self.phase = Phase::Head { start: 0, filled: 0, bytes: 0 };
                }
                Ok(n) => {
                    self.phase = Phase::Writing(sent + n);
                    return Progress::Waiting;
                }
                Err(()) => return Progress::Failed(RequestError::Write),
            }
        }
        match self.read_answer() {
            Ok(Some(mut answer)) => {
                answer.reusable &= !request.closes;
                Progress::Answered(answer)
            }
            Ok(None) => Progress::Waiting,
            // A TLS failure in the read is kept by `read_at`, to name.
            Err(Malformed) => Progress::Failed(RequestError::Read),
        }
    }

    /// Writes from `bytes[sent..]` while the socket takes them: how many it took.
    fn write(&mut self, bytes: &[u8], sent: usize) -> Result<usize, ()> {
        let stream = self.stream.as_mut().ok_or(())?;
        if let Some(session) = &mut self.tls {
            return session.write(stream, &bytes[sent..], &mut self.writable).map_err(|broken| {
                if let Broken::Tls(failure) = broken {
                    self.tls_failure = Some(failure);
                }
            });
        }
        let mut n = 0;
        while self.writable && sent + n < bytes.len() {
            match stream.write(&bytes[sent + n..]) {
                Ok(0) => return Err(()),
                Ok(m) => n += m,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
        Ok(n)
    }

    /// Reads the answer on from where it stands: the whole answer, or `None` if the socket
    /// has no more for now.
    fn read_answer(&mut self) -> Result<Option<Answer>, Malformed> {
        loop {
            match self.phase {
                Phase::Head { mut start, mut filled, bytes } => {
                    if filled > start {
                        match self.heads.parse(&self.buf[start..filled])? {
                            Some(head) if head.interim() => {
                                self.phase = Phase::Head { start: start + head.len, filled, bytes: bytes + head.len };
                                continue;
                            }
                            Some(head) => {
                                let (body, bytes, start) = (head.body, bytes + head.len, start + head.len);
                                self.phase = Phase::Body { head, body, bytes, start, filled };
                                continue;
                            }
                            None => {}
                        }
                    }
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
                    let Some(n) = self.read_at(filled)? else {
                        self.phase = Phase::Head { start, filled, bytes };
                        return Ok(None);
                    };
                    if n == 0 {
                        return Err(Malformed);
                    }
                    self.phase = Phase::Head { start, filled: filled + n, bytes };
                }
                Phase::Body { head, mut body, mut bytes, start, filled } => {
                    // Fed even when empty: a body of length 0 is complete without a read.
                    let (used, done) = body.feed(&self.buf[start..filled])?;
                    bytes += used;
                    if done {
                        // Bytes past the answer were never asked for: the connection is out
                        // of step.
                        let extra = start + used < filled;
                        return Ok(Some(answer(head.status, bytes, head.reusable && !extra)));
                    }
                    self.phase = Phase::Body { head, body, bytes, start: 0, filled: 0 };
                    let Some(n) = self.read_at(0)? else { return Ok(None) };
                    if n == 0 {
                        body.end_of_stream()?;
                        return Ok(Some(answer(head.status, bytes, false)));
                    }
                    self.phase = Phase::Body { head, body, bytes, start: 0, filled: n };
                }
                _ => return Err(Malformed),
            }
        }
    }

    /// Reads into the buffer from `at`: how many bytes came (0 at the end of the stream), or
    /// `None` if none are there yet. A read shorter than the room it had took all there was,
    /// so it clears the readiness as a refused read would, saving that read's system call:
    /// the edge-triggered poller reports the next bytes to come (tokio's readiness does the
    /// same), though not an end of stream it has reported already. An error leaves the
    /// answer malformed.
    fn read_at(&mut self, at: usize) -> Result<Option<usize>, Malformed> {
        let Self { stream: Some(stream), buf, readable, hung_up, .. } = self else { return Err(Malformed) };
        if let Some(session) = &mut self.tls {
            return session.read(stream, &mut buf[at..], readable).map_err(|broken| {
                if let Broken::Tls(failure) = broken {
                    self.tls_failure = Some(failure);
                }
                Malformed
            });
        }
        while *readable {
            match stream.read(&mut buf[at..]) {
                Ok(n) => {
                    *readable = n == buf.len() - at || *hung_up;
                    return Ok(Some(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => *readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Malformed),
            }
        }
        Ok(None)
    }
}

/// A whole answer of `status`, `bytes` long on the wire.
fn answer(status: u16, bytes: usize, reusable: bool) -> Answer {
    Answer { status, bytes: bytes as u64, reusable }
}

#[cfg(test)]
mod tests;
