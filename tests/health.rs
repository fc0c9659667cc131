//! Health checks end to end: `--health-*` and `--no-healthcheck` (our client and the real
//! CLI), `Config.Healthcheck` through the API and docker-py, an image's `HEALTHCHECK`, the
//! monitor's statuses in inspect, ps and the `health` filter, its events, and a dockerd
//! restart that resumes it. Intervals are 100 ms, so each test takes a few seconds.

mod common;

use common::{ok, real_clis, stderr, stdout, Dockerd, REAL_CLI};
use serde_json::{json, Value};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime};

/// A client to drive, by name.
type Client<'a> = (&'static str, Box<dyn Fn(&[&str]) -> Output + 'a>);

/// Ours and the real CLI 28 (when installed).
fn clients(d: &Dockerd) -> Vec<Client<'_>> {
    let mut all: Vec<Client<'_>> = vec![("ours", Box::new(|a: &[&str]| d.docker(a)))];
    if real_clis().contains(&REAL_CLI) {
        all.push(("docker 28", Box::new(move |a: &[&str]| d.real_docker(REAL_CLI, a))));
    }
    all
}

fn run(client: &Client<'_>, d: &Dockerd, args: &[&str]) -> String {
    let o = (client.1)(args);
    assert_eq!(o.status.code(), Some(0), "{} {args:?}\nstdout: {}\nstderr: {}\ndockerd: {}", client.0, stdout(&o), stderr(&o), d.log());
    stdout(&o).trim().to_string()
}

fn inspect(d: &Dockerd, id: &str) -> Value {
    let (status, v) = d.api("GET", &format!("/containers/{id}/json"), None);
    assert_eq!(status, 200, "{v}");
    v
}

/// Polls inspect until `done` holds (15 s at most); the last inspect.
fn inspect_until(d: &Dockerd, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v = inspect(d, id);
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: {}\n{}", serde_json::to_string_pretty(&v["State"]).unwrap(), d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn health_is(status: &'static str) -> impl Fn(&Value) -> bool {
    move |v: &Value| v.pointer("/State/Health/Status").and_then(Value::as_str) == Some(status)
}

/// The names `GET /containers/json` lists with these filters (`all` too).
fn listed(d: &Dockerd, filters: &str) -> Vec<String> {
    let (status, v) = d.api("GET", &format!("/containers/json?all=1&filters={}", urlencode(filters)), None);
    assert_eq!(status, 200, "{filters}: {v}");
    let mut names: Vec<String> = v.as_array().unwrap().iter().map(|c| c["Names"][0].as_str().unwrap().trim_start_matches('/').to_string()).collect();
    names.sort();
    names
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
}

/// Now as the API's `seconds.nanoseconds`, for `since`.
fn mark() -> String {
    let t = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap();
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}

