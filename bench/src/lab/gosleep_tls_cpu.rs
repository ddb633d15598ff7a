//! `bench gosleep-tls-cpu`: gosleep's CPU per request over HTTPS next to plain HTTP (issue
//! 28). loadgen at a fixed open-loop rate against `/sleep?ms=0`, gosleep on one pinned
//! thread, loadgen on the other core, gosleep's CPU sampled by loadgen (`--server-pid`).
//! Five cases, alternated per round: keep-alive over HTTP and HTTPS, and a new connection
//! per request (`Connection: close`) over HTTP, over HTTPS resuming sessions, and over
//! HTTPS with full handshakes only (loadgen `--no-tls-resumption`). HTTPS uses gosleep's
//! `--tls-self-signed` and loadgen's `--cacert`. Every load targets 127.0.0.1 (as
//! `localhost` for HTTPS, the name the certificate carries) and is bounded by `-d`.

use std::path::Path;

use clap::Args;

use super::Lab;
use crate::error::BenchError;
use crate::process::Side;

/// The open-loop rates every case holds on the 2-core machine: keep-alive far below
/// gosleep's limit; per-connection rates below what loadgen's own handshakes allow on one
/// core.
const KEEPALIVE_RATE: u64 = 3000;
const CLOSE_RATE: u64 = 150;

/// `bench gosleep-tls-cpu`'s flags.
#[derive(Debug, Clone, Args)]
pub struct GosleepTlsCpuArgs {
    /// Rounds of the five cases
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// Recorded time of each run, loadgen's -d (e.g. 10s, 2s, 500ms)
    #[arg(long, value_name = "T", default_value = "10s", value_parser = duration)]
    pub duration: String,
}

/// A duration loadgen's `-d` takes, kept as typed (it goes to loadgen and the header).
fn duration(s: &str) -> Result<String, String> {
    let d = loadgen::cli::parse_duration(s)?;
    if d.is_zero() { Err(format!("takes a duration longer than 0, not {s}")) } else { Ok(s.to_owned()) }
}

/// One of the five cases.
struct Case {
    name: &'static str,
    https: bool,
    rate: u64,
    connections: u32,
    keepalive: bool,
    resumption: bool,
}

const CASES: [Case; 5] = [
    Case {
        name: "http-keepalive",
        https: false,
        rate: KEEPALIVE_RATE,
        connections: 50,
        keepalive: true,
        resumption: true,
    },
    Case {
        name: "https-keepalive",
        https: true,
        rate: KEEPALIVE_RATE,
        connections: 50,
        keepalive: true,
        resumption: true,
    },
    Case { name: "http-close", https: false, rate: CLOSE_RATE, connections: 20, keepalive: false, resumption: true },
    Case {
        name: "https-close-resumed",
        https: true,
        rate: CLOSE_RATE,
        connections: 20,
        keepalive: false,
        resumption: true,
    },
    Case {
        name: "https-close-full",
        https: true,
        rate: CLOSE_RATE,
        connections: 20,
        keepalive: false,
        resumption: false,
    },
];

/// Runs the rounds and prints the table.
pub fn run(root: &Path, args: &GosleepTlsCpuArgs) -> Result<(), BenchError> {
    let lab = Lab::new(root, &[])?;
    let ca = lab.scratch().join("ca.pem");
    let machine = crate::machine::this_machine();
    println!("Machine: {} cores, {}, load average at start: {}.", machine.cores, machine.cpu, load_average());
    println!(
        "Command: `bench gosleep-tls-cpu --rounds {} --duration {}` on {}.",
        args.rounds,
        args.duration,
        super::now()
    );
    println!(
        "gosleep --threads 1 (pinned: {}), loadgen -t 1 (pinned: {}), /sleep?ms=0, 1 s warm-up.\n",
        lab.pin(Side::Server).unwrap_or("none"),
        lab.pin(Side::Client).unwrap_or("none")
    );
    println!(
        "| case | round | rate | requests | gosleep CPU s per 1,000 requests | non-2xx | socket errors | loadgen's TLS handshakes |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    for round in 1..=args.rounds {
        for case in &CASES {
            eprintln!("round {round}/{}: {}: {} requests/s, {}", args.rounds, case.name, case.rate, args.duration);
            let mut gosleep = lab.command(Some(Side::Server), "gosleep");
            gosleep.args(["--listen", "127.0.0.1:0", "--threads", "1"]);
            if case.https {
                gosleep.arg("--tls-self-signed").arg(&ca);
            }
            let running = lab.listen("gosleep", gosleep, case.https.then_some(ca.as_path()))?;
            let mut load: Vec<String> =
                ["-t", "1", "-d", &args.duration, "--warmup", "1s", "-R"].iter().map(|s| (*s).to_owned()).collect();
            load.extend([case.rate.to_string(), "-c".to_owned(), case.connections.to_string()]);
            if !case.keepalive {
                load.push("--no-keepalive".to_owned());
            }
            if !case.resumption {
                load.push("--no-tls-resumption".to_owned());
            }
            if case.https {
                load.extend(["--cacert".to_owned(), ca.display().to_string()]);
            }
            load.extend(["--server-pid".to_owned(), running.pid().to_string()]);
            // HTTPS by the name in gosleep's certificate, which resolves to 127.0.0.1.
            let (scheme, host) = if case.https { ("https", "localhost") } else { ("http", "127.0.0.1") };
            load.push(format!("{scheme}://{host}:{}/sleep?ms=0", running.target.addr().port()));
            let result = lab.loadgen(&load);
            if let Some(said) = running.stop() {
                eprintln!("{said}");
            }
            let r = result?;
            let cpu = loadgen::figures::cpu_per_1k(&r).map_or_else(|| "—".to_owned(), |c| format!("{c:.4}"));
            let handshakes = r.tls.as_ref().map_or_else(
                || "—".to_owned(),
                |t| format!("{} (full {}, resumed {})", t.handshakes, t.full, t.resumed),
            );
            println!(
                "| {} | {round} | {} | {} | {cpu} | {} | {} | {handshakes} |",
                case.name,
                case.rate,
                r.requests,
                r.errors.non_2xx(),
                r.errors.socket()
            );
        }
    }
    println!("\nLoad average at the end: {}.", load_average());
    Ok(())
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg has them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_is_what_loadgen_takes_and_not_zero() {
        assert_eq!(duration("10s").as_deref(), Ok("10s"));
        assert_eq!(duration("2").as_deref(), Ok("2"));
        assert!(duration("0s").is_err());
        assert!(duration("soon").is_err());
    }

    #[test]
    fn the_cases_are_the_five_of_the_table_in_order() {
        let names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            ["http-keepalive", "https-keepalive", "http-close", "https-close-resumed", "https-close-full"]
        );
        assert!(
            CASES
                .iter()
                .all(|c| c.https == c.name.starts_with("https") && c.keepalive == c.name.ends_with("keepalive"))
        );
    }
}
