//! The UDP proxy: one thread, one epoll set. Each client address gets its own socket
//! connected to the container, so the container's replies come back on it and go out of the
//! listening socket to that client. A client's socket is dropped after Docker's conntrack
//! timeout (90 s) without a datagram either way. On a wildcard address (`0.0.0.0`, `::`) the
//! replies leave from the address the client wrote to (IP_PKTINFO), as newer Dockers do, so
//! that a client of a host with several addresses sees its answer come from where it asked.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::poller::{self, LazyBuffer, Poller, RawAddr};
use super::{Frontend, ReadyPipe};

/// Docker's UDPConnTrackTimeout.
pub const CONNTRACK_TIMEOUT: Duration = Duration::from_secs(90);
/// Room for the largest datagram.
const BUFFER: usize = 1 << 16;
/// Datagrams per socket and wake-up, so that one busy client cannot starve the others.
const BUDGET: usize = 64;

const LISTENER: u64 = 0;
const SIGNALS: u64 = 1;
const FIRST_FLOW: u64 = 2;

pub struct Proxy {
    listener: OwnedFd,
    backend: SocketAddr,
    wildcard: bool,
}

/// One client's conversation with the container.
struct Flow {
    sock: OwnedFd,
    client: SocketAddr,
    /// The client's address laid out for sendto.
    client_raw: RawAddr,
    /// The address the client wrote to (on a wildcard listener).
    local: Option<IpAddr>,
    last: Instant,
}

struct State {
    poller: Poller,
    listener: OwnedFd,
    backend: SocketAddr,
    wildcard: bool,
    buf: LazyBuffer,
    flows: Vec<Option<Flow>>,
    free: Vec<usize>,
    by_client: HashMap<(IpAddr, u16), usize>,
    /// When the oldest conversation may have timed out (None: there is none).
    next_sweep: Option<Instant>,
}

impl Proxy {
    pub fn listen(front: Frontend, backend: SocketAddr) -> Result<Proxy, String> {
        let listener = poller::listen(&front, libc::SOCK_DGRAM)?;
        let wildcard = front.ip.is_unspecified();
        if wildcard {
            let v6 = front.ip.is_ipv6();
            poller::want_destination(&listener, v6).map_err(|e| format!("listen udp{} {}: setsockopt: {}", if v6 { 6 } else { 4 }, front.display(), super::go_errno(&e)))?;
        }
        Ok(Proxy { listener, backend, wildcard })
    }

    pub fn run(self, ready: ReadyPipe) -> Result<(), String> {
        let buf = LazyBuffer::new(BUFFER).map_err(|e| e.to_string())?;
        let poller = Poller::new().map_err(|e| e.to_string())?;
        let signals = poller::stop_signals().map_err(|e| e.to_string())?;
        poller.add(signals.as_raw_fd(), libc::EPOLLIN as u32, SIGNALS).map_err(|e| e.to_string())?;
        poller.add(self.listener.as_raw_fd(), libc::EPOLLIN as u32, LISTENER).map_err(|e| e.to_string())?;
        let mut state = State::new(poller, self.listener, self.backend, self.wildcard, buf);
        ready.ready();
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 32];
        loop {
            let timeout = match state.next_sweep {
                None => -1,
                Some(at) => at.saturating_duration_since(Instant::now()).as_millis().min(i32::MAX as u128) as libc::c_int + 1,
            };
            let n = state.poller.wait(&mut events, timeout).map_err(|e| e.to_string())?;
            for ev in &events[..n] {
                match ev.u64 {
                    SIGNALS => return Ok(()),
                    LISTENER => state.relay_from_clients(),
                    token => state.relay_replies((token - FIRST_FLOW) as usize),
                }
            }
            let now = Instant::now();
            if state.next_sweep.is_some_and(|at| now >= at) {
                state.sweep(now);
            }
        }
    }
}

impl State {
    fn new(poller: Poller, listener: OwnedFd, backend: SocketAddr, wildcard: bool, buf: LazyBuffer) -> State {
        State { poller, listener, backend, wildcard, buf, flows: Vec::new(), free: Vec::new(), by_client: HashMap::new(), next_sweep: None }
    }

    /// Datagrams from clients, each sent on to the container on the client's own socket.
    fn relay_from_clients(&mut self) {
        for _ in 0..BUDGET {
            let received = if self.wildcard {
                poller::recv_from_to(&self.listener, self.buf.as_mut())
            } else {
                poller::recv_from(&self.listener, self.buf.as_mut()).map(|(n, from)| (n, from, None))
            };
            let (n, from, local) = match received {
                Ok((n, Some(from), local)) => (n, from, local),
                Ok((_, None, _)) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // An ICMP error for an earlier reply to some client: nothing to do.
                Err(_) => continue,
            };
            let slot = match self.by_client.get(&(from.ip(), from.port())) {
                Some(&slot) => slot,
                None => match self.open(from) {
                    Ok(slot) => slot,
                    Err(e) => {
                        eprintln!("Can't proxy a datagram to udp/{}: {e}", self.backend);
                        continue;
                    }
                },
            };
            let Some(flow) = self.flows[slot].as_mut() else { continue };
            flow.last = Instant::now();
            if local.is_some() {
                flow.local = local;
            }
            let buf = self.buf.as_mut();
            if let Err(e) = poller::send(&flow.sock, &buf[..n]) {
                // ECONNREFUSED tells of an earlier datagram nobody took; the next may be.
                if e.raw_os_error() != Some(libc::ECONNREFUSED) {
                    eprintln!("Can't proxy a datagram to udp/{}: {e}", self.backend);
                }
            }
        }
    }

