//! rtnetlink (NETLINK_ROUTE) from Rust: links, addresses and routes, without `ip`.
//!
//! One [`Netlink`] is one socket bound to the network namespace it was opened in (a socket
//! keeps its namespace for life, so [`Netlink::open_in`] makes it on a thread that joined
//! another namespace). Each request carries its own sequence number and asks for an ack; an
//! NLMSG_ERROR reply becomes an `io::Error` with the kernel's errno. Several requests can go
//! in one datagram ([`Netlink::batch`]): the kernel handles each in turn and acks each, which
//! saves a round trip per address or route on the container-start path.
//!
//! Layouts and constants come from libc (nlmsghdr, ifinfomsg, ifaddrmsg, nlmsgerr, rtattr,
//! NLM_F_*, RTM_*, IFLA_*, IFA_*, RTA_*); what libc lacks (rtmsg, VETH_INFO_PEER,
//! IFLA_BRPORT_MODE) is declared here from the kernel's uapi headers. Every header and
//! attribute is padded to NLMSG_ALIGN/RTA_ALIGN (both 4).

use super::IpNet;
use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `struct rtmsg` of `<linux/rtnetlink.h>` (libc has no binding for it).
#[repr(C)]
#[derive(Clone, Copy, Default)]
#[allow(non_camel_case_types)]
struct rtmsg {
    rtm_family: libc::c_uchar,
    rtm_dst_len: libc::c_uchar,
    rtm_src_len: libc::c_uchar,
    rtm_tos: libc::c_uchar,
    rtm_table: libc::c_uchar,
    rtm_protocol: libc::c_uchar,
    rtm_scope: libc::c_uchar,
    rtm_type: libc::c_uchar,
    rtm_flags: libc::c_uint,
}

/// `VETH_INFO_PEER` of `<linux/veth.h>`: the peer's ifinfomsg and attributes, nested in
/// IFLA_INFO_DATA.
const VETH_INFO_PEER: u16 = 1;
/// `IFLA_BRPORT_MODE` of `<linux/if_link.h>` (the bridge port's hairpin mode, a u8), nested
/// in IFLA_PROTINFO of an AF_BRIDGE message.
const IFLA_BRPORT_MODE: u16 = 4;

/// Plain structs with no implicit padding whose bytes may be read and written as they are.
trait Plain: Copy {}
impl Plain for libc::nlmsghdr {}
impl Plain for libc::nlmsgerr {}
impl Plain for libc::ifinfomsg {}
impl Plain for libc::ifaddrmsg {}
impl Plain for rtmsg {}

fn bytes_of<T: Plain>(v: &T) -> &[u8] {
    // SAFETY: T is one of the netlink header structs above: repr(C), integers only, no
    // implicit padding (libc spells the ifinfomsg pad out as a field), so every byte is
    // initialised; the slice borrows `v` for its lifetime.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }
}

fn read_struct<T: Plain>(b: &[u8]) -> Option<T> {
    if b.len() < size_of::<T>() {
        return None;
    }
    // SAFETY: the bounds are checked above, read_unaligned needs no alignment, and every bit
    // pattern is a valid value of these integer-only structs.
    Some(unsafe { std::ptr::read_unaligned(b.as_ptr().cast::<T>()) })
}

/// A zeroed ifinfomsg (its padding field is private to libc).
fn ifinfomsg(family: u8, index: u32) -> libc::ifinfomsg {
    // SAFETY: ifinfomsg is integers only; all-zero is a valid value.
    let mut m: libc::ifinfomsg = unsafe { std::mem::zeroed() };
    m.ifi_family = family;
    m.ifi_index = index as libc::c_int;
    m
}

fn align(len: usize) -> usize {
    libc::NLMSG_ALIGN(len) as usize
}

/// One netlink message being laid out: the header, the family's fixed struct, attributes.
pub struct Message {
    buf: Vec<u8>,
}

