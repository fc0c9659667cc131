//! Exec instances: the records of `docker exec` processes and their runs. A record is made by
//! `POST /containers/{id}/exec`, started once, and keeps its exit code after the process ends
//! (until its container is removed). Records are saved in `<exec-root>/execs/<id>.json`
//! (volatile: an exec process does not outlive the boot), so a restarted dockerd still knows
//! the execs, waits again for the running ones, and finds their exit codes.
//!
//! A run: the process spec is the container's (capabilities, rlimits, ...) with the exec's
//! command, user, working directory and environment; its stdio are FIFOs in the bundle
//! directory (`<exec-id>-stdin|stdout|stderr`), none when detached. An exit is recorded from
//! containerd's event (`/tasks/exit` with `exec_id`), and by one thread per running exec that
//! waits for it through containerd (`exec_wait`, again after a containerd restart: no exit is
//! missed) and then has the shim forget the process.

use super::errors::ApiError;
use super::streams::make_fifo;
use super::{spec, Daemon, Entry};
use crate::containerd::client::ExecProcess;
use crate::rpc::ErrorKind;
use crate::stdcopy::StreamType;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// What an exec is (Docker's ExecConfig) and where its run stands.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ExecRecord {
    pub id: String,
    pub container_id: String,
    pub cmd: Vec<String>,
    pub tty: bool,
    pub privileged: bool,
    pub user: String,
    pub working_dir: String,
    pub env: Vec<String>,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub detach_keys: String,
    pub console_size: Option<[u32; 2]>,
    pub started: bool,
    pub running: bool,
    pub exit_code: Option<i32>,
    pub pid: u32,
}

impl ExecRecord {
    /// `GET /exec/{id}/json`.
    pub fn inspect(&self) -> Value {
        json!({
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {
                "tty": self.tty,
                "entrypoint": self.cmd.first().cloned().unwrap_or_default(),
                "arguments": self.cmd.get(1..).unwrap_or_default(),
                "privileged": self.privileged,
                "user": self.user,
            },
            "OpenStdin": self.attach_stdin,
            "OpenStderr": self.attach_stderr,
            "OpenStdout": self.attach_stdout,
            "CanRemove": false,
            "ContainerID": self.container_id,
            "DetachKeys": self.detach_keys,
            "Pid": self.pid,
        })
    }
}

/// Every exec record, under one lock; waiters on exits share the condition variable.
pub struct Store {
    dir: PathBuf,
    map: Mutex<HashMap<String, ExecRecord>>,
    changed: Condvar,
}

impl Store {
    /// Loads the records a previous dockerd saved in `dir`.
    pub fn open(dir: PathBuf) -> Store {
        let mut map = HashMap::new();
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = e.path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            match std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<ExecRecord>(&b).ok()) {
                Some(r) => {
                    map.insert(r.id.clone(), r);
                }
                None => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        Store { dir, map: Mutex::new(map), changed: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, ExecRecord>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self, r: &ExecRecord) {
        let _ = std::fs::create_dir_all(&self.dir);
        if let Err(e) = write_record(&self.dir.join(format!("{}.json", r.id)), &serde_json::to_vec(r).unwrap_or_default()) {
            crate::log::line(crate::log::Level::Error, "saving an exec record", &[("exec", &r.id), ("error", &e.to_string())]);
        }
    }

    pub fn get(&self, id: &str) -> Option<ExecRecord> {
        self.lock().get(id).cloned()
    }

    /// Changes a record and saves it.
    fn update(&self, id: &str, f: impl FnOnce(&mut ExecRecord)) {
        let mut map = self.lock();
        if let Some(r) = map.get_mut(id) {
            f(r);
            self.save(r);
        }
        drop(map);
        self.changed.notify_all();
    }

    /// The first exit reported wins (the event and the waiter both report it); that one gets
    /// the exec's container id back.
    fn record_exit(&self, id: &str, code: i32) -> Option<String> {
        let container_id = {
            let map = self.lock();
            let r = map.get(id).filter(|r| r.exit_code.is_none())?;
            r.container_id.clone()
        };
        let mut first = false;
        self.update(id, |r| {
            if r.exit_code.is_none() {
                r.exit_code = Some(code);
                first = true;
            }
            r.running = false;
        });
        first.then_some(container_id)
    }

    /// Blocks until the exec has an exit code.
    pub fn wait_exit(&self, id: &str) -> Option<i32> {
        let mut map = self.lock();
        loop {
            match map.get(id) {
                None => return None,
                Some(r) if r.exit_code.is_some() => return r.exit_code,
                Some(_) => map = self.changed.wait(map).unwrap_or_else(|e| e.into_inner()),
            }
        }
    }

    /// `wait_exit`, giving up at `deadline`.
    fn wait_exit_until(&self, id: &str, deadline: std::time::Instant) -> Option<i32> {
        let mut map = self.lock();
        loop {
            match map.get(id) {
                None => return None,
                Some(r) if r.exit_code.is_some() => return r.exit_code,
                Some(_) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    map = self.changed.wait_timeout(map, left).unwrap_or_else(|e| e.into_inner()).0;
                }
            }
        }
    }

