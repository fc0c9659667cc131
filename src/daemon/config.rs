//! dockerd's configuration: the flags this module adds to `Options` (`ConfigOptions`), the
//! table of every flag Docker 20.10's dockerd has with what this daemon does with it
//! (`FLAGS`: implemented, or refused with a message naming it), `daemon.json`
//! (`--config-file`) read into the same flags, Docker's refusal of a directive given both as a
//! flag and in the file and of unknown keys, the settings `SIGHUP` reloads (`Reloadable`),
//! and the daemon's defaults for new containers (log driver, `/dev/shm` size, ulimits, DNS,
//! namespace modes, runtimes, seccomp profile, no-new-privileges).
//!
//! daemon.json is read by turning each key into the flag it stands for (`--key=value`, a list
//! into repeated flags) and parsing those with the command line, so a value is checked the
//! same way whichever way it came.

use super::Options;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

pub const DEFAULT_CONFIG_FILE: &str = "/etc/docker/daemon.json";

/// The name of the runtime that is this executable's docker-runc (or `--default-runtime`'s
/// path, as before runtimes had names).
pub const STOCK_RUNTIME: &str = "runc";

/// The flags of dockerd beyond the engine's core ones (`Options`) and networking's.
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigOptions {
    /// Daemon configuration file
    #[arg(long = "config-file", default_value = DEFAULT_CONFIG_FILE)]
    pub config_file: PathBuf,
    /// Group for the unix socket
    #[arg(short = 'G', long = "group", default_value = "docker")]
    pub group: String,
    /// Use TLS; implied by --tlsverify
    #[arg(long = "tls", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = false)]
    pub tls: bool,
    /// Use TLS and verify the remote
    #[arg(long = "tlsverify", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = false)]
    pub tlsverify: bool,
    /// Trust certs signed only by this CA (default "~/.docker/ca.pem")
    #[arg(long = "tlscacert")]
    pub tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file (default "~/.docker/cert.pem")
    #[arg(long = "tlscert")]
    pub tlscert: Option<PathBuf>,
    /// Path to TLS key file (default "~/.docker/key.pem")
    #[arg(long = "tlskey")]
    pub tlskey: Option<PathBuf>,
    /// Set key=value labels to the daemon
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Default ulimits for containers (name=soft[:hard])
    #[arg(long = "default-ulimit", value_parser = parse_ulimit)]
    pub default_ulimits: Vec<Ulimit>,
    /// Default shm size for containers (default 64MiB)
    #[arg(long = "default-shm-size", value_parser = parse_size)]
    pub default_shm_size: Option<i64>,
    /// Default driver for container logs
    #[arg(long = "log-driver", default_value = "json-file")]
    pub log_driver: String,
    /// Default log driver options for containers (key=value)
    #[arg(long = "log-opt", value_parser = parse_key_value)]
    pub log_opts: Vec<(String, String)>,
    /// Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")
    #[arg(short = 'l', long = "log-level", value_parser = ["debug", "info", "warn", "error", "fatal"])]
    pub log_level: Option<String>,
    /// DNS server to use
    #[arg(long = "dns", value_parser = parse_ip)]
    pub dns: Vec<String>,
    /// DNS options to use
    #[arg(long = "dns-opt")]
    pub dns_opts: Vec<String>,
    /// DNS search domains to use
    #[arg(long = "dns-search", value_parser = parse_dns_search)]
    pub dns_search: Vec<String>,
    /// Default mode for containers cgroup namespace ("host" | "private")
    #[arg(long = "default-cgroupns-mode", value_parser = ["host", "private"])]
    pub default_cgroupns_mode: Option<String>,
    /// Default mode for containers ipc ("shareable" | "private")
    #[arg(long = "default-ipc-mode", value_parser = ["shareable", "private"])]
    pub default_ipc_mode: Option<String>,
    /// Runtime execution options (native.cgroupdriver=cgroupfs)
    #[arg(long = "exec-opt", value_parser = parse_exec_opt)]
    pub exec_opts: Vec<String>,
    /// Register an additional OCI compatible runtime (name=path)
    #[arg(long = "add-runtime", value_parser = parse_runtime)]
    pub add_runtimes: Vec<(String, PathBuf)>,
    /// Path to seccomp profile ("unconfined" for none)
    #[arg(long = "seccomp-profile")]
    pub seccomp_profile: Option<String>,
    /// Set no-new-privileges by default for new containers
    #[arg(long = "no-new-privileges", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = false)]
    pub no_new_privileges: bool,
    /// Set the max concurrent uploads for each push (pushes upload one layer at a time)
    #[arg(long = "max-concurrent-uploads", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_uploads: u32,
    /// Set the oom_score_adj for the daemon
    #[arg(long = "oom-score-adjust", allow_hyphen_values = true, value_parser = clap::value_parser!(i32).range(-1000..=1000))]
    pub oom_score_adjust: Option<i32>,
    /// Set parent cgroup for all containers
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// Set CORS headers in the Engine API
    #[arg(long = "api-cors-header")]
    pub api_cors_header: Option<String>,
    /// Whether `-G` was given (flag or file): a missing group is then an error.
    #[arg(skip)]
    pub group_given: bool,
}

/// One `--default-ulimit`: `nofile=1024:2048`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

fn parse_ulimit(v: &str) -> Result<Ulimit, String> {
    let (name, limits) = v.split_once('=').ok_or_else(|| format!("invalid ulimit argument: {v}"))?;
    if !super::create_fields::ULIMITS.iter().any(|(n, _)| *n == name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let n = |s: &str| s.parse::<i64>().map_err(|_| format!("invalid ulimit argument: {v}"));
    let (soft, hard) = match limits.split_once(':') {
        Some((s, h)) => (n(s)?, n(h)?),
        None => (n(limits)?, n(limits)?),
    };
    if soft > hard && hard != -1 {
        return Err(format!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"));
    }
    Ok(Ulimit { name: name.to_string(), soft, hard })
}

/// Docker's RAMInBytes: `64m`, `1.5g`, `512k`, `1024`, with an optional `b`/`ib`.
fn parse_size(s: &str) -> Result<i64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let t = lower.strip_suffix("ib").or_else(|| lower.strip_suffix('b')).unwrap_or(&lower);
    let (num, shift) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 10),
        Some('m') => (&t[..t.len() - 1], 20),
        Some('g') => (&t[..t.len() - 1], 30),
        Some('t') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    match num.parse::<f64>() {
        Ok(n) if n > 0.0 => Ok((n * (1u64 << shift) as f64) as i64),
        _ => Err(format!("invalid size: '{s}'")),
    }
}

