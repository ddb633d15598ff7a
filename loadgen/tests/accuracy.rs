//! loadgen against an in-test gosleep on an ephemeral port: physical laws, not speed.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use contract::Running;
use loadgen::command::Cli;
use loadgen::result::RunResult;

/// The accuracy tests measure time and rates on a 2-core machine: run them one at a time
/// (each holds this lock), so that one test's load is not another's noise.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn gosleep(delay_ms: u64) -> Running {
    gosleep::start(gosleep::Config { delay_ms, ..gosleep::Config::default() }).expect("gosleep starts")
}

/// Runs loadgen in-process with wrk-style arguments.
fn run(args: &[&str]) -> RunResult {
    let cli = Cli::parse_from(std::iter::once("loadgen").chain(args.iter().copied()));
    let plan = loadgen::plan(&cli.run).expect("valid plan");
    loadgen::engine::run(&plan).expect("run")
}

/// Runs a testkit future here: the engine under test builds its own runtimes, so these
/// tests are plain `#[test]`s.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

fn stats(addr: SocketAddr) -> gosleep::Stats {
    block_on(gosleep::client::upstream_stats(addr))
}

fn reset(addr: SocketAddr) {
    block_on(gosleep::client::reset_upstream_stats(addr));
}

/// Little's law: 50 connections each waiting 100 ms cannot exceed 500 requests/second,
/// and a closed loop that keeps them busy comes within 10% of it.
#[test]
fn closed_loop_reaches_littles_bound_with_true_latency() {
    let _serial = serial();
    let g = gosleep(100);
    let url = format!("http://{}/sleep", g.addr());
    let r = run(&["-c", "50", "-t", "2", "-d", "2s", &url]);
    let rps = r.rps();
    assert!((450.0..=550.0).contains(&rps), "{rps} req/s against a bound of 500");
    let p50_ms = r.latency.value_at_quantile(0.5) as f64 / 1000.0;
    assert!((100.0..=115.0).contains(&p50_ms), "p50 {p50_ms} ms for a 100 ms upstream");
    assert_eq!(r.errors.socket() + r.errors.non_2xx(), 0, "{:?}", r.errors);
}

/// Open loop: 200 requests/second for 2 s is 400 requests, whatever the latency.
#[test]
fn rate_200_for_2s_sends_400_requests() {
    let _serial = serial();
    let g = gosleep(5);
    let url = format!("http://{}/sleep", g.addr());
    let r = run(&["-c", "10", "-t", "1", "-d", "2s", "--rate", "200", &url]);
    assert!((360..=440).contains(&r.requests), "{} requests at 200/s for 2 s", r.requests);
}

/// A stalled server shows as latency in the open loop (measured from intended times),
/// not as fewer samples: 1 connection at 100/s against 300 ms answers.
#[test]
fn open_loop_charges_queueing_to_latency() {
    let _serial = serial();
    let g = gosleep(300);
    let url = format!("http://{}/sleep", g.addr());
    let r = run(&["-c", "1", "-t", "1", "-d", "2s", "--rate", "100", "--timeout", "10s", &url]);
    let p99_ms = r.latency.value_at_quantile(0.99) as f64 / 1000.0;
    // Each request waits for all before it: by the end of 2 s the delay is well over 1 s.
    assert!(p99_ms > 1000.0, "p99 {p99_ms} ms: coordinated omission not corrected");
}

/// --no-keepalive: one TCP connection per request (gosleep counts both).
#[test]
fn no_keepalive_opens_one_connection_per_request() {
    let _serial = serial();
    let g = gosleep(0);
    reset(g.addr());
    let url = format!("http://{}/sleep?ms=1", g.addr());
    let r = run(&["-c", "4", "-t", "1", "-d", "1s", "--no-keepalive", &url]);
    let s = stats(g.addr());
    let accepted = s.connections_accepted - 1; // minus the /stats connection
    assert!(r.requests > 100, "only {} requests", r.requests);
    // The deadline may cut a connection between connect and send: at most one per
    // loadgen connection opens without a request.
    assert!(accepted >= s.requests && accepted <= s.requests + 4, "{accepted} connections for {} requests", s.requests);
}

