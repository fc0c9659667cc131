//! docker-containerd-shim: the per-container parent. It runs the OCI runtime's `create` and
//! `start`, stays behind as the container's parent (a child subreaper) once the runtime has
//! exited, holds the container's stdio FIFOs open, and keeps the exit status until `delete`.
//!
//! It stays resident for the container's whole life, so it is deliberately small: flags are
//! parsed by hand, there is ONE thread (a poll loop over the listener it inherits as fd 3, its
//! client connections and a signalfd for SIGCHLD), and it reuses the `Value`-based framing of
//! [`crate::rpc`] that docker-containerd also runs.
//!
//! ## Protocol between docker-containerd and the shim
//! containerd creates the listening socket `<state>/io.containerd.runtime.v1.linux/<ns>/<id>/shim.sock`
//! and hands it over as fd 3. Over it, the methods of [`crate::rpc`] (JSON lines):
//! - `create` {id, bundle, stdin?, stdout?, stderr?, terminal} → {pid}: runs `runtime create`;
//!   on failure the answer carries the last error `msg` of the runtime's log.json and the shim exits.
//! - `start` → {pid}; `kill` {signal, all} → {}; `close_stdin` → {}; `resize` {height, width} → {}
//!   (terminal tasks only).
//! - With `terminal: true` the shim listens on `<workdir>/console.sock`, passes it to the
//!   runtime's `create --console-socket`, receives the pty master, and its poll loop copies the
//!   stdin FIFO to the master and the master to the stdout FIFO ([`tty`]).
//! - `state` → {id, pid, status: created|running|stopped, exit_status, exited_at, bundle}.
//! - `wait` → answered only when the init process has exited: {pid, exit_status, exited_at}.
//!   containerd keeps one connection per shim blocked in `wait`; its answer is the shim's
//!   "exit event". After a containerd restart, a new `wait` answers at once if the exit happened
//!   meanwhile, so no exit is lost.
//! - `delete` → {pid, exit_status, exited_at}: runs `runtime delete`, answers, then the shim exits.
//! - `exec`, `exec_wait`, `exec_state`, `exec_kill`, `exec_resize`, `exec_close_stdin`,
//!   `exec_delete`, `exec_list`: more processes in the task ([`exec`]).
//!
//! Exit statuses follow Docker: a normal exit gives its code, death by signal N gives 128+N
//! (so SIGKILL is 137). The status is also written atomically to `<workdir>/exit` as
//! {pid, exit_status, exited_at}, which survives the shim itself.

mod exec;
mod runtime;
mod tty;

use crate::rpc::{self, ErrorKind, RpcError};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde_json::{json, Value};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// The descriptor containerd passes the listening socket on.
const LISTENER_FD: i32 = 3;
/// The runtime's log in the workdir (`--log`, json), where a failure's reason is read.
const RUNTIME_LOG: &str = "log.json";

/// The command-line flags, in Go's single-dash style (`-workdir DIR` or `-workdir=DIR`).
#[derive(Default)]
struct Flags {
    namespace: String,
    workdir: PathBuf,
    address: String,
    runtime_root: PathBuf,
    runtime: PathBuf,
    /// argv[0] for the runtime: lets `-runtime /proc/self/exe`-style paths run our docker-runc applet.
    runtime_name: String,
    debug: bool,
}

