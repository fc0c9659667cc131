//! docker-runc's cgroup handling against runc 1.1's (issue 14, "Cgroups"): each check runs
//! on our runtime and on the real runc where it is installed (`runtimes`), and every cgroup
//! a test makes is gone at its end (`delete --force` takes nested sub-cgroups too).

mod common;
mod runtimes;

use common::{require_root, text, Bundle};
use runtimes::{cgroup_dirs, runtimes};
use std::time::{Duration, Instant};

/// Asserts that none of `dirs` exists any more.
fn assert_removed(who: &str, dirs: &[(String, std::path::PathBuf)]) {
    for (ctrls, d) in dirs {
        assert!(!d.exists(), "{who}: cgroup {ctrls} {} left behind", d.display());
    }
}

#[test]
fn exec_cgroup_joins_sub_cgroups_and_delete_removes_them() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-exec-cgroup");
    b.write(&b.config(&["sleep", "1000"]));
    for rt in runtimes(&b) {
        let who = rt.name;
        let id = format!("excg-{who}");
        rt.run_detached(&b.bundle(), &id);
        let dirs = cgroup_dirs(rt.pid(&id));
        let find = |c: &str| dirs.iter().find(|(ctrls, _)| ctrls.split(',').any(|x| x == c)).unwrap().1.clone();
        let (mem_dir, cpu_dir, cpuacct_dir) = (find("memory"), find("cpu"), find("cpuacct"));
        // Not above the container's cgroup, not into one that does not exist, not an
        // unknown controller.
        let out = rt.run(&["exec", "--cgroup", "..", &id, "true"]);
        assert_eq!(out.status.code(), Some(255), "{who}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(".. is not a sub cgroup path"), "{who}: {}", text(&out.stderr));
        for arg in ["nonexistent", "cpu:nonexistent"] {
            let out = rt.run(&["exec", "--cgroup", arg, &id, "true"]);
            assert_eq!(out.status.code(), Some(255), "{who} {arg}: {}", text(&out.stderr));
            let err = text(&out.stderr);
            assert!(err.contains("adding pid") && err.contains("/nonexistent/cgroup.procs: no such file"), "{who} {arg}: {err}");
        }
        let out = rt.run(&["exec", "--cgroup", "whaaat:/", &id, "true"]);
        assert_eq!(out.status.code(), Some(255), "{who}");
        assert!(text(&out.stderr).contains("unknown controller whaaat"), "{who}: {}", text(&out.stderr));
        let out = rt.run(&["exec", "--cgroup", "a", "--cgroup", "b", &id, "true"]);
        assert!(text(&out.stderr).contains("invalid --cgroup argument: a (missing <controller>: prefix)"), "{who}: {}", text(&out.stderr));

        // `/` is the container's own cgroup.
        let out = rt.run(&["exec", "--cgroup", "/", &id, "cat", "/proc/self/cgroup"]);
        assert!(out.status.success(), "{who}: {}", text(&out.stderr));
        assert_eq!(cgroup_lines_under(&text(&out.stdout), &dirs), dirs.len(), "{who}: {}", text(&out.stdout));

        // A path alone: the sub-cgroup in every hierarchy.
        for (_, d) in &dirs {
            make_sub(&d.join("sub"));
        }
        let out = rt.run(&["exec", "--cgroup", "sub", &id, "cat", "/proc/self/cgroup"]);
        assert!(out.status.success(), "{who}: {}", text(&out.stderr));
        let seen = text(&out.stdout);
        for line in seen.lines() {
            assert!(line.ends_with("/sub"), "{who}: every hierarchy's sub-cgroup: {seen}");
        }
        // Per controller: memory and cpu in sub-cgroups of their own, the rest at the top.
        make_sub(&mem_dir.join("submem"));
        make_sub(&cpu_dir.join("subcpu"));
        if cpuacct_dir != cpu_dir {
            make_sub(&cpuacct_dir.join("subcpu"));
        }
        let out = rt.run(&["exec", "--cgroup", "memory:submem", "--cgroup", "cpu,cpuacct:subcpu", &id, "cat", "/proc/self/cgroup"]);
        assert!(out.status.success(), "{who}: {}", text(&out.stderr));
        let seen = text(&out.stdout);
        for line in seen.lines() {
            let ctrls = line.split(':').nth(1).unwrap();
            let want = if ctrls == "memory" {
                "/submem"
            } else if ctrls.split(',').any(|c| c == "cpu" || c == "cpuacct") {
                "/subcpu"
            } else {
                ""
            };
            let mine = dirs.iter().find(|(c, _)| c == ctrls).unwrap();
            let top = line.rsplit(':').next().unwrap();
            assert!(top.ends_with(&format!("/{id}{want}")), "{who}: {ctrls} in {want:?}? {seen} (container at {})", mine.1.display());
        }

        // A process left running in a nested sub-cgroup: delete --force kills it and
        // removes the nested cgroups with the container's.
        let out = rt.run(&["exec", "-d", "--cgroup", "sub", &id, "sleep", "1000"]);
        assert!(out.status.success(), "{who}: {}", text(&out.stderr));
        make_sub(&mem_dir.join("sub/deeper"));
        let out = rt.run(&["delete", "--force", &id]);
        assert!(out.status.success(), "{who} delete -f: {}", text(&out.stderr));
        assert_removed(who, &dirs);
    }
}

