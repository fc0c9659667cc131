//! docker-proxy: Docker's userland proxy, one process per published port, with Docker's
//! command line (`-proto tcp|udp -host-ip -host-port -container-ip -container-port`, parsed as
//! Go's `flag` package parses it) and its readiness protocol: the parent passes a pipe as fd 3
//! and reads `0\n` once the proxy listens, or `1\n<error>` (Go's text, e.g. `listen tcp4
//! 0.0.0.0:8080: bind: address already in use`) before it exits 1. SIGTERM and SIGINT end it.
//!
//! One thread and one epoll set do everything, so an idle proxy holds no stack or buffer
//! beyond its tables: TCP bytes move with splice(2) through a pipe per direction (never
//! through user memory), half-closes pass through, and UDP keeps one connected socket to the
//! container per client address, forgotten after Docker's 90 s of silence (`tcp`, `udp`).
//! SCTP is refused: this kernel family has no portable SCTP stream API we could test.

mod poller;
mod tcp;
mod udp;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{FromRawFd, OwnedFd};

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub proto: String,
    /// As Go's `net.ParseIP`: None for an empty or unreadable address.
    pub host_ip: Option<IpAddr>,
    pub host_port: i64,
    pub container_ip: Option<IpAddr>,
    pub container_port: i64,
    pub version: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { proto: "tcp".into(), host_ip: None, host_port: -1, container_ip: None, container_port: -1, version: false }
    }
}

/// The outcome of reading the command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Options),
    /// Print this to stderr and exit with the code (Go's flag package: 0 for -h, 2 for errors).
    Exit(i32, String),
}

pub fn main(args: Vec<String>) -> i32 {
    // The readiness pipe is taken first, before anything else may open a descriptor.
    let ready = ReadyPipe::take();
    let argv0 = args.first().cloned().unwrap_or_else(|| "docker-proxy".into());
    let opts = match parse(&argv0, args.get(1..).unwrap_or_default()) {
        Parsed::Run(opts) => opts,
        Parsed::Exit(code, text) => {
            eprint!("{text}");
            return code;
        }
    };
    if opts.version {
        println!("docker-proxy (commit {}) version {}", crate::version::GIT_COMMIT, crate::version::DOCKBOX);
        return 0;
    }
    raise_nofile_limit();
    let started = match opts.proto.as_str() {
        "tcp" => backend(&opts).and_then(|to| tcp::Proxy::listen(frontend(&opts), to).map(Proxy::Tcp)),
        "udp" => backend(&opts).and_then(|to| udp::Proxy::listen(frontend(&opts), to).map(Proxy::Udp)),
        "sctp" => Err("unsupported protocol sctp: dockbox's docker-proxy proxies tcp and udp".to_string()),
        other => Err(format!("unsupported protocol {other}")),
    };
    let proxy = match started {
        Ok(p) => p,
        Err(e) => {
            ready.fail(&e);
            eprintln!("docker-proxy: {e}");
            return 1;
        }
    };
    let result = match proxy {
        Proxy::Tcp(p) => p.run(ready),
        Proxy::Udp(p) => p.run(ready),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("docker-proxy: {e}");
            1
        }
    }
}

enum Proxy {
    Tcp(tcp::Proxy),
    Udp(udp::Proxy),
}

/// Where to listen: Go's `ListenTCP("tcp4"/"tcp6", addr)`. An address Go cannot read is its
/// nil IP, which To4() does not take: the IPv6 wildcard.
pub(crate) struct Frontend {
    pub ip: IpAddr,
    /// Whether the address was given (Go prints a nil IP as nothing: `:8080`).
    pub given: bool,
    pub port: i64,
}

impl Frontend {
    /// Go's TCPAddr/UDPAddr String(): `1.2.3.4:80`, `[::1]:80`, `:80` for the nil IP.
    pub fn display(&self) -> String {
        match (self.given, self.ip) {
            (false, _) => format!(":{}", self.port),
            (true, IpAddr::V4(ip)) => format!("{ip}:{}", self.port),
            (true, IpAddr::V6(ip)) => format!("[{ip}]:{}", self.port),
        }
    }
}

