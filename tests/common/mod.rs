//! Fixtures every integration test shares: private temporary directories, a busybox root
//! filesystem from Debian's busybox-static, and the applet symlinks of the built binary.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Docker's CLI 28, when installed.
pub const REAL_CLI: &str = "/usr/local/bin/docker";
/// Debian's docker.io client (20.10), when installed.
pub const DEBIAN_CLI: &str = "/usr/bin/docker";

/// Whether the real docker CLI 28 ([`REAL_CLI`]) is installed.
/// Our client (None) and each real CLI installed, for `Dockerd::client_with_input`.
pub fn clients() -> Vec<Option<&'static str>> {
    let mut all = vec![None];
    all.extend(real_clis().into_iter().map(Some));
    all
}

pub fn have_real_cli() -> bool {
    Path::new(REAL_CLI).exists()
}

/// The real CLIs installed: [`REAL_CLI`], then [`DEBIAN_CLI`].
pub fn real_clis() -> Vec<&'static str> {
    [REAL_CLI, DEBIAN_CLI].into_iter().filter(|c| Path::new(c).exists()).collect()
}

/// A directory removed (after unmounting anything left under it) when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let base = std::env::var_os("DOCKBOX_TEST_TMP").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("dbx-{tag}-{}-{}", std::process::id(), &dockbox::ids::new_id()[..8]));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = dockbox::mounts::unmount_all_under(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The dockbox binary cargo built for these tests.
pub fn dockbox() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dockbox"))
}

/// A directory of applet symlinks (docker, dockerd, docker-runc, ...) to the built binary.
pub fn applet_dir() -> PathBuf {
    let dir = dockbox().parent().unwrap().join("applets");
    if dir.is_dir() {
        // An older build's directory may lack newer applets; other tests may be running from
        // it, so the missing links are added (a race with another test adding them is harmless).
        // A directory copied from another checkout's build points at that build: its links
        // are pointed here again.
        for name in dockbox::applets::APPLETS.iter().flat_map(|a| a.names.iter()) {
            let link = dir.join(name);
            if std::fs::read_link(&link).ok().as_deref() != Some(dockbox().as_path()) {
                let tmp = dir.join(format!(".{name}.{}", std::process::id()));
                let _ = std::os::unix::fs::symlink(dockbox(), &tmp);
                let _ = std::fs::rename(&tmp, &link);
            }
        }
    } else {
        let tmp = dir.with_extension(format!("tmp{}", std::process::id()));
        let ok = Command::new(dockbox()).arg("--install").arg(&tmp).status().unwrap().success();
        assert!(ok, "dockbox --install failed");
        // Another test process may have won the race; either copy is the same.
        let _ = std::fs::rename(&tmp, &dir);
        let _ = std::fs::remove_dir_all(&tmp);
    }
    dir
}

/// A command running `applet` of the built binary.
pub fn applet(name: &str) -> Command {
    Command::new(applet_dir().join(name))
}

/// Fills `rootfs` with busybox-static, its applet links, and minimal /etc files.
pub fn busybox_rootfs(rootfs: &Path) {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"].into_iter().map(Path::new).find(|p| p.exists()).expect("busybox-static is not installed (apt-get install busybox-static)");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
    let list = Command::new(busybox).arg("--list").output().unwrap();
    for name in String::from_utf8_lossy(&list.stdout).lines() {
        if name != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(name));
        }
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n").unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}

/// Whether this run must not skip root-only tests (CI sets CI=true).
pub fn require_root() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root && std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true: this test needs root");
    }
    root
}

/// The repository's scripts directory.
pub fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts")
}

/// A Distribution registry on 127.0.0.1 holding the test images `busybox:latest` and
/// `hello-world:latest`: the one `scripts/test.sh` started (DOCKBOX_TEST_REGISTRY), or a
/// private one started here and stopped on drop.
pub struct Registry {
    pub addr: String,
    own: Option<TempDir>,
}

