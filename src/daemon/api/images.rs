//! The Engine API's image routes: list, inspect, pull, push, tag, remove, history, prune,
//! save/load, import, container export, and `system df`.

use crate::daemon::errors::ApiError;
use crate::daemon::Daemon;
use crate::http::server::{Request, Response};
use crate::image::{ImageUser, PullErrorKind, PullOptions, RemoveErrorKind};
use serde_json::{json, Value};
use std::io::Write;
use std::sync::Arc;

/// GET /images/json.
/// GET /images/json.
pub fn list(d: &Daemon, req: &Request, v: (u32, u32)) -> Result<Value, ApiError> {
    let filters = crate::daemon::filters::Filters::parse(req.query("filters"))?;
    crate::daemon::image_list::list(d, v, &filters, req.query_bool("all"))
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
            "Parent": d.images.parent_of(&i.id).unwrap_or_default(),
            "Comment": c.get("comment").cloned().unwrap_or(json!("")),
            "Created": i.created,
            "DockerVersion": c.get("docker_version").cloned().unwrap_or(json!("")),
            "Author": c.get("author").cloned().unwrap_or(json!("")),
            "Container": c.get("container").cloned().unwrap_or(json!("")),
            "ContainerConfig": c.get("container_config").cloned().unwrap_or(Value::Null),
            "Config": c.get("config").cloned().unwrap_or(Value::Null),
            "Architecture": c.get("architecture").cloned().unwrap_or(json!(super::arch())),
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
    let mut client = crate::registry::RegistryClient::new(&domain, "", &d.settings().insecure_registries, Some(&header)).map_err(|e| ApiError::internal(e.to_string()))?;
    match client.check_login() {
        Ok(()) => Ok(Response::json(200, &json!({"Status": "Login Succeeded", "IdentityToken": ""}))),
        Err(crate::registry::RegistryError::Transport(e) | crate::registry::RegistryError::Other(e)) => Err(ApiError::internal(e)),
        Err(e) => Err(ApiError::new(401, format!("login attempt to {}/v2/ failed with status: 401 Unauthorized ({e})", client.base_url()))),
    }
}

/// POST /images/create: a pull, streamed as Docker's progress JSON lines.
pub fn pull(d: &Arc<Daemon>, req: &Request) -> Result<Response, ApiError> {
    let from = req.query("fromImage").unwrap_or_default().to_string();
    let tag = req.query("tag").unwrap_or_default().to_string();
    let full = if tag.is_empty() {
        from.clone()
    } else if tag.starts_with("sha256:") {
        format!("{from}@{tag}")
    } else {
        format!("{from}:{tag}")
    };
    let parsed = crate::reference::Reference::parse_normalized(&full).map_err(|e| ApiError::bad_request(e.to_string()))?;
    // A name alone (no tag, no digest) pulls every tag of the repository, as Docker's does.
    let all_tags = parsed.tag.is_none() && parsed.digest.is_none();
    let reference = parsed.with_default_tag();
    let platform = match req.query("platform").filter(|p| !p.is_empty()) {
        Some(p) => Some(crate::registry::Platform::parse(p).map_err(ApiError::bad_request)?),
        None => None,
    };
    let opts = PullOptions {
        insecure_registries: d.settings().insecure_registries.clone(),
        auth: req.headers.get("X-Registry-Auth").map(String::from),
        platform,
        registry_mirrors: d.settings().registry_mirrors.clone(),
        max_concurrent_downloads: d.settings().max_concurrent_downloads,
    };
    let daemon = d.clone();
    progress_stream(Box::new(move |progress| {
        if all_tags {
            let repository = crate::reference::Reference { tag: None, ..reference.clone() };
            daemon.images.pull_all_tags(&repository, &opts, progress).map_err(|e| (pull_status(e.kind), e.message))?;
            // One event naming the repository, as Docker logs the reference it was asked for.
            let name = repository.familiar_name();
            daemon.events.image("pull", &name, &name);
            return Ok(());
        }
        daemon.images.pull(&reference, &opts, progress).map_err(|e| (pull_status(e.kind), e.message))?;
        let name = reference.familiar_string();
        daemon.events.image("pull", &name, &name);
        Ok(())
    }))
}

/// A job reporting progress lines; its error is an HTTP status and message.
type ProgressJob = Box<dyn FnOnce(&mut dyn FnMut(&Value)) -> Result<(), (u16, String)> + Send>;

