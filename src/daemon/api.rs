//! The Engine API routes: versioned and unversioned paths, request decoding, and the
//! mapping of each route onto [`Daemon`] operations with Docker's statuses and bodies.

use super::changes;
use super::ops::{parse_signal, ApiError, WaitCondition};
use super::streams::{write_chunk, Chunk};
use super::{images, Daemon};
use crate::http::server::{Request, Response};
use crate::stdcopy::StreamType;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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
    if d.opts.debug {
        eprintln!("dockerd: {} {}", req.method, req.path);
    }
    let route = route.trim_end_matches('/').to_string();
    let segs: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    let result = match (req.method.as_str(), segs.as_slice()) {
        ("GET" | "HEAD", ["_ping"]) => Ok(ping(&req)),
        ("GET", ["version"]) => Ok(Response::json(200, &version_json())),
        ("GET", ["info"]) => Ok(Response::json(200, &info_json(d))),
        ("POST", ["images", "create"]) if req.query("fromSrc").is_some() => images::import(d, &mut req),
        ("POST", ["images", "create"]) => images::pull(d, &req),
        ("POST", ["auth"]) => images::auth(d, &req),
        ("GET", ["images", "json"]) => Ok(Response::json(200, &images::list(d, v))),
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
        ("POST", ["containers", "create"]) => create(d, &req),
        ("GET", ["containers", "json"]) => Ok(Response::json(200, &containers_json(d, &req))),
        ("GET", ["containers", id, "changes"]) => changes::changes(d, id),
        ("GET", ["containers", id, "json"]) => d.find(id).map(|e| Response::json(200, &e.lock().c.inspect(&d.opts.data_root))),
        ("POST", ["containers", id, "start"]) => d.find(id).and_then(|e| d.start(&e)).map(|started| Response::empty(if started { 204 } else { 304 })),
        ("POST", ["containers", id, "stop"]) => stop(d, id, &req).map(|stopped| Response::empty(if stopped { 204 } else { 304 })),
        ("POST", ["containers", id, "restart"]) => restart(d, id, &req),
        ("POST", ["containers", id, "kill"]) => kill(d, id, &req),
        ("POST", ["containers", id, "wait"]) => wait(d, id, &req),
        ("POST", ["containers", id, "attach"]) => attach(d, id, &req, v),
        ("GET", ["containers", id, "logs"]) => logs(d, id, &req, v),
        ("DELETE", ["containers", id]) => d.find(id).and_then(|e| d.remove(&e, req.query_bool("force"))).map(|_| Response::empty(204)),
        _ => Err(ApiError::not_found("page not found")),
    };
    result.unwrap_or_else(error_response)
}

fn ping(req: &Request) -> Response {
    let r = if req.method == "HEAD" { Response::empty(200) } else { Response::text(200, "text/plain; charset=utf-8", "OK") };
    r.with_header("Cache-Control", "no-cache, no-store, must-revalidate").with_header("Pragma", "no-cache").with_header("Builder-Version", "1")
}

pub(super) fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    }
}

fn kernel_version() -> String {
    nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default()
}

fn version_json() -> Value {
    let engine = crate::version::DOCKBOX;
    json!({
        "Platform": {"Name": "dockbox"},
        "Components": [{
            "Name": "Engine",
            "Version": engine,
            "Details": {
                "ApiVersion": crate::version::API_VERSION,
                "Arch": arch(),
                "BuildTime": "",
                "Experimental": "false",
                "GitCommit": crate::version::GIT_COMMIT,
                "GoVersion": "n/a (Rust)",
                "KernelVersion": kernel_version(),
                "MinAPIVersion": crate::version::MIN_API_VERSION,
                "Os": "linux",
            },
        }],
        "Version": engine,
        "ApiVersion": crate::version::API_VERSION,
        "MinAPIVersion": crate::version::MIN_API_VERSION,
        "GitCommit": crate::version::GIT_COMMIT,
        "GoVersion": "n/a (Rust)",
        "Os": "linux",
        "Arch": arch(),
        "KernelVersion": kernel_version(),
        "BuildTime": "",
    })
}

