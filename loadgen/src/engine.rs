//! The load loop: C connections on T tokio workers, closed loop or open-loop rate.
//!
//! Each connection is one task owning one `hyper::client::conn::http1` connection (no pool
//! in between, so C is exactly the number of sockets). Samples go into a few sharded
//! histograms; counters are atomics. The run ends at its deadline whatever the server
//! does (after at most one timeout spent opening its connections): every task is aborted
//! then, so a dead or hanging server yields errors and timeouts, never a hang.

mod request;
mod schedule;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use hdrhistogram::Histogram;
use hyper::Uri;
use tokio::time::Instant;

use self::request::{RequestTemplate, Sender};
use self::schedule::{Schedule, Slot};
use crate::procstat;
use crate::result::{Errors, Mode, RequestError, RunResult, new_histogram};

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

/// Counters shared by every connection task.
struct Shared {
    histograms: Vec<Mutex<Histogram<u64>>>,
    requests: AtomicU64,
    bytes: AtomicU64,
    connect: AtomicU64,
    write: AtomicU64,
    read: AtomicU64,
    timeout: AtomicU64,
    /// Non-2xx answers, indexed by status code (100..=999 fit).
    status: Vec<AtomicU64>,
    /// Completed requests per thread group, for the Req/Sec row.
    per_group: Vec<AtomicU64>,
}

impl Shared {
    fn new(plan: &Plan) -> Self {
        let counters = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
        Self {
            // A few shards per thread keep the locks uncontended.
            histograms: (0..plan.threads * 4).map(|_| Mutex::new(new_histogram())).collect(),
            requests: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            connect: AtomicU64::new(0),
            write: AtomicU64::new(0),
            read: AtomicU64::new(0),
            timeout: AtomicU64::new(0),
            status: counters(1000),
            per_group: counters(plan.threads),
        }
    }

