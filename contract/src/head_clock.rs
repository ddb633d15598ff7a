//! The head timeout of [`crate::limits`] for servers whose framework times only part of it
//! (feature `head-clock`): hyper's loop in [`crate::hyper_serve`] and server-actix.
//!
//! A framework's own head timer either runs while a keep-alive connection idles (hyper's
//! header-read timer, which would close the pooled connections a benchmark keeps) or only
//! for a connection's first head (actix's client request timeout). This clock sits in the
//! socket instead: wrap each accepted connection in a [`HeadIo`], and hold an [`InFlight`]
//! from each parsed head until its response is done. Bytes read with no request in flight
//! start a head's clock; a read that would wait past the head's deadline fails with
//! [`io::ErrorKind::TimedOut`], which ends the connection as a client's reset would.
//!
//! With [`HeadIo::screening_heads`] the same wrapper also screens each head's bytes
//! ([`crate::head_screen`]) before the server parses them: a refused head is answered here
//! (414 for a request line over the head limit, 400 for the rest), then the connection closes.
//!
//! With [`HeadIo::probing_fin`] it tells a client that half-closed mid-request from one that
//! left ([`PeerReset`]): both send only a FIN, so the wrapper writes an interim `100
//! Continue` (which an HTTP/1.1 client must accept, RFC 9110 15.2) and holds the end-of-file
//! from the server: a client that closed its socket answers that write with a reset, and the
//! server then reads end-of-file and drops the request's work; a half-closed one gets its answer.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::head_screen::{HeadScreen, Refusal};

/// "No head begun" in [`ConnState::head_since`].
const NO_HEAD: u64 = u64::MAX;

/// What a connection's IO (which sees the bytes) and its service (which sees the requests)
/// share: whether a head is being read and since when, and how many requests are in flight.
#[derive(Debug)]
pub struct ConnState {
    accepted: Instant,
    /// [`crate::limits::HEAD_TIMEOUT`] but in tests.
    head_timeout: Duration,
    /// Nanoseconds from `accepted` to the first byte of the head being read; [`NO_HEAD`]
    /// between a parsed head and the next byte. Starts at 0: the first head is timed from
    /// the accept.
    head_since: AtomicU64,
    /// Requests whose response is not yet done.
    in_flight: AtomicUsize,
    /// Of those, the ones whose answer has not begun, and the ones of them that an interim
    /// 1xx may precede (HTTP/1.1 ones, [`InFlight::awaiting`]): what a client's FIN
    /// mid-request leads to ([`ConnState::on_fin`]).
    awaiting: AtomicUsize,
    awaiting_interim_ok: AtomicUsize,
    /// A head has been parsed on this connection (a request was handed to the service).
    served: AtomicBool,
    /// The reader waiting for the requests in flight to be answered before it writes a
    /// refusal after them; woken by the last [`InFlight`]'s end.
    reader_waiting: Mutex<Option<Waker>>,
    /// `reader_waiting` holds a waker: read before taking the lock, so a request's end
    /// costs no lock on a connection whose reader never waited.
    reader_parked: AtomicBool,
}

