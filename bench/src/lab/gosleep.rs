//! `bench gosleep`: is gosleep ever the bottleneck? Two measurements, printed as Markdown:
//!
//! 1. 1000 ms sleeps on 10,000 concurrent wrk connections: RPS against the Little's-law
//!    bound (C / D = 10,000/s), p99 latency, CPU use; gosleep and a minimal Go net/http
//!    twin (gosleep/bench/gosleep.go) under the same load, nothing pinned;
//! 2. ms=0 with 100 keep-alive connections: requests/second and CPU seconds per 1,000
//!    requests, gosleep and the Go twin alternated, each with one thread (GOMAXPROCS=1)
//!    pinned to core 0, wrk pinned to core 1.
//!
//! With `--tls`, instead: HTTPS at ms=0, gosleep and the Go twin serving one ECDSA P-256
//! certificate (made here, in-process), one thread each pinned to core 0, wrk (OpenSSL)
//! pinned to core 1, alternated: 100 keep-alive connections, then `Connection: close` on
//! 50 (a TCP connection and a TLS handshake per request); gosleep's /stats says how many of
//! its handshakes were full and how many resumed. With `--server-cores X`, the server runs
//! under a CPU quota of X cores, so that it, not wrk's one core, is the bound: wrk making a
//! handshake per request saturates its core before either server does.
//!
//! Here gosleep is the measured server, on the server core. Everything targets 127.0.0.1,
//! every run is bounded by wrk's `-d`, and every process is stopped by PID. wrk and Go come
//! from Debian's packages (installed if missing and root; Go only with `--tls`); without
//! `go` the Go comparison is skipped, and the report says so.

use std::path::{Path, PathBuf};
use std::process::Command;

use bench_sys::procstat;
use clap::Args;

use super::wrk::Wrk;
use super::{Lab, Running, gosleep_stats, machine_line, need, need_package, now};
use crate::error::BenchError;
use crate::process::Side;
use crate::values::positive_cores;

/// The sleep of the first measurement, ms.
const SLEEP_MS: u64 = 1000;

/// `bench gosleep`'s flags.
#[derive(Debug, Clone, Args)]
pub struct GosleepArgs {
    /// Short runs, for a smoke test: 5 s at 2,000 sleepers, 3 s per speed run, one round [60 s at 10,000; 10 s; 3 rounds]
    #[arg(long)]
    pub quick: bool,
    /// The HTTPS comparison instead of the sleepers and the raw speed
    #[arg(long)]
    pub tls: bool,
    /// With --tls: the server under a CPU quota of X cores (e.g. 0.4; a cgroup, needs root) [no quota]
    #[arg(long, value_name = "X", value_parser = positive_cores)]
    pub server_cores: Option<f64>,
}

/// The two servers compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Gosleep,
    Go,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Self::Gosleep => "gosleep",
            Self::Go => "go",
        }
    }
}

/// How a server is started: where, with how many threads, over TLS or not.
struct Start<'a> {
    side: Option<Side>,
    /// `None`: its default, one per CPU.
    threads: Option<u32>,
    tls: Option<&'a Certificate>,
}

/// The one certificate both servers serve with `--tls`, and the CA that the lab's probes
/// trust.
struct Certificate {
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
}

/// The benchmark: the lab, the Go twin when there is one.
struct Bench<'a> {
    lab: &'a Lab,
    go: Option<PathBuf>,
}

