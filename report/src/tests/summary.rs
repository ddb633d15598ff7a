//! The summary that opens results.md, rendered from a results directory built here.

use super::capacity::{capacity_meta, client_bound, put_capacity, search};
use super::*;
use loadgen::capacity::Bound;

/// Every kind of cell: fixed-load cells of rising RPS and falling CPU per request at one
/// connection count, one of them invalid (over its bound), one failed, one skipped; a
/// search per cell, one a lower bound (fd budget), one client-bound, one missing.
pub(super) fn summary_fixture(dir: &Path) -> RunMeta {
    let mut m = capacity_meta(&SERVERS);
    m.failed.insert("reuse-single-actix".into(), "server-actix died during the cell (status 134)".into());
    m.skipped.insert("reuse-multiple-rouille".into(), "needs 12000 fds, limit 10000".into());
    write_dir(dir, &m);
    for (name, _, k) in all_cells() {
        let mut r = fake(k);
        r.mode.connections = 1000;
        put(dir, &name, &r);
    }
    put(dir, "no-reuse-single-hyper", &quick_cell(16_843.0, 0.0));
    for (k, (sc, mo, e, s)) in each_cell(&m).enumerate() {
        put_capacity(dir, &capacity_cell_name(sc, mo, e, s), &search(k));
    }
    let mut fd = search(0);
    fd.bound = Bound::FdBudget;
    put_capacity(dir, "capacity-no-reuse-single-rouille", &fd);
    put_capacity(dir, "capacity-reuse-single-warp", &client_bound());
    std::fs::remove_file(dir.join("capacity-no-reuse-multiple-actix.json")).unwrap();
    m
}

/// The summary's bullet for the cell labelled `label`.
pub(super) fn bullet<'a>(md: &'a str, label: &str) -> &'a str {
    let start = format!("- **{label}**: ");
    md.lines().find_map(|l| l.strip_prefix(start.as_str())).unwrap_or_else(|| panic!("no bullet {label:?} in\n{md}"))
}

#[test]
fn the_summary_names_the_fastest_and_cheapest_server_and_each_ones_share_of_its_bound() {
    let dir = TempDir::new("summary");
    summary_fixture(&dir.0);
    let md = report(&dir.0);
    // Rising RPS (k + 1) x 100.05, CPU per 1k requests (10 + k) / (k + 1.005); rouille's
    // bound is its 256 threads over 100 ms, the others' 1,000 connections over 100 ms.
    assert_eq!(
        bullet(&md, "Reuse — Single req"),
        "Most requests/s: hyper, 1,500 req/s. RPS / Little's bound: rouille 43.0% of 2,560 (min(C, threads)/D, \
         256 threads); axum 12.0%, warp 14.0%, hyper 15.0% of 10,000 (C/D). Least CPU per 1k requests: hyper, \
         0.160 s; most: rouille, 0.182 s (1.1x). Not results (the table's notes say why): actix failed. Capacity \
         (req/s), highest first: hyper 614 (CPU), actix 612 (CPU), axum 611 (CPU), rouille 610 (CPU); no figure: \
         warp client-bound."
    );
    assert_eq!(
        bullet(&md, "Not reuse — Single req"),
        "Most requests/s: warp, 400 req/s. RPS / Little's bound: rouille 3.9% of 2,560 (min(C, threads)/D, 256 \
         threads); axum 2.0%, actix 3.0%, warp 4.0% of 10,000 (C/D). Least CPU per 1k requests: warp, 0.325 s; \
         most: rouille, 0.995 s (3.1x). Not results (the table's notes say why): hyper invalid. Capacity (req/s), \
         highest first: hyper 604 (CPU), warp 603 (CPU), actix 602 (CPU), axum 601 (CPU), rouille ≥ 600 (fd \
         budget)."
    );
    assert!(bullet(&md, "Not reuse — Multi req").ends_with("rouille 605 (CPU); no figure: actix failed."));
    assert!(bullet(&md, "Reuse — Multi req").contains(
        "RPS / Little's bound: axum 17.0%, actix 18.0%, warp 19.0%, hyper 20.0% of 10,000 (C/D). Least CPU per \
         1k requests: hyper, 0.145 s; most: axum, 0.153 s (1.1x). Not results (the table's notes say why): \
         rouille skipped."
    ));
    // The invalid cell's impossible figure is not summarized: 16,843 req/s over a bound of 1,000.
    let summary = &md[md.find("**Summary**").unwrap()..md.find("| Run |").unwrap()];
    assert!(!summary.contains("16,843") && !summary.contains("1,684"), "{summary}");
    // Right after the header, before every table.
    assert!(md.find("no number here is typed by hand").unwrap() < md.find("**Summary**").unwrap());
    assert!(md.find("**Summary**").unwrap() < md.find("| Run |").unwrap());
    assert_eq!(report(&dir.0), md, "the same directory renders the same summary");
}

#[test]
fn a_cell_without_any_result_is_named_so_and_no_capacity_sentence_without_searches() {
    let dir = TempDir::new("summary-none");
    let mut m = meta();
    for server in SERVERS {
        m.failed.insert(cell_name(Scheme::Http, "reuse", "multiple", server), "the upstream died".into());
    }
    write_dir(&dir.0, &m);
    let md = report(&dir.0);
    assert_eq!(
        bullet(&md, "Reuse — Multi req"),
        "No result (the table's notes say why): rouille failed, axum failed, actix failed, warp failed, hyper failed."
    );
    let summary = &md[md.find("**Summary**").unwrap()..md.find("| Run |").unwrap()];
    assert!(!summary.contains("Capacity"), "{summary}");
    assert_eq!(summary.lines().filter(|l| l.starts_with("- **")).count(), 4, "one bullet per cell");
}

/// Servers equal at the precision shown are all named, in column order, not the first of
/// them alone as if it were ahead.
#[test]
fn servers_tied_at_either_end_are_all_named() {
    let dir = TempDir::new("summary-ties");
    write_dir(&dir.0, &quick_meta());
    for (name, server, _) in all_cells() {
        put(&dir.0, &name, &quick_cell(if server == "rouille" { 318.0 } else { 495.0 }, 0.0));
    }
    let mut cheap = quick_cell(318.0, 0.0);
    cheap.server.as_mut().unwrap().cpu_seconds = 0.5;
    put(&dir.0, "reuse-multiple-rouille", &cheap);
    let md = report(&dir.0);
    assert_eq!(
        bullet(&md, "Not reuse — Single req"),
        "Most requests/s: axum, actix, warp, hyper, 495 req/s. RPS / Little's bound: rouille 99.4% of 320 \
         (min(C, threads)/D, 64 threads); axum 99.0%, actix 99.0%, warp 99.0%, hyper 99.0% of 500 (C/D). Least \
         CPU per 1k requests: axum, actix, warp, hyper, 1.010 s; most: rouille, 1.572 s (1.6x)."
    );
    assert!(
        bullet(&md, "Reuse — Multi req")
            .contains("Least CPU per 1k requests: rouille, 0.786 s; most: axum, actix, warp, hyper, 1.010 s (1.3x).")
    );
}
