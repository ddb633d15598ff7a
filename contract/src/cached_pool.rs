//! A cached thread pool: threads for blocking work, reused instead of spawned per job.
//!
//! The blocking servers fan `/multiple` out on threads: each upstream call blocks its
//! thread until the answer comes. A fresh thread per call (a scoped spawn) costs a
//! `clone3`, a 2 MiB stack `mmap` + guard `mprotect`, the thread's exit, `munmap` and a
//! join: a large share of server-rouille's CPU on `/multiple` went there
//! (docs/benchmarks/servers-cpu.md). This pool keeps the threads
//! instead, the way production blocking code fans out (Java's `newCachedThreadPool`,
//! tokio's blocking pool): a job goes to an idle thread if there is one, else to a new
//! thread, so it never waits for a thread; a thread idle for `keep_alive` exits, so a quiet
//! server does not keep its peak's threads. The model is unchanged: one blocked thread per
//! call in flight.
//!
//! Up to a maximum: a job that finds no idle thread and no room for a new one is refused
//! ([`PoolError::Full`]), never queued, and its caller answers 503. Without a cap, load
//! alone decided the thread count, and past what the OS gives a thread fails in its own
//! start-up (Rust's signal stack `mmap`), which aborts the whole process: a `spawn` error
//! comes too late to catch that.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use thiserror::Error;

/// Threads one process's pools may hold in all. Each thread costs about four memory
/// mappings (stack, guard page, signal stack and its guard) and Linux's default
/// `vm.max_map_count` of 65,530 runs out near 16,000 of them, where a thread start aborts
/// the process; half of that leaves the rest of the process and the machine's other
/// programs (`pid_max` 32,768 is shared) their share.
pub const MAX_PROCESS_THREADS: usize = 8192;

