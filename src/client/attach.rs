//! Attaching to a container's streams, as `docker run`, `docker start -a` and `docker attach`
//! do: the hijacked connection, our stdin copied in (raw mode and the detach keys with a
//! tty), the output copied out (raw with a tty, else demultiplexed), the terminal's size sent
//! at the start and on each SIGWINCH; and the `attach` command itself.

use super::api::{seg, Api, ApiError};
use super::flags::{flag, Kind, Parsed};
use super::tty::{self, RawMode};
use crate::detach_keys::CopyEnd;
use super::{Args, Command, Ctx, Failure};
use nix::sys::signal::{SigSet, Signal};
use std::io::{self, Read, Write};
use crate::http::client::Response;
use serde_json::Value;
use std::sync::mpsc;
use std::time::Duration;

pub const COMMANDS: &[Command] = &[Command {
    name: "attach",
    usage: "docker attach [OPTIONS] CONTAINER",
    short: "Attach local standard input, output, and error streams to a running container",
    args: Args::Exact(1),
    interspersed: true,
    flags: &[
        flag("detach-keys", None, Kind::Value, "Override the key sequence for detaching a container"),
        flag("no-stdin", None, Kind::Bool, "Do not attach STDIN"),
        flag("sig-proxy", None, Kind::Bool, "Proxy all received signals to the process (default true)"),
    ],
    run: attach_cmd,
}];

/// What to attach to.
pub struct Streams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// The container has a terminal: raw output, raw mode and detach keys for our stdin.
    pub tty: bool,
    /// The `detachKeys` notation (empty for the default) and its bytes, from [`tty::detach_keys`].
    pub detach_keys: (String, Vec<u8>),
}

/// How an attach ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The output ended (the container's run is over, or the daemon ended the attach).
    Output,
    /// The user typed the detach keys.
    Detached,
}

/// A running attach.
pub struct Attached {
    events: mpsc::Receiver<End>,
    raw: Option<RawMode>,
}

impl Attached {
    /// Blocks until the output ends (the daemon ends the stream even when no output was
    /// asked for) or the user detaches; the terminal is restored either way.
    pub fn wait(self) -> End {
        let end = self.events.recv().unwrap_or(End::Output);
        if let Some(raw) = &self.raw {
            raw.restore();
        }
        end
    }
}

/// Opens the attach (`POST /containers/{id}/attach`, hijacked) and starts copying.
pub fn attach(api: &Api, id: &str, s: &Streams) -> Result<Attached, ApiError> {
    let b = |v: bool| if v { "1" } else { "0" }.to_string();
    let mut query = vec![("stream", "1".to_string()), ("stdin", b(s.stdin)), ("stdout", b(s.stdout)), ("stderr", b(s.stderr))];
    if !s.detach_keys.0.is_empty() {
        query.push(("detachKeys", s.detach_keys.0.clone()));
    }
    let resp = api.call("POST", &format!("/containers/{}/attach", seg(id)), &query, None, &[("Connection", "Upgrade"), ("Upgrade", "tcp")])?;
    let (reader, writer) = resp.into_raw().map_err(|e| ApiError::Io(e.to_string()))?;
    Ok(stream(reader, writer, s))
}

