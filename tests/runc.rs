//! docker-runc against the real kernel: busybox containers, each test with its own --root
//! and bundle, every container force-deleted at the end even when the test fails.

mod common;

use common::{applet, require_root, text, Bundle, TempDir};
use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Waits until the container reports `stopped` (a zombie counts), for up to 5 s.
fn wait_stopped(b: &Bundle, id: &str) {
    for _ in 0..500 {
        if b.status(id) == "stopped" {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{id} did not stop");
}

#[test]
fn run_prints_and_passes_exit_status() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-run");
    b.write(&b.config(&["echo", "hi"]));
    let out = b.run("echo");
    assert_eq!(text(&out.stdout), "hi\n", "stderr: {}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(0));
    assert!(!b.root().join("echo").exists(), "run without --keep deletes the container");

    b.write(&b.config(&["sh", "-c", "exit 3"]));
    assert_eq!(b.run("three").status.code(), Some(3));

    // PID 1 cannot SIGKILL itself, so the signal comes from outside, through `runc kill`.
    b.write(&b.config(&["sleep", "1000"]));
    let mut run = b.runc().args(["run", "-b", b.bundle().to_str().unwrap(), "killed"]).stdin(Stdio::null()).stdout(Stdio::null()).spawn().unwrap();
    for _ in 0..500 {
        if b.output(&["state", "killed"]).stdout.windows(9).any(|w| w == b"\"running\"") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(b.quiet(&["kill", "killed", "9"]).status.success());
    assert_eq!(run.wait().unwrap().code(), Some(137));
    assert!(!b.root().join("killed").exists());
}

#[test]
fn create_start_kill_delete_lifecycle() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-life");
    b.write(&b.config(&["sleep", "1000"]));
    let pid_file = b.dir.join("pid");
    let out = b.quiet(&["create", "-b", b.bundle().to_str().unwrap(), "--pid-file", pid_file.to_str().unwrap(), "life"]);
    assert!(out.status.success(), "create: {}", text(&out.stderr));
    let st = b.state("life");
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], "life");
    assert_eq!(st["bundle"], b.bundle().to_str().unwrap());
    assert_eq!(st["rootfs"], b.bundle().join("rootfs").to_str().unwrap());
    let pid: i64 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert_eq!(st["pid"].as_i64(), Some(pid));
    assert!(b.root().join("life/exec.fifo").exists());

    let out = b.quiet(&["start", "life"]);
    assert!(out.status.success(), "start: {}", text(&out.stderr));
    assert_eq!(b.status("life"), "running");
    assert!(!b.root().join("life/exec.fifo").exists());
    // As with runc, start returns once the init is released; the execve follows at once.
    let mut cmdline = String::new();
    for _ in 0..100 {
        cmdline = text(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap());
        if cmdline.starts_with("sleep") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(cmdline, "sleep\u{0}1000\u{0}");

    let out = b.quiet(&["start", "life"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot start an already running container"), "{}", text(&out.stderr));

    let out = b.quiet(&["delete", "life"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot delete container life that is not stopped: running"), "{}", text(&out.stderr));

    let out = b.quiet(&["kill", "life", "KILL"]);
    assert!(out.status.success(), "kill: {}", text(&out.stderr));
    wait_stopped(&b, "life");
    assert_eq!(b.state("life")["pid"], 0);

    let out = b.quiet(&["kill", "life"]);
    assert!(text(&out.stderr).contains("container not running"), "{}", text(&out.stderr));
    let out = b.quiet(&["start", "life"]);
    assert!(text(&out.stderr).contains("cannot start a container that has stopped"), "{}", text(&out.stderr));

    let out = b.quiet(&["delete", "life"]);
    assert!(out.status.success(), "delete: {}", text(&out.stderr));
    assert!(!b.root().join("life").exists());
    let out = b.quiet(&["state", "life"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("container does not exist"));
}

#[test]
fn created_and_running_containers_are_deleted_by_force() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-force");
    b.write(&b.config(&["sleep", "1000"]));
    assert!(b.create("c1").status.success());
    let pid = b.state("c1")["pid"].as_i64().unwrap();
    // A created container is killed by a plain delete, like runc does.
    let out = b.quiet(&["delete", "c1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!b.root().join("c1").exists());
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(stat.is_empty() || stat.contains(") Z"), "init still alive: {stat}");

    assert!(b.create("c2").status.success());
    assert!(b.quiet(&["start", "c2"]).status.success());
    let out = b.quiet(&["delete", "-f", "c2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!b.root().join("c2").exists());
}

#[test]
fn spec_process_settings_are_applied() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-spec");
    let mut spec = b.config(&["sh", "-c", "hostname; echo $FOO; pwd; id -u; id -g; id -G; umask"]);
    spec["hostname"] = json!("boxy");
    spec["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
    spec["process"]["cwd"] = json!("/srv/dir");
    spec["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [1002, 1003], "umask": 63});
    b.write(&spec);
    let out = b.run("settings");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    assert_eq!(lines[0], "boxy");
    assert_eq!(lines[1], "bar baz");
    assert_eq!(lines[2], "/srv/dir");
    assert_eq!(lines[3], "1000");
    assert_eq!(lines[4], "1001");
    let mut groups: Vec<&str> = lines[5].split(' ').collect();
    groups.sort();
    assert_eq!(groups, vec!["1001", "1002", "1003"]);
    assert_eq!(lines[6], "0077");
}

#[test]
fn proc_sys_devices_and_network_are_set_up() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-env");
    let script = "echo $$; tr '\\0' ' ' </proc/1/cmdline; echo; grep ' /sys ' /proc/mounts; \
                  cat /sys/class/net/lo/flags; ls /sys/class/net; touch /newfile 2>/dev/null && echo rootfs-writable; \
                  ls -l /dev/null | cut -c1; readlink /dev/fd; cat /proc/sys/kernel/hostname > /proc/sys/kernel/hostname 2>/dev/null || echo proc-sys-ro";
    b.write(&b.config(&["sh", "-c", script]));
    let out = b.run("env");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "1", "the process is PID 1: {stdout}");
    assert!(lines[1].starts_with("sh -c"), "{stdout}");
    assert!(lines[2].contains(" ro,") || lines[2].contains(" ro "), "/sys read-only: {stdout}");
    let flags = u32::from_str_radix(lines[3].trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "lo is up: {stdout}");
    assert_eq!(lines[4], "lo", "a new network namespace has only lo: {stdout}");
    assert!(!lines[2..].contains(&"rootfs-writable"), "{stdout}");
    assert_eq!(lines[5], "c", "/dev/null is a device: {stdout}");
    assert_eq!(lines[6], "/proc/self/fd");
    assert_eq!(lines[7], "proc-sys-ro", "{stdout}");
}

#[test]
fn missing_or_unexecutable_program_fails_create() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-noexec");
    b.write(&b.config(&["nope"]));
    let log = b.dir.join("log.json");
    let out = b
        .runc()
        .args(["--log", log.to_str().unwrap(), "--log-format", "json", "create", "-b", b.bundle().to_str().unwrap(), "x"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let wanted = "exec: \"nope\": executable file not found in $PATH";
    assert!(text(&out.stderr).contains(wanted), "{}", text(&out.stderr));
    let last: Value = serde_json::from_str(std::fs::read_to_string(&log).unwrap().lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert!(last["msg"].as_str().unwrap().contains(wanted), "{last}");
    assert!(dockbox::sys::parse_rfc3339(last["time"].as_str().unwrap()).is_some(), "{last}");
    assert!(!b.root().join("x").exists(), "no state is left behind");

    std::fs::write(b.bundle().join("rootfs/bin/data"), "not a program").unwrap();
    b.write(&b.config(&["/bin/data"]));
    let out = b.create("y");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("exec: \\\"/bin/data\\\": permission denied"), "{}", text(&out.stderr));
    assert!(!b.root().join("y").exists());
}

#[test]
fn duplicate_ids_and_bad_configs_are_refused() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-dup");
    b.write(&b.config(&["sleep", "1000"]));
    assert!(b.create("dup").status.success());
    let out = b.create("dup");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("container with id exists: dup"), "{}", text(&out.stderr));
    assert_eq!(b.status("dup"), "created", "the first container is untouched");

    std::fs::write(b.bundle().join("config.json"), r#"{"ociVersion":"1.0.2","process":{"args":"sh"}}"#).unwrap();
    let out = b.create("bad");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("config.json") && err.contains("line 1"), "{err}");
    assert!(!b.root().join("bad").exists());
}

#[test]
fn config_from_real_runc_spec_runs() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-real");
    let ok = Command::new("/usr/bin/runc").arg("spec").current_dir(b.bundle()).status().unwrap().success();
    assert!(ok, "/usr/bin/runc spec failed");
    let mut spec: Value = serde_json::from_slice(&std::fs::read(b.bundle().join("config.json")).unwrap()).unwrap();
    spec["process"]["terminal"] = json!(false);
    spec["process"]["args"] = json!(["sh", "-c", "echo from-real-spec; cat /proc/self/status | grep CapEff"]);
    b.write(&spec);
    let out = b.run("real");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("from-real-spec\n"), "{stdout}");
    // CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10) and nothing else.
    let caps = u64::from_str_radix(stdout.lines().nth(1).unwrap().split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_eq!(caps, (1 << 29) | (1 << 5) | (1 << 10), "{stdout}");
}

#[test]
fn no_host_descriptor_reaches_the_container() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-fds");
    b.write(&b.config(&["ls", "/proc/self/fd"]));
    let leak = |cmd: &mut Command| {
        // SAFETY: between fork and exec we only call dup2 and fcntl, async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                // A descriptor without close-on-exec, as a careless caller would pass.
                libc::dup2(2, 7);
                libc::fcntl(7, libc::F_SETFD, 0);
                Ok(())
            })
        };
    };
    let mut cmd = b.runc();
    cmd.args(["run", "-b", b.bundle().to_str().unwrap(), "fds"]).stdin(Stdio::null());
    leak(&mut cmd);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let fds: Vec<String> = text(&out.stdout).split_whitespace().map(String::from).collect();
    assert_eq!(fds, vec!["0", "1", "2", "3"], "only stdio and ls's own directory fd");

    // --preserve-fds 1 passes fd 3 through.
    let mut cmd = b.runc();
    cmd.args(["run", "--preserve-fds", "1", "-b", b.bundle().to_str().unwrap(), "fds2"]).stdin(Stdio::null());
    // SAFETY: as above.
    unsafe {
        cmd.pre_exec(|| {
            libc::dup2(2, 3);
            libc::fcntl(3, libc::F_SETFD, 0);
            Ok(())
        })
    };
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let fds: Vec<String> = text(&out.stdout).split_whitespace().map(String::from).collect();
    assert_eq!(fds, vec!["0", "1", "2", "3", "4"]);
}

#[test]
fn list_prints_table_and_json() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-list");
    let out = b.output(&["list", "-f", "json"]);
    assert_eq!(text(&out.stdout).trim(), "null");
    b.write(&b.config(&["sleep", "1000"]));
    assert!(b.create("one").status.success());
    assert!(b.create("two").status.success());
    assert!(b.quiet(&["start", "two"]).status.success());

    let out = b.output(&["list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID          PID         STATUS      BUNDLE"), "{table}");
    assert!(lines[0].ends_with("OWNER"), "{table}");
    let bundle = b.bundle().to_string_lossy().into_owned();
    let cols: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!((cols[0], cols[2], cols[3], cols[5]), ("one", "created", bundle.as_str(), "root"), "{table}");
    let cols: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!((cols[0], cols[2]), ("two", "running"), "{table}");
    // tabwriter alignment: every column starts at the same offset in every row.
    let offset = |l: &str, col: usize| l.match_indices(char::is_whitespace).filter(|(i, _)| l.as_bytes().get(i + 1).is_some_and(|c| !c.is_ascii_whitespace())).nth(col).map(|(i, _)| i);
    for col in 0..5 {
        assert_eq!(offset(lines[0], col), offset(lines[1], col), "column {col}: {table}");
    }

    let out = b.output(&["list", "--format=json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], "one");
    assert_eq!(list[1]["status"], "running");
    let keys: Vec<&String> = list[0].as_object().unwrap().keys().collect();
    for k in ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"] {
        assert!(keys.iter().any(|x| *x == k), "{k} missing");
    }
    assert_eq!(text(&b.output(&["list", "-q"]).stdout), "one\ntwo\n");
}

#[test]
fn spec_writes_what_real_runc_writes() {
    if !require_root() {
        return;
    }
    let dir = TempDir::new("runc-specgen");
    for rootless in [false, true] {
        let ours = dir.join(format!("ours{rootless}"));
        let theirs = dir.join(format!("theirs{rootless}"));
        std::fs::create_dir_all(&ours).unwrap();
        std::fs::create_dir_all(&theirs).unwrap();
        let mut args = vec!["spec", "--bundle"];
        if rootless {
            args.push("--rootless");
        }
        let out = applet("docker-runc").args(&args[..1]).args(["--bundle", ours.to_str().unwrap()]).args(&args[2..]).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let out = Command::new("/usr/bin/runc").args(&args[..1]).args(["--bundle", theirs.to_str().unwrap()]).args(&args[2..]).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let read = |p: &Path| -> (String, Value) {
            let t = std::fs::read_to_string(p.join("config.json")).unwrap();
            let v = serde_json::from_str(&t).unwrap();
            (t, v)
        };
        let (ours_text, ours_v) = read(&ours);
        let (theirs_text, theirs_v) = read(&theirs);
        assert_eq!(ours_v, theirs_v, "rootless={rootless}");
        assert_eq!(ours_text, theirs_text, "same layout too, rootless={rootless}");
        let out = applet("docker-runc").args(["spec", "-b", ours.to_str().unwrap()]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out.stderr).contains("File config.json exists. Remove it first"));
    }
}

#[test]
fn version_and_usage_errors() {
    let out = applet("docker-runc").arg("--version").output().unwrap();
    let v = text(&out.stdout);
    assert!(v.starts_with("runc version 1.1."), "{v}");
    assert!(v.contains("\nspec: 1.0.2-dev\n"), "{v}");
    let root = TempDir::new("runc-usage");
    let out = applet("docker-runc").args(["--root", root.path().to_str().unwrap(), "kill"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("requires a minimum of 1 argument(s)"), "{}", text(&out.stderr));
    let out = applet("docker-runc").args(["--root", root.path().to_str().unwrap(), "delete", "ghost"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("container does not exist"));
    let out = applet("docker-runc").args(["--root", root.path().to_str().unwrap(), "delete", "-f", "ghost"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "delete -f of a missing container is not an error");
}

#[test]
fn bind_mounts_honour_ro_and_never_leave_the_rootfs() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-bind");
    let host_dir = b.dir.join("hostdir");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("f"), "host data\n").unwrap();
    // A symlink in the image pointing at the host's /: a mount under it must stay inside.
    std::os::unix::fs::symlink("/", b.bundle().join("rootfs/evil")).unwrap();
    let outside = format!("dockbox-escape-{}", dockbox::ids::new_id());
    let mut spec = b.config(&["sh", "-c", "cat /data/f; echo x > /data/g 2>/dev/null && echo data-writable; cat /rw/f; cat /file; ls -d /evil/*"]);
    let mounts = spec["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/data", "type": "bind", "source": host_dir, "options": ["rbind", "ro", "nosuid"]}));
    mounts.push(json!({"destination": "/rw", "type": "none", "source": host_dir, "options": ["bind"]}));
    mounts.push(json!({"destination": "/file", "type": "bind", "source": host_dir.join("f"), "options": ["bind", "ro"]}));
    mounts.push(json!({"destination": format!("/evil/tmp/{outside}"), "type": "tmpfs", "source": "tmpfs"}));
    b.write(&spec);
    let out = b.run("bind");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("host data\nhost data\nhost data\n"), "{stdout}");
    assert!(!stdout.contains("data-writable"), "{stdout}");
    assert!(!host_dir.join("g").exists());
    assert!(!Path::new("/tmp").join(&outside).exists(), "a mount target was created on the host");
    assert!(b.bundle().join("rootfs/tmp").join(&outside).is_dir(), "the target is inside the rootfs");
}

