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
    flag("health-cmd", None, Kind::Value, "Command to run to check health"),
    flag("health-interval", None, Kind::Value, "Time between running the check (ms|s|m|h) (default 0s)"),
    flag("health-retries", None, Kind::Value, "Consecutive failures needed to report unhealthy"),
    flag("health-start-interval", None, Kind::Value, "Time between running the check during the start period (ms|s|m|h) (default 0s)"),
    flag("health-start-period", None, Kind::Value, "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)"),
    flag("health-timeout", None, Kind::Value, "Maximum time to allow one check to run (ms|s|m|h) (default 0s)"),
    flag("ip", None, Kind::Value, "IPv4 address (e.g., 172.30.100.104)"),
    flag("ip6", None, Kind::Value, "IPv6 address (e.g., 2001:db8::33)"),
    flag("ipc", None, Kind::Value, "IPC mode to use"),
    flag("kernel-memory", None, Kind::Value, "Kernel memory limit"),
    flag("link", None, Kind::List, "Add link to another container"),
    flag("log-driver", None, Kind::Value, "Logging driver for the container"),
    flag("log-opt", None, Kind::List, "Log driver options"),
    flag("mac-address", None, Kind::Value, "Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
    flag("mount", None, Kind::List, "Attach a filesystem mount to the container"),
    flag("network", None, Kind::List, "Connect a container to a network"),
    flag("net", None, Kind::List, "Connect a container to a network"),
    flag("network-alias", None, Kind::List, "Add network-scoped alias for the container"),
    flag("net-alias", None, Kind::List, "Add network-scoped alias for the container"),
    flag("no-healthcheck", None, Kind::Bool, "Disable any container-specified HEALTHCHECK"),
    flag("oom-score-adj", None, Kind::Value, "Tune host's OOM preferences (-1000 to 1000)"),
    flag("pid", None, Kind::Value, "PID namespace to use"),
    flag("privileged", None, Kind::Bool, "Give extended privileges to this container"),
    flag("publish", Some('p'), Kind::List, "Publish a container's port(s) to the host"),
    flag("publish-all", Some('P'), Kind::Bool, "Publish all exposed ports to random ports"),
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
    flag("volume-driver", None, Kind::Value, "Optional volume driver for the container"),
    flag("volumes-from", None, Kind::List, "Mount volumes from the specified container(s)"),
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

/// A duration flag as Go's `time.ParseDuration` reads it, in nanoseconds (0 when absent).
fn parse_duration(p: &Parsed, long: &str) -> Result<i64, String> {
    let Some(v) = p.value(long) else { return Ok(0) };
    if let Some(ns) = crate::timestamp::parse_go_duration(v) {
        return i64::try_from(ns).map_err(|_| bad(v, long, format!("time: invalid duration {v:?}")));
    }
    // Go's words for what it cannot read.
    let digits = v.trim_start_matches(['-', '+']);
    let why = if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit() || c == '.') && digits.chars().any(|c| c.is_ascii_digit()) {
        format!("time: missing unit in duration {v:?}")
    } else {
        match digits.find(|c: char| !(c.is_ascii_digit() || c == '.')).filter(|&i| i > 0) {
            Some(i) => {
                let unit: String = digits[i..].chars().take_while(|c| !(c.is_ascii_digit() || *c == '.')).collect();
                if ["ns", "us", "µs", "μs", "ms", "s", "m", "h"].contains(&unit.as_str()) {
                    format!("time: invalid duration {v:?}")
                } else {
                    format!("time: unknown unit {unit:?} in duration {v:?}")
                }
            }
            None => format!("time: invalid duration {v:?}"),
        }
    };
    Err(bad(v, long, why))
}