    fn error(&self, e: RequestError) {
        let counter = match e {
            RequestError::Connect => &self.connect,
            RequestError::Write => &self.write,
            RequestError::Read => &self.read,
            RequestError::Timeout => &self.timeout,
            RequestError::Status(code) => &self.status[usize::from(code).min(999)],
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn errors(&self) -> Errors {
        let mut e = Errors {
            connect: self.connect.load(Ordering::Relaxed),
            write: self.write.load(Ordering::Relaxed),
            read: self.read.load(Ordering::Relaxed),
            timeout: self.timeout.load(Ordering::Relaxed),
            ..Errors::default()
        };
        for (code, n) in self.status.iter().enumerate() {
            let n = n.load(Ordering::Relaxed);
            if n > 0 {
                e.status.insert(code as u16, n);
            }
        }
        e
    }

    fn errors_total(&self) -> u64 {
        self.errors().total()
    }
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
/// runtime) with its share of the connections: a connection's request, its hyper
/// connection task and its response never cross threads, which is what keeps the cost
/// per request near wrk's. The calling thread only samples and keeps time.
///
/// Also like wrk, with keep-alive every connection is opened before the clock starts: the
/// server accepts them all first, so the first requests of the warm-up do not each carry a
/// connection's set-up, a burst a server near its capacity would still be working off in
/// the window.
pub fn run(plan: &Plan) -> io::Result<RunResult> {
    let shared = Arc::new(Shared::new(plan));
    let plan_arc = Arc::new(plan.clone());
    let (ready_tx, ready) = mpsc::channel();
    let mut go = Vec::new();
    let workers = (0..plan.threads)
        .map(|thread| {
            let (plan, shared, ready) = (Arc::clone(&plan_arc), Arc::clone(&shared), ready_tx.clone());
            let (go_tx, go_rx) = mpsc::channel();
            go.push(go_tx);
            std::thread::Builder::new()
                .name(format!("loadgen-{thread}"))
                .spawn(move || worker(thread, plan, shared, &ready, &go_rx))
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
    let sampled = monitor.block_on(drive(plan, &shared, window));
    for w in workers {
        w.join().map_err(|_| io::Error::other("a loadgen thread panicked"))??;
    }
    Ok(collect(plan, &shared, sampled?))
}

/// One thread's event loop: its connections (opened first, with keep-alive), then, once
/// the clock starts, their requests until the deadline, then all of them dropped
/// mid-flight (the run ends on time whatever the server does).
fn worker(
    thread: usize,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    ready: &mpsc::Sender<()>,
    go: &mpsc::Receiver<Window>,
) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let mine: Vec<usize> = (thread..plan.connections).step_by(plan.threads).collect();
    let mut senders = match &runtime {
        Ok(rt) if plan.keepalive => rt.block_on(open_all(&plan, mine.len())),
        _ => Vec::new(),
    };
    // Always said, so the caller never waits on a thread that failed.
    let _ = ready.send(());
    let Ok(window) = go.recv() else { return Ok(()) };
    let runtime = runtime?;
    senders.resize_with(mine.len(), || None);
    runtime.block_on(async {
        let tasks: Vec<_> = mine
            .into_iter()
            .zip(senders)
            .map(|(i, sender)| tokio::spawn(connection(i, Arc::clone(&plan), Arc::clone(&shared), window, sender)))
            .collect();
        tokio::time::sleep_until(window.end).await;
        for t in &tasks {
            t.abort();
        }
    });
    // Connection driver tasks still open go with the runtime.
    runtime.shutdown_background();
    Ok(())
}

/// Opens `n` connections at once, each within the timeout; `None` for one that failed.
async fn open_all(plan: &Plan, n: usize) -> Vec<Option<Sender>> {
    let (addr, timeout) = (plan.addr, plan.timeout);
    let opening: Vec<_> = (0..n)
        .map(|_| tokio::spawn(async move { tokio::time::timeout(timeout, request::connect(addr)).await.ok()?.ok() }))
        .collect();
    let mut senders = Vec::with_capacity(n);
    for o in opening {
        senders.push(o.await.ok().flatten());
    }
    senders
}

/// Samples the server and the per-thread rates once the window opens, until it closes.
async fn drive(plan: &Plan, shared: &Shared, window: Window) -> io::Result<Sampled> {
    tokio::time::sleep_until(window.record_from).await;
    let mut server = match plan.server_pid {
        Some(pid) => Some(procstat::Window::start(pid)?),
        None => None,
    };
    let mut thread_rps = Vec::new();
    let mut last_counts: Vec<u64> = shared.per_group.iter().map(|c| c.load(Ordering::Relaxed)).collect();
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
            // Once a second: each thread group's completions, for the Req/Sec row.
            let now = Instant::now();
            let secs = now.duration_since(last_tick).as_secs_f64();
            for (group, counter) in shared.per_group.iter().enumerate() {
                let count = counter.load(Ordering::Relaxed);
                thread_rps.push((count - last_counts[group]) as f64 / secs);
                last_counts[group] = count;
            }
            last_tick = now;
            if plan.progress {
                progress(shared, window);
            }
        }
    }
    let elapsed = Instant::now().duration_since(window.record_from).as_secs_f64().min(plan.duration.as_secs_f64());
    if plan.progress {
        eprint!("\r\x1b[K");
    }
    Ok(Sampled { thread_rps, server: server.map(|s| s.finish(elapsed)), elapsed })
}

/// What the monitor measured besides the shared counters.
struct Sampled {
    thread_rps: Vec<f64>,
    server: Option<crate::result::ServerSample>,
    elapsed: f64,
}

/// The result, from the counters once every worker has stopped recording.
fn collect(plan: &Plan, shared: &Shared, sampled: Sampled) -> RunResult {
    let mut latency = new_histogram();
    for h in &shared.histograms {
        let h = h.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Same bounds on both sides: adding cannot fail.
        let _ = latency.add(&*h);
    }
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
        requests: shared.requests.load(Ordering::Relaxed),
        bytes: shared.bytes.load(Ordering::Relaxed),
        errors: shared.errors(),
        thread_rps: sampled.thread_rps,
        latency_summary: crate::result::LatencySummary::of(&latency),
        latency,
        server: sampled.server,
    }
}

fn progress(shared: &Shared, window: Window) {
    let secs = Instant::now().duration_since(window.record_from).as_secs_f64();
    let requests = shared.requests.load(Ordering::Relaxed);
    let rps = if secs > 0.0 { requests as f64 / secs } else { 0.0 };
    eprint!("\r  {secs:>5.1}s  {requests} requests  {rps:.0} req/s  {} errors\x1b[K", shared.errors_total());
}

/// One connection's life: send, wait, record, repeat until the run is aborted.
async fn connection(index: usize, plan: Arc<Plan>, shared: Arc<Shared>, window: Window, mut sender: Option<Sender>) {
    let group = index % plan.threads;
    let shard = &shared.histograms[index % shared.histograms.len()];
    let template = RequestTemplate::new(&plan);
    let mut schedule = Schedule::open_loop(plan.rate, plan.connections, index, window.start);
    loop {
        let intended = match schedule.as_mut().map(|s| s.take(Instant::now())) {
            Some(Slot::Ahead(at)) => {
                tokio::time::sleep_until(at).await;
                Instant::now()
            }
            Some(Slot::Behind(at)) => at,
            None => Instant::now(),
        };
        if sender.as_mut().is_none_or(|s| s.is_closed()) {
            match request::open(plan.addr, plan.timeout).await {
                Ok(s) => sender = Some(s),
                Err(e) => {
                    if window.recording(Instant::now()) {
                        shared.error(e);
                    }
                    tokio::time::sleep(CONNECT_BACKOFF).await;
                    continue;
                }
            }
        }
        let Some(s) = sender.as_mut() else { continue };
        let outcome = request::send(s, template.build(), plan.timeout).await;
        let done = Instant::now();
        if outcome.is_err() || !plan.keepalive {
            // A failed exchange leaves the connection unusable, and a closing one is
            // closed: the next request reconnects.
            sender = None;
        }
        if !window.recording(done) {
            continue;
        }
        match outcome {
            Ok((status, bytes)) => {
                if let Ok(mut h) = shard.lock() {
                    let _ = h.record(schedule::latency_us(intended, done));
                }
                shared.requests.fetch_add(1, Ordering::Relaxed);
                shared.bytes.fetch_add(bytes, Ordering::Relaxed);
                shared.per_group[group].fetch_add(1, Ordering::Relaxed);
                if let Some(e) = request::status_error(status) {
                    shared.error(e);
                }
            }
            Err(e) => shared.error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            addr: "127.0.0.1:1".parse().unwrap(),
            uri: Uri::from_static("http://127.0.0.1:1/"),
            url: "http://127.0.0.1:1/".into(),
            connections: 4,
            threads: 2,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(1),
            headers: vec![],
            rate: None,
            keepalive: true,
            server_pid: None,
            progress: false,
        }
    }

    #[test]
    fn every_error_kind_goes_to_its_own_counter() {
        let shared = Shared::new(&plan());
        for e in [
            RequestError::Connect,
            RequestError::Write,
            RequestError::Write,
            RequestError::Read,
            RequestError::Timeout,
            RequestError::Status(502),
            RequestError::Status(502),
            RequestError::Status(404),
        ] {
            shared.error(e);
        }
        let e = shared.errors();
        assert_eq!((e.connect, e.write, e.read, e.timeout), (1, 2, 1, 1));
        assert_eq!(e.status.into_iter().collect::<Vec<_>>(), [(404, 1), (502, 2)]);
        assert_eq!(shared.errors_total(), 8);
    }

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
