//! Writing an answer: the whole HTTP/1.1 message in one call, with a Date header cached
//! per thread.

use std::cell::RefCell;
use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{SystemTime, UNIX_EPOCH};

use contract::Answer;

use crate::SERVER_HEADER;
use crate::head::Persist;

/// The one place an answer becomes a response: the whole HTTP/1.1 message, written in
/// one call.
pub(crate) fn respond(mut stream: &TcpStream, answer: &Answer, persist: Persist) -> io::Result<()> {
    let mut out = Vec::with_capacity(192 + answer.body.len());
    let reason = http::StatusCode::from_u16(answer.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    write!(out, "HTTP/1.1 {} {reason}\r\nServer: {SERVER_HEADER}\r\nDate: ", answer.status)?;
    DATE.with_borrow_mut(|date| out.extend_from_slice(date.now().as_bytes()));
    write!(out, "\r\nContent-Type: {}\r\nContent-Length: {}\r\n", answer.content_type, answer.body.len())?;
    if let Some(allow) = answer.allow {
        write!(out, "Allow: {allow}\r\n")?;
    }
    match persist {
        Persist::KeepAlive => {}
        Persist::KeepAlive10 => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        Persist::Close => out.extend_from_slice(b"Connection: close\r\n"),
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&answer.body);
    stream.write_all(&out)
}

thread_local! {
    /// Each thread formats the Date once a second at most, as hyper does per process.
    static DATE: RefCell<HttpDate> = const { RefCell::new(HttpDate { second: u64::MAX, text: String::new() }) };
}

struct HttpDate {
    second: u64,
    text: String,
}

impl HttpDate {
    fn now(&mut self) -> &str {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second {
            self.second = second;
            self.text = httpdate::fmt_http_date(now);
        }
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::TcpListener;

    use contract::BenchError;

    use super::*;

    #[test]
    fn an_answer_is_one_http_1_1_message_with_the_contract_headers() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let answer = Answer::from(BenchError::MethodNotAllowed);
        respond(&server, &answer, Persist::Close).unwrap();
        drop(server);
        let mut text = String::new();
        (&client).read_to_string(&mut text).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{head}");
        for line in ["Server: std", "Content-Type: application/json", "Allow: GET", "Connection: close"] {
            assert!(head.lines().any(|l| l == line), "no {line:?} in {head}");
        }
        assert!(head.contains(&format!("Content-Length: {}", body.len())), "{head}");
        let date = head.lines().find_map(|l| l.strip_prefix("Date: ")).unwrap();
        assert!(httpdate::parse_http_date(date).is_ok(), "Date {date}");
    }
}