/// `--health-*` and `--no-healthcheck` as the real CLI turns them into `Config.Healthcheck`
/// (`None`: none given, the image's check applies).
fn healthcheck(p: &Parsed) -> Result<Option<Value>, String> {
    let cmd = p.value("health-cmd").unwrap_or("");
    let interval = parse_duration(p, "health-interval")?;
    let retries = parse_int(p, "health-retries")?.unwrap_or(0);
    let timeout = parse_duration(p, "health-timeout")?;
    let start_period = parse_duration(p, "health-start-period")?;
    let start_interval = parse_duration(p, "health-start-interval")?;
    let any = !cmd.is_empty() || interval != 0 || timeout != 0 || start_period != 0 || retries != 0 || start_interval != 0;
    if p.bool("no-healthcheck") {
        if any {
            return Err("--no-healthcheck conflicts with --health-* options".into());
        }
        return Ok(Some(json!({"Test": ["NONE"]})));
    }
    if !any {
        return Ok(None);
    }
    for (long, v) in [("health-interval", interval), ("health-timeout", timeout), ("health-retries", retries), ("health-start-period", start_period), ("health-start-interval", start_interval)] {
        if v < 0 {
            return Err(format!("--{long} cannot be negative"));
        }
    }
    // Zero fields are left out (Go's `omitempty`), as the real CLI sends them.
    let mut hc = Map::new();
    if !cmd.is_empty() {
        hc.insert("Test".into(), json!(["CMD-SHELL", cmd]));
    }
    for (key, v) in [("Interval", interval), ("Timeout", timeout), ("StartPeriod", start_period), ("StartInterval", start_interval), ("Retries", retries)] {
        if v != 0 {
            hc.insert(key.into(), json!(v));
        }
    }
    Ok(Some(Value::Object(hc)))
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
    // As the CLI: the -p values first (their errors first), then --expose merged in.
    let publish: Vec<&str> = p.list("publish");
    let specs = crate::network::portspec::parse_port_specs(&publish)?;
    let mut exposed = Map::new();
    for port in &specs.exposed {
        exposed.insert(port.clone(), json!({}));
    }
    for e in p.list("expose") {
        for port in crate::network::portspec::parse_expose(e)? {
            exposed.insert(port, json!({}));
        }
    }
    let bindings: Map<String, Value> = specs.bindings.iter().map(|(port, list)| (port.clone(), list.iter().map(|b| json!({"HostIp": b.host_ip, "HostPort": b.host_port})).collect())).collect();
    let (network_mode, endpoints) = network_endpoints(p)?;
    let stop_timeout = parse_int(p, "stop-timeout")?;
    let oom = parse_int(p, "oom-score-adj")?.unwrap_or(0);
    let tmpfs: Map<String, Value> = p.list("tmpfs").into_iter().map(|t| t.split_once(':').map(|(k, v)| (k.to_string(), json!(v))).unwrap_or((t.to_string(), json!("")))).collect();
    let int = |long: &str| parse_int(p, long).map(|v| v.unwrap_or(0));
    let health = healthcheck(p)?;

    let config = body.as_object_mut().ok_or("no body")?;
    if let Some(hc) = health {
        config.insert("Healthcheck".into(), hc);
    }
    config.insert("Domainname".into(), json!(p.value("domainname").unwrap_or("")));
    // API 1.44: the MAC address goes with the endpoint (as the CLI 28 sends it), not here.
    config.remove("MacAddress");
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
    h.insert("NetworkMode".into(), json!(network_mode));
    h.insert("PublishAllPorts".into(), json!(p.bool("publish-all")));
    h.insert("Privileged".into(), json!(p.bool("privileged")));
    h.insert("ReadonlyRootfs".into(), json!(p.bool("read-only")));
    h.insert("Runtime".into(), json!(p.value("runtime").unwrap_or("")));
    h.insert("ContainerIDFile".into(), json!(p.value("cidfile").unwrap_or("")));
    h.insert("CpuRealtimePeriod".into(), json!(int("cpu-rt-period")?));
    h.insert("CpuRealtimeRuntime".into(), json!(int("cpu-rt-runtime")?));
    h.insert("RestartPolicy".into(), restart);
    h.insert("LogConfig".into(), json!({"Type": log_driver, "Config": key_values(&log_opts)}));
    body["NetworkingConfig"] = json!({"EndpointsConfig": endpoints});
    Ok(())
}

