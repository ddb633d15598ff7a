//! The capacity section and chart, rendered from a results directory built here.

use super::*;
use plotters::style::RGBColor;

use crate::capacity::CAPACITY_ROWS;
use loadgen::capacity::{Bound, ClientSample, Phase, Step};

/// The fixture's capacity settings: a 100 ms upstream, servers under half a core.
pub(super) fn capacity_meta(servers: &[&str]) -> RunMeta {
    let mut m = meta();
    m.servers = servers.iter().map(|s| s.to_string()).collect();
    m.server_threads.retain(|s, _| servers.contains(&s.as_str()));
    m.capacity = Some(CapacityRun { delay_ms: 100, server_cpu_quota: Some(0.5), slo_p99_ms: None });
    m
}

/// A step at `offered` req/s, answered in full over a 3 s window, with this p50 and p99.
fn step(phase: Phase, offered: f64, p50_ms: u64, p99_ms: u64, k: usize, passed: bool) -> Step {
    let mut r = fake(k);
    r.mode.rate = Some(offered);
    r.elapsed_s = 3.0;
    r.requests = (offered * 3.0).round() as u64;
    r.errors = Errors::default();
    r.latency_summary.p50_us = 1000 * p50_ms;
    r.latency_summary.p99_us = 1000 * p99_ms;
    let sample = r.server.as_mut().unwrap();
    sample.cpu_percent = 20.0 + k as f64;
    sample.peak_rss_kib = 1024 * (20 + k as u64);
    Step {
        phase,
        offered_rps: offered,
        connections: 100,
        result: r,
        client: ClientSample { loadgen_cpu_percent: 30.0, upstream_cpu_percent: Some(20.0), ..ClientSample::default() },
        passed,
        failure: (!passed).then(|| format!("p99 {p99_ms} ms > SLO 250 ms")),
        client_bound: false,
        server_cpus_busy_percent: None,
        settle_s: 0.0,
    }
}

/// Search number k: CPU-bound at 600 + k req/s (p99 120 ms there), its steps run out of
/// rate order as a bisection runs them; 10 + k KiB per request in flight.
pub(super) fn search(k: usize) -> Capacity {
    let at = 600.0 + k as f64;
    let steps = vec![
        step(Phase::Light, 100.0, 101, 110, k, true),
        step(Phase::Rise, 200.0, 101, 112, k, true),
        step(Phase::Rise, 400.0, 102, 115, k, true),
        step(Phase::Rise, 800.0, 900, 2000, k, false),
        step(Phase::Bisect, at, 104, 120, k, true),
        step(Phase::Bisect, 700.0, 300, 800, k, false),
    ];
    Capacity {
        url: "http://127.0.0.1:1/single".into(),
        slo_p99_us: 250_000,
        slo_source: "2 x the light step's p50".into(),
        server_cores: Some(0.5),
        pool: None,
        steps,
        capacity_rps: Some(at),
        at_capacity: Some(4),
        bound_step: Some(5),
        bound: Bound::Cpu,
        rss_kib_per_in_flight: Some(10.0 + k as f64),
    }
}

pub(super) fn put_capacity(dir: &Path, name: &str, cap: &Capacity) {
    std::fs::write(dir.join(format!("{name}.json")), serde_json::to_string(cap).unwrap()).unwrap();
}

/// All capacity cells of `servers` with their index k, in table order.
fn capacity_cells(servers: &[&str]) -> Vec<(String, String, usize)> {
    let m = capacity_meta(servers);
    each_cell(&m).enumerate().map(|(k, (sc, mo, e, s))| (capacity_cell_name(sc, mo, e, s), s.to_owned(), k)).collect()
}

/// A run of `servers` with every fixed-load and capacity cell.
fn write_capacity_dir(dir: &Path, servers: &[&str]) -> RunMeta {
    let m = capacity_meta(servers);
    write_dir(dir, &m);
    for (sc, mo, e, s) in each_cell(&m) {
        put(dir, &cell_name(sc, mo, e, s), &fake(0));
    }
    for (name, _, k) in capacity_cells(servers) {
        put_capacity(dir, &name, &search(k));
    }
    m
}

