//! Small syscall helpers shared by every role: process naming, re-executing ourselves as
//! another applet, subreaping, and unix sockets whose paths exceed `sun_path`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Sets /proc/self/comm (the kernel keeps 15 bytes), so ps and pstree show the role's name.
pub fn set_process_name(name: &str) {
    let mut buf = [0u8; 16];
    let n = name.len().min(15);
    buf[..n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes from a valid buffer.
    unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_ptr() as libc::c_ulong, 0, 0, 0) };
}

/// Makes this process the reaper of its orphaned descendants.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes a plain integer flag.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `pid` is a child subreaper, read from /proc (field "Subreaper" is absent on old
/// kernels, so fall back to asking prctl for ourselves).
pub fn is_child_subreaper_self() -> bool {
    let mut v: libc::c_int = 0;
    // SAFETY: PR_GET_CHILD_SUBREAPER writes one int to the pointer we pass.
    let rc = unsafe { libc::prctl(libc::PR_GET_CHILD_SUBREAPER, &mut v as *mut libc::c_int as libc::c_ulong, 0, 0, 0) };
    rc == 0 && v != 0
}

/// The path of this executable, resolved once (/proc/self/exe).
pub fn self_exe() -> PathBuf {
    // runc runs from a detached read-only mount of itself (runc::sealed), whose path reads
    // as "/": then only /proc/self/exe names the binary.
    match std::env::current_exe() {
        Ok(p) if p.is_file() => p,
        _ => PathBuf::from("/proc/self/exe"),
    }
}

/// A command that runs this same executable as `applet` (argv[0] = applet), the way
/// dockerd starts docker-containerd and containerd starts the shim.
pub fn applet_command(applet: &str) -> Command {
    let mut cmd = Command::new(applet_program(applet));
    cmd.arg0(applet);
    with_default_signals(&mut cmd);
    cmd
}

/// The file to run `applet` from: its link beside this executable when that leads to this
/// same file (as dockerd finds docker-containerd beside itself), else the executable itself.
/// Tools that follow a process tree by file name (valgrind's `--trace-children`, used by
/// scripts/link-order.sh, or an audit log) then see each role under its own name.
fn applet_program(applet: &str) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let exe = self_exe();
    let same = |link: &Path| match (std::fs::metadata(link), std::fs::metadata(&exe)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    };
    match exe.parent().map(|dir| dir.join(applet)) {
        Some(link) if same(&link) => link,
        _ => exe,
    }
}

/// Makes `cmd` start with no blocked signals: dockerd blocks its shutdown signals to take
/// them synchronously, and a mask survives exec, so a child would otherwise ignore SIGTERM.
pub fn with_default_signals(cmd: &mut Command) -> &mut Command {
    // SAFETY: the closure runs between fork and exec and calls only sigemptyset and
    // sigprocmask, which are async-signal-safe, on a local set.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        })
    };
    cmd
}

/// Brings up "lo" (ioctl SIOCSIFFLAGS IFF_UP) in the calling thread's network namespace: a
/// new namespace starts with it down.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: socket() takes plain integers and returns a new descriptor or -1.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: s is a fresh descriptor we own.
    let sock = unsafe { OwnedFd::from_raw_fd(s) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the ifreq we pass, which outlives the calls.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) != 0 {
            return Err(io::Error::last_os_error());
        }
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The longest path `sockaddr_un` holds, leaving room for the NUL.
const SUN_PATH_MAX: usize = 107;

/// A path naming the same socket but short enough for `sockaddr_un`: long paths go through
/// an O_PATH descriptor of the parent directory. The returned fd must outlive the call.
fn short_socket_path(path: &Path) -> io::Result<(PathBuf, Option<OwnedFd>)> {
    if path.as_os_str().len() <= SUN_PATH_MAX {
        return Ok((path.to_path_buf(), None));
    }
    let parent = path.parent().ok_or_else(|| io::Error::other("socket path has no parent"))?;
    let name = path.file_name().ok_or_else(|| io::Error::other("socket path has no name"))?;
    let dir = crate::fs64::open(parent, nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())?;
    // SAFETY: open returned a fresh descriptor that nothing else owns.
    let dir = unsafe { OwnedFd::from_raw_fd(dir) };
    let short = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
    Ok((short, Some(dir)))
}

