//! What the search samples around a step besides the engine's server sample: the wait for
//! the server to go quiet before it, and the client side's CPU during it.

use std::time::{Duration, Instant};

use super::{ClientSample, QUIET_CPU_SHARE};
use crate::procstat;

/// Waits until the server's CPU (its process tree's) stays under [`QUIET_CPU_SHARE`] of a
/// core for `quiet`, at most `limit` (then goes on: a server busy at rest is its own
/// baseline); returns the time waited.
pub(super) fn settle(pid: u32, quiet: Duration, limit: Duration) -> Duration {
    let start = Instant::now();
    let mut tree = procstat::Tree::new(pid);
    let Ok(mut from) = tree.read() else { return Duration::ZERO };
    loop {
        std::thread::sleep(quiet);
        let Ok(now) = tree.read() else { break };
        let used = procstat::ticks_to_seconds(now.cpu_ticks.saturating_sub(from.cpu_ticks));
        if used <= QUIET_CPU_SHARE * quiet.as_secs_f64() || start.elapsed() >= limit {
            break;
        }
        from = now;
    }
    start.elapsed()
}

/// Samples loadgen's own CPU and the upstream's (each a process tree), and how busy the
/// client side's and the server's CPUs were, over the step's recorded window, on a thread
/// of its own timed like the engine's window (the engine samples the server's own CPU).
/// CPU sets that overlap are not sampled: there busy says nothing about which side was
/// short.
pub(super) fn sample_window(
    warmup: Duration,
    window: Duration,
    server: Option<u32>,
    upstream: Option<u32>,
) -> std::thread::JoinHandle<(ClientSample, Option<f64>)> {
    std::thread::spawn(move || {
        std::thread::sleep(warmup);
        let own = std::process::id();
        let mut client_cpus = procstat::affinity(own).unwrap_or_default();
        client_cpus.extend(upstream.and_then(procstat::affinity).unwrap_or_default());
        client_cpus.sort_unstable();
        client_cpus.dedup();
        let server_cpus = server.and_then(procstat::affinity).unwrap_or_default();
        let apart = !server_cpus.is_empty() && !server_cpus.iter().any(|c| client_cpus.contains(c));
        let busy = |cpus: Vec<usize>| apart.then(|| procstat::BusyWindow::start(cpus).ok()).flatten();
        let (client_busy, server_busy) = (busy(client_cpus), busy(server_cpus));
        let cpu = |pid: Option<u32>| pid.and_then(|p| procstat::Window::start(p).ok());
        let (own_cpu, up_cpu) = (cpu(Some(own)), cpu(upstream));
        let start = Instant::now();
        std::thread::sleep(window);
        let elapsed = start.elapsed().as_secs_f64();
        let client = ClientSample {
            loadgen_cpu_percent: own_cpu.map_or(0.0, |w| w.finish(elapsed).cpu_percent),
            upstream_cpu_percent: up_cpu.map(|w| w.finish(elapsed).cpu_percent),
            cpus_busy_percent: client_busy.and_then(procstat::BusyWindow::finish),
            shared_cores: upstream.and_then(|pid| shared_cores(own, pid)),
        };
        (client, server_busy.and_then(procstat::BusyWindow::finish))
    })
}

/// How many CPUs two processes share, when their affinities are the same.
fn shared_cores(a: u32, b: u32) -> Option<f64> {
    let a = procstat::affinity(a)?;
    (procstat::affinity(b)? == a).then_some(a.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step starts once the server is quiet: at once for an idle process, not before the
    /// limit for one that keeps a core busy.
    #[test]
    fn the_next_step_waits_for_a_busy_server_and_not_for_an_idle_one() {
        let mut idle = std::process::Command::new("sleep").arg("5").spawn().expect("sleep");
        let mut busy = std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().expect("sh");
        let quiet = Duration::from_millis(150);
        let waited_idle = settle(idle.id(), quiet, Duration::from_secs(3));
        let waited_busy = settle(busy.id(), quiet, Duration::from_millis(800));
        for child in [&mut idle, &mut busy] {
            let _ = child.kill();
            let _ = child.wait();
        }
        assert!(waited_idle < Duration::from_secs(1), "waited {waited_idle:?} for an idle process");
        assert!(waited_busy >= Duration::from_millis(800), "waited only {waited_busy:?} for a busy one");
    }
}
