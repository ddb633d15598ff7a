//! The capacity phase's CPU quota: a cgroup of the runner's own (v1 or v2) with a quota
//! of some cores, into which each server goes with its descendants (a server may be a
//! process tree: gunicorn forks its worker before it answers, and a child stays in the
//! cgroup it was forked in). Removed when dropped, once its processes have ended.

use std::path::{Path, PathBuf};

/// The quota's period, µs: enforced every 10 ms, so a throttled server stalls at most a
/// few ms at a time, not the 100 ms of the default period.
const PERIOD_US: u64 = 10_000;

/// A cgroup with a CPU quota.
#[derive(Debug)]
pub struct Quota {
    dir: PathBuf,
}

impl Quota {
    /// Makes the cgroup with `cores` of CPU, or says why it cannot be made (not root, no
    /// cpu controller); then nothing is changed.
    pub fn new(cores: f64) -> Result<Self, String> {
        let quota = (cores * PERIOD_US as f64).round() as u64;
        let name = format!("slow-upstream-bench.{}", std::process::id());
        let v1 = Path::new("/sys/fs/cgroup/cpu");
        let made = if v1.join("cpu.cfs_quota_us").is_file() {
            let dir = v1.join(name);
            let made =
                make(&dir, &[("cpu.cfs_period_us", PERIOD_US.to_string()), ("cpu.cfs_quota_us", quota.to_string())]);
            Some((dir, made))
        } else {
            own_cgroup_v2().map(|own| {
                let dir = own.join(name);
                let made = make(&dir, &[("cpu.max", format!("{quota} {PERIOD_US}"))]);
                (dir, made)
            })
        };
        match made {
            Some((dir, true)) => Ok(Self { dir }),
            Some((dir, false)) => Err(format!(
                "cannot make a cgroup with a CPU quota at {} (needs root and the cpu controller)",
                dir.display()
            )),
            None => Err("cannot make a cgroup with a CPU quota (no cgroup v1 cpu or v2 hierarchy)".to_owned()),
        }
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Moves `pid` and its descendants (all their threads) into the cgroup.
    pub fn add(&self, pid: u32) -> std::io::Result<()> {
        let mut tree = bench_sys::procstat::Tree::new(pid);
        tree.walk()?;
        for member in tree.pids() {
            std::fs::write(self.dir.join("cgroup.procs"), member.to_string())?;
        }
        Ok(())
    }
}

impl Drop for Quota {
    fn drop(&mut self) {
        // Empty once its processes have ended, which the run waited for.
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Makes `dir` and writes each (file, value); removes it again on failure.
fn make(dir: &Path, files: &[(&str, String)]) -> bool {
    if std::fs::create_dir(dir).is_err() {
        return false;
    }
    let ok = files.iter().all(|(file, value)| std::fs::write(dir.join(file), value).is_ok());
    if !ok {
        let _ = std::fs::remove_dir(dir);
    }
    ok
}

/// This process's cgroup v2 directory, where a v2 hierarchy is mounted.
fn own_cgroup_v2() -> Option<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    dir.join("cgroup.controllers").is_file().then_some(dir)
}
