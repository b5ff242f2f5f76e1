//! The site's own origin, for the cross-site check on every POST.
//!
//! The origin browsers see is `PUBLIC_ORIGIN` when it is set. Otherwise it is the `Host`
//! header with the scheme the app serves (plain `http`: TLS ends at the proxy), and only a
//! peer in `TRUSTED_PROXIES` may say otherwise through `Forwarded` or `X-Forwarded-Host` /
//! `X-Forwarded-Proto`. Scheme, host and port are all compared.

use actix_web::http::{header, Uri};
use actix_web::HttpRequest;

use crate::client_ip::{from_trusted_proxy, TrustedProxies};

/// A web origin: scheme, host and port (the scheme's default port when none is written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// Parse `scheme://host[:port]` (an `Origin` header, or `PUBLIC_ORIGIN`, which may end in
    /// one `/`). Only `http` and `https`; no user info, path, query or fragment.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.strip_suffix('/').unwrap_or(text);
        let uri: Uri = text.parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let authority = uri.authority()?;
        if authority.as_str().contains('@') || !matches!(uri.path(), "" | "/") {
            return None;
        }
        if uri.query().is_some() || text.contains('#') {
            return None;
        }
        Self::new(&scheme, authority.host(), port_of(authority)?)
    }

    /// The origin of `host` (a `Host` header value: `name[:port]`) under `scheme`.
    fn from_host(scheme: &str, host: &str) -> Option<Self> {
        let authority: actix_web::http::uri::Authority = host.trim().parse().ok()?;
        if authority.as_str().contains('@') {
            return None;
        }
        Self::new(
            &scheme.to_ascii_lowercase(),
            authority.host(),
            port_of(&authority)?,
        )
    }

    fn new(scheme: &str, host: &str, port: Option<u16>) -> Option<Self> {
        let default_port = match scheme {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        if host.is_empty() {
            return None;
        }
        Some(Self {
            scheme: scheme.to_owned(),
            host: host.to_ascii_lowercase(),
            port: port.unwrap_or(default_port),
        })
    }
}

