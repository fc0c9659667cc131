//! Network namespaces made ahead of time.
//!
//! A new network namespace costs about 0.8 ms of kernel work (every network subsystem sets up
//! its per-namespace state), which runc's `unshare` would pay inside each container start.
//! dockerd keeps one ready instead: made on a thread of its own (unshare(CLONE_NEWNET) moves
//! only the calling thread), its loopback brought up (what runc does in a namespace it makes),
//! and held by a descriptor. The spec names it as the namespace to join by that descriptor's
//! path, `/proc/<dockerd>/fd/<n>`; once the container's init has joined it the descriptor is
//! closed, and the container's processes keep the namespace alive. The pool mounts nothing
//! and nothing of it outlives dockerd.
//!
//! A namespace others must open by path (`nsenter --net=FILE`, real containerd and runc) is
//! bind-mounted onto a file ([`Netns::bind`], as `ip netns add` and Docker's
//! `/var/run/docker/netns/<id>`): it then lives on through the mount until [`unbind`].
//! Work inside a namespace runs on a fresh thread that joined it ([`run_in`]), never on a
//! thread of the caller's, which stays where it was.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Network namespaces made ahead, one kept ready.
pub struct Pool {
    ready: Mutex<Vec<OwnedFd>>,
    refilling: AtomicBool,
}

/// A network namespace taken from the pool; closed when dropped.
pub struct Netns(OwnedFd);

impl Netns {
    /// The path runc opens to join it (good while this value lives).
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/fd/{}", std::process::id(), self.0.as_raw_fd()))
    }

    /// Its descriptor, for [`run_in`], `Netlink::open_in` or IFLA_NET_NS_FD.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }

    /// Bind-mounts the namespace onto a new empty file at `path` (which must not exist); the
    /// namespace then lives on through that file until [`unbind`]. Nothing is left behind
    /// when it fails.
    pub fn bind(self, path: &Path) -> io::Result<()> {
        bind_fd(self.fd(), path)
    }
}

impl From<OwnedFd> for Netns {
    /// A namespace held by a descriptor (of `/proc/.../ns/net` or a bound file).
    fn from(fd: OwnedFd) -> Netns {
        Netns(fd)
    }
}

/// Bind-mounts the namespace `fd` onto a new empty file at `path`.
pub fn bind_fd(fd: BorrowedFd, path: &Path) -> io::Result<()> {
    // The mount point: an empty file, mode 0 as `ip netns add` makes it (nobody writes it).
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o000).open(path)?;
    let source = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    let mounted = nix::mount::mount(Some(&source), path, None::<&str>, nix::mount::MsFlags::MS_BIND, None::<&str>);
    if let Err(e) = mounted {
        let _ = std::fs::remove_file(path);
        return Err(e.into());
    }
    Ok(())
}

/// Undoes [`Netns::bind`]: unmounts (lazily, MNT_DETACH, so a process still inside keeps its
/// namespace) and removes the file. Ok when it is already gone.
pub fn unbind(path: &Path) -> io::Result<()> {
    match nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH) {
        // EINVAL: not a mount point (a bind that never happened, or an earlier unbind that
        // stopped before the removal).
        Ok(()) | Err(nix::errno::Errno::ENOENT) | Err(nix::errno::Errno::EINVAL) => {}
        Err(e) => return Err(e.into()),
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Opens a namespace file (a bound one, or `/proc/<pid>/ns/net`).
pub fn open(path: &Path) -> io::Result<OwnedFd> {
    Ok(std::fs::File::open(path)?.into())
}

/// Runs `f` on a fresh thread that joined the network namespace `netns` (the thread ends
/// with `f`, so no thread of ours is left in another namespace). A panic in `f` goes on in
/// the caller.
pub fn run_in<T: Send>(netns: BorrowedFd, f: impl FnOnce() -> T + Send) -> io::Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| -> io::Result<T> {
                nix::sched::setns(netns, nix::sched::CloneFlags::CLONE_NEWNET)?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// The file of a sysctl: `name` is a path under /proc/sys ("net/ipv4/ip_forward"), or
/// dotted ("net.ipv4.ip_forward"; then no part may hold a dot), or an absolute path.
fn sysctl_path(name: &str) -> PathBuf {
    if name.starts_with('/') {
        PathBuf::from(name)
    } else if name.contains('/') {
        Path::new("/proc/sys").join(name)
    } else {
        Path::new("/proc/sys").join(name.replace('.', "/"))
    }
}

/// Reads a sysctl of the calling thread's network namespace (trailing newline removed).
pub fn sysctl(name: &str) -> io::Result<String> {
    Ok(std::fs::read_to_string(sysctl_path(name))?.trim_end().to_string())
}

/// Sets a sysctl; the net.* ones are those of the calling thread's network namespace.
pub fn set_sysctl(name: &str, value: &str) -> io::Result<()> {
    let path = sysctl_path(name);
    std::fs::write(&path, value).map_err(|e| io::Error::new(e.kind(), format!("setting {}: {e}", path.display())))
}

/// Sets a sysctl of the network namespace `netns`.
pub fn set_sysctl_in(netns: BorrowedFd, name: &str, value: &str) -> io::Result<()> {
    run_in(netns, || set_sysctl(name, value))?
}

impl Pool {
    /// An empty pool, one namespace being made.
    pub fn start() -> Arc<Pool> {
        let pool = Arc::new(Pool { ready: Mutex::new(Vec::new()), refilling: AtomicBool::new(false) });
        pool.refill();
        pool
    }

    /// A ready namespace (made now when none is); another is made in the background.
    pub fn take(self: &Arc<Self>) -> io::Result<Netns> {
        let ready = self.ready.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let fd = match ready {
            Some(fd) => fd,
            None => make()?,
        };
        self.refill();
        Ok(Netns(fd))
    }

    fn refill(self: &Arc<Self>) {
        if self.refilling.swap(true, Ordering::SeqCst) {
            return;
        }
        let pool = self.clone();
        std::thread::spawn(move || {
            if pool.ready.lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
                // This thread is ours alone: it may change its own namespace.
                match make_on_this_thread() {
                    Ok(fd) => pool.ready.lock().unwrap_or_else(|e| e.into_inner()).push(fd),
                    Err(e) => crate::log::warn(&format!("making a network namespace ahead: {e}")),
                }
            }
            pool.refilling.store(false, Ordering::SeqCst);
        });
    }
}

/// A new network namespace with its loopback up, made on a thread of its own.
fn make() -> io::Result<OwnedFd> {
    std::thread::spawn(make_on_this_thread).join().unwrap_or_else(|_| Err(io::Error::other("making a network namespace panicked")))
}

/// Moves the calling thread into a new network namespace (for good) and returns it.
fn make_on_this_thread() -> io::Result<OwnedFd> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
    crate::sys::loopback_up()?;
    Ok(std::fs::File::open("/proc/thread-self/ns/net")?.into())
}
