//! IPAM as Docker's default driver does it: the address pools new networks take their
//! subnets from, and per network the addresses handed to endpoints (gateway, `--ip-range`,
//! `--aux-address`, `--ip`). Nothing is persisted here: a network's state is rebuilt from its
//! configuration and the addresses its endpoints hold ([`Space::mark_used`]).

use super::IpNet;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Docker's "Address already in use" (403).
pub const ERR_IN_USE: &str = "Address already in use";
/// Docker's "no available addresses on this pool" (503).
pub const ERR_NO_ADDRESSES: &str = "no available addresses on this pool";
/// Docker's overlap error for a requested subnet (403).
pub const ERR_POOL_OVERLAP: &str = "Pool overlaps with other one on this address space";

/// A block new networks' subnets are cut from: `base` split into subnets of prefix `size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressPool {
    pub base: IpNet,
    pub size: u8,
}

/// Docker's defaults: 172.17.0.0/16 … 172.31.0.0/16 as /16s, then 192.168.0.0/16 as /20s.
pub fn default_pools() -> Vec<AddressPool> {
    vec![
        AddressPool { base: "172.17.0.0/16".parse().expect("constant CIDR"), size: 16 },
        AddressPool { base: "172.18.0.0/15".parse().expect("constant CIDR"), size: 16 },
        AddressPool { base: "172.20.0.0/14".parse().expect("constant CIDR"), size: 16 },
        AddressPool { base: "172.24.0.0/14".parse().expect("constant CIDR"), size: 16 },
        AddressPool { base: "172.28.0.0/14".parse().expect("constant CIDR"), size: 16 },
        AddressPool { base: "192.168.0.0/16".parse().expect("constant CIDR"), size: 20 },
    ]
}

/// One `--default-address-pools base=CIDR,size=N` value (dockerd's flag and daemon.json).
pub fn parse_pool(spec: &str) -> Result<AddressPool, String> {
    let (mut base, mut size) = (None, None);
    for field in spec.split(',') {
        let (k, v) = field.split_once('=').ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"))?;
        match k.trim().to_lowercase().as_str() {
            "base" => base = Some(v.parse::<IpNet>()?),
            "size" => size = Some(v.parse::<u8>().map_err(|_| format!("invalid size value: {v}"))?),
            _ => return Err(format!("unexpected key '{k}' in '{spec}'")),
        }
    }
    let base = base.ok_or("address pool requires a base")?;
    let size = size.ok_or("address pool requires a size")?;
    if base.network() != base {
        return Err(format!("network at index 0 ({base}) is not in canonical form"));
    }
    if size < base.prefix || size > if base.addr.is_ipv4() { 32 } else { 128 } {
        return Err(format!("network at index 0 ({base}) has a smaller prefix (/{}) than the target size of that pool (/{size})", base.prefix));
    }
    Ok(AddressPool { base, size })
}

/// The first subnet of the pools (in order) that overlaps none of `in_use`; the family is
/// the pools'. Docker's errors when none is left.
pub fn pick_subnet(pools: &[AddressPool], in_use: &[IpNet], v6: bool) -> Result<IpNet, String> {
    for pool in pools.iter().filter(|p| p.base.addr.is_ipv6() == v6) {
        let count = 1u128.checked_shl((pool.size - pool.base.prefix) as u32).unwrap_or(u128::MAX);
        let step = IpNet { addr: pool.base.addr, prefix: pool.size }.size();
        let mut i = 0u128;
        while i < count {
            let Some(addr) = pool.base.nth(i.saturating_mul(step)) else { break };
            let candidate = IpNet { addr, prefix: pool.size };
            match in_use.iter().find(|u| u.overlaps(&candidate)) {
                None => return Ok(candidate),
                // Skip past a larger network in the way at once.
                Some(u) if u.prefix < candidate.prefix => {
                    let end = u.network().nth(u.size() - 1).unwrap_or(addr);
                    i = pool.base.offset_of(&end).map(|o| o / step + 1).unwrap_or(count);
                }
                Some(_) => i += 1,
            }
        }
    }
    Err(format!("could not find an available, non-overlapping IPv{} address pool among the defaults to assign to the network", if v6 { 6 } else { 4 }))
}

