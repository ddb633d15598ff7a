mod capacity;
mod golden;
mod https;
mod summary;

use super::tables::{HOW_TO_READ, INVALID_ROWS};
use super::validity::CLOCK_TOLERANCE;
use super::*;

use loadgen::capacity::Capacity;
use loadgen::result::{Errors, LatencySummary, Mode, RunResult, ServerSample, new_histogram};

/// The servers of the fixture run, in its column order.
const SERVERS: [&str; 5] = ["rouille", "axum", "actix", "warp", "hyper"];

/// A fresh directory under the system temp dir (`.0`), removed when tempfile's guard (`.1`)
/// drops, a failed test's too.
struct TempDir(
    PathBuf,
    #[expect(dead_code, reason = "held for its drop, which removes the directory")] tempfile::TempDir,
);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = tempfile::Builder::new().prefix(&format!("loadgen-report-{tag}-")).tempdir().unwrap();
        Self(dir.path().to_owned(), dir)
    }
}

/// A run whose every fake cell is within its Little's bound: 100 ms, so 10 x C.
fn meta() -> RunMeta {
    serde_json::from_str(
        r#"{"command": "./run_all.sh --quick", "date": "2026-11-26 02:30 UTC",
         "machine": {"cpu": "AMD EPYC", "cores": 2, "kernel": "Linux 6.18.44", "memory_gib": 23},
         "rustc": "rustc 1.95.0 (test)",
         "servers": ["rouille", "axum", "actix", "warp", "hyper"], "pooled": ["rouille"], "delay_ms": 100, "fanout": 5, "connections": 1000,
         "duration_s": 10, "warmup_s": 2, "pinning": "server on core 0; loadgen and gosleep on core 1",
         "server_threads": {"rouille": 256, "axum": 1, "actix": 1, "warp": 1, "hyper": 1},
         "skipped": {}}"#,
    )
    .unwrap()
}

/// Cell number k (0..20) has its own, recognisable numbers (also the crate's other unit
/// tests' run result, with the fields they test set on it).
pub(crate) fn fake(k: usize) -> RunResult {
    let mut latency = new_histogram();
    latency.record(1_000_000 + k as u64).unwrap();
    let summary = LatencySummary {
        count: 1,
        mean_us: 1_000_000.0 + 1000.0 * k as f64 + 250.0,
        p99_us: 1_500_000 + 1000 * k as u64,
        ..LatencySummary::default()
    };
    let mut errors = Errors::default();
    if k == 3 {
        errors.connect = 10;
        errors.status.insert(502, 2);
    }
    RunResult {
        mode: Mode {
            loadgen_version: "test".into(),
            url: "http://127.0.0.1:8080/single".into(),
            connections: 1000 + k,
            threads: 2,
            duration_s: 10.0,
            warmup_s: 2.0,
            timeout_s: 30.0,
            keepalive: true,
            rate: None,
            headers: vec![],
        },
        elapsed_s: 10.0,
        requests: 1000 * (k as u64 + 1) + 5,
        bytes: 0,
        errors,
        thread_rps: vec![],
        latency,
        latency_summary: summary,
        server: Some(ServerSample {
            pid: 1,
            cpu_percent: 10.0 + k as f64,
            // The same CPU over the 10 s window.
            cpu_seconds: (10.0 + k as f64) / 10.0,
            peak_rss_kib: 1024 * (k as u64 + 1),
            max_threads: 5 + k as u64,
        }),
        tls: None,
    }
}

/// All 20 cell names with their index k, in table order.
fn all_cells() -> Vec<(String, &'static str, usize)> {
    let mut v = Vec::new();
    for (mode, _) in MODES {
        for (endpoint, _) in ENDPOINTS {
            for server in SERVERS {
                let k = v.len();
                v.push((cell_name(Scheme::Http, mode, endpoint, server), server, k));
            }
        }
    }
    v
}

fn write_dir(dir: &Path, meta: &RunMeta) {
    std::fs::write(dir.join("run.json"), serde_json::to_string(meta).unwrap()).unwrap();
    for (name, _, k) in all_cells() {
        std::fs::write(dir.join(format!("{name}.json")), serde_json::to_string(&fake(k)).unwrap()).unwrap();
    }
}

