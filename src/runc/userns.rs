//! User and time namespaces of the init: the init is cloned straight into a new user
//! namespace (`spawn`, with its new pid namespace, so that one is owned by the user namespace
//! and procfs can be mounted inside), runc writes its uid/gid maps from outside, and the init
//! waits for runc's go-ahead before it sets anything up. The time namespace's offsets are
//! written before the init enters it.

use nix::sched::CloneFlags;
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, OwnedFd};

type Result<T> = std::result::Result<T, String>;

pub const CLONE_NEWTIME: CloneFlags = CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);

fn map_text(m: &[crate::oci::IdMapping]) -> String {
    m.iter().map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size)).collect()
}

/// Writes the spec's maps for `pid`. Without root (rootless), setgroups is denied first, as
/// the kernel demands before an unprivileged gid_map.
pub fn write_id_maps(pid: Pid, linux: &crate::oci::Linux) -> Result<()> {
    if linux.uid_mappings.is_empty() || linux.gid_mappings.is_empty() {
        return Err("user namespaces enabled, but no user mapping found".into());
    }
    if !nix::unistd::geteuid().is_root() {
        let _ = std::fs::write(format!("/proc/{pid}/setgroups"), "deny");
    }
    std::fs::write(format!("/proc/{pid}/uid_map"), map_text(&linux.uid_mappings)).map_err(|e| format!("write uid_map: {e}"))?;
    std::fs::write(format!("/proc/{pid}/gid_map"), map_text(&linux.gid_mappings)).map_err(|e| format!("write gid_map: {e}"))?;
    Ok(())
}

/// In the init, once its maps exist: become the namespace's root, so files it creates have
/// an owner (an unmapped id cannot create any).
pub fn become_root() -> Result<()> {
    nix::unistd::setresgid(0.into(), 0.into(), 0.into()).map_err(|e| format!("setgid 0 in the user namespace: {}", e.desc()))?;
    nix::unistd::setresuid(0.into(), 0.into(), 0.into()).map_err(|e| format!("setuid 0 in the user namespace: {}", e.desc()))?;
    Ok(())
}

/// Unshares a time namespace, writes `offsets` (clock name → {secs, nanosecs}) and enters it.
pub fn enter_time_namespace(offsets: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
    nix::sched::unshare(CLONE_NEWTIME).map_err(|e| format!("unshare time namespace: {}", e.desc()))?;
    let mut text = String::new();
    for (clock, v) in offsets {
        let secs = v.get("secs").and_then(serde_json::Value::as_i64).unwrap_or(0);
        let nanos = v.get("nanosecs").and_then(serde_json::Value::as_u64).unwrap_or(0);
        text.push_str(&format!("{clock} {secs} {nanos}\n"));
    }
    if !text.is_empty() {
        std::fs::write("/proc/self/timens_offsets", text).map_err(|e| format!("write timens_offsets: {e}"))?;
    }
    let ns = std::fs::File::open("/proc/self/ns/time_for_children").map_err(|e| format!("open time namespace: {e}"))?;
    nix::sched::setns(ns, CLONE_NEWTIME).map_err(|e| format!("enter time namespace: {}", e.desc()))
}

/// The init's side of the go-ahead: blocks until runc has finished its outside setup.
pub fn wait_for_parent(sync: &OwnedFd) -> Result<()> {
    let mut b = [0u8; 1];
    loop {
        match nix::unistd::read(sync.as_raw_fd(), &mut b) {
            Ok(1) => return Ok(()),
            Ok(_) => return Err("runc went away during setup".into()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("read sync pipe: {}", e.desc())),
        }
    }
}
