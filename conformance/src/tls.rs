//! The HTTPS-upstream cases (issue 28): each server against the TLS fault upstream
//! ([`contract::fault::TlsFaultUpstream`]), one function per contract line. The
//! server trusts exactly the upstream's CA (`--upstream-ca`, a file the upstream owns), so
//! each certificate fault is the server's verification at work, and every failure must be
//! a 502 that says it was TLS, with the server serving on.

use std::time::{Duration, Instant};

use contract::fault::{Certificate, Fault, TlsFaultUpstream};
use contract::{Config, Running};

use crate::Subject;
use crate::support::{self, assert_error, assert_reply, block_on, get};

/// The body of every good upstream call here.
const BYTES: u64 = 64;

/// The fan-out of the `/multiple` requests here.
const FANOUT: u64 = 4;

/// `/multiple` requests the connection-counting cases make, one after another.
const ROUNDS: u64 = 10;

fn tls_upstream(certificate: Certificate, fault: Fault) -> TlsFaultUpstream {
    TlsFaultUpstream::start(certificate, fault).expect("TLS fault upstream starts")
}

fn server(subject: &Subject, config: Config) -> Running {
    support::server(subject, config)
}

/// `/single` and `/multiple` answer 502 with an error that names TLS or the certificate
/// (every client's words differ; each says one of these), and the server serves on.
fn assert_tls_failure(subject: &Subject, config: Config, what: &str) {
    let s = server(subject, config);
    block_on(async {
        for target in ["/single?ms=0".to_owned(), format!("/multiple?n={FANOUT}&ms=0")] {
            let error = assert_error(subject, &get(s.addr(), &target).await, 502, &format!("{what}: {target}"));
            let lower = error.to_ascii_lowercase();
            assert!(
                lower.contains("tls") || lower.contains("certificate"),
                "{}: {what}: the error does not name the TLS failure: {error}",
                subject.name
            );
        }
        assert_eq!(get(s.addr(), "/health").await.status, 200, "{}: down after {what}", subject.name);
    });
}

/// Over https to a trusted upstream, `/single` and `/multiple` answer 200 with the
/// upstream's bytes, with connections reused and with `--no-reuse`.
pub fn https_calls_answer_200_with_their_bytes_with_and_without_reuse(subject: &Subject) {
    for no_reuse in [false, true] {
        let upstream = tls_upstream(Certificate::Trusted, Fault::KeepAlive(BYTES));
        let s = server(subject, Config { no_reuse, ..upstream.config() });
        let what = if no_reuse { "https, --no-reuse" } else { "https" };
        block_on(async {
            assert_reply(subject, &get(s.addr(), "/single?ms=0").await, 1, BYTES, what);
            let multiple = get(s.addr(), &format!("/multiple?n={FANOUT}&ms=0")).await;
            assert_reply(subject, &multiple, FANOUT as usize, FANOUT * BYTES, what);
            assert_eq!(get(s.addr(), "/health").await.status, 200, "{}: {what}", subject.name);
        });
        assert_eq!(upstream.requests(), 1 + FANOUT, "{}: {what}: calls the upstream saw", subject.name);
    }
}

/// A body cut short over https (fewer bytes than its Content-Length, a chunked body
/// without its last chunk, a reset), each after a TLS close_notify or a reset rather than
/// a bare TCP close: 502, never a 200 with a wrong count.
pub fn a_body_cut_short_over_https_is_502(subject: &Subject) {
    for fault in [Fault::ShortBody, Fault::ChunkedWithoutLastChunk, Fault::ResetMidBody] {
        let upstream = tls_upstream(Certificate::Trusted, fault);
        let s = server(subject, upstream.config());
        let what = format!("{fault:?} over https");
        block_on(async {
            assert_error(subject, &get(s.addr(), "/single?ms=0").await, 502, &what);
            assert_eq!(get(s.addr(), "/health").await.status, 200, "{}: down after {what}", subject.name);
        });
    }
}

pub fn an_untrusted_ca_is_502_naming_the_tls_failure(subject: &Subject) {
    let upstream = tls_upstream(Certificate::UntrustedCa, Fault::Ok(BYTES));
    assert_tls_failure(subject, upstream.config(), "a certificate from an untrusted CA");
    assert_eq!(upstream.requests(), 0, "{}: a request went to an untrusted upstream", subject.name);
}

pub fn a_wrong_host_name_is_502_naming_the_tls_failure(subject: &Subject) {
    let upstream = tls_upstream(Certificate::WrongHost, Fault::Ok(BYTES));
    assert_tls_failure(subject, upstream.config(), "a certificate for another host name");
    assert_eq!(upstream.requests(), 0, "{}: a request went to the wrong host", subject.name);
}

