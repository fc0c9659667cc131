//! HTTP/1.1 over unix and tcp sockets, just what the Engine API needs: requests and
//! responses with fixed or chunked bodies, keep-alive, and connection hijacking (attach).
//! [`server`] serves dockerd's API; [`client`] is what `docker` and the tests speak.

pub mod client;
pub mod server;
pub mod websocket;

use std::io::{self, BufRead, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Largest request or response head we accept.
const MAX_HEAD: usize = 1 << 20;

/// A connected socket of either family.
#[derive(Debug)]
pub enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    pub fn try_clone(&self) -> io::Result<Conn> {
        Ok(match self {
            Conn::Unix(s) => Conn::Unix(s.try_clone()?),
            Conn::Tcp(s) => Conn::Tcp(s.try_clone()?),
        })
    }

    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.shutdown(how),
            Conn::Tcp(s) => s.shutdown(how),
        }
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.set_read_timeout(t),
            Conn::Tcp(s) => s.set_read_timeout(t),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.flush(),
            Conn::Tcp(s) => s.flush(),
        }
    }
}

/// Header list with case-insensitive lookup, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.0.push((name.to_string(), value.into()));
    }
    pub fn content_length(&self) -> Option<u64> {
        self.get("Content-Length").and_then(|v| v.trim().parse().ok())
    }
    pub fn is_chunked(&self) -> bool {
        self.get("Transfer-Encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }
}

/// Reads a start line and headers; `Ok(None)` on a clean end of stream before any byte.
pub fn read_head(r: &mut dyn BufRead) -> io::Result<Option<(String, Headers)>> {
    let mut start = String::new();
    let mut total = 0;
    loop {
        start.clear();
        let n = r.read_line(&mut start)?;
        if n == 0 {
            return Ok(None);
        }
        total += n;
        // Tolerate stray blank lines between pipelined messages (RFC 9112 §2.2).
        if !start.trim().is_empty() {
            break;
        }
    }
    let mut headers = Headers::default();
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside the message head"));
        }
        total += n;
        if total > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "message head too large"));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        match line.split_once(':') {
            Some((k, v)) => headers.0.push((k.trim().to_string(), v.trim().to_string())),
            None => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("malformed header line {line:?}"))),
        }
    }
    Ok(Some((start.trim_end_matches(['\r', '\n']).to_string(), headers)))
}

/// Reads the body a head announces: chunked, by length, or (for responses) to end of stream.
pub fn body_reader<'a, R: BufRead + 'a>(r: R, headers: &Headers, until_eof: bool) -> Box<dyn Read + 'a> {
    if headers.is_chunked() {
        Box::new(ChunkedReader::new(r))
    } else if let Some(n) = headers.content_length() {
        Box::new(r.take(n))
    } else if until_eof {
        Box::new(r)
    } else {
        Box::new(io::empty())
    }
}

/// Decodes `Transfer-Encoding: chunked`.
pub struct ChunkedReader<R> {
    inner: R,
    remaining: u64,
    done: bool,
}

impl<R: BufRead> ChunkedReader<R> {
    pub fn new(inner: R) -> Self {
        ChunkedReader { inner, remaining: 0, done: false }
    }
}

impl<R: BufRead> Read for ChunkedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            let mut line = String::new();
            if self.inner.read_line(&mut line)? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "chunked body cut short"));
            }
            let size = line.trim().split(';').next().unwrap_or("");
            self.remaining = u64::from_str_radix(size.trim(), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {size:?}")))?;
            if self.remaining == 0 {
                // Trailers end with an empty line.
                loop {
                    let mut t = String::new();
                    if self.inner.read_line(&mut t)? == 0 || t.trim().is_empty() {
                        break;
                    }
                }
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.remaining as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "chunked body cut short"));
        }
        self.remaining -= n as u64;
        if self.remaining == 0 {
            let mut crlf = String::new();
            self.inner.read_line(&mut crlf)?;
        }
        Ok(n)
    }
}

/// Encodes `Transfer-Encoding: chunked`; every write is one chunk, flushed at once so
/// progress and log lines reach the peer as they happen.
pub struct ChunkedWriter<W: Write> {
    inner: W,
}

impl<W: Write> ChunkedWriter<W> {
    pub fn new(inner: W) -> Self {
        ChunkedWriter { inner }
    }
    /// Writes the last chunk.
    pub fn finish(mut self) -> io::Result<W> {
        self.inner.write_all(b"0\r\n\r\n")?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ChunkedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut out = Vec::with_capacity(buf.len() + 12);
        out.extend_from_slice(format!("{:x}\r\n", buf.len()).as_bytes());
        out.extend_from_slice(buf);
        out.extend_from_slice(b"\r\n");
        self.inner.write_all(&out)?;
        self.inner.flush()?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Decodes `%XX` and (in queries) `+`.
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encodes a query component.
pub fn percent_encode(s: &str) -> String {
    encode_except(s, b"-_.~")
}

/// Encodes a path segment that may hold an image reference (`host:port/name@sha256:...`).
pub fn percent_encode_path(s: &str) -> String {
    encode_except(s, b"-_.~:@/")
}

fn encode_except(s: &str, safe: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || safe.contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Splits `a=1&b=2` into decoded pairs.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k, true), percent_decode(v, true)),
            None => (percent_decode(p, true), String::new()),
        })
        .collect()
}

pub fn status_text(code: u16) -> &'static str {
    match code {
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_round_trip() {
        let mut w = ChunkedWriter::new(Vec::new());
        w.write_all(b"hello ").unwrap();
        w.write_all(b"world").unwrap();
        let wire = w.finish().unwrap();
        let mut out = String::new();
        ChunkedReader::new(io::Cursor::new(wire)).read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello world");
    }

    #[test]
    fn heads_and_queries_parse() {
        let raw = b"POST /v1.44/images/create?fromImage=busybox&tag=latest HTTP/1.1\r\nHost: x\r\ncontent-length: 2\r\n\r\n{}";
        let mut r = io::Cursor::new(&raw[..]);
        let (start, h) = read_head(&mut r).unwrap().unwrap();
        assert!(start.starts_with("POST /v1.44/images/create?"));
        assert_eq!(h.content_length(), Some(2));
        let q = parse_query(start.split_once('?').unwrap().1.split(' ').next().unwrap());
        assert_eq!(q, vec![("fromImage".into(), "busybox".into()), ("tag".into(), "latest".into())]);
        assert_eq!(percent_decode("a%2Fb+c%zz", true), "a/b c%zz");
        assert_eq!(percent_encode("a/b c"), "a%2Fb%20c");
    }
}