/// One subnet of a network and the addresses given out in it.
#[derive(Clone, Debug)]
pub struct Space {
    pub subnet: IpNet,
    /// `--ip-range`: where addresses are handed out without a request (the subnet otherwise).
    pub range: Option<IpNet>,
    pub gateway: Option<IpAddr>,
    /// `--aux-address name=ip`: never handed out.
    pub aux: BTreeMap<String, IpAddr>,
    used: BTreeSet<IpAddr>,
    /// Offset in the subnet of the last address handed out in order; the next search starts
    /// after it, so a freed address is not reused at once (Docker's serial allocation).
    last: Option<u128>,
}

impl Space {
    /// Checks the configuration as Docker's `validateIpamConfig` (its messages, joined) and
    /// reserves the gateway (`gateway`, or the range's first free address when `None` and
    /// `with_gateway`) and the auxiliary addresses.
    pub fn new(subnet: IpNet, range: Option<IpNet>, gateway: Option<IpAddr>, aux: BTreeMap<String, IpAddr>, with_gateway: bool) -> Result<Space, String> {
        let family = if subnet.addr.is_ipv4() { 4 } else { 6 };
        let mut errs = Vec::new();
        if subnet.network() != subnet {
            errs.push(format!("invalid subnet {subnet}: it should be {}", subnet.network()));
        }
        if let Some(r) = range {
            if r.addr.is_ipv4() != subnet.addr.is_ipv4() {
                errs.push(format!("invalid ip-range {r}: parent subnet is an IPv{family} block"));
            } else {
                if r.prefix < subnet.prefix {
                    errs.push(format!("invalid ip-range {r}: CIDR block is bigger than its parent subnet {subnet}"));
                }
                if r.network() != r {
                    errs.push(format!("invalid ip-range {r}: it should be {}", r.network()));
                }
                if !subnet.overlaps(&r) {
                    errs.push(format!("invalid ip-range {r}: parent subnet {subnet} doesn't contain ip-range"));
                }
            }
        }
        let check = |addr: &IpAddr| -> Option<String> {
            if addr.is_ipv4() != subnet.addr.is_ipv4() {
                Some(format!("parent subnet is an IPv{family} block"))
            } else if !subnet.contains(addr) {
                Some(format!("parent subnet {subnet} doesn't contain this address"))
            } else {
                None
            }
        };
        if let Some(e) = gateway.as_ref().and_then(check) {
            errs.push(format!("invalid gateway {}: {e}", gateway.unwrap_or(subnet.addr)));
        }
        for (name, a) in &aux {
            if let Some(e) = check(a) {
                errs.push(format!("invalid auxiliary address {name}: {e}"));
            }
        }
        if !errs.is_empty() {
            return Err(format!("invalid network config:\n{}", errs.join("\n")));
        }
        let mut s = Space { subnet, range, gateway: None, aux: BTreeMap::new(), used: BTreeSet::new(), last: None };
        // Reserved first, so the gateway never lands on one of them.
        for a in aux.values() {
            s.used.insert(*a);
        }
        s.aux = aux;
        s.gateway = match gateway {
            Some(g) => {
                s.used.insert(g);
                Some(g)
            }
            None if with_gateway => Some(s.allocate(None)?),
            None => None,
        };
        Ok(s)
    }

