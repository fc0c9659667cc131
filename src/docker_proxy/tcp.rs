//! The TCP proxy: one thread, one epoll set. Each accepted connection gets a connection to the
//! container and a pipe per direction; bytes go socket → pipe → socket with splice(2), so they
//! never enter user memory. When one side ends its sending (EOF), the other side's write half
//! is shut down and the opposite direction keeps flowing, as Docker's proxy does
//! (`CloseRead` of the source, `CloseWrite` of the destination); the connection is closed once
//! both directions are done.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use super::poller::{self, Poller};
use super::{Frontend, ReadyPipe};

/// The pipe between the two sockets of a direction: big enough that a bulk transfer moves
/// a megabyte per pair of syscalls. It costs kernel memory only while bytes sit in it.
const PIPE_SIZE: usize = 1 << 20;
/// Splices per direction and wake-up, so that one busy connection cannot starve the others.
const BUDGET: usize = 16;
/// How long accepting pauses when descriptors run out.
const ACCEPT_PAUSE: Duration = Duration::from_millis(250);

const LISTENER: u64 = 0;
const SIGNALS: u64 = 1;
const FIRST_CONN: u64 = 2;

pub struct Proxy {
    listener: OwnedFd,
    backend: SocketAddr,
}

/// One direction of a connection.
struct Flow {
    pipe_r: OwnedFd,
    pipe_w: OwnedFd,
    /// Bytes in the pipe not yet written on.
    queued: usize,
    /// The source said EOF.
    eof: bool,
    /// Nothing more will move this way.
    done: bool,
}

impl Flow {
    fn new() -> io::Result<Flow> {
        let (pipe_r, pipe_w) = poller::pipe(PIPE_SIZE as libc::c_int)?;
        Ok(Flow { pipe_r, pipe_w, queued: 0, eof: false, done: false })
    }

    /// Moves what it can from `from` to `to` until one would block.
    fn pump(&mut self, from: &OwnedFd, to: &OwnedFd) {
        for _ in 0..BUDGET {
            if self.done {
                return;
            }
            if self.queued > 0 {
                match poller::splice(&self.pipe_r, to, self.queued) {
                    Ok(n) => self.queued -= n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(_) => return self.fail(from, to),
                }
                continue;
            }
            if self.eof {
                poller::shutdown(from, libc::SHUT_RD);
                poller::shutdown(to, libc::SHUT_WR);
                self.done = true;
                return;
            }
            match poller::splice(from, &self.pipe_w, PIPE_SIZE) {
                Ok(0) => self.eof = true,
                Ok(n) => self.queued += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => return self.fail(from, to),
            }
        }
    }

    /// A read or write failed (reset, broken pipe): this direction ends as at EOF, the bytes
    /// still in the pipe are lost, as they would be in Docker's io.Copy.
    fn fail(&mut self, from: &OwnedFd, to: &OwnedFd) {
        poller::shutdown(from, libc::SHUT_RD);
        poller::shutdown(to, libc::SHUT_WR);
        self.done = true;
    }
}

struct Conn {
    client: OwnedFd,
    backend: OwnedFd,
    /// The connection to the container is still being made.
    connecting: bool,
    /// client → backend
    up: Flow,
    /// backend → client
    down: Flow,
    /// What epoll watches now for client and backend (0: not in the set).
    watched: [u32; 2],
}

impl Conn {
    /// What each socket must be watched for, given where each direction stands.
    fn wanted(&self) -> [u32; 2] {
        let (inp, out) = (libc::EPOLLIN as u32, libc::EPOLLOUT as u32);
        if self.connecting {
            return [0, out];
        }
        let mut want = [0, 0];
        if !self.up.done {
            if self.up.queued == 0 {
                want[0] |= inp;
            } else {
                want[1] |= out;
            }
        }
        if !self.down.done {
            if self.down.queued == 0 {
                want[1] |= inp;
            } else {
                want[0] |= out;
            }
        }
        want
    }

    fn pump(&mut self) {
        let Conn { client, backend, up, down, .. } = self;
        up.pump(client, backend);
        down.pump(backend, client);
    }
}

impl Proxy {
    pub fn listen(front: Frontend, backend: SocketAddr) -> Result<Proxy, String> {
        let listener = poller::listen(&front, libc::SOCK_STREAM)?;
        Ok(Proxy { listener, backend })
    }