/// Sends JSON progress lines produced by `work` (run on its own thread) as a stream; an error
/// before the first line is an HTTP status, after it an `error` line, as Docker does.
fn progress_stream(work: ProgressJob) -> Result<Response, ApiError> {
    let (tx, rx) = std::sync::mpsc::channel::<Result<Value, (u16, String)>>();
    std::thread::Builder::new()
        .name("image-job".into())
        .spawn(move || {
            let progress_tx = tx.clone();
            let result = work(&mut |m| {
                let _ = progress_tx.send(Ok(m.clone()));
            });
            crate::sys::release_free_heap();
            if let Err(e) = result {
                let _ = tx.send(Err(e));
            }
        })
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let first = match rx.recv() {
        Ok(Ok(m)) => m,
        Ok(Err((status, message))) => return Err(ApiError::new(status, message)),
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

fn pull_status(kind: PullErrorKind) -> u16 {
    match kind {
        PullErrorKind::NotFound | PullErrorKind::Unauthorized => 404,
        PullErrorKind::InvalidReference => 400,
        PullErrorKind::Other => 500,
    }
}

/// POST /images/{name}/push?tag=.
pub fn push(d: &Arc<Daemon>, name: &str, req: &Request) -> Result<Response, ApiError> {
    let tag = req.query("tag").unwrap_or_default();
    let full = if tag.is_empty() { name.to_string() } else { format!("{name}:{tag}") };
    let reference = crate::reference::Reference::parse_normalized(&full).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let opts = PullOptions {
        insecure_registries: d.settings().insecure_registries.clone(),
        auth: req.headers.get("X-Registry-Auth").map(String::from),
        ..PullOptions::default()
    };
    let daemon = d.clone();
    progress_stream(Box::new(move |progress| {
        daemon.images.push(&reference, &opts, progress).map_err(|e| (pull_status(e.kind), e.message))?;
        let name = reference.familiar_string();
        daemon.events.image("push", &name, &name);
        Ok(())
    }))
}

/// POST /images/{name}/tag?repo=&tag=.
pub fn tag(d: &Daemon, name: &str, req: &Request) -> Result<Response, ApiError> {
    let repo = req.query("repo").unwrap_or_default();
    let tag = req.query("tag").unwrap_or_default();
    let full = if tag.is_empty() { repo.to_string() } else { format!("{repo}:{tag}") };
    let reference = crate::reference::Reference::parse_normalized(&full).map_err(|e| ApiError::bad_request(e.to_string()))?;
    d.images.tag(name, &reference).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => no_such_image(name),
        std::io::ErrorKind::InvalidInput => ApiError::bad_request(e.to_string()),
        _ => ApiError::internal(e.to_string()),
    })?;
    if let Some(id) = d.images.resolve_id(name) {
        d.events.image("tag", &id, &reference.familiar_string());
    }
    Ok(Response::empty(201))
}

/// Docker's "No such image" text: a name gets its default tag, an id stays as given.
fn no_such_image(name: &str) -> ApiError {
    let shown = crate::reference::Reference::parse_normalized(name).map(|r| r.with_default_tag().familiar_string()).unwrap_or_else(|_| name.to_string());
    ApiError::not_found(format!("No such image: {shown}"))
}

/// DELETE /images/{name}?force=&noprune=.
pub fn remove(d: &Daemon, name: &str, req: &Request) -> Result<Response, ApiError> {
    let force = req.query_bool("force");
    // No container is created from the image while we weigh the ones there are.
    let _creating = d.create_lock.lock().unwrap_or_else(|e| e.into_inner());
    let id = d.images.resolve_id(name).unwrap_or_default();
    match d.images.remove(name, force, &image_users(d)) {
        Ok(v) => {
            log_removals(d, &id, &v);
            Ok(Response::json(200, &Value::Array(v)))
        }
        Err(e) => Err(match e.kind {
            RemoveErrorKind::NotFound => no_such_image(name),
            RemoveErrorKind::Conflict => ApiError::conflict(e.message),
            RemoveErrorKind::Other => ApiError::internal(e.message),
        }),
    }
}

/// `untag` and `delete` events for what a removal of image `id` answered.
fn log_removals(d: &Daemon, id: &str, entries: &[Value]) {
    for e in entries {
        if e.get("Untagged").is_some() && !id.is_empty() {
            d.events.image("untag", id, id);
        } else if let Some(deleted) = e.get("Deleted").and_then(Value::as_str) {
            if d.images.get(deleted).is_none() && (deleted == id || id.is_empty()) {
                d.events.image("delete", deleted, deleted);
            }
        }
    }
}

