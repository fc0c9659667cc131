//! The few syscalls the proxy's one thread needs: an epoll set, a signalfd for SIGTERM and
//! SIGINT, and sockets made and addressed by hand (Go's listen semantics: `tcp4`/`tcp6`,
//! IPv6 listeners IPv6-only, SO_REUSEADDR on TCP listeners).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::Frontend;

/// Turns a -1 return into the errno.
fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn check_size(rc: libc::ssize_t) -> io::Result<usize> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

/// An epoll set; events carry a u64 token.
pub struct Poller(OwnedFd);

impl Poller {
    pub fn new() -> io::Result<Poller> {
        // SAFETY: epoll_create1 takes a flag and returns a new descriptor or -1.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: the descriptor is new and owned by nobody else.
        Ok(Poller(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: epoll_ctl reads one epoll_event from a valid pointer (ignored for DEL).
        check(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), op, fd, &mut ev) }).map(drop)
    }

    pub fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, token)
    }

    pub fn modify(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events, token)
    }

    pub fn delete(&self, fd: RawFd) {
        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
    }

    /// Waits for events (timeout in ms, -1 for none); EINTR counts as no event.
    pub fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: libc::c_int) -> io::Result<usize> {
        // SAFETY: epoll_wait writes at most `events.len()` entries into the valid slice.
        let n = unsafe { libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), events.len() as libc::c_int, timeout_ms) };
        match check(n) {
            Ok(n) => Ok(n as usize),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }
}

/// A signalfd that becomes readable on SIGTERM or SIGINT, which are blocked so that they
/// arrive only there (and set back to their default action first: one ignored by whoever
/// started us would be discarded before it reached the signalfd).
pub fn stop_signals() -> io::Result<OwnedFd> {
    // SAFETY: the set is a local value initialised by sigemptyset before use; signal,
    // sigprocmask and signalfd take integers and only read it.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        check(libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()))?;
        let fd = check(libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK))?;
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

pub fn write_all(fd: &OwnedFd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: write reads at most `bytes.len()` bytes from a valid slice.
        match check_size(unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) }) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A socket address laid out for the kernel.
