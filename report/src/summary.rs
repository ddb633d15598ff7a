//! The summary that opens results.md: what this run shows, one bullet per cell (mode x
//! endpoint). Every figure in it comes from the functions that fill the tables (RPS,
//! efficiency against Little's bound, CPU per request, capacity), so that the summary and
//! the tables cannot disagree; a cell that is no result (invalid, failed, skipped) is
//! named as such, never summarized.

use std::fmt::Write as _;

use super::capacity::{Verdict, bound_label, capacity_figure, verdict};
use super::tables::efficiency;
use super::validity::bound_formula;
use super::{
    CapacityCells, Cell, ENDPOINTS, MODES, Run, RunMeta, Scheme, capacity_cell_name, cell_name, grouped, short_label,
};
use crate::upstream::upstream_per_request;
use loadgen::capacity::{Bound, Capacity};
use loadgen::figures::cpu_per_1k;
use loadgen::result::RunResult;

/// The summary paragraph: a lead line, then one bullet per cell.
pub(super) fn render(out: &mut String, run: &Run) {
    out.push_str("**Summary**, generated from this run's figures (the tables below give them all):\n\n");
    for &scheme in run.meta.schemes() {
        for (mode, _) in MODES {
            for (endpoint, _) in ENDPOINTS {
                let mut sentences = fixed_load(run, scheme, mode, endpoint);
                if scheme == Scheme::Https {
                    sentences.extend(handshakes(run, mode, endpoint));
                }
                if run.meta.capacity.is_some() {
                    sentences.push(capacity(&run.meta, &run.capacity, scheme, mode, endpoint));
                }
                let label = match scheme {
                    Scheme::Http => short_label(mode, endpoint),
                    Scheme::Https => format!("HTTPS upstream — {}", short_label(mode, endpoint)),
                };
                let _ = writeln!(out, "- **{label}**: {}", sentences.join(" "));
            }
        }
    }
    if run.meta.tls.is_some() && run.meta.capacity.is_some() {
        for (endpoint, _) in ENDPOINTS {
            let _ = writeln!(out, "- {}", reuse_ratios(&run.meta, &run.capacity, endpoint));
        }
    }
    out.push('\n');
}

/// "Upstream TLS handshakes per request (full / resumed): axum 0.000 / 1.000, hyper ...":
/// each HTTPS cell's, for the servers with a result and the upstream's counts.
fn handshakes(run: &Run, mode: &str, endpoint: &str) -> Option<String> {
    let mut each = Vec::new();
    for server in &run.meta.servers {
        let name = cell_name(Scheme::Https, mode, endpoint, server);
        let (Some(Cell::Valid(r)), Some(Cell::Valid(u))) = (run.cells.get(&name), run.upstream_tls.get(&name)) else {
            continue;
        };
        if let Some(per) = upstream_per_request(u, r) {
            each.push(format!("{server} {:.3} / {:.3}", per.full_handshakes, per.resumed_handshakes));
        }
    }
    (!each.is_empty()).then(|| format!("Upstream TLS handshakes per request (full / resumed): {}.", each.join(", ")))
}

