//! TLS under the HTTP/1.1 client: rustls's sans-I/O [`ClientConnection`] over the
//! connection's own non-blocking socket. The client above it reads and writes plaintext
//! as it would the socket (the same framing, reuse and error kinds); this layer moves the
//! records, as far as the socket's readiness allows, and makes the handshake between the
//! TCP connect and the first request.

use std::fmt;
use std::io::{self, Read as _, Write as _};
use std::sync::Arc;
use std::time::Instant;

use bench_tls::rustls::{self, CipherSuite, ClientConnection, HandshakeKind, NamedGroup, ProtocolVersion};
use mio::net::TcpStream;

use crate::engine::schedule::latency_us;
use crate::engine::tls::TlsPlan;

/// A connection's TLS session and when its handshake began (its TCP connect's end).
#[derive(Debug)]
pub(super) struct Session {
    tls: ClientConnection,
    started: Instant,
}

/// A handshake that completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Handshake {
    /// From the TCP connect's end to the handshake's end, microseconds.
    pub(crate) micros: u64,
    /// A resumed session (no certificate sent or checked), not a full handshake.
    pub(crate) resumed: bool,
    /// What it settled on.
    pub(crate) negotiated: Negotiated,
}

/// What a handshake settled on: the protocol version, the cipher suite and the key-exchange
/// group (none for a resumed TLS 1.2 session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Negotiated {
    pub(crate) version: Option<ProtocolVersion>,
    pub(crate) suite: Option<CipherSuite>,
    pub(crate) group: Option<NamedGroup>,
}

/// "TLSv1_3, TLS13_AES_256_GCM_SHA384, X25519": rustls's names, the ones it has.
impl fmt::Display for Negotiated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            self.version.map(|v| v.as_str().map_or_else(|| format!("{v:?}"), str::to_owned)),
            self.suite.map(|s| s.as_str().map_or_else(|| format!("{s:?}"), str::to_owned)),
            self.group.map(|g| g.as_str().map_or_else(|| format!("{g:?}"), str::to_owned)),
        ];
        let names: Vec<String> = names.into_iter().flatten().collect();
        write!(f, "{}", names.join(", "))
    }
}

/// Why TLS failed on a connection: what the report names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    /// rustls's error: a certificate refused, an alert from the server, a corrupt record.
    Rustls(rustls::Error),
    /// The server closed the connection before the handshake was over.
    ClosedInHandshake,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rustls(e) => write!(f, "{e}"),
            Self::ClosedInHandshake => write!(f, "the server closed the connection during the handshake"),
        }
    }
}

/// How a step of the layer went wrong.
#[derive(Debug)]
pub(super) enum Broken {
    /// TLS's own failure, to name in the report.
    Tls(Failure),
    /// The socket's (a reset, say): counted as the step's error kind, as on plain HTTP.
    Socket,
}

/// What the handshake came to so far.
#[derive(Debug)]
pub(super) enum Handshaking {
    Waiting,
    Done(Handshake),
}

impl Session {
    /// A new session to `plan`'s server, its handshake starting now.
    pub(super) fn new(plan: &TlsPlan) -> Result<Self, Failure> {
        let tls = ClientConnection::new(Arc::clone(&plan.config), plan.name.clone()).map_err(Failure::Rustls)?;
        Ok(Self { tls, started: Instant::now() })
    }

    /// Moves the handshake on as far as the socket allows.
    pub(super) fn handshake(
        &mut self,
        stream: &mut TcpStream,
        readable: &mut bool,
        writable: &mut bool,
    ) -> Result<Handshaking, Broken> {
        loop {
            self.flush(stream, writable)?;
            if !self.tls.is_handshaking() {
                // The client's last flight may still be queued: it goes out with the request.
                let resumed = self.tls.handshake_kind() == Some(HandshakeKind::Resumed);
                let micros = latency_us(self.started, Instant::now());
                let negotiated = Negotiated {
                    version: self.tls.protocol_version(),
                    suite: self.tls.negotiated_cipher_suite().map(|s| s.suite()),
                    group: self.tls.negotiated_key_exchange_group().map(|g| g.name()),
                };
                return Ok(Handshaking::Done(Handshake { micros, resumed, negotiated }));
            }
            if !*readable {
                return Ok(Handshaking::Waiting);
            }
            match self.tls.read_tls(stream) {
                Ok(0) => return Err(Broken::Tls(Failure::ClosedInHandshake)),
                Ok(_) => self.process(stream)?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => *readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Broken::Socket),
            }
        }
    }

    /// Reads plaintext into `buf`: how many bytes came (0 at the end of the stream, clean
    /// or not: the HTTP framing decides whether the answer was whole), or `None` if none are
    /// there yet. Reads the socket only once the plaintext already decrypted is taken.
    pub(super) fn read(
        &mut self,
        stream: &mut TcpStream,
        buf: &mut [u8],
        readable: &mut bool,
    ) -> Result<Option<usize>, Broken> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Some(0)),
                Err(_) => return Err(Broken::Socket),
            }
            if !*readable {
                return Ok(None);
            }
            match self.tls.read_tls(stream) {
                // The end: the reader says so next.
                Ok(0) => *readable = false,
                Ok(_) => self.process(stream)?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => *readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Broken::Socket),
            }
        }
    }

    /// Takes as much of `bytes` as the session buffers and sends what the socket takes:
    /// how many plaintext bytes it took.
    pub(super) fn write(&mut self, stream: &mut TcpStream, bytes: &[u8], writable: &mut bool) -> Result<usize, Broken> {
        let n = if bytes.is_empty() { 0 } else { self.tls.writer().write(bytes).map_err(|_| Broken::Socket)? };
        self.flush(stream, writable)?;
        Ok(n)
    }

    /// Whether every record it made has been written to the socket.
    pub(super) fn flushed(&self) -> bool {
        !self.tls.wants_write()
    }

    /// Whether the idle connection is still usable: the records that came since its last
    /// answer (a session ticket, say) are read, and it is usable if they held no plaintext,
    /// no end and no error. No system call unless the socket is `readable`.
    pub(super) fn idle_usable(&mut self, stream: &mut TcpStream, readable: &mut bool) -> bool {
        let mut none = [0u8; 1];
        matches!(self.read(stream, &mut none, readable), Ok(None))
    }

    /// Writes queued records while the socket takes them.
    fn flush(&mut self, stream: &mut TcpStream, writable: &mut bool) -> Result<(), Broken> {
        while *writable && self.tls.wants_write() {
            match self.tls.write_tls(stream) {
                Ok(0) => return Err(Broken::Socket),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => *writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Broken::Socket),
            }
        }
        Ok(())
    }

    /// Processes the records read: a TLS failure is sent to the server as its alert (once,
    /// as far as the socket takes it) before the connection closes.
    fn process(&mut self, stream: &mut TcpStream) -> Result<(), Broken> {
        match self.tls.process_new_packets() {
            Ok(_) => Ok(()),
            Err(e) => {
                let _ = self.tls.write_tls(stream);
                Err(Broken::Tls(Failure::Rustls(e)))
            }
        }
    }
}
