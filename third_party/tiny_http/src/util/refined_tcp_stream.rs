use std::io::Result as IoResult;
use std::io::{Error as IoError, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use crate::connection::Connection;
#[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
use crate::ssl::SslStream;

pub(crate) enum Stream {
    Http(Connection),
    #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
    Https(SslStream),
}

impl Clone for Stream {
    fn clone(&self) -> Self {
        match self {
            Stream::Http(tcp_stream) => Stream::Http(tcp_stream.try_clone().unwrap()),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(ssl_stream) => Stream::Https(ssl_stream.clone()),
        }
    }
}

impl From<Connection> for Stream {
    fn from(tcp_stream: Connection) -> Self {
        Stream::Http(tcp_stream)
    }
}

impl Stream {
    fn secure(&self) -> bool {
        match self {
            Stream::Http(_) => false,
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(_) => true,
        }
    }

    fn peer_addr(&mut self) -> IoResult<Option<SocketAddr>> {
        match self {
            Stream::Http(tcp_stream) => tcp_stream.peer_addr(),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(ssl_stream) => ssl_stream.peer_addr(),
        }
    }

    fn shutdown(&mut self, how: Shutdown) -> IoResult<()> {
        match self {
            Stream::Http(tcp_stream) => tcp_stream.shutdown(how),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(ssl_stream) => ssl_stream.shutdown(how),
        }
    }

    // PATCH(slow-upstream-bench): for the head read deadline. TLS streams are not timed
    // (this copy serves plain HTTP only).
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> IoResult<()> {
        match self {
            Stream::Http(tcp_stream) => tcp_stream.set_read_timeout(timeout),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(_) => Ok(()),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> IoResult<usize> {
        match self {
            Stream::Http(tcp_stream) => tcp_stream.read(buf),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(ssl_stream) => ssl_stream.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> IoResult<usize> {
        match self {
            Stream::Http(tcp_stream) => tcp_stream.write(buf),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(ssl_stream) => ssl_stream.write(buf),
        }
    }

    fn flush(&mut self) -> IoResult<()> {
        match self {
            Stream::Http(tcp_stream) => tcp_stream.flush(),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(ssl_stream) => ssl_stream.flush(),
        }
    }
}

pub struct RefinedTcpStream {
    stream: Stream,
    close_read: bool,
    close_write: bool,
    // PATCH(slow-upstream-bench): while Some, a read fails with `TimedOut` past this instant
    // (the request head read timeout, set by `ClientConnection`).
    read_deadline: Option<Instant>,
    // PATCH(slow-upstream-bench): whether the socket has a read timeout set, so that it is
    // cleared by the first read without a deadline and set calls are not repeated.
    read_timeout_set: bool,
}

impl RefinedTcpStream {
    // PATCH(slow-upstream-bench): only the TLS accept path still uses it (`try_new` serves
    // plain connections), and this copy is built without TLS.
    #[allow(dead_code)]
    pub(crate) fn new<S>(stream: S) -> (RefinedTcpStream, RefinedTcpStream)
    where
        S: Into<Stream>,
    {
        let stream: Stream = stream.into();

        let (read, write) = (stream.clone(), stream);
        Self::halves(read, write)
    }

    /// PATCH(slow-upstream-bench): `new` for a plain connection, where a failed duplicate of
    /// the socket (at the fd limit) is an error instead of a panic.
    pub(crate) fn try_new(stream: Connection) -> std::io::Result<(RefinedTcpStream, RefinedTcpStream)> {
        let read = stream.try_clone()?;
        Ok(Self::halves(Stream::Http(read), Stream::Http(stream)))
    }

    fn halves(read: Stream, write: Stream) -> (RefinedTcpStream, RefinedTcpStream) {
        let read = RefinedTcpStream {
            stream: read,
            close_read: true,
            close_write: false,
            read_deadline: None,
            read_timeout_set: false,
        };

        let write = RefinedTcpStream {
            stream: write,
            close_read: false,
            close_write: true,
            read_deadline: None,
            read_timeout_set: false,
        };

        (read, write)
    }

    /// Returns true if this struct wraps around a secure connection.
    #[inline]
    pub(crate) fn secure(&self) -> bool {
        self.stream.secure()
    }

    pub(crate) fn peer_addr(&mut self) -> IoResult<Option<SocketAddr>> {
        self.stream.peer_addr()
    }

    // PATCH(slow-upstream-bench): reads after `deadline` fail with `TimedOut`; `None` lifts
    // it. Only a field is set here: the socket's timeout is set by the next read that
    // actually reaches the socket, so a head that a single read brings costs no extra call.
    pub(crate) fn set_read_deadline(&mut self, deadline: Option<Instant>) {
        self.read_deadline = deadline;
    }
}

impl Drop for RefinedTcpStream {
    fn drop(&mut self) {
        if self.close_read {
            self.stream.shutdown(Shutdown::Read).ok();
        }

        if self.close_write {
            self.stream.shutdown(Shutdown::Write).ok();
        }
    }
}

impl Read for RefinedTcpStream {
    fn read(&mut self, buf: &mut [u8]) -> IoResult<usize> {
        // PATCH(slow-upstream-bench): the request head read deadline (upstream: no timeout).
        let Some(deadline) = self.read_deadline else {
            if self.read_timeout_set {
                self.stream.set_read_timeout(None)?;
                self.read_timeout_set = false;
            }
            return self.stream.read(buf);
        };
        let timed_out = || IoError::new(ErrorKind::TimedOut, "request head not received in time");
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        self.stream.set_read_timeout(Some(left))?;
        self.read_timeout_set = true;
        match self.stream.read(buf) {
            // A socket read timeout is EAGAIN (WouldBlock) on Unix.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(timed_out())
            }
            result => result,
        }
    }
}

impl Write for RefinedTcpStream {
    fn write(&mut self, buf: &[u8]) -> IoResult<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> IoResult<()> {
        self.stream.flush()
    }
}
