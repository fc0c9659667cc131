//! The container verbs beside the life cycle: pause and unpause (containerd's `pause` and
//! `resume`), rename, top, and prune, with Docker's conflicts and messages.

use super::container::{valid_name, Container};
use super::filters::{created_before, labels_of, Filters};
use super::errors::ApiError;
use super::{Daemon, Entry};
use serde_json::{json, Value};
use std::sync::Arc;

/// The filters `POST /containers/prune` accepts.
pub const PRUNE_FILTERS: &[&str] = &["label", "label!", "until"];

impl Daemon {
    /// POST /containers/{id}/pause.
    pub fn pause(&self, entry: &Arc<Entry>) -> Result<(), ApiError> {
        let mut slot = entry.lock();
        let id = slot.c.id.clone();
        if !slot.c.state.running {
            return Err(ApiError::conflict(format!("Container {id} is not running")));
        }
        if slot.c.state.paused {
            return Err(ApiError::conflict(format!("Container {id} is already paused")));
        }
        self.containerd_call(|c| c.pause(&id)).map_err(|e| ApiError::internal(format!("Cannot pause container {id}: {}", e.message)))?;
        slot.c.set_paused(true);
        self.health_update(entry, &mut slot.c);
        let _ = slot.c.save_state(&self.opts.data_root);
        self.events.container(&slot.c, "pause", &[]);
        entry.notify();
        Ok(())
    }

    /// POST /containers/{id}/unpause.
    pub fn unpause(&self, entry: &Arc<Entry>) -> Result<(), ApiError> {
        let mut slot = entry.lock();
        let id = slot.c.id.clone();
        if !slot.c.state.running || !slot.c.state.paused {
            return Err(ApiError::conflict(format!("Container {id} is not paused")));
        }
        self.containerd_call(|c| c.resume(&id)).map_err(|e| ApiError::internal(format!("Cannot unpause container {id}: {}", e.message)))?;
        slot.c.set_paused(false);
        self.health_update(entry, &mut slot.c);
        let _ = slot.c.save_state(&self.opts.data_root);
        self.events.container(&slot.c, "unpause", &[]);
        entry.notify();
        Ok(())
    }

    /// After `signal` went to a paused container: thaws it, as Docker does, so stop, kill and
    /// rm -f finish — for SIGKILL, the container's own stop signal, or any signal when the
    /// container names none.
    pub(super) fn thaw_after_signal(&self, entry: &Arc<Entry>, signal: i32) {
        let mut slot = entry.lock();
        if !slot.c.state.running || !slot.c.state.paused {
            return;
        }
        let own = slot.c.config.get("StopSignal").and_then(Value::as_str).filter(|s| !s.is_empty()).and_then(crate::signals::parse_signal);
        if signal != libc::SIGKILL && own.is_some_and(|own| own != signal) {
            return;
        }
        let id = slot.c.id.clone();
        match self.containerd_call(|c| c.resume(&id)) {
            Ok(()) => {
                slot.c.set_paused(false);
                self.health_update(entry, &mut slot.c);
                let _ = slot.c.save_state(&self.opts.data_root);
                self.events.container(&slot.c, "unpause", &[]);
            }
            Err(e) => crate::log::line(crate::log::Level::Warn, &format!("thawing the container after signal {signal}"), &[("container", &id), ("error", &e.message)]),
        }
    }

