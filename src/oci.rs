//! The OCI runtime spec (config.json and the state document) as Rust types.
//!
//! Field order follows the spec's Go types so that what we write (e.g. `runc spec`) reads
//! like runc's output. Unknown fields are accepted and ignored; optional fields that are
//! absent stay absent when written back.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

fn is_false(b: &bool) -> bool {
    !*b
}

/// config.json.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    #[serde(default)]
    pub oci_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<Root>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Hooks>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux: Option<Linux>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    #[serde(default, skip_serializing_if = "is_false")]
    pub terminal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_size: Option<ConsoleSize>,
    #[serde(default)]
    pub user: User,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default)]
    pub cwd: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rlimits: Vec<Rlimit>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_new_privileges: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apparmor_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_priority: Option<IoPriority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<Scheduler>,
}

/// `process.ioPriority`: class IOPRIO_CLASS_RT, _BE or _IDLE, and a level 0-7.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IoPriority {
    pub class: String,
    #[serde(default)]
    pub priority: i32,
}

/// `process.scheduler`, the fields of sched_setattr(2).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Scheduler {
    pub policy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nice: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
}

/// `linux.personality`: domain LINUX or LINUX32.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Personality {
    pub domain: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ConsoleSize {
    pub height: u32,
    pub width: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub umask: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_gids: Vec<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// Capability names as in the spec ("CAP_KILL").
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Capabilities {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounding: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inheritable: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permitted: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambient: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Rlimit {
    #[serde(rename = "type")]
    pub kind: String,
    pub hard: u64,
    pub soft: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Root {
    pub path: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub readonly: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Mount {
    pub destination: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prestart: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_runtime: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_container: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub start_container: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststart: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<Hook>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Hook {
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uid_mappings: Vec<IdMapping>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gid_mappings: Vec<IdMapping>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctl: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroups_path: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<Namespace>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs_propagation: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked_paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readonly_paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personality: Option<Personality>,
    /// Time namespace offsets: clock name (monotonic, boottime) → {secs, nanosecs}.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_offsets: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Cgroup limits: the device rules typed, the rest kept as JSON until cgroups are applied.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceRule>,
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DeviceRule {
    pub allow: bool,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IdMapping {
    #[serde(rename = "containerID")]
    pub container_id: u32,
    #[serde(rename = "hostID")]
    pub host_id: u32,
    pub size: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Namespace {
    /// pid, network, mount, ipc, uts, user, cgroup, time.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// c, b, u or p.
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
    #[serde(default)]
    pub major: i64,
    #[serde(default)]
    pub minor: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_mode: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

/// The runtime state document (`runc state`), with runc's extra `rootfs`, `created`, `owner`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    /// creating, created, running, stopped.
    pub status: String,
    pub bundle: String,
    #[serde(default)]
    pub rootfs: String,
    #[serde(default)]
    pub created: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Spec {
    /// Parses config.json text; the error names the field, line and column.
    pub fn parse(text: &str) -> Result<Spec, String> {
        serde_json::from_str(text).map_err(|e| format!("config.json: {e}"))
    }

    /// Reads and parses `<bundle>/config.json`.
    pub fn load(bundle: &Path) -> Result<Spec, String> {
        let path = bundle.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                "JSON specification file config.json not found".to_string()
            } else {
                format!("open {}: {e}", path.display())
            }
        })?;
        Spec::parse(&text)
    }

    /// The namespaces of `linux.namespaces`, empty when there is no `linux` section.
    pub fn namespaces(&self) -> &[Namespace] {
        self.linux.as_ref().map(|l| l.namespaces.as_slice()).unwrap_or(&[])
    }

    /// The default spec `runc spec` writes; `rootless` gives the variant for an unprivileged
    /// user with `uid`/`gid` mapped to root.
    pub fn example(rootless: bool, uid: u32, gid: u32) -> Spec {
        let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let caps = strs(&["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        let mount = |dest: &str, kind: &str, source: &str, options: &[&str]| Mount {
            destination: dest.into(),
            kind: Some(kind.into()),
            source: Some(source.into()),
            options: if options.is_empty() { None } else { Some(strs(options)) },
        };
        let mut devpts = vec!["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"];
        if !rootless {
            devpts.push("gid=5");
        }
        let sys = if rootless {
            mount("/sys", "none", "/sys", &["rbind", "nosuid", "noexec", "nodev", "ro"])
        } else {
            mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"])
        };
        let mut namespaces: Vec<Namespace> = ["pid", "network", "ipc", "uts", "mount"]
            .iter()
            .filter(|n| !(rootless && **n == "network"))
            .map(|n| Namespace { kind: n.to_string(), path: None })
            .collect();
        let mut linux = Linux {
            namespaces: Vec::new(),
            masked_paths: strs(&[
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi",
            ]),
            readonly_paths: strs(&["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]),
            ..Default::default()
        };
        if rootless {
            namespaces.push(Namespace { kind: "user".into(), path: None });
            linux.uid_mappings = vec![IdMapping { container_id: 0, host_id: uid, size: 1 }];
            linux.gid_mappings = vec![IdMapping { container_id: 0, host_id: gid, size: 1 }];
        } else {
            linux.resources = Some(Resources { devices: vec![DeviceRule { allow: false, access: Some("rwm".into()), ..Default::default() }], other: BTreeMap::new() });
        }
        linux.namespaces = namespaces;
        Spec {
            // What runc 1.1 writes; some runtimes (crun 1.8) reject newer versions here.
            oci_version: "1.0.2-dev".to_string(),
            process: Some(Process {
                terminal: true,
                user: User::default(),
                args: strs(&["sh"]),
                env: strs(&["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"]),
                cwd: "/".into(),
                capabilities: Some(Capabilities {
                    bounding: Some(caps.clone()),
                    effective: Some(caps.clone()),
                    inheritable: None,
                    permitted: Some(caps.clone()),
                    ambient: Some(caps),
                }),
                rlimits: vec![Rlimit { kind: "RLIMIT_NOFILE".into(), hard: 1024, soft: 1024 }],
                no_new_privileges: true,
                ..Default::default()
            }),
            root: Some(Root { path: "rootfs".into(), readonly: true }),
            hostname: Some("runc".into()),
            mounts: vec![
                mount("/proc", "proc", "proc", &[]),
                mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
                mount("/dev/pts", "devpts", "devpts", &devpts),
                mount("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
                mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
                sys,
                mount("/sys/fs/cgroup", "cgroup", "cgroup", &["nosuid", "noexec", "nodev", "relatime", "ro"]),
            ],
            linux: Some(linux),
            ..Default::default()
        }
    }

    /// Serializes the way runc writes config.json: tab-indented.
    pub fn to_pretty_json(&self) -> String {
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        self.serialize(&mut ser).expect("a spec always serializes");
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_accepted_and_errors_name_the_place() {
        let s = Spec::parse(r#"{"ociVersion":"1.2.0","future":1,"process":{"args":["sh"],"cwd":"/","user":{"uid":1,"gid":2,"additionalGids":[3]},"x":{}},"root":{"path":"rootfs"},"linux":{"namespaces":[{"type":"pid"}],"seccomp":{"defaultAction":"SCMP_ACT_ALLOW"}}}"#).unwrap();
        assert_eq!(s.process.as_ref().unwrap().user.additional_gids, vec![3]);
        assert_eq!(s.namespaces()[0].kind, "pid");
        let err = Spec::parse("{\"process\":{\"args\":\"sh\"}}").unwrap_err();
        assert!(err.contains("line 1"), "{err}");
        assert!(err.contains("expected a sequence"), "{err}");
    }

    #[test]
    fn example_round_trips() {
        let s = Spec::example(false, 0, 0);
        let text = s.to_pretty_json();
        assert!(text.starts_with("{\n\t\"ociVersion\""));
        assert_eq!(Spec::parse(&text).unwrap(), s);
    }
}