/// The events of `GET /events` between `since` and now, as JSON values.
fn events_since(d: &Dockerd, since: &str, filters: &str) -> Vec<Value> {
    let o = d.curl(&[&format!("http://d/events?since={since}&until={}&filters={}", unix_now() + 1, urlencode(filters))]);
    stdout(&o).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

#[test]
fn checks_become_healthy_or_unhealthy_with_our_client_and_the_real_cli() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), &d);
    for (n, client) in clients(&d).iter().enumerate() {
        let good = format!("good{n}");
        let bad = format!("bad{n}");
        let slow = format!("slow{n}");
        let plain = format!("plain{n}");
        run(client, &d, &["run", "-d", "--name", &good, "--health-cmd", "echo fine", "--health-interval", "100ms", &image, "sleep", "1000"]);
        run(client, &d, &["run", "-d", "--name", &bad, "--health-cmd", "echo broken >&2; exit 3", "--health-interval", "100ms", "--health-retries", "2", &image, "sleep", "1000"]);
        // The first check comes after an hour: starting until then.
        run(client, &d, &["run", "-d", "--name", &slow, "--health-cmd", "true", "--health-interval", "1h", &image, "sleep", "1000"]);
        run(client, &d, &["run", "-d", "--name", &plain, &image, "sleep", "1000"]);

        let v = inspect_until(&d, &good, "a passing check", health_is("healthy"));
        let h = &v["State"]["Health"];
        assert_eq!(h["FailingStreak"], 0);
        let last = h["Log"].as_array().unwrap().last().unwrap();
        assert_eq!((last["ExitCode"].as_i64(), last["Output"].as_str()), (Some(0), Some("fine\n")), "{h}");
        assert!(last["Start"].as_str().unwrap() <= last["End"].as_str().unwrap(), "{last}");
        assert_eq!(v["Config"]["Healthcheck"], json!({"Test": ["CMD-SHELL", "echo fine"], "Interval": 100_000_000}));

        let v = inspect_until(&d, &bad, "a failing check", health_is("unhealthy"));
        let h = &v["State"]["Health"];
        assert!(h["FailingStreak"].as_i64().unwrap() >= 2, "{h}");
        let log = h["Log"].as_array().unwrap();
        assert!(log.len() >= 2 && log.len() <= 5, "{h}");
        assert!(log.iter().all(|r| r["ExitCode"] == 3 && r["Output"] == "broken\n"), "{h}");
        // The log keeps the last five results.
        let v = inspect_until(&d, &bad, "five results", |v| v.pointer("/State/Health/FailingStreak").and_then(Value::as_i64) >= Some(7));
        assert_eq!(v["State"]["Health"]["Log"].as_array().unwrap().len(), 5);

        let v = inspect(&d, &slow);
        assert_eq!(v["State"]["Health"], json!({"Status": "starting", "FailingStreak": 0, "Log": null}));
        assert!(inspect(&d, &plain)["State"].get("Health").is_none());

        // ps: the Status text, for our client and the real CLI alike.
        let status = |name: &str| run(client, &d, &["ps", "--filter", &format!("name=^{name}$"), "--format", "{{.Status}}"]);
        let (g, b, s, p) = (status(&good), status(&bad), status(&slow), status(&plain));
        assert!(g.starts_with("Up ") && g.ends_with(" (healthy)"), "{g}");
        assert!(b.starts_with("Up ") && b.ends_with(" (unhealthy)"), "{b}");
        assert!(s.starts_with("Up ") && s.ends_with(" (health: starting)"), "{s}");
        assert!(p.starts_with("Up ") && !p.contains('('), "{p}");
        // The `health` filter, through the client and the API.
        let mut by_client: Vec<String> = run(client, &d, &["ps", "--filter", "health=healthy", "--format", "{{.Names}}"]).lines().map(String::from).collect();
        by_client.sort();
        assert!(by_client.contains(&good) && !by_client.contains(&bad), "{by_client:?}");
        let all = [&good, &bad, &slow, &plain];
        for (health, name) in [("healthy", &good), ("unhealthy", &bad), ("starting", &slow), ("none", &plain)] {
            let names = listed(&d, &format!(r#"{{"health":["{health}"]}}"#));
            for other in all {
                assert_eq!(names.contains(other), other == name, "health={health}: {names:?}");
            }
        }
        let o = (client.1)(&["ps", "--filter", "health=sick"]);
        assert_ne!(o.status.code(), Some(0));
        assert!(stderr(&o).contains("invalid filter 'health=sick': invalid value for health (sick): must be one of none, starting, healthy, unhealthy"), "{}", stderr(&o));
        run(client, &d, &["rm", "-f", &good, &bad, &slow, &plain]);
    }
    let (status, v) = d.api("GET", "/containers/json?filters=%7B%22health%22%3A%5B%22bogus%22%5D%7D", None);
    assert_eq!((status, v["message"].as_str()), (400, Some("invalid filter 'health=bogus': invalid value for health (bogus): must be one of none, starting, healthy, unhealthy")));
}

#[test]
fn a_hanging_check_is_killed_at_its_timeout_and_output_is_cut_at_4_kib() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), &d);
    let hang = ok(&d.docker(&["run", "-d", "--health-cmd", "echo started; sleep 30", "--health-timeout", "300ms", "--health-interval", "100ms", "--health-retries", "1", &image, "sleep", "1000"]), &d);
    let hang = hang.trim();
    let v = inspect_until(&d, hang, "a timed-out check", health_is("unhealthy"));
    let first = &v["State"]["Health"]["Log"][0];
    assert_eq!((first["ExitCode"].as_i64(), first["Output"].as_str()), (Some(-1), Some("Health check exceeded timeout (300ms): started\n")), "{first}");
    let took = |r: &Value| {
        let t = |k: &str| dockbox::sys::parse_rfc3339(r[k].as_str().unwrap()).unwrap();
        t("End").duration_since(t("Start")).unwrap()
    };
    assert!(took(first) >= Duration::from_millis(300) && took(first) < Duration::from_secs(5), "{first}");
    // The checks were killed: no pile of sleeping checks in the container.
    inspect_until(&d, hang, "three timed-out checks", |v| v.pointer("/State/Health/FailingStreak").and_then(Value::as_i64) >= Some(3));
    let ps = ok(&d.docker(&["exec", hang, "ps", "-o", "args"]), &d);
    assert!(ps.lines().filter(|l| l.contains("sleep 30")).count() <= 2, "{ps}");

    let chatty = ok(&d.docker(&["run", "-d", "--health-cmd", "head -c 5000 /dev/zero | tr '\\0' a", "--health-interval", "100ms", &image, "sleep", "1000"]), &d);
    let v = inspect_until(&d, chatty.trim(), "a chatty check", health_is("healthy"));
    let out = v["State"]["Health"]["Log"][0]["Output"].as_str().unwrap().to_string();
    assert_eq!(out, format!("{}...", "a".repeat(4096)));

    // A command that does not exist fails the check with the runtime's error.
    let missing = ok(&d.docker(&["run", "-d", "--health-cmd", "true", "--health-interval", "100ms", "--health-retries", "1", "--entrypoint", "sleep", &image, "1000"]), &d);
    let (status, _) = d.api("POST", "/containers/create?name=nocmd", Some(&json!({"Image": image, "Cmd": ["sleep", "1000"], "Healthcheck": {"Test": ["CMD", "/no/such/check"], "Interval": 100_000_000, "Retries": 1}}).to_string()));
    assert_eq!(status, 201);
    ok(&d.docker(&["start", "nocmd"]), &d);
    let v = inspect_until(&d, "nocmd", "a missing command", health_is("unhealthy"));
    let r = &v["State"]["Health"]["Log"][0];
    assert_eq!(r["ExitCode"], -1, "{r}");
    assert!(r["Output"].as_str().unwrap().contains("/no/such/check"), "{r}");
    inspect_until(&d, missing.trim(), "healthy", health_is("healthy"));
}

