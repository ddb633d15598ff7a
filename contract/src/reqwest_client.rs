//! The reqwest upstream client shared by server-axum and server-warp (feature `reqwest`).
//!
//! One [`reqwest::Client`] per process, built from the [`Config`]: reqwest's client is a
//! handle to one connection pool, so every handler (on every worker thread) shares the
//! same keep-alive connections, which is what "reuse" means in the contract.

use std::sync::Arc;

use crate::reply::{BenchError, ProxyReply};
use crate::upstream::{BodyCount, Upstream, UpstreamError};
use crate::{Config, proxy, tls};

/// What every handler of a reqwest server shares, built once per process: the client
/// and the contract's parameters, with `/single` and `/multiple` ready to call.
#[derive(Debug)]
pub struct ReqwestProxy {
    client: ReqwestUpstream,
    upstream: Upstream,
    fanout: usize,
}

impl ReqwestProxy {
    /// Builds the one client for `config`.
    pub fn new(config: &Config) -> std::io::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            client: ReqwestUpstream::new(config)?,
            upstream: config.upstream.clone(),
            fanout: config.fanout,
        }))
    }

    /// `GET /single` with the raw query string.
    pub async fn single(&self, query: Option<&str>) -> Result<ProxyReply, BenchError> {
        proxy::single(query, &self.upstream, |url| self.client.call(url)).await
    }

    /// `GET /multiple` with the raw query string.
    pub async fn multiple(&self, query: Option<&str>) -> Result<ProxyReply, BenchError> {
        proxy::multiple(query, self.fanout, &self.upstream, |url| self.client.call(url)).await
    }
}

/// The upstream client of the reqwest servers: one pooled client and the per-call timeout.
/// Cheap to share by reference; build it once per process.
#[derive(Debug, Clone)]
pub struct ReqwestUpstream {
    client: reqwest::Client,
    /// `--upstream-timeout-ms`, reported in [`UpstreamError::Timeout`].
    timeout_ms: u64,
}

impl ReqwestUpstream {
    /// Builds the client for `config`: `--upstream-timeout-ms` as a total per-call
    /// deadline (connect + headers + body), pooled keep-alive unless `--no-reuse`.
    /// An https:// upstream is called with THE client config, [`Config::upstream_tls`].
    /// Fails if that config cannot be built, or reqwest cannot set up its client.
    pub fn new(config: &Config) -> std::io::Result<Self> {
        let builder = reqwest::Client::builder()
            // The benchmark must reach loopback directly: an HTTP(S)_PROXY in the
            // environment would silently put a second server in the measured path.
            .no_proxy()
            // A total deadline (connect until the body is fully read), not a read timeout:
            // `--upstream-timeout-ms` bounds the whole call.
            .timeout(config.upstream_timeout())
            // The request line and headers go out in one write; no Nagle wait on them.
            .tcp_nodelay(true)
            // A 3xx is the upstream's answer, a non-2xx like any other (502): reqwest would
            // follow it by default, making a second call, perhaps to another host.
            .redirect(reqwest::redirect::Policy::none());
        let builder = if config.no_reuse {
            // The reuse knob of reqwest: with no idle slot per host, hyper-util disables
            // its pool entirely, so no connection is ever checked back in or handed to a
            // waiting request; each call connects, and the connection is dropped (closed by
            // us) once its response body has been read. One TCP connection per call.
            builder.pool_max_idle_per_host(0)
        } else {
            // Reuse: keep every connection a `/multiple` burst opened (reqwest's default
            // is already unbounded; said here so nobody lowers it by accident). There is no
            // per-host cap on *open* connections in reqwest/hyper-util, so concurrency is
            // never limited by the client: a burst opens as many connections as it needs.
            // Idle ones are dropped after reqwest's default 90 s.
            builder.pool_max_idle_per_host(usize::MAX)
        };
        // reqwest takes the config by value and recognises it by its type, which must be
        // the rustls of its own build (rustls 0.23, as ours). A clone shares the session
        // store, which is an Arc inside.
        let tls = match config.upstream_tls().map_err(std::io::Error::other)? {
            Some(tls) => tls::rustls::ClientConfig::clone(&tls),
            None => trusting_nothing()?,
        };
        let builder = builder.tls_backend_preconfigured(tls);
        let client = builder.build().map_err(std::io::Error::other)?;
        Ok(Self { client, timeout_ms: config.upstream_timeout_ms })
    }

