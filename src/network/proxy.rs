//! Starting and stopping the userland proxy of one published port, as dockerd does: the
//! program (this executable as `docker-proxy`, or dockerd's `--userland-proxy-path`) runs with
//! Docker's arguments and a pipe as fd 3, on which it says `0\n` once it listens or
//! `1\n<error>` before it exits. The proxy gets SIGTERM when dockerd dies
//! (PR_SET_PDEATHSIG); that signal follows the *thread* that forked, so every proxy is forked
//! by one thread that lives as long as the daemon.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long dockerd waits for the proxy to say it listens (Docker's 16 s).
pub const START_TIMEOUT: Duration = Duration::from_secs(16);
/// How long [`stop`] waits after SIGTERM before it kills.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

pub use super::Proto;

/// One published port: what the proxy listens on and where it forwards.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mapping {
    pub proto: Proto,
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_ip: IpAddr,
    pub container_port: u16,
}

/// Docker's arguments for the proxy of `m` (after argv[0]).
pub fn args(m: &Mapping) -> Vec<String> {
    vec![
        "-proto".into(),
        m.proto.name().into(),
        "-host-ip".into(),
        m.host_ip.to_string(),
        "-host-port".into(),
        m.host_port.to_string(),
        "-container-ip".into(),
        m.container_ip.to_string(),
        "-container-port".into(),
        m.container_port.to_string(),
    ]
}

/// The default program: this executable, which runs the proxy when named `docker-proxy`.
pub fn default_program() -> PathBuf {
    crate::sys::self_exe()
}

/// Starts the proxy of `m` and waits until it listens. The error is Docker's text
/// (`Error starting userland proxy: listen tcp4 0.0.0.0:80: bind: address already in use`);
/// on any error no process is left.
pub fn start(program: &Path, m: &Mapping) -> Result<Child, String> {
    let (ready_r, ready_w) = pipe().map_err(|e| format!("proxy unable to open os.Pipe {e}"))?;
    let mut child = spawn(program, args(m), ready_w).map_err(|e| format!("fork/exec {}: {}", program.display(), go_errno(&e)))?;
    match read_readiness(&ready_r, Instant::now() + START_TIMEOUT) {
        Readiness::Ready => Ok(child),
        outcome => {
            let _ = child.kill();
            let status = child.wait();
            Err(match outcome {
                Readiness::Failed(text) if text.is_empty() => match status {
                    Ok(s) if s.code().is_some() || s.signal().is_some() => format!("Error starting userland proxy: {} {}", program.display(), describe(s)),
                    _ => "Error starting userland proxy: ".to_string(),
                },
                Readiness::Failed(text) => format!("Error starting userland proxy: {text}"),
                _ => "Timed out proxy starting the userland proxy".to_string(),
            })
        }
    }
}

/// Stops a proxy [`start`] returned: SIGTERM, then SIGKILL if it has not exited within
/// [`STOP_TIMEOUT`]; reaps it.
pub fn stop(mut child: Child) -> io::Result<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Ok(status);
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + STOP_TIMEOUT;
    let mut pause = Duration::from_millis(1);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait()
}

/// Go's text for how a process ended (`exit status 1`, `signal: killed`).
fn describe(s: ExitStatus) -> String {
    match (s.code(), s.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("signal: {}", signal_name(sig)),
        _ => s.to_string(),
    }
}

fn signal_name(sig: i32) -> String {
    match nix::sys::signal::Signal::try_from(sig) {
        Ok(nix::sys::signal::Signal::SIGKILL) => "killed".into(),
        Ok(nix::sys::signal::Signal::SIGTERM) => "terminated".into(),
        Ok(s) => s.as_str().to_string(),
        Err(_) => sig.to_string(),
    }
}

enum Readiness {
    Ready,
    /// What followed the status line (empty when the proxy said nothing).
    Failed(String),
    TimedOut,
}

