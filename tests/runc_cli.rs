//! docker-runc's command line against runc's: the same checks run on our runtime and, where
//! it is installed, on the real runc (`/usr/sbin/runc`), each with a `--root` of its own and
//! every container force-deleted at the end.

mod common;
mod runtimes;

use common::{require_root, text, Bundle};
use runtimes::{runtimes, REAL_RUNC};
use std::path::{Path, PathBuf};
use std::process::Command;

fn ours() -> Command {
    common::applet("docker-runc")
}

/// The long flag names a help screen lists under OPTIONS.
fn option_names(help: &str) -> Vec<String> {
    let Some((_, options)) = help.split_once("\nOPTIONS:\n") else { return Vec::new() };
    options.lines().filter_map(|l| l.strip_prefix("   --")).map(|l| l.split([' ', ',']).next().unwrap().to_string()).collect()
}

#[test]
fn version_is_in_runc_format() {
    for flag in ["--version", "-v", "version"] {
        let out = ours().arg(flag).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{flag}: {}", text(&out.stderr));
        let v = text(&out.stdout);
        let lines: Vec<&str> = v.lines().collect();
        assert_eq!(lines.len(), 5, "{flag}: {v}");
        let number = lines[0].strip_prefix("runc version ").unwrap_or_else(|| panic!("{flag}: {v}"));
        let parts: Vec<&str> = number.split('.').collect();
        assert!(parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())), "plain numbers: {v}");
        assert_eq!(parts[..2], ["1", "1"], "runc 1.1's behaviour: {v}");
        for (line, prefix) in lines[1..].iter().zip(["commit: ", "spec: ", "go: ", "libseccomp: "]) {
            assert!(line.starts_with(prefix) && line.len() > prefix.len(), "{flag}: {line:?} in {v}");
        }
        assert_eq!(lines[2], "spec: 1.0.2-dev");
        // Docker reads the version from the last line naming "version": only the first may.
        assert!(lines[1..].iter().all(|l| !l.contains("version")), "{v}");
    }
    if Path::new(REAL_RUNC).exists() {
        let theirs = text(&Command::new(REAL_RUNC).arg("--version").output().unwrap().stdout);
        let ours = text(&ours().arg("--version").output().unwrap().stdout);
        let prefixes = |t: &str| t.lines().map(|l| l.split([':', ' ']).next().unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!(prefixes(&ours), prefixes(&theirs), "the same lines as runc's:\n{ours}\n{theirs}");
    }
}

