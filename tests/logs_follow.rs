//! `docker logs -f` across a restart, as Docker 28 does it: json-file's follower ends when
//! the run it follows ends (Docker closes the container's logger at every exit, before it
//! decides on a restart), with all of that run's output; the next run's output is in the log
//! for the next `docker logs`. Checked with our client and the real CLI 28.

mod common;

use common::{applet, ok, stderr, stdout, Dockerd};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const REAL_CLI: &str = "/usr/local/bin/docker";

/// The clients to check: ours, and the real CLI when installed.
fn clients() -> Vec<Option<&'static str>> {
    let mut v = vec![None];
    if Path::new(REAL_CLI).exists() {
        v.push(Some(REAL_CLI));
    }
    v
}

fn follow(d: &Dockerd, cli: Option<&str>, name: &str) -> Child {
    let mut cmd = cli.map(Command::new).unwrap_or_else(|| applet("docker"));
    cmd.arg("-H").arg(d.host()).args(["logs", "-f", name]).env("DOCKER_CONFIG", d.tmp.join("docker-config"));
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

/// The follower's output once it ended by itself within `limit`, or `None` (it was killed).
fn ended_within(mut child: Child, limit: Duration) -> Option<Output> {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait_with_output();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(child.wait_with_output().unwrap())
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn logs_follow_ends_with_the_run_at_docker_restart() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", "-q", &image]), &d);
    // PID 1 ignores SIGTERM: `restart -t 1` kills it after a second.
    ok(&d.docker(&["run", "-d", "--name", "rr", &image, "sh", "-c", "echo started; exec sleep 1000"]), &d);
    wait_for("the first line", || stdout(&d.docker(&["logs", "rr"])) == "started\n");
    let followers: Vec<_> = clients().into_iter().map(|cli| (cli, follow(&d, cli, "rr"))).collect();
    std::thread::sleep(Duration::from_millis(500));
    ok(&d.docker(&["restart", "-t", "1", "rr"]), &d);
    for (cli, child) in followers {
        let o = ended_within(child, Duration::from_secs(10)).unwrap_or_else(|| panic!("{cli:?}: logs -f still following after the restart"));
        assert_eq!((o.status.code(), stdout(&o), stderr(&o)), (Some(0), "started\n".to_string(), String::new()), "{cli:?}");
    }
    wait_for("the second run's line", || stdout(&d.docker(&["logs", "rr"])) == "started\nstarted\n");
    // A follower started now follows the new run until it ends.
    let followers: Vec<_> = clients().into_iter().map(|cli| (cli, follow(&d, cli, "rr"))).collect();
    std::thread::sleep(Duration::from_millis(500));
    ok(&d.docker(&["kill", "rr"]), &d);
    for (cli, child) in followers {
        let o = ended_within(child, Duration::from_secs(10)).unwrap_or_else(|| panic!("{cli:?}: logs -f still following after the kill"));
        assert_eq!((o.status.code(), stdout(&o)), (Some(0), "started\nstarted\n".to_string()), "{cli:?}");
    }
    // A stopped container's logs -f prints the log and ends at once.
    for cli in clients() {
        let o = ended_within(follow(&d, cli, "rr"), Duration::from_secs(5)).expect("logs -f of a stopped container");
        assert_eq!(stdout(&o), "started\nstarted\n", "{cli:?}");
    }
}

#[test]
fn logs_follow_ends_with_the_run_at_a_restart_policy_restart() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", "-q", &image]), &d);
    ok(&d.docker(&["run", "-d", "--restart", "always", "--name", "pp", &image, "sh", "-c", "echo tick; sleep 2; echo tock; exit 3"]), &d);
    wait_for("the first tick", || stdout(&d.docker(&["logs", "pp"])) == "tick\n");
    let followers: Vec<_> = clients().into_iter().map(|cli| (cli, follow(&d, cli, "pp"))).collect();
    for (cli, child) in followers {
        let o = ended_within(child, Duration::from_secs(10)).unwrap_or_else(|| panic!("{cli:?}: logs -f still following after the restart"));
        assert_eq!((o.status.code(), stdout(&o)), (Some(0), "tick\ntock\n".to_string()), "{cli:?}");
    }
    // The container went on: restarted, and its next run logged.
    wait_for("the restart", || {
        let v = ok(&d.docker(&["inspect", "-f", "{{.RestartCount}}", "pp"]), &d);
        v.trim().parse::<u32>().unwrap_or(0) >= 1 && stdout(&d.docker(&["logs", "pp"])).starts_with("tick\ntock\ntick\n")
    });
    ok(&d.docker(&["rm", "-f", "pp"]), &d);
}
