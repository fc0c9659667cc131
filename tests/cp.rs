//! `docker cp` and the archive routes: both directions with our client and the real CLI,
//! stopped and running containers, the stat header, errors, and paths that must stay inside
//! the container's root (static symlinks out of it, and CVE-2018-15664's symlink-exchange
//! race).

mod common;

use common::{applet, stderr, stdout, Dockerd, TempDir};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const REAL_CLI: &str = "/usr/local/bin/docker";
/// Debian's docker.io client (20.10), when installed.
const DEBIAN_CLI: &str = "/usr/bin/docker";

fn ok(o: &Output, what: &str) -> String {
    assert_eq!(o.status.code(), Some(0), "{what}: stdout: {}\nstderr: {}", stdout(o), stderr(o));
    stdout(o)
}

/// Our client or the real one, by path (`None` is ours).
fn cli(d: &Dockerd, which: Option<&str>, args: &[&str]) -> Output {
    match which {
        None => d.docker(args),
        Some(c) => d.real_docker(c, args),
    }
}

fn clients() -> Vec<Option<&'static str>> {
    let mut v = vec![None];
    for c in [REAL_CLI, DEBIAN_CLI] {
        if Path::new(c).exists() {
            v.push(Some(c));
        }
    }
    v
}

/// A raw request; returns status, headers and body.
fn raw(d: &Dockerd, method: &str, path: &str, body: Option<&[u8]>) -> (u16, dockbox::http::Headers, Vec<u8>) {
    let endpoint = dockbox::http::client::Endpoint::Unix(d.sock.clone());
    let headers: &[(&str, &str)] = if body.is_some() { &[("Content-Type", "application/x-tar")] } else { &[] };
    let r = dockbox::http::client::request(&endpoint, method, path, headers, body).unwrap();
    let (status, h) = (r.status, r.headers.clone());
    let b = if method == "HEAD" { Vec::new() } else { r.bytes().unwrap_or_default() };
    (status, h, b)
}

fn stat_of(h: &dockbox::http::Headers) -> Value {
    let b = dockbox::base64::decode(h.get("X-Docker-Container-Path-Stat").expect("stat header")).unwrap();
    serde_json::from_slice(&b).unwrap()
}

