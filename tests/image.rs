//! The image path end to end: images built offline by scripts/images.sh, pushed to a real
//! registry (scripts/registry.sh), pulled into a temporary data root, and mounted as a
//! container filesystem with overlay2.

mod common;

use common::TempDir;
use dockbox::image::{ImageStore, PullErrorKind, PullOptions};
use dockbox::reference::Reference;
use dockbox::snapshot::Snapshotter;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts").join(name)
}

/// A registry on 127.0.0.1 with hello-world (Docker schema2) and busybox (OCI) pushed.
struct LocalRegistry {
    dir: TempDir,
    addr: String,
}

impl LocalRegistry {
    fn start() -> LocalRegistry {
        let dir = TempDir::new("registry");
        let images = dir.join("images");
        let out = Command::new("bash").arg(script("images.sh")).arg(&images).output().unwrap();
        assert!(out.status.success(), "images.sh: {}", String::from_utf8_lossy(&out.stderr));
        let out = Command::new("bash").arg(script("registry.sh")).arg("start").arg(dir.join("reg")).output().unwrap();
        assert!(out.status.success(), "registry.sh start: {}", String::from_utf8_lossy(&out.stderr));
        let addr = String::from_utf8(out.stdout).unwrap().trim().to_string();
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
        let reg = LocalRegistry { dir, addr };
        for name in ["hello-world", "busybox"] {
            let out = Command::new("bash")
                .arg(script("registry.sh"))
                .arg("push")
                .arg(reg.dir.join("reg"))
                .arg(reg.dir.join("images").join(name))
                .arg(format!("{name}:latest"))
                .output()
                .unwrap();
            assert!(out.status.success(), "push {name}: {}", String::from_utf8_lossy(&out.stderr));
        }
        reg
    }

    fn reference(&self, name: &str) -> Reference {
        Reference::parse_normalized(&format!("{}/{name}", self.addr)).unwrap()
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script("registry.sh")).arg("stop").arg(self.dir.join("reg")).status();
    }
}

fn statuses(msgs: &[Value]) -> Vec<String> {
    msgs.iter().map(|m| m["status"].as_str().unwrap_or("").to_string()).collect()
}

fn pull(store: &ImageStore, r: &Reference) -> (dockbox::image::Image, Vec<Value>) {
    let mut msgs = Vec::new();
    let image = store.pull(r, &PullOptions::default(), &mut |m| msgs.push(m.clone())).unwrap_or_else(|e| panic!("pull {r}: {e}"));
    (image, msgs)
}

/// Whether `wanted` appear in `got` in this order (other statuses may come between).
fn in_order(got: &[String], wanted: &[&str]) -> bool {
    let mut it = got.iter();
    wanted.iter().all(|w| it.any(|g| g == w))
}

