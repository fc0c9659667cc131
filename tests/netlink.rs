//! The bridge driver's kernel plumbing against the real kernel, as root: rtnetlink links,
//! addresses and routes, veth pairs into network namespaces, namespace files. Everything
//! happens inside network namespaces the test makes (a "host" one holding the bridge, one per
//! "container"), bound to files under the test's temporary directory so `nsenter --net=FILE
//! ip -j ...` can check what our code did; the host's own network is never touched.

mod common;

use common::TempDir;
use dockbox::network::bridge::{self, VethSpec};
use dockbox::network::netlink::{Netlink, NewLink};
use dockbox::network::netns::{self, Netns, Pool};
use dockbox::network::IpNet;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A network namespace of the test's, bound to a file (unbound when dropped; the namespace
/// then dies with everything in it).
struct Ns {
    fd: OwnedFd,
    file: PathBuf,
}

impl Ns {
    fn new(pool: &Arc<Pool>, dir: &TempDir, name: &str) -> Ns {
        let file = dir.join(name);
        let netns = pool.take().unwrap();
        netns.bind(&file).unwrap();
        Ns { fd: netns::open(&file).unwrap(), file }
    }
    fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
    /// Runs `f` inside (on a thread that joined the namespace).
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        netns::run_in(self.fd(), f).unwrap()
    }
    /// `ip -j ARGS` inside, parsed.
    fn ip(&self, args: &[&str]) -> Value {
        let out = Command::new("nsenter").arg(format!("--net={}", self.file.display())).arg("ip").arg("-j").args(args).output().unwrap();
        assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }
    fn link_names(&self) -> Vec<String> {
        self.run(|| Netlink::open().unwrap().links().unwrap()).into_iter().map(|l| l.name).collect()
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = netns::unbind(&self.file);
    }
}

fn random_hex(n: usize) -> String {
    dockbox::ids::new_id()[..n].to_string()
}

/// A random /24 of 10.0.0.0/8 (the namespaces are private, but names and subnets stay the
/// test's own anyway).
fn random_subnet() -> (u8, u8) {
    let b = u32::from_str_radix(&random_hex(4), 16).unwrap();
    (1 + (b >> 8) as u8 % 250, b as u8)
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn spec(bridge: &str, ifname: &str, addr: &str, gateways: &[&str]) -> VethSpec {
    let addr = net(addr);
    let IpAddr::V4(v4) = addr.addr else { panic!() };
    VethSpec {
        bridge: bridge.to_string(),
        host_name: bridge::veth_name(),
        ifname: ifname.to_string(),
        mac: bridge::mac_from_ip(v4),
        addrs: vec![addr],
        gateways: gateways.iter().map(|g| g.parse().unwrap()).collect(),
        mtu: None,
        hairpin: false,
    }
}

/// The addresses `ip -j addr show dev IF` lists, as "addr/prefix".
fn addrs_of(ip_addr: &Value) -> Vec<String> {
    ip_addr[0]["addr_info"].as_array().unwrap().iter().map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"])).collect()
}

fn inode(fd: BorrowedFd) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::File::from(fd.try_clone_to_owned().unwrap()).metadata().unwrap().ino()
}

fn mounted(path: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let path = path.to_str().unwrap();
    info.lines().any(|l| l.split(' ').nth(4) == Some(path))
}