pub fn an_expired_certificate_is_502_naming_the_tls_failure(subject: &Subject) {
    let upstream = tls_upstream(Certificate::Expired, Fault::Ok(BYTES));
    assert_tls_failure(subject, upstream.config(), "an expired certificate");
    assert_eq!(upstream.requests(), 0, "{}: a request went to an expired upstream", subject.name);
}

/// An https:// upstream that answers in plain HTTP: the handshake fails on its answer.
pub fn plain_http_on_an_https_upstream_is_502_naming_the_tls_failure(subject: &Subject) {
    let upstream = TlsFaultUpstream::plaintext(Fault::Ok(BYTES)).expect("plain upstream starts");
    assert_tls_failure(subject, upstream.config(), "plain HTTP on an https:// upstream");
}

/// Accepted, never answered: the handshake waits, and the upstream timeout's 504 ends it.
pub fn a_tls_upstream_that_never_answers_the_hello_is_504_after_the_upstream_timeout(subject: &Subject) {
    let upstream = TlsFaultUpstream::silent().expect("silent upstream starts");
    let s = server(subject, Config { upstream_timeout_ms: 300, ..upstream.config() });
    block_on(async {
        let t = Instant::now();
        assert_error(subject, &get(s.addr(), "/single?ms=0").await, 504, "an unanswered ClientHello");
        let multiple = get(s.addr(), &format!("/multiple?n={FANOUT}&ms=0")).await;
        assert_error(subject, &multiple, 504, "unanswered ClientHellos");
        let took = t.elapsed();
        assert!(took < Duration::from_secs(10), "{}: two 300 ms timeouts took {took:?}", subject.name);
        assert_eq!(get(s.addr(), "/health").await.status, 200, "{}: down after a silent upstream", subject.name);
    });
}

/// A TLS upstream called as http://: it answers the request with TLS, which is no HTTP.
pub fn a_tls_upstream_on_an_http_url_is_502(subject: &Subject) {
    let upstream = tls_upstream(Certificate::Trusted, Fault::Ok(BYTES));
    let s = server(subject, Config::for_upstream(upstream.upstream_as_http()));
    block_on(async {
        assert_error(subject, &get(s.addr(), "/single?ms=0").await, 502, "TLS on an http:// upstream");
        let multiple = get(s.addr(), &format!("/multiple?n={FANOUT}&ms=0")).await;
        assert_error(subject, &multiple, 502, "TLS on an http:// upstream");
        assert_eq!(get(s.addr(), "/health").await.status, 200, "{}: down after TLS on http://", subject.name);
    });
}

/// Runs the binary with `args` (after a listen address), which must exit 2 before serving,
/// saying each of `named` on stderr (case-insensitive).
fn assert_bad_flags_exit_2(subject: &Subject, args: &[&str], named: &[&str]) {
    let mut all = vec!["--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let out = testkit::run_to_exit(subject.binary, &all).unwrap_or_else(|e| panic!("{}: {e}", subject.name));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{}: {args:?} exited {}; stderr: {stderr}", subject.name, out.status);
    assert!(!stdout.contains("listening"), "{}: {args:?} started serving: {stdout}", subject.name);
    for name in named {
        assert!(
            stderr.to_ascii_lowercase().contains(&name.to_ascii_lowercase()),
            "{}: {args:?}: stderr does not name {name:?}: {stderr}",
            subject.name
        );
    }
}

pub fn a_missing_upstream_ca_file_exits_2_naming_it(subject: &Subject) {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-ca.pem");
    let missing = missing.to_str().expect("UTF-8 temp path");
    assert_bad_flags_exit_2(subject, &["--upstream", "https://127.0.0.1:9", "--upstream-ca", missing], &[missing]);
}

pub fn an_upstream_ca_file_without_a_certificate_exits_2_naming_it(subject: &Subject) {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty-ca.pem");
    std::fs::write(&empty, "no PEM here\n").expect("write the CA file");
    let empty = empty.to_str().expect("UTF-8 temp path");
    let args = ["--upstream", "https://127.0.0.1:9", "--upstream-ca", empty];
    assert_bad_flags_exit_2(subject, &args, &[empty, "certificate"]);
}

pub fn an_upstream_ca_with_an_http_upstream_exits_2_naming_both(subject: &Subject) {
    // A CA file that is itself good: only its pairing with http:// is wrong.
    let upstream = tls_upstream(Certificate::Trusted, Fault::Ok(BYTES));
    let ca = upstream.ca_file().to_str().expect("UTF-8 temp path");
    let http = upstream.upstream_as_http();
    assert_bad_flags_exit_2(subject, &["--upstream", http.base(), "--upstream-ca", ca], &["--upstream-ca", "http://"]);
}

