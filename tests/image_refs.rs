//! Who holds an image's layers: images sharing them, containers standing on them (also after
//! their image was force-deleted, and across a dockerd crash), and prune of what nothing
//! holds — with Docker's rmi messages, on overlay2 and vfs. (A pull holding a layer against
//! an rmi, and prune after a killed pull, are in pull_faults.rs, which can stall a pull.)

mod common;

use common::{stderr, stdout, Dockerd};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Output;

fn ok(o: &Output, what: &str) -> String {
    assert!(o.status.success(), "{what}: exit {:?}\nstdout: {}\nstderr: {}", o.status.code(), stdout(o), stderr(o));
    stdout(o)
}

fn sha(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &dockbox::ids::new_id()[..10])
}

/// A tar of files (path, content), owned by root.
fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A busybox root filesystem as a layer tar.
fn busybox_layer() -> Vec<u8> {
    let root = common::TempDir::new("refs-rootfs");
    common::busybox_rootfs(root.path());
    // Its own content: two layers made within one second (tar keeps whole seconds) would
    // otherwise be the same layer.
    std::fs::write(root.join("layer-id"), dockbox::ids::new_id()).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", root.path()).unwrap();
    b.into_inner().unwrap()
}

/// Pushes an image of uncompressed `layers` to the registry as `<repo>:latest`.
fn push_image(registry: &str, repo: &str, layers: &[&[u8]]) {
    let push_blob = |data: &[u8]| -> String {
        let digest = sha(data);
        let resp = ureq::post(&format!("http://{registry}/v2/{repo}/blobs/uploads/")).call().unwrap();
        let location = resp.header("Location").unwrap().to_string();
        let location = if location.starts_with('/') { format!("http://{registry}{location}") } else { location };
        let sep = if location.contains('?') { '&' } else { '?' };
        ureq::put(&format!("{location}{sep}digest={digest}")).set("Content-Type", "application/octet-stream").send_bytes(data).unwrap();
        digest
    };
    let config = serde_json::to_vec(&json!({
        "architecture": dockbox::registry::host_platform().0, "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| sha(l)).collect::<Vec<_>>()},
    }))
    .unwrap();
    let config_digest = push_blob(&config);
    let descriptors: Vec<Value> = layers.iter().map(|l| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": push_blob(l), "size": l.len()})).collect();
    let manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": descriptors,
    });
    ureq::put(&format!("http://{registry}/v2/{repo}/manifests/latest"))
        .set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .send_bytes(&serde_json::to_vec(&manifest).unwrap())
        .unwrap();
}

fn data_root(d: &Dockerd) -> PathBuf {
    d.tmp.join("data")
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default();
    names.sort();
    names
}

/// What the store holds on disk: layerdb entries, overlay2 directories (without `l`), short
/// links, container layer records, vfs roots.
#[derive(Debug, PartialEq)]
struct OnDisk {
    layers: Vec<String>,
    dirs: Vec<String>,
    links: usize,
    records: Vec<String>,
    vfs_roots: Vec<String>,
}

fn on_disk(d: &Dockerd) -> OnDisk {
    let root = data_root(d);
    OnDisk {
        layers: names_in(&root.join("image/overlay2/layerdb/sha256")),
        dirs: names_in(&root.join("overlay2")).into_iter().filter(|n| n != "l").collect(),
        links: names_in(&root.join("overlay2/l")).len(),
        records: names_in(&root.join("image/overlay2/layerdb/mounts")),
        vfs_roots: names_in(&root.join("vfs/dir")),
    }
}

fn empty_store() -> OnDisk {
    OnDisk { layers: vec![], dirs: vec![], links: 0, records: vec![], vfs_roots: vec![] }
}

fn image_id(d: &Dockerd, name: &str) -> String {
    ok(&d.docker(&["inspect", "--format", "{{.Id}}", name]), "inspect").trim().to_string()
}

/// Pushes busybox as a fresh repository and pulls it; returns (reference, image id).
fn pull_fresh_busybox(d: &Dockerd) -> (String, String) {
    let repo = unique("refs-bb");
    push_image(&d.registry.addr, &repo, &[&busybox_layer()]);
    let image = d.registry.image(&repo);
    ok(&d.docker(&["pull", &image]), "pull");
    let id = image_id(d, &image);
    (image, id)
}

fn repo_digest(d: &Dockerd, image: &str) -> String {
    ok(&d.docker(&["inspect", "--format", "{{index .RepoDigests 0}}", image]), "inspect digest").trim().to_string()
}

