//! Container log drivers, as Docker's daemon/logger has them: `json-file`, `local`, `syslog`
//! and `none`, chosen per container by `HostConfig.LogConfig` (`docker run --log-driver X
//! --log-opt k=v`). Below the daemon: nothing here knows containers beyond [`Info`].
//!
//! - [`validate`] checks a driver and its options with Docker's messages (create, and
//!   dockerd's defaults).
//! - [`Splitter`] cuts a stream into messages as Docker's copier does: one per line, lines
//!   longer than 16 KiB in 16 KiB partial messages sharing an id and the first piece's time.
//! - [`Logger`] writes messages to the driver; [`Reader`] reads back what `docker logs` shows
//!   (json-file, local, and syslog's local cache), across rotated and compressed files.

pub mod jsonfile;
pub mod local;
pub mod logfile;
mod proto;
pub mod syslog;

use crate::jsonlog::Entry;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The drivers this daemon has.
pub const DRIVERS: &[&str] = &["json-file", "local", "syslog", "none"];

/// Docker's other drivers: known names, refused here with a message saying so.
const OTHER_DOCKER_DRIVERS: &[&str] = &["journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs", "gcplogs", "logentries"];

/// Docker's copier buffer: a line longer than this is logged in pieces of this size.
pub const MAX_MESSAGE: usize = 16 << 10;

/// Options every driver takes (Docker's built-in log options): the delivery mode, and the
/// local cache ("dual logging") of drivers that cannot be read back.
const CACHE_OPTS: &[&str] = &["cache-disabled", "cache-max-file", "cache-max-size", "cache-compress", "cache-labels", "cache-labels-regex", "cache-env", "cache-env-regex", "cache-tag"];

/// A log option's value as a string (Docker's options are strings; a JSON number or bool a
/// client sent is taken as its text).
pub fn opt<'a>(opts: &'a Map<String, Value>, key: &str) -> Option<std::borrow::Cow<'a, str>> {
    match opts.get(key)? {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s)),
        Value::Null => None,
        v => Some(std::borrow::Cow::Owned(v.to_string())),
    }
}

/// The `labels-regex` and `env-regex` options of the file drivers compile.
fn check_attribute_regexes(opts: &Map<String, Value>) -> Result<(), String> {
    for key in ["labels-regex", "env-regex"] {
        if let Some(re) = opt(opts, key).filter(|v| !v.is_empty()) {
            crate::regexp::Regex::new(&re)?;
        }
    }
    Ok(())
}

