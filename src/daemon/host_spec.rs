//! What a container's HostConfig (and Config's host-facing fields) make of its OCI spec beyond
//! the process and the resource limits: namespace modes (`--ipc`, `--pid`, `--uts`,
//! `--network host`, `--cgroupns`), devices and device rules, supplementary groups,
//! capabilities and `--privileged`, sysctls, rlimits, /dev/shm and tmpfs mounts, masked and
//! read-only paths; and the contents of the container's `hostname`, `hosts` and `resolv.conf`.

use super::container::Container;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key).and_then(Value::as_array).map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default()
}

fn privileged(h: &Value) -> bool {
    h.get("Privileged").and_then(Value::as_bool).unwrap_or(false)
}

/// The capabilities the container's process gets: Docker's defaults tweaked by `CapAdd` and
/// `CapDrop` (`ALL` in either), or every capability when privileged.
pub fn capabilities(h: &Value, defaults: &[&str]) -> Vec<String> {
    // Every capability the kernel knows that dockerd itself may hand on (its bounding set):
    // a capability outside it cannot be given, and asking for it fails the start.
    let all = || {
        let held = caps::read(None, caps::CapSet::Bounding).unwrap_or_else(|_| caps::all());
        let mut v: Vec<String> = held.iter().map(|c| c.to_string()).collect();
        v.sort();
        v
    };
    if privileged(h) {
        return all();
    }
    let norm = |key: &str| -> Vec<String> { strings(h, key).iter().filter_map(|c| super::create_fields::normalize_capability(c)).collect() };
    let (add, drop) = (norm("CapAdd"), norm("CapDrop"));
    let mut caps: Vec<String> = if add.iter().any(|c| c == "ALL") { all() } else { defaults.iter().map(|c| c.to_string()).collect() };
    if drop.iter().any(|c| c == "ALL") {
        caps.clear();
    } else {
        caps.retain(|c| !drop.contains(c));
    }
    for c in add.into_iter().filter(|c| c != "ALL") {
        if !caps.contains(&c) {
            caps.push(c);
        }
    }
    caps
}

/// A group name or number resolved against the container's /etc/group.
fn resolve_group(rootfs: &Path, group: &str) -> Result<u32, String> {
    if let Ok(n) = group.parse::<u32>() {
        return Ok(n);
    }
    let text = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 3 && f[0] == group)
        .and_then(|f| f[2].parse().ok())
        .ok_or_else(|| format!("Unable to find group {group}: no matching entries in group file"))
}

/// Every device node at or under `path` (a directory is walked, as Docker walks it).
fn devices_under(path: &Path, out: &mut Vec<(std::path::PathBuf, std::fs::Metadata)>) -> std::io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(path)?;
    let t = meta.file_type();
    if t.is_dir() {
        for e in std::fs::read_dir(path)?.flatten() {
            let p = e.path();
            // Symlinks inside a walked directory are skipped, as Docker skips them.
            if e.file_type().map(|t| t.is_symlink()).unwrap_or(true) {
                continue;
            }
            devices_under(&p, out)?;
        }
    } else if t.is_char_device() || t.is_block_device() {
        out.push((path.to_path_buf(), meta));
    }
    Ok(())
}

fn device_entry(path_in_container: &str, meta: &std::fs::Metadata) -> (Value, Value) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let kind = if meta.file_type().is_block_device() { "b" } else { "c" };
    let (major, minor) = (libc::major(meta.rdev()) as i64, libc::minor(meta.rdev()) as i64);
    let dev = json!({"path": path_in_container, "type": kind, "major": major, "minor": minor, "fileMode": meta.mode() & 0o7777, "uid": meta.uid(), "gid": meta.gid()});
    let rule = json!({"allow": true, "type": kind, "major": major, "minor": minor});
    (dev, rule)
}

