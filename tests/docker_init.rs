//! docker-init (tini's behaviour) run directly, as PID 1 of a new pid namespace, and as the
//! init of `docker run --init` containers driven by our client and the real docker CLI.

mod common;

use common::{alive, applet, dockbox, proc_field, stderr, stdout, Dockerd};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn init() -> Command {
    let mut c = applet("docker-init");
    c.env_remove("TINI_SUBREAPER").env_remove("TINI_VERBOSITY").env_remove("TINI_KILL_PROCESS_GROUP").stdin(Stdio::null());
    c
}

fn run(args: &[&str]) -> Output {
    init().args(args).output().unwrap()
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts docker-init with piped stdout and returns it with the first line it printed.
fn spawn_reading(cmd: &mut Command) -> (Child, BufReader<std::process::ChildStdout>, String) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    (child, out, line.trim().to_string())
}

fn kill(pid: i32, signal: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
}

fn ppid(pid: i32) -> Option<i32> {
    proc_field(pid, "PPid").and_then(|p| p.parse().ok())
}

#[test]
fn exit_codes_pass_through_and_remap() {
    assert_eq!(run(&["-s", "--", "sh", "-c", "exit 3"]).status.code(), Some(3));
    assert_eq!(run(&["-s", "--", "sh", "-c", "kill -TERM $$"]).status.code(), Some(143));
    assert_eq!(run(&["-s", "-e", "143", "--", "sh", "-c", "kill -TERM $$"]).status.code(), Some(0));
    assert_eq!(run(&["-s", "-e", "3", "-e4", "--", "sh", "-c", "exit 4"]).status.code(), Some(0));
    assert_eq!(run(&["-s", "-e", "3", "--", "sh", "-c", "exit 5"]).status.code(), Some(5));
    // Without `--` the program's words are the program's, options are still the init's.
    let o = run(&["echo", "-s", "hello"]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "hello\n"));
    let o = run(&["-s", "--", "/nonexistent/program"]);
    assert_eq!(o.status.code(), Some(127));
    assert!(stderr(&o).contains("] exec /nonexistent/program failed: No such file or directory"), "{}", stderr(&o));
    let o = run(&["-s", "--", "/etc/passwd"]);
    assert_eq!(o.status.code(), Some(126));
    let o = run(&["-s", "-e", "256", "--", "true"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("Not a valid option for -e: 256"), "{}", stderr(&o));
    let o = run(&["-s", "-p", "KILL", "--", "true"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("Not a valid option for -p: KILL"), "{}", stderr(&o));
}

#[test]
fn command_line_matches_tini() {
    let o = run(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("tini version 0.19.0 (dockbox "), "{}", stdout(&o));
    let o = run(&["-x", "true"]);
    assert_eq!(o.status.code(), Some(1));
    let ours_error = stderr(&o);
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("Usage: docker-init [OPTIONS] PROGRAM -- [ARGS] | --version"), "{}", stderr(&o));
    let help = run(&["-h"]);
    assert_eq!(help.status.code(), Some(0));
    // Debian's tini, when installed, must say the same but for the version.
    let tini = ["/usr/bin/tini-static", "/usr/bin/tini"].into_iter().find(|p| Path::new(p).exists());
    if let Some(tini) = tini {
        let link = common::TempDir::new("tini-link");
        let named = link.join("docker-init");
        std::os::unix::fs::symlink(tini, &named).unwrap();
        let theirs = Command::new(&named).arg("-h").output().unwrap();
        let strip_version = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
        assert_eq!(strip_version(&stdout(&help)), strip_version(&stdout(&theirs)));
        let theirs = Command::new(&named).args(["-x", "true"]).output().unwrap();
        assert_eq!(theirs.status.code(), Some(1));
        let first = |s: &str| s.lines().next().unwrap_or("").rsplit('/').next().unwrap_or("").to_string();
        assert_eq!(first(&ours_error), first(&stderr(&theirs)));
    }
}

