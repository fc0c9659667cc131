//! The container's root filesystem, built inside the init's new mount namespace: the spec's
//! mounts (targets resolved inside the rootfs with openat2 RESOLVE_IN_ROOT, so a symlink
//! can never lead out of it), /dev's devices and links, pivot_root, then masked and
//! read-only paths and the read-only root.

use nix::mount::{mount, MsFlags};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

type Result<T> = std::result::Result<T, String>;

const NONE: Option<&str> = None;

fn errno(e: nix::errno::Errno) -> String {
    e.desc().to_ascii_lowercase()
}

fn io_text(e: &std::io::Error) -> String {
    super::state::errno_text(e)
}

/// openat2(dirfd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS).
fn open_in_root(root: &OwnedFd, path: &Path, flags: i32) -> std::io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: open_how is plain old data; all-zero is valid.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    // O_LARGEFILE: the raw call gets no libc help, and 32-bit processes must ask for it;
    // but never with O_PATH, which openat2 (unlike openat) refuses with EINVAL beside any
    // flag other than O_DIRECTORY, O_NOFOLLOW and O_CLOEXEC (libc's value is 0 on 64-bit).
    let large = if flags & libc::O_PATH != 0 { 0 } else { libc::O_LARGEFILE };
    how.flags = (flags | libc::O_CLOEXEC | large) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: openat2 reads the path and the open_how of the size we pass; both outlive the call.
    let fd = unsafe { libc::syscall(libc::SYS_openat2, root.as_raw_fd(), c.as_ptr(), &how as *const libc::open_how, std::mem::size_of::<libc::open_how>()) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: openat2 returned a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The path of `dest` inside the rootfs, without the leading `/` and without `.`/`..`
/// games (those are left to RESOLVE_IN_ROOT).
fn relative(dest: &str) -> PathBuf {
    let mut p = PathBuf::from(".");
    for c in Path::new(dest).components() {
        match c {
            Component::Normal(n) => p.push(n),
            Component::ParentDir => p.push(".."),
            _ => {}
        }
    }
    p
}

/// mkdir -p inside the rootfs; returns an O_PATH descriptor of the directory.
///
/// Every component is looked up with RESOLVE_IN_ROOT and created with mkdirat relative to a
/// descriptor of its parent, so nothing the container or the image swaps in can make a
/// directory appear outside the rootfs (CVE-2024-45310). Symlinks are followed by hand,
/// inside the root, so that a dangling one (say to an absolute path) has its target made
/// under the rootfs instead of failing.
fn mkdir_all_in_root(root: &OwnedFd, rel: &Path, mode: u32) -> Result<OwnedFd> {
    use std::collections::VecDeque;
    use std::ffi::OsString;
    fn push_components(todo: &mut VecDeque<OsString>, path: &Path) {
        let parts: Vec<OsString> = path
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            })
            .collect();
        for p in parts.into_iter().rev() {
            todo.push_front(p);
        }
    }
    let mut todo = VecDeque::new();
    push_components(&mut todo, rel);
    let mut prefix = PathBuf::from(".");
    let mut steps = 0;
    while let Some(name) = todo.pop_front() {
        steps += 1;
        if steps > 255 {
            return Err(format!("mkdir {}: too many levels of symbolic links", rel.display()));
        }
        if name == ".." {
            if prefix != Path::new(".") {
                prefix.pop();
            }
            continue;
        }
        let candidate = prefix.join(&name);
        match open_in_root(root, &candidate, libc::O_PATH | libc::O_NOFOLLOW) {
            Ok(fd) => {
                let st = crate::fs64::fstat(fd.as_raw_fd()).map_err(|e| format!("stat {}: {}", candidate.display(), errno(e)))?;
                match st.st_mode & libc::S_IFMT {
                    libc::S_IFDIR => prefix = candidate,
                    libc::S_IFLNK => {
                        let mut buf = vec![0u8; libc::PATH_MAX as usize];
                        let empty = CString::default();
                        // SAFETY: readlinkat writes at most buf.len() bytes into buf; the
                        // empty path names the O_PATH link itself.
                        let n = unsafe { libc::readlinkat(fd.as_raw_fd(), empty.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
                        if n < 0 {
                            return Err(format!("readlink {}: {}", candidate.display(), std::io::Error::last_os_error()));
                        }
                        buf.truncate(n as usize);
                        let target = PathBuf::from(std::ffi::OsString::from_vec(buf));
                        if target.is_absolute() {
                            prefix = PathBuf::from(".");
                        }
                        push_components(&mut todo, &target);
                    }
                    _ => return Err(format!("mkdir {}: not a directory", candidate.display())),
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                let parent = open_in_root(root, &prefix, libc::O_PATH | libc::O_DIRECTORY).map_err(|e| format!("open {}: {}", prefix.display(), io_text(&e)))?;
                let cname = CString::new(name.as_bytes()).map_err(|_| "NUL in path".to_string())?;
                // SAFETY: mkdirat reads the NUL-terminated name relative to a descriptor we hold.
                let rc = unsafe { libc::mkdirat(parent.as_raw_fd(), cname.as_ptr(), mode) };
                if rc != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
                    return Err(format!("mkdir {}: {}", candidate.display(), std::io::Error::last_os_error()));
                }
                // Look again: whatever is there now (ours, or a racing link) is resolved anew.
                todo.push_front(name);
            }
            Err(e) => return Err(format!("open {}: {}", candidate.display(), io_text(&e))),
        }
    }
    open_in_root(root, &prefix, libc::O_PATH | libc::O_DIRECTORY).map_err(|e| format!("open {}: {}", prefix.display(), io_text(&e)))
}

/// Makes the mount target (a directory, or an empty file when `file`) and returns an O_PATH
/// descriptor of it.
fn make_target(root: &OwnedFd, dest: &str, file: bool) -> Result<OwnedFd> {
    let rel = relative(dest);
    if !file {
        return mkdir_all_in_root(root, &rel, 0o755);
    }
    let rel = follow_final_symlinks(root, rel)?;
    if let Ok(fd) = open_in_root(root, &rel, libc::O_PATH) {
        return Ok(fd);
    }
    let parent_rel = rel.parent().unwrap_or(Path::new("."));
    mkdir_all_in_root(root, parent_rel, 0o755)?;
    let name = rel.file_name().ok_or_else(|| format!("bad mount destination {dest:?}"))?;
    let cname = CString::new(name.as_bytes()).map_err(|_| "NUL in path".to_string())?;
    let parent = open_in_root(root, parent_rel, libc::O_RDONLY | libc::O_DIRECTORY).map_err(|e| format!("open parent of {dest}: {}", io_text(&e)))?;
    // SAFETY: openat reads the NUL-terminated name relative to a descriptor we hold.
    let fd = unsafe { libc::openat64(parent.as_raw_fd(), cname.as_ptr(), libc::O_CREAT | libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0o644) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) && e.raw_os_error() != Some(libc::ELOOP) {
            return Err(format!("create {dest}: {}", io_text(&e)));
        }
    } else {
        // SAFETY: the descriptor is fresh and closed right here.
        unsafe { libc::close(fd) };
    }
    open_in_root(root, &rel, libc::O_PATH).map_err(|e| format!("open {dest}: {}", io_text(&e)))
}

