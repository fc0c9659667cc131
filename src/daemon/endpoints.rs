//! Containers on networks: which networks a container asks for at create, its sandbox made at
//! start and undone at exit, `docker network connect`/`disconnect` of a running container,
//! and what a restarted dockerd sets up again for the containers that kept running. The
//! plumbing is `daemon::sandbox`'s; the networks are `daemon::networks`' records.

use super::container::Container;
use super::errors::ApiError;
use super::net_settings::{Endpoint, IpamConfig, NetworkSettings, PortBinding};
use super::networks::Network;
use super::sandbox::NetworkPlumbing;
use super::Daemon;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    let list: Vec<String> = v?.as_array()?.iter().filter_map(|x| x.as_str().map(String::from)).collect();
    (!list.is_empty()).then_some(list)
}

/// The network a mode names: `default` is the default bridge (or `none` without one).
fn mode_network(mode: &str, bridge_enabled: bool) -> &str {
    match mode {
        "" | "default" if bridge_enabled => "bridge",
        "" | "default" => "none",
        m => m,
    }
}

impl Daemon {
    /// Create: the networks the container will be on, with what it asked of each.
    pub(super) fn plan_networks(&self, config: &Value, h: &Value, networking: &Value) -> Result<NetworkSettings, ApiError> {
        let mut settings = NetworkSettings::default();
        let mode = str_of(h, "NetworkMode");
        if mode.starts_with("container:") {
            return Ok(settings);
        }
        let primary = self.network_named(mode_network(mode, self.default_bridge_enabled()))?;
        let asked: BTreeMap<String, Value> = networking.get("EndpointsConfig").and_then(Value::as_object).map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
        let mut wanted: Vec<(Network, Value)> = vec![(primary.clone(), Value::Null)];
        for (name, endpoint) in asked {
            // The docker CLI keys the endpoint of `--network` by the mode itself (`default`).
            let n = self.network_named(mode_network(&name, self.default_bridge_enabled()))?;
            match wanted.iter_mut().find(|(w, _)| w.id == n.id) {
                Some(slot) => slot.1 = endpoint,
                None => wanted.push((n, endpoint)),
            }
        }
        let special = |n: &Network| matches!(n.driver.as_str(), "host" | "null");
        if wanted.len() > 1 && wanted.iter().any(|(n, _)| special(n)) {
            return Err(ApiError::bad_request("container cannot be connected to multiple networks with one of the networks in private (none) mode or host mode"));
        }
        if super::create_fields::publishes_ports(h) && primary.driver == "null" {
            return Err(ApiError::bad_request("conflicting options: port publishing and the network mode none"));
        }
        for link in strings(h.get("Links")).unwrap_or_default() {
            let name = link.split(':').next().unwrap_or_default().trim_start_matches('/');
            self.find(name).map_err(|_| ApiError::bad_request(format!("could not get container for {name}")))?;
        }
        for (i, (n, asked)) in wanted.iter().enumerate() {
            let mut ep = endpoint_request(asked);
            if i == 0 && ep.mac_address.is_empty() {
                ep.mac_address = str_of(config, "MacAddress").to_string();
            }
            ep.mac_requested = !ep.mac_address.is_empty();
            self.check_endpoint_request(n, &ep)?;
            ep.network_id = n.id.clone();
            settings.networks.insert(n.name.clone(), ep);
        }
        Ok(settings)
    }

    /// Docker's refusals of what only user-defined networks give.
    fn check_endpoint_request(&self, n: &Network, ep: &Endpoint) -> Result<(), ApiError> {
        let user_defined = !n.is_predefined();
        let ipam = ep.ipam_config.as_ref();
        if !user_defined && ipam.is_some_and(|c| !c.ipv4_address.is_empty() || !c.ipv6_address.is_empty()) {
            return Err(ApiError::bad_request("user specified IP address is supported on user defined networks only"));
        }
        if !n.enable_ipv6 && ipam.is_some_and(|c| !c.ipv6_address.is_empty()) {
            return Err(ApiError::bad_request(format!("invalid IPv6 address: network {} has IPv6 disabled", n.name)));
        }
        if !user_defined && ep.aliases.as_ref().is_some_and(|a| !a.is_empty()) {
            return Err(ApiError::bad_request("network-scoped alias is supported only for containers in user defined networks"));
        }
        if matches!(n.driver.as_str(), "host" | "null") && ep.mac_requested {
            return Err(ApiError::bad_request("conflicting options: mac-address and the network mode"));
        }
        Ok(())
    }

