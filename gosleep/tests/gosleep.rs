//! gosleep over real HTTP on 127.0.0.1, ephemeral ports only: one test per line of its
//! contract (docs/contract.md, "Running gosleep by hand").

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use contract::Running;
use gosleep::{Config, Stats};
use testkit::{self, Child, Conn};

fn start(delay_ms: u64) -> Running {
    gosleep::start(Config { delay_ms, ..Config::default() }).expect("gosleep starts")
}

async fn stats(addr: SocketAddr) -> Stats {
    gosleep::client::upstream_stats(addr).await
}

async fn reset(addr: SocketAddr) {
    gosleep::client::reset_upstream_stats(addr).await;
}

#[tokio::test]
async fn sleep_waits_the_default_delay_then_answers_the_default_body() {
    let g = start(200);
    let t = Instant::now();
    let r = testkit::get(g.addr(), "/sleep").await.unwrap();
    let waited = t.elapsed();
    assert_eq!(r.status, 200);
    assert!(waited >= Duration::from_millis(200), "answered after {waited:?}");
    assert_eq!(r.body, vec![b'z'; 64]);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("content-length"), Some("64"));
    assert_eq!(r.header("server"), Some("gosleep"));
    assert!(r.header("date").is_some());
}

#[tokio::test]
async fn sleep_ms_and_bytes_override_the_defaults() {
    let g = start(10_000);
    let t = Instant::now();
    let r = testkit::get(g.addr(), "/sleep?ms=300&bytes=5").await.unwrap();
    let waited = t.elapsed();
    assert_eq!((r.status, r.text().as_str()), (200, "zzzzz"));
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(5), "{waited:?}");

    let r = testkit::get(g.addr(), "/sleep?ms=0&bytes=0").await.unwrap();
    assert_eq!((r.status, r.body.len()), (200, 0));
    // Larger than the default buffer: served from the 16 MiB one, to the byte.
    let r = testkit::get(g.addr(), "/sleep?ms=0&bytes=16777216").await.unwrap();
    assert_eq!((r.status, r.body.len()), (200, 16 * 1024 * 1024));
}

#[tokio::test]
async fn body_bytes_flag_sets_the_default_size() {
    let g = gosleep::start(Config { delay_ms: 0, body_bytes: 1000, ..Config::default() }).unwrap();
    let r = testkit::get(g.addr(), "/sleep").await.unwrap();
    assert_eq!(r.body.len(), 1000);
    let r = testkit::get(g.addr(), "/sleep?bytes=3").await.unwrap();
    assert_eq!(r.body.len(), 3);
}

#[tokio::test]
async fn bad_ms_or_bytes_is_400_with_a_clear_text() {
    let g = start(0);
    for (target, names) in [
        ("/sleep?ms=abc", "`ms`"),
        ("/sleep?ms=-1", "`ms`"),
        ("/sleep?ms=1.5", "`ms`"),
        ("/sleep?ms=", "`ms`"),
        ("/sleep?ms=600001", "600000"),
        ("/sleep?ms=99999999999999999999", "`ms`"),
        ("/sleep?bytes=16777217", "16777216"),
        ("/sleep?bytes=-5", "`bytes`"),
        ("/sleep?bytes=lots", "`bytes`"),
        ("/sleep?ms=1&ms=2", "more than once"),
    ] {
        let r = testkit::get(g.addr(), target).await.unwrap();
        assert_eq!(r.status, 400, "{target}");
        assert!(r.text().contains(names), "{target}: {:?}", r.text());
    }
    // Still serving.
    assert_eq!(testkit::get(g.addr(), "/sleep?ms=0&bytes=0").await.unwrap().status, 200);
}

#[tokio::test]
async fn health_answers_ok() {
    let g = start(1000);
    let r = testkit::get(g.addr(), "/health").await.unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
}

#[tokio::test]
async fn unknown_path_is_404_and_wrong_method_is_405() {
    let g = start(0);
    for (method, target, status) in [
        ("GET", "/", 404),
        ("GET", "/sleepy", 404),
        ("GET", "/sleep/1", 404),
        ("POST", "/sleep", 405),
        ("DELETE", "/health", 405),
        ("PUT", "/stats", 405),
        ("GET", "/stats/reset", 405),
    ] {
        let r = testkit::request(g.addr(), method, target).await.unwrap();
        assert_eq!(r.status, status, "{method} {target}");
    }
    let r = testkit::request(g.addr(), "GET", "/stats/reset").await.unwrap();
    assert_eq!(r.header("allow"), Some("POST"));
}

