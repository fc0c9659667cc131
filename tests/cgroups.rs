//! Cgroups against the real kernel (v1 controllers with cgroup2 at /sys/fs/cgroup/unified):
//! docker-runc's limits, freezer, update, events, ps and clean-up, the v2 device program,
//! and dockerd's HostConfig limits. Every container has a unique cgroupsPath, and each test
//! asserts that no cgroup directory of it is left behind.

mod common;

use common::{applet, require_root, text, Bundle, TempDir};
use dockbox::cgroups::Cgroup;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const V1: &str = "/sys/fs/cgroup";

/// The Dockerd fixture makes this process a subreaper and reaps any child on drop, which
/// under `cargo test` (threads) could steal another test's child: the dockerd test runs
/// alone (write), the others together (read).
static CHILDREN: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    CHILDREN.read().unwrap_or_else(|e| e.into_inner())
}

/// A busybox bundle (common::Bundle) whose containers run in a unique cgroupsPath.
struct CgroupBundle {
    bundle: Bundle,
    cgroup: String,
}

impl std::ops::Deref for CgroupBundle {
    type Target = Bundle;
    fn deref(&self) -> &Bundle {
        &self.bundle
    }
}

impl CgroupBundle {
    fn new(tag: &str) -> CgroupBundle {
        let cgroup = format!("/dbxtest-{tag}-{}", &dockbox::ids::new_id()[..12]);
        CgroupBundle { bundle: Bundle::new(tag), cgroup }
    }

    /// One whose cgroupsPath is relative: under runc's (here the test's) own cgroups.
    fn relative(tag: &str) -> CgroupBundle {
        let cgroup = format!("dbxtest-{tag}-{}", &dockbox::ids::new_id()[..12]);
        CgroupBundle { bundle: Bundle::new(tag), cgroup }
    }

    /// runc's default spec running `args`, in this bundle's cgroup, with `resources`.
    fn write_limited(&self, args: &[&str], resources: Value) {
        let mut spec = self.config(args);
        spec["linux"]["cgroupsPath"] = json!(self.cgroup);
        spec["linux"]["resources"] = resources;
        self.write(&spec);
    }

    /// The container's directory in a v1 controller (or "unified").
    fn cgroup_dir(&self, controller: &str) -> PathBuf {
        Path::new(V1).join(controller).join(self.cgroup.trim_start_matches('/'))
    }

    fn file(&self, controller: &str, file: &str) -> String {
        std::fs::read_to_string(self.cgroup_dir(controller).join(file)).unwrap_or_else(|e| panic!("{controller}/{file}: {e}")).trim().to_string()
    }

    /// The directory of each hierarchy this container's cgroup has (or is to have): the
    /// hierarchy's controllers ("" for cgroup2) and the directory.
    fn dirs(&self) -> Vec<(String, PathBuf)> {
        let h = dockbox::cgroups::Hierarchies::detect().unwrap();
        expected_proc_cgroup(&self.cgroup)
            .iter()
            .filter_map(|line| {
                let mut f = line.splitn(3, ':').skip(1);
                let (controllers, path) = (f.next()?, f.next()?);
                let mount = if controllers.is_empty() { &h.unified.as_ref()?.0 } else { &h.v1.get(controllers.split(',').next()?)?.0 };
                Some((controllers.to_string(), mount.join(path.trim_start_matches('/'))))
            })
            .collect()
    }

    /// Every directory of this container's cgroup that exists.
    fn leftover_dirs(&self) -> Vec<PathBuf> {
        self.dirs().into_iter().map(|(_, d)| d).filter(|d| d.exists()).collect()
    }
}

/// What /proc/PID/cgroup must read for a process of a container in `cgroups_path` made by a
/// runc that runs in this test's cgroups, by runc's rules: every hierarchy (each v1 one and
/// the cgroup2 one) at the absolute path, or at the relative one under runc's own cgroup.
fn expected_proc_cgroup(cgroups_path: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/cgroup")
        .unwrap()
        .lines()
        .map(|line| {
            let mut f = line.splitn(3, ':');
            let (n, controllers, own) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            let path = if cgroups_path.starts_with('/') { cgroups_path.to_string() } else { format!("{}/{cgroups_path}", own.trim_end_matches('/')) };
            format!("{n}:{controllers}:{path}")
        })
        .collect()
}