#[test]
fn the_start_period_shelters_failures_and_uses_the_start_interval() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), &d);
    for client in clients(&d).iter() {
        // Checks every 100 ms during a 2 s start period (the interval proper is an hour),
        // failing until /tmp/ready exists: still starting, with no failure counted.
        let id = run(client, &d, &["run", "-d", "--health-cmd", "test -e /tmp/ready", "--health-interval", "1h", "--health-start-period", "20s", "--health-start-interval", "100ms", "--health-retries", "1", &image, "sleep", "1000"]);
        let v = inspect_until(&d, &id, "failures in the start period", |v| v.pointer("/State/Health/Log").and_then(Value::as_array).is_some_and(|l| l.len() >= 3));
        let h = &v["State"]["Health"];
        assert_eq!((h["Status"].as_str(), h["FailingStreak"].as_i64()), (Some("starting"), Some(0)), "{h}");
        assert!(h["Log"].as_array().unwrap().iter().all(|r| r["ExitCode"] == 1), "{h}");
        // A success in the start period makes it healthy at once.
        run(client, &d, &["exec", &id, "touch", "/tmp/ready"]);
        let v = inspect_until(&d, &id, "a success in the start period", health_is("healthy"));
        // Healthy: the next check is an hour away.
        let count = v["State"]["Health"]["Log"].as_array().unwrap().len();
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(inspect(&d, &id)["State"]["Health"]["Log"].as_array().unwrap().len(), count);
        run(client, &d, &["rm", "-f", &id]);

        // Past a short start period, failures count.
        let id = run(client, &d, &["run", "-d", "--health-cmd", "false", "--health-interval", "100ms", "--health-start-period", "600ms", "--health-start-interval", "100ms", "--health-retries", "1", &image, "sleep", "1000"]);
        let began = Instant::now();
        let v = inspect_until(&d, &id, "unhealthy after the start period", health_is("unhealthy"));
        assert!(began.elapsed() >= Duration::from_millis(400), "unhealthy after {:?}: {}", began.elapsed(), v["State"]["Health"]);
        run(client, &d, &["rm", "-f", &id]);
    }
}

