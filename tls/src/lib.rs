//! bench-tls: TLS, once for the workspace: the crypto provider, the client config every
//! server's upstream client is handed, gosleep's server config, PEM files, certificates made
//! in-process, and how a TLS failure is named in a 502. Knows no HTTP beyond the ALPN name.
//!
//! Every Rust binary here speaks TLS through rustls with one provider, [`provider`]; no
//! client builds a rustls config of its own, so the servers differ in how they spend a
//! handshake, not in which handshake they make. docs/benchmarks/tls.md says why ring.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{NoServerSessionStorage, ServerSessionMemoryCache};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use thiserror::Error;

pub use rustls;

/// The TLS stack of every Rust binary, as results.md names it.
pub const STACK: &str = "rustls 0.23, ring provider (X25519 first)";

/// The one ALPN protocol spoken: HTTP/1.1, as every client and server of the benchmark.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The key exchange groups offered and accepted, in order: X25519 first, as OpenSSL, Go and
/// browsers offer it (before post-quantum hybrids). rustls 0.23.48's ring list puts
/// secp384r1 first, which made every handshake here 3.7-4.2x dearer on the client than the
/// one a third-party API would negotiate (docs/benchmarks/tls.md).
pub const KX_GROUPS: &[&dyn rustls::crypto::SupportedKxGroup] = &[
    rustls::crypto::ring::kx_group::X25519,
    rustls::crypto::ring::kx_group::SECP256R1,
    rustls::crypto::ring::kx_group::SECP384R1,
];

/// The crypto provider of every TLS config in the workspace: ring, with [`KX_GROUPS`].
///
/// rustls 0.23.48 deprecates ring's provider for having no post-quantum key exchange; it
/// stays the choice here on measured handshake CPU and build time (docs/benchmarks/tls.md).
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider { kx_groups: KX_GROUPS.to_vec(), ..rustls::crypto::ring::default_provider() })
}

/// Why TLS material could not be loaded or a config built. Every one of these is a bad
/// flag: the binaries print it and exit 2 before anything starts.
#[derive(Debug, Error)]
pub enum TlsError {
    /// The file is missing or unreadable.
    #[error("{}: cannot read it: {source}", path.display())]
    Unreadable {
        /// The file named.
        path: PathBuf,
        /// Why it could not be read.
        source: io::Error,
    },
    /// The file is not PEM, or a PEM section in it is malformed.
    #[error("{}: not a valid PEM file: {detail}", path.display())]
    BadPem {
        /// The file named.
        path: PathBuf,
        /// What the PEM reader said.
        detail: String,
    },
    /// A certificate or CA file with no `CERTIFICATE` section.
    #[error("{}: no certificate in it (expected a PEM 'BEGIN CERTIFICATE' section)", path.display())]
    NoCertificate {
        /// The file named.
        path: PathBuf,
    },
    /// A key file with no private key.
    #[error("{}: no private key in it (expected a PEM 'BEGIN ... PRIVATE KEY' section)", path.display())]
    NoKey {
        /// The file named.
        path: PathBuf,
    },
    /// rustls refused the material (a key that does not match its certificate, say).
    #[error("{what}: {source}")]
    Refused {
        /// What was being built, naming the files.
        what: String,
        /// rustls's reason.
        source: rustls::Error,
    },
    /// No `--upstream-ca` and the system has no trust anchors rustls can read.
    #[error("no system trust anchors could be loaded ({0}); give --upstream-ca FILE")]
    NoSystemRoots(String),
    /// Making a certificate in-process failed.
    #[error("making a certificate failed: {0}")]
    Generate(String),
}

fn unreadable(path: &Path, source: io::Error) -> TlsError {
    TlsError::Unreadable { path: path.to_owned(), source }
}

/// Every certificate of a PEM file, in order (a chain: the leaf first).
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    // Read first, so a missing file is "cannot read", not a PEM error.
    let pem = std::fs::read(path).map_err(|e| unreadable(path, e))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem { path: path.to_owned(), detail: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: path.to_owned() });
    }
    Ok(certs)
}

/// The first private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = std::fs::read(path).map_err(|e| unreadable(path, e))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey { path: path.to_owned() },
        e => TlsError::BadPem { path: path.to_owned(), detail: e.to_string() },
    })
}