#[test]
fn namespaces_can_be_joined_and_unsupported_ones_are_refused() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-join");
    b.write(&b.config(&["sleep", "1000"]));
    assert!(b.create("first").status.success());
    let pid = b.state("first")["pid"].as_i64().unwrap();
    let netns = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();

    let mut spec = b.config(&["readlink", "/proc/self/ns/net"]);
    for ns in spec["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = json!(format!("/proc/{pid}/ns/net"));
        }
    }
    b.write(&spec);
    let out = b.run("second");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), netns.to_str().unwrap());

    let mut spec = b.config(&["true"]);
    spec["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    b.write(&spec);
    let out = b.create("user");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("user namespaces enabled, but no user mapping found"), "{}", text(&out.stderr));
    assert!(!b.root().join("user").exists());
}

#[test]
fn foreground_run_forwards_signals() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-sig");
    b.write(&b.config(&["sh", "-c", "trap 'exit 42' TERM; while true; do sleep 0.05; done"]));
    let mut run = b.runc().args(["run", "-b", b.bundle().to_str().unwrap(), "sig"]).stdin(Stdio::null()).stdout(Stdio::null()).spawn().unwrap();
    for _ in 0..500 {
        if b.output(&["state", "sig"]).stdout.windows(9).any(|w| w == b"\"running\"") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(run.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(run.wait().unwrap().code(), Some(42));
}

#[test]
fn hooks_get_the_state_on_stdin() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-hooks");
    let log = b.dir.join("hooks.log");
    let hook = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo {name} $(cat) >> {}", log.display())]});
    let mut spec = b.config(&["sleep", "1000"]);
    spec["hooks"] = json!({"prestart": [hook("prestart")], "poststart": [hook("poststart")], "poststop": [hook("poststop")]});
    b.write(&spec);
    assert!(b.create("h").status.success());
    let pid = b.state("h")["pid"].as_i64().unwrap();
    assert!(b.quiet(&["start", "h"]).status.success());
    assert!(b.quiet(&["delete", "-f", "h"]).status.success());
    let lines: Vec<String> = std::fs::read_to_string(&log).unwrap().lines().map(String::from).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (line, (name, status)) in lines.iter().zip([("prestart", "creating"), ("poststart", "running"), ("poststop", "stopped")]) {
        let (got, json) = line.split_once(' ').unwrap();
        assert_eq!(got, name);
        let state: Value = serde_json::from_str(json).unwrap();
        assert_eq!(state["id"], "h");
        assert_eq!(state["status"], status, "{line}");
        if name != "poststop" {
            assert_eq!(state["pid"].as_i64(), Some(pid));
        }
    }

    let mut spec = b.config(&["true"]);
    spec["hooks"] = json!({"prestart": [{"path": "/bin/false"}]});
    b.write(&spec);
    let out = b.create("bad");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("error running hook #0: error running hook: exit status 1, stdout: , stderr: "), "{}", text(&out.stderr));
    assert!(!b.root().join("bad").exists());
}