impl ConnState {
    /// A connection accepted now: its first head is timed from the accept, so a client
    /// that connects and sends nothing is cut off too; each later one from its first byte.
    pub fn new(head_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            accepted: Instant::now(),
            head_timeout,
            head_since: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            awaiting: AtomicUsize::new(0),
            awaiting_interim_ok: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            reader_waiting: Mutex::new(None),
            reader_parked: AtomicBool::new(false),
        })
    }

    /// True (and `cx` woken by the last [`InFlight`]'s end) while requests are in flight.
    fn wait_for_answers(&self, cx: &Context<'_>) -> bool {
        if self.in_flight.load(SeqCst) == 0 {
            return false;
        }
        if let Ok(mut waiting) = self.reader_waiting.lock() {
            *waiting = Some(cx.waker().clone());
        }
        // SeqCst with `InFlight::drop`'s decrement then load of `reader_parked`: one of the
        // two sees the other, so the reader is never left waiting.
        self.reader_parked.store(true, SeqCst);
        self.in_flight.load(SeqCst) > 0
    }

    /// What a client's end-of-file means while requests are in flight (see [`OnFin`]).
    fn on_fin(&self) -> OnFin {
        let (in_flight, awaiting) = (self.in_flight.load(Relaxed), self.awaiting.load(Relaxed));
        if awaiting == 0 {
            OnFin::Hold
        } else if self.awaiting_interim_ok.load(Relaxed) == in_flight {
            OnFin::Probe
        } else {
            OnFin::Gone
        }
    }

    /// Whether a head has been parsed on this connection.
    fn served(&self) -> bool {
        self.served.load(Relaxed)
    }

    /// Bytes arrived: the first after a parsed head starts the next head's clock.
    ///
    /// The socket's bytes carry no mark of head or body: the rest of a request body that
    /// the server reads and discards after answering also starts a clock, so such a
    /// connection (a client sending a body to these GET-only endpoints) closes if it then
    /// idles past the head timeout. Bodiless requests, all a benchmark client sends, never do.
    fn bytes_read(&self) {
        if self.head_since.load(Relaxed) == NO_HEAD {
            let since = u64::try_from(self.accepted.elapsed().as_nanos()).unwrap_or(NO_HEAD - 1);
            self.head_since.store(since, Relaxed);
        }
    }

    /// When the head being read must be complete; `None` while no head is begun, or while
    /// a request is in flight (its bytes may be a body, or a pipelined head that waits for
    /// the answer before it is read).
    fn head_deadline(&self) -> Option<Instant> {
        let since = self.head_since.load(Relaxed);
        if since == NO_HEAD || self.in_flight.load(Relaxed) > 0 {
            return None;
        }
        Some(self.accepted + Duration::from_nanos(since) + self.head_timeout)
    }
}

/// What a client's end-of-file (a FIN) means with requests in flight, for a [`HeadIo`]
/// [probing](HeadIo::probing_fin) it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnFin {
    /// Every answer in flight has begun: it is written, then the server reads end-of-file.
    Hold,
    /// Every request in flight awaits its answer and may get a 1xx first: the FIN is probed.
    Probe,
    /// An answer awaited that no 1xx may precede (HTTP/1.0), or one that awaits behind a
    /// pipelined answer being written: the server reads end-of-file at once.
    Gone,
}

/// The interim answer that probes a client's FIN: written at an answer's boundary, any
/// HTTP/1.1 client skips it, and a client that has closed its socket resets on receiving it.
const FIN_PROBE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// A future that ends once the peer resets the connection.
pub type ResetWatch = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A socket that can tell when its peer resets it: how a [`HeadIo`] tells a client that
/// closed its socket (which resets on receiving data) from one that half-closed (which reads
/// it), since each sends only a FIN.
pub trait PeerReset {
    /// Whether the peer has reset the connection by now. Over loopback a probe's reset has
    /// most often arrived by the time the write returns: asked first, it spares the watch.
    fn reset(&self) -> bool;

    /// A watch for the peer's reset, or `None` if it cannot be made.
    fn watch_reset(&self) -> Option<ResetWatch>;
}

impl PeerReset for tokio::net::TcpStream {
    fn reset(&self) -> bool {
        // The reset left its error on the socket (EPIPE, the FIN having come first).
        !matches!(self.take_error(), Ok(None))
    }

    fn watch_reset(&self) -> Option<ResetWatch> {
        use std::os::fd::AsFd;
        // A second descriptor of the socket, registered on its own, waits for the error a
        // reset raises (EPOLLERR); the connection's own readiness, which the server's reads and
        // writes consume, is left alone. Made only for a FIN mid-request, so nothing per request.
        let watcher = std::net::TcpStream::from(self.as_fd().try_clone_to_owned().ok()?);
        let watcher = tokio::net::TcpStream::from_std(watcher).ok()?;
        Some(Box::pin(async move {
            let _ = watcher.ready(Interest::ERROR).await;
        }))
    }
}

