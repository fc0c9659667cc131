//! The embedded DNS server against the real kernel, as root: a server with a fixed table of
//! names listens inside network namespaces the tests make; queries come from inside them
//! (std sockets on a thread that joined the namespace, and busybox's nslookup); the upstream
//! is a small resolver each test runs itself on 127.0.0.1. No query leaves the machine.

mod common;

use common::{require_root, NetNs};
use dockbox::network::dns::{DnsServer, Names};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The daemon's names in these tests: `web` (IPv4 and IPv6), `db` (IPv4 only), and a
/// per-container view (`secret` only from scope `c-a`).
struct Table;

impl Names for Table {
    fn lookup(&self, scope: &str, name: &str) -> Option<Vec<IpAddr>> {
        match name {
            "web" | "web.dbxnet" => Some(vec!["10.77.0.2".parse().unwrap(), "fd77::2".parse().unwrap()]),
            "db" => Some(vec!["10.77.0.3".parse().unwrap()]),
            "secret" if scope == "c-a" => Some(vec!["10.77.0.9".parse().unwrap()]),
            "many" => Some((1..=100).map(|i| IpAddr::V4(Ipv4Addr::new(10, 77, 1, i))).collect()),
            _ => None,
        }
    }
    fn reverse(&self, _scope: &str, ip: IpAddr) -> Option<String> {
        (ip == "10.77.0.3".parse::<IpAddr>().unwrap()).then(|| "db.dbxnet".to_string())
    }
}

// ---- a small independent DNS codec for the client and the upstream (not the module's) ----

const A: u16 = 1;
const PTR: u16 = 12;
const AAAA: u16 = 28;
const TXT: u16 = 16;

fn build_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![(id >> 8) as u8, id as u8, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, (qtype >> 8) as u8, qtype as u8, 0, 1]);
    q
}

/// Skips the name at `pos` (a pointer ends it); the position after it.
fn skip_name(msg: &[u8], mut pos: usize) -> usize {
    loop {
        let len = msg[pos] as usize;
        if len == 0 {
            return pos + 1;
        }
        if len & 0xc0 == 0xc0 {
            return pos + 2;
        }
        pos += 1 + len;
    }
}

/// The question name of a message, dotted, and its type.
fn question(msg: &[u8]) -> (String, u16) {
    let mut pos = 12;
    let mut labels = Vec::new();
    while msg[pos] != 0 {
        let len = msg[pos] as usize;
        labels.push(String::from_utf8_lossy(&msg[pos + 1..pos + 1 + len]).to_string());
        pos += 1 + len;
    }
    (labels.join("."), u16::from_be_bytes([msg[pos + 1], msg[pos + 2]]))
}

#[derive(Debug)]
struct Reply {
    id: u16,
    rcode: u8,
    truncated: bool,
    recursion_available: bool,
    /// (type, ttl, rdata)
    answers: Vec<(u16, u32, Vec<u8>)>,
}

fn parse_reply(msg: &[u8]) -> Reply {
    assert!(msg.len() >= 12 && msg[2] & 0x80 != 0, "not a DNS response: {msg:?}");
    let count = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]) as usize;
    let mut pos = 12;
    for _ in 0..count(4) {
        pos = skip_name(msg, pos) + 4;
    }
    let mut answers = Vec::new();
    for _ in 0..count(6) {
        pos = skip_name(msg, pos);
        let rtype = u16::from_be_bytes([msg[pos], msg[pos + 1]]);
        let ttl = u32::from_be_bytes([msg[pos + 4], msg[pos + 5], msg[pos + 6], msg[pos + 7]]);
        let rdlen = count(pos + 8);
        answers.push((rtype, ttl, msg[pos + 10..pos + 10 + rdlen].to_vec()));
        pos += 10 + rdlen;
    }
    Reply {
        id: u16::from_be_bytes([msg[0], msg[1]]),
        rcode: msg[3] & 0xf,
        truncated: msg[2] & 0x02 != 0,
        recursion_available: msg[3] & 0x80 != 0,
        answers,
    }
}

