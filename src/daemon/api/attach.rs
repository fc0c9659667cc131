//! The Engine API's attach routes: `POST /containers/{id}/attach` (a hijacked connection,
//! `101 UPGRADED` for `Upgrade: tcp`), `GET /containers/{id}/attach/ws` (a websocket) and
//! `POST /containers/{id}/resize`, over [`crate::daemon::attach`].

use crate::daemon::attach::{Options, Session};
use crate::daemon::errors::ApiError;
use crate::daemon::Daemon;
use crate::http::server::{HijackFn, Request, Response};
use crate::http::websocket;
use crate::http::Conn;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

fn options(req: &Request, all_streams: bool) -> Options {
    Options {
        stdin: all_streams || req.query_bool("stdin"),
        stdout: all_streams || req.query_bool("stdout"),
        stderr: all_streams || req.query_bool("stderr"),
        logs: req.query_bool("logs"),
        stream: req.query_bool("stream"),
        detach_keys: req.query("detachKeys").unwrap_or("").to_string(),
    }
}

pub fn attach(d: &Arc<Daemon>, id: &str, req: &Request, v: (u32, u32)) -> Result<Response, ApiError> {
    let entry = d.find(id)?;
    let session = Session::new(d, entry, &options(req, false))?;
    let multiplexed = !session.tty();
    Ok(stream_response(
        req,
        multiplexed,
        v,
        Box::new(move |reader, mut conn| {
            let Ok(closer) = conn.try_clone() else { return };
            let socket = conn.try_clone().ok().map(owned_fd);
            session.run(Box::new(reader), &mut conn, multiplexed, Arc::new(move || drop(closer.shutdown(std::net::Shutdown::Both))), socket);
        }),
    ))
}

/// The answer that hands the connection over to a stream (an attach, an exec's start):
/// `101 UPGRADED` when the client asked for `Upgrade: tcp`, else 200, and the stream's type.
pub(super) fn stream_response(req: &Request, multiplexed: bool, v: (u32, u32), stream: HijackFn) -> Response {
    let upgrade = req.wants_upgrade();
    let resp = Response::hijack(if upgrade { 101 } else { 200 }, stream).with_header("Content-Type", super::containers::stream_content_type(multiplexed, v));
    if upgrade {
        resp.with_header("Connection", "Upgrade").with_header("Upgrade", "tcp")
    } else {
        resp
    }
}

/// The websocket attach: never multiplexed (a websocket keeps messages apart itself), binary
/// frames from API 1.28 on, text frames before; before 1.42 all three streams are attached
/// whatever the query says.
pub fn attach_ws(d: &Arc<Daemon>, id: &str, req: &Request, v: (u32, u32)) -> Result<Response, ApiError> {
    let entry = d.find(id)?;
    let accept = websocket::accept_key(req).map_err(ApiError::bad_request)?;
    let session = Session::new(d, entry, &options(req, v < (1, 42)))?;
    let opcode = if v >= (1, 28) { websocket::OP_BINARY } else { websocket::OP_TEXT };
    Ok(Response::hijack(
        101,
        Box::new(move |reader, conn| {
            let Ok(closer) = conn.try_clone() else { return };
            let socket = conn.try_clone().ok().map(owned_fd);
            let writer = Arc::new(Mutex::new(conn));
            let input = websocket::FrameReader::new(reader, writer.clone());
            let mut output = websocket::FrameWriter::new(writer.clone(), opcode);
            let close = Arc::new(move || {
                let _ = websocket::write_close(&writer);
                let _ = closer.shutdown(std::net::Shutdown::Both);
            });
            session.run(Box::new(input), &mut output, false, close, socket);
        }),
    )
    .with_header("Upgrade", "websocket")
    .with_header("Connection", "Upgrade")
    .with_header("Sec-WebSocket-Accept", accept))
}

fn owned_fd(conn: Conn) -> OwnedFd {
    match conn {
        Conn::Unix(s) => s.into(),
        Conn::Tcp(s) => s.into(),
    }
}

/// Docker's reading of `h` and `w`: unsigned 32-bit decimals, required.
fn dimension(req: &Request, key: &str, what: &str) -> Result<u32, ApiError> {
    let raw = req.query(key).unwrap_or("");
    let (digits, negative) = match raw.strip_prefix('-') {
        Some(rest) => (rest, true),
        None => (raw, false),
    };
    let err = |reason: &str| ApiError::bad_request(format!("invalid resize {what} {raw:?}: {reason}"));
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("invalid syntax"));
    }
    match digits.parse::<u32>() {
        Ok(_) if negative => Err(err("value out of range")),
        Ok(n) => Ok(n),
        Err(_) => Err(err("value out of range")),
    }
}

pub fn resize(d: &Arc<Daemon>, id: &str, req: &Request) -> Result<Response, ApiError> {
    let height = dimension(req, "h", "height")?;
    let width = dimension(req, "w", "width")?;
    let entry = d.find(id)?;
    d.resize(&entry, height, width)?;
    Ok(Response::empty(200))
}
