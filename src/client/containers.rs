//! Container commands: run, create, start, ps, rm, logs, wait, stop, kill. `run` follows
//! the real CLI's order: create (pulling a missing image), attach, wait, then start.

use super::api::{seg, Api, ApiError};
use super::attach::{attach, monitor_size, resize_path, End, Streams};
use super::flags::{flag, Kind, Parsed, Spec};
use super::{for_each, out, Args, Command, Ctx, Failure};
use serde_json::{json, Value};
use std::io::{self, Read};
use std::time::Duration;

pub const COMMANDS: &[Command] = &[
    Command {
        name: "run",
        usage: "docker run [OPTIONS] IMAGE [COMMAND] [ARG...]",
        short: "Create and run a new container from an image",
        args: Args::AtLeast(1),
        interspersed: false,
        flags: &RUN_AND_RESOURCE_FLAGS,
        run: run_cmd,
    },
    Command {
        name: "create",
        usage: "docker create [OPTIONS] IMAGE [COMMAND] [ARG...]",
        short: "Create a new container",
        args: Args::AtLeast(1),
        interspersed: false,
        flags: &CREATE_AND_RESOURCE_FLAGS,
        run: create_cmd,
    },
    Command {
        name: "start",
        usage: "docker start [OPTIONS] CONTAINER [CONTAINER...]",
        short: "Start one or more stopped containers",
        args: Args::AtLeast(1),
        interspersed: true,
        flags: &[
            flag("attach", Some('a'), Kind::Bool, "Attach STDOUT/STDERR and forward signals"),
            flag("detach-keys", None, Kind::Value, "Override the key sequence for detaching a container"),
            flag("interactive", Some('i'), Kind::Bool, "Attach container's STDIN"),
        ],
        run: start_cmd,
    },
    Command {
        name: "ps",
        usage: "docker ps [OPTIONS]",
        short: "List containers",
        args: Args::None,
        interspersed: true,
        flags: super::ps::PS_FLAGS,
        run: super::ps::ps_cmd,
    },
    Command {
        name: "rm",
        usage: "docker rm [OPTIONS] CONTAINER [CONTAINER...]",
        short: "Remove one or more containers",
        args: Args::AtLeast(1),
        interspersed: true,
        flags: &[
            flag("force", Some('f'), Kind::Bool, "Force the removal of a running container (uses SIGKILL)"),
            flag("volumes", Some('v'), Kind::Bool, "Remove anonymous volumes associated with the container"),
        ],
        run: rm_cmd,
    },
    Command {
        name: "logs",
        usage: "docker logs [OPTIONS] CONTAINER",
        short: "Fetch the logs of a container",
        args: Args::Exact(1),
        interspersed: true,
        flags: &[
            flag("follow", Some('f'), Kind::Bool, "Follow log output"),
            flag("tail", Some('n'), Kind::Value, "Number of lines to show from the end of the logs (default \"all\")"),
            flag("timestamps", Some('t'), Kind::Bool, "Show timestamps"),
            flag("details", None, Kind::Bool, "Show extra details provided to logs"),
            flag("since", None, Kind::Value, "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)"),
            flag("until", None, Kind::Value, "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)"),
        ],
        run: logs_cmd,
    },
    Command {
        name: "wait",
        usage: "docker wait CONTAINER [CONTAINER...]",
        short: "Block until one or more containers stop, then print their exit codes",
        args: Args::AtLeast(1),
        interspersed: true,
        flags: &[],
        run: wait_cmd,
    },
    Command {
        name: "stop",
        usage: "docker stop [OPTIONS] CONTAINER [CONTAINER...]",
        short: "Stop one or more running containers",
        args: Args::AtLeast(1),
        interspersed: true,
        flags: &[flag("time", Some('t'), Kind::Value, "Seconds to wait for stop before killing it")],
        run: stop_cmd,
    },
    Command {
        name: "kill",
        usage: "docker kill [OPTIONS] CONTAINER [CONTAINER...]",
        short: "Kill one or more running containers",
        args: Args::AtLeast(1),
        interspersed: true,
        flags: &[flag("signal", Some('s'), Kind::Value, "Signal to send to the container")],
        run: kill_cmd,
    },
];

