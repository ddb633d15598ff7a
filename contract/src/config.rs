//! The one CLI every server shares (its table: docs/ARCHITECTURE.md, "The contract").

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use thiserror::Error;

use crate::limits::MAX_THREADS;
use crate::query::MAX_FANOUT;
use crate::tls::{self, CaFile, Resume, TlsError};
use crate::upstream::Upstream;
use rustls::ClientConfig;

/// Flags of every server binary; the names and defaults are the contract.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(version, about)]
pub struct Config {
    /// Address to listen on (use port 0 for an ephemeral port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// Base URL of the slow upstream (gosleep): http://HOST:PORT, or https://HOST:PORT for
    /// calls over TLS (certificate and host name always verified).
    #[arg(long, default_value = "http://127.0.0.1:8090", value_parser = Upstream::parse)]
    pub upstream: Upstream,

    /// PEM file of the CAs an https:// upstream's certificate must chain to: exactly these
    /// are trusted. Without it, the system's trust anchors.
    #[arg(long, value_name = "FILE", value_parser = CaFile::parse_arg)]
    pub upstream_ca: Option<CaFile>,

    /// Never resume a TLS session with the upstream: every new upstream connection makes a
    /// full handshake (what every server then does alike, whatever its client's default).
    #[arg(long)]
    pub no_tls_resumption: bool,

    /// Upstream calls per `/multiple` request when the query gives no `n`.
    #[arg(long, default_value_t = 5, value_parser = parse_fanout)]
    pub fanout: usize,

    /// Open a fresh TCP connection for every upstream call and close it after the
    /// response (the "not reuse connections" tables). Default: one pooled keep-alive client.
    #[arg(long)]
    pub no_reuse: bool,

    /// Worker threads (rouille: pool size; tokio: worker threads; actix: workers; std:
    /// connections served at once), 1..=10000. Default: the model's natural choice, always
    /// bounded.
    #[arg(long, value_parser = parse_threads)]
    pub threads: Option<NonZeroUsize>,

    /// Timeout of each upstream call, in milliseconds; slower calls answer 504.
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub upstream_timeout_ms: u64,
}

impl Config {
    /// The defaults of the contract, pointed at `upstream` and listening on an ephemeral
    /// port: what tests start servers with.
    pub fn for_upstream(upstream: Upstream) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            upstream,
            upstream_ca: None,
            no_tls_resumption: false,
            fanout: 5,
            no_reuse: false,
            threads: None,
            upstream_timeout_ms: 30_000,
        }
    }

    /// The CLI of the server binary `name`: the shared flags, under a help that opens with
    /// `name: about` (what this server is) and a `--version` that says `name`, not this crate.
    pub fn command_for(name: &'static str, about: &str) -> clap::Command {
        <Self as clap::CommandFactory>::command().name(name).about(format!("{name}: {about}")).long_about(None)
    }

    /// Parses this process's arguments with [`Config::command_for`]; `--help`, `--version`
    /// and a bad flag end the process as clap does (a bad flag with status 2). A config whose
    /// TLS cannot be set up ([`Config::upstream_tls`]) is a bad flag too: refused here,
    /// before anything starts.
    pub fn parse_for(name: &'static str, about: &str) -> Self {
        let mut command = Self::command_for(name, about);
        let matches = command.get_matches_mut();
        let config = <Self as clap::FromArgMatches>::from_arg_matches(&matches)
            .unwrap_or_else(|e| e.format(&mut command).exit());
        if let Err(e) = config.upstream_tls() {
            command.error(clap::error::ErrorKind::ArgumentConflict, e).exit();
        }
        config
    }

    /// The TLS client config of the upstream calls: `None` for an http:// upstream. Every
    /// Rust server's client is handed this one (see [`crate::tls`]).
    pub fn upstream_tls(&self) -> Result<Option<Arc<ClientConfig>>, UpstreamTlsError> {
        if !self.upstream.is_https() {
            return match &self.upstream_ca {
                Some(ca) => Err(UpstreamTlsError::CaWithoutTls(ca.path().to_owned())),
                None => Ok(None),
            };
        }
        let resume = if self.no_tls_resumption { Resume::Off } else { Resume::On };
        Ok(Some(tls::client_config(self.upstream_ca.as_ref(), resume)?))
    }

    /// The command line that [`Config::parse_for`] reads back as this config: every flag,
    /// defaults included, for starting a server binary as a process (the conformance
    /// suite's Python servers), so that the flag names are written only here.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "--listen".to_owned(),
            self.listen.to_string(),
            "--upstream".to_owned(),
            self.upstream.base().to_owned(),
            "--fanout".to_owned(),
            self.fanout.to_string(),
            "--upstream-timeout-ms".to_owned(),
            self.upstream_timeout_ms.to_string(),
        ];
        if let Some(ca) = &self.upstream_ca {
            args.extend(["--upstream-ca".to_owned(), ca.path().display().to_string()]);
        }
        if self.no_tls_resumption {
            args.push("--no-tls-resumption".to_owned());
        }
        if self.no_reuse {
            args.push("--no-reuse".to_owned());
        }
        if let Some(threads) = self.threads {
            args.extend(["--threads".to_owned(), threads.to_string()]);
        }
        args
    }

    /// The per-call upstream timeout as a [`Duration`].
    pub fn upstream_timeout(&self) -> Duration {
        Duration::from_millis(self.upstream_timeout_ms)
    }

    /// `--threads` if given, else the number of CPUs this process may run on.
    pub fn threads_or_cpus(&self) -> usize {
        self.threads.map_or_else(bench_sys::available_cpus, NonZeroUsize::get)
    }
}

