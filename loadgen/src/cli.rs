//! Command line: wrk's flags (`-c -t -d --timeout -H --latency URL`) plus what wrk lacks.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use hyper::Uri;
use hyper::header::{HeaderName, HeaderValue};

/// A wrk-compatible HTTP/1.1 load generator that measures honestly: HDR-histogram
/// percentiles, open-loop `--rate` with coordinated-omission correction, errors by kind,
/// and the server's CPU and memory sampled from /proc. A run with no 2xx answer in its
/// window prints its report and writes its `--json`, then exits 1: it measured nothing.
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Cli {
    /// The load run (when no subcommand is given).
    #[command(flatten)]
    pub run: RunOpts,

    /// Other tasks.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Merge result files (`--json`) of runs made at the same time from several machines:
    /// sums counts and errors, merges the latency histograms, prints the merged report.
    Merge {
        /// Result files written by `--json`.
        #[arg(required = true, num_args = 2..)]
        files: Vec<PathBuf>,
        /// Write the merged result here as JSON too.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// Find the server's capacity: the highest open-loop rate it answers within a p99
    /// latency SLO (`--slo-p99`, or twice the first, light step's p50), with no errors. Rates
    /// rise geometrically from `--start-rate`, then bisect; each step is an open-loop run
    /// (`-d` recorded after `--warmup`) on connections sized from the rate and the SLO.
    /// Prints one line per step and a verdict naming what bound it (cpu, pool, concurrency,
    /// fd budget, client, max rate); exits 1 when even the first step fails.
    Capacity(CapacityOpts),
    /// Render a run_all.sh results directory (`DIR/run.json` plus one result file per
    /// mode, endpoint and server) into the Markdown tables of DIR/results.md (or
    /// `--output`) and SVG charts next to it (same path, `.svg`). Unmeasured cells show "—"
    /// and the reason; impossible ones (over Little's bound, or mostly errors) show
    /// "invalid" and the reason, and make the command exit 1 after writing.
    Report {
        /// The directory run_all.sh wrote.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The Markdown file to write [default: DIR/results.md]; the charts go next to it,
        /// same stem: `.svg`, and `-capacity.svg` when the run made capacity searches.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Print values of a JSON file, one a line, by path (`latency_summary.p99_us`), or a
    /// figure derived from a run's result (`cpu_per_1k_requests`); a missing path exits 1.
    Field(crate::field::FieldOpts),
    /// Write a run_all.sh run's record (run.json, which `report` reads) from flags.
    Record(Box<crate::record::RecordOpts>),
}

/// `loadgen capacity`.
#[derive(Debug, Clone, Args)]
pub struct CapacityOpts {
    /// The p99 latency SLO a step must meet (default: twice the light step's p50).
    #[arg(long, value_parser = parse_duration, value_name = "T")]
    pub slo_p99: Option<Duration>,

    /// The first, light step's rate, requests/second.
    #[arg(long, default_value = "100", value_parser = parse_rate, value_name = "R")]
    pub start_rate: f64,

    /// Never offer more than this, requests/second.
    #[arg(long, default_value = "1000000", value_parser = parse_rate, value_name = "R")]
    pub max_rate: f64,

    /// Factor between one rising step's rate and the next (greater than 1).
    #[arg(long, default_value_t = 2.0, value_name = "F")]
    pub factor: f64,

    /// The rate grid's step: every rate is --start-rate x r^k, r the nearest to 1 + P with a
    /// whole number of steps in --factor, and the bisection ends with the passing and
    /// failing rates one step apart. The default puts 8 steps in a doubling (2^(1/8)).
    #[arg(long, default_value_t = 0.0905, value_name = "P")]
    pub precision: f64,

    /// Each step's recorded window.
    #[arg(short = 'd', long, default_value = "3s", value_parser = parse_duration, value_name = "T")]
    pub duration: Duration,

    /// Each step's unrecorded warm-up before its window.
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "T")]
    pub warmup: Duration,

    /// Per-request timeout; a request that takes longer counts as a timeout error.
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "T")]
    pub timeout: Duration,

    /// Threads (tokio workers) to spread the connections over.
    #[arg(short = 't', long, default_value_t = 1, value_name = "N")]
    pub threads: usize,

    /// A new connection for every request (`Connection: close`).
    #[arg(long)]
    pub no_keepalive: bool,

    /// Extra request header, "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_parser = parse_header, value_name = "H")]
    pub headers: Vec<(String, String)>,

    /// The server's process: the CPU of the process and its descendants per step, and the
    /// cores the process may use (its affinity and cgroup quota), tell a CPU-bound server
    /// from a concurrency cap.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,

    /// The upstream's process: a step where the process and its descendants (or loadgen)
    /// nearly fill its core is client-bound, never the server's figure.
    #[arg(long, value_name = "PID")]
    pub upstream_pid: Option<u32>,

    /// The server is a thread pool of N: a cap that is not its CPU is then named "pool".
    #[arg(long, value_name = "N")]
    pub pool: Option<usize>,

    /// Never open more connections than this (default: what the fd limit allows).
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,

    /// Write the whole search (every step's result) as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Target URL (http:// only).
    #[arg(value_name = "URL")]
    pub url: String,
}

