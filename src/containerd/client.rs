//! The client of docker-containerd that dockerd (and ctr) use: one short connection per call,
//! one long one for the event stream, and a helper that starts the daemon as a child.

use crate::rpc::{self, ErrorKind, RpcError};
use serde_json::{json, Value};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

pub struct Client {
    address: PathBuf,
}

/// What `create` needs: the bundle and the FIFOs the caller made for the container's stdio.
#[derive(Debug, Clone, Default)]
pub struct CreateTask {
    pub id: String,
    pub bundle: PathBuf,
    /// A runtime name (looked up in containerd's PATH) or path; None is containerd's default.
    pub runtime: Option<String>,
    pub stdin: Option<PathBuf>,
    pub stdout: Option<PathBuf>,
    pub stderr: Option<PathBuf>,
    pub terminal: bool,
    /// The runtime enters the rootfs without pivot_root (`--no-pivot`): dockerd's
    /// DOCKER_RAMDISK, for hosts running from an initramfs, where pivot_root fails.
    pub no_pivot: bool,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TaskState {
    pub id: String,
    pub pid: u32,
    /// created, running or stopped.
    pub status: String,
    /// Docker's convention: 128+N when killed by signal N.
    pub exit_status: Option<i32>,
    pub exited_at: Option<String>,
    pub bundle: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ExitInfo {
    pub pid: u32,
    pub exit_status: i32,
    pub exited_at: String,
}

#[derive(Debug, Clone)]
pub enum Event {
    Create { id: String, pid: u32 },
    Start { id: String, pid: u32 },
    Exit { id: String, pid: u32, exit_status: i32, exited_at: String },
    Delete { id: String },
    /// An exec process of task `id` ended.
    ExecExit { id: String, exec_id: String, pid: u32, exit_status: i32, exited_at: String },
}

/// What `exec` needs: the process (an OCI `process` object) and the FIFOs of its stdio.
#[derive(Debug, Clone, Default)]
pub struct ExecProcess {
    pub id: String,
    pub exec_id: String,
    pub process: Value,
    pub stdin: Option<PathBuf>,
    pub stdout: Option<PathBuf>,
    pub stderr: Option<PathBuf>,
    pub terminal: bool,
}

fn get_str(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn get_u32(v: &Value, key: &str) -> u32 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0) as u32
}

fn exit_info(v: &Value, pid: u32) -> ExitInfo {
    ExitInfo { pid: v.get("pid").and_then(Value::as_u64).map(|p| p as u32).unwrap_or(pid), exit_status: v.get("exit_status").and_then(Value::as_i64).unwrap_or(255) as i32, exited_at: get_str(v, "exited_at") }
}

pub fn parse_event(v: &Value) -> Option<Event> {
    let id = get_str(v, "id");
    let pid = get_u32(v, "pid");
    Some(match v.get("topic")?.as_str()? {
        "/tasks/create" => Event::Create { id, pid },
        "/tasks/start" => Event::Start { id, pid },
        "/tasks/exit" if v.get("exec_id").is_some() => Event::ExecExit { id, exec_id: get_str(v, "exec_id"), pid, exit_status: v.get("exit_status").and_then(Value::as_i64).unwrap_or(255) as i32, exited_at: get_str(v, "exited_at") },
        "/tasks/exit" => Event::Exit { id, pid, exit_status: v.get("exit_status").and_then(Value::as_i64).unwrap_or(255) as i32, exited_at: get_str(v, "exited_at") },
        "/tasks/delete" => Event::Delete { id },
        _ => return None,
    })
}

impl Client {
    pub fn new(address: &Path) -> Client {
        Client { address: address.to_path_buf() }
    }

    fn connect(&self) -> Result<BufReader<std::os::unix::net::UnixStream>, RpcError> {
        let stream = crate::sys::connect_unix(&self.address).map_err(|e| RpcError::new(ErrorKind::Unavailable, format!("connecting to containerd at {}: {e}", self.address.display())))?;
        Ok(BufReader::new(stream))
    }

    fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        rpc::call(&mut self.connect()?, method, params)
    }

    pub fn version(&self) -> Result<String, RpcError> {
        Ok(get_str(&self.call("version", json!({}))?, "version"))
    }