/// How far a [`HeadIo`] has gone with the client's FIN ([`HeadIo::probing_fin`]).
enum FinStage {
    /// No end-of-file read with a request in flight.
    Unseen,
    /// Writing [`FIN_PROBE`]; `written` bytes of it so far.
    Probing { written: usize },
    /// The probe is out: a reset is the client gone, the answers' end the client answered.
    Watching,
    /// End-of-file is read once the answers in flight are done.
    Holding,
}

/// [`HeadIo::probing_fin`]'s state.
struct FinProbe<T> {
    reset: fn(&T) -> bool,
    watch_reset: fn(&T) -> Option<ResetWatch>,
    stage: FinStage,
    /// Made once the probe is out and the peer has not reset yet, then polled while the
    /// answers are awaited.
    watch: Option<ResetWatch>,
}

impl<T> std::fmt::Debug for FinProbe<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stage = match self.stage {
            FinStage::Unseen => "unseen",
            FinStage::Probing { .. } => "probing",
            FinStage::Watching => "watching",
            FinStage::Holding => "holding",
        };
        f.debug_struct("FinProbe").field("stage", &stage).finish_non_exhaustive()
    }
}

/// A connection's socket, as the HTTP server reads it: a read that would wait past the
/// head deadline of its [`ConnState`] fails with [`io::ErrorKind::TimedOut`].
#[derive(Debug)]
pub struct HeadIo<T> {
    io: T,
    state: Arc<ConnState>,
    /// Once set, reads end-of-file until a head has been parsed (see [`HeadIo::ending_unserved_on`]).
    stopping: Option<Arc<AtomicBool>>,
    /// Made the first time a head is still incomplete when the socket has no more bytes,
    /// then reset; most heads arrive in one read and never need it.
    timer: Option<Pin<Box<Sleep>>>,
    /// Set by [`HeadIo::screening_heads`], with the `Server:` its answers carry.
    screen: Option<(HeadScreen, &'static str)>,
    /// A refused head's answer being written, once the screen refused one.
    refusing: Option<Refusing>,
    /// Set by [`HeadIo::probing_fin`].
    fin: Option<FinProbe<T>>,
    /// The server has written bytes it has not flushed yet: part of an answer may be out, so
    /// no probe may be written now (the server flushes once its whole buffer is out).
    unflushed: bool,
}

/// The answer to a refused head, and how far it has gone: written, then the write side
/// shut, then the client's further bytes read and dropped until it closes (closing with
/// unread bytes would reset the connection, and the client could lose the answer).
#[derive(Debug)]
struct Refusing {
    answer: Vec<u8>,
    written: usize,
    /// Once the write side is shut: until when the client may take to close (a head timeout).
    shut: Option<Instant>,
}

impl<T> HeadIo<T> {
    pub fn new(io: T, state: Arc<ConnState>) -> Self {
        Self { io, state, stopping: None, timer: None, screen: None, refusing: None, fin: None, unflushed: false }
    }

    /// Probes a client's end-of-file that arrives while its requests await their answers
    /// (RFC 9112 9.6's half-close, or a client gone): writes `100 Continue` and holds the
    /// end-of-file from the server until either the client resets (gone: the server reads
    /// end-of-file and drops the requests' work) or the answers are done (a half-closed
    /// client: answered, then the close). For a server that takes end-of-file mid-request
    /// for the client gone (hyper's): it then answers half-closed clients without working
    /// on for clients that left. Not probed: a FIN once every answer has begun (held for
    /// them), and one while an HTTP/1.0 answer (no 1xx allowed) or an answer behind a
    /// pipelined one being written is awaited (end-of-file at once).
    pub fn probing_fin(mut self) -> Self
    where
        T: PeerReset,
    {
        self.fin =
            Some(FinProbe { reset: T::reset, watch_reset: T::watch_reset, stage: FinStage::Unseen, watch: None });
        self
    }

