//! The host-facing flags of `docker run`/`docker create` (`--add-host`, `--dns*`,
//! `--device`, `--group-add`, `--restart`, `--log-driver`, namespace modes, `--sysctl`,
//! `--cap-add`, ...) checked as the real CLI checks them and turned into the Config,
//! HostConfig and NetworkingConfig fields it sends. What the daemon cannot do it refuses.

use super::flags::{flag, Kind, Parsed, Spec};
use serde_json::{json, Map, Value};

pub const FLAGS: &[Spec] = &[
    flag("add-host", None, Kind::List, "Add a custom host-to-IP mapping (host:ip)"),
    flag("annotation", None, Kind::List, "Add an annotation to the container (passed through to the OCI runtime) (default map[])"),
    flag("blkio-weight-device", None, Kind::List, "Block IO weight (relative device weight) (default [])"),
    flag("cap-add", None, Kind::List, "Add Linux capabilities"),
    flag("cap-drop", None, Kind::List, "Drop Linux capabilities"),
    flag("cgroupns", None, Kind::Value, "Cgroup namespace to use (host|private)"),
    flag("cidfile", None, Kind::Value, "Write the container ID to the file"),
    flag("cpu-rt-period", None, Kind::Value, "Limit CPU real-time period in microseconds"),
    flag("cpu-rt-runtime", None, Kind::Value, "Limit CPU real-time runtime in microseconds"),
    flag("device", None, Kind::List, "Add a host device to the container"),
    flag("device-cgroup-rule", None, Kind::List, "Add a rule to the cgroup allowed devices list"),
    flag("dns", None, Kind::List, "Set custom DNS servers"),
    flag("dns-opt", None, Kind::List, "Set DNS options"),
    flag("dns-option", None, Kind::List, "Set DNS options"),
    flag("dns-search", None, Kind::List, "Set custom DNS search domains"),
    flag("domainname", None, Kind::Value, "Container NIS domain name"),
    flag("expose", None, Kind::List, "Expose a port or a range of ports"),
    flag("group-add", None, Kind::List, "Add additional groups to join"),
    flag("ipc", None, Kind::Value, "IPC mode to use"),
    flag("kernel-memory", None, Kind::Value, "Kernel memory limit"),
    flag("link", None, Kind::List, "Add link to another container"),
    flag("log-driver", None, Kind::Value, "Logging driver for the container"),
    flag("log-opt", None, Kind::List, "Log driver options"),
    flag("mac-address", None, Kind::Value, "Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
    flag("network", None, Kind::Value, "Connect a container to a network"),
    flag("net", None, Kind::Value, "Connect a container to a network"),
    flag("oom-score-adj", None, Kind::Value, "Tune host's OOM preferences (-1000 to 1000)"),
    flag("pid", None, Kind::Value, "PID namespace to use"),
    flag("privileged", None, Kind::Bool, "Give extended privileges to this container"),
    flag("publish", Some('p'), Kind::List, "Publish a container's port(s) to the host"),
    flag("read-only", None, Kind::Bool, "Mount the container's root filesystem as read only"),
    flag("restart", None, Kind::Value, "Restart policy to apply when a container exits (default \"no\")"),
    flag("runtime", None, Kind::Value, "Runtime to use for this container"),
    flag("security-opt", None, Kind::List, "Security Options"),
    flag("shm-size", None, Kind::Value, "Size of /dev/shm"),
    flag("stop-signal", None, Kind::Value, "Signal to stop the container"),
    flag("stop-timeout", None, Kind::Value, "Timeout (in seconds) to stop a container"),
    flag("sysctl", None, Kind::List, "Sysctl options (default map[])"),
    flag("tmpfs", None, Kind::List, "Mount a tmpfs directory"),
    flag("ulimit", None, Kind::List, "Ulimit options (default [])"),
    flag("userns", None, Kind::Value, "User namespace to use"),
    flag("uts", None, Kind::Value, "UTS namespace to use"),
];

fn bad(value: &str, long: &str, why: impl std::fmt::Display) -> String {
    format!("invalid argument \"{value}\" for \"--{long}\" flag: {why}")
}

/// Each value of a list flag through `check` (the real CLI checks them as it parses).
fn checked(p: &Parsed, long: &str, check: impl Fn(&str) -> Result<String, String>) -> Result<Vec<String>, String> {
    p.list(long).into_iter().map(|v| check(v).map_err(|e| bad(v, long, e))).collect()
}

fn parse_int(p: &Parsed, long: &str) -> Result<Option<i64>, String> {
    p.value(long).map(|v| v.parse::<i64>().map_err(|_| bad(v, long, format!("strconv.ParseInt: parsing \"{v}\": invalid syntax")))).transpose()
}

fn validate_ip(v: &str) -> Result<String, String> {
    v.trim().parse::<std::net::IpAddr>().map(|ip| ip.to_string()).map_err(|_| format!("IP address is not correctly formatted: {v}"))
}

/// `name:ip` or `name=ip`, sent as `name:ip`.
fn validate_extra_host(v: &str) -> Result<String, String> {
    let (name, ip) = v.split_once('=').or_else(|| v.split_once(':')).ok_or_else(|| format!("bad format for add-host: \"{v}\""))?;
    if name.is_empty() || name.contains(':') {
        return Err(format!("bad format for add-host: \"{v}\""));
    }
    if ip != "host-gateway" {
        let bare = if ip.len() > 2 && ip.starts_with('[') && ip.ends_with(']') { &ip[1..ip.len() - 1] } else { ip };
        validate_ip(bare).map_err(|_| format!("invalid IP address in add-host: \"{bare}\""))?;
    }
    Ok(format!("{name}:{ip}"))
}

/// The sysctls the real CLI lets through: those of namespaces a container can own.
fn validate_sysctl(v: &str) -> Result<String, String> {
    const IPC: &[&str] = &["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"];
    let key = v.split('=').next().unwrap_or("");
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") || key.starts_with("net.") {
        Ok(v.to_string())
    } else {
        Err(format!("sysctl '{v}' is not allowed"))
    }
}