/// Copies our stdin into a hijacked connection and its output to our stdout/stderr, as `s`
/// says (an exec's `POST /exec/{id}/start` hijack works the same way).
pub fn stream(mut reader: std::io::BufReader<crate::http::Conn>, mut writer: crate::http::Conn, s: &Streams) -> Attached {
    let raw = (s.tty && s.stdin && super::is_terminal(0)).then(RawMode::enter);
    let (tx, events) = mpsc::channel();
    if s.stdin {
        let tx = tx.clone();
        let keys = if s.tty { s.detach_keys.1.clone() } else { Vec::new() };
        let raw = raw.clone();
        std::thread::spawn(move || {
            if tty::copy_input(io::stdin().lock(), &mut writer, &keys) == CopyEnd::Detached {
                if let Some(raw) = &raw {
                    raw.restore();
                }
                // Told before the connection goes down, so it is the first news `wait` gets.
                let _ = tx.send(End::Detached);
                let _ = writer.shutdown(std::net::Shutdown::Both);
            }
        });
    } else {
        let _ = writer.shutdown(std::net::Shutdown::Write);
    }
    let tty = s.tty;
    let raw_out = raw.clone();
    std::thread::spawn(move || {
        let (mut o, mut e) = (io::stdout(), io::stderr());
        if tty {
            // Each piece goes out at once: stdout is line-buffered, and a prompt has no newline.
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || o.write_all(&buf[..n]).and_then(|()| o.flush()).is_err() {
                    break;
                }
            }
        } else if let Err(err) = crate::stdcopy::demux(&mut reader, &mut o, &mut e) {
            if err.kind() != io::ErrorKind::UnexpectedEof && err.kind() != io::ErrorKind::ConnectionReset {
                eprintln!("{err}");
            }
        }
        // The terminal comes back as soon as the output ends, before anything else prints.
        if let Some(raw) = &raw_out {
            raw.restore();
        }
        let _ = tx.send(End::Output);
    });
    Attached { events, raw }
}

/// A second handle on the same daemon, for threads that outlive a borrow of `api`.
fn api_copy(api: &Api) -> Api {
    Api { endpoint: api.endpoint.clone(), version: api.version.clone(), server_version: api.server_version.clone() }
}

/// Sets the container's terminal to `height` × `width`.
pub fn resize_to(api: &Api, id: &str, height: u16, width: u16) -> Result<(), ApiError> {
    api.call("POST", &format!("/containers/{}/resize", seg(id)), &[("h", height.to_string()), ("w", width.to_string())], None, &[]).map(drop)
}

/// Sends our terminal's size now (retrying briefly, as Docker's client does, for a task
/// still starting) and at each SIGWINCH. Needs [`tty::block_resize_signal`] at the start of
/// the command. `path` is the resize endpoint (`/containers/{id}/resize` or an exec's).
pub fn monitor_size(api: &Api, path: String) {
    let send = move |api: &Api| -> bool {
        match tty::size(1) {
            Some((h, w)) => api.call("POST", &path, &[("h", h.to_string()), ("w", w.to_string())], None, &[]).is_ok(),
            None => true,
        }
    };
    if !send(api) {
        let retry_api = api_copy(api);
        let send = send.clone();
        std::thread::spawn(move || {
            for attempt in 1..=10u64 {
                std::thread::sleep(std::time::Duration::from_millis(attempt * 10));
                if send(&retry_api) {
                    return;
                }
            }
            eprintln!("failed to resize tty, using default size");
        });
    }
    let watcher_api = api_copy(api);
    tty::watch_resize(move || {
        send(&watcher_api);
    });
}

/// The resize endpoint of a container.
pub fn resize_path(id: &str) -> String {
    format!("/containers/{}/resize", seg(id))
}

/// The signals `--sig-proxy` passes on (those a terminal or `kill` sends a foreground
/// program; SIGCHLD, SIGPIPE, SIGWINCH and the like are the client's own).
const PROXIED: &[Signal] = &[Signal::SIGHUP, Signal::SIGINT, Signal::SIGQUIT, Signal::SIGTERM, Signal::SIGUSR1, Signal::SIGUSR2, Signal::SIGALRM, Signal::SIGCONT, Signal::SIGTSTP];

fn proxied_set() -> SigSet {
    let mut set = SigSet::empty();
    for s in PROXIED {
        set.add(*s);
    }
    set
}

