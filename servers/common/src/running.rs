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

use tokio::sync::oneshot;

use crate::sys;

type StopFn = Box<dyn FnOnce() -> io::Result<()> + Send>;

/// A running server: its bound address and how to stop it gracefully.
/// Dropping it stops it too (errors ignored); call [`Running::stop`] to see them.
pub struct Running {
    addr: SocketAddr,
    stop: Option<StopFn>,
}

impl Running {
    /// Wraps a started server. `stop` must stop accepting, let in-flight requests
    /// finish (bounded), and return only when the server's threads are done.
    pub fn new(addr: SocketAddr, stop: impl FnOnce() -> io::Result<()> + Send + 'static) -> Self {
        Self { addr, stop: Some(Box::new(stop)) }
    }

    /// The bound address (a real port, also when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{addr}{path_and_query}`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
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
        f.debug_struct("Running").field("addr", &self.addr).finish_non_exhaustive()
    }
}

/// Starts a tokio-based server: binds `listen` (backlog [`sys::LISTEN_BACKLOG`]), builds a
/// multi-thread runtime of `threads` workers on a thread named `name`, and runs
/// `serve(listener, shutdown)` on it. `shutdown` completes when [`Running::stop`] is
/// called; `serve` must then stop accepting, drain, and return.
pub fn spawn_tokio<S, F>(name: &str, listen: SocketAddr, threads: usize, serve: S) -> io::Result<Running>
where
    S: FnOnce(tokio::net::TcpListener, Shutdown) -> F + Send + 'static,
    F: Future<Output = io::Result<()>>,
{
    let listener = sys::bind_listener(listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name(name)
        .enable_all()
        .build()?;
    let (tx, rx) = oneshot::channel();
    let thread = thread::Builder::new().name(format!("{name}-main")).spawn(move || {
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            serve(listener, Shutdown(rx)).await
        })
        // Dropping the runtime here ends whatever a drained server left (idle tasks).
    })?;
    Ok(Running::new(addr, move || {
        let _ = tx.send(());
        thread.join().unwrap_or_else(|_| Err(io::Error::other("server thread panicked")))
    }))
}

/// Completes when the owning [`Running`] is stopped (or dropped).
pub struct Shutdown(oneshot::Receiver<()>);

impl Future for Shutdown {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        // Sent or sender dropped: both mean stop.
        std::pin::Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

/// The whole `main` of a server binary: logging, fd limit, `start`, print the address,
/// wait for SIGTERM/SIGINT, stop gracefully. Exit 0 after a clean stop, 1 on any error.
pub fn main(name: &str, start: impl FnOnce() -> io::Result<Running>) -> ExitCode {
    sys::init_tracing();
    if let Err(e) = sys::raise_fd_limit() {
        tracing::warn!("{name}: could not raise RLIMIT_NOFILE: {e}");
    }
    let result = (|| {
        let signals = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
        let signalled = {
            let _ctx = signals.enter();
            sys::shutdown_signal()?
        };
        let running = start()?;
        sys::announce(name, running.addr());
        signals.block_on(signalled);
        running.stop()
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