/// One `--network` value: a name, or the advanced `name=N,alias=A,ip=...` form.
#[derive(Default)]
struct Attachment {
    target: String,
    aliases: Vec<String>,
    links: Vec<String>,
    ipv4: String,
    ipv6: String,
    mac: String,
    link_local: Vec<String>,
    driver_opts: Map<String, Value>,
    gw_priority: i64,
}

fn parse_attachment(v: &str) -> Result<Attachment, String> {
    let mut a = Attachment::default();
    if !v.contains('=') {
        a.target = v.to_string();
        return Ok(a);
    }
    for field in v.split(',') {
        let (k, val) = field.split_once('=').ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"))?;
        match k.trim().to_lowercase().as_str() {
            "name" => a.target = val.to_string(),
            "alias" => a.aliases.push(val.to_string()),
            "ip" => a.ipv4 = val.to_string(),
            "ip6" => a.ipv6 = val.to_string(),
            "mac-address" => a.mac = val.to_string(),
            "link-local-ip" => a.link_local.push(val.to_string()),
            "driver-opt" => {
                let (dk, dv) = val.split_once('=').ok_or("invalid key value pair format in driver options")?;
                a.driver_opts.insert(dk.trim().to_lowercase(), json!(dv.trim()));
            }
            "gw-priority" => a.gw_priority = val.parse().map_err(|_| format!("invalid gw-priority: {val}"))?,
            _ => return Err(format!("invalid field key {k}")),
        }
    }
    Ok(a)
}