    fn network_named(&self, name: &str) -> Result<Network, ApiError> {
        self.networks.get(name)
    }

    /// What `host-gateway` in `--add-host` stands for: dockerd's `--host-gateway-ip`, else
    /// the default bridge's address, as Docker's.
    pub(super) fn host_gateway_ip(&self) -> Option<IpAddr> {
        self.opts.host_gateway_ip.or_else(|| Some(NetworkPlumbing::of(&self.networks.get("bridge").ok()?).gateway))
    }

    /// Whether the container's resolver is the embedded DNS server (it is on a user-defined
    /// network).
    pub(super) fn uses_embedded_dns(&self, c: &Container) -> bool {
        c.network_settings.networks.values().any(|e| self.networks.get(&e.network_id).is_ok_and(|n| !n.is_predefined() && n.driver == "bridge"))
    }

    pub(super) fn default_bridge_enabled(&self) -> bool {
        self.networks.get("bridge").is_ok()
    }

    /// The container's networks, its primary (eth0) first.
    fn ordered_networks(c: &Container) -> Vec<String> {
        let mode = str_of(&c.host_config, "NetworkMode");
        let mut names: Vec<String> = c.network_settings.networks.keys().cloned().collect();
        names.sort_by_key(|n| (n != mode && !(mode_is_default(mode) && (n == "bridge" || n == "none")), n.clone()));
        names
    }

    /// Start: the container's network namespace as a file, an endpoint on each of its
    /// networks, its ports published and its names in the DNS server. Returns the namespace
    /// file for the spec (None: the host's, or another container's).
    pub(super) fn connect_sandbox(&self, c: &mut Container) -> Result<Option<PathBuf>, ApiError> {
        let mode = str_of(&c.host_config, "NetworkMode").to_string();
        if mode == "host" || mode.starts_with("container:") {
            return Ok(None);
        }
        let sandbox_id = crate::ids::new_id();
        let (key, ns) = self.net.new_sandbox(&sandbox_id).map_err(ApiError::internal)?;
        c.network_settings.sandbox_id = sandbox_id;
        c.network_settings.sandbox_key = key.display().to_string();
        match self.join_all(c, &ns) {
            Ok(()) => Ok(Some(key)),
            Err(e) => {
                self.release_sandbox(c);
                Err(e)
            }
        }
    }

    fn join_all(&self, c: &mut Container, ns: &OwnedFd) -> Result<(), ApiError> {
        let mut primary: Option<(String, String)> = None;
        for (index, name) in Self::ordered_networks(c).into_iter().enumerate() {
            let n = self.network_named(&name)?;
            if matches!(n.driver.as_str(), "host" | "null") {
                continue;
            }
            let ifname = format!("eth{index}");
            self.join(c, ns, &n, &name, &ifname, primary.is_none())?;
            primary.get_or_insert((name.clone(), n.bridge_name()));
        }
        if let Some((target, bridge)) = primary.and_then(|(key, bridge)| Some((port_target(c, &key)?, bridge))) {
            let ports = published_ports(c);
            let shown = self.net.publish(&c.id, &ports, &target, &bridge).map_err(|e| {
                ApiError::internal(format!("driver failed programming external connectivity on endpoint {} ({}): {e}", c.name.trim_start_matches('/'), c.network_settings.networks.values().next().map(|e| e.endpoint_id.as_str()).unwrap_or_default()))
            })?;
            c.network_settings.ports = shown;
            for port in exposed_ports(c) {
                c.network_settings.ports.entry(port).or_insert(None);
            }
        }
        Ok(())
    }

