//! A run's plan: its settings (the flags, `--quick`'s presets under them) and every cell it
//! will measure, in order, with the file-descriptor budget computed once, here.

use std::path::PathBuf;

use bench_report::{ENDPOINTS, MODES, Scheme, capacity_cell_name, cell_name};

use crate::roster::Server;

/// Descriptors a process needs beyond its sockets (files, the runtime, the log).
pub const FD_RESERVE: u64 = 100;

/// The table cells' warm-up, seconds (`--quick`: 1).
const WARMUP_S: u32 = 2;
/// `--quick`'s pools: a thread-per-request server gets this many threads instead.
const QUICK_POOL: usize = 64;

/// The settings of a run, from its flags.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The servers, in column order.
    pub servers: Vec<Server>,
    /// Connections per table cell.
    pub connections: u64,
    /// Recorded seconds per table cell.
    pub duration_s: u32,
    /// Warm-up seconds per table cell.
    pub warmup_s: u32,
    /// gosleep's delay for the tables, ms.
    pub delay_ms: u64,
    /// Upstream calls per /multiple request.
    pub fanout: u32,
    /// A second set of cells against an HTTPS upstream.
    pub tls: bool,
    /// The capacity phase, unless `--no-capacity`.
    pub capacity: Option<CapacitySettings>,
    /// `--quick`'s pool size for thread-per-request servers.
    pub pool_override: Option<usize>,
    /// `--output DIR`.
    pub output: Option<PathBuf>,
    /// `--publish`.
    pub publish: bool,
}

/// The capacity phase's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CapacitySettings {
    /// gosleep's delay for the searches, ms.
    pub delay_ms: u64,
    /// The CPU quota of each server during its searches, cores; 0 for none.
    pub quota_cores: f64,
    /// Each step's warm-up, seconds.
    pub warmup_s: f64,
    /// Each step's recorded window, seconds.
    pub window_s: f64,
}

/// What `--quick` and the defaults set; a flag given overrides either.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    /// Connections per table cell.
    pub connections: u64,
    /// Recorded seconds per table cell.
    pub duration_s: u32,
    /// Warm-up seconds per table cell.
    pub warmup_s: u32,
    /// gosleep's delay for the tables, ms.
    pub delay_ms: u64,
    /// A pool's threads instead of the roster's.
    pub pool_override: Option<usize>,
    /// A capacity step's warm-up, seconds.
    pub capacity_warmup_s: f64,
    /// A capacity step's window, seconds.
    pub capacity_window_s: f64,
}

/// The defaults: a full run.
pub const FULL: Preset = Preset {
    connections: 1000,
    duration_s: 5,
    warmup_s: WARMUP_S,
    delay_ms: 1000,
    pool_override: None,
    // Each capacity step: a short warm-up (its connections are open before its clock
    // starts), then the recorded window (10 upstream delays at 100 ms). Short, as are the
    // tables' 5 s: 20 cells and 20 searches of about 10 steps each, plus the build, must
    // fit in the run's 15 minutes.
    capacity_warmup_s: 0.25,
    capacity_window_s: 1.0,
};

/// `--quick`: a smoke run of everything in about 3 minutes.
pub const QUICK: Preset = Preset {
    connections: 100,
    duration_s: 2,
    warmup_s: 1,
    delay_ms: 200,
    pool_override: Some(QUICK_POOL),
    capacity_warmup_s: 0.2,
    capacity_window_s: 0.5,
};

/// The capacity phase's defaults.
pub const CAPACITY_DELAY_MS: u64 = 100;
/// The CPU quota per server during its searches, cores.
pub const CAPACITY_QUOTA: f64 = 0.5;
/// Upstream calls per /multiple request.
pub const FANOUT: u32 = 5;

/// A table cell, or a capacity search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A fixed load: `-c connections` for the table's window.
    Table,
    /// `loadgen capacity`.
    Capacity,
}

/// One cell of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Table or search.
    pub kind: Kind,
    /// The upstream's scheme.
    pub scheme: Scheme,
    /// "no-reuse" or "reuse".
    pub mode: &'static str,
    /// "single" or "multiple".
    pub endpoint: &'static str,
    /// The server.
    pub server: Server,
    /// Its name: the result files' and the report's.
    pub name: String,
}

impl Cell {
    /// Upstream calls per request.
    pub fn calls(&self, fanout: u32) -> u64 {
        if self.endpoint == "multiple" { u64::from(fanout) } else { 1 }
    }

