//! Who is on the other end of a request, and which forwarding headers we believe.
//!
//! The client's address is the peer address, or — only when the peer is one of
//! `TRUSTED_PROXIES` — the address that proxy says it forwarded for. The site's own origin
//! (for the cross-site check on every POST) is `PUBLIC_ORIGIN` when it is set; otherwise the
//! `Host` header with the scheme the app serves (plain `http`: TLS ends at the proxy), and
//! only a trusted peer may say otherwise through `Forwarded` or `X-Forwarded-Host` /
//! `X-Forwarded-Proto`. Scheme, host and port are all compared.
//!
//! Forwarding headers are written by whoever sends the request, so they are believed only from
//! a peer the operator listed. Anything else would let a client choose the IP that per-IP
//! limits count, that the devices page shows, and the origin a POST is checked against.
//! [`Frontend`] holds both settings; [`ClientInfo`] is what handlers ask for.

use std::future::{ready, Ready};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use actix_web::dev::Payload;
use actix_web::http::{header, Uri};
use actix_web::{web, FromRequest, HttpRequest};
use ipnet::IpNet;

use crate::domain::ClientInfo;

/// A web origin: scheme, host and port (the scheme's default port when none is written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteOrigin {
    scheme: String,
    host: String,
    port: u16,
}

impl SiteOrigin {
    /// Parse `scheme://host[:port]` (an `SiteOrigin` header, or `PUBLIC_ORIGIN`, which may end in
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

impl std::fmt::Display for SiteOrigin {
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
    pub public_origin: Option<SiteOrigin>,
    /// `TRUSTED_PROXIES`: the peers whose forwarding headers count.
    pub trusted_proxies: TrustedProxies,
}

impl Frontend {
    /// The site's own origin for `req`, or `None` if it cannot be told (no usable `Host`).
    pub fn own_origin(&self, req: &HttpRequest) -> Option<SiteOrigin> {
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
        SiteOrigin::from_host(&scheme, &host?)
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

/// The `TRUSTED_PROXIES` setting: addresses and CIDR blocks whose forwarding headers count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parse a comma-separated list of IP addresses and CIDR blocks (`10.0.0.0/8, ::1`). An
    /// empty list trusts nobody. The error names the entry that is neither.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                IpNet::from_str(entry)
                    .or_else(|_| IpAddr::from_str(entry).map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is not an IP address or CIDR block"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The peer's address (unspecified if the transport has none), IPv4-mapped IPv6 unmapped.
pub fn peer_ip(req: &HttpRequest) -> IpAddr {
    req.peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip().to_canonical())
}

/// Whether the request came straight from a trusted proxy, so its forwarding headers count.
pub fn from_trusted_proxy(req: &HttpRequest, trusted: &TrustedProxies) -> bool {
    !trusted.is_empty() && trusted.contains(peer_ip(req))
}

/// The client's address: the peer address, or, when the peer is a trusted proxy, the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
///
/// Right-most, because each proxy appends the address it received the request from: entries
/// to the left of the first untrusted one were written by the client and prove nothing. An
/// entry that is not an address ends the walk at the last address that was vouched for.
pub fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> IpAddr {
    let mut ip = peer_ip(req);
    if !trusted.contains(ip) {
        return ip;
    }
    // Several X-Forwarded-For headers read as one list, in order.
    let entries: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for entry in entries.into_iter().rev() {
        let Some(hop) = parse_hop(entry.trim()) else {
            break;
        };
        ip = hop;
        if !trusted.contains(hop) {
            break;
        }
    }
    ip
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:80`, `[::1]:80`).
/// The unspecified addresses (`0.0.0.0`, `::`) and the broadcast address are no client's: a
/// proxy that writes one does not know the client, and they would pool every such request
/// under one per-IP allowance.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    IpAddr::from_str(entry)
        .or_else(|_| SocketAddr::from_str(entry).map(|a| a.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
        .filter(|ip| !ip.is_unspecified() && *ip != IpAddr::V4(Ipv4Addr::BROADCAST))
}

/// The client's address as an extractor: [`client_ip`] with the app's `TRUSTED_PROXIES` (the
/// registered [`Frontend`]; without one, nobody is trusted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The client address of `req`.
    pub fn of(req: &HttpRequest) -> Self {
        Self(match req.app_data::<web::Data<Frontend>>() {
            Some(frontend) => client_ip(req, &frontend.trusted_proxies),
            None => peer_ip(req),
        })
    }
}

impl FromRequest for ClientIp {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}

/// The client's IP address and user agent, for the activity page and the devices page. An
/// extractor, so handlers just ask for it.
impl FromRequest for ClientInfo {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(client_info(req)))
    }
}

/// The `ClientInfo` of `req`: its client address (`ClientIp`) and bounded user agent.
pub fn client_info(req: &HttpRequest) -> ClientInfo {
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    ClientInfo::new(ClientIp::of(req).0.to_string(), user_agent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn origin(text: &str) -> SiteOrigin {
        SiteOrigin::parse(text).expect(text)
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
            assert!(SiteOrigin::parse(bad).is_none(), "{bad}");
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

    fn request(peer: &str, forwarded_for: &[&str]) -> HttpRequest {
        let mut req = TestRequest::default().peer_addr(peer.parse().expect("peer"));
        for value in forwarded_for {
            req = req.append_header(("x-forwarded-for", *value));
        }
        req.to_http_request()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn parses_addresses_and_blocks() {
        let t = TrustedProxies::parse(" 10.0.0.0/8, 192.168.1.7 ,::1,, fd00::/8").expect("list");
        assert!(t.contains(ip("10.1.2.3")));
        assert!(t.contains(ip("192.168.1.7")));
        assert!(!t.contains(ip("192.168.1.8")));
        assert!(t.contains(ip("::1")));
        assert!(t.contains(ip("fd00::5")));
        assert!(t.contains(ip("::ffff:10.9.9.9")), "IPv4-mapped IPv6");
        assert!(TrustedProxies::parse("").expect("empty").is_empty());
        let err = TrustedProxies::parse("10.0.0.1, proxy.local").expect_err("a name");
        assert!(err.contains("proxy.local"), "{err}");
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn untrusted_peers_are_taken_at_their_word_only() {
        let none = TrustedProxies::default();
        let req = request("203.0.113.9:5000", &["198.51.100.1"]);
        assert_eq!(client_ip(&req, &none), ip("203.0.113.9"));
        let other = TrustedProxies::parse("10.0.0.1").expect("list");
        assert_eq!(client_ip(&req, &other), ip("203.0.113.9"));
    }

    #[test]
    fn trusted_proxies_name_the_right_most_untrusted_hop() {
        let t = TrustedProxies::parse("10.0.0.0/8").expect("list");
        // The client forged the first entry; the proxy appended the real one.
        let req = request("10.0.0.1:5000", &["1.1.1.1, 198.51.100.7"]);
        assert_eq!(client_ip(&req, &t), ip("198.51.100.7"));
        // Two proxies in a row, over two headers, with a port.
        let req = request("10.0.0.1:5000", &["1.1.1.1", "198.51.100.7:443, 10.0.0.2"]);
        assert_eq!(client_ip(&req, &t), ip("198.51.100.7"));
        // No header: the proxy itself.
        let req = request("10.0.0.1:5000", &[]);
        assert_eq!(client_ip(&req, &t), ip("10.0.0.1"));
        // Garbage stops the walk at the last vouched-for address.
        let req = request("10.0.0.1:5000", &["1.1.1.1, not-an-ip, 10.0.0.3"]);
        assert_eq!(client_ip(&req, &t), ip("10.0.0.3"));
        let req = request("10.0.0.1:5000", &["[2001:db8::1]:80"]);
        assert_eq!(client_ip(&req, &t), ip("2001:db8::1"));
        // Addresses that are no client's end the walk like garbage.
        for nobody in ["0.0.0.0", "::", "255.255.255.255", "[::]:80"] {
            let req = request("10.0.0.1:5000", &[&format!("198.51.100.7, {nobody}")]);
            assert_eq!(client_ip(&req, &t), ip("10.0.0.1"), "{nobody}");
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #[test]
            fn any_forwarded_for_names_an_address_without_panicking(header in "[ -~]{0,120}") {
                let trusted = TrustedProxies::parse("10.0.0.0/8").expect("list");
                let req = actix_web::test::TestRequest::default()
                    .peer_addr("10.0.0.1:5000".parse().expect("peer"))
                    .insert_header(("x-forwarded-for", header.as_str()))
                    .to_http_request();
                let ip = client_ip(&req, &trusted);
                prop_assert!(!ip.is_unspecified());
            }

            #[test]
            fn accepted_origins_round_trip(text in "(http|https|ftp)://[a-zA-Z0-9.-]{0,20}(:[0-9]{0,6})?/?") {
                if let Some(origin) = SiteOrigin::parse(&text) {
                    prop_assert_eq!(SiteOrigin::parse(&origin.to_string()), Some(origin));
                }
            }

            #[test]
            fn any_trusted_proxies_value_parses_or_names_the_entry(list in "[ -~]{0,60}") {
                if let Err(problem) = TrustedProxies::parse(&list) {
                    prop_assert!(problem.contains("is not an IP address or CIDR block"));
                }
            }
        }
    }
}