/// GET /images/{name}/history.
pub fn history(d: &Daemon, name: &str) -> Result<Response, ApiError> {
    d.images.history(name).map(|h| Response::json(200, &Value::Array(h))).ok_or_else(|| ApiError::not_found(format!("No such image: {name}")))
}

/// Every container, as `docker rmi` and prune weigh it.
fn image_users(d: &Daemon) -> Vec<ImageUser> {
    d.containers()
        .iter()
        .filter_map(|e| {
            let s = e.lock();
            (!s.removed).then(|| ImageUser { container_id: s.c.id.clone(), image_id: s.c.image.clone(), running: s.c.state.running })
        })
        .collect()
}

/// POST /images/prune?filters={"dangling":["false"]}.
pub fn prune(d: &Daemon, req: &Request) -> Result<Response, ApiError> {
    let filters = crate::daemon::filters::Filters::parse(req.query("filters"))?;
    filters.validate(&["dangling", "label", "label!", "until"])?;
    let all = filters.bool_value("dangling")? == Some(false);
    let until = filters.until()?;
    let wanted = |i: &crate::image::Image| {
        let created_ok = until.is_none_or(|u| crate::daemon::filters::created_before(&i.created, u));
        created_ok && filters.match_labels(&crate::daemon::filters::labels_of(i.config.get("config").and_then(|c| c.get("Labels"))))
    };
    let _creating = d.create_lock.lock().unwrap_or_else(|e| e.into_inner());
    let before: std::collections::HashSet<String> = d.images.list().into_iter().map(|i| i.id).collect();
    let (deleted, reclaimed) = d.images.prune_where(all, &image_users(d), &wanted);
    for id in before.iter().filter(|id| d.images.get(id).is_none()) {
        d.events.image("delete", id, id);
    }
    d.events.log("image", "prune", "", [("reclaimed".to_string(), reclaimed.to_string())].into());
    Ok(Response::json(200, &json!({"ImagesDeleted": if deleted.is_empty() { Value::Null } else { Value::Array(deleted) }, "SpaceReclaimed": reclaimed})))
}

/// GET /system/df.
pub fn system_df(d: &Daemon, v: (u32, u32)) -> Value {
    let containers: Vec<(String, String, bool, String, String)> = d
        .containers()
        .iter()
        .map(|e| {
            let s = e.lock();
            (s.c.id.clone(), s.c.image.clone(), s.c.state.running, s.c.mount_id.clone(), s.c.name.clone())
        })
        .collect();
    let (layers_size, shared) = d.images.disk_usage();
    let mut images = crate::daemon::image_list::list(d, v, &Default::default(), true).unwrap_or_default();
    if let Some(arr) = images.as_array_mut() {
        for i in arr {
            let id = i["Id"].as_str().unwrap_or("").to_string();
            i["Containers"] = json!(containers.iter().filter(|c| c.1 == id).count());
            i["SharedSize"] = json!(shared.get(&id).copied().unwrap_or(0));
        }
    }
    let cs: Vec<Value> = containers
        .iter()
        .map(|(id, image, running, mount, name)| {
            json!({
                "Id": id, "Names": [name], "ImageID": image,
                "State": if *running { "running" } else { "exited" },
                "SizeRw": d.snapshots.rw_size(mount),
            })
        })
        .collect();
    json!({"LayersSize": layers_size, "Images": images, "Containers": cs, "Volumes": super::volumes::disk_usage(d), "BuildCache": []})
}

