//! Connecting a container to a network and disconnecting it (`POST /networks/{id}/connect`,
//! `/disconnect`, `docker network connect|disconnect`): the decoded endpoint settings and the
//! daemon's hooks, which `daemon::endpoints` carries out.

use super::errors::ApiError;
use super::networks::Network;
use super::Daemon;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// `EndpointConfig.IPAMConfig`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EndpointIpamConfig {
    #[serde(rename = "IPv4Address", default)]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address", default)]
    pub ipv6_address: String,
    #[serde(rename = "LinkLocalIPs", default)]
    pub link_local_ips: Option<Vec<String>>,
}

/// A connect request's `EndpointConfig` (Docker's `EndpointSettings`). The state fields
/// (NetworkID, IPAddress, ...) are what inspect reports; a request may carry them only
/// empty, as the docker CLI sends them.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EndpointConfig {
    #[serde(rename = "IPAMConfig", default)]
    pub ipam_config: Option<EndpointIpamConfig>,
    #[serde(default)]
    pub links: Option<Vec<String>>,
    #[serde(default)]
    pub aliases: Option<Vec<String>>,
    #[serde(default)]
    pub mac_address: String,
    #[serde(default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub gw_priority: i64,
    #[serde(rename = "NetworkID", default)]
    pub network_id: String,
    #[serde(rename = "EndpointID", default)]
    pub endpoint_id: String,
    #[serde(default)]
    pub gateway: String,
    #[serde(rename = "IPAddress", default)]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen", default)]
    pub ip_prefix_len: i64,
    #[serde(rename = "IPv6Gateway", default)]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address", default)]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen", default)]
    pub global_ipv6_prefix_len: i64,
    #[serde(rename = "DNSNames", default)]
    pub dns_names: Option<Vec<String>>,
}

impl EndpointConfig {
    /// Docker's checks of the settings, and a 400 naming each one this daemon cannot honour.
    pub fn validate(&self) -> Result<(), ApiError> {
        if let Some(ipam) = &self.ipam_config {
            if !ipam.ipv4_address.is_empty() && !ipam.ipv4_address.parse::<IpAddr>().is_ok_and(|a| a.is_ipv4()) {
                return Err(ApiError::bad_request(format!("invalid IPv4 address: {}", ipam.ipv4_address)));
            }
            if !ipam.ipv6_address.is_empty() && !ipam.ipv6_address.parse::<IpAddr>().is_ok_and(|a| a.is_ipv6()) {
                return Err(ApiError::bad_request(format!("invalid IPv6 address: {}", ipam.ipv6_address)));
            }
            if ipam.link_local_ips.as_ref().is_some_and(|l| !l.is_empty()) {
                return Err(ApiError::bad_request("link-local addresses (EndpointConfig.IPAMConfig.LinkLocalIPs) are not supported"));
            }
        }
        if !self.mac_address.is_empty() {
            let octets: Vec<&str> = self.mac_address.split(':').collect();
            if octets.len() != 6 || !octets.iter().all(|o| o.len() == 2 && u8::from_str_radix(o, 16).is_ok()) {
                return Err(ApiError::bad_request(format!("invalid MAC address: {}", self.mac_address)));
            }
        }
        if self.driver_opts.as_ref().is_some_and(|o| !o.is_empty()) {
            return Err(ApiError::bad_request("endpoint driver options (EndpointConfig.DriverOpts) are not supported"));
        }
        if self.gw_priority != 0 {
            return Err(ApiError::bad_request("gateway priorities (EndpointConfig.GwPriority) are not supported"));
        }
        let state: [(&str, bool); 9] = [
            ("NetworkID", !self.network_id.is_empty()),
            ("EndpointID", !self.endpoint_id.is_empty()),
            ("Gateway", !self.gateway.is_empty()),
            ("IPAddress", !self.ip_address.is_empty()),
            ("IPPrefixLen", self.ip_prefix_len != 0),
            ("IPv6Gateway", !self.ipv6_gateway.is_empty()),
            ("GlobalIPv6Address", !self.global_ipv6_address.is_empty()),
            ("GlobalIPv6PrefixLen", self.global_ipv6_prefix_len != 0),
            ("DNSNames", self.dns_names.as_ref().is_some_and(|d| !d.is_empty())),
        ];
        if let Some((field, _)) = state.iter().find(|(_, set)| *set) {
            return Err(ApiError::bad_request(format!("EndpointConfig.{field} is set by the daemon and cannot be requested")));
        }
        Ok(())
    }

    /// The settings as the JSON of a container's `NetworkSettings.Networks` entry starts.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "IPAMConfig": self.ipam_config.as_ref().map(|i| serde_json::json!({"IPv4Address": i.ipv4_address, "IPv6Address": i.ipv6_address})),
            "Links": self.links,
            "Aliases": self.aliases,
            "MacAddress": self.mac_address,
        })
    }
}

impl Daemon {
    /// Connects container `container` (name or id) to network `net`.
    pub fn connect_network(&self, net: &Network, container: &str, cfg: EndpointConfig) -> Result<(), ApiError> {
        self.connect_container(&net.id, container, &cfg.to_json())
    }

    /// Disconnects container `container` from `net` (`force`: even when the container is gone).
    pub fn disconnect_network(&self, net: &Network, container: &str, force: bool) -> Result<(), ApiError> {
        self.disconnect_container(&net.id, container, force)
    }
}
