//! perf's samples of one process, each put in a category by its DSO and symbol: what
//! `bench tls-profile` splits a server's CPU into. perf writes text only, so this is
//! where its report is read, and nowhere else.

/// The categories, in the tables' order, with their headings.
pub const CATEGORIES: [(Category, &str); 6] = [
    (Category::Crypto, "crypto (ring)"),
    (Category::Kernel, "kernel"),
    (Category::Alloc, "allocator, copies"),
    (Category::Rustls, "rustls"),
    (Category::Glue, "TLS glue"),
    (Category::Rest, "rest"),
];

/// Where a sample's CPU went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// ring.
    Crypto,
    /// The kernel.
    Kernel,
    /// The allocator and memory copies.
    Alloc,
    /// rustls.
    Rustls,
    /// The crates between rustls and the servers' clients.
    Glue,
    /// The server, its runtime, its HTTP client, the rest of libc, the vDSO.
    Rest,
}

impl Category {
    /// Its short name, as the top-symbols lists print it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Crypto => "crypto",
            Self::Kernel => "kernel",
            Self::Alloc => "alloc",
            Self::Rustls => "rustls",
            Self::Glue => "glue",
            Self::Rest => "rest",
        }
    }
}

/// Which DSOs a rule applies to.
enum Dso {
    Any,
    Kernel,
    /// The server's own binary (`server-NAME`), where ring's C functions are statically
    /// linked and libc's names cannot be.
    Server,
    /// libc.
    Libc,
}

/// The first rule whose DSO and symbol prefix match gives a sample's category. A symbol
/// is perf's, demangled, with a leading `<`, `&`, `mut `, `dyn ` and
/// `core::ptr::drop_in_place<` taken off (see [`subject`]).
const RULES: [(Category, Dso, &[&str]); 7] = [
    (Category::Kernel, Dso::Kernel, &[""]),
    (Category::Crypto, Dso::Any, &["ring_core_", "ring::"]),
    // ring's static C functions: they count only in the server's binary.
    (
        Category::Crypto,
        Dso::Server,
        &[
            "fiat_", "fe_", "fe4_", "x25519", "sha", "aes", "gcm", "ecp_", "p256", "p384", "bn_", "chacha", "ChaCha",
            "poly1305", "limbs_", "LIMBS_", "CRYPTO_", "OPENSSL_",
        ],
    ),
    (
        Category::Glue,
        Dso::Any,
        &[
            "tokio_rustls::",
            "hyper_rustls::",
            "actix_tls::",
            "rustls_pki_types::",
            "webpki::",
            "bench_tls::",
            "contract::ureq_client::OurTls",
            "contract::ureq_client::TlsTransport",
            "ureq::tls::",
            "reqwest::tls::",
        ],
    ),
    (Category::Rustls, Dso::Any, &["rustls::"]),
    (
        Category::Alloc,
        Dso::Libc,
        &[
            "malloc",
            "free",
            "cfree",
            "calloc",
            "realloc",
            "_int_",
            "__libc_malloc",
            "__libc_free",
            "__libc_calloc",
            "__libc_realloc",
            "tcache",
            "unlink_chunk",
            "malloc_consolidate",
            "__memmove",
            "__memcpy",
            "__memset",
            "memmove",
            "memcpy",
            "memset",
        ],
    ),
    (
        Category::Alloc,
        Dso::Any,
        &[
            "__rust_alloc",
            "__rust_dealloc",
            "__rust_realloc",
            "__rust_alloc_zeroed",
            "__rust_no_alloc_shim_is_unstable",
            "__rdl_",
            "__rustc::__rust_alloc",
            "__rustc::__rust_dealloc",
            "__rustc::__rust_realloc",
            "__rustc::__rust_alloc_zeroed",
            "__rustc::__rust_no_alloc_shim_is_unstable",
            "__rustc::__rdl_",
        ],
    ),
];

/// One symbol's samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Symbol {
    /// Samples.
    pub samples: u64,
    /// Its category.
    pub category: Category,
    /// Its DSO.
    pub dso: String,
    /// Its name, or `None` where perf could not name it.
    pub name: Option<String>,
}