/// The first table under "### {title}" as rows of trimmed cells (header row first).
fn table(md: &str, title: &str) -> Vec<Vec<String>> {
    let start = md.find(&format!("### {title}\n")).unwrap_or_else(|| panic!("no table {title:?} in\n{md}"));
    md[start..]
        .lines()
        .skip(1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter(|l| !l.starts_with("|---"))
        .map(|l| l.trim_matches('|').split(" | ").map(|c| c.trim().to_owned()).collect())
        .collect()
}

fn value<'a>(t: &'a [Vec<String>], row: &str, server: &str) -> &'a str {
    let col = SERVERS.iter().position(|s| *s == server).unwrap() + 1;
    let r = t.iter().find(|r| r[0] == row).unwrap_or_else(|| panic!("no row {row}"));
    &r[col]
}

fn title(k: usize) -> String {
    let (m, e) = (MODES[k / 10].1, ENDPOINTS[(k / 5) % 2].1);
    format!("{m} — {e}")
}

fn report(dir: &Path) -> String {
    render_markdown(&load(dir).unwrap(), "results.svg", "results-capacity.svg")
}

#[test]
fn all_twenty_cells_fill_the_four_tables_with_their_numbers() {
    let dir = TempDir::new("full");
    write_dir(&dir.0, &meta());
    let md = report(&dir.0);
    let titles: Vec<usize> = (0..4).map(|t| md.find(&format!("### {}\n", title(t * 5))).unwrap()).collect();
    assert!(titles.windows(2).all(|w| w[0] < w[1]), "tables out of order");
    for (_, server, k) in all_cells() {
        let t = table(&md, &title(k));
        assert_eq!(t[0][1..], SERVERS.map(String::from), "columns");
        assert_eq!(t.iter().skip(1).map(|r| r[0].as_str()).collect::<Vec<_>>(), ROWS);
        let rps = (1000.0 * (k as f64 + 1.0) + 5.0) / 10.0;
        assert_eq!(value(&t, "RPS", server), format!("{rps:.1}"));
        assert_eq!(value(&t, "Latency (avg)", server), format!("{:.1} ms", 1000.0 + k as f64 + 0.25));
        assert_eq!(value(&t, "p99", server), format!("{:.1} ms", 1500.0 + k as f64));
        assert_eq!(value(&t, "Connections", server), (1000 + k).to_string());
        assert_eq!(value(&t, "Threads (loadgen)", server), "2");
        assert_eq!(value(&t, "Server threads", server), (5 + k).to_string());
        assert_eq!(value(&t, "Server CPU %", server), format!("{}%", 10 + k));
        let per_1k = 1000.0 * (10.0 + k as f64) / 10.0 / (1000.0 * (k as f64 + 1.0) + 5.0);
        assert_eq!(value(&t, "Server CPU per 1k requests", server), format!("{per_1k:.3} s"));
        assert_eq!(value(&t, "Server peak RSS", server), format!("{:.1} MiB", k as f64 + 1.0));
        let errors = if k == 3 { "12 (connect 10, 502: 2)" } else { "0" };
        assert_eq!(value(&t, "Errors", server), errors);
        for row in t.iter().skip(1) {
            assert!(!row.iter().any(|c| c.contains(DASH)), "unexpected dash in {row:?}");
        }
    }
    for header in ["AMD EPYC, 2 cores, Linux 6.18.44, 23 GiB", "rustc 1.95.0 (test)", "`./run_all.sh --quick`"] {
        assert!(md.contains(header), "missing {header:?}");
    }
    assert!(md.contains("](results.svg)") && md.contains("## How to read this"));
}

#[test]
fn efficiency_divides_rps_by_connections_over_delay() {
    let dir = TempDir::new("eff");
    write_dir(&dir.0, &meta());
    let md = report(&dir.0);
    for (_, server, k) in all_cells().into_iter().filter(|c| c.1 != "rouille") {
        let rps = (1000.0 * (k as f64 + 1.0) + 5.0) / 10.0;
        let bound = (1000 + k) as f64 / 0.1;
        let t = table(&md, &title(k));
        let want = format!("{:.1}% of {bound:.0}", 100.0 * rps / bound);
        assert_eq!(value(&t, "Efficiency (RPS / Little's bound)", server), want);
    }
}

