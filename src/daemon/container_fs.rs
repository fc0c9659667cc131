//! A container's filesystem opened for `docker cp` (the archive routes), as Docker opens it:
//! its root (mounted for the time of the operation when the container is not running) with its
//! volumes and binds mounted over it in a private mount namespace that a thread holds
//! meanwhile, so nothing of it is ever mounted in dockerd's namespace or left there (not the
//! container's own namespace: a copy of `/` holds no `/proc` or `/sys`). Every path is resolved
//! inside the root (`rootfs_access`), the files dockerd binds over the root while it runs
//! (`/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`) are seen as the container sees them,
//! and tars are written from descriptors only.

use super::{Daemon, Entry};
use crate::rootfs_access::{go_file_mode, Located, RootFs};
use nix::fcntl::OFlag;
use crate::fs64::{fstat, fstatat, FileStat};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::ffi::{CString, OsStr};

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::Arc;

/// The files bind-mounted over `/etc` in a running container, by name, and where they are.
type FileMounts = Vec<(&'static str, PathBuf)>;

/// An opened container filesystem; unmounts what it mounted when dropped (unless the
/// container was started meanwhile).
pub struct ContainerFs {
    pub root: RootFs,
    file_mounts: FileMounts,
    /// `(dev, ino)` of the container's `/etc`, where the file mounts are.
    etc: Option<(u64, u64)>,
    mounted_here: Option<(Arc<Daemon>, Arc<Entry>, String)>,
    /// The private mount namespace of the container's volumes, while it is needed.
    volume_view: Option<VolumeView>,
    pub read_only: bool,
    pub user: String,
    /// The container's volumes and binds: (destination, writable).
    mounts: Vec<(String, bool)>,
}

impl Drop for ContainerFs {
    fn drop(&mut self) {
        // The namespace goes first: what is mounted in it goes with it.
        drop(self.volume_view.take());
        if let Some(mounted) = self.mounted_here.take() {
            unmount_unless_started(mounted);
        }
    }
}

/// A thread in a mount namespace of its own where a container's volumes and binds are
/// mounted over its root. The namespace (and every mount in it) ends when the thread does,
/// when this is dropped; the volumes it acquired (their devices mounted) are released then.
struct VolumeView {
    done: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    acquired: Vec<String>,
    d: Arc<Daemon>,
    user: String,
}

impl Drop for VolumeView {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for name in &self.acquired {
            let _ = self.d.volumes.dereference(name, &self.user);
        }
    }
}

impl VolumeView {
    /// Mounts `points` (source, destination inside the root, writable, recursive) over the
    /// root at `merged` in a new mount namespace, and opens that root there.
    fn open(d: &Arc<Daemon>, merged: PathBuf, points: Vec<(PathBuf, String, bool, bool)>, acquired: Vec<String>, user: String) -> io::Result<(VolumeView, RootFs)> {
        let (root_tx, root_rx) = std::sync::mpsc::channel::<io::Result<RootFs>>();
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let mut view = VolumeView { done: Some(done), thread: None, acquired, d: d.clone(), user };
        let thread = std::thread::Builder::new().name("cp-volumes".into()).stack_size(128 << 10).spawn(move || {
            let _ = root_tx.send(mount_over_root(&merged, &points));
            // Holds the namespace until the operation is over (the sender is dropped).
            let _ = wait.recv();
        })?;
        view.thread = Some(thread);
        let root = root_rx.recv().map_err(|_| io::Error::other("the volume mount thread ended"))??;
        Ok((view, root))
    }
}

/// On a thread of its own: leaves dockerd's mount namespace for a private copy of it, and
/// mounts each point over the root there (each destination resolved inside the root and
/// mounted on through its descriptor, so a symlink cannot send it elsewhere; a destination the
/// root lacks is skipped: the container never ran with it).
fn mount_over_root(merged: &std::path::Path, points: &[(PathBuf, String, bool, bool)]) -> io::Result<RootFs> {
    use nix::mount::{mount, MsFlags};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
    // Nothing mounted here may propagate back to dockerd's namespace.
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)?;
    let root = RootFs::open(merged)?;
    for (source, destination, writable, recursive) in points {
        let Ok(target) = root.locate(destination, true).and_then(|loc| loc.open(OFlag::O_PATH)) else { continue };
        let target_path = format!("/proc/self/fd/{}", target.as_raw_fd());
        let bind = if *recursive { MsFlags::MS_BIND | MsFlags::MS_REC } else { MsFlags::MS_BIND };
        mount(Some(source.as_path()), target_path.as_str(), None::<&str>, bind, None::<&str>)?;
        if !writable {
            let on_top = root.locate(destination, true).and_then(|loc| loc.open(OFlag::O_PATH))?;
            let on_top_path = format!("/proc/self/fd/{}", on_top.as_raw_fd());
            mount(None::<&str>, on_top_path.as_str(), None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY, None::<&str>)?;
        }
    }
    Ok(root)
}

