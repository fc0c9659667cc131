//! SCMP_ACT_NOTIFY, as runc does it (the OCI seccomp agent protocol). The process that loads
//! a filter with notified calls gets the filter's listener; it writes the descriptor's number
//! to runc on its report pipe and waits on its go-ahead pipe. runc copies the descriptor out
//! of it with pidfd_getfd, lets it go on, and sends the copy, with the container's process
//! state as JSON, over the unix socket at the profile's `listenerPath` (SCM_RIGHTS). Before
//! the go-ahead the process makes only write(2) and read(2), and a filter may not notify
//! write: it cannot wait on an agent that has no listener yet.

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// First byte of the report line that hands a listener over: `S<fd>\n`.
pub const LISTENER: char = 'S';

/// The pipes the process that loads the filter talks to runc on.
pub struct Handoff<'a> {
    /// The report pipe to runc.
    pub report: &'a OwnedFd,
    /// Read end of runc's go-ahead.
    pub ack: &'a OwnedFd,
}

impl Handoff<'_> {
    /// Hands `listener` to runc and waits until runc holds its copy.
    pub fn give(&self, listener: OwnedFd) -> Result<(), String> {
        let line = format!("{LISTENER}{}\n", listener.as_raw_fd());
        nix::unistd::write(self.report, line.as_bytes()).map_err(|e| format!("send seccomp listener to runc: {}", e.desc()))?;
        let mut byte = [0u8; 1];
        loop {
            match nix::unistd::read(self.ack.as_raw_fd(), &mut byte) {
                Ok(1) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                _ => return Err("runc did not take the seccomp listener".into()),
            }
        }
    }
}

/// If `report` holds a complete `S<fd>\n` line, takes it out and returns the number.
pub fn take_listener_line(report: &mut Vec<u8>) -> Option<i32> {
    let start = (0..report.len()).find(|&i| report[i] == LISTENER as u8 && (i == 0 || report[i - 1] == b'\n'))?;
    let end = start + report[start..].iter().position(|&b| b == b'\n')?;
    let fd = std::str::from_utf8(&report[start + 1..end]).ok()?.parse().ok();
    report.drain(start..=end);
    fd
}

/// runc's copy of descriptor `fd` of process `pid`.
pub fn copy_from(pid: i32, fd: i32) -> Result<OwnedFd, String> {
    // SAFETY: pidfd_open takes a pid and flags; a non-negative result is a new descriptor.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        return Err(format!("pidfd_open: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: as above, the descriptor is ours alone.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    // SAFETY: pidfd_getfd takes a pidfd, a descriptor number in that process and flags; a
    // non-negative result is a new descriptor of ours.
    let copy = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if copy < 0 {
        return Err(format!("pidfd_getfd: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: as above.
    Ok(unsafe { OwnedFd::from_raw_fd(copy as i32) })
}

/// The process state an agent gets (`containerProcessState` of the OCI runtime spec):
/// `pid` is the process the filter is on, `state` the container's.
pub fn process_state(pid: i32, metadata: Option<&str>, state: &crate::oci::State) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": state.oci_version,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": metadata.unwrap_or(""),
        "state": state,
    })
}

/// Sends `listener` and `state` to the agent listening at `path`.
pub fn send(path: &str, state: &serde_json::Value, listener: &OwnedFd) -> Result<(), String> {
    let socket = crate::sys::connect_unix(std::path::Path::new(path)).map_err(|e| format!("failed to connect with seccomp agent specified in the seccomp profile: {e}"))?;
    let body = serde_json::to_vec(state).unwrap_or_default();
    let fds = [listener.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(&body)];
    sendmsg::<()>(socket.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None).map_err(|e| format!("cannot send seccomp fd to {path}: {}", e.desc()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_lines_come_out_of_the_report_whole() {
        let mut r = b"P42\nS7".to_vec();
        assert_eq!(take_listener_line(&mut r), None, "not complete yet");
        r.extend_from_slice(b"\n");
        assert_eq!(take_listener_line(&mut r), Some(7));
        assert_eq!(r, b"P42\n");
        let mut r = b"S3\nP9\n".to_vec();
        assert_eq!(take_listener_line(&mut r), Some(3));
        assert_eq!(r, b"P9\n");
        let mut r = b"Eno S5\n".to_vec();
        assert_eq!(take_listener_line(&mut r), None, "an S inside a line is not a hand-over");
    }
}