#[test]
fn every_command_has_help() {
    let commands = ["checkpoint", "create", "delete", "events", "exec", "kill", "list", "pause", "ps", "restore", "resume", "run", "spec", "start", "state", "update", "features"];
    for cmd in commands {
        for flag in ["-h", "--help"] {
            let out = ours().args([cmd, flag]).output().unwrap();
            assert_eq!(out.status.code(), Some(0), "{cmd} {flag}: {}", text(&out.stderr));
            let help = text(&out.stdout);
            assert!(help.starts_with(&format!("NAME:\n   runc {cmd} - ")), "{cmd} {flag}: {help}");
            assert!(help.contains(&format!("USAGE:\n   runc {cmd}")), "{cmd}: {help}");
        }
        let out = ours().args(["help", cmd]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "help {cmd}");
        if Path::new(REAL_RUNC).exists() {
            let theirs = text(&Command::new(REAL_RUNC).args([cmd, "--help"]).output().unwrap().stdout);
            let ours_help = text(&ours().args([cmd, "--help"]).output().unwrap().stdout);
            assert_eq!(option_names(&ours_help), option_names(&theirs), "{cmd}: the flags runc lists");
        }
    }
    // checkpoint and restore still refuse to run.
    for cmd in ["checkpoint", "restore"] {
        let out = ours().args([cmd, "some-id"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        assert!(text(&out.stderr).contains("not supported"), "{}", text(&out.stderr));
    }
    let out = ours().args(["help", "nosuch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("No help topic for 'nosuch'"));
}

/// The container's pids.max, from the cgroup its init is in (v1 or v2).
fn pids_max(pid: i32) -> String {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
        let dir = if controllers.split(',').any(|c| c == "pids") {
            PathBuf::from("/sys/fs/cgroup/pids").join(path.trim_start_matches('/'))
        } else if controllers.is_empty() && Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            PathBuf::from("/sys/fs/cgroup").join(path.trim_start_matches('/'))
        } else {
            continue;
        };
        if let Ok(v) = std::fs::read_to_string(dir.join("pids.max")) {
            return v.trim().to_string();
        }
    }
    panic!("no pids cgroup for {pid}: {cgroups}");
}

#[test]
fn flags_after_the_id_signals_and_exec_statuses() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-cli-flags");
    b.write(&b.config(&["sleep", "1000"]));
    let bundle = b.bundle();
    for rt in runtimes(&b) {
        let who = rt.name;
        // Flags after the id, as runc's urfave/cli reorders them (all commands but exec, ps).
        let out = rt.run(&["create", "c1", "--bundle", bundle.to_str().unwrap()]);
        assert!(out.status.success(), "{who} create: {}", text(&out.stderr));
        let out = rt.run(&["start", "c1"]);
        assert!(out.status.success(), "{who} start: {}", text(&out.stderr));
        rt.wait_status("c1", "running");
        let out = rt.run(&["update", "c1", "--pids-limit", "57"]);
        assert!(out.status.success(), "{who} update: {}", text(&out.stderr));
        assert_eq!(pids_max(rt.pid("c1")), "57", "{who}");

        // kill: signal 0 (a liveness check), numbers, names with or without SIG.
        for sig in ["0", "CONT", "sigcont", "SIGCONT", "18", "40"] {
            let out = rt.run(&["kill", "c1", sig]);
            assert_eq!(out.status.code(), Some(0), "{who} kill {sig}: {}", text(&out.stderr));
        }
        let out = rt.run(&["kill", "-a", "c1", "0"]);
        assert_eq!(out.status.code(), Some(0), "{who} kill -a 0: {}", text(&out.stderr));
        for sig in ["BOGUS", "RTMIN"] {
            let out = rt.run(&["kill", "c1", sig]);
            assert_eq!(out.status.code(), Some(1), "{who}");
            assert!(text(&out.stderr).contains(&format!("unknown signal \\\"{sig}\\\"")), "{who}: {}", text(&out.stderr));
        }
        let out = rt.run(&["kill", "c1", "99"]);
        assert_eq!(out.status.code(), Some(1), "{who}");
        assert!(text(&out.stderr).contains("unable to signal init: invalid argument"), "{who}: {}", text(&out.stderr));

        // exec: the process's own status; 255 when runc itself fails.
        let out = rt.run(&["exec", "c1", "sh", "-c", "exit 7"]);
        assert_eq!(out.status.code(), Some(7), "{who}: {}", text(&out.stderr));
        let out = rt.run(&["exec", "--env", "DBX_A=B", "c1", "env"]);
        assert_eq!(out.status.code(), Some(0), "{who}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("DBX_A=B\n"), "{who}");
        // exec never reorders: what follows the id is the process, flags or not.
        let out = rt.run(&["exec", "c1", "--env", "DBX_A=B", "env"]);
        assert_eq!(out.status.code(), Some(255), "{who}");
        assert!(text(&out.stderr).contains("exec failed: ") && text(&out.stderr).contains("exec: \\\"--env\\\": executable file not found"), "{who}: {}", text(&out.stderr));
        let out = rt.run(&["exec", "c1", "env", "--env"]);
        assert_eq!(out.status.code(), Some(1), "{who}: busybox env's own status for an unknown option");
        let out = rt.run(&["exec", "c1", "no-such-program"]);
        assert_eq!(out.status.code(), Some(255), "{who}");
        let out = rt.run(&["exec", "ghost", "sh"]);
        assert_eq!(out.status.code(), Some(255), "{who}");
        assert!(text(&out.stderr).contains("exec failed: container does not exist"), "{who}: {}", text(&out.stderr));
        let pid_file = b.dir.join("missing-dir/pid");
        let out = rt.run(&["exec", "--pid-file", pid_file.to_str().unwrap(), "c1", "sleep", "77"]);
        assert_eq!(out.status.code(), Some(255), "{who}: {}", text(&out.stderr));
        // The process whose pid could not be recorded was not left running.
        let ps = rt.run(&["ps", "c1", "-o", "pid,args"]);
        assert!(!text(&ps.stdout).contains("sleep 77"), "{who}: {}", text(&ps.stdout));

        let out = rt.run(&["delete", "c1", "--force"]);
        assert!(out.status.success(), "{who} delete ID --force: {}", text(&out.stderr));
        assert!(!rt.root.join("c1").exists(), "{who}");
    }
}

#[test]
fn ps_and_kill_all_on_a_stopped_container() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-cli-ps");
    b.write(&b.config(&["sh", "-c", "exit 0"]));
    let bundle = b.bundle();
    for rt in runtimes(&b) {
        let who = rt.name;
        let out = rt.run(&["run", "-d", "--bundle", bundle.to_str().unwrap(), "gone"]);
        assert!(out.status.success(), "{who} run -d: {}", text(&out.stderr));
        rt.wait_status("gone", "stopped");
        let out = rt.run(&["ps", "gone"]);
        assert_eq!(out.status.code(), Some(0), "{who} ps: {}", text(&out.stderr));
        let lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
        assert_eq!(lines.len(), 1, "{who}: the header alone: {lines:?}");
        assert!(lines[0].split_whitespace().any(|h| h == "PID"), "{who}: {lines:?}");
        let out = rt.run(&["ps", "-f", "json", "gone"]);
        assert_eq!(out.status.code(), Some(0), "{who}");
        assert_eq!(text(&out.stdout), "null\n", "{who}: Go's encoding of no pids");
        let out = rt.run(&["kill", "-a", "gone", "0"]);
        assert_eq!(out.status.code(), Some(0), "{who} kill -a: {}", text(&out.stderr));
        let out = rt.run(&["kill", "gone", "0"]);
        assert_eq!(out.status.code(), Some(1), "{who}");
        assert!(text(&out.stderr).contains("container not running"), "{who}: {}", text(&out.stderr));
        assert!(rt.run(&["delete", "gone"]).status.success(), "{who}");
    }
}

/// The `msg` of every debug record in a text (logrus) log.
fn debug_messages(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(" level=debug "))
        .filter_map(|l| {
            let start = l.find(" msg=")? + 5;
            let rest = &l[start..];
            // The msg is a quoted string; the fields that may follow are not needed.
            let v: serde_json::Value = serde_json::Deserializer::from_str(rest).into_iter().next()?.ok()?;
            v.as_str().map(str::to_string)
        })
        .collect()
}

