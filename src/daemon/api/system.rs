//! The Engine API's system routes: `_ping`, `version`, `info`.

use crate::daemon::Daemon;
use crate::http::server::{Request, Response};
use serde_json::{json, Value};
use std::time::SystemTime;

pub fn ping(req: &Request) -> Response {
    let r = if req.method == "HEAD" { Response::empty(200) } else { Response::text(200, "text/plain; charset=utf-8", "OK") };
    r.with_header("Cache-Control", "no-cache, no-store, must-revalidate").with_header("Pragma", "no-cache").with_header("Builder-Version", "1")
}

pub fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    }
}

/// The kernel's machine name (`uname -m`: x86_64, aarch64, armv7l), as Docker's info reports
/// it; `docker version` reports the build's CPU instead ([`arch`]).
fn machine() -> String {
    nix::sys::utsname::uname().map(|u| u.machine().to_string_lossy().into_owned()).unwrap_or_else(|_| std::env::consts::ARCH.to_string())
}

fn kernel_version() -> String {
    nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default()
}

pub fn version_json(d: &Daemon) -> Value {
    let engine = crate::version::DOCKBOX;
    let mut v = json!({
        "Platform": {"Name": "dockbox"},
        "Components": [{
            "Name": "Engine",
            "Version": engine,
            "Details": {
                "ApiVersion": crate::version::API_VERSION,
                "Arch": arch(),
                "BuildTime": "",
                "Experimental": "false",
                "GitCommit": crate::version::GIT_COMMIT,
                "GoVersion": "n/a (Rust)",
                "KernelVersion": kernel_version(),
                "MinAPIVersion": crate::version::MIN_API_VERSION,
                "Os": "linux",
            },
        }],
        "Version": engine,
        "ApiVersion": crate::version::API_VERSION,
        "MinAPIVersion": crate::version::MIN_API_VERSION,
        "GitCommit": crate::version::GIT_COMMIT,
        "GoVersion": "n/a (Rust)",
        "Os": "linux",
        "Arch": arch(),
        "KernelVersion": kernel_version(),
        "BuildTime": "",
    });
    // Docker lists the init binary as a component, named after its file.
    if let Some((version, commit)) = crate::daemon::init::version(d.opts.init_path.as_deref()) {
        let name = d.opts.init_path.as_deref().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| crate::daemon::init::DEFAULT_BINARY_NAME.to_string());
        if let Some(components) = v["Components"].as_array_mut() {
            components.push(json!({"Name": name, "Version": version, "Details": {"GitCommit": commit}}));
        }
    }
    v
}

pub fn info_json(d: &Daemon) -> Value {
    let settings = d.settings();
    let states: Vec<String> = d.containers().iter().map(|e| e.lock().c.state.status.clone()).collect();
    let running = states.iter().filter(|s| *s == "running").count();
    let paused = states.iter().filter(|s| *s == "paused").count();
    let cg = crate::cgroups::Hierarchies::detect().map(|h| h.features()).unwrap_or_default();
    let sysctl_on = |path: &str| std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "1");
    let driver_status = if d.opts.storage_driver == "overlay2" {
        json!([["Backing Filesystem", ""], ["Supports d_type", "true"], ["Using metacopy", "false"], ["Native Overlay Diff", "true"]])
    } else {
        json!([])
    };
    let mem_total = crate::daemon::stats::machine_memory();
    let hostname = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string())))
        .unwrap_or_else(|| "Linux".into());
    let cgroup_version = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() { "2" } else { "1" };
    json!({
        "ID": "",
        "Containers": states.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": states.len() - running - paused,
        "Images": d.images.list().len(),
        "Driver": d.opts.storage_driver,
        "DriverStatus": driver_status,
        "Plugins": {"Volume": [], "Network": [], "Authorization": null, "Log": ["json-file"]},
        "MemoryLimit": cg.memory, "SwapLimit": cg.swap, "CpuCfsPeriod": cg.cpu_cfs, "CpuCfsQuota": cg.cpu_cfs, "CPUShares": cg.cpu_shares, "CPUSet": cg.cpuset, "PidsLimit": cg.pids,
        "IPv4Forwarding": sysctl_on("/proc/sys/net/ipv4/ip_forward"),
        "BridgeNfIptables": sysctl_on("/proc/sys/net/bridge/bridge-nf-call-iptables"),
        "BridgeNfIp6tables": sysctl_on("/proc/sys/net/bridge/bridge-nf-call-ip6tables"),
        "Debug": settings.debug,
        "NFd": std::fs::read_dir("/proc/self/fd").map(|r| r.count()).unwrap_or(0),
        "OomKillDisable": false,
        "NGoroutines": 0,
        "SystemTime": crate::sys::rfc3339_nanos(SystemTime::now()),
        "LoggingDriver": d.opts.config.log_driver,
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version,
        "NEventsListener": 0,
        "KernelVersion": kernel_version(),
        "OperatingSystem": os,
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": machine(),
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
            "IndexConfigs": {"docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": true, "Official": true}},
            "Mirrors": settings.registry_mirrors,
        },
        "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "MemTotal": mem_total,
        "DockerRootDir": d.opts.data_root,
        "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
        "Name": hostname,
        "Labels": settings.labels,
        "ExperimentalBuild": false,
        "ServerVersion": crate::version::DOCKBOX,
        "Runtimes": settings.runtimes_json(d.opts.default_runtime.as_deref().filter(|r| !settings.runtimes.contains_key(*r)).unwrap_or("docker-runc")),
        "DefaultRuntime": settings.default_runtime,
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        "LiveRestoreEnabled": settings.live_restore,
        "Isolation": "",
        "InitBinary": crate::daemon::init::binary_name(d.opts.init_path.as_deref()),
        "InitCommit": init_commit(d),
        "SecurityOptions": security_options(d, cgroup_version == "2"),
        "Warnings": [],
    })
}

/// Docker's list: the seccomp profile (`default`, or `--seccomp-profile`'s path, or
/// `unconfined`) and, on cgroup v2, cgroupns.
fn security_options(d: &Daemon, cgroup2: bool) -> Vec<String> {
    let mut v = vec![format!("name=seccomp,profile={}", d.opts.config.seccomp_profile.as_deref().unwrap_or("default"))];
    if cgroup2 {
        v.push("name=cgroupns".into());
    }
    v
}

/// `InitCommit` as Docker fills it: the commit the init binary's `--version` names, "N/A"
/// when it cannot be read, and Expected equal to it.
fn init_commit(d: &Daemon) -> Value {
    let id = match crate::daemon::init::version(d.opts.init_path.as_deref()) {
        Some((_, commit)) => commit,
        None => "N/A".to_string(),
    };
    json!({"ID": id, "Expected": id})
}
