//! `docker update`: new limits reach a running container's cgroup and a stopped container's
//! next start, the restart policy takes effect at the next exit, inspect shows the stored
//! HostConfig, and Docker's errors — through our client and the real docker CLI 28.

mod common;

use common::{have_real_cli as have_cli, ok, stderr, stdout, Dockerd, REAL_CLI as CLI};
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn fails(o: &Output, code: i32) -> String {
    assert_eq!(o.status.code(), Some(code), "stdout: {}\nstderr: {}", stdout(o), stderr(o));
    stderr(o)
}

fn host_config(d: &Dockerd, name: &str) -> Value {
    let (status, v) = d.api("GET", &format!("/containers/{name}/json"), None);
    assert_eq!(status, 200, "{v}");
    v["HostConfig"].clone()
}

/// The cgroup v1 file `file` of the container `id` on the host, when the host has it.
fn cgroup_file(d: &Dockerd, id: &str, file: &str) -> String {
    let cg = dockbox::cgroups::Cgroup::resolve(Some(&d.container_cgroup(id)), id).unwrap();
    let dir = cg.dirs().into_iter().find(|d| d.join(file).exists()).unwrap_or_else(|| panic!("no cgroup of {id} has {file}"));
    std::fs::read_to_string(dir.join(file)).unwrap().trim().to_string()
}

fn cgroup_v1() -> bool {
    let v1 = Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists();
    if !v1 {
        eprintln!("skipped: needs cgroup v1's memory controller with swap accounting");
    }
    v1
}

fn pulled(d: &Dockerd) -> String {
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), d);
    image
}

fn now_unix() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

#[test]
fn update_changes_a_running_containers_cgroup() {
    let Some(d) = Dockerd::start() else { return };
    if !cgroup_v1() {
        return;
    }
    let image = pulled(&d);
    let since = now_unix();
    let id = ok(&d.docker(&["run", "-d", "--name", "lim", "-m", "64m", &image, "sleep", "1000"]), &d).trim().to_string();
    assert_eq!(cgroup_file(&d, &id, "memory.limit_in_bytes"), "67108864");

    let out = ok(&d.docker(&["update", "-m", "96m", "--memory-swap", "192m", "--cpus", "0.5", "--pids-limit", "50", "lim"]), &d);
    assert_eq!(out, "lim\n");
    assert_eq!(cgroup_file(&d, &id, "memory.limit_in_bytes"), "100663296");
    assert_eq!(cgroup_file(&d, &id, "memory.memsw.limit_in_bytes"), "201326592");
    assert_eq!(cgroup_file(&d, &id, "cpu.cfs_quota_us"), "50000");
    assert_eq!(cgroup_file(&d, &id, "cpu.cfs_period_us"), "100000");
    assert_eq!(cgroup_file(&d, &id, "pids.max"), "50");
    let h = host_config(&d, "lim");
    assert_eq!((h["Memory"].as_i64(), h["MemorySwap"].as_i64(), h["NanoCpus"].as_i64(), h["PidsLimit"].as_i64()), (Some(100663296), Some(201326592), Some(500000000), Some(50)), "{h}");

    if have_cli() {
        let short = &id[..12];
        let out = ok(&d.real_docker(CLI, &["container", "update", "--pids-limit", "-1", "-c", "512", "--memory-reservation", "48m", short]), &d);
        assert_eq!(out, format!("{short}\n"));
        assert_eq!(cgroup_file(&d, &id, "pids.max"), "max");
        assert_eq!(cgroup_file(&d, &id, "cpu.shares"), "512");
        assert_eq!(cgroup_file(&d, &id, "memory.soft_limit_in_bytes"), "50331648");
        // What was not asked for stays.
        assert_eq!(cgroup_file(&d, &id, "memory.limit_in_bytes"), "100663296");
        let format = "{{.HostConfig.PidsLimit}} {{.HostConfig.CpuShares}} {{.HostConfig.MemoryReservation}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}";
        let expected = "0 512 50331648 100663296 500000000";
        assert_eq!(ok(&d.real_docker(CLI, &["inspect", "-f", format, "lim"]), &d).trim(), expected);
        assert_eq!(ok(&d.docker(&["inspect", "-f", format, "lim"]), &d).trim(), expected);
    }
    // One "update" event each, and hostconfig.json holds the update.
    let (_, events) = d.api("GET", &format!("/events?since={since}&until={}&filters=%7B%22event%22%3A%5B%22update%22%5D%7D", now_unix()), None);
    let text = events.as_str().map(String::from).unwrap_or_else(|| events.to_string());
    let updates = text.lines().filter(|l| l.contains("\"Action\":\"update\"") && l.contains(&id)).count();
    assert_eq!(updates, if have_cli() { 2 } else { 1 }, "{text}");
    let saved: Value = serde_json::from_slice(&std::fs::read(d.tmp.join("data").join("containers").join(&id).join("hostconfig.json")).unwrap()).unwrap();
    assert_eq!(saved["Memory"].as_i64(), Some(100663296), "{saved}");
    ok(&d.docker(&["rm", "-f", "lim"]), &d);
}

