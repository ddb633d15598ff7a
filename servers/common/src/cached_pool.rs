//! A cached thread pool: threads for blocking work, reused instead of spawned per job.
//!
//! The blocking servers fan `/multiple` out on threads: each upstream call blocks its
//! thread until the answer comes. A fresh thread per call (a scoped spawn) costs a
//! `clone3`, a 2 MiB stack `mmap` + guard `mprotect`, the thread's exit, `munmap` and a
//! join: 24% of server-rouille's CPU samples on `/multiple` at 200 requests/s were in
//! those (`perf record`, see docs/benchmarks/servers-cpu.md). This pool keeps the threads
//! instead, the way production blocking code fans out (Java's `newCachedThreadPool`,
//! tokio's blocking pool): a job goes to an idle thread if there is one, else to a new
//! thread, so it never waits for a thread and the pool never caps concurrency (`/multiple`
//! at C connections needs C x fanout calls in flight at once); a thread idle for
//! `keep_alive` exits, so a quiet server does not keep its peak's threads. The model is
//! unchanged: one blocked thread per call in flight.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A pool of threads that grows on demand and shrinks when idle; cloning shares it.
#[derive(Clone)]
pub struct CachedPool {
    shared: Arc<Shared>,
}

struct Shared {
    name: String,
    keep_alive: Duration,
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
    /// A pool whose threads are named `name` and exit after `keep_alive` without a job.
    pub fn new(name: impl Into<String>, keep_alive: Duration) -> Self {
        let shared = Shared { name: name.into(), keep_alive, state: Mutex::default(), work: Condvar::new() };
        Self { shared: Arc::new(shared) }
    }

    /// Runs `job` on an idle thread of the pool, or on a new one if none is idle.
    ///
    /// Errors only when the OS refuses a new thread; the job is then dropped, not run.
    pub fn execute(&self, job: impl FnOnce() + Send + 'static) -> io::Result<()> {
        let mut state = self.shared.lock();
        if state.idle > 0 {
            state.idle -= 1;
            state.queue.push_back(Box::new(job));
            drop(state);
            self.shared.work.notify_one();
            return Ok(());
        }
        state.threads += 1;
        drop(state);
        let shared = Arc::clone(&self.shared);
        let spawned = thread::Builder::new().name(self.shared.name.clone()).spawn(move || shared.run(Box::new(job)));
        if spawned.is_err() {
            self.shared.lock().threads -= 1;
        }
        spawned.map(drop)
    }

    /// Threads alive now, busy or idle.
    pub fn threads(&self) -> usize {
        self.shared.lock().threads
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

/// Waits up to 5 s for `done`, and fails the test if it never holds: for a pool thread
/// that counts itself idle just after its job has handed over its result.
#[cfg(test)]
pub(crate) fn eventually(done: impl Fn() -> bool) {
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(std::time::Instant::now() < until, "not within 5 s");
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
        let pool = CachedPool::new("test", Duration::from_secs(10));
        let t = Instant::now();
        sleep_on(&pool, 20, Duration::from_millis(300));
        // 20 x 300 ms in well under 20 x 300: no job waited for another.
        assert!(t.elapsed() < Duration::from_millis(1500), "20 jobs took {:?}", t.elapsed());
        assert_eq!(pool.threads(), 20);
    }

    #[test]
    fn idle_threads_are_reused_not_respawned() {
        let pool = CachedPool::new("test", Duration::from_secs(10));
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
        let pool = CachedPool::new("test", Duration::from_millis(50));
        sleep_on(&pool, 4, Duration::from_millis(100));
        eventually(|| pool.threads() == 0);
        // And the pool still works afterwards.
        sleep_on(&pool, 1, Duration::ZERO);
    }

    #[test]
    fn no_job_is_lost_when_idle_threads_expire_while_jobs_arrive() {
        // A keep-alive of 1 ms makes threads time out all the time, racing the submitters:
        // a job queued for a thread that then exits would never run, and recv would fail.
        let pool = CachedPool::new("test", Duration::from_millis(1));
        let (tx, rx) = mpsc::channel();
        let submitters: Vec<_> = (0..4)
            .map(|_| {
                let (pool, tx) = (pool.clone(), tx.clone());
                thread::spawn(move || {
                    for i in 0..500 {
                        let tx = tx.clone();
                        pool.execute(move || tx.send(()).unwrap()).unwrap();
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
        let pool = CachedPool::new("test", Duration::from_secs(10));
        pool.execute(|| panic!("job panics")).unwrap();
        eventually(|| pool.idle() == 1);
        let (tx, rx) = mpsc::channel();
        pool.execute(move || tx.send(()).unwrap()).unwrap();
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(pool.threads(), 1);
    }
}
