//! What the engine needs of the kernel, for the person holding a board: `dockerd
//! --check-config` reads the kernel's build configuration (`/proc/config.gz`, or
//! `/boot/config-$(uname -r)` and the other places Docker's contrib/check-config.sh looks, or
//! the file `CONFIG` names) and lists each option the engine needs or can use as enabled,
//! enabled as a module, or missing, in the sections and words of Docker's script, limited to
//! what dockbox has (the bridge network driver; the overlay2 and vfs storage drivers). At
//! start, dockerd asks the running kernel for the few features it cannot work without
//! ([`missing_runtime_features`]) and names them instead of failing later.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// How one `CONFIG_` option is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionState {
    BuiltIn,
    Module,
    Missing,
}

/// A kernel build configuration: `CONFIG_X=y|m` lines.
#[derive(Debug, Default, Clone)]
pub struct KernelConfig {
    options: HashMap<String, OptionState>,
}

impl KernelConfig {
    /// Reads a configuration, plain or gzip-compressed (told apart by its first bytes).
    pub fn read(path: &Path) -> io::Result<KernelConfig> {
        let bytes = std::fs::read(path)?;
        let text = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut s = String::new();
            flate2::read::GzDecoder::new(&bytes[..]).read_to_string(&mut s)?;
            s
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        Ok(KernelConfig::parse(&text))
    }

    pub fn parse(text: &str) -> KernelConfig {
        let mut options = HashMap::new();
        for line in text.lines() {
            let Some((key, value)) = line.trim().split_once('=') else { continue };
            let Some(name) = key.strip_prefix("CONFIG_") else { continue };
            let state = match value {
                "y" => OptionState::BuiltIn,
                "m" => OptionState::Module,
                _ => continue,
            };
            options.insert(name.to_string(), state);
        }
        KernelConfig { options }
    }

    pub fn state(&self, name: &str) -> OptionState {
        self.options.get(name).copied().unwrap_or(OptionState::Missing)
    }

    fn is_set(&self, name: &str) -> bool {
        self.state(name) != OptionState::Missing
    }
}

/// The running kernel's release (`uname -r`).
pub fn kernel_release() -> String {
    nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default()
}

/// Where the configuration is: `explicit` (the `CONFIG` variable), else the first of Docker's
/// places that exists. The error is the script's advice.
pub fn find_config(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return if p.exists() { Ok(p.to_path_buf()) } else { Err(format!("error: cannot find kernel config {}", p.display())) };
    }
    let release = kernel_release();
    let candidates = [PathBuf::from("/proc/config.gz"), PathBuf::from(format!("/boot/config-{release}")), PathBuf::from(format!("/usr/src/linux-{release}/.config")), PathBuf::from("/usr/src/linux/.config")];
    candidates.into_iter().find(|p| p.exists()).ok_or_else(|| {
        "error: cannot find kernel config\n  try running this again, specifying the kernel config:\n    CONFIG=/path/to/kernel/.config dockerd --check-config".to_string()
    })
}

/// `major.minor` of a release such as `6.1.0-18-arm64`.
fn version_of(release: &str) -> (u32, u32) {
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty()).map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The options the engine cannot work without on a kernel of `version` (Docker's "Generally
/// Necessary" list, without what only Docker's other drivers use).
pub fn required_options(version: (u32, u32)) -> Vec<&'static str> {
    let mut v = vec![
        "NAMESPACES", "NET_NS", "PID_NS", "IPC_NS", "UTS_NS", "CGROUPS", "CGROUP_CPUACCT", "CGROUP_DEVICE", "CGROUP_FREEZER", "CGROUP_SCHED", "CPUSETS", "MEMCG", "KEYS", "VETH", "BRIDGE",
        "BRIDGE_NETFILTER", "IP_NF_FILTER", "IP_NF_MANGLE", "IP_NF_TARGET_MASQUERADE", "IP6_NF_FILTER", "IP6_NF_MANGLE", "IP6_NF_TARGET_MASQUERADE", "NETFILTER_XT_MATCH_ADDRTYPE",
        "NETFILTER_XT_MATCH_CONNTRACK", "NETFILTER_XT_MARK", "IP_NF_RAW", "IP_NF_NAT", "NF_NAT", "IP6_NF_RAW", "IP6_NF_NAT", "POSIX_MQUEUE",
    ];
    if version < (4, 8) {
        v.push("DEVPTS_MULTIPLE_INSTANCES");
    }
    if version <= (5, 1) {
        v.push("NF_NAT_IPV4");
    }
    if version <= (5, 2) {
        v.push("NF_NAT_NEEDED");
    }
    if version >= (4, 15) {
        v.push("CGROUP_BPF");
    }
    v
}