fn parse_key_value(v: &str) -> Result<(String, String), String> {
    match v.split_once('=') {
        Some((k, val)) if !k.is_empty() => Ok((k.to_string(), val.to_string())),
        _ => Err(format!("invalid key/value pair format: {v}")),
    }
}

fn parse_ip(v: &str) -> Result<String, String> {
    v.trim().parse::<std::net::IpAddr>().map(|ip| ip.to_string()).map_err(|_| format!("{v} is not an ip address"))
}

fn parse_dns_search(v: &str) -> Result<String, String> {
    let d = v.trim();
    if d != "." && (d.is_empty() || d.len() > 255 || d.starts_with('-') || d.contains(char::is_whitespace) || !d.chars().any(|c| c.is_ascii_alphabetic())) {
        return Err(format!("{v} is not a valid domain"));
    }
    Ok(d.to_string())
}

/// `native.cgroupdriver=cgroupfs` is what this daemon is; systemd's driver is refused.
fn parse_exec_opt(v: &str) -> Result<String, String> {
    let (key, value) = v.split_once('=').ok_or_else(|| format!("invalid exec-opt ({v}): must be formatted 'opt=value'"))?;
    match (key.trim().to_ascii_lowercase().as_str(), value.trim()) {
        ("native.cgroupdriver", "cgroupfs") => Ok(v.to_string()),
        ("native.cgroupdriver", "systemd") => Err("native.cgroupdriver=systemd is not supported by this daemon: it manages cgroups itself (cgroupfs)".into()),
        ("native.cgroupdriver", other) => Err(format!("native.cgroupdriver option {other} not supported")),
        _ => Err(format!("unknown exec-opt {key:?}: this daemon knows native.cgroupdriver=cgroupfs only")),
    }
}

/// `--add-runtime name=path`.
fn parse_runtime(v: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = v.split_once('=').filter(|(n, p)| !n.is_empty() && !p.is_empty()).ok_or_else(|| format!("invalid runtime argument: {v}"))?;
    if name == STOCK_RUNTIME {
        return Err(format!("runtime name '{STOCK_RUNTIME}' is reserved"));
    }
    Ok((name.to_string(), PathBuf::from(path)))
}

/// What the daemon does with a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    Implemented,
    /// Refused when set to anything but its zero value (`false`, empty) or one of the values
    /// listed (its default), with this reason.
    Refused(&'static str, &'static [&'static str]),
}

/// How a daemon.json value becomes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `--flag` when true (a clap switch); false is its default.
    Switch,
    /// `--flag=true|false`.
    Bool,
    /// `--flag=value` (a string or a number).
    Value,
    /// A JSON array: the flag once per element.
    List,
    /// A JSON object of strings: `--flag key=value` per entry (`log-opts`).
    Map,
    /// `runtimes`: `{"name": {"path": "..."}}` → `--add-runtime name=path`.
    Runtimes,
    /// `default-ulimits`: `{"nofile": {"Name": "nofile", "Soft": 1, "Hard": 2}}`.
    Ulimits,
    /// `default-address-pools`: `[{"base": "10.10.0.0/16", "size": 24}]`.
    Pools,
    /// Only in daemon.json, with no flag (`features`, `builder`).
    FileOnly,
}

pub struct Flag {
    /// The long name, without `--`.
    pub long: &'static str,
    pub short: Option<char>,
    /// Its daemon.json key, when it has one.
    pub key: Option<&'static str>,
    pub kind: Kind,
    pub handling: Handling,
    /// Whether `SIGHUP` reloads it from daemon.json.
    pub reload: bool,
}

use Handling::{Implemented as I, Refused as R};
use Kind::*;

const fn f(long: &'static str, short: Option<char>, key: Option<&'static str>, kind: Kind, handling: Handling, reload: bool) -> Flag {
    Flag { long, short, key, kind, handling, reload }
}