/// Gives the heap's free pages back to the kernel. A pull or a load allocates megabytes for a
/// moment on threads of their own; glibc keeps what they freed in its arenas, and an idle daemon
/// should not hold it.
pub fn release_free_heap() {
    // SAFETY: malloc_trim only walks the allocator's own arenas under their locks and madvises
    // free pages away; it takes no pointers from us.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Binds a unix socket at `path`, replacing a stale socket file, whatever the path's length.
pub fn bind_unix(path: &Path) -> io::Result<UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if meta.file_type().is_socket() {
            std::fs::remove_file(path)?;
        }
    }
    let (short, _dir) = short_socket_path(path)?;
    UnixListener::bind(short)
}

/// Connects to the unix socket at `path`, whatever the path's length.
pub fn connect_unix(path: &Path) -> io::Result<UnixStream> {
    let (short, _dir) = short_socket_path(path)?;
    UnixStream::connect(short)
}

/// Writes `data` to `path` atomically and durably: a temporary file beside it, fsync, rename,
/// fsync of the directory. After a power cut the file is there whole (or, if the call did not
/// return, the old one is). For files whose appearance the next step relies on.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    PreparedWrite::new(path, data, Flush::DataAndName)?.commit()
}

/// Replaces `path` atomically with its data fsynced, but the rename not forced to disk: after a
/// power cut the old contents or the new ones, never a torn file (what Docker's atomic writer
/// gives). For updates of a record that already exists, where either version is a valid state.
pub fn write_atomic_update(path: &Path, data: &[u8]) -> io::Result<()> {
    PreparedWrite::new(path, data, Flush::Data)?.commit()
}

/// Replaces `path` atomically, nothing fsynced: whole against the kill of any process (the page
/// cache outlives it), not against a power cut. For files read back only within the same boot,
/// about processes that a power cut ends anyway.
pub fn write_atomic_volatile(path: &Path, data: &[u8]) -> io::Result<()> {
    PreparedWrite::new(path, data, Flush::Nothing)?.commit()
}

/// How far an atomic write must survive (see the `write_atomic*` functions).
#[derive(PartialEq, Clone, Copy)]
pub enum Flush {
    /// Data, rename and directory fsynced (`write_atomic`).
    DataAndName,
    /// Data fsynced (`write_atomic_update`).
    Data,
    /// Nothing (`write_atomic_volatile`).
    Nothing,
}

/// An atomic write in two steps: the temporary file written (and fsynced, as `flush` asks),
/// then, with [`commit`](PreparedWrite::commit), renamed over `path` (and the directory
/// fsynced). The slow first step can run while the caller does what must come before the file
/// appears. Dropped uncommitted, the temporary file goes.
pub struct PreparedWrite {
    tmp: PathBuf,
    path: PathBuf,
    flush: Flush,
    committed: bool,
}