fn valid_device_mode(mode: &str) -> bool {
    let mut seen = String::new();
    !mode.is_empty() && mode.chars().all(|c| "rwm".contains(c) && !seen.contains(c) && { seen.push(c); true })
}

/// `host[:container][:perms]` as a DeviceMapping.
fn parse_device(v: &str) -> Result<Value, String> {
    let parts: Vec<&str> = v.split(':').collect();
    if parts.len() > 3 {
        return Err(format!("bad format for path: {v}"));
    }
    let (mut dst, mut perms) = ("", "rwm");
    match parts.as_slice() {
        [_, second, third] => {
            dst = second;
            perms = third;
            if !valid_device_mode(third) {
                return Err(format!("bad mode specified: {third}"));
            }
        }
        [_, second] if valid_device_mode(second) => perms = second,
        [_, second] => dst = second,
        _ => {}
    }
    let src = parts[0];
    for path in [src, dst].into_iter().filter(|p| !p.is_empty()) {
        if !path.starts_with('/') {
            return Err(format!("{path} is not an absolute path"));
        }
    }
    let dst = if dst.is_empty() { src } else { dst };
    Ok(json!({"PathOnHost": src, "PathInContainer": dst, "CgroupPermissions": perms}))
}

/// `name=soft[:hard]`.
fn parse_ulimit(v: &str) -> Result<Value, String> {
    let (name, limits) = v.split_once('=').ok_or_else(|| format!("invalid ulimit argument: {v}"))?;
    if !ULIMIT_NAMES.contains(&name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    let n = |s: &str| s.parse::<i64>().map_err(|_| format!("invalid ulimit argument: {v}"));
    let (soft, hard) = (n(soft)?, n(hard)?);
    if soft > hard && hard != -1 {
        return Err(format!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"));
    }
    Ok(json!({"Name": name, "Soft": soft, "Hard": hard}))
}

const ULIMIT_NAMES: &[&str] = &["core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack", "as"];

/// `c 1:3 rwm`, `a *:* m`.
fn valid_device_cgroup_rule(rule: &str) -> bool {
    let parts: Vec<&str> = rule.split(' ').collect();
    let number = |n: &str| n == "*" || (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    matches!(parts.as_slice(), [kind, numbers, access]
        if matches!(*kind, "a" | "b" | "c")
            && numbers.split_once(':').is_some_and(|(a, b)| number(a) && number(b))
            && !access.is_empty() && access.len() <= 3 && access.chars().all(|c| "rwm".contains(c)))
}

/// `--restart no|always|unless-stopped|on-failure[:N]` as the CLI parses it.
pub(super) fn parse_restart(v: &str) -> Result<Value, String> {
    if v.is_empty() {
        return Ok(json!({"Name": "", "MaximumRetryCount": 0}));
    }
    let (name, count) = v.split_once(':').unwrap_or((v, ""));
    if v.contains(':') && name.is_empty() {
        return Err("invalid restart policy format: no policy provided before colon".into());
    }
    let count = if count.is_empty() { 0 } else { count.parse::<i64>().map_err(|_| "invalid restart policy format: maximum retry count must be an integer".to_string())? };
    Ok(json!({"Name": name, "MaximumRetryCount": count}))
}

fn key_values(list: &[String]) -> Map<String, Value> {
    list.iter().map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), json!(v))).unwrap_or((kv.clone(), json!("")))).collect()
}

