//! A fault-injection upstream for tests (feature `fault`, and contract's own tests).
//!
//! Raw tokio TCP on an ephemeral port of 127.0.0.1, on a runtime of its own, started and
//! stopped by the test like gosleep. Each request gets the [`Fault`] its plan names, so one
//! upstream can break one call of a `/multiple` and answer the others; every answer but
//! [`Fault::KeepAlive`] closes its connection, so no client can carry a fault over into the
//! next call.
//!
//! [`TlsFaultUpstream`] serves the same faults over TLS with a chosen [`Certificate`] (a
//! trusted one, or one of the ways a certificate fails), or accepts TCP and never answers
//! the ClientHello ([`TlsFaultUpstream::silent`]), and owns the trusted CA's file a server
//! is given as `--upstream-ca`.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::Config;
use crate::running::{self, Running};
use crate::tls::{self, Authority, CaFile, Resume, rustls};
use crate::upstream::Upstream;

/// What the upstream does with one request (after reading its head).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A valid answer: 200 with `Content-Length: n` and `n` bytes.
    Ok(u64),
    /// Accepts and reads the request, never answers.
    Hang,
    /// Sends the head and [`SHORT_SENT`] of [`SHORT_ANNOUNCED`] bytes, then resets the
    /// connection (RST, by closing with `SO_LINGER` 0).
    ResetMidBody,
    /// Announces [`SHORT_ANNOUNCED`] bytes, sends [`SHORT_SENT`], then closes cleanly (FIN).
    ShortBody,
    /// A chunked body of [`SHORT_SENT`] bytes whose last (zero) chunk never comes: the
    /// connection closes at a chunk boundary.
    ChunkedWithoutLastChunk,
    /// A valid close-delimited body: no length, no chunking, `n` bytes, then close.
    CloseDelimited(u64),
    /// Answers this status with an empty body.
    Status(u16),
    /// A status line that is not HTTP.
    MalformedStatusLine,
    /// `Content-Length: bytes`, then one byte every `every`.
    Drip {
        /// Body length.
        bytes: u64,
        /// Pause before each byte.
        every: Duration,
    },
    /// A chunked body that never ends.
    Endless,
    /// A valid answer like [`Fault::Ok`] that keeps its connection open for the next
    /// request: what a keep-alive upstream does, so that a client's reuse can be counted.
    KeepAlive(u64),
    /// `302 Found` with this `Location` and an empty body: a redirect a client must not
    /// follow.
    Redirect(&'static str),
    /// `100 Continue`, then a 200 like [`Fault::Ok`]: an interim answer the client skips.
    ContinueThenOk(u64),
    /// `103 Early Hints` with a `Link` field, then a 200 like [`Fault::Ok`].
    EarlyHintsThenOk(u64),
    /// `204 No Content` with `Content-Length: NO_CONTENT_STRAY` and that many bytes after
    /// the head, then close: a 204 has no content (RFC 9110 15.3.5), so the bytes are not
    /// its body.
    NoContentWithBytes,
    /// A close-delimited body (no length, no chunking) reset after [`SHORT_SENT`] bytes.
    ResetMidCloseDelimited,
    /// A chunked body reset after [`SHORT_SENT`] bytes, at a chunk boundary.
    ResetMidChunked,
}

/// What [`Fault::NoContentWithBytes`] announces and sends after its head.
pub const NO_CONTENT_STRAY: u64 = 5;

/// What [`Fault::ShortBody`] and [`Fault::ResetMidBody`] announce.
pub const SHORT_ANNOUNCED: u64 = 1000;
/// What the cut-short faults send before they stop.
pub const SHORT_SENT: u64 = 100;

/// Longest request head read before answering anyway; test clients send far less.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// The buffer every body is written from, a slice at a time.
static FILLER: [u8; 64 * 1024] = [b'z'; 64 * 1024];

/// The fault-injection upstream; stops when dropped.
pub struct FaultUpstream {
    running: Running,
    counts: Arc<Counts>,
}

/// What an upstream counts as it serves.
#[derive(Default)]
struct Counts {
    /// Request heads read.
    requests: AtomicU64,
    /// TCP connections accepted.
    connections: AtomicU64,
    /// TLS handshakes completed in full.
    full: AtomicU64,
    /// TLS handshakes that resumed a session.
    resumed: AtomicU64,
}

/// What an accepted connection gets before any request is read.
#[derive(Clone)]
enum Accept {
    /// Plain HTTP.
    Plain,
    /// A TLS handshake with this acceptor first.
    Tls(TlsAcceptor),
    /// Nothing, ever: the connection is held open and never read.
    Silent,
}

