//! `./run_all.sh` as its help says it behaves: the flags it has always taken, bad input,
//! a run with nothing measured, `--python` without python3, an HTTPS run, and a run whose
//! upstream dies. Each runs the real launcher, which builds the release workspace first
//! (nothing to do once it is built; on a fresh checkout the first of these pays that
//! build). One run at a time: they pin processes to the same cores.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `./run_all.sh` as a user's shell starts it: without the variables cargo set for this
/// test (its package's CARGO_*, the test's library path), which the launcher's own cargo
/// would take for a change and rebuild the release workspace over (2-3 minutes each time).
fn launcher() -> Command {
    let mut command = Command::new(root().join("run_all.sh"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if (name.starts_with("CARGO") && name != "CARGO_HOME")
            || name == "LD_LIBRARY_PATH"
            || name == "RUST_RECURSION_COUNT"
        {
            command.env_remove(name.as_ref());
        }
    }
    command
}

fn run_all(args: &[&str]) -> Output {
    launcher().args(args).output().expect("run ./run_all.sh")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The repository's published files, to check that a run leaves them alone.
fn published() -> Vec<Option<Vec<u8>>> {
    ["results.md", "results.svg", "results-capacity.svg"].iter().map(|f| std::fs::read(root().join(f)).ok()).collect()
}

/// PIDs of processes of this checkout's binaries (their working directory is the root)
/// still running: a check, not a kill.
fn left_running() -> Vec<u32> {
    let root = std::fs::canonicalize(root()).expect("root");
    let Ok(procs) = std::fs::read_dir("/proc") else { return vec![] };
    procs
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = text(&cmd);
            let ours = ["target/release/gosleep", "target/release/loadgen", "target/release/server-"]
                .iter()
                .any(|b| cmd.contains(b));
            ours && std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|c| c == root)
        })
        .collect()
}

