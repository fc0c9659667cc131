//! The bridge driver's kernel plumbing: the bridge itself, and a veth pair per endpoint with
//! one end a port of the bridge and the other the container's `eth0` (or `eth1`, ...), all
//! over rtnetlink ([`super::netlink`]).
//!
//! [`attach`] is on the container-start path, so it keeps round trips few: the veth pair is
//! made in one request with the container's end made directly inside the container's
//! namespace (IFLA_NET_NS_FD in the peer's attributes) under its final name, MAC and MTU,
//! both ends up; then one socket opened in that namespace sends every address and route in
//! one datagram. The kernel makes both ends or neither, and anything failing after that
//! deletes the host end, which takes the container's end with it: no half-made veth is left.

use super::netlink::{Netlink, NewLink};
use super::IpNet;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::BorrowedFd;

/// Makes the bridge `name` unless it exists, gives it the addresses of `addrs` it lacks and
/// brings it up. Returns whether it was made. The bridge gets `mtu` when given (else a new
/// one has the kernel's 1500 and an existing one keeps its own); a new one also gets a fixed
/// random MAC, so its address does not follow its ports as they come and go. A link of that
/// name that is not a bridge is an error, and is left alone.
pub fn ensure_bridge(name: &str, addrs: &[IpNet], mtu: Option<u32>) -> io::Result<bool> {
    let mut nl = Netlink::open()?;
    let (index, created) = match nl.link(name)? {
        Some(link) if link.kind.as_deref() != Some("bridge") => return Err(not_a_bridge(name)),
        Some(link) => {
            if let Some(mtu) = mtu.filter(|&m| m != link.mtu) {
                nl.set_mtu(link.index, mtu).map_err(|e| io::Error::new(e.kind(), format!("failed to set the MTU of bridge {name} to {mtu}: {e}")))?;
            }
            (link.index, false)
        }
        None => {
            nl.create_bridge(&NewLink { name, mtu, mac: Some(random_mac()), up: true, ..NewLink::default() })?;
            (nl.index(name)?, true)
        }
    };
    let configured = (|| -> io::Result<()> {
        let have = nl.addrs(index)?;
        for addr in addrs.iter().filter(|a| !have.contains(a)) {
            nl.add_addr(index, addr).map_err(|e| io::Error::new(e.kind(), format!("failed to add address {addr} to bridge {name}: {e}")))?;
        }
        if !created {
            nl.set_up(index, true)?;
        }
        Ok(())
    })();
    if let Err(e) = configured {
        if created {
            let _ = nl.delete_link(index);
        }
        return Err(e);
    }
    Ok(created)
}

/// Docker's error for a bridge name taken by another kind of link.
fn not_a_bridge(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::AlreadyExists, format!("existing interface {name} is not a bridge"))
}

/// Deletes the bridge `name` (its ports are released, not deleted). Ok when there is none;
/// a link of that name that is not a bridge is left alone and an error.
pub fn remove_bridge(name: &str) -> io::Result<()> {
    let mut nl = Netlink::open()?;
    match nl.link(name)? {
        None => Ok(()),
        Some(link) if link.kind.as_deref() != Some("bridge") => Err(not_a_bridge(name)),
        Some(link) => match nl.delete_link(link.index) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            r => r,
        },
    }
}

/// One endpoint's veth pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VethSpec {
    /// The bridge the host end becomes a port of.
    pub bridge: String,
    /// The host end's name ([`veth_name`]).
    pub host_name: String,
    /// The container end's name in its namespace: eth0, eth1, ...
    pub ifname: String,
    /// The container end's MAC ([`mac_from_ip`] or `--mac-address`).
    pub mac: [u8; 6],
    /// The container end's addresses (IPv4 and IPv6).
    pub addrs: Vec<IpNet>,
    /// A default route via each; none on an internal network.
    pub gateways: Vec<IpAddr>,
    /// Both ends' MTU (the kernel's default when None).
    pub mtu: Option<u32>,
    /// Hairpin mode on the host end: Docker sets it when the userland proxy is off, so a
    /// container reaches its own published ports (hairpin NAT) back through its bridge port.
    pub hairpin: bool,
}

