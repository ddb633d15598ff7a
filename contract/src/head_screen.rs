//! A screen over the bytes of each request head, before the server's parser sees them
//! (feature `head-clock`, in [`crate::head_clock::HeadIo::screening_heads`]): what the
//! contract refuses and hyper's parser lets through, or hides from the service.
//!
//! hyper answers a request line over its head limit with 431 like any long head (414 only
//! past 64 KiB); it drops a `#` and what follows from the target before the service sees
//! it; it removes `Content-Length` when `Transfer-Encoding` is there too; and it hands
//! authority-form (`CONNECT host:port`) and asterisk-form (`OPTIONS *`) targets on to
//! frameworks that panic on them (warp). Each is refused here, once, for every server that
//! reads through a [`crate::head_clock::HeadIo`]: the answer is written, then the
//! connection closes.
//!
//! The screen follows the framing of each request (Content-Length, chunked) to find where
//! the next head begins; a body it cannot follow (a framing the parser refuses anyway)
//! ends the screening of that connection.

use crate::limits::MAX_HEAD_BYTES;
use crate::reply::ErrorReply;

/// Why a head is refused before the server parses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The request line alone fills the head limit: 414 (RFC 9112 3: a server answers a
    /// request-target longer than it parses with 414).
    RequestLineTooLong,
    /// A raw `#` in the request line: not a request-target character (RFC 9112 3.2).
    Fragment,
    /// A target in authority-form (`CONNECT host:port`) or asterisk-form (`OPTIONS *`):
    /// nothing here tunnels or answers for the server as a whole.
    TargetForm,
    /// An HTTP/1.1 request without a Host field (RFC 9112 3.2).
    NoHost,
    /// More than one Host field (RFC 9112 3.2).
    TwoHosts,
    /// Both Content-Length and Transfer-Encoding: RFC 9112 6.1 lets a server reject such a
    /// message, which may be an attempt at request smuggling; the contract does.
    LengthAndEncoding,
}

impl Refusal {
    /// The status of the answer.
    pub fn status(self) -> u16 {
        match self {
            Self::RequestLineTooLong => 414,
            _ => 400,
        }
    }

    fn reason_phrase(self) -> &'static str {
        match self {
            Self::RequestLineTooLong => "URI Too Long",
            _ => "Bad Request",
        }
    }

    /// What the `{"error": ...}` body says.
    pub fn message(self) -> String {
        match self {
            Self::RequestLineTooLong => format!("request line longer than {MAX_HEAD_BYTES} bytes"),
            Self::Fragment => "a raw # in the request-target".to_owned(),
            Self::TargetForm => "request-target neither a path nor an absolute URL (authority-form or *)".to_owned(),
            Self::NoHost => "HTTP/1.1 request without a Host header".to_owned(),
            Self::TwoHosts => "more than one Host header".to_owned(),
            Self::LengthAndEncoding => "both Content-Length and Transfer-Encoding".to_owned(),
        }
    }

    /// The whole answer on the wire: the contract's JSON error, then the close.
    /// The answer, with the headers every response of the contract carries (`server`'s
    /// `Server:` among them) and `Connection: close`.
    pub fn response(self, server: &str) -> Vec<u8> {
        let body = ErrorReply::json(self.message());
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let mut response = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\ndate: {date}\r\nserver: {server}\r\nconnection: close\r\n\r\n",
            self.status(),
            self.reason_phrase(),
            body.len()
        )
        .into_bytes();
        response.extend_from_slice(&body);
        response
    }
}

/// How many bytes of a token are kept: enough for "transfer-encoding", a u64 in decimal,
/// a scheme and its "://", an HTTP version.
const KEPT: usize = 20;

/// The first [`KEPT`] bytes of a token, and its whole length.
#[derive(Debug, Clone, Copy, Default)]
struct Kept {
    bytes: [u8; KEPT],
    len: usize,
}

