//! gosleep over HTTPS on 127.0.0.1, ephemeral ports only: one test per line of its TLS
//! contract (docs/contract.md, "Running gosleep by hand"; issue 28).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use contract::tls::rustls::{self, ClientConfig, HandshakeKind, ProtocolVersion, RootCertStore};
use contract::tls::{self, ALPN_HTTP1, Authority, LOCAL_NAMES, Resume};
use gosleep::Config;
use gosleep::client::{HttpsGosleep, TlsConn};
use testkit::{Child, Conn};

fn start(config: Config) -> HttpsGosleep {
    HttpsGosleep::start(Config { delay_ms: 0, ..config }).expect("gosleep starts over HTTPS")
}

async fn open(g: &HttpsGosleep, config: Arc<ClientConfig>) -> TlsConn {
    TlsConn::open(g.addr(), config).await.expect("TLS connection")
}

/// A client config trusting `g`'s CA that offers only `version`.
fn only(g: &HttpsGosleep, version: &'static rustls::SupportedProtocolVersion) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for certificate in g.ca().certificates() {
        roots.add(certificate.clone()).expect("trust anchor");
    }
    let mut config = ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(&[version])
        .expect("version")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Arc::new(config)
}

#[tokio::test]
async fn https_with_the_self_signed_ca_serves_sleep() {
    let g = start(Config { body_bytes: 10, ..Config::default() });
    assert_eq!(g.upstream().base(), format!("https://localhost:{}", g.addr().port()));
    let mut conn = open(&g, g.client_config(Resume::On)).await;
    let r = conn.get("/sleep?ms=50").await.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"zzzzzzzzzz"[..]));
    assert_eq!(r.header("server"), Some("gosleep"));
    // Keep-alive over TLS: a second request on the same connection.
    assert_eq!(conn.get("/health").await.unwrap().status, 200);
    let s = g.stats().await;
    assert_eq!((s.requests, s.tls_failures), (1, 0), "{s:?}");
}

#[tokio::test]
async fn tls_1_2_and_tls_1_3_both_work() {
    let g = start(Config::default());
    for (version, name) in
        [(&rustls::version::TLS12, ProtocolVersion::TLSv1_2), (&rustls::version::TLS13, ProtocolVersion::TLSv1_3)]
    {
        let mut conn = open(&g, only(&g, version)).await;
        assert_eq!(conn.version(), Some(name));
        assert_eq!(conn.get("/sleep?ms=0").await.unwrap().status, 200, "{name:?}");
    }
}

#[tokio::test]
async fn alpn_negotiates_http_1_1() {
    let g = start(Config::default());
    let conn = open(&g, g.client_config(Resume::On)).await;
    assert_eq!(conn.alpn(), Some(ALPN_HTTP1));
}

/// Two connections made one after the other with one client config, after a reset:
/// returns the second's handshake kind as the client saw it, and the stats' (full,
/// resumed) handshakes less the stats read's own full one.
async fn two_connections(g: &HttpsGosleep, config: Arc<ClientConfig>) -> (Option<HandshakeKind>, (u64, u64)) {
    g.reset_stats().await;
    let mut first = open(g, Arc::clone(&config)).await;
    // A whole exchange, so the client has read the session tickets sent after the handshake.
    assert_eq!(first.get("/health").await.expect("first GET").status, 200);
    drop(first);
    let mut second = open(g, config).await;
    assert_eq!(second.get("/health").await.expect("second GET").status, 200);
    let s = g.stats().await;
    (second.handshake_kind(), (s.tls_handshakes_full - 1, s.tls_handshakes_resumed))
}

#[tokio::test]
async fn a_resuming_client_resumes_its_second_connection_over_tls_1_3_and_1_2() {
    let g = start(Config::default());
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let (kind, counted) = two_connections(&g, only(&g, version)).await;
        assert_eq!((kind, counted), (Some(HandshakeKind::Resumed), (1, 1)), "{version:?}");
    }
    let (kind, counted) = two_connections(&g, g.client_config(Resume::On)).await;
    assert_eq!((kind, counted), (Some(HandshakeKind::Resumed), (1, 1)), "bench_tls::client_config");
}

#[tokio::test]
async fn with_tls_no_resumption_every_handshake_is_full() {
    let g = start(Config { tls_no_resumption: true, ..Config::default() });
    for config in [g.client_config(Resume::On), only(&g, &rustls::version::TLS12)] {
        let (kind, counted) = two_connections(&g, config).await;
        assert_eq!((kind, counted), (Some(HandshakeKind::Full), (2, 0)));
    }
}