impl Drop for CgroupBundle {
    fn drop(&mut self) {
        // The containers go first (the inner Bundle's drop would be too late for the rmdir).
        self.bundle.delete_all();
        // Never leave a cgroup behind, even when the test failed half-way.
        for d in self.leftover_dirs() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// major:minor of a block device of this host, for throttle rules.
fn block_device() -> (u64, u64) {
    let dev = std::fs::read_dir("/sys/block").unwrap().flatten().find_map(|e| std::fs::read_to_string(e.path().join("dev")).ok()).expect("no block device");
    let (a, b) = dev.trim().split_once(':').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

fn cgroup_of(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap()
}

#[test]
fn limits_land_in_v1_files_and_delete_removes_every_dir() {
    if !require_root() {
        return;
    }
    let _children = shared();
    let b = CgroupBundle::new("limits");
    let disk = block_device();
    b.write_limited(
        &["sleep", "30"],
        json!({
            "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}],
            "memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
            "pids": {"limit": 10},
            "blockIO": {"throttleReadBpsDevice": [{"major": disk.0, "minor": disk.1, "rate": 1048576}]},
            // This host has hugetlb only on its cgroup2 side: set there in hybrid mode.
            "hugepageLimits": [{"pageSize": "2MB", "limit": 8 << 20}],
        }),
    );
    b.create_and_start("lim");
    let pid = b.pid("lim");
    let cg = cgroup_of(pid);
    assert!(cg.contains(&format!(":memory:{}\n", b.cgroup)), "{cg}");
    assert!(cg.contains(&format!("0::{}\n", b.cgroup)), "unified joined too: {cg}");
    assert_eq!(b.file("memory", "memory.limit_in_bytes"), (64u64 << 20).to_string());
    assert_eq!(b.file("memory", "memory.soft_limit_in_bytes"), (32u64 << 20).to_string());
    assert_eq!(b.file("memory", "memory.memsw.limit_in_bytes"), (128u64 << 20).to_string());
    assert_eq!(b.file("cpu", "cpu.shares"), "512");
    assert_eq!(b.file("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(b.file("cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(b.file("cpuset", "cpuset.cpus"), "0");
    assert_eq!(b.file("pids", "pids.max"), "10");
    assert_eq!(b.file("blkio", "blkio.throttle.read_bps_device"), format!("{}:{} 1048576", disk.0, disk.1));
    let devices = b.file("devices", "devices.list");
    assert!(devices.lines().any(|l| l == "c 1:3 rwm") && devices.lines().any(|l| l == "b *:* m"), "{devices}");
    assert!(!devices.contains("a *:*"), "{devices}");
    assert_eq!(b.file("pids", "cgroup.procs"), pid.to_string());
    assert_eq!(b.file("unified", "hugetlb.2MB.max"), (8u64 << 20).to_string());
    // kill --all reaches every process in the cgroup; delete removes every directory.
    b.ok(&["kill", "--all", "lim", "KILL"]);
    b.ok(&["delete", "-f", "lim"]);
    assert_eq!(b.leftover_dirs(), Vec::<PathBuf>::new());
}

#[test]
fn pids_limit_caps_a_fork_bomb() {
    if !require_root() {
        return;
    }
    let _children = shared();
    let b = CgroupBundle::new("forkbomb");
    b.write_limited(&["sh", "-c", "for i in $(seq 50); do sleep 1 & done; wait; echo done"], json!({"pids": {"limit": 10}}));
    let out = b.output(&["run", "--bundle", b.bundle().to_str().unwrap(), "bomb"]);
    let err = text(&out.stderr);
    assert!(err.contains("can't fork") || err.contains("Resource temporarily unavailable"), "no fork failure: {err}");
    assert_eq!(b.leftover_dirs(), Vec::<PathBuf>::new(), "run removes the cgroup");
}

#[test]
fn device_rules_deny_a_device_made_inside() {
    if !require_root() {
        return;
    }
    let _children = shared();
    let b = CgroupBundle::new("devices");
    // Docker's CAP_MKNOD lets the container make the node; the devices cgroup refuses to open it.
    let mut spec_caps = vec!["CAP_MKNOD", "CAP_DAC_OVERRIDE"];
    spec_caps.sort();
    b.write_limited(
        &["sh", "-c", "mknod /tmp/disk b 7 0 && mknod /tmp/null c 1 3 && head -c1 /tmp/null; echo null=$?; head -c1 /tmp/disk >/dev/null; echo disk=$?"],
        json!({"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}, {"allow": true, "type": "b", "access": "m"}]}),
    );
    let mut spec: Value = serde_json::from_slice(&std::fs::read(b.bundle().join("config.json")).unwrap()).unwrap();
    for set in ["bounding", "effective", "permitted"] {
        spec["process"]["capabilities"][set] = json!(spec_caps);
    }
    spec["root"]["readonly"] = json!(false);
    std::fs::write(b.bundle().join("config.json"), serde_json::to_vec(&spec).unwrap()).unwrap();
    let out = b.output(&["run", "--bundle", b.bundle().to_str().unwrap(), "dev"]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("null=0"), "stdout {stdout} stderr {}", text(&out.stderr));
    assert!(stdout.contains("disk=1"), "stdout {stdout} stderr {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("Operation not permitted"), "{}", text(&out.stderr));
    assert_eq!(b.leftover_dirs(), Vec::<PathBuf>::new());
}

/// The state of process `pid` from /proc (R, S, D, ...).
fn proc_state(pid: i32) -> String {
    common::proc_field(pid, "State").unwrap_or_default()
}

#[test]
fn pause_freezes_and_resume_thaws() {
    if !require_root() {
        return;
    }
    let _children = shared();
    let b = CgroupBundle::new("pause");
    b.write_limited(&["sh", "-c", "while :; do :; done"], json!({}));
    b.create_and_start("p");
    let err = b.output(&["resume", "p"]);
    assert!(!err.status.success());
    assert!(text(&err.stderr).contains("container not paused"), "{}", text(&err.stderr));
    b.ok(&["pause", "p"]);
    assert_eq!(b.status("p"), "paused");
    assert_eq!(b.file("freezer", "freezer.state"), "FROZEN");
    let pid = b.pid("p");
    // utime: field 14 of /proc/PID/stat (the comm, "sh", has no spaces).
    let ticks = || std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap().split(' ').nth(13).unwrap_or("").to_string();
    let before = ticks();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ticks(), before, "a frozen busy loop uses no cpu");
    assert!(proc_state(pid).starts_with('D') || proc_state(pid).starts_with('S'), "{}", proc_state(pid));
    let again = b.output(&["pause", "p"]);
    assert!(text(&again.stderr).contains("container not running"), "{}", text(&again.stderr));
    b.ok(&["resume", "p"]);
    assert_eq!(b.status("p"), "running");
    assert_eq!(b.file("freezer", "freezer.state"), "THAWED");
    // Delete of a paused container needs force, and then works (it thaws to kill).
    b.ok(&["pause", "p"]);
    let plain = b.output(&["delete", "p"]);
    assert!(text(&plain.stderr).contains("that is not stopped: paused"), "{}", text(&plain.stderr));
    b.ok(&["delete", "-f", "p"]);
    assert_eq!(b.leftover_dirs(), Vec::<PathBuf>::new());
}

#[test]
fn update_events_and_ps_work_live() {
    if !require_root() {
        return;
    }
    let _children = shared();
    let b = CgroupBundle::new("update");
    // busybox sh execs the last command: the init is `sleep 31`, with one `sleep 30` child.
    b.write_limited(&["sh", "-c", "sleep 30 & sleep 31"], json!({"memory": {"limit": 64 << 20}, "pids": {"limit": 20}}));
    b.create_and_start("u");
    b.ok(&["update", "--memory", "96m", "--memory-swap", "200m", "--pids-limit", "15", "--cpu-shares", "300", "u"]);
    assert_eq!(b.file("memory", "memory.limit_in_bytes"), (96u64 << 20).to_string());
    assert_eq!(b.file("memory", "memory.memsw.limit_in_bytes"), (200u64 << 20).to_string());
    assert_eq!(b.file("pids", "pids.max"), "15");
    assert_eq!(b.file("cpu", "cpu.shares"), "300");
    let res = b.dir.join("res.json");
    std::fs::write(&res, r#"{"memory":{"limit":33554432},"cpu":{"quota":20000,"period":100000}}"#).unwrap();
    b.ok(&["update", "-r", res.to_str().unwrap(), "u"]);
    assert_eq!(b.file("memory", "memory.limit_in_bytes"), "33554432");
    assert_eq!(b.file("cpu", "cpu.cfs_quota_us"), "20000");

    let deadline = Instant::now() + Duration::from_secs(5);
    while b.file("pids", "pids.current") != "2" {
        assert!(Instant::now() < deadline, "the container's two sleeps did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let ev: Value = serde_json::from_str(&b.ok(&["events", "--stats", "u"])).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], "u");
    assert!(ev["data"]["cpu"]["usage"]["total"].as_u64().unwrap() > 0, "{ev}");
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 33554432);
    assert!(ev["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0, "{ev}");
    assert_eq!(ev["data"]["pids"]["current"], 2, "two sleeps: {ev}");
    assert_eq!(ev["data"]["pids"]["limit"], 15);
    assert!(ev["data"]["blkio"].is_object());

    // Streaming: two stats lines at a short interval.
    let mut child = b.runc().args(["events", "--interval", "100ms", "u"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    for _ in 0..2 {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["type"], "stats");
    }
    let _ = child.kill();
    let _ = child.wait();

    let pids: Vec<i32> = serde_json::from_str(&b.ok(&["ps", "-f", "json", "u"])).unwrap();
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert!(pids.contains(&b.pid("u")));
    let table = b.ok(&["ps", "u"]);
    assert!(table.lines().next().unwrap().contains("PID"), "{table}");
    assert_eq!(table.lines().filter(|l| l.contains("sleep 3")).count(), 2, "{table}");
    let custom = b.ok(&["ps", "u", "-o", "pid,comm"]);
    assert_eq!(custom.lines().count(), 3, "{custom}");

    b.ok(&["kill", "--all", "u", "KILL"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while b.status("u") != "stopped" {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    b.ok(&["delete", "u"]);
    assert_eq!(b.leftover_dirs(), Vec::<PathBuf>::new());
}

#[test]
fn failed_create_leaves_no_cgroup() {
    if !require_root() {
        return;
    }
    let _children = shared();
    let b = CgroupBundle::new("failed");
    b.write_limited(&["/no/such/program"], json!({"memory": {"limit": 64 << 20}}));
    let out = b.quiet(&["create", "--bundle", b.bundle().to_str().unwrap(), "f"]);
    assert!(!out.status.success());
    assert_eq!(b.leftover_dirs(), Vec::<PathBuf>::new());
    // A limit the kernel refuses fails create with the file named, and leaves nothing.
    b.write_limited(&["true"], json!({"cpu": {"cpus": "4095"}}));
    let out = b.quiet(&["create", "--bundle", b.bundle().to_str().unwrap(), "f2"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("cpuset.cpus"), "{}", text(&out.stderr));
    assert_eq!(b.leftover_dirs(), Vec::<PathBuf>::new());
    assert!(!b.dir.join("state/f2").exists());
}

#[test]
fn systemd_cgroup_driver_is_refused() {
    let _children = shared();
    let out = applet("docker-runc").args(["--systemd-cgroup", "list"]).output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("not supported"), "{}", text(&out.stderr));
}

/// A cgroup v2 directory under /sys/fs/cgroup/unified, removed on drop.
struct UnifiedDir(PathBuf);

impl Drop for UnifiedDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Runs `sh -c script` inside the cgroup2 directory `dir` and returns its output.
fn run_in_unified(dir: &Path, script: &str) -> Output {
    use std::os::unix::process::CommandExt;
    let procs = dir.join("cgroup.procs");
    let mut cmd = Command::new("/bin/busybox");
    cmd.args(["sh", "-c", script]);
    // SAFETY: the hook only writes to a file and returns, which is fine between fork and exec.
    unsafe {
        cmd.pre_exec(move || std::fs::write(&procs, "0"));
    }
    cmd.output().unwrap()
}

#[test]
fn v2_device_program_is_enforced_by_the_kernel() {
    if !require_root() {
        return;
    }
    let _children = shared();
    let unified = Path::new(V1).join("unified");
    if !unified.join("cgroup.procs").exists() {
        panic!("this host has no cgroup2 hierarchy at {}", unified.display());
    }
    let dir = UnifiedDir(unified.join(format!("dbxtest-bpf-{}", &dockbox::ids::new_id()[..12])));
    std::fs::create_dir(&dir.0).unwrap();
    let rules: Vec<dockbox::oci::DeviceRule> = serde_json::from_value(json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "r"},
    ]))
    .unwrap();
    dockbox::cgroups::devices::apply_v2(&dir.0, &rules).unwrap();
    let out = run_in_unified(&dir.0, "head -c1 /dev/null; echo null=$?; head -c1 /dev/zero | wc -c; echo x > /dev/zero; echo zerow=$?; head -c1 /dev/urandom; echo urandom=$?");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("null=0"), "{stdout} {}", text(&out.stderr));
    assert!(stdout.contains("\n1\n") || stdout.starts_with("1\n") || stdout.contains("null=0\n1"), "zero readable: {stdout}");
    assert!(stdout.contains("zerow=1") || stdout.contains("zerow=2"), "zero not writable: {stdout}");
    assert!(stdout.contains("urandom=1"), "urandom denied: {stdout} {}", text(&out.stderr));
    // Replacing the program replaces the rules.
    dockbox::cgroups::devices::apply_v2(&dir.0, &[]).unwrap();
    let out = run_in_unified(&dir.0, "head -c1 /dev/urandom >/dev/null; echo urandom=$?");
    assert!(text(&out.stdout).contains("urandom=0"), "{}", text(&out.stdout));
}

#[test]
fn v2_files_are_written_on_the_unified_hierarchy() {
    if !require_root() {
        return;
    }
    let _children = shared();
    // In hybrid mode this host's cgroup2 side has hugetlb and the core files (freeze); the
    // v2 code writes them for real. The rest of the v2 files are checked on a plain dir.
    let unified = Path::new(V1).join("unified");
    let dir = UnifiedDir(unified.join(format!("dbxtest-v2-{}", &dockbox::ids::new_id()[..12])));
    dockbox::cgroups::v2::create_delegating(&dir.0).unwrap();
    let sizes: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("hugetlb.")?.strip_suffix(".max").map(String::from))
        .collect();
    assert!(!sizes.is_empty(), "hugetlb was delegated to the new cgroup");
    let r: dockbox::cgroups::Resources = serde_json::from_value(json!({"hugepageLimits": [{"pageSize": sizes[0], "limit": 4 << 21}]})).unwrap();
    dockbox::cgroups::v2::apply(&dir.0, &r).unwrap();
    assert_eq!(std::fs::read_to_string(dir.0.join(format!("hugetlb.{}.max", sizes[0]))).unwrap().trim(), (4u64 << 21).to_string());
    // Freeze a process for real with cgroup.freeze.
    let mut child = Command::new("/bin/busybox").args(["sleep", "30"]).spawn().unwrap();
    std::fs::write(dir.0.join("cgroup.procs"), child.id().to_string()).unwrap();
    dockbox::cgroups::v2::set_frozen(&dir.0, true).unwrap();
    assert!(dockbox::cgroups::v2::is_frozen(&dir.0));
    dockbox::cgroups::v2::set_frozen(&dir.0, false).unwrap();
    assert!(!dockbox::cgroups::v2::is_frozen(&dir.0));
    child.kill().unwrap();
    child.wait().unwrap();

    // memory/cpu/pids/io on a plain directory standing in for a v2 cgroup.
    let fake = TempDir::new("v2files");
    std::fs::write(fake.join("cpu.max"), "max 100000\n").unwrap();
    std::fs::write(fake.join("io.weight"), "").unwrap();
    let r: dockbox::cgroups::Resources = serde_json::from_value(json!({
        "memory": {"limit": 1 << 26, "reservation": 1 << 25, "swap": 1 << 27},
        "cpu": {"shares": 1024, "quota": 50000, "cpus": "0-1"},
        "pids": {"limit": 7},
        "blockIO": {"weight": 500, "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}]},
        "unified": {"memory.high": "50000000"},
    }))
    .unwrap();
    dockbox::cgroups::v2::apply(fake.path(), &r).unwrap();
    let f = |n: &str| std::fs::read_to_string(fake.join(n)).unwrap();
    assert_eq!(f("memory.max"), (1u64 << 26).to_string());
    assert_eq!(f("memory.low"), (1u64 << 25).to_string());
    assert_eq!(f("memory.swap.max"), (1u64 << 26).to_string(), "swap.max is swap minus memory");
    assert_eq!(f("cpu.weight"), "39");
    assert_eq!(f("cpu.max"), "50000 100000");
    assert_eq!(f("cpuset.cpus"), "0-1");
    assert_eq!(f("pids.max"), "7");
    assert_eq!(f("io.weight"), "default 4950");
    assert_eq!(f("io.max"), "8:0 wiops=100");
    assert_eq!(f("memory.high"), "50000000");
    let bad: dockbox::cgroups::Resources = serde_json::from_value(json!({"unified": {"cgroup.procs": "1"}})).unwrap();
    assert!(dockbox::cgroups::v2::apply(fake.path(), &bad).is_err());
}

#[test]
fn cgroup_records_resolve_on_this_host() {
    if !require_root() {
        return;
    }
    let _children = shared();
    let cg = Cgroup::resolve(Some("/docker/abc"), "abc").unwrap();
    assert_eq!(cg.mode, dockbox::cgroups::Mode::Hybrid);
    assert_eq!(cg.v1["memory"], PathBuf::from("/sys/fs/cgroup/memory/docker/abc"));
    assert_eq!(cg.unified, Some(PathBuf::from("/sys/fs/cgroup/unified/docker/abc")));
}

#[test]
fn dockerd_puts_host_config_limits_in_docker_cgroups() {
    let _alone = CHILDREN.write().unwrap_or_else(|e| e.into_inner());
    let Some(d) = common::Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    let out = d.docker(&["run", "-d", "-m", "64m", "--memory-reservation", "32m", "--pids-limit", "20", "--cpus", "0.5", "--cpu-shares", "512", "--cpuset-cpus", "0", &image, "sleep", "30"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let id = common::stdout(&out).trim().to_string();
    let file = |ctrl: &str, f: &str| std::fs::read_to_string(Path::new(V1).join(ctrl).join(d.container_cgroup(&id).trim_start_matches('/')).join(f)).unwrap_or_else(|e| panic!("{ctrl}/{f}: {e}")).trim().to_string();
    assert_eq!(file("memory", "memory.limit_in_bytes"), (64u64 << 20).to_string());
    assert_eq!(file("memory", "memory.soft_limit_in_bytes"), (32u64 << 20).to_string());
    assert_eq!(file("memory", "memory.memsw.limit_in_bytes"), (128u64 << 20).to_string(), "dockerd's default swap");
    assert_eq!(file("pids", "pids.max"), "20");
    assert_eq!(file("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(file("cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(file("cpu", "cpu.shares"), "512");
    assert_eq!(file("cpuset", "cpuset.cpus"), "0");
    let devices = file("devices", "devices.list");
    assert!(devices.lines().any(|l| l == "c 1:3 rwm") && devices.lines().any(|l| l == "c 136:* rwm"), "{devices}");
    assert!(!devices.contains("a *:*"), "deny all first: {devices}");
    let inspect: Value = serde_json::from_slice(&d.docker(&["inspect", &id]).stdout).unwrap();
    assert_eq!(inspect[0]["HostConfig"]["Memory"], 64 << 20);
    assert_eq!(inspect[0]["HostConfig"]["NanoCpus"], 500_000_000);
    let pid = inspect[0]["State"]["Pid"].as_i64().unwrap() as i32;
    assert!(cgroup_of(pid).contains(&format!(":memory:{}\n", d.container_cgroup(&id))), "{}", cgroup_of(pid));

    // The real CLI sends the same HostConfig fields.
    let disk = block_device();
    let node = std::fs::read_dir("/dev")
        .unwrap()
        .flatten()
        .find(|e| {
            use std::os::unix::fs::{FileTypeExt, MetadataExt};
            e.metadata().is_ok_and(|m| m.file_type().is_block_device() && (libc::major(m.rdev()) as u64, libc::minor(m.rdev()) as u64) == disk)
        })
        .expect("a block device node")
        .path();
    let throttle = format!("{}:1mb", node.display());
    let out = d.real_docker("/usr/local/bin/docker", &["run", "-d", "--memory=48m", "--pids-limit=30", "--cpu-quota=30000", "--device-write-bps", &throttle, &image, "sleep", "30"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let real = common::stdout(&out).trim().to_string();
    let real_file = |ctrl: &str, f: &str| std::fs::read_to_string(Path::new(V1).join(ctrl).join(d.container_cgroup(&real).trim_start_matches('/')).join(f)).unwrap().trim().to_string();
    assert_eq!(real_file("memory", "memory.limit_in_bytes"), (48u64 << 20).to_string());
    assert_eq!(real_file("pids", "pids.max"), "30");
    assert_eq!(real_file("cpu", "cpu.cfs_quota_us"), "30000");
    assert_eq!(real_file("blkio", "blkio.throttle.write_bps_device"), format!("{}:{} 1048576", disk.0, disk.1));
    assert!(d.docker(&["rm", "-f", &real]).status.success());
    assert!(!Path::new(V1).join("memory").join(d.container_cgroup(&real).trim_start_matches('/')).exists());

    let out = d.docker(&["rm", "-f", &id]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let left: Vec<PathBuf> = std::fs::read_dir(V1).unwrap().flatten().map(|e| e.path().join(d.container_cgroup(&id).trim_start_matches('/'))).filter(|p| p.exists()).collect();
    assert_eq!(left, Vec::<PathBuf>::new());

    // Inside, /sys/fs/cgroup shows the container's own cgroups, read-only.
    let out = d.docker(&["run", "--rm", "-m", "64m", "--pids-limit", "20", &image, "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; echo 1 > /sys/fs/cgroup/pids/pids.max || echo read-only"]);
    assert_eq!(common::stdout(&out), "67108864\n20\nread-only\n", "{}", common::stderr(&out));

    let out = d.docker(&["create", "-m", "1k", &image]);
    assert!(!out.status.success());
    assert!(common::stderr(&out).contains("Minimum memory limit allowed is 6MB"), "{}", common::stderr(&out));
}

#[test]
fn events_reports_an_oom_kill() {
    if !require_root() {
        return;
    }
    let _children = shared();
    let b = CgroupBundle::new("oom");
    // memory+swap equal to memory: no swap to escape to; dd's 64 MiB buffer cannot fit.
    // OOM again and again, so the watcher sees one however late it starts.
    b.write_limited(&["sh", "-c", "while :; do dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 0.3; done"], json!({"memory": {"limit": 16 << 20, "swap": 16 << 20}}));
    b.create_and_start("o");
    let mut child = b.runc().args(["events", "--interval", "10s", "o"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut reader, &mut line).unwrap() == 0 {
            break;
        }
        let v: Value = serde_json::from_str(&line).unwrap();
        seen.push(v["type"].as_str().unwrap().to_string());
        if v["type"] == "oom" {
            assert_eq!(v["id"], "o");
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(seen.first().map(String::as_str), Some("stats"), "{seen:?}");
    assert!(seen.iter().any(|t| t == "oom"), "{seen:?}");
    b.ok(&["delete", "-f", "o"]);
    assert_eq!(b.leftover_dirs(), Vec::<PathBuf>::new());
}

/// runc in a private mount namespace whose /sys/fs/cgroup is the host's cgroup2 hierarchy
/// alone, so it runs in unified (v2-only) mode on this hybrid host.
fn runc_v2(b: &Bundle, args: &[&str]) -> Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = b.runc();
    cmd.args(args).stdin(Stdio::null());
    // SAFETY: the hook only makes raw syscalls (unshare, mount, umount2) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            use nix::mount::{mount, umount2, MntFlags, MsFlags};
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
            mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)?;
            umount2("/sys/fs/cgroup", MntFlags::MNT_DETACH)?;
            mount(Some("cgroup2"), "/sys/fs/cgroup", Some("cgroup2"), MsFlags::empty(), None::<&str>)?;
            Ok(())
        });
    }
    output_through_files(b, cmd)
}

/// Runs `cmd` with stdout and stderr on files in the bundle's directory: a created init
/// keeps the stdio it gets, so a pipe would never reach EOF.
fn output_through_files(b: &Bundle, mut cmd: Command) -> Output {
    let out_path = b.dir.join(format!("out-{}", dockbox::ids::new_id()));
    let err_path = b.dir.join(format!("err-{}", dockbox::ids::new_id()));
    cmd.stdout(std::fs::File::create(&out_path).unwrap()).stderr(std::fs::File::create(&err_path).unwrap());
    let status = cmd.status().unwrap();
    let out = Output { status, stdout: std::fs::read(&out_path).unwrap(), stderr: std::fs::read(&err_path).unwrap() };
    let _ = std::fs::remove_file(out_path);
    let _ = std::fs::remove_file(err_path);
    out
}

#[test]
fn unified_mode_runs_a_container_with_device_program_freezer_and_stats() {
    if !require_root() {
        return;
    }
    let _children = shared();
    let b = CgroupBundle::new("v2mode");
    b.write_limited(
        &["sh", "-c", "mknod /tmp/disk b 7 0; head -c1 /tmp/disk >/dev/null 2>&1; echo disk=$? > /tmp/result; head -c1 /dev/zero | wc -c >> /tmp/result; sleep 30"],
        json!({"devices": [{"allow": false, "access": "rwm"}]}),
    );
    let mut spec: Value = serde_json::from_slice(&std::fs::read(b.bundle().join("config.json")).unwrap()).unwrap();
    for set in ["bounding", "effective", "permitted"] {
        spec["process"]["capabilities"][set] = json!(["CAP_MKNOD"]);
    }
    spec["root"]["readonly"] = json!(false);
    std::fs::write(b.bundle().join("config.json"), serde_json::to_vec(&spec).unwrap()).unwrap();
    let host_dir = b.cgroup_dir("unified");
    let v2 = |args: &[&str]| {
        let out = runc_v2(&b, args);
        assert!(out.status.success(), "runc {args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    v2(&["create", "--bundle", b.bundle().to_str().unwrap(), "v2"]);
    assert!(host_dir.is_dir());
    let record: Value = serde_json::from_slice(&std::fs::read(b.dir.join("state/v2/cgroup.json")).unwrap()).unwrap();
    assert_eq!(record["mode"], "unified", "{record}");
    v2(&["start", "v2"]);
    let result = b.bundle().join("rootfs/tmp/result");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&result).unwrap_or_default().lines().count() < 2 {
        assert!(Instant::now() < deadline, "the container did not write its result");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The eBPF program: block devices denied, the standard char devices allowed.
    assert_eq!(std::fs::read_to_string(&result).unwrap(), "disk=1\n1\n");
    let pid = b.pid("v2");
    assert!(cgroup_of(pid).contains(&format!("0::{}\n", b.cgroup)), "{}", cgroup_of(pid));

    v2(&["pause", "v2"]);
    assert_eq!(std::fs::read_to_string(host_dir.join("cgroup.freeze")).unwrap().trim(), "1");
    let state: Value = serde_json::from_str(&v2(&["state", "v2"])).unwrap();
    assert_eq!(state["status"], "paused");
    v2(&["resume", "v2"]);
    let ev: Value = serde_json::from_str(&v2(&["events", "--stats", "v2"])).unwrap();
    assert!(ev["data"]["cpu"]["usage"]["total"].as_u64().unwrap() > 0, "{ev}");
    let pids: Vec<i32> = serde_json::from_str(&v2(&["ps", "-f", "json", "v2"])).unwrap();
    assert_eq!(pids, vec![pid]);
    v2(&["kill", "--all", "v2", "KILL"]);
    v2(&["delete", "-f", "v2"]);
    assert!(!host_dir.exists(), "the cgroup2 directory is removed");
}

#[test]
fn kill_all_reaches_every_process_of_the_cgroup_and_a_cgroup_namespace_sees_its_root() {
    if !require_root() {
        return;
    }
    let _children = shared();
    let b = CgroupBundle::new("killall");
    b.write_limited(&["sh", "-c", "cat /proc/self/cgroup > /tmp/inside; sleep 30 & sleep 31"], json!({}));
    // Host pid namespace: only the cgroup knows which processes are the container's.
    // A cgroup namespace: the container sees its cgroup as the root.
    let mut spec: Value = serde_json::from_slice(&std::fs::read(b.bundle().join("config.json")).unwrap()).unwrap();
    let ns: Vec<Value> = spec["linux"]["namespaces"].as_array().unwrap().iter().filter(|n| n["type"] != "pid").cloned().chain([json!({"type": "cgroup"})]).collect();
    spec["linux"]["namespaces"] = json!(ns);
    spec["root"]["readonly"] = json!(false);
    std::fs::write(b.bundle().join("config.json"), serde_json::to_vec(&spec).unwrap()).unwrap();
    b.create_and_start("k");
    let deadline = Instant::now() + Duration::from_secs(5);
    let procs = b.cgroup_dir("pids").join("cgroup.procs");
    let pids = loop {
        let pids: Vec<i32> = std::fs::read_to_string(&procs).unwrap().lines().map(|l| l.parse().unwrap()).collect();
        // Both sleeps running (not sh and cat still writing the file).
        if pids.len() == 2 && pids.iter().all(|p| common::comm(*p) == "sleep") {
            break pids;
        }
        assert!(Instant::now() < deadline, "{pids:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let inside = std::fs::read_to_string(b.bundle().join("rootfs/tmp/inside")).unwrap();
    assert!(inside.lines().any(|l| l.ends_with(":memory:/")), "{inside}");
    assert!(inside.lines().any(|l| l == "0::/"), "{inside}");
    b.ok(&["kill", "--all", "k", "KILL"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| common::alive(*p)) {
        assert!(Instant::now() < deadline, "a process outlived kill --all");
        std::thread::sleep(Duration::from_millis(10));
    }
    b.ok(&["delete", "-f", "k"]);
    assert_eq!(b.leftover_dirs(), Vec::<PathBuf>::new());
}

/// The lines of /proc/PID/cgroup, sorted.
fn sorted_cgroup_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines.sort();
    lines
}

/// The pids in the container's pids cgroup once there are `n` of them.
fn wait_for_pids(b: &CgroupBundle, n: usize) -> Vec<i32> {
    let procs = b.dirs().into_iter().find(|(c, _)| c == "pids").expect("a pids hierarchy").1.join("cgroup.procs");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids: Vec<i32> = std::fs::read_to_string(&procs).unwrap().lines().map(|l| l.parse().unwrap()).collect();
        if pids.len() == n {
            return pids;
        }
        assert!(Instant::now() < deadline, "{pids:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts that the container's init (created, then started), the child it forks, a
/// process of `runc exec` and that one's child are in the expected cgroup of every hierarchy.
fn assert_every_process_joins(b: &CgroupBundle, runc: &dyn Fn(&[&str]) -> Output) {
    let want = sorted_cgroup_lines(&expected_proc_cgroup(&b.cgroup).join("\n"));
    let ok = |args: &[&str]| {
        let out = runc(args);
        assert!(out.status.success(), "runc {args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    ok(&["create", "--bundle", b.bundle().to_str().unwrap(), "j"]);
    let init = b.pid("j");
    assert_eq!(sorted_cgroup_lines(&cgroup_of(init)), want, "the created init");
    ok(&["start", "j"]);
    for pid in wait_for_pids(b, 2) {
        assert_eq!(sorted_cgroup_lines(&cgroup_of(pid)), want, "process {pid} ({})", common::comm(pid));
    }
    // The exec'd process reads its cgroups, then its child does.
    let both = ok(&["exec", "j", "sh", "-c", "cat /proc/self/cgroup; echo; cat /proc/self/cgroup & wait"]);
    let (first, second) = both.split_once("\n\n").unwrap_or_else(|| panic!("{both:?}"));
    assert_eq!(sorted_cgroup_lines(first), want, "the exec'd process");
    assert_eq!(sorted_cgroup_lines(second), want, "the exec'd process's child");
    ok(&["delete", "-f", "j"]);
}

#[test]
fn run_create_start_and_exec_put_every_process_in_every_hierarchy() {
    if !require_root() {
        return;
    }
    let _children = shared();
    for b in [CgroupBundle::new("join-abs"), CgroupBundle::relative("join-rel")] {
        // In the foreground, the container's process reads its own cgroups.
        b.write_limited(&["cat", "/proc/self/cgroup"], json!({"pids": {"limit": 10}}));
        let out = b.run("fg");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let want = sorted_cgroup_lines(&expected_proc_cgroup(&b.cgroup).join("\n"));
        assert_eq!(sorted_cgroup_lines(&text(&out.stdout)), want, "cgroupsPath {}", b.cgroup);
        assert_eq!(b.leftover_dirs(), Vec::<PathBuf>::new());

        b.write_limited(&["sh", "-c", "sleep 30 & exec sleep 31"], json!({"pids": {"limit": 10}}));
        assert_every_process_joins(&b, &|args| b.quiet(args));
        assert_eq!(b.leftover_dirs(), Vec::<PathBuf>::new());
    }
}

/// Runs our runc on `b` under a seccomp filter answering ENOSYS to clone3, as on kernels
/// before 5.3 or under Docker's default profile: runc must fall back to fork (or clone) and
/// move the child into the cgroup2 directory itself.
fn runc_without_clone3(b: &Bundle) -> impl Fn(&[&str]) -> Output + '_ {
    let filter = dockbox::seccomp::Seccomp::from_value(&json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS}],
    }))
    .unwrap()
    .compile()
    .unwrap();
    let filter = std::sync::Arc::new(filter);
    move |args: &[&str]| {
        use std::os::unix::process::CommandExt;
        let mut cmd = b.runc();
        cmd.args(args).stdin(Stdio::null());
        let filter = filter.clone();
        // SAFETY: the hook only makes the seccomp syscall on a program built before the fork.
        unsafe {
            cmd.pre_exec(move || dockbox::seccomp::install(&filter).map(drop).map_err(std::io::Error::other));
        }
        output_through_files(b, cmd)
    }
}

#[test]
fn a_user_namespace_container_joins_every_hierarchy() {
    if !require_root() {
        return;
    }
    let _children = shared();
    // Root inside maps to an unprivileged id outside: the container's processes could not
    // write to the host's cgroup files; runc's descriptors and the order of the steps make
    // the joins work anyway. The init is cloned with CLONE_NEWUSER: by clone3, or by clone
    // where clone3 is refused.
    let b = CgroupBundle::new("join-userns");
    b.write_limited(&["sh", "-c", "sleep 30 & exec sleep 31"], json!({"pids": {"limit": 10}}));
    let mut spec: Value = serde_json::from_slice(&std::fs::read(b.bundle().join("config.json")).unwrap()).unwrap();
    spec["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.write(&spec);
    assert_every_process_joins(&b, &|args| b.quiet(args));
    assert_eq!(b.leftover_dirs(), Vec::<PathBuf>::new());
    assert_every_process_joins(&b, &runc_without_clone3(&b));
    assert_eq!(b.leftover_dirs(), Vec::<PathBuf>::new());
}

#[test]
fn without_clone3_the_cgroup2_directory_is_joined_through_cgroup_procs() {
    if !require_root() {
        return;
    }
    let _children = shared();
    let b = CgroupBundle::new("join-noclone3");
    b.write_limited(&["sh", "-c", "sleep 30 & exec sleep 31"], json!({"pids": {"limit": 10}}));
    assert_every_process_joins(&b, &runc_without_clone3(&b));
    assert_eq!(b.leftover_dirs(), Vec::<PathBuf>::new());
}

/// The cgroup files runc's processes wrote to, from an `strace -f -y` log: (path, data).
fn cgroup_writes(log: &str) -> Vec<(String, String)> {
    log.lines()
        .filter_map(|l| {
            let rest = &l[l.find("write(")? + "write(".len()..];
            let path = &rest[rest.find('<')? + 1..rest.find(">,")?];
            let data = rest[rest.find(">,")? + 2..].trim_start().split(',').next()?.trim_matches('"');
            path.starts_with(V1).then(|| (path.to_string(), data.to_string()))
        })
        .collect()
}

#[test]
fn no_process_is_moved_through_cgroup_procs() {
    if !require_root() {
        return;
    }
    let _children = shared();
    // Writing a pid to cgroup.procs takes the kernel's global threadgroup lock, which waits
    // for an RCU grace period: the container's processes enter by clone3 into the cgroup2
    // directory and by a "0" to each v1 `tasks` file instead. strace shows which was used.
    assert!(Command::new("strace").arg("-V").output().is_ok_and(|o| o.status.success()), "strace is not installed (apt-get install strace)");
    let b = CgroupBundle::new("join-traced");
    let mut v1_tasks: Vec<String> = b.dirs().into_iter().filter(|(c, _)| !c.is_empty()).map(|(_, d)| d.join("tasks").display().to_string()).collect();
    v1_tasks.sort();
    let traced = |args: &[&str]| {
        let log = b.dir.join(format!("strace-{}", dockbox::ids::new_id()));
        let mut cmd = Command::new("strace");
        cmd.args(["-f", "-qq", "-y", "-s", "64", "-e", "trace=write,clone3", "-e", "signal=none", "-o"]).arg(&log).arg(common::applet_dir().join("docker-runc")).arg("--root").arg(b.root()).args(args).stdin(Stdio::null());
        let out = output_through_files(&b, cmd);
        assert!(out.status.success(), "runc {args:?}: {}", text(&out.stderr));
        let text = std::fs::read_to_string(&log).unwrap();
        let _ = std::fs::remove_file(log);
        text
    };
    // strace follows every process it traces to its end: the traced ones all exit.
    b.write_limited(&["true"], json!({"pids": {"limit": 10}}));
    let run = traced(&["run", "--bundle", b.bundle().to_str().unwrap(), "run"]);
    b.write_limited(&["sleep", "30"], json!({"pids": {"limit": 10}}));
    let out = b.quiet(&["run", "-d", "--bundle", b.bundle().to_str().unwrap(), "t"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for log in [run, traced(&["exec", "t", "true"])] {
        let writes = cgroup_writes(&log);
        let procs: Vec<_> = writes.iter().filter(|(p, _)| p.ends_with("/cgroup.procs")).collect();
        assert_eq!(procs, Vec::<&(String, String)>::new(), "{log}");
        let mut joined: Vec<String> = writes.iter().filter(|(p, d)| p.ends_with("/tasks") && d == "0").map(|(p, _)| p.clone()).collect();
        joined.sort();
        assert_eq!(joined, v1_tasks, "{log}");
        assert!(log.lines().any(|l| l.contains("clone3(") && l.contains("CLONE_INTO_CGROUP")), "{log}");
    }
    let init = b.pid("t");
    assert_eq!(sorted_cgroup_lines(&cgroup_of(init)), sorted_cgroup_lines(&expected_proc_cgroup(&b.cgroup).join("\n")));
    b.ok(&["delete", "-f", "t"]);
    assert_eq!(b.leftover_dirs(), Vec::<PathBuf>::new());
}
