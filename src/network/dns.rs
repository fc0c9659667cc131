//! The embedded DNS server containers on user-defined networks reach at 127.0.0.11, as Docker's
//! (libnetwork's resolver): it answers the names the daemon knows (containers, aliases, short
//! ids, as `Names` sees them from the asking container) and forwards everything else to the
//! host's resolvers.
//!
//! What it answers, as Docker's:
//! - A/AAAA of a name the daemon knows: its addresses of that family, TTL 600, shuffled. A
//!   name that exists but has no address of the family asked (AAAA of an IPv4-only container)
//!   gets an empty NOERROR answer (NODATA), never a forward nor NXDOMAIN.
//! - MX of a name it knows: an empty NOERROR answer.
//! - PTR of a container address (in-addr.arpa / ip6.arpa): the name `Names::reverse` gives.
//! - Anything else, and names it does not know, is forwarded to at most 3 upstreams in order
//!   (4 s each): over UDP for UDP queries, over TCP for TCP queries. An upstream answering
//!   SERVFAIL or REFUSED, or not answering, makes it try the next; none left gives SERVFAIL.
//!   A truncated UDP answer is passed on as is (TC set), as Docker does: the upstream already
//!   sized it for the client's own buffer, so the client retries over TCP and that query is
//!   forwarded over TCP.
//! - With `ndots` set in the container's resolv.conf (`Names::ndots_set`), a single-label A/AAAA
//!   query not ours gets an empty answer instead of a forward, so the resolver tries its search
//!   domains (Docker's rule).
//! - Local answers over UDP are cut to 512 bytes (or the client's EDNS0 size) with TC set.
//! - Malformed queries: FORMERR; opcodes other than QUERY: NOTIMP; responses and runts are
//!   dropped. Over `MAX_FORWARDS_PER_SCOPE` queries of one container (or `MAX_FORWARDS` in
//!   all) in flight upstream: REFUSED (Docker's answer when its own limit is hit).
//!
//! Where it runs: one thread (small stack) polls every container's sockets and does all the
//! work: local answers, forwards (each a UDP socket or a non-blocking TCP connection to the
//! upstream, in the same poll set with its deadline) and clients' TCP connections. A slow
//! upstream therefore never holds up other containers, and no thread per query is made, so a
//! burst of queries leaves no thread stacks or malloc arenas behind. Idle, the server is that
//! thread blocked in poll(2), two sockets per container (kernel memory) and a small map:
//! measured (tests/dns.rs `idle_memory_cost`) about 44 KiB of private memory for 8 containers,
//! about 150 KiB after a burst of 64 forwards at once. Forwarding happens from dockerd's own
//! network namespace, so loopback resolvers (systemd-resolved's 127.0.0.53, a dnsmasq on
//! 127.0.0.1) work, as in Docker >= 25.
//!
//! Port 53 or DNAT: like Docker, the sockets are bound to 127.0.0.11 on random ports, and
//! iptables NAT rules inside the container's namespace (chains `DOCKER_OUTPUT` and
//! `DOCKER_POSTROUTING` in its nat table, one `iptables-restore` run) send its port 53 there.
//! Binding 53 directly would take port 53 from the container: a DNS server in it (dnsmasq,
//! Pi-hole, CoreDNS) binding 0.0.0.0:53 would fail with "address in use". Only when the
//! `iptables-restore` command does not exist on the host are the sockets bound to port 53
//! itself (DNS keeps working; the container then cannot bind port 53 itself).
//! IP_FREEBIND lets the bind happen before the namespace's loopback is up.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

/// What the daemon knows about names, seen from one container (`scope`: the key its sockets
/// were registered with).
pub trait Names: Send + Sync {
    /// The addresses of `name` (lower case, no trailing dot) as seen from `scope`, of both
    /// families; `Some(vec![])` for a name that exists without addresses; None: not ours.
    fn lookup(&self, scope: &str, name: &str) -> Option<Vec<IpAddr>>;
    /// The name of a container address as seen from `scope` (e.g. `web.mynet`); None: not ours.
    fn reverse(&self, scope: &str, ip: IpAddr) -> Option<String>;
    /// Whether the container's resolv.conf sets `ndots` itself (Docker then does not forward
    /// single-label A/AAAA queries it cannot answer).
    fn ndots_set(&self, _scope: &str) -> bool {
        false
    }
}

/// The address containers reach the server at.
pub const LISTEN_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
/// Docker's TTL for its own answers.
pub const TTL: u32 = 600;
/// At most this many upstreams are tried, in order (Docker's maxExtDNS, resolv.conf's MAXNS).
pub const MAX_UPSTREAMS: usize = 3;
/// How long one upstream gets to answer (Docker's extIOTimeout).
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(4);
/// Queries forwarded at once; past it the client gets REFUSED.
pub const MAX_FORWARDS: usize = 256;
/// Queries of one container forwarded at once (so one cannot starve the others).
pub const MAX_FORWARDS_PER_SCOPE: usize = 64;
/// TCP connections served at once; past it new ones are closed.
pub const MAX_TCP_CONNECTIONS: usize = 64;
/// TCP connections of one container served at once.
pub const MAX_TCP_CONNECTIONS_PER_SCOPE: usize = 8;
/// A TCP connection with no complete query for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(8);
const POLL_STACK: usize = 256 * 1024;
const WORKER_STACK: usize = 128 * 1024;

pub const TYPE_A: u16 = 1;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_MX: u16 = 15;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_OPT: u16 = 41;
pub const CLASS_IN: u16 = 1;

pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_NOTIMP: u8 = 4;
pub const RCODE_REFUSED: u8 = 5;

pub const FLAG_QR: u16 = 0x8000;
pub const FLAG_AA: u16 = 0x0400;
pub const FLAG_TC: u16 = 0x0200;
pub const FLAG_RD: u16 = 0x0100;
pub const FLAG_RA: u16 = 0x0080;
pub const FLAG_CD: u16 = 0x0010;
const HEADER_LEN: usize = 12;
/// The smallest buffer every DNS client has (RFC 1035), the UDP answer size without EDNS0.
pub const MIN_UDP_SIZE: usize = 512;
const MAX_NAME_LEN: usize = 255;

// ---------------------------------------------------------------------------------------------
// The message codec.

/// A DNS message header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    pub flags: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

impl Header {
    /// Reads the 12-byte header (None for a runt).
    pub fn parse(msg: &[u8]) -> Option<Header> {
        if msg.len() < HEADER_LEN {
            return None;
        }
        let word = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
        Some(Header { id: word(0), flags: word(2), qdcount: word(4), ancount: word(6), nscount: word(8), arcount: word(10) })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        for word in [self.id, self.flags, self.qdcount, self.ancount, self.nscount, self.arcount] {
            out.extend_from_slice(&word.to_be_bytes());
        }
    }

    pub fn is_response(&self) -> bool {
        self.flags & FLAG_QR != 0
    }
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }
    pub fn truncated(&self) -> bool {
        self.flags & FLAG_TC != 0
    }
}

/// Why a message could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// It ends inside a field.
    Short,
    /// A name longer than 255 bytes, a reserved label type, or compression pointers that
    /// do not strictly go backwards (which is what makes cycles impossible).
    BadName,
    /// Header counts a query cannot have.
    BadCounts,
}

/// A name as it is on the wire, decoded to its labels (without compression).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name {
    pub labels: Vec<Vec<u8>>,
}

