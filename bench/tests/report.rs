//! `bench report` as run_all.sh runs it: the exit status and the one line on stderr.
//! The fixture (tests/fixtures/impossible-capacity) is a results directory of the
//! contract's shape: run.json with its `servers` and `capacity`, and one capacity record.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_bench");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// A fresh directory for the output, removed on drop (a failed test's too).
fn temp_dir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("bench-report-it-{tag}-")).tempdir().expect("temp dir")
}

fn report(dir: &Path, output: &Path) -> Output {
    Command::new(BIN).arg("report").arg(dir).arg("--output").arg(output).output().expect("run bench report")
}

/// The fixture's search answered in 2 ms through a 100 ms upstream: its requests never
/// reached the upstream, so its capacity is no result.
#[test]
fn report_of_an_impossible_capacity_renders_it_invalid_and_exits_1() {
    let out_dir = temp_dir("impossible");
    let md = out_dir.path().join("results.md");
    let out = report(&fixture("impossible-capacity"), &md);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("capacity-reuse-single-hyper: p50 at capacity 2.0 ms < the upstream delay 100 ms"), "{err}");
    let text = std::fs::read_to_string(&md).expect("the tables are written");
    assert!(text.contains("### Capacity — Reuse connections — Single req\n\n| | hyper [1] |"), "{text}");
    assert!(text.contains("| Capacity (req/s) | invalid [1] |"), "{text}");
    assert!(out_dir.path().join("results-capacity.svg").exists(), "the chart is written too");
}

/// Without --output the report goes into DIR, its chart beside it, and nothing into the
/// current directory (whose results.md may be the repository's).
#[test]
fn report_dir_without_output_writes_dir_results_md_and_leaves_the_current_directory_alone() {
    let dir = temp_dir("default-output");
    let cwd = temp_dir("default-output-cwd");
    // The fixture's record without its capacity searches: every cell unmeasured, none invalid.
    let run = std::fs::read_to_string(fixture("impossible-capacity/run.json")).expect("fixture");
    let mut run: serde_json::Value = serde_json::from_str(&run).expect("json");
    run["capacity"] = serde_json::Value::Null;
    std::fs::write(dir.path().join("run.json"), run.to_string()).expect("run.json");
    let out =
        Command::new(BIN).arg("report").arg(dir.path()).current_dir(cwd.path()).output().expect("run bench report");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let (md, svg) = (dir.path().join("results.md"), dir.path().join("results.svg"));
    assert_eq!(stdout.trim_end(), format!("wrote {} and {}", md.display(), svg.display()));
    assert!(std::fs::read_to_string(&md).expect("DIR/results.md").contains("](results.svg)"));
    assert!(std::fs::read_to_string(&svg).expect("DIR/results.svg").trim_end().ends_with("</svg>"));
    let left: Vec<_> = std::fs::read_dir(cwd.path()).expect("cwd").map(|e| e.expect("entry").file_name()).collect();
    assert!(left.is_empty(), "written into the current directory: {left:?}");
}

#[test]
fn report_of_a_run_json_without_servers_exits_1_naming_the_field() {
    let dir = temp_dir("no-servers");
    let run = std::fs::read_to_string(fixture("impossible-capacity/run.json")).expect("fixture");
    let mut run: serde_json::Value = serde_json::from_str(&run).expect("json");
    run.as_object_mut().expect("object").remove("servers");
    std::fs::write(dir.path().join("run.json"), run.to_string()).expect("run.json");
    let out = report(dir.path(), &dir.path().join("results.md"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not a run record: missing field `servers`"), "{err}");
    assert!(!dir.path().join("results.md").exists(), "no report from a run it cannot read");
}

/// `bench report` of a run whose cell is over its Little's bound (the dead-upstream
/// run: 502s at once) writes the tables with the cell marked invalid, and exits 1 with
/// one line naming it, so that run_all.sh cannot take the run as a success.
#[test]
fn report_of_an_impossible_cell_writes_the_tables_and_exits_1() {
    use loadgen::result::{Errors, LatencySummary, Mode, RunResult, new_histogram};
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let run = r#"{"command": "./run_all.sh --quick --servers hyper", "date": "now",
        "machine": {"cpu": "test", "cores": 2, "kernel": "Linux", "memory_gib": 1},
        "rustc": "rustc", "servers": ["hyper"], "pooled": [], "delay_ms": 200, "fanout": 5, "connections": 100,
        "duration_s": 2, "warmup_s": 1, "server_threads": {"hyper": 1}}"#;
    std::fs::write(dir.join("run.json"), run).expect("run.json");
    let mut errors = Errors::default();
    errors.status.insert(502, 33_000);
    let cell = RunResult {
        mode: Mode {
            loadgen_version: "test".into(),
            url: "http://127.0.0.1:1/single".into(),
            connections: 100,
            threads: 1,
            duration_s: 2.0,
            warmup_s: 1.0,
            timeout_s: 30.0,
            keepalive: true,
            rate: None,
            headers: vec![],
        },
        elapsed_s: 2.0,
        requests: 33_686,
        bytes: 0,
        errors,
        thread_rps: vec![],
        latency: new_histogram(),
        latency_summary: LatencySummary::default(),
        server: None,
        tls: None,
    };
    let json = serde_json::to_string(&cell).expect("json");
    std::fs::write(dir.join("reuse-single-hyper.json"), json).expect("cell");
    let md = dir.join("results.md");
    let out = Command::new(BIN).arg("report").arg(dir).arg("--output").arg(&md).output().expect("report");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("reuse-single-hyper: over Little's bound: 16,843 req/s > 500 (C/D)"), "{err}");
    let text = std::fs::read_to_string(&md).expect("the tables are written");
    assert!(text.contains("invalid [") && !text.contains("16843"), "{text}");
}