fn frontend(opts: &Options) -> Frontend {
    match opts.host_ip.map(go_canonical) {
        Some(ip) => Frontend { ip, given: true, port: opts.host_port },
        None => Frontend { ip: IpAddr::V6(Ipv6Addr::UNSPECIFIED), given: false, port: opts.host_port },
    }
}

/// The container's address. Go dials a nil IP as 0.0.0.0 (this host); a port outside 0..65535
/// would fail every connection, so it is refused at start.
fn backend(opts: &Options) -> Result<SocketAddr, String> {
    let ip = opts.container_ip.map(go_canonical).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let port = u16::try_from(opts.container_port).map_err(|_| format!("invalid container port {}", opts.container_port))?;
    Ok(SocketAddr::new(ip, port))
}

/// Go treats an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) as the IPv4 address.
fn go_canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// fd 3 as the parent passed it: where `0\n` or `1\n<error>` goes, closed once written.
pub(crate) struct ReadyPipe(Option<OwnedFd>);

impl ReadyPipe {
    fn take() -> ReadyPipe {
        // SAFETY: F_GETFD only asks whether descriptor 3 is open; it touches no memory.
        if unsafe { libc::fcntl(3, libc::F_GETFD) } < 0 {
            return ReadyPipe(None);
        }
        // SAFETY: fd 3 is open and was handed to us by the parent for this purpose; nothing
        // else in this process owns it. It must not leak into anything we might start.
        unsafe { libc::fcntl(3, libc::F_SETFD, libc::FD_CLOEXEC) };
        // SAFETY: as above, we take sole ownership of descriptor 3.
        ReadyPipe(Some(unsafe { OwnedFd::from_raw_fd(3) }))
    }

    pub fn ready(self) {
        self.send(b"0\n");
    }

    fn fail(self, error: &str) {
        self.send(format!("1\n{error}").as_bytes());
    }

    fn send(mut self, bytes: &[u8]) {
        if let Some(fd) = self.0.take() {
            let _ = poller::write_all(&fd, bytes);
        }
    }
}