#[tokio::test]
async fn a_plaintext_request_on_the_tls_port_counts_a_failure_and_gosleep_keeps_serving() {
    let g = start(Config::default());
    g.reset_stats().await;
    let mut plain = Conn::open(g.addr()).await.unwrap();
    plain.send_raw(b"GET /sleep HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    // Not an HTTP answer: at most a TLS alert, then the connection closes.
    assert!(plain.read_response().await.is_err(), "a plaintext request was answered in HTTP");
    assert!(plain.closed_by_peer(Duration::from_secs(10)).await, "the plaintext connection stayed open");
    let mut conn = open(&g, g.client_config(Resume::On)).await;
    assert_eq!(conn.get("/sleep?ms=0").await.unwrap().status, 200);
    let s = g.stats().await;
    assert_eq!((s.tls_failures, s.requests), (1, 1), "{s:?}");
}

/// The certificate files of a fresh CA's leaf for the local names, in `dir`: (CA, cert
/// chain, key) paths, and the leaf's DER.
fn leaf_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf, Vec<u8>) {
    let ca = Authority::new("test CA").expect("CA");
    let leaf = ca.leaf(&LOCAL_NAMES).expect("leaf");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write a PEM file");
        path
    };
    let chain = format!("{}{}", leaf.cert_pem, ca.pem());
    (write("ca.pem", ca.pem()), write("cert.pem", &chain), write("key.pem", &leaf.key_pem), leaf.chain[0].to_vec())
}

#[tokio::test]
async fn tls_cert_and_tls_key_serve_that_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key, leaf) = leaf_files(dir.path());
    let config = Config { delay_ms: 0, tls_cert: Some(cert), tls_key: Some(key), ..Config::default() };
    let g = gosleep::start(config).expect("gosleep starts with --tls-cert/--tls-key");
    let client = tls::client_config(Some(&tls::CaFile::load(ca).unwrap()), Resume::On).unwrap();
    let mut conn = TlsConn::open(g.addr(), client).await.unwrap();
    assert_eq!(conn.peer_certificate().map(|c| c.to_vec()), Some(leaf));
    assert_eq!(conn.get("/sleep?ms=0").await.unwrap().status, 200);
}

const BIN: &str = env!("CARGO_BIN_EXE_gosleep");

/// Runs the binary to its exit; returns its status code and stderr.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = testkit::run_to_exit(BIN, args).expect("gosleep runs to its exit");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_tls_files_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key, _) = leaf_files(dir.path());
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let (_, _, other_key, _) = leaf_files(&other);
    let missing = dir.path().join("missing.pem");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let listen = ["--listen", "127.0.0.1:0"];
    for (cert, key, named, says) in [
        (s(&missing), s(&key), s(&missing), "cannot read it"),
        (s(&cert), s(&missing), s(&missing), "cannot read it"),
        (s(&empty), s(&key), s(&empty), "no certificate"),
        // A key file holding only a certificate.
        (s(&cert), s(&ca), s(&ca), "no private key"),
        (s(&cert), s(&other_key), s(&other_key), "does not fit the certificate"),
    ] {
        let (code, stderr) = run(&[&listen[..], &["--tls-cert", &cert, "--tls-key", &key]].concat());
        assert_eq!(code, Some(2), "--tls-cert {cert} --tls-key {key}: {stderr}");
        assert!(stderr.contains(&named) && stderr.contains(says), "{named}, {says}: {stderr}");
    }
    let (code, stderr) = run(&["--listen", "127.0.0.1:0", "--tls-cert", &s(&cert)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--tls-key"), "{stderr}");
    let (code, stderr) = run(&["--listen", "127.0.0.1:0", "--tls-self-signed", &s(&missing), "--tls-cert", &s(&cert)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!missing.exists(), "a refused --tls-self-signed wrote its CA file");
}

#[test]
fn help_documents_the_tls_flags() {
    let out = std::process::Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--tls-cert <FILE>", "--tls-key <FILE>", "--tls-self-signed <CA_FILE>", "--tls-no-resumption"] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
}

/// The binary with `--tls-self-signed` writes its CA before it serves, and a client that
/// trusts exactly that CA gets answers.
#[tokio::test]
async fn the_binary_writes_its_self_signed_ca_then_serves_https() {
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    let mut child =
        Child::spawn(BIN, &["--listen", "127.0.0.1:0", "--tls-self-signed", ca_path.to_str().unwrap()]).unwrap();
    assert!(child.announced_https(), "its start-up line must say https://");
    let client = tls::client_config(Some(&tls::CaFile::load(&ca_path).unwrap()), Resume::On).unwrap();
    let mut conn = TlsConn::open(child.addr(), client).await.unwrap();
    assert_eq!(conn.get("/health").await.unwrap().status, 200);
    drop(conn);
    child.signal("TERM").unwrap();
    let status =
        tokio::task::spawn_blocking(move || child.wait_timeout(Duration::from_secs(10))).await.unwrap().unwrap();
    assert_eq!(status.map(|s| s.code()), Some(Some(0)));
}
