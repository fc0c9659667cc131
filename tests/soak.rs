//! A soak: 1000 container lifecycles (run, exec, stop, rm) leave dockerd's and containerd's
//! resident memory, open descriptors and threads where they began.
//!
//! `SOAK_LIFECYCLES=N` changes the count (1000 by default).

mod common;

use common::{stderr, stdout, Dockerd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A container that runs until its stop signal and then exits at once: sh as PID 1 takes
/// SIGTERM only with a trap, which runs as soon as `wait` is interrupted.
const STOPS_AT_ONCE: &str = "trap 'exit 0' TERM; sleep 3600 & wait";

/// Lifecycles run side by side.
const WORKERS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Figures {
    /// Anonymous resident memory (heap, stacks): what a leak grows.
    anon_kib: u64,
    /// Resident pages of the executable and other files: more of the binary's code is paged
    /// in as rarer paths run, shared and reclaimable, so shown but not judged.
    file_kib: u64,
    fds: usize,
    threads: u64,
}

fn figures(pid: i32) -> Figures {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse::<u64>().ok()).unwrap();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    Figures { anon_kib: field("RssAnon:"), file_kib: field("RssFile:"), fds, threads: field("Threads:") }
}

fn containerd_of(d: &Dockerd) -> i32 {
    let dockerd = d.pid().to_string();
    let found = common::processes_mentioning(d.tmp.path())
        .into_iter()
        .filter(|&p| common::argv0_base(p) == "docker-containerd" && common::proc_field(p, "PPid").as_deref() == Some(dockerd.as_str()))
        .collect::<Vec<_>>();
    assert_eq!(found.len(), 1, "dockerd's containerds: {found:?}");
    found[0]
}

/// One lifecycle: `docker run -d` and `docker exec` (our client: the create, start, attach
/// and exec streams), then stop and rm through the API (as `docker stop` and `docker rm` send
/// them, without two more client processes), each checked.
fn lifecycle(d: &Dockerd, image: &str, n: usize) {
    // A client that hangs fails the test (30 s) with dockerd's log.
    let o = client(d, &["run", "-d", image, "sh", "-c", STOPS_AT_ONCE]);
    assert_eq!(o.status.code(), Some(0), "lifecycle {n}: run: {}{}", stdout(&o), stderr(&o));
    let id = stdout(&o).trim().to_string();
    let o = client(d, &["exec", &id, "echo", &format!("lifecycle {n}")]);
    assert_eq!((o.status.code(), stdout(&o)), (Some(0), format!("lifecycle {n}\n")), "lifecycle {n}: exec: {}", stderr(&o));
    let (status, body) = d.api("POST", &format!("/containers/{id}/stop?t=10"), None);
    assert_eq!(status, 204, "lifecycle {n}: stop: {body}");
    let (status, body) = d.api("GET", &format!("/containers/{id}/json"), None);
    assert_eq!((status, body["State"]["ExitCode"].as_i64()), (200, Some(0)), "lifecycle {n}: the trap did not end it: {body}");
    let (status, body) = d.api("DELETE", &format!("/containers/{id}"), None);
    assert_eq!(status, 204, "lifecycle {n}: rm: {body}");
}

/// Our client with a time limit: a hang fails the test with what dockerd knows of the execs
/// and what runs.
fn client(d: &Dockerd, args: &[&str]) -> std::process::Output {
    let mut child = common::applet("docker").arg("-H").arg(d.host()).args(args).stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let tree = std::process::Command::new("ps").args(["-e", "--forest", "-o", "pid,stat,wchan:20,args"]).output().map(|o| stdout(&o)).unwrap_or_default();
            let tree: Vec<&str> = tree.lines().filter(|l| l.contains("dbx-dockerd") || l.contains("docker ") || l.contains("sleep") || l.contains("echo")).collect();
            let execs: Vec<String> = std::fs::read_dir(d.exec_root().join("execs")).into_iter().flatten().flatten().map(|e| std::fs::read_to_string(e.path()).unwrap_or_default()).collect();
            let bundles: Vec<String> = std::fs::read_dir(d.exec_root().join("libcontainerd")).into_iter().flatten().flatten().map(|e| format!("{:?}", std::fs::read_dir(e.path()).into_iter().flatten().flatten().map(|f| f.file_name()).collect::<Vec<_>>())).collect();
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!("docker {args:?} hung: {}{}\n{}\nexec records: {execs:#?}\nbundles: {bundles:#?}\ndockerd:\n{}", stdout(&o), stderr(&o), tree.join("\n"), d.log());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait_with_output().unwrap()
}

