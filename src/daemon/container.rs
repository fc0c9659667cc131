//! A container as dockerd keeps it: its configuration, its state machine, and the files under
//! `<data-root>/containers/<id>/` (config.v2.json and hostconfig.json in Docker's shape).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Docker's zero time, printed for times that never happened.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: u32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    /// The health check's state (`daemon::health`), for containers with a check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::healthcheck::Health>,
}

impl Default for State {
    fn default() -> State {
        State {
            status: "created".into(),
            running: false,
            paused: false,
            restarting: false,
            oom_killed: false,
            dead: false,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            health: None,
        }
    }
}

/// What config.v2.json holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Container {
    #[serde(rename = "ID")]
    pub id: String,
    /// With the leading slash, as Docker stores it.
    pub name: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    /// The container's Config (image defaults merged in), in the Engine API's shape.
    pub config: Value,
    pub state: State,
    /// The image id, `sha256:<hex>`.
    pub image: String,
    pub driver: String,
    /// The snapshot (overlay2 layer) the container's root filesystem is.
    #[serde(rename = "MountID")]
    pub mount_id: String,
    pub restart_count: u32,
    pub has_been_started_before: bool,
    /// Stopped or killed through the API (not by a daemon shutdown): `unless-stopped` then
    /// leaves it stopped.
    #[serde(default)]
    pub has_been_manually_stopped: bool,
    /// The exit that comes is the one `docker stop`/`kill` asked for: no restart follows.
    #[serde(skip)]
    pub restart_canceled: bool,
    pub hostname_path: String,
    pub hosts_path: String,
    pub resolv_conf_path: String,
    pub log_path: String,
    #[serde(default)]
    pub network_settings: super::net_settings::NetworkSettings,
    /// What is mounted into it (`daemon::mounts`), planned at create.
    #[serde(default)]
    pub mount_points: Vec<super::mounts::MountPoint>,
    /// Not saved in config.v2.json: hostconfig.json holds it.
    #[serde(skip)]
    pub host_config: Value,
}

impl Container {
    pub fn dir(root: &Path, id: &str) -> PathBuf {
        root.join("containers").join(id)
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    pub fn auto_remove(&self) -> bool {
        self.host_config.get("AutoRemove").and_then(Value::as_bool).unwrap_or(false)
    }

    pub fn tty(&self) -> bool {
        self.config.get("Tty").and_then(Value::as_bool).unwrap_or(false)
    }

    pub fn open_stdin(&self) -> bool {
        self.config.get("OpenStdin").and_then(Value::as_bool).unwrap_or(false)
    }

    /// The log driver (`json-file` when unset) and its options.
    pub fn log_config(&self) -> (String, serde_json::Map<String, Value>) {
        let log = self.host_config.get("LogConfig");
        let driver = log.and_then(|l| l.get("Type")).and_then(Value::as_str).filter(|t| !t.is_empty()).unwrap_or("json-file");
        let opts = log.and_then(|l| l.get("Config")).and_then(Value::as_object).cloned().unwrap_or_default();
        (driver.to_string(), opts)
    }

    /// What the log driver knows of the container.
    pub fn log_info(&self, root: &Path) -> crate::logger::Info {
        let strs = |key: &str| -> Vec<String> { self.config.get(key).and_then(Value::as_array).map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default() };
        let labels = self.config.get("Labels").and_then(Value::as_object).map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()).unwrap_or_default();
        crate::logger::Info {
            id: self.id.clone(),
            name: self.name.clone(),
            entrypoint: self.path.clone(),
            args: self.args.clone(),
            image_id: self.image.clone(),
            image_name: self.image_name(),
            env: strs("Env"),
            labels,
            dir: Container::dir(root, &self.id),
        }
    }

    /// Opens the container's log driver for a run.
    pub fn open_logger(&self, root: &Path) -> Result<crate::logger::Logger, String> {
        let (driver, opts) = self.log_config();
        crate::logger::Logger::open(&driver, &opts, &self.log_info(root))
    }

    /// How `docker logs` reads the output back; `None` when the driver cannot (`none`, or
    /// syslog without its local cache).
    pub fn log_reader(&self, root: &Path) -> Option<crate::logger::Reader> {
        let (driver, opts) = self.log_config();
        crate::logger::Reader::for_container(&driver, &opts, &Container::dir(root, &self.id), &self.id)
    }