pub struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl RawAddr {
    pub fn new(addr: &SocketAddr) -> RawAddr {
        // SAFETY: sockaddr_storage is plain data for which all-zero bytes are valid.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let len = match addr {
            SocketAddr::V4(a) => {
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
                let sin = unsafe { &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
                std::mem::size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
                let sin6 = unsafe { &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_addr.s6_addr = a.ip().octets();
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_scope_id = a.scope_id();
                std::mem::size_of::<libc::sockaddr_in6>()
            }
        };
        RawAddr { storage, len: len as libc::socklen_t }
    }

    /// Room for any address the kernel writes back (recvfrom).
    pub fn empty() -> RawAddr {
        // SAFETY: all-zero bytes are a valid sockaddr_storage.
        RawAddr { storage: unsafe { std::mem::zeroed() }, len: std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t }
    }

    pub fn ptr(&self) -> *const libc::sockaddr {
        (&self.storage as *const libc::sockaddr_storage).cast()
    }

    pub fn len(&self) -> libc::socklen_t {
        self.len
    }

    /// The address the kernel wrote, when it is an IPv4 or IPv6 one.
    pub fn to_socket_addr(&self) -> Option<SocketAddr> {
        match libc::c_int::from(self.storage.ss_family) {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in, which it is aligned for.
                let sin = unsafe { &*(&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says the storage holds a sockaddr_in6, which it is aligned for.
                let sin6 = unsafe { &*(&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(ip, u16::from_be(sin6.sin6_port), sin6.sin6_flowinfo, sin6.sin6_scope_id)))
            }
            _ => None,
        }
    }
}

fn family(ip: &IpAddr) -> libc::c_int {
    if ip.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    }
}

/// A new non-blocking socket of the address's family.
pub fn socket(ip: &IpAddr, kind: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket takes integers and returns a new descriptor or -1.
    let fd = check(unsafe { libc::socket(family(ip), kind | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: the descriptor is new and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn set_int_option(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: setsockopt reads one c_int from a valid pointer of the size given.
    check(unsafe {
        libc::setsockopt(fd.as_raw_fd(), level, name, (&value as *const libc::c_int).cast(), std::mem::size_of::<libc::c_int>() as libc::socklen_t)
    })
    .map(drop)
}

/// Binds (and for TCP listens on) the frontend address as Go's `net.Listen("tcp4"|"tcp6")`
/// does; errors read as Go's (`listen tcp4 0.0.0.0:80: bind: address already in use`).
pub fn listen(front: &Frontend, kind: libc::c_int) -> Result<OwnedFd, String> {
    let stream = kind == libc::SOCK_STREAM;
    let net = format!("{}{}", if stream { "tcp" } else { "udp" }, if front.ip.is_ipv4() { "4" } else { "6" });
    let fail = |op: &str, e: io::Error| format!("listen {net} {}: {op}: {}", front.display(), super::go_errno(&e));
    let fd = socket(&front.ip, kind).map_err(|e| fail("socket", e))?;
    if front.ip.is_ipv6() {
        set_int_option(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1).map_err(|e| fail("setsockopt", e))?;
    }
    if stream {
        set_int_option(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1).map_err(|e| fail("setsockopt", e))?;
    }
    // Go hands an out-of-range port to the kernel, which refuses it.
    let port = u16::try_from(front.port).map_err(|_| fail("bind", io::Error::from_raw_os_error(libc::EINVAL)))?;
    let addr = RawAddr::new(&SocketAddr::new(front.ip, port));
    // SAFETY: bind reads `len` bytes of a valid socket address.
    check(unsafe { libc::bind(fd.as_raw_fd(), addr.ptr(), addr.len()) }).map_err(|e| fail("bind", e))?;
    if stream {
        // The kernel caps the backlog at net.core.somaxconn, the value Go reads.
        // SAFETY: listen takes integers.
        check(unsafe { libc::listen(fd.as_raw_fd(), 65535) }).map_err(|e| fail("listen", e))?;
    }
    Ok(fd)
}

/// Starts a non-blocking connect; Ok(true) when it completed at once.
pub fn connect(fd: &OwnedFd, to: &SocketAddr) -> io::Result<bool> {
    let addr = RawAddr::new(to);
    // SAFETY: connect reads `len` bytes of a valid socket address.
    match check(unsafe { libc::connect(fd.as_raw_fd(), addr.ptr(), addr.len()) }) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The pending error of a socket (SO_ERROR), which reading clears.
pub fn socket_error(fd: &OwnedFd) -> io::Result<()> {
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into the valid c_int.
    check(unsafe { libc::getsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_ERROR, (&mut err as *mut libc::c_int).cast(), &mut len) })?;
    if err != 0 {
        return Err(io::Error::from_raw_os_error(err));
    }
    Ok(())
}

pub fn shutdown(fd: &OwnedFd, how: libc::c_int) {
    // SAFETY: shutdown takes integers; a failure (not connected) changes nothing.
    unsafe { libc::shutdown(fd.as_raw_fd(), how) };
}

/// Go's TCP defaults for every connection it makes or accepts: no Nagle delay, keepalive
/// probes after 15 s idle.
pub fn tcp_defaults(fd: &OwnedFd) {
    let _ = set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
    let _ = set_int_option(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    let _ = set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 15);
    let _ = set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 15);
}

/// Accepts one connection, non-blocking.
pub fn accept(listener: &OwnedFd) -> io::Result<OwnedFd> {
    // SAFETY: accept4 with null address pointers writes nothing to memory.
    let fd = check(unsafe { libc::accept4(listener.as_raw_fd(), std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) })?;
    // SAFETY: the descriptor is new and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A non-blocking pipe (read end, write end), grown to `size` bytes when the kernel lets us.
pub fn pipe(size: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the valid array.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) })?;
    // SAFETY: both descriptors are new and owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: F_SETPIPE_SZ takes an integer; a refusal leaves the default size.
    unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, size) };
    Ok((r, w))
}

/// Moves up to `len` bytes between two descriptors, one of them a pipe, without blocking on
/// the pipe (the socket is non-blocking itself).
pub fn splice(from: &OwnedFd, to: &OwnedFd, len: usize) -> io::Result<usize> {
    // SAFETY: splice with null offsets reads and writes no memory of ours.
    check_size(unsafe {
        libc::splice(from.as_raw_fd(), std::ptr::null_mut(), to.as_raw_fd(), std::ptr::null_mut(), len, libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK)
    })
}

pub fn recv_from(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<(usize, Option<SocketAddr>)> {
    let mut from = RawAddr::empty();
    // SAFETY: recvfrom writes at most `buf.len()` bytes into the valid buffer and at most
    // `from.len` bytes into the address storage, updating the length.
    let n = check_size(unsafe {
        libc::recvfrom(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0, (&mut from.storage as *mut libc::sockaddr_storage).cast(), &mut from.len)
    })?;
    Ok((n, from.to_socket_addr()))
}

pub fn recv(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: recv writes at most `buf.len()` bytes into the valid buffer.
    check_size(unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) })
}

pub fn send(fd: &OwnedFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: send reads at most `buf.len()` bytes from the valid buffer.
    check_size(unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) })
}

pub fn send_to(fd: &OwnedFd, buf: &[u8], to: &RawAddr) -> io::Result<usize> {
    // SAFETY: sendto reads at most `buf.len()` bytes from the buffer and `len` bytes of the
    // address.
    check_size(unsafe { libc::sendto(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL, to.ptr(), to.len()) })
}