#[test]
fn rouille_bound_is_capped_by_its_thread_pool() {
    let dir = TempDir::new("rouille");
    let mut m = meta();
    m.delay_ms = 80;
    write_dir(&dir.0, &m);
    let md = report(&dir.0);
    for (_, _, k) in all_cells().into_iter().filter(|c| c.1 == "rouille") {
        let rps = (1000.0 * (k as f64 + 1.0) + 5.0) / 10.0;
        let bound = 256.0 / 0.08; // min(1000 + k, 256) threads over 0.08 s
        let t = table(&md, &title(k));
        let want = format!("{:.1}% of 3200", 100.0 * rps / bound);
        assert_eq!(value(&t, "Efficiency (RPS / Little's bound)", "rouille"), want);
    }
    assert_eq!(littles_bound(&m, "rouille", 100), Some(1250.0), "fewer connections than threads");
    assert_eq!(littles_bound(&m, "axum", 1000), Some(12500.0));
}

#[test]
fn cpu_per_request_ranks_by_cost_where_cpu_percent_ranks_by_load() {
    let dir = TempDir::new("cost");
    write_dir(&dir.0, &meta());
    // rouille's pool held to 256 requests/s at 30% of a core; hyper 1,000/s at 40%.
    let cell = |name: &str, requests: u64, cpu_seconds: f64| {
        let mut r = fake(0);
        r.requests = requests;
        r.server = Some(ServerSample { cpu_percent: 10.0 * cpu_seconds, cpu_seconds, ..r.server.unwrap() });
        std::fs::write(dir.0.join(format!("{name}.json")), serde_json::to_string(&r).unwrap()).unwrap();
    };
    cell("reuse-multiple-rouille", 2_560, 3.0);
    cell("reuse-multiple-hyper", 10_000, 4.0);
    let t = table(&report(&dir.0), "Reuse connections — Multi req");
    assert_eq!(value(&t, "Server CPU %", "rouille"), "30%");
    assert_eq!(value(&t, "Server CPU %", "hyper"), "40%");
    assert_eq!(value(&t, "Server CPU per 1k requests", "rouille"), "1.172 s");
    assert_eq!(value(&t, "Server CPU per 1k requests", "hyper"), "0.400 s");
}

#[test]
fn cpu_per_request_is_a_dash_without_answers_or_without_a_server_sample() {
    let dir = TempDir::new("no-cost");
    write_dir(&dir.0, &meta());
    let mut none_answered = fake(0);
    none_answered.requests = 0;
    let mut unsampled = fake(1);
    unsampled.server = None;
    for (name, r) in [("reuse-single-rouille", &none_answered), ("reuse-single-axum", &unsampled)] {
        std::fs::write(dir.0.join(format!("{name}.json")), serde_json::to_string(r).unwrap()).unwrap();
    }
    let md = report(&dir.0);
    let t = table(&md, "Reuse connections — Single req");
    assert_eq!(value(&t, "Server CPU per 1k requests", "rouille"), format!("{DASH} [1]"));
    assert_eq!(value(&t, "Server CPU per 1k requests", "axum"), format!("{DASH} [2]"));
    assert_eq!(value(&t, "Server CPU %", "axum"), format!("{DASH} [2]"), "one footnote for one reason");
    assert!(md.contains("[1] no answers in the window") && md.contains("[2] no server sample"));
}

#[test]
fn skipped_missing_and_unreadable_cells_show_a_dash_and_a_footnote() {
    let dir = TempDir::new("missing");
    let mut m = meta();
    m.skipped.insert("reuse-multiple-rouille".into(), "needs 12000 fds, limit 20000".into());
    write_dir(&dir.0, &m);
    std::fs::remove_file(dir.0.join("no-reuse-single-warp.json")).unwrap();
    std::fs::write(dir.0.join("reuse-single-hyper.json"), "{\"truncated").unwrap();
    let md = report(&dir.0);
    let cases = [
        ("Reuse connections — Multi req", "rouille", "needs 12000 fds, limit 20000"),
        ("Not reuse connections — Single req", "warp", "no result file no-reuse-single-warp.json"),
        ("Reuse connections — Single req", "hyper", "reuse-single-hyper.json is not a loadgen result"),
    ];
    for (title, server, reason) in cases {
        let t = table(&md, title);
        let col = SERVERS.iter().position(|s| *s == server).unwrap() + 1;
        assert_eq!(t[0][col], format!("{server} [1]"), "header marks the footnote");
        for row in &t[1..] {
            assert_eq!(row[col], DASH, "{title}/{server} row {}: a number for an unmeasured cell", row[0]);
        }
        let section = &md[md.find(&format!("### {title}\n")).unwrap()..];
        let section = &section[..section[4..].find("###").map_or(section.len(), |i| i + 4)];
        let note = section.lines().find(|l| l.starts_with("[1] ")).expect("footnote");
        assert!(note.contains(reason), "{note:?} lacks {reason:?}");
        // The other columns of the same table are still filled.
        let other = SERVERS.iter().find(|s| **s != server).unwrap();
        assert!(!value(&t, "RPS", other).contains(DASH));
    }
}