/// The capacity table of a cell, like [`table`], with `servers` for its columns.
fn cap_value(md: &str, title: &str, servers: &[&str], row: &str, server: &str) -> String {
    let t = table(md, &format!("Capacity — {title}"));
    let col = servers.iter().position(|s| *s == server).unwrap() + 1;
    t.iter().find(|r| r[0] == row).unwrap_or_else(|| panic!("no row {row}"))[col].clone()
}

/// The numbered note `n` under the table titled `title`.
fn note(md: &str, title: &str, n: usize) -> String {
    section(md, title).lines().find(|l| l.starts_with(&format!("[{n}] "))).unwrap_or_default().to_owned()
}

/// A client-bound search: 1,200 req/s passed, loadgen at 91% of its core at 1,400.
pub(super) fn client_bound() -> Capacity {
    let mut cap = search(0);
    cap.steps[3] = step(Phase::Rise, 1400.0, 500, 900, 0, false);
    cap.steps[3].client.loadgen_cpu_percent = 91.0;
    cap.steps[3].client_bound = true;
    cap.steps[4] = step(Phase::Bisect, 1200.0, 104, 120, 0, true);
    cap.capacity_rps = Some(1200.0);
    cap.bound_step = Some(3);
    cap.bound = Bound::Client;
    cap
}

/// The fixture of the issue's test: every search, one of them client-bound and one missing.
fn issue_fixture(dir: &Path) -> RunMeta {
    let m = write_capacity_dir(dir, &SERVERS);
    put_capacity(dir, "capacity-reuse-single-warp", &client_bound());
    std::fs::remove_file(dir.join("capacity-no-reuse-multiple-actix.json")).unwrap();
    m
}

#[test]
fn capacity_table_per_cell_has_capacity_bound_cpu_p99_rss_and_capacity_relative_to_hyper() {
    let dir = TempDir::new("cap-table");
    issue_fixture(&dir.0);
    let md = report(&dir.0);
    let titles = ["Not reuse connections — Single req", "Not reuse connections — Multi req"];
    let titles = titles.iter().chain(&["Reuse connections — Single req", "Reuse connections — Multi req"]);
    let hyper_k = |t: usize| 5 * t + 4;
    for (t, title) in titles.enumerate() {
        let t_rows: Vec<String> =
            table(&md, &format!("Capacity — {title}")).iter().skip(1).map(|r| r[0].clone()).collect();
        assert_eq!(t_rows, CAPACITY_ROWS);
        for (s, server) in SERVERS.iter().enumerate() {
            let k = 5 * t + s;
            if (k == 7) || (k == 13) {
                continue; // no-reuse-multiple-actix (missing), reuse-single-warp (client-bound)
            }
            let v = |row| cap_value(&md, title, &SERVERS, row, server);
            assert_eq!(v("Capacity (req/s)"), format!("{}", 600 + k), "{title}/{server}");
            assert_eq!(v("Bound"), "CPU");
            // 20 + k % of one core, on a quota of half a core.
            assert_eq!(v("Server CPU at capacity"), format!("{}% of 0.5 core", 2 * (20 + k)));
            assert_eq!(v("p99 at capacity"), "120.0 ms");
            assert_eq!(v("p99 SLO"), "250.0 ms");
            assert_eq!(v("Peak RSS at capacity"), format!("{:.1} MiB", 20.0 + k as f64));
            let ratio = (600 + k) as f64 / (600 + hyper_k(t)) as f64;
            assert_eq!(v("vs server-hyper"), format!("{ratio:.2}"));
        }
    }
    assert!(md.contains("each server ran under a CPU quota of 0.5 core; figures are per that quota"));
    assert!(md.contains("**Upstream delay**: 100 ms per upstream call"));
    assert!(md.find("## How to read this").unwrap() < md.find("## Capacity").unwrap());
}

