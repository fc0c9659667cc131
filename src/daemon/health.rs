//! Health checks: `Config.Healthcheck` (the image's `HEALTHCHECK` merged with the container's
//! own settings, field by field, at create), run as Docker's health monitor runs them.
//!
//! While a container with a check (`CMD` or `CMD-SHELL`) runs and is not paused, one thread of
//! its own (a small stack; it sleeps between checks) runs the check as an exec of the
//! container (`daemon::exec`: Docker's `exec_create`/`exec_start`/`exec_die` events, the same
//! process spec as `docker exec`), collects its output (stdout and stderr together, the first
//! 4 KiB, `...` after a cut), kills it with SIGKILL after `Timeout`, and records the result in
//! `State.Health` (the last five results; `FailingStreak`; `starting` → `healthy` on a success,
//! `unhealthy` after `Retries` failures in a row; failures within `StartPeriod` do not count
//! while the container is still `starting`, and the checks come every `StartInterval` then).
//! A change of status is Docker's `health_status: <status>` event. The monitor stops at the
//! container's exit and at a pause (the status becomes `unhealthy` then, as Docker's), and
//! starts again, from `starting`, at each start (by hand, by a restart policy, or found
//! running by a restarted dockerd); an unpause starts it again without a reset.
//!
//! Results live in memory (inspect, ps and the `health` filter read them) and reach
//! config.v2.json with the container's next change of state, as in Docker.

use super::container::Container;
use super::exec::StartOptions;
use super::healthcheck::{go_duration, probe_of, CheckResult, Health, Probe};
use super::{Daemon, Entry};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime};

/// Output kept of one check.
const MAX_OUTPUT: usize = 4096;
/// A monitor's stack: it builds an exec's JSON and speaks to containerd, as a connection
/// thread (256 KiB) does for `docker exec`.
const STACK: usize = 256 << 10;
/// How long an exec may take to start before the check counts as failed (Docker's 30 s).
const START_LIMIT: Duration = Duration::from_secs(30);
/// How long a killed check is waited for.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// How often a running check looks whether its monitor was stopped.
const STOP_POLL: Duration = Duration::from_millis(50);

/// The first 4 KiB of a check's output, and whether more came.
#[derive(Default)]
struct LimitedOutput {
    kept: Vec<u8>,
    cut: bool,
}

impl LimitedOutput {
    fn write(&mut self, data: &[u8]) {
        let room = MAX_OUTPUT - self.kept.len();
        self.kept.extend_from_slice(&data[..room.min(data.len())]);
        self.cut |= data.len() > room;
    }

    fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.kept).into_owned();
        if self.cut {
            s.push_str("...");
        }
        s
    }
}

/// Tells one monitor thread to end.
#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl Stop {
    fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
    }

    fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps for `d` unless stopped first; whether it was stopped.
    fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        while !*stopped {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            stopped = self.cv.wait_timeout(stopped, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }
}

/// The monitors running, one per container; at most one each.
#[derive(Default)]
pub struct Monitors {
    /// The daemon the threads run checks with (set once it is shared).
    daemon: OnceLock<Weak<Daemon>>,
    running: Mutex<HashMap<String, Arc<Stop>>>,
}

impl Monitors {
    /// Gives the monitors the daemon they run checks on; before any container starts.
    pub fn attach(&self, d: &Arc<Daemon>) {
        let _ = self.daemon.set(Arc::downgrade(d));
    }

    /// Ends the container's monitor; whether one ran.
    fn close(&self, id: &str) -> bool {
        match self.running.lock().unwrap_or_else(|e| e.into_inner()).remove(id) {
            Some(stop) => {
                stop.stop();
                true
            }
            None => false,
        }
    }

    /// A stop for a new monitor, unless one runs already.
    fn open(&self, id: &str) -> Option<Arc<Stop>> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if running.contains_key(id) {
            return None;
        }
        let stop = Arc::new(Stop::default());
        running.insert(id.to_string(), stop.clone());
        Some(stop)
    }
}

impl Daemon {
    /// A start (by hand, by a restart policy, or found running after a dockerd restart):
    /// the status goes back to `starting` with no failures (the log stays) and the monitor
    /// starts. Called under the container's lock, with its state running.
    pub(super) fn health_start(&self, entry: &Arc<Entry>, c: &mut Container) {
        if probe_of(&c.config).is_none() {
            warn_unknown_test(c);
            return;
        }
        self.health.close(&c.id);
        let h = c.state.health.get_or_insert_with(Health::default);
        h.status = "starting".into();
        h.failing_streak = 0;
        self.health_update(entry, c);
    }