fn info_json(d: &Daemon) -> Value {
    let states: Vec<String> = d.containers().iter().map(|e| e.lock().c.state.status.clone()).collect();
    let running = states.iter().filter(|s| *s == "running").count();
    let mem_total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|k| k.parse::<u64>().ok()))
        .unwrap_or(0)
        * 1024;
    let hostname = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string())))
        .unwrap_or_else(|| "Linux".into());
    let cgroup_version = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() { "2" } else { "1" };
    json!({
        "ID": "",
        "Containers": states.len(),
        "ContainersRunning": running,
        "ContainersPaused": 0,
        "ContainersStopped": states.len() - running,
        "Images": d.images.list().len(),
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", ""], ["Supports d_type", "true"], ["Using metacopy", "false"], ["Native Overlay Diff", "true"]],
        "Plugins": {"Volume": [], "Network": [], "Authorization": null, "Log": ["json-file"]},
        "MemoryLimit": false, "SwapLimit": false, "CpuCfsPeriod": false, "CpuCfsQuota": false, "CPUShares": false, "CPUSet": false, "PidsLimit": false,
        "IPv4Forwarding": false, "BridgeNfIptables": false, "BridgeNfIp6tables": false,
        "Debug": d.opts.debug,
        "NFd": std::fs::read_dir("/proc/self/fd").map(|r| r.count()).unwrap_or(0),
        "OomKillDisable": false,
        "NGoroutines": 0,
        "SystemTime": crate::sys::rfc3339_nanos(SystemTime::now()),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version,
        "NEventsListener": 0,
        "KernelVersion": kernel_version(),
        "OperatingSystem": os,
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
            "IndexConfigs": {"docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": true, "Official": true}},
            "Mirrors": [],
        },
        "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "MemTotal": mem_total,
        "DockerRootDir": d.opts.data_root,
        "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
        "Name": hostname,
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": crate::version::DOCKBOX,
        "Runtimes": {"runc": {"path": "docker-runc"}},
        "DefaultRuntime": "runc",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        "LiveRestoreEnabled": d.opts.live_restore,
        "Isolation": "",
        "InitBinary": "",
        "SecurityOptions": [],
        "Warnings": [],
    })
}

