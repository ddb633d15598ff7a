//! A minimal HTTP/1.1 client for black-box tests (feature `testkit`).
//!
//! Hand-written on purpose: the tests must control exactly which TCP connection carries
//! which request (keep-alive vs `Connection: close` is what gosleep's `/stats` counts), and
//! must be able to send malformed bytes. A pooled client library would hide both.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::upstream::MAX_BODY_BYTES;

/// How long any single test request may take before the test fails instead of hanging.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body (by Content-Length; or to EOF when the server sent none).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 (lossy), for messages and asserts.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON into `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not the expected JSON ({e}): {:?}", self.text()))
    }
}

/// One TCP connection: requests sent on it reuse it (HTTP/1.1 keep-alive).
pub struct Conn {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    /// Connects to `addr`.
    pub async fn open(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self { stream: BufReader::new(stream), host: addr.to_string() })
    }

    /// Sends `METHOD target` with `extra` header lines and reads the answer.
    pub async fn request(&mut self, method: &str, target: &str, extra: &[(&str, &str)]) -> io::Result<Response> {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if method == "POST" || method == "PUT" {
            head.push_str("Content-Length: 0\r\n");
        }
        head.push_str("\r\n");
        self.send_raw(head.as_bytes()).await?;
        self.read_response().await
    }

    /// `GET target` on this connection.
    pub async fn get(&mut self, target: &str) -> io::Result<Response> {
        self.request("GET", target, &[]).await
    }

    /// Writes bytes as they are (for malformed requests).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.get_mut().write_all(bytes).await
    }

    /// Reads one response (bounded by [`REQUEST_TIMEOUT`]).
    pub async fn read_response(&mut self) -> io::Result<Response> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.read_response_unbounded())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no response in time"))?
    }

    async fn read_response_unbounded(&mut self) -> io::Result<Response> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before a response"));
        }
        let status =
            line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad("malformed status line"))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).await?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').ok_or_else(|| bad("malformed header"))?;
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        let mut response = Response { status, headers, body: Vec::new() };
        // Bodies are held here, so no more than the largest a server or gosleep may send:
        // a bad length or an endless body fails the test instead of exhausting memory.
        let too_large = || bad("body over MAX_BODY_BYTES");
        match response.header("content-length") {
            Some(len) => {
                let len: u64 = len.parse().map_err(|_| bad("bad content-length"))?;
                if len > MAX_BODY_BYTES {
                    return Err(too_large());
                }
                response.body.resize(len as usize, 0);
                self.stream.read_exact(&mut response.body).await?;
            }
            None if response.header("transfer-encoding").is_some() => {
                return Err(bad("chunked bodies are not expected here"));
            }
            None => {
                (&mut self.stream).take(MAX_BODY_BYTES + 1).read_to_end(&mut response.body).await?;
                if response.body.len() as u64 > MAX_BODY_BYTES {
                    return Err(too_large());
                }
            }
        }
        Ok(response)
    }

    /// True once the server has closed this connection (reads EOF within `wait`).
    pub async fn closed_by_peer(&mut self, wait: Duration) -> bool {
        let mut byte = [0u8; 1];
        matches!(tokio::time::timeout(wait, self.stream.read(&mut byte)).await, Ok(Ok(0) | Err(_)))
    }
}

/// `GET target` on a fresh connection that asks to be closed afterwards.
pub async fn get(addr: SocketAddr, target: &str) -> io::Result<Response> {
    Conn::open(addr).await?.request("GET", target, &[("Connection", "close")]).await
}

/// `METHOD target` on a fresh connection that asks to be closed afterwards.
pub async fn request(addr: SocketAddr, method: &str, target: &str) -> io::Result<Response> {
    Conn::open(addr).await?.request(method, target, &[("Connection", "close")]).await
}

/// gosleep's `GET /stats`, parsed into the caller's type (`gosleep::Stats`); panics on
/// failure, as a test helper should. One version for every test suite that counts upstream
/// connections.
pub async fn upstream_stats<T: serde::de::DeserializeOwned>(gosleep: SocketAddr) -> T {
    get(gosleep, "/stats").await.unwrap_or_else(|e| panic!("GET /stats: {e}")).json()
}

/// gosleep's `POST /stats/reset`; panics unless it answers 200.
pub async fn reset_upstream_stats(gosleep: SocketAddr) {
    let r = request(gosleep, "POST", "/stats/reset").await.unwrap_or_else(|e| panic!("POST /stats/reset: {e}"));
    assert_eq!(r.status, 200, "POST /stats/reset");
}

