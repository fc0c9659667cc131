//! Restart policies (`--restart no|always|unless-stopped|on-failure[:N]`), as Docker's restart
//! manager applies them: after an exit the container is started again after a backoff of
//! 100 ms, doubled at each restart up to one minute, and back to 100 ms after a run of ten
//! seconds or more. `docker stop` cancels the restart; `docker kill` does not, but counts as a
//! manual stop for `unless-stopped`. At daemon start, containers whose policy asks for it are
//! started again. One thread (`run`) starts the containers whose backoff is over.

use super::container::Container;
use super::{Daemon, Entry};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run this long resets the backoff.
const RESET_AFTER: Duration = Duration::from_secs(10);

/// The policy's name and maximum retry count.
pub fn policy(host_config: &Value) -> (String, i64) {
    let p = host_config.get("RestartPolicy");
    let name = p.and_then(|p| p.get("Name")).and_then(Value::as_str).unwrap_or("").to_string();
    let max = p.and_then(|p| p.get("MaximumRetryCount")).and_then(Value::as_i64).unwrap_or(0);
    (name, max)
}

/// Whether a container that exited with `exit_code` is to be started again, `restarts`
/// being how often it was restarted since it was last started by hand.
pub fn wanted(c: &Container, exit_code: i32, restarts: i64) -> bool {
    let (name, max) = policy(&c.host_config);
    match name.as_str() {
        "always" => true,
        "unless-stopped" => !c.has_been_manually_stopped,
        "on-failure" => exit_code != 0 && (max == 0 || restarts < max),
        _ => false,
    }
}

/// The restarts waiting for their backoff, and each container's current backoff and count of
/// restarts since its last start by hand.
pub struct Scheduler {
    due: Mutex<Sender<(String, Instant)>>,
    delays: Mutex<HashMap<String, (Duration, i64)>>,
    shutting_down: AtomicBool,
    /// dockerd follows containerd's events: a container started now has its exit seen.
    events_followed: AtomicBool,
}

impl Scheduler {
    pub fn new() -> (Scheduler, Receiver<(String, Instant)>) {
        let (tx, rx) = channel();
        (Scheduler { due: Mutex::new(tx), delays: Mutex::default(), shutting_down: AtomicBool::new(false), events_followed: AtomicBool::new(false) }, rx)
    }

    /// From now on no exit leads to a restart, and stops are not the user's.
    pub fn shut_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn events_followed(&self) {
        self.events_followed.store(true, Ordering::SeqCst);
    }

    pub fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Called on an exit, under the container's lock, once its state says exited: when the
    /// policy asks for a restart, marks the container restarting and schedules its start.
    pub fn after_exit(&self, c: &mut Container, exit_code: i32) {
        let mut delays = self.delays.lock().unwrap_or_else(|e| e.into_inner());
        let restarts = delays.get(&c.id).map(|d| d.1).unwrap_or(0);
        if self.shutting_down() || c.restart_canceled || !wanted(c, exit_code, restarts) {
            delays.remove(&c.id);
            return;
        }
        let ran = match (crate::sys::parse_rfc3339(&c.state.started_at), crate::sys::parse_rfc3339(&c.state.finished_at)) {
            (Some(s), Some(f)) => f.duration_since(s).unwrap_or_default(),
            _ => Duration::ZERO,
        };
        let (delay, count) = delays.entry(c.id.clone()).or_insert((Duration::ZERO, 0));
        if ran >= RESET_AFTER {
            *delay = Duration::ZERO;
        }
        *delay = if delay.is_zero() { FIRST_DELAY } else { (*delay * 2).min(MAX_DELAY) };
        *count += 1;
        let at = Instant::now() + *delay;
        drop(delays);
        c.restart_count += 1;
        c.state.restarting = true;
        c.state.status = "restarting".into();
        let _ = self.due.lock().unwrap_or_else(|e| e.into_inner()).send((c.id.clone(), at));
    }