/// Unmounts what [`ContainerFs::open`] mounted for a stopped container. Under the container's
/// lock, which a start holds throughout: a start cannot come between the look and the unmount.
fn unmount_unless_started((d, entry, mount_id): (Arc<Daemon>, Arc<Entry>, String)) {
    release_host_mount(&d, &entry, &mount_id);
}

/// Mounts a container's root for the daemon's own use (cp, export) and counts the user
/// when the container is stopped; each such mount is let go with [`release_host_mount`].
/// Returns the root and whether the user was counted. The caller holds the slot.
pub(crate) fn acquire_host_mount(d: &Daemon, slot: &mut super::Slot) -> io::Result<(PathBuf, bool)> {
    let merged = d.snapshots.mount(&slot.c.mount_id)?;
    let counted = !slot.c.state.running;
    if counted {
        slot.host_users += 1;
    }
    Ok((merged, counted))
}

/// Lets go of a counted [`acquire_host_mount`]: the last user of a stopped container's root
/// unmounts it (one that started meanwhile keeps its mount).
pub(crate) fn release_host_mount(d: &Daemon, entry: &Arc<Entry>, mount_id: &str) {
    let mut slot = entry.lock();
    slot.host_users = slot.host_users.saturating_sub(1);
    if !slot.c.state.running && slot.host_users == 0 {
        let _ = d.snapshots.unmount(mount_id);
    }
}

/// What `stat` reports about a path: the `X-Docker-Container-Path-Stat` header's JSON.
pub fn path_stat(name: &OsStr, st: &FileStat, link_target: &str) -> Value {
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::new(st.st_mtime.max(0) as u64, st.st_mtime_nsec.clamp(0, 999_999_999) as u32);
    json!({
        "name": name.to_string_lossy(),
        "size": st.st_size,
        "mode": go_file_mode(st.st_mode),
        "mtime": go_time_json(mtime),
        "linkTarget": link_target,
    })
}

/// Go's JSON form of a time in the local zone (as `os.Lstat` gives it): RFC 3339 with
/// nanoseconds, trailing zeros dropped, `Z` for UTC, else the offset.
fn go_time_json(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let offset = crate::time64::localtime(secs).map(|tm| crate::time64::gmtoff(&tm)).unwrap_or(0);
    let shifted = if offset >= 0 { t + std::time::Duration::from_secs(offset as u64) } else { t - std::time::Duration::from_secs(offset.unsigned_abs()) };
    let full = crate::sys::rfc3339_nanos(shifted);
    let (secs_part, frac) = full.trim_end_matches('Z').split_once('.').unwrap_or((full.as_str(), ""));
    let digits = frac.trim_end_matches('0');
    let zone = if offset == 0 { "Z".to_string() } else { format!("{}{:02}:{:02}", if offset < 0 { '-' } else { '+' }, offset.abs() / 3600, offset.abs() % 3600 / 60) };
    if digits.is_empty() {
        format!("{secs_part}{zone}")
    } else {
        format!("{secs_part}.{digits}{zone}")
    }
}

impl ContainerFs {
    /// Opens the container's root (mounting it if the container does not run) with its
    /// volumes and binds over it.
    pub fn open(d: &Arc<Daemon>, entry: &Arc<Entry>) -> io::Result<ContainerFs> {
        let mut slot = entry.lock();
        let (merged, counted) = acquire_host_mount(d, &mut slot)?;
        let c = &slot.c;
        let read_only = c.host_config.get("ReadonlyRootfs").and_then(Value::as_bool).unwrap_or(false);
        let user = c.config.get("User").and_then(Value::as_str).unwrap_or_default().to_string();
        let mounts = c.mount_points.iter().filter(|m| m.kind != "tmpfs").map(|m| (m.destination.clone(), m.rw)).collect();
        let file_mounts: FileMounts = if c.state.running {
            vec![("hosts", PathBuf::from(&c.hosts_path)), ("hostname", PathBuf::from(&c.hostname_path)), ("resolv.conf", PathBuf::from(&c.resolv_conf_path))]
        } else {
            Vec::new()
        };
        let mounted_here = counted.then(|| (d.clone(), entry.clone(), c.mount_id.clone()));
        let id = c.id.clone();
        let points = c.mount_points.clone();
        drop(slot);
        match Self::root_with_volumes(d, &id, merged, &points) {
            Ok((root, view)) => Ok(ContainerFs::new(root, file_mounts, mounted_here, view, read_only, user, mounts)),
            Err(e) => {
                if let Some(mounted) = mounted_here {
                    unmount_unless_started(mounted);
                }
                Err(e)
            }
        }
    }