const CREATE_FLAGS: &[Spec] = &[
    flag("attach", Some('a'), Kind::List, "Attach to STDIN, STDOUT or STDERR"),
    flag("entrypoint", None, Kind::Value, "Overwrite the default ENTRYPOINT of the image"),
    flag("env", Some('e'), Kind::List, "Set environment variables"),
    flag("hostname", Some('h'), Kind::Value, "Container host name"),
    flag("init", None, Kind::Bool, "Run an init inside the container that forwards signals and reaps processes"),
    flag("interactive", Some('i'), Kind::Bool, "Keep STDIN open even if not attached"),
    flag("label", Some('l'), Kind::List, "Set meta data on a container"),
    flag("name", None, Kind::Value, "Assign a name to the container"),
    flag("platform", None, Kind::Value, "Set platform if server is multi-platform capable"),
    flag("rm", None, Kind::Bool, "Automatically remove the container when it exits"),
    flag("tty", Some('t'), Kind::Bool, "Allocate a pseudo-TTY"),
    flag("user", Some('u'), Kind::Value, "Username or UID (format: <name|uid>[:<group|gid>])"),
    flag("volume", Some('v'), Kind::List, "Bind mount a volume"),
    flag("workdir", Some('w'), Kind::Value, "Working directory inside the container"),
];

const RUN_FLAGS: &[Spec] = &[
    flag("attach", Some('a'), Kind::List, "Attach to STDIN, STDOUT or STDERR"),
    flag("detach", Some('d'), Kind::Bool, "Run container in background and print container ID"),
    flag("detach-keys", None, Kind::Value, "Override the key sequence for detaching a container"),
    flag("entrypoint", None, Kind::Value, "Overwrite the default ENTRYPOINT of the image"),
    flag("env", Some('e'), Kind::List, "Set environment variables"),
    flag("hostname", Some('h'), Kind::Value, "Container host name"),
    flag("init", None, Kind::Bool, "Run an init inside the container that forwards signals and reaps processes"),
    flag("interactive", Some('i'), Kind::Bool, "Keep STDIN open even if not attached"),
    flag("label", Some('l'), Kind::List, "Set meta data on a container"),
    flag("name", None, Kind::Value, "Assign a name to the container"),
    flag("platform", None, Kind::Value, "Set platform if server is multi-platform capable"),
    flag("rm", None, Kind::Bool, "Automatically remove the container when it exits"),
    flag("sig-proxy", None, Kind::Bool, "Proxy received signals to the process (default true)"),
    flag("tty", Some('t'), Kind::Bool, "Allocate a pseudo-TTY"),
    flag("user", Some('u'), Kind::Value, "Username or UID (format: <name|uid>[:<group|gid>])"),
    flag("volume", Some('v'), Kind::List, "Bind mount a volume"),
    flag("workdir", Some('w'), Kind::Value, "Working directory inside the container"),
];

const RUN_AND_RESOURCE_FLAGS_ONLY: [Spec; RUN_FLAGS.len() + super::resources::FLAGS.len()] = super::resources::concat(RUN_FLAGS, super::resources::FLAGS);
const CREATE_AND_RESOURCE_FLAGS_ONLY: [Spec; CREATE_FLAGS.len() + super::resources::FLAGS.len()] = super::resources::concat(CREATE_FLAGS, super::resources::FLAGS);
const RUN_AND_RESOURCE_FLAGS: [Spec; RUN_AND_RESOURCE_FLAGS_ONLY.len() + super::create_flags::FLAGS.len()] = super::resources::concat(&RUN_AND_RESOURCE_FLAGS_ONLY, super::create_flags::FLAGS);
const CREATE_AND_RESOURCE_FLAGS: [Spec; CREATE_AND_RESOURCE_FLAGS_ONLY.len() + super::create_flags::FLAGS.len()] = super::resources::concat(&CREATE_AND_RESOURCE_FLAGS_ONLY, super::create_flags::FLAGS);

