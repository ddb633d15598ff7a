//! The upstream (gosleep) as every server sees it: its base URL and the kinds of failure.

use thiserror::Error;

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
}

impl UpstreamError {
    /// The status this failure answers with: 504 for a timeout, 502 for everything else.
    pub fn status(&self) -> u16 {
        match self {
            Self::Timeout(_) => 504,
            Self::Connect(_) | Self::Status(_) | Self::Broken(_) => 502,
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
    }
}