/// `docker rmi -f` of the only name of an image a stopped container uses: the image record
/// goes, the container still starts (also after a dockerd crash) and shows the image id, and
/// its layers are freed only by `docker rm`.
fn forced_rmi_under_a_stopped_container(driver: &str) {
    let Some(mut d) = Dockerd::start_with(&["--storage-driver", driver]) else { return };
    let (image, id) = pull_fresh_busybox(&d);
    let digest = repo_digest(&d, &image);
    let cid = ok(&d.docker(&["create", &image, "true"]), "create").trim().to_string();
    let before = on_disk(&d);
    assert_eq!((before.layers.len(), before.dirs.len(), before.records.clone()), (1, 3, vec![cid.clone()]), "{before:?}");

    let out = ok(&d.docker(&["rmi", "-f", &image]), "rmi -f");
    assert_eq!(out, format!("Untagged: {image}:latest\nUntagged: {digest}\nDeleted: {id}\n"));
    assert_eq!(stdout(&d.docker(&["images", "-a", "-q"])), "", "the image is gone");
    assert_eq!(d.api("GET", &format!("/images/{id}/json"), None).0, 404);
    assert_eq!(on_disk(&d), before, "the container keeps its layers");

    let check_container = |d: &Dockerd| {
        let ps = ok(&d.docker(&["ps", "-a"]), "ps");
        assert_eq!(ps.lines().nth(1).and_then(|row| row.split_whitespace().nth(1)), Some(&id[7..19]), "ps shows the image id: {ps}");
        let (_, list) = d.api("GET", "/containers/json?all=1", None);
        assert_eq!((list[0]["Image"].as_str(), list[0]["ImageID"].as_str()), (Some(id.as_str()), Some(id.as_str())), "{list}");
        assert_eq!(ok(&d.docker(&["inspect", "--format", "{{.Image}} {{.Config.Image}}", &cid]), "inspect"), format!("{id} {image}\n"));
        ok(&d.docker(&["start", "-a", &cid]), "the container still starts");
        assert_eq!(ok(&d.docker(&["inspect", "--format", "{{.State.ExitCode}}", &cid]), "exit code"), "0\n");
    };
    check_container(&d);
    d.crash_and_restart();
    check_container(&d);
    assert_eq!(on_disk(&d), before, "a restart frees nothing a container stands on");

    ok(&d.docker(&["rm", &cid]), "rm");
    assert_eq!(on_disk(&d), empty_store(), "the last holder gone, the layers go");
}

#[test]
fn forced_rmi_under_a_stopped_container_overlay2() {
    forced_rmi_under_a_stopped_container("overlay2");
}

#[test]
fn forced_rmi_under_a_stopped_container_vfs() {
    forced_rmi_under_a_stopped_container("vfs");
}

/// A docker CLI run against one daemon.
type Cli<'a> = Box<dyn Fn(&[&str]) -> Output + 'a>;

/// The docker CLIs to check messages with: ours, and the real one when installed.
fn clis(d: &Dockerd) -> Vec<Cli<'_>> {
    let mut v: Vec<Cli<'_>> = vec![Box::new(|args: &[&str]| d.docker(args))];
    for cli in ["/usr/local/bin/docker", "/usr/bin/docker"] {
        if Path::new(cli).exists() {
            v.push(Box::new(move |args: &[&str]| d.real_docker(cli, args)));
            break;
        }
    }
    v
}

#[test]
fn rmi_by_reference_and_by_id_under_running_and_stopped_containers() {
    let Some(d) = Dockerd::start() else { return };
    let (image, id) = pull_fresh_busybox(&d);
    let digest = repo_digest(&d, &image);
    let short = &id[7..19];
    let running = ok(&d.docker(&["run", "-d", &image, "sleep", "60"]), "run -d").trim().to_string();
    for docker in clis(&d) {
        let o = docker(&["rmi", &image]);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(
            stderr(&o),
            format!("Error response from daemon: conflict: unable to remove repository reference \"{image}\" (must force) - container {} is using its referenced image {short}\n", &running[..12])
        );
        for args in [vec!["rmi", short], vec!["rmi", "-f", short], vec!["rmi", "-f", id.as_str()]] {
            let o = docker(&args);
            assert_eq!(o.status.code(), Some(1), "{args:?}");
            assert_eq!(stderr(&o), format!("Error response from daemon: conflict: unable to delete {short} (cannot be forced) - image is being used by running container {}\n", &running[..12]), "{args:?}");
        }
    }
    // Forced by reference: untagged, and the image stays (dangling) under the running container.
    let real = clis(&d).pop().unwrap();
    assert_eq!(ok(&real(&["rmi", "-f", &image]), "rmi -f"), format!("Untagged: {image}:latest\nUntagged: {digest}\n"));
    let images = ok(&d.docker(&["images", "-a"]), "images");
    assert_eq!(images.lines().skip(1).map(|row| row.split_whitespace().take(3).collect::<Vec<_>>()).collect::<Vec<_>>(), [["<none>", "<none>", short]], "{images}");
    ok(&d.docker(&["rm", "-f", &running]), "rm -f");

    // By id, a stopped container needs force; forced, every reference and the image go, the
    // layers stay with the container.
    ok(&d.docker(&["tag", &id, "refs-mine:1"]), "tag");
    let stopped = ok(&d.docker(&["create", &id, "true"]), "create").trim().to_string();
    let o = d.docker(&["rmi", short]);
    assert_eq!(stderr(&o), format!("Error response from daemon: conflict: unable to delete {short} (must be forced) - image is being used by stopped container {}\n", &stopped[..12]));
    let before = on_disk(&d);
    assert_eq!(ok(&real(&["rmi", "-f", short]), "rmi -f id"), format!("Untagged: refs-mine:1\nDeleted: {id}\n"));
    assert_eq!(on_disk(&d), before);
    ok(&d.docker(&["start", "-a", &stopped]), "start");
    ok(&d.docker(&["rm", &stopped]), "rm");
    assert_eq!(on_disk(&d), empty_store());
}

