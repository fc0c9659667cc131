//! `POST /build` (Docker's classic builder) and `POST /build/prune`: every query parameter
//! honoured or refused by name, the context read and checked before anything is answered
//! (so a bad Dockerfile or context is an HTTP error, as with Docker), then the build's output
//! as Docker's JSON lines on a chunked stream. A client that goes away stops the build: its
//! running step's container is killed and removed.

use crate::build::{self, context, Emitter};
use crate::daemon::build_backend::BuildBackend;
use crate::daemon::errors::ApiError;
use crate::daemon::Daemon;
use crate::http::server::{Request, Response};
use crate::http::{ChunkedWriter, Conn};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What the query asks for, besides the builder's own options.
struct Query {
    options: build::Options,
    dockerfile: String,
    quiet: bool,
}

fn json_param<T: serde::de::DeserializeOwned + Default>(req: &Request, name: &str, what: &str) -> Result<T, ApiError> {
    match req.query(name).filter(|v| !v.is_empty() && *v != "null") {
        Some(v) => serde_json::from_str(v).map_err(|e| ApiError::bad_request(format!("error reading {what}: {e}"))),
        None => Ok(T::default()),
    }
}

/// Docker's `Int64ValueOrZero`: a bad number is zero.
fn int_or_zero(req: &Request, name: &str) -> i64 {
    req.query(name).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn parse_query(req: &Request, v: (u32, u32)) -> Result<Query, ApiError> {
    if req.query_bool("squash") {
        return Err(ApiError::bad_request("squash is only supported with experimental mode"));
    }
    match req.query("version").unwrap_or("") {
        "" | "1" => {}
        "2" => return Err(ApiError::bad_request("buildkit not supported by daemon")),
        other => return Err(ApiError::bad_request(format!("invalid version {other:?}"))),
    }
    if req.query.iter().any(|(k, v)| k == "securityopt" && !v.is_empty()) {
        return Err(ApiError::bad_request("security options are not supported on linux"));
    }
    if let Some(i) = req.query("isolation").filter(|i| !i.is_empty() && !i.eq_ignore_ascii_case("default")) {
        return Err(ApiError::bad_request(format!("unsupported isolation: {i:?}")));
    }
    if v >= (1, 40) {
        if let Some(o) = req.query("outputs").filter(|o| !o.is_empty() && *o != "null" && *o != "[]") {
            let _: Vec<Value> = serde_json::from_str(o).map_err(|e| ApiError::bad_request(format!("invalid outputs specified: {e}")))?;
            return Err(ApiError::bad_request("outputs: exporting the result is only supported with BuildKit"));
        }
    }
    if let Some(remote) = req.query("remote").filter(|r| !r.is_empty()) {
        // "context" is BuildKit's client session, which the classic builder never has.
        if !(build::git_context::is_git_url(remote) || remote.starts_with("http://") || remote.starts_with("https://")) {
            return Err(ApiError::bad_request(format!("remoteURL ({remote}) could not be recognized as URL")));
        }
    }
    if let Some(cg) = req.query("cgroupparent").filter(|c| !c.is_empty()) {
        return Err(ApiError::bad_request(format!("cgroupparent: a cgroup parent for build containers is not supported ({cg})")));
    }
    let mut tags = Vec::new();
    for t in req.query.iter().filter(|(k, _)| k == "t").map(|(_, v)| v) {
        if t.is_empty() {
            continue;
        }
        let r = crate::reference::Reference::parse_normalized(t).map_err(|e| ApiError::bad_request(format!("invalid tag {t:?}: {e}")))?;
        if r.digest.is_some() {
            return Err(ApiError::bad_request("build tag cannot contain a digest"));
        }
        tags.push(r.with_default_tag().familiar_string());
    }
    let shm_size = match req.query("shmsize").filter(|s| !s.is_empty()) {
        Some(s) => s.parse::<i64>().map_err(|_| ApiError::bad_request(format!("strconv.ParseInt: parsing {s:?}: invalid syntax")))?,
        None => 0,
    };
    let ulimits: Vec<Value> = json_param(req, "ulimits", "ulimit settings")?;
    let build_args: BTreeMap<String, Option<String>> = json_param(req, "buildargs", "build args")?;
    let labels: BTreeMap<String, String> = json_param(req, "labels", "labels")?;
    let cache_from: Vec<String> = json_param(req, "cachefrom", "cache-from")?;
    let mut hc = Map::new();
    let network = req.query("networkmode").unwrap_or("");
    if !network.is_empty() && network != "default" {
        hc.insert("NetworkMode".into(), json!(network));
    }
    let hosts: Vec<&String> = req.query.iter().filter(|(k, _)| k == "extrahosts").map(|(_, v)| v).filter(|v| !v.is_empty()).collect();
    if !hosts.is_empty() {
        hc.insert("ExtraHosts".into(), json!(hosts));
    }
    if shm_size > 0 {
        hc.insert("ShmSize".into(), json!(shm_size));
    }
    for (param, field) in [("memory", "Memory"), ("memswap", "MemorySwap"), ("cpushares", "CpuShares"), ("cpuperiod", "CpuPeriod"), ("cpuquota", "CpuQuota")] {
        let n = int_or_zero(req, param);
        if n != 0 {
            hc.insert(field.into(), json!(n));
        }
    }
    for (param, field) in [("cpusetcpus", "CpusetCpus"), ("cpusetmems", "CpusetMems")] {
        if let Some(v) = req.query(param).filter(|v| !v.is_empty()) {
            hc.insert(field.into(), json!(v));
        }
    }
    if !ulimits.is_empty() {
        hc.insert("Ulimits".into(), json!(ulimits));
    }
    let platform = if v >= (1, 32) { req.query("platform").filter(|p| !p.is_empty()).map(str::to_string) } else { None };
    if let Some(p) = &platform {
        let parsed = crate::registry::Platform::parse(p).map_err(|e| ApiError::bad_request(format!("platform: {e}")))?;
        if parsed.os != "linux" {
            return Err(ApiError::bad_request(format!("platform: {p}: operating system is not supported")));
        }
    }
    let force_remove = req.query_bool("forcerm");
    let remove = force_remove || req.query("rm").is_none_or(|r| r.is_empty()) || req.query_bool("rm");
    Ok(Query {
        options: build::Options {
            tags,
            no_cache: req.query_bool("nocache"),
            pull: req.query_bool("pull"),
            remove,
            force_remove,
            build_args,
            labels,
            target: req.query("target").filter(|t| !t.is_empty()).map(str::to_string),
            cache_from,
            platform,
            host_config: hc,
        },
        dockerfile: req.query("dockerfile").unwrap_or("").to_string(),
        quiet: req.query_bool("q"),
    })
}

/// The JSON-lines writer of a build's output; a failed write means the client is gone.
struct Lines<W: Write> {
    out: W,
    quiet: bool,
    /// With `q`, everything is held back and sent only with an error.
    held: Vec<u8>,
    aux: bool,
    cancelled: Arc<AtomicBool>,
}

impl<W: Write> Lines<W> {
    fn send(&mut self, v: &Value) {
        let mut line = serde_json::to_vec(v).unwrap_or_default();
        line.extend_from_slice(b"\r\n");
        if self.quiet {
            self.held.extend_from_slice(&line);
        } else if self.out.write_all(&line).and_then(|_| self.out.flush()).is_err() {
            self.cancelled.store(true, Ordering::Relaxed);
        }
    }

    fn send_now(&mut self, v: &Value) {
        let mut line = serde_json::to_vec(v).unwrap_or_default();
        line.extend_from_slice(b"\r\n");
        let _ = self.out.write_all(&line).and_then(|_| self.out.flush());
    }
}

impl<W: Write> Emitter for Lines<W> {
    fn stream(&mut self, text: &str) {
        self.send(&json!({ "stream": text }));
    }
    fn stderr(&mut self, text: &str) {
        self.send(&json!({ "stream": format!("\x1b[91m{text}\x1b[0m") }));
    }
    fn raw(&mut self, message: &Value) {
        self.send(message);
    }
    fn aux(&mut self, value: Value) {
        if self.aux {
            self.send(&json!({ "aux": value }));
        }
    }
}

/// Watches the client's connection for a hang-up (or a close) until `done`.
fn watch_hangup(fd: OwnedFd, cancelled: Arc<AtomicBool>, done: Arc<AtomicBool>) {
    let _ = std::thread::Builder::new().name("build-hangup".into()).stack_size(64 << 10).spawn(move || {
        while !done.load(Ordering::Relaxed) {
            let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLRDHUP, revents: 0 };
            // SAFETY: one valid pollfd for a descriptor we own, for the duration of the call.
            let n = unsafe { libc::poll(&mut p, 1, 200) };
            if n > 0 && p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLRDHUP | libc::POLLNVAL) != 0 {
                cancelled.store(true, Ordering::Relaxed);
                return;
            }
        }
    });
}

