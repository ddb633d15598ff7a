//! One thread's timers: when each of its connections next needs attention without an event
//! from its socket. A connection has at most two timers queued, one of each [`Kind`], so the
//! queue's room is set once and never grows.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    /// The connection waits, idle, for its next request's slot or the end of a pause after
    /// a failed connect. It fires once, at its time.
    Wake,
    /// The timeout of the connect or exchange in flight. It is queued at most once per
    /// connection and lazily: a later timeout replaces an earlier one without touching the
    /// queue, and when the queued one fires early the connection queues it again for the
    /// time it holds now. An exchange's timeout only ever moves later, so on a loaded
    /// connection this costs one queue entry per timeout span, not one per request.
    Deadline,
}

/// The queued timers, earliest first.
#[derive(Debug)]
pub(super) struct Timers {
    queue: BinaryHeap<Reverse<(Instant, usize, Kind)>>,
}

impl Timers {
    /// Room for `connections` connections' timers.
    pub(super) fn new(connections: usize) -> Self {
        Self { queue: BinaryHeap::with_capacity(2 * connections) }
    }

    /// Queues connection `connection`'s timer of `kind` at `at`.
    pub(super) fn push(&mut self, at: Instant, connection: usize, kind: Kind) {
        self.queue.push(Reverse((at, connection, kind)));
    }

    /// The earliest timer due at `now`, taken off the queue.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(usize, Kind)> {
        let Reverse((at, connection, kind)) = *self.queue.peek()?;
        if at > now {
            return None;
        }
        self.queue.pop();
        Some((connection, kind))
    }

    /// When the earliest timer is due.
    pub(super) fn next(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse((at, ..))| *at)
    }
}

/// A connection's timeout, queued lazily in [`Timers`] (see [`Kind::Deadline`]).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Deadline {
    /// When the step in flight times out, if one is.
    at: Option<Instant>,
    /// Whether a `Deadline` timer of this connection is in the queue.
    queued: bool,
}

impl Deadline {
    /// Sets it to `at` for connection `connection`, queuing it unless one is queued
    /// already (no later than `at`: timeouts only move later).
    pub(super) fn set(&mut self, at: Instant, connection: usize, timers: &mut Timers) {
        self.at = Some(at);
        if !self.queued {
            timers.push(at, connection, Kind::Deadline);
            self.queued = true;
        }
    }

    /// No step in flight: the queued timer, when it fires, does nothing.
    pub(super) fn clear(&mut self) {
        self.at = None;
    }

    /// Its queued timer fired at `now`: whether the step in flight timed out. If its time
    /// is still ahead it is queued again for then.
    pub(super) fn fired(&mut self, now: Instant, connection: usize, timers: &mut Timers) -> bool {
        self.queued = false;
        match self.at {
            Some(at) if at <= now => {
                self.at = None;
                true
            }
            Some(at) => {
                timers.push(at, connection, Kind::Deadline);
                self.queued = true;
                false
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn timers_come_due_earliest_first_and_not_before_their_time() {
        let t = Instant::now();
        let mut timers = Timers::new(2);
        timers.push(t + MS * 20, 1, Kind::Wake);
        timers.push(t + MS * 10, 0, Kind::Deadline);
        assert_eq!(timers.next(), Some(t + MS * 10));
        assert_eq!(timers.pop_due(t), None, "none is due yet");
        assert_eq!(timers.pop_due(t + MS * 30), Some((0, Kind::Deadline)));
        assert_eq!(timers.pop_due(t + MS * 30), Some((1, Kind::Wake)));
        assert_eq!(timers.pop_due(t + MS * 30), None);
        assert_eq!(timers.next(), None);
    }

    #[test]
    fn a_timeout_moved_later_stays_one_entry_and_fires_only_at_its_new_time() {
        let t = Instant::now();
        let mut timers = Timers::new(1);
        let mut deadline = Deadline::default();
        for request in 0..100 {
            deadline.set(t + MS * (100 + request), 0, &mut timers);
        }
        assert_eq!(timers.queue.len(), 1, "set again, not queued again");
        let fired = timers.pop_due(t + MS * 100).expect("the first time it was queued for");
        assert_eq!(fired, (0, Kind::Deadline));
        assert!(!deadline.fired(t + MS * 100, 0, &mut timers), "early: the timeout moved on");
        assert_eq!(timers.next(), Some(t + MS * 199), "queued again for its time now");
        timers.pop_due(t + MS * 199);
        assert!(deadline.fired(t + MS * 199, 0, &mut timers), "due: timed out");
        assert_eq!(timers.next(), None);
    }

    #[test]
    fn a_cleared_timeout_never_fires() {
        let t = Instant::now();
        let mut timers = Timers::new(1);
        let mut deadline = Deadline::default();
        deadline.set(t + MS, 0, &mut timers);
        deadline.clear();
        timers.pop_due(t + MS * 2);
        assert!(!deadline.fired(t + MS * 2, 0, &mut timers));
        assert_eq!(timers.next(), None, "not queued again");
    }
}
