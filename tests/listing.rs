//! What a person reads: `logs` with `--since`, `--until`, `--timestamps`, `--details`; `ps`
//! with its filters and flags; `--format` Go templates on `ps`, `images` and `inspect`; each
//! through our client and the real CLI 28, compared.

mod common;

use common::{stderr, stdout, Dockerd};
use std::path::Path;
use std::process::Output;

const REAL_CLI: &str = "/usr/local/bin/docker";
/// Debian's docker.io client (20.10), when installed.
const DEBIAN_CLI: &str = "/usr/bin/docker";

/// `both`, and Debian's 20.10 client gives the same too.
fn all_clients(d: &Dockerd, args: &[&str]) -> Output {
    let ours = both(d, args);
    if Path::new(DEBIAN_CLI).exists() {
        let old = d.real_docker(DEBIAN_CLI, args);
        assert_eq!(stdout(&ours), stdout(&old), "stdout of {args:?} (ours, then CLI 20.10's); stderr: {}", stderr(&old));
        assert_eq!(ours.status.code(), old.status.code(), "exit code of {args:?} with CLI 20.10");
    }
    ours
}

fn ok(o: &Output, what: &str) -> String {
    assert_eq!(o.status.code(), Some(0), "{what}: stdout: {}\nstderr: {}", stdout(o), stderr(o));
    stdout(o)
}

/// Lines after the first, sorted: rows whose order Docker's CLI leaves to a map.
fn rows_sorted(o: &Output) -> (Option<String>, Vec<String>) {
    let text = stdout(o);
    let mut lines = text.lines().map(str::to_string);
    let first = lines.next();
    let mut rest: Vec<String> = lines.collect();
    rest.sort();
    (first, rest)
}

/// `both`, for lists whose row order the real CLI takes from a Go map.
fn both_unordered(d: &Dockerd, args: &[&str]) -> Output {
    let ours = d.docker(args);
    if Path::new(REAL_CLI).exists() {
        let real = d.real_docker(REAL_CLI, args);
        let (mut a, mut b) = (rows_sorted(&ours), rows_sorted(&real));
        let table = match args.iter().position(|a| *a == "--format") {
            Some(i) => args[i + 1].starts_with("table"),
            None => true,
        };
        if !table || args.contains(&"-q") {
            a.1.extend(a.0.take());
            b.1.extend(b.0.take());
            a.1.sort();
            b.1.sort();
        }
        assert_eq!(a, b, "rows of {args:?} (ours, then the real CLI's)");
        assert_eq!(ours.status.code(), real.status.code(), "exit code of {args:?}");
    }
    ours
}

/// Runs `args` with our client and, when installed, the real CLI; asserts both give the
/// same output and exit code; returns ours.
fn both(d: &Dockerd, args: &[&str]) -> Output {
    let ours = d.docker(args);
    if Path::new(REAL_CLI).exists() {
        let real = d.real_docker(REAL_CLI, args);
        assert_eq!(stdout(&ours), stdout(&real), "stdout of {args:?} (ours, then the real CLI's); stderr: {} / {}", stderr(&ours), stderr(&real));
        assert_eq!(ours.status.code(), real.status.code(), "exit code of {args:?}: {} / {}", stderr(&ours), stderr(&real));
    }
    ours
}

