//! docker-runc's terminal, exec, hooks inside the container, user namespaces, features and
//! the checkpoint refusal, against the real kernel with busybox bundles.

mod common;

use common::{applet, require_root, text, Bundle, TempDir};
use serde_json::{json, Value};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

/// A bundle whose detached inits and exec'd processes come back to this process (a
/// subreaper, reaped by the bundle's drop), not to a late PID 1.
fn adopting_bundle(tag: &str) -> Bundle {
    let _ = dockbox::sys::set_child_subreaper();
    Bundle::new(tag)
}

/// Reads from a pty master until `needle` shows up (or 5 s pass); returns what was read.
fn read_until(master: &OwnedFd, needle: &str) -> String {
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline && !text(&seen).contains(needle) {
        let mut fds = [nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(master), nix::poll::PollFlags::POLLIN)];
        if nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16)).unwrap_or(0) > 0 {
            let mut buf = [0u8; 1024];
            match nix::unistd::read(master.as_raw_fd(), &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    }
    text(&seen)
}

/// A console socket and a thread that receives the master from it.
fn console_socket(dir: &TempDir) -> (PathBuf, std::thread::JoinHandle<(OwnedFd, String)>) {
    let path = dir.join(format!("console-{}.sock", dockbox::ids::new_id()));
    let listener = dockbox::sys::bind_unix(&path).unwrap();
    let handle = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        dockbox::runc::console::recv_fd(conn.as_raw_fd()).unwrap()
    });
    (path, handle)
}