fn owned_fd(conn: Conn) -> OwnedFd {
    match conn {
        Conn::Unix(s) => s.into(),
        Conn::Tcp(s) => s.into(),
    }
}

/// POST /build.
pub fn build(d: &Arc<Daemon>, req: &mut Request, v: (u32, u32)) -> Result<Response, ApiError> {
    let query = parse_query(req, v)?;
    let dir = d.opts.data_root.join("tmp").join(format!("build-{}", &crate::ids::new_id()[..16]));
    let ctx = match req.query("remote").filter(|r| !r.is_empty()) {
        Some(url) if build::git_context::is_git_url(url) => build::git_context::clone(url, &dir).map_err(ApiError::bad_request)?,
        Some(url) => remote_context(url, &dir, &query.dockerfile)?,
        None => {
            let plain = context::decompressed(req.take_body()).map_err(ApiError::bad_request)?;
            context::extract(plain, &dir).map_err(ApiError::bad_request)?
        }
    };
    let (dockerfile_name, text) = ctx.dockerfile(&query.dockerfile).map_err(ApiError::bad_request)?;
    ctx.apply_ignore_file(&dockerfile_name).map_err(ApiError::bad_request)?;
    let df = crate::dockerfile::Dockerfile::parse(&text).map_err(|e| ApiError::bad_request(e.docker_message(&dockerfile_name)))?;
    if df.stages.is_empty() {
        return Err(ApiError::bad_request("the Dockerfile (".to_string() + &dockerfile_name + ") cannot be empty"));
    }
    if let Some(t) = &query.options.target {
        if df.stage_index(t).is_none() {
            return Err(ApiError::bad_request(format!("failed to reach build target {t} in Dockerfile")));
        }
    }
    // The CLI's credentials for every registry it knows (base64 JSON, server → auth config).
    let auth = req.headers.get("X-Registry-Config").and_then(crate::base64::decode).and_then(|b| serde_json::from_slice::<Map<String, Value>>(&b).ok()).unwrap_or_default();
    let d = d.clone();
    let resp = Response::hijack(
        200,
        Box::new(move |reader, conn| {
            // A build (pulls, extraction, steps) needs more stack than a connection thread has.
            let job = std::thread::Builder::new().name("build".into()).stack_size(8 << 20).spawn(move || run_build(d, query, ctx, df, auth, v, reader, conn));
            if let Ok(j) = job {
                let _ = j.join();
            }
        }),
    );
    Ok(resp.with_header("Content-Type", "application/json").with_header("Transfer-Encoding", "chunked").with_header("Connection", "close"))
}

