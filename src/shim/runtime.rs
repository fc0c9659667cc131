//! How the shim runs the OCI runtime: `RUNTIME --root R --log L --log-format json ARGS...`.
//!
//! Most runtimes are executed. When the runtime is this very executable's docker-runc applet
//! (the default), the shim forks and the child enters the applet directly: the same code with
//! the same argv, minus an execve and the start-up of a static binary, on each create, start,
//! kill and delete. That is sound because the shim has one thread (nothing holds a lock across
//! the fork) and the child ends with `_exit`, never returning into the shim. runc's `create`
//! still re-executes itself from its sealed copy before it starts a container
//! (`runc::sealed`), so what enters a container is never this writable file.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

pub struct Runtime {
    path: PathBuf,
    /// argv[0]: lets `-runtime /proc/self/exe`-style paths run our docker-runc applet.
    name: String,
    /// The leading arguments: `--root R --log L --log-format json`.
    global: Vec<String>,
    in_process: bool,
}

/// The runtime's standard error: handed a descriptor, discarded, or captured for a message.
pub enum Stderr {
    To(OwnedFd),
    Null,
    Capture,
}

impl Runtime {
    pub fn new(path: &Path, name: &str, root: &Path, log: &Path) -> Runtime {
        let global = ["--root".into(), root.display().to_string(), "--log".into(), log.display().to_string(), "--log-format".into(), "json".into()].to_vec();
        Runtime { path: path.to_path_buf(), name: name.to_string(), global, in_process: is_own_runc(path, name) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs the runtime with `args` and the given stdio (`None`: /dev/null) and waits for it.
    /// Returns its exit status and, with [`Stderr::Capture`], what it wrote to stderr.
    pub fn run(&self, args: &[&str], stdin: Option<OwnedFd>, stdout: Option<OwnedFd>, stderr: Stderr) -> std::io::Result<(ExitStatus, Vec<u8>)> {
        if self.in_process {
            return self.run_forked(args, stdin, stdout, stderr);
        }
        let mut cmd = Command::new(&self.path);
        cmd.arg0(&self.name).args(&self.global).args(args);
        cmd.stdin(stdin.map(Stdio::from).unwrap_or_else(Stdio::null));
        cmd.stdout(stdout.map(Stdio::from).unwrap_or_else(Stdio::null));
        match stderr {
            Stderr::To(fd) => cmd.stderr(Stdio::from(fd)),
            Stderr::Null => cmd.stderr(Stdio::null()),
            Stderr::Capture => cmd.stderr(Stdio::piped()),
        };
        let out = cmd.output()?;
        Ok((out.status, out.stderr))
    }

    fn run_forked(&self, args: &[&str], stdin: Option<OwnedFd>, stdout: Option<OwnedFd>, stderr: Stderr) -> std::io::Result<(ExitStatus, Vec<u8>)> {
        let argv: Vec<String> = std::iter::once(self.name.clone()).chain(self.global.iter().cloned()).chain(args.iter().map(|a| a.to_string())).collect();
        let null = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null")?;
        let (captured, stderr) = match stderr {
            Stderr::To(fd) => (None, Some(fd)),
            Stderr::Null => (None, None),
            Stderr::Capture => {
                let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
                (Some(read), Some(write))
            }
        };
        let fd_or_null = |fd: &Option<OwnedFd>| fd.as_ref().map(|f| f.as_raw_fd()).unwrap_or(null.as_raw_fd());
        let stdio = [fd_or_null(&stdin), fd_or_null(&stdout), fd_or_null(&stderr)];
        // SAFETY: the shim is single-threaded, so the child may use anything; it leaves only
        // through _exit, never returning into the shim's loop.
        match unsafe { nix::unistd::fork() }? {
            nix::unistd::ForkResult::Child => {
                let code = std::panic::catch_unwind(|| enter_runc(stdio, argv)).unwrap_or(1);
                // SAFETY: _exit ends the child at once; nothing of the shim's runs in it.
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop((stdin, stdout, stderr, null));
                let mut text = Vec::new();
                if let Some(read) = captured {
                    let _ = std::fs::File::from(read).read_to_end(&mut text);
                }
                let mut status = 0;
                loop {
                    // SAFETY: waitpid writes the status of our own child into a local.
                    let rc = unsafe { libc::waitpid(child.as_raw(), &mut status, 0) };
                    if rc >= 0 {
                        break;
                    }
                    let err = std::io::Error::last_os_error();
                    if err.kind() != std::io::ErrorKind::Interrupted {
                        return Err(err);
                    }
                }
                Ok((ExitStatus::from_raw(status), text))
            }
        }
    }
}

/// In the forked child: the stdio a spawned process would get, the signal state an exec
/// would give, then the applet.
fn enter_runc(stdio: [i32; 3], argv: Vec<String>) -> i32 {
    for (target, fd) in stdio.into_iter().enumerate() {
        // SAFETY: dup2 onto 0, 1 and 2 of descriptors that are open in this process.
        if unsafe { libc::dup2(fd, target as i32) } < 0 {
            return 1;
        }
    }
    // SAFETY: plain syscalls on a local set: the shim blocks SIGCHLD for its signalfd, and Rust
    // ignores SIGPIPE; an executed program would start with neither.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    crate::sys::set_process_name(&argv[0]);
    let code = crate::runc::main(argv);
    use std::io::Write;
    let _ = std::io::stdout().flush();
    code
}

/// Whether `path` run as `name` is this executable's docker-runc applet.
fn is_own_runc(path: &Path, name: &str) -> bool {
    let applet = Path::new(name).file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if !crate::runc::is_applet_name(applet) {
        return false;
    }
    match (std::fs::metadata(path), std::fs::metadata("/proc/self/exe")) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}
