//! A container's mounts with our client and the real CLI 28: named, anonymous and image
//! volumes (copy-up of the image's content, crash-safe), binds (`-v` makes a missing source,
//! `--mount` refuses it), `--mount` of every type, tmpfs, `--read-only`, `--volumes-from`,
//! `rm -v` and `--rm`, inspect's `Mounts`, `ps --filter volume=`, propagation seen from the
//! host, a racing symlink swap that must not send a mount out of the root, nothing left
//! mounted after stop, rm or a daemon restart, and docker-compose with volumes.

mod common;

use common::{mounts_under, ok, stderr, stdout, Dockerd, TempDir, REAL_CLI};
use serde_json::{json, Value};
use std::path::Path;

/// Our client (None) and the real CLI 28 when installed.
fn clis() -> Vec<Option<&'static str>> {
    let mut v = vec![None];
    if Path::new(REAL_CLI).exists() {
        v.push(Some(REAL_CLI));
    }
    v
}

fn run(d: &Dockerd, cli: Option<&str>, args: &[&str]) -> std::process::Output {
    d.client_with_input(cli, args, None)
}

fn run_ok(d: &Dockerd, cli: Option<&str>, args: &[&str]) -> String {
    ok(&run(d, cli, args), d)
}

fn mounts_of(d: &Dockerd, name: &str) -> Vec<Value> {
    let (status, v) = d.api("GET", &format!("/containers/{name}/json"), None);
    assert_eq!(status, 200, "{v}");
    let mut m = v["Mounts"].as_array().cloned().unwrap_or_default();
    m.sort_by(|a, b| a["Destination"].as_str().cmp(&b["Destination"].as_str()));
    m
}

fn volume_names(d: &Dockerd) -> Vec<String> {
    let (_, v) = d.api("GET", "/volumes", None);
    let mut n: Vec<String> = v["Volumes"].as_array().into_iter().flatten().map(|v| v["Name"].as_str().unwrap().to_string()).collect();
    n.sort();
    n
}

/// The mount points of the host's mount table under `dir`.
fn host_mounts_under(dir: &Path) -> Vec<std::path::PathBuf> {
    mounts_under(dir)
}

fn pull(d: &Dockerd) -> String {
    let image = d.registry.image("busybox");
    run_ok(d, None, &["pull", "-q", &image]);
    image
}