#[test]
fn terminal_goes_through_the_console_socket() {
    if !require_root() {
        return;
    }
    let b = adopting_bundle("runc-tty");
    let mut spec = b.tty_config(&["sh", "-c", "tty; stty size; read line; echo got:$line; exit 3"]);
    spec["process"]["consoleSize"] = json!({"height": 33, "width": 101});
    b.write(&spec);
    // Without a console socket, runc's error.
    let out = b.quiet(&["create", "--bundle", b.bundle().to_str().unwrap(), "t0"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("cannot allocate tty if runc will detach without setting console socket"), "{}", text(&out.stderr));

    let (sock, receiver) = console_socket(&b.dir);
    let out = b.quiet(&["create", "--bundle", b.bundle().to_str().unwrap(), "--console-socket", sock.to_str().unwrap(), "t1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (master, name) = receiver.join().unwrap();
    assert_eq!(name, "/dev/pts/0");
    assert!(b.quiet(&["start", "t1"]).status.success());
    let seen = read_until(&master, "33 101");
    assert!(seen.contains("/dev/pts/0"), "{seen:?}");
    nix::unistd::write(&master, b"hello\n").unwrap();
    let seen = read_until(&master, "got:hello");
    assert!(seen.contains("got:hello"), "{seen:?}");
    for _ in 0..200 {
        if b.state("t1")["status"] == "stopped" {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(b.state("t1")["status"], "stopped");
}

#[test]
fn run_in_the_foreground_proxies_its_terminal() {
    if !require_root() {
        return;
    }
    let b = adopting_bundle("runc-tty-run");
    b.write(&b.tty_config(&["sh", "-c", "tty && echo out-$((6*7))"]));
    let out = b.runc().args(["run", "--bundle", b.bundle().to_str().unwrap(), "fg"]).stdin(Stdio::null()).output().unwrap();
    let stdout = text(&out.stdout);
    assert!(stdout.contains("/dev/pts/0") && stdout.contains("out-42"), "{stdout:?} {}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn exec_joins_the_container() {
    if !require_root() {
        return;
    }
    let b = adopting_bundle("runc-exec");
    let mut spec = b.config(&["sleep", "30"]);
    spec["hostname"] = json!("exectest");
    spec["process"]["env"] = json!(["PATH=/bin", "FROM_SPEC=1"]);
    b.write(&spec);
    let bundle = b.bundle();
    let out = b.quiet(&["run", "-d", "--bundle", bundle.to_str().unwrap(), "e"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let init = b.state("e")["pid"].as_i64().unwrap();

    let out = b.runc().args(["exec", "--env", "EXTRA=2", "--cwd", "/tmp", "e", "sh", "-c", "hostname; echo $FROM_SPEC$EXTRA; pwd; cat /proc/1/comm; exit 7"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(text(&out.stdout), "exectest\n12\n/tmp\nsleep\n", "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(7));
    // Same namespaces as the init.
    for ns in ["mnt", "pid", "net", "uts", "ipc"] {
        let init_ns = std::fs::read_link(format!("/proc/{init}/ns/{ns}")).unwrap();
        let out = b.runc().args(["exec", "e", "readlink", &format!("/proc/self/ns/{ns}")]).output().unwrap();
        assert_eq!(text(&out.stdout).trim(), init_ns.to_str().unwrap(), "{ns}");
    }
    // --user and -p.
    let out = b.runc().args(["exec", "-u", "1000:1001", "-g", "5", "e", "id"]).output().unwrap();
    assert_eq!(text(&out.stdout).trim(), "uid=1000 gid=1001 groups=5", "{}", text(&out.stderr));
    let process = b.dir.join("process.json");
    std::fs::write(&process, json!({"args": ["sh", "-c", "echo from-p $A"], "env": ["PATH=/bin", "A=b"], "cwd": "/", "user": {"uid": 0, "gid": 0}}).to_string()).unwrap();
    let out = b.runc().args(["exec", "-p", process.to_str().unwrap(), "e"]).output().unwrap();
    assert_eq!(text(&out.stdout), "from-p b\n", "{}", text(&out.stderr));
    // -d with a pid file: the process runs on, adopted by our subreaper (the test).
    let pid_file = b.dir.join("exec.pid");
    let out = b.quiet(&["exec", "-d", "--pid-file", pid_file.to_str().unwrap(), "e", "sleep", "20"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert_eq!(common::comm(pid), "sleep");
    assert_eq!(std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap(), std::fs::read_link(format!("/proc/{init}/ns/pid")).unwrap());
    // A missing program is runc's error, and runc's own failure status (255).
    let out = b.quiet(&["exec", "e", "nope"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out.stderr).contains("executable file not found in $PATH"), "{}", text(&out.stderr));
    // exec -t with a console socket.
    let (sock, receiver) = console_socket(&b.dir);
    let tty_pid_file = b.dir.join("tty.pid");
    let out = b.quiet(&["exec", "-t", "-d", "--pid-file", tty_pid_file.to_str().unwrap(), "--console-socket", sock.to_str().unwrap(), "e", "sh", "-c", "tty; sleep 1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let tty_pid: i32 = std::fs::read_to_string(&tty_pid_file).unwrap().trim().parse().unwrap();
    let (master, _) = receiver.join().unwrap();
    let seen = read_until(&master, "/dev/pts/");
    assert!(seen.contains("/dev/pts/0"), "{seen:?}");

    assert!(b.quiet(&["kill", "e", "KILL"]).status.success());
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    for _ in 0..300 {
        // The exec'd processes we adopted must be reaped before the namespace's init can die.
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(tty_pid), Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        if b.state("e")["status"] == "stopped" {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = b.quiet(&["exec", "e", "true"]);
    assert!(text(&out.stderr).contains("cannot exec in a stopped container"), "{}", text(&out.stderr));
}

#[test]
fn container_hooks_run_inside() {
    if !require_root() {
        return;
    }
    let b = adopting_bundle("runc-hooks2");
    let log = b.dir.join("hooks.log");
    let mut spec = b.config(&["true"]);
    // createContainer runs in the container's mount namespace before pivot_root (so the host
    // path of the hook works); startContainer runs in the container (busybox's sh).
    spec["hooks"] = json!({
        "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {0}; readlink /proc/self/ns/mnt >> {0}", log.display())]}],
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "hostname > /dev/shm/x; echo started > /proc/1/fd/1"]}],
    });
    b.write(&spec);
    let out = b.runc().args(["run", "--bundle", b.bundle().to_str().unwrap(), "h"]).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "started\n");
    let logged = std::fs::read_to_string(&log).unwrap();
    let (state, ns) = logged.split_once('}').unwrap();
    let state: Value = serde_json::from_str(&format!("{state}}}")).unwrap();
    assert_eq!(state["id"], "h");
    assert!(state["pid"].as_i64().unwrap() > 1);
    assert_ne!(ns.trim(), std::fs::read_link("/proc/self/ns/mnt").unwrap().to_str().unwrap());
}

#[test]
fn features_and_checkpoint() {
    let out = applet("docker-runc").arg("features").output().unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ociVersionMin"], "1.0.0");
    assert!(v["hooks"].as_array().unwrap().contains(&json!("createContainer")));
    assert!(v["linux"]["namespaces"].as_array().unwrap().contains(&json!("user")));
    assert!(v["linux"]["capabilities"].as_array().unwrap().contains(&json!("CAP_SYS_ADMIN")));
    for cmd in ["checkpoint", "restore"] {
        let out = applet("docker-runc").args([cmd, "x"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out.stderr).contains("not supported"), "{}", text(&out.stderr));
    }
}

fn run_fg(b: &Bundle, id: &str) -> Output {
    b.runc().args(["run", "--bundle", b.bundle().to_str().unwrap(), id]).stdin(Stdio::null()).output().unwrap()
}

#[test]
fn user_namespace_with_mappings() {
    if !require_root() {
        return;
    }
    let b = adopting_bundle("runc-userns");
    let mut spec = b.config(&["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; ls -ln /dev/null; echo x > /dev/null && echo ok; cat /proc/1/comm"]);
    spec["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.write(&spec);
    let out = run_fg(&b, "u");
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    assert_eq!(lines.len(), 6, "{stdout:?} {}", text(&out.stderr));
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["0", "100000", "65536"]);
    assert_eq!(lines[1].split_whitespace().collect::<Vec<_>>(), ["0", "100000", "65536"]);
    assert_eq!(lines[2], "0");
    // A bind of the host's node (owned by an unmapped id), not a node made inside.
    assert!(lines[3].starts_with("crw-rw-rw-") && lines[3].contains("65534"), "{}", lines[3]);
    assert_eq!(lines[4], "ok");
    // The last command is exec'd by sh: it is pid 1 of the new pid namespace.
    assert_eq!(lines[5], "cat");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn rootless_spec_runs_as_root() {
    if !require_root() {
        return;
    }
    let b = adopting_bundle("runc-rootless");
    let spec_dir = b.dir.join("specdir");
    std::fs::create_dir_all(&spec_dir).unwrap();
    let out = b.runc().args(["spec", "--rootless", "--bundle", spec_dir.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut spec: Value = serde_json::from_slice(&std::fs::read(spec_dir.join("config.json")).unwrap()).unwrap();
    spec["process"]["terminal"] = json!(false);
    spec["process"]["args"] = json!(["sh", "-c", "cat /proc/self/uid_map; readlink /proc/self/ns/user"]);
    spec["root"]["path"] = json!(b.bundle().join("rootfs"));
    b.write(&spec);
    let out = run_fg(&b, "rl");
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().next().map(|l| l.split_whitespace().collect::<Vec<_>>()), Some(vec!["0", "0", "1"]), "{stdout:?} {}", text(&out.stderr));
    assert_ne!(stdout.lines().nth(1).unwrap_or(""), std::fs::read_link("/proc/self/ns/user").unwrap().to_str().unwrap());
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn time_and_cgroup_namespaces() {
    if !require_root() {
        return;
    }
    let b = adopting_bundle("runc-timens");
    let mut spec = b.config(&["sh", "-c", "cut -d. -f1 /proc/uptime; readlink /proc/self/ns/cgroup; cat /proc/self/cgroup | grep '^0::'"]);
    let ns = spec["linux"]["namespaces"].as_array_mut().unwrap();
    ns.push(json!({"type": "time"}));
    ns.push(json!({"type": "cgroup"}));
    spec["linux"]["timeOffsets"] = json!({"boottime": {"secs": 864000, "nanosecs": 0}, "monotonic": {"secs": 864000, "nanosecs": 0}});
    b.write(&spec);
    let out = run_fg(&b, "tm");
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    let uptime: u64 = lines.next().and_then(|l| l.parse().ok()).unwrap_or_else(|| panic!("{stdout:?} {}", text(&out.stderr)));
    let host: f64 = std::fs::read_to_string("/proc/uptime").unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(uptime as f64 >= host + 864000.0 - 5.0, "{uptime} vs host {host}");
    assert_ne!(lines.next().unwrap(), std::fs::read_link("/proc/self/ns/cgroup").unwrap().to_str().unwrap());
    // Inside its own cgroup namespace the container's cgroup is the root.
    assert_eq!(lines.next(), Some("0::/"));
}

#[test]
fn exec_enters_a_user_namespace() {
    if !require_root() {
        return;
    }
    let b = adopting_bundle("runc-userns-exec");
    let mut spec = b.config(&["sleep", "30"]);
    spec["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    b.write(&spec);
    let out = b.quiet(&["run", "-d", "--bundle", b.bundle().to_str().unwrap(), "ue"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let init = b.state("ue")["pid"].as_i64().unwrap();
    let out = b.runc().args(["exec", "-u", "7", "ue", "sh", "-c", "id -u; readlink /proc/self/ns/user"]).output().unwrap();
    let stdout = text(&out.stdout);
    let user_ns = std::fs::read_link(format!("/proc/{init}/ns/user")).unwrap();
    assert_eq!(stdout, format!("7\n{}\n", user_ns.display()), "{}", text(&out.stderr));
    // Seen from the host, the process runs as the mapped id.
    let pid_file = b.dir.join("ue.pid");
    let out = b.quiet(&["exec", "-d", "--pid-file", pid_file.to_str().unwrap(), "-u", "7", "ue", "sleep", "5"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let uid = common::proc_field(pid, "Uid").unwrap();
    assert_eq!(uid.split_whitespace().next(), Some("200007"), "{uid}");
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
}

#[test]
fn exec_joins_the_init_cgroups() {
    if !require_root() {
        return;
    }
    let b = adopting_bundle("runc-exec-cg");
    b.write(&b.config(&["sleep", "30"]));
    let out = b.quiet(&["run", "-d", "--bundle", b.bundle().to_str().unwrap(), "cg"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let init = b.state("cg")["pid"].as_i64().unwrap();
    // Move the init into a pids cgroup of its own (as a cgroup manager would).
    let name = format!("dbx-exec-{}", &dockbox::ids::new_id()[..12]);
    let cg = PathBuf::from("/sys/fs/cgroup/pids").join(&name);
    std::fs::create_dir(&cg).unwrap();
    std::fs::write(cg.join("cgroup.procs"), init.to_string()).unwrap();
    let out = b.runc().args(["exec", "cg", "grep", ":pids:", "/proc/self/cgroup"]).output().unwrap();
    let seen = text(&out.stdout);
    assert!(b.quiet(&["delete", "-f", "cg"]).status.success());
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(init as i32), None);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::fs::remove_dir(&cg).is_err() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!cg.exists(), "cgroup {} left behind", cg.display());
    assert!(seen.trim().ends_with(&format!(":pids:/{name}")), "{seen:?} {}", text(&out.stderr));
}