impl Name {
    /// The name as a lower-case host name without the trailing dot; None when a label holds a
    /// dot or bytes no host name has (such a name is never the daemon's; it is forwarded).
    pub fn to_hostname(&self) -> Option<String> {
        let mut out = String::new();
        for (i, label) in self.labels.iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            for &b in label {
                if !(b.is_ascii_graphic() && b != b'.') {
                    return None;
                }
                out.push(b.to_ascii_lowercase() as char);
            }
        }
        Some(out)
    }

    /// The wire form, uncompressed.
    pub fn write(&self, out: &mut Vec<u8>) {
        for label in &self.labels {
            out.push(label.len() as u8);
            out.extend_from_slice(label);
        }
        out.push(0);
    }

    /// A name from its dotted text (labels over 63 bytes or a name over 255 refused).
    pub fn from_text(text: &str) -> Option<Name> {
        let text = text.strip_suffix('.').unwrap_or(text);
        let mut labels = Vec::new();
        let mut len = 1;
        if !text.is_empty() {
            for label in text.split('.') {
                if label.is_empty() || label.len() > 63 {
                    return None;
                }
                len += label.len() + 1;
                labels.push(label.as_bytes().to_vec());
            }
        }
        (len <= MAX_NAME_LEN).then_some(Name { labels })
    }
}

/// Reads the name at `pos`, following compression pointers. Returns it and the position just
/// after it where it started (the first pointer ends the name in place). Every pointer must
/// point strictly before the one being followed, so the walk always ends.
pub fn read_name(msg: &[u8], mut pos: usize) -> Result<(Name, usize), ParseError> {
    let mut labels = Vec::new();
    let mut wire_len = 1;
    let mut end = None;
    let mut limit = pos; // pointers must go below this
    loop {
        let len = *msg.get(pos).ok_or(ParseError::Short)? as usize;
        match len & 0xc0 {
            0x00 if len == 0 => {
                let after = end.unwrap_or(pos + 1);
                return Ok((Name { labels }, after));
            }
            0x00 => {
                let label = msg.get(pos + 1..pos + 1 + len).ok_or(ParseError::Short)?;
                wire_len += len + 1;
                if wire_len > MAX_NAME_LEN {
                    return Err(ParseError::BadName);
                }
                labels.push(label.to_vec());
                pos += 1 + len;
            }
            0xc0 => {
                let low = *msg.get(pos + 1).ok_or(ParseError::Short)? as usize;
                let target = ((len & 0x3f) << 8) | low;
                if end.is_none() {
                    end = Some(pos + 2);
                }
                if target >= limit.min(pos) {
                    return Err(ParseError::BadName);
                }
                limit = target;
                pos = target;
            }
            _ => return Err(ParseError::BadName),
        }
    }
}

/// One question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub name: Name,
    pub qtype: u16,
    pub qclass: u16,
}

/// A query as the server needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub header: Header,
    pub question: Question,
    /// The question section's bytes as the client sent them (echoed in answers: case kept).
    pub question_wire: Vec<u8>,
    /// The client's EDNS0 UDP buffer size, when it sent an OPT record.
    pub edns_udp_size: Option<u16>,
}

/// Reads a query: one question, at most one answer and one authority record, at most two
/// additional records (miekg/dns's rules, Docker's server library). Never panics.
pub fn parse_query(msg: &[u8]) -> Result<Query, ParseError> {
    let header = Header::parse(msg).ok_or(ParseError::Short)?;
    if header.qdcount != 1 || header.ancount > 1 || header.nscount > 1 || header.arcount > 2 {
        return Err(ParseError::BadCounts);
    }
    let (name, mut pos) = read_name(msg, HEADER_LEN)?;
    let fixed = msg.get(pos..pos + 4).ok_or(ParseError::Short)?;
    let question = Question {
        name,
        qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
        qclass: u16::from_be_bytes([fixed[2], fixed[3]]),
    };
    pos += 4;
    let question_wire = msg[HEADER_LEN..pos].to_vec();
    let mut edns_udp_size = None;
    let records = header.ancount as usize + header.nscount as usize + header.arcount as usize;
    for i in 0..records {
        let (_, after) = read_name(msg, pos)?;
        let fixed = msg.get(after..after + 10).ok_or(ParseError::Short)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let class = u16::from_be_bytes([fixed[2], fixed[3]]);
        let rdlen = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        pos = after + 10 + rdlen;
        if pos > msg.len() {
            return Err(ParseError::Short);
        }
        let additional = i >= header.ancount as usize + header.nscount as usize;
        if additional && rtype == TYPE_OPT {
            edns_udp_size = Some(class);
        }
    }
    Ok(Query { header, question, question_wire, edns_udp_size })
}

/// One answer record the server writes (its owner is the question's name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Ptr(Name),
}

/// Writes the reply to `query` with `rcode` and `answers` (TTL 600, owner name compressed to
/// the question's), dropping answers from the end with TC set while it exceeds `max_size`.
/// `recursion_available` is what Docker sets on its own answers (not on error replies).
pub fn write_reply(query: &Query, rcode: u8, answers: &[Answer], recursion_available: bool, max_size: usize) -> Vec<u8> {
    let mut records = Vec::with_capacity(answers.len());
    for answer in answers {
        let mut rr = vec![0xc0, HEADER_LEN as u8]; // the question's name, at offset 12
        let (rtype, rdata) = match answer {
            Answer::A(ip) => (TYPE_A, ip.octets().to_vec()),
            Answer::Aaaa(ip) => (TYPE_AAAA, ip.octets().to_vec()),
            Answer::Ptr(name) => {
                let mut data = Vec::new();
                name.write(&mut data);
                (TYPE_PTR, data)
            }
        };
        rr.extend_from_slice(&rtype.to_be_bytes());
        rr.extend_from_slice(&CLASS_IN.to_be_bytes());
        rr.extend_from_slice(&TTL.to_be_bytes());
        rr.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        rr.extend_from_slice(&rdata);
        records.push(rr);
    }
    let mut size = HEADER_LEN + query.question_wire.len();
    let mut kept = 0;
    for rr in &records {
        if size + rr.len() > max_size {
            break;
        }
        size += rr.len();
        kept += 1;
    }
    let mut flags = FLAG_QR | (query.header.flags & (0xf << 11)) | (query.header.flags & (FLAG_RD | FLAG_CD)) | rcode as u16;
    if recursion_available {
        flags |= FLAG_RA;
    }
    if kept < records.len() {
        flags |= FLAG_TC;
    }
    let header = Header { id: query.header.id, flags, qdcount: 1, ancount: kept as u16, nscount: 0, arcount: 0 };
    let mut out = Vec::with_capacity(size);
    header.write(&mut out);
    out.extend_from_slice(&query.question_wire);
    for rr in &records[..kept] {
        out.extend_from_slice(rr);
    }
    out
}

/// A reply to a message that could not be read as a query: its header's id and opcode, no
/// question.
pub fn write_header_reply(msg: &[u8], rcode: u8) -> Option<Vec<u8>> {
    let header = Header::parse(msg)?;
    let flags = FLAG_QR | (header.flags & (0xf << 11)) | (header.flags & FLAG_RD) | rcode as u16;
    let mut out = Vec::with_capacity(HEADER_LEN);
    Header { id: header.id, flags, qdcount: 0, ancount: 0, nscount: 0, arcount: 0 }.write(&mut out);
    Some(out)
}

