//! What the load loop counts. Each thread keeps its own [`Tally`], which its connections
//! record into with no lock or atomic in between; the run merges them once every thread has
//! stopped (as wrk2 does). While the run goes, each thread publishes two running totals
//! ([`Published`]) for the once-a-second Req/Sec samples and the progress line.
//!
//! An `https://` run also counts its TLS handshakes and failures ([`TlsTally`]), over the
//! whole run rather than the window: with keep-alive, every handshake is made before the
//! clock starts.

use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;

use super::http1::{Failure, Handshake, Negotiated};
use crate::result::{Errors, RequestError, new_histogram};

/// One thread's counts over the recorded window.
#[derive(Debug, Clone)]
pub(super) struct Tally {
    pub(super) latency: Histogram<u64>,
    /// Whole answers, 2xx or not.
    pub(super) requests: u64,
    pub(super) bytes: u64,
    pub(super) errors: Errors,
    /// `errors.total()`, kept as it grows.
    failures: u64,
    /// An `https://` run's TLS.
    pub(super) tls: Option<TlsTally>,
}

/// One thread's TLS handshakes and failures, over the whole run.
#[derive(Debug, Clone)]
pub(super) struct TlsTally {
    /// Each completed handshake's time, microseconds.
    pub(super) latency: Histogram<u64>,
    pub(super) resumed: u64,
    /// Steps that failed in TLS (each also an error of its step's kind, in the window).
    pub(super) failures: u64,
    /// The first failure's reason: one is enough to tell a refused certificate.
    pub(super) first_failure: Option<String>,
    /// What the first handshake settled on.
    pub(super) negotiated: Option<Negotiated>,
}

impl Tally {
    pub(super) fn new() -> Self {
        Self { latency: new_histogram(), requests: 0, bytes: 0, errors: Errors::default(), failures: 0, tls: None }
    }

    /// A tally that counts TLS too.
    pub(super) fn with_tls() -> Self {
        Self { tls: Some(TlsTally::new()), ..Self::new() }
    }

    /// A completed handshake.
    pub(super) fn handshake(&mut self, handshake: Handshake) {
        if let Some(tls) = &mut self.tls {
            let _ = tls.latency.record(handshake.micros);
            tls.resumed += u64::from(handshake.resumed);
            tls.negotiated.get_or_insert(handshake.negotiated);
        }
    }

    /// A step that failed in TLS.
    pub(super) fn tls_failure(&mut self, failure: &Failure) {
        if let Some(tls) = &mut self.tls {
            tls.failures += 1;
            if tls.first_failure.is_none() {
                tls.first_failure = Some(failure.to_string());
            }
        }
    }

    /// A whole answer with `status`, `bytes` long, `latency_us` after its intended send.
    pub(super) fn answer(&mut self, latency_us: u64, status: u16, bytes: u64) {
        // The histogram's bounds are the latency's clamp: recording cannot fail.
        let _ = self.latency.record(latency_us);
        self.requests += 1;
        self.bytes += bytes;
        if let Some(e) = status_error(status) {
            self.error(e);
        }
    }

    /// A failed request, in the counter of its kind.
    pub(super) fn error(&mut self, e: RequestError) {
        let counter = match e {
            RequestError::Connect => &mut self.errors.connect,
            RequestError::Write => &mut self.errors.write,
            RequestError::Read => &mut self.errors.read,
            RequestError::Timeout => &mut self.errors.timeout,
            // An existing code's entry is updated in place: no allocation.
            RequestError::Status(code) => self.errors.status.entry(code).or_default(),
        };
        *counter += 1;
        self.failures += 1;
    }

    /// Adds another thread's counts.
    pub(super) fn merge(&mut self, other: &Tally) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency.add(&other.latency);
        self.requests += other.requests;
        self.bytes += other.bytes;
        self.errors.add(&other.errors);
        self.failures += other.failures;
        match (&mut self.tls, &other.tls) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (None, Some(theirs)) => self.tls = Some(theirs.clone()),
            _ => {}
        }
    }
}

impl TlsTally {
    fn new() -> Self {
        Self { latency: new_histogram(), resumed: 0, failures: 0, first_failure: None, negotiated: None }
    }

    fn merge(&mut self, other: &TlsTally) {
        let _ = self.latency.add(&other.latency);
        self.resumed += other.resumed;
        self.failures += other.failures;
        if self.first_failure.is_none() {
            self.first_failure.clone_from(&other.first_failure);
        }
        self.negotiated = self.negotiated.or(other.negotiated);
    }
}

/// The error a whole answer with `status` counts as: none for a 2xx.
pub(super) fn status_error(status: u16) -> Option<RequestError> {
    (!(200..=299).contains(&status)).then_some(RequestError::Status(status))
}

