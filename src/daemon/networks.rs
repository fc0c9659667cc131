//! The daemon's networks: Docker's predefined `bridge`, `host` and `none`, and user bridge
//! networks, each persisted as one JSON file under `<data-root>/network/`, with their IPAM
//! state (`network::ipam`) rebuilt at start from the records and the endpoints they hold.
//! The bridge driver's plumbing is plugged in through [`NetworkDriver`]; containers are
//! wired into networks by the integrator through `allocate`/`release` and
//! `add_endpoint`/`remove_endpoint`.

use super::errors::ApiError;
use super::filters::Filters;
use crate::network::ipam::{self, AddressPool, NetworkIpam, Space};
use crate::network::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// The names Docker reserves (`network.IsPredefined`).
pub const PREDEFINED: &[&str] = &["bridge", "host", "none", "default"];

/// The bridge driver options a network may carry (`--opt`); anything else is refused.
pub const BRIDGE_OPTIONS: &[&str] = &[
    OPT_BRIDGE_NAME,
    OPT_ENABLE_ICC,
    OPT_ENABLE_IP_MASQUERADE,
    OPT_HOST_BINDING_IPV4,
    OPT_MTU,
    "com.docker.network.bridge.default_bridge",
    "com.docker.network.enable_ipv6",
];
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
pub const OPT_ENABLE_ICC: &str = "com.docker.network.bridge.enable_icc";
pub const OPT_ENABLE_IP_MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";
pub const OPT_HOST_BINDING_IPV4: &str = "com.docker.network.bridge.host_binding_ipv4";
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";

/// What a network's driver does on the host; the bridge driver is plugged in with
/// [`Networks::set_driver`]. Errors are reported to the API client as 500s (Docker's).
pub trait NetworkDriver: Send + Sync {
    /// Makes the network's bridge (and its rules) before the network is recorded.
    fn create(&self, n: &Network) -> Result<(), String>;
    /// Takes them down after the network's record is gone.
    fn remove(&self, n: &Network) -> Result<(), String>;
}

/// The predefined `bridge` network as dockerd's flags configure it (`--bip`, `--fixed-cidr`,
/// `-b`, `--mtu`, `--icc`, `--ip-masq`, `--ip`, `--fixed-cidr-v6`).
#[derive(Clone, Debug)]
pub struct DefaultBridge {
    pub subnet: IpNet,
    pub gateway: IpAddr,
    /// `--fixed-cidr`: where containers' addresses come from.
    pub ip_range: Option<IpNet>,
    pub bridge_name: String,
    pub mtu: u32,
    pub icc: bool,
    pub ip_masquerade: bool,
    pub host_binding_ipv4: IpAddr,
    /// `--ipv6` with `--fixed-cidr-v6`.
    pub ipv6_subnet: Option<IpNet>,
}

impl Default for DefaultBridge {
    fn default() -> DefaultBridge {
        DefaultBridge {
            subnet: IpNet { addr: IpAddr::V4([172, 17, 0, 0].into()), prefix: 16 },
            gateway: IpAddr::V4([172, 17, 0, 1].into()),
            ip_range: None,
            bridge_name: "docker0".into(),
            mtu: 1500,
            icc: true,
            ip_masquerade: true,
            host_binding_ipv4: IpAddr::V4([0, 0, 0, 0].into()),
            ipv6_subnet: None,
        }
    }
}

/// One IPAM config entry of a network (Docker's `IPAMConfig`), as it is in effect: subnets
/// the daemon picked and default gateways included.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    pub subnet: String,
    #[serde(rename = "IPRange", default, skip_serializing_if = "String::is_empty")]
    pub ip_range: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub auxiliary_addresses: BTreeMap<String, String>,
}

/// A container's endpoint on a network, as inspect's `Containers` shows it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Endpoint {
    pub name: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub mac_address: String,
    /// `10.1.0.2/24`, or empty.
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// A network's record: what `<data-root>/network/<id>.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Network {
    pub name: String,
    pub id: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    pub driver: String,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    pub internal: bool,
    pub attachable: bool,
    pub ipam_driver: String,
    pub ipam_options: Option<BTreeMap<String, String>>,
    pub ipam_config: Vec<IpamConfig>,
    /// Whether the IPv4 subnets were given by the user (`--ip` needs one, as in Docker).
    #[serde(default)]
    pub user_subnets: bool,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Endpoints by container id.
    #[serde(default)]
    pub containers: BTreeMap<String, Endpoint>,
}

impl Network {
    pub fn is_predefined(&self) -> bool {
        PREDEFINED.contains(&self.name.as_str())
    }

    /// The Linux bridge of a bridge network: its `com.docker.network.bridge.name`, else
    /// `br-` and the id's first 12 characters.
    pub fn bridge_name(&self) -> String {
        match self.options.get(OPT_BRIDGE_NAME).filter(|n| !n.is_empty()) {
            Some(n) => n.clone(),
            None => format!("br-{}", &self.id[..12.min(self.id.len())]),
        }
    }

