//! Network namespaces made ahead of time.
//!
//! A new network namespace costs about 0.8 ms of kernel work (every network subsystem sets up
//! its per-namespace state), which runc's `unshare` would pay inside each container start.
//! dockerd keeps one ready instead: made on a thread of its own (unshare(CLONE_NEWNET) moves
//! only the calling thread), its loopback brought up (what runc does in a namespace it makes),
//! and held by a descriptor. The spec names it as the namespace to join by that descriptor's
//! path, `/proc/<dockerd>/fd/<n>`; once the container's init has joined it the descriptor is
//! closed, and the container's processes keep the namespace alive. Nothing is mounted and
//! nothing outlives dockerd.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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
                    Err(e) => eprintln!("dockerd: making a network namespace ahead: {e}"),
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