impl Message {
    fn new<T: Plain>(kind: u16, flags: libc::c_int, fixed: &T) -> Message {
        let header = libc::nlmsghdr { nlmsg_len: 0, nlmsg_type: kind, nlmsg_flags: (libc::NLM_F_REQUEST | flags) as u16, nlmsg_seq: 0, nlmsg_pid: 0 };
        let mut m = Message { buf: Vec::with_capacity(256) };
        m.push_padded(bytes_of(&header));
        m.push_padded(bytes_of(fixed));
        m
    }

    fn push_padded(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.buf.resize(align(self.buf.len()), 0);
    }

    fn attr(&mut self, kind: u16, data: &[u8]) -> &mut Self {
        let len = (size_of::<libc::rtattr>() + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.push_padded(data);
        self
    }

    fn attr_u32(&mut self, kind: u16, v: u32) -> &mut Self {
        self.attr(kind, &v.to_ne_bytes())
    }

    /// A NUL-terminated string, as the kernel wants names.
    fn attr_str(&mut self, kind: u16, s: &str) -> &mut Self {
        let mut data = Vec::with_capacity(s.len() + 1);
        data.extend_from_slice(s.as_bytes());
        data.push(0);
        self.attr(kind, &data)
    }

    /// Starts a nested attribute; `end_nest` with the returned offset closes it.
    fn begin_nest(&mut self, kind: u16) -> usize {
        let at = self.buf.len();
        self.attr(kind | libc::NLA_F_NESTED as u16, &[]);
        at
    }

    fn end_nest(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }

    /// Raw bytes inside a nest (a peer's ifinfomsg in VETH_INFO_PEER).
    fn push_struct<T: Plain>(&mut self, v: &T) {
        self.push_padded(bytes_of(v));
    }

    /// The finished bytes with this length and sequence number.
    fn finish(&mut self, seq: u32) -> &[u8] {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        &self.buf
    }
}

/// The attributes after a fixed struct: (type without the NESTED/BYTEORDER bits, payload).
fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < size_of::<libc::rtattr>() {
            return None;
        }
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let kind = u16::from_ne_bytes([b[2], b[3]]) & libc::NLA_TYPE_MASK as u16;
        if len < size_of::<libc::rtattr>() || len > b.len() {
            return None;
        }
        let data = &b[size_of::<libc::rtattr>()..len];
        b = &b[align(len).min(b.len())..];
        Some((kind, data))
    })
}

fn attr_string(data: &[u8]) -> String {
    let end = data.iter().position(|&c| c == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

fn attr_u32(data: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(data.get(..4)?.try_into().ok()?))
}

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

fn ip_from(family: u8, data: &[u8]) -> Option<IpAddr> {
    match family as libc::c_int {
        libc::AF_INET => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(data.get(..4)?).ok()?))),
        libc::AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(data.get(..16)?).ok()?))),
        _ => None,
    }
}

fn family_of(ip: &IpAddr) -> u8 {
    if ip.is_ipv4() { libc::AF_INET as u8 } else { libc::AF_INET6 as u8 }
}

/// A network interface as RTM_GETLINK reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// IFLA_INFO_KIND: "bridge", "veth", ...; None for physical devices and loopback.
    pub kind: Option<String>,
    /// IFF_* flags (IFF_UP, IFF_LOWER_UP, ...).
    pub flags: u32,
    pub mtu: u32,
    /// The hardware address, when it is an Ethernet one.
    pub mac: Option<[u8; 6]>,
    /// The index of the bridge it is a port of.
    pub master: Option<u32>,
}

impl Link {
    pub fn is_up(&self) -> bool {
        self.flags & libc::IFF_UP as u32 != 0
    }