/// Checks a log driver and its options as Docker does at create (and for dockerd's
/// `--log-driver`/`--log-opt` defaults): unknown drivers and options are refused with
/// Docker's messages, and so are values a driver could not start with.
pub fn validate(driver: &str, opts: &Map<String, Value>) -> Result<(), String> {
    let driver = if driver.is_empty() { "json-file" } else { driver };
    if driver == "none" {
        return if opts.is_empty() { Ok(()) } else { Err("invalid logging opts for driver none".into()) };
    }
    let mode = opt(opts, "mode").unwrap_or_default();
    if !matches!(&*mode, "" | "blocking" | "non-blocking") {
        return Err(format!("logger: logging mode not supported: {mode}"));
    }
    if let Some(size) = opt(opts, "max-buffer-size") {
        if mode != "non-blocking" {
            return Err("logger: max-buffer-size option is only supported with 'mode=non-blocking'".into());
        }
        ram_in_bytes(&size).map_err(|e| format!("error parsing option max-buffer-size: {e}"))?;
    }
    if let Some(v) = opt(opts, "cache-disabled").filter(|v| !v.is_empty()) {
        if parse_bool(&v).is_none() {
            return Err(format!("invalid value for option cache-disabled: {v}"));
        }
    }
    if !DRIVERS.contains(&driver) {
        if OTHER_DOCKER_DRIVERS.contains(&driver) {
            return Err(format!("logging driver '{driver}' (HostConfig.LogConfig.Type) is not supported by this daemon: only json-file, local, syslog and none are"));
        }
        return Err(format!("logger: no log driver named '{driver}' is registered"));
    }
    let own: Map<String, Value> = opts.iter().filter(|(k, _)| !matches!(k.as_str(), "mode" | "max-buffer-size") && !CACHE_OPTS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    match driver {
        "json-file" => jsonfile::validate(&own),
        "local" => local::validate(&own),
        _ => syslog::validate(&own),
    }?;
    if driver == "syslog" {
        local::rotation(&cache_opts(opts))?;
    }
    Ok(())
}

/// The options of a driver's local cache (dual logging): the driver's own attribute
/// options, then local's options given with a `cache-` prefix.
fn cache_opts(opts: &Map<String, Value>) -> Map<String, Value> {
    let mut cache: Map<String, Value> = opts.iter().filter(|(k, _)| matches!(k.as_str(), "labels" | "labels-regex" | "env" | "env-regex" | "tag")).map(|(k, v)| (k.clone(), v.clone())).collect();
    cache.extend(opts.iter().filter_map(|(k, v)| Some((k.strip_prefix("cache-")?.to_string(), v.clone()))).filter(|(k, _)| k != "disabled"));
    cache
}

/// What a driver knows of the container it logs for (Docker's logger.Info).
#[derive(Debug, Clone, Default)]
pub struct Info {
    pub id: String,
    /// With or without the leading `/`.
    pub name: String,
    pub entrypoint: String,
    pub args: Vec<String>,
    /// `sha256:<hex>`.
    pub image_id: String,
    pub image_name: String,
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// `<data-root>/containers/<id>`.
    pub dir: PathBuf,
}

impl Info {
    fn short(id: &str) -> &str {
        let id = id.strip_prefix("sha256:").unwrap_or(id);
        &id[..id.len().min(12)]
    }

    /// The fields a `tag` template sees.
    fn template_fields(&self) -> Value {
        let mut command = vec![self.entrypoint.clone()];
        command.extend(self.args.iter().cloned());
        serde_json::json!({
            "ID": Self::short(&self.id), "FullID": self.id, "Name": self.name.trim_start_matches('/'),
            "Command": command.join(" "), "ImageID": Self::short(&self.image_id), "ImageFullID": self.image_id,
            "ImageName": self.image_name, "DaemonName": "docker",
            "Hostname": nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default(),
        })
    }

    /// The `tag` option (a Go template over the container's fields), or `default` when unset.
    pub fn tag(&self, opts: &Map<String, Value>, default: &str) -> Result<String, String> {
        let template = opt(opts, "tag").filter(|t| !t.is_empty()).unwrap_or(std::borrow::Cow::Borrowed(default));
        if template.is_empty() {
            return Ok(String::new());
        }
        crate::template::Template::parse(&template)?.execute(&self.template_fields(), &[])
    }

    /// The attributes `labels`, `labels-regex`, `env` and `env-regex` select (Docker's
    /// ExtraAttributes).
    pub fn extra_attributes(&self, opts: &Map<String, Value>) -> Result<BTreeMap<String, String>, String> {
        let mut extra = BTreeMap::new();
        if let Some(names) = opt(opts, "labels").filter(|v| !v.is_empty()) {
            for l in names.split(',') {
                if let Some(v) = self.labels.get(l) {
                    extra.insert(l.to_string(), v.clone());
                }
            }
        }
        if let Some(re) = opt(opts, "labels-regex").filter(|v| !v.is_empty()) {
            let re = crate::regexp::Regex::new(&re)?;
            for (k, v) in &self.labels {
                if re.is_match(k) {
                    extra.insert(k.clone(), v.clone());
                }
            }
        }
        let env: BTreeMap<&str, &str> = self.env.iter().filter_map(|e| e.split_once('=')).collect();
        if let Some(names) = opt(opts, "env").filter(|v| !v.is_empty()) {
            for l in names.split(',') {
                if let Some(v) = env.get(l) {
                    extra.insert(l.to_string(), v.to_string());
                }
            }
        }
        if let Some(re) = opt(opts, "env-regex").filter(|v| !v.is_empty()) {
            let re = crate::regexp::Regex::new(&re)?;
            for (k, v) in &env {
                if re.is_match(k) {
                    extra.insert(k.to_string(), v.to_string());
                }
            }
        }
        Ok(extra)
    }

    /// Attributes plus the `tag` attribute when the option is set (json-file and local).
    fn attributes_with_tag(&self, opts: &Map<String, Value>) -> Result<BTreeMap<String, String>, String> {
        let mut attrs = self.extra_attributes(opts)?;
        if opt(opts, "tag").is_some_and(|t| !t.is_empty()) {
            let tag = self.tag(opts, "")?;
            if !tag.is_empty() {
                attrs.insert("tag".into(), tag);
            }
        }
        Ok(attrs)
    }
}

/// Where a long line stands: Docker's PartialLogMetaData.
#[derive(Debug, Clone, PartialEq)]
pub struct Partial {
    pub id: String,
    /// 1 for the first piece.
    pub ordinal: u32,
    pub last: bool,
}

/// One log message: a line without its newline, or a piece of a long line.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    /// `stdout` or `stderr`.
    pub source: &'a str,
    pub line: &'a [u8],
    pub time: SystemTime,
    pub partial: Option<Partial>,
}