fn ipv4s(reply: &Reply) -> Vec<Ipv4Addr> {
    let mut ips: Vec<Ipv4Addr> = reply.answers.iter().filter(|a| a.0 == A).map(|a| Ipv4Addr::new(a.2[0], a.2[1], a.2[2], a.2[3])).collect();
    ips.sort();
    ips
}

/// The upstream resolver a test runs on 127.0.0.1 (UDP and TCP on one port):
/// `*.example.test` A 192.0.2.7 TTL 42; `big.example.test` truncated over UDP and 60 records
/// over TCP; `slow.example.test` after 1.5 s; `fail.example.test` SERVFAIL; others NXDOMAIN.
struct Upstream {
    addr: SocketAddr,
    udp_queries: Arc<AtomicUsize>,
    tcp_queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

fn upstream_answer(query: &[u8], tcp: bool) -> Vec<u8> {
    let (name, qtype) = question(query);
    let qend = skip_name(query, 12) + 4;
    let mut reply = query[..qend].to_vec();
    reply[2] = 0x81; // QR, RD
    reply[3] = 0x80; // RA
    reply[6..12].copy_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut answers: Vec<[u8; 4]> = Vec::new();
    match name.as_str() {
        "fail.example.test" => reply[3] |= 2,
        "big.example.test" if !tcp => reply[2] |= 0x02,
        "big.example.test" if qtype == A => answers.extend((1..=60).map(|i| [192, 0, 2, i])),
        "slow.example.test" if qtype == A => answers.push([192, 0, 2, 8]),
        n if n.ends_with(".example.test") && qtype == A => answers.push([192, 0, 2, 7]),
        n if n.ends_with(".example.test") => {}
        _ => reply[3] |= 3,
    }
    reply[7] = answers.len() as u8;
    for ip in answers {
        reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 42, 0, 4]);
        reply.extend_from_slice(&ip);
    }
    reply
}

impl Upstream {
    fn start() -> Upstream {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = std::net::TcpListener::bind(addr).unwrap();
        tcp.set_nonblocking(true).unwrap();
        udp.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let (udp_queries, tcp_queries, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (count, halt) = (udp_queries.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !halt.load(Ordering::SeqCst) {
                let Ok((n, peer)) = udp.recv_from(&mut buf) else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let query = buf[..n].to_vec();
                let udp = udp.try_clone().unwrap();
                std::thread::spawn(move || {
                    if question(&query).0 == "slow.example.test" {
                        std::thread::sleep(Duration::from_millis(1500));
                    }
                    udp.send_to(&upstream_answer(&query, false), peer).unwrap();
                });
            }
        });
        let (count, halt) = (tcp_queries.clone(), stop.clone());
        std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                let Ok((mut stream, _)) = tcp.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                stream.set_nonblocking(false).unwrap();
                let mut len = [0u8; 2];
                if stream.read_exact(&mut len).is_err() {
                    continue;
                }
                let mut query = vec![0u8; u16::from_be_bytes(len) as usize];
                stream.read_exact(&mut query).unwrap();
                let reply = upstream_answer(&query, true);
                stream.write_all(&(reply.len() as u16).to_be_bytes()).unwrap();
                stream.write_all(&reply).unwrap();
            }
        });
        Upstream { addr, udp_queries, tcp_queries, stop }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A 127.0.0.1 port nothing listens on (bound and closed at once).
