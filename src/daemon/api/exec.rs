//! The Engine API's exec routes: `POST /containers/{id}/exec`, `POST /exec/{id}/start`
//! (hijacked like attach: stdcopy frames without a tty, raw bytes with one), `POST
//! /exec/{id}/resize`, `GET /exec/{id}/json`, and `ExecIDs` in container inspect, over the
//! exec service of [`crate::daemon::exec`].

use super::json_body;
use crate::daemon::exec::{Attached, StartOptions};
use crate::daemon::errors::ApiError;
use crate::daemon::streams::write_chunk;
use crate::daemon::Daemon;
use crate::detach_keys::CopyEnd;
use crate::http::server::{Request, Response};
use crate::http::Conn;
use crate::stdcopy::StreamType;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::Arc;

/// `POST /containers/{id}/exec`.
pub fn create(d: &Arc<Daemon>, container: &str, req: &Request) -> Result<Response, ApiError> {
    let body = json_body(req, "config cannot be empty in order to create an exec")?;
    let id = d.exec_create(container, &body)?;
    Ok(Response::json(201, &json!({"Id": id})))
}

/// `GET /exec/{id}/json`.
pub fn inspect(d: &Arc<Daemon>, id: &str) -> Result<Response, ApiError> {
    Ok(Response::json(200, &d.exec_get(id)?.inspect()))
}

/// `POST /exec/{id}/resize?h=&w=`.
pub fn resize(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<Response, ApiError> {
    let dim = |k: &str| -> Result<u32, ApiError> {
        let v = req.query(k).unwrap_or("");
        v.parse::<u16>().map(u32::from).map_err(|_| ApiError::bad_request(format!("strconv.Atoi: parsing \"{v}\": invalid syntax")))
    };
    let (h, w) = (dim("h")?, dim("w")?);
    d.exec_resize(id, h, w)?;
    Ok(Response::empty(200))
}

/// `POST /exec/{id}/start` {Detach, Tty, ConsoleSize}.
pub fn start(d: &Arc<Daemon>, id: &str, req: &Request, v: (u32, u32)) -> Result<Response, ApiError> {
    let body = if req.body.iter().all(u8::is_ascii_whitespace) { json!({}) } else { json_body(req, "")? };
    if let Some(obj) = body.as_object() {
        if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "Detach" | "Tty" | "ConsoleSize")) {
            return Err(ApiError::bad_request(format!("json: unknown field \"{k}\"")));
        }
    }
    let opts = StartOptions {
        detach: body.get("Detach").and_then(Value::as_bool).unwrap_or(false),
        console_size: crate::daemon::exec::console_size(body.get("ConsoleSize"))?,
    };
    d.exec_check_start(id)?;
    if opts.detach {
        d.exec_start(id, opts)?;
        return Ok(Response::empty(200));
    }
    // As Docker, the framing follows the start request's Tty.
    let multiplexed = !body.get("Tty").and_then(Value::as_bool).unwrap_or(false);
    let rec = d.exec_get(id)?;
    // Checked when the exec was made; Docker watches for the keys only with a terminal.
    let detach_keys = if rec.tty { crate::daemon::attach::detach_keys(&rec.detach_keys).unwrap_or_default() } else { Vec::new() };
    let (d, id) = (d.clone(), id.to_string());
    Ok(super::attach::stream_response(
        req,
        multiplexed,
        v,
        Box::new(move |reader, mut conn| match d.exec_start(&id, opts) {
            Ok(Some(attached)) => run_attached(&d, &id, attached, reader, conn, multiplexed, detach_keys),
            Ok(None) => {
                let _ = conn.shutdown(std::net::Shutdown::Both);
            }
            Err(e) => {
                let _ = write_chunk(&mut conn, StreamType::Stdout, format!("{}\r\n", e.message).as_bytes(), multiplexed);
                let _ = conn.shutdown(std::net::Shutdown::Both);
            }
        }),
    ))
}

/// Copies the client's stdin to the exec and its output to the client until the output ends
/// (then waits for the exit, so an inspect right after finds the exit code) or the client
/// types the detach keys.
fn run_attached(d: &Arc<Daemon>, id: &str, attached: Attached, reader: std::io::BufReader<Conn>, mut conn: Conn, multiplexed: bool, detach_keys: Vec<u8>) {
    let Attached { stdin, output, container_id } = attached;
    if let Some(fifo) = stdin {
        let (d, id, control) = (d.clone(), id.to_string(), conn.try_clone().ok());
        std::thread::spawn(move || {
            // With the process gone (and the shim's end with it) a blocking open would wait
            // forever; the shim holds the FIFO open while the process runs.
            let Ok(mut fifo) = crate::daemon::stdin::open_fifo_writer(&fifo) else { return };
            if crate::detach_keys::copy(reader, &detach_keys, |data| fifo.write_all(data).is_ok()) == CopyEnd::Detached {
                // The process goes on; the client is let go.
                if let Some(c) = control {
                    let _ = c.shutdown(std::net::Shutdown::Both);
                }
                return;
            }
            drop(fifo);
            d.exec_close_stdin(&container_id, &id);
        });
    }
    let mut client_gone = false;
    for (stream, data) in output.iter() {
        if !client_gone && write_chunk(&mut conn, stream, &data, multiplexed).is_err() {
            // Keep draining, so the process never blocks on a full FIFO.
            client_gone = true;
        }
    }
    if !client_gone {
        d.exec_wait(id);
    }
    let _ = conn.shutdown(std::net::Shutdown::Both);
}