/// A file target that is a symlink (dangling, say /etc/resolv.conf to /run/...) is replaced
/// by its target, read as text and resolved inside the rootfs like every other path.
fn follow_final_symlinks(root: &OwnedFd, mut rel: PathBuf) -> Result<PathBuf> {
    for _ in 0..40 {
        let fd = match open_in_root(root, &rel, libc::O_PATH | libc::O_NOFOLLOW) {
            Ok(fd) => fd,
            Err(_) => return Ok(rel),
        };
        let st = crate::fs64::fstat(fd.as_raw_fd()).map_err(errno)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFLNK {
            return Ok(rel);
        }
        let mut buf = vec![0u8; libc::PATH_MAX as usize];
        let empty = CString::default();
        // SAFETY: readlinkat writes at most buf.len() bytes into buf; the empty path names
        // the O_PATH link itself.
        let n = unsafe { libc::readlinkat(fd.as_raw_fd(), empty.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(format!("readlink {}: {}", rel.display(), std::io::Error::last_os_error()));
        }
        buf.truncate(n as usize);
        let target = PathBuf::from(std::ffi::OsString::from_vec(buf));
        rel = if target.is_absolute() { relative(&target.to_string_lossy()) } else { rel.parent().unwrap_or(Path::new(".")).join(target) };
    }
    Err(format!("{}: too many levels of symbolic links", rel.display()))
}

fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Mount options split into flags, propagation flags and filesystem data.
struct Options {
    flags: MsFlags,
    propagation: MsFlags,
    data: String,
    /// Recursive attributes (`rro`, `rnosuid`, ...) to set and clear with mount_setattr.
    recursive_set: u64,
    recursive_clear: u64,
}

fn parse_options(options: &[String]) -> Options {
    let mut o = Options { flags: MsFlags::empty(), propagation: MsFlags::empty(), data: String::new(), recursive_set: 0, recursive_clear: 0 };
    for opt in options {
        if let Some((set, clear)) = recursive_attribute(opt) {
            o.recursive_set = (o.recursive_set & !clear) | set;
            o.recursive_clear = (o.recursive_clear & !set) | clear;
            continue;
        }
        let (set, clear, prop) = match opt.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty(), MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY, MsFlags::empty()),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty(), MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID, MsFlags::empty()),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty(), MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV, MsFlags::empty()),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty(), MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC, MsFlags::empty()),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty(), MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty(), MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty(), MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty(), MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME, MsFlags::empty()),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty(), MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty(), MsFlags::empty()),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty(), MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty(), MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty(), MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME, MsFlags::empty()),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty(), MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "private" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_PRIVATE),
            "rprivate" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_PRIVATE | MsFlags::MS_REC),
            "shared" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_SHARED),
            "rshared" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_SHARED | MsFlags::MS_REC),
            "slave" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_SLAVE),
            "rslave" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_SLAVE | MsFlags::MS_REC),
            "unbindable" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_UNBINDABLE),
            "runbindable" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
            data => {
                if !o.data.is_empty() {
                    o.data.push(',');
                }
                o.data.push_str(data);
                continue;
            }
        };
        o.flags = (o.flags | set) - clear;
        o.propagation |= prop;
    }
    o
}

