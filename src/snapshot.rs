//! Container filesystems: overlay2 layer directories and mounts, or vfs full copies; and a
//! container's changes against its image.
//!
//! With `vfs` (kernels without overlayfs) a container's root is a directory
//! `vfs/dir/<mount-id>` made by copying the image's layers (whiteouts applied) and the init
//! entries into it; nothing is mounted. Image layers stay in the overlay2 store either way.
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

/// A directory of a container's changes (see [`Snapshotter::upper_dir`]); a temporary one is
/// deleted when this is dropped.
pub struct ChangesDir {
    path: PathBuf,
    temporary: bool,
}

impl std::ops::Deref for ChangesDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl Drop for ChangesDir {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Container layers under `<data-root>/overlay2` (or `vfs/dir`); safe to share between threads.
pub struct Snapshotter {
    data_root: PathBuf,
    lock: Mutex<()>,
    driver: Driver,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Overlay2,
    Vfs,
}

/// Docker's change kinds, with the numbers `GET /containers/{id}/changes` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

impl ChangeKind {
    /// The letter `docker diff` prints.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One changed path of a container (absolute, as in the container).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
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
        Self::open_driver(data_root, "overlay2")
    }

    /// Opens with `--storage-driver` `overlay2` or `vfs`.
    pub fn open_driver(data_root: &Path, driver: &str) -> io::Result<Snapshotter> {
        let driver = match driver {
            "overlay2" => Driver::Overlay2,
            "vfs" => Driver::Vfs,
            other => return Err(invalid(format!("driver not supported: {other}"))),
        };
        std::fs::create_dir_all(data_root.join("overlay2/l"))?;
        if driver == Driver::Vfs {
            std::fs::create_dir_all(data_root.join("vfs/dir"))?;
        }
        Ok(Snapshotter { data_root: data_root.to_path_buf(), lock: Mutex::new(()), driver })
    }

    pub fn driver(&self) -> Driver {
        self.driver
    }

    fn vfs_dir(&self, mount_id: &str) -> PathBuf {
        self.data_root.join("vfs/dir").join(mount_id)
    }

    /// The diffs below a container's writable layer, top first: its init layer, then the
    /// image's layers.
    fn lower_diffs(&self, mount_id: &str) -> io::Result<Vec<PathBuf>> {
        let lower = std::fs::read_to_string(self.layers().join(mount_id).join("lower"))?;
        Ok(lower.trim().split(':').filter(|l| !l.is_empty()).map(|l| self.layers().join(l)).collect())
    }

