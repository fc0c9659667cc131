//! The Engine API: versioned and unversioned paths, and the route table. Each resource has
//! its own module (request decoding, Docker's statuses and bodies) over the daemon's services.

mod container_verbs;
mod archive;
mod build;
mod attach;
mod commit;
mod containers;
mod exec;
mod events;
mod images;
mod logs;
mod networks;
mod system;
mod volumes;

pub use system::arch;

use super::errors::ApiError;
use super::Daemon;
use crate::http::server::{Request, Response};
use std::sync::Arc;

/// `1.44` → (1, 44).
fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Splits `/v1.44/containers/json` into the version and the route.
fn split_version(path: &str) -> (Option<&str>, &str) {
    if let Some(rest) = path.strip_prefix("/v") {
        if let Some(slash) = rest.find('/') {
            if parse_version(&rest[..slash]).is_some() {
                return (Some(&rest[..slash]), &rest[slash..]);
            }
        }
    }
    (None, path)
}

/// A request's JSON body; `empty_message` is Docker's 400 for an empty one.
fn json_body(req: &Request, empty_message: &str) -> Result<serde_json::Value, ApiError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(empty_message));
    }
    serde_json::from_slice(&req.body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

fn error_response(e: ApiError) -> Response {
    Response::error(e.status, &e.message)
}

pub fn handle(d: &Arc<Daemon>, mut req: Request) -> Response {
    let (version, route) = split_version(&req.path);
    let version = version.map(str::to_string).unwrap_or_else(|| crate::version::API_VERSION.to_string());
    let Some(v) = parse_version(&version) else { return Response::error(400, "malformed API version") };
    let max = parse_version(crate::version::API_VERSION).unwrap_or((1, 44));
    let min = parse_version(crate::version::MIN_API_VERSION).unwrap_or((1, 24));
    if v < min {
        return Response::error(
            400,
            &format!("client version {version} is too old. Minimum supported API version is {}, please upgrade your client to a newer version", crate::version::MIN_API_VERSION),
        );
    }
    if v > max {
        return Response::error(400, &format!("client version {version} is too new. Maximum supported API version is {}", crate::version::API_VERSION));
    }
    if crate::log::enabled(crate::log::Level::Debug) {
        crate::log::debug(&format!("Calling {} {}", req.method, req.path));
    }
    let route = route.trim_end_matches('/').to_string();
    let segs: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    let result = match (req.method.as_str(), segs.as_slice()) {
        ("GET" | "HEAD", ["_ping"]) => Ok(system::ping(&req)),
        ("GET", ["version"]) => Ok(Response::json(200, &system::version_json(d))),
        ("GET", ["info"]) => Ok(Response::json(200, &system::info_json(d))),
        ("POST", ["images", "create"]) if req.query("fromSrc").is_some() => images::import(d, &mut req),
        ("POST", ["images", "create"]) => images::pull(d, &req),
        ("POST", ["auth"]) => images::auth(d, &req),
        ("GET", ["images", "json"]) => images::list(d, &req, v).map(|l| Response::json(200, &l)),
        ("GET", ["images", "get"]) => images::save(d, req.query.iter().filter(|(k, _)| k == "names").map(|(_, n)| n.clone()).collect()),
        ("POST", ["images", "load"]) => images::load(d, req),
        ("POST", ["images", "prune"]) => images::prune(d, &req),
        ("GET", ["system", "df"]) => Ok(Response::json(200, &images::system_df(d, v))),
        ("GET", ["containers", id, "export"]) => images::export(d, id),
        ("POST", ["images", name @ .., "tag"]) if !name.is_empty() => images::tag(d, &name.join("/"), &req),
        ("POST", ["images", name @ .., "push"]) if !name.is_empty() => images::push(d, &name.join("/"), &req),
        ("GET", ["images", name @ .., "history"]) if !name.is_empty() => images::history(d, &name.join("/")),
        ("GET", ["images", name @ .., "get"]) if !name.is_empty() => images::save(d, vec![name.join("/")]),
        ("DELETE", ["images", name @ ..]) if !name.is_empty() => images::remove(d, &name.join("/"), &req),
        ("GET", ["images", name @ .., "json"]) if !name.is_empty() => images::inspect(d, &name.join("/")),
        ("POST", ["commit"]) => commit::commit(d, &req),
        ("POST", ["containers", "create"]) => containers::create(d, &req),
        ("GET", ["containers", "json"]) => containers::containers_json(d, &req).map(|v| Response::json(200, &v)),
        ("HEAD", ["containers", id, "archive"]) => archive::head(d, id, &req),
        ("GET", ["containers", id, "archive"]) => archive::get(d, id, &req),
        ("PUT", ["containers", id, "archive"]) => archive::put(d, id, &mut req),
        ("GET", ["containers", id, "changes"]) => containers::changes(d, id),
        ("GET", ["containers", id, "json"]) => containers::inspect(d, id, &req),
        ("POST", ["containers", id, "start"]) => d.find(id).and_then(|e| d.start(&e)).map(|started| Response::empty(if started { 204 } else { 304 })),
        ("POST", ["containers", id, "stop"]) => containers::stop(d, id, &req).map(|stopped| Response::empty(if stopped { 204 } else { 304 })),
        ("POST", ["containers", id, "restart"]) => containers::restart(d, id, &req),
        ("POST", ["containers", id, "kill"]) => containers::kill(d, id, &req),
        ("POST", ["containers", id, "wait"]) => containers::wait(d, id, &req),
        ("POST", ["containers", id, "attach"]) => attach::attach(d, id, &req, v),
        ("GET", ["containers", id, "attach", "ws"]) => attach::attach_ws(d, id, &req, v),
        ("POST", ["containers", id, "resize"]) => attach::resize(d, id, &req),
        ("GET", ["containers", id, "logs"]) => logs::logs(d, id, &req, v),
        ("POST", ["containers", "prune"]) => container_verbs::prune(d, &req),
        ("GET", ["networks"]) => networks::list(d, &req),
        ("POST", ["networks", "create"]) => networks::create(d, &req),
        ("POST", ["networks", "prune"]) => networks::prune(d, &req),
        ("GET", ["networks", id]) => networks::inspect(d, id, &req),
        ("DELETE", ["networks", id]) => networks::remove(d, id),
        ("POST", ["networks", id, "connect"]) => networks::connect(d, id, &req),
        ("POST", ["networks", id, "disconnect"]) => networks::disconnect(d, id, &req),
        ("POST", ["build", "prune"]) => build::prune(&req),
        ("POST", ["build"]) => build::build(d, &mut req, v),
        ("GET", ["volumes"]) => volumes::list(d, &req),
        ("POST", ["volumes", "create"]) => volumes::create(d, &req),
        ("POST", ["volumes", "prune"]) => volumes::prune(d, &req, v),
        ("GET", ["volumes", name]) => volumes::inspect(d, name),
        ("PUT", ["volumes", name]) => volumes::update(d, name),
        ("DELETE", ["volumes", name]) => volumes::remove(d, name, &req),
        ("POST", ["containers", id, "pause"]) => container_verbs::pause(d, id),
        ("POST", ["containers", id, "unpause"]) => container_verbs::unpause(d, id),
        ("POST", ["containers", id, "rename"]) => container_verbs::rename(d, id, &req),
        ("GET", ["containers", id, "top"]) => container_verbs::top(d, id, &req),
        ("GET", ["containers", id, "stats"]) => container_verbs::stats(d, id, &req),
        ("POST", ["containers", id, "update"]) => container_verbs::update(d, id, &req),
        ("GET", ["events"]) => events::events(d, &req),
        ("DELETE", ["containers", id]) => d.find(id).and_then(|e| d.remove_with_volumes(&e, req.query_bool("force"), req.query_bool("v"))).map(|_| Response::empty(204)),
        ("POST", ["containers", id, "exec"]) => exec::create(d, id, &req),
        ("POST", ["exec", id, "start"]) => exec::start(d, id, &req, v),
        ("POST", ["exec", id, "resize"]) => exec::resize(d, id, &req),
        ("GET", ["exec", id, "json"]) => exec::inspect(d, id),
        _ => Err(ApiError::not_found("page not found")),
    };
    result.unwrap_or_else(error_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_paths_split() {
        assert_eq!(split_version("/v1.44/containers/json"), (Some("1.44"), "/containers/json"));
        assert_eq!(split_version("/containers/json"), (None, "/containers/json"));
        assert_eq!(split_version("/version"), (None, "/version"));
        assert_eq!(parse_version("1.24"), Some((1, 24)));
    }
}

