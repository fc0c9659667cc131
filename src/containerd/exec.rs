//! Exec processes of a task: the `exec_*` methods go to the task's shim, and containerd
//! publishes `/tasks/exec-added` and `/tasks/exec-started` around an exec's start and
//! `/tasks/exit` with `exec_id` when it ends, watched by one thread per running exec (the
//! shim's `exec_wait`), as the init's exit is. After a restart the watchers of the execs the
//! shims still run are set up again (`exec_list`).

use super::{call_shim, id_param, str_param, Daemon};
use crate::rpc::{ErrorKind, RpcError};
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
        self.publish(json!({"topic": "/tasks/exec-added", "id": id, "exec_id": exec_id}));
        let result = self.forward(&id, "exec", forwarded)?;
        let pid = result.get("pid").and_then(Value::as_u64).unwrap_or(0);
        self.publish(json!({"topic": "/tasks/exec-started", "id": id, "exec_id": exec_id, "pid": pid}));
        self.spawn_exec_watcher(id, exec_id);
        Ok(json!({"pid": pid}))
    }

    /// Publishes the exec's exit once the shim reports it.
    fn spawn_exec_watcher(self: &Arc<Self>, id: String, exec_id: String) {
        let d = self.clone();
        std::thread::spawn(move || {
            let Ok(v) = call_shim(&d.shim_socket(&id), "exec_wait", json!({"exec_id": exec_id})) else { return };
            d.publish(json!({
                "topic": "/tasks/exit",
                "id": id,
                "exec_id": exec_id,
                "pid": v.get("pid").and_then(Value::as_u64).unwrap_or(0),
                "exit_status": v.get("exit_status").and_then(Value::as_i64).unwrap_or(255),
                "exited_at": v.get("exited_at").and_then(Value::as_str).unwrap_or_default(),
            }));
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