/// Blocks the proxied signals in this thread and the threads it starts afterwards (call
/// before starting any), then passes each one that arrives to the container.
pub fn proxy_signals(api: &Api, id: &str) {
    let set = proxied_set();
    let _ = set.thread_block();
    let api = api_copy(api);
    let path = format!("/containers/{}/kill", seg(id));
    let _ = std::thread::Builder::new().name("sig-proxy".into()).spawn(move || loop {
        match set.wait() {
            Ok(sig) => {
                let _ = api.call("POST", &path, &[("signal", (sig as i32).to_string())], None, &[]);
            }
            Err(_) => return,
        }
    });
}

/// Docker's refusals for a container that cannot be attached to.
fn check_state(c: &serde_json::Value) -> Result<(), Failure> {
    if c["State"]["Running"] != true {
        return Err(Failure::new("You cannot attach to a stopped container, start it first", 1));
    }
    if c["State"]["Paused"] == true {
        return Err(Failure::new("You cannot attach to a paused container, unpause it first", 1));
    }
    if c["State"]["Restarting"] == true {
        return Err(Failure::new("You cannot attach to a restarting container, wait until it is running", 1));
    }
    Ok(())
}

fn attach_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    tty::block_resize_signal();
    let detach_keys = tty::detach_keys(p.value("detach-keys")).map_err(|e| Failure::new(e, 1))?;
    let api = ctx.api()?;
    let name = &p.args[0];
    let inspect = |api: &Api| api.json("GET", &format!("/containers/{}/json", seg(name)), &[], None).map_err(Failure::from);
    let c = inspect(api)?;
    let id = c["Id"].as_str().unwrap_or(name).to_string();
    check_state(&c)?;
    let has_tty = c["Config"]["Tty"] == true;
    let stdin = !p.bool("no-stdin") && c["Config"]["OpenStdin"] == true;
    tty::require_input_terminal(has_tty, stdin)?;
    // Before any thread starts, so none of them takes a signal meant for the container.
    if p.value("sig-proxy") != Some("false") && !has_tty {
        proxy_signals(api, &id);
    }
    // Registered before attaching, so the exit cannot come first.
    let wait = wait_for_exit(api, &id, "not-running");
    let attached = attach(api, &id, &Streams { stdin, stdout: true, stderr: true, tty: has_tty, detach_keys })?;
    check_state(&inspect(api)?)?;
    if has_tty && super::is_terminal(1) {
        // A size other than the last makes the program redraw (its prompt), as Docker does.
        if let Some((h, w)) = tty::size(1) {
            let _ = resize_to(api, &id, h + 1, w + 1);
        }
        monitor_size(api, resize_path(&id));
    }
    if attached.wait() == End::Detached {
        return Err(Failure::new("read escape sequence", 1));
    }
    match wait.recv() {
        Ok(Ok(v)) => {
            if let Some(m) = v["Error"]["Message"].as_str().filter(|m| !m.is_empty()) {
                return Err(Failure::new(m, 1));
            }
            Ok(v["StatusCode"].as_i64().unwrap_or(0) as i32)
        }
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(Failure::new("wait ended without an answer", 1)),
    }
}

/// Registers a wait before the container starts, so its exit cannot be missed. The head
/// arrives once the daemon has registered (moby flushes it at once); a daemon that holds it
/// back gets a short grace period instead.
pub(super) fn wait_for_exit(api: &Api, id: &str, condition: &str) -> mpsc::Receiver<Result<Value, ApiError>> {
    let (head_tx, head_rx) = mpsc::channel::<()>();
    let (tx, rx) = mpsc::channel();
    let endpoint = api.endpoint.clone();
    let version = api.version.clone();
    let server_version = api.server_version.clone();
    let path = format!("/containers/{}/wait", seg(id));
    let condition = condition.to_string();
    std::thread::spawn(move || {
        let api = Api { endpoint, version, server_version };
        let result = api.call("POST", &path, &[("condition", condition)], None, &[]).and_then(|resp: Response| {
            let _ = head_tx.send(());
            resp.json().map_err(|e| ApiError::Io(e.to_string()))
        });
        let _ = tx.send(result);
    });
    let _ = head_rx.recv_timeout(Duration::from_secs(2));
    rx
}
