//! `tls-floor [--rounds R] [--handshakes N] [--csv]`: measures every case R times (the
//! cases alternated within each round), N handshakes each, and prints the Markdown table of
//! the medians, or with `--csv` one line per case and round, for `tls-floor summarize`.
//! `tls-floor summarize` reads such lines (of both providers' binaries) from standard input
//! and prints their table. Run it pinned: `taskset -c 1 tls-floor`.
//!
//! The socket floor (`tls_floor::sockets`, run by `sockets.sh`):
//! - `tls-floor serve --endpoints FILE`: answers every socket case on 127.0.0.1 (a listener
//!   a case), writes where and the CA to FILE, and serves until killed. Pin it to one core.
//! - `tls-floor sockets [--endpoints FILE] [--rounds R] [--calls N] [--csv]`: measures R
//!   rounds of N calls a case against that server (without `--endpoints`, against one started
//!   in-process), with the in-memory handshake of each TLS case in the same rounds, and prints
//!   the tables, or with `--csv` one line per case and round, for
//!   `tls-floor summarize-sockets`. Pin it to the other core.

use std::io::{self, BufRead};
use std::path::PathBuf;
use std::process::ExitCode;

use tls_floor::sockets::{self, Endpoints, Row, Server};
use tls_floor::{Certificates, FloorError, PROVIDER, Sample, cases, clock_cost_us, measure, table};

/// Rounds and handshakes by default: a few seconds a provider on this machine.
const ROUNDS: u32 = 5;
const HANDSHAKES: u32 = 1000;
/// Timed stretches for the clock's own cost.
const CLOCK_STRETCHES: u32 = 100_000;
/// The socket floor's rounds and calls a case by default: an even count of rounds, so the
/// cases' order (forward, then backward) is balanced; about 20 s on this machine.
const SOCKET_ROUNDS: u32 = 6;
const CALLS: u32 = 1000;

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
    match args.first().map(String::as_str) {
        Some("serve") => return serve(args.into_iter().skip(1)),
        Some("sockets") => return sockets(args.into_iter().skip(1)),
        Some("summarize-sockets") => {
            let mut rows = Vec::new();
            for line in io::stdin().lock().lines() {
                let line = line?;
                if !line.trim().is_empty() {
                    rows.push(Row::parse(&line)?);
                }
            }
            print!("{}", sockets::table(&rows));
            return Ok(());
        }
        _ => {}
    }
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
                    "unknown argument {other:?}; usage: tls-floor [--rounds R] [--handshakes N] [--csv] | tls-floor summarize | {SOCKETS_USAGE}"
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

/// The socket floor's commands, as the errors name them.
const SOCKETS_USAGE: &str = "tls-floor serve --endpoints FILE | \
    tls-floor sockets [--endpoints FILE] [--rounds R] [--calls N] [--csv] | tls-floor summarize-sockets";

/// A positive whole number from the next argument.
fn number(args: &mut impl Iterator<Item = String>, name: &str) -> Result<u32, FloorError> {
    args.next()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| FloorError::Usage(format!("{name} takes a positive whole number")))
}

/// A path from the next argument.
fn path(args: &mut impl Iterator<Item = String>, name: &str) -> Result<PathBuf, FloorError> {
    args.next().map(PathBuf::from).ok_or_else(|| FloorError::Usage(format!("{name} takes a file")))
}

/// `tls-floor serve --endpoints FILE`: starts the server, writes FILE (whole, by a rename, so
/// a script waiting for it never reads half of it), and serves until the process is killed.
fn serve(mut args: impl Iterator<Item = String>) -> Result<(), FloorError> {
    let mut endpoints = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--endpoints" => endpoints = Some(path(&mut args, "--endpoints")?),
            other => return Err(FloorError::Usage(format!("unknown argument {other:?}; usage: {SOCKETS_USAGE}"))),
        }
    }
    let file =
        endpoints.ok_or_else(|| FloorError::Usage(format!("serve needs --endpoints; usage: {SOCKETS_USAGE}")))?;
    let server = Server::start(&Certificates::new()?)?;
    let partial = file.with_extension("partial");
    std::fs::write(&partial, server.endpoints().to_text())?;
    std::fs::rename(&partial, &file)?;
    eprintln!("tls-floor serve: provider {PROVIDER}, endpoints in {}", file.display());
    loop {
        std::thread::park();
    }
}

/// `tls-floor sockets`: the socket floor's rounds, against `--endpoints` or an in-process
/// server.
fn sockets(mut args: impl Iterator<Item = String>) -> Result<(), FloorError> {
    let (mut endpoints, mut rounds, mut calls, mut csv) = (None, SOCKET_ROUNDS, CALLS, false);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--endpoints" => endpoints = Some(path(&mut args, "--endpoints")?),
            "--rounds" => rounds = number(&mut args, "--rounds")?,
            "--calls" => calls = number(&mut args, "--calls")?,
            "--csv" => csv = true,
            other => return Err(FloorError::Usage(format!("unknown argument {other:?}; usage: {SOCKETS_USAGE}"))),
        }
    }
    let certificates = Certificates::new()?;
    // In-process: the server's threads share this process, but not the client's clock.
    let (server, where_) = match &endpoints {
        Some(file) => (None, format!("from {}", file.display())),
        None => (Some(Server::start(&certificates)?), "in-process".to_owned()),
    };
    let endpoints = match (&server, &endpoints) {
        (Some(server), _) => server.endpoints().clone(),
        (None, Some(file)) => Endpoints::read(file)?,
        (None, None) => unreachable!("a server is started without --endpoints"),
    };
    eprintln!(
        "tls-floor sockets: provider {PROVIDER}, {rounds} rounds of {calls} calls a case, server {}; \
         reading the thread CPU clock costs {:.2} µs a timed stretch",
        where_,
        clock_cost_us(CLOCK_STRETCHES)
    );
    let rows = sockets::run(&endpoints, &certificates, rounds, calls, |row| {
        if csv {
            println!("{}", row.csv());
        }
    })?;
    drop(server);
    if !csv {
        print!("{}", sockets::table(&rows));
    }
    Ok(())
}
