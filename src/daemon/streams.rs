//! A container's output as dockerd carries it: reader threads on the stdout/stderr FIFOs the
//! shim writes into, each chunk cut into messages for the container's log driver (`crate::logger`) and handed to every attached
//! client, under one lock so a reader of the log plus the live stream sees each byte once.

use crate::stdcopy::StreamType;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::SystemTime;

/// Makes a FIFO (mode 0600) at `path`, replacing what was there.
pub fn make_fifo(path: &Path) -> io::Result<()> {
    let _ = std::fs::remove_file(path);
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))?;
    Ok(())
}

/// Set once dockerd shuts down: readers take nothing more from their FIFOs.
static STOPPING: AtomicBool = AtomicBool::new(false);
/// Held (shared) by each reader from its read to the end of its handling of what it read;
/// taken exclusively, and kept, by [`stop_readers`].
static IN_FLIGHT: RwLock<()> = RwLock::new(());
/// Readable once dockerd shuts down, waking every reader's poll.
static STOP_PIPE: OnceLock<Option<(OwnedFd, OwnedFd)>> = OnceLock::new();

fn stop_pipe() -> Option<&'static (OwnedFd, OwnedFd)> {
    STOP_PIPE.get_or_init(|| nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ok()).as_ref()
}

/// At shutdown: every FIFO reader stops at a chunk's boundary, so what a container writes
/// from now on stays in its FIFO (the shim holds it open) for the next dockerd, and nothing
/// read is lost with this process. Returns once no reader is between a read and its logging.
pub fn stop_readers() {
    STOPPING.store(true, Ordering::SeqCst);
    if let Some((_, w)) = stop_pipe() {
        let _ = nix::unistd::write(w, b"x");
    }
    // Kept until the process exits: no reader starts another read.
    std::mem::forget(IN_FLIGHT.write().unwrap_or_else(|e| e.into_inner()));
}

/// Reads an output FIFO until its writers are gone, each chunk to `on_data` (false: stop),
/// or until dockerd shuts down ([`stop_readers`]).
/// The FIFO is opened without blocking and then waited on: Linux reports no hang-up on a
/// FIFO that has never had a writer, so the wait lasts until the shim opens it (reading
/// before that would see end-of-file at once), and shutdown's stop pipe still wakes a reader
/// whose writer never came. False when the FIFO could not be opened.
pub fn read_fifo(path: &Path, mut on_data: impl FnMut(&[u8]) -> bool) -> bool {
    let Ok(mut fifo) = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK).open(path) else { return false };
    let stop = stop_pipe();
    let mut buf = vec![0u8; 32 << 10];
    loop {
        let mut fds = [libc::pollfd { fd: fifo.as_raw_fd(), events: libc::POLLIN, revents: 0 }, libc::pollfd { fd: stop.map_or(-1, |(r, _)| r.as_raw_fd()), events: libc::POLLIN, revents: 0 }];
        // SAFETY: two pollfds for descriptors we hold (a negative fd is ignored by poll), for
        // the duration of the call.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            continue;
        }
        let _reading = IN_FLIGHT.read().unwrap_or_else(|e| e.into_inner());
        if STOPPING.load(Ordering::SeqCst) {
            return true;
        }
        match fifo.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => {
                if !on_data(&buf[..n]) {
                    return true;
                }
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock) => continue,
            Err(_) => return true,
        }
    }
}

/// Ends [`read_fifo`]s still waiting for a writer (the runtime failed before opening the
/// FIFOs for writing): a writer that comes and goes is a hang-up.
pub fn release_fifo_readers<'a>(paths: impl IntoIterator<Item = &'a Path>) {
    for p in paths {
        let _ = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC).open(p);
    }
}

/// What an attached client receives.
#[derive(Debug)]
pub enum Chunk {
    Data(StreamType, Vec<u8>),
    /// The run's output streams closed.
    End,
}

#[derive(Default)]
struct Inner {
    subscribers: Vec<Sender<Chunk>>,
    /// Output streams of the current run still open.
    open: usize,
    /// Each stream (stdout, stderr) cut into log messages.
    splitters: [crate::logger::Splitter; 2],
    log: Option<crate::logger::Logger>,
    /// Closed until the runtime has created the task: what the runtime itself prints on a
    /// failed create lands in the container's stderr FIFO and is not the container's output.
    gate_open: bool,
}

/// The output hub of one container; lives as long as the container.
#[derive(Default)]
pub struct Output {
    inner: Mutex<Inner>,
    /// Signalled when the run's last output stream has closed.
    closed: std::sync::Condvar,
}

/// The FIFO paths of a run, in the bundle directory.
pub struct Fifos {
    pub stdin: Option<PathBuf>,
    pub stdout: PathBuf,
    /// None for a terminal: the pty carries both streams, and a FIFO nobody opens for
    /// writing would keep its reader (and every attach waiting for the end) blocked forever.
    pub stderr: Option<PathBuf>,
}

impl Fifos {
    /// Makes `init-stdout`, `init-stderr` unless the container has a terminal, and
    /// `init-stdin` when asked, in `bundle`.
    pub fn create(bundle: &Path, with_stdin: bool, terminal: bool) -> io::Result<Fifos> {
        let mk = |name: &str| -> io::Result<PathBuf> {
            let p = bundle.join(name);
            make_fifo(&p)?;
            Ok(p)
        };
        Ok(Fifos { stdin: if with_stdin { Some(mk("init-stdin")?) } else { None }, stdout: mk("init-stdout")?, stderr: if terminal { None } else { Some(mk("init-stderr")?) } })
    }
}

