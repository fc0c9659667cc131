//! Moving images around and managing their storage: tag and rmi, history, prune, system df,
//! save/load (between our daemons and with Debian's real dockerd), export/import, and push to
//! a Distribution registry checked with skopeo and the real dockerd.

mod common;

use common::{stderr, stdout, Dockerd, TempDir};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn ok(o: &Output, what: &str) -> String {
    assert!(o.status.success(), "{what}: exit {:?}\nstdout: {}\nstderr: {}", o.status.code(), stdout(o), stderr(o));
    stdout(o)
}

/// Pulls the registry's busybox into `d`; returns its reference.
fn pull_busybox(d: &Dockerd) -> String {
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), "pull");
    image
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &dockbox::ids::new_id()[..10])
}

fn image_id(d: &Dockerd, name: &str) -> String {
    ok(&d.docker(&["inspect", "--format", "{{.Id}}", name]), "inspect").trim().to_string()
}

#[test]
fn tag_and_rmi_untag_delete_and_conflict() {
    let Some(d) = Dockerd::start() else { return };
    let image = pull_busybox(&d);
    let id = image_id(&d, &image);

    ok(&d.docker(&["tag", &image, "mybox:v1"]), "tag");
    let images = ok(&d.docker(&["images"]), "images");
    assert!(images.lines().any(|l| l.starts_with("mybox ") && l.contains(" v1 ")), "{images}");
    assert_eq!(image_id(&d, "mybox:v1"), id);
    let o = d.docker(&["tag", "nosuchimage", "x:y"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "Error response from daemon: No such image: nosuchimage:latest\n");

    // Untagging one of two names deletes nothing.
    assert_eq!(ok(&d.docker(&["rmi", "mybox:v1"]), "rmi tag"), "Untagged: mybox:v1\n");

    // A container using the image protects its last name, unless forced.
    let cid = ok(&d.docker(&["create", &image, "true"]), "create").trim().to_string();
    let o = d.docker(&["rmi", &image]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let expected = format!(
        "Error response from daemon: conflict: unable to remove repository reference \"{image}\" (must force) - container {} is using its referenced image {}\n",
        &cid[..12],
        &id[7..19]
    );
    assert_eq!(stderr(&o), expected);
    let (status, body) = d.api("DELETE", &format!("/images/{}", &id[7..]), None);
    assert_eq!(status, 409, "{body}");
    assert!(body["message"].as_str().unwrap().contains("image is being used by stopped container"), "{body}");
    // Forced, the image goes (a stopped container is no hard conflict); its layers stay
    // under the container.
    let out = ok(&d.docker(&["rmi", "-f", &image]), "rmi -f");
    assert!(out.starts_with(&format!("Untagged: {image}:latest\n")), "{out}");
    assert!(out.ends_with(&format!("Deleted: {id}\n")), "only the image record goes: {out}");
    ok(&d.docker(&["start", "-a", &cid]), "the container still runs");
    ok(&d.docker(&["rm", &cid]), "rm");

    // Now nothing uses it: deleting by id removes config and layers.
    ok(&d.docker(&["pull", &image]), "pull again");
    let out = ok(&d.docker(&["rmi", &id[7..19]]), "rmi id");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("Untagged: {image}:latest"), "{out}");
    assert!(lines[1].starts_with(&format!("Untagged: {image}@sha256:")), "{out}");
    assert_eq!(lines[2], format!("Deleted: {id}"), "{out}");
    assert!(lines[3].starts_with("Deleted: sha256:") && lines.len() == 4, "and its layer: {out}");
    let o = d.docker(&["rmi", "mybox:v1"]);
    assert_eq!(stderr(&o), "Error response from daemon: No such image: mybox:v1\n");
    let o = d.docker(&["rmi", "nosuch"]);
    assert_eq!(stderr(&o), "Error response from daemon: No such image: nosuch:latest\n");
    assert_eq!(o.status.code(), Some(1));
}

/// A tar of a tiny root filesystem: busybox plus the given extra files.
fn rootfs_tar(tmp: &TempDir, extra: &[(&str, &[u8])]) -> PathBuf {
    let root = tmp.join(unique("rootfs"));
    common::busybox_rootfs(&root);
    for (name, data) in extra {
        std::fs::write(root.join(name), data).unwrap();
    }
    let tar = tmp.join(unique("rootfs.tar"));
    let o = Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg(".").output().unwrap();
    assert!(o.status.success());
    tar
}

#[test]
fn history_prune_and_system_df() {
    let Some(d) = Dockerd::start() else { return };
    let image = pull_busybox(&d);
    let id = image_id(&d, &image);
    let out = ok(&d.docker(&["history", &image]), "history");
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("IMAGE          CREATED") && header.contains("CREATED BY") && header.ends_with("SIZE      COMMENT"), "{out}");
    assert!(lines.next().unwrap().starts_with(&id[7..19]), "{out}");
    let (status, h) = d.api("GET", &format!("/images/{image}/history"), None);
    assert_eq!(status, 200);
    assert_eq!(h[0]["Id"], id.as_str());
    assert_eq!(h[0]["Tags"][0], format!("{image}:latest").as_str());
    assert!(h.as_array().unwrap().iter().any(|e| e["Size"].as_u64().unwrap() > 0), "{h}");

    // Two imports under one tag leave the first dangling; prune removes only that one.
    let tar = rootfs_tar(&d.tmp, &[("marker", b"one")]);
    let first = ok(&d.docker(&["import", tar.to_str().unwrap(), "twice:latest"]), "import 1").trim().to_string();
    let tar2 = rootfs_tar(&d.tmp, &[("marker", b"two")]);
    let second = ok(&d.docker(&["import", tar2.to_str().unwrap(), "twice:latest"]), "import 2").trim().to_string();
    assert!(first.starts_with("sha256:") && first != second, "{first} {second}");

    let df = ok(&d.docker(&["system", "df"]), "df");
    let rows: Vec<Vec<&str>> = df.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], "{df}");
    assert_eq!(&rows[1][..3], ["Images", "3", "0"], "{df}");
    assert_eq!(&rows[2][..3], ["Containers", "0", "0"], "{df}");

    let out = ok(&d.docker(&["image", "prune", "-f"]), "prune");
    assert!(out.starts_with(&format!("Deleted Images:\ndeleted: {first}\n")), "{out}");
    assert!(out.contains("\nTotal reclaimed space: ") && !out.ends_with("space: 0B\n"), "{out}");
    assert_eq!(d.api("GET", &format!("/images/{first}/json"), None).0, 404);
    assert_eq!(image_id(&d, "twice"), second);
    assert_eq!(image_id(&d, &image), id);
    assert_eq!(ok(&d.docker(&["image", "prune", "-f"]), "prune again"), "Total reclaimed space: 0B\n");

    // -a removes every image no container uses.
    let cid = ok(&d.docker(&["create", &image, "true"]), "create").trim().to_string();
    let df = ok(&d.docker(&["system", "df"]), "df");
    assert!(df.lines().nth(1).unwrap().split_whitespace().take(3).eq(["Images", "2", "1"]), "{df}");
    let out = ok(&d.docker(&["image", "prune", "-a", "-f"]), "prune -a");
    assert!(out.contains("untagged: twice:latest\n") && out.contains(&format!("deleted: {second}\n")), "{out}");
    assert_eq!(image_id(&d, &image), id);
    ok(&d.docker(&["rm", &cid]), "rm");
}