    /// Rebuilds a space from what a network record holds (no checks, nothing allocated but
    /// the gateway and auxiliary addresses); add endpoints' addresses with [`Space::mark_used`].
    pub fn restore(subnet: IpNet, range: Option<IpNet>, gateway: Option<IpAddr>, aux: BTreeMap<String, IpAddr>) -> Space {
        let mut used: BTreeSet<IpAddr> = aux.values().copied().collect();
        used.extend(gateway);
        let last = gateway.and_then(|g| subnet.offset_of(&g));
        Space { subnet, range, gateway, aux, used, last }
    }

    /// Records an address as taken (an endpoint found at daemon start).
    pub fn mark_used(&mut self, ip: IpAddr) {
        if self.subnet.contains(&ip) {
            self.used.insert(ip);
            let off = self.subnet.offset_of(&ip);
            if self.in_range(&ip) && off > self.last {
                self.last = off;
            }
        }
    }

    pub fn is_used(&self, ip: &IpAddr) -> bool {
        self.used.contains(ip)
    }

    fn in_range(&self, ip: &IpAddr) -> bool {
        self.range.unwrap_or(self.subnet).contains(ip)
    }

    /// Whether Docker's allocator would never hand this out: the subnet's own address, and for
    /// IPv4 its broadcast address.
    fn reserved(&self, ip: &IpAddr) -> bool {
        let off = self.subnet.offset_of(ip).unwrap_or(0);
        off == 0 || (ip.is_ipv4() && self.subnet.prefix < 31 && off == self.subnet.size() - 1)
    }

    /// Hands out `requested` (anywhere in the subnet: Docker's errors when outside or taken),
    /// or the next free address of the range after the last one handed out, wrapping around.
    pub fn allocate(&mut self, requested: Option<IpAddr>) -> Result<IpAddr, String> {
        if let Some(ip) = requested {
            if !self.subnet.contains(&ip) {
                return Err(format!("no configured subnet or ip-range contain the IP address {ip}"));
            }
            if self.used.contains(&ip) || self.reserved(&ip) {
                return Err(ERR_IN_USE.to_string());
            }
            self.used.insert(ip);
            return Ok(ip);
        }
        let range = self.range.unwrap_or(self.subnet).network();
        let range_start = self.subnet.offset_of(&range.addr).unwrap_or(0);
        let range_len = range.size().min(self.subnet.size());
        let start = match self.last {
            Some(l) if l >= range_start && l - range_start + 1 < range_len => l - range_start + 1,
            _ => 0,
        };
        // A walk over the range from `start`, wrapping. It passes at most the used and the
        // two reserved addresses before it finds a free one, so it is short unless full.
        let mut tried = 0u128;
        let mut i = start;
        while tried < range_len {
            let off = range_start + i;
            if let Some(ip) = self.subnet.nth(off) {
                if !self.used.contains(&ip) && !self.reserved(&ip) {
                    self.used.insert(ip);
                    self.last = Some(off);
                    return Ok(ip);
                }
            }
            tried += 1;
            i = if i + 1 >= range_len { 0 } else { i + 1 };
            if tried > self.used.len() as u128 + 2 {
                break;
            }
        }
        Err(ERR_NO_ADDRESSES.to_string())
    }

    /// Gives an address back (the gateway and auxiliary addresses stay reserved).
    pub fn release(&mut self, ip: &IpAddr) {
        if Some(*ip) != self.gateway && !self.aux.values().any(|a| a == ip) {
            self.used.remove(ip);
        }
    }
}

/// A network's address spaces, IPv4 and IPv6, with the operations the daemon calls.
#[derive(Clone, Debug, Default)]
pub struct NetworkIpam {
    pub v4: Vec<Space>,
    pub v6: Vec<Space>,
}

impl NetworkIpam {
    fn spaces(&mut self, v6: bool) -> &mut Vec<Space> {
        if v6 { &mut self.v6 } else { &mut self.v4 }
    }