/// Every flag of Docker 20.10's dockerd on Linux (and daemon.json's file-only keys).
/// `tests/daemon_config.rs` checks this table against Docker 20.10's list and our parser.
pub const FLAGS: &[Flag] = &[
    f("add-runtime", None, Some("runtimes"), Runtimes, I, true),
    f("allow-nondistributable-artifacts", None, Some("allow-nondistributable-artifacts"), List, R("pushing nondistributable artifacts is not supported by this daemon", &[]), true),
    f("api-cors-header", None, Some("api-cors-header"), Value, I, false),
    f("authorization-plugin", None, Some("authorization-plugins"), List, R("authorization plugins are not supported by this daemon", &[]), false),
    f("bip", None, Some("bip"), Value, I, false),
    f("bridge", Some('b'), Some("bridge"), Value, I, false),
    f("cgroup-parent", None, Some("cgroup-parent"), Value, I, false),
    // Ours: Docker ships the same check as contrib/check-config.sh.
    f("check-config", None, None, Switch, I, false),
    f("cluster-advertise", None, Some("cluster-advertise"), Value, R("cluster discovery (--cluster-advertise) is not supported by this daemon", &[]), true),
    f("cluster-store", None, Some("cluster-store"), Value, R("cluster discovery (--cluster-store) is not supported by this daemon", &[]), true),
    f("cluster-store-opt", None, Some("cluster-store-opts"), Map, R("cluster discovery (--cluster-store-opt) is not supported by this daemon", &[]), true),
    f("config-file", None, None, Value, I, false),
    f("containerd", None, Some("containerd"), Value, I, false),
    f("containerd-namespace", None, Some("containerd-namespace"), Value, R("this daemon's containers live in containerd namespace \"moby\" only", &["moby"]), false),
    f("containerd-plugins-namespace", None, Some("containerd-plugins-namespace"), Value, R("plugins are not supported by this daemon", &["plugins.moby"]), false),
    f("cpu-rt-period", None, Some("cpu-rt-period"), Value, R("a real-time period for the parent cgroup (--cpu-rt-period) is not supported by this daemon", &[]), false),
    f("cpu-rt-runtime", None, Some("cpu-rt-runtime"), Value, R("a real-time runtime for the parent cgroup (--cpu-rt-runtime) is not supported by this daemon", &[]), false),
    f("cri-containerd", None, Some("cri-containerd"), Bool, R("containerd's CRI plugin is not part of this daemon", &[]), false),
    f("data-root", None, Some("data-root"), Value, I, false),
    f("debug", Some('D'), Some("debug"), Switch, I, true),
    f("default-address-pool", None, Some("default-address-pools"), Pools, I, false),
    f("default-cgroupns-mode", None, Some("default-cgroupns-mode"), Value, I, false),
    f("default-gateway", None, Some("default-gateway"), Value, I, false),
    f("default-gateway-v6", None, Some("default-gateway-v6"), Value, I, false),
    f("default-ipc-mode", None, Some("default-ipc-mode"), Value, I, true),
    f("default-runtime", None, Some("default-runtime"), Value, I, true),
    f("default-shm-size", None, Some("default-shm-size"), Value, I, true),
    f("default-ulimit", None, Some("default-ulimits"), Ulimits, I, false),
    f("dns", None, Some("dns"), List, I, false),
    f("dns-opt", None, Some("dns-opts"), List, I, false),
    f("dns-search", None, Some("dns-search"), List, I, false),
    f("exec-opt", None, Some("exec-opts"), List, I, false),
    f("exec-root", None, Some("exec-root"), Value, I, false),
    f("experimental", None, Some("experimental"), Switch, R("this daemon has no experimental features", &[]), false),
    f("fixed-cidr", None, Some("fixed-cidr"), Value, I, false),
    f("fixed-cidr-v6", None, Some("fixed-cidr-v6"), Value, I, false),
    f("group", Some('G'), Some("group"), Value, I, false),
    f("help", None, None, Switch, I, false),
    f("host", Some('H'), Some("hosts"), List, I, false),
    f("host-gateway-ip", None, Some("host-gateway-ip"), Value, I, false),
    f("icc", None, Some("icc"), Bool, I, false),
    f("init", None, Some("init"), Bool, I, false),
    f("init-path", None, Some("init-path"), Value, I, false),
    f("insecure-registry", None, Some("insecure-registries"), List, I, true),
    f("ip", None, Some("ip"), Value, I, false),
    f("ip-forward", None, Some("ip-forward"), Bool, I, false),
    f("ip-masq", None, Some("ip-masq"), Bool, I, false),
    f("ip6tables", None, Some("ip6tables"), Bool, I, false),
    f("iptables", None, Some("iptables"), Bool, I, false),
    f("ipv6", None, Some("ipv6"), Bool, I, false),
    f("label", None, Some("labels"), List, I, true),
    f("live-restore", None, Some("live-restore"), Switch, I, true),
    f("log-driver", None, Some("log-driver"), Value, I, false),
    f("log-level", Some('l'), Some("log-level"), Value, I, false),
    f("log-opt", None, Some("log-opts"), Map, I, false),
    f("max-concurrent-downloads", None, Some("max-concurrent-downloads"), Value, I, true),
    f("max-concurrent-uploads", None, Some("max-concurrent-uploads"), Value, I, true),
    f("max-download-attempts", None, Some("max-download-attempts"), Value, R("this daemon does not retry a failed layer download", &["1"]), true),
    f("metrics-addr", None, Some("metrics-addr"), Value, R("the metrics endpoint (--metrics-addr) is not supported by this daemon", &[]), false),
    f("mtu", None, Some("mtu"), Value, I, false),
    f("network-control-plane-mtu", None, Some("network-control-plane-mtu"), Value, R("swarm's network control plane is not part of this daemon", &["1500"]), false),
    f("no-new-privileges", None, Some("no-new-privileges"), Bool, I, false),
    f("node-generic-resource", None, Some("node-generic-resources"), List, R("swarm's generic resources are not part of this daemon", &[]), false),
    f("oom-score-adjust", None, Some("oom-score-adjust"), Value, I, false),
    f("pidfile", Some('p'), Some("pidfile"), Value, I, false),
    f("raw-logs", None, Some("raw-logs"), Switch, R("this daemon's log lines have no colours to turn off (--raw-logs)", &[]), false),
    f("registry-mirror", None, Some("registry-mirrors"), List, I, true),
    f("rootless", None, Some("rootless"), Switch, R("rootless mode is not supported by this daemon", &[]), false),
    f("seccomp-profile", None, Some("seccomp-profile"), Value, I, false),
    f("selinux-enabled", None, Some("selinux-enabled"), Switch, R("SELinux is not supported by this daemon", &[]), false),
    f("shutdown-timeout", None, Some("shutdown-timeout"), Value, R("a daemon-wide --shutdown-timeout is not supported by this daemon: containers stop with their own stop timeout", &[]), true),
    f("storage-driver", Some('s'), Some("storage-driver"), Value, I, false),
    f("storage-opt", None, Some("storage-opts"), List, R("storage driver options (--storage-opt) are not supported by this daemon", &[]), false),
    f("swarm-default-advertise-addr", None, Some("swarm-default-advertise-addr"), Value, R("swarm mode is not part of this daemon", &[]), false),
    f("tls", None, Some("tls"), Bool, I, false),
    f("tlscacert", None, Some("tlscacert"), Value, I, false),
    f("tlscert", None, Some("tlscert"), Value, I, false),
    f("tlskey", None, Some("tlskey"), Value, I, false),
    f("tlsverify", None, Some("tlsverify"), Bool, I, false),
    f("userland-proxy", None, Some("userland-proxy"), Bool, I, false),
    f("userland-proxy-path", None, Some("userland-proxy-path"), Value, I, false),
    f("userns-remap", None, Some("userns-remap"), Value, R("user namespace remapping (--userns-remap) is not supported by this daemon yet", &[]), false),
    f("version", Some('v'), None, Switch, I, false),
    // Hidden or deprecated in 20.10.
    f("graph", Some('g'), Some("graph"), Value, R("--graph is deprecated: use --data-root", &[]), false),
    f("network-diagnostic-port", None, Some("network-diagnostic-port"), Value, R("the network diagnostic server is not part of this daemon", &[]), true),
    // daemon.json only.
    f("", None, Some("features"), FileOnly, R("feature toggles (\"features\") are not supported by this daemon", &[]), true),
    f("", None, Some("builder"), FileOnly, R("the builder (\"builder\") is not part of this daemon", &[]), false),
];

/// The entry of a daemon.json key.
pub fn by_key(key: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.key == Some(key))
}

pub fn by_long(long: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| !f.long.is_empty() && f.long == long)
}

fn by_short(c: char) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.short == Some(c))
}

/// Whether a refused flag's value is harmless: its zero value or an allowed one.
fn harmless(value: &str, allowed: &[&str]) -> bool {
    matches!(value, "" | "false" | "0") || allowed.contains(&value)
}

fn json_harmless(v: &Value, allowed: &[&str]) -> bool {
    match v {
        Value::String(s) => harmless(s, allowed),
        Value::Number(n) => harmless(&n.to_string(), allowed),
        other => super::create_fields::is_zero(other),
    }
}

fn refusal(name: &str, why: &str) -> String {
    format!("{name} is not supported: {why}")
}

