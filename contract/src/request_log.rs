//! One debug line per request, the same in every server: `RUST_LOG=debug` (or
//! `RUST_LOG=contract::request_log=debug`) shows each request's method, target,
//! status and time to its answer.
//!
//! Each server begins a [`RequestLog`] where its handler gets the request and ends it with
//! the answer's status: the hyper loop for the servers it serves
//! (`hyper_serve`), a middleware in server-actix, the shared blocking handler for
//! server-rouille and server-std.

use std::fmt::Display;
use std::time::Instant;

/// A request being answered, logged when it ends. With debug off it holds nothing and
/// costs one cached level check: no clock read, no formatting.
#[derive(Debug)]
#[must_use = "a request is logged when its log ends"]
pub struct RequestLog(Option<Begun>);

#[derive(Debug)]
struct Begun {
    method: String,
    target: String,
    started: Instant,
}

impl RequestLog {
    /// Starts timing a request; `target` is its path and query as sent.
    pub fn begin(method: impl Display, target: impl Display) -> Self {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return Self(None);
        }
        Self(Some(Begun { method: method.to_string(), target: target.to_string(), started: Instant::now() }))
    }

    /// Logs the request, answered with `status`.
    pub fn end(self, status: u16) {
        if let Some(Begun { method, target, started }) = self.0 {
            tracing::debug!(%method, %target, status, elapsed = ?started.elapsed(), "request");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// What a subscriber at `level` writes while `log` runs.
    fn logged(level: tracing::Level, log: impl FnOnce()) -> String {
        let out = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let out = Arc::clone(&out);
            move || Sink(Arc::clone(&out))
        };
        let subscriber = tracing_subscriber::fmt().with_max_level(level).with_writer(writer).with_ansi(false).finish();
        tracing::subscriber::with_default(subscriber, log);
        let text = out.lock().unwrap().clone();
        String::from_utf8(text).unwrap()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn with_debug_on_a_request_is_one_line_with_method_target_status_and_elapsed() {
        let text = logged(tracing::Level::DEBUG, || {
            let log = RequestLog::begin("GET", "/single?ms=5");
            assert!(log.0.is_some());
            log.end(504);
        });
        assert_eq!(text.lines().count(), 1, "{text}");
        for field in ["DEBUG", "request", "method=GET", "target=/single?ms=5", "status=504", "elapsed="] {
            assert!(text.contains(field), "no {field:?} in {text}");
        }
    }

    #[test]
    fn with_debug_off_a_request_logs_nothing_and_keeps_nothing() {
        let text = logged(tracing::Level::INFO, || {
            let log = RequestLog::begin("GET", "/health");
            assert!(log.0.is_none(), "a request kept its method and target with debug off");
            log.end(200);
        });
        assert_eq!(text, "");
    }
}