    /// An address of the family asked: `requested` from the space that holds it, else the
    /// next free one of the first space with room.
    pub fn allocate(&mut self, v6: bool, requested: Option<IpAddr>) -> Result<IpAddr, String> {
        let spaces = self.spaces(v6);
        if let Some(ip) = requested {
            return match spaces.iter_mut().find(|s| s.subnet.contains(&ip)) {
                Some(s) => s.allocate(Some(ip)),
                None => Err(format!("no configured subnet or ip-range contain the IP address {ip}")),
            };
        }
        let mut last_err = ERR_NO_ADDRESSES.to_string();
        for s in spaces.iter_mut() {
            match s.allocate(None) {
                Ok(ip) => return Ok(ip),
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    pub fn release(&mut self, ip: &IpAddr) {
        for s in self.spaces(ip.is_ipv6()).iter_mut().filter(|s| s.subnet.contains(ip)) {
            s.release(ip);
        }
    }

    pub fn mark_used(&mut self, ip: IpAddr) {
        if let Some(s) = self.spaces(ip.is_ipv6()).iter_mut().find(|s| s.subnet.contains(&ip)) {
            s.mark_used(ip);
        }
    }

    /// Every subnet, IPv4 first.
    pub fn subnets(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.v4.iter().chain(self.v6.iter()).map(|s| s.subnet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn default_pools_hand_out_dockers_subnets_in_order() {
        let pools = default_pools();
        assert_eq!(pick_subnet(&pools, &[], false).unwrap(), net("172.17.0.0/16"));
        assert_eq!(pick_subnet(&pools, &[net("172.17.0.0/16")], false).unwrap(), net("172.18.0.0/16"));
        assert_eq!(pick_subnet(&pools, &[net("172.17.0.0/16"), net("172.18.5.0/24")], false).unwrap(), net("172.19.0.0/16"));
        // Every 172.x taken by one /12: the 192.168 /20s come next.
        assert_eq!(pick_subnet(&pools, &[net("172.16.0.0/12")], false).unwrap(), net("192.168.0.0/20"));
        assert_eq!(pick_subnet(&pools, &[net("172.16.0.0/12"), net("192.168.0.0/20")], false).unwrap(), net("192.168.16.0/20"));
        let all = [net("172.16.0.0/12"), net("192.168.0.0/16")];
        assert_eq!(pick_subnet(&pools, &all, false).unwrap_err(), "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network");
        assert!(pick_subnet(&pools, &[], true).is_err());
    }

    #[test]
    fn configured_pools_parse_and_split() {
        let p = parse_pool("base=10.10.0.0/16,size=24").unwrap();
        assert_eq!(p, AddressPool { base: net("10.10.0.0/16"), size: 24 });
        assert_eq!(pick_subnet(&[p], &[net("10.10.0.0/24")], false).unwrap(), net("10.10.1.0/24"));
        assert!(parse_pool("base=10.10.0.0/16,size=8").is_err());
        assert!(parse_pool("base=10.10.0.1/16,size=24").is_err());
        assert!(parse_pool("size=24").is_err());
        let v6 = parse_pool("base=fd00:db8::/48,size=64").unwrap();
        assert_eq!(pick_subnet(&[v6], &[net("fd00:db8::/64")], true).unwrap(), net("fd00:db8:0:1::/64"));
    }

    #[test]
    fn addresses_go_out_in_order_and_freed_ones_wait() {
        let mut s = Space::new(net("10.9.0.0/24"), None, None, BTreeMap::new(), true).unwrap();
        assert_eq!(s.gateway, Some(ip("10.9.0.1")));
        assert_eq!(s.allocate(None).unwrap(), ip("10.9.0.2"));
        assert_eq!(s.allocate(None).unwrap(), ip("10.9.0.3"));
        s.release(&ip("10.9.0.2"));
        assert_eq!(s.allocate(None).unwrap(), ip("10.9.0.4"));
        assert_eq!(s.allocate(Some(ip("10.9.0.2"))).unwrap(), ip("10.9.0.2"));
        assert_eq!(s.allocate(Some(ip("10.9.0.2"))).unwrap_err(), ERR_IN_USE);
        assert_eq!(s.allocate(Some(ip("10.9.1.2"))).unwrap_err(), "no configured subnet or ip-range contain the IP address 10.9.1.2");
        assert_eq!(s.allocate(Some(ip("10.9.0.255"))).unwrap_err(), ERR_IN_USE);
        // Full: wraps, then gives up.
        let mut small = Space::new(net("10.9.0.0/30"), None, None, BTreeMap::new(), true).unwrap();
        assert_eq!(small.allocate(None).unwrap(), ip("10.9.0.2"));
        assert_eq!(small.allocate(None).unwrap_err(), ERR_NO_ADDRESSES);
        small.release(&ip("10.9.0.2"));
        assert_eq!(small.allocate(None).unwrap(), ip("10.9.0.2"));
    }

    #[test]
    fn ranges_aux_and_gateways_are_honoured() {
        let aux = BTreeMap::from([("host".to_string(), ip("10.8.1.1"))]);
        let mut s = Space::new(net("10.8.0.0/16"), Some(net("10.8.1.0/30")), Some(ip("10.8.0.1")), aux, true).unwrap();
        // The range's own first address is a host of the /16; .1 is reserved.
        assert_eq!(s.allocate(None).unwrap(), ip("10.8.1.0"));
        assert_eq!(s.allocate(None).unwrap(), ip("10.8.1.2"));
        assert_eq!(s.allocate(None).unwrap(), ip("10.8.1.3"));
        assert_eq!(s.allocate(None).unwrap_err(), ERR_NO_ADDRESSES);
        // --ip may name any free address of the subnet.
        assert_eq!(s.allocate(Some(ip("10.8.7.7"))).unwrap(), ip("10.8.7.7"));
        assert_eq!(s.allocate(Some(ip("10.8.1.1"))).unwrap_err(), ERR_IN_USE);
        s.release(&ip("10.8.1.1"));
        assert!(s.is_used(&ip("10.8.1.1")));
        let e = Space::new(net("10.8.0.1/16"), Some(net("10.9.0.0/24")), Some(ip("10.7.0.1")), BTreeMap::from([("x".into(), ip("fd00::1"))]), true).unwrap_err();
        assert_eq!(
            e,
            "invalid network config:\ninvalid subnet 10.8.0.1/16: it should be 10.8.0.0/16\ninvalid ip-range 10.9.0.0/24: parent subnet 10.8.0.1/16 doesn't contain ip-range\ninvalid gateway 10.7.0.1: parent subnet 10.8.0.1/16 doesn't contain this address\ninvalid auxiliary address x: parent subnet is an IPv4 block"
        );
    }

    #[test]
    fn ipv6_and_rebuilt_state() {
        let mut n = NetworkIpam {
            v4: vec![Space::restore(net("10.7.0.0/24"), None, Some(ip("10.7.0.1")), BTreeMap::new())],
            v6: vec![Space::new(net("fd00:7::/64"), None, None, BTreeMap::new(), true).unwrap()],
        };
        assert_eq!(n.v6[0].gateway, Some(ip("fd00:7::1")));
        assert_eq!(n.allocate(true, None).unwrap(), ip("fd00:7::2"));
        n.mark_used(ip("10.7.0.5"));
        assert_eq!(n.allocate(false, None).unwrap(), ip("10.7.0.6"));
        assert_eq!(n.allocate(false, Some(ip("10.7.0.5"))).unwrap_err(), ERR_IN_USE);
        n.release(&ip("10.7.0.5"));
        assert_eq!(n.allocate(false, Some(ip("10.7.0.5"))).unwrap(), ip("10.7.0.5"));
        assert_eq!(n.subnets().map(|s| s.to_string()).collect::<Vec<_>>(), ["10.7.0.0/24", "fd00:7::/64"]);
    }
}