/// The trust anchors of `--upstream-ca`: a PEM file's certificates, read and checked when
/// the flag is parsed (clap's value parser), so a bad file is a bad flag.
#[derive(Clone)]
pub struct CaFile {
    path: PathBuf,
    certificates: Arc<Vec<CertificateDer<'static>>>,
}

impl CaFile {
    /// Reads `path`; it must hold at least one certificate.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, TlsError> {
        let path = path.into();
        let certificates = Arc::new(load_certificates(&path)?);
        Ok(Self { path, certificates })
    }

    /// clap's value parser of `--upstream-ca`.
    pub fn parse_arg(s: &str) -> Result<Self, TlsError> {
        Self::load(s)
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its certificates, each a trust anchor.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }
}

/// Two CA files are the same flag when they name the same file.
impl PartialEq for CaFile {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl Eq for CaFile {}

impl fmt::Debug for CaFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaFile").field("path", &self.path).field("certificates", &self.certificates.len()).finish()
    }
}

/// Session resumption on the client side: on (rustls's in-memory store, sized for a
/// benchmark's thousands of connections to one upstream) or off (every handshake full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Resume sessions the upstream offers (the default of every Rust client).
    On,
    /// Never resume: `--no-tls-resumption`.
    Off,
}

/// The client config of every Rust server's upstream client: verification always on,
/// against exactly `ca`'s certificates, or the system's roots without it; ALPN `http/1.1`.
pub fn client_config(ca: Option<&CaFile>, resume: Resume) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(ca) => {
            for certificate in ca.certificates() {
                roots.add(certificate.clone()).map_err(|source| TlsError::Refused {
                    what: format!("{}: a certificate is not a usable trust anchor", ca.path().display()),
                    source,
                })?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                let errors: Vec<String> = native.errors.iter().map(ToString::to_string).collect();
                return Err(TlsError::NoSystemRoots(if errors.is_empty() {
                    "none found".to_owned()
                } else {
                    errors.join("; ")
                }));
            }
        }
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Refused { what: "TLS client config".to_owned(), source })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    config.resumption = match resume {
        // rustls's own store, as any rustls client has it: it keeps at most 8 TLS 1.3 tickets
        // per server (a fixed cap), so of a burst of new connections to the one upstream
        // only that many resume; gosleep's counters show how many did.
        Resume::On => Resumption::default(),
        Resume::Off => Resumption::disabled(),
    };
    Ok(Arc::new(config))
}

/// A CA made in-process and the PEM of its certificate: what gosleep's `--tls-self-signed`
/// writes, and what tests trust.
pub struct Authority {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pem: String,
    der: CertificateDer<'static>,
}

/// A leaf certificate and its key, signed by an [`Authority`].
pub struct Leaf {
    /// The chain to serve: the leaf, then its CA.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
    /// The leaf's certificate as PEM.
    pub cert_pem: String,
    /// The leaf's key as PEM.
    pub key_pem: String,
}

/// The names gosleep's self-signed leaf is valid for.
pub const LOCAL_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

fn generate(e: rcgen::Error) -> TlsError {
    TlsError::Generate(e.to_string())
}

impl Authority {
    /// A new CA, ECDSA P-256, named `name`.
    pub fn new(name: &str) -> Result<Self, TlsError> {
        let key = rcgen::KeyPair::generate().map_err(generate)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(generate)?;
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let certificate = params.self_signed(&key).map_err(generate)?;
        let pem = certificate.pem();
        let der = certificate.der().clone();
        Ok(Self { issuer: rcgen::Issuer::new(params, key), pem, der })
    }

    /// The CA's certificate as PEM: a trust anchor file.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// A leaf for `names` (DNS names or IP addresses), valid from a day ago for a year.
    pub fn leaf(&self, names: &[&str]) -> Result<Leaf, TlsError> {
        let now = since_epoch();
        self.leaf_valid(names, now - DAY, now + 365 * DAY)
    }

    /// A leaf whose validity ended a day ago: an expired certificate.
    pub fn expired_leaf(&self, names: &[&str]) -> Result<Leaf, TlsError> {
        let now = since_epoch();
        self.leaf_valid(names, now - 30 * DAY, now - DAY)
    }

