//! The machine a run ran on, for its record: CPU model, cores, kernel, memory, rustc.

use std::process::Command;

use bench_report::Machine;

/// This machine, read from /proc and uname.
pub fn this_machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_owned()))
        .unwrap_or_else(|| "unknown".to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    Machine {
        cpu,
        cores: u32::try_from(bench_sys::cpus::available_cpus()).unwrap_or(u32::MAX),
        kernel: format!("{} {}", output("uname", &["-s"]), output("uname", &["-r"])),
        memory_gib: memory_gib(&meminfo),
    }
}

/// `free -g`'s total: MemTotal in whole GiB, rounded down.
fn memory_gib(meminfo: &str) -> f64 {
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    (kib / (1024 * 1024)) as f64
}

/// `rustc --version`.
pub fn rustc() -> String {
    output("rustc", &["--version"])
}

/// A command's first line of output, or "unknown".
fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_memtotal_in_whole_gib() {
        assert_eq!(memory_gib("MemTotal:       24608532 kB\nMemFree: 1 kB\n"), 23.0);
        assert_eq!(memory_gib(""), 0.0);
    }
}