#[test]
fn rro_makes_a_bind_and_its_submounts_read_only() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-rro");
    let host = TempDir::new("runc-rro-src");
    std::fs::create_dir_all(host.join("sub")).unwrap();
    nix::mount::mount(Some("tmpfs"), &host.join("sub"), Some("tmpfs"), nix::mount::MsFlags::empty(), None::<&str>).unwrap();
    let check = "touch /data/top 2>/dev/null && echo top-rw || echo top-ro; touch /data/sub/x 2>/dev/null && echo sub-rw || echo sub-ro";
    let with = |options: &[&str]| {
        let mut spec = b.config(&["sh", "-c", check]);
        spec["mounts"].as_array_mut().unwrap().push(json!({"destination": "/data", "type": "bind", "source": host.path(), "options": options}));
        spec
    };
    // Plain `ro` leaves a submount writable; `rro` reaches it too.
    let out = b.run_spec("plain-ro", &with(&["rbind", "ro"]));
    assert_eq!(text(&out.stdout), "top-ro\nsub-rw\n", "{}", text(&out.stderr));
    let out = b.run_spec("recursive-ro", &with(&["rbind", "rro"]));
    assert_eq!(text(&out.stdout), "top-ro\nsub-ro\n", "{}", text(&out.stderr));
    let out = b.run_spec("recursive-noexec", &with(&["rbind", "rnoexec", "rrw"]));
    assert_eq!(text(&out.stdout), "top-rw\nsub-rw\n", "{}", text(&out.stderr));
    dockbox::mounts::unmount(&host.join("sub")).unwrap();
}

