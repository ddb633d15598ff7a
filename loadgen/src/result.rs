//! What a run measured: counts, errors by kind, the latency histogram, the server sample;
//! its JSON form (mergeable across machines). Its wrk-shaped text form is in `result/text.rs`.

mod text;

use std::collections::BTreeMap;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Highest latency the histogram tracks, in microseconds (1 hour); longer ones saturate.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A new latency histogram: microseconds, 3 significant figures.
pub fn new_histogram() -> Histogram<u64> {
    // 1..=1 h with 3 significant digits is always a valid configuration.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).unwrap_or_else(|_| unreachable!("valid histogram bounds"))
}

/// Why a request did not get an answer (or got a non-2xx one). Counted, never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RequestError {
    /// The TCP connection could not be made.
    #[error("connect")]
    Connect,
    /// The request could not be written (the connection was gone before it was sent).
    #[error("write")]
    Write,
    /// The response could not be read: reset, closed early, or malformed.
    #[error("read")]
    Read,
    /// No complete answer within `--timeout`.
    #[error("timeout")]
    Timeout,
    /// A complete answer with a status outside 2xx.
    #[error("status {0}")]
    Status(u16),
}

/// Error counts by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Errors {
    /// Connections that could not be made.
    pub connect: u64,
    /// Requests that could not be sent.
    pub write: u64,
    /// Responses that could not be read.
    pub read: u64,
    /// Requests that hit `--timeout`.
    pub timeout: u64,
    /// Non-2xx answers, by status code.
    pub status: BTreeMap<u16, u64>,
}

impl Errors {
    /// Socket-level errors (wrk's "Socket errors").
    pub fn socket(&self) -> u64 {
        [self.write, self.read, self.timeout].iter().fold(self.connect, |a, b| a.saturating_add(*b))
    }

    /// Non-2xx answers.
    pub fn non_2xx(&self) -> u64 {
        self.status.values().fold(0, |a, b| a.saturating_add(*b))
    }

    /// Every failed request: socket errors plus non-2xx answers.
    pub fn total(&self) -> u64 {
        self.socket().saturating_add(self.non_2xx())
    }

    /// "connect 10, 502: 2": the counts of the kinds that occurred, socket errors first.
    pub fn kinds(&self) -> String {
        let socket = [("connect", self.connect), ("write", self.write), ("read", self.read), ("timeout", self.timeout)];
        let mut kinds: Vec<String> = socket.iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{k} {n}")).collect();
        kinds.extend(self.status.iter().filter(|(_, n)| **n > 0).map(|(c, n)| format!("{c}: {n}")));
        kinds.join(", ")
    }

    /// Adds another run's counts. Sums saturate: a count stuck at u64::MAX is visibly
    /// absurd, where a wrapped one would pass for a small, plausible number.
    pub fn add(&mut self, other: &Errors) {
        self.connect = self.connect.saturating_add(other.connect);
        self.write = self.write.saturating_add(other.write);
        self.read = self.read.saturating_add(other.read);
        self.timeout = self.timeout.saturating_add(other.timeout);
        for (code, n) in &other.status {
            let sum = self.status.entry(*code).or_default();
            *sum = sum.saturating_add(*n);
        }
    }
}

/// The server as sampled from /proc during the recorded window: the process and its
/// descendants (procstat::Reading says how each figure sums over them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerSample {
    /// The sampled PID (the root of the tree).
    pub pid: u32,
    /// CPU time (user + system, all threads of the tree) over the window, in % of one core.
    pub cpu_percent: f64,
    /// CPU seconds the tree used in the window.
    pub cpu_seconds: f64,
    /// Highest resident set size seen (the larger of the tree's summed VmRSS and its
    /// members' summed VmHWM), in KiB: an upper bound for a tree of several processes.
    pub peak_rss_kib: u64,
    /// Most threads seen (summed over the tree).
    pub max_threads: u64,
}

