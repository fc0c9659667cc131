//! Safe extraction of image layers (tar, gzip, zstd) with whiteouts, kept inside the target.
//!
//! Every path is resolved one component at a time from a directory descriptor of the target
//! with `O_NOFOLLOW`, so no symlink (in the archive or planted before) is ever followed while
//! creating an entry, and `..` can never climb out. The `tar` crate only parses headers.

use nix::errno::Errno;
use crate::fs64::{fstatat, openat};
use nix::fcntl::OFlag;
use nix::sys::stat::{fchmodat, mknodat, mkdirat, utimensat, FchmodatFlags, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use std::ffi::{CString, OsStr};
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const WHITEOUT_PREFIX: &str = ".wh.";
const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";

/// What to do with AUFS-style whiteout entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    /// Store them the way overlayfs reads them: a 0/0 character device for a deleted file,
    /// `trusted.overlay.opaque=y` on an opaque directory (for an overlay2 layer's diff).
    Overlay,
    /// Apply them to the target directly: delete the named file, empty the opaque directory
    /// (for a flattened root filesystem).
    Apply,
    /// They are ordinary files (`docker cp` into a container).
    Keep,
}

/// How an archive is extracted besides its whiteouts.
#[derive(Debug, Clone, Default)]
pub struct Extract {
    /// Refuse to replace a directory with a non-directory or the reverse (the Engine API's
    /// `noOverwriteDirNonDir`); the path named in the error as the destination.
    pub no_overwrite_dir_non_dir: Option<String>,
    /// Owner of every entry instead of the archive's.
    pub chown: Option<(u32, u32)>,
    /// Leave owners alone (the client extracting what it copied out, as Docker's CLI does).
    pub skip_chown: bool,
    /// Files something is mounted over (`(dev, ino)` of their directory, their name, their
    /// path as shown): replacing one fails as unlinking a mount point does.
    pub mount_points: Vec<((u64, u64), Vec<u8>, String)>,
    /// Renames entries whose path starts with the first component to start with the second
    /// (`docker cp`'s rebasing of an archive to the destination's name).
    pub rebase: Option<(String, String)>,
}

/// Docker's archive rebasing: `old` (a leading path, or the whole name) becomes `new`.
pub fn rebase_name(name: &[u8], old: &str, new: &str) -> Vec<u8> {
    let old = old.trim_end_matches('/');
    let new = new.trim_end_matches('/');
    if old.is_empty() {
        let name = std::str::from_utf8(name).map(|n| n.trim_start_matches('/').as_bytes()).unwrap_or(name);
        return if new.is_empty() { name.to_vec() } else { [new.as_bytes(), b"/", name].concat() };
    }
    match name.strip_prefix(old.as_bytes()) {
        Some(suffix) if suffix.is_empty() || suffix[0] == b'/' => [new.as_bytes(), suffix].concat(),
        _ => name.to_vec(),
    }
}

/// Extracts a layer (plain tar, gzip or zstd, detected by magic) into `dest`, which must
/// exist. Returns the total size of the regular files written.
pub fn extract_layer<R: Read>(reader: R, dest: &Path, whiteouts: Whiteouts) -> io::Result<u64> {
    let root = own(crate::fs64::open(dest, dir_flags(), Mode::empty())?);
    extract_at(reader, root.as_raw_fd(), whiteouts, &Extract::default())
}

/// What a caller sees of a layer's extraction as it happens (pulls record the tar-split and
/// write behind through it).
pub trait ExtractObserver {
    /// A regular file entry with data is next: its name (clean components joined with `/`)
    /// and size. Called before its data is read, so the stream stands at the data's start.
    fn regular_file(&mut self, _name: &[u8], _size: u64) {}
    /// Writes an entry's data into its newly created file; returns the bytes written.
    fn write_file(&mut self, data: &mut dyn Read, mut file: std::fs::File) -> io::Result<u64> {
        io::copy(data, &mut file)
    }
}

struct Unobserved;
impl ExtractObserver for Unobserved {}