/// A request plan, shared by every connection.
type Plan = Arc<dyn Fn(u64) -> Fault + Send + Sync>;

impl FaultUpstream {
    /// Starts an upstream answering every request with `fault`.
    pub fn start(fault: Fault) -> io::Result<Self> {
        Self::with_plan(move |_| fault)
    }

    /// Starts an upstream answering request `i` (from 0, in arrival order) with `plan(i)`.
    pub fn with_plan(plan: impl Fn(u64) -> Fault + Send + Sync + 'static) -> io::Result<Self> {
        Self::spawn(Accept::Plain, Arc::new(plan))
    }

    fn spawn(accept: Accept, plan: Plan) -> io::Result<Self> {
        let counts = Arc::new(Counts::default());
        let counter = Arc::clone(&counts);
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let running = running::spawn_tokio("fault-upstream", listen, 1, move |listener, shutdown| async move {
            let accepting = async {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        // Out of descriptors, say: retry later rather than spin.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    counter.connections.fetch_add(1, Ordering::SeqCst);
                    let (plan, counter, accept) = (Arc::clone(&plan), Arc::clone(&counter), accept.clone());
                    tokio::spawn(async move {
                        // An error here is the client going away (or failing the
                        // handshake, as the TLS faults mean it to): nothing to report.
                        let _ = connection(stream, accept, &*plan, &counter).await;
                    });
                }
            };
            // Stopping ends the runtime, and with it every hanging or endless answer.
            tokio::select! {
                () = accepting => Ok(()),
                () = shutdown => Ok(()),
            }
        })?;
        Ok(Self { running, counts })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr()
    }

    /// This upstream as a server's `--upstream`.
    pub fn upstream(&self) -> Upstream {
        Upstream::at(self.addr())
    }

    /// Requests whose head it has read so far.
    pub fn requests(&self) -> u64 {
        self.counts.requests.load(Ordering::SeqCst)
    }

    /// TCP connections it has accepted so far.
    pub fn connections(&self) -> u64 {
        self.counts.connections.load(Ordering::SeqCst)
    }
}

/// `https://ADDR`: an IP literal, which every leaf here names (see [`tls::LOCAL_NAMES`]).
fn https(addr: SocketAddr) -> Upstream {
    Upstream::parse(&format!("https://{addr}")).expect("a socket address is a valid authority")
}

/// The certificate a [`TlsFaultUpstream`] serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Certificate {
    /// A leaf for [`tls::LOCAL_NAMES`] signed by the CA of [`TlsFaultUpstream::ca_file`].
    Trusted,
    /// A leaf for the right names, signed by a CA nobody was told to trust.
    UntrustedCa,
    /// A leaf from the trusted CA for [`WRONG_HOST`] only: not for the address called.
    WrongHost,
    /// A leaf from the trusted CA for the right names whose validity ended a day ago.
    Expired,
}

/// The only name a [`Certificate::WrongHost`] leaf is valid for.
pub const WRONG_HOST: &str = "wrong-host.invalid";

/// A fault-injection upstream over TLS (or one that never answers a ClientHello), with
/// the trusted CA in a file of its own; stops, and removes the file, when dropped.
pub struct TlsFaultUpstream {
    upstream: FaultUpstream,
    ca: CaFile,
    /// Holds the CA file; removed on drop.
    _dir: tempfile::TempDir,
}

impl TlsFaultUpstream {
    /// Starts a TLS upstream serving `certificate` and answering every request with `fault`.
    pub fn start(certificate: Certificate, fault: Fault) -> io::Result<Self> {
        Self::with_plan(certificate, move |_| fault)
    }

    /// Starts a TLS upstream serving `certificate` and answering request `i` (from 0, in
    /// arrival order) with `plan(i)`.
    pub fn with_plan(
        certificate: Certificate,
        plan: impl Fn(u64) -> Fault + Send + Sync + 'static,
    ) -> io::Result<Self> {
        let trusted = Authority::new("fault-upstream trusted CA").map_err(io::Error::other)?;
        let leaf = match certificate {
            Certificate::Trusted => trusted.leaf(&tls::LOCAL_NAMES),
            Certificate::UntrustedCa => {
                Authority::new("fault-upstream untrusted CA").and_then(|other| other.leaf(&tls::LOCAL_NAMES))
            }
            Certificate::WrongHost => trusted.leaf(&[WRONG_HOST]),
            Certificate::Expired => trusted.expired_leaf(&tls::LOCAL_NAMES),
        }
        .map_err(io::Error::other)?;
        // gosleep's server config: the same TLS a server meets in a benchmark.
        let config = tls::server_config(leaf.chain, leaf.key, Resume::On).map_err(io::Error::other)?;
        let accept = Accept::Tls(TlsAcceptor::from(config));
        Self::spawn(&trusted, accept, Arc::new(plan))
    }

