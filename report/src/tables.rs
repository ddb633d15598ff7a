//! The four tables of the fixed-load cells (one per mode x endpoint, servers as columns)
//! and how to read them.

use std::fmt::Write as _;

use super::baseline::vs_python_line;
use super::validity::cell_bound;
use super::{Cell, DASH, Footnotes, Run, RunMeta, Scheme, UpstreamTls, cell_name, measured_header, write_table};
use crate::upstream::upstream_per_request;
use loadgen::figures::cpu_per_1k;
use loadgen::result::{Errors, RunResult};

/// "12 (connect 10, 502: 2)", or "0".
fn errors_text(e: &Errors) -> String {
    match e.total() {
        0 => "0".into(),
        total => format!("{total} ({})", e.kinds()),
    }
}

/// Row labels of each table, in order.
pub const ROWS: [&str; 11] = [
    "RPS",
    "Latency (avg)",
    "p99",
    "Connections",
    "Threads (loadgen)",
    "Server threads",
    "Server CPU %",
    "Server CPU per 1k requests",
    "Server peak RSS",
    "Errors",
    "Efficiency (RPS / Little's bound)",
];

/// The rows an HTTPS cell adds under [`ROWS`]: what gosleep counted over its window, per
/// request loadgen answered.
pub const UPSTREAM_TLS_ROWS: [&str; 3] =
    ["Upstream calls per request", "Upstream TLS handshakes per request (full / resumed)", "Upstream TLS failures"];

/// A table's title: the mode's and the endpoint's, after the scheme's for HTTPS (a plain
/// HTTP table keeps the title it had before HTTPS cells existed).
pub(super) fn table_title(scheme: Scheme, mode: &str, endpoint: &str) -> String {
    match scheme {
        Scheme::Http => format!("{mode} — {endpoint}"),
        Scheme::Https => format!("HTTPS upstream — {mode} — {endpoint}"),
    }
}

/// The [`UPSTREAM_TLS_ROWS`] of an HTTPS cell.
fn upstream_column(
    name: &str,
    result: &RunResult,
    upstream: Option<&Cell<UpstreamTls>>,
    notes: &mut Footnotes,
) -> [String; UPSTREAM_TLS_ROWS.len()] {
    let why = match upstream {
        Some(Cell::Valid(u) | Cell::Invalid(u, _)) => match upstream_per_request(u, result) {
            Some(per) => {
                return [
                    format!("{:.2}", per.calls),
                    format!("{:.3} / {:.3}", per.full_handshakes, per.resumed_handshakes),
                    u.tls_failures.to_string(),
                ];
            }
            None => "no answers in the window: nothing to divide the upstream's counts by".to_owned(),
        },
        Some(Cell::Missing(reason)) => format!("{name}: the upstream's counts: {reason}"),
        None => format!("{name}: the upstream's counts were not loaded"),
    };
    let mark = notes.mark(why);
    let failures = match upstream.and_then(Cell::record) {
        Some(u) => u.tls_failures.to_string(),
        _ => format!("{DASH} {mark}"),
    };
    [format!("{DASH} {mark}"), format!("{DASH} {mark}"), failures]
}

/// RPS as a share of the cell's Little's bound, in %, and the bound (the row "Efficiency"),
/// or `None` when the bound is unknown (zero delay, or a pooled server without its pool
/// size in run.json).
pub(super) fn efficiency(meta: &RunMeta, server: &str, result: &RunResult) -> Option<(f64, f64)> {
    let bound = cell_bound(meta, server, result).filter(|b| *b > 0.0)?;
    Some((100.0 * result.rps() / bound, bound))
}

