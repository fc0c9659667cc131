//! The `local` driver, Docker's compact format: in `local-logs/container.log`, each entry is
//! a protocol-buffer `LogEntry` (source = 1, time_nano = 2, line = 3, partial = 4,
//! partial_log_metadata = 5 {last = 1, id = 2, ordinal = 3}, attrs = 6 {key = 1, value = 2})
//! framed by its length as a big-endian u32 before and after (so it can be read backwards).
//! Lines are kept without their newline. Rotation by default: 20 MB files, 5 of them,
//! compressed.

use super::logfile::LogFile;
use super::proto::{self, Field};
use super::{opt, Info, Message};
use crate::jsonlog::Entry;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

const OPTS: &[&str] = &["max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag"];
const DEFAULT_MAX_SIZE: i64 = 20 * 1024 * 1024;
const DEFAULT_MAX_FILES: i64 = 5;
/// Docker's reader refuses larger entries.
const MAX_ENTRY: usize = 1_000_000;

/// Where the driver keeps a container's log.
pub fn log_path(container_dir: &Path) -> PathBuf {
    container_dir.join("local-logs").join("container.log")
}

/// `max-size` (0: unbounded), `max-file`, `compress`, with Docker's defaults and messages.
pub fn rotation(opts: &Map<String, Value>) -> Result<(Option<u64>, u32, bool), String> {
    let max_size = match opt(opts, "max-size") {
        Some(v) => super::from_human_size(&v).map_err(|e| format!("invalid value for max-size: {v}: {e}"))?,
        None => DEFAULT_MAX_SIZE,
    };
    let max_files = match opt(opts, "max-file") {
        Some(v) => v.parse::<i64>().map_err(|_| format!("invalid value for max-file: {v}: strconv.Atoi: parsing {v:?}: invalid syntax"))?,
        None => DEFAULT_MAX_FILES,
    };
    let compress = match opt(opts, "compress") {
        Some(v) => super::parse_bool(&v).ok_or_else(|| format!("invalid boolean value for compress: strconv.ParseBool: parsing {v:?}: invalid syntax"))?,
        None => true,
    };
    if max_size < 0 {
        return Err("max-size must not be negative".into());
    }
    if max_files < 0 {
        return Err("max-file must not be negative".into());
    }
    if compress && max_files <= 1 {
        return Err("compression cannot be enabled when max file count is 1".into());
    }
    let capacity = if max_size == 0 { None } else { Some(max_size as u64) };
    Ok((capacity, u32::try_from(max_files).unwrap_or(u32::MAX), compress))
}

pub fn validate(opts: &Map<String, Value>) -> Result<(), String> {
    if let Some(key) = opts.keys().find(|k| !OPTS.contains(&k.as_str())) {
        return Err(format!("unknown log opt '{key}' for log driver local"));
    }
    rotation(opts)?;
    super::check_attribute_regexes(opts)?;
    Ok(())
}

pub struct Writer {
    file: LogFile,
    /// The attributes' encoded `attrs` fields, the same in every entry.
    attrs: Vec<u8>,
}

impl Writer {
    pub fn open(path: &Path, opts: &Map<String, Value>, info: &Info) -> Result<Writer, String> {
        let (capacity, max_files, compress) = rotation(opts)?;
        let attrs = encode_attrs(&info.attributes_with_tag(opts)?);
        if let Some(dir) = path.parent() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| format!("error creating local logs dir: {e}"))?;
        }
        let file = LogFile::open(path, capacity, max_files, compress).map_err(|e| e.to_string())?;
        Ok(Writer { file, attrs })
    }

    pub fn log(&mut self, m: &Message) -> io::Result<()> {
        self.file.write_entry(m.time, &encode(m, &self.attrs))
    }
}

fn encode_attrs(attrs: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in attrs {
        let mut a = Vec::new();
        proto::put_bytes(&mut a, 1, k.as_bytes(), false);
        proto::put_bytes(&mut a, 2, v.as_bytes(), false);
        proto::put_bytes(&mut out, 6, &a, true);
    }
    out
}

