//! SCMP_ACT_NOTIFY (issue 14, "Seccomp"): the filter's listener goes to the seccomp agent at
//! `listenerPath` with the container's process state, in `run` and `exec`, with and without
//! noNewPrivileges; the agent answers the notified calls; a missing agent or listenerPath, a
//! notified `write` or a notifying default action fail as runc fails; an agent that lets go of
//! the listener makes the notified calls fail (ENOSYS, from the kernel). Each case runs on
//! docker-runc and, where installed, on the real runc, with the same test agent.

mod common;
mod runtimes;

use common::{require_root, text, Bundle};
use runtimes::{runtimes, Runtime};
use serde_json::{json, Value};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A seccomp agent on a socket of the test's own: for each connection, the process state it
/// was sent; it answers each notified call with `-errno` (or, with `None`, lets go of the
/// listener at once, as an agent that dies).
struct Agent {
    path: PathBuf,
    thread: std::thread::JoinHandle<Vec<Value>>,
}

impl Agent {
    fn start(dir: &Path, name: &str, errno: Option<i32>, connections: usize) -> Agent {
        let path = dir.join(name);
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let thread = std::thread::spawn(move || {
            let mut states = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(30);
            while states.len() < connections && Instant::now() < deadline {
                let Ok((conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                conn.set_nonblocking(false).unwrap();
                let (state, fd) = receive(conn.as_raw_fd());
                states.push(state);
                // Each listener is answered on a thread of its own: an init's filter lives
                // as long as the container, while an exec's calls come meanwhile.
                if let Some(errno) = errno {
                    std::thread::spawn(move || answer_until_hangup(&fd, errno));
                }
            }
            states
        });
        Agent { path, thread }
    }

    fn states(self) -> Vec<Value> {
        self.thread.join().unwrap()
    }
}

/// The state JSON and the listener a runtime sent.
fn receive(socket: i32) -> (Value, OwnedFd) {
    let mut buf = vec![0u8; 8192];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(socket, &mut iov, Some(&mut space), nix::sys::socket::MsgFlags::empty()).unwrap();
    let mut fd = None;
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the descriptor just arrived with the message and is ours alone.
            fd = Some(unsafe { OwnedFd::from_raw_fd(fds[0]) });
        }
    }
    let n = msg.bytes;
    (serde_json::from_slice(&buf[..n]).unwrap(), fd.expect("no descriptor came with the state"))
}

/// Answers every notification with `-errno` until no process uses the filter any more.
fn answer_until_hangup(listener: &OwnedFd, errno: i32) {
    loop {
        let mut fds = [nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(listener), nix::poll::PollFlags::POLLIN)];
        if nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(20_000u16)).unwrap_or(0) == 0 {
            return;
        }
        let revents = fds[0].revents().unwrap_or(nix::poll::PollFlags::empty());
        if !revents.contains(nix::poll::PollFlags::POLLIN) {
            return;
        }
        // SAFETY: all-zero is a valid seccomp_notif, and the kernel wants it zeroed.
        let mut notif: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: the request takes a pointer to a seccomp_notif, which outlives the call.
        if unsafe { libc::ioctl(listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV as _, &mut notif) } != 0 {
            continue; // the notifying process went away meanwhile
        }
        let mut resp = libc::seccomp_notif_resp { id: notif.id, val: 0, error: -errno, flags: 0 };
        // SAFETY: the request takes a pointer to a seccomp_notif_resp, which outlives the call.
        unsafe { libc::ioctl(listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND as _, &mut resp) };
    }
}

/// A profile that lets everything through but hands mkdir to the agent at `listener`.
fn notifying_profile(listener: Option<&Path>, notified: &[&str]) -> Value {
    let mut p = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerMetadata": "meta-1",
        "syscalls": [{"names": notified, "action": "SCMP_ACT_NOTIFY"}],
    });
    if let Some(l) = listener {
        p["listenerPath"] = json!(l.to_str().unwrap());
    }
    p
}

fn spec(b: &Bundle, args: &[&str], seccomp: Value, no_new_privileges: bool) -> Value {
    let mut spec = b.config(args);
    spec["root"]["readonly"] = json!(false);
    spec["process"]["noNewPrivileges"] = json!(no_new_privileges);
    spec["linux"]["seccomp"] = seccomp;
    spec
}

fn run(rt: &Runtime, b: &Bundle, id: &str) -> std::process::Output {
    rt.run(&["run", "--bundle", b.bundle().to_str().unwrap(), id])
}