    /// Replies from the container, sent to the client the socket belongs to.
    fn relay_replies(&mut self, slot: usize) {
        let Some(Some(flow)) = self.flows.get_mut(slot) else { return };
        let buf = self.buf.as_mut();
        for _ in 0..BUDGET {
            let n = match poller::recv(&flow.sock, buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // Nothing listened for an earlier datagram (ECONNREFUSED): keep the
                // conversation until it times out, as Docker does.
                Err(_) => continue,
            };
            flow.last = Instant::now();
            let _ = match flow.local {
                Some(local) => poller::send_to_from(&self.listener, &buf[..n], &flow.client_raw, local),
                None => poller::send_to(&self.listener, &buf[..n], &flow.client_raw),
            };
        }
    }

    fn open(&mut self, client: SocketAddr) -> io::Result<usize> {
        let sock = poller::socket(&self.backend.ip(), libc::SOCK_DGRAM)?;
        poller::connect(&sock, &self.backend)?;
        let slot = self.free.pop().unwrap_or_else(|| {
            self.flows.push(None);
            self.flows.len() - 1
        });
        if let Err(e) = self.poller.add(sock.as_raw_fd(), libc::EPOLLIN as u32, FIRST_FLOW + slot as u64) {
            self.free.push(slot);
            return Err(e);
        }
        let now = Instant::now();
        self.flows[slot] = Some(Flow { sock, client, client_raw: RawAddr::new(&client), local: None, last: now });
        self.by_client.insert((client.ip(), client.port()), slot);
        if self.next_sweep.is_none() {
            self.next_sweep = Some(now + CONNTRACK_TIMEOUT);
        }
        Ok(slot)
    }

    /// Forgets conversations silent for the timeout; plans the next sweep for the oldest left.
    fn sweep(&mut self, now: Instant) {
        let mut oldest: Option<Instant> = None;
        for slot in 0..self.flows.len() {
            let Some(flow) = &self.flows[slot] else { continue };
            if now.duration_since(flow.last) >= CONNTRACK_TIMEOUT {
                self.by_client.remove(&(flow.client.ip(), flow.client.port()));
                // Dropping the socket takes it out of the epoll set.
                self.flows[slot] = None;
                self.free.push(slot);
            } else {
                oldest = Some(oldest.map_or(flow.last, |o| o.min(flow.last)));
            }
        }
        self.next_sweep = oldest.map(|o| o + CONNTRACK_TIMEOUT);
        if self.next_sweep.is_none() {
            // Idle again: give the datagram buffer's pages back.
            self.buf.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn a_conversation_is_forgotten_after_90_s_of_silence_either_way() {
        let backend = UdpSocket::bind("127.0.0.1:0").unwrap();
        let front = Frontend { ip: "127.0.0.1".parse().unwrap(), given: true, port: 0 };
        let proxy = Proxy::listen(front, backend.local_addr().unwrap()).unwrap();
        let mut state = State::new(Poller::new().unwrap(), proxy.listener, proxy.backend, false, LazyBuffer::new(BUFFER).unwrap());
        let (a, b): (SocketAddr, SocketAddr) = ("127.0.0.1:1111".parse().unwrap(), "127.0.0.1:2222".parse().unwrap());
        let sa = state.open(a).unwrap();
        let t0 = state.flows[sa].as_ref().unwrap().last;
        assert_eq!(state.next_sweep, Some(t0 + CONNTRACK_TIMEOUT));
        let sb = state.open(b).unwrap();
        // b spoke 60 s later (a datagram either way moves `last`).
        state.flows[sb].as_mut().unwrap().last = t0 + Duration::from_secs(60);
        state.sweep(t0 + Duration::from_secs(89));
        assert_eq!(state.by_client.len(), 2);
        state.sweep(t0 + CONNTRACK_TIMEOUT);
        assert!(!state.by_client.contains_key(&(a.ip(), a.port())) && state.flows[sa].is_none());
        assert_eq!(state.by_client.get(&(b.ip(), b.port())), Some(&sb));
        assert_eq!(state.next_sweep, Some(t0 + Duration::from_secs(60) + CONNTRACK_TIMEOUT));
        // The freed slot is reused by the next client.
        assert_eq!(state.open("127.0.0.1:3333".parse().unwrap()).unwrap(), sa);
        state.sweep(t0 + Duration::from_secs(60) + CONNTRACK_TIMEOUT * 2);
        assert!(state.by_client.is_empty() && state.next_sweep.is_none());
    }
}