/// Go programs lift their soft limit on open files to the hard one at start; each proxied
/// TCP connection holds six descriptors (two sockets, two pipes).
fn raise_nofile_limit() {
    let mut lim = libc::rlimit64 { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit64 writes one rlimit64 to the valid pointer; setrlimit64 reads one.
    unsafe {
        if libc::getrlimit64(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit64(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// One flag of the command line, as Go's flag package defines it.
struct Flag {
    name: &'static str,
    kind: Kind,
    usage: &'static str,
}

#[derive(PartialEq)]
enum Kind {
    Str(&'static str),
    Int(i64),
    Bool,
}

/// Docker 24's flags, in the order Go prints them (sorted by name).
const FLAGS: &[Flag] = &[
    Flag { name: "container-ip", kind: Kind::Str(""), usage: "container ip" },
    Flag { name: "container-port", kind: Kind::Int(-1), usage: "container port" },
    Flag { name: "host-ip", kind: Kind::Str(""), usage: "host ip" },
    Flag { name: "host-port", kind: Kind::Int(-1), usage: "host port" },
    Flag { name: "proto", kind: Kind::Str("tcp"), usage: "proxy protocol" },
    Flag { name: "v", kind: Kind::Bool, usage: "print version information and quit" },
    Flag { name: "version", kind: Kind::Bool, usage: "print version information and quit" },
];

/// Go's `flag.Usage` for this flag set: `Usage of ARGV0:` and PrintDefaults.
pub fn usage(argv0: &str) -> String {
    let mut out = format!("Usage of {argv0}:\n");
    for f in FLAGS {
        let mut line = format!("  -{}", f.name);
        match f.kind {
            Kind::Str(_) => line.push_str(" string"),
            Kind::Int(_) => line.push_str(" int"),
            Kind::Bool => {}
        }
        // Go puts a one-letter boolean's usage on the same line.
        line.push_str(if line.len() <= 4 { "\t" } else { "\n    \t" });
        line.push_str(f.usage);
        match f.kind {
            Kind::Str(d) if !d.is_empty() => line.push_str(&format!(" (default {d:?})")),
            Kind::Int(d) if d != 0 => line.push_str(&format!(" (default {d})")),
            _ => {}
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Reads the arguments after argv[0] as Go's `flag.Parse` does: `-flag value`, `-flag=value`,
/// `--flag` as `-flag`, booleans without a value, parsing ending at the first non-flag or
/// after `--`; what follows is ignored, as Docker's proxy ignores it.
pub fn parse(argv0: &str, args: &[String]) -> Parsed {
    let mut opts = Options::default();
    let mut rest = args.iter();
    let fail = |msg: String| Parsed::Exit(2, format!("{msg}\n{}", usage(argv0)));
    while let Some(arg) = rest.as_slice().first() {
        if arg.len() < 2 || !arg.starts_with('-') {
            break;
        }
        rest.next();
        if arg == "--" {
            break;
        }
        let name = arg.strip_prefix("--").unwrap_or(&arg[1..]);
        if name.is_empty() || name.starts_with('-') || name.starts_with('=') {
            return fail(format!("bad flag syntax: {arg}"));
        }
        // As Go, an `=` is looked for from the name's second character on.
        let (name, value) = match name.char_indices().skip(1).find(|&(_, c)| c == '=') {
            Some((i, _)) => (&name[..i], Some(name[i + 1..].to_string())),
            None => (name, None),
        };
        let Some(flag) = FLAGS.iter().find(|f| f.name == name) else {
            if name == "help" || name == "h" {
                return Parsed::Exit(0, usage(argv0));
            }
            return fail(format!("flag provided but not defined: -{name}"));
        };
        if flag.kind == Kind::Bool {
            let on = match value.as_deref() {
                None => true,
                Some(v) => match parse_go_bool(v) {
                    Some(b) => b,
                    None => return fail(format!("invalid boolean value {} for -{name}: parse error", go_quote(v))),
                },
            };
            opts.version |= on;
            continue;
        }
        let value = match value.or_else(|| rest.next().cloned()) {
            Some(v) => v,
            None => return fail(format!("flag needs an argument: -{name}")),
        };
        if let Kind::Int(_) = flag.kind {
            let n = match parse_go_int(&value) {
                Ok(n) => n,
                Err(why) => return fail(format!("invalid value {} for flag -{name}: {why}", go_quote(&value))),
            };
            if name == "host-port" {
                opts.host_port = n;
            } else {
                opts.container_port = n;
            }
            continue;
        }
        match name {
            "proto" => opts.proto = value,
            "host-ip" => opts.host_ip = value.parse().ok(),
            _ => opts.container_ip = value.parse().ok(),
        }
    }
    Parsed::Run(opts)
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(s, 0, strconv.IntSize)`: a sign, then decimal, `0x`, `0o`, `0b` or a
/// leading-0 octal, with underscores between digits; Err is Go's reason.
fn parse_go_int(s: &str) -> Result<i64, &'static str> {
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d, true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d, true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    if !underscores_ok(digits, prefixed) {
        return Err("parse error");
    }
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() {
        return Err("parse error");
    }
    let mut n: u128 = 0;
    for c in digits.chars() {
        let d = c.to_digit(radix).ok_or("parse error")?;
        n = (n * u128::from(radix) + u128::from(d)).min(u128::from(u64::MAX));
    }
    let (min, max) = (isize::MIN as i128, isize::MAX as i128);
    let v = if negative { -(n as i128) } else { n as i128 };
    if v < min || v > max {
        return Err("value out of range");
    }
    Ok(v as i64)
}

/// Go's rule for underscores in a base-0 literal: each sits between digits (or right after a
/// base prefix).
fn underscores_ok(digits: &str, prefixed: bool) -> bool {
    if !digits.contains('_') {
        return true;
    }
    // A leading-0 octal or a decimal counts its first digit as "after a digit" only when
    // there is a prefix.
    let mut prev_digit = prefixed;
    let mut prev_underscore = false;
    for c in digits.chars() {
        if c == '_' {
            if !prev_digit {
                return false;
            }
            prev_digit = false;
            prev_underscore = true;
        } else {
            prev_digit = true;
            prev_underscore = false;
        }
    }
    !prev_underscore
}

/// Go's `%q` of a string as the flag package prints values (printable ASCII as is).
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(crate) use crate::network::proxy::go_errno;

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reads_dockers_command_line() {
        let p = parse("docker-proxy", &args(&["-proto", "udp", "-host-ip=::1", "--host-port", "8080", "-container-ip", "10.1.2.3", "-container-port=0x50", "extra", "-x"]));
        let want = Options {
            proto: "udp".into(),
            host_ip: Some("::1".parse().unwrap()),
            host_port: 8080,
            container_ip: Some("10.1.2.3".parse().unwrap()),
            container_port: 80,
            version: false,
        };
        assert_eq!(p, Parsed::Run(want));
    }

    #[test]
    fn errors_are_gos() {
        let Parsed::Exit(2, text) = parse("/x/docker-proxy", &args(&["-nope"])) else { panic!() };
        assert!(text.starts_with("flag provided but not defined: -nope\nUsage of /x/docker-proxy:\n  -container-ip string\n    \tcontainer ip\n"), "{text}");
        assert!(text.contains("  -proto string\n    \tproxy protocol (default \"tcp\")\n  -v\tprint version information and quit\n"), "{text}");
        assert!(text.contains("  -host-port int\n    \thost port (default -1)\n"), "{text}");
        let Parsed::Exit(2, text) = parse("p", &args(&["-host-port", "abc"])) else { panic!() };
        assert!(text.starts_with("invalid value \"abc\" for flag -host-port: parse error\n"), "{text}");
        let Parsed::Exit(2, text) = parse("p", &args(&["-host-port", "99999999999999999999"])) else { panic!() };
        assert!(text.starts_with("invalid value \"99999999999999999999\" for flag -host-port: value out of range\n"), "{text}");
        let Parsed::Exit(2, text) = parse("p", &args(&["-proto"])) else { panic!() };
        assert!(text.starts_with("flag needs an argument: -proto\n"), "{text}");
        let Parsed::Exit(2, text) = parse("p", &args(&["-=x"])) else { panic!() };
        assert!(text.starts_with("bad flag syntax: -=x\n"), "{text}");
        let Parsed::Exit(2, text) = parse("p", &args(&["-v=maybe"])) else { panic!() };
        assert!(text.starts_with("invalid boolean value \"maybe\" for -v: parse error\n"), "{text}");
        assert!(matches!(parse("p", &args(&["-h"])), Parsed::Exit(0, t) if t.starts_with("Usage of p:\n")));
    }

    #[test]
    fn go_integers() {
        assert_eq!(parse_go_int("017"), Ok(15));
        assert_eq!(parse_go_int("1_000"), Ok(1000));
        assert_eq!(parse_go_int("0x_1f"), Ok(31));
        assert_eq!(parse_go_int("-1"), Ok(-1));
        assert_eq!(parse_go_int("+0b11"), Ok(3));
        assert_eq!(parse_go_int("1__0"), Err("parse error"));
        assert_eq!(parse_go_int("_1"), Err("parse error"));
        assert_eq!(parse_go_int("1_"), Err("parse error"));
        assert_eq!(parse_go_int("08"), Err("parse error"));
        assert_eq!(parse_go_int(""), Err("parse error"));
    }

    #[test]
    fn addresses_print_as_gos() {
        let f = frontend(&Options { host_ip: Some("::ffff:127.0.0.1".parse().unwrap()), host_port: 80, ..Options::default() });
        assert_eq!(f.display(), "127.0.0.1:80");
        let f = frontend(&Options { host_ip: Some("::1".parse().unwrap()), host_port: 80, ..Options::default() });
        assert_eq!(f.display(), "[::1]:80");
        let f = frontend(&Options { host_port: 80, ..Options::default() });
        assert_eq!((f.display(), f.ip), (":80".to_string(), IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
        assert_eq!(go_errno(&std::io::Error::from_raw_os_error(libc::EADDRINUSE)), "address already in use");
    }
}
