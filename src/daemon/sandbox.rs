//! A container's network sandbox, as Docker's libnetwork calls it: its network namespace
//! (a file under `<exec-root>/netns/`), one endpoint per network it is on (a veth into the
//! network's bridge, an address from the network's IPAM), its published ports (iptables
//! DNAT and docker-proxy processes), and its names in the embedded DNS server. This module
//! drives the `network` services for the daemon; the networks themselves are
//! `daemon::networks`' records.

use super::net_options::NetworkOptions;
use super::net_settings::{Endpoint, PortBinding};
use crate::network::{bridge, dns, iptables, netns, portmap, proxy, IpNet};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

/// What an endpoint needs of its network.
#[derive(Clone, Debug)]
pub struct NetworkPlumbing {
    pub id: String,
    pub name: String,
    pub bridge: String,
    pub subnet: IpNet,
    pub gateway: IpAddr,
    pub subnet_v6: Option<IpNet>,
    pub gateway_v6: Option<IpAddr>,
    pub internal: bool,
    pub icc: bool,
    pub masquerade: bool,
    pub mtu: Option<u32>,
    /// User-defined networks have the embedded DNS server; the default bridge has not.
    pub user_defined: bool,
}

impl NetworkPlumbing {
    /// What the plumbing needs of a network record.
    pub fn of(n: &super::networks::Network) -> NetworkPlumbing {
        let config = |v6: bool| {
            n.ipam_config.iter().find_map(|c| {
                let subnet = c.subnet.parse::<crate::network::IpNet>().ok().filter(|s| s.addr.is_ipv6() == v6)?;
                let gateway = c.gateway.parse::<IpAddr>().ok().or_else(|| subnet.network().nth(1))?;
                Some((subnet.network(), gateway))
            })
        };
        let unspecified = (crate::network::IpNet { addr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), prefix: 32 }, IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let (subnet, gateway) = config(false).unwrap_or(unspecified);
        let v6 = config(true).filter(|_| n.enable_ipv6);
        let opt = |k: &str| n.options.get(k).map(String::as_str);
        NetworkPlumbing {
            id: n.id.clone(),
            name: n.name.clone(),
            bridge: n.bridge_name(),
            subnet,
            gateway,
            subnet_v6: v6.map(|v| v.0),
            gateway_v6: v6.map(|v| v.1),
            internal: n.internal,
            icc: opt(super::networks::OPT_ENABLE_ICC) != Some("false"),
            masquerade: opt(super::networks::OPT_ENABLE_IP_MASQUERADE) != Some("false"),
            mtu: opt(super::networks::OPT_MTU).and_then(|m| m.parse().ok()),
            user_defined: !n.is_predefined(),
        }
    }
}

/// A published port, as it was set up (to undo it exactly).
#[derive(Debug)]
struct Published {
    rule: Option<iptables::PortRule>,
    proto: iptables::Proto,
    host_ip: IpAddr,
    host_port: u16,
    proxy: Option<Child>,
}

/// The container's addresses its published ports lead to: an IPv6 host address to its IPv6
/// address when it has one (DNAT by ip6tables), else to its IPv4 one (the proxy).
#[derive(Clone, Copy, Debug)]
pub struct PortTarget {
    pub v4: IpAddr,
    pub v6: Option<IpAddr>,
}

impl PortTarget {
    fn for_host(&self, host_ip: &IpAddr) -> IpAddr {
        if host_ip.is_ipv6() { self.v6.unwrap_or(self.v4) } else { self.v4 }
    }
}

/// Where an endpoint goes in the container: its interface, addresses, and whether its
/// network is the default route.
pub struct Placement<'a> {
    pub ifname: &'a str,
    pub ip: IpAddr,
    pub ip6: Option<IpAddr>,
    pub default_route: bool,
}

/// One container's names on one network, for the DNS server.
#[derive(Clone, Debug)]
struct DnsEntry {
    container: String,
    network: String,
    network_name: String,
    names: Vec<String>,
    ips: Vec<IpAddr>,
    /// A link's alias (`--link NAME:ALIAS` on a user-defined network): the linked
    /// container's addresses under a name only `container` itself resolves.
    private: bool,
}