/// One load run.
#[derive(Debug, Clone, Args)]
pub struct RunOpts {
    /// Connections to keep open (closed loop: each sends its next request when the
    /// previous answer arrives).
    #[arg(short = 'c', long, default_value_t = 10, value_name = "N")]
    pub connections: usize,

    /// Threads (tokio workers) to spread the connections over.
    #[arg(short = 't', long, default_value_t = 2, value_name = "N")]
    pub threads: usize,

    /// Recorded duration of the run (e.g. 30s, 2m, 500ms).
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration, value_name = "T")]
    pub duration: Duration,

    /// Per-request timeout; a request that takes longer counts as a timeout error.
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "T")]
    pub timeout: Duration,

    /// Extra request header, "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_parser = parse_header, value_name = "H")]
    pub headers: Vec<(String, String)>,

    /// Print the latency distribution (percentiles).
    #[arg(long)]
    pub latency: bool,

    /// Open loop: R requests per second in total, at evenly spaced intended times; latency
    /// is measured from each request's intended send time (coordinated-omission
    /// correction, as wrk2 does), so a stalled server shows as latency, not as fewer
    /// samples.
    #[arg(short = 'R', long, value_name = "R", value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// A new connection for every request (`Connection: close`): the client side of the
    /// "not reuse connections" tables.
    #[arg(long)]
    pub no_keepalive: bool,

    /// Traffic sent before the recorded window, not recorded (connections are opened and
    /// warmed up; e.g. 2s).
    #[arg(long, default_value = "0s", value_parser = parse_duration, value_name = "T")]
    pub warmup: Duration,

    /// Write the whole result as JSON (mode, counts, errors, serialized histogram).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Sample the process and its descendants (all their threads) from /proc during the
    /// recorded window: CPU % (user + system), peak RSS, thread count, each summed over
    /// them.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,

    /// Target URL (http:// only).
    #[arg(required = true, value_name = "URL")]
    pub url: Option<String>,
}

/// Parses `500ms`, `2s`, `1.5s`, `3m`, `1h`, or a bare number of seconds (as wrk does).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("not a duration: {s:?} (try 30s, 500ms, 2m)"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "us" => value / 1_000_000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in {s:?} (use us, ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("not a duration: {s:?}"))
}

/// Parses `Name: value`. A name or value hyper would refuse to send (a CR or LF, which
/// would split the request, or another control byte) is an error here, not a header
/// silently left out of every request.
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once(':').ok_or_else(|| format!("a header is \"Name: value\", got {s:?}"))?;
    let (name, value) = (name.trim(), value.trim());
    check_header(name, value)?;
    Ok((name.to_owned(), value.to_owned()))
}

/// Whether hyper can send this header as it is (see [`parse_header`]).
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    if name.is_empty() || HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(format!("not a header name: {name:?}"));
    }
    if value.contains(['\r', '\n']) {
        return Err(format!("header {name} has a CR or LF in its value: {value:?}"));
    }
    if HeaderValue::from_str(value).is_err() {
        return Err(format!("header {name} has a control character in its value: {value:?}"));
    }
    Ok(())
}

/// The port of an `http://` URL that names none.
const HTTP_PORT: u16 = 80;

/// A checked target URL: what loadgen connects to and sends is exactly what it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL (its authority is the Host header, its path and query the request target).
    pub uri: Uri,
    /// The host, IPv6 brackets removed, to resolve.
    pub host: String,
    /// The port given, or 80.
    pub port: u16,
}