    /// POST /containers/{id}/rename?name=.
    pub fn rename(&self, entry: &Arc<Entry>, new_name: &str) -> Result<(), ApiError> {
        let bare = new_name.trim_start_matches('/');
        if bare.is_empty() {
            return Err(ApiError::bad_request("Neither old nor new names may be empty"));
        }
        if !valid_name(bare) {
            return Err(ApiError::bad_request(format!("Invalid container name ({bare}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")));
        }
        let slashed = format!("/{bare}");
        // Names are taken under the create lock, as create takes them.
        let _names = self.create_lock.lock().unwrap_or_else(|e| e.into_inner());
        let own_id = entry.lock().c.id.clone();
        for other in self.containers() {
            let o = other.lock();
            if o.c.id != own_id && o.c.name == slashed {
                return Err(ApiError::conflict(format!(
                    "Conflict. The container name \"{slashed}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    o.c.id
                )));
            }
        }
        let mut slot = entry.lock();
        if slot.removed {
            return Err(ApiError::not_found(format!("No such container: {own_id}")));
        }
        let old = slot.c.name.clone();
        if old == slashed {
            return Err(ApiError::bad_request("Renaming a container with the same name as its current name"));
        }
        slot.c.name = slashed;
        if let Err(e) = slot.c.save_state(&self.opts.data_root) {
            slot.c.name = old;
            return Err(ApiError::internal(format!("Error when allocating new name: {e}")));
        }
        self.events.container(&slot.c, "rename", &[("oldName", &old)]);
        Ok(())
    }

    /// The container's cgroup, where dockerd asked runc to make it.
    pub(super) fn cgroup_of(c: &Container) -> Result<crate::cgroups::Cgroup, ApiError> {
        crate::cgroups::Cgroup::resolve(Some(&super::resources::cgroups_path(&c.host_config, &c.id)), &c.id).map_err(ApiError::internal)
    }

