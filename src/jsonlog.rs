//! Docker's json-file log format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"2006-01-02T15:04:05.999999999Z"}`.

use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, Write};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub log: String,
    pub stream: String,
    /// What `--log-opt labels=/env=/tag` add to each entry, shown by `logs --details`
    /// (before `time`, where Docker writes them).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attrs: std::collections::BTreeMap<String, String>,
    pub time: String,
}

/// Appends one entry.
pub fn write_entry(w: &mut dyn Write, stream: &str, data: &[u8], time: std::time::SystemTime) -> io::Result<()> {
    w.write_all(&encode(stream, data, &Default::default(), time)?)
}

/// One entry as its line in the file, newline included.
pub fn encode(stream: &str, data: &[u8], attrs: &std::collections::BTreeMap<String, String>, time: std::time::SystemTime) -> io::Result<Vec<u8>> {
    let e = Entry { log: String::from_utf8_lossy(data).into_owned(), stream: stream.to_string(), attrs: attrs.clone(), time: crate::sys::rfc3339_nanos(time) };
    let mut line = serde_json::to_vec(&e).map_err(io::Error::other)?;
    line.push(b'\n');
    Ok(line)
}

/// Reads every well-formed entry; a torn last line (a crash mid-write) is skipped.
pub fn read_entries(r: &mut dyn BufRead) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for line in r.lines() {
        if let Ok(e) = serde_json::from_str::<Entry>(&line?) {
            out.push(e);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let mut buf = Vec::new();
        write_entry(&mut buf, "stdout", b"hi\n", std::time::UNIX_EPOCH).unwrap();
        buf.extend_from_slice(b"{\"log\":\"torn");
        let e = read_entries(&mut io::Cursor::new(buf)).unwrap();
        assert_eq!(e, vec![Entry { log: "hi\n".into(), stream: "stdout".into(), time: "1970-01-01T00:00:00.000000000Z".into(), attrs: Default::default() }]);
    }
}