/// How the run was made: everything needed to reproduce or compare it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mode {
    /// loadgen's version.
    pub loadgen_version: String,
    /// Target URL.
    pub url: String,
    /// Connections (per machine; summed by merge).
    pub connections: usize,
    /// Worker threads.
    pub threads: usize,
    /// Recorded duration asked for, seconds.
    #[serde(deserialize_with = "figure::duration_s")]
    pub duration_s: f64,
    /// Unrecorded warm-up, seconds.
    #[serde(deserialize_with = "figure::warmup_s")]
    pub warmup_s: f64,
    /// Per-request timeout, seconds.
    #[serde(deserialize_with = "figure::timeout_s")]
    pub timeout_s: f64,
    /// HTTP keep-alive (false: `--no-keepalive`).
    pub keepalive: bool,
    /// Open-loop rate (requests/second in total), `None` for closed loop.
    #[serde(default, deserialize_with = "figure::rate")]
    pub rate: Option<f64>,
    /// Extra headers sent.
    pub headers: Vec<(String, String)>,
}

impl Mode {
    /// Whether a run made in `other`'s mode merges with one made in this mode: the same
    /// URL, loop kind (open or closed), keep-alive, window, timeout and headers.
    /// Connections, threads and open-loop rates may differ: they add up.
    pub fn check_mergeable(&self, other: &Mode) -> Result<(), MergeError> {
        if self.url != other.url {
            return Err(MergeError::DifferentUrl(self.url.clone(), other.url.clone()));
        }
        let loop_kind = |m: &Mode| match m.rate {
            Some(r) => format!("open loop (--rate {r})"),
            None => "closed loop".to_owned(),
        };
        let differs = |what, first: String, other: String| {
            if first == other { Ok(()) } else { Err(MergeError::DifferentMode { what, first, other }) }
        };
        let closed = |m: &Mode| m.rate.is_none();
        if closed(self) != closed(other) {
            return Err(MergeError::DifferentMode { what: "loop", first: loop_kind(self), other: loop_kind(other) });
        }
        let keepalive = |m: &Mode| if m.keepalive { "keep-alive" } else { "--no-keepalive" }.to_owned();
        differs("keep-alive", keepalive(self), keepalive(other))?;
        differs("duration", format!("{} s", self.duration_s), format!("{} s", other.duration_s))?;
        differs("timeout", format!("{} s", self.timeout_s), format!("{} s", other.timeout_s))?;
        differs("headers", format!("{:?}", self.headers), format!("{:?}", other.headers))
    }
}

/// The latency histogram's summary in microseconds, kept beside the histogram in the JSON
/// so that scripts and reports can read the figures without decoding it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Smallest.
    pub min_us: u64,
    /// Mean.
    pub mean_us: f64,
    /// Standard deviation.
    pub stdev_us: f64,
    /// Median.
    pub p50_us: u64,
    /// 75th percentile.
    pub p75_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p99_9_us: u64,
    /// 99.99th percentile.
    pub p99_99_us: u64,
    /// Largest.
    pub max_us: u64,
}

impl LatencySummary {
    /// Summarizes a histogram.
    pub fn of(h: &Histogram<u64>) -> Self {
        let q = |q: f64| h.value_at_quantile(q);
        Self {
            count: h.len(),
            min_us: h.min(),
            mean_us: h.mean(),
            stdev_us: h.stdev(),
            p50_us: q(0.5),
            p75_us: q(0.75),
            p90_us: q(0.9),
            p99_us: q(0.99),
            p99_9_us: q(0.999),
            p99_99_us: q(0.9999),
            max_us: h.max(),
        }
    }
}