    /// The image name the user asked for (`Config.Image`).
    pub fn image_name(&self) -> String {
        self.config.get("Image").and_then(Value::as_str).unwrap_or_default().to_string()
    }

    /// Writes hostconfig.json, then config.v2.json, atomically and durably: once this returns
    /// the container exists for a daemon started after a power cut.
    pub fn save(&self, root: &Path) -> io::Result<()> {
        self.save_host_config(root)?;
        self.save_config(root)
    }

    /// hostconfig.json, durably: before config.v2.json, which makes the container.
    pub fn save_host_config(&self, root: &Path) -> io::Result<()> {
        let dir = Container::dir(root, &self.id);
        crate::sys::write_atomic(&dir.join("hostconfig.json"), &serde_json::to_vec(&self.host_config).map_err(io::Error::other)?)
    }

    /// config.v2.json, durably.
    pub fn save_config(&self, root: &Path) -> io::Result<()> {
        self.prepare_config(root, crate::sys::Flush::DataAndName)?.commit()
    }

    /// config.v2.json written beside its place, to be renamed in by `commit`.
    pub fn prepare_config(&self, root: &Path, flush: crate::sys::Flush) -> io::Result<crate::sys::PreparedWrite> {
        let dir = Container::dir(root, &self.id);
        crate::sys::PreparedWrite::new(&dir.join("config.v2.json"), &serde_json::to_vec(self).map_err(io::Error::other)?, flush)
    }

    /// Rewrites config.v2.json after a change of state (hostconfig.json changes only at
    /// create and update). Whole, but its rename not forced to disk: after a power cut the container comes
    /// back in its previous state or this one, and no process of it runs either way.
    pub fn save_state(&self, root: &Path) -> io::Result<()> {
        self.prepare_config(root, crate::sys::Flush::Data)?.commit()
    }

    /// Deletes config.v2.json durably: the container no longer exists for a restarted
    /// daemon, whatever is left of its directory.
    pub fn forget(dir: &Path) -> io::Result<()> {
        crate::durable::step_at("unlink", &dir.join("config.v2.json"));
        match std::fs::remove_file(dir.join("config.v2.json")) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        crate::durable::fsync_dir(dir)
    }

