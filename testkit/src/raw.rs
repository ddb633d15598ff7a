//! Blocking raw exchanges for the servers' own RFC 9112 tests: bytes out as given, then
//! everything the server sends until it closes, as text.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

/// Sends `raw` on a fresh connection (then shuts its write side, with `half_close`), and
/// reads until the server closes it or `wait` passes without a byte.
pub fn exchange_with(addr: SocketAddr, raw: &[u8], half_close: bool, wait: Duration) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(wait)).expect("read timeout");
    // From a thread: the server may answer and close before it reads all of a long head.
    let writer = {
        let (mut stream, raw) = (stream.try_clone().expect("clone"), raw.to_vec());
        thread::spawn(move || {
            let _ = stream.write_all(&raw);
            if half_close {
                let _ = stream.shutdown(Shutdown::Write);
            }
        })
    };
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    let _ = writer.join();
    String::from_utf8_lossy(&got).into_owned()
}

/// [`exchange_with`] without the half-close.
pub fn exchange(addr: SocketAddr, raw: &[u8], wait: Duration) -> String {
    exchange_with(addr, raw, false, wait)
}

/// The status codes of the responses in `text`, in order.
pub fn statuses(text: &str) -> Vec<u16> {
    text.split("HTTP/1.").skip(1).filter_map(|r| r.get(2..5)?.parse().ok()).collect()
}

/// `GET /health` that asks for the close: ends a pipelined exchange.
pub const LAST: &str = "GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