#[test]
fn skipped_wins_over_a_stale_result_file() {
    let dir = TempDir::new("stale");
    let mut m = meta();
    m.skipped.insert("no-reuse-single-axum".into(), "rerun later".into());
    write_dir(&dir.0, &m);
    let t = table(&report(&dir.0), "Not reuse connections — Single req");
    assert_eq!(value(&t, "RPS", "axum"), DASH);
}

#[test]
fn report_is_written_atomically_without_temp_files() {
    let dir = TempDir::new("atomic");
    write_dir(&dir.0, &meta());
    let out_dir = TempDir::new("atomic-out");
    let output = out_dir.0.join("results.md");
    std::fs::write(&output, "old, half a report").unwrap();
    let written = write_report(&dir.0, &output).unwrap();
    assert_eq!(written.chart, out_dir.0.join("results.svg"));
    let names: Vec<String> =
        std::fs::read_dir(&out_dir.0).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["results.md", "results.svg"], "temp file left behind: {names:?}");
    let md = std::fs::read_to_string(&output).unwrap();
    assert_eq!(md, report(&dir.0), "the file is the whole report");
    assert!(md.starts_with("# ") && md.contains(HOW_TO_READ), "complete: header to last section");
    assert!(md.ends_with("This run made no capacity search (`\"capacity\": null` in run.json).\n"));
}

#[test]
fn svg_chart_is_written_and_names_every_server() {
    let dir = TempDir::new("svg");
    let mut m = meta();
    m.skipped.insert("reuse-multiple-rouille".into(), "fds".into());
    write_dir(&dir.0, &m);
    let output = dir.0.join("out.md");
    write_report(&dir.0, &output).unwrap();
    let svg = std::fs::read_to_string(dir.0.join("out.svg")).unwrap();
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{}", &svg[..svg.len().min(80)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    for name in SERVERS.iter().chain(&["Requests per second", "n/a", "reuse-multiple-rouille"]) {
        assert!(svg.contains(name), "SVG lacks {name:?}");
    }
    assert!(std::fs::read_to_string(&output).unwrap().contains("](out.svg)"));
}

fn put(dir: &Path, name: &str, r: &RunResult) {
    std::fs::write(dir.join(format!("{name}.json")), serde_json::to_string(r).unwrap()).unwrap();
}

/// The quick run's figures: C = 100, D = 200 ms, a 2 s window; Little's bound 500/s.
fn quick_meta() -> RunMeta {
    let mut m = meta();
    m.delay_ms = 200;
    m.connections = 100;
    m.duration_s = 2.0;
    m.server_threads.insert("rouille".into(), 64);
    m
}

/// A quick-run cell of `rps` answers per second, `share_502` of them 502s.
fn quick_cell(rps: f64, share_502: f64) -> RunResult {
    let mut r = fake(0);
    r.mode.connections = 100;
    r.elapsed_s = 2.0;
    r.requests = (rps * 2.0).round() as u64;
    r.errors = Errors::default();
    let n_502 = (r.requests as f64 * share_502).round() as u64;
    if n_502 > 0 {
        r.errors.status.insert(502, n_502);
    }
    r
}

/// The section of `md` under "### {title}", up to the next table.
fn section<'a>(md: &'a str, title: &str) -> &'a str {
    let s = &md[md.find(&format!("### {title}\n")).unwrap()..];
    &s[..s[4..].find("###").map_or(s.len(), |i| i + 4)]
}

#[test]
fn littles_tolerance_is_the_windows_edge_plus_the_clocks() {
    // C answers in flight when the window opens: C / (C / D x window) = D / window.
    assert!((littles_tolerance(0.2, 2.0) - (0.1 + CLOCK_TOLERANCE)).abs() < 1e-12);
    assert!((littles_tolerance(1.0, 10.0) - (0.1 + CLOCK_TOLERANCE)).abs() < 1e-12);
    assert!(littles_tolerance(1.0, 0.0).is_infinite(), "no window: nothing can be judged");
}