/// The options the engine uses when they are there: user namespaces, seccomp, the pids,
/// blkio, hugetlb and CPU bandwidth controllers, and the rest of Docker's optional list that
/// applies here.
pub fn optional_options(version: (u32, u32)) -> Vec<&'static str> {
    let mut v = vec!["USER_NS", "SECCOMP", "SECCOMP_FILTER", "CGROUP_PIDS"];
    if version < (5, 8) {
        v.extend(["MEMCG_SWAP", "MEMCG_SWAP_ENABLED"]);
    }
    if version <= (4, 5) {
        v.push("MEMCG_KMEM");
    }
    v.extend([
        "BLK_CGROUP", "BLK_DEV_THROTTLING", "CGROUP_PERF", "CGROUP_HUGETLB", "NET_CLS_CGROUP", "CGROUP_NET_PRIO", "CFS_BANDWIDTH", "FAIR_GROUP_SCHED", "IP_NF_TARGET_REDIRECT", "SECURITY_SELINUX",
        "SECURITY_APPARMOR", "NFT_CT", "NFT_FIB_IPV4", "NFT_FIB_IPV6", "NFT_FIB", "NFT_MASQ", "NFT_NAT", "NF_TABLES", "EXT4_FS", "EXT4_FS_POSIX_ACL", "EXT4_FS_SECURITY",
    ]);
    v
}

fn state_words(s: OptionState) -> &'static str {
    match s {
        OptionState::BuiltIn => "enabled",
        OptionState::Module => "enabled (as module)",
        OptionState::Missing => "missing",
    }
}

/// Where the machine's cgroups are, as a line of the report, and whether they will do.
fn cgroup_line(sys_fs_cgroup: &Path, mounts: &str) -> (String, bool) {
    let is_v2 = nix::sys::statfs::statfs(sys_fs_cgroup).map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC).unwrap_or(false);
    if is_v2 {
        let controllers = std::fs::read_to_string(sys_fs_cgroup.join("cgroup.controllers")).unwrap_or_default();
        let mut line = "cgroup hierarchy: cgroupv2\n  Controllers:".to_string();
        for c in ["cpu", "cpuset", "io", "memory", "pids"] {
            let have = controllers.split_whitespace().any(|x| x == c);
            line.push_str(&format!("\n  - {c}: {}", if have { "available" } else { "missing" }));
        }
        return (line, true);
    }
    let v1 = mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 4 && f[2] == "cgroup" && f[3].split(',').any(|o| matches!(o, "cpu" | "cpuacct" | "cpuset" | "devices" | "freezer" | "memory"))).then(|| PathBuf::from(f[1]))
    });
    match v1 {
        Some(dir) => {
            let parent = dir.parent().map(Path::to_path_buf).unwrap_or_default();
            if ["cpu", "cpuacct", "cpuset", "devices", "freezer", "memory"].iter().any(|c| parent.join(c).is_dir()) {
                (format!("cgroup hierarchy: properly mounted [{}]", parent.display()), true)
            } else {
                (format!("cgroup hierarchy: single mountpoint! [{}]", dir.display()), false)
            }
        }
        None => ("cgroup hierarchy: nonexistent??".into(), false),
    }
}

fn sysctl(name: &str) -> Option<String> {
    std::fs::read_to_string(Path::new("/proc/sys").join(name.replace('.', "/"))).ok().map(|s| s.trim().to_string())
}