impl Kept {
    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = byte;
        }
        self.len += 1;
    }

    /// The token, if it was short enough to be kept whole.
    fn whole(&self) -> Option<&[u8]> {
        self.bytes.get(..self.len)
    }

    /// The token without the blanks around it, if kept whole.
    fn trimmed(&self) -> Option<&[u8]> {
        self.whole().map(<[u8]>::trim_ascii)
    }
}

/// What a head's header lines said, as far as the screen cares.
#[derive(Debug, Clone, Copy, Default)]
struct Fields {
    /// An HTTP/1.1 request: one Host field needed.
    needs_host: bool,
    hosts: u32,
    /// `Some(None)`: a Content-Length the screen could not read (the parser refuses it).
    length: Option<Option<u64>>,
    encoded: bool,
}

/// One header line being read.
#[derive(Debug, Clone, Copy, Default)]
struct Line {
    name: Kept,
    value: Kept,
    in_value: bool,
    /// Anything but CR seen on this line: false at its LF means the head's end.
    any: bool,
}

#[derive(Debug, Clone, Copy)]
enum Chunk {
    /// The chunk-size line (and any extension after `;`).
    Size {
        size: u64,
        extension: bool,
    },
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk, until an empty one; `any` as in [`Line`].
    Trailers {
        any: bool,
    },
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Before a head: empty lines are skipped (RFC 9112 2.2).
    Between,
    /// Method, target, version; `part` counts the spaces seen.
    RequestLine {
        len: usize,
        part: u8,
        target: Kept,
        version: Kept,
        fragment: bool,
    },
    Headers {
        line: Line,
        fields: Fields,
    },
    /// Content-Length bytes of a body still to come.
    Body(u64),
    Chunked(Chunk),
    /// A body this screen cannot follow: nothing more on this connection is screened.
    Blind,
}

/// The screen of one connection's request heads; feed it every byte read, in order.
#[derive(Debug, Clone)]
pub struct HeadScreen {
    phase: Phase,
}

impl Default for HeadScreen {
    fn default() -> Self {
        Self::new()
    }
}

impl HeadScreen {
    pub fn new() -> Self {
        Self { phase: Phase::Between }
    }

    /// Screens the next `bytes` of the connection. A refused head gives the refusal and where
    /// in `bytes` that head began (0 if it began in an earlier read): the bytes before it
    /// are earlier requests', the server may still have them.
    pub fn feed(&mut self, bytes: &[u8]) -> Option<(usize, Refusal)> {
        let mut head_start = 0;
        let mut i = 0;
        while i < bytes.len() {
            let byte = bytes[i];
            match &mut self.phase {
                Phase::Blind => return None,
                Phase::Between => {
                    if byte != b'\r' && byte != b'\n' {
                        head_start = i;
                        self.phase = Phase::RequestLine {
                            len: 0,
                            part: 0,
                            target: Kept::default(),
                            version: Kept::default(),
                            fragment: false,
                        };
                        continue;
                    }
                }
                Phase::RequestLine { len, part, target, version, fragment } => {
                    if byte == b'\n' {
                        let fields = Fields { needs_host: version.trimmed() == Some(b"HTTP/1.1"), ..Fields::default() };
                        let refused = if *fragment {
                            Some(Refusal::Fragment)
                        } else if !servable_target(target) {
                            Some(Refusal::TargetForm)
                        } else {
                            None
                        };
                        if let Some(refusal) = refused {
                            return Some((head_start, refusal));
                        }
                        self.phase = Phase::Headers { line: Line::default(), fields };
                    } else {
                        *len += 1;
                        if *len >= MAX_HEAD_BYTES {
                            return Some((head_start, Refusal::RequestLineTooLong));
                        }
                        match (byte, *part) {
                            (b' ', _) => *part += 1,
                            (b'#', _) => *fragment = true,
                            (b'\r', _) => {}
                            (_, 1) => target.push(byte),
                            (_, 2) => version.push(byte),
                            _ => {}
                        }
                    }
                }
                Phase::Headers { line, fields } => match byte {
                    b'\n' if !line.any => {
                        let fields = *fields;
                        if let Some(refusal) = verdict(&fields) {
                            return Some((head_start, refusal));
                        }
                        self.phase = match fields {
                            Fields { encoded: true, .. } => Phase::Chunked(Chunk::Size { size: 0, extension: false }),
                            Fields { length: Some(Some(0)) | None, .. } => Phase::Between,
                            Fields { length: Some(Some(n)), .. } => Phase::Body(n),
                            Fields { length: Some(None), .. } => Phase::Blind,
                        };
                    }
                    b'\n' => {
                        field(line, fields);
                        *line = Line::default();
                    }
                    b'\r' => {}
                    b':' if !line.in_value => {
                        line.any = true;
                        line.in_value = true;
                    }
                    _ => {
                        line.any = true;
                        if line.in_value { line.value.push(byte) } else { line.name.push(byte) }
                    }
                },
                Phase::Body(left) => {
                    let skipped = (bytes.len() - i).min(usize::try_from(*left).unwrap_or(usize::MAX));
                    *left -= skipped as u64;
                    i += skipped;
                    if *left == 0 {
                        self.phase = Phase::Between;
                    }
                    continue;
                }
                Phase::Chunked(chunk) => {
                    if let Some(next) = chunked(chunk, bytes, &mut i) {
                        self.phase = next;
                    }
                    continue;
                }
            }
            i += 1;
        }
        None
    }
}

