//! The load loop: C connections on T threads, closed loop or open-loop rate.
//!
//! Each connection is one task owning one socket, speaking loadgen's own HTTP/1.1 client
//! (`engine/http1.rs`; no pool in between, so C is exactly the number of sockets). Each thread
//! counts into its own tally, merged at the end. The run ends at its deadline whatever the
//! server does (after at most one timeout spent opening its connections): every task is
//! dropped then, so a dead or hanging server yields errors and timeouts, never a hang.

mod http1;
mod schedule;
mod tally;

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use http::Uri;
use tokio::task::LocalSet;
use tokio::time::Instant;

use self::http1::{Connection, Request};
use self::schedule::{Schedule, Slot};
use self::tally::{Published, Tally};
use crate::procstat;
use crate::result::{Mode, RequestError, RunResult};

/// Pause after a failed connect, so a dead server is retried, not spun on.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);

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
/// Like wrk, each of the `-t` threads runs its own event loop (a current-thread tokio
/// runtime) with its share of the connections: a connection's request and its answer never
/// cross threads, and neither do its counts. The calling thread only samples and keeps
/// time.
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
    let monitor = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let sampled = monitor.block_on(drive(plan, &published, window));
    let mut tally = Tally::new();
    for w in workers {
        tally.merge(&w.join().map_err(|_| io::Error::other("a loadgen thread panicked"))??);
    }
    Ok(collect(plan, tally, sampled?))
}

/// One thread of the load loop and what it shares with the others.
struct Worker {
    thread: usize,
    plan: Arc<Plan>,
    request: Arc<Request>,
    published: Arc<Published>,
}

impl Worker {
    /// This thread's event loop: its connections (opened first, with keep-alive), then, once
    /// the clock starts, their requests until the deadline, then all of them dropped
    /// mid-flight (the run ends on time whatever the server does). Returns what it counted.
    fn run(self, ready: &mpsc::Sender<()>, go: &mpsc::Receiver<Window>) -> io::Result<Tally> {
        let plan = Arc::clone(&self.plan);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
        let mine: Vec<usize> = (self.thread..plan.connections).step_by(plan.threads).collect();
        let mut connections = match &runtime {
            Ok(rt) if plan.keepalive => rt.block_on(open_all(&plan, mine.len())),
            _ => Vec::new(),
        };
        // Always said, so the caller never waits on a thread that failed.
        let _ = ready.send(());
        let Ok(window) = go.recv() else { return Ok(Tally::new()) };
        let runtime = runtime?;
        connections.resize_with(mine.len(), Connection::new);
        let worker = Rc::new(self);
        let tally = Rc::new(RefCell::new(Tally::new()));
        let tasks = LocalSet::new();
        for (index, connection) in mine.into_iter().zip(connections) {
            tasks.spawn_local(Rc::clone(&worker).connection(index, Rc::clone(&tally), window, connection));
        }
        tasks.block_on(&runtime, async { tokio::time::sleep_until(window.end).await });
        // Dropping the tasks drops their connections, answered or not, their timers (which
        // need the runtime to deregister from) and their hold on the tally.
        {
            let _runtime = runtime.enter();
            drop(tasks);
        }
        Ok(Rc::into_inner(tally).map_or_else(Tally::new, RefCell::into_inner))
    }