/// Loads `busybox` again as `tag`, with `healthcheck` as its config's `Healthcheck` (the
/// legacy `docker save` layout: manifest.json, the config, the layers).
fn load_image_with_healthcheck(d: &Dockerd, tag: &str, healthcheck: Value) {
    use sha2::{Digest, Sha256};
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), d);
    let saved = d.tmp.join("busybox-saved.tar");
    ok(&d.docker(&["save", "-o", saved.to_str().unwrap(), &image]), d);
    let mut files = std::collections::HashMap::new();
    let mut archive = tar::Archive::new(std::fs::File::open(&saved).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type().is_file() {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            files.insert(entry.path().unwrap().to_string_lossy().into_owned(), data);
        }
    }
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let mut config: Value = serde_json::from_slice(&files[manifest[0]["Config"].as_str().unwrap()]).unwrap();
    config["config"]["Healthcheck"] = healthcheck;
    let config = serde_json::to_vec(&config).unwrap();
    let config_name = format!("{:x}.json", Sha256::digest(&config));
    let layers = manifest[0]["Layers"].clone();
    let new_manifest = serde_json::to_vec(&json!([{"Config": config_name, "RepoTags": [tag], "Layers": layers}])).unwrap();
    let out = d.tmp.join("with-healthcheck.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&out).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        builder.append_data(&mut h, name, data).unwrap();
    };
    for layer in layers.as_array().unwrap() {
        let name = layer.as_str().unwrap();
        add(name, &files[name]);
    }
    add(&config_name, &config);
    add("manifest.json", &new_manifest);
    builder.into_inner().unwrap();
    ok(&d.docker(&["load", "-i", out.to_str().unwrap()]), d);
}

#[test]
fn an_images_healthcheck_is_merged_and_no_healthcheck_disables_it() {
    let Some(d) = Dockerd::start() else { return };
    load_image_with_healthcheck(&d, "checked:latest", json!({"Test": ["CMD-SHELL", "echo from-image"], "Interval": 100_000_000, "Retries": 2}));
    for client in clients(&d).iter() {
        let id = run(client, &d, &["run", "-d", "checked", "sleep", "1000"]);
        let v = inspect_until(&d, &id, "the image's check", health_is("healthy"));
        assert_eq!(v["Config"]["Healthcheck"], json!({"Test": ["CMD-SHELL", "echo from-image"], "Interval": 100_000_000, "Retries": 2}));
        assert_eq!(v["State"]["Health"]["Log"][0]["Output"], "from-image\n");

        // The container's settings override the image's field by field.
        let id2 = run(client, &d, &["run", "-d", "--health-cmd", "exit 1", "--health-retries", "1", "checked", "sleep", "1000"]);
        let v = inspect_until(&d, &id2, "the merged check", health_is("unhealthy"));
        let hc = &v["Config"]["Healthcheck"];
        assert_eq!((hc["Test"].clone(), hc["Interval"].clone(), hc["Retries"].clone()), (json!(["CMD-SHELL", "exit 1"]), json!(100_000_000), json!(1)), "{hc}");

        // --no-healthcheck: no check at all.
        let id3 = run(client, &d, &["run", "-d", "--no-healthcheck", "checked", "sleep", "1000"]);
        std::thread::sleep(Duration::from_millis(400));
        let v = inspect(&d, &id3);
        // As Docker's merge: the image's other fields fill the zero ones, but NONE runs nothing.
        assert_eq!(v["Config"]["Healthcheck"]["Test"], json!(["NONE"]));
        assert!(v["State"].get("Health").is_none(), "{}", v["State"]);
        let status = run(client, &d, &["ps", "--filter", &format!("id={id3}"), "--format", "{{.Status}}"]);
        assert!(status.starts_with("Up ") && !status.contains('('), "{status}");
        assert!(listed(&d, r#"{"health":["none"]}"#).contains(&v["Name"].as_str().unwrap().trim_start_matches('/').to_string()));
        run(client, &d, &["rm", "-f", &id, &id2, &id3]);
    }
}

#[test]
fn import_change_sets_an_images_healthcheck() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), &d);
    let id = ok(&d.docker(&["create", &image]), &d);
    let rootfs = d.tmp.join("rootfs.tar");
    ok(&d.docker(&["export", "-o", rootfs.to_str().unwrap(), id.trim()]), &d);
    for (n, client) in clients(&d).iter().enumerate() {
        let tag = format!("imported{n}");
        run(client, &d, &["import", "--change", "HEALTHCHECK --interval=100ms --retries=1 CMD [\"test\", \"-e\", \"/bin/sh\"]", "--change", "CMD [\"sleep\", \"1000\"]", rootfs.to_str().unwrap(), &tag]);
        let (_, v) = d.api("GET", &format!("/images/{tag}/json"), None);
        assert_eq!(v["Config"]["Healthcheck"], json!({"Test": ["CMD", "test", "-e", "/bin/sh"], "Interval": 100_000_000, "Retries": 1}), "{v}");
        let c = run(client, &d, &["run", "-d", &tag]);
        inspect_until(&d, &c, "the imported image's check", health_is("healthy"));
        run(client, &d, &["rm", "-f", &c]);
        let o = (client.1)(&["import", "--change", "HEALTHCHECK NONE now", rootfs.to_str().unwrap(), "bad"]);
        assert_ne!(o.status.code(), Some(0));
        assert!(stderr(&o).contains("HEALTHCHECK NONE takes no arguments"), "{}", stderr(&o));
    }
}