/// Why [`Config::upstream_tls`] has no config: a flag that is wrong, caught before start.
#[derive(Debug, Error)]
pub enum UpstreamTlsError {
    /// `--upstream-ca` with an http:// upstream: a CA for calls that make no handshake.
    #[error("--upstream-ca {} is given, but the upstream is http://, which uses no TLS: write https:// or drop --upstream-ca", .0.display())]
    CaWithoutTls(PathBuf),
    /// The CA or the system's roots could not be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

impl From<UpstreamTlsError> for std::io::Error {
    fn from(e: UpstreamTlsError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
    }
}

/// Parses `--listen` (every server's and gosleep's): an `IP:PORT` socket address, as std
/// reads one. What std refuses gets a [`ListenAddrError`] that says what to write instead.
pub fn parse_listen(s: &str) -> Result<SocketAddr, ListenAddrError> {
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    if let Some(scheme) = crate::upstream::scheme(s) {
        let authority = s[scheme.len() + "://".len()..].split('/').next().unwrap_or("");
        return Err(parse_listen(authority).map_or_else(|e| e, ListenAddrError::Url));
    }
    if let Ok(port) = s.parse::<u16>() {
        return Err(ListenAddrError::NoIp(SocketAddr::from((Ipv4Addr::LOCALHOST, port))));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Err(ListenAddrError::NoPort(ip));
    }
    let host_name = |h: &str| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || "-.".contains(c));
    match s.rsplit_once(':') {
        Some((host, port)) if host_name(host) => {
            Err(port.parse().map_or(ListenAddrError::Malformed, ListenAddrError::HostName))
        }
        _ => Err(ListenAddrError::Malformed),
    }
}

/// Why a `--listen` value is not an `IP:PORT` address; each message says what to write
/// instead (clap prints it after the value).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ListenAddrError {
    /// `http://127.0.0.1:8080`: a URL; holds the address in it.
    #[error("a URL, but --listen takes an address: write {0}")]
    Url(SocketAddr),
    /// `8080`: a port alone; holds it on loopback.
    #[error("no IP address: write {0}")]
    NoIp(SocketAddr),
    /// `127.0.0.1`: an IP address alone.
    #[error("no port: write {}:PORT ({} picks a free port)", bracketed(*.0), SocketAddr::new(*.0, 0))]
    NoPort(IpAddr),
    /// `localhost:8080`: a host name, which `--listen` does not look up; holds the port.
    #[error(
        "a host name, but --listen takes an IP address: write 127.0.0.1:{0} (this machine only) or \
         0.0.0.0:{0} (every interface)"
    )]
    HostName(u16),
    /// Anything else.
    #[error("not an address: write IP:PORT, e.g. 127.0.0.1:0 (port 0 picks a free port)")]
    Malformed,
}