/// A tar of `(name, kind, link target or content)` entries.
fn tar_of(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_mode(if *kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
        h.set_mtime(1_700_000_000);
        h.set_uid(1234);
        h.set_gid(4321);
        match kind {
            tar::EntryType::Symlink => {
                h.set_size(0);
                b.append_link(&mut h, name, data).unwrap();
            }
            _ => {
                let content = if *kind == tar::EntryType::Regular { data.as_bytes() } else { b"" };
                h.set_size(content.len() as u64);
                b.append_data(&mut h, name, content).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn files_in_tar(t: &[u8]) -> Vec<(String, String)> {
    let mut a = tar::Archive::new(t);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut e, &mut s);
            (name, s)
        })
        .collect()
}

#[test]
fn cp_both_ways_with_our_client_and_the_real_cli_stopped_and_running() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), "pull");
    let host = TempDir::new("cp-both");
    std::fs::write(host.join("file.txt"), "hello file\n").unwrap();
    std::fs::create_dir_all(host.join("tree/sub")).unwrap();
    std::fs::write(host.join("tree/a"), "A").unwrap();
    std::fs::write(host.join("tree/sub/b"), "B").unwrap();
    std::os::unix::fs::symlink("a", host.join("tree/link")).unwrap();
    let h = |p: &str| host.join(p).display().to_string();

    for (i, which) in clients().into_iter().enumerate() {
        let who = which.unwrap_or("ours");
        for running in [false, true] {
            let name = format!("cp{i}{}", if running { "r" } else { "s" });
            if running {
                ok(&cli(&d, which, &["run", "-d", "--name", &name, &image, "sleep", "600"]), "run");
            } else {
                ok(&cli(&d, which, &["create", "--name", &name, &image, "true"]), "create");
            }
            // A file into an existing directory, and to a new name.
            ok(&cli(&d, which, &["cp", &h("file.txt"), &format!("{name}:/tmp")]), "cp file in");
            ok(&cli(&d, which, &["cp", &h("file.txt"), &format!("{name}:/tmp/renamed.txt")]), "cp file to new name");
            // A directory to a new name, and into an existing directory.
            ok(&cli(&d, which, &["cp", &h("tree"), &format!("{name}:/copied")]), "cp dir in");
            ok(&cli(&d, which, &["cp", &h("tree"), &format!("{name}:/tmp")]), "cp dir into dir");
            // And back out.
            let out = TempDir::new("cp-out");
            let o = |p: &str| out.join(p).display().to_string();
            ok(&cli(&d, which, &["cp", &format!("{name}:/tmp/file.txt"), &o("f1")]), "cp file out");
            ok(&cli(&d, which, &["cp", &format!("{name}:/tmp/renamed.txt"), &o("")]), "cp file out into dir");
            ok(&cli(&d, which, &["cp", &format!("{name}:/copied"), &o("tree1")]), "cp dir out");
            ok(&cli(&d, which, &["cp", &format!("{name}:/tmp/tree/."), &o("tree2")]), "cp dir contents out");
            ok(&cli(&d, which, &["cp", &format!("{name}:/etc/passwd"), &o("passwd")]), "cp image file out");
            assert_eq!(std::fs::read_to_string(out.join("f1")).unwrap(), "hello file\n", "{who}");
            assert_eq!(std::fs::read_to_string(out.join("renamed.txt")).unwrap(), "hello file\n", "{who}");
            for t in ["tree1", "tree2"] {
                assert_eq!(std::fs::read_to_string(out.join(t).join("a")).unwrap(), "A", "{who} {t}");
                assert_eq!(std::fs::read_to_string(out.join(t).join("sub/b")).unwrap(), "B", "{who} {t}");
                assert_eq!(std::fs::read_link(out.join(t).join("link")).unwrap(), Path::new("a"), "{who} {t}");
            }
            assert!(std::fs::read_to_string(out.join("passwd")).unwrap().starts_with("root:"), "{who}");
            // Missing paths: Docker's 404 wording.
            let e = cli(&d, which, &["cp", &format!("{name}:/nope"), &o("x")]);
            assert_eq!(e.status.code(), Some(1), "{who}");
            // CLI 20.10 words a 404 itself.
            let expected = if which == Some(DEBIAN_CLI) { format!("No such container:path: {name}:/nope") } else { format!("Could not find the file /nope in container {name}") };
            assert!(stderr(&e).contains(&expected), "{who}: {}", stderr(&e));
            let e = cli(&d, which, &["cp", &h("file.txt"), &format!("{name}:/nope/deeper/x")]);
            assert_ne!(e.status.code(), Some(0), "{who}");
            // A local symlink: stored as a link, or with -L, its target's content.
            ok(&cli(&d, which, &["cp", &h("tree/link"), &format!("{name}:/tmp/asis")]), "cp link");
            ok(&cli(&d, which, &["cp", "-L", &h("tree/link"), &format!("{name}:/tmp/followed")]), "cp -L link");
            let (_, hd, _) = raw(&d, "HEAD", &format!("/containers/{name}/archive?path=/tmp/asis"), None);
            assert_eq!(stat_of(&hd)["mode"].as_u64().unwrap() & (1 << 27), 1 << 27, "{who}: not a symlink");
            let (_, hd, _) = raw(&d, "HEAD", &format!("/containers/{name}/archive?path=/tmp/followed"), None);
            assert_eq!((stat_of(&hd)["mode"].as_u64(), stat_of(&hd)["size"].as_u64()), (Some(0o644), Some(1)), "{who}: -L did not copy the target");
            // Errors worded as Docker's.
            let e = cli(&d, which, &["cp", &h("missing"), &format!("{name}:/tmp")]);
            assert_eq!(e.status.code(), Some(1), "{who}");
            assert!(stderr(&e).contains(&format!("lstat {}: no such file or directory", h("missing"))), "{who}: {}", stderr(&e));
            let e = cli(&d, which, &["cp", &h("file.txt"), "nosuchct:/tmp"]);
            assert!(stderr(&e).contains("No such container: nosuchct") || stderr(&e).contains("No such container:path: nosuchct:"), "{who}: {}", stderr(&e));
            let e = cli(&d, which, &["cp", &format!("{name}:/etc/passwd"), "other:/tmp"]);
            assert!(stderr(&e).contains("copying between containers is not supported"), "{who}: {}", stderr(&e));
            let e = cli(&d, which, &["cp", &h("file.txt"), &h("x")]);
            assert!(stderr(&e).contains("must specify at least one container source"), "{who}: {}", stderr(&e));
            // A directory over an existing file is refused.
            let e = cli(&d, which, &["cp", &h("tree"), &format!("{name}:/etc/passwd")]);
            assert!(stderr(&e).contains("cannot copy directory"), "{who}: {}", stderr(&e));
            if running {
                // The running container's own view has the file (its mount namespace).
                let o = cli(&d, which, &["logs", &name]);
                assert_eq!(stdout(&o), "", "{who}");
            } else {
                // Nothing stays mounted for a stopped container.
                assert!(common::mounts_under(d.tmp.path()).iter().all(|m| !m.ends_with("merged")), "{who}: a stopped container's root stays mounted");
            }
            ok(&cli(&d, which, &["rm", "-f", &name]), "rm");
        }
    }
}