#[test]
fn a_bridge_connects_two_namespaces() {
    if !common::require_root() {
        return;
    }
    let dir = TempDir::new("netlink");
    let pool = Pool::start();
    let host = Ns::new(&pool, &dir, "host");
    let (a, b) = random_subnet();
    let br = format!("dbx{}", random_hex(6));
    let br_addrs = [net(&format!("10.{a}.{b}.1/24")), net(&format!("fd{:02x}:{b:x}::1/64", a))];
    // Made, then reused and given the address it lacks (and nothing twice).
    assert!(host.run(|| bridge::ensure_bridge(&br, &br_addrs[..1], Some(1400))).unwrap());
    assert!(!host.run(|| bridge::ensure_bridge(&br, &br_addrs, Some(1400))).unwrap());
    assert!(!host.run(|| bridge::ensure_bridge(&br, &br_addrs, Some(1400))).unwrap());
    // An existing bridge takes a new MTU, and keeps its own when none is given.
    assert!(!host.run(|| bridge::ensure_bridge(&br, &br_addrs, Some(1450))).unwrap());
    assert_eq!(host.ip(&["link", "show", "dev", &br])[0]["mtu"], 1450);
    assert!(!host.run(|| bridge::ensure_bridge(&br, &br_addrs[..1], None)).unwrap());
    assert_eq!(host.ip(&["link", "show", "dev", &br])[0]["mtu"], 1450);
    host.run(|| bridge::ensure_bridge(&br, &[], Some(1400))).unwrap();
    let shown = host.ip(&["addr", "show", "dev", &br]);
    assert_eq!(shown[0]["mtu"], 1400, "{shown}");
    assert_eq!(shown[0]["linkinfo"], Value::Null, "{shown}"); // (only with -d)
    let listed = addrs_of(&shown);
    for want in &br_addrs {
        assert_eq!(listed.iter().filter(|a| **a == want.to_string()).count(), 1, "{want} once in {listed:?}");
    }
    let details = host.ip(&["-d", "link", "show", "dev", &br]);
    assert_eq!(details[0]["linkinfo"]["info_kind"], "bridge", "{details}");
    assert!(details[0]["flags"].as_array().unwrap().iter().any(|f| f == "UP"), "{details}");

    let c1 = Ns::new(&pool, &dir, "c1");
    let c2 = Ns::new(&pool, &dir, "c2");
    let gw4 = format!("10.{a}.{b}.1");
    let gw6 = format!("fd{a:02x}:{b:x}::1");
    let mut s1 = spec(&br, "eth0", &format!("10.{a}.{b}.2/24"), &[&gw4, &gw6]);
    s1.addrs.push(net(&format!("fd{a:02x}:{b:x}::2/64")));
    s1.mtu = Some(1400);
    s1.hairpin = true;
    let mut s2 = spec(&br, "eth0", &format!("10.{a}.{b}.3/24"), &[&gw4]);
    s2.addrs.push(net(&format!("fd{a:02x}:{b:x}::3/64")));
    s2.mtu = Some(1400);
    host.run(|| bridge::attach(c1.fd(), &s1)).unwrap();
    host.run(|| bridge::attach(c2.fd(), &s2)).unwrap();

    // The container's end: its name, MAC, MTU, addresses, up; its routes.
    let eth0 = c1.ip(&["addr", "show", "dev", "eth0"]);
    assert_eq!(eth0[0]["address"], bridge::format_mac(&s1.mac), "{eth0}");
    assert_eq!(eth0[0]["mtu"], 1400, "{eth0}");
    assert_eq!(eth0[0]["operstate"], "UP", "{eth0}");
    let listed = addrs_of(&eth0);
    for want in &s1.addrs {
        assert!(listed.contains(&want.to_string()), "{want} in {listed:?}");
    }
    let v4 = eth0[0]["addr_info"].as_array().unwrap().iter().find(|a| a["family"] == "inet").unwrap();
    assert_eq!(v4["broadcast"], format!("10.{a}.{b}.255"), "{eth0}");
    let routes = c1.ip(&["route", "show", "default"]);
    assert_eq!(routes[0]["gateway"], gw4.as_str(), "{routes}");
    assert_eq!(routes[0]["dev"], "eth0", "{routes}");
    let routes6 = c1.ip(&["-6", "route", "show", "default"]);
    assert_eq!(routes6[0]["gateway"], gw6.as_str(), "{routes6}");
    assert_eq!(c2.ip(&["-6", "route", "show", "default"]), Value::Array(vec![]), "no IPv6 gateway given");
    // The host's end: a port of the bridge, up, hairpin as asked.
    let port = host.ip(&["-d", "link", "show", "dev", &s1.host_name]);
    assert_eq!(port[0]["master"], br.as_str(), "{port}");
    assert_eq!(port[0]["mtu"], 1400, "{port}");
    assert_eq!(port[0]["linkinfo"]["info_slave_data"]["hairpin"], true, "{port}");
    let port2 = host.ip(&["-d", "link", "show", "dev", &s2.host_name]);
    assert_eq!(port2[0]["linkinfo"]["info_slave_data"]["hairpin"], false, "{port2}");
    // Netlink's own view agrees.
    let link = c1.run(|| Netlink::open().unwrap().link("eth0").unwrap()).unwrap();
    assert_eq!((link.kind.as_deref(), link.mac, link.mtu, link.is_up()), (Some("veth"), Some(s1.mac), 1400, true));

    // TCP from one namespace to the other through the bridge, IPv4 and IPv6.
    for target in [format!("10.{a}.{b}.3:7070"), format!("[fd{a:02x}:{b:x}::3]:7071")] {
        let target: SocketAddr = target.parse().unwrap();
        let listener = c2.run(|| TcpListener::bind(target)).unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, peer) = listener.accept().unwrap();
            let mut got = [0u8; 5];
            conn.read_exact(&mut got).unwrap();
            conn.write_all(b"pong").unwrap();
            (got, peer.ip())
        });
        let mut conn = c1.run(|| TcpStream::connect_timeout(&target, Duration::from_secs(5))).unwrap();
        conn.write_all(b"ping!").unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "pong");
        let (got, peer) = server.join().unwrap();
        assert_eq!(&got, b"ping!");
        assert!(s1.addrs.iter().any(|a| a.addr == peer), "the peer is c1's address: {peer}");
    }
    // Detach: the container's end goes, and the host end with it.
    host.run(|| bridge::detach(c1.fd(), "eth0")).unwrap();
    assert!(!c1.link_names().contains(&"eth0".to_string()));
    assert!(!host.link_names().contains(&s1.host_name));
    host.run(|| bridge::detach(c1.fd(), "eth0")).unwrap(); // already gone: fine
    host.run(|| bridge::remove_link(&s2.host_name)).unwrap();
    assert!(!c2.link_names().contains(&"eth0".to_string()));
    host.run(|| bridge::remove_bridge(&br)).unwrap();
    assert!(!host.link_names().contains(&br));
    host.run(|| bridge::remove_bridge(&br)).unwrap(); // already gone: fine
}