#[test]
fn images_sharing_a_layer_keep_it_until_the_last_goes() {
    let Some(d) = Dockerd::start() else { return };
    let base = busybox_layer();
    let top = tar_of(&[("top", b"from the top\n")]);
    let (repo_a, repo_b) = (unique("refs-a"), unique("refs-b"));
    push_image(&d.registry.addr, &repo_a, &[&base]);
    push_image(&d.registry.addr, &repo_b, &[&base, &top]);
    let (a, b) = (d.registry.image(&repo_a), d.registry.image(&repo_b));
    ok(&d.docker(&["pull", &a]), "pull a");
    let out = ok(&d.docker(&["pull", &b]), "pull b");
    assert!(out.contains(": Already exists\n"), "{out}");
    let (id_a, id_b) = (image_id(&d, &a), image_id(&d, &b));
    let base_chain = sha(&base);
    let top_chain = dockbox::image::chain_ids(&[sha(&base), sha(&top)])[1].clone();

    // system df: the shared layer counts once, and as shared for both images.
    let (_, df) = d.api("GET", "/system/df", None);
    let (_, base_layer) = d.api("GET", &format!("/images/{id_a}/json"), None);
    let base_size = base_layer["Size"].as_u64().unwrap();
    let (_, b_json) = d.api("GET", &format!("/images/{id_b}/json"), None);
    assert_eq!(df["LayersSize"].as_u64().unwrap(), b_json["Size"].as_u64().unwrap(), "{df}");
    for i in df["Images"].as_array().unwrap() {
        assert_eq!(i["SharedSize"].as_u64(), Some(base_size), "{i}");
    }

    let out = ok(&d.docker(&["rmi", &b]), "rmi b");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(&lines[2..], [format!("Deleted: {id_b}"), format!("Deleted: {top_chain}")], "only b's own layer goes: {out}");
    assert_eq!(on_disk(&d).layers, vec![base_chain[7..].to_string()]);
    assert_eq!(ok(&d.docker(&["run", "--rm", &a, "cat", "/etc/passwd"]), "run a").lines().next(), Some("root:x:0:0:root:/root:/bin/sh"));

    let out = ok(&d.docker(&["rmi", &a]), "rmi a");
    assert!(out.ends_with(&format!("Deleted: {id_a}\nDeleted: {base_chain}\n")), "{out}");
    assert_eq!(on_disk(&d), empty_store());
}

#[test]
fn prune_deletes_abandoned_downloads_and_df_counts_them() {
    let Some(d) = Dockerd::start() else { return };
    let (image, id) = pull_fresh_busybox(&d);
    let blobs = data_root(&d).join("blobs");
    // What a pull killed for good leaves: a verified download and a partial one.
    let verified = vec![7u8; 100_000];
    std::fs::write(blobs.join("sha256").join(&sha(&verified)[7..]), &verified).unwrap();
    std::fs::write(blobs.join("partial").join(&sha(b"never finished")[7..]), vec![1u8; 50_000]).unwrap();
    let (_, df) = d.api("GET", "/system/df", None);
    let (_, img) = d.api("GET", &format!("/images/{id}/json"), None);
    assert_eq!(df["LayersSize"].as_u64().unwrap(), img["Size"].as_u64().unwrap() + 150_000, "{df}");
    let cid = ok(&d.docker(&["create", &image, "true"]), "create").trim().to_string();
    let out = ok(&d.docker(&["system", "df"]), "system df");
    let images_row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&images_row[..3], ["Images", "1", "1"], "{out}");
    assert_eq!(&images_row[4..], ["150kB", &format!("({}%)", 150_000 * 100 / df["LayersSize"].as_u64().unwrap())], "{out}");

    assert_eq!(ok(&d.docker(&["image", "prune", "-f"]), "prune"), "Total reclaimed space: 150kB\n");
    assert_eq!((names_in(&blobs.join("sha256")), names_in(&blobs.join("partial"))), (vec![], vec![]));
    assert_eq!(image_id(&d, &image), id, "the image a container uses stays");
    ok(&d.docker(&["rm", &cid]), "rm");
}