#[test]
fn a_client_bound_or_missing_capacity_cell_is_a_dash_with_a_footnote() {
    let dir = TempDir::new("cap-dash");
    issue_fixture(&dir.0);
    let md = report(&dir.0);
    let cases = [
        (
            "Reuse connections — Single req",
            "warp",
            "capacity-reuse-single-warp: at least 1,200 req/s, client-bound: loadgen 91% of its core",
        ),
        (
            "Not reuse connections — Multi req",
            "actix",
            "capacity-no-reuse-multiple-actix: failed: no result file capacity-no-reuse-multiple-actix.json",
        ),
    ];
    for (title, server, reason) in cases {
        let t = table(&md, &format!("Capacity — {title}"));
        let col = SERVERS.iter().position(|s| *s == server).unwrap() + 1;
        assert_eq!(t[0][col], format!("{server} [1]"), "the header marks the footnote");
        for row in &t[1..] {
            assert_eq!(row[col], DASH, "{title}/{server} row {}: a figure for a search with none", row[0]);
        }
        assert_eq!(note(&md, &format!("Capacity — {title}"), 1), format!("[1] {reason}  "));
    }
    assert!(!md.contains("| 1,200 |") && !md.contains("| 1200 |"), "the client's figure is not the server's");
}

#[test]
fn memory_per_in_flight_request_is_one_row_per_server_with_a_dash_where_missing() {
    let dir = TempDir::new("cap-memory");
    issue_fixture(&dir.0);
    let md = report(&dir.0);
    let t = table(&md, "Memory per in-flight request");
    assert_eq!(
        t[0][1..],
        ["Not reuse — Single req", "Not reuse — Multi req", "Reuse — Single req", "Reuse — Multi req"]
    );
    assert_eq!(t.iter().skip(1).map(|r| r[0].as_str()).collect::<Vec<_>>(), SERVERS);
    for (_, server, k) in capacity_cells(&SERVERS) {
        let row = t.iter().find(|r| r[0] == server).unwrap();
        let value = &row[k / 5 + 1];
        match k {
            7 => assert_eq!(value, &format!("{DASH} [1]"), "missing actix"),
            13 => assert_eq!(value, "10.0 KiB", "a client-bound search still measured the server's memory"),
            _ => assert_eq!(value, &format!("{:.1} KiB", 10.0 + k as f64)),
        }
    }
    assert!(
        note(&md, "Memory per in-flight request", 1).contains("no result file capacity-no-reuse-multiple-actix.json")
    );
}

/// The polylines of `svg` drawn in `color`.
pub(super) fn polylines(svg: &str, color: RGBColor) -> usize {
    let stroke = format!("stroke=\"#{:02X}{:02X}{:02X}\"", color.0, color.1, color.2);
    svg.lines().filter(|l| l.contains("<polyline") && l.contains(&stroke)).count()
}

#[test]
fn latency_vs_load_chart_has_one_line_per_server_per_panel_and_marks_capacity() {
    let dir = TempDir::new("cap-svg");
    issue_fixture(&dir.0);
    let output = dir.0.join("out.md");
    let written = write_report(&dir.0, &output).unwrap();
    assert_eq!(written.capacity_chart, Some(dir.0.join("out-capacity.svg")));
    let svg = std::fs::read_to_string(dir.0.join("out-capacity.svg")).unwrap();
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(std::fs::read_to_string(&output).unwrap().contains("](out-capacity.svg)"));
    for (s, server) in SERVERS.iter().enumerate() {
        let want = if *server == "actix" { 3 } else { 4 };
        assert_eq!(polylines(&svg, server_color(s)), want, "{server}: one line per panel it was searched in");
        assert!(svg.contains(&format!(">{server}<")) || svg.lines().any(|l| l.trim() == *server), "no legend {server}");
    }
    // A filled marker per capacity figure: 20 searches, less the missing and the client-bound.
    assert_eq!(svg.matches("<circle").count(), 18 + 1, "18 capacities and the legend's marker");
    // The steps are drawn in rate order although the search ran 800 before 604.
    let line = svg.lines().find(|l| l.contains("<polyline") && l.contains("#E69F00")).unwrap();
    let points = &line[line.find("points=\"").unwrap() + 8..];
    let xs: Vec<i32> = points
        .split_whitespace()
        .take_while(|p| !p.starts_with('"'))
        .filter_map(|p| p.split(',').next()?.parse().ok())
        .collect();
    assert_eq!(xs.len(), 6);
    assert!(xs.windows(2).all(|w| w[0] < w[1]), "steps out of rate order: {xs:?}");
    // Every search shares the 250 ms SLO: one dashed line per panel.
    assert!(svg.contains("SLO"));
    // The log axes are labelled 1-2-5 per decade, not at every integer (which overlap).
    let texts: Vec<&str> = svg.lines().map(str::trim).collect();
    for label in ["100", "200", "500", "1000", "2000"] {
        assert!(texts.contains(&label), "no axis label {label}");
    }
    assert!(!texts.contains(&"300") && !texts.contains(&"700"), "a label per integer of the decade");
}