    /// Drops one record (a health check's, once its exit is in).
    fn forget(&self, id: &str) {
        if self.lock().remove(id).is_some() {
            let _ = std::fs::remove_file(self.dir.join(format!("{id}.json")));
        }
    }

    /// The execs of a container that have not ended (Docker's `ExecIDs`).
    pub fn live_ids(&self, container_id: &str) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().values().filter(|r| r.container_id == container_id && r.exit_code.is_none()).map(|r| r.id.clone()).collect();
        ids.sort();
        ids
    }

    /// Drops the records of a removed container.
    pub fn forget_container(&self, container_id: &str) {
        let mut map = self.lock();
        map.retain(|id, r| {
            let keep = r.container_id != container_id;
            if !keep {
                let _ = std::fs::remove_file(self.dir.join(format!("{id}.json")));
            }
            keep
        });
    }
}

/// Rewrites an exec record over its own inode: one `pwrite` at offset 0 of the new JSON,
/// padded with spaces to the old length (JSON allows trailing whitespace). A write of one page
/// at most is done whole or not at all should dockerd be killed, so the file holds the old
/// record or the new one; and an update allocates no inode (a temporary file and a rename per
/// update, three per exec, were most of an exec's filesystem time on ext4). A larger record
/// is written atomically the slow way.
fn write_record(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    const PAGE: usize = 4096;
    let f = std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(path)?;
    let old = f.metadata()?.len() as usize;
    if data.len().max(old) > PAGE {
        drop(f);
        return crate::sys::write_atomic_volatile(path, data);
    }
    let mut buf = data.to_vec();
    buf.resize(data.len().max(old), b' ');
    f.write_all_at(&buf, 0)
}

/// The options of `POST /exec/{id}/start`.
#[derive(Debug, Default)]
pub struct StartOptions {
    pub detach: bool,
    pub console_size: Option<[u32; 2]>,
}

/// The stdio of an attached run.
pub struct Attached {
    /// The stdin FIFO (when the exec takes stdin).
    pub stdin: Option<PathBuf>,
    /// Output chunks until every output FIFO is closed.
    pub output: Receiver<(StreamType, Vec<u8>)>,
    pub container_id: String,
}

/// Docker's exit codes for a process the runtime could not start: 127 when the command is
/// not found (or a path is not a directory), 126 when it cannot be invoked — and for any other
/// failure to start, which leaves Docker's exit code unset (an exec here always ends with one).
pub fn start_failure_exit_code(cmd: &str, message: &str) -> i32 {
    let m = message.to_lowercase();
    let not_found = m.contains("executable file not found") || m.contains("no such file or directory");
    if m.contains("permission denied") {
        126
    } else if (not_found && m.contains(&cmd.to_lowercase())) || m.contains("not a directory") {
        127
    } else {
        126
    }
}

/// Docker's 409s for an exec started before.
fn check_not_started(rec: &ExecRecord) -> Result<(), ApiError> {
    if rec.exit_code.is_some() {
        return Err(ApiError::conflict(format!("Error: Exec command {} has already run", rec.id)));
    }
    if rec.running || rec.started {
        return Err(ApiError::conflict(format!("Error: Exec command {} is already running", rec.id)));
    }
    Ok(())
}

