//! `docker exec` end to end: the shim runs and reaps exec processes, containerd forwards, dockerd
//! keeps exec records (through its own crash and containerd's), our client and the real CLI.

mod common;

use common::{real_clis, stderr, stdout, Dockerd, REAL_CLI};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// A client to drive, by name.
type Client<'a> = (&'static str, Box<dyn Fn(&[&str]) -> Output + 'a>);

/// The clients to drive: ours, and the real CLIs installed.
fn clients(d: &Dockerd) -> Vec<Client<'_>> {
    let mut all: Vec<Client<'_>> = vec![("ours", Box::new(|a: &[&str]| d.docker(a)))];
    for cli in real_clis() {
        all.push((if cli == REAL_CLI { "docker 28" } else { "docker 20.10" }, Box::new(move |a: &[&str]| d.real_docker(cli, a))));
    }
    all
}

/// A running busybox container named `name`.
fn running(d: &Dockerd, name: &str) -> String {
    let image = d.registry.image("busybox");
    let o = d.docker(&["run", "-d", "--name", name, &image, "sleep", "1000"]);
    assert_eq!(o.status.code(), Some(0), "{}{}{}", stdout(&o), stderr(&o), d.log());
    stdout(&o).trim().to_string()
}

/// Polls the exec's inspect until `done` holds (10 s at most).
fn inspect_until(d: &Dockerd, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, v) = d.api("GET", &format!("/exec/{id}/json"), None);
        if status == 200 && done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "exec {id}: {status} {v}\n{}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Creates an exec of `cmd` through the API; returns its id.
fn create_exec(d: &Dockerd, container: &str, cmd: &[&str]) -> String {
    let body = serde_json::json!({"Cmd": cmd, "AttachStdout": false, "AttachStderr": false});
    let (status, v) = d.api("POST", &format!("/containers/{container}/exec"), Some(&body.to_string()));
    assert_eq!(status, 201, "{v}");
    v["Id"].as_str().unwrap().to_string()
}

fn start_detached(d: &Dockerd, id: &str) {
    let (status, v) = d.api("POST", &format!("/exec/{id}/start"), Some(r#"{"Detach":true,"Tty":false}"#));
    assert_eq!(status, 200, "{v}\n{}", d.log());
}

#[test]
fn exec_runs_commands_with_our_client_and_the_real_cli() {
    let Some(d) = Dockerd::start() else { return };
    running(&d, "ct");
    for (who, docker) in clients(&d) {
        let o = docker(&["exec", "ct", "echo", "hi"]);
        assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "hi\n"), "{who}: {}\n{}", stderr(&o), d.log());
        let o = docker(&["exec", "ct", "sh", "-c", "echo out; echo err >&2; exit 3"]);
        assert_eq!((o.status.code(), stdout(&o).as_str(), stderr(&o).as_str()), (Some(3), "out\n", "err\n"), "{who}");
        let o = docker(&["exec", "ct", "/etc"]);
        assert_eq!(o.status.code(), Some(126), "{who}: {}{}", stdout(&o), stderr(&o));
        let o = docker(&["exec", "ct", "no-such-command"]);
        assert_eq!(o.status.code(), Some(127), "{who}: {}{}", stdout(&o), stderr(&o));
        let all = stdout(&o) + &stderr(&o);
        assert!(all.contains("OCI runtime exec failed") && all.contains("executable file not found"), "{who}: {all}");
        let o = docker(&["exec", "-u", "nobody", "ct", "id", "-u"]);
        assert_eq!(stdout(&o), "65534\n", "{who}: {}", stderr(&o));
        let o = docker(&["exec", "--user", "1234:5678", "ct", "id"]);
        assert!(stdout(&o).starts_with("uid=1234 gid=5678"), "{who}: {}{}", stdout(&o), stderr(&o));
        let o = docker(&["exec", "-w", "/tmp", "ct", "pwd"]);
        assert_eq!(stdout(&o), "/tmp\n", "{who}: {}", stderr(&o));
        let o = docker(&["exec", "-e", "GREETING=hello there", "ct", "sh", "-c", "echo $GREETING; echo $HOME"]);
        assert_eq!(stdout(&o), "hello there\n/root\n", "{who}: {}", stderr(&o));
        let o = docker(&["container", "exec", "ct", "hostname"]);
        assert_eq!(o.status.code(), Some(0), "{who}: {}", stderr(&o));
        // -t: a pty (its line discipline turns \n into \r\n) and no stdcopy frame headers.
        let o = docker(&["exec", "-t", "ct", "sh", "-c", "test -t 1 && echo tty"]);
        assert_eq!((o.status.code(), o.stdout.as_slice()), (Some(0), &b"tty\r\n"[..]), "{who}: {}", stderr(&o));
        let o = docker(&["exec", "ct", "sh", "-c", "test -t 1 || echo no-tty"]);
        assert_eq!(stdout(&o), "no-tty\n", "{who}");
    }
    let o = d.docker(&["exec", "--privileged", "ct", "sh", "-c", "grep CapEff /proc/self/status"]);
    let plain = d.docker(&["exec", "ct", "sh", "-c", "grep CapEff /proc/self/status"]);
    assert_ne!(stdout(&o), stdout(&plain), "--privileged gave no more capabilities: {}", stderr(&o));
    assert!(stdout(&o).contains("ffffff"), "{}", stdout(&o));
}