/// The rows of one column (one cell), in [`ROWS`] order.
fn column(meta: &RunMeta, server: &str, result: &RunResult, notes: &mut Footnotes) -> [String; ROWS.len()] {
    let l = &result.latency_summary;
    let rps = result.rps();
    let no_sample = "no server sample (loadgen ran without --server-pid)";
    let sampled = |f: &dyn Fn(&loadgen::result::ServerSample) -> String, notes: &mut Footnotes| match &result.server {
        Some(s) => f(s),
        None => format!("{DASH} {}", notes.mark(no_sample.into())),
    };
    let threads = sampled(&|s| s.max_threads.to_string(), notes);
    let cpu = sampled(&|s| format!("{:.0}%", s.cpu_percent), notes);
    let cpu_per_1k = match cpu_per_1k(result) {
        Some(v) => format!("{v:.3} s"),
        None if result.requests == 0 => {
            format!("{DASH} {}", notes.mark("no answers in the window: no CPU per request".into()))
        }
        None => format!("{DASH} {}", notes.mark(no_sample.into())),
    };
    let rss = sampled(&|s| format!("{:.1} MiB", s.peak_rss_kib as f64 / 1024.0), notes);
    let efficiency = match efficiency(meta, server, result) {
        Some((share, bound)) => format!("{share:.1}% of {bound:.0}"),
        None => {
            let why = if meta.delay_ms == 0 {
                "no Little's bound: run.json gives a zero delay".to_owned()
            } else {
                format!("no Little's bound: run.json has no server_threads.{server}")
            };
            format!("{DASH} {}", notes.mark(why))
        }
    };
    [
        format!("{rps:.1}"),
        format!("{:.1} ms", l.mean_us / 1000.0),
        format!("{:.1} ms", l.p99_us as f64 / 1000.0),
        result.mode.connections.to_string(),
        result.mode.threads.to_string(),
        threads,
        cpu,
        cpu_per_1k,
        rss,
        errors_text(&result.errors),
        efficiency,
    ]
}

/// The rows of an invalid cell that are no result: what was measured of its answers.
/// The rest (load, server sample, errors) still says what happened.
pub(super) const INVALID_ROWS: [&str; 5] =
    ["RPS", "Latency (avg)", "p99", "Server CPU per 1k requests", "Efficiency (RPS / Little's bound)"];

/// One table of a scheme (the plain-HTTP four, or the HTTPS four with the upstream's TLS
/// rows): title, then the Markdown table, then its footnotes.
pub(super) fn render_table(out: &mut String, run: &Run, scheme: Scheme, mode: (&str, &str), endpoint: (&str, &str)) {
    let (meta, cells) = (&run.meta, &run.cells);
    let mut notes = Footnotes::default();
    let mut header = Vec::new();
    let mut columns: Vec<Vec<String>> = Vec::new();
    let mut costs = Vec::new();
    let tls_rows = |name: &str, result: Option<&RunResult>, notes: &mut Footnotes| -> Vec<String> {
        match (scheme, result) {
            (Scheme::Http, _) => Vec::new(),
            (Scheme::Https, Some(r)) => upstream_column(name, r, run.upstream_tls.get(name), notes).into(),
            (Scheme::Https, None) => vec![DASH.to_owned(); UPSTREAM_TLS_ROWS.len()],
        }
    };
    for server in &meta.servers {
        let name = cell_name(scheme, mode.0, endpoint.0, server);
        // Only a valid result has a cost to set against the Python baselines.
        let mut cost = None;
        match cells.get(&name) {
            Some(Cell::Valid(result)) => {
                cost = cpu_per_1k(result);
                header.push(measured_header(meta, &name, server, &mut notes));
                let mut col = column(meta, server, result, &mut notes).to_vec();
                col.extend(tls_rows(&name, Some(result), &mut notes));
                columns.push(col);
            }
            Some(Cell::Invalid(result, why)) => {
                let mark = notes.mark(format!("{name}: invalid, {why}"));
                let mut col = column(meta, server, result, &mut notes);
                for (row, value) in ROWS.iter().zip(col.iter_mut()) {
                    if INVALID_ROWS.contains(row) {
                        *value = format!("invalid {mark}");
                    }
                }
                header.push(format!("{} {mark}", measured_header(meta, &name, server, &mut notes)));
                let mut col = col.to_vec();
                col.extend(tls_rows(&name, Some(result), &mut notes));
                columns.push(col);
            }
            other => {
                let reason = match other {
                    Some(Cell::Missing(reason)) => reason.clone(),
                    _ => "failed: not loaded".to_owned(),
                };
                header.push(format!("{server} {}", notes.mark(format!("{name}: {reason}"))));
                let mut col = vec![DASH.to_owned(); ROWS.len()];
                col.extend(tls_rows(&name, None, &mut notes));
                columns.push(col);
            }
        }
        costs.push((server.as_str(), cost));
    }
    let mut rows = ROWS.to_vec();
    if scheme == Scheme::Https {
        rows.extend(UPSTREAM_TLS_ROWS);
    }
    write_table(out, &table_title(scheme, mode.1, endpoint.1), &header, &rows, &columns, &notes);
    if let Some(line) = vs_python_line(meta.python.as_ref(), "", &costs) {
        let _ = writeln!(out, "{line}\n");
    }
}

