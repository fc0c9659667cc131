//! Stopping dockerd: with live-restore the containers run on and the next dockerd takes them
//! back (logs, attach, wait, exec, stats, and the exits it missed); without it each container
//! is stopped its own way, all at once, and the next dockerd starts again those whose restart
//! policy says so, after the containers they depend on.

mod common;
use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn inspect(d: &Dockerd, name: &str) -> Value {
    d.api("GET", &format!("/containers/{name}/json"), None).1
}

fn pid_of(d: &Dockerd, name: &str) -> i32 {
    inspect(d, name)["State"]["Pid"].as_i64().unwrap() as i32
}

/// Polls until `done` holds (15 s at most).
fn wait_until(what: &str, d: &Dockerd, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "{what}\n{}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A client: ours, or the real CLI when installed.
fn cli(d: &Dockerd, real: bool, args: &[&str]) -> std::process::Output {
    if real && have_real_cli() {
        d.real_docker(REAL_CLI, args)
    } else {
        d.docker(args)
    }
}

/// The numbers a counting container logged: each line the one before plus one.
fn assert_counted_without_a_gap(logs: &str) -> u64 {
    let numbers: Vec<u64> = logs.lines().map(|l| l.parse().unwrap_or_else(|_| panic!("not a number: {l:?}"))).collect();
    assert!(!numbers.is_empty(), "nothing logged");
    for (i, n) in numbers.iter().enumerate() {
        assert_eq!(*n, i as u64, "line {i} of the log is {n}: a line was lost or doubled around the restart");
    }
    *numbers.last().unwrap()
}

#[test]
fn with_live_restore_containers_run_on_and_the_next_dockerd_takes_them_back() {
    // The key from daemon.json, as devices set it.
    let Some(mut d) = Dockerd::start_with_config(r#"{"live-restore": true}"#, &[]) else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), &d);
    ok(&d.docker(&["run", "-d", "--name", "counter", &image, "sh", "-c", "i=0; while :; do echo $i; i=$((i+1)); usleep 3000; done"]), &d);
    ok(&d.docker(&["run", "-d", "--name", "exiter", &image, "sh", "-c", "while [ ! -e /tmp/go ]; do usleep 20000; done; exit 5"]), &d);
    ok(&d.docker(&["run", "-d", "-i", "--name", "reader", &image, "sh", "-c", "read line; echo got $line; exit 4"]), &d);
    let pids: Vec<i32> = ["counter", "exiter", "reader"].iter().map(|n| pid_of(&d, n)).collect();
    wait_until("the counter logging", &d, || stdout(&d.docker(&["logs", "counter"])).lines().count() > 20);

    let took = d.stop();
    assert!(took < Duration::from_secs(5), "a live-restore shutdown stopped containers: {took:?}");
    for pid in &pids {
        assert!(alive(*pid), "a container died with dockerd");
    }
    // An exit while no dockerd is there to hear it.
    std::fs::write(format!("/proc/{}/root/tmp/go", pids[1]), "").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{}/stat", pids[1])).is_ok_and(|s| !s.contains(") Z ")) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The counter keeps writing meanwhile: its output waits in the FIFO.
    std::thread::sleep(Duration::from_millis(300));
    d.start_again();

    // The missed exit is recorded with its code.
    for real in [false, true] {
        assert_eq!(stdout(&cli(&d, real, &["wait", "exiter"])).trim(), "5", "{}", d.log());
    }
    let v = inspect(&d, "exiter");
    assert_eq!((v["State"]["Status"].as_str(), v["State"]["ExitCode"].as_i64()), (Some("exited"), Some(5)), "{v}");
    assert_eq!(inspect(&d, "counter")["State"]["Pid"].as_i64(), Some(pids[0] as i64));

    // exec and stats reach the running container.
    for real in [false, true] {
        assert_eq!(ok(&cli(&d, real, &["exec", "counter", "echo", "inside"]), &d), "inside\n");
        assert_eq!(ok(&cli(&d, real, &["stats", "--no-stream", "--format", "{{.Name}}", "counter"]), &d), "counter\n");
    }
    // attach reaches its stdin and stdout again, and returns its exit code. (The input stays
    // open: as Docker's, an attach ends when its input does.)
    let mut attach = applet("docker").args(["-H", &d.host(), "attach", "reader"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut input = attach.stdin.take().unwrap();
    input.write_all(b"hello\n").unwrap();
    let watchdog = attach.id() as i32;
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = finished.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(20));
        if !done.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(watchdog), nix::sys::signal::Signal::SIGKILL);
        }
    });
    let mut out = String::new();
    attach.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let status = attach.wait().unwrap();
    finished.store(true, std::sync::atomic::Ordering::SeqCst);
    drop(input);
    assert_eq!((out.as_str(), status.code()), ("got hello\n", Some(4)), "logs: {:?}\n{}", stdout(&d.docker(&["logs", "reader"])), d.log());

    // Not a line lost across the restart, and the log goes on after it.
    let before = assert_counted_without_a_gap(&stdout(&d.docker(&["logs", "counter"])));
    wait_until("the counter logging after the restart", &d, || {
        assert_counted_without_a_gap(&stdout(&d.docker(&["logs", "counter"]))) > before + 50
    });
    ok(&d.docker(&["rm", "-f", "counter", "exiter", "reader"]), &d);
}