/// Connects the namespace `netns` to a bridge as `spec` says. On any failure nothing of
/// it is left behind.
pub fn attach(netns: BorrowedFd, spec: &VethSpec) -> io::Result<()> {
    let mut host = Netlink::open()?;
    let bridge = match host.link(&spec.bridge)? {
        Some(link) if link.kind.as_deref() == Some("bridge") => link,
        Some(_) => return Err(not_a_bridge(&spec.bridge)),
        None => return Err(io::Error::new(io::ErrorKind::NotFound, format!("bridge {} not found", spec.bridge))),
    };
    let host_end = NewLink { name: &spec.host_name, mtu: spec.mtu, master: Some(bridge.index), up: true, ..NewLink::default() };
    let container_end = NewLink { name: &spec.ifname, mtu: spec.mtu, mac: Some(spec.mac), up: false, netns: Some(netns), master: None };
    // Docker's words for this failure.
    host.create_veth(&host_end, &container_end)
        .map_err(|e| io::Error::new(e.kind(), format!("failed to add the host ({}) <=> sandbox ({}) pair interfaces: {e}", spec.host_name, spec.ifname)))?;
    if let Err(e) = configure(&mut host, netns, spec) {
        // The container's end goes with the host's.
        let _ = host.delete_link_named(&spec.host_name);
        return Err(e);
    }
    Ok(())
}

/// What follows the veth pair's creation: hairpin mode, then the container end up, its
/// addresses and default routes, all in one request datagram.
fn configure(host: &mut Netlink, netns: BorrowedFd, spec: &VethSpec) -> io::Result<()> {
    if spec.hairpin {
        let index = host.index(&spec.host_name)?;
        host.set_hairpin(index, true).map_err(|e| io::Error::new(e.kind(), format!("failed to set hairpin mode on {}: {e}", spec.host_name)))?;
    }
    let mut inside = Netlink::open_in(netns)?;
    let index = inside.index(&spec.ifname)?;
    // Up first: IPv4 adds the subnet's route, and a gateway is reachable, only on a link up.
    let mut msgs = vec![Netlink::set_up_message(index, true)];
    msgs.extend(spec.addrs.iter().map(|a| Netlink::add_addr_message(index, a)));
    msgs.extend(spec.gateways.iter().map(|gw| Netlink::default_route_message(*gw, Some(index))));
    inside.batch(&mut msgs).map_err(|e| {
        let addrs: Vec<String> = spec.addrs.iter().map(|a| a.to_string()).collect();
        io::Error::new(e.kind(), format!("failed to set up {} with {} via {:?}: {e}", spec.ifname, addrs.join(", "), spec.gateways))
    })
}

/// Deletes the container's end `ifname` in `netns` (the host end goes with it). Ok when it
/// is already gone.
pub fn detach(netns: BorrowedFd, ifname: &str) -> io::Result<()> {
    Netlink::open_in(netns)?.delete_link_named(ifname).map(|_| ())
}

/// Deletes the link `name` of dockerd's namespace (a veth's host end, ...). Ok when there is none.
pub fn remove_link(name: &str) -> io::Result<()> {
    Netlink::open()?.delete_link_named(name).map(|_| ())
}

/// The MAC Docker derives from a container's IPv4 address: 02:42 and the address's bytes.
pub fn mac_from_ip(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

/// A random unicast, locally administered MAC.
pub fn random_mac() -> [u8; 6] {
    let mut mac = random_bytes::<6>();
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

/// A host end's name as Docker makes them: "veth" and 7 random hex digits.
pub fn veth_name() -> String {
    let hex: String = random_bytes::<4>().iter().map(|b| format!("{b:02x}")).collect();
    format!("veth{}", &hex[..7])
}

/// The text form of a MAC: `02:42:ac:11:00:02`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if read.is_err() {
        // No /dev/urandom (a bare chroot): the clock and the pid still make names differ.
        let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0) ^ ((std::process::id() as u128) << 64);
        for (i, x) in b.iter_mut().enumerate() {
            *x = (seed >> ((i % 16) * 8)) as u8;
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_and_names_look_like_dockers() {
        assert_eq!(format_mac(&mac_from_ip("172.17.0.2".parse().unwrap())), "02:42:ac:11:00:02");
        for _ in 0..20 {
            let mac = random_mac();
            assert_eq!(mac[0] & 0x03, 0x02, "{}", format_mac(&mac));
            let name = veth_name();
            assert_eq!(name.len(), 11);
            assert!(name.starts_with("veth") && name[4..].bytes().all(|c| c.is_ascii_hexdigit()), "{name}");
        }
        assert_ne!(veth_name(), veth_name());
    }
}
