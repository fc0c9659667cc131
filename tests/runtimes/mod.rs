//! One OCI runtime under test, as a parameter: our docker-runc and, where it is installed,
//! the real runc (`/usr/sbin/runc`), each on a `--root` of its own, every container
//! force-deleted when the value is dropped. Shared by the runc_* test files of issue 14's
//! cgroups, hooks and seccomp parts (`mod runtimes;`).

#![allow(dead_code)]

use super::common::{applet_dir, Bundle};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const REAL_RUNC: &str = "/usr/sbin/runc";

pub struct Runtime {
    pub name: &'static str,
    pub bin: PathBuf,
    pub root: PathBuf,
    pub dir: PathBuf,
}

impl Runtime {
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root);
        c
    }

    /// Runs it with stdout and stderr on files (a created init keeps its stdio open).
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_in(args, Stdio::null())
    }

    pub fn run_in(&self, args: &[&str], stdin: Stdio) -> Output {
        self.run_with(args, stdin, &[])
    }

    /// Like `run`, with extra environment variables for the runtime.
    pub fn run_with(&self, args: &[&str], stdin: Stdio, env: &[(&str, &str)]) -> Output {
        let n = dockbox::ids::new_id();
        let (o, e) = (self.dir.join(format!("out-{n}")), self.dir.join(format!("err-{n}")));
        let mut out = self.cmd().envs(env.iter().copied()).args(args).stdin(stdin).stdout(std::fs::File::create(&o).unwrap()).stderr(std::fs::File::create(&e).unwrap()).output().unwrap();
        out.stdout = std::fs::read(&o).unwrap();
        out.stderr = std::fs::read(&e).unwrap();
        let _ = std::fs::remove_file(o);
        let _ = std::fs::remove_file(e);
        out
    }

    pub fn state(&self, id: &str) -> serde_json::Value {
        let out = self.run(&["state", id]);
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap_or("").to_string()
    }

    pub fn pid(&self, id: &str) -> i32 {
        self.state(id)["pid"].as_i64().unwrap_or_else(|| panic!("{}: no pid for {id}", self.name)) as i32
    }

    pub fn wait_status(&self, id: &str, want: &str) {
        for _ in 0..500 {
            if self.status(id) == want {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("{}: {id} never became {want}", self.name);
    }

    /// `run -d` of the bundle's config as `id`, asserting success.
    pub fn run_detached(&self, bundle: &Path, id: &str) {
        let out = self.run(&["run", "-d", "--bundle", bundle.to_str().unwrap(), id]);
        assert!(out.status.success(), "{} run -d {id}: {}", self.name, String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(&self.root) else { return };
        for e in entries.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            let _ = self.run(&["delete", "-f", &id]);
        }
    }
}

/// Our docker-runc, and the real runc when it is installed, each on a root under `b`.
pub fn runtimes(b: &Bundle) -> Vec<Runtime> {
    let mut v = vec![Runtime { name: "docker-runc", bin: applet_dir().join("docker-runc"), root: b.root(), dir: b.dir.path().to_path_buf() }];
    if Path::new(REAL_RUNC).exists() && std::env::var_os("DOCKBOX_TEST_NO_REAL_RUNC").is_none() {
        v.push(Runtime { name: "runc", bin: REAL_RUNC.into(), root: b.dir.join("state-real"), dir: b.dir.path().to_path_buf() });
    }
    v
}

/// The cgroup directories of process `pid`: (controllers as /proc/PID/cgroup names them,
/// directory), one per hierarchy, the cgroup2 one with controllers "".
pub fn cgroup_dirs(pid: i32) -> Vec<(String, PathBuf)> {
    let h = dockbox::cgroups::Hierarchies::detect().unwrap();
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next(), parts.next().unwrap().to_string(), parts.next().unwrap());
        let mount = if ctrls.is_empty() { h.unified.as_ref().map(|(m, _)| m.clone()) } else { h.v1.get(ctrls.split(',').next().unwrap()).map(|(m, _)| m.clone()) };
        if let Some(m) = mount {
            out.push((ctrls, m.join(path.trim_start_matches('/'))));
        }
    }
    out
}