#[test]
fn a_running_container_sees_what_is_copied_in_and_its_hosts_file_is_copied_out() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), "pull");
    ok(&d.docker(&["run", "-d", "--name", "waiter", &image, "sh", "-c", "while [ ! -f /tmp/flag ]; do sleep 0.05; done; cat /tmp/flag"]), "run");
    let host = TempDir::new("cp-flag");
    std::fs::write(host.join("flag"), "seen inside\n").unwrap();
    ok(&d.docker(&["cp", &host.join("flag").display().to_string(), "waiter:/tmp/flag"]), "cp in");
    ok(&d.docker(&["wait", "waiter"]), "wait");
    assert_eq!(stdout(&d.docker(&["logs", "waiter"])), "seen inside\n");

    ok(&d.docker(&["run", "-d", "--name", "hosts", "--hostname", "cpbox", &image, "sleep", "600"]), "run");
    let o = ok(&d.docker(&["cp", "hosts:/etc/hostname", "-"]), "cp hostname out");
    let files = files_in_tar(o.as_bytes());
    assert_eq!(files, vec![("hostname".to_string(), "cpbox\n".to_string())]);
    // What is bound over /etc cannot be replaced, as Docker finds unlinking a mount point.
    let (s, _, b) = raw(&d, "PUT", "/containers/hosts/archive?path=/etc", Some(&tar_of(&[("hostname", tar::EntryType::Regular, "other\n")])));
    assert_eq!(s, 500);
    assert!(String::from_utf8_lossy(&b).contains("unlinkat /etc/hostname: device or resource busy"), "{}", String::from_utf8_lossy(&b));
    let o = ok(&d.docker(&["cp", "hosts:/etc/hostname", "-"]), "cp hostname out");
    assert_eq!(files_in_tar(o.as_bytes())[0].1, "cpbox\n");
}