    fn new(root: RootFs, file_mounts: FileMounts, mounted_here: Option<(Arc<Daemon>, Arc<Entry>, String)>, volume_view: Option<VolumeView>, read_only: bool, user: String, mounts: Vec<(String, bool)>) -> ContainerFs {
        let mut fs = ContainerFs { root, file_mounts, etc: None, mounted_here, volume_view, read_only, user, mounts };
        fs.etc = fs.root.open_dir("/etc").ok().and_then(|fd| fstat(fd.as_raw_fd()).ok()).map(|st| (st.st_dev, st.st_ino));
        fs
    }

    /// The container's root at `merged`, with its volumes (their devices mounted for the time
    /// being) and binds over it when it has any.
    fn root_with_volumes(d: &Arc<Daemon>, id: &str, merged: PathBuf, points: &[super::mounts::MountPoint]) -> io::Result<(RootFs, Option<VolumeView>)> {
        let points: Vec<&super::mounts::MountPoint> = points.iter().filter(|m| m.kind == "volume" || m.kind == "bind").collect();
        if points.is_empty() {
            return Ok((RootFs::open(&merged)?, None));
        }
        let user = format!("{id}/cp");
        let mut acquired: Vec<String> = Vec::new();
        let mut over: Vec<(PathBuf, String, bool, bool)> = Vec::new();
        for m in points {
            if m.kind == "volume" {
                let acquiring = d.volumes.acquire(&m.name, &user);
                if let Err(e) = acquiring {
                    for name in &acquired {
                        let _ = d.volumes.dereference(name, &user);
                    }
                    return Err(io::Error::other(e.to_string()));
                }
                acquired.push(m.name.clone());
            }
            over.push((PathBuf::from(&m.source), m.destination.clone(), m.rw, !m.non_recursive));
        }
        // Shallower destinations first, so a volume inside another lands on top of it.
        over.sort_by_key(|(_, dest, _, _)| crate::rootfs_access::clean_components(dest).len());
        let (view, root) = VolumeView::open(d, merged, over, acquired, user)?;
        Ok((root, Some(view)))
    }

    /// Whether `path` (absolute, resolved inside the root) is in one of the container's
    /// volumes or binds: `Some(writable)` of the innermost one.
    pub fn in_volume(&self, path: &str) -> Option<bool> {
        let comps = crate::rootfs_access::clean_components(path);
        self.mounts
            .iter()
            .map(|(dest, rw)| (crate::rootfs_access::clean_components(dest), *rw))
            .filter(|(dest, _)| comps.len() >= dest.len() && comps[..dest.len()] == dest[..])
            .max_by_key(|(dest, _)| dest.len())
            .map(|(_, rw)| rw)
    }

    /// The host file standing for `loc` when it is one of the files bound over the root.
    pub fn file_mount(&self, loc: &Located) -> Option<PathBuf> {
        let name = loc.name.as_ref()?.to_str().ok()?;
        let (_, host) = self.file_mounts.iter().find(|(n, _)| *n == name)?;
        let st = fstat(loc.dir.as_raw_fd()).ok()?;
        (Some((st.st_dev, st.st_ino)) == self.etc && host.is_file()).then(|| host.clone())
    }

    /// The files bound over the root, as extraction must leave them.
    pub fn mount_points(&self) -> Vec<((u64, u64), Vec<u8>, String)> {
        match self.etc {
            Some(etc) => self.file_mounts.iter().filter(|(_, host)| host.is_file()).map(|(n, _)| (etc, n.as_bytes().to_vec(), format!("/etc/{n}"))).collect(),
            None => Vec::new(),
        }
    }

    /// lstat of `loc`, through a file mount where there is one.
    pub fn lstat(&self, loc: &Located) -> io::Result<FileStat> {
        match self.file_mount(loc) {
            Some(host) => Ok(crate::fs64::stat(&host)?),
            None => loc.lstat(),
        }
    }

