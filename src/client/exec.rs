//! `docker exec` (and `docker container exec`): as the real CLI, an inspect of the container
//! first (so "no such container" wins), the exec created, then started detached or attached
//! over a hijacked connection, and the exit status is the exec's exit code.
//!
//! The attached session is attach's ([`super::attach::stream`]): raw mode and the detach keys
//! with `-t`, stdin copied in and half-closed at its end, the output raw or demultiplexed; and
//! the exec's pty follows our terminal's size (`POST /exec/{id}/resize`, again at each SIGWINCH).

use super::api::{seg, ApiError};
use super::attach::{End, Streams};
use super::flags::{flag, Kind, Parsed, Spec};
use super::{tty, Args, Command, Ctx, Failure};
use serde_json::{json, Value};
use std::io::{self, BufRead};

const FLAGS: &[Spec] = &[
    flag("detach", Some('d'), Kind::Bool, "Detached mode: run command in the background"),
    flag("detach-keys", None, Kind::Value, "Override the key sequence for detaching a container"),
    flag("env", Some('e'), Kind::List, "Set environment variables"),
    flag("env-file", None, Kind::List, "Read in a file of environment variables"),
    flag("interactive", Some('i'), Kind::Bool, "Keep STDIN open even if not attached"),
    flag("privileged", None, Kind::Bool, "Give extended privileges to the command"),
    flag("tty", Some('t'), Kind::Bool, "Allocate a pseudo-TTY"),
    flag("user", Some('u'), Kind::Value, "Username or UID (format: \"<name|uid>[:<group|gid>]\")"),
    flag("workdir", Some('w'), Kind::Value, "Working directory inside the container"),
];

pub const COMMANDS: &[Command] = &[Command {
    name: "exec",
    usage: "docker exec [OPTIONS] CONTAINER COMMAND [ARG...]",
    short: "Execute a command in a running container",
    args: Args::AtLeast(2),
    interspersed: false,
    flags: FLAGS,
    run: exec_cmd,
}];

/// `KEY=VALUE` kept, a bare `KEY` takes our environment's value (dropped when unset).
fn env_entry(e: &str) -> Option<String> {
    if e.contains('=') {
        Some(e.to_string())
    } else {
        std::env::var(e).ok().map(|v| format!("{e}={v}"))
    }
}

/// Docker's env-file format: one entry per line, blank lines and `#` comments skipped.
fn read_env_file(path: &str) -> Result<Vec<String>, String> {
    let f = std::fs::File::open(path).map_err(|e| {
        let text = e.raw_os_error().map(|n| nix::errno::Errno::from_raw(n).desc().to_ascii_lowercase()).unwrap_or_else(|| e.to_string());
        format!("open {path}: {text}")
    })?;
    let mut out = Vec::new();
    for line in io::BufReader::new(f).lines() {
        let line = line.map_err(|e| e.to_string())?;
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('=') {
            return Err(format!("invalid environment variable: {line}"));
        }
        if let Some(e) = env_entry(line) {
            out.push(e);
        }
    }
    Ok(out)
}

/// The exec create body the real CLI sends for these flags.
fn exec_body(p: &Parsed, console_size: Option<(u16, u16)>) -> Result<Value, String> {
    let detach = p.bool("detach");
    let mut env = Vec::new();
    for f in p.list("env-file") {
        env.extend(read_env_file(f)?);
    }
    env.extend(p.list("env").into_iter().filter_map(env_entry));
    let mut body = json!({
        "User": p.value("user").unwrap_or(""),
        "Privileged": p.bool("privileged"),
        "Tty": p.bool("tty"),
        "AttachStdin": !detach && p.bool("interactive"),
        "AttachStdout": !detach,
        "AttachStderr": !detach,
        "Detach": detach,
        // dockerd checks the notation (Docker's 400 names it).
        "DetachKeys": tty::detach_keys_notation(p.value("detach-keys")),
        "Env": env,
        "WorkingDir": p.value("workdir").unwrap_or(""),
        "Cmd": &p.args[1..],
    });
    if let Some((h, w)) = console_size {
        body["ConsoleSize"] = json!([h, w]);
    }
    Ok(body)
}

fn exec_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    tty::block_resize_signal();
    let api = ctx.api()?;
    let container = &p.args[0];
    api.json("GET", &format!("/containers/{}/json", seg(container)), &[], None)?;
    let (detach, tty, interactive) = (p.bool("detach"), p.bool("tty"), p.bool("interactive"));
    tty::require_input_terminal(tty, interactive && !detach)?;
    let console_size = if tty && super::is_terminal(1) { tty::size(1) } else { None };
    let body = exec_body(p, console_size).map_err(|e| Failure::new(e, 1))?;
    let created = api.json("POST", &format!("/containers/{}/exec", seg(container)), &[], Some(&body))?;
    let id = created["Id"].as_str().unwrap_or_default().to_string();
    if id.is_empty() {
        return Err(Failure::new("exec ID empty", 1));
    }
    let start = json!({"Detach": detach, "Tty": tty, "ConsoleSize": body.get("ConsoleSize")});
    let start_path = format!("/exec/{}/start", seg(&id));
    if detach {
        api.call("POST", &start_path, &[], Some(&start), &[])?;
        return Ok(0);
    }
    // dockerd accepted the notation, so it parses.
    let detach_keys = tty::detach_keys(p.value("detach-keys")).map_err(|e| Failure::new(e, 1))?;
    let resp = api.call("POST", &start_path, &[], Some(&start), &[("Connection", "Upgrade"), ("Upgrade", "tcp")])?;
    let (reader, writer) = resp.into_raw().map_err(|e| ApiError::Io(e.to_string()))?;
    let attached = super::attach::stream(reader, writer, &Streams { stdin: interactive, stdout: true, stderr: true, tty, detach_keys });
    if tty && super::is_terminal(1) {
        super::attach::monitor_size(api, format!("/exec/{}/resize", seg(&id)));
    }
    if attached.wait() == End::Detached {
        return Err(Failure::new("read escape sequence", 1));
    }
    let inspect = api.json("GET", &format!("/exec/{}/json", seg(&id)), &[], None)?;
    Ok(inspect["ExitCode"].as_i64().unwrap_or(0) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_matches_the_real_clis() {
        let args: Vec<String> = ["-d", "-u", "nobody", "-w", "/tmp", "-e", "A=1", "ct", "sh", "-c", "x"].iter().map(|s| s.to_string()).collect();
        let p = super::super::flags::parse(FLAGS, &args, false).unwrap();
        let b = exec_body(&p, None).unwrap();
        assert_eq!(b["Cmd"], json!(["sh", "-c", "x"]));
        assert_eq!((b["User"].as_str(), b["WorkingDir"].as_str(), b["Detach"].as_bool(), b["AttachStdout"].as_bool()), (Some("nobody"), Some("/tmp"), Some(true), Some(false)));
        assert_eq!(b["Env"], json!(["A=1"]));
        assert!(b.get("ConsoleSize").is_none());
    }
}