    /// Runs the monitor when the container runs unpaused with a check, stops it otherwise (a
    /// stopped monitor leaves the status `unhealthy`, as Docker's). Called under the
    /// container's lock after a pause, an unpause, an exit.
    pub(super) fn health_update(&self, entry: &Arc<Entry>, c: &mut Container) {
        let run = c.state.running && !c.state.paused;
        self.health_monitor(entry, c, run);
    }

    /// The container's run ended: its monitor stops. Called under the container's lock.
    pub(super) fn health_stop(&self, entry: &Arc<Entry>, c: &mut Container) {
        self.health_monitor(entry, c, false);
    }

    fn health_monitor(&self, entry: &Arc<Entry>, c: &mut Container, run: bool) {
        let Some(h) = c.state.health.as_mut() else { return };
        let probe = probe_of(&c.config);
        if !run || probe.is_none() {
            if self.health.close(&c.id) {
                h.status = "unhealthy".into();
            }
            return;
        }
        let (Some(probe), Some(stop)) = (probe, self.health.open(&c.id)) else { return };
        let Some(d) = self.health.daemon.get().and_then(Weak::upgrade) else {
            self.health.close(&c.id);
            return;
        };
        let started = crate::sys::parse_rfc3339(&c.state.started_at).unwrap_or_else(SystemTime::now);
        let (entry, id) = (entry.clone(), c.id.clone());
        let spawned = std::thread::Builder::new().name("health".into()).stack_size(STACK).spawn({
            let stop = stop.clone();
            move || monitor(&d, &entry, &id, &stop, &probe, started)
        });
        if let Err(e) = spawned {
            crate::log::line(crate::log::Level::Error, "cannot start the health monitor", &[("container", &c.id), ("error", &e.to_string())]);
            self.health.close(&c.id);
        }
    }

    /// After `restore`: the monitors of the containers found running, from `starting`.
    pub fn restore_health(&self) {
        for entry in self.containers() {
            let mut slot = entry.lock();
            if slot.c.state.running && !slot.c.state.paused && !slot.c.state.restarting {
                self.health_start(&entry, &mut slot.c);
            }
        }
    }

