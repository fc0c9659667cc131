//! Host ports handed to published container ports, as Docker's port allocator hands them: per
//! protocol and host address, a named port taken once ("Bind for 0.0.0.0:8080 failed: port is
//! already allocated"), an ephemeral one from the kernel's ephemeral range, a port range
//! (`-p 8000-8010:80`) searched round-robin from after the last port it gave. Pure
//! bookkeeping; [`check_bindable`] asks the kernel whether something else holds a port now.

use super::iptables::Proto;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Mutex;

/// The ephemeral range when the kernel's cannot be read (Docker's fallback).
pub const DEFAULT_RANGE: (u16, u16) = (49153, 60999);
const PORT_RANGE_FILE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`), where Docker picks the
/// host port of `-p 80` and `-P`; [`DEFAULT_RANGE`] when it cannot be read.
pub fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string(PORT_RANGE_FILE).ok().and_then(|s| parse_range(&s)).unwrap_or(DEFAULT_RANGE)
}

fn parse_range(s: &str) -> Option<(u16, u16)> {
    let mut numbers = s.split_whitespace().map(|n| n.parse::<u16>());
    match (numbers.next(), numbers.next()) {
        (Some(Ok(begin)), Some(Ok(end))) if begin > 0 && begin <= end => Some((begin, end)),
        _ => None,
    }
}

#[derive(Default)]
struct PortMap {
    taken: HashSet<u16>,
    /// Per range searched (begin, end): the port it gave last.
    last: HashMap<(u16, u16), u16>,
}

/// The host ports in use by published ports, per protocol and host address. Shared by the
/// daemon's threads (it locks inside).
pub struct PortAllocator {
    ephemeral: (u16, u16),
    maps: Mutex<HashMap<(IpAddr, Proto), PortMap>>,
}

impl Default for PortAllocator {
    fn default() -> Self {
        PortAllocator::new()
    }
}

impl PortAllocator {
    /// An empty allocator with the kernel's ephemeral range.
    pub fn new() -> PortAllocator {
        PortAllocator::with_range(ephemeral_range())
    }

    /// An empty allocator with the given ephemeral range (inclusive).
    pub fn with_range(ephemeral: (u16, u16)) -> PortAllocator {
        PortAllocator { ephemeral, maps: Mutex::new(HashMap::new()) }
    }

    pub fn ephemeral_range(&self) -> (u16, u16) {
        self.ephemeral
    }

    /// Takes a host port for `proto` on `host_ip` (0.0.0.0 or :: for every address): `port`
    /// itself (`range_end` None or equal to it), the first free one of `port..=range_end`
    /// after the last this range gave, or with `port` None (or 0) an ephemeral one. A port
    /// taken on an address is taken for the unspecified address of its family too, and the
    /// other way round, as the kernel would refuse to bind them both.
    pub fn request(&self, proto: Proto, host_ip: IpAddr, port: Option<u16>, range_end: Option<u16>) -> Result<u16, String> {
        let port = port.filter(|p| *p != 0);
        let (begin, end) = match (port, range_end) {
            (None, None) => self.ephemeral,
            (None, Some(end)) => return Err(format!("invalid port range: 0-{end}")),
            (Some(p), None) => (p, p),
            (Some(p), Some(end)) if end < p => return Err(format!("invalid port range: {p}-{end}")),
            (Some(p), Some(end)) => (p, end),
        };
        let mut maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        if begin == end && port.is_some() {
            if is_taken(&maps, proto, host_ip, begin) {
                return Err(already_allocated(host_ip, begin));
            }
            maps.entry((host_ip, proto)).or_default().taken.insert(begin);
            return Ok(begin);
        }
        let last = maps.get(&(host_ip, proto)).and_then(|m| m.last.get(&(begin, end)).copied()).unwrap_or(end);
        let span = u32::from(end - begin) + 1;
        for step in 1..=span {
            let candidate = (u32::from(last) - u32::from(begin) + step) % span + u32::from(begin);
            let candidate = candidate as u16;
            if !is_taken(&maps, proto, host_ip, candidate) {
                let map = maps.entry((host_ip, proto)).or_default();
                map.taken.insert(candidate);
                map.last.insert((begin, end), candidate);
                return Ok(candidate);
            }
        }
        Err("all ports are allocated".to_owned())
    }

    /// Gives back a port [`PortAllocator::request`] gave (a port not held is no error).
    pub fn release(&self, proto: Proto, host_ip: IpAddr, port: u16) {
        let mut maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(map) = maps.get_mut(&(host_ip, proto)) {
            map.taken.remove(&port);
        }
    }

    /// Whether `port` is held for `proto` on `host_ip` (or on an address colliding with it).
    pub fn is_allocated(&self, proto: Proto, host_ip: IpAddr, port: u16) -> bool {
        is_taken(&self.maps.lock().unwrap_or_else(|e| e.into_inner()), proto, host_ip, port)
    }
}

fn is_taken(maps: &HashMap<(IpAddr, Proto), PortMap>, proto: Proto, ip: IpAddr, port: u16) -> bool {
    maps.iter().any(|((held_ip, held_proto), map)| {
        *held_proto == proto
            && map.taken.contains(&port)
            && (*held_ip == ip || (held_ip.is_ipv4() == ip.is_ipv4() && (held_ip.is_unspecified() || ip.is_unspecified())))
    })
}

/// Docker's text for a host port another published port holds.
pub fn already_allocated(ip: IpAddr, port: u16) -> String {
    format!("Bind for {}:{port} failed: port is already allocated", ip_for_message(ip))
}

fn ip_for_message(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// Whether `port` on `ip` can be bound on the host now (nothing else, inside or outside
/// Docker, holds it): binds a socket as docker-proxy would and closes it. The error is Go's
/// text as Docker shows it, `listen tcp4 0.0.0.0:8080: bind: address already in use`.
pub fn check_bindable(proto: Proto, ip: IpAddr, port: u16) -> Result<(), String> {
    let family = if ip.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    let (kind, protocol) = match proto {
        Proto::Tcp => (libc::SOCK_STREAM, libc::IPPROTO_TCP),
        Proto::Udp => (libc::SOCK_DGRAM, libc::IPPROTO_UDP),
        Proto::Sctp => (libc::SOCK_STREAM, libc::IPPROTO_SCTP),
    };
    let network = format!("{}{}", proto.name(), if ip.is_ipv4() { "4" } else { "6" });
    let address = SocketAddr::new(ip, port);
    let fail = |op: &str, e: nix::errno::Errno| format!("listen {network} {address}: {op}: {}", crate::sys::go_errno_text(e));
    // SAFETY: socket(2) with constant arguments; the descriptor it returns is owned at once.
    let fd = unsafe { libc::socket(family, kind | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(fail("socket", nix::errno::Errno::last()));
    }
    // SAFETY: fd was just returned by socket(2) and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    use nix::sys::socket::{bind, setsockopt, sockopt, SockaddrStorage};
    if proto != Proto::Udp {
        // As Go's listeners: a port whose last connection is in TIME_WAIT is free.
        setsockopt(&fd, sockopt::ReuseAddr, &true).map_err(|e| fail("setsockopt", e))?;
    }
    if ip.is_ipv6() {
        // An IPv6 address is only its own: `::` must not also claim 0.0.0.0.
        setsockopt(&fd, sockopt::Ipv6V6Only, &true).map_err(|e| fail("setsockopt", e))?;
    }
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrStorage::from(address)).map_err(|e| fail("bind", e))?;
    if proto != Proto::Udp {
        nix::sys::socket::listen(&fd, nix::sys::socket::Backlog::new(1).expect("backlog 1")).map_err(|e| fail("listen", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_named_port_is_taken_once_per_protocol_and_address() {
        let a = PortAllocator::with_range((40000, 40009));
        assert_eq!(a.request(Proto::Tcp, ip("0.0.0.0"), Some(8080), None), Ok(8080));
        assert_eq!(
            a.request(Proto::Tcp, ip("0.0.0.0"), Some(8080), None).unwrap_err(),
            "Bind for 0.0.0.0:8080 failed: port is already allocated"
        );
        // Another protocol, or the other family's unspecified address, is another port.
        assert_eq!(a.request(Proto::Udp, ip("0.0.0.0"), Some(8080), None), Ok(8080));
        assert_eq!(a.request(Proto::Tcp, ip("::"), Some(8080), None), Ok(8080));
        // A specific address collides with the unspecified one of its family.
        assert_eq!(
            a.request(Proto::Tcp, ip("127.0.0.1"), Some(8080), None).unwrap_err(),
            "Bind for 127.0.0.1:8080 failed: port is already allocated"
        );
        assert_eq!(
            a.request(Proto::Tcp, ip("::1"), Some(8080), None).unwrap_err(),
            "Bind for [::1]:8080 failed: port is already allocated"
        );
        a.release(Proto::Tcp, ip("0.0.0.0"), 8080);
        assert_eq!(a.request(Proto::Tcp, ip("127.0.0.1"), Some(8080), None), Ok(8080));
        assert_eq!(a.request(Proto::Tcp, ip("127.0.0.2"), Some(8080), None), Ok(8080));
        assert_eq!(
            a.request(Proto::Tcp, ip("0.0.0.0"), Some(8080), None).unwrap_err(),
            "Bind for 0.0.0.0:8080 failed: port is already allocated"
        );
        assert!(a.is_allocated(Proto::Tcp, ip("0.0.0.0"), 8080));
        assert!(!a.is_allocated(Proto::Sctp, ip("0.0.0.0"), 8080));
        // Releasing what is not held is nothing.
        a.release(Proto::Sctp, ip("10.0.0.1"), 1);
    }

    #[test]
    fn ephemeral_ports_come_from_the_range_round_robin() {
        let a = PortAllocator::with_range((40000, 40002));
        let any = ip("0.0.0.0");
        assert_eq!(a.request(Proto::Tcp, any, None, None), Ok(40000));
        assert_eq!(a.request(Proto::Tcp, any, Some(0), None), Ok(40001));
        a.release(Proto::Tcp, any, 40000);
        // Docker goes on after the last port it gave, wrapping around.
        assert_eq!(a.request(Proto::Tcp, any, None, None), Ok(40002));
        assert_eq!(a.request(Proto::Tcp, any, None, None), Ok(40000));
        assert_eq!(a.request(Proto::Tcp, any, None, None).unwrap_err(), "all ports are allocated");
        // Named ports inside the range are skipped.
        let b = PortAllocator::with_range((40000, 40002));
        b.request(Proto::Udp, ip("10.1.2.3"), Some(40000), None).unwrap();
        assert_eq!(b.request(Proto::Udp, any, None, None), Ok(40001));
    }

    #[test]
    fn a_port_range_takes_its_first_free_port() {
        let a = PortAllocator::with_range((40000, 40002));
        let any = ip("0.0.0.0");
        a.request(Proto::Tcp, any, Some(8000), None).unwrap();
        a.request(Proto::Tcp, any, Some(8001), None).unwrap();
        assert_eq!(a.request(Proto::Tcp, any, Some(8000), Some(8010)), Ok(8002));
        assert_eq!(a.request(Proto::Tcp, any, Some(8000), Some(8010)), Ok(8003));
        assert_eq!(a.request(Proto::Tcp, any, Some(8005), Some(8005)), Ok(8005));
        assert_eq!(a.request(Proto::Tcp, any, Some(8000), Some(8010)), Ok(8004));
        assert_eq!(a.request(Proto::Tcp, any, Some(8000), Some(8010)), Ok(8006));
        assert_eq!(a.request(Proto::Tcp, any, Some(9), Some(8)).unwrap_err(), "invalid port range: 9-8");
        assert_eq!(a.request(Proto::Tcp, any, None, Some(8)).unwrap_err(), "invalid port range: 0-8");
        let full = PortAllocator::with_range((40000, 40002));
        full.request(Proto::Tcp, any, Some(7000), Some(7000)).unwrap();
        assert_eq!(
            full.request(Proto::Tcp, any, Some(7000), Some(7000)).unwrap_err(),
            "Bind for 0.0.0.0:7000 failed: port is already allocated"
        );
        full.request(Proto::Tcp, any, Some(7001), None).unwrap();
        assert_eq!(full.request(Proto::Tcp, any, Some(7000), Some(7001)).unwrap_err(), "all ports are allocated");
    }

    #[test]
    fn the_ephemeral_range_is_the_kernels() {
        assert_eq!(parse_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_range("garbage"), None);
        assert_eq!(parse_range("5 4"), None);
        let (begin, end) = ephemeral_range();
        let kernel = std::fs::read_to_string(PORT_RANGE_FILE).unwrap();
        assert_eq!(format!("{begin}\t{end}"), kernel.trim());
    }

    #[test]
    fn a_port_held_on_the_host_cannot_be_bound() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        assert_eq!(
            check_bindable(Proto::Tcp, ip("127.0.0.1"), port).unwrap_err(),
            format!("listen tcp4 127.0.0.1:{port}: bind: address already in use")
        );
        assert!(check_bindable(Proto::Tcp, ip("0.0.0.0"), port).is_err());
        drop(held);
        check_bindable(Proto::Tcp, ip("127.0.0.1"), port).unwrap();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        assert_eq!(
            check_bindable(Proto::Udp, ip("127.0.0.1"), port).unwrap_err(),
            format!("listen udp4 127.0.0.1:{port}: bind: address already in use")
        );
        // The port is free again once the check is over.
        drop(udp);
        check_bindable(Proto::Udp, ip("127.0.0.1"), port).unwrap();
        check_bindable(Proto::Udp, ip("127.0.0.1"), port).unwrap();
    }
}
