//! A container's stdin as dockerd holds it: the write end of the current run's `init-stdin`
//! FIFO, which every attached client writes into. A client may attach (and type) before the
//! container starts, as `docker run -i` does: its input waits here until a run's FIFO is open.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Opens the write end of a process's stdin FIFO (a container's or an exec's) without
/// waiting for a reader: with the process's shim holding the read end the open succeeds at
/// once, and with the shim gone it fails rather than hang. Writes block from here on: a
/// process that reads slowly holds its clients back.
pub fn open_fifo_writer(path: &Path) -> io::Result<File> {
    let f = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC).open(path)?;
    nix::fcntl::fcntl(f.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty())).map_err(io::Error::from)?;
    Ok(f)
}

#[derive(Default)]
pub struct Input {
    fifo: Mutex<Option<Arc<File>>>,
    changed: Condvar,
}

/// How often a writer waiting for a run checks whether its attach has ended.
const CANCEL_POLL: Duration = Duration::from_millis(100);

impl Input {
    fn lock(&self) -> MutexGuard<'_, Option<Arc<File>>> {
        self.fifo.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a run's stdin FIFO for writing: call once the task exists (the shim holds a
    /// read end, so the open neither blocks nor fails; should the shim be gone it fails at
    /// once rather than hang).
    pub fn open(&self, path: &Path) -> io::Result<()> {
        let f = open_fifo_writer(path)?;
        *self.lock() = Some(Arc::new(f));
        self.changed.notify_all();
        Ok(())
    }

    /// The run ended: input waits for the next one.
    pub fn clear(&self) {
        *self.lock() = None;
    }

    /// The current run's FIFO, waiting for a run to start unless `cancelled` turns true.
    fn current(&self, cancelled: &AtomicBool) -> Option<Arc<File>> {
        let mut guard = self.lock();
        loop {
            if let Some(f) = guard.as_ref() {
                return Some(f.clone());
            }
            if cancelled.load(Ordering::Relaxed) {
                return None;
            }
            guard = self.changed.wait_timeout(guard, CANCEL_POLL).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Passes `data` to the container; false when the attach ended first or the container
    /// no longer reads its stdin.
    pub fn write(&self, data: &[u8], cancelled: &AtomicBool) -> bool {
        match self.current(cancelled) {
            Some(f) => (&*f).write_all(data).is_ok(),
            None => false,
        }
    }

    /// `StdinOnce`: the client's input ended, so the run's stdin ends too. dockerd lets go of
    /// its write end (the caller has the shim let go of its own). Returns whether a run was
    /// there to close.
    pub fn close(&self, cancelled: &AtomicBool) -> bool {
        if self.current(cancelled).is_none() {
            return false;
        }
        self.clear();
        true
    }
}
