//! Sampling a process from /proc: CPU time of all its threads, RSS, thread count; and the
//! cores it may use (its CPU affinity and its cgroup's CPU quota).

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

/// CPU ticks (as in [`Reading::cpu_ticks`]) in seconds.
pub fn ticks_to_seconds(ticks: u64) -> f64 {
    ticks as f64 / TICKS_PER_SECOND
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
        let cpu_seconds = ticks_to_seconds(self.last.cpu_ticks.saturating_sub(self.first.cpu_ticks));
        crate::result::ServerSample {
            pid: self.pid,
            cpu_percent: if elapsed_s > 0.0 { 100.0 * cpu_seconds / elapsed_s } else { 0.0 },
            cpu_seconds,
            peak_rss_kib: self.peak_rss_kib,
            max_threads: self.max_threads,
        }
    }
}

/// Busy and total ticks of the CPUs `cpus` since boot, from /proc/stat (busy: all but
/// idle and iowait, so time a hypervisor stole counts as busy: the CPU was not there).
pub fn cpu_ticks(cpus: &[usize]) -> io::Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    parse_cpu_ticks(&stat, cpus).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unreadable /proc/stat"))
}

fn parse_cpu_ticks(stat: &str, cpus: &[usize]) -> Option<(u64, u64)> {
    let (mut busy, mut total, mut found) = (0u64, 0u64, 0);
    for line in stat.lines() {
        let mut fields = line.split_whitespace();
        let Some(n) = fields.next().and_then(|f| f.strip_prefix("cpu")).and_then(|n| n.parse::<usize>().ok()) else {
            continue;
        };
        if !cpus.contains(&n) {
            continue;
        }
        // user nice system idle iowait irq softirq steal (guest time is inside user).
        let ticks: Vec<u64> = fields.take(8).map(|f| f.parse().ok()).collect::<Option<_>>()?;
        let all: u64 = ticks.iter().sum();
        busy += all - ticks.get(3)? - ticks.get(4).unwrap_or(&0);
        total += all;
        found += 1;
    }
    (found == cpus.len() && found > 0).then_some((busy, total))
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

/// Cores `pid` may run on: the CPUs of its affinity mask, or fewer when its cgroup (or an
/// ancestor of it) has a CPU quota. `None` when /proc/PID cannot be read.
pub fn cores(pid: u32) -> Option<f64> {
    let affinity = affinity(pid)?.len();
    let quota = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok().and_then(|c| cgroup_quota(&c));
    Some(quota.map_or(affinity as f64, |q| q.min(affinity as f64)))
}

/// The CPUs `pid` may run on (its `Cpus_allowed_list`).
pub fn affinity(pid: u32) -> Option<Vec<usize>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).and_then(parse_cpu_list)
}

/// Parses a kernel CPU list such as `0-3,6,8-9`.
fn parse_cpu_list(list: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.trim().parse::<usize>().ok()?, b.trim().parse::<usize>().ok()?);
                if b < a {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.trim().parse().ok()?),
        }
    }
    (!cpus.is_empty()).then_some(cpus)
}

/// Where a process's CPU quota lives, from /proc/PID/cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CgroupCpu {
    /// cgroup v1: the `cpu` controller's path (under /sys/fs/cgroup/cpu).
    V1(String),
    /// cgroup v2: the unified path (under /sys/fs/cgroup).
    V2(String),
}

/// The v1 `cpu` controller's line wins: on a hybrid system the `0::` line names a v2
/// group that has no cpu controller.
fn cgroup_cpu(cgroup: &str) -> Option<CgroupCpu> {
    let mut v2 = None;
    for line in cgroup.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if controllers.split(',').any(|c| c == "cpu") {
            return Some(CgroupCpu::V1(path.to_owned()));
        }
        if id == "0" && controllers.is_empty() {
            v2 = Some(CgroupCpu::V2(path.to_owned()));
        }
    }
    v2
}

