//! The cases of a server's recovery from a shortage it cannot avoid, and of the listen
//! backlog that absorbs a burst of connects: each runs the real binary (under a resource
//! limit of its own, with its own gosleep, where it needs them) and stops it.

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::{self, Child};

use crate::Subject;

/// The fd limit (soft and hard) the server runs under: the servers raise their soft limit
/// to the hard one at start, so both are set.
const FD_LIMIT: usize = 256;

/// Connections opened and held at once: well past what [`FD_LIMIT`] lets the server accept.
const CONNECTIONS: usize = 400;

/// How soon after the overload ends the server must answer again (issue 11).
const RECOVERY: Duration = Duration::from_secs(5);

/// How long one connect of the storm may take. Once the server stops accepting and its
/// listen backlog is full, the kernel drops SYNs: the first connect that times out ends the
/// storm (the server is out of descriptors by then), rather than each waiting for retries.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);

/// How long a `/health` probe waits for its answer.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// After a connection storm that ran the server out of file descriptors (every accept
/// failing with EMFILE), the server accepts and answers again once the storm is over.
pub fn accepts_again_within_5_s_after_running_out_of_file_descriptors(subject: &Subject) {
    // The test process holds CONNECTIONS sockets besides those of the cases running beside it.
    bench_sys::raise_fd_limit().expect("raise the test's fd limit");
    let g = gosleep::start(gosleep::Config { delay_ms: 0, ..gosleep::Config::default() }).expect("gosleep starts");
    let upstream = gosleep::upstream(&g);
    let mut command = Command::new("sh");
    command.arg("-c").arg(format!("ulimit -n {FD_LIMIT} && exec \"$0\" \"$@\"")).arg(subject.binary).args([
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        upstream.base(),
    ]);
    if subject.blocking {
        // A thread per connection, bounded by the fd limit rather than by this cap (so that
        // server-std runs out of descriptors too), and within the machine's pid limit.
        command.args(["--threads", &CONNECTIONS.to_string()]);
    }
    let child = Child::spawn_command(&mut command).unwrap_or_else(|e| panic!("{} binary: {e}", subject.name));
    let addr = child.addr();

    let held: Vec<TcpStream> =
        (0..CONNECTIONS).map_while(|_| TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).ok()).collect();
    // The storm did run the server out of descriptors: a new client is not answered.
    assert_eq!(
        health(addr),
        None,
        "{}: answered while {} connections were held under an fd limit of {FD_LIMIT}",
        subject.name,
        held.len()
    );
    drop(held);

    let over = Instant::now();
    let status = loop {
        match health(addr) {
            Some(status) => break Some(status),
            None if over.elapsed() > RECOVERY => break None,
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    assert_eq!(status, Some(200), "{}: no answer within {RECOVERY:?} after the storm", subject.name);
    drop(child);
}

/// `GET /health` on a new connection: its status, or `None` without an answer within
/// [`PROBE_TIMEOUT`].
fn health(addr: SocketAddr) -> Option<u16> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("test runtime");
    runtime.block_on(async {
        let answer = tokio::time::timeout(PROBE_TIMEOUT, testkit::get(addr, "/health")).await;
        answer.ok().and_then(Result::ok).map(|r| r.status)
    })
}

/// Connects of the burst: far more than std's backlog of 128, within the contract's
/// [`bench_sys::LISTEN_BACKLOG`].
const BURST: usize = 1000;

/// How long one connect of the burst may take: one in the backlog completes at once, one
/// whose SYN the kernel dropped is retried only after a second.
const BURST_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// A burst of connects to a server that accepts none of them for now (stopped with
/// SIGSTOP) waits in its listen backlog, the contract's 4096 rather than std's 128: every
/// connect completes at once, none waits a second for a SYN retry.
pub fn a_burst_of_connects_waits_in_the_listen_backlog(subject: &Subject) {
    // The kernel caps every backlog at net.core.somaxconn; below the burst, nothing here
    // can tell a server's backlog from the cap.
    let somaxconn: usize =
        std::fs::read_to_string("/proc/sys/net/core/somaxconn").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    if somaxconn <= BURST {
        eprintln!("{}: skipped: net.core.somaxconn is {somaxconn}, not above the burst of {BURST}", subject.name);
        return;
    }
    bench_sys::raise_fd_limit().expect("raise the test's fd limit");
    // No request is sent: the upstream only has to parse.
    let child = Child::spawn(subject.binary, &["--listen", "127.0.0.1:0", "--upstream", "http://127.0.0.1:9"])
        .unwrap_or_else(|e| panic!("{} binary: {e}", subject.name));
    let addr = child.addr();
    child.signal("STOP").expect("stop the server");
    let held: Vec<TcpStream> =
        (0..BURST).map_while(|_| TcpStream::connect_timeout(&addr, BURST_CONNECT_TIMEOUT).ok()).collect();
    let completed = held.len();
    child.signal("CONT").expect("continue the server");
    drop(held);
    drop(child);
    assert_eq!(
        completed, BURST,
        "{}: only {completed} of {BURST} connects completed while the server accepted none: its listen backlog is under {BURST}",
        subject.name
    );
}