const USAGE: &str = "Usage of docker-containerd-shim:
  -address string         containerd's socket (informational: containerd learns exits through `wait`)
  -containerd-binary string  path of containerd (accepted for compatibility)
  -debug                  enable debug output in logs
  -namespace string       namespace that owns the shim
  -runtime string         path of the OCI runtime to run (default \"docker-runc\")
  -runtime-name string    argv[0] given to the runtime (default: the runtime path)
  -runtime-root string    root directory for the runtime (default \"/run/containerd/runc\")
  -workdir string         path used to store large temporary data
The listening socket is expected on fd 3.
";

fn parse_flags(args: &[String]) -> Result<Flags, String> {
    let mut f = Flags { namespace: "moby".into(), runtime_root: "/run/containerd/runc".into(), runtime: "docker-runc".into(), ..Flags::default() };
    let mut i = 1;
    while i < args.len() {
        let arg = args[i].trim_start_matches('-');
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (arg, None),
        };
        if name == "debug" {
            f.debug = inline.as_deref() != Some("false");
            i += 1;
            continue;
        }
        if name == "help" || name == "h" {
            return Err(String::new());
        }
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                args.get(i).cloned().ok_or_else(|| format!("flag needs an argument: -{name}"))?
            }
        };
        match name {
            "namespace" => f.namespace = value,
            "workdir" => f.workdir = value.into(),
            "address" => f.address = value,
            "containerd-binary" => {}
            "runtime-root" => f.runtime_root = value.into(),
            "runtime" => f.runtime = value.into(),
            "runtime-name" => f.runtime_name = value,
            "socket" | "criu" | "systemd-cgroup" => {}
            _ => return Err(format!("flag provided but not defined: -{name}")),
        }
        i += 1;
    }
    if f.workdir.as_os_str().is_empty() {
        return Err("-workdir is required".into());
    }
    if f.runtime_name.is_empty() {
        f.runtime_name = f.runtime.to_string_lossy().into_owned();
    }
    Ok(f)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Nothing created yet (the shim has just started).
    Empty,
    Created,
    Running,
    Stopped,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Empty => "unknown",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }
}

/// One client connection with the bytes of its unfinished request line.
struct Conn {
    stream: UnixStream,
    pending: Vec<u8>,
    waiting_for_exit: bool,
    /// Blocked in `exec_wait` for this exec.
    waiting_for_exec: Option<String>,
}

/// What handling one request asks the loop to do.
enum Outcome {
    Answer(Result<Value, RpcError>),
    /// Answer when the init process exits.
    Wait,
    /// Answer when this exec process exits.
    WaitExec(String),
    /// Answer, then leave the loop and exit.
    AnswerAndExit(Result<Value, RpcError>),
}

struct Shim {
    flags: Flags,
    id: String,
    bundle: String,
    init_pid: u32,
    status: Status,
    /// Frozen by `pause`, until `resume`.
    paused: bool,
    exit: Option<(i32, String)>,
    /// The shim's write end of the stdin FIFO, closed by `close_stdin` so the container sees EOF.
    stdin_keeper: Option<OwnedFd>,
    /// Read ends of stdout/stderr: while they are open a writing container never gets EPIPE.
    output_keepers: Vec<OwnedFd>,
    /// The pty of a terminal task, copied to and from the FIFOs by the poll loop.
    tty: Option<tty::Tty>,
    runtime: runtime::Runtime,
    /// The container's mount namespace, held while its init runs. The kernel tears a
    /// namespace down when its last user goes, and tells the parent of an exit only after the
    /// exiting process has let go of its namespaces: without this hold, taking down the
    /// container's forty-odd mounts would come between the init's exit and our hearing of it.
    /// Dropped once the exit is reported.
    held_mount_ns: Option<OwnedFd>,
    /// Exec processes, by exec id ([`exec`]).
    execs: exec::Execs,
}