    /// Starts an upstream that answers every request with `fault` in plain HTTP, though
    /// addressed as `https://`: the ClientHello gets an HTTP answer.
    pub fn plaintext(fault: Fault) -> io::Result<Self> {
        let trusted = Authority::new("fault-upstream trusted CA").map_err(io::Error::other)?;
        Self::spawn(&trusted, Accept::Plain, Arc::new(move |_| fault))
    }

    /// Starts an upstream that accepts TCP and never answers (nor reads) the ClientHello.
    pub fn silent() -> io::Result<Self> {
        let trusted = Authority::new("fault-upstream trusted CA").map_err(io::Error::other)?;
        Self::spawn(&trusted, Accept::Silent, Arc::new(|_| Fault::Hang))
    }

    fn spawn(trusted: &Authority, accept: Accept, plan: Plan) -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, trusted.pem())?;
        let ca = CaFile::load(&path).map_err(io::Error::other)?;
        Ok(Self { upstream: FaultUpstream::spawn(accept, plan)?, ca, _dir: dir })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.upstream.addr()
    }

    /// This upstream as a server's `--upstream`: `https://127.0.0.1:PORT`.
    pub fn upstream(&self) -> Upstream {
        https(self.addr())
    }

    /// This upstream addressed as `http://`: TLS where a client speaks plain HTTP.
    pub fn upstream_as_http(&self) -> Upstream {
        self.upstream.upstream()
    }

    /// The trusted CA's PEM file: a server's `--upstream-ca`.
    pub fn ca_file(&self) -> &Path {
        self.ca.path()
    }

    /// A server's contract defaults against this upstream, trusting its CA.
    pub fn config(&self) -> Config {
        Config { upstream_ca: Some(self.ca.clone()), ..Config::for_upstream(self.upstream()) }
    }

    /// Requests whose head it has read so far.
    pub fn requests(&self) -> u64 {
        self.upstream.requests()
    }

    /// TCP connections it has accepted so far.
    pub fn connections(&self) -> u64 {
        self.upstream.connections()
    }

    /// TLS handshakes completed in full so far.
    pub fn full_handshakes(&self) -> u64 {
        self.upstream.counts.full.load(Ordering::SeqCst)
    }

    /// TLS handshakes that resumed a session so far.
    pub fn resumed_handshakes(&self) -> u64 {
        self.upstream.counts.resumed.load(Ordering::SeqCst)
    }
}

/// One accepted connection: the handshake `accept` asks for, then requests until an
/// answer closes it.
async fn connection(
    stream: TcpStream,
    accept: Accept,
    plan: &(dyn Fn(u64) -> Fault + Send + Sync),
    counts: &Counts,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    match accept {
        Accept::Plain => serve(stream, plan, counts).await,
        Accept::Tls(acceptor) => {
            let stream = acceptor.accept(stream).await?;
            let resumed = stream.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
            let counter = if resumed { &counts.resumed } else { &counts.full };
            counter.fetch_add(1, Ordering::SeqCst);
            serve(stream, plan, counts).await
        }
        Accept::Silent => {
            // Held open, never read: the client's handshake waits for its own timeout.
            let _held = stream;
            std::future::pending().await
        }
    }
}

/// The TCP socket under a stream, for what only it can do (a reset).
trait Socket: AsyncRead + AsyncWrite + Unpin {
    fn tcp(&self) -> &TcpStream;
}

impl Socket for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Socket for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// An upstream with nothing listening: every connect is refused.
pub fn refused() -> io::Result<Upstream> {
    // Bind, note the port, close: nothing else takes an ephemeral port this quickly.
    let vacant = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(Upstream::at(vacant.local_addr()?))
}

/// Requests on one connection, each answered as the plan says, until an answer closes it
/// (every fault but [`Fault::KeepAlive`]) or the client does.
async fn serve(
    mut stream: impl Socket,
    plan: &(dyn Fn(u64) -> Fault + Send + Sync),
    counts: &Counts,
) -> io::Result<()> {
    loop {
        read_head(&mut stream).await?;
        let fault = plan(counts.requests.fetch_add(1, Ordering::SeqCst));
        if let Fault::KeepAlive(n) = fault {
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {n}\r\n\r\n");
            stream.write_all(head.as_bytes()).await?;
            body(&mut stream, n).await?;
            continue;
        }
        return answer(stream, fault).await;
    }
}

