//! tls-floor: the CPU one rustls handshake costs, client side and server side, measured in
//! memory: a `ClientConnection` and a `ServerConnection` exchange their records through two
//! byte buffers on one thread, with no sockets and no HTTP. The figure the servers' added CPU
//! per not-reused HTTPS call is read against (docs/benchmarks/tls.md).
//!
//! The provider is a Cargo feature: `ring` (the default, the workspace's) or `aws-lc-rs`.
//!
//! [`sockets`] measures the same bare client over real loopback TCP connections instead, one
//! whole HTTP/1.1 call per connection, against plain TCP calls: the part of a not-reused
//! HTTPS call that the in-memory floor does not pay (system calls, wake-ups, the records of
//! the request, the response and the close).

pub mod sockets;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use cpu_time::ThreadTime;
use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, NamedGroup, ProtocolVersion, RootCertStore};
use rustls::{ServerConfig, ServerConnection, SupportedProtocolVersion};
use thiserror::Error;

#[cfg(all(feature = "ring", feature = "aws-lc-rs"))]
compile_error!("choose one provider: --no-default-features --features aws-lc-rs, or the default ring");
#[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
compile_error!("choose a provider: the feature ring (default) or aws-lc-rs");

/// The provider this binary was built with, as the tables name it.
#[cfg(feature = "ring")]
pub const PROVIDER: &str = "ring";
/// The provider this binary was built with, as the tables name it.
#[cfg(feature = "aws-lc-rs")]
pub const PROVIDER: &str = "aws-lc-rs";

/// The server's name in the leaf and in every ClientHello.
const SERVER_NAME: &str = "localhost";

/// Sessions either side keeps for resumption: far more than one client ever holds at once.
const SESSIONS: usize = 256;

/// The provider's own default: what `default_provider()` gives.
#[allow(deprecated)] // rustls 0.23.48 deprecates ring's for having no post-quantum group.
fn default_provider() -> CryptoProvider {
    #[cfg(feature = "ring")]
    return rustls::crypto::ring::default_provider();
    #[cfg(feature = "aws-lc-rs")]
    return rustls::crypto::aws_lc_rs::default_provider();
}

#[cfg(feature = "ring")]
fn x25519() -> &'static dyn rustls::crypto::SupportedKxGroup {
    rustls::crypto::ring::kx_group::X25519
}
#[cfg(feature = "aws-lc-rs")]
fn x25519() -> &'static dyn rustls::crypto::SupportedKxGroup {
    rustls::crypto::aws_lc_rs::kx_group::X25519
}

/// The provider's session ticketer, as gosleep's.
fn ticketer() -> Result<Arc<dyn rustls::server::ProducesTickets>, rustls::Error> {
    #[cfg(feature = "ring")]
    return rustls::crypto::ring::Ticketer::new();
    #[cfg(feature = "aws-lc-rs")]
    return rustls::crypto::aws_lc_rs::Ticketer::new();
}

/// Why a measurement could not be made or was not of the kind asked. Any of these ends the
/// run: a figure is only printed for handshakes checked to be what the table says.
#[derive(Debug, Error)]
pub enum FloorError {
    /// Making the CA or the leaf failed.
    #[error("making a certificate failed: {0}")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused a config or failed a handshake.
    #[error("rustls: {0}")]
    Tls(#[from] rustls::Error),
    /// Moving records between the buffers failed.
    #[error("moving records: {0}")]
    Io(#[from] std::io::Error),
    /// A handshake completed but was not of the kind the case asks for.
    #[error("{case}: {what}")]
    WrongKind {
        /// The case measured.
        case: String,
        /// What was found instead.
        what: String,
    },
    /// The pumping went on past any real handshake's flights without completing.
    #[error("{0}: the handshake did not complete")]
    Stalled(String),
    /// A command-line argument or an input line that could not be read.
    #[error("{0}")]
    Usage(String),
    /// A request or a response over a socket that was not the one the exchange expects.
    #[error("{0}")]
    Exchange(String),
}

/// TLS 1.3 or TLS 1.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// TLS 1.3.
    Tls13,
    /// TLS 1.2.
    Tls12,
}

impl Version {
    fn rustls(self) -> &'static SupportedProtocolVersion {
        match self {
            Self::Tls13 => &rustls::version::TLS13,
            Self::Tls12 => &rustls::version::TLS12,
        }
    }

    fn wire(self) -> ProtocolVersion {
        match self {
            Self::Tls13 => ProtocolVersion::TLSv1_3,
            Self::Tls12 => ProtocolVersion::TLSv1_2,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Tls13 => "TLS 1.3",
            Self::Tls12 => "TLS 1.2",
        }
    }
}

