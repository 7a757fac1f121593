//! Which address a request really came from.
//!
//! Behind a load balancer the TCP peer is the proxy, and the client is named in
//! `X-Forwarded-For`. That header is written by whoever sends it, so it is believed only as far
//! as it was appended by proxies we trust: starting from the TCP peer, walk the header from the
//! right, skipping trusted proxies; the first untrusted hop is the client. The leftmost entry is
//! never trusted on its own — a client can put anything there.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::http::HeaderMap;

/// Proxies whose `X-Forwarded-For` entries we believe: single addresses or CIDR ranges.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    ranges: Vec<IpRange>,
}

#[derive(Debug, Clone, Copy)]
struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// `::ffff:1.2.3.4` is 1.2.3.4: dual-stack listeners report IPv4 peers that way.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl TrustedProxies {
    /// Parses entries like `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let ranges = entries
            .iter()
            .map(|entry| {
                let entry = entry.as_ref().trim();
                let (addr, prefix) = match entry.split_once('/') {
                    Some((addr, prefix)) => (addr, Some(prefix)),
                    None => (entry, None),
                };
                let network = canonical(
                    IpAddr::from_str(addr)
                        .map_err(|_| format!("`{entry}` is not an IP address or CIDR range"))?,
                );
                let max = if network.is_ipv4() { 32 } else { 128 };
                let prefix = match prefix {
                    None => max,
                    Some(p) => p
                        .parse::<u8>()
                        .ok()
                        .filter(|p| *p <= max)
                        .ok_or_else(|| format!("`{entry}` has an invalid prefix length"))?,
                };
                Ok(IpRange { network, prefix })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { ranges })
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.ranges.iter().any(|range| range.contains(ip))
    }

    /// The client's address for a request from `peer` with these headers.
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer.ip());
        if !self.trusts(client) {
            return client;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            let Ok(ip) = IpAddr::from_str(hop.trim()) else {
                // A garbled entry: nothing left of it can be believed.
                break;
            };
            client = canonical(ip);
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
        h
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 4000)
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        let ip = trusted.client_ip(peer("203.0.113.9"), &headers("1.1.1.1"));
        assert_eq!(ip, "203.0.113.9".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8", "127.0.0.1"]).unwrap();
        // The client forged "6.6.6.6"; our proxies appended the real address and each other.
        let ip = trusted.client_ip(
            peer("127.0.0.1"),
            &headers("6.6.6.6, 198.51.100.7, 10.1.2.3"),
        );
        assert_eq!(ip, "198.51.100.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn no_trusted_proxies_means_the_peer() {
        let ip = TrustedProxies::default().client_ip(peer("127.0.0.1"), &headers("9.9.9.9"));
        assert_eq!(ip, "127.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn mapped_ipv4_and_bad_entries() {
        let trusted = TrustedProxies::parse(&["127.0.0.0/8"]).unwrap();
        let ip = trusted.client_ip(peer("::ffff:127.0.0.1"), &headers("garbage, 192.0.2.1"));
        assert_eq!(ip, "192.0.2.1".parse::<IpAddr>().unwrap());
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(&["not-an-ip"]).is_err());
    }
}
