//! Where an answer's body ends (RFC 9112 §6): after its Content-Length, after its last
//! chunk, or at the end of the connection. The decoder is fed the bytes as they arrive,
//! split anywhere, and keeps none of them: loadgen only counts a body.

use super::Malformed;

/// The most hex digits a chunk size may have: 15 keep the size within a u64.
const MAX_SIZE_DIGITS: u8 = 15;

/// The rest of one answer's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Body {
    /// This many bytes more.
    Length(u64),
    /// `Transfer-Encoding: chunked`, at this point of its framing.
    Chunked(Chunked),
    /// Everything up to the end of the connection (an answer with no framing).
    UntilClose,
}

/// Where a chunked body's decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunked {
    state: State,
    /// The size of the chunk being read, or being parsed; then the bytes of it still to come.
    size: u64,
    digits: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The chunk size's hex digits.
    Size,
    /// A chunk extension (`;name=value`) or whitespace after the size, up to the CR.
    Extension,
    /// The LF after the size line's CR.
    SizeLf,
    /// The chunk's data.
    Data,
    /// The CR after the data.
    DataCr,
    /// The LF after the data's CR.
    DataLf,
    /// After the last (zero-size) chunk: a trailer field or the final blank line.
    TrailerStart,
    /// Inside a trailer field, up to its CR.
    Trailer,
    /// The LF after a trailer field's CR.
    TrailerLf,
    /// The LF of the final blank line.
    EndLf,
    /// The body is complete.
    Done,
}

impl Chunked {
    pub(crate) fn new() -> Self {
        Self { state: State::Size, size: 0, digits: 0 }
    }
}

impl Body {
    /// Takes what belongs to the body from the front of `input`: how many bytes that was, and
    /// whether the body is now complete (bytes after it belong to no answer).
    pub(crate) fn feed(&mut self, input: &[u8]) -> Result<(usize, bool), Malformed> {
        match self {
            Body::Length(rest) => {
                let used = usize::try_from(*rest).map_or(input.len(), |rest| rest.min(input.len()));
                *rest -= used as u64;
                Ok((used, *rest == 0))
            }
            Body::Chunked(chunked) => chunked.feed(input),
            Body::UntilClose => Ok((input.len(), false)),
        }
    }

    /// The connection ended here: the end of a body that runs until then, a body cut short
    /// for any other.
    pub(crate) fn end_of_stream(&self) -> Result<(), Malformed> {
        match self {
            Body::UntilClose => Ok(()),
            Body::Length(0) => Ok(()),
            Body::Chunked(Chunked { state: State::Done, .. }) => Ok(()),
            _ => Err(Malformed),
        }
    }
}