/// Which key-exchange groups both sides offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Groups {
    /// The provider's default list, in its order.
    Default,
    /// X25519 alone.
    X25519,
}

/// One kind of handshake to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// The protocol version, the only one either side offers.
    pub version: Version,
    /// Whether the client resumes a session the server gave it before.
    pub resumed: bool,
    /// The key-exchange groups offered.
    pub groups: Groups,
}

impl Case {
    /// The case's name in the tables: "TLS 1.3 full", "TLS 1.2 resumed".
    pub fn label(&self) -> String {
        format!("{} {}", self.version.label(), if self.resumed { "resumed" } else { "full" })
    }

    fn groups_label(&self) -> &'static str {
        match self.groups {
            Groups::Default => "default",
            Groups::X25519 => "X25519 forced",
        }
    }

    fn expected_kind(&self) -> HandshakeKind {
        if self.resumed { HandshakeKind::Resumed } else { HandshakeKind::Full }
    }
}

/// Every case, in the tables' order.
pub fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for groups in [Groups::Default, Groups::X25519] {
        for version in [Version::Tls13, Version::Tls12] {
            for resumed in [false, true] {
                cases.push(Case { version, resumed, groups });
            }
        }
    }
    cases
}

/// The CA and leaf every case serves: made once, as bench-tls's `Authority` makes them
/// (ECDSA P-256 CA, a leaf for "localhost" signed by it, the chain leaf then CA).
pub struct Certificates {
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Certificates {
    /// A new CA and leaf.
    pub fn new() -> Result<Self, FloorError> {
        let ca_key = rcgen::KeyPair::generate()?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "tls-floor CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = ca_params.self_signed(&ca_key)?;
        let ca_der = ca.der().clone();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);

        let leaf_key = rcgen::KeyPair::generate()?;
        let mut leaf_params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_owned()])?;
        leaf_params.distinguished_name.push(rcgen::DnType::CommonName, "tls-floor");
        leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;
        Ok(Self {
            ca: ca_der.clone(),
            chain: vec![leaf.der().clone(), ca_der],
            key: PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        })
    }
}

/// The provider both sides of `case` use: the provider's default, with only X25519 offered
/// where the case forces it.
fn case_provider(case: &Case) -> Arc<CryptoProvider> {
    let mut provider = default_provider();
    if case.groups == Groups::X25519 {
        provider.kx_groups = vec![x25519()];
    }
    Arc::new(provider)
}

/// The client config for `case`, as bench-tls's `client_config` makes it: verification
/// against `ca` alone, only the case's version, ALPN unset, and resumption (rustls's
/// in-memory session store) only where the case resumes: a full case is a
/// `--no-tls-resumption` client.
fn client_config(case: &Case, ca: &CertificateDer<'static>) -> Result<Arc<ClientConfig>, FloorError> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone())?;
    let mut client = ClientConfig::builder_with_provider(case_provider(case))
        .with_protocol_versions(&[case.version.rustls()])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.resumption = if case.resumed { Resumption::in_memory_sessions(SESSIONS) } else { Resumption::disabled() };
    Ok(Arc::new(client))
}

/// The server config for `case`, as bench-tls's `server_config` makes it: the provider's
/// ticketer and the in-memory session cache where the case resumes, sending `tickets` TLS 1.3
/// tickets a handshake (`None`: rustls's default, 2, as gosleep); where it does not, no
/// tickets and no cache (gosleep's `--tls-no-resumption`).
fn server_config(
    case: &Case,
    certificates: &Certificates,
    tickets: Option<usize>,
) -> Result<Arc<ServerConfig>, FloorError> {
    let mut server = ServerConfig::builder_with_provider(case_provider(case))
        .with_protocol_versions(&[case.version.rustls()])?
        .with_no_client_auth()
        .with_single_cert(certificates.chain.clone(), certificates.key.clone_key())?;
    if case.resumed {
        server.session_storage = rustls::server::ServerSessionMemoryCache::new(SESSIONS);
        server.ticketer = ticketer()?;
        if let Some(tickets) = tickets {
            server.send_tls13_tickets = tickets;
        }
    } else {
        server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        server.send_tls13_tickets = 0;
    }
    Ok(Arc::new(server))
}

/// A client config and a server config for one case.
struct Pair {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
}

impl Pair {
    /// The configs for `case` ([`client_config`], [`server_config`]), the server sending
    /// `tickets` TLS 1.3 tickets where it resumes (`None`: rustls's default).
    fn new(case: &Case, certificates: &Certificates, tickets: Option<usize>) -> Result<Self, FloorError> {
        Ok(Self { client: client_config(case, &certificates.ca)?, server: server_config(case, certificates, tickets)? })
    }
}