#[test]
fn notified_calls_go_to_the_agent_in_run_and_exec() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("notify");
    for rt in runtimes(&b) {
        for nnp in [false, true] {
            let id = format!("n-{}-{nnp}", rt.name);
            // run: the agent answers mkdir with ENOTBLK, which only it could have chosen.
            let agent = Agent::start(b.dir.path(), &format!("agent-{id}"), Some(libc::ENOTBLK), 1);
            b.write(&spec(&b, &["mkdir", "/made"], notifying_profile(Some(&agent.path), &["mkdir", "mkdirat"]), nnp));
            let out = run(&rt, &b, &id);
            assert!(text(&out.stderr).contains("Block device required"), "{} nnp={nnp}: the agent did not answer mkdir: {}{}", rt.name, text(&out.stdout), text(&out.stderr));
            assert!(!b.rootfs().join("made").exists());
            let states = agent.states();
            assert_eq!(states.len(), 1, "{}: {states:?}", rt.name);
            let s = &states[0];
            assert_eq!(s["fds"], json!(["seccompFd"]), "{}: {s}", rt.name);
            assert_eq!(s["metadata"], "meta-1", "{}: {s}", rt.name);
            assert_eq!(s["state"]["id"], id.as_str(), "{}: {s}", rt.name);
            assert_eq!(s["state"]["status"], "creating", "{}: {s}", rt.name);
            assert_eq!(s["pid"], s["state"]["pid"], "{}: the init's own filter: {s}", rt.name);
            assert_eq!(s["state"]["bundle"], b.bundle().to_str().unwrap(), "{}: {s}", rt.name);
            let _ = rt.run(&["delete", "-f", &id]);
        }

        // exec: the init's filter (run -d) and the exec's each reach the agent.
        let id = format!("e-{}", rt.name);
        let agent = Agent::start(b.dir.path(), &format!("agent-{id}"), Some(libc::ENOTBLK), 2);
        b.write(&spec(&b, &["sleep", "100"], notifying_profile(Some(&agent.path), &["mkdir", "mkdirat"]), false));
        rt.run_detached(&b.bundle(), &id);
        let out = rt.run(&["exec", &id, "mkdir", "/exec-made"]);
        assert!(text(&out.stderr).contains("Block device required"), "{} exec: {}", rt.name, text(&out.stderr));
        let _ = rt.run(&["delete", "-f", &id]);
        let states = agent.states();
        assert_eq!(states.len(), 2, "{}: {states:?}", rt.name);
        let e = &states[1];
        assert_eq!(e["state"]["status"], "running", "{}: {e}", rt.name);
        assert_eq!(e["state"]["pid"], states[0]["pid"], "{}: the container's init: {e}", rt.name);
        assert_ne!(e["pid"], e["state"]["pid"], "{}: the exec'd process: {e}", rt.name);
    }
}

#[test]
fn notify_misconfigurations_fail_as_runc() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("notify-bad");
    for rt in runtimes(&b) {
        let missing = b.dir.join("no-agent-here.sock");
        let cases: [(&str, Value, &str); 4] = [
            ("no agent", notifying_profile(Some(&missing), &["mkdir"]), "seccomp agent"),
            ("no listenerPath", notifying_profile(None, &["mkdir"]), "listenerPath is not set"),
            ("write", notifying_profile(Some(&missing), &["write"]), "SCMP_ACT_NOTIFY cannot be used for the write syscall"),
            ("default", json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": missing.to_str().unwrap()}), "SCMP_ACT_NOTIFY cannot be used as default action"),
        ];
        for (i, (what, profile, expected)) in cases.into_iter().enumerate() {
            let id = format!("bad-{}-{i}", rt.name);
            b.write(&spec(&b, &["true"], profile, false));
            let out = run(&rt, &b, &id);
            assert!(!out.status.success(), "{} {what}: ran", rt.name);
            assert!(text(&out.stderr).contains(expected), "{} {what}: {}", rt.name, text(&out.stderr));
            let _ = rt.run(&["delete", "-f", &id]);
        }
    }
}

#[test]
fn calls_notified_to_an_agent_that_let_go_fail() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("notify-gone");
    for rt in runtimes(&b) {
        let id = format!("g-{}", rt.name);
        let agent = Agent::start(b.dir.path(), &format!("agent-{id}"), None, 1);
        b.write(&spec(&b, &["mkdir", "/made"], notifying_profile(Some(&agent.path), &["mkdir", "mkdirat"]), true));
        let out = run(&rt, &b, &id);
        assert!(text(&out.stderr).contains("Function not implemented"), "{}: {}", rt.name, text(&out.stderr));
        assert_eq!(agent.states().len(), 1);
        let _ = rt.run(&["delete", "-f", &id]);
    }
}
