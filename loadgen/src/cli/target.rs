//! The target URL: checked so that what loadgen connects to and sends is exactly what it was
//! given.

use http::Uri;

/// The port of an `http://` URL that names none.
const HTTP_PORT: u16 = 80;

/// The port of an `https://` URL that names none.
const HTTPS_PORT: u16 = 443;

/// A checked target URL: what loadgen connects to and sends is exactly what it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL (its authority is the Host header, its path and query the request target).
    pub uri: Uri,
    /// The host, IPv6 brackets removed, to resolve.
    pub host: String,
    /// The port given, or 80 (443 for https).
    pub port: u16,
    /// An `https://` URL: the HTTP/1.1 exchange goes over TLS, its server name the host.
    pub tls: bool,
}

/// Parses an `http://host[:port]/path?query` or `https://...` URL, refusing any that the
/// URL parser would silently change: an out-of-range or empty port (which reads as no port,
/// so port 80), a user:password@ (loadgen sends no credentials; it would only end up in the
/// Host header), a #fragment (never sent), or a missing scheme (the message gives the URL
/// to write instead); and any other scheme, saying so. An empty path is "/", as wrk and curl
/// send it.
pub fn parse_url(url: &str) -> Result<Target, String> {
    let tls = match scheme(url) {
        None => {
            let fixed = format!("http://{url}");
            return Err(format!("URL {} has no scheme: write {}", shown(url), shown(&fixed)));
        }
        Some(s) if s.eq_ignore_ascii_case("http") => false,
        Some(s) if s.eq_ignore_ascii_case("https") => true,
        Some(s) => {
            return Err(format!(
                "URL {} has the scheme {s}://: loadgen supports only http:// and https://",
                shown(url)
            ));
        }
    };
    if url.contains('#') {
        return Err(format!("{url:?} has a #fragment, which is never sent: remove it"));
    }
    let uri: Uri = url.parse().map_err(|e| format!("not a URL: {url:?} ({e})"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => return Err(format!("only http:// and https:// URLs are supported, got {other}://")),
        None => return Err(format!("not a URL: {url:?} (expected http://host[:port]/path)")),
    }
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    if authority.contains('@') {
        return Err(format!("{url:?} has a user@ part: loadgen sends no credentials, remove it"));
    }
    let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(|| format!("no host in {url:?}"))?;
    // What follows the host in the authority is nothing or ":port"; the parser reads an
    // invalid port as no port at all.
    let port = match authority.strip_prefix(host).unwrap_or_default() {
        "" if tls => HTTPS_PORT,
        "" => HTTP_PORT,
        rest => match rest.strip_prefix(':').map(str::parse::<u16>) {
            Some(Ok(port)) if port > 0 => port,
            _ => return Err(format!("{url:?}: the port must be 1 to 65535, got {:?}", rest.trim_start_matches(':'))),
        },
    };
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let uri = with_a_path(uri).map_err(|e| format!("not a URL: {url:?} ({e})"))?;
    Ok(Target { uri, host, port, tls })
}

/// `uri` with "/" for an empty path: `http://h?x=1` parses to the request target `?x=1`,
/// which no server takes, where wrk and curl send `/?x=1` (RFC 9112 3.2.1: an empty path is
/// sent as "/").
fn with_a_path(uri: Uri) -> Result<Uri, http::Error> {
    let Some(query) = uri.path_and_query().map(|p| p.as_str()).filter(|p| !p.starts_with('/')) else {
        return Ok(uri);
    };
    let fixed = format!("/{query}").parse()?;
    let mut parts = uri.into_parts();
    parts.path_and_query = Some(fixed);
    Ok(Uri::from_parts(parts)?)
}

/// The scheme of `url` (what precedes its first `://`, when that is a scheme's letters),
/// or `None`: `127.0.0.1:8080/a?u=http://b` has none.
fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))).then_some(scheme)
}