pub fn main(args: Vec<String>) -> i32 {
    if matches!(args.get(1).map(String::as_str), Some("-version" | "--version" | "-v")) {
        println!("docker-containerd-shim dockbox {}", crate::version::DOCKBOX);
        return 0;
    }
    let flags = match parse_flags(&args) {
        Ok(f) => f,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("docker-containerd-shim: {e}");
            }
            eprint!("{USAGE}");
            return if e.is_empty() { 0 } else { 2 };
        }
    };
    if let Err(e) = crate::sys::set_child_subreaper() {
        eprintln!("docker-containerd-shim: cannot become a child subreaper: {e}");
        return 1;
    }
    // Already a session leader when containerd setsid'd us; that error is harmless.
    let _ = nix::unistd::setsid();
    // SAFETY: fd 3 is the listening socket containerd handed over; nothing else in this
    // process owns it, and fcntl on a possibly-invalid fd only returns an error.
    let valid = unsafe { libc::fcntl(LISTENER_FD, libc::F_SETFD, libc::FD_CLOEXEC) } == 0;
    if !valid {
        eprintln!("docker-containerd-shim: no listening socket on fd 3");
        return 1;
    }
    // SAFETY: fd 3 is valid (checked above) and owned by nobody else.
    let listener = unsafe { UnixListener::from_raw_fd(LISTENER_FD) };
    let runtime = runtime::Runtime::new(&flags.runtime, &flags.runtime_name, &flags.runtime_root.join(&flags.namespace), &flags.workdir.join(RUNTIME_LOG));
    let mut shim = Shim { flags, id: String::new(), bundle: String::new(), init_pid: 0, status: Status::Empty, exit: None, stdin_keeper: None, output_keepers: Vec::new(), tty: None, runtime, held_mount_ns: None, paused: false, execs: exec::Execs::default() };
    match shim.serve(listener) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("docker-containerd-shim: {e}");
            1
        }
    }
}

/// A process's stdio, opened from the FIFOs dockerd made: the keepers the shim holds (a
/// writer on stdin, so the process sees EOF only at `close_stdin`; readers on the outputs, so
/// it never gets EPIPE while dockerd is away) and the ends the runtime passes on — none with a
/// terminal, whose pty carries the stdio.
struct ProcessStdio {
    stdin_keeper: Option<OwnedFd>,
    output_keepers: Vec<OwnedFd>,
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: runtime::Stderr,
}

/// Opens the `stdin`, `stdout` and `stderr` FIFOs of a `create` or `exec` request.
fn open_stdio(params: &Value, terminal: bool) -> Result<ProcessStdio, RpcError> {
    let io_err = |what: &str, p: &str, e: std::io::Error| RpcError::internal(format!("opening {what} {p}: {e}"));
    let mut io = ProcessStdio { stdin_keeper: None, output_keepers: Vec::new(), stdin: None, stdout: None, stderr: runtime::Stderr::Null };
    if let Some(p) = param_str(params, "stdin") {
        // O_RDWR never blocks on a FIFO and makes us a writer, so the read-only open for the
        // process below does not block either.
        io.stdin_keeper = Some(OpenOptions::new().read(true).write(true).open(p).map_err(|e| io_err("stdin", p, e))?.into());
        if !terminal {
            io.stdin = Some(OpenOptions::new().read(true).open(p).map_err(|e| io_err("stdin", p, e))?.into());
        }
    }
    for key in ["stdout", "stderr"] {
        let Some(p) = param_str(params, key) else { continue };
        io.output_keepers.push(OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(p).map_err(|e| io_err(key, p, e))?.into());
        if terminal {
            continue;
        }
        let writer: OwnedFd = OpenOptions::new().write(true).open(p).map_err(|e| io_err(key, p, e))?.into();
        if key == "stdout" {
            io.stdout = Some(writer);
        } else {
            io.stderr = runtime::Stderr::To(writer);
        }
    }
    Ok(io)
}

fn param_str<'a>(params: &'a Value, key: &str) -> Option<&'a str> {
    params.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Docker's view of a wait status: the exit code, or 128 + the signal that killed it.
fn exit_code(status: WaitStatus) -> Option<(Pid, i32)> {
    match status {
        WaitStatus::Exited(pid, code) => Some((pid, code)),
        WaitStatus::Signaled(pid, sig, _) => Some((pid, 128 + sig as i32)),
        _ => None,
    }
}