/// The port written in `authority`: `Some(None)` when there is none, `None` when the one
/// written is no port (`:99999`, `:`), which makes the whole origin invalid rather than
/// quietly the scheme's default.
#[allow(clippy::option_option)] // "no port" and "not a port" are different answers
fn port_of(authority: &actix_web::http::uri::Authority) -> Option<Option<u16>> {
    match authority.as_str().rsplit_once(':') {
        // An IPv6 literal's colons are inside its brackets.
        Some((_, after)) if !after.contains(']') => {
            // Digits only (`u16::from_str` would take `+80`), and no port 0.
            let digits = !after.is_empty() && after.bytes().all(|b| b.is_ascii_digit());
            let port = after.parse::<u16>().ok().filter(|&p| digits && p != 0)?;
            Some(Some(port))
        }
        _ => Some(None),
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let default = if self.scheme == "https" { 443 } else { 80 };
        write!(f, "{}://{}", self.scheme, self.host)?;
        if self.port != default {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// How browsers reach the app: `PUBLIC_ORIGIN` and `TRUSTED_PROXIES`. Shared with handlers and
/// extractors as `web::Data<Frontend>`.
#[derive(Debug, Clone, Default)]
pub struct Frontend {
    /// `PUBLIC_ORIGIN`: the origin browsers see, if set.
    pub public_origin: Option<Origin>,
    /// `TRUSTED_PROXIES`: the peers whose forwarding headers count.
    pub trusted_proxies: TrustedProxies,
}

impl Frontend {
    /// The site's own origin for `req`, or `None` if it cannot be told (no usable `Host`).
    pub fn own_origin(&self, req: &HttpRequest) -> Option<Origin> {
        if let Some(origin) = &self.public_origin {
            return Some(origin.clone());
        }
        let headers = req.headers();
        let mut scheme = "http".to_owned();
        let mut host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            // HTTP/2 carries the host in the URI, not in a header.
            .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()));
        if from_trusted_proxy(req, &self.trusted_proxies) {
            let (fwd_host, fwd_proto) = forwarded(req);
            if let Some(h) = fwd_host {
                host = Some(h);
            }
            if let Some(p) = fwd_proto {
                scheme = p;
            }
        }
        Origin::from_host(&scheme, &host?)
    }
}

/// Host and scheme as the trusted proxy forwarded them: `Forwarded` first, else
/// `X-Forwarded-Host` / `X-Forwarded-Proto`. Of a list, the right-most element: the one the
/// trusted peer wrote itself (anything left of it came from further away).
fn forwarded(req: &HttpRequest) -> (Option<String>, Option<String>) {
    let headers = req.headers();
    let last = |name: &str| -> Option<String> {
        headers
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .last()
            .map(str::to_owned)
    };
    if let Some(element) = last("forwarded") {
        let mut host = None;
        let mut proto = None;
        for pair in element.split(';') {
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"').to_owned();
            match name.trim().to_ascii_lowercase().as_str() {
                "host" => host = Some(value),
                "proto" => proto = Some(value),
                _ => {}
            }
        }
        if host.is_some() || proto.is_some() {
            return (host, proto);
        }
    }
    (last("x-forwarded-host"), last("x-forwarded-proto"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn origin(text: &str) -> Origin {
        Origin::parse(text).expect(text)
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert_eq!(
            origin("https://Portal.Example.com"),
            origin("https://portal.example.com:443/")
        );
        assert_eq!(origin("http://a.example"), origin("http://a.example:80"));
        assert_ne!(origin("http://a.example"), origin("https://a.example"));
        assert_ne!(origin("http://a.example:8080"), origin("http://a.example"));
        assert_eq!(origin("http://[::1]:8080").to_string(), "http://[::1]:8080");
        assert_eq!(origin("http://[::1]").to_string(), "http://[::1]");
        assert_eq!(
            origin("https://a.example:443").to_string(),
            "https://a.example"
        );
        for bad in [
            "null",
            "a.example",
            "ftp://a.example",
            "https://user@a.example",
            "https://a.example/path",
            "https://a.example?q",
            "https://a.example#f",
            "https://",
            "https://a.example:99999",
            "https://a.example:",
            "https://a.example:8x",
            "http://[::1]:70000",
            "https://a.example:+443",
            "https://a.example:0",
            "",
        ] {
            assert!(Origin::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let req = |peer: &str| {
            TestRequest::default()
                .peer_addr(peer.parse().expect("peer"))
                .insert_header(("host", "10.0.0.5:8080"))
                .insert_header(("x-forwarded-host", "evil.example, portal.example.com"))
                .insert_header(("x-forwarded-proto", "https"))
                .to_http_request()
        };
        let frontend = Frontend {
            public_origin: None,
            trusted_proxies: TrustedProxies::parse("10.0.0.1").expect("list"),
        };
        assert_eq!(
            frontend.own_origin(&req("10.0.0.1:4000")),
            Some(origin("https://portal.example.com"))
        );
        assert_eq!(
            frontend.own_origin(&req("203.0.113.1:4000")),
            Some(origin("http://10.0.0.5:8080"))
        );
        let forwarded = TestRequest::default()
            .peer_addr("10.0.0.1:4000".parse().expect("peer"))
            .insert_header(("host", "10.0.0.5:8080"))
            .insert_header((
                "forwarded",
                "for=1.2.3.4;host=evil.example, for=5.6.7.8;host=\"portal.example.com\";proto=https",
            ))
            .to_http_request();
        assert_eq!(
            frontend.own_origin(&forwarded),
            Some(origin("https://portal.example.com"))
        );
        let public = Frontend {
            public_origin: Some(origin("https://www.example.org")),
            trusted_proxies: TrustedProxies::default(),
        };
        assert_eq!(
            public.own_origin(&req("10.0.0.1:4000")),
            Some(origin("https://www.example.org"))
        );
    }
}