#[test]
fn a_name_that_is_not_a_bridge_is_refused() {
    if !common::require_root() {
        return;
    }
    let dir = TempDir::new("netlink");
    let pool = Pool::start();
    let host = Ns::new(&pool, &dir, "host");
    let name = format!("dbx{}", random_hex(6));
    let peer = format!("dbx{}", random_hex(6));
    host.run(|| Netlink::open().unwrap().create_veth(&NewLink { name: &name, ..Default::default() }, &NewLink { name: &peer, ..Default::default() })).unwrap();
    let err = host.run(|| bridge::ensure_bridge(&name, &[net("10.9.9.1/24")], None)).unwrap_err();
    assert_eq!(err.to_string(), format!("existing interface {name} is not a bridge"));
    let err = host.run(|| bridge::remove_bridge(&name)).unwrap_err();
    assert_eq!(err.to_string(), format!("existing interface {name} is not a bridge"));
    // Left as it was: still a veth, no address given.
    let shown = host.ip(&["-d", "addr", "show", "dev", &name]);
    assert_eq!(shown[0]["linkinfo"]["info_kind"], "veth", "{shown}");
    assert!(addrs_of(&shown).iter().all(|a| !a.starts_with("10.")), "{shown}");
    // A new bridge whose addresses cannot all be given is not left behind.
    let doomed = format!("dbx{}", random_hex(6));
    let err = host.run(|| bridge::ensure_bridge(&doomed, &[net("10.9.8.1/24"), net("::1/128")], None)).unwrap_err();
    assert!(err.to_string().contains("::1/128") && err.to_string().contains(&doomed), "{err}");
    assert!(!host.link_names().contains(&doomed));
    // Attaching to it is refused the same way, and makes nothing.
    let c = Ns::new(&pool, &dir, "c");
    let before = host.link_names();
    let err = host.run(|| bridge::attach(c.fd(), &spec(&name, "eth0", "10.9.9.2/24", &[]))).unwrap_err();
    assert_eq!(err.to_string(), format!("existing interface {name} is not a bridge"));
    assert_eq!(host.link_names(), before);
}

