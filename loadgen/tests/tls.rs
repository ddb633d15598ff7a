//! loadgen against `https://` targets: an in-process TLS server (rustls on std threads, a
//! certificate from a CA made in the test) on an ephemeral port of 127.0.0.1, answering
//! HTTP/1.1 with keep-alive. What is trusted, what fails, and what is counted.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use bench_tls::rustls::{ServerConfig, ServerConnection, StreamOwned};
use bench_tls::{ALPN_HTTP1, Authority, LOCAL_NAMES, Leaf};
use clap::Parser;
use loadgen::command::Cli;
use loadgen::result::RunResult;

const BIN: &str = env!("CARGO_BIN_EXE_loadgen");

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
const CLOSING: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";

/// How the server writes each answer.
#[derive(Clone, Copy, PartialEq)]
enum Writes {
    /// In one write: one TLS record.
    Whole,
    /// Its head and its body in separate records, each flushed, a millisecond apart.
    Split,
}

/// What the server saw.
#[derive(Default)]
struct Seen {
    /// TCP connections accepted.
    connections: AtomicU64,
    /// Requests answered.
    requests: AtomicU64,
    /// The names clients asked for (SNI), once each.
    names: Mutex<Vec<String>>,
}

/// A TLS server on threads of its own, stopped and joined when dropped.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    seen: Arc<Seen>,
    accept: Option<thread::JoinHandle<()>>,
}

impl Server {
    /// Serves `leaf` on `bind`'s first address (port 0: ephemeral).
    fn start(leaf: &Leaf, writes: Writes, bind: (&str, u16)) -> Self {
        let mut config = ServerConfig::builder_with_provider(bench_tls::provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(leaf.chain.clone(), leaf.key.clone_key())
            .expect("server config");
        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        let config = Arc::new(config);
        let addr = bind.to_socket_addrs().expect("resolve").next().expect("an address");
        let listener = TcpListener::bind(addr).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let (stop, seen) = (Arc::new(AtomicBool::new(false)), Arc::new(Seen::default()));
        let accept = {
            let (stop, seen) = (Arc::clone(&stop), Arc::clone(&seen));
            thread::spawn(move || {
                let mut served = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            seen.connections.fetch_add(1, Ordering::Relaxed);
                            let (config, seen, stop) = (Arc::clone(&config), Arc::clone(&seen), Arc::clone(&stop));
                            served.push(thread::spawn(move || {
                                let _ = serve(stream, config, writes, &seen, &stop);
                            }));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(2)),
                    }
                }
                for conn in served {
                    let _ = conn.join();
                }
            })
        };
        Self { addr, stop, seen, accept: Some(accept) }
    }

    fn url(&self) -> String {
        format!("https://{}/", self.addr)
    }

    fn connections(&self) -> u64 {
        self.seen.connections.load(Ordering::Relaxed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// One connection: the handshake, then an answer to each request head, until the client
/// closes, a request asks to close, or the server stops.
fn serve(
    stream: TcpStream,
    config: Arc<ServerConfig>,
    writes: Writes,
    seen: &Seen,
    stop: &AtomicBool,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    // Woken now and then to see whether the server stops.
    stream.set_read_timeout(Some(Duration::from_millis(50)))?;
    let tls = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(tls, stream);
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let mut named = false;
    while !stop.load(Ordering::Relaxed) {
        let n = match tls.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
            Err(e) => return Err(e),
        };
        if !named {
            named = true;
            let name = tls.conn.server_name().unwrap_or("").to_owned();
            seen.names.lock().expect("names").push(name);
        }
        head.extend_from_slice(&buf[..n]);
        while let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            let request = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
            head.drain(..end + 4);
            let closes = request.contains("connection: close");
            let answer = if closes { CLOSING } else { OK };
            match writes {
                Writes::Whole => tls.write_all(answer)?,
                Writes::Split => {
                    let (first, second) = answer.split_at(answer.len() - 3);
                    tls.write_all(first)?;
                    tls.flush()?;
                    // The pause is the subject: the answer's end comes in a later record.
                    thread::sleep(Duration::from_millis(1));
                    tls.write_all(second)?;
                }
            }
            tls.flush()?;
            seen.requests.fetch_add(1, Ordering::Relaxed);
            if closes {
                tls.conn.send_close_notify();
                tls.flush()?;
                return Ok(());
            }
        }
    }
    Ok(())
}