/// Runs the measurements and prints the report.
pub fn run(root: &Path, args: &GosleepArgs, command: &str) -> Result<(), BenchError> {
    if args.server_cores.is_some() && !args.tls {
        return Err(BenchError::Usage("--server-cores needs --tls".to_owned()));
    }
    let (long, short, rounds, conns) = if args.quick { (5, 3, 1, 2000) } else { (60, 10, 3, 10_000) };
    need("wrk")?;
    if args.tls && !go_found() {
        // As the script did: only the HTTPS comparison installs Go; a failure skips the twin.
        let _ = need_package("go", "golang-go");
    }
    let lab = Lab::new(root, &[])?;
    if !args.tls && lab.fd_limit() < conns + 100 {
        return Err(BenchError::Start(format!(
            "need ulimit -n >= {} for {conns} connections, have {}",
            conns + 100,
            lab.fd_limit()
        )));
    }
    let (go, skipped) = twin(root, &lab);
    let bench = Bench { lab: &lab, go };
    // The quota first: a run that cannot have it stops before printing anything.
    let quota = args
        .server_cores
        .map(|cores| lab.quota(cores).map_err(|why| BenchError::Start(format!("--server-cores: {why}"))))
        .transpose()?;
    println!("# gosleep benchmark\n");
    println!("Machine: {}, {}.", machine_line(), go_version().unwrap_or_else(|| "no go".to_owned()));
    println!("Command: `{command}` on {}.\n", now());
    if args.tls {
        let certificate = certificate(&lab)?;
        let note =
            args.server_cores.map(|c| format!(", each server under a CPU quota of {c} cores")).unwrap_or_default();
        println!(
            "## HTTPS: ms=0, one server thread (pinned: {}), wrk -t 1 (pinned: {}){note}, {short} s per run, alternated\n",
            pinned(&lab, Side::Server),
            pinned(&lab, Side::Client)
        );
        println!(
            "| server | connection | run | RPS | p99 ms | server CPU s per 1,000 requests | server CPU (% of one core) | wrk errors | gosleep's handshakes |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|---|---|");
        for round in 1..=rounds {
            for (mode, c) in [("keep-alive", 100), ("close", 50)] {
                for s in bench.servers() {
                    eprintln!("round {round}/{rounds}: {} https {mode}: {c} connections, {short} s", s.name());
                    let start = Start { side: Some(Side::Server), threads: Some(1), tls: Some(&certificate) };
                    let running = bench.start(s, &start)?;
                    if let Some(q) = &quota {
                        q.add(running.pid())?;
                    }
                    let mut wrk = lab.client("wrk");
                    wrk.args(wrk_args(1, c, short));
                    if mode == "close" {
                        wrk.args(["-H", "Connection: close"]);
                    }
                    wrk.arg(running.url("sleep?ms=0"));
                    let (w, cpu) = measured(&lab, &running, wrk)?;
                    let handshakes = match s {
                        Server::Gosleep => {
                            let st = gosleep_stats(&running.target)?;
                            format!(
                                "full {}, resumed {}, failed {}",
                                st.tls_handshakes_full, st.tls_handshakes_resumed, st.tls_failures
                            )
                        }
                        Server::Go => "—".to_owned(),
                    };
                    stop(running);
                    println!(
                        "| {} | {mode} ({c}) | {round} | {:.2} | {:.1} | {:.4} | {:.0}% | {} | {handshakes} |",
                        s.name(),
                        w.totals.rps,
                        w.p99_ms,
                        per_1000(cpu, w.totals.requests),
                        100.0 * cpu / f64::from(short),
                        w.errors()
                    );
                }
            }
        }
        if let Some(why) = &skipped {
            println!("\n({why})");
        }
        return Ok(());
    }

    // 1. Many sleepers. Nothing pinned: server and wrk share both cores, as a user's run would.
    println!(
        "## Many sleepers: ms={SLEEP_MS}, {conns} connections, {long} s, unpinned (both cores shared with wrk -t 2)\n"
    );
    println!(
        "| server | RPS | Little's bound (C/D) | efficiency | p50 ms | p99 ms | server CPU (% of one core) | wrk errors |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    // Little's law: C connections each waiting D per request complete at most C / D a second.
    let bound = conns * 1000 / SLEEP_MS;
    for s in bench.servers() {
        eprintln!("{}: {conns} sleepers of {SLEEP_MS} ms, {long} s", s.name());
        let running = bench.start(s, &Start { side: None, threads: None, tls: None })?;
        let mut wrk = lab.command(None, "wrk");
        wrk.args(wrk_args(2, conns, long)).arg(running.url(&format!("sleep?ms={SLEEP_MS}")));
        let (w, cpu) = measured(&lab, &running, wrk)?;
        stop(running);
        println!(
            "| {} | {:.2} | {bound} | {:.1}% | {:.1} | {:.1} | {:.0}% | {} |",
            s.name(),
            w.totals.rps,
            100.0 * w.totals.rps / bound as f64,
            w.p50_ms,
            w.p99_ms,
            100.0 * cpu / long as f64,
            w.errors()
        );
    }
    println!();
    println!(
        "A closed loop completes nothing in its first second, so a {long} s run reaches at most {}/{long} of the bound.",
        long - 1
    );
    println!("All connections start together, so their requests arrive in waves of up to {conns} at once;");
    println!("p99 measures how fast server and wrk together clear a wave, not the timer.\n");

    // 2. Raw speed: one server thread pinned to core 0, wrk pinned to core 1.
    println!(
        "## Raw speed: ms=0, 100 keep-alive connections, one server thread (pinned: {}), {short} s per run, alternated\n",
        pinned(&lab, Side::Server)
    );
    println!("| server | run | RPS | p99 ms | server CPU s per 1,000 requests |");
    println!("|---|---:|---:|---:|---:|");
    for round in 1..=rounds {
        for s in bench.servers() {
            eprintln!("round {round}/{rounds}: {} ms=0: 100 connections, {short} s", s.name());
            let running = bench.start(s, &Start { side: Some(Side::Server), threads: Some(1), tls: None })?;
            let mut wrk = lab.client("wrk");
            wrk.args(wrk_args(1, 100, short)).arg(running.url("sleep?ms=0"));
            let (w, cpu) = measured(&lab, &running, wrk)?;
            stop(running);
            println!(
                "| {} | {round} | {:.2} | {:.1} | {:.4} |",
                s.name(),
                w.totals.rps,
                w.p99_ms,
                per_1000(cpu, w.totals.requests)
            );
        }
    }
    if let Some(why) = &skipped {
        println!("\n({why})");
    }
    println!();
    Ok(())
}

impl Bench<'_> {
    /// gosleep, then the Go twin when there is one.
    fn servers(&self) -> Vec<Server> {
        let mut all = vec![Server::Gosleep];
        if self.go.is_some() {
            all.push(Server::Go);
        }
        all
    }

    /// Starts `server` on 127.0.0.1, an ephemeral port, as `how` says.
    fn start(&self, server: Server, how: &Start) -> Result<Running, BenchError> {
        let command = match (server, &self.go) {
            (Server::Gosleep, _) => {
                let mut c = self.lab.command(how.side, "gosleep");
                c.args(["--listen", "127.0.0.1:0"]);
                if how.tls.is_none() {
                    c.args(["--delay-ms", &SLEEP_MS.to_string()]);
                }
                if let Some(t) = how.threads {
                    c.args(["--threads", &t.to_string()]);
                }
                if let Some(cert) = how.tls {
                    c.arg("--tls-cert").arg(&cert.cert).arg("--tls-key").arg(&cert.key);
                }
                c
            }
            (Server::Go, Some(go)) => {
                let mut c = self.lab.command(how.side, go);
                c.args(["--listen", "127.0.0.1:0"]);
                if let Some(t) = how.threads {
                    c.env("GOMAXPROCS", t.to_string());
                }
                if let Some(cert) = how.tls {
                    c.arg("-tls-cert").arg(&cert.cert).arg("-tls-key").arg(&cert.key);
                }
                c
            }
            (Server::Go, None) => return Err(BenchError::Start("the Go twin was not built".to_owned())),
        };
        self.lab.listen(server.name(), command, how.tls.map(|c| c.ca.as_path()))
    }
}

