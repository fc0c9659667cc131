//! docker-containerd, docker-containerd-shim and ctr against a real OCI runtime (/usr/bin/runc):
//! output through FIFOs, exit statuses, the process tree, restarts and runtime errors.

mod common;

use common::TempDir;
use dockbox::containerd::client::{Client, CreateTask, Event};
use dockbox::rpc::ErrorKind;
use serde_json::json;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use serde_json::Value;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const RUNTIME: &str = "/usr/bin/runc";

/// A docker-containerd serving in a private temp dir.
struct Daemon {
    dir: TempDir,
    child: Option<Child>,
}

impl Daemon {
    fn start(tag: &str) -> Daemon {
        dockbox::sys::set_child_subreaper().unwrap();
        let dir = TempDir::new(tag);
        let mut d = Daemon { dir, child: None };
        d.restart();
        d
    }

    fn address(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    fn client(&self) -> Client {
        Client::new(&self.address())
    }

    fn workdir(&self, id: &str) -> PathBuf {
        self.dir.join("root/io.containerd.runtime.v1.linux/moby").join(id)
    }

    fn statedir(&self, id: &str) -> PathBuf {
        self.dir.join("state/io.containerd.runtime.v1.linux/moby").join(id)
    }

    /// Starts (again) a containerd on the same dirs.
    fn restart(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("containerd.log")).unwrap();
        let child = common::applet("docker-containerd")
            .arg("--address")
            .arg(self.address())
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--state")
            .arg(self.dir.join("state"))
            .arg("--runtime")
            .arg(RUNTIME)
            .arg("--debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.client().version().is_err() {
            assert!(Instant::now() < deadline, "containerd did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGKILLs containerd, as a crash would.
    fn crash(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Builds an OCI bundle running `args` in new pid/mount/uts/ipc/net namespaces.
    fn bundle(&self, name: &str, args: &[&str]) -> PathBuf {
        let bundle = self.dir.join("bundles").join(name);
        common::busybox_rootfs(&bundle.join("rootfs"));
        let config = json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false,
                "user": {"uid": 0, "gid": 0},
                "args": args,
                "env": ["PATH=/bin:/sbin:/usr/bin"],
                "cwd": "/",
                "noNewPrivileges": true
            },
            "root": {"path": "rootfs", "readonly": false},
            "hostname": "dockbox-test",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}
            ],
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"}, {"type": "network"}]
            }
        });
        std::fs::write(bundle.join("config.json"), serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        bundle
    }

    /// Creates `id` with stdout/stderr FIFOs; returns the pid and the (non-blocking) stdout reader.
    fn create(&self, id: &str, args: &[&str]) -> (u32, std::fs::File) {
        self.create_with(id, args, None, false)
    }

    fn create_with(&self, id: &str, args: &[&str], runtime: Option<&str>, with_stdin: bool) -> (u32, std::fs::File) {
        let bundle = self.bundle(id, args);
        let fifos = self.dir.join("fifos");
        std::fs::create_dir_all(&fifos).unwrap();
        let stdout = fifos.join(format!("{id}-stdout"));
        let stderr = fifos.join(format!("{id}-stderr"));
        nix::unistd::mkfifo(&stdout, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        nix::unistd::mkfifo(&stderr, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let stdin = with_stdin.then(|| {
            let p = fifos.join(format!("{id}-stdin"));
            nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
            p
        });
        let reader = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&stdout).unwrap();
        let task = CreateTask { id: id.into(), bundle, runtime: runtime.map(str::to_string), stdin, stdout: Some(stdout), stderr: Some(stderr), terminal: false, no_pivot: false };
        let pid = self.client().create(&task).unwrap_or_else(|e| panic!("create {id}: {e}\n{}", self.log()));
        (pid, reader)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    /// Subscribes to events on a thread; returns once the subscription is live.
    fn subscribe(&self) -> mpsc::Receiver<Value> {
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let client = self.client();
        std::thread::spawn(move || {
            let _ = client.raw_events(&mut |v| {
                if v["topic"] == "/subscribed" {
                    return ready_tx.send(()).is_ok();
                }
                tx.send(v.clone()).is_ok()
            });
        });
        ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        rx
    }
}

impl Drop for Daemon {
    /// Tears everything down even after a failed assertion, without ever blocking for long.
    fn drop(&mut self) {
        if self.child.is_some() {
            common::remove_all_tasks(&self.client());
            self.crash();
        }
        // Whatever is left (after a failure): the runtime kills the containers, then the shims go.
        let runtime_root = self.dir.join("state/runtime-runc/moby");
        if let Ok(entries) = std::fs::read_dir(&runtime_root) {
            for e in entries.flatten() {
                let _ = std::process::Command::new(RUNTIME).arg("--root").arg(&runtime_root).args(["delete", "--force"]).arg(e.file_name()).stderr(Stdio::null()).status();
            }
        }
        for pid in processes_mentioning(self.dir.path().to_str().unwrap()) {
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
            for p in children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()).chain([pid]) {
                reap_orphan(p);
            }
        }
    }
}