/// A CA, its PEM file, and a leaf of it for this machine's local names.
struct Trust {
    _dir: tempfile::TempDir,
    ca_file: PathBuf,
    leaf: Leaf,
}

impl Trust {
    fn new(name: &str) -> Self {
        let ca = Authority::new(name).expect("CA");
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).expect("CA file");
        let leaf = ca.leaf(&LOCAL_NAMES).expect("leaf");
        Self { _dir: dir, ca_file, leaf }
    }

    fn ca(&self) -> &str {
        self.ca_file.to_str().expect("utf-8 path")
    }
}

/// loadgen in-process, closed loop, 1 s, 1 thread per 2 connections, with `extra` flags.
fn run(url: &str, connections: usize, extra: &[&str]) -> RunResult {
    run_on(url, connections, connections.div_ceil(2), extra)
}

/// `run` on `threads` threads.
fn run_on(url: &str, connections: usize, threads: usize, extra: &[&str]) -> RunResult {
    let c = connections.to_string();
    let t = threads.to_string();
    let mut args = vec!["loadgen", "-c", &c, "-t", &t, "-d", "1s", "--timeout", "2s"];
    args.extend_from_slice(extra);
    args.push(url);
    let cli = Cli::parse_from(args);
    let plan = loadgen::plan(&cli.run).expect("valid plan");
    loadgen::engine::run(&plan).expect("run")
}

fn loadgen(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run loadgen")
}

#[test]
fn with_its_ca_every_request_is_answered_and_each_connection_handshakes_once() {
    let trust = Trust::new("test CA");
    let server = Server::start(&trust.leaf, Writes::Whole, ("127.0.0.1", 0));
    let r = run(&server.url(), 4, &["--cacert", trust.ca()]);
    assert!(r.requests >= 100, "{} answers in 1 s", r.requests);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    let tls = r.tls.expect("an https run counts TLS");
    assert_eq!(tls.handshakes, 4, "keep-alive: one handshake per connection");
    assert_eq!(server.connections(), 4);
    assert_eq!((tls.full + tls.resumed, tls.failures, tls.first_failure), (4, 0, None));
    assert!(tls.latency_us.p50 > 0 && tls.latency_us.max >= tls.latency_us.p99, "{:?}", tls.latency_us);
    assert!(tls.verify.contains("--cacert"), "{}", tls.verify);
    // An IP literal is no server name to send (RFC 6066): the certificate is checked
    // against the address.
    assert!(server.seen.names.lock().unwrap().iter().all(String::is_empty));
}

#[test]
fn connection_close_makes_every_request_a_new_handshake_mostly_resumed() {
    let trust = Trust::new("test CA");
    let server = Server::start(&trust.leaf, Writes::Whole, ("127.0.0.1", 0));
    let r = run(&server.url(), 2, &["--cacert", trust.ca(), "-H", "Connection: close"]);
    assert!(r.requests >= 20, "{} answers in 1 s", r.requests);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    let tls = r.tls.expect("TLS counted");
    // Each answer had its own handshake; at the end each connection may hold one more,
    // made but not yet answered.
    assert!(
        tls.handshakes >= r.requests && tls.handshakes <= r.requests + 2,
        "{} handshakes for {} answers",
        tls.handshakes,
        r.requests
    );
    assert!(tls.resumed > tls.handshakes / 2, "resumption is on: {} of {} resumed", tls.resumed, tls.handshakes);
    assert!(server.connections() >= r.requests, "a connection per answer: {}", server.connections());

    let off = run(&server.url(), 2, &["--cacert", trust.ca(), "-H", "Connection: close", "--no-tls-resumption"]);
    let tls = off.tls.expect("TLS counted");
    assert_eq!(off.errors.total(), 0, "{:?}", off.errors);
    assert!(tls.handshakes >= off.requests && tls.handshakes > 0);
    assert_eq!((tls.resumed, tls.full, tls.resumption), (0, tls.handshakes, false), "--no-tls-resumption");
}

