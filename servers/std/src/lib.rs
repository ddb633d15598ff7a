//! server-std: the blocking floor, what a blocking server costs without a framework.
//!
//! server-hyper is the floor under the async frameworks; this is the floor under
//! server-rouille. Its model is rouille's (a request holds a thread while it waits on the
//! upstream, through the same ureq client set up the same way, and `/multiple` fans out
//! on the same cached pool), with nothing between the socket and the handler: std's
//! `TcpListener`, a thread per connection that reads, parses (httparse, hyper's parser)
//! and answers its own requests. rouille hands every request from tiny_http's connection
//! thread through a queue to a dispatch thread and on to a pool thread; comparing the two
//! splits what rouille costs from what blocking I/O costs (docs/benchmarks/servers-cpu.md).
//!
//! Not a framework and not meant to be one: HTTP/1.1 with keep-alive and pipelining, GET
//! without a body; a request with a body is answered and its connection closed.
//!
//! Threads bound everything, as the blocking model means: `--threads N` connections are
//! served at once ([`DEFAULT_THREADS`] without it; the next waits in the listen backlog),
//! and `/multiple`'s calls run on at most [`proxy::MAX_FANOUT_THREADS`] more, a request
//! that finds none answering 503. Load never drives the thread count to where the OS
//! refuses a thread (where Rust aborts the process). The bound on calls matters for CPU
//! too: with thousands of upstream calls in flight ureq's pool, which re-scans every idle
//! connection under one lock on each call, takes most of it (64% of the samples in
//! docs/benchmarks/servers-cpu.md).
//!
//! A request head must fit [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`] (else 431, or 414 for a
//! request line alone that long) and arrive within [`HEAD_TIMEOUT`] (else 408), so `N`
//! slow clients hold the `N` threads for that long at most (server_common::limits).
//!
//! Run with: cargo run -p server-std

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use server_common::cached_pool::{CachedPool, MAX_PROCESS_THREADS, PoolError, THREAD_KEEP_ALIVE};
use server_common::limits::{HEAD_TIMEOUT, MAX_HEAD_BYTES, MAX_HEADERS};
use server_common::proxy::{self, blocking::App};
use server_common::running::{self, DRAIN_LIMIT};
use server_common::sys::{self, AcceptErrors};
use server_common::{Answer, BenchError, Config, Running};

/// What this server is, in the line its `--help` opens with (after `server-std: `).
pub const ABOUT: &str = "the benchmark's /single and /multiple proxy on std::net alone, ureq as the upstream client (blocking: a thread per connection, up to --threads at once)";

/// The `Server:` header of every response.
pub const SERVER_HEADER: &str = "std";

/// How long a connection this server closes waits for the client to close its side (see
/// [`linger`]), and how much of what the client still sends it reads meanwhile.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1 << 20;

/// Connections served at once without `--threads`: the request threads' half of
/// [`MAX_PROCESS_THREADS`], the fan-out pool having the other.
pub const DEFAULT_THREADS: usize = MAX_PROCESS_THREADS - proxy::MAX_FANOUT_THREADS;
const _: () = assert!(DEFAULT_THREADS > 0 && DEFAULT_THREADS + proxy::MAX_FANOUT_THREADS <= MAX_PROCESS_THREADS);

/// How long the accept loop waits for a connection thread that has closed its connection
/// to count itself idle (it closes it just before), before it refuses the next one.
const HANDOVER: Duration = Duration::from_millis(100);

/// The connections served at once: `--threads`, else [`DEFAULT_THREADS`].
pub fn connection_threads(config: &Config) -> usize {
    config.threads.map_or(DEFAULT_THREADS, NonZeroUsize::get)
}

/// Binds `config.listen` (backlog [`sys::LISTEN_BACKLOG`]), starts the accept thread and
/// returns; the server runs until the [`Running`] is stopped.
///
/// Every accepted connection gets a thread of its own (an idle one if there is one) for
/// its whole life, up to [`connection_threads`] at once: the next one waits in the listen
/// backlog until a connection closes.
pub fn start(config: Config) -> io::Result<Running> {
    start_with_fanout_threads(config, proxy::MAX_FANOUT_THREADS)
}

