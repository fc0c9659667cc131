//! The Engine API's container routes: create, list, inspect, start/stop/restart/kill, wait,
//! attach, logs, changes and remove, over the container operations of [`crate::daemon`].

use crate::daemon::ops::{parse_signal, ApiError, WaitCondition};
use crate::daemon::streams::{write_chunk, Chunk};
use crate::daemon::Daemon;
use crate::http::server::{Request, Response};
use crate::stdcopy::StreamType;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub fn create(d: &Arc<Daemon>, req: &Request) -> Result<Response, ApiError> {
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

pub fn containers_json(d: &Daemon, req: &Request) -> Value {
    let all = req.query_bool("all");
    let now = SystemTime::now();
    let mut list: Vec<(String, Value)> = d
        .containers()
        .iter()
        .filter_map(|e| {
            let s = e.lock();
            (all || s.c.state.running || s.c.state.restarting).then(|| {
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

pub fn stop(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<bool, ApiError> {
    let e = d.find(id)?;
    d.stop(&e, timeout_query(req))
}

pub fn restart(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<Response, ApiError> {
    let e = d.find(id)?;
    d.stop(&e, timeout_query(req))?;
    d.start(&e)?;
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

fn stream_content_type(multiplexed: bool, v: (u32, u32)) -> &'static str {
    if multiplexed && v >= (1, 42) {
        "application/vnd.docker.multiplexed-stream"
    } else {
        "application/vnd.docker.raw-stream"
    }
}

pub fn attach(d: &Arc<Daemon>, id: &str, req: &Request, v: (u32, u32)) -> Result<Response, ApiError> {
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

pub fn logs(d: &Arc<Daemon>, id: &str, req: &Request, v: (u32, u32)) -> Result<Response, ApiError> {
    let e = d.find(id)?;
    let (want_out, want_err) = (req.query_bool("stdout"), req.query_bool("stderr"));
    if !want_out && !want_err {
        return Err(ApiError::bad_request("Bad parameters: you must choose at least one stream"));
    }
    let (tty, log_path) = {
        let s = e.lock();
        if !s.c.logs_readable() {
            return Err(ApiError::new(501, "configured logging driver does not support reading"));
        }
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

/// `GET /containers/{id}/changes`: what changed in the container's filesystem.

pub fn changes(d: &Daemon, id: &str) -> Result<Response, ApiError> {
    let entry = d.find(id)?;
    let mount_id = entry.lock().c.mount_id.clone();
    let list = d.snapshots.diff(&mount_id).map_err(|e| ApiError::internal(format!("cannot compute changes of {id}: {e}")))?;
    Ok(Response::json(200, &Value::Array(list.iter().map(|c| json!({"Path": c.path, "Kind": c.kind as u8})).collect())))
}
