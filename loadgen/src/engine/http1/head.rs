//! An answer's head: parsed in place by httparse, then what it says about the body's framing
//! and whether the connection can carry the next request (RFC 9112 §6.3 and §9.3).

use std::mem::MaybeUninit;

use super::Malformed;
use super::body::{Body, Chunked};

/// Header fields an answer may have; more is malformed (hyper's client allows 100 too).
const MAX_HEADERS: usize = 100;

/// What loadgen needs of an answer's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    /// Its length in bytes, through the blank line.
    pub(crate) len: usize,
    pub(crate) status: u16,
    /// Where the body ends.
    pub(crate) body: Body,
    /// Whether the connection may carry another request after this answer.
    pub(crate) reusable: bool,
}

impl Head {
    /// An interim answer (100 Continue, 103 Early Hints): the real one follows it on the
    /// same connection. 101 is final: the connection speaks another protocol after it.
    pub(crate) fn interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

/// A connection's head parser, which remembers the last head it parsed: a server answers
/// the same request with the same head, byte for byte, apart from a `Date` that changes once
/// a second, and the same bytes parse to the same head. Comparing them costs a fraction of
/// parsing them again, and httparse was most of loadgen's own CPU per request.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    /// The last head's bytes, up to and including its blank line, and what they said.
    last: Vec<u8>,
    head: Option<Head>,
}

impl Parser {
    /// Parses the head at the front of `buf` (see [`parse`]).
    pub(crate) fn parse(&mut self, buf: &[u8]) -> Result<Option<Head>, Malformed> {
        // The bytes end with the head's blank line, so any `buf` they begin parses to the
        // same head whatever follows them.
        if let Some(head) = self.head
            && buf.starts_with(&self.last)
        {
            return Ok(Some(head));
        }
        let parsed = parse(buf)?;
        if let Some(head) = parsed {
            self.last.clear();
            self.last.extend_from_slice(&buf[..head.len]);
            self.head = Some(head);
        }
        Ok(parsed)
    }
}

