//! `--debug` lines from the container's setup stages, as runc has its `nsexec` and `init`
//! messages: the init of `create`/`run` and the processes of `exec` write short lines to a
//! pipe that runc made, and runc forwards each as a `debug` record to its log (stderr or
//! `--log`, text or json). Without `--debug` there is no pipe and the stages write nothing,
//! so the hot path pays nothing.

use super::Global;
use std::os::fd::{AsRawFd, OwnedFd};

/// Both ends of the debug pipe; the write end goes to the child stages.
pub struct DebugPipe {
    pub read: OwnedFd,
    pub write: OwnedFd,
}

/// A pipe when `--debug` is on, None otherwise (or when no pipe can be had: debug lines are
/// never worth failing for).
pub fn pipe(g: &Global) -> Option<DebugPipe> {
    if !g.debug {
        return None;
    }
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK).ok()?;
    Some(DebugPipe { read, write })
}

/// In a child stage: one line `stage[pid]: msg`, pid as the stage sees its own. `msg` is
/// built only when there is a pipe. A full pipe drops the line rather than block the setup.
pub fn line(fd: Option<&OwnedFd>, stage: &str, msg: impl FnOnce() -> String) {
    let Some(fd) = fd else { return };
    let text = format!("{stage}[{}]: {}\n", std::process::id(), msg().replace('\n', " "));
    let _ = nix::unistd::write(fd, text.as_bytes());
}

/// In runc: forwards every line waiting in the pipe as a debug record.
pub fn forward(g: &Global, read: &OwnedFd) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match nix::unistd::read(read.as_raw_fd(), &mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    for l in String::from_utf8_lossy(&buf).lines().filter(|l| !l.is_empty()) {
        g.log("debug", l);
    }
}