impl Message<'_> {
    /// Whether the message ends a line (its text gets a newline back when read).
    pub fn ends_line(&self) -> bool {
        self.partial.as_ref().is_none_or(|p| p.last)
    }
}

/// Cuts one output stream into messages as Docker's copier does.
#[derive(Debug, Default)]
pub struct Splitter {
    pending: Vec<u8>,
    /// The long line being logged in pieces: its id, the last ordinal used, its time.
    partial: Option<(String, u32, SystemTime)>,
}

impl Splitter {
    /// Takes a chunk of the stream; each complete line, and each 16 KiB piece of a longer
    /// one, goes to `out`, timed by `clock` as it goes (each line its own time, as Docker's).
    pub fn feed(&mut self, source: &str, data: &[u8], clock: &mut dyn FnMut() -> SystemTime, out: &mut dyn FnMut(&Message)) {
        // Whole lines are cut straight from `data`; only an unfinished line is kept (the
        // common case copies nothing).
        if self.pending.is_empty() {
            let used = self.split(source, data, clock, out);
            self.pending.extend_from_slice(&data[used..]);
            return;
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend_from_slice(data);
        let used = self.split(source, &pending, clock, out);
        pending.drain(..used);
        if pending.capacity() > 2 * MAX_MESSAGE && pending.len() < MAX_MESSAGE {
            pending.shrink_to(MAX_MESSAGE);
        }
        self.pending = pending;
    }

    /// Logs the lines and 16 KiB pieces at the start of `buf`; what it used.
    fn split(&mut self, source: &str, buf: &[u8], clock: &mut dyn FnMut() -> SystemTime, out: &mut dyn FnMut(&Message)) -> usize {
        let mut start = 0;
        loop {
            let rest = &buf[start..];
            // Docker's copier sees at most 16 KiB at a time: a newline further on is not yet
            // in view when the piece before it is logged.
            if let Some(pos) = rest[..rest.len().min(MAX_MESSAGE)].iter().position(|&b| b == b'\n') {
                let (partial, time) = match self.partial.take() {
                    Some((id, ordinal, t)) => (Some(Partial { id, ordinal: ordinal + 1, last: true }), t),
                    None => (None, clock()),
                };
                out(&Message { source, line: &rest[..pos], time, partial });
                start += pos + 1;
            } else if rest.len() >= MAX_MESSAGE {
                let piece = self.next_piece(source, clock());
                out(&piece.as_message(&rest[..MAX_MESSAGE]));
                start += MAX_MESSAGE;
            } else {
                return start;
            }
        }
    }

    /// The stream ended: a last line without its newline is logged as a piece, as Docker does.
    pub fn finish(&mut self, source: &str, now: SystemTime, out: &mut dyn FnMut(&Message)) {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            out(&self.next_piece(source, now).as_message(&rest));
        }
        self.partial = None;
    }