fn proc_status_field(pid: u32, field: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
}

fn ppid(pid: u32) -> u32 {
    proc_status_field(pid, "PPid").unwrap().parse().unwrap()
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap().trim().to_string()
}

fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline")).unwrap().split(|&b| b == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            if String::from_utf8_lossy(&cmd).contains(needle) {
                found.push(pid);
            }
        }
    }
    found
}

fn alive(pid: u32) -> bool {
    matches!(proc_status_field(pid, "State"), Some(s) if !s.starts_with('Z') && !s.starts_with('X'))
}

fn shim_of(d: &Daemon, id: &str) -> u32 {
    let workdir = d.workdir(id);
    let pids = processes_mentioning(&format!("-workdir\0{}", workdir.display()));
    assert_eq!(pids.len(), 1, "expected one shim for {id}: {pids:?}");
    pids[0]
}

fn wait_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(Instant::now() < deadline, "process {pid} is still alive");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reaps a process that was reparented to us (the test is a subreaper); gives up after 10 s.
fn reap_orphan(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as i32), Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            Ok(nix::sys::wait::WaitStatus::StillAlive) => {}
            Ok(_) => return true,
            // Not our child (any more): someone else reaps it.
            Err(_) => return !alive(pid),
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn next_exit(rx: &mpsc::Receiver<Value>, id: &str) -> (u32, i32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let v = rx.recv_timeout(left).expect("no exit event");
        if v["topic"] == "/tasks/exit" && v["id"] == id {
            let at = v["exited_at"].as_str().unwrap();
            assert!(dockbox::sys::parse_rfc3339(at).is_some(), "bad exited_at {at}");
            return (v["pid"].as_u64().unwrap() as u32, v["exit_status"].as_i64().unwrap() as i32);
        }
    }
}

/// The typed event API sees the same stream.
fn typed_exit(client: Client, id: &str) -> mpsc::Receiver<i32> {
    let (tx, rx) = mpsc::channel();
    let id = id.to_string();
    std::thread::spawn(move || {
        let _ = client.events(&mut |e| match e {
            Event::Exit { id: eid, exit_status, .. } if eid == id => {
                let _ = tx.send(exit_status);
                false
            }
            _ => true,
        });
    });
    rx
}

