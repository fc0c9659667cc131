//! The `/volumes` routes: list, create, inspect, update (refused as Docker refuses it for a
//! non-cluster volume), remove, prune, over the local driver's store ([`crate::volume`]).

use crate::daemon::errors::ApiError;
use crate::daemon::filters::Filters;
use crate::daemon::Daemon;
use crate::http::server::{Request, Response};
use crate::volume::{self, Volume};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

impl From<volume::Error> for ApiError {
    fn from(e: volume::Error) -> ApiError {
        let status = match e.kind {
            volume::ErrorKind::Invalid => 400,
            volume::ErrorKind::NotFound => 404,
            volume::ErrorKind::Conflict => 409,
            volume::ErrorKind::System => 500,
        };
        ApiError::new(status, e.message)
    }
}

/// The filters of `GET /volumes`, as Docker's volume service takes them.
fn list_filter(filters: &Filters) -> Result<impl Fn(&Volume) -> bool + '_, ApiError> {
    filters.validate(&["dangling", "name", "driver", "label", "label!"])?;
    let dangling = filters.bool_value("dangling")?;
    Ok(move |v: &Volume| {
        let names = filters.get("name");
        (names.is_empty() || names.iter().any(|n| v.name.contains(n.as_str())))
            && filters.exact_match("driver", volume::DRIVER)
            && filters.match_labels(&v.label_map())
            && dangling.is_none_or(|d| d == v.refs.is_empty())
    })
}

/// GET /volumes.
pub fn list(d: &Arc<Daemon>, req: &Request) -> Result<Response, ApiError> {
    let filters = Filters::parse(req.query("filters"))?;
    let wanted = list_filter(&filters)?;
    let vols: Vec<Value> = d.volumes.list().iter().filter(|v| wanted(v)).map(|v| v.to_json(None)).collect();
    Ok(Response::json(200, &json!({"Volumes": vols, "Warnings": null})))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct CreateBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    driver: String,
    #[serde(default)]
    driver_opts: Option<BTreeMap<String, String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    cluster_volume_spec: Option<Value>,
}

/// POST /volumes/create.
pub fn create(d: &Arc<Daemon>, req: &Request) -> Result<Response, ApiError> {
    let body = super::json_body(req, "volume create request body cannot be empty")?;
    let body: CreateBody = serde_json::from_value(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    if body.cluster_volume_spec.is_some() {
        return Err(ApiError::new(503, "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again."));
    }
    let name = Some(body.name.as_str()).filter(|n| !n.is_empty());
    let (v, created) = d.volumes.create(name, &body.driver, body.labels, body.driver_opts)?;
    if created {
        d.events.volume("create", &v.name, volume::DRIVER);
    }
    Ok(Response::json(201, &v.to_json(None)))
}

/// GET /volumes/{name}.
pub fn inspect(d: &Arc<Daemon>, name: &str) -> Result<Response, ApiError> {
    Ok(Response::json(200, &d.volumes.get(name)?.to_json(None)))
}

/// PUT /volumes/{name}: only cluster volumes can be updated, and there is no swarm.
pub fn update(_d: &Arc<Daemon>, _name: &str) -> Result<Response, ApiError> {
    Err(ApiError::new(503, "volume update only valid for cluster volumes, but swarm is unavailable"))
}

/// DELETE /volumes/{name}.
pub fn remove(d: &Arc<Daemon>, name: &str, req: &Request) -> Result<Response, ApiError> {
    if let Some(v) = d.volumes.remove(name, req.query_bool("force"))? {
        d.events.volume("destroy", &v.name, volume::DRIVER);
    }
    Ok(Response::empty(204))
}

/// POST /volumes/prune: unused volumes, anonymous ones only unless `all` (API ≥ 1.42; older
/// clients prune every unused volume, as Docker's router makes it).
pub fn prune(d: &Arc<Daemon>, req: &Request, version: (u32, u32)) -> Result<Response, ApiError> {
    let filters = Filters::parse(req.query("filters"))?;
    filters.validate(&["label", "label!", "all"])?;
    let all = version < (1, 42) || filters.bool_value("all")?.unwrap_or(false);
    let (removed, reclaimed) = d.volumes.prune(all, |v| filters.match_labels(&v.label_map()));
    for v in &removed {
        d.events.volume("destroy", &v.name, volume::DRIVER);
    }
    d.events.log("volume", "prune", "", [("reclaimed".to_string(), reclaimed.to_string())].into());
    let names: Vec<&str> = removed.iter().map(|v| v.name.as_str()).collect();
    Ok(Response::json(200, &json!({"VolumesDeleted": if names.is_empty() { Value::Null } else { json!(names) }, "SpaceReclaimed": reclaimed})))
}

/// The `Volumes` of `GET /system/df`: every volume with its size and reference count.
pub fn disk_usage(d: &Daemon) -> Value {
    Value::Array(d.volumes.list().iter().map(|v| v.to_json(Some((d.volumes.size(&v.name), v.refs.len() as i64)))).collect())
}