/// Docker's 409s for an exec into a container that does not run (`name`: as the client gave it).
fn check_exec_target(c: &super::container::Container, name: &str) -> Result<(), ApiError> {
    if !c.state.running {
        return Err(ApiError::conflict(format!("Container {} is not running", c.id)));
    }
    if c.state.paused {
        return Err(ApiError::conflict(format!("Container {name} is paused, unpause the container before exec")));
    }
    if c.state.restarting {
        return Err(ApiError::conflict(format!("Container {} is restarting, wait until the container is running", c.id)));
    }
    Ok(())
}

/// `KEY=VALUE` entries of `over` replace those of `base` with the same key, or are appended.
fn replace_or_append(base: &mut Vec<String>, over: &[String]) {
    for kv in over {
        let key = kv.split('=').next().unwrap_or("");
        match base.iter_mut().find(|e| e.split('=').next() == Some(key)) {
            Some(slot) => *slot = kv.clone(),
            None => base.push(kv.clone()),
        }
    }
}

/// `--privileged`: every capability, as far as dockerd's own bounding set reaches (a
/// capability it lacks cannot be given, and asking for it would fail the exec).
fn all_capabilities() -> Vec<String> {
    let held = caps::read(None, caps::CapSet::Bounding).unwrap_or_else(|_| caps::all());
    let mut names: Vec<(u8, String)> = held.into_iter().map(|c| (c.index(), c.to_string())).collect();
    names.sort();
    names.into_iter().map(|(_, n)| n).collect()
}

/// The body of `POST /containers/{id}/exec` (Docker's ExecConfig); unknown fields are refused.
fn parse_create(body: &Value) -> Result<ExecRecord, ApiError> {
    let obj = body.as_object().ok_or_else(|| ApiError::bad_request("config cannot be empty in order to create an exec"))?;
    for (k, v) in obj {
        let known = matches!(k.as_str(), "User" | "Privileged" | "Tty" | "ConsoleSize" | "AttachStdin" | "AttachStdout" | "AttachStderr" | "Detach" | "DetachKeys" | "Env" | "WorkingDir" | "Cmd");
        if !known && !v.is_null() {
            return Err(ApiError::bad_request(format!("json: unknown field \"{k}\"")));
        }
    }
    let flag = |k: &str| obj.get(k).and_then(Value::as_bool).unwrap_or(false);
    let text = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let list = |k: &str| -> Vec<String> { obj.get(k).and_then(Value::as_array).map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default() };
    let cmd = list("Cmd");
    if cmd.is_empty() {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let detach_keys = text("DetachKeys");
    super::attach::detach_keys(&detach_keys)?;
    let console_size = console_size(obj.get("ConsoleSize"))?;
    Ok(ExecRecord {
        id: crate::ids::new_id(),
        cmd,
        tty: flag("Tty"),
        privileged: flag("Privileged"),
        user: text("User"),
        working_dir: text("WorkingDir"),
        env: list("Env"),
        attach_stdin: flag("AttachStdin"),
        attach_stdout: flag("AttachStdout"),
        attach_stderr: flag("AttachStderr"),
        detach_keys,
        console_size,
        ..ExecRecord::default()
    })
}

/// `ConsoleSize: [height, width]`.
pub fn console_size(v: Option<&Value>) -> Result<Option<[u32; 2]>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if a.len() == 2 && a.iter().all(|x| x.as_u64().is_some_and(|n| n <= u16::MAX as u64)) => {
            let h = a[0].as_u64().unwrap_or(0) as u32;
            let w = a[1].as_u64().unwrap_or(0) as u32;
            Ok((h > 0 || w > 0).then_some([h, w]))
        }
        Some(other) => Err(ApiError::bad_request(format!("invalid ConsoleSize: {other}"))),
    }
}