/// The names the embedded DNS server answers: each container sees those of the containers
/// on its own user-defined networks.
#[derive(Default)]
pub struct DnsTable {
    entries: RwLock<Vec<DnsEntry>>,
}

impl DnsTable {
    fn add(&self, e: DnsEntry) {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).push(e);
    }

    fn remove(&self, container: &str, network: Option<&str>) {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).retain(|e| e.container != container || network.is_some_and(|n| n != e.network));
    }

    fn has(&self, container: &str) -> bool {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).iter().any(|e| e.container == container)
    }
}

impl dns::Names for DnsTable {
    fn lookup(&self, scope: &str, name: &str) -> Option<Vec<IpAddr>> {
        let name = name.trim_end_matches('.');
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let networks: HashSet<&str> = entries.iter().filter(|e| e.container == scope).map(|e| e.network.as_str()).collect();
        let ips: Vec<IpAddr> = entries
            .iter()
            .filter(|e| networks.contains(e.network.as_str()) && (!e.private || e.container == scope))
            .filter(|e| e.names.iter().any(|n| n.eq_ignore_ascii_case(name) || format!("{n}.{}", e.network_name).eq_ignore_ascii_case(name)))
            .flat_map(|e| e.ips.iter().copied())
            .collect();
        (!ips.is_empty()).then_some(ips)
    }

    fn reverse(&self, scope: &str, ip: IpAddr) -> Option<String> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let networks: HashSet<&str> = entries.iter().filter(|e| e.container == scope).map(|e| e.network.as_str()).collect();
        entries.iter().find(|e| !e.private && networks.contains(e.network.as_str()) && e.ips.contains(&ip)).and_then(|e| Some(format!("{}.{}", e.names.first()?, e.network_name)))
    }
}

pub struct Networking {
    pub opts: NetworkOptions,
    netns_dir: PathBuf,
    pool: Arc<netns::Pool>,
    iptables: Option<iptables::Iptables>,
    /// ip6tables for IPv6 subnets (as Docker 27's `--ip6tables` default); None without
    /// `--iptables` or when the host's ip6tables does not work.
    ip6tables: Option<iptables::Iptables>,
    ports: portmap::PortAllocator,
    /// Container id → its published ports and their proxies.
    published: Mutex<HashMap<String, Vec<Published>>>,
    dns: OnceLock<Arc<dns::DnsServer>>,
    pub dns_table: Arc<DnsTable>,
    proxy_program: PathBuf,
}

/// The host's resolv.conf: `/etc/resolv.conf`, or the file `DOCKBOX_RESOLV_CONF` names (tests
/// give dockerd one whose resolver they run).
pub fn host_resolv_conf_path() -> PathBuf {
    std::env::var_os("DOCKBOX_RESOLV_CONF").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/etc/resolv.conf"))
}

impl Networking {
    pub fn new(opts: &NetworkOptions, exec_root: &Path, pool: Arc<netns::Pool>) -> Result<Networking, String> {
        let iptables = if opts.iptables { Some(iptables::Iptables::new(false)) } else { None };
        let ip6tables = match opts.ip6tables.then(|| iptables::Iptables::new(true)) {
            // What a dead daemon left in Docker's chains goes first (Docker's bridge driver
            // does the same at start); restore_networking adds back what still runs.
            Some(ipt6) => match ipt6.flush_chains().and_then(|()| ipt6.ensure_chains(opts.userland_proxy)) {
                Ok(()) => Some(ipt6),
                Err(e) => {
                    crate::log::warn(&format!("ip6tables: {e}; IPv6 subnets get no firewall rules"));
                    None
                }
            },
            None => None,
        };
        if let Some(ipt) = &iptables {
            // Docker's words: the first chain it makes fails first when the command is missing.
            if !ipt.available() {
                return Err("Error initializing network controller: failed to create NAT chain DOCKER: iptables not found".into());
            }
            ipt.flush_chains().and_then(|()| ipt.ensure_chains(opts.userland_proxy)).map_err(|e| format!("Error initializing network controller: {e}"))?;
        }
        if opts.ip_forward && opts.bridge.as_deref() != Some("none") {
            netns::set_sysctl("/proc/sys/net/ipv4/ip_forward", "1").map_err(|e| format!("enabling IP forwarding: {e}"))?;
        }
        let netns_dir = exec_root.join("netns");
        std::fs::create_dir_all(&netns_dir).map_err(|e| format!("{}: {e}", netns_dir.display()))?;
        let proxy_program = opts.userland_proxy_path.clone().unwrap_or_else(proxy::default_program);
        Ok(Networking {
            opts: opts.clone(),
            netns_dir,
            pool,
            iptables,
            ip6tables,
            ports: portmap::PortAllocator::new(),
            published: Mutex::default(),
            dns: OnceLock::new(),
            dns_table: Arc::default(),
            proxy_program,
        })
    }

