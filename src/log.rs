//! dockerd's log lines, and those of the services it runs (networks, volumes, images, log
//! drivers, the HTTP server), in logrus's text format as Docker's daemon writes them
//! (`level=error msg="..." container=abc error="..."`) to standard error, filtered by the
//! level `--log-level` (or `-D`, or daemon.json's `debug` at a reload) sets. One level per
//! process: the other roles leave it at `info`.

use std::sync::atomic::{AtomicU8, Ordering};

/// The levels of `--log-level`, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

impl Level {
    /// The name logrus prints (`warning`, not `warn`).
    pub fn name(self) -> &'static str {
        ["debug", "info", "warning", "error", "fatal"][self as usize]
    }

    /// A `--log-level` value; `None` for one Docker does not know.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "debug" => Some(Level::Debug),
            "info" => Some(Level::Info),
            "warn" => Some(Level::Warn),
            "error" => Some(Level::Error),
            "fatal" => Some(Level::Fatal),
            _ => None,
        }
    }
}

/// From now on, lines below `level` are dropped.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Whether a line at `level` is written (to skip building one that is not).
pub fn enabled(level: Level) -> bool {
    level as u8 >= LEVEL.load(Ordering::Relaxed)
}

/// One line: the message, then `key=value` fields, values quoted as logrus quotes them.
pub fn line(level: Level, msg: &str, fields: &[(&str, &str)]) {
    if !enabled(level) {
        return;
    }
    let mut out = format!("level={} msg={}", level.name(), quoted(msg));
    for (k, v) in fields {
        out.push(' ');
        out.push_str(k);
        out.push('=');
        out.push_str(&value(v));
    }
    eprintln!("{out}");
}

pub fn debug(msg: &str) {
    line(Level::Debug, msg, &[]);
}

pub fn info(msg: &str) {
    line(Level::Info, msg, &[]);
}

pub fn warn(msg: &str) {
    line(Level::Warn, msg, &[]);
}

pub fn error(msg: &str) {
    line(Level::Error, msg, &[]);
}

/// logrus's text formatter quotes a message always and a field's value only when it holds
/// something beyond letters, digits and `-._/@^+`.
fn value(v: &str) -> String {
    let plain = !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || "-._/@^+".contains(c));
    if plain {
        v.to_string()
    } else {
        quoted(v)
    }
}

fn quoted(s: &str) -> String {
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_as_logrus_quotes_them() {
        assert_eq!(value("abc123"), "abc123");
        assert_eq!(value("/var/lib/docker"), "/var/lib/docker");
        assert_eq!(value("two words"), "\"two words\"");
        assert_eq!(value(""), "\"\"");
        assert_eq!(quoted("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(Level::parse("warn").map(Level::name), Some("warning"));
        assert_eq!(Level::parse("trace"), None);
    }
}
