//! The HTTP/1.1 client `docker` (and the tests) speak to dockerd with, over `unix://` or
//! `tcp://`, including hijacked connections for attach.

use super::{body_reader, read_head, Conn, Headers};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;

/// Where a daemon listens, as given to `-H` or `DOCKER_HOST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp(String),
}

impl Endpoint {
    /// Parses `unix:///path`, `tcp://host:port`, `host:port` and a bare `/path`.
    pub fn parse(host: &str) -> Result<Endpoint, String> {
        if let Some(p) = host.strip_prefix("unix://") {
            if p.is_empty() {
                return Err(format!("invalid bind address ({host}): empty path"));
            }
            return Ok(Endpoint::Unix(PathBuf::from(p)));
        }
        if host.starts_with('/') {
            return Ok(Endpoint::Unix(PathBuf::from(host)));
        }
        let rest = host.strip_prefix("tcp://").or_else(|| host.strip_prefix("http://")).unwrap_or(host);
        if rest.contains("://") {
            return Err(format!("Invalid bind address format: {host}"));
        }
        let rest = rest.trim_end_matches('/');
        let addr = if rest.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
            rest.to_string()
        } else {
            format!("{rest}:2375")
        };
        Ok(Endpoint::Tcp(addr))
    }

    pub fn connect(&self) -> io::Result<Conn> {
        match self {
            Endpoint::Unix(p) => Ok(Conn::Unix(crate::sys::connect_unix(p)?)),
            Endpoint::Tcp(a) => {
                let s = TcpStream::connect(a)?;
                let _ = s.set_nodelay(true);
                Ok(Conn::Tcp(s))
            }
        }
    }

    /// How Docker names the endpoint in "Cannot connect" messages.
    pub fn display(&self) -> String {
        match self {
            Endpoint::Unix(p) => format!("unix://{}", p.display()),
            Endpoint::Tcp(a) => format!("tcp://{a}"),
        }
    }
}

/// A response whose body has not been read yet.
pub struct Response {
    pub status: u16,
    pub headers: Headers,
    reader: BufReader<Conn>,
    /// Where the connection goes back to be used again once the body is read whole
    /// ([`request_keeping`]).
    keep_for: Option<Endpoint>,
}

impl Response {
    /// The body as a stream, decoded from chunked encoding or bounded by its length.
    pub fn into_body(self) -> Box<dyn Read> {
        let headers = self.headers.clone();
        body_reader(self.reader, &headers, true)
    }

    pub fn bytes(mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        // A body that ends by its length, its last chunk or its status (no body) leaves the
        // connection ready for the next request; one that ends at EOF does not.
        let bodiless = self.status == 204 || self.status == 304 || self.status < 200;
        let delimited = bodiless || self.headers.is_chunked() || self.headers.content_length().is_some();
        if !bodiless {
            body_reader(&mut self.reader, &self.headers.clone(), true).read_to_end(&mut out)?;
        }
        let closing = self.headers.get("Connection").is_some_and(|c| c.eq_ignore_ascii_case("close"));
        if let Some(endpoint) = self.keep_for.take() {
            if delimited && !closing && self.reader.buffer().is_empty() {
                *IDLE.lock().unwrap_or_else(|e| e.into_inner()) = Some((endpoint, self.reader.into_inner()));
            }
        }
        Ok(out)
    }

    pub fn json(self) -> io::Result<serde_json::Value> {
        let b = self.bytes()?;
        if b.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&b).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Docker's error message from a JSON `{"message": ...}` body, or the raw body.
    pub fn error_message(self) -> String {
        let status = self.status;
        match self.bytes() {
            Ok(b) => match serde_json::from_slice::<serde_json::Value>(&b) {
                Ok(v) if v.get("message").is_some() => v["message"].as_str().unwrap_or_default().to_string(),
                _ if b.is_empty() => format!("request returned {} {}", status, super::status_text(status)),
                _ => String::from_utf8_lossy(&b).trim().to_string(),
            },
            Err(e) => e.to_string(),
        }
    }

    /// The raw connection after a 101 or a raw-stream 200 (attach): the reader keeps any
    /// bytes already buffered.
    pub fn into_raw(self) -> io::Result<(BufReader<Conn>, Conn)> {
        let writer = self.reader.get_ref().try_clone()?;
        Ok((self.reader, writer))
    }
}

