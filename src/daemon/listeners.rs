//! dockerd's API sockets (`-H`): `unix://PATH` (mode 0660, group `-G`), `tcp://HOST:PORT`
//! (with TLS when `--tls`/`--tlsverify`: rustls, client certificates required and checked
//! against `--tlscacert` with `--tlsverify`), and `fd://` / `fd://N`, sockets handed over by
//! systemd's socket activation (`LISTEN_PID`, `LISTEN_FDS`, from descriptor 3 on). Each
//! listener accepts on a thread of its own and serves each connection on another, as
//! `http::server` does.
//!
//! A TLS connection is served through a socket pair: one thread runs the HTTP server on one
//! end, exactly as for a unix client (hijacked attaches included), and the other pumps bytes
//! between the other end and the TLS session in a poll loop, mapping a `close_notify` to a
//! half-close and back, so half-closed attaches behave as over plain TCP.

use super::config::ConfigOptions;
use crate::http::server::Handler;
use crate::http::Conn;
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Arc;

/// Where a `-H` value says to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    Tcp(String),
    /// `fd://` (every activated socket) or `fd://N`.
    Fd(Option<RawFd>),
}

/// Parses a daemon `-H` as Docker's `ParseDaemonHost`: a tcp host without an address is
/// 127.0.0.1, without a port 2376 with TLS and 2375 without.
pub fn parse_host(host: &str, tls: bool) -> Result<Host, String> {
    if let Some(rest) = host.strip_prefix("fd://") {
        if rest.is_empty() {
            return Ok(Host::Fd(None));
        }
        return rest.parse().map(|n| Host::Fd(Some(n))).map_err(|_| format!("invalid fd address: {host}"));
    }
    if let Some(p) = host.strip_prefix("unix://") {
        let p = if p.is_empty() { "/var/run/docker.sock" } else { p };
        return Ok(Host::Unix(PathBuf::from(p)));
    }
    if host.starts_with('/') {
        return Ok(Host::Unix(PathBuf::from(host)));
    }
    let rest = match host.split_once("://") {
        Some(("tcp", rest)) => rest,
        Some(_) => return Err(format!("Invalid bind address format: {host}")),
        None => host,
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') {
        return Err(format!("invalid bind address ({host}): should not contain a path element"));
    }
    let default_port = if tls { 2376 } else { 2375 };
    let (h, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') || h.starts_with('[') => (h, p.parse::<u16>().map_err(|_| format!("invalid bind address ({host}): invalid proto, expected tcp: {p}"))?),
        _ => (rest, default_port),
    };
    let h = if h.is_empty() { "127.0.0.1" } else { h };
    Ok(Host::Tcp(format!("{h}:{port}")))
}

/// A bound listener, not yet accepting.
enum Bound {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// The listeners of `-H`, bound (so a client may connect, and wait) before the daemon is
/// ready to answer.
pub struct Opened {
    bound: Vec<Bound>,
    tls: Option<Arc<rustls::ServerConfig>>,
    hosts: Vec<String>,
    /// systemd's `NOTIFY_SOCKET` (Type=notify), told `READY=1` once the API is served.
    notify: Option<std::ffi::OsString>,
    pub unix_paths: Vec<PathBuf>,
}

/// Binds every listener of `hosts` (and reads the TLS files): the errors of a bad `-H`, `-G`
/// or certificate come before anything starts.
pub fn open(hosts: &[String], cfg: &ConfigOptions) -> Result<Opened, String> {
    let mut made = Vec::new();
    let opened = open_all(hosts, cfg, &mut made);
    if opened.is_err() {
        for path in made {
            let _ = std::fs::remove_file(path);
        }
    }
    opened
}

fn open_all(hosts: &[String], cfg: &ConfigOptions, made: &mut Vec<PathBuf>) -> Result<Opened, String> {
    let tls_on = cfg.tls || cfg.tlsverify;
    let tls = if tls_on { Some(server_config(cfg)?) } else { None };
    let notify = std::env::var_os("NOTIFY_SOCKET");
    // Taken while dockerd has one thread, so that no child (containerd) inherits it.
    std::env::remove_var("NOTIFY_SOCKET");
    let mut out = Opened { bound: Vec::new(), tls, hosts: hosts.to_vec(), notify, unix_paths: Vec::new() };
    let mut activated: Option<Vec<OwnedFd>> = None;
    for host in hosts {
        match parse_host(host, tls_on)? {
            Host::Unix(path) => {
                if let Some(parent) = path.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                let l = crate::sys::bind_unix(&path).map_err(|e| format!("can't create unix socket {}: {e}", path.display()))?;
                out.unix_paths.push(path.clone());
                made.push(path.clone());
                set_socket_owner(&path, &cfg.group, cfg.group_given)?;
                out.bound.push(Bound::Unix(l));
            }
            Host::Tcp(addr) => {
                let l = TcpListener::bind(&addr).map_err(|e| format!("failed to load listeners: listen tcp {addr}: {e}"))?;
                if !cfg.tlsverify {
                    // Docker's warnings for a TCP socket anyone may use.
                    let host = format!("tcp://{addr}");
                    let warn = |msg: &str| crate::log::line(crate::log::Level::Warn, msg, &[("host", &host)]);
                    warn("Binding to IP address without --tlsverify is insecure and gives root access on this machine to everyone who has access to your network.");
                    warn("Binding to an IP address, even on localhost, can also give access to scripts run in a browser. Be safe out there!");
                }
                out.bound.push(Bound::Tcp(l));
            }
            Host::Fd(which) => {
                let fds = match activated.as_mut() {
                    Some(f) => f,
                    None => activated.insert(take_activated_sockets()?),
                };
                let chosen: Vec<OwnedFd> = match which {
                    None if fds.is_empty() => return Err("no sockets found via socket activation: make sure the service was started by systemd".into()),
                    None => std::mem::take(fds),
                    Some(n) => match fds.iter().position(|f| f.as_raw_fd() == n) {
                        Some(i) => vec![fds.remove(i)],
                        None => return Err(format!("failed to find socket activated file descriptor {n}")),
                    },
                };
                for fd in chosen {
                    out.bound.push(if is_unix_socket(&fd) { Bound::Unix(UnixListener::from(fd)) } else { Bound::Tcp(TcpListener::from(fd)) });
                }
            }
        }
    }
    Ok(out)
}

impl Opened {
    /// Starts accepting on every listener, a thread each.
    pub fn serve(mut self, handler: Handler) -> Result<Vec<PathBuf>, String> {
        for b in std::mem::take(&mut self.bound) {
            match b {
                Bound::Unix(l) => spawn_unix(l, handler.clone())?,
                Bound::Tcp(l) => spawn_tcp(l, handler.clone(), self.tls.clone())?,
            }
        }
        for host in &self.hosts {
            crate::log::info(&format!("API listen on {host}"));
        }
        if let Some(socket) = &self.notify {
            if let Err(e) = notify_systemd(socket, "READY=1") {
                crate::log::warn(&format!("failed to notify systemd: {e}"));
            }
        }
        Ok(std::mem::take(&mut self.unix_paths))
    }
}

/// Listeners never served (a start that failed after binding them) leave no socket file.
impl Drop for Opened {
    fn drop(&mut self) {
        for path in &self.unix_paths {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// sd_notify(3): one datagram to the socket systemd named (`@name`: an abstract one).
fn notify_systemd(socket: &std::ffi::OsStr, state: &str) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let bytes = socket.as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name)?
        }
        None => SocketAddr::from_pathname(std::path::Path::new(socket))?,
    };
    let sock = UnixDatagram::unbound()?;
    sock.send_to_addr(state.as_bytes(), &addr).map(|_| ())
}

fn spawn_unix(l: UnixListener, h: Handler) -> Result<(), String> {
    std::thread::Builder::new().name("listen".into()).spawn(move || crate::http::server::serve_unix(l, h)).map(|_| ()).map_err(|e| e.to_string())
}

fn spawn_tcp(l: TcpListener, h: Handler, tls: Option<Arc<rustls::ServerConfig>>) -> Result<(), String> {
    let spawned = match tls {
        None => std::thread::Builder::new().name("listen".into()).spawn(move || crate::http::server::serve_tcp(l, h)),
        Some(config) => std::thread::Builder::new().name("listen-tls".into()).spawn(move || serve_tls(l, h, config)),
    };
    spawned.map(|_| ()).map_err(|e| e.to_string())
}

/// Mode 0660 and group `-G` (root's own group when Docker's default `docker` is missing,
/// as Docker does with a warning).
fn set_socket_owner(path: &std::path::Path, group: &str, explicit: bool) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let gid = match super::config::socket_group(group, explicit)? {
        Some(g) => g,
        None => {
            if !group.is_empty() {
                crate::log::warn(&format!("could not change group {} to {group}: group {group} not found", path.display()));
            }
            nix::unistd::getgid().as_raw()
        }
    };
    std::os::unix::fs::chown(path, Some(0), Some(gid)).map_err(|e| format!("can't create unix socket {}: chown: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(|e| format!("can't create unix socket {}: chmod: {e}", path.display()))
}

/// The sockets systemd passed (`LISTEN_FDS` from descriptor 3, for `LISTEN_PID` = us); the
/// variables are removed so no child takes them for its own, and the descriptors made
/// close-on-exec.
fn take_activated_sockets() -> Result<Vec<OwnedFd>, String> {
    let pid_ok = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS").ok().and_then(|n| n.parse::<i32>().ok()).unwrap_or(0);
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    if !pid_ok {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for fd in 3..3 + count {
        if nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_err() {
            return Err(format!("socket activation: descriptor {fd} is not open"));
        }
        let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC));
        // SAFETY: systemd handed this open descriptor to this process (LISTEN_FDS, checked
        // open just above) and nothing else in dockerd owns it; it is taken exactly once.
        out.push(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    Ok(out)
}

fn is_unix_socket(fd: &OwnedFd) -> bool {
    nix::sys::socket::getsockname::<nix::sys::socket::SockaddrStorage>(fd.as_raw_fd()).ok().is_some_and(|a| a.as_unix_addr().is_some())
}

/// The TLS server configuration: `--tlscert`/`--tlskey`, and with `--tlsverify` client
/// certificates required and verified against `--tlscacert` only.
pub fn server_config(cfg: &ConfigOptions) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (ca, cert, key) = super::config::tls_paths(cfg)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("Could not load X509 key pair ({}, {}): {e}", cert.display(), key.display()))?;
    if certs.is_empty() {
        return Err(format!("Could not load X509 key pair ({}, {}): no certificate found", cert.display(), key.display()));
    }
    let private = PrivateKeyDer::from_pem_file(&key).map_err(|e| format!("Could not load X509 key pair ({}, {}): {e}", cert.display(), key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone()).with_protocol_versions(rustls::DEFAULT_VERSIONS).map_err(|e| e.to_string())?;
    let builder = match ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&ca)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("Could not read CA certificate \"{}\": {e}", ca.display()))?;
            for c in cas {
                roots.add(c).map_err(|e| format!("Could not read CA certificate \"{}\": {e}", ca.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("failed to append certificates from PEM file: \"{}\"", ca.display()));
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().map_err(|e| e.to_string())?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, private).map_err(|e| format!("Could not load X509 key pair ({}, {}): {e}", cert.display(), key.display()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn serve_tls(listener: TcpListener, handler: Handler, config: Arc<rustls::ServerConfig>) {
    for conn in listener.incoming() {
        let tcp = match conn {
            Ok(c) => c,
            Err(e) => {
                crate::log::error(&format!("accept: {e}"));
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (config, handler) = (config.clone(), handler.clone());
        let spawned = std::thread::Builder::new().name("tls".into()).stack_size(256 << 10).spawn(move || {
            let Ok((ours, theirs)) = UnixStream::pair() else { return };
            let server = std::thread::Builder::new().name("http".into()).stack_size(256 << 10).spawn(move || {
                let _ = crate::http::server::serve_connection(Conn::Unix(theirs), &handler);
            });
            if server.is_err() {
                return;
            }
            if let Err(e) = pump(tcp, ours, config) {
                if !matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof) {
                    crate::log::line(crate::log::Level::Debug, "TLS handshake failed", &[("error", &e.to_string())]);
                }
            }
        });
        if let Err(e) = spawned {
            crate::log::error(&format!("cannot start a connection thread: {e}"));
        }
    }
}

/// Moves bytes between a TLS client and the plain end of the HTTP server's socket pair
/// until both directions have ended.
fn pump(mut tcp: std::net::TcpStream, mut plain: UnixStream, config: Arc<rustls::ServerConfig>) -> io::Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut tls = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
    tcp.set_nonblocking(true)?;
    plain.set_nonblocking(true)?;
    let mut to_plain: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 16 << 10];
    // Whether the client ended its side (close_notify or EOF), and whether the server did.
    let (mut client_done, mut server_done) = (false, false);
    let mut plain_write_shut = false;
    loop {
        // Flush what is due to the client.
        while tls.wants_write() {
            match tls.write_tls(&mut tcp) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        // Hand what the client sent to the server.
        while !to_plain.is_empty() {
            match plain.write(&to_plain) {
                Ok(n) => {
                    to_plain.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        if client_done && to_plain.is_empty() && !plain_write_shut {
            let _ = plain.shutdown(std::net::Shutdown::Write);
            plain_write_shut = true;
        }
        if client_done && server_done && !tls.wants_write() {
            let _ = tcp.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        if server_done && !tls.wants_write() && plain_write_shut {
            return Ok(());
        }
        let mut tcp_events = PollFlags::empty();
        if !client_done && to_plain.is_empty() {
            tcp_events |= PollFlags::POLLIN;
        }
        if tls.wants_write() {
            tcp_events |= PollFlags::POLLOUT;
        }
        let mut plain_events = PollFlags::empty();
        if !server_done && !tls.is_handshaking() && !tls.wants_write() {
            plain_events |= PollFlags::POLLIN;
        }
        if !to_plain.is_empty() {
            plain_events |= PollFlags::POLLOUT;
        }
        // A descriptor is polled only for what is awaited on it, so that a hang-up already
        // seen does not wake the loop again and again; the plain end is always watched for
        // the server's full close (POLLHUP: a half-close does not raise it).
        let (tcp_ready, plain_ready) = {
            let mut fds = Vec::with_capacity(2);
            fds.push(PollFd::new(plain.as_fd(), plain_events));
            if !tcp_events.is_empty() {
                fds.push(PollFd::new(tcp.as_fd(), tcp_events));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let revents = |i: usize| fds.get(i).and_then(|f| f.revents()).unwrap_or(PollFlags::empty());
            (revents(1), revents(0))
        };
        if server_done && plain_ready.contains(PollFlags::POLLHUP) {
            // The server closed the connection: nothing more goes either way.
            while tls.wants_write() {
                tcp.set_nonblocking(false)?;
                tls.write_tls(&mut tcp)?;
            }
            let _ = tcp.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        if tcp_ready.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) && !client_done && to_plain.is_empty() {
            match tls.read_tls(&mut tcp) {
                Ok(0) => client_done = true,
                Ok(_) => {
                    if let Err(e) = tls.process_new_packets() {
                        let _ = tls.write_tls(&mut tcp);
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                    loop {
                        match tls.reader().read(&mut buf) {
                            Ok(0) => {
                                client_done = true;
                                break;
                            }
                            Ok(n) => to_plain.extend_from_slice(&buf[..n]),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        if plain_ready.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) && !server_done && !tls.is_handshaking() {
            match plain.read(&mut buf) {
                Ok(0) => {
                    server_done = true;
                    tls.send_close_notify();
                }
                Ok(n) => tls.writer().write_all(&buf[..n])?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_as_docker_reads_them() {
        assert_eq!(parse_host("tcp://127.0.0.1:2375", false).unwrap(), Host::Tcp("127.0.0.1:2375".into()));
        assert_eq!(parse_host("tcp://", false).unwrap(), Host::Tcp("127.0.0.1:2375".into()));
        assert_eq!(parse_host("tcp://", true).unwrap(), Host::Tcp("127.0.0.1:2376".into()));
        assert_eq!(parse_host("tcp://:4243", false).unwrap(), Host::Tcp("127.0.0.1:4243".into()));
        assert_eq!(parse_host("tcp://[::1]:4243", false).unwrap(), Host::Tcp("[::1]:4243".into()));
        assert_eq!(parse_host("unix:///run/x.sock", false).unwrap(), Host::Unix("/run/x.sock".into()));
        assert_eq!(parse_host("fd://", false).unwrap(), Host::Fd(None));
        assert_eq!(parse_host("fd://3", false).unwrap(), Host::Fd(Some(3)));
        assert!(parse_host("udp://1.2.3.4:5", false).is_err());
    }
}
