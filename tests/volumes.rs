//! The volume store and `/volumes` API of dockerd with our client and the real CLIs:
//! create/ls/inspect/rm/prune, filters, labels, Docker's errors and statuses, tmpfs- and
//! bind-backed local volumes, events, `system df`, and volumes kept across a dockerd restart
//! and a crash, with nothing left mounted.

mod common;

use common::{clients, mounts_under, ok, real_clis, stderr, stdout, Dockerd, TempDir};
use serde_json::Value;

fn run(d: &Dockerd, cli: Option<&str>, args: &[&str]) -> std::process::Output {
    d.client_with_input(cli, args, None)
}

fn inspect(d: &Dockerd, name: &str) -> Value {
    let (status, v) = d.api("GET", &format!("/volumes/{name}"), None);
    assert_eq!(status, 200, "{v}");
    v
}

fn names(d: &Dockerd, filters: Option<&str>) -> Vec<String> {
    let path = match filters {
        Some(f) => format!("/volumes?filters={}", urlencode(f)),
        None => "/volumes".to_string(),
    };
    let (status, v) = d.api("GET", &path, None);
    assert_eq!(status, 200, "{v}");
    let mut n: Vec<String> = v["Volumes"].as_array().unwrap().iter().map(|v| v["Name"].as_str().unwrap().to_string()).collect();
    n.sort();
    n
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[test]
fn volumes_are_created_listed_inspected_and_removed_by_every_client() {
    let Some(d) = Dockerd::start() else { return };
    let data_root = d.tmp.join("data");
    for (i, cli) in clients().into_iter().enumerate() {
        let name = format!("dbxvol{i}");
        let out = ok(&run(&d, cli, &["volume", "create", "--label", "app=web", "--label", "tier", &name]), &d);
        assert_eq!(out.trim(), name, "{cli:?}");
        let v = inspect(&d, &name);
        assert_eq!(v["Name"], name.as_str());
        assert_eq!(v["Driver"], "local");
        assert_eq!(v["Scope"], "local");
        assert_eq!(v["Labels"], serde_json::json!({"app": "web", "tier": ""}));
        // The CLI 28 (and ours) leave empty maps out of the request (null here); the CLI
        // 20.10 sends them empty.
        let want_options = if cli == Some(common::DEBIAN_CLI) { serde_json::json!({}) } else { Value::Null };
        assert_eq!(v["Options"], want_options, "{cli:?}");
        let mountpoint = data_root.join("volumes").join(&name).join("_data");
        assert_eq!(v["Mountpoint"], mountpoint.to_str().unwrap());
        assert!(mountpoint.is_dir());
        assert!(v["CreatedAt"].as_str().unwrap().starts_with("20"), "{v}");

        // Creating it again gives the same volume back.
        assert_eq!(ok(&run(&d, cli, &["volume", "create", &name]), &d).trim(), name);

        let table = ok(&run(&d, cli, &["volume", "ls"]), &d);
        let mut lines = table.lines();
        let header = lines.next().unwrap();
        assert!(header.starts_with("DRIVER") && header.trim_end().ends_with("VOLUME NAME"), "{cli:?}: {table}");
        assert!(lines.any(|l| l.split_whitespace().collect::<Vec<_>>() == ["local", name.as_str()]), "{cli:?}: {table}");
        let quiet = ok(&run(&d, cli, &["volume", "ls", "-q"]), &d);
        assert!(quiet.lines().any(|l| l == name), "{quiet}");
        let formatted = ok(&run(&d, cli, &["volume", "ls", "--filter", &format!("name={name}"), "--format", "{{.Name}} {{.Labels}} {{.Scope}}"]), &d);
        // The real CLIs join labels in Go's random map order: compare them as a set.
        let fields: Vec<&str> = formatted.trim_end().split(' ').collect();
        let mut labels: Vec<&str> = fields[1].split(',').collect();
        labels.sort();
        assert_eq!((fields[0], labels, fields[2]), (name.as_str(), vec!["app=web", "tier="], "local"), "{cli:?}: {formatted}");

        let shown = ok(&run(&d, cli, &["volume", "inspect", &name]), &d);
        let arr: Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(arr[0]["Name"], name.as_str());
        let mp = ok(&run(&d, cli, &["volume", "inspect", "--format", "{{.Mountpoint}}", &name]), &d);
        assert_eq!(mp.trim(), mountpoint.to_str().unwrap());
        let o = run(&d, cli, &["volume", "inspect", "dbxnosuch"]);
        assert_eq!(o.status.code(), Some(1), "{cli:?}");
        // The CLI 20.10 words it "Error: No such volume: NAME" itself.
        assert!(stderr(&o).to_lowercase().contains("no such volume"), "{cli:?}: {}", stderr(&o));

        std::fs::write(mountpoint.join("file"), b"data").unwrap();
        let o = ok(&run(&d, cli, &["volume", "rm", &name]), &d);
        assert_eq!(o.trim(), name);
        assert!(!data_root.join("volumes").join(&name).exists());
        let o = run(&d, cli, &["volume", "rm", &name]);
        assert_eq!(o.status.code(), Some(1), "{cli:?}");
        let want = if cli == Some(common::DEBIAN_CLI) { format!("Error: No such volume: {name}") } else { format!("get {name}: no such volume") };
        assert!(stderr(&o).contains(&want), "{cli:?}: {}", stderr(&o));
        assert_eq!(run(&d, cli, &["volume", "rm", "-f", &name]).status.code(), Some(0), "{cli:?}");

        // No name: an anonymous volume, 64 hex digits.
        let anon = ok(&run(&d, cli, &["volume", "create"]), &d).trim().to_string();
        assert_eq!(anon.len(), 64);
        assert!(anon.bytes().all(|b| b.is_ascii_hexdigit()));
        ok(&run(&d, cli, &["volume", "rm", &anon]), &d);
    }
    assert!(names(&d, None).is_empty());
}

#[test]
fn bad_names_drivers_and_options_are_refused() {
    let Some(d) = Dockerd::start() else { return };
    let (status, v) = d.api("POST", "/volumes/create", Some(r#"{"Name":"../escape"}"#));
    assert_eq!(status, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("includes invalid characters for a local volume name"), "{v}");
    let (status, v) = d.api("POST", "/volumes/create", Some(r#"{"Name":"x"}"#));
    assert_eq!((status, v["message"].as_str().unwrap()), (400, "create x: volume name is too short, names should be at least two alphanumeric characters"));
    let (status, v) = d.api("POST", "/volumes/create", Some(r#"{"Name":"dbxv","Driver":"flocker"}"#));
    assert_eq!((status, v["message"].as_str().unwrap()), (404, "create dbxv: error looking up volume plugin flocker: plugin \"flocker\" not found"));
    let (status, v) = d.api("POST", "/volumes/create", Some(r#"{"Name":"dbxv","DriverOpts":{"colour":"red"}}"#));
    assert_eq!((status, v["message"].as_str().unwrap()), (400, "create dbxv: invalid option: \"colour\""));
    let (status, v) = d.api("POST", "/volumes/create", Some(r#"{"Name":"dbxv","DriverOpts":{"type":"tmpfs"}}"#));
    assert_eq!((status, v["message"].as_str().unwrap()), (400, "create dbxv: missing required option: \"device\""));
    let (status, v) = d.api("POST", "/volumes/create", Some(r#"{"Name":"dbxv","Bogus":1}"#));
    assert_eq!(status, 400, "{v}");
    let (status, v) = d.api("GET", "/volumes?filters=%7B%22colour%22%3A%7B%22x%22%3Atrue%7D%7D", None);
    assert_eq!((status, v["message"].as_str().unwrap()), (400, "invalid filter 'colour'"));
    let (status, v) = d.api("POST", "/volumes/prune?filters=%7B%22until%22%3A%7B%2210m%22%3Atrue%7D%7D", None);
    assert_eq!((status, v["message"].as_str().unwrap()), (400, "invalid filter 'until'"));
    let (status, v) = d.api("GET", "/volumes/dbxnosuch", None);
    assert_eq!((status, v["message"].as_str().unwrap()), (404, "get dbxnosuch: no such volume"));
    let (status, v) = d.api("DELETE", "/volumes/dbxnosuch", None);
    assert_eq!(status, 404, "{v}");
    let (status, _) = d.api("DELETE", "/volumes/dbxnosuch?force=1", None);
    assert_eq!(status, 204);
    // A local volume is no cluster volume: PUT is Docker's 503.
    ok(&d.docker(&["volume", "create", "dbxput"]), &d);
    let (status, v) = d.api("PUT", "/volumes/dbxput?version=1", Some(r#"{"Spec":{}}"#));
    assert_eq!((status, v["message"].as_str().unwrap()), (503, "volume update only valid for cluster volumes, but swarm is unavailable"));
    assert_eq!(names(&d, None), ["dbxput"]);
    assert_eq!(std::fs::read_dir(d.tmp.join("data/volumes")).unwrap().count(), 1);

    for cli in clients() {
        let o = run(&d, cli, &["volume", "create", "-d", "flocker", "dbxv"]);
        assert_ne!(o.status.code(), Some(0), "{cli:?}");
        assert!(stderr(&o).contains("plugin \"flocker\" not found"), "{cli:?}: {}", stderr(&o));
        let o = run(&d, cli, &["volume", "create", "-o", "colour=red", "dbxv"]);
        assert!(stderr(&o).contains("invalid option: \"colour\""), "{cli:?}: {}", stderr(&o));
        let o = run(&d, cli, &["volume", "create", "a/b"]);
        assert!(stderr(&o).contains("includes invalid characters"), "{cli:?}: {}", stderr(&o));
    }
    assert_eq!(names(&d, None), ["dbxput"]);
}

#[test]
fn filters_select_by_name_label_driver_and_dangling() {
    let Some(d) = Dockerd::start() else { return };
    ok(&d.docker(&["volume", "create", "--label", "env=prod", "dbxa1"]), &d);
    ok(&d.docker(&["volume", "create", "--label", "env=dev", "--label", "keep", "dbxa2"]), &d);
    ok(&d.docker(&["volume", "create", "dbxb1"]), &d);
    assert_eq!(names(&d, Some(r#"{"name":{"dbxa":true}}"#)), ["dbxa1", "dbxa2"]);
    assert_eq!(names(&d, Some(r#"{"label":{"env=prod":true}}"#)), ["dbxa1"]);
    assert_eq!(names(&d, Some(r#"{"label":{"env":true}}"#)), ["dbxa1", "dbxa2"]);
    assert_eq!(names(&d, Some(r#"{"label!":{"env":true}}"#)), ["dbxb1"]);
    assert_eq!(names(&d, Some(r#"{"driver":{"local":true}}"#)).len(), 3);
    assert!(names(&d, Some(r#"{"driver":{"other":true}}"#)).is_empty());
    assert_eq!(names(&d, Some(r#"{"dangling":{"true":true}}"#)).len(), 3);
    assert!(names(&d, Some(r#"{"dangling":{"false":true}}"#)).is_empty());
    for cli in clients() {
        let o = ok(&run(&d, cli, &["volume", "ls", "-q", "--filter", "label=keep"]), &d);
        assert_eq!(o, "dbxa2\n", "{cli:?}");
        let o = ok(&run(&d, cli, &["volume", "ls", "--format", "{{.Name}}={{.Label \"env\"}}", "-f", "name=dbxa"]), &d);
        assert_eq!(o, "dbxa1=prod\ndbxa2=dev\n", "{cli:?}");
    }
}

#[test]
fn prune_takes_anonymous_volumes_unless_all_and_honours_labels() {
    let Some(d) = Dockerd::start() else { return };
    ok(&d.docker(&["volume", "create", "dbxnamed"]), &d);
    ok(&d.docker(&["volume", "create", "--label", "keep=1", "dbxkept"]), &d);
    let anon = ok(&d.docker(&["volume", "create"]), &d).trim().to_string();
    std::fs::write(d.tmp.join("data/volumes").join(&anon).join("_data/f"), vec![7u8; 3000]).unwrap();
    let v = inspect(&d, &anon);
    assert_eq!(v["Labels"], serde_json::json!({"com.docker.volume.anonymous": ""}));

    // A "no" cancels.
    let o = d.client_with_input(None, &["volume", "prune"], Some(b"n\n"));
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "), "{}", stdout(&o));
    assert_eq!(names(&d, None).len(), 3);

    let o = d.client_with_input(None, &["volume", "prune"], Some(b"y\n"));
    let out = ok(&o, &d);
    assert!(out.contains(&format!("Deleted Volumes:\n{anon}\n\nTotal reclaimed space: 3kB\n")), "{out}");
    assert_eq!(names(&d, None), ["dbxkept", "dbxnamed"]);

    // API 1.44 without `all`: nothing named goes.
    let (status, v) = d.api("POST", "/volumes/prune", None);
    assert_eq!((status, v["VolumesDeleted"].clone()), (200, Value::Null));
    for cli in clients() {
        let o = d.client_with_input(cli, &["volume", "prune", "-f"], None);
        assert_eq!(o.status.code(), Some(0), "{cli:?}: {}", stderr(&o));
    }
    // The Debian CLI (API 1.41) prunes every unused volume, as Docker does for old clients.
    assert_eq!(names(&d, None).len(), if real_clis().contains(&common::DEBIAN_CLI) { 0 } else { 2 });
    ok(&d.docker(&["volume", "create", "dbxnamed"]), &d);
    ok(&d.docker(&["volume", "create", "--label", "keep=1", "dbxkept"]), &d);
    let out = ok(&d.client_with_input(None, &["volume", "prune", "-a", "-f", "--filter", "label!=keep"], None), &d);
    assert!(out.contains("Deleted Volumes:\ndbxnamed\n"), "{out}");
    assert_eq!(names(&d, None), ["dbxkept"]);
    if real_clis().contains(&common::REAL_CLI) {
        let o = d.client_with_input(Some(common::REAL_CLI), &["volume", "prune", "-a"], Some(b"y\n"));
        let out = ok(&o, &d);
        assert!(out.contains("WARNING! This will remove all local volumes not used by at least one container."), "{out}");
        assert!(out.contains("Deleted Volumes:\ndbxkept\n"), "{out}");
        assert!(names(&d, None).is_empty());
    }
}

#[test]
fn tmpfs_and_bind_backed_volumes_are_created_and_inspected() {
    let Some(d) = Dockerd::start() else { return };
    let host = TempDir::new("dbx-volume-host");
    std::fs::write(host.join("hello"), b"hi").unwrap();
    let host_dir = host.path().to_str().unwrap().to_string();
    for (i, cli) in clients().into_iter().enumerate() {
        let tmp = format!("dbxtmp{i}");
        let bind = format!("dbxbind{i}");
        ok(&run(&d, cli, &["volume", "create", "--driver", "local", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m,uid=1000", &tmp]), &d);
        ok(&run(&d, cli, &["volume", "create", "-o", "type=none", "-o", "o=bind", "-o", &format!("device={host_dir}"), &bind]), &d);
        assert_eq!(inspect(&d, &tmp)["Options"], serde_json::json!({"type": "tmpfs", "device": "tmpfs", "o": "size=1m,uid=1000"}));
        assert_eq!(inspect(&d, &bind)["Options"], serde_json::json!({"type": "none", "o": "bind", "device": host_dir}));
        let o = ok(&run(&d, cli, &["volume", "inspect", "--format", "{{.Options.type}} {{.Driver}}", &tmp, &bind]), &d);
        assert_eq!(o, "tmpfs local\nnone local\n", "{cli:?}");
        // Mounted only at first use by a container: nothing is mounted yet.
        assert!(mounts_under(&d.tmp.join("data/volumes")).is_empty());
        ok(&run(&d, cli, &["volume", "rm", &tmp, &bind]), &d);
    }
    // Removing a bind-backed volume never touches the host's directory.
    assert_eq!(std::fs::read(host.join("hello")).unwrap(), b"hi");
    assert!(names(&d, None).is_empty());
}

#[test]
fn volumes_survive_a_restart_and_a_crash_and_nothing_stays_mounted() {
    let Some(mut d) = Dockerd::start() else { return };
    ok(&d.docker(&["volume", "create", "--label", "a=b", "dbxkeep"]), &d);
    ok(&d.docker(&["volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "dbxtmpfs"]), &d);
    let mountpoint = d.tmp.join("data/volumes/dbxkeep/_data");
    std::fs::write(mountpoint.join("f"), b"kept").unwrap();
    let before = inspect(&d, "dbxkeep");
    d.crash_and_restart();
    assert_eq!(inspect(&d, "dbxkeep"), before);
    assert_eq!(inspect(&d, "dbxtmpfs")["Options"]["type"], "tmpfs");
    assert_eq!(std::fs::read(mountpoint.join("f")).unwrap(), b"kept");
    // system df counts the volume and its data.
    let (status, df) = d.api("GET", "/system/df", None);
    assert_eq!(status, 200);
    let kept = df["Volumes"].as_array().unwrap().iter().find(|v| v["Name"] == "dbxkeep").cloned().unwrap();
    assert_eq!(kept["UsageData"], serde_json::json!({"Size": 4, "RefCount": 0}));
    let table = ok(&d.docker(&["system", "df"]), &d);
    let row = table.lines().find(|l| l.starts_with("Local Volumes")).unwrap().split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(row, "Local Volumes 2 0 4B 4B (100%)", "{table}");
    if real_clis().contains(&common::REAL_CLI) {
        let verbose = ok(&d.real_docker(common::REAL_CLI, &["system", "df", "-v"]), &d);
        let section = verbose.split("Local Volumes space usage:\n\n").nth(1).unwrap_or_else(|| panic!("{verbose}"));
        let rows: Vec<String> = section.lines().take(3).map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        assert_eq!(rows, ["VOLUME NAME LINKS SIZE", "dbxkeep 0 4B", "dbxtmpfs 0 0B"], "{verbose}");
    }
    // A clean stop and start as well (SIGTERM through crash's path: kill + restart is the
    // only restart the fixture has; the metadata must be whole either way).
    d.crash_and_restart();
    assert_eq!(names(&d, None), ["dbxkeep", "dbxtmpfs"]);
    assert!(mounts_under(&d.tmp.join("data/volumes")).is_empty());
    ok(&d.docker(&["volume", "rm", "dbxkeep", "dbxtmpfs"]), &d);
    assert!(names(&d, None).is_empty());
}

#[test]
fn volume_events_are_logged() {
    let Some(d) = Dockerd::start() else { return };
    ok(&d.docker(&["volume", "create", "dbxev"]), &d);
    ok(&d.docker(&["volume", "rm", "dbxev"]), &d);
    let until = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1).to_string();
    let o = ok(&d.docker(&["events", "--since", "0", "--until", &until, "--filter", "type=volume", "--format", "{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.driver}}"]), &d);
    assert_eq!(o, "volume create dbxev local\nvolume destroy dbxev local\n", "{o}");
}

#[test]
fn system_prune_with_volumes_takes_the_anonymous_ones() {
    let Some(d) = Dockerd::start() else { return };
    ok(&d.docker(&["volume", "create", "dbxnamed"]), &d);
    let anon = ok(&d.docker(&["volume", "create"]), &d).trim().to_string();
    std::fs::write(d.tmp.join("data/volumes").join(&anon).join("_data/f"), vec![1u8; 2000]).unwrap();
    let out = ok(&d.docker(&["system", "prune", "-f", "--volumes"]), &d);
    assert!(out.contains(&format!("Deleted Volumes:\n{anon}\n")) && out.ends_with("Total reclaimed space: 2kB\n"), "{out}");
    assert_eq!(names(&d, None), ["dbxnamed"]);
    if real_clis().contains(&common::REAL_CLI) {
        let anon = ok(&d.docker(&["volume", "create"]), &d).trim().to_string();
        let out = ok(&d.real_docker(common::REAL_CLI, &["system", "prune", "-f", "--volumes"]), &d);
        assert!(out.contains(&format!("Deleted Volumes:\n{anon}\n")), "{out}");
        assert_eq!(names(&d, None), ["dbxnamed"]);
    }
}

#[test]
fn our_client_prints_what_the_cli_28_prints() {
    let Some(d) = Dockerd::start() else { return };
    if !real_clis().contains(&common::REAL_CLI) {
        return;
    }
    // One label: the CLI joins several in Go's random map order.
    ok(&d.docker(&["volume", "create", "--label", "a=1", "dbxv10"]), &d);
    ok(&d.docker(&["volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "dbxv9"]), &d);
    for args in [
        &["volume", "ls"][..],
        &["volume", "ls", "-q"],
        &["volume", "ls", "--format", "json"],
        &["volume", "ls", "--format", "table {{.Name}}\t{{.Labels}}\t{{.Mountpoint}}"],
        &["volume", "inspect", "dbxv10", "dbxv9"],
        &["volume", "inspect", "--format", "json", "dbxv10"],
        &["volume", "inspect", "--format", "{{json .Labels}}", "dbxv10"],
        &["volume", "rm", "dbxnosuch"],
        &["volume", "update", "dbxv10"],
        &["volume", "update"],
        &["volume", "create", "a1", "b1"],
        &["volume", "ls", "x"],
        &["volume", "rm"],
        &["volume", "update", "--availability", "drain", "dbxnosuch"],
    ] {
        let ours = d.docker(args);
        let theirs = d.real_docker(common::REAL_CLI, args);
        assert_eq!(stdout(&ours), stdout(&theirs), "{args:?}");
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}: {} / {}", stderr(&ours), stderr(&theirs));
        assert_eq!(stderr(&ours), stderr(&theirs), "{args:?}");
    }
}
