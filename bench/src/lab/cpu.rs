//! `bench cpu`: server CPU per proxied request, every server under the same load.
//!
//! `bench servers` drives each server as hard as its model allows, so rouille (a pool of
//! 256 threads: at most 256 requests/s against a 1 s upstream) is measured at an eighth of
//! the async servers' rate, and wrk's closed loop sends its requests in waves. CPU per
//! request is not comparable across loads or arrival patterns. Here every server gets the
//! same open-loop stream: 200 requests/s over 256 connections, which all of them hold. The
//! CPU is the server's over loadgen's recorded window, per 1,000 requests completed in it.
//! Each case runs in rounds, the servers taking turns within a round, so that a noisy
//! minute on a shared machine hits one run of every server rather than all runs of one;
//! the table gives the median and the range, and each server's CPU against `--base`'s of
//! the same round and against its model's floor (the roster's `floor`).
//!
//! With `--tls`, every case runs over both schemes back to back: the HTTPS upstream is a
//! second gosleep serving TLS, whose counters give the handshakes per upstream call; a
//! last section sets each server's CPU over HTTPS against its CPU over HTTP, round by
//! round. With `--floor-us FULL,RESUMED` (the client side of one handshake of each kind,
//! from tls/floor/run.sh) the CPU added per call is also set against what that call's
//! handshakes cost in memory.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use bench_report::upstream::STATS_READ_HANDSHAKES;
use clap::Args;

use super::{
    DELAY_MS, EQUAL_CONNECTIONS as CONNECTIONS, EQUAL_RATE as RATE, FANOUT, Lab, ServerList, Upstream, errors,
    machine_line, median, now, open_loop, threads_line,
};
use crate::error::BenchError;
use crate::roster::{BASE_SERVER, Roster, Runs, Server};

/// `bench cpu`'s flags.
// A flag's default in brackets, [5], is its --help text, not an intra-doc link.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, Clone, Args)]
pub struct CpuArgs {
    /// One round of 5 s after 2 s of warm-up [3 rounds of 15 s after 3 s]; the servers by
    /// default: the roster's Rust servers (also flask, starlette, tornado when named)
    #[arg(long)]
    pub quick: bool,
    /// N rounds, 1 to 99 (beside --quick: of its 5 s)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..100))]
    pub rounds: Option<u32>,
    /// Every case over http and over https
    #[arg(long)]
    pub tls: bool,
    /// With --tls: the in-memory handshake floor, client side, full and resumed, µs (e.g. 256,116)
    #[arg(long, value_name = "F,R", requires = "tls", value_parser = floor_us)]
    pub floor_us: Option<(f64, f64)>,
    /// The server every other one's CPU is set against, round by round; one of the servers [default: hyper]
    #[arg(long, value_name = "NAME")]
    pub base: Option<String>,
    #[command(flatten)]
    pub list: ServerList,
}

fn floor_us(s: &str) -> Result<(f64, f64), String> {
    let bad = || format!("takes FULL,RESUMED in µs, e.g. 256,116, not {s}");
    let (f, r) = s.split_once(',').ok_or_else(bad)?;
    let num = |v: &str| v.parse::<f64>().ok().filter(|x| x.is_finite() && *x >= 0.0).ok_or_else(bad);
    Ok((num(f)?, num(r)?))
}

/// One run.
struct Row {
    server: String,
    path: &'static str,
    reuse: bool,
    https: bool,
    round: u32,
    rps: f64,
    p99_ms: f64,
    errors: String,
    cpu_per_1k: Option<f64>,
    max_threads: u64,
    /// Full and resumed TLS handshakes per upstream call (https only).
    handshakes: Option<(f64, f64)>,
}

