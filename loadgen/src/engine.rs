//! The load loop: C connections on T threads, closed loop or open-loop rate.
//!
//! Each connection is one socket, speaking loadgen's own HTTP/1.1 client (`engine/http1.rs`;
//! no pool in between, so C is exactly the number of sockets), driven by its thread's event
//! loop (`engine/worker.rs`). Each thread counts into its own tally, merged at the end. The
//! run ends at its deadline whatever the server does (after at most one timeout spent opening
//! its connections): every connection is dropped then, so a dead or hanging server yields
//! errors and timeouts, never a hang.
//!
//! An `https://` target puts TLS under that client (`engine/tls.rs`: one client config for
//! the run; `engine/http1/tls.rs`: a rustls session per connection over its socket).

mod http1;
mod schedule;
mod tally;
mod timers;
mod tls;
mod worker;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use http::Uri;

use self::http1::Request;
use self::tally::{Published, Tally};
pub use self::tls::{AcceptAnyServerCertificate, TlsPlan};
use self::worker::Worker;
use crate::procstat;
use crate::result::{HandshakeSummary, Mode, RunResult, TlsResult};

/// How often the monitor samples the server: four times per Req/Sec sample.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// The shortest end of a window that is a Req/Sec sample of its own (wrk samples every
/// 100 ms): a shorter one's rate is mostly noise, unless the run has no other sample.
const SHORTEST_RATE_SAMPLE: Duration = Duration::from_millis(100);

/// What to load and how.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The request target and Host header.
    pub uri: Uri,
    /// The URL as given, for the report.
    pub url: String,
    /// Connections.
    pub connections: usize,
    /// Worker threads.
    pub threads: usize,
    /// Recorded window.
    pub duration: Duration,
    /// Unrecorded warm-up before it.
    pub warmup: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Open-loop total rate, requests/second.
    pub rate: Option<f64>,
    /// Reuse connections (false: a new one per request, `Connection: close`).
    pub keepalive: bool,
    /// Process to sample during the window.
    pub server_pid: Option<u32>,
    /// Print a progress line on stderr once a second.
    pub progress: bool,
    /// An `https://` target's TLS; `None` for `http://`.
    pub tls: Option<TlsPlan>,
}

/// The time frame of a run.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    record_from: Instant,
    end: Instant,
}

impl Window {
    fn recording(&self, t: Instant) -> bool {
        t >= self.record_from && t < self.end
    }
}

/// Runs the plan and returns what it measured.
///
/// Like wrk, each of the `-t` threads runs its own event loop with its share of the
/// connections: a connection's request and its answer never cross threads, and neither do
/// its counts. The calling thread only samples and keeps time.
///
/// Also like wrk, with keep-alive every connection is opened before the clock starts: the
/// server accepts them all first, so the first requests of the warm-up do not each carry a
/// connection's set-up, a burst a server near its capacity would still be working off in
/// the window.
pub fn run(plan: &Plan) -> io::Result<RunResult> {
    let published = Arc::new(Published::new(plan.threads));
    let request = Arc::new(Request::new(plan));
    let plan_arc = Arc::new(plan.clone());
    let (ready_tx, ready) = mpsc::channel();
    let mut go = Vec::new();
    let workers = (0..plan.threads)
        .map(|thread| {
            let (go_tx, go_rx) = mpsc::channel();
            go.push(go_tx);
            let worker = Worker {
                thread,
                plan: Arc::clone(&plan_arc),
                request: Arc::clone(&request),
                published: Arc::clone(&published),
            };
            let ready = ready_tx.clone();
            std::thread::Builder::new().name(format!("loadgen-{thread}")).spawn(move || worker.run(&ready, &go_rx))
        })
        .collect::<io::Result<Vec<_>>>()?;
    drop(ready_tx);
    // Every worker says when its connections are open (or failed to open: the connection
    // loop retries them, counted as errors in the window).
    for _ in 0..plan.threads {
        if ready.recv().is_err() {
            break;
        }
    }
    let start = Instant::now();
    let window = Window { start, record_from: start + plan.warmup, end: start + plan.warmup + plan.duration };
    for g in &go {
        let _ = g.send(window);
    }
    let sampled = drive(plan, &published, window);
    let mut tally = Tally::new();
    for w in workers {
        tally.merge(&w.join().map_err(|_| io::Error::other("a loadgen thread panicked"))??);
    }
    Ok(collect(plan, tally, sampled?))
}

