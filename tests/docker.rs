//! End to end: our dockerd with its own containerd, shim and runtime, driven by our client,
//! the real docker CLI and curl, pulling from a real Distribution registry.

mod common;

use common::{alive, applet, argv, argv0_base, comm, mounts_under, proc_field, processes_mentioning, stderr, stdout, Dockerd};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn hello_world_runs_with_our_client_and_the_real_cli() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("hello-world");
    let o = d.docker(&["run", "--rm", &image]);
    assert_eq!(o.status.code(), Some(0), "stdout: {}\nstderr: {}\ndockerd: {}", stdout(&o), stderr(&o), d.log());
    assert!(stdout(&o).contains("Hello from dockbox!"), "{}", stdout(&o));
    assert!(stderr(&o).contains(&format!("Unable to find image '{image}:latest' locally")), "{}", stderr(&o));

    for cli in ["/usr/local/bin/docker", "/usr/bin/docker"] {
        if !Path::new(cli).exists() {
            continue;
        }
        let o = d.real_docker(cli, &["run", "--rm", &image]);
        assert_eq!(o.status.code(), Some(0), "{cli}: stdout: {}\nstderr: {}\ndockerd: {}", stdout(&o), stderr(&o), d.log());
        assert!(stdout(&o).contains("Hello from dockbox!"), "{cli}: {}", stdout(&o));
    }
    let o = d.docker(&["ps", "-aq"]);
    assert_eq!(stdout(&o).trim(), "", "--rm left containers behind");
    assert!(mounts_under(d.tmp.path()).iter().all(|m| !m.ends_with("merged")), "a rootfs is still mounted");
}