/// Docker's `docker: <message>.` report for run/create, with the help hint when asked.
fn report(cmd: &str, message: &str, with_help: bool) -> String {
    let mut s = format!("docker: {}.", message.trim_end_matches('.'));
    if with_help {
        s.push_str(&format!("\nSee 'docker {cmd} --help'."));
    }
    s
}

/// The exit status `docker run` uses for a daemon error: 127 when the command does not
/// exist, 126 when it cannot be executed, 125 otherwise.
pub fn start_error_code(message: &str) -> i32 {
    if message.contains("executable file not found") || message.contains("no such file or directory") || message.contains("system cannot find the file specified") {
        127
    } else if message.contains("permission denied") {
        126
    } else {
        125
    }
}

/// The create request body the real CLI sends for these flags.
fn create_body(p: &Parsed, detach: bool) -> Value {
    let image = &p.args[0];
    let cmd: Option<Vec<&String>> = if p.args.len() > 1 { Some(p.args[1..].iter().collect()) } else { None };
    let interactive = p.bool("interactive");
    let attach = p.list("attach");
    let (attach_in, attach_out, attach_err) = if detach {
        (false, false, false)
    } else if !attach.is_empty() {
        let has = |s: &str| attach.iter().any(|a| a.eq_ignore_ascii_case(s));
        (has("stdin"), has("stdout"), has("stderr"))
    } else {
        (interactive, true, true)
    };
    let env: Vec<String> = p
        .list("env")
        .into_iter()
        .filter_map(|e| if e.contains('=') { Some(e.to_string()) } else { std::env::var(e).ok().map(|v| format!("{e}={v}")) })
        .collect();
    let labels: serde_json::Map<String, Value> =
        p.list("label").into_iter().map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), json!(v))).unwrap_or((l.to_string(), json!("")))).collect();
    let binds: Vec<&str> = p.list("volume");
    json!({
        "Hostname": p.value("hostname").unwrap_or(""),
        "Domainname": "",
        "User": p.value("user").unwrap_or(""),
        "AttachStdin": attach_in,
        "AttachStdout": attach_out,
        "AttachStderr": attach_err,
        "Tty": p.bool("tty"),
        "OpenStdin": interactive,
        "StdinOnce": interactive && attach_in && !detach,
        "Env": env,
        "Cmd": cmd,
        "Image": image,
        "Volumes": null,
        "WorkingDir": p.value("workdir").unwrap_or(""),
        "Entrypoint": p.value("entrypoint").map(|e| vec![e]),
        "OnBuild": null,
        "Labels": labels,
        "HostConfig": {
            "Binds": if binds.is_empty() { Value::Null } else { json!(binds) },
            "AutoRemove": p.bool("rm"),
            "NetworkMode": "default",
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "LogConfig": {"Type": "", "Config": {}},
        },
        "NetworkingConfig": {"EndpointsConfig": {}},
    })
}

/// The create request for these flags, checked as the CLI checks them before it connects.
fn request_body(p: &Parsed, detach: bool) -> Result<Value, String> {
    let mut body = create_body(p, detach);
    // Sent only when given, as the real CLI does: absent, the daemon's --init decides.
    if p.has("init") {
        body["HostConfig"]["Init"] = json!(p.bool("init"));
    }
    super::resources::add_to_host_config(p, &mut body)?;
    super::create_flags::add_to_body(p, &mut body)?;
    super::mount_flags::add_to_body(p, &mut body)?;
    Ok(body)
}

/// The create request `docker run -d ARGS...` would send (ARGS: flags, IMAGE, COMMAND...),
/// for `docker compose`, which words each service as these flags.
#[cfg_attr(feature = "without-compose", allow(dead_code))]
pub(super) fn run_request(args: &[String]) -> Result<Value, String> {
    let p = super::flags::parse(&RUN_AND_RESOURCE_FLAGS, args, false)?;
    request_body(&p, true)
}