/// Runs every round and prints the tables.
pub fn run(root: &Path, roster: &Roster, args: &CpuArgs, command: &str) -> Result<(), BenchError> {
    let servers = args.list.pick(roster, |s| s.runs == Runs::Rust)?;
    let base = args.base.clone().unwrap_or_else(|| BASE_SERVER.to_owned());
    if !servers.iter().any(|s| s.name == base) {
        let names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
        return Err(BenchError::Usage(format!("--base {base} is not one of the servers ({})", names.join(" "))));
    }
    let (secs, warmup, quick_rounds) = if args.quick { (5, 2, 1) } else { (15, 3, 3) };
    let rounds = args.rounds.unwrap_or(quick_rounds);
    let lab = Lab::new(root, &servers)?;
    let http = lab.upstream(DELAY_MS, false)?;
    let https = if args.tls { Some(lab.upstream(DELAY_MS, true)?) } else { None };
    let schemes: &[bool] = if args.tls { &[false, true] } else { &[false] };
    let mut rows = Vec::new();
    for round in 1..=rounds {
        for reuse in [true, false] {
            for path in ["single", "multiple"] {
                for s in &servers {
                    // The schemes of one server back to back: a slow spell moves both sides of their ratio.
                    for &tls in schemes {
                        let upstream = https.as_ref().filter(|_| tls).unwrap_or(&http);
                        eprintln!(
                            "round {round}/{rounds}: {} /{path} {} {}: {RATE} requests/s over {CONNECTIONS} connections, {warmup} s + {secs} s",
                            s.name,
                            mode(reuse),
                            scheme(tls)
                        );
                        rows.push(one(&lab, s, upstream, path, reuse, tls, round, warmup, secs)?);
                    }
                }
            }
        }
    }
    if let Some(u) = https {
        u.stop();
    }
    http.stop();
    let (server_side, client_side) = lab.sides();
    let mut out = String::new();
    let _ = writeln!(out, "# Server CPU per request, equal load\n\nMachine: {}.", machine_line());
    let _ = writeln!(
        out,
        "Command: `{command}` on {}; upstream delay {DELAY_MS} ms, fanout {FANOUT}; loadgen open loop at {RATE} requests/s over {CONNECTIONS} connections, {warmup} s warm-up then {secs} s recorded, rounds: {rounds}; server on {server_side} ({}), gosleep and loadgen 1 thread each on {client_side}.",
        now(),
        threads_line(&servers)
    );
    if args.tls {
        let _ = writeln!(
            out,
            "Schemes: http, then https (a second gosleep, --tls-self-signed, called at https://127.0.0.1:PORT with --upstream-ca its CA)."
        );
    }
    out.push('\n');
    for &tls in schemes {
        for reuse in [true, false] {
            for path in ["single", "multiple"] {
                let title = if args.tls {
                    format!("/{path}, {}, {}", mode(reuse), scheme(tls))
                } else {
                    format!("/{path}, {}", mode(reuse))
                };
                let case: Vec<&Row> =
                    rows.iter().filter(|r| r.path == path && r.reuse == reuse && r.https == tls).collect();
                table(&mut out, &title, &servers, &case, &base);
            }
        }
    }
    if args.tls {
        https_against_http(&mut out, &servers, &rows, args.floor_us);
    }
    print!("{out}");
    Ok(())
}