    fn parse(payload: &[u8]) -> Option<Link> {
        let info: libc::ifinfomsg = read_struct(payload)?;
        let mut link = Link { index: info.ifi_index as u32, name: String::new(), kind: None, flags: info.ifi_flags, mtu: 0, mac: None, master: None };
        for (kind, data) in attrs(&payload[align(size_of::<libc::ifinfomsg>()).min(payload.len())..]) {
            match kind {
                libc::IFLA_IFNAME => link.name = attr_string(data),
                libc::IFLA_MTU => link.mtu = attr_u32(data).unwrap_or(0),
                libc::IFLA_ADDRESS => link.mac = data.try_into().ok(),
                libc::IFLA_MASTER => link.master = attr_u32(data).filter(|&m| m != 0),
                libc::IFLA_LINKINFO => {
                    link.kind = attrs(data).find(|(k, _)| *k == libc::IFLA_INFO_KIND).map(|(_, d)| attr_string(d));
                }
                _ => {}
            }
        }
        Some(link)
    }
}

/// What a new link (or a veth's peer) is made with.
#[derive(Clone, Copy, Debug, Default)]
pub struct NewLink<'a> {
    pub name: &'a str,
    pub mtu: Option<u32>,
    pub mac: Option<[u8; 6]>,
    /// The bridge (by index) it becomes a port of.
    pub master: Option<u32>,
    /// Brought up as it is made (not for a veth's peer: the kernel refuses to open a veth
    /// end before its pair is complete, ENOTCONN; bring it up after).
    pub up: bool,
    /// Made in this network namespace rather than the socket's.
    pub netns: Option<BorrowedFd<'a>>,
}

impl NewLink<'_> {
    fn ifinfomsg(&self) -> libc::ifinfomsg {
        let mut m = ifinfomsg(libc::AF_UNSPEC as u8, 0);
        if self.up {
            m.ifi_flags = libc::IFF_UP as u32;
            m.ifi_change = libc::IFF_UP as u32;
        }
        m
    }

    fn put_attrs(&self, m: &mut Message) {
        m.attr_str(libc::IFLA_IFNAME, self.name);
        if let Some(mtu) = self.mtu {
            m.attr_u32(libc::IFLA_MTU, mtu);
        }
        if let Some(mac) = &self.mac {
            m.attr(libc::IFLA_ADDRESS, mac);
        }
        if let Some(master) = self.master {
            m.attr_u32(libc::IFLA_MASTER, master);
        }
        if let Some(fd) = self.netns {
            m.attr_u32(libc::IFLA_NET_NS_FD, fd.as_raw_fd() as u32);
        }
    }
}

/// A NETLINK_ROUTE socket bound to one network namespace.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