impl Registry {
    pub fn get() -> Registry {
        if let Ok(addr) = std::env::var("DOCKBOX_TEST_REGISTRY") {
            if !addr.is_empty() {
                return Registry { addr, own: None };
            }
        }
        let dir = TempDir::new("registry");
        let out = Command::new("bash").arg(scripts().join("registry.sh")).arg("start").arg(dir.path()).output().unwrap();
        assert!(out.status.success(), "registry.sh start: {}", String::from_utf8_lossy(&out.stderr));
        let addr = String::from_utf8_lossy(&out.stdout).trim().lines().last().unwrap_or_default().to_string();
        let registry = Registry { addr, own: Some(dir) };
        let images = registry.own.as_ref().unwrap().join("images");
        let ok = Command::new("bash").arg(scripts().join("images.sh")).arg(&images).status().unwrap().success();
        assert!(ok, "images.sh failed");
        for name in ["busybox", "hello-world"] {
            let ok = Command::new("bash")
                .arg(scripts().join("registry.sh"))
                .arg("push")
                .arg(registry.own.as_ref().unwrap().path())
                .arg(images.join(name))
                .arg(format!("{name}:latest"))
                .status()
                .unwrap()
                .success();
            assert!(ok, "pushing {name} failed");
        }
        registry
    }

    /// `<addr>/<name>`.
    pub fn image(&self, name: &str) -> String {
        format!("{}/{name}", self.addr)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(dir) = &self.own {
            let _ = Command::new("bash").arg(scripts().join("registry.sh")).arg("stop").arg(dir.path()).status();
        }
    }
}

/// A network namespace of the test's own with only `lo` (down until [`NetNs::ip`] brings it
/// up): nothing a process in it sends can leave the machine. It lives while this (or a
/// descriptor duplicated from it) is open or a process is in it.
pub struct NetNs {
    fd: OwnedFd,
}

impl NetNs {
    /// A new namespace with `lo` up.
    pub fn new() -> NetNs {
        // unshare() moves only the calling thread: a throwaway thread makes the namespace and
        // hands back a descriptor of it, leaving the test's own threads where they were.
        let fd = std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
            OwnedFd::from(std::fs::File::open("/proc/thread-self/ns/net").unwrap())
        })
        .join()
        .unwrap();
        let ns = NetNs { fd };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// A duplicate descriptor of the namespace, to start processes in it later.
    pub fn handle(&self) -> OwnedFd {
        self.fd.try_clone().unwrap()
    }

    /// `program` started inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        enter_netns(&mut c, &self.fd);
        c
    }

    /// `ip ARGS` inside the namespace, asserting success.
    pub fn ip(&self, args: &[&str]) {
        let out = self.command("ip").args(args).output().expect("ip (iproute2) is needed");
        assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Listens on `addr` (a 127.0.0.1 address of the test's namespace) inside `ns` too, passing
/// every connection through to `addr` outside, for as long as the test process lives: a
/// daemon in `ns` reaches the test's registry.
pub fn forward_into(ns: &NetNs, addr: &str) {
    let inside = ns.handle();
    let addr = addr.to_string();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let home = OwnedFd::from(std::fs::File::open("/proc/thread-self/ns/net").unwrap());
        nix::sched::setns(&inside, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        // A socket belongs to the namespace it was made in, whatever its thread does next.
        let listener = std::net::TcpListener::bind(&addr).unwrap();
        nix::sched::setns(&home, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        ready_tx.send(()).unwrap();
        for conn in listener.incoming().flatten() {
            let Ok(out) = std::net::TcpStream::connect(&addr) else { continue };
            let (mut a, mut b) = (conn.try_clone().unwrap(), out.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut a, &mut b);
                let _ = b.shutdown(std::net::Shutdown::Write);
            });
            let (mut a, mut b) = (out, conn);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut a, &mut b);
                let _ = b.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    ready_rx.recv().unwrap();
}

/// Makes `cmd` join the network namespace `ns` between fork and exec. `ns` must stay open
/// until the command is spawned.
pub fn enter_netns(cmd: &mut Command, ns: &OwnedFd) {
    let fd = ns.as_raw_fd();
    // SAFETY: the closure runs in the forked child before exec and only makes the setns(2)
    // syscall on a descriptor the child inherited open; no allocation, no locks.
    unsafe {
        cmd.pre_exec(move || if libc::setns(fd, libc::CLONE_NEWNET) == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) });
    }
}

/// Reads the head of an HTTP request a fake server got. A TLS ClientHello (Docker first
/// tries HTTPS on an insecure registry, loopback ones included) gets what Go's HTTP server
/// answers it, a 400, and is an error here: the client then falls back to plain HTTP.
pub fn read_request_head(s: &mut std::net::TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if head.is_empty() && byte[0] == 0x16 {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request");
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "TLS handshake on a plain HTTP server"));
        }
        head.push(byte[0]);
    }
    Ok(head)
}