#[tokio::test]
async fn stats_keepalive_requests_count_one_connection() {
    let g = start(0);
    reset(g.addr()).await;
    let mut conn = Conn::open(g.addr()).await.unwrap();
    for _ in 0..25 {
        assert_eq!(conn.get("/sleep").await.unwrap().status, 200);
    }
    let s: Stats = conn.get("/stats").await.unwrap().json();
    assert_eq!(s.connections_accepted, 1, "{s:?}");
    assert_eq!(s.requests, 25, "{s:?}");
    assert_eq!(s.connections_open, 1, "{s:?}");
}

#[tokio::test]
async fn stats_connection_close_requests_count_one_connection_each() {
    let g = start(0);
    reset(g.addr()).await;
    for _ in 0..25 {
        assert_eq!(testkit::get(g.addr(), "/sleep").await.unwrap().status, 200);
    }
    let s = stats(g.addr()).await;
    // 25 sleeps plus the connection that asked for these stats.
    assert_eq!(s.connections_accepted, 26, "{s:?}");
    assert_eq!(s.requests, 25, "{s:?}");
}

#[tokio::test]
async fn stats_track_in_flight_and_its_peak() {
    let g = start(0);
    let addr = g.addr();
    let sleepers: Vec<_> = (0..20).map(|_| tokio::spawn(testkit::get(addr, "/sleep?ms=1000"))).collect();
    gosleep::client::wait_for_upstream_in_flight(addr, 20, Duration::from_secs(10)).await;
    let during = stats(addr).await;
    assert_eq!(during.max_in_flight, 20, "{during:?}");
    for s in sleepers {
        assert_eq!(s.await.unwrap().unwrap().status, 200);
    }
    let after = stats(addr).await;
    assert_eq!((after.in_flight, after.max_in_flight, after.requests), (0, 20, 20), "{after:?}");
}

#[tokio::test]
async fn stats_reset_zeroes_the_counters() {
    let g = start(0);
    for _ in 0..3 {
        testkit::get(g.addr(), "/sleep").await.unwrap();
    }
    reset(g.addr()).await;
    let s = stats(g.addr()).await;
    assert_eq!((s.connections_accepted, s.requests, s.max_in_flight), (1, 0, 0), "{s:?}");
}