/// Makes a cgroup under the container's; a v1 cpuset one gets its parent's cpus and mems
/// (an empty cpuset takes no task).
fn make_sub(dir: &std::path::Path) {
    std::fs::create_dir(dir).unwrap();
    for f in ["cpuset.cpus", "cpuset.mems"] {
        if dir.join(f).exists() {
            std::fs::write(dir.join(f), std::fs::read(dir.parent().unwrap().join(f)).unwrap()).unwrap();
        }
    }
}

/// How many lines of /proc/self/cgroup name exactly one of the container's directories.
fn cgroup_lines_under(seen: &str, dirs: &[(String, std::path::PathBuf)]) -> usize {
    seen.lines()
        .filter(|line| {
            let mut p = line.splitn(3, ':');
            let (_, ctrls, path) = (p.next(), p.next().unwrap_or(""), p.next().unwrap_or(""));
            dirs.iter().any(|(c, d)| c == ctrls && d.ends_with(path.trim_start_matches('/')))
        })
        .count()
}

#[test]
fn exec_into_a_paused_container_is_refused_unless_ignore_paused() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-exec-paused");
    b.write(&b.config(&["sleep", "1000"]));
    for rt in runtimes(&b) {
        let who = rt.name;
        let id = format!("expause-{who}");
        rt.run_detached(&b.bundle(), &id);
        let dirs = cgroup_dirs(rt.pid(&id));
        let out = rt.run(&["pause", &id]);
        assert!(out.status.success(), "{who} pause: {}", text(&out.stderr));
        let started = Instant::now();
        let out = rt.run(&["exec", &id, "echo", "ok"]);
        assert!(started.elapsed() < Duration::from_secs(5), "{who}: refused at once");
        assert_eq!(out.status.code(), Some(255), "{who}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("cannot exec in a paused container (use --ignore-paused to override)"), "{who}: {}", text(&out.stderr));
        // With --ignore-paused the process starts once the container is resumed.
        let resumer = {
            let (bin, root, id) = (rt.bin.clone(), rt.root.clone(), id.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(700));
                std::process::Command::new(bin).arg("--root").arg(root).args(["resume", &id]).output().unwrap()
            })
        };
        let started = Instant::now();
        let out = rt.run(&["exec", "--ignore-paused", &id, "echo", "ok"]);
        let resumed = resumer.join().unwrap();
        assert!(resumed.status.success(), "{who} resume: {}", text(&resumed.stderr));
        assert!(out.status.success(), "{who}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "ok\n", "{who}");
        assert!(started.elapsed() >= Duration::from_millis(600), "{who}: the process waited for the resume");
        let out = rt.run(&["delete", "--force", &id]);
        assert!(out.status.success(), "{who}: {}", text(&out.stderr));
        assert_removed(who, &dirs);
    }
}

/// A cgroup path of this test's own, absolute (`/dbxt-<random>/...`), and every directory
/// of it in every hierarchy removed, deepest first, when dropped.
struct OwnCgroupPath {
    top: String,
}

impl OwnCgroupPath {
    fn new() -> OwnCgroupPath {
        OwnCgroupPath { top: format!("dbxt-{}", &dockbox::ids::new_id()[..12]) }
    }

    /// `/<top>/<rest>`.
    fn path(&self, rest: &str) -> String {
        format!("/{}/{rest}", self.top)
    }