/// The address a PTR query asks about (`4.3.2.1.in-addr.arpa`, 32 nibbles `.ip6.arpa`).
pub fn ptr_address(name: &Name) -> Option<IpAddr> {
    let labels = &name.labels;
    let is = |label: &Vec<u8>, text: &str| label.eq_ignore_ascii_case(text.as_bytes());
    let n = labels.len();
    if n == 6 && is(&labels[4], "in-addr") && is(&labels[5], "arpa") {
        let mut octets = [0u8; 4];
        for (i, label) in labels[..4].iter().enumerate() {
            let text = std::str::from_utf8(label).ok()?;
            if text.is_empty() || text.len() > 3 || !text.bytes().all(|b| b.is_ascii_digit()) || (text.len() > 1 && text.starts_with('0')) {
                return None;
            }
            octets[3 - i] = text.parse().ok()?;
        }
        return Some(IpAddr::V4(octets.into()));
    }
    if n == 34 && is(&labels[32], "ip6") && is(&labels[33], "arpa") {
        let mut bits: u128 = 0;
        for (i, label) in labels[..32].iter().enumerate() {
            if label.len() != 1 {
                return None;
            }
            let nibble = (label[0] as char).to_digit(16)? as u128;
            bits |= nibble << (4 * i);
        }
        return Some(IpAddr::V6(bits.into()));
    }
    None
}

/// What to do with one message from a container.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Send this back.
    Reply(Vec<u8>),
    /// Not ours: forward the message upstream.
    Forward,
    /// Drop it (a response, a runt).
    Ignore,
}

/// Answers one message from the container `scope` if the daemon's names can; `tcp` says how
/// it came (answers over UDP are cut to 512 bytes or the client's EDNS0 size, with TC).
pub fn answer(names: &dyn Names, scope: &str, msg: &[u8], tcp: bool) -> Outcome {
    let Some(header) = Header::parse(msg) else { return Outcome::Ignore };
    if header.is_response() {
        return Outcome::Ignore;
    }
    if header.opcode() != 0 {
        return write_header_reply(msg, RCODE_NOTIMP).map_or(Outcome::Ignore, Outcome::Reply);
    }
    let query = match parse_query(msg) {
        Ok(query) => query,
        Err(_) => return write_header_reply(msg, RCODE_FORMERR).map_or(Outcome::Ignore, Outcome::Reply),
    };
    let max_size = if tcp {
        u16::MAX as usize
    } else {
        query.edns_udp_size.map_or(MIN_UDP_SIZE, |size| (size as usize).max(MIN_UDP_SIZE))
    };
    let reply = |answers: &[Answer]| Outcome::Reply(write_reply(&query, RCODE_NOERROR, answers, true, max_size));
    match query.question.qtype {
        qtype @ (TYPE_A | TYPE_AAAA | TYPE_MX) => {
            let Some(host) = query.question.name.to_hostname().filter(|h| !h.is_empty()) else { return Outcome::Forward };
            match names.lookup(scope, &host) {
                Some(ips) => {
                    let mut answers: Vec<Answer> = ips
                        .iter()
                        .filter_map(|ip| match (qtype, ip) {
                            (TYPE_A, IpAddr::V4(v4)) => Some(Answer::A(*v4)),
                            (TYPE_AAAA, IpAddr::V6(v6)) => Some(Answer::Aaaa(*v6)),
                            _ => None, // MX of a container: an empty answer, as Docker's
                        })
                        .collect();
                    shuffle(&mut answers);
                    reply(&answers)
                }
                None if qtype != TYPE_MX && !host.contains('.') && names.ndots_set(scope) => reply(&[]),
                None => Outcome::Forward,
            }
        }
        TYPE_PTR => {
            let Some(ip) = ptr_address(&query.question.name) else { return Outcome::Forward };
            match names.reverse(scope, ip).and_then(|host| Name::from_text(&host)) {
                Some(target) => reply(&[Answer::Ptr(target)]),
                None => Outcome::Forward,
            }
        }
        _ => Outcome::Forward,
    }
}

