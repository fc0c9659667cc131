//! Exec processes: more processes run in the task by the runtime's `exec --detach`. The
//! runtime's first child forks the process inside the container and exits, so the process is
//! adopted by the shim (a subreaper), which reaps it, keeps its exit status until
//! `exec_delete`, and answers `exec_wait` callers. Each exec has its own stdio: FIFOs made by
//! dockerd, or — for `terminal` — a pty whose master comes over the console socket, copied
//! to and from the FIFOs by the poll loop as the init's is ([`super::tty`]).
//!
//! Methods (all with `exec_id`): `exec` {exec_id, process, stdin?, stdout?, stderr?, terminal}
//! → {pid}; `exec_wait` → {pid, exit_status, exited_at} once exited; `exec_state` →
//! {exec_id, pid, status: running|stopped, exit_status?, exited_at?}; `exec_kill` {signal};
//! `exec_resize` {height, width}; `exec_close_stdin`; `exec_delete` (stopped execs only);
//! `exec_list` → {execs: [exec_state...]}.

use super::{param_str, tty, Outcome, Shim};
use crate::rpc::{ErrorKind, RpcError};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// One exec process and what the shim holds for it.
pub struct Exec {
    pub pid: u32,
    pub exit: Option<(i32, String)>,
    /// Our write end of its stdin FIFO: the process sees EOF only after `exec_close_stdin`.
    stdin_keeper: Option<OwnedFd>,
    /// Read ends of its output FIFOs: it never gets EPIPE while dockerd is away.
    output_keepers: Vec<OwnedFd>,
    pub tty: Option<tty::Tty>,
}

impl Exec {
    fn state(&self, id: &str) -> Value {
        json!({
            "exec_id": id,
            "pid": self.pid,
            "status": if self.exit.is_some() { "stopped" } else { "running" },
            "exit_status": self.exit.as_ref().map(|e| e.0),
            "exited_at": self.exit.as_ref().map(|e| e.1.as_str()),
        })
    }

    pub fn wait_result(&self) -> Option<Value> {
        self.exit.as_ref().map(|(code, at)| json!({"pid": self.pid, "exit_status": code, "exited_at": at}))
    }
}

/// The execs of a task, by exec id.
#[derive(Default)]
pub struct Execs {
    pub map: HashMap<String, Exec>,
}

impl Execs {
    /// Records the exit of `pid` if it is an exec's; returns its id.
    pub fn record_exit(&mut self, pid: u32, code: i32) -> Option<String> {
        let (id, exec) = self.map.iter_mut().find(|(_, e)| e.pid == pid && e.exit.is_none())?;
        exec.exit = Some((code, crate::sys::rfc3339_nanos(std::time::SystemTime::now())));
        // Its output keepers go; a tty's copying ends when its master reports the slave closed.
        exec.stdin_keeper = None;
        exec.output_keepers.clear();
        Some(id.clone())
    }

    /// Adds the descriptors of every exec's pty; returns (exec id, first index, count).
    pub fn poll_fds(&self, out: &mut Vec<libc::pollfd>) -> Vec<(String, usize, usize)> {
        let mut spans = Vec::new();
        for (id, e) in &self.map {
            if let Some(t) = &e.tty {
                let start = out.len();
                let n = t.poll_fds(out);
                spans.push((id.clone(), start, n));
            }
        }
        spans
    }

    /// Copies what the poll found ready; a pty whose container side is closed everywhere is
    /// dropped, which closes its stdout FIFO so dockerd sees the end of the output.
    pub fn pump(&mut self, spans: &[(String, usize, usize)], ready: &[libc::pollfd]) {
        for (id, start, n) in spans {
            let Some(e) = self.map.get_mut(id) else { continue };
            if let Some(t) = &mut e.tty {
                t.pump(&ready[*start..start + n]);
                if !t.is_master_open() {
                    e.tty = None;
                }
            }
        }
    }
}

/// `process` as JSON in an anonymous in-memory file, for the runtime's `--process`.
fn process_memfd(process: &Value) -> std::io::Result<std::fs::File> {
    let name = c"exec-process";
    // SAFETY: memfd_create reads a NUL-terminated name and returns a new descriptor or -1.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    let mut f = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    std::io::Write::write_all(&mut f, process.to_string().as_bytes())?;
    Ok(f)
}

fn valid_exec_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn exec_id(params: &Value) -> Result<String, RpcError> {
    let id = param_str(params, "exec_id").ok_or_else(|| RpcError::new(ErrorKind::InvalidArgument, "missing exec_id"))?;
    if !valid_exec_id(id) {
        return Err(RpcError::new(ErrorKind::InvalidArgument, format!("invalid exec id {id:?}")));
    }
    Ok(id.to_string())
}

fn no_such_exec(id: &str) -> RpcError {
    RpcError::not_found(format!("no such exec process: {id}"))
}