#[test]
fn update_of_a_stopped_container_shows_at_its_next_start() {
    let Some(d) = Dockerd::start() else { return };
    if !cgroup_v1() {
        return;
    }
    let image = pulled(&d);
    let script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max";
    ok(&d.docker(&["create", "--name", "later", &image, "sh", "-c", script]), &d);
    let update = ["update", "-m", "32m", "--memory-swap", "64m", "--pids-limit", "30", "later"];
    let out = if have_cli() { d.real_docker(CLI, &update) } else { d.docker(&update) };
    assert_eq!(ok(&out, &d), "later\n");
    let out = ok(&d.docker(&["start", "-a", "later"]), &d);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["33554432", "30"], "{out}");
    // And again after a change between two runs.
    ok(&d.docker(&["update", "--pids-limit", "40", "later"]), &d);
    let out = ok(&d.docker(&["start", "-a", "later"]), &d);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["33554432", "40"], "{out}");
    ok(&d.docker(&["rm", "later"]), &d);
}

#[test]
fn restart_policy_update_takes_effect_at_the_next_exit() {
    let Some(d) = Dockerd::start() else { return };
    let image = pulled(&d);
    ok(&d.docker(&["run", "-d", "--name", "flaky", &image, "sh", "-c", "sleep 1; exit 1"]), &d);
    let update = ["update", "--restart", "on-failure:2", "flaky"];
    let out = if have_cli() { d.real_docker(CLI, &update) } else { d.docker(&update) };
    assert_eq!(ok(&out, &d), "flaky\n");
    assert_eq!(host_config(&d, "flaky")["RestartPolicy"], serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 2}));
    let deadline = Instant::now() + Duration::from_secs(20);
    let state = loop {
        let (_, v) = d.api("GET", "/containers/flaky/json", None);
        if v["RestartCount"].as_i64() == Some(2) && v["State"]["Status"].as_str() == Some("exited") {
            break v;
        }
        assert!(Instant::now() < deadline, "no second restart: {v}\n{}", d.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(state["State"]["ExitCode"].as_i64(), Some(1));
    // The maximum is reached: it stays exited.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(host_config(&d, "flaky")["RestartPolicy"]["Name"], "on-failure");
    let (_, v) = d.api("GET", "/containers/flaky/json", None);
    assert_eq!((v["RestartCount"].as_i64(), v["State"]["Status"].as_str()), (Some(2), Some("exited")), "{v}");
    ok(&d.docker(&["rm", "flaky"]), &d);

    // An --rm container keeps "no".
    let id = ok(&d.docker(&["run", "-d", "--rm", "--name", "gone", &image, "sleep", "1000"]), &d).trim().to_string();
    let expected = format!("Error response from daemon: Cannot update container {id}: Restart policy cannot be updated because AutoRemove is enabled for the container\n");
    assert_eq!(fails(&d.docker(&["update", "--restart", "always", "gone"]), 1), expected);
    if have_cli() {
        assert_eq!(fails(&d.real_docker(CLI, &["update", "--restart", "always", "gone"]), 1), expected);
    }
    assert_eq!(host_config(&d, "gone")["RestartPolicy"]["Name"], "no");
    ok(&d.docker(&["rm", "-f", "gone"]), &d);
}

#[test]
fn update_errors_are_dockers() {
    let Some(d) = Dockerd::start() else { return };
    let image = pulled(&d);
    let id = ok(&d.docker(&["run", "-d", "--name", "errs", &image, "sleep", "1000"]), &d).trim().to_string();
    let cases: &[(&[&str], i32, String)] = &[
        (&["update", "-m", "abc", "errs"], 125, "invalid argument \"abc\" for \"-m, --memory\" flag: invalid size: 'abc'\n\nUsage:  docker update [OPTIONS] CONTAINER [CONTAINER...]\n\nRun 'docker update --help' for more information\n".into()),
        (&["update", "--pids-limit", "x", "errs"], 125, "invalid argument \"x\" for \"--pids-limit\" flag: strconv.ParseInt: parsing \"x\": invalid syntax\n\nUsage:  docker update [OPTIONS] CONTAINER [CONTAINER...]\n\nRun 'docker update --help' for more information\n".into()),
        (&["update", "errs"], 1, "you must provide one or more flags when using this command\n".into()),
        (&["update", "-m", "1m", "--memory-swap", "-1", "errs"], 1, "Error response from daemon: Minimum memory limit allowed is 6MB\n".into()),
        (&["update", "--restart", "sometimes", "errs"], 1, "Error response from daemon: invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'\n".into()),
        (&["update", "--cpus", "0.5", "nosuch"], 1, "Error response from daemon: No such container: nosuch\n".into()),
        (
            &["update", "-m", "64m", "errs"],
            1,
            format!("Error response from daemon: Cannot update container {id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time\n"),
        ),
    ];
    for (args, code, expected) in cases {
        assert_eq!(&fails(&d.docker(args), *code), expected, "{args:?}");
        if have_cli() {
            assert_eq!(&fails(&d.real_docker(CLI, args), *code), expected, "real CLI {args:?}");
        }
    }
    // One missing container among found ones: the found are updated and named.
    let o = d.docker(&["update", "--cpu-shares", "256", "errs", "nosuch"]);
    assert_eq!((stdout(&o), fails(&o, 1)), ("errs\n".to_string(), "Error response from daemon: No such container: nosuch\n".to_string()));
    assert_eq!(host_config(&d, "errs")["CpuShares"].as_i64(), Some(256));
    // Nothing was changed by the refused updates.
    let h = host_config(&d, "errs");
    assert_eq!((h["Memory"].as_i64(), h["RestartPolicy"]["Name"].as_str()), (Some(0), Some("no")), "{h}");
    // The API refuses what it cannot change rather than ignoring it.
    let (status, v) = d.api("POST", "/containers/errs/update", Some(r#"{"OomKillDisable": true}"#));
    assert_eq!(status, 400, "{v}");
    let (status, v) = d.api("POST", "/containers/errs/update", Some(r#"{"CpuShares": 128, "Ulimits": null}"#));
    assert_eq!((status, &v), (200, &serde_json::json!({"Warnings": []})));
    ok(&d.docker(&["rm", "-f", "errs"]), &d);
}

#[test]
fn memory_below_the_usage_fails_as_the_kernel_says() {
    let Some(d) = Dockerd::start() else { return };
    if !cgroup_v1() {
        return;
    }
    let image = pulled(&d);
    // 30 MB held by the shell, with no room to swap it out.
    let script = "x=$(head -c 30000000 /dev/zero | tr '\\0' a); echo ready; sleep 1000; echo ${#x}";
    let id = ok(&d.docker(&["run", "-d", "--name", "full", "-m", "64m", "--memory-swap", "64m", &image, "sh", "-c", script]), &d).trim().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !stdout(&d.docker(&["logs", "full"])).contains("ready") {
        assert!(Instant::now() < deadline, "never ready: {}", d.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let err = fails(&d.docker(&["update", "-m", "8m", "--memory-swap", "8m", "full"]), 1);
    assert!(err.starts_with(&format!("Error response from daemon: Cannot update container {id}: ")), "{err}");
    // EBUSY: the kernel could not reclaim enough to go below the usage.
    assert!(err.to_lowercase().contains("memory.limit_in_bytes") && err.to_lowercase().contains("device or resource busy"), "{err}");
    // The limits and the stored HostConfig are as they were.
    assert_eq!(cgroup_file(&d, &id, "memory.limit_in_bytes"), "67108864");
    assert_eq!(cgroup_file(&d, &id, "memory.memsw.limit_in_bytes"), "67108864");
    let h = host_config(&d, "full");
    assert_eq!((h["Memory"].as_i64(), h["MemorySwap"].as_i64()), (Some(67108864), Some(67108864)), "{h}");
    ok(&d.docker(&["rm", "-f", "full"]), &d);
}