/// The issue's run: the upstream killed mid-run, hyper answered 502 at once, 16,843/s.
#[test]
fn a_cell_over_littles_bound_is_invalid_with_the_reason_not_a_result() {
    let dir = TempDir::new("over-bound");
    write_dir(&dir.0, &quick_meta());
    for (name, ..) in all_cells() {
        put(&dir.0, &name, &quick_cell(300.0, 0.0));
    }
    put(&dir.0, "reuse-single-hyper", &quick_cell(16_843.0, 0.0));
    let md = report(&dir.0);
    let t = table(&md, "Reuse connections — Single req");
    assert_eq!(t[0][5], "hyper [1]", "the header marks the cell");
    for row in INVALID_ROWS {
        assert_eq!(value(&t, row, "hyper"), "invalid [1]", "{row}");
    }
    assert_eq!(value(&t, "Errors", "hyper"), "0", "what happened is still shown");
    let note = section(&md, "Reuse connections — Single req").lines().find(|l| l.starts_with("[1] ")).unwrap();
    assert!(note.contains("reuse-single-hyper: invalid, over Little's bound: 16,843 req/s > 500 (C/D)"), "{note}");
    assert!(note.contains("12%"), "the tolerance is stated: {note}");
    assert!(!md.contains("16843") && !md.contains("3368"), "the impossible figure is not rendered");
    // Its neighbours are results: 300/s is 60% of 500.
    assert_eq!(value(&t, "RPS", "axum"), "300.0");
    assert_eq!(value(&t, "Efficiency (RPS / Little's bound)", "axum"), "60.0% of 500");
}

#[test]
fn a_cell_within_the_measurement_tolerance_of_littles_bound_is_a_result() {
    let m = quick_meta();
    let tolerance = littles_tolerance(0.2, 2.0);
    let just_under = quick_cell(500.0 * (1.0 + tolerance) - 5.0, 0.0);
    let just_over = quick_cell(500.0 * (1.0 + tolerance) + 5.0, 0.0);
    assert_eq!(invalid_reason(&m, "hyper", &just_under), None);
    assert!(invalid_reason(&m, "hyper", &just_over).unwrap().starts_with("over Little's bound"));
}

#[test]
fn the_pooled_servers_bound_is_its_pool_over_the_delay() {
    let m = quick_meta();
    // 64 threads / 0.2 s = 320/s: 450/s is impossible for rouille, not for axum.
    let why = invalid_reason(&m, "rouille", &quick_cell(450.0, 0.0)).expect("invalid");
    assert!(why.contains("450 req/s > 320 (min(C, threads)/D)"), "{why}");
    assert_eq!(invalid_reason(&m, "axum", &quick_cell(450.0, 0.0)), None);
}

#[test]
fn a_majority_of_non_2xx_answers_makes_a_cell_invalid() {
    let dir = TempDir::new("majority");
    write_dir(&dir.0, &quick_meta());
    for (name, ..) in all_cells() {
        put(&dir.0, &name, &quick_cell(300.0, 0.0));
    }
    put(&dir.0, "no-reuse-multiple-axum", &quick_cell(400.0, 0.97));
    put(&dir.0, "no-reuse-multiple-warp", &quick_cell(300.0, 0.4));
    let md = report(&dir.0);
    let t = table(&md, "Not reuse connections — Multi req");
    assert_eq!(value(&t, "RPS", "axum"), "invalid [1]");
    assert_eq!(value(&t, "Errors", "axum"), "776 (502: 776)");
    let note = section(&md, "Not reuse connections — Multi req").lines().find(|l| l.starts_with("[1] ")).unwrap();
    assert!(
        note.contains("no-reuse-multiple-axum: invalid, majority non-2xx or socket errors: 97% of 800 (502: 776)"),
        "{note}"
    );
    // A minority of errors is a result, its errors shown beside it.
    assert_eq!(value(&t, "RPS", "warp"), "300.0");
    // Socket errors count too: 10 answers and 30 timeouts is 75% failed.
    let mut timeouts = quick_cell(5.0, 0.0);
    timeouts.errors.timeout = 30;
    let why = invalid_reason(&quick_meta(), "hyper", &timeouts).expect("invalid");
    assert!(why.contains("75% of 40 (timeout 30)"), "{why}");
}