/// Docker's `NetworkMode.IsUserDefined`.
fn is_user_defined(mode: &str) -> bool {
    !matches!(mode, "" | "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

/// The CLI's `parseNetworkOpts`: `HostConfig.NetworkMode` and `NetworkingConfig.EndpointsConfig`
/// from `--network` (repeatable) with `--network-alias`, `--link`, `--ip`, `--ip6` and
/// `--mac-address` applied to the first network.
fn network_endpoints(p: &Parsed) -> Result<(String, Map<String, Value>), String> {
    let mut modes = Vec::new();
    for v in p.list("network").into_iter().chain(p.list("net")) {
        modes.push(parse_attachment(v)?);
    }
    let aliases: Vec<String> = p.list("network-alias").into_iter().chain(p.list("net-alias")).map(String::from).collect();
    let links: Vec<String> = p.list("link").into_iter().map(String::from).collect();
    let (ip, ip6, mac) = (p.value("ip").unwrap_or(""), p.value("ip6").unwrap_or(""), p.value("mac-address").unwrap_or(""));
    let apply = |n: &mut Attachment| -> Result<(), String> {
        if !n.aliases.is_empty() && !aliases.is_empty() {
            return Err("conflicting options: cannot specify both --network-alias and per-network alias".into());
        }
        if !n.links.is_empty() && !links.is_empty() {
            return Err("conflicting options: cannot specify both --link and per-network links".into());
        }
        if !n.ipv4.is_empty() && !ip.is_empty() {
            return Err("conflicting options: cannot specify both --ip and per-network IPv4 address".into());
        }
        if !n.ipv6.is_empty() && !ip6.is_empty() {
            return Err("conflicting options: cannot specify both --ip6 and per-network IPv6 address".into());
        }
        if !n.mac.is_empty() && !mac.is_empty() {
            return Err("conflicting options: cannot specify both --mac-address and per-network MAC address".into());
        }
        if !aliases.is_empty() {
            n.aliases = aliases.clone();
        }
        // On a user-defined network `--link` is an alias of the endpoint; on the default
        // bridge a legacy link (HostConfig.Links only).
        if is_user_defined(&n.target) && !links.is_empty() {
            n.links = links.clone();
        }
        if !ip.is_empty() {
            n.ipv4 = ip.to_string();
        }
        if !ip6.is_empty() {
            n.ipv6 = ip6.to_string();
        }
        if !mac.is_empty() {
            n.mac = mac.to_string();
        }
        Ok(())
    };
    // The endpoint settings the CLI sends, and whether they are all zero.
    let settings = |n: &Attachment| -> Result<(Value, bool), String> {
        if n.target.trim().is_empty() {
            return Err("no name set for network".into());
        }
        if !is_user_defined(&n.target) {
            if !n.aliases.is_empty() {
                return Err("network-scoped aliases are only supported for user-defined networks".into());
            }
            if !n.links.is_empty() {
                return Err("links are only supported for user-defined networks".into());
            }
        }
        let mut ipam = Map::new();
        if !n.ipv4.is_empty() {
            ipam.insert("IPv4Address".into(), json!(n.ipv4));
        }
        if !n.ipv6.is_empty() {
            ipam.insert("IPv6Address".into(), json!(n.ipv6));
        }
        if !n.link_local.is_empty() {
            ipam.insert("LinkLocalIPs".into(), json!(n.link_local));
        }
        let empty = ipam.is_empty() && n.aliases.is_empty() && n.links.is_empty() && n.mac.is_empty() && n.driver_opts.is_empty() && n.gw_priority == 0;
        let list = |l: &Vec<String>| if l.is_empty() { Value::Null } else { json!(l) };
        let v = json!({
            "IPAMConfig": if ipam.is_empty() { Value::Null } else { Value::Object(ipam) },
            "Links": list(&n.links),
            "Aliases": list(&n.aliases),
            "MacAddress": n.mac,
            "DriverOpts": if n.driver_opts.is_empty() { Value::Null } else { Value::Object(n.driver_opts.clone()) },
            "GwPriority": n.gw_priority,
            "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
            "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": null,
        });
        Ok((v, empty))
    };
    let mut endpoints = Map::new();
    if modes.is_empty() {
        let mut n = Attachment { target: "default".into(), ..Default::default() };
        apply(&mut n)?;
        endpoints.insert("default".into(), settings(&n)?.0);
    }
    let (mut user, mut non_user) = (false, false);
    let count = modes.len();
    for (i, mut n) in modes.into_iter().enumerate() {
        if is_user_defined(&n.target) { user = true } else { non_user = true }
        if i == 0 {
            apply(&mut n)?;
        }
        let (v, empty) = settings(&n)?;
        if endpoints.contains_key(&n.target) {
            return Err(format!("network {:?} is specified multiple times", n.target));
        }
        // A single network without settings: no endpoint sent (the daemon makes one).
        if i == 0 && count == 1 && empty {
            continue;
        }
        endpoints.insert(n.target.clone(), v);
    }
    if user && non_user {
        return Err("conflicting options: cannot attach both user-defined and non-user-defined network-modes".into());
    }
    let first = p.list("network").into_iter().chain(p.list("net")).next().map(|v| parse_attachment(v).map(|a| a.target).unwrap_or_default()).unwrap_or_else(|| "default".into());
    Ok((first, endpoints))
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
    fn network_flags_become_the_request_of_the_cli_28() {
        let b = body(&["-p", "127.0.0.1:8080:80", "-p", "[::1]:53:53/udp", "-P", "--expose", "7000-7001", "--network", "mynet", "--ip", "10.1.0.5", "--ip6", "fd00::5", "--network-alias", "web", "--link", "other:o", "--mac-address", "02:42:ac:11:00:02"]).unwrap();
        assert_eq!(b["ExposedPorts"], json!({"53/udp": {}, "7000/tcp": {}, "7001/tcp": {}, "80/tcp": {}}));
        assert_eq!(b["HostConfig"]["PortBindings"], json!({"53/udp": [{"HostIp": "::1", "HostPort": "53"}], "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}));
        assert_eq!((b["HostConfig"]["PublishAllPorts"].clone(), b["HostConfig"]["NetworkMode"].clone(), b["HostConfig"]["Links"].clone()), (json!(true), json!("mynet"), json!(["other:o"])));
        assert!(b.get("MacAddress").is_none());
        let ep = &b["NetworkingConfig"]["EndpointsConfig"]["mynet"];
        assert_eq!(ep["IPAMConfig"], json!({"IPv4Address": "10.1.0.5", "IPv6Address": "fd00::5"}));
        assert_eq!((ep["Aliases"].clone(), ep["Links"].clone(), ep["MacAddress"].clone()), (json!(["web"]), json!(["other:o"]), json!("02:42:ac:11:00:02")));
        // Defaults: NetworkMode default with an empty default endpoint; host: none at all.
        let b = body(&[]).unwrap();
        assert_eq!(b["HostConfig"]["NetworkMode"], "default");
        assert_eq!(b["NetworkingConfig"]["EndpointsConfig"]["default"]["IPAMConfig"], Value::Null);
        assert_eq!(body(&["--network", "host"]).unwrap()["NetworkingConfig"]["EndpointsConfig"], json!({}));
        let adv = body(&["--network", "name=n1,alias=x,ip=10.0.0.9"]).unwrap();
        assert_eq!(adv["NetworkingConfig"]["EndpointsConfig"]["n1"]["IPAMConfig"], json!({"IPv4Address": "10.0.0.9"}));
        assert_eq!(body(&["--network-alias", "x"]).unwrap_err(), "network-scoped aliases are only supported for user-defined networks");
        assert_eq!(body(&["--network", "a", "--network", "host"]).unwrap_err(), "conflicting options: cannot attach both user-defined and non-user-defined network-modes");
        assert_eq!(body(&["-p", "8080:http"]).unwrap_err(), "invalid containerPort: http");
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

    #[test]
    fn health_flags_are_checked_and_sent_as_the_real_cli_does() {
        let b = body(&["--health-cmd", "wget -q localhost", "--health-interval", "1.5s", "--health-retries", "4", "--health-start-interval", "100ms"]).unwrap();
        assert_eq!(b["Healthcheck"], json!({"Test": ["CMD-SHELL", "wget -q localhost"], "Interval": 1_500_000_000i64, "StartInterval": 100_000_000, "Retries": 4}));
        assert_eq!(body(&["--health-timeout", "2s"]).unwrap()["Healthcheck"], json!({"Timeout": 2_000_000_000i64}));
        assert_eq!(body(&["--no-healthcheck"]).unwrap()["Healthcheck"], json!({"Test": ["NONE"]}));
        assert!(body(&[]).unwrap().get("Healthcheck").is_none());
        assert_eq!(body(&["--no-healthcheck", "--health-retries", "2"]).unwrap_err(), "--no-healthcheck conflicts with --health-* options");
        assert_eq!(body(&["--health-interval", "-1s"]).unwrap_err(), "--health-interval cannot be negative");
        assert_eq!(body(&["--health-retries", "-1"]).unwrap_err(), "--health-retries cannot be negative");
        assert_eq!(body(&["--health-start-period", "-5ms"]).unwrap_err(), "--health-start-period cannot be negative");
        assert_eq!(body(&["--health-timeout", "1"]).unwrap_err(), "invalid argument \"1\" for \"--health-timeout\" flag: time: missing unit in duration \"1\"");
        assert_eq!(body(&["--health-interval", "1q"]).unwrap_err(), "invalid argument \"1q\" for \"--health-interval\" flag: time: unknown unit \"q\" in duration \"1q\"");
        assert_eq!(body(&["--health-interval", "x"]).unwrap_err(), "invalid argument \"x\" for \"--health-interval\" flag: time: invalid duration \"x\"");
    }
}