    /// The mount points of every hierarchy (each v1 one once, and the cgroup2 one).
    fn mounts() -> Vec<std::path::PathBuf> {
        let h = dockbox::cgroups::Hierarchies::detect().unwrap();
        let mut out: Vec<std::path::PathBuf> = Vec::new();
        for (m, _) in h.v1.values().chain(h.unified.as_ref()) {
            if !out.contains(m) {
                out.push(m.clone());
            }
        }
        out
    }
}

impl Drop for OwnCgroupPath {
    fn drop(&mut self) {
        fn remove(d: &std::path::Path) {
            if let Ok(entries) = std::fs::read_dir(d) {
                for e in entries.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        remove(&e.path());
                    }
                }
            }
            let _ = std::fs::write(d.join("freezer.state"), "THAWED");
            let _ = std::fs::remove_dir(d);
        }
        for m in Self::mounts() {
            remove(&m.join(&self.top));
        }
    }
}

fn with_cgroups_path(b: &Bundle, args: &[&str], path: &str) -> serde_json::Value {
    let mut spec = b.config(args);
    spec["linux"]["cgroupsPath"] = serde_json::json!(path);
    spec
}

#[test]
fn unified_resources_on_a_v1_host_are_refused_before_anything_is_made() {
    if !require_root() {
        return;
    }
    let h = dockbox::cgroups::Hierarchies::detect().unwrap();
    if h.mode() == dockbox::cgroups::Mode::Unified {
        eprintln!("skipped: this host's cgroups are v2 only");
        return;
    }
    let b = Bundle::new("runc-unified-v1");
    let own = OwnCgroupPath::new();
    for rt in runtimes(&b) {
        let who = rt.name;
        let id = format!("uni-{who}");
        let mut spec = with_cgroups_path(&b, &["true"], &own.path(&id));
        spec["linux"]["resources"]["unified"] = serde_json::json!({"pids.max": "10"});
        b.write(&spec);
        let out = rt.run(&["run", "--bundle", b.bundle().to_str().unwrap(), &id]);
        assert_eq!(out.status.code(), Some(1), "{who}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("invalid configuration: cannot use unified on cgroup v1"), "{who}: {}", text(&out.stderr));
        assert!(!rt.root.join(&id).exists(), "{who}: no state made");
        for m in OwnCgroupPath::mounts() {
            assert!(!m.join(&own.top).exists(), "{who}: no cgroup made under {}", m.display());
        }
    }
}

#[test]
fn a_frozen_cgroup_is_refused_and_a_busy_one_warned_about() {
    if !require_root() {
        return;
    }
    let b = Bundle::new("runc-cgroup-checks");
    let own = OwnCgroupPath::new();
    let freezer = dockbox::cgroups::Hierarchies::detect().unwrap().v1.get("freezer").map(|(m, _)| m.clone());
    for rt in runtimes(&b) {
        let who = rt.name;
        // Frozen before create: refused at once (the init would hang on entering it).
        if let Some(freezer) = &freezer {
            let id = format!("frozen-{who}");
            let dir = freezer.join(&own.top).join(&id);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("freezer.state"), "FROZEN").unwrap();
            b.write(&with_cgroups_path(&b, &["true"], &own.path(&id)));
            let started = Instant::now();
            let out = rt.run(&["run", "-d", "--bundle", b.bundle().to_str().unwrap(), &id]);
            assert!(started.elapsed() < Duration::from_secs(10), "{who}: never a hang");
            assert_eq!(out.status.code(), Some(1), "{who}: {}", text(&out.stderr));
            assert!(text(&out.stderr).contains("container's cgroup unexpectedly frozen"), "{who}: {}", text(&out.stderr));
            assert!(!rt.root.join(&id).exists(), "{who}: no state made");
            std::fs::write(dir.join("freezer.state"), "THAWED").unwrap();
            std::fs::remove_dir(&dir).unwrap();
        }
        // A cgroup that already has processes: used, with runc's warning.
        let (first, second) = (format!("busy1-{who}"), format!("busy2-{who}"));
        b.write(&with_cgroups_path(&b, &["sleep", "1000"], &own.path(&format!("shared-{who}"))));
        rt.run_detached(&b.bundle(), &first);
        let out = rt.run(&["run", "-d", "--bundle", b.bundle().to_str().unwrap(), &second]);
        assert!(out.status.success(), "{who}: {}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(err.contains("level=warning msg=\"container's cgroup is not empty: 1 process(es) found\""), "{who}: {err}");
        for id in [&second, &first] {
            let _ = rt.run(&["delete", "-f", id]);
        }
    }
}