/// [`start`] with at most `fanout_threads` threads for `/multiple`'s calls: for tests
/// that run out of them on purpose.
pub fn start_with_fanout_threads(config: Config, fanout_threads: usize) -> io::Result<Running> {
    let listener = sys::bind_listener(config.listen)?;
    let addr = listener.local_addr()?;
    let cap = connection_threads(&config);
    let app = App::new(config, cap, "std-fanout", fanout_threads);
    let connections = Arc::new(Connections::new(cap));
    let accepting = Arc::clone(&connections);
    let accept = thread::Builder::new()
        .name("std-accept".into())
        .spawn(move || accept_loop(&listener, &accepting, &app, cap))?;

    Ok(Running::new(addr, move || {
        connections.stop();
        // accept() blocks until a connection comes: bring one.
        let _ = TcpStream::connect_timeout(&reachable(addr), Duration::from_secs(1));
        accept.join().map_err(|_| io::Error::other("server-std accept thread panicked"))?;
        if connections.wait_all_closed(DRAIN_LIMIT) {
            Ok(())
        } else {
            // The connection threads are left to the process exit.
            Err(running::drain_overdue())
        }
    }))
}

/// `addr` with an unspecified IP (0.0.0.0, ::) replaced by loopback: where to connect to a
/// listener bound to it.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port()),
        _ => addr,
    }
}

fn accept_loop(listener: &TcpListener, connections: &Arc<Connections>, app: &Arc<App>, cap: usize) {
    let threads = CachedPool::new("std-conn", THREAD_KEEP_ALIVE, cap);
    let mut errors = AcceptErrors::new("server-std");
    while connections.wait_for_room() {
        // Room among the connections is a thread on its way back to the pool: wait the
        // moment it takes, so that the connection accepted next is not refused for it.
        let handover = Instant::now() + HANDOVER;
        while !threads.has_room() && Instant::now() < handover {
            thread::sleep(Duration::from_micros(100));
        }
        let stream = match listener.accept() {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                if let Some(pause) = errors.failed(&e) {
                    thread::sleep(pause);
                }
                continue;
            }
        };
        let accepted = Instant::now();
        // After a stop, this is the stop's own wake-up connection (or one that came with
        // it): not served. Dropping the listener then closes the backlog.
        let Some(connection) = connections.open(stream) else { break };
        let stream = Arc::clone(&connection.stream);
        let app = Arc::clone(app);
        if let Err(e) = threads.execute(move || serve(&connection, &app, accepted)) {
            // The job, and with it the connection, is dropped (unregistered): this copy
            // of the stream answers and closes it.
            tracing::warn!("server-std: no thread for a connection: {e}");
            refuse(&stream, e);
        }
    }
}

/// The end of a connection no thread can serve: a 503 written by the accept loop without
/// blocking it (a few hundred bytes into an empty socket buffer), then whatever the client
/// has sent so far read and dropped, so the close is a FIN rather than a reset that could
/// erase the answer; a request still on its way when the socket closes meets a reset.
fn refuse(stream: &TcpStream, e: PoolError) {
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let answer = Answer::from(BenchError::NoThread(e));
    if respond(stream, &answer, Persist::Close).is_ok() {
        let _ = stream.shutdown(Shutdown::Write);
        let _ = (&*stream).read(&mut [0u8; 4096]);
    }
}

/// One connection, on its own thread, until the client closes it, sends something that
/// is not a request this server can frame, or the server stops.
///
/// The first request's head must be in within [`HEAD_TIMEOUT`] of `accepted`.
fn serve(connection: &Connection, app: &Arc<App>, accepted: Instant) {
    let stream = &*connection.stream;
    // Answers are small and latency is what is measured: no Nagle delay.
    let _ = stream.set_nodelay(true);
    let mut buffer = Vec::with_capacity(1024);
    let mut first = Some(accepted);
    loop {
        let (head, len) = match next_request(stream, &mut buffer, first.take()) {
            Ok(Some(Ok(request))) => request,
            Ok(Some(Err(bad))) => {
                // The framing is lost: answer, then close.
                if respond(stream, &bad.answer(), Persist::Close).is_ok() {
                    linger(stream);
                }
                return;
            }
            // The client closed, reset, or the server is stopping (its reads shut down).
            Ok(None) | Err(_) => return,
        };
        buffer.drain(..len);
        let answer = app.answer(&head.method, &head.target);
        let persist = if connection.stopping() { Persist::Close } else { head.persist };
        if respond(stream, &answer, persist).is_err() {
            return;
        }
        if persist == Persist::Close {
            linger(stream);
            return;
        }
    }
}

