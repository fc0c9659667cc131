//! GET /events: the recent events of the daemon's ring that fall in `since`..`until`, then
//! the new ones as they come (until `until`), one JSON object per line.

use crate::daemon::events::Message;
use crate::daemon::filters::Filters;
use crate::daemon::errors::ApiError;
use crate::daemon::Daemon;
use crate::http::server::{Request, Response};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

fn time_param(req: &Request, name: &str) -> Result<Option<SystemTime>, ApiError> {
    match req.query(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => crate::timestamp::parse_unix_timestamp(v).map(Some).map_err(|_| ApiError::bad_request(format!("invalid value for {name}: {v:?}: timestamp must be seconds[.nanoseconds] since the epoch"))),
    }
}

pub fn events(d: &Arc<Daemon>, req: &Request) -> Result<Response, ApiError> {
    // Docker's events route checks the filters' form, not their names: one it does not know
    // matches every event.
    let filters = Filters::parse(req.query("filters"))?;
    let since = time_param(req, "since")?;
    let until = time_param(req, "until")?;
    if let (Some(s), Some(u)) = (since, until) {
        if u < s {
            return Err(ApiError::bad_request(format!(
                "`since` time ({}) cannot be after `until` time ({})",
                req.query("since").unwrap_or_default(),
                req.query("until").unwrap_or_default()
            )));
        }
    }
    let since_nano = since.map(crate::timestamp::unix_nanos).unwrap_or(i128::MIN);
    let until_nano = until.map(crate::timestamp::unix_nanos).unwrap_or(i128::MAX);
    // Taken now, so nothing logged between this answer's head and the stream is missed.
    let (buffered, mut last) = d.events.snapshot();
    let replay = since.is_some() || until.is_some();
    let deadline = until.map(|u| Instant::now() + u.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO));
    let d = d.clone();
    Ok(Response::stream(
        200,
        "application/json",
        Box::new(move |w: &mut dyn Write| {
            let wanted = |m: &Message| m.time_nano >= since_nano && m.time_nano <= until_nano && m.matches(&filters);
            let send = |w: &mut dyn Write, m: &Message| -> std::io::Result<()> {
                let mut line = serde_json::to_vec(&m.to_json()).unwrap_or_default();
                line.push(b'\n');
                w.write_all(&line)?;
                w.flush()
            };
            if replay {
                for m in buffered.iter().filter(|m| wanted(m)) {
                    send(w, m)?;
                }
            }
            w.flush()?;
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(());
                }
                for m in d.events.after(last, deadline) {
                    last = last.max(m.seq);
                    if wanted(&m) {
                        send(w, &m)?;
                    }
                }
            }
        }),
    ))
}