#[test]
fn v1_intermediate_cpusets_get_their_parents_cpus_and_mems() {
    if !require_root() {
        return;
    }
    let Some((cpuset, _)) = dockbox::cgroups::Hierarchies::detect().unwrap().v1.get("cpuset").cloned() else {
        eprintln!("skipped: no v1 cpuset hierarchy");
        return;
    };
    let b = Bundle::new("runc-cpuset-parents");
    let own = OwnCgroupPath::new();
    let root_cpus = std::fs::read_to_string(cpuset.join("cpuset.cpus")).unwrap();
    let root_mems = std::fs::read_to_string(cpuset.join("cpuset.mems")).unwrap();
    for rt in runtimes(&b) {
        let who = rt.name;
        let id = format!("cpus-{who}");
        // One level made beforehand and left empty, as another tool's mkdir leaves it.
        let premade = cpuset.join(&own.top).join(format!("pre-{who}"));
        std::fs::create_dir_all(&premade).unwrap();
        assert_eq!(std::fs::read_to_string(premade.join("cpuset.cpus")).unwrap().trim(), "");
        b.write(&with_cgroups_path(&b, &["true"], &own.path(&format!("pre-{who}/mid/{id}"))));
        let out = rt.run(&["run", "--bundle", b.bundle().to_str().unwrap(), &id]);
        assert!(out.status.success(), "{who}: {}", text(&out.stderr));
        for d in [cpuset.join(&own.top), premade.clone(), premade.join("mid")] {
            assert_eq!(std::fs::read_to_string(d.join("cpuset.cpus")).unwrap(), root_cpus, "{who}: {}", d.display());
            assert_eq!(std::fs::read_to_string(d.join("cpuset.mems")).unwrap(), root_mems, "{who}: {}", d.display());
        }
    }
}

/// Reads a cgroup control file, trimmed.
fn cg_read(dir: &std::path::Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display())).trim().to_string()
}