/// One answer that closes its connection.
async fn answer(mut stream: impl Socket, fault: Fault) -> io::Result<()> {
    match fault {
        Fault::Ok(n) | Fault::KeepAlive(n) => {
            head(&mut stream, "200 OK", &format!("content-length: {n}\r\n")).await?;
            body(&mut stream, n).await?;
        }
        Fault::Hang => std::future::pending().await,
        Fault::ResetMidBody => {
            head(&mut stream, "200 OK", &format!("content-length: {SHORT_ANNOUNCED}\r\n")).await?;
            body(&mut stream, SHORT_SENT).await?;
            return reset(stream).await;
        }
        Fault::ResetMidCloseDelimited => {
            head(&mut stream, "200 OK", "").await?;
            body(&mut stream, SHORT_SENT).await?;
            return reset(stream).await;
        }
        Fault::ResetMidChunked => {
            head(&mut stream, "200 OK", "transfer-encoding: chunked\r\n").await?;
            chunk(&mut stream, SHORT_SENT).await?;
            return reset(stream).await;
        }
        Fault::Redirect(location) => {
            head(&mut stream, "302 Found", &format!("location: {location}\r\ncontent-length: 0\r\n")).await?;
        }
        Fault::ContinueThenOk(n) => {
            stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
            head(&mut stream, "200 OK", &format!("content-length: {n}\r\n")).await?;
            body(&mut stream, n).await?;
        }
        Fault::EarlyHintsThenOk(n) => {
            stream.write_all(b"HTTP/1.1 103 Early Hints\r\nlink: </x>; rel=preload\r\n\r\n").await?;
            head(&mut stream, "200 OK", &format!("content-length: {n}\r\n")).await?;
            body(&mut stream, n).await?;
        }
        Fault::NoContentWithBytes => {
            head(&mut stream, "204 No Content", &format!("content-length: {NO_CONTENT_STRAY}\r\n")).await?;
            body(&mut stream, NO_CONTENT_STRAY).await?;
        }
        Fault::ShortBody => {
            head(&mut stream, "200 OK", &format!("content-length: {SHORT_ANNOUNCED}\r\n")).await?;
            body(&mut stream, SHORT_SENT).await?;
        }
        Fault::ChunkedWithoutLastChunk => {
            head(&mut stream, "200 OK", "transfer-encoding: chunked\r\n").await?;
            let half = SHORT_SENT / 2;
            for _ in 0..2 {
                chunk(&mut stream, half).await?;
            }
        }
        Fault::CloseDelimited(n) => {
            head(&mut stream, "200 OK", "").await?;
            body(&mut stream, n).await?;
        }
        Fault::Status(code) => head(&mut stream, &format!("{code} Fault"), "content-length: 0\r\n").await?,
        Fault::MalformedStatusLine => stream.write_all(b"HTTP/1.1 2x0 Nonsense\r\ncontent-length: 2\r\n\r\nok").await?,
        Fault::Drip { bytes, every } => {
            head(&mut stream, "200 OK", &format!("content-length: {bytes}\r\n")).await?;
            for _ in 0..bytes {
                tokio::time::sleep(every).await;
                stream.write_all(b"z").await?;
            }
        }
        Fault::Endless => {
            head(&mut stream, "200 OK", "transfer-encoding: chunked\r\n").await?;
            loop {
                chunk(&mut stream, FILLER.len() as u64).await?;
            }
        }
    }
    stream.shutdown().await
}

/// Flushes and closes with `SO_LINGER` 0, which sends RST instead of FIN.
async fn reset(mut stream: impl Socket) -> io::Result<()> {
    stream.flush().await?;
    socket2::SockRef::from(stream.tcp()).set_linger(Some(Duration::ZERO))
}

/// Reads until the end of the request head (or the client stops sending), so that closing
/// later does not reset the connection over unread request bytes. Bytes that cannot open
/// an HTTP request (a TLS ClientHello) are answered at once, as an HTTP server answers
/// them, rather than waited on for a head that never comes.
async fn read_head(stream: &mut impl Socket) -> io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST_HEAD {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buf[..n]);
        if !head[0].is_ascii_uppercase() {
            break;
        }
    }
    Ok(())
}

/// A response head: `status` (code and reason) and `headers` (each ending in CRLF).
/// Every answer closes its connection.
async fn head(stream: &mut impl Socket, status: &str, headers: &str) -> io::Result<()> {
    let head = format!("HTTP/1.1 {status}\r\nconnection: close\r\n{headers}\r\n");
    stream.write_all(head.as_bytes()).await
}

async fn body(stream: &mut impl Socket, mut n: u64) -> io::Result<()> {
    while n > 0 {
        let len = n.min(FILLER.len() as u64);
        stream.write_all(&FILLER[..len as usize]).await?;
        n -= len;
    }
    Ok(())
}

