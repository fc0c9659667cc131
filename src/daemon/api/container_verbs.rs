//! The Engine API's container verbs beside the life cycle: pause, unpause, rename, top,
//! stats, update and prune (and the prune routes of objects this daemon has none of yet).

use crate::daemon::filters::Filters;
use crate::daemon::errors::ApiError;
use crate::daemon::{stats, Daemon};
use crate::http::server::{Request, Response};
use serde_json::Value;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

pub fn pause(d: &Arc<Daemon>, id: &str) -> Result<Response, ApiError> {
    d.pause(&d.find(id)?).map(|()| Response::empty(204))
}

pub fn unpause(d: &Arc<Daemon>, id: &str) -> Result<Response, ApiError> {
    d.unpause(&d.find(id)?).map(|()| Response::empty(204))
}

pub fn rename(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<Response, ApiError> {
    let entry = d.find(id)?;
    d.rename(&entry, req.query("name").unwrap_or("")).map(|()| Response::empty(204))
}

/// POST /containers/{id}/update: the body is the Resources of a HostConfig and RestartPolicy.
pub fn update(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<Response, ApiError> {
    let entry = d.find(id)?;
    let body: Value = serde_json::from_slice(&req.body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    d.update(&entry, &body).map(|v| Response::json(200, &v))
}

pub fn top(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<Response, ApiError> {
    let entry = d.find(id)?;
    d.top(&entry, req.query("ps_args").unwrap_or("")).map(|v| Response::json(200, &v))
}

/// GET /containers/{id}/stats?stream=&one-shot=: a frame a second while streaming; without
/// stream, the second frame (so `precpu_stats` is filled) or, with one-shot, the first.
pub fn stats(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<Response, ApiError> {
    let entry = d.find(id)?;
    let stream = req.query("stream").is_none() || req.query_bool("stream");
    let one_shot = req.query_bool("one-shot");
    if stream && one_shot {
        return Err(ApiError::bad_request("cannot have stream=true and one-shot=true"));
    }
    let cgroup = {
        let s = entry.lock();
        if s.c.state.running {
            Some(Daemon::cgroup_of(&s.c)?)
        } else {
            None
        }
    };
    let frame = move |previous: Option<&Value>| -> (Value, bool) {
        let s = entry.lock();
        let (name, id, pid) = (s.c.name.clone(), s.c.id.clone(), s.c.state.pid);
        let running = s.c.state.running && !s.removed;
        drop(s);
        match (&cgroup, running) {
            (Some(cg), true) => match stats::sample(&name, &id, cg, pid) {
                Ok(v) => (stats::with_previous(v, previous), true),
                Err(_) => (stats::empty_frame(&name, &id), false),
            },
            _ => (stats::empty_frame(&name, &id), false),
        }
    };
    let write = |w: &mut dyn Write, v: &Value| -> std::io::Result<()> {
        let mut line = serde_json::to_vec(v).unwrap_or_default();
        line.push(b'\n');
        w.write_all(&line)?;
        w.flush()
    };
    Ok(Response::stream(
        200,
        "application/json",
        Box::new(move |w: &mut dyn Write| {
            let (first, sampled) = frame(None);
            if !stream {
                if one_shot || !sampled {
                    return write(w, &first);
                }
                std::thread::sleep(Duration::from_secs(1));
                return write(w, &frame(Some(&first)).0);
            }
            write(w, &first)?;
            let mut previous = sampled.then_some(first);
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let (next, sampled) = frame(previous.as_ref());
                write(w, &next)?;
                previous = sampled.then_some(next);
            }
        }),
    ))
}

/// POST /containers/prune?filters=.
pub fn prune(d: &Arc<Daemon>, req: &Request) -> Result<Response, ApiError> {
    let filters = Filters::parse(req.query("filters"))?;
    d.prune_containers(&filters).map(|v| Response::json(200, &v))
}
