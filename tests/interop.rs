//! Interoperability with the real thing: Debian's containerd 1.6 (and its runc v2 shim) and
//! Debian's dockerd 20.10 running our docker-runc; our docker-containerd and shim running
//! the real runc and crun, terminal tasks included. Every daemon runs on private roots in a
//! TempDir and is stopped at the end; the tests are subreapers, so nothing outlives them.

mod common;

use common::{applet, applet_dir, require_root, TempDir};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn our_runc() -> PathBuf {
    applet_dir().join("docker-runc")
}

/// The busybox image as an OCI layout (scripts/images.sh), built once per test.
fn busybox_layout(dir: &TempDir) -> PathBuf {
    let out = dir.join("images");
    let ok = Command::new("bash").arg(common::scripts().join("images.sh")).arg(&out).stdout(Stdio::null()).status().unwrap().success();
    assert!(ok, "images.sh failed");
    out.join("busybox")
}

/// The (gzipped) layer blob of a one-layer OCI layout.
fn layer_of(layout: &Path) -> PathBuf {
    let blob = |d: &str| layout.join("blobs/sha256").join(d.trim_start_matches("sha256:"));
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap()).unwrap();
    blob(manifest["layers"][0]["digest"].as_str().unwrap())
}

/// Whether a state.json written by our runc (it records `init_start_time`) is under `dir`:
/// proof that the daemon really ran our binary.
fn our_state_under(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() {
            our_state_under(&p)
        } else {
            p.file_name().is_some_and(|n| n == "state.json") && std::fs::read_to_string(&p).is_ok_and(|t| t.contains("init_start_time"))
        }
    })
}

/// Runs `cmd` under a pty (util-linux `script`), as a user at a terminal would.
fn with_tty(cmd: &str) -> Output {
    Command::new("timeout").args(["60", "script", "-qec", cmd, "/dev/null"]).stdin(Stdio::null()).output().unwrap()
}

/// Stops a daemon we started: SIGTERM, then SIGKILL after `grace`, and reaps it.
fn stop(child: &mut Child, grace: Duration) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Kills and reaps whatever still mentions `dir` (a shim or container left by a failure).
fn sweep(dir: &Path) {
    for pid in common::processes_mentioning(dir) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            Ok(nix::sys::wait::WaitStatus::StillAlive) | Err(_) => {
                if common::processes_mentioning(dir).is_empty() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(_) => {}
        }
    }
}

/// Debian's containerd on private roots.
struct RealContainerd {
    dir: TempDir,
    child: Option<Child>,
    /// The containerd namespace of this test's own: containerd makes a cgroup of that name in
    /// every hierarchy (the parent of its containers' cgroups) and leaves it; Drop removes it.
    namespace: String,
}