/// The largest datagram the kernel sends a dump in (it sizes them from the reader's buffer,
/// up to 32 KiB).
const RECV_BUF: usize = 32 * 1024;

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Netlink> {
        // SAFETY: socket() takes plain integers and returns a new descriptor or -1.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // Acks carry only the request's header, not its whole payload back.
        let one: libc::c_int = 1;
        // SAFETY: setsockopt reads an int from a pointer valid for the call.
        unsafe {
            libc::setsockopt(fd.as_raw_fd(), libc::SOL_NETLINK, libc::NETLINK_CAP_ACK, (&one as *const libc::c_int).cast(), size_of::<libc::c_int>() as libc::socklen_t);
        }
        // SAFETY: sockaddr_nl is integers only; zero (port 0, no groups) asks the kernel to pick the port id.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: bind reads the sockaddr_nl of the given size, valid for the call.
        if unsafe { libc::bind(fd.as_raw_fd(), (&addr as *const libc::sockaddr_nl).cast(), size_of::<libc::sockaddr_nl>() as libc::socklen_t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Netlink { fd, seq: 0, buf: Vec::new() })
    }

    /// A socket in the network namespace `netns` (opened on a short-lived thread that joined
    /// it; the socket stays bound there).
    pub fn open_in(netns: BorrowedFd) -> io::Result<Netlink> {
        super::netns::run_in(netns, Netlink::open)?
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Sends the messages in one datagram and reads until each has its ack (or, for a dump,
    /// its NLMSG_DONE). `on_reply(type, payload)` sees every other reply. The first error,
    /// in request order, is returned; the kernel still handles the requests after it.
    fn transact(&mut self, msgs: &mut [Message], dump: bool, mut on_reply: impl FnMut(u16, &[u8])) -> io::Result<()> {
        if msgs.is_empty() {
            return Ok(());
        }
        let first = self.seq.wrapping_add(1);
        let mut out = Vec::with_capacity(msgs.iter().map(|m| m.buf.len()).sum());
        for m in msgs.iter_mut() {
            let seq = self.next_seq();
            out.extend_from_slice(m.finish(seq));
        }
        self.send(&out)?;
        let mut results: Vec<Option<io::Result<()>>> = (0..msgs.len()).map(|_| None).collect();
        let mut pending = msgs.len();
        let mut interrupted = false;
        if self.buf.len() < RECV_BUF {
            // Zeroed by the allocator (calloc), not byte by byte.
            self.buf = vec![0; RECV_BUF];
        }
        while pending > 0 {
            let n = self.recv()?;
            let mut b = &self.buf[..n];
            while b.len() >= size_of::<libc::nlmsghdr>() {
                let Some(h) = read_struct::<libc::nlmsghdr>(b) else { break };
                let len = h.nlmsg_len as usize;
                if len < size_of::<libc::nlmsghdr>() || len > b.len() {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "netlink: a malformed reply"));
                }
                let payload = &b[align(size_of::<libc::nlmsghdr>()).min(len)..len];
                b = &b[align(len).min(b.len())..];
                let slot = h.nlmsg_seq.wrapping_sub(first) as usize;
                if slot >= results.len() || results[slot].is_some() {
                    continue; // a late reply to an earlier request
                }
                if h.nlmsg_flags & libc::NLM_F_DUMP_INTR as u16 != 0 {
                    interrupted = true;
                }
                let done = match h.nlmsg_type as libc::c_int {
                    libc::NLMSG_ERROR => {
                        let err = read_struct::<libc::nlmsgerr>(payload).map(|e| e.error).unwrap_or(-libc::EPROTO);
                        Some(if err == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(-err)) })
                    }
                    libc::NLMSG_DONE => {
                        let err = attr_u32(payload).map(|e| e as i32).unwrap_or(0);
                        Some(if err >= 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(-err)) })
                    }
                    libc::NLMSG_NOOP | libc::NLMSG_OVERRUN => None,
                    _ => {
                        on_reply(h.nlmsg_type, payload);
                        // A get (not a dump) answers with one message and then its ack.
                        None
                    }
                };
                if let Some(r) = done {
                    results[slot] = Some(r);
                    pending -= 1;
                }
            }
        }
        if dump && interrupted {
            return Err(io::Error::from_raw_os_error(libc::EINTR));
        }
        results.into_iter().flatten().find(|r| r.is_err()).unwrap_or(Ok(()))
    }

    fn send(&self, bytes: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_nl is integers only; zero addresses the kernel (port 0).
        let mut to: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        to.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        loop {
            // SAFETY: sendto reads `bytes` and the address, both valid for the call.
            let n = unsafe {
                libc::sendto(self.fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), 0, (&to as *const libc::sockaddr_nl).cast(), size_of::<libc::sockaddr_nl>() as libc::socklen_t)
            };
            if n >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    fn recv(&mut self) -> io::Result<usize> {
        loop {
            // SAFETY: recv writes at most buf.len() bytes into our buffer. MSG_TRUNC makes it
            // return the datagram's real length, so a cut one is noticed.
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), self.buf.as_mut_ptr().cast(), self.buf.len(), libc::MSG_TRUNC) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let n = n as usize;
            if n > self.buf.len() {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("netlink: a reply of {n} bytes was cut")));
            }
            return Ok(n);
        }
    }

    /// One request, acked.
    fn request(&mut self, mut m: Message) -> io::Result<()> {
        self.transact(std::slice::from_mut(&mut m), false, |_, _| {})
    }

    /// A dump, retried when the kernel says it was interrupted by a change.
    fn dump(&mut self, make: impl Fn() -> Message, mut on_reply: impl FnMut(u16, &[u8])) -> io::Result<()> {
        for _ in 0..5 {
            let mut m = make();
            let mut replies = Vec::new();
            match self.transact(std::slice::from_mut(&mut m), true, |t, p| replies.push((t, p.to_vec()))) {
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => return Err(e),
                Ok(()) => {
                    for (t, p) in &replies {
                        on_reply(*t, p);
                    }
                    return Ok(());
                }
            }
        }
        Err(io::Error::new(io::ErrorKind::Interrupted, "netlink: a dump kept being interrupted"))
    }

    /// Several requests in one datagram, each acked; the first error is returned.
    pub fn batch(&mut self, msgs: &mut [Message]) -> io::Result<()> {
        self.transact(msgs, false, |_, _| {})
    }

    // ---- links ----

    /// The link of that name; None when there is none.
    pub fn link(&mut self, name: &str) -> io::Result<Option<Link>> {
        let mut m = Message::new(libc::RTM_GETLINK, libc::NLM_F_ACK, &ifinfomsg(libc::AF_UNSPEC as u8, 0));
        m.attr_str(libc::IFLA_IFNAME, name);
        let mut found = None;
        match self.transact(std::slice::from_mut(&mut m), false, |t, p| {
            if t == libc::RTM_NEWLINK {
                found = Link::parse(p);
            }
        }) {
            Ok(()) => Ok(found),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The index of the link of that name (ENODEV when there is none).
    pub fn index(&mut self, name: &str) -> io::Result<u32> {
        self.link(name)?.map(|l| l.index).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no network interface named {name}")))
    }

    /// Every link of the namespace.
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let mut links = Vec::new();
        self.dump(
            || Message::new(libc::RTM_GETLINK, libc::NLM_F_DUMP, &ifinfomsg(libc::AF_UNSPEC as u8, 0)),
            |t, p| {
                if t == libc::RTM_NEWLINK {
                    links.extend(Link::parse(p));
                }
            },
        )?;
        Ok(links)
    }

    /// A new bridge (EEXIST when the name is taken).
    pub fn create_bridge(&mut self, link: &NewLink) -> io::Result<()> {
        let mut m = Message::new(libc::RTM_NEWLINK, libc::NLM_F_CREATE | libc::NLM_F_EXCL | libc::NLM_F_ACK, &link.ifinfomsg());
        link.put_attrs(&mut m);
        let info = m.begin_nest(libc::IFLA_LINKINFO);
        m.attr_str(libc::IFLA_INFO_KIND, "bridge");
        m.end_nest(info);
        self.request(m)
    }

    /// A new veth pair, both ends made in one request: `peer` may name another namespace
    /// (IFLA_NET_NS_FD), where it is then made directly. Either both ends exist after it
    /// or neither.
    pub fn create_veth(&mut self, link: &NewLink, peer: &NewLink) -> io::Result<()> {
        let mut m = Message::new(libc::RTM_NEWLINK, libc::NLM_F_CREATE | libc::NLM_F_EXCL | libc::NLM_F_ACK, &link.ifinfomsg());
        link.put_attrs(&mut m);
        let info = m.begin_nest(libc::IFLA_LINKINFO);
        m.attr_str(libc::IFLA_INFO_KIND, "veth");
        let data = m.begin_nest(libc::IFLA_INFO_DATA);
        let peer_at = m.begin_nest(VETH_INFO_PEER);
        m.push_struct(&peer.ifinfomsg());
        peer.put_attrs(&mut m);
        m.end_nest(peer_at);
        m.end_nest(data);
        m.end_nest(info);
        self.request(m)
    }

    fn set_link(&mut self, index: u32, put: impl FnOnce(&mut Message)) -> io::Result<()> {
        let mut m = Message::new(libc::RTM_SETLINK, libc::NLM_F_ACK, &ifinfomsg(libc::AF_UNSPEC as u8, index));
        put(&mut m);
        self.request(m)
    }

    /// Makes the link a port of the bridge `master` (0: of none).
    pub fn set_master(&mut self, index: u32, master: u32) -> io::Result<()> {
        self.set_link(index, |m| {
            m.attr_u32(libc::IFLA_MASTER, master);
        })
    }

    /// The request bringing link `index` up or down (for [`Netlink::batch`]).
    pub fn set_up_message(index: u32, up: bool) -> Message {
        let mut info = ifinfomsg(libc::AF_UNSPEC as u8, index);
        info.ifi_flags = if up { libc::IFF_UP as u32 } else { 0 };
        info.ifi_change = libc::IFF_UP as u32;
        Message::new(libc::RTM_SETLINK, libc::NLM_F_ACK, &info)
    }

    pub fn set_up(&mut self, index: u32, up: bool) -> io::Result<()> {
        self.request(Self::set_up_message(index, up))
    }

    /// Renames a link (it must be down: EBUSY otherwise).
    pub fn rename(&mut self, index: u32, name: &str) -> io::Result<()> {
        self.set_link(index, |m| {
            m.attr_str(libc::IFLA_IFNAME, name);
        })
    }

    /// Moves a link into the network namespace `netns` (it is then gone from this one).
    pub fn move_to_netns(&mut self, index: u32, netns: BorrowedFd) -> io::Result<()> {
        self.set_link(index, |m| {
            m.attr_u32(libc::IFLA_NET_NS_FD, netns.as_raw_fd() as u32);
        })
    }

    pub fn set_mtu(&mut self, index: u32, mtu: u32) -> io::Result<()> {
        self.set_link(index, |m| {
            m.attr_u32(libc::IFLA_MTU, mtu);
        })
    }

    pub fn set_mac(&mut self, index: u32, mac: [u8; 6]) -> io::Result<()> {
        self.set_link(index, |m| {
            m.attr(libc::IFLA_ADDRESS, &mac);
        })
    }

    /// Hairpin mode of a bridge port: frames may go back out the port they came in by.
    pub fn set_hairpin(&mut self, index: u32, on: bool) -> io::Result<()> {
        let mut m = Message::new(libc::RTM_SETLINK, libc::NLM_F_ACK, &ifinfomsg(libc::AF_BRIDGE as u8, index));
        let nest = m.begin_nest(libc::IFLA_PROTINFO);
        m.attr(IFLA_BRPORT_MODE, &[on as u8]);
        m.end_nest(nest);
        self.request(m)
    }

    /// Deletes a link (a veth takes its peer with it).
    pub fn delete_link(&mut self, index: u32) -> io::Result<()> {
        self.request(Message::new(libc::RTM_DELLINK, libc::NLM_F_ACK, &ifinfomsg(libc::AF_UNSPEC as u8, index)))
    }

    /// Deletes the link of that name; Ok(false) when there was none.
    pub fn delete_link_named(&mut self, name: &str) -> io::Result<bool> {
        let mut m = Message::new(libc::RTM_DELLINK, libc::NLM_F_ACK, &ifinfomsg(libc::AF_UNSPEC as u8, 0));
        m.attr_str(libc::IFLA_IFNAME, name);
        match self.request(m) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(e),
        }
    }

    // ---- addresses ----

    /// The RTM_NEWADDR request for `addr` on link `index` (for [`Netlink::batch`]).
    pub fn add_addr_message(index: u32, addr: &IpNet) -> Message {
        addr_message(libc::RTM_NEWADDR, libc::NLM_F_CREATE | libc::NLM_F_EXCL | libc::NLM_F_ACK, index, addr)
    }

    /// Adds an address (IPv4 with its broadcast address, as Docker's; IPv6 without duplicate
    /// address detection, so it is usable at once).
    pub fn add_addr(&mut self, index: u32, addr: &IpNet) -> io::Result<()> {
        self.request(Self::add_addr_message(index, addr))
    }

    pub fn del_addr(&mut self, index: u32, addr: &IpNet) -> io::Result<()> {
        self.request(addr_message(libc::RTM_DELADDR, libc::NLM_F_ACK, index, addr))
    }

    /// The addresses of link `index` (IPv4 and IPv6, link-local ones included).
    pub fn addrs(&mut self, index: u32) -> io::Result<Vec<IpNet>> {
        let mut found = Vec::new();
        let fixed = libc::ifaddrmsg { ifa_family: libc::AF_UNSPEC as u8, ifa_prefixlen: 0, ifa_flags: 0, ifa_scope: 0, ifa_index: 0 };
        self.dump(
            || Message::new(libc::RTM_GETADDR, libc::NLM_F_DUMP, &fixed),
            |t, p| {
                let Some(a) = (t == libc::RTM_NEWADDR).then(|| read_struct::<libc::ifaddrmsg>(p)).flatten() else { return };
                if a.ifa_index != index {
                    return;
                }
                let (mut local, mut address) = (None, None);
                for (kind, data) in attrs(&p[align(size_of::<libc::ifaddrmsg>()).min(p.len())..]) {
                    match kind {
                        libc::IFA_LOCAL => local = ip_from(a.ifa_family, data),
                        libc::IFA_ADDRESS => address = ip_from(a.ifa_family, data),
                        _ => {}
                    }
                }
                found.extend(local.or(address).and_then(|ip| IpNet::new(ip, a.ifa_prefixlen)));
            },
        )?;
        Ok(found)
    }

    // ---- routes ----

    /// The request for a default route via `gateway` (out of link `index` when given).
    pub fn default_route_message(gateway: IpAddr, index: Option<u32>) -> Message {
        let fixed = rtmsg {
            rtm_family: family_of(&gateway),
            rtm_table: libc::RT_TABLE_MAIN,
            rtm_protocol: libc::RTPROT_BOOT,
            rtm_scope: libc::RT_SCOPE_UNIVERSE,
            rtm_type: libc::RTN_UNICAST,
            ..rtmsg::default()
        };
        let mut m = Message::new(libc::RTM_NEWROUTE, libc::NLM_F_CREATE | libc::NLM_F_EXCL | libc::NLM_F_ACK, &fixed);
        m.attr(libc::RTA_GATEWAY, &ip_bytes(&gateway));
        if let Some(index) = index {
            m.attr_u32(libc::RTA_OIF, index);
        }
        m
    }

    /// Adds the default route via `gateway` (IPv4 or IPv6).
    pub fn add_default_route(&mut self, gateway: IpAddr, index: Option<u32>) -> io::Result<()> {
        self.request(Self::default_route_message(gateway, index))
    }
}

