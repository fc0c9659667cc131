//! Access to a container's root filesystem from the host, every path resolved inside it.
//!
//! A path is resolved relative to a descriptor of the root: with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)` where the kernel has it (5.6), otherwise one component at a time
//! with `O_PATH | O_NOFOLLOW` from that descriptor, symlinks read and followed by hand (an
//! absolute target restarts at the root, `..` never climbs above it). What is found is handed
//! out as a descriptor of its directory plus its name; reads and writes go through those
//! descriptors and are never resolved again from a path string, so a process of the container
//! swapping a directory for a symlink (CVE-2018-15664) can make an operation fail, never reach a
//! file outside the root.

use nix::fcntl::OFlag;
use crate::fs64::{fstat, fstatat, FileStat};
use nix::sys::stat::Mode;
use std::collections::VecDeque;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};

/// How many symlinks one resolution may follow (the kernel's limit).
const MAX_SYMLINKS: usize = 40;

/// A container's root, held open.
pub struct RootFs {
    root: OwnedFd,
    /// Resolve by walking even where openat2 exists (the tests exercise both ways).
    walk_only: bool,
}

/// A path found inside the root: its directory (an `O_PATH` descriptor) and its name there,
/// or the root itself (`name` is `None`, `dir` is the root).
pub struct Located {
    pub dir: OwnedFd,
    pub name: Option<CString>,
}

fn own(fd: RawFd) -> OwnedFd {
    // SAFETY: fd was just returned by a successful open call and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn cstring(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Opens `name` (one component, or a path for openat2's in-root resolution) below `dir`.
fn openat(dir: RawFd, name: &CStr, flags: OFlag) -> io::Result<OwnedFd> {
    Ok(own(crate::fs64::openat(Some(dir), name, flags | OFlag::O_CLOEXEC, Mode::empty())?))
}

/// 0 unknown, 1 openat2 works, 2 it does not (ENOSYS, or refused by a seccomp filter).
static OPENAT2: AtomicU8 = AtomicU8::new(0);

/// openat2(dir, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS); `None` when the
/// kernel lacks the call.
fn openat2_in_root(dir: RawFd, path: &CStr, flags: i32) -> Option<io::Result<OwnedFd>> {
    if OPENAT2.load(Ordering::Relaxed) == 2 {
        return None;
    }
    // SAFETY: open_how is plain old data; all-zero is valid.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    // O_LARGEFILE: the raw call gets no libc help, and 32-bit processes must ask for it;
    // but never with O_PATH, which openat2 (unlike openat) refuses with EINVAL beside any
    // flag other than O_DIRECTORY, O_NOFOLLOW and O_CLOEXEC (libc's value is 0 on 64-bit).
    let large = if flags & libc::O_PATH != 0 { 0 } else { libc::O_LARGEFILE };
    how.flags = (flags | libc::O_CLOEXEC | large) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: openat2 reads the NUL-terminated path and an open_how of the size we pass; both
    // outlive the call.
    let fd = unsafe { libc::syscall(libc::SYS_openat2, dir, path.as_ptr(), &how as *const libc::open_how, std::mem::size_of::<libc::open_how>()) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) && OPENAT2.load(Ordering::Relaxed) == 0 {
            OPENAT2.store(2, Ordering::Relaxed);
            return None;
        }
        // openat2 refuses to go on when a rename raced a `..` lookup; the walk has no such
        // refusal to make and is as safe.
        if e.raw_os_error() == Some(libc::EAGAIN) {
            return None;
        }
        return Some(Err(e));
    }
    OPENAT2.store(1, Ordering::Relaxed);
    Some(Ok(own(fd as i32)))
}