    /// The embedded DNS server, started with the first container that needs it.
    fn dns(&self) -> Result<&Arc<dns::DnsServer>, String> {
        if let Some(d) = self.dns.get() {
            return Ok(d);
        }
        let text = std::fs::read_to_string(host_resolv_conf_path()).unwrap_or_default();
        let server = dns::DnsServer::start(dns::upstreams_from_resolv_conf(&text), self.dns_table.clone()).map_err(|e| format!("starting the embedded DNS server: {e}"))?;
        Ok(self.dns.get_or_init(|| server))
    }

    /// Sets a network's bridge and firewall rules up (at create, and again at daemon start).
    pub fn set_up_network(&self, n: &NetworkPlumbing, make_bridge: bool) -> Result<(), String> {
        if make_bridge {
            let mut addrs = vec![IpNet { addr: n.gateway, prefix: n.subnet.prefix }];
            if let (Some(gw), Some(net)) = (n.gateway_v6, n.subnet_v6) {
                addrs.push(IpNet { addr: gw, prefix: net.prefix });
            }
            bridge::ensure_bridge(&n.bridge, &addrs, n.mtu).map_err(|e| format!("failed to create the bridge {}: {e}", n.bridge))?;
        }
        if let Some(ipt) = &self.iptables {
            ipt.add_network(&self.network_rules(n))?;
            // As Docker's: bridged traffic goes through iptables too, so that the ICC rules
            // (and `--icc=false`'s DROP) see containers talking on one bridge.
            if let Err(e) = netns::set_sysctl("/proc/sys/net/bridge/bridge-nf-call-iptables", "1") {
                crate::log::warn(&format!("bridge-nf-call-iptables (br_netfilter): {e}; containers on one bridge are not filtered"));
            }
        }
        if let (Some(ipt6), Some(rules6)) = (&self.ip6tables, self.network_rules_v6(n)) {
            ipt6.add_network(&rules6)?;
        }
        if !self.opts.userland_proxy {
            // Loopback traffic to a published port is DNATed to the bridge.
            let _ = netns::set_sysctl(&format!("/proc/sys/net/ipv4/conf/{}/route_localnet", n.bridge), "1");
        }
        Ok(())
    }

    /// Undoes `set_up_network` (network removal).
    pub fn tear_down_network(&self, n: &NetworkPlumbing, remove_bridge: bool) -> Result<(), String> {
        if let Some(ipt) = &self.iptables {
            ipt.remove_network(&self.network_rules(n))?;
        }
        if let (Some(ipt6), Some(rules6)) = (&self.ip6tables, self.network_rules_v6(n)) {
            ipt6.remove_network(&rules6)?;
        }
        if remove_bridge {
            bridge::remove_bridge(&n.bridge).map_err(|e| format!("removing the bridge {}: {e}", n.bridge))?;
        }
        Ok(())
    }

    fn network_rules(&self, n: &NetworkPlumbing) -> iptables::NetworkRules {
        iptables::NetworkRules {
            bridge: n.bridge.clone(),
            subnet: n.subnet.network(),
            masquerade: n.masquerade && self.opts.ip_masq,
            icc: n.icc,
            internal: n.internal,
            hairpin: !self.opts.userland_proxy,
        }
    }