/// The end of a connection this server closes: a FIN after the answer, then what the
/// client still sends (a request body this server never reads, a pipelined request) read
/// and dropped until the client closes too, for at most [`LINGER`].
///
/// Closing a socket with unread input makes the kernel send a reset instead of a FIN. On
/// Linux the client still reads what arrived before the reset, then an error instead of
/// the end of the stream; RFC 9112 (9.6) warns that a reset may also erase a client's
/// unread input, the answer included, which is why servers close this way (Apache's
/// "lingering close"). The bound is on the whole linger, not on each read, so a client
/// that trickles bytes cannot keep the thread.
fn linger(mut stream: &TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let until = Instant::now() + LINGER;
    let (mut chunk, mut left) = ([0u8; 4096], LINGER_BYTES);
    while left > 0 {
        let wait = until.saturating_duration_since(Instant::now());
        if wait.is_zero() || stream.set_read_timeout(Some(wait)).is_err() {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// Reads until `buffer` holds a whole request head; `Ok(None)` when the connection ends
/// first. Bytes after the head (a pipelined request) stay in `buffer`.
///
/// The head must be in within [`HEAD_TIMEOUT`] of `first` (the accept) for a connection's
/// first request, of its first byte for a later one, so an idle keep-alive connection
/// waits as long as its client likes. While heads come whole in one read this costs no
/// syscall: `SO_RCVTIMEO` is armed, with the time left, only for a read that waits for a
/// head already due (the first request's, or the rest of a partial one), and disarmed once
/// the head is in.
fn next_request(
    mut stream: &TcpStream,
    buffer: &mut Vec<u8>,
    first: Option<Instant>,
) -> io::Result<Option<Result<(Head, usize), Bad>>> {
    let mut chunk = [0u8; 4096];
    let mut due = first.map(|accepted| accepted + HEAD_TIMEOUT);
    let mut armed = false;
    let outcome = loop {
        if !buffer.is_empty() {
            match parse(buffer) {
                Parsed::Partial => {
                    due.get_or_insert_with(|| Instant::now() + HEAD_TIMEOUT);
                }
                Parsed::Request(head, len) => break Ok(Some(Ok((head, len)))),
                Parsed::Bad(bad) => break Ok(Some(Err(bad))),
            }
        }
        if let Some(due) = due {
            let left = due.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Ok(Some(Err(Bad::Slow)));
            }
            if let Err(e) = stream.set_read_timeout(Some(left)) {
                break Err(e);
            }
            armed = true;
        }
        match stream.read(&mut chunk) {
            Ok(0) => break Ok(None),
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // SO_RCVTIMEO expired: Linux says EAGAIN.
            Err(e) if armed && matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break Ok(Some(Err(Bad::Slow)));
            }
            Err(e) => break Err(e),
        }
    };
    if armed {
        stream.set_read_timeout(None)?;
    }
    outcome
}

/// What the server needs of a request head.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    method: String,
    target: String,
    persist: Persist,
}

/// Whether the connection goes on after the answer, and what the answer says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Persist {
    /// HTTP/1.1's default: keep-alive, nothing said.
    KeepAlive,
    /// An HTTP/1.0 client asked for keep-alive: say yes.
    KeepAlive10,
    /// Answer with `Connection: close`, then close.
    Close,
}

/// A request this server cannot frame: answered with a 4xx, then the connection closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bad {
    /// Not HTTP/1.x as httparse reads it.
    Syntax(httparse::Error),
    /// A head of more than [`MAX_HEAD_BYTES`] bytes or [`MAX_HEADERS`] headers.
    TooLarge,
    /// A request line alone of more than [`MAX_HEAD_BYTES`] bytes.
    LineTooLong,
    /// Not a whole head within [`HEAD_TIMEOUT`].
    Slow,
    /// A Content-Length that is not a number, or several that differ (RFC 9112, 6.3).
    Length(&'static str),
}