#[test]
fn the_real_cli_pulls_afresh_and_reads_state() {
    let Some(d) = Dockerd::start() else { return };
    let cli = "/usr/local/bin/docker";
    let image = d.registry.image("busybox");
    let o = d.real_docker(cli, &["pull", &image]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("Pull complete") || stdout(&o).contains("Downloaded newer image"), "{}", stdout(&o));
    let o = d.real_docker(cli, &["run", "--name", "rc", &image, "sh", "-c", "echo to-out; echo to-err >&2; exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}{}{}", stdout(&o), stderr(&o), d.log());
    assert_eq!(stdout(&o), "to-out\n");
    assert_eq!(stderr(&o), "to-err\n");
    let o = d.real_docker(cli, &["logs", "rc"]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("to-out\n", "to-err\n"));
    let o = d.real_docker(cli, &["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "rc"]);
    assert_eq!(stdout(&o).trim(), "exited 3", "{}", stderr(&o));
    let o = d.real_docker(cli, &["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(stdout(&o).starts_with("rc Exited (3)"), "{}", stdout(&o));
    let o = d.real_docker(cli, &["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(stdout(&o).contains(&format!("{image}:latest")), "{}", stdout(&o));
    let o = d.real_docker(cli, &["version", "--format", "{{.Server.APIVersion}}"]);
    assert_eq!(stdout(&o).trim(), "1.44");
    let o = d.real_docker(cli, &["rm", "rc"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn the_seed_curl_sequence_works_verbatim() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("hello-world");
    let body = format!("{{\"Image\": \"{image}\"}}");
    let o = d.curl(&["http://localhost/v1.27/containers/create", "-X", "POST", "-H", "Content-Type: application/json", "-d", &body]);
    assert_eq!(stdout(&o).trim(), format!("{{\"message\":\"No such image: {image}:latest\"}}"));

    let o = d.curl(&[&format!("http://localhost/v1.27/images/create?fromImage={image}&tag=latest"), "-X", "POST"]);
    let lines: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let statuses: Vec<&str> = lines.iter().filter_map(|l| l["status"].as_str()).collect();
    assert_eq!(statuses.first().copied(), Some("Pulling from hello-world"), "{statuses:?}");
    for s in ["Pulling fs layer", "Downloading", "Verifying Checksum", "Download complete", "Extracting", "Pull complete"] {
        assert!(statuses.contains(&s), "no {s:?} in {statuses:?}");
    }
    assert!(statuses.iter().any(|s| s.starts_with("Digest: sha256:")), "{statuses:?}");
    assert_eq!(statuses.last().copied(), Some(format!("Status: Downloaded newer image for {image}:latest").as_str()));

    let o = d.curl(&["http://localhost/v1.27/containers/create", "-X", "POST", "-H", "Content-Type: application/json", "-d", &body]);
    let created: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let id = created["Id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 64);

    let attach = Command::new("curl")
        .args(["-sS", "-N", "--unix-socket"])
        .arg(&d.sock)
        .arg(format!("http://localhost/v1.27/containers/{id}/attach?stderr=1&stdout=1&stream=1"))
        .args(["-d", "{\"Connection\": \"Upgrade\", \"Upgrade\":\"tcp\"}"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The attach must be in place before the start; give curl its moment to connect.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !is_connected_to(attach.id() as i32) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = d.curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("http://localhost/v1.27/containers/{id}/start"), "-X", "POST"]);
    assert_eq!(stdout(&o), "204");
    let out = attach.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Hello from dockbox!"), "{:?}", String::from_utf8_lossy(&out.stdout));
}

/// Whether `pid` has a connected unix socket (curl's attach is in place).
fn is_connected_to(pid: i32) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|r| r.flatten().any(|e| std::fs::read_link(e.path()).map(|l| l.to_string_lossy().starts_with("socket:")).unwrap_or(false)))
        .unwrap_or(false)
}

#[test]
fn the_process_tree_is_dockers_and_rm_f_leaves_nothing() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    let o = d.docker(&["run", "-d", "--name", "sleeper", &image, "sleep", "60"]);
    assert_eq!(o.status.code(), Some(0), "{}{}{}", stdout(&o), stderr(&o), d.log());
    let id = stdout(&o).trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    let (_, inspect) = d.api("GET", &format!("/containers/{id}/json"), None);
    let pid = inspect["State"]["Pid"].as_i64().unwrap() as i32;
    assert!(pid > 0);

    let ppid = |p: i32| proc_field(p, "PPid").unwrap().parse::<i32>().unwrap();
    let shim = ppid(pid);
    let containerd = ppid(shim);
    let dockerd = ppid(containerd);
    assert_eq!(dockerd, d.pid() as i32, "the chain does not end at our dockerd");
    assert_eq!(comm(pid), "sleep");
    assert_eq!((comm(shim).as_str(), argv0_base(shim).as_str()), ("docker-containe", "docker-containerd-shim"));
    assert_eq!((comm(containerd).as_str(), argv0_base(containerd).as_str()), ("docker-containe", "docker-containerd"));
    assert_eq!((comm(dockerd).as_str(), argv0_base(dockerd).as_str()), ("dockerd", "dockerd"));
    // runc made the container and is gone: the shim is its parent only because it is a
    // child subreaper.
    let runtimes: Vec<i32> = processes_mentioning(d.tmp.path()).into_iter().filter(|&p| argv0_base(p).contains("runc")).collect();
    assert!(runtimes.is_empty(), "runtime processes still alive: {runtimes:?}");
    let shim_args = argv(shim);
    for flag in ["-namespace", "-workdir", "-address", "-containerd-binary", "-runtime-root"] {
        assert!(shim_args.iter().any(|a| a == flag), "shim lacks {flag}: {shim_args:?}");
    }
    let bundle = d.exec_root().join("libcontainerd").join(&id);
    for f in ["config.json", "init-stdout", "init-stderr"] {
        assert!(bundle.join(f).exists(), "{f} missing from the bundle");
    }
    let o = d.docker(&["rm", "-f", "sleeper"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "sleeper");
    let deadline = Instant::now() + Duration::from_secs(10);
    while (alive(pid) || alive(shim)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(pid), "the container process survived rm -f");
    assert!(!alive(shim), "the shim survived rm -f");
    assert!(!bundle.exists(), "the bundle and its FIFOs survived rm -f");
    assert_eq!(mounts_under(d.tmp.path()), Vec::<PathBuf>::new());
}

#[test]
fn exit_codes_streams_and_logs_pass_through() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    let o = d.docker(&["run", "--rm", &image, "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stderr(&o), d.log());
    let o = d.docker(&["run", "--rm", &image, "sh", "-c", "echo out; echo err >&2"]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("out\n", "err\n"));
    let o = d.docker(&["run", "--name", "logged", "-e", "GREETING=hi there", "-w", "/tmp", "-u", "nobody", &image, "sh", "-c", "echo $GREETING; pwd; id -u"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "hi there\n/tmp\n65534\n");
    let o = d.docker(&["logs", "logged"]);
    assert_eq!(stdout(&o), "hi there\n/tmp\n65534\n");
    let log = std::fs::read_to_string(d.tmp.join("data/containers").join(inspect_id(&d, "logged")).join(format!("{}-json.log", inspect_id(&d, "logged")))).unwrap();
    assert!(log.lines().next().unwrap().starts_with("{\"log\":\"hi there\\n\",\"stream\":\"stdout\",\"time\":\""), "{log}");
    let o = d.docker(&["run", "--rm", "--entrypoint", "/bin/echo", &image, "entry"]);
    assert_eq!(stdout(&o), "entry\n");
    let before = stdout(&d.docker(&["ps", "-aq"]));
    let o = d.docker(&["run", "--rm", &image, "no-such-command"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    // The runtime's own message reaches the user once, in the daemon's error, not as output.
    assert_eq!(stderr(&o).matches("executable file not found").count(), 1, "{}", stderr(&o));
    assert_eq!(stdout(&d.docker(&["ps", "-aq"])), before, "a failed --rm container was left behind");
    let o = d.docker(&["create", "--name", "later", &image, "echo", "started"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = d.docker(&["start", "-a", "later"]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "started\n"), "{}", stderr(&o));
    let o = d.docker(&["wait", "later"]);
    assert_eq!(stdout(&o).trim(), "0");
}

fn inspect_id(d: &Dockerd, name: &str) -> String {
    d.api("GET", &format!("/containers/{name}/json"), None).1["Id"].as_str().unwrap().to_string()
}

#[test]
fn bad_input_gets_dockers_errors_and_leaves_nothing() {
    let Some(d) = Dockerd::start() else { return };
    let o = d.docker(&["run", "--rm", &d.registry.image("no-such-image")]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("Error response from daemon"), "{}", stderr(&o));
    let o = d.docker(&["run", "--rm", "Bad:Ref:x"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("invalid reference format"), "{}", stderr(&o));
    let o = d.docker(&["run", "--bogus", "busybox"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("unknown flag: --bogus"), "{}", stderr(&o));
    let o = applet("docker").args(["-H", "unix:///nonexistent/docker.sock", "ps"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("Cannot connect to the Docker daemon at unix:///nonexistent/docker.sock. Is the docker daemon running?"), "{}", stderr(&o));

    let (status, body) = d.api("POST", "/containers/create", Some("{\"Image\": "));
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("invalid"), "{body}");
    let (status, _) = d.api("POST", "/v1.12/containers/json", None);
    assert_eq!(status, 400);
    let (status, body) = d.api("GET", "/containers/nope/json", None);
    assert_eq!((status, body["message"].as_str()), (404, Some("No such container: nope")));
    assert_eq!(d.api("GET", "/containers/json?all=1", None).1, Value::Array(vec![]));
    let leftovers: Vec<_> = std::fs::read_dir(d.tmp.join("data/containers")).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A container removed when it stops writes to a volatile overlay (nothing to sync when it is
/// unmounted); any other container's writable layer is synced as Docker's is.
#[test]
fn only_auto_removed_containers_get_a_volatile_writable_layer() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    let root_options = "awk '$2 == \"/\" && $3 == \"overlay\" {print $4}' /proc/mounts";
    let o = d.docker(&["run", "--rm", &image, "sh", "-c", root_options]);
    assert_eq!(o.status.code(), Some(0), "{}{}{}", stdout(&o), stderr(&o), d.log());
    assert!(stdout(&o).contains("volatile"), "{}", stdout(&o));
    let o = d.docker(&["run", "--name", "kept", &image, "sh", "-c", &format!("{root_options}; echo data > /kept")]);
    assert_eq!(o.status.code(), Some(0), "{}{}{}", stdout(&o), stderr(&o), d.log());
    assert!(stdout(&o).contains("lowerdir=") && !stdout(&o).contains("volatile"), "{}", stdout(&o));
    let o = d.docker(&["start", "-a", "kept"]);
    assert_eq!(o.status.code(), Some(0), "{}{}{}", stdout(&o), stderr(&o), d.log());
    let o = d.docker(&["rm", "kept"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// Every container gets a network namespace of its own with its loopback up, whether dockerd
/// made it ahead (it does, off the start's path) or runc makes it.
#[test]
fn each_container_has_its_own_network_namespace_with_loopback_up() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    let netns_and_lo = || {
        let o = d.docker(&["run", "--rm", &image, "sh", "-c", "readlink /proc/self/ns/net; ip link show lo"]);
        assert_eq!(o.status.code(), Some(0), "{}{}{}", stdout(&o), stderr(&o), d.log());
        let out = stdout(&o);
        let lo = out.lines().nth(1).unwrap_or_default().to_string();
        assert!(lo.contains("UP"), "{out}");
        out.lines().next().unwrap_or_default().to_string()
    };
    let (first, second) = (netns_and_lo(), netns_and_lo());
    let host = std::fs::read_link("/proc/self/ns/net").unwrap().to_string_lossy().into_owned();
    assert!(first.starts_with("net:[") && first != host && second != host && first != second, "{first} {second} {host}");
}