fn dead_port() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// Runs `f` on a thread that joined `ns`.
fn in_ns<T: Send + 'static>(ns: &NetNs, f: impl FnOnce() -> T + Send + 'static) -> T {
    let fd = ns.handle();
    std::thread::spawn(move || {
        nix::sched::setns(fd.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
    .join()
    .unwrap()
}

const SERVER: &str = "127.0.0.11:53";

/// A UDP query to 127.0.0.11:53 from inside `ns`; None when nothing answers in `wait`.
fn udp_query(ns: &NetNs, name: &str, qtype: u16, wait: Duration) -> Option<Reply> {
    let query = build_query(0x1234, name, qtype);
    in_ns(ns, move || {
        let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
        socket.connect(SERVER).unwrap();
        socket.set_read_timeout(Some(wait)).unwrap();
        socket.send(&query).unwrap();
        let mut buf = [0u8; 65535];
        let n = socket.recv(&mut buf).ok()?;
        let reply = parse_reply(&buf[..n]);
        assert_eq!(reply.id, 0x1234);
        Some(reply)
    })
}

fn udp(ns: &NetNs, name: &str, qtype: u16) -> Reply {
    udp_query(ns, name, qtype, Duration::from_secs(10)).unwrap_or_else(|| panic!("no UDP answer for {name}"))
}

/// A TCP query (two on one connection, as resolvers may send) from inside `ns`.
fn tcp(ns: &NetNs, name: &str, qtype: u16) -> Reply {
    let query = build_query(0x4321, name, qtype);
    in_ns(ns, move || {
        let mut stream = TcpStream::connect(SERVER).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut replies = Vec::new();
        for _ in 0..2 {
            stream.write_all(&(query.len() as u16).to_be_bytes()).unwrap();
            stream.write_all(&query).unwrap();
            let mut len = [0u8; 2];
            stream.read_exact(&mut len).unwrap();
            let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
            stream.read_exact(&mut reply).unwrap();
            replies.push(parse_reply(&reply));
        }
        assert_eq!(replies[0].answers.len(), replies[1].answers.len());
        replies.pop().unwrap()
    })
}

fn listening(server: &DnsServer, scope: &str) -> NetNs {
    let ns = NetNs::new();
    server.listen_in(scope, ns.handle().as_fd()).unwrap();
    ns
}

#[test]
fn answers_names_over_udp_and_tcp() {
    if !require_root() {
        return;
    }
    let upstream = Upstream::start();
    let server = DnsServer::start(vec![upstream.addr], Arc::new(Table)).unwrap();
    let ns = listening(&server, "c-a");

    let reply = udp(&ns, "web", A);
    assert_eq!((reply.rcode, reply.recursion_available), (0, true));
    assert_eq!(ipv4s(&reply), vec![Ipv4Addr::new(10, 77, 0, 2)]);
    assert_eq!(reply.answers[0].1, 600, "Docker's TTL");
    assert_eq!(ipv4s(&udp(&ns, "WEB.dbxnet.", A)), vec![Ipv4Addr::new(10, 77, 0, 2)]);
    assert_eq!(ipv4s(&udp(&ns, "secret", A)), vec![Ipv4Addr::new(10, 77, 0, 9)]);

    let reply = udp(&ns, "web", AAAA);
    assert_eq!(reply.answers, vec![(AAAA, 600, "fd77::2".parse::<std::net::Ipv6Addr>().unwrap().octets().to_vec())]);
    // An IPv4-only container asked AAAA: NOERROR without answers (Docker's NODATA).
    let reply = udp(&ns, "db", AAAA);
    assert_eq!((reply.rcode, reply.answers.len()), (0, 0));

    let reply = udp(&ns, "3.0.77.10.in-addr.arpa", PTR);
    assert_eq!(reply.answers.len(), 1);
    assert_eq!(reply.answers[0].0, PTR);
    assert_eq!(reply.answers[0].2, b"\x02db\x06dbxnet\x00".to_vec());

    let reply = tcp(&ns, "db", A);
    assert_eq!(ipv4s(&reply), vec![Ipv4Addr::new(10, 77, 0, 3)]);
    assert_eq!(upstream.udp_queries.load(Ordering::SeqCst) + upstream.tcp_queries.load(Ordering::SeqCst), 0, "nothing of ours goes upstream");

    // The DNAT rules are in the namespace, as Docker's, and the container keeps port 53.
    let rules = ns.command("iptables").args(["-t", "nat", "-S"]).output().unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout).to_string();
    assert!(rules.contains("-A OUTPUT -d 127.0.0.11/32 -j DOCKER_OUTPUT"), "{rules}");
    assert!(rules.contains("--dport 53 -j DNAT --to-destination 127.0.0.11:"), "{rules}");
    assert!(rules.contains("-j SNAT --to-source :53"), "{rules}");
    in_ns(&ns, || {
        UdpSocket::bind("0.0.0.0:53").expect("the container can still bind port 53");
        std::net::TcpListener::bind("0.0.0.0:53").expect("the container can still bind port 53/tcp");
    });
}

#[test]
fn scopes_see_their_own_names() {
    if !require_root() {
        return;
    }
    let upstream = Upstream::start();
    let server = DnsServer::start(vec![upstream.addr], Arc::new(Table)).unwrap();
    let (a, b) = (listening(&server, "c-a"), listening(&server, "c-b"));
    assert_eq!(ipv4s(&udp(&a, "secret", A)), vec![Ipv4Addr::new(10, 77, 0, 9)]);
    // Not ours from c-b: forwarded, the upstream says NXDOMAIN.
    assert_eq!(udp(&b, "secret", A).rcode, 3);
    assert_eq!(upstream.udp_queries.load(Ordering::SeqCst), 1);
    let mut scopes = server.scopes();
    scopes.sort();
    assert_eq!(scopes, vec!["c-a", "c-b"]);
}

#[test]
fn forwards_what_is_not_ours() {
    if !require_root() {
        return;
    }
    let upstream = Upstream::start();
    let server = DnsServer::start(vec![upstream.addr], Arc::new(Table)).unwrap();
    let ns = listening(&server, "c-a");

    let reply = udp(&ns, "www.example.test", A);
    assert_eq!((reply.rcode, ipv4s(&reply)), (0, vec![Ipv4Addr::new(192, 0, 2, 7)]));
    assert_eq!(reply.answers[0].1, 42, "the upstream's TTL is passed on");
    assert_eq!(udp(&ns, "nosuch.invalid", A).rcode, 3, "NXDOMAIN passed on");
    assert_eq!(udp(&ns, "web", TXT).rcode, 3, "other types are forwarded, even for our names");
    assert_eq!(udp(&ns, "9.0.77.10.in-addr.arpa", PTR).rcode, 3, "a PTR not ours is forwarded");
    assert_eq!(upstream.udp_queries.load(Ordering::SeqCst), 4);

    // Over TCP for TCP queries.
    let reply = tcp(&ns, "www.example.test", A);
    assert_eq!(ipv4s(&reply), vec![Ipv4Addr::new(192, 0, 2, 7)]);
    assert_eq!(upstream.tcp_queries.load(Ordering::SeqCst), 2);

    // A truncated UDP answer reaches the client truncated; its retry over TCP gets it all.
    let reply = udp(&ns, "big.example.test", A);
    assert!(reply.truncated && reply.answers.is_empty());
    assert_eq!(tcp(&ns, "big.example.test", A).answers.len(), 60);

    // Upstream SERVFAIL is passed on as SERVFAIL (no other upstream to try).
    assert_eq!(udp(&ns, "fail.example.test", A).rcode, 2);
}

#[test]
fn a_slow_upstream_does_not_hold_up_others() {
    if !require_root() {
        return;
    }
    let upstream = Upstream::start();
    let server = DnsServer::start(vec![upstream.addr], Arc::new(Table)).unwrap();
    let (a, b) = (listening(&server, "c-a"), listening(&server, "c-b"));
    let slow = {
        let a_fd = a.handle();
        std::thread::spawn(move || {
            let start = Instant::now();
            nix::sched::setns(a_fd.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
            socket.connect(SERVER).unwrap();
            socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            socket.send(&build_query(1, "slow.example.test", A)).unwrap();
            let mut buf = [0u8; 512];
            let n = socket.recv(&mut buf).unwrap();
            (ipv4s(&parse_reply(&buf[..n])), start.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    assert_eq!(ipv4s(&udp(&b, "db", A)), vec![Ipv4Addr::new(10, 77, 0, 3)]);
    assert_eq!(ipv4s(&udp(&b, "www.example.test", A)), vec![Ipv4Addr::new(192, 0, 2, 7)]);
    assert!(start.elapsed() < Duration::from_millis(1000), "answers waited for the slow forward: {:?}", start.elapsed());
    let (ips, took) = slow.join().unwrap();
    assert_eq!(ips, vec![Ipv4Addr::new(192, 0, 2, 8)]);
    assert!(took >= Duration::from_millis(1400));
}

#[test]
fn no_upstream_gives_servfail_and_the_next_one_is_tried() {
    if !require_root() {
        return;
    }
    let server = DnsServer::start(vec![dead_port()], Arc::new(Table)).unwrap();
    let ns = listening(&server, "c-a");
    let reply = udp(&ns, "www.example.test", A);
    assert_eq!((reply.rcode, reply.recursion_available, reply.answers.len()), (2, false, 0));
    assert_eq!(tcp(&ns, "www.example.test", A).rcode, 2);
    // Our own names do not need an upstream.
    assert_eq!(ipv4s(&udp(&ns, "web", A)), vec![Ipv4Addr::new(10, 77, 0, 2)]);

    let upstream = Upstream::start();
    server.set_upstreams(vec![dead_port(), upstream.addr]);
    assert_eq!(ipv4s(&udp(&ns, "www.example.test", A)), vec![Ipv4Addr::new(192, 0, 2, 7)]);

    // A container of its own with no way out: SERVFAIL for everything not ours.
    server.set_scope_upstreams("c-a", Some(vec![])).unwrap();
    assert_eq!(udp(&ns, "www.example.test", A).rcode, 2);
    server.set_scope_upstreams("c-a", None).unwrap();
    assert_eq!(udp(&ns, "www.example.test", A).rcode, 0);
    assert!(server.set_scope_upstreams("nobody", None).is_err());
}

#[test]
fn forget_closes_the_sockets_and_listening_again_works() {
    if !require_root() {
        return;
    }
    let upstream = Upstream::start();
    let server = DnsServer::start(vec![upstream.addr], Arc::new(Table)).unwrap();
    let ns = listening(&server, "c-a");
    assert!(udp_query(&ns, "web", A, Duration::from_secs(5)).is_some());
    server.forget("c-a");
    assert!(server.scopes().is_empty());
    assert!(udp_query(&ns, "web", A, Duration::from_millis(700)).is_none(), "answered after forget");
    let refused = in_ns(&ns, || TcpStream::connect_timeout(&SERVER.parse().unwrap(), Duration::from_secs(2)).is_err());
    assert!(refused, "TCP still accepted after forget");
    // Again in the same namespace: the chains exist and are refilled with the new ports.
    server.listen_in("c-a", ns.handle().as_fd()).unwrap();
    assert_eq!(ipv4s(&udp(&ns, "web", A)), vec![Ipv4Addr::new(10, 77, 0, 2)]);
    assert_eq!(tcp(&ns, "web", A).answers.len(), 1);
    let rules = ns.command("iptables").args(["-t", "nat", "-S", "OUTPUT"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&rules.stdout).matches("DOCKER_OUTPUT").count(), 1, "one jump, not two");
    // Listening twice for one scope changes nothing.
    server.listen_in("c-a", ns.handle().as_fd()).unwrap();
    assert!(udp_query(&ns, "web", A, Duration::from_secs(5)).is_some());
    // The same scope in another namespace (a restart not forgotten) moves there.
    let moved = NetNs::new();
    server.listen_in("c-a", moved.handle().as_fd()).unwrap();
    assert!(udp_query(&moved, "web", A, Duration::from_secs(5)).is_some());
    assert!(udp_query(&ns, "web", A, Duration::from_millis(700)).is_none(), "the old namespace still answered");
    assert_eq!(server.scopes(), vec!["c-a"]);
    // Dropping the server stops its thread and closes everything.
    drop(server);
    std::thread::sleep(Duration::from_millis(200));
    assert!(udp_query(&moved, "web", A, Duration::from_millis(700)).is_none(), "answered after drop");
}

#[test]
fn long_answers_are_truncated_over_udp_and_whole_over_tcp() {
    if !require_root() {
        return;
    }
    let server = DnsServer::start(vec![dead_port()], Arc::new(Table)).unwrap();
    let ns = listening(&server, "c-a");
    let reply = udp(&ns, "many", A);
    assert!(reply.truncated, "100 addresses do not fit 512 bytes");
    assert!(!reply.answers.is_empty() && reply.answers.len() < 100);
    let reply = tcp(&ns, "many", A);
    assert!(!reply.truncated);
    assert_eq!(ipv4s(&reply), (1..=100).map(|i| Ipv4Addr::new(10, 77, 1, i)).collect::<Vec<_>>());
}

#[test]
fn garbage_on_the_wire_leaves_the_server_answering() {
    if !require_root() {
        return;
    }
    let server = DnsServer::start(vec![dead_port()], Arc::new(Table)).unwrap();
    let ns = listening(&server, "c-a");
    let formerr = in_ns(&ns, || {
        let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
        socket.connect(SERVER).unwrap();
        let mut seed: u32 = 0x2545_f491;
        for round in 0..3000u32 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let len = (seed % 300) as usize;
            let mut msg: Vec<u8> = (0..len).map(|i| (seed.rotate_left(i as u32) ^ round) as u8).collect();
            if msg.len() > 3 {
                msg[2] &= 0x07; // a query, opcode 0: reaches the parser
            }
            let _ = socket.send(&msg);
        }
        // Garbage TCP: a huge length, then a pointer loop.
        let mut stream = TcpStream::connect(SERVER).unwrap();
        let _ = stream.write_all(&[0xff, 0xff, 1, 2, 3]);
        drop(stream);
        let mut stream = TcpStream::connect(SERVER).unwrap();
        let looped = [0, 14, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1];
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        stream.write_all(&looped).unwrap();
        let mut reply = [0u8; 14];
        stream.read_exact(&mut reply).unwrap();
        reply
    });
    // The pointer loop got FORMERR with its id.
    assert_eq!((formerr[2], formerr[3], formerr[5] & 0xf), (0, 1, 1), "{formerr:?}");
    assert_eq!(ipv4s(&udp(&ns, "web", A)), vec![Ipv4Addr::new(10, 77, 0, 2)]);
    assert_eq!(ipv4s(&tcp(&ns, "web", A)), vec![Ipv4Addr::new(10, 77, 0, 2)]);
}

#[test]
fn without_iptables_it_binds_port_53_and_a_failing_one_is_an_error() {
    if !require_root() {
        return;
    }
    let server = DnsServer::start(vec![dead_port()], Arc::new(Table)).unwrap();
    server.set_iptables_restore("/nonexistent/iptables-restore".into());
    let ns = listening(&server, "c-a");
    assert_eq!(ipv4s(&udp(&ns, "web", A)), vec![Ipv4Addr::new(10, 77, 0, 2)]);
    assert_eq!(ipv4s(&tcp(&ns, "web", A)), vec![Ipv4Addr::new(10, 77, 0, 2)]);
    let rules = ns.command("iptables").args(["-t", "nat", "-S"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&rules.stdout).contains("DOCKER_OUTPUT"));

    server.set_iptables_restore("false".into());
    let other = NetNs::new();
    let err = server.listen_in("c-b", other.handle().as_fd()).unwrap_err();
    assert!(err.to_string().contains("iptables-restore"), "{err}");
    assert_eq!(server.scopes(), vec!["c-a"]);
    assert!(udp_query(&other, "web", A, Duration::from_millis(500)).is_none());
}

#[test]
fn listening_before_the_loopback_is_up() {
    if !require_root() {
        return;
    }
    let server = DnsServer::start(vec![dead_port()], Arc::new(Table)).unwrap();
    let ns = NetNs::new();
    ns.ip(&["link", "set", "lo", "down"]);
    server.listen_in("c-a", ns.handle().as_fd()).unwrap();
    ns.ip(&["link", "set", "lo", "up"]);
    assert_eq!(ipv4s(&udp(&ns, "db", A)), vec![Ipv4Addr::new(10, 77, 0, 3)]);
}

#[test]
fn busybox_nslookup_in_the_namespace() {
    if !require_root() {
        return;
    }
    if !std::path::Path::new("/usr/bin/busybox").exists() && !std::path::Path::new("/bin/busybox").exists() {
        eprintln!("busybox not installed: skipped");
        return;
    }
    let upstream = Upstream::start();
    let server = DnsServer::start(vec![upstream.addr], Arc::new(Table)).unwrap();
    let ns = listening(&server, "c-a");
    // nsenter opens the namespace by a path of this process's descriptor, kept open here.
    let keep = ns.handle();
    let path = format!("/proc/{}/fd/{}", std::process::id(), keep.as_raw_fd());
    let run = |args: &[&str]| {
        let out = std::process::Command::new("nsenter").arg(format!("--net={path}")).arg("busybox").arg("nslookup").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
    };
    let out = run(&["web", "127.0.0.11"]);
    assert!(out.contains("10.77.0.2") && out.contains("fd77::2"), "{out}");
    let out = run(&["www.example.test", "127.0.0.11"]);
    assert!(out.contains("192.0.2.7"), "{out}");
    let out = run(&["10.77.0.3", "127.0.0.11"]);
    assert!(out.contains("db.dbxnet"), "{out}");
    let out = run(&["-type=a", "db", "127.0.0.11"]);
    assert!(out.contains("10.77.0.3"), "{out}");
}

#[test]
fn dnsmasq_as_the_upstream() {
    if !require_root() {
        return;
    }
    let Ok(probe) = std::process::Command::new("dnsmasq").arg("--version").output() else {
        eprintln!("dnsmasq not installed: skipped");
        return;
    };
    assert!(probe.status.success());
    let (mut dnsmasq, upstream) = start_dnsmasq();
    let server = DnsServer::start(vec![upstream], Arc::new(Table)).unwrap();
    let ns = listening(&server, "c-a");
    let udp_reply = udp(&ns, "host.dnsmasq.test", A);
    let tcp_reply = tcp(&ns, "host.dnsmasq.test", A);
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(dnsmasq.id() as i32), nix::sys::signal::Signal::SIGTERM);
    let _ = dnsmasq.wait();
    assert_eq!(ipv4s(&udp_reply), vec![Ipv4Addr::new(192, 0, 2, 53)]);
    assert_eq!(ipv4s(&tcp_reply), vec![Ipv4Addr::new(192, 0, 2, 53)]);
    // dnsmasq down: SERVFAIL.
    assert_eq!(udp(&ns, "host.dnsmasq.test", A).rcode, 2);
}

/// dnsmasq answering `*.dnsmasq.test` with 192.0.2.53 on a free port of 127.0.0.1.
fn start_dnsmasq() -> (std::process::Child, SocketAddr) {
    let port = dead_port().port();
    let dnsmasq = std::process::Command::new("dnsmasq")
        .args(["--keep-in-foreground", "--no-resolv", "--no-hosts", "--bind-interfaces", "--listen-address=127.0.0.1", "--user=root"])
        .arg(format!("--port={port}"))
        .arg("--address=/dnsmasq.test/192.0.2.53")
        .arg("--pid-file=")
        .spawn()
        .unwrap();
    let upstream: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(upstream).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    (dnsmasq, upstream)
}

/// Private memory of this process (kB): (Private_Dirty, Private_Clean + Private_Dirty).
fn private_kib() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap();
    let field = |name: &str| -> u64 {
        text.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    let dirty = field("Private_Dirty:");
    (dirty, dirty + field("Private_Clean:"))
}

/// The measurement itself runs in a child process of its own (this test binary again, only
/// this test), so other tests' threads do not move the numbers.
#[test]
fn idle_memory_cost() {
    if !require_root() {
        return;
    }
    if std::env::var_os("DBX_DNS_MEMORY_CHILD").is_none() {
        let have = |cmd: &str| std::process::Command::new(cmd).arg("--help").output().is_ok();
        if !have("dnsmasq") || !have("busybox") {
            eprintln!("dnsmasq or busybox not installed: skipped");
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "idle_memory_cost", "--nocapture", "--test-threads", "1"])
            .env("DBX_DNS_MEMORY_CHILD", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        eprintln!("{text}");
        assert!(out.status.success(), "{text}");
        assert!(text.contains("dns idle memory"), "{text}");
        return;
    }
    // The upstream (dnsmasq) and the clients (busybox nslookup, all of a phase started by one
    // shell) are processes of their own, so only the server's threads run here. First what any
    // process that makes namespaces and runs commands has already paid.
    let (mut dnsmasq, upstream) = start_dnsmasq();
    let namespaces: Vec<NetNs> = (0..8).map(|_| NetNs::new()).collect();
    let handles: Vec<std::os::fd::OwnedFd> = namespaces.iter().map(|ns| ns.handle()).collect();
    let paths: Vec<String> = handles.iter().map(|fd| format!("/proc/{}/fd/{}", std::process::id(), fd.as_raw_fd())).collect();
    let shell = |script: &str| {
        let out = std::process::Command::new("sh").arg("-c").arg(script).output().unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(shell(&format!("nsenter --net={} true && echo ok", paths[0])), "ok\n");
    std::thread::sleep(Duration::from_millis(300));
    let before = private_kib();

    let server = DnsServer::start(vec![upstream], Arc::new(Table)).unwrap();
    for (i, ns) in namespaces.iter().enumerate() {
        server.listen_in(&format!("c-{i}"), ns.handle().as_fd()).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let listening = private_kib();

    let mut script = String::new();
    for path in &paths {
        script += &format!("nsenter --net={path} busybox nslookup web 127.0.0.11 | grep -q 10.77.0.2 || echo web failed\n");
        script += &format!("nsenter --net={path} busybox nslookup host.dnsmasq.test 127.0.0.11 | grep -q 192.0.2.53 || echo dnsmasq.test failed\n");
    }
    assert_eq!(shell(&script), "");
    std::thread::sleep(Duration::from_millis(500));
    let after = private_kib();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(dnsmasq.id() as i32), nix::sys::signal::Signal::SIGTERM);
    let _ = dnsmasq.wait();

    // A burst: 64 forwards at once (32 clients asking A and AAAA) to an upstream that never
    // answers (a socket nobody reads), each given up after 4 s with SERVFAIL.
    let black_hole = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_upstreams(vec![black_hole.local_addr().unwrap()]);
    let mut script = String::new();
    for i in 0..32 {
        script += &format!("nsenter --net={} busybox nslookup n{i}.burst.test 127.0.0.11 >/dev/null 2>&1 &\n", paths[i % paths.len()]);
    }
    shell(&(script + "wait\n"));
    std::thread::sleep(Duration::from_millis(4500));
    let burst = private_kib();
    let (idle, used) = (listening.1.saturating_sub(before.1), after.1.saturating_sub(before.1));
    eprintln!(
        "dns idle memory: +{} KiB private (+{} KiB dirty) with 8 containers listening; \
         +{} KiB private (+{} KiB dirty) after each asked A and AAAA of a name of ours and a forwarded one",
        idle,
        listening.0.saturating_sub(before.0),
        used,
        after.0.saturating_sub(before.0)
    );
    let burst_cost = burst.1.saturating_sub(before.1);
    eprintln!("dns idle memory: +{burst_cost} KiB private (+{} KiB dirty) after a burst of 64 forwards at once", burst.0.saturating_sub(before.0));
    // What the server holds is its dirty memory (heap, stacks, socket buffers' bookkeeping);
    // the clean private pages are this debug test binary's code, touched once and several
    // times larger than the release build's (whose cost scripts/bench/engine.sh shows in the
    // idle daemon).
    let dirty = |m: (u64, u64)| m.0.saturating_sub(before.0);
    assert!(dirty(listening) <= 256, "the idle server holds {} KiB", dirty(listening));
    assert!(dirty(burst) <= 256, "after a burst the idle server holds {} KiB", dirty(burst));
    assert!(dirty(after) <= 256, "after use the idle server holds {} KiB", dirty(after));
    drop(server);
    drop(namespaces);
}
