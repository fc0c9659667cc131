//! The container verbs beside the life cycle (pause/unpause, rename, restart, wait, top,
//! stats, port, events, prune, the command groups), each through our client and the real
//! docker CLI 28 against our dockerd, with the Engine API's statuses and messages.

mod common;

use common::{have_real_cli as have_cli, ok, stderr, stdout, Dockerd, REAL_CLI as CLI};
use serde_json::Value;
use std::process::Output;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn fails(o: &Output) -> String {
    assert_ne!(o.status.code(), Some(0), "stdout: {}", stdout(o));
    stderr(o)
}

fn run_sleeper(d: &Dockerd, name: &str, extra: &[&str]) -> String {
    let image = d.registry.image("busybox");
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[&image, "sleep", "1000"]);
    ok(&d.docker(&args), d).trim().to_string()
}

fn inspect(d: &Dockerd, name: &str) -> Value {
    let (status, v) = d.api("GET", &format!("/containers/{name}/json"), None);
    assert_eq!(status, 200, "{v}");
    v
}

fn frozen(d: &Dockerd, id: &str) -> bool {
    dockbox::cgroups::Cgroup::resolve(Some(&d.container_cgroup(id)), id).unwrap().is_frozen()
}

fn now_unix() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

#[test]
fn pause_and_unpause_freeze_the_container_as_dockers_do() {
    let Some(d) = Dockerd::start() else { return };
    let id = run_sleeper(&d, "frozen", &[]);
    assert_eq!(ok(&d.docker(&["pause", "frozen"]), &d), "frozen\n");
    assert!(frozen(&d, &id), "the cgroup is not frozen");
    let state = &inspect(&d, "frozen")["State"];
    assert_eq!((state["Status"].as_str(), state["Paused"].as_bool(), state["Running"].as_bool()), (Some("paused"), Some(true), Some(true)), "{state}");
    let ps = ok(&d.docker(&["ps"]), &d);
    assert!(ps.contains("(Paused)"), "{ps}");
    let (status, body) = d.api("POST", "/containers/frozen/pause", None);
    assert_eq!((status, body["message"].as_str().map(String::from)), (409, Some(format!("Container {id} is already paused"))));
    if have_cli() {
        let o = d.real_docker(CLI, &["ps", "--format", "{{.Names}} {{.State}} {{.Status}}"]);
        let line = ok(&o, &d);
        assert!(line.starts_with("frozen paused Up ") && line.trim_end().ends_with("(Paused)"), "{line}");
        let e = fails(&d.real_docker(CLI, &["pause", "frozen"]));
        assert!(e.contains(&format!("Error response from daemon: Container {id} is already paused")), "{e}");
        assert_eq!(ok(&d.real_docker(CLI, &["unpause", "frozen"]), &d), "frozen\n");
    } else {
        assert_eq!(ok(&d.docker(&["unpause", "frozen"]), &d), "frozen\n");
    }
    assert!(!frozen(&d, &id));
    assert_eq!(inspect(&d, "frozen")["State"]["Status"], "running");
    let e = fails(&d.docker(&["unpause", "frozen"]));
    assert!(e.contains(&format!("Error response from daemon: Container {id} is not paused")), "{e}");

    // stop, kill and rm -f of a paused container thaw it so it can end.
    ok(&d.docker(&["pause", "frozen"]), &d);
    let started = Instant::now();
    assert_eq!(ok(&d.docker(&["stop", "-t", "1", "frozen"]), &d), "frozen\n");
    assert!(started.elapsed() < Duration::from_secs(8));
    let state = &inspect(&d, "frozen")["State"];
    assert_eq!((state["Status"].as_str(), state["Paused"].as_bool()), (Some("exited"), Some(false)), "{state}");
    let (status, body) = d.api("POST", "/containers/frozen/pause", None);
    assert_eq!((status, body["message"].as_str().map(String::from)), (409, Some(format!("Container {id} is not running"))));
    let (status, _) = d.api("POST", "/containers/frozen/unpause", None);
    assert_eq!(status, 409);

    ok(&d.docker(&["start", "frozen"]), &d);
    ok(&d.docker(&["pause", "frozen"]), &d);
    ok(&d.docker(&["kill", "frozen"]), &d);
    assert_eq!(ok(&d.docker(&["wait", "frozen"]), &d), "137\n");
    ok(&d.docker(&["start", "frozen"]), &d);
    ok(&d.docker(&["pause", "frozen"]), &d);
    let e = fails(&d.docker(&["rm", "frozen"]));
    assert!(e.contains("Error response from daemon: cannot remove container \"/frozen\": container is paused and must be unpaused first"), "{e}");
    ok(&d.docker(&["rm", "-f", "frozen"]), &d);
    assert_eq!(d.api("GET", "/containers/frozen/json", None).0, 404);
    let (status, body) = d.api("POST", "/containers/nope/pause", None);
    assert_eq!((status, body["message"].as_str()), (404, Some("No such container: nope")));
}