    /// One upstream call: `GET url`, requires 2xx, reads the whole body (counted chunk by
    /// chunk, never held, up to [`MAX_BODY_BYTES`](crate::upstream::MAX_BODY_BYTES)) and
    /// returns its length in bytes.
    pub async fn call(&self, url: String) -> Result<u64, UpstreamError> {
        let mut response = self.client.get(url).send().await.map_err(|e| self.error(&e))?;
        let status = response.status();
        if !status.is_success() {
            // Dropping the unread body closes that connection rather than reusing it:
            // fine, a non-2xx upstream is an error case, not the measured path.
            return Err(UpstreamError::Status(status.as_u16()));
        }
        let mut count = BodyCount::new(response.content_length())?;
        while let Some(chunk) = response.chunk().await.map_err(|e| self.error(&e))? {
            count.add(chunk.len())?;
        }
        count.finish()
    }

    fn error(&self, e: &reqwest::Error) -> UpstreamError {
        classify(e, self.timeout_ms)
    }
}

/// The TLS config of a client whose upstream is http://: reqwest builds its TLS connector
/// even so, and without a config of ours it would look for a process-wide crypto provider
/// (there is none: rustls comes without one here) and panic. This one is never used for a
/// handshake; if it were, it would trust no certificate.
fn trusting_nothing() -> std::io::Result<tls::rustls::ClientConfig> {
    Ok(tls::rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_root_certificates(tls::rustls::RootCertStore::empty())
        .with_no_client_auth())
}

/// The one mapping from a reqwest error to the contract's failure kinds.
///
/// The timeout check comes first: a connect or handshake that runs past the deadline is a
/// timeout (504), not a failed connect. A rustls error anywhere in the chain is a TLS
/// failure (hyper-rustls reports it as the connect's io::Error).
fn classify(e: &reqwest::Error, timeout_ms: u64) -> UpstreamError {
    if e.is_timeout() {
        UpstreamError::Timeout(timeout_ms)
    } else if let Some(reason) = tls::failure_in(e) {
        UpstreamError::Tls(reason)
    } else if e.is_connect() {
        UpstreamError::Connect(chain(e))
    } else {
        UpstreamError::Broken(chain(e))
    }
}