    /// The metadata of the next piece of a long line (a new line's first piece gets a new
    /// id and `now` as the time of all its pieces).
    fn next_piece(&mut self, source: &str, now: SystemTime) -> OwnedMessage {
        let (id, ordinal, time) = match self.partial.take() {
            Some((id, ordinal, t)) => (id, ordinal + 1, t),
            None => (crate::ids::new_id(), 1, now),
        };
        self.partial = Some((id.clone(), ordinal, time));
        OwnedMessage { source: source.to_string(), time, partial: Partial { id, ordinal, last: false } }
    }
}

struct OwnedMessage {
    source: String,
    time: SystemTime,
    partial: Partial,
}

impl OwnedMessage {
    fn as_message<'a>(&'a self, line: &'a [u8]) -> Message<'a> {
        Message { source: &self.source, line, time: self.time, partial: Some(self.partial.clone()) }
    }
}

/// Appends the entries of one file's bytes.
type Decoder = fn(&[u8], &mut Vec<Entry>);

/// The files of a driver that can be read back.
#[derive(Debug, Clone, PartialEq)]
pub enum Reader {
    /// `<id>-json.log` and its rotations.
    JsonFile(PathBuf),
    /// `local-logs/container.log` (or syslog's `container-cached.log`) and its rotations.
    Local(PathBuf),
}

impl Reader {
    /// How `docker logs` reads a container with this driver; `None` when it cannot
    /// (`none`, or syslog with `cache-disabled`).
    pub fn for_container(driver: &str, opts: &Map<String, Value>, dir: &Path, id: &str) -> Option<Reader> {
        match driver {
            "" | "json-file" => Some(Reader::JsonFile(dir.join(format!("{id}-json.log")))),
            "local" => Some(Reader::Local(local::log_path(dir))),
            "syslog" if syslog::cache_enabled(opts) => Some(Reader::Local(dir.join("container-cached.log"))),
            _ => None,
        }
    }

    /// Every entry, oldest first, across rotated and compressed files. A complete line's
    /// `log` ends in a newline; a piece of a long line does not.
    pub fn read_all(&self) -> Vec<Entry> {
        self.read_last(None)
    }

    /// The last `tail` entries (all with `None`), oldest first: files are read newest first
    /// and older ones only while more entries are wanted, so `--tail` does not decompress
    /// the whole history.
    pub fn read_last(&self, tail: Option<usize>) -> Vec<Entry> {
        let (path, decode): (&Path, Decoder) = match self {
            Reader::JsonFile(p) => (p, jsonfile::decode),
            Reader::Local(p) => (p, local::decode),
        };
        let mut per_file: Vec<Vec<Entry>> = Vec::new();
        let mut count = 0;
        for f in logfile::files_oldest_first(path).iter().rev() {
            if tail.is_some_and(|n| count >= n) {
                break;
            }
            let mut entries = Vec::new();
            if let Ok(data) = logfile::read_whole(f) {
                decode(&data, &mut entries);
            }
            count += entries.len();
            per_file.push(entries);
        }
        let mut out: Vec<Entry> = per_file.into_iter().rev().flatten().collect();
        if let Some(n) = tail {
            out.drain(..out.len().saturating_sub(n));
        }
        out
    }
}

enum Sink {
    JsonFile(jsonfile::Writer),
    Local(local::Writer),
    Syslog(Box<syslog::Writer>, Option<local::Writer>),
    None,
}

/// A container's open log driver.
pub struct Logger {
    sink: Sink,
    /// The container's short id, for the daemon's error messages.
    id: String,
    /// Set while writes fail: the error is reported once per run of failures.
    failing: bool,
}

