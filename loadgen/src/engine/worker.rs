//! One thread of the load loop: its share of the connections on one edge-triggered poller
//! (mio, epoll on Linux), each connection a state machine ([`Connection`]) the loop moves on
//! when its socket or one of its timers says so.
//!
//! Below tokio on purpose: with loadgen's own client, tokio's per-request machinery (a
//! task's wake-up and poll, its I/O readiness, a timer reset per request) was the larger
//! part of loadgen's own CPU per request (docs/benchmarks/loadgen.md). Here an answer costs
//! its two system calls, one clock read and one histogram record.

use std::io;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::{Events, Poll, Registry, Token};

use super::http1::{Connection, Progress, Request};
use super::schedule::{Schedule, Slot};
use super::tally::{Published, Tally};
use super::timers::{Deadline, Kind, Timers};
use super::{Plan, Window};
use crate::result::RequestError;

/// Pause after a failed connect, so a dead server is retried, not spun on.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// Readiness events taken per wait (more wait for the next one).
const EVENTS: usize = 1024;

/// One thread of the load loop and what it shares with the others.
pub(super) struct Worker {
    pub(super) thread: usize,
    pub(super) plan: Arc<Plan>,
    pub(super) request: Arc<Request>,
    pub(super) published: Arc<Published>,
}

impl Worker {
    /// This thread's load loop: its connections (opened first, with keep-alive), then, once
    /// the clock starts, their requests until the deadline, then all of them dropped
    /// mid-flight (the run ends on time whatever the server does). Returns what it counted.
    pub(super) fn run(self, ready: &mpsc::Sender<()>, go: &mpsc::Receiver<Window>) -> io::Result<Tally> {
        let plan = &*self.plan;
        let mine = (self.thread..plan.connections).step_by(plan.threads);
        let mut connections: Vec<Conn> = mine.map(Conn::new).collect();
        let mut poll = Poll::new();
        let mut events = Events::with_capacity(EVENTS);
        let mut tally = if plan.tls.is_some() { Tally::with_tls() } else { Tally::new() };
        if let Ok(poll) = &mut poll
            && plan.keepalive
        {
            open_all(poll, &mut events, &mut connections, plan, &self.request, &mut tally);
        }
        // Always said, so the caller never waits on a thread that failed.
        let _ = ready.send(());
        let Ok(window) = go.recv() else { return Ok(Tally::new()) };
        let mut poll = poll?;
        let timers = Timers::new(connections.len());
        let mut event_loop = EventLoop { worker: &self, window, connections, timers, tally };
        event_loop.run(&mut poll, &mut events)?;
        Ok(event_loop.tally)
    }
}

/// What a connection waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waits {
    /// Its next request's slot (open loop), on a `Wake` timer.
    Slot,
    /// The end of the pause after a failed connect, on a `Wake` timer.
    Backoff,
    /// Its connect, until its deadline.
    Connect,
    /// Its request's answer, until its deadline.
    Answer,
}

/// One connection and its place in the load: its schedule, its request's intended start (for
/// the latency) and its timeout.
struct Conn {
    connection: Connection,
    /// Its index among all of the run's connections, for its share of an open-loop rate.
    index: usize,
    schedule: Option<Schedule>,
    waits: Waits,
    intended: Instant,
    deadline: Deadline,
}

impl Conn {
    fn new(index: usize) -> Self {
        Self {
            connection: Connection::new(),
            index,
            schedule: None,
            // Set with its first request, before any timer or event of its own.
            waits: Waits::Slot,
            intended: Instant::now(),
            deadline: Deadline::default(),
        }
    }
}

/// Opens every connection at once, each within the timeout; one that failed, or was not
/// made in time, is left closed (the load loop opens it again). Their TLS handshakes and
/// failures count in `tally` (their connect errors do not: the clock has not started).
fn open_all(
    poll: &mut Poll,
    events: &mut Events,
    connections: &mut [Conn],
    plan: &Plan,
    request: &Request,
    tally: &mut Tally,
) {
    let deadline = Instant::now() + plan.timeout;
    let mut opening = 0;
    for (i, c) in connections.iter_mut().enumerate() {
        if c.connection.open(plan.addr, poll.registry(), Token(i)).is_ok() {
            opening += 1;
        }
    }
    while opening > 0 {
        let now = Instant::now();
        if now >= deadline || wait(poll, events, deadline - now).is_err() {
            break;
        }
        for event in events.iter() {
            let connection = &mut connections[event.token().0].connection;
            if let Progress::Connected | Progress::Failed(_) = connection.ready(event, request) {
                opening -= 1;
                count_tls(connection, tally);
            }
        }
    }
    for c in connections {
        if !c.connection.is_open() {
            c.connection.close();
        }
    }
}

/// The load loop of one thread once the clock has started.
struct EventLoop<'a> {
    worker: &'a Worker,
    window: Window,
    connections: Vec<Conn>,
    timers: Timers,
    tally: Tally,
}