/// "Reuse / not reuse capacity, Single req: http, https per server: hyper 3.10x, 2.52x; ...": per
/// server, how much more a server carries when it reuses its upstream connections, over
/// plain HTTP and over HTTPS side by side. A ratio of a lower-bound capacity is a bound
/// itself: ≥ when the reuse figure is one, ≤ when the not-reuse one is.
fn reuse_ratios(meta: &RunMeta, cells: &CapacityCells, endpoint: &str) -> String {
    let figure = |scheme, mode, server| match verdict(cells.get(&capacity_cell_name(scheme, mode, endpoint, server))) {
        Verdict::Figure { cap, step, lower_bound } => Some((capacity_figure(cap, step), lower_bound.is_some())),
        _ => None,
    };
    let ratio = |scheme, server| match (figure(scheme, "reuse", server), figure(scheme, "no-reuse", server)) {
        (Some((reuse, reuse_bound)), Some((not, not_bound))) if not > 0.0 => match (reuse_bound, not_bound) {
            (false, false) => format!("{:.2}x", reuse / not),
            (true, false) => format!("≥ {:.2}x", reuse / not),
            (false, true) => format!("≤ {:.2}x", reuse / not),
            (true, true) => "— (both lower bounds)".to_owned(),
        },
        _ => "—".to_owned(),
    };
    let servers: Vec<String> =
        meta.servers.iter().map(|s| format!("{s} {}, {}", ratio(Scheme::Http, s), ratio(Scheme::Https, s))).collect();
    let label = ENDPOINTS.iter().find(|e| e.0 == endpoint).map_or(endpoint, |e| e.1);
    format!(
        "**Reuse / not reuse capacity, {label}**: http, https per server (—: a search without a figure): {}.",
        servers.join("; ")
    )
}

/// What a cell that is no result is, in a word or two: "skipped", "failed", "invalid".
fn missing_kind(reason: &str) -> &str {
    match reason.split_once(':') {
        Some((kind @ ("skipped" | "failed"), _)) => kind,
        _ => "not measured",
    }
}

/// The sentences on one fixed-load cell: the most requests/s, each server's share of its
/// Little's bound, the cheapest and the costliest request, and the servers with no result.
fn fixed_load(run: &Run, scheme: Scheme, mode: &str, endpoint: &str) -> Vec<String> {
    let meta = &run.meta;
    let mut results: Vec<(&str, &RunResult)> = Vec::new();
    let mut not_results = Vec::new();
    for server in &meta.servers {
        match run.cells.get(&cell_name(scheme, mode, endpoint, server)) {
            Some(Cell::Valid(r)) => results.push((server, r)),
            Some(Cell::Invalid(..)) => not_results.push(format!("{server} invalid")),
            Some(Cell::Missing(reason)) => not_results.push(format!("{server} {}", missing_kind(reason))),
            None => not_results.push(format!("{server} failed")),
        }
    }
    let mut sentences = Vec::new();
    let rps: Vec<(&str, f64)> = results.iter().map(|(s, r)| (*s, r.rps())).collect();
    if let Some((servers, most)) = extreme(&rps, f64::max, grouped) {
        sentences.push(format!("Most requests/s: {servers}, {} req/s.", grouped(most)));
        sentences.push(bounds(meta, &results));
        sentences.extend(cost(&results));
    }
    if !not_results.is_empty() {
        let lead = if results.is_empty() { "No result" } else { "Not results" };
        sentences.push(format!("{lead} (the table's notes say why): {}.", not_results.join(", ")));
    }
    sentences
}

/// "RPS / Little's bound: axum 98.0%, hyper 99.5% of 10,000 (C/D); rouille 99.6% of
/// 2,560 (min(C, threads)/D, 256 threads)": the servers grouped by their bound, in column
/// order.
fn bounds(meta: &RunMeta, results: &[(&str, &RunResult)]) -> String {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    let mut unknown = Vec::new();
    for (server, r) in results {
        let Some((share, bound)) = efficiency(meta, server, r) else {
            unknown.push(server.to_string());
            continue;
        };
        let threads = match meta.server_threads.get(*server) {
            Some(t) if meta.is_pooled(server) => format!(", {t} threads"),
            _ => String::new(),
        };
        let key = format!("of {} ({}{threads})", grouped(bound), bound_formula(meta, server));
        let entry = format!("{server} {share:.1}%");
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, servers)) => servers.push(entry),
            None => groups.push((key, vec![entry])),
        }
    }
    let mut parts: Vec<String> =
        groups.into_iter().map(|(key, servers)| format!("{} {key}", servers.join(", "))).collect();
    if !unknown.is_empty() {
        parts.push(format!("no bound known for {}", unknown.join(", ")));
    }
    format!("RPS / Little's bound: {}.", parts.join("; "))
}