impl PreparedWrite {
    pub fn new(path: &Path, data: &[u8], flush: Flush) -> io::Result<PreparedWrite> {
        use std::io::Write;
        let dir = path.parent().ok_or_else(|| io::Error::other("path has no parent"))?;
        let tmp = dir.join(format!(".{}{ATOMIC_TEMP_MARK}{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("f"), std::process::id()));
        let prepared = PreparedWrite { tmp, path: path.to_path_buf(), flush, committed: false };
        if flush != Flush::Nothing {
            crate::durable::step_at("write", path);
        }
        let mut f = std::fs::File::create(&prepared.tmp)?;
        f.write_all(data)?;
        if flush != Flush::Nothing {
            crate::durable::fsync(&f)?;
        }
        Ok(prepared)
    }

    pub fn commit(mut self) -> io::Result<()> {
        if self.flush != Flush::Nothing {
            crate::durable::step_at("rename", &self.path);
        }
        std::fs::rename(&self.tmp, &self.path)?;
        self.committed = true;
        if self.flush == Flush::DataAndName {
            if let Some(dir) = self.path.parent() {
                let _ = crate::durable::fsync_dir(dir);
            }
        }
        Ok(())
    }
}

impl Drop for PreparedWrite {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

const ATOMIC_TEMP_MARK: &str = ".tmp";

/// Whether `name` is the temporary file of a [`write_atomic`] that a crash interrupted.
pub fn is_atomic_write_temp(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with('.') && name.rsplit_once(ATOMIC_TEMP_MARK).is_some_and(|(base, pid)| base.len() > 1 && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Seconds and nanoseconds since the epoch, formatted as RFC 3339 with nanoseconds in UTC,
/// the way Docker and runc print times.
pub fn rfc3339_nanos(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (y, mo, da, h, mi, s) = civil_from_unix(secs);
    format!("{y:04}-{mo:02}-{da:02}T{h:02}:{mi:02}:{s:02}.{:09}Z", d.subsec_nanos())
}

/// RFC 3339 in UTC to the second (`2024-01-02T03:04:05Z`), Go's `time.RFC3339` of a UTC time.
pub fn rfc3339_seconds(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let (y, mo, da, h, mi, s) = civil_from_unix(secs);
    format!("{y:04}-{mo:02}-{da:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Parses what [`rfc3339_nanos`] prints (and plain `Z` times without fractions) back to a time.
pub fn parse_rfc3339(s: &str) -> Option<std::time::SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    let mut nanos = 0u32;
    let rest = &s[19..];
    let rest = if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac.chars().take_while(|c| c.is_ascii_digit()).collect();
        let padded = format!("{:0<9}", &digits[..digits.len().min(9)]);
        nanos = padded.parse().ok()?;
        &frac[digits.len()..]
    } else {
        rest
    };
    let offset = match rest {
        "Z" | "" => 0,
        o if o.len() == 6 => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o[1..3].parse::<i64>().ok()? * 3600 + o[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86400 + h * 3600 + mi * 60 + se - offset;
    if secs < 0 {
        return Some(std::time::UNIX_EPOCH);
    }
    Some(std::time::UNIX_EPOCH + std::time::Duration::new(secs as u64, nanos))
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_unix(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let z = days + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (y, m, d, (rem / 3600) as u32, ((rem % 3600) / 60) as u32, (rem % 60) as u32)
}

/// glibc gives each thread that allocates an arena of its own, and what a thread frees stays
/// in its arena: dockerd's threads (listeners, requests, DNS, restarts) held ~1 MiB idle that
/// way (measured: one arena took dockerd's idle Rss down by 0.9 MiB). Its allocations are
/// few and small. Call it before any other thread exists.
pub fn one_malloc_arena() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets a malloc tunable; the caller has no other thread yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// An errno in Go's words (`no such file or directory`): Docker's and runc's messages carry
/// Go's strerror texts, which start in lower case.
pub fn go_errno_text(e: nix::errno::Errno) -> String {
    let text = e.desc();
    let mut chars = text.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

/// An I/O error in Go's words: its errno's text, or the error's own text when it has none.
pub fn go_error_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => go_errno_text(nix::errno::Errno::from_raw(code)),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 123_456_789);
        let s = rfc3339_nanos(t);
        assert_eq!(s, "2023-11-14T22:13:20.123456789Z");
        assert_eq!(parse_rfc3339(&s), Some(t));
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), Some(std::time::UNIX_EPOCH));
    }

    #[test]
    fn long_socket_paths_work() {
        let dir = std::env::temp_dir().join(format!("dockbox-sock-{}-{}", std::process::id(), "x".repeat(120)));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        assert!(path.as_os_str().len() > SUN_PATH_MAX);
        let l = bind_unix(&path).unwrap();
        let _c = connect_unix(&path).unwrap();
        let _ = l.accept().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
