//! The socket floor: the bare rustls client of the in-memory floor, over real loopback TCP
//! connections, one whole HTTP/1.1 call per connection, as a benchmark server's upstream
//! client makes a not-reused call, with no HTTP library and no async runtime.
//!
//! One call, timed on the client's thread CPU clock from before `connect` to after the
//! socket's close: connect to 127.0.0.1 (blocking `std::net::TcpStream`, `TCP_NODELAY` as the
//! servers set it); for TLS, a `rustls::StreamOwned` whose first write makes the handshake
//! (ClientHello; the server's flight; the client's Finished); write [`REQUEST`]; read until the
//! server's end (its close_notify over TLS, its FIN over TCP), checking [`RESPONSE`] came
//! whole; over TLS send the client's own close_notify, as hyper's connection does when it
//! shuts a tokio-rustls stream down; drop the stream (close).
//!
//! **Who closes first: the server**, as gosleep does for a `Connection: close` request (which
//! [`REQUEST`] is): after the response (and its close_notify) it shuts its side down, waits for
//! the client's end, then closes. So TIME_WAIT falls on the server's side, one per server port,
//! and a long run of short client connections never runs out of the client's ephemeral ports.
//!
//! **Tickets:** `tls13-resumed` is gosleep's server: the ring ticketer, rustls's in-memory
//! session cache and rustls's default two TLS 1.3 tickets a handshake, against a client with
//! `Resumption::in_memory_sessions(256)`; `tls13-resumed-1ticket` is the same with one ticket,
//! to show what the second costs the client (reading and storing it); `tls13-full` has no
//! client store and no tickets. Each case has its client config (and so its session store) and
//! its server config (and so its ticketer). Every TLS call is checked (TLS 1.3, X25519, and
//! `Resumed` for every call of a resumed case after the client's first, `Full` otherwise); a
//! call that is not ends the run, as does a response that is not [`RESPONSE`] whole.
//!
//! **What the clock counts:** `ThreadTime` is the client thread's CPU, user and system: its
//! system calls, and the loopback's receive processing that runs in its context (softirqs run
//! on the way out of its sends; this kernel has no `CONFIG_IRQ_TIME_ACCOUNTING` to take them
//! off the task). Not its waits. A call's figure includes one timed stretch of the clock; the
//! in-memory figure printed beside it (the floor's own measurement, run in the same rounds)
//! includes three or four, and covers the handshake alone: no request, response or close.
//!
//! The server ([`Server`]) answers one connection at a time per case, each case on a listener
//! of its own (its own ServerConfig, ticketer and session cache): a thread per listener. Run it
//! as a process of its own pinned to the other core (`tls-floor serve`), and its CPU is
//! neither on the client's clock nor on the client's core; run in-process (a test, a smoke
//! run), it stays off the client's clock, which is the thread's own.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use cpu_time::ThreadTime;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection, StreamOwned};

use crate::{
    Case, Certificates, ClientView, FloorError, Groups, PROVIDER, SERVER_NAME, Version, client_config,
    measure_with_tickets, median, server_config,
};

/// What the client sends: a `/sleep?ms=0` call as the servers make it of gosleep, asking the
/// server to close after its response.
pub const REQUEST: &[u8] = b"GET /sleep?ms=0 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/// What the server answers every request with.
pub const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

/// The longest request head the server reads before giving up on it.
const MAX_HEAD: usize = 8 * 1024;

/// How long either side waits on a socket before calling the peer stuck.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The client's read buffer: larger than any record the exchange carries, so one `read`
/// call takes whatever one `read` system call would.
const READ_BUFFER: usize = 16 * 1024;

/// One kind of call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketCase {
    /// Plain HTTP over a new TCP connection.
    Tcp,
    /// HTTPS, TLS 1.3 over X25519, every call after the process's first resumed; the server
    /// sends rustls's default two tickets a handshake, as gosleep.
    Tls13Resumed,
    /// As [`SocketCase::Tls13Resumed`], the server sending one ticket a handshake.
    Tls13Resumed1Ticket,
    /// HTTPS, TLS 1.3 over X25519, every call a full handshake: no client session store, no
    /// server tickets.
    Tls13Full,
}