/// Waits until gosleep reports `n` `/sleep` requests in flight; panics after `within`.
///
/// Tests that act on "a request in flight" (a signal, a dropped client) wait for this
/// instead of giving the request a fixed head start: on a loaded machine a head start is a
/// race, and a request the server has not read yet is not in flight.
pub async fn wait_for_upstream_in_flight(gosleep: SocketAddr, n: u64, within: Duration) {
    #[derive(serde::Deserialize)]
    struct InFlight {
        in_flight: u64,
    }
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let now = upstream_stats::<InFlight>(gosleep).await.in_flight;
        if now == n {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "gosleep: {now} requests in flight after {within:?}, not {n}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// How long a one-shot run of a binary ([`run_to_exit`]) may take: `--help`, or a start
/// that must fail, is over in milliseconds; a run still going this late never ends.
pub const ONE_SHOT_LIMIT: Duration = Duration::from_secs(20);

/// Runs `program args...` to its exit and returns its status, stdout and stderr. A process
/// still running after [`ONE_SHOT_LIMIT`] (a start that was meant to fail, and served) is
/// killed and reported as an error, so the test fails instead of hanging.
pub fn run_to_exit(program: &str, args: &[&str]) -> io::Result<std::process::Output> {
    use std::process::{Command, Stdio};
    let mut child =
        Command::new(program).args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    // Both pipes are read while the process runs, so that it can never block on a full one.
    let stdout = read_all(child.stdout.take());
    let stderr = read_all(child.stderr.take());
    let deadline = std::time::Instant::now() + ONE_SHOT_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{program} {args:?} still running after {ONE_SHOT_LIMIT:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let joined = |reader: std::thread::JoinHandle<Vec<u8>>| reader.join().unwrap_or_default();
    Ok(std::process::Output { status, stdout: joined(stdout), stderr: joined(stderr) })
}

/// Reads a child's pipe to its end on a thread of its own.
fn read_all(pipe: Option<impl io::Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// Starts the binary `program` with `--listen` on a port another socket holds, and asserts
/// that it fails: a non-zero exit, and a line on stderr from `program` that names the
/// address and says it is in use. The same check for every server binary and gosleep.
pub fn assert_a_port_in_use_is_named(program: &str) {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port to hold");
    let taken = holder.local_addr().expect("held address").to_string();
    let out = run_to_exit(program, &["--listen", &taken]).unwrap_or_else(|e| panic!("{program}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{program} on a port in use exited {}; stderr: {stderr}", out.status);
    let name = binary_name(program);
    let expected = format!("{name}: cannot listen on {taken}: ");
    assert!(
        stderr.lines().any(|line| line.starts_with(&expected) && line.contains("in use")),
        "{program}: no line starting {expected:?} and saying \"in use\" in stderr:\n{stderr}"
    );
}

/// The first line of `program --help`: what the binary says it is.
pub fn help_first_line(program: &str) -> String {
    let out = run_to_exit(program, &["--help"]).unwrap_or_else(|e| panic!("{program} --help: {e}"));
    assert!(out.status.success(), "{program} --help exited {}", out.status);
    String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().to_owned()
}

/// The file name of a binary's path (`server-axum` of `target/debug/server-axum`): the
/// name it prints its messages under.
pub fn binary_name(program: &str) -> &str {
    std::path::Path::new(program).file_name().and_then(|n| n.to_str()).unwrap_or(program)
}

/// A server binary started as a child process on an ephemeral port, for the tests that
/// need the real process (signals, exit codes, resource limits). Killed if dropped.
pub struct Child {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Child {
    /// Runs `program args...` (which must print `... listening on http://ADDR` on its first
    /// stdout line, as [`crate::sys::announce`] does) and waits for that line.
    pub fn spawn<S: AsRef<std::ffi::OsStr>>(program: &str, args: &[S]) -> io::Result<Self> {
        Self::spawn_command(std::process::Command::new(program).args(args))
    }

    /// Like [`Child::spawn`], for a prepared command (e.g. `bash -c 'ulimit -n 64; exec ...'`).
    pub fn spawn_command(command: &mut std::process::Command) -> io::Result<Self> {
        use std::io::BufRead;
        let mut child = command.stdout(std::process::Stdio::piped()).spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| io::Error::other("no stdout"))?;
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        let addr = line.trim().rsplit_once("http://").and_then(|(_, a)| a.parse().ok()).ok_or_else(|| {
            let _ = child.kill();
            io::Error::other(format!("no address announced; first line was {line:?}"))
        });
        match addr {
            Ok(addr) => Ok(Self { child, addr }),
            Err(e) => {
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// All the child wrote to stderr, when it was spawned with a piped stderr and has
    /// exited (empty otherwise).
    pub fn stderr_text(&mut self) -> String {
        use std::io::Read;
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        text
    }

    /// The announced address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by PID (`kill -SIG PID`) to this child only.
    pub fn signal(&self, sig: &str) -> io::Result<()> {
        let ok = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()?
            .success();
        if ok { Ok(()) } else { Err(io::Error::other(format!("kill -{sig} failed"))) }
    }

    /// Waits (polling, up to `limit`) for the child to exit; `None` if it is still running.
    pub fn wait_timeout(&mut self, limit: Duration) -> io::Result<Option<std::process::ExitStatus>> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            if std::time::Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
