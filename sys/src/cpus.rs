//! CPUs: how many this process may use, which ones a process may run on (its affinity and
//! its cgroup's CPU quota), and how busy a set of them was (/proc/stat).

use std::io;

/// CPUs this process may run on (1 if unknown): the default worker count.
pub fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
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

/// Cores `pid` may run on: the CPUs of its affinity mask, or fewer when its cgroup (or an
/// ancestor of it) has a CPU quota. `None` when /proc/PID cannot be read. Of `pid` alone,
/// not its tree: children inherit both, so the root's speak for a server's workers.
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
    fn a_process_pinned_to_one_cpu_has_at_most_one_core() {
        let mine = affinity(std::process::id()).expect("own /proc");
        // `taskset` sets the affinity, then becomes `sleep` under the same PID.
        let mut child = std::process::Command::new("taskset")
            .args(["-c", &mine[0].to_string(), "sleep", "30"])
            .spawn()
            .expect("taskset (util-linux) runs");
        let pid = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() != "sleep") {
            assert!(std::time::Instant::now() < deadline, "taskset never became sleep");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let (pinned, own) = (cores(pid), cores(std::process::id()));
        let _ = child.kill();
        let _ = child.wait();
        let pinned = pinned.expect("the child's /proc");
        assert!(pinned > 0.0 && pinned <= 1.0, "pinned to CPU {}: {pinned} cores", mine[0]);
        // Unpinned, this process may use each CPU of its mask, quota permitting.
        let own = own.expect("own /proc");
        assert!(own > 0.0 && own <= mine.len() as f64, "{own} cores on {} CPUs", mine.len());
    }
}
