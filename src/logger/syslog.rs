//! The `syslog` driver: each message to a syslog server as Docker's (with the srslog
//! library) sends it. `syslog-address` is `unix:///path`, `unixgram:///path`,
//! `tcp://host[:port]` or `udp://host[:port]` (port 514 by default), or empty for the local
//! syslog (`/dev/log`, `/var/run/syslog`, `/var/run/log`); `syslog-facility` a name or 0-23
//! (`daemon` by default); stdout at severity info, stderr at err; `tag` a template
//! (`{{.ID}}` by default); `syslog-format`:
//! - unset: `<PRI>Jan _2 15:04:05 TAG[PID]: MSG`
//! - `rfc3164`: `<PRI>Jan _2 15:04:05 HOST TAG[PID]: MSG`
//! - `rfc5424`: `<PRI>1 2006-01-02T15:04:05Z07:00 HOST TAG PID TAG - MSG`
//! - `rfc5424micro`: the same with microseconds,
//!
//! each ending in a newline, local time, PID dockerd's, HOST the socket's local address
//! (srslog's choice; empty on a unix socket). As Docker, syslog cannot be read back:
//! `docker logs` reads the local cache ([`super::local`] format in `container-cached.log`)
//! unless `cache-disabled`. TLS (`tcp+tls`, `syslog-tls-*`) is refused.

use super::{opt, Info, Message};
use serde_json::{Map, Value};
use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixStream};

const OPTS: &[&str] = &["env", "env-regex", "labels", "labels-regex", "tag", "syslog-address", "syslog-facility", "syslog-tls-ca-cert", "syslog-tls-cert", "syslog-tls-key", "syslog-tls-skip-verify", "syslog-format"];

const FACILITIES: &[(&str, u8)] = &[
    ("kern", 0), ("user", 1), ("mail", 2), ("daemon", 3), ("auth", 4), ("syslog", 5), ("lpr", 6), ("news", 7), ("uucp", 8), ("cron", 9), ("authpriv", 10), ("ftp", 11),
    ("local0", 16), ("local1", 17), ("local2", 18), ("local3", 19), ("local4", 20), ("local5", 21), ("local6", 22), ("local7", 23),
];

#[derive(Debug, Clone, PartialEq)]
enum Address {
    /// The local syslog's usual sockets.
    Local,
    Unix(String),
    Unixgram(String),
    Tcp(String),
    Udp(String),
}

fn parse_address(address: &str) -> Result<Address, String> {
    if address.is_empty() {
        return Ok(Address::Local);
    }
    let Some((scheme, rest)) = address.split_once("://") else {
        return Err(format!("unsupported scheme: '{}'", if address.contains(':') { address.split(':').next().unwrap_or("") } else { "" }));
    };
    match scheme {
        "unix" | "unixgram" => {
            std::fs::metadata(rest).map_err(|e| format!("stat {rest}: {}", go_errno_text(&e)))?;
            Ok(if scheme == "unix" { Address::Unix(rest.to_string()) } else { Address::Unixgram(rest.to_string()) })
        }
        "tcp" | "udp" => {
            let host = rest.split('/').next().unwrap_or("");
            let with_port = if host.rsplit_once(':').is_some_and(|(h, p)| !p.is_empty() && (!h.contains(':') || h.ends_with(']'))) { host.to_string() } else { format!("{host}:514") };
            Ok(if scheme == "tcp" { Address::Tcp(with_port) } else { Address::Udp(with_port) })
        }
        "tcp+tls" => Err("syslog-address tcp+tls:// (HostConfig.LogConfig.Config) is not supported by this daemon: TLS to a syslog server is not implemented".into()),
        s => Err(format!("unsupported scheme: '{s}'")),
    }
}

/// Go's text for an errno (lower case, as `os.Stat` errors print).
fn go_errno_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOENT) => "no such file or directory".into(),
        Some(libc::EACCES) => "permission denied".into(),
        Some(libc::ECONNREFUSED) => "connection refused".into(),
        Some(libc::EPROTOTYPE) => "protocol wrong type for socket".into(),
        _ => e.to_string(),
    }
}

