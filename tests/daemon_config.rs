//! dockerd's configuration: every flag of Docker 20.10's dockerd implemented or refused by
//! name, daemon.json (defaults for containers, Docker's refusals, SIGHUP reload), runtimes
//! named per container (the real runc), and the listeners: unix with -G, tcp with TLS and
//! client certificates (the real docker CLI 28 and docker-py), fd:// socket activation.

mod common;

use common::{applet, applet_dir, ok, stderr, stdout, Dockerd, TempDir};
use dockbox::daemon::config::{self, Handling};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CLI: &str = "/usr/local/bin/docker";

/// `dockerd --help` of Docker 20.10 (Linux): every long flag, and the short ones.
const DOCKER_20_10_FLAGS: &[(&str, Option<char>)] = &[
    ("add-runtime", None), ("allow-nondistributable-artifacts", None), ("api-cors-header", None),
    ("authorization-plugin", None), ("bip", None), ("bridge", Some('b')), ("cgroup-parent", None),
    ("cluster-advertise", None), ("cluster-store", None), ("cluster-store-opt", None), ("config-file", None),
    ("containerd", None), ("containerd-namespace", None), ("containerd-plugins-namespace", None),
    ("cpu-rt-period", None), ("cpu-rt-runtime", None), ("cri-containerd", None), ("data-root", None),
    ("debug", Some('D')), ("default-address-pool", None), ("default-cgroupns-mode", None),
    ("default-gateway", None), ("default-gateway-v6", None), ("default-ipc-mode", None),
    ("default-runtime", None), ("default-shm-size", None), ("default-ulimit", None), ("dns", None),
    ("dns-opt", None), ("dns-search", None), ("exec-opt", None), ("exec-root", None), ("experimental", None),
    ("fixed-cidr", None), ("fixed-cidr-v6", None), ("group", Some('G')), ("help", None), ("host", Some('H')),
    ("host-gateway-ip", None), ("icc", None), ("init", None), ("init-path", None), ("insecure-registry", None),
    ("ip", None), ("ip-forward", None), ("ip-masq", None), ("ip6tables", None), ("iptables", None), ("ipv6", None),
    ("label", None), ("live-restore", None), ("log-driver", None), ("log-level", Some('l')), ("log-opt", None),
    ("max-concurrent-downloads", None), ("max-concurrent-uploads", None), ("max-download-attempts", None),
    ("metrics-addr", None), ("mtu", None), ("network-control-plane-mtu", None), ("no-new-privileges", None),
    ("node-generic-resource", None), ("oom-score-adjust", None), ("pidfile", Some('p')), ("raw-logs", None),
    ("registry-mirror", None), ("rootless", None), ("seccomp-profile", None), ("selinux-enabled", None),
    ("shutdown-timeout", None), ("storage-driver", Some('s')), ("storage-opt", None),
    ("swarm-default-advertise-addr", None), ("tls", None), ("tlscacert", None), ("tlscert", None), ("tlskey", None),
    ("tlsverify", None), ("userland-proxy", None), ("userland-proxy-path", None), ("userns-remap", None),
    ("version", Some('v')),
];