/// wrk's flags for THREADS threads on CONNS connections for SECS seconds, with its
/// latency distribution (the p50 and p99).
fn wrk_args(threads: u32, conns: u64, secs: u32) -> Vec<String> {
    ["-t", &threads.to_string(), "-c", &conns.to_string(), "-d", &format!("{secs}s"), "--timeout", "10s", "--latency"]
        .map(str::to_owned)
        .to_vec()
}

/// Runs `wrk` against `running`: wrk's figures, and the server's CPU seconds over the run.
fn measured(lab: &Lab, running: &Running, wrk: Command) -> Result<(Wrk, f64), BenchError> {
    let before = procstat::read(running.pid())?;
    let w = lab.wrk(wrk)?;
    let after = procstat::read(running.pid())?;
    Ok((w, procstat::ticks_to_seconds(after.cpu_ticks.saturating_sub(before.cpu_ticks))))
}

/// CPU seconds per 1,000 requests; 0 when none completed.
fn per_1000(cpu_s: f64, requests: u64) -> f64 {
    if requests > 0 { cpu_s / requests as f64 * 1000.0 } else { 0.0 }
}

/// Stops a server, saying so when it did not exit 0 (the Go twin dies of the signal).
fn stop(running: Running) {
    if let Some(said) = running.stop() {
        eprintln!("{said}");
    }
}

