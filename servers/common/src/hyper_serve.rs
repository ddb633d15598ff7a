//! The hyper 1 accept loop shared by gosleep and server-hyper (feature `hyper`).
//!
//! What a framework would otherwise do, done on purpose: accept on a listener that was
//! bound with a 4096 backlog, set TCP_NODELAY, survive accept errors (EMFILE and friends
//! back off instead of ending the loop or spinning a core, logged at most once a second),
//! serve HTTP/1.1 keep-alive connections, and on shutdown stop accepting and let
//! in-flight requests finish within a bounded grace period.

use std::future::Future;
use std::io;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;

use crate::sys::AcceptErrors;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves HTTP/1.1 on `listener` until `shutdown` completes, then stops accepting and
/// waits at most `grace` for in-flight requests. `make_service` is called once per
/// accepted connection; the service it returns is dropped when that connection ends (so
/// a guard captured in it can count open connections).
pub async fn serve_http1<M, S, B>(
    name: &'static str,
    listener: tokio::net::TcpListener,
    mut make_service: M,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()>
where
    M: FnMut() -> S,
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper's header-read timeout (30 s once a timer is set) also closes keep-alive
    // connections that sit idle between requests; a benchmark's pooled clients must keep
    // theirs however long a pause between runs is, as Go's net/http server does by default.
    http.timer(TokioTimer::new()).header_read_timeout(None);
    let graceful = GracefulShutdown::new();
    let mut errors = AcceptErrors::new(name);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // The loop goes on after any accept error; only shutdown ends it.
                if let Some(pause) = errors.failed(&e) {
                    tokio::time::sleep(pause).await;
                }
                continue;
            }
        };
        // Answers are small and latency is what is measured: no Nagle delay.
        let _ = stream.set_nodelay(true);
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), make_service()));
        tokio::spawn(async move {
            // A client that resets or sends garbage ends its own connection, nothing more.
            let _ = conn.await;
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("{name}: grace period over, dropping requests still in flight");
    }
    Ok(())
}