#[test]
fn pull_get_and_mount_from_a_local_registry() {
    if !common::require_root() {
        return;
    }
    let reg = LocalRegistry::start();
    let root = TempDir::new("imgroot");
    let store = ImageStore::open(root.path()).unwrap();

    // hello-world: Docker schema2.
    let hello_ref = reg.reference("hello-world");
    let (hello, msgs) = pull(&store, &hello_ref);
    let st = statuses(&msgs);
    assert_eq!(msgs[0], serde_json::json!({"status": "Pulling from hello-world", "id": "latest"}));
    assert!(
        in_order(&st, &["Pulling fs layer", "Downloading", "Verifying Checksum", "Download complete", "Extracting", "Pull complete"]),
        "{st:?}"
    );
    let downloading = msgs.iter().rfind(|m| m["status"] == "Downloading").unwrap();
    let total = downloading["progressDetail"]["total"].as_u64().unwrap();
    assert_eq!(downloading["progressDetail"]["current"].as_u64().unwrap(), total);
    assert!(downloading["progress"].as_str().unwrap().starts_with(&format!("[{}>]", "=".repeat(50))), "{downloading}");
    assert_eq!(downloading["id"].as_str().unwrap().len(), 12);
    assert!(st[st.len() - 2].starts_with("Digest: sha256:"), "{st:?}");
    assert_eq!(st[st.len() - 1], format!("Status: Downloaded newer image for {}/hello-world:latest", reg.addr));
    assert_eq!(hello.repo_tags, vec![format!("{}/hello-world:latest", reg.addr)]);
    assert_eq!(hello.repo_digests, vec![format!("{}/hello-world@{}", reg.addr, &st[st.len() - 2]["Digest: ".len()..])]);
    assert_eq!(hello.config["config"]["Cmd"], serde_json::json!(["/hello"]));
    assert_eq!(hello.layers.len(), 1);
    assert!(hello.size > 0);

    // A second pull changes nothing.
    let (again, msgs) = pull(&store, &hello_ref);
    let st = statuses(&msgs);
    assert_eq!(again.id, hello.id);
    assert!(st.contains(&"Already exists".to_string()), "{st:?}");
    assert!(!st.contains(&"Downloading".to_string()), "{st:?}");
    assert_eq!(st.last().unwrap(), &format!("Status: Image is up to date for {}/hello-world:latest", reg.addr));

    // busybox: OCI manifest.
    let started = std::time::Instant::now();
    let (busybox, msgs) = pull(&store, &reg.reference("busybox:latest"));
    eprintln!("pull of busybox took {:?}", started.elapsed());
    assert!(in_order(&statuses(&msgs), &["Pulling from busybox", "Pulling fs layer", "Pull complete"]));
    assert_eq!(busybox.config["config"]["Cmd"], serde_json::json!(["sh"]));

    // Lookups by every form docker accepts.
    let hex = hello.id.strip_prefix("sha256:").unwrap();
    for key in [
        format!("{}/hello-world", reg.addr),
        format!("{}/hello-world:latest", reg.addr),
        hello.repo_digests[0].clone(),
        hello.id.clone(),
        hex.to_string(),
        hex[..12].to_string(),
        format!("sha256:{}", &hex[..12]),
    ] {
        assert_eq!(store.get(&key).map(|i| i.id), Some(hello.id.clone()), "get({key})");
    }
    assert!(store.get(&format!("{}/hello-world:nope", reg.addr)).is_none());
    assert!(store.get("hello-world").is_none(), "docker.io/library/hello-world was never pulled");
    assert_eq!(store.list().len(), 2);

    // Docker's on-disk layout.
    assert!(root.join("image/overlay2/imagedb/content/sha256").join(hex).is_file());
    let chain = hello.layers[0].strip_prefix("sha256:").unwrap();
    let layer = root.join("image/overlay2/layerdb/sha256").join(chain);
    let cache_id = std::fs::read_to_string(layer.join("cache-id")).unwrap();
    assert_eq!(std::fs::read_to_string(layer.join("diff")).unwrap(), hello.layers[0]);
    let link = std::fs::read_to_string(root.join("overlay2").join(&cache_id).join("link")).unwrap();
    assert_eq!(link.len(), 26);
    assert_eq!(std::fs::read_link(root.join("overlay2/l").join(&link)).unwrap(), PathBuf::from(format!("../{cache_id}/diff")));
    let repos: Value = serde_json::from_slice(&std::fs::read(root.join("image/overlay2/repositories.json")).unwrap()).unwrap();
    assert_eq!(repos["Repositories"][format!("{}/hello-world", reg.addr)][format!("{}/hello-world:latest", reg.addr)], hello.id);

    // A reopened store sees the same images.
    let reopened = ImageStore::open(root.path()).unwrap();
    assert_eq!(reopened.get(&format!("{}/busybox", reg.addr)).map(|i| i.id), Some(busybox.id.clone()));

    // Container filesystems.
    let snap = Snapshotter::open(root.path()).unwrap();
    let hello_mount = new_rw(&snap, &hello);
    assert_eq!(hello_mount.len(), 64);
    let merged = snap.mount(&hello_mount).unwrap();
    assert_eq!(snap.mount(&hello_mount).unwrap(), merged, "mount is idempotent");
    assert!(dockbox::mounts::is_mountpoint(&merged));
    let out = Command::new(merged.join("hello")).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Hello from dockbox!"), "{out:?}");
    for init_file in ["etc/hosts", "etc/hostname", "etc/resolv.conf", "dev/console", ".dockerenv"] {
        assert!(merged.join(init_file).is_file(), "{init_file}");
    }
    for init_dir in ["proc", "sys", "dev/pts", "dev/shm"] {
        assert!(merged.join(init_dir).is_dir(), "{init_dir}");
    }

    let bb_mount = new_rw(&snap, &busybox);
    let bb = snap.mount(&bb_mount).unwrap();
    assert!(bb.join("bin/busybox").is_file());
    assert_eq!(std::fs::read_link(bb.join("bin/sh")).unwrap(), PathBuf::from("busybox"));
    std::fs::write(bb.join("tmp/written"), b"rw").unwrap();
    assert!(root.join("overlay2").join(&bb_mount).join("diff/tmp/written").is_file(), "writes land in the rw layer");
    std::fs::remove_file(bb.join("bin/ls")).unwrap();
    assert!(root.join("overlay2").join(cache_id_of(&store, &busybox)).join("diff/bin/ls").exists(), "image layers stay untouched");

    // A disposable container's overlay is volatile (its unmount syncs nothing); its layers
    // mount again afterwards, writes in place.
    let overlay_options = |at: &std::path::Path| dockbox::mounts::mounts().unwrap().into_iter().find(|m| m.mount_point == at).map(|m| m.super_options).unwrap();
    let disposable = new_rw(&snap, &busybox);
    let d = snap.mount_disposable(&disposable).unwrap();
    // Older kernels show `volatile`, newer ones `fsync=volatile`.
    assert!(overlay_options(&d).contains("volatile"), "{}", overlay_options(&d));
    std::fs::write(d.join("tmp/kept"), b"x").unwrap();
    snap.unmount(&disposable).unwrap();
    let d = snap.mount(&disposable).unwrap();
    assert!(!overlay_options(&d).contains("volatile"), "{}", overlay_options(&d));
    assert_eq!(std::fs::read(d.join("tmp/kept")).unwrap(), b"x");
    snap.remove(&disposable).unwrap();
    assert!(!overlay_options(&bb).contains("volatile"), "a kept container's overlay syncs");

    snap.unmount(&bb_mount).unwrap();
    snap.unmount(&bb_mount).unwrap();
    assert!(!dockbox::mounts::is_mountpoint(&bb));
    snap.remove(&bb_mount).unwrap();
    snap.remove(&hello_mount).unwrap();
    assert!(!root.join("overlay2").join(&hello_mount).exists());
    assert!(!root.join("overlay2").join(format!("{hello_mount}-init")).exists());
    assert!(dockbox::mounts::mounts_under(root.path()).unwrap().is_empty());
    let links = std::fs::read_dir(root.join("overlay2/l")).unwrap().count();
    assert_eq!(links, 2, "only the two image layers keep short links");
}