#[test]
fn invalid_cells_draw_no_bar_and_are_listed_by_write_report() {
    let dir = TempDir::new("invalid-svg");
    write_dir(&dir.0, &quick_meta());
    for (name, ..) in all_cells() {
        put(&dir.0, &name, &quick_cell(300.0, 0.0));
    }
    put(&dir.0, "reuse-single-hyper", &quick_cell(16_843.0, 0.0));
    let written = write_report(&dir.0, &dir.0.join("r.md")).unwrap();
    assert_eq!(written.invalid.len(), 1);
    assert!(written.invalid[0].starts_with("reuse-single-hyper: over Little's bound"), "{:?}", written.invalid);
    let svg = std::fs::read_to_string(dir.0.join("r.svg")).unwrap();
    assert!(!svg.contains("16843"), "the invalid bar's value is drawn");
    // plotters puts each text on a line of its own.
    let texts: Vec<&str> = svg.lines().map(str::trim).collect();
    assert!(texts.contains(&"invalid") && texts.contains(&"reuse-single-hyper"), "no invalid marker");
    // The valid bars are drawn, with their values.
    assert!(texts.contains(&"300"));
}

/// The quick run of [`quick_meta`] with every async server at 495/s (bound 500), rouille
/// at 318/s (its 64 threads: 320) and reuse-single-hyper impossible (invalid).
#[test]
fn the_rps_chart_draws_each_cells_littles_bound_and_a_cpu_per_request_panel() {
    let dir = TempDir::new("bound-cpu-svg");
    write_dir(&dir.0, &quick_meta());
    for (name, server, _) in all_cells() {
        put(&dir.0, &name, &quick_cell(if server == "rouille" { 318.0 } else { 495.0 }, 0.0));
    }
    put(&dir.0, "reuse-single-hyper", &quick_cell(16_843.0, 0.0));
    write_report(&dir.0, &dir.0.join("r.md")).unwrap();
    let svg = std::fs::read_to_string(dir.0.join("r.svg")).unwrap();
    let texts: Vec<&str> = svg.lines().map(str::trim).collect();
    // SVG text escapes the apostrophe.
    let legend = chart::BOUND_LEGEND.replace('\'', "&apos;");
    assert!(texts.contains(&legend.as_str()), "no bound legend");
    assert!(texts.contains(&chart::CPU_CAPTION), "no CPU panel");
    // One bound marker per measured cell (the invalid one too: its bound is its set-up),
    // and the legend's: horizontal, at two heights (C/D = 500 and rouille's 320).
    let markers: Vec<&str> =
        svg.lines().filter(|l| l.contains("<polyline") && l.contains("stroke=\"#222222\"")).collect();
    assert_eq!(markers.len(), 20 + 1, "{markers:#?}");
    let heights = |line: &str| -> Vec<i32> {
        let points = &line[line.find("points=\"").unwrap() + 8..];
        let points = &points[..points.find('"').unwrap()];
        points.split_whitespace().map(|p| p.split(',').nth(1).unwrap().parse().unwrap()).collect()
    };
    let mut levels: Vec<i32> = markers[..20].iter().flat_map(|l| heights(l)).collect();
    assert!(markers[..20].iter().all(|l| heights(l).windows(2).all(|w| w[0] == w[1])), "a marker is not level");
    levels.sort_unstable();
    levels.dedup();
    assert_eq!(levels.len(), 2, "one level per bound: {levels:?}");
    // The CPU panel shows the table's figure for every cell that is a result, and none for
    // the invalid cell.
    let md = std::fs::read_to_string(dir.0.join("r.md")).unwrap();
    for (_, server, k) in all_cells() {
        let cpu = value(&table(&md, &title(k)), "Server CPU per 1k requests", server).to_owned();
        match cpu.strip_suffix(" s") {
            Some(figure) => assert!(texts.contains(&figure), "{server}: no bar labelled {figure}"),
            None => assert_eq!((k, cpu.starts_with("invalid")), (14, true), "only reuse-single-hyper: {server}"),
        }
    }
    assert!(!svg.contains("16843"), "the invalid cell's figure is drawn");
}

#[test]
fn failed_cells_show_a_dash_and_the_failure_not_their_result_file() {
    let dir = TempDir::new("failed");
    let mut m = meta();
    m.failed.insert("reuse-single-actix".into(), "server-actix died during the cell (status 134)".into());
    write_dir(&dir.0, &m);
    let md = report(&dir.0);
    let t = table(&md, "Reuse connections — Single req");
    assert_eq!(value(&t, "RPS", "actix"), DASH);
    assert!(md.contains("reuse-single-actix: failed: server-actix died during the cell (status 134)"));
}