/// A flag value refused before anything is sent, worded as the CLI 28 words it: a flag's
/// own parse error with the usage line, others as `docker: ...`; exit status 125.
fn flag_failure(cmd: &str, e: &str) -> Failure {
    let help = format!("Run 'docker {cmd} --help' for more information");
    if e.starts_with("invalid argument \"") {
        Failure::new(format!("{e}\n\nUsage:  docker {cmd} [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n{help}"), 125)
    } else {
        Failure::new(format!("docker: {e}\n\n{help}"), 125)
    }
}

/// Creates the container, pulling its image first when the daemon lacks it. Returns the id.
fn create_container(api: &Api, p: &Parsed, body: Value) -> Result<String, ApiError> {
    super::create_flags::check_cidfile(p).map_err(ApiError::Io)?;
    let mut query: Vec<(&str, String)> = p.value("name").map(|n| vec![("name", n.to_string())]).unwrap_or_default();
    let platform = p.value("platform").filter(|v| !v.is_empty()).map(str::to_lowercase);
    if let Some(pl) = &platform {
        query.push(("platform", pl.clone()));
    }
    let resp = match api.json("POST", "/containers/create", &query, Some(&body)) {
        // Missing, or present for another platform than --platform's: pull, then again.
        Err(ApiError::Daemon { status: 404, message }) if message.contains("No such image") || message.contains("does not match the specified platform") => {
            let image = super::images::Reference::parse(&p.args[0]).familiar();
            eprintln!("Unable to find image '{image}' locally");
            super::images::pull_platform(api, &p.args[0], platform.as_deref(), true, false).map_err(|m| ApiError::Daemon { status: 500, message: m.trim_start_matches("Error response from daemon: ").to_string() })?;
            api.json("POST", "/containers/create", &query, Some(&body))?
        }
        other => other?,
    };
    for w in resp["Warnings"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        eprintln!("WARNING: {w}");
    }
    let id = resp["Id"].as_str().unwrap_or_default().to_string();
    super::create_flags::write_cidfile(p, &id).map_err(ApiError::Io)?;
    Ok(id)
}

fn create_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    // Docker's CLI words a create as an attached run (`-i` attaches stdin, once): a later
    // `start -a -i` then ends the container's input when ours ends.
    let body = request_body(p, false).map_err(|e| flag_failure("create", &e))?;
    let result = ctx.api().and_then(|api| create_container(api, p, body));
    match result {
        Ok(id) => {
            out(&format!("{id}\n"));
            Ok(0)
        }
        // Docker's client reports a failed create plainly, with status 1 (run's 125 is its own).
        Err(e) => Err(Failure::new(e.to_string(), 1)),
    }
}

fn exit_code_of(wait: Result<Value, ApiError>) -> Result<i32, Failure> {
    match wait {
        Ok(v) => {
            if let Some(m) = v["Error"]["Message"].as_str().filter(|m| !m.is_empty()) {
                return Err(Failure::new(report("run", m, false), 125));
            }
            Ok(v["StatusCode"].as_i64().unwrap_or(0) as i32)
        }
        Err(e) => Err(Failure::new(report("run", &e.to_string(), false), 125)),
    }
}