/// Writes the report for `config` (read from `source`) on a kernel of `release`; returns
/// whether everything required is there (the exit status: 0 when it is, 1 otherwise).
pub fn report(config: &KernelConfig, source: &Path, release: &str, out: &mut dyn Write) -> io::Result<bool> {
    let version = version_of(release);
    let mut ok = true;
    writeln!(out, "info: reading kernel config from {} ...\n", source.display())?;
    writeln!(out, "Generally Necessary:")?;
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let (line, cgroups_ok) = cgroup_line(Path::new("/sys/fs/cgroup"), &mounts);
    writeln!(out, "- {line}")?;
    ok &= cgroups_ok;
    for name in required_options(version) {
        let s = config.state(name);
        ok &= s != OptionState::Missing;
        writeln!(out, "- CONFIG_{name}: {}", state_words(s))?;
    }
    writeln!(out, "\nOptional Features:")?;
    for name in optional_options(version) {
        writeln!(out, "- CONFIG_{name}: {}", state_words(config.state(name)))?;
        if name == "CGROUP_PIDS" && version >= (5, 8) {
            // Since 5.8 swap accounting has no option of its own.
            writeln!(out, "    (cgroup swap accounting is currently enabled)")?;
        }
    }
    if config.is_set("LEGACY_VSYSCALL_NATIVE") {
        writeln!(out, "- CONFIG_LEGACY_VSYSCALL_NATIVE: enabled\n    (dangerous, provides an ASLR-bypassing target with usable ROP gadgets.)")?;
    } else if config.is_set("LEGACY_VSYSCALL_EMULATE") {
        writeln!(out, "- CONFIG_LEGACY_VSYSCALL_EMULATE: enabled")?;
    }
    writeln!(out, "- Network Drivers:\n  - \"bridge\":")?;
    for (name, want) in [("net.ipv4.ip_forward", "1"), ("net.ipv6.conf.all.forwarding", "1"), ("net.ipv6.conf.default.forwarding", "1")] {
        let on = sysctl(name).as_deref() == Some(want);
        writeln!(out, "    - sysctl {name}: {}", if on { "enabled" } else { "disabled" })?;
    }
    writeln!(out, "- Storage Drivers:\n  - \"overlay2\":")?;
    writeln!(out, "    - CONFIG_OVERLAY_FS: {}", state_words(config.state("OVERLAY_FS")))?;
    if !config.is_set("OVERLAY_FS") {
        writeln!(out, "      (without it dockerd uses \"vfs\", which copies every layer)")?;
    }
    writeln!(out, "  - \"vfs\": always available\n")?;
    writeln!(out, "Limits:")?;
    match std::fs::read_to_string("/proc/sys/kernel/keys/root_maxkeys").ok().and_then(|s| s.trim().parse::<u64>().ok()) {
        Some(n) if n <= 10000 => {
            ok = false;
            writeln!(out, "- /proc/sys/kernel/keys/root_maxkeys: {n}\n    This should be set to at least 10000, for example set: sysctl -w kernel/keys/root_maxkeys=1000000")?;
        }
        Some(n) => writeln!(out, "- /proc/sys/kernel/keys/root_maxkeys: {n}")?,
        None => writeln!(out, "- /proc/sys/kernel/keys/root_maxkeys: unreadable")?,
    }
    Ok(ok)
}

