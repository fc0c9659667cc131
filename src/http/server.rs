//! The HTTP/1.1 server dockerd answers the Engine API with: a thread per connection,
//! keep-alive, chunked streaming responses, and hijacked connections for attach.

use super::{read_head, status_text, ChunkedWriter, Conn, Headers};
use serde_json::Value;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::sync::Arc;

/// Largest request body held in memory; larger ones are spooled to an unlinked file.
const MAX_BODY: u64 = 64 << 20;

static SPOOL_DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Where bodies over the in-memory limit are spooled (default: the system's temp dir).
pub fn set_spool_dir(dir: std::path::PathBuf) {
    let _ = SPOOL_DIR.set(dir);
}

#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The decoded path without the query.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Headers,
    /// The body when it fits in memory (else empty: see [`Request::take_body`]).
    pub body: Vec<u8>,
    /// A body over the in-memory limit, spooled to an unlinked file.
    pub spooled: Option<std::fs::File>,
}

impl Request {
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Docker's boolean query values: `1`, `true`, `True` are true; absent or `0`/`false` false.
    pub fn query_bool(&self, name: &str) -> bool {
        matches!(self.query(name), Some(v) if !matches!(v, "" | "0" | "false" | "False" | "FALSE"))
    }

    /// The whole body as a reader, whether it was held in memory or spooled to disk.
    pub fn take_body(&mut self) -> Box<dyn Read + Send> {
        match self.spooled.take() {
            Some(f) => Box::new(f),
            None => Box::new(io::Cursor::new(std::mem::take(&mut self.body))),
        }
    }

    /// Whether the client asked to take over the connection (`Upgrade: tcp`).
    pub fn wants_upgrade(&self) -> bool {
        self.headers.get("Upgrade").is_some() || self.headers.get("Connection").is_some_and(|c| c.eq_ignore_ascii_case("upgrade"))
    }
}

/// A function writing a streamed body.
pub type StreamFn = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send>;
/// A function that owns the connection after the head: the buffered reader (holding any
/// bytes the client already sent) and a writer.
pub type HijackFn = Box<dyn FnOnce(BufReader<Conn>, Conn) + Send>;

pub enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// Sent with chunked encoding, each write flushed.
    Stream(StreamFn),
    /// The head goes out without a length, then the connection is the handler's.
    Hijack(HijackFn),
}

pub struct Response {
    pub status: u16,
    pub headers: Headers,
    pub body: Body,
}

impl Response {
    pub fn new(status: u16, body: Body) -> Response {
        Response { status, headers: Headers::default(), body }
    }

    pub fn json(status: u16, v: &Value) -> Response {
        let mut body = serde_json::to_vec(v).unwrap_or_default();
        body.push(b'\n');
        Response::new(status, Body::Bytes(body)).with_header("Content-Type", "application/json")
    }

    /// Docker's error body: `{"message": "..."}`.
    pub fn error(status: u16, message: &str) -> Response {
        Response::json(status, &serde_json::json!({ "message": message }))
    }

    pub fn empty(status: u16) -> Response {
        Response::new(status, Body::Empty)
    }

    pub fn text(status: u16, content_type: &str, text: impl Into<Vec<u8>>) -> Response {
        Response::new(status, Body::Bytes(text.into())).with_header("Content-Type", content_type)
    }

    pub fn stream(status: u16, content_type: &str, f: StreamFn) -> Response {
        Response::new(status, Body::Stream(f)).with_header("Content-Type", content_type)
    }

    pub fn hijack(status: u16, f: HijackFn) -> Response {
        Response::new(status, Body::Hijack(f))
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.set(name, value);
        self
    }
}

pub type Handler = Arc<dyn Fn(Request) -> Response + Send + Sync>;

/// Accepts connections on a unix socket forever, one thread each.
pub fn serve_unix(listener: UnixListener, handler: Handler) {
    for conn in listener.incoming() {
        match conn {
            Ok(c) => spawn_connection(Conn::Unix(c), handler.clone()),
            Err(e) => crate::log::error(&format!("accept: {e}")),
        }
    }
}

/// Accepts connections on a tcp socket forever, one thread each.
pub fn serve_tcp(listener: TcpListener, handler: Handler) {
    for conn in listener.incoming() {
        match conn {
            Ok(c) => {
                let _ = c.set_nodelay(true);
                spawn_connection(Conn::Tcp(c), handler.clone())
            }
            Err(e) => crate::log::error(&format!("accept: {e}")),
        }
    }
}