/// The command line without the refused flags that are set to a harmless value (clap does not
/// know them), or the refusal of the first one set to something else.
fn strip_refused(args: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = args.iter().take(1).cloned().collect();
    let mut i = 1;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let (flag, name, inline) = if let Some(long) = arg.strip_prefix("--") {
            match long.split_once('=') {
                Some((n, v)) => (by_long(n), format!("--{n}"), Some(v.to_string())),
                None => (by_long(long), format!("--{long}"), None),
            }
        } else if let Some(c) = arg.strip_prefix('-').and_then(|s| s.chars().next()) {
            let rest = &arg[1 + c.len_utf8()..];
            (by_short(c), format!("-{c}"), (!rest.is_empty()).then(|| rest.trim_start_matches('=').to_string()))
        } else {
            (None, String::new(), None)
        };
        match flag {
            Some(Flag { handling: Handling::Refused(why, allowed), kind, .. }) => {
                let value = match (inline, kind) {
                    (Some(v), _) => v,
                    (None, Switch | Bool) => "true".to_string(),
                    (None, _) => {
                        i += 1;
                        args.get(i - 1).cloned().unwrap_or_default()
                    }
                };
                if !harmless(&value, allowed) {
                    return Err(refusal(&name, why));
                }
            }
            _ => out.push(arg.clone()),
        }
    }
    Ok(out)
}

/// Go's `%v` of a JSON value, as Docker's conflict message shows it.
fn go_format(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_format).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => format!("map[{}]", o.iter().map(|(k, v)| format!("{k}:{}", go_format(v))).collect::<Vec<_>>().join(" ")),
        other => other.to_string(),
    }
}

fn json_scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The flags a daemon.json key stands for.
fn key_to_args(flag: &Flag, key: &str, v: &Value) -> Result<Vec<String>, String> {
    let bad = || format!("invalid value for \"{key}\" in the configuration file: {v}");
    let long = format!("--{}", flag.long);
    let mut out = Vec::new();
    match flag.kind {
        Switch => match v {
            Value::Bool(true) => out.push(long),
            Value::Bool(false) => {}
            _ => return Err(bad()),
        },
        Bool => match v {
            Value::Bool(b) => out.push(format!("{long}={b}")),
            _ => return Err(bad()),
        },
        Value => out.push(format!("{long}={}", json_scalar(v).filter(|_| !v.is_boolean()).ok_or_else(bad)?)),
        List => {
            for item in v.as_array().ok_or_else(bad)? {
                out.push(format!("{long}={}", json_scalar(item).ok_or_else(bad)?));
            }
        }
        Map => {
            for (k, item) in v.as_object().ok_or_else(bad)? {
                out.push(format!("{long}={k}={}", json_scalar(item).ok_or_else(bad)?));
            }
        }
        Runtimes => {
            for (name, rt) in v.as_object().ok_or_else(bad)? {
                let path = rt.get("path").and_then(Value::as_str).ok_or_else(|| format!("runtime {name}: a path is required"))?;
                if rt.get("runtimeArgs").is_some_and(|a| !super::create_fields::is_zero(a)) {
                    return Err(format!("runtime {name}: runtimeArgs are not supported by this daemon"));
                }
                if let Some(other) = rt.as_object().and_then(|o| o.keys().find(|k| !matches!(k.as_str(), "path" | "runtimeArgs"))) {
                    return Err(format!("runtime {name}: {other:?} is not supported by this daemon"));
                }
                out.push(format!("{long}={name}={path}"));
            }
        }
        Ulimits => {
            for (name, u) in v.as_object().ok_or_else(bad)? {
                let n = |k: &str| u.get(k).and_then(Value::as_i64).ok_or_else(bad);
                out.push(format!("{long}={name}={}:{}", n("Soft")?, n("Hard")?));
            }
        }
        Pools => {
            for p in v.as_array().ok_or_else(bad)? {
                let base = p.get("base").and_then(Value::as_str).ok_or_else(bad)?;
                let size = p.get("size").and_then(Value::as_u64).ok_or_else(bad)?;
                out.push(format!("{long}=base={base},size={size}"));
            }
        }
        FileOnly => return Err(bad()),
    }
    Ok(out)
}

/// Reads daemon.json: None when the default file is absent; Docker's errors otherwise.
pub fn read_file(path: &Path, named: bool) -> Result<Option<Map<String, Value>>, String> {
    let fail = |e: String| format!("unable to configure the Docker daemon with file {}: {e}", path.display());
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !named => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(fail(format!("open {}: no such file or directory", path.display()))),
        Err(e) => return Err(fail(format!("open {}: {e}", path.display()))),
    };
    // An empty file is an empty configuration, as Docker's.
    if text.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(Map::new()));
    }
    match serde_json::from_slice::<Value>(&text) {
        Ok(Value::Object(o)) => Ok(Some(o)),
        Ok(_) => Err(fail("the configuration must be a JSON object".into())),
        Err(e) => Err(fail(e.to_string())),
    }
}

/// The configuration: the command line merged with daemon.json, as Docker merges them.
pub struct Loaded {
    pub opts: Options,
    /// daemon.json's keys as read (for the log of a reload).
    pub file: Map<String, Value>,
}

/// Parses dockerd's command line and its daemon.json. `Err` carries clap's error (usage,
/// `--help`) or Docker's message.
pub fn load(args: &[String]) -> Result<Loaded, LoadError> {
    use clap::{CommandFactory, FromArgMatches};
    let cmdline = strip_refused(args).map_err(LoadError::Config)?;
    let matches = Options::command().try_get_matches_from(&cmdline).map_err(LoadError::Clap)?;
    let given = Options::from_arg_matches(&matches).map_err(LoadError::Clap)?;
    let mut given = given;
    given.config.group_given = matches.value_source("group") == Some(clap::parser::ValueSource::CommandLine);
    if given.version {
        return Ok(Loaded { opts: given, file: Map::new() });
    }
    let named = matches.value_source("config_file") == Some(clap::parser::ValueSource::CommandLine);
    let Some(file) = read_file(&given.config.config_file, named).map_err(LoadError::Config)? else {
        return Ok(Loaded { opts: given, file: Map::new() });
    };
    let extra = file_args(&file, &matches).map_err(LoadError::Config)?;
    let mut all = cmdline;
    all.extend(extra);
    let fail = |e: clap::Error| LoadError::Config(format!("unable to configure the Docker daemon with file {}: {}", given.config.config_file.display(), first_line(&e.to_string())));
    let matches = Options::command().try_get_matches_from(&all).map_err(fail)?;
    let mut opts = Options::from_arg_matches(&matches).map_err(fail)?;
    opts.config.group_given = matches.value_source("group") == Some(clap::parser::ValueSource::CommandLine);
    Ok(Loaded { opts, file })
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().trim_start_matches("error: ").to_string()
}

