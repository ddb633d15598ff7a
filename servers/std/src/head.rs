//! Reading and parsing a request head: what this server needs of it ([`Head`]), within the
//! contract's limits ([`contract::limits`]), or why it cannot frame it ([`Bad`]).

use std::io::{self, ErrorKind, Read};
use std::net::TcpStream;
use std::time::Instant;

use contract::Answer;
use contract::limits::{HEAD_TIMEOUT, MAX_HEAD_BYTES, MAX_HEADERS};
use contract::proxy;

/// Reads until `buffer` holds a whole request head; `Ok(None)` when the connection ends
/// first. Bytes after the head (a pipelined request) stay in `buffer`.
///
/// The head must be in within [`HEAD_TIMEOUT`] of `first` (the accept) for a connection's
/// first request, of its first byte for a later one, so an idle keep-alive connection
/// waits as long as its client likes. While heads come whole in one read this costs no
/// syscall: `SO_RCVTIMEO` is armed, with the time left, only for a read that waits for a
/// head already due (the first request's, or the rest of a partial one), and disarmed once
/// the head is in.
pub(crate) fn next_request(
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
pub(crate) struct Head {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) persist: Persist,
    /// A chunked body follows: [`skip_chunked_body`] reads it, or the connection ends.
    pub(crate) chunked: bool,
}

/// Whether the connection goes on after the answer, and what the answer says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Persist {
    /// HTTP/1.1's default: keep-alive, nothing said.
    KeepAlive,
    /// An HTTP/1.0 client asked for keep-alive: say yes.
    KeepAlive10,
    /// Answer with `Connection: close`, then close.
    Close,
}

/// A request this server cannot frame: answered with a 4xx, then the connection closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bad {
    /// Not HTTP/1.x as httparse reads it.
    Syntax(httparse::Error),
    /// A head of more than [`MAX_HEAD_BYTES`] bytes or [`MAX_HEADERS`] headers.
    TooLarge,
    /// A request line alone of more than [`MAX_HEAD_BYTES`] bytes.
    LineTooLong,
    /// Not a whole head within [`HEAD_TIMEOUT`].
    Slow,
    /// A head whose body cannot be framed (RFC 9112, 6.1 and 6.3: a Content-Length that is
    /// not a number, several that differ, one beside a Transfer-Encoding, a
    /// Transfer-Encoding whose last coding is not chunked), or an HTTP/1.1 head without
    /// exactly one Host (3.2).
    Invalid(&'static str),
}

impl Bad {
    pub(crate) fn answer(self) -> Answer {
        match self {
            Bad::Syntax(e) => Answer::error(400, format!("malformed request: {e}")),
            Bad::TooLarge => Answer::error(431, "request header fields too large"),
            Bad::LineTooLong => Answer::error(414, "request line too long"),
            Bad::Slow => Answer::error(408, format!("request head not received within {} s", HEAD_TIMEOUT.as_secs())),
            Bad::Invalid(e) => Answer::error(400, e),
        }
    }
}

/// The most of a chunked request body read to find its end: no endpoint takes a body, so
/// a longer one ends the connection after the answer instead.
const MAX_SKIPPED_BODY: usize = 16 * 1024;

/// Reads and drops the chunked body at the start of `buffer` (the head already taken
/// off), reading more from `stream` as needed, and leaves what follows it (a pipelined
/// request) in `buffer`. False when it cannot: malformed, longer than
/// [`MAX_SKIPPED_BODY`], not in within [`HEAD_TIMEOUT`], or the connection ended; the
/// connection must then end after the answer.
pub(crate) fn skip_chunked_body(mut stream: &TcpStream, buffer: &mut Vec<u8>) -> bool {
    let due = Instant::now() + HEAD_TIMEOUT;
    let mut chunk = [0u8; 4096];
    let mut armed = false;
    let skipped = loop {
        match chunked_end(&buffer[..buffer.len().min(MAX_SKIPPED_BODY)]) {
            Chunked::End(len) => {
                buffer.drain(..len);
                break true;
            }
            Chunked::Bad => break false,
            Chunked::Partial if buffer.len() >= MAX_SKIPPED_BODY => break false,
            Chunked::Partial => {}
        }
        let left = due.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break false;
        }
        armed = true;
        match stream.read(&mut chunk) {
            Ok(0) => break false,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break false,
        }
    };
    // A socket left with a timeout would cut the next idle wait short: then end it.
    skipped && (!armed || stream.set_read_timeout(None).is_ok())
}

/// How far a chunked body at the start of a buffer goes.
#[derive(Debug, PartialEq, Eq)]
enum Chunked {
    /// It ends this many bytes in, its last chunk and trailer section included.
    End(usize),
    Partial,
    Bad,
}