#[test]
fn logs_since_until_timestamps_details() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), "pull");
    ok(&d.docker(&["run", "--name", "talker", &image, "sh", "-c", "echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three"]), "run");
    let stamped = ok(&both(&d, &["logs", "-t", "talker"]), "logs -t");
    let lines: Vec<(&str, &str)> = stamped.lines().map(|l| l.split_once(' ').unwrap()).collect();
    assert_eq!(lines.iter().map(|(_, m)| *m).collect::<Vec<_>>(), vec!["one", "three"], "{stamped}");
    for (t, _) in &lines {
        // RFC 3339 with nine digits, UTC.
        assert_eq!(t.len(), 30, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[19] == b'.', "{t}");
    }
    let all_stamped = ok(&d.docker(&["logs", "-t", "talker"]), "logs");
    assert!(all_stamped.lines().count() == 2);
    // stderr has "two": take its time from the combined stream.
    let o = d.docker(&["logs", "-t", "talker"]);
    let two_time = stderr(&o).lines().next().unwrap().split_once(' ').unwrap().0.to_string();
    let (t_one, t_three) = (lines[0].0.to_string(), lines[1].0.to_string());

    let o = all_clients(&d, &["logs", "--since", &two_time, "talker"]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("three\n", "two\n"));
    let o = all_clients(&d, &["logs", "--until", &two_time, "talker"]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("one\n", "two\n"));
    let o = both(&d, &["logs", "--since", &t_one, "--until", &t_one, "talker"]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("one\n", ""));
    let o = both(&d, &["logs", "--since", &t_three, "talker"]);
    assert_eq!(stdout(&o), "three\n");
    // Relative durations and unix timestamps.
    let o = all_clients(&d, &["logs", "--since", "10m", "talker"]);
    assert_eq!(stdout(&o), "one\nthree\n");
    let o = both(&d, &["logs", "--until", "10m", "talker"]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("", ""));
    let o = both(&d, &["logs", "--since", "1", "talker"]);
    assert_eq!(stdout(&o), "one\nthree\n");
    let far = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600).to_string();
    let o = both(&d, &["logs", "--since", &far, "talker"]);
    assert_eq!(stdout(&o), "");
    // Dates alone, in a zone and in the local one.
    let o = all_clients(&d, &["logs", "--since", "2000-01-01", "--until", "2100-01-01T00:00:00Z", "talker"]);
    assert_eq!(stdout(&o), "one\nthree\n");
    // --details: no attributes here, so a space before each line.
    let o = all_clients(&d, &["logs", "--details", "talker"]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), (" one\n three\n", " two\n"));
    let o = both(&d, &["logs", "--details", "-t", "--tail", "1", "talker"]);
    assert_eq!(stdout(&o), format!("{t_three}  three\n"));
    // Bad values: the client's words, and the daemon's 400.
    let o = both(&d, &["logs", "--since", "abc", "talker"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("invalid value for \"since\": failed to parse value as time or duration: \"abc\""), "{}", stderr(&o));
    let o = both(&d, &["logs", "--until", "2020-13-01", "talker"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("invalid value for \"until\""), "{}", stderr(&o));
    let (status, body) = d.api("GET", "/containers/talker/logs?stdout=1&since=abc", None);
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("invalid value for \"since\""), "{body}");

    // --follow with --until ends by itself.
    ok(&d.docker(&["run", "-d", "--name", "ticker", &image, "sh", "-c", "while :; do echo tick; sleep 0.1; done"]), "run ticker");
    let until = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 2).to_string();
    let started = std::time::Instant::now();
    let o = d.docker(&["logs", "-f", "--until", &until, "ticker"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "follow did not stop at --until");
    assert!(stdout(&o).lines().count() >= 3, "{}", stdout(&o));
}