/// runc's recursive mount options: the attributes each one sets and clears.
fn recursive_attribute(opt: &str) -> Option<(u64, u64)> {
    use crate::mounts::attr::*;
    Some(match opt {
        "rro" => (RDONLY, 0),
        "rrw" => (0, RDONLY),
        "rnosuid" => (NOSUID, 0),
        "rsuid" => (0, NOSUID),
        "rnodev" => (NODEV, 0),
        "rdev" => (0, NODEV),
        "rnoexec" => (NOEXEC, 0),
        "rexec" => (0, NOEXEC),
        "rnodiratime" => (NODIRATIME, 0),
        "rdiratime" => (0, NODIRATIME),
        "rrelatime" => (0, ATIME_MASK),
        "rnoatime" => (NOATIME, ATIME_MASK),
        "rstrictatime" => (STRICTATIME, ATIME_MASK),
        "rnosymfollow" => (NOSYMFOLLOW, 0),
        "rsymfollow" => (0, NOSYMFOLLOW),
        _ => return None,
    })
}

/// Applies `rro` and the other recursive options to the mount at `rel`.
fn apply_recursive(root: &OwnedFd, rel: &Path, opts: &Options) -> Result<()> {
    if opts.recursive_set == 0 && opts.recursive_clear == 0 {
        return Ok(());
    }
    let mounted = open_in_root(root, rel, libc::O_PATH).map_err(|e| io_text(&e))?;
    crate::mounts::set_attributes(mounted.as_raw_fd(), opts.recursive_set, opts.recursive_clear, true).map_err(|e| format!("mount_setattr: {}", io_text(&e)))
}

fn propagation_flags(name: &str) -> Result<MsFlags> {
    let o = parse_options(&[name.to_string()]);
    if o.propagation.is_empty() {
        return Err(format!("unknown rootfsPropagation {name:?}"));
    }
    Ok(o.propagation)
}

