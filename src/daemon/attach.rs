//! Attaching a client to a container, the way Docker does it: the container's output (the
//! log so far and/or the live stream) goes out, the client's input goes to the container's
//! stdin ([`super::stdin`]). With a terminal dockerd watches the input for the detach keys
//! and ends the attach when they come (the container runs on); at the end of the client's
//! input, `StdinOnce` (without a terminal) closes the container's stdin, otherwise the attach
//! ends. Also the terminal's size (`resize`).

use super::errors::ApiError;
use super::streams::{write_chunk, Chunk};
use super::{Daemon, Entry};
use crate::detach_keys::CopyEnd;
use crate::jsonlog;
use crate::stdcopy::StreamType;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

/// What the client asked for (the attach query).
pub struct Options {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub logs: bool,
    pub stream: bool,
    /// The `detachKeys` query, in Docker's notation; empty for the default.
    pub detach_keys: String,
}

/// The bytes of a `detachKeys` notation (an attach query's, an exec's `DetachKeys`; empty
/// for the default), or Docker's 400.
pub fn detach_keys(notation: &str) -> Result<Vec<u8>, ApiError> {
    crate::detach_keys::parse_or_default(notation).map_err(|_| ApiError::bad_request(format!("Invalid detach keys ({notation}) provided")))
}

/// An attach decided on, its output subscription taken (so nothing the container writes
/// after the request is missed), waiting for the client's streams.
pub struct Session {
    d: Arc<Daemon>,
    entry: Arc<Entry>,
    id: String,
    tty: bool,
    stdin_once: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    detach_keys: Vec<u8>,
    history: Vec<jsonlog::Entry>,
    live: Option<(Sender<Chunk>, Receiver<Chunk>)>,
}

/// Ends the client's connection (both ways), from whichever side finishes first.
pub type Closer = Arc<dyn Fn() + Send + Sync>;

impl Session {
    pub fn new(d: &Arc<Daemon>, entry: Arc<Entry>, opts: &Options) -> Result<Session, ApiError> {
        let detach_keys = detach_keys(&opts.detach_keys)?;
        let (id, tty, open_stdin, stdin_once, log_path) = {
            let s = entry.lock();
            let once = s.c.config.get("StdinOnce").and_then(serde_json::Value::as_bool).unwrap_or(false);
            d.events.container(&s.c, "attach", &[]);
            (s.c.id.clone(), s.c.tty(), s.c.open_stdin(), once, s.c.log_reader(&d.opts.data_root))
        };
        let log_path = log_path.as_ref();
        let (history, live) = match (opts.logs, opts.stream) {
            (true, true) => {
                let (tx, rx) = channel();
                (entry.output.log_then_subscribe_sender(log_path, tx.clone()), Some((tx, rx)))
            }
            (true, false) => (entry.output.log_then_subscribe(log_path, None, false).0, None),
            (false, true) => {
                let (tx, rx) = channel();
                entry.output.subscribe_sender(tx.clone());
                (Vec::new(), Some((tx, rx)))
            }
            (false, false) => (Vec::new(), None),
        };
        Ok(Session {
            d: d.clone(),
            entry,
            id,
            tty,
            stdin_once,
            stdin: opts.stdin && open_stdin && opts.stream,
            stdout: opts.stdout,
            stderr: opts.stderr,
            detach_keys,
            history,
            live,
        })
    }

    /// Whether the container has a terminal (its output is then one raw stream).
    pub fn tty(&self) -> bool {
        self.tty
    }

