//! The Engine API's image routes: list, inspect, and pull with streamed progress.

use super::ops::ApiError;
use super::Daemon;
use crate::http::server::{Request, Response};
use crate::image::{PullErrorKind, PullOptions};
use serde_json::{json, Value};
use std::io::Write;
use std::sync::Arc;

/// GET /images/json.
pub fn list(d: &Daemon, v: (u32, u32)) -> Value {
    let mut images = d.images.list();
    images.sort_by(|a, b| b.created.cmp(&a.created));
    Value::Array(
        images
            .iter()
            .map(|i| {
                let mut o = json!({
                    "Containers": -1,
                    "Created": super::container::unix_seconds(&i.created),
                    "Id": i.id,
                    "Labels": i.config.get("config").and_then(|c| c.get("Labels")).cloned().unwrap_or(Value::Null),
                    "ParentId": "",
                    "RepoDigests": i.repo_digests,
                    "RepoTags": i.repo_tags,
                    "SharedSize": -1,
                    "Size": i.size,
                });
                if v < (1, 44) {
                    o["VirtualSize"] = json!(i.size);
                }
                o
            })
            .collect(),
    )
}

/// GET /images/{name}/json.
pub fn inspect(d: &Daemon, name: &str) -> Result<Response, ApiError> {
    let i = d.images.get(name).ok_or_else(|| ApiError::not_found(format!("No such image: {name}")))?;
    let c = &i.config;
    Ok(Response::json(
        200,
        &json!({
            "Id": i.id,
            "RepoTags": i.repo_tags,
            "RepoDigests": i.repo_digests,
            "Parent": "",
            "Comment": c.get("comment").cloned().unwrap_or(json!("")),
            "Created": i.created,
            "DockerVersion": c.get("docker_version").cloned().unwrap_or(json!("")),
            "Author": c.get("author").cloned().unwrap_or(json!("")),
            "Config": c.get("config").cloned().unwrap_or(Value::Null),
            "Architecture": c.get("architecture").cloned().unwrap_or(json!(super::api::arch())),
            "Variant": c.get("variant").cloned(),
            "Os": c.get("os").cloned().unwrap_or(json!("linux")),
            "Size": i.size,
            "GraphDriver": {"Name": d.opts.storage_driver, "Data": null},
            "RootFS": {"Type": "layers", "Layers": c.get("rootfs").and_then(|r| r.get("diff_ids")).cloned().unwrap_or(json!([]))},
            "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        }),
    ))
}

/// POST /auth: checks credentials against the registry (`serveraddress`, Docker Hub when
/// empty) the way `docker login` needs; the client stores them.
pub fn auth(d: &Daemon, req: &Request) -> Result<Response, ApiError> {
    let body: Value = serde_json::from_slice(&req.body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    let field = |k: &str| body.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let (user, password, server) = (field("username"), field("password"), field("serveraddress"));
    let domain = crate::auth::registry_domain(&server);
    let header = crate::auth::encode_registry_auth(&user, &password, &server);
    let client = crate::registry::RegistryClient::new(&domain, "", &d.opts.insecure_registries, Some(&header));
    match client.check_login() {
        Ok(()) => Ok(Response::json(200, &json!({"Status": "Login Succeeded", "IdentityToken": ""}))),
        Err(crate::registry::RegistryError::Other(e)) => Err(ApiError::internal(e)),
        Err(e) => Err(ApiError::new(401, format!("login attempt to {}/v2/ failed with status: 401 Unauthorized ({e})", client.base_url()))),
    }
}

/// POST /images/create: a pull, streamed as Docker's progress JSON lines.
pub fn pull(d: &Arc<Daemon>, req: &Request) -> Result<Response, ApiError> {
    if req.query("fromSrc").is_some() {
        return Err(ApiError::new(501, "importing images (fromSrc) is not supported yet"));
    }
    let from = req.query("fromImage").unwrap_or_default().to_string();
    let tag = req.query("tag").unwrap_or_default().to_string();
    let full = if tag.is_empty() {
        from.clone()
    } else if tag.starts_with("sha256:") {
        format!("{from}@{tag}")
    } else {
        format!("{from}:{tag}")
    };
    let reference = crate::reference::Reference::parse_normalized(&full).map_err(|e| ApiError::bad_request(e.to_string()))?.with_default_tag();
    let platform = match req.query("platform").filter(|p| !p.is_empty()) {
        Some(p) => Some(crate::registry::Platform::parse(p).map_err(ApiError::bad_request)?),
        None => None,
    };
    let opts = PullOptions {
        insecure_registries: d.opts.insecure_registries.clone(),
        auth: req.headers.get("X-Registry-Auth").map(String::from),
        platform,
        registry_mirrors: d.opts.registry_mirrors.clone(),
        max_concurrent_downloads: d.opts.max_concurrent_downloads,
    };
    let (tx, rx) = std::sync::mpsc::channel::<Result<Value, (PullErrorKind, String)>>();
    let daemon = d.clone();
    std::thread::Builder::new()
        .name("pull".into())
        .spawn(move || {
            let progress_tx = tx.clone();
            let result = daemon.images.pull(&reference, &opts, &mut |m| {
                let _ = progress_tx.send(Ok(m.clone()));
            });
            if let Err(e) = result {
                let _ = tx.send(Err((e.kind, e.message)));
            }
        })
        .map_err(|e| ApiError::internal(e.to_string()))?;
    // Until the first progress line, an error can still be an HTTP status (as Docker does).
    let first = match rx.recv() {
        Ok(Ok(m)) => m,
        Ok(Err((kind, message))) => {
            let status = match kind {
                PullErrorKind::NotFound | PullErrorKind::Unauthorized => 404,
                PullErrorKind::InvalidReference => 400,
                PullErrorKind::Other => 500,
            };
            return Err(ApiError::new(status, message));
        }
        Err(_) => return Ok(Response::stream(200, "application/json", Box::new(|_| Ok(())))),
    };
    Ok(Response::stream(
        200,
        "application/json",
        Box::new(move |w: &mut dyn Write| {
            let mut line = |v: &Value| -> std::io::Result<()> {
                let mut b = serde_json::to_vec(v).unwrap_or_default();
                b.extend_from_slice(b"\r\n");
                w.write_all(&b)
            };
            line(&first)?;
            for m in rx {
                match m {
                    Ok(v) => line(&v)?,
                    Err((_, message)) => line(&json!({"errorDetail": {"message": message}, "error": message}))?,
                }
            }
            Ok(())
        }),
    ))
}