fn private_kib(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("Private_Clean:") || l.starts_with("Private_Dirty:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

#[test]
fn echo_output_and_exit_code_pass_through() {
    if !common::require_root() {
        return;
    }
    let d = Daemon::start("ctd-echo");
    let events = d.subscribe();
    let client = d.client();
    let (pid, mut stdout) = d.create("hello", &["sh", "-c", "echo hello; exit 3"]);
    assert!(pid > 0);
    assert_eq!(client.state("hello").unwrap().status, "created");
    let shim = shim_of(&d, "hello");
    assert_eq!(client.start("hello").unwrap(), pid);
    let exit = client.wait("hello").unwrap();
    assert_eq!(exit.exit_status, 3);
    // Events arrive in order even though the container exits the moment it starts.
    let create = events.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!((create["topic"].as_str(), create["id"].as_str(), create["pid"].as_u64()), (Some("/tasks/create"), Some("hello"), Some(pid as u64)));
    let start = events.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(start["topic"], "/tasks/start");
    assert_eq!(next_exit(&events, "hello"), (pid, 3));
    let mut out = String::new();
    // EOF (not EAGAIN) proves no write end survived: not runc's, not the shim's.
    stdout.read_to_string(&mut out).expect("the stdout FIFO still has a writer");
    assert_eq!(out, "hello\n");
    let state = client.state("hello").unwrap();
    assert_eq!((state.status.as_str(), state.exit_status), ("stopped", Some(3)));

    let deleted = client.delete("hello").unwrap();
    assert_eq!((deleted.pid, deleted.exit_status), (pid, 3));
    wait_gone(shim);
    assert!(!d.workdir("hello").exists() && !d.statedir("hello").exists(), "task dirs were left behind");
    assert_eq!(client.state("hello").unwrap_err().kind, ErrorKind::NotFound);
    assert!(client.list().unwrap().is_empty());
}

#[test]
fn process_tree_is_containerd_shim_container_and_kill_gives_137() {
    if !common::require_root() {
        return;
    }
    let d = Daemon::start("ctd-tree");
    let events = d.subscribe();
    let client = d.client();
    let (pid, _stdout) = d.create("sleeper", &["sleep", "60"]);
    client.start("sleeper").unwrap();
    assert_eq!(client.state("sleeper").unwrap().status, "running");

    let shim = shim_of(&d, "sleeper");
    assert_eq!(ppid(shim), d.pid(), "the shim's parent is containerd");
    // runc started the container and exited; the orphan came to the shim, a child subreaper.
    assert_eq!(ppid(pid), shim, "the container's parent is the shim");
    assert_eq!(comm(d.pid()), "docker-containe");
    assert_eq!(comm(shim), "docker-containe");
    assert!(cmdline(d.pid())[0].ends_with("docker-containerd"));
    let shim_cmd = cmdline(shim);
    assert_eq!(shim_cmd[0], "docker-containerd-shim");
    for flag in ["-namespace", "-workdir", "-address", "-containerd-binary", "-runtime-root"] {
        assert!(shim_cmd.iter().any(|a| a == flag), "shim command line lacks {flag}: {shim_cmd:?}");
    }
    assert_eq!(proc_status_field(shim, "NSpid").map(|s| s.split_whitespace().count()), Some(1));
    assert_eq!(nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(shim as i32))).unwrap().as_raw() as u32, shim, "the shim leads its own session");
    assert!(processes_mentioning(d.dir.path().to_str().unwrap()).iter().all(|&p| comm(p) != "runc"), "a runc process is still alive");
    // Nothing but the container is left under the shim: every other child was reaped.
    let children = std::fs::read_to_string(format!("/proc/{shim}/task/{shim}/children")).unwrap();
    assert_eq!(children.split_whitespace().collect::<Vec<_>>(), vec![pid.to_string()]);

    // The shim holds the output FIFOs open for reading only; its write ends went to the runtime.
    let fifos = d.dir.join("fifos");
    let mut held = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{shim}/fd")).unwrap().flatten() {
        let Ok(target) = std::fs::read_link(fd.path()) else { continue };
        if target.starts_with(&fifos) {
            let info = std::fs::read_to_string(format!("/proc/{shim}/fdinfo/{}", fd.file_name().to_string_lossy())).unwrap();
            let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).map(|f| u32::from_str_radix(f.trim(), 8).unwrap()).unwrap();
            assert_eq!(flags & libc::O_ACCMODE as u32, libc::O_RDONLY as u32, "shim holds {} for writing", target.display());
            held.push(target);
        }
    }
    held.sort();
    assert_eq!(held, vec![fifos.join("sleeper-stderr"), fifos.join("sleeper-stdout")]);

    eprintln!("docker-containerd-shim private memory (smaps_rollup Private_Clean+Private_Dirty): {} KiB", private_kib(shim));

    let typed = typed_exit(d.client(), "sleeper");
    std::thread::sleep(Duration::from_millis(300));
    client.kill("sleeper", 9, false).unwrap();
    assert_eq!(client.wait("sleeper").unwrap().exit_status, 137);
    assert_eq!(typed.recv_timeout(Duration::from_secs(10)).unwrap(), 137);
    assert_eq!(next_exit(&events, "sleeper"), (pid, 137));
    assert_eq!(client.kill("sleeper", 9, false).unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(client.delete("sleeper").unwrap().exit_status, 137);
    wait_gone(shim);
    assert!(!d.workdir("sleeper").exists() && !d.statedir("sleeper").exists());
}

