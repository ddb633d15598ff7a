//! A `./run_all.sh --tls` run: every cell once over plain HTTP and once over HTTPS, the
//! HTTPS cells with gosleep's TLS counters beside them, rendered from a results directory
//! built here from JSON.

use super::capacity::{capacity_meta, polylines, put_capacity, search};
use super::summary::bullet;
use super::*;

/// The stack a --tls run records (`bench_tls::STACK`, as the runner writes it into run.json).
const STACK: &str = "rustls 0.23, ring provider";

/// gosleep's `/stats` after an HTTPS cell's window, as run_all.sh keeps it: the counters
/// the report reads among the others gosleep serves; `full` handshakes of the servers, plus
/// the one of the read itself.
fn upstream_json(requests: u64, full: u64, resumed: u64, failures: u64) -> String {
    let full = full + crate::upstream::STATS_READ_HANDSHAKES;
    format!(
        r#"{{"connections_accepted": {}, "connections_open": 3, "requests": {requests}, "in_flight": 0,
            "max_in_flight": 9, "tls_handshakes_full": {full}, "tls_handshakes_resumed": {resumed},
            "tls_failures": {failures}}}"#,
        full + resumed
    )
}

/// A search whose capacity is `rps` (its step at capacity offered it).
fn search_at(rps: f64) -> Capacity {
    let mut s = search(0);
    s.steps[4].offered_rps = rps;
    s.steps[4].result.requests = (rps * 3.0).round() as u64;
    s.capacity_rps = Some(rps);
    s
}