#[test]
fn named_volumes_and_binds_carry_data_between_containers_with_every_client() {
    let Some(d) = Dockerd::start() else { return };
    let image = pull(&d);
    let host = TempDir::new("binds");
    for (i, cli) in clis().into_iter().enumerate() {
        let vol = format!("dbxdata{i}");
        let writer = format!("writer{i}");
        run_ok(&d, cli, &["run", "--name", &writer, "-v", &format!("{vol}:/data"), &image, "sh", "-c", "echo kept > /data/f"]);
        assert!(volume_names(&d).contains(&vol));
        // The next container reads it; read-only refuses writes.
        assert_eq!(run_ok(&d, cli, &["run", "--rm", "-v", &format!("{vol}:/data:ro"), &image, "cat", "/data/f"]).trim(), "kept");
        let o = run(&d, cli, &["run", "--rm", "-v", &format!("{vol}:/data:ro"), &image, "sh", "-c", "echo x > /data/g"]);
        assert_ne!(o.status.code(), Some(0), "{cli:?}");
        assert!(stderr(&o).contains("Read-only file system"), "{cli:?}: {}", stderr(&o));

        // inspect's Mounts, as Docker fills them.
        let data = d.tmp.join("data/volumes").join(&vol).join("_data");
        assert_eq!(
            mounts_of(&d, &writer),
            vec![json!({"Type": "volume", "Name": vol, "Source": data.to_str().unwrap(), "Destination": "/data", "Driver": "local", "Mode": "z", "RW": true, "Propagation": ""})],
            "{cli:?}"
        );
        let listed = run_ok(&d, cli, &["ps", "-a", "--filter", &format!("volume={vol}"), "--format", "{{.Names}}"]);
        assert_eq!(listed.trim(), writer, "{cli:?}");
        let listed = run_ok(&d, cli, &["ps", "-a", "--filter", "volume=/data", "--format", "{{.Names}}"]);
        assert!(listed.lines().any(|l| l == writer), "{cli:?}: {listed}");

        // A bind of a host directory: written in the container, seen on the host; a
        // missing source is made by -v.
        let dir = host.join(format!("made{i}/deep"));
        run_ok(&d, cli, &["run", "--rm", "-v", &format!("{}:/h", dir.display()), &image, "sh", "-c", "echo from-ctr > /h/out"]);
        assert_eq!(std::fs::read_to_string(dir.join("out")).unwrap(), "from-ctr\n");
        let name = format!("binder{i}");
        run_ok(&d, cli, &["create", "--name", &name, "-v", &format!("{}:/h:ro", dir.display()), &image, "true"]);
        assert_eq!(
            mounts_of(&d, &name),
            vec![json!({"Type": "bind", "Source": dir.to_str().unwrap(), "Destination": "/h", "Mode": "ro", "RW": false, "Propagation": "rprivate"})]
        );
        // --mount type=bind refuses a missing source, as Docker does.
        let missing = host.join(format!("missing{i}"));
        let o = run(&d, cli, &["run", "--rm", "--mount", &format!("type=bind,src={},dst=/m", missing.display()), &image, "true"]);
        assert_eq!(o.status.code(), Some(125), "{cli:?}");
        assert!(stderr(&o).contains(&format!("invalid mount config for type \"bind\": bind source path does not exist: {}", missing.display())), "{cli:?}: {}", stderr(&o));
        assert!(!missing.exists());
        // A named volume is kept by rm -v; the container goes.
        run_ok(&d, cli, &["rm", "-v", &writer, &name]);
        assert!(volume_names(&d).contains(&vol));
        run_ok(&d, cli, &["volume", "rm", &vol]);
    }
    // Volumes made for a container are logged as created, as Docker logs them.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
    let events = run_ok(&d, None, &["events", "--since", "0", "--until", &now.to_string(), "--filter", "type=volume", "--format", "{{.Action}} {{.Actor.ID}}"]);
    assert!(events.lines().any(|l| l == "create dbxdata0"), "{events}");
    // Other drivers are refused as Docker refuses an unknown plugin.
    let o = run(&d, None, &["run", "--rm", "--volume-driver", "flocker", "-v", "x1:/x", &image, "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("error looking up volume plugin flocker: plugin \"flocker\" not found"), "{}", stderr(&o));
    let o = run(&d, None, &["run", "--rm", "-v", "data/x:/x", &image, "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("create data/x: \"data/x\" includes invalid characters for a local volume name"), "{}", stderr(&o));
    assert!(!volume_names(&d).iter().any(|v| v.len() == 64), "a failed create left a volume: {:?}", volume_names(&d));
    let (status, v) = d.api("POST", "/containers/create", Some(&json!({"Image": image, "HostConfig": {"Binds": ["/a:/x", "v9:/x"]}}).to_string()));
    assert_eq!((status, v["message"].as_str()), (400, Some("Duplicate mount point: /x")));
    assert!(host_mounts_under(d.tmp.path()).is_empty(), "{:?}", host_mounts_under(d.tmp.path()));
}

/// An image with `VOLUME /data` whose /data holds files of other owners and modes, a
/// symlink and a hard link.
fn image_with_volume(d: &Dockerd, image: &str, tag: &str) -> String {
    run_ok(
        d,
        None,
        &[
            "run",
            "--name",
            "dbxsrc",
            image,
            "sh",
            "-c",
            "mkdir -p /data/sub && echo hello > /data/f && chown 1234:5678 /data/f && chmod 640 /data/f && ln -s f /data/link && ln /data/f /data/hard && chmod 1750 /data/sub && chown 42:43 /data/sub",
        ],
    );
    let tar = d.docker(&["export", "dbxsrc"]);
    assert_eq!(tar.status.code(), Some(0));
    let o = d.client_with_input(None, &["import", "--change", "VOLUME /data", "--change", "CMD [\"sh\"]", "-", tag], Some(&tar.stdout));
    ok(&o, d);
    run_ok(d, None, &["rm", "dbxsrc"]);
    tag.to_string()
}