#[test]
fn help_names_every_flag_run_all_sh_has_always_taken_and_the_rosters_servers() {
    let _serial = serial();
    let out = run_all(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for flag in [
        "--quick",
        "--servers",
        "--python",
        "--connections",
        "--duration",
        "--delay-ms",
        "--fanout",
        "--tls",
        "--no-capacity",
        "--capacity-delay-ms",
        "--capacity-quota",
        "--capacity-window",
        "--output",
        "--publish",
        "--help",
    ] {
        let described = help.lines().any(|l| {
            let l = l.trim_start().trim_start_matches("-h, ");
            l.strip_prefix(flag).is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
        });
        assert!(described, "--help does not describe {flag}:\n{help}");
    }
    assert!(help.lines().any(|l| l.contains("--connections <N>") && l.contains("[1000")), "{help}");
    let roster = Command::new(root().join("target/release/bench")).arg("roster").output().expect("bench roster");
    let names = text(&roster.stdout);
    assert!(!names.trim().is_empty());
    assert!(help.contains(&format!("from: {}", names.trim())), "--help does not offer the roster's servers ({names})");
}

#[test]
fn a_bad_flag_or_value_exits_2_with_one_line_naming_it() {
    let _serial = serial();
    for (args, want) in [
        (&["--servers"][..], "--servers needs a value"),
        (&["--servers", "axum,"], "--servers axum, has an empty or malformed name"),
        (&["--servers", "nginx"], "unknown server nginx"),
        (&["--connections", "--quick"], "--connections needs a value"),
        (&["--duration", "0"], "--duration takes a positive integer, not 0"),
        (&["--capacity-window", "0"], "--capacity-window takes a positive number of seconds"),
        (&["--bogus"], "unknown argument --bogus"),
        (&["--tls=1"], "unknown argument --tls=1"),
    ] {
        let out = run_all(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // The benchmarks beside the run: --help gives --quick's default, a bad flag exits 2.
    let bench = root().join("target/release/bench");
    for sub in ["servers", "cpu", "latency", "recovery", "tls-profile"] {
        let help = text(&Command::new(&bench).args([sub, "--help"]).output().expect("help").stdout);
        assert!(
            help.lines().any(|l| l.trim_start().starts_with("--quick ") && l.contains('[')),
            "bench {sub} --help: {help}"
        );
        let bogus = Command::new(&bench).args([sub, "--bogus"]).output().expect("bogus");
        assert_eq!(bogus.status.code(), Some(2), "bench {sub} --bogus");
    }
}

#[test]
fn a_run_with_nothing_measured_exits_1_says_so_and_writes_no_results_md() {
    let _serial = serial();
    let before = published();
    let dir = tempfile::tempdir().expect("temp dir");
    let out_dir = dir.path().join("run");
    // Every cell needs more descriptors than the limit: each is skipped.
    let out = run_all(&[
        "--servers",
        "hyper",
        "--no-capacity",
        "--connections",
        "30000",
        "--output",
        out_dir.to_str().expect("utf-8"),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("run_all.sh: no cell was measured (4 skipped, 0 failed"), "{stderr}");
    let first = stdout.lines().find(|l| l.starts_with("-> [1/4] no-reuse-single-hyper: ")).expect("a progress line");
    assert!(first.ends_with(" left)") && first.contains("(about "), "{first}");
    assert!(!out_dir.join("results.md").exists(), "results.md written for a run with nothing measured");
    assert_eq!(published(), before, "a run changed the repository's results");
}

#[test]
fn python_without_python3_skips_its_cells_with_the_reason_in_run_json() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let stand_in = dir.path().join("no-python");
    std::fs::write(&stand_in, "#!/bin/sh\necho \"python: no python3 on PATH (a test's stand-in)\" >&2\nexit 3\n")
        .expect("stand-in");
    Command::new("chmod").arg("+x").arg(&stand_in).status().expect("chmod");
    let out_dir = dir.path().join("run");
    let out = launcher()
        .args(["--servers", "hyper", "--python", "--no-capacity", "--connections", "30000", "--output"])
        .arg(&out_dir)
        .env("BENCH_PYTHON_SETUP", &stand_in)
        .output()
        .expect("run_all.sh");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("== python: not here (no python3 on PATH (a test's stand-in))"), "{stdout}");
    for s in ["flask", "starlette", "tornado"] {
        let want = format!("-- reuse-multiple-{s}: skipped (the Python servers did not run: no python3 on PATH");
        assert!(stdout.contains(&want), "{stdout}");
    }
    assert!(stdout.lines().any(|l| l.starts_with("-> [16/16] reuse-multiple-tornado: ")), "{stdout}");
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("run.json")).expect("run.json")).expect("json");
    assert_eq!(run["python"]["servers"], serde_json::json!(["flask", "starlette", "tornado"]));
    assert_eq!(run["python"]["versions"], serde_json::Value::Null);
    assert_eq!(run["python"]["unavailable"], "no python3 on PATH (a test's stand-in)");
}