/// A --tls run of `servers` with capacity searches: every fixed-load cell answers 2,000
/// requests (`/multiple` 5 upstream calls each); over HTTPS, not reusing connections costs
/// 0.05 full and 0.95 resumed handshakes per upstream call, reusing them none. Capacity:
/// 1,000 req/s reusing, 400 not (http) and 500 not (https).
fn tls_fixture(dir: &Path, servers: &[&str]) -> RunMeta {
    let mut m = capacity_meta(servers);
    m.pooled.retain(|s| servers.contains(&s.as_str()));
    m.tls = Some(serde_json::from_str(&format!(r#"{{"stack": "{STACK}"}}"#)).unwrap());
    write_dir(dir, &m);
    for (scheme, mode, endpoint, server) in each_cell(&m) {
        let name = cell_name(scheme, mode, endpoint, server);
        let mut r = fake(0);
        r.requests = 2000;
        put(dir, &name, &r);
        if scheme == Scheme::Https {
            let calls = if endpoint == "multiple" { 5 * 2000 } else { 2000 };
            let (full, resumed) = if mode == "reuse" { (0, 0) } else { (calls / 20, calls - calls / 20) };
            std::fs::write(dir.join(upstream_tls_file(&name)), upstream_json(calls, full, resumed, 0)).unwrap();
        }
        let not_reuse = if scheme == Scheme::Https { 500.0 } else { 400.0 };
        let cap = if mode == "reuse" { 1000.0 } else { not_reuse };
        put_capacity(dir, &capacity_cell_name(scheme, mode, endpoint, server), &search_at(cap));
    }
    m
}

#[test]
fn https_cells_have_tables_of_their_own_with_the_upstream_handshakes_per_request() {
    let dir = TempDir::new("https-tables");
    tls_fixture(&dir.0, &SERVERS);
    let md = report(&dir.0);
    let t = table(&md, "HTTPS upstream — Not reuse connections — Multi req");
    assert_eq!(value(&t, "RPS", "hyper"), "200.0", "the cell's own result");
    assert_eq!(value(&t, "Upstream calls per request", "hyper"), "5.00");
    assert_eq!(value(&t, "Upstream TLS handshakes per request (full / resumed)", "hyper"), "0.250 / 4.750");
    assert_eq!(value(&t, "Upstream TLS failures", "hyper"), "0");
    let t = table(&md, "HTTPS upstream — Reuse connections — Single req");
    assert_eq!(value(&t, "Upstream calls per request", "axum"), "1.00");
    assert_eq!(value(&t, "Upstream TLS handshakes per request (full / resumed)", "axum"), "0.000 / 0.000");
    let http = table(&md, "Reuse connections — Single req");
    assert_eq!(http.len(), 1 + ROWS.len(), "a plain-HTTP table has no upstream TLS rows");
    assert_eq!(
        table(&md, "HTTPS upstream — Reuse connections — Single req").len(),
        1 + ROWS.len() + UPSTREAM_TLS_ROWS.len()
    );
    for title in
        ["Capacity — HTTPS upstream — Reuse connections — Multi req", "Capacity — Not reuse connections — Single req"]
    {
        assert!(md.contains(&format!("### {title}\n")), "no table {title:?}");
    }
    assert!(md.contains("### Memory per in-flight request — HTTPS upstream\n"));
    assert!(md.contains("**Upstream TLS handshakes per request (full / resumed)**"), "how to read them");
}

#[test]
fn the_run_header_names_the_tls_stack_of_the_rust_servers_and_gosleep_and_openssl_for_python() {
    let dir = TempDir::new("https-stack");
    let mut m = tls_fixture(&dir.0, &SERVERS);
    let md = report(&dir.0);
    let line = md.lines().find(|l| l.starts_with("| Upstream TLS |")).expect("an Upstream TLS line");
    assert!(line.contains(&format!("the Rust servers and gosleep: {STACK}")), "{line}");
    assert!(!line.contains("OpenSSL"), "no Python server ran: {line}");
    m.python = Some(PythonRun { servers: vec!["rouille".into()], versions: None, unavailable: None });
    std::fs::write(dir.0.join("run.json"), serde_json::to_string(&m).unwrap()).unwrap();
    let md = report(&dir.0);
    let line = md.lines().find(|l| l.starts_with("| Upstream TLS |")).unwrap();
    assert!(line.contains("the Python servers: OpenSSL, through Python's ssl module"), "{line}");
}

#[test]
fn the_summary_sets_each_servers_reuse_over_not_reuse_capacity_per_scheme_side_by_side() {
    let dir = TempDir::new("https-summary");
    tls_fixture(&dir.0, &["axum", "hyper"]);
    let md = report(&dir.0);
    for endpoint in ["Single req", "Multi req"] {
        let ratios = bullet(&md, &format!("Reuse / not reuse capacity, {endpoint}"));
        assert_eq!(
            ratios,
            "http, https per server (—: a search without a figure): axum 2.50x, 2.00x; hyper 2.50x, 2.00x."
        );
    }
    let https = bullet(&md, "HTTPS upstream — Not reuse — Single req");
    assert!(
        https
            .contains("Upstream TLS handshakes per request (full / resumed): axum 0.050 / 0.950, hyper 0.050 / 0.950."),
        "{https}"
    );
    assert!(https.contains("Capacity (req/s), highest first: axum 500 (CPU), hyper 500 (CPU)."), "{https}");
    assert!(bullet(&md, "Not reuse — Single req").contains("axum 400 (CPU)"), "the plain-HTTP bullet stands");
}

#[test]
fn a_ratio_without_both_figures_is_a_dash_and_one_of_a_lower_bound_says_which_way() {
    let dir = TempDir::new("https-ratio-bounds");
    tls_fixture(&dir.0, &["axum", "hyper"]);
    std::fs::remove_file(dir.0.join("capacity-https-no-reuse-single-axum.json")).unwrap();
    let mut fd = search_at(1000.0);
    fd.bound = loadgen::capacity::Bound::FdBudget;
    put_capacity(&dir.0, "capacity-reuse-single-hyper", &fd);
    let md = report(&dir.0);
    let ratios = bullet(&md, "Reuse / not reuse capacity, Single req");
    assert!(ratios.ends_with(": axum 2.50x, —; hyper ≥ 2.50x, 2.00x."), "{ratios}");
}

#[test]
fn an_https_cell_without_the_upstreams_counts_shows_dashes_with_the_reason() {
    let dir = TempDir::new("https-no-counts");
    tls_fixture(&dir.0, &SERVERS);
    std::fs::remove_file(dir.0.join("https-reuse-single-warp.upstream.json")).unwrap();
    std::fs::write(dir.0.join("https-reuse-single-hyper.upstream.json"), r#"{"requests": 3}"#).unwrap();
    let md = report(&dir.0);
    let t = table(&md, "HTTPS upstream — Reuse connections — Single req");
    let row = "Upstream TLS handshakes per request (full / resumed)";
    assert!(value(&t, row, "warp").starts_with("— ["), "{}", value(&t, row, "warp"));
    assert!(value(&t, row, "hyper").starts_with("— ["));
    assert_eq!(value(&t, "RPS", "warp"), "200.0", "the cell's own figures stand");
    let notes = section(&md, "HTTPS upstream — Reuse connections — Single req");
    assert!(notes.contains("https-reuse-single-warp: the upstream's counts: failed: no result file https-reuse-single-warp.upstream.json"), "{notes}");
    assert!(notes.contains("https-reuse-single-hyper.upstream.json is not gosleep's TLS counters"), "{notes}");
}

#[test]
fn an_https_cell_of_a_run_is_named_and_loaded_apart_from_its_http_twin() {
    let dir = TempDir::new("https-apart");
    let m = tls_fixture(&dir.0, &SERVERS);
    let mut failed = m.clone();
    failed.failed.insert("https-reuse-single-axum".into(), "server-axum failed during the cell".into());
    std::fs::write(dir.0.join("run.json"), serde_json::to_string(&failed).unwrap()).unwrap();
    let run = load(&dir.0).unwrap();
    assert!(matches!(run.cells["reuse-single-axum"], Cell::Valid(_)), "the http twin stands");
    assert!(matches!(&run.cells["https-reuse-single-axum"], Cell::Missing(why) if why.contains("failed during")));
    assert!(matches!(run.upstream_tls["https-reuse-single-hyper"], Cell::Valid(_)));
    assert!(!run.upstream_tls.contains_key("reuse-single-hyper"), "a plain-HTTP cell has no TLS counters");
    assert_eq!(run.cells.len(), 2 * 4 * SERVERS.len());
    assert_eq!(run.capacity.len(), 2 * 4 * SERVERS.len());
}

#[test]
fn the_rps_chart_has_a_group_per_table_of_both_schemes() {
    let dir = TempDir::new("https-chart");
    tls_fixture(&dir.0, &SERVERS);
    let run = load(&dir.0).unwrap();
    let svg = render_svg(&run.meta, &run.cells).unwrap();
    assert!(svg.contains("HTTPS Reuse — Multi req"), "an HTTPS group");
    assert!(svg.contains("All 40 cells measured."), "both schemes' cells");
}

#[test]
fn the_latency_vs_load_chart_has_a_block_of_four_panels_per_scheme() {
    let dir = TempDir::new("https-cap-chart");
    tls_fixture(&dir.0, &SERVERS);
    let run = load(&dir.0).unwrap();
    let svg = render_capacity_svg(&run).unwrap();
    for (s, server) in SERVERS.iter().enumerate() {
        assert_eq!(polylines(&svg, server_color(s)), 8, "{server}: a line in each of the 8 panels");
    }
    for label in ["Reuse — Single req", "HTTPS Reuse — Single req", "HTTPS Not reuse — Multi req"] {
        assert!(svg.contains(&format!(">{label}<")) || svg.lines().any(|l| l.trim() == label), "no panel {label}");
    }
    // Twice the plain-HTTP chart's height: a second block below the first.
    assert!(svg.contains(r#"height="1520""#), "{}", svg.lines().next().unwrap_or_default());
}