/// Sends one request on a fresh connection and reads the response head.
pub fn request(endpoint: &Endpoint, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> io::Result<Response> {
    let mut conn = endpoint.connect()?;
    conn.write_all(&encode_request(endpoint, method, path, headers, body))?;
    conn.flush()?;
    read_response(conn)
}

/// The one connection a short-lived client keeps between requests (the CLI's requests go
/// one after another): reusing it spares a connect, and the daemon a thread, per request.
static IDLE: std::sync::Mutex<Option<(Endpoint, Conn)>> = std::sync::Mutex::new(None);

/// [`request`] on the kept connection when there is one for `endpoint`; the connection is
/// kept again when the response body is read whole with [`Response::bytes`] (or `json`).
/// A kept connection the daemon has closed is replaced by a fresh one when the request
/// cannot have been acted on: its write failed, or it only reads.
pub fn request_keeping(endpoint: &Endpoint, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> io::Result<Response> {
    let out = encode_request(endpoint, method, path, headers, body);
    let kept = IDLE.lock().unwrap_or_else(|e| e.into_inner()).take().filter(|(e, _)| e == endpoint);
    if let Some((_, mut conn)) = kept {
        if conn.write_all(&out).and_then(|()| conn.flush()).is_ok() {
            match read_response(conn) {
                Ok(resp) => return Ok(Response { keep_for: Some(endpoint.clone()), ..resp }),
                // The daemon may have acted on a request that changes something: not sent twice.
                Err(e) if method != "GET" && method != "HEAD" => return Err(e),
                Err(_) => {}
            }
        }
    }
    let mut conn = endpoint.connect()?;
    conn.write_all(&out)?;
    conn.flush()?;
    Ok(Response { keep_for: Some(endpoint.clone()), ..read_response(conn)? })
}

/// A whole request with its body, ready to write.
fn encode_request(endpoint: &Endpoint, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Vec<u8> {
    let mut head = request_head(endpoint, method, path, headers);
    match body {
        Some(b) => head.push_str(&format!("Content-Length: {}\r\n", b.len())),
        None if method == "POST" || method == "PUT" => head.push_str("Content-Length: 0\r\n"),
        None => {}
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    if let Some(b) = body {
        out.extend_from_slice(b);
    }
    out
}

/// Sends one request whose body streams from `body` with chunked encoding (a tar of any
/// size, or stdin), and reads the response head.
pub fn request_streaming(endpoint: &Endpoint, method: &str, path: &str, headers: &[(&str, &str)], body: &mut dyn Read) -> io::Result<Response> {
    let mut conn = endpoint.connect()?;
    let mut head = request_head(endpoint, method, path, headers);
    head.push_str("Transfer-Encoding: chunked\r\n\r\n");
    conn.write_all(head.as_bytes())?;
    {
        let mut chunked = super::ChunkedWriter::new(io::BufWriter::with_capacity(256 << 10, &mut conn));
        io::copy(body, &mut chunked)?;
        chunked.finish()?.flush()?;
    }
    read_response(conn)
}

/// The request line and common headers, without the blank line that ends them.
fn request_head(endpoint: &Endpoint, method: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: Docker-Client/{} (linux)\r\n", host_header(endpoint), crate::version::DOCKBOX);
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head
}

/// Reads a response head from `conn`, leaving the body unread.
fn read_response(conn: Conn) -> io::Result<Response> {
    let mut reader = BufReader::new(conn);
    let (status_line, headers) = read_head(&mut reader as &mut dyn BufRead)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "the daemon closed the connection without answering"))?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("malformed status line {status_line:?}")))?;
    Ok(Response { status, headers, reader, keep_for: None })
}

fn host_header(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Unix(_) => "api.moby.localhost".to_string(),
        Endpoint::Tcp(a) => a.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_as_docker_does() {
        assert_eq!(Endpoint::parse("unix:///var/run/docker.sock").unwrap(), Endpoint::Unix("/var/run/docker.sock".into()));
        assert_eq!(Endpoint::parse("tcp://127.0.0.1:2375").unwrap(), Endpoint::Tcp("127.0.0.1:2375".into()));
        assert_eq!(Endpoint::parse("tcp://127.0.0.1").unwrap(), Endpoint::Tcp("127.0.0.1:2375".into()));
        assert!(Endpoint::parse("ssh://x").is_err());
    }
}
