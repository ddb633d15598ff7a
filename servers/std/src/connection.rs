//! One connection on its own thread, and the set of open connections: the `--threads` cap,
//! and what a stop shuts down and waits for.

use std::collections::HashMap;
use std::io::Read;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use contract::proxy::blocking::App;

use crate::head::{Persist, next_request, skip_chunked_body};
use crate::response::respond;

/// How long a connection this server closes waits for the client to close its side (see
/// [`linger`]), and how much of what the client still sends it reads meanwhile.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1 << 20;

/// One connection, on its own thread, until the client closes it, sends something that
/// is not a request this server can frame, or the server stops.
///
/// The first request's head must be in within
/// [`HEAD_TIMEOUT`](contract::limits::HEAD_TIMEOUT) of `accepted`.
pub(crate) fn serve(connection: &Connection, app: &Arc<App>, accepted: Instant) {
    let stream = &*connection.stream;
    // Answers are small and latency is what is measured: no Nagle delay.
    let _ = stream.set_nodelay(true);
    let mut buffer = Vec::with_capacity(1024);
    let mut first = Some(accepted);
    loop {
        let (head, len) = match next_request(stream, &mut buffer, first.take()) {
            Ok(Some(Ok(request))) => request,
            Ok(Some(Err(bad))) => {
                // The framing is lost: answer, then close.
                if respond(stream, &bad.answer(), Persist::Close).is_ok() {
                    linger(stream);
                }
                return;
            }
            // The client closed, reset, or the server is stopping (its reads shut down).
            Ok(None) | Err(_) => return,
        };
        buffer.drain(..len);
        // Read before the answer: what follows the body is the next request.
        let body_skipped = !head.chunked || skip_chunked_body(stream, &mut buffer);
        let answer = app.answer(&head.method, &head.target);
        let persist = if connection.stopping() || !body_skipped { Persist::Close } else { head.persist };
        if respond(stream, &answer, persist).is_err() {
            return;
        }
        if persist == Persist::Close {
            linger(stream);
            return;
        }
    }
}

