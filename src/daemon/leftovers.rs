//! What a kill -9 of dockerd in the middle of a run leaves behind, cleared at the next start.
//!
//! A start saves the running state only once containerd has started the task, and an exit is
//! saved only after its cleanup: a dockerd killed in between leaves a container recorded as
//! not running while containerd still has its task (running, or created and waiting for a
//! start), or with its root still mounted, its bundle (FIFOs) on disk, its shared /dev/shm or
//! volume sub-path binds mounted. The run never became the container's state, so it is
//! undone: the task killed and deleted, the rest unmounted and removed. (The network
//! namespace file, endpoints and iptables rules of such a run are cleared by
//! `restore_networking`, which keeps only those of running containers.)

use super::Daemon;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

impl Daemon {
    /// After `restore`, before the networking is restored and before any request.
    pub(super) fn clear_interrupted_runs(&self) {
        let recorded: Vec<(String, String, bool)> = self.containers().iter().map(|e| e.lock()).map(|s| (s.c.id.clone(), s.c.mount_id.clone(), s.c.state.running)).collect();
        let running: HashSet<&str> = recorded.iter().filter(|r| r.2).map(|r| r.0.as_str()).collect();
        // Tasks of containers not recorded as running (or not recorded at all).
        for task in self.containerd.list().unwrap_or_default() {
            if !running.contains(task.id.as_str()) {
                crate::log::line(crate::log::Level::Warn, &format!("ending the task of {} ({}), left by an interrupted start", task.id, task.status), &[]);
                self.end_task(&task.id, &task.status);
            }
        }
        let mounted: Vec<PathBuf> = crate::mounts::mounts_under(&self.opts.data_root).unwrap_or_default();
        for (id, mount_id, _) in recorded.iter().filter(|r| !r.2) {
            let names = |p: &PathBuf| p.components().any(|c| c.as_os_str() == mount_id.as_str() || c.as_os_str() == id.as_str());
            if mounted.iter().any(names) {
                let _ = self.snapshots.unmount(mount_id);
                super::host_spec::release_shm(&super::host_spec::shm_dir(&self.opts.data_root, id));
            }
            super::mounts::release_held_binds(self, id);
            let bundle = self.bundle_dir(id);
            if bundle.exists() {
                let _ = std::fs::remove_dir_all(bundle);
            }
        }
    }

    /// Kills a task nobody runs any more and deletes it (its shim exits, the runtime forgets
    /// the container, its cgroup goes). Each call waits for a containerd being restarted.
    pub(super) fn end_task(&self, id: &str, status: &str) {
        if status != "stopped" {
            let _ = self.containerd_call(|c| c.kill(id, libc::SIGKILL, true));
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.containerd.state(id).is_ok_and(|t| t.status != "stopped") && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        match self.containerd_call(|c| c.delete(id)) {
            Err(e) if e.kind != crate::rpc::ErrorKind::NotFound => crate::log::line(crate::log::Level::Error, "deleting a task", &[("container", id), ("error", &e.message)]),
            _ => {}
        }
    }
}