#[test]
fn a_sixth_server_in_run_json_gets_its_column_without_code_change() {
    let dir = TempDir::new("cap-std");
    let six = ["rouille", "axum", "actix", "warp", "hyper", "std"];
    write_capacity_dir(&dir.0, &six);
    let md = report(&dir.0);
    assert!(md.starts_with("# Slow-upstream benchmark: rouille, axum, actix, warp, hyper, std\n"));
    for title in ["Reuse connections — Multi req", "Capacity — Reuse connections — Multi req"] {
        assert_eq!(table(&md, title)[0][1..], six.map(String::from), "{title}");
    }
    assert_eq!(cap_value(&md, "Reuse connections — Multi req", &six, "Capacity (req/s)", "std"), "623");
    assert!(table(&md, "Memory per in-flight request").iter().any(|r| r[0] == "std"));
    write_report(&dir.0, &dir.0.join("r.md")).unwrap();
    let svg = std::fs::read_to_string(dir.0.join("r-capacity.svg")).unwrap();
    assert_eq!(polylines(&svg, server_color(5)), 4);
    let bars = std::fs::read_to_string(dir.0.join("r.svg")).unwrap();
    assert!(bars.contains("std") && bars.contains("All 24 cells measured."));
}

#[test]
fn server_colours_do_not_run_out_when_the_server_list_grows() {
    let colors: Vec<RGBColor> = (0..24).map(server_color).collect();
    for (i, a) in colors.iter().enumerate() {
        assert!(!colors[..i].contains(a), "colour {i} repeats an earlier one");
    }
}

#[test]
fn run_json_without_servers_is_an_error() {
    let dir = TempDir::new("no-servers");
    let mut json = serde_json::to_value(meta()).unwrap();
    json.as_object_mut().unwrap().remove("servers");
    std::fs::write(dir.0.join("run.json"), json.to_string()).unwrap();
    let err = load(&dir.0).unwrap_err();
    assert!(matches!(err, ReportError::ParseMeta { .. }) && err.to_string().contains("servers"), "{err}");
    for (field, value, why) in [
        ("servers", serde_json::json!([]), "empty"),
        ("pooled", serde_json::json!(["nginx"]), "\"pooled\" names \"nginx\""),
        ("servers", serde_json::json!(["axum", "axum"]), "listed twice"),
    ] {
        let mut json = serde_json::to_value(meta()).unwrap();
        json[field] = value;
        if field == "servers" {
            json["pooled"] = serde_json::json!([]);
            json["server_threads"] = serde_json::json!({});
        }
        std::fs::write(dir.0.join("run.json"), json.to_string()).unwrap();
        let err = load(&dir.0).unwrap_err();
        assert!(matches!(err, ReportError::Inconsistent { .. }) && err.to_string().contains(why), "{err}");
    }
}

