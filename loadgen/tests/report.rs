//! `loadgen report` as run_all.sh runs it: the exit status and the one line on stderr.
//! The fixture (tests/fixtures/impossible-capacity) is a results directory of the
//! contract's shape: run.json with its `servers` and `capacity`, and one capacity record.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_loadgen");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// A fresh directory for the output, removed on drop (a failed test's too).
fn temp_dir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("loadgen-report-it-{tag}-")).tempdir().expect("temp dir")
}

fn report(dir: &Path, output: &Path) -> Output {
    Command::new(BIN).arg("report").arg(dir).arg("--output").arg(output).output().expect("run loadgen report")
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
        Command::new(BIN).arg("report").arg(dir.path()).current_dir(cwd.path()).output().expect("run loadgen report");
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