#[test]
fn a_failing_attach_leaves_no_link() {
    if !common::require_root() {
        return;
    }
    let dir = TempDir::new("netlink");
    let pool = Pool::start();
    let host = Ns::new(&pool, &dir, "host");
    let c = Ns::new(&pool, &dir, "c");
    let br = format!("dbx{}", random_hex(6));
    host.run(|| bridge::ensure_bridge(&br, &[net("192.168.77.1/24")], None)).unwrap();
    let first = spec(&br, "eth0", "192.168.77.2/24", &["192.168.77.1"]);
    host.run(|| bridge::attach(c.fd(), &first)).unwrap();
    let host_links = host.link_names();
    let c_links = c.link_names();
    assert_eq!(host_links.len(), 3, "lo, the bridge, one veth end: {host_links:?}");

    // The container's name is taken: the kernel makes neither end.
    let taken = spec(&br, "eth0", "192.168.77.3/24", &["192.168.77.1"]);
    let err = host.run(|| bridge::attach(c.fd(), &taken)).unwrap_err();
    assert!(err.to_string().starts_with(&format!("failed to add the host ({}) <=> sandbox (eth0) pair interfaces: ", taken.host_name)), "{err}");
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists, "{err}");
    assert_eq!(host.link_names(), host_links);
    assert_eq!(c.link_names(), c_links);

    // The host end's name is taken: nothing made, and the existing link is not deleted.
    let mut clash = spec(&br, "eth1", "192.168.77.4/24", &[]);
    clash.host_name = first.host_name.clone();
    host.run(|| bridge::attach(c.fd(), &clash)).unwrap_err();
    assert_eq!(host.link_names(), host_links);
    assert_eq!(c.link_names(), c_links);

    // Made, then failing at its routes (a gateway off the link): undone whole.
    let unreachable = spec(&br, "eth1", "192.168.77.5/24", &["10.200.0.1"]);
    let err = host.run(|| bridge::attach(c.fd(), &unreachable)).unwrap_err();
    assert!(err.to_string().contains("eth1"), "{err}");
    assert_eq!(host.link_names(), host_links);
    assert_eq!(c.link_names(), c_links);

    // The same address twice on one link fails at its addresses: undone whole.
    let mut twice = spec(&br, "eth1", "192.168.77.6/24", &[]);
    twice.addrs.push(twice.addrs[0]);
    host.run(|| bridge::attach(c.fd(), &twice)).unwrap_err();
    assert_eq!(host.link_names(), host_links);
    assert_eq!(c.link_names(), c_links);

    // A bridge that does not exist.
    let err = host.run(|| bridge::attach(c.fd(), &spec("dbxnothere", "eth1", "192.168.77.7/24", &[]))).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
    assert_eq!(host.link_names(), host_links);
}

#[test]
fn netlink_errors_carry_the_errno() {
    if !common::require_root() {
        return;
    }
    let dir = TempDir::new("netlink");
    let pool = Pool::start();
    let host = Ns::new(&pool, &dir, "host");
    host.run(|| {
        let mut nl = Netlink::open().unwrap();
        assert_eq!(nl.link("dbxnosuch").unwrap(), None);
        assert!(!nl.delete_link_named("dbxnosuch").unwrap());
        let lo = nl.link("lo").unwrap().unwrap();
        assert_eq!(nl.set_mtu(999_999, 1400).unwrap_err().raw_os_error(), Some(libc::ENODEV));
        assert_eq!(nl.add_addr(lo.index, &net("127.0.0.1/8")).unwrap_err().raw_os_error(), Some(libc::EEXIST));
        // The socket goes on after errors: sequence numbers keep replies apart.
        let name = format!("dbx{}", random_hex(6));
        nl.create_bridge(&NewLink { name: &name, ..Default::default() }).unwrap();
        assert_eq!(nl.create_bridge(&NewLink { name: &name, ..Default::default() }).unwrap_err().raw_os_error(), Some(libc::EEXIST));
        let index = nl.index(&name).unwrap();
        let renamed = format!("dbx{}", random_hex(6));
        nl.rename(index, &renamed).unwrap();
        nl.set_mac(index, [0x02, 0x42, 1, 2, 3, 4]).unwrap();
        nl.set_mtu(index, 1300).unwrap();
        nl.set_up(index, true).unwrap();
        nl.add_addr(index, &net("10.33.0.1/16")).unwrap();
        nl.add_addr(index, &net("fd33::1/64")).unwrap();
        let link = nl.link(&renamed).unwrap().unwrap();
        assert_eq!((link.index, link.mac, link.mtu, link.is_up()), (index, Some([0x02, 0x42, 1, 2, 3, 4]), 1300, true));
        let addrs = nl.addrs(index).unwrap();
        assert!(addrs.contains(&net("10.33.0.1/16")) && addrs.contains(&net("fd33::1/64")), "{addrs:?}");
        nl.del_addr(index, &net("10.33.0.1/16")).unwrap();
        assert!(!nl.addrs(index).unwrap().contains(&net("10.33.0.1/16")));
        nl.set_up(index, false).unwrap();
        assert!(!nl.link(&renamed).unwrap().unwrap().is_up());
        // A veth end moved into another namespace by its descriptor, made a port and freed.
        let (a, b) = (format!("dbx{}", random_hex(6)), format!("dbx{}", random_hex(6)));
        nl.create_veth(&NewLink { name: &a, ..Default::default() }, &NewLink { name: &b, ..Default::default() }).unwrap();
        let a_index = nl.index(&a).unwrap();
        nl.set_master(a_index, index).unwrap();
        assert_eq!(nl.link(&a).unwrap().unwrap().master, Some(index));
        nl.set_master(a_index, 0).unwrap();
        assert_eq!(nl.link(&a).unwrap().unwrap().master, None);
        let other = pool.take().unwrap();
        let b_index = nl.index(&b).unwrap();
        nl.move_to_netns(b_index, other.fd()).unwrap();
        assert_eq!(nl.link(&b).unwrap(), None);
        let moved = Netlink::open_in(other.fd()).unwrap().link(&b).unwrap().unwrap();
        assert_eq!(moved.kind.as_deref(), Some("veth"));
        nl.delete_link(index).unwrap();
        assert_eq!(nl.link(&renamed).unwrap(), None);
    });
}