pub enum LoadError {
    Clap(clap::Error),
    Config(String),
}

/// The flags daemon.json stands for, after Docker's checks: unknown keys, refused settings,
/// and directives also given as flags.
fn file_args(file: &Map<String, Value>, cmdline: &clap::ArgMatches) -> Result<Vec<String>, String> {
    use clap::CommandFactory;
    let unknown: Vec<&str> = file.keys().filter(|k| by_key(k).is_none()).map(String::as_str).collect();
    if !unknown.is_empty() {
        return Err(format!("the following directives don't match any configuration option: {}", unknown.join(", ")));
    }
    let command = Options::command();
    let mut conflicts = Vec::new();
    for (key, value) in file {
        let flag = by_key(key).expect("known key");
        let Some(arg) = command.get_arguments().find(|a| a.get_long() == Some(flag.long)) else { continue };
        if cmdline.value_source(arg.get_id().as_str()) == Some(clap::parser::ValueSource::CommandLine) {
            let raw: Vec<String> = cmdline.get_raw(arg.get_id().as_str()).into_iter().flatten().map(|s| s.to_string_lossy().into_owned()).collect();
            let from_flag = match raw.as_slice() {
                [] => "true".to_string(),
                [one] if !matches!(flag.kind, List | Map | Pools | Runtimes | Ulimits) => one.clone(),
                many => format!("[{}]", many.join(" ")),
            };
            conflicts.push(format!("{key}: (from flag: {from_flag}, from file: {})", go_format(value)));
        }
    }
    if !conflicts.is_empty() {
        return Err(format!("the following directives are specified both as a flag and in the configuration file: {}", conflicts.join(", ")));
    }
    let mut out = Vec::new();
    for (key, value) in file {
        let flag = by_key(key).expect("known key");
        if let Handling::Refused(why, allowed) = flag.handling {
            if !json_harmless(value, allowed) {
                return Err(refusal(&format!("\"{key}\" in the configuration file"), why));
            }
            continue;
        }
        out.extend(key_to_args(flag, key, value)?);
    }
    Ok(out)
}

/// The settings `SIGHUP` reloads from daemon.json (Docker's `Reload`), read through
/// `Daemon::settings`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reloadable {
    pub debug: bool,
    pub labels: Vec<String>,
    pub live_restore: bool,
    pub max_concurrent_downloads: usize,
    pub max_concurrent_uploads: u32,
    pub insecure_registries: Vec<String>,
    pub registry_mirrors: Vec<String>,
    /// Named runtimes (`--add-runtime`, `runtimes`) besides `runc`.
    pub runtimes: BTreeMap<String, PathBuf>,
    /// The runtime a container gets when it names none.
    pub default_runtime: String,
    pub shm_size: Option<i64>,
    pub ipc_mode: Option<String>,
}

impl Reloadable {
    pub fn from_options(o: &Options) -> Reloadable {
        let runtimes: BTreeMap<String, PathBuf> = o.config.add_runtimes.iter().cloned().collect();
        // `--default-runtime` names a registered runtime, or (as before runtimes had names) a
        // path or program that replaces docker-runc as containerd's default, still "runc".
        let default_runtime = o.default_runtime.clone().filter(|r| runtimes.contains_key(r)).unwrap_or_else(|| STOCK_RUNTIME.to_string());
        Reloadable {
            debug: o.debug || o.config.log_level.as_deref() == Some("debug"),
            labels: o.config.labels.clone(),
            live_restore: o.live_restore,
            max_concurrent_downloads: o.max_concurrent_downloads,
            max_concurrent_uploads: o.config.max_concurrent_uploads,
            insecure_registries: o.insecure_registries.clone(),
            registry_mirrors: o.registry_mirrors.clone(),
            runtimes,
            default_runtime,
            shm_size: o.config.default_shm_size,
            ipc_mode: o.config.default_ipc_mode.clone(),
        }
    }

    /// The runtime path containerd gets for a container's `HostConfig.Runtime` (None:
    /// containerd's default, docker-runc or `--default-runtime`'s path).
    pub fn runtime_path(&self, name: &str) -> Result<Option<PathBuf>, String> {
        match name {
            "" | STOCK_RUNTIME => Ok(None),
            n => self.runtimes.get(n).cloned().map(Some).ok_or_else(|| format!("unknown or invalid runtime name: {n}")),
        }
    }

    /// `docker info`'s Runtimes.
    pub fn runtimes_json(&self, stock_path: &str) -> Value {
        let mut m = Map::new();
        m.insert(STOCK_RUNTIME.into(), json!({"path": stock_path}));
        for (name, path) in &self.runtimes {
            m.insert(name.clone(), json!({"path": path}));
        }
        Value::Object(m)
    }
}

/// The reloadable settings, swapped whole on `SIGHUP`.
pub struct Live(RwLock<Arc<Reloadable>>);

impl Live {
    pub fn new(r: Reloadable) -> Live {
        Live(RwLock::new(Arc::new(r)))
    }

    pub fn get(&self) -> Arc<Reloadable> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, r: Reloadable) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(r);
    }
}

/// `SIGHUP`: reads daemon.json again (with the same command line) and takes the keys Docker
/// reloads from it, and only those; an invalid file changes nothing. Returns what was logged.
pub fn reload(args: &[String], live: &Live) -> Result<Value, String> {
    let loaded = match load(args) {
        Ok(l) => l,
        Err(LoadError::Config(e)) => return Err(e),
        Err(LoadError::Clap(e)) => return Err(first_line(&e.to_string())),
    };
    let fresh = Reloadable::from_options(&loaded.opts);
    let old = live.get();
    let in_file = |key: &str| loaded.file.contains_key(key);
    // Docker reloads a key present in the file; one that left the file keeps its value,
    // except the booleans and lists Docker resets (debug, labels, registries).
    let next = Reloadable {
        debug: fresh.debug,
        labels: fresh.labels.clone(),
        live_restore: fresh.live_restore,
        max_concurrent_downloads: if in_file("max-concurrent-downloads") { fresh.max_concurrent_downloads } else { old.max_concurrent_downloads },
        max_concurrent_uploads: if in_file("max-concurrent-uploads") { fresh.max_concurrent_uploads } else { old.max_concurrent_uploads },
        insecure_registries: fresh.insecure_registries.clone(),
        registry_mirrors: fresh.registry_mirrors.clone(),
        runtimes: if in_file("runtimes") { fresh.runtimes.clone() } else { old.runtimes.clone() },
        default_runtime: if in_file("default-runtime") { fresh.default_runtime.clone() } else { old.default_runtime.clone() },
        shm_size: if in_file("default-shm-size") { fresh.shm_size } else { old.shm_size },
        ipc_mode: if in_file("default-ipc-mode") { fresh.ipc_mode.clone() } else { old.ipc_mode.clone() },
    };
    let shown = json!({
        "debug": next.debug, "labels": next.labels, "live-restore": next.live_restore,
        "max-concurrent-downloads": next.max_concurrent_downloads, "max-concurrent-uploads": next.max_concurrent_uploads,
        "insecure-registries": next.insecure_registries, "registry-mirrors": next.registry_mirrors,
        "runtimes": next.runtimes, "default-runtime": next.default_runtime,
        "default-shm-size": next.shm_size, "default-ipc-mode": next.ipc_mode,
    });
    live.set(next);
    Ok(shown)
}

