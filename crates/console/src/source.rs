//! Where a viewer's connection comes from, for sessions bound to one
//! browser address (INVAPI's `white_ip`). Behind a reverse proxy the peer is
//! the proxy; only proxies the operator lists are believed about the client
//! (`X-Forwarded-For`), so a browser cannot claim an address by sending the
//! header itself.

use std::net::IpAddr;

/// An address or a CIDR block (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<IpNet, String> {
        let bad = || format!("`{s}` is not an IP address or CIDR block (e.g. 10.0.0.0/8)");
        let (a, p) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
        };
        Ok(IpNet { addr, prefix })
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |a: IpAddr| -> (u128, u32) {
            match a {
                IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
                IpAddr::V6(v) => (u128::from(v), 128),
            }
        };
        let (net, width) = bits(self.addr);
        let (ip, w) = bits(ip.to_canonical());
        if w != width {
            return false;
        }
        let shift = width - u32::from(self.prefix);
        shift >= width || (net >> shift) == (ip >> shift)
    }
}

/// The browser's address: the peer, or — when the peer is a trusted proxy —
/// the last `X-Forwarded-For` entry (read right to left) that is not itself
/// a trusted proxy. `forwarded` holds the header's values in order.
pub fn client_address(peer: IpAddr, forwarded: &[&str], trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = forwarded
        .iter()
        .flat_map(|v| v.split(','))
        .map(|h| h.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()))
        .collect::<Result<_, _>>()
        // A garbled header: believe nothing in it.
        .unwrap_or_default();
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        client = hop;
        if !is_trusted(hop) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn nets() {
        let n: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(n.contains(ip("10.200.1.2")) && !n.contains(ip("11.0.0.1")));
        assert!(!n.contains(ip("::1")));
        let one: IpNet = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        // IPv4-mapped IPv6 peers (a dual-stack listener) are IPv4.
        assert!(one.contains(ip("::ffff:192.0.2.7")));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let v6: IpNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        for bad in ["10.0.0.0/33", "nope", "1.2.3.4/", "::/129"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        // Direct connection: the header is the browser's own claim.
        assert_eq!(
            client_address(ip("203.0.113.5"), &["192.0.2.10"], &proxies),
            ip("203.0.113.5")
        );
        // Through the proxy: the address it saw.
        assert_eq!(
            client_address(ip("127.0.0.1"), &["192.0.2.10"], &proxies),
            ip("192.0.2.10")
        );
        // A browser-sent entry before the proxy's is skipped: right to left,
        // the first untrusted hop.
        assert_eq!(
            client_address(
                ip("127.0.0.1"),
                &["6.6.6.6, 192.0.2.10", "10.1.1.1"],
                &proxies
            ),
            ip("192.0.2.10")
        );
        // Nothing forwarded, or garbage: the proxy itself.
        assert_eq!(
            client_address(ip("127.0.0.1"), &[], &proxies),
            ip("127.0.0.1")
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), &["unknown"], &proxies),
            ip("127.0.0.1")
        );
        // No trusted proxies configured: always the peer.
        assert_eq!(
            client_address(ip("127.0.0.1"), &["192.0.2.10"], &[]),
            ip("127.0.0.1")
        );
    }
}