#[test]
fn warns_when_it_cannot_reap_and_verbosity_levels() {
    let o = run(&["--", "true"]);
    assert!(stderr(&o).contains("[WARN  tini ("), "{}", stderr(&o));
    assert!(stderr(&o).contains("Tini is not running as PID 1 and isn't registered as a child subreaper"));
    let o = init().args(["--", "true"]).env("TINI_VERBOSITY", "0").output().unwrap();
    assert_eq!(stderr(&o), "");
    let o = init().args(["--", "true"]).env("TINI_SUBREAPER", "").output().unwrap();
    assert_eq!(stderr(&o), "", "TINI_SUBREAPER registers as a subreaper");
    let o = run(&["-s", "-vv", "--", "sh", "-c", "exit 2"]);
    assert_eq!(o.status.code(), Some(2));
    let out = stdout(&o);
    assert!(out.contains("[INFO  tini (") && out.contains("] Spawned child process 'sh' with pid '"), "{out}");
    assert!(out.contains("] Main child exited normally (with status '2')"), "{out}");
    assert!(out.contains("[DEBUG tini (") && out.contains("] Reaped child with pid: '"), "{out}");
    assert!(!out.contains("[TRACE"), "{out}");
    let o = run(&["-s", "-vvv", "--", "true"]);
    assert!(stdout(&o).contains("[TRACE tini ("), "{}", stdout(&o));
}

/// `-s` and TINI_SUBREAPER: an orphaned grandchild is re-parented to the init, which reaps
/// it (`-w` says so); without either it goes elsewhere.
#[test]
fn subreaper_adopts_and_reaps_orphans() {
    for (args, env, adopts) in [(&["-s", "-w"][..], None, true), (&["-w"][..], Some("TINI_SUBREAPER"), true), (&["-w"][..], None, false)] {
        let mut cmd = init();
        cmd.args(args).args(["--", "sh", "-c", "(sleep 1.5 & echo $!); sleep 2.5"]);
        if let Some(k) = env {
            cmd.env(k, "1");
        }
        let (mut child, _out, orphan) = spawn_reading(&mut cmd);
        let orphan: i32 = orphan.parse().unwrap();
        let init_pid = child.id() as i32;
        // The subshell that started it exits right after printing.
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(ppid(orphan) == Some(init_pid), adopts, "{args:?} {env:?}: orphan's parent {:?}, init {init_pid}", ppid(orphan));
        // Once the orphan has exited it must not linger as a zombie of the init.
        if adopts {
            wait_until("the orphan to be reaped", Duration::from_secs(3), || proc_field(orphan, "State").is_none());
        }
        let status = child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        assert_eq!(status.code(), Some(0));
        assert_eq!(err.contains(&format!("Reaped zombie process with pid={orphan}")), adopts, "{err}");
    }
}

#[test]
fn forwards_signals_to_the_child() {
    let script = "trap 'echo got-usr1; exit 5' USR1; trap 'echo got-hup' HUP; echo ready; while :; do sleep 0.05; done";
    let (mut child, mut out, ready) = spawn_reading(init().args(["-s", "--", "sh", "-c", script]));
    assert_eq!(ready, "ready");
    let pid = child.id() as i32;
    kill(pid, nix::sys::signal::Signal::SIGHUP);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "got-hup");
    kill(pid, nix::sys::signal::Signal::SIGUSR1);
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "got-usr1");
    assert_eq!(child.wait().unwrap().code(), Some(5));
}

/// `-g` signals the child's process group (the child leads its own); without it only the
/// child gets the signal and its background job lives on.
#[test]
fn process_group_forwarding() {
    for (group, by_env) in [(true, false), (true, true), (false, false)] {
        let mut cmd = init();
        cmd.arg("-s");
        if group && by_env {
            cmd.env("TINI_KILL_PROCESS_GROUP", "1");
        } else if group {
            cmd.arg("-g");
        }
        let (mut child, _out, job) = spawn_reading(cmd.args(["--", "sh", "-c", "sleep 30 & echo $!; wait"]));
        let job: i32 = job.parse().unwrap();
        let init_pid = child.id() as i32;
        let program = ppid(job).unwrap();
        assert_ne!(program, init_pid);
        let pgid = nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(program))).unwrap().as_raw();
        assert_eq!(pgid, program, "the child leads its own process group");
        kill(init_pid, nix::sys::signal::Signal::SIGTERM);
        assert_eq!(child.wait().unwrap().code(), Some(143));
        if group {
            wait_until("the background job to get the signal too", Duration::from_secs(5), || !alive(job));
        } else {
            std::thread::sleep(Duration::from_millis(200));
            assert!(alive(job), "without -g the background job is not signalled");
        }
        kill(job, nix::sys::signal::Signal::SIGKILL);
    }
}

