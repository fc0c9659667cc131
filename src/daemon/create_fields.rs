//! Every field of `POST /containers/create`'s body (the Config, `HostConfig` and
//! `NetworkingConfig` schemas of the Engine API) and what this daemon does with it: each is
//! honoured, or refused with a 400 naming it when set to anything but its zero value, as
//! Docker refuses what its platform lacks. Nothing is accepted and then ignored. Also here:
//! Docker's validation of the honoured fields (with its messages), and the defaults Docker
//! fills into a new container's HostConfig.

use serde_json::{json, Map, Value};

/// Where a field sits in the create request's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The body's top level (the `ContainerConfig` schema).
    Config,
    HostConfig,
    NetworkingConfig,
}

/// What the daemon does with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    /// Acted upon, or kept as the metadata Docker keeps it as.
    Honoured,
    /// Refused, when set, with this message.
    Refused(&'static str),
}

pub struct Field {
    pub section: Section,
    pub name: &'static str,
    pub handling: Handling,
}

use Handling::{Honoured, Refused};
use Section::{Config as C, HostConfig as H, NetworkingConfig as N};

const fn f(section: Section, name: &'static str, handling: Handling) -> Field {
    Field { section, name, handling }
}


/// The table. `tests/create_fields.rs` walks the Engine API's Swagger file and fails on any
/// create field missing here.
pub const FIELDS: &[Field] = &[
    // Config (ContainerConfig).
    f(C, "Hostname", Honoured),
    f(C, "Domainname", Honoured),
    f(C, "User", Honoured),
    f(C, "AttachStdin", Honoured),
    f(C, "AttachStdout", Honoured),
    f(C, "AttachStderr", Honoured),
    // Published with PublishAllPorts; shown in inspect and ps either way.
    f(C, "ExposedPorts", Honoured),
    f(C, "Tty", Honoured),
    f(C, "OpenStdin", Honoured),
    f(C, "StdinOnce", Honoured),
    f(C, "Env", Honoured),
    f(C, "Cmd", Honoured),
    // Run by `daemon::health` (NONE, CMD, CMD-SHELL; the image's HEALTHCHECK merged in).
    f(C, "Healthcheck", Honoured),
    // Windows only; a Linux Docker runs the arguments as given too.
    f(C, "ArgsEscaped", Honoured),
    f(C, "Image", Honoured),
    // Anonymous volumes (`daemon::mounts`), with the image's VOLUMEs.
    f(C, "Volumes", Honoured),
    f(C, "WorkingDir", Honoured),
    f(C, "Entrypoint", Honoured),
    // A container already gets a network namespace with only its loopback.
    f(C, "NetworkDisabled", Honoured),
    f(C, "MacAddress", Honoured),
    // Build-time metadata, kept as Docker keeps it.
    f(C, "OnBuild", Honoured),
    f(C, "Labels", Honoured),
    f(C, "StopSignal", Honoured),
    f(C, "StopTimeout", Honoured),
    f(C, "Shell", Honoured),
    // HostConfig: the Resources schema.
    f(H, "CpuShares", Honoured),
    f(H, "Memory", Honoured),
    f(H, "CgroupParent", Honoured),
    f(H, "BlkioWeight", Honoured),
    f(H, "BlkioWeightDevice", Honoured),
    f(H, "BlkioDeviceReadBps", Honoured),
    f(H, "BlkioDeviceWriteBps", Honoured),
    f(H, "BlkioDeviceReadIOps", Honoured),
    f(H, "BlkioDeviceWriteIOps", Honoured),
    f(H, "CpuPeriod", Honoured),
    f(H, "CpuQuota", Honoured),
    f(H, "CpuRealtimePeriod", Honoured),
    f(H, "CpuRealtimeRuntime", Honoured),
    f(H, "CpusetCpus", Honoured),
    f(H, "CpusetMems", Honoured),
    f(H, "Devices", Honoured),
    f(H, "DeviceCgroupRules", Honoured),
    f(H, "DeviceRequests", Refused("could not select device driver for HostConfig.DeviceRequests: this daemon has no device drivers (GPUs, CDI)")),
    f(H, "KernelMemoryTCP", Refused("HostConfig.KernelMemoryTCP is not supported: kernel TCP memory accounting is deprecated (cgroup v1 only) and not limited by this daemon")),
    f(H, "MemoryReservation", Honoured),
    f(H, "MemorySwap", Honoured),
    f(H, "MemorySwappiness", Honoured),
    f(H, "NanoCpus", Honoured),
    f(H, "OomKillDisable", Honoured),
    // docker-init (`--init`).
    f(H, "Init", Honoured),
    f(H, "PidsLimit", Honoured),
    f(H, "Ulimits", Honoured),
    f(H, "CpuCount", Refused("linux does not support CPU count (HostConfig.CpuCount, Windows only)")),
    f(H, "CpuPercent", Refused("linux does not support CPU percent (HostConfig.CpuPercent, Windows only)")),
    f(H, "IOMaximumIOps", Refused("Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps (HostConfig.IOMaximumIOps)")),
    f(H, "IOMaximumBandwidth", Refused("Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps (HostConfig.IOMaximumBandwidth)")),
    // HostConfig proper.
    // Host paths, named and anonymous volumes (`daemon::mounts`).
    f(H, "Binds", Honoured),
    // Written by the client; the daemon keeps it, as Docker's does.
    f(H, "ContainerIDFile", Honoured),
    f(H, "LogConfig", Honoured),
    f(H, "NetworkMode", Honoured),
    f(H, "PortBindings", Honoured),
    f(H, "RestartPolicy", Honoured),
    f(H, "AutoRemove", Honoured),
    // Only `local` (another is Docker's "plugin not found").
    f(H, "VolumeDriver", Honoured),
    f(H, "VolumesFrom", Honoured),
    // bind, volume, tmpfs; other types refused (`daemon::mounts::parse_mount`).
    f(H, "Mounts", Honoured),
    // The size of the tty, set by the terminal code.
    f(H, "ConsoleSize", Honoured),
    f(H, "Annotations", Honoured),
    f(H, "CapAdd", Honoured),
    f(H, "CapDrop", Honoured),
    f(H, "CgroupnsMode", Honoured),
    f(H, "Dns", Honoured),
    f(H, "DnsOptions", Honoured),
    f(H, "DnsSearch", Honoured),
    f(H, "ExtraHosts", Honoured),
    f(H, "GroupAdd", Honoured),
    f(H, "IpcMode", Honoured),
    f(H, "Cgroup", Refused("sharing another container's cgroup (HostConfig.Cgroup) is not supported by this daemon")),
    f(H, "Links", Honoured),
    f(H, "OomScoreAdj", Honoured),
    f(H, "PidMode", Honoured),
    f(H, "Privileged", Honoured),
    f(H, "PublishAllPorts", Honoured),
    f(H, "ReadonlyRootfs", Honoured),
    f(H, "SecurityOpt", Honoured),
    f(H, "StorageOpt", Refused("--storage-opt (HostConfig.StorageOpt) is supported only for overlay over xfs with 'pquota' mount option")),
    f(H, "Tmpfs", Honoured),
    f(H, "UTSMode", Honoured),
    f(H, "UsernsMode", Honoured),
    f(H, "ShmSize", Honoured),
    f(H, "Sysctls", Honoured),
    f(H, "Runtime", Honoured),
    f(H, "Isolation", Honoured),
    f(H, "MaskedPaths", Honoured),
    f(H, "ReadonlyPaths", Honoured),
    // Outside API 1.44's schema, still sent by older clients and by `--kernel-memory`.
    f(H, "KernelMemory", Refused("HostConfig.KernelMemory is not supported: kernel memory limits were removed in API v1.42 (cgroup v2 has none, and cgroup v1 deprecated them in Linux 5.4)")),
    // NetworkingConfig.
    // Of each endpoint, IPAMConfig's addresses, Aliases, Links and MacAddress are honoured
    // (`validate_endpoint`); the rest is refused there.
    f(N, "EndpointsConfig", Honoured),
];