#[test]
fn health_flags_are_refused_as_docker_refuses_them() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), &d);
    for client in clients(&d).iter() {
        for (args, message) in [
            (vec!["--health-interval", "-1s"], "--health-interval cannot be negative"),
            (vec!["--health-timeout", "-1s"], "--health-timeout cannot be negative"),
            (vec!["--health-retries", "-1"], "--health-retries cannot be negative"),
            (vec!["--health-start-period", "-1s"], "--health-start-period cannot be negative"),
            (vec!["--health-start-interval", "-1s"], "--health-start-interval cannot be negative"),
            (vec!["--no-healthcheck", "--health-cmd", "true"], "--no-healthcheck conflicts with --health-* options"),
            (vec!["--health-interval", "10"], "invalid argument \"10\" for \"--health-interval\" flag: time: missing unit in duration \"10\""),
            // The CLI lets these through; the daemon refuses them (`run` exits 125, `create` 1).
            (vec!["--health-interval", "500us"], "Interval in Healthcheck cannot be less than 1ms"),
            (vec!["--health-timeout", "10ns"], "Timeout in Healthcheck cannot be less than 1ms"),
            (vec!["--health-start-period", "1us"], "StartPeriod in Healthcheck cannot be less than 1ms"),
            (vec!["--health-start-interval", "1us"], "StartInterval in Healthcheck cannot be less than 1ms"),
        ] {
            for verb in ["run", "create"] {
                let mut all = vec![verb];
                all.extend(args.iter().copied());
                all.extend([image.as_str(), "true"]);
                let o = (client.1)(&all);
                let daemons = message.contains("Healthcheck");
                let code = if verb == "create" && daemons { 1 } else { 125 };
                assert_eq!(o.status.code(), Some(code), "{} {all:?}: {}{}", client.0, stdout(&o), stderr(&o));
                assert!(stderr(&o).contains(message), "{} {all:?}: {}", client.0, stderr(&o));
            }
        }
    }
    for (hc, message) in [
        (json!({"Test": ["CMD", "true"], "Retries": -1}), "Retries in Healthcheck cannot be negative"),
        (json!({"Test": ["CMD", "true"], "Interval": -5}), "Interval in Healthcheck cannot be less than 1ms"),
        (json!({"Test": ["HTTP", "/"]}), "unknown type \"HTTP\""),
    ] {
        let (status, v) = d.api("POST", "/containers/create", Some(&json!({"Image": image, "Healthcheck": hc}).to_string()));
        assert_eq!(status, 400, "{hc}: {v}");
        assert!(v["message"].as_str().unwrap().contains(message), "{hc}: {v}");
    }
}