#[expect(clippy::too_many_arguments, reason = "one run's coordinates, each a plain value")]
fn one(
    lab: &Lab,
    s: &Server,
    upstream: &Upstream,
    path: &'static str,
    reuse: bool,
    tls: bool,
    round: u32,
    warmup: u64,
    secs: u64,
) -> Result<Row, BenchError> {
    let fanout = FANOUT.to_string();
    let mut flags = vec!["--fanout", fanout.as_str()];
    if !reuse {
        flags.push("--no-reuse");
    }
    let server = lab.server(s, upstream, s.threads.get(), &flags)?;
    let args = open_loop(CONNECTIONS, RATE, warmup, secs, &server, path);
    // gosleep's handshakes over the recorded window: reset as it opens, read as it ends.
    let result = std::thread::scope(|scope| {
        let resetter = tls.then(|| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_secs(warmup));
                upstream.reset()
            })
        });
        let result = lab.loadgen(&args);
        let reset =
            resetter.map(|r| r.join().unwrap_or_else(|_| Err(BenchError::Io("the reset thread panicked".into()))));
        (result, reset)
    });
    let (result, reset) = result;
    let handshakes = match reset {
        Some(Ok(())) => {
            let stats = upstream.stats()?;
            let calls =
                result.as_ref().map_or(0, |r| r.requests) * if path == "multiple" { u64::from(FANOUT) } else { 1 };
            (calls > 0).then(|| {
                let full = stats.tls_handshakes_full.saturating_sub(STATS_READ_HANDSHAKES);
                (full as f64 / calls as f64, stats.tls_handshakes_resumed as f64 / calls as f64)
            })
        }
        Some(Err(e)) => return Err(e),
        None => None,
    };
    if let Some(said) = server.stop() {
        eprintln!("{said}");
    }
    let r = result?;
    Ok(Row {
        server: s.name.clone(),
        path,
        reuse,
        https: tls,
        round,
        rps: r.rps(),
        p99_ms: r.latency_summary.p99_us as f64 / 1000.0,
        errors: errors(&r),
        cpu_per_1k: loadgen::figures::cpu_per_1k(&r),
        max_threads: r.server.map_or(0, |s| s.max_threads),
        handshakes,
    })
}

fn mode(reuse: bool) -> &'static str {
    if reuse { "reuse" } else { "no-reuse" }
}

fn scheme(tls: bool) -> &'static str {
    if tls { "https" } else { "http" }
}

/// The median and range of `s`'s per-round CPU over `base`'s in the same round.
fn ratio(case: &[&Row], s: &str, base: &str) -> Option<(f64, f64, f64)> {
    let ratios: Vec<f64> = case
        .iter()
        .filter(|r| r.server == s)
        .filter_map(|r| {
            let b = case.iter().find(|b| b.server == base && b.round == r.round)?.cpu_per_1k.filter(|b| *b > 0.0)?;
            Some(r.cpu_per_1k? / b)
        })
        .collect();
    median(&ratios)
}