/// CPU time spent inside one side's calls.
#[derive(Debug, Default, Clone, Copy)]
struct Spent {
    client: Duration,
    server: Duration,
}

/// Flights a handshake can take, with margin: TLS 1.2 full is the longest, at four plus
/// TLS 1.3's tickets; more means the two sides are stuck.
const MAX_FLIGHTS: usize = 16;

/// One handshake, start to end: each side's CPU clock runs only while that side's calls do
/// (making its connection, reading the other's records, writing its own, dropping it).
/// Returns the client's connection state as the handshake left it, checked by the caller.
fn handshake(pair: &Pair, case: &Case, spent: &mut Spent, buffers: &mut Buffers) -> Result<Checked, FloorError> {
    let name = ServerName::try_from(SERVER_NAME).map_err(|e| FloorError::Usage(e.to_string()))?;

    let clock = ThreadTime::now();
    let mut client = ClientConnection::new(pair.client.clone(), name)?;
    buffers.to_server.clear();
    while client.wants_write() {
        client.write_tls(&mut buffers.to_server)?;
    }
    spent.client += clock.elapsed();

    let clock = ThreadTime::now();
    let mut server = ServerConnection::new(pair.server.clone())?;
    spent.server += clock.elapsed();

    for _ in 0..MAX_FLIGHTS {
        if buffers.to_server.is_empty() && buffers.to_client.is_empty() {
            break;
        }
        if !buffers.to_server.is_empty() {
            let clock = ThreadTime::now();
            exchange(&mut server, &mut buffers.to_server, &mut buffers.to_client)?;
            spent.server += clock.elapsed();
        }
        if !buffers.to_client.is_empty() {
            let clock = ThreadTime::now();
            exchange(&mut client, &mut buffers.to_client, &mut buffers.to_server)?;
            spent.client += clock.elapsed();
        }
    }
    if client.is_handshaking() || server.is_handshaking() || !buffers.to_server.is_empty() {
        return Err(FloorError::Stalled(case.label()));
    }
    let checked = Checked { client: ClientView::of(&client), server_kind: server.handshake_kind() };

    let clock = ThreadTime::now();
    drop(client);
    spent.client += clock.elapsed();
    let clock = ThreadTime::now();
    drop(server);
    spent.server += clock.elapsed();
    Ok(checked)
}

/// What a completed handshake was, as its client saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ClientView {
    kind: Option<HandshakeKind>,
    version: Option<ProtocolVersion>,
    group: Option<NamedGroup>,
}

impl ClientView {
    /// Reads `client`'s state: a few fields, no allocation.
    fn of(client: &ClientConnection) -> Self {
        Self {
            kind: client.handshake_kind(),
            version: client.protocol_version(),
            group: client.negotiated_key_exchange_group().map(|g| g.name()),
        }
    }

    /// Whether the client's side of this handshake is of the kind `case` names; why not if
    /// not, the error naming the case `label`.
    fn verify(&self, case: &Case, label: &str) -> Result<(), FloorError> {
        let wrong = |what: String| Err(FloorError::WrongKind { case: label.to_owned(), what });
        if self.kind != Some(case.expected_kind()) {
            return wrong(format!("client {:?}, {:?} expected", self.kind, case.expected_kind()));
        }
        if self.version != Some(case.version.wire()) {
            return wrong(format!("version {:?}", self.version));
        }
        // A TLS 1.2 resumption makes no key exchange; every other handshake does, and with
        // X25519 forced it is X25519.
        let exchanges = !(case.resumed && case.version == Version::Tls12);
        if exchanges != self.group.is_some() {
            return wrong(format!("key exchange {:?}", self.group));
        }
        if exchanges && case.groups == Groups::X25519 && self.group != Some(NamedGroup::X25519) {
            return wrong(format!("key exchange {:?}, X25519 forced", self.group));
        }
        Ok(())
    }

    /// The negotiated group as the tables name it ("X25519"), "-" for none.
    fn group_label(&self) -> String {
        self.group.map_or_else(|| "-".to_owned(), |g| format!("{g:?}"))
    }
}

/// What a completed handshake was, from both sides.
#[derive(Debug, PartialEq)]
struct Checked {
    client: ClientView,
    server_kind: Option<HandshakeKind>,
}