    /// The network's subnets (IPv4 first).
    pub fn subnets(&self) -> Vec<IpNet> {
        self.ipam_config.iter().filter_map(|c| c.subnet.parse::<IpNet>().ok()).collect()
    }

    /// The JSON of `GET /networks/{id}` (with its endpoints) or of the list (without).
    pub fn to_json(&self, with_containers: bool) -> Value {
        let containers: BTreeMap<&String, &Endpoint> = if with_containers { self.containers.iter().collect() } else { BTreeMap::new() };
        json!({
            "Name": self.name,
            "Id": self.id,
            "Created": self.created,
            "Scope": "local",
            "Driver": self.driver,
            "EnableIPv6": self.enable_ipv6,
            "IPAM": {"Driver": self.ipam_driver, "Options": self.ipam_options, "Config": self.ipam_config},
            "Internal": self.internal,
            "Attachable": self.attachable,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": containers,
            "Options": self.options,
            "Labels": self.labels,
        })
    }

    /// The same JSON with Docker's key order (for the API answers).
    pub fn to_json_bytes(&self, with_containers: bool) -> Vec<u8> {
        let empty = BTreeMap::new();
        let view = View {
            name: &self.name,
            id: &self.id,
            created: &self.created,
            scope: "local",
            driver: &self.driver,
            enable_ipv6: self.enable_ipv6,
            ipam: IpamView { driver: &self.ipam_driver, options: &self.ipam_options, config: &self.ipam_config },
            internal: self.internal,
            attachable: self.attachable,
            ingress: false,
            config_from: ConfigFrom { network: "" },
            config_only: false,
            containers: if with_containers { &self.containers } else { &empty },
            options: &self.options,
            labels: &self.labels,
        };
        serde_json::to_vec(&view).unwrap_or_default()
    }

