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