/// The end of a connection this server closes: a FIN after the answer, then what the
/// client still sends (a request body this server never reads, a pipelined request) read
/// and dropped until the client closes too, for at most [`LINGER`].
///
/// Closing a socket with unread input makes the kernel send a reset instead of a FIN. On
/// Linux the client still reads what arrived before the reset, then an error instead of
/// the end of the stream; RFC 9112 (9.6) warns that a reset may also erase a client's
/// unread input, the answer included, which is why servers close this way (Apache's
/// "lingering close"). The bound is on the whole linger, not on each read, so a client
/// that trickles bytes cannot keep the thread.
fn linger(mut stream: &TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let until = Instant::now() + LINGER;
    let (mut chunk, mut left) = ([0u8; 4096], LINGER_BYTES);
    while left > 0 {
        let wait = until.saturating_duration_since(Instant::now());
        if wait.is_zero() || stream.set_read_timeout(Some(wait)).is_err() {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// The open connections: the `--threads` cap, and what a stop must shut down and wait for.
pub(crate) struct Connections {
    cap: usize,
    /// Set once, by [`Connections::stop`]; read without the lock on every answer.
    stopping: AtomicBool,
    state: Mutex<Open>,
    /// Signalled when a connection closes and on stop.
    changed: Condvar,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    streams: HashMap<u64, Arc<TcpStream>>,
}

impl Connections {
    pub(crate) fn new(cap: usize) -> Self {
        Self { cap, stopping: AtomicBool::new(false), state: Mutex::default(), changed: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        // Nothing panics while holding it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until another connection may be served; false once the server is stopping.
    pub(crate) fn wait_for_room(&self) -> bool {
        let full = |open: &mut Open| !self.stopping() && open.streams.len() >= self.cap;
        drop(self.changed.wait_while(self.lock(), full).unwrap_or_else(PoisonError::into_inner));
        !self.stopping()
    }

    /// Registers an accepted connection; `None` (and the stream closed) if stopping.
    pub(crate) fn open(self: &Arc<Self>, stream: TcpStream) -> Option<Connection> {
        // Checked under the lock that stop() takes after setting the flag: a connection is
        // either refused here or registered before stop() shuts the registered ones down.
        let mut open = self.lock();
        if self.stopping() {
            return None;
        }
        let (id, stream) = (open.next_id, Arc::new(stream));
        open.next_id += 1;
        open.streams.insert(id, Arc::clone(&stream));
        Some(Connection { connections: Arc::clone(self), id, stream })
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Stops taking connections and ends the idle ones: shutting down a connection's
    /// reading side ends a thread waiting for its next request (it reads end-of-stream),
    /// while a thread busy with a request still writes its answer, then closes.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let open = self.lock();
        for stream in open.streams.values() {
            let _ = stream.shutdown(Shutdown::Read);
        }
        drop(open);
        self.changed.notify_all();
    }

    /// Waits at most `limit` for every connection to close; true if they did.
    pub(crate) fn wait_all_closed(&self, limit: Duration) -> bool {
        let open = self.changed.wait_timeout_while(self.lock(), limit, |open| !open.streams.is_empty());
        let (open, _) = open.unwrap_or_else(PoisonError::into_inner);
        open.streams.is_empty()
    }
}

/// An open connection; dropping it (the thread is done with it) unregisters and closes it.
pub(crate) struct Connection {
    connections: Arc<Connections>,
    id: u64,
    pub(crate) stream: Arc<TcpStream>,
}

impl Connection {
    fn stopping(&self) -> bool {
        self.connections.stopping()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.connections.lock().streams.remove(&self.id);
        self.connections.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use contract::{Answer, BenchError};

    use super::*;
    use crate::DEFAULT_THREADS;

    #[test]
    fn the_threads_cap_holds_the_next_connection_until_one_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(Connections::new(1));
        let accept = |l: &TcpListener| l.accept().unwrap().0;
        let _client = TcpStream::connect(addr).unwrap();
        assert!(connections.wait_for_room());
        let first = connections.open(accept(&listener)).unwrap();
        let waiter = {
            let connections = Arc::clone(&connections);
            thread::spawn(move || connections.wait_for_room())
        };
        // A wait that must not end: no event marks it, so the waiter is given 100 ms to be
        // let in wrongly, and the close below must then let it in.
        thread::sleep(Duration::from_millis(100));
        assert!(!waiter.is_finished(), "a second connection was let in past --threads 1");
        drop(first);
        assert!(waiter.join().unwrap(), "closing the first did not make room");
    }

    #[test]
    fn a_stop_ends_idle_connections_and_lets_busy_ones_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(Connections::new(DEFAULT_THREADS));
        let client = TcpStream::connect(addr).unwrap();
        let connection = connections.open(listener.accept().unwrap().0).unwrap();
        let reader = thread::spawn(move || {
            // Waiting for a next request that never comes, as an idle keep-alive thread does.
            let mut buffer = Vec::new();
            let next = next_request(&connection.stream, &mut buffer, None).map(|r| r.is_none());
            // The write side still works: a busy thread's answer gets out.
            let answer = Answer::from(BenchError::NotFound);
            let wrote = respond(&connection.stream, &answer, Persist::Close).is_ok();
            (next, wrote)
        });
        // Likely (not certain) to find the reader blocked in its read, which no event shows;
        // a read begun after the stop ends at once as well, so the test holds either way.
        thread::sleep(Duration::from_millis(50));
        connections.stop();
        assert!(!connections.wait_for_room(), "a stopping server made room");
        let (next, wrote) = reader.join().unwrap();
        assert_eq!(next.ok(), Some(true), "the idle read did not end");
        assert!(wrote);
        assert!(connections.wait_all_closed(Duration::from_secs(5)));
        let mut text = String::new();
        (&client).read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 404"), "{text}");
        let _late = TcpStream::connect(addr).unwrap();
        assert!(connections.open(listener.accept().unwrap().0).is_none(), "a stopping server took a connection");
    }
}
