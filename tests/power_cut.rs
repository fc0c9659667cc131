//! A power cut at each durable write step of an operation: afterwards every container, image
//! and volume is whole or absent, and a fresh dockerd starts on what is left.
//!
//! The cut is simulated (see `dockbox::durable`): dockerd, started with `DOCKBOX_FAULT_STEP=N`,
//! SIGKILLs itself at its N-th durable write step; the test then ends every process of that
//! daemon (containerd, shims, containers), unmounts what it mounted, deletes the exec-root
//! (volatile: a tmpfs at boot) and drops the file data no fsync or syncfs covered
//! (`dockbox::durable::power_cut`). Then a fresh dockerd starts on the data-root and each
//! object is checked: listed and whole (inspect, it runs, its files are right) or not listed
//! and nothing of it left after the start's cleanup.
//!
//! Each operation's steps are counted on a first run; by default a spread of at most
//! `DOCKBOX_POWER_CUT_ROUNDS` (12) of them is cut, every one with `DOCKBOX_POWER_CUT_ROUNDS=0`.
//! `DOCKBOX_POWER_CUT_OPS=create,pull` runs only those operations.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// A dockerd on a directory of the test's: `<dir>/data`, `<dir>/exec`, `<dir>/docker.sock`.
struct Daemon {
    dir: PathBuf,
    child: Option<Child>,
    registry: String,
}

