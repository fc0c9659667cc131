//! The container's terminal: a pty allocated from the container's own devpts (so the slave
//! is `/dev/pts/N` inside it), made the process's stdio and controlling terminal, with the
//! master sent to the caller over `--console-socket` (SCM_RIGHTS, payload = the slave's name),
//! as runc does. Also the receiving side, for the shim and for `runc run` in the foreground.

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

type Result<T> = std::result::Result<T, String>;

/// Connects to the caller's console socket (done by runc before the container's root changes).
pub fn connect(path: &Path) -> Result<OwnedFd> {
    let stream = crate::sys::connect_unix(path).map_err(|e| format!("dial unix {}: {e}", path.display()))?;
    Ok(OwnedFd::from(stream))
}

/// Sends `fd` with `name` as the payload over a connected unix socket.
pub fn send_fd(socket: &OwnedFd, name: &str, fd: RawFd) -> Result<()> {
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(socket.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None).map_err(|e| format!("send console fd: {}", e.desc()))?;
    Ok(())
}

/// Receives one descriptor and its name from a console socket connection.
pub fn recv_fd(socket: RawFd) -> std::io::Result<(OwnedFd, String)> {
    let mut buf = [0u8; 4096];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(socket, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    let mut received = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                // SAFETY: the kernel installed this descriptor for us; nothing else owns it.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                if received.is_none() {
                    received = Some(owned);
                }
            }
        }
    }
    let n = msg.bytes;
    let fd = received.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no file descriptor in console message"))?;
    Ok((fd, String::from_utf8_lossy(&buf[..n]).into_owned()))
}

/// Sets a terminal's window size.
pub fn set_size(fd: RawFd, height: u32, width: u32) -> Result<()> {
    let ws = libc::winsize { ws_row: height as u16, ws_col: width as u16, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads the winsize we pass, which outlives the call.
    if unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) } != 0 {
        return Err(format!("set console size: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

fn open(path: &str, flags: i32) -> Result<OwnedFd> {
    let c = std::ffi::CString::new(path).map_err(|_| "NUL in path".to_string())?;
    // SAFETY: open reads a NUL-terminated path and returns a new descriptor or -1.
    let fd = unsafe { libc::open64(c.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NOCTTY) };
    if fd < 0 {
        return Err(format!("open {path}: {}", super::state::errno_text(&std::io::Error::last_os_error())));
    }
    // SAFETY: open returned a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// In the container (after its root is `/`, so `/dev/ptmx` is its own devpts): allocates the
/// pty, sends the master to `socket`, and makes the slave stdio and controlling terminal of
/// this process (which must be a session leader). The slave is given to `uid`/`gid`.
pub fn setup_in_container(socket: &OwnedFd, size: Option<&crate::oci::ConsoleSize>) -> Result<()> {
    let master = open("/dev/ptmx", libc::O_RDWR)?;
    let unlock: libc::c_int = 0;
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCSPTLCK reads an int and TIOCGPTN writes one; both outlive the calls.
    unsafe {
        if libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) != 0 {
            return Err(format!("unlockpt: {}", std::io::Error::last_os_error()));
        }
        if libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) != 0 {
            return Err(format!("ptsname: {}", std::io::Error::last_os_error()));
        }
    }
    let name = format!("/dev/pts/{number}");
    let slave = open(&name, libc::O_RDWR)?;
    if let Some(s) = size.filter(|s| s.height > 0 || s.width > 0) {
        set_size(slave.as_raw_fd(), s.height, s.width)?;
    }
    // Its group and mode are devpts's (`gid=`, `mode=`); its owner is set with the rest of
    // the stdio, just before the switch to the process's user (`fix_stdio_owner`).
    send_fd(socket, &name, master.as_raw_fd())?;
    drop(master);
    for target in 0..3 {
        nix::unistd::dup2(slave.as_raw_fd(), target).map_err(|e| format!("dup2 console: {}", e.desc()))?;
    }
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal).
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } != 0 {
        return Err(format!("set controlling terminal: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Makes the process's user the owner of its stdio (the pty, or pipes and files), keeping
/// each one's group, as runc does before it switches to that user; /dev/null is left alone,
/// and so is stdio whose owner or group the container's user namespace cannot map.
pub fn fix_stdio_owner(uid: u32) -> Result<()> {
    let null = crate::fs64::stat("/dev/null").map_err(|e| format!("stat /dev/null: {}", e.desc()))?;
    for fd in 0..3 {
        let st = match crate::fs64::fstat(fd) {
            Ok(st) => st,
            Err(nix::errno::Errno::EBADF) => continue,
            Err(e) => return Err(format!("fstat stdio {fd}: {}", e.desc())),
        };
        if st.st_rdev == null.st_rdev && (st.st_mode & libc::S_IFMT) == libc::S_IFCHR {
            continue;
        }
        // SAFETY: fchown takes a descriptor and two ids and touches no memory of ours.
        if unsafe { libc::fchown(fd, uid, st.st_gid) } != 0 {
            let e = std::io::Error::last_os_error();
            if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::EPERM)) {
                return Err(format!("fchown stdio {fd}: {e}"));
            }
        }
    }
    Ok(())
}

/// runc's checks of `terminal` against `--console-socket` and detaching.
pub fn check_options(terminal: bool, console_socket: bool, detach: bool) -> Result<()> {
    if terminal && detach && !console_socket {
        return Err("cannot allocate tty if runc will detach without setting console socket".into());
    }
    if !terminal && console_socket {
        return Err("cannot use console socket if runc will not detach or allocate tty".into());
    }
    Ok(())
}

/// A socketpair for the foreground case, where runc receives the master itself.
pub fn socketpair() -> Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType};
    nix::sys::socket::socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC).map_err(|e| format!("socketpair: {}", e.desc()))
}

