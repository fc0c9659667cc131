//! Containers on networks, end to end: the default bridge, published ports (docker-proxy and
//! iptables), user networks with the embedded DNS server, isolation, egress, and a dockerd
//! crash. Every daemon here lives in a network namespace of the test's own
//! (`Dockerd::start_networked`), so bridges, veths and rules die with it; the tests still
//! check that a stopped container leaves nothing behind inside it.

mod common;

use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

fn run_ok(d: &Dockerd, args: &[&str]) -> String {
    ok(&d.docker(args), d).trim().to_string()
}

/// `program ARGS` inside the daemon's namespace; its stdout, asserting success.
fn in_ns(ns: &NetNs, program: &str, args: &[&str]) -> String {
    let out = ns.command(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

/// Retries `f` until it gives Some (a server in a container takes a moment to listen).
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn curl(ns: &NetNs, url: &str) -> Option<String> {
    let out = ns.command("curl").args(["-sS", "--max-time", "3", url]).output().unwrap();
    out.status.success().then(|| stdout(&out))
}

/// A busybox web server answering `text` on port 80.
fn web_server(d: &Dockerd, extra: &[&str], text: &str) -> String {
    let image = d.registry.image("busybox");
    let script = format!("mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www");
    let mut args = vec!["run", "-d"];
    args.extend_from_slice(extra);
    args.extend([image.as_str(), "sh", "-c", script.as_str()]);
    run_ok(d, &args)
}

/// A shell line fetching `http://HOST/` inside a busybox container. Debian's static busybox
/// crashes in getaddrinfo without glibc's NSS files (its wget does, even for an address), so
/// the name goes through busybox's own `nslookup` and the request through `nc`.
fn fetch(host: &str) -> String {
    format!("ip=$(nslookup {host} 2>/dev/null | awk '/^Address/ {{a=$NF}} END {{print a}}'); printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 $ip 80")
}

fn links(ns: &NetNs) -> Vec<String> {
    in_ns(ns, "ip", &["-o", "link", "show"]).lines().filter_map(|l| l.split(": ").nth(1).map(|n| n.split('@').next().unwrap_or(n).to_string())).collect()
}

fn rules(ns: &NetNs) -> String {
    in_ns(ns, "iptables-save", &[])
}

#[test]
fn the_default_bridge_gives_an_address_a_route_and_a_namespace_file() {
    let Some((d, ns)) = Dockerd::start_networked(&[], None) else { return };
    let image = d.registry.image("busybox");
    let id = run_ok(&d, &["run", "-d", &image, "sleep", "60"]);
    let inspect: Value = serde_json::from_str(&run_ok(&d, &["inspect", &id]))
        .map(|v: Value| v[0].clone())
        .unwrap();
    let net = &inspect["NetworkSettings"];
    assert_eq!(net["Networks"]["bridge"]["Gateway"], "10.123.0.1", "{net}");
    let ip = net["IPAddress"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.123.0."), "{net}");
    assert_eq!(net["IPPrefixLen"], 24);
    let octets: Vec<u8> = ip.split('.').map(|o| o.parse().unwrap()).collect();
    assert_eq!(net["MacAddress"], format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", octets[0], octets[1], octets[2], octets[3]));
    let key = net["SandboxKey"].as_str().unwrap().to_string();
    assert!(key.starts_with(d.exec_root().join("netns").to_str().unwrap()), "{key}");
    // The namespace is a file others can enter.
    let addr = ok(&std::process::Command::new("nsenter").arg(format!("--net={key}")).args(["ip", "-o", "-4", "addr", "show", "eth0"]).output().unwrap(), &d);
    assert!(addr.contains(&format!("{ip}/24")), "{addr}");
    let inside = run_ok(&d, &["exec", &id, "ip", "route"]);
    assert!(inside.contains("default via 10.123.0.1 dev eth0"), "{inside}");
    let hosts = run_ok(&d, &["exec", &id, "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{ip}\t{}", &id[..12])), "{hosts}");
    // The container reaches the bridge's address (the host) and the host reaches it.
    in_ns(&ns, "busybox", &["ping", "-c", "1", "-W", "2", &ip]);
    let before = links(&ns);
    assert!(before.iter().any(|l| l.starts_with("veth")), "{before:?}");
    run_ok(&d, &["stop", "-t", "1", &id]);
    assert!(!std::path::Path::new(&key).exists(), "the namespace file outlived the container");
    let after = links(&ns);
    assert!(!after.iter().any(|l| l.starts_with("veth")), "a veth outlived the container: {after:?}");
    let stopped: Value = serde_json::from_str(&run_ok(&d, &["inspect", &id])).unwrap();
    assert_eq!(stopped[0]["NetworkSettings"]["IPAddress"], "");
    // A new start takes an address again (the first one was freed; it may be the next).
    run_ok(&d, &["start", &id]);
    let again: Value = serde_json::from_str(&run_ok(&d, &["inspect", &id])).unwrap();
    assert!(again[0]["NetworkSettings"]["IPAddress"].as_str().unwrap().starts_with("10.123.0."));
}

#[test]
fn network_none_and_host_modes() {
    let Some((d, _ns)) = Dockerd::start_networked(&[], None) else { return };
    let image = d.registry.image("busybox");
    let none = run_ok(&d, &["run", "--rm", "--network", "none", &image, "ip", "-o", "link"]);
    assert!(none.contains("lo:") && !none.contains("eth0"), "{none}");
    let host = run_ok(&d, &["run", "--rm", "--network", "host", &image, "ip", "-o", "link"]);
    assert!(host.contains("dbx0"), "--network host sees the daemon's interfaces: {host}");
}

#[test]
fn a_published_port_answers_through_the_proxy_and_the_dnat_rule() {
    let Some((d, ns)) = Dockerd::start_networked(&[], None) else { return };
    let id = web_server(&d, &["-p", "8080:80", "-p", "127.0.0.1:8081:80"], "hello");
    // Loopback: docker-proxy; the bridge's address: iptables' DNAT.
    let via_proxy = eventually("the proxy", || curl(&ns, "http://127.0.0.1:8080/").or_else(|| {
        eprintln!("{}\n{}\n{}\n{}", d.log(), run_ok(&d, &["inspect", "-f", "{{json .NetworkSettings.Ports}} {{json .HostConfig.PortBindings}}", &id]), in_ns(&ns, "ss", &["-ltnp"]), stdout(&std::process::Command::new("ps").args(["-ef"]).output().unwrap()).lines().filter(|l| l.contains("proxy")).collect::<Vec<_>>().join("\n"));
        None
    }));
    assert_eq!(via_proxy.trim(), "hello");
    assert_eq!(eventually("the DNAT rule", || curl(&ns, "http://10.123.0.1:8080/")).trim(), "hello");
    assert_eq!(eventually("the loopback binding", || curl(&ns, "http://127.0.0.1:8081/")).trim(), "hello");
    assert!(curl(&ns, "http://10.123.0.1:8081/").is_none(), "a port bound to 127.0.0.1 answers on another address");
    let proxies: Vec<i32> = std::fs::read_dir("/proc").unwrap().flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).filter(|p: &i32| comm(*p) == "docker-proxy" && proc_field(*p, "PPid").as_deref() == Some(&d.pid().to_string())).collect();
    assert!(proxies.len() >= 2, "docker-proxy children of dockerd: {proxies:?}");
    let port = run_ok(&d, &["port", &id, "80"]);
    assert!(port.lines().any(|l| l == "0.0.0.0:8080") && port.lines().any(|l| l == "127.0.0.1:8081"), "{port}");
    let ps = run_ok(&d, &["ps", "--format", "{{.Ports}}"]);
    assert!(ps.contains("0.0.0.0:8080->80/tcp") && ps.contains("127.0.0.1:8081->80/tcp"), "{ps}");
    let nat = rules(&ns);
    assert!(nat.contains("--dport 8080 -j DNAT --to-destination 10.123.0."), "{nat}");
    for cli in real_clis() {
        let port = ok(&d.real_docker(cli, &["port", &id]), &d);
        assert!(port.contains("80/tcp -> 0.0.0.0:8080"), "{cli}: {port}");
        let ps = ok(&d.real_docker(cli, &["ps"]), &d);
        assert!(ps.contains("0.0.0.0:8080->80/tcp"), "{cli}: {ps}");
    }
    run_ok(&d, &["rm", "-f", &id]);
    let nat = rules(&ns);
    assert!(!nat.contains("--dport 8080"), "rules outlived the container: {nat}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxies.iter().any(|p| alive(*p) && comm(*p) == "docker-proxy") {
        assert!(Instant::now() < deadline, "docker-proxy outlived the container");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(curl(&ns, "http://127.0.0.1:8080/").is_none());
}

#[test]
fn without_the_userland_proxy_loopback_is_dnated_and_with_iptables_off_the_proxy_does_all() {
    for (flags, name) in [(&["--userland-proxy=false"][..], "no proxy"), (&["--iptables=false"][..], "no iptables")] {
        let Some((d, ns)) = Dockerd::start_networked(flags, None) else { return };
        let id = web_server(&d, &["-p", "8080:80"], "hi");
        assert_eq!(eventually(name, || curl(&ns, "http://127.0.0.1:8080/")).trim(), "hi", "{name}");
        assert_eq!(eventually(name, || curl(&ns, "http://10.123.0.1:8080/")).trim(), "hi", "{name}");
        let save = rules(&ns);
        if name == "no iptables" {
            assert!(!save.contains("DOCKER"), "--iptables=false made rules: {save}");
        } else {
            assert!(!std::fs::read_dir("/proc").unwrap().flatten().filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok()).any(|p| comm(p) == "docker-proxy" && proc_field(p, "PPid").as_deref() == Some(&d.pid().to_string())), "a proxy with --userland-proxy=false");
        }
        run_ok(&d, &["rm", "-f", &id]);
    }
}

#[test]
fn a_port_taken_twice_is_refused_and_leaves_nothing() {
    let Some((d, ns)) = Dockerd::start_networked(&[], None) else { return };
    let first = web_server(&d, &["-p", "8090:80"], "first");
    let veths = links(&ns).len();
    let image = d.registry.image("busybox");
    let out = d.docker(&["run", "-d", "--name", "second", "-p", "8090:80", &image, "sleep", "60"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("port is already allocated"), "{}", stderr(&out));
    assert_eq!(links(&ns).len(), veths, "the failed start left a link");
    let state: Value = serde_json::from_str(&run_ok(&d, &["inspect", "second"])).unwrap();
    assert_eq!(state[0]["State"]["Running"], false);
    assert!(state[0]["NetworkSettings"]["SandboxKey"].as_str().unwrap().is_empty());
    assert_eq!(eventually("the first server", || curl(&ns, "http://127.0.0.1:8090/")).trim(), "first");
    // A port some other program holds: the proxy's bind error.
    let holder = ns.command("busybox").args(["nc", "-l", "-p", "8091"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let out = d.docker(&["run", "-d", "-p", "8091:80", &image, "sleep", "60"]);
    let mut holder = holder;
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("address already in use"), "{}", stderr(&out));
    run_ok(&d, &["rm", "-f", &first]);
}

/// A static UDP echo server (busybox's nc here has no UDP), built with gcc for the test.
fn udp_echo_binary(dir: &TempDir) -> std::path::PathBuf {
    let src = dir.join("udpecho.c");
    std::fs::write(
        &src,
        "#include <netinet/in.h>\n#include <sys/socket.h>\n#include <string.h>\nint main(void) {\n  int s = socket(AF_INET, SOCK_DGRAM, 0);\n  struct sockaddr_in a; memset(&a, 0, sizeof a); a.sin_family = AF_INET; a.sin_port = htons(53);\n  if (bind(s, (struct sockaddr *)&a, sizeof a)) return 1;\n  for (;;) {\n    char buf[512]; struct sockaddr_in from; socklen_t len = sizeof from;\n    ssize_t n = recvfrom(s, buf + 5, sizeof buf - 5, 0, (struct sockaddr *)&from, &len);\n    if (n < 0) return 1;\n    memcpy(buf, \"pong:\", 5);\n    sendto(s, buf, n + 5, 0, (struct sockaddr *)&from, len);\n  }\n}\n",
    )
    .unwrap();
    let bin = dir.join("udpecho");
    let out = std::process::Command::new("gcc").args(["-static", "-O2", "-o"]).arg(&bin).arg(&src).output().expect("gcc is needed");
    assert!(out.status.success(), "gcc: {}", stderr(&out));
    bin
}

/// Sends `payload` over UDP to `addr` from inside `ns`; the reply, if one comes.
fn udp_exchange(ns: &NetNs, addr: &str, payload: &[u8]) -> Option<Vec<u8>> {
    let fd = ns.handle();
    let addr = addr.to_string();
    let payload = payload.to_vec();
    std::thread::spawn(move || {
        nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let sock = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        sock.send_to(&payload, &addr).ok()?;
        let mut buf = [0u8; 600];
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        Some(buf[..n].to_vec())
    })
    .join()
    .unwrap()
}

#[test]
fn udp_through_a_published_port() {
    let Some((d, ns)) = Dockerd::start_networked(&[], None) else { return };
    let tools = TempDir::new("udp");
    let echo = udp_echo_binary(&tools);
    let image = d.registry.image("busybox");
    let id = run_ok(&d, &["run", "-d", "-p", "5353:53/udp", "-v", &format!("{}:/udpecho:ro", echo.display()), &image, "/udpecho"]);
    // Loopback (the proxy) and the bridge's address (DNAT).
    for addr in ["127.0.0.1:5353", "10.123.0.1:5353"] {
        let reply = eventually(addr, || udp_exchange(&ns, addr, b"ping"));
        assert_eq!(reply, b"pong:ping", "{addr}");
    }
    let ports = run_ok(&d, &["port", &id, "53/udp"]);
    assert!(ports.lines().any(|l| l == "0.0.0.0:5353"), "{ports}");
    run_ok(&d, &["rm", "-f", &id]);
    assert!(udp_exchange(&ns, "127.0.0.1:5353", b"ping").is_none());
}

#[test]
fn user_networks_resolve_names_and_aliases_and_stay_apart() {
    let Some((d, ns)) = Dockerd::start_networked(&[], None) else { return };
    let image = d.registry.image("busybox");
    run_ok(&d, &["network", "create", "--subnet", "10.124.0.0/24", "front"]);
    run_ok(&d, &["network", "create", "back"]);
    let web = web_server(&d, &["--network", "front", "--name", "web", "--network-alias", "www"], "named");
    let web_ip = run_ok(&d, &["inspect", "-f", "{{.NetworkSettings.Networks.front.IPAddress}}", &web]);
    assert!(web_ip.starts_with("10.124.0."), "{web_ip}");
    let resolv = run_ok(&d, &["run", "--rm", "--network", "front", &image, "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
    for name in ["web", "www", &web[..12]] {
        let got = eventually(name, || {
            let out = d.docker(&["run", "--rm", "--network", "front", &image, "sh", "-c", &fetch(name)]);
            let text = stdout(&out);
            text.contains("named").then_some(text)
        });
        assert!(got.starts_with("HTTP/1.") && got.trim_end().ends_with("named"), "{name}: {got}");
    }
    let lookup = run_ok(&d, &["run", "--rm", "--network", "front", &image, "nslookup", "web"]);
    // A link on a user network is an alias its container alone resolves.
    let linked = run_ok(&d, &["run", "--rm", "--network", "front", "--link", "web:site", &image, "nslookup", "site"]);
    assert!(linked.contains(&web_ip), "{linked}");
    let unlinked = d.docker(&["run", "--rm", "--network", "front", &image, "nslookup", "site"]);
    assert!(!stdout(&unlinked).contains(&web_ip), "{}", stdout(&unlinked));
    assert!(lookup.contains(&web_ip), "{lookup}");
    // Another network neither resolves nor reaches it.
    let out = d.docker(&["run", "--rm", "--network", "back", &image, "nslookup", "web"]);
    assert!(!stdout(&out).contains(&web_ip), "{}", stdout(&out));
    let out = d.docker(&["run", "--rm", "--network", "back", &image, "sh", "-c", &format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {web_ip} 80")]);
    assert!(!stdout(&out).contains("named"), "a container on another network reached web");
    // Nor does the default bridge have names.
    let out = d.docker(&["run", "--rm", &image, "nslookup", "web"]);
    assert!(!stdout(&out).contains(&web_ip));
    // A network in use cannot go; once empty it can.
    let out = d.docker(&["network", "rm", "front"]);
    assert!(!out.status.success() && stderr(&out).contains("has active endpoints"), "{}", stderr(&out));
    run_ok(&d, &["rm", "-f", &web]);
    run_ok(&d, &["network", "rm", "front", "back"]);
    let left = links(&ns);
    assert!(!left.iter().any(|l| l.starts_with("br-") || l.starts_with("veth")), "{left:?}");
}

#[test]
fn names_not_ours_go_to_the_hosts_resolver() {
    if !require_root() {
        return;
    }
    let Some((d, ns)) = Dockerd::start_networked(&[], Some("nameserver 127.0.0.1\n")) else { return };
    let mut resolver = ns
        .command("dnsmasq")
        .args(["--no-daemon", "--no-resolv", "--no-hosts", "--listen-address=127.0.0.1", "--bind-interfaces", "--port=53", "--address=/outside.test/10.9.9.9"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("dnsmasq (dnsmasq-base) is needed");
    run_ok(&d, &["network", "create", "front"]);
    let image = d.registry.image("busybox");
    let got = eventually("a forwarded answer", || {
        let out = d.docker(&["run", "--rm", "--network", "front", &image, "nslookup", "outside.test"]);
        let text = stdout(&out);
        text.contains("10.9.9.9").then_some(text)
    });
    assert!(got.contains("10.9.9.9"));
    let _ = resolver.kill();
    let _ = resolver.wait();
}

#[test]
fn an_internal_network_has_no_way_out_and_egress_is_masqueraded() {
    let Some((d, ns)) = Dockerd::start_networked(&[], None) else { return };
    // A "far" host: a namespace of the test's own, one veth away from the daemon's.
    let far = NetNs::new();
    ns.ip(&["link", "add", "dbxfar0", "type", "veth", "peer", "name", "dbxfar1"]);
    let far_fd = far.handle();
    let far_path = format!("/proc/{}/fd/{}", std::process::id(), std::os::fd::AsRawFd::as_raw_fd(&far_fd));
    let out = ns.command("ip").args(["link", "set", "dbxfar1", "netns"]).arg(&far_path).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    ns.ip(&["addr", "add", "10.125.0.1/24", "dev", "dbxfar0"]);
    ns.ip(&["link", "set", "dbxfar0", "up"]);
    far.ip(&["addr", "add", "10.125.0.2/24", "dev", "dbxfar1"]);
    far.ip(&["link", "set", "dbxfar1", "up"]);
    let image = d.registry.image("busybox");
    // The far side listens; while the container's connection is open, the far side's
    // /proc/net/tcp shows the peer address it sees.
    let mut server = far.command("busybox").args(["nc", "-l", "-p", "7000"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let sender = std::thread::spawn({
        let host = d.host();
        let image = image.clone();
        move || std::process::Command::new(applet_dir().join("docker")).args(["-H", &host, "run", "--rm", &image, "sh", "-c", "(echo out; sleep 2) | nc -w 3 10.125.0.2 7000"]).output().unwrap()
    });
    // While the connection is open, the far side's socket shows the peer it sees.
    let peer = eventually("the far side's connection", || {
        // busybox's nc listens on IPv6 (dual stack): the peer is then a v4-mapped address.
        let out = far.command("cat").args(["/proc/net/tcp", "/proc/net/tcp6"]).output().unwrap();
        stdout(&out).lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1).is_some_and(|l| l.ends_with(":1B58")) && f.get(3) != Some(&"0A")).then(|| f[2].to_string())
        })
    });
    let hex = peer.split(':').next().unwrap();
    let n = u32::from_str_radix(&hex[hex.len() - 8..], 16).unwrap();
    let seen = std::net::Ipv4Addr::from(n.to_le_bytes());
    assert_eq!(seen.to_string(), "10.125.0.1", "the far side should see the host's address (MASQUERADE)");
    assert!(sender.join().unwrap().status.success());
    let _ = server.kill();
    let _ = server.wait();
    // An internal network has no default route and reaches nothing outside.
    run_ok(&d, &["network", "create", "--internal", "sealed"]);
    let routes = run_ok(&d, &["run", "--rm", "--network", "sealed", &image, "ip", "route"]);
    assert!(!routes.contains("default"), "{routes}");
    let out = d.docker(&["run", "--rm", "--network", "sealed", &image, "nc", "-w", "2", "10.125.0.2", "7000"]);
    assert!(!out.status.success());
}

#[test]
fn connect_and_disconnect_a_running_container() {
    let Some((d, _ns)) = Dockerd::start_networked(&[], None) else { return };
    let image = d.registry.image("busybox");
    run_ok(&d, &["network", "create", "--subnet", "10.126.0.0/24", "extra"]);
    let id = run_ok(&d, &["run", "-d", "--name", "roamer", &image, "sleep", "60"]);
    run_ok(&d, &["network", "connect", "--ip", "10.126.0.50", "--alias", "rover", "extra", "roamer"]);
    let addrs = run_ok(&d, &["exec", &id, "ip", "-o", "-4", "addr"]);
    assert!(addrs.contains("eth1") && addrs.contains("10.126.0.50/24"), "{addrs}");
    let inspect: Value = serde_json::from_str(&run_ok(&d, &["network", "inspect", "extra"])).unwrap();
    assert!(inspect[0]["Containers"][&id]["IPv4Address"].as_str().unwrap().starts_with("10.126.0.50"), "{inspect}");
    let found = run_ok(&d, &["run", "--rm", "--network", "extra", &image, "nslookup", "rover"]);
    assert!(found.contains("10.126.0.50"), "{found}");
    let out = d.docker(&["network", "connect", "extra", "roamer"]);
    assert!(!out.status.success() && stderr(&out).contains("already exists"), "{}", stderr(&out));
    // An IPv6 address on a network without IPv6 is refused, not dropped.
    let out = d.docker(&["run", "--rm", "--network", "extra", "--ip6", "fd00:db8::5", &image, "true"]);
    assert!(!out.status.success() && stderr(&out).contains("IPv6 disabled"), "{}", stderr(&out));
    run_ok(&d, &["network", "disconnect", "extra", "roamer"]);
    let addrs = run_ok(&d, &["exec", &id, "ip", "-o", "-4", "addr"]);
    assert!(!addrs.contains("eth1"), "{addrs}");
    for cli in real_clis() {
        ok(&d.real_docker(cli, &["network", "connect", "extra", "roamer"]), &d);
        ok(&d.real_docker(cli, &["network", "disconnect", "extra", "roamer"]), &d);
    }
    run_ok(&d, &["network", "rm", "extra"]);
}

#[test]
fn legacy_links_give_hosts_lines_and_environment() {
    let Some((d, _ns)) = Dockerd::start_networked(&[], None) else { return };
    let image = d.registry.image("busybox");
    run_ok(&d, &["run", "-d", "--name", "db", "--expose", "5432", "-e", "SECRET=s3", &image, "sleep", "60"]);
    let db_ip = run_ok(&d, &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "db"]);
    let out = run_ok(&d, &["run", "--rm", "--link", "db:store", &image, "sh", "-c", "cat /etc/hosts; env"]);
    assert!(out.contains(&format!("{db_ip}\tstore")), "{out}");
    assert!(out.contains(&format!("STORE_PORT_5432_TCP=tcp://{db_ip}:5432")), "{out}");
    assert!(out.contains("STORE_ENV_SECRET=s3"), "{out}");
    let out = d.docker(&["run", "--rm", "--link", "nosuch:x", &image, "true"]);
    assert!(!out.status.success());
}

#[test]
fn a_killed_dockerd_comes_back_to_running_containers_networks() {
    let Some((mut d, ns)) = Dockerd::start_networked(&[], None) else { return };
    run_ok(&d, &["network", "create", "front"]);
    let web = web_server(&d, &["--network", "front", "--name", "web", "-p", "8085:80"], "still");
    assert_eq!(eventually("the server", || curl(&ns, "http://127.0.0.1:8085/")).trim(), "still");
    d.crash_and_restart();
    assert_eq!(eventually("the server after the crash", || curl(&ns, "http://127.0.0.1:8085/")).trim(), "still");
    let image = d.registry.image("busybox");
    let got = eventually("the name after the crash", || {
        let out = d.docker(&["run", "--rm", "--network", "front", &image, "sh", "-c", &fetch("web")]);
        let text = stdout(&out);
        text.contains("still").then_some(text)
    });
    assert!(got.trim_end().ends_with("still"), "{got}");
    // The address stays the container's: a new one gets another.
    let web_ip = run_ok(&d, &["inspect", "-f", "{{.NetworkSettings.Networks.front.IPAddress}}", &web]);
    let other = run_ok(&d, &["run", "--rm", "--network", "front", &image, "sh", "-c", "ip -o -4 addr show eth0"]);
    assert!(!other.contains(&format!("{web_ip}/")), "{other}");
    run_ok(&d, &["rm", "-f", &web]);
    let nat = rules(&ns);
    assert!(!nat.contains("--dport 8085"), "{nat}");
}

#[test]
fn docker_compose_brings_two_services_up_and_down() {
    let Some((d, ns)) = Dockerd::start_networked(&[], None) else { return };
    if std::process::Command::new("docker-compose").arg("version").output().is_err() {
        assert!(std::env::var("CI").is_err(), "docker-compose is missing (apt-get install docker-compose)");
        return;
    }
    let dir = TempDir::new("compose");
    let image = d.registry.image("busybox");
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            "version: '3'\nservices:\n  web:\n    image: {image}\n    command: sh -c 'mkdir -p /www && echo composed > /www/index.html && exec httpd -f -p 80 -h /www'\n    ports:\n      - '8088:80'\n  client:\n    image: {image}\n    command: sh /fetch.sh\n    volumes:\n      - ./fetch.sh:/fetch.sh:ro\n    depends_on:\n      - web\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("fetch.sh"), format!("while true; do {}; sleep 1; done\n", fetch("web"))).unwrap();
    let compose = |args: &[&str]| {
        std::process::Command::new("docker-compose").args(["-p", "dbxc"]).args(args).current_dir(dir.path()).env("DOCKER_HOST", d.host()).output().unwrap()
    };
    ok(&compose(&["up", "-d"]), &d);
    let ps = ok(&compose(&["ps"]), &d);
    assert!(ps.contains("dbxc_web_1") && ps.contains("Up"), "{ps}");
    assert_eq!(eventually("the published port", || curl(&ns, "http://127.0.0.1:8088/")).trim(), "composed");
    let logs = eventually("the client reaching web by name", || {
        let text = stdout(&compose(&["logs", "client"]));
        text.contains("composed").then_some(text)
    });
    assert!(logs.contains("composed"));
    ok(&compose(&["down", "-v"]), &d);
    let nets = run_ok(&d, &["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.contains("dbxc"), "{nets}");
    assert!(run_ok(&d, &["ps", "-aq"]).is_empty());
}

#[test]
fn publish_all_takes_ephemeral_ports_and_ranges_map_one_to_one() {
    let Some((d, ns)) = Dockerd::start_networked(&[], None) else { return };
    let id = web_server(&d, &["-P", "--expose", "80", "--expose", "81", "-p", "127.0.0.1:9100-9101:90-91"], "all");
    let ports: Value = serde_json::from_str(&run_ok(&d, &["inspect", "-f", "{{json .NetworkSettings.Ports}}", &id])).unwrap();
    let host_port = ports["80/tcp"][0]["HostPort"].as_str().unwrap().parse::<u16>().unwrap();
    let (low, high) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").map(|r| {
        let v: Vec<u16> = r.split_whitespace().map(|x| x.parse().unwrap()).collect();
        (v[0], v[1])
    }).unwrap();
    assert!((low..=high).contains(&host_port) || (49153..=65535).contains(&host_port), "{ports}");
    assert_ne!(ports["81/tcp"][0]["HostPort"], ports["80/tcp"][0]["HostPort"], "{ports}");
    assert_eq!(ports["90/tcp"][0]["HostPort"], "9100", "{ports}");
    assert_eq!(ports["91/tcp"][0]["HostPort"], "9101", "{ports}");
    assert_eq!(eventually("the ephemeral port", || curl(&ns, &format!("http://127.0.0.1:{host_port}/"))).trim(), "all");
    run_ok(&d, &["rm", "-f", &id]);
}

#[test]
fn a_bridge_name_taken_by_another_link_is_refused_and_leaves_nothing() {
    let Some((d, ns)) = Dockerd::start_networked(&[], None) else { return };
    ns.ip(&["link", "add", "dbxdummy", "type", "veth", "peer", "name", "dbxdummy1"]);
    let out = d.docker(&["network", "create", "-o", "com.docker.network.bridge.name=dbxdummy", "clash"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("dbxdummy") && stderr(&out).contains("not a bridge"), "{}", stderr(&out));
    let nets = run_ok(&d, &["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.lines().any(|n| n == "clash"), "{nets}");
    // An overlapping subnet is refused too, and nothing of it stays.
    run_ok(&d, &["network", "create", "--subnet", "10.127.0.0/24", "first"]);
    let out = d.docker(&["network", "create", "--subnet", "10.127.0.128/25", "second"]);
    assert!(stderr(&out).contains("Pool overlaps with other one on this address space"), "{}", stderr(&out));
    let after = links(&ns);
    assert_eq!(after.iter().filter(|l| l.starts_with("br-")).count(), 1, "{after:?}");
    run_ok(&d, &["network", "rm", "first"]);
}

#[test]
fn icc_off_keeps_containers_on_the_default_bridge_apart() {
    for (flags, apart) in [(&[][..], false), (&["--icc=false"][..], true)] {
        let Some((d, _ns)) = Dockerd::start_networked(flags, None) else { return };
        let web = web_server(&d, &[], "icc");
        let ip = run_ok(&d, &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &web]);
        let image = d.registry.image("busybox");
        let script = format!("sleep 0.5; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} 80");
        let out = d.docker(&["run", "--rm", &image, "sh", "-c", &script]);
        assert_eq!(!stdout(&out).contains("icc"), apart, "{flags:?}: {}{}", stdout(&out), stderr(&out));
        // The host (the bridge's address) still reaches it.
        let out = d.docker(&["run", "--rm", &image, "ping", "-c", "1", "-W", "2", "10.123.0.1"]);
        assert!(out.status.success(), "{flags:?}");
        run_ok(&d, &["rm", "-f", &web]);
    }
}

#[test]
fn a_failing_iptables_fails_the_start_and_leaves_nothing() {
    if !require_root() {
        return;
    }
    // An iptables that refuses DNAT rules, first in dockerd's PATH.
    let tools = TempDir::new("iptables");
    let real = ["/usr/sbin/iptables", "/sbin/iptables"].into_iter().find(|p| std::path::Path::new(p).exists()).expect("iptables is needed");
    let wrapper = tools.join("iptables");
    std::fs::write(&wrapper, format!("#!/bin/sh\ncase \"$*\" in *DNAT*) echo 'iptables: simulated failure' >&2; exit 4;; esac\nexec {real} \"$@\"\n")).unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", tools.path().display(), std::env::var("PATH").unwrap_or_default());
    let Some((d, ns)) = Dockerd::start_networked_env(&[], None, &[("PATH", &path)]) else { return };
    let before = links(&ns);
    let image = d.registry.image("busybox");
    let out = d.docker(&["run", "-d", "--name", "walled", "-p", "8095:80", &image, "sleep", "60"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("simulated failure") && stderr(&out).contains("driver failed programming external connectivity"), "{}", stderr(&out));
    assert_eq!(links(&ns), before, "a veth outlived the failed start");
    assert!(!rules(&ns).contains("--dport 8095"), "{}", rules(&ns));
    assert!(curl(&ns, "http://127.0.0.1:8095/").is_none(), "a proxy outlived the failed start");
    assert_eq!(run_ok(&d, &["inspect", "-f", "{{.State.Running}}", "walled"]), "false");
}

#[test]
fn an_ipv6_network_gives_containers_both_addresses() {
    let Some((d, ns)) = Dockerd::start_networked(&[], None) else { return };
    run_ok(&d, &["network", "create", "--ipv6", "--subnet", "10.129.0.0/24", "--subnet", "fd00:db8:129::/64", "dual"]);
    let web = web_server(&d, &["--network", "dual", "--name", "web6", "-p", "8096:80"], "six");
    let inspect: Value = serde_json::from_str(&run_ok(&d, &["inspect", &web])).unwrap();
    let ep = &inspect[0]["NetworkSettings"]["Networks"]["dual"];
    let v6 = ep["GlobalIPv6Address"].as_str().unwrap().to_string();
    assert!(v6.starts_with("fd00:db8:129::"), "{ep}");
    assert_eq!(ep["GlobalIPv6PrefixLen"], 64, "{ep}");
    assert_eq!(ep["IPv6Gateway"], "fd00:db8:129::1", "{ep}");
    let image = d.registry.image("busybox");
    let addrs = run_ok(&d, &["run", "--rm", "--network", "dual", &image, "sh", "-c", "ip -6 addr show eth0; ip -6 route"]);
    assert!(addrs.contains("fd00:db8:129::") && addrs.contains("default via fd00:db8:129::1"), "{addrs}");
    let out = d.docker(&["run", "--rm", "--network", "dual", &image, "sh", "-c", &format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {v6} 80")]);
    assert!(stdout(&out).contains("six"), "{}{}", stdout(&out), stderr(&out));
    // The embedded DNS server answers AAAA with it.
    let lookup = run_ok(&d, &["run", "--rm", "--network", "dual", &image, "nslookup", "-type=aaaa", "web6"]);
    assert!(lookup.contains(&v6), "{lookup}");
    // Its published port: [::] is DNATed by ip6tables to its IPv6 address (the bridge's v6
    // address is local), and loopback goes through the proxy, to that address too.
    assert_eq!(eventually("v6 DNAT", || curl(&ns, "http://[fd00:db8:129::1]:8096/")).trim(), "six");
    assert_eq!(eventually("v6 proxy", || curl(&ns, "http://[::1]:8096/")).trim(), "six");
    let v6rules = in_ns(&ns, "ip6tables-save", &[]);
    assert!(v6rules.contains(&format!("--to-destination [{v6}]:80")), "{v6rules}");
    // Its subnet leaves through ip6tables' MASQUERADE, as the IPv4 one through iptables'.
    let v6rules = in_ns(&ns, "ip6tables-save", &[]);
    assert!(v6rules.contains("-s fd00:db8:129::/64") && v6rules.contains("MASQUERADE"), "{v6rules}");
    run_ok(&d, &["rm", "-f", &web]);
    run_ok(&d, &["network", "rm", "dual"]);
    assert!(!in_ns(&ns, "ip6tables-save", &[]).contains("fd00:db8:129::/64"));
}

/// dockerd run in a mount namespace where /usr/sbin (iptables' home) is an empty tmpfs and
/// `PATH` has no iptables either, on roots under `tmp`, with `extra` flags.
fn dockerd_without_iptables(tmp: &TempDir, extra: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--net", "--mount", "--propagation", "private", "sh", "-c", "mount -t tmpfs none /usr/sbin && PATH=/usr/bin exec \"$@\"", "sh"])
        .arg(applet_dir().join("dockerd"))
        .args(["--data-root", &tmp.join("data").to_string_lossy(), "--exec-root", &tmp.join("exec").to_string_lossy()])
        .args(["--pidfile", &tmp.join("pid").to_string_lossy(), "-H", &format!("unix://{}", tmp.join("d.sock").display()), "--bridge=none"])
        .args(extra)
        .stdin(std::process::Stdio::null());
    cmd
}

/// The processes whose command line names `dir`.
fn processes_naming(dir: &std::path::Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc").unwrap().flatten().filter_map(|e| {
        let cmdline = std::fs::read_to_string(e.path().join("cmdline")).ok()?.replace('\0', " ");
        cmdline.contains(&dir).then_some(cmdline)
    }).collect()
}

#[test]
fn without_an_iptables_command_dockerd_stops_with_dockers_error_unless_iptables_is_off() {
    if !require_root() {
        return;
    }
    dockbox::sys::set_child_subreaper().unwrap();
    let tmp = TempDir::new("noiptables");
    // Its output goes to a file: a pipe would stay open as long as any child of it lives.
    let log = tmp.join("dockerd.log");
    let mut child = dockerd_without_iptables(&tmp, &[]).stdout(std::process::Stdio::null()).stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{stderr}");
    assert!(stderr.contains("failed to start daemon: Error initializing network controller: failed to create NAT chain DOCKER: iptables not found"), "{stderr}");
    // Nothing of it stays: containerd, if it was started, went with it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_naming(&tmp.0).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(processes_naming(&tmp.0), Vec::<String>::new());
    assert!(!tmp.join("pid").exists(), "the pid file of a failed start stays");
    reap_orphans(&tmp.0);

    // --iptables=false is what such a host runs with, and it serves.
    let tmp2 = TempDir::new("noiptables-off");
    let mut child = dockerd_without_iptables(&tmp2, &["--iptables=false"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let host = format!("unix://{}", tmp2.join("d.sock").display());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut up = false;
    while Instant::now() < deadline && !up {
        up = applet("docker").args(["-H", &host, "version"]).output().unwrap().status.success();
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM);
    let status = child.wait_with_output().unwrap();
    assert!(up, "dockerd --iptables=false did not serve: {}", String::from_utf8_lossy(&status.stderr));
    reap_orphans(&tmp2.0);
}


#[test]
fn with_ip6tables_off_an_ipv6_network_gets_no_ip6tables_rules_and_the_proxy_serves_its_ports() {
    let Some((d, ns)) = Dockerd::start_networked(&["--ip6tables=false"], None) else { return };
    run_ok(&d, &["network", "create", "--ipv6", "--subnet", "10.131.0.0/24", "--subnet", "fd00:db8:131::/64", "dual"]);
    let web = web_server(&d, &["--network", "dual", "--name", "web6", "-p", "8097:80"], "six");
    assert!(!in_ns(&ns, "ip6tables-save", &[]).contains("DOCKER"), "{}", in_ns(&ns, "ip6tables-save", &[]));
    assert!(rules(&ns).contains("--dport 8097"), "{}", rules(&ns));
    assert_eq!(eventually("v6 proxy", || curl(&ns, "http://[::1]:8097/")).trim(), "six");
    run_ok(&d, &["rm", "-f", &web]);
    run_ok(&d, &["network", "rm", "dual"]);
}
