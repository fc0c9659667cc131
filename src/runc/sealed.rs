//! CVE-2019-5736 defence: runc's `create`, `run` and `exec` re-execute themselves from a
//! copy of this binary the container cannot write to, so that /proc/<pid>/exe seen from
//! inside (the init before its execve, or a `#!/proc/self/exe` program) is never the host's
//! file.
//!
//! The copy is a detached read-only bind mount of the binary (open_tree + mount_setattr,
//! attached nowhere, gone with its last user): opening it for writing fails with EROFS and it
//! costs no copying. Kernels without those calls (before 5.12) get a sealed memfd copy, as
//! runc 1.1 did. `DOCKBOX_RUNC_SEAL=memfd` forces the memfd (used to compare the costs).

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

type Result<T> = std::result::Result<T, String>;

/// Whether a command needs the sealed binary (it starts a process inside a container).
pub fn needed(command: &str) -> bool {
    matches!(command, "create" | "run" | "exec")
}

fn last_error(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// `fd` as returned by libc (c_int) or syscall(2) (c_long, 32 or 64 bits).
fn own(fd: impl TryInto<RawFd>, what: &str) -> Result<OwnedFd> {
    let fd = fd.try_into().unwrap_or(-1);
    if fd < 0 {
        return Err(last_error(what));
    }
    // SAFETY: the syscall returned a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether the running binary is already one the container cannot modify: on a read-only
/// mount (our sealed bind, or a read-only system image), or a memfd sealed against writes.
pub fn running_sealed() -> bool {
    let Ok(exe) = std::fs::File::open("/proc/self/exe") else { return false };
    // SAFETY: F_GET_SEALS only reads the descriptor's seals.
    let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
    if seals >= 0 && seals & libc::F_SEAL_WRITE != 0 {
        return true;
    }
    crate::fs64::fstatvfs(&exe).map(|s| crate::fs64::is_read_only(&s)).unwrap_or(false)
}

/// A detached, read-only, nosuid bind mount of /proc/self/exe, as an O_PATH descriptor.
fn sealed_bind() -> Result<OwnedFd> {
    let path = CString::new("/proc/self/exe").expect("static string");
    // SAFETY: open_tree reads the NUL-terminated path; OPEN_TREE_CLONE makes a detached copy.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), 1 /* OPEN_TREE_CLONE */ | libc::O_CLOEXEC as libc::c_uint) };
    let tree = own(fd, "open_tree /proc/self/exe")?;
    use crate::mounts::attr;
    crate::mounts::set_attributes(tree.as_raw_fd(), attr::RDONLY | attr::NOSUID | attr::NODEV, 0, false)
        .map_err(|e| format!("mount_setattr read-only: {e}"))?;
    Ok(tree)
}

/// A memfd holding a copy of the binary, sealed against any change.
fn sealed_memfd() -> Result<OwnedFd> {
    let name = CString::new("runc_cloned:/proc/self/exe").expect("static string");
    // SAFETY: memfd_create reads the NUL-terminated name.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    let memfd = own(fd, "memfd_create")?;
    let mut src = std::fs::File::open("/proc/self/exe").map_err(|e| format!("open /proc/self/exe: {e}"))?;
    let mut dst = std::fs::File::from(memfd.try_clone().map_err(|e| format!("dup: {e}"))?);
    std::io::copy(&mut src, &mut dst).map_err(|e| format!("copy binary to memfd: {e}"))?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: F_ADD_SEALS takes an integer.
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(last_error("seal memfd"));
    }
    Ok(memfd)
}

/// Re-executes this process, same argv and environment, from a sealed copy of the binary
/// unless it already runs from one. Returns only on failure.
pub fn reexec_if_needed(args: &[String]) -> Result<()> {
    if running_sealed() {
        return Ok(());
    }
    let force_memfd = std::env::var_os("DOCKBOX_RUNC_SEAL").is_some_and(|v| v == "memfd");
    let fd = if force_memfd { sealed_memfd()? } else { sealed_bind().or_else(|_| sealed_memfd())? };
    let argv: Vec<CString> = args.iter().map(|a| CString::new(a.as_str()).map_err(|_| "NUL in argument".to_string())).collect::<Result<_>>()?;
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    let empty = CString::new("").expect("static string");
    // SAFETY: execveat reads NUL-terminated strings and NULL-terminated pointer arrays that
    // all outlive the call; on success it does not return.
    unsafe { libc::syscall(libc::SYS_execveat, fd.as_raw_fd(), empty.as_ptr(), argv_ptrs.as_ptr(), env_ptrs.as_ptr(), libc::AT_EMPTY_PATH) };
    Err(last_error("re-exec from sealed binary"))
}