impl Chunked {
    fn feed(&mut self, input: &[u8]) -> Result<(usize, bool), Malformed> {
        let mut at = 0;
        while at < input.len() && self.state != State::Done {
            if self.state == State::Data {
                let take = usize::try_from(self.size).map_or(input.len() - at, |size| size.min(input.len() - at));
                self.size -= take as u64;
                at += take;
                if self.size == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            self.state = self.step(input[at])?;
            at += 1;
        }
        Ok((at, self.state == State::Done))
    }

    /// The state after one framing byte (any state but `Data`, which takes bytes in bulk).
    fn step(&mut self, byte: u8) -> Result<State, Malformed> {
        Ok(match (self.state, byte) {
            (State::Size, b) if b.is_ascii_hexdigit() => {
                if self.digits == MAX_SIZE_DIGITS {
                    return Err(Malformed);
                }
                self.digits += 1;
                self.size = self.size * 16 + u64::from(hex(b));
                State::Size
            }
            (State::Size, b';' | b' ' | b'\t') if self.digits > 0 => State::Extension,
            (State::Size, b'\r') if self.digits > 0 => State::SizeLf,
            (State::Extension, b'\r') => State::SizeLf,
            (State::Extension, b'\n') => return Err(Malformed),
            (State::Extension, _) => State::Extension,
            (State::SizeLf, b'\n') if self.size == 0 => State::TrailerStart,
            (State::SizeLf, b'\n') => State::Data,
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => {
                self.digits = 0;
                State::Size
            }
            (State::TrailerStart, b'\r') => State::EndLf,
            (State::TrailerStart | State::Trailer, b'\n') => return Err(Malformed),
            (State::Trailer, b'\r') => State::TrailerLf,
            (State::TrailerStart | State::Trailer, _) => State::Trailer,
            (State::TrailerLf, b'\n') => State::TrailerStart,
            (State::EndLf, b'\n') => State::Done,
            _ => return Err(Malformed),
        })
    }
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `piece` bytes; the bytes the body took and whether it ended.
    fn feed_in_pieces(mut body: Body, input: &[u8], piece: usize) -> Result<(usize, bool), Malformed> {
        let mut used = 0;
        for chunk in input.chunks(piece) {
            let (n, done) = body.feed(chunk)?;
            used += n;
            if done {
                return Ok((used, true));
            }
            assert_eq!(n, chunk.len(), "an unfinished body takes all it is given");
        }
        Ok((used, false))
    }

    const CHUNKED: &[u8] = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";

    #[test]
    fn a_chunked_body_ends_after_its_last_chunk_however_it_is_split() {
        for piece in 1..=CHUNKED.len() {
            let mut input = CHUNKED.to_vec();
            input.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
            let got = feed_in_pieces(Body::Chunked(Chunked::new()), &input, piece);
            assert_eq!(got, Ok((CHUNKED.len(), true)), "pieces of {piece}");
        }
    }

    #[test]
    fn trailer_fields_after_the_last_chunk_belong_to_the_body() {
        let body = b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\n";
        for piece in [1, 2, 7, body.len()] {
            assert_eq!(feed_in_pieces(Body::Chunked(Chunked::new()), body, piece), Ok((body.len(), true)));
        }
    }

    #[test]
    fn a_chunk_size_in_upper_case_hex_is_read() {
        let mut body = b"A\r\n".to_vec();
        body.extend_from_slice(&[b'x'; 10]);
        body.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(feed_in_pieces(Body::Chunked(Chunked::new()), &body, 4), Ok((body.len(), true)));
    }

    #[test]
    fn broken_chunked_framing_is_malformed() {
        for bad in [
            &b"x\r\n"[..],               // no size
            b"\r\n",                     // an empty size
            b"5\nhello\r\n0\r\n\r\n",    // a bare LF after the size
            b"5\r\nhelloX\r\n0\r\n\r\n", // data longer than its size
            b"ffffffffffffffff\r\n",     // a size past 15 hex digits
            b"0\r\nX: 1\n\r\n",          // a bare LF in a trailer
            b"0\r\n\r\r",                // no LF at the end
        ] {
            let got = feed_in_pieces(Body::Chunked(Chunked::new()), bad, 1);
            assert_eq!(got, Err(Malformed), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_length_body_takes_exactly_its_length() {
        assert_eq!(feed_in_pieces(Body::Length(5), b"helloHTTP", 2), Ok((5, true)));
        assert_eq!(Body::Length(0).feed(b"next"), Ok((0, true)));
        let mut long = Body::Length(10);
        assert_eq!(long.feed(b"abc"), Ok((3, false)));
        assert_eq!(long, Body::Length(7));
    }

    #[test]
    fn only_a_body_that_runs_to_the_close_may_end_with_the_connection() {
        assert_eq!(Body::UntilClose.feed(b"anything"), Ok((8, false)));
        assert_eq!(Body::UntilClose.end_of_stream(), Ok(()));
        assert_eq!(Body::Length(3).end_of_stream(), Err(Malformed));
        let mut chunked = Body::Chunked(Chunked::new());
        assert_eq!(chunked.feed(b"5\r\nhel"), Ok((6, false)));
        assert_eq!(chunked.end_of_stream(), Err(Malformed));
    }
}