/// The checks of the settings that make defaults for containers, at start.
pub fn validate(o: &Options) -> Result<(), String> {
    let log = json!({"LogConfig": {"Type": o.config.log_driver, "Config": o.config.log_opts.iter().cloned().collect::<BTreeMap<_, _>>()}});
    super::create_fields::validate(&Map::new(), &log, None).map_err(|e| format!("failed to set log opts: {e}"))?;
    if let Some(d) = o.default_runtime.as_deref() {
        if d != STOCK_RUNTIME && !o.config.add_runtimes.iter().any(|(n, _)| n == d) && !d.contains('/') && which(d).is_none() && !crate::runc::is_applet_name(d) {
            return Err(format!("specified default runtime '{d}' does not exist"));
        }
    }
    if let Some(p) = o.config.seccomp_profile.as_deref() {
        seccomp_profile(p)?;
    }
    if let Some(parent) = o.config.cgroup_parent.as_deref() {
        if parent.ends_with(".slice") {
            return Err(format!("cgroup-parent {parent:?} is a systemd slice: this daemon's cgroup driver is cgroupfs"));
        }
    }
    if o.config.tlsverify || o.config.tls {
        // Read now, so a missing certificate stops the start, as Docker's.
        tls_paths(&o.config)?;
    }
    Ok(())
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// The CA, certificate and key of the TCP listeners, with Docker's defaults
/// (`$DOCKER_CERT_PATH` or `~/.docker`, then `ca.pem`, `cert.pem`, `key.pem`).
pub fn tls_paths(c: &ConfigOptions) -> Result<(Option<PathBuf>, PathBuf, PathBuf), String> {
    let dir = std::env::var_os("DOCKER_CERT_PATH").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".docker"));
    let ca = c.tlscacert.clone().unwrap_or_else(|| dir.join("ca.pem"));
    let cert = c.tlscert.clone().unwrap_or_else(|| dir.join("cert.pem"));
    let key = c.tlskey.clone().unwrap_or_else(|| dir.join("key.pem"));
    for p in [&cert, &key] {
        if !p.exists() {
            return Err(format!("Could not load X509 key pair: open {}: no such file or directory", p.display()));
        }
    }
    if c.tlsverify && !ca.exists() {
        return Err(format!("Could not read CA certificate \"{}\": open {}: no such file or directory", ca.display(), ca.display()));
    }
    Ok((c.tlsverify.then_some(ca), cert, key))
}

/// A `--seccomp-profile`: `unconfined`, or a file in Docker's profile format.
pub fn seccomp_profile(path: &str) -> Result<Option<Value>, String> {
    if path == "unconfined" {
        return Ok(None);
    }
    let text = std::fs::read(path).map_err(|e| format!("opening seccomp profile ({path}) failed: {e}"))?;
    let v: Value = serde_json::from_slice(&text).map_err(|e| format!("Decoding seccomp profile failed: {e}"))?;
    if !v.get("defaultAction").is_some_and(Value::is_string) {
        return Err(format!("Decoding seccomp profile failed: {path}: defaultAction is required"));
    }
    Ok(Some(v))
}

/// A Docker seccomp profile as the spec's `linux.seccomp`, for a container with `caps`: the
/// rules whose `includes`/`excludes` (capabilities, architectures) apply to it.
pub fn seccomp_to_oci(profile: &Value, caps: &[String]) -> Value {
    let arch = std::env::consts::ARCH;
    let arch_names: Vec<&str> = match arch {
        "x86_64" => vec!["SCMP_ARCH_X86_64", "amd64", "x86_64"],
        "aarch64" => vec!["SCMP_ARCH_AARCH64", "arm64", "aarch64"],
        "arm" => vec!["SCMP_ARCH_ARM", "arm"],
        "x86" => vec!["SCMP_ARCH_X86", "386", "x86"],
        other => vec![other],
    };
    let list = |v: Option<&Value>| -> Vec<String> { v.and_then(Value::as_array).map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default() };
    let has_cap = |c: &String| caps.iter().any(|have| have == c);
    let on_arch = |a: &String| arch_names.contains(&a.as_str());
    let mut syscalls = Vec::new();
    for rule in profile.get("syscalls").and_then(Value::as_array).into_iter().flatten() {
        let inc = rule.get("includes");
        let exc = rule.get("excludes");
        let inc_caps = list(inc.and_then(|i| i.get("caps")));
        let inc_arches = list(inc.and_then(|i| i.get("arches")));
        if (!inc_caps.is_empty() && !inc_caps.iter().all(has_cap)) || (!inc_arches.is_empty() && !inc_arches.iter().any(on_arch)) {
            continue;
        }
        if list(exc.and_then(|e| e.get("caps"))).iter().any(has_cap) || list(exc.and_then(|e| e.get("arches"))).iter().any(on_arch) {
            continue;
        }
        let mut names = list(rule.get("names"));
        if let Some(name) = rule.get("name").and_then(Value::as_str) {
            names.push(name.to_string());
        }
        let mut out = json!({"names": names, "action": rule.get("action").cloned().unwrap_or(json!("SCMP_ACT_ALLOW"))});
        for k in ["args", "errnoRet"] {
            if let Some(v) = rule.get(k).filter(|v| !v.is_null()) {
                out[k] = v.clone();
            }
        }
        syscalls.push(out);
    }
    let mut oci = json!({"defaultAction": profile["defaultAction"], "syscalls": syscalls});
    if let Some(e) = profile.get("defaultErrnoRet").filter(|v| !v.is_null()) {
        oci["defaultErrnoRet"] = e.clone();
    }
    let ours = arch_names[0];
    let mut arches = vec![];
    for m in profile.get("archMap").and_then(Value::as_array).into_iter().flatten() {
        if m.get("architecture").and_then(Value::as_str) == Some(ours) {
            arches.push(json!(ours));
            arches.extend(list(m.get("subArchitectures")).into_iter().map(Value::String));
        }
    }
    arches.extend(list(profile.get("architectures")).into_iter().map(Value::String));
    if !arches.is_empty() {
        oci["architectures"] = json!(arches);
    }
    oci
}