#[test]
fn the_next_start_finishes_what_a_crash_interrupted() {
    let Some(mut d) = Dockerd::start() else { return };
    let root = data_root(&d);
    let records = root.join("image/overlay2/layerdb/mounts");
    // A container whose image is gone, caught by a crash right after `rm` forgot it.
    let (gone, _) = pull_fresh_busybox(&d);
    let removed = ok(&d.docker(&["create", &gone, "true"]), "create").trim().to_string();
    ok(&d.docker(&["rmi", "-f", &gone]), "rmi -f");
    std::fs::remove_file(root.join("containers").join(&removed).join("config.v2.json")).unwrap();
    // Another image (its own layer), and a container caught by a crash before it was saved.
    let (image, id) = pull_fresh_busybox(&d);
    assert_eq!(on_disk(&d).layers.len(), 2);
    let unsaved = ok(&d.docker(&["create", &image, "true"]), "create").trim().to_string();
    std::fs::remove_dir_all(root.join("containers").join(&unsaved)).unwrap();
    // A container from before layer records.
    let old = ok(&d.docker(&["create", &image, "true"]), "create").trim().to_string();
    let old_record = std::fs::read_to_string(records.join(&old).join("mount-id")).unwrap();
    std::fs::remove_dir_all(records.join(&old)).unwrap();
    // A layer directory renamed in before its layerdb entry, and an atomic write cut short.
    std::fs::create_dir_all(root.join("overlay2").join(dockbox::ids::new_id()).join("diff")).unwrap();
    let torn = root.join("image/overlay2/imagedb/content/sha256/.0123.tmp4242");
    std::fs::write(&torn, b"{").unwrap();

    d.crash_and_restart();
    let ps = ok(&d.docker(&["ps", "-a", "-q", "--no-trunc"]), "ps");
    assert_eq!(ps, format!("{old}\n"), "only the saved container is back");
    let state = on_disk(&d);
    assert_eq!(state.records, vec![old.clone()], "{state:?}");
    assert_eq!(std::fs::read_to_string(records.join(&old).join("mount-id")).unwrap(), old_record, "recorded again");
    assert_eq!((state.layers.len(), state.dirs.len(), state.links), (1, 3, 3), "the image's layer and the old container's two: {state:?}");
    assert_eq!(std::fs::read_to_string(records.join(&old).join("parent")).unwrap(), format!("sha256:{}", state.layers[0]));
    assert!(!torn.exists());
    ok(&d.docker(&["start", "-a", &old]), "start");
    ok(&d.docker(&["rm", &old]), "rm");
    ok(&d.docker(&["rmi", &id]), "rmi");
    assert_eq!(on_disk(&d), empty_store());
}

/// A container's layer record is not fsynced at create, so a power cut can tear it: the next
/// start writes it again from the container's image, and drops a torn record of a container
/// that does not exist.
#[test]
fn the_next_start_rewrites_a_torn_layer_record() {
    let Some(mut d) = Dockerd::start() else { return };
    let root = data_root(&d);
    let records = root.join("image/overlay2/layerdb/mounts");
    let (image, id) = pull_fresh_busybox(&d);
    let kept = ok(&d.docker(&["create", &image, "true"]), "create").trim().to_string();
    let record = std::fs::read_to_string(records.join(&kept).join("parent")).unwrap();
    std::fs::write(records.join(&kept).join("parent"), b"").unwrap();
    let ghost = records.join(dockbox::ids::new_id());
    std::fs::create_dir_all(&ghost).unwrap();
    std::fs::write(ghost.join("mount-id"), b"").unwrap();

    d.crash_and_restart();
    assert_eq!(std::fs::read_to_string(records.join(&kept).join("parent")).unwrap(), record, "recorded again");
    assert!(!ghost.exists(), "the torn record of no container is gone");
    assert_eq!(on_disk(&d).records, vec![kept.clone()]);
    ok(&d.docker(&["rmi", "-f", &id]), "rmi -f");
    ok(&d.docker(&["start", "-a", &kept]), "start");
    ok(&d.docker(&["rm", &kept]), "rm");
    assert_eq!(on_disk(&d), empty_store());
}
