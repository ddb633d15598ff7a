//! Binaries run as child processes: to their exit ([`run_to_exit`]) or as a server on an
//! ephemeral port ([`Child`]).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

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
    https: bool,
    /// Its stderr as read so far, once [`Child::wait_for_stderr`] has started reading it.
    stderr_read: Option<StderrReader>,
}

/// A thread that reads a child's stderr to its end, as it comes.
struct StderrReader {
    text: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Child {
    /// Runs `program args...` (which must print `... listening on http://ADDR`, or
    /// `https://ADDR`, on its first stdout line, as `contract::log::announce` does) and
    /// waits for that line.
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
        let https = line.contains("https://");
        let addr = line.trim().rsplit_once("://").and_then(|(_, a)| a.parse().ok()).ok_or_else(|| {
            let _ = child.kill();
            io::Error::other(format!("no address announced; first line was {line:?}"))
        });
        match addr {
            Ok(addr) => Ok(Self { child, addr, https, stderr_read: None }),
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
        if let Some(reader) = self.stderr_read.take() {
            // The child has exited: the reader is at the pipe's end, or about to be.
            let _ = reader.thread.join();
            let text = reader.text.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            return String::from_utf8_lossy(&text).into_owned();
        }
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        text
    }

    /// Waits until the child (spawned with a piped stderr) has written `needle` to stderr:
    /// a line it logs when something has happened. Panics after `within`. What it read is
    /// kept for [`Child::stderr_text`].
    pub fn wait_for_stderr(&mut self, needle: &str, within: Duration) {
        let stderr = &mut self.child.stderr;
        let reader = self.stderr_read.get_or_insert_with(|| {
            let Some(mut err) = stderr.take() else { panic!("the child's stderr is not piped") };
            let text = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let into = std::sync::Arc::clone(&text);
            let thread = std::thread::spawn(move || {
                use std::io::Read;
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = err.read(&mut chunk) {
                    into.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(&chunk[..n]);
                }
            });
            StderrReader { text, thread }
        });
        crate::wait_until(within, &format!("{needle:?} on the child's stderr"), || {
            let text = reader.text.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            needle.is_empty() || text.windows(needle.len()).any(|w| w == needle.as_bytes())
        });
    }

    /// The announced address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether it announced an `https://` address (a gosleep serving TLS).
    pub fn announced_https(&self) -> bool {
        self.https
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
