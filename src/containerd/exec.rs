//! Exec processes of a task: the `exec_*` methods go to the task's shim, and containerd
//! publishes `/tasks/exec-added` and `/tasks/exec-started` around an exec's start and
//! `/tasks/exit` with `exec_id` when it ends, watched by one thread per running exec (the
//! shim's `exec_wait`, sent right behind the `exec` on the same connection). After a restart the watchers of the execs the
//! shims still run are set up again (`exec_list`).

use super::{call_shim, id_param, no_such_task, str_param, Daemon};
use crate::rpc::{self, ErrorKind, RpcError};
use serde_json::{json, Value};
use std::sync::Arc;

/// The methods this file serves.
pub const METHODS: &[&str] = &["exec", "exec_wait", "exec_state", "exec_kill", "exec_resize", "exec_close_stdin", "exec_delete", "exec_list"];

impl Daemon {
    pub(super) fn handle_exec(self: &Arc<Self>, method: &str, params: &Value) -> Result<Value, RpcError> {
        let id = id_param(params)?;
        let mut forwarded = params.clone();
        if let Some(o) = forwarded.as_object_mut() {
            o.remove("id");
        }
        if method != "exec" {
            return self.forward(&id, method, forwarded);
        }
        let exec_id = str_param(params, "exec_id").ok_or_else(|| RpcError::new(ErrorKind::InvalidArgument, "missing exec_id"))?.to_string();
        {
            let tasks = self.tasks.lock().unwrap();
            let task = tasks.get(&id).ok_or_else(|| no_such_task(&id))?;
            if !task.shim_alive {
                return Err(RpcError::not_found("process already finished"));
            }
        }
        self.publish(json!({"topic": "/tasks/exec-added", "id": id, "exec_id": exec_id}));
        // `exec` and `exec_wait` go down one connection back to back, read by a thread made
        // meanwhile: the exit is heard the moment the shim reaps the process, which for a
        // short command is right after its start.
        let stream = crate::sys::connect_unix(&self.shim_socket(&id)).map_err(|e| RpcError::new(ErrorKind::Unavailable, format!("connecting to shim of {id}: {e}")))?;
        let mut writer = stream.try_clone().map_err(|e| RpcError::internal(e.to_string()))?;
        rpc::write_request(&mut writer, "exec", forwarded)?;
        rpc::write_request(&mut writer, "exec_wait", json!({"exec_id": exec_id}))?;
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let d = self.clone();
        let (task, exec) = (id.clone(), exec_id.clone());
        std::thread::spawn(move || {
            let mut reader = std::io::BufReader::new(stream);
            let started = rpc::read_response(&mut reader);
            let ok = started.is_ok();
            if let Ok(v) = &started {
                // Published here, so that it always comes before the exit.
                let pid = v.get("pid").and_then(Value::as_u64).unwrap_or(0);
                d.publish(json!({"topic": "/tasks/exec-started", "id": task, "exec_id": exec, "pid": pid}));
            }
            let _ = started_tx.send(started);
            if ok {
                let exited = rpc::read_response(&mut reader);
                d.publish_exec_exit(&task, &exec, exited);
            }
        });
        let result = started_rx.recv().unwrap_or_else(|_| Err(RpcError::internal("the shim's answer was lost")))?;
        Ok(json!({"pid": result.get("pid").and_then(Value::as_u64).unwrap_or(0)}))
    }

    /// An exec's exit, as `/tasks/exit` with `exec_id` (nothing when the shim went away).
    fn publish_exec_exit(&self, id: &str, exec_id: &str, answer: Result<Value, RpcError>) {
        let Ok(v) = answer else { return };
        self.publish(json!({
            "topic": "/tasks/exit",
            "id": id,
            "exec_id": exec_id,
            "pid": v.get("pid").and_then(Value::as_u64).unwrap_or(0),
            "exit_status": v.get("exit_status").and_then(Value::as_i64).unwrap_or(255),
            "exited_at": v.get("exited_at").and_then(Value::as_str).unwrap_or_default(),
        }));
    }

    /// Publishes the exec's exit once the shim reports it.
    fn spawn_exec_watcher(self: &Arc<Self>, id: String, exec_id: String) {
        let d = self.clone();
        std::thread::spawn(move || {
            let answer = call_shim(&d.shim_socket(&id), "exec_wait", json!({"exec_id": exec_id}));
            d.publish_exec_exit(&id, &exec_id, answer);
        });
    }

    /// After a restart: watch again the execs a recovered shim still runs.
    pub(super) fn recover_execs(self: &Arc<Self>, id: &str) {
        let Ok(v) = call_shim(&self.shim_socket(id), "exec_list", json!({})) else { return };
        for e in v.get("execs").and_then(Value::as_array).into_iter().flatten() {
            if e.get("status").and_then(Value::as_str) == Some("running") {
                if let Some(exec_id) = e.get("exec_id").and_then(Value::as_str) {
                    self.spawn_exec_watcher(id.to_string(), exec_id.to_string());
                }
            }
        }
    }
}