#[test]
fn image_volumes_are_anonymous_volumes_filled_from_the_image_unless_nocopy() {
    let Some(d) = Dockerd::start() else { return };
    let image = pull(&d);
    let vimage = image_with_volume(&d, &image, "dbx-volimage:1");
    for (i, cli) in clis().into_iter().enumerate() {
        let name = format!("anon{i}");
        let listing = run_ok(&d, cli, &["run", "--name", &name, &vimage, "sh", "-c", "ls -ln /data | tail -n +2 | sort -k9; stat -c '%a %u %g' /data/sub; readlink /data/link; stat -c %h /data/f"]);
        let lines: Vec<Vec<&str>> = listing.lines().map(|l| l.split_whitespace().collect()).collect();
        assert!(lines.iter().any(|l| l[0] == "-rw-r-----" && l[2] == "1234" && l[3] == "5678" && l.last() == Some(&"f")), "{listing}");
        assert!(lines.iter().any(|l| l[0].starts_with('l') && l.contains(&"link")), "{listing}");
        assert!(listing.contains("1750 42 43"), "{listing}");
        assert!(listing.lines().any(|l| l == "f"), "{listing}");
        assert!(listing.lines().any(|l| l == "2"), "hard link kept: {listing}");
        let m = mounts_of(&d, &name);
        assert_eq!(m.len(), 1);
        let vol = m[0]["Name"].as_str().unwrap().to_string();
        assert_eq!(vol.len(), 64);
        assert_eq!((m[0]["Type"].as_str(), m[0]["Destination"].as_str(), m[0]["Mode"].as_str(), m[0]["RW"].as_bool()), (Some("volume"), Some("/data"), Some(""), Some(true)));
        let (_, v) = d.api("GET", &format!("/volumes/{vol}"), None);
        assert!(v["Labels"].get("com.docker.volume.anonymous").is_some(), "{v}");
        // Named and nocopy: the volume stays empty; named without nocopy: filled.
        let empty = run_ok(&d, cli, &["run", "--rm", "-v", &format!("nocopy{i}:/data:nocopy"), &vimage, "ls", "-A", "/data"]);
        assert_eq!(empty.trim(), "");
        let empty = run_ok(&d, cli, &["run", "--rm", "--mount", &format!("type=volume,src=mnocopy{i},dst=/data,volume-nocopy"), &vimage, "ls", "-A", "/data"]);
        assert_eq!(empty.trim(), "");
        let filled = run_ok(&d, cli, &["run", "--rm", "-v", &format!("filled{i}:/data"), &vimage, "cat", "/data/f"]);
        assert_eq!(filled.trim(), "hello");
        // -v /path alone: an anonymous volume (Config.Volumes).
        let other = format!("anonv{i}");
        run_ok(&d, cli, &["create", "--name", &other, "-v", "/scratch", &image, "true"]);
        let m = mounts_of(&d, &other);
        assert_eq!(m[0]["Destination"], "/scratch");
        let scratch = m[0]["Name"].as_str().unwrap().to_string();
        // rm -v removes the anonymous volumes, never the named ones.
        run_ok(&d, cli, &["rm", "-v", &name, &other]);
        let left = volume_names(&d);
        assert!(!left.contains(&vol) && !left.contains(&scratch), "{left:?}");
        assert!(left.contains(&format!("nocopy{i}")) && left.contains(&format!("filled{i}")), "{left:?}");
        // --rm removes them too.
        let before = volume_names(&d);
        run_ok(&d, cli, &["run", "--rm", "-v", &format!("keptnamed{i}:/k"), &vimage, "true"]);
        let after = volume_names(&d);
        assert_eq!(after.iter().filter(|n| !before.contains(n)).cloned().collect::<Vec<_>>(), vec![format!("keptnamed{i}")]);
    }
    assert!(host_mounts_under(d.tmp.path()).is_empty());
}

