//! `--init`: whether a container runs docker-init as its PID 1, which binary that is, and
//! the spec changes that put it there (Docker's: the binary bound read-only at
//! `/sbin/docker-init`, and `/sbin/docker-init -- ENTRYPOINT CMD...` as the process).

use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// Where the init binary appears inside the container.
pub const IN_CONTAINER_PATH: &str = "/sbin/docker-init";

/// The name `docker info` reports when no `--init-path` was given (Docker's default binary).
pub const DEFAULT_BINARY_NAME: &str = "docker-init";

/// HostConfig.Init must be a boolean or null, as Docker's JSON decoding demands.
pub fn validate(host_config: &Value) -> Result<(), String> {
    match host_config.get("Init") {
        None | Some(Value::Null) | Some(Value::Bool(_)) => Ok(()),
        Some(other) => Err(format!("json: cannot unmarshal {} into Go struct field HostConfig.HostConfig.Init of type bool", json_kind(other))),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        _ => "bool",
    }
}

/// Whether the container gets the init: its own HostConfig.Init when set, else the
/// daemon's `--init`; never when it shares another pid namespace (there is an init there).
pub fn wanted(host_config: &Value, daemon_default: bool) -> bool {
    let private_pid_namespace = host_config.get("PidMode").and_then(Value::as_str).unwrap_or("").is_empty();
    private_pid_namespace && host_config.get("Init").and_then(Value::as_bool).unwrap_or(daemon_default)
}

/// The init binary on the host: `--init-path` (an absolute path as given; a name looked up
/// in Docker's libexec directories, then in PATH), or this very executable.
pub fn binary(init_path: Option<&Path>) -> Result<PathBuf, String> {
    let Some(name) = init_path else { return Ok(crate::sys::self_exe()) };
    if name.is_absolute() {
        return Ok(name.to_path_buf());
    }
    let path_dirs = std::env::var_os("PATH").unwrap_or_default();
    let libexec = ["/usr/local/libexec/docker", "/usr/libexec/docker", "/usr/local/lib/docker", "/usr/lib/docker"].map(PathBuf::from);
    let in_path: Vec<PathBuf> = if name.components().count() > 1 { vec![PathBuf::new()] } else { std::env::split_paths(&path_dirs).collect() };
    libexec
        .iter()
        .chain(&in_path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable_file(candidate))
        .ok_or_else(|| format!("exec: \"{}\": executable file not found in $PATH", name.display()))
}

fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// What `docker info` shows as `InitBinary`: the `--init-path` given, or Docker's name.
pub fn binary_name(init_path: Option<&Path>) -> String {
    init_path.map(|p| p.display().to_string()).unwrap_or_else(|| DEFAULT_BINARY_NAME.to_string())
}

/// `(version, commit)` of the init binary, as dockerd reads them from `--version` (tini's
/// `tini version V - git.C`). Our own binary answers without being run.
pub fn version(init_path: Option<&Path>) -> Option<(String, String)> {
    let own = |line: &str| parse_version(line);
    let bin = binary(init_path).ok()?;
    if init_path.is_none() {
        return own(&crate::docker_init::version_line());
    }
    // Named docker-init, so that this executable under another name answers as the init.
    let out = std::process::Command::new(&bin).arg0(DEFAULT_BINARY_NAME).arg("--version").stdin(std::process::Stdio::null()).stderr(std::process::Stdio::null()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    own(&String::from_utf8_lossy(&out.stdout))
}

/// Docker's reading of a tini version line: the version after `tini version `, the commit
/// after ` - git.`; either may be missing, not both.
pub fn parse_version(line: &str) -> Option<(String, String)> {
    let mut parts = line.split(" - ");
    let head = parts.next().unwrap_or("").trim();
    let commit = parts.next().map(str::trim).and_then(|g| g.strip_prefix("git.")).filter(|c| !c.contains('.')).unwrap_or("").to_string();
    let version = head.strip_prefix("tini version ").unwrap_or("").to_string();
    (!version.is_empty() || !commit.is_empty()).then_some((version, commit))
}

/// Makes `spec` run the init: the binary bound read-only at /sbin/docker-init, and the
/// process `/sbin/docker-init -- ARGS...`.
pub fn apply(spec: &mut Value, binary: &Path) {
    let args = spec["process"]["args"].as_array().cloned().unwrap_or_default();
    let mut wrapped = vec![json!(IN_CONTAINER_PATH), json!("--")];
    wrapped.extend(args);
    spec["process"]["args"] = Value::Array(wrapped);
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        mounts.push(json!({"destination": IN_CONTAINER_PATH, "type": "bind", "source": binary, "options": ["bind", "ro"]}));
    }
}