/// The pinning of `side` as the report names it: "taskset -c 0", or "none".
fn pinned(lab: &Lab, side: Side) -> &'static str {
    lab.pin(side).unwrap_or("none")
}

fn go_found() -> bool {
    go_version().is_some()
}

/// `go version`'s line, when `go` runs.
fn go_version() -> Option<String> {
    let out = Command::new("go").arg("version").output().ok().filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()).filter(|v| !v.is_empty())
}

/// The Go twin built into the lab's scratch directory, or why there is none (the line the
/// report ends with).
fn twin(root: &Path, lab: &Lab) -> (Option<PathBuf>, Option<String>) {
    if !go_found() {
        return (
            None,
            Some("no `go` found: the Go comparison was skipped; Debian: apt-get install golang-go".to_owned()),
        );
    }
    let binary = lab.scratch().join("go-sleep");
    // A cache of the run's own: the build leaves nothing behind in the user's home.
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&binary)
        .arg("gosleep.go")
        .current_dir(root.join("gosleep/bench"))
        .env("GOCACHE", lab.scratch().join("gocache"))
        // stdout is the report's; go's errors go to stderr, as everything the build says.
        .stdout(std::process::Stdio::null())
        .status();
    match built {
        Ok(s) if s.success() => (Some(binary), None),
        Ok(s) => {
            (None, Some(format!("`go build` of gosleep/bench/gosleep.go failed ({s}): the Go comparison was skipped")))
        }
        Err(e) => (
            None,
            Some(format!("`go build` of gosleep/bench/gosleep.go did not run ({e}): the Go comparison was skipped")),
        ),
    }
}

/// One ECDSA P-256 leaf for 127.0.0.1 and localhost, signed by a CA made here, written to
/// the lab's scratch directory. wrk verifies nothing; the lab's own probes trust the CA.
fn certificate(lab: &Lab) -> Result<Certificate, BenchError> {
    let tls = |e: bench_tls::TlsError| BenchError::Start(format!("the certificate: {e}"));
    let authority = bench_tls::Authority::new("bench gosleep CA").map_err(tls)?;
    let leaf = authority.leaf(&bench_tls::LOCAL_NAMES).map_err(tls)?;
    let dir = lab.scratch();
    let certificate = Certificate { cert: dir.join("cert.pem"), key: dir.join("key.pem"), ca: dir.join("ca.pem") };
    std::fs::write(&certificate.cert, &leaf.cert_pem)?;
    std::fs::write(&certificate.key, &leaf.key_pem)?;
    std::fs::write(&certificate.ca, authority.pem())?;
    Ok(certificate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_cores_is_a_positive_plain_number() {
        assert_eq!(positive_cores("0.4"), Ok(0.4));
        assert_eq!(positive_cores("2"), Ok(2.0));
        for bad in ["0", "0.0", "-1", "1e3", "inf", "", "x"] {
            assert!(positive_cores(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cpu_per_1000_requests_is_zero_without_requests() {
        assert_eq!(per_1000(2.0, 4000), 0.5);
        assert_eq!(per_1000(2.0, 0), 0.0);
    }
}