/// Passes what a worker thread writes to the channel, in pieces of at most 1 MiB.
struct ChannelWriter(std::sync::mpsc::SyncSender<std::io::Result<Vec<u8>>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(1 << 20);
        self.0.send(Ok(buf[..n].to_vec())).map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A streamed body produced by `produce` on a worker thread (connection threads have small
/// stacks, too small for archive work).
fn worker_stream(content_type: &str, produce: impl FnOnce(&mut dyn Write) -> std::io::Result<()> + Send + 'static) -> Result<Response, ApiError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(4);
    std::thread::Builder::new()
        .name("image-stream".into())
        .spawn(move || {
            let mut w = std::io::BufWriter::with_capacity(256 << 10, ChannelWriter(tx.clone()));
            let r = produce(&mut w).and_then(|_| w.flush());
            if let Err(e) = r {
                let _ = tx.send(Err(e));
            }
        })
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Response::stream(
        200,
        content_type,
        Box::new(move |w: &mut dyn Write| {
            for piece in rx {
                w.write_all(&piece?)?;
            }
            Ok(())
        }),
    ))
}

/// GET /images/{name}/get and GET /images/get?names=...
pub fn save(d: &Arc<Daemon>, names: Vec<String>) -> Result<Response, ApiError> {
    for n in &names {
        if d.images.get(n).is_none() {
            return Err(ApiError::not_found(format!("No such image: {n}")));
        }
    }
    for n in &names {
        let id = d.images.resolve_id(n).unwrap_or_else(|| n.clone());
        d.events.image("save", &id, &id);
    }
    let daemon = d.clone();
    worker_stream("application/x-tar", move |w| daemon.images.save(&names, w))
}

/// Runs `f` on a thread with an ordinary stack: connection threads have small stacks, too
/// small for archive work.
fn on_worker<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    std::thread::Builder::new().name("image-job".into()).spawn(f).map_err(|e| ApiError::internal(e.to_string()))?.join().map_err(|_| ApiError::internal("image job panicked"))
}

/// POST /images/load?quiet=.
pub fn load(d: &Arc<Daemon>, mut req: Request) -> Result<Response, ApiError> {
    let daemon = d.clone();
    let mut body = req.take_body();
    let mut out = Vec::new();
    // As Docker's, a load always answers 200: what went wrong is the stream's error line
    // (SDKs raise their load error from it).
    let lines = match on_worker(move || daemon.images.load_archive(&mut body))? {
        Ok(lines) => lines,
        Err(e) => {
            let message = e.to_string();
            out.extend(serde_json::to_vec(&json!({"errorDetail": {"message": message}, "error": message})).unwrap_or_default());
            out.extend_from_slice(b"\r\n");
            return Ok(Response::text(200, "application/json", out));
        }
    };
    for l in &lines {
        let loaded = l.strip_prefix("Loaded image ID: ").map(str::to_string).or_else(|| l.strip_prefix("Loaded image: ").and_then(|r| d.images.resolve_id(r)));
        if let Some(id) = loaded {
            d.events.image("load", &id, &id);
        }
    }
    for l in lines {
        out.extend(serde_json::to_vec(&json!({"stream": format!("{l}\n")})).unwrap_or_default());
        out.extend_from_slice(b"\r\n");
    }
    Ok(Response::text(200, "application/json", out))
}

/// POST /images/create?fromSrc=-&repo=&tag=&changes=&message=.
pub fn import(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    if req.query("fromSrc") != Some("-") {
        return Err(ApiError::bad_request("importing from a URL is not supported"));
    }
    let repo = req.query("repo").unwrap_or_default();
    let tag = req.query("tag").unwrap_or_default();
    let reference = super::commit::repo_tag_reference(repo, tag)?;
    let changes: Vec<String> = req.query.iter().filter(|(k, _)| k == "changes").map(|(_, v)| v.clone()).collect();
    let mut cfg = serde_json::Map::new();
    crate::image::run_config::apply_changes(&mut cfg, &changes).map_err(ApiError::bad_request)?;
    let message = req.query("message").unwrap_or_default().to_string();
    let mut body = req.take_body();
    let daemon = d.clone();
    let id = on_worker(move || daemon.images.import(&mut body, reference.as_ref(), &cfg, &message))?.map_err(|e| ApiError::internal(e.to_string()))?;
    d.events.image("import", &id, &id);
    let mut out = serde_json::to_vec(&json!({"status": id})).unwrap_or_default();
    out.extend_from_slice(b"\r\n");
    Ok(Response::text(200, "application/json", out))
}

/// GET /containers/{id}/export: a tar of the container's filesystem (mounted for the
/// occasion when the container is not running).
pub fn export(d: &Arc<Daemon>, id: &str) -> Result<Response, ApiError> {
    let e = d.find(id)?;
    let (mount_id, merged, counted) = {
        let mut s = e.lock();
        d.events.container(&s.c, "export", &[]);
        let (merged, counted) = crate::daemon::container_fs::acquire_host_mount(d, &mut s).map_err(|e| ApiError::internal(e.to_string()))?;
        (s.c.mount_id.clone(), merged, counted)
    };
    let daemon = d.clone();
    worker_stream("application/x-tar", move |w| {
        let r = crate::image::tar_directory(&merged, w, false);
        if counted {
            crate::daemon::container_fs::release_host_mount(&daemon, &e, &mount_id);
        }
        r
    })
}