/// A container filesystem on `image` under a fresh mount id.
fn new_rw(snap: &Snapshotter, image: &dockbox::image::Image) -> String {
    let mount_id = dockbox::ids::new_id();
    snap.create_rw(&mount_id, image).unwrap();
    mount_id
}

fn cache_id_of(store: &ImageStore, image: &dockbox::image::Image) -> String {
    store.cache_id(&image.layers[0]).unwrap()
}

#[test]
fn unknown_tag_and_unreachable_registry() {
    if !common::require_root() {
        return;
    }
    let reg = LocalRegistry::start();
    let root = TempDir::new("imgroot-nf");
    let store = ImageStore::open(root.path()).unwrap();
    let err = store.pull(&reg.reference("nope"), &PullOptions::default(), &mut |_| {}).unwrap_err();
    assert_eq!(err.kind, PullErrorKind::NotFound);
    assert_eq!(err.message, format!("manifest for {}/nope:latest not found: manifest unknown: manifest unknown", reg.addr));
    let err = store.pull(&reg.reference("hello-world:v9"), &PullOptions::default(), &mut |_| {}).unwrap_err();
    assert_eq!(err.message, format!("manifest for {}/hello-world:v9 not found: manifest unknown: manifest unknown", reg.addr));
    assert!(store.list().is_empty());

    // A port nobody listens on: the registry we stop frees its port.
    let addr = reg.addr.clone();
    drop(reg);
    let r = Reference::parse_normalized(&format!("{addr}/hello-world")).unwrap();
    let err = store.pull(&r, &PullOptions::default(), &mut |_| {}).unwrap_err();
    assert_eq!(err.kind, PullErrorKind::Other);
    assert_eq!(err.message, format!("Get \"http://{addr}/v2/\": dial tcp {addr}: connect: connection refused"));
}

