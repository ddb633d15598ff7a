//! A test's view of a running gosleep (feature `client`): its `/stats`, typed as gosleep
//! serves them, over the test suites' raw HTTP client; and gosleep over HTTPS
//! ([`HttpsGosleep`]: started with a CA of its own, its stats read over TLS) with a TLS
//! client connection ([`TlsConn`]) that says what its handshake negotiated.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use contract::tls::rustls::pki_types::{CertificateDer, ServerName};
use contract::tls::rustls::{ClientConfig, HandshakeKind, ProtocolVersion};
use contract::tls::{self, CaFile, Resume};
use contract::{Running, Upstream};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use testkit::Response;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::{Config, Stats};

/// gosleep's `GET /stats`; panics on failure, as a test helper should. One version for
/// every test suite that counts upstream connections.
pub async fn upstream_stats(gosleep: SocketAddr) -> Stats {
    testkit::get(gosleep, "/stats").await.unwrap_or_else(|e| panic!("GET /stats: {e}")).json()
}

/// gosleep's `POST /stats/reset`; panics unless it answers 200.
pub async fn reset_upstream_stats(gosleep: SocketAddr) {
    let r =
        testkit::request(gosleep, "POST", "/stats/reset").await.unwrap_or_else(|e| panic!("POST /stats/reset: {e}"));
    assert_eq!(r.status, 200, "POST /stats/reset");
}

/// Waits until gosleep reports `n` `/sleep` requests in flight; panics after `within`.
///
/// Tests that act on "a request in flight" (a signal, a dropped client) wait for this
/// instead of giving the request a fixed head start: on a loaded machine a head start is a
/// race, and a request the server has not read yet is not in flight.
pub async fn wait_for_upstream_in_flight(gosleep: SocketAddr, n: u64, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let now = upstream_stats(gosleep).await.in_flight;
        if now == n {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "gosleep: {now} requests in flight after {within:?}, not {n}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A gosleep serving HTTPS with a CA of its own (`--tls-self-signed`), in this process: what
/// a test starts to call an upstream over TLS. The CA file lives in a temp dir as long as
/// this does; give it to a server as `--upstream-ca` ([`HttpsGosleep::ca`]).
pub struct HttpsGosleep {
    // Declared first, so dropped (stopped) before the CA file's directory goes.
    running: Running,
    ca: CaFile,
    _dir: tempfile::TempDir,
}

/// The CA file's name in [`HttpsGosleep`]'s temp dir.
const CA_FILE_NAME: &str = "gosleep-ca.pem";

impl HttpsGosleep {
    /// Starts gosleep with `config` (its `listen`, `delay_ms`, `tls_no_resumption`...) over
    /// HTTPS with a self-signed CA written to a temp file; any TLS flag in `config` is replaced.
    pub fn start(config: Config) -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let ca_path = dir.path().join(CA_FILE_NAME);
        let config = Config { tls_self_signed: Some(ca_path.clone()), tls_cert: None, tls_key: None, ..config };
        let running = crate::start(config)?;
        let ca = CaFile::load(ca_path).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(Self { running, ca, _dir: dir })
    }

    /// The running gosleep.
    pub fn running(&self) -> &Running {
        &self.running
    }

    /// Its bound address.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr()
    }

    /// It as a server's `--upstream`: `https://localhost:PORT` ([`crate::https_upstream`]).
    pub fn upstream(&self) -> Upstream {
        crate::https_upstream(&self.running)
    }

    /// Its CA: a server's `--upstream-ca` (the file: [`CaFile::path`]).
    pub fn ca(&self) -> &CaFile {
        &self.ca
    }

    /// A client config that trusts its CA: the one every Rust server builds.
    pub fn client_config(&self, resume: Resume) -> Arc<ClientConfig> {
        tls::client_config(Some(&self.ca), resume).unwrap_or_else(|e| panic!("client config: {e}"))
    }

    /// Its `GET /stats`, over a connection of its own that makes one full handshake (counted
    /// in the stats it reads, as that connection is in `connections_accepted`).
    pub async fn stats(&self) -> Stats {
        let mut conn = self.stats_conn().await;
        conn.get("/stats").await.unwrap_or_else(|e| panic!("GET /stats over TLS: {e}")).json()
    }

    /// Its `POST /stats/reset`; panics unless it answers 200. The handshake of the
    /// connection that asks is made before the reset, so not counted after it.
    pub async fn reset_stats(&self) {
        let mut conn = self.stats_conn().await;
        let r = conn.request("POST", "/stats/reset").await.unwrap_or_else(|e| panic!("POST /stats/reset: {e}"));
        assert_eq!(r.status, 200, "POST /stats/reset over TLS");
    }

    async fn stats_conn(&self) -> TlsConn {
        TlsConn::open(self.addr(), self.client_config(Resume::Off))
            .await
            .unwrap_or_else(|e| panic!("TLS connection to gosleep: {e}"))
    }
}