impl Checked {
    /// Whether this handshake is of the kind `case` names, on both sides; why not if not.
    fn verify(&self, case: &Case) -> Result<(), FloorError> {
        if self.server_kind != Some(case.expected_kind()) {
            return Err(FloorError::WrongKind {
                case: case.label(),
                what: format!("client {:?}, server {:?}", self.client.kind, self.server_kind),
            });
        }
        self.client.verify(case, &case.label())
    }
}

/// The two directions' records: client to server and server to client.
#[derive(Default)]
struct Buffers {
    to_server: Vec<u8>,
    to_client: Vec<u8>,
}

/// One side's turn: read all of `incoming` (processing as it goes, as a socket reader
/// would), then write all it has for the other side into `outgoing`.
fn exchange<D>(
    conn: &mut rustls::ConnectionCommon<D>,
    incoming: &mut Vec<u8>,
    outgoing: &mut Vec<u8>,
) -> Result<(), FloorError> {
    let mut unread = &incoming[..];
    while !unread.is_empty() {
        conn.read_tls(&mut unread)?;
        conn.process_new_packets()?;
    }
    incoming.clear();
    while conn.wants_write() {
        conn.write_tls(outgoing)?;
    }
    Ok(())
}

/// One round of one case: its figures per handshake.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The provider measured.
    pub provider: String,
    /// The case's label.
    pub case: String,
    /// The groups offered ("default" or "X25519 forced").
    pub groups: String,
    /// The group the handshakes negotiated ("-" for none: TLS 1.2 resumption).
    pub negotiated: String,
    /// The client's CPU per handshake, microseconds.
    pub client_us: f64,
    /// The server's CPU per handshake, microseconds.
    pub server_us: f64,
}

impl Sample {
    /// The sample as one CSV line, as [`Sample::parse`] reads it.
    pub fn csv(&self) -> String {
        format!(
            "{},{},{},{},{:.2},{:.2}",
            self.provider, self.case, self.groups, self.negotiated, self.client_us, self.server_us
        )
    }

    /// A line of [`Sample::csv`].
    pub fn parse(line: &str) -> Result<Self, FloorError> {
        let bad = || FloorError::Usage(format!("not a tls-floor CSV line: {line:?}"));
        let fields: Vec<&str> = line.trim().split(',').collect();
        let [provider, case, groups, negotiated, client, server] = fields[..] else {
            return Err(bad());
        };
        Ok(Self {
            provider: provider.to_owned(),
            case: case.to_owned(),
            groups: groups.to_owned(),
            negotiated: negotiated.to_owned(),
            client_us: client.parse().map_err(|_| bad())?,
            server_us: server.parse().map_err(|_| bad())?,
        })
    }
}

/// Runs `handshakes` handshakes of `case` after a first, unmeasured one (which also gives a
/// resuming client its first session), checking every one, and returns the CPU per handshake.
pub fn measure(case: &Case, certificates: &Certificates, handshakes: u32) -> Result<Sample, FloorError> {
    measure_with_tickets(case, certificates, handshakes, None)
}

/// [`measure`], with a resuming server sending `tickets` TLS 1.3 tickets a handshake (`None`:
/// rustls's default, 2).
pub fn measure_with_tickets(
    case: &Case,
    certificates: &Certificates,
    handshakes: u32,
    tickets: Option<usize>,
) -> Result<Sample, FloorError> {
    let pair = Pair::new(case, certificates, tickets)?;
    let mut buffers = Buffers::default();
    let mut warmup = Spent::default();
    let first = handshake(&pair, case, &mut warmup, &mut buffers)?;
    let full = Case { resumed: false, ..*case };
    first.verify(&full)?;

    let mut spent = Spent::default();
    let mut negotiated = None;
    for _ in 0..handshakes {
        let checked = handshake(&pair, case, &mut spent, &mut buffers)?;
        checked.verify(case)?;
        if negotiated.is_some() && negotiated != checked.client.group {
            return Err(FloorError::WrongKind {
                case: case.label(),
                what: format!("key exchange changed: {negotiated:?} then {:?}", checked.client.group),
            });
        }
        negotiated = checked.client.group;
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(handshakes.max(1));
    Ok(Sample {
        provider: PROVIDER.to_owned(),
        case: case.label(),
        groups: case.groups_label().to_owned(),
        negotiated: negotiated.map_or_else(|| "-".to_owned(), |g| format!("{g:?}")),
        client_us: per(spent.client),
        server_us: per(spent.server),
    })
}

/// What reading the thread's CPU clock costs, in microseconds per timed stretch (one
/// `now()` and one `elapsed()`): every handshake's figures include a few of these.
pub fn clock_cost_us(stretches: u32) -> f64 {
    let outer = ThreadTime::now();
    for _ in 0..stretches {
        std::hint::black_box(ThreadTime::now().elapsed());
    }
    outer.elapsed().as_secs_f64() * 1e6 / f64::from(stretches.max(1))
}

/// The median of `values` (the mean of the middle two for an even count); NaN for none.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 }
}

