//! server-std: the blocking floor, what a blocking server costs without a framework.
//!
//! server-hyper is the floor under the async frameworks; this is the floor under
//! server-rouille. Its model is rouille's (a request holds a thread while it waits on the
//! upstream, through the same ureq client set up the same way, and `/multiple` fans out
//! on the same cached pool), with nothing between the socket and the handler: std's
//! `TcpListener`, a thread per connection that reads, parses (httparse, hyper's parser)
//! and answers its own requests. rouille hands every request from tiny_http's connection
//! thread through a queue to a dispatch thread and on to a pool thread; comparing the two
//! splits what rouille costs from what blocking I/O costs (docs/benchmarks/servers-cpu.md).
//!
//! Not a framework and not meant to be one: HTTP/1.1 with keep-alive and pipelining, GET
//! without a body; a request with a body is answered and its connection closed.
//!
//! Threads bound everything, as the blocking model means: `--threads N` connections are
//! served at once ([`DEFAULT_THREADS`] without it; the next waits in the listen backlog),
//! and `/multiple`'s calls run on at most [`proxy::MAX_FANOUT_THREADS`] more, a request
//! that finds none answering 503. Load never drives the thread count to where the OS
//! refuses a thread (where Rust aborts the process). The bound on calls matters for CPU
//! too: with thousands of upstream calls in flight ureq's pool, which re-scans every idle
//! connection under one lock on each call, takes most of it
//! (docs/benchmarks/servers-cpu.md).
//!
//! A request head must fit `MAX_HEAD_BYTES` and `MAX_HEADERS` (else 431, or 414 for a
//! request line alone that long) and arrive within `HEAD_TIMEOUT` (else 408), so `N` slow
//! clients hold the `N` threads for that long at most ([`contract::limits`]).
//!
//! The modules follow a request: `head` reads and parses its head, the app answers it
//! ([`App`]: server-rouille's handler too), `response` writes the answer, all on the
//! thread of its connection (`connection`), which this file accepts.
//!
//! Run with: cargo run -p server-std

mod connection;
mod head;
mod response;

use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bench_sys::AcceptErrors;
use contract::cached_pool::{CachedPool, MAX_PROCESS_THREADS, PoolError, THREAD_KEEP_ALIVE};
use contract::proxy::{self, blocking::App};
use contract::running::{self, DRAIN_LIMIT};
use contract::{Answer, BenchError, Config, Running};

use crate::connection::{Connections, serve};
use crate::head::Persist;
use crate::response::respond;

/// What this server is, in the line its `--help` opens with (after `server-std: `).
pub const ABOUT: &str = "the benchmark's /single and /multiple proxy on std::net alone, ureq as the upstream client (blocking: a thread per connection, up to --threads at once)";

/// The `Server:` header of every response.
pub const SERVER_HEADER: &str = "std";

/// Connections served at once without `--threads`: the request threads' half of
/// [`MAX_PROCESS_THREADS`], the fan-out pool having the other.
pub const DEFAULT_THREADS: usize = MAX_PROCESS_THREADS - proxy::MAX_FANOUT_THREADS;
const _: () = assert!(DEFAULT_THREADS > 0 && DEFAULT_THREADS + proxy::MAX_FANOUT_THREADS <= MAX_PROCESS_THREADS);

/// How long the accept loop waits for a connection thread that has closed its connection
/// to count itself idle (it closes it just before), before it refuses the next one.
const HANDOVER: Duration = Duration::from_millis(100);

/// The connections served at once: `--threads`, else [`DEFAULT_THREADS`].
pub fn connection_threads(config: &Config) -> usize {
    config.threads.map_or(DEFAULT_THREADS, NonZeroUsize::get)
}

/// Binds `config.listen` (backlog [`bench_sys::LISTEN_BACKLOG`]), starts the accept thread and
/// returns; the server runs until the [`Running`] is stopped.
///
/// Every accepted connection gets a thread of its own (an idle one if there is one) for
/// its whole life, up to [`connection_threads`] at once: the next one waits in the listen
/// backlog until a connection closes.
pub fn start(config: Config) -> io::Result<Running> {
    start_with_fanout_threads(config, proxy::MAX_FANOUT_THREADS)
}

