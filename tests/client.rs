//! The `docker` client: its error texts without a daemon, and end-to-end behaviour against
//! Debian's real dockerd 20.10 (and a local docker-registry for pulls), started privately.

mod common;

use common::TempDir;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs our client with the given arguments against `host`.
fn docker(host: &str, args: &[&str]) -> Output {
    Command::new(common::dockbox()).arg("docker").arg("-H").arg(host).args(args).stdin(Stdio::null()).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn dockerd_path() -> Option<PathBuf> {
    ["/usr/sbin/dockerd", "/usr/bin/dockerd"].into_iter().map(PathBuf::from).find(|p| p.exists())
}

/// The real docker CLI, used only to prepare images (import, tag, push).
fn real_cli() -> Option<PathBuf> {
    ["/usr/local/bin/docker", "/usr/bin/docker"].into_iter().map(PathBuf::from).find(|p| p.exists())
}

#[test]
fn unknown_flag_is_a_pflag_error_with_exit_125() {
    let o = docker("unix:///nonexistent/docker.sock", &["run", "--foo", "busybox"]);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(text(&o.stderr), "unknown flag: --foo\nSee 'docker run --help'.\n");
    let o = docker("unix:///nonexistent/docker.sock", &["images", "-x"]);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(text(&o.stderr), "unknown shorthand flag: 'x' in -x\nSee 'docker images --help'.\n");
}

#[test]
fn missing_arguments_print_usage() {
    let o = docker("unix:///nonexistent/docker.sock", &["run"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr),
        "\"docker run\" requires at least 1 argument.\nSee 'docker run --help'.\n\nUsage:  docker run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nCreate and run a new container from an image\n"
    );
    let o = docker("unix:///nonexistent/docker.sock", &["logs"]);
    assert!(text(&o.stderr).starts_with("\"docker logs\" requires exactly 1 argument.\n"), "{}", text(&o.stderr));
    let o = docker("unix:///nonexistent/docker.sock", &["ps", "extra"]);
    assert!(text(&o.stderr).starts_with("\"docker ps\" accepts no arguments.\n"), "{}", text(&o.stderr));
}

#[test]
fn unknown_command_exits_1() {
    let o = docker("unix:///nonexistent/docker.sock", &["foo"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stderr), "docker: 'foo' is not a docker command.\nSee 'docker --help'\n");
}

#[test]
fn daemon_down_messages() {
    let o = docker("unix:///nonexistent/docker.sock", &["ps"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stderr), "Cannot connect to the Docker daemon at unix:///nonexistent/docker.sock. Is the docker daemon running?\n");
    let o = docker("unix:///nonexistent/docker.sock", &["run", "busybox"]);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(
        text(&o.stderr),
        "docker: Cannot connect to the Docker daemon at unix:///nonexistent/docker.sock. Is the docker daemon running?.\nSee 'docker run --help'.\n"
    );
    // DOCKER_HOST is honoured when -H is absent.
    let o = Command::new(common::dockbox()).args(["docker", "images"]).env("DOCKER_HOST", "unix:///nonexistent/d2.sock").output().unwrap();
    assert!(text(&o.stderr).contains("unix:///nonexistent/d2.sock"), "{}", text(&o.stderr));
}

/// A private Debian dockerd (with its own containerd) on temporary roots.
struct Daemon {
    dir: TempDir,
    child: Child,
    host: String,
}

impl Daemon {
    /// Starts dockerd, or says why it cannot and returns None.
    fn start(tag: &str, extra: &[String]) -> Option<Daemon> {
        if !common::require_root() {
            eprintln!("skipping: needs root");
            return None;
        }
        let Some(dockerd) = dockerd_path() else {
            eprintln!("skipping: Debian's dockerd (docker.io) is not installed");
            return None;
        };
        // Shims daemonize; as a subreaper we inherit and can reap them.
        dockbox::sys::set_child_subreaper().unwrap();
        let dir = TempDir::new(tag);
        let sock = dir.join("docker.sock");
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let p = |s: &str| dir.join(s).to_string_lossy().into_owned();
        let mut child = Command::new(&dockerd)
            .args(["--data-root", &p("data"), "--exec-root", &p("exec"), "--pidfile", &p("docker.pid")])
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let host = format!("unix://{}", sock.display());
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                eprintln!("skipping: dockerd exited with {status}:\n{}", tail(&dir.join("dockerd.log")));
                return None;
            }
            if sock.exists() && docker(&host, &["version"]).status.success() {
                return Some(Daemon { dir, child, host });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!("skipping: dockerd did not answer within 60s:\n{}", tail(&dir.join("dockerd.log")));
        let mut d = Daemon { dir, child, host };
        d.stop();
        None
    }

    fn run(&self, args: &[&str]) -> Output {
        docker(&self.host, args)
    }

    /// The real CLI against this daemon, for fixtures.
    fn real(&self, args: &[&str]) -> Output {
        let o = Command::new(real_cli().expect("no docker CLI")).arg("-H").arg(&self.host).args(args).output().unwrap();
        assert!(o.status.success(), "real docker {args:?}: {}", text(&o.stderr));
        o
    }

    /// Imports a busybox root filesystem as `name` with the real CLI.
    fn import_busybox(&self, name: &str) {
        let rootfs = self.dir.join("rootfs");
        common::busybox_rootfs(&rootfs);
        let tar = Command::new("tar").arg("-C").arg(&rootfs).args(["-c", "."]).output().unwrap();
        assert!(tar.status.success());
        let mut import = Command::new(real_cli().expect("no docker CLI"))
            .arg("-H")
            .arg(&self.host)
            .args(["import", "--change", "CMD [\"sh\"]", "-", name])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        import.stdin.take().unwrap().write_all(&tar.stdout).unwrap();
        assert!(import.wait().unwrap().success());
    }

    fn stop(&mut self) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        common::reap_orphans(self.dir.path());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

fn tail(p: &Path) -> String {
    let s = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

#[test]
fn real_dockerd_end_to_end() {
    let Some(d) = Daemon::start("cli-e2e", &[]) else { return };
    d.import_busybox("busybox:latest");

    // run: output, exit codes, streams kept apart.
    let o = d.run(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!((text(&o.stdout).as_str(), o.status.code()), ("hi\n", Some(0)), "{}", text(&o.stderr));
    let o = d.run(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    let o = d.run(&["run", "--rm", "busybox", "sh", "-c", "echo to-out; echo to-err >&2"]);
    assert_eq!(text(&o.stdout), "to-out\n");
    assert_eq!(text(&o.stderr), "to-err\n");
    let o = d.run(&["run", "--rm", "-e", "GREETING=hello", "--env=OTHER=x", "-w", "/tmp", "busybox", "sh", "-c", "echo $GREETING $OTHER $(pwd)"]);
    assert_eq!(text(&o.stdout), "hello x /tmp\n", "{}", text(&o.stderr));

    // Commands that cannot run map to 127 and 126 with Docker's report.
    let o = d.run(&["run", "--rm", "busybox", "nosuchcommand"]);
    assert_eq!(o.status.code(), Some(127), "{}", text(&o.stderr));
    assert!(text(&o.stderr).starts_with("docker: Error response from daemon: "), "{}", text(&o.stderr));
    let o = d.run(&["run", "--rm", "busybox", "/etc"]);
    assert_eq!(o.status.code(), Some(126), "{}", text(&o.stderr));

    // --rm leaves nothing behind.
    let o = d.run(&["ps", "-aq"]);
    assert_eq!(text(&o.stdout), "", "containers left after --rm");

    // Detached run, ps, logs, inspect, wait-free removal.
    let o = d.run(&["run", "-d", "--name", "bg", "busybox", "sh", "-c", "echo started; sleep 100"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let id = text(&o.stdout).trim().to_string();
    assert_eq!(id.len(), 64, "{id:?}");
    let o = d.run(&["ps"]);
    let ps = text(&o.stdout);
    let mut lines = ps.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("CONTAINER ID   IMAGE     COMMAND                  CREATED"), "{ps}");
    assert!(header.ends_with("PORTS     NAMES"), "{ps}");
    let row = lines.next().unwrap();
    assert!(row.starts_with(&format!("{}   busybox   \"sh -c 'echo started…\"", &id[..12])), "{ps}");
    assert!(row.contains("Up ") && row.ends_with(" bg"), "{ps}");
    let o = d.run(&["ps", "-q", "--no-trunc"]);
    assert_eq!(text(&o.stdout), format!("{id}\n"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = d.run(&["logs", "bg"]);
        if text(&o.stdout) == "started\n" {
            break;
        }
        assert!(Instant::now() < deadline, "logs: {:?} {:?}", text(&o.stdout), text(&o.stderr));
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = d.run(&["inspect", "-f", "{{.State.Status}} {{.Id}} {{json .Config.Cmd}}", "bg"]);
    assert_eq!(text(&o.stdout), format!("running {id} [\"sh\",\"-c\",\"echo started; sleep 100\"]\n"));
    let o = d.run(&["inspect", "bg"]);
    let out = text(&o.stdout);
    assert!(out.starts_with("[\n    {\n        \"Id\": \""), "{out}");
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed[0]["Name"], "/bg");
    let o = d.run(&["rm", "-f", "bg", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stdout), "bg\n");
    assert_eq!(text(&o.stderr), "Error: No such container: nosuch\n");
    let o = d.run(&["inspect", "nosuch"]);
    assert_eq!((text(&o.stdout).as_str(), text(&o.stderr).as_str(), o.status.code()), ("[]\n", "Error: No such object: nosuch\n", Some(1)));

    // create + start -a, wait.
    let o = d.run(&["create", "--name", "c1", "busybox", "sh", "-c", "echo from-c1; exit 5"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = d.run(&["start", "-a", "c1"]);
    assert_eq!((text(&o.stdout).as_str(), o.status.code()), ("from-c1\n", Some(5)), "{}", text(&o.stderr));
    let o = d.run(&["wait", "c1"]);
    assert_eq!(text(&o.stdout), "5\n");
    let o = d.run(&["ps", "-a"]);
    assert!(text(&o.stdout).contains("Exited (5) "), "{}", text(&o.stdout));
    let o = d.run(&["logs", "--tail", "1", "c1"]);
    assert_eq!(text(&o.stdout), "from-c1\n");
    assert!(d.run(&["rm", "c1"]).status.success());

    // kill -s, stop and wait print names and exit codes; errors are collected at the end.
    assert!(d.run(&["run", "-d", "--name", "k1", "busybox", "sleep", "100"]).status.success());
    let o = d.run(&["kill", "-s", "KILL", "k1"]);
    assert_eq!(text(&o.stdout), "k1\n", "{}", text(&o.stderr));
    let o = d.run(&["wait", "k1"]);
    assert_eq!(text(&o.stdout), "137\n");
    let o = d.run(&["stop", "k1", "nosuch"]);
    assert_eq!((text(&o.stdout).as_str(), o.status.code()), ("k1\n", Some(1)));
    assert_eq!(text(&o.stderr), "Error response from daemon: No such container: nosuch\n");
    assert!(d.run(&["rm", "k1"]).status.success());

    let o = d.run(&["version"]);
    let v = text(&o.stdout);
    assert!(v.starts_with("Client:\n Version:           ") && v.contains("\nServer:\n Engine:\n  Version:          20."), "{v}");
    assert!(v.contains(" API version:       1.41 (downgraded from 1.44)\n"), "{v}");

    // images table.
    let o = d.run(&["images"]);
    let images = text(&o.stdout);
    let mut lines = images.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("REPOSITORY   TAG       IMAGE ID       CREATED ") && header.ends_with(" SIZE"), "{images}");
    let row = lines.next().unwrap();
    assert!(row.starts_with("busybox      latest    "), "{images}");
    assert!(row.ends_with("MB"), "{images}");
    let o = d.run(&["images", "-q"]);
    assert_eq!(text(&o.stdout).trim().len(), 12);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Debian's docker-registry on 127.0.0.1, storing under `dir`.
struct Registry(Child);

impl Registry {
    fn start(dir: &Path, port: u16) -> Option<Registry> {
        let bin = Path::new("/usr/bin/docker-registry");
        if !bin.exists() {
            eprintln!("skipping: docker-registry is not installed");
            return None;
        }
        let cfg = dir.join("registry.yml");
        std::fs::write(
            &cfg,
            format!("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n", dir.join("registry").display()),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let child = Command::new(bin).arg("serve").arg(&cfg).stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
        let reg = Registry(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                eprintln!("skipping: docker-registry did not listen:\n{}", tail(&dir.join("registry.log")));
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(reg)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn pull_from_a_local_registry_shows_progress() {
    if !common::require_root() {
        return;
    }
    let port = free_port();
    let reg_dir = TempDir::new("cli-reg");
    let Some(_registry) = Registry::start(reg_dir.path(), port) else { return };
    let Some(d) = Daemon::start("cli-pull", &[format!("--insecure-registry=127.0.0.1:{port}")]) else { return };
    d.import_busybox("busybox:latest");
    let v1 = format!("127.0.0.1:{port}/bb:v1");
    let v2 = format!("127.0.0.1:{port}/bb:v2");
    for r in [&v1, &v2] {
        d.real(&["tag", "busybox:latest", r]);
        d.real(&["push", r]);
    }
    d.real(&["rmi", &v1, &v2, "busybox:latest"]);

    let o = d.run(&["pull", &v1]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "v1: Pulling from bb", "{out}");
    assert!(lines.iter().any(|l| l.ends_with(": Pull complete")), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("Digest: sha256:")), "{out}");
    assert!(lines.contains(&format!("Status: Downloaded newer image for {v1}").as_str()), "{out}");
    assert_eq!(*lines.last().unwrap(), v1.as_str(), "{out}");
    assert!(!out.contains('['), "no progress bars without a terminal: {out}");

    let o = d.run(&["images", &format!("127.0.0.1:{port}/bb")]);
    let images = text(&o.stdout);
    assert!(images.lines().nth(1).is_some_and(|l| l.starts_with(&format!("127.0.0.1:{port}/bb   v1 "))), "{images}");

    // run pulls a missing image itself, drawing progress on stderr.
    let o = d.run(&["run", "--rm", &v2, "echo", "pulled"]);
    assert_eq!(text(&o.stdout), "pulled\n", "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.starts_with(&format!("Unable to find image '{v2}' locally\nv2: Pulling from bb\n")), "{err}");
    assert!(err.contains(&format!("Status: Downloaded newer image for {v2}\n")), "{err}");
}