/// The tightest CPU quota, in cores, of the process's cgroup and its ancestors.
fn cgroup_quota(cgroup: &str) -> Option<f64> {
    let (root, path, v1) = match cgroup_cpu(cgroup)? {
        CgroupCpu::V1(path) => ("/sys/fs/cgroup/cpu", path, true),
        CgroupCpu::V2(path) => ("/sys/fs/cgroup", path, false),
    };
    let mut quota: Option<f64> = None;
    let mut dir = std::path::PathBuf::from(format!("{root}{}", path.trim_end_matches('/')));
    loop {
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
        let here = if v1 {
            read("cpu.cfs_quota_us").zip(read("cpu.cfs_period_us")).and_then(|(q, p)| parse_cfs_quota(&q, &p))
        } else {
            read("cpu.max").and_then(|m| parse_cpu_max(&m))
        };
        quota = match (quota, here) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if dir.as_os_str().len() <= root.len() || !dir.pop() {
            return quota;
        }
    }
}

/// cgroup v2 `cpu.max`: "max 100000" (no quota) or "50000 100000" (half a core).
fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut fields = text.split_whitespace();
    let (quota, period) = (fields.next()?, fields.next()?);
    ratio(quota.parse().ok()?, period.parse().ok()?)
}

/// cgroup v1 `cpu.cfs_quota_us` (-1: no quota) over `cpu.cfs_period_us`.
fn parse_cfs_quota(quota: &str, period: &str) -> Option<f64> {
    let quota: i64 = quota.trim().parse().ok()?;
    ratio(u64::try_from(quota).ok()?, period.trim().parse().ok()?)
}

fn ratio(quota: u64, period: u64) -> Option<f64> {
    (quota > 0 && period > 0).then(|| quota as f64 / period as f64)
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

    #[test]
    fn cpu_lists_list_their_cpus() {
        assert_eq!(parse_cpu_list("\t0-1\n"), Some(vec![0, 1]));
        assert_eq!(parse_cpu_list("1"), Some(vec![1]));
        assert_eq!(parse_cpu_list("0-3,6,8-9").map(|c| c.len()), Some(7));
        for bad in ["", "x", "3-1", "0-"] {
            assert_eq!(parse_cpu_list(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn proc_stat_gives_busy_and_total_ticks_per_cpu() {
        let stat = "cpu  30 0 10 60 0 0 0 0 0 0\ncpu0 10 0 5 80 5 0 0 0 0 0\ncpu1 20 1 5 10 0 2 1 1 0 0\nintr 1 2\n";
        assert_eq!(parse_cpu_ticks(stat, &[0]), Some((15, 100)));
        assert_eq!(parse_cpu_ticks(stat, &[1]), Some((30, 40)));
        assert_eq!(parse_cpu_ticks(stat, &[0, 1]), Some((45, 140)));
        assert_eq!(parse_cpu_ticks(stat, &[2]), None, "a CPU /proc/stat does not list");
    }

    #[test]
    fn cgroup_quotas_parse_in_cores() {
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("50000 100000\n"), Some(0.5));
        assert_eq!(parse_cpu_max("200000 100000"), Some(2.0));
        assert_eq!(parse_cfs_quota("-1\n", "100000\n"), None);
        assert_eq!(parse_cfs_quota("50000\n", "100000\n"), Some(0.5));
        assert_eq!(parse_cfs_quota("50000", "0"), None);
    }

    #[test]
    fn the_cpu_controller_line_names_the_cgroup() {
        let v1 = "9:name=systemd:/\n3:cpuset:/\n2:cpu,cpuacct:/bench/s\n0::/\n";
        assert_eq!(cgroup_cpu(v1), Some(CgroupCpu::V1("/bench/s".into())));
        assert_eq!(cgroup_cpu("0::/system.slice/x.service\n"), Some(CgroupCpu::V2("/system.slice/x.service".into())));
        assert_eq!(cgroup_cpu("1:name=systemd:/\n"), None);
    }

    #[test]
    fn this_process_has_at_least_a_fraction_of_a_core() {
        let cores = cores(std::process::id()).expect("own /proc");
        assert!(cores > 0.0 && cores <= 4096.0, "{cores}");
    }
}
