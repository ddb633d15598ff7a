//! wrk's report, parsed once into a type: wrk writes nothing but its text, so this is
//! where its lines are read, and nowhere else. [`Totals`] is what every run prints;
//! [`Wrk`] adds the latencies that `--latency` prints.

use std::process::Command;

use super::Lab;
use crate::error::BenchError;

impl Lab {
    /// Runs `command` (a wrk run with `--latency`, bounded by its `-d`) as a process of the
    /// lab's, so that a stop signal stops it too, and parses what it printed.
    pub fn wrk(&self, command: Command) -> Result<Wrk, BenchError> {
        let mut proc = self.spawn("wrk", command)?;
        let status = proc.wait()?;
        let text = std::fs::read_to_string(proc.log())?;
        Wrk::parse(&text).map_err(|e| BenchError::Io(format!("wrk ({status}): {e}: {}", text.trim_end())))
    }
}

/// What every wrk run reports, with `--latency` or not.
#[derive(Debug, Clone, PartialEq)]
pub struct Totals {
    /// Requests completed ("N requests in").
    pub requests: u64,
    /// "Requests/sec".
    pub rps: f64,
    /// "connect 0, read 0, write 0, timeout 12", when wrk printed socket errors.
    pub socket_errors: Option<String>,
    /// Non-2xx or 3xx answers.
    pub non_2xx: u64,
}

/// What a `wrk --latency` run reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Wrk {
    /// Its requests, rate and errors.
    pub totals: Totals,
    /// The 50% latency, ms.
    pub p50_ms: f64,
    /// The 99% latency, ms.
    pub p99_ms: f64,
}

impl Totals {
    /// Parses the totals of wrk's output (a run without `--latency` has no more), or names
    /// the line it lacks.
    pub fn parse(text: &str) -> Result<Self, String> {
        let after = |prefix: &str| text.lines().map(str::trim).find_map(|l| l.strip_prefix(prefix).map(str::trim));
        let requests = text
            .lines()
            .find(|l| l.contains(" requests in "))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .ok_or("no 'N requests in' line")?;
        let rps = after("Requests/sec:").and_then(|v| v.parse().ok()).ok_or("no Requests/sec line")?;
        Ok(Self {
            requests,
            rps,
            socket_errors: after("Socket errors:").map(str::to_owned),
            non_2xx: after("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0),
        })
    }

    /// "none", or its socket errors and non-2xx count, for a table cell.
    pub fn errors(&self) -> String {
        let mut parts: Vec<String> = self.socket_errors.iter().cloned().collect();
        if self.non_2xx > 0 {
            parts.push(format!("non-2xx {}", self.non_2xx));
        }
        if parts.is_empty() { "none".to_owned() } else { parts.join("; ") }
    }
}

impl Wrk {
    /// Parses the output of a `wrk --latency` run, or names the line it lacks.
    pub fn parse(text: &str) -> Result<Self, String> {
        let percentile = |p: &str| {
            text.lines()
                .map(str::split_whitespace)
                .find_map(|mut f| (f.next() == Some(p)).then(|| f.next().and_then(duration_ms)).flatten())
                .ok_or(format!("no {p} line (run wrk with --latency)"))
        };
        Ok(Self { totals: Totals::parse(text)?, p50_ms: percentile("50%")?, p99_ms: percentile("99%")? })
    }

    /// "none", or its socket errors and non-2xx count, for a table cell.
    pub fn errors(&self) -> String {
        self.totals.errors()
    }
}

/// wrk's durations ("850.00us", "1.00s", "12.31ms", "1.02m") in ms.
fn duration_ms(v: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "Running 5s test @ http://127.0.0.1:41234/single
  1 threads and 500 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.00s     2.31ms   1.02s    89.12%
    Req/Sec   412.11    100.00   500.00     70.00%
  Latency Distribution
     50%    1.00s 
     75%    1.00s 
     90%    1.01s 
     99%   12.50ms
  2000 requests in 5.01s, 200.00KB read
  Socket errors: connect 0, read 0, write 0, timeout 12
  Non-2xx or 3xx responses: 5
Requests/sec:    399.20
Transfer/sec:     39.92KB
";

    #[test]
    fn wrks_report_is_read_with_its_units() {
        let w = Wrk::parse(OUTPUT).unwrap();
        assert_eq!(
            (w.totals.requests, w.totals.rps, w.p50_ms, w.p99_ms, w.totals.non_2xx),
            (2000, 399.2, 1000.0, 12.5, 5)
        );
        assert_eq!(w.errors(), "connect 0, read 0, write 0, timeout 12; non-2xx 5");
        assert_eq!(duration_ms("850.00us"), Some(0.85));
        assert_eq!(duration_ms("1.50m"), Some(90_000.0));
    }

    #[test]
    fn a_report_without_errors_says_none_and_one_without_latency_is_refused() {
        let clean: String = OUTPUT
            .lines()
            .filter(|l| !l.contains("errors") && !l.contains("Non-2xx"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(Wrk::parse(&clean).unwrap().errors(), "none");
        let no_latency: String =
            OUTPUT.lines().filter(|l| !l.contains('%') || l.contains("Stdev")).map(|l| format!("{l}\n")).collect();
        assert!(Wrk::parse(&no_latency).unwrap_err().contains("--latency"));
    }

    /// A run without --latency, as `bench loadgen` makes: no distribution, the totals alone.
    const PLAIN: &str = "Running 3s test @ http://127.0.0.1:40000/sleep?ms=0
  1 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.52ms  210.33us   6.01ms   91.02%
    Req/Sec    66.31k     2.01k   69.90k    80.00%
  197912 requests in 3.00s, 15.10MB read
Requests/sec:  65950.42
Transfer/sec:      5.03MB
";

    #[test]
    fn a_run_without_latency_gives_its_totals() {
        let t = Totals::parse(PLAIN).unwrap();
        assert_eq!(t, Totals { requests: 197_912, rps: 65_950.42, socket_errors: None, non_2xx: 0 });
        assert_eq!(t.errors(), "none");
        assert!(Wrk::parse(PLAIN).unwrap_err().contains("--latency"));
        assert!(Totals::parse("Running 3s test\n").unwrap_err().contains("requests in"));
    }
}