/// The reply with `rcode` (SERVFAIL, REFUSED) to `msg`: its question echoed, nothing else.
pub fn error_reply(msg: &[u8], rcode: u8) -> Option<Vec<u8>> {
    match parse_query(msg) {
        Ok(query) => Some(write_reply(&query, rcode, &[], false, usize::MAX)),
        Err(_) => write_header_reply(msg, rcode),
    }
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_usize(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    hasher.finish()
}

fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = (random_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

// ---------------------------------------------------------------------------------------------
// resolv.conf

/// The `nameserver` addresses of a resolv.conf, port 53 (IPv6 link-local ones with their
/// `%zone`, by interface name or number; a zone naming no interface is skipped).
pub fn upstreams_from_resolv_conf(text: &str) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(addr) = words.next() else { continue };
        let (addr, zone) = match addr.split_once('%') {
            Some((addr, zone)) => (addr, Some(zone)),
            None => (addr, None),
        };
        match (addr.parse::<IpAddr>(), zone) {
            (Ok(IpAddr::V4(v4)), None) => out.push(SocketAddr::new(v4.into(), 53)),
            (Ok(IpAddr::V6(v6)), None) => out.push(SocketAddr::new(v6.into(), 53)),
            (Ok(IpAddr::V6(v6)), Some(zone)) => {
                let index = zone.parse::<u32>().ok().or_else(|| nix::net::if_::if_nametoindex(zone).ok());
                if let Some(index) = index {
                    out.push(SocketAddr::V6(std::net::SocketAddrV6::new(v6, 53, 0, index)));
                }
            }
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Forwarding, as steps of the poll loop (no thread per query: nothing is left behind by a
// burst but the poll thread's own heap).

/// One query on its way upstream: the upstreams tried in turn, one attempt at a time, each
/// given `UPSTREAM_TIMEOUT`.
struct Exchange {
    /// The client's message, its id included.
    msg: Vec<u8>,
    query: Query,
    upstreams: Arc<Vec<SocketAddr>>,
    next: usize,
    tcp: bool,
    attempt: Option<Attempt>,
    deadline: Instant,
}

/// The exchange with one upstream, under an id of our own (a fresh random one per attempt, so
/// a spoofer cannot reuse the client's).
struct Attempt {
    id: u16,
    link: Link,
}

enum Link {
    Udp(UdpSocket),
    Tcp { stream: TcpStream, out: Vec<u8>, written: usize, input: Vec<u8>, connected: bool },
}

impl Exchange {
    /// Starts forwarding `msg`; Err holds the reply to send at once (SERVFAIL: no upstream
    /// could be reached).
    fn start(msg: Vec<u8>, upstreams: Arc<Vec<SocketAddr>>, tcp: bool) -> Result<Exchange, Vec<u8>> {
        let query = parse_query(&msg).map_err(|_| write_header_reply(&msg, RCODE_FORMERR).unwrap_or_default())?;
        let mut exchange = Exchange { msg, query, upstreams, next: 0, tcp, attempt: None, deadline: Instant::now() };
        match exchange.next_upstream() {
            None => Ok(exchange),
            Some(reply) => Err(reply),
        }
    }

    /// Moves on to the next upstream; Some(SERVFAIL for the client) when none is left.
    fn next_upstream(&mut self) -> Option<Vec<u8>> {
        self.attempt = None;
        while self.next < self.upstreams.len().min(MAX_UPSTREAMS) {
            let upstream = self.upstreams[self.next];
            self.next += 1;
            let id = random_u64() as u16;
            let mut out = self.msg.clone();
            out[..2].copy_from_slice(&id.to_be_bytes());
            let link = if self.tcp {
                connect_nonblocking(upstream).map(|stream| Link::Tcp { stream, out: framed(&out), written: 0, input: Vec::new(), connected: false })
            } else {
                send_udp(upstream, &out).map(Link::Udp)
            };
            if let Ok(link) = link {
                self.attempt = Some(Attempt { id, link });
                self.deadline = Instant::now() + UPSTREAM_TIMEOUT;
                return None;
            }
        }
        error_reply(&self.msg, RCODE_SERVFAIL).or_else(|| Some(Vec::new()))
    }

    /// The descriptor and events the poll loop waits on.
    fn interest(&self) -> Option<(BorrowedFd<'_>, nix::poll::PollFlags)> {
        use nix::poll::PollFlags;
        Some(match &self.attempt.as_ref()?.link {
            Link::Udp(socket) => (socket.as_fd(), PollFlags::POLLIN),
            Link::Tcp { stream, connected, out, written, .. } if !*connected || *written < out.len() => (stream.as_fd(), PollFlags::POLLOUT),
            Link::Tcp { stream, .. } => (stream.as_fd(), PollFlags::POLLIN),
        })
    }

    /// The upstream's time is up.
    fn on_timeout(&mut self) -> Option<Vec<u8>> {
        self.next_upstream()
    }

    /// Progress after poll(2) flagged the socket; Some(reply for the client) when done.
    fn on_ready(&mut self, buf: &mut [u8]) -> Option<Vec<u8>> {
        let Some(attempt) = self.attempt.as_mut() else { return self.next_upstream() };
        let id = attempt.id;
        let received = match &mut attempt.link {
            Link::Udp(socket) => receive_udp(socket, buf, id, &self.query),
            Link::Tcp { stream, out, written, input, connected } => tcp_progress(stream, out, written, input, connected, id, &self.query),
        };
        match received {
            Ok(None) => None,
            Ok(Some(mut reply)) => {
                let rcode = reply[3] & 0xf;
                if rcode == RCODE_SERVFAIL || rcode == RCODE_REFUSED {
                    return self.next_upstream();
                }
                reply[..2].copy_from_slice(&self.query.header.id.to_be_bytes());
                Some(reply)
            }
            Err(_) => self.next_upstream(),
        }
    }
}

fn send_udp(upstream: SocketAddr, msg: &[u8]) -> io::Result<UdpSocket> {
    let local: SocketAddr = if upstream.is_ipv4() { (Ipv4Addr::UNSPECIFIED, 0).into() } else { (Ipv6Addr::UNSPECIFIED, 0).into() };
    let socket = UdpSocket::bind(local)?;
    socket.set_nonblocking(true)?;
    socket.connect(upstream)?;
    socket.send(msg)?;
    Ok(socket)
}

/// Reads what arrived: Ok(Some) the answer, Ok(None) nothing usable yet (strays are
/// dropped), Err the upstream refused (ICMP port unreachable) or failed.
fn receive_udp(socket: &UdpSocket, buf: &mut [u8], id: u16, query: &Query) -> io::Result<Option<Vec<u8>>> {
    // The upstream sizes its answer for the client's buffer; a client asking for more than
    // the poll loop's buffer gets a buffer of its size.
    let wanted = query.edns_udp_size.map_or(0, usize::from);
    let mut big = if wanted > buf.len() { vec![0u8; wanted] } else { Vec::new() };
    let buf = if big.is_empty() { buf } else { &mut big[..] };
    loop {
        match socket.recv(buf) {
            Ok(n) if answers_query(&buf[..n], id, query) => return Ok(Some(buf[..n].to_vec())),
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

/// A TCP connection started without waiting for it (poll says when it is made).
fn connect_nonblocking(upstream: SocketAddr) -> io::Result<TcpStream> {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, SockaddrStorage};
    let family = if upstream.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None)?;
    match connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrStorage::from(upstream)) {
        Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => Ok(TcpStream::from(fd)),
        Err(e) => Err(e.into()),
    }
}

/// One step of a TCP exchange: finish connecting, write the query, read the framed answer.
fn tcp_progress(
    stream: &mut TcpStream,
    out: &[u8],
    written: &mut usize,
    input: &mut Vec<u8>,
    connected: &mut bool,
    id: u16,
    query: &Query,
) -> io::Result<Option<Vec<u8>>> {
    if !*connected {
        if let Some(e) = stream.take_error()? {
            return Err(e);
        }
        stream.peer_addr()?; // still connecting: ENOTCONN
        *connected = true;
    }
    while *written < out.len() {
        match stream.write(&out[*written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    match read_frame(stream, input)? {
        Some(reply) if answers_query(&reply, id, query) => Ok(Some(reply)),
        Some(_) => Err(io::Error::new(io::ErrorKind::InvalidData, "upstream answered another query")),
        None => Ok(None),
    }
}

/// Reads what is there into `input`; Some(message) once a whole length-prefixed one is in
/// (taken out of `input`); EOF before that is an error.
fn read_frame(stream: &mut TcpStream, input: &mut Vec<u8>) -> io::Result<Option<Vec<u8>>> {
    let mut chunk = [0u8; 1024];
    loop {
        if input.len() >= 2 {
            let len = u16::from_be_bytes([input[0], input[1]]) as usize;
            if input.len() >= 2 + len {
                let msg = input[2..2 + len].to_vec();
                input.drain(..2 + len);
                return Ok(Some(msg));
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => input.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn framed(msg: &[u8]) -> Vec<u8> {
    let msg = &msg[..msg.len().min(u16::MAX as usize)];
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    out.extend_from_slice(msg);
    out
}

/// Whether `reply` answers `query` sent with `id`: a response, same id, same question (names
/// compared without case).
fn answers_query(reply: &[u8], id: u16, query: &Query) -> bool {
    let Some(header) = Header::parse(reply) else { return false };
    if !header.is_response() || header.id != id {
        return false;
    }
    if header.qdcount == 0 {
        return header.rcode() != RCODE_NOERROR; // some servers drop the question on errors
    }
    let Ok((name, after)) = read_name(reply, HEADER_LEN) else { return false };
    let Some(fixed) = reply.get(after..after + 4) else { return false };
    name.labels.len() == query.question.name.labels.len()
        && name.labels.iter().zip(&query.question.name.labels).all(|(a, b)| a.eq_ignore_ascii_case(b))
        && u16::from_be_bytes([fixed[0], fixed[1]]) == query.question.qtype
}

// ---------------------------------------------------------------------------------------------
// The server

/// The embedded DNS server: one poll thread for every container's sockets.
pub struct DnsServer {
    shared: Arc<Shared>,
}

struct Shared {
    names: Arc<dyn Names>,
    upstreams: RwLock<Arc<Vec<SocketAddr>>>,
    state: Mutex<State>,
    /// Signalled when the poll thread has taken a new set of sockets.
    applied: Condvar,
    /// Written to wake the poll thread (the other end is in its poll set).
    wake: UnixDatagram,
    stop: AtomicBool,
    /// The `iptables-restore` run in containers' namespaces.
    iptables_restore: RwLock<std::path::PathBuf>,
}

#[derive(Default)]
struct State {
    scopes: HashMap<String, Arc<Listener>>,
    generation: u64,
    applied_generation: u64,
}

/// One container's sockets.
struct Listener {
    scope: Arc<str>,
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
    /// Upstreams for this container alone (its `--dns`), or None for the server's.
    upstreams: RwLock<Option<Arc<Vec<SocketAddr>>>>,
    /// Which namespace the sockets are in (device and inode of its nsfs file).
    netns_id: (u64, u64),
}

impl DnsServer {
    /// Starts the poll thread, forwarding to `upstreams` (the host's resolvers).
    pub fn start(upstreams: Vec<SocketAddr>, names: Arc<dyn Names>) -> io::Result<Arc<DnsServer>> {
        let (wake, woken) = UnixDatagram::pair()?;
        wake.set_nonblocking(true)?;
        woken.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            names,
            upstreams: RwLock::new(Arc::new(upstreams)),
            state: Mutex::new(State::default()),
            applied: Condvar::new(),
            wake,
            stop: AtomicBool::new(false),
            iptables_restore: RwLock::new("iptables-restore".into()),
        });
        let for_thread = shared.clone();
        std::thread::Builder::new()
            .name("dns".into())
            .stack_size(POLL_STACK)
            .spawn(move || poll_loop(for_thread, woken))?;
        Ok(Arc::new(DnsServer { shared }))
    }

    /// Replaces the upstreams (the host's resolv.conf changed).
    pub fn set_upstreams(&self, upstreams: Vec<SocketAddr>) {
        *self.shared.upstreams.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(upstreams);
    }

    /// The upstreams queries of containers without their own go to.
    pub fn upstreams(&self) -> Vec<SocketAddr> {
        self.shared.upstreams.read().unwrap_or_else(|e| e.into_inner()).to_vec()
    }

    /// Gives one container its own upstreams (its `--dns` servers); None returns it to the
    /// server's; an empty list makes every name not ours SERVFAIL (a container with no way
    /// out, e.g. only on `--internal` networks). An unknown scope is an error.
    pub fn set_scope_upstreams(&self, scope: &str, upstreams: Option<Vec<SocketAddr>>) -> io::Result<()> {
        let state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let listener = state.scopes.get(scope).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("dns: no sockets for {scope}")))?;
        *listener.upstreams.write().unwrap_or_else(|e| e.into_inner()) = upstreams.map(Arc::new);
        Ok(())
    }

    /// The `iptables-restore` program (a path, or a name looked up in PATH) `listen_in` runs
    /// inside containers' namespaces; by default `iptables-restore`.
    pub fn set_iptables_restore(&self, program: std::path::PathBuf) {
        *self.shared.iptables_restore.write().unwrap_or_else(|e| e.into_inner()) = program;
    }

    /// Opens UDP and TCP sockets on 127.0.0.11 inside the network namespace `netns` for
    /// `scope` and sends its port 53 there (see the module doc). Already listening in that
    /// namespace: nothing changes; in another one (a restarted container not forgotten): the
    /// old sockets are closed and new ones opened. It waits for the poll thread, which calls
    /// `Names`: do not hold a lock `Names` takes while calling it (nor `forget`).
    pub fn listen_in(&self, scope: &str, netns: BorrowedFd) -> io::Result<()> {
        let netns_id = namespace_id(netns)?;
        let known = self.shared.state.lock().unwrap_or_else(|e| e.into_inner()).scopes.get(scope).map(|l| l.netns_id);
        match known {
            Some(id) if id == netns_id => return Ok(()),
            Some(_) => self.forget(scope),
            None => {}
        }
        let netns = netns.try_clone_to_owned()?;
        let program = self.shared.iptables_restore.read().unwrap_or_else(|e| e.into_inner()).clone();
        let (udp, tcp) = std::thread::Builder::new()
            .name("dns-setns".into())
            .stack_size(WORKER_STACK)
            .spawn(move || sockets_in(netns, &program))?
            .join()
            .map_err(|_| io::Error::other("dns: the thread opening sockets panicked"))??;
        let listener = Arc::new(Listener { scope: scope.into(), udp: Arc::new(udp), tcp, upstreams: RwLock::new(None), netns_id });
        let generation = {
            let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.scopes.contains_key(scope) {
                return Ok(()); // a racing listen_in for the same scope won; ours close here
            }
            state.scopes.insert(scope.to_string(), listener);
            state.generation += 1;
            state.generation
        };
        self.wait_applied(generation);
        Ok(())
    }

    /// Closes the sockets of `scope` (the iptables rules die with its namespace). When it
    /// returns, the server answers nothing more for it. Unknown scopes are ignored.
    pub fn forget(&self, scope: &str) {
        let generation = {
            let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.scopes.remove(scope).is_none() {
                return;
            }
            state.generation += 1;
            state.generation
        };
        self.wait_applied(generation);
    }

    /// The scopes that have sockets.
    pub fn scopes(&self) -> Vec<String> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner()).scopes.keys().cloned().collect()
    }

    /// Wakes the poll thread and waits until it polls the sockets of `generation` (so after
    /// forget nothing is read from the closed sockets).
    fn wait_applied(&self, generation: u64) {
        let _ = self.shared.wake.send(&[1]);
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = Instant::now() + Duration::from_secs(5);
        while state.applied_generation < generation {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self.shared.applied.wait_timeout(state, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = self.shared.wake.send(&[1]);
    }
}

/// The identity of a namespace file: its device and inode.
fn namespace_id(netns: BorrowedFd) -> io::Result<(u64, u64)> {
    let stat = crate::fs64::fstat(std::os::fd::AsRawFd::as_raw_fd(&netns))?;
    Ok((stat.st_dev as u64, stat.st_ino as u64))
}

/// On a thread of its own: joins `netns` and opens the sockets there; sets up the DNAT.
fn sockets_in(netns: OwnedFd, iptables_restore: &std::path::Path) -> io::Result<(UdpSocket, TcpListener)> {
    // Only this short-lived thread changes namespace; the sockets keep the namespace they
    // were made in.
    nix::sched::setns(netns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| io::Error::other(format!("dns: join network namespace: {e}")))?;
    let udp = bind_socket(nix::sys::socket::SockType::Datagram, 0)?;
    let tcp = bind_socket(nix::sys::socket::SockType::Stream, 0)?;
    let udp = UdpSocket::from(udp);
    let tcp = TcpListener::from(tcp);
    let (udp_port, tcp_port) = (udp.local_addr()?.port(), tcp.local_addr()?.port());
    match install_dnat(iptables_restore, udp_port, tcp_port) {
        Ok(()) => Ok((udp, tcp)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // No iptables on this host: port 53 itself.
            let udp53 = UdpSocket::from(bind_socket(nix::sys::socket::SockType::Datagram, 53)?);
            let tcp53 = TcpListener::from(bind_socket(nix::sys::socket::SockType::Stream, 53)?);
            Ok((udp53, tcp53))
        }
        Err(e) => Err(e),
    }
}

fn bind_socket(kind: nix::sys::socket::SockType, port: u16) -> io::Result<OwnedFd> {
    use nix::sys::socket::{bind, listen, setsockopt, socket, sockopt, AddressFamily, Backlog, SockFlag, SockType, SockaddrIn};
    let fd = socket(AddressFamily::Inet, kind, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None)?;
    setsockopt(&fd, sockopt::IpFreebind, &true)?;
    if kind == SockType::Stream {
        // Port 53 bound again (listening again after forget) despite its TIME_WAIT connections.
        setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    }
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(SocketAddrV4::new(LISTEN_ADDR, port)))?;
    if kind == SockType::Stream {
        listen(&fd, Backlog::new(64)?)?;
    }
    Ok(fd)
}

/// Docker's NAT rules in the current namespace's nat table, in one iptables-restore run
/// (atomic: a failed run changes nothing). Chains that exist already (listening again in the
/// same namespace) are flushed and refilled, their jumps kept.
fn install_dnat(program: &std::path::Path, udp_port: u16, tcp_port: u16) -> io::Result<()> {
    let ip = LISTEN_ADDR;
    let rules = format!(
        "-A DOCKER_OUTPUT -d {ip}/32 -p tcp -m tcp --dport 53 -j DNAT --to-destination {ip}:{tcp_port}\n\
         -A DOCKER_OUTPUT -d {ip}/32 -p udp -m udp --dport 53 -j DNAT --to-destination {ip}:{udp_port}\n\
         -A DOCKER_POSTROUTING -s {ip}/32 -p tcp -m tcp --sport {tcp_port} -j SNAT --to-source :53\n\
         -A DOCKER_POSTROUTING -s {ip}/32 -p udp -m udp --sport {udp_port} -j SNAT --to-source :53\n"
    );
    let fresh = format!(
        "*nat\n-N DOCKER_OUTPUT\n-N DOCKER_POSTROUTING\n-A OUTPUT -d {ip}/32 -j DOCKER_OUTPUT\n\
         -A POSTROUTING -d {ip}/32 -j DOCKER_POSTROUTING\n{rules}COMMIT\n"
    );
    let first = iptables_restore(program, &fresh)?;
    if first.is_empty() {
        return Ok(());
    }
    let refill = format!("*nat\n:DOCKER_OUTPUT - [0:0]\n:DOCKER_POSTROUTING - [0:0]\n{rules}COMMIT\n");
    match iptables_restore(program, &refill)? {
        second if second.is_empty() => Ok(()),
        _ => Err(io::Error::other(format!("dns: iptables-restore: {}", first.trim()))),
    }
}

/// Runs `iptables-restore --noflush` on `input`; its error output ("" when it succeeded).
fn iptables_restore(program: &std::path::Path, input: &str) -> io::Result<String> {
    let mut child = std::process::Command::new(program)
        .args(["-w", "--noflush"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // A program that ends without reading it all (EPIPE) is judged by how it ended.
        let _ = stdin.write_all(input.as_bytes());
    }
    let output = child.wait_with_output()?;
    if output.status.success() {
        return Ok(String::new());
    }
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    Ok(if text.trim().is_empty() { format!("exit {}", output.status) } else { text })
}

/// A UDP query forwarded: who asked, on which socket.
struct UdpForward {
    listener: Arc<Listener>,
    peer: SocketAddr,
    exchange: Exchange,
}

/// A client's TCP connection: reading a query, forwarding it, or writing the answer.
struct TcpClient {
    listener: Arc<Listener>,
    stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    exchange: Option<Exchange>,
    /// When an idle or stuck client is dropped.
    deadline: Instant,
}

impl TcpClient {
    fn interest(&self) -> Option<(BorrowedFd<'_>, nix::poll::PollFlags)> {
        use nix::poll::PollFlags;
        match &self.exchange {
            Some(exchange) => exchange.interest(),
            None if self.written < self.output.len() => Some((self.stream.as_fd(), PollFlags::POLLOUT)),
            None => Some((self.stream.as_fd(), PollFlags::POLLIN)),
        }
    }

    fn deadline(&self) -> Instant {
        self.exchange.as_ref().map_or(self.deadline, |e| e.deadline)
    }

    /// Progress after poll; false when the connection is done with.
    fn on_ready(&mut self, shared: &Shared, buf: &mut [u8]) -> bool {
        if let Some(exchange) = self.exchange.as_mut() {
            match exchange.on_ready(buf) {
                Some(reply) => self.reply(reply),
                None => return true,
            }
        }
        self.pump(shared)
    }

    fn on_timeout(&mut self, shared: &Shared) -> bool {
        match self.exchange.as_mut().map(|e| e.on_timeout()) {
            Some(Some(reply)) => {
                self.reply(reply);
                self.pump(shared)
            }
            Some(None) => true,
            None => false, // idle too long
        }
    }

    fn reply(&mut self, reply: Vec<u8>) {
        self.exchange = None;
        self.output = framed(&reply);
        self.written = 0;
        self.deadline = Instant::now() + TCP_IDLE;
    }

    /// Writes what is pending, then reads and answers queries until it would block.
    fn pump(&mut self, shared: &Shared) -> bool {
        loop {
            while self.written < self.output.len() {
                match self.stream.write(&self.output[self.written..]) {
                    Ok(0) => return false,
                    Ok(n) => self.written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                    Err(_) => return false,
                }
            }
            self.output = Vec::new();
            self.written = 0;
            let msg = match read_frame(&mut self.stream, &mut self.input) {
                Ok(Some(msg)) => msg,
                Ok(None) => return true,
                Err(_) => return false, // closed by the client, or broken
            };
            self.deadline = Instant::now() + TCP_IDLE;
            match answer(&*shared.names, &self.listener.scope, &msg, true) {
                Outcome::Reply(reply) => self.reply(reply),
                Outcome::Ignore => return false,
                Outcome::Forward => match Exchange::start(msg, upstreams_for(shared, &self.listener), true) {
                    Ok(exchange) => {
                        self.exchange = Some(exchange);
                        return true;
                    }
                    Err(reply) => self.reply(reply),
                },
            }
        }
    }
}

/// What the poll thread serves.
#[derive(Default)]
struct Work {
    listeners: Vec<Arc<Listener>>,
    udp: Vec<UdpForward>,
    tcp: Vec<TcpClient>,
}

fn poll_loop(shared: Arc<Shared>, woken: UnixDatagram) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut work = Work::default();
    let mut buf = [0u8; 4096];
    loop {
        {
            let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.applied_generation != state.generation {
                work.listeners = state.scopes.values().cloned().collect();
                // Queries of forgotten containers are dropped with their sockets.
                let kept = |l: &Arc<Listener>| state.scopes.get(&*l.scope).is_some_and(|now| Arc::ptr_eq(now, l));
                work.udp.retain(|f| kept(&f.listener));
                work.tcp.retain(|c| kept(&c.listener));
                state.applied_generation = state.generation;
                shared.applied.notify_all();
            }
        }
        let now = Instant::now();
        expire(&shared, &mut work, now);
        if work.udp.is_empty() && work.udp.capacity() > 0 {
            work.udp = Vec::new(); // a burst's memory goes back
        }
        if work.tcp.is_empty() && work.tcp.capacity() > 0 {
            work.tcp = Vec::new();
        }
        let next_deadline = work.udp.iter().map(|f| f.exchange.deadline).chain(work.tcp.iter().map(|c| c.deadline())).min();
        let timeout = match next_deadline {
            None => PollTimeout::NONE,
            Some(deadline) => {
                let ms = deadline.saturating_duration_since(now).as_millis() + 1;
                PollTimeout::try_from(ms.min(60_000) as i32).unwrap_or(PollTimeout::NONE)
            }
        };
        // Which entries poll flagged: (listener udp, listener tcp, udp forwards, tcp clients).
        let (woke, ready_listeners, ready_udp, ready_tcp) = {
            let mut fds = Vec::with_capacity(1 + 2 * work.listeners.len() + work.udp.len() + work.tcp.len());
            fds.push(PollFd::new(woken.as_fd(), PollFlags::POLLIN));
            for listener in &work.listeners {
                fds.push(PollFd::new(listener.udp.as_fd(), PollFlags::POLLIN));
                fds.push(PollFd::new(listener.tcp.as_fd(), PollFlags::POLLIN));
            }
            let mut udp_slots = Vec::with_capacity(work.udp.len());
            for forward in &work.udp {
                udp_slots.push(forward.exchange.interest().map(|(fd, events)| {
                    fds.push(PollFd::new(fd, events));
                    fds.len() - 1
                }));
            }
            let mut tcp_slots = Vec::with_capacity(work.tcp.len());
            for client in &work.tcp {
                tcp_slots.push(client.interest().map(|(fd, events)| {
                    fds.push(PollFd::new(fd, events));
                    fds.len() - 1
                }));
            }
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            }
            let flagged = |i: usize| fds[i].revents().is_some_and(|r| !r.is_empty());
            let listeners: Vec<(usize, bool)> = (0..2 * work.listeners.len()).filter(|i| flagged(1 + i)).map(|i| (i / 2, i % 2 == 1)).collect();
            let pick = |slots: &[Option<usize>]| -> Vec<usize> { (0..slots.len()).filter(|&i| slots[i].is_some_and(flagged)).collect() };
            (flagged(0), listeners, pick(&udp_slots), pick(&tcp_slots))
        };
        if woke {
            while woken.recv(&mut buf).is_ok() {}
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            continue; // take the new sockets before reading any
        }
        // Descending, so swap_remove only moves entries already seen.
        for &i in ready_udp.iter().rev() {
            if let Some(reply) = work.udp[i].exchange.on_ready(&mut buf) {
                let forward = work.udp.swap_remove(i);
                let _ = forward.listener.udp.send_to(&reply, forward.peer);
            }
        }
        for &i in ready_tcp.iter().rev() {
            if !work.tcp[i].on_ready(&shared, &mut buf) {
                work.tcp.swap_remove(i);
            }
        }
        for (index, is_tcp) in ready_listeners {
            let listener = work.listeners[index].clone();
            if is_tcp {
                accept_all(&shared, &mut work, &listener);
            } else {
                // A bounded batch, so one busy container cannot starve the others.
                for _ in 0..64 {
                    let Ok((n, peer)) = listener.udp.recv_from(&mut buf) else { break };
                    let msg = buf[..n].to_vec();
                    serve_datagram(&shared, &mut work, &listener, msg, peer);
                }
            }
        }
    }
}

/// Moves on every forward and connection whose time is up.
fn expire(shared: &Shared, work: &mut Work, now: Instant) {
    for i in (0..work.udp.len()).rev() {
        if work.udp[i].exchange.deadline <= now {
            if let Some(reply) = work.udp[i].exchange.on_timeout() {
                let forward = work.udp.swap_remove(i);
                let _ = forward.listener.udp.send_to(&reply, forward.peer);
            }
        }
    }
    for i in (0..work.tcp.len()).rev() {
        if work.tcp[i].deadline() <= now && !work.tcp[i].on_timeout(shared) {
            work.tcp.swap_remove(i);
        }
    }
}

fn upstreams_for(shared: &Shared, listener: &Listener) -> Arc<Vec<SocketAddr>> {
    if let Some(own) = listener.upstreams.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return own.clone();
    }
    shared.upstreams.read().unwrap_or_else(|e| e.into_inner()).clone()
}

fn serve_datagram(shared: &Shared, work: &mut Work, listener: &Arc<Listener>, msg: Vec<u8>, peer: SocketAddr) {
    let reply = match answer(&*shared.names, &listener.scope, &msg, false) {
        Outcome::Reply(reply) => reply,
        Outcome::Ignore => return,
        Outcome::Forward
            if work.udp.len() >= MAX_FORWARDS
                || work.udp.iter().filter(|f| Arc::ptr_eq(&f.listener, listener)).count() >= MAX_FORWARDS_PER_SCOPE =>
        {
            match error_reply(&msg, RCODE_REFUSED) {
                Some(reply) => reply,
                None => return,
            }
        }
        Outcome::Forward => match Exchange::start(msg, upstreams_for(shared, listener), false) {
            Ok(exchange) => {
                work.udp.push(UdpForward { listener: listener.clone(), peer, exchange });
                return;
            }
            Err(reply) => reply,
        },
    };
    let _ = listener.udp.send_to(&reply, peer);
}

fn accept_all(shared: &Shared, work: &mut Work, listener: &Arc<Listener>) {
    while let Ok((stream, _)) = listener.tcp.accept() {
        let own = work.tcp.iter().filter(|c| Arc::ptr_eq(&c.listener, listener)).count();
        if work.tcp.len() >= MAX_TCP_CONNECTIONS || own >= MAX_TCP_CONNECTIONS_PER_SCOPE || stream.set_nonblocking(true).is_err() {
            continue; // dropped: closed
        }
        let mut client = TcpClient {
            listener: listener.clone(),
            stream,
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            exchange: None,
            deadline: Instant::now() + TCP_IDLE,
        };
        if client.pump(shared) {
            work.tcp.push(client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Table;
    impl Names for Table {
        fn lookup(&self, _scope: &str, name: &str) -> Option<Vec<IpAddr>> {
            match name {
                "web" => Some(vec!["10.9.0.2".parse().unwrap(), "fd00::2".parse().unwrap()]),
                "db" => Some(vec!["10.9.0.3".parse().unwrap()]),
                "many" => Some((0..100).map(|i| IpAddr::V4(Ipv4Addr::new(10, 9, 1, i))).collect()),
                _ => None,
            }
        }
        fn reverse(&self, _scope: &str, ip: IpAddr) -> Option<String> {
            (ip == "10.9.0.3".parse::<IpAddr>().unwrap() || ip == "fd00::2".parse::<IpAddr>().unwrap()).then(|| "db.net".to_string())
        }
    }

    fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        let mut msg = Vec::new();
        Header { id, flags: FLAG_RD, qdcount: 1, ancount: 0, nscount: 0, arcount: 0 }.write(&mut msg);
        Name::from_text(name).unwrap().write(&mut msg);
        msg.extend_from_slice(&qtype.to_be_bytes());
        msg.extend_from_slice(&CLASS_IN.to_be_bytes());
        msg
    }

    /// The answers' rdata of a reply, read back by a plain walk.
    fn rdatas(reply: &[u8]) -> Vec<(u16, u32, Vec<u8>)> {
        let header = Header::parse(reply).unwrap();
        let (_, mut pos) = read_name(reply, HEADER_LEN).unwrap();
        pos += 4;
        let mut out = Vec::new();
        for _ in 0..header.ancount {
            let (name, after) = read_name(reply, pos).unwrap();
            assert!(!name.labels.is_empty());
            let f = &reply[after..after + 10];
            let rdlen = u16::from_be_bytes([f[8], f[9]]) as usize;
            out.push((u16::from_be_bytes([f[0], f[1]]), u32::from_be_bytes([f[4], f[5], f[6], f[7]]), reply[after + 10..after + 10 + rdlen].to_vec()));
            pos = after + 10 + rdlen;
        }
        assert_eq!(pos, reply.len());
        out
    }

    fn reply_of(outcome: Outcome) -> Vec<u8> {
        match outcome {
            Outcome::Reply(reply) => reply,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn answers_a_aaaa_and_nodata_like_docker() {
        let reply = reply_of(answer(&Table, "c1", &query(7, "WEB.", TYPE_A), false));
        let header = Header::parse(&reply).unwrap();
        assert_eq!((header.id, header.rcode(), header.is_response()), (7, RCODE_NOERROR, true));
        assert!(header.flags & FLAG_RA != 0 && header.flags & FLAG_RD != 0 && header.flags & FLAG_AA == 0);
        assert_eq!(rdatas(&reply), vec![(TYPE_A, 600, vec![10, 9, 0, 2])]);
        let (name, _) = read_name(&reply, HEADER_LEN).unwrap();
        assert_eq!(name.labels, vec![b"WEB".to_vec()], "the question is echoed as asked");

        let reply = reply_of(answer(&Table, "c1", &query(8, "web", TYPE_AAAA), false));
        assert_eq!(rdatas(&reply), vec![(TYPE_AAAA, 600, "fd00::2".parse::<Ipv6Addr>().unwrap().octets().to_vec())]);

        // An IPv4-only name asked AAAA: NOERROR, no answers.
        let reply = reply_of(answer(&Table, "c1", &query(9, "db", TYPE_AAAA), false));
        assert_eq!(Header::parse(&reply).unwrap().rcode(), RCODE_NOERROR);
        assert!(rdatas(&reply).is_empty());

        assert_eq!(answer(&Table, "c1", &query(10, "example.com", TYPE_A), false), Outcome::Forward);
        assert_eq!(answer(&Table, "c1", &query(10, "web", 16 /* TXT */), false), Outcome::Forward);
        let reply = reply_of(answer(&Table, "c1", &query(11, "web", TYPE_MX), false));
        assert!(rdatas(&reply).is_empty());
    }

    #[test]
    fn answers_ptr_for_container_addresses() {
        let reply = reply_of(answer(&Table, "c1", &query(1, "3.0.9.10.in-addr.arpa", TYPE_PTR), false));
        let records = rdatas(&reply);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].0, TYPE_PTR);
        assert_eq!(read_name(&records[0].2, 0).unwrap().0, Name::from_text("db.net").unwrap());
        let v6 = "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa";
        assert!(matches!(answer(&Table, "c1", &query(2, v6, TYPE_PTR), false), Outcome::Reply(_)));
        assert_eq!(answer(&Table, "c1", &query(3, "4.0.9.10.in-addr.arpa", TYPE_PTR), false), Outcome::Forward);
        assert_eq!(answer(&Table, "c1", &query(3, "03.0.9.10.in-addr.arpa", TYPE_PTR), false), Outcome::Forward);
        assert_eq!(answer(&Table, "c1", &query(3, "300.0.9.10.in-addr.arpa", TYPE_PTR), false), Outcome::Forward);
    }

    #[test]
    fn truncates_udp_answers_and_honours_edns() {
        let reply = reply_of(answer(&Table, "c1", &query(1, "many", TYPE_A), false));
        let header = Header::parse(&reply).unwrap();
        assert!(reply.len() <= MIN_UDP_SIZE && header.truncated());
        assert!(header.ancount > 20 && header.ancount < 100);
        let reply = reply_of(answer(&Table, "c1", &query(1, "many", TYPE_A), true));
        assert_eq!(Header::parse(&reply).unwrap().ancount, 100);
        assert!(!Header::parse(&reply).unwrap().truncated());
        // EDNS0 with a 4096-byte buffer.
        let mut msg = query(1, "many", TYPE_A);
        msg[11] = 1;
        msg.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
        let reply = reply_of(answer(&Table, "c1", &msg, false));
        assert_eq!(Header::parse(&reply).unwrap().ancount, 100);
    }

    #[test]
    fn ndots_keeps_single_labels_home() {
        struct Ndots;
        impl Names for Ndots {
            fn lookup(&self, _: &str, _: &str) -> Option<Vec<IpAddr>> {
                None
            }
            fn reverse(&self, _: &str, _: IpAddr) -> Option<String> {
                None
            }
            fn ndots_set(&self, _: &str) -> bool {
                true
            }
        }
        let reply = reply_of(answer(&Ndots, "c", &query(1, "printer", TYPE_A), false));
        assert_eq!(Header::parse(&reply).unwrap().rcode(), RCODE_NOERROR);
        assert_eq!(answer(&Ndots, "c", &query(1, "printer.lan", TYPE_A), false), Outcome::Forward);
        assert_eq!(answer(&Table, "c", &query(1, "printer", TYPE_A), false), Outcome::Forward);
    }

    #[test]
    fn bad_messages_get_docker_errors() {
        assert_eq!(answer(&Table, "c", &[1, 2, 3], false), Outcome::Ignore);
        let mut response = query(1, "web", TYPE_A);
        response[2] |= 0x80;
        assert_eq!(answer(&Table, "c", &response, false), Outcome::Ignore);
        let mut two = query(5, "web", TYPE_A);
        two[5] = 2;
        let reply = reply_of(answer(&Table, "c", &two, false));
        assert_eq!((Header::parse(&reply).unwrap().id, Header::parse(&reply).unwrap().rcode()), (5, RCODE_FORMERR));
        let mut notify = query(6, "web", TYPE_A);
        notify[2] |= 4 << 3;
        assert_eq!(Header::parse(&reply_of(answer(&Table, "c", &notify, false))).unwrap().rcode(), RCODE_NOTIMP);
        let servfail = error_reply(&query(9, "x.org", TYPE_A), RCODE_SERVFAIL).unwrap();
        let header = Header::parse(&servfail).unwrap();
        assert_eq!((header.id, header.rcode(), header.qdcount, header.flags & FLAG_RA), (9, RCODE_SERVFAIL, 1, 0));
    }

    #[test]
    fn compression_pointers_cannot_loop() {
        let mut msg = query(1, "a", TYPE_A);
        // A pointer to itself, one forward, two pointing at each other.
        msg.truncate(HEADER_LEN);
        msg.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(read_name(&msg, HEADER_LEN), Err(ParseError::BadName));
        let mut msg = vec![0u8; HEADER_LEN];
        msg.extend_from_slice(&[0xc0, 14, 0xc0, 12]);
        assert_eq!(read_name(&msg, HEADER_LEN), Err(ParseError::BadName));
        assert_eq!(read_name(&msg, HEADER_LEN + 2), Err(ParseError::BadName));
        // A good backward pointer.
        let mut msg = vec![0u8; HEADER_LEN];
        msg.extend_from_slice(&[3, b'w', b'e', b'b', 0, 1, b'x', 0xc0, 12]);
        let (name, after) = read_name(&msg, HEADER_LEN + 5).unwrap();
        assert_eq!(name.to_hostname().as_deref(), Some("x.web"));
        assert_eq!(after, msg.len());
        // Names over 255 bytes.
        let mut msg = vec![0u8; HEADER_LEN];
        for _ in 0..5 {
            msg.push(63);
            msg.extend_from_slice(&[b'a'; 63]);
        }
        msg.push(0);
        assert_eq!(read_name(&msg, HEADER_LEN), Err(ParseError::BadName));
    }

    #[test]
    fn garbage_never_panics() {
        // A simple xorshift so the test is repeatable.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let base = query(1, "web.example", TYPE_A);
        for round in 0..200_000 {
            let msg: Vec<u8> = if round % 2 == 0 {
                let len = (next() % 80) as usize;
                (0..len).map(|_| next() as u8).collect()
            } else {
                // Mutations of a real query, which reach deeper into the parser.
                let mut msg = base.clone();
                for _ in 0..1 + next() % 4 {
                    let i = (next() as usize) % msg.len();
                    msg[i] = next() as u8;
                }
                if next() % 4 == 0 {
                    msg.truncate((next() as usize) % msg.len());
                }
                msg
            };
            for tcp in [false, true] {
                if let Outcome::Reply(reply) = answer(&Table, "c", &msg, tcp) {
                    assert!(Header::parse(&reply).unwrap().is_response());
                }
            }
            let _ = error_reply(&msg, RCODE_SERVFAIL);
            let _ = answers_query(&msg, 1, &parse_query(&base).unwrap());
            let _ = read_name(&msg, (next() as usize) % (msg.len() + 2));
        }
    }

    #[test]
    fn resolv_conf_nameservers() {
        let text = "# comment\nnameserver 127.0.0.53\nnameserver  ::1\nsearch lan\nnameserver fe80::1%1\n\
                    nameserver fe80::2%nosuchif0\nnameserver bogus\noptions ndots:2\nnameserver\n";
        let got = upstreams_from_resolv_conf(text);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], "127.0.0.53:53".parse().unwrap());
        assert_eq!(got[1], "[::1]:53".parse().unwrap());
        match got[2] {
            SocketAddr::V6(v6) => assert_eq!((v6.ip().to_string(), v6.port(), v6.scope_id()), ("fe80::1".to_string(), 53, 1)),
            _ => panic!("not v6"),
        }
        if let Ok(index) = nix::net::if_::if_nametoindex("lo") {
            let got = upstreams_from_resolv_conf("nameserver fe80::9%lo\n");
            assert!(matches!(got[0], SocketAddr::V6(v6) if v6.scope_id() == index));
        }
    }
}