    fn leaf_valid(&self, names: &[&str], not_before: Duration, not_after: Duration) -> Result<Leaf, TlsError> {
        let key = rcgen::KeyPair::generate().map_err(generate)?;
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = rcgen::CertificateParams::new(names).map_err(generate)?;
        params.distinguished_name.push(rcgen::DnType::CommonName, "gosleep");
        params.not_before = rcgen::date_time_ymd(1970, 1, 1) + not_before;
        params.not_after = rcgen::date_time_ymd(1970, 1, 1) + not_after;
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let certificate = params.signed_by(&key, &self.issuer).map_err(generate)?;
        let key_pem = key.serialize_pem();
        Ok(Leaf {
            chain: vec![certificate.der().clone(), self.der.clone()],
            key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            cert_pem: certificate.pem(),
            key_pem,
        })
    }
}

const DAY: Duration = Duration::from_secs(86_400);

/// Now, as a certificate's validity counts it: time since the Unix epoch.
fn since_epoch() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// The rustls error somewhere in `e`'s source chain (directly, or inside an `io::Error`, as
/// tokio-rustls and hyper-rustls report it), as the text a 502 names: `None` when the
/// failure was not TLS's.
pub fn failure_in(e: &(dyn StdError + 'static)) -> Option<String> {
    let mut next: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(current) = next {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        // An io::Error's source() skips the error it wraps: step into that one itself.
        next = match current.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => current.source(),
        };
    }
    None
}

/// Sessions gosleep's server keeps for TLS 1.2 session-ID resumption: sized for the
/// thousands of connections a benchmark opens at once (tickets, the usual way, need none).
const SERVER_SESSIONS: usize = 16_384;

/// gosleep's server config: `chain` (the leaf first) and its `key`, TLS 1.3 and 1.2, ALPN
/// `http/1.1`, on [`provider`]. With [`Resume::On`], a session cache and a ticketer, so
/// clients resume by ticket (TLS 1.2 and 1.3) or session ID (TLS 1.2); with [`Resume::Off`]
/// no session is stored and no ticket sent, so every handshake is full.
///
/// A key that does not match the leaf's public key is refused ([`TlsError::Refused`]).
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    resume: Resume,
) -> Result<Arc<ServerConfig>, TlsError> {
    build_server_config(chain, key, resume, || "TLS server certificate and key".to_owned())
}

/// [`server_config`] from PEM files, as gosleep's `--tls-cert FILE --tls-key FILE` name
/// them: every error names the file at fault, or both when the key does not match.
pub fn server_config_from_files(cert: &Path, key: &Path, resume: Resume) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = load_certificates(cert)?;
    let private_key = load_private_key(key)?;
    build_server_config(chain, private_key, resume, || {
        format!("{}: the private key does not fit the certificate in {}", key.display(), cert.display())
    })
}