/// The daemon's defaults in a create request's HostConfig, before it is checked (Docker's
/// `mergeAndVerifyLogConfig` and `adaptContainerSettings`): log driver and options, /dev/shm
/// size, IPC and cgroup namespace modes, runtime (which must be known).
pub fn apply_create_defaults(o: &Options, live: &Reloadable, h: &mut Value) -> Result<(), String> {
    if !h.is_object() {
        *h = json!({});
    }
    let log_type = h.pointer("/LogConfig/Type").and_then(Value::as_str).unwrap_or("").to_string();
    if log_type.is_empty() || log_type == o.config.log_driver {
        if !h.get("LogConfig").is_some_and(Value::is_object) {
            h["LogConfig"] = json!({});
        }
        h["LogConfig"]["Type"] = json!(o.config.log_driver);
        if !h["LogConfig"].get("Config").is_some_and(Value::is_object) {
            h["LogConfig"]["Config"] = json!({});
        }
        for (k, v) in &o.config.log_opts {
            if h["LogConfig"]["Config"].get(k).is_none() {
                h["LogConfig"]["Config"][k] = json!(v);
            }
        }
    }
    let unset = |h: &Value, k: &str| h.get(k).is_none_or(super::create_fields::is_zero);
    if let Some(size) = live.shm_size.filter(|_| unset(h, "ShmSize")) {
        h["ShmSize"] = json!(size);
    }
    if let Some(mode) = live.ipc_mode.as_ref().filter(|_| unset(h, "IpcMode")) {
        h["IpcMode"] = json!(mode);
    }
    if let Some(mode) = o.config.default_cgroupns_mode.as_ref().filter(|_| unset(h, "CgroupnsMode")) {
        h["CgroupnsMode"] = json!(mode);
    }
    if unset(h, "Runtime") {
        h["Runtime"] = json!(live.default_runtime);
    }
    live.runtime_path(h["Runtime"].as_str().unwrap_or_default())?;
    Ok(())
}

/// The daemon's defaults in a container's spec, at start: `--default-ulimit` (a container's
/// own ulimit of the same name wins), `--no-new-privileges` (unless the container says
/// `no-new-privileges=false`) and `--seccomp-profile` (unless the container runs unconfined
/// or privileged).
pub fn apply_spec_defaults(o: &Options, h: &Value, spec: &mut Value) -> Result<(), String> {
    let own: Vec<String> = h.get("Ulimits").and_then(Value::as_array).into_iter().flatten().filter_map(|u| u.get("Name").and_then(Value::as_str).map(String::from)).collect();
    let defaults: Vec<Value> = o
        .config
        .default_ulimits
        .iter()
        .filter(|u| !own.contains(&u.name))
        .filter_map(|u| {
            let kind = super::create_fields::ULIMITS.iter().find(|(n, _)| *n == u.name)?.1;
            let limit = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
            Some(json!({"type": kind, "soft": limit(u.soft), "hard": limit(u.hard)}))
        })
        .collect();
    if !defaults.is_empty() {
        if !spec["process"].get("rlimits").is_some_and(Value::is_array) {
            spec["process"]["rlimits"] = json!([]);
        }
        if let Some(r) = spec["process"]["rlimits"].as_array_mut() {
            let types: Vec<String> = defaults.iter().filter_map(|d| d["type"].as_str().map(String::from)).collect();
            r.retain(|x| !x["type"].as_str().is_some_and(|t| types.iter().any(|d| d == t)));
            r.extend(defaults);
        }
    }
    let security: Vec<&str> = h.get("SecurityOpt").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    if o.config.no_new_privileges && !security.iter().any(|s| s.starts_with("no-new-privileges")) {
        spec["process"]["noNewPrivileges"] = json!(true);
    }
    if let Some(path) = o.config.seccomp_profile.as_deref() {
        let privileged = h.get("Privileged").and_then(Value::as_bool).unwrap_or(false);
        let unconfined = security.iter().any(|s| *s == "seccomp=unconfined" || *s == "seccomp:unconfined");
        if !privileged && !unconfined {
            match seccomp_profile(path)? {
                Some(profile) => {
                    let caps: Vec<String> = spec.pointer("/process/capabilities/bounding").and_then(Value::as_array).into_iter().flatten().filter_map(|c| c.as_str().map(String::from)).collect();
                    spec["linux"]["seccomp"] = seccomp_to_oci(&profile, &caps);
                }
                None => {
                    if let Some(linux) = spec.get_mut("linux").and_then(Value::as_object_mut) {
                        linux.remove("seccomp");
                    }
                }
            }
        }
    }
    Ok(())
}

/// The container's HostConfig with the daemon's `--dns`, `--dns-search` and `--dns-opt`
/// where it sets none, for its resolv.conf (Docker uses the daemon's when the container
/// has none of its own).
pub fn with_dns_defaults(o: &Options, h: &Value) -> Option<Value> {
    let pairs = [("Dns", &o.config.dns), ("DnsSearch", &o.config.dns_search), ("DnsOptions", &o.config.dns_opts)];
    if pairs.iter().all(|(_, d)| d.is_empty()) {
        return None;
    }
    let mut h = h.clone();
    for (key, defaults) in pairs {
        if !defaults.is_empty() && h.get(key).is_none_or(super::create_fields::is_zero) {
            h[key] = json!(defaults);
        }
    }
    Some(h)
}

/// `--api-cors-header`: Docker's CORS headers on every answer (`*` for an empty value), and
/// a browser's preflight `OPTIONS` answered.
pub fn with_cors(origin: &str, req: crate::http::server::Request, handle: impl Fn(crate::http::server::Request) -> crate::http::server::Response) -> crate::http::server::Response {
    let response = if req.method == "OPTIONS" { crate::http::server::Response::empty(200) } else { handle(req) };
    response
        .with_header("Access-Control-Allow-Origin", if origin.is_empty() { "*" } else { origin })
        .with_header("Access-Control-Allow-Headers", "Origin, X-Requested-With, Content-Type, Accept, X-Registry-Auth")
        .with_header("Access-Control-Allow-Methods", "HEAD, GET, POST, DELETE, PUT, OPTIONS")
}

/// The level from `--log-level` (validated at load), and debug with `-D` (or `"debug": true`,
/// at each reload).
pub fn set_log_level(o: &Options, debug: bool) {
    use crate::log::Level;
    let level = if debug { Level::Debug } else { o.config.log_level.as_deref().and_then(Level::parse).unwrap_or(Level::Info) };
    crate::log::set_level(level);
}

