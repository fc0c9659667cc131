//! Writes to /proc and the masked and read-only paths, done only through descriptors proven
//! to be what they claim (a real procfs file, the real /dev/null), so an image or a container
//! cannot redirect them with a fake /proc, a symlink or a swapped device node.

use nix::mount::MsFlags;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

type Result<T> = std::result::Result<T, String>;

const PROC_SUPER_MAGIC: i64 = 0x9fa0;

fn open_raw(path: &str, flags: i32) -> std::io::Result<OwnedFd> {
    let c = CString::new(path).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: open reads the NUL-terminated path and returns a new descriptor or -1.
    let fd = unsafe { libc::open64(c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: open returned a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

// f_type is 64-bit on 64-bit CPUs, 32-bit on 32-bit ones.
#[allow(clippy::useless_conversion)]
fn fs_type(fd: &OwnedFd) -> std::io::Result<i64> {
    Ok(i64::from(crate::fs64::fstatfs(fd)?.f_type))
}

/// Whether the file open as `fd` lives on a procfs.
pub fn is_procfs(fd: &OwnedFd) -> bool {
    fs_type(fd).map(|t| t == PROC_SUPER_MAGIC).unwrap_or(false)
}

/// Writes `data` to a /proc file after checking, on the open descriptor, that it is on a
/// real procfs (CVE-2019-16884: a fake /proc would swallow LSM labels and sysctls).
pub fn write(path: &str, data: &str) -> Result<()> {
    let fd = open_raw(path, libc::O_WRONLY | libc::O_NOFOLLOW).map_err(|e| format!("open {path}: {e}"))?;
    if !is_procfs(&fd) {
        return Err(format!("{path} is not on procfs: refusing to write to it"));
    }
    let n = nix::unistd::write(&fd, data.as_bytes()).map_err(|e| format!("write {path}: {}", e.desc()))?;
    if n != data.len() {
        return Err(format!("write {path}: short write"));
    }
    Ok(())
}

/// `/proc/self/fd/N` for a descriptor, after checking that /proc/self/fd is a real procfs
/// (otherwise a mount onto that path would land wherever the image points it).
fn fd_path(fd: &OwnedFd) -> Result<String> {
    let dir = open_raw("/proc/self/fd", libc::O_PATH | libc::O_DIRECTORY).map_err(|e| format!("/proc is not a procfs (open /proc/self/fd: {e}): cannot mask or protect paths safely"))?;
    if !is_procfs(&dir) {
        return Err("/proc is not a procfs: cannot mask or protect paths safely".into());
    }
    Ok(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// The real /dev/null, opened and verified as the character device 1:3 (a container could
/// otherwise have put anything at that path and have it bound over the masked paths).
fn dev_null() -> Result<OwnedFd> {
    let fd = open_raw("/dev/null", libc::O_PATH | libc::O_NOFOLLOW).map_err(|e| format!("open /dev/null: {e}"))?;
    let st = crate::fs64::fstat(fd.as_raw_fd()).map_err(|e| format!("stat /dev/null: {}", e.desc()))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
        return Err("/dev/null is not the null device (char 1:3): refusing to mask paths with it".into());
    }
    Ok(fd)
}

/// An O_PATH descriptor of `path` itself (no symlink followed at the end), or None if absent.
fn open_target(path: &str) -> Result<Option<(OwnedFd, crate::fs64::FileStat)>> {
    match open_raw(path, libc::O_PATH | libc::O_NOFOLLOW) {
        Ok(fd) => {
            let st = crate::fs64::fstat(fd.as_raw_fd()).map_err(|e| format!("stat {path}: {}", e.desc()))?;
            if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                return Err(format!("{path} is a symlink: refusing to mask or protect through it"));
            }
            Ok(Some((fd, st)))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(format!("open {path}: {e}")),
    }
}

/// Hides `path`: an empty read-only tmpfs over a directory, the verified /dev/null over a file.
pub fn mask(path: &str) -> Result<()> {
    let Some((target, st)) = open_target(path)? else { return Ok(()) };
    let target_path = fd_path(&target)?;
    let r = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        nix::mount::mount(Some("tmpfs"), target_path.as_str(), Some("tmpfs"), MsFlags::MS_RDONLY, None::<&str>)
    } else {
        let null = dev_null()?;
        let null_path = fd_path(&null)?;
        nix::mount::mount(Some(null_path.as_str()), target_path.as_str(), None::<&str>, MsFlags::MS_BIND, None::<&str>)
    };
    r.map_err(|e| format!("mask path {path}: {}", e.desc().to_ascii_lowercase()))
}

/// Makes `path` read-only with a bind of itself remounted read-only (keeping its other flags).
pub fn make_readonly(path: &str) -> Result<()> {
    let Some((target, _)) = open_target(path)? else { return Ok(()) };
    let target_path = fd_path(&target)?;
    let err = |what: &str, e: nix::errno::Errno| format!("{what} readonly path {path}: {}", e.desc().to_ascii_lowercase());
    nix::mount::mount(Some(target_path.as_str()), target_path.as_str(), None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>).map_err(|e| err("bind", e))?;
    // The bind is a new mount on top: reopen to reach it, not the one underneath.
    let Some((mounted, _)) = open_target(path)? else { return Err(format!("{path} vanished")) };
    let mounted_path = fd_path(&mounted)?;
    let kept = match crate::fs64::statvfs(mounted_path.as_str()) {
        Ok(s) => MsFlags::from_bits_truncate(s.f_flag & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_NOATIME | libc::MS_NODIRATIME | libc::MS_RELATIME)),
        Err(_) => MsFlags::empty(),
    };
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC | kept;
    nix::mount::mount(None::<&str>, mounted_path.as_str(), None::<&str>, flags, None::<&str>).map_err(|e| err("remount", e))
}