/// The error and its sources in one line: reqwest's own message ("error sending request")
/// says nothing about the cause (refused, reset, ...), which is in the source chain.
fn chain(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::Upstream;
    use crate::fault::{self, Certificate, Fault, FaultUpstream, TlsFaultUpstream};
    use crate::upstream::MAX_BODY_BYTES;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A keep-alive HTTP server answering `ok` to every request, counting the
    /// connections it accepted (requests are small: one read is one request).
    async fn keep_alive() -> (Upstream, Arc<AtomicUsize>) {
        answering(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await
    }

    /// A keep-alive HTTP server answering `answer` to every request, counting the
    /// connections it accepted.
    async fn answering(answer: &'static [u8]) -> (Upstream, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {
                        if stream.write_all(answer).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (Upstream::at(addr), accepted)
    }

    fn client(upstream: &Upstream, timeout_ms: u64) -> ReqwestUpstream {
        let mut config = Config::for_upstream(upstream.clone());
        config.upstream_timeout_ms = timeout_ms;
        ReqwestUpstream::new(&config).unwrap()
    }

    async fn call(fault: Fault, timeout_ms: u64) -> Result<u64, UpstreamError> {
        let upstream = FaultUpstream::start(fault).unwrap();
        client(&upstream.upstream(), timeout_ms).call(upstream.upstream().sleep_url(None)).await
    }

    #[tokio::test]
    async fn call_returns_the_body_length() {
        assert_eq!(call(Fault::Ok(5), 5_000).await, Ok(5));
    }

    #[tokio::test]
    async fn non_2xx_is_a_status_error() {
        assert_eq!(call(Fault::Status(503), 5_000).await, Err(UpstreamError::Status(503)));
    }

    #[tokio::test]
    async fn an_upstream_redirect_is_never_followed_but_a_status_error() {
        let (upstream, accepted) =
            answering(b"HTTP/1.1 302 Found\r\nlocation: /other\r\ncontent-length: 0\r\n\r\n").await;
        assert_eq!(client(&upstream, 5_000).call(upstream.sleep_url(None)).await, Err(UpstreamError::Status(302)));
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn slow_upstream_is_a_timeout() {
        assert_eq!(call(Fault::Hang, 100).await, Err(UpstreamError::Timeout(100)));
    }

    #[tokio::test]
    async fn refused_is_a_connect_error() {
        let upstream = fault::refused().unwrap();
        let outcome = client(&upstream, 5_000).call(upstream.sleep_url(None)).await;
        assert!(matches!(outcome, Err(UpstreamError::Connect(_))), "{outcome:?}");
    }

    #[tokio::test]
    async fn reuse_keeps_one_connection_for_sequential_calls() {
        let (upstream, accepted) = keep_alive().await;
        let client = client(&upstream, 5_000);
        for _ in 0..20 {
            assert_eq!(client.call(upstream.sleep_url(None)).await, Ok(2));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn no_reuse_opens_one_connection_per_call() {
        let (upstream, accepted) = keep_alive().await;
        let mut config = Config::for_upstream(upstream.clone());
        config.no_reuse = true;
        let client = ReqwestUpstream::new(&config).unwrap();
        for _ in 0..20 {
            assert_eq!(client.call(upstream.sleep_url(None)).await, Ok(2));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 20);
    }

    async fn call_tls(upstream: &TlsFaultUpstream, no_reuse: bool) -> Result<u64, UpstreamError> {
        let config = Config { no_reuse, upstream_timeout_ms: 5_000, ..upstream.config() };
        ReqwestUpstream::new(&config).unwrap().call(upstream.upstream().sleep_url(None)).await
    }

    #[tokio::test]
    async fn an_https_call_returns_the_body_length() {
        let upstream = TlsFaultUpstream::start(Certificate::Trusted, Fault::Ok(5)).unwrap();
        assert_eq!(call_tls(&upstream, false).await, Ok(5));
        assert_eq!(upstream.full_handshakes(), 1);
    }

    #[tokio::test]
    async fn an_untrusted_ca_is_a_tls_failure() {
        let upstream = TlsFaultUpstream::start(Certificate::UntrustedCa, Fault::Ok(5)).unwrap();
        let outcome = call_tls(&upstream, false).await;
        assert!(matches!(&outcome, Err(UpstreamError::Tls(m)) if m.contains("UnknownIssuer")), "{outcome:?}");
    }

    #[tokio::test]
    async fn no_reuse_over_https_is_one_connection_and_handshake_per_call() {
        let upstream = TlsFaultUpstream::start(Certificate::Trusted, Fault::KeepAlive(5)).unwrap();
        let config = Config { no_reuse: true, ..upstream.config() };
        let client = ReqwestUpstream::new(&config).unwrap();
        for _ in 0..5 {
            assert_eq!(client.call(upstream.upstream().sleep_url(None)).await, Ok(5));
        }
        assert_eq!(upstream.connections(), 5);
        assert_eq!(upstream.full_handshakes() + upstream.resumed_handshakes(), 5);
    }

    #[tokio::test]
    async fn truncated_body_is_broken() {
        let outcome = call(Fault::ShortBody, 5_000).await;
        assert!(matches!(outcome, Err(UpstreamError::Broken(_))), "{outcome:?}");
    }

    #[tokio::test]
    async fn a_body_at_the_cap_is_counted_and_an_endless_one_is_too_large() {
        assert_eq!(call(Fault::CloseDelimited(MAX_BODY_BYTES), 30_000).await, Ok(MAX_BODY_BYTES));
        assert_eq!(call(Fault::Endless, 30_000).await, Err(UpstreamError::TooLarge));
    }
}
