//! The Engine API's container routes: create, list, inspect, start/stop/restart/kill, wait,
//! logs, changes and remove (attach and resize: [`super::attach`]), over the container operations of [`crate::daemon`].

use crate::daemon::errors::ApiError;
use crate::daemon::ops::WaitCondition;
use crate::signals::parse_signal;
use crate::daemon::Daemon;
use crate::http::server::{Request, Response};
use serde_json::{json, Value};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

pub fn create(d: &Arc<Daemon>, req: &Request) -> Result<Response, ApiError> {
    if let Some(ct) = req.headers.get("Content-Type") {
        if !ct.starts_with("application/json") {
            return Err(ApiError::bad_request(format!("Content-Type specified ({ct}) must be 'application/json'")));
        }
    }
    let body = super::json_body(req, "config cannot be empty in order to create a container")?;
    let name = req.query("name").filter(|n| !n.is_empty());
    let warning = check_platform(d, req, &body)?;
    let mut created = d.create(&body, name)?;
    if let (Some(w), Some(list)) = (warning, created.get_mut("Warnings").and_then(Value::as_array_mut)) {
        list.push(json!(w));
    }
    Ok(Response::json(201, &created))
}

/// The `platform` query of create (`docker run --platform`): an image present but of another
/// platform is "not found" (the client then pulls the wanted one); without it, an image for
/// another CPU gets Docker's warning.
fn check_platform(d: &Daemon, req: &Request, body: &Value) -> Result<Option<String>, ApiError> {
    use crate::daemon::platform_check as pc;
    let wanted = match req.query("platform").filter(|p| !p.is_empty()) {
        Some(p) => Some(crate::registry::Platform::parse(p).map_err(ApiError::bad_request)?),
        None => None,
    };
    let reference = body.get("Image").and_then(Value::as_str).unwrap_or_default();
    let Some(image) = (!reference.is_empty()).then(|| d.images.get(reference)).flatten() else { return Ok(None) };
    let actual = pc::of_image(&image.config);
    Ok(match wanted {
        Some(wanted) if !pc::is_wanted(&wanted, &actual) => return Err(ApiError::not_found(pc::not_wanted_error(reference, &wanted, &actual))),
        Some(_) => None,
        None => (!pc::runs_on(&pc::host(), &actual)).then(|| pc::mismatch_warning(&actual)),
    })
}

/// GET /containers/json.
pub fn containers_json(d: &Daemon, req: &Request) -> Result<Value, ApiError> {
    let filters = crate::daemon::filters::Filters::parse(req.query("filters"))?;
    let limit = match req.query("limit").filter(|l| !l.is_empty()) {
        Some(l) => l.parse::<i64>().map_err(|_| ApiError::bad_request(format!("strconv.Atoi: parsing {l:?}: invalid syntax")))?,
        None => 0,
    };
    let limit = (limit > 0).then_some(limit as usize);
    crate::daemon::container_list::list(d, req.query_bool("all"), limit, req.query_bool("size"), &filters)
}

fn timeout_query(req: &Request) -> Option<Duration> {
    req.query("t").or_else(|| req.query("timeout")).and_then(|t| t.parse::<i64>().ok()).map(|t| if t < 0 { Duration::from_secs(u32::MAX as u64) } else { Duration::from_secs(t as u64) })
}

/// The `signal` query of stop and restart.
fn stop_signal_query(req: &Request) -> Result<Option<i32>, ApiError> {
    match req.query("signal").filter(|s| !s.is_empty()) {
        Some(s) => parse_signal(s).map(Some).ok_or_else(|| ApiError::bad_request(format!("Invalid signal: {s}"))),
        None => Ok(None),
    }
}

pub fn stop(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<bool, ApiError> {
    let e = d.find(id)?;
    d.stop_with(&e, timeout_query(req), stop_signal_query(req)?)
}

pub fn restart(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<Response, ApiError> {
    let e = d.find(id)?;
    d.stop_with(&e, timeout_query(req), stop_signal_query(req)?)?;
    d.start(&e)?;
    d.events.container(&e.lock().c, "restart", &[]);
    Ok(Response::empty(204))
}

pub fn kill(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<Response, ApiError> {
    let e = d.find(id)?;
    let signal = match req.query("signal").filter(|s| !s.is_empty()) {
        Some(s) => parse_signal(s).ok_or_else(|| ApiError::bad_request(format!("Invalid signal: {s}")))?,
        None => libc::SIGKILL,
    };
    d.kill(&e, signal)?;
    Ok(Response::empty(204))
}

pub fn wait(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<Response, ApiError> {
    let e = d.find(id)?;
    let condition = match req.query("condition").unwrap_or("") {
        "" | "not-running" => WaitCondition::NotRunning,
        "next-exit" => WaitCondition::NextExit,
        "removed" => WaitCondition::Removed,
        other => return Err(ApiError::bad_request(format!("invalid condition: \"{other}\""))),
    };
    // The condition is judged from now: take the exit count before the head goes out, so a
    // start that the client sends after this answer's head is always seen as the next exit.
    let waiter = d.waiter(&e, condition);
    Ok(Response::stream(
        200,
        "application/json",
        Box::new(move |w: &mut dyn Write| {
            let code = waiter();
            let mut b = serde_json::to_vec(&json!({"Error": null, "StatusCode": code})).unwrap_or_default();
            b.push(b'\n');
            w.write_all(&b)
        }),
    ))
}

pub(super) fn stream_content_type(multiplexed: bool, v: (u32, u32)) -> &'static str {
    if multiplexed && v >= (1, 42) {
        "application/vnd.docker.multiplexed-stream"
    } else {
        "application/vnd.docker.raw-stream"
    }
}

/// `GET /containers/{id}/changes`: what changed in the container's filesystem.
pub fn changes(d: &Daemon, id: &str) -> Result<Response, ApiError> {
    let entry = d.find(id)?;
    let mount_id = entry.lock().c.mount_id.clone();
    let list = d.snapshots.diff(&mount_id).map_err(|e| ApiError::internal(format!("cannot compute changes of {id}: {e}")))?;
    Ok(Response::json(200, &Value::Array(list.iter().map(|c| json!({"Path": c.path, "Kind": c.kind as u8})).collect())))
}

/// GET /containers/{id}/json; `size` adds `SizeRw` and `SizeRootFs`.
pub fn inspect(d: &Daemon, id: &str, req: &Request) -> Result<Response, ApiError> {
    let (mut v, mount_id, image) = {
        let e = d.find(id)?;
        let s = e.lock();
        (s.c.inspect(&d.opts.data_root), s.c.mount_id.clone(), s.c.image.clone())
    };
    let ids = d.execs.live_ids(v["Id"].as_str().unwrap_or_default());
    v["ExecIDs"] = if ids.is_empty() { Value::Null } else { json!(ids) };
    if req.query_bool("size") {
        let (rw, root) = crate::daemon::container_list::sizes(d, &mount_id, &image);
        v["SizeRw"] = json!(rw);
        v["SizeRootFs"] = json!(root);
    }
    Ok(Response::json(200, &v))
}