impl SocketCase {
    /// Every case, in the tables' order.
    pub const ALL: [Self; 4] = [Self::Tcp, Self::Tls13Resumed, Self::Tls13Resumed1Ticket, Self::Tls13Full];

    /// The case's name, in the tables, the endpoints file and the CSV lines.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Tls13Resumed => "tls13-resumed",
            Self::Tls13Resumed1Ticket => "tls13-resumed-1ticket",
            Self::Tls13Full => "tls13-full",
        }
    }

    /// The case named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|case| case.name() == name)
    }

    /// The handshake of a TLS case (its first call's is full), and the tickets its server
    /// sends a handshake (`None`: rustls's default); `None` for plain TCP.
    fn tls(self) -> Option<(Case, Option<usize>)> {
        let tls13 = |resumed| Case { version: Version::Tls13, resumed, groups: Groups::X25519 };
        match self {
            Self::Tcp => None,
            Self::Tls13Resumed => Some((tls13(true), None)),
            Self::Tls13Resumed1Ticket => Some((tls13(true), Some(1))),
            Self::Tls13Full => Some((tls13(false), None)),
        }
    }
}

/// Where a server answers each case, and the CA its leaf is signed by.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoints {
    ca: CertificateDer<'static>,
    addresses: Vec<(SocketCase, SocketAddr)>,
}

impl Endpoints {
    /// The address that answers `case`.
    pub fn address(&self, case: SocketCase) -> Option<SocketAddr> {
        self.addresses.iter().find(|(c, _)| *c == case).map(|(_, a)| *a)
    }

    /// The endpoints as the file `tls-floor serve` writes: a line `ca HEX-DER`, then a line
    /// `CASE ADDRESS` a case.
    pub fn to_text(&self) -> String {
        let mut out = String::from("ca ");
        for byte in self.ca.as_ref() {
            let _ = write!(out, "{byte:02x}");
        }
        out.push('\n');
        for (case, address) in &self.addresses {
            let _ = writeln!(out, "{} {address}", case.name());
        }
        out
    }

    /// Reads [`Endpoints::to_text`]'s text.
    pub fn parse(text: &str) -> Result<Self, FloorError> {
        let bad = |line: &str| FloorError::Usage(format!("not an endpoints line: {line:?}"));
        let (mut ca, mut addresses) = (None, Vec::new());
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (key, value) = line.trim().split_once(' ').ok_or_else(|| bad(line))?;
            if key == "ca" {
                let hex = value.as_bytes();
                if hex.len() % 2 != 0 {
                    return Err(bad(line));
                }
                let der = hex
                    .chunks(2)
                    .map(|pair| std::str::from_utf8(pair).ok().and_then(|p| u8::from_str_radix(p, 16).ok()))
                    .collect::<Option<Vec<u8>>>()
                    .ok_or_else(|| bad(line))?;
                ca = Some(CertificateDer::from(der));
            } else {
                let case = SocketCase::from_name(key).ok_or_else(|| bad(line))?;
                addresses.push((case, value.parse().map_err(|_| bad(line))?));
            }
        }
        let ca = ca.ok_or_else(|| FloorError::Usage("the endpoints name no CA".to_owned()))?;
        Ok(Self { ca, addresses })
    }

    /// Reads the file `tls-floor serve --endpoints FILE` wrote.
    pub fn read(path: &Path) -> Result<Self, FloorError> {
        Self::parse(&std::fs::read_to_string(path)?)
    }
}

