//! The protocol between our own roles (dockerd ↔ docker-containerd ↔ shim): JSON lines over a
//! unix stream socket. Each request is one line `{"v":1,"method":M,"params":P}`; each answer is
//! one line `{"ok":true,"result":R}` or `{"ok":false,"error":{"kind":K,"message":S}}`.
//! A streaming method (events) answers with one line per item until either side closes.
//! Several requests may follow each other on one connection. ARCHITECTURE.md lists the methods.
//!
//! Everything here works on `serde_json::Value`, not on generic types, so the code a shim runs
//! is the same code containerd runs (shared pages, not private ones).

use serde_json::{json, Value};
use std::fmt;
use std::io::{self, BufRead, Write};

/// Why a call failed; the kinds map onto Docker's HTTP statuses in dockerd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    Unavailable,
    Internal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::FailedPrecondition => "failed_precondition",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> ErrorKind {
        match s {
            "not_found" => ErrorKind::NotFound,
            "already_exists" => ErrorKind::AlreadyExists,
            "failed_precondition" => ErrorKind::FailedPrecondition,
            "invalid_argument" => ErrorKind::InvalidArgument,
            "unavailable" => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RpcError {
    pub kind: ErrorKind,
    pub message: String,
}

impl RpcError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> RpcError {
        RpcError { kind, message: message.into() }
    }
    pub fn internal(message: impl Into<String>) -> RpcError {
        RpcError::new(ErrorKind::Internal, message)
    }
    pub fn not_found(message: impl Into<String>) -> RpcError {
        RpcError::new(ErrorKind::NotFound, message)
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RpcError {}

impl From<io::Error> for RpcError {
    fn from(e: io::Error) -> RpcError {
        RpcError::new(ErrorKind::Unavailable, e.to_string())
    }
}

/// One decoded request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub params: Value,
}

fn write_line(w: &mut dyn Write, v: &Value) -> io::Result<()> {
    let mut line = serde_json::to_vec(v).map_err(io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line)?;
    w.flush()
}

fn read_line(r: &mut dyn BufRead) -> io::Result<Option<Value>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    serde_json::from_str(line.trim_end()).map(Some).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

pub fn write_request(w: &mut dyn Write, method: &str, params: Value) -> io::Result<()> {
    write_line(w, &json!({"v": crate::version::RPC_VERSION, "method": method, "params": params}))
}

/// Reads the next request; `Ok(None)` when the peer closed the connection.
pub fn read_request(r: &mut dyn BufRead) -> io::Result<Option<Request>> {
    let Some(mut v) = read_line(r)? else { return Ok(None) };
    let version = v.get("v").and_then(Value::as_u64).unwrap_or(0);
    if version != crate::version::RPC_VERSION as u64 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unsupported protocol version {version}")));
    }
    let method = v.get("method").and_then(Value::as_str).unwrap_or_default().to_string();
    let params = v.get_mut("params").map(Value::take).unwrap_or(Value::Null);
    Ok(Some(Request { method, params }))
}

pub fn write_response(w: &mut dyn Write, result: Result<Value, RpcError>) -> io::Result<()> {
    match result {
        Ok(v) => write_line(w, &json!({"ok": true, "result": v})),
        Err(e) => write_line(w, &json!({"ok": false, "error": {"kind": e.kind.as_str(), "message": e.message}})),
    }
}

/// Reads one answer line; a closed connection is `Unavailable`.
pub fn read_response(r: &mut dyn BufRead) -> Result<Value, RpcError> {
    let Some(mut v) = read_line(r)? else {
        return Err(RpcError::new(ErrorKind::Unavailable, "connection closed"));
    };
    if v.get("ok").and_then(Value::as_bool) == Some(true) {
        return Ok(v.get_mut("result").map(Value::take).unwrap_or(Value::Null));
    }
    let err = v.get("error").cloned().unwrap_or(Value::Null);
    Err(RpcError::new(
        ErrorKind::parse(err.get("kind").and_then(Value::as_str).unwrap_or("internal")),
        err.get("message").and_then(Value::as_str).unwrap_or("unknown error").to_string(),
    ))
}

/// One request and its single answer over `stream`.
pub fn call<S: io::Read + Write>(stream: &mut io::BufReader<S>, method: &str, params: Value) -> Result<Value, RpcError> {
    write_request(stream.get_mut(), method, params)?;
    read_response(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_answers_round_trip() {
        let mut buf = Vec::new();
        write_request(&mut buf, "start", json!({"id": "abc"})).unwrap();
        let req = read_request(&mut io::Cursor::new(&buf)).unwrap().unwrap();
        assert_eq!(req.method, "start");
        assert_eq!(req.params["id"], "abc");

        let mut buf = Vec::new();
        write_response(&mut buf, Err(RpcError::not_found("no such task"))).unwrap();
        write_response(&mut buf, Ok(json!({"pid": 7}))).unwrap();
        let mut r = io::Cursor::new(&buf);
        let e = read_response(&mut r).unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::NotFound, "no such task"));
        assert_eq!(read_response(&mut r).unwrap()["pid"], 7);
        assert_eq!(read_response(&mut r).unwrap_err().kind, ErrorKind::Unavailable);
    }

    #[test]
    fn other_versions_are_refused() {
        let line = b"{\"v\":99,\"method\":\"x\"}\n";
        assert!(read_request(&mut io::Cursor::new(&line[..])).is_err());
    }
}