#[test]
fn containers_survive_a_containerd_crash_and_exits_are_not_lost() {
    if !common::require_root() {
        return;
    }
    let mut d = Daemon::start("ctd-restart");
    let client = d.client();
    let (keeps, _o1) = d.create("keeps-running", &["sleep", "60"]);
    client.start("keeps-running").unwrap();
    let (dies, _o2) = d.create("dies-meanwhile", &["sleep", "60"]);
    client.start("dies-meanwhile").unwrap();
    let shims = [shim_of(&d, "keeps-running"), shim_of(&d, "dies-meanwhile")];

    d.crash();
    assert!(alive(keeps) && alive(dies), "containers died with containerd");
    assert!(shims.iter().all(|&s| alive(s)), "shims died with containerd");
    // Death by SIGKILL while nobody supervises: the shim must keep the status for later.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(dies as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    wait_gone(dies);

    d.restart();
    let tasks = client.list().unwrap();
    let find = |id: &str| tasks.iter().find(|t| t.id == id).unwrap_or_else(|| panic!("{id} not listed: {tasks:?}")).clone();
    let k = find("keeps-running");
    assert_eq!((k.pid, k.status.as_str()), (keeps, "running"));
    let g = find("dies-meanwhile");
    assert_eq!((g.pid, g.status.as_str(), g.exit_status), (dies, "stopped", Some(137)));
    assert_eq!(client.wait("dies-meanwhile").unwrap().exit_status, 137);

    let events = d.subscribe();
    client.kill("keeps-running", 15, false).unwrap_or_else(|e| panic!("kill: {e}"));
    // sleep as pid 1 ignores SIGTERM; KILL goes through.
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(keeps));
    client.kill("keeps-running", 9, false).unwrap();
    assert_eq!(next_exit(&events, "keeps-running"), (keeps, 137));
    assert_eq!(client.wait("keeps-running").unwrap().exit_status, 137);

    for id in ["keeps-running", "dies-meanwhile"] {
        assert_eq!(client.delete(id).unwrap().exit_status, 137);
    }
    // The shims were orphaned to us when containerd crashed.
    for s in shims {
        assert!(reap_orphan(s), "shim {s} did not exit after delete");
    }
    assert!(client.list().unwrap().is_empty());
}