impl Shim {
    /// The `exec_*` methods; `None` when `method` is not one of them.
    pub(super) fn handle_exec(&mut self, method: &str, params: &Value) -> Option<Outcome> {
        let answer = |r: Result<Value, RpcError>| Some(Outcome::Answer(r));
        if method == "exec_list" {
            let mut ids: Vec<&String> = self.execs.map.keys().collect();
            ids.sort();
            return answer(Ok(json!({"execs": ids.into_iter().map(|id| self.execs.map[id].state(id)).collect::<Vec<_>>()})));
        }
        if !matches!(method, "exec" | "exec_wait" | "exec_state" | "exec_kill" | "exec_resize" | "exec_close_stdin" | "exec_delete") {
            return None;
        }
        let id = match exec_id(params) {
            Ok(id) => id,
            Err(e) => return answer(Err(e)),
        };
        if method == "exec" {
            return answer(self.exec_start(&id, params));
        }
        let Some(e) = self.execs.map.get_mut(&id) else { return answer(Err(no_such_exec(&id))) };
        match method {
            "exec_wait" => Some(Outcome::WaitExec(id)),
            "exec_state" => answer(Ok(e.state(&id))),
            "exec_kill" => {
                if e.exit.is_some() {
                    return answer(Err(RpcError::not_found("process already finished")));
                }
                let signal = params.get("signal").and_then(Value::as_i64).unwrap_or(15) as i32;
                let Ok(signal) = nix::sys::signal::Signal::try_from(signal) else {
                    return answer(Err(RpcError::new(ErrorKind::InvalidArgument, format!("invalid signal {signal}"))));
                };
                // The pid cannot be reused before we reap it, and it is not reaped yet.
                answer(nix::sys::signal::kill(nix::unistd::Pid::from_raw(e.pid as i32), signal).map(|()| json!({})).map_err(|err| RpcError::internal(format!("kill: {}", err.desc()))))
            }
            "exec_resize" => answer(match &e.tty {
                Some(t) => {
                    let dim = |k: &str| params.get(k).and_then(Value::as_u64).unwrap_or(0) as u32;
                    t.resize(dim("height"), dim("width")).map(|()| json!({})).map_err(RpcError::internal)
                }
                None => Err(RpcError::new(ErrorKind::FailedPrecondition, format!("exec {id} has no terminal"))),
            }),
            "exec_close_stdin" => {
                e.stdin_keeper = None;
                if let Some(t) = &mut e.tty {
                    t.close_stdin();
                }
                answer(Ok(json!({})))
            }
            _ => {
                if e.exit.is_none() {
                    return answer(Err(RpcError::new(ErrorKind::FailedPrecondition, format!("exec {id} is still running"))));
                }
                let result = e.wait_result().unwrap_or(Value::Null);
                self.execs.map.remove(&id);
                answer(Ok(result))
            }
        }
    }

    /// Runs the runtime's `exec --detach` for process `params.process` and records the exec.
    fn exec_start(&mut self, id: &str, params: &Value) -> Result<Value, RpcError> {
        if self.status != super::Status::Running && self.status != super::Status::Created {
            return Err(RpcError::new(ErrorKind::FailedPrecondition, format!("container {} is not running", self.id)));
        }
        if self.execs.map.contains_key(id) {
            return Err(RpcError::new(ErrorKind::AlreadyExists, format!("exec process {id} already exists")));
        }
        let process = params.get("process").filter(|p| p.is_object()).ok_or_else(|| RpcError::new(ErrorKind::InvalidArgument, "exec: missing process"))?;
        let terminal = params.get("terminal").and_then(Value::as_bool).unwrap_or(false);
        let pid_file = self.flags.workdir.join(format!("{id}.pid"));
        // The spec goes to the runtime as a file in memory: no inode made on the disk.
        let spec = process_memfd(process).map_err(|e| RpcError::internal(format!("writing the process spec: {e}")))?;
        let process_file = std::path::PathBuf::from(format!("/proc/{}/fd/{}", std::process::id(), spec.as_raw_fd()));
        let _ = std::fs::remove_file(&pid_file);
        let result = self.run_exec(params, terminal, &process_file, &pid_file);
        drop(spec);
        let _ = std::fs::remove_file(&pid_file);
        let exec = result?;
        let pid = exec.pid;
        self.execs.map.insert(id.to_string(), exec);
        Ok(json!({"pid": pid}))
    }

    fn run_exec(&mut self, params: &Value, terminal: bool, process_file: &std::path::Path, pid_file: &std::path::Path) -> Result<Exec, RpcError> {
        let io_err = |what: &str, e: std::io::Error| RpcError::internal(format!("opening {what}: {e}"));
        let io = super::open_stdio(params, terminal)?;
        let mut exec = Exec { pid: 0, exit: None, stdin_keeper: io.stdin_keeper, output_keepers: io.output_keepers, tty: None };
        let stdin_path = param_str(params, "stdin");
        let console = if terminal { Some(tty::ConsoleSocket::bind(&self.flags.workdir).map_err(|e| io_err("the console socket", e))?) } else { None };
        let console_arg = console.as_ref().map(|c| c.path.display().to_string());
        let (process_arg, pid_arg) = (process_file.display().to_string(), pid_file.display().to_string());
        let mut args = vec!["exec", "--detach", "--pid-file", &pid_arg, "--process", &process_arg];
        if let Some(c) = &console_arg {
            args.extend(["--console-socket", c]);
        }
        let task_id = self.id.clone();
        args.push(&task_id);
        exec.pid = self.run_for_pid(&args, pid_file, io.stdin, io.stdout, io.stderr)?;
        if let Some(console) = console {
            match console.receive(stdin_path, param_str(params, "stdout")) {
                Ok(t) => exec.tty = Some(t),
                Err(e) => {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(exec.pid as i32), nix::sys::signal::Signal::SIGKILL);
                    return Err(io_err("the console", e));
                }
            }
        }
        Ok(exec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_ids_are_file_names() {
        assert!(valid_exec_id("0123abcdef"));
        assert!(!valid_exec_id("../x"));
        assert!(!valid_exec_id(""));
        assert!(!valid_exec_id("a/b"));
    }
}