impl Bad {
    fn answer(self) -> Answer {
        match self {
            Bad::Syntax(e) => Answer::error(400, format!("malformed request: {e}")),
            Bad::TooLarge => Answer::error(431, "request header fields too large"),
            Bad::LineTooLong => Answer::error(414, "request line too long"),
            Bad::Slow => Answer::error(408, format!("request head not received within {} s", HEAD_TIMEOUT.as_secs())),
            Bad::Length(e) => Answer::error(400, e),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Partial,
    Request(Head, usize),
    Bad(Bad),
}

/// Parses the request head at the start of `buffer`: it must end within its first
/// [`MAX_HEAD_BYTES`].
fn parse(buffer: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let limited = &buffer[..buffer.len().min(MAX_HEAD_BYTES)];
    let len = match request.parse(limited) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if limited.len() < MAX_HEAD_BYTES => return Parsed::Partial,
        Ok(httparse::Status::Partial) if !limited.contains(&b'\n') => return Parsed::Bad(Bad::LineTooLong),
        Ok(httparse::Status::Partial) => return Parsed::Bad(Bad::TooLarge),
        Err(httparse::Error::TooManyHeaders) => return Parsed::Bad(Bad::TooLarge),
        Err(e) => return Parsed::Bad(Bad::Syntax(e)),
    };
    let lengths = request.headers.iter().filter(|h| h.name.eq_ignore_ascii_case("content-length"));
    let mut body = match proxy::content_length(lengths.map(|h| h.value)) {
        Ok(body) => body,
        Err(reason) => return Parsed::Bad(Bad::Length(reason)),
    };
    let (mut close, mut keep_alive) = (false, false);
    for header in request.headers.iter() {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            body = true;
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    // No endpoint takes a body, so none is read: the connection closes after the answer
    // instead of skipping it (RFC 9112, 9.6 lets a server close at any time).
    let persist = match request.version {
        _ if close || body => Persist::Close,
        Some(1) => Persist::KeepAlive,
        _ if keep_alive => Persist::KeepAlive10,
        _ => Persist::Close,
    };
    // httparse returns Complete only with method and path set.
    let head = Head {
        method: request.method.unwrap_or_default().to_owned(),
        target: request.path.unwrap_or_default().to_owned(),
        persist,
    };
    Parsed::Request(head, len)
}

/// The one place an answer becomes a response: the whole HTTP/1.1 message, written in
/// one call.
fn respond(mut stream: &TcpStream, answer: &Answer, persist: Persist) -> io::Result<()> {
    let mut out = Vec::with_capacity(192 + answer.body.len());
    let reason = http::StatusCode::from_u16(answer.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    write!(out, "HTTP/1.1 {} {reason}\r\nServer: {SERVER_HEADER}\r\nDate: ", answer.status)?;
    DATE.with_borrow_mut(|date| out.extend_from_slice(date.now().as_bytes()));
    write!(out, "\r\nContent-Type: {}\r\nContent-Length: {}\r\n", answer.content_type, answer.body.len())?;
    if let Some(allow) = answer.allow {
        write!(out, "Allow: {allow}\r\n")?;
    }
    match persist {
        Persist::KeepAlive => {}
        Persist::KeepAlive10 => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        Persist::Close => out.extend_from_slice(b"Connection: close\r\n"),
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&answer.body);
    stream.write_all(&out)
}

thread_local! {
    /// Each thread formats the Date once a second at most, as hyper does per process.
    static DATE: RefCell<HttpDate> = const { RefCell::new(HttpDate { second: u64::MAX, text: String::new() }) };
}

struct HttpDate {
    second: u64,
    text: String,
}

impl HttpDate {
    fn now(&mut self) -> &str {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second {
            self.second = second;
            self.text = httpdate::fmt_http_date(now);
        }
        &self.text
    }
}

/// The open connections: the `--threads` cap, and what a stop must shut down and wait for.
struct Connections {
    cap: usize,
    /// Set once, by [`Connections::stop`]; read without the lock on every answer.
    stopping: AtomicBool,
    state: Mutex<Open>,
    /// Signalled when a connection closes and on stop.
    changed: Condvar,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    streams: HashMap<u64, Arc<TcpStream>>,
}

impl Connections {
    fn new(cap: usize) -> Self {
        Self { cap, stopping: AtomicBool::new(false), state: Mutex::default(), changed: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        // Nothing panics while holding it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until another connection may be served; false once the server is stopping.
    fn wait_for_room(&self) -> bool {
        let full = |open: &mut Open| !self.stopping() && open.streams.len() >= self.cap;
        drop(self.changed.wait_while(self.lock(), full).unwrap_or_else(PoisonError::into_inner));
        !self.stopping()
    }

    /// Registers an accepted connection; `None` (and the stream closed) if stopping.
    fn open(self: &Arc<Self>, stream: TcpStream) -> Option<Connection> {
        // Checked under the lock that stop() takes after setting the flag: a connection is
        // either refused here or registered before stop() shuts the registered ones down.
        let mut open = self.lock();
        if self.stopping() {
            return None;
        }
        let (id, stream) = (open.next_id, Arc::new(stream));
        open.next_id += 1;
        open.streams.insert(id, Arc::clone(&stream));
        Some(Connection { connections: Arc::clone(self), id, stream })
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Stops taking connections and ends the idle ones: shutting down a connection's
    /// reading side ends a thread waiting for its next request (it reads end-of-stream),
    /// while a thread busy with a request still writes its answer, then closes.
    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let open = self.lock();
        for stream in open.streams.values() {
            let _ = stream.shutdown(Shutdown::Read);
        }
        drop(open);
        self.changed.notify_all();
    }

    /// Waits at most `limit` for every connection to close; true if they did.
    fn wait_all_closed(&self, limit: Duration) -> bool {
        let open = self.changed.wait_timeout_while(self.lock(), limit, |open| !open.streams.is_empty());
        let (open, _) = open.unwrap_or_else(PoisonError::into_inner);
        open.streams.is_empty()
    }
}

/// An open connection; dropping it (the thread is done with it) unregisters and closes it.
struct Connection {
    connections: Arc<Connections>,
    id: u64,
    stream: Arc<TcpStream>,
}

impl Connection {
    fn stopping(&self) -> bool {
        self.connections.stopping()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.connections.lock().streams.remove(&self.id);
        self.connections.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &[u8]) -> (Head, usize) {
        match parse(raw) {
            Parsed::Request(head, len) => (head, len),
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(raw)),
        }
    }

    #[test]
    fn a_whole_head_parses_and_a_pipelined_request_stays_behind() {
        let raw = b"GET /single?ms=5 HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\n";
        let (h, len) = head(raw);
        assert_eq!((h.method.as_str(), h.target.as_str(), h.persist), ("GET", "/single?ms=5", Persist::KeepAlive));
        assert_eq!(&raw[len..], b"GET /health HTTP/1.1\r\n");
        assert_eq!(parse(&raw[len..]), Parsed::Partial);
    }

    #[test]
    fn keep_alive_follows_the_version_and_the_connection_header() {
        let persist = |raw: &[u8]| head(raw).0.persist;
        assert_eq!(persist(b"GET / HTTP/1.1\r\n\r\n"), Persist::KeepAlive);
        assert_eq!(persist(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n"), Persist::Close);
        assert_eq!(persist(b"GET / HTTP/1.0\r\n\r\n"), Persist::Close);
        assert_eq!(persist(b"GET / HTTP/1.0\r\nConnection: foo, Keep-Alive\r\n\r\n"), Persist::KeepAlive10);
        // A body is never read, so the connection cannot go on after it.
        assert_eq!(persist(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"), Persist::Close);
        assert_eq!(persist(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), Persist::Close);
        assert_eq!(persist(b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), Persist::KeepAlive);
    }

    #[test]
    fn unframeable_requests_are_4xx() {
        for (raw, status) in [
            (&b"NOT HTTP AT ALL\r\n\r\n"[..], 400),
            (b"GET /single HTTP/9.9\r\n\r\n", 400),
            (b"GET /single HTTP/1.1\r\nHost\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nContent-Length: nope\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        ] {
            match parse(raw) {
                Parsed::Bad(bad) => assert_eq!(bad.answer().status, status, "{:?}", String::from_utf8_lossy(raw)),
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(raw)),
            }
        }
        let many: Vec<u8> = [&b"GET / HTTP/1.1\r\n"[..], &b"X: y\r\n".repeat(MAX_HEADERS + 1), b"\r\n"].concat();
        assert_eq!(parse(&many), Parsed::Bad(Bad::TooLarge));
        assert_eq!(Bad::TooLarge.answer().status, 431);
    }

    #[test]
    fn an_answer_is_one_http_1_1_message_with_the_contract_headers() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let answer = Answer::from(BenchError::MethodNotAllowed);
        respond(&server, &answer, Persist::Close).unwrap();
        drop(server);
        let mut text = String::new();
        (&client).read_to_string(&mut text).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{head}");
        for line in ["Server: std", "Content-Type: application/json", "Allow: GET", "Connection: close"] {
            assert!(head.lines().any(|l| l == line), "no {line:?} in {head}");
        }
        assert!(head.contains(&format!("Content-Length: {}", body.len())), "{head}");
        let date = head.lines().find_map(|l| l.strip_prefix("Date: ")).unwrap();
        assert!(httpdate::parse_http_date(date).is_ok(), "Date {date}");
    }

    #[test]
    fn without_threads_the_connections_and_fanout_threads_are_bounded_within_the_process_budget() {
        let vacant = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let config = Config::for_upstream(server_common::Upstream::at(vacant));
        assert_eq!(config.threads, None);
        let connections = connection_threads(&config);
        assert_eq!(connections, DEFAULT_THREADS);
        assert!(connections + proxy::MAX_FANOUT_THREADS <= MAX_PROCESS_THREADS, "{connections} connection threads");
    }

    #[test]
    fn the_threads_cap_holds_the_next_connection_until_one_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(Connections::new(1));
        let accept = |l: &TcpListener| l.accept().unwrap().0;
        let _client = TcpStream::connect(addr).unwrap();
        assert!(connections.wait_for_room());
        let first = connections.open(accept(&listener)).unwrap();
        let waiter = {
            let connections = Arc::clone(&connections);
            thread::spawn(move || connections.wait_for_room())
        };
        thread::sleep(Duration::from_millis(100));
        assert!(!waiter.is_finished(), "a second connection was let in past --threads 1");
        drop(first);
        assert!(waiter.join().unwrap(), "closing the first did not make room");
    }

    #[test]
    fn a_stop_ends_idle_connections_and_lets_busy_ones_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(Connections::new(DEFAULT_THREADS));
        let client = TcpStream::connect(addr).unwrap();
        let connection = connections.open(listener.accept().unwrap().0).unwrap();
        let reader = thread::spawn(move || {
            // Waiting for a next request that never comes, as an idle keep-alive thread does.
            let mut buffer = Vec::new();
            let next = next_request(&connection.stream, &mut buffer, None).map(|r| r.is_none());
            // The write side still works: a busy thread's answer gets out.
            let answer = Answer::from(BenchError::NotFound);
            let wrote = respond(&connection.stream, &answer, Persist::Close).is_ok();
            (next, wrote)
        });
        thread::sleep(Duration::from_millis(50));
        connections.stop();
        assert!(!connections.wait_for_room(), "a stopping server made room");
        let (next, wrote) = reader.join().unwrap();
        assert_eq!(next.ok(), Some(true), "the idle read did not end");
        assert!(wrote);
        assert!(connections.wait_all_closed(Duration::from_secs(5)));
        let mut text = String::new();
        (&client).read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 404"), "{text}");
        let _late = TcpStream::connect(addr).unwrap();
        assert!(connections.open(listener.accept().unwrap().0).is_none(), "a stopping server took a connection");
    }

    #[test]
    fn a_request_body_is_answered_and_the_connection_ends_cleanly_not_in_a_reset() {
        // Nothing listens upstream: a 405 never calls it.
        let vacant = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let server = start(Config::for_upstream(server_common::Upstream::at(vacant))).unwrap();
        let client = TcpStream::connect(server.addr()).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // Far more body than the server reads with the head: unread input at its close.
        let body = vec![b'x'; 256 * 1024];
        let head = format!("POST /single HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", body.len());
        let writer = {
            let client = client.try_clone().unwrap();
            thread::spawn(move || (&client).write_all(&[head.as_bytes(), &body].concat()))
        };
        let mut text = Vec::new();
        // Without the linger: the 405, then "connection reset by peer" (5 of 5 runs).
        (&client).read_to_end(&mut text).expect("the answer, then a clean end of stream");
        let text = String::from_utf8_lossy(&text);
        assert!(text.starts_with("HTTP/1.1 405 "), "{text}");
        assert!(text.contains("Connection: close\r\n"), "{text}");
        let _ = writer.join();
        server.stop().unwrap();
    }
}
