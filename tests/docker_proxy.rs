//! docker-proxy, Docker's userland proxy, and the daemon's starter (`network::proxy`): TCP and
//! UDP through it on 127.0.0.1 and ::1 to the test's own listeners, half-close, the readiness
//! pipe and Docker's errors, signals, death with its parent, and its memory.

mod common;

use common::{applet_dir, dockbox};
use dockbox::network::proxy::{self, Mapping, Proto};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

fn program() -> PathBuf {
    applet_dir().join("docker-proxy")
}

/// A port on `ip` nothing listens on right now (for the proto given).
fn free_port(ip: IpAddr, proto: Proto) -> u16 {
    match proto {
        Proto::Udp => UdpSocket::bind((ip, 0)).unwrap().local_addr().unwrap().port(),
        _ => TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap().port(),
    }
}

fn mapping(proto: Proto, ip: IpAddr, backend: SocketAddr) -> Mapping {
    Mapping { proto, host_ip: ip, host_port: free_port(ip, proto), container_ip: backend.ip(), container_port: backend.port() }
}

/// Whether this host has ::1 (a kernel booted without IPv6 has not).
fn have_v6() -> bool {
    TcpListener::bind((V6, 0)).is_ok()
}

/// A TCP backend that echoes every connection until EOF, then closes it.
fn echo_backend(ip: IpAddr) -> SocketAddr {
    let l = TcpListener::bind((ip, 0)).unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[1] ^ seed).collect()
}

/// Sends `data` through a TCP connection to `to` on a thread and reads the echo back.
fn echo_through(to: SocketAddr, data: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(to).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = c.try_clone().unwrap();
    let owned = data.to_vec();
    let writer = std::thread::spawn(move || {
        w.write_all(&owned).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    writer.join().unwrap();
    back
}

fn stop_cleanly(child: Child) {
    let pid = child.id();
    let status = proxy::stop(child).unwrap();
    assert_eq!(status.code(), Some(0), "docker-proxy {pid} ended with {status:?}");
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "docker-proxy {pid} is still there");
}

#[test]
fn tcp_echo_through_the_proxy_on_ipv4_and_ipv6() {
    let mut families = vec![V4];
    if have_v6() {
        families.push(V6);
    } else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true: no ::1 on this host");
    }
    for ip in families {
        let backend = echo_backend(ip);
        let m = mapping(Proto::Tcp, ip, backend);
        let child = proxy::start(&program(), &m).unwrap();
        assert_eq!(common::comm(child.id() as i32), "docker-proxy");
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap();
        let args: Vec<String> = cmdline.split(|&b| b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        assert_eq!(args[1..], proxy::args(&m)[..], "{args:?}");

        let front = SocketAddr::new(ip, m.host_port);
        // Several connections at once, one of them bulky, each gets its own bytes back.
        let runs: Vec<_> = (0..4u8)
            .map(|i| {
                let data = pattern(if i == 0 { 8 << 20 } else { 1000 + usize::from(i) }, i);
                std::thread::spawn(move || (echo_through(front, &data) == data, data.len()))
            })
            .collect();
        for r in runs {
            let (same, len) = r.join().unwrap();
            assert!(same, "{ip}: {len} bytes did not come back whole");
        }
        stop_cleanly(child);
    }
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

#[test]
fn many_connections_at_once_and_nothing_kept_after() {
    let backend = echo_backend(V4);
    let m = mapping(Proto::Tcp, V4, backend);
    let child = proxy::start(&program(), &m).unwrap();
    let front = SocketAddr::new(V4, m.host_port);
    // Counted once the proxy is past its start (the readiness pipe closed) and idle.
    assert_eq!(echo_through(front, b"warm-up"), b"warm-up");
    std::thread::sleep(Duration::from_millis(200));
    let before = open_fds(child.id());
    let runs: Vec<_> = (0..150u32)
        .map(|i| {
            std::thread::spawn(move || {
                let data = pattern(20_000 + i as usize, i as u8);
                echo_through(front, &data) == data
            })
        })
        .collect();
    assert!(runs.into_iter().all(|r| r.join().unwrap()), "some connection lost bytes");
    // A client that resets its connection mid-way does not stop the others.
    let mut c = TcpStream::connect(front).unwrap();
    c.write_all(&pattern(100_000, 9)).unwrap();
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: setsockopt reads one linger struct of the size given.
    let rc = unsafe { libc::setsockopt(c.as_raw_fd(), libc::SOL_SOCKET, libc::SO_LINGER, (&linger as *const libc::linger).cast(), std::mem::size_of::<libc::linger>() as libc::socklen_t) };
    assert_eq!(rc, 0);
    drop(c);
    assert_eq!(echo_through(front, b"still there"), b"still there");
    // Every connection's sockets and pipes are closed once both sides are done.
    let end = Instant::now() + Duration::from_secs(10);
    while open_fds(child.id()) != before && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(open_fds(child.id()), before, "descriptors left open in docker-proxy");
    stop_cleanly(child);
}

#[test]
fn tcp_half_close_passes_through() {
    // The backend reads to EOF (the client's shutdown(Write) must reach it) and only then
    // answers on the same connection.
    let l = TcpListener::bind((V4, 0)).unwrap();
    let backend = l.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = l.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).unwrap();
        conn.write_all(format!("got {} bytes", got.len()).as_bytes()).unwrap();
        // The backend's own shutdown(Write) must become the client's EOF.
        conn.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        conn.read_to_end(&mut rest).unwrap();
        rest.len()
    });
    let m = mapping(Proto::Tcp, V4, backend);
    let child = proxy::start(&program(), &m).unwrap();
    let mut c = TcpStream::connect((V4, m.host_port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(&pattern(300_000, 7)).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "got 300000 bytes");
    assert_eq!(server.join().unwrap(), 0);
    stop_cleanly(child);
}