/// The result of a run: JSON-first, the text report is rendered from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// How the run was made.
    pub mode: Mode,
    /// Measured length of the recorded window, seconds.
    #[serde(deserialize_with = "figure::elapsed_s")]
    pub elapsed_s: f64,
    /// Answers received in the window (any status).
    pub requests: u64,
    /// Bytes read in the window (status line, headers and body).
    pub bytes: u64,
    /// Errors by kind.
    pub errors: Errors,
    /// Completed requests per second of each thread's connections, one entry per thread
    /// per second of the window, the last over what is left after its whole seconds (when
    /// at least 100 ms, or the window is shorter than a second): wrk's "Req/Sec" row.
    #[serde(deserialize_with = "figure::thread_rps")]
    pub thread_rps: Vec<f64>,
    /// Latency histogram in microseconds (HdrHistogram V2 + deflate, base64).
    #[serde(with = "histogram_base64")]
    pub latency: Histogram<u64>,
    /// The histogram's percentiles, for readers of the JSON (derived from `latency`).
    pub latency_summary: LatencySummary,
    /// The sampled server, if `--server-pid` was given.
    pub server: Option<ServerSample>,
    /// An `https://` run's TLS handshakes and failures; absent for `http://`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsResult>,
}

/// An `https://` run's TLS, counted over the whole run (connections opened before the clock
/// starts, warm-up and window): with keep-alive, every handshake is made before the clock
/// starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TlsResult {
    /// How the server's certificate was checked: `--cacert FILE`, `system roots` or
    /// `none (--insecure)`.
    pub verify: String,
    /// Whether sessions were resumed when the server offered it (`--no-tls-resumption`: no).
    pub resumption: bool,
    /// Completed handshakes.
    pub handshakes: u64,
    /// Of them, full handshakes (the server's certificate sent and checked).
    pub full: u64,
    /// Of them, resumed sessions.
    pub resumed: u64,
    /// Steps that failed in TLS: a refused certificate, an alert, a corrupt record, a close
    /// during the handshake. Each is also a connect error (in the handshake) or a read
    /// error, when in the window.
    pub failures: u64,
    /// The first failure's reason, e.g. "invalid peer certificate: UnknownIssuer".
    pub first_failure: Option<String>,
    /// What the first handshake settled on, in rustls's names: protocol version, cipher
    /// suite, key-exchange group, e.g. "TLSv1_3, TLS13_AES_256_GCM_SHA384, X25519".
    #[serde(default)]
    pub negotiated: Option<String>,
    /// The handshakes' times (from the TCP connect's end to the handshake's end).
    pub latency_us: HandshakeSummary,
    /// Their histogram in microseconds (HdrHistogram V2 + deflate, base64), for `merge`.
    #[serde(with = "histogram_base64")]
    pub latency: Histogram<u64>,
}

/// The handshake times' summary in microseconds (derived from [`TlsResult::latency`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct HandshakeSummary {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl HandshakeSummary {
    /// Summarizes a histogram.
    pub fn of(h: &Histogram<u64>) -> Self {
        Self { p50: h.value_at_quantile(0.5), p99: h.value_at_quantile(0.99), max: h.max(), mean: h.mean() }
    }
}

impl TlsResult {
    /// Adds another run's TLS counts (saturating, as the other counts), merging the
    /// histograms; the first failure named stays the first.
    fn add(&mut self, other: &TlsResult) -> Result<(), MergeError> {
        self.handshakes = self.handshakes.saturating_add(other.handshakes);
        self.full = self.full.saturating_add(other.full);
        self.resumed = self.resumed.saturating_add(other.resumed);
        self.failures = self.failures.saturating_add(other.failures);
        if self.first_failure.is_none() {
            self.first_failure.clone_from(&other.first_failure);
        }
        if self.negotiated.is_none() {
            self.negotiated.clone_from(&other.negotiated);
        }
        self.latency.add(&other.latency).map_err(|e| MergeError::Histogram(format!("{e:?}")))?;
        self.latency_us = HandshakeSummary::of(&self.latency);
        Ok(())
    }
}

impl RunResult {
    /// Requests per second over the recorded window.
    pub fn rps(&self) -> f64 {
        if self.elapsed_s > 0.0 { self.requests as f64 / self.elapsed_s } else { 0.0 }
    }