fn addr_message(kind: u16, flags: libc::c_int, index: u32, addr: &IpNet) -> Message {
    let v6 = addr.addr.is_ipv6();
    let fixed = libc::ifaddrmsg {
        ifa_family: family_of(&addr.addr),
        ifa_prefixlen: addr.prefix,
        ifa_flags: if v6 { libc::IFA_F_NODAD as u8 } else { 0 },
        ifa_scope: libc::RT_SCOPE_UNIVERSE,
        ifa_index: index,
    };
    let mut m = Message::new(kind, flags, &fixed);
    let bytes = ip_bytes(&addr.addr);
    m.attr(libc::IFA_LOCAL, &bytes);
    m.attr(libc::IFA_ADDRESS, &bytes);
    if let IpAddr::V4(v4) = addr.addr {
        if addr.prefix < 31 && kind == libc::RTM_NEWADDR {
            let broadcast = u32::from(v4) | (u32::MAX >> addr.prefix);
            m.attr(libc::IFA_BROADCAST, &broadcast.to_be_bytes());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_laid_out_aligned() {
        let mut m = Message::new(libc::RTM_NEWLINK, libc::NLM_F_ACK, &ifinfomsg(0, 7));
        m.attr_str(libc::IFLA_IFNAME, "eth0"); // 4 + 5 bytes, padded to 12
        m.attr_u32(libc::IFLA_MTU, 1400);
        let b = m.finish(9).to_vec();
        assert_eq!(b.len(), 16 + 16 + 12 + 8);
        let h: libc::nlmsghdr = read_struct(&b).unwrap();
        assert_eq!((h.nlmsg_len as usize, h.nlmsg_type, h.nlmsg_seq), (b.len(), libc::RTM_NEWLINK, 9));
        assert_eq!(h.nlmsg_flags as libc::c_int, libc::NLM_F_REQUEST | libc::NLM_F_ACK);
        let got: Vec<_> = attrs(&b[32..]).map(|(k, d)| (k, d.to_vec())).collect();
        assert_eq!(got, vec![(libc::IFLA_IFNAME, b"eth0\0".to_vec()), (libc::IFLA_MTU, 1400u32.to_ne_bytes().to_vec())]);
    }

    #[test]
    fn nests_carry_their_length_and_flag() {
        let mut m = Message::new(libc::RTM_NEWLINK, 0, &ifinfomsg(0, 0));
        let info = m.begin_nest(libc::IFLA_LINKINFO);
        m.attr_str(libc::IFLA_INFO_KIND, "bridge"); // 4 + 7, padded to 12
        m.end_nest(info);
        let b = m.finish(1).to_vec();
        let nest = &b[32..];
        assert_eq!(u16::from_ne_bytes([nest[0], nest[1]]), 16);
        assert_eq!(u16::from_ne_bytes([nest[2], nest[3]]), libc::IFLA_LINKINFO | libc::NLA_F_NESTED as u16);
        let (kind, data) = attrs(nest).next().unwrap();
        assert_eq!(kind, libc::IFLA_LINKINFO);
        assert_eq!(attrs(data).next().map(|(k, d)| (k, attr_string(d))), Some((libc::IFLA_INFO_KIND, "bridge".to_string())));
    }

    #[test]
    fn ipv4_addresses_get_their_broadcast() {
        let mut m = Netlink::add_addr_message(3, &"10.1.2.3/24".parse().unwrap());
        let b = m.finish(1).to_vec();
        let a: libc::ifaddrmsg = read_struct(&b[16..]).unwrap();
        assert_eq!((a.ifa_family as libc::c_int, a.ifa_prefixlen, a.ifa_index), (libc::AF_INET, 24, 3));
        let got: Vec<_> = attrs(&b[24..]).map(|(k, d)| (k, d.to_vec())).collect();
        assert_eq!(got, vec![(libc::IFA_LOCAL, vec![10, 1, 2, 3]), (libc::IFA_ADDRESS, vec![10, 1, 2, 3]), (libc::IFA_BROADCAST, vec![10, 1, 2, 255])]);
        let mut m = Netlink::add_addr_message(3, &"fd00::2/64".parse().unwrap());
        let b = m.finish(1).to_vec();
        let a: libc::ifaddrmsg = read_struct(&b[16..]).unwrap();
        assert_eq!(a.ifa_flags as u32, libc::IFA_F_NODAD);
        assert_eq!(attrs(&b[24..]).count(), 2);
    }

    #[test]
    fn default_routes_name_their_gateway() {
        let mut m = Netlink::default_route_message("fd00::1".parse().unwrap(), Some(4));
        let b = m.finish(1).to_vec();
        assert_eq!(size_of::<rtmsg>(), 12);
        let r: rtmsg = read_struct(&b[16..]).unwrap();
        assert_eq!((r.rtm_family as libc::c_int, r.rtm_dst_len, r.rtm_table), (libc::AF_INET6, 0, libc::RT_TABLE_MAIN));
        let got: Vec<_> = attrs(&b[28..]).map(|(k, d)| (k, d.len())).collect();
        assert_eq!(got, vec![(libc::RTA_GATEWAY, 16), (libc::RTA_OIF, 4)]);
    }

    #[test]
    fn attributes_past_a_bad_length_are_not_read() {
        let bad = [200u8, 0, 3, 0, b'x', 0, 0, 0];
        assert_eq!(attrs(&bad).count(), 0);
        assert_eq!(attrs(&[1, 0]).count(), 0);
    }
}