/// Mount flags of the filesystem at `path` that a bind remount must keep.
fn kept_flags(path: &str) -> MsFlags {
    match crate::fs64::statvfs(path) {
        Ok(s) => {
            let f = s.f_flag;
            MsFlags::from_bits_truncate(f & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_NOATIME | libc::MS_NODIRATIME | libc::MS_RELATIME))
        }
        Err(_) => MsFlags::empty(),
    }
}

fn do_mount(source: Option<&str>, target: &str, fstype: Option<&str>, flags: MsFlags, data: Option<&str>) -> nix::Result<()> {
    mount(source, target, fstype, flags, data)
}

/// Everything before entering the rootfs: propagation, the rootfs bind, the spec's mounts,
/// /dev, and the working directory.
/// `sources` holds, for each of the spec's mounts, the bind source runc opened in its own
/// context (see [`open_bind_sources`]), or None to reach it by path.
pub fn prepare(spec: &crate::oci::Spec, rootfs: &Path, bundle: &Path, cwd: &str, sources: &[Option<OwnedFd>]) -> Result<()> {
    let linux = spec.linux.as_ref();
    let propagation = match linux.and_then(|l| l.rootfs_propagation.as_deref()).filter(|p| !p.is_empty()) {
        Some(p) => propagation_flags(p)?,
        None => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    do_mount(NONE, "/", NONE, propagation, NONE).map_err(|e| format!("make / {propagation:?}: {}", errno(e)))?;
    if propagation.contains(MsFlags::MS_SHARED) {
        make_parent_mount_private(rootfs)?;
    }
    let rootfs_str = rootfs.to_str().ok_or("rootfs path is not UTF-8")?;
    do_mount(Some(rootfs_str), rootfs_str, NONE, MsFlags::MS_BIND | MsFlags::MS_REC, NONE).map_err(|e| format!("bind rootfs {rootfs_str}: {}", errno(e)))?;
    let root = crate::fs64::open(rootfs, nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()).map_err(|e| format!("open rootfs: {}", errno(e)))?;
    // SAFETY: open returned a fresh descriptor we own.
    let root = unsafe { OwnedFd::from_raw_fd(root) };

    let mut dev_is_tmpfs = false;
    for (i, m) in spec.mounts.iter().enumerate() {
        mount_one(&root, m, bundle, sources.get(i).and_then(Option::as_ref)).map_err(|e| format!("error mounting {:?} to rootfs at {:?}: {e}", m.source.as_deref().unwrap_or(""), m.destination))?;
        if relative(&m.destination) == Path::new("./dev") {
            dev_is_tmpfs = !parse_options(m.options.as_deref().unwrap_or(&[])).flags.contains(MsFlags::MS_BIND);
        }
    }
    if dev_is_tmpfs {
        let devices = linux.map(|l| l.devices.as_slice()).unwrap_or(&[]);
        create_devices(&root, devices)?;
    }
    mkdir_all_in_root(&root, &relative(cwd), 0o755).map_err(|e| format!("mkdir cwd {cwd}: {e}"))?;
    Ok(())
}

/// pivot_root needs the new root and its parent mount not to be shared: the mount that holds
/// the rootfs (the rootfs's own mount when it is one, as an overlay is) is made private, as
/// runc does, so its bind below is private too.
fn make_parent_mount_private(rootfs: &Path) -> Result<()> {
    let mounts = crate::mounts::mounts().map_err(|e| format!("read mountinfo: {e}"))?;
    let best = mounts.iter().filter(|m| rootfs.starts_with(&m.mount_point)).max_by_key(|m| m.mount_point.as_os_str().len());
    if let Some(m) = best {
        do_mount(NONE, m.mount_point.to_str().unwrap_or("/"), NONE, MsFlags::MS_PRIVATE, NONE).map_err(|e| format!("make {} private: {}", m.mount_point.display(), errno(e)))?;
    }
    Ok(())
}

/// Whether the mount is a bind (by its type or its options).
fn is_bind(m: &crate::oci::Mount) -> bool {
    m.kind.as_deref() == Some("bind") || parse_options(m.options.as_deref().unwrap_or(&[])).flags.contains(MsFlags::MS_BIND)
}

/// The bind sources of `spec`'s mounts taken with runc's own rights, one entry per mount
/// (None for the others), as runc's mount-source fds: an init in a new user namespace is
/// root only there, and could not reach a source under a directory only the host's root may
/// enter. Each is a detached copy of the source's mount (open_tree with OPEN_TREE_CLONE,
/// recursive for rbind): a mount of runc's namespace could not be bound into the init's,
/// while a detached one can be moved there. The init inherits them and attaches each with
/// move_mount.
pub fn open_bind_sources(spec: &crate::oci::Spec, bundle: &Path) -> Result<Vec<Option<OwnedFd>>> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    spec.mounts
        .iter()
        .map(|m| {
            if !is_bind(m) {
                return Ok(None);
            }
            let source = m.source.as_deref().unwrap_or("");
            let src = if source.starts_with('/') { PathBuf::from(source) } else { bundle.join(source) };
            let path = std::ffi::CString::new(src.as_os_str().as_encoded_bytes()).map_err(|_| "source path holds a NUL byte")?;
            let recursive = if parse_options(m.options.as_deref().unwrap_or(&[])).flags.contains(MsFlags::MS_REC) { libc::AT_RECURSIVE as libc::c_uint } else { 0 };
            // SAFETY: open_tree reads the NUL-terminated path; the result is a new descriptor.
            let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | recursive) };
            if fd < 0 {
                return Err(format!("error mounting {source:?} to rootfs at {:?}: open_tree {}: {}", m.destination, src.display(), io_text(&std::io::Error::last_os_error())));
            }
            // SAFETY: as above, the descriptor is ours alone.
            Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
        })
        .collect()
}

