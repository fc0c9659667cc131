//! A container's `NetworkSettings`, as config.v2.json keeps them and inspect shows them: the
//! networks it is on (asked for at create or by connect; addresses while it runs), its
//! published ports, and its network namespace file.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    #[serde(rename = "IPv4Address", default, skip_serializing_if = "String::is_empty")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address", default, skip_serializing_if = "String::is_empty")]
    pub ipv6_address: String,
    #[serde(rename = "LinkLocalIPs", default, skip_serializing_if = "Option::is_none")]
    pub link_local_ips: Option<Vec<String>>,
}

/// One network's endpoint, Docker's `EndpointSettings`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Endpoint {
    #[serde(rename = "IPAMConfig", default)]
    pub ipam_config: Option<IpamConfig>,
    #[serde(default)]
    pub links: Option<Vec<String>>,
    #[serde(default)]
    pub aliases: Option<Vec<String>>,
    /// The MAC the container asked for (kept across runs) or was given.
    #[serde(default)]
    pub mac_address: String,
    #[serde(default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
    #[serde(rename = "NetworkID", default)]
    pub network_id: String,
    #[serde(rename = "EndpointID", default)]
    pub endpoint_id: String,
    #[serde(default)]
    pub gateway: String,
    #[serde(rename = "IPAddress", default)]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen", default)]
    pub ip_prefix_len: u8,
    #[serde(rename = "IPv6Gateway", default)]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address", default)]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen", default)]
    pub global_ipv6_prefix_len: u8,
    #[serde(rename = "DNSNames", default)]
    pub dns_names: Option<Vec<String>>,
    /// Ours, not Docker's (inspect leaves it out): the interface in the container, and the
    /// host end of its veth, while it runs.
    #[serde(rename = "DockboxInterface", default, skip_serializing_if = "String::is_empty")]
    pub interface: String,
    #[serde(rename = "DockboxHostInterface", default, skip_serializing_if = "String::is_empty")]
    pub host_interface: String,
    /// Whether the MAC was asked for (kept when the container stops) or derived.
    #[serde(rename = "DockboxMacRequested", default, skip_serializing_if = "std::ops::Not::not")]
    pub mac_requested: bool,
}

impl Endpoint {
    /// What a stop leaves: the request (addresses asked for, aliases, links, an asked MAC).
    pub fn clear_runtime(&mut self) {
        let requested_mac = if self.mac_requested { std::mem::take(&mut self.mac_address) } else { String::new() };
        *self = Endpoint {
            ipam_config: self.ipam_config.take(),
            links: self.links.take(),
            aliases: self.aliases.take(),
            driver_opts: self.driver_opts.take(),
            network_id: std::mem::take(&mut self.network_id),
            mac_address: requested_mac,
            mac_requested: self.mac_requested,
            ..Endpoint::default()
        };
    }

    /// inspect's form: our own keys left out.
    pub fn to_api(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(m) = v.as_object_mut() {
            m.retain(|k, _| !k.starts_with("Dockbox"));
        }
        v
    }
}

/// A host address and port a container port is published on.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortBinding {
    #[serde(rename = "HostIp", default)]
    pub host_ip: String,
    #[serde(rename = "HostPort", default)]
    pub host_port: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSettings {
    #[serde(rename = "SandboxID", default)]
    pub sandbox_id: String,
    /// The network namespace file, `<exec-root>/netns/<sandbox id's first 12>`.
    #[serde(default)]
    pub sandbox_key: String,
    #[serde(default)]
    pub hairpin_mode: bool,
    /// Network name → endpoint.
    #[serde(default)]
    pub networks: BTreeMap<String, Endpoint>,
    /// `80/tcp` → where it is published (null: exposed, not published), while it runs.
    #[serde(default)]
    pub ports: BTreeMap<String, Option<Vec<PortBinding>>>,
}

