//! The `json-file` driver: `<id>-json.log`, one JSON object per message (`crate::jsonlog`),
//! with Docker's options `max-size`, `max-file`, `compress` (rotation, [`super::logfile`]),
//! and `labels`, `labels-regex`, `env`, `env-regex`, `tag` (each entry's `attrs`).

use super::logfile::LogFile;
use super::{opt, Info, Message};
use crate::jsonlog::Entry;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io;

const OPTS: &[&str] = &["max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag"];

/// `max-size` (None: unbounded), `max-file`, `compress`, checked as Docker's driver does.
fn rotation(opts: &Map<String, Value>) -> Result<(Option<u64>, u32, bool), String> {
    let capacity = match opt(opts, "max-size") {
        Some(v) => {
            let n = super::from_human_size(&v)?;
            if n <= 0 {
                return Err("max-size must be a positive number".into());
            }
            Some(n as u64)
        }
        None => None,
    };
    let max_files = match opt(opts, "max-file") {
        Some(v) => {
            let n: i64 = v.parse().map_err(|_| format!("strconv.Atoi: parsing {v:?}: invalid syntax"))?;
            if n < 1 {
                return Err("max-file cannot be less than 1".into());
            }
            u32::try_from(n).map_err(|_| format!("strconv.Atoi: parsing {v:?}: value out of range"))?
        }
        None => 1,
    };
    let compress = match opt(opts, "compress") {
        Some(v) => super::parse_bool(&v).ok_or_else(|| format!("strconv.ParseBool: parsing {v:?}: invalid syntax"))?,
        None => false,
    };
    if compress && (max_files == 1 || capacity.is_none()) {
        return Err("compress cannot be true when max-file is less than 2 or max-size is not set".into());
    }
    Ok((capacity, max_files, compress))
}

pub fn validate(opts: &Map<String, Value>) -> Result<(), String> {
    if let Some(key) = opts.keys().find(|k| !OPTS.contains(&k.as_str())) {
        return Err(format!("unknown log opt '{key}' for json-file log driver"));
    }
    rotation(opts)?;
    super::check_attribute_regexes(opts)?;
    Ok(())
}

pub struct Writer {
    file: LogFile,
    attrs: BTreeMap<String, String>,
}

impl Writer {
    pub fn open(opts: &Map<String, Value>, info: &Info) -> Result<Writer, String> {
        let (capacity, max_files, compress) = rotation(opts)?;
        let attrs = info.attributes_with_tag(opts)?;
        let path = info.dir.join(format!("{}-json.log", info.id));
        let file = LogFile::open(&path, capacity, max_files, compress).map_err(|e| e.to_string())?;
        Ok(Writer { file, attrs })
    }

    pub fn log(&mut self, m: &Message) -> io::Result<()> {
        let mut text = m.line.to_vec();
        if m.ends_line() {
            text.push(b'\n');
        }
        let line = crate::jsonlog::encode(m.source, &text, &self.attrs, m.time)?;
        self.file.write_entry(m.time, &line)
    }
}

/// Every well-formed entry of one file's bytes.
pub fn decode(data: &[u8], out: &mut Vec<Entry>) {
    if let Ok(mut entries) = crate::jsonlog::read_entries(&mut io::Cursor::new(data)) {
        out.append(&mut entries);
    }
}
