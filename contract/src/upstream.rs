//! The upstream (gosleep) as every server sees it: its base URL and the kinds of failure.

use thiserror::Error;

/// The largest upstream body one call may return: 16 MiB, gosleep's largest `/sleep` body.
/// Clients count a body as it streams and never hold it, so this bounds how long a call
/// reads, not memory; a longer body is a 502 ([`UpstreamError::TooLarge`]).
pub const MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;

/// A validated upstream base URL, e.g. `http://127.0.0.1:8090` or `https://localhost:8443`,
/// without trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    base: String,
    /// `{base}/sleep`, built once: it is the prefix of every upstream call.
    sleep: String,
}

impl Upstream {
    /// Validates a base URL: `http://` or `https://` (case-insensitive, written in lower case
    /// in [`Upstream::base`]), a host, an optional port and path prefix.
    pub fn parse(s: &str) -> Result<Self, UpstreamUrlError> {
        if s.contains(['?', '#']) || s.contains(char::is_whitespace) {
            return Err(UpstreamUrlError::QueryFragmentOrSpace);
        }
        let (scheme, rest) = match scheme(s) {
            // What to write is only worth saying if it is valid itself.
            None => {
                return Err(
                    Self::parse(&format!("http://{s}")).map_or_else(|e| e, |u| UpstreamUrlError::NoScheme(u.base))
                );
            }
            Some(scheme) => match Scheme::named(scheme) {
                Some(known) => (known, &s[scheme.len() + "://".len()..]),
                None => return Err(UpstreamUrlError::NotHttp(scheme.to_owned())),
            },
        };
        let authority = rest.split('/').next().unwrap_or("");
        if authority.is_empty() || authority.contains('@') {
            return Err(UpstreamUrlError::NoHost);
        }
        let base = format!("{}://{}", scheme.as_str(), rest.trim_end_matches('/'));
        Ok(Self { sleep: format!("{base}/sleep"), base })
    }

    /// `https://`: the calls are made over TLS.
    pub fn is_https(&self) -> bool {
        self.base.starts_with("https://")
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

/// The two schemes an upstream may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn named(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("http") {
            Some(Self::Http)
        } else if s.eq_ignore_ascii_case("https") {
            Some(Self::Https)
        } else {
            None
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// Why a `--upstream` value is not an upstream base URL; each message says what to write
/// instead (clap prints it after the value).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UpstreamUrlError {
    /// `127.0.0.1:8090`: an address without `http://`; holds the URL meant.
    #[error("no scheme: write {0}")]
    NoScheme(String),
    /// `ftp://...`: any scheme but http and https.
    #[error("the scheme is {0}://, but the upstream must be http:// or https://")]
    NotHttp(String),
    /// `http://`, `http:///x`, `http://user@host`.
    #[error("no host (or user info before it): write http[s]://HOST[:PORT][/PATH]")]
    NoHost,
    /// A base URL gets `/sleep?ms=...` appended, so it has no query or fragment of its own.
    #[error("a base URL has no query, fragment or space: write http[s]://HOST[:PORT][/PATH]")]
    QueryFragmentOrSpace,
}

/// The scheme of `s` (what precedes its first `://`, when that is a scheme's letters), or
/// `None`: `127.0.0.1:8090/a?u=http://b` has none.
pub(crate) fn scheme(s: &str) -> Option<&str> {
    let (scheme, _) = s.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))).then_some(scheme)
}

/// Why an upstream call failed. Each server maps its client's error into one of these
/// (the only per-framework part); [`UpstreamError::status`] maps them to HTTP, once.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UpstreamError {
    /// No connection: refused, unreachable, DNS, or the connect itself failed.
    #[error("upstream connect failed: {0}")]
    Connect(String),
    /// The TLS handshake failed: an untrusted or expired certificate, a wrong host name, an
    /// upstream that does not speak TLS. Holds the TLS stack's reason.
    #[error("upstream TLS failed: {0}")]
    Tls(String),
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
            Self::Connect(_) | Self::Tls(_) | Self::Status(_) | Self::Broken(_) | Self::TooLarge => 502,
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
        for s in [
            "ftp://h",
            "https://",
            "https://u@h/",
            "127.0.0.1:8090",
            "http://",
            "http:///x",
            "http://u@h",
            "http://h/?q",
            "",
        ] {
            assert!(Upstream::parse(s).is_err(), "accepted {s:?}");
        }
    }

    #[test]
    fn an_upstream_without_a_scheme_says_which_url_to_write() {
        for (given, write) in [
            ("127.0.0.1:8090", "http://127.0.0.1:8090"),
            ("localhost:9000/slow/", "http://localhost:9000/slow"),
            ("[::1]:8090", "http://[::1]:8090"),
        ] {
            let e = Upstream::parse(given).unwrap_err();
            assert_eq!(e, UpstreamUrlError::NoScheme(write.to_owned()));
            assert_eq!(e.to_string(), format!("no scheme: write {write}"));
            assert!(Upstream::parse(write).is_ok(), "the advice {write} is refused");
        }
        // Nothing to add a scheme to, or more wrong than the scheme: the other error.
        assert_eq!(Upstream::parse(""), Err(UpstreamUrlError::NoHost));
        assert_eq!(Upstream::parse("127.0.0.1:8090?x=1"), Err(UpstreamUrlError::QueryFragmentOrSpace));
    }

    #[test]
    fn an_upstream_with_another_scheme_says_http_and_https_are_supported() {
        let e = Upstream::parse("ftp://127.0.0.1:8443").unwrap_err();
        assert_eq!(e.to_string(), "the scheme is ftp://, but the upstream must be http:// or https://");
        let https = Upstream::parse("HTTPS://localhost:8443/api/").unwrap();
        assert!(https.is_https());
        assert_eq!(https.sleep_url(Some(5)), "https://localhost:8443/api/sleep?ms=5");
        assert!(!Upstream::parse("http://localhost:8443").unwrap().is_https());
        assert_eq!(
            Upstream::parse("HTTP://127.0.0.1:9/").map(|u| u.sleep_url(None)).as_deref(),
            Ok("http://127.0.0.1:9/sleep")
        );
    }

    #[test]
    fn timeout_is_504_everything_else_502() {
        assert_eq!(UpstreamError::Timeout(100).status(), 504);
        assert_eq!(UpstreamError::Connect("refused".into()).status(), 502);
        assert_eq!(UpstreamError::Status(500).status(), 502);
        assert_eq!(UpstreamError::Broken("reset".into()).status(), 502);
        assert_eq!(UpstreamError::Tls("invalid peer certificate: UnknownIssuer".into()).status(), 502);
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
