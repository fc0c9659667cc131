//! OCI hooks run by the runtime itself (prestart, createRuntime, poststart, poststop): each
//! gets the container's state JSON on stdin, the spec's args and env, and an optional timeout.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `hooks` in order; the first failure stops them and is returned with runc's wording.
pub fn run(hooks: &[crate::oci::Hook], state: &crate::oci::State) -> Result<(), String> {
    let input = serde_json::to_vec(state).map_err(|e| e.to_string())?;
    for (i, h) in hooks.iter().enumerate() {
        run_one(h, &input).map_err(|e| format!("error running hook #{i}: {e}"))?;
    }
    Ok(())
}

fn run_one(h: &crate::oci::Hook, input: &[u8]) -> Result<(), String> {
    let mut cmd = Command::new(&h.path);
    if let Some((first, rest)) = h.args.split_first() {
        cmd.arg0(first).args(rest);
    }
    cmd.env_clear();
    for kv in &h.env {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    // Our stdout is the container's stdio: hooks must not write there.
    cmd.stdin(Stdio::piped()).stdout(Stdio::null());
    cmd.stderr(if h.timeout.is_some() { Stdio::null() } else { Stdio::piped() });
    let mut child = cmd.spawn().map_err(|e| format!("fork/exec {}: {e}", h.path))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine.
        let _ = stdin.write_all(input);
    }
    let status = match h.timeout.filter(|t| *t > 0) {
        None => {
            let out = child.wait_with_output().map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!("{}, stderr: {}", describe(out.status), String::from_utf8_lossy(&out.stderr).trim_end()));
            }
            return Ok(());
        }
        Some(secs) => {
            let deadline = Instant::now() + Duration::from_secs(secs as u64);
            loop {
                if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
                    break s;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("timeout after {secs} seconds"));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    };
    if status.success() {
        Ok(())
    } else {
        Err(describe(status))
    }
}

fn describe(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => format!("signal: {sig}"),
        _ => s.to_string(),
    }
}