/// Parses the head at the front of `buf`: `None` while it is incomplete.
fn parse(buf: &[u8]) -> Result<Option<Head>, Malformed> {
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let len =
        match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut response, buf, &mut headers) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(Malformed),
        };
    let status = response.code.ok_or(Malformed)?;
    let mut content_length = None;
    let (mut transfer_encoding, mut chunked) = (false, false);
    let (mut close, mut keep_alive) = (false, false);
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            // A list of one value repeated is allowed; two different values are not.
            for value in h.value.split(|b| *b == b',') {
                let n = decimal(value.trim_ascii())?;
                if content_length.is_some_and(|m| m != n) {
                    return Err(Malformed);
                }
                content_length = Some(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
            // Chunked only if it is the last coding applied.
            chunked = tokens(h.value).last().is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for t in tokens(h.value) {
                close |= t.eq_ignore_ascii_case(b"close");
                keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let body = if (100..200).contains(&status) || status == 204 || status == 304 {
        Body::Length(0)
    } else if transfer_encoding {
        if chunked { Body::Chunked(Chunked::new()) } else { Body::UntilClose }
    } else {
        content_length.map_or(Body::UntilClose, Body::Length)
    };
    // HTTP/1.1 keeps the connection unless told otherwise, HTTP/1.0 only when told to. A
    // body without a length ends with the connection, and an answer framed both ways may be
    // a smuggling attempt: close after it (RFC 9112 §6.3).
    let persistent = if response.version == Some(1) { !close } else { keep_alive && !close };
    let reusable =
        persistent && body != Body::UntilClose && !(transfer_encoding && content_length.is_some()) && status != 101;
    Ok(Some(Head { len, status, body, reusable }))
}

/// A Content-Length value: decimal digits only (no sign, no space inside).
fn decimal(value: &[u8]) -> Result<u64, Malformed> {
    if value.is_empty() {
        return Err(Malformed);
    }
    value.iter().try_fold(0u64, |n, b| {
        let digit = b.checked_sub(b'0').filter(|d| *d < 10).ok_or(Malformed)?;
        n.checked_mul(10).and_then(|n| n.checked_add(u64::from(digit))).ok_or(Malformed)
    })
}

/// The comma-separated tokens of a header value, trimmed.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|b| *b == b',').map(<[u8]>::trim_ascii).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        parse(text.as_bytes()).expect("well formed").expect("complete")
    }

    #[test]
    fn a_head_the_same_as_the_last_one_is_the_same_head_and_any_other_is_parsed() {
        let mut parser = Parser::default();
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        let first = parser.parse(format!("{ok}hello").as_bytes()).unwrap().unwrap();
        assert_eq!(parser.parse(format!("{ok}world").as_bytes()), Ok(Some(first)), "the same head");
        let other = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello!";
        assert_eq!(parser.parse(other.as_bytes()).unwrap().unwrap().body, Body::Length(6), "one byte apart");
        let closing = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\n";
        assert!(!parser.parse(closing.as_bytes()).unwrap().unwrap().reusable, "a head that begins like the last");
        assert_eq!(parser.parse(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n"), Ok(None), "a part of it");
        assert_eq!(parser.parse(b"HTTP/1.1 abc\r\n\r\n"), Err(Malformed));
    }

    #[test]
    fn an_incomplete_head_waits_for_more() {
        for partial in ["", "HTTP/1.1 200", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"] {
            assert_eq!(parse(partial.as_bytes()), Ok(None), "{partial:?}");
        }
    }

    #[test]
    fn the_head_ends_at_the_blank_line_and_the_body_is_not_part_of_it() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!((h.len, h.status, h.body, h.reusable), (38, 200, Body::Length(5), true));
    }

    #[test]
    fn a_malformed_head_is_malformed() {
        for bad in [
            "HTTP/1.1 two hundred\r\n\r\n",
            "HTTP/1.1 abc\r\n\r\n",
            "HTTP/2 200 OK\r\n\r\n",
            "200 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: five\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        ] {
            assert_eq!(parse(bad.as_bytes()), Err(Malformed), "{bad:?}");
        }
    }

    #[test]
    fn more_header_fields_than_the_limit_is_malformed() {
        let mut text = "HTTP/1.1 200 OK\r\n".to_owned();
        for i in 0..=MAX_HEADERS {
            text.push_str(&format!("X-{i}: y\r\n"));
        }
        text.push_str("\r\n");
        assert_eq!(parse(text.as_bytes()), Err(Malformed));
    }

    #[test]
    fn the_body_is_framed_by_transfer_encoding_then_content_length_then_the_close() {
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!((h.body, h.reusable), (Body::Chunked(Chunked::new()), true));
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n");
        assert_eq!(h.body, Body::Length(3), "a repeated identical length is one length");
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((h.body, h.reusable), (Body::UntilClose, false));
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
        assert_eq!((h.body, h.reusable), (Body::UntilClose, false), "chunked not last: read to the close");
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n");
        assert_eq!((h.body, h.reusable), (Body::Chunked(Chunked::new()), false), "framed both ways: close after");
    }

    #[test]
    fn answers_that_never_have_a_body_have_none_whatever_they_say() {
        for status in [204, 304] {
            let h = head(&format!("HTTP/1.1 {status} X\r\nContent-Length: 10\r\n\r\n"));
            assert_eq!((h.body, h.reusable), (Body::Length(0), true), "{status}");
        }
    }

    #[test]
    fn interim_answers_are_followed_by_the_real_one_but_101_is_final() {
        assert!(head("HTTP/1.1 100 Continue\r\n\r\n").interim());
        assert!(head("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n").interim());
        let switched = head("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n");
        assert!(!switched.interim());
        assert!(!switched.reusable, "the connection no longer speaks HTTP/1.1");
    }

    #[test]
    fn the_connection_is_kept_as_its_http_version_and_connection_header_say() {
        let reusable = |text: &str| head(text).reusable;
        assert!(reusable("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(!reusable("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
        assert!(!reusable("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nconnection: Upgrade, CLOSE\r\n\r\n"));
        assert!(!reusable("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(reusable("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"));
    }
}
