//! Whether a cell is a result: the one home for refusing the physically impossible. A
//! fixed-load cell over its Little's bound, or with a majority of failed requests, and a
//! capacity search whose step at capacity answered faster than the upstream can, or more
//! than was offered, is shown as "invalid" with the reason, and makes `report` exit 1.
//! [`super::load`] asks once per cell ([`Cell::Invalid`]); the renderers read its answer.

use super::{Cell, RunMeta, grouped};
use loadgen::capacity::{Capacity, Step};
use loadgen::result::RunResult;

/// The invalid cells, fixed-load then capacity, each in table order, with the reason.
pub fn invalid_cells(run: &super::Run) -> Vec<(String, String)> {
    let mut invalid = Vec::new();
    for (scheme, mode, endpoint, server) in super::each_cell(&run.meta) {
        let name = super::cell_name(scheme, mode, endpoint, server);
        if let Some(Cell::Invalid(_, why)) = run.cells.get(&name) {
            invalid.push((name, why.clone()));
        }
    }
    for (scheme, mode, endpoint, server) in super::each_cell(&run.meta) {
        let name = super::capacity_cell_name(scheme, mode, endpoint, server);
        if let Some(Cell::Invalid(_, why)) = run.capacity.get(&name) {
            invalid.push((name, why.clone()));
        }
    }
    invalid
}

/// Little's bound on RPS for a cell: concurrency / delay. `None` when it cannot be known
/// (zero delay, or a pooled server without its pool size in run.json).
pub fn littles_bound(meta: &RunMeta, server: &str, connections: usize) -> Option<f64> {
    if meta.delay_ms == 0 {
        return None;
    }
    let delay_s = meta.delay_ms as f64 / 1000.0;
    let concurrency =
        if meta.is_pooled(server) { connections.min(*meta.server_threads.get(server)?) } else { connections };
    Some(concurrency as f64 / delay_s)
}

/// The Little's bound of a measured cell: [`littles_bound`] at the connections it ran with.
/// The validity check, the Efficiency row, the summary and the chart all take it from here.
pub fn cell_bound(meta: &RunMeta, server: &str, result: &RunResult) -> Option<f64> {
    littles_bound(meta, server, result.mode.connections)
}

/// How [`littles_bound`] is computed for `server`: a pooled server's pool caps its
/// concurrency.
pub fn bound_formula(meta: &RunMeta, server: &str) -> &'static str {
    if meta.is_pooled(server) { "min(C, threads)/D" } else { "C/D" }
}

/// The Little's bound a measured RPS may exceed, as a share of it, before the figure is
/// impossible rather than noise. The recorded window also counts the answers to the
/// requests already in flight when it opened (at most the concurrency, C): that is at
/// most C answers more than C / D x window, a share of D / window; plus
/// [`CLOCK_TOLERANCE`].
pub fn littles_tolerance(delay_s: f64, window_s: f64) -> f64 {
    if window_s > 0.0 { delay_s / window_s + CLOCK_TOLERANCE } else { f64::INFINITY }
}

/// Share of a Little's bound allowed for the clocks: the upstream's sleep and loadgen's
/// window are each timed to a millisecond or so, a fraction of a percent of any delay and
/// window run_all.sh uses; 2% leaves room for that several times over.
pub const CLOCK_TOLERANCE: f64 = 0.02;

/// Why a measured cell is no result, or `None` if it is one. Over its Little's bound beyond
/// [`littles_tolerance`], the requests did not wait for the upstream (a dead upstream
/// answered at once with errors, or not at all); with a majority of failed requests
/// (non-2xx answers and socket errors), the RPS counts failures, not service.
pub fn invalid_reason(meta: &RunMeta, server: &str, result: &RunResult) -> Option<String> {
    let mut why = Vec::new();
    let rps = result.rps();
    if let Some(bound) = cell_bound(meta, server, result) {
        let tolerance = littles_tolerance(meta.delay_ms as f64 / 1000.0, result.elapsed_s);
        if rps > bound * (1.0 + tolerance) {
            let formula = bound_formula(meta, server);
            why.push(format!(
                "over Little's bound: {} req/s > {} ({formula}) by more than the {:.0}% a measurement can exceed it",
                grouped(rps),
                grouped(bound),
                100.0 * tolerance
            ));
        }
    }
    let e = &result.errors;
    let failed = e.total();
    let attempts = result.requests.saturating_add(e.socket());
    if failed > attempts / 2 {
        let share = 100.0 * failed as f64 / attempts as f64;
        why.push(format!(
            "majority non-2xx or socket errors: {share:.0}% of {} ({})",
            grouped(attempts as f64),
            e.kinds()
        ));
    }
    if why.is_empty() { None } else { Some(why.join("; ")) }
}

/// The step a search names as its capacity, if it names one that exists.
pub fn step_at_capacity(cap: &Capacity) -> Option<&Step> {
    cap.capacity_rps?;
    cap.steps.get(cap.at_capacity?)
}

/// Why a capacity search is no result, or `None` if it is one. At capacity, every answer
/// waited on the upstream at least its delay, so a p50 below it means the requests never
/// reached the upstream; and an open-loop run cannot answer more than it offered, beyond
/// the answers to requests sent before its window opened ([`littles_tolerance`], as for
/// a fixed-load cell).
pub fn capacity_invalid_reason(meta: &RunMeta, cap: &Capacity) -> Option<String> {
    let step = step_at_capacity(cap)?;
    let mut why = Vec::new();
    let r = &step.result;
    if let Some(run) = &meta.capacity {
        let p50_ms = r.latency_summary.p50_us as f64 / 1000.0;
        if p50_ms < run.delay_ms as f64 {
            why.push(format!(
                "p50 at capacity {p50_ms:.1} ms < the upstream delay {} ms that every answer waits",
                run.delay_ms
            ));
        }
        let tolerance = littles_tolerance(run.delay_ms as f64 / 1000.0, r.elapsed_s);
        if r.rps() > step.offered_rps * (1.0 + tolerance) {
            why.push(format!(
                "answered {} req/s > offered {} req/s by more than the {:.0}% a measurement can exceed it",
                grouped(r.rps()),
                grouped(step.offered_rps),
                100.0 * tolerance
            ));
        }
    }
    if why.is_empty() { None } else { Some(why.join("; ")) }
}
