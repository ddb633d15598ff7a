//! The upstream (gosleep) as every server sees it: its base URL and the kinds of failure.

use thiserror::Error;

/// The largest upstream body one call may return: 16 MiB, gosleep's largest `/sleep` body.
/// Clients count a body as it streams and never hold it, so this bounds how long a call
/// reads, not memory; a longer body is a 502 ([`UpstreamError::TooLarge`]).
pub const MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;

/// A validated upstream base URL, e.g. `http://127.0.0.1:8090`, without trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    base: String,
    /// `{base}/sleep`, built once: it is the prefix of every upstream call.
    sleep: String,
}

impl Upstream {
    /// Validates a base URL. Only `http://` is accepted: the benchmark measures waiting on
    /// a slow server, and TLS would add a second variable (and a crypto dependency).
    pub fn parse(s: &str) -> Result<Self, String> {
        let rest = s.strip_prefix("http://").ok_or_else(|| format!("upstream must be an http:// URL, got {s:?}"))?;
        let base = s.trim_end_matches('/');
        let authority = rest.split('/').next().unwrap_or("");
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("upstream URL needs a host (and no user info): {s:?}"));
        }
        if s.contains(['?', '#', ' ']) {
            return Err(format!("upstream URL must not carry a query, fragment or space: {s:?}"));
        }
        Ok(Self { base: base.to_owned(), sleep: format!("{base}/sleep") })
    }

    /// The upstream at a socket address (what tests use with an ephemeral gosleep).
    pub fn at(addr: std::net::SocketAddr) -> Self {
        // A SocketAddr always renders as a valid authority (IPv6 in brackets).
        Self { base: format!("http://{addr}"), sleep: format!("http://{addr}/sleep") }
    }

    /// The base URL, without trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The URL of one upstream call: `{base}/sleep[?ms=M]`.
    pub fn sleep_url(&self, ms: Option<u64>) -> String {
        match ms {
            None => self.sleep.clone(),
            Some(ms) => format!("{}?ms={ms}", self.sleep),
        }
    }
}

/// Why an upstream call failed. Each server maps its client's error into one of these
/// (the only per-framework part); [`UpstreamError::status`] maps them to HTTP, once.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UpstreamError {
    /// No connection: refused, unreachable, DNS, or the connect itself failed.
    #[error("upstream connect failed: {0}")]
    Connect(String),
    /// The call took longer than `--upstream-timeout-ms`.
    #[error("upstream timed out after {0} ms")]
    Timeout(u64),
    /// The upstream answered, but not with 2xx.
    #[error("upstream answered HTTP {0}")]
    Status(u16),
    /// The connection broke after it was made: reset, closed early, malformed response.
    #[error("upstream connection failed: {0}")]
    Broken(String),
    /// The body was (or announced itself as) longer than [`MAX_BODY_BYTES`]; the call
    /// stopped reading there.
    #[error("upstream body is over {MAX_BODY_BYTES} bytes")]
    TooLarge,
}

impl UpstreamError {
    /// The status this failure answers with: 504 for a timeout, 502 for everything else.
    pub fn status(&self) -> u16 {
        match self {
            Self::Timeout(_) => 504,
            Self::Connect(_) | Self::Status(_) | Self::Broken(_) | Self::TooLarge => 502,
        }
    }
}

/// An upstream body counted as it streams: what every client keeps instead of the body.
///
/// It holds the framing's announced length, so a body that ends short of it is a failure
/// even with a client that reports a cut-off as a normal end (awc), and it refuses a body
/// over [`MAX_BODY_BYTES`] as soon as it is announced or read.
#[derive(Debug, Clone, Copy)]
pub struct BodyCount {
    counted: u64,
    announced: Option<u64>,
}

impl BodyCount {
    /// Starts counting a body whose `Content-Length` (if any) is `announced`.
    pub fn new(announced: Option<u64>) -> Result<Self, UpstreamError> {
        match announced {
            Some(length) if length > MAX_BODY_BYTES => Err(UpstreamError::TooLarge),
            _ => Ok(Self { counted: 0, announced }),
        }
    }

