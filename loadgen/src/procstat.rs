//! Sampling a server process from /proc: CPU time of all its threads, RSS, thread count.

use std::io;

/// /proc reports CPU time in USER_HZ ticks, which the Linux ABI fixes at 100 per second
/// (what `getconf CLK_TCK` prints), whatever the kernel's internal HZ.
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of /proc/PID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// utime + stime of the whole process (all threads), in ticks.
    pub cpu_ticks: u64,
    /// Threads now.
    pub threads: u64,
    /// Resident set size now, KiB.
    pub rss_kib: u64,
    /// Peak resident set size of the process's life (VmHWM), KiB.
    pub hwm_kib: u64,
}

/// Reads /proc/PID/stat and /proc/PID/status.
pub fn read(pid: u32) -> io::Result<Reading> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse(&stat, &status).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("unreadable /proc/{pid}")))
}

fn parse(stat: &str, status: &str) -> Option<Reading> {
    // The command name (field 2) may hold spaces and parentheses: fields are counted
    // from the last ')'. After it come field 3 (state) onwards.
    let rest: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some(Reading {
        cpu_ticks: field(14)? + field(15)?,
        threads: field(20)?,
        rss_kib: kib("VmRSS:").unwrap_or(0),
        hwm_kib: kib("VmHWM:").unwrap_or(0),
    })
}

/// Accumulates readings over a window.
#[derive(Debug, Clone)]
pub struct Window {
    pid: u32,
    first: Reading,
    last: Reading,
    peak_rss_kib: u64,
    max_threads: u64,
}

impl Window {
    /// Starts a window with a first reading.
    pub fn start(pid: u32) -> io::Result<Self> {
        let first = read(pid)?;
        Ok(Self { pid, first, last: first, peak_rss_kib: first.rss_kib.max(first.hwm_kib), max_threads: first.threads })
    }

    /// Takes another reading (a process that has exited keeps the last one).
    pub fn sample(&mut self) {
        if let Ok(r) = read(self.pid) {
            self.last = r;
            self.peak_rss_kib = self.peak_rss_kib.max(r.rss_kib).max(r.hwm_kib);
            self.max_threads = self.max_threads.max(r.threads);
        }
    }

    /// The window's summary over `elapsed_s` seconds.
    pub fn finish(mut self, elapsed_s: f64) -> crate::result::ServerSample {
        self.sample();
        let cpu_seconds = self.last.cpu_ticks.saturating_sub(self.first.cpu_ticks) as f64 / TICKS_PER_SECOND;
        crate::result::ServerSample {
            pid: self.pid,
            cpu_percent: if elapsed_s > 0.0 { 100.0 * cpu_seconds / elapsed_s } else { 0.0 },
            cpu_seconds,
            peak_rss_kib: self.peak_rss_kib,
            max_threads: self.max_threads,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_a_tricky_command_name() {
        let stat = "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 100 1000 300";
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t7\n";
        let r = parse(stat, status).unwrap();
        assert_eq!(r, Reading { cpu_ticks: 300, threads: 7, rss_kib: 1024, hwm_kib: 2048 });
    }

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