#[test]
fn duplicate_ids_and_runtime_errors_are_reported() {
    if !common::require_root() {
        return;
    }
    let d = Daemon::start("ctd-errors");
    let client = d.client();
    let (_pid, _o) = d.create("dup", &["sleep", "60"]);
    let again = CreateTask { id: "dup".into(), bundle: d.bundle("dup2", &["true"]), ..Default::default() };
    assert_eq!(client.create(&again).unwrap_err().kind, ErrorKind::AlreadyExists);

    let bad = CreateTask { id: "bad".into(), bundle: d.bundle("bad", &["/no/such/program"]), ..Default::default() };
    let err = client.create(&bad).unwrap_err();
    eprintln!("runtime error for a missing executable: {:?} {}", err.kind, err.message);
    assert_eq!(err.kind, ErrorKind::FailedPrecondition);
    assert!(err.message.contains("/no/such/program") && err.message.contains("no such file or directory"), "unexpected message: {}", err.message);
    assert_eq!(client.state("bad").unwrap_err().kind, ErrorKind::NotFound);
    assert!(!d.workdir("bad").exists() && !d.statedir("bad").exists());
    assert!(processes_mentioning(&d.workdir("bad").display().to_string()).is_empty(), "the failed shim is still alive");
    assert_eq!(client.start("nope").unwrap_err().kind, ErrorKind::NotFound);

    // ctr sees the same daemon.
    let ctr = |args: &[&str]| {
        let out = common::applet("ctr").arg("--address").arg(d.address()).args(args).output().unwrap();
        assert!(out.status.success(), "ctr {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(ctr(&["version"]).contains(dockbox::version::DOCKBOX));
    let table = ctr(&["tasks", "list"]);
    assert!(table.starts_with("TASK") && table.lines().any(|l| l.starts_with("dup ") && l.ends_with("CREATED")), "{table}");
    ctr(&["tasks", "kill", "dup", "-s", "SIGKILL"]);
    client.wait("dup").unwrap();
    ctr(&["tasks", "delete", "dup"]);
    assert!(client.list().unwrap().is_empty());
}

#[test]
fn ctr_events_prints_task_events() {
    if !common::require_root() {
        return;
    }
    let d = Daemon::start("ctd-ctr-events");
    let mut ctr = common::applet("ctr").arg("--address").arg(d.address()).arg("events").stdout(Stdio::piped()).spawn().unwrap();
    let stdout = ctr.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // containerd logs each request (--debug): wait until ctr's subscription has arrived.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.log().contains("containerd: events") {
        assert!(Instant::now() < deadline, "ctr events never subscribed");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    let (_pid, _o) = d.create("evt", &["true"]);
    d.client().start("evt").unwrap();
    d.client().wait("evt").unwrap();
    d.client().delete("evt").unwrap();
    let mut out = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !out.contains("/tasks/delete") {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => out.push_str(&(line + "\n")),
            Err(_) => break,
        }
    }
    ctr.kill().unwrap();
    ctr.wait().unwrap();
    for topic in ["/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"] {
        assert!(out.contains(topic), "ctr events missed {topic}:\n{out}");
    }
    assert!(out.lines().all(|l| l.contains(" moby /tasks/") && l.contains("\"id\":\"evt\"")), "{out}");
}

#[test]
fn stdin_reaches_the_container_until_close_stdin() {
    if !common::require_root() {
        return;
    }
    let d = Daemon::start("ctd-stdin");
    let client = d.client();
    let (_pid, mut stdout) = d.create_with("cat", &["sh", "-c", "cat; echo done"], None, true);
    client.start("cat").unwrap();
    {
        use std::io::Write;
        let mut stdin = std::fs::OpenOptions::new().write(true).open(d.dir.join("fifos/cat-stdin")).unwrap();
        stdin.write_all(b"typed\n").unwrap();
    }
    // Our writer is closed, but the shim still holds stdin open: cat must still be running.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(client.state("cat").unwrap().status, "running");
    client.close_stdin("cat").unwrap();
    assert_eq!(client.wait("cat").unwrap().exit_status, 0);
    let mut out = String::new();
    stdout.read_to_string(&mut out).expect("the stdout FIFO still has a writer");
    assert_eq!(out, "typed\ndone\n");
    client.delete("cat").unwrap();
}

#[test]
fn output_nobody_reads_does_not_kill_the_container() {
    if !common::require_root() {
        return;
    }
    let d = Daemon::start("ctd-noreader");
    let client = d.client();
    let (_pid, stdout) = d.create("writer", &["sh", "-c", "echo one; echo two >&2; sleep 0.2; echo three"]);
    // The reader (dockerd) goes away; only the shim's read end keeps the FIFO open.
    drop(stdout);
    client.start("writer").unwrap();
    assert_eq!(client.wait("writer").unwrap().exit_status, 0, "the container got EPIPE/SIGPIPE");
    client.delete("writer").unwrap();
}

#[test]
fn the_runtime_is_selectable_per_task_and_called_like_runc() {
    if !common::require_root() {
        return;
    }
    let d = Daemon::start("ctd-runtime");
    let client = d.client();
    // A runtime of our own (by path) that records how the shim calls it, then is runc.
    // (crun cannot be used on this host: it refuses cgroup v1+v2 hybrid mode.)
    let calls = d.dir.join("calls");
    let wrapper = d.dir.join("recording-runtime");
    std::fs::write(&wrapper, format!("#!/bin/sh\necho \"$*\" >> {}\nexec {RUNTIME} \"$@\"\n", calls.display())).unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (pid, mut stdout) = d.create_with("recorded", &["sh", "-c", "echo recorded; exit 7"], Some(wrapper.to_str().unwrap()), false);
    client.start("recorded").unwrap();
    assert_eq!(client.wait("recorded").unwrap().exit_status, 7);
    let mut out = String::new();
    let _ = stdout.read_to_string(&mut out);
    assert_eq!(out, "recorded\n");
    assert_eq!(client.delete("recorded").unwrap().pid, pid);
    let calls = std::fs::read_to_string(&calls).unwrap();
    let workdir = d.workdir("recorded");
    let prefix = format!("--root {} --log {}/log.json --log-format json", d.dir.join("state/runtime-runc/moby").display(), workdir.display());
    let expected = [
        format!("{prefix} create --bundle {} --pid-file {}/init.pid recorded", d.dir.join("bundles/recorded").display(), workdir.display()),
        format!("{prefix} start recorded"),
        format!("{prefix} delete recorded"),
    ];
    assert_eq!(calls.lines().collect::<Vec<_>>(), expected);

    // A bare name is looked up in PATH.
    let (_pid, _o) = d.create_with("by-name", &["true"], Some("runc"), false);
    let shim_cmd = cmdline(shim_of(&d, "by-name"));
    let runtime_arg = shim_cmd.iter().position(|a| a == "-runtime").map(|i| shim_cmd[i + 1].clone());
    assert!(runtime_arg.as_deref().is_some_and(|r| r.ends_with("/runc")), "{shim_cmd:?}");
    // Deleting a created task destroys its init, which dies of SIGKILL.
    assert_eq!(client.delete("by-name").unwrap().exit_status, 137);

    let err = client.create(&CreateTask { id: "nope".into(), bundle: d.bundle("nope", &["true"]), runtime: Some("no-such-runtime".into()), ..Default::default() }).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument, "{}", err.message);
}

