//! Container filesystems: overlay2 layer directories and mounts.
//!
//! A container gets two layers on top of its image, as in Docker: `<mount-id>-init` (the files
//! the daemon bind-mounts over, so they exist as mount points) and `<mount-id>` (its writable
//! layer). Lower directories are named through the short links in `overlay2/l` so that the
//! mount option string stays under a page even for deep images.

use crate::image::Image;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What Docker's init layer contains: directories, empty files, and one symlink.
enum InitEntry {
    Dir,
    File,
    Symlink(&'static str),
}

const INIT_LAYER: &[(&str, InitEntry)] = &[
    ("dev/pts", InitEntry::Dir),
    ("dev/shm", InitEntry::Dir),
    ("proc", InitEntry::Dir),
    ("sys", InitEntry::Dir),
    (".dockerenv", InitEntry::File),
    ("etc/resolv.conf", InitEntry::File),
    ("etc/hosts", InitEntry::File),
    ("etc/hostname", InitEntry::File),
    ("dev/console", InitEntry::File),
    ("etc/mtab", InitEntry::Symlink("/proc/mounts")),
];

/// Container layers under `<data-root>/overlay2`; safe to share between threads.
pub struct Snapshotter {
    data_root: PathBuf,
    lock: Mutex<()>,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn random_link() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let id = crate::ids::new_id();
    id.as_bytes().chunks(2).take(26).map(|p| ALPHABET[(u8::from_str_radix(std::str::from_utf8(p).unwrap_or("0"), 16).unwrap_or(0) % 32) as usize] as char).collect()
}

impl Snapshotter {
    pub fn open(data_root: &Path) -> io::Result<Snapshotter> {
        std::fs::create_dir_all(data_root.join("overlay2/l"))?;
        Ok(Snapshotter { data_root: data_root.to_path_buf(), lock: Mutex::new(()) })
    }

    fn layers(&self) -> PathBuf {
        self.data_root.join("overlay2")
    }

    fn check_id(mount_id: &str) -> io::Result<()> {
        if mount_id.len() == 64 && mount_id.bytes().all(|c| c.is_ascii_hexdigit()) {
            Ok(())
        } else {
            Err(invalid(format!("invalid mount id {mount_id:?}")))
        }
    }

    /// The `lower` string (`l/TOP:...:l/BASE`) of the image's top layer plus that layer's link.
    fn image_lower(&self, image: &Image) -> io::Result<(String, Vec<PathBuf>)> {
        let mut links = Vec::new();
        let mut diffs = Vec::new();
        for chain in image.layers.iter().rev() {
            let hex = chain.strip_prefix("sha256:").unwrap_or(chain);
            let cache_id = std::fs::read_to_string(self.data_root.join("image/overlay2/layerdb/sha256").join(hex).join("cache-id"))
                .map_err(|e| io::Error::new(e.kind(), format!("layer {chain} of image {}: {e}", image.id)))?;
            let cache_id = cache_id.trim();
            let link = std::fs::read_to_string(self.layers().join(cache_id).join("link"))?;
            links.push(format!("l/{}", link.trim()));
            diffs.push(self.layers().join(cache_id).join("diff"));
        }
        Ok((links.join(":"), diffs))
    }

    /// Makes a layer directory `overlay2/<name>` with its short link; returns the link.
    fn make_layer(&self, name: &str, lower: &str) -> io::Result<String> {
        let dir = self.layers().join(name);
        std::fs::create_dir(&dir)?;
        std::fs::create_dir(dir.join("diff"))?;
        std::fs::create_dir(dir.join("work"))?;
        let link = random_link();
        std::fs::write(dir.join("link"), &link)?;
        if !lower.is_empty() {
            std::fs::write(dir.join("lower"), lower)?;
        }
        std::os::unix::fs::symlink(format!("../{name}/diff"), self.layers().join("l").join(&link))?;
        Ok(link)
    }

    /// Creates the init and writable layers of a new container; returns the mount id.
    pub fn create_rw(&self, image: &Image) -> io::Result<String> {
        let (image_lower, image_diffs) = self.image_lower(image)?;
        let mount_id = crate::ids::new_id();
        let init_name = format!("{mount_id}-init");
        let result = (|| {
            let init_link = self.make_layer(&init_name, &image_lower)?;
            self.fill_init_layer(&self.layers().join(&init_name).join("diff"), &image_diffs)?;
            let rw_lower = if image_lower.is_empty() { format!("l/{init_link}") } else { format!("l/{init_link}:{image_lower}") };
            self.make_layer(&mount_id, &rw_lower)?;
            Ok(mount_id.clone())
        })();
        if result.is_err() {
            let _ = self.remove_layer(&init_name);
            let _ = self.remove_layer(&mount_id);
        }
        result
    }

    /// Docker's init layer: only what the image does not already have.
    fn fill_init_layer(&self, diff: &Path, image_diffs: &[PathBuf]) -> io::Result<()> {
        for (path, kind) in INIT_LAYER {
            // An image entry (seen through any layer) wins; whiteouts are rare enough here.
            if image_diffs.iter().any(|d| present_in_layer(d, path)) {
                continue;
            }
            let target = diff.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            match kind {
                InitEntry::Dir => std::fs::create_dir_all(&target)?,
                InitEntry::File => drop(std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(&target)?),
                InitEntry::Symlink(to) => std::os::unix::fs::symlink(to, &target)?,
            }
        }
        Ok(())
    }