fn table(out: &mut String, title: &str, servers: &[Server], case: &[&Row], base: &str) {
    let _ = writeln!(out, "## {title}\n");
    let _ = writeln!(
        out,
        "| server | threads | requests/s | p99 ms | errors | CPU s / 1k req (median) | range | CPU vs {base} (median) | range | CPU vs its model's floor (median) | range | server threads (max) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    let dash = || "—".to_owned();
    let times = |r: Option<(f64, f64, f64)>| {
        r.map_or_else(|| (dash(), dash()), |(m, lo, hi)| (format!("{m:.2}x"), format!("{lo:.2}-{hi:.2}x")))
    };
    for s in servers {
        let mine: Vec<&Row> = case.iter().copied().filter(|r| r.server == s.name).collect();
        if mine.is_empty() {
            continue;
        }
        let med = |f: &dyn Fn(&Row) -> f64| median(&mine.iter().map(|r| f(r)).collect::<Vec<_>>()).map_or(0.0, |m| m.0);
        let errs: Vec<&str> = mine.iter().map(|r| r.errors.as_str()).filter(|e| *e != "none").collect();
        let cpu = median(&mine.iter().filter_map(|r| r.cpu_per_1k).collect::<Vec<_>>());
        let (cpu_m, cpu_range) =
            cpu.map_or_else(|| (dash(), dash()), |(m, lo, hi)| (format!("{m:.4}"), format!("{lo:.4}-{hi:.4}")));
        let (vs_base, base_range) = times(ratio(case, &s.name, base));
        // Each framework against the floor of its own model; the floors have none.
        let (vs_floor, floor_range) = match &s.floor {
            Some(floor) => {
                let (m, range) = times(ratio(case, &s.name, floor));
                (if m == "—" { m } else { format!("{m} ({floor})") }, range)
            }
            None => (dash(), dash()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {:.1} | {} | {cpu_m} | {cpu_range} | {vs_base} | {base_range} | {vs_floor} | {floor_range} | {} |",
            s.name,
            s.threads,
            med(&|r| r.rps),
            med(&|r| r.p99_ms),
            if errs.is_empty() { "none".to_owned() } else { errs.join("; ") },
            mine.iter().map(|r| r.max_threads).max().unwrap_or(0)
        );
    }
    out.push('\n');
}

fn https_against_http(out: &mut String, servers: &[Server], rows: &[Row], floor: Option<(f64, f64)>) {
    let _ = writeln!(out, "## HTTPS against HTTP\n");
    let _ = writeln!(
        out,
        "Each server's CPU over HTTPS set against its own run over HTTP of the same round (run right\nbefore it): the ratio, and the CPU added per upstream call, (https - http) / calls per request,\nmedians over the rounds (range). Handshakes per call: gosleep's, full / resumed, over the\nrecorded window.{}",
        if floor.is_some() { " Floor: the client side of one full and one resumed handshake in memory," } else { "" }
    );
    if let Some((f, r)) = floor {
        let _ = writeln!(
            out,
            "{f} µs and {r} µs (`--floor-us {f},{r}`, from tls/floor/run.sh); floor per call = full x {f} + resumed x {r}."
        );
    }
    out.push('\n');
    let extra = if floor.is_some() { " floor µs per call | added / floor |" } else { "" };
    let _ = writeln!(
        out,
        "| case | server | CPU s / 1k, http | CPU s / 1k, https | https / http | added µs per call | range | handshakes per call (full / resumed) |{extra}"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---|{}", if floor.is_some() { "---:|---:|" } else { "" });
    for reuse in [true, false] {
        for path in ["single", "multiple"] {
            let calls = if path == "multiple" { f64::from(FANOUT) } else { 1.0 };
            for s in servers {
                let of = |tls: bool| {
                    rows.iter()
                        .filter(move |r| r.server == s.name && r.path == path && r.reuse == reuse && r.https == tls)
                };
                let (mut http, mut https, mut ratios, mut added) = (vec![], vec![], vec![], vec![]);
                for h in of(false) {
                    let Some(t) = of(true).find(|t| t.round == h.round) else { continue };
                    let (Some(hc), Some(tc)) = (h.cpu_per_1k, t.cpu_per_1k) else { continue };
                    http.push(hc);
                    https.push(tc);
                    if hc > 0.0 {
                        ratios.push(tc / hc);
                    }
                    // s per 1k requests -> µs per request: x 1000; per call: / calls.
                    added.push((tc - hc) * 1000.0 / calls);
                }
                let Some((a, lo, hi)) = median(&added) else { continue };
                let full = median(&of(true).filter_map(|r| r.handshakes.map(|h| h.0)).collect::<Vec<_>>())
                    .map_or(0.0, |m| m.0);
                let resumed = median(&of(true).filter_map(|r| r.handshakes.map(|h| h.1)).collect::<Vec<_>>())
                    .map_or(0.0, |m| m.0);
                let m = |v: &[f64]| median(v).map_or(0.0, |m| m.0);
                let mut line = format!(
                    "| /{path} {} | {} | {:.4} | {:.4} | {:.2}x | {a:.0} | {lo:.0}-{hi:.0} | {full:.3} / {resumed:.3} |",
                    mode(reuse),
                    s.name,
                    m(&http),
                    m(&https),
                    m(&ratios)
                );
                if let Some((ff, fr)) = floor {
                    // Reused connections make next to no handshake: nothing to set against.
                    let per_call = full * ff + resumed * fr;
                    line += &if full + resumed < 0.5 {
                        " — | — |".to_owned()
                    } else {
                        format!(" {per_call:.0} | {:.2}x |", a / per_call)
                    };
                }
                let _ = writeln!(out, "{line}");
            }
        }
    }
    out.push('\n');
}