    /// The `uid:gid` the container's user has (`Config.User` looked up in its own
    /// /etc/passwd and /etc/group), for `copyUIDGID`.
    pub fn user_ids(&self) -> Result<Option<(u32, u32)>, String> {
        if self.user.is_empty() {
            return Ok(None);
        }
        let (user, group) = match self.user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (self.user.as_str(), None),
        };
        let read = |path: &str| -> String {
            let mut s = String::new();
            if let Ok(loc) = self.root.locate(path, true) {
                if let Ok(fd) = loc.open(OFlag::O_RDONLY | OFlag::O_NONBLOCK) {
                    let _ = std::fs::File::from(fd).take(1 << 20).read_to_string(&mut s);
                }
            }
            s
        };
        let passwd = read("/etc/passwd");
        let entry = |text: &str, key: &str, by_id_field: usize| -> Option<Vec<String>> {
            text.lines().map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>()).find(|f| f.len() > by_id_field && (f[0] == key || f[by_id_field] == key))
        };
        let (uid, mut gid) = if user.is_empty() {
            (0, 0)
        } else if let Ok(n) = user.parse::<u32>() {
            let gid = entry(&passwd, user, 2).and_then(|f| f.get(3)?.parse().ok()).unwrap_or(0);
            (n, gid)
        } else {
            let f = entry(&passwd, user, 0).ok_or_else(|| format!("unable to find user {user}: no matching entries in passwd file"))?;
            (f[2].parse().map_err(|_| format!("invalid uid in passwd for {user}"))?, f.get(3).and_then(|g| g.parse().ok()).unwrap_or(0))
        };
        if let Some(g) = group.filter(|g| !g.is_empty()) {
            gid = match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => {
                    let groups = read("/etc/group");
                    let f = entry(&groups, g, 0).ok_or_else(|| format!("unable to find group {g}: no matching entries in group file"))?;
                    f[2].parse().map_err(|_| format!("invalid gid in group for {g}"))?
                }
            };
        }
        Ok(Some((uid, gid)))
    }

    /// Writes a tar of `loc` named `name` (with everything below it, for a directory) to `out`,
    /// reading through descriptors only; symlinks are stored, never followed.
    pub fn write_tar(&self, loc: &Located, name: &str, out: &mut dyn Write) -> io::Result<()> {
        let mut b = tar::Builder::new(out);
        let mut links: HashMap<(u64, u64), String> = HashMap::new();
        if let Some(host) = self.file_mount(loc) {
            let f = std::fs::File::open(&host)?;
            let st = fstat(f.as_raw_fd())?;
            append_file(&mut b, &st, name, f)?;
            return b.into_inner().map(drop);
        }
        let st = loc.lstat()?;
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            append_entry(&mut b, &mut links, loc.dir.as_raw_fd(), loc.name.as_deref().unwrap_or(c"."), &st, name)?;
            return b.into_inner().map(drop);
        }
        let top = loc.open(OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
        let st = fstat(top.as_raw_fd())?;
        let top_name = if name == "/" { String::new() } else { name.trim_end_matches('/').to_string() };
        if !top_name.is_empty() {
            append_raw(&mut b, dir_header(&st), &format!("{top_name}/"), None, io::empty())?;
        }
        // Depth first, iteratively: (directory, its name in the archive).
        let mut stack: Vec<(OwnedFd, String)> = vec![(top, top_name)];
        while let Some((dir, prefix)) = stack.pop() {
            let mut names = list(dir.as_raw_fd())?;
            names.sort();
            let mut subdirs = Vec::new();
            for n in names {
                let cname = CString::new(n.clone()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
                let Ok(st) = fstatat(Some(dir.as_raw_fd()), cname.as_c_str(), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) else { continue };
                let shown = if prefix.is_empty() { String::from_utf8_lossy(&n).into_owned() } else { format!("{prefix}/{}", String::from_utf8_lossy(&n)) };
                if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                    let Ok(sub) = crate::fs64::openat(Some(dir.as_raw_fd()), cname.as_c_str(), OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()) else { continue };
                    // SAFETY: openat just returned this descriptor; nobody else owns it.
                    let sub = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(sub) };
                    let st = fstat(sub.as_raw_fd())?;
                    append_raw(&mut b, dir_header(&st), &format!("{shown}/"), None, io::empty())?;
                    subdirs.push((sub, shown));
                } else {
                    append_entry(&mut b, &mut links, dir.as_raw_fd(), &cname, &st, &shown)?;
                }
            }
            stack.extend(subdirs.into_iter().rev());
        }
        b.into_inner().map(drop)
    }
}