/// With reuse, `ROUNDS` x `/multiple?n=FANOUT` over https open no more connections (each a
/// TLS handshake) than a couple of rounds' worth: far fewer than the calls.
pub fn reuse_over_https_keeps_tls_connections_few(subject: &Subject) {
    let upstream = tls_upstream(Certificate::Trusted, Fault::KeepAlive(BYTES));
    let s = server(subject, upstream.config());
    let calls = ROUNDS * FANOUT;
    block_on(async {
        for _ in 0..ROUNDS {
            let r = get(s.addr(), &format!("/multiple?n={FANOUT}&ms=0")).await;
            assert_reply(subject, &r, FANOUT as usize, FANOUT * BYTES, "https with reuse");
        }
    });
    let (connections, handshakes) =
        (upstream.connections(), upstream.full_handshakes() + upstream.resumed_handshakes());
    assert_eq!(upstream.requests(), calls, "{}: calls the upstream saw", subject.name);
    assert!(connections <= 2 * FANOUT, "{}: {connections} TLS connections for {calls} calls", subject.name);
    assert_eq!(handshakes, connections, "{}: handshakes and connections differ", subject.name);
}

/// With `--no-reuse`, every call over https is a connection and a handshake of its own.
/// Whether a handshake resumes the session of an earlier one is the client's; it is
/// printed, not asserted.
pub fn no_reuse_over_https_opens_one_tls_connection_per_call(subject: &Subject) {
    let upstream = tls_upstream(Certificate::Trusted, Fault::KeepAlive(BYTES));
    let s = server(subject, Config { no_reuse: true, ..upstream.config() });
    let calls = ROUNDS * FANOUT;
    block_on(async {
        for _ in 0..ROUNDS {
            let r = get(s.addr(), &format!("/multiple?n={FANOUT}&ms=0")).await;
            assert_reply(subject, &r, FANOUT as usize, FANOUT * BYTES, "https with --no-reuse");
        }
    });
    let (full, resumed) = (upstream.full_handshakes(), upstream.resumed_handshakes());
    assert_eq!(upstream.connections(), calls, "{}: TLS connections for {calls} calls", subject.name);
    assert_eq!(full + resumed, calls, "{}: handshakes for {calls} calls", subject.name);
    crate::say(&format!("{}: --no-reuse over https: {calls} handshakes, {full} full, {resumed} resumed", subject.name));
}

/// With `--no-tls-resumption` (and `--no-reuse`, so that there are handshakes to resume),
/// every handshake is a full one.
pub fn no_tls_resumption_makes_every_handshake_full(subject: &Subject) {
    let upstream = tls_upstream(Certificate::Trusted, Fault::KeepAlive(BYTES));
    let s = server(subject, Config { no_reuse: true, no_tls_resumption: true, ..upstream.config() });
    let calls = ROUNDS * FANOUT;
    block_on(async {
        for _ in 0..ROUNDS {
            let r = get(s.addr(), &format!("/multiple?n={FANOUT}&ms=0")).await;
            assert_reply(subject, &r, FANOUT as usize, FANOUT * BYTES, "https, --no-tls-resumption");
        }
    });
    assert_eq!(upstream.resumed_handshakes(), 0, "{}: sessions resumed", subject.name);
    assert_eq!(upstream.full_handshakes(), calls, "{}: full handshakes for {calls} calls", subject.name);
}

/// The same against gosleep over HTTPS (`https://localhost:PORT`: a host name, so SNI and
/// name checks too), counted by its `/stats`: with `--no-reuse --no-tls-resumption`, every
/// call is one full handshake and none resumes.
pub fn gosleep_over_https_counts_only_full_handshakes_with_no_tls_resumption(subject: &Subject) {
    let g = gosleep::client::HttpsGosleep::start(gosleep::Config { delay_ms: 0, ..gosleep::Config::default() })
        .expect("gosleep over HTTPS starts");
    let config = Config {
        no_reuse: true,
        no_tls_resumption: true,
        upstream_ca: Some(g.ca().clone()),
        ..Config::for_upstream(g.upstream())
    };
    let s = server(subject, config);
    let calls = ROUNDS * FANOUT;
    block_on(async {
        g.reset_stats().await;
        for _ in 0..ROUNDS {
            let r = get(s.addr(), &format!("/multiple?n={FANOUT}&ms=0")).await;
            assert_eq!(r.status, 200, "{}: gosleep over https: {}", subject.name, r.text());
        }
        let st = g.stats().await;
        assert_eq!(st.requests, calls, "{}: calls gosleep saw", subject.name);
        assert_eq!(st.tls_handshakes_resumed, 0, "{}: sessions resumed", subject.name);
        // And the handshake of the connection that read these stats.
        assert_eq!(st.tls_handshakes_full, calls + 1, "{}: full handshakes for {calls} calls", subject.name);
    });
}