/// Whether the bundle's config.json asks for a terminal (false when it cannot be read: the
/// create that follows reports that).
pub fn spec_wants_terminal(bundle: &Path) -> bool {
    crate::oci::Spec::load(bundle).ok().and_then(|s| s.process).is_some_and(|p| p.terminal)
}

/// runc's own stdio proxied to a pty master (`run`/`exec` in the foreground with a tty),
/// pumped from runc's wait loop (no threads: after unsharing a pid namespace runc cannot
/// make any). Our terminal goes raw meanwhile and its size is given to the pty.
pub struct Proxy {
    master: OwnedFd,
    stdin_open: bool,
    saved: Option<nix::sys::termios::Termios>,
}

impl Proxy {
    pub fn start(master: OwnedFd) -> Proxy {
        use nix::sys::termios;
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(&stdin).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            termios::cfmakeraw(&mut raw);
            let _ = termios::tcsetattr(&stdin, termios::SetArg::TCSANOW, &raw);
            // SAFETY: TIOCGWINSZ writes a winsize, which outlives the call.
            let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            if unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } == 0 {
                let _ = set_size(master.as_raw_fd(), ws.ws_row as u32, ws.ws_col as u32);
            }
        }
        Proxy { master, stdin_open: true, saved }
    }

    /// The descriptors to poll for input: the master, and our stdin while it is open.
    pub fn poll_fds(&self) -> Vec<libc::pollfd> {
        let mut v = vec![libc::pollfd { fd: self.master.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        if self.stdin_open {
            v.push(libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 });
        }
        v
    }

    /// Copies what `poll` found ready (`fds` as returned by [`Proxy::poll_fds`], polled).
    pub fn pump(&mut self, fds: &[libc::pollfd]) {
        let mut buf = [0u8; 4096];
        for p in fds.iter().filter(|p| p.revents != 0) {
            if p.fd == 0 {
                match nix::unistd::read(0, &mut buf) {
                    Ok(0) | Err(_) => self.stdin_open = false,
                    Ok(n) => {
                        let _ = write_all(self.master.as_raw_fd(), &buf[..n]);
                    }
                }
            } else if let Ok(n) = nix::unistd::read(self.master.as_raw_fd(), &mut buf) {
                let _ = write_all(1, &buf[..n]);
            }
        }
    }

    /// After the process exited: copies the output still in the pty (until the slave is
    /// closed everywhere, or output pauses) and restores our terminal.
    pub fn finish(self) {
        let mut buf = [0u8; 4096];
        loop {
            let mut p = [libc::pollfd { fd: self.master.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
            // SAFETY: p is a live array of one pollfd.
            if unsafe { libc::poll(p.as_mut_ptr(), 1, 200) } <= 0 {
                break;
            }
            match nix::unistd::read(self.master.as_raw_fd(), &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if write_all(1, &buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        if let Some(t) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, t);
        }
    }
}

/// Waits for `pid` (runc's child or adoptee), forwarding the signals `sigfd` receives to it and
/// pumping `proxy`; returns its status (128+N when killed by signal N). Other children that
/// exit meanwhile (orphans runc adopted as a subreaper) are reaped.
pub fn wait_forwarding(pid: nix::unistd::Pid, sigfd: &nix::sys::signalfd::SignalFd, mut proxy: Option<&mut Proxy>) -> std::result::Result<i32, String> {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p == pid => return Ok(code),
            Ok(WaitStatus::Signaled(p, sig, _)) if p == pid => return Ok(128 + sig as i32),
            Ok(WaitStatus::StillAlive) => {}
            Err(nix::errno::Errno::ECHILD) => return Err(format!("process {pid} is not runc's child")),
            Err(_) => {}
            Ok(_) => continue,
        }
        let mut fds = vec![libc::pollfd { fd: sigfd.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        if let Some(p) = proxy.as_deref() {
            fds.extend(p.poll_fds());
        }
        // SAFETY: fds is a live, correctly sized array of pollfd structs.
        if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) } < 0 {
            continue;
        }
        if let Some(p) = proxy.as_deref_mut() {
            p.pump(&fds[1..]);
        }
        if fds[0].revents != 0 {
            match sigfd.read_signal() {
                Ok(Some(info)) if info.ssi_signo as i32 != libc::SIGCHLD => {
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::try_from(info.ssi_signo as i32).ok());
                }
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(format!("read signalfd: {}", e.desc())),
            }
        }
    }
}

fn write_all(fd: RawFd, mut data: &[u8]) -> nix::Result<()> {
    // SAFETY: the descriptor stays open for the duration of this call (owned by the caller).
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    while !data.is_empty() {
        match nix::unistd::write(borrowed, data) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(n) => data = &data[n..],
        }
    }
    Ok(())
}