    /// One endpoint: an address, the veth, the network's record of it, the DNS names.
    fn join(&self, c: &mut Container, ns: &OwnedFd, n: &Network, key: &str, ifname: &str, default_route: bool) -> Result<IpAddr, ApiError> {
        let plumbing = NetworkPlumbing::of(n);
        let ep = c.network_settings.networks.get(key).cloned().unwrap_or_default();
        let requested = |s: &str| s.parse::<IpAddr>().ok();
        let want4 = ep.ipam_config.as_ref().and_then(|c| requested(&c.ipv4_address));
        let want6 = ep.ipam_config.as_ref().and_then(|c| requested(&c.ipv6_address));
        let ip = self.networks.allocate(&n.id, want4)?.addr;
        let ip6 = if plumbing.subnet_v6.is_some() {
            match self.networks.allocate_v6(&n.id, want6) {
                Ok(ip6) => Some(ip6.addr),
                Err(e) => {
                    self.networks.release(&n.id, ip);
                    return Err(e);
                }
            }
        } else {
            None
        };
        let mut ep = ep;
        if let Err(e) = self.net.attach(ns, &plumbing, &mut ep, &super::sandbox::Placement { ifname, ip, ip6, default_route }) {
            self.networks.release(&n.id, ip);
            if let Some(ip6) = ip6 {
                self.networks.release(&n.id, ip6);
            }
            return Err(ApiError::internal(e));
        }
        let name = c.name.trim_start_matches('/').to_string();
        let mut names = vec![name.clone()];
        names.extend(ep.aliases.clone().unwrap_or_default());
        if plumbing.user_defined {
            names.push(c.short_id().to_string());
            ep.dns_names = Some(names.clone());
        }
        let record = store_endpoint(&name, &ep);
        c.network_settings.networks.insert(key.to_string(), ep);
        self.networks.add_endpoint(&n.id, &c.id, record)?;
        let ips: Vec<IpAddr> = std::iter::once(ip).chain(ip6).collect();
        if let Err(e) = self.net.register_names(&c.id, ns, &plumbing, names, ips, own_dns_servers(c)) {
            return Err(ApiError::internal(e));
        }
        if plumbing.user_defined {
            self.register_links(c, &plumbing, key);
        }
        Ok(ip)
    }

    /// `--link NAME:ALIAS` on a user-defined network: the alias (and the name) resolve, for
    /// this container only, to the linked container's address on that network, as Docker's.
    fn register_links(&self, c: &Container, n: &NetworkPlumbing, key: &str) {
        for (name, alias) in links_on(c, key) {
            let Ok(target) = self.find_other(&name, &c.id) else { continue };
            let ips: Vec<IpAddr> = {
                let t = target.lock();
                t.c.network_settings.networks.values().filter(|e| e.network_id == n.id).filter_map(|e| e.ip_address.parse().ok()).collect()
            };
            if !ips.is_empty() {
                self.net.register_link(&c.id, n, vec![alias, name], ips);
            }
        }
    }

    /// Exit (or a failed start): everything `connect_sandbox` made, undone; what was asked for
    /// stays in the settings.
    pub(super) fn release_sandbox(&self, c: &mut Container) {
        let settings = &c.network_settings;
        if settings.sandbox_key.is_empty() && settings.networks.values().all(|e| e.ip_address.is_empty()) {
            return;
        }
        let ns: Option<OwnedFd> = crate::network::netns::open(std::path::Path::new(&settings.sandbox_key)).ok();
        let primary = Self::ordered_networks(c).into_iter().find_map(|name| {
            let target = port_target(c, &name)?;
            let ep = c.network_settings.networks.get(&name)?;
            Some((target, self.networks.get(&ep.network_id).map(|n| n.bridge_name()).unwrap_or_default()))
        });
        self.net.unpublish(&c.id, &c.network_settings.ports, primary.as_ref().map(|p| &p.0), primary.as_ref().map(|p| p.1.as_str()).unwrap_or_default());
        self.net.forget_names(&c.id, None);
        for ep in c.network_settings.networks.values() {
            self.leave(&c.id, ns.as_ref(), ep);
        }
        self.net.remove_sandbox(&c.network_settings.sandbox_key);
        c.network_settings.clear_runtime();
    }