async fn chunk(stream: &mut impl Socket, n: u64) -> io::Result<()> {
    stream.write_all(format!("{n:x}\r\n").as_bytes()).await?;
    body(stream, n).await?;
    stream.write_all(b"\r\n").await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything the upstream sends for one request, or the error that ended the read.
    async fn exchange(fault: Fault, wait: Duration) -> io::Result<Vec<u8>> {
        let upstream = FaultUpstream::start(fault)?;
        let mut stream = TcpStream::connect(upstream.addr()).await?;
        stream.write_all(b"GET /sleep HTTP/1.1\r\nHost: fault\r\n\r\n").await?;
        let mut got = Vec::new();
        tokio::time::timeout(wait, stream.read_to_end(&mut got))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        assert_eq!(upstream.requests(), 1);
        Ok(got)
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[tokio::test]
    async fn a_short_body_announces_more_than_it_sends_then_closes() {
        let got = text(&exchange(Fault::ShortBody, Duration::from_secs(10)).await.unwrap());
        let (head, body) = got.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {SHORT_ANNOUNCED}")), "{head}");
        assert_eq!(body.len() as u64, SHORT_SENT);
    }

    #[tokio::test]
    async fn a_chunked_body_without_its_last_chunk_ends_at_a_chunk_boundary() {
        let got = text(&exchange(Fault::ChunkedWithoutLastChunk, Duration::from_secs(10)).await.unwrap());
        assert!(got.contains("transfer-encoding: chunked"), "{got}");
        assert!(got.ends_with("\r\n") && !got.ends_with("0\r\n\r\n"), "{got}");
    }

    #[tokio::test]
    async fn reset_mid_body_resets_and_hang_never_answers() {
        let reset = exchange(Fault::ResetMidBody, Duration::from_secs(10)).await;
        assert_eq!(reset.map_err(|e| e.kind()).err(), Some(io::ErrorKind::ConnectionReset));
        let hang = exchange(Fault::Hang, Duration::from_millis(300)).await;
        assert_eq!(hang.map_err(|e| e.kind()).err(), Some(io::ErrorKind::TimedOut));
    }

    #[tokio::test]
    async fn close_delimited_and_chunked_bodies_reset_mid_body() {
        for fault in [Fault::ResetMidCloseDelimited, Fault::ResetMidChunked] {
            let reset = exchange(fault, Duration::from_secs(10)).await;
            assert_eq!(reset.map_err(|e| e.kind()).err(), Some(io::ErrorKind::ConnectionReset), "{fault:?}");
        }
    }

    #[tokio::test]
    async fn redirects_interim_answers_and_a_204_with_bytes_are_sent_as_named() {
        let redirect = text(&exchange(Fault::Redirect("/other"), Duration::from_secs(10)).await.unwrap());
        assert!(redirect.starts_with("HTTP/1.1 302 ") && redirect.contains("location: /other\r\n"), "{redirect}");
        let hints = text(&exchange(Fault::EarlyHintsThenOk(3), Duration::from_secs(10)).await.unwrap());
        assert!(
            hints.starts_with("HTTP/1.1 103 Early Hints\r\nlink: </x>; rel=preload\r\n\r\nHTTP/1.1 200 "),
            "{hints}"
        );
        assert!(hints.ends_with("\r\n\r\nzzz"), "{hints}");
        let cont = text(&exchange(Fault::ContinueThenOk(3), Duration::from_secs(10)).await.unwrap());
        assert!(cont.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 ") && cont.ends_with("zzz"), "{cont}");
        let no_content = text(&exchange(Fault::NoContentWithBytes, Duration::from_secs(10)).await.unwrap());
        assert!(no_content.starts_with("HTTP/1.1 204 ") && no_content.ends_with("\r\n\r\nzzzzz"), "{no_content}");
    }

    #[tokio::test]
    async fn close_delimited_and_dripped_bodies_are_whole() {
        let got = exchange(Fault::CloseDelimited(70_000), Duration::from_secs(10)).await.unwrap();
        let head = text(&got[..got.windows(4).position(|w| w == b"\r\n\r\n").unwrap()]);
        assert!(!head.contains("content-length") && !head.contains("transfer-encoding"), "{head}");
        assert_eq!(got.len() - head.len() - 4, 70_000);
        let drip = Fault::Drip { bytes: 3, every: Duration::from_millis(10) };
        assert!(text(&exchange(drip, Duration::from_secs(10)).await.unwrap()).ends_with("\r\n\r\nzzz"));
    }
}
