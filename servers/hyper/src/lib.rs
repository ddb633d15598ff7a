//! server-hyper: the contract on bare hyper 1, with the hyper-util legacy client.
//!
//! The floor under every framework: no router, no middleware, no extractors; just the
//! shared accept loop (`contract::hyper_serve`), a `match` on the path, and a pooled
//! hyper client. Whatever axum, actix-web or warp cost on top shows against this one.
//!
//! Run with: `cargo run -p server-hyper` (127.0.0.1:8080, upstream gosleep on 127.0.0.1:8090)

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use contract::proxy::{self, Endpoint};
use contract::upstream::BodyCount;
use contract::{Answer, Config, Running, Upstream, UpstreamError, hyper_serve, running, tls};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body as _, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::{self, Client};
use hyper_util::rt::TokioExecutor;

/// What this server is, in the line its `--help` opens with (after `server-hyper: `).
pub const ABOUT: &str = "the benchmark's /single and /multiple proxy on bare hyper 1, hyper-util's client upstream (async: a task per request on --threads tokio workers)";

/// The `Server:` header of every response.
pub const SERVER_HEADER: &str = "hyper";

struct App {
    client: UpstreamClient,
    upstream: Upstream,
    fanout: usize,
    timeout: Duration,
}

/// The pooled client of an http:// upstream, or of an https:// one: two types, so that the
/// plain path stays the bare `HttpConnector` it was before TLS came.
enum UpstreamClient {
    Http(Client<HttpConnector, Empty<Bytes>>),
    Https(Client<HttpsConnector<HttpConnector>, Empty<Bytes>>),
}

impl App {
    fn new(config: &Config) -> io::Result<Self> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let mut builder = Client::builder(TokioExecutor::new());
        // Reuse: the pool keeps every idle keep-alive connection (no per-host cap, and the
        // client never limits connections in flight), so /multiple at C connections can
        // hold C x fanout upstream connections. No reuse: zero idle slots switch the pool
        // off altogether (hyper-util: enabled only while max_idle_per_host > 0), so each
        // call connects, and drops (closes) its connection once the body is read; the
        // same knob reqwest's servers use, so the no-reuse tables compare like with like.
        builder.pool_max_idle_per_host(if config.no_reuse { 0 } else { usize::MAX });
        let client = match config.upstream_tls().map_err(io::Error::other)? {
            Some(tls) => {
                // The TCP connector hands https:// URIs on to the TLS step.
                connector.enforce_http(false);
                // THE config as it is (the same Arc: ALPN http/1.1, one session store).
                // hyper-rustls's builder would refuse a config with ALPN set, to set its
                // own; this constructor takes it unchanged, http:// URIs still allowed.
                UpstreamClient::Https(builder.build(HttpsConnector::from((connector, tls))))
            }
            None => UpstreamClient::Http(builder.build(connector)),
        };
        Ok(Self {
            client,
            upstream: config.upstream.clone(),
            fanout: config.fanout,
            timeout: config.upstream_timeout(),
        })
    }

    /// One upstream call: GET, 2xx, whole body read (counted frame by frame, never held,
    /// up to the contract's cap); the timeout covers all of it.
    async fn call(&self, url: String) -> Result<u64, UpstreamError> {
        let uri: Uri = url.parse().map_err(|e| UpstreamError::Connect(format!("bad upstream URL {url}: {e}")))?;
        let request = Request::get(uri).body(Empty::new()).map_err(|e| UpstreamError::Connect(e.to_string()))?;
        let exchange = async {
            let response = match &self.client {
                UpstreamClient::Http(client) => send(client, request).await?,
                UpstreamClient::Https(client) => send(client, request).await?,
            };
            if !response.status().is_success() {
                return Err(UpstreamError::Status(response.status().as_u16()));
            }
            let mut body = response.into_body();
            let mut count = BodyCount::new(body.size_hint().exact())?;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| UpstreamError::Broken(e.to_string()))?;
                count.add(frame.data_ref().map_or(0, Bytes::len))?;
            }
            count.finish()
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(UpstreamError::Timeout(self.timeout.as_millis() as u64)))
    }
}

/// Sends `request` and waits for the response head.
async fn send<C>(
    client: &Client<C, Empty<Bytes>>,
    request: Request<Empty<Bytes>>,
) -> Result<Response<Incoming>, UpstreamError>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    client.request(request).await.map_err(|e| client_error(&e))
}

/// The one mapping of the client's failures: a rustls error anywhere in the chain is a
/// TLS failure (hyper-rustls reports it inside the connect's io::Error), then connect
/// failures, then the rest.
fn client_error(e: &legacy::Error) -> UpstreamError {
    if let Some(reason) = tls::failure_in(e) {
        UpstreamError::Tls(reason)
    } else if e.is_connect() {
        UpstreamError::Connect(e.to_string())
    } else {
        UpstreamError::Broken(e.to_string())
    }
}

async fn handle(app: Arc<App>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let query = req.uri().query();
    let outcome = match proxy::route(req.method().as_str(), req.uri().path()) {
        Ok(Endpoint::Health) => return Ok(respond(Answer::health())),
        Ok(Endpoint::Single) => proxy::single(query, &app.upstream, |url| app.call(url)).await,
        Ok(Endpoint::Multiple) => proxy::multiple(query, app.fanout, &app.upstream, |url| app.call(url)).await,
        Err(e) => Err(e),
    };
    Ok(respond(outcome))
}

/// The one place an answer becomes a hyper response (Content-Length comes from the full
/// body, Date from hyper, refreshed every second).
fn respond(answer: impl Into<Answer>) -> Response<Full<Bytes>> {
    let answer = answer.into();
    let mut response = Response::new(Full::new(answer.body.into()));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(answer.content_type));
    headers.insert(header::SERVER, HeaderValue::from_static(SERVER_HEADER));
    if let Some(allow) = answer.allow {
        headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    response
}

/// Starts the server on `config.listen` (port 0: ephemeral) with `--threads` tokio workers.
pub fn start(config: Config) -> io::Result<Running> {
    let threads = config.threads_or_cpus();
    running::spawn_tokio("server-hyper", config.listen, threads, move |listener, shutdown| async move {
        let app = Arc::new(App::new(&config)?);
        let make_service = || {
            let app = Arc::clone(&app);
            hyper::service::service_fn(move |req| handle(Arc::clone(&app), req))
        };
        hyper_serve::Http1::new("server-hyper", SERVER_HEADER, running::DRAIN_LIMIT)
            .serve(listener, make_service, shutdown)
            .await
    })
}

#[cfg(test)]
mod tests {
    use contract::fault::{Certificate, Fault, TlsFaultUpstream};

    use super::*;

    async fn call(certificate: Certificate) -> Result<u64, UpstreamError> {
        let upstream = TlsFaultUpstream::start(certificate, Fault::Ok(5)).unwrap();
        let app = App::new(&upstream.config()).unwrap();
        app.call(upstream.upstream().sleep_url(None)).await
    }

    #[tokio::test]
    async fn an_https_call_returns_the_body_length() {
        assert_eq!(call(Certificate::Trusted).await, Ok(5));
    }

    #[tokio::test]
    async fn an_untrusted_ca_is_a_tls_failure() {
        let outcome = call(Certificate::UntrustedCa).await;
        assert!(matches!(&outcome, Err(UpstreamError::Tls(m)) if m.contains("UnknownIssuer")), "{outcome:?}");
    }
}
