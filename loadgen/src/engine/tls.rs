//! An `https://` target's TLS: the one client config every connection of a run shares, the
//! server name each sends (SNI), and the verifier of `--insecure`.
//!
//! The config comes from `bench_tls` (the workspace's one crypto provider): exactly the
//! `--cacert` file's anchors, or the system's roots. Only `--insecure` builds its own, on the
//! same provider, with [`AcceptAnyServerCertificate`]. Either way loadgen keeps its sessions
//! in a store of its own ([`Tickets`]): rustls's in-memory store keeps 8 TLS 1.3 tickets per
//! server, and each resumption uses one up, so with more connections than that reconnecting
//! at once most would make a full handshake, where wrk resumes one session per connection.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bench_tls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use bench_tls::rustls::client::{ClientSessionStore, Resumption, Tls12ClientSessionValue, Tls13ClientSessionValue};
use bench_tls::rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use bench_tls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use bench_tls::rustls::{self, ClientConfig, DigitallySignedStruct, NamedGroup, SignatureScheme};
use bench_tls::{ALPN_HTTP1, Resume};

use crate::cli::TlsOpts;

/// What every connection of an `https://` run shares.
#[derive(Debug, Clone)]
pub struct TlsPlan {
    /// The client config, one for the run: its session store is what resumption draws on.
    pub config: Arc<ClientConfig>,
    /// The name sent and verified: the URL's host (an IP literal is an IP address name).
    pub name: ServerName<'static>,
    /// How the server's certificate is checked, for the report.
    pub verify: String,
    /// Whether sessions are resumed.
    pub resumption: bool,
}

impl TlsPlan {
    /// The TLS of a run of `connections` against `host`, from its flags. Fails (a usage
    /// error) when the host is no server name or no trust anchors could be loaded.
    pub fn new(host: &str, opts: &TlsOpts, connections: usize) -> Result<Self, String> {
        let name =
            ServerName::try_from(host.to_owned()).map_err(|e| format!("{host:?} is not a TLS server name ({e})"))?;
        let resume = if opts.no_tls_resumption { Resume::Off } else { Resume::On };
        let (config, verify) = if opts.insecure {
            (insecure_config(resume)?, "none (--insecure)".to_owned())
        } else {
            let config = bench_tls::client_config(opts.cacert.as_ref(), resume).map_err(|e| e.to_string())?;
            let verify = match &opts.cacert {
                Some(ca) => format!("--cacert {}", ca.path().display()),
                None => "system roots".to_owned(),
            };
            (config, verify)
        };
        let config = match resume {
            Resume::On => {
                let mut config = ClientConfig::clone(&config);
                config.resumption = Resumption::store(Arc::new(Tickets::new(connections)));
                Arc::new(config)
            }
            Resume::Off => config,
        };
        Ok(Self { config, name, verify, resumption: resume == Resume::On })
    }
}

/// `--insecure`'s config: bench_tls's in all but the verifier (same provider and ALPN;
/// resumption as asked, its store set by [`TlsPlan::new`]).
fn insecure_config(resume: Resume) -> Result<Arc<ClientConfig>, String> {
    let provider = bench_tls::provider();
    let verifier = Arc::new(AcceptAnyServerCertificate { provider: Arc::clone(&provider) });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS client config: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    if resume == Resume::Off {
        config.resumption = Resumption::disabled();
    }
    Ok(Arc::new(config))
}

/// TLS 1.3 tickets kept per connection: what a rustls server sends after each handshake
/// (its `send_tls13_tickets` default), so that a connection's reconnect finds one.
const TICKETS_PER_CONNECTION: usize = 2;

/// The sessions of a run's one server, for every connection to resume: up to
/// [`TICKETS_PER_CONNECTION`] TLS 1.3 tickets per connection (newest used first, oldest
/// dropped), one TLS 1.2 session, and the key-exchange group the server chose. The server
/// name is not looked at: a run has one.
#[derive(Debug)]
struct Tickets {
    most: usize,
    tls13: Mutex<VecDeque<Tls13ClientSessionValue>>,
    tls12: Mutex<Option<Tls12ClientSessionValue>>,
    kx_hint: Mutex<Option<NamedGroup>>,
}

impl Tickets {
    fn new(connections: usize) -> Self {
        let most = connections.saturating_mul(TICKETS_PER_CONNECTION).max(TICKETS_PER_CONNECTION);
        Self { most, tls13: Mutex::default(), tls12: Mutex::default(), kx_hint: Mutex::default() }
    }
}

/// A lock whose holder panicked still guards a usable store: a ticket is whole or absent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ClientSessionStore for Tickets {
    fn set_kx_hint(&self, _: ServerName<'static>, group: NamedGroup) {
        *lock(&self.kx_hint) = Some(group);
    }

    fn kx_hint(&self, _: &ServerName<'_>) -> Option<NamedGroup> {
        *lock(&self.kx_hint)
    }

    fn set_tls12_session(&self, _: ServerName<'static>, value: Tls12ClientSessionValue) {
        *lock(&self.tls12) = Some(value);
    }

    fn tls12_session(&self, _: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        lock(&self.tls12).clone()
    }

    fn remove_tls12_session(&self, _: &ServerName<'static>) {
        *lock(&self.tls12) = None;
    }

    fn insert_tls13_ticket(&self, _: ServerName<'static>, value: Tls13ClientSessionValue) {
        let mut tickets = lock(&self.tls13);
        if tickets.len() == self.most {
            tickets.pop_front();
        }
        tickets.push_back(value);
    }

    fn take_tls13_ticket(&self, _: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        lock(&self.tls13).pop_back()
    }
}

/// `--insecure`: takes any certificate for any name, unverified, as wrk does; the
/// handshake's signatures must still be well-formed and made by the certificate's key, so
/// the handshake is the same work as a verified one, less the chain's check.
#[derive(Debug)]
pub struct AcceptAnyServerCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ip_literal_host_is_an_ip_address_name_and_a_dns_host_a_dns_name() {
        let opts = TlsOpts { insecure: true, ..TlsOpts::default() };
        for (host, ip) in [("127.0.0.1", true), ("::1", true), ("localhost", false)] {
            let plan = TlsPlan::new(host, &opts, 1).unwrap();
            assert_eq!(matches!(plan.name, ServerName::IpAddress(_)), ip, "{host}");
        }
    }

    #[test]
    fn insecure_keeps_http1_alpn_and_resumes_unless_told_not_to() {
        let on = TlsPlan::new("localhost", &TlsOpts { insecure: true, ..TlsOpts::default() }, 1).unwrap();
        assert_eq!(on.config.alpn_protocols, vec![ALPN_HTTP1.to_vec()]);
        assert!(on.resumption && on.verify.contains("insecure"));
        let off =
            TlsPlan::new("localhost", &TlsOpts { insecure: true, no_tls_resumption: true, ..TlsOpts::default() }, 1)
                .unwrap();
        assert!(!off.resumption);
        assert!(format!("{:?}", off.config.resumption).contains("Disabled"), "{:?}", off.config.resumption);
    }
}