impl Logger {
    /// Opens the driver for a run of the container (a syslog connection, the log files with
    /// their sizes so far). The error is Docker's, to follow "failed to initialize logging
    /// driver: ".
    pub fn open(driver: &str, opts: &Map<String, Value>, info: &Info) -> Result<Logger, String> {
        let sink = match driver {
            "" | "json-file" => Sink::JsonFile(jsonfile::Writer::open(opts, info)?),
            "local" => Sink::Local(local::Writer::open(&local::log_path(&info.dir), opts, info)?),
            "syslog" => {
                let cache = if syslog::cache_enabled(opts) {
                    Some(local::Writer::open(&info.dir.join("container-cached.log"), &cache_opts(opts), info).map_err(|e| format!("error setting up local container log cache: {e}"))?)
                } else {
                    None
                };
                Sink::Syslog(Box::new(syslog::Writer::open(opts, info)?), cache)
            }
            "none" => Sink::None,
            d => return Err(format!("logger: no log driver named '{d}' is registered")),
        };
        Ok(Logger { sink, id: Info::short(&info.id).to_string(), failing: false })
    }

    /// A logger that keeps nothing.
    pub fn none() -> Logger {
        Logger { sink: Sink::None, id: String::new(), failing: false }
    }

    fn driver_name(&self) -> &'static str {
        match self.sink {
            Sink::JsonFile(_) => "json-file",
            Sink::Local(_) => "local",
            Sink::Syslog(..) => "syslog",
            Sink::None => "none",
        }
    }

    /// Writes one message.
    pub fn log(&mut self, m: &Message) -> io::Result<()> {
        match &mut self.sink {
            Sink::JsonFile(w) => w.log(m),
            Sink::Local(w) => w.log(m),
            Sink::Syslog(w, cache) => {
                let sent = w.log(m);
                let cached = cache.as_mut().map_or(Ok(()), |c| c.log(m));
                sent.and(cached)
            }
            Sink::None => Ok(()),
        }
    }

    /// Writes one message; a failure (a full disk, a syslog gone) is reported on dockerd's
    /// stderr once per run of failures and never stops the container's output.
    pub fn log_or_report(&mut self, m: &Message) {
        match self.log(m) {
            Ok(()) => self.failing = false,
            Err(e) => {
                if !self.failing {
                    crate::log::line(crate::log::Level::Error, "Error writing log message", &[("container", &self.id), ("driver", self.driver_name()), ("error", &e.to_string())]);
                }
                self.failing = true;
            }
        }
    }
}

/// Go's strconv.ParseBool.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// go-units' FromHumanSize: decimal multiples (`10m` is 10,000,000 bytes).
pub fn from_human_size(s: &str) -> Result<i64, String> {
    human_size(s, 1000)
}

/// go-units' RAMInBytes: binary multiples (`1m` is 1 MiB).
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    human_size(s, 1024)
}

