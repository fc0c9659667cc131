//! `GET /containers/{id}/changes`: what changed in a container's filesystem.

use super::ops::ApiError;
use super::Daemon;
use crate::http::server::Response;
use serde_json::{json, Value};

pub fn changes(d: &Daemon, id: &str) -> Result<Response, ApiError> {
    let entry = d.find(id)?;
    let mount_id = entry.lock().c.mount_id.clone();
    let list = d.snapshots.diff(&mount_id).map_err(|e| ApiError::internal(format!("cannot compute changes of {id}: {e}")))?;
    Ok(Response::json(200, &Value::Array(list.iter().map(|c| json!({"Path": c.path, "Kind": c.kind as u8})).collect())))
}