    fn leave(&self, container: &str, ns: Option<&OwnedFd>, ep: &Endpoint) {
        if ep.ip_address.is_empty() && ep.host_interface.is_empty() {
            return;
        }
        self.net.detach(ns, ep);
        // The record's removal frees the addresses; one the record lacks (a join that failed
        // before it was recorded) is freed here.
        match self.networks.remove_endpoint(&ep.network_id, container) {
            Ok(Some(_)) => {}
            _ => {
                for ip in [&ep.ip_address, &ep.global_ipv6_address] {
                    if let Ok(ip) = ip.parse::<IpAddr>() {
                        self.networks.release(&ep.network_id, ip);
                    }
                }
            }
        }
    }

    /// `/etc/hosts` lines of the container's own: its address on each network with its host
    /// name, then its legacy links' addresses.
    pub(super) fn own_hosts_lines(&self, c: &Container, hostname: &str) -> Vec<String> {
        let domain = str_of(&c.config, "Domainname");
        let names = if domain.is_empty() { hostname.to_string() } else { format!("{hostname}.{domain} {hostname}") };
        let mut lines = Vec::new();
        for name in Self::ordered_networks(c) {
            let Some(ep) = c.network_settings.networks.get(&name) else { continue };
            for ip in [&ep.ip_address, &ep.global_ipv6_address] {
                if !ip.is_empty() {
                    lines.push(format!("{ip}\t{names}"));
                }
            }
        }
        for (target, alias) in self.links_of(c) {
            let t = target.lock();
            let Some(ep) = t.c.network_settings.networks.get("bridge") else { continue };
            if ep.ip_address.is_empty() {
                continue;
            }
            let name = t.c.name.trim_start_matches('/');
            lines.push(format!("{}\t{alias} {} {name}", ep.ip_address, t.c.short_id()));
        }
        lines
    }

    /// Legacy links (`--link NAME[:ALIAS]`): the running containers they name, with aliases.
    fn links_of(&self, c: &Container) -> Vec<(std::sync::Arc<super::Entry>, String)> {
        let mut out = Vec::new();
        for (name, alias) in links_on(c, "bridge") {
            if let Ok(entry) = self.find_other(&name, &c.id) {
                if entry.lock().c.id != c.id {
                    out.push((entry, alias));
                }
            }
        }
        out
    }

    /// Start, before the sandbox: Docker's check that every link names a running container.
    pub(super) fn check_links(&self, c: &Container) -> Result<(), ApiError> {
        for (name, alias) in links_on(c, "bridge") {
            let entry = self.find_other(&name, &c.id).map_err(|_| ApiError::bad_request(format!("could not get container for {name}")))?;
            let running = entry.lock().c.state.running;
            if !running {
                return Err(ApiError::bad_request(format!("Cannot link to a non running container: /{name} AS {}/{alias}", c.name)));
            }
        }
        Ok(())
    }