#[tokio::test]
async fn a_client_that_leaves_mid_sleep_is_counted_out() {
    let g = start(0);
    let mut conn = Conn::open(g.addr()).await.unwrap();
    conn.send_raw(b"GET /sleep?ms=60000 HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    gosleep::client::wait_for_upstream_in_flight(g.addr(), 1, Duration::from_secs(10)).await;
    drop(conn);
    let deadline = Instant::now() + Duration::from_secs(5);
    while stats(g.addr()).await.in_flight != 0 {
        assert!(Instant::now() < deadline, "sleeping request not counted out after its client left");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn malformed_http_gets_400_and_gosleep_keeps_serving() {
    let g = start(0);
    for garbage in [
        &b"NOT HTTP AT ALL\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"\x00\xff\x10\r\n\r\n",
        b"GET /sleep HTTP/1.1\r\nHost\r\n\r\n",
    ] {
        let mut conn = Conn::open(g.addr()).await.unwrap();
        conn.send_raw(garbage).await.unwrap();
        match conn.read_response().await {
            Ok(r) => assert!((400..500).contains(&r.status), "{garbage:?} -> {}", r.status),
            Err(e) => assert_ne!(e.kind(), std::io::ErrorKind::TimedOut, "{garbage:?} hung"),
        }
    }
    assert_eq!(testkit::get(g.addr(), "/health").await.unwrap().status, 200);
}

/// 2,000 requests that each sleep 500 ms cannot finish in 3 s unless they sleep at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_concurrent_sleeps_finish_in_under_3s() {
    // The test process holds both ends of every connection: 4,000 descriptors.
    bench_sys::raise_fd_limit().unwrap();
    let g = start(0);
    let addr = g.addr();
    let t = Instant::now();
    let requests: Vec<_> = (0..2000).map(|_| tokio::spawn(testkit::get(addr, "/sleep?ms=500"))).collect();
    for r in requests {
        assert_eq!(r.await.unwrap().unwrap().status, 200);
    }
    let took = t.elapsed();
    assert!(took < Duration::from_secs(3), "2,000 x 500 ms took {took:?}");
    let s = stats(addr).await;
    assert_eq!(s.requests, 2000);
    assert!(s.max_in_flight > 1000, "peak concurrency only {}", s.max_in_flight);
}

const BIN: &str = env!("CARGO_BIN_EXE_gosleep");

#[test]
fn binary_listens_on_127_0_0_1_by_default() {
    let out = std::process::Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("[default: 127.0.0.1:8090]"), "{help}");
}

#[test]
fn binary_rejects_bad_flags() {
    for args in [
        &["--delay-ms", "600001"][..],
        &["--body-bytes", "16777217"],
        &["--threads", "0"],
        // Over contract::limits::MAX_THREADS: refused, not a panic spawning them.
        &["--threads", "100000"],
        &["--listen", "nowhere"],
    ] {
        let status = std::process::Command::new(BIN).args(args).output().unwrap().status;
        assert_eq!(status.code(), Some(2), "{args:?}");
    }
}

/// `gosleep --help` opens with what gosleep is, and on what (hyper).
#[test]
fn help_opens_with_gosleep_and_its_framework() {
    let first = testkit::help_first_line(BIN);
    assert!(first.starts_with("gosleep: ") && first.contains("hyper"), "--help opens with {first:?}");
}

/// On a port another socket holds, gosleep exits non-zero with a line that names the address.
#[test]
fn a_port_in_use_is_named_and_the_start_fails() {
    testkit::assert_a_port_in_use_is_named(BIN);
}

/// `--listen` is read by the servers' parser, so a port alone gets the same advice.
#[test]
fn a_listen_port_alone_says_which_address_to_write() {
    use clap::Parser;
    let e = Config::try_parse_from(["gosleep", "--listen", "8090"]).unwrap_err().to_string();
    assert!(e.contains("'--listen <LISTEN>': no IP address: write 127.0.0.1:8090"), "{e}");
}

/// SIGTERM: stop accepting, let the sleeping request finish, exit 0.
#[tokio::test]
async fn sigterm_lets_sleeping_requests_finish_then_exits_0() {
    let mut child = Child::spawn(BIN, &["--listen", "127.0.0.1:0", "--delay-ms", "800"]).unwrap();
    let addr = child.addr();
    let sleeping = tokio::spawn(testkit::get(addr, "/sleep"));
    gosleep::client::wait_for_upstream_in_flight(addr, 1, Duration::from_secs(10)).await;
    child.signal("TERM").unwrap();
    let r = sleeping.await.unwrap().unwrap();
    assert_eq!(r.status, 200, "the sleeping request was cut off");
    let status =
        tokio::task::spawn_blocking(move || child.wait_timeout(Duration::from_secs(10))).await.unwrap().unwrap();
    assert_eq!(status.map(|s| s.code()), Some(Some(0)));
    assert!(Conn::open(addr).await.is_err(), "still accepting after exit");
}

#[test]
fn sigint_exits_0() {
    let mut child = Child::spawn(BIN, &["--listen", "127.0.0.1:0"]).unwrap();
    child.signal("INT").unwrap();
    let status = child.wait_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(status.map(|s| s.code()), Some(Some(0)));
}

/// With 64 descriptors, 200 connections make accept() fail with EMFILE. The accept loop
/// must back off and go on (logging at most once a second), and serve once fds free up.
#[tokio::test]
async fn accept_errors_back_off_and_never_end_the_accept_loop() {
    let cmd = format!("ulimit -n 64 && exec {BIN} --listen 127.0.0.1:0 --delay-ms 0");
    let mut command = std::process::Command::new("bash");
    command.args(["-c", &cmd]).stderr(std::process::Stdio::piped());
    let mut child = Child::spawn_command(&mut command).unwrap();
    let addr = child.addr();
    let t = Instant::now();
    let mut held = Vec::new();
    for _ in 0..200 {
        // Connects complete in the kernel's backlog even when gosleep cannot accept them.
        if let Ok(c) = Conn::open(addr).await {
            held.push(c);
        }
    }
    // gosleep has run out of descriptors once it says so; it must still be running then.
    child.wait_for_stderr("accept failed", Duration::from_secs(30));
    assert!(child.wait_timeout(Duration::ZERO).unwrap().is_none(), "gosleep exited under EMFILE");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = testkit::get(addr, "/health").await {
            assert_eq!(r.status, 200);
            break;
        }
        assert!(Instant::now() < deadline, "gosleep never recovered from EMFILE");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = t.elapsed().as_secs() + 1;
    child.signal("TERM").unwrap();
    assert_eq!(child.wait_timeout(Duration::from_secs(10)).unwrap().map(|s| s.code()), Some(Some(0)));
    let log = child.stderr_text();
    let warnings = log.matches("accept failed").count() as u64;
    assert!(warnings >= 1, "EMFILE was never reported: {log}");
    assert!(warnings <= elapsed + 1, "{warnings} warnings in {elapsed} s: not rate-limited");
}