#[test]
fn ps_filters_flags_and_formats_match_the_real_cli() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), "pull");
    ok(&d.docker(&["run", "-d", "--name", "web1", "--label", "app=web", "--label", "tier=front", &image, "sleep", "600"]), "run web1");
    ok(&d.docker(&["run", "-d", "--name", "db1", "--label", "app=db", &image, "sleep", "600"]), "run db1");
    ok(&d.docker(&["create", "--name", "idle", &image, "true"]), "create idle");
    ok(&d.docker(&["run", "--name", "done0", &image, "true"]), "run done0");
    let o = d.docker(&["run", "--name", "done3", &image, "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3));
    let names = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["ps", "--format", "{{.Names}}"];
        full.extend_from_slice(args);
        let o = all_clients(&d, &full);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        stdout(&o).lines().map(str::to_string).collect()
    };
    assert_eq!(names(&[]), vec!["db1", "web1"]);
    assert_eq!(names(&["-a"]), vec!["done3", "done0", "idle", "db1", "web1"]);
    assert_eq!(names(&["-f", "status=exited"]), vec!["done3", "done0"]);
    assert_eq!(names(&["-f", "status=created"]), vec!["idle"]);
    assert_eq!(names(&["-f", "status=running", "-f", "status=created"]), vec!["idle", "db1", "web1"]);
    assert_eq!(names(&["-a", "-f", "exited=3"]), vec!["done3"]);
    assert_eq!(names(&["-a", "-f", "exited=0"]), vec!["done0"]);
    assert_eq!(names(&["-a", "-f", "name=^web"]), vec!["web1"]);
    assert_eq!(names(&["-a", "-f", "name=done"]), vec!["done3", "done0"]);
    assert_eq!(names(&["-a", "-f", "label=app"]), vec!["db1", "web1"]);
    assert_eq!(names(&["-a", "-f", "label=app=web"]), vec!["web1"]);
    assert_eq!(names(&["-a", "-f", "label=app", "-f", "label=tier=front"]), vec!["web1"]);
    assert_eq!(names(&["-a", "-f", "before=idle"]), vec!["db1", "web1"]);
    assert_eq!(names(&["-a", "-f", "since=idle"]), vec!["done3", "done0"]);
    assert_eq!(names(&["-a", "-f", &format!("ancestor={image}")]).len(), 5);
    assert_eq!(names(&["-a", "-f", "ancestor=nosuchimage"]), Vec::<String>::new());
    assert_eq!(names(&["-a", "-f", "health=none"]).len(), 5);
    assert_eq!(names(&["-a", "-f", "network=nonet"]), Vec::<String>::new());
    assert_eq!(names(&["-a", "-f", "volume=/data"]), Vec::<String>::new());
    assert_eq!(names(&["-a", "-f", "is-task=true"]), Vec::<String>::new());
    assert_eq!(names(&["-n", "2"]), vec!["done3", "done0"]);
    assert_eq!(names(&["-l"]), vec!["done3"]);
    let web_id = ok(&d.docker(&["inspect", "-f", "{{.Id}}", "web1"]), "inspect").trim().to_string();
    assert_eq!(names(&["-a", "-f", &format!("id={}", &web_id[..6])]), vec!["web1"]);
    let o = both(&d, &["ps", "-a", "-q", "--format", "raw"]);
    assert!(stdout(&o).starts_with("container_id: "), "{}", stdout(&o));
    // psFormat and imagesFormat from the client's config.json.
    let config = d.tmp.join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.json"), r#"{"psFormat": "table {{.Names}}\\t{{.State}}", "imagesFormat": "{{.Repository}}!"}"#).unwrap();
    let ours = common::applet("docker").env("DOCKER_CONFIG", &config).args(["-H", &d.host(), "ps", "-a", "-f", "name=web1"]).output().unwrap();
    assert_eq!(stdout(&ours), "NAMES     STATE\nweb1      running\n");
    let images = common::applet("docker").env("DOCKER_CONFIG", &config).args(["-H", &d.host(), "images"]).output().unwrap();
    assert!(stdout(&images).lines().all(|l| l.ends_with('!')), "{}", stdout(&images));
    if Path::new(REAL_CLI).exists() {
        assert_eq!(stdout(&d.real_docker(REAL_CLI, &["ps", "-a", "-f", "name=web1"])), stdout(&ours));
        assert_eq!(stdout(&d.real_docker(REAL_CLI, &["images"])), stdout(&images));
    }
    std::fs::remove_file(config.join("config.json")).unwrap();
    // -q and --no-trunc.
    let o = both(&d, &["ps", "-q", "-f", "name=web1"]);
    assert_eq!(stdout(&o).trim(), &web_id[..12]);
    let o = both(&d, &["ps", "-q", "--no-trunc", "-f", "name=web1"]);
    assert_eq!(stdout(&o).trim(), web_id);
    // Templates: functions, control flow, methods, tables.
    for f in [
        "{{.ID}} {{.Image}} {{.Command}} {{.State}} {{.Labels}} {{.Label \"app\"}} {{.Mounts}} {{.Networks}} {{.Ports}} {{.LocalVolumes}} {{.CreatedAt}}",
        "{{if eq .State \"running\"}}up{{else if eq .State \"created\"}}new{{else}}down{{end}} {{upper .Names}} {{lower .State}}",
        "{{range split .Labels \",\"}}[{{.}}]{{end}} {{join (split .Labels \",\") \"+\"}} {{printf \"%-6s|%5s|%q\" .Names .State (.Label \"tier\")}}",
        "{{with .Label \"tier\"}}tier={{.}}{{else}}no tier{{end}} {{len .Names}} {{title .State}} {{truncate .Names 3}}{{pad .State 1 1}}|",
        "table {{.ID}}\\t{{.Names}}\\t{{.State}}",
        "table {{.Names}}\\t{{.Label \"app\"}}\\t{{.Labels}}",
    ] {
        let o = both(&d, &["ps", "-a", "--format", f]);
        assert_eq!(o.status.code(), Some(0), "{f}: {}", stderr(&o));
    }
    // The default table (its times tick: the header and the names only).
    let ours = d.docker(&["ps", "-a"]);
    let header = stdout(&ours).lines().next().unwrap().to_string();
    assert!(header.starts_with("CONTAINER ID   IMAGE ") && header.ends_with("   NAMES"), "{header}");
    assert!(stdout(&ours).lines().nth(1).unwrap().ends_with("   done3"));
    if Path::new(REAL_CLI).exists() {
        let real = d.real_docker(REAL_CLI, &["ps", "-a"]);
        assert_eq!(stdout(&real).lines().count(), stdout(&ours).lines().count());
    }
    let o = both(&d, &["ps", "-a", "--format", "table {{.Names}}\\t{{.State}}"]);
    assert_eq!(stdout(&o).lines().next(), Some("NAMES     STATE"));
    // json: the same object as Docker's (less the times that tick).
    let json_of = |o: &Output| -> Vec<serde_json::Value> {
        stdout(o).lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()).map(|mut v| {
            v.as_object_mut().unwrap().remove("RunningFor");
            v.as_object_mut().unwrap().remove("Status");
            v
        }).collect()
    };
    let ours = d.docker(&["ps", "-a", "--format", "json"]);
    assert_eq!(json_of(&ours).len(), 5);
    assert_eq!(json_of(&ours)[4]["Labels"], "app=web,tier=front");
    if Path::new(REAL_CLI).exists() {
        assert_eq!(json_of(&ours), json_of(&d.real_docker(REAL_CLI, &["ps", "-a", "--format", "json"])));
        assert_eq!(json_of(&d.docker(&["ps", "-a", "--format", "{{json .}}"])), json_of(&d.real_docker(REAL_CLI, &["ps", "-a", "--format", "{{json .}}"])));
    }
    // -s: sizes from the daemon.
    let o = both(&d, &["ps", "-s", "--format", "{{.Names}} {{.Size}}", "-f", "name=db1"]);
    assert!(stdout(&o).starts_with("db1 ") && stdout(&o).contains("(virtual "), "{}", stdout(&o));
    let o = all_clients(&d, &["inspect", "-s", "--format", "{{.SizeRw}} {{.SizeRootFs}}", "db1"]);
    let (rw, root) = stdout(&o).trim().split_once(' ').map(|(a, b)| (a.parse::<u64>().unwrap(), b.parse::<u64>().unwrap())).unwrap();
    assert!(rw == 0 && root > 1_000_000, "{}", stdout(&o));
    let (_, list) = d.api("GET", "/containers/json?size=1", None);
    assert!(list[0]["SizeRootFs"].as_u64().unwrap() > 1_000_000, "{list}");
    // Errors.
    let o = both(&d, &["ps", "-f", "status=bogus"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("invalid filter 'status=bogus'"), "{}", stderr(&o));
    let o = both(&d, &["ps", "-f", "color=red"]);
    assert!(stderr(&o).contains("invalid filter 'color'"), "{}", stderr(&o));
    let o = both(&d, &["ps", "-a", "--format", "{{printf \"%s\" .Label \"tier\"}}"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let o = both(&d, &["ps", "--format", "{{.Names"]);
    assert_ne!(o.status.code(), Some(0));
    let (status, _) = d.api("GET", "/containers/json?filters=%7B%22exited%22%3A%5B%22x%22%5D%7D", None);
    assert_eq!(status, 400);
}

#[test]
fn images_and_inspect_formats_match_the_real_cli() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), "pull");
    ok(&d.docker(&["pull", &d.registry.image("hello-world")]), "pull");
    ok(&d.docker(&["tag", &image, "mine:v1"]), "tag");
    assert_eq!(d.docker(&["run", "--name", "c1", "--label", "app=web", "-e", "A=1", &image, "sh", "-c", "exit 2"]).status.code(), Some(2));
    for args in [
        vec!["images"],
        vec!["images", "--digests"],
        vec!["images", "--no-trunc"],
        vec!["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}} {{.Digest}}"],
        vec!["images", "--format", "table {{.Repository}}\\t{{.Tag}}\\t{{.Size}}\\t{{.CreatedAt}}"],
        vec!["images", "--format", "json"],
        vec!["images", "--digests", "--format", "table {{.Repository}}"],
        vec!["images", "-q"],
        vec!["images", "--format", "raw"],
        vec!["images", "--format", "raw", "--digests"],
    ] {
        let o = both_unordered(&d, &args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    }
    for args in [
        vec!["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.Name}} {{index .Config.Labels \"app\"}}|{{index .Config.Labels \"nope\"}}| {{json .Config.Cmd}}", "c1"],
        vec!["inspect", "-f", "{{range .Config.Env}}{{.}};{{end}} {{if .State.Running}}R{{else}}S{{end}} {{join .Config.Cmd \",\"}} {{upper .State.Status}} {{printf \"%05d\" .State.ExitCode}}", "c1"],
        vec!["inspect", "-f", "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{end}} {{with .State}}{{.Status}}{{end}} {{len .Config.Cmd}}", "c1"],
        vec!["inspect", "--format", "{{.Id}} {{.RepoTags}}", "mine:v1"],
        vec!["inspect", "-f", "{{.Config.Cmd | json}} {{\"x\" | printf \"%s-%s\" \"y\"}}", "c1"],
    ] {
        let o = both(&d, &args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    }
    let o = both(&d, &["inspect", "-f", "{{.State.Status}} {{index .Config.Labels \"app\"}}", "c1"]);
    assert_eq!(stdout(&o), "exited web\n");
    // Image filters, evaluated by the daemon.
    let o = both(&d, &["images", "--format", "{{.Repository}}:{{.Tag}}", "mine"]);
    assert_eq!(stdout(&o), "mine:v1\n");
    let o = both(&d, &["images", "--format", "{{.Repository}}:{{.Tag}}", "-f", "reference=*/hello*"]);
    assert!(stdout(&o).ends_with("/hello-world:latest\n") && stdout(&o).lines().count() == 1, "{}", stdout(&o));
    for f in ["dangling=true", "dangling=false", "label=nope", "label!=nope", "until=1h", "until=2000-01-01", "since=mine:v1", "before=mine:v1"] {
        let o = both_unordered(&d, &["images", "--format", "{{.Repository}}:{{.Tag}}", "-f", f]);
        assert_eq!(o.status.code(), Some(0), "{f}: {}", stderr(&o));
    }
    assert_eq!(stdout(&d.docker(&["images", "-q", "-f", "dangling=true"])), "");
    assert_eq!(stdout(&d.docker(&["images", "-q", "-f", "label!=nope"])).lines().count(), 3);
    assert_eq!(stdout(&d.docker(&["images", "-q", "-f", "until=2000-01-01"])), "");
    let o = both(&d, &["images", "-f", "color=red"]);
    assert!(stderr(&o).contains("invalid filter 'color'"), "{}", stderr(&o));
    // --format json: the objects, compact, in an array.
    let o = both(&d, &["inspect", "--format", "json", "c1", "mine:v1"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(2));
    // A missing field is an error for that element; a blank line is all that is printed.
    let o = both(&d, &["inspect", "-f", "{{.State.Status}} {{.State.Nope}}", "c1"]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(1), "\n"));
    assert!(stderr(&o).contains("map has no entry for key \"Nope\""), "{}", stderr(&o));
    let o = both(&d, &["inspect", "-f", "{{nope .}}", "c1"]);
    assert_eq!(o.status.code(), Some(64));
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("function \"nope\" not defined"), "{}", stderr(&o));
}