    /// Answers with a 2xx status in the recorded window: what the run measured of the
    /// server's service, as opposed to its failures.
    pub fn successes(&self) -> u64 {
        self.requests.saturating_sub(self.errors.non_2xx())
    }

    /// Whether `other` is this very record (the same run's file, copied): two runs, even of
    /// the same mode, never end with the same window to the nanosecond and the same
    /// histogram.
    fn same_run(&self, other: &RunResult) -> bool {
        self.mode == other.mode
            && self.elapsed_s == other.elapsed_s
            && (self.requests, self.bytes) == (other.requests, other.bytes)
            && self.errors == other.errors
            && self.thread_rps == other.thread_rps
            && self.latency == other.latency
    }

    /// Merges results of runs made at the same time (e.g. from several machines against
    /// one server): counts, bytes and errors add up, histograms merge, the window is the
    /// longest one, connections add up.
    pub fn merge(results: &[RunResult]) -> Result<RunResult, MergeError> {
        let (first, rest) = results.split_first().ok_or(MergeError::Empty)?;
        for (other, r) in results.iter().enumerate() {
            if let Some(first) = results[..other].iter().position(|earlier| earlier.same_run(r)) {
                return Err(MergeError::SameRecord { first, other });
            }
        }
        let mut merged = first.clone();
        for r in rest {
            merged.mode.check_mergeable(&r.mode)?;
            merged.mode.connections = merged.mode.connections.saturating_add(r.mode.connections);
            merged.mode.threads = merged.mode.threads.saturating_add(r.mode.threads);
            merged.mode.rate = match (merged.mode.rate, r.mode.rate) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            merged.elapsed_s = merged.elapsed_s.max(r.elapsed_s);
            merged.requests = merged.requests.saturating_add(r.requests);
            merged.bytes = merged.bytes.saturating_add(r.bytes);
            merged.errors.add(&r.errors);
            merged.thread_rps.extend_from_slice(&r.thread_rps);
            merged.latency.add(&r.latency).map_err(|e| MergeError::Histogram(format!("{e:?}")))?;
            merged.server = merged.server.or(r.server);
            match (&mut merged.tls, &r.tls) {
                (Some(mine), Some(theirs)) => {
                    let resumption = |t: &TlsResult| if t.resumption { "on" } else { "off" }.to_owned();
                    if mine.resumption != theirs.resumption {
                        return Err(MergeError::DifferentMode {
                            what: "TLS resumption",
                            first: resumption(mine),
                            other: resumption(theirs),
                        });
                    }
                    mine.add(theirs)?;
                }
                (None, Some(theirs)) => merged.tls = Some(theirs.clone()),
                _ => {}
            }
        }
        merged.latency_summary = LatencySummary::of(&merged.latency);
        Ok(merged)
    }
}

/// Why results could not be merged.
#[derive(Debug, Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no results to merge")]
    Empty,
    /// Runs against different targets are not one measurement.
    #[error("results are for different URLs: {0} and {1}")]
    DifferentUrl(String, String),
    /// Runs made differently measure different things: their sums mean nothing.
    #[error("results differ in {what}: {first} and {other}; only runs made the same way merge")]
    DifferentMode {
        /// What differs, e.g. "keep-alive".
        what: &'static str,
        /// The first result's value.
        first: String,
        /// The differing result's value.
        other: String,
    },
    /// The histograms could not be added.
    #[error("histograms cannot be merged: {0}")]
    Histogram(String),
    /// One run given twice: its counts would be counted twice.
    #[error("results {} and {} are the same record: its requests would be counted twice", first + 1, other + 1)]
    SameRecord {
        /// The first one's place among the results, from 0.
        first: usize,
        /// The other's place.
        other: usize,
    },
}

/// A record's figures, checked as it is read: one holding an impossible figure (a window or
/// timeout of zero or less, a negative rate) is refused when it is loaded, so that nothing
/// reading it (merge, report) sums or prints it ("requests in -1.00s").
mod figure {
    use serde::{Deserialize, Deserializer};