/// Attaches the detached mount `tree` at `target` (both descriptors).
fn move_mount(tree: &OwnedFd, target: &OwnedFd) -> nix::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    // SAFETY: both paths are empty NUL-terminated strings; the descriptors are open.
    let rc = unsafe { libc::syscall(libc::SYS_move_mount, tree.as_raw_fd(), c"".as_ptr(), target.as_raw_fd(), c"".as_ptr(), MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) };
    if rc < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

fn mount_one(root: &OwnedFd, m: &crate::oci::Mount, bundle: &Path, opened: Option<&OwnedFd>) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let opts = parse_options(m.options.as_deref().unwrap_or(&[]));
    let kind = m.kind.as_deref().unwrap_or("");
    let source = m.source.as_deref().unwrap_or("");
    let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
    let rel = relative(&m.destination);
    if opts.flags.contains(MsFlags::MS_BIND) || kind == "bind" {
        let src = match opened {
            Some(tree) => PathBuf::from(fd_path(tree)),
            None if source.starts_with('/') => PathBuf::from(source),
            None => bundle.join(source),
        };
        let meta = std::fs::metadata(&src).map_err(|e| format!("stat {}: {}", src.display(), io_text(&e)))?;
        let target = make_target(root, &m.destination, !meta.is_dir())?;
        if let Some(tree) = opened {
            move_mount(tree, &target).map_err(|e| format!("move_mount: {}", errno(e)))?;
        } else {
            let rec = opts.flags & MsFlags::MS_REC;
            let src_str = src.to_str().ok_or("source path is not UTF-8")?;
            do_mount(Some(src_str), &fd_path(&target), NONE, MsFlags::MS_BIND | rec, NONE).map_err(errno)?;
        }
        // Flags of a bind only take effect on a remount, of the new mount (so reopen it).
        let extra = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        let mounted = open_in_root(root, &rel, libc::O_PATH).map_err(|e| io_text(&e))?;
        // The path, looked up again, must lead to what was just mounted: a symlink swapped in
        // meanwhile (a volume shared with a running container, CVE-2021-30465) would have the
        // remount and propagation below applied elsewhere in the root.
        let st = crate::fs64::fstat(mounted.as_raw_fd()).map_err(errno)?;
        if (st.st_dev as u64, st.st_ino as u64) != (meta.dev(), meta.ino()) {
            return Err(format!("mount destination {} changed while it was mounted (a racing symlink?)", m.destination));
        }
        if !extra.is_empty() {
            let p = fd_path(&mounted);
            let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra | kept_flags(&p);
            do_mount(NONE, &p, NONE, flags, NONE).map_err(|e| format!("remount: {}", errno(e)))?;
        }
        if !opts.propagation.is_empty() {
            do_mount(NONE, &fd_path(&mounted), NONE, opts.propagation, NONE).map_err(errno)?;
        }
        return apply_recursive(root, &rel, &opts);
    }
    if kind == "proc" || kind == "sysfs" {
        require_plain_directory(root, &rel, kind)?;
    }
    let target = make_target(root, &m.destination, false)?;
    let path = fd_path(&target);
    let mut flags = opts.flags - MsFlags::MS_REMOUNT;
    if read_only_later(m) {
        // Files and mounts are still to be made in it: read-only at the end (`finish`).
        flags -= MsFlags::MS_RDONLY;
    }
    let result = match kind {
        // The container's own cgroup directories, bound (see cgroupfs).
        "cgroup" | "cgroup2" => super::cgroupfs::mount_cgroups(&path, flags, &|| open_in_root(root, &rel, libc::O_PATH).map_err(|_| nix::errno::Errno::ENOENT)),
        "sysfs" => do_mount(Some(source), &path, Some(kind), flags, data).or_else(|e| {
            // Without a new network namespace sysfs cannot be mounted: bind the host's.
            if e != nix::errno::Errno::EPERM {
                return Err(e);
            }
            do_mount(Some("/sys"), &path, NONE, MsFlags::MS_BIND | MsFlags::MS_REC, NONE)?;
            let again = open_in_root(root, &rel, libc::O_PATH).map_err(|_| nix::errno::Errno::ENOENT)?;
            do_mount(NONE, &fd_path(&again), NONE, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags, NONE)
        }),
        _ => do_mount(Some(source), &path, Some(kind), flags, data),
    };
    result.map_err(errno)?;
    if !opts.propagation.is_empty() {
        let mounted = open_in_root(root, &rel, libc::O_PATH).map_err(|e| io_text(&e))?;
        do_mount(NONE, &fd_path(&mounted), NONE, opts.propagation, NONE).map_err(errno)?;
    }
    apply_recursive(root, &rel, &opts)
}