/// A dockerd of ours on private roots, stopped (with its containers) on drop.
pub struct Dockerd {
    pub tmp: TempDir,
    child: Option<Child>,
    pub sock: PathBuf,
    pub registry: Registry,
    args: Vec<std::ffi::OsString>,
    env: Vec<(String, String)>,
    netns: Option<OwnedFd>,
    /// Directories that live as long as the daemon.
    keep: Vec<TempDir>,
    /// The cgroup parent of its containers (`--cgroup-parent`), one per daemon so that none
    /// shares Docker's `/docker` and each is removed with its daemon.
    cgroup_parent: String,
}

impl Dockerd {
    pub fn start() -> Option<Dockerd> {
        Dockerd::start_with(&[])
    }

    /// Starts dockerd with `extra` flags after the private roots.
    pub fn start_with(extra: &[&str]) -> Option<Dockerd> {
        Dockerd::start_full(extra, &[], None)
    }

    /// Starts dockerd with `daemon_json` as its configuration file (`<tmp>/daemon.json`,
    /// `--config-file`) and `extra` flags.
    pub fn start_with_config(daemon_json: &str, extra: &[&str]) -> Option<Dockerd> {
        let dir = TempDir::new("daemon-json");
        let path = dir.join("daemon.json");
        std::fs::write(&path, daemon_json).unwrap();
        let mut args = vec!["--config-file", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        let mut d = Dockerd::start_full(&args, &[], None)?;
        d.keep.push(dir);
        Some(d)
    }

    /// The daemon.json `start_with_config` gave it.
    pub fn config_file(&self) -> PathBuf {
        self.keep.iter().map(|k| k.join("daemon.json")).find(|p| p.exists()).expect("started with start_with_config")
    }

    /// Starts dockerd (and so its containerd) inside `netns`, with `extra` flags and `env`
    /// added to its environment. The client still reaches it: its socket is a file.
    pub fn start_in(netns: &NetNs, extra: &[&str], env: &[(&str, &str)]) -> Option<Dockerd> {
        Dockerd::start_full(extra, env, Some(netns))
    }

    fn start_full(extra: &[&str], env: &[(&str, &str)], netns: Option<&NetNs>) -> Option<Dockerd> {
        if !require_root() {
            eprintln!("skipped: needs root");
            return None;
        }
        // Orphans (a shim whose containerd died) come back to the test, not to a late PID 1.
        dockbox::sys::set_child_subreaper().unwrap();
        let registry = Registry::get();
        let tmp = TempDir::new("dockerd");
        let sock = tmp.join("docker.sock");
        let mut args: Vec<std::ffi::OsString> = Vec::new();
        for (flag, value) in [("--data-root", tmp.join("data")), ("--exec-root", tmp.join("exec")), ("--pidfile", tmp.join("docker.pid"))] {
            args.push(flag.into());
            args.push(value.into());
        }
        args.extend(["-H".into(), format!("unix://{}", sock.display()).into(), "--insecure-registry".into(), registry.addr.clone().into()]);
        // Without a bridge of its own a test's dockerd makes none (Docker would make docker0)
        // and leaves the host's firewall alone.
        let flag = |a: &&str| a.split('=').next().unwrap_or(a).to_string();
        if !extra.iter().any(|a| ["-b", "--bridge", "--bip"].contains(&flag(a).as_str())) {
            args.push("--bridge=none".into());
            if !extra.iter().any(|a| flag(a) == "--iptables") {
                args.push("--iptables=false".into());
            }
            if !extra.iter().any(|a| flag(a) == "--ip6tables") {
                args.push("--ip6tables=false".into());
            }
        }
        let cgroup_parent = format!("/dbxt-{}", tmp.path().file_name().unwrap().to_string_lossy());
        // A test that sets the parent itself (flag or daemon.json) keeps its own.
        let config_sets_parent = extra
            .iter()
            .position(|a| *a == "--config-file")
            .and_then(|i| std::fs::read_to_string(extra.get(i + 1)?).ok())
            .is_some_and(|json| json.contains("\"cgroup-parent\""));
        if !config_sets_parent && !extra.iter().any(|a| flag(a) == "--cgroup-parent") {
            args.extend(["--cgroup-parent".into(), cgroup_parent.clone().into()]);
        }
        args.extend(extra.iter().map(Into::into));
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut d = Dockerd { tmp, child: None, sock, registry, args, env, netns: netns.map(NetNs::handle), keep: Vec::new(), cgroup_parent };
        d.spawn();
        Some(d)
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.tmp.join("dockerd.log")).unwrap();
        let mut cmd = applet("dockerd");
        cmd.args(&self.args).envs(self.env.iter().map(|(k, v)| (k, v))).stdout(log.try_clone().unwrap()).stderr(log);
        if let Some(ns) = &self.netns {
            enter_netns(&mut cmd, ns);
        }
        self.child = Some(cmd.spawn().unwrap());
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.api("GET", "/_ping", None).0 != 200 {
            assert!(Instant::now() < deadline, "dockerd did not answer: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A dockerd with networking, in a network namespace of the test's own (bridges, veths and
    /// iptables rules live and die there; the test's registry is forwarded into it on
    /// 127.0.0.1). Its default bridge is `dbx0`, 10.123.0.1/24, made by the test as an
    /// existing bridge (`-b`), and networks made without a subnet come from 10.200.0.0/16.
    /// `resolv_conf` is the host resolv.conf dockerd reads.
    pub fn start_networked(extra: &[&str], resolv_conf: Option<&str>) -> Option<(Dockerd, NetNs)> {
        Dockerd::start_networked_env(extra, resolv_conf, &[])
    }

    /// `start_networked` with `env` added to dockerd's environment.
    pub fn start_networked_env(extra: &[&str], resolv_conf: Option<&str>, env: &[(&str, &str)]) -> Option<(Dockerd, NetNs)> {
        if !require_root() {
            eprintln!("skipped: needs root");
            return None;
        }
        let ns = NetNs::new();
        ns.ip(&["link", "add", "dbx0", "type", "bridge"]);
        ns.ip(&["addr", "add", "10.123.0.1/24", "dev", "dbx0"]);
        ns.ip(&["link", "set", "dbx0", "up"]);
        let registry = Registry::get();
        forward_into(&ns, &registry.addr);
        let mut args = vec!["-b", "dbx0", "--default-address-pool", "base=10.200.0.0/16,size=24"];
        args.extend_from_slice(extra);
        let resolv = TempDir::new("resolv");
        let path = resolv.join("resolv.conf");
        std::fs::write(&path, resolv_conf.unwrap_or("nameserver 127.0.0.1\n")).unwrap();
        let mut all_env = vec![("DOCKBOX_RESOLV_CONF", path.to_str().unwrap())];
        all_env.extend_from_slice(env);
        let mut d = Dockerd::start_full(&args, &all_env, Some(&ns))?;
        d.keep.push(resolv);
        Some((d, ns))
    }

    /// Kills dockerd with SIGKILL (a crash) and starts it again on the same roots.
    pub fn crash_and_restart(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        self.spawn();
    }

    /// Stops dockerd as its service manager would (SIGTERM, waiting for it to exit) and
    /// returns how long it took; `start_again` brings it back on the same roots.
    pub fn stop(&mut self) -> Duration {
        let mut child = self.child.take().expect("dockerd is running");
        let began = Instant::now();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "dockerd ended with {status}: {}", self.log());
        began.elapsed()
    }

    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "dockerd is already running");
        self.spawn();
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.tmp.join("dockerd.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Our client.
    pub fn docker(&self, args: &[&str]) -> Output {
        applet("docker").arg("-H").arg(self.host()).args(args).stdin(Stdio::null()).output().unwrap()
    }

    /// The real docker CLI.
    pub fn real_docker(&self, cli: &str, args: &[&str]) -> Output {
        Command::new(cli).arg("-H").arg(self.host()).args(args).env("DOCKER_CONFIG", self.tmp.join("docker-config")).stdin(Stdio::null()).output().unwrap()
    }

    /// A client (`cli`: a real CLI's path, `None`: ours) with `input` on its stdin (`None`:
    /// /dev/null), under a time limit (a hang fails).
    pub fn client_with_input(&self, cli: Option<&str>, args: &[&str], input: Option<&[u8]>) -> Output {
        let mut cmd = cli.map(Command::new).unwrap_or_else(|| applet("docker"));
        cmd.arg("-H").arg(self.host()).args(args).env("DOCKER_CONFIG", self.tmp.join("docker-config"));
        cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(data) = input {
            child.stdin.take().unwrap().write_all(data).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let o = child.wait_with_output().unwrap();
                panic!("docker {args:?} hung: {}{}\ndockerd:\n{}", stdout(&o), stderr(&o), self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }

    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let endpoint = dockbox::http::client::Endpoint::Unix(self.sock.clone());
        let headers: &[(&str, &str)] = if body.is_some() { &[("Content-Type", "application/json")] } else { &[] };
        match dockbox::http::client::request(&endpoint, method, path, headers, body.map(str::as_bytes)) {
            Ok(r) => {
                let status = r.status;
                let b = r.bytes().unwrap_or_default();
                (status, serde_json::from_slice(&b).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&b).into_owned())))
            }
            Err(_) => (0, Value::Null),
        }
    }