#[allow(clippy::too_many_arguments)]
fn run_build(d: Arc<Daemon>, query: Query, ctx: context::Context, df: crate::dockerfile::Dockerfile, auth: Map<String, Value>, v: (u32, u32), _reader: std::io::BufReader<Conn>, conn: Conn) {
    let cancelled = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    if let Ok(dup) = conn.try_clone() {
        watch_hangup(owned_fd(dup), cancelled.clone(), done.clone());
    }
    let mut lines = Lines { out: ChunkedWriter::new(conn), quiet: query.quiet, held: Vec::new(), aux: v >= (1, 30), cancelled: cancelled.clone() };
    let backend = BuildBackend { d: d.clone(), auth_configs: auth };
    let root = ctx.root();
    let builder = build::Build { backend: &backend, options: &query.options, context_root: &root, context_sums: ctx.sums.as_ref(), cancelled: &cancelled };
    let result = builder.run(&df, &mut lines).and_then(|id| {
        lines.stream(&format!("Successfully built {}\n", build::short_id(&id)));
        for t in &query.options.tags {
            crate::build::Backend::tag(&backend, &id, t).map_err(|m| build::BuildError { message: m, code: None })?;
            lines.stream(&format!("Successfully tagged {t}\n"));
        }
        Ok(id)
    });
    done.store(true, Ordering::Relaxed);
    drop(ctx);
    match result {
        Ok(id) => {
            if query.quiet {
                lines.send_now(&json!({ "stream": format!("{id}\n") }));
            }
        }
        Err(e) => {
            if query.quiet {
                let held = std::mem::take(&mut lines.held);
                let _ = lines.out.write_all(&held);
            }
            let detail = match e.code {
                Some(c) => json!({"code": c, "message": e.message}),
                None => json!({"message": e.message}),
            };
            lines.send_now(&json!({"errorDetail": detail, "error": e.message}));
        }
    }
    if let Ok(mut conn) = lines.out.finish() {
        let _ = conn.flush();
        let _ = conn.shutdown(std::net::Shutdown::Both);
    }
}