/// A buffer of anonymous memory whose pages the kernel supplies only when written: a UDP
/// proxy needs room for a 64 KiB datagram but most datagrams touch one page of it.
pub struct LazyBuffer {
    ptr: *mut u8,
    len: usize,
}

impl LazyBuffer {
    pub fn new(len: usize) -> io::Result<LazyBuffer> {
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches
        // no existing memory.
        let ptr = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0) };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(LazyBuffer { ptr: ptr.cast(), len })
    }

    pub fn as_mut(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is `len` bytes, readable and writable, alive as long as self,
        // and only reachable through this exclusive borrow.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// Gives the pages back (they read as zeros again), for when the proxy goes idle.
    pub fn release(&mut self) {
        // SAFETY: MADV_DONTNEED on our own private anonymous mapping only drops its pages.
        unsafe { libc::madvise(self.ptr.cast(), self.len, libc::MADV_DONTNEED) };
    }
}

impl Drop for LazyBuffer {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by new() with this length and is not used after.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// Asks the kernel to say, with each datagram, which local address it was sent to.
pub fn want_destination(fd: &OwnedFd, v6: bool) -> io::Result<()> {
    if v6 {
        set_int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
    } else {
        set_int_option(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
    }
}

/// Room for one packet-info control message, aligned as cmsghdr wants.
type ControlBuf = [u64; 8];

/// recvfrom that also returns the local address the datagram was sent to (when
/// [`want_destination`] was asked for).
pub fn recv_from_to(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<(usize, Option<SocketAddr>, Option<IpAddr>)> {
    let mut from = RawAddr::empty();
    let mut control: ControlBuf = [0; 8];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: msghdr is plain data for which all-zero bytes are valid; the fields set below
    // point at live buffers of the lengths given.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut from.storage as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = from.len;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of::<ControlBuf>() as _;
    // SAFETY: recvmsg writes within the buffers msg points at, as sized there.
    let n = check_size(unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, 0) })?;
    from.len = msg.msg_namelen;
    let mut local = None;
    // SAFETY: the CMSG_* walk stays within msg_controllen bytes of `control`, which the kernel
    // filled; each payload is read unaligned by the size of the type its level and type name.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let data = libc::CMSG_DATA(cmsg);
            match ((*cmsg).cmsg_level, (*cmsg).cmsg_type) {
                (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                    let info = std::ptr::read_unaligned(data.cast::<libc::in_pktinfo>());
                    local = Some(IpAddr::V4(Ipv4Addr::from(info.ipi_addr.s_addr.to_ne_bytes())));
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                    let info = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                    local = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                }
                _ => {}
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((n, from.to_socket_addr(), local))
}

/// sendto from a chosen local address (the one the client wrote to), for a socket bound to
/// the wildcard address: the client then sees the reply come from where it sent.
pub fn send_to_from(fd: &OwnedFd, buf: &[u8], to: &RawAddr, local: IpAddr) -> io::Result<usize> {
    let mut control: ControlBuf = [0; 8];
    let mut iov = libc::iovec { iov_base: buf.as_ptr() as *mut libc::c_void, iov_len: buf.len() };
    // SAFETY: as in recv_from_to; sendmsg only reads through these pointers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = to.ptr() as *mut libc::c_void;
    msg.msg_namelen = to.len();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE/CMSG_LEN compute sizes; the header and payload written fit in
    // `control` (64 bytes, more than CMSG_SPACE of either pktinfo), aligned for cmsghdr.
    unsafe {
        let (level, kind, len) = match local {
            IpAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_PKTINFO, std::mem::size_of::<libc::in_pktinfo>()),
            IpAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, std::mem::size_of::<libc::in6_pktinfo>()),
        };
        msg.msg_controllen = libc::CMSG_SPACE(len as u32) as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = level;
        (*cmsg).cmsg_type = kind;
        (*cmsg).cmsg_len = libc::CMSG_LEN(len as u32) as _;
        let data = libc::CMSG_DATA(cmsg);
        match local {
            IpAddr::V4(ip) => {
                let info = libc::in_pktinfo { ipi_ifindex: 0, ipi_spec_dst: libc::in_addr { s_addr: u32::from_ne_bytes(ip.octets()) }, ipi_addr: libc::in_addr { s_addr: 0 } };
                std::ptr::write_unaligned(data.cast::<libc::in_pktinfo>(), info);
            }
            IpAddr::V6(ip) => {
                let info = libc::in6_pktinfo { ipi6_addr: libc::in6_addr { s6_addr: ip.octets() }, ipi6_ifindex: 0 };
                std::ptr::write_unaligned(data.cast::<libc::in6_pktinfo>(), info);
            }
        }
    }
    // SAFETY: sendmsg reads the buffers msg points at, as sized there.
    check_size(unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) })
}