fn create(d: &Arc<Daemon>, req: &Request) -> Result<Response, ApiError> {
    if let Some(ct) = req.headers.get("Content-Type") {
        if !ct.starts_with("application/json") {
            return Err(ApiError::bad_request(format!("Content-Type specified ({ct}) must be 'application/json'")));
        }
    }
    let body: Value = if req.body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("config cannot be empty in order to create a container"));
    } else {
        serde_json::from_slice(&req.body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    let name = req.query("name").filter(|n| !n.is_empty());
    d.create(&body, name).map(|v| Response::json(201, &v))
}

fn containers_json(d: &Daemon, req: &Request) -> Value {
    let all = req.query_bool("all");
    let now = SystemTime::now();
    let mut list: Vec<(String, Value)> = d
        .containers()
        .iter()
        .filter_map(|e| {
            let s = e.lock();
            (all || s.c.state.running).then(|| {
                let mut summary = s.c.summary(&s.c.image, now);
                // Docker shows the image id once the name no longer leads to the container's image.
                if d.images.resolve_id(&s.c.image_name()).as_deref() != Some(s.c.image.as_str()) {
                    summary["Image"] = json!(s.c.image);
                }
                (s.c.created.clone(), summary)
            })
        })
        .collect();
    list.sort_by(|a, b| b.0.cmp(&a.0));
    if let Some(limit) = req.query("limit").and_then(|l| l.parse::<usize>().ok()).filter(|&l| l > 0) {
        list.truncate(limit);
    }
    Value::Array(list.into_iter().map(|(_, v)| v).collect())
}

fn timeout_query(req: &Request) -> Option<Duration> {
    req.query("t").or_else(|| req.query("timeout")).and_then(|t| t.parse::<i64>().ok()).map(|t| if t < 0 { Duration::from_secs(u32::MAX as u64) } else { Duration::from_secs(t as u64) })
}

fn stop(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<bool, ApiError> {
    let e = d.find(id)?;
    d.stop(&e, timeout_query(req))
}

fn restart(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<Response, ApiError> {
    let e = d.find(id)?;
    d.stop(&e, timeout_query(req))?;
    d.start(&e)?;
    Ok(Response::empty(204))
}

fn kill(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<Response, ApiError> {
    let e = d.find(id)?;
    let signal = match req.query("signal").filter(|s| !s.is_empty()) {
        Some(s) => parse_signal(s).ok_or_else(|| ApiError::bad_request(format!("Invalid signal: {s}")))?,
        None => libc::SIGKILL,
    };
    d.kill(&e, signal)?;
    Ok(Response::empty(204))
}

fn wait(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<Response, ApiError> {
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

fn stream_content_type(multiplexed: bool, v: (u32, u32)) -> &'static str {
    if multiplexed && v >= (1, 42) {
        "application/vnd.docker.multiplexed-stream"
    } else {
        "application/vnd.docker.raw-stream"
    }
}

fn attach(d: &Arc<Daemon>, id: &str, req: &Request, v: (u32, u32)) -> Result<Response, ApiError> {
    let e = d.find(id)?;
    let (tty, open_stdin, log_path, stdin_fifo) = {
        let s = e.lock();
        (s.c.tty(), s.c.open_stdin(), s.c.log_path.clone(), d.bundle_dir(&s.c.id).join("init-stdin"))
    };
    let multiplexed = !tty;
    let (want_out, want_err) = (req.query_bool("stdout"), req.query_bool("stderr"));
    let want_stdin = req.query_bool("stdin") && open_stdin;
    let (history, live) = if req.query_bool("stream") {
        if req.query_bool("logs") {
            let (entries, _) = e.output.log_then_subscribe(std::path::Path::new(&log_path), false);
            (entries, Some(e.output.subscribe()))
        } else {
            (Vec::new(), Some(e.output.subscribe()))
        }
    } else if req.query_bool("logs") {
        (e.output.log_then_subscribe(std::path::Path::new(&log_path), false).0, None)
    } else {
        (Vec::new(), None)
    };
    let upgrade = req.wants_upgrade();
    let mut resp = Response::hijack(
        if upgrade { 101 } else { 200 },
        Box::new(move |reader, mut conn| {
            if want_stdin {
                std::thread::spawn(move || {
                    if let Ok(mut fifo) = std::fs::OpenOptions::new().write(true).open(stdin_fifo) {
                        let mut reader = reader;
                        let _ = std::io::copy(&mut reader, &mut fifo);
                    }
                });
            }
            let wanted = |s: StreamType| (s == StreamType::Stdout && want_out) || (s == StreamType::Stderr && want_err);
            for entry in history {
                let s = if entry.stream == "stderr" { StreamType::Stderr } else { StreamType::Stdout };
                if wanted(s) && write_chunk(&mut conn, s, entry.log.as_bytes(), multiplexed).is_err() {
                    return;
                }
            }
            if let Some(rx) = live {
                for chunk in rx {
                    match chunk {
                        Chunk::Data(s, data) => {
                            if wanted(s) && write_chunk(&mut conn, s, &data, multiplexed).is_err() {
                                return;
                            }
                        }
                        Chunk::End => break,
                    }
                }
            }
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }),
    )
    .with_header("Content-Type", stream_content_type(multiplexed, v));
    if upgrade {
        resp = resp.with_header("Connection", "Upgrade").with_header("Upgrade", "tcp");
    }
    Ok(resp)
}

fn logs(d: &Arc<Daemon>, id: &str, req: &Request, v: (u32, u32)) -> Result<Response, ApiError> {
    let e = d.find(id)?;
    let (want_out, want_err) = (req.query_bool("stdout"), req.query_bool("stderr"));
    if !want_out && !want_err {
        return Err(ApiError::bad_request("Bad parameters: you must choose at least one stream"));
    }
    let (tty, log_path) = {
        let s = e.lock();
        (s.c.tty(), s.c.log_path.clone())
    };
    let multiplexed = !tty;
    let timestamps = req.query_bool("timestamps");
    let tail = req.query("tail").and_then(|t| t.parse::<usize>().ok());
    let (mut entries, live) = e.output.log_then_subscribe(std::path::Path::new(&log_path), req.query_bool("follow"));
    entries.retain(|en| if en.stream == "stderr" { want_err } else { want_out });
    if let Some(n) = tail {
        let skip = entries.len().saturating_sub(n);
        entries.drain(..skip);
    }
    Ok(Response::stream(
        200,
        stream_content_type(multiplexed, v),
        Box::new(move |w: &mut dyn Write| {
            for en in entries {
                let s = if en.stream == "stderr" { StreamType::Stderr } else { StreamType::Stdout };
                let text = if timestamps { format!("{} {}", en.time, en.log) } else { en.log };
                write_chunk(w, s, text.as_bytes(), multiplexed)?;
            }
            if let Some(rx) = live {
                for chunk in rx {
                    match chunk {
                        Chunk::Data(s, data) => {
                            if (s == StreamType::Stdout && want_out) || (s == StreamType::Stderr && want_err) {
                                let data = if timestamps {
                                    let mut t = format!("{} ", crate::sys::rfc3339_nanos(SystemTime::now())).into_bytes();
                                    t.extend_from_slice(&data);
                                    t
                                } else {
                                    data
                                };
                                write_chunk(w, s, &data, multiplexed)?;
                            }
                        }
                        Chunk::End => break,
                    }
                }
            }
            Ok(())
        }),
    ))
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