/// `-p SIGNAL`: the init gets SIGNAL when its parent dies (SIGTERM here, which it forwards).
#[test]
fn parent_death_signal() {
    let me = dockbox();
    for with_p in [true, false] {
        let p = if with_p { "-p SIGTERM" } else { "" };
        let script = format!("exec -a docker-init {} -s {p} -- sleep 30 & echo $!; sleep 30", me.display());
        let mut parent = Command::new("bash").args(["-c", &script]).stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(parent.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let init_pid: i32 = line.trim().parse().unwrap();
        wait_until("the init's child", Duration::from_secs(5), || std::fs::read_to_string(format!("/proc/{init_pid}/task/{init_pid}/children")).is_ok_and(|c| !c.trim().is_empty()));
        parent.kill().unwrap();
        parent.wait().unwrap();
        if with_p {
            wait_until("the init to end with its parent", Duration::from_secs(5), || !alive(init_pid));
        } else {
            std::thread::sleep(Duration::from_millis(300));
            assert!(alive(init_pid), "without -p the init outlives its parent");
            kill(init_pid, nix::sys::signal::Signal::SIGTERM);
            wait_until("the init to end", Duration::from_secs(5), || !alive(init_pid));
        }
    }
}

/// As PID 1 of a new pid namespace (`unshare -fp --mount-proc`): no warning, orphans come
/// to it and are reaped, a signal from outside reaches the program.
#[test]
fn as_pid_1_of_a_pid_namespace() {
    if !common::require_root() || Command::new("unshare").arg("--version").output().is_err() {
        return;
    }
    let bin = applet_path("docker-init");
    let o = Command::new("unshare")
        .args(["-fp", "--mount-proc"])
        .arg(&bin)
        .args(["-w", "--", "sh", "-c", "echo pid=$$; (sleep 0.2 &); sleep 0.6; for s in /proc/[0-9]*/stat; do cat $s; echo; done; exit 7"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(7), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("pid=2\n"), "{out}");
    assert!(out.contains("1 (docker-init) S 0 "), "{out}");
    assert!(!out.contains(") Z "), "a zombie was left: {out}");
    let err = stderr(&o);
    assert!(!err.contains("Tini is not running as PID 1"), "{err}");
    assert!(err.contains("Reaped zombie process with pid="), "{err}");

    let (mut child, _out, ready) = spawn_reading(Command::new("unshare").args(["-fp", "--mount-proc"]).arg(&bin).args(["--", "sh", "-c", "echo ready; exec sleep 30"]));
    assert_eq!(ready, "ready");
    let unshare = child.id() as i32;
    let pid1: i32 = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children")).unwrap().trim().parse().unwrap();
    assert_eq!(common::comm(pid1), "docker-init");
    let started = Instant::now();
    kill(pid1, nix::sys::signal::Signal::SIGTERM);
    assert_eq!(child.wait().unwrap().code(), Some(143));
    assert!(started.elapsed() < Duration::from_secs(5));
}

fn applet_path(name: &str) -> PathBuf {
    common::applet_dir().join(name)
}

/// The static build (scripts/build.sh, which scripts/test.sh runs first): a container can
/// execute only a static binary, and the test build is dynamically linked.
fn static_init() -> Option<PathBuf> {
    let target = dockbox().parent()?.parent()?.to_path_buf();
    let found = std::fs::read_dir(&target).ok()?.flatten().map(|e| e.path().join("release/dockbox")).find(|p| {
        p.exists() && Command::new("file").arg("-L").arg(p).output().is_ok_and(|o| stdout(&o).contains("statically linked"))
    });
    let usable = found.filter(|p| Command::new(p).arg("--list").output().is_ok_and(|o| stdout(&o).lines().any(|l| l == "docker-init")));
    if usable.is_none() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true: no static dockbox with docker-init under {} (run scripts/build.sh)", target.display());
        eprintln!("skipped: no static build (scripts/build.sh)");
    }
    usable
}

fn clis() -> Vec<&'static str> {
    ["/usr/local/bin/docker"].into_iter().filter(|c| Path::new(c).exists()).collect()
}

