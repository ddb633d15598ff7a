//! The shared conformance suite against the three Python servers of python/ (Flask under
//! gunicorn, Starlette under uvicorn, tornado), each started as a process from its
//! `python/bin/server-NAME`. Where python3 is unusable here, every case is reported ignored
//! (skipped, not passed), with python/setup.sh's reason; where a third-party server does not meet the contract, the
//! case is a known gap (python/README.md, "Request heads").

use std::process::Command;
use std::sync::OnceLock;

/// python/setup.sh's verdict, once per test binary.
enum Setup {
    Ready,
    /// Exit 3, no usable python3 here: its one line, why.
    Unavailable(String),
    /// Any other failure: everything it said.
    Failed(String),
}

/// Makes python/.venv if missing or stale (python/setup.sh, once): Ok when the servers can
/// run, Err(why) when this machine has no usable python3. A set-up that failed otherwise
/// is a broken install and fails the case rather than skipping it.
fn python() -> Result<(), String> {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    let setup = SETUP.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../python/setup.sh");
        match Command::new(script).output() {
            Ok(out) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                match out.status.code() {
                    Some(0) => Setup::Ready,
                    Some(3) => {
                        Setup::Unavailable(stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").to_owned())
                    }
                    _ => Setup::Failed(format!("exited with {}:\n{stderr}", out.status)),
                }
            }
            Err(e) => Setup::Failed(format!("could not run: {e}")),
        }
    });
    match setup {
        Setup::Ready => Ok(()),
        Setup::Unavailable(why) => Err(why.clone()),
        Setup::Failed(what) => panic!("python/setup.sh {what}"),
    }
}

/// A Python server: `python/bin/server-NAME` started as a process, once python/setup.sh
/// has made its venv.
const fn python_server(name: &'static str, server_header: &'static str, binary: &'static str) -> conformance::Subject {
    conformance::Subject {
        name,
        server_header,
        start: conformance::Start::Process,
        binary,
        blocking: false,
        requires: Some(python),
        known_gaps: &[],
    }
}

// Why a case is a known gap (python/README.md, "Request heads"), where two cases share it.
const GUNICORN_NO_HEAD_TIMEOUT: &str = "gunicorn has no head timeout: gthread reads a head with a blocking read \
     on a pool thread for as long as the client takes";
const TORNADO_NO_HEAD_TIMEOUT: &str = "tornado's only head timer, idle_connection_timeout, also times idle \
     keep-alive connections (which the contract never times out), so it is left at its 1 h";

static FLASK: conformance::Subject = conformance::Subject {
    // gunicorn's gthread worker: a pool of threads.
    blocking: true,
    known_gaps: &[
        ("a_head_trickled_past_the_head_timeout_is_closed", GUNICORN_NO_HEAD_TIMEOUT),
        ("a_later_head_trickled_past_the_head_timeout_is_closed", GUNICORN_NO_HEAD_TIMEOUT),
        (
            "stop_closes_idle_and_half_read_connections_at_once",
            "a half-read head holds its gthread pool thread in a blocking read, and the worker with it, \
                 until gunicorn's graceful_timeout (35 s)",
        ),
        (
            "a_1xx_before_the_upstreams_200_is_200",
            "http.client, under urllib3 and requests, skips only a 100 Continue before the final answer \
                 (HTTPResponse.begin): a 103 Early Hints is taken for the answer, a non-2xx, so 502",
        ),
    ],
    ..python_server("flask", "gunicorn", concat!(env!("CARGO_MANIFEST_DIR"), "/../python/bin/server-flask"))
};

// httpcore's connection pool walks every pooled connection for every queued request
// (encode/httpcore#1035), so 200 concurrent calls through one httpx client take 2.3-3.7 s
// here: not serialized, as concurrent_singles_are_not_serialized asks.
static STARLETTE: conformance::Subject =
    python_server("starlette", "uvicorn", concat!(env!("CARGO_MANIFEST_DIR"), "/../python/bin/server-starlette"));

static TORNADO: conformance::Subject = conformance::Subject {
    known_gaps: &[
        (
            "a_request_line_over_the_limit_is_414",
            "tornado's max_header_size (16 KiB) bounds the whole head, and past it HTTP1Connection closes \
                 the connection without an answer, before any code of ours sees the request",
        ),
        (
            "a_half_closed_client_gets_its_whole_answer",
            "while a handler works, tornado's HTTP1Connection listens for the connection's close, and its \
                 IOStream takes the client's FIN for one: it closes the socket, and the answer is lost",
        ),
        ("a_head_trickled_past_the_head_timeout_is_closed", TORNADO_NO_HEAD_TIMEOUT),
        ("a_later_head_trickled_past_the_head_timeout_is_closed", TORNADO_NO_HEAD_TIMEOUT),
    ],
    ..python_server("tornado", "TornadoServer", concat!(env!("CARGO_MANIFEST_DIR"), "/../python/bin/server-tornado"))
};

fn main() -> std::process::ExitCode {
    conformance::main(&[&FLASK, &STARLETTE, &TORNADO])
}