    /// A manual start or a removal: the backoff starts again from the first delay.
    pub fn forget(&self, id: &str) {
        self.delays.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

/// Starts each scheduled container once its backoff is over, unless it was stopped, removed
/// or started meanwhile.
pub fn run(d: Arc<Daemon>, due: Receiver<(String, Instant)>) {
    let mut waiting: Vec<(String, Instant)> = Vec::new();
    loop {
        let next = waiting.iter().map(|(_, at)| *at).min();
        let received = match next {
            Some(at) => due.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => due.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(item) => waiting.push(item),
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        let (ready, later): (Vec<_>, Vec<_>) = waiting.drain(..).partition(|(_, at)| *at <= now);
        waiting = later;
        for (id, _) in ready {
            let Some(entry) = d.get(&id) else { continue };
            let still_wanted = {
                let s = entry.lock();
                !s.removed && s.c.state.restarting && !s.c.state.running
            };
            if still_wanted && !d.restarts.shutting_down() {
                let d = d.clone();
                std::thread::spawn(move || restart(&d, &entry));
            }
        }
    }
}

fn restart(d: &Daemon, entry: &Arc<Entry>) {
    if let Err(e) = d.start_for_restart(entry) {
        crate::log::line(crate::log::Level::Error, "failed to restart container", &[("container", &entry.lock().c.id), ("error", &e.message)]);
    }
}

/// At daemon start: the containers that are not running and whose policy asks for a start
/// (`always`, `unless-stopped` unless stopped by hand, `on-failure` after a failure), each on a
/// thread of its own, after the containers it depends on (its links, the containers whose
/// network, IPC or PID namespace it joins) that are started too, as Docker does: a container
/// joining another's network namespace cannot start before it. A dependency that takes more
/// than five seconds is not waited for further (Docker's limit), so a circle never hangs.
pub fn start_at_boot(d: &Arc<Daemon>) {
    let wanted_now: Vec<Arc<Entry>> = d
        .containers()
        .into_iter()
        .filter(|e| {
            let s = e.lock();
            let c = &s.c;
            !c.state.running && c.has_been_started_before && !c.auto_remove() && {
                let (name, _) = policy(&c.host_config);
                match name.as_str() {
                    "always" => true,
                    "unless-stopped" => !c.has_been_manually_stopped,
                    "on-failure" => wanted(c, c.state.exit_code, 0),
                    _ => false,
                }
            }
        })
        .collect();
    if wanted_now.is_empty() {
        return;
    }
    let ids: HashSet<String> = wanted_now.iter().map(|e| e.lock().c.id.clone()).collect();
    let starting: Vec<(Arc<Entry>, Vec<String>)> = wanted_now
        .into_iter()
        .map(|e| {
            let names = dependencies(&e.lock().c);
            let deps = names.iter().filter_map(|n| d.find(n).ok()).map(|dep| dep.lock().c.id.clone()).filter(|id| ids.contains(id)).collect();
            (e, deps)
        })
        .collect();
    let d = d.clone();
    std::thread::spawn(move || {
        // Not before dockerd follows containerd's events: an exit before that would be missed.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !d.restarts.events_followed.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let started = Arc::new((Mutex::new(HashSet::<String>::new()), Condvar::new()));
        std::thread::scope(|scope| {
            for (e, deps) in &starting {
                let (d, started) = (&d, &started);
                let spawned = std::thread::Builder::new().stack_size(256 * 1024).spawn_scoped(scope, move || {
                    let (done, changed) = &**started;
                    let give_up = Instant::now() + DEPENDENCY_WAIT;
                    let mut done_now = done.lock().unwrap_or_else(|e| e.into_inner());
                    while !deps.iter().all(|dep| done_now.contains(dep)) && Instant::now() < give_up {
                        done_now = changed.wait_timeout(done_now, give_up.saturating_duration_since(Instant::now())).unwrap_or_else(|e| e.into_inner()).0;
                    }
                    drop(done_now);
                    let id = start_one_at_boot(d, e);
                    done.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
                    changed.notify_all();
                });
                if let Err(err) = spawned {
                    crate::log::error(&format!("starting a container at boot: {err}"));
                }
            }
        });
    });
}

/// How long a container started at boot waits for those it depends on.
const DEPENDENCY_WAIT: Duration = Duration::from_secs(5);

/// The names (or ids) of the containers `c` needs running before it starts.
fn dependencies(c: &Container) -> Vec<String> {
    let mut names: Vec<String> = c.host_config.get("Links").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
    names.extend(c.network_settings.networks.values().filter_map(|ep| ep.links.clone()).flatten());
    let mut names: Vec<String> = names.iter().map(|link| link.split(':').next().unwrap_or_default().trim_start_matches('/').to_string()).collect();
    for mode in ["NetworkMode", "IpcMode", "PidMode"] {
        if let Some(other) = c.host_config.get(mode).and_then(Value::as_str).and_then(|m| m.strip_prefix("container:")) {
            names.push(other.to_string());
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

/// Starts one container at boot; its id, for those waiting on it.
fn start_one_at_boot(d: &Daemon, e: &Arc<Entry>) -> String {
    let id = {
        let mut s = e.lock();
        if s.removed || s.c.state.running {
            return s.c.id.clone();
        }
        s.c.state.restarting = true;
        s.c.id.clone()
    };
    restart(d, e);
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn container(policy: Value, restart_count: u32, manually_stopped: bool) -> Container {
        let mut c: Container = serde_json::from_value(json!({
            "ID": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "Name": "/x", "Created": "",
            "Path": "sh", "Args": [], "Config": {}, "State": {"Status": "exited", "Running": false, "Paused": false,
            "Restarting": false, "OOMKilled": false, "Dead": false, "Pid": 0, "ExitCode": 0, "Error": "",
            "StartedAt": "2026-01-01T00:00:00Z", "FinishedAt": "2026-01-01T00:00:01Z"}, "Image": "", "Driver": "overlay2",
            "MountID": "m", "RestartCount": restart_count, "HasBeenStartedBefore": true, "HostnamePath": "",
            "HostsPath": "", "ResolvConfPath": "", "LogPath": "", "HasBeenManuallyStopped": manually_stopped
        }))
        .unwrap();
        c.host_config = json!({"RestartPolicy": policy});
        c
    }

    #[test]
    fn policies_decide_as_dockers_restart_manager() {
        assert!(wanted(&container(json!({"Name": "always"}), 0, true), 0, 9));
        assert!(!wanted(&container(json!({"Name": "unless-stopped"}), 0, true), 1, 0));
        assert!(wanted(&container(json!({"Name": "unless-stopped"}), 0, false), 0, 0));
        assert!(!wanted(&container(json!({"Name": "on-failure"}), 0, false), 0, 0));
        assert!(wanted(&container(json!({"Name": "on-failure", "MaximumRetryCount": 2}), 5, false), 3, 1));
        assert!(!wanted(&container(json!({"Name": "on-failure", "MaximumRetryCount": 2}), 5, false), 3, 2));
        assert!(!wanted(&container(json!({"Name": "no"}), 0, false), 1, 0));
    }

    #[test]
    fn backoff_doubles_to_a_minute_and_resets_after_a_long_run() {
        let (s, rx) = Scheduler::new();
        let mut c = container(json!({"Name": "always"}), 0, false);
        let mut delays = Vec::new();
        for _ in 0..12 {
            let before = Instant::now();
            s.after_exit(&mut c, 1);
            let (_, at) = rx.try_recv().unwrap();
            delays.push(at.duration_since(before).as_millis() / 100);
        }
        assert_eq!(delays[..4], [1, 2, 4, 8]);
        assert_eq!(*delays.last().unwrap(), 600);
        assert_eq!((c.restart_count, c.state.status.as_str(), c.state.restarting), (12, "restarting", true));
        c.state.finished_at = "2026-01-01T00:00:30Z".into();
        let before = Instant::now();
        s.after_exit(&mut c, 1);
        assert_eq!(rx.try_recv().unwrap().1.duration_since(before).as_millis() / 100, 1);
        c.restart_canceled = true;
        s.after_exit(&mut c, 1);
        assert!(rx.try_recv().is_err());
    }
}