#[test]
fn a_capacity_whose_p50_is_below_the_upstream_delay_is_invalid_and_listed() {
    let dir = TempDir::new("cap-impossible");
    write_capacity_dir(&dir.0, &SERVERS);
    // At capacity, answers in 2 ms through a 100 ms upstream: it never reached it.
    let mut fast = search(9);
    fast.steps[4].result.latency_summary.p50_us = 2_000;
    put_capacity(&dir.0, "capacity-no-reuse-multiple-hyper", &fast);
    let md = report(&dir.0);
    let title = "Not reuse connections — Multi req";
    assert_eq!(table(&md, &format!("Capacity — {title}"))[0][5], "hyper [1]");
    for row in ["Capacity (req/s)", "Server CPU at capacity", "p99 at capacity", "Peak RSS at capacity"] {
        assert_eq!(cap_value(&md, title, &SERVERS, row, "hyper"), "invalid [1]", "{row}");
    }
    assert_eq!(cap_value(&md, title, &SERVERS, "vs server-hyper", "axum"), DASH, "no ratio to an invalid figure");
    let n = note(&md, &format!("Capacity — {title}"), 1);
    assert!(
        n.contains("capacity-no-reuse-multiple-hyper: invalid, p50 at capacity 2.0 ms < the upstream delay 100 ms"),
        "{n}"
    );
    assert!(!md.contains("| 609 |"), "the impossible figure is not rendered");
    let written = write_report(&dir.0, &dir.0.join("r.md")).unwrap();
    assert_eq!(written.invalid.len(), 1, "{:?}", written.invalid);
    assert!(written.invalid[0].starts_with("capacity-no-reuse-multiple-hyper: p50 at capacity"));
    let svg = std::fs::read_to_string(dir.0.join("r-capacity.svg")).unwrap();
    assert_eq!(polylines(&svg, server_color(4)), 3, "an invalid search draws no line");
}

#[test]
fn a_capacity_step_answering_more_than_offered_beyond_the_tolerance_is_invalid() {
    let m = capacity_meta(&SERVERS);
    let tolerance = littles_tolerance(0.1, 3.0);
    let with_answered = |rps: f64| {
        let mut cap = search(0);
        cap.steps[4].result.requests = (rps * 3.0).round() as u64;
        cap
    };
    assert_eq!(validity::capacity_invalid_reason(&m, &with_answered(600.0 * (1.0 + tolerance) - 3.0)), None);
    let why = validity::capacity_invalid_reason(&m, &with_answered(600.0 * (1.0 + tolerance) + 3.0)).unwrap();
    assert!(why.starts_with("answered 635 req/s > offered 600 req/s by more than the 5%"), "{why}");
}

#[test]
fn a_lower_bound_capacity_shows_its_figure_with_a_footnote_saying_why() {
    let dir = TempDir::new("cap-lower");
    write_capacity_dir(&dir.0, &SERVERS);
    let mut fd = search(0);
    fd.bound = Bound::FdBudget;
    put_capacity(&dir.0, "capacity-no-reuse-single-rouille", &fd);
    let mut first = search(1);
    first.bound = Bound::FirstStep;
    first.capacity_rps = None;
    first.at_capacity = None;
    first.bound_step = None;
    first.steps[0].passed = false;
    first.steps[0].failure = Some("500 errors: 300".into());
    put_capacity(&dir.0, "capacity-no-reuse-single-axum", &first);
    let mut again = first.clone();
    again.steps[0].passed = true;
    again.steps[0].failure = None;
    let mut confirm = step(Phase::Confirm, 100.0, 101, 900, 3, false);
    confirm.failure = Some("p99 900.0 ms > SLO 250.0 ms".into());
    again.steps.push(confirm);
    again.bound_step = Some(again.steps.len() - 1);
    put_capacity(&dir.0, "capacity-no-reuse-single-warp", &again);
    let md = report(&dir.0);
    let title = "Not reuse connections — Single req";
    assert_eq!(cap_value(&md, title, &SERVERS, "Capacity (req/s)", "rouille"), "≥ 600 [1]");
    assert_eq!(cap_value(&md, title, &SERVERS, "Bound", "rouille"), "fd budget");
    assert_eq!(cap_value(&md, title, &SERVERS, "vs server-hyper", "rouille"), "0.99 [1]");
    assert_eq!(cap_value(&md, title, &SERVERS, "Capacity (req/s)", "axum"), DASH);
    let t = format!("Capacity — {title}");
    assert!(note(&md, &t, 1).contains(
        "capacity-no-reuse-single-rouille: a lower bound: the next step's connections would not fit in the fd budget"
    ));
    assert!(
        note(&md, &t, 2)
            .contains("capacity-no-reuse-single-axum: no capacity: the first, light step failed (500 errors: 300)")
    );
    assert_eq!(cap_value(&md, title, &SERVERS, "Capacity (req/s)", "warp"), DASH);
    assert!(note(&md, &t, 3).contains(
        "capacity-no-reuse-single-warp: no capacity: the light step's rate failed when run again (p99 900.0 ms > SLO 250.0 ms)"
    ));
}