/// The read ends of an attached exec's output FIFOs, opened before the process starts (with
/// O_NONBLOCK, which needs no writer yet). The FIFO's buffer lives only while some end is
/// open: a reader that opened later, after the process had written and exited and the shim
/// had let its ends go, found the output discarded, and then either blocked in its open for
/// ever (the client hung) or found the FIFO removed (the output was lost).
fn open_fifo_readers(fifos: &[(PathBuf, StreamType)]) -> std::io::Result<Vec<(std::fs::File, StreamType)>> {
    use std::os::unix::fs::OpenOptionsExt;
    fifos
        .iter()
        .map(|(path, stream)| {
            let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC).open(path)?;
            Ok((f, *stream))
        })
        .collect()
}

/// One thread per output FIFO, chunks into one channel, which ends when every FIFO is closed.
/// Started once the process runs: the shim has opened the write ends by then (before them, a
/// read would see end of file), so the readers are made blocking and read to the end.
fn read_fifos(readers: Vec<(std::fs::File, StreamType)>) -> Receiver<(StreamType, Vec<u8>)> {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let (tx, rx) = channel();
    for (mut file, stream) in readers {
        let tx = tx.clone();
        let spawned = std::thread::Builder::new().name("exec-fifo".into()).stack_size(128 << 10).spawn(move || {
            if nix::fcntl::fcntl(file.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty())).is_err() {
                return;
            }
            let mut buf = vec![0u8; 32 << 10];
            loop {
                match file.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        if tx.send((stream, buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => return,
                }
            }
        });
        if spawned.is_err() {
            crate::log::error("cannot start an exec output reader");
        }
    }
    rx
}

fn remove_fifos(bundle: &Path, exec_id: &str) {
    for s in ["stdin", "stdout", "stderr"] {
        let _ = std::fs::remove_file(bundle.join(format!("{exec_id}-{s}")));
    }
}

impl Daemon {
    /// `POST /containers/{id}/exec`: a new exec record; returns its id.
    pub fn exec_create(&self, container: &str, body: &Value) -> Result<String, ApiError> {
        let entry = self.find(container)?;
        let mut rec = parse_create(body)?;
        let slot = entry.lock();
        check_exec_target(&slot.c, container)?;
        rec.container_id = slot.c.id.clone();
        let mut map = self.execs.lock();
        self.execs.save(&rec);
        let id = rec.id.clone();
        map.insert(id.clone(), rec.clone());
        drop(map);
        drop(slot);
        self.exec_event(&entry, "exec_create", &rec);
        Ok(id)
    }

    /// The exec record, or Docker's 404.
    pub fn exec_get(&self, id: &str) -> Result<ExecRecord, ApiError> {
        self.execs.get(id).ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
    }

    /// The checks of `POST /exec/{id}/start` made before the connection is taken over.
    pub fn exec_check_start(&self, id: &str) -> Result<(), ApiError> {
        let rec = self.exec_get(id)?;
        check_not_started(&rec)?;
        let entry = self.find(&rec.container_id)?;
        let slot = entry.lock();
        check_exec_target(&slot.c, &rec.container_id)
    }