/// The server: a listener on 127.0.0.1 a case, each answered by a thread of its own, one
/// connection at a time. Stops (and joins its threads) when dropped.
pub struct Server {
    endpoints: Endpoints,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    /// Binds every case's listener on an ephemeral port of 127.0.0.1 and starts answering,
    /// serving `certificates` with each TLS case's server config.
    pub fn start(certificates: &Certificates) -> Result<Self, FloorError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut server = Self {
            endpoints: Endpoints { ca: certificates.ca.clone(), addresses: Vec::new() },
            stop: stop.clone(),
            threads: Vec::new(),
        };
        for case in SocketCase::ALL {
            let config = case.tls().map(|(tls, tickets)| server_config(&tls, certificates, tickets)).transpose()?;
            // std sets SO_REUSEADDR on a listener: a restarted server can bind at once.
            let listener = TcpListener::bind("127.0.0.1:0")?;
            server.endpoints.addresses.push((case, listener.local_addr()?));
            let stop = stop.clone();
            let thread = std::thread::Builder::new()
                .name(format!("serve {}", case.name()))
                .spawn(move || serve(&listener, config.as_ref(), case, &stop))?;
            server.threads.push(thread);
        }
        Ok(server)
    }

    /// Where the server answers.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Each thread waits in accept: a connection wakes it to see the flag.
        for (_, address) in &self.endpoints.addresses {
            let _ = TcpStream::connect(address);
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// One listener's loop: answers each connection in turn until `stop`. A connection that goes
/// wrong is reported on standard error and closed; the client then fails loudly.
fn serve(listener: &TcpListener, config: Option<&Arc<ServerConfig>>, case: SocketCase, stop: &AtomicBool) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if let Err(e) = stream.map_err(FloorError::from).and_then(|tcp| answer(tcp, config)) {
            eprintln!("tls-floor serve: {}: {e}", case.name());
        }
    }
}

/// One connection, server side: read a whole request head, answer [`RESPONSE`] (then a
/// close_notify, over TLS, in the same write), shut the sending side down, read until the
/// client's end (its close_notify and FIN), close.
fn answer(mut tcp: TcpStream, config: Option<&Arc<ServerConfig>>) -> Result<(), FloorError> {
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))?;
    match config {
        None => {
            read_head(&mut tcp)?;
            tcp.write_all(RESPONSE)?;
        }
        Some(config) => {
            let mut conn = ServerConnection::new(config.clone())?;
            // The handshake, the tickets after it, and the request's records.
            read_head(&mut rustls::Stream::new(&mut conn, &mut tcp))?;
            conn.writer().write_all(RESPONSE)?;
            conn.send_close_notify();
            while conn.wants_write() {
                conn.write_tls(&mut tcp)?;
            }
        }
    }
    tcp.shutdown(Shutdown::Write)?;
    let mut sink = [0u8; 1024];
    while tcp.read(&mut sink)? > 0 {}
    Ok(())
}

/// Reads one request head from `from` and checks it is a whole GET with nothing after it.
fn read_head(from: &mut impl Read) -> Result<(), FloorError> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.ends_with(b"\r\n\r\n") {
        let n = from.read(&mut buffer)?;
        if n == 0 {
            return Err(FloorError::Exchange(format!(
                "the connection ended {} bytes into the request head",
                head.len()
            )));
        }
        head.extend_from_slice(&buffer[..n]);
        if head.len() > MAX_HEAD {
            return Err(FloorError::Exchange(format!("a request head past {MAX_HEAD} bytes")));
        }
    }
    let end = head.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |i| i + 4);
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    if end != head.len() || !line.starts_with(b"GET /") || !line.ends_with(b" HTTP/1.1\r") {
        return Err(FloorError::Exchange(format!("not one GET head: {:?}", String::from_utf8_lossy(&head))));
    }
    Ok(())
}

/// Socket calls one call made and the bytes they moved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// `read` calls on the socket, the one that saw the end included.
    pub reads: u64,
    /// `write` and `writev` calls on the socket.
    pub writes: u64,
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
}

impl Counts {
    fn add(&mut self, other: Self) {
        self.reads += other.reads;
        self.writes += other.writes;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
    }
}

/// A socket that counts its `read` and `write` calls: each is one system call.
struct Counting<S> {
    inner: S,
    counts: Counts,
}

impl<S: Read> Read for Counting<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.counts.reads += 1;
        let n = self.inner.read(buf)?;
        self.counts.bytes_in += n as u64;
        Ok(n)
    }
}

