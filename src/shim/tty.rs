//! A terminal task's pty, held by the shim: the runtime sends the master over a console
//! socket the shim listens on, and the shim's poll loop copies stdin FIFO → master and
//! master → stdout FIFO. Only terminal tasks have one; other tasks copy nothing.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

pub struct Tty {
    master: OwnedFd,
    /// False once the container's side is closed everywhere (reads give EIO).
    master_open: bool,
    stdin: Option<File>,
    stdout: Option<File>,
}

/// The console socket the runtime is told about (`--console-socket`), before `create`.
pub struct ConsoleSocket {
    pub path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    pub fn bind(workdir: &Path) -> std::io::Result<ConsoleSocket> {
        let path = workdir.join("console.sock");
        let _ = std::fs::remove_file(&path);
        let listener = crate::sys::bind_unix(&path)?;
        Ok(ConsoleSocket { path, listener })
    }

    /// After a successful `create`: the runtime has connected and sent the master already
    /// (it does so before reporting ready), so this does not block.
    pub fn receive(self, stdin: Option<&str>, stdout: Option<&str>) -> std::io::Result<Tty> {
        self.listener.set_nonblocking(true)?;
        let (conn, _) = self.listener.accept()?;
        let (master, _name) = crate::runc::console::recv_fd(conn.as_raw_fd())?;
        let _ = std::fs::remove_file(&self.path);
        let stdin = match stdin {
            Some(p) => Some(OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC).open(p)?),
            None => None,
        };
        // The shim holds a read end of the FIFO too, so this open does not block.
        let stdout = match stdout {
            Some(p) => Some(OpenOptions::new().write(true).custom_flags(libc::O_CLOEXEC).open(p)?),
            None => None,
        };
        Ok(Tty { master, master_open: true, stdin, stdout })
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Tty {
    /// Appends the descriptors to poll; returns how many were added.
    pub fn poll_fds(&self, out: &mut Vec<libc::pollfd>) -> usize {
        let before = out.len();
        if self.master_open {
            out.push(libc::pollfd { fd: self.master.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        }
        if let Some(s) = &self.stdin {
            out.push(libc::pollfd { fd: s.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        }
        out.len() - before
    }

    /// Copies what the poll found ready.
    pub fn pump(&mut self, ready: &[libc::pollfd]) {
        let mut buf = [0u8; 8192];
        for p in ready.iter().filter(|p| p.revents != 0) {
            if p.fd == self.master.as_raw_fd() {
                match nix::unistd::read(p.fd, &mut buf) {
                    // The container's side is closed everywhere: dropping our write end lets
                    // dockerd's reader see the end of the output now, not at the shim's exit.
                    Ok(0) | Err(nix::errno::Errno::EIO) => {
                        self.master_open = false;
                        self.stdout = None;
                    }
                    Err(_) => {}
                    Ok(n) => {
                        if let Some(out) = &mut self.stdout {
                            // Blocking: dockerd drains the FIFO; losing tty output is worse.
                            if out.write_all(&buf[..n]).is_err() {
                                self.stdout = None;
                            }
                        }
                    }
                }
            } else {
                match nix::unistd::read(p.fd, &mut buf) {
                    Ok(0) => self.stdin = None,
                    Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => {}
                    Err(_) => self.stdin = None,
                    Ok(n) => {
                        let mut rest = &buf[..n];
                        while !rest.is_empty() {
                            match nix::unistd::write(&self.master, rest) {
                                Ok(k) => rest = &rest[k..],
                                Err(nix::errno::Errno::EINTR) => {}
                                Err(_) => break,
                            }
                        }
                    }
                }
            }
        }
    }

    /// `close_stdin`: no more input is copied.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// False once the container's side is closed everywhere: nothing more will come out.
    pub fn is_master_open(&self) -> bool {
        self.master_open
    }

    pub fn resize(&self, height: u32, width: u32) -> Result<(), String> {
        crate::runc::console::set_size(self.master.as_raw_fd(), height, width)
    }
}