#[test]
fn references_parse_as_docker_does() {
    let ok: &[(&str, &str, &str)] = &[
        ("busybox", "docker.io/library/busybox", "busybox"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox", "busybox"),
        ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"),
        ("index.docker.io/user/app", "docker.io/user/app", "user/app"),
        ("user/app", "docker.io/user/app", "user/app"),
        ("localhost/app", "localhost/app", "localhost/app"),
        ("localhost:5000/a/b:t", "localhost:5000/a/b:t", "localhost:5000/a/b:t"),
        ("127.0.0.1:5000/hello-world", "127.0.0.1:5000/hello-world", "127.0.0.1:5000/hello-world"),
        ("[::1]:5000/app", "[::1]:5000/app", "[::1]:5000/app"),
        ("example.com/a.b/c__d/e-f---g:T_a.g-1", "example.com/a.b/c__d/e-f---g:T_a.g-1", "example.com/a.b/c__d/e-f---g:T_a.g-1"),
        (
            "busybox@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "docker.io/library/busybox@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "busybox@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        ),
        (
            "127.0.0.1:5000/x:t@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "127.0.0.1:5000/x:t@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "127.0.0.1:5000/x:t@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        ),
        ("Uppercase.example.com/lower", "Uppercase.example.com/lower", "Uppercase.example.com/lower"),
    ];
    for (input, full, familiar) in ok {
        let r = Reference::parse_normalized(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r.to_string(), *full, "{input}");
        assert_eq!(r.familiar_string(), *familiar, "{input}");
    }
    let r = Reference::parse_normalized("busybox").unwrap().with_default_tag();
    assert_eq!((r.to_string(), r.repository(), r.familiar_name()), ("docker.io/library/busybox:latest".into(), "docker.io/library/busybox".into(), "busybox".into()));

    let bad: &[(&str, &str)] = &[
        ("", "invalid reference format"),
        (":", "invalid reference format"),
        ("busybox:", "invalid reference format"),
        ("/busybox", "invalid reference format"),
        ("busybox/", "invalid reference format"),
        ("a//b", "invalid reference format"),
        ("-busybox", "invalid reference format"),
        ("busy..box", "invalid reference format"),
        ("busybox:-tag", "invalid reference format"),
        ("busybox:a@b", "invalid reference format"),
        ("busybox@sha256:abc", "invalid reference format"),
        ("Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"),
        ("example.com/Foo:tag", "invalid reference format: repository name (Foo) must be lowercase"),
        ("busybox@sha256:fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "invalid checksum digest length"),
        ("busybox@md5:ffffffffffffffffffffffffffffffff", "unsupported digest algorithm"),
        (
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "invalid repository name (ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff), cannot specify 64-byte hexadecimal strings",
        ),
    ];
    for (input, message) in bad {
        match Reference::parse_normalized(input) {
            Ok(r) => panic!("{input:?} parsed as {r}"),
            Err(e) => assert_eq!(e.to_string(), *message, "{input:?}"),
        }
    }
    let long = format!("example.com/{}", "a".repeat(250));
    assert_eq!(Reference::parse_normalized(&long).unwrap_err().to_string(), "repository name must not be more than 255 characters");
}

#[test]
fn concurrent_pulls_commit_each_layer_once() {
    fn shareable<T: Send + Sync>() {}
    shareable::<ImageStore>();
    shareable::<Snapshotter>();
    if !common::require_root() {
        return;
    }
    let reg = LocalRegistry::start();
    let root = TempDir::new("imgroot-conc");
    let store = ImageStore::open(root.path()).unwrap();
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let (store, r) = (&store, reg.reference(if i % 2 == 0 { "busybox" } else { "hello-world" }));
                s.spawn(move || store.pull(&r, &PullOptions::default(), &mut |_| {}).map(|img| img.id))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
    });
    assert_eq!(ids[0], ids[2]);
    assert_eq!(ids[1], ids[3]);
    assert_eq!(store.list().len(), 2);
    // Losing racers discard their extraction: one overlay2 directory per layer, plus l/.
    assert_eq!(std::fs::read_dir(root.join("overlay2")).unwrap().count(), 3);
    assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    format!("{:x}", sha2::Sha256::digest(data))
}

/// An OCI layout `layered`: busybox's layer plus one that deletes /etc/group (whiteout),
/// adds /etc/motd and makes /bin opaque with a single file in it.
fn write_layered_layout(busybox_layout: &Path, out: &Path) {
    let blobs = out.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let index: Value = serde_json::from_slice(&std::fs::read(busybox_layout.join("index.json")).unwrap()).unwrap();
    let manifest_hex = index["manifests"][0]["digest"].as_str().unwrap().strip_prefix("sha256:").unwrap().to_string();
    let manifest: Value = serde_json::from_slice(&std::fs::read(busybox_layout.join("blobs/sha256").join(&manifest_hex)).unwrap()).unwrap();
    let config_hex = manifest["config"]["digest"].as_str().unwrap().strip_prefix("sha256:").unwrap().to_string();
    let mut config: Value = serde_json::from_slice(&std::fs::read(busybox_layout.join("blobs/sha256").join(&config_hex)).unwrap()).unwrap();
    let base = manifest["layers"][0].clone();
    let base_hex = base["digest"].as_str().unwrap().strip_prefix("sha256:").unwrap();
    std::fs::copy(busybox_layout.join("blobs/sha256").join(base_hex), blobs.join(base_hex)).unwrap();

    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8], kind: tar::EntryType| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(if kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        tar.append_data(&mut h, path, data).unwrap();
    };
    add("bin/", b"", tar::EntryType::Directory);
    add("bin/.wh..wh..opq", b"", tar::EntryType::Regular);
    add("bin/onlyme", b"only\n", tar::EntryType::Regular);
    add("etc/", b"", tar::EntryType::Directory);
    add("etc/.wh.group", b"", tar::EntryType::Regular);
    add("etc/motd", b"layered\n", tar::EntryType::Regular);
    let plain = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &plain).unwrap();
    let gz = gz.finish().unwrap();
    let top_hex = sha256_hex(&gz);
    std::fs::write(blobs.join(&top_hex), &gz).unwrap();

    config["rootfs"]["diff_ids"].as_array_mut().unwrap().push(Value::String(format!("sha256:{}", sha256_hex(&plain))));
    config["config"]["Cmd"] = serde_json::json!(["cat", "/etc/motd"]);
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_hex = sha256_hex(&config_bytes);
    std::fs::write(blobs.join(&config_hex), &config_bytes).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{config_hex}"), "size": config_bytes.len()},
        "layers": [base, {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{top_hex}"), "size": gz.len()}],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let manifest_hex = sha256_hex(&manifest_bytes);
    std::fs::write(blobs.join(&manifest_hex), &manifest_bytes).unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{manifest_hex}"), "size": manifest_bytes.len(),
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]});
    std::fs::write(out.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(out.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

#[test]
fn layered_image_shares_layers_applies_whiteouts_and_removes() {
    if !common::require_root() {
        return;
    }
    let reg = LocalRegistry::start();
    write_layered_layout(&reg.dir.join("images/busybox"), &reg.dir.join("images/layered"));
    let out = Command::new("bash")
        .arg(script("registry.sh"))
        .args(["push".as_ref(), reg.dir.join("reg").as_os_str(), reg.dir.join("images/layered").as_os_str(), "layered:latest".as_ref()])
        .output()
        .unwrap();
    assert!(out.status.success(), "push layered: {}", String::from_utf8_lossy(&out.stderr));

    let root = TempDir::new("imgroot-layered");
    let store = ImageStore::open(root.path()).unwrap();
    let (layered, msgs) = pull(&store, &reg.reference("layered"));
    let st = statuses(&msgs);
    assert_eq!(layered.layers.len(), 2);
    // Both layers download at once (3 concurrent downloads by default), so neither waits.
    assert!(in_order(&st, &["Pulling fs layer", "Pulling fs layer", "Downloading", "Download complete", "Extracting", "Pull complete", "Pull complete"]), "{st:?}");
    assert!(!st.contains(&"Waiting".to_string()), "{st:?}");
    let (busybox, msgs) = pull(&store, &reg.reference("busybox"));
    assert_eq!(busybox.layers[0], layered.layers[0]);
    assert!(statuses(&msgs).contains(&"Already exists".to_string()));
    assert!(!statuses(&msgs).contains(&"Downloading".to_string()));

    // The overlay view applies the upper layer's whiteouts.
    let snap = Snapshotter::open(root.path()).unwrap();
    let m = new_rw(&snap, &layered);
    let merged = snap.mount(&m).unwrap();
    assert_eq!(std::fs::read_to_string(merged.join("etc/motd")).unwrap(), "layered\n");
    assert!(merged.join("etc/passwd").exists());
    assert!(!merged.join("etc/group").exists(), "whiteout hides the lower file");
    assert!(merged.join("bin/onlyme").exists());
    assert!(!merged.join("bin/busybox").exists(), "opaque directory hides the lower one");
    let lower = std::fs::read_to_string(root.join("overlay2").join(&m).join("lower")).unwrap();
    assert_eq!(lower.split(':').count(), 3, "init layer plus two image layers: {lower}");
    snap.remove(&m).unwrap();

    // docker rmi: a tag goes with its repository's digests; shared layers stay.
    let err = store.remove("nothing-here", false, &[]).unwrap_err();
    assert_eq!((err.kind, err.message.as_str()), (dockbox::image::RemoveErrorKind::NotFound, "No such image: nothing-here"));
    let removed = store.remove(&format!("{}/layered", reg.addr), false, &[]).unwrap();
    let deleted: Vec<&str> = removed.iter().filter_map(|r| r["Deleted"].as_str()).collect();
    let untagged: Vec<&str> = removed.iter().filter_map(|r| r["Untagged"].as_str()).collect();
    assert_eq!(untagged.len(), 2, "{removed:?}");
    assert_eq!(untagged[0], format!("{}/layered:latest", reg.addr));
    assert!(untagged[1].starts_with(&format!("{}/layered@sha256:", reg.addr)));
    assert_eq!(deleted, vec![layered.id.as_str(), layered.layers[1].as_str()]);
    assert!(store.get(&layered.id).is_none());
    assert!(store.get(&format!("{}/busybox", reg.addr)).is_some());

    // An image in two repositories needs force when removed by id.
    store.tag(&busybox.id, &Reference::parse_normalized("mine/busybox:1").unwrap()).unwrap();
    let short = &busybox.id["sha256:".len().."sha256:".len() + 12];
    let err = store.remove(short, false, &[]).unwrap_err();
    assert_eq!(err.kind, dockbox::image::RemoveErrorKind::Conflict);
    assert_eq!(err.message, format!("conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"));
    let removed = store.remove(short, true, &[]).unwrap();
    assert!(removed.contains(&serde_json::json!({"Deleted": busybox.layers[0]})), "{removed:?}");
    assert!(store.list().is_empty());
    let left: Vec<_> = std::fs::read_dir(root.join("overlay2")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("l")]);
    assert_eq!(std::fs::read_dir(root.join("overlay2/l")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(root.join("image/overlay2/layerdb/sha256")).unwrap().count(), 0);
}

/// A `docker save` archive (manifest.json form) of busybox plus `extra` one-file layers, each
/// adding `/deep/<n>`, tagged `tag`.
fn deep_archive(dir: &Path, extra: usize, tag: &str) -> PathBuf {
    let root = dir.join("rootfs");
    common::busybox_rootfs(&root);
    let base = dir.join("base.tar");
    let o = Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&base).arg(".").output().unwrap();
    assert!(o.status.success());
    let mut layers = vec![std::fs::read(&base).unwrap()];
    for n in 0..extra {
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        h.set_mode(0o755);
        h.set_cksum();
        tar.append_data(&mut h, "deep/", std::io::empty()).unwrap();
        let data = format!("{n}\n");
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, format!("deep/{n}"), data.as_bytes()).unwrap();
        layers.push(tar.into_inner().unwrap());
    }
    let diff_ids: Vec<String> = layers.iter().map(|l| format!("sha256:{}", sha256_hex(l))).collect();
    let config = serde_json::json!({
        "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
        "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_name = format!("{}.json", sha256_hex(&config));
    let layer_names: Vec<String> = layers.iter().map(|l| format!("{}/layer.tar", sha256_hex(l))).collect();
    let manifest = serde_json::json!([{"Config": config_name, "RepoTags": [tag], "Layers": layer_names}]);
    let mut out = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        out.append_data(&mut h, name, data).unwrap();
    };
    add(&config_name, &config);
    for (name, data) in layer_names.iter().zip(&layers) {
        add(name, data);
    }
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    let path = dir.join(format!("deep-{extra}.tar"));
    std::fs::write(&path, out.into_inner().unwrap()).unwrap();
    path
}

/// Docker runs images of up to 125 layers (overlay2's 128 lower directories less a container's two): the lower directories are named
/// by short links so that the mount options fit in one page even under a long data-root, where
/// the absolute paths of 125 layers would need three pages.
#[test]
fn a_deep_image_loads_and_runs() {
    let Some(d) = common::Dockerd::start() else { return };
    let tmp = TempDir::new("deep");
    let archive = deep_archive(tmp.path(), 124, "deep:125");
    let o = d.docker(&["load", "-i", archive.to_str().unwrap()]);
    assert!(o.status.success(), "load: {}{}", common::stdout(&o), common::stderr(&o));
    assert_eq!(common::stdout(&o), "Loaded image: deep:125\n");
    let o = d.docker(&["run", "--rm", "deep:125", "sh", "-c", "ls /deep | wc -l; cat /deep/0 /deep/123"]);
    assert!(o.status.success(), "run: {}{}\n{}", common::stdout(&o), common::stderr(&o), d.log());
    assert_eq!(common::stdout(&o).split_whitespace().collect::<Vec<_>>(), ["124", "0", "123"]);
    let layers = d.docker(&["inspect", "--format", "{{len .RootFS.Layers}}", "deep:125"]);
    assert_eq!(common::stdout(&layers).trim(), "125");

    // One more is Docker's "max depth exceeded", and nothing of that image is visible.
    let archive = deep_archive(&tmp.join("126"), 125, "deep:126");
    let o = d.docker(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", common::stdout(&o));
    assert!(common::stderr(&o).contains("max depth exceeded"), "{}", common::stderr(&o));
    assert!(!d.docker(&["inspect", "deep:126"]).status.success());
}