impl Shim {
    fn serve(&mut self, listener: UnixListener) -> std::io::Result<()> {
        listener.set_nonblocking(true)?;
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        mask.thread_block()?;
        let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        let mut conns: Vec<Conn> = Vec::with_capacity(4);
        let mut pollfds: Vec<libc::pollfd> = Vec::with_capacity(8);
        let mut chunk = [0u8; 1024];
        loop {
            pollfds.clear();
            pollfds.push(libc::pollfd { fd: sigfd.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            pollfds.push(libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            for c in &conns {
                pollfds.push(libc::pollfd { fd: c.stream.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            }
            let tty_start = pollfds.len();
            if let Some(t) = &self.tty {
                t.poll_fds(&mut pollfds);
            }
            let exec_ttys = self.execs.poll_fds(&mut pollfds);
            // SAFETY: pollfds is a live, correctly sized array of pollfd structs.
            let n = unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, -1) };
            if n < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            if let Some(t) = &mut self.tty {
                t.pump(&pollfds[tty_start..]);
            }
            self.execs.pump(&exec_ttys, &pollfds);
            if pollfds[0].revents != 0 {
                while let Ok(Some(_)) = sigfd.read_signal() {}
                self.reap(&mut conns);
            }
            if pollfds[1].revents != 0 {
                while let Ok((stream, _)) = listener.accept() {
                    conns.push(Conn { stream, pending: Vec::new(), waiting_for_exit: false, waiting_for_exec: None });
                }
            }
            // Walk backwards so removing a connection keeps the remaining indices valid.
            for i in (0..conns.len()).rev() {
                let revents = pollfds.get(2 + i).map(|p| p.revents).unwrap_or(0);
                if revents == 0 {
                    continue;
                }
                let n = conns[i].stream.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    conns.swap_remove(i);
                    continue;
                }
                conns[i].pending.extend_from_slice(&chunk[..n]);
                while let Some(end) = conns[i].pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = conns[i].pending.drain(..=end).collect();
                    let outcome = match rpc::read_request(&mut std::io::Cursor::new(&line)) {
                        Ok(Some(req)) => self.handle(&req.method, &req.params),
                        Ok(None) => continue,
                        Err(e) => Outcome::Answer(Err(RpcError::new(ErrorKind::InvalidArgument, e.to_string()))),
                    };
                    match outcome {
                        Outcome::Answer(r) => {
                            let _ = rpc::write_response(&mut conns[i].stream, r);
                        }
                        Outcome::Wait => match self.exit_result() {
                            Some(r) => {
                                let _ = rpc::write_response(&mut conns[i].stream, Ok(r));
                            }
                            None => conns[i].waiting_for_exit = true,
                        },
                        Outcome::WaitExec(id) => match self.execs.map.get(&id).and_then(exec::Exec::wait_result) {
                            Some(r) => {
                                let _ = rpc::write_response(&mut conns[i].stream, Ok(r));
                            }
                            None => conns[i].waiting_for_exec = Some(id),
                        },
                        Outcome::AnswerAndExit(r) => {
                            // An exit recorded while deleting still reaches the waiters first.
                            self.answer_waiters(&mut conns);
                            let _ = rpc::write_response(&mut conns[i].stream, r);
                            self.stdin_keeper = None;
                            self.output_keepers.clear();
                            return Ok(());
                        }
                    }
                }
                if conns[i].pending.len() > 64 * 1024 {
                    conns.swap_remove(i);
                }
            }
        }
    }

    fn exit_result(&self) -> Option<Value> {
        self.exit.as_ref().map(|(code, at)| json!({"pid": self.init_pid, "exit_status": code, "exited_at": at}))
    }

    /// Reaps every exited child (we are a subreaper, so orphans of the container come here too)
    /// and records the init process's exit.
    fn reap(&mut self, conns: &mut [Conn]) {
        while let Ok(status) = waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            if status == WaitStatus::StillAlive {
                break;
            }
            if let Some((pid, code)) = exit_code(status) {
                if self.init_pid != 0 && pid.as_raw() as u32 == self.init_pid && self.exit.is_none() {
                    self.record_exit(code);
                    // The waiters first (containerd's, the exit event), then the file, which
                    // only matters to a containerd that was not listening.
                    self.answer_waiters(conns);
                    self.persist_exit();
                } else if let Some(id) = self.execs.record_exit(pid.as_raw() as u32, code) {
                    self.answer_exec_waiters(&id, conns);
                }
            }
        }
        self.answer_waiters(conns);
        if self.exit.is_some() {
            self.held_mount_ns = None;
        }
    }