#[test]
fn a_dead_shim_ends_its_container_and_reports_it() {
    if !common::require_root() {
        return;
    }
    let mut d = Daemon::start("ctd-deadshim");
    let client = d.client();
    let sigkill = |pid: u32| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).unwrap();

    // The shim dies while containerd runs: containerd notices through its `wait` connection.
    let events = d.subscribe();
    let (live_pid, _o1) = d.create("shim-dies", &["sleep", "60"]);
    client.start("shim-dies").unwrap();
    let shim = shim_of(&d, "shim-dies");
    sigkill(shim);
    assert_eq!(next_exit(&events, "shim-dies"), (live_pid, 137));
    // Orphaned by its shim, the container came to us (a subreaper) and died of the runtime's SIGKILL.
    assert!(reap_orphan(live_pid), "the container outlived its shim");
    let state = client.state("shim-dies").unwrap();
    assert_eq!((state.status.as_str(), state.exit_status), ("stopped", Some(137)));
    assert_eq!(client.kill("shim-dies", 9, false).unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(client.delete("shim-dies").unwrap().exit_status, 137);
    assert!(!d.workdir("shim-dies").exists() && !d.statedir("shim-dies").exists());

    // The shim dies while containerd is down: the restarted containerd cleans up after it.
    let (pid, _o2) = d.create("orphaned", &["sleep", "60"]);
    client.start("orphaned").unwrap();
    let shim = shim_of(&d, "orphaned");
    d.crash();
    sigkill(shim);
    assert!(reap_orphan(shim));
    assert!(alive(pid), "the container died with its shim");
    d.restart();
    let state = client.state("orphaned").unwrap();
    assert_eq!((state.pid, state.status.as_str(), state.exit_status), (pid, "stopped", Some(137)));
    assert!(reap_orphan(pid), "the container outlived its shim");
    assert_eq!(client.delete("orphaned").unwrap().exit_status, 137);
    assert!(!d.workdir("orphaned").exists() && !d.statedir("orphaned").exists());
    assert!(client.list().unwrap().is_empty());
}