/// Whether a debug message comes from a setup stage inside the container, reporting
/// `pid` (the pid it has in the container's pid namespace): runc's `nsexec-2[PID]: ...`.
fn from_stage_with_pid(msgs: &[String], pid: &str) -> bool {
    msgs.iter().any(|m| m.split_once("]: ").is_some_and(|(head, _)| head.ends_with(&format!("[{pid}")) && head.len() > pid.len() + 1))
}

#[test]
fn debug_lines_from_runc_and_the_container_stages() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-cli-debug");
    b.write(&b.config(&["sh", "-c", "echo $$"]));
    let bundle = b.bundle();
    for rt in runtimes(&b) {
        let who = rt.name;
        // run --debug: runc's own lines and those of the init, which is pid 1 in the container.
        let out = rt.run(&["--debug", "run", "--bundle", bundle.to_str().unwrap(), "d1"]);
        assert_eq!(out.status.code(), Some(0), "{who}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "1\n", "{who}");
        let msgs = debug_messages(&text(&out.stderr));
        assert!(msgs.iter().any(|m| m.starts_with("nsexec")), "{who}: {msgs:?}");
        assert!(from_stage_with_pid(&msgs, "1"), "{who}: a line from the container's pid 1: {msgs:?}");
        assert!(msgs.iter().any(|m| m.starts_with("process exited")), "{who}: {msgs:?}");
        // Without --debug: none.
        let out = rt.run(&["run", "--bundle", bundle.to_str().unwrap(), "d2"]);
        assert_eq!(out.status.code(), Some(0), "{who}");
        assert!(!text(&out.stderr).contains("level=debug"), "{who}: {}", text(&out.stderr));
    }
    b.write(&b.config(&["sleep", "1000"]));
    for rt in runtimes(&b) {
        let who = rt.name;
        let out = rt.run(&["run", "-d", "--bundle", bundle.to_str().unwrap(), "d3"]);
        assert!(out.status.success(), "{who}: {}", text(&out.stderr));
        // exec --debug to a json --log: the process's stage reports the pid it has in the container.
        let log = b.dir.join(format!("{who}-log.json"));
        let out = rt.run(&["--debug", "--log", log.to_str().unwrap(), "--log-format", "json", "exec", "d3", "sh", "-c", "echo $$"]);
        assert_eq!(out.status.code(), Some(0), "{who}: {}", text(&out.stderr));
        let pid_in_container = text(&out.stdout).trim().to_string();
        assert!(!text(&out.stderr).contains("debug"), "{who}: the log goes to the file: {}", text(&out.stderr));
        let records: Vec<serde_json::Value> = std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{who}: {l}: {e}"))).collect();
        let msgs: Vec<String> = records.iter().filter(|r| r["level"] == "debug").filter_map(|r| r["msg"].as_str().map(str::to_string)).collect();
        assert!(records.iter().all(|r| r["time"].is_string()), "{who}");
        assert!(msgs.iter().any(|m| m.starts_with("nsexec")), "{who}: {msgs:?}");
        assert!(from_stage_with_pid(&msgs, &pid_in_container), "{who}: a line from the process's pid {pid_in_container}: {msgs:?}");
        assert!(msgs.iter().any(|m| m.starts_with("process exited")), "{who}: {msgs:?}");
    }
}