/// More connections than rustls's own store keeps tickets for (8 per server) reconnect at
/// once, yet only their first handshakes are full, as wrk resumes one session per
/// connection.
#[test]
fn many_connections_reconnecting_at_once_each_find_a_session_to_resume() {
    let trust = Trust::new("test CA");
    let server = Server::start(&trust.leaf, Writes::Whole, ("127.0.0.1", 0));
    // One thread: its connections reconnect in bursts, one per answer of a poll's batch.
    let connections = 50;
    let r = run_on(&server.url(), connections, 1, &["--cacert", trust.ca(), "-H", "Connection: close"]);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    let tls = r.tls.expect("TLS counted");
    let n = connections as u64;
    assert!(tls.handshakes >= n + n / 2, "{} handshakes: too few reconnects to tell", tls.handshakes);
    // Each connection's first handshake is full, and no other; a margin of a tenth. (With
    // rustls's own store, about half of them were full.)
    assert!(tls.full <= n + n / 10, "{} full of {} handshakes", tls.full, tls.handshakes);
}

#[test]
fn with_another_ca_every_request_fails_as_a_tls_error_and_none_is_answered() {
    let trusted = Trust::new("the CA loadgen trusts");
    let other = Trust::new("another CA");
    let expired = {
        let ca = Authority::new("expired leaf's CA").expect("CA");
        let leaf = ca.expired_leaf(&LOCAL_NAMES).expect("leaf");
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).expect("CA file");
        Trust { _dir: dir, ca_file, leaf }
    };
    for (what, served, ca, reason) in [
        ("another CA's leaf", &other.leaf, trusted.ca(), "UnknownIssuer"),
        ("an expired leaf", &expired.leaf, expired.ca(), "certificate expired"),
    ] {
        let server = Server::start(served, Writes::Whole, ("127.0.0.1", 0));
        let dir = tempfile::tempdir().expect("temp dir");
        let json = dir.path().join("run.json");
        let url = server.url();
        let out =
            loadgen(&["-c", "2", "-t", "1", "-d", "500ms", "--cacert", ca, "--json", json.to_str().unwrap(), &url]);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{what}: no answer, no result: {stdout}{stderr}");
        let r: RunResult =
            serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written")).expect("result");
        assert_eq!((r.requests, server.seen.requests.load(Ordering::Relaxed)), (0, 0), "{what}: nothing answered");
        assert!(r.errors.connect > 0, "{what}: {:?}", r.errors);
        let tls = r.tls.expect("TLS counted");
        assert_eq!(tls.handshakes, 0, "{what}");
        assert!(tls.failures >= r.errors.connect, "{what}: {} TLS failures, {:?}", tls.failures, r.errors);
        let first = tls.first_failure.expect("the first failure named");
        assert!(first.contains("certificate") && first.contains(reason), "{what}: {first}");
        assert!(stdout.contains(&format!("TLS errors: {}, the first: {first}", tls.failures)), "{what}: {stdout}");
    }
}

#[test]
fn insecure_accepts_a_certificate_no_anchor_vouches_for() {
    let untrusted = Trust::new("a CA nobody trusts");
    let server = Server::start(&untrusted.leaf, Writes::Whole, ("127.0.0.1", 0));
    let r = run(&server.url(), 2, &["--insecure"]);
    assert!(r.requests >= 20, "{} answers", r.requests);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    let tls = r.tls.expect("TLS counted");
    assert_eq!((tls.handshakes, tls.failures), (2, 0));
    assert!(tls.verify.contains("insecure"), "{}", tls.verify);
}