    /// Mounts the container's overlay at `overlay2/<mount-id>/merged` (already mounted is fine).
    pub fn mount(&self, mount_id: &str) -> io::Result<PathBuf> {
        Self::check_id(mount_id)?;
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let dir = self.layers().join(mount_id);
        let merged = dir.join("merged");
        let lower = std::fs::read_to_string(dir.join("lower")).map_err(|e| io::Error::new(e.kind(), format!("no layer {mount_id}: {e}")))?;
        std::fs::create_dir_all(&merged)?;
        if crate::mounts::is_mountpoint(&merged) {
            return Ok(merged);
        }
        let layers = self.layers();
        let absolute_lower: Vec<String> = lower.trim().split(':').map(|l| layers.join(l).display().to_string()).collect();
        let options = format!("lowerdir={},upperdir={},workdir={}", absolute_lower.join(":"), dir.join("diff").display(), dir.join("work").display());
        if options.len() < page_size() - 1 {
            mount_overlay(&options, &merged)?;
        } else {
            let relative = format!("lowerdir={},upperdir={mount_id}/diff,workdir={mount_id}/work", lower.trim());
            mount_overlay_from(&layers, &relative, &merged)?;
        }
        Ok(merged)
    }

    /// Unmounts the container's overlay (not mounted is fine).
    pub fn unmount(&self, mount_id: &str) -> io::Result<()> {
        Self::check_id(mount_id)?;
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let merged = self.layers().join(mount_id).join("merged");
        crate::mounts::unmount_all_under(&merged)?;
        if merged.exists() {
            let _ = std::fs::remove_dir(&merged);
        }
        Ok(())
    }

    /// Unmounts and deletes the container's writable and init layers.
    pub fn remove(&self, mount_id: &str) -> io::Result<()> {
        self.unmount(mount_id)?;
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.remove_layer(&format!("{mount_id}-init"))?;
        self.remove_layer(mount_id)
    }

    fn remove_layer(&self, name: &str) -> io::Result<()> {
        let dir = self.layers().join(name);
        if let Ok(link) = std::fs::read_to_string(dir.join("link")) {
            let link = link.trim();
            if !link.is_empty() && !link.contains('/') {
                let _ = std::fs::remove_file(self.layers().join("l").join(link));
            }
        }
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Whether `rel` exists in a layer's diff, looking without following symlinks: a symlinked
/// parent (say /etc -> usr/etc) counts as present, since creating the path in the init
/// layer would shadow the image's link with a real directory.
fn present_in_layer(diff: &Path, rel: &str) -> bool {
    let mut cur = diff.to_path_buf();
    for part in rel.split('/') {
        cur.push(part);
        match std::fs::symlink_metadata(&cur) {
            Err(_) => return false,
            Ok(m) if m.file_type().is_symlink() => return true,
            Ok(_) => {}
        }
    }
    true
}

fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok().flatten().map(|p| p as usize).unwrap_or(4096)
}

fn mount_overlay(options: &str, target: &Path) -> io::Result<()> {
    nix::mount::mount(Some("overlay"), target, Some("overlay"), nix::mount::MsFlags::empty(), Some(options))
        .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("mount overlay on {}: {e}", target.display())))
}

/// Mounts with paths relative to `dir`: a forked child changes directory (a process-wide
/// setting we must not change in a threaded daemon) and mounts, as Docker's mountFrom does.
fn mount_overlay_from(dir: &Path, options: &str, target: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |b: &[u8]| CString::new(b).map_err(|_| invalid("path contains NUL".into()));
    let (cdir, ctarget, copts, overlay) = (c(dir.as_os_str().as_bytes())?, c(target.as_os_str().as_bytes())?, c(options.as_bytes())?, c(b"overlay")?);
    // SAFETY: the child only calls async-signal-safe functions (chdir, mount, _exit) on
    // buffers prepared before the fork.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => {
            // SAFETY: plain syscalls on NUL-terminated strings that outlive the calls.
            let rc = unsafe {
                if libc::chdir(cdir.as_ptr()) != 0 || libc::mount(overlay.as_ptr(), ctarget.as_ptr(), overlay.as_ptr(), 0, copts.as_ptr() as *const libc::c_void) != 0 {
                    *libc::__errno_location()
                } else {
                    0
                }
            };
            // SAFETY: _exit never returns and skips atexit handlers that are not ours to run.
            unsafe { libc::_exit(rc.clamp(0, 255)) }
        }
        nix::unistd::ForkResult::Parent { child } => match nix::sys::wait::waitpid(child, None)? {
            nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
            nix::sys::wait::WaitStatus::Exited(_, code) => {
                Err(io::Error::new(io::Error::from_raw_os_error(code).kind(), format!("mount overlay on {}: {}", target.display(), io::Error::from_raw_os_error(code))))
            }
            other => Err(io::Error::other(format!("mount helper for {}: {other:?}", target.display()))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_mount_from_a_forked_child() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let base = std::env::temp_dir().join(format!("dbx-snap-{}-{}", std::process::id(), &crate::ids::new_id()[..8]));
        for d in ["low/sub", "up", "work", "merged"] {
            std::fs::create_dir_all(base.join(d)).unwrap();
        }
        std::fs::write(base.join("low/sub/f"), b"lower").unwrap();
        let cwd = std::env::current_dir().unwrap();
        let result = mount_overlay_from(&base, "lowerdir=low,upperdir=up,workdir=work", &base.join("merged"));
        assert_eq!(std::env::current_dir().unwrap(), cwd, "our own directory never changes");
        result.unwrap();
        let seen = std::fs::read(base.join("merged/sub/f"));
        crate::mounts::unmount(&base.join("merged")).unwrap();
        std::fs::remove_dir_all(&base).unwrap();
        assert_eq!(seen.unwrap(), b"lower");
        let err = mount_overlay_from(Path::new("/nonexistent-dbx"), "lowerdir=a", Path::new("/nonexistent-dbx/m")).unwrap_err();
        assert!(err.to_string().contains("No such file"), "{err}");
    }
}
