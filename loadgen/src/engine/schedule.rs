//! Open-loop timing: when each request of a connection should go out, and from when its
//! latency counts (coordinated-omission correction, as wrk2 does).

use std::time::{Duration, Instant};

use crate::result::MAX_LATENCY_US;

/// One connection's intended send times at a fixed total rate: its share of the rate,
/// staggered by its index so that the connections do not all fire at once.
#[derive(Debug, Clone, Copy)]
pub(super) struct Schedule {
    next: Instant,
    interval: Duration,
}

/// The next slot of a [`Schedule`], against the time it was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    /// Still ahead: wait for it, then measure from the real wake-up, so that our own
    /// timer's lateness (up to a millisecond) is not charged to the server.
    Ahead(Instant),
    /// Already past: the previous answer came late. Send at once and measure from the
    /// slot, so that a stalled server shows as latency, not as fewer samples.
    Behind(Instant),
}

impl Schedule {
    /// Connection `index` of `connections` at `rate` requests/second in total, from `start`;
    /// `None` for a closed loop (no rate).
    pub(super) fn open_loop(rate: Option<f64>, connections: usize, index: usize, start: Instant) -> Option<Self> {
        let rate = rate?;
        Some(Self {
            next: start + Duration::from_secs_f64(index as f64 / rate),
            interval: Duration::from_secs_f64(connections as f64 / rate),
        })
    }

    /// Takes the next slot: every slot is taken in turn, none skipped however late, so a
    /// connection behind schedule sends its missed requests back to back until it catches up.
    pub(super) fn take(&mut self, now: Instant) -> Slot {
        let scheduled = self.next;
        self.next += self.interval;
        if scheduled > now { Slot::Ahead(scheduled) } else { Slot::Behind(scheduled) }
    }
}

/// The latency recorded for an answer at `done` to a request intended at `intended`, in
/// microseconds, within the histogram's range.
pub(super) fn latency_us(intended: Instant, done: Instant) -> u64 {
    done.duration_since(intended).as_micros().clamp(1, u128::from(MAX_LATENCY_US)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// The slots of `connections` connections at `rate` over `secs`, merged and sorted, as
    /// offsets from the start.
    fn merged_slots(rate: f64, connections: usize, secs: u64) -> Vec<Duration> {
        let start = Instant::now();
        let end = start + Duration::from_secs(secs);
        let mut slots = Vec::new();
        for index in 0..connections {
            let mut s = Schedule::open_loop(Some(rate), connections, index, start).unwrap();
            loop {
                let (Slot::Ahead(t) | Slot::Behind(t)) = s.take(start);
                if t >= end {
                    break;
                }
                slots.push(t - start);
            }
        }
        slots.sort();
        slots
    }

    #[test]
    fn a_fixed_rate_sends_at_evenly_spaced_intended_times_over_all_connections() {
        // 100 req/s on 4 connections: together one request every 10 ms, from the start.
        let slots = merged_slots(100.0, 4, 1);
        assert_eq!(slots.len(), 100);
        for (k, t) in slots.iter().enumerate() {
            let want = MS * 10 * k as u32;
            assert!(t.abs_diff(want) < Duration::from_micros(1), "slot {k} at {t:?}, want {want:?}");
        }
    }

    #[test]
    fn each_connection_sends_its_share_of_the_rate_staggered_by_its_index() {
        let start = Instant::now();
        let mut third = Schedule::open_loop(Some(100.0), 4, 2, start).unwrap();
        let offsets: Vec<Duration> = (0..3)
            .map(|_| match third.take(start) {
                Slot::Ahead(t) => t - start,
                Slot::Behind(t) => panic!("slot at {:?} behind the start", t - start),
            })
            .collect();
        for (got, want) in offsets.iter().zip([20, 60, 100]) {
            assert!(got.abs_diff(MS * want) < Duration::from_micros(1), "{offsets:?}");
        }
    }

    #[test]
    fn a_closed_loop_has_no_schedule() {
        assert!(Schedule::open_loop(None, 4, 0, Instant::now()).is_none());
    }

    #[test]
    fn a_connection_behind_schedule_sends_every_missed_slot_at_once_measured_from_its_slot() {
        let start = Instant::now();
        let mut s = Schedule::open_loop(Some(100.0), 1, 0, start).unwrap();
        // The first answer took 35 ms: the slots at 0, 10, 20 and 30 ms have all passed.
        let now = start + MS * 35;
        let late: Vec<Slot> = (0..4).map(|_| s.take(now)).collect();
        let want: Vec<Slot> = [0, 10, 20, 30].iter().map(|ms| Slot::Behind(start + MS * *ms)).collect();
        assert_eq!(late, want, "none skipped, each its own slot");
        assert_eq!(s.take(now), Slot::Ahead(start + MS * 40), "caught up: the next one waits");
    }

    #[test]
    fn latency_counts_from_the_intended_slot_not_from_the_late_send() {
        let slot = Instant::now();
        // Sent 100 ms late, answered 5 ms after it was sent.
        let sent = slot + MS * 100;
        assert_eq!(latency_us(slot, sent + MS * 5), 105_000);
    }

    #[test]
    fn latency_is_clamped_to_the_histogram_range() {
        let t = Instant::now();
        assert_eq!(latency_us(t, t), 1, "the histogram's lowest value");
        assert_eq!(latency_us(t + MS, t), 1, "an answer before its slot cannot be negative");
        let hours = Duration::from_micros(MAX_LATENCY_US) * 2;
        assert_eq!(latency_us(t, t + hours), MAX_LATENCY_US);
    }
}