fn list(dir: RawFd) -> io::Result<Vec<Vec<u8>>> {
    let d = nix::dir::Dir::openat(Some(dir), ".", OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())?;
    let mut names = Vec::new();
    for e in d.into_iter() {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    Ok(names)
}

fn base_header(st: &FileStat, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

fn dir_header(st: &FileStat) -> tar::Header {
    base_header(st, tar::EntryType::Directory)
}

/// A regular file's content, exactly `size` bytes: cut if it grew, zeros if it shrank since
/// its header was written.
struct Exactly<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exactly<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left as usize);
        let mut n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            buf[..want].fill(0);
            n = want;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn append_file<W: Write>(b: &mut tar::Builder<W>, st: &FileStat, name: &str, f: std::fs::File) -> io::Result<()> {
    let mut h = base_header(st, tar::EntryType::Regular);
    h.set_size(st.st_size as u64);
    append_raw(b, h, name, None, Exactly { inner: f, left: st.st_size as u64 })
}

/// Appends an entry named exactly `name` (the tar crate's own setters drop `./`, which Docker's
/// archives of `dir/.` keep), with GNU long-name records for names and link targets that do
/// not fit the header.
fn append_raw<W: Write>(b: &mut tar::Builder<W>, mut h: tar::Header, name: &str, link: Option<&[u8]>, data: impl Read) -> io::Result<()> {
    fn long_record<W: Write>(b: &mut tar::Builder<W>, kind: tar::EntryType, value: &[u8]) -> io::Result<()> {
        let mut l = tar::Header::new_gnu();
        l.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        l.set_entry_type(kind);
        l.set_mode(0o644);
        let mut v = value.to_vec();
        v.push(0);
        l.set_size(v.len() as u64);
        l.set_cksum();
        b.append(&l, &v[..])
    }
    let name = name.as_bytes();
    let old = h.as_old_mut();
    if name.len() > old.name.len() {
        long_record(b, tar::EntryType::GNULongName, name)?;
    }
    let old = h.as_old_mut();
    let n = name.len().min(old.name.len());
    old.name = [0; 100];
    old.name[..n].copy_from_slice(&name[..n]);
    if let Some(target) = link {
        if target.len() > old.linkname.len() {
            long_record(b, tar::EntryType::GNULongLink, target)?;
        }
        let old = h.as_old_mut();
        let n = target.len().min(old.linkname.len());
        old.linkname = [0; 100];
        old.linkname[..n].copy_from_slice(&target[..n]);
    }
    h.set_cksum();
    b.append(&h, data)
}

fn append_entry<W: Write>(b: &mut tar::Builder<W>, links: &mut HashMap<(u64, u64), String>, dir: RawFd, cname: &std::ffi::CStr, st: &FileStat, name: &str) -> io::Result<()> {
    let open = |flags: OFlag| -> io::Result<OwnedFd> {
        let fd = crate::fs64::openat(Some(dir), cname, flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())?;
        // SAFETY: openat just returned this descriptor; nobody else owns it.
        Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
    };
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => {
            // Non-blocking, and checked once open: a FIFO swapped in must not hang us.
            let fd = open(OFlag::O_RDONLY | OFlag::O_NONBLOCK)?;
            let st = fstat(fd.as_raw_fd())?;
            if st.st_mode & libc::S_IFMT != libc::S_IFREG {
                return Err(io::Error::other(format!("{name}: changed while being copied")));
            }
            if st.st_nlink > 1 {
                if let Some(first) = links.get(&(st.st_dev, st.st_ino)) {
                    let first = first.clone();
                    return append_raw(b, base_header(&st, tar::EntryType::Link), name, Some(first.as_bytes()), io::empty());
                }
                links.insert((st.st_dev, st.st_ino), name.to_string());
            }
            append_file(b, &st, name, std::fs::File::from(fd))
        }
        libc::S_IFLNK => {
            let fd = open(OFlag::O_PATH)?;
            let mut buf = vec![0u8; libc::PATH_MAX as usize];
            // SAFETY: readlinkat writes at most buf.len() bytes into buf; the empty path names
            // the O_PATH descriptor's link itself.
            let n = unsafe { libc::readlinkat(fd.as_raw_fd(), c"".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            buf.truncate(n as usize);
            append_raw(b, base_header(st, tar::EntryType::Symlink), name, Some(&buf), io::empty())
        }
        libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => {
            let kind = match st.st_mode & libc::S_IFMT {
                libc::S_IFCHR => tar::EntryType::Char,
                libc::S_IFBLK => tar::EntryType::Block,
                _ => tar::EntryType::Fifo,
            };
            let mut h = base_header(st, kind);
            if kind != tar::EntryType::Fifo {
                h.set_device_major(libc::major(st.st_rdev) as u32)?;
                h.set_device_minor(libc::minor(st.st_rdev) as u32)?;
            }
            append_raw(b, h, name, None, io::empty())
        }
        // Sockets have no tar form; Go's archive/tar skips them too.
        _ => Ok(()),
    }
}