#[test]
fn stdin_and_stdout_tars_with_both_clients() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), "pull");
    ok(&d.docker(&["create", "--name", "ct", &image, "true"]), "create");
    let tar = tar_of(&[("piped/", tar::EntryType::Directory, ""), ("piped/x", tar::EntryType::Regular, "from stdin")]);
    for which in clients() {
        let mut cmd = match which {
            None => applet("docker"),
            Some(c) => {
                let mut c = Command::new(c);
                c.env("DOCKER_CONFIG", d.tmp.join("docker-config"));
                c
            }
        };
        let mut child = cmd.arg("-H").arg(d.host()).args(["cp", "-", "ct:/tmp"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(&tar).unwrap();
        let o = child.wait_with_output().unwrap();
        ok(&o, "cp - in");
        let o = cli(&d, which, &["cp", "ct:/tmp/piped", "-"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let files = files_in_tar(&o.stdout);
        assert!(files.contains(&("piped/x".to_string(), "from stdin".to_string())), "{files:?}");
        // `-` into a path that is not a directory.
        let o = cli(&d, which, &["cp", "-", "ct:/etc/passwd"]);
        assert_ne!(o.status.code(), Some(0));
        assert!(stderr(&o).contains("must be a directory"), "{}", stderr(&o));
    }
}

#[test]
fn archive_routes_stat_header_and_errors() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), "pull");
    let id = ok(&d.docker(&["create", "--name", "st", &image, "true"]), "create").trim().to_string();
    let tar = tar_of(&[
        ("dir/", tar::EntryType::Directory, ""),
        ("dir/f", tar::EntryType::Regular, "12345"),
        ("ln", tar::EntryType::Symlink, "dir/f"),
        ("abs", tar::EntryType::Symlink, "/etc/../etc/passwd"),
    ]);
    let (s, _, b) = raw(&d, "PUT", "/containers/st/archive?path=/tmp", Some(&tar));
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));

    let (s, h, _) = raw(&d, "HEAD", "/containers/st/archive?path=/tmp/dir/f", None);
    assert_eq!(s, 200);
    let st = stat_of(&h);
    assert_eq!((st["name"].as_str(), st["size"].as_u64(), st["mode"].as_u64(), st["linkTarget"].as_str()), (Some("f"), Some(5), Some(0o644), Some("")));
    assert!(st["mtime"].as_str().unwrap().starts_with("2023-11-14T22:13:20"), "{st}");
    let (_, h, _) = raw(&d, "HEAD", "/containers/st/archive?path=/tmp/dir", None);
    assert_eq!(stat_of(&h)["mode"].as_u64(), Some((1 << 31) | 0o755));
    let (_, h, _) = raw(&d, "HEAD", "/containers/st/archive?path=/tmp/ln", None);
    let st = stat_of(&h);
    assert_eq!(st["mode"].as_u64(), Some((1 << 27) | 0o777), "{st}");
    assert_eq!(st["linkTarget"].as_str(), Some("/tmp/dir/f"));
    let (_, h, _) = raw(&d, "HEAD", "/containers/st/archive?path=/tmp/abs", None);
    assert_eq!(stat_of(&h)["linkTarget"].as_str(), Some("/etc/passwd"));
    // The files were kept with the archive's owner (no copyUIDGID).
    let (s, h, b) = raw(&d, "GET", "/containers/st/archive?path=/tmp/dir", None);
    assert_eq!(s, 200);
    assert_eq!(h.get("Content-Type"), Some("application/x-tar"));
    assert_eq!(stat_of(&h)["name"].as_str(), Some("dir"));
    let mut a = tar::Archive::new(&b[..]);
    let owners: Vec<(String, u64, u64)> = a.entries().unwrap().map(|e| e.unwrap()).map(|e| (String::from_utf8_lossy(&e.path_bytes()).into_owned(), e.header().uid().unwrap(), e.header().gid().unwrap())).collect();
    assert_eq!(owners, vec![("dir/".to_string(), 1234, 4321), ("dir/f".to_string(), 1234, 4321)]);
    // `dir/.`: the contents, named from `.`.
    let (_, _, b) = raw(&d, "GET", "/containers/st/archive?path=/tmp/dir/.", None);
    let names: Vec<String> = files_in_tar(&b).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec!["./", "./f"]);

    let (s, _, b) = raw(&d, "GET", "/containers/st/archive?path=/nope", None);
    assert_eq!(s, 404);
    assert!(String::from_utf8_lossy(&b).contains("Could not find the file /nope in container st"));
    let (s, _, b) = raw(&d, "GET", "/containers/st/archive?path=/etc/passwd/", None);
    assert_eq!(s, 500);
    assert!(String::from_utf8_lossy(&b).contains("lstat /etc/passwd/: not a directory"), "{}", String::from_utf8_lossy(&b));
    let (s, _, _) = raw(&d, "HEAD", &format!("/containers/{id}/archive?path=/nope"), None);
    assert_eq!(s, 404);
    let (s, _, b) = raw(&d, "GET", "/containers/st/archive", None);
    assert_eq!(s, 400);
    assert!(String::from_utf8_lossy(&b).contains("path cannot be empty"));
    let (s, _, b) = raw(&d, "PUT", "/containers/st/archive?path=/etc/passwd", Some(&tar));
    assert_eq!(s, 400);
    assert!(String::from_utf8_lossy(&b).contains("extraction point is not a directory"));
    let (s, _, _) = raw(&d, "PUT", "/containers/st/archive?path=/nope", Some(&tar));
    assert_eq!(s, 404);
    let (s, _, _) = raw(&d, "GET", "/containers/missing/archive?path=/", None);
    assert_eq!(s, 404);
    // noOverwriteDirNonDir: a file over a directory, a directory over a file.
    let over_dir = tar_of(&[("dir", tar::EntryType::Regular, "x")]);
    let (s, _, b) = raw(&d, "PUT", "/containers/st/archive?path=/tmp&noOverwriteDirNonDir=true", Some(&over_dir));
    assert_eq!(s, 500);
    assert!(String::from_utf8_lossy(&b).contains("cannot overwrite directory \\\"dir\\\" with non-directory \\\"/tmp\\\""), "{}", String::from_utf8_lossy(&b));
    let over_file = tar_of(&[("dir/f/", tar::EntryType::Directory, "")]);
    let (s, _, b) = raw(&d, "PUT", "/containers/st/archive?path=/tmp&noOverwriteDirNonDir=1", Some(&over_file));
    assert_eq!(s, 500);
    assert!(String::from_utf8_lossy(&b).contains("cannot overwrite non-directory"), "{}", String::from_utf8_lossy(&b));
    // Without it, replaced as Docker does.
    let (s, _, _) = raw(&d, "PUT", "/containers/st/archive?path=/tmp", Some(&over_dir));
    assert_eq!(s, 200);
    // A read-only root filesystem takes nothing.
    let (s, v) = d.api("POST", "/containers/create?name=ro", Some(&format!(r#"{{"Image":"{image}","Cmd":["true"],"HostConfig":{{"ReadonlyRootfs":true}}}}"#)));
    assert_eq!(s, 201, "{v}");
    let (s, _, b) = raw(&d, "PUT", "/containers/ro/archive?path=/tmp", Some(&over_dir));
    assert_eq!(s, 400);
    assert!(String::from_utf8_lossy(&b).contains("container rootfs is marked read-only"));
    // Hostile entries stay inside.
    let hostile = {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..12].copy_from_slice(b"../../escape");
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(0);
        h.set_mode(0o644);
        h.set_cksum();
        let mut v = h.as_bytes().to_vec();
        v.resize(v.len() + 1024, 0);
        v
    };
    let (s, _, _) = raw(&d, "PUT", "/containers/st/archive?path=/tmp", Some(&hostile));
    assert_ne!(s, 200);
    let data = d.tmp.join("data");
    assert!(!walk_has(&data, "escape"), "an entry escaped the container's root");
}

fn walk_has(dir: &Path, name: &str) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else { return false };
    rd.flatten().any(|e| {
        let p = e.path();
        e.file_name() == name || (e.file_type().map(|t| t.is_dir()).unwrap_or(false) && walk_has(&p, name))
    })
}