/// Keep-alive: the connections are reused.
#[test]
fn keepalive_reuses_its_connections() {
    let _serial = serial();
    let g = gosleep(0);
    reset(g.addr());
    let url = format!("http://{}/sleep?ms=1", g.addr());
    let r = run(&["-c", "4", "-t", "1", "-d", "1s", &url]);
    let s = stats(g.addr());
    assert!(r.requests > 100);
    assert_eq!(s.connections_accepted - 1, 4, "{s:?}");
}

/// Keep-alive, like wrk: every connection is open before the clock starts, so the first
/// requests do not each carry a connection's set-up. 40 connections at 20 requests/second
/// for 1 s send about 20 requests, yet all 40 connections are there.
#[test]
fn keepalive_opens_every_connection_before_the_clock_starts() {
    let _serial = serial();
    let g = gosleep(0);
    reset(g.addr());
    let url = format!("http://{}/sleep?ms=1", g.addr());
    let r = run(&["-c", "40", "-t", "1", "--rate", "20", "-d", "1s", "--warmup", "0s", &url]);
    let s = stats(g.addr());
    assert!(r.requests <= 30, "{} requests at 20/s for 1 s", r.requests);
    // The stats request itself is one more connection.
    assert_eq!(s.connections_accepted - 1, 40, "{s:?}");
}

/// A server that stops mid-run: loadgen still ends on time and counts the errors by kind.
#[test]
fn server_stopping_mid_run_ends_on_time_with_errors_by_kind() {
    let _serial = serial();
    let g = gosleep(0);
    let url = format!("http://{}/sleep?ms=20", g.addr());
    let stopper = std::thread::spawn(move || {
        // Mid-run: once the run has had some answers (whenever the machine gets to them),
        // well before its 2 s are over.
        testkit::wait_until(Duration::from_secs(10), "8 requests of the run at gosleep", || {
            stats(g.addr()).requests >= 8
        });
        g.stop().expect("stop gosleep");
    });
    let t = Instant::now();
    let r = run(&["-c", "4", "-t", "1", "-d", "2s", "--timeout", "500ms", &url]);
    let took = t.elapsed();
    stopper.join().expect("stopper");
    assert!(took < Duration::from_secs(4), "ran {took:?} for -d 2s");
    assert!(r.requests > 0);
    assert!(r.errors.connect > 0, "no connect errors after the server stopped: {:?}", r.errors);
}

/// A server that accepts and never answers: timeouts, and the run still ends on time.
#[test]
fn hanging_server_gives_timeouts_not_a_hang() {
    let _serial = serial();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let t = Instant::now();
    let r = run(&["-c", "2", "-t", "1", "-d", "1500ms", "--timeout", "300ms", &url]);
    assert!(t.elapsed() < Duration::from_secs(4), "ran {:?}", t.elapsed());
    assert_eq!(r.requests, 0);
    assert!(r.errors.timeout >= 2, "{:?}", r.errors);
    drop(listener);
}

/// --server-pid samples the process: here the test process, which runs gosleep.
#[test]
fn server_pid_sampling_reports_cpu_rss_and_threads() {
    let _serial = serial();
    let g = gosleep(0);
    let url = format!("http://{}/sleep", g.addr());
    let pid = std::process::id().to_string();
    let r = run(&["-c", "20", "-t", "1", "-d", "1s", "--server-pid", &pid, &url]);
    let s = r.server.expect("a server sample");
    assert!(s.cpu_percent > 0.0 && s.peak_rss_kib > 1000 && s.max_threads >= 2, "{s:?}");
}

const BIN: &str = env!("CARGO_BIN_EXE_loadgen");