    pub fn curl(&self, args: &[&str]) -> Output {
        Command::new("curl").arg("-sS").arg("--unix-socket").arg(&self.sock).args(args).output().unwrap()
    }

    pub fn exec_root(&self) -> PathBuf {
        self.tmp.join("exec")
    }

    /// The cgroup path (below each hierarchy's root) of container `id` when it names no
    /// parent of its own.
    pub fn container_cgroup(&self, id: &str) -> String {
        format!("{}/{id}", self.cgroup_parent)
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if let (200, Value::Array(list)) = self.api("GET", "/containers/json?all=1", None) {
            for c in list {
                let id = c["Id"].as_str().unwrap_or_default().to_string();
                self.api("DELETE", &format!("/containers/{id}?force=1"), None);
            }
        }
        if let Some(child) = self.child.take() {
            stop_daemon(child);
        }
        // Anything still running from this daemon's roots is a leak; end it so later tests
        // start clean. What comes back to us stays a zombie until the test process ends:
        // reaping with waitpid(-1) could take another test thread's child.
        for pid in processes_mentioning(self.tmp.path()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        remove_cgroups(&self.cgroup_parent);
    }
}

/// The stdout of a command that must have succeeded; else the test fails with its output
/// and dockerd's log.
pub fn ok(o: &Output, d: &Dockerd) -> String {
    assert_eq!(o.status.code(), Some(0), "stdout: {}\nstderr: {}\ndockerd: {}", stdout(o), stderr(o), d.log());
    stdout(o)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn proc_field(pid: i32, name: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix(&format!("{name}:")).map(|v| v.trim().to_string()))
}

pub fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_string()
}

