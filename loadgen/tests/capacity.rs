//! `loadgen capacity` against servers of known capacity on ephemeral ports: it finds the
//! knee, names what bound it, and stops for errors and for the fd budget.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use contract::Running;
use contract::fault::{Fault, FaultUpstream};
use http_body_util::Full;
use hyper::Response;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use loadgen::capacity::{Bound, Capacity, Phase};
use loadgen::command::{Cli, Command as Sub};

const BIN: &str = env!("CARGO_BIN_EXE_loadgen");

/// Searches measure rates on a 2-core machine: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A server that holds each request `hold` with at most `in_flight` of them at a time (a
/// thread pool's cap, without the threads): its capacity is `in_flight / hold`.
fn pool_server(in_flight: usize, hold: Duration) -> Running {
    let listen = SocketAddr::from(([127, 0, 0, 1], 0));
    contract::running::spawn_tokio("pool-server", listen, 1, move |listener, shutdown| async move {
        let permits = Arc::new(tokio::sync::Semaphore::new(in_flight));
        let accepting = async {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let permits = Arc::clone(&permits);
                let service = service_fn(move |_request| {
                    let permits = Arc::clone(&permits);
                    async move {
                        // Closed only if dropped, which it is not while serving.
                        let _permit = permits.acquire_owned().await;
                        tokio::time::sleep(hold).await;
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                    }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        };
        tokio::select! {
            () = accepting => Ok(()),
            () = shutdown => Ok(()),
        }
    })
    .expect("pool server starts")
}

/// Runs `loadgen capacity ARGS` in-process.
fn search(args: &[&str]) -> Capacity {
    let cli = Cli::parse_from(["loadgen", "capacity"].into_iter().chain(args.iter().copied()));
    let Some(Sub::Capacity(opts)) = cli.command else { panic!("not capacity") };
    loadgen::capacity::search(&opts).expect("search")
}

/// Issue 12: "A test server with a known capacity (at most K requests in flight, each held
/// D): the search finds K / D within 10%, says pool, and the step past the knee shows p99
/// beyond the SLO." K = 16, D = 50 ms: 320 req/s, a knee well between the rising rates
/// 200 and 400, so the rise's first failing step is clearly past it.
#[test]
fn a_pool_of_16_holding_50ms_has_capacity_320_bound_pool_and_p99_breaks_past_the_knee() {
    let _serial = serial();
    let server = pool_server(16, Duration::from_millis(50));
    let pid = std::process::id().to_string();
    let c = search(&[
        "-d",
        "1s",
        "--warmup",
        "500ms",
        "--pool",
        "16",
        "--server-pid",
        &pid,
        &format!("http://{}/", server.addr()),
    ]);
    let rps = c.capacity_rps.expect("a capacity");
    assert!((288.0..=352.0).contains(&rps), "capacity {rps} req/s for a cap of 320: {:#?}", summary(&c));
    assert_eq!(c.bound, Bound::Pool, "{:#?}", summary(&c));
    // The SLO came from the light step: twice a p50 of about 50 ms.
    assert!((100_000..=140_000).contains(&c.slo_p99_us), "SLO {} us", c.slo_p99_us);
    let past_knee = c.steps.iter().find(|s| s.phase == Phase::Rise && !s.passed).expect("a failing rise step");
    assert!(
        past_knee.result.latency_summary.p99_us > c.slo_p99_us,
        "p99 {} us within the SLO {} us past the knee",
        past_knee.result.latency_summary.p99_us,
        c.slo_p99_us
    );
    server.stop().expect("stops");
}

/// Issue 12: "A search against a server that returns 500s stops at the first step with
/// errors and says so": no capacity, exit 1, one verdict line naming the 500s.
#[test]
fn a_server_answering_500_stops_the_search_at_the_first_step_and_exits_1() {
    let _serial = serial();
    let server = FaultUpstream::start(Fault::Status(500)).expect("fault server");
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("capacity.json");
    let out = Command::new(BIN)
        .args(["capacity", "-d", "500ms", "--warmup", "200ms", "--json"])
        .arg(&json)
        .arg(format!("http://{}/", server.addr()))
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let verdicts: Vec<&str> = stdout.lines().filter(|l| l.starts_with("capacity: ")).collect();
    assert_eq!(verdicts.len(), 1, "{stdout}");
    assert!(
        verdicts[0].starts_with("capacity: none (first step failed: ") && verdicts[0].contains("500 x"),
        "{stdout}"
    );
    let c: Capacity = serde_json::from_str(&std::fs::read_to_string(&json).expect("json written")).expect("a Capacity");
    assert_eq!((c.bound, c.capacity_rps, c.at_capacity, c.steps.len()), (Bound::FirstStep, None, None, 1));
    assert!(c.steps[0].failure.as_deref().is_some_and(|f| f.contains("non-2xx")), "{:?}", c.steps[0].failure);
}

/// Issue 12: "A search whose connection need passes the fd budget stops with the fd
/// reason, no crash." A 50 ms upstream (SLO about 100 ms) needs rate x 0.2 s connections:
/// 800 req/s would need about 160, over a budget of 100, so the search keeps 400 req/s.
#[test]
fn a_step_needing_more_connections_than_the_budget_stops_with_the_fd_reason() {
    let _serial = serial();
    let g = gosleep::start(gosleep::Config { delay_ms: 50, ..gosleep::Config::default() }).expect("gosleep");
    let c = search(&[
        "-d",
        "1s",
        "--warmup",
        "500ms",
        "--timeout",
        "1s",
        "--max-connections",
        "100",
        &format!("http://{}/sleep", g.addr()),
    ]);
    assert_eq!((c.bound, c.capacity_rps), (Bound::FdBudget, Some(400.0)), "{:#?}", summary(&c));
    assert!(c.steps.iter().all(|s| s.passed && s.connections <= 100), "{:#?}", summary(&c));
}

/// Each step in a line, for assertion messages.
fn summary(c: &Capacity) -> Vec<String> {
    c.steps
        .iter()
        .map(|s| {
            format!(
                "{:?} {:.0}/s c={} p99 {} us: {}",
                s.phase,
                s.offered_rps,
                s.connections,
                s.result.latency_summary.p99_us,
                s.failure.as_deref().unwrap_or("pass")
            )
        })
        .collect()
}