/// [`start`] with at most `fanout_threads` threads for `/multiple`'s calls: for tests
/// that run out of them on purpose.
pub fn start_with_fanout_threads(config: Config, fanout_threads: usize) -> io::Result<Running> {
    let listener = bench_sys::bind_listener(config.listen)?;
    let addr = listener.local_addr()?;
    let cap = connection_threads(&config);
    let app = App::new(config, cap, "std-fanout", fanout_threads)?;
    let connections = Arc::new(Connections::new(cap));
    let accepting = Arc::clone(&connections);
    let accept = thread::Builder::new()
        .name("std-accept".into())
        .spawn(move || accept_loop(&listener, &accepting, &app, cap))?;

    Ok(Running::new(addr, move || {
        connections.stop();
        // accept() blocks until a connection comes: bring one.
        let _ = TcpStream::connect_timeout(&reachable(addr), Duration::from_secs(1));
        accept.join().map_err(|_| io::Error::other("server-std accept thread panicked"))?;
        if connections.wait_all_closed(DRAIN_LIMIT) {
            Ok(())
        } else {
            // The connection threads are left to the process exit.
            Err(running::drain_overdue())
        }
    }))
}

/// `addr` with an unspecified IP (0.0.0.0, ::) replaced by loopback: where to connect to a
/// listener bound to it.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port()),
        _ => addr,
    }
}

fn accept_loop(listener: &TcpListener, connections: &Arc<Connections>, app: &Arc<App>, cap: usize) {
    let threads = CachedPool::new("std-conn", THREAD_KEEP_ALIVE, cap);
    let mut errors = AcceptErrors::new("server-std");
    while connections.wait_for_room() {
        // Room among the connections is a thread on its way back to the pool: wait the
        // moment it takes, so that the connection accepted next is not refused for it.
        let handover = Instant::now() + HANDOVER;
        while !threads.has_room() && Instant::now() < handover {
            thread::sleep(Duration::from_micros(100));
        }
        let stream = match listener.accept() {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                if let Some(pause) = errors.failed(&e) {
                    thread::sleep(pause);
                }
                continue;
            }
        };
        let accepted = Instant::now();
        // After a stop, this is the stop's own wake-up connection (or one that came with
        // it): not served. Dropping the listener then closes the backlog.
        let Some(connection) = connections.open(stream) else { break };
        let stream = Arc::clone(&connection.stream);
        let app = Arc::clone(app);
        if let Err(e) = threads.execute(move || serve(&connection, &app, accepted)) {
            // The job, and with it the connection, is dropped (unregistered): this copy
            // of the stream answers and closes it.
            tracing::warn!("server-std: no thread for a connection: {e}");
            refuse(&stream, e);
        }
    }
}

/// The end of a connection no thread can serve: a 503 written by the accept loop without
/// blocking it (a few hundred bytes into an empty socket buffer), then whatever the client
/// has sent so far read and dropped, so the close is a FIN rather than a reset that could
/// erase the answer; a request still on its way when the socket closes meets a reset.
fn refuse(stream: &TcpStream, e: PoolError) {
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let answer = Answer::from(BenchError::NoThread(e));
    if respond(stream, &answer, Persist::Close).is_ok() {
        let _ = stream.shutdown(Shutdown::Write);
        let _ = (&*stream).read(&mut [0u8; 4096]);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn without_threads_the_connections_and_fanout_threads_are_bounded_within_the_process_budget() {
        let vacant = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let config = Config::for_upstream(contract::Upstream::at(vacant));
        assert_eq!(config.threads, None);
        let connections = connection_threads(&config);
        assert_eq!(connections, DEFAULT_THREADS);
        assert!(connections + proxy::MAX_FANOUT_THREADS <= MAX_PROCESS_THREADS, "{connections} connection threads");
    }

    #[test]
    fn a_request_body_is_answered_and_the_connection_ends_cleanly_not_in_a_reset() {
        // Nothing listens upstream: a 405 never calls it.
        let vacant = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let server = start(Config::for_upstream(contract::Upstream::at(vacant))).unwrap();
        let client = TcpStream::connect(server.addr()).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // Far more body than the server reads with the head: unread input at its close.
        let body = vec![b'x'; 256 * 1024];
        let head = format!("POST /single HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", body.len());
        let writer = {
            let client = client.try_clone().unwrap();
            thread::spawn(move || (&client).write_all(&[head.as_bytes(), &body].concat()))
        };
        let mut text = Vec::new();
        // Without the linger: the 405, then "connection reset by peer".
        (&client).read_to_end(&mut text).expect("the answer, then a clean end of stream");
        let text = String::from_utf8_lossy(&text);
        assert!(text.starts_with("HTTP/1.1 405 "), "{text}");
        assert!(text.contains("Connection: close\r\n"), "{text}");
        let _ = writer.join();
        server.stop().unwrap();
    }
}