/// Whether `v` is its type's zero value (Go's, as a Docker client sends an unset field):
/// null, false, 0, "", and arrays and objects of zero values only.
pub fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.iter().all(is_zero),
        Value::Object(o) => o.values().all(is_zero),
    }
}

pub fn lookup(section: Section, name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.section == section && f.name == name)
}

/// Refuses the first refused field that is set. Fields the API does not define are left
/// alone, as Docker's decoder leaves them.
pub fn check_refused(config: &Map<String, Value>, host_config: &Value, networking: &Value) -> Result<(), String> {
    let sections = [(C, Some(config)), (H, host_config.as_object()), (N, networking.as_object())];
    for (section, fields) in sections {
        for (name, value) in fields.into_iter().flatten() {
            if let Some(Field { handling: Refused(why), .. }) = lookup(section, name) {
                if !is_zero(value) {
                    return Err(match set_inside(value) {
                        Some(inner) if section == N => format!("{why} (set: {inner})"),
                        _ => why.to_string(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// `network.Field` of the first set field of an EndpointsConfig map.
fn set_inside(value: &Value) -> Option<String> {
    value.as_object()?.iter().find_map(|(network, settings)| {
        let field = settings.as_object()?.iter().find(|(_, v)| !is_zero(v))?.0;
        Some(format!("{network}.{field}"))
    })
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key).and_then(Value::as_array).map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default()
}

fn validate_log_config(h: &Value) -> Result<(), String> {
    let log = h.get("LogConfig").cloned().unwrap_or(Value::Null);
    let opts = log.get("Config").and_then(Value::as_object).cloned().unwrap_or_default();
    crate::logger::validate(str_of(&log, "Type"), &opts)
}

fn validate_restart_policy(h: &Value) -> Result<(), String> {
    let policy = h.get("RestartPolicy").cloned().unwrap_or(Value::Null);
    let name = str_of(&policy, "Name");
    let count = policy.get("MaximumRetryCount").and_then(Value::as_i64).unwrap_or(0);
    let auto_remove = h.get("AutoRemove").and_then(Value::as_bool).unwrap_or(false);
    if auto_remove && !matches!(name, "" | "no") {
        return Err("can't create 'AutoRemove' container with restart policy".into());
    }
    match name {
        "" => return Ok(()),
        "no" | "always" | "unless-stopped" if count != 0 => {
            let mut msg = "invalid restart policy: maximum retry count can only be used with 'on-failure'".to_string();
            if count < 0 {
                msg.push_str(" and cannot be negative");
            }
            return Err(msg);
        }
        "on-failure" if count < 0 => return Err("invalid restart policy: maximum retry count cannot be negative".into()),
        "no" | "always" | "unless-stopped" | "on-failure" => {}
        other => return Err(format!("invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'")),
    }
    Ok(())
}

/// `host`, `private` or the default; anything else is invalid.
fn validate_modes(h: &Value) -> Result<(), String> {
    let ipc = str_of(h, "IpcMode");
    let joins_container = ipc.len() > "container:".len() && ipc.starts_with("container:");
    if !matches!(ipc, "" | "none" | "private" | "shareable" | "host") && !joins_container {
        return Err(format!("invalid IPC mode: {ipc}"));
    }
    let pid = str_of(h, "PidMode");
    let joins_container = pid.len() > "container:".len() && pid.starts_with("container:");
    if !matches!(pid, "" | "host") && !joins_container {
        return Err(format!("invalid PID mode: {pid}"));
    }
    let uts = str_of(h, "UTSMode");
    if !matches!(uts, "" | "host") {
        return Err(format!("invalid UTS mode: {uts}"));
    }
    let cgroupns = str_of(h, "CgroupnsMode");
    if !matches!(cgroupns, "" | "host" | "private") {
        return Err(format!("invalid cgroup namespace mode: {cgroupns}"));
    }
    let userns = str_of(h, "UsernsMode");
    if !matches!(userns, "" | "host") {
        return Err(format!("invalid USER mode: {userns}"));
    }
    let isolation = str_of(h, "Isolation");
    if !matches!(isolation, "" | "default") {
        return Err(format!("invalid isolation '{isolation}' on linux"));
    }
    let network = str_of(h, "NetworkMode");
    match network {
        "" | "default" | "none" | "host" => {}
        n if n.len() > "container:".len() && n.starts_with("container:") => {
            // Docker's conflicts: what the donor's network namespace already decides.
            if !strings(h, "ExtraHosts").is_empty() {
                return Err("conflicting options: custom host-to-IP mapping and the network mode".into());
            }
            if !strings(h, "Dns").is_empty() || !strings(h, "DnsSearch").is_empty() || !strings(h, "DnsOptions").is_empty() {
                return Err("conflicting options: dns and the network mode".into());
            }
            if publishes_ports(h) {
                return Err("conflicting options: port publishing and the container type network mode".into());
            }
            if !strings(h, "Links").is_empty() {
                return Err("conflicting options: container type network can't be used with links. This would result in undefined behavior".into());
            }
        }
        n if n.starts_with("container:") => return Err(format!("network {n} not found")),
        // A network's name or id: daemon::networks resolves it.
        _ => {}
    }
    Ok(())
}

/// Whether a HostConfig asks for published ports (`-p` or `-P`).
pub fn publishes_ports(h: &Value) -> bool {
    h.get("PortBindings").and_then(Value::as_object).is_some_and(|p| !p.is_empty()) || h.get("PublishAllPorts").and_then(Value::as_bool) == Some(true)
}

/// Port keys and bindings, MAC addresses, links and endpoint settings, checked as Docker
/// checks them at create (which networks exist is the caller's to check).
pub fn validate_network_fields(config: &Map<String, Value>, h: &Value, networking: &Value) -> Result<(), String> {
    let port_ok = |p: &str| crate::network::portspec::parse_port_range(p).is_ok();
    for key in config.get("ExposedPorts").and_then(Value::as_object).into_iter().flatten().map(|(k, _)| k) {
        let (_, port) = crate::network::portspec::split_proto_port(key);
        if !port_ok(&port) {
            return Err(format!("invalid port specification: {port:?}"));
        }
    }
    for (key, bindings) in h.get("PortBindings").and_then(Value::as_object).into_iter().flatten() {
        let (_, port) = crate::network::portspec::split_proto_port(key);
        if !port_ok(&port) {
            return Err(format!("invalid port specification: {port:?}"));
        }
        for b in bindings.as_array().into_iter().flatten() {
            let host_port = str_of(b, "HostPort");
            if !host_port.is_empty() && !port_ok(host_port) {
                return Err(format!("invalid port specification: {host_port:?}"));
            }
            let host_ip = str_of(b, "HostIp");
            if !host_ip.is_empty() && !is_ip(host_ip.trim_matches(|c| c == '[' || c == ']')) {
                return Err(format!("invalid IP address: {host_ip}"));
            }
        }
    }
    let mac = str_of(&Value::Object(config.clone()), "MacAddress").to_string();
    if !mac.is_empty() && !is_mac(&mac) {
        return Err(format!("invalid MAC address: {mac}"));
    }
    for link in strings(h, "Links") {
        let name = link.split(':').next().unwrap_or_default();
        if name.trim_start_matches('/').is_empty() || link.split(':').count() > 2 {
            return Err(format!("invalid link format: {link}"));
        }
    }
    for (network, endpoint) in networking.get("EndpointsConfig").and_then(Value::as_object).into_iter().flatten() {
        validate_endpoint(network, endpoint)?;
    }
    Ok(())
}

/// One EndpointsConfig entry (create and `POST /networks/{id}/connect`): the settings a
/// client may ask for are checked, what only the daemon fills in is refused when set.
pub fn validate_endpoint(network: &str, endpoint: &Value) -> Result<(), String> {
    let Some(fields) = endpoint.as_object() else { return Ok(()) };
    for (field, value) in fields {
        match field.as_str() {
            "Aliases" | "Links" => {}
            "MacAddress" => {
                let mac = value.as_str().unwrap_or_default();
                if !mac.is_empty() && !is_mac(mac) {
                    return Err(format!("invalid MAC address: {mac}"));
                }
            }
            "IPAMConfig" => {
                for (k, v) in value.as_object().into_iter().flatten() {
                    let text = v.as_str().unwrap_or_default();
                    match k.as_str() {
                        "IPv4Address" if !text.is_empty() && text.parse::<std::net::Ipv4Addr>().is_err() => return Err(format!("invalid IPv4 address: {text}")),
                        "IPv6Address" if !text.is_empty() && text.parse::<std::net::Ipv6Addr>().is_err() => return Err(format!("invalid IPv6 address: {text}")),
                        "IPv4Address" | "IPv6Address" => {}
                        _ if is_zero(v) => {}
                        other => return Err(format!("invalid NetworkingConfig.EndpointsConfig: {network}.IPAMConfig.{other} is not supported")),
                    }
                }
            }
            _ if is_zero(value) => {}
            other => return Err(format!("invalid NetworkingConfig.EndpointsConfig: {network}.{other} is not supported")),
        }
    }
    Ok(())
}

fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6 && parts.iter().all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// An IP address as Go's net.ParseIP takes it.
fn is_ip(s: &str) -> bool {
    s.trim().parse::<std::net::IpAddr>().is_ok()
}

fn validate_extra_hosts(h: &Value, host_gateway_ip: Option<&str>) -> Result<(), String> {
    for entry in strings(h, "ExtraHosts") {
        let (name, ip) = split_extra_host(&entry).ok_or_else(|| format!("bad format for add-host: \"{entry}\""))?;
        if name.is_empty() {
            return Err(format!("bad format for add-host: \"{entry}\""));
        }
        if ip == "host-gateway" {
            if host_gateway_ip.is_none() {
                return Err("unable to derive the IP value for host-gateway: this daemon has no bridge network; set dockerd's --host-gateway-ip".into());
            }
        } else if !is_ip(&ip) {
            return Err(format!("invalid IP address in add-host: \"{ip}\""));
        }
    }
    Ok(())
}

/// `name:ip` (the first colon; IPv6 may follow, bracketed or not) or `name=ip`.
pub fn split_extra_host(entry: &str) -> Option<(String, String)> {
    let (name, ip) = match (entry.find('='), entry.find(':')) {
        (Some(e), Some(c)) if e < c => entry.split_once('=')?,
        (Some(_), None) => entry.split_once('=')?,
        _ => entry.split_once(':')?,
    };
    let ip = ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')).unwrap_or(ip);
    Some((name.to_string(), ip.to_string()))
}

fn validate_dns(h: &Value) -> Result<(), String> {
    for ip in strings(h, "Dns") {
        if !is_ip(&ip) {
            return Err(format!("IP address is not correctly formatted: {ip}"));
        }
    }
    for domain in strings(h, "DnsSearch") {
        let d = domain.trim();
        if d != "." && (d.is_empty() || d.len() > 255 || !d.chars().any(|c| c.is_ascii_alphabetic()) || d.starts_with('-') || d.contains(char::is_whitespace)) {
            return Err(format!("{domain} is not a valid domain"));
        }
    }
    Ok(())
}

fn validate_binds(h: &Value) -> Result<(), String> {
    super::mounts::validate(h)
}

/// `c 1:3 rwm`, `a *:* m`: Docker's device cgroup rule syntax.
pub fn parse_device_cgroup_rule(rule: &str) -> Result<Value, String> {
    let bad = || format!("invalid device cgroup rule format: '{rule}'");
    let parts: Vec<&str> = rule.split(' ').collect();
    let [kind, numbers, access] = parts.as_slice() else { return Err(bad()) };
    if !matches!(*kind, "a" | "b" | "c") || access.is_empty() || access.len() > 3 || !access.chars().all(|c| "rwm".contains(c)) {
        return Err(bad());
    }
    let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
    let number = |n: &str| -> Result<Value, String> {
        match n {
            "*" => Ok(Value::Null),
            n if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n.parse::<i64>().map(|n| json!(n)).map_err(|_| bad()),
            _ => Err(bad()),
        }
    };
    let mut r = json!({"allow": true, "type": kind, "access": access});
    for (key, n) in [("major", number(major)?), ("minor", number(minor)?)] {
        if !n.is_null() {
            r[key] = n;
        }
    }
    Ok(r)
}

fn validate_devices(h: &Value) -> Result<(), String> {
    for d in h.get("Devices").and_then(Value::as_array).into_iter().flatten() {
        let host = str_of(d, "PathOnHost");
        let perms = str_of(d, "CgroupPermissions");
        if host.is_empty() {
            return Err("invalid device mapping: PathOnHost is empty".into());
        }
        let in_container = str_of(d, "PathInContainer");
        if !in_container.is_empty() && !in_container.starts_with('/') {
            return Err(format!("{in_container} is not an absolute path"));
        }
        if perms.is_empty() || perms.len() > 3 || !perms.chars().all(|c| "rwm".contains(c)) {
            return Err(format!("{host} invalid device mode: {perms}"));
        }
    }
    for rule in strings(h, "DeviceCgroupRules") {
        parse_device_cgroup_rule(&rule)?;
    }
    Ok(())
}

/// The sysctls a container may set: those of the namespaces it has of its own (as runc
/// checks them), never the host's.
fn validate_sysctls(h: &Value) -> Result<(), String> {
    let Some(map) = h.get("Sysctls").and_then(Value::as_object) else { return Ok(()) };
    let host_net = str_of(h, "NetworkMode") == "host";
    let host_ipc = str_of(h, "IpcMode") == "host";
    let host_uts = str_of(h, "UTSMode") == "host";
    const IPC: &[&str] = &["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"];
    for key in map.keys() {
        let ipc = IPC.contains(&key.as_str()) || key.starts_with("fs.mqueue.");
        let net = key.starts_with("net.");
        let uts = key == "kernel.hostname" || key == "kernel.domainname";
        if key.contains("..") || key.contains('/') {
            return Err(format!("sysctl {key:?} is not valid"));
        }
        if (ipc && host_ipc) || (net && host_net) || (uts && host_uts) {
            return Err(format!("sysctl {key:?} not allowed in host namespace"));
        }
        if uts {
            return Err(format!("sysctl {key:?} is not allowed as it conflicts with the container's hostname or domainname settings"));
        }
        if !ipc && !net {
            return Err(format!("sysctl {key:?} is not in a separate kernel namespace"));
        }
        if map.get(key).is_some_and(|v| !v.is_string()) {
            return Err(format!("sysctl {key:?}: its value must be a string"));
        }
    }
    Ok(())
}

/// `nofile`, `nproc`, ...: the rlimits Docker's `--ulimit` knows.
pub const ULIMITS: &[(&str, &str)] = &[
    ("core", "RLIMIT_CORE"), ("cpu", "RLIMIT_CPU"), ("data", "RLIMIT_DATA"), ("fsize", "RLIMIT_FSIZE"),
    ("locks", "RLIMIT_LOCKS"), ("memlock", "RLIMIT_MEMLOCK"), ("msgqueue", "RLIMIT_MSGQUEUE"), ("nice", "RLIMIT_NICE"),
    ("nofile", "RLIMIT_NOFILE"), ("nproc", "RLIMIT_NPROC"), ("rss", "RLIMIT_RSS"), ("rtprio", "RLIMIT_RTPRIO"),
    ("rttime", "RLIMIT_RTTIME"), ("sigpending", "RLIMIT_SIGPENDING"), ("stack", "RLIMIT_STACK"), ("as", "RLIMIT_AS"),
];

fn validate_ulimits(h: &Value) -> Result<(), String> {
    for u in h.get("Ulimits").and_then(Value::as_array).into_iter().flatten() {
        let name = str_of(u, "Name");
        if !ULIMITS.iter().any(|(n, _)| *n == name) {
            return Err(format!("invalid ulimit type: {name}"));
        }
        let (soft, hard) = (u.get("Soft").and_then(Value::as_i64).unwrap_or(0), u.get("Hard").and_then(Value::as_i64).unwrap_or(0));
        if soft > hard && hard != -1 {
            return Err(format!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"));
        }
    }
    Ok(())
}

/// What `--security-opt` may say here: seccomp off, no-new-privileges, and the LSM settings
/// that mean "none" (there is no AppArmor or SELinux policy here).
fn validate_security_opts(h: &Value) -> Result<(), String> {
    for opt in strings(h, "SecurityOpt") {
        let (key, value) = opt.split_once('=').or_else(|| opt.split_once(':')).unwrap_or((opt.as_str(), ""));
        match (key, value) {
            ("no-new-privileges", "" | "true" | "false") => {}
            ("seccomp", "unconfined") | ("apparmor", "unconfined") | ("label", "disable") => {}
            ("writable-cgroups", "true" | "false") => {}
            ("seccomp" | "apparmor" | "label", _) => {
                return Err(format!("security option {opt:?} (HostConfig.SecurityOpt) is not supported by this daemon: only seccomp=unconfined, apparmor=unconfined and label=disable"));
            }
            _ => return Err(format!("invalid --security-opt 1: {opt:?}")),
        }
    }
    Ok(())
}

fn validate_capabilities(h: &Value) -> Result<(), String> {
    for (key, what) in [("CapAdd", "CapAdd"), ("CapDrop", "CapDrop")] {
        for cap in strings(h, key) {
            if normalize_capability(&cap).is_none() {
                let upper = cap.to_ascii_uppercase();
                let full = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
                return Err(format!("invalid {what}: unknown capability: \"{full}\""));
            }
        }
    }
    Ok(())
}

/// `net_admin`, `CAP_NET_ADMIN` → `CAP_NET_ADMIN`; `ALL` stays `ALL`.
pub fn normalize_capability(cap: &str) -> Option<String> {
    let upper = cap.to_ascii_uppercase();
    if upper == "ALL" {
        return Some(upper);
    }
    let full = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
    caps::all().iter().any(|c| c.to_string() == full).then_some(full)
}

fn validate_config(config: &Map<String, Value>, h: &Value) -> Result<(), String> {
    let c = Value::Object(config.clone());
    let wd = str_of(&c, "WorkingDir");
    if !wd.is_empty() && !wd.starts_with('/') {
        return Err(format!("the working directory '{wd}' is invalid, it needs to be an absolute path"));
    }
    let stop = str_of(&c, "StopSignal");
    if !stop.is_empty() && crate::signals::parse_signal(stop).is_none() {
        return Err(format!("Invalid signal: {stop}"));
    }
    if let Some(t) = c.get("StopTimeout").filter(|t| !t.is_null()) {
        if !t.is_i64() {
            return Err("invalid Config.StopTimeout: it must be a whole number of seconds".into());
        }
    }
    for e in strings(&c, "Env") {
        if e.is_empty() || e.starts_with('=') {
            return Err(format!("invalid environment variable: {e}"));
        }
    }
    super::healthcheck::validate(config)?;
    if !str_of(&c, "Hostname").is_empty() && str_of(h, "UTSMode") == "host" {
        return Err("conflicting options: hostname and the UTS mode".into());
    }
    if !str_of(&c, "Hostname").is_empty() && str_of(h, "NetworkMode").starts_with("container:") {
        return Err("conflicting options: hostname and the network mode".into());
    }
    Ok(())
}

/// Docker's checks of a create request, beyond the resource limits, with its messages.
pub fn validate(config: &Map<String, Value>, h: &Value, host_gateway_ip: Option<&str>) -> Result<(), String> {
    validate_config(config, h)?;
    validate_restart_policy(h)?;
    validate_extra_hosts(h, host_gateway_ip)?;
    validate_capabilities(h)?;
    validate_modes(h)?;
    if h.get("ShmSize").and_then(Value::as_i64).unwrap_or(0) < 0 {
        return Err("SHM size can not be less than 0".into());
    }
    let oom = h.get("OomScoreAdj").and_then(Value::as_i64).unwrap_or(0);
    if !(-1000..=1000).contains(&oom) {
        return Err(format!("Invalid value {oom}, range for oom score adj is [-1000, 1000]"));
    }
    // Runtime names are the daemon's (`config::apply_create_defaults` checks them).
    for (key, _) in h.get("Annotations").and_then(Value::as_object).into_iter().flatten() {
        if key.is_empty() {
            return Err("invalid Annotations: the empty string is not permitted as an annotation key".into());
        }
    }
    for dest in h.get("Tmpfs").and_then(Value::as_object).into_iter().flatten().map(|(k, _)| k) {
        if !dest.starts_with('/') {
            return Err(format!("invalid mount config for type \"tmpfs\": invalid mount path: '{dest}' mount path must be absolute"));
        }
        if dest == "/" {
            return Err("invalid mount config for type \"tmpfs\": invalid specification: destination can't be '/'".into());
        }
    }
    for g in strings(h, "GroupAdd") {
        if g.is_empty() {
            return Err("invalid GroupAdd: a group name or number is empty".into());
        }
    }
    validate_binds(h)?;
    validate_log_config(h)?;
    validate_dns(h)?;
    validate_devices(h)?;
    validate_sysctls(h)?;
    validate_ulimits(h)?;
    validate_security_opts(h)?;
    let swappiness = h.get("MemorySwappiness").and_then(Value::as_i64).unwrap_or(-1);
    if swappiness != -1 && !(0..=100).contains(&swappiness) {
        return Err(format!("Invalid value: {swappiness}, valid memory swappiness range is 0-100"));
    }
    for (key, name) in [("CpuShares", "CPU shares"), ("CpuQuota", "CPU quota"), ("CpuPeriod", "CPU period"), ("CpuRealtimePeriod", "CPU real-time period"), ("CpuRealtimeRuntime", "CPU real-time runtime")] {
        let v = h.get(key).and_then(Value::as_i64).unwrap_or(0);
        if v < 0 && !(key == "CpuQuota" && v == -1) {
            return Err(format!("invalid {key}: {name} can not be negative ({v})"));
        }
    }
    Ok(())
}

/// Whether the host's cgroups are cgroup v2 only.
fn unified_cgroups() -> bool {
    std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Docker's HostConfig as inspect shows it: every field, unset ones at their zero value, and
/// the daemon's defaults filled in (log driver, restart policy, /dev/shm size, IPC and cgroup
/// namespace modes, runtime, masked and read-only paths).
pub fn fill_host_config(h: &Value, default_masked: &[&str], default_readonly: &[&str]) -> Value {
    let mut out = json!({
        "Binds": null, "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": {}}, "NetworkMode": "",
        "PortBindings": {}, "RestartPolicy": {"Name": "", "MaximumRetryCount": 0}, "AutoRemove": false,
        "VolumeDriver": "", "VolumesFrom": null, "ConsoleSize": [0, 0], "CapAdd": null,
        "CapDrop": null, "CgroupnsMode": "", "Dns": null, "DnsOptions": null, "DnsSearch": null,
        "ExtraHosts": null, "GroupAdd": null, "IpcMode": "", "Cgroup": "", "Links": null, "OomScoreAdj": 0,
        "PidMode": "", "Privileged": false, "PublishAllPorts": false, "ReadonlyRootfs": false,
        "SecurityOpt": null, "StorageOpt": null, "Tmpfs": null, "UTSMode": "", "UsernsMode": "", "ShmSize": 0,
        "Sysctls": null, "Runtime": "", "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0,
        "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": null, "BlkioDeviceReadBps": null,
        "BlkioDeviceWriteBps": null, "BlkioDeviceReadIOps": null, "BlkioDeviceWriteIOps": null, "CpuPeriod": 0,
        "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "",
        "Devices": null, "DeviceCgroupRules": null, "DeviceRequests": null, "MemoryReservation": 0,
        "MemorySwap": 0, "MemorySwappiness": null, "OomKillDisable": null, "PidsLimit": null, "Ulimits": null,
        "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0, "MaskedPaths": null,
        "ReadonlyPaths": null,
    });
    if let (Some(o), Some(given)) = (out.as_object_mut(), h.as_object()) {
        for (k, v) in given {
            // Docker's omitempty fields stay out unless set (a pointer field, like Init, is
            // set when it is not null: `"Init": false` overrides dockerd's --init).
            if (OMITTED_WHEN_EMPTY.contains(&k.as_str()) && is_zero(v)) || (OMITTED_WHEN_NULL.contains(&k.as_str()) && v.is_null()) {
                continue;
            }
            o.insert(k.clone(), v.clone());
        }
    }
    if str_of(&out["LogConfig"], "Type").is_empty() {
        out["LogConfig"]["Type"] = json!("json-file");
    }
    if out["LogConfig"]["Config"].is_null() {
        out["LogConfig"]["Config"] = json!({});
    }
    if str_of(&out["RestartPolicy"], "Name").is_empty() {
        out["RestartPolicy"] = json!({"Name": "no", "MaximumRetryCount": out["RestartPolicy"].get("MaximumRetryCount").cloned().unwrap_or(json!(0))});
    }
    if str_of(&out, "NetworkMode").is_empty() {
        out["NetworkMode"] = json!("default");
    }
    if out["ShmSize"].as_i64().unwrap_or(0) == 0 {
        out["ShmSize"] = json!(DEFAULT_SHM_SIZE);
    }
    if str_of(&out, "IpcMode").is_empty() {
        out["IpcMode"] = json!("private");
    }
    if str_of(&out, "CgroupnsMode").is_empty() {
        let privileged = out["Privileged"].as_bool().unwrap_or(false);
        out["CgroupnsMode"] = json!(if unified_cgroups() && !privileged { "private" } else { "host" });
    }
    if str_of(&out, "Runtime").is_empty() {
        out["Runtime"] = json!("runc");
    }
    let memory = out["Memory"].as_i64().unwrap_or(0);
    if memory > 0 && out["MemorySwap"].as_i64().unwrap_or(0) == 0 {
        out["MemorySwap"] = json!(memory * 2);
    }
    if out["OomKillDisable"].is_null() {
        out["OomKillDisable"] = json!(false);
    }
    if out["ConsoleSize"].is_null() {
        out["ConsoleSize"] = json!([0, 0]);
    }
    let privileged = out["Privileged"].as_bool().unwrap_or(false);
    if out["MaskedPaths"].is_null() && !privileged {
        out["MaskedPaths"] = json!(default_masked);
    }
    if out["ReadonlyPaths"].is_null() && !privileged {
        out["ReadonlyPaths"] = json!(default_readonly);
    }
    out
}

/// HostConfig fields Docker leaves out of inspect when unset.
const OMITTED_WHEN_EMPTY: &[&str] = &["Annotations", "KernelMemory", "KernelMemoryTCP"];
/// HostConfig's pointer fields Docker leaves out of inspect when null.
const OMITTED_WHEN_NULL: &[&str] = &["Init"];

/// Docker's default /dev/shm: 64 MiB.
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: Value) -> Result<(), String> {
        let mut config = body.as_object().cloned().unwrap();
        let h = config.remove("HostConfig").unwrap_or(json!({}));
        let n = config.remove("NetworkingConfig").unwrap_or(json!({}));
        check_refused(&config, &h, &n)?;
        validate_network_fields(&config, &h, &n)?;
        validate(&config, &h, None)
    }

    #[test]
    fn init_false_is_kept_and_a_null_init_left_out() {
        assert_eq!(fill_host_config(&json!({"Init": false}), &[], &[])["Init"], json!(false));
        assert!(fill_host_config(&json!({"Init": null}), &[], &[]).get("Init").is_none());
    }

    #[test]
    fn zero_values_of_refused_fields_pass_and_set_ones_are_named() {
        let cli_defaults = json!({"Image": "x", "Volumes": null, "MacAddress": "", "HostConfig": {"PortBindings": {}, "Links": null, "CpuCount": 0, "LogConfig": {"Type": "", "Config": {}}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "NetworkMode": "default", "ConsoleSize": [0, 0]}, "NetworkingConfig": {"EndpointsConfig": {}}});
        assert_eq!(refused(cli_defaults), Ok(()));
        assert_eq!(refused(json!({"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "8080"}]}}})), Ok(()));
        assert_eq!(refused(json!({"HostConfig": {"PortBindings": {"80x/tcp": [{"HostPort": "8080"}]}}})), Err("invalid port specification: \"80x\"".into()));
        assert_eq!(refused(json!({"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "http"}]}}})), Err("invalid port specification: \"http\"".into()));
        let e = refused(json!({"HostConfig": {"KernelMemory": 8388608}})).unwrap_err();
        assert!(e.contains("HostConfig.KernelMemory"), "{e}");
        assert_eq!(refused(json!({"MacAddress": "92:d0:c6:0a:29:33"})), Ok(()));
        assert_eq!(refused(json!({"MacAddress": "92:d0:c6:0a:29"})), Err("invalid MAC address: 92:d0:c6:0a:29".into()));
        assert_eq!(refused(json!({"NetworkingConfig": {"EndpointsConfig": {"front": {"Aliases": ["a"], "IPAMConfig": {"IPv4Address": "10.1.0.9"}}}}})), Ok(()));
        let e = refused(json!({"NetworkingConfig": {"EndpointsConfig": {"front": {"DriverOpts": {"a": "b"}}}}})).unwrap_err();
        assert!(e.contains("front.DriverOpts"), "{e}");
        let e = refused(json!({"NetworkingConfig": {"EndpointsConfig": {"front": {"IPAMConfig": {"IPv4Address": "10.1.0"}}}}})).unwrap_err();
        assert_eq!(e, "invalid IPv4 address: 10.1.0");
    }

    #[test]
    fn dockers_validation_messages() {
        let h = |h: Value| refused(json!({"HostConfig": h})).unwrap_err();
        assert_eq!(h(json!({"NetworkMode": "container:x", "PortBindings": {"80/tcp": [{"HostPort": "1"}]}})), "conflicting options: port publishing and the container type network mode");
        assert!(h(json!({"NetworkMode": "container:x", "Links": ["a:b"]})).starts_with("conflicting options: container type network can't be used with links"));
        assert_eq!(h(json!({"RestartPolicy": {"Name": "sometimes"}})), "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'");
        assert_eq!(h(json!({"RestartPolicy": {"Name": "always", "MaximumRetryCount": 3}})), "invalid restart policy: maximum retry count can only be used with 'on-failure'");
        assert_eq!(h(json!({"RestartPolicy": {"Name": "no", "MaximumRetryCount": -1}})), "invalid restart policy: maximum retry count can only be used with 'on-failure' and cannot be negative");
        assert_eq!(h(json!({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": -1}})), "invalid restart policy: maximum retry count cannot be negative");
        assert_eq!(h(json!({"AutoRemove": true, "RestartPolicy": {"Name": "always"}})), "can't create 'AutoRemove' container with restart policy");
        assert_eq!(h(json!({"LogConfig": {"Type": "bogus"}})), "logger: no log driver named 'bogus' is registered");
        assert!(h(json!({"LogConfig": {"Type": "gelf"}})).contains("'gelf'"));
        assert_eq!(h(json!({"LogConfig": {"Type": "json-file", "Config": {"nope": "1"}}})), "unknown log opt 'nope' for json-file log driver");
        assert_eq!(h(json!({"IpcMode": "weird"})), "invalid IPC mode: weird");
        assert_eq!(h(json!({"PidMode": "weird"})), "invalid PID mode: weird");
        assert_eq!(h(json!({"UTSMode": "private"})), "invalid UTS mode: private");
        assert_eq!(h(json!({"CgroupnsMode": "x"})), "invalid cgroup namespace mode: x");
        assert_eq!(h(json!({"ShmSize": -1})), "SHM size can not be less than 0");
        assert_eq!(h(json!({"OomScoreAdj": 1001})), "Invalid value 1001, range for oom score adj is [-1000, 1000]");
        assert_eq!(h(json!({"ExtraHosts": ["nocolon"]})), "bad format for add-host: \"nocolon\"");
        assert_eq!(h(json!({"ExtraHosts": ["a:notanip"]})), "invalid IP address in add-host: \"notanip\"");
        assert!(h(json!({"ExtraHosts": ["gw:host-gateway"]})).contains("--host-gateway-ip"));
        assert_eq!(h(json!({"Dns": ["1.2.3"]})), "IP address is not correctly formatted: 1.2.3");
        assert_eq!(h(json!({"CapAdd": ["CAP_BOGUS"]})), "invalid CapAdd: unknown capability: \"CAP_BOGUS\"");
        assert_eq!(h(json!({"DeviceCgroupRules": ["c 1:3 rwx"]})), "invalid device cgroup rule format: 'c 1:3 rwx'");
        assert_eq!(h(json!({"Sysctls": {"kernel.panic": "1"}})), "sysctl \"kernel.panic\" is not in a separate kernel namespace");
        assert_eq!(h(json!({"CpuShares": -2})), "invalid CpuShares: CPU shares can not be negative (-2)");
        assert_eq!(h(json!({"MemorySwappiness": 101})), "Invalid value: 101, valid memory swappiness range is 0-100");
        let c = |c: Value| refused(c).unwrap_err();
        assert_eq!(c(json!({"StopSignal": "SIGNOPE"})), "Invalid signal: SIGNOPE");
        assert_eq!(c(json!({"WorkingDir": "rel"})), "the working directory 'rel' is invalid, it needs to be an absolute path");
        assert_eq!(refused(json!({"HostConfig": {"ExtraHosts": ["a:1.2.3.4", "b=::1", "c:[::2]"], "Sysctls": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1"}}})), Ok(()));
    }

    #[test]
    fn extra_hosts_and_rules_parse() {
        assert_eq!(split_extra_host("a:1.2.3.4"), Some(("a".into(), "1.2.3.4".into())));
        assert_eq!(split_extra_host("b=::1"), Some(("b".into(), "::1".into())));
        assert_eq!(split_extra_host("c:[::2]"), Some(("c".into(), "::2".into())));
        assert_eq!(split_extra_host("d:::3"), Some(("d".into(), "::3".into())));
        assert_eq!(parse_device_cgroup_rule("c 1:3 rwm").unwrap(), json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}));
        assert_eq!(parse_device_cgroup_rule("b *:* m").unwrap(), json!({"allow": true, "type": "b", "access": "m"}));
        assert!(parse_device_cgroup_rule("c 1:3").is_err());
        assert_eq!(normalize_capability("net_admin").as_deref(), Some("CAP_NET_ADMIN"));
    }

    #[test]
    fn inspect_host_config_has_dockers_defaults() {
        let h = fill_host_config(&json!({"Memory": 8388608}), &["/proc/kcore"], &["/proc/sys"]);
        assert_eq!(h["LogConfig"], json!({"Type": "json-file", "Config": {}}));
        assert_eq!(h["RestartPolicy"], json!({"Name": "no", "MaximumRetryCount": 0}));
        assert_eq!((h["ShmSize"].as_i64(), h["IpcMode"].as_str(), h["Runtime"].as_str()), (Some(67108864), Some("private"), Some("runc")));
        assert_eq!(h["MemorySwap"], 16777216);
        assert_eq!(h["MaskedPaths"], json!(["/proc/kcore"]));
        assert_eq!(h["GroupAdd"], Value::Null);
        assert!(h["CgroupnsMode"] == "host" || h["CgroupnsMode"] == "private");
    }
}