/// `count` lifecycles on WORKERS threads. A minute without one finishing (an API call that
/// hangs) ends the test process with what is running and dockerd's log.
fn lifecycles(d: &Dockerd, image: &str, count: usize) {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut seen = (0, Instant::now());
            while done.load(Ordering::Relaxed) < count {
                std::thread::sleep(Duration::from_millis(200));
                let now = done.load(Ordering::Relaxed);
                if now != seen.0 {
                    seen = (now, Instant::now());
                } else if seen.1.elapsed() > Duration::from_secs(60) {
                    let tree = std::process::Command::new("ps").args(["-e", "--forest", "-o", "pid,stat,wchan:20,args"]).output().map(|o| stdout(&o)).unwrap_or_default();
                    let execs: Vec<String> = std::fs::read_dir(d.exec_root().join("execs")).into_iter().flatten().flatten().map(|e| std::fs::read_to_string(e.path()).unwrap_or_default()).collect();
                    let bundles: Vec<String> = std::fs::read_dir(d.exec_root().join("libcontainerd")).into_iter().flatten().flatten().map(|e| format!("{:?}", std::fs::read_dir(e.path()).into_iter().flatten().flatten().map(|f| f.file_name()).collect::<Vec<_>>())).collect();
                    eprintln!("soak: no lifecycle ended for a minute after {now}\n{tree}\nexec records: {execs:#?}\nbundles: {bundles:#?}\ndockerd:\n{}", d.log());
                    abandon(d);
                }
            }
        });
        for _ in 0..WORKERS {
            scope.spawn(|| loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return;
                }
                lifecycle(d, image, n);
                done.fetch_add(1, Ordering::Relaxed);
            });
        }
    });
}

/// Ends the test process when an API call hangs (its thread cannot be got back), leaving
/// nothing behind: dockerd's whole tree (the containers under their shims first, so their
/// pid namespaces go), the mounts under its roots and the containers' cgroups; `Dockerd`'s
/// own cleanup never runs on this way out.
fn abandon(d: &Dockerd) -> ! {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let tree = common::processes_mentioning(d.tmp.path());
    for pid in &tree {
        let children = std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten().flat_map(|t| std::fs::read_to_string(t.path().join("children")).unwrap_or_default().split_whitespace().map(str::to_string).collect::<Vec<_>>());
        for child in children.filter_map(|c| c.parse::<i32>().ok()) {
            let _ = kill(Pid::from_raw(child), Signal::SIGKILL);
        }
    }
    for pid in tree {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    std::thread::sleep(Duration::from_millis(500));
    for m in common::mounts_under(d.tmp.path()).into_iter().rev() {
        let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
    }
    let ids: Vec<String> = std::fs::read_dir(d.tmp.join("data/containers")).into_iter().flatten().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    for id in &ids {
        common::remove_cgroups(&d.container_cgroup(id));
    }
    common::remove_cgroups(&d.container_cgroup(""));
    std::process::exit(101);
}

/// The figures once descriptors and threads have stopped moving (connection threads and
/// the shims' reapers end a moment after their work): the same twice, 300 ms apart.
fn quiet_figures(dockerd: i32, containerd: i32) -> (Figures, Figures) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = (figures(dockerd), figures(containerd));
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = (figures(dockerd), figures(containerd));
        let same = |a: &Figures, b: &Figures| a.fds == b.fds && a.threads == b.threads;
        if (same(&now.0, &last.0) && same(&now.1, &last.1)) || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

#[test]
fn a_thousand_lifecycles_leave_dockerd_and_containerd_as_they_began() {
    let Some(d) = Dockerd::start() else { return };
    let count: usize = std::env::var("SOAK_LIFECYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let image = d.registry.image("busybox");
    let o = d.docker(&["pull", &image]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let dockerd = d.pid() as i32;
    let containerd = containerd_of(&d);

    // The warm-up fills what is meant to fill once: the event ring (Docker's last 256
    // events, seven per lifecycle), thread stacks and the allocator's arenas.
    lifecycles(&d, &image, 40);
    let before = quiet_figures(dockerd, containerd);
    let started = Instant::now();
    lifecycles(&d, &image, count / 2);
    let half = quiet_figures(dockerd, containerd);
    lifecycles(&d, &image, count - count / 2);
    let secs = started.elapsed().as_secs_f64();
    let after = quiet_figures(dockerd, containerd);
    eprintln!("soak: {count} lifecycles in {secs:.1} s ({:.1}/s, {WORKERS} at a time)", count as f64 / secs);
    for (name, b, h, a) in [("dockerd", before.0, half.0, after.0), ("containerd", before.1, half.1, after.1)] {
        eprintln!(
            "soak: {name:10} anonymous RSS {} -> {} -> {} KiB (file-backed {} -> {} -> {} KiB), descriptors {} -> {} -> {}, threads {} -> {} -> {}",
            b.anon_kib, h.anon_kib, a.anon_kib, b.file_kib, h.file_kib, a.file_kib, b.fds, h.fds, a.fds, b.threads, h.threads, a.threads
        );
    }
    assert_eq!(stdout(&d.docker(&["ps", "-aq"])).trim(), "", "containers left");
    for (name, b, h, a) in [("dockerd", before.0, half.0, after.0), ("containerd", before.1, half.1, after.1)] {
        assert_eq!((a.fds, a.threads), (b.fds, b.threads), "{name}: descriptors and threads before and after {count} lifecycles");
        // Allocator noise: freed memory stays in malloc's arenas (trimmed only when the
        // free top exceeds its threshold) and in half-used pages, so anonymous RSS moves by
        // some hundreds of KiB either way from one quiet moment to the next. A leak grows
        // with the count: the whole stays within 1 MiB (one KiB per lifecycle would already
        // break it), and the second half must not add what a steady leak would.
        assert!(a.anon_kib <= b.anon_kib + 1024, "{name}: anonymous RSS grew from {} to {} KiB over {count} lifecycles", b.anon_kib, a.anon_kib);
        assert!(a.anon_kib <= h.anon_kib + 512, "{name}: anonymous RSS grew from {} to {} KiB over the second {} lifecycles", h.anon_kib, a.anon_kib, count - count / 2);
    }
}
