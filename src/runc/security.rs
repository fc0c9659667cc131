//! The init's process-security settings of the spec: LSM labels (AppArmor, SELinux), I/O
//! priority, scheduler, personality, no_new_privs and the seccomp filter, each applied at the
//! point in the init where runc applies it.

use crate::oci::{Process, Spec};
use super::seccomp_agent::Handoff;
use crate::seccomp::{Filter, Seccomp};

type Result<T> = std::result::Result<T, String>;

/// What `prepare` worked out from the spec, applied later by `before_user` and `before_exec`.
#[derive(Clone)]
pub struct Plan {
    seccomp: Option<Filter>,
    no_new_privileges: bool,
}

/// Compiles the seccomp filter and checks the LSM requests against the host, before
/// anything irreversible happens.
pub fn prepare(spec: &Spec) -> Result<Plan> {
    prepare_filter(spec, |v| Seccomp::from_value(v)?.compile())
}

/// [`prepare`] for a process of a container that exists (`runc exec`): its profile is the
/// container's, which never changes, so the filter compiled for the first exec is kept in
/// `cache` (in the container's state directory) and read back by the next ones.
pub fn prepare_cached(spec: &Spec, cache: &std::path::Path) -> Result<Plan> {
    prepare_filter(spec, |v| {
        if let Some(f) = std::fs::read(cache).ok().and_then(|b| Filter::from_bytes(&b)) {
            return Ok(f);
        }
        let f = Seccomp::from_value(v)?.compile()?;
        // Only a cache: an exec without it compiles again.
        let _ = crate::sys::write_atomic_volatile(cache, &f.to_bytes());
        Ok(f)
    })
}

fn prepare_filter(spec: &Spec, filter: impl FnOnce(&serde_json::Value) -> Result<Filter>) -> Result<Plan> {
    let process = spec.process.as_ref().ok_or("no process")?;
    let seccomp = match spec.linux.as_ref().and_then(|l| l.seccomp.as_ref()) {
        Some(v) if !v.is_null() => Some(filter(v)?),
        _ => None,
    };
    if seccomp.as_ref().is_some_and(Filter::notifies) && listener(spec).is_none() {
        return Err("seccomp listenerPath is not set".into());
    }
    if let Some(profile) = process.apparmor_profile.as_deref().filter(|p| !p.is_empty()) {
        if !apparmor_enabled() {
            return Err(format!("apparmor profile {profile:?} is set in config.json but AppArmor is not enabled on this host"));
        }
    }
    if let Some(label) = process.selinux_label.as_deref().filter(|l| !l.is_empty()) {
        if !selinux_enabled() {
            return Err(format!("selinux label {label:?} is set in config.json but SELinux is not enabled on this host"));
        }
    }
    Ok(Plan { seccomp, no_new_privileges: process.no_new_privileges })
}

fn apparmor_enabled() -> bool {
    std::path::Path::new("/sys/kernel/security/apparmor").is_dir()
        && std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").map(|s| s.starts_with('Y')).unwrap_or(false)
}

fn selinux_enabled() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// The seccomp agent's socket and the metadata it is given (`listenerPath`,
/// `listenerMetadata`), when the profile names one.
pub fn listener(spec: &Spec) -> Option<(String, Option<String>)> {
    let seccomp = spec.linux.as_ref()?.seccomp.as_ref()?;
    let path = seccomp.get("listenerPath")?.as_str().filter(|p| !p.is_empty())?;
    Some((path.to_string(), seccomp.get("listenerMetadata").and_then(|m| m.as_str()).map(str::to_string)))
}

/// Loads the filter; a listener (SCMP_ACT_NOTIFY) goes to runc through `handoff`.
fn load(filter: &Filter, handoff: &Handoff) -> Result<()> {
    if let Some(listener) = crate::seccomp::install(filter)? {
        handoff.give(listener)?;
    }
    Ok(())
}

/// Inside the rootfs, still root with every capability: LSM labels for the coming execve,
/// I/O priority, scheduler, personality, no_new_privs; and, without no_new_privs, the
/// seccomp filter (it must go in while CAP_SYS_ADMIN is held, so before the user change).
pub fn before_user(plan: &Plan, spec: &Spec, handoff: &Handoff) -> Result<()> {
    let process = spec.process.as_ref().ok_or("no process")?;
    if let Some(profile) = process.apparmor_profile.as_deref().filter(|p| !p.is_empty()) {
        let attr = if std::path::Path::new("/proc/self/attr/apparmor/exec").exists() { "/proc/self/attr/apparmor/exec" } else { "/proc/self/attr/exec" };
        super::procfs::write(attr, &format!("exec {profile}")).map_err(|e| format!("apply apparmor profile: {e}"))?;
    }
    if let Some(label) = process.selinux_label.as_deref().filter(|l| !l.is_empty()) {
        super::procfs::write("/proc/self/attr/exec", label).map_err(|e| format!("set selinux label: {e}"))?;
    }
    set_io_priority(process)?;
    set_scheduler(process)?;
    if let Some(p) = spec.linux.as_ref().and_then(|l| l.personality.as_ref()) {
        set_personality(p)?;
    }
    if plan.no_new_privileges {
        // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(format!("set no_new_privs: {}", std::io::Error::last_os_error()));
        }
    } else if let Some(f) = &plan.seccomp {
        load(f, handoff)?;
    }
    Ok(())
}