pub fn argv(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default().split(|&b| b == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
}

pub fn argv0_base(pid: i32) -> String {
    argv(pid).first().map(|a| a.rsplit('/').next().unwrap_or(a).to_string()).unwrap_or_default()
}

pub fn alive(pid: i32) -> bool {
    matches!(proc_field(pid, "State"), Some(s) if !s.starts_with('Z'))
}

/// Live processes whose command line names `dir` (shims and containerd carry their roots).
pub fn processes_mentioning(dir: &Path) -> Vec<i32> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != std::process::id() as i32 && alive(pid) && argv(pid).iter().any(|a| a.contains(&needle)))
        .collect()
}

pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    dockbox::mounts::mounts_under(dir).unwrap()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An OCI bundle with a busybox rootfs and a private `--root` for our docker-runc. Every
/// container under that root is force-deleted on drop, even when the test failed.
pub struct Bundle {
    pub dir: TempDir,
}

impl Bundle {
    pub fn new(tag: &str) -> Bundle {
        let dir = TempDir::new(tag);
        std::fs::create_dir_all(dir.join("bundle/rootfs")).unwrap();
        busybox_rootfs(&dir.join("bundle/rootfs"));
        Bundle { dir }
    }

    pub fn bundle(&self) -> PathBuf {
        self.dir.join("bundle")
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("bundle/rootfs")
    }

