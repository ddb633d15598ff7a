//! The options of a load run and of a capacity search: wrk's flags (`-c -t -d --timeout -H
//! --latency URL`) plus what wrk lacks. The command line that holds them, with the other
//! subcommands, is [`crate::command`].

mod target;
mod values;

use std::path::PathBuf;
use std::time::Duration;

use bench_tls::CaFile;
use clap::Args;

pub use target::{Target, parse_url};
use values::parse_rate;
pub use values::{check_header, parse_duration, parse_header};

/// `loadgen capacity`.
#[derive(Debug, Clone, Args)]
pub struct CapacityOpts {
    /// The p99 latency SLO a step must meet (default: twice the light step's p50).
    #[arg(long, value_parser = parse_duration, value_name = "T")]
    pub slo_p99: Option<Duration>,

    /// The first, light step's rate, requests/second.
    #[arg(long, default_value = "100", value_parser = parse_rate, value_name = "R")]
    pub start_rate: f64,

    /// Never offer more than this, requests/second.
    #[arg(long, default_value = "1000000", value_parser = parse_rate, value_name = "R")]
    pub max_rate: f64,

    /// Factor between one rising step's rate and the next (greater than 1).
    #[arg(long, default_value_t = 2.0, value_name = "F")]
    pub factor: f64,

    /// The rate grid's step: every rate is --start-rate x r^k, r the nearest to 1 + P with a
    /// whole number of steps in --factor, and the bisection ends with the passing and
    /// failing rates one step apart. The default puts 8 steps in a doubling (2^(1/8)).
    #[arg(long, default_value_t = 0.0905, value_name = "P")]
    pub precision: f64,

    /// Each step's recorded window.
    #[arg(short = 'd', long, default_value = "3s", value_parser = parse_duration, value_name = "T")]
    pub duration: Duration,

    /// Each step's unrecorded warm-up before its window.
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "T")]
    pub warmup: Duration,

    /// Per-request timeout; a request that takes longer counts as a timeout error.
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "T")]
    pub timeout: Duration,

    /// Threads (one event loop each) to spread the connections over.
    #[arg(short = 't', long, default_value_t = 1, value_name = "N")]
    pub threads: usize,

    /// A new connection for every request (`Connection: close`).
    #[arg(long)]
    pub no_keepalive: bool,

    /// Extra request header, "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_parser = parse_header, value_name = "H")]
    pub headers: Vec<(String, String)>,

    /// The server's process: the CPU of the process and its descendants per step, and the
    /// cores the process may use (its affinity and cgroup quota), tell a CPU-bound server
    /// from a concurrency cap.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,

    /// The upstream's process: a step where the process and its descendants (or loadgen)
    /// nearly fill its core is client-bound, never the server's figure.
    #[arg(long, value_name = "PID")]
    pub upstream_pid: Option<u32>,

    /// The server is a thread pool of N: a cap that is not its CPU is then named "pool".
    #[arg(long, value_name = "N")]
    pub pool: Option<usize>,

    /// Never open more connections than this (default: what the fd limit allows).
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,

    /// Write the whole search (every step's result) as JSON. A FILE that cannot be
    /// written exits 2 before the search starts.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// How an https:// target's certificate is checked.
    #[command(flatten)]
    pub tls: TlsOpts,

    /// Target URL (http:// or https://).
    #[arg(value_name = "URL")]
    pub url: String,
}

/// How an `https://` target is trusted and its sessions resumed; refused for `http://`.
#[derive(Debug, Clone, Default, Args)]
pub struct TlsOpts {
    /// https:// only: trust exactly the certificates of this PEM file instead of the
    /// system's roots (read before any load: a bad file exits 2).
    #[arg(long, value_name = "FILE", value_parser = CaFile::parse_arg, conflicts_with = "insecure")]
    pub cacert: Option<CaFile>,

    /// https:// only: accept any server certificate, unverified, as wrk does (the
    /// handshake's signatures are still checked).
    #[arg(long)]
    pub insecure: bool,

    /// https:// only: a full handshake on every new connection, never a resumed session.
    #[arg(long)]
    pub no_tls_resumption: bool,
}

/// One load run.
#[derive(Debug, Clone, Args)]
pub struct RunOpts {
    /// Connections to keep open (closed loop: each sends its next request when the
    /// previous answer arrives).
    #[arg(short = 'c', long, default_value_t = 10, value_name = "N")]
    pub connections: usize,

    /// Threads (one event loop each) to spread the connections over.
    #[arg(short = 't', long, default_value_t = 2, value_name = "N")]
    pub threads: usize,

    /// Recorded duration of the run (e.g. 30s, 2m, 500ms).
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration, value_name = "T")]
    pub duration: Duration,

    /// Per-request timeout; a request that takes longer counts as a timeout error.
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "T")]
    pub timeout: Duration,

    /// Extra request header, "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_parser = parse_header, value_name = "H")]
    pub headers: Vec<(String, String)>,

    /// Print the latency distribution (percentiles).
    #[arg(long)]
    pub latency: bool,

    /// Open loop: R requests per second in total, at evenly spaced intended times; latency
    /// is measured from each request's intended send time (coordinated-omission
    /// correction, as wrk2 does), so a stalled server shows as latency, not as fewer
    /// samples.
    #[arg(short = 'R', long, value_name = "R", value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// A new connection for every request (`Connection: close`): the client side of the
    /// "not reuse connections" tables.
    #[arg(long)]
    pub no_keepalive: bool,

    /// Traffic sent before the recorded window, not recorded (connections are opened and
    /// warmed up; e.g. 2s).
    #[arg(long, default_value = "0s", value_parser = parse_duration, value_name = "T")]
    pub warmup: Duration,

    /// Write the whole result as JSON (mode, counts, errors, serialized histogram). A FILE
    /// that cannot be written exits 2 before any load; one the run creates is removed again
    /// if the run fails, and one that exists is replaced only by a result.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Sample the process and its descendants (all their threads) from /proc during the
    /// recorded window: CPU % (user + system), peak RSS, thread count, each summed over
    /// them.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,

    /// How an https:// target's certificate is checked.
    #[command(flatten)]
    pub tls: TlsOpts,

    /// Target URL (http:// or https://).
    #[arg(required = true, value_name = "URL")]
    pub url: Option<String>,
}