/// The Markdown tables of `samples`: per provider and case, the median over its rounds of
/// each side's CPU per handshake and what that is as handshakes per second of one core;
/// then, where both providers were measured, aws-lc-rs's figures over ring's.
pub fn table(samples: &[Sample]) -> String {
    // Keyed by (case order, provider) so rows come out in the cases' order.
    let order: Vec<(String, String)> = cases().iter().map(|c| (c.label(), c.groups_label().to_owned())).collect();
    let mut rows: BTreeMap<(usize, String), Vec<&Sample>> = BTreeMap::new();
    for sample in samples {
        let index = order
            .iter()
            .position(|(case, groups)| *case == sample.case && *groups == sample.groups)
            .unwrap_or(order.len());
        rows.entry((index, sample.provider.clone())).or_default().push(sample);
    }

    let mut out = String::new();
    out.push_str("| provider | handshake | groups offered | negotiated | rounds | client µs | server µs | client µs, rounds' range | server µs, rounds' range | client handshakes/s per core | server handshakes/s per core |\n");
    out.push_str("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    let mut medians: BTreeMap<(usize, String), (f64, f64)> = BTreeMap::new();
    for ((index, provider), group) in &rows {
        let mut client_all: Vec<f64> = group.iter().map(|s| s.client_us).collect();
        let mut server_all: Vec<f64> = group.iter().map(|s| s.server_us).collect();
        let (client, server) = (median(&mut client_all), median(&mut server_all));
        // median() sorted them: the range is the first and the last.
        let range = |sorted: &[f64]| format!("{:.0}-{:.0}", sorted[0], sorted[sorted.len() - 1]);
        let (client_range, server_range) = (range(&client_all), range(&server_all));
        medians.insert((*index, provider.clone()), (client, server));
        let first = group[0];
        let mut negotiated: Vec<&str> = group.iter().map(|s| s.negotiated.as_str()).collect();
        negotiated.dedup();
        let _ = writeln!(
            out,
            "| {provider} | {} | {} | {} | {} | {client:.1} | {server:.1} | {client_range} | {server_range} | {:.0} | {:.0} |",
            first.case,
            first.groups,
            negotiated.join(" / "),
            group.len(),
            1e6 / client,
            1e6 / server,
        );
    }

    let ratios: Vec<String> = order
        .iter()
        .enumerate()
        .filter_map(|(index, (case, groups))| {
            let ring = medians.get(&(index, "ring".to_owned()))?;
            let aws = medians.get(&(index, "aws-lc-rs".to_owned()))?;
            Some(format!("| {case} | {groups} | {:.2} | {:.2} |\n", aws.0 / ring.0, aws.1 / ring.1))
        })
        .collect();
    if !ratios.is_empty() {
        out.push_str(
            "\n| handshake | groups offered | client CPU, aws-lc-rs / ring | server CPU, aws-lc-rs / ring |\n",
        );
        out.push_str("|---|---|---:|---:|\n");
        for line in ratios {
            out.push_str(&line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_completes_as_the_kind_it_names() {
        let certificates = Certificates::new().expect("certificates");
        for case in cases() {
            let sample = measure(&case, &certificates, 3).expect("measured");
            assert!(sample.client_us > 0.0 && sample.server_us > 0.0, "{sample:?}");
        }
    }

    #[test]
    fn a_resumption_without_a_session_is_refused_as_the_wrong_kind() {
        let certificates = Certificates::new().expect("certificates");
        let case = Case { version: Version::Tls13, resumed: true, groups: Groups::Default };
        let pair = Pair::new(&Case { resumed: false, ..case }, &certificates, None).expect("pair");
        let checked = handshake(&pair, &case, &mut Spent::default(), &mut Buffers::default()).expect("handshake");
        assert!(matches!(checked.verify(&case), Err(FloorError::WrongKind { .. })));
    }

    #[test]
    fn a_sample_reads_back_from_its_csv_line() {
        let sample = Sample {
            provider: "ring".into(),
            case: "TLS 1.3 full".into(),
            groups: "default".into(),
            negotiated: "X25519".into(),
            client_us: 12.5,
            server_us: 7.25,
        };
        assert_eq!(Sample::parse(&sample.csv()).expect("parsed"), sample);
    }

    #[test]
    fn the_median_of_an_even_count_is_the_middle_pair_mean() {
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
    }
}