    /// Whether the server reuses its upstream connections.
    pub fn reuse(&self) -> bool {
        self.mode == "reuse"
    }
}

impl Settings {
    /// The upstream's schemes, each a full set of cells: plain HTTP always, HTTPS with `--tls`.
    pub fn schemes(&self) -> &'static [Scheme] {
        if self.tls { &[Scheme::Http, Scheme::Https] } else { &[Scheme::Http] }
    }

    /// A server's `--threads` in this run.
    pub fn threads(&self, server: &Server) -> usize {
        match self.pool_override {
            Some(pool) if server.pooled() => pool,
            _ => server.threads.get(),
        }
    }

    /// The Python baselines among the servers.
    pub fn python_servers(&self) -> Vec<&Server> {
        self.servers.iter().filter(|s| s.python()).collect()
    }

    /// Every cell, in the order the run measures them: the tables (each scheme, mode,
    /// endpoint, server), then the searches in the same order.
    pub fn cells(&self) -> Vec<Cell> {
        let mut cells = Vec::new();
        let kinds: &[Kind] = if self.capacity.is_some() { &[Kind::Table, Kind::Capacity] } else { &[Kind::Table] };
        for &kind in kinds {
            for &scheme in self.schemes() {
                for (mode, _) in MODES {
                    for (endpoint, _) in ENDPOINTS {
                        for server in &self.servers {
                            let name = match kind {
                                Kind::Table => cell_name(scheme, mode, endpoint, &server.name),
                                Kind::Capacity => capacity_cell_name(scheme, mode, endpoint, &server.name),
                            };
                            cells.push(Cell { kind, scheme, mode, endpoint, server: server.clone(), name });
                        }
                    }
                }
            }
        }
        cells
    }
}

/// Descriptors a proxy needs for `connections` clients of `calls` upstream calls each: C
/// client sockets plus C x calls upstream sockets, and the reserve.
pub fn fds_needed(connections: u64, calls: u64) -> u64 {
    connections * (1 + calls) + FD_RESERVE
}

/// The most connections a search may open against a server under `fd_limit` (the inverse
/// of [`fds_needed`]).
pub fn max_connections(fd_limit: u64, calls: u64) -> u64 {
    fd_limit.saturating_sub(FD_RESERVE) / (1 + calls)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::roster::Roster;

    fn settings(names: &str, tls: bool, capacity: bool) -> Settings {
        let roster = Roster::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))).unwrap();
        Settings {
            servers: roster.pick(names).unwrap().into_iter().cloned().collect(),
            connections: FULL.connections,
            duration_s: FULL.duration_s,
            warmup_s: FULL.warmup_s,
            delay_ms: FULL.delay_ms,
            fanout: FANOUT,
            tls,
            capacity: capacity.then_some(CapacitySettings {
                delay_ms: CAPACITY_DELAY_MS,
                quota_cores: CAPACITY_QUOTA,
                warmup_s: FULL.capacity_warmup_s,
                window_s: FULL.capacity_window_s,
            }),
            pool_override: Some(QUICK_POOL),
            output: None,
            publish: false,
        }
    }

    #[test]
    fn the_cells_are_the_tables_then_the_searches_each_scheme_mode_endpoint_server() {
        let cells = settings("hyper,rouille", true, true).cells();
        assert_eq!(cells.len(), 2 * 2 * 2 * 2 * 2);
        let names: Vec<&str> = cells.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(&names[..3], ["no-reuse-single-hyper", "no-reuse-single-rouille", "no-reuse-multiple-hyper"]);
        assert_eq!(names[8], "https-no-reuse-single-hyper");
        assert_eq!(names[16], "capacity-no-reuse-single-hyper");
        assert_eq!(names[31], "capacity-https-reuse-multiple-rouille");
        assert_eq!(settings("hyper", false, false).cells().len(), 4);
    }

    #[test]
    fn only_a_pool_gets_quicks_threads() {
        let s = settings("hyper,rouille", false, false);
        assert_eq!(s.threads(&s.servers[0]), 1);
        assert_eq!(s.threads(&s.servers[1]), QUICK_POOL);
    }

    #[test]
    fn the_fd_budget_and_the_search_cap_are_one_rule() {
        assert_eq!(fds_needed(1000, 5), 6100);
        assert_eq!(max_connections(20_000, 5), 3316);
        for calls in [1, 5] {
            let c = max_connections(20_000, calls);
            assert!(fds_needed(c, calls) <= 20_000 && fds_needed(c + 1, calls) > 20_000);
        }
    }
}
