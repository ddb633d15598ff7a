//! loadgen's exit status and its one line on stderr, for runs that measured nothing and
//! for URLs it cannot use.

use std::net::TcpListener;
use std::process::{Command, Output};

use loadgen::result::RunResult;

const BIN: &str = env!("CARGO_BIN_EXE_loadgen");

fn loadgen(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run loadgen")
}

/// A port nothing listens on: bound, then let go.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Closed loop and open loop alike: a run against a closed port gets only connect errors,
/// so it prints its report and writes its JSON (the evidence), then exits 1 with one line
/// saying why it is no result.
#[test]
fn a_run_with_no_successful_answer_exits_1_saying_why() {
    let url = format!("http://127.0.0.1:{}/single", closed_port());
    for (loop_kind, rate) in [("closed", None), ("open", Some("50"))] {
        let dir = tempfile::tempdir().expect("temp dir");
        let json = dir.path().join("run.json");
        let path = json.to_str().expect("utf-8 path");
        let mut args = vec!["-c", "2", "-t", "1", "-d", "500ms", "--json", path];
        if let Some(rate) = rate {
            args.extend(["--rate", rate]);
        }
        args.push(&url);
        let out = loadgen(&args);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{loop_kind} loop: {stdout}{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{loop_kind} loop: {stderr}");
        assert!(
            stderr.starts_with("loadgen: no successful answer in the 0.5 s window: 0 requests, ")
                && stderr.contains(" errors (connect "),
            "{loop_kind} loop: {stderr}"
        );
        assert!(stdout.contains("0 requests in") && stdout.contains("Socket errors: connect"), "{stdout}");
        let result: RunResult =
            serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON is written")).expect("a result");
        assert_eq!(result.requests, 0);
        assert!(result.errors.connect > 0, "{:?}", result.errors);
    }
}

/// A URL without its scheme (as wrk users type it) is refused before anything is sent,
/// by the run and by `capacity` alike, with the URL to write instead.
#[test]
fn a_url_without_a_scheme_exits_2_naming_the_url_to_write() {
    for args in [&["127.0.0.1:8080/single"][..], &["capacity", "127.0.0.1:8080/single"]] {
        let out = loadgen(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(
            stderr, "loadgen: URL 127.0.0.1:8080/single has no scheme: write http://127.0.0.1:8080/single\n",
            "{args:?}"
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{args:?}: nothing before the refusal");
    }
}

/// Neither the run nor `capacity` takes a scheme other than http:// and https://; an
/// https:// URL is taken (tests/tls.rs).
#[test]
fn a_url_of_another_scheme_exits_2_saying_http_and_https_are_supported() {
    for args in [&["ftp://127.0.0.1:8443/single"][..], &["capacity", "ftp://127.0.0.1:8443/single"]] {
        let out = loadgen(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(
            stderr,
            "loadgen: URL ftp://127.0.0.1:8443/single has the scheme ftp://: loadgen supports only http:// and https://\n",
            "{args:?}"
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{args:?}");
    }
}

/// A flag out of range fails before anything starts: a `--json` path that cannot be
/// written (its directory missing, or a directory itself) is refused, exit 2 naming the
/// path, before the run or `capacity` sends anything, where it used to fail after the whole
/// run.
#[test]
fn a_json_path_that_cannot_be_written_exits_2_before_any_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-dir").join("x.json");
    let url = format!("http://127.0.0.1:{}/single", closed_port());
    for json in [&missing, dir.path()] {
        let json = json.to_str().expect("utf-8 path");
        for args in [
            &["-c", "1", "-t", "1", "-d", "30s", "--json", json, &url][..],
            &["capacity", "-d", "30s", "--warmup", "0s", "--json", json, &url],
        ] {
            let started = std::time::Instant::now();
            let out = loadgen(args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(started.elapsed().as_secs() < 10, "{args:?}: refused only after the run");
            assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
            assert!(stderr.contains(&format!("--json {json}: cannot write it")), "{args:?}: {stderr}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{args:?}: nothing before the refusal");
        }
    }
    assert!(!missing.exists());
}

/// `loadgen merge` sums runs made at the same time on several machines: the same file
/// given twice (under any name), or the same record under two names, is one run counted
/// twice, and is refused (exit 2) naming both; a record with an impossible figure (a
/// negative window) is refused when it is read, naming the file, not printed as
/// "requests in -1.00s".
#[test]
fn merge_refuses_one_run_given_twice_and_a_record_with_an_impossible_figure() {
    let url = format!("http://127.0.0.1:{}/single", closed_port());
    let dir = tempfile::tempdir().expect("temp dir");
    let a = dir.path().join("a.json");
    let a_path = a.to_str().expect("utf-8 path");
    // A run against a closed port exits 1 but writes its record: a record all the same.
    let out = loadgen(&["-c", "1", "-t", "1", "-d", "200ms", "--json", a_path, &url]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&a).expect("the JSON is written");
    let copy = dir.path().join("copy.json");
    std::fs::write(&copy, &text).expect("write");
    let dotted = format!("{}/./a.json", dir.path().display());
    for (args, says) in [
        (vec!["merge", a_path, a_path], "are the same file"),
        (vec!["merge", a_path, &dotted], "are the same file"),
        (vec!["merge", a_path, copy.to_str().expect("utf-8")], "hold the same record"),
    ] {
        let out = loadgen(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(says) && stderr.contains("counted twice"), "{args:?}: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{args:?}: no merged report");
    }
    let mut record: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    record["elapsed_s"] = serde_json::json!(-1.0);
    let negative = dir.path().join("negative.json");
    std::fs::write(&negative, record.to_string()).expect("write");
    let out = loadgen(&["merge", a_path, negative.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("negative.json") && stderr.contains("elapsed_s"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("-1.00s"));
}

/// A flag out of range fails before anything starts: `capacity` refuses what the run
/// refuses (a TLS flag with an http:// URL, a --server-pid that is no process) before it
/// prints its first line, as it refused a URL it cannot use.
#[test]
fn capacity_refuses_what_a_run_refuses_before_its_first_line() {
    let url = format!("http://127.0.0.1:{}/single", closed_port());
    for (args, says) in [
        (&["capacity", "--insecure", &url][..], "--insecure only applies to https:// targets"),
        (&["capacity", "--server-pid", "4000000000", &url], "--server-pid 4000000000: cannot read"),
    ] {
        let out = loadgen(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{args:?}: nothing before the refusal");
    }
}