impl EventLoop<'_> {
    /// Runs every connection until the window's end.
    fn run(&mut self, poll: &mut Poll, events: &mut Events) -> io::Result<()> {
        let plan = &*self.worker.plan;
        let start = self.window.start;
        for c in &mut self.connections {
            c.schedule = Schedule::open_loop(plan.rate, plan.connections, c.index, start);
        }
        let now = Instant::now();
        for i in 0..self.connections.len() {
            self.next_request(i, now, poll.registry());
        }
        loop {
            let now = Instant::now();
            if now >= self.window.end {
                return Ok(());
            }
            while let Some((i, kind)) = self.timers.pop_due(now) {
                self.timer(i, kind, now, poll.registry());
            }
            let until = self.timers.next().map_or(self.window.end, |t| t.min(self.window.end));
            wait(poll, events, until.saturating_duration_since(now))?;
            for event in events.iter() {
                self.ready(event, poll.registry());
            }
        }
    }

    /// Takes connection `i`'s next slot at `now`: waits for it, or starts its request.
    fn next_request(&mut self, i: usize, now: Instant, registry: &Registry) {
        let c = &mut self.connections[i];
        c.intended = match c.schedule.as_mut().map(|s| s.take(now)) {
            Some(Slot::Ahead(at)) => {
                c.waits = Waits::Slot;
                self.timers.push(at, i, Kind::Wake);
                return;
            }
            Some(Slot::Behind(at)) => at,
            None => now,
        };
        self.start(i, now, registry);
    }

    /// Sends connection `i`'s request if it is open; opens it first if not.
    fn start(&mut self, i: usize, now: Instant, registry: &Registry) {
        let plan = &*self.worker.plan;
        let c = &mut self.connections[i];
        if c.connection.is_open() {
            return self.send(i, now, registry);
        }
        match c.connection.open(plan.addr, registry, Token(i)) {
            Ok(()) => {
                c.waits = Waits::Connect;
                c.deadline.set(now + plan.timeout, i, &mut self.timers);
            }
            Err(e) => {
                c.waits = Waits::Connect;
                self.progress(i, Progress::Failed(e), registry);
            }
        }
    }

    /// Sends connection `i`'s request on its open connection, timed out from `now`.
    fn send(&mut self, i: usize, now: Instant, registry: &Registry) {
        let c = &mut self.connections[i];
        c.waits = Waits::Answer;
        c.deadline.set(now + self.worker.plan.timeout, i, &mut self.timers);
        let progress = c.connection.send(&self.worker.request);
        self.progress(i, progress, registry);
    }

    /// A readiness event for one connection's socket.
    fn ready(&mut self, event: &Event, registry: &Registry) {
        let i = event.token().0;
        let progress = self.connections[i].connection.ready(event, &self.worker.request);
        self.progress(i, progress, registry);
    }

    /// Moves connection `i` on from what its step came to.
    fn progress(&mut self, i: usize, progress: Progress, registry: &Registry) {
        let outcome = match progress {
            Progress::Waiting => return,
            Progress::Connected => {
                count_tls(&mut self.connections[i].connection, &mut self.tally);
                return self.send(i, Instant::now(), registry);
            }
            Progress::Answered(answer) => Ok((answer.status, answer.bytes)),
            Progress::Failed(e) => {
                count_tls(&mut self.connections[i].connection, &mut self.tally);
                Err(e)
            }
        };
        let c = &mut self.connections[i];
        c.deadline.clear();
        let (connecting, intended) = (c.waits == Waits::Connect, c.intended);
        let done = self.record(outcome, intended);
        if connecting { self.back_off(i, done) } else { self.next_request(i, done, registry) }
    }

    /// Connection `i`'s timer of `kind` fired at `now`.
    fn timer(&mut self, i: usize, kind: Kind, now: Instant, registry: &Registry) {
        let c = &mut self.connections[i];
        match (kind, c.waits) {
            // Measured from the real wake-up, so that the timer's own lateness is not charged
            // to the server.
            (Kind::Wake, Waits::Slot) => {
                c.intended = now;
                self.start(i, now, registry);
            }
            (Kind::Wake, Waits::Backoff) => self.next_request(i, now, registry),
            (Kind::Deadline, _) if c.deadline.fired(now, i, &mut self.timers) => {
                // Cut off mid-step: out of step, the next request reconnects.
                c.connection.close();
                self.progress(i, Progress::Failed(RequestError::Timeout), registry);
            }
            _ => {}
        }
    }

    /// Pauses connection `i` after a failed connect, so that a dead server is retried, not
    /// spun on.
    fn back_off(&mut self, i: usize, now: Instant) {
        self.connections[i].waits = Waits::Backoff;
        self.timers.push(now + CONNECT_BACKOFF, i, Kind::Wake);
    }

    /// Counts an outcome that ends now, if now is in the recorded window: a whole answer
    /// (status, bytes) with its latency from `intended`, or an error. Returns now.
    fn record(&mut self, outcome: Result<(u16, u64), RequestError>, intended: Instant) -> Instant {
        let done = Instant::now();
        if self.window.recording(done) {
            match outcome {
                Ok((status, bytes)) => self.tally.answer(super::schedule::latency_us(intended, done), status, bytes),
                Err(e) => self.tally.error(e),
            }
            self.worker.published.publish(self.worker.thread, &self.tally);
        }
        done
    }
}

/// Counts the handshake or TLS failure the connection's step just ended with, if any
/// (never on plain HTTP).
fn count_tls(connection: &mut Connection, tally: &mut Tally) {
    if let Some(handshake) = connection.take_handshake() {
        tally.handshake(handshake);
    }
    if let Some(failure) = connection.take_tls_failure() {
        tally.tls_failure(&failure);
    }
}

/// Waits up to `timeout` for readiness events (a signal's interruption is an empty wait).
fn wait(poll: &mut Poll, events: &mut Events, timeout: Duration) -> io::Result<()> {
    match poll.poll(events, Some(timeout)) {
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
            events.clear();
            Ok(())
        }
        other => other,
    }
}