/// One TLS connection to gosleep (or any HTTPS server of the workspace), HTTP/1.1 on it:
/// requests sent on it reuse it, and it says what its handshake negotiated.
pub struct TlsConn {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    host: String,
    alpn: Option<Vec<u8>>,
    version: Option<ProtocolVersion>,
    kind: Option<HandshakeKind>,
    leaf: Option<CertificateDer<'static>>,
}

impl TlsConn {
    /// Connects to `addr` and makes the handshake with `config`, checking the certificate
    /// against `localhost` when `addr` is 127.0.0.1 (else its IP).
    pub async fn open(addr: SocketAddr, config: Arc<ClientConfig>) -> io::Result<Self> {
        let host = match addr.ip() {
            IpAddr::V4(Ipv4Addr::LOCALHOST) => "localhost".to_owned(),
            ip => ip.to_string(),
        };
        let name = ServerName::try_from(host.clone()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tcp = tokio::time::timeout(testkit::REQUEST_TIMEOUT, TcpStream::connect(addr)).await??;
        tcp.set_nodelay(true)?;
        let tls =
            tokio::time::timeout(testkit::REQUEST_TIMEOUT, TlsConnector::from(config).connect(name, tcp)).await??;
        let (_, connection) = tls.get_ref();
        let alpn = connection.alpn_protocol().map(<[u8]>::to_vec);
        let (version, kind) = (connection.protocol_version(), connection.handshake_kind());
        let leaf = connection.peer_certificates().and_then(|chain| chain.first()).map(|c| c.clone().into_owned());
        let (sender, http) =
            hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(io::Error::other)?;
        // Ends when `sender` is dropped (or the server closes).
        tokio::spawn(http);
        Ok(Self { sender, host, alpn, version, kind, leaf })
    }

    /// The ALPN protocol the handshake agreed on.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }

    /// The TLS version the handshake agreed on.
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.version
    }

    /// Whether the handshake was full or resumed a session, as the client saw it.
    pub fn handshake_kind(&self) -> Option<HandshakeKind> {
        self.kind
    }

    /// The certificate the server presented (its leaf).
    pub fn peer_certificate(&self) -> Option<&CertificateDer<'static>> {
        self.leaf.as_ref()
    }

    /// Sends `METHOD target` (no body) and reads the whole answer.
    pub async fn request(&mut self, method: &str, target: &str) -> io::Result<Response> {
        let request = hyper::Request::builder()
            .method(method)
            .uri(target)
            .header(hyper::header::HOST, self.host.as_str())
            .body(Empty::new())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let exchange = async {
            let response = self.sender.send_request(request).await.map_err(io::Error::other)?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            let body = response.into_body().collect().await.map_err(io::Error::other)?.to_bytes().to_vec();
            Ok(Response { status, headers, body })
        };
        tokio::time::timeout(testkit::REQUEST_TIMEOUT, exchange).await?
    }

    /// `GET target`.
    pub async fn get(&mut self, target: &str) -> io::Result<Response> {
        self.request("GET", target).await
    }
}