/// A host directory with a marker file, which no copy may read or change.
struct Marker {
    dir: TempDir,
}

impl Marker {
    fn new() -> Marker {
        let dir = TempDir::new("cp-host-marker");
        std::fs::write(dir.join("secret"), "HOST SECRET\n").unwrap();
        Marker { dir }
    }
    fn path(&self) -> String {
        self.dir.path().display().to_string()
    }
    fn assert_untouched(&self) {
        let names: Vec<String> = std::fs::read_dir(self.dir.path()).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names, vec!["secret"], "a copy wrote into the host directory");
        assert_eq!(std::fs::read_to_string(self.dir.join("secret")).unwrap(), "HOST SECRET\n", "a copy changed the host file");
    }
}

#[test]
fn static_symlinks_out_of_the_root_resolve_inside_it() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), "pull");
    let marker = Marker::new();
    let host = marker.path();
    let up = "../".repeat(20);
    ok(&d.docker(&["create", "--name", "links", &image, "true"]), "create");
    let tar = tar_of(&[
        ("abs", tar::EntryType::Symlink, &host),
        ("rel", tar::EntryType::Symlink, &format!("{up}{}", host.trim_start_matches('/'))),
        ("shadow", tar::EntryType::Symlink, &format!("{host}/secret")),
        ("relshadow", tar::EntryType::Symlink, &format!("{up}{}/secret", host.trim_start_matches('/'))),
    ]);
    assert_eq!(raw(&d, "PUT", "/containers/links/archive?path=/", Some(&tar)).0, 200);
    let local = TempDir::new("cp-local");
    std::fs::write(local.join("payload"), "payload").unwrap();
    for which in clients() {
        for link in ["abs", "rel"] {
            let o = cli(&d, which, &["cp", &format!("links:/{link}/secret"), "-"]);
            assert!(!stdout(&o).contains("HOST SECRET"), "read the host file through /{link}");
            assert!(stderr(&o).contains("Could not find the file") || stderr(&o).contains("No such container:path"), "{}", stderr(&o));
            let o = cli(&d, which, &["cp", &local.join("payload").display().to_string(), &format!("links:/{link}/")]);
            assert_ne!(o.status.code(), Some(0), "copied through /{link}");
            let o = cli(&d, which, &["cp", "-L", &format!("links:/{link}shadow"), &local.join("out").display().to_string()]);
            assert_ne!(o.status.code(), Some(0), "-L followed /{link}shadow out of the root");
        }
        for link in ["shadow", "relshadow"] {
            // The link itself is copied, never its host target.
            let o = cli(&d, which, &["cp", &format!("links:/{link}"), "-"]);
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
            assert!(!stdout(&o).contains("HOST SECRET"));
        }
        marker.assert_untouched();
    }
    // A decoy at the same path inside the container is what the links lead to.
    let decoy = tar_of(&[(&format!("{}/secret", host.trim_start_matches('/')), tar::EntryType::Regular, "DECOY\n")]);
    assert_eq!(raw(&d, "PUT", "/containers/links/archive?path=/", Some(&decoy)).0, 200);
    for link in ["abs/secret", "rel/secret", "shadow", "relshadow"] {
        let o = d.docker(&["cp", "-L", &format!("links:/{link}"), "-"]);
        assert_eq!(files_in_tar(&o.stdout).first().map(|(_, c)| c.as_str()), Some("DECOY\n"), "{link}: {}", stderr(&o));
    }
    marker.assert_untouched();
}

