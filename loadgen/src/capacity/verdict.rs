//! What the search concludes from its steps: whether a step passed, what bound the
//! capacity, and the memory per request in flight.

use std::time::Duration;

use super::text::ms;
use super::{ANSWERED_SHARE, Bound, CPU_BOUND_SHARE, Phase, Step};
use crate::result::RunResult;

/// Why a step at `rate` fails the pass rule, or `None` when it passes.
pub fn failure(result: &RunResult, rate: f64, slo: Duration) -> Option<String> {
    let mut why = Vec::new();
    let e = &result.errors;
    if e.socket() > 0 {
        let kinds = [("connect", e.connect), ("read", e.read), ("write", e.write), ("timeout", e.timeout)];
        let kinds: Vec<String> = kinds.iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{k} {n}")).collect();
        why.push(format!("{} socket errors ({})", e.socket(), kinds.join(", ")));
    }
    if e.non_2xx() > 0 {
        let codes: Vec<String> = e.status.iter().map(|(code, n)| format!("{code} x{n}")).collect();
        why.push(format!("{} non-2xx answers ({})", e.non_2xx(), codes.join(", ")));
    }
    let offered = rate * result.mode.duration_s;
    let answered = result.requests.saturating_sub(e.non_2xx()) as f64;
    if answered < ANSWERED_SHARE * offered {
        why.push(format!("answered {:.1}% of {offered:.0} offered", 100.0 * answered / offered.max(1.0)));
    }
    let p99 = Duration::from_micros(result.latency_summary.p99_us);
    if p99 > slo {
        why.push(format!("p99 {} > SLO {}", ms(p99), ms(slo)));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// What bound the capacity, decided at the lowest failing step above it, and the reason
/// in words.
pub fn decide_bound(step: &Step, server_cores: Option<f64>, pool: Option<usize>) -> (Bound, String) {
    if step.client_bound {
        return (Bound::Client, step.client.bound_words());
    }
    let share = server_share(step, server_cores);
    if let Some(share) = share
        && share >= CPU_BOUND_SHARE
    {
        return (Bound::Cpu, format!("server CPU {:.0}% of its cores at {:.0} req/s", 100.0 * share, step.offered_rps));
    }
    let bound = if pool.is_some() { Bound::Pool } else { Bound::Concurrency };
    if let Some(busy) = step.server_cpus_busy_percent.filter(|b| b / 100.0 >= CPU_BOUND_SHARE) {
        let why = format!("but its CPUs were {busy:.0}% busy with other processes: a figure under contention");
        return (bound, why);
    }
    let why = if share.is_none() {
        "server CPU not sampled (no --server-pid), so cpu is not ruled out".into()
    } else {
        String::new()
    };
    (bound, why)
}

/// The server's CPU in the step as a share of the cores it may use.
fn server_share(step: &Step, cores: Option<f64>) -> Option<f64> {
    Some(step.result.server?.cpu_percent / (100.0 * cores?))
}

/// Peak RSS growth per request in flight from the light step to the highest passing rising
/// step (see the field's doc).
pub(super) fn rss_kib_per_in_flight(steps: &[Step]) -> Option<f64> {
    let light = steps.first()?;
    let top = steps
        .iter()
        .filter(|s| s.passed && s.phase == Phase::Rise)
        .max_by(|a, b| a.offered_rps.total_cmp(&b.offered_rps))?;
    let in_flight = |r: &RunResult| r.rps() * r.latency_summary.mean_us / 1e6;
    let grew = top.result.server?.peak_rss_kib as f64 - light.result.server?.peak_rss_kib as f64;
    let more = in_flight(&top.result) - in_flight(&light.result);
    (more > 0.0).then(|| grew / more)
}