/// Reads the proxy's status from the pipe: `0\n`, or anything else followed by its error.
fn read_readiness(pipe: &OwnedFd, deadline: Instant) -> Readiness {
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        if got.len() >= 2 && &got[..2] == b"0\n" {
            return Readiness::Ready;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Readiness::TimedOut;
        }
        let mut pfd = libc::pollfd { fd: pipe.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: poll reads and writes one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, left.as_millis().clamp(1, i32::MAX as u128) as libc::c_int) };
        if rc < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if rc <= 0 {
            continue;
        }
        // SAFETY: read writes at most `buf.len()` bytes into the valid buffer.
        let n = unsafe { libc::read(pipe.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Readiness::Failed(String::new());
        }
        if n == 0 {
            // EOF: whatever came after the status line is the error.
            let text = if got.len() > 2 { String::from_utf8_lossy(&got[2..]).into_owned() } else { String::new() };
            return Readiness::Failed(text);
        }
        got.extend_from_slice(&buf[..n as usize]);
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the valid array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A proxy to fork, and where to send the result.
struct SpawnRequest {
    program: PathBuf,
    args: Vec<String>,
    ready_w: OwnedFd,
    reply: mpsc::Sender<io::Result<Child>>,
}

/// Forks the proxy on the spawner thread (see the module's comment), which stays for the
/// daemon's life; the write end of the readiness pipe is closed in this process once forked.
fn spawn(program: &Path, args: Vec<String>, ready_w: OwnedFd) -> io::Result<Child> {
    static SPAWNER: OnceLock<Option<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("proxy-spawner".into())
            .stack_size(128 << 10)
            .spawn(move || {
                for req in rx {
                    let child = spawn_here(&req.program, &req.args, &req.ready_w);
                    drop(req.ready_w);
                    let _ = req.reply.send(child);
                }
            })
            .ok()
            .map(|_| tx)
    });
    let spawner = spawner.as_ref().ok_or_else(|| io::Error::other("cannot start the proxy spawner thread"))?;
    let (reply, answer) = mpsc::channel();
    spawner.send(SpawnRequest { program: program.to_path_buf(), args, ready_w, reply }).map_err(|_| io::Error::other("the proxy spawner thread is gone"))?;
    answer.recv().map_err(|_| io::Error::other("the proxy spawner thread is gone"))?
}

fn spawn_here(program: &Path, args: &[String], ready_w: &OwnedFd) -> io::Result<Child> {
    // Our own executable dispatches on argv[0]; Docker's proxy is named by its path.
    let arg0 = if program.file_name().is_some_and(|n| n == "docker-proxy") { program.as_os_str().to_owned() } else { "docker-proxy".into() };
    let mut cmd = Command::new(program);
    cmd.arg0(arg0).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    crate::sys::with_default_signals(&mut cmd);
    let ready = ready_w.as_raw_fd();
    // SAFETY: getpid is a plain syscall.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs between fork and exec and calls only dup2, fcntl, prctl and
    // getppid, which are async-signal-safe, on integers.
    unsafe {
        cmd.pre_exec(move || {
            // fd 3 is the readiness pipe; dup2 leaves the copy without close-on-exec.
            if ready == 3 {
                libc::fcntl(3, libc::F_SETFD, 0);
            } else if libc::dup2(ready, 3) < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The daemon died before the signal was asked for: nobody would send it.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        })
    };
    cmd.spawn()
}

/// Go's text for an errno (`no such file or directory`, `address already in use`).
pub fn go_errno(err: &io::Error) -> String {
    let Some(code) = err.raw_os_error() else { return err.to_string() };
    let text = io::Error::from_raw_os_error(code).to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_arguments() {
        let m = Mapping { proto: Proto::Udp, host_ip: "::".parse().unwrap(), host_port: 53, container_ip: "10.9.0.2".parse().unwrap(), container_port: 5353 };
        assert_eq!(args(&m).join(" "), "-proto udp -host-ip :: -host-port 53 -container-ip 10.9.0.2 -container-port 5353");
        assert_eq!("sctp".parse::<Proto>(), Ok(Proto::Sctp));
        assert!("icmp".parse::<Proto>().is_err());
    }
}