fn human_size(s: &str, base: i64) -> Result<i64, String> {
    let bad = || format!("invalid size: '{s}'");
    let digits_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits_end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(bad());
    }
    let n: f64 = num.parse().map_err(|_| bad())?;
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let power = match unit {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => return Err(bad()),
    };
    Ok((n * (base as f64).powi(power)) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn validation_messages_are_dockers() {
        assert_eq!(validate("json-file", &opts(json!({"x": "1"}))).unwrap_err(), "unknown log opt 'x' for json-file log driver");
        assert_eq!(validate("local", &opts(json!({"x": "1"}))).unwrap_err(), "unknown log opt 'x' for log driver local");
        assert_eq!(validate("syslog", &opts(json!({"x": "1"}))).unwrap_err(), "unknown log opt 'x' for syslog log driver");
        assert_eq!(validate("bogus", &opts(json!({}))).unwrap_err(), "logger: no log driver named 'bogus' is registered");
        assert!(validate("gelf", &opts(json!({}))).unwrap_err().contains("'gelf'"));
        assert_eq!(validate("json-file", &opts(json!({"mode": "x"}))).unwrap_err(), "logger: logging mode not supported: x");
        assert_eq!(validate("json-file", &opts(json!({"max-buffer-size": "1m"}))).unwrap_err(), "logger: max-buffer-size option is only supported with 'mode=non-blocking'");
        assert_eq!(validate("json-file", &opts(json!({"max-file": "0"}))).unwrap_err(), "max-file cannot be less than 1");
        assert_eq!(validate("json-file", &opts(json!({"max-size": "0"}))).unwrap_err(), "max-size must be a positive number");
        assert_eq!(validate("json-file", &opts(json!({"compress": "true", "max-file": "3"}))).unwrap_err(), "compress cannot be true when max-file is less than 2 or max-size is not set");
        assert_eq!(validate("local", &opts(json!({"max-file": "1"}))).unwrap_err(), "compression cannot be enabled when max file count is 1");
        assert_eq!(validate("none", &opts(json!({"a": "b"}))).unwrap_err(), "invalid logging opts for driver none");
        validate("", &opts(json!({"max-size": "10k", "max-file": "3", "compress": "true", "labels": "a", "env": "B", "tag": "{{.Name}}"}))).unwrap();
        validate("local", &opts(json!({"max-file": "1", "compress": "false"}))).unwrap();
        validate("json-file", &opts(json!({"mode": "non-blocking", "max-buffer-size": "4m", "cache-disabled": "true"}))).unwrap();
    }

    #[test]
    fn sizes_are_go_units() {
        assert_eq!(from_human_size("10m").unwrap(), 10_000_000);
        assert_eq!(from_human_size("1.5k").unwrap(), 1500);
        assert_eq!(from_human_size("20MB").unwrap(), 20_000_000);
        assert_eq!(from_human_size("100").unwrap(), 100);
        assert_eq!(ram_in_bytes("1m").unwrap(), 1 << 20);
        assert!(from_human_size("x").is_err());
        assert!(from_human_size("1q").is_err());
    }

    #[test]
    fn long_lines_are_split_in_pieces_sharing_an_id_and_time() {
        let mut s = Splitter::default();
        let mut got: Vec<(Vec<u8>, Option<Partial>, SystemTime)> = Vec::new();
        let t0 = SystemTime::UNIX_EPOCH;
        let t1 = t0 + std::time::Duration::from_secs(1);
        let mut data = vec![b'a'; MAX_MESSAGE + 10];
        data.extend_from_slice(b"\nshort\ntail");
        s.feed("stdout", &data[..100], &mut || t0, &mut |m| got.push((m.line.to_vec(), m.partial.clone(), m.time)));
        s.feed("stdout", &data[100..], &mut || t1, &mut |m| got.push((m.line.to_vec(), m.partial.clone(), m.time)));
        s.finish("stdout", t1, &mut |m| got.push((m.line.to_vec(), m.partial.clone(), m.time)));
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].0.len(), MAX_MESSAGE);
        let p0 = got[0].1.clone().unwrap();
        assert_eq!((p0.ordinal, p0.last), (1, false));
        assert_eq!(got[1].0, vec![b'a'; 10]);
        let p1 = got[1].1.clone().unwrap();
        assert_eq!((p1.id == p0.id, p1.ordinal, p1.last), (true, 2, true));
        assert_eq!(got[1].2, got[0].2);
        assert_eq!((got[2].0.as_slice(), got[2].1.is_none()), (&b"short"[..], true));
        assert_eq!(got[3].0, b"tail");
        assert!(!got[3].1.as_ref().unwrap().last);
    }

    #[test]
    fn tags_and_attributes() {
        let info = Info { id: "0123456789abcdef".into(), name: "/web".into(), image_name: "busybox".into(), env: vec!["A=1".into(), "B_X=2".into()], labels: [("l1".to_string(), "v".to_string())].into(), ..Default::default() };
        assert_eq!(info.tag(&opts(json!({})), "{{.ID}}").unwrap(), "0123456789ab");
        assert_eq!(info.tag(&opts(json!({"tag": "x/{{.Name}}/{{.ImageName}}"})), "").unwrap(), "x/web/busybox");
        let a = info.attributes_with_tag(&opts(json!({"labels": "l1,zz", "env-regex": "^B", "tag": "t"}))).unwrap();
        assert_eq!(a, [("l1".to_string(), "v".to_string()), ("B_X".to_string(), "2".to_string()), ("tag".to_string(), "t".to_string())].into());
    }
}
