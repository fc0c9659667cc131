//! The file calls with 64-bit sizes, inode numbers and offsets on every CPU.
//!
//! On 32-bit glibc (armv7) the plain `stat`/`fstat`/`fstatat`/`statvfs` and `open` that nix
//! and libc bind are the 32-bit-offset ABI: a file over 2 GiB (`/proc/kcore` on an arm64
//! kernel), or an inode number above 2^32 (overlayfs, xfs, btrfs), makes them fail with
//! EOVERFLOW, and `open` without `O_LARGEFILE` refuses such files too. These wrappers take
//! the same arguments as nix's but call glibc's `*64` variants (on 64-bit CPUs they are the
//! same calls). `clippy.toml` forbids the 32-bit ones, so a slip fails `cargo clippy`.

use std::os::fd::{AsFd, AsRawFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::Mode;
use nix::NixPath;

/// `struct stat64`: every field 64-bit where the kernel's is (ino, dev, size, blocks).
pub type FileStat = libc::stat64;
/// `struct statvfs64`.
pub type Statvfs = libc::statvfs64;
/// `struct statfs64`.
pub type Statfs = libc::statfs64;

fn at(dirfd: Option<RawFd>) -> RawFd {
    dirfd.unwrap_or(libc::AT_FDCWD)
}

/// fstat(2) through `fstat64` (statx on 32-bit ARM, see [`statx_at`]).
pub fn fstat(fd: RawFd) -> nix::Result<FileStat> {
    #[cfg(all(target_arch = "arm", target_env = "gnu"))]
    {
        statx_at(fd, c"", libc::AT_EMPTY_PATH)
    }
    #[cfg(not(all(target_arch = "arm", target_env = "gnu")))]
    {
        let mut st = std::mem::MaybeUninit::<FileStat>::uninit();
        // SAFETY: fstat64 writes a whole stat64 into the buffer we own, or fails and writes
        // nothing we read.
        Errno::result(unsafe { libc::fstat64(fd, st.as_mut_ptr()) })?;
        // SAFETY: it succeeded, so the kernel filled the struct.
        Ok(unsafe { st.assume_init() })
    }
}

/// fstatat(2) through `fstatat64`; `dirfd` None is AT_FDCWD, as in nix.
pub fn fstatat<P: ?Sized + NixPath>(dirfd: Option<RawFd>, path: &P, flags: AtFlags) -> nix::Result<FileStat> {
    #[cfg(all(target_arch = "arm", target_env = "gnu"))]
    {
        path.with_nix_path(|p| statx_at(at(dirfd), p, flags.bits()))?
    }
    #[cfg(not(all(target_arch = "arm", target_env = "gnu")))]
    {
        let mut st = std::mem::MaybeUninit::<FileStat>::uninit();
        // SAFETY: fstatat64 reads the NUL-terminated path and writes a whole stat64 into our
        // buffer.
        let rc = path.with_nix_path(|p| unsafe { libc::fstatat64(at(dirfd), p.as_ptr(), st.as_mut_ptr(), flags.bits()) })?;
        Errno::result(rc)?;
        // SAFETY: it succeeded, so the kernel filled the struct.
        Ok(unsafe { st.assume_init() })
    }
}

/// 32-bit ARM: glibc's `fstatat64` of the 32-bit-time ABI is statx underneath and fails with
/// EOVERFLOW when a time does not fit 32 bits (any file made after 2038-01-19, such as a
/// container's mount point on a board whose clock is past it). statx itself, with the times
/// clamped into `stat64`'s 32-bit fields: nothing here needs a file time past 2038 exactly.
#[cfg(all(target_arch = "arm", target_env = "gnu"))]
fn statx_at(dirfd: RawFd, path: &std::ffi::CStr, flags: libc::c_int) -> nix::Result<FileStat> {
    let mut stx = std::mem::MaybeUninit::<libc::statx>::uninit();
    // SAFETY: statx reads the NUL-terminated path and writes a whole struct statx into our
    // buffer, or fails.
    Errno::result(unsafe { libc::statx(dirfd, path.as_ptr(), flags, libc::STATX_BASIC_STATS, stx.as_mut_ptr()) })?;
    // SAFETY: it succeeded, so the struct is filled.
    let stx = unsafe { stx.assume_init() };
    // SAFETY: an all-zero stat64 is a valid value of this plain C struct (padding included).
    let mut st: FileStat = unsafe { std::mem::zeroed() };
    let secs = |t: libc::statx_timestamp| libc::time_t::try_from(t.tv_sec).unwrap_or(if t.tv_sec < 0 { libc::time_t::MIN } else { libc::time_t::MAX });
    st.st_dev = libc::makedev(stx.stx_dev_major, stx.stx_dev_minor);
    st.st_ino = stx.stx_ino;
    st.st_mode = libc::mode_t::from(stx.stx_mode);
    st.st_nlink = stx.stx_nlink;
    st.st_uid = stx.stx_uid;
    st.st_gid = stx.stx_gid;
    st.st_rdev = libc::makedev(stx.stx_rdev_major, stx.stx_rdev_minor);
    st.st_size = stx.stx_size as libc::off64_t;
    st.st_blksize = stx.stx_blksize as libc::blksize_t;
    st.st_blocks = stx.stx_blocks as libc::blkcnt64_t;
    st.st_atime = secs(stx.stx_atime);
    st.st_atime_nsec = stx.stx_atime.tv_nsec as libc::c_long;
    st.st_mtime = secs(stx.stx_mtime);
    st.st_mtime_nsec = stx.stx_mtime.tv_nsec as libc::c_long;
    st.st_ctime = secs(stx.stx_ctime);
    st.st_ctime_nsec = stx.stx_ctime.tv_nsec as libc::c_long;
    Ok(st)
}

/// stat(2), following symlinks.
pub fn stat<P: ?Sized + NixPath>(path: &P) -> nix::Result<FileStat> {
    fstatat(None, path, AtFlags::empty())
}

/// lstat(2): the link itself.
pub fn lstat<P: ?Sized + NixPath>(path: &P) -> nix::Result<FileStat> {
    fstatat(None, path, AtFlags::AT_SYMLINK_NOFOLLOW)
}

/// statvfs(3) through `statvfs64`.
pub fn statvfs<P: ?Sized + NixPath>(path: &P) -> nix::Result<Statvfs> {
    let mut st = std::mem::MaybeUninit::<Statvfs>::uninit();
    // SAFETY: statvfs64 reads the NUL-terminated path and writes a whole statvfs64.
    let rc = path.with_nix_path(|p| unsafe { libc::statvfs64(p.as_ptr(), st.as_mut_ptr()) })?;
    Errno::result(rc)?;
    // SAFETY: it succeeded, so the struct is filled.
    Ok(unsafe { st.assume_init() })
}

/// fstatvfs(3) through `fstatvfs64`.
pub fn fstatvfs<Fd: AsFd>(fd: Fd) -> nix::Result<Statvfs> {
    let mut st = std::mem::MaybeUninit::<Statvfs>::uninit();
    // SAFETY: fstatvfs64 writes a whole statvfs64 into our buffer; the descriptor is borrowed.
    Errno::result(unsafe { libc::fstatvfs64(fd.as_fd().as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: it succeeded, so the struct is filled.
    Ok(unsafe { st.assume_init() })
}

/// fstatfs(2) through `fstatfs64`.
pub fn fstatfs<Fd: AsFd>(fd: Fd) -> nix::Result<Statfs> {
    let mut st = std::mem::MaybeUninit::<Statfs>::uninit();
    // SAFETY: fstatfs64 writes a whole statfs64 into our buffer; the descriptor is borrowed.
    Errno::result(unsafe { libc::fstatfs64(fd.as_fd().as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: it succeeded, so the struct is filled.
    Ok(unsafe { st.assume_init() })
}

/// Whether the file system is mounted read-only (ST_RDONLY of statvfs).
pub fn is_read_only(st: &Statvfs) -> bool {
    st.f_flag & libc::ST_RDONLY != 0
}

/// open(2) with O_LARGEFILE, as nix's `open` (which omits it on 32-bit CPUs).
pub fn open<P: ?Sized + NixPath>(path: &P, flags: OFlag, mode: Mode) -> nix::Result<RawFd> {
    openat(None, path, flags, mode)
}

/// openat(2) with O_LARGEFILE, as nix's `openat`; `dirfd` None is AT_FDCWD.
pub fn openat<P: ?Sized + NixPath>(dirfd: Option<RawFd>, path: &P, flags: OFlag, mode: Mode) -> nix::Result<RawFd> {
    let flags = flags | OFlag::O_LARGEFILE;
    // SAFETY: openat64 reads the NUL-terminated path; the mode is read only with O_CREAT/O_TMPFILE.
    let fd = path.with_nix_path(|p| unsafe { libc::openat64(at(dirfd), p.as_ptr(), flags.bits(), libc::c_uint::from(mode.bits())) })?;
    Errno::result(fd)
}

/// A file time (seconds and nanoseconds, as std's metadata and `stat64` give them) as nix's
/// `TimeSpec` for utimensat. Its `time_t` and `c_long` are 32-bit on 32-bit glibc: a time
/// beyond what they hold saturates instead of wrapping.
// On 64-bit CPUs the conversions are identities, on 32-bit ones they narrow.
#[allow(clippy::unnecessary_fallible_conversions, clippy::useless_conversion)]
pub fn timespec(secs: i64, nanos: i64) -> nix::sys::time::TimeSpec {
    let secs = libc::time_t::try_from(secs).unwrap_or(if secs < 0 { libc::time_t::MIN } else { libc::time_t::MAX });
    nix::sys::time::TimeSpec::new(secs, libc::c_long::try_from(nanos).unwrap_or(0))
}

#[cfg(test)]
// The widths these compare are 64-bit on 64-bit CPUs, narrower on 32-bit ones.
#[allow(clippy::useless_conversion)]
mod tests {
    use super::*;

    #[test]
    fn stat_calls_agree_with_std() {
        let exe = std::fs::File::open("/proc/self/exe").unwrap();
        let meta = std::os::unix::fs::MetadataExt::ino(&exe.metadata().unwrap());
        let by_fd = fstat(exe.as_raw_fd()).unwrap();
        let by_path = stat("/proc/self/exe").unwrap();
        assert_eq!(by_fd.st_ino, meta);
        assert_eq!(by_path.st_ino, meta);
        assert_eq!(lstat("/proc/self/exe").unwrap().st_mode & libc::S_IFMT, libc::S_IFLNK);
        assert_eq!(fstatat(None, "/proc/self/exe", AtFlags::empty()).unwrap().st_size, by_fd.st_size);
        assert_eq!(stat("/nonexistent-dockbox").unwrap_err(), Errno::ENOENT);
    }

    #[test]
    fn file_system_calls_describe_proc() {
        // /proc is never read-only; a file system's block size is never zero.
        let proc_fd = std::fs::File::open("/proc").unwrap();
        assert!(!is_read_only(&statvfs("/proc").unwrap()));
        assert!(fstatvfs(&proc_fd).unwrap().f_bsize > 0);
        assert_eq!(i64::from(fstatfs(&proc_fd).unwrap().f_type), i64::from(libc::PROC_SUPER_MAGIC));
    }

    #[test]
    fn timespec_keeps_file_times() {
        let t = timespec(1_700_000_000, 123);
        assert_eq!((i64::from(t.tv_sec()), i64::from(t.tv_nsec())), (1_700_000_000, 123));
        assert_eq!(i64::from(timespec(-5, 0).tv_sec()), -5);
    }

    #[test]
    fn open_asks_for_large_files_and_reports_errno() {
        let fd = open("/proc/self/exe", OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).unwrap();
        // SAFETY: F_GETFL only reads the flags of the descriptor we just opened.
        let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        // SAFETY: we own fd and close it once.
        unsafe { libc::close(fd) };
        assert!(fl >= 0);
        // 64-bit kernels force O_LARGEFILE on 64-bit processes (libc's value is 0 there).
        if libc::O_LARGEFILE != 0 {
            assert_ne!(fl & libc::O_LARGEFILE, 0, "flags {fl:o}");
        }
        assert_eq!(open("/nonexistent-dockbox", OFlag::O_RDONLY, Mode::empty()).unwrap_err(), Errno::ENOENT);
    }
}