/// `Devices`: the host's nodes made in the container, each allowed with its permissions.
fn add_devices(h: &Value, spec: &mut Value) -> Result<(), String> {
    let mut devices = Vec::new();
    let mut rules = Vec::new();
    for d in h.get("Devices").and_then(Value::as_array).into_iter().flatten() {
        let host = str_of(d, "PathOnHost");
        let inside = Some(str_of(d, "PathInContainer")).filter(|p| !p.is_empty()).unwrap_or(host);
        let perms = Some(str_of(d, "CgroupPermissions")).filter(|p| !p.is_empty()).unwrap_or("rwm");
        let mut found = Vec::new();
        devices_under(Path::new(host), &mut found).map_err(|e| format!("error gathering device information while adding custom device \"{host}\": {}", crate::sys::go_error_text(&e)))?;
        if found.is_empty() {
            return Err(format!("error gathering device information while adding custom device \"{host}\": not a device node"));
        }
        for (path, meta) in found {
            let suffix = path.strip_prefix(host).map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let target = if suffix.is_empty() { inside.to_string() } else { format!("{}/{suffix}", inside.trim_end_matches('/')) };
            let (dev, mut rule) = device_entry(&target, &meta);
            rule["access"] = json!(perms);
            devices.push(dev);
            rules.push(rule);
        }
    }
    for rule in strings(h, "DeviceCgroupRules") {
        rules.push(super::create_fields::parse_device_cgroup_rule(&rule)?);
    }
    if privileged(h) {
        let mut found = Vec::new();
        for e in std::fs::read_dir("/dev").map_err(|e| e.to_string())?.flatten() {
            let name = e.file_name();
            // Docker's HostDevices: everything but the container's own pts, shm and mqueue.
            if ["pts", "shm", "mqueue", "console"].iter().any(|n| name == *n) || e.file_type().map(|t| t.is_symlink()).unwrap_or(true) {
                continue;
            }
            let _ = devices_under(&e.path(), &mut found);
        }
        for (path, meta) in found {
            devices.push(device_entry(&path.to_string_lossy(), &meta).0);
        }
        rules.push(json!({"allow": true, "access": "rwm"}));
    }
    if !devices.is_empty() {
        let list = spec["linux"]["devices"].as_array().cloned().unwrap_or_default();
        let mut all: Vec<Value> = list;
        for d in devices {
            all.retain(|x| x["path"] != d["path"]);
            all.push(d);
        }
        spec["linux"]["devices"] = json!(all);
    }
    if !rules.is_empty() {
        let resources = &mut spec["linux"]["resources"];
        let mut list = resources["devices"].as_array().cloned().unwrap_or_default();
        list.extend(rules);
        resources["devices"] = json!(list);
    }
    Ok(())
}

fn remove_namespace(spec: &mut Value, kind: &str) {
    if let Some(list) = spec["linux"]["namespaces"].as_array_mut() {
        list.retain(|n| n["type"] != kind);
    }
}

fn set_namespace(spec: &mut Value, ns: Value) {
    let kind = ns["type"].clone();
    if let Some(list) = spec["linux"]["namespaces"].as_array_mut() {
        list.retain(|n| n["type"] != kind);
        list.push(ns);
    }
}

fn mount_mut<'a>(spec: &'a mut Value, destination: &str) -> Option<&'a mut Value> {
    spec["mounts"].as_array_mut()?.iter_mut().find(|m| m["destination"] == destination)
}

fn remove_mount(spec: &mut Value, destination: &str) {
    if let Some(list) = spec["mounts"].as_array_mut() {
        list.retain(|m| m["destination"] != destination);
    }
}

/// Docker's tmpfs defaults (`noexec,nosuid,nodev`) with the given options over them.
fn tmpfs_options(given: &str) -> Vec<String> {
    let given: Vec<&str> = given.split(',').filter(|o| !o.is_empty()).collect();
    let mut opts: Vec<String> = Vec::new();
    for (default, opposite) in [("noexec", "exec"), ("nosuid", "suid"), ("nodev", "dev")] {
        if !given.contains(&opposite) {
            opts.push(default.into());
        }
    }
    opts.extend(given.iter().filter(|o| !["exec", "suid", "dev"].contains(o)).map(|o| o.to_string()));
    opts
}