/// [`extract_layer`] for an uncompressed tar stream, telling `observer` of each file.
pub fn extract_layer_observed<R: Read>(tar: R, dest: &Path, whiteouts: Whiteouts, observer: &mut dyn ExtractObserver) -> io::Result<u64> {
    let root = own(crate::fs64::open(dest, dir_flags(), Mode::empty())?);
    extract_tar(tar, root.as_raw_fd(), whiteouts, &Extract::default(), observer)
}

/// Extracts an archive (plain tar, gzip or zstd) below the directory descriptor `dest`, with
/// the same rules as [`extract_layer`]: nothing is created or followed outside it.
pub fn extract_at<R: Read>(reader: R, dest: RawFd, whiteouts: Whiteouts, opts: &Extract) -> io::Result<u64> {
    let mut buffered = BufReader::with_capacity(64 * 1024, reader);
    let head = buffered.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        extract_tar(flate2::read::GzDecoder::new(buffered), dest, whiteouts, opts, &mut Unobserved)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let z = ruzstd::decoding::StreamingDecoder::new(buffered).map_err(|e| err(format!("zstd: {e}")))?;
        extract_tar(z, dest, whiteouts, opts, &mut Unobserved)
    } else {
        extract_tar(buffered, dest, whiteouts, opts, &mut Unobserved)
    }
}

fn err(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Normalises an archive path to its components inside the root: `.` and empty parts go,
/// a leading `/` is dropped (absolute names are taken relative to the root, as Docker does),
/// `..` cancels the previous component and is an error if it would leave the root.
pub fn clean_components(raw: &[u8]) -> io::Result<Vec<Vec<u8>>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for part in raw.split(|c| *c == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(err(format!("invalid path {:?}: escapes the layer root", String::from_utf8_lossy(raw))));
                }
            }
            p => out.push(p.to_vec()),
        }
    }
    Ok(out)
}