#[test]
fn events_show_status_changes_and_the_checks_execs() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), &d);
    let since = mark();
    let id = ok(&d.docker(&["run", "-d", "--name", "flip", "--health-cmd", "test ! -e /tmp/broken", "--health-interval", "100ms", "--health-retries", "1", &image, "sleep", "1000"]), &d);
    let id = id.trim();
    inspect_until(&d, id, "healthy", health_is("healthy"));
    ok(&d.docker(&["exec", id, "touch", "/tmp/broken"]), &d);
    inspect_until(&d, id, "unhealthy", health_is("unhealthy"));
    let health: Vec<String> = events_since(&d, &since, r#"{"event":["health_status"]}"#).iter().map(|e| e["Action"].as_str().unwrap().to_string()).collect();
    assert_eq!(health, ["health_status: healthy", "health_status: unhealthy"]);
    let all = events_since(&d, &since, r#"{"container":["flip"]}"#);
    let e = all.iter().find(|e| e["Action"] == "health_status: healthy").unwrap();
    assert_eq!((e["Type"].as_str(), e["Actor"]["ID"].as_str(), e["Actor"]["Attributes"]["name"].as_str()), (Some("container"), Some(id), Some("flip")));
    let check = "exec_create: /bin/sh -c test ! -e /tmp/broken";
    let create = all.iter().find(|e| e["Action"] == check).unwrap_or_else(|| panic!("{all:?}"));
    let exec_id = create["Actor"]["Attributes"]["execID"].as_str().unwrap();
    assert!(all.iter().any(|e| e["Action"] == "exec_start: /bin/sh -c test ! -e /tmp/broken" && e["Actor"]["Attributes"]["execID"] == exec_id));
    assert!(all.iter().any(|e| e["Action"] == "exec_die" && e["Actor"]["Attributes"]["execID"] == exec_id && e["Actor"]["Attributes"]["exitCode"] == "0"), "{all:?}");
    // The real CLI's `docker events` shows them too.
    if real_clis().contains(&REAL_CLI) {
        let o = d.real_docker(REAL_CLI, &["events", "--since", &since, "--until", &(unix_now() + 1).to_string(), "--filter", "event=health_status", "--format", "{{.Action}} {{.Actor.Attributes.name}}"]);
        assert_eq!(stdout(&o), "health_status: healthy flip\nhealth_status: unhealthy flip\n", "{}", stderr(&o));
    }
    // Checks' exec records do not pile up.
    std::thread::sleep(Duration::from_millis(500));
    let records = std::fs::read_dir(d.exec_root().join("execs")).map(|r| r.count()).unwrap_or(0);
    assert!(records <= 2, "{records} exec records left");
}

#[test]
fn monitoring_stops_with_the_container_and_resumes_after_start_and_dockerd_restarts() {
    let Some(mut d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), &d);
    let id = ok(&d.docker(&["run", "-d", "--health-cmd", "test -e /tmp/ok", "--health-interval", "100ms", "--health-retries", "1", &image, "sleep", "1000"]), &d);
    let id = id.trim().to_string();
    inspect_until(&d, &id, "unhealthy", health_is("unhealthy"));

    // A dockerd crash and restart: the container runs on, its monitor starts again (from
    // starting, the log kept) and sees the container become healthy.
    let log_before = inspect(&d, &id)["State"]["Health"]["Log"].as_array().unwrap().len();
    d.crash_and_restart();
    let v = inspect(&d, &id);
    assert_eq!(v["State"]["Running"], true);
    assert!(v["State"]["Health"]["Log"].as_array().map(|l| l.len()).unwrap_or(0) <= log_before.max(5));
    ok(&d.docker(&["exec", &id, "touch", "/tmp/ok"]), &d);
    inspect_until(&d, &id, "healthy after a dockerd restart", health_is("healthy"));

    // Stopped: the monitor ends (unhealthy, as Docker says of a stopped check), no more results.
    ok(&d.docker(&["stop", "-t", "1", &id]), &d);
    let v = inspect(&d, &id);
    assert_eq!(v["State"]["Health"]["Status"], "unhealthy");
    let logged = v["State"]["Health"]["Log"].clone();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(inspect(&d, &id)["State"]["Health"]["Log"], logged);
    let name = v["Name"].as_str().unwrap().trim_start_matches('/').to_string();
    assert!(listed(&d, r#"{"health":["unhealthy"]}"#).contains(&name));

    // Started again: starting, then the check runs again (its /tmp/ok is still there).
    let since = mark();
    ok(&d.docker(&["start", &id]), &d);
    let v = inspect(&d, &id);
    assert_eq!((v["State"]["Health"]["Status"].as_str(), v["State"]["Health"]["FailingStreak"].as_i64()), (Some("starting"), Some(0)));
    inspect_until(&d, &id, "healthy after a start", health_is("healthy"));

    // Paused: no checks; unpaused: they go on.
    ok(&d.docker(&["pause", &id]), &d);
    assert_eq!(inspect(&d, &id)["State"]["Health"]["Status"], "unhealthy");
    ok(&d.docker(&["unpause", &id]), &d);
    inspect_until(&d, &id, "healthy after an unpause", health_is("healthy"));
    let health: Vec<String> = events_since(&d, &since, r#"{"event":["health_status"]}"#).iter().map(|e| e["Action"].as_str().unwrap().to_string()).collect();
    assert_eq!(health, ["health_status: healthy", "health_status: healthy"], "pause makes it unhealthy without an event, as Docker's");

    // A restart policy's start resumes the monitor too.
    let r = ok(&d.docker(&["run", "-d", "--restart", "always", "--health-cmd", "true", "--health-interval", "100ms", &image, "sh", "-c", "sleep 1; exit 1"]), &d);
    let r = r.trim();
    inspect_until(&d, r, "restarted", |v| v["RestartCount"].as_i64() >= Some(1) && v["State"]["Running"] == true);
    inspect_until(&d, r, "healthy after a restart", |v| health_is("healthy")(v) && v["RestartCount"].as_i64() >= Some(1));
    ok(&d.docker(&["rm", "-f", r, &id]), &d);
}

#[test]
fn docker_py_runs_health_checks() {
    let Some(d) = Dockerd::start() else { return };
    if Command::new("python3").args(["-c", "import docker"]).output().map(|o| !o.status.success()).unwrap_or(true) {
        eprintln!("skipped: no docker-py");
        return;
    }
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), &d);
    let script = format!(
        r#"
import docker, time
c = docker.DockerClient(base_url='{host}')
ctr = c.containers.run('{image}', 'sleep 1000', detach=True, name='py',
    healthcheck={{'test': ['CMD-SHELL', 'echo py-ok'], 'interval': 100000000, 'timeout': 1000000000, 'retries': 2, 'start_period': 1000000}})
deadline = time.time() + 15
while time.time() < deadline:
    ctr.reload()
    if ctr.attrs['State']['Health']['Status'] == 'healthy':
        break
    time.sleep(0.05)
h = ctr.attrs['State']['Health']
print(h['Status'], h['FailingStreak'], repr(h['Log'][-1]['Output']))
print([x.name for x in c.containers.list(filters={{'health': 'healthy'}})])
print(sorted(ctr.attrs['Config']['Healthcheck'].items()))
try:
    c.containers.create('{image}', 'true', healthcheck={{'test': ['CMD', 'true'], 'interval': 10}})
except docker.errors.APIError as e:
    print(e.status_code, e.explanation)
ctr.remove(force=True)
"#,
        host = d.host(),
    );
    let o = Command::new("python3").arg("-c").arg(&script).output().unwrap();
    assert!(o.status.success(), "{}{}\n{}", stdout(&o), stderr(&o), d.log());
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "healthy 0 'py-ok\\n'", "{out}");
    assert_eq!(lines[1], "['py']", "{out}");
    assert_eq!(lines[2], "[('Interval', 100000000), ('Retries', 2), ('StartPeriod', 1000000), ('Test', ['CMD-SHELL', 'echo py-ok']), ('Timeout', 1000000000)]", "{out}");
    assert_eq!(lines[3], "400 Interval in Healthcheck cannot be less than 1ms", "{out}");
}
