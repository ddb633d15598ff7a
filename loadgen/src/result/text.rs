//! The wrk-shaped text form of a [`RunResult`]: wrk's lines, plus the percentiles wrk lacks and the
//! server sample.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::RunResult;

impl RunResult {
    /// The wrk-shaped text report (plus the percentiles wrk lacks and the server sample).
    pub fn render_text(&self, latency_distribution: bool) -> String {
        let mut out = String::new();
        let m = &self.mode;
        let _ = writeln!(out, "Running {} test @ {}", human_secs(m.duration_s), m.url);
        let rate = m.rate.map(|r| format!(", open loop at {r} req/s")).unwrap_or_default();
        let ka = if m.keepalive { "" } else { ", no keep-alive" };
        let _ = writeln!(out, "  {} threads and {} connections{rate}{ka}", m.threads, m.connections);
        let _ = writeln!(out, "  Thread Stats   Avg      Stdev     Max   +/- Stdev");
        let h = &self.latency;
        let (mean, stdev) = (h.mean(), h.stdev());
        let within = within_stdev(h, mean, stdev);
        let _ =
            writeln!(out, "    Latency {:>9} {:>9} {:>9} {:>8.2}%", us(mean), us(stdev), us(h.max() as f64), within);
        let (rmean, rstdev, rmax, rwithin) = summary(&self.thread_rps);
        let _ =
            writeln!(out, "    Req/Sec {:>9} {:>9} {:>9} {:>8.2}%", count(rmean), count(rstdev), count(rmax), rwithin);
        if latency_distribution {
            let _ = writeln!(out, "  Latency Distribution");
            for q in [50.0, 75.0, 90.0, 99.0, 99.9, 99.99] {
                let _ = writeln!(out, "  {:>6}% {:>9}", trim_float(q), us(h.value_at_quantile(q / 100.0) as f64));
            }
            let _ = writeln!(out, "  {:>7} {:>9}", "max", us(h.max() as f64));
        }
        let _ =
            writeln!(out, "  {} requests in {:.2}s, {} read", self.requests, self.elapsed_s, bytes(self.bytes as f64));
        let e = &self.errors;
        if e.socket() > 0 {
            let _ = writeln!(
                out,
                "  Socket errors: connect {}, read {}, write {}, timeout {}",
                e.connect, e.read, e.write, e.timeout
            );
        }
        if e.non_2xx() > 0 {
            let codes: Vec<String> = e.status.iter().map(|(c, n)| format!("{c}: {n}")).collect();
            let _ = writeln!(out, "  Non-2xx or 3xx responses: {} ({})", e.non_2xx(), codes.join(", "));
        }
        if let Some(t) = &self.tls {
            let l = &t.latency_us;
            let _ = writeln!(
                out,
                "  TLS handshakes: {} (full {}, resumed {}), latency p50 {} p99 {} max {}",
                t.handshakes,
                t.full,
                t.resumed,
                us(l.p50 as f64),
                us(l.p99 as f64),
                us(l.max as f64)
            );
            if let Some(negotiated) = &t.negotiated {
                let _ = writeln!(out, "  TLS negotiated: {negotiated}");
            }
            if t.failures > 0 {
                let first = t.first_failure.as_deref().unwrap_or("unknown");
                let _ = writeln!(out, "  TLS errors: {}, the first: {first}", t.failures);
            }
        }
        if let Some(s) = &self.server {
            let _ = writeln!(
                out,
                "  Server pid {}: CPU {:.1}% ({:.2} s), peak RSS {:.1} MiB, threads {}",
                s.pid,
                s.cpu_percent,
                s.cpu_seconds,
                s.peak_rss_kib as f64 / 1024.0,
                s.max_threads
            );
        }
        let _ = writeln!(out, "Requests/sec: {:>10.2}", self.rps());
        let per_sec = if self.elapsed_s > 0.0 { self.bytes as f64 / self.elapsed_s } else { 0.0 };
        let _ = writeln!(out, "Transfer/sec: {:>10}", bytes(per_sec));
        out
    }
}

/// Share of values within one standard deviation of the mean, in % (wrk's "+/- Stdev").
fn within_stdev(h: &Histogram<u64>, mean: f64, stdev: f64) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    let (lo, hi) = ((mean - stdev).max(0.0) as u64, (mean + stdev) as u64);
    let inside: u64 =
        h.iter_recorded().filter(|v| (lo..=hi).contains(&v.value_iterated_to())).map(|v| v.count_at_value()).sum();
    100.0 * inside as f64 / h.len() as f64
}

fn summary(values: &[f64]) -> (f64, f64, f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0, 0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let stdev = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let max = values.iter().copied().fold(0.0, f64::max);
    let within = values.iter().filter(|v| (**v - mean).abs() <= stdev).count() as f64 / n * 100.0;
    (mean, stdev, max, within)
}

/// Microseconds as wrk prints them: us, ms, s or m.
fn us(v: f64) -> String {
    if v < 1000.0 {
        format!("{v:.2}us")
    } else if v < 1_000_000.0 {
        format!("{:.2}ms", v / 1000.0)
    } else if v < 60_000_000.0 {
        format!("{:.2}s", v / 1_000_000.0)
    } else {
        format!("{:.2}m", v / 60_000_000.0)
    }
}

fn count(v: f64) -> String {
    if v < 1000.0 { format!("{v:.2}") } else { format!("{:.2}k", v / 1000.0) }
}

fn bytes(v: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = v;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.2}{}", UNITS[unit])
}

fn human_secs(s: f64) -> String {
    if s.fract() == 0.0 { format!("{s:.0}s") } else { format!("{s}s") }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v}");
    s.trim_end_matches(".0").to_owned()
}

#[cfg(test)]
mod tests {
    use crate::result::tests::{result, tls_result};

    #[test]
    fn an_https_report_has_a_handshake_line_and_names_its_first_tls_error() {
        let mut run = tls_result(&[1000], &[1_000, 2_000, 40_000], 2);
        let text = run.render_text(false);
        assert!(text.contains("  TLS handshakes: 3 (full 1, resumed 2), latency p50 "), "{text}");
        assert!(!text.contains("TLS errors"), "{text}");
        assert!(text.contains("  TLS negotiated: TLSv1_3, TLS13_AES_256_GCM_SHA384, X25519\n"), "{text}");
        if let Some(tls) = &mut run.tls {
            tls.failures = 7;
            tls.first_failure = Some("invalid peer certificate: UnknownIssuer".into());
        }
        let text = run.render_text(false);
        assert!(text.contains("  TLS errors: 7, the first: invalid peer certificate: UnknownIssuer"), "{text}");
        assert!(!result(&[1]).render_text(false).contains("TLS"), "an http:// report has no TLS line");
    }

    #[test]
    fn text_report_has_wrk_lines() {
        let text = result(&[1000, 2000, 3000]).render_text(true);
        for line in [
            "Running 1s test @ http://127.0.0.1:1/",
            "Thread Stats",
            "Latency Distribution",
            "99.9%",
            "3 requests in 1.00s",
            "Requests/sec:",
            "Transfer/sec:",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
