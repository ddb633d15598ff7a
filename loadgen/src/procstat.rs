//! Sampling over a run: a process tree's CPU time, peak RSS and threads over a window, and
//! how busy a set of CPUs was. The /proc readings themselves are bench-sys's, re-exported
//! here so that loadgen's modules name one place.

use std::io;

pub use bench_sys::cpus::{affinity, cores, cpu_ticks};
pub use bench_sys::procstat::{Reading, Tree, read, ticks_to_seconds};

/// Accumulates readings of a process tree over a window.
#[derive(Debug, Clone)]
pub struct Window {
    tree: Tree,
    first: Reading,
    last: Reading,
    peak_rss_kib: u64,
    max_threads: u64,
}

impl Window {
    /// Starts a window over `pid` and its descendants with a first reading.
    pub fn start(pid: u32) -> io::Result<Self> {
        let mut tree = Tree::new(pid);
        let first = tree.walk()?;
        Ok(Self {
            tree,
            first,
            last: first,
            peak_rss_kib: first.rss_kib.max(first.hwm_kib),
            max_threads: first.threads,
        })
    }

    /// Takes another reading (a root that has exited keeps the last one).
    pub fn sample(&mut self) {
        if let Ok(r) = self.tree.read() {
            self.note(r);
        }
    }

    fn note(&mut self, r: Reading) {
        self.last = r;
        self.peak_rss_kib = self.peak_rss_kib.max(r.rss_kib).max(r.hwm_kib);
        self.max_threads = self.max_threads.max(r.threads);
    }

    /// The window's summary over `elapsed_s` seconds, from a last reading that walks the
    /// whole tree. Peak RSS is the highest sum of the members' peaks (VmHWM) seen: an
    /// upper bound of the tree's own peak, where four readings a second would miss a
    /// short one.
    pub fn finish(mut self, elapsed_s: f64) -> crate::result::ServerSample {
        if let Ok(r) = self.tree.walk() {
            self.note(r);
        }
        let cpu_seconds = ticks_to_seconds(self.last.cpu_ticks.saturating_sub(self.first.cpu_ticks));
        crate::result::ServerSample {
            pid: self.tree.root(),
            cpu_percent: if elapsed_s > 0.0 { 100.0 * cpu_seconds / elapsed_s } else { 0.0 },
            cpu_seconds,
            peak_rss_kib: self.peak_rss_kib,
            max_threads: self.max_threads,
        }
    }
}

/// How busy a set of CPUs was over a window, all processes counted.
#[derive(Debug, Clone)]
pub struct BusyWindow {
    cpus: Vec<usize>,
    first: (u64, u64),
}

impl BusyWindow {
    /// Starts the window.
    pub fn start(cpus: Vec<usize>) -> io::Result<Self> {
        let first = cpu_ticks(&cpus)?;
        Ok(Self { cpus, first })
    }

    /// The CPUs' busy share since the start, in % of those CPUs.
    pub fn finish(self) -> Option<f64> {
        let (busy, total) = cpu_ticks(&self.cpus).ok()?;
        let total = total.checked_sub(self.first.1).filter(|t| *t > 0)?;
        Some(100.0 * busy.saturating_sub(self.first.0) as f64 / total as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let w = Window::start(std::process::id()).unwrap();
        // Burn a little CPU so the window sees some.
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert_ne!(x, 1);
        let s = w.finish(1.0);
        assert!(s.peak_rss_kib > 0 && s.max_threads >= 1, "{s:?}");
    }
}