/// What a sample's symbol counts for: a trait method or a drop for the crate of its type
/// (`<rustls::...::ClientConnection as ...>::f` is rustls's), and a std type's method for
/// the crate of its trait (`<Vec<T> as rustls::msgs::codec::Codec>::encode` is rustls's).
fn subject(symbol: &str) -> &str {
    let mut s = symbol;
    loop {
        let before = s.len();
        for prefix in ["core::ptr::drop_in_place<", "<", "&", "mut ", "dyn "] {
            s = s.strip_prefix(prefix).unwrap_or(s);
        }
        if s.len() == before {
            break;
        }
    }
    if ["alloc::", "core::", "std::"].iter().any(|p| s.starts_with(p))
        && let Some(at) = s.find(" as ")
    {
        let tr = &s[at + 4..];
        let is_path = tr.split("::").next().is_some_and(|c| {
            !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
        if is_path && tr.contains("::") && !["alloc::", "core::", "std::"].iter().any(|p| tr.starts_with(p)) {
            return tr;
        }
    }
    s
}

/// The category of a sample in `dso` at `symbol`.
pub fn categorize(dso: &str, symbol: &str) -> Category {
    let subject = subject(symbol);
    let dso_matches = |d: &Dso| match d {
        Dso::Any => true,
        Dso::Kernel => dso == "[kernel.kallsyms]",
        Dso::Server => dso.starts_with("server-"),
        Dso::Libc => dso.starts_with("libc.") || dso.starts_with("libc-"),
    };
    RULES
        .iter()
        .find(|(_, d, prefixes)| dso_matches(d) && prefixes.iter().any(|p| subject.starts_with(p)))
        .map_or(Category::Rest, |(c, _, _)| *c)
}

/// The lines of `perf report --no-children --sort dso,symbol --stdio -n -t '\t'`: one
/// [`Symbol`] each, most samples first.
pub fn parse_report(text: &str) -> Vec<Symbol> {
    let mut symbols: Vec<Symbol> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').map(str::trim).collect();
            let (samples, dso, sym) = (f.get(1)?.parse::<u64>().ok()?, *f.get(2)?, *f.get(3)?);
            let sym = sym.strip_prefix("[.] ").or_else(|| sym.strip_prefix("[k] ")).unwrap_or(sym);
            let unresolved = sym.is_empty()
                || sym == "[unknown]"
                || sym.strip_prefix("0x").is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
            Some(Symbol {
                samples,
                category: categorize(dso, sym),
                dso: dso.to_owned(),
                name: (!unresolved).then(|| sym.to_owned()),
            })
        })
        .collect();
    symbols.sort_by_key(|s| std::cmp::Reverse(s.samples));
    symbols
}

/// A run's samples: the total, per category in [`CATEGORIES`]' order, and unresolved.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    /// Every sample.
    pub total: u64,
    /// Per category, in [`CATEGORIES`]' order.
    pub by_category: [u64; 6],
    /// Samples perf could not name.
    pub unresolved: u64,
}

/// The totals of a run's symbols.
pub fn totals(symbols: &[Symbol]) -> Totals {
    let mut t = Totals::default();
    for s in symbols {
        t.total += s.samples;
        if let Some(i) = CATEGORIES.iter().position(|(c, _)| *c == s.category) {
            t.by_category[i] += s.samples;
        }
        if s.name.is_none() {
            t.unresolved += s.samples;
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_counts_for_the_crate_of_its_type_or_trait() {
        assert_eq!(categorize("[kernel.kallsyms]", "tcp_sendmsg"), Category::Kernel);
        assert_eq!(categorize("server-hyper", "ring_core_0_17_x25519_scalar_mult"), Category::Crypto);
        assert_eq!(categorize("server-hyper", "fiat_25519_carry_mul"), Category::Crypto);
        assert_eq!(categorize("libc.so.6", "sha256_block"), Category::Rest, "a C name outside the server's binary");
        assert_eq!(
            categorize("server-hyper", "<rustls::client::ClientConnection as core::ops::Deref>::deref"),
            Category::Rustls
        );
        assert_eq!(
            categorize("server-hyper", "<alloc::vec::Vec<u8> as rustls::msgs::codec::Codec>::encode"),
            Category::Rustls
        );
        assert_eq!(
            categorize("server-hyper", "core::ptr::drop_in_place<tokio_rustls::client::TlsStream<T>>"),
            Category::Glue
        );
        assert_eq!(categorize("libc.so.6", "__memmove_avx_unaligned_erms"), Category::Alloc);
        assert_eq!(categorize("server-axum", "__rustc::__rust_alloc"), Category::Alloc);
        assert_eq!(categorize("server-axum", "hyper::proto::h1::role::parse_headers"), Category::Rest);
    }

    #[test]
    fn perfs_report_lines_become_symbols_most_samples_first() {
        let report = "# Samples: 3K of event 'cpu-clock'\n#\n\
                      \t  10\tserver-hyper     \t[.] rustls::conn::ConnectionCommon::process\n\
                      \t 120\t[kernel.kallsyms]\t[k] tcp_sendmsg\n\
                      \t   4\tserver-hyper     \t[.] 0x00000000001a2b3c\n";
        let s = parse_report(report);
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].samples, s[0].category), (120, Category::Kernel));
        assert_eq!(s[1].category, Category::Rustls);
        assert_eq!(s[2].name, None);
        let t = totals(&s);
        assert_eq!((t.total, t.unresolved, t.by_category[1], t.by_category[3]), (134, 4, 120, 10));
    }
}