#[test]
fn namespace_files_bind_and_unbind() {
    if !common::require_root() {
        return;
    }
    let dir = TempDir::new("netlink");
    let pool = Pool::start();
    let file = dir.join("ns");
    let netns = pool.take().unwrap();
    let ino = inode(netns.fd());
    netns.bind(&file).unwrap();
    assert!(mounted(&file));
    // The namespace lives on through the file, with its loopback up.
    let opened = netns::open(&file).unwrap();
    assert_eq!(inode(opened.as_fd()), ino);
    let out = Command::new("nsenter").arg(format!("--net={}", file.display())).args(["ip", "-j", "link", "show", "lo"]).output().unwrap();
    let lo: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(lo[0]["flags"].as_array().unwrap().iter().any(|f| f == "UP"), "{lo}");
    // Binding onto a path that exists is refused, and leaves that file alone.
    let again = Netns::from(netns::open(&file).unwrap());
    assert_eq!(again.bind(&file).unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
    assert!(mounted(&file));
    // A sysctl set inside the namespace stays there.
    let host_forward = netns::sysctl("net/ipv4/ip_forward").unwrap();
    let want = if host_forward == "1" { "0" } else { "1" };
    netns::set_sysctl_in(opened.as_fd(), "net.ipv4.ip_forward", want).unwrap();
    assert_eq!(netns::run_in(opened.as_fd(), || netns::sysctl("/proc/sys/net/ipv4/ip_forward")).unwrap().unwrap(), want);
    assert_eq!(netns::sysctl("net/ipv4/ip_forward").unwrap(), host_forward);
    drop(opened);
    netns::unbind(&file).unwrap();
    assert!(!mounted(&file));
    assert!(!file.exists());
    netns::unbind(&file).unwrap(); // already gone: fine
    // A bind that fails (no such directory) leaves nothing.
    let nowhere = dir.join("missing/ns");
    assert!(pool.take().unwrap().bind(&nowhere).is_err());
    assert!(!nowhere.exists() && !mounted(&nowhere));
}

#[test]
fn attach_is_fast() {
    if !common::require_root() {
        return;
    }
    let dir = TempDir::new("netlink");
    let pool = Pool::start();
    let host = Ns::new(&pool, &dir, "host");
    let br = format!("dbx{}", random_hex(6));
    host.run(|| bridge::ensure_bridge(&br, &[net("10.44.0.1/16")], None)).unwrap();
    let containers: Vec<Ns> = (0..20).map(|i| Ns::new(&pool, &dir, &format!("c{i}"))).collect();
    let mut times: Vec<Duration> = host.run(|| {
        containers
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let ip = Ipv4Addr::new(10, 44, 1, 2 + i as u8);
                let s = spec(&br, "eth0", &format!("{ip}/16"), &["10.44.0.1"]);
                let start = Instant::now();
                bridge::attach(c.fd(), &s).unwrap();
                start.elapsed()
            })
            .collect()
    });
    times.sort();
    let median = times[times.len() / 2];
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    eprintln!("attach: median {median:?}, mean {mean:?}, min {:?}, max {:?}", times[0], times[times.len() - 1]);
    assert_eq!(host.link_names().len(), 2 + containers.len());
    // Generous beside the ~1 ms it takes here, so a loaded machine does not fail it, yet a
    // round trip per step or a fresh namespace per attach would.
    assert!(median < Duration::from_millis(20), "median attach {median:?}");
}