/// A UDP backend answering each datagram with `from <sender>: <datagram>`.
fn udp_backend(ip: IpAddr) -> SocketAddr {
    let s = UdpSocket::bind((ip, 0)).unwrap();
    let addr = s.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            let reply = format!("from {from}: {}", String::from_utf8_lossy(&buf[..n]));
            let _ = s.send_to(reply.as_bytes(), from);
        }
    });
    addr
}

fn udp_ask(client: &UdpSocket, to: SocketAddr, what: &str) -> String {
    client.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut buf = [0u8; 65536];
    // UDP may lose a datagram: ask again a few times.
    for _ in 0..20 {
        client.send_to(what.as_bytes(), to).unwrap();
        if let Ok((n, from)) = client.recv_from(&mut buf) {
            assert_eq!(from, to, "the reply must come from the published address");
            return String::from_utf8_lossy(&buf[..n]).into_owned();
        }
    }
    panic!("no reply to {what} through {to}");
}

#[test]
fn udp_replies_go_back_to_each_client() {
    let mut families = vec![V4];
    if have_v6() {
        families.push(V6);
    }
    for ip in families {
        let backend = udp_backend(ip);
        let m = mapping(Proto::Udp, ip, backend);
        let child = proxy::start(&program(), &m).unwrap();
        let front = SocketAddr::new(ip, m.host_port);
        let a = UdpSocket::bind((ip, 0)).unwrap();
        let b = UdpSocket::bind((ip, 0)).unwrap();
        let ra = udp_ask(&a, front, "one");
        let rb = udp_ask(&b, front, "two");
        let ra2 = udp_ask(&a, front, "three");
        let sender = |r: &str| r.split(": ").next().unwrap().to_string();
        assert!(ra.ends_with(": one") && rb.ends_with(": two") && ra2.ends_with(": three"), "{ra} / {rb} / {ra2}");
        // Each client has its own socket towards the backend, kept between datagrams.
        assert_ne!(sender(&ra), sender(&rb));
        assert_eq!(sender(&ra), sender(&ra2));
        assert_ne!(sender(&ra), format!("from {}", a.local_addr().unwrap()));
        // A datagram near the largest size goes through whole.
        let big = "x".repeat(60000);
        assert!(udp_ask(&b, front, &big).ends_with(&big));
        stop_cleanly(child);
    }
}

#[test]
fn udp_on_a_wildcard_address_answers_from_the_address_asked() {
    if !common::require_root() {
        return;
    }
    // In a network namespace of this thread's own: nobody else sees the wildcard listener,
    // and the proxy, forked from this thread, runs in it too.
    std::thread::spawn(|| {
        // SAFETY: unshare(CLONE_NEWNET) moves only this thread, which ends with the test.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "{}", std::io::Error::last_os_error());
        dockbox::sys::loopback_up().unwrap();
        let mut cases = vec![("0.0.0.0", V4, vec!["127.0.0.1", "127.0.0.2", "127.0.0.3"])];
        if have_v6() {
            cases.push(("::", V6, vec!["::1"]));
        }
        for (wildcard, ip, targets) in cases {
            let backend = udp_backend(ip);
            let port = free_port(ip, Proto::Udp);
            let (mut child, ready) = spawn_with_ready_pipe(&["-proto", "udp", "-host-ip", wildcard, "-host-port", &port.to_string(), "-container-ip", &ip.to_string(), "-container-port", &backend.port().to_string()]);
            assert_eq!(read_all(ready), "0\n");
            let client = UdpSocket::bind((ip, 0)).unwrap();
            // udp_ask checks that each reply comes from the address the datagram went to
            // (without IP_PKTINFO it would leave from 127.0.0.1, the route's source).
            for target in targets {
                let to = SocketAddr::new(target.parse().unwrap(), port);
                assert!(udp_ask(&client, to, target).ends_with(target));
            }
            // SAFETY: kill takes integers; the pid is our unreaped child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            assert_eq!(wait_timeout(&mut child, Duration::from_secs(10)).and_then(|s| s.code()), Some(0));
        }
    })
    .join()
    .unwrap();
}