#[test]
fn a_paused_container_stays_paused_through_a_daemon_crash() {
    let Some(mut d) = Dockerd::start() else { return };
    let id = run_sleeper(&d, "cold", &[]);
    ok(&d.docker(&["pause", "cold"]), &d);
    d.crash_and_restart();
    assert_eq!(inspect(&d, "cold")["State"]["Status"], "paused");
    assert!(frozen(&d, &id));
    ok(&d.docker(&["unpause", "cold"]), &d);
    assert!(!frozen(&d, &id));
    ok(&d.docker(&["pause", "cold"]), &d);
    ok(&d.docker(&["stop", "-t", "0", "cold"]), &d);
    assert_eq!(inspect(&d, "cold")["State"]["Status"], "exited");
}

#[test]
fn rename_keeps_names_unique_and_the_name_follows_the_container() {
    let Some(d) = Dockerd::start() else { return };
    let since = now_unix();
    let id = run_sleeper(&d, "first", &[]);
    let other = run_sleeper(&d, "second", &[]);
    ok(&d.docker(&["rename", "first", "renamed"]), &d);
    assert_eq!(inspect(&d, &id)["Name"], "/renamed");
    assert_eq!(d.api("GET", "/containers/first/json", None).0, 404);
    let names = ok(&d.docker(&["ps"]), &d);
    assert!(names.contains(" renamed\n") && !names.contains("first"), "{names}");
    let (status, body) = d.api("POST", "/containers/renamed/rename?name=second", None);
    let conflict = format!("Conflict. The container name \"/second\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name.");
    assert_eq!((status, body["message"].as_str()), (409, Some(conflict.as_str())));
    let (status, body) = d.api("POST", "/containers/renamed/rename?name=-bad", None);
    assert_eq!((status, body["message"].as_str()), (400, Some("Invalid container name (-bad), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")));
    let (status, body) = d.api("POST", "/containers/renamed/rename?name=", None);
    assert_eq!((status, body["message"].as_str()), (400, Some("Neither old nor new names may be empty")));
    let (status, _) = d.api("POST", "/containers/renamed/rename?name=renamed", None);
    assert_eq!(status, 400);
    if have_cli() {
        let e = fails(&d.real_docker(CLI, &["rename", "renamed", "second"]));
        assert!(e.contains(&conflict), "{e}");
        ok(&d.real_docker(CLI, &["rename", "renamed", "third"]), &d);
        assert_eq!(inspect(&d, &id)["Name"], "/third");
    } else {
        ok(&d.docker(&["rename", "renamed", "third"]), &d);
    }
    let e = fails(&d.docker(&["rename", "third", "second"]));
    assert_eq!(e, format!("Error response from daemon: {conflict}\nError: failed to rename container named third\n"));
    // The old name is free again; logs and events know the new one.
    run_sleeper(&d, "first", &[]);
    ok(&d.docker(&["logs", "third"]), &d);
    let (_, events) = d.api("GET", &format!("/events?since={since}&until={}&filters=%7B%22event%22%3A%5B%22rename%22%5D%7D", now_unix()), None);
    let text = events.as_str().map(String::from).unwrap_or_else(|| events.to_string());
    let renames: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert_eq!(renames.len(), 2, "{text}");
    assert_eq!(renames[0]["Actor"]["Attributes"]["oldName"], "/first");
    assert_eq!(renames[1]["Actor"]["Attributes"]["name"], "third");
}

