//! loadgen's load loop allocates nothing per request once running: the allocations of a
//! long run and a short one differ by far fewer than the requests between them. Counted by
//! this test binary's global allocator, against an in-test server that allocates nothing per
//! request either.

use std::alloc::System;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;

use clap::Parser;
use loadgen::command::Cli;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

/// Counts every allocation of the process.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn allocations() -> u64 {
    GLOBAL.stats().allocations as u64 + GLOBAL.stats().reallocations as u64
}

const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// A keep-alive server on 127.0.0.1, a thread per connection, answering each request from a
/// fixed buffer: after its connection's set-up, nothing it does allocates. Its threads end
/// when loadgen closes their connections.
fn server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || serve(stream));
        }
    });
    addr
}

fn serve(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = [0u8; 4096];
    // The last bytes seen, to find each request head's end across reads.
    let mut tail = [0u8; 4];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            tail = [tail[1], tail[2], tail[3], b];
            if &tail == b"\r\n\r\n" && stream.write_all(ANSWER).is_err() {
                return;
            }
        }
    }
}

/// One closed-loop run of `secs` seconds: its whole answers and the allocations it made.
fn run(addr: SocketAddr, secs: &str) -> (u64, u64) {
    let url = format!("http://{addr}/");
    let cli = Cli::parse_from(["loadgen", "-c", "4", "-t", "2", "-d", secs, &url]);
    let plan = loadgen::plan(&cli.run).expect("valid plan");
    let before = allocations();
    let result = loadgen::engine::run(&plan).expect("run");
    let made = allocations() - before;
    assert_eq!(result.errors.total(), 0, "{:?}", result.errors);
    (result.requests, made)
}

#[test]
fn the_load_loop_allocates_nothing_per_request_in_steady_state() {
    let addr = server();
    let (short_requests, short_allocations) = run(addr, "1s");
    let (long_requests, long_allocations) = run(addr, "3s");
    let more_requests = long_requests.saturating_sub(short_requests);
    assert!(more_requests >= 1_000, "too few requests to tell: {short_requests} then {long_requests}");
    // The long run's extra allocations are its few extra once-a-second samples; one
    // allocation per request would make them at least `more_requests`.
    let more_allocations = long_allocations.saturating_sub(short_allocations);
    assert!(
        more_allocations * 100 < more_requests,
        "{more_allocations} more allocations for {more_requests} more requests \
         ({short_allocations} in 1 s, {long_allocations} in 3 s)"
    );
}