/// Parses an `http://host[:port]/path?query` URL, refusing any that the URL parser would
/// silently change: an out-of-range or empty port (which reads as no port, so port 80), a
/// user:password@ (loadgen sends no credentials; it would only end up in the Host
/// header), a #fragment (never sent), or a missing scheme (the message gives the URL to
/// write instead); and any scheme but http, saying so (loadgen speaks no TLS).
pub fn parse_url(url: &str) -> Result<Target, String> {
    match scheme(url) {
        None => {
            let fixed = format!("http://{url}");
            return Err(format!("URL {} has no scheme: write {}", shown(url), shown(&fixed)));
        }
        Some(s) if s.eq_ignore_ascii_case("http") => {}
        Some(s) if s.eq_ignore_ascii_case("https") => {
            return Err(format!("URL {} is https: loadgen supports only http:// (it speaks no TLS)", shown(url)));
        }
        Some(s) => return Err(format!("URL {} has the scheme {s}://: loadgen supports only http://", shown(url))),
    }
    if url.contains('#') {
        return Err(format!("{url:?} has a #fragment, which is never sent: remove it"));
    }
    let uri: Uri = url.parse().map_err(|e| format!("not a URL: {url:?} ({e})"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => return Err(format!("only http:// URLs are supported, got {other}://")),
        None => return Err(format!("not a URL: {url:?} (expected http://host[:port]/path)")),
    }
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    if authority.contains('@') {
        return Err(format!("{url:?} has a user@ part: loadgen sends no credentials, remove it"));
    }
    let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(|| format!("no host in {url:?}"))?;
    // What follows the host in the authority is nothing or ":port"; the parser reads an
    // invalid port as no port at all.
    let port = match authority.strip_prefix(host).unwrap_or_default() {
        "" => HTTP_PORT,
        rest => match rest.strip_prefix(':').map(str::parse::<u16>) {
            Some(Ok(port)) if port > 0 => port,
            _ => return Err(format!("{url:?}: the port must be 1 to 65535, got {:?}", rest.trim_start_matches(':'))),
        },
    };
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    Ok(Target { uri, host, port })
}

/// The scheme of `url` (what precedes its first `://`, when that is a scheme's letters),
/// or `None`: `127.0.0.1:8080/a?u=http://b` has none.
fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))).then_some(scheme)
}

