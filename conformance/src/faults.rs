//! The upstream-fault cases: each server against each fault of the test kit's
//! fault-injection upstream ([`contract::fault`]), one function per contract line.
//! Every case starts its own fault upstream and server on ephemeral ports; where it is
//! cheap, `/multiple` has one faulty call among good ones, which must fail the request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use contract::fault::{Fault, FaultUpstream};
use contract::upstream::MAX_BODY_BYTES;
use contract::{Config, Running};

use crate::Subject;
use crate::support::{self, assert_error, assert_reply, block_on, get};

/// The body of a good call among faulty ones.
const GOOD: u64 = 64;

/// The fan-out of the `/multiple` requests here: one call in it is faulty.
const FANOUT: u64 = 4;

/// Servers whose client cannot frame a close-delimited HTTP/1.1 body: awc reads it as
/// empty, so server-actix answers 502 rather than a wrong count.
const NO_CLOSE_DELIMITED: &[&str] = &["actix"];

fn fault_upstream(plan: impl Fn(u64) -> Fault + Send + Sync + 'static) -> FaultUpstream {
    FaultUpstream::with_plan(plan).expect("fault upstream starts")
}

/// `fault` for one call in every [`FANOUT`], a good answer for the others.
fn one_in_fanout(fault: Fault) -> FaultUpstream {
    fault_upstream(move |i| if i % FANOUT == 0 { fault } else { Fault::Ok(GOOD) })
}

/// The server under test against `upstream`, with this upstream timeout.
fn server(subject: &Subject, upstream: &FaultUpstream, upstream_timeout_ms: u64) -> Running {
    support::server(subject, Config { upstream_timeout_ms, ..Config::for_upstream(upstream.upstream()) })
}

/// `/single` and a `/multiple` with one faulty call both answer `status`, and the server
/// goes on serving.
async fn single_and_one_in_multiple_fail(subject: &Subject, addr: SocketAddr, status: u16, what: &str) {
    let multiple = format!("/multiple?n={FANOUT}&ms=0");
    assert_error(subject, &get(addr, &multiple).await, status, &format!("{what}, one call of {FANOUT}"));
    assert_error(subject, &get(addr, "/single?ms=0").await, status, what);
    assert_eq!(get(addr, "/health").await.status, 200, "{}: down after {what}", subject.name);
}

/// Accepted, read, never answered: the upstream timeout's 504, not a hung request.
pub fn upstream_that_never_answers_is_504_after_the_upstream_timeout(subject: &Subject) {
    let upstream = one_in_fanout(Fault::Hang);
    let s = server(subject, &upstream, 300);
    block_on(async {
        let t = Instant::now();
        single_and_one_in_multiple_fail(subject, s.addr(), 504, "hanging upstream").await;
        let took = t.elapsed();
        assert!(took < Duration::from_secs(10), "{}: two 300 ms timeouts took {took:?}", subject.name);
    });
}

pub fn upstream_reset_mid_body_is_502(subject: &Subject) {
    let upstream = one_in_fanout(Fault::ResetMidBody);
    let s = server(subject, &upstream, 30_000);
    block_on(single_and_one_in_multiple_fail(subject, s.addr(), 502, "reset mid-body"));
}

/// `Content-Length: 1000`, 100 bytes, close: a truncated body, not a 100-byte one.
pub fn upstream_body_shorter_than_its_content_length_is_502(subject: &Subject) {
    let upstream = one_in_fanout(Fault::ShortBody);
    let s = server(subject, &upstream, 30_000);
    block_on(single_and_one_in_multiple_fail(subject, s.addr(), 502, "short Content-Length body"));
}

pub fn upstream_chunked_body_without_its_last_chunk_is_502(subject: &Subject) {
    let upstream = one_in_fanout(Fault::ChunkedWithoutLastChunk);
    let s = server(subject, &upstream, 30_000);
    let what = "chunked body without its last chunk";
    block_on(single_and_one_in_multiple_fail(subject, s.addr(), 502, what));
}

/// No length, no chunking, the close ends the body: valid HTTP/1.1, counted to the byte
/// (or a 502 where the client cannot read such a body; never a wrong count).
pub fn upstream_close_delimited_body_is_counted_exactly(subject: &Subject) {
    let upstream = fault_upstream(|_| Fault::CloseDelimited(70_000));
    let s = server(subject, &upstream, 30_000);
    block_on(async {
        let single = get(s.addr(), "/single?ms=0").await;
        let multiple = get(s.addr(), "/multiple?n=3&ms=0").await;
        if NO_CLOSE_DELIMITED.contains(&subject.name) {
            let error = assert_error(subject, &single, 502, "close-delimited body");
            assert!(error.contains("close"), "{}: error does not say why: {error}", subject.name);
            assert_error(subject, &multiple, 502, "close-delimited bodies");
        } else {
            assert_reply(subject, &single, 1, 70_000, "close-delimited body");
            assert_reply(subject, &multiple, 3, 3 * 70_000, "close-delimited bodies");
        }
    });
}