#[test]
fn restart_and_wait_conditions_behave_as_dockers() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    // restart of a stopped container starts it.
    ok(&d.docker(&["create", "--name", "later", &image, "sleep", "1000"]), &d);
    assert_eq!(ok(&d.docker(&["restart", "later"]), &d), "later\n");
    let first = inspect(&d, "later")["State"]["StartedAt"].as_str().unwrap().to_string();
    assert_eq!(inspect(&d, "later")["State"]["Status"], "running");
    let cli = if have_cli() { CLI } else { "" };
    let o = if cli.is_empty() { d.docker(&["restart", "-t", "0", "later"]) } else { d.real_docker(cli, &["restart", "-t", "0", "later"]) };
    assert_eq!(ok(&o, &d), "later\n");
    let state = inspect(&d, "later")["State"].clone();
    assert_eq!(state["Status"], "running");
    assert_ne!(state["StartedAt"].as_str().unwrap(), first);
    let (status, _) = d.api("POST", "/containers/later/restart?t=0&signal=SIGKILL", None);
    assert_eq!(status, 204);
    let (status, body) = d.api("POST", "/containers/later/restart?signal=NOPE", None);
    assert_eq!((status, body["message"].as_str()), (400, Some("Invalid signal: NOPE")));
    assert_eq!(d.api("POST", "/containers/nope/restart", None).0, 404);

    // wait: a created container is "not running" at once; next-exit waits for a run.
    ok(&d.docker(&["create", "--name", "w1", &image, "sh", "-c", "exit 3"]), &d);
    let (status, body) = d.api("POST", "/containers/w1/wait", None);
    assert_eq!((status, body["StatusCode"].as_i64()), (200, Some(0)), "{body}");
    let host = d.host();
    let next = std::thread::spawn({
        let sock = d.sock.clone();
        move || {
            let endpoint = dockbox::http::client::Endpoint::Unix(sock);
            let r = dockbox::http::client::request(&endpoint, "POST", "/containers/w1/wait?condition=next-exit", &[], None).unwrap();
            r.json().unwrap()
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    ok(&d.docker(&["start", "w1"]), &d);
    assert_eq!(next.join().unwrap()["StatusCode"], 3);
    let _ = host;
    if have_cli() {
        assert_eq!(ok(&d.real_docker(CLI, &["wait", "w1"]), &d), "3\n");
    }
    let removed = std::thread::spawn({
        let sock = d.sock.clone();
        move || {
            let endpoint = dockbox::http::client::Endpoint::Unix(sock);
            let r = dockbox::http::client::request(&endpoint, "POST", "/containers/w1/wait?condition=removed", &[], None).unwrap();
            r.json().unwrap()
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    ok(&d.docker(&["rm", "w1"]), &d);
    assert_eq!(removed.join().unwrap()["StatusCode"], 3);
    let (status, body) = d.api("POST", "/containers/later/wait?condition=bogus", None);
    assert_eq!((status, body["message"].as_str()), (400, Some("invalid condition: \"bogus\"")));
}

#[test]
fn top_lists_the_containers_processes_with_ps_arguments() {
    let Some(d) = Dockerd::start() else { return };
    let id = run_sleeper(&d, "busy", &[]);
    let pid = inspect(&d, "busy")["State"]["Pid"].as_i64().unwrap();
    let (status, v) = d.api("GET", "/containers/busy/top", None);
    assert_eq!(status, 200, "{v}");
    let titles: Vec<&str> = v["Titles"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(titles, ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
    let procs = v["Processes"].as_array().unwrap();
    assert_eq!(procs.len(), 1, "{v}");
    assert_eq!(procs[0][1].as_str().unwrap(), pid.to_string());
    assert_eq!(procs[0][7], "sleep 1000");
    let (status, v) = d.api("GET", "/containers/busy/top?ps_args=-o%20pid,comm", None);
    assert_eq!(status, 200);
    assert_eq!(v["Titles"], serde_json::json!(["PID", "COMMAND"]));
    assert_eq!(v["Processes"], serde_json::json!([[pid.to_string(), "sleep"]]));
    let ours = ok(&d.docker(&["top", "busy", "-o", "pid,comm"]), &d);
    assert_eq!(ours, format!("{:<20}{}\n{:<20}{}\n", "PID", "COMMAND", pid, "sleep"));
    if have_cli() {
        assert_eq!(ok(&d.real_docker(CLI, &["top", "busy", "-o", "pid,comm"]), &d), ours);
        let theirs = ok(&d.real_docker(CLI, &["top", "busy"]), &d);
        assert!(theirs.starts_with("UID ") && theirs.contains("sleep 1000"), "{theirs}");
    }
    ok(&d.docker(&["stop", "-t", "0", "busy"]), &d);
    let (status, body) = d.api("GET", "/containers/busy/top", None);
    assert_eq!((status, body["message"].as_str().map(String::from)), (409, Some(format!("Container {id} is not running"))));
}

#[test]
fn stats_report_the_cgroup_and_the_table_matches_the_real_cli() {
    let Some(d) = Dockerd::start() else { return };
    let id = run_sleeper(&d, "measured", &["-m", "64m"]);
    let (status, v) = d.api("GET", "/containers/measured/stats?stream=false&one-shot=true", None);
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["id"].as_str(), v["name"].as_str()), (Some(id.as_str()), Some("/measured")));
    assert_eq!(v["memory_stats"]["limit"], 64 * 1024 * 1024);
    assert!(v["memory_stats"]["usage"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["pids_stats"]["current"], 1);
    assert!(v["cpu_stats"]["online_cpus"].as_u64().unwrap() >= 1);
    assert!(v["cpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0);
    assert!(v["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().is_some());
    assert_eq!(v["preread"], "0001-01-01T00:00:00Z");
    let (_, v) = d.api("GET", "/containers/measured/stats?stream=false", None);
    assert_ne!(v["preread"], "0001-01-01T00:00:00Z", "{v}");
    assert!(v["precpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0, "{v}");
    let (status, body) = d.api("GET", "/containers/measured/stats?stream=true&one-shot=true", None);
    assert_eq!((status, body["message"].as_str()), (400, Some("cannot have stream=true and one-shot=true")));

    ok(&d.docker(&["create", "--name", "idle", &d.registry.image("busybox"), "true"]), &d);
    let (_, v) = d.api("GET", "/containers/idle/stats?stream=false", None);
    assert_eq!((v["read"].as_str(), v["name"].as_str()), (Some("0001-01-01T00:00:00Z"), Some("/idle")));

    let ours = ok(&d.docker(&["stats", "--no-stream"]), &d);
    let lines: Vec<&str> = ours.lines().collect();
    assert_eq!(lines[0].split("   ").map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>(), ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"], "{ours}");
    assert_eq!(lines.len(), 2, "{ours}");
    assert!(lines[1].starts_with(&id[..12]) && lines[1].contains("measured") && lines[1].contains(" / 64MiB") && lines[1].ends_with(" 1"), "{ours}");
    let format = "{{.Name}} {{.ID}} {{.MemUsage}} {{.NetIO}} {{.PIDs}}";
    let ours = ok(&d.docker(&["stats", "--no-stream", "--all", "--format", format]), &d);
    assert_eq!(ours.lines().count(), 2, "{ours}");
    assert!(ours.contains("idle "), "{ours}");
    if have_cli() {
        let theirs = ok(&d.real_docker(CLI, &["stats", "--no-stream", "--all", "--format", format]), &d);
        let sorted = |s: &str| {
            let mut v: Vec<String> = s.lines().map(|l| l.split(' ').take(2).chain(l.split(' ').skip(3).take(1)).chain(l.rsplit(' ').take(4)).collect::<Vec<_>>().join(" ")).collect();
            v.sort();
            v
        };
        // Memory usage moves between two samples; names, ids, limits, net and pids do not.
        assert_eq!(sorted(&theirs), sorted(&ours), "theirs:\n{theirs}\nours:\n{ours}");
        let format = "table {{.Name}}\t{{.PIDs}}\t{{.BlockIO}}";
        assert_eq!(ok(&d.real_docker(CLI, &["stats", "--no-stream", "-a", "--format", format]), &d), ok(&d.docker(&["stats", "--no-stream", "-a", "--format", format]), &d));
        let table = ok(&d.real_docker(CLI, &["stats", "--no-stream", "measured"]), &d);
        assert!(table.starts_with("CONTAINER ID   NAME") && table.contains("measured") && table.contains(" / 64MiB"), "{table}");
    }
    let e = fails(&d.docker(&["stats", "--no-stream", "nope"]));
    assert!(e.contains("No such container: nope"), "{e}");

    // A busy container shows its CPU share, computed from the two samples as the CLI does.
    ok(&d.docker(&["run", "-d", "--name", "spin", &d.registry.image("busybox"), "sh", "-c", "while :; do :; done"]), &d);
    let percent = |o: &Output| -> f64 { stdout(o).trim().trim_end_matches('%').parse().unwrap_or_else(|_| panic!("{}{}", stdout(o), stderr(o))) };
    let ours = percent(&d.docker(&["stats", "--no-stream", "--format", "{{.CPUPerc}}", "spin"]));
    assert!(ours > 5.0, "{ours}");
    if have_cli() {
        let theirs = percent(&d.real_docker(CLI, &["stats", "--no-stream", "--format", "{{.CPUPerc}}", "spin"]));
        assert!(theirs > 5.0, "{theirs}");
    }
    ok(&d.docker(&["rm", "-f", "spin"]), &d);

    // Streaming: the screen is redrawn with fresh figures until the client is stopped.
    let mut child = common::applet("docker").args(["-H", &d.host(), "stats", "--format", "{{.Name}} {{.PIDs}}"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    child.kill().unwrap();
    let o = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let frames: Vec<&str> = text.split("\x1b[2J\x1b[H").filter(|f| !f.is_empty()).collect();
    assert!(frames.len() >= 3, "{text:?}");
    assert_eq!(*frames.last().unwrap(), "measured 1\n", "{text:?}");
}

#[test]
fn port_answers_from_the_empty_port_map() {
    let Some(d) = Dockerd::start() else { return };
    run_sleeper(&d, "noports", &[]);
    assert_eq!(ok(&d.docker(&["port", "noports"]), &d), "");
    let e = fails(&d.docker(&["port", "noports", "80"]));
    assert_eq!(e.trim(), "Error: No public port '80' published for noports");
    if have_cli() {
        assert_eq!(ok(&d.real_docker(CLI, &["port", "noports"]), &d), "");
        let theirs = fails(&d.real_docker(CLI, &["port", "noports", "80"]));
        assert_eq!(theirs.trim(), e.trim());
    }
}

fn event_lines(text: &str) -> Vec<String> {
    text.lines().map(|l| l.split_once(' ').map(|x| x.1).unwrap_or("").to_string()).collect()
}

#[test]
fn events_are_kept_for_late_readers_and_filtered_as_dockers() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    let since = format!("{:.3}", now_unix() - 0.001);
    ok(&d.docker(&["pull", "-q", &image]), &d);
    ok(&d.docker(&["tag", &image, "evt:one"]), &d);
    let id = run_sleeper(&d, "evt", &["--label", "tier=front"]);
    ok(&d.docker(&["pause", "evt"]), &d);
    ok(&d.docker(&["unpause", "evt"]), &d);
    ok(&d.docker(&["top", "evt"]), &d);
    ok(&d.docker(&["kill", "evt"]), &d);
    ok(&d.docker(&["wait", "evt"]), &d);
    ok(&d.docker(&["rm", "evt"]), &d);
    ok(&d.docker(&["rmi", "evt:one"]), &d);
    let until = format!("{:.3}", now_unix() + 0.001);

    let (status, body) = d.api("GET", &format!("/events?since={since}&until={until}"), None);
    assert_eq!(status, 200);
    let text = body.as_str().map(String::from).unwrap_or_else(|| body.to_string());
    let events: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let actions: Vec<String> = events.iter().map(|e| format!("{} {}", e["Type"].as_str().unwrap(), e["Action"].as_str().unwrap())).collect();
    assert_eq!(
        actions,
        ["image pull", "image tag", "container create", "container start", "container pause", "container unpause", "container top", "container kill", "container die", "container destroy", "image untag"],
        "{text}"
    );
    let start = &events[3];
    assert_eq!((start["status"].as_str(), start["id"].as_str(), start["from"].as_str(), start["scope"].as_str()), (Some("start"), Some(id.as_str()), Some(image.as_str()), Some("local")));
    assert_eq!(start["Actor"]["Attributes"]["tier"], "front");
    assert_eq!(start["time"].as_i64().unwrap(), start["timeNano"].as_i64().unwrap() / 1_000_000_000);
    assert_eq!(events[7]["Actor"]["Attributes"]["signal"], "9");
    assert_eq!(events[8]["Actor"]["Attributes"]["exitCode"], "137");

    let filtered = ok(&d.docker(&["events", "--since", &since, "--until", &until, "--filter", "container=evt", "--filter", "event=die", "--filter", "event=start"]), &d);
    assert_eq!(event_lines(&filtered), [format!("container start {id} (image={image}, name=evt, tier=front)"), format!("container die {id} (execDuration=0, exitCode=137, image={image}, name=evt, tier=front)")], "{filtered}");
    let ours = ok(&d.docker(&["events", "--since", &since, "--until", &until, "--filter", "type=image", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"]), &d);
    assert_eq!(ours.lines().count(), 3, "{ours}");
    if have_cli() {
        let theirs = ok(&d.real_docker(CLI, &["events", "--since", &since, "--until", &until, "--filter", "container=evt", "--filter", "event=die", "--filter", "event=start"]), &d);
        assert_eq!(theirs, filtered);
        let theirs = ok(&d.real_docker(CLI, &["events", "--since", &since, "--until", &until, "--filter", "type=image", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"]), &d);
        assert_eq!(theirs, ours);
        let theirs = ok(&d.real_docker(CLI, &["system", "events", "--since", &since, "--until", &until, "--filter", "label=tier=front", "--format", "{{json .}}"]), &d);
        assert_eq!(theirs.lines().count(), 8, "{theirs}");
        let ours = ok(&d.docker(&["system", "events", "--since", &since, "--until", &until, "--filter", "label=tier=front", "--format", "{{json .}}"]), &d);
        assert_eq!(ours, theirs);
    }
    // A follower sees what happens after it connects, and stops at `until` (with `until`
    // alone, Docker replays the whole ring: `since` keeps the earlier events out).
    let follower = std::thread::spawn({
        let host = d.host();
        let (since, until) = (format!("{:.3}", now_unix()), format!("{:.3}", now_unix() + 3.0));
        move || common::applet("docker").args(["-H", &host, "events", "--since", &since, "--until", &until, "--format", "{{.Action}} {{.Actor.Attributes.name}}"]).output().unwrap()
    });
    std::thread::sleep(Duration::from_millis(500));
    ok(&d.docker(&["create", "--name", "late", &image]), &d);
    let o = follower.join().unwrap();
    assert_eq!(ok(&o, &d), "create late\n");
    let o = d.docker(&["events", "--filter", "nope"]);
    assert_eq!((o.status.code(), stderr(&o).as_str()), (Some(125), "invalid argument \"nope\" for \"-f, --filter\" flag: bad format of filter (expected name=value)\n\nUsage:  docker events [OPTIONS]\n\nRun 'docker events --help' for more information\n"));
    if have_cli() {
        let theirs = d.real_docker(CLI, &["events", "--filter", "nope"]);
        assert_eq!((theirs.status.code(), stderr(&theirs)), (o.status.code(), stderr(&o)));
    }
    // As Docker's: a filter name the route does not know is no error and matches everything.
    let (status, body) = d.api("GET", &format!("/events?since=1&until={:.3}&filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D", now_unix()), None);
    assert_eq!(status, 200, "{body}");
    assert!(body.to_string().contains("create"), "{body}");
    let (status, _) = d.api("GET", "/events?since=20&until=10", None);
    assert_eq!(status, 400);
}

#[test]
fn prune_honours_until_and_label_filters_on_every_route() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    for (name, label) in [("keep", "keep=yes"), ("gone1", "tier=a"), ("gone2", "tier=b")] {
        ok(&d.docker(&["create", "--name", name, "--label", label, &image, "true"]), &d);
    }
    let running = run_sleeper(&d, "running", &["--label", "tier=a"]);
    let (status, body) = d.api("POST", "/containers/prune?filters=%7B%22until%22%3A%5B%221h%22%5D%7D", None);
    assert_eq!((status, body["ContainersDeleted"].clone()), (200, Value::Null), "{body}");
    let (status, body) = d.api("POST", "/containers/prune?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D", None);
    assert_eq!((status, body["message"].as_str()), (400, Some("invalid filter 'bogus'")));
    let gone1 = inspect(&d, "gone1")["Id"].as_str().unwrap().to_string();
    let o = d.docker(&["container", "prune", "-f", "--filter", "label=tier=a"]);
    assert_eq!(ok(&o, &d), format!("Deleted Containers:\n{gone1}\n\nTotal reclaimed space: 0B\n"));
    assert_eq!(inspect(&d, "running")["Id"], running.as_str());
    let o = if have_cli() { d.real_docker(CLI, &["container", "prune", "-f", "--filter", "label!=keep"]) } else { d.docker(&["container", "prune", "-f", "--filter", "label!=keep"]) };
    let gone2_out = ok(&o, &d);
    assert!(gone2_out.starts_with("Deleted Containers:\n") && gone2_out.ends_with("\nTotal reclaimed space: 0B\n"), "{gone2_out}");
    assert_eq!(d.api("GET", "/containers/gone2/json", None).0, 404);
    assert_eq!(d.api("GET", "/containers/keep/json", None).0, 200);
    // Without -f and nothing on stdin the answer is no; the question names the filters.
    let o = d.docker(&["system", "prune", "-a", "--filter", "until=1h", "--filter", "label=x"]);
    let question = ok(&o, &d);
    assert_eq!(question, "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all images without at least one container associated to them\n  - all build cache\n\n  Items to be pruned will be filtered with:\n  - label=x\n  - until=1h\n\nAre you sure you want to continue? [y/N] ");
    if have_cli() {
        assert_eq!(ok(&d.real_docker(CLI, &["system", "prune", "-a", "--filter", "until=1h", "--filter", "label=x"]), &d), question);
    }
    let o = d.docker(&["container", "prune"]);
    assert_eq!(ok(&o, &d), "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ");
    assert_eq!(d.api("GET", "/containers/keep/json", None).0, 200);

    // Images: a label the image lacks keeps it; until in the past keeps it.
    ok(&d.docker(&["rm", "-f", "running", "keep"]), &d);
    let (status, body) = d.api("POST", "/images/prune?filters=%7B%22dangling%22%3A%5B%22false%22%5D%2C%22label%22%3A%5B%22nope%22%5D%7D", None);
    assert_eq!((status, body["ImagesDeleted"].clone()), (200, Value::Null), "{body}");
    let (status, body) = d.api("POST", "/images/prune?filters=%7B%22dangling%22%3A%5B%22false%22%5D%2C%22until%22%3A%5B%222000-01-01T00%3A00%3A00Z%22%5D%7D", None);
    assert_eq!((status, body["ImagesDeleted"].clone()), (200, Value::Null), "{body}");
    let (status, body) = d.api("POST", "/images/prune?filters=%7B%22color%22%3A%5B%22red%22%5D%7D", None);
    assert_eq!((status, body["message"].as_str()), (400, Some("invalid filter 'color'")));
    // system prune -a: ours and the real CLI print the same report for the same state.
    let mut reports = Vec::new();
    let clis: &[Option<&str>] = if have_cli() { &[None, Some(CLI)] } else { &[None] };
    for cli in clis {
        ok(&d.docker(&["pull", "-q", &image]), &d);
        let id = ok(&d.docker(&["create", "--name", "last", &image, "true"]), &d).trim().to_string();
        let args = ["system", "prune", "-a", "-f"];
        let o = match cli {
            Some(c) => d.real_docker(c, &args),
            None => d.docker(&args),
        };
        let text = ok(&o, &d);
        assert!(text.starts_with(&format!("Deleted Containers:\n{id}\n\nDeleted Images:\nuntagged: ")) && text.contains("\nTotal reclaimed space: "), "{text}");
        assert_eq!(d.api("GET", "/images/json", None).1, Value::Array(vec![]));
        reports.push(text.replace(&id, "ID"));
    }
    if reports.len() == 2 {
        assert_eq!(reports[0], reports[1]);
    }
    let o = d.docker(&["system", "prune", "-f", "--volumes"]);
    assert_eq!(ok(&o, &d), "Total reclaimed space: 0B\n");
    let e = fails(&d.docker(&["system", "prune", "-f", "--volumes", "--filter", "until=1h"]));
    assert_eq!(e.trim(), "ERROR: The \"until\" filter is not supported with \"--volumes\"");
    if have_cli() {
        let o = d.real_docker(CLI, &["system", "prune", "-f", "--volumes"]);
        assert_eq!(ok(&o, &d), "Total reclaimed space: 0B\n");
    }
}

#[test]
fn command_groups_answer_with_dockers_aliases() {
    let Some(d) = Dockerd::start() else { return };
    run_sleeper(&d, "grouped", &[]);
    let ps = ok(&d.docker(&["ps", "-q"]), &d);
    assert_eq!(ps.lines().count(), 1);
    for args in [&["container", "ls"][..], &["container", "list"], &["container", "ps"]] {
        let mut a = args.to_vec();
        a.push("-q");
        assert_eq!(ok(&d.docker(&a), &d), ps);
    }
    assert_eq!(ok(&d.docker(&["image", "ls", "-q"]), &d), ok(&d.docker(&["images", "-q"]), &d));
    assert_eq!(ok(&d.docker(&["image", "list", "-q"]), &d), ok(&d.docker(&["images", "-q"]), &d));
    ok(&d.docker(&["container", "pause", "grouped"]), &d);
    ok(&d.docker(&["container", "unpause", "grouped"]), &d);
    ok(&d.docker(&["container", "rename", "grouped", "regrouped"]), &d);
    assert!(ok(&d.docker(&["container", "top", "regrouped"]), &d).contains("sleep 1000"));
    ok(&d.docker(&["container", "port", "regrouped"]), &d);
    ok(&d.docker(&["container", "restart", "-t", "0", "regrouped"]), &d);
    ok(&d.docker(&["container", "stats", "--no-stream", "regrouped"]), &d);
    ok(&d.docker(&["container", "remove", "-f", "regrouped"]), &d);
    ok(&d.docker(&["image", "tag", &d.registry.image("busybox"), "grouped:x"]), &d);
    assert_eq!(ok(&d.docker(&["image", "remove", "grouped:x"]), &d), "Untagged: grouped:x\n");
    let usage = ok(&d.docker(&["system", "--help"]), &d);
    assert_eq!(usage, "Usage:  docker system COMMAND\n\nManage Docker\n\nCommands:\n  df          Show docker disk usage\n  events      Get real time events from the server\n  info        Display system-wide information\n  prune       Remove unused data\n\nRun 'docker system COMMAND --help' for more information on a command.\n");
    let o = d.docker(&["container"]);
    assert!(ok(&o, &d).is_empty() && stderr(&o).contains("  prune       Remove all stopped containers\n"), "{}", stderr(&o));
    let o = d.docker(&["container", "bogus"]);
    assert_eq!((o.status.code(), stderr(&o).lines().next()), (Some(1), Some("docker: unknown command: docker container bogus")));
    if have_cli() {
        assert_eq!(ok(&d.real_docker(CLI, &["system", "--help"]), &d), usage);
        let theirs = d.real_docker(CLI, &["container", "bogus"]);
        assert_eq!((theirs.status.code(), stderr(&theirs)), (o.status.code(), stderr(&o)));
    }
}