/// `runc exec` keeps the container's compiled seccomp filter in its state directory after the
/// first exec and loads it from there; a cache from another version or a torn one is
/// compiled again.
#[test]
fn exec_keeps_the_compiled_seccomp_filter() {
    if !require_root() {
        return;
    }
    use dockbox::seccomp::{bpf::Insn, Filter, RET_ALLOW};
    let b = Bundle::new("seccomp-cache");
    let mut spec = b.config(&["sleep", "100"]);
    spec["root"]["readonly"] = json!(false);
    spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    });
    b.write(&spec);
    b.create_and_start("sc");
    let cache = b.root().join("sc/seccomp.bpf");
    let mkdir = |dir: &str| b.quiet(&["exec", "sc", "mkdir", dir]);
    let denied = |o: &std::process::Output| !o.status.success() && text(&o.stderr).contains("Operation not permitted");

    assert!(!cache.exists(), "no exec yet, no cache");
    let o = mkdir("/tmp/a");
    assert!(denied(&o), "the profile denies mkdir: {o:?}");
    let kept = std::fs::read(&cache).expect("the first exec keeps its filter");
    assert!(Filter::from_bytes(&kept).is_some());

    // What the cache holds is what the next exec loads: an allow-all program lets mkdir through.
    let allow_all = Filter { program: vec![Insn { code: 0x06, jt: 0, jf: 0, k: RET_ALLOW }], flags: 0 };
    std::fs::write(&cache, allow_all.to_bytes()).unwrap();
    let o = mkdir("/tmp/b");
    assert!(o.status.success(), "the cached filter was not used: {o:?}");

    // Another version's cache, and a torn one, are compiled again from the profile.
    let other_version = String::from_utf8_lossy(&allow_all.to_bytes()).replacen(dockbox::version::DOCKBOX, "0.0.0-other", 1);
    for bad in [other_version.into_bytes(), kept[..kept.len() - 3].to_vec(), b"garbage".to_vec()] {
        std::fs::write(&cache, &bad).unwrap();
        let o = mkdir("/tmp/c");
        assert!(denied(&o), "a cache that does not fit was used: {o:?}");
        assert_eq!(std::fs::read(&cache).unwrap(), kept, "the cache is written again");
    }
    let _ = b.quiet(&["delete", "-f", "sc"]);
}
