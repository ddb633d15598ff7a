//! `tls-floor [--rounds R] [--handshakes N] [--csv]`: measures every case R times (the
//! cases alternated within each round), N handshakes each, and prints the Markdown table of
//! the medians, or with `--csv` one line per case and round, for `tls-floor summarize`.
//! `tls-floor summarize` reads such lines (of both providers' binaries) from standard input
//! and prints their table. Run it pinned: `taskset -c 1 tls-floor`.

use std::io::{self, BufRead};
use std::process::ExitCode;

use tls_floor::{Certificates, FloorError, PROVIDER, Sample, cases, clock_cost_us, measure, table};

/// Rounds and handshakes by default: a few seconds a provider on this machine.
const ROUNDS: u32 = 5;
const HANDSHAKES: u32 = 1000;
/// Timed stretches for the clock's own cost.
const CLOCK_STRETCHES: u32 = 100_000;

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tls-floor: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Vec<String>) -> Result<(), FloorError> {
    if args.first().map(String::as_str) == Some("summarize") {
        let mut samples = Vec::new();
        for line in io::stdin().lock().lines() {
            let line = line?;
            if !line.trim().is_empty() {
                samples.push(Sample::parse(&line)?);
            }
        }
        print!("{}", table(&samples));
        return Ok(());
    }

    let (mut rounds, mut handshakes, mut csv) = (ROUNDS, HANDSHAKES, false);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<u32, FloorError> {
            args.next()
                .and_then(|v| v.parse().ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| FloorError::Usage(format!("{name} takes a positive whole number")))
        };
        match arg.as_str() {
            "--rounds" => rounds = number("--rounds")?,
            "--handshakes" => handshakes = number("--handshakes")?,
            "--csv" => csv = true,
            other => {
                return Err(FloorError::Usage(format!(
                    "unknown argument {other:?}; usage: tls-floor [--rounds R] [--handshakes N] [--csv] | tls-floor summarize"
                )));
            }
        }
    }

    let certificates = Certificates::new()?;
    eprintln!(
        "tls-floor: provider {PROVIDER}, {rounds} rounds of {handshakes} handshakes a case; \
         reading the thread CPU clock costs {:.2} µs a timed stretch",
        clock_cost_us(CLOCK_STRETCHES)
    );
    let mut samples = Vec::new();
    for _ in 0..rounds {
        for case in cases() {
            let sample = measure(&case, &certificates, handshakes)?;
            if csv {
                println!("{}", sample.csv());
            }
            samples.push(sample);
        }
    }
    if !csv {
        print!("{}", table(&samples));
    }
    Ok(())
}