    /// runc's state directory (`--root`).
    pub fn root(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// runc's default spec with a non-terminal process running `args`.
    pub fn config(&self, args: &[&str]) -> Value {
        let mut spec = serde_json::to_value(dockbox::oci::Spec::example(false, 0, 0)).unwrap();
        spec["process"]["terminal"] = serde_json::json!(false);
        spec["process"]["args"] = serde_json::json!(args);
        spec
    }

    /// Like `config`, with the process on a terminal.
    pub fn tty_config(&self, args: &[&str]) -> Value {
        let mut spec = self.config(args);
        spec["process"]["terminal"] = serde_json::json!(true);
        spec
    }

    /// Writes `spec` as the bundle's config.json.
    pub fn write(&self, spec: &Value) {
        std::fs::write(self.bundle().join("config.json"), serde_json::to_vec_pretty(spec).unwrap()).unwrap();
    }

    /// Our docker-runc on this bundle's root.
    pub fn runc(&self) -> Command {
        let mut c = applet("docker-runc");
        c.arg("--root").arg(self.root());
        c
    }

    /// Runs runc with its stdout and stderr on files, not pipes: a created init keeps the
    /// stdio it is given, so a pipe would never reach EOF.
    pub fn quiet(&self, args: &[&str]) -> Output {
        let n = dockbox::ids::new_id();
        let (out_path, err_path) = (self.dir.join(format!("stdout-{n}")), self.dir.join(format!("stderr-{n}")));
        let (out_file, err_file) = (std::fs::File::create(&out_path).unwrap(), std::fs::File::create(&err_path).unwrap());
        let mut out = self.runc().args(args).stdin(Stdio::null()).stdout(out_file).stderr(err_file).output().unwrap();
        out.stdout = std::fs::read(&out_path).unwrap();
        out.stderr = std::fs::read(&err_path).unwrap();
        let _ = std::fs::remove_file(&out_path);
        let _ = std::fs::remove_file(&err_path);
        out
    }

    /// Runs runc with piped stdout and stderr (for commands that leave no process behind).
    pub fn output(&self, args: &[&str]) -> Output {
        self.runc().args(args).stdin(Stdio::null()).output().unwrap()
    }

    /// `runc <args>`, asserting success; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(out.status.success(), "runc {args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    }

    pub fn create(&self, id: &str) -> Output {
        self.quiet(&["create", "--bundle", self.bundle().to_str().unwrap(), id])
    }

    pub fn create_and_start(&self, id: &str) {
        let out = self.create(id);
        assert!(out.status.success(), "create: {}", text(&out.stderr));
        let out = self.quiet(&["start", id]);
        assert!(out.status.success(), "start: {}", text(&out.stderr));
    }

    /// `runc run` in the foreground on the current config.json.
    pub fn run(&self, id: &str) -> Output {
        self.output(&["run", "--bundle", self.bundle().to_str().unwrap(), id])
    }

    /// Writes `spec`, then `run`s it.
    pub fn run_spec(&self, id: &str, spec: &Value) -> Output {
        self.write(spec);
        self.run(id)
    }

    /// `runc state`, asserting success.
    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).unwrap()
    }

    /// `runc state`, or None when runc has none (safe in Drop).
    pub fn try_state(&self, id: &str) -> Option<Value> {
        let out = self.output(&["state", id]);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap().to_string()
    }

    pub fn pid(&self, id: &str) -> i32 {
        self.state(id)["pid"].as_i64().unwrap() as i32
    }

    /// Force-deletes every container under this bundle's root. An init that came back to
    /// this process (a subreaper) is reaped by its own pid only: other tests of this process
    /// wait for theirs.
    pub fn delete_all(&self) {
        let Ok(entries) = std::fs::read_dir(self.root()) else { return };
        for e in entries.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            let init = self.try_state(&id).and_then(|s| s["pid"].as_i64());
            let _ = self.quiet(&["delete", "-f", &id]);
            if let Some(pid) = init.filter(|p| *p > 0) {
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as i32), Some(nix::sys::wait::WaitPidFlag::WNOHANG));
            }
        }
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        self.delete_all();
    }
}