impl<S: Write> Write for Counting<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.counts.writes += 1;
        let n = self.inner.write(buf)?;
        self.counts.bytes_out += n as u64;
        Ok(n)
    }

    // rustls writes its queued records with one writev.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.counts.writes += 1;
        let n = self.inner.write_vectored(bufs)?;
        self.counts.bytes_out += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads `from` to its end (a TCP FIN, or over TLS the server's close_notify: rustls calls
/// a TCP end without one an error) into `into`.
fn read_to_end(from: &mut impl Read, into: &mut Vec<u8>) -> io::Result<()> {
    into.clear();
    let mut buffer = [0u8; READ_BUFFER];
    loop {
        let n = from.read(&mut buffer)?;
        if n == 0 {
            return Ok(());
        }
        into.extend_from_slice(&buffer[..n]);
    }
}

/// A blocking client of one case: its address, and for TLS its config, whose session store
/// lasts as long as the client.
pub struct Client {
    case: SocketCase,
    address: SocketAddr,
    tls: Option<(Case, Arc<ClientConfig>)>,
    name: ServerName<'static>,
    calls: u64,
    response: Vec<u8>,
}

impl Client {
    /// A client of `case` at `endpoints`, verifying the server against their CA alone.
    pub fn new(case: SocketCase, endpoints: &Endpoints) -> Result<Self, FloorError> {
        let address = endpoints
            .address(case)
            .ok_or_else(|| FloorError::Usage(format!("the endpoints have no {}", case.name())))?;
        let tls = case.tls().map(|(tls, _)| client_config(&tls, &endpoints.ca).map(|c| (tls, c))).transpose()?;
        let name = ServerName::try_from(SERVER_NAME).map_err(|e| FloorError::Usage(e.to_string()))?;
        Ok(Self { case, address, tls, name, calls: 0, response: Vec::with_capacity(READ_BUFFER) })
    }

    /// One call, connect to close, with nothing checked: the part the clock times.
    fn call(&mut self) -> Result<(Counts, Option<ClientView>), FloorError> {
        let tcp = TcpStream::connect(self.address)?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(IO_TIMEOUT))?;
        let mut sock = Counting { inner: tcp, counts: Counts::default() };
        let Some((_, config)) = &self.tls else {
            sock.write_all(REQUEST)?;
            read_to_end(&mut sock, &mut self.response)?;
            return Ok((sock.counts, None));
        };
        let conn = ClientConnection::new(config.clone(), self.name.clone())?;
        let mut stream = StreamOwned::new(conn, sock);
        // The first write completes the handshake (its Finished written on its own, as
        // tokio-rustls flushes it), then writes the request's record.
        stream.write_all(REQUEST)?;
        read_to_end(&mut stream, &mut self.response)?;
        stream.conn.send_close_notify();
        while stream.conn.wants_write() {
            stream.conn.write_tls(&mut stream.sock)?;
        }
        let view = ClientView::of(&stream.conn);
        Ok((stream.sock.counts, Some(view)))
    }

    /// Checks the call just made: the whole response, and over TLS the handshake the case
    /// asks for (the client's first one full, every later one resumed where the case
    /// resumes). Returns the negotiated group.
    fn check(&mut self, view: Option<ClientView>) -> Result<Option<ClientView>, FloorError> {
        let call = self.calls;
        self.calls += 1;
        if self.response != RESPONSE {
            return Err(FloorError::Exchange(format!(
                "{} call {call}: response {:?}",
                self.case.name(),
                String::from_utf8_lossy(&self.response)
            )));
        }
        if let (Some((tls, _)), Some(view)) = (&self.tls, view) {
            let expected = Case { resumed: tls.resumed && call > 0, ..*tls };
            view.verify(&expected, &format!("{} call {call}", self.case.name()))?;
        }
        Ok(view)
    }

    /// One unmeasured, checked call, then `calls` calls timed on this thread's CPU clock (one
    /// timed stretch a call, connect to close) and checked: the CPU, socket calls and bytes
    /// a call, labelled `round`.
    pub fn measure(&mut self, calls: u32, round: &str) -> Result<Row, FloorError> {
        let (_, view) = self.call()?;
        self.check(view)?;
        let (mut spent, mut counts, mut negotiated) = (Duration::ZERO, Counts::default(), None);
        for _ in 0..calls {
            let clock = ThreadTime::now();
            let (call_counts, view) = self.call()?;
            spent += clock.elapsed();
            counts.add(call_counts);
            negotiated = self.check(view)?.map(|v| v.group_label());
        }
        let per = |total: f64| total / f64::from(calls.max(1));
        Ok(Row {
            mode: Mode::Sockets,
            provider: PROVIDER.to_owned(),
            round: round.to_owned(),
            case: self.case.name().to_owned(),
            negotiated: negotiated.unwrap_or_else(|| "-".to_owned()),
            calls,
            client_us: per(spent.as_secs_f64() * 1e6),
            reads: per(counts.reads as f64),
            writes: per(counts.writes as f64),
            bytes_out: per(counts.bytes_out as f64),
            bytes_in: per(counts.bytes_in as f64),
        })
    }
}

