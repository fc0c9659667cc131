//! `network::iptables` against the real `iptables` commands, both backends (legacy and nft),
//! always inside network namespaces the test makes (iptables rules are per namespace: the
//! host's tables are never touched): Docker's layout of chains and rules, written out line by
//! line; adding and removing a network's and a port's rules; clearing what a dead dockerd
//! left; Docker's error texts; and packets: a DNAT'd connection to a published port reaching
//! a listener in a "container" namespace, and MASQUERADE of the container's traffic to a third
//! namespace.

mod common;

use common::NetNs;
use dockbox::network::iptables::{Iptables, NetworkRules, PortRule, Proto, Table};
use dockbox::network::IpNet;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

const BACKENDS: [&str; 2] = ["iptables-legacy", "iptables-nft"];
const BACKENDS_V6: [&str; 2] = ["ip6tables-legacy", "ip6tables-nft"];

/// Runs `f` on a thread of its own inside a new network namespace (gone when it returns).
fn in_new_netns<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
            f()
        })
        .join()
        .unwrap()
    })
}

/// Runs `f` on a thread of its own inside `ns`: sockets it makes belong to `ns`.
fn in_netns<T: Send>(ns: &NetNs, f: impl FnOnce() -> T + Send) -> T {
    let fd: OwnedFd = ns.handle();
    std::thread::scope(|s| {
        s.spawn(move || {
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .unwrap()
    })
}

/// A name for a link of the test's own: `dbx<tag><random>`, at most 15 bytes.
fn link_name(tag: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let n = nanos ^ std::process::id().rotate_left(16) ^ (tag.len() as u32) << 28;
    format!("dbx{tag}{:06x}", n & 0xff_ffff)
}

fn rules(ipt: &Iptables, table: Table) -> Vec<String> {
    ipt.rules(table).unwrap_or_else(|e| panic!("{table:?}: {e}"))
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

const BASE_FILTER: &str = "
    -P INPUT ACCEPT
    -P FORWARD ACCEPT
    -P OUTPUT ACCEPT
    -N DOCKER
    -N DOCKER-ISOLATION-STAGE-1
    -N DOCKER-ISOLATION-STAGE-2
    -N DOCKER-USER
    -A FORWARD -j DOCKER-USER
    -A FORWARD -j DOCKER-ISOLATION-STAGE-1
    -A DOCKER-ISOLATION-STAGE-1 -j RETURN
    -A DOCKER-ISOLATION-STAGE-2 -j RETURN
    -A DOCKER-USER -j RETURN";

fn base_nat(loopback_excluded: &str) -> String {
    format!(
        "
        -P PREROUTING ACCEPT
        -P INPUT ACCEPT
        -P OUTPUT ACCEPT
        -P POSTROUTING ACCEPT
        -N DOCKER
        -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
        -A OUTPUT {loopback_excluded}-m addrtype --dst-type LOCAL -j DOCKER"
    )
}

fn assert_base(ipt: &Iptables, program: &str, userland_proxy: bool) {
    assert_eq!(rules(ipt, Table::Filter), lines(BASE_FILTER), "{program}: filter");
    let excluded = if userland_proxy { "! -d 127.0.0.0/8 " } else { "" };
    assert_eq!(rules(ipt, Table::Nat), lines(&base_nat(excluded)), "{program}: nat");
}

#[test]
fn ensure_chains_lays_out_dockers_chains_once() {
    for program in BACKENDS {
        in_new_netns(|| {
            let ipt = Iptables::with_program(program);
            ipt.ensure_chains(true).unwrap();
            assert_base(&ipt, program, true);
            // A dockerd started again adds nothing twice.
            ipt.ensure_chains(true).unwrap();
            assert_base(&ipt, program, true);
            // Started again without the userland proxy: the OUTPUT jump covers loopback too.
            ipt.ensure_chains(false).unwrap();
            assert_base(&ipt, program, false);
            // A FORWARD jump someone moved is put back on top, once.
            ipt.run(&["-D", "FORWARD", "-j", "DOCKER-USER"]).unwrap();
            ipt.run(&["-A", "FORWARD", "-j", "DOCKER-USER"]).unwrap();
            ipt.run(&["-I", "FORWARD", "-j", "DOCKER-ISOLATION-STAGE-1"]).unwrap();
            ipt.ensure_chains(false).unwrap();
            assert_base(&ipt, program, false);
        });
    }
}

#[test]
fn ip6tables_chains_exclude_ipv6_loopback() {
    for program in BACKENDS_V6 {
        in_new_netns(|| {
            let ipt = Iptables::with_program(program);
            assert!(ipt.is_ipv6());
            ipt.ensure_chains(true).unwrap();
            ipt.ensure_chains(true).unwrap();
            assert_eq!(rules(&ipt, Table::Filter), lines(BASE_FILTER), "{program}");
            let nat = rules(&ipt, Table::Nat);
            assert_eq!(nat[nat.len() - 1], "-A OUTPUT ! -d ::1/128 -m addrtype --dst-type LOCAL -j DOCKER", "{program}");
            let net = NetworkRules {
                bridge: link_name("6"),
                subnet: "fd00:77::/64".parse().unwrap(),
                masquerade: true,
                icc: true,
                internal: false,
                hairpin: false,
            };
            let port = PortRule {
                proto: Proto::Tcp,
                host_ip: Some("::".parse().unwrap()),
                host_port: 8080,
                container_ip: "fd00:77::2".parse().unwrap(),
                container_port: 80,
                bridge: net.bridge.clone(),
                hairpin: false,
            };
            ipt.add_network(&net).unwrap();
            ipt.add_port(&port).unwrap();
            let br = &net.bridge;
            let nat = rules(&ipt, Table::Nat);
            assert!(nat.contains(&format!("-A POSTROUTING -s fd00:77::/64 ! -o {br} -j MASQUERADE")), "{nat:#?}");
            assert!(
                nat.contains(&format!("-A DOCKER ! -i {br} -p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd00:77::2]:80")),
                "{nat:#?}"
            );
            ipt.remove_port(&port).unwrap();
            ipt.remove_network(&net).unwrap();
            assert_eq!(rules(&ipt, Table::Filter), lines(BASE_FILTER), "{program}");
            assert_eq!(rules(&ipt, Table::Nat), nat_base_v6(), "{program}");
        });
    }
}

fn nat_base_v6() -> Vec<String> {
    let mut v = lines(&base_nat(""));
    v.pop();
    v.push("-A OUTPUT ! -d ::1/128 -m addrtype --dst-type LOCAL -j DOCKER".to_owned());
    v
}

fn network(bridge: &str, subnet: &str) -> NetworkRules {
    NetworkRules {
        bridge: bridge.to_owned(),
        subnet: subnet.parse().unwrap(),
        masquerade: true,
        icc: true,
        internal: false,
        hairpin: false,
    }
}

fn port(proto: Proto, host: Option<&str>, host_port: u16, container: &str, container_port: u16, bridge: &str) -> PortRule {
    PortRule {
        proto,
        host_ip: host.map(|h| h.parse().unwrap()),
        host_port,
        container_ip: container.parse().unwrap(),
        container_port,
        bridge: bridge.to_owned(),
        hairpin: false,
    }
}

#[test]
fn networks_and_ports_are_laid_out_as_dockers_and_removed() {
    for program in BACKENDS {
        in_new_netns(|| {
            let ipt = Iptables::with_program(program);
            ipt.ensure_chains(true).unwrap();
            let a = link_name("a");
            let b = link_name("b");
            let i = link_name("i");
            // docker0-like, then a user network with ICC off, then an internal one.
            let net_a = network(&a, "10.77.0.1/16");
            let net_b = NetworkRules { icc: false, ..network(&b, "192.168.77.0/24") };
            let net_i = NetworkRules { internal: true, ..network(&i, "10.78.0.0/24") };
            let web = port(Proto::Tcp, None, 8080, "10.77.0.2", 80, &a);
            let dns = port(Proto::Udp, Some("127.0.0.1"), 5353, "192.168.77.3", 53, &b);
            for _ in 0..2 {
                // Twice: a dockerd restoring its rules adds nothing twice.
                ipt.add_network(&net_a).unwrap();
                ipt.add_network(&net_b).unwrap();
                ipt.add_network(&net_i).unwrap();
                ipt.add_port(&web).unwrap();
                ipt.add_port(&dns).unwrap();
            }
            let filter = format!(
                "
                -P INPUT ACCEPT
                -P FORWARD ACCEPT
                -P OUTPUT ACCEPT
                -N DOCKER
                -N DOCKER-ISOLATION-STAGE-1
                -N DOCKER-ISOLATION-STAGE-2
                -N DOCKER-USER
                -A FORWARD -j DOCKER-USER
                -A FORWARD -j DOCKER-ISOLATION-STAGE-1
                -A FORWARD -i {i} -o {i} -j ACCEPT
                -A FORWARD -o {b} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
                -A FORWARD -o {b} -j DOCKER
                -A FORWARD -i {b} ! -o {b} -j ACCEPT
                -A FORWARD -o {a} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
                -A FORWARD -o {a} -j DOCKER
                -A FORWARD -i {a} ! -o {a} -j ACCEPT
                -A FORWARD -i {a} -o {a} -j ACCEPT
                -A FORWARD -i {b} -o {b} -j DROP
                -A DOCKER -d 10.77.0.2/32 ! -i {a} -o {a} -p tcp -m tcp --dport 80 -j ACCEPT
                -A DOCKER -d 192.168.77.3/32 ! -i {b} -o {b} -p udp -m udp --dport 53 -j ACCEPT
                -A DOCKER-ISOLATION-STAGE-1 ! -s 10.78.0.0/24 -o {i} -j DROP
                -A DOCKER-ISOLATION-STAGE-1 ! -d 10.78.0.0/24 -i {i} -j DROP
                -A DOCKER-ISOLATION-STAGE-1 -i {b} ! -o {b} -j DOCKER-ISOLATION-STAGE-2
                -A DOCKER-ISOLATION-STAGE-1 -i {a} ! -o {a} -j DOCKER-ISOLATION-STAGE-2
                -A DOCKER-ISOLATION-STAGE-1 -j RETURN
                -A DOCKER-ISOLATION-STAGE-2 -o {b} -j DROP
                -A DOCKER-ISOLATION-STAGE-2 -o {a} -j DROP
                -A DOCKER-ISOLATION-STAGE-2 -j RETURN
                -A DOCKER-USER -j RETURN"
            );
            assert_eq!(rules(&ipt, Table::Filter), lines(&filter), "{program}: filter");
            let nat = format!(
                "
                -P PREROUTING ACCEPT
                -P INPUT ACCEPT
                -P OUTPUT ACCEPT
                -P POSTROUTING ACCEPT
                -N DOCKER
                -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
                -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
                -A POSTROUTING -s 192.168.77.0/24 ! -o {b} -j MASQUERADE
                -A POSTROUTING -s 10.77.0.0/16 ! -o {a} -j MASQUERADE
                -A POSTROUTING -s 10.77.0.2/32 -d 10.77.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
                -A POSTROUTING -s 192.168.77.3/32 -d 192.168.77.3/32 -p udp -m udp --dport 53 -j MASQUERADE
                -A DOCKER -i {b} -j RETURN
                -A DOCKER -i {a} -j RETURN
                -A DOCKER ! -i {a} -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.77.0.2:80
                -A DOCKER -d 127.0.0.1/32 ! -i {b} -p udp -m udp --dport 5353 -j DNAT --to-destination 192.168.77.3:53"
            );
            assert_eq!(rules(&ipt, Table::Nat), lines(&nat), "{program}: nat");

            for _ in 0..2 {
                // Twice: removing what is gone is no error.
                ipt.remove_port(&dns).unwrap();
                ipt.remove_port(&web).unwrap();
                ipt.remove_network(&net_i).unwrap();
                ipt.remove_network(&net_b).unwrap();
                ipt.remove_network(&net_a).unwrap();
            }
            assert_base(&ipt, program, true);
        });
    }
}

#[test]
fn hairpin_mode_and_sctp_ports_are_laid_out_as_dockers() {
    for program in BACKENDS {
        in_new_netns(|| {
            let ipt = Iptables::with_program(program);
            ipt.ensure_chains(false).unwrap();
            let a = link_name("h");
            let net = NetworkRules { hairpin: true, ..network(&a, "10.79.0.0/16") };
            let p = PortRule { hairpin: true, ..port(Proto::Sctp, Some("0.0.0.0"), 9000, "10.79.0.5", 9001, &a) };
            ipt.add_network(&net).unwrap();
            ipt.add_port(&p).unwrap();
            let nat = rules(&ipt, Table::Nat);
            let expected = lines(&format!(
                "
                -A POSTROUTING -o {a} -m addrtype --src-type LOCAL -j MASQUERADE
                -A POSTROUTING -s 10.79.0.0/16 ! -o {a} -j MASQUERADE
                -A POSTROUTING -s 10.79.0.5/32 -d 10.79.0.5/32 -p sctp -m sctp --dport 9001 -j MASQUERADE
                -A DOCKER -p sctp -m sctp --dport 9000 -j DNAT --to-destination 10.79.0.5:9001"
            ));
            assert_eq!(nat[nat.len() - expected.len()..], expected[..], "{program}: {nat:#?}");
            // No `-i bridge -j RETURN` in hairpin mode: traffic from the bridge is DNAT'd too.
            assert!(!nat.iter().any(|l| l.contains("-j RETURN")), "{program}: {nat:#?}");
            assert_eq!(
                rules(&ipt, Table::Mangle).last().unwrap(),
                "-A POSTROUTING -p sctp -m sctp --sport 9001 -j CHECKSUM --checksum-fill",
                "{program}"
            );
            ipt.remove_port(&p).unwrap();
            ipt.remove_network(&net).unwrap();
            assert_base(&ipt, program, false);
            assert!(!rules(&ipt, Table::Mangle).iter().any(|l| l.starts_with("-A ")), "{program}");
        });
    }
}

#[test]
fn rules_left_by_a_dead_daemon_are_cleared_by_bridge() {
    for program in BACKENDS {
        in_new_netns(|| {
            let ipt = Iptables::with_program(program);
            ipt.ensure_chains(true).unwrap();
            let a = link_name("k");
            let b = link_name("l");
            let net_a = network(&a, "10.80.0.0/16");
            let net_b = network(&b, "10.81.0.0/16");
            ipt.add_network(&net_a).unwrap();
            ipt.add_network(&net_b).unwrap();
            ipt.add_port(&port(Proto::Tcp, None, 8080, "10.80.0.2", 80, &a)).unwrap();
            ipt.add_port(&PortRule { hairpin: true, ..port(Proto::Tcp, None, 8081, "10.80.0.3", 80, &a) }).unwrap();
            ipt.add_port(&port(Proto::Tcp, None, 8082, "10.81.0.2", 80, &b)).unwrap();
            // A rule of the user's naming the bridge, with a quoted comment.
            ipt.run(&["-I", "DOCKER-USER", "-i", &a, "-m", "comment", "--comment", "user's \"own\" rule", "-j", "RETURN"]).unwrap();
            let before_b: Vec<String> =
                [Table::Filter, Table::Nat].iter().flat_map(|t| rules(&ipt, *t)).filter(|l| l.contains(&b)).collect();

            // Every rule naming the bridge: 6 network ones in filter, 2 port ACCEPTs, the user's;
            // in nat the MASQUERADE, the RETURN and the non-hairpin DNAT.
            assert_eq!(ipt.remove_rules_naming(&a).unwrap(), 12, "{program}");
            let all: Vec<String> = [Table::Filter, Table::Nat].iter().flat_map(|t| rules(&ipt, *t)).collect();
            assert!(!all.iter().any(|l| l.contains(&a)), "{program}: {all:#?}");
            // What names neither bridge stays: the hairpin DNAT and the port MASQUERADEs; the
            // subnet clears them.
            assert!(all.iter().any(|l| l.contains("--to-destination 10.80.0.3:80")), "{program}: {all:#?}");
            assert_eq!(ipt.remove_rules_of(&a, Some("10.80.0.0/16".parse::<IpNet>().unwrap())).unwrap(), 3, "{program}");
            assert_eq!(ipt.remove_rules_naming(&a).unwrap(), 0, "{program}");
            let all: Vec<String> = [Table::Filter, Table::Nat].iter().flat_map(|t| rules(&ipt, *t)).collect();
            assert!(!all.iter().any(|l| l.contains("10.80.")), "{program}: {all:#?}");
            // The other bridge's rules and the base chains are untouched.
            let after_b: Vec<String> = all.iter().filter(|l| l.contains(&b)).cloned().collect();
            assert_eq!(after_b, before_b, "{program}");
            assert!(all.contains(&"-A FORWARD -j DOCKER-USER".to_owned()), "{program}");
            // Docker's start: its own chains emptied (ports, isolation), the user's kept.
            ipt.run(&["-A", "DOCKER-USER", "-s", "10.99.0.0/16", "-j", "DROP"]).unwrap();
            ipt.flush_chains().unwrap();
            ipt.ensure_chains(true).unwrap();
            let filter = rules(&ipt, Table::Filter);
            let nat = rules(&ipt, Table::Nat);
            assert!(!filter.iter().chain(&nat).any(|l| l.starts_with("-A DOCKER ")), "{program}: {filter:#?} {nat:#?}");
            let stage_1: Vec<&String> = filter.iter().filter(|l| l.starts_with("-A DOCKER-ISOLATION-STAGE-1")).collect();
            assert_eq!(stage_1, ["-A DOCKER-ISOLATION-STAGE-1 -j RETURN"], "{program}");
            assert!(filter.contains(&"-A DOCKER-USER -s 10.99.0.0/16 -j DROP".to_owned()), "{program}");
            assert!(filter.contains(&format!("-A FORWARD -o {b} -j DOCKER")), "{program}");
            ipt.run(&["-D", "DOCKER-USER", "-s", "10.99.0.0/16", "-j", "DROP"]).unwrap();
            ipt.add_network(&net_b).unwrap();
            // Adding the network back after the clean-up gives what a fresh add gives.
            ipt.add_network(&net_a).unwrap();
            ipt.remove_network(&net_a).unwrap();
            ipt.remove_rules_of(&b, Some(net_b.subnet)).unwrap();
            assert_base(&ipt, program, true);
        });
    }
}

#[test]
fn failures_give_dockers_error_and_leave_nothing() {
    for program in BACKENDS {
        in_new_netns(|| {
            let ipt = Iptables::with_program(program);
            ipt.ensure_chains(true).unwrap();
            let a = link_name("e");
            // An IPv6 host address given to iptables.
            let bad = port(Proto::Tcp, Some("::1"), 8080, "10.82.0.2", 80, &a);
            let err = ipt.add_port(&bad).unwrap_err();
            let command = format!("iptables --wait -t nat -A DOCKER -p tcp -d ::1 --dport 8080 -j DNAT --to-destination 10.82.0.2:80 ! -i {a}");
            assert!(err.starts_with(&format!("iptables failed: {command}: ")), "{program}: {err}");
            assert!(err.contains("host/network `::1' not found"), "{program}: {err}");
            assert!(err.ends_with(" (exit status 2)"), "{program}: {err}");
            // A failure after the first rule: the DNAT (hairpin: no interface in it) goes in,
            // the ACCEPT's interface name is too long; the DNAT is taken back out.
            let long = "dbx0123456789abcdef";
            let half = PortRule { hairpin: true, ..port(Proto::Tcp, None, 8080, "10.82.0.2", 80, long) };
            let err = ipt.add_port(&half).unwrap_err();
            assert!(err.starts_with("iptables failed: iptables --wait -t filter -A DOCKER ! -i dbx0123456789abcdef -o"), "{program}: {err}");
            assert_base(&ipt, program, true);
            let err = ipt.add_network(&network(long, "10.83.0.0/24")).unwrap_err();
            assert!(err.starts_with("iptables failed: iptables --wait -t nat -I POSTROUTING -s 10.83.0.0/24 ! -o dbx0123456789abcdef"), "{program}: {err}");
            assert_base(&ipt, program, true);
        });
    }
    let missing = Iptables::with_program("/nonexistent/dbx/iptables");
    assert_eq!(missing.ensure_chains(true).unwrap_err(), "/nonexistent/dbx/iptables not found");
}

/// The test's three namespaces: a "host" with a bridge, a "container" on a veth in it, and a
/// "far" namespace beyond the host's other link.
struct Topology {
    host: NetNs,
    container: NetNs,
    far: NetNs,
    bridge: String,
}

const HOST_ADDR: &str = "192.168.84.1";
const FAR_ADDR: &str = "192.168.84.2";
const BRIDGE_ADDR: &str = "10.84.0.1";
const CONTAINER_ADDR: &str = "10.84.0.2";

fn ns_path(ns: &NetNs) -> (OwnedFd, String) {
    let fd = ns.handle();
    let path = format!("/proc/{}/fd/{}", std::process::id(), fd.as_raw_fd());
    (fd, path)
}

impl Topology {
    fn new() -> Topology {
        let (host, container, far) = (NetNs::new(), NetNs::new(), NetNs::new());
        let bridge = link_name("br");
        let (to_container, in_container) = (link_name("hv"), link_name("cv"));
        let (to_far, in_far) = (link_name("hf"), link_name("fv"));
        host.ip(&["link", "add", &bridge, "type", "bridge"]);
        host.ip(&["addr", "add", &format!("{BRIDGE_ADDR}/24"), "dev", &bridge]);
        host.ip(&["link", "set", &bridge, "up"]);
        host.ip(&["link", "add", &to_container, "type", "veth", "peer", "name", &in_container]);
        let (_c, c_path) = ns_path(&container);
        host.ip(&["link", "set", &in_container, "netns", &c_path]);
        host.ip(&["link", "set", &to_container, "master", &bridge, "up"]);
        container.ip(&["addr", "add", &format!("{CONTAINER_ADDR}/24"), "dev", &in_container]);
        container.ip(&["link", "set", &in_container, "up"]);
        container.ip(&["route", "add", "default", "via", BRIDGE_ADDR]);
        host.ip(&["link", "add", &to_far, "type", "veth", "peer", "name", &in_far]);
        let (_f, f_path) = ns_path(&far);
        host.ip(&["link", "set", &in_far, "netns", &f_path]);
        host.ip(&["addr", "add", &format!("{HOST_ADDR}/24"), "dev", &to_far]);
        host.ip(&["link", "set", &to_far, "up"]);
        far.ip(&["addr", "add", &format!("{FAR_ADDR}/24"), "dev", &in_far]);
        far.ip(&["link", "set", &in_far, "up"]);
        let out = host.command("sysctl").args(["-qw", "net.ipv4.ip_forward=1"]).output().unwrap();
        assert!(out.status.success(), "sysctl: {}", String::from_utf8_lossy(&out.stderr));
        Topology { host, container, far, bridge }
    }
}

/// A TCP connection from namespace `from` to `to`, accepted on `listener`: sends "ping",
/// expects "pong"; the peer address the listener saw. The listener stays usable after a
/// failure (its accept polls, giving up once the client has).
fn exchange(from: &NetNs, listener: &TcpListener, to: SocketAddr) -> Result<IpAddr, String> {
    let client_done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let server = s.spawn(|| -> Option<IpAddr> {
            listener.set_nonblocking(true).unwrap();
            let (mut conn, peer) = loop {
                match listener.accept() {
                    Ok(accepted) => break accepted,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if client_done.load(std::sync::atomic::Ordering::SeqCst) {
                            return None;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            };
            conn.set_nonblocking(false).unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 4];
            conn.read_exact(&mut buf).ok()?;
            assert_eq!(&buf, b"ping");
            conn.write_all(b"pong").ok()?;
            Some(peer.ip())
        });
        let client = in_netns(from, || -> Result<(), String> {
            let mut conn = TcpStream::connect_timeout(&to, Duration::from_secs(2)).map_err(|e| format!("connect {to}: {e}"))?;
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            conn.write_all(b"ping").map_err(|e| e.to_string())?;
            let mut buf = [0u8; 4];
            conn.read_exact(&mut buf).map_err(|e| e.to_string())?;
            assert_eq!(&buf, b"pong");
            Ok(())
        });
        client_done.store(true, std::sync::atomic::Ordering::SeqCst);
        let peer = server.join().unwrap();
        client?;
        peer.ok_or_else(|| "the listener got nothing".to_owned())
    })
}

#[test]
fn packets_are_dnatd_to_the_container_and_masqueraded_out() {
    for program in BACKENDS {
        let t = Topology::new();
        let net = network(&t.bridge, "10.84.0.0/24");
        let published = port(Proto::Tcp, None, 18080, CONTAINER_ADDR, 80, &t.bridge);
        let host_port: SocketAddr = format!("{HOST_ADDR}:18080").parse().unwrap();
        let far_port: SocketAddr = format!("{FAR_ADDR}:9090").parse().unwrap();
        let ipt = Iptables::with_program(program);
        in_netns(&t.host, || {
            ipt.ensure_chains(true).unwrap();
            // As dockerd when it turns forwarding on: nothing forwarded but what its rules let.
            ipt.run(&["-P", "FORWARD", "DROP"]).unwrap();
        });
        let web = in_netns(&t.container, || TcpListener::bind("0.0.0.0:80").unwrap());
        let far = in_netns(&t.far, || TcpListener::bind(far_port).unwrap());

        // Without the network's rules the container's traffic is not forwarded.
        let blocked = exchange(&t.container, &far, far_port);
        assert!(blocked.is_err(), "{program}: forwarded without rules: {blocked:?}");

        in_netns(&t.host, || ipt.add_network(&net).unwrap());
        // MASQUERADE: the far side sees the host's address.
        assert_eq!(exchange(&t.container, &far, far_port), Ok(HOST_ADDR.parse().unwrap()), "{program}");
        // Nothing published yet: the host's port refuses.
        let refused = in_netns(&t.far, || TcpStream::connect_timeout(&host_port, Duration::from_secs(2)).map(drop));
        assert!(refused.is_err(), "{program}: {refused:?}");

        in_netns(&t.host, || ipt.add_port(&published).unwrap());
        // DNAT from outside (PREROUTING, then FORWARD through filter DOCKER): the container sees
        // the far address as it is.
        assert_eq!(exchange(&t.far, &web, host_port), Ok(FAR_ADDR.parse().unwrap()), "{program}");
        // And from the host itself to its own address (OUTPUT).
        assert_eq!(exchange(&t.host, &web, host_port), Ok(HOST_ADDR.parse().unwrap()), "{program}");

        in_netns(&t.host, || {
            ipt.remove_port(&published).unwrap();
            ipt.remove_network(&net).unwrap();
        });
        let refused = in_netns(&t.far, || TcpStream::connect_timeout(&host_port, Duration::from_secs(2)).map(drop));
        assert!(refused.is_err(), "{program}: still published: {refused:?}");
        let blocked = exchange(&t.container, &far, far_port);
        assert!(blocked.is_err(), "{program}: still forwarded: {blocked:?}");
    }
}