impl RealContainerd {
    fn start() -> RealContainerd {
        dockbox::sys::set_child_subreaper().unwrap();
        let dir = TempDir::new("real-ctd");
        let d = dir.path().display().to_string();
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{d}/c.sock"
[ttrpc]
  address = "{d}/c.sock.ttrpc"
[debug]
  address = "{d}/debug.sock"
"#
        );
        std::fs::write(dir.join("config.toml"), config).unwrap();
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let child = Command::new("/usr/bin/containerd").arg("--config").arg(dir.join("config.toml")).stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
        let c = RealContainerd { dir, child: Some(child), namespace: format!("dbx-{}", &dockbox::ids::new_id()[..12]) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !c.ctr(&["version"]).status.success() {
            assert!(Instant::now() < deadline, "containerd did not come up: {}", c.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }

    fn sock(&self) -> PathBuf {
        self.dir.join("c.sock")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    fn ctr_command(&self) -> Command {
        let mut c = Command::new("/usr/bin/ctr");
        c.arg("-a").arg(self.sock()).args(["-n", &self.namespace]);
        c
    }

    fn ctr(&self, args: &[&str]) -> Output {
        self.ctr_command().args(args).stdin(Stdio::null()).output().unwrap()
    }

    fn ctr_line(&self, args: &str) -> String {
        format!("/usr/bin/ctr -a {} -n {} {args}", self.sock().display(), self.namespace)
    }
}

impl Drop for RealContainerd {
    fn drop(&mut self) {
        let tasks = self.ctr(&["tasks", "ls", "-q"]);
        for id in text(&tasks.stdout).lines() {
            let _ = self.ctr(&["tasks", "kill", "-s", "SIGKILL", id]);
            std::thread::sleep(Duration::from_millis(200));
            let _ = self.ctr(&["tasks", "delete", "-f", id]);
        }
        for id in text(&self.ctr(&["containers", "ls", "-q"]).stdout).lines() {
            let _ = self.ctr(&["containers", "rm", id]);
        }
        if let Some(mut c) = self.child.take() {
            stop(&mut c, Duration::from_secs(10));
        }
        sweep(self.dir.path());
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
            let _ = std::fs::remove_dir(hierarchy.path().join(&self.namespace));
        }
        let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(&self.namespace));
    }
}

#[test]
fn real_containerd_runs_our_runc() {
    if !require_root() {
        return;
    }
    let c = RealContainerd::start();
    let layout = busybox_layout(&c.dir);
    let archive = c.dir.join("busybox.tar");
    assert!(Command::new("tar").arg("-C").arg(&layout).arg("-cf").arg(&archive).arg(".").status().unwrap().success());
    let out = c.ctr(&["images", "import", "--base-name", "dbx/busybox", archive.to_str().unwrap()]);
    assert!(out.status.success(), "import: {}", text(&out.stderr));
    let runc = our_runc();
    let runc_root = c.dir.join("runc-root");
    let fifo_dir = c.dir.join("fifo");
    let run = |extra: &[&str], id: &str, args: &[&str]| {
        let mut cmd = c.ctr_command();
        cmd.args(["run", "--runc-binary", runc.to_str().unwrap(), "--runc-root", runc_root.to_str().unwrap(), "--fifo-dir", fifo_dir.to_str().unwrap()]);
        cmd.args(extra).arg("dbx/busybox:latest").arg(id).args(args);
        cmd.stdin(Stdio::null()).output().unwrap()
    };
    // containerd's io.containerd.runc.v2 shim drives our binary: create, start, delete.
    let out = run(&["--rm"], "echo", &["sh", "-c", "echo hi from $(cat /proc/1/comm); exit 3"]);
    assert_eq!(text(&out.stdout), "hi from sh\n", "{}\n{}", text(&out.stderr), c.log());
    assert_eq!(out.status.code(), Some(3));
    // A terminal through the shim's console socket.
    let out = with_tty(&c.ctr_line(&format!("run --runc-binary {} --runc-root {} --fifo-dir {} -t --rm dbx/busybox:latest tty sh -c 'tty; echo $((6*7))'", runc.display(), runc_root.display(), fifo_dir.display())));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("/dev/pts/0") && stdout.contains("42"), "{stdout:?}");
    // exec, in and out of a terminal.
    let out = run(&["-d"], "bg", &["sleep", "100"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(our_state_under(&runc_root), "containerd's shim did not run our runc");
    let out = c.ctr(&["tasks", "exec", "--exec-id", "e1", "bg", "sh", "-c", "echo in-exec; cat /proc/1/comm"]);
    assert_eq!(text(&out.stdout), "in-exec\nsleep\n", "{}", text(&out.stderr));
    let out = with_tty(&c.ctr_line("tasks exec -t --exec-id e2 bg tty"));
    assert!(text(&out.stdout).contains("/dev/pts/"), "{}", text(&out.stdout));
    let out = c.ctr(&["tasks", "exec", "--exec-id", "e3", "bg", "sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5));
    // kill and delete.
    assert!(c.ctr(&["tasks", "kill", "-s", "SIGKILL", "bg"]).status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !text(&c.ctr(&["tasks", "ls"]).stdout).contains("STOPPED") {
        assert!(Instant::now() < deadline, "bg did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(c.ctr(&["tasks", "delete", "bg"]).status.success());
    assert!(c.ctr(&["containers", "rm", "bg"]).status.success());
    assert!(std::fs::read_dir(&runc_root).map(|d| d.flatten().all(|e| std::fs::read_dir(e.path()).map(|mut x| x.next().is_none()).unwrap_or(true))).unwrap_or(true), "runc state left behind");
}

/// Debian's dockerd (with its own containerd) on private roots, `dockbox` = our runc.
struct RealDockerd {
    dir: TempDir,
    child: Option<Child>,
}

impl RealDockerd {
    fn start() -> RealDockerd {
        dockbox::sys::set_child_subreaper().unwrap();
        let dir = TempDir::new("real-dockerd");
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let dockerd = ["/usr/sbin/dockerd", "/usr/bin/dockerd"].into_iter().find(|p| Path::new(p).exists()).expect("Debian's docker.io is not installed");
        let child = Command::new(dockerd)
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", dir.join("docker.sock").display()))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .arg("--cgroup-parent")
            .arg(cgroup_parent(&dir))
            .arg("--add-runtime")
            .arg(format!("dockbox={}", our_runc().display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = RealDockerd { dir, child: Some(child) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !d.docker(&["version"]).status.success() {
            assert!(Instant::now() < deadline, "dockerd did not come up: {}", d.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }

    fn host(&self) -> String {
        format!("unix://{}", self.dir.join("docker.sock").display())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new("/usr/bin/docker").arg("-H").arg(self.host()).args(args).stdin(Stdio::null()).output().unwrap()
    }
}

impl Drop for RealDockerd {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in text(&ids.stdout).lines() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        if let Some(mut c) = self.child.take() {
            stop(&mut c, Duration::from_secs(15));
        }
        sweep(self.dir.path());
        common::remove_cgroups(&cgroup_parent(&self.dir));
    }
}

/// The real dockerd's cgroup parent: its own, not Docker's `/docker`, so that none is left.
fn cgroup_parent(dir: &TempDir) -> String {
    format!("/dbxt-real-{}", dir.path().file_name().unwrap().to_string_lossy())
}

#[test]
fn real_dockerd_runs_our_runc() {
    if !require_root() {
        return;
    }
    let d = RealDockerd::start();
    let layout = busybox_layout(&d.dir);
    let out = d.docker(&["import", layer_of(&layout).to_str().unwrap(), "dbx-busybox"]);
    assert!(out.status.success(), "import: {}", text(&out.stderr));
    let out = d.docker(&["run", "--runtime", "dockbox", "--rm", "dbx-busybox", "echo", "hi"]);
    assert_eq!(text(&out.stdout), "hi\n", "{}\n{}", text(&out.stderr), d.log());
    let out = d.docker(&["run", "--runtime", "dockbox", "--rm", "dbx-busybox", "sh", "-c", "exit 4"]);
    assert_eq!(out.status.code(), Some(4));
    // -it through a pty of our own.
    let out = with_tty(&format!("/usr/bin/docker -H {} run --runtime dockbox --rm -it dbx-busybox sh -c 'tty; echo $((6*7))'", d.host()));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("/dev/pts/0") && stdout.contains("42"), "{stdout:?} {}", text(&out.stderr));
    // A detached container: exec, exec -it, stop, start, kill.
    let out = d.docker(&["run", "--runtime", "dockbox", "-d", "--name", "bg", "dbx-busybox", "sleep", "100"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(our_state_under(&d.dir.join("exec")), "dockerd did not run our runc");
    let out = d.docker(&["exec", "bg", "sh", "-c", "echo in-exec; cat /proc/1/comm"]);
    assert_eq!(text(&out.stdout), "in-exec\nsleep\n", "{}", text(&out.stderr));
    let out = with_tty(&format!("/usr/bin/docker -H {} exec -it bg tty", d.host()));
    assert!(text(&out.stdout).contains("/dev/pts/"), "{}", text(&out.stdout));
    let started = Instant::now();
    assert!(d.docker(&["stop", "-t", "1", "bg"]).status.success());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(text(&d.docker(&["inspect", "-f", "{{.State.ExitCode}}", "bg"]).stdout).trim(), "137");
    assert!(d.docker(&["start", "bg"]).status.success());
    assert!(d.docker(&["kill", "bg"]).status.success());
    assert_eq!(text(&d.docker(&["inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", "bg"]).stdout).trim(), "false 137");
    assert!(d.docker(&["rm", "bg"]).status.success());

    // Resource limits reach the cgroups our runc makes for the real dockerd.
    let out = d.docker(&["run", "--runtime", "dockbox", "-d", "--name", "limited", "-m", "64m", "--pids-limit", "20", "dbx-busybox", "sleep", "100"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    let cgroup_file = |controller: &str, file: &str| std::fs::read_to_string(format!("/sys/fs/cgroup/{controller}{}/{id}/{file}", cgroup_parent(&d.dir))).unwrap_or_default();
    assert_eq!(cgroup_file("memory", "memory.limit_in_bytes").trim(), (64u64 << 20).to_string());
    assert_eq!(cgroup_file("pids", "pids.max").trim(), "20");
    assert!(d.docker(&["rm", "-f", "limited"]).status.success());
    assert!(!std::path::Path::new(&format!("/sys/fs/cgroup/memory{}/{id}", cgroup_parent(&d.dir))).exists(), "the container's cgroup was left behind");
}

/// Our docker-containerd on private roots with `runtime` as its OCI runtime.
struct OurContainerd {
    dir: TempDir,
    child: Option<Child>,
}

impl OurContainerd {
    fn start(tag: &str, runtime: &str, pre: &[&str]) -> OurContainerd {
        dockbox::sys::set_child_subreaper().unwrap();
        let dir = TempDir::new(tag);
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let mut cmd = if pre.is_empty() { applet("docker-containerd") } else { Command::new(pre[0]) };
        if !pre.is_empty() {
            cmd.args(&pre[1..]).arg(applet_dir().join("docker-containerd"));
        }
        let child = cmd
            .arg("--address")
            .arg(dir.join("containerd.sock"))
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--state")
            .arg(dir.join("state"))
            .arg("--runtime")
            .arg(runtime)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let c = OurContainerd { dir, child: Some(child) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while c.client().version().is_err() {
            assert!(Instant::now() < deadline, "containerd did not come up: {}", c.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        c
    }

    fn client(&self) -> dockbox::containerd::client::Client {
        dockbox::containerd::client::Client::new(&self.dir.join("containerd.sock"))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    /// A bundle with the default spec of `runc spec` running `args`.
    fn bundle(&self, name: &str, args: &[&str], terminal: bool) -> PathBuf {
        let bundle = self.dir.join("bundles").join(name);
        common::busybox_rootfs(&bundle.join("rootfs"));
        let mut spec = serde_json::to_value(dockbox::oci::Spec::example(false, 0, 0)).unwrap();
        spec["process"]["terminal"] = serde_json::json!(terminal);
        spec["process"]["args"] = serde_json::json!(args);
        spec["root"]["readonly"] = serde_json::json!(false);
        std::fs::write(bundle.join("config.json"), serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
        bundle
    }

    fn fifo(&self, name: &str) -> PathBuf {
        let p = self.dir.join(name);
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        p
    }
}

impl Drop for OurContainerd {
    fn drop(&mut self) {
        common::remove_all_tasks(&self.client());
        if let Some(mut c) = self.child.take() {
            stop(&mut c, Duration::from_secs(5));
        }
        sweep(self.dir.path());
    }
}

/// A plain task and a terminal task (stdin → pty → stdout through the shim) under `runtime`.
fn plain_and_terminal_tasks(c: &OurContainerd) {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let client = c.client();
    let stdout = c.fifo("plain-out");
    let stderr = c.fifo("plain-err");
    let mut reader = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&stdout).unwrap();
    let task = dockbox::containerd::client::CreateTask { id: "plain".into(), bundle: c.bundle("plain", &["sh", "-c", "echo plain; exit 2"], false), runtime: None, stdin: None, stdout: Some(stdout), stderr: Some(stderr), terminal: false, no_pivot: false };
    client.create(&task).unwrap_or_else(|e| panic!("create: {e}\n{}", c.log()));
    client.start("plain").unwrap();
    assert_eq!(client.wait("plain").unwrap().exit_status, 2);
    let mut out = String::new();
    reader.read_to_string(&mut out).unwrap();
    assert_eq!(out, "plain\n");
    client.delete("plain").unwrap();

    let stdin = c.fifo("tty-in");
    let stdout = c.fifo("tty-out");
    let mut reader = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&stdout).unwrap();
    let bundle = c.bundle("tty", &["sh", "-c", "tty; read line; echo got-$line; exit 6"], true);
    let task = dockbox::containerd::client::CreateTask { id: "tty".into(), bundle, runtime: None, stdin: Some(stdin.clone()), stdout: Some(stdout), stderr: None, terminal: true, no_pivot: false };
    client.create(&task).unwrap_or_else(|e| panic!("create tty: {e}\n{}", c.log()));
    let mut writer = std::fs::OpenOptions::new().write(true).open(&stdin).unwrap();
    client.start("tty").unwrap();
    writer.write_all(b"hello\n").unwrap();
    assert_eq!(client.wait("tty").unwrap().exit_status, 6);
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.contains("got-hello") && Instant::now() < deadline {
        let mut buf = [0u8; 1024];
        match reader.read(&mut buf) {
            Ok(n) if n > 0 => seen.push_str(&text(&buf[..n])),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    assert!(seen.contains("/dev/pts/0") && seen.contains("got-hello"), "{seen:?}");
    client.delete("tty").unwrap();
}

#[test]
fn our_containerd_and_shim_run_our_runc_with_a_terminal() {
    if !require_root() {
        return;
    }
    let c = OurContainerd::start("ours-ours", our_runc().to_str().unwrap(), &[]);
    plain_and_terminal_tasks(&c);
}

#[test]
fn our_containerd_and_shim_run_real_runc_with_a_terminal() {
    if !require_root() {
        return;
    }
    let c = OurContainerd::start("ours-runc", "/usr/bin/runc", &[]);
    plain_and_terminal_tasks(&c);
}

#[test]
fn our_containerd_and_shim_run_crun_with_a_terminal() {
    if !require_root() {
        return;
    }
    // crun refuses this host's hybrid cgroup layout: give it (and our containerd) a private
    // mount namespace without the cgroup2 mount at /sys/fs/cgroup/unified.
    let pre = ["unshare", "-m", "--propagation", "private", "sh", "-c", "umount /sys/fs/cgroup/unified 2>/dev/null; exec \"$0\" \"$@\""];
    let c = OurContainerd::start("ours-crun", "/usr/bin/crun", &pre);
    plain_and_terminal_tasks(&c);
}
