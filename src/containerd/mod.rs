//! docker-containerd: the container supervisor dockerd talks to. It serves the JSON-lines RPC
//! of [`crate::rpc`] on a unix socket, starts one docker-containerd-shim per container, keeps a
//! cached view of every task, and broadcasts task events.
//!
//! Layout (namespace is always `moby`):
//! - `<root>/io.containerd.runtime.v1.linux/moby/<id>/`: the shim's workdir (log.json, init.pid,
//!   exit, shim.log, and containerd's task.json naming the runtime). Persistent. A deleted
//!   task's is renamed `.deleted-<id>-<random>` and removed after the answer.
//! - `<state>/io.containerd.runtime.v1.linux/moby/<id>/shim.sock`: the shim's socket. Volatile.
//!
//! Containers outlive containerd: the shims are setsid'd, and on start containerd scans the
//! state directory, reconnects to every live shim and learns its state. For every task it keeps
//! one thread blocked in the shim's `wait` (see [`crate::shim`] for that protocol); its answer
//! becomes a `/tasks/exit` event. Exit statuses are Docker's: 128+N for death by signal N.
//!
//! Methods (params → result): `version` → {version, rpc}; `create` {id, bundle, runtime?,
//! runtime_root?, stdin?, stdout?, stderr?, terminal} → {pid}; `start` {id} → {pid};
//! `kill` {id, signal, all} → {}; `close_stdin` {id} → {};
//! `resize` {id, height, width} → {} (terminal tasks); `delete` {id} → {pid, exit_status,
//! exited_at}; `state` {id} → {id, pid, status, exit_status, exited_at, bundle}; `list` →
//! {tasks: [state]}; `wait` {id} → {pid, exit_status, exited_at} once the task has exited;
//! `events` → a first line {topic: "/subscribed"}, then one line per event
//! (`/tasks/create|start|exit|delete` with id, pid and, for exit/delete, exit_status and
//! exited_at) until the client hangs up. Exec processes: see [`exec`]. Unknown ids fail with not_found "no such task: ID";
//! a duplicate create with already_exists; a runtime's refusal with failed_precondition and
//! the runtime's own message.

pub mod client;
pub mod ctr;
mod exec;

use crate::rpc::{self, ErrorKind, RpcError};
use clap::Parser;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::BufReader;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Condvar, Mutex};

const NAMESPACE: &str = "moby";
const RUNTIME_DIR: &str = "io.containerd.runtime.v1.linux";
/// containerd's own note in a shim's workdir.
const TASK_RECORD: &str = "task.json";
/// Work directories of deleted tasks being removed (`.deleted-<id>-<random>`), beside the
/// live ones; what a crash left of them goes at the next start.
const DELETED_PREFIX: &str = ".deleted-";

#[derive(Parser, Debug)]
#[command(name = "containerd", about = "high performance container runtime", disable_version_flag = true)]
struct Opts {
    /// The unix socket to serve the API on.
    #[arg(short = 'a', long, default_value = "/run/containerd/containerd.sock")]
    address: PathBuf,
    /// Persistent state: the shims' work directories.
    #[arg(long, default_value = "/var/lib/containerd")]
    root: PathBuf,
    /// Volatile state: the shims' sockets.
    #[arg(long, default_value = "/run/containerd")]
    state: PathBuf,
    /// The default OCI runtime: a path, or a name looked up in PATH (default: our docker-runc).
    #[arg(long)]
    runtime: Option<String>,
    /// The runtime's state root (`--root` of runc, plus the namespace).
    #[arg(long)]
    runtime_root: Option<PathBuf>,
    /// The shim executable (default: our docker-containerd-shim).
    #[arg(long)]
    shim: Option<PathBuf>,
    /// Accepted for compatibility with Docker's command line; not read.
    #[arg(short = 'c', long)]
    config: Option<PathBuf>,
    #[arg(long)]
    debug: bool,
    /// Print the version and exit.
    #[arg(short = 'v', long)]
    version: bool,
}