/// The in-memory client figure of `case`'s handshake, for the same round: `calls`
/// handshakes with `certificates`, as the floor's table measures them.
pub fn measure_in_memory(
    case: SocketCase,
    certificates: &Certificates,
    calls: u32,
    round: &str,
) -> Result<Option<Row>, FloorError> {
    let Some((tls, tickets)) = case.tls() else { return Ok(None) };
    let sample = measure_with_tickets(&tls, certificates, calls, tickets)?;
    Ok(Some(Row {
        mode: Mode::Memory,
        provider: sample.provider,
        round: round.to_owned(),
        case: case.name().to_owned(),
        negotiated: sample.negotiated,
        calls,
        client_us: sample.client_us,
        reads: 0.0,
        writes: 0.0,
        bytes_out: 0.0,
        bytes_in: 0.0,
    }))
}

/// How a row was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// Whole calls over loopback sockets.
    Sockets,
    /// The handshake alone, in memory (the floor).
    Memory,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Self::Sockets => "sockets",
            Self::Memory => "memory",
        }
    }
}

/// One case measured once, in one round.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Over sockets or in memory.
    pub mode: Mode,
    /// The provider measured.
    pub provider: String,
    /// The round, unique across runs (process id and round number): rows of one round are
    /// compared with each other.
    pub round: String,
    /// The case's name ([`SocketCase::name`]).
    pub case: String,
    /// The group the handshakes negotiated, "-" for none.
    pub negotiated: String,
    /// Calls (or handshakes, in memory) measured.
    pub calls: u32,
    /// The client's CPU per call (in memory: per handshake), microseconds.
    pub client_us: f64,
    /// Socket `read` calls per call.
    pub reads: f64,
    /// Socket `write`/`writev` calls per call.
    pub writes: f64,
    /// Bytes the client wrote per call.
    pub bytes_out: f64,
    /// Bytes the client read per call.
    pub bytes_in: f64,
}

impl Row {
    /// The row as one CSV line, as [`Row::parse`] reads it.
    pub fn csv(&self) -> String {
        format!(
            "{},{},{},{},{},{},{:.2},{:.2},{:.2},{:.1},{:.1}",
            self.mode.name(),
            self.provider,
            self.round,
            self.case,
            self.negotiated,
            self.calls,
            self.client_us,
            self.reads,
            self.writes,
            self.bytes_out,
            self.bytes_in
        )
    }

    /// A line of [`Row::csv`].
    pub fn parse(line: &str) -> Result<Self, FloorError> {
        let bad = || FloorError::Usage(format!("not a tls-floor sockets CSV line: {line:?}"));
        let fields: Vec<&str> = line.trim().split(',').collect();
        let [mode, provider, round, case, negotiated, calls, client, reads, writes, out, into] = fields[..] else {
            return Err(bad());
        };
        let mode = [Mode::Sockets, Mode::Memory].into_iter().find(|m| m.name() == mode).ok_or_else(bad)?;
        let number = |field: &str| field.parse::<f64>().map_err(|_| bad());
        Ok(Self {
            mode,
            provider: provider.to_owned(),
            round: round.to_owned(),
            case: case.to_owned(),
            negotiated: negotiated.to_owned(),
            calls: calls.parse().map_err(|_| bad())?,
            client_us: number(client)?,
            reads: number(reads)?,
            writes: number(writes)?,
            bytes_out: number(out)?,
            bytes_in: number(into)?,
        })
    }
}

/// "median (low-high)" of `values`, with `decimals`; "-" for none.
fn spread(values: &mut [f64], decimals: usize) -> (String, String) {
    if values.is_empty() {
        return ("-".to_owned(), "-".to_owned());
    }
    let mid = median(values);
    // median() sorted them: the range is the first and the last.
    let range = format!("{:.decimals$}-{:.decimals$}", values[0], values[values.len() - 1]);
    (format!("{mid:.decimals$}"), range)
}