    /// GET /containers/{id}/top?ps_args=: the host's `ps` rows of the container's processes.
    pub fn top(&self, entry: &Arc<Entry>, ps_args: &str) -> Result<Value, ApiError> {
        let slot = entry.lock();
        if !slot.c.state.running {
            return Err(ApiError::conflict(format!("Container {} is not running", slot.c.id)));
        }
        if slot.c.state.restarting {
            return Err(ApiError::conflict(format!("Container {} is restarting, wait until the container is running", slot.c.id)));
        }
        let pids = Self::cgroup_of(&slot.c)?.pids().map_err(ApiError::internal)?;
        self.events.container(&slot.c, "top", &[]);
        drop(slot);
        let ps_args = if ps_args.is_empty() { "-ef" } else { ps_args };
        check_ps_args(ps_args).map_err(ApiError::internal)?;
        let args: Vec<&str> = ps_args.split(' ').collect();
        // `-q` lets ps read only the container's processes; some options refuse it (`f`).
        let only = format!("-q{}", pids.iter().map(i32::to_string).collect::<Vec<_>>().join(","));
        let run = |extra: Option<&str>| std::process::Command::new("ps").args(&args).args(extra).output();
        let out = match run(Some(&only)) {
            Ok(o) if o.status.success() => o,
            _ => run(None).map_err(|e| ApiError::internal(format!("ps: {e}")))?,
        };
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(ApiError::internal(format!("ps: {}", stderr.lines().next().filter(|l| !l.is_empty()).map(str::to_string).unwrap_or_else(|| format!("exit status {}", out.status.code().unwrap_or(-1))))));
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids).map_err(ApiError::internal)
    }

    /// POST /containers/prune: every container that is not running, within the filters.
    pub fn prune_containers(&self, filters: &Filters) -> Result<Value, ApiError> {
        static RUNNING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if RUNNING.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(ApiError::conflict("a prune operation is already running"));
        }
        let result = self.prune_containers_now(filters);
        RUNNING.store(false, std::sync::atomic::Ordering::SeqCst);
        result
    }

    fn prune_containers_now(&self, filters: &Filters) -> Result<Value, ApiError> {
        filters.validate(PRUNE_FILTERS)?;
        let until = filters.until()?;
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for entry in self.containers() {
            let (id, mount_id) = {
                let s = entry.lock();
                if s.c.state.running || s.removed || !filters.match_labels(&labels_of(s.c.config.get("Labels"))) {
                    continue;
                }
                if until.is_some_and(|u| !created_before(&s.c.created, u)) {
                    continue;
                }
                (s.c.id.clone(), s.c.mount_id.clone())
            };
            let size = self.snapshots.rw_size(&mount_id);
            match self.remove(&entry, false) {
                Ok(()) => {
                    deleted.push(id);
                    reclaimed += size;
                }
                Err(e) => crate::log::line(crate::log::Level::Warn, "failed to prune container", &[("container", &id), ("error", &e.message)]),
            }
        }
        self.events.log("container", "prune", "", [("reclaimed".to_string(), reclaimed.to_string())].into());
        Ok(json!({"ContainersDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) }, "SpaceReclaimed": reclaimed}))
    }
}

/// Docker refuses ps arguments that rename the PID column (`-o x=PID`): rows are matched by it.
fn check_ps_args(ps_args: &str) -> Result<(), String> {
    let words: Vec<&str> = ps_args.split_ascii_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let Some((k, v)) = w.split_once('=') else { continue };
        let v = if v.is_empty() { words.get(i + 1).copied().unwrap_or("") } else { v };
        if v.starts_with("PID") && k != "pid" && i > 0 {
            return Err(format!("specifying \"{k}={v}\" is not allowed"));
        }
    }
    Ok(())
}

/// `ps` output → Docker's `{Titles, Processes}`, keeping the rows of `pids` (and the thread
/// rows, PID `-`, under them). Each row has as many fields as there are titles, the last one
/// the rest of the line's words (the command).
fn parse_ps(output: &str, pids: &[i32]) -> Result<Value, String> {
    let ascii_fields = |l: &str| l.split([' ', '\t', '\n', '\x0c', '\r']).filter(|f| !f.is_empty()).map(str::to_string).collect::<Vec<_>>();
    let mut lines = output.split('\n');
    let titles = ascii_fields(lines.next().unwrap_or_default());
    let pid_col = titles.iter().position(|t| t == "PID").ok_or("Couldn't find PID field in ps output")?;
    let row = |mut fields: Vec<String>| {
        let rest = fields.split_off((titles.len() - 1).min(fields.len())).join(" ");
        fields.push(rest);
        fields
    };
    let mut processes = Vec::new();
    let mut under_ours = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let fields = ascii_fields(line);
        let Some(pid_field) = fields.get(pid_col) else { continue };
        if pid_field == "-" {
            if under_ours {
                processes.push(row(fields));
            }
            continue;
        }
        let pid: i32 = pid_field.parse().map_err(|e| format!("Unexpected pid '{pid_field}': {e}"))?;
        under_ours = pids.contains(&pid);
        if under_ours {
            processes.push(row(fields));
        }
    }
    Ok(json!({"Titles": titles, "Processes": processes}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_are_kept_by_pid_with_the_command_whole() {
        let out = "UID          PID    PPID  C STIME TTY          TIME CMD\nroot         1       0  0 10:00 ?        00:00:01 /sbin/init\nroot       412       1  0 10:01 ?        00:00:00 sleep 1000 --x\n";
        let v = parse_ps(out, &[412]).unwrap();
        assert_eq!(v["Titles"].as_array().unwrap().len(), 8);
        assert_eq!(v["Processes"], json!([["root", "412", "1", "0", "10:01", "?", "00:00:00", "sleep 1000 --x"]]));
        assert!(parse_ps("USER COMMAND\nroot sh\n", &[1]).is_err());
        assert!(check_ps_args("-o pid,comm").is_ok());
        assert_eq!(check_ps_args("-o user=PID").unwrap_err(), "specifying \"user=PID\" is not allowed");
    }

    #[test]
    fn thread_rows_follow_their_process() {
        let out = "PID TID CMD\n7 - sleep\n- 7 -\n9 - other\n- 9 -\n";
        let v = parse_ps(out, &[7]).unwrap();
        assert_eq!(v["Processes"], json!([["7", "-", "sleep"], ["-", "7", "-"]]));
    }
}