    /// Runs one check: `None` when the monitor was stopped meanwhile.
    fn run_check(self: &Arc<Self>, id: &str, probe: &Probe, stop: &Stop) -> Option<CheckResult> {
        let failed = |message: String| Some(CheckResult { end: now(), exit_code: -1, output: message, ..CheckResult::default() });
        if probe.cmd.is_empty() {
            return failed(format!("healthcheck for container {id} has no command"));
        }
        let body = json!({"Cmd": probe.cmd, "AttachStdout": true, "AttachStderr": true});
        let exec_id = match self.exec_create(id, &body) {
            Ok(exec_id) => exec_id,
            Err(e) => return failed(e.message),
        };
        let launched = Instant::now();
        let attached = match self.exec_start(&exec_id, StartOptions::default()) {
            Ok(Some(a)) => a,
            Ok(None) => return failed(format!("health check for container {id} started detached")),
            Err(e) => {
                self.exec_forget(&exec_id);
                let message = if launched.elapsed() > START_LIMIT { format!("timed out starting health check for container {id}") } else { e.message };
                return failed(message);
            }
        };
        let deadline = Instant::now() + probe.timeout;
        let mut output = LimitedOutput::default();
        let mut ended = false;
        while !ended {
            if stop.is_stopped() {
                let _ = self.containerd.exec_kill(id, &exec_id, libc::SIGKILL);
                if self.exec_exit_by(id, &exec_id, Instant::now() + Duration::from_secs(2)).is_some() {
                    self.exec_forget(&exec_id);
                }
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match attached.output.recv_timeout(left.min(STOP_POLL)) {
                Ok((_, data)) => output.write(&data),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => ended = true,
            }
        }
        drop(attached);
        if ended {
            if let Some(code) = self.exec_exit_by(id, &exec_id, deadline) {
                self.exec_forget(&exec_id);
                return Some(CheckResult { end: now(), exit_code: code as i64, output: output.text(), ..CheckResult::default() });
            }
        }
        // Over its time: killed, and waited for so that dying checks do not pile up.
        let _ = self.containerd.exec_kill(id, &exec_id, libc::SIGKILL);
        if self.exec_exit_by(id, &exec_id, Instant::now() + KILL_WAIT).is_some() {
            self.exec_forget(&exec_id);
        }
        let said = output.text();
        let limit = go_duration(probe.timeout);
        let message = if said.is_empty() { format!("Health check exceeded timeout ({limit})") } else { format!("Health check exceeded timeout ({limit}): {said}") };
        Some(CheckResult { end: now(), exit_code: -1, output: message, ..CheckResult::default() })
    }

    /// The exec's exit code once recorded, waiting until `deadline`; asked of containerd at
    /// the end (its exit event may have been missed while dockerd's subscription was down).
    fn exec_exit_by(&self, id: &str, exec_id: &str, deadline: Instant) -> Option<i32> {
        if let Some(code) = self.exec_wait_until(exec_id, deadline) {
            return Some(code);
        }
        if let Ok(Some(exit)) = self.containerd.exec_state(id, exec_id) {
            self.exec_exited(id, exec_id, exit.exit_status);
        }
        self.exec_wait_until(exec_id, Instant::now())
    }

    /// A check's result into `State.Health`, with the `health_status` event on a change;
    /// dropped when the monitor was stopped while the check ran.
    fn record_check(&self, entry: &Entry, stop: &Stop, probe: &Probe, result: CheckResult, began: SystemTime) {
        let mut slot = entry.lock();
        if stop.is_stopped() || slot.removed {
            return;
        }
        let c = &mut slot.c;
        let started = crate::sys::parse_rfc3339(&c.state.started_at).unwrap_or(began);
        let since_start = began.duration_since(started).unwrap_or_default();
        let Some(h) = c.state.health.as_mut() else { return };
        let before = h.status().to_string();
        h.record(result, since_start, probe);
        let after = h.status().to_string();
        if before != after {
            self.events.container(c, &format!("health_status: {after}"), &[]);
        }
    }
}

fn now() -> String {
    crate::sys::rfc3339_nanos(SystemTime::now())
}

/// Docker runs no check of a type it does not know, and says so in its log.
fn warn_unknown_test(c: &Container) {
    let kind = c.config.pointer("/Healthcheck/Test/0").and_then(Value::as_str).unwrap_or("");
    if !matches!(kind, "" | "NONE" | "CMD" | "CMD-SHELL") {
        crate::log::warn(&format!("Unknown healthcheck type '{kind}' (expected 'CMD') in container {}", c.id));
    }
}

/// One container's monitor: a check after each interval (the start interval while the
/// container is starting within its start period) until stopped.
fn monitor(d: &Arc<Daemon>, entry: &Entry, id: &str, stop: &Stop, probe: &Probe, started: SystemTime) {
    loop {
        let in_start_period = started.elapsed().unwrap_or_default() < probe.start_period;
        let starting = in_start_period && entry.lock().c.state.health.as_ref().is_some_and(|h| h.status() == "starting");
        if stop.sleep(if starting { probe.start_interval } else { probe.interval }) {
            return;
        }
        let began = SystemTime::now();
        let Some(mut result) = d.run_check(id, probe, stop) else { return };
        result.start = crate::sys::rfc3339_nanos(began);
        d.record_check(entry, stop, probe, result, began);
    }
}

#[cfg(test)]
mod tests {
    use super::super::healthcheck::*;
    use serde_json::Map;
    use super::*;

    fn probe(hc: Value) -> Option<Probe> {
        probe_of(&json!({"Healthcheck": hc}))
    }

    #[test]
    fn checks_get_dockers_defaults_and_shell() {
        let p = probe(json!({"Test": ["CMD-SHELL", "exit 1"]})).unwrap();
        assert_eq!(p.cmd, ["/bin/sh", "-c", "exit 1"]);
        assert_eq!((p.interval, p.timeout, p.start_period, p.start_interval, p.retries), (DEFAULT_INTERVAL, DEFAULT_TIMEOUT, Duration::ZERO, DEFAULT_START_INTERVAL, 3));
        let p = probe(json!({"Test": ["CMD", "true", "x"], "Interval": 100_000_000, "Retries": 2})).unwrap();
        assert_eq!((p.cmd.clone(), p.interval, p.retries), (vec!["true".to_string(), "x".into()], Duration::from_millis(100), 2));
        let shell = probe_of(&json!({"Shell": ["/bin/ash", "-ec"], "Healthcheck": {"Test": ["CMD-SHELL", "true"]}})).unwrap();
        assert_eq!(shell.cmd, ["/bin/ash", "-ec", "true"]);
        assert!(probe(json!({"Test": ["NONE"]})).is_none());
        assert!(probe(json!({"Test": []})).is_none());
        assert!(probe_of(&json!({})).is_none());
    }

