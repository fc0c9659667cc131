//! The server side of RFC 6455 websockets, as much as `GET /containers/{id}/attach/ws` needs:
//! the opening handshake, unmasked binary or text frames out, masked frames in (continuations
//! joined, pings answered, a close frame ends the input).

use super::server::Request;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

/// The GUID RFC 6455 appends to the client's key.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Frames larger than this from a client are refused (attach input is keystrokes).
const MAX_FRAME: u64 = 1 << 20;

const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Checks a request is a websocket opening handshake; returns the `Sec-WebSocket-Accept`
/// value to answer with, or what is wrong with it.
pub fn accept_key(req: &Request) -> Result<String, String> {
    if req.method != "GET" {
        return Err("websocket: the handshake must be a GET".into());
    }
    let has_token = |name: &str, token: &str| req.headers.get(name).is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)));
    if !has_token("Upgrade", "websocket") || !has_token("Connection", "upgrade") {
        return Err("websocket: missing Upgrade: websocket / Connection: Upgrade".into());
    }
    if req.headers.get("Sec-WebSocket-Version").map(str::trim) != Some("13") {
        return Err("websocket: unsupported Sec-WebSocket-Version (13 is)".into());
    }
    let key = req.headers.get("Sec-WebSocket-Key").map(str::trim).filter(|k| crate::base64::decode(k).is_some_and(|b| b.len() == 16)).ok_or("websocket: missing or malformed Sec-WebSocket-Key")?;
    Ok(crate::base64::encode(&sha1(format!("{key}{ACCEPT_GUID}").as_bytes())))
}

/// Writes each `write` as one unmasked frame (server frames are never masked).
pub struct FrameWriter<W: Write> {
    inner: Arc<Mutex<W>>,
    opcode: u8,
}

impl<W: Write> FrameWriter<W> {
    /// `opcode` is [`OP_BINARY`] or [`OP_TEXT`].
    pub fn new(inner: Arc<Mutex<W>>, opcode: u8) -> Self {
        FrameWriter { inner, opcode }
    }
}

fn write_frame(w: &mut dyn Write, opcode: u8, payload: &[u8]) -> io::Result<()> {
    let mut head = Vec::with_capacity(10);
    head.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => head.push(n as u8),
        n if n <= u16::MAX as usize => {
            head.push(126);
            head.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            head.push(127);
            head.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    w.write_all(&head)?;
    w.write_all(payload)?;
    w.flush()
}

/// Sends a close frame with a normal-closure status.
pub fn write_close<W: Write>(inner: &Mutex<W>) -> io::Result<()> {
    let mut w = inner.lock().unwrap_or_else(|e| e.into_inner());
    write_frame(&mut *w, OP_CLOSE, &1000u16.to_be_bytes())
}

impl<W: Write> Write for FrameWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut w = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        write_frame(&mut *w, self.opcode, buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The payloads of a client's data frames as one byte stream; end of stream at a close frame.
/// Pings are answered through `replies`, the connection's writer.
pub struct FrameReader<R: Read, W: Write> {
    inner: R,
    replies: Arc<Mutex<W>>,
    /// Payload bytes of the current frame not yet read.
    remaining: u64,
    mask: [u8; 4],
    /// Position in the mask of the next payload byte.
    mask_pos: usize,
    closed: bool,
}

impl<R: Read, W: Write> FrameReader<R, W> {
    pub fn new(inner: R, replies: Arc<Mutex<W>>) -> Self {
        FrameReader { inner, replies, remaining: 0, mask: [0; 4], mask_pos: 0, closed: false }
    }

    /// Reads frame heads until a data frame with payload starts; false at the end.
    fn next_data_frame(&mut self) -> io::Result<bool> {
        loop {
            let mut head = [0u8; 2];
            if let Err(e) = self.inner.read_exact(&mut head) {
                return if e.kind() == io::ErrorKind::UnexpectedEof { Ok(false) } else { Err(e) };
            }
            let opcode = head[0] & 0x0F;
            if head[1] & 0x80 == 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "websocket: a client frame is not masked"));
            }
            let len = match head[1] & 0x7F {
                126 => {
                    let mut b = [0u8; 2];
                    self.inner.read_exact(&mut b)?;
                    u16::from_be_bytes(b) as u64
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.inner.read_exact(&mut b)?;
                    u64::from_be_bytes(b)
                }
                n => n as u64,
            };
            if len > MAX_FRAME {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "websocket: frame too large"));
            }
            self.inner.read_exact(&mut self.mask)?;
            self.mask_pos = 0;
            match opcode {
                OP_TEXT | OP_BINARY | OP_CONTINUATION if len > 0 => {
                    self.remaining = len;
                    return Ok(true);
                }
                OP_TEXT | OP_BINARY | OP_CONTINUATION => {}
                OP_PING | OP_PONG | OP_CLOSE => {
                    let mut payload = vec![0u8; len as usize];
                    self.inner.read_exact(&mut payload)?;
                    for (i, b) in payload.iter_mut().enumerate() {
                        *b ^= self.mask[i % 4];
                    }
                    let mut w = self.replies.lock().unwrap_or_else(|e| e.into_inner());
                    if opcode == OP_PING {
                        write_frame(&mut *w, OP_PONG, &payload)?;
                    } else if opcode == OP_CLOSE {
                        // Echo the status, as RFC 6455 asks; the input ends here.
                        let _ = write_frame(&mut *w, OP_CLOSE, &payload[..payload.len().min(2)]);
                        return Ok(false);
                    }
                }
                _ => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("websocket: unknown opcode {opcode}"))),
            }
        }
    }
}

