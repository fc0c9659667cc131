//! Docker's detach keys: the `ctrl-p,ctrl-q` notation (`--detach-keys`, `detachKeys` in the
//! client's config.json and the attach query) and the watch over a terminal's input that
//! notices the sequence. The client and dockerd both watch: the client so it stops sending
//! and restores its terminal, dockerd so any API client can detach.

use std::io::Read;

/// Docker's default: ctrl-p, ctrl-q.
pub const DEFAULT: &[u8] = &[0x10, 0x11];

/// [`parse`], with the empty notation standing for [`DEFAULT`] (as the flag, config.json,
/// the attach query and an exec's `DetachKeys` all use it).
pub fn parse_or_default(keys: &str) -> Result<Vec<u8>, String> {
    if keys.is_empty() {
        return Ok(DEFAULT.to_vec());
    }
    parse(keys)
}

/// The bytes a key list such as `ctrl-p,ctrl-q` stands for: single characters, `ctrl-@`,
/// `ctrl-a`…`ctrl-z`, `ctrl-[`, `ctrl-\`, `ctrl-]`, `ctrl-^`, `ctrl-_` and `DEL`.
/// The error is Docker's wording of the key it does not know.
pub fn parse(keys: &str) -> Result<Vec<u8>, String> {
    const CTRL: &[u8] = b"@abcdefghijklmnopqrstuvwxyz[\\]^_";
    let mut out = Vec::new();
    for key in keys.split(',') {
        if key.len() == 1 {
            out.push(key.as_bytes()[0]);
            continue;
        }
        let code = key.strip_prefix("ctrl-").filter(|k| k.len() == 1).and_then(|k| CTRL.iter().position(|&c| c == k.as_bytes()[0]));
        match code {
            Some(c) => out.push(c as u8),
            None if key == "DEL" => out.push(127),
            None => return Err(format!("Unknown character: '{key}'")),
        }
    }
    Ok(out)
}

/// Watches a stream of input for the detach sequence. Bytes that may begin the sequence are
/// held back until it is clear they do not, so a detach never reaches the container.
pub struct Detector {
    keys: Vec<u8>,
    matched: usize,
}

/// What one piece of input comes to.
#[derive(Debug, PartialEq, Eq)]
pub struct Scan {
    /// The bytes to pass on (those held back from earlier pieces first, when they turned
    /// out not to be the sequence).
    pub forward: Vec<u8>,
    /// The whole sequence was seen; nothing after it counts.
    pub detached: bool,
}

impl Detector {
    /// An empty `keys` never detaches.
    pub fn new(keys: &[u8]) -> Detector {
        Detector { keys: keys.to_vec(), matched: 0 }
    }

    pub fn feed(&mut self, data: &[u8]) -> Scan {
        let mut forward = Vec::with_capacity(data.len());
        if self.keys.is_empty() {
            forward.extend_from_slice(data);
            return Scan { forward, detached: false };
        }
        for &b in data {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return Scan { forward, detached: true };
                }
                continue;
            }
            // The held-back bytes were not the sequence: they go on, and this byte may start
            // it afresh (only the first key can: the held bytes are a prefix of the keys).
            forward.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    return Scan { forward, detached: true };
                }
            } else {
                forward.push(b);
            }
        }
        Scan { forward, detached: false }
    }

    /// At the end of input: what is still held back.
    pub fn held(&self) -> &[u8] {
        &self.keys[..self.matched]
    }
}

/// How a [`copy`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum CopyEnd {
    /// The input ended; the bytes held back were passed on.
    Eof,
    /// The detach keys were typed; nothing of them was passed on.
    Detached,
    /// `write` failed (the other side is gone).
    WriteFailed,
}

/// Copies `input` through `write` (false: it failed), watching for `keys` (empty: never
/// detaches). Every side that relays a terminal's input uses it: the client from its stdin,
/// dockerd from an attach or exec connection.
pub fn copy(mut input: impl Read, keys: &[u8], mut write: impl FnMut(&[u8]) -> bool) -> CopyEnd {
    let mut detector = Detector::new(keys);
    let mut buf = [0u8; 8192];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let scan = detector.feed(&buf[..n]);
        if !scan.forward.is_empty() && !write(&scan.forward) {
            return CopyEnd::WriteFailed;
        }
        if scan.detached {
            return CopyEnd::Detached;
        }
    }
    if !detector.held().is_empty() {
        write(detector.held());
    }
    CopyEnd::Eof
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notation() {
        assert_eq!(parse("ctrl-p,ctrl-q").unwrap(), DEFAULT);
        assert_eq!(parse("a,ctrl-@,ctrl-\\,DEL,ctrl-_").unwrap(), vec![b'a', 0, 0x1c, 127, 0x1f]);
        assert_eq!(parse("ctrl-P").unwrap_err(), "Unknown character: 'ctrl-P'");
        assert_eq!(parse("ab").unwrap_err(), "Unknown character: 'ab'");
        assert_eq!(parse(" ctrl-p").unwrap_err(), "Unknown character: ' ctrl-p'");
        assert_eq!(parse_or_default("").unwrap(), DEFAULT);
        assert_eq!(parse_or_default("ctrl-a,x").unwrap(), vec![1, b'x']);
    }

    #[test]
    fn sequence_across_pieces_and_false_starts() {
        let mut d = Detector::new(DEFAULT);
        assert_eq!(d.feed(b"ls\x10"), Scan { forward: b"ls".to_vec(), detached: false });
        assert_eq!(d.feed(b"x"), Scan { forward: b"\x10x".to_vec(), detached: false });
        assert_eq!(d.feed(b"\x10\x10"), Scan { forward: b"\x10".to_vec(), detached: false });
        assert_eq!(d.feed(b"\x11rest"), Scan { forward: vec![], detached: true });
        let mut one = Detector::new(b"q");
        assert_eq!(one.feed(b"abq"), Scan { forward: b"ab".to_vec(), detached: true });
        let mut none = Detector::new(b"");
        assert_eq!(none.feed(b"\x10\x11"), Scan { forward: b"\x10\x11".to_vec(), detached: false });
    }

    #[test]
    fn copy_ends_at_the_keys_and_passes_partial_matches_on() {
        let mut out = Vec::new();
        let end = copy(&b"ab\x10c\x10\x11zz"[..], DEFAULT, |d| {
            out.extend_from_slice(d);
            true
        });
        assert_eq!((end, out.as_slice()), (CopyEnd::Detached, &b"ab\x10c"[..]));
        let mut out = Vec::new();
        let end = copy(&b"hello\x10"[..], DEFAULT, |d| {
            out.extend_from_slice(d);
            true
        });
        assert_eq!((end, out.as_slice()), (CopyEnd::Eof, &b"hello\x10"[..]));
        assert_eq!(copy(&b"x"[..], DEFAULT, |_| false), CopyEnd::WriteFailed);
    }
}
