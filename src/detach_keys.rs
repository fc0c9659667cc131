//! Docker's detach keys: the `ctrl-p,ctrl-q` notation (`--detach-keys`, `detachKeys` in the
//! client's config.json and the attach query) and the watch over a terminal's input that
//! notices the sequence. The client and dockerd both watch: the client so it stops sending
//! and restores its terminal, dockerd so any API client can detach.

/// Docker's default: ctrl-p, ctrl-q.
pub const DEFAULT: &[u8] = &[0x10, 0x11];

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notation() {
        assert_eq!(parse("ctrl-p,ctrl-q").unwrap(), DEFAULT);
        assert_eq!(parse("a,ctrl-@,ctrl-\\,DEL,ctrl-_").unwrap(), vec![b'a', 0, 0x1c, 127, 0x1f]);
        assert_eq!(parse("ctrl-P").unwrap_err(), "Unknown character: 'ctrl-P'");
        assert_eq!(parse("ab").unwrap_err(), "Unknown character: 'ab'");
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
}