/// Origin-form (`/path`) or absolute-form (`scheme://...`): the targets a GET server serves.
fn servable_target(target: &Kept) -> bool {
    let kept = &target.bytes[..target.len.min(KEPT)];
    if kept.first() == Some(&b'/') {
        return true;
    }
    let Some(colon) = kept.windows(3).position(|w| w == b"://") else { return false };
    let scheme = &kept[..colon];
    scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme.iter().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
}

/// Counts a finished header line into `fields`.
fn field(line: &Line, fields: &mut Fields) {
    let Some(name) = line.name.whole() else { return };
    if name.eq_ignore_ascii_case(b"host") {
        fields.hosts += 1;
    } else if name.eq_ignore_ascii_case(b"content-length") {
        let value = line.value.trimmed().and_then(|v| std::str::from_utf8(v).ok()).and_then(|v| v.parse().ok());
        fields.length = match (fields.length, value) {
            (None, Some(n)) => Some(Some(n)),
            (Some(Some(before)), Some(n)) if before == n => Some(Some(n)),
            _ => Some(None),
        };
    } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
        fields.encoded = true;
    }
}

/// The refusal a whole head earns by its fields, if any.
fn verdict(fields: &Fields) -> Option<Refusal> {
    if fields.hosts > 1 {
        Some(Refusal::TwoHosts)
    } else if fields.needs_host && fields.hosts == 0 {
        Some(Refusal::NoHost)
    } else if fields.encoded && fields.length.is_some() {
        Some(Refusal::LengthAndEncoding)
    } else {
        None
    }
}