fn run_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    super::tty::block_resize_signal();
    let detach = p.bool("detach");
    super::tty::require_input_terminal(p.bool("tty"), p.bool("interactive") && !detach)?;
    // Docker's client: a plain error, exit status 1.
    let detach_keys = super::tty::detach_keys(p.value("detach-keys")).map_err(|e| Failure::new(e, 1))?;
    let request = request_body(p, detach).map_err(|e| flag_failure("run", &e))?;
    let api = ctx.api().map_err(|e| Failure::new(report("run", &e.to_string(), true), 125))?;
    let id = create_container(api, p, request).map_err(|e| {
        let m = e.to_string();
        Failure::new(report("run", &m, true), start_error_code(&m))
    })?;
    let start = |api: &Api| api.call("POST", &format!("/containers/{}/start", seg(&id)), &[], None, &[]).map(|_| ());
    if detach {
        if let Err(e) = start(api) {
            let m = e.to_string();
            return Err(Failure::new(report("run", &m, false), start_error_code(&m)));
        }
        out(&format!("{id}\n"));
        return Ok(0);
    }
    // Docker's default without a tty: signals the client gets go to the container (before any
    // thread starts). With a tty the terminal sends them as keys.
    if p.value("sig-proxy") != Some("false") && !p.bool("tty") {
        super::attach::proxy_signals(api, &id);
    }
    let body = create_body(p, false);
    let tty = p.bool("tty");
    let streams = Streams { stdin: body["AttachStdin"] == true, stdout: body["AttachStdout"] == true, stderr: body["AttachStderr"] == true, tty, detach_keys };
    let attached = attach(api, &id, &streams).map_err(|e| Failure::new(report("run", &e.to_string(), false), 125))?;
    let condition = if p.bool("rm") { "removed" } else { "next-exit" };
    let wait = super::attach::wait_for_exit(api, &id, condition);
    if let Err(e) = start(api) {
        drop(attached);
        let m = e.to_string();
        eprintln!("{}", report("run", &m, false));
        if p.bool("rm") {
            let _ = wait.recv_timeout(Duration::from_secs(10));
        }
        return Err(Failure::silent(start_error_code(&m)));
    }
    if tty && super::is_terminal(1) {
        monitor_size(api, resize_path(&id));
    }
    if attached.wait() == End::Detached {
        return Ok(0);
    }
    exit_code_of(wait.recv().unwrap_or_else(|_| Err(ApiError::Io("wait ended without an answer".into()))))
}

fn inspect_container(api: &Api, name: &str) -> Result<Value, String> {
    api.json("GET", &format!("/containers/{}/json", seg(name)), &[], None).map_err(|e| not_found_as_client(e, "container", name))
}

/// The client library's wording for a 404 on an object lookup.
fn not_found_as_client(e: ApiError, object: &str, name: &str) -> String {
    if e.is_not_found() {
        format!("Error: No such {object}: {name}")
    } else {
        e.to_string()
    }
}