/// Samples the server and the per-thread rates once the window opens, until it closes.
fn drive(plan: &Plan, published: &Published, window: Window) -> io::Result<Sampled> {
    sleep_until(window.record_from);
    let mut server = match plan.server_pid {
        Some(pid) => Some(procstat::Window::start(pid)?),
        None => None,
    };
    let mut rates = Rates::new(published);
    let mut tick = window.record_from;
    let mut quarter = 0u64;
    loop {
        tick += SAMPLE_EVERY;
        if tick >= window.end {
            sleep_until(window.end);
            break;
        }
        sleep_until(tick);
        if let Some(s) = server.as_mut() {
            s.sample();
        }
        quarter += 1;
        if quarter.is_multiple_of(4) {
            rates.sample(published);
            if plan.progress {
                progress(published, window);
            }
        }
    }
    // The window's last second (or what is left after its whole seconds) is a sample too:
    // without it a 1 s run had none, and a 10 s run only 9.
    if rates.thread_rps.is_empty() || rates.last.elapsed() >= SHORTEST_RATE_SAMPLE {
        rates.sample(published);
    }
    let elapsed = Instant::now().duration_since(window.record_from).as_secs_f64().min(plan.duration.as_secs_f64());
    if plan.progress {
        eprint!("\r\x1b[K");
    }
    Ok(Sampled { thread_rps: rates.thread_rps, server: server.map(|s| s.finish(elapsed)), elapsed })
}

/// The Req/Sec samples: each thread's completions since the last sample, per second.
struct Rates {
    thread_rps: Vec<f64>,
    counts: Vec<u64>,
    last: Instant,
}

impl Rates {
    fn new(published: &Published) -> Self {
        Self { thread_rps: Vec::new(), counts: published.requests().collect(), last: Instant::now() }
    }

    /// One sample of each thread, over the time since the last one.
    fn sample(&mut self, published: &Published) {
        let now = Instant::now();
        let secs = now.duration_since(self.last).as_secs_f64();
        for (last, count) in self.counts.iter_mut().zip(published.requests()) {
            self.thread_rps.push((count - *last) as f64 / secs);
            *last = count;
        }
        self.last = now;
    }
}

/// Sleeps until `t` (not at all if it has passed).
fn sleep_until(t: Instant) {
    std::thread::sleep(t.saturating_duration_since(Instant::now()));
}

/// What the monitor measured besides the threads' tallies.
struct Sampled {
    thread_rps: Vec<f64>,
    server: Option<crate::result::ServerSample>,
    elapsed: f64,
}

/// The result, from the threads' merged tally once every one has stopped.
fn collect(plan: &Plan, tally: Tally, sampled: Sampled) -> RunResult {
    RunResult {
        mode: Mode {
            loadgen_version: env!("CARGO_PKG_VERSION").to_owned(),
            url: plan.url.clone(),
            connections: plan.connections,
            threads: plan.threads,
            duration_s: plan.duration.as_secs_f64(),
            warmup_s: plan.warmup.as_secs_f64(),
            timeout_s: plan.timeout.as_secs_f64(),
            keepalive: plan.keepalive,
            rate: plan.rate,
            headers: plan.headers.clone(),
        },
        elapsed_s: sampled.elapsed,
        requests: tally.requests,
        bytes: tally.bytes,
        errors: tally.errors,
        thread_rps: sampled.thread_rps,
        latency_summary: crate::result::LatencySummary::of(&tally.latency),
        latency: tally.latency,
        server: sampled.server,
        tls: plan.tls.as_ref().zip(tally.tls).map(|(plan, tls)| TlsResult {
            verify: plan.verify.clone(),
            resumption: plan.resumption,
            handshakes: tls.latency.len(),
            full: tls.latency.len().saturating_sub(tls.resumed),
            resumed: tls.resumed,
            failures: tls.failures,
            first_failure: tls.first_failure,
            negotiated: tls.negotiated.map(|n| n.to_string()),
            latency_us: HandshakeSummary::of(&tls.latency),
            latency: tls.latency,
        }),
    }
}

fn progress(published: &Published, window: Window) {
    let secs = Instant::now().duration_since(window.record_from).as_secs_f64();
    let requests: u64 = published.requests().sum();
    let rps = if secs > 0.0 { requests as f64 / secs } else { 0.0 };
    eprint!("\r  {secs:>5.1}s  {requests} requests  {rps:.0} req/s  {} errors\x1b[K", published.failures());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_window_after_the_warmup_is_recorded() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let window = Window { start, record_from: start + second, end: start + second * 3 };
        assert!(!window.recording(start), "the warm-up is not recorded");
        assert!(window.recording(start + second));
        assert!(window.recording(start + second * 3 - Duration::from_nanos(1)));
        assert!(!window.recording(start + second * 3), "the end is not in the window");
    }
}
