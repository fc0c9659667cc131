//! dockerd as a service: several listeners, an external containerd, and containers that
//! outlive a crash of containerd or of dockerd itself.

mod common;

use common::{alive, applet, argv0_base, processes_mentioning, proc_field, stderr, stdout, Dockerd, TempDir};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// dockerd's docker-containerd children.
fn containerd_children(d: &Dockerd) -> Vec<i32> {
    processes_mentioning(d.tmp.path())
        .into_iter()
        .filter(|&p| argv0_base(p) == "docker-containerd" && proc_field(p, "PPid").as_deref() == Some(d.pid().to_string().as_str()))
        .collect()
}

#[test]
fn tcp_and_unix_listeners_serve_the_same_api() {
    let port = free_port();
    let Some(d) = Dockerd::start_with(&["-H", &format!("tcp://127.0.0.1:{port}")]) else { return };
    let tcp = format!("tcp://127.0.0.1:{port}");
    let o = applet("docker").args(["-H", &tcp, "run", "--rm", &d.registry.image("hello-world")]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("Hello from dockbox!"));
    for (path, status) in [("/version", "200"), ("/v1.24/version", "200"), ("/v1.44/_ping", "200"), ("/v1.45/version", "400"), ("/v1.23/version", "400")] {
        let o = std::process::Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("http://127.0.0.1:{port}{path}")]).output().unwrap();
        assert_eq!(stdout(&o), status, "{path}");
    }
    let o = std::process::Command::new("curl").args(["-sI", &format!("http://127.0.0.1:{port}/_ping")]).output().unwrap();
    assert!(stdout(&o).to_ascii_lowercase().contains("api-version: 1.44"), "{}", stdout(&o));
}

#[test]
fn an_external_containerd_is_used_and_left_running() {
    if !common::require_root() {
        return;
    }
    dockbox::sys::set_child_subreaper().unwrap();
    let tmp = TempDir::new("ext-containerd");
    let sock = tmp.join("containerd.sock");
    let mut containerd = applet("docker-containerd")
        .arg("--address")
        .arg(&sock)
        .arg("--root")
        .arg(tmp.join("root"))
        .arg("--state")
        .arg(tmp.join("state"))
        .spawn()
        .unwrap();
    let client = dockbox::containerd::client::Client::new(&sock);
    wait_for("containerd", Duration::from_secs(10), || client.version().is_ok());
    let sock_arg = sock.display().to_string();
    let d = Dockerd::start_with(&["--containerd", &sock_arg]).unwrap();
    assert!(containerd_children(&d).is_empty(), "dockerd started its own containerd");
    let o = d.docker(&["run", "--rm", &d.registry.image("busybox"), "echo", "via external"]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "via external\n"), "{}", stderr(&o));
    drop(d);
    assert!(client.version().is_ok(), "stopping dockerd stopped a containerd it did not start");
    containerd.kill().unwrap();
    containerd.wait().unwrap();
}

#[test]
fn containers_outlive_a_containerd_crash() {
    let Some(d) = Dockerd::start() else { return };
    let o = d.docker(&["run", "-d", "--name", "survivor", &d.registry.image("busybox"), "sleep", "30"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let pid = d.api("GET", "/containers/survivor/json", None).1["State"]["Pid"].as_i64().unwrap() as i32;
    let old = containerd_children(&d);
    assert_eq!(old.len(), 1);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(old[0]), nix::sys::signal::Signal::SIGKILL).unwrap();
    wait_for("a new containerd", Duration::from_secs(10), || containerd_children(&d).iter().any(|p| !old.contains(p)));
    assert!(alive(pid), "the container died with containerd");
    assert_eq!(d.api("GET", "/containers/survivor/json", None).1["State"]["Running"], true);
    let o = d.docker(&["stop", "-t", "1", "survivor"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stderr(&o), d.log());
    let o = d.docker(&["wait", "survivor"]);
    // sleep as PID 1 ignores SIGTERM, so the stop ends in SIGKILL: 137, as with Docker.
    assert_eq!(stdout(&o).trim(), "137", "the exit after the restart was not delivered: {}", d.log());
}

#[test]
fn containers_outlive_a_dockerd_crash_and_the_new_dockerd_takes_them_back() {
    let Some(mut d) = Dockerd::start() else { return };
    let script = "echo before; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo after; exit 7";
    let o = d.docker(&["run", "-d", "--name", "phoenix", &d.registry.image("busybox"), "sh", "-c", script]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let pid = d.api("GET", "/containers/phoenix/json", None).1["State"]["Pid"].as_i64().unwrap() as i32;
    wait_for("the first line", Duration::from_secs(10), || stdout(&d.docker(&["logs", "phoenix"])) == "before\n");

    d.crash_and_restart();
    assert!(alive(pid), "the container died with dockerd");
    let inspect = d.api("GET", "/containers/phoenix/json", None).1;
    assert_eq!(inspect["State"]["Running"], true, "{inspect}");
    // The containerd of the dead dockerd was replaced, not left beside the new one.
    wait_for("one containerd", Duration::from_secs(10), || {
        processes_mentioning(d.tmp.path()).into_iter().filter(|&p| argv0_base(p) == "docker-containerd").count() == 1
    });
    // Let the container finish: its output and exit must reach the new dockerd.
    std::fs::write(format!("/proc/{pid}/root/tmp/go"), "").unwrap();
    let o = d.docker(&["wait", "phoenix"]);
    assert_eq!(stdout(&o).trim(), "7", "{}", d.log());
    assert_eq!(stdout(&d.docker(&["logs", "phoenix"])), "before\nafter\n");
}