/// Adds these flags' fields to the create body, checking them as the real CLI does.
pub fn add_to_body(p: &Parsed, body: &mut Value) -> Result<(), String> {
    if let Some(mac) = p.value("mac-address") {
        let octets: Vec<&str> = mac.split(':').collect();
        if octets.len() != 6 || !octets.iter().all(|o| o.len() == 2 && u8::from_str_radix(o, 16).is_ok()) {
            return Err(format!("{mac} is not a valid mac address"));
        }
    }
    for (long, what) in [("pid", "PID"), ("uts", "UTS"), ("userns", "USER"), ("cgroupns", "CGROUP")] {
        let v = p.value(long).unwrap_or("");
        let valid = match long {
            "pid" => matches!(v, "" | "host") || v.strip_prefix("container:").is_some_and(|c| !c.is_empty()),
            "cgroupns" => matches!(v, "" | "host" | "private"),
            _ => matches!(v, "" | "host"),
        };
        if !valid {
            return Err(format!("--{long}: invalid {what} mode"));
        }
    }
    let restart = parse_restart(p.value("restart").unwrap_or(""))?;
    if p.bool("rm") && !matches!(restart["Name"].as_str(), Some("" | "no")) {
        return Err("conflicting options: cannot specify both --restart and --rm".into());
    }
    let log_driver = p.value("log-driver").unwrap_or("");
    let log_opts: Vec<String> = p.list("log-opt").into_iter().map(String::from).collect();
    if log_driver == "none" && !log_opts.is_empty() {
        return Err("invalid logging opts for driver none".into());
    }
    let extra_hosts = checked(p, "add-host", validate_extra_host)?;
    let dns = checked(p, "dns", |v| validate_ip(v).map(|_| v.to_string()))?;
    let mut dns_options: Vec<String> = p.list("dns-option").into_iter().map(String::from).collect();
    dns_options.extend(p.list("dns-opt").into_iter().map(String::from));
    let dns_search: Vec<String> = p.list("dns-search").into_iter().map(String::from).collect();
    let sysctls = checked(p, "sysctl", validate_sysctl)?;
    let devices: Vec<Value> = p.list("device").into_iter().map(parse_device).collect::<Result<_, _>>()?;
    let ulimits: Vec<Value> = p.list("ulimit").into_iter().map(|v| parse_ulimit(v).map_err(|e| bad(v, "ulimit", e))).collect::<Result<_, _>>()?;
    for rule in p.list("device-cgroup-rule") {
        if !valid_device_cgroup_rule(rule) {
            return Err(bad(rule, "device-cgroup-rule", format!("invalid device cgroup format '{rule}'")));
        }
    }
    let shm_size = match p.value("shm-size") {
        Some(v) => super::resources::ram_in_bytes(v).map_err(|e| bad(v, "shm-size", e))?,
        None => 0,
    };
    let kernel_memory = match p.value("kernel-memory") {
        Some(v) => super::resources::ram_in_bytes(v).map_err(|e| bad(v, "kernel-memory", e))?,
        None => 0,
    };
    let mut weight_devices = Vec::new();
    for v in p.list("blkio-weight-device") {
        let (path, weight) = v.rsplit_once(':').ok_or_else(|| bad(v, "blkio-weight-device", format!("bad format: {v}")))?;
        let weight: u16 = weight.parse().map_err(|_| bad(v, "blkio-weight-device", format!("invalid weight for device: {v}")))?;
        if weight > 0 && !(10..=1000).contains(&weight) {
            return Err(bad(v, "blkio-weight-device", format!("invalid weight for device: {v}")));
        }
        weight_devices.push(json!({"Path": path, "Weight": weight}));
    }
    let mut exposed = Map::new();
    for e in p.list("expose") {
        for port in crate::network::portspec::parse_expose(e)? {
            exposed.insert(port, json!({}));
        }
    }
    let publish: Vec<&str> = p.list("publish");
    let specs = crate::network::portspec::parse_port_specs(&publish)?;
    for port in specs.exposed {
        exposed.insert(port, json!({}));
    }
    let bindings: Map<String, Value> = specs.bindings.into_iter().map(|(k, list)| (k, list.into_iter().map(|b| json!({"HostIp": b.host_ip, "HostPort": b.host_port})).collect())).collect();
    let stop_timeout = parse_int(p, "stop-timeout")?;
    let oom = parse_int(p, "oom-score-adj")?.unwrap_or(0);
    let network = p.value("network").or(p.value("net")).unwrap_or("default");
    let tmpfs: Map<String, Value> = p.list("tmpfs").into_iter().map(|t| t.split_once(':').map(|(k, v)| (k.to_string(), json!(v))).unwrap_or((t.to_string(), json!("")))).collect();
    let int = |long: &str| parse_int(p, long).map(|v| v.unwrap_or(0));

    let config = body.as_object_mut().ok_or("no body")?;
    config.insert("Domainname".into(), json!(p.value("domainname").unwrap_or("")));
    config.insert("MacAddress".into(), json!(p.value("mac-address").unwrap_or("")));
    config.insert("StopSignal".into(), json!(p.value("stop-signal").unwrap_or("")));
    if let Some(t) = stop_timeout {
        config.insert("StopTimeout".into(), json!(t));
    }
    if !exposed.is_empty() {
        config.insert("ExposedPorts".into(), Value::Object(exposed));
    }
    let h = body["HostConfig"].as_object_mut().ok_or("no HostConfig")?;
    let list_or_null = |v: Vec<String>| if v.is_empty() { Value::Null } else { json!(v) };
    h.insert("ExtraHosts".into(), list_or_null(extra_hosts));
    // The real CLI never sends these three as null.
    h.insert("Dns".into(), json!(dns));
    h.insert("DnsOptions".into(), json!(dns_options));
    h.insert("DnsSearch".into(), json!(dns_search));
    h.insert("GroupAdd".into(), list_or_null(p.list("group-add").into_iter().map(String::from).collect()));
    h.insert("Links".into(), list_or_null(p.list("link").into_iter().map(String::from).collect()));
    h.insert("CapAdd".into(), list_or_null(p.list("cap-add").into_iter().map(String::from).collect()));
    h.insert("CapDrop".into(), list_or_null(p.list("cap-drop").into_iter().map(String::from).collect()));
    // As the CLI does: `systempaths=unconfined` is no security option for the daemon but
    // empty masked and read-only path lists.
    let (unconfined, security_opts): (Vec<&str>, Vec<&str>) = p.list("security-opt").into_iter().partition(|o| *o == "systempaths=unconfined");
    if !unconfined.is_empty() {
        h.insert("MaskedPaths".into(), json!([]));
        h.insert("ReadonlyPaths".into(), json!([]));
    }
    h.insert("SecurityOpt".into(), list_or_null(security_opts.into_iter().map(String::from).collect()));
    h.insert("DeviceCgroupRules".into(), list_or_null(p.list("device-cgroup-rule").into_iter().map(String::from).collect()));
    h.insert("Devices".into(), json!(devices));
    h.insert("Ulimits".into(), if ulimits.is_empty() { Value::Null } else { json!(ulimits) });
    h.insert("BlkioWeightDevice".into(), json!(weight_devices));
    h.insert("Sysctls".into(), if sysctls.is_empty() { Value::Null } else { Value::Object(key_values(&sysctls)) });
    h.insert("Tmpfs".into(), if tmpfs.is_empty() { Value::Null } else { Value::Object(tmpfs) });
    let annotations: Vec<String> = p.list("annotation").into_iter().map(String::from).collect();
    h.insert("Annotations".into(), if annotations.is_empty() { Value::Null } else { Value::Object(key_values(&annotations)) });
    h.insert("PortBindings".into(), Value::Object(bindings));
    h.insert("ShmSize".into(), json!(shm_size));
    h.insert("KernelMemory".into(), json!(kernel_memory));
    h.insert("OomScoreAdj".into(), json!(oom));
    h.insert("IpcMode".into(), json!(p.value("ipc").unwrap_or("")));
    h.insert("PidMode".into(), json!(p.value("pid").unwrap_or("")));
    h.insert("UTSMode".into(), json!(p.value("uts").unwrap_or("")));
    h.insert("UsernsMode".into(), json!(p.value("userns").unwrap_or("")));
    h.insert("CgroupnsMode".into(), json!(p.value("cgroupns").unwrap_or("")));
    h.insert("NetworkMode".into(), json!(network));
    h.insert("Privileged".into(), json!(p.bool("privileged")));
    h.insert("ReadonlyRootfs".into(), json!(p.bool("read-only")));
    h.insert("Runtime".into(), json!(p.value("runtime").unwrap_or("")));
    h.insert("ContainerIDFile".into(), json!(p.value("cidfile").unwrap_or("")));
    h.insert("CpuRealtimePeriod".into(), json!(int("cpu-rt-period")?));
    h.insert("CpuRealtimeRuntime".into(), json!(int("cpu-rt-runtime")?));
    h.insert("RestartPolicy".into(), restart);
    h.insert("LogConfig".into(), json!({"Type": log_driver, "Config": key_values(&log_opts)}));
    Ok(())
}