    fn answer_exec_waiters(&self, id: &str, conns: &mut [Conn]) {
        let Some(r) = self.execs.map.get(id).and_then(exec::Exec::wait_result) else { return };
        for c in conns.iter_mut().filter(|c| c.waiting_for_exec.as_deref() == Some(id)) {
            c.waiting_for_exec = None;
            let _ = rpc::write_response(&mut c.stream, Ok(r.clone()));
        }
    }

    fn answer_waiters(&self, conns: &mut [Conn]) {
        if let Some(r) = self.exit_result() {
            for c in conns.iter_mut().filter(|c| c.waiting_for_exit) {
                c.waiting_for_exit = false;
                let _ = rpc::write_response(&mut c.stream, Ok(r.clone()));
            }
        }
    }

    /// Records the init's exit in memory; `persist_exit` writes it down.
    fn record_exit(&mut self, code: i32) {
        let at = crate::sys::rfc3339_nanos(std::time::SystemTime::now());
        self.exit = Some((code, at));
        self.status = Status::Stopped;
    }

    /// Writes the recorded exit to `<workdir>/exit`, for a containerd that was not listening
    /// (restarted in this boot; a power cut ends every shim and container).
    fn persist_exit(&self) {
        let Some((code, at)) = &self.exit else { return };
        let record = json!({"pid": self.init_pid, "exit_status": code, "exited_at": at});
        if let Err(e) = crate::sys::write_atomic_volatile(&self.flags.workdir.join("exit"), record.to_string().as_bytes()) {
            eprintln!("docker-containerd-shim: saving exit status: {e}");
        }
    }

    fn handle(&mut self, method: &str, params: &Value) -> Outcome {
        if self.flags.debug {
            eprintln!("docker-containerd-shim: {method} {params}");
        }
        if let Some(outcome) = self.handle_exec(method, params) {
            return outcome;
        }
        match method {
            "create" => match self.create(params) {
                Ok(v) => Outcome::Answer(Ok(v)),
                Err(e) if self.status == Status::Empty => Outcome::AnswerAndExit(Err(e)),
                Err(e) => Outcome::Answer(Err(e)),
            },
            "start" => Outcome::Answer(self.start()),
            "kill" => Outcome::Answer(self.kill(params)),
            "pause" => Outcome::Answer(self.freeze(true)),
            "resume" => Outcome::Answer(self.freeze(false)),
            "update" => Outcome::Answer(self.update_resources(params)),
            "state" => Outcome::Answer(Ok(self.state())),
            "wait" => Outcome::Wait,
            "resize" => Outcome::Answer(match &self.tty {
                Some(t) => {
                    let dim = |k: &str| params.get(k).and_then(Value::as_u64).unwrap_or(0) as u32;
                    t.resize(dim("height"), dim("width")).map(|()| json!({})).map_err(RpcError::internal)
                }
                None => Err(RpcError::new(ErrorKind::FailedPrecondition, "the task has no terminal")),
            }),
            "close_stdin" => {
                self.stdin_keeper = None;
                if let Some(t) = &mut self.tty {
                    t.close_stdin();
                }
                Outcome::Answer(Ok(json!({})))
            }
            "delete" => match self.delete() {
                Ok(v) => Outcome::AnswerAndExit(Ok(v)),
                Err(e) => Outcome::Answer(Err(e)),
            },
            _ => Outcome::Answer(Err(RpcError::new(ErrorKind::InvalidArgument, format!("unknown method {method:?}")))),
        }
    }

    fn state(&self) -> Value {
        json!({
            "id": self.id,
            "pid": self.init_pid,
            "status": if self.paused && self.status == Status::Running { "paused" } else { self.status.as_str() },
            "exit_status": self.exit.as_ref().map(|e| e.0),
            "exited_at": self.exit.as_ref().map(|e| e.1.as_str()),
            "bundle": self.bundle,
        })
    }

    fn log_path(&self) -> PathBuf {
        self.flags.workdir.join(RUNTIME_LOG)
    }

    fn log_len(&self) -> u64 {
        std::fs::metadata(self.log_path()).map(|m| m.len()).unwrap_or(0)
    }