/// `s` as given, or quoted and escaped when it holds a space or a control character (which
/// could split the one line of an error message, or hide where the text ends).
fn shown(s: &str) -> String {
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) { format!("{s:?}") } else { s.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_over_65535_is_an_error_not_port_80() {
        for bad in ["http://127.0.0.1:99999/", "http://127.0.0.1:65536/", "http://127.0.0.1:0/", "http://127.0.0.1:/"] {
            let e = parse_url(bad).expect_err(bad);
            assert!(e.contains("port must be 1 to 65535"), "{bad}: {e}");
        }
        let t = parse_url("http://127.0.0.1:65535/single?x=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.uri.path_and_query().unwrap().as_str()),
            ("127.0.0.1", 65535, "/single?x=1")
        );
        assert_eq!(parse_url("http://localhost/").unwrap().port, 80);
        let v6 = parse_url("http://[::1]:8080/").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 8080));
    }

    #[test]
    fn userinfo_in_the_url_is_an_error_not_a_host_header() {
        for bad in ["http://user:pw@127.0.0.1:8080/", "http://user@127.0.0.1/"] {
            let e = parse_url(bad).expect_err(bad);
            assert!(e.contains("user@") && e.contains("no credentials"), "{e}");
        }
    }

    #[test]
    fn a_url_without_a_scheme_says_which_url_to_write_instead() {
        for (url, fixed) in [
            ("127.0.0.1:8080/single", "http://127.0.0.1:8080/single"),
            ("localhost:8080", "http://localhost:8080"),
            ("127.0.0.1:8080/a?u=http://b", "http://127.0.0.1:8080/a?u=http://b"),
        ] {
            assert_eq!(parse_url(url).unwrap_err(), format!("URL {url} has no scheme: write {fixed}"));
        }
        // A URL that could break the message's one line is quoted, escaped.
        assert_eq!(
            parse_url("127.0.0.1/a\nb").unwrap_err(),
            "URL \"127.0.0.1/a\\nb\" has no scheme: write \"http://127.0.0.1/a\\nb\""
        );
    }

    #[test]
    fn an_https_url_is_tls_on_443_unless_it_names_a_port() {
        let t = parse_url("https://127.0.0.1/").unwrap();
        assert_eq!((t.port, t.tls), (443, true));
        let t = parse_url("HTTPS://localhost:8443/a").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.tls), ("localhost", 8443, true));
        let v6 = parse_url("https://[::1]:9/").unwrap();
        assert_eq!((v6.host.as_str(), v6.tls), ("::1", true));
        assert!(!parse_url("http://127.0.0.1/").unwrap().tls);
    }

    #[test]
    fn another_scheme_says_only_http_and_https_are_supported() {
        assert_eq!(
            parse_url("ftp://127.0.0.1/").unwrap_err(),
            "URL ftp://127.0.0.1/ has the scheme ftp://: loadgen supports only http:// and https://"
        );
        assert_eq!(parse_url("HTTP://127.0.0.1:9/").map(|t| t.port), Ok(9), "a scheme is case-insensitive");
    }

    #[test]
    fn an_empty_path_is_slash_as_wrk_and_curl_send_it() {
        for (url, target) in [
            ("http://127.0.0.1:9?x=1", "/?x=1"),
            ("http://127.0.0.1:9", "/"),
            ("https://localhost?a=b&c", "/?a=b&c"),
            ("http://127.0.0.1:9/?x=1", "/?x=1"),
            ("http://127.0.0.1:9/p?x=1", "/p?x=1"),
        ] {
            let t = parse_url(url).unwrap();
            assert_eq!(t.uri.path_and_query().map(|p| p.as_str()), Some(target), "{url}");
        }
        let t = parse_url("http://[::1]:9?x=1").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.uri.authority().unwrap().as_str()), ("::1", 9, "[::1]:9"));
    }

    #[test]
    fn a_fragment_is_an_error_not_silently_dropped() {
        assert!(parse_url("http://127.0.0.1:1/a#b").unwrap_err().contains("#fragment"));
    }
}