    /// The environment legacy links give (`ALIAS_PORT_80_TCP=tcp://IP:80`, `ALIAS_NAME`,
    /// `ALIAS_ENV_X`), as Docker's.
    pub(super) fn link_env(&self, c: &Container) -> Vec<String> {
        let mut env = Vec::new();
        for (target, alias) in self.links_of(c) {
            let t = target.lock();
            let Some(ip) = t.c.network_settings.networks.get("bridge").map(|e| e.ip_address.clone()).filter(|ip| !ip.is_empty()) else { continue };
            let prefix = alias.to_uppercase().replace('-', "_");
            env.push(format!("{prefix}_NAME={}/{alias}", c.name));
            let mut ports: Vec<(u16, String)> = t.c.config.get("ExposedPorts").and_then(Value::as_object).into_iter().flatten().filter_map(|(k, _)| {
                let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
                Some((port.parse().ok()?, proto.to_string()))
            }).collect();
            ports.sort();
            if let Some((port, proto)) = ports.first() {
                env.push(format!("{prefix}_PORT={proto}://{ip}:{port}"));
            }
            for (port, proto) in &ports {
                let p = format!("{prefix}_PORT_{port}_{}", proto.to_uppercase());
                env.push(format!("{p}={proto}://{ip}:{port}"));
                env.push(format!("{p}_ADDR={ip}"));
                env.push(format!("{p}_PORT={port}"));
                env.push(format!("{p}_PROTO={proto}"));
            }
            for var in t.c.config.get("Env").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                let (k, v) = var.split_once('=').unwrap_or((var, ""));
                if !matches!(k, "HOME" | "PATH" | "HOSTNAME") {
                    env.push(format!("{prefix}_ENV_{k}={v}"));
                }
            }
        }
        env
    }

    /// `POST /networks/{id}/connect` of a container: recorded, and joined now if it runs.
    pub fn connect_container(&self, network: &str, container: &str, endpoint: &Value) -> Result<(), ApiError> {
        let n = self.network_named(network)?;
        let entry = self.find(container)?;
        let mut slot = entry.lock();
        let c = &mut slot.c;
        let mode = str_of(&c.host_config, "NetworkMode").to_string();
        if mode == "host" || n.driver == "host" {
            return Err(ApiError::new(403, "container cannot be disconnected from host network or connected to host network"));
        }
        if mode.starts_with("container:") {
            return Err(ApiError::new(403, "container sharing network namespace with another container or host cannot be connected to any other network"));
        }
        if c.network_settings.networks.contains_key("none") || n.driver == "null" {
            return Err(ApiError::new(403, "container cannot be connected to multiple networks with one of the networks in private (none) mode"));
        }
        if c.network_settings.networks.contains_key(&n.name) {
            return Err(ApiError::new(403, format!("endpoint with name {} already exists in network {}", c.name.trim_start_matches('/'), n.name)));
        }
        let mut ep = endpoint_request(endpoint);
        ep.mac_requested = !ep.mac_address.is_empty();
        self.check_endpoint_request(&n, &ep)?;
        ep.network_id = n.id.clone();
        c.network_settings.networks.insert(n.name.clone(), ep);
        if c.state.running {
            let joined = crate::network::netns::open(std::path::Path::new(&c.network_settings.sandbox_key)).map_err(|e| ApiError::internal(e.to_string())).and_then(|ns| {
                let used: HashSet<String> = c.network_settings.networks.values().map(|e| e.interface.clone()).collect();
                let ifname = (0..).map(|i| format!("eth{i}")).find(|n| !used.contains(n)).unwrap_or_default();
                self.join(c, &ns, &n, &n.name.clone(), &ifname, false)
            });
            if let Err(e) = joined {
                // What the join made before it failed (a veth, an address, names) goes too.
                if let Some(ep) = c.network_settings.networks.remove(&n.name) {
                    let ns = crate::network::netns::open(std::path::Path::new(&c.network_settings.sandbox_key)).ok();
                    self.net.forget_names(&c.id, Some(&n.id));
                    self.leave(&c.id, ns.as_ref(), &ep);
                }
                return Err(e);
            }
            let _ = self.write_hosts_file(c);
        }
        let _ = c.save(&self.opts.data_root);
        let c = c.clone();
        drop(slot);
        self.events.network("connect", &n.id, &n.name, &n.driver, &[("container", &c.id)]);
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`.
    pub fn disconnect_container(&self, network: &str, container: &str, force: bool) -> Result<(), ApiError> {
        let n = self.network_named(network)?;
        let entry = match self.find(container) {
            Ok(e) => e,
            // A container that is gone may still be on the network's record.
            Err(e) if force => {
                return match self.networks.remove_endpoint(&n.id, container) {
                    Ok(Some(_)) => Ok(()),
                    _ => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        let mut slot = entry.lock();
        let c = &mut slot.c;
        if matches!(n.driver.as_str(), "host") {
            return Err(ApiError::new(403, "container cannot be disconnected from host network or connected to host network"));
        }
        let Some(ep) = c.network_settings.networks.get(&n.name).cloned() else {
            return Err(ApiError::new(403, format!("container {} is not connected to network {}", c.id, n.name)));
        };
        if c.state.running {
            let ns = crate::network::netns::open(std::path::Path::new(&c.network_settings.sandbox_key)).ok();
            self.net.forget_names(&c.id, Some(&n.id));
            self.leave(&c.id, ns.as_ref(), &ep);
        }
        c.network_settings.networks.remove(&n.name);
        if c.state.running {
            let _ = self.write_hosts_file(c);
        }
        let _ = c.save(&self.opts.data_root);
        let c = c.clone();
        drop(slot);
        self.events.network("disconnect", &n.id, &n.name, &n.driver, &[("container", &c.id)]);
        Ok(())
    }

    /// Daemon start: every network's bridge and rules again, the containers that kept running
    /// back in the records, the DNS server and their ports; what dead ones left, removed.
    pub(super) fn restore_networking(&self) {
        for n in self.networks.list_all() {
            if n.driver == "bridge" {
                let managed = !n.is_predefined() || self.opts.net.default_bridge().ok().flatten().is_some_and(|b| b.managed);
                if let Err(e) = self.net.set_up_network(&NetworkPlumbing::of(&n), managed) {
                    crate::log::line(crate::log::Level::Error, "setting up network", &[("network", &n.name), ("error", &e.to_string())]);
                }
            }
        }
        let running: HashSet<String> = self.containers().iter().map(|e| e.lock()).filter(|s| s.c.state.running).map(|s| s.c.id.clone()).collect();
        self.networks.retain_endpoints(|id| running.contains(id));
        let mut claimed = HashSet::new();
        for entry in self.containers() {
            let mut slot = entry.lock();
            let c = &mut slot.c;
            if c.network_settings.sandbox_key.is_empty() {
                continue;
            }
            if !c.state.running {
                self.release_sandbox(c);
                let _ = c.save(&self.opts.data_root);
                continue;
            }
            claimed.insert(PathBuf::from(&c.network_settings.sandbox_key));
            if let Err(e) = self.rejoin(c) {
                crate::log::line(crate::log::Level::Error, "restoring the container's network", &[("container", &c.id), ("error", &e.to_string())]);
            }
        }
        self.net.remove_unclaimed_sandboxes(&claimed);
    }

    /// A container that kept running while dockerd was away: the store kept its endpoints
    /// and addresses; its names go back to the DNS server and its ports are published again.
    fn rejoin(&self, c: &mut Container) -> Result<(), String> {
        let ns = crate::network::netns::open(std::path::Path::new(&c.network_settings.sandbox_key)).map_err(|e| e.to_string())?;
        let mut primary = None;
        for name in Self::ordered_networks(c) {
            let Some(ep) = c.network_settings.networks.get(&name).cloned() else { continue };
            let Ok(ip) = ep.ip_address.parse::<IpAddr>() else { continue };
            let Ok(n) = self.networks.get(&ep.network_id) else { continue };
            if self.networks.get(&n.id).map(|n| !n.containers.contains_key(&c.id)).unwrap_or(false) {
                self.networks.add_endpoint(&n.id, &c.id, store_endpoint(c.name.trim_start_matches('/'), &ep)).map_err(|e| e.message)?;
            }
            if let Some(names) = ep.dns_names.clone() {
                let ips = std::iter::once(ip).chain(ep.global_ipv6_address.parse().ok()).collect();
                self.net.register_names(&c.id, &ns, &NetworkPlumbing::of(&n), names, ips, own_dns_servers(c))?;
            }
            primary.get_or_insert((name.clone(), n.bridge_name()));
        }
        if let Some((target, bridge)) = primary.and_then(|(key, bridge)| Some((port_target(c, &key)?, bridge))) {
            self.net.republish(&c.id, &c.network_settings.ports, &target, &bridge)?;
        }
        Ok(())
    }
}

/// A container's links on network `key` (`NAME[:ALIAS]`, from HostConfig.Links and from the
/// endpoint's own Links), as (name without its slash, alias).
fn links_on(c: &Container, key: &str) -> Vec<(String, String)> {
    let mut links = strings(c.host_config.get("Links")).unwrap_or_default();
    links.extend(c.network_settings.networks.get(key).and_then(|e| e.links.clone()).unwrap_or_default());
    links
        .iter()
        .map(|link| {
            let (name, alias) = link.split_once(':').unwrap_or((link, link));
            (name.trim_start_matches('/').to_string(), alias.rsplit('/').next().unwrap_or_default().to_string())
        })
        .collect()
}

/// Where the container's published ports lead: its addresses on network `key`.
fn port_target(c: &Container, key: &str) -> Option<super::sandbox::PortTarget> {
    let ep = c.network_settings.networks.get(key)?;
    Some(super::sandbox::PortTarget { v4: ep.ip_address.parse().ok()?, v6: ep.global_ipv6_address.parse().ok() })
}

/// The container's `--dns` servers, which the embedded DNS server forwards to for it.
fn own_dns_servers(c: &Container) -> Option<Vec<std::net::SocketAddr>> {
    let list: Vec<std::net::SocketAddr> = strings(c.host_config.get("Dns")).unwrap_or_default().iter().filter_map(|d| d.parse::<IpAddr>().ok()).map(|ip| std::net::SocketAddr::new(ip, 53)).collect();
    (!list.is_empty()).then_some(list)
}

/// The network record's view of an endpoint (inspect's `Containers`).
fn store_endpoint(name: &str, ep: &Endpoint) -> super::networks::Endpoint {
    let with_prefix = |ip: &str, prefix: u8| if ip.is_empty() { String::new() } else { format!("{ip}/{prefix}") };
    super::networks::Endpoint {
        name: name.to_string(),
        endpoint_id: ep.endpoint_id.clone(),
        mac_address: ep.mac_address.clone(),
        ipv4_address: with_prefix(&ep.ip_address, ep.ip_prefix_len),
        ipv6_address: with_prefix(&ep.global_ipv6_address, ep.global_ipv6_prefix_len),
    }
}

fn mode_is_default(mode: &str) -> bool {
    mode.is_empty() || mode == "default"
}

/// What an EndpointsConfig entry asks for.
fn endpoint_request(v: &Value) -> Endpoint {
    let ipam = v.get("IPAMConfig").filter(|c| c.is_object()).map(|c| IpamConfig {
        ipv4_address: str_of(c, "IPv4Address").to_string(),
        ipv6_address: str_of(c, "IPv6Address").to_string(),
        link_local_ips: strings(c.get("LinkLocalIPs")),
    });
    Endpoint {
        ipam_config: ipam.filter(|c| !c.ipv4_address.is_empty() || !c.ipv6_address.is_empty()),
        links: strings(v.get("Links")),
        aliases: strings(v.get("Aliases")),
        mac_address: str_of(v, "MacAddress").to_string(),
        ..Endpoint::default()
    }
}

/// `HostConfig.PortBindings`, and with `PublishAllPorts` every exposed port not bound
/// (on an ephemeral host port).
fn published_ports(c: &Container) -> Vec<(String, Vec<PortBinding>)> {
    let mut out: BTreeMap<String, Vec<PortBinding>> = BTreeMap::new();
    for (port, list) in c.host_config.get("PortBindings").and_then(Value::as_object).into_iter().flatten() {
        let bindings: Vec<PortBinding> = list.as_array().into_iter().flatten().map(|b| PortBinding { host_ip: str_of(b, "HostIp").to_string(), host_port: str_of(b, "HostPort").to_string() }).collect();
        let port = if port.contains('/') { port.clone() } else { format!("{port}/tcp") };
        out.insert(port, if bindings.is_empty() { vec![PortBinding { host_ip: String::new(), host_port: String::new() }] } else { bindings });
    }
    if c.host_config.get("PublishAllPorts").and_then(Value::as_bool) == Some(true) {
        for port in exposed_ports(c) {
            out.entry(port).or_insert_with(|| vec![PortBinding { host_ip: String::new(), host_port: String::new() }]);
        }
    }
    out.into_iter().collect()
}

fn exposed_ports(c: &Container) -> Vec<String> {
    c.config.get("ExposedPorts").and_then(Value::as_object).into_iter().flatten().map(|(k, _)| if k.contains('/') { k.clone() } else { format!("{k}/tcp") }).collect()
}