/// Shapes `spec` (made by `spec::build`) by the container's host settings. `rootfs` is the
/// mounted root, where group names are looked up.
pub fn apply(c: &Container, rootfs: &Path, spec: &mut Value) -> Result<(), String> {
    let h = &c.host_config;
    let config = &c.config;
    if let Some(d) = config.get("Domainname").and_then(Value::as_str).filter(|d| !d.is_empty()) {
        spec["domainname"] = json!(d);
    }
    let groups = strings(h, "GroupAdd");
    if !groups.is_empty() {
        let mut gids: Vec<u32> = spec["process"]["user"]["additionalGids"].as_array().map(|a| a.iter().filter_map(|g| g.as_u64().map(|g| g as u32)).collect()).unwrap_or_default();
        for g in groups {
            let gid = resolve_group(rootfs, &g)?;
            if !gids.contains(&gid) {
                gids.push(gid);
            }
        }
        spec["process"]["user"]["additionalGids"] = json!(gids);
    }
    spec["process"]["oomScoreAdj"] = json!(h.get("OomScoreAdj").and_then(Value::as_i64).unwrap_or(0));
    let rlimits: Vec<Value> = h
        .get("Ulimits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|u| {
            let kind = super::create_fields::ULIMITS.iter().find(|(n, _)| *n == str_of(u, "Name"))?.1;
            let limit = |k: &str| u.get(k).and_then(Value::as_i64).map(|v| if v < 0 { u64::MAX } else { v as u64 }).unwrap_or(0);
            Some(json!({"type": kind, "soft": limit("Soft"), "hard": limit("Hard")}))
        })
        .collect();
    if !rlimits.is_empty() {
        spec["process"]["rlimits"] = json!(rlimits);
    }
    let security: Vec<String> = strings(h, "SecurityOpt");
    if security.iter().any(|o| o == "no-new-privileges" || o == "no-new-privileges:true" || o == "no-new-privileges=true") {
        spec["process"]["noNewPrivileges"] = json!(true);
    }
    let writable_cgroups = security.iter().any(|o| o == "writable-cgroups=true" || o == "writable-cgroups:true");
    // The tty's first size (`docker run -t` sends the terminal's); resizes come later.
    if let Some([height, width]) = h.get("ConsoleSize").and_then(Value::as_array).map(|a| [a.first().and_then(Value::as_u64).unwrap_or(0), a.get(1).and_then(Value::as_u64).unwrap_or(0)]) {
        if c.tty() && height > 0 && width > 0 {
            spec["process"]["consoleSize"] = json!({"height": height, "width": width});
        }
    }
    if let Some(map) = h.get("Annotations").and_then(Value::as_object).filter(|m| !m.is_empty()) {
        spec["annotations"] = Value::Object(map.clone());
    }

    // Namespaces.
    if str_of(h, "NetworkMode") == "host" {
        remove_namespace(spec, "network");
    }
    if str_of(h, "PidMode") == "host" {
        remove_namespace(spec, "pid");
    }
    if str_of(h, "UTSMode") == "host" {
        remove_namespace(spec, "uts");
        if let Some(o) = spec.as_object_mut() {
            o.remove("hostname");
            o.remove("domainname");
        }
    }
    let cgroupns = str_of(h, "CgroupnsMode");
    if cgroupns == "private" {
        set_namespace(spec, json!({"type": "cgroup"}));
    }
    let shm_size = h.get("ShmSize").and_then(Value::as_i64).filter(|s| *s > 0).unwrap_or(super::create_fields::DEFAULT_SHM_SIZE);
    match str_of(h, "IpcMode") {
        "none" => remove_mount(spec, "/dev/shm"),
        "host" => {
            remove_namespace(spec, "ipc");
            if let Some(m) = mount_mut(spec, "/dev/shm") {
                *m = json!({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind", "rprivate"]});
            }
        }
        _ => {
            if let Some(m) = mount_mut(spec, "/dev/shm") {
                m["options"] = json!(["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm_size}")]);
            }
        }
    }

    // Privileges and the paths hidden from the container.
    let masked = h.get("MaskedPaths").filter(|v| !v.is_null()).cloned().unwrap_or_else(|| if privileged(h) { json!([]) } else { spec["linux"]["maskedPaths"].clone() });
    let readonly = h.get("ReadonlyPaths").filter(|v| !v.is_null()).cloned().unwrap_or_else(|| if privileged(h) { json!([]) } else { spec["linux"]["readonlyPaths"].clone() });
    spec["linux"]["maskedPaths"] = masked;
    spec["linux"]["readonlyPaths"] = readonly;
    if privileged(h) {
        if let Some(m) = mount_mut(spec, "/sys") {
            m["options"] = json!(["nosuid", "noexec", "nodev", "rw"]);
        }
    }
    if privileged(h) || writable_cgroups {
        if let Some(m) = mount_mut(spec, "/sys/fs/cgroup") {
            m["options"] = json!(["rw", "nosuid", "noexec", "nodev"]);
        }
    }
    add_devices(h, spec)?;

    if let Some(map) = h.get("Sysctls").and_then(Value::as_object).filter(|m| !m.is_empty()) {
        spec["linux"]["sysctl"] = Value::Object(map.clone());
    }
    for (dest, opts) in h.get("Tmpfs").and_then(Value::as_object).into_iter().flatten() {
        remove_mount(spec, dest);
        let mount = json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": tmpfs_options(opts.as_str().unwrap_or(""))});
        if let Some(list) = spec["mounts"].as_array_mut() {
            list.push(mount);
        }
    }
    Ok(())
}

