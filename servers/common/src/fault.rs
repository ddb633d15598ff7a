//! A fault-injection upstream for tests (feature `fault`, and server-common's own tests).
//!
//! Raw tokio TCP on an ephemeral port of 127.0.0.1, on a runtime of its own, started and
//! stopped by the test like gosleep. Each request gets the [`Fault`] its plan names, so one
//! upstream can break one call of a `/multiple` and answer the others; every answer closes
//! its connection, so no client can carry a fault over into the next call.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::running::{self, Running};
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
}

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
    requests: Arc<AtomicU64>,
}

impl FaultUpstream {
    /// Starts an upstream answering every request with `fault`.
    pub fn start(fault: Fault) -> io::Result<Self> {
        Self::with_plan(move |_| fault)
    }

    /// Starts an upstream answering request `i` (from 0, in arrival order) with `plan(i)`.
    pub fn with_plan(plan: impl Fn(u64) -> Fault + Send + Sync + 'static) -> io::Result<Self> {
        let requests = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&requests);
        let plan: Arc<dyn Fn(u64) -> Fault + Send + Sync> = Arc::new(plan);
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let running = running::spawn_tokio("fault-upstream", listen, 1, move |listener, shutdown| async move {
            let accepting = async {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        // Out of descriptors, say: retry later rather than spin.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    let (plan, counter) = (Arc::clone(&plan), Arc::clone(&counter));
                    tokio::spawn(async move {
                        // An error here is the client going away: nothing to report.
                        let _ = serve(stream, &*plan, &counter).await;
                    });
                }
            };
            // Stopping ends the runtime, and with it every hanging or endless answer.
            tokio::select! {
                () = accepting => Ok(()),
                () = shutdown => Ok(()),
            }
        })?;
        Ok(Self { running, requests })
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
        self.requests.load(Ordering::SeqCst)
    }
}

/// An upstream with nothing listening: every connect is refused.
pub fn refused() -> io::Result<Upstream> {
    // Bind, note the port, close: nothing else takes an ephemeral port this quickly.
    let vacant = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(Upstream::at(vacant.local_addr()?))
}

async fn serve(
    mut stream: TcpStream,
    plan: &(dyn Fn(u64) -> Fault + Send + Sync),
    counter: &AtomicU64,
) -> io::Result<()> {
    read_head(&mut stream).await?;
    let fault = plan(counter.fetch_add(1, Ordering::SeqCst));
    stream.set_nodelay(true)?;
    match fault {
        Fault::Ok(n) => {
            head(&mut stream, "200 OK", &format!("content-length: {n}\r\n")).await?;
            body(&mut stream, n).await?;
        }
        Fault::Hang => std::future::pending().await,
        Fault::ResetMidBody => {
            head(&mut stream, "200 OK", &format!("content-length: {SHORT_ANNOUNCED}\r\n")).await?;
            body(&mut stream, SHORT_SENT).await?;
            stream.flush().await?;
            // Linger 0: closing now sends RST instead of FIN.
            socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
            return Ok(());
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

/// Reads until the end of the request head (or the client stops sending), so that closing
/// later does not reset the connection over unread request bytes.
async fn read_head(stream: &mut TcpStream) -> io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST_HEAD {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(())
}

/// A response head: `status` (code and reason) and `headers` (each ending in CRLF).
/// Every answer closes its connection.
async fn head(stream: &mut TcpStream, status: &str, headers: &str) -> io::Result<()> {
    let head = format!("HTTP/1.1 {status}\r\nconnection: close\r\n{headers}\r\n");
    stream.write_all(head.as_bytes()).await
}

async fn body(stream: &mut TcpStream, mut n: u64) -> io::Result<()> {
    while n > 0 {
        let len = n.min(FILLER.len() as u64);
        stream.write_all(&FILLER[..len as usize]).await?;
        n -= len;
    }
    Ok(())
}

async fn chunk(stream: &mut TcpStream, n: u64) -> io::Result<()> {
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
    async fn close_delimited_and_dripped_bodies_are_whole() {
        let got = exchange(Fault::CloseDelimited(70_000), Duration::from_secs(10)).await.unwrap();
        let head = text(&got[..got.windows(4).position(|w| w == b"\r\n\r\n").unwrap()]);
        assert!(!head.contains("content-length") && !head.contains("transfer-encoding"), "{head}");
        assert_eq!(got.len() - head.len() - 4, 70_000);
        let drip = Fault::Drip { bytes: 3, every: Duration::from_millis(10) };
        assert!(text(&exchange(drip, Duration::from_secs(10)).await.unwrap()).ends_with("\r\n\r\nzzz"));
    }
}