/// `dockerd --check-config`: the report on stdout, errors on stderr; the exit status.
pub fn check_config_main() -> i32 {
    let explicit = std::env::var_os("CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from);
    let path = match find_config(explicit.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let config = match KernelConfig::read(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: reading {}: {e}", path.display());
            return 1;
        }
    };
    let mut out = io::stdout().lock();
    match report(&config, &path, &kernel_release(), &mut out) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// What the running kernel lacks of what dockerd cannot work without, each as a phrase that
/// names the kernel option: the namespaces (seen in `<proc>/self/ns`) and a cgroup hierarchy
/// (`<proc>/self/cgroup`).
pub fn missing_runtime_features(proc_root: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    for (ns, option) in [("mnt", "CONFIG_NAMESPACES"), ("pid", "CONFIG_PID_NS"), ("net", "CONFIG_NET_NS"), ("ipc", "CONFIG_IPC_NS"), ("uts", "CONFIG_UTS_NS")] {
        if std::fs::symlink_metadata(proc_root.join("self/ns").join(ns)).is_err() {
            missing.push(format!("{ns} namespaces ({option})"));
        }
    }
    if std::fs::read_to_string(proc_root.join("self/cgroup")).map(|s| s.trim().is_empty()).unwrap_or(true) {
        missing.push("control groups (CONFIG_CGROUPS)".into());
    }
    missing
}

/// Whether overlayfs works for layers under `dir` (dockerd's data root): a trial mount of
/// two small directories, as Docker's overlay2 driver tries before it is chosen. The error
/// says why not.
pub fn overlay_works(dir: &Path) -> Result<(), String> {
    let probe = dir.join(format!("overlay-probe-{}", std::process::id()));
    let result = (|| {
        for d in ["lower", "upper", "work", "merged"] {
            std::fs::create_dir_all(probe.join(d)).map_err(|e| format!("{}: {e}", probe.display()))?;
        }
        let options = format!("lowerdir={},upperdir={},workdir={}", probe.join("lower").display(), probe.join("upper").display(), probe.join("work").display());
        nix::mount::mount(Some("overlay"), &probe.join("merged"), Some("overlay"), nix::mount::MsFlags::empty(), Some(options.as_str())).map_err(|e| format!("overlay mount: {}", e.desc()))?;
        let _ = nix::mount::umount2(&probe.join("merged"), nix::mount::MntFlags::MNT_DETACH);
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&probe);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_read_as_built_in_module_or_missing() {
        let c = KernelConfig::parse("CONFIG_VETH=m\nCONFIG_BRIDGE=y\n# CONFIG_USER_NS is not set\nCONFIG_LOG_BUF_SHIFT=17\n");
        assert_eq!(c.state("VETH"), OptionState::Module);
        assert_eq!(c.state("BRIDGE"), OptionState::BuiltIn);
        assert_eq!(c.state("USER_NS"), OptionState::Missing);
        assert_eq!(c.state("LOG_BUF_SHIFT"), OptionState::Missing);
    }

    #[test]
    fn the_required_list_follows_the_kernel_version() {
        assert!(required_options((4, 4)).contains(&"DEVPTS_MULTIPLE_INSTANCES"));
        assert!(!required_options((6, 1)).contains(&"DEVPTS_MULTIPLE_INSTANCES"));
        assert!(required_options((5, 1)).contains(&"NF_NAT_IPV4"));
        assert!(required_options((6, 1)).contains(&"CGROUP_BPF"));
        assert_eq!(version_of("6.1.0-18-arm64"), (6, 1));
        assert_eq!(version_of("5.10.160-rt89"), (5, 10));
    }

    #[test]
    fn a_config_missing_a_required_option_fails_the_report() {
        let all: String = required_options((6, 1)).iter().map(|o| format!("CONFIG_{o}=y\n")).collect();
        let mut out = Vec::new();
        let full = report(&KernelConfig::parse(&all), Path::new("x"), "6.1.0", &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("- CONFIG_VETH: enabled\n"), "{text}");
        let without_veth = all.replace("CONFIG_VETH=y\n", "");
        let mut out = Vec::new();
        let partial = report(&KernelConfig::parse(&without_veth), Path::new("x"), "6.1.0", &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("- CONFIG_VETH: missing\n"), "{text}");
        assert!(!partial);
        // The machine's cgroups and limits decide the rest; on this machine they pass.
        if Path::new("/sys/fs/cgroup").exists() {
            assert!(full, "{text}");
        }
    }

    #[test]
    fn missing_namespaces_are_named_with_their_option() {
        let fake = std::env::temp_dir().join(format!("dbx-kcheck-{}", std::process::id()));
        std::fs::create_dir_all(fake.join("self/ns")).unwrap();
        for ns in ["mnt", "pid", "ipc", "uts"] {
            std::fs::write(fake.join("self/ns").join(ns), "").unwrap();
        }
        std::fs::write(fake.join("self/cgroup"), "0::/\n").unwrap();
        let missing = missing_runtime_features(&fake);
        std::fs::remove_dir_all(&fake).unwrap();
        assert_eq!(missing, vec!["net namespaces (CONFIG_NET_NS)".to_string()]);
        assert!(missing_runtime_features(Path::new("/proc")).is_empty());
    }
}