/// The Markdown tables of `rows`: each case's client CPU per call over sockets (the median
/// over rounds, with their range) and its socket calls and bytes a call; then per TLS case,
/// computed round by round and given as the median over rounds with their range, what TLS
/// adds to a call over sockets (the case less `tcp` in the same round), the in-memory client
/// handshake of the same round, their difference and their ratio.
pub fn table(rows: &[Row]) -> String {
    let mut cells: BTreeMap<(Mode, usize), Vec<&Row>> = BTreeMap::new();
    for row in rows {
        let index = SocketCase::from_name(&row.case)
            .and_then(|c| SocketCase::ALL.iter().position(|&a| a == c))
            .unwrap_or(SocketCase::ALL.len());
        cells.entry((row.mode, index)).or_default().push(row);
    }
    let name = |index: usize| SocketCase::ALL.get(index).map_or("?", |c| c.name());

    let mut out = String::new();
    out.push_str("| case | provider | negotiated | rounds | calls a round | client µs per call | rounds' range | socket reads per call | socket writes per call | bytes sent per call | bytes received per call |\n");
    out.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for ((mode, index), group) in &cells {
        if *mode != Mode::Sockets {
            continue;
        }
        let column = |f: fn(&Row) -> f64| group.iter().map(|r| f(r)).collect::<Vec<f64>>();
        let (client, range) = spread(&mut column(|r| r.client_us), 1);
        let mut negotiated: Vec<&str> = group.iter().map(|r| r.negotiated.as_str()).collect();
        negotiated.dedup();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {client} | {range} | {} | {} | {} | {} |",
            name(*index),
            group[0].provider,
            negotiated.join(" / "),
            group.len(),
            group[0].calls,
            spread(&mut column(|r| r.reads), 2).0,
            spread(&mut column(|r| r.writes), 2).0,
            spread(&mut column(|r| r.bytes_out), 0).0,
            spread(&mut column(|r| r.bytes_in), 0).0,
        );
    }

    // Round by round: the tcp call's CPU, and each case's over sockets and in memory.
    let by_round = |mode: Mode, index: usize| -> BTreeMap<&str, f64> {
        cells
            .get(&(mode, index))
            .map_or_else(BTreeMap::new, |g| g.iter().map(|r| (r.round.as_str(), r.client_us)).collect())
    };
    let tcp = by_round(Mode::Sockets, 0);
    out.push_str("\n| case | rounds | added per call over sockets, µs (case - tcp) | rounds' range | in-memory client handshake, µs | rounds' range | added beyond the in-memory handshake, µs | rounds' range | added / in-memory | rounds' range |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for index in 1..SocketCase::ALL.len() {
        let (sockets, memory) = (by_round(Mode::Sockets, index), by_round(Mode::Memory, index));
        let (mut added, mut in_memory, mut beyond, mut ratio) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (round, tls) in &sockets {
            let (Some(plain), Some(floor)) = (tcp.get(round), memory.get(round)) else { continue };
            added.push(tls - plain);
            in_memory.push(*floor);
            beyond.push(tls - plain - floor);
            ratio.push((tls - plain) / floor);
        }
        if added.is_empty() {
            continue;
        }
        let rounds = added.len();
        let (added, added_range) = spread(&mut added, 1);
        let (in_memory, in_memory_range) = spread(&mut in_memory, 1);
        let (beyond, beyond_range) = spread(&mut beyond, 1);
        let (ratio, ratio_range) = spread(&mut ratio, 2);
        let _ = writeln!(
            out,
            "| {} | {rounds} | {added} | {added_range} | {in_memory} | {in_memory_range} | {beyond} | {beyond_range} | {ratio} | {ratio_range} |",
            name(index)
        );
    }
    out
}