#[test]
fn update_sets_every_flag_in_a_pod_cgroup_with_its_own_limits() {
    if !require_root() {
        return;
    }
    let h = dockbox::cgroups::Hierarchies::detect().unwrap();
    if h.mode() == dockbox::cgroups::Mode::Unified {
        eprintln!("skipped: written for v1 controllers");
        return;
    }
    let v1 = |c: &str| h.v1.get(c).map(|(m, _)| m.clone()).unwrap();
    let b = Bundle::new("runc-update");
    let own = OwnCgroupPath::new();
    // The pod: cpu quota 0.5 CPU, 512 MiB, 100 pids.
    let pod = |c: &str| v1(c).join(&own.top).join("pod");
    for (c, file, value) in [("cpu", "cpu.cfs_quota_us", "50000"), ("memory", "memory.limit_in_bytes", "536870912"), ("pids", "pids.max", "100")] {
        std::fs::create_dir_all(pod(c)).unwrap();
        std::fs::write(pod(c).join(file), value).unwrap();
    }
    // Real-time budget down the chain, where the kernel has RT group scheduling.
    let rt_budget = pod("cpu").join("cpu.rt_runtime_us").exists()
        && std::fs::write(v1("cpu").join(&own.top).join("cpu.rt_runtime_us"), "20000").is_ok()
        && std::fs::write(pod("cpu").join("cpu.rt_runtime_us"), "20000").is_ok();
    let resources = b.dir.join("resources.json");
    std::fs::write(&resources, r#"{"memory": {"limit": 104857600}, "pids": {"limit": 77}}"#).unwrap();
    let unified = b.dir.join("unified.json");
    std::fs::write(&unified, r#"{"unified": {"pids.max": "9"}}"#).unwrap();
    for rt in runtimes(&b) {
        let who = rt.name;
        let id = format!("upd-{who}");
        b.write(&with_cgroups_path(&b, &["sleep", "1000"], &own.path(&format!("pod/{id}"))));
        rt.run_detached(&b.bundle(), &id);
        let dir = |c: &str| pod(c).join(&id);
        let ok = |args: &[&str]| {
            let mut all = vec!["update", id.as_str()];
            all.extend_from_slice(args);
            let out = rt.run(&all);
            assert!(out.status.success(), "{who} {args:?}: {}", text(&out.stderr));
            text(&out.stderr)
        };
        ok(&["--cpu-period", "100000", "--cpu-quota", "50000"]);
        // A smaller period first would put the old quota over the pod's: runc then writes
        // the quota first.
        ok(&["--cpu-period", "10000", "--cpu-quota", "5000"]);
        assert_eq!(cg_read(&dir("cpu"), "cpu.cfs_period_us"), "10000", "{who}");
        assert_eq!(cg_read(&dir("cpu"), "cpu.cfs_quota_us"), "5000", "{who}");
        ok(&["--cpu-share", "512"]);
        assert_eq!(cg_read(&dir("cpu"), "cpu.shares"), "512", "{who}");
        if rt_budget {
            ok(&["--cpu-rt-period", "900000", "--cpu-rt-runtime", "5000"]);
            assert_eq!(cg_read(&dir("cpu"), "cpu.rt_period_us"), "900000", "{who}");
            assert_eq!(cg_read(&dir("cpu"), "cpu.rt_runtime_us"), "5000", "{who}");
        }
        ok(&["--cpuset-cpus", "0", "--cpuset-mems", "0"]);
        assert_eq!(cg_read(&dir("cpuset"), "cpuset.cpus"), "0", "{who}");
        assert_eq!(cg_read(&dir("cpuset"), "cpuset.mems"), "0", "{who}");
        let swap = dir("memory").join("memory.memsw.limit_in_bytes").exists();
        if swap {
            ok(&["--memory", "64m", "--memory-swap", "128m", "--memory-reservation", "32m"]);
            assert_eq!(cg_read(&dir("memory"), "memory.memsw.limit_in_bytes"), "134217728", "{who}");
        } else {
            ok(&["--memory", "64m", "--memory-reservation", "32m"]);
        }
        assert_eq!(cg_read(&dir("memory"), "memory.limit_in_bytes"), "67108864", "{who}");
        assert_eq!(cg_read(&dir("memory"), "memory.soft_limit_in_bytes"), "33554432", "{who}");
        if swap {
            // Growing the limit past the old swap limit: swap goes first.
            ok(&["--memory", "256m", "--memory-swap", "300m"]);
            assert_eq!(cg_read(&dir("memory"), "memory.limit_in_bytes"), "268435456", "{who}");
        }
        ok(&["--pids-limit", "42"]);
        assert_eq!(cg_read(&dir("pids"), "pids.max"), "42", "{who}");
        ok(&["--pids-limit", "0"]);
        assert_eq!(cg_read(&dir("pids"), "pids.max"), "42", "{who}: 0 leaves it");
        let blkio = ["blkio.weight", "blkio.bfq.weight"].into_iter().find(|f| dir("blkio").join(f).exists());
        let out = rt.run(&["update", &id, "--blkio-weight", "300"]);
        match blkio {
            Some(f) => {
                assert!(out.status.success(), "{who}: {}", text(&out.stderr));
                assert!(cg_read(&dir("blkio"), f).contains("300"), "{who}");
            }
            None => assert!(!out.status.success(), "{who}: no weight file, as runc"),
        }
        // -r: the file's resources, the other flags not read.
        ok(&["-r", resources.to_str().unwrap(), "--pids-limit", "5"]);
        assert_eq!(cg_read(&dir("memory"), "memory.limit_in_bytes"), "104857600", "{who}");
        assert_eq!(cg_read(&dir("pids"), "pids.max"), "77", "{who}");
        // Refused ones.
        let out = rt.run(&["update", &id, "-r", unified.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{who}");
        assert!(text(&out.stderr).contains("cannot use unified on cgroup v1"), "{who}: {}", text(&out.stderr));
        assert_eq!(cg_read(&dir("pids"), "pids.max"), "77", "{who}");
        for (flag, value, err) in [("--l3-cache-schema", "L3:0=f", "Intel RDT/CAT: l3 cache schema is not enabled"), ("--mem-bw-schema", "MB:0=20", "Intel RDT/MBA: memory bandwidth schema is not enabled")] {
            if std::path::Path::new("/sys/fs/resctrl/info").exists() {
                continue;
            }
            let out = rt.run(&["update", &id, flag, value]);
            assert_eq!(out.status.code(), Some(1), "{who} {flag}");
            assert!(text(&out.stderr).contains(err), "{who} {flag}: {}", text(&out.stderr));
        }
        let warned = ok(&["--kernel-memory", "10m"]);
        assert!(warned.contains("Kernel memory settings are ignored and will be removed"), "{who}: {warned}");
        let out = rt.run(&["update", &id, "--memory", "lots"]);
        assert!(!out.status.success() && text(&out.stderr).contains("invalid value for memory"), "{who}: {}", text(&out.stderr));
        let dirs = cgroup_dirs(rt.pid(&id));
        let out = rt.run(&["delete", "-f", &id]);
        assert!(out.status.success(), "{who}: {}", text(&out.stderr));
        assert_removed(who, &dirs);
    }
}

/// The shape of a JSON value: every key path with its JSON type (arrays by their first
/// element), so two documents with different numbers compare equal.
fn shape(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            // The raw memory.stat keys are the kernel's, not the runtime's.
            if path.ends_with(".raw") {
                out.push(format!("{path}: object"));
                return;
            }
            for (k, x) in m {
                shape(x, &format!("{path}.{k}"), out);
            }
            if m.is_empty() {
                out.push(format!("{path}: {{}}"));
            }
        }
        serde_json::Value::Array(a) => {
            out.push(format!("{path}: array"));
            if let Some(x) = a.first() {
                shape(x, &format!("{path}[]"), out);
            }
        }
        serde_json::Value::Null => out.push(format!("{path}: null")),
        serde_json::Value::Bool(_) => out.push(format!("{path}: bool")),
        serde_json::Value::Number(_) => out.push(format!("{path}: number")),
        serde_json::Value::String(_) => out.push(format!("{path}: string")),
    }
}

#[test]
fn events_stream_stats_and_oom_as_runc() {
    if !require_root() {
        return;
    }
    use std::io::BufRead;
    let b = Bundle::new("runc-events");
    let own = OwnCgroupPath::new();
    let mut shapes = Vec::new();
    for rt in runtimes(&b) {
        let who = rt.name;
        let id = format!("ev-{who}");
        let mut spec = with_cgroups_path(&b, &["sleep", "1000"], &own.path(&id));
        spec["linux"]["resources"]["memory"] = serde_json::json!({"limit": 16 << 20, "swap": 16 << 20});
        b.write(&spec);
        rt.run_detached(&b.bundle(), &id);

        // --stats: one document.
        let out = rt.run(&["events", "--stats", &id]);
        assert!(out.status.success(), "{who}: {}", text(&out.stderr));
        let lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
        assert_eq!(lines.len(), 1, "{who}: {lines:?}");
        let doc: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(doc["type"], "stats", "{who}");
        assert_eq!(doc["id"], id.as_str(), "{who}");
        assert_eq!(doc["data"]["memory"]["usage"]["limit"], 16 << 20, "{who}: {doc}");
        assert!(doc["data"]["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0, "{who}: {doc}");
        assert!(doc["data"]["pids"]["current"].as_u64().unwrap_or(0) >= 1, "{who}: {doc}");
        let mut s = Vec::new();
        shape(&doc, "", &mut s);
        // Go's omitempty: present only when the page cache is not empty, in either.
        s.retain(|k| k != ".data.memory.cache: number");
        s.sort();
        shapes.push((who, s));

        // The stream: stats every 100ms, and an oom event when the limit kills a process.
        let mut events = rt.cmd().args(["events", "--interval", "100ms", &id]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = events.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let started = Instant::now();
        let mut stats = 0;
        while started.elapsed() < Duration::from_millis(650) {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(50)) {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                assert_eq!((v["type"].as_str(), v["id"].as_str()), (Some("stats"), Some(id.as_str())), "{who}: {line}");
                stats += 1;
            }
        }
        assert!((4..=9).contains(&stats), "{who}: {stats} stats events in 650ms at 100ms");
        // A process that grows past 16 MiB: the kernel's OOM killer ends it.
        let out = rt.run(&["exec", &id, "sh", "-c", "x=a; while true; do x=$x$x; done"]);
        assert!(!out.status.success(), "{who}: the hog was killed");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut oom = false;
        while Instant::now() < deadline && !oom {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                oom = v["type"] == "oom" && v["id"] == id.as_str() && v.get("data").is_none();
            }
        }
        assert!(oom, "{who}: an oom event");
        let _ = events.kill();
        let _ = events.wait();
        reader.join().unwrap();
        let out = rt.run(&["delete", "-f", &id]);
        assert!(out.status.success(), "{who}: {}", text(&out.stderr));
    }
    if let [(_, ours), (_, theirs)] = &shapes[..] {
        assert_eq!(ours, theirs, "the same document as runc's");
    }
}
