//! OCI hooks as runc 1.1 runs them (issue 14, "Hooks"): all six kinds in runc's order, in
//! runc's namespaces and working directories, with the state on stdin, the spec's env (or
//! runc's own), a timeout, and runc's error texts — checked on our runtime and on the real
//! runc where it is installed.

mod common;
mod runtimes;

use common::{require_root, text, Bundle};
use runtimes::runtimes;
use std::time::{Duration, Instant};

/// A hook running `script` with /bin/sh (the host's, or the container's for startContainer).
fn sh_hook(script: &str) -> serde_json::Value {
    serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

/// One line of the log: `kind|cwd|pid ns|mnt ns|$HOOKVAR|$RUNTIME_VAR|state JSON`.
fn logging(kind: &str, log: &str) -> String {
    format!(r#"echo "{kind}|$(pwd)|$(readlink /proc/self/ns/pid)|$(readlink /proc/self/ns/mnt)|$HOOKVAR|$RUNTIME_VAR|$(cat)" >> {log}"#)
}

#[test]
fn six_hook_kinds_in_runc_order_namespaces_and_cwd() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-hooks");
    let log = b.dir.join("hooks.log");
    let log_s = log.to_str().unwrap();
    let mut spec = b.config(&["true"]);
    spec["root"]["readonly"] = serde_json::json!(false);
    let mut with_env = sh_hook(&logging("createRuntime", log_s));
    with_env["env"] = serde_json::json!(["HOOKVAR=from-spec"]);
    spec["hooks"] = serde_json::json!({
        "prestart": [sh_hook(&logging("prestart", log_s))],
        "createRuntime": [with_env],
        // A library-injection hook: a relative path lands in the container's root.
        "createContainer": [sh_hook(&format!("{}; echo injected > injected-by-hook", logging("createContainer", log_s)))],
        "startContainer": [sh_hook(&logging("startContainer", "/start.log"))],
        "poststart": [sh_hook(&logging("poststart", log_s))],
        "poststop": [sh_hook(&logging("poststop", log_s))],
    });
    b.write(&spec);
    let host_pid_ns = std::fs::read_link("/proc/self/ns/pid").unwrap().to_string_lossy().into_owned();
    let host_mnt_ns = std::fs::read_link("/proc/self/ns/mnt").unwrap().to_string_lossy().into_owned();
    for rt in runtimes(&b) {
        let who = rt.name;
        let id = format!("hooks-{who}");
        let _ = std::fs::remove_file(&log);
        let _ = std::fs::remove_file(b.rootfs().join("start.log"));
        let _ = std::fs::remove_file(b.rootfs().join("injected-by-hook"));
        let out = rt.run_with(&["create", "--bundle", b.bundle().to_str().unwrap(), &id], std::process::Stdio::null(), &[("RUNTIME_VAR", "runtime-env")]);
        assert!(out.status.success(), "{who} create: {}", text(&out.stderr));
        let init_pid = rt.pid(&id);
        let ctr_pid_ns = std::fs::read_link(format!("/proc/{init_pid}/ns/pid")).unwrap().to_string_lossy().into_owned();
        let ctr_mnt_ns = std::fs::read_link(format!("/proc/{init_pid}/ns/mnt")).unwrap().to_string_lossy().into_owned();
        let out = rt.run(&["start", &id]);
        assert!(out.status.success(), "{who} start: {}", text(&out.stderr));
        rt.wait_status(&id, "stopped");
        let out = rt.run(&["delete", &id]);
        assert!(out.status.success(), "{who} delete: {}", text(&out.stderr));

        let lines: Vec<Vec<String>> = std::fs::read_to_string(&log).unwrap().lines().map(|l| l.splitn(7, '|').map(str::to_string).collect()).collect();
        let kinds: Vec<&str> = lines.iter().map(|l| l[0].as_str()).collect();
        assert_eq!(kinds, ["prestart", "createRuntime", "createContainer", "poststart", "poststop"], "{who}: runc's order");
        let line = |k: &str| lines.iter().find(|l| l[0] == k).unwrap().clone();
        let state = |k: &str| -> serde_json::Value { serde_json::from_str(&line(k)[6]).unwrap_or_else(|e| panic!("{who} {k}: {e}: {:?}", line(k))) };
        for k in ["prestart", "createRuntime"] {
            let l = line(k);
            assert_eq!(l[1], b.bundle().to_str().unwrap(), "{who} {k}: the bundle is the cwd");
            assert_eq!((l[2].as_str(), l[3].as_str()), (host_pid_ns.as_str(), host_mnt_ns.as_str()), "{who} {k}: runc's namespaces");
            let s = state(k);
            assert_eq!((s["status"].as_str(), s["pid"].as_i64(), s["id"].as_str()), (Some("creating"), Some(init_pid as i64), Some(id.as_str())), "{who} {k}: {s}");
            assert_eq!(s["bundle"], b.bundle().to_str().unwrap(), "{who} {k}");
        }
        // The spec's env replaces runc's; a hook without env gets runc's own.
        assert_eq!((line("createRuntime")[4].as_str(), line("createRuntime")[5].as_str()), ("from-spec", ""), "{who}");
        assert_eq!((line("prestart")[4].as_str(), line("prestart")[5].as_str()), ("", "runtime-env"), "{who}");
        let cc = line("createContainer");
        assert_eq!(cc[1], b.rootfs().to_str().unwrap(), "{who}: createContainer's cwd is the container's root");
        assert_eq!((cc[2].as_str(), cc[3].as_str()), (ctr_pid_ns.as_str(), ctr_mnt_ns.as_str()), "{who}: createContainer in the container's namespaces");
        assert_eq!(state("createContainer")["status"], "creating", "{who}");
        assert_eq!(std::fs::read_to_string(b.rootfs().join("injected-by-hook")).unwrap(), "injected\n", "{who}");
        for (k, status) in [("poststart", "running"), ("poststop", "stopped")] {
            let l = line(k);
            assert_eq!((l[2].as_str(), l[3].as_str()), (host_pid_ns.as_str(), host_mnt_ns.as_str()), "{who} {k}");
            // runc 1.1 runs poststart at the end of `create` (status "created"), a bug that
            // runc 1.2 fixed; ours runs it after `start`, as the OCI spec and runc 1.2.
            if who == "runc" && k == "poststart" {
                continue;
            }
            assert_eq!(state(k)["status"], status, "{who} {k}");
        }
        // startContainer: inside the container, after `start`, before the program.
        let sc: Vec<String> = std::fs::read_to_string(b.rootfs().join("start.log")).unwrap().trim_end().splitn(7, '|').map(str::to_string).collect();
        assert_eq!(sc[0], "startContainer");
        assert_eq!(sc[1], "/", "{who}: the process's cwd");
        assert_eq!((sc[2].as_str(), sc[3].as_str()), (ctr_pid_ns.as_str(), ctr_mnt_ns.as_str()), "{who}");
        let s: serde_json::Value = serde_json::from_str(&sc[6]).unwrap();
        assert_eq!(s["status"], "created", "{who}");
    }
}

#[test]
fn hook_failures_and_timeouts_are_runc_errors() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-hook-errors");
    for rt in runtimes(&b) {
        let who = rt.name;
        let mut spec = b.config(&["true"]);
        spec["hooks"] = serde_json::json!({"createRuntime": [sh_hook("echo out; echo boom >&2; exit 3")]});
        b.write(&spec);
        let id = format!("hookfail-{who}");
        let out = rt.run(&["run", "--bundle", b.bundle().to_str().unwrap(), &id]);
        assert_ne!(out.status.code(), Some(0), "{who}");
        let err = text(&out.stderr);
        assert!(err.contains("error running hook #0: error running hook: exit status 3, stdout: out") && err.contains("stderr: boom"), "{who}: {err}");
        assert!(!rt.root.join(&id).exists(), "{who}: nothing left");

        // exec: runc's Go waits for the hook's output pipes, which a child of a killed shell
        // would keep open.
        let mut slow = sh_hook("exec sleep 10");
        slow["timeout"] = serde_json::json!(1);
        spec["hooks"] = serde_json::json!({"prestart": [slow]});
        b.write(&spec);
        let id = format!("hooktime-{who}");
        let started = Instant::now();
        let out = rt.run(&["run", "--bundle", b.bundle().to_str().unwrap(), &id]);
        assert!(started.elapsed() < Duration::from_secs(5), "{who}: killed at the timeout");
        assert_ne!(out.status.code(), Some(0), "{who}");
        assert!(text(&out.stderr).contains("error running hook #0: hook ran past specified timeout of 1.0s"), "{who}: {}", text(&out.stderr));
    }
}

#[test]
fn start_container_hooks_run_under_the_seccomp_filter() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-hook-seccomp");
    let native = if cfg!(target_arch = "x86_64") { "SCMP_ARCH_X86_64" } else if cfg!(target_arch = "aarch64") { "SCMP_ARCH_AARCH64" } else { "SCMP_ARCH_ARM" };
    for nnp in [true, false] {
        let mut spec = b.config(&["true"]);
        spec["process"]["noNewPrivileges"] = serde_json::json!(nnp);
        spec["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": [native],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}],
        });
        // Without the filter the hook would fail otherwise (a read-only root).
        spec["hooks"] = serde_json::json!({"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "mkdir /under-filter"]}]});
        b.write(&spec);
        for rt in runtimes(&b) {
            let who = rt.name;
            let id = format!("hooksc-{who}-{nnp}");
            let out = rt.run(&["run", "--bundle", b.bundle().to_str().unwrap(), &id]);
            assert_ne!(out.status.code(), Some(0), "{who} nnp={nnp}");
            let err = text(&out.stderr);
            assert!(err.contains("error running hook #0: error running hook: signal: bad system call"), "{who} nnp={nnp}: {err}");
        }
    }
}