fn parse_facility(f: &str) -> Result<u8, String> {
    if f.is_empty() {
        return Ok(3);
    }
    if let Some((_, n)) = FACILITIES.iter().find(|(name, _)| *name == f) {
        return Ok(*n);
    }
    match f.parse::<u8>() {
        Ok(n) if n <= 23 => Ok(n),
        _ => Err("invalid syslog facility".into()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Unix,
    Rfc3164,
    Rfc5424,
    Rfc5424Micro,
}

fn parse_format(f: &str) -> Result<Format, String> {
    match f {
        "" => Ok(Format::Unix),
        "rfc3164" => Ok(Format::Rfc3164),
        "rfc5424" => Ok(Format::Rfc5424),
        "rfc5424micro" => Ok(Format::Rfc5424Micro),
        _ => Err("Invalid syslog format".into()),
    }
}

pub fn validate(opts: &Map<String, Value>) -> Result<(), String> {
    if let Some(key) = opts.keys().find(|k| !OPTS.contains(&k.as_str())) {
        return Err(format!("unknown log opt '{key}' for syslog log driver"));
    }
    if let Some(key) = opts.keys().find(|k| k.starts_with("syslog-tls-")) {
        return Err(format!("log opt '{key}' (HostConfig.LogConfig.Config) is not supported by this daemon: TLS to a syslog server is not implemented"));
    }
    parse_address(&opt(opts, "syslog-address").unwrap_or_default())?;
    parse_facility(&opt(opts, "syslog-facility").unwrap_or_default())?;
    parse_format(&opt(opts, "syslog-format").unwrap_or_default())?;
    for key in ["labels-regex", "env-regex"] {
        if let Some(re) = opt(opts, key).filter(|v| !v.is_empty()) {
            crate::regexp::Regex::new(&re)?;
        }
    }
    Ok(())
}

/// Whether `docker logs` reads syslog's local cache (Docker's dual logging, on unless
/// `cache-disabled` is true).
pub fn cache_enabled(opts: &Map<String, Value>) -> bool {
    match opt(opts, "cache-disabled").filter(|v| !v.is_empty()) {
        None => true,
        Some(v) => super::parse_bool(&v) == Some(false),
    }
}

enum Conn {
    Stream(Box<dyn StreamConn>),
    UnixDgram(UnixDatagram),
    Udp(UdpSocket),
}

trait StreamConn: Write + AsRawFd + Send {}
impl StreamConn for UnixStream {}
impl StreamConn for TcpStream {}

pub struct Writer {
    address: Address,
    conn: Option<Conn>,
    /// What srslog calls the hostname: the connection's local address.
    hostname: String,
    facility: u8,
    tag: String,
    format: Format,
    /// `mode=non-blocking`: a message the server cannot take at once is dropped rather than
    /// holding up the container's output; the socket's send buffer, `max-buffer-size` bytes
    /// (1 MB by default, as Docker's ring buffer), is what may wait for the server.
    non_blocking: Option<usize>,
}

impl Conn {
    fn raw_fd(&self) -> i32 {
        match self {
            Conn::Stream(s) => s.as_raw_fd(),
            Conn::UnixDgram(s) => s.as_raw_fd(),
            Conn::Udp(s) => s.as_raw_fd(),
        }
    }

    /// Sizes the kernel's send buffer (dockerd may go past `wmem_max`, as root).
    fn set_send_buffer(&self, bytes: usize) {
        let v = libc::c_int::try_from(bytes / 2).unwrap_or(libc::c_int::MAX);
        for opt in [libc::SO_SNDBUFFORCE, libc::SO_SNDBUF] {
            // SAFETY: the descriptor is this connection's open socket, and the option value
            // is a live c_int of the size passed. The kernel doubles the value given.
            let r = unsafe { libc::setsockopt(self.raw_fd(), libc::SOL_SOCKET, opt, (&v as *const libc::c_int).cast(), std::mem::size_of::<libc::c_int>() as libc::socklen_t) };
            if r == 0 {
                return;
            }
        }
    }
}

fn dial(address: &Address) -> io::Result<(Conn, String)> {
    match address {
        Address::Unix(p) => Ok((Conn::Stream(Box::new(UnixStream::connect(p)?)), String::new())),
        Address::Unixgram(p) => {
            let s = UnixDatagram::unbound()?;
            s.connect(p)?;
            Ok((Conn::UnixDgram(s), String::new()))
        }
        Address::Tcp(a) => {
            let s = TcpStream::connect(a.as_str())?;
            let local = s.local_addr()?.to_string();
            Ok((Conn::Stream(Box::new(s)), local))
        }
        Address::Udp(a) => {
            let target = a.as_str().to_socket_addrs()?.next().ok_or_else(|| io::Error::other(format!("no address for {a}")))?;
            let s = UdpSocket::bind(if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })?;
            s.connect(target)?;
            let local = s.local_addr()?.to_string();
            Ok((Conn::Udp(s), local))
        }
        Address::Local => {
            let mut last = io::Error::from(io::ErrorKind::NotFound);
            for p in ["/dev/log", "/var/run/syslog", "/var/run/log"] {
                let s = UnixDatagram::unbound()?;
                if s.connect(p).is_ok() {
                    return Ok((Conn::UnixDgram(s), "localhost".into()));
                }
                match UnixStream::connect(p) {
                    Ok(s) => return Ok((Conn::Stream(Box::new(s)), "localhost".into())),
                    Err(e) => last = e,
                }
            }
            Err(io::Error::new(last.kind(), "Unix syslog delivery error"))
        }
    }
}

fn dial_error(address: &Address, e: &io::Error) -> String {
    let (net, addr) = match address {
        Address::Unix(p) => ("unix", p.as_str()),
        Address::Unixgram(p) => ("unixgram", p.as_str()),
        Address::Tcp(a) => ("tcp", a.as_str()),
        Address::Udp(a) => ("udp", a.as_str()),
        Address::Local => return e.to_string(),
    };
    format!("dial {net} {addr}: connect: {}", go_errno_text(e))
}

impl Writer {
    pub fn open(opts: &Map<String, Value>, info: &Info) -> Result<Writer, String> {
        let tag = info.tag(opts, "{{.ID}}")?;
        let address = parse_address(&opt(opts, "syslog-address").unwrap_or_default())?;
        let facility = parse_facility(&opt(opts, "syslog-facility").unwrap_or_default())?;
        let format = parse_format(&opt(opts, "syslog-format").unwrap_or_default())?;
        let non_blocking = match opt(opts, "mode").as_deref() {
            Some("non-blocking") => Some(match opt(opts, "max-buffer-size") {
                Some(v) => usize::try_from(super::ram_in_bytes(&v)?).unwrap_or(0),
                None => 1 << 20,
            }),
            _ => None,
        };
        let (conn, hostname) = dial(&address).map_err(|e| dial_error(&address, &e))?;
        if let Some(size) = non_blocking {
            conn.set_send_buffer(size);
        }
        Ok(Writer { address, conn: Some(conn), hostname, facility, tag, format, non_blocking })
    }

    fn format(&self, severity: u8, line: &[u8]) -> Vec<u8> {
        let pri = self.facility << 3 | severity;
        let now = local_now();
        let pid = std::process::id();
        let head = match self.format {
            Format::Unix => format!("<{pri}>{} {}[{pid}]: ", now.stamp(), self.tag),
            Format::Rfc3164 => format!("<{pri}>{} {} {}[{pid}]: ", now.stamp(), self.hostname, self.tag),
            Format::Rfc5424 => format!("<{pri}>1 {} {} {} {pid} {} - ", now.rfc3339(None), self.hostname, self.tag, self.tag),
            Format::Rfc5424Micro => format!("<{pri}>1 {} {} {} {pid} {} - ", now.rfc3339(Some(6)), self.hostname, self.tag, self.tag),
        };
        let mut out = head.into_bytes();
        out.extend_from_slice(line);
        if !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        out
    }

    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        let Some(conn) = self.conn.as_mut() else { return Err(io::Error::from(io::ErrorKind::NotConnected)) };
        let flags = libc::MSG_NOSIGNAL | if self.non_blocking.is_some() { libc::MSG_DONTWAIT } else { 0 };
        match conn {
            Conn::UnixDgram(s) => send_flags(s.as_raw_fd(), msg, flags).map(drop),
            Conn::Udp(s) => send_flags(s.as_raw_fd(), msg, flags).map(drop),
            Conn::Stream(s) => {
                // The first bytes may be refused at once in non-blocking mode (the message is
                // dropped); once some are out, the rest must follow or the stream is torn.
                let n = send_flags(s.as_raw_fd(), msg, flags)?;
                let mut done = n;
                while done < msg.len() {
                    done += send_flags(s.as_raw_fd(), &msg[done..], libc::MSG_NOSIGNAL)?;
                }
                Ok(())
            }
        }
    }

    /// Sends one message; on a failure the connection is made again and the message sent
    /// once more (srslog's retry). Empty lines are not sent, as Docker's.
    pub fn log(&mut self, m: &Message) -> io::Result<()> {
        if m.line.is_empty() {
            return Ok(());
        }
        let msg = self.format(if m.source == "stderr" { 3 } else { 6 }, m.line);
        match self.send(&msg) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(_) => {
                self.conn = None;
                let (conn, hostname) = dial(&self.address).map_err(|e| io::Error::new(e.kind(), dial_error(&self.address, &e)))?;
                if let Some(size) = self.non_blocking {
                    conn.set_send_buffer(size);
                }
                self.conn = Some(conn);
                self.hostname = hostname;
                self.send(&msg)
            }
        }
    }
}