/// Measures `rounds` rounds against `endpoints`, each round every socket case then every TLS
/// case in memory (forward in even rounds, backward in odd ones, so drift falls on all
/// alike), `calls` calls a case; `each` gets every row as it is made.
pub fn run(
    endpoints: &Endpoints,
    certificates: &Certificates,
    rounds: u32,
    calls: u32,
    mut each: impl FnMut(&Row),
) -> Result<Vec<Row>, FloorError> {
    let mut clients =
        SocketCase::ALL.into_iter().map(|case| Client::new(case, endpoints)).collect::<Result<Vec<_>, _>>()?;
    // Socket cases by index, then the in-memory ones (tcp has none).
    let steps: Vec<(bool, usize)> =
        (0..clients.len()).map(|i| (true, i)).chain((1..clients.len()).map(|i| (false, i))).collect();
    let mut rows = Vec::new();
    for round in 0..rounds {
        let label = format!("{}-{round}", std::process::id());
        let order: Vec<&(bool, usize)> =
            if round % 2 == 0 { steps.iter().collect() } else { steps.iter().rev().collect() };
        for &&(over_sockets, index) in &order {
            let row = if over_sockets {
                Some(clients[index].measure(calls, &label)?)
            } else {
                measure_in_memory(SocketCase::ALL[index], certificates, calls, &label)?
            };
            if let Some(row) = row {
                each(&row);
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> (Certificates, Server) {
        let certificates = Certificates::new().expect("certificates");
        let server = Server::start(&certificates).expect("server");
        (certificates, server)
    }

    #[test]
    fn every_case_makes_whole_calls_of_the_kind_it_names() {
        let (certificates, server) = server();
        let rows = run(server.endpoints(), &certificates, 2, 4, |_| {}).expect("measured");
        assert_eq!(rows.len(), 2 * 7, "{rows:?}");
        for row in &rows {
            assert!(row.client_us > 0.0, "{row:?}");
            if row.mode == Mode::Sockets {
                // The request's write, at least, and the read that saw the end.
                assert!(row.reads >= 1.0 && row.writes >= 1.0, "{row:?}");
                assert_eq!(row.bytes_out > REQUEST.len() as f64, row.case != "tcp", "{row:?}");
            }
            if row.case != "tcp" {
                assert_eq!(row.negotiated, "X25519", "{row:?}");
            }
        }
        let table = table(&rows);
        assert!(table.contains("| tls13-full | 2 |"), "{table}");
    }

    #[test]
    fn a_resuming_client_against_a_server_without_tickets_is_refused() {
        let (_certificates, server) = server();
        let mut endpoints = server.endpoints().clone();
        // The resuming client's address is the full case's server, which sends no tickets.
        let full = endpoints.address(SocketCase::Tls13Full).expect("full");
        for (case, address) in &mut endpoints.addresses {
            if *case == SocketCase::Tls13Resumed {
                *address = full;
            }
        }
        let mut client = Client::new(SocketCase::Tls13Resumed, &endpoints).expect("client");
        let error = client.measure(2, "test").expect_err("a full handshake counted as resumed");
        assert!(matches!(error, FloorError::WrongKind { .. }), "{error}");
    }

    #[test]
    fn a_full_client_never_resumes() {
        let (_certificates, server) = server();
        let mut client = Client::new(SocketCase::Tls13Full, server.endpoints()).expect("client");
        client.measure(3, "test").expect("measured");
        assert_eq!(client.calls, 4);
    }

    #[test]
    fn the_endpoints_and_a_row_read_back_from_their_text() {
        let (_certificates, server) = server();
        let endpoints = server.endpoints();
        assert_eq!(&Endpoints::parse(&endpoints.to_text()).expect("parsed"), endpoints);
        let row = Row {
            mode: Mode::Sockets,
            provider: "ring".into(),
            round: "12-0".into(),
            case: "tls13-resumed".into(),
            negotiated: "X25519".into(),
            calls: 10,
            client_us: 312.25,
            reads: 4.5,
            writes: 4.0,
            bytes_out: 700.0,
            bytes_in: 1500.0,
        };
        assert_eq!(Row::parse(&row.csv()).expect("parsed"), row);
    }

    #[test]
    fn a_request_head_cut_short_or_followed_by_more_is_refused() {
        assert!(read_head(&mut &REQUEST[..]).is_ok());
        assert!(read_head(&mut &REQUEST[..REQUEST.len() - 2]).is_err());
        let mut twice = REQUEST.to_vec();
        twice.extend_from_slice(REQUEST);
        // A reader that hands both in one read: more than one head is refused.
        assert!(read_head(&mut &twice[..]).is_err());
    }
}