impl Daemon {
    fn new(dir: &Path, registry: &str) -> Daemon {
        Daemon { dir: dir.to_path_buf(), child: None, registry: registry.to_string() }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn cgroup_parent(&self) -> String {
        format!("/dbx-power-cut-{}-{}", std::process::id(), self.dir.file_name().unwrap().to_string_lossy())
    }

    fn sock(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// Starts dockerd with `env`; returns once it answers (true) or has died (false).
    fn spawn(&mut self, env: &[(&str, String)]) -> bool {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("dockerd.log")).unwrap();
        let mut cmd = applet("dockerd");
        cmd.arg("--data-root").arg(self.data()).arg("--exec-root").arg(self.dir.join("exec")).arg("--pidfile").arg(self.dir.join("docker.pid"));
        cmd.arg("-H").arg(format!("unix://{}", self.sock().display())).args(["--insecure-registry", &self.registry, "--bridge=none", "--iptables=false", "--ip6tables=false"]);
        // The copies of a template hold containers of the same ids, run side by side: each
        // daemon's cgroups under a parent of its own.
        cmd.arg("--cgroup-parent").arg(self.cgroup_parent());
        cmd.envs(env.iter().map(|(k, v)| (k, v))).stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
        self.child = Some(cmd.spawn().unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.api("GET", "/_ping").0 == 200 {
                return true;
            }
            if self.exited() {
                return false;
            }
            assert!(Instant::now() < deadline, "dockerd did not answer: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn exited(&mut self) -> bool {
        self.child.as_mut().is_none_or(|c| c.try_wait().unwrap().is_some())
    }

    fn api(&self, method: &str, path: &str) -> (u16, Value) {
        let endpoint = dockbox::http::client::Endpoint::Unix(self.sock());
        match dockbox::http::client::request(&endpoint, method, path, &[], None) {
            Ok(r) => {
                let status = r.status;
                let b = r.bytes().unwrap_or_default();
                (status, serde_json::from_slice(&b).unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    }

    /// Our client, under a time limit.
    fn docker(&self, args: &[&str]) -> Output {
        let mut child = applet("docker").arg("-H").arg(format!("unix://{}", self.sock().display())).args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(90);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("docker {args:?} hung\ndockerd:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert_eq!(o.status.code(), Some(0), "docker {args:?}: {}{}\ndockerd:\n{}", stdout(&o), stderr(&o), self.log());
        stdout(&o)
    }

    /// Stops dockerd as an operator would (SIGTERM), then whatever is left of it.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.power_off();
    }

    /// What a power cut does to the processes and mounts of this daemon: every process gone
    /// (containers too), every mount gone, the exec-root (a tmpfs) empty.
    fn power_off(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for _ in 0..3 {
            for pid in processes_of(&self.dir) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Not unwrap: this also runs in Drop, where a second panic would abort the test run.
        if let Err(e) = dockbox::mounts::unmount_all_under(&self.dir) {
            eprintln!("unmounting under {}: {e}", self.dir.display());
        }
        remove_cgroups(&self.cgroup_parent());
        let _ = std::fs::remove_dir_all(self.dir.join("exec"));
        let _ = std::fs::remove_file(self.dir.join("docker.pid"));
    }
}

impl Drop for Daemon {
    /// A round that panics (a hung client, a daemon that never answers) leaves nothing
    /// running or mounted behind.
    fn drop(&mut self) {
        if self.child.is_some() || self.dir.exists() {
            self.power_off();
        }
    }
}

/// Live processes that name `dir` on their command line or stand in it (root or cwd): the
/// daemon's containerd and shims, and the containers, whose root is a mount below it.
fn processes_of(dir: &Path) -> Vec<i32> {
    let mut pids = processes_mentioning(dir);
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let inside = |l: &str| std::fs::read_link(e.path().join(l)).is_ok_and(|p| p.starts_with(dir));
        if pid != std::process::id() as i32 && alive(pid) && (inside("root") || inside("cwd")) && !pids.contains(&pid) {
            pids.push(pid);
        }
    }
    pids
}

fn copy_tree(from: &Path, to: &Path) {
    let o = Command::new("cp").arg("-a").arg("--reflink=auto").arg(from).arg(to).output().unwrap();
    assert!(o.status.success(), "cp: {}", stderr(&o));
}

/// A copy of a template at `to`, the absolute paths its containers' records hold moved along.
fn copy_data_root(t: &Templates, from: &Path, to: &Path) {
    copy_tree(from, to);
    let (old, new) = (t.origin.display().to_string(), to.display().to_string());
    for e in std::fs::read_dir(to.join("containers")).into_iter().flatten().flatten() {
        for f in ["config.v2.json", "hostconfig.json"] {
            if let Ok(text) = std::fs::read_to_string(e.path().join(f)) {
                std::fs::write(e.path().join(f), text.replace(&old, &new)).unwrap();
            }
        }
    }
}

/// The data-roots the operations start from, made once.
struct Templates {
    _tmp: TempDir,
    /// Where the templates were made (the records of their containers name it).
    origin: PathBuf,
    /// A dockerd's data-root after a first start, nothing in it.
    empty: PathBuf,
    /// busybox pulled.
    pulled: PathBuf,
    /// busybox, a container `c0` on volume `v0` holding /v/f, an unused volume `v2` holding /v/f.
    used: PathBuf,
    /// `docker save` of busybox.
    tar: PathBuf,
    busybox: String,
    /// What a container of a whole busybox sees (see `image_fingerprint`).
    fingerprint: String,
    /// `LIST_X` of a volume a copy-up of busybox's /etc filled.
    etc: String,
}

/// What a volume at /x holds: names, types, sizes, modes, owners and contents (times differ:
/// the init layer's files are made with each container).
const LIST_X: &str = "cd /x && find . | sort | while read f; do stat -c '%n %F %s %a %u %g' \"$f\"; [ -f \"$f\" ] && [ ! -L \"$f\" ] && md5sum \"$f\"; done";

const FINGERPRINT: &str = "md5sum /bin/busybox /etc/passwd /etc/group; ls -l --full-time /bin | md5sum";

fn templates(registry: &Registry) -> Templates {
    let tmp = TempDir::new("power-cut");
    let busybox = registry.image("busybox");
    let mut d = Daemon::new(&tmp.join("prep"), &registry.addr);
    std::fs::create_dir_all(&d.dir).unwrap();
    assert!(d.spawn(&[]), "{}", d.log());
    d.stop();
    let empty = tmp.join("empty");
    copy_tree(&d.data(), &empty);
    assert!(d.spawn(&[]));
    d.ok(&["pull", "-q", &busybox]);
    let tar = tmp.join("busybox.tar");
    d.ok(&["save", "-o", tar.to_str().unwrap(), &busybox]);
    let fingerprint = d.ok(&["run", "--rm", &busybox, "sh", "-c", FINGERPRINT]);
    // An uncut copy-up is the reference.
    d.ok(&["run", "--rm", "-v", "etc:/etc", &busybox, "true"]);
    let etc = d.ok(&["run", "--rm", "-v", "etc:/x", &busybox, "sh", "-c", LIST_X]);
    d.ok(&["volume", "rm", "etc"]);
    d.stop();
    let pulled = tmp.join("pulled");
    copy_tree(&d.data(), &pulled);
    assert!(d.spawn(&[]));
    d.ok(&["run", "--rm", "-v", "v0:/v", &busybox, "sh", "-c", "echo hello > /v/f"]);
    d.ok(&["run", "--rm", "-v", "v2:/v", &busybox, "sh", "-c", "echo two > /v/f"]);
    d.ok(&["create", "--name", "c0", "-v", "v0:/v", &busybox, "sh", "-c", "echo ok; cat /v/f"]);
    d.stop();
    let used = tmp.join("used");
    copy_tree(&d.data(), &used);
    Templates { origin: d.data(), _tmp: tmp, empty, pulled, used, tar, busybox, fingerprint, etc }
}

/// One operation under test: the data-root it starts from, what it does, what must hold after.
struct Case {
    name: &'static str,
    from: fn(&Templates) -> &Path,
    op: fn(&Daemon, &Templates) -> Output,
    /// Checks the objects the operation touched (whole or absent), given the fresh daemon.
    check: fn(&Daemon, &Templates) -> Result<(), String>,
}

fn cases() -> Vec<Case> {
    vec![
        Case { name: "create", from: |t| &t.used, op: |d, t| d.docker(&["create", "--name", "c1", &t.busybox, "echo", "ok"]), check: |d, _| container_whole_or_absent(d, "c1", "ok\n") },
        Case { name: "start", from: |t| &t.used, op: |d, _| d.docker(&["start", "c0"]), check: |d, _| container_whole_or_absent(d, "c0", "ok\nhello\n").and(present(d, "container", "c0")) },
        Case { name: "rm", from: |t| &t.used, op: |d, _| d.docker(&["rm", "c0"]), check: |d, _| container_whole_or_absent(d, "c0", "ok\nhello\n").and(volume_holds(d, "v0", "hello\n")) },
        Case { name: "pull", from: |t| &t.empty, op: |d, t| d.docker(&["pull", "-q", &t.busybox]), check: |d, t| image_whole_or_absent(d, t, &t.busybox) },
        Case { name: "load", from: |t| &t.empty, op: |d, t| d.docker(&["load", "-q", "-i", t.tar.to_str().unwrap()]), check: |d, t| image_whole_or_absent(d, t, &t.busybox) },
        Case { name: "rmi", from: |t| &t.pulled, op: |d, t| d.docker(&["rmi", &t.busybox]), check: |d, t| image_whole_or_absent(d, t, &t.busybox) },
        Case { name: "tag", from: |t| &t.pulled, op: |d, t| d.docker(&["tag", &t.busybox, "cut:tag"]), check: |d, t| image_whole_or_absent(d, t, "cut:tag").and(image_whole_or_absent(d, t, &t.busybox)).and(present(d, "image", &t.busybox)) },
        Case {
            name: "volume-create",
            from: |t| &t.empty,
            op: |d, _| d.docker(&["volume", "create", "--label", "a=b", "v1"]),
            check: |d, _| match inspect(d, "volume", "v1") {
                None => Ok(()),
                Some(v) if v["Labels"]["a"] == "b" => Ok(()),
                Some(v) => Err(format!("volume v1 without its label: {v}")),
            },
        },
        Case { name: "volume-rm", from: |t| &t.used, op: |d, _| d.docker(&["volume", "rm", "v2"]), check: |d, t| if inspect(d, "volume", "v2").is_some() { volume_holds(d, "v2", "two\n").map_err(|e| e + &format!(" ({})", t.busybox)) } else { Ok(()) } },
        Case {
            name: "run-copy-up",
            from: |t| &t.used,
            op: |d, t| d.docker(&["run", "--name", "c3", "-v", "cv:/etc", &t.busybox, "echo", "ok"]),
            check: |d, t| {
                container_whole_or_absent(d, "c3", "ok\n")?;
                let container = inspect(d, "container", "c3").is_some();
                if inspect(d, "volume", "cv").is_some() {
                    let got = stdout(&d.docker(&["run", "--rm", "-v", "cv:/x", &t.busybox, "sh", "-c", LIST_X]));
                    // The run made the volume but not the container: an unused empty volume.
                    let empty = !container && got.lines().count() == 1;
                    if got != t.etc && !empty {
                        return Err(format!("volume cv is not a whole copy of /etc:\n{got}\nexpected:\n{}", t.etc));
                    }
                }
                Ok(())
            },
        },
    ]
}

fn inspect(d: &Daemon, kind: &str, name: &str) -> Option<Value> {
    let o = d.docker(&[kind, "inspect", name]);
    if o.status.code() != Some(0) {
        return None;
    }
    serde_json::from_str::<Value>(&stdout(&o)).ok().and_then(|v| v.get(0).cloned())
}

fn present(d: &Daemon, kind: &str, name: &str) -> Result<(), String> {
    inspect(d, kind, name).map(|_| ()).ok_or_else(|| format!("{kind} {name} is gone, though the operation does not remove it"))
}

/// A container is listed and runs as it should, or is not listed at all.
fn container_whole_or_absent(d: &Daemon, name: &str, output: &str) -> Result<(), String> {
    let listed = d.ok(&["ps", "-a", "--format", "{{.Names}}"]).lines().any(|n| n == name);
    match inspect(d, "container", name) {
        None if listed => Err(format!("container {name} is listed but cannot be inspected")),
        None => Ok(()),
        Some(c) => {
            if c["State"]["Running"] == true {
                return Err(format!("container {name} reads running after a power cut: {}", c["State"]));
            }
            let o = d.docker(&["start", "-a", name]);
            if o.status.code() != Some(0) || stdout(&o) != output {
                return Err(format!("container {name} does not run whole: exit {:?} {:?} {}", o.status.code(), stdout(&o), stderr(&o)));
            }
            Ok(())
        }
    }
}

/// An image is listed and a container of it sees busybox's files, or it is not listed.
fn image_whole_or_absent(d: &Daemon, t: &Templates, name: &str) -> Result<(), String> {
    match inspect(d, "image", name) {
        None => Ok(()),
        Some(img) => {
            let id = img["Id"].as_str().unwrap_or_default().to_string();
            let o = d.docker(&["run", "--rm", &id, "sh", "-c", FINGERPRINT]);
            if o.status.code() != Some(0) || stdout(&o) != t.fingerprint {
                return Err(format!("image {name} is not whole: exit {:?} {:?} {}", o.status.code(), stdout(&o), stderr(&o)));
            }
            Ok(())
        }
    }
}

fn volume_holds(d: &Daemon, name: &str, content: &str) -> Result<(), String> {
    let v = inspect(d, "volume", name).ok_or_else(|| format!("volume {name} is gone"))?;
    let data = PathBuf::from(v["Mountpoint"].as_str().unwrap_or_default());
    match std::fs::read_to_string(data.join("f")) {
        Ok(s) if s == content => Ok(()),
        r => Err(format!("volume {name} does not hold its file: {r:?}")),
    }
}

/// What the start's cleanup must leave: only what the listed objects use.
fn no_leftovers(d: &Daemon, t: &Templates) -> Result<(), String> {
    let data = d.data();
    // Every image there is, tagged or not, is whole (all of them are busybox here).
    for id in d.ok(&["images", "-aq", "--no-trunc"]).lines() {
        image_whole_or_absent(d, t, id)?;
    }
    for id in d.ok(&["ps", "-aq"]).lines() {
        inspect(d, "container", id).ok_or_else(|| format!("container {id} is listed but cannot be inspected"))?;
    }
    let names = |dir: &Path| -> BTreeSet<String> { std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default() };
    let containers: BTreeSet<String> = d.ok(&["ps", "-aq", "--no-trunc"]).lines().map(str::to_string).collect();
    let dirs = names(&data.join("containers"));
    if dirs != containers {
        return Err(format!("container directories {dirs:?} but containers {containers:?}"));
    }
    let records = names(&data.join("image/overlay2/layerdb/mounts"));
    if records != containers {
        return Err(format!("layer records {records:?} but containers {containers:?}"));
    }
    let mut wanted: BTreeSet<String> = BTreeSet::from(["l".to_string()]);
    for c in &containers {
        let mount = std::fs::read_to_string(data.join("image/overlay2/layerdb/mounts").join(c).join("mount-id")).unwrap_or_default();
        wanted.insert(mount.trim().to_string());
        wanted.insert(format!("{}-init", mount.trim()));
    }
    for layer in names(&data.join("image/overlay2/layerdb/sha256")) {
        let cache = std::fs::read_to_string(data.join("image/overlay2/layerdb/sha256").join(&layer).join("cache-id")).map_err(|e| format!("layer {layer} without cache-id: {e}"))?;
        if cache.trim().is_empty() {
            return Err(format!("layer {layer} with an empty cache-id"));
        }
        wanted.insert(cache.trim().to_string());
    }
    let layers = names(&data.join("overlay2"));
    if layers != wanted {
        return Err(format!("overlay2 holds {layers:?}, the layers and containers want {wanted:?}"));
    }
    for link in names(&data.join("overlay2/l")) {
        if !data.join("overlay2/l").join(&link).exists() {
            return Err(format!("short link {link} leads nowhere"));
        }
    }
    // Layers are written once, straight into place: no download is ever kept beside them.
    for tmp in ["image/overlay2/layerdb/tmp", "tmp", "blobs/sha256", "blobs/partial"] {
        let left = names(&data.join(tmp));
        if !left.is_empty() {
            return Err(format!("{tmp} holds {left:?}"));
        }
    }
    let volumes: BTreeSet<String> = d.ok(&["volume", "ls", "-q"]).lines().map(str::to_string).collect();
    let vdirs: BTreeSet<String> = names(&data.join("volumes")).into_iter().filter(|n| !n.starts_with('.') && n != "metadata.db").collect();
    if vdirs != volumes {
        return Err(format!("volume directories {vdirs:?} but volumes {volumes:?}"));
    }
    Ok(())
}

/// Runs `case` on a fresh copy of its data-root in `dir`, cut at `step` (`None`: not cut, the
/// steps counted).
fn round(case: &Case, t: &Templates, dir: &Path, registry: &str, step: Option<u64>, model: Model) -> Result<Outcome, String> {
    std::fs::create_dir_all(dir).unwrap();
    copy_data_root(t, (case.from)(t), &dir.join("data"));
    let log = dir.join("fault.log");
    let since = SystemTime::now();
    // File times come from a clock that may lag the one read here by a tick.
    std::thread::sleep(Duration::from_millis(15));
    let mut d = Daemon::new(dir, registry);
    let mut env = vec![(dockbox::durable::FAULT_LOG_ENV, log.display().to_string())];
    if let Some(n) = step {
        env.push((dockbox::durable::FAULT_STEP_ENV, n.to_string()));
    }
    let up = d.spawn(&env);
    let before = dockbox::durable::FaultLog::read(&log).map(|l| l.steps.len()).unwrap_or(0);
    if up {
        let o = (case.op)(&d, t);
        if step.is_none() && o.status.code() != Some(0) {
            return Err(format!("{} failed uncut: {}{}\n{}", case.name, stdout(&o), stderr(&o), d.log()));
        }
        if step.is_some() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !d.exited() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    let fault = dockbox::durable::FaultLog::read(&log).unwrap_or_default();
    if step.is_none() {
        d.stop();
        let steps = fault.steps[before..].to_vec();
        let _ = std::fs::remove_dir_all(dir);
        return Ok(Outcome { steps, startup: before, cut: false, lost: 0 });
    }
    let cut = fault.cut.is_some();
    d.power_off();
    let lost = match model {
        Model::PowerCut => dockbox::durable::power_cut(&d.data(), &fault, since).map_err(|e| format!("power_cut: {e}"))?,
        Model::Kill => Vec::new(),
    };
    let mut fresh = Daemon::new(dir, registry);
    let result = (|| {
        if !fresh.spawn(&[]) {
            return Err(format!("dockerd does not start after the cut:\n{}", fresh.log()));
        }
        (case.check)(&fresh, t)?;
        no_leftovers(&fresh, t)
    })();
    let result = result.map_err(|e| {
        let runtime_logs = Command::new("sh").arg("-c").arg("find \"$0\" -name log.json | xargs -r tail -n 5").arg(d.data()).output().map(|o| stdout(&o)).unwrap_or_default();
        let e = format!("{e}\nruntime logs:\n{runtime_logs}");
        let at = fault.steps.get(fault.cut.unwrap_or(0).saturating_sub(1) as usize).cloned().unwrap_or_default();
        format!("{} cut ({model:?}) at step {step:?} ({at}): {e}\nfiles whose data was lost: {lost:?}\ndockerd after the cut:\n{}", case.name, fresh.log())
    });
    fresh.stop();
    let _ = std::fs::remove_dir_all(dir);
    result.map(|_| Outcome { steps: fault.steps, startup: before, cut, lost: lost.len() })
}

/// What the cut loses: the page cache too (a power cut), or only the processes (a kill -9 of
/// the daemon with everything it started, the page cache kept): the stores must hold both.
#[derive(Debug, Clone, Copy)]
enum Model {
    PowerCut,
    Kill,
}

/// What a round saw.
struct Outcome {
    /// Uncut: the operation's steps; cut: every step logged.
    steps: Vec<String>,
    /// Steps the daemon made at start, before the operation.
    startup: usize,
    /// Whether the daemon stopped at the step asked for.
    cut: bool,
    /// How many files the cut emptied.
    lost: usize,
}

/// At most `max` steps of `1..=total`, spread evenly, the first and last among them.
fn spread(total: u64, max: u64) -> Vec<u64> {
    if max == 0 || total <= max {
        return (1..=total).collect();
    }
    let mut v: Vec<u64> = (0..max).map(|i| 1 + i * (total - 1) / (max - 1)).collect();
    v.dedup();
    v
}

#[test]
fn each_object_is_whole_or_absent_after_a_power_cut_at_each_write_step() {
    if !require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    dockbox::sys::set_child_subreaper().unwrap();
    let registry = Registry::get();
    let t = templates(&registry);
    let only: Option<Vec<String>> = std::env::var("DOCKBOX_POWER_CUT_OPS").ok().map(|s| s.split(',').map(str::to_string).collect());
    let max: u64 = std::env::var("DOCKBOX_POWER_CUT_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(12);
    let cases: Vec<Case> = cases().into_iter().filter(|c| only.as_ref().is_none_or(|o| o.iter().any(|n| n == c.name))).collect();
    let work = TempDir::new("power-cut-runs");
    // Every round to do: (case, step); counted first, one case at a time.
    let mut rounds = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let Outcome { steps, startup, .. } = round(case, &t, &work.join(format!("count-{}", case.name)), &registry.addr, None, Model::Kill).unwrap();
        eprintln!("{}: {} steps after {startup} at startup: {steps:?}", case.name, steps.len());
        assert!(!steps.is_empty(), "{} makes no durable write step", case.name);
        // The daemon counts from its start: the operation's steps follow the startup's.
        let total = steps.len() as u64;
        for n in spread(total, max) {
            for model in [Model::PowerCut, Model::Kill] {
                rounds.push((i, startup as u64 + n, total, model));
            }
        }
    }
    let queue = Mutex::new(rounds);
    let failures = Mutex::new(Vec::new());
    let lost_files = Mutex::new(0usize);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for worker in 0..2 {
            let (queue, failures, lost_files, cases, t, work, registry) = (&queue, &failures, &lost_files, &cases, &t, &work, &registry);
            scope.spawn(move || loop {
                let Some((i, n, total, model)) = queue.lock().unwrap().pop() else { break };
                let case = &cases[i];
                let dir = work.join(format!("{}-{n}-{model:?}-{worker}", case.name));
                match round(case, t, &dir, &registry.addr, Some(n), model) {
                    Ok(Outcome { cut: true, lost, .. }) => *lost_files.lock().unwrap() += lost,
                    Ok(_) => failures.lock().unwrap().push(format!("{} was not cut at step {n} of {total} ({model:?})", case.name)),
                    Err(e) => failures.lock().unwrap().push(e),
                }
            });
        }
    });
    eprintln!("power cut rounds took {:?}", started.elapsed());
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n\n"));
    // The power cuts dropped data somewhere (a container's layer record, written without
    // fsync, at least), or the model would test nothing a kill does not.
    let lost = lost_files.into_inner().unwrap();
    eprintln!("files emptied by the power cuts: {lost}");
    assert!(only.is_some() || lost > 0, "no power cut lost any data");
}