    pub fn create(&self, t: &CreateTask) -> Result<u32, RpcError> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
        let v = self.call(
            "create",
            json!({
                "id": t.id,
                "bundle": t.bundle.to_string_lossy(),
                "runtime": t.runtime,
                "stdin": path(&t.stdin),
                "stdout": path(&t.stdout),
                "stderr": path(&t.stderr),
                "terminal": t.terminal,
                "no_pivot": t.no_pivot,
            }),
        )?;
        Ok(get_u32(&v, "pid"))
    }

    pub fn start(&self, id: &str) -> Result<u32, RpcError> {
        Ok(get_u32(&self.call("start", json!({"id": id}))?, "pid"))
    }

    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RpcError> {
        self.call("kill", json!({"id": id, "signal": signal, "all": all})).map(drop)
    }

    pub fn delete(&self, id: &str) -> Result<ExitInfo, RpcError> {
        Ok(exit_info(&self.call("delete", json!({"id": id}))?, 0))
    }

    pub fn state(&self, id: &str) -> Result<TaskState, RpcError> {
        let v = self.call("state", json!({"id": id}))?;
        serde_json::from_value(v).map_err(|e| RpcError::internal(format!("bad state answer: {e}")))
    }

    pub fn list(&self) -> Result<Vec<TaskState>, RpcError> {
        let mut v = self.call("list", json!({}))?;
        serde_json::from_value(v.get_mut("tasks").map(Value::take).unwrap_or(json!([]))).map_err(|e| RpcError::internal(format!("bad list answer: {e}")))
    }

    pub fn wait(&self, id: &str) -> Result<ExitInfo, RpcError> {
        Ok(exit_info(&self.call("wait", json!({"id": id}))?, 0))
    }

    /// Freezes every process of the task (`resume` thaws them).
    pub fn pause(&self, id: &str) -> Result<(), RpcError> {
        self.call("pause", json!({"id": id})).map(drop)
    }

    pub fn resume(&self, id: &str) -> Result<(), RpcError> {
        self.call("resume", json!({"id": id})).map(drop)
    }

    /// New limits for the running task: `resources` is the spec's `linux.resources`.
    pub fn update(&self, id: &str, resources: &Value) -> Result<(), RpcError> {
        self.call("update", json!({"id": id, "resources": resources})).map(drop)
    }

    pub fn close_stdin(&self, id: &str) -> Result<(), RpcError> {
        self.call("close_stdin", json!({"id": id})).map(drop)
    }

    /// Runs an exec process in task `id`; returns its pid.
    pub fn exec(&self, p: &ExecProcess) -> Result<u32, RpcError> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
        let v = self.call(
            "exec",
            json!({"id": p.id, "exec_id": p.exec_id, "process": p.process, "stdin": path(&p.stdin), "stdout": path(&p.stdout), "stderr": path(&p.stderr), "terminal": p.terminal}),
        )?;
        Ok(get_u32(&v, "pid"))
    }

    /// Blocks until the exec process has exited.
    pub fn exec_wait(&self, id: &str, exec_id: &str) -> Result<ExitInfo, RpcError> {
        Ok(exit_info(&self.call("exec_wait", json!({"id": id, "exec_id": exec_id}))?, 0))
    }

    /// The exec's exit when it has ended, `None` while it runs (does not block).
    pub fn exec_state(&self, id: &str, exec_id: &str) -> Result<Option<ExitInfo>, RpcError> {
        let v = self.call("exec_state", json!({"id": id, "exec_id": exec_id}))?;
        Ok((v.get("status").and_then(Value::as_str) == Some("stopped")).then(|| exit_info(&v, 0)))
    }

    pub fn exec_kill(&self, id: &str, exec_id: &str, signal: i32) -> Result<(), RpcError> {
        self.call("exec_kill", json!({"id": id, "exec_id": exec_id, "signal": signal})).map(drop)
    }

    pub fn exec_resize(&self, id: &str, exec_id: &str, height: u32, width: u32) -> Result<(), RpcError> {
        self.call("exec_resize", json!({"id": id, "exec_id": exec_id, "height": height, "width": width})).map(drop)
    }

    pub fn exec_close_stdin(&self, id: &str, exec_id: &str) -> Result<(), RpcError> {
        self.call("exec_close_stdin", json!({"id": id, "exec_id": exec_id})).map(drop)
    }

    /// Forgets an exited exec process.
    pub fn exec_delete(&self, id: &str, exec_id: &str) -> Result<(), RpcError> {
        self.call("exec_delete", json!({"id": id, "exec_id": exec_id})).map(drop)
    }

    /// Sets the rows and columns of a terminal task's pty.
    pub fn resize(&self, id: &str, height: u32, width: u32) -> Result<(), RpcError> {
        self.call("resize", json!({"id": id, "height": height, "width": width})).map(drop)
    }

    /// Blocks, calling `f` for each event until the connection drops (Err) or f returns false.
    pub fn events(&self, f: &mut dyn FnMut(Event) -> bool) -> Result<(), RpcError> {
        let mut conn = self.connect()?;
        rpc::write_request(conn.get_mut(), "events", json!({}))?;
        loop {
            let v = rpc::read_response(&mut conn)?;
            if let Some(event) = parse_event(&v) {
                if !f(event) {
                    return Ok(());
                }
            }
        }
    }

    /// The raw event stream, one JSON object per event; the first has topic `/subscribed`
    /// and says the subscription is in place, so no later event can be missed.
    pub fn raw_events(&self, f: &mut dyn FnMut(&Value) -> bool) -> Result<(), RpcError> {
        let mut conn = self.connect()?;
        rpc::write_request(conn.get_mut(), "events", json!({}))?;
        loop {
            let v = rpc::read_response(&mut conn)?;
            if !f(&v) {
                return Ok(());
            }
        }
    }
}