/// A console socket and a thread that receives the pty master from it.
fn console_socket(dir: &Path) -> (PathBuf, std::thread::JoinHandle<std::os::fd::OwnedFd>) {
    let path = dir.join(format!("console-{}.sock", &dockbox::ids::new_id()[..8]));
    let listener = dockbox::sys::bind_unix(&path).unwrap();
    let handle = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        dockbox::runc::console::recv_fd(std::os::fd::AsRawFd::as_raw_fd(&conn)).unwrap().0
    });
    (path, handle)
}

/// Reads a pty master until a line ending in `end` shows up (or 5 s pass).
fn read_pty_until(master: &std::os::fd::OwnedFd, end: &str) -> String {
    use std::os::fd::AsRawFd;
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline && !text(&seen).contains(end) {
        let mut fds = [nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(master), nix::poll::PollFlags::POLLIN)];
        if nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16)).unwrap_or(0) > 0 {
            let mut buf = [0u8; 1024];
            match nix::unistd::read(master.as_raw_fd(), &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    }
    text(&seen)
}

/// `uid gid mode` of the process's terminal, as the container's `stat` prints them.
const TTY_OWNER: &str = "stat -c 'owner=%u:%g:%a' $(tty); sleep 30";

fn owner_line(seen: &str) -> String {
    seen.split("owner=").nth(1).map(|r| r.split_whitespace().next().unwrap_or("").to_string()).unwrap_or_default()
}