    /// `value`, if it is finite and above zero (or zero, when `zero` is allowed).
    fn check<E: serde::de::Error>(name: &str, value: f64, zero: bool) -> Result<f64, E> {
        if value.is_finite() && (value > 0.0 || zero && value == 0.0) {
            return Ok(value);
        }
        let range = if zero { "zero or more" } else { "above zero" };
        Err(E::custom(format!("{name} is {value}, where it can only be {range}")))
    }

    pub fn elapsed_s<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        check("elapsed_s", f64::deserialize(d)?, false)
    }

    pub fn duration_s<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        check("duration_s", f64::deserialize(d)?, false)
    }

    pub fn timeout_s<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        check("timeout_s", f64::deserialize(d)?, false)
    }

    pub fn warmup_s<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        check("warmup_s", f64::deserialize(d)?, true)
    }

    pub fn rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Option::<f64>::deserialize(d)?.map(|rate| check("rate", rate, false)).transpose()
    }

    pub fn thread_rps<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Vec::<f64>::deserialize(d)?.into_iter().map(|rps| check("thread_rps", rps, true)).collect()
    }
}

mod histogram_base64 {
    use super::*;

    pub fn serialize<S: serde::Serializer>(h: &Histogram<u64>, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = Vec::new();
        V2DeflateSerializer::new().serialize(h, &mut buf).map_err(|e| serde::ser::Error::custom(format!("{e:?}")))?;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(buf))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Histogram<u64>, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(text).map_err(serde::de::Error::custom)?;
        Deserializer::new().deserialize(&mut bytes.as_slice()).map_err(|e| serde::de::Error::custom(format!("{e:?}")))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 1 s closed-loop run whose latencies are `samples`, in microseconds (also the
    /// crate's other unit tests' run result, with the fields they test set on it).
    pub(crate) fn result(samples: &[u64]) -> RunResult {
        let mut latency = new_histogram();
        for s in samples {
            latency.record(*s).unwrap();
        }
        RunResult {
            mode: Mode {
                loadgen_version: "test".into(),
                url: "http://127.0.0.1:1/".into(),
                connections: 2,
                threads: 1,
                duration_s: 1.0,
                warmup_s: 0.0,
                timeout_s: 2.0,
                keepalive: true,
                rate: None,
                headers: vec![],
            },
            elapsed_s: 1.0,
            requests: samples.len() as u64,
            bytes: 100,
            errors: Errors::default(),
            thread_rps: vec![samples.len() as f64],
            latency_summary: LatencySummary::of(&latency),
            latency,
            server: None,
            tls: None,
        }
    }

    /// `result(samples)` of an https:// run whose handshakes took `handshakes` µs,
    /// `resumed` of them resumed.
    pub(super) fn tls_result(samples: &[u64], handshakes: &[u64], resumed: u64) -> RunResult {
        let mut latency = new_histogram();
        for h in handshakes {
            latency.record(*h).unwrap();
        }
        let n = handshakes.len() as u64;
        RunResult {
            tls: Some(TlsResult {
                verify: "--cacert ca.pem".into(),
                resumption: true,
                handshakes: n,
                full: n - resumed,
                resumed,
                failures: 0,
                first_failure: None,
                negotiated: Some("TLSv1_3, TLS13_AES_256_GCM_SHA384, X25519".into()),
                latency_us: HandshakeSummary::of(&latency),
                latency,
            }),
            ..result(samples)
        }
    }

    #[test]
    fn merged_tls_sums_handshakes_and_merges_their_histograms() {
        let a = tls_result(&[1], &[500, 700], 1);
        let mut b = tls_result(&[2], &[9_000], 0);
        if let Some(tls) = &mut b.tls {
            tls.failures = 3;
            tls.first_failure = Some("invalid peer certificate: UnknownIssuer".into());
        }
        let json: Vec<String> = [a, b].iter().map(|r| serde_json::to_string(r).unwrap()).collect();
        let parsed: Vec<RunResult> = json.iter().map(|j| serde_json::from_str(j).unwrap()).collect();
        let merged = RunResult::merge(&parsed).unwrap();
        let tls = merged.tls.expect("TLS merged");
        assert_eq!((tls.handshakes, tls.full, tls.resumed, tls.failures), (3, 2, 1, 3));
        assert_eq!(tls.first_failure.as_deref(), Some("invalid peer certificate: UnknownIssuer"));
        let one = tls_result(&[], &[500, 700, 9_000], 1).tls.unwrap();
        assert_eq!(tls.latency, one.latency);
        assert_eq!(tls.latency_us, one.latency_us);
        let mut off = tls_result(&[3], &[1], 0);
        off.tls.as_mut().unwrap().resumption = false;
        let e = RunResult::merge(&[tls_result(&[1], &[1], 0), off]).unwrap_err();
        assert!(e.to_string().contains("TLS resumption"), "{e}");
    }

    #[test]
    fn an_http_result_has_no_tls_in_its_json_and_an_https_one_has_its_fields() {
        let http = serde_json::to_value(result(&[1])).unwrap();
        assert!(http.get("tls").is_none(), "{http}");
        let https = serde_json::to_value(tls_result(&[1], &[1_200, 3_400], 0)).unwrap();
        let tls = &https["tls"];
        assert_eq!(
            (tls["handshakes"].as_u64(), tls["full"].as_u64(), tls["resumed"].as_u64()),
            (Some(2), Some(2), Some(0))
        );
        for field in ["p50", "p99", "max", "mean"] {
            assert!(tls["latency_us"][field].is_number(), "{field}: {tls}");
        }
        assert!(tls["latency_us"]["max"].as_u64().unwrap() >= 3_400);
    }

    /// Two JSON files merged equal one histogram of all their samples.
    #[test]
    fn merged_json_histograms_equal_one_histogram_of_all_samples() {
        let a: Vec<u64> = (1..=5000).map(|i| i * 37 % 100_000 + 1).collect();
        let b: Vec<u64> = (1..=3000).map(|i| i * 101 % 2_000_000 + 1).collect();
        let ja = serde_json::to_string(&result(&a)).unwrap();
        let jb = serde_json::to_string(&result(&b)).unwrap();
        let parsed: Vec<RunResult> = [ja, jb].iter().map(|j| serde_json::from_str(j).unwrap()).collect();
        let merged = RunResult::merge(&parsed).unwrap();
        let all: Vec<u64> = a.iter().chain(&b).copied().collect();
        let one = result(&all);
        assert_eq!(merged.latency, one.latency);
        assert_eq!(merged.latency_summary, one.latency_summary);
        assert_eq!(merged.requests, 8000);
        assert_eq!(merged.mode.connections, 4);
        for q in [0.5, 0.9, 0.99, 0.999] {
            assert_eq!(merged.latency.value_at_quantile(q), one.latency.value_at_quantile(q));
        }
    }

    #[test]
    fn merge_refuses_different_urls() {
        let a = result(&[1]);
        let mut b = result(&[2]);
        b.mode.url = "http://127.0.0.1:2/".into();
        assert!(matches!(RunResult::merge(&[a, b]), Err(MergeError::DifferentUrl(..))));
    }

    #[test]
    fn merge_refuses_runs_of_different_modes_naming_the_mismatch() {
        let base = result(&[1]);
        type Change = fn(&mut Mode);
        let cases: [(&str, Change); 5] = [
            ("loop", |m| m.rate = Some(100.0)),
            ("keep-alive", |m| m.keepalive = false),
            ("duration", |m| m.duration_s = 2.0),
            ("timeout", |m| m.timeout_s = 30.0),
            ("headers", |m| m.headers = vec![("A".into(), "b".into())]),
        ];
        for (what, change) in cases {
            let mut other = result(&[2]);
            change(&mut other.mode);
            let e = RunResult::merge(&[base.clone(), other]).expect_err(what);
            assert!(matches!(e, MergeError::DifferentMode { what: w, .. } if w == what), "{what}: {e}");
            assert!(e.to_string().contains(what), "{e}");
        }
        let e = {
            let mut open = result(&[2]);
            open.mode.rate = Some(100.0);
            RunResult::merge(&[base.clone(), open]).unwrap_err().to_string()
        };
        assert!(e.contains("closed loop") && e.contains("open loop (--rate 100)"), "{e}");
        // Open-loop runs at different rates do merge: their rates add up.
        let (mut a, mut b) = (result(&[1]), result(&[2]));
        a.mode.rate = Some(100.0);
        b.mode.rate = Some(50.0);
        assert_eq!(RunResult::merge(&[a, b]).unwrap().mode.rate, Some(150.0));
    }

    #[test]
    fn merge_refuses_one_record_given_twice() {
        let (a, b) = (result(&[1, 2]), result(&[3]));
        let e = RunResult::merge(&[a.clone(), b.clone(), a.clone()]).unwrap_err();
        assert!(matches!(e, MergeError::SameRecord { first: 0, other: 2 }), "{e}");
        assert_eq!(e.to_string(), "results 1 and 3 are the same record: its requests would be counted twice");
        // Two runs alike in everything but their measured window are two runs.
        let mut later = a.clone();
        later.elapsed_s += 1e-9;
        assert_eq!(RunResult::merge(&[a, later]).unwrap().requests, 4);
    }

    #[test]
    fn a_record_with_an_impossible_figure_is_refused_when_read() {
        let good = serde_json::to_value(result(&[1])).unwrap();
        assert!(serde_json::from_value::<RunResult>(good.clone()).is_ok());
        for (field, value, says) in [
            ("/elapsed_s", serde_json::json!(-1.0), "elapsed_s is -1, where it can only be above zero"),
            ("/elapsed_s", serde_json::json!(0.0), "elapsed_s is 0"),
            ("/mode/duration_s", serde_json::json!(-3), "duration_s is -3"),
            ("/mode/timeout_s", serde_json::json!(0), "timeout_s is 0"),
            ("/mode/warmup_s", serde_json::json!(-0.5), "warmup_s is -0.5, where it can only be zero or more"),
            ("/mode/rate", serde_json::json!(-100.0), "rate is -100"),
            ("/thread_rps", serde_json::json!([5.0, -1.0]), "thread_rps is -1"),
            ("/requests", serde_json::json!(-1), "expected u64"),
            ("/errors/connect", serde_json::json!(-2), "expected u64"),
        ] {
            let mut bad = good.clone();
            *bad.pointer_mut(field).unwrap() = value;
            let e = serde_json::from_value::<RunResult>(bad).expect_err(field).to_string();
            assert!(e.contains(says), "{field}: {e}");
        }
        let mut no_warmup = good;
        *no_warmup.pointer_mut("/mode/warmup_s").unwrap() = serde_json::json!(0);
        assert!(serde_json::from_value::<RunResult>(no_warmup).is_ok(), "no warm-up is a warm-up of 0 s");
    }

    #[test]
    fn merged_sums_saturate_instead_of_wrapping() {
        let mut a = result(&[1]);
        let mut b = result(&[2]);
        a.requests = u64::MAX - 1;
        b.requests = 5;
        a.bytes = u64::MAX;
        a.errors.connect = u64::MAX;
        b.errors.connect = 1;
        a.errors.status.insert(502, u64::MAX);
        b.errors.status.insert(502, 2);
        b.errors.status.insert(503, 1);
        let m = RunResult::merge(&[a, b]).unwrap();
        assert_eq!((m.requests, m.bytes, m.errors.connect), (u64::MAX, u64::MAX, u64::MAX));
        assert_eq!((m.errors.status[&502], m.errors.non_2xx(), m.errors.socket()), (u64::MAX, u64::MAX, u64::MAX));
    }
}
