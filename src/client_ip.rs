//! Who is on the other end of a request: the peer address, or — only when the peer is one of
//! `TRUSTED_PROXIES` — the address that proxy says it forwarded for.
//!
//! Forwarding headers are written by whoever sends the request, so they are believed only from
//! a peer the operator listed. Anything else would let a client choose the IP that per-IP
//! limits count and that the devices page shows.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use ipnet::IpNet;

use crate::origin::Frontend;

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
fn parse_hop(entry: &str) -> Option<IpAddr> {
    IpAddr::from_str(entry)
        .or_else(|_| SocketAddr::from_str(entry).map(|a| a.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
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

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

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
    }
}