/// The servers at one end of `figures` (`end` is `f64::max` or `f64::min`): every one tied
/// there as `show` prints it, in column order, and the figure.
fn extreme(figures: &[(&str, f64)], end: fn(f64, f64) -> f64, show: fn(f64) -> String) -> Option<(String, f64)> {
    let value = figures.iter().map(|f| f.1).reduce(end)?;
    let servers: Vec<&str> = figures.iter().filter(|f| show(f.1) == show(value)).map(|f| f.0).collect();
    Some((servers.join(", "), value))
}

/// "Least CPU per 1k requests: hyper, 0.400 s; most: rouille, 1.172 s (2.9x).", or nothing
/// when no server was sampled.
fn cost(results: &[(&str, &RunResult)]) -> Option<String> {
    let costs: Vec<(&str, f64)> = results.iter().filter_map(|(s, r)| Some((*s, cpu_per_1k(r)?))).collect();
    let show = |v: f64| format!("{v:.3} s");
    let (cheapest, least) = extreme(&costs, f64::min, show)?;
    let (costliest, most) = extreme(&costs, f64::max, show)?;
    if show(least) == show(most) {
        return Some(format!("CPU per 1k requests: {cheapest}, {}.", show(least)));
    }
    let ratio = if least > 0.0 { format!(" ({:.1}x)", most / least) } else { String::new() };
    Some(format!("Least CPU per 1k requests: {cheapest}, {}; most: {costliest}, {}{ratio}.", show(least), show(most)))
}

/// What a capacity cell without a figure is: "client-bound", "failed"...
fn no_figure_kind(cell: Option<&Cell<Capacity>>) -> &str {
    match cell {
        Some(Cell::Missing(reason)) => missing_kind(reason),
        None => "failed",
        Some(cell) => match cell.record() {
            Some(cap) if cap.bound == Bound::Client => "client-bound",
            Some(cap) if cap.bound == Bound::FirstStep => "no capacity (its first step failed)",
            _ => "no figure",
        },
    }
}

/// "Capacity, highest first: hyper 1,200 req/s (CPU), rouille ≥ 600 (fd budget); no
/// figure: warp client-bound, actix failed."
fn capacity(meta: &RunMeta, cells: &CapacityCells, scheme: Scheme, mode: &str, endpoint: &str) -> String {
    let mut figures: Vec<(f64, String)> = Vec::new();
    let mut none = Vec::new();
    for server in &meta.servers {
        let cell = cells.get(&capacity_cell_name(scheme, mode, endpoint, server));
        match verdict(cell) {
            Verdict::Figure { cap, step, lower_bound } => {
                let rps = capacity_figure(cap, step);
                let at_least = if lower_bound.is_some() { "≥ " } else { "" };
                figures.push((rps, format!("{server} {at_least}{} ({})", grouped(rps), bound_label(cap.bound))));
            }
            Verdict::Invalid(_) => none.push(format!("{server} invalid")),
            Verdict::NoFigure(_) => none.push(format!("{server} {}", no_figure_kind(cell))),
        }
    }
    // Stable: equal capacities stay in column order.
    figures.sort_by(|a, b| b.0.total_cmp(&a.0));
    let ranked: Vec<String> = figures.into_iter().map(|(_, text)| text).collect();
    let mut sentence = match ranked.len() {
        0 => "Capacity: no figure".to_owned(),
        1 => format!("Capacity (req/s): {}", ranked[0]),
        _ => format!("Capacity (req/s), highest first: {}", ranked.join(", ")),
    };
    if !none.is_empty() {
        let lead = if ranked.is_empty() { ": " } else { "; no figure: " };
        let _ = write!(sentence, "{lead}{}", none.join(", "));
    }
    sentence.push('.');
    sentence
}