    /// What changed in the container's filesystem against its image (and init layer), sorted
    /// by path, as `docker diff` shows it.
    pub fn diff(&self, mount_id: &str) -> io::Result<Vec<Change>> {
        Self::check_id(mount_id)?;
        let lowers = self.lower_diffs(mount_id)?;
        let mut changes = Vec::new();
        match self.driver {
            Driver::Overlay2 => overlay_changes(&self.layers().join(mount_id).join("diff"), "", &lowers, &mut changes)?,
            Driver::Vfs => {
                let mut base = std::collections::BTreeMap::new();
                for l in lowers.iter().rev() {
                    merge_layer(l, "", &mut base)?;
                }
                let mut now = std::collections::BTreeMap::new();
                merge_layer(&self.vfs_dir(mount_id), "", &mut now)?;
                for (path, meta) in &now {
                    match base.get(path) {
                        None => changes.push(Change { path: path.clone(), kind: ChangeKind::Added }),
                        Some(old) if old != meta => changes.push(Change { path: path.clone(), kind: ChangeKind::Modified }),
                        _ => {}
                    }
                }
                for path in base.keys().filter(|p| !now.contains_key(*p)) {
                    // Only the top of a deleted tree is reported, as Docker does.
                    let parent_gone = path.rsplit_once('/').map(|(p, _)| !p.is_empty() && !now.contains_key(p)).unwrap_or(false);
                    if !parent_gone {
                        changes.push(Change { path: path.clone(), kind: ChangeKind::Deleted });
                    }
                }
            }
        }
        // A change inside a directory shows the directory as changed, as in Docker.
        let listed: std::collections::HashSet<String> = changes.iter().map(|c| c.path.clone()).collect();
        let mut parents = std::collections::BTreeSet::new();
        for c in &changes {
            let mut p = c.path.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                if parent.is_empty() {
                    break;
                }
                if !listed.contains(parent) {
                    parents.insert(parent.to_string());
                }
                p = parent;
            }
        }
        changes.extend(parents.into_iter().map(|path| Change { path, kind: ChangeKind::Modified }));
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(changes)
    }

    /// A container's changes as an overlay upper directory (whiteouts for what was deleted),
    /// which is what a committed layer is made from: with overlay2 the writable layer itself,
    /// with vfs a copy of the changed entries made for the occasion under `<data-root>/tmp`.
    /// The container should be paused or stopped while it is read.
    pub fn upper_dir(&self, mount_id: &str) -> io::Result<ChangesDir> {
        Self::check_id(mount_id)?;
        if self.driver == Driver::Overlay2 {
            return Ok(ChangesDir { path: self.layers().join(mount_id).join("diff"), temporary: false });
        }
        let dir = ChangesDir { path: self.data_root.join("tmp").join(format!("changes-{}", &crate::ids::new_id()[..16])), temporary: true };
        std::fs::create_dir_all(&dir.path)?;
        let root = self.vfs_dir(mount_id);
        // diff() lists a directory before what is in it.
        for change in self.diff(mount_id)? {
            let rel = change.path.trim_start_matches('/');
            let dst = dir.path.join(rel);
            if change.kind == ChangeKind::Deleted {
                // mode_t is not u32 on every target.
                #[allow(clippy::unnecessary_cast)]
                mknod(&dst, libc::S_IFCHR as u32, 0)?;
            } else {
                let src = root.join(rel);
                copy_entry(&src, &dst, &std::fs::symlink_metadata(&src)?)?;
            }
        }
        Ok(dir)
    }

    /// The size of a container's writable layer, as Docker reports it (`SizeRw`, the space a
    /// prune reclaims): with overlay2 the bytes of the upper directory's non-directory entries;
    /// with vfs the bytes of the entries added or changed against the image (its naive diff).
    /// Hard links count once. 0 when the layer is gone.
    pub fn rw_size(&self, mount_id: &str) -> u64 {
        if Self::check_id(mount_id).is_err() {
            return 0;
        }
        match self.driver {
            Driver::Overlay2 => tree_size(&self.layers().join(mount_id).join("diff")),
            Driver::Vfs => {
                let root = self.vfs_dir(mount_id);
                let changes = self.diff(mount_id).unwrap_or_default();
                let mut seen = std::collections::HashSet::new();
                changes
                    .iter()
                    .filter(|c| c.kind != ChangeKind::Deleted)
                    .filter_map(|c| std::fs::symlink_metadata(root.join(c.path.trim_start_matches('/'))).ok())
                    .filter(|m| !m.is_dir())
                    .map(|m| if count_once(&mut seen, &m) { m.len() } else { 0 })
                    .sum()
            }
        }
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

    /// Makes a layer directory `overlay2/<name>` with its short link `link`.
    fn make_layer(&self, name: &str, lower: &str, link: &str) -> io::Result<()> {
        let dir = self.layers().join(name);
        crate::durable::step_at("mkdir", &dir);
        std::fs::create_dir(&dir)?;
        std::fs::create_dir(dir.join("diff"))?;
        std::fs::create_dir(dir.join("work"))?;
        std::fs::write(dir.join("link"), link)?;
        if !lower.is_empty() {
            std::fs::write(dir.join("lower"), lower)?;
        }
        std::os::unix::fs::symlink(format!("../{name}/diff"), self.layers().join("l").join(link))
    }

    /// Creates the init and writable layers `<mount_id>-init` and `<mount_id>` of a new
    /// container on `image` (whose layers the caller keeps from being deleted: see
    /// `ImageStore::record_container_layers`).
    pub fn create_rw(&self, mount_id: &str, image: &Image) -> io::Result<()> {
        Self::check_id(mount_id)?;
        let (image_lower, image_diffs) = self.image_lower(image)?;
        let init_name = format!("{mount_id}-init");
        let result = (|| {
            let init_link = random_link();
            let rw_lower = if image_lower.is_empty() { format!("l/{init_link}") } else { format!("l/{init_link}:{image_lower}") };
            // The two layers side by side: each is a dozen new inodes, and making one costs
            // from 20 us to over 250 us on a busy disk.
            let (init, rw) = std::thread::scope(|scope| {
                let init = scope.spawn(|| {
                    self.make_layer(&init_name, &image_lower, &init_link)?;
                    self.fill_init_layer(&self.layers().join(&init_name).join("diff"), &image_diffs)
                });
                let rw = self.make_layer(mount_id, &rw_lower, &random_link());
                (init.join().unwrap_or_else(|_| Err(io::Error::other("making the init layer panicked"))), rw)
            });
            init.and(rw)?;
            if self.driver == Driver::Vfs {
                // The layer directory keeps `lower` (for diff); the root is a full copy.
                let root = self.vfs_dir(mount_id);
                std::fs::create_dir(&root)?;
                for l in self.lower_diffs(mount_id)?.iter().rev() {
                    apply_layer_copy(l, &root)?;
                }
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = self.remove(mount_id);
        }
        result
    }

    /// Writes again, durably, the `link` and `lower` files of a container's init and writable
    /// layers that a power cut emptied: `make_layer` does not fsync them (four fsyncs on every
    /// create), and a layer whose `lower` reads empty would mount without the image. Returns
    /// whether anything was rewritten. `image` (the container's) is looked up only then.
    pub fn repair_rw(&self, mount_id: &str, image: &dyn Fn() -> Option<Image>) -> io::Result<bool> {
        Self::check_id(mount_id)?;
        let init_name = format!("{mount_id}-init");
        let (init_dir, rw_dir) = (self.layers().join(&init_name), self.layers().join(mount_id));
        if !init_dir.is_dir() || !rw_dir.is_dir() {
            return Ok(false);
        }
        let torn = |p: &Path| std::fs::read_to_string(p).map(|s| s.trim().is_empty()).unwrap_or(true);
        // An image without layers leaves its init layer without `lower`.
        let init_lower_torn = init_dir.join("lower").exists() && torn(&init_dir.join("lower"));
        if !torn(&init_dir.join("link")) && !torn(&rw_dir.join("link")) && !torn(&rw_dir.join("lower")) && !init_lower_torn {
            return Ok(false);
        }
        let image = image().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "its image is gone"))?;
        let mut repaired = false;
        let init_link = self.repair_link(&init_name, &mut repaired)?;
        self.repair_link(mount_id, &mut repaired)?;
        let (image_lower, _) = self.image_lower(&image)?;
        if !image_lower.is_empty() && torn(&init_dir.join("lower")) {
            crate::durable::write_file(&init_dir.join("lower"), image_lower.as_bytes())?;
            repaired = true;
        }
        if torn(&rw_dir.join("lower")) {
            let rw_lower = if image_lower.is_empty() { format!("l/{init_link}") } else { format!("l/{init_link}:{image_lower}") };
            crate::durable::write_file(&rw_dir.join("lower"), rw_lower.as_bytes())?;
            repaired = true;
        }
        if repaired {
            crate::durable::fsync_dir(&init_dir)?;
            crate::durable::fsync_dir(&rw_dir)?;
        }
        Ok(repaired)
    }

    /// The short link of layer `name`, its `link` file written again if torn: the symlink,
    /// a directory entry, survived the cut, or is made anew.
    fn repair_link(&self, name: &str, repaired: &mut bool) -> io::Result<String> {
        let file = self.layers().join(name).join("link");
        if let Some(link) = std::fs::read_to_string(&file).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
            return Ok(link);
        }
        let target = PathBuf::from(format!("../{name}/diff"));
        let short = self.layers().join("l");
        let found = std::fs::read_dir(&short)?.flatten().find(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == target));
        let link = match found {
            Some(e) => e.file_name().to_string_lossy().into_owned(),
            None => {
                let link = random_link();
                std::os::unix::fs::symlink(&target, short.join(&link))?;
                crate::durable::fsync_dir(&short)?;
                link
            }
        };
        crate::durable::write_file(&file, link.as_bytes())?;
        *repaired = true;
        Ok(link)
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
        self.mount_layer(mount_id, false)
    }

    /// Mounts the overlay of a container that is removed when it stops, whose writable layer no
    /// crash needs: with overlay's `volatile` option (Linux 5.10; plainly before), so that the
    /// unmount does not sync the whole filesystem under the upper layer (a syncfs of the
    /// data-root), and the container's own fsyncs of that layer return at once.
    pub fn mount_disposable(&self, mount_id: &str) -> io::Result<PathBuf> {
        self.mount_layer(mount_id, true)
    }

    fn mount_layer(&self, mount_id: &str, volatile: bool) -> io::Result<PathBuf> {
        Self::check_id(mount_id)?;
        if self.driver == Driver::Vfs {
            let root = self.vfs_dir(mount_id);
            return if root.is_dir() { Ok(root) } else { Err(io::Error::new(io::ErrorKind::NotFound, format!("no layer {mount_id}"))) };
        }
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let dir = self.layers().join(mount_id);
        let merged = dir.join("merged");
        let lower = std::fs::read_to_string(dir.join("lower")).map_err(|e| io::Error::new(e.kind(), format!("no layer {mount_id}: {e}")))?;
        std::fs::create_dir_all(&merged)?;
        if crate::mounts::is_mountpoint(&merged) {
            return Ok(merged);
        }
        // A volatile mount leaves this mark in its workdir, and overlay refuses to mount the layers again while
        // it is there, lest a crash lost writes. Only a disposable container's layer has it, and
        // one that a crash interrupted is removed at start, never mounted again: a mark found
        // here is from this boot (a disposable layer exported, say), its writes all in place.
        let _ = std::fs::remove_dir_all(dir.join("work").join(OVERLAY_VOLATILE_MARK));
        let layers = self.layers();
        let absolute_lower: Vec<String> = lower.trim().split(':').map(|l| layers.join(l).display().to_string()).collect();
        let options = format!("lowerdir={},upperdir={},workdir={}", absolute_lower.join(":"), dir.join("diff").display(), dir.join("work").display());
        let relative = format!("lowerdir={},upperdir={mount_id}/diff,workdir={mount_id}/work", lower.trim());
        let mount = |volatile: bool| {
            let extra = if volatile { ",volatile" } else { "" };
            if options.len() + extra.len() < page_size() - 1 {
                mount_overlay(&format!("{options}{extra}"), &merged)
            } else {
                mount_overlay_from(&layers, &format!("{relative}{extra}"), &merged)
            }
        };
        match mount(volatile) {
            Err(e) if volatile && e.kind() == io::ErrorKind::InvalidInput => mount(false)?,
            r => r?,
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

    /// Unmounts and deletes the container's writable and init layers (and vfs root); what is
    /// already gone is fine.
    pub fn remove(&self, mount_id: &str) -> io::Result<()> {
        self.unmount(mount_id)?;
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        // The layers are independent, and deleting a directory entry is slow on some disks
        // (~70 us each here, twenty-odd in an init layer): side by side.
        let (init, rest) = std::thread::scope(|scope| {
            let init = scope.spawn(|| self.remove_layer(&format!("{mount_id}-init")));
            let rest = (|| {
                if self.driver == Driver::Vfs {
                    match std::fs::remove_dir_all(self.vfs_dir(mount_id)) {
                        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                        _ => {}
                    }
                }
                self.remove_layer(mount_id)
            })();
            (init.join().unwrap_or_else(|_| Err(io::Error::other("removing the init layer panicked"))), rest)
        });
        init.and(rest)
    }

    /// Deletes vfs roots of containers not in `live` (mount ids): a crash between making or
    /// removing a container's layers and its record leaves them.
    pub fn remove_orphan_roots(&self, live: &std::collections::HashSet<String>) -> io::Result<()> {
        if self.driver != Driver::Vfs {
            return Ok(());
        }
        for e in std::fs::read_dir(self.data_root.join("vfs/dir"))?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !live.contains(&name) {
                crate::mounts::unmount_all_under(&e.path())?;
                std::fs::remove_dir_all(e.path())?;
            }
        }
        Ok(())
    }

    fn remove_layer(&self, name: &str) -> io::Result<()> {
        let dir = self.layers().join(name);
        if let Ok(link) = std::fs::read_to_string(dir.join("link")) {
            let link = link.trim();
            if !link.is_empty() && !link.contains('/') {
                let _ = std::fs::remove_file(self.layers().join("l").join(link));
            }
        }
        match crate::durable::remove_dir_all(&dir) {
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

/// Whether `m` is seen for the first time among the entries of a size: a file with more
/// than one link counts once.
fn count_once(seen: &mut std::collections::HashSet<(u64, u64)>, m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    m.nlink() < 2 || seen.insert((m.dev(), m.ino()))
}

/// The bytes of the non-directory entries below `dir` (symlinks by their own size), each
/// inode once: Docker's `directory.Size`.
fn tree_size(dir: &Path) -> u64 {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(m) = e.path().symlink_metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if count_once(&mut seen, &m) {
                total += m.len();
            }
        }
    }
    total
}

/// An overlay whiteout: a 0/0 character device.
fn is_whiteout(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    m.file_type().is_char_device() && m.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    get_xattr(dir, "trusted.overlay.opaque").as_deref() == Some(b"y")
}

fn get_xattr(path: &Path, key: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let k = std::ffi::CString::new(key).ok()?;
    let mut buf = [0u8; 256];
    // SAFETY: NUL-terminated strings and a buffer of the stated length; lgetxattr only writes
    // within it and does not follow a final symlink.
    let n = unsafe { libc::lgetxattr(p.as_ptr(), k.as_ptr(), buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

/// Whether `rel` is visible through `lowers` (top first): found before any whiteout of it.
fn in_lowers(lowers: &[PathBuf], rel: &str) -> bool {
    for l in lowers {
        match std::fs::symlink_metadata(l.join(rel.trim_start_matches('/'))) {
            Ok(m) if is_whiteout(&m) => return false,
            Ok(_) => return true,
            Err(_) => {}
        }
    }
    false
}

/// overlay2's changes: everything in the upper directory is added, changed (it exists
/// below) or deleted (a whiteout).
fn overlay_changes(dir: &Path, rel: &str, lowers: &[PathBuf], out: &mut Vec<Change>) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = format!("{rel}/{}", e.file_name().to_string_lossy());
        let m = std::fs::symlink_metadata(e.path())?;
        if is_whiteout(&m) {
            out.push(Change { path, kind: ChangeKind::Deleted });
            continue;
        }
        let below = in_lowers(lowers, &path);
        out.push(Change { path: path.clone(), kind: if below { ChangeKind::Modified } else { ChangeKind::Added } });
        if m.is_dir() {
            // Below an opaque directory nothing of the lower layers shows.
            let lowers: &[PathBuf] = if is_opaque(&e.path()) { &[] } else { lowers };
            overlay_changes(&e.path(), &path, if below { lowers } else { &[] }, out)?;
        }
    }
    Ok(())
}

/// What the naive (vfs) diff compares: type, mode, owner, size, mtime, link target.
type EntryMeta = (u32, u32, u32, u64, i64, Option<PathBuf>);

/// Merges `dir` (a layer in overlay form, or a plain tree) into `view`, applying whiteouts.
fn merge_layer(dir: &Path, rel: &str, view: &mut std::collections::BTreeMap<String, EntryMeta>) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if is_opaque(dir) && !rel.is_empty() {
        let prefix = format!("{rel}/");
        view.retain(|k, _| !k.starts_with(&prefix));
    }
    for e in std::fs::read_dir(dir)?.flatten() {
        let path = format!("{rel}/{}", e.file_name().to_string_lossy());
        let m = std::fs::symlink_metadata(e.path())?;
        if is_whiteout(&m) {
            let prefix = format!("{path}/");
            view.retain(|k, _| *k != path && !k.starts_with(&prefix));
            continue;
        }
        let link = if m.file_type().is_symlink() { std::fs::read_link(e.path()).ok() } else { None };
        // A directory's size says nothing (Docker ignores it too); its mtime does.
        let (size, mtime) = if m.is_dir() { (0, m.mtime()) } else { (m.size(), m.mtime()) };
        if !m.is_dir() {
            let prefix = format!("{path}/");
            view.retain(|k, _| !k.starts_with(&prefix));
        }
        view.insert(path.clone(), (m.mode(), m.uid(), m.gid(), size, mtime, link));
        if m.is_dir() {
            merge_layer(&e.path(), &path, view)?;
        }
    }
    Ok(())
}

/// Copies a layer (overlay form) onto `root`, applying its whiteouts: vfs's full copy.
fn apply_layer_copy(layer: &Path, root: &Path) -> io::Result<()> {
    if is_opaque(layer) && layer != root {
        for e in std::fs::read_dir(root)?.flatten() {
            remove_any(&e.path())?;
        }
    }
    for e in std::fs::read_dir(layer)?.flatten() {
        let src = e.path();
        let dst = root.join(e.file_name());
        let m = std::fs::symlink_metadata(&src)?;
        if is_whiteout(&m) {
            remove_any(&dst)?;
            continue;
        }
        copy_entry(&src, &dst, &m)?;
        if m.is_dir() {
            apply_layer_copy(&src, &dst)?;
            // Filling the directory changed its times.
            set_times(&dst, &m);
        }
    }
    Ok(())
}

/// Puts a copy of the entry `src` (whose metadata is `m`) at `dst`, replacing what is there
/// unless both are directories; a directory's contents are not copied.
fn copy_entry(src: &Path, dst: &Path, m: &std::fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let existing = std::fs::symlink_metadata(dst).ok();
    if m.is_dir() {
        if !existing.as_ref().is_some_and(|x| x.is_dir()) {
            remove_any(dst)?;
            std::fs::create_dir(dst)?;
        }
    } else {
        remove_any(dst)?;
        let ft = m.file_type();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(src)?, dst)?;
        } else if ft.is_file() {
            std::fs::copy(src, dst)?;
        } else {
            // Devices, FIFOs and sockets: the same node again.
            mknod(dst, m.mode(), m.rdev())?;
        }
    }
    std::os::unix::fs::lchown(dst, Some(m.uid()), Some(m.gid()))?;
    if !m.file_type().is_symlink() {
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
    }
    set_times(dst, m);
    Ok(())
}

/// Gives `dst` the modification time of `m` (best effort: times are not worth failing a copy).
fn set_times(dst: &Path, m: &std::fs::Metadata) {
    use std::os::unix::fs::MetadataExt;
    let t = crate::fs64::timespec(m.mtime(), m.mtime_nsec());
    let _ = nix::sys::stat::utimensat(None, dst, &t, &t, nix::sys::stat::UtimensatFlags::NoFollowSymlink);
}

fn mknod(path: &Path, mode: u32, rdev: u64) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| invalid("path contains NUL".into()))?;
    // SAFETY: a NUL-terminated path; mknod only reads it. mode_t and dev_t come from libc for
    // the target, so the casts keep the kernel's values.
    if unsafe { libc::mknod(c.as_ptr(), mode as libc::mode_t, rdev as libc::dev_t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn remove_any(p: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
    }
}

/// Where overlayfs marks a workdir a `volatile` mount used (relative to that workdir).
const OVERLAY_VOLATILE_MARK: &str = "work/incompat/volatile";

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