pub fn upstream_non_2xx_answers_are_502(subject: &Subject) {
    for status in [500, 503, 302] {
        let upstream = one_in_fanout(Fault::Status(status));
        let s = server(subject, &upstream, 30_000);
        block_on(single_and_one_in_multiple_fail(subject, s.addr(), 502, &format!("upstream {status}")));
    }
}

pub fn upstream_malformed_status_line_is_502(subject: &Subject) {
    let upstream = one_in_fanout(Fault::MalformedStatusLine);
    let s = server(subject, &upstream, 30_000);
    block_on(single_and_one_in_multiple_fail(subject, s.addr(), 502, "malformed status line"));
}

/// A body trickled a byte at a time is a 200 with its exact length while it arrives within
/// the upstream timeout, and a 504 once it cannot.
pub fn upstream_slow_drip_is_200_within_the_timeout_and_504_past_it(subject: &Subject) {
    // 10 bytes over 0.2 s, then 40 over 4 s, against a 1.5 s timeout.
    let quick = Fault::Drip { bytes: 10, every: Duration::from_millis(20) };
    let slow = Fault::Drip { bytes: 40, every: Duration::from_millis(100) };
    let upstream = fault_upstream(move |i| if i == 0 { quick } else { slow });
    let s = server(subject, &upstream, 1_500);
    block_on(async {
        assert_reply(subject, &get(s.addr(), "/single?ms=0").await, 1, 10, "a quick drip");
        assert_error(subject, &get(s.addr(), "/single?ms=0").await, 504, "a drip past the timeout");
    });
}

/// The largest body a call may return is counted; one byte more is a 502 that says so.
pub fn upstream_body_at_the_cap_is_counted_and_one_byte_over_is_502(subject: &Subject) {
    let upstream = fault_upstream(|i| Fault::Ok(if i == 0 { MAX_BODY_BYTES } else { MAX_BODY_BYTES + 1 }));
    let s = server(subject, &upstream, 30_000);
    block_on(async {
        assert_reply(subject, &get(s.addr(), "/single?ms=0").await, 1, MAX_BODY_BYTES, "a body at the cap");
        let error = assert_error(subject, &get(s.addr(), "/single?ms=0").await, 502, "a body over the cap");
        assert!(error.contains(&MAX_BODY_BYTES.to_string()), "{}: error does not say so: {error}", subject.name);
    });
}

/// An endless body is cut at the cap: a 502 that says so, long before the (2 minute)
/// upstream timeout, and counted rather than held: 16 endless calls at once must not
/// grow the server's process (this one, or the one it was started as, with its children)
/// by the 16 x 16 MiB that holding them to the cap would take.
pub fn upstream_endless_body_is_502_at_the_cap_and_not_buffered(subject: &Subject) {
    const CALLS: u64 = 16;
    let upstream = fault_upstream(|_| Fault::Endless);
    let s = server(subject, &upstream, 120_000);
    block_on(async {
        let t = Instant::now();
        let error = assert_error(subject, &get(s.addr(), "/single?ms=0").await, 502, "endless body");
        assert!(error.contains(&MAX_BODY_BYTES.to_string()), "{}: error does not say so: {error}", subject.name);

        let pid = s.pid();
        let before = rss_bytes(pid);
        let peak = Arc::new(AtomicU64::new(before));
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, done) = (Arc::clone(&peak), Arc::clone(&done));
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    peak.fetch_max(rss_bytes(pid), Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        let r = get(s.addr(), &format!("/multiple?n={CALLS}&ms=0")).await;
        done.store(true, Ordering::SeqCst);
        sampler.join().expect("sampler");
        assert_error(subject, &r, 502, "endless bodies");
        let grew = peak.load(Ordering::SeqCst).saturating_sub(before);
        // Holding them would be CALLS x MAX_BODY_BYTES (256 MiB); counting holds buffers.
        assert!(grew < CALLS * MAX_BODY_BYTES / 2, "{}: RSS grew {} MiB", subject.name, grew >> 20);
        let took = t.elapsed();
        assert!(took < Duration::from_secs(60), "{}: endless bodies took {took:?} to refuse", subject.name);
    });
}

/// The resident memory of the server: this process (`pid` None: it serves in here), or
/// process `pid` and its descendants (gunicorn serves in a child of the process started).
fn rss_bytes(pid: Option<u32>) -> u64 {
    match pid {
        None => {
            let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
            let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().strip_suffix("kB"));
            kb.and_then(|kb| kb.trim().parse::<u64>().ok()).expect("VmRSS in /proc/self/status") * 1024
        }
        Some(pid) => bench_sys::procstat::read(pid).expect("the server's /proc").rss_kib * 1024,
    }
}
