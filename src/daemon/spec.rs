//! The OCI runtime spec (config.json) dockerd writes for a container, as Docker's defaults
//! make it, and the container-side user lookup it needs.

use super::container::Container;
use serde_json::{json, Value};
use std::path::Path;

const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
];

pub(super) const MASKED_PATHS: &[&str] = &[
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
];

pub(super) const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// The uid, gid and supplementary groups a `User` string names inside `rootfs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

/// Resolves `user[:group]` (names or numbers) against the container's /etc/passwd and
/// /etc/group, with Docker's error texts.
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<ExecUser, String> {
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    let group = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entries: Vec<Vec<&str>> = passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()).filter(|f| f.len() >= 7).collect();
    let found = entries.iter().find(|f| f[0] == u || (u.parse::<u32>().is_ok() && f[2] == u));
    let (uid, mut gid, name, home) = match (found, u.parse::<u32>()) {
        (Some(f), _) => (f[2].parse().unwrap_or(0), f[3].parse().unwrap_or(0), f[0].to_string(), f[5].to_string()),
        (None, Ok(n)) => (n, 0, String::new(), "/".to_string()),
        (None, Err(_)) => return Err(format!("unable to find user {u}: no matching entries in passwd file")),
    };
    let groups: Vec<Vec<&str>> = group.lines().map(|l| l.split(':').collect::<Vec<_>>()).filter(|f| f.len() >= 4).collect();
    if let Some(g) = g {
        gid = match groups.iter().find(|f| f[0] == g) {
            Some(f) => f[2].parse().unwrap_or(0),
            None => g.parse().map_err(|_| format!("unable to find group {g}: no matching entries in group file"))?,
        };
    }
    let additional_gids = if name.is_empty() || g.is_some() {
        Vec::new()
    } else {
        groups
            .iter()
            .filter(|f| f[3].split(',').any(|m| m == name))
            .filter_map(|f| f[2].parse().ok())
            .filter(|&x| x != gid)
            .collect()
    };
    Ok(ExecUser { uid, gid, additional_gids, home })
}

/// The process arguments: entrypoint then cmd.
pub fn process_args(config: &Value) -> Vec<String> {
    let list = |k: &str| -> Vec<String> {
        config.get(k).and_then(Value::as_array).map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect()).unwrap_or_default()
    };
    let mut args = list("Entrypoint");
    args.extend(list("Cmd"));
    args
}

/// config.json for `c` with its root filesystem at `rootfs`.
/// `netns`: a network namespace to join (see `network::netns`); None for a new one.
pub fn build(c: &Container, rootfs: &Path, data_root: &Path, netns: Option<&Path>) -> Result<Value, String> {
    let config = &c.config;
    let user = resolve_user(rootfs, config.get("User").and_then(Value::as_str).unwrap_or(""))?;
    let hostname = super::host_spec::hostname(c);
    let mut env: Vec<String> = config.get("Env").and_then(Value::as_array).map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect()).unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    env.insert(1.min(env.len()), format!("HOSTNAME={hostname}"));
    if c.tty() && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", if user.home.is_empty() { "/" } else { &user.home }));
    }
    let cwd = config.get("WorkingDir").and_then(Value::as_str).filter(|w| !w.is_empty()).unwrap_or("/");
    let caps_owned = super::host_spec::capabilities(&c.host_config, DEFAULT_CAPS);
    let caps: Vec<&str> = caps_owned.iter().map(String::as_str).collect();
    let dir = Container::dir(data_root, &c.id);
    let bind = |dest: &str, src: &Path| json!({"destination": dest, "type": "bind", "source": src, "options": ["rbind", "rprivate"]});
    let mut spec = json!({
        "ociVersion": crate::version::OCI_SPEC,
        "process": {
            "terminal": c.tty(),
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
            "args": process_args(config),
            "env": env,
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "oomScoreAdj": 0,
        },
        "root": {"path": rootfs, "readonly": c.host_config.get("ReadonlyRootfs").and_then(Value::as_bool).unwrap_or(false)},
        "hostname": hostname,
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]},
            bind("/etc/resolv.conf", &dir.join("resolv.conf")),
            bind("/etc/hostname", &dir.join("hostname")),
            bind("/etc/hosts", &dir.join("hosts")),
        ],
        "linux": {
            "namespaces": [
                {"type": "mount"},
                match netns {
                    Some(path) => json!({"type": "network", "path": path}),
                    None => json!({"type": "network"}),
                },
                {"type": "uts"},
                {"type": "pid"},
                {"type": "ipc"},
            ],
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
            "resources": super::resources::linux_resources(&c.host_config)?,
            "cgroupsPath": super::resources::cgroups_path(&c.host_config, &c.id),
        },
    });
    if let Some(profile) = seccomp_profile(c, &caps) {
        spec["linux"]["seccomp"] = profile;
    }
    super::host_spec::apply(c, rootfs, &mut spec)?;
    Ok(spec)
}

/// Docker's default seccomp profile for the container's capabilities, unless the container
/// runs with `--security-opt seccomp=unconfined` or `--privileged`.
fn seccomp_profile(c: &Container, caps: &[&str]) -> Option<Value> {
    let opts = c.host_config.get("SecurityOpt").and_then(Value::as_array).cloned().unwrap_or_default();
    let unconfined = opts.iter().filter_map(Value::as_str).any(|o| o == "seccomp=unconfined" || o == "seccomp:unconfined");
    let privileged = c.host_config.get("Privileged").and_then(Value::as_bool).unwrap_or(false);
    (!unconfined && !privileged).then(|| super::seccomp_profile::default_profile(caps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_resolve_against_the_container_files() {
        let dir = std::env::temp_dir().join(format!("dockbox-spec-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/home/web:/bin/sh\n").unwrap();
        std::fs::write(dir.join("etc/group"), "root:x:0:\nweb:x:1000:\nvideo:x:44:web\n").unwrap();
        assert_eq!(resolve_user(&dir, "").unwrap(), ExecUser { uid: 0, gid: 0, additional_gids: vec![], home: "/root".into() });
        assert_eq!(resolve_user(&dir, "web").unwrap(), ExecUser { uid: 1000, gid: 1000, additional_gids: vec![44], home: "/home/web".into() });
        assert_eq!(resolve_user(&dir, "1000:video").unwrap().gid, 44);
        assert_eq!(resolve_user(&dir, "4242").unwrap().uid, 4242);
        assert_eq!(resolve_user(&dir, "nobody").unwrap_err(), "unable to find user nobody: no matching entries in passwd file");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