fn start_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    super::tty::block_resize_signal();
    let detach_keys = super::tty::detach_keys(p.value("detach-keys")).map_err(|e| Failure::new(e, 1))?;
    let api = ctx.api()?;
    if p.bool("attach") || p.bool("interactive") {
        if p.args.len() > 1 {
            return Err(Failure::new("you cannot start and attach multiple containers at once", 1));
        }
        let name = &p.args[0];
        let info = inspect_container(api, name).map_err(|e| Failure::new(e, 1))?;
        let id = info["Id"].as_str().unwrap_or(name).to_string();
        let tty = info["Config"]["Tty"] == true;
        let stdin = p.bool("interactive") && info["Config"]["OpenStdin"] == true;
        if !tty {
            super::attach::proxy_signals(api, &id);
        }
        let attached = attach(api, &id, &Streams { stdin, stdout: true, stderr: true, tty, detach_keys })?;
        let wait = super::attach::wait_for_exit(api, &id, "next-exit");
        if let Err(e) = api.call("POST", &format!("/containers/{}/start", seg(&id)), &[], None, &[]) {
            drop(attached);
            return Err(Failure::new(e.to_string(), 1));
        }
        if tty && super::is_terminal(1) {
            monitor_size(api, resize_path(&id));
        }
        if attached.wait() == End::Detached {
            return Ok(0);
        }
        return match wait.recv() {
            Ok(Ok(v)) => Ok(v["StatusCode"].as_i64().unwrap_or(0) as i32),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(Failure::new("wait ended without an answer", 1)),
        };
    }
    let mut failed = Vec::new();
    for name in &p.args {
        match api.call("POST", &format!("/containers/{}/start", seg(name)), &[], None, &[]) {
            Ok(_) => out(&format!("{name}\n")),
            Err(e) => {
                eprintln!("{e}");
                failed.push(name.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(Failure::new(format!("Error: failed to start containers: {}", failed.join(", ")), 1))
    }
}

fn rm_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let mut query = Vec::new();
    if p.bool("force") {
        query.push(("force", "1".to_string()));
    }
    if p.bool("volumes") {
        query.push(("v", "1".to_string()));
    }
    for_each(&p.args, |name| {
        api.call("DELETE", &format!("/containers/{}", seg(name)), &query, None, &[]).map(|_| Some(name.to_string())).map_err(|e| not_found_as_client(e, "container", name))
    })
}

fn logs_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let name = &p.args[0];
    let info = inspect_container(api, name).map_err(|e| Failure::new(e, 1))?;
    let b = |v: bool| if v { "1" } else { "0" }.to_string();
    let mut query = vec![("stdout", "1".to_string()), ("stderr", "1".to_string()), ("follow", b(p.bool("follow"))), ("timestamps", b(p.bool("timestamps")))];
    query.push(("tail", p.value("tail").unwrap_or("all").to_string()));
    let now = std::time::SystemTime::now();
    for key in ["since", "until"] {
        if let Some(v) = p.value(key).filter(|v| !v.is_empty()) {
            let ts = crate::timestamp::client_timestamp(v, now).map_err(|e| Failure::new(format!("invalid value for {key:?}: {e}"), 1))?;
            query.push((key, ts));
        }
    }
    if p.bool("details") {
        query.push(("details", "1".to_string()));
    }
    let resp = api.call("GET", &format!("/containers/{}/logs", seg(name)), &query, None, &[])?;
    let mut body = resp.into_body();
    let (mut o, mut e) = (io::stdout(), io::stderr());
    let copied = if info["Config"]["Tty"] == true { io::copy(&mut body as &mut dyn Read, &mut o).map(|_| ()) } else { crate::stdcopy::demux(&mut body, &mut o, &mut e) };
    copied.map_err(|err| Failure::new(err.to_string(), 1))?;
    Ok(0)
}

fn wait_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    for_each(&p.args, |name| {
        let v = api.json("POST", &format!("/containers/{}/wait", seg(name)), &[], None).map_err(|e| e.to_string())?;
        Ok(Some(v["StatusCode"].as_i64().unwrap_or(0).to_string()))
    })
}

fn stop_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let query: Vec<(&str, String)> = p.value("time").map(|t| vec![("t", t.to_string())]).unwrap_or_default();
    for_each(&p.args, |name| api.call("POST", &format!("/containers/{}/stop", seg(name)), &query, None, &[]).map(|_| Some(name.to_string())).map_err(|e| e.to_string()))
}

fn kill_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let query: Vec<(&str, String)> = p.value("signal").map(|s| vec![("signal", s.to_string())]).unwrap_or_default();
    for_each(&p.args, |name| api.call("POST", &format!("/containers/{}/kill", seg(name)), &query, None, &[]).map(|_| Some(name.to_string())).map_err(|e| e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_daemons_words() {
        assert_eq!(start_error_code("exec: \"nosuch\": executable file not found in $PATH: unknown"), 127);
        assert_eq!(start_error_code("exec: \"/etc\": permission denied: unknown"), 126);
        assert_eq!(start_error_code("No such image: x"), 125);
    }

    #[test]
    fn create_body_matches_flags() {
        let args: Vec<String> = ["-e", "A=1", "--rm", "-w", "/tmp", "--entrypoint", "sh", "busybox", "-c", "true"].iter().map(|s| s.to_string()).collect();
        let p = crate::client::flags::parse(RUN_FLAGS, &args, false).unwrap();
        let b = create_body(&p, false);
        assert_eq!(b["Env"], json!(["A=1"]));
        assert_eq!(b["Cmd"], json!(["-c", "true"]));
        assert_eq!(b["Entrypoint"], json!(["sh"]));
        assert_eq!(b["HostConfig"]["AutoRemove"], json!(true));
        assert_eq!(b["AttachStdout"], json!(true));
        assert_eq!(b["Image"], json!("busybox"));
    }
}