    /// Screens each request head before the server reads it ([`crate::head_screen`]): a
    /// request line that fills [`crate::limits::MAX_HEAD_BYTES`] is answered 414, a raw `#`
    /// in the target, an authority-form or `*` target, a missing or second Host (HTTP/1.1),
    /// or Content-Length with Transfer-Encoding 400; the server sees none of that head, and
    /// the connection closes after the answer.
    pub fn screening_heads(mut self, server_header: &'static str) -> Self {
        self.screen = Some((HeadScreen::new(), server_header));
        self
    }

    /// Reads end-of-file, once `stopping` is set, on a connection that has not had a
    /// request yet: for a server whose graceful stop counts such a connection as busy
    /// (hyper's), so that a client that sent nothing or half a head does not hold the stop.
    pub fn ending_unserved_on(mut self, stopping: Arc<AtomicBool>) -> Self {
        self.stopping = Some(stopping);
        self
    }

    /// The connection's state, for the service to begin its requests' [`InFlight`].
    pub fn state(&self) -> &Arc<ConnState> {
        &self.state
    }

    /// Starts answering `refusal` instead of reading.
    fn refuse(&mut self, refusal: Refusal) {
        let server = self.screen.take().map_or("", |(_, server)| server);
        self.refusing = Some(Refusing { answer: refusal.response(server), written: 0, shut: None });
    }