#[test]
fn unreadable_run_json_is_an_error() {
    let dir = TempDir::new("nometa");
    assert!(matches!(load(&dir.0), Err(ReportError::ReadMeta { .. })));
    std::fs::write(dir.0.join("run.json"), "{}").unwrap();
    assert!(matches!(load(&dir.0), Err(ReportError::ParseMeta { .. })));
}

/// The report knows the Python columns only from run.json's `python`, so in these tests
/// the fixture's rouille column stands for one.
fn python_meta(unavailable: Option<&str>) -> RunMeta {
    let mut m = meta();
    m.python = Some(PythonRun {
        servers: vec!["rouille".into()],
        versions: Some("Python 3.11.7; Flask 3.1.3".into()),
        unavailable: unavailable.map(String::from),
    });
    m
}

#[test]
fn each_table_of_a_run_with_python_baselines_sets_rust_cpu_per_request_against_the_cheapest_python() {
    let dir = TempDir::new("python");
    write_dir(&dir.0, &python_meta(None));
    let md = report(&dir.0);
    assert!(md.contains("| Python baselines | Python 3.11.7; Flask 3.1.3 |"), "{md}");
    // First table: rouille is cell 0, hyper cell 4 (CPU (10 + k) / 10 s over 1000 (k + 1) + 5 requests).
    let per_1k = |k: f64| 1000.0 * (10.0 + k) / 10.0 / (1000.0 * (k + 1.0) + 5.0);
    let first = section(&md, &title(0));
    let line = first.lines().find(|l| l.starts_with("**Rust vs Python**")).expect("a Rust vs Python line");
    let want = format!("rouille ({:.3} s per 1k requests): axum {:.2}x", per_1k(0.0), per_1k(1.0) / per_1k(0.0));
    assert!(line.contains(&want), "{line}\nwants {want}");
    assert!(line.contains(&format!("hyper {:.2}x", per_1k(4.0) / per_1k(0.0))), "{line}");
    assert_eq!(md.matches("**Rust vs Python**, CPU per request against").count(), 4, "one per fixed-load table");
}

#[test]
fn without_python_the_python_cells_are_dashes_with_the_reason_and_a_rust_only_run_has_no_python_line() {
    let dir = TempDir::new("python-absent");
    let why = "no python3 on PATH";
    let mut m = python_meta(Some(why));
    for (name, server, _) in all_cells() {
        if server == "rouille" {
            m.skipped.insert(name, format!("Python servers not run: {why}"));
        }
    }
    write_dir(&dir.0, &m);
    let md = report(&dir.0);
    assert!(md.contains(&format!("| Python baselines | not run: {why} |")), "{md}");
    for (_, _, k) in all_cells().into_iter().filter(|c| c.1 == "rouille") {
        let t = table(&md, &title(k));
        assert_eq!(value(&t, "RPS", "rouille"), DASH);
        let body = section(&md, &title(k));
        assert!(body.contains(&format!("skipped: Python servers not run: {why}")), "{body}");
        assert!(body.contains("no Python server has a result in this table"), "{body}");
    }
    let dir = TempDir::new("rust-only");
    write_dir(&dir.0, &meta());
    let md = report(&dir.0);
    assert!(!md.contains("Rust vs Python") && !md.contains("Python baselines"), "a Rust-only run mentions Python");
}

#[test]
fn a_note_on_a_measured_cell_marks_its_column_and_keeps_its_figures() {
    let dir = TempDir::new("noted");
    let mut m = meta();
    let note = "server-axum was still busy after the cell (alive, no /health answer within 30 s)";
    m.notes.insert(cell_name(Scheme::Http, "reuse", "single", "axum"), note.into());
    write_dir(&dir.0, &m);
    let md = report(&dir.0);
    let k = 11; // reuse-single-axum
    let t = table(&md, &title(k));
    assert_eq!(t[0][2], "axum [1]", "{:?}", t[0]);
    assert!(section(&md, &title(k)).contains(&format!("[1] reuse-single-axum: {note}")));
    let col = t[0].iter().position(|h| h.starts_with("axum")).unwrap();
    let rps = t.iter().find(|r| r[0] == "RPS").unwrap();
    assert_eq!(rps[col], format!("{:.1}", (1000.0 * (k as f64 + 1.0) + 5.0) / 10.0));
}
