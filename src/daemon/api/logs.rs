//! `GET /containers/{id}/logs`: the json-file log then, with `follow`, the live output, with
//! Docker's `tail`, `since`, `until`, `timestamps` and `details`.

use super::containers::stream_content_type;
use crate::daemon::errors::ApiError;
use crate::daemon::streams::{write_chunk, Chunk};
use crate::daemon::Daemon;
use crate::http::server::{Request, Response};
use crate::stdcopy::StreamType;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::SystemTime;

/// A `since`/`until` query value; `until=0` means none, as in Docker.
fn time_query(req: &Request, name: &str) -> Result<Option<SystemTime>, ApiError> {
    match req.query(name) {
        None | Some("") => Ok(None),
        Some("0") if name == "until" => Ok(None),
        Some(v) => crate::timestamp::parse_unix_timestamp(v).map(Some).map_err(|e| ApiError::bad_request(format!("invalid value for {name:?}: {e}"))),
    }
}

/// `--details`: the entry's attributes, `k=v` sorted and query-escaped, then a space.
fn details_prefix(attrs: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = attrs.iter().map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v))).collect();
    format!("{} ", pairs.join(","))
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn logs(d: &Arc<Daemon>, id: &str, req: &Request, v: (u32, u32)) -> Result<Response, ApiError> {
    let e = d.find(id)?;
    let (want_out, want_err) = (req.query_bool("stdout"), req.query_bool("stderr"));
    if !want_out && !want_err {
        return Err(ApiError::bad_request("Bad parameters: you must choose at least one stream"));
    }
    let since = time_query(req, "since")?;
    let until = time_query(req, "until")?;
    let (tty, reader) = {
        let s = e.lock();
        let Some(reader) = s.c.log_reader(&d.opts.data_root) else {
            return Err(ApiError::new(501, "configured logging driver does not support reading"));
        };
        (s.c.tty(), reader)
    };
    let multiplexed = !tty;
    let timestamps = req.query_bool("timestamps");
    let details = req.query_bool("details");
    let tail = req.query("tail").and_then(|t| t.parse::<i64>().ok()).filter(|&n| n >= 0).map(|n| n as usize);
    let (mut entries, live) = e.output.log_then_subscribe(Some(&reader), tail, req.query_bool("follow"));
    // As Docker's json-file reader: the last lines of the file first, then the time window,
    // then the streams asked for.
    if let Some(n) = tail {
        let skip = entries.len().saturating_sub(n);
        entries.drain(..skip);
    }
    let mut past_until = false;
    entries.retain(|en| {
        let t = crate::sys::parse_rfc3339(&en.time);
        if let (Some(s), Some(t)) = (since, t) {
            if t < s {
                return false;
            }
        }
        if let (Some(u), Some(t)) = (until, t) {
            if t > u {
                past_until = true;
            }
        }
        !past_until
    });
    entries.retain(|en| if en.stream == "stderr" { want_err } else { want_out });
    let live = if past_until || until.is_some_and(|u| SystemTime::now() > u) { None } else { live };
    Ok(Response::stream(
        200,
        stream_content_type(multiplexed, v),
        Box::new(move |w: &mut dyn Write| {
            for en in entries {
                let s = if en.stream == "stderr" { StreamType::Stderr } else { StreamType::Stdout };
                let mut text = String::new();
                if timestamps {
                    text.push_str(&en.time);
                    text.push(' ');
                }
                if details {
                    text.push_str(&details_prefix(&en.attrs));
                }
                text.push_str(&en.log);
                write_chunk(w, s, text.as_bytes(), multiplexed)?;
            }
            let Some(rx) = live else { return Ok(()) };
            loop {
                let chunk = match until {
                    None => rx.recv().ok(),
                    Some(u) => match u.duration_since(SystemTime::now()) {
                        Ok(left) => match rx.recv_timeout(left) {
                            Ok(c) => Some(c),
                            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
                            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => None,
                        },
                        Err(_) => None,
                    },
                };
                match chunk {
                    Some(Chunk::Data(s, data)) => {
                        if !((s == StreamType::Stdout && want_out) || (s == StreamType::Stderr && want_err)) {
                            continue;
                        }
                        if !timestamps && !details {
                            write_chunk(w, s, &data, multiplexed)?;
                            continue;
                        }
                        // Each line gets its prefix.
                        let now = crate::sys::rfc3339_nanos(SystemTime::now());
                        let mut out = Vec::with_capacity(data.len() + 40);
                        for line in data.split_inclusive(|b| *b == b'\n') {
                            if timestamps {
                                out.extend_from_slice(now.as_bytes());
                                out.push(b' ');
                            }
                            if details {
                                out.push(b' ');
                            }
                            out.extend_from_slice(line);
                        }
                        write_chunk(w, s, &out, multiplexed)?;
                    }
                    Some(Chunk::End) | None => break,
                }
            }
            Ok(())
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_sorted_and_escaped() {
        let mut a = BTreeMap::new();
        assert_eq!(details_prefix(&a), " ");
        a.insert("z".to_string(), "1".to_string());
        a.insert("a b".to_string(), "x=y".to_string());
        assert_eq!(details_prefix(&a), "a+b=x%3Dy,z=1 ");
    }
}