/// One framed entry.
pub fn encode(m: &Message, attrs: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(m.line.len() + 64 + attrs.len());
    proto::put_bytes(&mut e, 1, m.source.as_bytes(), false);
    let nanos = m.time.duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
    proto::put_uint(&mut e, 2, nanos as u64);
    proto::put_bytes(&mut e, 3, m.line, false);
    if let Some(p) = &m.partial {
        proto::put_uint(&mut e, 4, 1);
        let mut md = Vec::new();
        proto::put_uint(&mut md, 1, u64::from(p.last));
        proto::put_bytes(&mut md, 2, p.id.as_bytes(), false);
        proto::put_uint(&mut md, 3, u64::from(p.ordinal));
        proto::put_bytes(&mut e, 5, &md, true);
    }
    e.extend_from_slice(attrs);
    let len = (e.len() as u32).to_be_bytes();
    let mut out = Vec::with_capacity(e.len() + 8);
    out.extend_from_slice(&len);
    out.extend_from_slice(&e);
    out.extend_from_slice(&len);
    out
}

/// Every whole entry of one file's bytes (a torn last entry is left out), as `docker logs`
/// shows them: a line gets its newline back unless it is a piece of a longer one.
pub fn decode(mut data: &[u8], out: &mut Vec<Entry>) {
    while data.len() >= 8 {
        let len = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        if len > MAX_ENTRY || data.len() < len + 8 || data[4 + len..8 + len] != data[..4] {
            return;
        }
        if let Some(e) = decode_entry(&data[4..4 + len]) {
            out.push(e);
        }
        data = &data[len + 8..];
    }
}

fn decode_entry(b: &[u8]) -> Option<Entry> {
    let mut e = Entry { log: String::new(), stream: String::new(), attrs: BTreeMap::new(), time: String::new() };
    let (mut nanos, mut partial, mut last, mut line) = (0i64, false, false, &b""[..]);
    for f in proto::fields(b)? {
        match f {
            Field::Bytes(1, v) => e.stream = String::from_utf8_lossy(v).into_owned(),
            Field::Varint(2, v) => nanos = v as i64,
            Field::Bytes(3, v) => line = v,
            Field::Varint(4, v) => partial = v != 0,
            Field::Bytes(5, md) => {
                for f in proto::fields(md)? {
                    if let Field::Varint(1, v) = f {
                        last = v != 0;
                    }
                }
            }
            Field::Bytes(6, a) => {
                let (mut k, mut v) = (String::new(), String::new());
                for f in proto::fields(a)? {
                    match f {
                        Field::Bytes(1, x) => k = String::from_utf8_lossy(x).into_owned(),
                        Field::Bytes(2, x) => v = String::from_utf8_lossy(x).into_owned(),
                        _ => {}
                    }
                }
                e.attrs.insert(k, v);
            }
            _ => {}
        }
    }
    let mut text = line.to_vec();
    if !partial || last {
        text.push(b'\n');
    }
    e.log = String::from_utf8_lossy(&text).into_owned();
    let t = if nanos >= 0 { UNIX_EPOCH + Duration::from_nanos(nanos as u64) } else { UNIX_EPOCH };
    e.time = crate::sys::rfc3339_nanos(t);
    Some(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logger::Partial;

    #[test]
    fn entries_round_trip_through_the_frame() {
        let t = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        let attrs = encode_attrs(&[("a".to_string(), "b".to_string())].into());
        let mut buf = encode(&Message { source: "stdout", line: b"hello", time: t, partial: None }, &attrs);
        buf.extend(encode(&Message { source: "stderr", line: b"piece", time: t, partial: Some(Partial { id: "x".into(), ordinal: 1, last: false }) }, &[]));
        // Known bytes: the frame and the first fields as gogo-protobuf writes them.
        assert_eq!(&buf[..12], &[0, 0, 0, 33, 0x0a, 6, b's', b't', b'd', b'o', b'u', b't']);
        let torn = buf.len() - 3;
        let mut out = Vec::new();
        decode(&buf, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].log.as_str(), out[0].stream.as_str(), out[0].time.as_str()), ("hello\n", "stdout", "2023-11-14T22:13:20.123456789Z"));
        assert_eq!(out[0].attrs.get("a").map(String::as_str), Some("b"));
        assert_eq!((out[1].log.as_str(), out[1].stream.as_str()), ("piece", "stderr"));
        let mut out = Vec::new();
        decode(&buf[..torn], &mut out);
        assert_eq!(out.len(), 1);
    }
}