#[test]
fn concurrent_tasks_do_not_interfere() {
    if !common::require_root() {
        return;
    }
    let d = Daemon::start("ctd-concurrent");
    let results: Vec<(String, i32, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let d = &d;
                s.spawn(move || {
                    let id = format!("par{i}");
                    let (_pid, mut stdout) = d.create(&id, &["sh", "-c", &format!("echo task {i}; exit {}", 10 + i)]);
                    let client = d.client();
                    client.start(&id).unwrap();
                    let code = client.wait(&id).unwrap().exit_status;
                    let mut out = String::new();
                    stdout.read_to_string(&mut out).unwrap();
                    client.delete(&id).unwrap();
                    (id, code, out)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, (id, code, out)) in results.into_iter().enumerate() {
        assert_eq!((code, out), (10 + i as i32, format!("task {i}\n")), "{id}");
    }
    assert!(d.client().list().unwrap().is_empty());
}

/// With this executable's own docker-runc as the runtime, the shim enters the applet in a
/// fork rather than executing it: the task behaves the same, its output ends with it, a
/// failure still reports the runtime's message, and the init waiting for `start` still runs
/// from the sealed copy of the binary, never from the writable file (CVE-2019-5736).
#[test]
fn our_own_runtime_runs_in_a_fork_of_the_shim_and_the_init_stays_sealed() {
    if !common::require_root() {
        return;
    }
    let d = Daemon::start("ctd-own-runc");
    let client = d.client();
    let own = common::applet_dir().join("docker-runc");
    let own = own.to_str().unwrap();
    let (pid, mut stdout) = d.create_with("own", &["sh", "-c", "echo own; exit 5"], Some(own), false);
    let exe = std::fs::File::open(format!("/proc/{pid}/exe")).unwrap();
    let sealed = dockbox::fs64::is_read_only(&dockbox::fs64::fstatvfs(&exe).unwrap());
    assert!(sealed, "the init runs from {:?}", std::fs::read_link(format!("/proc/{pid}/exe")));
    drop(exe);
    let shim = shim_of(&d, "own");
    client.start("own").unwrap();
    assert_eq!(client.wait("own").unwrap().exit_status, 5);
    let mut out = String::new();
    stdout.read_to_string(&mut out).expect("the stdout FIFO still has a writer");
    assert_eq!(out, "own\n");
    assert_eq!(client.delete("own").unwrap().exit_status, 5);
    wait_gone(shim);
    assert!(!d.workdir("own").exists() && !d.statedir("own").exists(), "task dirs were left behind");

    let bundle = d.bundle("broken", &["/no/such/program"]);
    let err = client.create(&CreateTask { id: "broken".into(), bundle, runtime: Some(own.into()), ..Default::default() }).unwrap_err();
    assert!(err.message.contains("/no/such/program"), "{}", err.message);
    assert!(client.list().unwrap().is_empty());
}

/// The shim holds the container's mount namespace while the init runs, and lets it go once
/// the exit is reported: the kernel takes a namespace down with its last user, before the
/// parent of an exiting process hears of the exit, so the init's exit is not held up by
/// the container's mounts.
#[test]
fn the_shim_holds_the_mount_namespace_until_the_exit_is_reported() {
    if !common::require_root() {
        return;
    }
    let d = Daemon::start("ctd-mntns");
    let client = d.client();
    let (pid, _stdout) = d.create("held", &["sleep", "100"]);
    let shim = shim_of(&d, "held");
    let ns = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap();
    assert_ne!(ns, std::fs::read_link("/proc/self/ns/mnt").unwrap(), "the container has its own mount namespace");
    let holds = || std::fs::read_dir(format!("/proc/{shim}/fd")).unwrap().flatten().any(|e| std::fs::read_link(e.path()).ok() == Some(ns.clone()));
    assert!(holds(), "the shim holds {ns:?}");
    client.start("held").unwrap();
    client.kill("held", 9, false).unwrap();
    assert_eq!(client.wait("held").unwrap().exit_status, 137);
    let deadline = Instant::now() + Duration::from_secs(5);
    while holds() {
        assert!(Instant::now() < deadline, "the shim still holds {ns:?} after the exit");
        std::thread::sleep(Duration::from_millis(10));
    }
    client.delete("held").unwrap();
    wait_gone(shim);
}