    pub fn run(self, ready: ReadyPipe) -> Result<(), String> {
        let mut state = State { poller: Poller::new().map_err(|e| e.to_string())?, backend: self.backend, conns: Vec::new(), free: Vec::new(), closed: Vec::new() };
        let signals = poller::stop_signals().map_err(|e| e.to_string())?;
        state.poller.add(signals.as_raw_fd(), libc::EPOLLIN as u32, SIGNALS).map_err(|e| e.to_string())?;
        state.poller.add(self.listener.as_raw_fd(), libc::EPOLLIN as u32, LISTENER).map_err(|e| e.to_string())?;
        ready.ready();
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 32];
        let mut paused = false;
        loop {
            let timeout = if paused { ACCEPT_PAUSE.as_millis() as libc::c_int } else { -1 };
            let n = state.poller.wait(&mut events, timeout).map_err(|e| e.to_string())?;
            if paused && (n == 0 || !state.closed.is_empty()) {
                paused = false;
                let _ = state.poller.add(self.listener.as_raw_fd(), libc::EPOLLIN as u32, LISTENER);
            }
            for ev in &events[..n] {
                let (token, mask) = (ev.u64, ev.events);
                match token {
                    SIGNALS => return Ok(()),
                    LISTENER => {
                        if !state.accept(&self.listener) {
                            paused = true;
                            state.poller.delete(self.listener.as_raw_fd());
                        }
                    }
                    _ => state.on_event(token, mask),
                }
            }
            // Slots freed in this batch are reused only now, so a later event of the same
            // batch cannot reach a newer connection.
            state.free.append(&mut state.closed);
        }
    }
}

struct State {
    poller: Poller,
    backend: SocketAddr,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    closed: Vec<usize>,
}

impl State {
    /// Accepts what is waiting; false when out of descriptors (accepting must pause).
    fn accept(&mut self, listener: &OwnedFd) -> bool {
        for _ in 0..64 {
            let client = match poller::accept(listener) {
                Ok(fd) => fd,
                Err(e) => match e.raw_os_error() {
                    Some(libc::EAGAIN) => return true,
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                        eprintln!("docker-proxy: accept: {e}");
                        return false;
                    }
                    // The client gave up before we took it (ECONNABORTED, EPROTO, ...).
                    _ => continue,
                },
            };
            if let Err(e) = self.open(client) {
                eprintln!("Can't forward traffic to backend tcp/{}: dial tcp {}: {}", self.backend, self.backend, super::go_errno(&e));
                if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                    return false;
                }
            }
        }
        true
    }

    /// Starts the connection to the container for a new client.
    fn open(&mut self, client: OwnedFd) -> io::Result<()> {
        poller::tcp_defaults(&client);
        let backend = poller::socket(&self.backend.ip(), libc::SOCK_STREAM)?;
        poller::tcp_defaults(&backend);
        let connected = poller::connect(&backend, &self.backend)?;
        let conn = Conn { client, backend, connecting: !connected, up: Flow::new()?, down: Flow::new()?, watched: [0, 0] };
        let slot = match self.free.pop() {
            Some(i) => {
                self.conns[i] = Some(conn);
                i
            }
            None => {
                self.conns.push(Some(conn));
                self.conns.len() - 1
            }
        };
        self.update(slot);
        Ok(())
    }

    fn on_event(&mut self, token: u64, mask: u32) {
        let slot = ((token - FIRST_CONN) / 2) as usize;
        let backend_side = (token - FIRST_CONN) % 2 == 1;
        let Some(Some(conn)) = self.conns.get_mut(slot) else { return };
        if conn.connecting {
            if !backend_side || mask & (libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP) as u32 == 0 {
                return;
            }
            if let Err(e) = poller::socket_error(&conn.backend) {
                eprintln!("Can't forward traffic to backend tcp/{}: dial tcp {}: connect: {}", self.backend, self.backend, super::go_errno(&e));
                return self.close(slot);
            }
            conn.connecting = false;
        }
        conn.pump();
        if conn.up.done && conn.down.done {
            return self.close(slot);
        }
        self.update(slot);
    }

    /// Brings epoll's watch of both sockets in line with what the connection waits for.
    fn update(&mut self, slot: usize) {
        let Some(Some(conn)) = self.conns.get_mut(slot) else { return };
        let want = conn.wanted();
        for (side, fd) in [conn.client.as_raw_fd(), conn.backend.as_raw_fd()].into_iter().enumerate() {
            let token = FIRST_CONN + 2 * slot as u64 + side as u64;
            let (had, wants) = (conn.watched[side], want[side]);
            let done = match (had, wants) {
                (h, w) if h == w => Ok(()),
                (0, w) => self.poller.add(fd, w, token),
                (_, 0) => {
                    self.poller.delete(fd);
                    Ok(())
                }
                (_, w) => self.poller.modify(fd, w, token),
            };
            if done.is_ok() {
                conn.watched[side] = wants;
            }
        }
    }

    fn close(&mut self, slot: usize) {
        // Closing the descriptors takes them out of the epoll set.
        if self.conns[slot].take().is_some() {
            self.closed.push(slot);
        }
    }
}