/// proc and sysfs only on a real directory (or a missing one), never through a symlink the
/// image placed there (CVE-2019-16884 / CVE-2023-27561).
fn require_plain_directory(root: &OwnedFd, rel: &Path, kind: &str) -> Result<()> {
    match open_in_root(root, rel, libc::O_PATH | libc::O_NOFOLLOW) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) => Err(io_text(&e)),
        Ok(fd) => {
            let st = crate::fs64::fstat(fd.as_raw_fd()).map_err(errno)?;
            if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
                return Err(format!("filesystem {kind:?} must be mounted on ordinary directory"));
            }
            Ok(())
        }
    }
}

/// The devices every container gets on a tmpfs /dev, and /dev's standard links.
fn create_devices(root: &OwnedFd, extra: &[crate::oci::Device]) -> Result<()> {
    let defaults = [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];
    let mut all: Vec<crate::oci::Device> = defaults
        .iter()
        .map(|(name, major, minor)| crate::oci::Device { kind: "c".into(), path: format!("/dev/{name}"), major: *major, minor: *minor, file_mode: Some(0o666), uid: Some(0), gid: Some(0) })
        .collect();
    for d in extra {
        all.retain(|x| x.path != d.path);
        all.push(d.clone());
    }
    for d in &all {
        make_device(root, d).map_err(|e| format!("create device {}: {e}", d.path))?;
    }
    let dev = open_in_root(root, Path::new("dev"), libc::O_PATH | libc::O_DIRECTORY).map_err(|e| format!("open /dev: {}", io_text(&e)))?;
    let mut links = vec![("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"), ("/proc/self/fd/2", "stderr"), ("pts/ptmx", "ptmx")];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        let t = CString::new(target).expect("static string");
        let n = CString::new(name).expect("static string");
        // SAFETY: symlinkat reads two NUL-terminated strings relative to a descriptor we hold.
        if unsafe { libc::symlinkat(t.as_ptr(), dev.as_raw_fd(), n.as_ptr()) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(format!("symlink /dev/{name}: {}", io_text(&e)));
            }
        }
    }
    Ok(())
}