    /// Polls the head deadline; true once it has passed.
    fn head_timed_out(&mut self, cx: &mut Context<'_>, deadline: Instant) -> bool {
        let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        timer.as_mut().poll(cx).is_ready()
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> HeadIo<T> {
    /// Answers a refused head once the requests before it are answered: writes the answer,
    /// shuts the write side, then drops what the client still sends until it closes (ready:
    /// end-of-file for the server) or a head timeout passes.
    fn poll_refuse(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(refusing) = self.refusing.as_mut() else { return Poll::Ready(Ok(())) };
        // Pipelined requests before the refused head are answered first, in order.
        if refusing.written == 0 && self.state.wait_for_answers(cx) {
            return Poll::Pending;
        }
        while refusing.written < refusing.answer.len() {
            let n = std::task::ready!(Pin::new(&mut self.io).poll_write(cx, &refusing.answer[refusing.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            refusing.written += n;
        }
        let deadline = match refusing.shut {
            Some(deadline) => deadline,
            None => {
                std::task::ready!(Pin::new(&mut self.io).poll_shutdown(cx))?;
                *refusing.shut.insert(Instant::now() + self.state.head_timeout)
            }
        };
        let mut scratch = [0u8; 4096];
        loop {
            let mut dropped = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.io).poll_read(cx, &mut dropped) {
                Poll::Ready(Ok(())) if dropped.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending if self.head_timed_out(cx, deadline) => {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "refused client did not close")));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> HeadIo<T> {
    /// The client's end-of-file, read with requests in flight by a [`HeadIo::probing_fin`]
    /// wrapper: ready (end-of-file for the server) once the client is known gone or the
    /// answers are done.
    fn poll_fin(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(fin) = self.fin.as_mut() else { return Poll::Ready(Ok(())) };
        loop {
            match &mut fin.stage {
                FinStage::Unseen => {
                    fin.stage = match self.state.on_fin() {
                        OnFin::Hold => FinStage::Holding,
                        OnFin::Probe if !self.unflushed => FinStage::Probing { written: 0 },
                        OnFin::Probe | OnFin::Gone => return Poll::Ready(Ok(())),
                    };
                }
                FinStage::Probing { written } => {
                    while *written < FIN_PROBE.len() {
                        let n = std::task::ready!(Pin::new(&mut self.io).poll_write(cx, &FIN_PROBE[*written..]))?;
                        if n == 0 {
                            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                        }
                        *written += n;
                    }
                    std::task::ready!(Pin::new(&mut self.io).poll_flush(cx))?;
                    if (fin.reset)(&self.io) {
                        return Poll::Ready(Ok(()));
                    }
                    // No watch (no descriptor left, say): taken for gone, as hyper alone would.
                    fin.watch = (fin.watch_reset)(&self.io);
                    if fin.watch.is_none() {
                        return Poll::Ready(Ok(()));
                    }
                    fin.stage = FinStage::Watching;
                }
                FinStage::Watching => {
                    if fin.watch.as_mut().is_none_or(|watch| watch.as_mut().poll(cx).is_ready()) {
                        return Poll::Ready(Ok(()));
                    }
                    return if self.state.wait_for_answers(cx) { Poll::Pending } else { Poll::Ready(Ok(())) };
                }
                FinStage::Holding => {
                    return if self.state.wait_for_answers(cx) { Poll::Pending } else { Poll::Ready(Ok(())) };
                }
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for HeadIo<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refusing.is_some() {
            return this.poll_refuse(cx);
        }
        if this.stopping.as_ref().is_some_and(|s| s.load(Relaxed)) && !this.state.served() {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                this.state.bytes_read();
                let refused = this.screen.as_mut().and_then(|(screen, _)| screen.feed(&buf.filled()[before..]));
                if let Some((head_start, refusal)) = refused {
                    this.refuse(refusal);
                    // The server gets the requests before the refused head, none of it.
                    buf.set_filled(before + head_start);
                    if head_start == 0 {
                        return this.poll_refuse(cx);
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(())) if this.fin.is_some() && this.state.in_flight.load(Relaxed) > 0 => this.poll_fin(cx),
            Poll::Pending => match this.state.head_deadline() {
                Some(deadline) if this.head_timed_out(cx, deadline) => {
                    Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "request head read timed out")))
                }
                _ => Poll::Pending,
            },
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for HeadIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write(cx, buf);
        this.unflushed |= matches!(written, Poll::Ready(Ok(n)) if n > 0);
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.unflushed |= matches!(written, Poll::Ready(Ok(n)) if n > 0);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.io).poll_flush(cx);
        if matches!(flushed, Poll::Ready(Ok(()))) {
            this.unflushed = false;
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A request in flight on its connection, from its parsed head until its response is done
/// (or the request dropped): no head is timed meanwhile.
#[derive(Debug)]
pub struct InFlight {
    state: Arc<ConnState>,
    /// Counted in [`ConnState::awaiting`] (and whether also as one a 1xx may precede), until
    /// [`InFlight::answer_begun`].
    awaiting: Option<bool>,
}

impl InFlight {
    /// A head was parsed on `state`'s connection: its clock stops, and the next byte
    /// starts the next head's.
    pub fn begin(state: &Arc<ConnState>) -> Self {
        state.head_since.store(NO_HEAD, Relaxed);
        state.served.store(true, Relaxed);
        state.in_flight.fetch_add(1, Relaxed);
        Self { state: Arc::clone(state), awaiting: None }
    }

    /// [`InFlight::begin`] for a server whose connection [probes a FIN](HeadIo::probing_fin):
    /// the request awaits its answer until [`InFlight::answer_begun`]; `interim_ok` if a 1xx
    /// may precede that answer (an HTTP/1.1 request).
    pub fn awaiting(state: &Arc<ConnState>, interim_ok: bool) -> Self {
        let mut request = Self::begin(state);
        state.awaiting.fetch_add(1, Relaxed);
        if interim_ok {
            state.awaiting_interim_ok.fetch_add(1, Relaxed);
        }
        request.awaiting = Some(interim_ok);
        request
    }

    /// The server has the request's answer and begins to write it: no probe goes out now.
    pub fn answer_begun(&mut self) {
        if let Some(interim_ok) = self.awaiting.take() {
            self.state.awaiting.fetch_sub(1, Relaxed);
            if interim_ok {
                self.state.awaiting_interim_ok.fetch_sub(1, Relaxed);
            }
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.answer_begun();
        // See `ConnState::wait_for_answers`.
        if self.state.in_flight.fetch_sub(1, SeqCst) == 1 && self.state.reader_parked.load(SeqCst) {
            let waker = self.state.reader_waiting.lock().map(|mut w| w.take()).unwrap_or_default();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(10);

    /// A [`HeadIo`] over one end of an in-memory pipe, and the client's end.
    fn pipe(state: &Arc<ConnState>) -> (HeadIo<DuplexStream>, DuplexStream) {
        let (server, client) = tokio::io::duplex(1024);
        (HeadIo::new(server, Arc::clone(state)), client)
    }

    /// Reads once, giving up after `wait` (of paused, auto-advanced time): `None` if the
    /// read was still waiting.
    async fn read_within<T: AsyncRead + AsyncWrite + Unpin>(
        io: &mut HeadIo<T>,
        wait: Duration,
    ) -> Option<io::Result<usize>> {
        let mut buf = [0u8; 64];
        tokio::time::timeout(wait, io.read(&mut buf)).await.ok()
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_head_is_timed_from_the_accept() {
        let state = ConnState::new(TIMEOUT);
        let (mut io, _client) = pipe(&state);
        assert!(read_within(&mut io, TIMEOUT / 2).await.is_none(), "cut off before the timeout");
        let failed = read_within(&mut io, TIMEOUT).await.expect("still waiting past the timeout");
        assert_eq!(failed.expect_err("a read past the timeout").kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_head_is_timed_from_its_first_byte() {
        let state = ConnState::new(TIMEOUT);
        let (mut io, mut client) = pipe(&state);
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.expect("write");
        assert!(read_within(&mut io, TIMEOUT).await.expect("read").is_ok());
        drop(InFlight::begin(&state));
        assert!(read_within(&mut io, TIMEOUT * 3).await.is_none(), "an idle keep-alive connection was timed");
        client.write_all(b"GET").await.expect("write");
        assert_eq!(read_within(&mut io, TIMEOUT).await.expect("read").expect("bytes"), 3);
        assert!(read_within(&mut io, TIMEOUT / 2).await.is_none(), "cut off before the timeout");
        let failed = read_within(&mut io, TIMEOUT).await.expect("still waiting past the timeout");
        assert_eq!(failed.expect_err("a read past the timeout").kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn no_head_is_timed_while_a_request_is_in_flight() {
        let state = ConnState::new(TIMEOUT);
        let (mut io, mut client) = pipe(&state);
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.expect("write");
        assert!(read_within(&mut io, TIMEOUT).await.expect("read").is_ok());
        let request = InFlight::begin(&state);
        client.write_all(b"body").await.expect("write");
        assert!(read_within(&mut io, TIMEOUT).await.expect("read").is_ok());
        assert!(read_within(&mut io, TIMEOUT * 3).await.is_none(), "timed while in flight");
        drop(request);
        // The body's bytes started a clock (see `ConnState::bytes_read`), now running.
        let failed = read_within(&mut io, TIMEOUT).await.expect("timed out after the answer");
        assert_eq!(failed.expect_err("a read past the timeout").kind(), io::ErrorKind::TimedOut);
    }

    /// A pipe end whose peer's reset the test decides: at once (`reset_now`), or later by
    /// sending on (or dropping) the sender of `watch`.
    struct Resettable {
        io: DuplexStream,
        reset_now: bool,
        watch: Mutex<Option<tokio::sync::oneshot::Receiver<()>>>,
    }

    impl PeerReset for Resettable {
        fn reset(&self) -> bool {
            self.reset_now
        }

        fn watch_reset(&self) -> Option<ResetWatch> {
            let reset = self.watch.lock().ok()?.take()?;
            Some(Box::pin(async move {
                let _ = reset.await;
            }))
        }
    }

    impl AsyncRead for Resettable {
        fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Resettable {
        fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().io).poll_flush(cx)
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
        }
    }

    /// A FIN-probing [`HeadIo`] over a [`Resettable`] that has read one request and half-closed
    /// after it; the client's end, and the sender that resets the client later.
    async fn half_closed(
        state: &Arc<ConnState>,
        reset_now: bool,
    ) -> (HeadIo<Resettable>, DuplexStream, tokio::sync::oneshot::Sender<()>) {
        let (server, mut client) = tokio::io::duplex(1024);
        let (reset, watch) = tokio::sync::oneshot::channel();
        let server = Resettable { io: server, reset_now, watch: Mutex::new(Some(watch)) };
        let mut io = HeadIo::new(server, Arc::clone(state)).probing_fin();
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.expect("write");
        assert!(read_within(&mut io, TIMEOUT).await.expect("read").is_ok());
        client.shutdown().await.expect("half-close");
        (io, client, reset)
    }

    /// What the client has been sent within `wait` (of paused time).
    async fn sent(client: &mut DuplexStream, wait: Duration) -> Vec<u8> {
        let mut buf = [0u8; 256];
        match tokio::time::timeout(wait, client.read(&mut buf)).await {
            Ok(Ok(n)) => buf[..n].to_vec(),
            _ => Vec::new(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_fin_while_an_answer_is_awaited_is_probed_and_held_until_the_answer() {
        let state = ConnState::new(TIMEOUT);
        let request = InFlight::awaiting(&state, true);
        let (mut io, mut client, _reset) = half_closed(&state, false).await;
        assert!(read_within(&mut io, TIMEOUT).await.is_none(), "end-of-file read while the answer was awaited");
        assert_eq!(sent(&mut client, TIMEOUT).await, FIN_PROBE);
        drop(request);
        assert_eq!(read_within(&mut io, TIMEOUT).await.expect("read").expect("end-of-file"), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reset_after_the_probe_is_the_client_gone_and_end_of_file_at_once() {
        let state = ConnState::new(TIMEOUT);
        let _request = InFlight::awaiting(&state, true);
        let (mut io, mut client, reset) = half_closed(&state, false).await;
        assert!(read_within(&mut io, TIMEOUT).await.is_none(), "end-of-file read before the reset");
        assert_eq!(sent(&mut client, TIMEOUT).await, FIN_PROBE);
        reset.send(()).expect("reset");
        assert_eq!(read_within(&mut io, TIMEOUT).await.expect("read").expect("end-of-file"), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reset_by_the_time_the_probe_is_written_is_end_of_file_at_once() {
        let state = ConnState::new(TIMEOUT);
        let _request = InFlight::awaiting(&state, true);
        let (mut io, mut client, _reset) = half_closed(&state, true).await;
        assert_eq!(read_within(&mut io, TIMEOUT).await.expect("read").expect("end-of-file"), 0);
        assert_eq!(sent(&mut client, TIMEOUT).await, FIN_PROBE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fin_after_the_answer_began_is_held_without_a_probe() {
        let state = ConnState::new(TIMEOUT);
        let mut request = InFlight::awaiting(&state, true);
        request.answer_begun();
        let (mut io, mut client, _reset) = half_closed(&state, false).await;
        assert!(read_within(&mut io, TIMEOUT).await.is_none(), "end-of-file read while the answer was written");
        assert!(sent(&mut client, TIMEOUT).await.is_empty(), "a probe went out after the answer began");
        drop(request);
        assert_eq!(read_within(&mut io, TIMEOUT).await.expect("read").expect("end-of-file"), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fin_while_an_http_1_0_answer_is_awaited_is_end_of_file_at_once_without_a_probe() {
        let state = ConnState::new(TIMEOUT);
        let _request = InFlight::awaiting(&state, false);
        let (mut io, mut client, _reset) = half_closed(&state, false).await;
        assert_eq!(read_within(&mut io, TIMEOUT).await.expect("read").expect("end-of-file"), 0);
        assert!(sent(&mut client, TIMEOUT).await.is_empty(), "a 1xx went to an HTTP/1.0 client");
    }

    #[tokio::test(start_paused = true)]
    async fn a_fin_with_no_request_in_flight_is_end_of_file() {
        let state = ConnState::new(TIMEOUT);
        let (mut io, mut client, _reset) = half_closed(&state, false).await;
        assert_eq!(read_within(&mut io, TIMEOUT).await.expect("read").expect("end-of-file"), 0);
        assert!(sent(&mut client, TIMEOUT).await.is_empty(), "a probe with nothing in flight");
    }

    #[tokio::test(start_paused = true)]
    async fn a_screened_head_is_answered_by_the_wrapper_and_the_server_reads_end_of_file() {
        let state = ConnState::new(TIMEOUT);
        let (io, mut client) = pipe(&state);
        let mut io = io.screening_heads("test");
        client.write_all(b"GET /x#y HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
        let server = tokio::spawn(async move { read_within(&mut io, TIMEOUT).await });
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.expect("the answer, then the write side shut");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{answer}");
        assert!(answer.ends_with(r#"{"error":"a raw # in the request-target"}"#), "{answer}");
        drop(client);
        let read = server.await.expect("join").expect("read after the client closed");
        assert_eq!(read.expect("end-of-file"), 0, "the server was handed the refused head");
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_head_pipelined_after_a_request_is_answered_after_that_request() {
        let state = ConnState::new(TIMEOUT);
        let (io, mut client) = pipe(&state);
        let mut io = io.screening_heads("test");
        let first = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        client.write_all(first).await.expect("write");
        client.write_all(b"GET /#x HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
        let mut buf = [0u8; 256];
        let n = io.read(&mut buf).await.expect("read");
        assert_eq!(&buf[..n], first, "the server gets the first request, none of the refused one");
        let request = InFlight::begin(&state);
        let mut server = tokio::spawn(async move {
            let n = io.read(&mut [0u8; 64]).await;
            (io, n)
        });
        let mut byte = [0u8; 1];
        let early = tokio::time::timeout(TIMEOUT, client.read(&mut byte)).await;
        assert!(early.is_err(), "the refusal was written before the first request's answer");
        drop(request);
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.expect("the refusal");
        assert!(answer.starts_with(b"HTTP/1.1 400 "), "{}", String::from_utf8_lossy(&answer));
        drop(client);
        let (_io, read) = tokio::time::timeout(TIMEOUT, &mut server).await.expect("server read").expect("join");
        assert_eq!(read.expect("end-of-file"), 0);
    }

    /// A connected pair over loopback: (server's end, client's end), the client having sent
    /// a request and then either closed its socket or only shut its write side.
    async fn tcp_after_fin(closed: bool) -> (tokio::net::TcpStream, Option<tokio::net::TcpStream>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().expect("addr")).await.expect("connect");
        let (mut server, _) = listener.accept().await.expect("accept");
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.expect("send");
        let client = if closed {
            drop(client);
            None
        } else {
            client.shutdown().await.expect("half-close");
            Some(client)
        };
        let mut request = Vec::new();
        server.read_to_end(&mut request).await.expect("the request, then end-of-file");
        (server, client)
    }

    #[tokio::test]
    async fn a_tcp_streams_reset_watch_ends_once_a_closed_client_resets_on_the_probe() {
        let (mut server, _) = tcp_after_fin(true).await;
        let mut watch = server.watch_reset().expect("a watch");
        let early = tokio::time::timeout(Duration::from_millis(100), &mut watch).await;
        assert!(early.is_err(), "the watch ended before anything was written");
        server.write_all(FIN_PROBE).await.expect("the probe");
        tokio::time::timeout(Duration::from_secs(10), watch).await.expect("no reset seen within 10 s");
        assert!(server.reset(), "the reset left no error on the socket");
    }

    #[tokio::test]
    async fn a_tcp_streams_reset_watch_does_not_end_for_a_half_closed_client() {
        let (mut server, mut client) = tcp_after_fin(false).await;
        let watch = server.watch_reset().expect("a watch");
        server.write_all(FIN_PROBE).await.expect("the probe");
        let mut probe = [0u8; FIN_PROBE.len()];
        client.as_mut().expect("client").read_exact(&mut probe).await.expect("the half-closed client reads the probe");
        assert!(
            tokio::time::timeout(Duration::from_millis(200), watch).await.is_err(),
            "a reset from a half-closed client"
        );
        assert!(!server.reset());
    }
}