impl super::Daemon {
    /// The container's spec with the init put in, when it gets one.
    pub(super) fn with_init(&self, c: &super::container::Container, mut spec: Value) -> Result<Value, super::errors::ApiError> {
        if wanted(&c.host_config, self.opts.init) {
            let bin = binary(self.opts.init_path.as_deref()).map_err(super::errors::ApiError::internal)?;
            apply(&mut spec, &bin);
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_setting_wins_over_the_daemon_default() {
        assert!(!wanted(&json!({}), false));
        assert!(wanted(&json!({}), true));
        assert!(wanted(&json!({"Init": null}), true));
        assert!(wanted(&json!({"Init": true}), false));
        assert!(!wanted(&json!({"Init": false}), true));
        assert!(!wanted(&json!({"Init": true, "PidMode": "host"}), true));
    }

    #[test]
    fn init_must_be_a_boolean() {
        assert!(validate(&json!({"Init": true})).is_ok());
        assert!(validate(&json!({"Init": null})).is_ok());
        assert_eq!(validate(&json!({"Init": "yes"})).unwrap_err(), "json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Init of type bool");
    }

    #[test]
    fn the_spec_runs_the_init_before_the_command() {
        let mut spec = json!({"process": {"args": ["sh", "-c", "exit 3"]}, "mounts": [{"destination": "/proc"}]});
        apply(&mut spec, Path::new("/usr/bin/dockbox"));
        assert_eq!(spec["process"]["args"], json!(["/sbin/docker-init", "--", "sh", "-c", "exit 3"]));
        assert_eq!(spec["mounts"][1], json!({"destination": "/sbin/docker-init", "type": "bind", "source": "/usr/bin/dockbox", "options": ["bind", "ro"]}));
    }

    #[test]
    fn binary_default_and_lookup() {
        assert_eq!(binary(None).unwrap(), crate::sys::self_exe());
        assert_eq!(binary(Some(Path::new("/nonexistent/tini"))).unwrap(), PathBuf::from("/nonexistent/tini"));
        assert_eq!(binary(Some(Path::new("no-such-init-here"))).unwrap_err(), "exec: \"no-such-init-here\": executable file not found in $PATH");
        assert_eq!(binary(Some(Path::new("sh"))).unwrap().file_name().unwrap(), "sh");
        assert_eq!(binary_name(None), "docker-init");
        assert_eq!(binary_name(Some(Path::new("/usr/bin/tini"))), "/usr/bin/tini");
    }

    #[test]
    fn versions_as_docker_reads_them() {
        assert_eq!(parse_version("tini version 0.18.0 - git.fec3683\n"), Some(("0.18.0".into(), "fec3683".into())));
        assert_eq!(parse_version("tini version 0.19.0\n"), Some(("0.19.0".into(), String::new())));
        assert_eq!(parse_version("tini version 0.19.0 (dockbox 0.1.0) - git.abc1234"), Some(("0.19.0 (dockbox 0.1.0)".into(), "abc1234".into())));
        assert_eq!(parse_version("something else"), None);
        assert!(version(None).is_some_and(|(v, _)| v.starts_with("0.19.0 (dockbox ")));
    }
}