impl Output {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts reading a run's FIFOs into the container's log driver and the subscribers.
    /// Call before the runtime creates the container, so no byte is written before a reader
    /// exists; the output goes through once [`Output::open_gate`] says so.
    pub fn start(self: &Arc<Self>, fifos: &Fifos, log: crate::logger::Logger) -> io::Result<()> {
        self.start_gated(fifos, log, false)
    }

    /// Reads the FIFOs of a run that is already going (a restarted dockerd taking a container
    /// back): its output goes through from the first byte, what it wrote while no dockerd read
    /// it included.
    pub fn resume(self: &Arc<Self>, fifos: &Fifos, log: crate::logger::Logger) -> io::Result<()> {
        self.start_gated(fifos, log, true)
    }

    fn start_gated(self: &Arc<Self>, fifos: &Fifos, log: crate::logger::Logger, gate_open: bool) -> io::Result<()> {
        {
            let mut inner = self.lock();
            inner.open = 1 + usize::from(fifos.stderr.is_some());
            inner.splitters = Default::default();
            inner.log = Some(log);
            inner.gate_open = gate_open;
        }
        let streams = std::iter::once((fifos.stdout.clone(), StreamType::Stdout)).chain(fifos.stderr.clone().map(|p| (p, StreamType::Stderr)));
        for (path, stream) in streams {
            let me = self.clone();
            std::thread::Builder::new().name("fifo".into()).stack_size(128 << 10).spawn(move || {
                read_fifo(&path, |data| {
                    me.deliver(stream, data);
                    true
                });
                me.stream_closed(stream);
            })?;
        }
        Ok(())
    }

    /// Lets output through: call once the task exists and before it is started (the
    /// container cannot write before `start`).
    pub fn open_gate(&self) {
        self.lock().gate_open = true;
    }

    /// Ends readers still waiting for a writer (the runtime failed before opening the FIFOs).
    pub fn release(fifos: &Fifos) {
        release_fifo_readers(std::iter::once(fifos.stdout.as_path()).chain(fifos.stderr.as_deref()));
    }

    /// One of the run's output FIFOs ended: its partial last line is logged, and when it was
    /// the last the subscribers are told.
    fn stream_closed(&self, stream: StreamType) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let idx = if stream == StreamType::Stdout { 0 } else { 1 };
        if let Some(log) = inner.log.as_mut() {
            inner.splitters[idx].finish(stream_name(stream), SystemTime::now(), &mut |m| log.log_or_report(m));
        }
        inner.open = inner.open.saturating_sub(1);
        if inner.open == 0 {
            inner.log = None;
            for s in inner.subscribers.drain(..) {
                let _ = s.send(Chunk::End);
            }
            self.closed.notify_all();
        }
    }

    /// Waits, at most `limit`, for the run's output to be read to its end (and so logged),
    /// as Docker waits for its stream copiers before it records an exit.
    pub fn wait_closed(&self, limit: std::time::Duration) {
        let inner = self.lock();
        let _ = self.closed.wait_timeout_while(inner, limit, |i| i.open > 0);
    }

    fn deliver(&self, stream: StreamType, data: &[u8]) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if !inner.gate_open {
            return;
        }
        let idx = if stream == StreamType::Stdout { 0 } else { 1 };
        // A failed write (a full disk) is reported by the logger and never stops the output.
        if let Some(log) = inner.log.as_mut() {
            inner.splitters[idx].feed(stream_name(stream), data, &mut SystemTime::now, &mut |m| log.log_or_report(m));
        }
        inner.subscribers.retain(|s| s.send(Chunk::Data(stream, data.to_vec())).is_ok());
    }

    /// Registers a client for the current or next run's output.
    pub fn subscribe(&self) -> Receiver<Chunk> {
        let (tx, rx) = channel();
        self.subscribe_sender(tx);
        rx
    }

    /// As `subscribe`, with a channel whose sender the caller keeps too (an attach ends its
    /// own output loop with `Chunk::End` when its client detaches).
    pub fn subscribe_sender(&self, tx: Sender<Chunk>) {
        self.lock().subscribers.push(tx);
    }

    /// Reads the log (its last `tail` entries, or all) and subscribes in one step, so nothing
    /// is missed or seen twice. The receiver is `None` when no run is producing output.
    pub fn log_then_subscribe(&self, log: Option<&crate::logger::Reader>, tail: Option<usize>, follow: bool) -> (Vec<crate::jsonlog::Entry>, Option<Receiver<Chunk>>) {
        let mut inner = self.lock();
        let entries = log.map(|r| r.read_last(tail)).unwrap_or_default();
        let rx = if follow && inner.open > 0 {
            let (tx, rx) = channel();
            inner.subscribers.push(tx);
            Some(rx)
        } else {
            None
        };
        (entries, rx)
    }

    /// Reads the log and registers `tx` in one step (an attach with `logs` and `stream`): each
    /// byte comes once, from the log or the channel.
    pub fn log_then_subscribe_sender(&self, log: Option<&crate::logger::Reader>, tx: Sender<Chunk>) -> Vec<crate::jsonlog::Entry> {
        let mut inner = self.lock();
        let entries = log.map(|r| r.read_all()).unwrap_or_default();
        inner.subscribers.push(tx);
        entries
    }

    /// Whether output streams of a run are still open.
    pub fn is_open(&self) -> bool {
        self.lock().open > 0
    }
}

fn stream_name(s: StreamType) -> &'static str {
    match s {
        StreamType::Stderr => "stderr",
        _ => "stdout",
    }
}

/// Writes a chunk to an attached client: multiplexed frames, or raw bytes with a tty.
pub fn write_chunk(w: &mut dyn Write, stream: StreamType, data: &[u8], multiplexed: bool) -> io::Result<()> {
    if multiplexed {
        crate::stdcopy::write_frame(w, stream, data)
    } else {
        w.write_all(data)?;
        w.flush()
    }
}