/// `s` as given, or quoted and escaped when it holds a space or a control character (which
/// could split the one line of an error message, or hide where the text ends).
fn shown(s: &str) -> String {
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) { format!("{s:?}") } else { s.to_owned() }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!("a rate is a positive number of requests per second, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn durations_parse_like_wrk() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "s", "ten", "10x", "-1s", "1..2s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn headers_parse_name_and_value() {
        assert_eq!(parse_header("X-Test: a b"), Ok(("X-Test".into(), "a b".into())));
        assert_eq!(parse_header("Accept:*/*"), Ok(("Accept".into(), "*/*".into())));
        for bad in ["no colon", ": v", "bad name: v"] {
            assert!(parse_header(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_header_with_cr_or_lf_is_an_error_not_dropped() {
        for bad in ["X-A: a\r\nX-Injected: 1", "X-A: a\nb", "X-A: a\rb", "X-A: a\u{0}b"] {
            let e = parse_header(bad).expect_err(bad);
            assert!(e.contains("X-A"), "{e}");
        }
        assert_eq!(parse_header("X-A: a\tb"), Ok(("X-A".into(), "a\tb".into())), "a tab is a legal value byte");
    }

    #[test]
    fn a_port_over_65535_is_an_error_not_port_80() {
        for bad in ["http://127.0.0.1:99999/", "http://127.0.0.1:65536/", "http://127.0.0.1:0/", "http://127.0.0.1:/"] {
            let e = parse_url(bad).expect_err(bad);
            assert!(e.contains("port must be 1 to 65535"), "{bad}: {e}");
        }
        let t = parse_url("http://127.0.0.1:65535/single?x=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.uri.path_and_query().unwrap().as_str()),
            ("127.0.0.1", 65535, "/single?x=1")
        );
        assert_eq!(parse_url("http://localhost/").unwrap().port, 80);
        let v6 = parse_url("http://[::1]:8080/").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 8080));
    }

    #[test]
    fn userinfo_in_the_url_is_an_error_not_a_host_header() {
        for bad in ["http://user:pw@127.0.0.1:8080/", "http://user@127.0.0.1/"] {
            let e = parse_url(bad).expect_err(bad);
            assert!(e.contains("user@") && e.contains("no credentials"), "{e}");
        }
    }

    #[test]
    fn a_url_without_a_scheme_says_which_url_to_write_instead() {
        for (url, fixed) in [
            ("127.0.0.1:8080/single", "http://127.0.0.1:8080/single"),
            ("localhost:8080", "http://localhost:8080"),
            ("127.0.0.1:8080/a?u=http://b", "http://127.0.0.1:8080/a?u=http://b"),
        ] {
            assert_eq!(parse_url(url).unwrap_err(), format!("URL {url} has no scheme: write {fixed}"));
        }
        // A URL that could break the message's one line is quoted, escaped.
        assert_eq!(
            parse_url("127.0.0.1/a\nb").unwrap_err(),
            "URL \"127.0.0.1/a\\nb\" has no scheme: write \"http://127.0.0.1/a\\nb\""
        );
    }

    #[test]
    fn an_https_or_other_scheme_says_only_http_is_supported() {
        assert_eq!(
            parse_url("https://127.0.0.1/").unwrap_err(),
            "URL https://127.0.0.1/ is https: loadgen supports only http:// (it speaks no TLS)"
        );
        assert_eq!(
            parse_url("ftp://127.0.0.1/").unwrap_err(),
            "URL ftp://127.0.0.1/ has the scheme ftp://: loadgen supports only http://"
        );
        assert_eq!(parse_url("HTTP://127.0.0.1:9/").map(|t| t.port), Ok(9), "a scheme is case-insensitive");
    }

    #[test]
    fn a_fragment_is_an_error_not_silently_dropped() {
        assert!(parse_url("http://127.0.0.1:1/a#b").unwrap_err().contains("#fragment"));
    }

    #[test]
    fn wrk_style_command_lines_parse() {
        let cli = Cli::parse_from([
            "loadgen",
            "-c",
            "1000",
            "-t",
            "2",
            "-d",
            "30s",
            "--timeout",
            "30s",
            "--latency",
            "-H",
            "A: b",
            "http://127.0.0.1:8080/single",
        ]);
        let run = cli.run;
        assert_eq!((run.connections, run.threads, run.duration), (1000, 2, Duration::from_secs(30)));
        assert!(run.latency && cli.command.is_none());
        assert_eq!(run.url.as_deref(), Some("http://127.0.0.1:8080/single"));
        let cli = Cli::parse_from(["loadgen", "merge", "a.json", "b.json"]);
        assert!(matches!(cli.command, Some(Command::Merge { .. })));
    }

    #[test]
    fn a_bare_capacity_url_gets_the_documented_defaults() {
        let cli = Cli::parse_from(["loadgen", "capacity", "http://127.0.0.1:8080/single"]);
        let Some(Command::Capacity(o)) = cli.command else { panic!("not capacity: {cli:?}") };
        assert_eq!((o.slo_p99, o.start_rate, o.max_rate, o.factor, o.precision), (None, 100.0, 1e6, 2.0, 0.0905));
        assert_eq!((o.duration, o.warmup, o.threads), (Duration::from_secs(3), Duration::from_secs(1), 1));
        assert_eq!((o.server_pid, o.upstream_pid, o.pool, o.max_connections), (None, None, None, None));
        let cli = Cli::parse_from([
            "loadgen",
            "capacity",
            "--slo-p99",
            "200ms",
            "--pool",
            "64",
            "--upstream-pid",
            "7",
            "-H",
            "A: b",
            "http://127.0.0.1:8080/single",
        ]);
        let Some(Command::Capacity(o)) = cli.command else { panic!("not capacity") };
        assert_eq!((o.slo_p99, o.pool, o.upstream_pid), (Some(Duration::from_millis(200)), Some(64), Some(7)));
        assert_eq!(o.headers, [("A".to_owned(), "b".to_owned())]);
    }

    #[test]
    fn report_takes_a_dir_and_an_optional_output() {
        let cli = Cli::parse_from(["loadgen", "report", "out/run1"]);
        let Some(Command::Report { dir, output }) = cli.command else { panic!("not report: {cli:?}") };
        assert_eq!((dir, output), (PathBuf::from("out/run1"), None), "no --output: the report goes into DIR");
        let cli = Cli::parse_from(["loadgen", "report", "d", "--output", "x/r.md"]);
        assert!(matches!(cli.command, Some(Command::Report { output: Some(o), .. }) if o == Path::new("x/r.md")));
    }
}