/// Each thread's running totals, for the monitor: written by that thread only.
pub(super) struct Published {
    threads: Vec<Totals>,
}

/// One thread's totals, on a cache line of their own so that threads do not slow each other.
#[repr(align(128))]
#[derive(Default)]
struct Totals {
    requests: AtomicU64,
    failures: AtomicU64,
}

impl Published {
    pub(super) fn new(threads: usize) -> Self {
        Self { threads: (0..threads).map(|_| Totals::default()).collect() }
    }

    /// Thread `thread`'s tally as it stands (a plain store: no other thread writes these).
    pub(super) fn publish(&self, thread: usize, tally: &Tally) {
        let totals = &self.threads[thread];
        totals.requests.store(tally.requests, Ordering::Relaxed);
        totals.failures.store(tally.failures, Ordering::Relaxed);
    }

    /// Whole answers so far, per thread.
    pub(super) fn requests(&self) -> impl Iterator<Item = u64> + '_ {
        self.threads.iter().map(|t| t.requests.load(Ordering::Relaxed))
    }

    /// Failed requests so far, all threads.
    pub(super) fn failures(&self) -> u64 {
        self.threads.iter().map(|t| t.failures.load(Ordering::Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_goes_to_its_own_counter() {
        let mut tally = Tally::new();
        for e in [
            RequestError::Connect,
            RequestError::Write,
            RequestError::Write,
            RequestError::Read,
            RequestError::Timeout,
            RequestError::Status(502),
            RequestError::Status(502),
            RequestError::Status(404),
        ] {
            tally.error(e);
        }
        let e = &tally.errors;
        assert_eq!((e.connect, e.write, e.read, e.timeout), (1, 2, 1, 1));
        assert_eq!(e.status.iter().map(|(c, n)| (*c, *n)).collect::<Vec<_>>(), [(404, 1), (502, 2)]);
        assert_eq!(tally.failures, 8);
    }

    #[test]
    fn a_non_2xx_answer_is_an_answer_and_an_error_of_its_status() {
        let mut tally = Tally::new();
        tally.answer(1_000, 200, 100);
        tally.answer(2_000, 503, 50);
        assert_eq!((tally.requests, tally.bytes, tally.latency.len()), (2, 150, 2));
        assert_eq!(tally.errors.status.get(&503), Some(&1));
        assert_eq!(tally.failures, 1);
    }

    #[test]
    fn only_a_status_outside_2xx_is_an_error() {
        for ok in [200, 204, 299] {
            assert_eq!(status_error(ok), None, "{ok}");
        }
        for bad in [101, 199, 300, 304, 404, 500, 502, 999] {
            assert_eq!(status_error(bad), Some(RequestError::Status(bad)), "{bad}");
        }
    }

    #[test]
    fn merged_tallies_count_what_each_thread_counted() {
        let (mut a, mut b) = (Tally::new(), Tally::new());
        a.answer(1_000, 200, 10);
        b.answer(3_000, 404, 20);
        b.error(RequestError::Timeout);
        a.merge(&b);
        assert_eq!((a.requests, a.bytes, a.latency.len(), a.failures), (2, 30, 2, 2));
        assert_eq!((a.errors.timeout, a.errors.status.get(&404)), (1, Some(&1)));
        assert_eq!(a.latency.max(), b.latency.max());
    }

    #[test]
    fn handshakes_and_tls_failures_are_counted_and_merged_with_the_first_reason() {
        let (mut a, mut b) = (Tally::with_tls(), Tally::with_tls());
        let negotiated = Negotiated::default();
        a.handshake(Handshake { micros: 900, resumed: false, negotiated });
        b.handshake(Handshake { micros: 300, resumed: true, negotiated });
        b.tls_failure(&Failure::ClosedInHandshake);
        b.tls_failure(&Failure::Rustls(bench_tls::rustls::Error::DecryptError));
        a.merge(&b);
        let tls = a.tls.expect("TLS counted");
        assert_eq!((tls.latency.len(), tls.resumed, tls.failures), (2, 1, 2));
        assert_eq!(tls.first_failure.as_deref(), Some("the server closed the connection during the handshake"));
        let mut plain = Tally::new();
        plain.handshake(Handshake { micros: 1, resumed: false, negotiated });
        assert!(plain.tls.is_none(), "a plain run counts no TLS");
    }

    #[test]
    fn each_thread_publishes_its_own_totals() {
        let published = Published::new(2);
        let mut tally = Tally::new();
        tally.answer(1_000, 200, 10);
        tally.error(RequestError::Read);
        published.publish(1, &tally);
        assert_eq!(published.requests().collect::<Vec<_>>(), [0, 1]);
        assert_eq!(published.failures(), 1);
    }
}