#[test]
fn without_live_restore_each_container_stops_its_own_way_and_policies_bring_them_back() {
    let Some(mut d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), &d);
    // Its own stop signal: it says goodbye and exits 0.
    let polite = "trap 'echo bye; exit 0' USR1; echo hi; while :; do usleep 50000; done";
    ok(&d.docker(&["run", "-d", "--name", "polite", "--restart", "always", "--stop-signal", "USR1", &image, "sh", "-c", polite]), &d);
    // Its own timeout: sleep as PID 1 ignores SIGTERM, so each is killed after 3 s. Stopped one
    // after the other, the three would take 9 s.
    for name in ["stubborn1", "stubborn2", "stubborn3"] {
        ok(&d.docker(&["run", "-d", "--name", name, "--stop-timeout", "3", &image, "sleep", "300"]), &d);
    }
    ok(&d.docker(&["run", "-d", "--name", "unless", "--restart", "unless-stopped", &image, "sh", "-c", "trap 'exit 0' TERM; while :; do usleep 50000; done"]), &d);
    ok(&d.docker(&["run", "-d", "--name", "onfail", "--restart", "on-failure", &image, "sh", "-c", "trap 'exit 3' TERM; while :; do usleep 50000; done"]), &d);
    wait_until("polite to start", &d, || stdout(&d.docker(&["logs", "polite"])) == "hi\n");

    let took = d.stop();
    assert!(took >= Duration::from_secs(3), "the stop timeouts were not waited for: {took:?}");
    assert!(took < Duration::from_secs(7), "containers were stopped one after the other: {took:?}");
    // A shim exits once its task is deleted, a moment after answering.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_mentioning(d.tmp.path()).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<_> = processes_mentioning(d.tmp.path()).into_iter().map(|p| (p, argv(p), proc_field(p, "State"))).collect();
    assert!(left.is_empty(), "processes outlived dockerd: {left:?}");
    d.start_again();

    wait_until("always and unless-stopped to start again", &d, || {
        ["polite", "unless"].iter().all(|n| inspect(&d, n)["State"]["Status"] == "running")
    });
    assert_eq!(stdout(&d.docker(&["logs", "polite"])), "hi\nbye\nhi\n");
    for name in ["stubborn1", "stubborn2", "stubborn3"] {
        let v = inspect(&d, name);
        assert_eq!((v["State"]["Status"].as_str(), v["State"]["ExitCode"].as_i64()), (Some("exited"), Some(137)), "{name}: {v}");
    }
    // A daemon's shutdown is no stop by hand: on-failure, ended with 3, comes back too.
    let v = inspect(&d, "onfail");
    assert_eq!(v["State"]["Status"], "running", "an on-failure container that failed at shutdown comes back: {v}");
    ok(&d.docker(&["rm", "-f", "polite", "stubborn1", "stubborn2", "stubborn3", "unless", "onfail"]), &d);
}

#[test]
fn at_start_containers_come_back_after_those_whose_namespaces_they_join() {
    let Some(mut d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), &d);
    ok(&d.docker(&["run", "-d", "--name", "base", "--restart", "always", "--ipc", "shareable", &image, "sleep", "300"]), &d);
    let joiners = ["net1", "net2", "net3", "ipc1", "pid1"];
    for name in joiners {
        let joins = match &name[..3] {
            "net" => "--network=container:base",
            "ipc" => "--ipc=container:base",
            _ => "--pid=container:base",
        };
        ok(&d.docker(&["run", "-d", "--name", name, "--restart", "always", joins, &image, "sleep", "300"]), &d);
    }
    d.stop();
    d.start_again();
    wait_until("every container to run again", &d, || {
        std::iter::once("base").chain(joiners).all(|n| inspect(&d, n)["State"]["Status"] == "running")
    });
    let base = pid_of(&d, "base");
    let ns = |pid: i32, kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
    for name in joiners {
        let kind = match &name[..3] {
            "net" => "net",
            "ipc" => "ipc",
            _ => "pid",
        };
        assert_eq!(ns(pid_of(&d, name), kind), ns(base, kind), "{name} is not in base's {kind} namespace");
    }
    assert!(!d.log().contains("non running container"), "{}", d.log());
    let mut all = vec!["rm", "-f"];
    all.extend(joiners);
    all.push("base");
    ok(&d.docker(&all), &d);
}