    /// Counts `len` more bytes; past [`MAX_BODY_BYTES`] the call must stop reading.
    pub fn add(&mut self, len: usize) -> Result<(), UpstreamError> {
        self.counted = self.counted.saturating_add(len as u64);
        if self.counted > MAX_BODY_BYTES { Err(UpstreamError::TooLarge) } else { Ok(()) }
    }

    /// The body has ended: its length, unless that falls short of the announced one.
    pub fn finish(self) -> Result<u64, UpstreamError> {
        match self.announced {
            Some(announced) if announced != self.counted => {
                Err(UpstreamError::Broken(format!("body ended after {} of its {announced} bytes", self.counted)))
            }
            _ => Ok(self.counted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_url_passes_ms_through() {
        let u = Upstream::parse("http://127.0.0.1:8090/").unwrap();
        assert_eq!(u.base(), "http://127.0.0.1:8090");
        assert_eq!(u.sleep_url(None), "http://127.0.0.1:8090/sleep");
        assert_eq!(u.sleep_url(Some(300)), "http://127.0.0.1:8090/sleep?ms=300");
    }

    #[test]
    fn upstream_keeps_a_path_prefix() {
        let u = Upstream::parse("http://localhost:9000/slow").unwrap();
        assert_eq!(u.sleep_url(Some(1)), "http://localhost:9000/slow/sleep?ms=1");
    }

    #[test]
    fn upstream_at_renders_ipv4_and_ipv6() {
        assert_eq!(Upstream::at("127.0.0.1:9".parse().unwrap()).base(), "http://127.0.0.1:9");
        assert_eq!(Upstream::at("[::1]:9".parse().unwrap()).sleep_url(None), "http://[::1]:9/sleep");
    }

    #[test]
    fn upstream_rejects_other_schemes_and_junk() {
        for s in ["https://h", "ftp://h", "127.0.0.1:8090", "http://", "http:///x", "http://u@h", "http://h/?q", ""] {
            assert!(Upstream::parse(s).is_err(), "accepted {s:?}");
        }
    }

    #[test]
    fn timeout_is_504_everything_else_502() {
        assert_eq!(UpstreamError::Timeout(100).status(), 504);
        assert_eq!(UpstreamError::Connect("refused".into()).status(), 502);
        assert_eq!(UpstreamError::Status(500).status(), 502);
        assert_eq!(UpstreamError::Broken("reset".into()).status(), 502);
        assert_eq!(UpstreamError::TooLarge.status(), 502);
    }

    #[test]
    fn a_body_over_the_cap_is_too_large_and_says_so() {
        assert_eq!(BodyCount::new(Some(MAX_BODY_BYTES + 1)).unwrap_err(), UpstreamError::TooLarge);
        let mut count = BodyCount::new(None).unwrap();
        count.add(MAX_BODY_BYTES as usize).unwrap();
        assert_eq!(count.add(1), Err(UpstreamError::TooLarge));
        assert_eq!(UpstreamError::TooLarge.to_string(), "upstream body is over 16777216 bytes");
    }

    #[test]
    fn a_body_at_the_cap_or_of_its_announced_length_is_counted_exactly() {
        let mut count = BodyCount::new(Some(MAX_BODY_BYTES)).unwrap();
        count.add(MAX_BODY_BYTES as usize - 1).unwrap();
        count.add(1).unwrap();
        assert_eq!(count.finish(), Ok(MAX_BODY_BYTES));
        let mut unannounced = BodyCount::new(None).unwrap();
        unannounced.add(7).unwrap();
        assert_eq!(unannounced.finish(), Ok(7));
    }

    #[test]
    fn a_body_shorter_than_its_content_length_is_broken() {
        let mut count = BodyCount::new(Some(1000)).unwrap();
        count.add(100).unwrap();
        assert!(matches!(count.finish(), Err(UpstreamError::Broken(m)) if m.contains("100 of its 1000")));
    }
}
