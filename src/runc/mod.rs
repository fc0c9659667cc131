//! docker-runc: the OCI runtime, with runc's command line (create, start, run, state, list,
//! kill, delete, spec; update, pause, resume, events, ps in `manage`) and runc's error
//! texts, logs and exit codes.
//!
//! Errors are printed to stderr and, with `--log FILE`, also appended to FILE; with
//! `--log-format json` each log line is `{"level":"error","msg":"...","time":"RFC3339"}`,
//! which is where containerd-style callers read the reason of a failure.

mod cgroupfs;
mod cli;
pub mod console;
mod container;
mod debuglog;
mod exec;
mod features;
mod flags;
mod help;
mod hooks;
mod init;
mod manage;
mod procfs;
mod rootfs;
mod sealed;
mod seccomp_agent;
mod security;
mod spawn;
mod state;
mod userns;

use std::io::Write;

/// Global options (before the command).
#[derive(Debug, Clone)]
pub struct Global {
    pub root: std::path::PathBuf,
    pub log: Option<std::path::PathBuf>,
    pub log_json: bool,
    pub debug: bool,
}

impl Default for Global {
    fn default() -> Self {
        Global { root: "/run/runc".into(), log: None, log_json: false, debug: false }
    }
}

/// A failure with runc's message; `usage` errors also print the command's help.
#[derive(Debug)]
pub struct Error {
    pub msg: String,
    pub code: i32,
}

impl Error {
    pub fn new(msg: impl Into<String>) -> Error {
        Error { msg: msg.into(), code: 1 }
    }
}

impl From<String> for Error {
    fn from(s: String) -> Error {
        Error::new(s)
    }
}

impl From<&str> for Error {
    fn from(s: &str) -> Error {
        Error::new(s)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Time as logrus prints it: RFC 3339 in UTC, whole seconds.
fn log_time() -> String {
    let full = crate::sys::rfc3339_nanos(std::time::SystemTime::now());
    format!("{}Z", &full[..19])
}

/// One log record in text (logrus) or json form, newline-terminated.
fn format_log(level: &str, msg: &str, json: bool) -> String {
    if json {
        let line = serde_json::json!({"level": level, "msg": msg, "time": log_time()});
        format!("{line}\n")
    } else {
        format!("time=\"{}\" level={} msg={}\n", log_time(), level, serde_json::Value::from(msg))
    }
}

impl Global {
    /// Writes a log record to --log (or stderr when there is none).
    pub fn log(&self, level: &str, msg: &str) {
        if level == "debug" && !self.debug {
            return;
        }
        let line = format_log(level, msg, self.log_json);
        match &self.log {
            Some(path) => {
                if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
                    let _ = f.write_all(line.as_bytes());
                }
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }

    /// A debug record, its text built only with `--debug` (the hot path formats nothing).
    pub fn debug(&self, msg: impl FnOnce() -> String) {
        if self.debug {
            self.log("debug", &msg());
        }
    }

    /// Reports a fatal error the way runc does: logged, and also printed plainly on stderr
    /// when the log goes to a file.
    pub fn fatal(&self, msg: &str) {
        self.log("error", msg);
        if self.log.is_some() {
            eprintln!("{msg}");
        }
    }
}

/// The names this runtime answers to, the seed name first: the applet table lists them, and
/// containerd and the shim recognise a runtime named so as this executable's own.
pub const APPLET_NAMES: &[&str] = &["docker-runc", "runc"];

/// Whether an applet name (a basename) selects this runtime.
pub fn is_applet_name(name: &str) -> bool {
    APPLET_NAMES.contains(&name)
}

pub fn main(args: Vec<String>) -> i32 {
    let (global, rest) = match cli::parse_global(&args[1..]) {
        Ok(x) => x,
        Err(e) => {
            Global::default().fatal(&e.msg);
            return e.code;
        }
    };
    if rest.first().is_some_and(|c| sealed::needed(c)) {
        if let Err(e) = sealed::reexec_if_needed(&args) {
            global.fatal(&e);
            return 1;
        }
    }
    match cli::run_command(&global, &rest) {
        Ok(code) => code,
        Err(e) => {
            global.fatal(&e.msg);
            e.code
        }
    }
}
