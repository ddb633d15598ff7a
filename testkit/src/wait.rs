//! Waiting on an event instead of sleeping a fixed time: a sleep is too long on an idle
//! machine and too short on a busy one, where a poll with a deadline is neither.

use std::time::{Duration, Instant};

/// How often [`wait_until`] looks again: short next to any event a test waits for.
pub const POLL: Duration = Duration::from_millis(10);

/// Polls `done` every [`POLL`] until it holds; panics, naming `what`, if it still does not
/// after `within`. Give a deadline a busy 2-core machine meets with room (10 s or more): it
/// costs nothing when the event comes early.
pub fn wait_until(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "waited {within:?} for {what}, in vain");
        std::thread::sleep(POLL);
    }
}