/// Finds the end of the chunked body (RFC 9112, 7.1) at the start of `buffer`.
fn chunked_end(buffer: &[u8]) -> Chunked {
    let line_end = |at: usize| buffer[at..].windows(2).position(|w| w == b"\r\n");
    let mut at = 0;
    loop {
        let Some(len) = line_end(at) else { return Chunked::Partial };
        // The size, then maybe `;extensions`, which say nothing here.
        let size = buffer[at..at + len].split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
        // Eight hex digits are 4 GiB, far past what is skipped: more is refused, not parsed.
        if size.is_empty() || size.len() > 8 || !size.iter().all(u8::is_ascii_hexdigit) {
            return Chunked::Bad;
        }
        let size = size.iter().fold(0, |n, &digit| n * 16 + (char::from(digit).to_digit(16).unwrap_or(0) as usize));
        at += len + 2;
        if size == 0 {
            // The trailer section: field lines up to an empty one.
            loop {
                let Some(len) = line_end(at) else { return Chunked::Partial };
                at += len + 2;
                if len == 0 {
                    return Chunked::End(at);
                }
            }
        }
        match buffer.get(at + size..at + size + 2) {
            None => return Chunked::Partial,
            Some(b"\r\n") => at += size + 2,
            Some(_) => return Chunked::Bad,
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
    let body = match proxy::content_length(lengths.map(|h| h.value)) {
        Ok(body) => body,
        Err(reason) => return Parsed::Bad(Bad::Invalid(reason)),
    };
    let length_given = request.headers.iter().any(|h| h.name.eq_ignore_ascii_case("content-length"));
    let (mut close, mut keep_alive, mut hosts, mut chunked) = (false, false, 0, false);
    for header in request.headers.iter() {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            // Where such a body ends is what a proxy in front may read otherwise: a
            // request smuggled in it would be served (RFC 9112, 6.1).
            if length_given {
                return Parsed::Bad(Bad::Invalid("Content-Length beside Transfer-Encoding"));
            }
            let last = header.value.rsplit(|&b| b == b',').next().unwrap_or_default().trim_ascii();
            if !last.eq_ignore_ascii_case(b"chunked") {
                return Parsed::Bad(Bad::Invalid("Transfer-Encoding whose last coding is not chunked"));
            }
            chunked = true;
        } else if header.name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    if request.version == Some(1) && hosts != 1 {
        return Parsed::Bad(Bad::Invalid("an HTTP/1.1 request needs exactly one Host header"));
    }
    // No endpoint takes a body, so a Content-Length one is not read: the connection closes
    // after the answer instead of skipping it (RFC 9112, 9.6 lets a server close at any
    // time). A chunked one is skipped if it is short ([`skip_chunked_body`]): a GET may
    // carry an empty one, and its connection goes on.
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
        chunked,
    };
    Parsed::Request(head, len)
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
        assert_eq!(persist(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Persist::KeepAlive);
        assert_eq!(persist(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n"), Persist::Close);
        assert_eq!(persist(b"GET / HTTP/1.0\r\n\r\n"), Persist::Close);
        assert_eq!(persist(b"GET / HTTP/1.0\r\nConnection: foo, Keep-Alive\r\n\r\n"), Persist::KeepAlive10);
        // A body is never read, so the connection cannot go on after it.
        assert_eq!(persist(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"), Persist::Close);
        // A chunked one is skipped if it can be: see skip_chunked_body.
        assert_eq!(persist(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"), Persist::KeepAlive);
        assert_eq!(persist(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"), Persist::KeepAlive);
    }

    #[test]
    fn a_body_framed_two_ways_or_not_chunked_last_and_a_host_missing_or_doubled_are_400() {
        for raw in [
            &b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551616\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        ] {
            match parse(raw) {
                Parsed::Bad(bad) => assert_eq!(bad.answer().status, 400, "{:?}", String::from_utf8_lossy(raw)),
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(raw)),
            }
        }
        // HTTP/1.0 has no Host requirement; gzip under a final chunked is framed.
        head(b"GET / HTTP/1.0\r\n\r\n");
        head(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    }

    #[test]
    fn a_chunked_body_ends_after_its_last_chunk_and_trailers() {
        assert_eq!(chunked_end(b"0\r\n\r\nGET"), Chunked::End(5));
        let whole = b"3;x=y\r\nabc\r\nA\r\n0123456789\r\n0\r\nT: v\r\n\r\n";
        assert_eq!(chunked_end(&[&whole[..], b"GET"].concat()), Chunked::End(whole.len()));
        for partial in [&b""[..], b"0\r\n", b"3\r\nab", b"3\r\nabc\r\n0\r\nT: v\r\n"] {
            assert_eq!(chunked_end(partial), Chunked::Partial, "{:?}", String::from_utf8_lossy(partial));
        }
        for bad in [&b"x\r\n"[..], b"\r\n", b"3\r\nabcd\r\n", b"123456789\r\n"] {
            assert_eq!(chunked_end(bad), Chunked::Bad, "{:?}", String::from_utf8_lossy(bad));
        }
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
}