#[test]
fn vs_server_hyper_is_a_dash_when_hyper_is_not_in_the_run() {
    let dir = TempDir::new("cap-nohyper");
    let servers = ["rouille", "axum"];
    write_capacity_dir(&dir.0, &servers);
    let md = report(&dir.0);
    let v = cap_value(&md, "Reuse connections — Single req", &servers, "vs server-hyper", "axum");
    assert_eq!(v, format!("{DASH} [1]"));
    assert!(note(&md, "Capacity — Reuse connections — Single req", 1).contains("server-hyper is not in this run"));
}

#[test]
fn a_run_without_capacity_searches_says_so_and_writes_no_capacity_chart() {
    let dir = TempDir::new("cap-none");
    write_dir(&dir.0, &meta());
    let written = write_report(&dir.0, &dir.0.join("r.md")).unwrap();
    assert_eq!(written.capacity_chart, None);
    assert!(!dir.0.join("r-capacity.svg").exists());
    let md = std::fs::read_to_string(dir.0.join("r.md")).unwrap();
    assert!(md.contains("This run made no capacity search") && !md.contains("Capacity —"));
}

#[test]
fn skipped_capacity_cell_shows_the_reason_from_run_json() {
    let dir = TempDir::new("cap-skipped");
    let mut m = write_capacity_dir(&dir.0, &SERVERS);
    m.skipped.insert("capacity-reuse-multiple-rouille".into(), "needs 30000 fds".into());
    std::fs::write(dir.0.join("run.json"), serde_json::to_string(&m).unwrap()).unwrap();
    let md = report(&dir.0);
    assert_eq!(cap_value(&md, "Reuse connections — Multi req", &SERVERS, "Capacity (req/s)", "rouille"), DASH);
    assert!(note(&md, "Capacity — Reuse connections — Multi req", 1).contains("skipped: needs 30000 fds"));
}

#[test]
fn capacity_without_a_server_sample_shows_its_figure_and_a_dash_with_a_footnote_for_cpu_and_rss() {
    let dir = TempDir::new("cap-nosample");
    write_capacity_dir(&dir.0, &SERVERS);
    let mut unsampled = search(2);
    unsampled.steps[4].result.server = None;
    put_capacity(&dir.0, "capacity-no-reuse-single-actix", &unsampled);
    let md = report(&dir.0);
    let title = "Not reuse connections — Single req";
    assert_eq!(cap_value(&md, title, &SERVERS, "Capacity (req/s)", "actix"), "602");
    for row in ["Server CPU at capacity", "Peak RSS at capacity"] {
        assert_eq!(cap_value(&md, title, &SERVERS, row, "actix"), format!("{DASH} [1]"), "{row}");
    }
    assert!(note(&md, &format!("Capacity — {title}"), 1).contains("no server sample"));
}

#[test]
fn each_capacity_table_of_a_run_with_python_baselines_sets_rust_cpu_per_request_at_capacity_against_python() {
    let dir = TempDir::new("cap-python");
    let mut m = write_capacity_dir(&dir.0, &SERVERS);
    // As in the fixed-load tables' test, rouille stands for a Python server.
    m.python = Some(PythonRun { servers: vec!["rouille".into()], versions: None, unavailable: None });
    std::fs::write(dir.0.join("run.json"), serde_json::to_string(&m).unwrap()).unwrap();
    let md = report(&dir.0);
    // Search k's step at capacity: CPU (10 + k) / 10 s over 3 x (600 + k) requests.
    let per_1k = |k: f64| 1000.0 * (10.0 + k) / 10.0 / (3.0 * (600.0 + k));
    let body = section(&md, "Capacity — Not reuse connections — Single req");
    let line = body.lines().find(|l| l.starts_with("**Rust vs Python**")).expect("a Rust vs Python line");
    assert!(line.starts_with("**Rust vs Python**, CPU per request at capacity against"), "{line}");
    let want = format!("rouille ({:.3} s per 1k requests): axum {:.2}x", per_1k(0.0), per_1k(1.0) / per_1k(0.0));
    assert!(line.contains(&want), "{line}\nwants {want}");
    assert_eq!(md.matches("**Rust vs Python**, CPU per request at capacity").count(), 4);
}