/// A remote context (`remote=`, a URL the user named): a tarball (plain or compressed) is the
/// context; anything else is the Dockerfile alone, as Docker takes it.
fn remote_context(url: &str, dir: &std::path::Path, dockerfile: &str) -> Result<context::Context, ApiError> {
    let resp = match ureq::get(url).timeout(std::time::Duration::from_secs(120)).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => return Err(ApiError::bad_request(format!("error downloading remote context {url}: failed to GET {url} with status {code} {}", r.status_text()))),
        Err(e) => return Err(ApiError::bad_request(format!("error downloading remote context {url}: {e}"))),
    };
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(resp.into_reader(), 1 << 30), &mut data).map_err(|e| ApiError::bad_request(format!("error downloading remote context {url}: {e}")))?;
    let is_tar = context::detect(&data) != context::Compression::None || (data.len() >= 262 && &data[257..262] == b"ustar");
    if is_tar {
        let plain = context::decompressed(Box::new(std::io::Cursor::new(data))).map_err(ApiError::bad_request)?;
        return context::extract(plain, dir).map_err(ApiError::bad_request);
    }
    let mut tar = Vec::new();
    {
        let mut b = tar::Builder::new(&mut tar);
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o600);
        let name = if dockerfile.is_empty() { "Dockerfile" } else { dockerfile };
        b.append_data(&mut h, name, &data[..]).map_err(|e| ApiError::internal(e.to_string()))?;
        b.finish().map_err(|e| ApiError::internal(e.to_string()))?;
    }
    context::extract(Box::new(std::io::Cursor::new(tar)), dir).map_err(ApiError::bad_request)
}

/// POST /build/prune: the classic builder keeps no cache besides the images its steps made
/// (removed with them by `docker image prune`), so there is nothing of its own to delete;
/// the filters are checked as Docker checks them.
pub fn prune(req: &Request) -> Result<Response, ApiError> {
    let filters = crate::daemon::filters::Filters::parse(req.query("filters"))?;
    filters.validate(&["until", "id", "parent", "type", "description", "inuse", "shared", "private", "label", "label!"])?;
    filters.until()?;
    Ok(Response::json(200, &json!({"CachesDeleted": null, "SpaceReclaimed": 0})))
}