fn spawn_connection(conn: Conn, handler: Handler) {
    let spawned = std::thread::Builder::new().name("http".into()).stack_size(256 << 10).spawn(move || {
        if let Err(e) = serve_connection(conn, &handler) {
            if !matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof) {
                crate::log::line(crate::log::Level::Debug, "connection ended", &[("error", &e.to_string())]);
            }
        }
    });
    if let Err(e) = spawned {
        crate::log::error(&format!("cannot start a connection thread: {e}"));
    }
}

/// Serves requests on one connection until it closes or is hijacked.
pub fn serve_connection(conn: Conn, handler: &Handler) -> io::Result<()> {
    let mut writer = conn.try_clone()?;
    let mut reader = BufReader::new(conn);
    loop {
        let request = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                write_simple(&mut writer, 400, &e.to_string())?;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let close = request.headers.get("Connection").is_some_and(|c| c.eq_ignore_ascii_case("close"));
        let head_only = request.method == "HEAD";
        let mut response = handler(request);
        // A HEAD answer has no body (a client would read one as the next response).
        if head_only {
            if let Body::Bytes(b) = &response.body {
                response.headers.set("Content-Length", b.len().to_string());
                response.body = Body::Empty;
            }
        }
        match write_response(&mut writer, response)? {
            Some(hijack) => {
                hijack(reader, writer);
                return Ok(());
            }
            None if close => return Ok(()),
            None => {}
        }
    }
}

fn read_request(reader: &mut BufReader<Conn>) -> io::Result<Option<Request>> {
    let Some((start, headers)) = read_head(reader)? else { return Ok(None) };
    let mut parts = start.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("malformed request line {start:?}")));
    };
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let mut body = Vec::new();
    let mut spooled = None;
    if headers.is_chunked() || headers.content_length().is_some() {
        let mut r = super::body_reader(&mut *reader as &mut dyn BufRead, &headers, false);
        (&mut r).take(MAX_BODY + 1).read_to_end(&mut body)?;
        if body.len() as u64 > MAX_BODY {
            spooled = Some(spool(&std::mem::take(&mut body), &mut r)?);
        }
    }
    Ok(Some(Request {
        method: method.to_string(),
        path: super::percent_decode(raw_path, false),
        query: super::parse_query(raw_query),
        headers,
        body,
        spooled,
    }))
}

/// Writes `head` and the rest of `rest` to an unlinked file, rewound for reading.
fn spool(head: &[u8], rest: &mut dyn Read) -> io::Result<std::fs::File> {
    use std::io::Seek;
    let dir = SPOOL_DIR.get().cloned().unwrap_or_else(std::env::temp_dir);
    let path = dir.join(format!("request-body-{}", &crate::ids::new_id()[..16]));
    let mut f = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
    let _ = std::fs::remove_file(&path);
    f.write_all(head)?;
    io::copy(rest, &mut f)?;
    f.rewind()?;
    Ok(f)
}

fn write_head(w: &mut Conn, status: u16, headers: &Headers, extra: &str) -> io::Result<()> {
    // Docker answers its own `Upgrade: tcp` with this reason; a websocket gets the standard one.
    let websocket = headers.get("Upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    let reason = if status == 101 && !websocket { "UPGRADED" } else { status_text(status) };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    head.push_str(&format!("Api-Version: {}\r\n", crate::version::API_VERSION));
    head.push_str(&format!("Docker-Experimental: false\r\nOstype: linux\r\nServer: Docker/{} (linux)\r\n", crate::version::DOCKBOX));
    for (k, v) in &headers.0 {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(extra);
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    w.flush()
}

fn write_response(w: &mut Conn, response: Response) -> io::Result<Option<HijackFn>> {
    let Response { status, headers, body } = response;
    match body {
        Body::Empty => {
            write_head(w, status, &headers, if headers.get("Content-Length").is_some() { "" } else { "Content-Length: 0\r\n" })?;
            Ok(None)
        }
        Body::Bytes(b) => {
            write_head(w, status, &headers, &format!("Content-Length: {}\r\n", b.len()))?;
            w.write_all(&b)?;
            w.flush()?;
            Ok(None)
        }
        Body::Stream(f) => {
            write_head(w, status, &headers, "Transfer-Encoding: chunked\r\n")?;
            let mut chunked = ChunkedWriter::new(&mut *w);
            f(&mut chunked)?;
            chunked.finish()?;
            Ok(None)
        }
        Body::Hijack(f) => {
            write_head(w, status, &headers, "")?;
            Ok(Some(f))
        }
    }
}

fn write_simple(w: &mut Conn, status: u16, message: &str) -> io::Result<()> {
    let body = format!("{}\n", serde_json::json!({ "message": message }));
    write_head(w, status, &Headers::default(), &format!("Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n", body.len()))?;
    w.write_all(body.as_bytes())
}