/// Follows a chunked body from `bytes[*i]`, advancing `*i`; the next phase once it ends or
/// cannot be followed.
fn chunked(chunk: &mut Chunk, bytes: &[u8], i: &mut usize) -> Option<Phase> {
    while *i < bytes.len() {
        let byte = bytes[*i];
        match chunk {
            Chunk::Data(left) => {
                let skipped = (bytes.len() - *i).min(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= skipped as u64;
                *i += skipped;
                if *left == 0 {
                    *chunk = Chunk::DataEnd;
                }
                continue;
            }
            Chunk::Size { size, extension } => match byte {
                b'\n' if *size == 0 => *chunk = Chunk::Trailers { any: false },
                b'\n' => *chunk = Chunk::Data(*size),
                b'\r' => {}
                _ if *extension => {}
                b';' | b' ' | b'\t' => *extension = true,
                _ => {
                    let digit = (byte as char).to_digit(16);
                    match digit.and_then(|d| size.checked_mul(16)?.checked_add(u64::from(d))) {
                        Some(next) => *size = next,
                        None => return Some(Phase::Blind),
                    }
                }
            },
            Chunk::DataEnd => {
                if byte == b'\n' {
                    *chunk = Chunk::Size { size: 0, extension: false };
                }
            }
            Chunk::Trailers { any } => match byte {
                b'\n' if !*any => {
                    *i += 1;
                    return Some(Phase::Between);
                }
                b'\n' => *any = false,
                b'\r' => {}
                _ => *any = true,
            },
        }
        *i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The refusal of `bytes` fed whole, and again fed one byte at a time (the same).
    fn screen(bytes: &[u8]) -> Option<Refusal> {
        let whole = HeadScreen::new().feed(bytes).map(|(_, r)| r);
        let mut one_by_one = HeadScreen::new();
        let trickled = bytes.iter().find_map(|b| one_by_one.feed(std::slice::from_ref(b)).map(|(_, r)| r));
        assert_eq!(whole, trickled, "{:?}", String::from_utf8_lossy(bytes));
        whole
    }

    #[test]
    fn ordinary_requests_pass() {
        for request in [
            &b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"\r\nGET /health HTTP/1.1\r\nhost: x\r\n\r\n",
            b"GET /health HTTP/1.0\r\n\r\n",
            b"GET http://other/health HTTP/1.1\r\nHost: other\r\n\r\n",
            b"GET /single?ms=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /health HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
        ] {
            assert_eq!(screen(request), None, "{:?}", String::from_utf8_lossy(request));
        }
    }

    #[test]
    fn a_request_line_that_fills_the_head_limit_is_414_at_any_length() {
        for len in [MAX_HEAD_BYTES, 17_000, 70_000, 130_000] {
            let request = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(len));
            assert_eq!(screen(request.as_bytes()), Some(Refusal::RequestLineTooLong), "{len}");
        }
        let short = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(MAX_HEAD_BYTES - 100));
        assert_eq!(screen(short.as_bytes()), None);
    }

    #[test]
    fn a_raw_hash_in_the_target_is_400() {
        assert_eq!(screen(b"GET /health#x HTTP/1.1\r\nHost: x\r\n\r\n"), Some(Refusal::Fragment));
    }

    #[test]
    fn authority_form_and_asterisk_form_are_400() {
        assert_eq!(screen(b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n"), Some(Refusal::TargetForm));
        assert_eq!(screen(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"), Some(Refusal::TargetForm));
    }

    #[test]
    fn an_http_1_1_request_needs_exactly_one_host() {
        assert_eq!(screen(b"GET /health HTTP/1.1\r\n\r\n"), Some(Refusal::NoHost));
        assert_eq!(screen(b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), Some(Refusal::TwoHosts));
    }

    #[test]
    fn content_length_with_transfer_encoding_is_400_in_either_order() {
        let te_last = b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
        let cl_last = b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(screen(te_last), Some(Refusal::LengthAndEncoding));
        assert_eq!(screen(cl_last), Some(Refusal::LengthAndEncoding));
    }

    #[test]
    fn a_refused_head_after_a_whole_request_in_the_same_read_says_where_it_began() {
        let first = b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok";
        let mut bytes = first.to_vec();
        bytes.extend_from_slice(b"GET /health#x HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(HeadScreen::new().feed(&bytes), Some((first.len(), Refusal::Fragment)));
    }

    #[test]
    fn the_answer_is_the_contracts_json_error_then_close() {
        let answer = String::from_utf8(Refusal::RequestLineTooLong.response("test")).unwrap();
        assert!(answer.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{answer}");
        assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
        assert!(answer.ends_with(r#"{"error":"request line longer than 16384 bytes"}"#), "{answer}");
    }
}