/// The other containers' namespaces a container joins (`--pid container:NAME`,
/// `--ipc container:NAME`), looked up before its start: the init's pid (and for IPC the
/// donor's shareable /dev/shm), or Docker's error.
#[derive(Debug, Clone, Default)]
pub struct Peers {
    pub pid: Option<Result<u32, String>>,
    pub ipc: Option<Result<(u32, PathBuf), String>>,
    pub net: Option<Result<NetDonor, String>>,
}

/// `--network container:NAME`: the donor's init and its hostname, hosts and resolv.conf,
/// which the container uses as its own, as Docker does.
#[derive(Debug, Clone)]
pub struct NetDonor {
    pub pid: u32,
    pub hostname_path: PathBuf,
    pub hosts_path: PathBuf,
    pub resolv_conf_path: PathBuf,
}

/// Joins the peers' namespaces; an IPC peer's /dev/shm is bound too, as Docker binds it.
pub fn join_peers(spec: &mut Value, peers: &Peers) -> Result<(), String> {
    if let Some(pid) = peers.pid.clone() {
        set_namespace(spec, json!({"type": "pid", "path": format!("/proc/{}/ns/pid", pid?)}));
    }
    if let Some(net) = peers.net.clone() {
        let donor = net?;
        set_namespace(spec, json!({"type": "network", "path": format!("/proc/{}/ns/net", donor.pid)}));
        for (dest, src) in [("/etc/hostname", &donor.hostname_path), ("/etc/hosts", &donor.hosts_path), ("/etc/resolv.conf", &donor.resolv_conf_path)] {
            if let Some(m) = mount_mut(spec, dest) {
                m["source"] = json!(src);
            }
        }
        if let Ok(name) = std::fs::read_to_string(&donor.hostname_path) {
            if spec.get("hostname").is_some() {
                spec["hostname"] = json!(name.trim());
            }
        }
    }
    if let Some(ipc) = peers.ipc.clone() {
        let (pid, shm) = ipc?;
        set_namespace(spec, json!({"type": "ipc", "path": format!("/proc/{pid}/ns/ipc")}));
        use_shm(spec, &shm);
    }
    Ok(())
}

/// Where a shareable container's /dev/shm is mounted on the host (Docker's place).
pub fn shm_dir(data_root: &Path, id: &str) -> PathBuf {
    Container::dir(data_root, id).join("mounts").join("shm")
}

/// `--ipc shareable`: the container's /dev/shm is a tmpfs dockerd mounts on the host, so that
/// `--ipc container:NAME` can bind the same one.
pub fn mount_shareable_shm(dir: &Path, size: i64) -> std::io::Result<()> {
    use nix::mount::MsFlags;
    std::fs::create_dir_all(dir)?;
    if crate::mounts::is_mountpoint(dir) {
        return Ok(());
    }
    nix::mount::mount(Some("shm"), dir, Some("tmpfs"), MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some(format!("mode=1777,size={size}").as_str()))
        .map_err(|e| std::io::Error::other(format!("mounting shm tmpfs: {e}")))
}

