//! A server running in the background, and the `main` every binary shares.
//!
//! Every server crate exposes `start(Config) -> io::Result<Running>`: it binds (so bind
//! errors come back to the caller, and port 0 resolves to a real port), starts serving on
//! threads of its own, and returns. Tests start servers in-process this way; binaries
//! call [`main`], which adds the signal handling around the same `start`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use tokio::sync::watch;

use crate::log;

type StopFn = Box<dyn FnOnce() -> io::Result<()> + Send>;

/// A running server: its bound address and how to stop it gracefully.
/// Dropping it stops it too (errors ignored); call [`Running::stop`] to see them.
pub struct Running {
    addr: SocketAddr,
    stop: Option<StopFn>,
    pid: Option<u32>,
    tls: bool,
}

impl Running {
    /// Wraps a started server. `stop` must stop accepting, let in-flight requests
    /// finish (bounded), and return only when the server's threads are done.
    pub fn new(addr: SocketAddr, stop: impl FnOnce() -> io::Result<()> + Send + 'static) -> Self {
        Self { addr, stop: Some(Box::new(stop)), pid: None, tls: false }
    }

    /// Marks the server as serving HTTPS (gosleep with a TLS flag): its address is announced
    /// as `https://`.
    pub fn with_tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// `https` for a server marked [`Running::with_tls`], else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }

    /// Marks the server as running in process `pid` (a binary started as a child), not in
    /// this one: what a test reads the server's memory of.
    pub fn with_pid(mut self, pid: u32) -> Self {
        self.pid = Some(pid);
        self
    }

    /// The process serving, when it is not this one ([`Running::with_pid`]).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The bound address (a real port, also when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Graceful stop; returns when the server has finished.
    pub fn stop(mut self) -> io::Result<()> {
        self.stop.take().map_or(Ok(()), |stop| stop())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop();
        }
    }
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addr", &self.addr)
            .field("pid", &self.pid)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// The longest a stopping server may take to drain, in every server of the contract: a
/// little over the default upstream timeout (30 s), so a request already waiting upstream
/// is not cut short, but a client that stalls half-way through a request cannot keep the
/// process alive.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(35);

/// The error of a stop whose drain outlasted [`DRAIN_LIMIT`]: what a blocking server's stop
/// returns, its threads still busy left to the process exit.
pub fn drain_overdue() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("in-flight requests not finished after {} s", DRAIN_LIMIT.as_secs()),
    )
}

/// Starts a tokio-based server: binds `listen` (backlog [`bench_sys::LISTEN_BACKLOG`]), builds a
/// multi-thread runtime of `threads` workers on a thread named `name`, and runs
/// `serve(listener, shutdown)` on it. `shutdown` completes when [`Running::stop`] is
/// called; `serve` must then stop accepting, drain, and return. If it has not returned
/// [`DRAIN_LIMIT`] later, the runtime is dropped with whatever is still in flight.
pub fn spawn_tokio<S, F>(name: &str, listen: SocketAddr, threads: usize, serve: S) -> io::Result<Running>
where
    S: FnOnce(tokio::net::TcpListener, Shutdown) -> F + Send + 'static,
    F: Future<Output = io::Result<()>>,
{
    let listener = bench_sys::bind_listener(listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name(name)
        .enable_all()
        .build()?;
    let (tx, rx) = watch::channel(false);
    let label = name.to_owned();
    let thread = thread::Builder::new().name(format!("{name}-main")).spawn(move || {
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let overdue = Shutdown::new(rx.clone()).then_sleep(DRAIN_LIMIT);
            let serving = serve(listener, Shutdown::new(rx));
            tokio::select! {
                served = serving => served,
                () = overdue => {
                    tracing::warn!("{label}: still draining after {DRAIN_LIMIT:?}; stopping anyway");
                    Ok(())
                }
            }
        })
        // Dropping the runtime here ends whatever a drained server left (idle tasks).
    })?;
    Ok(Running::new(addr, move || {
        let _ = tx.send(true);
        thread.join().unwrap_or_else(|_| Err(io::Error::other("server thread panicked")))
    }))
}

/// Completes when the owning [`Running`] is stopped (or dropped).
pub struct Shutdown(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>);

impl Shutdown {
    fn new(mut stop: watch::Receiver<bool>) -> Self {
        // An error means the sender is gone: stop as well.
        Self(Box::pin(async move {
            let _ = stop.wait_for(|stop| *stop).await;
        }))
    }

    /// Completes `drain_limit` after the stop: the deadline of a drain.
    async fn then_sleep(self, drain_limit: Duration) {
        self.await;
        tokio::time::sleep(drain_limit).await;
    }
}

impl Future for Shutdown {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

/// The whole `main` of a contract server: parses the shared [`Config`](crate::Config),
/// its `--help` opening with `name: about` ([`Config::command_for`](crate::Config::command_for)),
/// and runs [`main`] with `start`. A server's `main.rs` is this one call.
pub fn server_main(
    name: &'static str,
    about: &str,
    start: impl FnOnce(crate::Config) -> io::Result<Running>,
) -> ExitCode {
    let config = crate::Config::parse_for(name, about);
    main(name, || start(config))
}

/// The whole `main` of a server binary: logging, fd limit, `start`, print the address,
/// wait for SIGTERM/SIGINT, stop gracefully. Exit 0 after a clean stop, 1 on any error,
/// and 1 at once, without waiting for the drain, on a second SIGTERM/SIGINT during it.
pub fn main(name: &str, start: impl FnOnce() -> io::Result<Running>) -> ExitCode {
    log::init_tracing();
    if let Err(e) = bench_sys::raise_fd_limit() {
        tracing::warn!("{name}: could not raise RLIMIT_NOFILE: {e}");
    }
    let result = (|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
        let mut signals = {
            let _ctx = runtime.enter();
            bench_sys::ShutdownSignals::install()?
        };
        let running = start()?;
        log::announce(name, running.scheme(), running.addr());
        runtime.block_on(signals.recv());
        // The drain runs on a thread of its own so that this one can still hear a second
        // signal: whoever sends it wants the process gone now, requests in flight or not.
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        thread::Builder::new().name(format!("{name}-stop")).spawn(move || {
            let _ = done_tx.send(running.stop());
        })?;
        runtime.block_on(async {
            tokio::select! {
                stopped = done_rx => stopped.unwrap_or_else(|_| Err(io::Error::other("stop thread panicked"))),
                () = signals.recv() => Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "second signal while draining: exiting without waiting for requests in flight",
                )),
            }
        })
    })();
    // Returning ends the process, a drain still running on its thread included.
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