#[test]
fn an_interrupted_copy_up_is_done_again_not_left_half_done() {
    let Some(mut d) = Dockerd::start() else { return };
    let image = pull(&d);
    let vimage = image_with_volume(&d, &image, "dbx-volimage:2");
    run_ok(&d, None, &["create", "--name", "cu", "-v", "cuvol:/data", &vimage, "sh", "-c", "ls -A /data | sort | tr '\\n' ' '"]);
    // What a dockerd killed mid-copy leaves: the marker beside _data and part of the files.
    let dir = d.tmp.join("data/volumes/cuvol");
    std::fs::write(dir.join("_data/f"), "hel").unwrap();
    std::fs::write(dir.join("_data/partial.tmp"), "x").unwrap();
    std::fs::write(dir.join("copy-in-progress"), "").unwrap();
    d.crash_and_restart();
    run_ok(&d, None, &["start", "-a", "cu"]);
    let out = run_ok(&d, None, &["logs", "cu"]);
    assert_eq!(out.trim(), "f hard link sub");
    assert_eq!(std::fs::read_to_string(dir.join("_data/f")).unwrap(), "hello\n");
    assert!(!dir.join("copy-in-progress").exists());
    // Copied once: data written later survives the next start.
    std::fs::write(dir.join("_data/later"), "y").unwrap();
    run_ok(&d, None, &["start", "-a", "cu"]);
    assert!(dir.join("_data/later").exists());

    // A real kill -9 while a large copy runs: the next start ends with a whole copy.
    run_ok(&d, None, &["run", "--name", "big", &image, "sh", "-c", "mkdir -p /data && for i in $(seq 1 800); do head -c 65536 /dev/urandom > /data/f$i; done; ls /data | wc -l"]);
    let tar = d.docker(&["export", "big"]);
    ok(&d.client_with_input(None, &["import", "--change", "VOLUME /data", "-", "dbx-big:1"], Some(&tar.stdout)), &d);
    run_ok(&d, None, &["create", "--name", "bigc", "-v", "bigvol:/data", "dbx-big:1", "sh", "-c", "ls /data | wc -l"]);
    // The start runs in another process; dockerd is killed while it copies.
    let mut starter = common::applet("docker").args(["-H", &d.host(), "start", "bigc"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let marker = d.tmp.join("data/volumes/bigvol/copy-in-progress");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !marker.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    d.crash_and_restart();
    let _ = starter.wait();
    assert!(marker.exists(), "dockerd was not killed during the copy");
    let _ = d.api("POST", "/containers/bigc/wait", None);
    let o = run(&d, None, &["start", "-a", "bigc"]);
    assert_eq!(stdout(&o).trim(), "800", "{}{}", stderr(&o), d.log());
    assert!(!d.tmp.join("data/volumes/bigvol/copy-in-progress").exists());
}

#[test]
fn mount_flag_forms_tmpfs_read_only_and_volumes_from() {
    let Some(d) = Dockerd::start() else { return };
    let image = pull(&d);
    for (i, cli) in clis().into_iter().enumerate() {
        let vol = format!("mvol{i}");
        // type=volume with a sub-path and a tmpfs-backed volume (volume-opt).
        run_ok(&d, cli, &["run", "--rm", "--mount", &format!("type=volume,source={vol},target=/v"), &image, "sh", "-c", "mkdir -p /v/sub && echo in-sub > /v/sub/f"]);
        let got = run_ok(&d, cli, &["run", "--rm", "--mount", &format!("source={vol},destination=/s,volume-subpath=sub,readonly"), &image, "sh", "-c", "cat /s/f; touch /s/x 2>&1 || true"]);
        assert!(got.starts_with("in-sub\n") && got.contains("Read-only file system"), "{cli:?}: {got}");
        let tv = format!("tvol{i}");
        let got = run_ok(&d, cli, &["run", "--rm", "--mount", &format!("type=volume,src={tv},dst=/t,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=2m"), &image, "sh", "-c", "grep ' /t ' /proc/mounts"]);
        assert!(got.starts_with("tmpfs /t tmpfs"), "{cli:?}: {got}");
        // type=tmpfs with size and mode.
        let got = run_ok(&d, cli, &["run", "--rm", "--mount", "type=tmpfs,dst=/tm,tmpfs-size=1m,tmpfs-mode=1770", &image, "sh", "-c", "stat -c %a /tm; grep ' /tm ' /proc/mounts"]);
        assert!(got.starts_with("1770\ntmpfs /tm tmpfs") && got.contains("size=1024k"), "{cli:?}: {got}");
        // --read-only: the root refuses writes, volumes and tmpfs take them.
        let got = run_ok(&d, cli, &["run", "--rm", "--read-only", "-v", &format!("{vol}:/v"), "--tmpfs", "/run", "--mount", "type=tmpfs,dst=/tm", &image, "sh", "-c", "touch /v/ok /run/ok /tm/ok && echo writable; touch /nope 2>&1 || true"]);
        assert!(got.starts_with("writable\n") && got.contains("Read-only file system"), "{cli:?}: {got}");
        // --volumes-from, read-only.
        let donor = format!("donor{i}");
        run_ok(&d, cli, &["run", "--name", &donor, "-v", &format!("{vol}:/v"), "-v", "/anon", &image, "sh", "-c", "echo from-donor > /anon/f"]);
        let reader = format!("reader{i}");
        let got = run_ok(&d, cli, &["run", "--name", &reader, "--volumes-from", &format!("{donor}:ro"), &image, "sh", "-c", "cat /anon/f /v/sub/f; touch /v/x 2>&1 || true"]);
        assert!(got.starts_with("from-donor\nin-sub\n") && got.contains("Read-only file system"), "{cli:?}: {got}");
        let m = mounts_of(&d, &reader);
        assert_eq!(m.iter().map(|m| (m["Destination"].as_str().unwrap(), m["RW"].as_bool().unwrap())).collect::<Vec<_>>(), vec![("/anon", false), ("/v", false)]);
        let anon = m[0]["Name"].as_str().unwrap().to_string();
        // The donor's anonymous volume is the reader's too: rm -v of the donor keeps it.
        run_ok(&d, cli, &["rm", "-v", &donor]);
        assert!(volume_names(&d).contains(&anon));
        run_ok(&d, cli, &["rm", "-v", &reader]);
        assert!(!volume_names(&d).contains(&anon));
        // The CLI's own checks of --mount.
        let o = run(&d, cli, &["run", "--rm", "--mount", "type=tmpfs,dst=/a,volume-nocopy", &image, "true"]);
        assert_eq!(o.status.code(), Some(125));
        assert!(stderr(&o).contains("cannot mix 'volume-*' options with mount type 'tmpfs'"), "{cli:?}: {}", stderr(&o));
    }
    // The API's checks.
    let (status, v) = d.api("POST", "/containers/create", Some(&json!({"Image": image, "HostConfig": {"Mounts": [{"Type": "volume", "Target": "/x", "VolumeOptions": {"Subpath": "a"}}]}}).to_string()));
    assert_eq!((status, v["message"].as_str()), (400, Some("invalid mount config for type \"volume\": must not set Subpath when using anonymous volumes")));
    let (status, v) = d.api("POST", "/containers/create", Some(&json!({"Image": image, "HostConfig": {"Mounts": [{"Type": "tmpfs", "Target": "x"}]}}).to_string()));
    assert_eq!((status, v["message"].as_str()), (400, Some("invalid mount config for type \"tmpfs\": invalid mount path: 'x' mount path must be absolute")));
    let (status, _) = d.api("POST", "/containers/create", Some(&json!({"Image": image, "HostConfig": {"VolumesFrom": ["nosuch"]}}).to_string()));
    assert_eq!(status, 400);
    assert!(host_mounts_under(d.tmp.path()).is_empty(), "{:?}", host_mounts_under(d.tmp.path()));
}

#[test]
fn an_rshared_bind_shows_the_containers_mounts_on_the_host() {
    let Some(d) = Dockerd::start() else { return };
    let image = pull(&d);
    let host = TempDir::new("propagation");
    let shared = host.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    nix::mount::mount(Some("tmpfs"), &shared, Some("tmpfs"), nix::mount::MsFlags::empty(), Some("size=1m")).unwrap();
    nix::mount::mount(None::<&str>, &shared, None::<&str>, nix::mount::MsFlags::MS_SHARED, None::<&str>).unwrap();
    std::fs::create_dir_all(shared.join("sub")).unwrap();
    for cli in clis() {
        let id = run_ok(&d, cli, &["run", "-d", "--privileged", "-v", &format!("{}:/mnt:rshared", shared.display()), &image, "sh", "-c", "mount -t tmpfs -o size=1m inner /mnt/sub && sleep 60"]);
        let id = id.trim();
        let target = shared.join("sub");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !mounts_under(&shared).contains(&target) {
            assert!(std::time::Instant::now() < deadline, "{cli:?}: the container's mount never reached the host: {:?}", mounts_under(&shared));
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let m = mounts_of(&d, id);
        assert_eq!(m[0]["Propagation"], "rshared");
        run_ok(&d, cli, &["rm", "-f", id]);
        // Made by the container, it outlives it on the host (shared): ours to unmount.
        let _ = nix::mount::umount2(&target, nix::mount::MntFlags::MNT_DETACH);
    }
    // rslave: what the host mounts later shows inside the container.
    let id = run_ok(&d, None, &["run", "-d", "-v", &format!("{}:/mnt:rslave", shared.display()), &image, "sleep", "60"]);
    let id = id.trim();
    let later = shared.join("later");
    std::fs::create_dir_all(&later).unwrap();
    nix::mount::mount(Some("tmpfs"), &later, Some("tmpfs"), nix::mount::MsFlags::empty(), Some("size=1m")).unwrap();
    std::fs::write(later.join("seen"), "from-host").unwrap();
    assert_eq!(run_ok(&d, None, &["exec", id, "cat", "/mnt/later/seen"]), "from-host");
    assert_eq!(mounts_of(&d, id)[0]["Propagation"], "rslave");
    run_ok(&d, None, &["rm", "-f", id]);
    let _ = nix::mount::umount2(&later, nix::mount::MntFlags::MNT_DETACH);
    // A shared bind of a source that is no shared mount is refused as Docker refuses it.
    let private = TempDir::new("private");
    nix::mount::mount(Some("tmpfs"), private.path(), Some("tmpfs"), nix::mount::MsFlags::empty(), Some("size=1m")).unwrap();
    nix::mount::mount(None::<&str>, private.path(), None::<&str>, nix::mount::MsFlags::MS_PRIVATE, None::<&str>).unwrap();
    let o = run(&d, None, &["run", "--rm", "-v", &format!("{}:/mnt:rshared", private.path().display()), &image, "true"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("is not a shared mount"), "{}", stderr(&o));
    let _ = nix::mount::umount2(&shared, nix::mount::MntFlags::MNT_DETACH);
    let _ = nix::mount::umount2(private.path(), nix::mount::MntFlags::MNT_DETACH);
}

#[test]
fn nothing_stays_mounted_after_stop_rm_or_a_daemon_restart() {
    let Some(mut d) = Dockerd::start() else { return };
    let image = pull(&d);
    run_ok(&d, None, &["volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=1m", "devvol"]);
    let data = d.tmp.join("data/volumes/devvol/_data");
    run_ok(&d, None, &["run", "-d", "--name", "user", "-v", "devvol:/d", "-v", "named2:/n", "-v", "/anon", &image, "sleep", "60"]);
    assert!(dockbox::mounts::is_mountpoint(&data));
    // A crash of dockerd: the running container keeps its volumes, mounted and in use.
    d.crash_and_restart();
    assert!(dockbox::mounts::is_mountpoint(&data), "the device of a running container's volume was unmounted");
    let o = run(&d, None, &["volume", "rm", "devvol"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("volume is in use"), "{}", stderr(&o));
    run_ok(&d, None, &["stop", "-t", "1", "user"]);
    assert!(!dockbox::mounts::is_mountpoint(&data), "stop left the volume mounted");
    let volumes_dir = d.tmp.join("data/volumes");
    assert!(mounts_under(&volumes_dir).is_empty(), "{:?}", mounts_under(&volumes_dir));
    // Stopped, across a restart: still referenced.
    d.crash_and_restart();
    assert!(mounts_under(&volumes_dir).is_empty(), "{:?}", mounts_under(&volumes_dir));
    let o = run(&d, None, &["volume", "rm", "named2"]);
    assert!(stderr(&o).contains("volume is in use"), "{}", stderr(&o));
    run_ok(&d, None, &["start", "user"]);
    assert!(dockbox::mounts::is_mountpoint(&data));
    run_ok(&d, None, &["rm", "-f", "-v", "user"]);
    assert!(mounts_under(d.tmp.path()).is_empty(), "{:?}", mounts_under(d.tmp.path()));
    // Docker's volume events: mount at start (with the container and destination), unmount
    // at its end, destroy of the anonymous volume by rm -v (since the last restart: the
    // ring of events is the daemon's memory).
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
    let events = run_ok(&d, None, &["events", "--since", "0", "--until", &now.to_string(), "--filter", "type=volume", "--format", "{{.Action}} {{.Actor.ID}} {{index .Actor.Attributes \"destination\"}}"]);
    assert!(events.lines().any(|l| l == "mount devvol /d"), "{events}");
    assert!(events.lines().any(|l| l.starts_with("unmount devvol")), "{events}");
    assert!(events.lines().any(|l| l.starts_with("destroy ") && !l.contains("named2") && !l.contains("devvol")), "{events}");
    assert_eq!(volume_names(&d), vec!["devvol".to_string(), "named2".to_string()]);
    run_ok(&d, None, &["volume", "rm", "devvol", "named2"]);
}

#[test]
fn a_racing_symlink_swap_cannot_send_a_mount_out_of_the_root() {
    let Some(d) = Dockerd::start() else { return };
    let image = pull(&d);
    let host = TempDir::new("escape");
    let outside = host.join("target");
    std::fs::create_dir_all(&outside).unwrap();
    let source = host.join("source");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("marker"), "m").unwrap();
    // The attacker swaps /shared/dir between a directory and a symlink to the host path, as
    // in CVE-2021-30465; the victim mounts a bind at /shared/dir/x.
    run_ok(
        &d,
        None,
        &[
            "run",
            "-d",
            "--name",
            "attacker",
            "-v",
            "racevol:/shared",
            &image,
            "sh",
            "-c",
            &format!("mkdir -p /shared/real/x; ln -sfn {} /shared/link; while true; do mv -T /shared/real /shared/dir 2>/dev/null; mv -T /shared/dir /shared/real 2>/dev/null; mv -T /shared/link /shared/dir 2>/dev/null; mv -T /shared/dir /shared/link 2>/dev/null; done", outside.display()),
        ],
    );
    // The swap runs: /shared/dir is seen as the symlink now and then.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !run_ok(&d, None, &["exec", "attacker", "sh", "-c", "for i in $(seq 1 200); do readlink /shared/dir; done; true"]).contains(outside.to_str().unwrap()) {
        assert!(std::time::Instant::now() < deadline, "the attacker never swapped the symlink in");
    }
    for _ in 0..25 {
        let _ = run(&d, None, &["run", "--rm", "-v", "racevol:/shared", "-v", &format!("{}:/shared/dir/x", source.display()), &image, "true"]);
        assert!(!outside.join("x/marker").exists() && !outside.join("marker").exists(), "a mount escaped to the host");
        let escaped: Vec<_> = mounts_under(host.path()).into_iter().filter(|m| m.starts_with(&outside)).collect();
        assert!(escaped.is_empty(), "{escaped:?}");
    }
    run_ok(&d, None, &["rm", "-f", "attacker"]);
    // A symlink the image itself holds (absolute, to a host path) is followed inside the root.
    run_ok(&d, None, &["run", "--name", "linker", &image, "sh", "-c", &format!("ln -s {} /esc", outside.display())]);
    let tar = d.docker(&["export", "linker"]);
    ok(&d.client_with_input(None, &["import", "-", "dbx-symlinked:1"], Some(&tar.stdout)), &d);
    let inside = run_ok(&d, None, &["run", "--rm", "-v", &format!("{}:/esc/x", source.display()), "dbx-symlinked:1", "cat", "/esc/x/marker"]);
    assert_eq!(inside, "m");
    assert!(!outside.join("x").exists(), "the mount target was made on the host");
    assert!(mounts_under(d.tmp.path()).is_empty(), "{:?}", mounts_under(d.tmp.path()));
}

#[test]
fn docker_compose_runs_a_service_with_a_named_volume_and_a_bind() {
    let Some(d) = Dockerd::start() else { return };
    if std::process::Command::new("docker-compose").arg("version").output().is_err() {
        assert!(std::env::var("CI").is_err(), "docker-compose is missing (apt-get install docker-compose)");
        return;
    }
    let image = pull(&d);
    let dir = TempDir::new("compose-vol");
    std::fs::create_dir_all(dir.join("conf")).unwrap();
    std::fs::write(dir.join("conf/in"), "from-host\n").unwrap();
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!("version: '3'\nservices:\n  app:\n    image: {image}\n    network_mode: none\n    command: sh -c 'cat /conf/in >> /state/log; cat /state/log > /conf/out'\n    volumes:\n      - state:/state\n      - ./conf:/conf\nvolumes:\n  state:\n"),
    )
    .unwrap();
    let compose = |args: &[&str]| std::process::Command::new("docker-compose").args(["-p", "dbxv"]).args(args).current_dir(dir.path()).env("DOCKER_HOST", d.host()).output().unwrap();
    ok(&compose(&["up"]), &d);
    assert!(volume_names(&d).contains(&"dbxv_state".to_string()), "{:?}", volume_names(&d));
    // Down without -v keeps the volume for the next up (compose 1.29 cannot recreate on an
    // engine >= 25: it reads the image's ContainerConfig, which those no longer have).
    ok(&compose(&["down"]), &d);
    assert!(volume_names(&d).contains(&"dbxv_state".to_string()));
    ok(&compose(&["up"]), &d);
    assert_eq!(std::fs::read_to_string(dir.join("conf/out")).unwrap(), "from-host\nfrom-host\n");
    ok(&compose(&["down", "-v"]), &d);
    assert!(!volume_names(&d).contains(&"dbxv_state".to_string()), "{:?}", volume_names(&d));
    assert!(mounts_under(d.tmp.path()).is_empty());
}

#[test]
fn read_only_binds_are_read_only_all_the_way_down_unless_asked_otherwise() {
    let Some(d) = Dockerd::start() else { return };
    let image = pull(&d);
    let host = TempDir::new("rro");
    let sub = host.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    nix::mount::mount(Some("tmpfs"), &sub, Some("tmpfs"), nix::mount::MsFlags::empty(), Some("size=1m")).unwrap();
    let script = "touch /h/top 2>&1; touch /h/sub/below 2>&1 && echo below-written; true";
    for cli in clis() {
        let got = run_ok(&d, cli, &["run", "--rm", "-v", &format!("{}:/h:ro", host.path().display()), &image, "sh", "-c", script]);
        assert!(got.contains("Read-only file system") && !got.contains("below-written"), "{cli:?}: {got}");
        let got = run_ok(&d, cli, &["run", "--rm", "--mount", &format!("type=bind,src={},dst=/h,readonly,bind-recursive=writable", host.path().display()), &image, "sh", "-c", script]);
        assert!(got.contains("Read-only file system") && got.contains("below-written"), "{cli:?}: {got}");
        let o = run(&d, cli, &["run", "--rm", "--mount", &format!("type=bind,src={},dst=/h,bind-recursive=writable", host.path().display()), &image, "true"]);
        assert_eq!(o.status.code(), Some(125), "{cli:?}");
        assert!(stderr(&o).contains("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction"), "{cli:?}: {}", stderr(&o));
    }
    let _ = nix::mount::umount2(&sub, nix::mount::MntFlags::MNT_DETACH);
    assert!(mounts_under(d.tmp.path()).is_empty(), "{:?}", mounts_under(d.tmp.path()));
}
