//! The Engine API as the client sees it: version negotiation with `/_ping`, versioned
//! requests, and errors worded the way the docker CLI words them.

use crate::http::client::{request, request_keeping, Endpoint, Response};
use serde_json::Value;
use std::fmt;
use std::io;

/// The newest API version this client speaks.
pub const CLIENT_API_VERSION: &str = "1.44";

#[derive(Debug)]
pub enum ApiError {
    /// Nothing listens at the endpoint.
    Connect(String),
    /// The connection broke or the answer was malformed.
    Io(String),
    /// The daemon answered with an error status.
    Daemon { status: u16, message: String },
}

impl ApiError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::Daemon { status: 404, .. })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Connect(at) => write!(f, "Cannot connect to the Docker daemon at {at}. Is the docker daemon running?"),
            ApiError::Io(e) => write!(f, "error during connect: {e}"),
            ApiError::Daemon { message, .. } => write!(f, "Error response from daemon: {message}"),
        }
    }
}

/// A connection target plus the negotiated version prefix (`/v1.41`).
pub struct Api {
    pub endpoint: Endpoint,
    pub version: String,
    /// What `/_ping` reported, for `docker version`.
    pub server_version: String,
}

impl Api {
    /// Pings the daemon and settles on min(client, server) API version.
    pub fn connect(endpoint: Endpoint) -> Result<Api, ApiError> {
        let resp = request_keeping(&endpoint, "GET", "/_ping", &[], None).map_err(|e| connect_error(&endpoint, e))?;
        let server_version = resp.headers.get("Api-Version").unwrap_or(CLIENT_API_VERSION).to_string();
        let _ = resp.bytes();
        let version = if version_less(&server_version, CLIENT_API_VERSION) { server_version.clone() } else { CLIENT_API_VERSION.to_string() };
        Ok(Api { endpoint, version, server_version })
    }

    fn path(&self, path: &str, query: &[(&str, String)]) -> String {
        let mut p = format!("/v{}{}", self.version, path);
        let mut sep = '?';
        for (k, v) in query {
            p.push(sep);
            sep = '&';
            p.push_str(&format!("{k}={}", crate::http::percent_encode(v)));
        }
        p
    }

    /// Sends a request; error statuses become [`ApiError::Daemon`].
    pub fn call(&self, method: &str, path: &str, query: &[(&str, String)], body: Option<&Value>, headers: &[(&str, &str)]) -> Result<Response, ApiError> {
        let encoded = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if encoded.is_some() {
            all.push(("Content-Type", "application/json"));
        }
        // A hijacked connection (attach, exec) is the caller's to keep: it starts fresh.
        let send = if headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("Upgrade")) { request } else { request_keeping };
        let resp = send(&self.endpoint, method, &self.path(path, query), &all, encoded.as_deref()).map_err(|e| connect_error(&self.endpoint, e))?;
        if resp.status >= 400 {
            let status = resp.status;
            return Err(ApiError::Daemon { status, message: resp.error_message() });
        }
        Ok(resp)
    }

    /// A request whose answer is JSON (or empty, giving `Null`).
    pub fn json(&self, method: &str, path: &str, query: &[(&str, String)], body: Option<&Value>) -> Result<Value, ApiError> {
        self.call(method, path, query, body, &[])?.json().map_err(|e| ApiError::Io(e.to_string()))
    }
}

fn connect_error(endpoint: &Endpoint, e: io::Error) -> ApiError {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused | io::ErrorKind::PermissionDenied => ApiError::Connect(endpoint.display()),
        _ => ApiError::Io(e.to_string()),
    }
}

/// Compares dotted version numbers numerically.
pub fn version_less(a: &str, b: &str) -> bool {
    let parse = |s: &str| s.split('.').map(|p| p.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>();
    parse(a) < parse(b)
}

/// A path component that is safe inside a URL path (container names, image references).
pub fn seg(s: &str) -> String {
    crate::http::percent_encode_path(s)
}