    /// The same rules for the network's IPv6 subnet, if it has one.
    fn network_rules_v6(&self, n: &NetworkPlumbing) -> Option<iptables::NetworkRules> {
        Some(iptables::NetworkRules { subnet: n.subnet_v6?.network(), ..self.network_rules(n) })
    }

    /// A network namespace for a container, kept as a file; returns the file and an open
    /// descriptor of it.
    pub fn new_sandbox(&self, sandbox_id: &str) -> Result<(PathBuf, OwnedFd), String> {
        let ns = self.pool.take().map_err(|e| format!("making a network namespace: {e}"))?;
        let key = self.netns_dir.join(&sandbox_id[..12.min(sandbox_id.len())]);
        ns.bind(&key).map_err(|e| format!("keeping the network namespace at {}: {e}", key.display()))?;
        let fd = netns::open(&key).map_err(|e| format!("opening {}: {e}", key.display()));
        match fd {
            Ok(fd) => Ok((key, fd)),
            Err(e) => {
                let _ = netns::unbind(&key);
                Err(e)
            }
        }
    }

    /// Connects the namespace `ns` to network `n` as `ifname`; fills `ep` with what it got.
    /// `ip`/`ip6` are the addresses IPAM gave.
    /// `default_route`: the container's default route goes through this network (its first).
    pub fn attach(&self, ns: &OwnedFd, n: &NetworkPlumbing, ep: &mut Endpoint, at: &Placement) -> Result<(), String> {
        let (ifname, ip, ip6, default_route) = (at.ifname, at.ip, at.ip6, at.default_route);
        let mac = match parse_mac(&ep.mac_address) {
            Some(m) if ep.mac_requested => m,
            _ => match ip {
                IpAddr::V4(v4) => bridge::mac_from_ip(v4),
                IpAddr::V6(_) => bridge::random_mac(),
            },
        };
        let mut addrs = vec![IpNet { addr: ip, prefix: n.subnet.prefix }];
        let mut gateways = vec![];
        // `--default-gateway(-v6)`: the default bridge's containers route through another
        // address than the bridge's own.
        let default_bridge = !n.user_defined && n.name == "bridge";
        let routed = default_route && !n.internal;
        if routed {
            gateways.push(self.opts.default_gateway.filter(|_| default_bridge).unwrap_or(n.gateway));
        }
        if let (Some(ip6), Some(net6)) = (ip6, n.subnet_v6) {
            addrs.push(IpNet { addr: ip6, prefix: net6.prefix });
            if let (true, Some(gw6)) = (routed, n.gateway_v6) {
                gateways.push(self.opts.default_gateway_v6.filter(|_| default_bridge).unwrap_or(gw6));
            }
        }
        let host_name = bridge::veth_name();
        let spec = bridge::VethSpec {
            bridge: n.bridge.clone(),
            host_name: host_name.clone(),
            ifname: ifname.to_string(),
            mac,
            addrs,
            gateways,
            mtu: n.mtu.or(Some(self.opts.mtu)),
            hairpin: !self.opts.userland_proxy,
        };
        bridge::attach(ns.as_fd(), &spec).map_err(|e| format!("failed to set up the container's network interface on {}: {e}", n.name))?;
        ep.network_id = n.id.clone();
        ep.endpoint_id = crate::ids::new_id();
        ep.gateway = if n.internal { String::new() } else { n.gateway.to_string() };
        ep.ip_address = ip.to_string();
        ep.ip_prefix_len = n.subnet.prefix;
        if let (Some(ip6), Some(net6)) = (ip6, n.subnet_v6) {
            ep.global_ipv6_address = ip6.to_string();
            ep.global_ipv6_prefix_len = net6.prefix;
            ep.ipv6_gateway = n.gateway_v6.map(|g| g.to_string()).unwrap_or_default();
        }
        ep.mac_address = bridge::format_mac(&mac);
        ep.interface = ifname.to_string();
        ep.host_interface = host_name;
        Ok(())
    }