/// CVE-2018-15664: a process in the container swaps a directory and a symlink to a host
/// directory in a tight loop while copies go in and out. A daemon that checks the path and
/// then resolves it again on the host follows the symlink out of the root sooner or later.
#[test]
fn symlink_exchange_race_never_reaches_the_host() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), "pull");
    let marker = Marker::new();
    let host = marker.path();
    for target in [host.clone(), "/".to_string()] {
        let name = if target == "/" { "swap-root" } else { "swap-host" };
        // Swapped in the container: /stage/w is now the real directory, now a symlink to
        // `target` (inside the container, `target` does not exist or is its own root).
        let sub = if target == "/" { host.clone() } else { String::new() };
        let script = format!(
            "mkdir -p /stage/real{sub}; echo inside > /stage/real{sub}/secret; ln -s {target} /stage/link; \
             while :; do mv /stage/real /stage/tmp; mv /stage/link /stage/real; mv /stage/real /stage/link; mv /stage/tmp /stage/real; done"
        );
        ok(&d.docker(&["run", "-d", "--name", name, &image, "sh", "-c", &script]), "run swapper");
        let payload = tar_of(&[("planted", tar::EntryType::Regular, "planted by cp\n")]);
        let (mut inside, mut refused) = (0, 0);
        let secret_path = format!("/stage/real{sub}/secret");
        let put_path = format!("/stage/real{sub}");
        let deadline = Instant::now() + Duration::from_secs(6);
        while Instant::now() < deadline {
            let (s, _, b) = raw(&d, "GET", &format!("/containers/{name}/archive?path={secret_path}"), None);
            if s == 200 {
                let files = files_in_tar(&b);
                assert!(files.iter().all(|(_, c)| !c.contains("HOST SECRET")), "read the host's file: {files:?}");
                inside += 1;
            } else {
                refused += 1;
            }
            let (s, _, _) = raw(&d, "PUT", &format!("/containers/{name}/archive?path={put_path}"), Some(&payload));
            if s == 200 {
                inside += 1;
            } else {
                refused += 1;
            }
            marker.assert_untouched();
        }
        // A few rounds through both clients too.
        let local = TempDir::new("cp-race");
        std::fs::write(local.join("planted"), "planted by the client\n").unwrap();
        for _ in 0..5 {
            for which in clients() {
                let o = cli(&d, which, &["cp", &format!("{name}:{secret_path}"), "-"]);
                assert!(!stdout(&o).contains("HOST SECRET"));
                let _ = cli(&d, which, &["cp", &local.join("planted").display().to_string(), &format!("{name}:{put_path}/")]);
                marker.assert_untouched();
            }
        }
        // The race was on: some copies met the directory, some the symlink.
        assert!(inside > 0 && refused > 0, "the swap never showed (inside {inside}, refused {refused})");
        ok(&d.docker(&["rm", "-f", name]), "rm");
    }
    marker.assert_untouched();
    assert!(!Path::new("/planted").exists(), "a copy wrote into the host's root");
}