/// Bad input: one line on stderr, exit 2, no panic.
#[test]
fn bad_input_is_one_line_and_exit_2() {
    let _serial = serial();
    for args in [
        &["not a url"][..],
        &["-c", "0", "http://127.0.0.1:9/"],
        &["-c", "2", "-t", "3", "http://127.0.0.1:9/"],
        &["ftp://127.0.0.1/"],
        &["-d", "soon", "http://127.0.0.1:9/"],
        &["-c", "1000000", "http://127.0.0.1:9/"],
        &["--server-pid", "4000000000", "http://127.0.0.1:9/"],
        &[],
        &["http://127.0.0.1:99999/"],
        &["-H", "X-A: a\r\nX-Injected: 1", "http://127.0.0.1:9/"],
        &["http://user:pw@127.0.0.1:9/"],
        &["127.0.0.1:9/single"],
        &["-d", "500000000000y", "http://127.0.0.1:9/"],
        &["--warmup", "500000000000y", "http://127.0.0.1:9/"],
        &["--timeout", "500000000000y", "http://127.0.0.1:9/"],
        &["--rate", "1e-300", "http://127.0.0.1:9/"],
    ] {
        let out = Command::new(BIN).args(args).output().expect("run loadgen");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let out = Command::new(BIN).args(["-c", "1000000", "http://127.0.0.1:9/"]).output().expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("ulimit -n"));
    // Input the URL parser or hyper would silently change is refused, saying what is wrong.
    for (args, says) in [
        (&["http://127.0.0.1:99999/"][..], "port must be 1 to 65535"),
        (&["-H", "X-A: a\r\nX-Injected: 1", "http://127.0.0.1:9/"], "CR or LF"),
        (&["http://user:pw@127.0.0.1:9/"], "no credentials"),
        (&["127.0.0.1:9/single"], "URL 127.0.0.1:9/single has no scheme: write http://127.0.0.1:9/single"),
    ] {
        let out = Command::new(BIN).args(args).output().expect("run loadgen");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// --json files merge: counts add up, histograms merge.
#[test]
fn json_results_merge_from_the_command_line() {
    let _serial = serial();
    let g = gosleep(0);
    let url = format!("http://{}/sleep?ms=5", g.addr());
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let files: Vec<_> = ["a.json", "b.json", "merged.json"].iter().map(|f| dir.join(f)).collect();
    for f in &files[..2] {
        let out = Command::new(BIN)
            .args(["-c", "2", "-t", "1", "-d", "500ms", "--json"])
            .arg(f)
            .arg(&url)
            .output()
            .expect("run");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = Command::new(BIN).arg("merge").args(&files[..2]).arg("--json").arg(&files[2]).output().expect("merge");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let read = |p: &std::path::Path| -> RunResult {
        serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json")
    };
    let (a, b, m) = (read(&files[0]), read(&files[1]), read(&files[2]));
    assert_eq!(m.requests, a.requests + b.requests);
    assert_eq!(m.latency.len(), a.latency.len() + b.latency.len());
    assert_eq!(m.mode.connections, 4);
    // A run of another mode (no keep-alive) is refused, naming the mismatch.
    let close = dir.join("close.json");
    let out = Command::new(BIN)
        .args(["-c", "2", "-t", "1", "-d", "300ms", "--no-keepalive", "--json"])
        .arg(&close)
        .arg(&url)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(BIN).arg("merge").arg(&files[0]).arg(&close).output().expect("merge");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.trim_end().lines().count() == 1 && err.contains("keep-alive"), "{err}");
}

/// `loadgen --help` explains every flag.
#[test]
fn help_explains_every_flag() {
    let _serial = serial();
    let out = Command::new(BIN).arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--connections",
        "--threads",
        "--duration",
        "--timeout",
        "--header",
        "--latency",
        "--rate",
        "--no-keepalive",
        "--warmup",
        "--json",
        "--server-pid",
        "merge",
        "capacity",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
    let out = Command::new(BIN).args(["capacity", "--help"]).output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--slo-p99",
        "--start-rate",
        "--max-rate",
        "--factor",
        "--precision",
        "--duration",
        "--warmup",
        "--timeout",
        "--threads",
        "--no-keepalive",
        "--header",
        "--server-pid",
        "--upstream-pid",
        "--pool",
        "--max-connections",
        "--json",
    ] {
        assert!(help.contains(flag), "capacity --help lacks {flag}");
    }
}