#[test]
fn pty_owner_group_and_mode_follow_the_user_and_devpts() {
    if !require_root() {
        return;
    }
    // No subreaper here: the detached processes go to the host's init, which reaps them (a
    // zombie left to us would keep the container's init from dying until we reaped it).
    let b = Bundle::new("runc-cli-pty");
    let bundle = b.bundle();
    for (devpts_gid, devpts_mode) in [("5", "0620"), ("7", "0600")] {
        let mut spec = b.tty_config(&["sh", "-c", TTY_OWNER]);
        spec["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1001});
        for m in spec["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/dev/pts" {
                m["options"] = serde_json::json!(["nosuid", "noexec", "newinstance", "ptmxmode=0666", format!("mode={devpts_mode}"), format!("gid={devpts_gid}")]);
            }
        }
        b.write(&spec);
        let want_mode = devpts_mode.trim_start_matches('0');
        for rt in runtimes(&b) {
            let who = rt.name;
            let (sock, master) = console_socket(b.dir.path());
            let out = rt.run(&["create", "--bundle", bundle.to_str().unwrap(), "--console-socket", sock.to_str().unwrap(), "p1"]);
            assert!(out.status.success(), "{who}: {}", text(&out.stderr));
            let master = master.join().unwrap();
            assert!(rt.run(&["start", "p1"]).status.success(), "{who}");
            let seen = read_pty_until(&master, "\n");
            assert_eq!(owner_line(&seen), format!("1000:{devpts_gid}:{want_mode}"), "{who} run: {seen:?}");
            // exec -t: the same rules for the exec'd process's terminal.
            let (sock, master) = console_socket(b.dir.path());
            let out = rt.run(&["exec", "-t", "-d", "-u", "1002:1003", "--console-socket", sock.to_str().unwrap(), "p1", "sh", "-c", TTY_OWNER]);
            assert!(out.status.success(), "{who} exec: {}", text(&out.stderr));
            let master = master.join().unwrap();
            let seen = read_pty_until(&master, "\n");
            assert_eq!(owner_line(&seen), format!("1002:{devpts_gid}:{want_mode}"), "{who} exec: {seen:?}");
            let out = rt.run(&["delete", "-f", "p1"]);
            assert!(out.status.success(), "{who}: {}", text(&out.stderr));
        }
    }
}

#[test]
fn cwd_is_entered_before_and_after_the_switch_to_the_user() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-cli-cwd");
    // A directory only root can reach.
    let secret = b.rootfs().join("secret");
    std::fs::create_dir(&secret).unwrap();
    std::os::unix::fs::chown(&secret, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let mut spec = b.config(&["sh", "-c", "pwd; id -u"]);
    spec["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000});
    spec["process"]["cwd"] = serde_json::json!("/secret");
    b.write(&spec);
    let bundle = b.bundle();
    for rt in runtimes(&b) {
        let who = rt.name;
        let out = rt.run(&["run", "--bundle", bundle.to_str().unwrap(), "w1"]);
        assert_eq!(out.status.code(), Some(0), "{who}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "/secret\n1000\n", "{who}");
    }
    b.write(&b.config(&["sleep", "1000"]));
    for rt in runtimes(&b) {
        let who = rt.name;
        let out = rt.run(&["run", "-d", "--bundle", bundle.to_str().unwrap(), "w2"]);
        assert!(out.status.success(), "{who}: {}", text(&out.stderr));
        let out = rt.run(&["exec", "-u", "1000", "--cwd", "/secret", "w2", "pwd"]);
        assert_eq!(out.status.code(), Some(0), "{who}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "/secret\n", "{who}");
        // The user cannot list it, though it runs there.
        let out = rt.run(&["exec", "-u", "1000", "--cwd", "/secret", "w2", "ls"]);
        assert_ne!(out.status.code(), Some(0), "{who}");
        let out = rt.run(&["exec", "-u", "1000", "--cwd", "/missing", "w2", "pwd"]);
        assert_eq!(out.status.code(), Some(255), "{who}");
        assert!(text(&out.stderr).contains("chdir to cwd (\\\"/missing\\\") set in config.json failed: no such file or directory"), "{who}: {}", text(&out.stderr));
        assert!(rt.run(&["delete", "-f", "w2"]).status.success(), "{who}");
    }
}

#[test]
fn read_only_dev_and_tmpfs_are_made_read_only_last() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-cli-rodev");
    let shared = b.dir.join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("f"), "from-host").unwrap();
    let script = "ls /dev/pts/ptmx /dev/null /dev/zero /dev/shm /dev/mqueue /dev/fd >/dev/null && echo devices-ok; \
                  echo x > /dev/null && echo null-writable; \
                  touch /dev/new 2>/dev/null || echo dev-ro; touch /data/new 2>/dev/null || echo data-ro; \
                  cat /data/sub/f; echo; grep -E ' /dev | /data ' /proc/mounts | cut -d' ' -f2,4 | cut -d, -f1";
    let mut spec = b.config(&["sh", "-c", script]);
    for m in spec["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/dev" {
            m["options"].as_array_mut().unwrap().push(serde_json::json!("ro"));
        }
    }
    let mounts = spec["mounts"].as_array_mut().unwrap();
    mounts.push(serde_json::json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "ro"]}));
    mounts.push(serde_json::json!({"destination": "/data/sub", "type": "bind", "source": shared, "options": ["rbind", "ro"]}));
    b.write(&spec);
    let bundle = b.bundle();
    for rt in runtimes(&b) {
        let who = rt.name;
        let out = rt.run(&["run", "--bundle", bundle.to_str().unwrap(), "r1"]);
        assert_eq!(out.status.code(), Some(0), "{who}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "devices-ok\nnull-writable\ndev-ro\ndata-ro\nfrom-host\n/dev ro\n/data ro\n", "{who}: {}", text(&out.stderr));
    }
}