#[test]
fn save_and_load_between_two_daemons_of_ours() {
    let Some(d1) = Dockerd::start() else { return };
    let Some(d2) = Dockerd::start() else { return };
    let image = pull_busybox(&d1);
    let id = image_id(&d1, &image);
    let archive = d1.tmp.join("saved.tar");
    ok(&d1.docker(&["save", "-o", archive.to_str().unwrap(), &image]), "save");
    let listing = Command::new("tar").arg("-tf").arg(&archive).output().unwrap();
    let names = stdout(&listing);
    for want in ["manifest.json", "index.json", "oci-layout", "repositories", &format!("blobs/sha256/{}", &id[7..])] {
        assert!(names.lines().any(|l| l == want), "{want} missing from {names}");
    }
    let o = d2.docker(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(ok(&o, "load"), format!("Loaded image: {image}:latest\n"));
    assert_eq!(image_id(&d2, &image), id, "the same image id after a round trip");
    assert_eq!(ok(&d2.docker(&["run", "--rm", &image, "echo", "loaded"]), "run"), "loaded\n");
    // A second save of the loaded image is byte-identical (layers reproduce exactly).
    let again = d2.tmp.join("again.tar");
    ok(&d2.docker(&["save", "-o", again.to_str().unwrap(), &image]), "save again");
    assert_eq!(std::fs::read(&archive).unwrap(), std::fs::read(&again).unwrap());
    // Streaming to stdout works too, and a missing image is Docker's error.
    let o = d1.docker(&["save", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "Error response from daemon: No such image: nosuch\n");
}

#[test]
fn export_and_import_round_trip() {
    let Some(d) = Dockerd::start() else { return };
    let image = pull_busybox(&d);
    ok(&d.docker(&["run", "--name", "src", &image, "sh", "-c", "echo payload > /data; rm /bin/true"]), "run");
    let tar = d.tmp.join("export.tar");
    ok(&d.docker(&["export", "-o", tar.to_str().unwrap(), "src"]), "export");
    let listing = stdout(&Command::new("tar").arg("-tvf").arg(&tar).output().unwrap());
    assert!(listing.lines().any(|l| l.ends_with(" data")), "{listing}");
    assert!(!listing.lines().any(|l| l.ends_with("bin/true")), "deleted files are gone: {listing}");
    assert!(!listing.contains(".wh."), "{listing}");
    assert!(common::mounts_under(d.tmp.path()).iter().all(|m| !m.ends_with("merged")), "export left a mount");

    let id = ok(&d.docker(&["import", "-c", "CMD [\"cat\", \"/data\"]", "-m", "round trip", tar.to_str().unwrap(), "exported:v1"]), "import").trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(ok(&d.docker(&["run", "--rm", "exported:v1"]), "run imported"), "payload\n");
    let h = ok(&d.docker(&["history", "exported:v1"]), "history");
    assert!(h.contains("round trip"), "{h}");
    // From stdin, without a name.
    let mut child = common::applet("docker").arg("-H").arg(d.host()).args(["import", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(&std::fs::read(&tar).unwrap()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(ok(&o, "import -").starts_with("sha256:"));
    // A body over the daemon's in-memory limit (64 MiB) streams through a spool file.
    let zeros = vec![0u8; 65 << 20];
    let big = rootfs_tar(&d.tmp, &[("zeros", &zeros)]);
    drop(zeros);
    ok(&d.docker(&["import", big.to_str().unwrap(), "bigimport"]), "import big");
    assert_eq!(ok(&d.docker(&["run", "--rm", "bigimport", "sh", "-c", "wc -c < /zeros"]), "run big").trim(), (65u64 << 20).to_string());
    assert!(std::fs::read_dir(d.tmp.join("data/tmp")).unwrap().next().is_none(), "spool and import files are gone");
    ok(&d.docker(&["rm", "src"]), "rm");
}

// ---- Debian's real dockerd, on private roots.

fn real_cli() -> PathBuf {
    ["/usr/bin/docker", "/usr/local/bin/docker"].into_iter().map(PathBuf::from).find(|p| p.exists()).expect("no docker CLI")
}

#[test]
fn save_load_and_push_with_the_real_dockerd() {
    let Some(d) = Dockerd::start() else { return };
    let Some(real) = common::DockerIo::start(None, &[]) else { return };
    let image = pull_busybox(&d);
    let id = image_id(&d, &image);

    // Ours → real.
    let archive = d.tmp.join("ours.tar");
    ok(&d.docker(&["save", "-o", archive.to_str().unwrap(), &image]), "save");
    let out = ok(&real.client(Some(&real_cli().to_string_lossy()), &[], &["load", "-i", archive.to_str().unwrap()]), "real load");
    assert!(out.contains(&format!("Loaded image: {image}:latest")), "{out}");
    assert_eq!(ok(&real.client(Some(&real_cli().to_string_lossy()), &[], &["inspect", "--format", "{{.Id}}", &image]), "real inspect").trim(), id);
    assert_eq!(ok(&real.client(Some(&real_cli().to_string_lossy()), &[], &["run", "--rm", &image, "echo", "in-real"]), "real run"), "in-real\n");

    // Real → ours, under another name with an extra layer-free tag.
    ok(&real.client(Some(&real_cli().to_string_lossy()), &[], &["tag", &image, "fromreal:v2"]), "real tag");
    let real_archive = d.tmp.join("real.tar");
    ok(&real.client(Some(&real_cli().to_string_lossy()), &[], &["save", "-o", real_archive.to_str().unwrap(), "fromreal:v2"]), "real save");
    let Some(d2) = Dockerd::start() else { return };
    assert_eq!(ok(&d2.docker(&["load", "-i", real_archive.to_str().unwrap()]), "load real archive"), "Loaded image: fromreal:v2\n");
    assert_eq!(image_id(&d2, "fromreal:v2"), id);
    assert_eq!(ok(&d2.docker(&["run", "--rm", "fromreal:v2", "echo", "from-real"]), "run"), "from-real\n");

    // Push under a new name; skopeo and the real dockerd read it back.
    let repo = d.registry.image(&unique("pushed"));
    ok(&d.docker(&["tag", &image, &format!("{repo}:v1")]), "tag");
    let out = ok(&d.docker(&["push", &format!("{repo}:v1")]), "push");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("The push refers to repository [{repo}]"), "{out}");
    // The layer is the blob pulled from busybox on this registry: mounted, not uploaded.
    assert!(lines.iter().any(|l| l.ends_with(": Preparing")) && lines.iter().any(|l| l.ends_with(": Mounted from busybox")), "{out}");
    let last = lines.last().unwrap();
    assert!(last.starts_with("v1: digest: sha256:") && last.contains(" size: "), "{out}");
    let digest = last.split_whitespace().nth(2).unwrap().to_string();

    let inspect = Command::new("skopeo").args(["inspect", "--tls-verify=false", &format!("docker://{repo}:v1")]).output().unwrap();
    let v: serde_json::Value = serde_json::from_str(&ok(&inspect, "skopeo inspect")).unwrap();
    assert_eq!(v["Digest"], digest.as_str());
    let copy_dir = d.tmp.join("skopeo-copy");
    ok(&Command::new("skopeo").args(["copy", "--src-tls-verify=false", &format!("docker://{repo}:v1"), &format!("dir:{}", copy_dir.display())]).output().unwrap(), "skopeo copy");
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(copy_dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
    assert_eq!(manifest["config"]["digest"], id.as_str());

    ok(&real.client(Some(&real_cli().to_string_lossy()), &[], &["pull", &format!("{repo}:v1")]), "real pull");
    assert_eq!(ok(&real.client(Some(&real_cli().to_string_lossy()), &[], &["run", "--rm", &format!("{repo}:v1"), "echo", "pulled"]), "real run pushed"), "pulled\n");
    ok(&real.client(Some(&real_cli().to_string_lossy()), &[], &["rmi", "-f", &format!("{repo}:v1"), &image, "fromreal:v2"]), "real rmi");

    // A re-push finds every layer and yields the same digest.
    let out = ok(&d.docker(&["push", &format!("{repo}:v1")]), "re-push");
    assert!(out.contains(": Layer already exists") && !out.contains("Pushed"), "{out}");
    assert!(out.contains(&format!("v1: digest: {digest} ")), "{out}");

    // Another repository on the same registry mounts the blobs.
    let repo2 = d.registry.image(&unique("mounted"));
    ok(&d.docker(&["tag", &image, &repo2]), "tag 2");
    let out = ok(&d.docker(&["push", &repo2]), "push 2");
    let from = repo.rsplit_once('/').unwrap().1;
    assert!(out.contains(&format!(": Mounted from {from}")), "{out}");
    assert!(out.contains(&format!("latest: digest: {digest} ")), "{out}");

    // A layer over the chunk size goes up in PATCH chunks.
    let mut big = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(std::fs::File::open("/dev/urandom").unwrap(), 9 << 20), &mut big).unwrap();
    let tar = rootfs_tar(&d.tmp, &[("big", &big)]);
    let repo3 = d.registry.image(&unique("big"));
    ok(&d.docker(&["import", tar.to_str().unwrap(), &repo3]), "import big");
    let out = ok(&d.docker(&["push", &repo3]), "push big");
    assert!(out.contains(": Pushed"), "{out}");
    let inspect = Command::new("skopeo").args(["inspect", "--tls-verify=false", &format!("docker://{repo3}")]).output().unwrap();
    ok(&inspect, "skopeo inspect big");
    ok(&d.docker(&["rmi", &repo3]), "rmi big");
    ok(&d2.docker(&["pull", &repo3]), "pull big back");
    assert_eq!(ok(&d2.docker(&["run", "--rm", &repo3, "sh", "-c", "wc -c < /big"]), "run big").trim(), (9u32 << 20).to_string());
}