#[test]
fn archive_mode_takes_the_containers_user_and_a_terminal_gets_the_summary() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), "pull");
    ok(&d.docker(&["create", "--name", "numeric", "--user", "1234:4321", &image, "true"]), "create");
    ok(&d.docker(&["create", "--name", "named", "--user", "nobody", &image, "true"]), "create");
    let host = TempDir::new("cp-owner");
    std::fs::write(host.join("owned"), "x").unwrap();
    std::os::unix::fs::chown(host.join("owned"), Some(42), Some(43)).unwrap();
    let owner = |ct: &str, path: &str| -> (u64, u64) {
        let (s, _, b) = raw(&d, "GET", &format!("/containers/{ct}/archive?path={path}"), None);
        assert_eq!(s, 200);
        let mut a = tar::Archive::new(&b[..]);
        let e = a.entries().unwrap().next().unwrap().unwrap();
        (e.header().uid().unwrap(), e.header().gid().unwrap())
    };
    let src = host.join("owned").display().to_string();
    for which in clients() {
        ok(&cli(&d, which, &["cp", &src, "numeric:/tmp/plain"]), "cp");
        assert_eq!(owner("numeric", "/tmp/plain"), (42, 43), "without -a the archive's owner stays");
        ok(&cli(&d, which, &["cp", "-a", &src, "numeric:/tmp/archived"]), "cp -a");
        assert_eq!(owner("numeric", "/tmp/archived"), (1234, 4321), "-a gives the container's user");
        ok(&cli(&d, which, &["cp", "-a", &src, "named:/tmp/archived"]), "cp -a");
        // busybox's /etc/passwd: nobody is 65534:65534.
        assert_eq!(owner("named", "/tmp/archived"), (65534, 65534));
    }
    // On a terminal both clients end with Docker's summary on stderr; -q silences it.
    for which in clients().into_iter().filter(|c| *c != Some(DEBIAN_CLI)) {
        let program = which.map(str::to_string).unwrap_or_else(|| common::applet_dir().join("docker").display().to_string());
        let out = host.join("from-tty");
        let _ = std::fs::remove_file(&out);
        let line = format!("DOCKER_CONFIG={} {program} -H {} cp numeric:/tmp/plain {} 2>&1", d.tmp.join("docker-config").display(), d.host(), out.display());
        let o = Command::new("script").args(["-qec", &line, "/dev/null"]).output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        // One 1-byte file: a header, a block of data and the two closing blocks.
        assert!(text.contains(&format!("Successfully copied 2.05kB to {}", out.display())), "{which:?}: {text:?}");
        // CLI 28 shows no progress (its check for a terminal never sees one): the summary only.
        assert_eq!(text, format!("Successfully copied 2.05kB to {}\r\n", out.display()), "{which:?}");
        let line = format!("DOCKER_CONFIG={} {program} -H {} cp -q numeric:/tmp/plain {} 2>&1", d.tmp.join("docker-config").display(), d.host(), out.display());
        let o = Command::new("script").args(["-qec", &line, "/dev/null"]).output().unwrap();
        assert!(!String::from_utf8_lossy(&o.stdout).contains("Successfully"), "{which:?}");
    }
}

#[test]
fn copies_are_reported_as_dockers_events() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["run", "-d", "--name", "evcp", &image, "sleep", "1000"]), "run");
    let tmp = TempDir::new("cp-events");
    ok(&d.docker(&["cp", "evcp:/etc/passwd", tmp.join("passwd").to_str().unwrap()]), "cp out");
    ok(&d.docker(&["cp", tmp.join("passwd").to_str().unwrap(), "evcp:/tmp/"]), "cp in");
    let until = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
    let o = d.curl(&[&format!("http://d/events?since=0&until={until}&filters=%7B%22container%22%3A%5B%22evcp%22%5D%7D")]);
    let actions: Vec<String> = stdout(&o).lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).map(|e| e["Action"].as_str().unwrap_or("").to_string()).collect();
    let copies: Vec<&str> = actions.iter().map(String::as_str).filter(|a| *a == "archive-path" || *a == "extract-to-dir").collect();
    assert_eq!(copies, ["archive-path", "extract-to-dir"], "{actions:?}");
}

