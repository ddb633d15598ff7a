//! Listening sockets, made on purpose and once: the backlog, `SO_REUSEADDR`, a bind error
//! that names the address, and what an accept loop does about its errors.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

/// Listen backlog asked of the kernel. std's `TcpListener::bind` asks for 128, which
/// overflows when thousands of connections arrive at once: the kernel drops the SYNs,
/// clients retry after 1 s / 3 s, and the benchmark reports those retries as server
/// latency. The kernel caps this at `net.core.somaxconn` (4096 on current kernels).
pub const LISTEN_BACKLOG: i32 = 4096;

/// Binds a blocking std listener with [`LISTEN_BACKLOG`] and `SO_REUSEADDR` (so a
/// restarted server can bind while old connections sit in TIME_WAIT). A failure is a
/// [`ListenError`], inside an `io::Error` of the same kind.
pub fn bind_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let bind = || {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        socket.listen(LISTEN_BACKLOG)?;
        Ok(socket.into())
    };
    bind().map_err(|source| ListenError { addr, source }.into())
}

/// A listener that could not be made: the address and the OS's reason, so that the one
/// line a failed start prints says which port is taken (not only that one is) and what to
/// do about it. Every binary's bind goes through this, [`bind_listener`] or not.
#[derive(Debug)]
pub struct ListenError {
    /// The address asked for (`--listen`).
    pub addr: SocketAddr,
    /// What the OS said.
    pub source: io::Error,
}

impl std::fmt::Display for ListenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot listen on {}: {}", self.addr, self.source)?;
        match self.source.kind() {
            io::ErrorKind::AddrInUse => {
                let free = SocketAddr::new(self.addr.ip(), 0);
                write!(f, "; is another server running there? --listen {free} picks a free port")
            }
            io::ErrorKind::PermissionDenied if self.addr.port() < 1024 => {
                write!(f, "; ports below 1024 need privileges: pick a higher one")
            }
            _ => Ok(()),
        }
    }
}

/// The reason is part of the message (a start prints only the message), so it is not also
/// a `source()`: an error reporter walking the chain would print it twice.
impl std::error::Error for ListenError {}

impl From<ListenError> for io::Error {
    /// Keeps the OS error's kind, so callers can still tell `AddrInUse` from the rest.
    fn from(e: ListenError) -> Self {
        io::Error::new(e.source.kind(), e)
    }
}

/// [`bind_listener`], made non-blocking and handed to tokio. Must run inside a runtime.
pub fn bind_tokio_listener(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let listener = bind_listener(addr)?;
    listener.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(listener)
}

/// What an accept loop does about its errors: the same in the hyper loop and the blocking
/// server's, so both survive a shortage (EMFILE under a connection storm) the same way.
pub struct AcceptErrors {
    name: &'static str,
    last: Option<Instant>,
    suppressed: u64,
}

impl AcceptErrors {
    /// Pause after an accept error that means "out of a resource" (EMFILE, ENFILE,
    /// ENOBUFS): retrying at once would spin a core while nothing frees a descriptor.
    pub const BACKOFF: Duration = Duration::from_millis(20);

    /// For the accept loop of the server called `name` (in log lines).
    pub fn new(name: &'static str) -> Self {
        Self { name, last: None, suppressed: 0 }
    }

    /// Records a failed accept and says how long to pause before the next one, if at all.
    ///
    /// ECONNABORTED and friends concern one connection that died in the queue: take the
    /// next at once. Anything else is a shortage: back off, and log it at most once a
    /// second, with how many were held back.
    pub fn failed(&mut self, e: &io::Error) -> Option<Duration> {
        use io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
        if matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted) {
            return None;
        }
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
            self.suppressed += 1;
        } else {
            tracing::warn!(error = %e, suppressed = self.suppressed, "{}: accept failed; backing off", self.name);
            self.last = Some(now);
            self.suppressed = 0;
        }
        Some(Self::BACKOFF)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_listener_gives_an_ephemeral_port() {
        let l = bind_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_ne!(l.local_addr().unwrap().port(), 0);
    }

    #[test]
    fn a_taken_port_is_refused_with_its_address_and_a_way_out() {
        let a = bind_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let taken = a.local_addr().unwrap();
        let e = bind_listener(taken).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        let message = e.to_string();
        assert!(message.starts_with(&format!("cannot listen on {taken}: ")), "{message}");
        assert!(message.contains("in use"), "{message}");
        assert!(message.ends_with("; is another server running there? --listen 127.0.0.1:0 picks a free port"));
    }

    #[test]
    fn a_listen_error_of_another_kind_names_the_address_without_advice() {
        let addr: SocketAddr = "[::1]:9".parse().unwrap();
        let e = io::Error::from(ListenError { addr, source: io::Error::from(io::ErrorKind::AddrNotAvailable) });
        assert_eq!(e.kind(), io::ErrorKind::AddrNotAvailable);
        assert_eq!(
            e.to_string(),
            format!("cannot listen on [::1]:9: {}", io::Error::from(io::ErrorKind::AddrNotAvailable))
        );
    }

    #[test]
    fn accept_errors_back_off_on_shortage_not_on_a_dead_connection() {
        let mut errors = AcceptErrors::new("test");
        assert_eq!(errors.failed(&io::Error::from(io::ErrorKind::ConnectionAborted)), None);
        let emfile = io::Error::from_raw_os_error(24);
        assert_eq!(errors.failed(&emfile), Some(AcceptErrors::BACKOFF));
        // The second within a second is held back from the log, not from the back-off.
        assert_eq!(errors.failed(&emfile), Some(AcceptErrors::BACKOFF));
        assert_eq!(errors.suppressed, 1);
    }
}
