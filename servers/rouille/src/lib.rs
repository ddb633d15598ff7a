//! server-rouille: the blocking thread-pool model, the Flask analog.
//!
//! rouille (on tiny_http) hands each request to one thread of a fixed pool, and that
//! thread blocks on the upstream through ureq, a blocking client: while a request waits
//! on gosleep, its thread can do nothing else, so the pool size bounds the concurrency
//! (throughput <= threads / upstream delay). `/multiple` fans out on threads: the
//! request's thread makes the first call, and each other call blocks a thread of a cached
//! pool that grows with the load (a thread per call in flight, reused rather than spawned
//! per call) up to [`contract::proxy::MAX_FANOUT_THREADS`]; a request that cannot get
//! a thread for each of its calls answers 503. One `ureq::Agent` per process pools
//! keep-alive connections, shared by every thread.
//!
//! Run with: cargo run -p server-rouille

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::thread;
use std::time::Duration;

use bench_sys::ListenError;
use contract::proxy::{self, blocking::App};
use contract::running::{self, DRAIN_LIMIT};
use contract::{Answer, Config, Running};
use rouille::Response;

/// What this server is, in the line its `--help` opens with (after `server-rouille: `).
pub const ABOUT: &str = "the benchmark's /single and /multiple proxy on rouille 3 on tiny_http, ureq as the upstream client (blocking: a pool of --threads threads)";

/// The `Server:` header of every response.
pub const SERVER_HEADER: &str = "rouille";

/// How long the dispatch loop waits for a request before it looks for a stop.
///
/// rouille's dispatch (`poll_timeout`) returns only after this long without a new
/// request, so under uninterrupted load a stop is seen at the first lull this long. 10 ms
/// finds one within moments at the request rates a blocking pool reaches (a few hundred
/// per second with `--threads 256` and a 1 s upstream), while an idle server wakes only
/// 100 times a second; a delivered request wakes the loop at once either way, so this
/// adds no latency. Above that rate, a stop can wait for the load to pause (at most
/// [`DRAIN_LIMIT`]).
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// The pool size without `--threads`: 8 x CPUs, the default of rouille's own
/// `start_server_with_pool(addr, None, ..)`. (A bare `rouille::Server::new` would spawn a
/// thread per request, unbounded; this server always uses a pool, so that `--threads`
/// always means the same thing and the Flask-like limit on concurrency is explicit.)
pub fn default_pool_size() -> usize {
    8 * bench_sys::available_cpus()
}

/// Binds `config.listen`, starts the pool of `--threads` workers (default
/// [`default_pool_size`]) and returns; the server runs until the [`Running`] is stopped.
///
/// The listener is [`bench_sys::bind_listener`]'s, as every server's (a backlog of
/// 4096), handed to rouille through the patched copy's `Server::from_listener`: upstream
/// rouille binds its own with std's backlog of 128, and a burst of more connects than that
/// had the kernel drop SYNs, which clients retry only after 1 s, then 3 s.
pub fn start(config: Config) -> io::Result<Running> {
    let pool_size = config.threads.map_or_else(default_pool_size, |n| n.get());
    let listen = config.listen;
    let app = App::new(config, pool_size, "rouille-fanout", proxy::MAX_FANOUT_THREADS)?;
    let listener = bench_sys::bind_listener(listen)?;
    // The same listening socket, kept to shut it down when the drain begins (below).
    let accepting = listener.try_clone()?;
    // A request whose body framing is invalid, or whose head is over the limits, never gets
    // to the app: the workspace's copy of tiny_http answers it and closes the connection
    // (third_party/tiny_http/PATCHES.md).
    let server = rouille::Server::from_listener(listener, move |request| {
        respond(app.answer(request.method(), request.raw_url()))
    })
    .map_err(|e| ListenError { addr: listen, source: e.downcast::<io::Error>().map_or_else(io::Error::other, |e| *e) })?
    .pool_size(pool_size);
    let addr: SocketAddr = server.server_addr();

    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let thread = thread::Builder::new().name("rouille-dispatch".into()).spawn(move || {
        // Dispatch until stopped (or until the Running is dropped: the sender is gone).
        while let Err(TryRecvError::Empty) = stop_rx.try_recv() {
            server.poll_timeout(POLL_INTERVAL);
        }
        // rouille's graceful-shutdown recipe (see `Server::join`): dispatch what tiny_http
        // has already read (in flight, from its client's view), then wait until the pool
        // has answered everything. The listener is already shut down (below), so no new
        // connection waits meanwhile for an answer it would not get.
        server.poll();
        server.join();
        drop(server);
        let _ = done_tx.send(());
    })?;

    Ok(Running::new(addr, move || {
        // New connections are refused from the drain's start, as on every server: tiny_http
        // would accept them until the server is dropped, and drop their requests then (a
        // 500). The patched tiny_http ends its accept loop on the shut-down listener.
        let _ = socket2::SockRef::from(&accepting).shutdown(Shutdown::Both);
        let _ = stop_tx.send(());
        match done_rx.recv_timeout(DRAIN_LIMIT) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                thread.join().map_err(|_| io::Error::other("rouille dispatch thread panicked"))
            }
            // The pool threads are left to the process exit.
            Err(RecvTimeoutError::Timeout) => Err(running::drain_overdue()),
        }
    }))
}

/// The one place an answer becomes a rouille response (tiny_http adds Date and
/// Content-Length).
fn respond(answer: Answer) -> Response {
    let response = Response::from_data(answer.content_type, answer.body)
        .with_status_code(answer.status)
        .with_additional_header("Server", SERVER_HEADER);
    match answer.allow {
        Some(allow) => response.with_additional_header("Allow", allow),
        None => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::BenchError;

    #[test]
    fn errors_answer_their_status_as_json() {
        let r = respond(Answer::from(BenchError::MethodNotAllowed));
        assert_eq!(r.status_code, 405);
        let header = |name: &str| r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        assert_eq!(header("Allow").as_deref(), Some("GET"));
        assert_eq!(header("Server").as_deref(), Some(SERVER_HEADER));
        assert_eq!(header("Content-Type").as_deref(), Some(contract::CONTENT_TYPE_JSON));
        let r = respond(Answer::from(BenchError::Upstream(contract::UpstreamError::Timeout(100))));
        assert_eq!(r.status_code, 504);
    }
}