    /// Rebuilds the address spaces from the record and its endpoints.
    fn ipam(&self) -> NetworkIpam {
        let mut n = NetworkIpam::default();
        for c in &self.ipam_config {
            let Ok(subnet) = c.subnet.parse::<IpNet>() else { continue };
            let aux = c.auxiliary_addresses.iter().filter_map(|(k, v)| Some((k.clone(), v.parse().ok()?))).collect();
            let space = Space::restore(subnet, c.ip_range.parse().ok(), c.gateway.parse().ok(), aux);
            if subnet.addr.is_ipv4() { n.v4.push(space) } else { n.v6.push(space) }
        }
        for e in self.containers.values() {
            for a in [&e.ipv4_address, &e.ipv6_address] {
                if let Some(ip) = a.split('/').next().and_then(|s| s.parse::<IpAddr>().ok()) {
                    n.mark_used(ip);
                }
            }
        }
        n
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct View<'a> {
    name: &'a str,
    #[serde(rename = "Id")]
    id: &'a str,
    created: &'a str,
    scope: &'a str,
    driver: &'a str,
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    ipam: IpamView<'a>,
    internal: bool,
    attachable: bool,
    ingress: bool,
    config_from: ConfigFrom<'a>,
    config_only: bool,
    containers: &'a BTreeMap<String, Endpoint>,
    options: &'a BTreeMap<String, String>,
    labels: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct IpamView<'a> {
    driver: &'a str,
    options: &'a Option<BTreeMap<String, String>>,
    config: &'a Vec<IpamConfig>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ConfigFrom<'a> {
    network: &'a str,
}

/// `POST /networks/create`'s body, decoded.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateRequest {
    pub name: String,
    #[serde(default)]
    pub check_duplicate: Option<bool>,
    #[serde(default)]
    pub driver: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub ingress: bool,
    #[serde(default)]
    pub config_only: bool,
    #[serde(default)]
    pub config_from: Option<Value>,
    #[serde(rename = "EnableIPv4", default)]
    pub enable_ipv4: Option<bool>,
    #[serde(rename = "EnableIPv6", default)]
    pub enable_ipv6: Option<bool>,
    #[serde(rename = "IPAM", default)]
    pub ipam: Option<IpamRequest>,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamRequest {
    #[serde(default)]
    pub driver: String,
    #[serde(default)]
    pub config: Option<Vec<IpamConfigRequest>>,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfigRequest {
    #[serde(default)]
    pub subnet: String,
    #[serde(rename = "IPRange", default)]
    pub ip_range: String,
    #[serde(default)]
    pub gateway: String,
    #[serde(rename = "AuxiliaryAddresses", alias = "AuxAddress", default)]
    pub auxiliary_addresses: Option<BTreeMap<String, String>>,
}

struct Entry {
    record: Network,
    ipam: NetworkIpam,
}

/// The network store.
pub struct Networks {
    dir: PathBuf,
    pools: Vec<AddressPool>,
    inner: Mutex<BTreeMap<String, Entry>>,
    driver: RwLock<Option<Arc<dyn NetworkDriver>>>,
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("network {name} not found"))
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A new network id (64 hex digits, as Docker's).
fn new_id() -> String {
    crate::ids::new_id()
}

impl Networks {
    /// Loads the records under `dir` (made if missing) and makes sure the predefined
    /// networks exist: `bridge` as `bridge` says (its id kept from an earlier start), `host`
    /// and `none` as recorded; with no `bridge` (`--bridge=none`) there is no default bridge
    /// network. `pools` are where subnets of new networks come from.
    pub fn open(dir: &Path, bridge: Option<&DefaultBridge>, pools: Vec<AddressPool>) -> Result<Networks, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut map = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?.flatten() {
            let path = entry.path();
            if crate::sys::is_atomic_write_temp(&entry.file_name()) {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let Ok(data) = std::fs::read(&path) else { continue };
            match serde_json::from_slice::<Network>(&data) {
                Ok(n) => {
                    map.insert(n.id.clone(), Entry { ipam: n.ipam(), record: n });
                }
                Err(e) => crate::log::line(crate::log::Level::Error, "skipping a network record", &[("path", &path.display().to_string()), ("error", &e.to_string())]),
            }
        }
        let s = Networks { dir: dir.to_path_buf(), pools, inner: Mutex::new(map), driver: RwLock::new(None) };
        s.ensure_predefined(bridge)?;
        Ok(s)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Plugs in the driver that makes bridges (none: networks are only recorded).
    pub fn set_driver(&self, driver: Arc<dyn NetworkDriver>) {
        *self.driver.write().unwrap_or_else(|e| e.into_inner()) = Some(driver);
    }

    fn driver(&self) -> Option<Arc<dyn NetworkDriver>> {
        self.driver.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn save(&self, n: &Network) -> Result<(), ApiError> {
        let data = serde_json::to_vec_pretty(n).map_err(|e| ApiError::internal(e.to_string()))?;
        crate::sys::write_atomic(&self.dir.join(format!("{}.json", n.id)), &data).map_err(|e| ApiError::internal(format!("saving network {}: {e}", n.name)))
    }

    /// Saves a record whose endpoints changed (data fsynced, rename not forced out).
    fn save_update(&self, n: &Network) -> Result<(), ApiError> {
        let data = serde_json::to_vec_pretty(n).map_err(|e| ApiError::internal(e.to_string()))?;
        crate::sys::write_atomic_update(&self.dir.join(format!("{}.json", n.id)), &data).map_err(|e| ApiError::internal(format!("saving network {}: {e}", n.name)))
    }

    fn ensure_predefined(&self, bridge: Option<&DefaultBridge>) -> Result<(), String> {
        let mut map = self.lock();
        let find = |map: &BTreeMap<String, Entry>, name: &str| map.values().find(|e| e.record.name == name).map(|e| e.record.clone());
        let now = crate::sys::rfc3339_nanos(std::time::SystemTime::now());
        let mut records = Vec::new();
        for (name, driver) in [("host", "host"), ("none", "null")] {
            if find(&map, name).is_none() {
                records.push(Network {
                    name: name.into(),
                    id: new_id(),
                    created: now.clone(),
                    driver: driver.into(),
                    enable_ipv6: false,
                    internal: false,
                    attachable: false,
                    ipam_driver: "default".into(),
                    ipam_options: None,
                    ipam_config: Vec::new(),
                    user_subnets: false,
                    options: BTreeMap::new(),
                    labels: BTreeMap::new(),
                    containers: BTreeMap::new(),
                });
            }
        }
        // The bridge follows the daemon's flags at every start; its id and endpoints stay.
        let old = find(&map, "bridge");
        let Some(bridge) = bridge else {
            if let Some(old) = old {
                map.remove(&old.id);
                let _ = std::fs::remove_file(self.dir.join(format!("{}.json", old.id)));
            }
            for n in records {
                self.save(&n).map_err(|e| e.message)?;
                map.insert(n.id.clone(), Entry { ipam: n.ipam(), record: n });
            }
            return Ok(());
        };
        let mut ipam_config = vec![IpamConfig {
            subnet: bridge.subnet.network().to_string(),
            ip_range: bridge.ip_range.map(|r| r.to_string()).unwrap_or_default(),
            gateway: bridge.gateway.to_string(),
            auxiliary_addresses: BTreeMap::new(),
        }];
        if let Some(v6) = bridge.ipv6_subnet {
            ipam_config.push(IpamConfig { subnet: v6.network().to_string(), gateway: v6.network().nth(1).map(|g| g.to_string()).unwrap_or_default(), ..Default::default() });
        }
        let options = BTreeMap::from([
            ("com.docker.network.bridge.default_bridge".to_string(), "true".to_string()),
            (OPT_ENABLE_ICC.to_string(), bridge.icc.to_string()),
            (OPT_ENABLE_IP_MASQUERADE.to_string(), bridge.ip_masquerade.to_string()),
            (OPT_HOST_BINDING_IPV4.to_string(), bridge.host_binding_ipv4.to_string()),
            (OPT_BRIDGE_NAME.to_string(), bridge.bridge_name.clone()),
            (OPT_MTU.to_string(), bridge.mtu.to_string()),
        ]);
        records.push(Network {
            name: "bridge".into(),
            id: old.as_ref().map(|o| o.id.clone()).unwrap_or_else(new_id),
            created: old.as_ref().map(|o| o.created.clone()).unwrap_or(now),
            driver: "bridge".into(),
            enable_ipv6: bridge.ipv6_subnet.is_some(),
            internal: false,
            attachable: false,
            ipam_driver: "default".into(),
            ipam_options: None,
            ipam_config,
            user_subnets: false,
            options,
            labels: BTreeMap::new(),
            containers: old.map(|o| o.containers).unwrap_or_default(),
        });
        for n in records {
            self.save(&n).map_err(|e| e.message)?;
            map.insert(n.id.clone(), Entry { ipam: n.ipam(), record: n });
        }
        Ok(())
    }

    /// A network by full id, name, or unique id prefix (Docker's order and errors).
    pub fn get(&self, name_or_id: &str) -> Result<Network, ApiError> {
        let map = self.lock();
        Self::find(&map, name_or_id).map(|id| map[&id].record.clone())
    }

    fn find(map: &BTreeMap<String, Entry>, term: &str) -> Result<String, ApiError> {
        if term.is_empty() {
            return Err(not_found(term));
        }
        if map.contains_key(term) {
            return Ok(term.to_string());
        }
        let by_name: Vec<&String> = map.iter().filter(|(_, e)| e.record.name == term).map(|(id, _)| id).collect();
        match by_name.len() {
            1 => return Ok(by_name[0].clone()),
            n if n > 1 => return Err(ApiError::bad_request(format!("network {term} is ambiguous ({n} matches found on name)"))),
            _ => {}
        }
        let by_prefix: Vec<&String> = map.keys().filter(|id| id.starts_with(term)).collect();
        match by_prefix.len() {
            1 => Ok(by_prefix[0].clone()),
            0 => Err(not_found(term)),
            n => Err(ApiError::bad_request(format!("network {term} is ambiguous ({n} matches found based on ID prefix)"))),
        }
    }

    /// Every network.
    pub fn list_all(&self) -> Vec<Network> {
        self.lock().values().map(|e| e.record.clone()).collect()
    }

    /// `POST /networks/create`: checks the request as Docker does, picks the subnets,
    /// has the driver make the network, records it; returns it and Docker's warning.
    pub fn create(&self, req: CreateRequest) -> Result<Network, ApiError> {
        if PREDEFINED.contains(&req.name.as_str()) {
            return Err(ApiError::new(403, format!("operation is not permitted on predefined {} network ", req.name)));
        }
        if req.name.is_empty() {
            return Err(ApiError::bad_request("invalid name: "));
        }
        let driver = if req.driver.is_empty() { "bridge".to_string() } else { req.driver.clone() };
        match driver.as_str() {
            "bridge" => {}
            "host" | "null" => return Err(ApiError::new(403, format!("only one instance of \"{driver}\" network is allowed"))),
            other => return Err(ApiError::not_found(format!("plugin \"{other}\" not found"))),
        }
        if !matches!(req.scope.as_str(), "" | "local") {
            return Err(ApiError::bad_request(format!("invalid network scope \"{}\": only \"local\" networks are supported", req.scope)));
        }
        if req.ingress {
            return Err(ApiError::new(403, "ingress networks need swarm mode, which this daemon does not have"));
        }
        if req.config_only || req.config_from.as_ref().is_some_and(|c| !super::create_fields::is_zero(c)) {
            return Err(ApiError::bad_request("config-only networks (ConfigOnly, ConfigFrom) are not supported"));
        }
        if req.enable_ipv4 == Some(false) {
            return Err(ApiError::bad_request("networks without IPv4 (EnableIPv4 false) are not supported"));
        }
        let mut options = req.options.clone().unwrap_or_default();
        let mut enable_ipv6 = req.enable_ipv6.unwrap_or(false);
        if req.enable_ipv6.is_some() {
            options.remove("com.docker.network.enable_ipv6");
        } else if let Some(v) = options.get("com.docker.network.enable_ipv6") {
            enable_ipv6 = parse_bool(v).ok_or_else(|| ApiError::bad_request("driver-opt \"com.docker.network.enable_ipv6\" is not a valid bool"))?;
        }
        validate_bridge_options(&options)?;
        let ipam_req = req.ipam.unwrap_or_default();
        if !matches!(ipam_req.driver.as_str(), "" | "default") {
            return Err(ApiError::not_found(format!("plugin \"{}\" not found", ipam_req.driver)));
        }
        if let Some(o) = ipam_req.options.as_ref().filter(|o| !o.is_empty()) {
            let names: Vec<&String> = o.keys().collect();
            return Err(ApiError::bad_request(format!("IPAM driver options are not supported: {names:?}")));
        }
        let configs = ipam_req.config.unwrap_or_default();

        let mut map = self.lock();
        if map.values().any(|e| e.record.name == req.name) {
            return Err(ApiError::conflict(format!("network with name {} already exists", req.name)));
        }
        let id = new_id();
        let mut record = Network {
            name: req.name.clone(),
            id: id.clone(),
            created: crate::sys::rfc3339_nanos(std::time::SystemTime::now()),
            driver,
            enable_ipv6,
            internal: req.internal,
            attachable: req.attachable,
            ipam_driver: "default".into(),
            ipam_options: Some(ipam_req.options.unwrap_or_default()),
            ipam_config: Vec::new(),
            user_subnets: false,
            options,
            labels: req.labels.unwrap_or_default(),
            containers: BTreeMap::new(),
        };
        let bridge_name = record.bridge_name();
        if let Some(other) = map.values().find(|e| e.record.driver == "bridge" && e.record.bridge_name() == bridge_name) {
            return Err(ApiError::new(403, format!("cannot create network {id} ({bridge_name}): conflicts with network {} ({}): networks have same bridge name", other.record.id, other.record.bridge_name())));
        }
        let in_use: Vec<IpNet> = map.values().flat_map(|e| e.ipam.subnets().collect::<Vec<_>>()).collect();
        let ipam = build_ipam(&configs, enable_ipv6, &self.pools, &in_use)?;
        record.user_subnets = configs.iter().any(|c| c.subnet.parse::<IpNet>().is_ok_and(|s| s.addr.is_ipv4()));
        record.ipam_config = ipam_config_of(&ipam);
        if let Some(d) = self.driver() {
            d.create(&record).map_err(ApiError::internal)?;
        }
        if let Err(e) = self.save(&record) {
            if let Some(d) = self.driver() {
                let _ = d.remove(&record);
            }
            return Err(e);
        }
        map.insert(id, Entry { record: record.clone(), ipam });
        Ok(record)
    }

    /// `DELETE /networks/{id}`: Docker's 403s for predefined and busy networks; the driver
    /// takes the network down after its record is gone.
    pub fn remove(&self, name_or_id: &str) -> Result<Network, ApiError> {
        let mut map = self.lock();
        let id = Self::find(&map, name_or_id)?;
        let n = &map[&id].record;
        if n.is_predefined() {
            return Err(ApiError::new(403, format!("{} is a pre-defined network and cannot be removed", n.name)));
        }
        if !n.containers.is_empty() {
            return Err(ApiError::new(403, format!("error while removing network: network {} id {} has active endpoints", n.name, n.id)));
        }
        let path = self.dir.join(format!("{id}.json"));
        std::fs::remove_file(&path).map_err(|e| ApiError::internal(format!("error while removing network: {e}")))?;
        // Durable before the driver takes the bridge down: a restart never finds the record
        // of a network whose bridge is gone.
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        let entry = map.remove(&id).ok_or_else(|| not_found(name_or_id))?;
        drop(map);
        if let Some(d) = self.driver() {
            d.remove(&entry.record).map_err(|e| ApiError::internal(format!("error while removing network: {e}")))?;
        }
        Ok(entry.record)
    }

    /// `GET /networks` with Docker's filters.
    pub fn list(&self, f: &Filters) -> Result<Vec<Network>, ApiError> {
        f.validate(&["dangling", "driver", "id", "label", "name", "scope", "type"])?;
        let dangling = match f.get("dangling") {
            [] => None,
            [one] => Some(parse_bool(one).ok_or_else(|| ApiError::bad_request(format!("invalid filter 'dangling={one}'")))?),
            _ => return Err(ApiError::bad_request("got more than one value for filter key \"dangling\"")),
        };
        for t in f.get("type") {
            if t != "custom" && t != "builtin" {
                return Err(ApiError::bad_request(format!("invalid filter: 'type'='{t}'")));
            }
        }
        let matches = |key: &str, value: &str| -> Result<bool, ApiError> {
            if !f.contains(key) {
                return Ok(true);
            }
            for pat in f.get(key) {
                let re = crate::regexp::Regex::new(pat).map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
                if re.is_match(value) {
                    return Ok(true);
                }
            }
            Ok(false)
        };
        let mut out = Vec::new();
        for n in self.list_all() {
            let builtin = n.is_predefined();
            let keep = matches("name", &n.name)?
                && matches("id", &n.id)?
                && (!f.contains("driver") || f.get("driver").contains(&n.driver))
                && (!f.contains("scope") || f.get("scope").iter().any(|s| s == "local"))
                && (!f.contains("type") || f.get("type").iter().any(|t| (t == "builtin") == builtin))
                && f.match_kv_list("label", &n.labels)
                && dangling.is_none_or(|d| d == (!builtin && n.containers.is_empty()));
            if keep {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// `POST /networks/prune`: every user network without endpoints that the `until` and
    /// `label` filters select; returns the removed networks.
    pub fn prune(&self, f: &Filters) -> Result<Vec<Network>, ApiError> {
        f.validate(&["label", "label!", "until"])?;
        let until = f.until()?;
        let mut removed = Vec::new();
        let mut all = self.list_all();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        for n in all {
            if n.is_predefined() || !n.containers.is_empty() || !f.match_labels(&n.labels) {
                continue;
            }
            if let Some(until) = until {
                match crate::sys::parse_rfc3339(&n.created) {
                    Some(created) if created < until => {}
                    _ => continue,
                }
            }
            match self.remove(&n.id) {
                Ok(n) => removed.push(n),
                // Busy since the look, or gone: not pruned, as Docker skips it.
                Err(_) => continue,
            }
        }
        Ok(removed)
    }

    fn entry_mut<'a>(map: &'a mut BTreeMap<String, Entry>, net: &str) -> Result<&'a mut Entry, ApiError> {
        let id = Self::find(map, net)?;
        map.get_mut(&id).ok_or_else(|| not_found(net))
    }

    /// An IPv4 address for an endpoint on `net` (`requested`: `--ip`), with its subnet's
    /// prefix. Docker's errors: outside every subnet, taken, none left, `--ip` on a network
    /// without configured subnets.
    pub fn allocate(&self, net: &str, requested: Option<IpAddr>) -> Result<IpNet, ApiError> {
        self.allocate_family(net, false, requested)
    }

    /// The same for IPv6 (`--ip6`); only on networks with IPv6 enabled.
    pub fn allocate_v6(&self, net: &str, requested: Option<IpAddr>) -> Result<IpNet, ApiError> {
        self.allocate_family(net, true, requested)
    }

    fn allocate_family(&self, net: &str, v6: bool, requested: Option<IpAddr>) -> Result<IpNet, ApiError> {
        let mut map = self.lock();
        let e = Self::entry_mut(&mut map, net)?;
        if let Some(ip) = requested {
            if ip.is_ipv6() != v6 {
                return Err(ApiError::bad_request(format!("invalid IPv{} address: {ip}", if v6 { 6 } else { 4 })));
            }
            if e.record.name == "bridge" {
                return Err(ApiError::bad_request("user specified IP address is supported on user defined networks only"));
            }
            if !v6 && !e.record.user_subnets {
                return Err(ApiError::bad_request("user specified IP address is supported only when connecting to networks with user configured subnets"));
            }
        }
        let ip = e.ipam.allocate(v6, requested).map_err(|m| match m.as_str() {
            ipam::ERR_IN_USE => ApiError::new(403, m),
            ipam::ERR_NO_ADDRESSES => ApiError::new(503, m),
            _ => ApiError::bad_request(m),
        })?;
        let prefix = e.ipam.subnets().find(|s| s.contains(&ip)).map(|s| s.prefix).unwrap_or(if v6 { 64 } else { 24 });
        Ok(IpNet { addr: ip, prefix })
    }

    /// Gives an endpoint's address back to `net`'s pool.
    pub fn release(&self, net: &str, ip: IpAddr) {
        let mut map = self.lock();
        if let Ok(e) = Self::entry_mut(&mut map, net) {
            e.ipam.release(&ip);
        }
    }

    /// Records a container's endpoint (its addresses already allocated) and saves the
    /// network; inspect shows it under `Containers`.
    pub fn add_endpoint(&self, net: &str, container_id: &str, ep: Endpoint) -> Result<(), ApiError> {
        let mut map = self.lock();
        let e = Self::entry_mut(&mut map, net)?;
        for a in [&ep.ipv4_address, &ep.ipv6_address] {
            if let Some(ip) = a.split('/').next().and_then(|s| s.parse::<IpAddr>().ok()) {
                e.ipam.mark_used(ip);
            }
        }
        e.record.containers.insert(container_id.to_string(), ep);
        self.save_update(&e.record)
    }

    /// Drops a container's endpoint and frees its addresses; returns it (None if absent).
    pub fn remove_endpoint(&self, net: &str, container_id: &str) -> Result<Option<Endpoint>, ApiError> {
        let mut map = self.lock();
        let e = Self::entry_mut(&mut map, net)?;
        let Some(ep) = e.record.containers.remove(container_id) else { return Ok(None) };
        for a in [&ep.ipv4_address, &ep.ipv6_address] {
            if let Some(ip) = a.split('/').next().and_then(|s| s.parse::<IpAddr>().ok()) {
                e.ipam.release(&ip);
            }
        }
        self.save_update(&e.record)?;
        Ok(Some(ep))
    }

    /// At daemon start: drops the endpoints of containers `keep` says are gone (not running
    /// any more), freeing their addresses.
    pub fn retain_endpoints(&self, keep: impl Fn(&str) -> bool) {
        let ids: Vec<(String, String)> = self.lock().values().flat_map(|e| e.record.containers.keys().filter(|c| !keep(c)).map(|c| (e.record.id.clone(), c.clone())).collect::<Vec<_>>()).collect();
        for (net, c) in ids {
            let _ = self.remove_endpoint(&net, &c);
        }
    }
}

/// Docker's checks of `--opt` values; unknown options are refused, naming them.
fn validate_bridge_options(options: &BTreeMap<String, String>) -> Result<(), ApiError> {
    let unknown: Vec<&String> = options.keys().filter(|k| !BRIDGE_OPTIONS.contains(&k.as_str())).collect();
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
        return Err(ApiError::bad_request(format!("unsupported bridge driver option(s): {}", names.join(", "))));
    }
    for (k, v) in options {
        let ok = match k.as_str() {
            OPT_ENABLE_ICC | OPT_ENABLE_IP_MASQUERADE | "com.docker.network.bridge.default_bridge" | "com.docker.network.enable_ipv6" => parse_bool(v).is_some(),
            OPT_MTU => v.parse::<u32>().is_ok(),
            OPT_HOST_BINDING_IPV4 => v.parse::<IpAddr>().is_ok(),
            OPT_BRIDGE_NAME => !v.is_empty() && v.len() < 16 && !v.contains(['/', ' ', ':']),
            _ => true,
        };
        if !ok {
            return Err(ApiError::bad_request(format!("invalid value for option {k}: {v:?}")));
        }
    }
    if options.get("com.docker.network.bridge.default_bridge").and_then(|v| parse_bool(v)) == Some(true) {
        return Err(ApiError::new(403, "only one default bridge network is allowed"));
    }
    Ok(())
}

/// The address spaces of a new network: the configured subnets (checked, and refused when
/// they overlap one in use), or one picked from the pools; IPv6 only with `enable_ipv6`.
fn build_ipam(configs: &[IpamConfigRequest], enable_ipv6: bool, pools: &[AddressPool], in_use: &[IpNet]) -> Result<NetworkIpam, ApiError> {
    let mut n = NetworkIpam::default();
    let mut errs = Vec::new();
    let mut taken: Vec<IpNet> = in_use.to_vec();
    for c in configs {
        let bad = |what: &str, v: &str| ApiError::bad_request(format!("invalid {what}: {v}"));
        let subnet = if c.subnet.is_empty() { None } else { Some(c.subnet.parse::<IpNet>().map_err(|_| bad("CIDR address", &c.subnet))?) };
        let range = if c.ip_range.is_empty() { None } else { Some(c.ip_range.parse::<IpNet>().map_err(|_| bad("CIDR address", &c.ip_range))?) };
        let gateway = if c.gateway.is_empty() { None } else { Some(c.gateway.parse::<IpAddr>().map_err(|_| ApiError::bad_request(format!("ParseAddr(\"{}\"): unable to parse IP", c.gateway)))?) };
        let mut aux = BTreeMap::new();
        for (k, v) in c.auxiliary_addresses.clone().unwrap_or_default() {
            aux.insert(k, v.parse::<IpAddr>().map_err(|_| ApiError::bad_request(format!("ParseAddr(\"{v}\"): unable to parse IP")))?);
        }
        let Some(subnet) = subnet else {
            if range.is_some() || gateway.is_some() || !aux.is_empty() {
                return Err(ApiError::bad_request("invalid pool request: ip-range, gateway and aux addresses need a subnet"));
            }
            continue;
        };
        if subnet.addr.is_ipv6() && !enable_ipv6 {
            // Docker ignores IPv6 configs of a network without IPv6.
            continue;
        }
        match Space::new(subnet, range, gateway, aux, true) {
            Ok(space) => {
                if taken.iter().any(|t| t.overlaps(&subnet)) {
                    return Err(ApiError::new(403, ipam::ERR_POOL_OVERLAP));
                }
                taken.push(subnet);
                if subnet.addr.is_ipv4() { n.v4.push(space) } else { n.v6.push(space) }
            }
            Err(e) => errs.push(e.trim_start_matches("invalid network config:\n").to_string()),
        }
    }
    if !errs.is_empty() {
        return Err(ApiError::bad_request(format!("invalid network config:\n{}", errs.join("\n"))));
    }
    if n.v4.is_empty() {
        let subnet = ipam::pick_subnet(pools, &taken, false).map_err(ApiError::internal)?;
        taken.push(subnet);
        n.v4.push(Space::new(subnet, None, None, BTreeMap::new(), true).map_err(ApiError::internal)?);
    }
    if enable_ipv6 && n.v6.is_empty() {
        let subnet = ipam::pick_subnet(pools, &taken, true).map_err(ApiError::internal)?;
        n.v6.push(Space::new(subnet, None, None, BTreeMap::new(), true).map_err(ApiError::internal)?);
    }
    Ok(n)
}

fn ipam_config_of(n: &NetworkIpam) -> Vec<IpamConfig> {
    n.v4.iter()
        .chain(n.v6.iter())
        .map(|s| IpamConfig {
            subnet: s.subnet.to_string(),
            ip_range: s.range.map(|r| r.to_string()).unwrap_or_default(),
            gateway: s.gateway.map(|g| g.to_string()).unwrap_or_default(),
            auxiliary_addresses: s.aux.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> Networks {
        Networks::open(dir, Some(&DefaultBridge::default()), ipam::default_pools()).unwrap()
    }

    fn req(name: &str, subnet: &str) -> CreateRequest {
        let config = if subnet.is_empty() { None } else { Some(vec![IpamConfigRequest { subnet: subnet.into(), ..Default::default() }]) };
        CreateRequest { name: name.into(), ipam: Some(IpamRequest { config, ..Default::default() }), ..Default::default() }
    }

    #[test]
    fn networks_are_created_checked_and_persisted() {
        let dir = std::env::temp_dir().join(format!("dbx-networks-{}", crate::ids::new_id()));
        let s = store(&dir);
        assert_eq!(s.list_all().len(), 3);
        let bridge_id = s.get("bridge").unwrap().id;
        let a = s.create(req("a", "10.99.0.0/24")).unwrap();
        assert_eq!(a.ipam_config[0].gateway, "10.99.0.1");
        assert_eq!(a.bridge_name(), format!("br-{}", &a.id[..12]));
        let auto = s.create(req("auto", "")).unwrap();
        assert_eq!(auto.ipam_config[0].subnet, "172.18.0.0/16");
        assert_eq!(s.create(req("a", "10.98.0.0/24")).unwrap_err().status, 409);
        let overlap = s.create(req("b", "10.99.0.128/25")).unwrap_err();
        assert_eq!((overlap.status, overlap.message.as_str()), (403, ipam::ERR_POOL_OVERLAP));
        assert_eq!(s.create(req("bridge", "")).unwrap_err().status, 403);
        let host = s.create(CreateRequest { name: "h2".into(), driver: "host".into(), ..Default::default() }).unwrap_err();
        assert_eq!(host.message, "only one instance of \"host\" network is allowed");
        let opt = CreateRequest { name: "o".into(), options: Some(BTreeMap::from([("com.docker.network.bogus".into(), "1".into())])), ..Default::default() };
        assert!(s.create(opt).unwrap_err().message.contains("com.docker.network.bogus"));

        assert_eq!(s.allocate("a", None).unwrap().to_string(), "10.99.0.2/24");
        let ip = s.allocate("a", Some("10.99.0.9".parse().unwrap())).unwrap();
        assert_eq!(s.allocate("a", Some("10.99.0.9".parse().unwrap())).unwrap_err().message, "Address already in use");
        assert_eq!(s.allocate("auto", Some("172.18.0.9".parse().unwrap())).unwrap_err().status, 400);
        s.add_endpoint("a", "c1", Endpoint { name: "web".into(), ipv4_address: ip.to_string(), ..Default::default() }).unwrap();
        let busy = s.remove("a").unwrap_err();
        assert_eq!(busy.message, format!("error while removing network: network a id {} has active endpoints", a.id));
        assert_eq!(s.remove("bridge").unwrap_err().message, "bridge is a pre-defined network and cannot be removed");

        // A new store over the same directory: same networks, ids, endpoints, addresses.
        drop(s);
        let s = store(&dir);
        assert_eq!(s.get("bridge").unwrap().id, bridge_id);
        assert_eq!(s.get(&a.id[..10]).unwrap().name, "a");
        assert_eq!(s.allocate("a", Some("10.99.0.9".parse().unwrap())).unwrap_err().status, 403);
        assert!(s.remove_endpoint("a", "c1").unwrap().is_some());
        assert_eq!(s.allocate("a", Some("10.99.0.9".parse().unwrap())).unwrap().addr.to_string(), "10.99.0.9");
        let f = Filters::parse(Some(r#"{"type":["custom"]}"#)).unwrap();
        assert_eq!(s.list(&f).unwrap().len(), 2);
        let pruned = s.prune(&Filters::default()).unwrap();
        assert_eq!(pruned.len(), 2);
        assert_eq!(s.list_all().len(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