/// Starts docker-containerd as a child of the caller (dockerd), waits until its socket answers `version`, returns the Child.
pub fn spawn_daemon(address: &Path, root: &Path, state: &Path, runtime: Option<&str>, debug: bool) -> std::io::Result<Child> {
    // A containerd left by a dockerd that crashed still serves this socket: end it first, as
    // Docker does (its shims and containers stay; the new containerd reconnects to them).
    let pidfile = address.with_extension("pid");
    if let Some(old) = std::fs::read_to_string(&pidfile).ok().and_then(|p| p.trim().parse::<i32>().ok()) {
        stop_stale_containerd(old);
    }
    let mut cmd = crate::sys::applet_command("docker-containerd");
    cmd.arg("--address").arg(address).arg("--root").arg(root).arg("--state").arg(state).stdin(Stdio::null());
    if let Some(r) = runtime {
        cmd.arg("--runtime").arg(r);
    }
    if debug {
        cmd.arg("--debug");
    }
    let mut child = cmd.spawn()?;
    if let Some(dir) = pidfile.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    crate::sys::write_atomic(&pidfile, child.id().to_string().as_bytes())?;
    let client = Client::new(address);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if client.version().is_ok() {
            return Ok(child);
        }
        if let Some(status) = child.try_wait()? {
            return Err(std::io::Error::other(format!("docker-containerd exited during startup: {status}")));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other("docker-containerd did not answer on its socket in time"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops a containerd of ours left running by an earlier dockerd: SIGTERM, then SIGKILL after
/// ten seconds. A pid now used by another program is left alone.
fn stop_stale_containerd(pid: i32) {
    let argv0 = || {
        std::fs::read(format!("/proc/{pid}/cmdline")).ok().map(|c| c.split(|&b| b == 0).next().map(|a| String::from_utf8_lossy(a).rsplit('/').next().unwrap_or("").to_string()).unwrap_or_default())
    };
    let is_containerd = || argv0().is_some_and(|a| a == "docker-containerd" || a == "containerd");
    // Gone, a zombie with no thread left (its descriptors, the socket among them, closed), or
    // another program. A zombie leader is not enough: the other threads share the descriptor
    // table and may still be exiting. An empty command line is not an exit either: it reads
    // so while the exit is under way, the socket still open.
    let exited = || {
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| s.rsplit_once(')').is_none_or(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))).unwrap_or(true);
        let threads_left = std::fs::read_dir(format!("/proc/{pid}/task")).map(|d| d.count()).unwrap_or(0);
        (zombie && threads_left <= 1) || argv0().is_some_and(|a| !a.is_empty() && a != "docker-containerd" && a != "containerd")
    };
    if pid <= 1 || !is_containerd() {
        return;
    }
    let target = nix::unistd::Pid::from_raw(pid);
    let _ = nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !exited() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if is_containerd() && !exited() {
        let _ = nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !exited() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
