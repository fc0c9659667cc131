//! Dockerfile instructions that only change an image's config (its `config` object in the
//! Engine API's shape: Cmd, Env, Labels, ...), as Docker's classic builder dispatches them:
//! for the builder's steps, and for `docker commit --change` and `docker import --change`,
//! which go through the same dispatch with commits turned off.

use crate::dockerfile::{parse_commands, Command, CommandLine};
use serde_json::{json, Map, Value};

/// The instructions `--change` accepts (Docker's list for commit and import).
const CHANGE_COMMANDS: &[&str] = &["cmd", "entrypoint", "healthcheck", "env", "expose", "label", "onbuild", "stopsignal", "user", "volume", "workdir"];

/// What a stage's dispatch remembers between instructions beside the config.
#[derive(Debug, Default, Clone)]
pub struct DispatchState {
    /// A CMD was given in this build: a later ENTRYPOINT keeps it.
    pub cmd_set: bool,
    /// MAINTAINER's text, which becomes the image's `author`.
    pub maintainer: Option<String>,
}

fn strings(v: &[String]) -> Value {
    json!(v)
}

/// The environment of `config` as a lookup for word expansion.
pub fn env_lookup(config: &Map<String, Value>) -> impl Fn(&str) -> Option<String> + '_ {
    move |name: &str| {
        config.get("Env").and_then(Value::as_array)?.iter().rev().filter_map(Value::as_str).find_map(|e| {
            let (k, v) = e.split_once('=').unwrap_or((e, ""));
            (k == name).then(|| v.to_string())
        })
    }
}

/// CMD's, ENTRYPOINT's or RUN's words: the exec form as written, the shell form behind the
/// stage's SHELL (`/bin/sh -c` unless SHELL changed it).
pub fn command_words(line: &CommandLine, config: &Map<String, Value>) -> Vec<String> {
    if !line.prepend_shell {
        return line.args.clone();
    }
    let mut words: Vec<String> = match config.get("Shell").and_then(Value::as_array) {
        Some(shell) if !shell.is_empty() => shell.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => vec!["/bin/sh".into(), "-c".into()],
    };
    words.push(line.args.join(" "));
    words
}