    /// Takes the container's end off a network (its veth goes; the address is the caller's
    /// to release).
    pub fn detach(&self, ns: Option<&OwnedFd>, ep: &Endpoint) {
        if let (Some(ns), false) = (ns, ep.interface.is_empty()) {
            let _ = bridge::detach(ns.as_fd(), &ep.interface);
        }
        if !ep.host_interface.is_empty() {
            let _ = bridge::remove_link(&ep.host_interface);
        }
    }

    /// Registers the container's names on a user-defined network with the DNS server, and
    /// has it listen in the container's namespace.
    /// `upstreams`: the container's own `--dns` servers (None: the host's).
    pub fn register_names(&self, container: &str, ns: &OwnedFd, n: &NetworkPlumbing, names: Vec<String>, ips: Vec<IpAddr>, upstreams: Option<Vec<std::net::SocketAddr>>) -> Result<(), String> {
        if !n.user_defined {
            return Ok(());
        }
        let listening = self.dns_table.has(container);
        self.dns_table.add(DnsEntry { container: container.to_string(), network: n.id.clone(), network_name: n.name.clone(), names, ips, private: false });
        if !listening {
            let server = self.dns()?;
            server.listen_in(container, ns.as_fd()).map_err(|e| format!("starting the embedded DNS server in the container: {e}"))?;
            // A container only on internal networks has no way out: names not ours fail
            // rather than leak to the host's resolvers.
            let upstreams = if n.internal { Some(Vec::new()) } else { upstreams };
            if upstreams.is_some() {
                server.set_scope_upstreams(container, upstreams).map_err(|e| format!("setting the container's DNS servers: {e}"))?;
            }
        } else if !n.internal {
            // Another network gives it a way out after all.
            if let Some(server) = self.dns.get() {
                let _ = server.set_scope_upstreams(container, upstreams);
            }
        }
        Ok(())
    }

    /// Links on a user-defined network: `alias` resolves, for `container` only, to the linked
    /// container's addresses.
    pub fn register_link(&self, container: &str, n: &NetworkPlumbing, names: Vec<String>, ips: Vec<IpAddr>) {
        self.dns_table.add(DnsEntry { container: container.to_string(), network: n.id.clone(), network_name: n.name.clone(), names, ips, private: true });
    }

    /// Forgets a container's names (on one network, or on all) and, with none left, stops
    /// listening in its namespace.
    pub fn forget_names(&self, container: &str, network: Option<&str>) {
        self.dns_table.remove(container, network);
        if !self.dns_table.has(container) {
            if let Some(d) = self.dns.get() {
                d.forget(container);
            }
        }
    }