impl NetworkSettings {
    /// inspect's `NetworkSettings`: Docker's keys, the legacy top-level address fields taken
    /// from the default bridge network as Docker takes them.
    pub fn to_api(&self, running: bool) -> Value {
        let bridge = self.networks.get("bridge").filter(|_| running);
        let s = |f: fn(&Endpoint) -> &str| bridge.map(|e| f(e).to_string()).unwrap_or_default();
        let networks: serde_json::Map<String, Value> = self.networks.iter().map(|(k, e)| (k.clone(), e.to_api())).collect();
        json!({
            "Bridge": "",
            "SandboxID": self.sandbox_id,
            "SandboxKey": self.sandbox_key,
            "HairpinMode": self.hairpin_mode,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Ports": if running { serde_json::to_value(&self.ports).unwrap_or_default() } else { json!({}) },
            "SecondaryIPAddresses": null,
            "SecondaryIPv6Addresses": null,
            "EndpointID": s(|e| &e.endpoint_id),
            "Gateway": s(|e| &e.gateway),
            "GlobalIPv6Address": s(|e| &e.global_ipv6_address),
            "GlobalIPv6PrefixLen": bridge.map(|e| e.global_ipv6_prefix_len).unwrap_or(0),
            "IPAddress": s(|e| &e.ip_address),
            "IPPrefixLen": bridge.map(|e| e.ip_prefix_len).unwrap_or(0),
            "IPv6Gateway": s(|e| &e.ipv6_gateway),
            "MacAddress": s(|e| &e.mac_address),
            "Networks": networks,
        })
    }

    /// `GET /containers/json`'s `Ports`: one entry per published binding (and per exposed,
    /// unpublished port, without host fields), as Docker lists them.
    pub fn summary_ports(&self) -> Value {
        let mut out = Vec::new();
        for (port, bindings) in &self.ports {
            let (number, proto) = port.split_once('/').unwrap_or((port, "tcp"));
            let private: u16 = number.parse().unwrap_or(0);
            match bindings {
                Some(list) if !list.is_empty() => {
                    for b in list {
                        out.push(json!({"IP": b.host_ip, "PrivatePort": private, "PublicPort": b.host_port.parse::<u16>().unwrap_or(0), "Type": proto}));
                    }
                }
                _ => out.push(json!({"PrivatePort": private, "Type": proto})),
            }
        }
        Value::Array(out)
    }

    /// `GET /containers/json`'s `NetworkSettings.Networks`.
    pub fn summary_networks(&self) -> Value {
        let networks: serde_json::Map<String, Value> = self.networks.iter().map(|(k, e)| (k.clone(), e.to_api())).collect();
        json!({"Networks": networks})
    }

    /// Forgets what the last run had (addresses, ports, the namespace), keeping what was asked.
    pub fn clear_runtime(&mut self) {
        self.sandbox_id.clear();
        self.sandbox_key.clear();
        self.ports.clear();
        for e in self.networks.values_mut() {
            e.clear_runtime();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_keeps_what_was_asked_for() {
        let mut e = Endpoint {
            ipam_config: Some(IpamConfig { ipv4_address: "10.1.0.9".into(), ..Default::default() }),
            aliases: Some(vec!["db".into()]),
            network_id: "n1".into(),
            endpoint_id: "e1".into(),
            ip_address: "10.1.0.9".into(),
            ip_prefix_len: 24,
            mac_address: "02:42:0a:01:00:09".into(),
            interface: "eth0".into(),
            ..Default::default()
        };
        e.clear_runtime();
        assert_eq!(e.ip_address, "");
        assert_eq!(e.mac_address, "", "a derived MAC goes with the address");
        assert_eq!(e.aliases, Some(vec!["db".to_string()]));
        assert_eq!(e.network_id, "n1");
        let api = e.to_api();
        assert!(api.get("DockboxInterface").is_none());
        assert!(api.get("IPAMConfig").is_some());
    }

    #[test]
    fn ports_list_as_docker_lists_them() {
        let mut s = NetworkSettings::default();
        s.ports.insert("80/tcp".into(), Some(vec![PortBinding { host_ip: "0.0.0.0".into(), host_port: "8080".into() }]));
        s.ports.insert("53/udp".into(), None);
        let list = s.summary_ports();
        assert_eq!(list[0], json!({"PrivatePort": 53, "Type": "udp"}));
        assert_eq!(list[1], json!({"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}));
    }
}