/// Undoes `mount_shareable_shm` (nothing when it was not mounted).
pub fn release_shm(dir: &Path) {
    if dir.exists() {
        let _ = crate::mounts::unmount(dir);
        let _ = std::fs::remove_dir(dir);
    }
}

/// The spec's /dev/shm becomes a bind of `shm`.
pub fn use_shm(spec: &mut Value, shm: &Path) {
    remove_mount(spec, "/dev/shm");
    if let Some(list) = spec["mounts"].as_array_mut() {
        list.push(json!({"destination": "/dev/shm", "type": "bind", "source": shm, "options": ["rbind", "rprivate"]}));
    }
}

fn host_hostname() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_default()
}

/// The container's host name: its own, or the host's when it shares the host's UTS or
/// network namespace.
pub fn hostname(c: &Container) -> String {
    let own = c.config.get("Hostname").and_then(Value::as_str).filter(|h| !h.is_empty());
    let shares_host = str_of(&c.host_config, "UTSMode") == "host" || str_of(&c.host_config, "NetworkMode") == "host";
    match own {
        Some(h) if str_of(&c.host_config, "UTSMode") != "host" => h.to_string(),
        _ if shares_host => host_hostname(),
        _ => c.short_id().to_string(),
    }
}

const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// `/etc/hosts`: Docker's standard entries (the host's file with `--network host`), then one
/// line per `ExtraHosts` entry, `host-gateway` standing for `host_gateway_ip`, then `own`
/// (the container's addresses and its links' lines, `IP\tNAMES`).
pub fn hosts_file(c: &Container, host_gateway_ip: Option<&str>, own: &[String]) -> String {
    let mut text = if str_of(&c.host_config, "NetworkMode") == "host" { std::fs::read_to_string("/etc/hosts").unwrap_or_else(|_| DEFAULT_HOSTS.to_string()) } else { DEFAULT_HOSTS.to_string() };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for entry in strings(&c.host_config, "ExtraHosts") {
        if let Some((name, ip)) = super::create_fields::split_extra_host(&entry) {
            let ip = if ip == "host-gateway" { host_gateway_ip.unwrap_or_default().to_string() } else { ip };
            text.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    for line in own {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// The nameservers Docker gives a container when the host has none it could reach.
const FALLBACK_NAMESERVERS: [&str; 2] = ["nameserver 8.8.8.8", "nameserver 8.8.4.4"];

/// The embedded DNS server's address in every container on a user-defined network.
pub const EMBEDDED_DNS: &str = "127.0.0.11";

/// `/etc/resolv.conf`: the host's, without loopback resolvers the container cannot reach
/// (kept with `--network host`), with `Dns`, `DnsSearch` and `DnsOptions` replacing the
/// host's nameservers, search domains and options. With `embedded_dns` (a user-defined
/// network) the one nameserver is the embedded server, which forwards to the others, and
/// `ndots:0` is added as Docker adds it.
pub fn resolv_conf(c: &Container, host: &str, embedded_dns: bool) -> String {
    let h = &c.host_config;
    let host_network = str_of(h, "NetworkMode") == "host";
    let (dns, search, options) = (strings(h, "Dns"), strings(h, "DnsSearch"), strings(h, "DnsOptions"));
    let mut out = Vec::new();
    for line in host.lines() {
        let word = line.split_whitespace().next().unwrap_or("");
        let replaced = match word {
            "nameserver" => embedded_dns || !dns.is_empty() || (!host_network && (line.contains("127.") || line.contains("::1"))),
            "search" | "domain" => !search.is_empty(),
            "options" => !options.is_empty(),
            _ => false,
        };
        if !replaced {
            out.push(line.to_string());
        }
    }
    if embedded_dns {
        out.push(format!("nameserver {EMBEDDED_DNS}"));
    } else {
        out.extend(dns.iter().map(|d| format!("nameserver {d}")));
        if !host_network && !out.iter().any(|l| l.split_whitespace().next() == Some("nameserver")) {
            out.extend(FALLBACK_NAMESERVERS.iter().map(|l| l.to_string()));
        }
    }
    // `--dns-search .`: no search domains at all.
    let search: Vec<&String> = search.iter().filter(|s| s.as_str() != ".").collect();
    if !search.is_empty() {
        out.push(format!("search {}", search.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")));
    }
    let mut options = options;
    if embedded_dns && !options.iter().any(|o| o.starts_with("ndots:")) {
        // Host options are kept (their line stays) unless DnsOptions replaces them.
        if let Some(i) = out.iter().position(|l| l.starts_with("options ")) {
            out[i].push_str(" ndots:0");
        } else {
            options.push("ndots:0".into());
        }
    }
    if !options.is_empty() {
        out.push(format!("options {}", options.join(" ")));
    }
    let mut text = out.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(config: Value, host_config: Value) -> Container {
        let mut c: Container = serde_json::from_value(json!({
            "ID": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "Name": "/x", "Created": "",
            "Path": "sh", "Args": [], "Config": config, "State": {"Status": "created", "Running": false, "Paused": false,
            "Restarting": false, "OOMKilled": false, "Dead": false, "Pid": 0, "ExitCode": 0, "Error": "",
            "StartedAt": "", "FinishedAt": ""}, "Image": "", "Driver": "overlay2", "MountID": "m", "RestartCount": 0,
            "HasBeenStartedBefore": false, "HostnamePath": "", "HostsPath": "", "ResolvConfPath": "", "LogPath": ""
        }))
        .unwrap();
        c.host_config = host_config;
        c
    }

    #[test]
    fn capabilities_follow_add_drop_and_privileged() {
        let d = &["CAP_CHOWN", "CAP_KILL"];
        assert_eq!(capabilities(&json!({"CapAdd": ["net_admin"], "CapDrop": ["KILL"]}), d), vec!["CAP_CHOWN", "CAP_NET_ADMIN"]);
        assert_eq!(capabilities(&json!({"CapDrop": ["ALL"], "CapAdd": ["CAP_KILL"]}), d), vec!["CAP_KILL"]);
        assert!(capabilities(&json!({"Privileged": true}), d).contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(capabilities(&json!({"CapAdd": ["ALL"]}), d).len() > 30);
    }

    #[test]
    fn files_carry_hosts_and_dns_settings() {
        let c = container(json!({}), json!({"ExtraHosts": ["db:10.0.0.2", "gw:host-gateway", "v6:[::5]"], "Dns": ["9.9.9.9"], "DnsSearch": ["example.com"], "DnsOptions": ["ndots:2"]}));
        let hosts = hosts_file(&c, Some("192.0.2.1"), &[]);
        assert!(hosts.starts_with("127.0.0.1\tlocalhost\n"), "{hosts}");
        assert!(hosts.ends_with("10.0.0.2\tdb\n192.0.2.1\tgw\n::5\tv6\n"), "{hosts}");
        let resolv = resolv_conf(&c, "nameserver 127.0.0.53\nnameserver 1.1.1.1\nsearch host.lan\noptions edns0\n", false);
        assert_eq!(resolv, "nameserver 9.9.9.9\nsearch example.com\noptions ndots:2\n");
        let plain = container(json!({}), json!({}));
        assert_eq!(resolv_conf(&plain, "nameserver 127.0.0.53\nnameserver 1.1.1.1\nsearch host.lan\n", false), "nameserver 1.1.1.1\nsearch host.lan\n");
        assert_eq!(resolv_conf(&plain, "nameserver 127.0.0.53\nsearch host.lan\n", false), "search host.lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        assert_eq!(resolv_conf(&plain, "nameserver 127.0.0.53\nsearch host.lan\noptions edns0\n", true), "search host.lan\noptions edns0 ndots:0\nnameserver 127.0.0.11\n");
        assert_eq!(hostname(&plain), "0123456789ab");
        assert_eq!(hostname(&container(json!({"Hostname": "web"}), json!({}))), "web");
    }

    #[test]
    fn tmpfs_options_keep_dockers_defaults_unless_overridden() {
        assert_eq!(tmpfs_options("size=1m"), vec!["noexec", "nosuid", "nodev", "size=1m"]);
        assert_eq!(tmpfs_options("exec,mode=1777"), vec!["nosuid", "nodev", "mode=1777"]);
    }
}