    pub fn load(dir: &Path) -> io::Result<Container> {
        let mut c: Container = serde_json::from_slice(&std::fs::read(dir.join("config.v2.json"))?).map_err(io::Error::other)?;
        c.host_config = std::fs::read(dir.join("hostconfig.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| json!({}));
        Ok(c)
    }

    pub fn set_running(&mut self, pid: u32) {
        let health = self.state.health.take();
        self.state = State {
            health,
            status: "running".into(),
            running: true,
            pid,
            started_at: crate::sys::rfc3339_nanos(SystemTime::now()),
            finished_at: ZERO_TIME.into(),
            ..State::default()
        };
        self.has_been_started_before = true;
    }

    /// Frozen by `pause` (still running, as Docker counts it) or thawed by `unpause`.
    pub fn set_paused(&mut self, paused: bool) {
        self.state.paused = paused;
        self.state.status = if paused { "paused".into() } else { "running".into() };
    }

    pub fn set_exited(&mut self, exit_code: i32, finished_at: &str) {
        self.state.status = "exited".into();
        self.state.running = false;
        self.state.paused = false;
        self.state.restarting = false;
        self.state.pid = 0;
        self.state.exit_code = exit_code;
        self.state.finished_at = finished_at.to_string();
    }

    /// Records a failed start the way Docker does: exited with the code the error implies.
    pub fn set_start_error(&mut self, message: &str, exit_code: i32) {
        self.state.status = if self.has_been_started_before { "exited".into() } else { "created".into() };
        self.state.running = false;
        self.state.restarting = false;
        self.state.pid = 0;
        self.state.error = message.to_string();
        self.state.exit_code = exit_code;
    }

    /// `docker ps`'s STATUS column.
    pub fn status_text(&self, now: SystemTime) -> String {
        match self.state.status.as_str() {
            "running" => {
                let up = format!("Up {}", crate::units::human_duration(since(&self.state.started_at, now)));
                match &self.state.health {
                    Some(h) => format!("{up} ({})", h.describe()),
                    None => up,
                }
            }
            "paused" => format!("Up {} (Paused)", crate::units::human_duration(since(&self.state.started_at, now))),
            "exited" => format!("Exited ({}) {} ago", self.state.exit_code, crate::units::human_duration(since(&self.state.finished_at, now))),
            "restarting" => format!("Restarting ({}) {} ago", self.state.exit_code, crate::units::human_duration(since(&self.state.finished_at, now))),
            "created" => "Created".into(),
            "removing" => "Removal In Progress".into(),
            "dead" => "Dead".into(),
            other => other.to_string(),
        }
    }

    /// `docker ps`'s COMMAND: arguments holding a space are quoted, as Docker does.
    fn command_line(&self) -> String {
        let mut parts = vec![self.path.clone()];
        parts.extend(self.args.iter().map(|a| if a.contains(' ') { format!("'{a}'") } else { a.clone() }));
        parts.join(" ")
    }

    /// One entry of GET /containers/json.
    pub fn summary(&self, image_id: &str, now: SystemTime) -> Value {
        json!({
            "Id": self.id,
            "Names": [self.name],
            "Image": self.image_name(),
            "ImageID": image_id,
            "Command": self.command_line(),
            "Created": unix_seconds(&self.created),
            "Ports": if self.state.running { self.network_settings.summary_ports() } else { json!([]) },
            "Labels": self.config.get("Labels").cloned().filter(|l| !l.is_null()).unwrap_or_else(|| json!({})),
            "State": self.state.status,
            "Status": self.status_text(now),
            "HostConfig": {"NetworkMode": self.host_config.get("NetworkMode").cloned().unwrap_or_else(|| json!("default"))},
            "NetworkSettings": self.network_settings.summary_networks(),
            "Mounts": self.mount_points(),
        })
    }

    /// inspect's `Mounts`: the container's mount points, as Docker lists them.
    fn mount_points(&self) -> Value {
        Value::Array(self.mount_points.iter().map(|m| m.to_api()).collect())
    }

    /// GET /containers/{id}/json.
    pub fn inspect(&self, data_root: &Path) -> Value {
        let layer = data_root.join("overlay2").join(&self.mount_id);
        let mut v = json!({
            "Id": self.id,
            "Created": self.created,
            "Path": self.path,
            "Args": self.args,
            "State": {
                "Status": self.state.status,
                // As Docker's: a container waiting to be restarted counts as running.
                "Running": self.state.running || self.state.restarting,
                "Paused": self.state.paused,
                "Restarting": self.state.restarting,
                "OOMKilled": self.state.oom_killed,
                "Dead": self.state.dead,
                "Pid": self.state.pid,
                "ExitCode": self.state.exit_code,
                "Error": self.state.error,
                "StartedAt": self.state.started_at,
                "FinishedAt": self.state.finished_at,
            },
            "Image": self.image,
            "ResolvConfPath": self.resolv_conf_path,
            "HostnamePath": self.hostname_path,
            "HostsPath": self.hosts_path,
            "LogPath": self.log_path,
            "Name": self.name,
            "RestartCount": self.restart_count,
            "Driver": self.driver,
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": null,
            "HostConfig": self.host_config,
            "GraphDriver": {
                "Name": self.driver,
                "Data": {
                    "LowerDir": format!("{}-init/diff", layer.display()),
                    "MergedDir": layer.join("merged"),
                    "UpperDir": layer.join("diff"),
                    "WorkDir": layer.join("work"),
                },
            },
            "Mounts": self.mount_points(),
            "Config": self.config,
            "NetworkSettings": self.network_settings.to_api(self.state.running),
        });
        if let Some(h) = &self.state.health {
            v["State"]["Health"] = json!(h);
        }
        v
    }

    /// The health the `health` filter of the list sees: `none` without a check.
    pub fn health_status(&self) -> &str {
        self.state.health.as_ref().map(|h| h.status()).unwrap_or("none")
    }
}

fn since(time: &str, now: SystemTime) -> std::time::Duration {
    crate::sys::parse_rfc3339(time).and_then(|t| now.duration_since(t).ok()).unwrap_or_default()
}

pub fn unix_seconds(time: &str) -> i64 {
    crate::sys::parse_rfc3339(time)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Whether `name` (without the slash) is a name Docker accepts.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn names_follow_docker_rules() {
        assert!(valid_name("web_1.a-b"));
        assert!(!valid_name("a"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a b"));
    }
}