/// Stops a daemon the test started: SIGTERM, then SIGKILL after 20 seconds, and reaps it.
pub fn stop_daemon(mut child: Child) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits for (and reaps) the containerd and shim processes a real daemon left to us (the test
/// is their subreaper): those whose command line names `dir`, or containerd shims parented to
/// us, so other tests' children are never taken. What is still there after 20 s is killed.
pub fn reap_orphans(dir: &Path) {
    let me = std::process::id().to_string();
    let dir = dir.to_string_lossy().into_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut left = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(1)).unwrap_or("");
            let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default().replace('\0', " ");
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if cmdline.contains(&dir) || (ppid == me && comm.starts_with("containerd")) {
                left.push(pid);
            }
        }
        if left.is_empty() {
            return;
        }
        for pid in left {
            let pid = nix::unistd::Pid::from_raw(pid);
            if Instant::now() > deadline {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
            let _ = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Kills every task of a containerd of ours with SIGKILL and deletes it, waiting at most 5 s
/// for each to stop: a fixture's teardown, which must not block for long.
pub fn remove_all_tasks(client: &dockbox::containerd::client::Client) {
    for t in client.list().unwrap_or_default() {
        let _ = client.kill(&t.id, 9, true);
        let deadline = Instant::now() + Duration::from_secs(5);
        while client.state(&t.id).is_ok_and(|s| s.status != "stopped") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = client.delete(&t.id);
    }
}

/// Removes the cgroup `parent` (a path below each hierarchy's root) and everything below it
/// from every hierarchy, waiting a little for the last processes to leave.
pub fn remove_cgroups(parent: &str) {
    fn remove(dir: &Path) {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    remove(&e.path());
                }
            }
        }
        for _ in 0..50 {
            match std::fs::remove_dir(dir) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => std::thread::sleep(Duration::from_millis(20)),
                _ => break,
            }
        }
    }
    let rel = parent.trim_start_matches('/');
    if rel.is_empty() {
        return;
    }
    for h in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        let dir = h.path().join(rel);
        if dir.is_dir() {
            remove(&dir);
        }
    }
    let unified = Path::new("/sys/fs/cgroup").join(rel);
    if unified.is_dir() {
        remove(&unified);
    }
}

/// Debian's docker.io dockerd (with its own containerd and runc) on private roots: no
/// iptables, no default bridge, vfs storage, and a cgroup parent of its own that goes with
/// it; inside `netns` when one is given. `None` (with a note) where it is not installed,
/// which under CI is a failure (scripts/test.sh installs it).
pub struct DockerIo {
    pub dir: TempDir,
    child: Option<Child>,
    pub host: String,
    cgroup_parent: String,
}

impl DockerIo {
    pub fn start(netns: Option<&NetNs>, extra: &[&str]) -> Option<DockerIo> {
        let Some(dockerd) = ["/usr/sbin/dockerd", "/usr/bin/dockerd"].into_iter().find(|p| Path::new(p).exists()) else {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "Debian's docker.io is missing (scripts/test.sh installs it)");
            eprintln!("skipped: no docker.io dockerd");
            return None;
        };
        // Its shims daemonize: as a subreaper the test reaps them.
        dockbox::sys::set_child_subreaper().unwrap();
        let dir = TempDir::new("docker-io");
        let sock = dir.join("docker.sock");
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let cgroup_parent = format!("/dbxt-io-{}", dir.path().file_name().unwrap().to_string_lossy());
        let p = |s: &str| dir.join(s).to_string_lossy().into_owned();
        let mut cmd = match netns {
            Some(ns) => ns.command(dockerd),
            None => Command::new(dockerd),
        };
        cmd.args(["--data-root", &p("data"), "--exec-root", &p("exec"), "--pidfile", &p("docker.pid")])
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs", "--cgroup-parent", &cgroup_parent])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = cmd.spawn().unwrap();
        let mut d = DockerIo { dir, child: Some(child), host: format!("unix://{}", sock.display()), cgroup_parent };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !(sock.exists() && d.client(None, &[], &["version"]).status.success()) {
            let exited = d.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
            assert!(!exited && Instant::now() < deadline, "docker.io's dockerd did not come up: {}", d.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(d)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// `cli` (a real CLI's path, `None`: ours) against it, with `env` and a private config.
    pub fn client(&self, cli: Option<&str>, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut cmd = cli.map(Command::new).unwrap_or_else(|| applet("docker"));
        cmd.arg("-H").arg(&self.host).args(args).envs(env.iter().copied()).env("DOCKER_CONFIG", self.dir.join("config")).stdin(Stdio::null()).output().unwrap()
    }
}

impl Drop for DockerIo {
    fn drop(&mut self) {
        let ids = self.client(None, &[], &["ps", "-aq"]);
        for id in stdout(&ids).lines() {
            let _ = self.client(None, &[], &["rm", "-f", "-v", id]);
        }
        if let Some(c) = self.child.take() {
            stop_daemon(c);
        }
        reap_orphans(self.dir.path());
        remove_cgroups(&self.cgroup_parent);
    }
}