    /// Runs the attach until the output ends, the client detaches or goes away; `close`
    /// ends the client's connection. `socket` (the connection, duplicated) is watched for a
    /// hang-up when the client's input is not read: without it an attach to a quiet
    /// container would outlive its client.
    pub fn run(self, input: Box<dyn Read + Send>, output: &mut dyn Write, multiplexed: bool, close: Closer, socket: Option<OwnedFd>) {
        let cancelled = Arc::new(AtomicBool::new(false));
        let Session { d, entry, id, tty, stdin_once, stdin, stdout, stderr, detach_keys, history, live } = self;
        let (end_tx, rx) = match live {
            Some((tx, rx)) => (Some(tx), Some(rx)),
            None => (None, None),
        };
        if let (false, Some(fd), Some(tx)) = (stdin, socket, end_tx.clone()) {
            let cancelled = cancelled.clone();
            let _ = std::thread::Builder::new().name("attach-hangup".into()).stack_size(64 << 10).spawn(move || {
                if wait_for_hangup(&fd, &cancelled) {
                    let _ = tx.send(Chunk::End);
                }
            });
        }
        if stdin {
            let cancelled = cancelled.clone();
            let close = close.clone();
            let spawned = std::thread::Builder::new().name("attach-stdin".into()).stack_size(128 << 10).spawn(move || {
                let keys: &[u8] = if tty { &detach_keys } else { &[] };
                let outcome = crate::detach_keys::copy(input, keys, |data| entry.input.write(data, &cancelled));
                match outcome {
                    CopyEnd::Eof | CopyEnd::WriteFailed if stdin_once && !tty => {
                        if entry.input.close(&cancelled) {
                            if let Err(e) = d.containerd.close_stdin(&id) {
                                crate::log::line(crate::log::Level::Error, "closing the container's stdin", &[("container", &id), ("error", &e.to_string())]);
                            }
                        }
                    }
                    // Docker ends the attach when the input ends (or detaches) otherwise.
                    _ => {
                        if let Some(tx) = end_tx {
                            let _ = tx.send(Chunk::End);
                        } else {
                            close();
                        }
                    }
                }
            });
            if let Err(e) = spawned {
                crate::log::error(&format!("cannot start an attach thread: {e}"));
            }
        }
        let wanted = |s: StreamType| (s == StreamType::Stdout && stdout) || (s == StreamType::Stderr && stderr);
        'out: {
            for entry in history {
                let s = if entry.stream == "stderr" { StreamType::Stderr } else { StreamType::Stdout };
                if wanted(s) && write_chunk(output, s, entry.log.as_bytes(), multiplexed).is_err() {
                    break 'out;
                }
            }
            for chunk in rx.into_iter().flatten() {
                match chunk {
                    Chunk::Data(s, data) => {
                        if wanted(s) && write_chunk(output, s, &data, multiplexed).is_err() {
                            break;
                        }
                    }
                    Chunk::End => break,
                }
            }
        }
        cancelled.store(true, Ordering::Relaxed);
        close();
    }
}

/// Waits until the peer has closed the connection entirely (POLLHUP, as Docker watches:
/// a client that only shut down its writing side, having no input, is still there), or the
/// attach ended. True on a hang-up.
fn wait_for_hangup(fd: &OwnedFd, cancelled: &AtomicBool) -> bool {
    while !cancelled.load(Ordering::Relaxed) {
        let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: 0, revents: 0 };
        // SAFETY: one valid pollfd for a descriptor we own, for the duration of the call.
        let n = unsafe { libc::poll(&mut p, 1, 500) };
        if n > 0 && p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            return true;
        }
    }
    false
}

impl Daemon {
    /// `POST /containers/{id}/resize`: the terminal's rows and columns.
    pub fn resize(&self, entry: &Entry, height: u32, width: u32) -> Result<(), ApiError> {
        let (id, running, tty) = {
            let s = entry.lock();
            (s.c.id.clone(), s.c.state.running, s.c.tty())
        };
        if !running {
            return Err(ApiError::conflict(format!("container {id} is not running")));
        }
        // As containerd's runc shim: a task without a terminal has no size to set.
        if !tty {
            return Ok(());
        }
        self.containerd.resize(&id, height, width).map_err(ApiError::from)?;
        self.events.container(&entry.lock().c, "resize", &[("height", &height.to_string()), ("width", &width.to_string())]);
        Ok(())
    }
}