#[test]
fn no_pivot_leaves_no_full_procfs_to_mount_another_from() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-cli-nopivot");
    let bundle = b.bundle();
    // In a user namespace of its own, a process may mount a procfs only if every procfs it
    // can see in its mount namespace is fully visible: the container's is masked, so only
    // a host's procfs left reachable under the chroot would let it (CVE-2019-19921's kind).
    let mut spec = b.config(&["unshare", "-mrpf", "sh", "-c", "mount -t proc none /proc && echo MOUNTED"]);
    spec["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000});
    b.write(&spec);
    for rt in runtimes(&b) {
        let who = rt.name;
        let out = rt.run(&["run", "--no-pivot", "--bundle", bundle.to_str().unwrap(), "n1"]);
        assert!(!text(&out.stdout).contains("MOUNTED"), "{who}: a fresh procfs could be mounted");
        assert_eq!(out.status.code(), Some(1), "{who}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("mount: permission denied"), "{who}: {}", text(&out.stderr));
    }
    // The container's own /proc and /sys work, and the host's are untouched.
    b.write(&b.config(&["sh", "-c", "test -e /proc/1/status && test -d /sys/kernel && echo ok"]));
    for rt in runtimes(&b) {
        let who = rt.name;
        let out = rt.run(&["run", "--no-pivot", "--bundle", bundle.to_str().unwrap(), "n2"]);
        assert_eq!(text(&out.stdout), "ok\n", "{who}: {}", text(&out.stderr));
    }
    assert!(Path::new("/proc/self/status").exists() && Path::new("/sys/kernel").is_dir());
}

#[test]
fn unknown_commands_exit_3_as_runc() {
    for rt in [Some(REAL_RUNC), None] {
        let mut cmd = match rt {
            Some(p) if Path::new(p).exists() => Command::new(p),
            Some(_) => continue,
            None => ours(),
        };
        let out = cmd.arg("no-such-command").output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{rt:?}");
        assert!(text(&out.stderr).contains("No help topic for 'no-such-command'"), "{rt:?}: {}", text(&out.stderr));
    }
}