fn send_flags(fd: i32, data: &[u8], flags: i32) -> io::Result<usize> {
    loop {
        // SAFETY: `fd` is an open socket owned by the caller for the call's duration, and
        // the pointer and length describe the live slice `data`.
        let n = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), flags) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The local wall-clock time, as Go's `time.Now()` formats it.
struct LocalTime {
    tm: libc::tm,
    nanos: u32,
}

fn local_now() -> LocalTime {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    // SAFETY: an all-zero `tm` is a valid value of this plain C struct (the fallback).
    let tm = crate::time64::localtime(d.as_secs() as i64).unwrap_or_else(|| unsafe { std::mem::zeroed() });
    LocalTime { tm, nanos: d.subsec_nanos() }
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

impl LocalTime {
    /// Go's `time.Stamp`: `Jan _2 15:04:05`.
    fn stamp(&self) -> String {
        let t = &self.tm;
        format!("{} {:>2} {:02}:{:02}:{:02}", MONTHS[t.tm_mon.clamp(0, 11) as usize], t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
    }

    /// Go's RFC 3339 (`Z` for UTC, else `+hh:mm`), with `digits` of fraction when asked.
    fn rfc3339(&self, digits: Option<usize>) -> String {
        let t = &self.tm;
        let frac = match digits {
            Some(6) => format!(".{:06}", self.nanos / 1000),
            _ => String::new(),
        };
        let off = t.tm_gmtoff;
        let zone = if off == 0 { "Z".to_string() } else { format!("{}{:02}:{:02}", if off < 0 { '-' } else { '+' }, off.abs() / 3600, off.abs() % 3600 / 60) };
        format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{frac}{zone}", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_facilities_and_formats() {
        assert_eq!(parse_address("tcp://127.0.0.1").unwrap(), Address::Tcp("127.0.0.1:514".into()));
        assert_eq!(parse_address("udp://127.0.0.1:5514").unwrap(), Address::Udp("127.0.0.1:5514".into()));
        assert_eq!(parse_address("http://x").unwrap_err(), "unsupported scheme: 'http'");
        assert_eq!(parse_address("unix:///nonexistent/x").unwrap_err(), "stat /nonexistent/x: no such file or directory");
        assert_eq!(parse_facility("local3").unwrap(), 19);
        assert_eq!(parse_facility("7").unwrap(), 7);
        assert_eq!(parse_facility("24").unwrap_err(), "invalid syslog facility");
        assert_eq!(parse_format("x").unwrap_err(), "Invalid syslog format");
        let w = Writer { address: Address::Local, conn: None, hostname: "h".into(), facility: 3, tag: "t".into(), format: Format::Rfc5424, non_blocking: None };
        let m = String::from_utf8(w.format(3, b"boom")).unwrap();
        assert!(m.starts_with("<27>1 ") && m.ends_with(&format!(" h t {} t - boom\n", std::process::id())), "{m}");
    }
}