/// `ps -o pid,comm` rows as (pid, comm).
fn ps_rows(o: &Output) -> Vec<(u32, String)> {
    stdout(o).lines().skip(1).filter_map(|l| {
        let mut w = l.split_whitespace();
        Some((w.next()?.parse().ok()?, w.next()?.to_string()))
    }).collect()
}

#[test]
fn docker_run_init_puts_docker_init_at_pid_1() {
    let Some(bin) = static_init() else { return };
    let Some(d) = Dockerd::start_with(&["--init-path", bin.to_str().unwrap()]) else { return };
    let image = d.registry.image("busybox");
    let o = d.docker(&["pull", &image]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let mut outputs = vec![("ours", d.docker(&["run", "--rm", "--init", &image, "ps", "-o", "pid,comm"]))];
    for cli in clis() {
        outputs.push((cli, d.real_docker(cli, &["run", "--rm", "--init", &image, "ps", "-o", "pid,comm"])));
    }
    for (who, o) in &outputs {
        assert_eq!(o.status.code(), Some(0), "{who}: {}{}\n{}", stdout(o), stderr(o), d.log());
        let rows = ps_rows(o);
        assert_eq!(rows.first(), Some(&(1, "docker-init".to_string())), "{who}: {}", stdout(o));
        assert!(rows.iter().any(|(pid, comm)| *pid > 1 && comm == "ps"), "{who}: {}", stdout(o));
    }
    let o = d.docker(&["run", "--rm", &image, "ps", "-o", "pid,comm"]);
    assert_eq!(ps_rows(&o).first(), Some(&(1, "ps".to_string())), "without --init: {}", stdout(&o));

    // With a terminal the program's process group is the terminal's foreground group.
    let o = d.docker(&["run", "-d", "-t", "--init", "--name", "tty", &image, "sh", "-c", "echo $$ $(cut -d' ' -f5,8 /proc/$$/stat)"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&d.docker(&["wait", "tty"])).trim(), "0");
    let o = d.docker(&["logs", "tty"]);
    let fields: Vec<String> = stdout(&o).split_whitespace().map(String::from).collect();
    assert_eq!(fields.len(), 3, "{}{}", stdout(&o), stderr(&o));
    assert_ne!(fields[0], "1");
    assert_eq!((&fields[1], &fields[2]), (&fields[0], &fields[0]), "pid, process group, terminal's foreground group");

    // Exit codes pass through, 128 + the signal when killed.
    let o = d.docker(&["run", "--rm", "--init", &image, "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    for cli in clis() {
        let o = d.real_docker(cli, &["run", "--rm", "--init", &image, "sh", "-c", "kill -KILL $$"]);
        assert_eq!(o.status.code(), Some(137), "{cli}: {}", stderr(&o));
    }

    // docker stop: the init forwards SIGTERM to sleep, which ends at once (sleep as PID 1
    // would ignore it until the timeout).
    // None: our client.
    let stoppers: Vec<Option<&str>> = std::iter::once(None).chain(clis().into_iter().map(Some)).collect();
    for cli in stoppers {
        let docker = |a: &[&str]| match cli {
            None => d.docker(a),
            Some(cli) => d.real_docker(cli, a),
        };
        let who = cli.unwrap_or("ours");
        let o = docker(&["run", "-d", "--init", "--name", "sleeper", &image, "sleep", "300"]);
        assert_eq!(o.status.code(), Some(0), "{who}: {}", stderr(&o));
        // PID 1 is docker-init, one thread, with sleep as its child.
        let pid: i32 = stdout(&docker(&["inspect", "-f", "{{.State.Pid}}", "sleeper"])).trim().parse().unwrap();
        assert_eq!(common::comm(pid), "docker-init");
        assert_eq!(proc_field(pid, "Threads").as_deref(), Some("1"));
        // Its child may still be between fork and exec (named docker-init) for a moment.
        let children = || {
            let list = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
            list.split_whitespace().map(|c| common::comm(c.parse().unwrap())).collect::<Vec<_>>()
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while children() != ["sleep"] && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(children(), ["sleep"]);
        let started = Instant::now();
        let o = docker(&["stop", "-t", "20", "sleeper"]);
        assert_eq!(o.status.code(), Some(0), "{who}: {}", stderr(&o));
        assert!(started.elapsed() < Duration::from_secs(5), "{who}: stop took {:?}", started.elapsed());
        let o = docker(&["inspect", "-f", "{{.State.ExitCode}} {{.HostConfig.Init}}", "sleeper"]);
        assert_eq!(stdout(&o).trim(), "143 true", "{who}");
        assert_eq!(docker(&["rm", "sleeper"]).status.code(), Some(0));
    }

    // docker info and version name the init.
    let (_, info) = d.api("GET", "/info", None);
    assert_eq!(info["InitBinary"], Value::String(bin.display().to_string()));
    assert!(info["InitCommit"]["ID"].is_string() && info["InitCommit"]["ID"] != "N/A", "{}", info["InitCommit"]);
    let (_, version) = d.api("GET", "/version", None);
    let component = version["Components"].as_array().unwrap().iter().find(|c| c["Name"] == "dockbox").cloned().unwrap_or_default();
    assert!(component["Version"].as_str().unwrap_or("").starts_with("0.19.0 (dockbox "), "{version}");

    // HostConfig.Init must be a boolean.
    let (status, body) = d.api("POST", "/containers/create", Some(&format!("{{\"Image\":\"{image}\",\"Cmd\":[\"true\"],\"HostConfig\":{{\"Init\":\"yes\"}}}}")));
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap_or("").contains("HostConfig.Init of type bool"), "{body}");
}

#[test]
fn daemon_init_flag_is_the_default_and_a_container_can_refuse_it() {
    let Some(bin) = static_init() else { return };
    let Some(d) = Dockerd::start_with(&["--init", "--init-path", bin.to_str().unwrap()]) else { return };
    let image = d.registry.image("busybox");
    assert_eq!(d.docker(&["pull", &image]).status.code(), Some(0));
    let o = d.docker(&["run", "--rm", &image, "ps", "-o", "pid,comm"]);
    assert_eq!(ps_rows(&o).first(), Some(&(1, "docker-init".to_string())), "dockerd --init: {}{}", stdout(&o), stderr(&o));
    let o = d.docker(&["run", "--rm", "--init=false", &image, "ps", "-o", "pid,comm"]);
    assert_eq!(ps_rows(&o).first(), Some(&(1, "ps".to_string())), "--init=false: {}{}", stdout(&o), stderr(&o));
    for cli in clis() {
        let o = d.real_docker(cli, &["run", "--rm", "--init=false", &image, "ps", "-o", "pid,comm"]);
        assert_eq!(ps_rows(&o).first(), Some(&(1, "ps".to_string())), "{cli} --init=false: {}{}", stdout(&o), stderr(&o));
        let o = d.real_docker(cli, &["info", "--format", "{{.InitBinary}}"]);
        assert_eq!(stdout(&o).trim(), bin.display().to_string());
    }
}

#[test]
fn default_init_binary_is_this_executable() {
    let Some(d) = Dockerd::start() else { return };
    let (_, info) = d.api("GET", "/info", None);
    assert_eq!(info["InitBinary"], "docker-init");
    let commit = info["InitCommit"]["ID"].as_str().unwrap_or("N/A").to_string();
    assert_eq!(info["InitCommit"]["Expected"], Value::String(commit));
    for cli in clis() {
        let o = d.real_docker(cli, &["info", "--format", "{{.InitBinary}}"]);
        assert_eq!(stdout(&o).trim(), "docker-init", "{}", stderr(&o));
    }
    let o = d.docker(&["info"]);
    assert!(stdout(&o).contains(" Init Binary: docker-init\n"), "{}", stdout(&o));
    assert!(stdout(&o).contains(&format!(" init version: {}\n", info["InitCommit"]["ID"].as_str().unwrap())), "{}", stdout(&o));
    let (_, version) = d.api("GET", "/version", None);
    let component = version["Components"].as_array().unwrap().iter().find(|c| c["Name"] == "docker-init").cloned().unwrap_or_default();
    assert!(component["Version"].as_str().unwrap_or("").starts_with("0.19.0 (dockbox "), "{version}");
}