fn text(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

/// dockerd on private roots that is expected to refuse to start: its output and status.
fn dockerd_refusing(args: &[&str]) -> Output {
    let tmp = TempDir::new("refuse");
    // In a network namespace of its own: a dockerd that gets as far as its networking before
    // refusing must not touch the host's bridges and firewall.
    let mut cmd = Command::new("unshare");
    cmd.arg("--net").arg(applet_dir().join("dockerd"));
    cmd.arg("--data-root").arg(tmp.join("data")).arg("--exec-root").arg(tmp.join("exec")).arg("--pidfile").arg(tmp.join("pid"));
    cmd.arg("-H").arg(format!("unix://{}", tmp.join("sock").display()));
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!("dockerd {args:?} started instead of refusing: {}", text(&o));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_dockerd_flag_of_docker_20_10_is_implemented_or_refused() {
    use clap::CommandFactory;
    let command = dockbox::daemon::Options::command();
    let ours: Vec<(String, Option<char>)> = command.get_arguments().filter_map(|a| Some((a.get_long()?.to_string(), a.get_short()))).collect();
    for (long, short) in DOCKER_20_10_FLAGS {
        let flag = config::by_long(long).unwrap_or_else(|| panic!("--{long} is missing from daemon::config::FLAGS"));
        assert_eq!(flag.short, *short, "--{long}'s short flag");
        match flag.handling {
            Handling::Implemented if *long == "help" => {}
            Handling::Implemented => {
                let parsed = ours.iter().find(|(l, _)| l == long).unwrap_or_else(|| panic!("--{long} is implemented but dockerd's parser lacks it"));
                assert_eq!(parsed.1, *short, "--{long}'s short flag in the parser");
            }
            Handling::Refused(..) => assert!(!ours.iter().any(|(l, _)| l == long), "--{long} is refused but parsed"),
        }
    }
    // Nothing parsed that the table does not account for.
    for (long, _) in &ours {
        assert!(config::by_long(long).is_some(), "--{long} is parsed but not in the table");
    }
    for flag in config::FLAGS {
        if let Some(key) = flag.key {
            assert_eq!(config::by_key(key).map(|f| f.long), Some(flag.long), "daemon.json key {key} is listed twice");
        }
    }
    if !common::require_root() {
        return;
    }
    // Each refused flag stops dockerd with a message naming it; its zero value does not.
    for flag in config::FLAGS.iter().filter(|f| !f.long.is_empty()) {
        let Handling::Refused(_, _) = flag.handling else { continue };
        let arg = match flag.kind {
            config::Kind::Switch | config::Kind::Bool => format!("--{}", flag.long),
            config::Kind::Map => format!("--{}=a=b", flag.long),
            _ => format!("--{}=1234", flag.long),
        };
        let o = dockerd_refusing(&[&arg]);
        assert_eq!(o.status.code(), Some(1), "{arg}: {}", text(&o));
        assert!(stderr(&o).contains(&format!("--{} is not supported", flag.long)), "{arg}: {}", text(&o));
    }
    // ... and in daemon.json, named by its key.
    let dir = TempDir::new("refused-keys");
    for flag in config::FLAGS {
        let (Handling::Refused(..), Some(key)) = (flag.handling, flag.key) else { continue };
        let value = match flag.kind {
            config::Kind::Switch | config::Kind::Bool => "true",
            config::Kind::List => "[\"x\"]",
            config::Kind::Map | config::Kind::FileOnly => "{\"a\": \"b\"}",
            _ => "\"1234\"",
        };
        let file = dir.join(format!("{key}.json"));
        std::fs::write(&file, format!("{{\"{key}\": {value}}}")).unwrap();
        let o = dockerd_refusing(&["--config-file", file.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{key}: {}", text(&o));
        assert!(stderr(&o).contains(&format!("\"{key}\" in the configuration file is not supported")), "{key}: {}", text(&o));
    }
}

#[test]
fn daemon_json_errors_are_dockers() {
    if !common::require_root() {
        return;
    }
    let dir = TempDir::new("json-errors");
    let missing = dir.join("nope.json");
    let o = dockerd_refusing(&["--config-file", missing.to_str().unwrap()]);
    assert_eq!(stderr(&o).trim(), format!("unable to configure the Docker daemon with file {0}: open {0}: no such file or directory", missing.display()));
    let file = dir.join("daemon.json");
    std::fs::write(&file, r#"{"debug": true, "labels": ["a=b"]}"#).unwrap();
    let o = dockerd_refusing(&["--config-file", file.to_str().unwrap(), "-D", "--label", "x=y"]);
    assert_eq!(
        stderr(&o).trim(),
        "the following directives are specified both as a flag and in the configuration file: debug: (from flag: true, from file: true), labels: (from flag: [x=y], from file: [a=b])"
    );
    std::fs::write(&file, r#"{"debug": true, "max-concurent-downloads": 3}"#).unwrap();
    let o = dockerd_refusing(&["--config-file", file.to_str().unwrap()]);
    assert_eq!(stderr(&o).trim(), "the following directives don't match any configuration option: max-concurent-downloads");
    std::fs::write(&file, r#"{"exec-opts": ["native.cgroupdriver=systemd"]}"#).unwrap();
    let o = dockerd_refusing(&["--config-file", file.to_str().unwrap()]);
    assert!(stderr(&o).contains("native.cgroupdriver=systemd is not supported"), "{}", text(&o));
    let o = dockerd_refusing(&["--exec-opt", "native.cgroupdriver=systemd"]);
    assert!(stderr(&o).contains("native.cgroupdriver=systemd is not supported"), "{}", text(&o));
    let o = dockerd_refusing(&["--log-driver", "splunk"]);
    assert!(stderr(&o).contains("logging driver 'splunk'"), "{}", text(&o));
    let o = dockerd_refusing(&["--log-driver", "nosuch"]);
    assert!(stderr(&o).contains("no log driver named 'nosuch'"), "{}", text(&o));
    let o = dockerd_refusing(&["-G", "dbx-no-such-group"]);
    assert!(stderr(&o).contains("group dbx-no-such-group not found"), "{}", text(&o));
    let o = dockerd_refusing(&["-H", "fd://"]);
    assert!(stderr(&o).contains("no sockets found via socket activation"), "{}", text(&o));
    let o = dockerd_refusing(&["--seccomp-profile", dir.join("none.json").to_str().unwrap()]);
    assert!(stderr(&o).contains("opening seccomp profile"), "{}", text(&o));
}

fn inspect(d: &Dockerd, id: &str) -> Value {
    let o = d.real_docker(CLI, &["inspect", id]);
    serde_json::from_str::<Value>(&ok(&o, d)).unwrap()[0].clone()
}

#[test]
fn daemon_json_gives_containers_the_daemons_defaults() {
    if !common::have_real_cli() {
        return;
    }
    let profile = TempDir::new("seccomp");
    let profile_path = profile.join("profile.json");
    std::fs::write(&profile_path, r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}"#).unwrap();
    let json = format!(
        r#"{{"labels": ["site=lab", "rack=3"], "default-shm-size": "32M", "default-ulimits": {{"nofile": {{"Name": "nofile", "Soft": 1111, "Hard": 2222}}}},
            "dns": ["192.0.2.53"], "dns-search": ["example.test"], "dns-opts": ["ndots:3"], "no-new-privileges": true,
            "default-cgroupns-mode": "host", "default-ipc-mode": "shareable", "exec-opts": ["native.cgroupdriver=cgroupfs"],
            "seccomp-profile": "{}", "log-level": "info", "experimental": false}}"#,
        profile_path.display()
    );
    let Some(d) = Dockerd::start_with_config(&json, &[]) else { return };
    let image = d.registry.image("busybox");
    ok(&d.real_docker(CLI, &["pull", &image]), &d);
    let info: Value = serde_json::from_str(&ok(&d.real_docker(CLI, &["info", "--format", "{{json .}}"]), &d)).unwrap();
    assert_eq!(info["Labels"], serde_json::json!(["site=lab", "rack=3"]));
    assert_eq!(info["SecurityOptions"][0], format!("name=seccomp,profile={}", profile_path.display()));
    let out = ok(
        &d.real_docker(CLI, &["run", "--name", "defaults", &image, "sh", "-c", "grep 'open files' /proc/self/limits; df -k /dev/shm | tail -1; cat /etc/resolv.conf; grep NoNewPrivs /proc/self/status"]),
        &d,
    );
    assert!(out.contains("1111") && out.contains("2222"), "{out}");
    assert!(out.contains(" 32768 "), "{out}");
    assert!(out.contains("nameserver 192.0.2.53") && out.contains("search example.test") && out.contains("options ndots:3"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("NoNewPrivs:") && l.ends_with('1')), "{out}");
    let h = &inspect(&d, "defaults")["HostConfig"];
    assert_eq!((h["ShmSize"].as_i64(), h["CgroupnsMode"].as_str(), h["IpcMode"].as_str(), h["Runtime"].as_str()), (Some(32 << 20), Some("host"), Some("shareable"), Some("runc")));
    // A container's own settings win over the daemon's.
    let out = ok(
        &d.real_docker(CLI, &["run", "--rm", "--ulimit", "nofile=50:60", "--dns", "192.0.2.99", "--shm-size", "8m", "--security-opt", "no-new-privileges=false", &image, "sh", "-c", "grep 'open files' /proc/self/limits; df -k /dev/shm | tail -1; cat /etc/resolv.conf; grep NoNewPrivs /proc/self/status"]),
        &d,
    );
    assert!(out.contains(" 50 ") && !out.contains("1111"), "{out}");
    assert!(out.contains(" 8192 ") && out.contains("nameserver 192.0.2.99") && !out.contains("192.0.2.53"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("NoNewPrivs:") && l.ends_with('0')), "{out}");
    // The daemon's seccomp profile: mkdir refused, unless the container runs unconfined.
    let o = d.real_docker(CLI, &["run", "--rm", &image, "mkdir", "/tmp/x"]);
    assert!(!o.status.success() && stderr(&o).contains("Operation not permitted"), "{}", text(&o));
    ok(&d.real_docker(CLI, &["run", "--rm", "--security-opt", "seccomp=unconfined", &image, "mkdir", "/tmp/x"]), &d);
}

#[test]
fn log_driver_none_is_the_default_when_the_daemon_says_so() {
    if !common::have_real_cli() {
        return;
    }
    let Some(d) = Dockerd::start_with(&["--log-driver", "none"]) else { return };
    let image = d.registry.image("busybox");
    ok(&d.real_docker(CLI, &["pull", &image]), &d);
    ok(&d.real_docker(CLI, &["run", "--name", "quiet", &image, "echo", "hi"]), &d);
    assert_eq!(inspect(&d, "quiet")["HostConfig"]["LogConfig"]["Type"], "none");
    ok(&d.real_docker(CLI, &["run", "--name", "loud", "--log-driver", "json-file", &image, "echo", "hi"]), &d);
    assert_eq!(inspect(&d, "loud")["HostConfig"]["LogConfig"]["Type"], "json-file");
    assert_eq!(stdout(&d.real_docker(CLI, &["logs", "loud"])), "hi\n");
    let info: Value = serde_json::from_str(&ok(&d.real_docker(CLI, &["info", "--format", "{{json .}}"]), &d)).unwrap();
    assert_eq!(info["LoggingDriver"], "none");
}

fn sighup(d: &Dockerd) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(d.pid() as i32), nix::sys::signal::Signal::SIGHUP).unwrap();
}

fn wait_for(what: &str, d: &Dockerd, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "{what}: {}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_reloads_what_docker_reloads_and_only_that() {
    if !common::have_real_cli() {
        return;
    }
    let Some(d) = Dockerd::start_with_config(r#"{"labels": ["gen=1"], "dns": ["192.0.2.1"]}"#, &[]) else { return };
    let info = || -> Value { serde_json::from_str(&ok(&d.real_docker(CLI, &["info", "--format", "{{json .}}"]), &d)).unwrap() };
    assert_eq!(info()["Labels"], serde_json::json!(["gen=1"]));
    assert_eq!(info()["Debug"], false);
    std::fs::write(
        d.config_file(),
        r#"{"labels": ["gen=2"], "debug": true, "registry-mirrors": ["https://mirror.example.test"], "max-concurrent-downloads": 1, "dns": ["192.0.2.2"], "runtimes": {"realrunc": {"path": "/usr/sbin/runc"}}}"#,
    )
    .unwrap();
    sighup(&d);
    wait_for("labels reloaded", &d, || info()["Labels"] == serde_json::json!(["gen=2"]));
    let i = info();
    assert_eq!(i["Debug"], true);
    assert!(i["RegistryConfig"]["Mirrors"].to_string().contains("mirror.example.test"), "{i}");
    assert_eq!(i["Runtimes"]["realrunc"]["path"], "/usr/sbin/runc");
    assert!(d.log().contains("Reloaded configuration"), "{}", d.log());
    // dns is not reloaded: a new container still gets the first one.
    let image = d.registry.image("busybox");
    ok(&d.real_docker(CLI, &["pull", &image]), &d);
    let out = ok(&d.real_docker(CLI, &["run", "--rm", &image, "cat", "/etc/resolv.conf"]), &d);
    assert!(out.contains("192.0.2.1") && !out.contains("192.0.2.2"), "{out}");
    // A file with an error changes nothing and says why.
    std::fs::write(d.config_file(), r#"{"labels": ["gen=3"], "bogus-key": 1}"#).unwrap();
    sighup(&d);
    wait_for("the reload error", &d, || d.log().contains("Error reconfiguring the daemon: the following directives don't match any configuration option: bogus-key"));
    assert_eq!(info()["Labels"], serde_json::json!(["gen=2"]));
}

#[test]
fn runtimes_are_named_per_container_and_reach_the_shim() {
    if !common::have_real_cli() || !Path::new("/usr/sbin/runc").exists() {
        return;
    }
    let Some(d) = Dockerd::start_with(&["--add-runtime", "realrunc=/usr/sbin/runc"]) else { return };
    let image = d.registry.image("busybox");
    ok(&d.real_docker(CLI, &["pull", &image]), &d);
    let info: Value = serde_json::from_str(&ok(&d.real_docker(CLI, &["info", "--format", "{{json .}}"]), &d)).unwrap();
    assert_eq!(info["Runtimes"]["realrunc"]["path"], "/usr/sbin/runc");
    assert_eq!(info["DefaultRuntime"], "runc");
    let id = ok(&d.real_docker(CLI, &["run", "-d", "--runtime", "realrunc", &image, "sleep", "60"]), &d).trim().to_string();
    assert_eq!(inspect(&d, &id)["HostConfig"]["Runtime"], "realrunc");
    // containerd recorded the real runc for the task, and the real runc knows the container.
    let task = Command::new("find").arg(d.tmp.join("data/containerd")).args(["-name", "task.json", "-path", &format!("*{id}*")]).output().unwrap();
    let task = std::fs::read_to_string(stdout(&task).trim()).unwrap();
    assert!(task.contains("/usr/sbin/runc"), "{task}");
    let list = Command::new("/usr/sbin/runc").arg("--root").arg(d.tmp.join("exec/containerd/daemon/runtime-runc/moby")).args(["state", &id]).output().unwrap();
    assert!(list.status.success() && stdout(&list).contains("\"running\""), "{}", text(&list));
    assert_eq!(stdout(&d.real_docker(CLI, &["exec", &id, "echo", "in"])), "in\n");
    ok(&d.real_docker(CLI, &["rm", "-f", &id]), &d);
    let o = d.real_docker(CLI, &["run", "--rm", "--runtime", "nosuch", &image, "true"]);
    assert!(!o.status.success() && stderr(&o).contains("unknown or invalid runtime name: nosuch"), "{}", text(&o));
    drop(d);
    // --default-runtime names a registered runtime: containers get it.
    let Some(d) = Dockerd::start_with(&["--add-runtime", "realrunc=/usr/sbin/runc", "--default-runtime", "realrunc"]) else { return };
    ok(&d.real_docker(CLI, &["pull", &image]), &d);
    ok(&d.real_docker(CLI, &["run", "--name", "dflt", &image, "true"]), &d);
    assert_eq!(inspect(&d, "dflt")["HostConfig"]["Runtime"], "realrunc");
}

#[test]
fn the_unix_socket_belongs_to_the_group_with_mode_0660() {
    let Some(group) = nix::unistd::Group::from_name("daemon").ok().flatten() else { return };
    let Some(d) = Dockerd::start_with(&["-G", "daemon"]) else { return };
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(&d.sock).unwrap();
    assert_eq!((m.gid(), m.mode() & 0o777, m.uid()), (group.gid.as_raw(), 0o660, 0));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn openssl(dir: &TempDir, args: &[&str]) {
    let o = Command::new("openssl").current_dir(dir.path()).args(args).output().unwrap();
    assert!(o.status.success(), "openssl {args:?}: {}", text(&o));
}

/// A CA, a server certificate for 127.0.0.1, a client certificate, and a client certificate
/// of another CA.
fn make_certs(dir: &TempDir) {
    for ca in ["ca", "rogue-ca"] {
        openssl(dir, &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &format!("{ca}-key.pem"), "-out", &format!("{ca}.pem"), "-days", "2", "-subj", &format!("/CN={ca}")]);
    }
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n").unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (name, ca, ext) in [("server", "ca", "server.ext"), ("client", "ca", "client.ext"), ("rogue", "rogue-ca", "client.ext")] {
        openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &format!("{name}-key.pem"), "-out", &format!("{name}.csr"), "-subj", &format!("/CN={name}")]);
        openssl(dir, &["x509", "-req", "-in", &format!("{name}.csr"), "-CA", &format!("{ca}.pem"), "-CAkey", &format!("{ca}-key.pem"), "-CAcreateserial", "-out", &format!("{name}.pem"), "-days", "2", "-extfile", ext]);
    }
}

#[test]
fn tls_with_client_certificates_serves_the_real_cli_and_docker_py() {
    if !common::have_real_cli() {
        return;
    }
    let certs = TempDir::new("tls");
    make_certs(&certs);
    let p = |f: &str| certs.join(f).display().to_string();
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    let Some(d) = Dockerd::start_with(&["-H", &host, "--tlsverify", "--tlscacert", &p("ca.pem"), "--tlscert", &p("server.pem"), "--tlskey", &p("server-key.pem")]) else { return };
    assert!(!d.log().contains("without --tlsverify"), "{}", d.log());
    let image = d.registry.image("busybox");
    ok(&d.real_docker(CLI, &["pull", &image]), &d);
    let cli = |key: &str, cert: &str, args: &[&str]| -> Output {
        Command::new(CLI)
            .args(["--tlsverify", "--tlscacert", &p("ca.pem"), "--tlscert", &p(cert), "--tlskey", &p(key), "-H", &host])
            .args(args)
            .env("DOCKER_CONFIG", d.tmp.join("docker-config"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = cli("client-key.pem", "client.pem", &["version", "--format", "{{.Server.Version}}"]);
    assert!(o.status.success(), "{}", text(&o));
    // A run attaches over TLS (a hijacked connection), with stdin closing half-way.
    let o = cli("client-key.pem", "client.pem", &["run", "--rm", &image, "sh", "-c", "echo over-tls; echo to-stderr >&2; exit 3"]);
    assert_eq!((o.status.code(), stdout(&o).as_str(), stderr(&o).as_str()), (Some(3), "over-tls\n", "to-stderr\n"));
    let mut child = Command::new(CLI)
        .args(["--tlsverify", "--tlscacert", &p("ca.pem"), "--tlscert", &p("client.pem"), "--tlskey", &p("client-key.pem"), "-H", &host, "run", "--rm", "-i", &image, "cat"])
        .env("DOCKER_CONFIG", d.tmp.join("docker-config"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"through cat\n").unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "through cat\n"));
    // A client certificate of another CA, or none at all, is turned away.
    let o = cli("rogue-key.pem", "rogue.pem", &["version", "--format", "{{.Server.Version}}"]);
    assert!(!o.status.success(), "{}", text(&o));
    let o = Command::new(CLI).args(["--tls", "--tlscacert", &p("ca.pem"), "-H", &host, "version", "--format", "{{.Server.Version}}"]).env("DOCKER_CONFIG", d.tmp.join("docker-config")).output().unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    // docker-py with a TLS configuration.
    let script = format!(
        "import docker\nt = docker.tls.TLSConfig(client_cert=('{}', '{}'), ca_cert='{}', verify=True)\nc = docker.DockerClient(base_url='https://127.0.0.1:{port}', tls=t)\nprint(c.version()['ApiVersion'])\nprint(c.containers.run('{image}', 'echo from-py', remove=True).decode(), end='')\n",
        p("client.pem"),
        p("client-key.pem"),
        p("ca.pem")
    );
    // (requests prefers REQUESTS_CA_BUNDLE to the client's own CA when it is set.)
    let python = |script: &str| Command::new("python3").arg("-c").arg(script).env_remove("REQUESTS_CA_BUNDLE").env_remove("CURL_CA_BUNDLE").output().unwrap();
    let o = python(&script);
    assert!(o.status.success(), "{}\n{}", text(&o), d.log());
    assert!(stdout(&o).ends_with("from-py\n"), "{}", text(&o));
    let bad = script.replace(&p("client.pem"), &p("rogue.pem")).replace(&p("client-key.pem"), &p("rogue-key.pem"));
    let o = python(&bad);
    assert!(!o.status.success(), "{}", text(&o));
}

#[test]
fn tcp_without_tls_warns_and_tls_without_verify_needs_no_client_certificate() {
    if !common::have_real_cli() {
        return;
    }
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    let Some(d) = Dockerd::start_with(&["-H", &host]) else { return };
    assert!(d.log().contains("Binding to IP address without --tlsverify is insecure"), "{}", d.log());
    let o = Command::new(CLI).args(["-H", &host, "version", "--format", "{{.Server.Os}}"]).env("DOCKER_CONFIG", d.tmp.join("docker-config")).output().unwrap();
    assert_eq!(stdout(&o), "linux\n", "{}", text(&o));
    drop(d);
    let certs = TempDir::new("tls-only");
    make_certs(&certs);
    let p = |f: &str| certs.join(f).display().to_string();
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    let Some(d) = Dockerd::start_with(&["-H", &host, "--tls", "--tlscert", &p("server.pem"), "--tlskey", &p("server-key.pem")]) else { return };
    assert!(d.log().contains("Binding to IP address without --tlsverify is insecure"), "{}", d.log());
    // No client certificate needed: curl with none (and not checking the server's).
    let o = Command::new("curl").args(["-sSk", &format!("https://127.0.0.1:{port}/_ping")]).output().unwrap();
    assert_eq!(stdout(&o), "OK", "{}", text(&o));
    let o = Command::new(CLI).args(["--tlsverify", "--tlscacert", &p("ca.pem"), "-H", &host, "version", "--format", "{{.Server.Os}}"]).env("DOCKER_CONFIG", d.tmp.join("docker-config")).output().unwrap();
    assert_eq!(stdout(&o), "linux\n", "{}", text(&o));
    // Plain HTTP to a TLS socket gets nothing useful.
    let o = Command::new(CLI).args(["-H", &host, "version", "--format", "{{.Server.Os}}"]).env("DOCKER_CONFIG", d.tmp.join("docker-config")).output().unwrap();
    assert!(!o.status.success(), "{}", text(&o));
}

#[test]
fn socket_activation_serves_the_sockets_systemd_passes() {
    if !common::have_real_cli() || !Path::new("/usr/bin/systemd-socket-activate").exists() {
        return;
    }
    let tmp = TempDir::new("fd");
    let sock = tmp.join("activated.sock");
    let port = free_port();
    // Type=notify: dockerd says READY=1 on NOTIFY_SOCKET once it serves.
    let notify = std::os::unix::net::UnixDatagram::bind(tmp.join("notify")).unwrap();
    notify.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // (systemd-socket-activate passes on only the variables -E names.)
    let mut child = Command::new("systemd-socket-activate")
        .arg(format!("--setenv=NOTIFY_SOCKET={}", tmp.join("notify").display()))
        .arg("-l")
        .arg(&sock)
        .arg("-l")
        .arg(format!("127.0.0.1:{port}"))
        .arg(applet_dir().join("dockerd"))
        .arg("--data-root")
        .arg(tmp.join("data"))
        .arg("--exec-root")
        .arg(tmp.join("exec"))
        .arg("--pidfile")
        .arg(tmp.join("pid"))
        .args(["--bridge=none", "--iptables=false", "--ip6tables=false", "-H", "fd://"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(tmp.join("log")).unwrap())
        .spawn()
        .unwrap();
    let version = |h: &str| Command::new(CLI).args(["-H", h, "version", "--format", "{{.Server.Os}}"]).env("DOCKER_CONFIG", tmp.join("cfg")).output().unwrap();
    let unix = format!("unix://{}", sock.display());
    let deadline = Instant::now() + Duration::from_secs(20);
    while stdout(&version(&unix)) != "linux\n" {
        assert!(Instant::now() < deadline, "{}", std::fs::read_to_string(tmp.join("log")).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(stdout(&version(&format!("tcp://127.0.0.1:{port}"))), "linux\n");
    let mut buf = [0u8; 64];
    let n = notify.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    child.wait().unwrap();
}

#[test]
fn the_sysvinit_script_starts_reloads_and_stops_dockerd() {
    if !common::have_real_cli() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/init/sysvinit/docker");
    let tmp = TempDir::new("sysvinit");
    let sock = tmp.join("docker.sock");
    let config = tmp.join("daemon.json");
    std::fs::write(&config, r#"{"labels": ["from=init"]}"#).unwrap();
    let opts = format!(
        "--data-root {0}/data --exec-root {0}/exec -H unix://{1} --bridge=none --iptables=false --ip6tables=false --config-file {2}",
        tmp.path().display(),
        sock.display(),
        config.display()
    );
    let run = |cmd: &str| -> Output {
        Command::new("sh")
            .arg(&script)
            .arg(cmd)
            .env("DOCKER_DEFAULTS", "/dev/null")
            .env("DOCKERD", applet_dir().join("dockerd"))
            .env("DOCKER_OPTS", &opts)
            .env("DOCKER_PIDFILE", tmp.join("docker.pid"))
            .env("DOCKER_LOGFILE", tmp.join("docker.log"))
            .env("DOCKER_STOP_TIMEOUT", "20")
            .output()
            .unwrap()
    };
    let host = format!("unix://{}", sock.display());
    let labels = || stdout(&Command::new(CLI).args(["-H", &host, "info", "--format", "{{json .Labels}}"]).env("DOCKER_CONFIG", tmp.join("cfg")).output().unwrap());
    assert_eq!(run("status").status.code(), Some(3));
    let o = run("start");
    assert!(o.status.success(), "{}{}", text(&o), std::fs::read_to_string(tmp.join("docker.log")).unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(20);
    while labels() != "[\"from=init\"]\n" {
        assert!(Instant::now() < deadline, "{}", std::fs::read_to_string(tmp.join("docker.log")).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid: i32 = std::fs::read_to_string(tmp.join("docker.pid")).unwrap().trim().parse().unwrap();
    assert!(stdout(&run("status")).contains(&format!("running (pid {pid})")));
    std::fs::write(&config, r#"{"labels": ["from=reload"]}"#).unwrap();
    assert!(run("reload").status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while labels() != "[\"from=reload\"]\n" {
        assert!(Instant::now() < deadline, "{}", std::fs::read_to_string(tmp.join("docker.log")).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(run("stop").status.success());
    assert!(!Path::new(&format!("/proc/{pid}")).exists() || common::proc_field(pid, "State").is_some_and(|s| s.starts_with('Z')), "dockerd still runs");
    assert_eq!(run("status").status.code(), Some(3));
}


#[test]
fn api_cors_header_is_sent_and_preflights_answered() {
    let Some(d) = Dockerd::start_with(&["--api-cors-header", "https://ui.example.test"]) else { return };
    let o = d.curl(&["-i", "http://localhost/_ping"]);
    let head = stdout(&o).to_ascii_lowercase();
    assert!(head.contains("access-control-allow-origin: https://ui.example.test"), "{head}");
    assert!(head.contains("access-control-allow-methods: head, get, post, delete, put, options"), "{head}");
    let o = d.curl(&["-i", "-X", "OPTIONS", "http://localhost/v1.44/containers/json"]);
    let head = stdout(&o);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    drop(d);
    let Some(d) = Dockerd::start() else { return };
    let head = stdout(&d.curl(&["-i", "http://localhost/_ping"])).to_ascii_lowercase();
    assert!(!head.contains("access-control"), "{head}");
}

#[test]
fn cgroup_parent_is_the_parent_of_containers_that_name_none() {
    if !common::have_real_cli() {
        return;
    }
    let parent = format!("dbx-parent-{}", &dockbox::ids::new_id()[..8]);
    let Some(d) = Dockerd::start_with(&["--cgroup-parent", &format!("/{parent}")]) else { return };
    let image = d.registry.image("busybox");
    ok(&d.real_docker(CLI, &["pull", &image]), &d);
    let id = ok(&d.real_docker(CLI, &["run", "-d", &image, "sleep", "60"]), &d).trim().to_string();
    let pid = inspect(&d, &id)["State"]["Pid"].as_i64().unwrap();
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(cgroup.contains(&format!("/{parent}/{id}")), "{cgroup}");
    let stats = d.real_docker(CLI, &["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", &id]);
    assert!(ok(&stats, &d).trim().ends_with(" 1"), "{}", text(&stats));
    // A container's own parent wins.
    let own = format!("{parent}-own");
    let id2 = ok(&d.real_docker(CLI, &["run", "-d", "--cgroup-parent", &format!("/{own}"), &image, "sleep", "60"]), &d).trim().to_string();
    let pid2 = inspect(&d, &id2)["State"]["Pid"].as_i64().unwrap();
    assert!(std::fs::read_to_string(format!("/proc/{pid2}/cgroup")).unwrap().contains(&format!("/{own}/{id2}")));
    ok(&d.real_docker(CLI, &["rm", "-f", &id, &id2]), &d);
    drop(d);
    // The parents are left behind, as Docker leaves them: the test takes them away.
    for name in [&parent, &own] {
        let _ = Command::new("find").args(["/sys/fs/cgroup", "-maxdepth", "2", "-type", "d", "-name", name, "-exec", "rmdir", "{}", ";"]).status();
    }
}

#[test]
fn log_level_keeps_out_what_is_below_it() {
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    let Some(d) = Dockerd::start_with(&["-H", &host, "--log-level", "error"]) else { return };
    assert!(!d.log().contains("Binding to IP address") && !d.log().contains("API listen on"), "{}", d.log());
    drop(d);
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    let Some(d) = Dockerd::start_with(&["-H", &host, "-l", "warn"]) else { return };
    assert!(d.log().contains("level=warning msg=\"Binding to IP address") && !d.log().contains("API listen on"), "{}", d.log());
    drop(d);
    // Debug lines (each API call) come with -D and --log-level debug only.
    let Some(d) = Dockerd::start_with(&["-D"]) else { return };
    assert!(d.log().contains("level=debug msg=\"Calling GET /_ping\""), "{}", d.log());
    drop(d);
    let Some(d) = Dockerd::start_with(&["--log-level", "info"]) else { return };
    assert!(!d.log().contains("level=debug"), "{}", d.log());
    let o = dockerd_refusing(&["--log-level", "loud"]);
    assert_eq!(o.status.code(), Some(125), "{}", text(&o));
}

#[test]
fn a_start_that_fails_after_binding_leaves_no_socket() {
    if !common::require_root() {
        return;
    }
    let tmp = TempDir::new("failed-start");
    let o = applet("dockerd")
        .arg("--data-root")
        .arg(tmp.join("data"))
        .arg("--exec-root")
        .arg(tmp.join("exec"))
        .arg("--pidfile")
        .arg(tmp.join("pid"))
        .arg("-H")
        .arg(format!("unix://{}", tmp.join("sock").display()))
        .args(["--bridge", "dbxnope0", "--iptables=false", "--ip6tables=false"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!tmp.join("sock").exists() && !tmp.join("pid").exists(), "{}", text(&o));
}