fn make_device(root: &OwnedFd, d: &crate::oci::Device) -> Result<()> {
    let rel = relative(&d.path);
    let parent_rel = rel.parent().unwrap_or(Path::new("."));
    mkdir_all_in_root(root, parent_rel, 0o755)?;
    let parent = open_in_root(root, parent_rel, libc::O_RDONLY | libc::O_DIRECTORY).map_err(|e| io_text(&e))?;
    let name = CString::new(rel.file_name().ok_or("no file name")?.as_bytes()).map_err(|_| "NUL in path")?;
    let kind = match d.kind.as_str() {
        "c" | "u" => libc::S_IFCHR,
        "b" => libc::S_IFBLK,
        "p" => libc::S_IFIFO,
        other => return Err(format!("unknown device type {other:?}")),
    };
    let mode = d.file_mode.unwrap_or(0o666) & 0o7777;
    let dev = libc::makedev(d.major as u32, d.minor as u32);
    // SAFETY: mknodat reads the NUL-terminated name relative to a descriptor we hold.
    let rc = unsafe { libc::mknodat(parent.as_raw_fd(), name.as_ptr(), kind | mode, dev) };
    if rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM) {
        // In a user namespace no device can be made: bind the host's, as runc does.
        return bind_host_device(root, d);
    }
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(io_text(&e));
        }
        return Ok(());
    }
    // SAFETY: fchmodat/fchownat only read the name and change this new node.
    unsafe {
        libc::fchmodat(parent.as_raw_fd(), name.as_ptr(), mode, 0);
        libc::fchownat(parent.as_raw_fd(), name.as_ptr(), d.uid.unwrap_or(0), d.gid.unwrap_or(0), libc::AT_SYMLINK_NOFOLLOW);
    }
    Ok(())
}

/// A device node in a user namespace: an empty file with the host's device bind-mounted on it.
fn bind_host_device(root: &OwnedFd, d: &crate::oci::Device) -> Result<()> {
    let target = make_target(root, &d.path, true)?;
    do_mount(Some(d.path.as_str()), &fd_path(&target), NONE, MsFlags::MS_BIND, NONE).map_err(|e| format!("bind host device {}: {}", d.path, errno(e)))
}

/// Makes the rootfs the process's `/`: pivot_root (the old root detached), or with
/// `no_pivot` a move mount and chroot.
/// Without pivot_root the host's mounts stay in the container's mount namespace, under the
/// chroot: the kernel then lets a process mount a fresh procfs or sysfs only if no full one
/// it could see is covered (the check looks at every mount of the namespace), and those of
/// the host are reachable through the old root. As runc does before its MS_MOVE, every full
/// proc and sysfs outside the rootfs is detached (its unmount kept from the host by making
/// it a slave first), or covered with an empty tmpfs where it cannot be unmounted.
fn mask_host_proc_and_sys(rootfs: &Path) -> Result<()> {
    let mounts = crate::mounts::mounts().map_err(|e| format!("read mountinfo: {e}"))?;
    // mountinfo has the real paths: the container's own proc and sysfs are under the real
    // rootfs path, whatever symlinks the bundle's path went through.
    let rootfs = std::fs::canonicalize(rootfs).unwrap_or_else(|_| rootfs.to_path_buf());
    for m in mounts.iter().filter(|m| m.root == "/" && (m.fstype == "proc" || m.fstype == "sysfs") && !m.mount_point.starts_with(&rootfs)) {
        let Some(p) = m.mount_point.to_str() else { continue };
        match do_mount(NONE, p, NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE) {
            Ok(()) => {}
            // Gone with a parent detached before it.
            Err(nix::errno::Errno::ENOENT) => continue,
            Err(e) => return Err(format!("make {p} a slave: {}", errno(e))),
        }
        match nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) => {}
            Err(nix::errno::Errno::EINVAL | nix::errno::Errno::EPERM) => {
                do_mount(Some("tmpfs"), p, Some("tmpfs"), MsFlags::empty(), NONE).map_err(|e| format!("cover {p}: {}", errno(e)))?;
            }
            Err(e) => return Err(format!("unmount {p}: {}", errno(e))),
        }
    }
    Ok(())
}