fn build_server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    resume: Resume,
    what: impl FnOnce() -> String,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Refused { what: "TLS server config".to_owned(), source })?
        .with_no_client_auth()
        // Checks that the key's public half is the leaf's (SPKI), and that ring can sign with it.
        .with_single_cert(chain, key)
        .map_err(|source| TlsError::Refused { what: what(), source })?;
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    match resume {
        Resume::On => {
            config.session_storage = ServerSessionMemoryCache::new(SERVER_SESSIONS);
            config.ticketer = rustls::crypto::ring::Ticketer::new()
                .map_err(|source| TlsError::Refused { what: "TLS session ticketer".to_owned(), source })?;
        }
        Resume::Off => {
            // The builder's ticketer already makes no tickets; this also stops the cache and
            // TLS 1.3's post-handshake tickets, which clients would otherwise try to use.
            config.session_storage = Arc::new(NoServerSessionStorage {});
            config.send_tls13_tickets = 0;
        }
    }
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// One handshake between `client` and a server of `leaf`, in memory; the client's side.
    fn handshake(client: Arc<ClientConfig>, server: Arc<ServerConfig>) -> rustls::ClientConnection {
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut c = rustls::ClientConnection::new(client, name).unwrap();
        let mut s = rustls::ServerConnection::new(server).unwrap();
        for _ in 0..20 {
            let mut wire = Vec::new();
            while c.wants_write() {
                c.write_tls(&mut wire).unwrap();
            }
            s.read_tls(&mut wire.as_slice()).unwrap();
            s.process_new_packets().unwrap();
            wire.clear();
            while s.wants_write() {
                s.write_tls(&mut wire).unwrap();
            }
            c.read_tls(&mut wire.as_slice()).unwrap();
            c.process_new_packets().unwrap();
            if !c.is_handshaking() && !s.is_handshaking() {
                return c;
            }
        }
        panic!("no handshake after 20 flights");
    }

    #[test]
    fn every_handshake_negotiates_x25519_and_http1() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Authority::new("test CA").unwrap();
        let leaf = ca.leaf(&LOCAL_NAMES).unwrap();
        let server = server_config(leaf.chain, leaf.key, Resume::Off).unwrap();
        let client = client_config(Some(&CaFile::load(write(&dir, "ca.pem", ca.pem())).unwrap()), Resume::Off).unwrap();
        let done = handshake(client, server);
        let group = done.negotiated_key_exchange_group().map(|g| g.name());
        assert_eq!(group, Some(rustls::NamedGroup::X25519));
        assert_eq!(done.alpn_protocol(), Some(ALPN_HTTP1));
    }

    #[test]
    fn a_ca_file_holds_at_least_one_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Authority::new("test CA").unwrap();
        let good = CaFile::load(write(&dir, "ca.pem", ca.pem())).unwrap();
        assert_eq!(good.certificates().len(), 1);
        let leaf = ca.leaf(&["localhost"]).unwrap();
        let key_only = write(&dir, "key.pem", &leaf.key_pem);
        assert!(matches!(CaFile::load(key_only), Err(TlsError::NoCertificate { .. })));
        let missing = CaFile::load(dir.path().join("absent.pem")).unwrap_err();
        assert!(matches!(missing, TlsError::Unreadable { .. }), "{missing}");
        assert!(missing.to_string().contains("absent.pem: cannot read it"), "{missing}");
    }

    #[test]
    fn a_key_file_without_a_key_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Authority::new("test CA").unwrap();
        let cert_only = write(&dir, "cert.pem", ca.pem());
        assert!(matches!(load_private_key(&cert_only), Err(TlsError::NoKey { .. })));
        let leaf = ca.leaf(&["localhost"]).unwrap();
        assert!(load_private_key(&write(&dir, "key.pem", &leaf.key_pem)).is_ok());
    }

    #[test]
    fn client_configs_speak_http1_and_resume_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CaFile::load(write(&dir, "ca.pem", Authority::new("test CA").unwrap().pem())).unwrap();
        let on = client_config(Some(&ca), Resume::On).unwrap();
        assert_eq!(on.alpn_protocols, vec![ALPN_HTTP1.to_vec()]);
        assert!(!format!("{:?}", on.resumption).contains("Disabled"), "{:?}", on.resumption);
        let off = client_config(Some(&ca), Resume::Off).unwrap();
        assert!(format!("{:?}", off.resumption).contains("Disabled"), "{:?}", off.resumption);
    }

    #[test]
    fn an_expired_leaf_ended_before_now() {
        let ca = Authority::new("test CA").unwrap();
        let leaf = ca.expired_leaf(&["localhost"]).unwrap();
        assert_eq!(leaf.chain.len(), 2);
        assert!(leaf.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    }

    #[test]
    fn a_server_key_must_fit_its_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Authority::new("test CA").unwrap();
        let (one, other) = (ca.leaf(&LOCAL_NAMES).unwrap(), ca.leaf(&LOCAL_NAMES).unwrap());
        let cert = write(&dir, "cert.pem", &one.cert_pem);
        let config = server_config_from_files(&cert, &write(&dir, "key.pem", &one.key_pem), Resume::On).unwrap();
        assert_eq!(config.alpn_protocols, vec![ALPN_HTTP1.to_vec()]);
        let wrong = write(&dir, "other-key.pem", &other.key_pem);
        let e = server_config_from_files(&cert, &wrong, Resume::On).unwrap_err().to_string();
        assert!(e.contains("other-key.pem") && e.contains("cert.pem"), "{e}");
        let off = server_config(one.chain, one.key, Resume::Off).unwrap();
        assert_eq!(off.send_tls13_tickets, 0);
    }

    #[test]
    fn a_rustls_error_is_found_inside_an_io_error() {
        let inner = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        let outer = io::Error::other(inner);
        assert!(failure_in(&outer).is_some());
        assert_eq!(failure_in(&io::Error::from(io::ErrorKind::ConnectionReset)), None);
    }
}