impl<R: Read, W: Write> Read for FrameReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.closed || buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 && !self.next_data_frame()? {
            self.closed = true;
            return Ok(0);
        }
        let want = buf.len().min(self.remaining as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        for b in &mut buf[..n] {
            *b ^= self.mask[self.mask_pos];
            self.mask_pos = (self.mask_pos + 1) % 4;
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// SHA-1 (FIPS 180-4), for the handshake's accept key only.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn sha1_vectors() {
        assert_eq!(hex(&sha1(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(hex(&sha1(&[b'a'; 1000])), "291e9a6c66994949b57ba5e650361e98fc36b1ba");
    }

    #[test]
    fn rfc_6455_example_key() {
        let req = Request {
            method: "GET".into(),
            path: "/chat".into(),
            query: vec![],
            headers: super::super::Headers(vec![
                ("Upgrade".into(), "websocket".into()),
                ("Connection".into(), "keep-alive, Upgrade".into()),
                ("Sec-WebSocket-Key".into(), "dGhlIHNhbXBsZSBub25jZQ==".into()),
                ("Sec-WebSocket-Version".into(), "13".into()),
            ]),
            body: vec![],
            spooled: None,
        };
        assert_eq!(accept_key(&req).unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn masked_frames_in_pings_answered_close_ends() {
        let mask = [1u8, 2, 3, 4];
        let frame = |fin_op: u8, payload: &[u8]| {
            let mut f = vec![fin_op, 0x80 | payload.len() as u8];
            f.extend_from_slice(&mask);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
            f
        };
        let mut input = frame(0x01, b"hel");
        input.extend(frame(0x89, b"p"));
        input.extend(frame(0x80, b"lo"));
        input.extend(frame(0x88, &1000u16.to_be_bytes()));
        input.extend(frame(0x82, b"after close"));
        let replies = Arc::new(Mutex::new(Vec::new()));
        let mut r = FrameReader::new(io::Cursor::new(input), replies.clone());
        let mut text = String::new();
        r.read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello");
        assert_eq!(*replies.lock().unwrap(), vec![0x8A, 1, b'p', 0x88, 2, 0x03, 0xE8]);
        let mut out = FrameWriter::new(Arc::new(Mutex::new(Vec::new())), OP_BINARY);
        out.write_all(&[7u8; 200]).unwrap();
        let written = out.inner.lock().unwrap().clone();
        assert_eq!(&written[..4], &[0x82, 126, 0, 200]);
        assert_eq!(written.len(), 204);
    }
}