pub fn enter(rootfs: &Path, no_pivot: bool) -> Result<()> {
    use nix::fcntl::OFlag;
    let open_dir = |p: &Path| -> Result<OwnedFd> {
        let fd = crate::fs64::open(p, OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()).map_err(|e| format!("open {}: {}", p.display(), errno(e)))?;
        // SAFETY: open returned a fresh descriptor we own.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    };
    let new_root = open_dir(rootfs)?;
    nix::unistd::fchdir(new_root.as_raw_fd()).map_err(|e| format!("chdir rootfs: {}", errno(e)))?;
    if no_pivot {
        mask_host_proc_and_sys(rootfs)?;
        do_mount(Some("."), "/", NONE, MsFlags::MS_MOVE, NONE).map_err(|e| format!("move rootfs to /: {}", errno(e)))?;
        nix::unistd::chroot(".").map_err(|e| format!("chroot: {}", errno(e)))?;
    } else {
        let old_root = open_dir(Path::new("/"))?;
        nix::unistd::pivot_root(".", ".").map_err(|e| format!("pivot_root: {}", errno(e)))?;
        nix::unistd::fchdir(old_root.as_raw_fd()).map_err(|e| format!("chdir old root: {}", errno(e)))?;
        // Slave first, so detaching the old root does not propagate to the host.
        do_mount(NONE, ".", NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE).map_err(|e| format!("make old root rslave: {}", errno(e)))?;
        nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH).map_err(|e| format!("unmount old root: {}", errno(e)))?;
    }
    nix::unistd::chdir("/").map_err(|e| format!("chdir /: {}", errno(e)))?;
    Ok(())
}

/// A read-only tmpfs or /dev (not a bind) is mounted read-write and made read-only last, as
/// runc does: /dev's devices, devpts, shm and mqueue, and whatever is mounted inside such a
/// tmpfs, need it writable while the rootfs is set up.
fn read_only_later(m: &crate::oci::Mount) -> bool {
    let opts = parse_options(m.options.as_deref().unwrap_or(&[]));
    let kind = m.kind.as_deref().unwrap_or("");
    opts.flags.contains(MsFlags::MS_RDONLY) && !opts.flags.contains(MsFlags::MS_BIND) && kind != "bind" && (kind == "tmpfs" || relative(&m.destination) == Path::new("./dev"))
}

/// Inside the rootfs: read-only tmpfs and /dev, readonly paths, masked paths, and the
/// read-only root.
pub fn finish(spec: &crate::oci::Spec) -> Result<()> {
    for m in spec.mounts.iter().filter(|m| read_only_later(m)) {
        let dest = Path::new("/").join(relative(&m.destination));
        let dest = dest.to_str().ok_or("mount destination is not UTF-8")?;
        // A bind remount changes only the flags (and works in a user namespace too); the
        // flags the mount has (nosuid, nodev, ...) are kept, as the kernel requires there.
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | kept_flags(dest);
        do_mount(NONE, dest, NONE, flags, NONE).map_err(|e| format!("remount {} read-only: {}", m.destination, errno(e)))?;
    }
    if let Some(linux) = &spec.linux {
        // Through verified descriptors only (procfs.rs): CVE-2019-16884, the /dev/null races.
        for p in &linux.readonly_paths {
            super::procfs::make_readonly(p)?;
        }
        for p in &linux.masked_paths {
            super::procfs::mask(p)?;
        }
    }
    if spec.root.as_ref().is_some_and(|r| r.readonly) {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | kept_flags("/");
        do_mount(NONE, "/", NONE, flags, NONE).map_err(|e| format!("remount / read-only: {}", errno(e)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let o = parse_options(&["nosuid".into(), "mode=755".into(), "ro".into(), "rprivate".into(), "size=65536k".into(), "rw".into()]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID);
        assert_eq!(o.propagation, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        assert_eq!(o.data, "mode=755,size=65536k");
    }

    #[test]
    fn destinations_stay_relative() {
        assert_eq!(relative("/dev/pts"), PathBuf::from("./dev/pts"));
        assert_eq!(relative("/"), PathBuf::from("."));
    }
}