/// Joins a WORKDIR onto the current one as Docker does (a relative path is relative to it).
pub fn normalize_workdir(current: &str, requested: &str) -> Result<String, String> {
    if requested.is_empty() {
        return Err("cannot normalize nothing".into());
    }
    let joined = if requested.starts_with('/') { requested.to_string() } else { format!("{}/{requested}", if current.is_empty() { "/" } else { current }) };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => drop(parts.pop()),
            p => parts.push(p),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// Applies a metadata instruction (already expanded with [`Command::expand`]) to `config`.
/// Returns `false` for the instructions that are not metadata (RUN, COPY, ADD, ARG), which
/// the caller handles.
pub fn apply(config: &mut Map<String, Value>, state: &mut DispatchState, command: &Command) -> Result<bool, String> {
    match command {
        Command::Env(list) => {
            let mut env: Vec<Value> = config.get("Env").and_then(Value::as_array).cloned().unwrap_or_default();
            for kv in list {
                let entry = json!(format!("{}={}", kv.key, kv.value));
                match env.iter_mut().find(|e| e.as_str().map(|s| s.split('=').next() == Some(kv.key.as_str())).unwrap_or(false)) {
                    Some(slot) => *slot = entry,
                    None => env.push(entry),
                }
            }
            config.insert("Env".into(), Value::Array(env));
        }
        Command::Label(list) => {
            let labels = config.entry("Labels").or_insert_with(|| json!({}));
            if !labels.is_object() {
                *labels = json!({});
            }
            if let Some(labels) = labels.as_object_mut() {
                for kv in list {
                    labels.insert(kv.key.clone(), json!(kv.value));
                }
            }
        }
        Command::Maintainer(m) => state.maintainer = Some(m.clone()),
        Command::Cmd(line) => {
            config.insert("Cmd".into(), strings(&command_words(line, config)));
            if !line.args.is_empty() {
                state.cmd_set = true;
            }
        }
        Command::Entrypoint(line) => {
            let words = command_words(line, config);
            config.insert("Entrypoint".into(), if line.args.is_empty() && !line.prepend_shell { json!([]) } else { strings(&words) });
            if !state.cmd_set {
                config.insert("Cmd".into(), Value::Null);
            }
        }
        Command::Expose(ports) => {
            let exposed = config.entry("ExposedPorts").or_insert_with(|| json!({}));
            if !exposed.is_object() {
                *exposed = json!({});
            }
            for p in ports {
                for port in expose_ports(p)? {
                    if let Some(o) = exposed.as_object_mut() {
                        o.insert(port, json!({}));
                    }
                }
            }
        }
        Command::Volume(paths) => {
            let volumes = config.entry("Volumes").or_insert_with(|| json!({}));
            if !volumes.is_object() {
                *volumes = json!({});
            }
            for p in paths {
                let p = p.trim();
                if p.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                if let Some(o) = volumes.as_object_mut() {
                    o.insert(p.to_string(), json!({}));
                }
            }
        }
        Command::User(u) => drop(config.insert("User".into(), json!(u))),
        Command::Workdir(w) => {
            let current = config.get("WorkingDir").and_then(Value::as_str).unwrap_or("").to_string();
            config.insert("WorkingDir".into(), json!(normalize_workdir(&current, w)?));
        }
        Command::StopSignal(s) => {
            if crate::signals::parse_signal(s).is_some() {
                config.insert("StopSignal".into(), json!(s));
            } else {
                return Err(format!("Invalid signal: {s}"));
            }
        }
        Command::Onbuild(trigger) => {
            let mut triggers: Vec<Value> = config.get("OnBuild").and_then(Value::as_array).cloned().unwrap_or_default();
            triggers.push(json!(trigger));
            config.insert("OnBuild".into(), Value::Array(triggers));
        }
        Command::Healthcheck(hc) => {
            let mut h = Map::new();
            h.insert("Test".into(), json!(hc.test));
            for (key, d) in [("Interval", hc.interval), ("Timeout", hc.timeout), ("StartPeriod", hc.start_period), ("StartInterval", hc.start_interval)] {
                if !d.is_zero() {
                    h.insert(key.into(), json!(d.as_nanos() as i64));
                }
            }
            if hc.retries != 0 {
                h.insert("Retries".into(), json!(hc.retries));
            }
            config.insert("Healthcheck".into(), Value::Object(h));
        }
        Command::Shell(words) => drop(config.insert("Shell".into(), strings(words))),
        Command::Run(_) | Command::Copy(_) | Command::Add(_) | Command::Arg(_) => return Ok(false),
    }
    Ok(true)
}

/// EXPOSE's port words as ExposedPorts keys: `80`, `80/udp`, `8000-8002` (each port of the
/// range), with Docker's errors.
fn expose_ports(spec: &str) -> Result<Vec<String>, String> {
    let (port, proto) = spec.rsplit_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    // An ip:host:container spec exposes the container part.
    let port = port.rsplit(':').next().unwrap_or(port);
    if port.is_empty() {
        return Err(format!("no port specified: {spec}<empty>"));
    }
    let parse = |p: &str| p.parse::<u16>().map_err(|_| format!("invalid containerPort: {port}"));
    let (start, end) = match port.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => (parse(port)?, parse(port)?),
    };
    if end < start {
        return Err(format!("invalid containerPort: {port}"));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// `--change` instructions applied to `config` in order (Docker's BuildFromConfig): each must
/// be one commit and import accept; ENV, LABEL and the others expand `$VAR` from the config's
/// environment as a build would.
pub fn apply_changes(config: &mut Map<String, Value>, changes: &[String]) -> Result<(), String> {
    if changes.is_empty() {
        return Ok(());
    }
    let parsed = parse_commands(&changes.join("\n")).map_err(|e| e.message)?;
    let mut commands = Vec::new();
    for (keyword, instruction) in parsed {
        if !CHANGE_COMMANDS.contains(&keyword.to_lowercase().as_str()) {
            return Err(format!("{keyword} is not a valid change command"));
        }
        commands.push(instruction.map_err(|e| e.message)?.command);
    }
    let mut state = DispatchState::default();
    for command in commands {
        let expanded = command.expand(&env_lookup(config), '\\').map_err(|e| e.to_string())?;
        apply(config, &mut state, &expanded)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(base: Value, changes: &[&str]) -> Result<Value, String> {
        let mut config = base.as_object().cloned().unwrap();
        apply_changes(&mut config, &changes.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        Ok(Value::Object(config))
    }

    #[test]
    fn env_replaces_a_key_and_expands_from_the_config() {
        let c = changed(json!({"Env": ["PATH=/bin", "A=1"]}), &["ENV A=2 B=$A", "ENV C ${PATH}:/x"]).unwrap();
        assert_eq!(c["Env"], json!(["PATH=/bin", "A=2", "B=1", "C=/bin:/x"]));
    }

    #[test]
    fn entrypoint_clears_cmd_unless_a_cmd_came_first() {
        let c = changed(json!({"Cmd": ["sh"]}), &["ENTRYPOINT [\"/bin/top\"]"]).unwrap();
        assert_eq!(c["Cmd"], Value::Null);
        let c = changed(json!({"Cmd": ["sh"]}), &["CMD [\"-b\"]", "ENTRYPOINT top"]).unwrap();
        assert_eq!(c["Cmd"], json!(["-b"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "top"]));
    }

    #[test]
    fn metadata_instructions_land_where_docker_puts_them() {
        let c = changed(json!({"WorkingDir": "/srv"}), &["WORKDIR app", "EXPOSE 80 53/udp 7000-7001", "LABEL a=b", "VOLUME /data", "USER 1000", "STOPSIGNAL SIGTERM", "ONBUILD RUN true", "HEALTHCHECK --retries=2 CMD true"]).unwrap();
        assert_eq!(c["WorkingDir"], json!("/srv/app"));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}, "7000/tcp": {}, "7001/tcp": {}}));
        assert_eq!(c["Labels"], json!({"a": "b"}));
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        assert_eq!(c["User"], json!("1000"));
        assert_eq!(c["StopSignal"], json!("SIGTERM"));
        assert_eq!(c["OnBuild"], json!(["RUN true"]));
        assert_eq!(c["Healthcheck"], json!({"Test": ["CMD-SHELL", "true"], "Retries": 2}));
    }

    #[test]
    fn instructions_commit_does_not_take_are_refused_by_name() {
        assert_eq!(changed(json!({}), &["RUN true"]).unwrap_err(), "RUN is not a valid change command");
        assert_eq!(changed(json!({}), &["from busybox"]).unwrap_err(), "from is not a valid change command");
        assert!(changed(json!({}), &["EXPOSE 80/bogus"]).unwrap_err().contains("invalid proto"));
    }

    #[test]
    fn healthcheck_changes_as_docker_parses_them() {
        assert_eq!(changed(json!({}), &[&format!("HEALTHCHECK {}", "NONE")]).unwrap()["Healthcheck"], json!({"Test": ["NONE"]}));
        assert_eq!(changed(json!({}), &[&format!("HEALTHCHECK {}", "--interval=100ms --retries=2 CMD wget -q -O- localhost")]).unwrap()["Healthcheck"], json!({"Test": ["CMD-SHELL", "wget -q -O- localhost"], "Interval": 100_000_000, "Retries": 2}));
        assert_eq!(changed(json!({}), &[&format!("HEALTHCHECK {}", "--timeout=1s --start-period=2s --start-interval=5ms CMD [\"true\", \"x\"]")]).unwrap()["Healthcheck"], json!({"Test": ["CMD", "true", "x"], "Timeout": 1_000_000_000i64, "StartPeriod": 2_000_000_000i64, "StartInterval": 5_000_000}));
        assert_eq!(changed(json!({}), &[&format!("HEALTHCHECK {}", "NONE x")]).unwrap_err(), "HEALTHCHECK NONE takes no arguments");
        assert_eq!(changed(json!({}), &[&format!("HEALTHCHECK {}", "CMD")]).unwrap_err(), "Missing command after HEALTHCHECK CMD");
        assert_eq!(changed(json!({}), &[&format!("HEALTHCHECK {}", "HTTP /")]).unwrap_err(), "Unknown type \"HTTP\" in HEALTHCHECK (try CMD)");
        assert_eq!(changed(json!({}), &[&format!("HEALTHCHECK {}", "--interval=1us CMD true")]).unwrap_err(), "Interval \"interval\" cannot be less than 1ms");
        assert_eq!(changed(json!({}), &[&format!("HEALTHCHECK {}", "--retries=-1 CMD true")]).unwrap_err(), "--retries cannot be negative (-1)");
        assert_eq!(changed(json!({}), &[&format!("HEALTHCHECK {}", "--bogus=1 CMD true")]).unwrap_err(), "unknown flag: --bogus");
    }
}