/// `-G`: the group the unix sockets belong to. Docker's default group `docker` may be
/// missing (root only, then); a group named explicitly must exist.
pub fn socket_group(name: &str, explicit: bool) -> Result<Option<u32>, String> {
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(Some(gid));
    }
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(Some(g.gid.as_raw())),
        _ if !explicit => Ok(None),
        _ => Err(format!("can't create unix socket: group {name} not found")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        std::iter::once("dockerd").chain(a.iter().copied()).map(String::from).collect()
    }

    fn with_file(json: &str, a: &[&str]) -> Result<Loaded, String> {
        let dir = std::env::temp_dir().join(format!("dockbox-config-{}-{}", std::process::id(), crate::ids::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("daemon.json");
        std::fs::write(&file, json).unwrap();
        let mut all = vec!["--config-file", file.to_str().unwrap()];
        all.extend_from_slice(a);
        let r = load(&args(&all)).map_err(|e| match e {
            LoadError::Config(s) => s,
            LoadError::Clap(e) => e.to_string(),
        });
        std::fs::remove_dir_all(&dir).unwrap();
        r
    }

    #[test]
    fn the_file_sets_what_the_flags_would() {
        let l = with_file(
            r#"{"debug": true, "labels": ["a=b", "c=d"], "log-opts": {"max-size": "10m"}, "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 100, "Hard": 200}},
                "runtimes": {"real": {"path": "/usr/sbin/runc"}}, "icc": false, "default-address-pools": [{"base": "10.10.0.0/16", "size": 24}],
                "default-shm-size": "128M", "experimental": false, "max-concurrent-uploads": 2}"#,
            &[],
        )
        .ok()
        .unwrap();
        let o = l.opts;
        assert!(o.debug && !o.net.icc);
        assert_eq!(o.config.labels, ["a=b", "c=d"]);
        assert_eq!(o.config.log_opts, [("max-size".to_string(), "10m".to_string())]);
        assert_eq!(o.config.default_ulimits, [Ulimit { name: "nofile".into(), soft: 100, hard: 200 }]);
        assert_eq!(o.config.add_runtimes, [("real".to_string(), PathBuf::from("/usr/sbin/runc"))]);
        assert_eq!(o.config.default_shm_size, Some(128 << 20));
        assert_eq!(o.config.max_concurrent_uploads, 2);
        assert_eq!(o.net.default_address_pools.len(), 1);
    }

    #[test]
    fn conflicts_and_unknown_keys_are_refused_as_docker_refuses_them() {
        let e = with_file(r#"{"debug": true, "labels": ["x=y"]}"#, &["--debug", "--label", "a=b"]).err().unwrap();
        assert_eq!(e, "the following directives are specified both as a flag and in the configuration file: debug: (from flag: true, from file: true), labels: (from flag: [a=b], from file: [x=y])");
        let e = with_file(r#"{"nonsense": 1, "debugg": true}"#, &[]).err().unwrap();
        assert_eq!(e, "the following directives don't match any configuration option: debugg, nonsense");
        let e = with_file(r#"{"userns-remap": "default"}"#, &[]).err().unwrap();
        assert!(e.contains("\"userns-remap\" in the configuration file is not supported"), "{e}");
        let e = with_file(r#"{"max-concurrent-uploads": 0}"#, &[]).err().unwrap();
        assert!(e.starts_with("unable to configure the Docker daemon with file"), "{e}");
        assert!(with_file("{not json", &[]).err().unwrap().starts_with("unable to configure the Docker daemon with file"));
        assert!(with_file("", &[]).is_ok());
    }

    #[test]
    fn refused_flags_name_themselves_and_harmless_values_pass() {
        let e = strip_refused(&args(&["--userns-remap", "default"])).unwrap_err();
        assert!(e.starts_with("--userns-remap is not supported"), "{e}");
        assert!(strip_refused(&args(&["--selinux-enabled"])).unwrap_err().starts_with("--selinux-enabled"));
        assert_eq!(strip_refused(&args(&["--selinux-enabled=false", "-D"])).unwrap(), args(&["-D"]));
        assert_eq!(strip_refused(&args(&["--containerd-namespace", "moby", "--debug"])).unwrap(), args(&["--debug"]));
        assert!(strip_refused(&args(&["--containerd-namespace=k8s"])).is_err());
        assert!(strip_refused(&args(&["-g", "/x"])).unwrap_err().starts_with("-g is not supported"));
    }

    #[test]
    fn each_keys_kind_matches_how_its_flag_is_parsed() {
        use clap::CommandFactory;
        let command = Options::command();
        for flag in FLAGS.iter().filter(|f| f.handling == Handling::Implemented && f.key.is_some()) {
            let arg = command.get_arguments().find(|a| a.get_long() == Some(flag.long)).unwrap_or_else(|| panic!("--{} is not parsed", flag.long));
            let action = arg.get_action();
            let takes_optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
            let ok = match flag.kind {
                Switch => matches!(action, clap::ArgAction::SetTrue),
                Bool => matches!(action, clap::ArgAction::Set) && takes_optional,
                Value => matches!(action, clap::ArgAction::Set) && !takes_optional,
                List | Map | Pools | Runtimes | Ulimits => matches!(action, clap::ArgAction::Append),
                FileOnly => false,
            };
            assert!(ok, "--{}: {:?} parsed as {action:?}", flag.long, flag.kind);
        }
    }

    #[test]
    fn exec_opts_and_runtimes_are_checked() {
        assert!(parse_exec_opt("native.cgroupdriver=cgroupfs").is_ok());
        assert!(parse_exec_opt("native.cgroupdriver=systemd").unwrap_err().contains("systemd"));
        assert_eq!(parse_runtime("runc=/x").unwrap_err(), "runtime name 'runc' is reserved");
        assert_eq!(parse_ulimit("nofile=10:20").unwrap(), Ulimit { name: "nofile".into(), soft: 10, hard: 20 });
        assert!(parse_ulimit("nofile=30:20").is_err());
    }

    #[test]
    fn docker_seccomp_profiles_become_oci_ones() {
        let p = json!({"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}, {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
            "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}, {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}]});
        let o = seccomp_to_oci(&p, &["CAP_CHOWN".into()]);
        assert_eq!(o["syscalls"].as_array().unwrap().len(), 1);
        assert_eq!(o["defaultAction"], "SCMP_ACT_ERRNO");
        let o = seccomp_to_oci(&p, &["CAP_SYS_ADMIN".into()]);
        assert_eq!(o["syscalls"].as_array().unwrap().len(), 2);
        if std::env::consts::ARCH == "x86_64" {
            assert_eq!(o["architectures"], json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]));
        }
    }
}