    /// Runs a runtime command with its stdio on /dev/null (stderr kept for the error message).
    fn run_runtime(&self, what: &str, args: &[&str]) -> Result<(), RpcError> {
        self.run_runtime_with_stdin(what, args, None)
    }

    /// [`Shim::run_runtime`] with `stdin` as the runtime's standard input.
    fn run_runtime_with_stdin(&self, what: &str, args: &[&str], stdin: Option<OwnedFd>) -> Result<(), RpcError> {
        let before = self.log_len();
        let all: Vec<&str> = std::iter::once(what).chain(args.iter().copied()).collect();
        let (status, stderr) = self.runtime.run(&all, stdin, None, runtime::Stderr::Capture).map_err(|e| RpcError::internal(format!("running {}: {e}", self.runtime.path().display())))?;
        if status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&stderr);
        Err(RpcError::internal(self.runtime_error(before).unwrap_or_else(|| format!("{} {what} failed: {}", self.flags.runtime_name, stderr.trim()))))
    }

    /// The last `error` message the runtime logged after byte `from` of log.json.
    fn runtime_error(&self, from: u64) -> Option<String> {
        let mut text = String::new();
        let mut f = File::open(self.log_path()).ok()?;
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(from)).ok()?;
        f.read_to_string(&mut text).ok()?;
        let mut last = None;
        for line in text.lines() {
            if let Ok(v) = serde_json::from_str::<Value>(line) {
                let level = v.get("level").and_then(Value::as_str).unwrap_or("");
                if level == "error" || level == "fatal" {
                    last = v.get("msg").and_then(Value::as_str).map(str::to_string);
                }
            }
        }
        last
    }

    fn create(&mut self, params: &Value) -> Result<Value, RpcError> {
        if self.status != Status::Empty {
            return Err(RpcError::new(ErrorKind::AlreadyExists, format!("task {} already exists", self.id)));
        }
        let id = param_str(params, "id").ok_or_else(|| RpcError::new(ErrorKind::InvalidArgument, "create: missing id"))?.to_string();
        let bundle = param_str(params, "bundle").ok_or_else(|| RpcError::new(ErrorKind::InvalidArgument, "create: missing bundle"))?.to_string();
        if params.get("terminal").and_then(Value::as_bool) == Some(true) {
            return self.create_terminal(id, bundle, params);
        }
        let io = open_stdio(params, false)?;
        self.stdin_keeper = io.stdin_keeper;
        self.output_keepers.extend(io.output_keepers);
        // The write ends are the runtime's only: they are closed once it has run.
        let pid = self.runtime_create(&id, &bundle, no_pivot_flag(params), io.stdin, io.stdout, io.stderr)?;
        Ok(self.created(id, bundle, pid))
    }

    /// Runs the runtime's `args` (a `create` or an `exec`, with `--pid-file pid_file`) and
    /// returns the pid it wrote; a failure is the runtime's logged error, else
    /// `<runtime> <verb> failed`.
    fn run_for_pid(&self, args: &[&str], pid_file: &Path, stdin: Option<OwnedFd>, stdout: Option<OwnedFd>, stderr: runtime::Stderr) -> Result<u32, RpcError> {
        let before = self.log_len();
        let (status, _) = self.runtime.run(args, stdin, stdout, stderr).map_err(|e| RpcError::internal(format!("running {}: {e}", self.runtime.path().display())))?;
        if !status.success() {
            let msg = self.runtime_error(before).unwrap_or_else(|| format!("{} {} failed: {status}", self.flags.runtime_name, args.first().copied().unwrap_or_default()));
            return Err(RpcError::new(ErrorKind::FailedPrecondition, msg));
        }
        std::fs::read_to_string(pid_file).ok().and_then(|s| s.trim().parse::<u32>().ok()).ok_or_else(|| RpcError::internal("the runtime wrote no pid file"))
    }

    /// Runs the runtime's `create` (with `extra` flags before the id); returns the init's pid.
    /// On failure the stdio keepers are dropped, so nothing of the task stays open.
    fn runtime_create(&mut self, id: &str, bundle: &str, extra: &[&str], stdin: Option<OwnedFd>, stdout: Option<OwnedFd>, stderr: runtime::Stderr) -> Result<u32, RpcError> {
        let pid_file = self.flags.workdir.join("init.pid");
        let _ = std::fs::remove_file(&pid_file);
        let pid_file_arg = pid_file.display().to_string();
        let mut args = vec!["create", "--bundle", bundle];
        args.extend_from_slice(extra);
        args.extend(["--pid-file", &pid_file_arg, id]);
        let result = self.run_for_pid(&args, &pid_file, stdin, stdout, stderr);
        if result.is_err() {
            self.stdin_keeper = None;
            self.output_keepers.clear();
        }
        result
    }

    /// Records a task the runtime created; the answer to `create`.
    fn created(&mut self, id: String, bundle: String, pid: u32) -> Value {
        self.id = id;
        self.bundle = bundle;
        self.init_pid = pid;
        self.held_mount_ns = File::open(format!("/proc/{pid}/ns/mnt")).ok().map(OwnedFd::from);
        self.status = Status::Created;
        json!({"pid": pid})
    }

    /// `create` of a terminal task: the runtime sends the pty master to our console socket,
    /// and the container's stdio is the pty's slave rather than the FIFOs.
    fn create_terminal(&mut self, id: String, bundle: String, params: &Value) -> Result<Value, RpcError> {
        let io_err = |what: &str, e: std::io::Error| RpcError::internal(format!("{what}: {e}"));
        let io = open_stdio(params, true)?;
        self.stdin_keeper = io.stdin_keeper;
        self.output_keepers.extend(io.output_keepers);
        let console = tty::ConsoleSocket::bind(&self.flags.workdir).map_err(|e| io_err("console socket", e))?;
        let console_arg = console.path.display().to_string();
        let mut extra = vec!["--console-socket", console_arg.as_str()];
        extra.extend_from_slice(no_pivot_flag(params));
        let pid = self.runtime_create(&id, &bundle, &extra, None, None, runtime::Stderr::Null)?;
        match console.receive(param_str(params, "stdin"), param_str(params, "stdout")) {
            Ok(tty) => self.tty = Some(tty),
            Err(e) => {
                // Without its terminal the task is of no use: the created container goes too.
                let _ = self.run_runtime("delete", &["--force", &id]);
                self.stdin_keeper = None;
                self.output_keepers.clear();
                return Err(io_err("receiving the console", e));
            }
        }
        Ok(self.created(id, bundle, pid))
    }

    fn start(&mut self) -> Result<Value, RpcError> {
        match self.status {
            Status::Created => {}
            Status::Empty => return Err(RpcError::not_found("no task created")),
            Status::Running => return Err(RpcError::new(ErrorKind::FailedPrecondition, format!("task {} is already running", self.id))),
            Status::Stopped => return Err(RpcError::new(ErrorKind::FailedPrecondition, format!("task {} has already exited", self.id))),
        }
        let id = self.id.clone();
        self.run_runtime("start", &[&id])?;
        if self.status == Status::Created {
            self.status = Status::Running;
        }
        Ok(json!({"pid": self.init_pid}))
    }

    fn kill(&mut self, params: &Value) -> Result<Value, RpcError> {
        let signal = params.get("signal").and_then(Value::as_i64).unwrap_or(15);
        let all = params.get("all").and_then(Value::as_bool).unwrap_or(false);
        match self.status {
            Status::Empty => return Err(RpcError::not_found("no task created")),
            Status::Stopped => return Err(RpcError::not_found("process already finished")),
            _ => {}
        }
        let id = self.id.clone();
        let signal = signal.to_string();
        let mut args: Vec<&str> = Vec::with_capacity(3);
        if all {
            args.push("--all");
        }
        args.push(&id);
        args.push(&signal);
        match self.run_runtime("kill", &args) {
            Ok(()) => Ok(json!({})),
            Err(e) if e.message.contains("not running") || e.message.contains("process already finished") => Err(RpcError::not_found("process already finished")),
            Err(e) => Err(e),
        }
    }

    /// `pause` and `resume`: the runtime freezes or thaws the container's cgroup.
    fn freeze(&mut self, frozen: bool) -> Result<Value, RpcError> {
        match self.status {
            Status::Empty => return Err(RpcError::not_found("no task created")),
            Status::Stopped => return Err(RpcError::new(ErrorKind::FailedPrecondition, format!("task {} has already exited", self.id))),
            _ => {}
        }
        let id = self.id.clone();
        self.run_runtime(if frozen { "pause" } else { "resume" }, &[&id])?;
        self.paused = frozen;
        Ok(json!({}))
    }

    /// `update`: `runtime update --resources - ID`, the resources on its stdin.
    fn update_resources(&mut self, params: &Value) -> Result<Value, RpcError> {
        match self.status {
            Status::Empty => return Err(RpcError::not_found("no task created")),
            Status::Stopped => return Err(RpcError::new(ErrorKind::FailedPrecondition, format!("task {} has already exited", self.id))),
            _ => {}
        }
        let resources = params.get("resources").filter(|r| r.is_object()).ok_or_else(|| RpcError::new(ErrorKind::InvalidArgument, "update: missing resources"))?;
        let text = serde_json::to_vec(resources).map_err(|e| RpcError::internal(e.to_string()))?;
        // Written whole before the runtime starts (the shim stays single-threaded): a write end
        // that does not block turns a document larger than the pipe into an error, not a hang.
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| RpcError::internal(format!("pipe: {e}")))?;
        nix::fcntl::fcntl(write.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK)).map_err(|e| RpcError::internal(format!("pipe: {e}")))?;
        std::io::Write::write_all(&mut File::from(write), &text).map_err(|e| RpcError::internal(format!("writing the resources: {e}")))?;
        let id = self.id.clone();
        self.run_runtime_with_stdin("update", &["--resources", "-", &id], Some(read)).map(|()| json!({})).map_err(|e| {
            // The task ended while the update was on its way: not the update's failure.
            if e.message.contains("container not running") {
                RpcError::new(ErrorKind::FailedPrecondition, e.message)
            } else {
                e
            }
        })
    }

    fn delete(&mut self) -> Result<Value, RpcError> {
        let id = self.id.clone();
        // An exit whose SIGCHLD is still queued must not make the task look running.
        if self.init_pid != 0 && self.exit.is_none() {
            if let Ok(status) = waitpid(Pid::from_raw(self.init_pid as i32), Some(WaitPidFlag::WNOHANG)) {
                if let Some((_, code)) = exit_code(status) {
                    self.record_exit(code);
                    self.persist_exit();
                }
            }
        }
        match self.status {
            // containerd abandons a shim whose create it never saw through.
            Status::Empty => return Ok(Value::Null),
            Status::Running => return Err(RpcError::new(ErrorKind::FailedPrecondition, format!("cannot delete running task {id}"))),
            Status::Created => {
                // Deleting a created task destroys its waiting init; collect its status first-hand.
                self.run_runtime("delete", &["--force", &id])?;
                if self.exit.is_none() {
                    if let Ok(status) = waitpid(Pid::from_raw(self.init_pid as i32), None) {
                        if let Some((_, code)) = exit_code(status) {
                            self.record_exit(code);
                        }
                    }
                    if self.exit.is_none() {
                        self.record_exit(137);
                    }
                    self.persist_exit();
                }
            }
            Status::Stopped => self.run_runtime("delete", &[&id])?,
        }
        Ok(self.exit_result().unwrap_or(Value::Null))
    }
}

/// The path of a shim's recorded exit, for containerd when the shim is gone.
pub fn exit_file(workdir: &Path) -> PathBuf {
    workdir.join("exit")
}

/// `--no-pivot` for the runtime's create when containerd asks for it (`no_pivot`).
fn no_pivot_flag(params: &Value) -> &'static [&'static str] {
    if params.get("no_pivot").and_then(Value::as_bool) == Some(true) {
        &["--no-pivot"]
    } else {
        &[]
    }
}