    /// Publishes the container's ports on the host: host ports taken, DNAT rules and proxies
    /// set up as the flags ask. All or nothing. Returns inspect's `Ports`.
    pub fn publish(&self, container: &str, ports: &[(String, Vec<PortBinding>)], target: &PortTarget, bridge_name: &str) -> Result<BTreeMap<String, Option<Vec<PortBinding>>>, String> {
        let mut done: Vec<Published> = Vec::new();
        let mut shown: BTreeMap<String, Option<Vec<PortBinding>>> = BTreeMap::new();
        let result = (|| -> Result<(), String> {
            for (port, bindings) in ports {
                let (number, proto_name) = port.split_once('/').unwrap_or((port, "tcp"));
                let proto: iptables::Proto = proto_name.parse().map_err(|e: String| e)?;
                let (first, last) = parse_range(number)?;
                if bindings.is_empty() {
                    for p in first..=last {
                        shown.insert(format!("{p}/{proto_name}"), None);
                    }
                    continue;
                }
                for b in bindings {
                    let host_ips: Vec<IpAddr> = if b.host_ip.is_empty() {
                        let mut v = vec![self.opts.ip];
                        // Docker's `[::]` binding of an IPv4 container is the userland proxy's.
                        if self.opts.ip.is_unspecified() && self.opts.ip.is_ipv4() && self.opts.userland_proxy && host_has_ipv6() {
                            v.push(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
                        }
                        v
                    } else {
                        vec![b.host_ip.trim_matches(|c| c == '[' || c == ']').parse().map_err(|_| format!("invalid host IP address: {}", b.host_ip))?]
                    };
                    let (host_first, host_last) = if b.host_port.is_empty() { (0, 0) } else { parse_range(&b.host_port)? };
                    for (i, cport) in (first..=last).enumerate() {
                        // One host port for the whole range: a range of host ports maps one to one
                        // when it is as long, else each container port takes one from it.
                        let (want, range_end) = match (host_first, host_last) {
                            (0, _) => (None, None),
                            (f, l) if l - f == last - first => (Some(f + i as u16), None),
                            (f, l) => (Some(f), Some(l)),
                        };
                        let mut chosen: Option<u16> = None;
                        for host_ip in &host_ips {
                            let hp = self.ports.request(proto, *host_ip, chosen.or(want), if chosen.is_some() { None } else { range_end })?;
                            chosen = Some(hp);
                            let index = done.len();
                            done.push(Published { rule: None, proto, host_ip: *host_ip, host_port: hp, proxy: None });
                            let container_ip = target.for_host(host_ip);
                            let same_family = host_ip.is_ipv4() == container_ip.is_ipv4();
                            if let (Some(ipt), true) = (self.table_for(host_ip), same_family) {
                                let rule = iptables::PortRule {
                                    proto,
                                    host_ip: Some(*host_ip).filter(|ip| !ip.is_unspecified()),
                                    host_port: hp,
                                    container_ip,
                                    container_port: cport,
                                    bridge: bridge_name.to_string(),
                                    hairpin: !self.opts.userland_proxy,
                                };
                                ipt.add_port(&rule)?;
                                done[index].rule = Some(rule);
                            }
                            if self.opts.userland_proxy || self.table_for(host_ip).is_none() || !same_family {
                                let mapping = proxy::Mapping { proto, host_ip: *host_ip, host_port: hp, container_ip, container_port: cport };
                                let child = proxy::start(&self.proxy_program, &mapping)?;
                                done[index].proxy = Some(child);
                            } else {
                                // No proxy holds the port: hold it ourselves? Docker binds it to
                                // keep others off; the allocator's check is what we do.
                                portmap::check_bindable(proto, *host_ip, hp)?;
                            }
                            shown.entry(format!("{cport}/{proto_name}")).or_insert_with(|| Some(Vec::new())).get_or_insert_with(Vec::new).push(PortBinding {
                                host_ip: host_ip.to_string(),
                                host_port: hp.to_string(),
                            });
                        }
                    }
                }
            }
            Ok(())
        })();
        match result {
            Ok(()) => {
                self.published.lock().unwrap_or_else(|e| e.into_inner()).insert(container.to_string(), done);
                Ok(shown)
            }
            Err(e) => {
                self.undo_published(done);
                Err(e)
            }
        }
    }

    fn undo_published(&self, done: Vec<Published>) {
        for mut p in done.into_iter().rev() {
            if let Some(child) = p.proxy.take() {
                let _ = proxy::stop(child);
            }
            if let (Some(ipt), Some(rule)) = (self.table_for(&p.host_ip), &p.rule) {
                let _ = ipt.remove_port(rule);
            }
            self.ports.release(p.proto, p.host_ip, p.host_port);
        }
    }

    /// Takes a container's published ports down (its proxies, rules and host ports). After a
    /// restart of dockerd, `ports` (what inspect showed) says what to remove.
    pub fn unpublish(&self, container: &str, ports: &BTreeMap<String, Option<Vec<PortBinding>>>, target: Option<&PortTarget>, bridge_name: &str) {
        let known = self.published.lock().unwrap_or_else(|e| e.into_inner()).remove(container);
        match known {
            Some(done) => self.undo_published(done),
            None => {
                // What a dead dockerd set up: its proxies died with it; the rules stayed.
                let Some(target) = target else { return };
                for (port, bindings) in ports {
                    let (number, proto_name) = port.split_once('/').unwrap_or((port, "tcp"));
                    let (Ok(proto), Ok(cport)) = (proto_name.parse::<iptables::Proto>(), number.parse::<u16>()) else { continue };
                    for b in bindings.iter().flatten() {
                        let (Ok(host_ip), Ok(hp)) = (b.host_ip.parse::<IpAddr>(), b.host_port.parse::<u16>()) else { continue };
                        let cip = target.for_host(&host_ip);
                        let Some(ipt) = self.table_for(&host_ip).filter(|_| host_ip.is_ipv4() == cip.is_ipv4()) else { continue };
                        let rule = iptables::PortRule { proto, host_ip: Some(host_ip).filter(|ip| !ip.is_unspecified()), host_port: hp, container_ip: cip, container_port: cport, bridge: bridge_name.to_string(), hairpin: !self.opts.userland_proxy };
                        let _ = ipt.remove_port(&rule);
                    }
                }
            }
        }
    }

    /// Unmounts a sandbox's namespace file.
    pub fn remove_sandbox(&self, key: &str) {
        if !key.is_empty() {
            if let Err(e) = netns::unbind(Path::new(key)) {
                crate::log::line(crate::log::Level::Warn, "removing a network namespace", &[("key", key), ("error", &e.to_string())]);
            }
        }
    }

    /// Namespace files no container claims (a crash between making and recording one).
    pub fn remove_unclaimed_sandboxes(&self, claimed: &HashSet<PathBuf>) {
        for entry in std::fs::read_dir(&self.netns_dir).into_iter().flatten().flatten() {
            if !claimed.contains(&entry.path()) {
                let _ = netns::unbind(&entry.path());
            }
        }
    }

    /// Sets a still-running container's published ports up again after a dockerd restart:
    /// the same host ports, rules added where missing, new proxies (the old ones died with
    /// the old dockerd).
    pub fn republish(&self, container: &str, ports: &BTreeMap<String, Option<Vec<PortBinding>>>, target: &PortTarget, bridge_name: &str) -> Result<(), String> {
        let wanted: Vec<(String, Vec<PortBinding>)> = ports.iter().filter_map(|(k, v)| Some((k.clone(), v.clone()?))).collect();
        self.publish(container, &wanted, target, bridge_name).map(|_| ())
    }

    /// The rules' table for a host address's family.
    fn table_for(&self, host_ip: &IpAddr) -> Option<&iptables::Iptables> {
        if host_ip.is_ipv4() { self.iptables.as_ref() } else { self.ip6tables.as_ref() }
    }
}

/// The default bridge's subnet and address, as Docker finds them: `--bip`; else the address
/// the bridge has (a bridge named with `-b` must exist and have one, as Docker's must); else
/// the first subnet of the pools that no interface of the host is on.
pub fn default_bridge_address(b: &super::net_options::DefaultBridge, pools: &[crate::network::ipam::AddressPool]) -> Result<IpNet, String> {
    if let Some(bip) = b.bip {
        return Ok(bip);
    }
    let mut nl = crate::network::netlink::Netlink::open().map_err(|e| format!("netlink: {e}"))?;
    let links = nl.links().map_err(|e| format!("listing interfaces: {e}"))?;
    let mut in_use = Vec::new();
    for link in &links {
        let addrs = nl.addrs(link.index).unwrap_or_default();
        if link.name == b.name {
            if let Some(v4) = addrs.iter().find(|a| a.addr.is_ipv4()) {
                return Ok(*v4);
            }
        }
        in_use.extend(addrs.into_iter().map(|a| a.network()));
    }
    if !b.managed {
        return Err(match links.iter().any(|l| l.name == b.name) {
            true => format!("bridge {} has no IPv4 address", b.name),
            false => format!("bridge device with non default name {} must be created manually", b.name),
        });
    }
    let subnet = crate::network::ipam::pick_subnet(pools, &in_use, false)?;
    let gateway = subnet.nth(1).ok_or("the default bridge's subnet has no addresses")?;
    Ok(IpNet { addr: gateway, prefix: subnet.prefix })
}

/// The network store, with the default bridge as the flags make it (made now when dockerd
/// manages it) and the bridge driver plugged in.
pub fn open_networks(opts: &NetworkOptions, dir: &Path, net: &Arc<Networking>) -> Result<super::networks::Networks, String> {
    let pools = opts.address_pools()?;
    let default = match opts.default_bridge()? {
        None => None,
        Some(b) => {
            let address = default_bridge_address(&b, &pools)?;
            let ipv6_subnet = b.fixed_cidr_v6;
            Some(super::networks::DefaultBridge {
                subnet: address.network(),
                gateway: address.addr,
                ip_range: b.fixed_cidr,
                bridge_name: b.name.clone(),
                mtu: opts.mtu,
                icc: opts.icc,
                ip_masquerade: opts.ip_masq,
                host_binding_ipv4: opts.ip,
                ipv6_subnet,
            })
        }
    };
    let networks = super::networks::Networks::open(dir, default.as_ref(), pools).map_err(|e| format!("network store: {e}"))?;
    networks.set_driver(Arc::new(BridgeDriver(net.clone())));
    Ok(networks)
}

/// The bridge driver as the network store sees it: a network's bridge and rules made at
/// create, taken down at removal.
struct BridgeDriver(Arc<Networking>);

impl super::networks::NetworkDriver for BridgeDriver {
    fn create(&self, n: &super::networks::Network) -> Result<(), String> {
        self.0.set_up_network(&NetworkPlumbing::of(n), true)
    }

