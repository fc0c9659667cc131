//! The `/networks` routes: create, list, inspect, remove, prune (over
//! [`crate::daemon::networks`]), and connect/disconnect decoded and handed to the daemon's
//! hooks (`daemon::endpoints`).

use crate::daemon::errors::ApiError;
use crate::daemon::filters::Filters;
use crate::daemon::networks::CreateRequest;
use crate::daemon::Daemon;
use crate::http::server::{Request, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// GET /networks.
pub fn list(d: &Arc<Daemon>, req: &Request) -> Result<Response, ApiError> {
    let filters = Filters::parse(req.query("filters"))?;
    let mut nets = d.networks.list(&filters)?;
    nets.sort_by(|a, b| a.name.cmp(&b.name));
    let mut body = b"[".to_vec();
    for (i, n) in nets.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend(n.to_json_bytes(false));
    }
    body.extend(b"]\n");
    Ok(Response::text(200, "application/json", body))
}

/// GET /networks/{id}: by full id, name or id prefix; `scope` other than local finds nothing
/// (no swarm); `verbose` adds nothing for local networks, as in Docker.
pub fn inspect(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<Response, ApiError> {
    if let Some(scope) = req.query("scope").filter(|s| !s.is_empty()) {
        if !matches!(scope, "local" | "swarm" | "global") {
            return Err(ApiError::bad_request(format!("invalid scope: {scope}")));
        }
        if scope != "local" {
            return Err(ApiError::not_found(format!("network {id} not found")));
        }
    }
    let n = d.networks.get(id)?;
    let mut body = n.to_json_bytes(true);
    body.push(b'\n');
    Ok(Response::text(200, "application/json", body))
}

/// POST /networks/create.
pub fn create(d: &Arc<Daemon>, req: &Request) -> Result<Response, ApiError> {
    let body = super::json_body(req, "network create request body cannot be empty")?;
    let create: CreateRequest = serde_json::from_value(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    let n = d.networks.create(create)?;
    d.events.network("create", &n.id, &n.name, &n.driver, &[]);
    Ok(Response::json(201, &json!({"Id": n.id, "Warning": ""})))
}

/// DELETE /networks/{id}.
pub fn remove(d: &Arc<Daemon>, id: &str) -> Result<Response, ApiError> {
    let n = d.networks.remove(id)?;
    d.events.network("destroy", &n.id, &n.name, &n.driver, &[]);
    Ok(Response::empty(204))
}

/// POST /networks/prune.
pub fn prune(d: &Arc<Daemon>, req: &Request) -> Result<Response, ApiError> {
    let filters = Filters::parse(req.query("filters"))?;
    let removed = d.networks.prune(&filters)?;
    for n in &removed {
        d.events.network("destroy", &n.id, &n.name, &n.driver, &[]);
    }
    let names: Vec<&str> = removed.iter().map(|n| n.name.as_str()).collect();
    Ok(Response::json(200, &json!({"NetworksDeleted": if names.is_empty() { Value::Null } else { json!(names) }})))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ConnectBody {
    container: String,
    /// Docker's `EndpointSettings`, checked by `create_fields::validate_endpoint`.
    #[serde(default)]
    endpoint_config: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct DisconnectBody {
    container: String,
    #[serde(default)]
    force: bool,
}

/// POST /networks/{id}/connect: the body decoded and checked, the network found, then the
/// daemon's hook.
pub fn connect(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<Response, ApiError> {
    let body = super::json_body(req, "network connect request body cannot be empty")?;
    let b: ConnectBody = serde_json::from_value(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    if b.container.is_empty() {
        return Err(ApiError::bad_request("container name or id is required"));
    }
    let endpoint = b.endpoint_config.unwrap_or(Value::Null);
    crate::daemon::create_fields::validate_endpoint(id, &endpoint).map_err(ApiError::bad_request)?;
    let n = d.networks.get(id)?;
    d.connect_container(&n.id, &b.container, &endpoint)?;
    Ok(Response::empty(200))
}

/// POST /networks/{id}/disconnect.
pub fn disconnect(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<Response, ApiError> {
    let body = super::json_body(req, "network disconnect request body cannot be empty")?;
    let b: DisconnectBody = serde_json::from_value(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    if b.container.is_empty() {
        return Err(ApiError::bad_request("container name or id is required"));
    }
    let n = d.networks.get(id)?;
    d.disconnect_container(&n.id, &b.container, b.force)?;
    Ok(Response::empty(200))
}