/// Last thing before execve: with no_new_privs the filter goes in now, after the user and
/// capability changes, so only execve itself runs under it.
pub fn before_exec(plan: &Plan, handoff: &Handoff) -> Result<()> {
    if plan.no_new_privileges {
        if let Some(f) = &plan.seccomp {
            load(f, handoff)?;
        }
    }
    Ok(())
}

/// A cwd reached through a leaked descriptor lies outside the new root; the kernel then has
/// no path for it (CVE-2024-21626).
pub fn check_cwd() -> Result<()> {
    match std::env::current_dir() {
        Ok(p) if p.is_absolute() => Ok(()),
        _ => Err("current working directory is outside of container mount namespace root -- possible container breakout detected".into()),
    }
}

fn set_io_priority(p: &Process) -> Result<()> {
    let Some(io) = &p.io_priority else { return Ok(()) };
    let class = match io.class.as_str() {
        "IOPRIO_CLASS_RT" => 1,
        "IOPRIO_CLASS_BE" => 2,
        "IOPRIO_CLASS_IDLE" => 3,
        other => return Err(format!("invalid io priority class {other:?}")),
    };
    if !(0..8).contains(&io.priority) {
        return Err(format!("invalid io priority {} (must be 0-7)", io.priority));
    }
    // SAFETY: ioprio_set takes three integers (IOPRIO_WHO_PROCESS, 0 = this process, value).
    let rc = unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, (class << 13) | io.priority) };
    if rc != 0 {
        return Err(format!("set io priority: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// The kernel's struct sched_attr (first version, 48 bytes).
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

fn set_scheduler(p: &Process) -> Result<()> {
    let Some(s) = &p.scheduler else { return Ok(()) };
    let policy = match s.policy.as_str() {
        "SCHED_OTHER" => 0,
        "SCHED_FIFO" => 1,
        "SCHED_RR" => 2,
        "SCHED_BATCH" => 3,
        "SCHED_ISO" => 4,
        "SCHED_IDLE" => 5,
        "SCHED_DEADLINE" => 6,
        other => return Err(format!("invalid scheduler policy {other:?}")),
    };
    let mut flags = 0u64;
    for f in &s.flags {
        flags |= match f.as_str() {
            "SCHED_FLAG_RESET_ON_FORK" => 0x01,
            "SCHED_FLAG_RECLAIM" => 0x02,
            "SCHED_FLAG_DL_OVERRUN" => 0x04,
            "SCHED_FLAG_KEEP_POLICY" => 0x08,
            "SCHED_FLAG_KEEP_PARAMS" => 0x10,
            "SCHED_FLAG_UTIL_CLAMP_MIN" => 0x20,
            "SCHED_FLAG_UTIL_CLAMP_MAX" => 0x40,
            other => return Err(format!("invalid scheduler flag {other:?}")),
        };
    }
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy,
        flags,
        nice: s.nice.unwrap_or(0),
        priority: s.priority.unwrap_or(0).max(0) as u32,
        runtime: s.runtime.unwrap_or(0),
        deadline: s.deadline.unwrap_or(0),
        period: s.period.unwrap_or(0),
    };
    // SAFETY: sched_setattr reads `size` bytes of the struct we pass, which outlives the call.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return Err(format!("set scheduler {} (sched_setattr): {e}{}", s.policy, if e.raw_os_error() == Some(libc::ENOSYS) { " (this kernel has no sched_setattr)" } else { "" }));
    }
    Ok(())
}

fn set_personality(p: &crate::oci::Personality) -> Result<()> {
    let domain: libc::c_ulong = match p.domain.as_str() {
        "LINUX" => 0x0000,
        "LINUX32" => 0x0008,
        other => return Err(format!("personality domain {other:?} is not supported")),
    };
    if !p.flags.is_empty() {
        return Err(format!("personality flags {:?} are not supported", p.flags));
    }
    // SAFETY: personality takes one integer.
    if unsafe { libc::personality(domain) } < 0 {
        return Err(format!("set personality: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}
