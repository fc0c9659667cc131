//! Container networking below the daemon, one job per module: netlink (links, addresses,
//! routes over rtnetlink), network namespaces kept as files, the bridge driver's plumbing,
//! IPAM, iptables laid out as Docker's, the embedded DNS server, and starting docker-proxy.
//! Nothing here knows dockerd's types: the daemon's network service drives these.

pub mod ipam;
pub mod portspec;
pub mod iptables;
pub mod portmap;
pub mod bridge;
pub mod netlink;
pub mod netns;
pub mod dns;
pub mod proxy;

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address with its prefix length: `172.18.0.1/16` (an interface address) or, masked,
/// `172.18.0.0/16` (a subnet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn new(addr: IpAddr, prefix: u8) -> Option<IpNet> {
        (prefix <= max_prefix(&addr)).then_some(IpNet { addr, prefix })
    }

    /// The subnet: host bits cleared.
    pub fn network(&self) -> IpNet {
        IpNet { addr: from_bits(&self.addr, to_bits(&self.addr) & self.mask()), prefix: self.prefix }
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && to_bits(ip) & self.mask() == to_bits(&self.addr) & self.mask()
    }

    /// Whether the two share any address.
    pub fn overlaps(&self, other: &IpNet) -> bool {
        self.contains(&other.addr) || other.contains(&self.addr)
    }

    /// The address `n` places after the subnet's first (None past its end).
    pub fn nth(&self, n: u128) -> Option<IpAddr> {
        let host_bits = max_prefix(&self.addr) - self.prefix;
        if host_bits < 128 && n >> host_bits != 0 {
            return None;
        }
        Some(from_bits(&self.addr, (to_bits(&self.addr) & self.mask()) + n))
    }

    /// How far `ip` is from the subnet's first address.
    pub fn offset_of(&self, ip: &IpAddr) -> Option<u128> {
        self.contains(ip).then(|| to_bits(ip) - (to_bits(&self.addr) & self.mask()))
    }

    /// The number of addresses (saturating at u128::MAX for a /0 in IPv6).
    pub fn size(&self) -> u128 {
        let host_bits = max_prefix(&self.addr) - self.prefix;
        if host_bits >= 128 { u128::MAX } else { 1u128 << host_bits }
    }

    fn mask(&self) -> u128 {
        let bits = max_prefix(&self.addr) as u32;
        let host_bits = bits - self.prefix as u32;
        let all = if bits == 128 { u128::MAX } else { (1u128 << bits) - 1 };
        if host_bits >= 128 { 0 } else { all & !((1u128 << host_bits) - 1) }
    }
}

fn max_prefix(ip: &IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

fn to_bits(ip: &IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u32::from(*v4) as u128,
        IpAddr::V6(v6) => u128::from(*v6),
    }
}

fn from_bits(like: &IpAddr, bits: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4((bits as u32).into()),
        IpAddr::V6(_) => IpAddr::V6(bits.into()),
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<IpNet, String> {
        let bad = || format!("invalid CIDR address: {s}");
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        IpNet::new(addr, prefix).ok_or_else(bad)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A published port's transport protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
}

impl std::str::FromStr for Proto {
    type Err = String;

    fn from_str(s: &str) -> Result<Proto, String> {
        match s {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "sctp" => Ok(Proto::Sctp),
            _ => Err(format!("unknown protocol: {s}")),
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_hold_their_addresses() {
        let net: IpNet = "172.18.5.9/16".parse().unwrap();
        assert_eq!(net.network().to_string(), "172.18.0.0/16");
        assert!(net.contains(&"172.18.255.255".parse().unwrap()));
        assert!(!net.contains(&"172.19.0.0".parse().unwrap()));
        assert_eq!(net.nth(2), Some("172.18.0.2".parse().unwrap()));
        assert_eq!(net.nth(65536), None);
        assert_eq!(net.offset_of(&"172.18.1.0".parse().unwrap()), Some(256));
        assert!(net.overlaps(&"172.0.0.0/8".parse().unwrap()));
        assert!(!net.overlaps(&"172.19.0.0/16".parse().unwrap()));
        let v6: IpNet = "fd00:1::5/64".parse().unwrap();
        assert_eq!(v6.network().to_string(), "fd00:1::/64");
        assert_eq!(v6.nth(1), Some("fd00:1::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("::/0".parse::<IpNet>().unwrap().contains(&"fe80::1".parse().unwrap()));
        assert_eq!("0.0.0.0/0".parse::<IpNet>().unwrap().size(), 1 << 32);
    }
}
