//! OCI hooks as runc 1.1 runs them: each gets the container's state (the OCI `State`:
//! ociVersion, id, status, pid, bundle, annotations) as JSON on stdin, the spec's path,
//! args and env (no env: the runtime's own, as Go's exec does), an optional timeout, and
//! the working directory of the stage that runs it (see `run`'s callers): prestart and
//! createRuntime in the bundle, createContainer in the container's root before pivot_root,
//! startContainer in the process's cwd, poststart and poststop in runc's.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The state document a hook reads: runc's `specs.State` (no rootfs, created or owner).
fn hook_state(state: &crate::oci::State) -> serde_json::Value {
    let mut doc = serde_json::json!({"ociVersion": state.oci_version, "id": state.id, "status": state.status});
    if state.pid != 0 {
        doc["pid"] = state.pid.into();
    }
    doc["bundle"] = state.bundle.clone().into();
    if !state.annotations.is_empty() {
        doc["annotations"] = serde_json::to_value(&state.annotations).unwrap_or_default();
    }
    doc
}

/// Runs `hooks` in order in `cwd` (None: ours); the first failure stops them and is
/// returned with runc's wording.
pub fn run(hooks: &[crate::oci::Hook], state: &crate::oci::State, cwd: Option<&Path>) -> Result<(), String> {
    let input = serde_json::to_vec(&hook_state(state)).map_err(|e| e.to_string())?;
    for (i, h) in hooks.iter().enumerate() {
        run_one(h, &input, cwd).map_err(|e| format!("error running hook #{i}: {e}"))?;
    }
    Ok(())
}

fn run_one(h: &crate::oci::Hook, input: &[u8], cwd: Option<&Path>) -> Result<(), String> {
    let mut cmd = Command::new(&h.path);
    if let Some((first, rest)) = h.args.split_first() {
        cmd.arg0(first).args(rest);
    }
    if !h.env.is_empty() {
        cmd.env_clear();
        for kv in &h.env {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    // Our stdout may be the container's stdio: the hook's output is collected, as runc's,
    // and shown only when it fails.
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("fork/exec {}: {}", h.path, super::state::errno_text(&e)))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine.
        let _ = stdin.write_all(input);
    }
    // Collected with poll, not threads: runc's parent has unshared a pid namespace by now
    // (no CLONE_THREAD after that) and the init must stay single-threaded.
    let deadline = h.timeout.filter(|t| *t > 0).map(|secs| (secs, Instant::now() + Duration::from_secs(secs as u64)));
    let mut pipes: Vec<(std::process::ChildStdout, Vec<u8>)> = Vec::new();
    let mut err_pipes: Vec<(std::process::ChildStderr, Vec<u8>)> = Vec::new();
    pipes.extend(child.stdout.take().map(|p| (p, Vec::new())));
    err_pipes.extend(child.stderr.take().map(|p| (p, Vec::new())));
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let (mut out_open, mut err_open) = (!pipes.is_empty(), !err_pipes.is_empty());
    while out_open || err_open {
        use std::os::fd::AsFd;
        let wait_ms = match deadline {
            Some((secs, at)) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("hook ran past specified timeout of {secs}.0s"));
                }
                left.as_millis().min(1000) as u16
            }
            None => 1000,
        };
        let mut fds = Vec::new();
        if out_open {
            fds.push(nix::poll::PollFd::new(pipes[0].0.as_fd(), nix::poll::PollFlags::POLLIN));
        }
        if err_open {
            fds.push(nix::poll::PollFd::new(err_pipes[0].0.as_fd(), nix::poll::PollFlags::POLLIN));
        }
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(wait_ms)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("poll hook output: {}", e.desc())),
            Ok(_) => {}
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
        drop(fds);
        let mut idx = 0;
        let mut buf = [0u8; 4096];
        if out_open {
            if ready[idx] {
                match pipes[0].0.read(&mut buf) {
                    Ok(0) | Err(_) => out_open = false,
                    Ok(n) => stdout.extend_from_slice(&buf[..n]),
                }
            }
            idx += 1;
        }
        if err_open && ready[idx] {
            match err_pipes[0].0.read(&mut buf) {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) => stderr.extend_from_slice(&buf[..n]),
            }
        }
    }
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if let Some((secs, at)) = deadline {
            if Instant::now() > at {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("hook ran past specified timeout of {secs}.0s"));
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let (stdout, stderr) = (String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr).into_owned());
    if status.success() {
        Ok(())
    } else {
        Err(format!("error running hook: {}, stdout: {stdout}, stderr: {stderr}", describe(status)))
    }
}

fn describe(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => format!("signal: {}", signal_text(sig)),
        _ => s.to_string(),
    }
}

/// Go's names of signals (`signal: killed`, `signal: bad system call`).
fn signal_text(sig: i32) -> String {
    match sig {
        libc::SIGKILL => "killed".into(),
        libc::SIGSYS => "bad system call".into(),
        libc::SIGTERM => "terminated".into(),
        libc::SIGSEGV => "segmentation fault".into(),
        libc::SIGABRT => "aborted".into(),
        libc::SIGINT => "interrupt".into(),
        libc::SIGHUP => "hangup".into(),
        libc::SIGPIPE => "broken pipe".into(),
        n => format!("signal {n}"),
    }
}