/// Runs the applet by hand with a pipe as fd 3; returns the child and the pipe's read end.
fn spawn_with_ready_pipe(args: &[&str]) -> (Child, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both are new descriptors owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let wfd = w.as_raw_fd();
    let mut cmd = Command::new(program());
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    // SAFETY: dup2, fcntl and prctl are async-signal-safe and take integers.
    unsafe {
        cmd.pre_exec(move || {
            if wfd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0);
            } else {
                libc::dup2(wfd, 3);
            }
            // Should the test fail before it stops the proxy, the proxy goes with its thread.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0);
            Ok(())
        })
    };
    let child = cmd.spawn().unwrap();
    drop(w);
    (child, r)
}

fn read_all(fd: OwnedFd) -> String {
    let mut f = std::fs::File::from(fd);
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    s
}

#[test]
fn bind_conflict_is_reported_on_the_pipe_and_by_the_starter() {
    let taken = TcpListener::bind((V4, 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let backend = echo_backend(V4);
    let (mut child, ready) = spawn_with_ready_pipe(&["-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", &port.to_string(), "-container-ip", "127.0.0.1", "-container-port", &backend.port().to_string()]);
    assert_eq!(read_all(ready), format!("1\nlisten tcp4 127.0.0.1:{port}: bind: address already in use"));
    assert_eq!(child.wait().unwrap().code(), Some(1));

    let m = Mapping { proto: Proto::Tcp, host_ip: V4, host_port: port, container_ip: V4, container_port: backend.port() };
    let err = proxy::start(&program(), &m).unwrap_err();
    assert_eq!(err, format!("Error starting userland proxy: listen tcp4 127.0.0.1:{port}: bind: address already in use"));

    let taken_udp = UdpSocket::bind((V4, 0)).unwrap();
    let uport = taken_udp.local_addr().unwrap().port();
    let m = Mapping { proto: Proto::Udp, host_ip: V4, host_port: uport, container_ip: V4, container_port: 9 };
    let err = proxy::start(&program(), &m).unwrap_err();
    assert_eq!(err, format!("Error starting userland proxy: listen udp4 127.0.0.1:{uport}: bind: address already in use"));
    if have_v6() {
        let taken6 = TcpListener::bind((V6, 0)).unwrap();
        let port6 = taken6.local_addr().unwrap().port();
        let m = Mapping { proto: Proto::Tcp, host_ip: V6, host_port: port6, container_ip: V4, container_port: 9 };
        let err = proxy::start(&program(), &m).unwrap_err();
        assert_eq!(err, format!("Error starting userland proxy: listen tcp6 [::1]:{port6}: bind: address already in use"));
    }
}

/// Docker's own docker-proxy (Debian's docker.io), when installed.
fn dockers_proxy() -> Option<PathBuf> {
    ["/usr/sbin/docker-proxy", "/usr/bin/docker-proxy"].into_iter().map(PathBuf::from).find(|p| p.exists())
}

#[test]
fn dockers_own_proxy_runs_under_the_starter_and_errs_as_ours() {
    let Some(theirs) = dockers_proxy() else {
        eprintln!("skipped: Docker's docker-proxy is not installed (apt-get install docker.io)");
        return;
    };
    // `--userland-proxy-path` may name Docker's program: it starts, forwards and stops alike.
    let backend = echo_backend(V4);
    let m = mapping(Proto::Tcp, V4, backend);
    let child = proxy::start(&theirs, &m).unwrap();
    let data = pattern(100_000, 3);
    assert_eq!(echo_through(SocketAddr::new(V4, m.host_port), &data), data);
    stop_cleanly(child);
    // The same bind conflict gives the same error through either program.
    let taken = TcpListener::bind((V4, 0)).unwrap();
    let m = Mapping { proto: Proto::Tcp, host_ip: V4, host_port: taken.local_addr().unwrap().port(), container_ip: V4, container_port: 9 };
    assert_eq!(proxy::start(&theirs, &m).unwrap_err(), proxy::start(&program(), &m).unwrap_err());
    let taken = UdpSocket::bind((V4, 0)).unwrap();
    let m = Mapping { proto: Proto::Udp, host_port: taken.local_addr().unwrap().port(), ..m };
    assert_eq!(proxy::start(&theirs, &m).unwrap_err(), proxy::start(&program(), &m).unwrap_err());
    // And so does a bad flag, but for the flags Docker 24 added (-v, -version).
    let ours = Command::new(program()).arg("-nope").output().unwrap();
    let docker = Command::new(&theirs).arg("-nope").output().unwrap();
    assert_eq!((ours.status.code(), docker.status.code()), (Some(2), Some(2)));
    let trim = |o: &std::process::Output| {
        let text = String::from_utf8_lossy(&o.stderr).into_owned();
        let text = text.split_once("Usage of ").map(|(first, _)| first.to_string()).unwrap_or(text);
        text
    };
    assert_eq!(trim(&ours), trim(&docker));
}

#[test]
fn starter_errors_for_a_missing_program_and_sctp() {
    let m = Mapping { proto: Proto::Tcp, host_ip: V4, host_port: free_port(V4, Proto::Tcp), container_ip: V4, container_port: 9 };
    let err = proxy::start(std::path::Path::new("/nonexistent/docker-proxy"), &m).unwrap_err();
    assert_eq!(err, "fork/exec /nonexistent/docker-proxy: no such file or directory");

    let m = Mapping { proto: Proto::Sctp, ..m };
    let err = proxy::start(&program(), &m).unwrap_err();
    assert!(err.starts_with("Error starting userland proxy: unsupported protocol sctp"), "{err}");
}

#[test]
fn bad_flags_exit_2_with_gos_usage() {
    for (args, first) in [
        (vec!["-nope"], "flag provided but not defined: -nope"),
        (vec!["-host-port", "eighty"], "invalid value \"eighty\" for flag -host-port: parse error"),
        (vec!["-proto"], "flag needs an argument: -proto"),
    ] {
        let o = Command::new(program()).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        let usage = format!("{first}\nUsage of {}:\n  -container-ip string\n    \tcontainer ip\n", program().display());
        assert!(err.starts_with(&usage), "{args:?}: {err}");
    }
    let o = Command::new(program()).arg("-h").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("  -proto string\n    \tproxy protocol (default \"tcp\")\n"));
    // Through the multiplexer too.
    let o = Command::new(dockbox()).args(["docker-proxy", "-version"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("docker-proxy (commit "));
}

#[test]
fn install_makes_the_docker_proxy_link() {
    let dir = common::TempDir::new("proxy-install");
    let o = Command::new(dockbox()).arg("--install").arg(dir.path()).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let link = dir.join("docker-proxy");
    assert_eq!(std::fs::read_link(&link).unwrap().canonicalize().unwrap(), dockbox().canonicalize().unwrap());
    let o = Command::new(&link).arg("-v").output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("docker-proxy (commit "), "{o:?}");
    let list = Command::new(dockbox()).arg("--list").output().unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).lines().any(|l| l == "docker-proxy"));
}