/// `docker cp` sees a container's volumes and binds as the container does: running (its own
/// mount namespace) and stopped (mounted for the copy as Docker mounts them, and gone after),
/// into and out of them, with a read-only bind and a read-only root refused as Docker
/// refuses them.
#[test]
fn cp_reaches_volumes_and_binds_running_and_stopped() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), "pull");
    let host = TempDir::new("cp-bind");
    std::fs::write(host.join("from-host"), "bound\n").unwrap();
    let bind = format!("{}:/bound:ro", host.path().display());
    let src = TempDir::new("cp-src");
    std::fs::write(src.join("note"), "into the volume\n").unwrap();
    let note = src.join("note");
    let note = note.to_str().unwrap();
    ok(&d.docker(&["run", "-d", "--name", "vols", "--read-only", "-v", "cpvol:/data", "-v", &bind, &image, "sleep", "300"]), "run");
    let volume_data = d.tmp.join("data/volumes/cpvol/_data");
    for (which, running) in [(None, true), (clients().last().copied().flatten(), false)] {
        if !running {
            ok(&d.docker(&["stop", "-t", "0", "vols"]), "stop");
        }
        let _ = std::fs::remove_file(volume_data.join("note"));
        ok(&cli(&d, which, &["cp", note, "vols:/data/"]), "cp into the volume");
        assert_eq!(std::fs::read_to_string(volume_data.join("note")).unwrap(), "into the volume\n", "running: {running}");
        let o = cli(&d, which, &["cp", "vols:/bound/from-host", "-"]);
        assert_eq!(files_in_tar(&o.stdout), [("from-host".to_string(), "bound\n".to_string())], "running: {running}: {}", stderr(&o));
        // A directory holding a volume is copied with the volume's files in it.
        let o = cli(&d, which, &["cp", "vols:/", "-"]);
        assert!(files_in_tar(&o.stdout).iter().any(|(n, c)| n.trim_start_matches('/') == "data/note" && c == "into the volume\n"), "running: {running}");
        let o = cli(&d, which, &["cp", note, "vols:/bound/"]);
        assert!(!o.status.success() && stderr(&o).contains("mounted volume is marked read-only"), "running: {running}: {}", stderr(&o));
        let o = cli(&d, which, &["cp", note, "vols:/tmp/"]);
        assert!(!o.status.success() && stderr(&o).contains("container rootfs is marked read-only"), "running: {running}: {}", stderr(&o));
        assert!(!host.join("note").exists());
    }
    // Nothing of the stopped container's copy stays mounted.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let left: Vec<&str> = mounts.lines().filter(|l| l.contains(d.tmp.path().to_str().unwrap()) || l.contains(host.path().to_str().unwrap())).collect();
    assert!(left.is_empty(), "{left:#?}");
    ok(&d.docker(&["rm", "-v", "vols"]), "rm");
    ok(&d.docker(&["volume", "rm", "cpvol"]), "volume rm");
}

/// Copies out of a stopped container side by side, with exports among them: each mounts its
/// root for the while, and none may unmount it from under another (which then sees an empty
/// root: a file that exists answered 404).
#[test]
fn concurrent_copies_from_a_stopped_container_all_see_its_files() {
    let Some(d) = Dockerd::start() else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), "pull");
    ok(&d.docker(&["create", "--name", "still", &image, "true"]), "create");
    std::thread::scope(|scope| {
        for worker in 0..4 {
            let d = &d;
            scope.spawn(move || {
                for round in 0..25 {
                    if worker == 3 && round % 5 == 0 {
                        let (s, _, b) = raw(d, "GET", "/containers/still/export", None);
                        assert_eq!(s, 200, "export: {}", String::from_utf8_lossy(&b));
                        assert!(files_in_tar(&b).iter().any(|(n, _)| n == "etc/passwd"), "export {round} lacks etc/passwd");
                        continue;
                    }
                    let (s, _, b) = raw(d, "GET", "/containers/still/archive?path=/etc/passwd", None);
                    assert_eq!(s, 200, "worker {worker} round {round}: {}", String::from_utf8_lossy(&b));
                }
            });
        }
    });
    // Nothing of it stays mounted once the copies are done.
    let (_, c) = d.api("GET", "/containers/still/json", None);
    let merged = c["GraphDriver"]["Data"]["MergedDir"].as_str().map(str::to_string);
    if let Some(m) = merged {
        assert!(!dockbox::mounts::is_mountpoint(std::path::Path::new(&m)), "{m} is still mounted");
    }
}