/// Reads the target of the symlink `fd` (an `O_PATH | O_NOFOLLOW` descriptor of it).
fn readlink_fd(fd: RawFd) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: readlinkat writes at most buf.len() bytes into buf; the empty path names the
    // O_PATH descriptor's link itself.
    let n = unsafe { libc::readlinkat(fd, c"".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

fn is_dir(st: &FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

fn is_symlink(st: &FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFLNK
}

/// Go's `filepath.Clean(filepath.Join("/", p))` as components: `.` and empty parts dropped,
/// `..` taken lexically, never above the root.
pub fn clean_components(path: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// `/a/b` from components.
pub fn absolute(components: &[&str]) -> String {
    format!("/{}", components.join("/"))
}

/// Whether the path asks for what its last component leads to (`dir/`, `dir/.`), as a
/// trailing separator makes lstat follow a final symlink.
pub fn follows_last(path: &str) -> bool {
    path.ends_with('/') || path.ends_with("/.") || path == "."
}

struct Step {
    fd: OwnedFd,
    name: OsString,
}

impl RootFs {
    /// Holds `root` (the container's mounted root directory) open.
    pub fn open(root: &Path) -> io::Result<RootFs> {
        let fd = own(crate::fs64::open(root, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?);
        Ok(RootFs { root: fd, walk_only: false })
    }

    /// Resolves by walking only, never with openat2 (for kernels without it, and tests).
    pub fn walk_only(mut self) -> RootFs {
        self.walk_only = true;
        self
    }

    /// A new descriptor of the root itself.
    fn root_dup(&self) -> io::Result<OwnedFd> {
        openat(self.root.as_raw_fd(), c".", OFlag::O_PATH | OFlag::O_DIRECTORY)
    }

    /// Finds `path` (relative to the root, `..` taken lexically as Docker's `filepath.Join`
    /// does): its directory is resolved with every symlink followed inside the root; its
    /// last component is followed too when `follow_last` (then it is never a symlink).
    pub fn locate(&self, path: &str, follow_last: bool) -> io::Result<Located> {
        let comps = clean_components(path);
        let Some((last, parents)) = comps.split_last() else {
            return Ok(Located { dir: self.root_dup()?, name: None });
        };
        if !self.walk_only && !follow_last {
            let parent = if parents.is_empty() { ".".to_string() } else { parents.join("/") };
            if let Some(dir) = openat2_in_root(self.root.as_raw_fd(), &cstring(parent.as_bytes())?, libc::O_PATH | libc::O_DIRECTORY) {
                return Ok(Located { dir: dir?, name: Some(cstring(last.as_bytes())?) });
            }
        }
        let (steps, last) = self.walk(&comps, follow_last, false)?;
        let mut steps = steps;
        match last {
            Some(name) => {
                let dir = match steps.pop() {
                    Some(s) => s.fd,
                    None => self.root_dup()?,
                };
                Ok(Located { dir, name: Some(cstring(name.as_bytes())?) })
            }
            None => match steps.pop() {
                // The path led to the root itself (a symlink to `/`).
                None => Ok(Located { dir: self.root_dup()?, name: None }),
                Some(top) => {
                    let dir = match steps.pop() {
                        Some(s) => s.fd,
                        None => self.root_dup()?,
                    };
                    Ok(Located { dir, name: Some(cstring(top.name.as_bytes())?) })
                }
            },
        }
    }

    /// Where `path` leads once every symlink is followed inside the root, as far as it
    /// exists (Docker's `FollowSymlinkInScope`): the stat header's `linkTarget`.
    pub fn resolved_path(&self, path: &str) -> io::Result<String> {
        let comps = clean_components(path);
        let (steps, last) = self.walk(&comps, true, true)?;
        let mut names: Vec<String> = steps.iter().map(|s| s.name.to_string_lossy().into_owned()).collect();
        if let Some(l) = last {
            names.push(l.to_string_lossy().into_owned());
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        Ok(absolute(&refs))
    }

    /// The component walk. Returns the directories entered (each with its name) and, when
    /// the last component is not itself entered (a non-directory, a symlink not followed, or
    /// a missing name with `tolerate_missing`), that name. With `tolerate_missing` the
    /// components after a missing one are kept as names without being looked up.
    fn walk(&self, comps: &[&str], follow_last: bool, tolerate_missing: bool) -> io::Result<(Vec<Step>, Option<OsString>)> {
        let mut todo: VecDeque<OsString> = comps.iter().map(OsString::from).collect();
        let mut steps: Vec<Step> = Vec::new();
        let mut links = 0;
        while let Some(name) = todo.pop_front() {
            let bytes = name.as_bytes();
            if bytes.is_empty() || bytes == b"." {
                continue;
            }
            if bytes == b".." {
                steps.pop();
                continue;
            }
            let last = todo.is_empty();
            let cur = match steps.last() {
                Some(s) => s.fd.as_raw_fd(),
                None => self.root.as_raw_fd(),
            };
            let fd = match openat(cur, &cstring(bytes)?, OFlag::O_PATH | OFlag::O_NOFOLLOW) {
                Ok(fd) => fd,
                Err(e) if tolerate_missing && e.raw_os_error() == Some(libc::ENOENT) => {
                    // The remainder is kept as written, `..` applied lexically.
                    for n in std::iter::once(name).chain(todo) {
                        match n.as_bytes() {
                            b"" | b"." => {}
                            b".." => drop(steps.pop()),
                            _ => steps.push(Step { fd: self.root_dup()?, name: n }),
                        }
                    }
                    return Ok((steps, None));
                }
                Err(e) => return Err(e),
            };
            let st = fstat(fd.as_raw_fd())?;
            if is_symlink(&st) && (!last || follow_last) {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = readlink_fd(fd.as_raw_fd())?;
                if target.first() == Some(&b'/') {
                    steps.clear();
                }
                for part in target.split(|b| *b == b'/').rev() {
                    todo.push_front(OsString::from_vec(part.to_vec()));
                }
                continue;
            }
            if is_dir(&st) {
                steps.push(Step { fd, name });
                continue;
            }
            if !last {
                return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
            }
            return Ok((steps, Some(name)));
        }
        Ok((steps, None))
    }

    /// Opens the directory `path` leads to (every symlink followed inside the root) for
    /// reading and as the base of `*at` calls.
    pub fn open_dir(&self, path: &str) -> io::Result<OwnedFd> {
        let comps = clean_components(path);
        if !self.walk_only {
            let rel = if comps.is_empty() { ".".to_string() } else { comps.join("/") };
            if let Some(fd) = openat2_in_root(self.root.as_raw_fd(), &cstring(rel.as_bytes())?, libc::O_RDONLY | libc::O_DIRECTORY) {
                return fd;
            }
        }
        let loc = self.locate(path, true)?;
        loc.open(OFlag::O_RDONLY | OFlag::O_DIRECTORY)
    }
}

impl Located {
    /// lstat of what was found.
    pub fn lstat(&self) -> io::Result<FileStat> {
        match &self.name {
            Some(n) => Ok(fstatat(Some(self.dir.as_raw_fd()), n.as_c_str(), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?),
            None => Ok(fstat(self.dir.as_raw_fd())?),
        }
    }

    /// Opens what was found without following a symlink there (a symlink swapped in since
    /// gives ELOOP).
    pub fn open(&self, flags: OFlag) -> io::Result<OwnedFd> {
        match &self.name {
            Some(n) => openat(self.dir.as_raw_fd(), n, flags | OFlag::O_NOFOLLOW),
            None => openat(self.dir.as_raw_fd(), c".", flags),
        }
    }

    /// The target of the symlink found.
    pub fn read_link(&self) -> io::Result<Vec<u8>> {
        let fd = self.open(OFlag::O_PATH)?;
        readlink_fd(fd.as_raw_fd())
    }

    /// The name found (`/` for the root).
    pub fn base_name(&self) -> OsString {
        match &self.name {
            Some(n) => OsStr::from_bytes(n.as_bytes()).to_os_string(),
            None => OsString::from("/"),
        }
    }
}

/// Go's `os.FileMode` bits for a `st_mode`, as the stat header carries them.
pub fn go_file_mode(st_mode: u32) -> u32 {
    const DIR: u32 = 1 << 31;
    const SYMLINK: u32 = 1 << 27;
    const DEVICE: u32 = 1 << 26;
    const NAMED_PIPE: u32 = 1 << 25;
    const SOCKET: u32 = 1 << 24;
    const SETUID: u32 = 1 << 23;
    const SETGID: u32 = 1 << 22;
    const CHAR_DEVICE: u32 = 1 << 21;
    const STICKY: u32 = 1 << 20;
    let mut m = st_mode & 0o777;
    m |= match st_mode & libc::S_IFMT {
        libc::S_IFDIR => DIR,
        libc::S_IFLNK => SYMLINK,
        libc::S_IFBLK => DEVICE,
        libc::S_IFCHR => DEVICE | CHAR_DEVICE,
        libc::S_IFIFO => NAMED_PIPE,
        libc::S_IFSOCK => SOCKET,
        _ => 0,
    };
    if st_mode & libc::S_ISUID != 0 {
        m |= SETUID;
    }
    if st_mode & libc::S_ISGID != 0 {
        m |= SETGID;
    }
    if st_mode & libc::S_ISVTX != 0 {
        m |= STICKY;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;

    struct Scratch(PathBuf);
    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let p = std::env::temp_dir().join(format!("dbx-rootfs-{tag}-{}-{}", std::process::id(), &crate::ids::new_id()[..8]));
            std::fs::create_dir_all(p.join("root/etc")).unwrap();
            std::fs::create_dir_all(p.join("outside")).unwrap();
            std::fs::write(p.join("outside/secret"), "host").unwrap();
            std::fs::write(p.join("root/etc/passwd"), "container").unwrap();
            Scratch(p)
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn read(loc: &Located) -> io::Result<String> {
        let fd = loc.open(OFlag::O_RDONLY)?;
        let mut s = String::new();
        io::Read::read_to_string(&mut std::fs::File::from(fd), &mut s)?;
        Ok(s)
    }

    #[test]
    fn symlinks_resolve_inside_the_root_both_ways() {
        let s = Scratch::new("links");
        let root = s.0.join("root");
        let outside = s.0.join("outside");
        symlink(&outside, root.join("abs")).unwrap();
        symlink("../../../../../../../../outside", root.join("rel")).unwrap();
        symlink("/etc", root.join("etclink")).unwrap();
        symlink("/", root.join("top")).unwrap();
        std::fs::create_dir_all(root.join(outside.strip_prefix("/").unwrap())).unwrap();
        std::fs::write(root.join(outside.strip_prefix("/").unwrap()).join("secret"), "decoy").unwrap();
        for walk in [false, true] {
            let fs = RootFs::open(&root).unwrap();
            let fs = if walk { fs.walk_only() } else { fs };
            assert_eq!(read(&fs.locate("/abs/secret", false).unwrap()).unwrap(), "decoy");
            assert!(fs.locate("/rel/secret", false).and_then(|l| read(&l)).is_err());
            assert_eq!(read(&fs.locate("etclink/passwd", false).unwrap()).unwrap(), "container");
            assert_eq!(read(&fs.locate("/top/top/../etc/passwd", false).unwrap()).unwrap(), "container");
            assert_eq!(read(&fs.locate("/../../etc/passwd", false).unwrap()).unwrap(), "container");
            // The last symlink is not followed unless asked.
            assert!(is_symlink(&fs.locate("/etclink", false).unwrap().lstat().unwrap()));
            assert!(is_dir(&fs.locate("/etclink", true).unwrap().lstat().unwrap()));
            assert!(fs.open_dir("/top").is_ok());
            assert_eq!(fs.resolved_path("/etclink/passwd").unwrap(), "/etc/passwd");
            assert_eq!(fs.resolved_path("/top").unwrap(), "/");
            assert_eq!(fs.resolved_path("/etclink/missing/x").unwrap(), "/etc/missing/x");
        }
    }

    #[test]
    fn loops_end() {
        let s = Scratch::new("loop");
        let root = s.0.join("root");
        symlink("b", root.join("a")).unwrap();
        symlink("a", root.join("b")).unwrap();
        let fs = RootFs::open(&root).unwrap().walk_only();
        assert_eq!(fs.locate("/a/x", false).err().and_then(|e| e.raw_os_error()), Some(libc::ELOOP));
    }

    #[test]
    fn go_modes() {
        assert_eq!(go_file_mode(libc::S_IFDIR | 0o755), (1 << 31) | 0o755);
        assert_eq!(go_file_mode(libc::S_IFLNK | 0o777), (1 << 27) | 0o777);
        assert_eq!(go_file_mode(libc::S_IFREG | 0o4755), (1 << 23) | 0o755);
        assert_eq!(go_file_mode(libc::S_IFCHR | 0o666), (1 << 26) | (1 << 21) | 0o666);
    }

    /// CVE-2018-15664's race, on both ways of resolving: a thread swaps a directory and a
    /// symlink to a directory outside the root while paths through them are read and
    /// written; nothing outside is ever read, and nothing is created there.
    #[test]
    fn a_swapping_symlink_never_leads_out() {
        let s = Scratch::new("race");
        let root = s.0.join("root");
        let outside = s.0.join("outside");
        std::fs::create_dir_all(root.join("stage/real")).unwrap();
        std::fs::write(root.join("stage/real/secret"), "inside").unwrap();
        symlink(&outside, root.join("stage/link")).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let swapper = {
            let (stop, stage) = (stop.clone(), root.join("stage"));
            std::thread::spawn(move || {
                let (real, link, tmp) = (stage.join("real"), stage.join("link"), stage.join("tmp"));
                while !stop.load(Ordering::Relaxed) {
                    let _ = std::fs::rename(&real, &tmp);
                    let _ = std::fs::rename(&link, &real);
                    let _ = std::fs::rename(&real, &link);
                    let _ = std::fs::rename(&tmp, &real);
                }
            })
        };
        let (mut inside, mut refused) = (0, 0);
        for walk in [false, true] {
            let fs = RootFs::open(&root).unwrap();
            let fs = if walk { fs.walk_only() } else { fs };
            let deadline = std::time::Instant::now() + std::time::Duration::from_millis(1500);
            while std::time::Instant::now() < deadline {
                match fs.locate("/stage/real/secret", false).and_then(|l| read(&l)) {
                    Ok(text) => {
                        assert_eq!(text, "inside", "read a file outside the root");
                        inside += 1;
                    }
                    Err(_) => refused += 1,
                }
                if let Ok(dir) = fs.open_dir("/stage/real") {
                    let tar = {
                        let mut b = tar::Builder::new(Vec::new());
                        let mut h = tar::Header::new_gnu();
                        h.set_size(1);
                        h.set_mode(0o644);
                        b.append_data(&mut h, "planted", &b"x"[..]).unwrap();
                        b.into_inner().unwrap()
                    };
                    let _ = crate::archive::extract_at(&tar[..], dir.as_raw_fd(), crate::archive::Whiteouts::Keep, &crate::archive::Extract::default());
                }
                let names: Vec<_> = std::fs::read_dir(&outside).unwrap().flatten().map(|e| e.file_name()).collect();
                assert_eq!(names, vec![std::ffi::OsString::from("secret")], "wrote outside the root");
            }
        }
        stop.store(true, Ordering::Relaxed);
        swapper.join().unwrap();
        assert!(inside > 0 && refused > 0, "the swap never showed (inside {inside}, refused {refused})");
        assert_eq!(std::fs::read_to_string(outside.join("secret")).unwrap(), "host");
    }
}