/// `ip` as it stands before `:PORT`: IPv6 in brackets.
fn bracketed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    }
}

/// Parses `--threads` (every server's and gosleep's): 1..=[`MAX_THREADS`], refused before
/// anything starts rather than failing to spawn the threads halfway.
pub fn parse_threads(s: &str) -> Result<NonZeroUsize, String> {
    s.parse::<NonZeroUsize>()
        .ok()
        .filter(|n| n.get() <= MAX_THREADS)
        .ok_or_else(|| format!("must be an integer in 1..={MAX_THREADS}"))
}

fn parse_fanout(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_FANOUT).contains(&n) => Ok(n),
        _ => Err(format!("must be an integer in 1..={MAX_FANOUT}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_contract() {
        let c = Config::parse_from(["server"]);
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.upstream.base(), "http://127.0.0.1:8090");
        assert_eq!(c.fanout, 5);
        assert!(!c.no_reuse);
        assert_eq!(c.threads, None);
        assert_eq!(c.upstream_timeout_ms, 30_000);
    }

    #[test]
    fn every_flag_parses() {
        let c = Config::parse_from([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "http://127.0.0.1:9/",
            "--fanout",
            "64",
            "--no-reuse",
            "--threads",
            "3",
            "--upstream-timeout-ms",
            "100",
        ]);
        assert_eq!(c.listen.port(), 0);
        assert_eq!(c.upstream.base(), "http://127.0.0.1:9");
        assert_eq!(c.fanout, 64);
        assert!(c.no_reuse);
        assert_eq!(c.threads_or_cpus(), 3);
        assert_eq!(c.upstream_timeout(), Duration::from_millis(100));
    }

    #[test]
    fn threads_outside_one_to_max_threads_is_a_bad_flag_naming_the_range() {
        let max = MAX_THREADS.to_string();
        assert_eq!(Config::parse_from(["server", "--threads", &max]).threads_or_cpus(), MAX_THREADS);
        let over = (MAX_THREADS + 1).to_string();
        for bad in ["0", over.as_str(), "100000", "x"] {
            let e = Config::try_parse_from(["server", "--threads", bad]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.to_string().contains(&format!("must be an integer in 1..={MAX_THREADS}")), "{bad}: {e}");
        }
    }

    #[test]
    fn to_args_parses_back_to_the_same_config() {
        let upstream = Upstream::parse("http://127.0.0.1:9/base").unwrap();
        let every_flag = Config {
            listen: "[::1]:8081".parse().unwrap(),
            fanout: 64,
            no_reuse: true,
            threads: NonZeroUsize::new(256),
            upstream_timeout_ms: 1,
            ..Config::for_upstream(upstream.clone())
        };
        for config in [Config::for_upstream(upstream), every_flag, Config::parse_from(["server"])] {
            let args = config.to_args();
            let back = Config::parse_from(std::iter::once("server".to_owned()).chain(args.iter().cloned()));
            assert_eq!(back, config, "{args:?}");
        }
    }

    #[test]
    fn help_opens_with_the_servers_own_line_then_the_shared_flags() {
        let help = Config::command_for("server-x", "the proxy on framework X").render_help().to_string();
        assert_eq!(help.lines().next(), Some("server-x: the proxy on framework X"), "{help}");
        assert!(help.contains("Usage: server-x [OPTIONS]"), "{help}");
        assert!(help.contains("--upstream-timeout-ms"), "{help}");
        assert!(!help.contains("contract") && !help.contains("bench contract"), "{help}");
        let version = Config::command_for("server-x", "").render_version();
        assert!(version.starts_with("server-x "), "{version}");
    }

    #[test]
    fn a_listen_value_std_refuses_says_which_address_to_write() {
        for (given, message) in [
            ("8080", "no IP address: write 127.0.0.1:8080"),
            ("127.0.0.1", "no port: write 127.0.0.1:PORT (127.0.0.1:0 picks a free port)"),
            ("::1", "no port: write [::1]:PORT ([::1]:0 picks a free port)"),
            ("http://127.0.0.1:8080/", "a URL, but --listen takes an address: write 127.0.0.1:8080"),
            ("http://127.0.0.1", "no port: write 127.0.0.1:PORT (127.0.0.1:0 picks a free port)"),
            (
                "localhost:8080",
                "a host name, but --listen takes an IP address: write 127.0.0.1:8080 (this machine only) or \
                 0.0.0.0:8080 (every interface)",
            ),
            ("localhost", "not an address: write IP:PORT, e.g. 127.0.0.1:0 (port 0 picks a free port)"),
            ("127.0.0.1:99999", "not an address: write IP:PORT, e.g. 127.0.0.1:0 (port 0 picks a free port)"),
        ] {
            assert_eq!(parse_listen(given).unwrap_err().to_string(), message, "{given}");
        }
        assert_eq!(parse_listen("[::1]:0"), Ok("[::1]:0".parse().unwrap()));
    }

    #[test]
    fn a_bad_listen_or_upstream_flag_is_one_clap_error_naming_the_value_and_the_fix() {
        let e = Config::try_parse_from(["server", "--upstream", "127.0.0.1:8090"]).unwrap_err().to_string();
        let first = "error: invalid value '127.0.0.1:8090' for '--upstream <UPSTREAM>': no scheme: write \
                     http://127.0.0.1:8090\n";
        assert!(e.starts_with(first), "{e}");
        let e = Config::try_parse_from(["server", "--listen", "8080"]).unwrap_err().to_string();
        assert!(
            e.starts_with("error: invalid value '8080' for '--listen <LISTEN>': no IP address: write 127.0.0.1:8080\n"),
            "{e}"
        );
    }

    #[test]
    fn an_upstream_ca_needs_an_https_upstream_and_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, tls::Authority::new("test CA").unwrap().pem()).unwrap();
        let ca = ca.to_str().unwrap();
        let https = Config::parse_from(["server", "--upstream", "https://localhost:8443", "--upstream-ca", ca]);
        assert!(https.upstream_tls().unwrap().is_some());
        let mut flags = https.clone();
        flags.no_tls_resumption = true;
        let args = flags.to_args();
        assert_eq!(Config::parse_from(std::iter::once("server".to_owned()).chain(args)), flags);
        let http = Config::parse_from(["server", "--upstream", "http://127.0.0.1:9", "--upstream-ca", ca]);
        let e = http.upstream_tls().unwrap_err().to_string();
        assert!(e.contains("the upstream is http://, which uses no TLS"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let e = Config::try_parse_from(["server", "--upstream-ca", empty.to_str().unwrap()]).unwrap_err().to_string();
        assert!(e.contains("no certificate in it"), "{e}");
        assert!(Config::parse_from(["server"]).upstream_tls().unwrap().is_none());
    }

    #[test]
    fn bad_flags_are_rejected() {
        for args in [
            &["server", "--fanout", "0"][..],
            &["server", "--fanout", "65"],
            &["server", "--threads", "0"],
            &["server", "--upstream-timeout-ms", "0"],
            &["server", "--upstream", "ftp://example.test"],
            &["server", "--upstream-ca", "/nonexistent/ca.pem"],
            &["server", "--listen", "localhost"],
        ] {
            assert!(Config::try_parse_from(args).is_err(), "accepted {args:?}");
        }
    }
}