/// How long a thread of the blocking servers' pools stays without a job before it exits:
/// tokio's choice for its blocking pool. Under steady load the threads never wait that
/// long; after a burst, the server gives its peak's threads back within seconds.
pub const THREAD_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Why [`CachedPool::execute`] did not take a job; the job is dropped, not run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PoolError {
    /// Every thread is busy and the pool holds its maximum.
    #[error("all {0} threads are busy")]
    Full(usize),
    /// The OS refused a new thread.
    #[error("the OS refused a thread: {0}")]
    Spawn(String),
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A pool of threads that grows on demand and shrinks when idle; cloning shares it.
#[derive(Clone)]
pub struct CachedPool {
    shared: Arc<Shared>,
}

struct Shared {
    name: String,
    keep_alive: Duration,
    max_threads: usize,
    state: Mutex<State>,
    /// Signalled once per queued job.
    work: Condvar,
}

/// Invariant: `idle + queue.len()` is the number of threads waiting for work. `execute`
/// queues a job only when it can take one idle thread for it (`idle -= 1`), so a queued
/// job always has a thread on its way; a thread exits only when the queue is empty, when
/// it is one of the `idle` and no job is waiting for it.
#[derive(Default)]
struct State {
    idle: usize,
    queue: VecDeque<Job>,
    threads: usize,
}

impl CachedPool {
    /// A pool of at most `max_threads` threads (at least one), named `name`, that exit
    /// after `keep_alive` without a job.
    pub fn new(name: impl Into<String>, keep_alive: Duration, max_threads: usize) -> Self {
        let max_threads = max_threads.max(1);
        let shared =
            Shared { name: name.into(), keep_alive, max_threads, state: Mutex::default(), work: Condvar::new() };
        Self { shared: Arc::new(shared) }
    }

    /// Runs `job` on an idle thread of the pool, or on a new one if none is idle and the
    /// pool is below its maximum; else refuses it (the job is then dropped, not run).
    pub fn execute(&self, job: impl FnOnce() + Send + 'static) -> Result<(), PoolError> {
        self.execute_all(vec![Box::new(job) as Job])
    }

    /// Runs every one of `jobs` at once, each on a thread of its own, or none of them:
    /// refused when idle threads and room for new ones do not add up to `jobs.len()`.
    ///
    /// All or none, so that a caller that needs every job done (`/multiple`) gets its
    /// threads or is refused before it ties any up: under overload, partly served fan-outs
    /// would hold threads for answers that fail anyway. Only an OS refusal of a new thread
    /// (rare below the maximum) can leave some jobs running and the rest dropped.
    pub fn execute_all(&self, jobs: Vec<Box<dyn FnOnce() + Send + 'static>>) -> Result<(), PoolError> {
        let mut state = self.shared.lock();
        let from_idle = state.idle.min(jobs.len());
        let new = jobs.len() - from_idle;
        if state.threads + new > self.shared.max_threads {
            return Err(PoolError::Full(self.shared.max_threads));
        }
        let mut jobs = jobs.into_iter();
        state.idle -= from_idle;
        state.queue.extend(jobs.by_ref().take(from_idle));
        state.threads += new;
        drop(state);
        for _ in 0..from_idle {
            self.shared.work.notify_one();
        }
        let mut refused = None;
        for job in jobs {
            let shared = Arc::clone(&self.shared);
            let spawned = thread::Builder::new().name(self.shared.name.clone()).spawn(move || shared.run(job));
            if let Err(e) = spawned {
                self.shared.lock().threads -= 1;
                refused = Some(PoolError::Spawn(e.to_string()));
            }
        }
        refused.map_or(Ok(()), Err)
    }

    /// Threads alive now, busy or idle.
    pub fn threads(&self) -> usize {
        self.shared.lock().threads
    }

    /// Whether a job would be taken now: a thread is idle or the pool is below its maximum.
    pub fn has_room(&self) -> bool {
        let state = self.shared.lock();
        state.idle > 0 || state.threads < self.shared.max_threads
    }

    /// Threads waiting for a job now.
    pub fn idle(&self) -> usize {
        let state = self.shared.lock();
        state.idle + state.queue.len()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A job runs outside the lock, so a poisoned lock only means a panic in the few
        // lines above; the state is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A pool thread: run the job, then wait for the next until `keep_alive` passes idle.
    fn run(&self, first: Job) {
        let mut job = first;
        loop {
            // A panicking job is its submitter's business (it catches and reports it);
            // the thread itself stays in the pool.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            let mut state = self.lock();
            state.idle += 1;
            job = loop {
                if let Some(next) = state.queue.pop_front() {
                    break next;
                }
                let (guard, wait) =
                    self.work.wait_timeout(state, self.keep_alive).unwrap_or_else(PoisonError::into_inner);
                state = guard;
                if wait.timed_out() && state.queue.is_empty() {
                    state.idle -= 1;
                    state.threads -= 1;
                    return;
                }
            };
        }
    }
}

/// Waits up to 10 s (room for a busy machine) for `done`, and fails the test if it never
/// holds: for a pool thread that counts itself idle just after its job has handed over
/// its result.
#[cfg(test)]
pub(crate) fn eventually(done: impl Fn() -> bool) {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(std::time::Instant::now() < until, "not within 10 s");
        thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Instant;

    /// Runs `n` jobs that each sleep `nap` on `pool`, and waits for all of them.
    fn sleep_on(pool: &CachedPool, n: usize, nap: Duration) {
        let (tx, rx) = mpsc::channel();
        for _ in 0..n {
            let tx = tx.clone();
            pool.execute(move || {
                thread::sleep(nap);
                tx.send(()).unwrap();
            })
            .unwrap();
        }
        for _ in 0..n {
            rx.recv_timeout(Duration::from_secs(5)).unwrap();
        }
    }

    #[test]
    fn jobs_run_at_once_on_as_many_threads_as_are_busy() {
        let pool = CachedPool::new("test", Duration::from_secs(10), MAX_PROCESS_THREADS);
        // Each job returns once all 20 run, or after 10 s: had one waited for another, the
        // first would give up without seeing them all.
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        for _ in 0..20 {
            let (running, tx) = (Arc::clone(&running), tx.clone());
            pool.execute(move || {
                running.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let until = Instant::now() + Duration::from_secs(10);
                while running.load(std::sync::atomic::Ordering::SeqCst) < 20 && Instant::now() < until {
                    thread::sleep(Duration::from_millis(1));
                }
                tx.send(running.load(std::sync::atomic::Ordering::SeqCst)).unwrap();
            })
            .unwrap();
        }
        for _ in 0..20 {
            assert_eq!(rx.recv_timeout(Duration::from_secs(20)).unwrap(), 20, "a job waited for another");
        }
        assert_eq!(pool.threads(), 20);
    }

    #[test]
    fn idle_threads_are_reused_not_respawned() {
        let pool = CachedPool::new("test", Duration::from_secs(10), MAX_PROCESS_THREADS);
        let (tx, rx) = mpsc::channel();
        for _ in 0..50 {
            let tx = tx.clone();
            pool.execute(move || tx.send(thread::current().id()).unwrap()).unwrap();
            rx.recv_timeout(Duration::from_secs(5)).unwrap();
            // The thread counts itself idle just after its job sends; wait for that.
            eventually(|| pool.idle() == 1);
        }
        assert_eq!(pool.threads(), 1, "50 sequential jobs should share one thread");
    }

    #[test]
    fn idle_threads_exit_after_keep_alive() {
        let pool = CachedPool::new("test", Duration::from_millis(50), MAX_PROCESS_THREADS);
        sleep_on(&pool, 4, Duration::from_millis(100));
        eventually(|| pool.threads() == 0);
        // And the pool still works afterwards.
        sleep_on(&pool, 1, Duration::ZERO);
    }

    #[test]
    fn no_job_is_lost_when_idle_threads_expire_while_jobs_arrive() {
        // A keep-alive of 1 ms makes threads time out all the time, racing the submitters:
        // a job queued for a thread that then exits would never run, and recv would fail.
        let pool = CachedPool::new("test", Duration::from_millis(1), MAX_PROCESS_THREADS);
        let (tx, rx) = mpsc::channel();
        let submitters: Vec<_> = (0..4)
            .map(|_| {
                let (pool, tx) = (pool.clone(), tx.clone());
                thread::spawn(move || {
                    for i in 0..500 {
                        let tx = tx.clone();
                        pool.execute(move || tx.send(()).unwrap()).unwrap();
                        // The pause is the test's subject: it outlasts the keep-alive, so
                        // threads expire between bursts and race the next jobs.
                        if i % 50 == 0 {
                            thread::sleep(Duration::from_millis(2));
                        }
                    }
                })
            })
            .collect();
        for s in submitters {
            s.join().unwrap();
        }
        for _ in 0..4 * 500 {
            rx.recv_timeout(Duration::from_secs(5)).expect("a job never ran");
        }
        eventually(|| pool.threads() == 0);
    }

    #[test]
    fn a_panicking_job_does_not_take_its_thread_down() {
        let pool = CachedPool::new("test", Duration::from_secs(10), MAX_PROCESS_THREADS);
        pool.execute(|| panic!("job panics")).unwrap();
        eventually(|| pool.idle() == 1);
        let (tx, rx) = mpsc::channel();
        pool.execute(move || tx.send(()).unwrap()).unwrap();
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(pool.threads(), 1);
    }

    /// Starts `n` jobs on `pool` that each hold their thread until `release` is dropped;
    /// returns once all of them run.
    fn hold(pool: &CachedPool, n: usize) -> mpsc::Sender<()> {
        let (release, held) = mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        let (started, running) = mpsc::channel();
        for _ in 0..n {
            let (held, started) = (Arc::clone(&held), started.clone());
            pool.execute(move || {
                started.send(()).unwrap();
                // Returns when the sender is dropped: every holder wakes in turn.
                let _ = held.lock().unwrap().recv();
            })
            .unwrap();
        }
        for _ in 0..n {
            running.recv_timeout(Duration::from_secs(5)).unwrap();
        }
        release
    }

    #[test]
    fn a_job_past_the_maximum_of_busy_threads_is_refused_not_queued() {
        let pool = CachedPool::new("test", Duration::from_secs(10), 8);
        let release = hold(&pool, 8);
        let ran = Arc::new(Mutex::new(false));
        let flag = Arc::clone(&ran);
        assert_eq!(pool.execute(move || *flag.lock().unwrap() = true), Err(PoolError::Full(8)));
        assert_eq!(pool.threads(), 8);
        drop(release);
        eventually(|| pool.idle() == 8);
        // The refused job was dropped, not kept for a thread that came free: nothing holds
        // its closure (and its copy of `ran`) any more, so it can never run.
        assert_eq!(Arc::strong_count(&ran), 1, "a refused job is still held by the pool");
        assert!(!*ran.lock().unwrap(), "a refused job ran later");
        // And a freed thread takes the next job.
        sleep_on(&pool, 8, Duration::ZERO);
        assert_eq!(pool.threads(), 8);
    }

    #[test]
    fn execute_all_runs_every_job_or_none() {
        let pool = CachedPool::new("test", Duration::from_secs(10), 8);
        let release = hold(&pool, 5);
        let (tx, rx) = mpsc::channel();
        let jobs = |n: usize| -> Vec<Box<dyn FnOnce() + Send>> {
            (0..n)
                .map(|_| {
                    let tx = tx.clone();
                    Box::new(move || tx.send(()).unwrap()) as Box<dyn FnOnce() + Send>
                })
                .collect()
        };
        // 5 busy of 8: 4 more do not fit, and none of the 4 starts.
        assert_eq!(pool.execute_all(jobs(4)), Err(PoolError::Full(8)));
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err(), "a job of a refused batch ran");
        assert_eq!(pool.threads(), 5);
        pool.execute_all(jobs(3)).unwrap();
        for _ in 0..3 {
            rx.recv_timeout(Duration::from_secs(5)).unwrap();
        }
        drop(release);
        eventually(|| pool.idle() == 8);
        // Idle threads count as room: 8 idle take a batch of 8 without a new thread.
        pool.execute_all(jobs(8)).unwrap();
        for _ in 0..8 {
            rx.recv_timeout(Duration::from_secs(5)).unwrap();
        }
        assert_eq!(pool.threads(), 8);
    }
}