    #[test]
    fn create_requests_are_checked_as_docker_does() {
        let check = |hc: Value| validate(json!({"Healthcheck": hc}).as_object().unwrap());
        assert_eq!(check(json!({"Test": ["CMD", "true"], "Interval": 999_999})).unwrap_err(), "Interval in Healthcheck cannot be less than 1ms");
        assert_eq!(check(json!({"Timeout": -1})).unwrap_err(), "Timeout in Healthcheck cannot be less than 1ms");
        assert_eq!(check(json!({"Retries": -1})).unwrap_err(), "Retries in Healthcheck cannot be negative");
        assert_eq!(check(json!({"StartPeriod": 5})).unwrap_err(), "StartPeriod in Healthcheck cannot be less than 1ms");
        assert_eq!(check(json!({"StartInterval": 5})).unwrap_err(), "StartInterval in Healthcheck cannot be less than 1ms");
        assert!(check(json!({"Test": ["HTTP", "x"]})).unwrap_err().contains("unknown type \"HTTP\""));
        assert!(check(json!({"Test": ["CMD", "true"], "Interval": 1_000_000, "Retries": 0})).is_ok());
        assert!(check(json!({"Test": ["NONE"]})).is_ok());
    }

    #[test]
    fn the_images_check_fills_what_the_container_leaves_out() {
        let image = json!({"Healthcheck": {"Test": ["CMD", "img"], "Interval": 5, "Retries": 7}});
        let mut none = Map::new();
        merge_image_healthcheck(&mut none, &image);
        assert_eq!(none["Healthcheck"], image["Healthcheck"]);
        let mut own = json!({"Healthcheck": {"Test": [], "Interval": 9, "Timeout": 0}}).as_object().unwrap().clone();
        merge_image_healthcheck(&mut own, &image);
        assert_eq!(own["Healthcheck"], json!({"Test": ["CMD", "img"], "Interval": 9, "Timeout": 0, "Retries": 7}));
        let mut disabled = json!({"Healthcheck": {"Test": ["NONE"]}}).as_object().unwrap().clone();
        merge_image_healthcheck(&mut disabled, &image);
        assert_eq!(disabled["Healthcheck"]["Test"], json!(["NONE"]));
    }

    #[test]
    fn durations_print_as_go_prints_them() {
        let ms = Duration::from_millis;
        assert_eq!(go_duration(ms(1)), "1ms");
        assert_eq!(go_duration(ms(200)), "200ms");
        assert_eq!(go_duration(ms(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
    }

    #[test]
    fn results_move_the_status_as_dockers_monitor() {
        let p = Probe { cmd: vec![], interval: DEFAULT_INTERVAL, timeout: DEFAULT_TIMEOUT, start_period: Duration::from_secs(10), start_interval: DEFAULT_START_INTERVAL, retries: 2 };
        let result = |code| CheckResult { exit_code: code, ..CheckResult::default() };
        let mut h = Health { status: "starting".into(), ..Health::default() };
        // Failures in the start period do not count.
        h.record(result(1), Duration::from_secs(1), &p);
        h.record(result(1), Duration::from_secs(2), &p);
        assert_eq!((h.status(), h.failing_streak, h.describe().as_str()), ("starting", 0, "health: starting"));
        h.record(result(1), Duration::from_secs(11), &p);
        assert_eq!((h.status(), h.failing_streak), ("starting", 1));
        h.record(result(0), Duration::from_secs(12), &p);
        assert_eq!((h.status(), h.failing_streak), ("healthy", 0));
        // Once healthy, the start period no longer shelters failures.
        h.record(result(1), Duration::from_secs(1), &p);
        h.record(result(-1), Duration::from_secs(1), &p);
        assert_eq!((h.status(), h.failing_streak), ("unhealthy", 2));
        assert_eq!(h.log.len(), 5);
        h.record(result(0), Duration::from_secs(13), &p);
        assert_eq!((h.log.len(), h.log[0].exit_code, h.status()), (5, 1, "healthy"));
        assert_eq!(Health::default().status(), "unhealthy");
    }

    #[test]
    fn output_is_cut_at_4_kib() {
        let mut o = LimitedOutput::default();
        o.write(&[b'a'; 4000]);
        o.write(&[b'b'; 200]);
        let t = o.text();
        assert_eq!(t.len(), 4096 + 3);
        assert!(t.ends_with("bb..."));
        let mut small = LimitedOutput::default();
        small.write(b"ok\n");
        assert_eq!(small.text(), "ok\n");
    }

    #[test]
    fn the_log_is_null_before_the_first_result() {
        let h = Health { status: "starting".into(), ..Health::default() };
        assert_eq!(serde_json::to_value(&h).unwrap(), json!({"Status": "starting", "FailingStreak": 0, "Log": null}));
        let back: Health = serde_json::from_value(json!({"Status": "healthy", "FailingStreak": 0, "Log": null})).unwrap();
        assert!(back.log.is_empty());
    }
}