/// containerd's cached view of one task.
struct Task {
    bundle: String,
    pid: u32,
    status: String,
    exit: Option<(i32, String)>,
    /// The shim, when this containerd started it (after a restart the shim is not our child).
    shim: Option<Child>,
    /// False when the shim was found dead at recovery: only its recorded exit remains.
    shim_alive: bool,
    /// A `start` is in flight: an exit seen meanwhile waits in `held_exit_event`, so that
    /// subscribers always see /tasks/start before /tasks/exit.
    starting: bool,
    held_exit_event: Option<Value>,
    /// A `delete` is in flight: the shim's going away is expected, not a crash.
    deleting: bool,
}

impl Task {
    fn state(&self, id: &str) -> Value {
        json!({
            "id": id,
            "pid": self.pid,
            "status": self.status,
            "exit_status": self.exit.as_ref().map(|e| e.0),
            "exited_at": self.exit.as_ref().map(|e| e.1.as_str()),
            "bundle": self.bundle,
        })
    }
}

struct Daemon {
    root: PathBuf,
    state: PathBuf,
    address: PathBuf,
    default_runtime: Option<String>,
    runtime_root: PathBuf,
    shim: Option<PathBuf>,
    debug: bool,
    tasks: Mutex<HashMap<String, Task>>,
    /// Notified whenever a task exits or disappears.
    changed: Condvar,
    subscribers: Mutex<Vec<mpsc::Sender<Value>>>,
}

pub fn main(args: Vec<String>) -> i32 {
    let opts = match Opts::try_parse_from(&args) {
        Ok(o) => o,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    if opts.version {
        println!("containerd dockbox {}", crate::version::DOCKBOX);
        return 0;
    }
    let runtime_root = opts.runtime_root.clone().unwrap_or_else(|| opts.state.join("runtime-runc"));
    let daemon = Arc::new(Daemon {
        root: opts.root,
        state: opts.state,
        address: opts.address,
        default_runtime: opts.runtime,
        runtime_root,
        shim: opts.shim,
        debug: opts.debug,
        tasks: Mutex::new(HashMap::new()),
        changed: Condvar::new(),
        subscribers: Mutex::new(Vec::new()),
    });
    match run(daemon) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("containerd: {e}");
            1
        }
    }
}

fn run(daemon: Arc<Daemon>) -> std::io::Result<()> {
    std::fs::create_dir_all(daemon.root.join(RUNTIME_DIR).join(NAMESPACE))?;
    std::fs::create_dir_all(daemon.state.join(RUNTIME_DIR).join(NAMESPACE))?;
    if let Some(parent) = daemon.address.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if crate::sys::connect_unix(&daemon.address).is_ok() {
        return Err(std::io::Error::other(format!("another containerd is serving on {}", daemon.address.display())));
    }
    daemon.recover();
    let listener = crate::sys::bind_unix(&daemon.address)?;
    if daemon.debug {
        eprintln!("containerd: serving on {}", daemon.address.display());
    }
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let d = daemon.clone();
        std::thread::spawn(move || d.serve_connection(stream));
    }
    Ok(())
}

fn bad(msg: impl Into<String>) -> RpcError {
    RpcError::new(ErrorKind::InvalidArgument, msg)
}

fn no_such_task(id: &str) -> RpcError {
    RpcError::not_found(format!("no such task: {id}"))
}

fn str_param<'a>(params: &'a Value, key: &str) -> Option<&'a str> {
    params.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn id_param(params: &Value) -> Result<String, RpcError> {
    let id = str_param(params, "id").ok_or_else(|| bad("missing task id"))?;
    if id.contains('/') || id == "." || id == ".." || id.starts_with(DELETED_PREFIX) || id.len() > 255 {
        return Err(bad(format!("invalid task id {id:?}")));
    }
    Ok(id.to_string())
}