    /// One connection's life: send, wait, record, repeat until the run drops it.
    async fn connection(
        self: Rc<Self>,
        index: usize,
        tally: Rc<RefCell<Tally>>,
        window: Window,
        mut connection: Connection,
    ) {
        let plan = &*self.plan;
        let mut schedule = Schedule::open_loop(plan.rate, plan.connections, index, window.start);
        // One timer for the pace and one for the timeout, reset for each request rather
        // than made anew: resetting one to a later time touches no timer wheel.
        let mut pace = pin!(tokio::time::sleep_until(window.start));
        let mut deadline = pin!(tokio::time::sleep_until(window.end));
        loop {
            let (intended, mut sent) = match schedule.as_mut().map(|s| s.take(Instant::now())) {
                Some(Slot::Ahead(at)) => {
                    pace.as_mut().reset(at);
                    pace.as_mut().await;
                    let now = Instant::now();
                    (now, now)
                }
                Some(Slot::Behind(at)) => (at, Instant::now()),
                None => {
                    let now = Instant::now();
                    (now, now)
                }
            };
            if !connection.is_open() {
                if let Err(e) = connection.open(plan.addr, plan.timeout).await {
                    self.record(&tally, window, Err(e), intended);
                    tokio::time::sleep(CONNECT_BACKOFF).await;
                    continue;
                }
                sent = Instant::now();
            }
            deadline.as_mut().reset(sent + plan.timeout);
            let outcome = tokio::select! {
                biased;
                answer = connection.exchange(&self.request) => answer,
                () = deadline.as_mut() => {
                    // Cut off mid-answer: out of step, the next request reconnects.
                    connection.close();
                    Err(RequestError::Timeout)
                }
            };
            self.record(&tally, window, outcome.map(|a| (a.status, a.bytes)), intended);
        }
    }

    /// Counts an outcome that ends now, if now is in the recorded window: a whole answer
    /// (status, bytes) with its latency from `intended`, or an error.
    fn record(
        &self,
        tally: &RefCell<Tally>,
        window: Window,
        outcome: Result<(u16, u64), RequestError>,
        intended: Instant,
    ) {
        let done = Instant::now();
        if !window.recording(done) {
            return;
        }
        let mut tally = tally.borrow_mut();
        match outcome {
            Ok((status, bytes)) => tally.answer(schedule::latency_us(intended, done), status, bytes),
            Err(e) => tally.error(e),
        }
        self.published.publish(self.thread, &tally);
    }
}
/// Opens `n` connections at once, each within the timeout; one that failed is left closed
/// (its task retries it).
async fn open_all(plan: &Plan, n: usize) -> Vec<Connection> {
    let (addr, timeout) = (plan.addr, plan.timeout);
    let opening: Vec<_> = (0..n)
        .map(|_| {
            tokio::spawn(async move {
                let mut connection = Connection::new();
                let _ = connection.open(addr, timeout).await;
                connection
            })
        })
        .collect();
    let mut connections = Vec::with_capacity(n);
    for o in opening {
        connections.push(o.await.unwrap_or_else(|_| Connection::new()));
    }
    connections
}

/// Samples the server and the per-thread rates once the window opens, until it closes.
async fn drive(plan: &Plan, published: &Published, window: Window) -> io::Result<Sampled> {
    tokio::time::sleep_until(window.record_from).await;
    let mut server = match plan.server_pid {
        Some(pid) => Some(procstat::Window::start(pid)?),
        None => None,
    };
    let mut thread_rps = Vec::new();
    let mut last_counts: Vec<u64> = published.requests().collect();
    let mut last_tick = Instant::now();
    let mut tick =
        tokio::time::interval_at(window.record_from + Duration::from_millis(250), Duration::from_millis(250));
    let mut quarter = 0u64;
    while Instant::now() < window.end {
        tokio::select! {
            _ = tick.tick() => {}
            () = tokio::time::sleep_until(window.end) => break,
        }
        if let Some(s) = server.as_mut() {
            s.sample();
        }
        quarter += 1;
        if quarter.is_multiple_of(4) {
            // Once a second: each thread's completions, for the Req/Sec row.
            let now = Instant::now();
            let secs = now.duration_since(last_tick).as_secs_f64();
            for (last, count) in last_counts.iter_mut().zip(published.requests()) {
                thread_rps.push((count - *last) as f64 / secs);
                *last = count;
            }
            last_tick = now;
            if plan.progress {
                progress(published, window);
            }
        }
    }
    let elapsed = Instant::now().duration_since(window.record_from).as_secs_f64().min(plan.duration.as_secs_f64());
    if plan.progress {
        eprint!("\r\x1b[K");
    }
    Ok(Sampled { thread_rps, server: server.map(|s| s.finish(elapsed)), elapsed })
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
