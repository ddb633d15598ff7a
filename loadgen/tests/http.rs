//! loadgen's HTTP/1.1 client against a scripted server on an ephemeral port of 127.0.0.1:
//! the framings and connection endings a real server may send, each counted the way wrk
//! counts it. Whatever client path loadgen's load loop uses must pass these.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use clap::Parser;
use loadgen::command::Cli;
use loadgen::result::RunResult;

/// What the scripted server does with the `n`th request of a connection (from 0).
#[derive(Clone, Copy)]
struct Reply {
    /// The bytes it writes.
    bytes: &'static [u8],
    /// Written in pieces of this many bytes, each flushed, a millisecond apart (0: at once).
    pieces: usize,
    /// Closes the connection after writing.
    close: bool,
}

/// A server that answers each request by its script, on threads of its own; stopped and
/// joined when dropped. Counts connections, and requests that arrived while the one before
/// was still unanswered on the same connection (pipelining).
struct Scripted {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    connections: Arc<AtomicU64>,
    pipelined: Arc<AtomicU64>,
    accept: Option<thread::JoinHandle<()>>,
}

impl Scripted {
    fn start(script: fn(u64) -> Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let (stop, connections, pipelined) = (Arc::default(), Arc::default(), Arc::default());
        let accept = {
            let (stop, connections, pipelined): (Arc<AtomicBool>, Arc<AtomicU64>, Arc<AtomicU64>) =
                (Arc::clone(&stop), Arc::clone(&connections), Arc::clone(&pipelined));
            thread::spawn(move || {
                let mut served = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            connections.fetch_add(1, Ordering::Relaxed);
                            let pipelined = Arc::clone(&pipelined);
                            served.push(thread::spawn(move || serve(stream, script, &pipelined)));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
                for conn in served {
                    let _ = conn.join();
                }
            })
        };
        Self { addr, stop, connections, pipelined, accept: Some(accept) }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// One connection: reads each request head, checks that nothing of a next request came
/// while this one was unanswered, answers by the script.
fn serve(mut stream: TcpStream, script: fn(u64) -> Reply, pipelined: &AtomicU64) {
    // A client that stops sending ends the thread; loadgen closes its connections at the end.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut pending = Vec::new();
    for n in 0.. {
        let Some(end) = read_head(&mut stream, &mut pending) else { return };
        pending.drain(..end);
        // A request written before this answer could only be a pipelined one: the pause is
        // the test's subject, the time a pipelining client gets to show itself.
        thread::sleep(Duration::from_millis(2));
        if !pending.is_empty() || bytes_waiting(&stream) {
            pipelined.fetch_add(1, Ordering::Relaxed);
        }
        let reply = script(n);
        if write_reply(&mut stream, reply).is_err() || reply.close {
            return;
        }
    }
}

/// Reads until `buf` holds a whole head; returns its length (to the blank line's end).
fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(at + 4);
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn bytes_waiting(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    let _ = stream.set_nonblocking(true);
    let waiting = matches!(stream.peek(&mut byte), Ok(n) if n > 0);
    let _ = stream.set_nonblocking(false);
    waiting
}

fn write_reply(stream: &mut TcpStream, reply: Reply) -> io::Result<()> {
    if reply.pieces == 0 {
        return stream.write_all(reply.bytes);
    }
    for piece in reply.bytes.chunks(reply.pieces) {
        stream.write_all(piece)?;
        stream.flush()?;
        thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// loadgen in-process, closed loop: 2 connections, 1 thread, 1 s, a 2 s timeout.
fn run(url: &str) -> RunResult {
    let args = ["loadgen", "-c", "2", "-t", "1", "-d", "1s", "--timeout", "2s", url];
    let cli = Cli::parse_from(args);
    let plan = loadgen::plan(&cli.run).expect("valid plan");
    loadgen::engine::run(&plan).expect("run")
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
const CLOSING: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";

fn assert_clean(r: &RunResult, what: &str) {
    assert!(r.requests >= 10, "{what}: {} answers in 1 s", r.requests);
    assert_eq!(r.errors.total(), 0, "{what}: {:?}", r.errors);
}

#[test]
fn a_chunked_body_is_read_whole_and_counted() {
    let server = Scripted::start(|_| Reply { bytes: CHUNKED, pieces: 0, close: false });
    let r = run(&server.url());
    assert_clean(&r, "chunked");
    // Every answer's 11 body bytes are counted, with its head.
    assert!(r.bytes >= 11 * r.requests, "{} bytes for {} answers", r.bytes, r.requests);
    assert_eq!(server.connections.load(Ordering::Relaxed), 2, "keep-alive: one connection each");
}

#[test]
fn an_answer_split_across_many_reads_is_one_answer() {
    let server = Scripted::start(|_| Reply { bytes: CHUNKED, pieces: 3, close: false });
    assert_clean(&run(&server.url()), "3-byte pieces");
}

#[test]
fn a_request_is_sent_only_after_the_answer_before_it() {
    let server = Scripted::start(|_| Reply { bytes: OK, pieces: 0, close: false });
    assert_clean(&run(&server.url()), "keep-alive");
    assert_eq!(server.pipelined.load(Ordering::Relaxed), 0, "requests pipelined");
}

#[test]
fn connection_close_answers_are_answers_and_the_next_request_reconnects() {
    let server = Scripted::start(|n| {
        if n == 2 {
            Reply { bytes: CLOSING, pieces: 0, close: true }
        } else {
            Reply { bytes: OK, pieces: 0, close: false }
        }
    });
    let r = run(&server.url());
    assert_clean(&r, "Connection: close on every third answer");
    let connections = server.connections.load(Ordering::Relaxed);
    assert!(connections >= r.requests / 3, "{connections} connections for {} answers", r.requests);
}

#[test]
fn a_server_that_closes_after_some_answers_is_reconnected_to_without_a_stall() {
    // Three answers, then the connection closes without saying so: a request already on
    // its way may be lost as a read or write error, never as a timeout or a stall.
    let server = Scripted::start(|n| Reply { bytes: OK, pieces: 0, close: n == 2 });
    let r = run(&server.url());
    assert!(r.requests >= 10, "{} answers in 1 s: the client did not reconnect", r.requests);
    let e = &r.errors;
    assert_eq!((e.connect, e.timeout, e.non_2xx()), (0, 0, 0), "{e:?}");
    assert!(server.connections.load(Ordering::Relaxed) >= 3, "no reconnect");
}

#[test]
fn a_malformed_answer_is_a_read_error_not_an_answer() {
    let server = Scripted::start(|_| Reply { bytes: b"HTTP/1.1 abc\r\n\r\n", pieces: 0, close: false });
    let r = run(&server.url());
    assert_eq!(r.requests, 0, "a malformed status line counted as an answer");
    assert!(r.errors.read > 0, "{:?}", r.errors);
    assert_eq!((r.errors.connect, r.errors.timeout, r.errors.non_2xx()), (0, 0, 0), "{:?}", r.errors);
}

/// wrk's Req/Sec row is each thread's rate, sampled over the run: a run of one second has
/// its samples too (the last second was never sampled, so a 1 s run printed 0.00 and wrote
/// `thread_rps: []`), and they add up to the run's rate.
#[test]
fn a_one_second_run_has_a_req_per_sec_sample_of_each_thread() {
    let server = Scripted::start(|_| Reply { bytes: OK, pieces: 0, close: false });
    let url = server.url();
    let cli = Cli::parse_from(["loadgen", "-c", "4", "-t", "2", "-d", "1s", "--timeout", "2s", &url]);
    let r = loadgen::engine::run(&loadgen::plan(&cli.run).expect("valid plan")).expect("run");
    assert_clean(&r, "fast server");
    assert_eq!(r.thread_rps.len(), 2, "one sample per thread per second: {:?}", r.thread_rps);
    assert!(r.thread_rps.iter().all(|rps| *rps > 0.0), "{:?}", r.thread_rps);
    let sum: f64 = r.thread_rps.iter().sum();
    assert!((0.8..=1.2).contains(&(sum / r.rps())), "samples {:?} against {} req/s", r.thread_rps, r.rps());
    let text = r.render_text(false);
    let row = text.lines().find(|l| l.trim_start().starts_with("Req/Sec")).expect("a Req/Sec row");
    assert_ne!(row.split_whitespace().nth(1), Some("0.00"), "the mean rate: {row}");
}