/// Whether the other end of `stream` has hung up (it never sends anything after `events`).
fn peer_closed(stream: &UnixStream) -> bool {
    let mut byte = 0u8;
    // SAFETY: recv writes at most one byte into a live local; MSG_DONTWAIT keeps it from blocking.
    let n = unsafe { libc::recv(stream.as_raw_fd(), &mut byte as *mut u8 as *mut libc::c_void, 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
    n == 0 || (n < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::WouldBlock)
}

/// Calls one method of a shim over a fresh connection.
fn call_shim(sock: &Path, method: &str, params: Value) -> Result<Value, RpcError> {
    let stream = crate::sys::connect_unix(sock).map_err(|e| RpcError::new(ErrorKind::Unavailable, format!("connecting to shim {}: {e}", sock.display())))?;
    rpc::call(&mut BufReader::new(stream), method, params)
}

/// Where a runtime name leads: the executable to run and the argv[0] to give it.
fn resolve_runtime(name: Option<&str>) -> Result<(PathBuf, String), RpcError> {
    let Some(name) = name else {
        return Ok((crate::sys::self_exe(), "docker-runc".to_string()));
    };
    if name.contains('/') {
        return Ok((PathBuf::from(name), name.to_string()));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok((candidate, name.to_string()));
        }
    }
    if crate::runc::is_applet_name(name) {
        return Ok((crate::sys::self_exe(), name.to_string()));
    }
    Err(bad(format!("runtime {name:?} not found in PATH")))
}

impl Daemon {
    fn workdir(&self, id: &str) -> PathBuf {
        self.root.join(RUNTIME_DIR).join(NAMESPACE).join(id)
    }

    fn statedir(&self, id: &str) -> PathBuf {
        self.state.join(RUNTIME_DIR).join(NAMESPACE).join(id)
    }

    fn shim_socket(&self, id: &str) -> PathBuf {
        self.statedir(id).join("shim.sock")
    }

    fn publish(&self, event: Value) {
        if self.debug {
            eprintln!("containerd: event {event}");
        }
        self.subscribers.lock().unwrap().retain(|s| s.send(event.clone()).is_ok());
    }

    fn serve_connection(self: Arc<Self>, stream: UnixStream) {
        let Ok(writer) = stream.try_clone() else { return };
        let mut writer = writer;
        let mut reader = BufReader::new(stream);
        loop {
            let req = match rpc::read_request(&mut reader) {
                Ok(Some(r)) => r,
                Ok(None) => return,
                Err(e) => {
                    let _ = rpc::write_response(&mut writer, Err(bad(e.to_string())));
                    return;
                }
            };
            if self.debug {
                eprintln!("containerd: {} {}", req.method, req.params);
            }
            if req.method == "events" {
                self.stream_events(&mut writer);
                return;
            }
            let result = self.handle(&req.method, &req.params);
            if rpc::write_response(&mut writer, result).is_err() {
                return;
            }
        }
    }

    fn stream_events(&self, writer: &mut UnixStream) {
        let (tx, rx) = mpsc::channel();
        self.subscribers.lock().unwrap().push(tx);
        // The first line confirms the subscription, so a client knows no later event is missed.
        if rpc::write_response(writer, Ok(json!({"topic": "/subscribed"}))).is_err() {
            return;
        }
        loop {
            match rx.recv_timeout(std::time::Duration::from_secs(2)) {
                Ok(event) => {
                    if rpc::write_response(writer, Ok(event)).is_err() {
                        return;
                    }
                }
                // Quiet periods: notice a subscriber that went away, so its thread ends.
                Err(mpsc::RecvTimeoutError::Timeout) if peer_closed(writer) => return,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn handle(self: &Arc<Self>, method: &str, params: &Value) -> Result<Value, RpcError> {
        match method {
            "version" => Ok(json!({"version": crate::version::DOCKBOX, "rpc": crate::version::RPC_VERSION})),
            "create" => self.create(params),
            "start" => self.start(&id_param(params)?),
            "kill" => {
                let id = id_param(params)?;
                let signal = params.get("signal").and_then(Value::as_i64).unwrap_or(15);
                let all = params.get("all").and_then(Value::as_bool).unwrap_or(false);
                self.forward(&id, "kill", json!({"signal": signal, "all": all}))
            }
            "close_stdin" => self.forward(&id_param(params)?, "close_stdin", json!({})),
            "pause" | "resume" => self.forward(&id_param(params)?, method, json!({})),
            "resize" => self.resize(params),
            "update" => self.update(params),
            "delete" => self.delete(&id_param(params)?),
            "state" => {
                let id = id_param(params)?;
                let tasks = self.tasks.lock().unwrap();
                tasks.get(&id).map(|t| t.state(&id)).ok_or_else(|| no_such_task(&id))
            }
            "list" => {
                let tasks = self.tasks.lock().unwrap();
                let mut ids: Vec<&String> = tasks.keys().collect();
                ids.sort();
                Ok(json!({"tasks": ids.into_iter().map(|id| tasks[id].state(id)).collect::<Vec<_>>()}))
            }
            "wait" => self.wait(&id_param(params)?),
            m if exec::METHODS.contains(&m) => self.handle_exec(m, params),
            _ => Err(bad(format!("unknown method {method:?}"))),
        }
    }

    /// `resize` {id, height, width}: the shim sets its pty's size.
    fn resize(&self, params: &Value) -> Result<Value, RpcError> {
        let id = id_param(params)?;
        let dim = |k: &str| params.get(k).and_then(Value::as_u64).filter(|&v| v <= u32::MAX as u64).ok_or_else(|| bad(format!("resize: missing or invalid {k}")));
        let (height, width) = (dim("height")?, dim("width")?);
        self.forward(&id, "resize", json!({"height": height, "width": width}))
    }

    /// `update` {id, resources}: the shim has the runtime apply new limits.
    fn update(&self, params: &Value) -> Result<Value, RpcError> {
        let id = id_param(params)?;
        let resources = params.get("resources").filter(|r| r.is_object()).ok_or_else(|| bad("update: missing resources"))?;
        self.forward(&id, "update", json!({"resources": resources}))
    }

    /// Sends a request to a task's shim.
    fn forward(&self, id: &str, method: &str, params: Value) -> Result<Value, RpcError> {
        {
            let tasks = self.tasks.lock().unwrap();
            let task = tasks.get(id).ok_or_else(|| no_such_task(id))?;
            if !task.shim_alive {
                return Err(RpcError::not_found("process already finished"));
            }
        }
        call_shim(&self.shim_socket(id), method, params)
    }

    fn create(self: &Arc<Self>, params: &Value) -> Result<Value, RpcError> {
        let id = id_param(params)?;
        let bundle = str_param(params, "bundle").ok_or_else(|| bad("create: missing bundle"))?.to_string();
        let (runtime, runtime_name) = resolve_runtime(str_param(params, "runtime").or(self.default_runtime.as_deref()))?;
        {
            let mut tasks = self.tasks.lock().unwrap();
            if tasks.contains_key(&id) || self.statedir(&id).exists() {
                return Err(RpcError::new(ErrorKind::AlreadyExists, format!("task {id}: already exists")));
            }
            // Reserve the id while the shim starts.
            tasks.insert(id.clone(), Task { bundle: bundle.clone(), pid: 0, status: "creating".into(), exit: None, shim: None, shim_alive: true, starting: false, held_exit_event: None, deleting: false });
        }
        match self.create_with_shim(&id, &bundle, &runtime, &runtime_name, params) {
            Ok((pid, child)) => {
                {
                    let mut tasks = self.tasks.lock().unwrap();
                    if let Some(t) = tasks.get_mut(&id) {
                        t.pid = pid;
                        t.status = "created".into();
                        t.shim = Some(child);
                    }
                }
                self.spawn_exit_watcher(id.clone());
                self.publish(json!({"topic": "/tasks/create", "id": id, "pid": pid}));
                Ok(json!({"pid": pid}))
            }
            Err(e) => {
                self.tasks.lock().unwrap().remove(&id);
                let _ = std::fs::remove_dir_all(self.statedir(&id));
                let _ = std::fs::remove_dir_all(self.workdir(&id));
                Err(e)
            }
        }
    }

    fn create_with_shim(&self, id: &str, bundle: &str, runtime: &Path, runtime_name: &str, params: &Value) -> Result<(u32, Child), RpcError> {
        let internal = |what: &str, e: std::io::Error| RpcError::internal(format!("{what}: {e}"));
        let workdir = self.workdir(id);
        let statedir = self.statedir(id);
        std::fs::create_dir_all(&workdir).map_err(|e| internal("creating shim workdir", e))?;
        std::fs::create_dir_all(&statedir).map_err(|e| internal("creating shim state dir", e))?;
        let sock = self.shim_socket(id);
        let listener = crate::sys::bind_unix(&sock).map_err(|e| internal("binding shim socket", e))?;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(workdir.join("shim.log")).map_err(|e| internal("opening shim log", e))?;
        let mut cmd = match &self.shim {
            Some(path) => {
                let mut c = Command::new(path);
                c.arg0("docker-containerd-shim");
                c
            }
            None => crate::sys::applet_command("docker-containerd-shim"),
        };
        let runtime_root = str_param(params, "runtime_root").map(PathBuf::from).unwrap_or_else(|| self.runtime_root.clone());
        cmd.arg("-namespace")
            .arg(NAMESPACE)
            .arg("-workdir")
            .arg(&workdir)
            .arg("-address")
            .arg(&self.address)
            .arg("-containerd-binary")
            .arg(crate::sys::self_exe())
            .arg("-runtime-root")
            .arg(&runtime_root)
            .arg("-runtime")
            .arg(runtime)
            .arg("-runtime-name")
            .arg(runtime_name);
        if self.debug {
            cmd.arg("-debug");
        }
        let log_err = log.try_clone().map_err(|e| internal("opening shim log", e))?;
        cmd.stdin(Stdio::null()).stdout(log).stderr(log_err);
        let listener_fd = listener.as_raw_fd();
        // SAFETY: the closure runs in the forked child before exec and only makes
        // async-signal-safe syscalls (dup2, fcntl, setsid) on descriptors it owns.
        unsafe {
            cmd.pre_exec(move || {
                if listener_fd == 3 {
                    if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                } else if libc::dup2(listener_fd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::setsid();
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| internal("starting docker-containerd-shim", e))?;
        drop(listener);
        // Written while the shim starts up (it does not read it). Read only while the task's
        // state directory (volatile) exists, so within this boot.
        let record = json!({"bundle": bundle, "runtime": runtime, "runtime_name": runtime_name, "runtime_root": runtime_root});
        if let Err(e) = crate::sys::write_atomic_volatile(&workdir.join(TASK_RECORD), record.to_string().as_bytes()) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(internal("writing task record", e));
        }
        let mut shim_params = json!({
            "id": id,
            "bundle": bundle,
            "terminal": params.get("terminal").and_then(Value::as_bool).unwrap_or(false),
            "no_pivot": params.get("no_pivot").and_then(Value::as_bool).unwrap_or(false),
        });
        for key in ["stdin", "stdout", "stderr"] {
            if let Some(p) = str_param(params, key) {
                shim_params[key] = json!(p);
            }
        }
        match call_shim(&sock, "create", shim_params) {
            Ok(v) => Ok((v.get("pid").and_then(Value::as_u64).unwrap_or(0) as u32, child)),
            Err(e) => {
                // The shim exits after a failed create; do not leave it as a zombie. A shim
                // that died (was killed) during the create may leave the runtime's create
                // going on without it: that ends too, and what it made is deleted.
                let _ = child.kill();
                let _ = child.wait();
                kill_shim_group(child.id() as i32);
                self.runtime_delete_force(id, Some((runtime.to_path_buf(), runtime_name.to_string())), &runtime_root);
                Err(e)
            }
        }
    }

    /// Keeps one connection blocked in the shim's `wait`; its answer is the task's exit.
    fn spawn_exit_watcher(self: &Arc<Self>, id: String) {
        let d = self.clone();
        std::thread::spawn(move || {
            let result = call_shim(&d.shim_socket(&id), "wait", json!({}));
            let (code, at) = match result {
                Ok(v) => (
                    v.get("exit_status").and_then(Value::as_i64).unwrap_or(255) as i32,
                    v.get("exited_at").and_then(Value::as_str).unwrap_or_default().to_string(),
                ),
                Err(_) => {
                    let shim = {
                        let mut tasks = d.tasks.lock().unwrap();
                        let Some(task) = tasks.get_mut(&id) else { return };
                        if task.deleting || task.exit.is_some() {
                            return;
                        }
                        task.shim_alive = false;
                        let shim = task.shim.as_mut().map(|child| {
                            let _ = child.wait();
                            child.id() as i32
                        });
                        task.shim = None;
                        shim
                    };
                    // Not under the lock: this waits for processes.
                    if let Some(shim) = shim {
                        kill_shim_group(shim);
                    }
                    d.dead_shim_exit(&id)
                }
            };
            let mut tasks = d.tasks.lock().unwrap();
            let Some(task) = tasks.get_mut(&id) else { return };
            if task.exit.is_some() {
                return;
            }
            task.exit = Some((code, at.clone()));
            task.status = "stopped".into();
            let event = json!({"topic": "/tasks/exit", "id": id, "pid": task.pid, "exit_status": code, "exited_at": at});
            if task.starting {
                task.held_exit_event = Some(event);
            } else {
                d.publish(event);
            }
            drop(tasks);
            d.changed.notify_all();
        });
    }

    fn start(&self, id: &str) -> Result<Value, RpcError> {
        {
            let mut tasks = self.tasks.lock().unwrap();
            let task = tasks.get_mut(id).ok_or_else(|| no_such_task(id))?;
            if task.starting {
                return Err(RpcError::new(ErrorKind::FailedPrecondition, format!("task {id} is already being started")));
            }
            task.starting = true;
        }
        let result = self.forward(id, "start", json!({}));
        let mut tasks = self.tasks.lock().unwrap();
        let Some(task) = tasks.get_mut(id) else { return result };
        task.starting = false;
        let held = task.held_exit_event.take();
        let pid = result.as_ref().ok().and_then(|v| v.get("pid")).and_then(Value::as_u64).unwrap_or(0);
        if result.is_ok() {
            if task.exit.is_none() {
                task.status = "running".into();
            }
            self.publish(json!({"topic": "/tasks/start", "id": id, "pid": pid}));
        }
        if let Some(event) = held {
            self.publish(event);
        }
        result.map(|_| json!({"pid": pid}))
    }

    fn wait(&self, id: &str) -> Result<Value, RpcError> {
        let mut tasks = self.tasks.lock().unwrap();
        loop {
            let task = tasks.get(id).ok_or_else(|| no_such_task(id))?;
            if let Some((code, at)) = &task.exit {
                return Ok(json!({"pid": task.pid, "exit_status": code, "exited_at": at}));
            }
            tasks = self.changed.wait(tasks).unwrap();
        }
    }

    fn delete(&self, id: &str) -> Result<Value, RpcError> {
        let alive = {
            let mut tasks = self.tasks.lock().unwrap();
            let task = tasks.get_mut(id).ok_or_else(|| no_such_task(id))?;
            if task.status == "creating" || task.deleting {
                return Err(RpcError::new(ErrorKind::FailedPrecondition, format!("task {id} is being created or deleted")));
            }
            task.deleting = task.shim_alive;
            task.shim_alive
        };
        // A dead shim's container was already cleared when its death was noticed.
        let result = if alive {
            match call_shim(&self.shim_socket(id), "delete", json!({})) {
                Ok(v) => v,
                // A shim that died before or during its delete (killed): what it would have
                // deleted is deleted here, as for any dead shim.
                Err(_) if crate::sys::connect_unix(&self.shim_socket(id)).is_err() => {
                    let shim = self.tasks.lock().unwrap().get_mut(id).and_then(|t| {
                        t.shim_alive = false;
                        t.shim.take()
                    });
                    if let Some(mut child) = shim {
                        let _ = child.wait();
                        kill_shim_group(child.id() as i32);
                    }
                    let (code, at) = self.dead_shim_exit(id);
                    if let Some(t) = self.tasks.lock().unwrap().get_mut(id) {
                        t.exit.get_or_insert((code, at));
                    }
                    Value::Null
                }
                Err(e) => {
                    if let Some(t) = self.tasks.lock().unwrap().get_mut(id) {
                        t.deleting = false;
                    }
                    return Err(e);
                }
            }
        } else {
            Value::Null
        };
        let task = self.tasks.lock().unwrap().remove(id);
        let Some(task) = task else { return Err(no_such_task(id)) };
        let (code, at) = match (&result, &task.exit) {
            (Value::Object(_), _) => (
                result.get("exit_status").and_then(Value::as_i64).unwrap_or(255) as i32,
                result.get("exited_at").and_then(Value::as_str).unwrap_or_default().to_string(),
            ),
            (_, Some((c, a))) => (*c, a.clone()),
            _ => (255, String::new()),
        };
        // The answer does not wait for the rest: the shim has answered and is on its way out
        // (reaped on a thread), and its work directory is renamed out of the way of a next
        // task of this id and deleted there too. The state directory (the socket) goes now.
        let _ = std::fs::remove_dir_all(self.statedir(id));
        let trash = self.root.join(RUNTIME_DIR).join(NAMESPACE).join(format!("{DELETED_PREFIX}{id}-{}", &crate::ids::new_id()[..8]));
        let moved = std::fs::rename(self.workdir(id), &trash).is_ok();
        if moved || task.shim.is_some() {
            let mut shim = task.shim;
            std::thread::spawn(move || {
                if let Some(child) = shim.as_mut() {
                    let _ = child.wait();
                }
                if moved {
                    let _ = std::fs::remove_dir_all(trash);
                }
            });
        } else {
            let _ = std::fs::remove_dir_all(self.workdir(id));
        }
        self.changed.notify_all();
        self.publish(json!({"topic": "/tasks/delete", "id": id, "pid": task.pid, "exit_status": code, "exited_at": at}));
        Ok(json!({"pid": task.pid, "exit_status": code, "exited_at": at}))
    }

    /// What is left of a task whose shim died: the runtime is told to kill and forget the
    /// container, and the exit is the one the shim recorded, or SIGKILL's 137.
    fn dead_shim_exit(&self, id: &str) -> (i32, String) {
        let record = read_task_record(&self.workdir(id));
        let field = |k: &str| record.as_ref().and_then(|r| r.get(k)).and_then(Value::as_str).map(str::to_string);
        let runtime = match (field("runtime"), field("runtime_name")) {
            (Some(path), Some(name)) => Some((PathBuf::from(path), name)),
            _ => resolve_runtime(self.default_runtime.as_deref()).ok(),
        };
        let runtime_root = field("runtime_root").map(PathBuf::from).unwrap_or_else(|| self.runtime_root.clone());
        self.runtime_delete_force(id, runtime, &runtime_root);
        read_exit_file(&self.workdir(id)).map(|(_, c, a)| (c, a)).unwrap_or_else(|| (137, crate::sys::rfc3339_nanos(std::time::SystemTime::now())))
    }

    /// `runtime delete --force ID`: the container killed and forgotten by its runtime.
    fn runtime_delete_force(&self, id: &str, runtime: Option<(PathBuf, String)>, runtime_root: &Path) {
        if let Some((path, name)) = runtime {
            let _ = Command::new(path)
                .arg0(name)
                .arg("--root")
                .arg(runtime_root.join(NAMESPACE))
                .args(["delete", "--force", id])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }

    /// Re-learns the tasks whose shims survived a crash or restart of containerd.
    fn recover(self: &Arc<Self>) {
        for e in std::fs::read_dir(self.root.join(RUNTIME_DIR).join(NAMESPACE)).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with(DELETED_PREFIX) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let base = self.state.join(RUNTIME_DIR).join(NAMESPACE);
        let Ok(entries) = std::fs::read_dir(&base) else { return };
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            let sock = self.shim_socket(&id);
            match call_shim(&sock, "state", json!({})) {
                Ok(v) if v.get("status").and_then(Value::as_str) != Some("unknown") => {
                    let exit = v.get("exit_status").and_then(Value::as_i64).map(|c| (c as i32, v.get("exited_at").and_then(Value::as_str).unwrap_or_default().to_string()));
                    let task = Task {
                        bundle: v.get("bundle").and_then(Value::as_str).unwrap_or_default().to_string(),
                        pid: v.get("pid").and_then(Value::as_u64).unwrap_or(0) as u32,
                        status: v.get("status").and_then(Value::as_str).unwrap_or("unknown").to_string(),
                        exit,
                        shim: None,
                        shim_alive: true,
                        starting: false,
                        held_exit_event: None,
                        deleting: false,
                    };
                    if self.debug {
                        eprintln!("containerd: recovered task {id} ({})", task.status);
                    }
                    self.tasks.lock().unwrap().insert(id.clone(), task);
                    self.spawn_exit_watcher(id.clone());
                    self.recover_execs(&id);
                }
                Ok(_) => {
                    // containerd died while this shim was being created: nothing to keep.
                    let _ = call_shim(&sock, "delete", json!({}));
                    let _ = std::fs::remove_dir_all(self.statedir(&id));
                    let _ = std::fs::remove_dir_all(self.workdir(&id));
                }
                Err(_) => {
                    // A dead shim: clear its container, keep the task visible as stopped so
                    // dockerd learns its end and can delete it.
                    let exit = self.dead_shim_exit(&id);
                    let task = Task {
                        bundle: read_task_record(&self.workdir(&id)).and_then(|r| r.get("bundle").and_then(Value::as_str).map(str::to_string)).unwrap_or_default(),
                        pid: std::fs::read_to_string(self.workdir(&id).join("init.pid")).ok().and_then(|p| p.trim().parse().ok()).unwrap_or(0),
                        status: "stopped".into(),
                        exit: Some(exit),
                        shim: None,
                        shim_alive: false,
                        starting: false,
                        held_exit_event: None,
                        deleting: false,
                    };
                    self.tasks.lock().unwrap().insert(id, task);
                }
            }
        }
    }
}

/// Kills what is left of a dead shim's process group (the shim is a session leader): a
/// runtime it was running (`create`, `exec`, `delete`, ...) would otherwise go on alone and
/// could make a container, or keep a state directory, after the runtime's `delete --force`
/// has run. Waits (5 s at most) until no live process is left in the group.
fn kill_shim_group(shim: i32) {
    if shim <= 1 {
        return;
    }
    let group = nix::unistd::Pid::from_raw(shim);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while group_has_live_members(shim) && std::time::Instant::now() < deadline {
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Whether a process that is not a zombie is in process group `pgid`.
fn group_has_live_members(pgid: i32) -> bool {
    std::fs::read_dir("/proc").into_iter().flatten().flatten().any(|e| {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { return false };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
        // pid (comm) state ppid pgrp ...
        let mut fields = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace()).into_iter().flatten();
        let state = fields.next().unwrap_or("Z");
        fields.nth(1).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) && state != "Z" && state != "X"
    })
}

/// What containerd wrote about a task at create (bundle, runtime, runtime_name, runtime_root),
/// for when its shim is gone.
fn read_task_record(workdir: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(workdir.join(TASK_RECORD)).ok()?).ok()
}

/// The exit a shim recorded in its workdir: (pid, exit status, exited at).
fn read_exit_file(workdir: &Path) -> Option<(u32, i32, String)> {
    let v: Value = serde_json::from_slice(&std::fs::read(crate::shim::exit_file(workdir)).ok()?).ok()?;
    Some((
        v.get("pid")?.as_u64()? as u32,
        v.get("exit_status")?.as_i64()? as i32,
        v.get("exited_at").and_then(Value::as_str).unwrap_or_default().to_string(),
    ))
}
