//! What every server accepts from a client, defined once: the head size and time limits.
//!
//! Each server applies them through its own framework's settings where they fit (hyper's
//! buffer size) and in its own code where not (the head timeout of the hyper servers and
//! actix is `head_clock`'s); docs/contract.md ("Request heads") says what each server
//! answers at each limit.

use std::time::Duration;

/// The longest request head (request line and headers) a server reads. Past it the answer
/// is 431, or 414 when the request line alone is longer; then the connection closes.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The most header fields one request may carry; more is a 431.
pub const MAX_HEADERS: usize = 64;

/// How long a client may take to send a whole request head: from the accept for a
/// connection's first request, from the head's first byte for a later one. Past it the
/// connection closes (after a 408 where the framework sends one). An idle keep-alive
/// connection between requests is not timed out: a benchmark's pooled clients keep theirs.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The most threads `--threads` may ask for, each a thread of ours (a worker, a pool
/// thread, a connection served at once): more fails to spawn (pid_max is 32768 on the
/// project's machine) and takes the server down half started. Past it, the flag is refused.
pub const MAX_THREADS: usize = 10_000;
