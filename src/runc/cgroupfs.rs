//! The container's /sys/fs/cgroup (a spec mount of type `cgroup`): a tmpfs with the
//! container's own cgroup directory of each hierarchy bind-mounted at that hierarchy's name
//! (v1, and `unified` in hybrid mode), or the container's cgroup2 directory itself (unified
//! mode). Binds cost no new superblock, unlike a fresh cgroup2 mount, and show the container
//! only its own limits, as runc does without a cgroup namespace.

use nix::mount::{mount, MsFlags};
use std::os::fd::{AsRawFd, OwnedFd};

const NONE: Option<&str> = None;

/// Opens the mount point again: a /proc/self/fd path names the directory it was opened on,
/// not what has been mounted over it since.
type Reopen<'a> = &'a dyn Fn() -> nix::Result<OwnedFd>;

fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// The remount flags keeping `flags`' nosuid/nodev/noexec, read-only.
fn ro_flags(flags: MsFlags) -> MsFlags {
    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | (flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC))
}

/// Mounts the container's cgroups at `target` (a path to the mount point; `reopen` gives
/// it again after something is mounted there). Runs in the init, which already is in its
/// cgroup and still sees the host's /sys/fs/cgroup.
pub fn mount_cgroups(target: &str, flags: MsFlags, reopen: Reopen) -> nix::Result<()> {
    let readonly = flags.contains(MsFlags::MS_RDONLY);
    // One read of the mount table for both (a read costs ~50 us here).
    let h = crate::cgroups::Hierarchies::detect().map_err(|_| nix::errno::Errno::ENOENT)?;
    let own = crate::cgroups::Cgroup::current_in(&h).map_err(|_| nix::errno::Errno::ENOENT)?;
    if h.mode() == crate::cgroups::Mode::Unified {
        let dir = own.unified.ok_or(nix::errno::Errno::ENOENT)?;
        mount(Some(&dir), target, NONE, MsFlags::MS_BIND, NONE)?;
        if readonly {
            mount(NONE, fd_path(&reopen()?).as_str(), NONE, ro_flags(flags), NONE)?;
        }
        return Ok(());
    }
    let tmpfs_flags = flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    mount(Some("tmpfs"), target, Some("tmpfs"), tmpfs_flags, Some("mode=755"))?;
    let tmpfs = reopen()?;
    let top = fd_path(&tmpfs);
    let mut hierarchies: Vec<(String, std::path::PathBuf)> = Vec::new();
    for (ctrl, (mount_point, _)) in &h.v1 {
        let name = mount_point.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| ctrl.clone());
        if let Some(dir) = own.v1.get(ctrl) {
            if !hierarchies.iter().any(|(n, _)| *n == name) {
                hierarchies.push((name.clone(), dir.clone()));
            }
            // Co-mounted controllers (cpu,cpuacct) are also reachable by each name.
            if name != *ctrl && !ctrl.starts_with("name=") {
                let _ = std::os::unix::fs::symlink(&name, format!("{top}/{ctrl}"));
            }
        }
    }
    if let (Some((mount_point, _)), Some(dir)) = (&h.unified, &own.unified) {
        let name = mount_point.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "unified".into());
        hierarchies.push((name, dir.clone()));
    }
    for (name, dir) in hierarchies {
        let dst = format!("{top}/{name}");
        std::fs::create_dir_all(&dst).map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        mount(Some(&dir), dst.as_str(), NONE, MsFlags::MS_BIND, NONE)?;
        if readonly {
            mount(NONE, dst.as_str(), NONE, ro_flags(flags), NONE)?;
        }
    }
    if readonly {
        mount(NONE, top.as_str(), NONE, MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | tmpfs_flags, Some("mode=755"))?;
    }
    Ok(())
}