pub(super) const HOW_TO_READ: &str = "## How to read this

- **RPS**: answered requests per second over the recorded window (any status; see Errors).
- **Latency (avg)** and **p99**: time from sending a request to reading its whole answer,
  mean and 99th percentile. loadgen runs a closed loop (each connection sends its next
  request when the previous answer arrives), so these include time spent queued in the
  server waiting for a worker, not just the upstream delay.
- **Connections** and **Threads (loadgen)**: loadgen's `-c` and `-t` for the cell.
- **Server threads**: the most OS threads the server process had during the window
  (sampled from /proc); **Server CPU %**: its user + system CPU time in % of one core;
  **Server CPU per 1k requests**: those CPU seconds per 1,000 answers in the window, the
  cost of a request where CPU % is the cost of a load (a server held to a lower RPS, like
  rouille's pool, shows a lower % for a higher cost); each server is at its own RPS here,
  and the cost per request moves with the load, so the fair comparison at one equal load
  is `bench cpu` (docs/benchmarks/servers-cpu.md); **Server peak RSS**: its largest
  resident memory.
- **Errors**: socket errors (connect, write, read, timeout) plus non-2xx answers, by kind.
- **Efficiency**: RPS divided by Little's bound. By Little's law, with C requests in
  flight each waiting D seconds upstream, no server can answer more than C / D requests
  per second (D is the upstream delay; `/multiple` issues its calls concurrently, so it
  waits about D too). 100% means the server adds no waiting of its own.
- **Why a pooled server's bound differs**: a server listed in run.json's `pooled` (a
  blocking server such as rouille) handles each request on a thread of a fixed pool, so at
  most `server_threads.<server>` requests are in flight however many connections loadgen
  opens: its bound is min(C, threads) / D. The async servers hold every connection's
  request at once, so theirs is C / D.
- **Chart**: RPS per server, one group per table, each bar with a dark line at its cell's
  Little's bound (a bar reaching its line adds no waiting of its own); below it, Server CPU
  per 1k requests, the same figure as the row.
- **—**: not measured; the numbered note under the table gives the reason (skipped by
  run_all.sh, a cell that failed, or a result file that is missing or unreadable).
- **invalid**: measured, but not a result: its RPS is over its Little's bound by more
  than the window's edge can explain (about D / window, plus a little for the clocks), which
  no server waiting on the upstream can do, or most of its requests failed (non-2xx or
  socket errors). Its RPS, latency and efficiency are not shown; the note says why.
";

/// How to read the HTTPS tables, after [`HOW_TO_READ`] in a `--tls` run's results.md only.
pub(super) const HOW_TO_READ_TLS: &str = "- **HTTPS upstream** tables: the same cells against the same
  gosleep behind TLS (`./run_all.sh --tls`): each server calls `https://localhost:PORT` and
  trusts only the CA gosleep made for the run (`--upstream-ca`); the Rust servers keep TLS
  sessions for resumption (their default; `--no-tls-resumption` turns it off). Set beside
  the plain-HTTP table of the same cell, the difference is what TLS costs: the server's
  handshakes and encryption, and gosleep's on the client core, which a cell making many
  new connections can exhaust (its upstream then shows TLS failures and fewer calls per
  request than the endpoint makes).
- **Upstream calls per request**: gosleep's `/sleep` requests over the cell's window, per
  request loadgen answered in it: 1 for `/single`, the fan-out for `/multiple`. run_all.sh
  resets gosleep's `/stats` as loadgen's window opens and reads them when loadgen ends, so
  this row says how well the two counts line up; the rows below share its edges.
- **Upstream TLS handshakes per request (full / resumed)**: TLS handshakes gosleep completed
  over the window (less the one of run_all.sh's own read of `/stats`) per request
  answered. A full handshake sets up a new session (key exchange and certificate
  verification); a resumed one presents a ticket of an earlier session and skips the
  certificate. Reusing connections, both should be near 0 (a pool's connections outlive
  many requests); not reusing them, about one per upstream call, resumed where the client
  keeps its sessions and has a ticket left to present.
- **Upstream TLS failures**: handshakes gosleep saw fail over the window (a server that
  could not verify gosleep answers 502 \"upstream TLS failed\", counted in Errors).
";