#[test]
fn exec_copies_stdin_and_env_files() {
    let Some(d) = Dockerd::start() else { return };
    running(&d, "ct");
    let programs: Vec<Option<&str>> = std::iter::once(None).chain(real_clis().into_iter().map(Some)).collect();
    for p in programs {
        let o = d.client_with_input(p, &["exec", "-i", "ct", "cat"], Some(b"hi\nthere\n"));
        assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "hi\nthere\n"), "{p:?}: {}\n{}", stderr(&o), d.log());
        let o = d.client_with_input(p, &["exec", "-i", "ct", "sh", "-c", "wc -c; exit 4"], Some(&[b'x'; 100_000]));
        assert_eq!((o.status.code(), stdout(&o).trim()), (Some(4), "100000"), "{p:?}: {}", stderr(&o));
    }
    // A process that ends before its stdin is opened leaves no thread of dockerd behind.
    let threads = || std::fs::read_dir(format!("/proc/{}/task", d.pid())).unwrap().count();
    let before = threads();
    for _ in 0..6 {
        let o = d.client_with_input(None, &["exec", "-i", "ct", "true"], Some(b""));
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while threads() > before + 2 {
        assert!(Instant::now() < deadline, "dockerd went from {before} to {} threads", threads());
        std::thread::sleep(Duration::from_millis(50));
    }
    let env_file = d.tmp.join("env.list");
    std::fs::write(&env_file, "# a comment\n\nFROM_FILE=1\nBOTH=file\n").unwrap();
    let o = d.docker(&["exec", "--env-file", env_file.to_str().unwrap(), "-e", "BOTH=flag", "ct", "sh", "-c", "echo $FROM_FILE $BOTH"]);
    assert_eq!(stdout(&o), "1 flag\n", "{}", stderr(&o));
}