/// One server, no searches, the shortest cells, and 20 connections: a /multiple cell then
/// opens 100 upstream connections at once over TLS, whose handshakes gosleep (on loadgen's
/// core) finishes well within the warm-up. /single's counts are physical facts with wide
/// margins: a server that does not reuse its upstream connections makes one handshake
/// (full or resumed) per upstream call, one that does makes next to none in the window.
#[test]
fn a_tls_run_has_the_https_tables_and_reuse_means_almost_no_handshakes() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let out_dir = dir.path().join("run");
    let out = run_all(&[
        "--quick",
        "--tls",
        "--servers",
        "hyper",
        "--no-capacity",
        "--duration",
        "1",
        "--connections",
        "20",
        "--output",
        out_dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let md = std::fs::read_to_string(out_dir.join("results.md")).expect("results.md");
    for table in
        ["HTTPS upstream — Not reuse connections — Single req", "HTTPS upstream — Reuse connections — Multi req"]
    {
        assert!(md.contains(&format!("### {table}")), "no table {table}");
    }
    assert!(
        md.lines()
            .any(|l| l.starts_with("| Upstream TLS handshakes per request (full / resumed) | ") && l.contains(" / ")),
        "{md}"
    );
    assert!(md.contains("| Upstream TLS | "), "the TLS stack is not named");
    let per_call = |cell: &str| {
        let path = out_dir.join(format!("{cell}.upstream.json"));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("counts")).expect("json");
        let n = |k: &str| v[k].as_f64().unwrap_or(0.0);
        (n("tls_handshakes_full") + n("tls_handshakes_resumed")) / n("requests")
    };
    for cell in ["no-reuse-single", "reuse-single", "no-reuse-multiple", "reuse-multiple"] {
        assert!(out_dir.join(format!("https-{cell}-hyper.upstream.json")).exists(), "{cell} has no upstream counts");
        assert!(!out_dir.join(format!("{cell}-hyper.upstream.json")).exists(), "a plain-HTTP cell has TLS counts");
    }
    let not_reused = per_call("https-no-reuse-single-hyper");
    assert!((0.5..=1.5).contains(&not_reused), "{not_reused} handshakes per call without reuse, not about 1");
    let reused = per_call("https-reuse-single-hyper");
    assert!(reused < 0.2, "{reused} handshakes per call with reuse, not next to none");
}

/// While the second cell runs, its gosleep is killed: the run stops by itself, naming the
/// cell and what failed, prints no figure for it, writes no results.md or run.json, and
/// leaves nothing running.
#[test]
fn a_dead_upstream_stops_the_run_naming_the_cell_and_nothing_is_left_running() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let out_dir = dir.path().join("run");
    let cell = "no-reuse-multiple-hyper";
    let mut child = launcher()
        .args(["--quick", "--servers", "hyper", "--output"])
        .arg(&out_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run_all.sh");
    let stderr = child.stderr.take().expect("stderr");
    let err_reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut log = String::new();
    // The release build may come first: a generous bound.
    for line in lines.by_ref() {
        let line = line.expect("line");
        log += &line;
        log.push('\n');
        if line.starts_with("-> [") && line.contains(&format!("] {cell}:")) {
            break;
        }
    }
    assert!(log.contains(&format!("] {cell}:")), "the cell never started: {log}");
    // Past its start-up checks, inside its warm-up and window (3 s with --quick).
    std::thread::sleep(Duration::from_secs(1));
    let pid = std::fs::read_to_string(out_dir.join("gosleep.pid")).expect("gosleep.pid").trim().to_owned();
    let cmdline = text(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default());
    assert!(cmdline.contains("release/gosleep"), "gosleep.pid ({pid}) is not a running gosleep: {cmdline}");
    assert!(Command::new("kill").args(["-KILL", &pid]).status().expect("kill").success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "run_all.sh still running 60 s after gosleep was killed");
        std::thread::sleep(Duration::from_millis(100));
    };
    for line in lines {
        log += &line.unwrap_or_default();
        log.push('\n');
    }
    let err = err_reader.join().unwrap_or_default();
    assert!(!status.success(), "run_all.sh exited 0 with a dead upstream");
    let want = format!(
        "run_all.sh: stopped after {cell}: the upstream (gosleep) failed: pid {pid} has exited (killed by signal 9)"
    );
    assert_eq!(err.matches("run_all.sh: stopped").count(), 1, "{err}");
    assert!(err.contains(&want), "{err}");
    assert!(!log.contains(&format!("<- {cell}:")), "a figure was printed for {cell}: {log}");
    for f in ["results.md", "results.svg", "run.json"] {
        assert!(!out_dir.join(f).exists(), "{f} written for a run against a dead upstream");
    }
    assert_eq!(left_running(), Vec::<u32>::new(), "processes of this checkout left running");
}