#[test]
fn sigterm_and_sigint_end_it_and_free_the_port() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let backend = echo_backend(V4);
        let m = mapping(Proto::Tcp, V4, backend);
        let mut child = proxy::start(&program(), &m).unwrap();
        // A connection open through it must not keep it alive.
        let held = TcpStream::connect((V4, m.host_port)).unwrap();
        // SAFETY: kill takes integers; the pid is our unreaped child.
        unsafe { libc::kill(child.id() as i32, sig) };
        let status = wait_timeout(&mut child, Duration::from_secs(10)).expect("docker-proxy ignored the signal");
        assert_eq!(status.code(), Some(0), "signal {sig}: {status:?}");
        drop(held);
        TcpListener::bind((V4, m.host_port)).expect("the port is still held");
    }
}

fn wait_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Run by `proxy_dies_with_the_process_that_started_it` in a process of its own: starts a
/// proxy, prints its pid, and waits to be killed.
#[test]
// The proxy is reaped by the test that kills this process.
#[allow(clippy::zombie_processes)]
fn helper_starts_a_proxy_and_waits() {
    let Ok(port) = std::env::var("DBX_PROXY_HELPER_PORT") else { return };
    let m = Mapping { proto: Proto::Tcp, host_ip: V4, host_port: port.parse().unwrap(), container_ip: V4, container_port: 9 };
    // Started from a short-lived thread: the proxy must outlive the thread, not the process.
    let child = std::thread::spawn(move || proxy::start(&program(), &m).unwrap()).join().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    println!("PROXY {}", child.id());
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn proxy_dies_with_the_process_that_started_it() {
    // The orphaned proxy comes to us, so that we can reap it.
    dockbox::sys::set_child_subreaper().unwrap();
    let port = free_port(V4, Proto::Tcp);
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "helper_starts_a_proxy_and_waits", "--nocapture", "--test-threads", "1"])
        .env("DBX_PROXY_HELPER_PORT", port.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(helper.stdout.take().unwrap());
    let mut pid = None;
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0 {
        // The harness prints the test's name first, on the same line.
        if let Some((_, p)) = line.trim().split_once("PROXY ") {
            pid = Some(p.parse::<i32>().unwrap());
            break;
        }
        line.clear();
    }
    let Some(pid) = pid else {
        let _ = helper.kill();
        let _ = helper.wait();
        panic!("the helper did not start a proxy");
    };
    // Alive after its starting thread ended, and listening.
    assert_eq!(common::comm(pid), "docker-proxy");
    TcpStream::connect((V4, port)).expect("the proxy does not listen");
    helper.kill().unwrap();
    helper.wait().unwrap();
    // SIGTERM from PR_SET_PDEATHSIG: it exits 0; we reap it as its subreaper.
    let end = Instant::now() + Duration::from_secs(10);
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes one int; pid is our descendant, reparented to us.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if rc == pid {
            break;
        }
        if Instant::now() > end {
            // SAFETY: as above.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("docker-proxy {pid} outlived the process that started it");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(std::process::ExitStatus::from_raw(status).code(), Some(0));
}

/// The static build (scripts/build.sh), which is what runs in production: its memory is the
/// one that counts (the test build is dynamically linked and unoptimised).
fn static_build() -> Option<PathBuf> {
    let target = dockbox().parent()?.parent()?.to_path_buf();
    let found = std::fs::read_dir(&target).ok()?.flatten().map(|e| e.path().join("release/dockbox")).find(|p| {
        p.exists() && Command::new("file").arg("-L").arg(p).output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("statically linked"))
    });
    let usable = found.filter(|p| Command::new(p).arg("--list").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l == "docker-proxy")));
    if usable.is_none() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true: no static dockbox with docker-proxy under {} (run scripts/build.sh)", target.display());
        eprintln!("skipped: no static build (scripts/build.sh)");
    }
    usable
}