fn own(fd: RawFd) -> OwnedFd {
    // SAFETY: fd was just returned by a successful open call and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

/// Opens (creating missing directories, mode 0755) the directory `components` below `root`
/// without following any symlink: a symlink on the way is an error.
fn open_dir_in(root: RawFd, components: &[Vec<u8>], create: bool) -> io::Result<OwnedFd> {
    let mut cur = own(nix::unistd::dup(root)?);
    for c in components {
        let name = OsStr::from_bytes(c);
        let next = match openat(Some(cur.as_raw_fd()), name, dir_flags(), Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) if create => {
                match mkdirat(Some(cur.as_raw_fd()), name, Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                openat(Some(cur.as_raw_fd()), name, dir_flags(), Mode::empty())?
            }
            Err(Errno::ENOTDIR) | Err(Errno::ELOOP) => {
                return Err(err(format!("path component {:?} is not a directory (symlinks are not followed)", name)));
            }
            Err(e) => return Err(e.into()),
        };
        cur = own(next);
    }
    Ok(cur)
}

/// Removes `name` in `dir` whatever it is, descending into directories without following
/// symlinks. Missing is fine.
fn remove_all_at(dir: RawFd, name: &OsStr) -> io::Result<()> {
    let st = match fstatat(Some(dir), name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        let sub = own(openat(Some(dir), name, dir_flags(), Mode::empty())?);
        empty_dir(sub.as_raw_fd())?;
        unlinkat(Some(dir), name, UnlinkatFlags::RemoveDir)?;
    } else {
        unlinkat(Some(dir), name, UnlinkatFlags::NoRemoveDir)?;
    }
    Ok(())
}

fn empty_dir(dir: RawFd) -> io::Result<()> {
    let names = list_dir(dir)?;
    for n in names {
        remove_all_at(dir, OsStr::from_bytes(&n))?;
    }
    Ok(())
}

fn list_dir(dir: RawFd) -> io::Result<Vec<Vec<u8>>> {
    let d = nix::dir::Dir::openat(Some(dir), ".", dir_flags(), Mode::empty())?;
    let mut names = Vec::new();
    for entry in d.into_iter() {
        let entry = entry?;
        let n = entry.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    Ok(names)
}

fn is_dir_at(dir: RawFd, name: &OsStr) -> bool {
    fstatat(Some(dir), name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
        .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
        .unwrap_or(false)
}

/// Makes room for a new non-directory entry: whatever is there goes.
fn clear_for_entry(dir: RawFd, name: &OsStr) -> io::Result<()> {
    remove_all_at(dir, name)
}

fn set_xattr(fd: RawFd, key: &str, value: &[u8]) -> io::Result<()> {
    let key = CString::new(key).map_err(|_| err("xattr name contains NUL".into()))?;
    // SAFETY: fd is an open descriptor, key is NUL-terminated and value is a valid buffer of
    // the given length; fsetxattr only reads them.
    let rc = unsafe { libc::fsetxattr(fd, key.as_ptr(), value.as_ptr() as *const libc::c_void, value.len(), 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets an xattr on `name` in the directory `dir` without following a symlink there: the
/// path goes through `/proc/self/fd`, and `name` is one component (no `/`).
fn set_xattr_at(dir: RawFd, name: &OsStr, key: &str, value: &[u8]) -> io::Result<()> {
    let mut path = format!("/proc/self/fd/{dir}/").into_bytes();
    path.extend_from_slice(name.as_bytes());
    let path = CString::new(path).map_err(|_| err("path contains NUL".into()))?;
    let key = CString::new(key).map_err(|_| err("xattr name contains NUL".into()))?;
    // SAFETY: path and key are NUL-terminated, value is a valid buffer of the given length;
    // lsetxattr only reads them and does not follow a final symlink.
    let rc = unsafe { libc::lsetxattr(path.as_ptr(), key.as_ptr(), value.as_ptr() as *const libc::c_void, value.len(), 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Go's archive/tar (what Docker reads layers with) takes a blank numeric field as zero.
fn blank_is_zero<T: Default>(parsed: io::Result<T>, raw: &[u8]) -> io::Result<T> {
    match parsed {
        Err(_) if raw.iter().all(|c| *c == 0 || *c == b' ') => Ok(T::default()),
        other => other,
    }
}

struct DirTimes {
    components: Vec<Vec<u8>>,
    mtime: TimeSpec,
}

fn extract_tar<R: Read>(reader: R, root_fd: RawFd, whiteouts: Whiteouts, opts: &Extract, observer: &mut dyn ExtractObserver) -> io::Result<u64> {
    let mut archive = tar::Archive::new(reader);
    let mut total = 0u64;
    let mut dir_times: Vec<DirTimes> = Vec::new();
    // Directories made opaque by this layer keep the entries this layer adds after the marker.
    for entry in archive.entries()? {
        let mut entry = entry?;
        let mut raw_path = entry.path_bytes().into_owned();
        if let Some((old, new)) = &opts.rebase {
            raw_path = rebase_name(&raw_path, old, new);
        }
        let mut components = clean_components(&raw_path)?;
        let data_size = entry.header().entry_size()?;
        if matches!(entry.header().entry_type(), tar::EntryType::Regular | tar::EntryType::Continuous) && data_size > 0 {
            observer.regular_file(&components.join(&b'/'), data_size);
        }
        let Some(name) = components.pop() else { continue };
        let header = entry.header().clone();
        let kind = header.entry_type();
        let parent = open_dir_in(root_fd, &components, true)?;
        let pfd = parent.as_raw_fd();
        if !opts.mount_points.is_empty() {
            let st = crate::fs64::fstat(pfd)?;
            if let Some((_, _, shown)) = opts.mount_points.iter().find(|(dir, n, _)| *dir == (st.st_dev, st.st_ino) && *n == name) {
                return Err(io::Error::new(io::ErrorKind::ResourceBusy, format!("unlinkat {shown}: device or resource busy")));
            }
        }

        if let (Some(hidden), false) = (name.strip_prefix(WHITEOUT_PREFIX.as_bytes()), whiteouts == Whiteouts::Keep) {
            if name == WHITEOUT_OPAQUE.as_bytes() {
                match whiteouts {
                    Whiteouts::Overlay => set_xattr(pfd, "trusted.overlay.opaque", b"y")?,
                    Whiteouts::Apply | Whiteouts::Keep => empty_dir(pfd)?,
                }
            } else {
                let hidden = OsStr::from_bytes(hidden);
                if hidden.is_empty() || hidden == ".." || hidden == "." {
                    return Err(err(format!("invalid whiteout {:?}", String::from_utf8_lossy(&raw_path))));
                }
                clear_for_entry(pfd, hidden)?;
                if whiteouts == Whiteouts::Overlay {
                    mknodat(Some(pfd), hidden, SFlag::S_IFCHR, Mode::empty(), 0)?;
                }
            }
            continue;
        }

        let name_os = OsStr::from_bytes(&name);
        let old = header.as_old();
        let mode = Mode::from_bits_truncate((blank_is_zero(header.mode(), &old.mode)? & 0o7777) as libc::mode_t);
        let (uid, gid) = match opts.chown {
            Some(ids) => ids,
            None => (blank_is_zero(header.uid(), &old.uid)? as u32, blank_is_zero(header.gid(), &old.gid)? as u32),
        };
        if let Some(dest) = &opts.no_overwrite_dir_non_dir {
            if let Ok(st) = fstatat(Some(pfd), name_os, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
                let shown = String::from_utf8_lossy(&raw_path);
                let shown = shown.trim_start_matches('/').trim_end_matches('/');
                let existing_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
                if existing_dir && kind != tar::EntryType::Directory {
                    return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("cannot overwrite directory {shown:?} with non-directory {dest:?}")));
                }
                if !existing_dir && kind == tar::EntryType::Directory {
                    return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("cannot overwrite non-directory {shown:?} with directory {dest:?}")));
                }
            }
        }
        let mtime = crate::fs64::timespec(header.mtime().unwrap_or(0).try_into().unwrap_or(i64::MAX), 0);
        let mut is_symlink = false;
        match kind {
            tar::EntryType::Directory => {
                if !is_dir_at(pfd, name_os) {
                    clear_for_entry(pfd, name_os)?;
                    mkdirat(Some(pfd), name_os, Mode::from_bits_truncate(0o700))?;
                }
                let mut full = components.clone();
                full.push(name.clone());
                dir_times.push(DirTimes { components: full, mtime });
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                clear_for_entry(pfd, name_os)?;
                let fd = openat(
                    Some(pfd),
                    name_os,
                    OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )?;
                total += observer.write_file(&mut entry, std::fs::File::from(own(fd)))?;
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name_bytes().ok_or_else(|| err("symlink without target".into()))?;
                clear_for_entry(pfd, name_os)?;
                // The target is stored, never followed here: it is resolved inside the
                // container's root at run time.
                symlinkat(OsStr::from_bytes(&target), Some(pfd), name_os)?;
                is_symlink = true;
            }
            tar::EntryType::Link => {
                let mut target = entry.link_name_bytes().ok_or_else(|| err("hard link without target".into()))?.into_owned();
                if let Some((old, new)) = &opts.rebase {
                    target = rebase_name(&target, old, new);
                }
                let mut tcomp = clean_components(&target)?;
                let tname = tcomp.pop().ok_or_else(|| err("hard link to the layer root".into()))?;
                let tdir = open_dir_in(root_fd, &tcomp, false)?;
                let tname = OsStr::from_bytes(&tname);
                let st = fstatat(Some(tdir.as_raw_fd()), tname, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
                    .map_err(|e| err(format!("hard link target {:?}: {e}", String::from_utf8_lossy(&target))))?;
                if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                    return Err(err(format!("hard link to directory {:?}", String::from_utf8_lossy(&target))));
                }
                if !(tdir.as_raw_fd() == pfd && tname == name_os) {
                    clear_for_entry(pfd, name_os)?;
                    // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
                    linkat(Some(tdir.as_raw_fd()), tname, Some(pfd), name_os, nix::fcntl::AtFlags::empty())?;
                }
                // A hard link shares the target's metadata; nothing more to set.
                continue;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                clear_for_entry(pfd, name_os)?;
                let sflag = match kind {
                    tar::EntryType::Char => SFlag::S_IFCHR,
                    tar::EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                // Blank device fields (a FIFO written by some tools) read as zero, as in Go.
                let (raw_major, raw_minor) = match (header.as_ustar(), header.as_gnu()) {
                    (Some(u), _) => (u.dev_major.to_vec(), u.dev_minor.to_vec()),
                    (_, Some(g)) => (g.dev_major.to_vec(), g.dev_minor.to_vec()),
                    _ => (Vec::new(), Vec::new()),
                };
                let major = blank_is_zero(header.device_major().map(|m| m.unwrap_or(0)), &raw_major)? as u64;
                let minor = blank_is_zero(header.device_minor().map(|m| m.unwrap_or(0)), &raw_minor)? as u64;
                mknodat(Some(pfd), name_os, sflag, mode, nix::sys::stat::makedev(major, minor))?;
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader | tar::EntryType::GNULongName | tar::EntryType::GNULongLink => continue,
            other => return Err(err(format!("unsupported tar entry type {other:?} for {:?}", String::from_utf8_lossy(&raw_path)))),
        }
        if !opts.skip_chown {
            fchownat(Some(pfd), name_os, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?;
        }
        if !is_symlink {
            fchmodat(Some(pfd), name_os, mode, FchmodatFlags::FollowSymlink)
                .or_else(|_| fchmodat(Some(pfd), name_os, mode, FchmodatFlags::NoFollowSymlink))?;
        }
        // Extended attributes last, on any kind of entry the kernel allows them on: chown
        // clears security.capability, so it must come after.
        if let Some(exts) = entry.pax_extensions()? {
            for ext in exts.flatten() {
                let Some(key) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) else { continue };
                let set = set_xattr_at(pfd, name_os, key, ext.value_bytes());
                // A file capability that cannot be set would change what the program may
                // do; other attributes (user.* on a symlink, unsupported namespaces) are
                // best effort, as in Docker.
                if key == "security.capability" {
                    set?;
                }
            }
        }
        if kind != tar::EntryType::Directory {
            utimensat(Some(pfd), name_os, &mtime, &mtime, UtimensatFlags::NoFollowSymlink)?;
        }
    }
    // Directory times last, deepest first: creating children changes a directory's mtime.
    dir_times.sort_by_key(|d| std::cmp::Reverse(d.components.len()));
    for d in dir_times {
        let mut comps = d.components;
        let Some(name) = comps.pop() else { continue };
        if let Ok(parent) = open_dir_in(root_fd, &comps, false) {
            let _ = utimensat(Some(parent.as_raw_fd()), OsStr::from_bytes(&name), &d.mtime, &d.mtime, UtimensatFlags::NoFollowSymlink);
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::path::PathBuf;

    struct Scratch(PathBuf);
    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let p = std::env::temp_dir().join(format!("dbx-archive-{tag}-{}-{}", std::process::id(), &crate::ids::new_id()[..8]));
            std::fs::create_dir_all(p.join("root")).unwrap();
            Scratch(p)
        }
        fn root(&self) -> PathBuf {
            self.0.join("root")
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Builds a tar with raw header names (the tar crate's builder refuses hostile names).
    fn raw_tar(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, kind, link, data) in entries {
            let mut h = tar::Header::new_gnu();
            {
                let old = h.as_old_mut();
                old.name[..name.len()].copy_from_slice(name.as_bytes());
                old.linkname[..link.len()].copy_from_slice(link.as_bytes());
            }
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(if *kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1_700_000_000);
            h.set_cksum();
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    use tar::EntryType as T;

    #[test]
    fn extracts_files_dirs_links_and_gzip() {
        let s = Scratch::new("basic");
        let tar = raw_tar(&[
            ("bin/", T::Directory, "", b""),
            ("bin/busybox", T::Regular, "", b"ELF"),
            ("bin/sh", T::Symlink, "/bin/busybox", b""),
            ("bin/ls", T::Link, "bin/busybox", b""),
            ("./etc/passwd", T::Regular, "", b"root:x:0:0"),
        ]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        let n = extract_layer(&gz[..], &s.root(), Whiteouts::Overlay).unwrap();
        assert_eq!(n, 13);
        let r = s.root();
        assert_eq!(std::fs::read(r.join("bin/busybox")).unwrap(), b"ELF");
        assert_eq!(std::fs::read_link(r.join("bin/sh")).unwrap(), PathBuf::from("/bin/busybox"));
        assert_eq!(std::fs::metadata(r.join("bin/ls")).unwrap().ino(), std::fs::metadata(r.join("bin/busybox")).unwrap().ino());
        assert_eq!(std::fs::metadata(r.join("bin")).unwrap().mtime(), 1_700_000_000);
        assert_eq!(std::fs::metadata(r.join("etc/passwd")).unwrap().mode() & 0o7777, 0o644);
    }

    #[test]
    fn dotdot_escape_is_rejected() {
        let s = Scratch::new("dotdot");
        let tar = raw_tar(&[("../escaped", T::Regular, "", b"x")]);
        assert!(extract_layer(&tar[..], &s.root(), Whiteouts::Overlay).is_err());
        assert!(!s.0.join("escaped").exists());
        let tar = raw_tar(&[("a/../../escaped2", T::Regular, "", b"x")]);
        assert!(extract_layer(&tar[..], &s.root(), Whiteouts::Overlay).is_err());
        assert!(!s.0.join("escaped2").exists());
    }

    #[test]
    fn absolute_paths_stay_inside() {
        let s = Scratch::new("abs");
        let outside = s.0.join("abs-target");
        let name = format!("{}", outside.display());
        let tar = raw_tar(&[(&name, T::Regular, "", b"x")]);
        extract_layer(&tar[..], &s.root(), Whiteouts::Overlay).unwrap();
        assert!(!outside.exists());
        assert!(s.root().join(name.trim_start_matches('/')).exists());
    }

    #[test]
    fn symlink_in_path_is_not_followed() {
        let s = Scratch::new("symdir");
        let outside = s.0.join("outside");
        std::fs::create_dir(&outside).unwrap();
        let tar = raw_tar(&[("evil", T::Symlink, outside.to_str().unwrap(), b""), ("evil/file", T::Regular, "", b"x")]);
        assert!(extract_layer(&tar[..], &s.root(), Whiteouts::Overlay).is_err());
        assert!(!outside.join("file").exists());
        // A relative symlink climbing out is no different.
        let tar = raw_tar(&[("up", T::Symlink, "../outside", b""), ("up/file2", T::Regular, "", b"x")]);
        assert!(extract_layer(&tar[..], &s.root(), Whiteouts::Overlay).is_err());
        assert!(!outside.join("file2").exists());
    }

    #[test]
    fn file_over_symlink_replaces_the_link() {
        let s = Scratch::new("overlink");
        let victim = s.0.join("victim");
        std::fs::write(&victim, b"original").unwrap();
        let tar = raw_tar(&[("link", T::Symlink, victim.to_str().unwrap(), b""), ("link", T::Regular, "", b"overwritten")]);
        extract_layer(&tar[..], &s.root(), Whiteouts::Overlay).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"original");
        assert_eq!(std::fs::read(s.root().join("link")).unwrap(), b"overwritten");
    }

    #[test]
    fn hard_link_outside_is_rejected() {
        let s = Scratch::new("hardlink");
        std::fs::write(s.0.join("secret"), b"s").unwrap();
        let tar = raw_tar(&[("h", T::Link, "../secret", b"")]);
        assert!(extract_layer(&tar[..], &s.root(), Whiteouts::Overlay).is_err());
        // Through a symlink inside the layer: the link must not resolve it.
        let tar = raw_tar(&[("d", T::Symlink, s.0.to_str().unwrap(), b""), ("h2", T::Link, "d/secret", b"")]);
        assert!(extract_layer(&tar[..], &s.root(), Whiteouts::Overlay).is_err());
        assert!(!s.root().join("h2").exists());
        // Absolute hard link targets are taken inside the root.
        let tar = raw_tar(&[("f", T::Regular, "", b"in"), ("h3", T::Link, "/f", b"")]);
        extract_layer(&tar[..], &s.root(), Whiteouts::Overlay).unwrap();
        assert_eq!(std::fs::read(s.root().join("h3")).unwrap(), b"in");
    }

    #[test]
    fn whiteouts_become_overlay_forms() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let s = Scratch::new("wh");
        let tar = raw_tar(&[
            ("etc/", T::Directory, "", b""),
            ("etc/.wh.gone", T::Regular, "", b""),
            ("opq/", T::Directory, "", b""),
            ("opq/.wh..wh..opq", T::Regular, "", b""),
            ("opq/kept", T::Regular, "", b"k"),
        ]);
        extract_layer(&tar[..], &s.root(), Whiteouts::Overlay).unwrap();
        let m = std::fs::symlink_metadata(s.root().join("etc/gone")).unwrap();
        assert!(m.file_type().is_char_device());
        assert_eq!(m.rdev(), 0);
        assert!(!s.root().join("etc/.wh.gone").exists());
        let mut buf = [0u8; 8];
        let p = CString::new(s.root().join("opq").as_os_str().as_bytes()).unwrap();
        let key = CString::new("trusted.overlay.opaque").unwrap();
        // SAFETY: valid NUL-terminated strings and a buffer of the stated length.
        let n = unsafe { libc::lgetxattr(p.as_ptr(), key.as_ptr(), buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        assert_eq!(n, 1);
        assert_eq!(buf[0], b'y');
        assert!(s.root().join("opq/kept").exists());
    }

    #[test]
    fn whiteouts_apply_deletes() {
        let s = Scratch::new("whapply");
        std::fs::create_dir_all(s.root().join("etc/sub")).unwrap();
        std::fs::write(s.root().join("etc/sub/x"), b"x").unwrap();
        std::fs::create_dir_all(s.root().join("opq")).unwrap();
        std::fs::write(s.root().join("opq/old"), b"o").unwrap();
        let tar = raw_tar(&[
            ("etc/.wh.sub", T::Regular, "", b""),
            ("opq/.wh..wh..opq", T::Regular, "", b""),
            ("opq/new", T::Regular, "", b"n"),
        ]);
        extract_layer(&tar[..], &s.root(), Whiteouts::Apply).unwrap();
        assert!(!s.root().join("etc/sub").exists());
        assert!(!s.root().join("opq/old").exists());
        assert!(s.root().join("opq/new").exists());
    }

    #[test]
    fn whiteout_cannot_escape() {
        let s = Scratch::new("whesc");
        std::fs::write(s.0.join("precious"), b"p").unwrap();
        let tar = raw_tar(&[("../.wh.precious", T::Regular, "", b"")]);
        assert!(extract_layer(&tar[..], &s.root(), Whiteouts::Apply).is_err());
        let tar = raw_tar(&[(".wh...", T::Regular, "", b"")]);
        assert!(extract_layer(&tar[..], &s.root(), Whiteouts::Apply).is_err());
        assert!(s.0.join("precious").exists());
    }

    fn root_only() -> bool {
        nix::unistd::geteuid().is_root()
    }

    fn get_xattr(path: &Path, key: &str) -> Option<Vec<u8>> {
        let p = CString::new(path.as_os_str().as_bytes()).unwrap();
        let k = CString::new(key).unwrap();
        let mut buf = vec![0u8; 256];
        // SAFETY: NUL-terminated strings and a buffer of the stated length.
        let n = unsafe { libc::lgetxattr(p.as_ptr(), k.as_ptr(), buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        (n >= 0).then(|| buf[..n as usize].to_vec())
    }

    /// A tar built with the tar crate: PAX xattrs, owners, modes, devices.
    fn rich_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let pax = |b: &mut tar::Builder<Vec<u8>>, attrs: &[(&str, &[u8])]| {
            b.append_pax_extensions(attrs.iter().map(|(k, v)| (*k, *v))).unwrap();
        };
        let header = |kind: T, mode: u32, uid: u64| {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_uid(uid);
            h.set_gid(uid + 1);
            h.set_mtime(1_600_000_000);
            h.set_size(0);
            h
        };
        pax(&mut b, &[("SCHILY.xattr.trusted.dirattr", b"d")]);
        b.append_data(&mut header(T::Directory, 0o1777, 0), "dir", &[][..]).unwrap();
        pax(&mut b, &[("SCHILY.xattr.user.fileattr", b"f"), ("SCHILY.xattr.security.capability", b"\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")]);
        let mut h = header(T::Regular, 0o4755, 1000);
        h.set_size(3);
        b.append_data(&mut h, "dir/prog", &b"abc"[..]).unwrap();
        pax(&mut b, &[("SCHILY.xattr.trusted.linkattr", b"l")]);
        let mut h = header(T::Symlink, 0o777, 7);
        b.append_link(&mut h, "dir/link", "prog").unwrap();
        let mut h = header(T::Char, 0o620, 0);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        b.append_data(&mut h, "dir/null", &[][..]).unwrap();
        let mut h = header(T::Fifo, 0o600, 0);
        b.append_data(&mut h, "dir/fifo", &[][..]).unwrap();
        let mut h = header(T::Link, 0o644, 0);
        b.append_link(&mut h, "dir/prog2", "dir/prog").unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn owners_modes_times_devices_and_xattrs_on_every_kind() {
        if !root_only() {
            return;
        }
        let s = Scratch::new("rich");
        extract_layer(&rich_tar()[..], &s.root(), Whiteouts::Overlay).unwrap();
        let r = s.root();
        let dir = std::fs::symlink_metadata(r.join("dir")).unwrap();
        assert_eq!(dir.mode() & 0o7777, 0o1777);
        assert_eq!(dir.mtime(), 1_600_000_000);
        let prog = std::fs::symlink_metadata(r.join("dir/prog")).unwrap();
        assert_eq!((prog.mode() & 0o7777, prog.uid(), prog.gid(), prog.mtime()), (0o4755, 1000, 1001, 1_600_000_000));
        assert_eq!(std::fs::metadata(r.join("dir/prog2")).unwrap().ino(), prog.ino());
        let link = std::fs::symlink_metadata(r.join("dir/link")).unwrap();
        assert!(link.file_type().is_symlink());
        assert_eq!((link.uid(), link.mtime()), (7, 1_600_000_000));
        let null = std::fs::symlink_metadata(r.join("dir/null")).unwrap();
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
        assert!(std::fs::symlink_metadata(r.join("dir/fifo")).unwrap().file_type().is_fifo());
        assert_eq!(get_xattr(&r.join("dir"), "trusted.dirattr").as_deref(), Some(&b"d"[..]));
        assert_eq!(get_xattr(&r.join("dir/prog"), "user.fileattr").as_deref(), Some(&b"f"[..]));
        assert!(get_xattr(&r.join("dir/prog"), "security.capability").is_some(), "set after chown");
        assert_eq!(get_xattr(&r.join("dir/link"), "trusted.linkattr").as_deref(), Some(&b"l"[..]));
        assert_eq!(get_xattr(&r.join("dir/prog"), "trusted.linkattr"), None, "the symlink's attribute stays on the symlink");
    }

    #[test]
    fn zstd_layers_extract() {
        let s = Scratch::new("zstd");
        let tar = raw_tar(&[("z/", T::Directory, "", b""), ("z/file", T::Regular, "", b"zstd!")]);
        let z = ruzstd::encoding::compress_to_vec(&tar[..], ruzstd::encoding::CompressionLevel::Fastest);
        extract_layer(&z[..], &s.root(), Whiteouts::Overlay).unwrap();
        assert_eq!(std::fs::read(s.root().join("z/file")).unwrap(), b"zstd!");
    }

    #[test]
    fn symlink_pointing_outside_is_kept_as_a_link_and_never_written_through() {
        let s = Scratch::new("symout");
        let outside = s.0.join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        let target = outside.display().to_string();
        let tar = raw_tar(&[("esc", T::Symlink, &target, b""), ("esc/planted", T::Regular, "", b"x")]);
        // The second entry would write through the link: it is refused or lands inside.
        let _ = extract_layer(&tar[..], &s.root(), Whiteouts::Overlay);
        assert!(!outside.join("planted").exists());
        let tar = raw_tar(&[("up", T::Symlink, "../../..", b""), ("hl", T::Link, "up/etc/passwd", b"")]);
        assert!(extract_layer(&tar[..], &s.root(), Whiteouts::Overlay).is_err(), "a hard link through a symlink is refused");
    }
}