/// `--cidfile`: refused when the file exists, as the real CLI refuses it, before anything is
/// created; the id is written once the container exists.
pub fn check_cidfile(p: &Parsed) -> Result<(), String> {
    match p.value("cidfile").filter(|f| !f.is_empty()) {
        Some(f) if std::path::Path::new(f).exists() => Err(format!("container ID file found, make sure the other container isn't running or delete {f}")),
        _ => Ok(()),
    }
}

pub fn write_cidfile(p: &Parsed, id: &str) -> Result<(), String> {
    match p.value("cidfile").filter(|f| !f.is_empty()) {
        Some(f) => std::fs::write(f, id).map_err(|e| format!("failed to write the container ID to the file: {e}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(args: &[&str]) -> Result<Value, String> {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.push("busybox".into());
        let p = super::super::flags::parse(FLAGS, &all, false).unwrap();
        let mut b = json!({"HostConfig": {}});
        add_to_body(&p, &mut b)?;
        Ok(b)
    }

    #[test]
    fn flags_become_the_fields_the_real_cli_sends() {
        let b = body(&["--add-host", "db=10.0.0.2", "--dns", "9.9.9.9", "--group-add", "audio", "--device", "/dev/null:/dev/xnull:r", "--restart", "on-failure:3", "--shm-size", "1m", "--sysctl", "net.ipv4.ip_forward=1", "--ulimit", "nofile=10:20", "--stop-timeout", "3", "--log-opt", "max-size=1m"]).unwrap();
        let h = &b["HostConfig"];
        assert_eq!(h["ExtraHosts"], json!(["db:10.0.0.2"]));
        assert_eq!(h["Dns"], json!(["9.9.9.9"]));
        assert_eq!(h["GroupAdd"], json!(["audio"]));
        assert_eq!(h["Devices"], json!([{"PathOnHost": "/dev/null", "PathInContainer": "/dev/xnull", "CgroupPermissions": "r"}]));
        assert_eq!(h["RestartPolicy"], json!({"Name": "on-failure", "MaximumRetryCount": 3}));
        assert_eq!(h["ShmSize"], 1 << 20);
        assert_eq!(h["Sysctls"], json!({"net.ipv4.ip_forward": "1"}));
        assert_eq!(h["Ulimits"], json!([{"Name": "nofile", "Soft": 10, "Hard": 20}]));
        assert_eq!(h["LogConfig"], json!({"Type": "", "Config": {"max-size": "1m"}}));
        assert_eq!(b["StopTimeout"], 3);
    }

    #[test]
    fn bad_values_get_the_real_clis_errors() {
        assert_eq!(body(&["--add-host", "nocolon"]).unwrap_err(), "invalid argument \"nocolon\" for \"--add-host\" flag: bad format for add-host: \"nocolon\"");
        assert_eq!(body(&["--dns", "1.2.3"]).unwrap_err(), "invalid argument \"1.2.3\" for \"--dns\" flag: IP address is not correctly formatted: 1.2.3");
        assert_eq!(body(&["--sysctl", "kernel.panic=1"]).unwrap_err(), "invalid argument \"kernel.panic=1\" for \"--sysctl\" flag: sysctl 'kernel.panic=1' is not allowed");
        assert_eq!(body(&["--device", "/dev/null:/dev/x:rwx"]).unwrap_err(), "bad mode specified: rwx");
        assert_eq!(body(&["--device", "null"]).unwrap_err(), "null is not an absolute path");
        assert_eq!(body(&["--restart", ":3"]).unwrap_err(), "invalid restart policy format: no policy provided before colon");
        assert_eq!(body(&["--restart", "on-failure:x"]).unwrap_err(), "invalid restart policy format: maximum retry count must be an integer");
        assert_eq!(body(&["--pid", "weird"]).unwrap_err(), "--pid: invalid PID mode");
        assert_eq!(body(&["--mac-address", "zz"]).unwrap_err(), "zz is not a valid mac address");
        assert_eq!(body(&["--log-driver", "none", "--log-opt", "a=b"]).unwrap_err(), "invalid logging opts for driver none");
        assert!(body(&["--shm-size", "lots"]).unwrap_err().contains("invalid size: 'lots'"));
    }
}