    /// Starts the exec's process. Attached runs get their stdio; detached ones run on /dev/null.
    /// A process the runtime cannot start gets Docker's 126/127 exit code and the error.
    pub fn exec_start(self: &Arc<Self>, id: &str, opts: StartOptions) -> Result<Option<Attached>, ApiError> {
        let rec = {
            let mut map = self.execs.lock();
            let rec = map.get_mut(id).ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))?;
            check_not_started(rec)?;
            rec.started = true;
            rec.clone()
        };
        // Before the launch, as Docker's: the process may end before anything else is said.
        if let Ok(entry) = self.find(&rec.container_id) {
            self.exec_event(&entry, "exec_start", &rec);
        }
        let result = self.launch(&rec, &opts);
        match &result {
            Ok((pid, _)) => {
                let pid = *pid;
                // The exit event may have come first. The exit itself comes as containerd's
                // event (`exec_exited`), or is found by `reconcile_execs` when events were missed.
                self.execs.update(id, |r| {
                    r.running = r.exit_code.is_none();
                    r.pid = pid;
                });
            }
            Err(e) => {
                let code = start_failure_exit_code(rec.cmd.first().map(String::as_str).unwrap_or_default(), &e.message);
                self.exec_record_exit(id, code);
            }
        }
        result.map(|(_, attached)| attached)
    }

    fn launch(&self, rec: &ExecRecord, opts: &StartOptions) -> Result<(u32, Option<Attached>), ApiError> {
        let entry = self.find(&rec.container_id)?;
        let (spec, container_config) = {
            let slot = entry.lock();
            check_exec_target(&slot.c, &rec.container_id)?;
            (slot.spec.clone(), slot.c.config.clone())
        };
        let bundle = self.bundle_dir(&rec.container_id);
        // The run's spec as its start kept it; after a dockerd restart, from the bundle once.
        let config = match spec {
            Some(spec) => spec,
            None => {
                let read: Value = std::fs::read(bundle.join("config.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .ok_or_else(|| ApiError::conflict(format!("Container {} is not running", rec.container_id)))?;
                let read = Arc::new(read);
                let mut slot = entry.lock();
                if slot.c.state.running {
                    slot.spec.get_or_insert_with(|| read.clone());
                }
                read
            }
        };
        let process = exec_process(rec, &config, &container_config, opts.console_size.or(rec.console_size)).map_err(ApiError::internal)?;
        let attach = !opts.detach;
        let path = |s: &str| bundle.join(format!("{}-{s}", rec.id));
        // A failure leaves none of this exec's FIFOs behind.
        let mk = |p: &Path| {
            make_fifo(p).map_err(|e| {
                remove_fifos(&bundle, &rec.id);
                ApiError::internal(format!("making {}: {e}", p.display()))
            })
        };
        let mut outputs: Vec<(PathBuf, StreamType)> = Vec::new();
        let mut stdin = None;
        if attach {
            if rec.attach_stdin {
                mk(&path("stdin"))?;
                stdin = Some(path("stdin"));
            }
            if rec.attach_stdout || rec.tty {
                mk(&path("stdout"))?;
                outputs.push((path("stdout"), StreamType::Stdout));
            }
            if rec.attach_stderr && !rec.tty {
                mk(&path("stderr"))?;
                outputs.push((path("stderr"), StreamType::Stderr));
            }
        }
        let readers = open_fifo_readers(&outputs).map_err(|e| {
            remove_fifos(&bundle, &rec.id);
            ApiError::internal(format!("opening the exec's output: {e}"))
        })?;
        let task = ExecProcess {
            id: rec.container_id.clone(),
            exec_id: rec.id.clone(),
            process,
            stdin: stdin.clone(),
            stdout: outputs.iter().find(|o| o.1 == StreamType::Stdout).map(|o| o.0.clone()),
            stderr: outputs.iter().find(|o| o.1 == StreamType::Stderr).map(|o| o.0.clone()),
            terminal: rec.tty,
        };
        match self.containerd.exec(&task) {
            Ok(pid) => Ok((pid, attach.then(|| Attached { stdin, output: read_fifos(readers), container_id: rec.container_id.clone() }))),
            Err(e) => {
                drop(readers);
                remove_fifos(&bundle, &rec.id);
                // The runtime's refusal, worded as Docker words an OCI runtime's.
                let refused = e.kind == ErrorKind::FailedPrecondition;
                let message = if refused { format!("OCI runtime exec failed: {}: unknown", e.message) } else { e.message };
                // Docker calls a command that is missing or cannot run an invalid parameter.
                let lower = message.to_lowercase();
                let invalid = ["executable file not found", "no such file or directory", "permission denied", "not a directory"].iter().any(|p| lower.contains(p));
                let status = if e.kind == ErrorKind::NotFound { 409 } else if refused && invalid { 400 } else { 500 };
                Err(ApiError::new(status, message))
            }
        }
    }

    /// An exec's exit (containerd's event, or found by `reconcile_execs`): recorded, then,
    /// the first time, the shim forgets the process and its FIFOs go.
    pub fn exec_exited(&self, container_id: &str, exec_id: &str, exit_status: i32) {
        if self.exec_record_exit(exec_id, exit_status) {
            let _ = self.containerd.exec_delete(container_id, exec_id);
            remove_fifos(&self.bundle_dir(container_id), exec_id);
        }
    }

    /// Exits that came while nobody listened (a restart of dockerd or containerd): asked of
    /// containerd once its events are followed again; an exec still running will send its own.
    pub fn reconcile_execs(&self) {
        let running: Vec<(String, String)> = self.execs.lock().values().filter(|r| r.running && r.exit_code.is_none()).map(|r| (r.container_id.clone(), r.id.clone())).collect();
        for (cid, id) in running {
            match self.containerd.exec_state(&cid, &id) {
                Ok(Some(exit)) => self.exec_exited(&cid, &id, exit.exit_status),
                Ok(None) => {}
                // The task or the process is gone (its container ended): it died with its init.
                Err(e) if e.kind == ErrorKind::NotFound => {
                    self.exec_record_exit(&id, 128 + libc::SIGKILL);
                }
                Err(_) => {}
            }
        }
    }

    /// A container's run ended: its execs died with its init (their own exit events, when
    /// they come, are the same SIGKILL).
    pub fn execs_died_with(&self, container_id: &str) {
        for id in self.execs.live_ids(container_id) {
            if self.execs.get(&id).is_some_and(|r| r.running) {
                self.exec_record_exit(&id, 128 + libc::SIGKILL);
            }
        }
    }

    /// Records an exec's exit and, the first time, Docker's `exec_die` event.
    /// Whether this was the first report of the exit.
    fn exec_record_exit(&self, exec_id: &str, exit_status: i32) -> bool {
        let Some(container_id) = self.execs.record_exit(exec_id, exit_status) else { return false };
        if let Ok(entry) = self.find(&container_id) {
            self.events.container(&entry.lock().c, "exec_die", &[("execID", exec_id), ("exitCode", &exit_status.to_string())]);
        }
        true
    }

    /// Docker's `exec_create: CMD` and `exec_start: CMD` events.
    fn exec_event(&self, entry: &Entry, what: &str, rec: &ExecRecord) {
        self.events.container(&entry.lock().c, &format!("{what}: {}", rec.cmd.join(" ")), &[("execID", &rec.id)]);
    }

    /// After a restart: the records of removed containers go (the exits of the others are
    /// found by `reconcile_execs` once containerd's events are followed).
    pub fn restore_execs(&self) {
        // Records of containers removed while no dockerd ran go first.
        let containers: Vec<String> = self.execs.lock().values().map(|r| r.container_id.clone()).collect();
        for cid in containers {
            if self.find(&cid).is_err() {
                self.execs.forget_container(&cid);
            }
        }
        // The FIFOs of the execs of a dockerd that died: no reader opens them again (the shim
        // holds what a running exec uses), and one made just before the kill never had a process.
        for bundle in std::fs::read_dir(self.opts.exec_root.join("libcontainerd")).into_iter().flatten().flatten() {
            for f in std::fs::read_dir(bundle.path()).into_iter().flatten().flatten() {
                let name = f.file_name();
                let name = name.to_string_lossy();
                let exec_fifo = name.split_once('-').is_some_and(|(id, s)| crate::ids::is_full_id(id) && matches!(s, "stdin" | "stdout" | "stderr"));
                if exec_fifo {
                    let _ = std::fs::remove_file(f.path());
                }
            }
        }
    }

    pub fn exec_resize(&self, id: &str, height: u32, width: u32) -> Result<(), ApiError> {
        let rec = self.exec_get(id)?;
        if !rec.running {
            return Err(ApiError::conflict(format!("Exec {id} is not running")));
        }
        self.containerd.exec_resize(&rec.container_id, id, height, width).map_err(ApiError::from)
    }

    /// The client's stdin has ended: the process sees end-of-file.
    pub fn exec_close_stdin(&self, container_id: &str, id: &str) {
        let _ = self.containerd.exec_close_stdin(container_id, id);
    }

    /// Blocks until the exec has ended; its exit code.
    pub fn exec_wait(&self, id: &str) -> Option<i32> {
        self.execs.wait_exit(id)
    }

    /// `exec_wait` until `deadline` at most (`None`: no exit yet, or no such exec).
    pub(super) fn exec_wait_until(&self, id: &str, deadline: std::time::Instant) -> Option<i32> {
        self.execs.wait_exit_until(id, deadline)
    }

    /// Forgets an exec whose exit is recorded (health checks: Docker drops their records
    /// too, or they would pile up at one per check).
    pub(super) fn exec_forget(&self, id: &str) {
        self.execs.forget(id);
    }
}

/// The OCI process of an exec: the container's (capabilities, rlimits, ...) with the exec's
/// command, user, working directory, environment and terminal.
fn exec_process(rec: &ExecRecord, config: &Value, container_config: &Value, console_size: Option<[u32; 2]>) -> Result<Value, String> {
    let mut process = config.get("process").cloned().unwrap_or_else(|| json!({}));
    let rootfs = config.get("root").and_then(|r| r.get("path")).and_then(Value::as_str).unwrap_or("/");
    let user_name = if rec.user.is_empty() { container_config.get("User").and_then(Value::as_str).unwrap_or("") } else { rec.user.as_str() };
    let user = spec::resolve_user(Path::new(rootfs), user_name)?;
    let hostname = config.get("hostname").and_then(Value::as_str).unwrap_or("");
    let mut env = vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(), format!("HOSTNAME={hostname}")];
    if rec.tty {
        env.push("TERM=xterm".into());
    }
    let container_env: Vec<String> = container_config.get("Env").and_then(Value::as_array).map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect()).unwrap_or_default();
    replace_or_append(&mut env, &container_env);
    replace_or_append(&mut env, &rec.env);
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", if user.home.is_empty() { "/" } else { &user.home }));
    }
    let cwd = if !rec.working_dir.is_empty() { rec.working_dir.clone() } else { process.get("cwd").and_then(Value::as_str).unwrap_or("/").to_string() };
    process["args"] = json!(rec.cmd);
    process["env"] = json!(env);
    process["cwd"] = json!(cwd);
    process["terminal"] = json!(rec.tty);
    process["user"] = json!({"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids});
    match console_size.filter(|_| rec.tty) {
        Some([h, w]) => process["consoleSize"] = json!({"height": h, "width": w}),
        None => {
            if let Some(o) = process.as_object_mut() {
                o.remove("consoleSize");
            }
        }
    }
    if rec.privileged {
        let all = all_capabilities();
        process["capabilities"] = json!({"bounding": all, "effective": all, "permitted": all});
    }
    Ok(process)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_rewritten_in_place_and_read_back_whole() {
        let dir = std::env::temp_dir().join(format!("dbx-exec-record-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.json");
        write_record(&path, br#"{"a":"a long first value"}"#).unwrap();
        let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
        write_record(&path, br#"{"a":1}"#).unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v, json!({"a": 1}));
        assert_eq!(std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap()), ino);
        let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(5000));
        write_record(&path, big.as_bytes()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), big.as_bytes());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn exec_environment_overrides_the_containers() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        replace_or_append(&mut env, &["A=2".to_string(), "B=3".to_string()]);
        assert_eq!(env, vec!["PATH=/bin", "A=2", "B=3"]);
    }

    #[test]
    fn create_bodies_are_checked() {
        assert_eq!(parse_create(&json!({"Cmd": []})).unwrap_err().message, "No exec command specified");
        assert_eq!(parse_create(&json!({"Cmd": ["true"], "Bogus": 1})).unwrap_err().status, 400);
        assert_eq!(parse_create(&json!({"Cmd": ["true"], "DetachKeys": "ctrl-1"})).unwrap_err().message, "Invalid detach keys (ctrl-1) provided");
        let r = parse_create(&json!({"Cmd": ["sh", "-c", "x"], "User": "nobody", "Tty": true, "ConsoleSize": [24, 80]})).unwrap();
        assert_eq!((r.cmd.len(), r.user.as_str(), r.tty, r.console_size), (3, "nobody", true, Some([24, 80])));
        assert_eq!(start_failure_exit_code("nope", "exec: \"nope\": executable file not found in $PATH"), 127);
        assert_eq!(start_failure_exit_code("/etc", "exec: \"/etc\": permission denied"), 126);
        assert_eq!(start_failure_exit_code("pwd", "chdir to cwd (\"/nowhere\") set in config.json failed: no such file or directory"), 126);
    }
}