#[test]
fn exec_detached_and_inspected() {
    let Some(d) = Dockerd::start() else { return };
    let cid = running(&d, "ct");
    for (who, docker) in clients(&d) {
        let marker = format!("/tmp/{}", who.replace(' ', "-"));
        let o = docker(&["exec", "-d", "ct", "sh", "-c", &format!("sleep 0.2; echo done > {marker}")]);
        assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), ""), "{who}: {}", stderr(&o));
        let deadline = Instant::now() + Duration::from_secs(10);
        while stdout(&d.docker(&["exec", "ct", "cat", &marker])) != "done\n" {
            assert!(Instant::now() < deadline, "{who}: the detached exec did not run");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let id = create_exec(&d, "ct", &["sh", "-c", "sleep 0.5; exit 5"]);
    let (_, v) = d.api("GET", &format!("/exec/{id}/json"), None);
    assert_eq!((v["Running"].as_bool(), v["ExitCode"].is_null(), v["ContainerID"].as_str()), (Some(false), true, Some(cid.as_str())), "{v}");
    assert_eq!((v["ProcessConfig"]["entrypoint"].as_str(), v["ProcessConfig"]["arguments"][1].as_str()), (Some("sh"), Some("sleep 0.5; exit 5")), "{v}");
    start_detached(&d, &id);
    let v = inspect_until(&d, &id, |v| v["Running"] == true);
    assert!(v["Pid"].as_u64().unwrap() > 0, "{v}");
    let (_, c) = d.api("GET", "/containers/ct/json", None);
    assert!(c["ExecIDs"].as_array().is_some_and(|a| a.iter().any(|x| x == id.as_str())), "{c}");
    let v = inspect_until(&d, &id, |v| v["Running"] == false);
    assert_eq!(v["ExitCode"], 5, "{v}");
    let (_, c) = d.api("GET", "/containers/ct/json", None);
    assert!(c["ExecIDs"].is_null(), "{c}");
    // A second start of the same exec is a conflict; an unknown exec is a 404.
    let (status, v) = d.api("POST", &format!("/exec/{id}/start"), Some(r#"{"Detach":true}"#));
    assert_eq!(status, 409, "{v}");
    // A detached start of a command that does not exist: Docker's 400, and 127 recorded.
    let missing = create_exec(&d, "ct", &["no-such-command"]);
    let (status, v) = d.api("POST", &format!("/exec/{missing}/start"), Some(r#"{"Detach":true}"#));
    assert_eq!(status, 400, "{v}");
    assert!(v["message"].as_str().unwrap().starts_with("OCI runtime exec failed: "), "{v}");
    let (_, v) = d.api("GET", &format!("/exec/{missing}/json"), None);
    assert_eq!((v["ExitCode"].as_i64(), v["Running"].as_bool()), (Some(127), Some(false)), "{v}");
    let (status, v) = d.api("GET", "/exec/nope/json", None);
    assert_eq!((status, v["message"].as_str()), (404, Some("No such exec instance: nope")));
}

#[test]
fn exec_into_a_container_that_does_not_run_is_refused() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    let o = d.docker(&["create", "--name", "idle", &image, "true"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    let (status, v) = d.api("POST", "/containers/idle/exec", Some(r#"{"Cmd":["true"]}"#));
    assert_eq!((status, v["message"].as_str()), (409, Some(format!("Container {id} is not running").as_str())));
    let (status, _) = d.api("POST", "/containers/nothing-here/exec", Some(r#"{"Cmd":["true"]}"#));
    assert_eq!(status, 404);
    let (status, v) = d.api("POST", "/containers/idle/exec", Some(r#"{"Cmd":[]}"#));
    assert_eq!((status, v["message"].as_str()), (400, Some("No exec command specified")));
    for (who, docker) in clients(&d) {
        let o = docker(&["exec", "idle", "true"]);
        assert_eq!(o.status.code(), Some(1), "{who}");
        assert_eq!(stderr(&o).trim(), format!("Error response from daemon: Container {id} is not running"), "{who}");
        let o = docker(&["exec", "nothing-here", "true"]);
        assert_eq!(o.status.code(), Some(1), "{who}");
        assert!(stderr(&o).contains("No such container: nothing-here"), "{who}: {}", stderr(&o));
    }
}

#[test]
fn exec_survives_a_dockerd_crash() {
    let Some(mut d) = Dockerd::start() else { return };
    running(&d, "ct");
    let finished = create_exec(&d, "ct", &["sh", "-c", "exit 6"]);
    start_detached(&d, &finished);
    inspect_until(&d, &finished, |v| v["ExitCode"] == 6);
    let id = create_exec(&d, "ct", &["sh", "-c", "sleep 1; exit 7"]);
    start_detached(&d, &id);
    inspect_until(&d, &id, |v| v["Running"] == true);
    d.crash_and_restart();
    // Exits before and after the crash are both known to the new dockerd.
    let v = inspect_until(&d, &id, |v| v["Running"] == false);
    assert_eq!(v["ExitCode"], 7, "{v}\n{}", d.log());
    let (_, v) = d.api("GET", &format!("/exec/{finished}/json"), None);
    assert_eq!(v["ExitCode"], 6, "{v}");
    let o = d.docker(&["exec", "ct", "sh", "-c", "exit 9"]);
    assert_eq!(o.status.code(), Some(9), "{}\n{}", stderr(&o), d.log());
}

#[test]
fn exec_survives_a_containerd_kill() {
    let Some(d) = Dockerd::start() else { return };
    running(&d, "ct");
    let id = create_exec(&d, "ct", &["sh", "-c", "sleep 1; exit 8"]);
    start_detached(&d, &id);
    inspect_until(&d, &id, |v| v["Running"] == true);
    let pidfile = d.exec_root().join("containerd/docker-containerd.pid");
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    let v = inspect_until(&d, &id, |v| v["Running"] == false);
    assert_eq!(v["ExitCode"], 8, "{v}\n{}", d.log());
    let o = d.docker(&["exec", "ct", "sh", "-c", "echo again; exit 2"]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(2), "again\n"), "{}\n{}", stderr(&o), d.log());
}

#[test]
fn exec_exits_that_nobody_heard_are_found_after_restarts() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let Some(mut d) = Dockerd::start() else { return };
    running(&d, "ct");
    // containerd frozen while the exec ends, then killed: the exit is only in the shim.
    let id = create_exec(&d, "ct", &["sh", "-c", "sleep 0.3; exit 5"]);
    start_detached(&d, &id);
    let pidfile = d.exec_root().join("containerd/docker-containerd.pid");
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    kill(Pid::from_raw(pid), Signal::SIGSTOP).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    let v = inspect_until(&d, &id, |v| v["Running"] == false);
    assert_eq!(v["ExitCode"], 5, "{v}\n{}", d.log());
    // dockerd frozen while the exec ends, then crashed: the event it was sent is lost.
    let id = create_exec(&d, "ct", &["sh", "-c", "sleep 0.3; exit 6"]);
    start_detached(&d, &id);
    inspect_until(&d, &id, |v| v["Running"] == true);
    kill(Pid::from_raw(d.pid() as i32), Signal::SIGSTOP).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    d.crash_and_restart();
    let v = inspect_until(&d, &id, |v| v["Running"] == false);
    assert_eq!(v["ExitCode"], 6, "{v}\n{}", d.log());
    let o = d.docker(&["exec", "ct", "sh", "-c", "exit 9"]);
    assert_eq!(o.status.code(), Some(9), "{}\n{}", stderr(&o), d.log());
}

/// Sends `POST path` with `body` on a raw connection and returns it, past the answer's head.
fn hijack(d: &Dockerd, path: &str, body: &str) -> std::os::unix::net::UnixStream {
    use std::io::Read;
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    write!(s, "POST {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "{}", String::from_utf8_lossy(&head));
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    s
}

#[test]
fn exec_terminals_take_a_size_and_resizes() {
    use std::io::Read;
    let Some(d) = Dockerd::start() else { return };
    running(&d, "ct");
    let body = serde_json::json!({"Cmd": ["sh", "-c", "stty size; read line; stty size"], "Tty": true, "AttachStdin": true, "AttachStdout": true, "AttachStderr": true, "ConsoleSize": [30, 100]});
    let (status, v) = d.api("POST", "/containers/ct/exec", Some(&body.to_string()));
    assert_eq!(status, 201, "{v}");
    let id = v["Id"].as_str().unwrap().to_string();
    let mut s = hijack(&d, &format!("/exec/{id}/start"), r#"{"Detach":false,"Tty":true}"#);
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("30 100\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let (status, v) = d.api("POST", &format!("/exec/{id}/resize?h=40&w=120"), None);
    assert_eq!(status, 200, "{v}");
    s.write_all(b"go\n").unwrap();
    s.read_to_end(&mut seen).unwrap();
    let text = String::from_utf8_lossy(&seen);
    assert!(text.ends_with("40 120\r\n"), "{text:?}");
    // Raw output: no stdcopy header anywhere.
    assert!(!seen.contains(&1u8) && !seen.contains(&0u8), "{seen:?}");
    assert_eq!(inspect_until(&d, &id, |v| v["Running"] == false)["ExitCode"], 0);
}

#[test]
fn exec_events_come_from_containerd() {
    use std::io::BufRead;
    let Some(d) = Dockerd::start() else { return };
    running(&d, "ct");
    let sock = d.exec_root().join("containerd/docker-containerd.sock");
    let mut events = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    events.write_all(b"{\"v\":1,\"method\":\"events\",\"params\":{}}\n").unwrap();
    let mut lines = std::io::BufReader::new(events).lines();
    assert!(lines.next().unwrap().unwrap().contains("/subscribed"));
    let o = d.docker(&["exec", "ct", "sh", "-c", "exit 4"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let mut topics = Vec::new();
    for line in lines {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
        let r = &v["result"];
        if r["exec_id"].is_string() {
            topics.push(r["topic"].as_str().unwrap().to_string());
            if r["topic"] == "/tasks/exit" {
                assert_eq!(r["exit_status"], 4, "{v}");
                break;
            }
        }
    }
    assert_eq!(topics, ["/tasks/exec-added", "/tasks/exec-started", "/tasks/exit"]);
}

#[test]
fn execs_end_with_their_container_and_go_with_it() {
    let Some(d) = Dockerd::start() else { return };
    running(&d, "ct");
    let id = create_exec(&d, "ct", &["sleep", "1000"]);
    start_detached(&d, &id);
    inspect_until(&d, &id, |v| v["Running"] == true);
    let o = d.docker(&["kill", "ct"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = inspect_until(&d, &id, |v| v["Running"] == false);
    assert_eq!(v["ExitCode"], 137, "{v}");
    let (status, v) = d.api("POST", &format!("/exec/{id}/start"), Some(r#"{"Detach":true}"#));
    assert_eq!(status, 409, "{v}");
    // The exec's end can be heard before the container's: wait for the container too.
    let o = d.docker(&["wait", "ct"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = d.docker(&["rm", "ct"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (status, _) = d.api("GET", &format!("/exec/{id}/json"), None);
    assert_eq!(status, 404);
    assert!(std::fs::read_dir(d.exec_root().join("execs")).unwrap().next().is_none(), "exec records left behind");
}

#[test]
fn exec_detach_keys_let_the_client_go() {
    use std::io::Read;
    let Some(d) = Dockerd::start() else { return };
    running(&d, "ct");
    for (keys, typed) in [(None, &b"\x10\x11"[..]), (Some("ctrl-a,x"), &b"\x01x"[..])] {
        let got = format!("/tmp/got-{}", typed[0]);
        let mut body = serde_json::json!({"Cmd": ["sh", "-c", format!("stty raw; echo ready; cat > {got}")], "Tty": true, "AttachStdin": true, "AttachStdout": true});
        if let Some(k) = keys {
            body["DetachKeys"] = k.into();
        }
        let (status, v) = d.api("POST", "/containers/ct/exec", Some(&body.to_string()));
        assert_eq!(status, 201, "{v}");
        let id = v["Id"].as_str().unwrap().to_string();
        let mut s = hijack(&d, &format!("/exec/{id}/start"), r#"{"Tty":true}"#);
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&seen).contains("ready") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0);
            seen.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"hello\n").unwrap();
        s.write_all(typed).unwrap();
        // The daemon lets the client go; the process runs on.
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        // What came before the keys reached the process, the keys did not.
        let deadline = Instant::now() + Duration::from_secs(10);
        while d.docker(&["exec", "ct", "cat", &got]).stdout != b"hello\n" {
            assert!(Instant::now() < deadline, "{keys:?}: {:?}", d.docker(&["exec", "ct", "cat", &got]).stdout);
            std::thread::sleep(Duration::from_millis(50));
        }
        let (_, v) = d.api("GET", &format!("/exec/{id}/json"), None);
        assert_eq!(v["Running"], true, "{keys:?}: {v}");
        let pid = v["Pid"].as_i64().unwrap() as i32;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
        assert_eq!(inspect_until(&d, &id, |v| v["Running"] == false)["ExitCode"], 137);
    }
    let (status, v) = d.api("POST", "/containers/ct/exec", Some(r#"{"Cmd":["true"],"DetachKeys":"ctrl-1"}"#));
    assert_eq!((status, v["message"].as_str()), (400, Some("Invalid detach keys (ctrl-1) provided")));
}

#[test]
fn exec_detach_keys_come_from_the_flag_or_the_client_config() {
    let Some(d) = Dockerd::start() else { return };
    running(&d, "ct");
    let config = d.tmp.join("client-config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.json"), r#"{"detachKeys":"ctrl-a,x"}"#).unwrap();
    for (flag, want) in [(None, "ctrl-a,x"), (Some("ctrl-e"), "ctrl-e")] {
        let mut cmd = common::applet("docker");
        cmd.arg("-H").arg(d.host()).env("DOCKER_CONFIG", &config).arg("exec").arg("-d");
        if let Some(k) = flag {
            cmd.args(["--detach-keys", k]);
        }
        let o = cmd.args(["ct", "sleep", "30"]).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let (_, c) = d.api("GET", "/containers/ct/json", None);
        let ids: Vec<String> = c["ExecIDs"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        let found = ids.iter().map(|id| d.api("GET", &format!("/exec/{id}/json"), None).1).find(|v| v["DetachKeys"] == want);
        assert!(found.is_some(), "{want}: {ids:?}");
    }
}

/// A client (`cli`: a real CLI's path, `None`: ours) on a fresh pty (33 rows, 77 columns):
/// the child, the master side, and the master's output as it comes.
fn client_on_a_pty(d: &Dockerd, cli: Option<&str>, args: &[&str]) -> (std::process::Child, std::fs::File, std::sync::mpsc::Receiver<Vec<u8>>) {
    let size = nix::pty::Winsize { ws_row: 33, ws_col: 77, ws_xpixel: 0, ws_ypixel: 0 };
    let pty = nix::pty::openpty(Some(&size), None).unwrap();
    let mut cmd = cli.map(std::process::Command::new).unwrap_or_else(|| common::applet("docker"));
    cmd.env("DOCKER_CONFIG", d.tmp.join("docker-config")).arg("-H").arg(d.host()).args(args);
    cmd.stdin(Stdio::from(pty.slave.try_clone().unwrap())).stdout(Stdio::from(pty.slave.try_clone().unwrap())).stderr(Stdio::from(pty.slave));
    let child = cmd.spawn().unwrap();
    drop(cmd);
    let master = std::fs::File::from(pty.master);
    let mut reader = master.try_clone().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 256];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    (child, master, rx)
}

/// Collects output into `seen` until it holds `text` (10 seconds at the most).
fn wait_for(rx: &std::sync::mpsc::Receiver<Vec<u8>>, seen: &mut Vec<u8>, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(seen).contains(text) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => seen.extend_from_slice(&chunk),
            Err(_) => panic!("waiting for {text:?}: {:?}", String::from_utf8_lossy(seen)),
        }
    }
}

#[test]
fn exec_it_from_a_terminal() {
    let Some(d) = Dockerd::start() else { return };
    running(&d, "ct");
    let script = "stty size; while [ \"$(stty size)\" != \"40 100\" ]; do sleep 0.1; done; echo resized; read x; echo got $x; exit 5";
    let (mut child, mut master, rx) = client_on_a_pty(&d, None, &["exec", "-it", "ct", "sh", "-c", script]);
    let mut seen = Vec::new();
    // The exec's pty got our terminal's size.
    wait_for(&rx, &mut seen, "33 77");
    // And follows it: a resized terminal (the client is no foreground process of it, so the
    // signal is sent by hand).
    let size = nix::pty::Winsize { ws_row: 40, ws_col: 100, ws_xpixel: 0, ws_ypixel: 0 };
    {
        use std::os::fd::AsRawFd;
        // SAFETY: TIOCSWINSZ reads one winsize from the struct we pass, for a pty we own.
        assert_eq!(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) }, 0);
    }
    // Signalled again while waiting: a first size send still being retried (the exec was
    // starting) may land after the one the signal made, as with Docker's CLI.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&seen).contains("resized") {
        assert!(Instant::now() < deadline, "no resize: {:?}", String::from_utf8_lossy(&seen));
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGWINCH).unwrap();
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(500)) {
            seen.extend_from_slice(&chunk);
        }
    }
    // Our terminal is raw: the Enter key goes through as typed, and the exec's pty echoes it.
    master.write_all(b"hello\r").unwrap();
    wait_for(&rx, &mut seen, "got hello");
    // Once echoed (by the exec's pty, not ours as well), once printed.
    assert_eq!(String::from_utf8_lossy(&seen).matches("hello").count(), 2, "{:?}", String::from_utf8_lossy(&seen));
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(5));
}

#[test]
fn exec_it_detaches_at_the_clients_keys() {
    let Some(d) = Dockerd::start() else { return };
    running(&d, "ct");
    let programs: Vec<Option<&str>> = std::iter::once(None).chain([REAL_CLI].into_iter().filter(|c| Path::new(c).exists()).map(Some)).collect();
    for p in programs {
        let typed = format!("/tmp/typed-{}", p.is_some());
        let (mut child, mut master, rx) = client_on_a_pty(&d, p, &["exec", "-it", "--detach-keys", "ctrl-a,d", "ct", "sh", "-c", &format!("echo ready; cat > {typed}")]);
        let mut seen = Vec::new();
        wait_for(&rx, &mut seen, "ready");
        master.write_all(b"kept\r\x01d").unwrap();
        wait_for(&rx, &mut seen, "read escape sequence");
        assert_eq!(child.wait().unwrap().code(), Some(1), "{p:?}: {:?}", String::from_utf8_lossy(&seen));
        // The process runs on, with what came before the keys and none of them.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let o = d.docker(&["exec", "ct", "cat", &typed]);
            if stdout(&o) == "kept\n" {
                break;
            }
            assert!(Instant::now() < deadline, "{p:?}: {:?}", stdout(&o));
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let (_, c) = d.api("GET", "/containers/ct/json", None);
    assert_eq!(c["ExecIDs"].as_array().map(Vec::len), Some(if Path::new(REAL_CLI).exists() { 2 } else { 1 }), "{c}");
}

#[test]
fn exec_events_are_dockers() {
    let Some(d) = Dockerd::start() else { return };
    let cid = running(&d, "ev");
    let o = d.docker(&["exec", "ev", "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    // exec_die comes from the exit, which the client may see first.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let until = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
        let o = d.curl(&[&format!("http://d/events?since=0&until={until}&filters=%7B%22container%22%3A%5B%22ev%22%5D%7D")]);
        let events: Vec<Value> = stdout(&o).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let execs: Vec<(String, String, String)> = events
            .iter()
            .filter(|e| e["Action"].as_str().unwrap_or("").starts_with("exec_"))
            .map(|e| (e["Action"].as_str().unwrap_or("").to_string(), e["Actor"]["ID"].as_str().unwrap_or("").to_string(), e["Actor"]["Attributes"]["exitCode"].as_str().unwrap_or("").to_string()))
            .collect();
        if execs.len() >= 3 || Instant::now() > deadline {
            let exec_id = events.iter().find_map(|e| e["Actor"]["Attributes"]["execID"].as_str()).unwrap_or("").to_string();
            assert!(!exec_id.is_empty(), "{events:?}");
            assert_eq!(
                execs,
                vec![
                    ("exec_create: sh -c exit 3".to_string(), cid.clone(), String::new()),
                    ("exec_start: sh -c exit 3".to_string(), cid.clone(), String::new()),
                    ("exec_die".to_string(), cid.clone(), "3".to_string()),
                ],
                "{events:?}"
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