#[test]
fn a_host_name_is_sent_as_the_server_name_and_verified() {
    let trust = Trust::new("test CA");
    // Bound where loadgen will connect: localhost's first address.
    let server = Server::start(&trust.leaf, Writes::Whole, ("localhost", 0));
    let url = format!("https://localhost:{}/", server.addr.port());
    let r = run(&url, 2, &["--cacert", trust.ca()]);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert!(r.requests >= 20, "{} answers", r.requests);
    let names = server.seen.names.lock().unwrap().clone();
    assert_eq!(names, ["localhost", "localhost"], "SNI");
}

#[test]
fn an_answer_split_across_tls_records_is_read_as_one() {
    let trust = Trust::new("test CA");
    let server = Server::start(&trust.leaf, Writes::Split, ("127.0.0.1", 0));
    let r = run(&server.url(), 2, &["--cacert", trust.ca()]);
    assert!(r.requests >= 20, "{} answers", r.requests);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    // Head and body of every answer counted: plaintext bytes, as on plain HTTP.
    assert_eq!(r.bytes, r.requests * OK.len() as u64);
    assert_eq!(server.connections(), 2, "the connections were reused");
}

#[test]
fn the_json_and_the_text_report_the_handshakes() {
    let trust = Trust::new("test CA");
    let server = Server::start(&trust.leaf, Writes::Whole, ("127.0.0.1", 0));
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("run.json");
    let url = server.url();
    let out =
        loadgen(&["-c", "2", "-t", "1", "-d", "500ms", "--cacert", trust.ca(), "--json", json.to_str().unwrap(), &url]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("  TLS handshakes: 2 (full "), "{stdout}");
    assert!(!stdout.contains("TLS errors"), "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON")).expect("JSON");
    let tls = &v["tls"];
    assert_eq!(tls["handshakes"].as_u64(), Some(2), "{tls}");
    assert_eq!(tls["failures"].as_u64(), Some(0), "{tls}");
    for field in ["p50", "p99", "max", "mean"] {
        assert!(tls["latency_us"][field].as_f64().is_some_and(|x| x > 0.0), "{field}: {tls}");
    }
    assert!(tls["latency"].is_string(), "the histogram, for merge: {tls}");
    // bench-tls's provider offers X25519 first, as OpenSSL does.
    let negotiated = tls["negotiated"].as_str().unwrap_or_default();
    assert!(negotiated.starts_with("TLSv1_3, TLS13_") && negotiated.ends_with(", X25519"), "{tls}");
    assert!(stdout.contains(&format!("  TLS negotiated: {negotiated}\n")), "{stdout}");
}

#[test]
fn a_bad_cacert_exits_2_naming_the_file_before_any_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let not_pem = dir.path().join("not-a-ca.pem");
    std::fs::write(&not_pem, "hello\n").expect("file");
    let missing = dir.path().join("absent.pem");
    for file in [&not_pem, &missing] {
        let out = loadgen(&["-d", "1s", "--cacert", path(file), "https://127.0.0.1:9/"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(path(file)) && stderr.contains("--cacert"), "{stderr}");
        assert!(out.stdout.is_empty(), "no load: {}", String::from_utf8_lossy(&out.stdout));
    }
}

#[test]
fn tls_flags_with_an_http_url_exit_2() {
    let trust = Trust::new("test CA");
    for flag in [&["--cacert", trust.ca()][..], &["--insecure"], &["--no-tls-resumption"]] {
        let mut args = vec!["-d", "1s"];
        args.extend_from_slice(flag);
        args.push("http://127.0.0.1:9/");
        let out = loadgen(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag:?}: {stderr}");
        assert!(stderr.contains(flag[0]) && stderr.contains("only applies to https://"), "{stderr}");
    }
    let both = loadgen(&["--cacert", trust.ca(), "--insecure", "https://127.0.0.1:9/"]);
    assert_eq!(both.status.code(), Some(2), "--cacert and --insecure contradict each other");
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