fn private_kib(pid: u32) -> u64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    rollup.lines().filter(|l| l.starts_with("Private_Clean:") || l.starts_with("Private_Dirty:")).map(|l| l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap()).sum()
}

#[test]
fn an_idle_proxy_holds_at_most_128_kib_of_private_memory() {
    let Some(bin) = static_build() else { return };
    let dir = common::TempDir::new("proxy-mem");
    let link = dir.join("docker-proxy");
    std::os::unix::fs::symlink(&bin, &link).unwrap();
    for proto in [Proto::Tcp, Proto::Udp] {
        let backend = if proto == Proto::Tcp { echo_backend(V4) } else { udp_backend(V4) };
        let m = mapping(proto, V4, backend);
        let child = proxy::start(&link, &m).unwrap();
        // Docker starts the proxies of a port in pairs (IPv4 and IPv6), and in production
        // the daemons run the same file: the executable's pages are shared then, and what a
        // proxy holds alone is its own data. A second proxy stands for those sharers.
        // (Alone, the first proxy to run the forwarding code would count those ~128 KiB of
        // clean, shared text pages as its own.)
        let sm = mapping(proto, V4, backend);
        let sibling = proxy::start(&link, &sm).unwrap();
        // Idle after having served: one connection or conversation through each first.
        for port in [m.host_port, sm.host_port] {
            if proto == Proto::Tcp {
                assert_eq!(echo_through(SocketAddr::new(V4, port), b"hello"), b"hello");
            } else {
                let c = UdpSocket::bind((V4, 0)).unwrap();
                assert!(udp_ask(&c, SocketAddr::new(V4, port), "hello").ends_with("hello"));
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        let kib = private_kib(child.id());
        eprintln!("{proto}: {kib} KiB private");
        assert!(kib <= 128, "{proto}: an idle docker-proxy holds {kib} KiB of private memory");
        stop_cleanly(child);
        stop_cleanly(sibling);
    }
}