    fn remove(&self, n: &super::networks::Network) -> Result<(), String> {
        self.0.tear_down_network(&NetworkPlumbing::of(n), true)
    }
}

fn parse_range(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("invalid port range: {s}");
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b): (u16, u16) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if b < a {
        return Err(bad());
    }
    Ok((a, b))
}

fn host_has_ipv6() -> bool {
    std::fs::read_to_string("/proc/net/if_inet6").is_ok_and(|t| !t.trim().is_empty())
}

pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return None;
        }
        mac[i] = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::dns::Names;

    #[test]
    fn names_are_seen_only_from_the_same_network() {
        let t = DnsTable::default();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        t.add(DnsEntry { container: "a".into(), network: "n1".into(), network_name: "front".into(), names: vec!["web".into(), "www".into()], ips: vec![ip("10.1.0.2")], private: false });
        t.add(DnsEntry { container: "b".into(), network: "n1".into(), network_name: "front".into(), names: vec!["db".into()], ips: vec![ip("10.1.0.3")], private: false });
        t.add(DnsEntry { container: "c".into(), network: "n2".into(), network_name: "back".into(), names: vec!["cache".into()], ips: vec![ip("10.2.0.2")], private: false });
        t.add(DnsEntry { container: "a".into(), network: "n1".into(), network_name: "front".into(), names: vec!["store".into()], ips: vec![ip("10.1.0.3")], private: true });
        assert_eq!(t.lookup("a", "db"), Some(vec![ip("10.1.0.3")]));
        assert_eq!(t.lookup("a", "DB."), Some(vec![ip("10.1.0.3")]));
        assert_eq!(t.lookup("b", "www.front"), Some(vec![ip("10.1.0.2")]));
        assert_eq!(t.lookup("a", "cache"), None, "another network's names stay hidden");
        assert_eq!(t.lookup("a", "store"), Some(vec![ip("10.1.0.3")]), "a link's alias, for its container");
        assert_eq!(t.lookup("b", "store"), None, "a link's alias is not the network's");
        assert_eq!(t.reverse("b", ip("10.1.0.2")), Some("web.front".into()));
        t.remove("b", None);
        assert_eq!(t.lookup("a", "db"), None);
        assert!(!t.has("b"));
    }

    #[test]
    fn macs_read_and_write_as_docker_shows_them() {
        assert_eq!(parse_mac("02:42:0a:7b:00:02"), Some([2, 0x42, 10, 123, 0, 2]));
        assert_eq!(bridge::format_mac(&[2, 0x42, 10, 123, 0, 2]), "02:42:0a:7b:00:02");
        assert_eq!(parse_mac("02:42:0a:7b:00"), None);
        assert_eq!(parse_range("8000-8010").unwrap(), (8000, 8010));
        assert!(parse_range("9-3").is_err());
    }
}
