//! Pulling against a real registry under faults: whiteouts and compressions, manifest lists
//! and --platform, Basic auth with login/logout, a corrupted blob, a connection cut mid-layer,
//! dockerd killed mid-pull, and a full disk.

mod common;

use common::{applet, require_root, stderr, stdout, TempDir};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn sha(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// A Debian docker-registry of our own on 127.0.0.1, optionally behind htpasswd Basic auth.
struct OwnRegistry {
    dir: TempDir,
    child: Child,
    addr: String,
    basic: Option<(String, String)>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl OwnRegistry {
    fn start(basic: Option<(&str, &str)>) -> OwnRegistry {
        let dir = TempDir::new("pf-registry");
        let mut auth = String::new();
        if let Some((user, pass)) = basic {
            let out = Command::new("htpasswd").args(["-Bbn", user, pass]).output().expect("htpasswd (apache2-utils) is needed");
            assert!(out.status.success());
            std::fs::write(dir.join("htpasswd"), &out.stdout).unwrap();
            auth = format!("auth:\n  htpasswd:\n    realm: test\n    path: {}\n", dir.join("htpasswd").display());
        }
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{auth}",
            dir.join("storage").display()
        );
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let child = Command::new("docker-registry").arg("serve").arg(dir.join("config.yml")).stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
        let r = OwnRegistry { dir, child, addr, basic: basic.map(|(u, p)| (u.to_string(), p.to_string())) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&r.addr).is_err() {
            assert!(Instant::now() < deadline, "registry did not start: {}", std::fs::read_to_string(r.dir.join("registry.log")).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    fn request(&self, method: &str, url: &str) -> ureq::Request {
        let req = ureq::request(method, url);
        match &self.basic {
            Some((u, p)) => {
                let token = dockbox::base64::encode(format!("{u}:{p}").as_bytes());
                req.set("Authorization", &format!("Basic {token}"))
            }
            None => req,
        }
    }

    fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha(data);
        let resp = self.request("POST", &format!("http://{}/v2/{repo}/blobs/uploads/", self.addr)).call().unwrap();
        let location = resp.header("Location").unwrap().to_string();
        let location = if location.starts_with('/') { format!("http://{}{location}", self.addr) } else { location };
        let sep = if location.contains('?') { '&' } else { '?' };
        self.request("PUT", &format!("{location}{sep}digest={digest}")).set("Content-Type", "application/octet-stream").send_bytes(data).unwrap();
        digest
    }

    fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> String {
        self.request("PUT", &format!("http://{}/v2/{repo}/manifests/{reference}", self.addr)).set("Content-Type", media_type).send_bytes(body).unwrap();
        sha(body)
    }

    /// Pushes an image of `layers` (already compressed blobs with their media types and the
    /// uncompressed tars' digests); returns (manifest bytes, manifest digest).
    fn push_image(&self, repo: &str, tag: Option<&str>, arch: &str, layers: &[Layer]) -> (Vec<u8>, String) {
        let diff_ids: Vec<String> = layers.iter().map(|l| sha(&l.tar)).collect();
        let (arch, variant) = arch.split_once('/').map(|(a, v)| (a, Some(v))).unwrap_or((arch, None));
        let mut config = json!({
            "architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        if let Some(v) = variant {
            config["variant"] = json!(v);
        }
        let config = serde_json::to_vec(&config).unwrap();
        let config_digest = self.push_blob(repo, &config);
        let mut descriptors = Vec::new();
        for l in layers {
            let d = self.push_blob(repo, &l.blob);
            descriptors.push(json!({"mediaType": l.media_type, "digest": d, "size": l.blob.len()}));
        }
        let manifest = json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": descriptors,
        });
        let bytes = serde_json::to_vec(&manifest).unwrap();
        let digest = sha(&bytes);
        self.put_manifest(repo, tag.unwrap_or(&digest), "application/vnd.oci.image.manifest.v1+json", &bytes);
        (bytes, digest)
    }

    fn blob_data_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir.join("storage/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }
}

impl Drop for OwnRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A layer: the uncompressed tar, and the blob as pushed.
struct Layer {
    tar: Vec<u8>,
    blob: Vec<u8>,
    media_type: &'static str,
}

enum Compression {
    Gzip,
    Zstd,
    None,
}

fn layer(tar: Vec<u8>, c: Compression) -> Layer {
    match c {
        Compression::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&tar).unwrap();
            Layer { blob: gz.finish().unwrap(), tar, media_type: "application/vnd.oci.image.layer.v1.tar+gzip" }
        }
        Compression::Zstd => {
            let blob = ruzstd::encoding::compress_to_vec(&tar[..], ruzstd::encoding::CompressionLevel::Fastest);
            Layer { blob, tar, media_type: "application/vnd.oci.image.layer.v1.tar+zstd" }
        }
        Compression::None => Layer { blob: tar.clone(), tar, media_type: "application/vnd.oci.image.layer.v1.tar" },
    }
}

/// A tar of (path, Some(content) for a file / None for a directory).
fn tar_of(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match content {
            Some(data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, *data).unwrap();
            }
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, path, &[][..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn busybox_tar() -> Vec<u8> {
    let root = TempDir::new("pf-rootfs");
    common::busybox_rootfs(root.path());
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", root.path()).unwrap();
    b.into_inner().unwrap()
}

/// Random-ish incompressible bytes, so a layer is big enough to cut in the middle.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Our dockerd on a data root we choose, restartable, killable with SIGKILL.
struct Daemon {
    tmp: TempDir,
    data_root: PathBuf,
    child: Option<Child>,
    args: Vec<String>,
}

impl Daemon {
    fn start(data_root: Option<PathBuf>, args: &[&str]) -> Daemon {
        dockbox::sys::set_child_subreaper().unwrap();
        let tmp = TempDir::new("pf-dockerd");
        let data_root = data_root.unwrap_or_else(|| tmp.join("data"));
        let mut d = Daemon { tmp, data_root, child: None, args: args.iter().map(|s| s.to_string()).collect() };
        d.spawn();
        d
    }

    fn sock(&self) -> PathBuf {
        self.tmp.join("docker.sock")
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.tmp.join("dockerd.log")).unwrap();
        let child = applet("dockerd")
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("--exec-root")
            .arg(self.tmp.join("exec"))
            .arg("--pidfile")
            .arg(self.tmp.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", self.sock().display()))
            // No default bridge and no firewall rules on the host: these tests pull.
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false"])
            .args(&self.args)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = self.docker(&["version", "--format", "{{.Server.Version}}"]).status.success();
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "dockerd did not answer: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.tmp.join("dockerd.log")).unwrap_or_default()
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.docker_cmd(args).output().unwrap()
    }

    fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = applet("docker");
        c.arg("-H").arg(format!("unix://{}", self.sock().display())).args(args).env("DOCKER_CONFIG", self.tmp.join("docker-config")).stdin(Stdio::null());
        c
    }

    /// SIGKILL of dockerd and what it started (containerd), as a crash would.
    fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        for pid in common::processes_mentioning(self.tmp.path()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        let _ = child.kill();
        let _ = child.wait();
        reap();
        let _ = std::fs::remove_file(self.tmp.join("docker.pid"));
    }

    fn api_get(&self, path: &str) -> Value {
        let c = Command::new("curl").arg("-sS").arg("--unix-socket").arg(self.sock()).arg(format!("http://d{path}")).output().unwrap();
        serde_json::from_slice(&c.stdout).unwrap_or(Value::Null)
    }

    /// Every tag in the store, one a line.
    fn image_names(&self) -> String {
        let list = self.api_get("/images/json");
        list.as_array().unwrap().iter().flat_map(|i| i["RepoTags"].as_array().cloned().unwrap_or_default()).map(|t| format!("{}\n", t.as_str().unwrap())).collect()
    }
}

fn reap() {
    while let Ok(status) = nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
        if status == nix::sys::wait::WaitStatus::StillAlive {
            break;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            common::stop_daemon(child);
        }
        for pid in common::processes_mentioning(self.tmp.path()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        reap();
        for m in common::mounts_under(&self.data_root).into_iter().rev() {
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// What the proxy does to GETs of one blob.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    /// Send `n` bytes of the first GET's body, then close the connection.
    CutOnce(usize),
    /// Send `n` bytes of every GET without a Range, then hang until released.
    Stall(usize),
    /// Send `n` bytes of every GET, ranged or not, then close the connection: a network that
    /// keeps failing.
    AlwaysCut(usize),
}

/// A TCP proxy in front of the registry that misbehaves on one blob.
struct Proxy {
    addr: String,
    range_requests: Arc<AtomicUsize>,
    /// The digest of every blob GET that went through, in order.
    blob_gets: Arc<Mutex<Vec<String>>>,
    release: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: &str, digest: &str, fault: Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let range_requests = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(AtomicBool::new(false));
        let stopped = Arc::new(AtomicBool::new(false));
        let cut_done = Arc::new(Mutex::new(false));
        let blob_gets = Arc::new(Mutex::new(Vec::new()));
        let (upstream, digest) = (upstream.to_string(), digest.to_string());
        let (ranges, rel, stop, gets) = (range_requests.clone(), release.clone(), stopped.clone(), blob_gets.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let (upstream, digest, ranges, rel, cut_done, gets) = (upstream.clone(), digest.clone(), ranges.clone(), rel.clone(), cut_done.clone(), gets.clone());
                std::thread::spawn(move || {
                    let _ = proxy_one(client, &upstream, &digest, fault, &ranges, &rel, &cut_done, &gets);
                });
            }
        });
        Proxy { addr, range_requests, blob_gets, release, stopped }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.release.store(true, Ordering::Relaxed);
        self.stopped.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(&self.addr);
    }
}

fn read_head(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(head)
}

/// One request per connection (we ask the registry to close after it), so a fault hits
/// exactly the request it is meant for.
#[allow(clippy::too_many_arguments)]
fn proxy_one(mut client: TcpStream, upstream: &str, digest: &str, fault: Fault, ranges: &AtomicUsize, release: &AtomicBool, cut_done: &Mutex<bool>, gets: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let head = common::read_request_head(&mut client)?;
    let text = String::from_utf8_lossy(&head).to_string();
    let request_line = text.lines().next().unwrap_or("");
    if let (true, Some((_, blob))) = (request_line.starts_with("GET "), request_line.split_once("/blobs/")) {
        gets.lock().unwrap().push(blob.split(' ').next().unwrap_or("").to_string());
    }
    let has_range = text.lines().any(|l| l.to_ascii_lowercase().starts_with("range:"));
    let is_target = text.starts_with("GET ") && text.lines().next().unwrap_or("").contains(&format!("/blobs/{digest}"));
    if is_target && has_range {
        ranges.fetch_add(1, Ordering::SeqCst);
    }
    let mut server = TcpStream::connect(upstream)?;
    let mut rewritten = text.trim_end_matches("\r\n").lines().filter(|l| !l.to_ascii_lowercase().starts_with("connection:")).collect::<Vec<_>>().join("\r\n");
    rewritten.push_str("\r\nConnection: close\r\n\r\n");
    server.write_all(rewritten.as_bytes())?;
    let limit = match fault {
        Fault::CutOnce(n) if is_target && !has_range => {
            let mut done = cut_done.lock().unwrap();
            if *done {
                None
            } else {
                *done = true;
                Some(n)
            }
        }
        Fault::Stall(n) if is_target && !has_range => Some(n),
        Fault::AlwaysCut(n) if is_target => Some(n),
        _ => None,
    };
    match limit {
        None => {
            std::io::copy(&mut server, &mut client)?;
        }
        Some(n) => {
            let response_head = read_head(&mut server)?;
            client.write_all(&response_head)?;
            let mut body = vec![0u8; n];
            server.read_exact(&mut body)?;
            client.write_all(&body)?;
            client.flush()?;
            if let Fault::Stall(_) = fault {
                while !release.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }
    let _ = client.shutdown(std::net::Shutdown::Both);
    Ok(())
}

fn pulled_ok(o: &Output) -> bool {
    o.status.success()
}

#[test]
fn layers_with_whiteouts_in_gzip_zstd_and_plain_tar() {
    if !require_root() {
        return;
    }
    let reg = OwnRegistry::start(None);
    let base = layer(busybox_tar(), Compression::Gzip);
    let second = layer(tar_of(&[("data", None), ("data/a", Some(b"a")), ("data/b", Some(b"b")), ("gone", Some(b"x"))]), Compression::Zstd);
    let third = layer(tar_of(&[(".wh.gone", Some(b"")), ("data", None), ("data/.wh..wh..opq", Some(b"")), ("data/c", Some(b"c"))]), Compression::None);
    reg.push_image("layers", Some("v1"), "amd64", &[base, second, third]);
    let d = Daemon::start(None, &["--max-concurrent-downloads", "1"]);
    let image = format!("{}/layers:v1", reg.addr);
    let out = d.docker(&["pull", &image]);
    assert!(pulled_ok(&out), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Pull complete") && text.contains(&format!("Status: Downloaded newer image for {image}")), "{text}");
    assert_eq!(text.matches(": Waiting").count(), 2, "one download at a time: {text}");
    let run = d.docker(&["run", "--rm", &image, "sh", "-c", "ls /data; cat /data/c; test -e /gone && echo present || echo absent"]);
    assert_eq!(stdout(&run), "c\ncabsent\n", "{}", stderr(&run));
    // Verified downloads are dropped once the image is committed.
    assert_eq!(std::fs::read_dir(d.data_root.join("blobs/sha256")).unwrap().count(), 0);
    // A second pull finds every layer present.
    let again = d.docker(&["pull", &image]);
    assert!(stdout(&again).contains("Image is up to date"), "{}", stdout(&again));
}

#[test]
fn manifest_list_is_resolved_for_this_machine_or_platform() {
    if !require_root() {
        return;
    }
    let reg = OwnRegistry::start(None);
    let host_arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    };
    let mut entries = Vec::new();
    for (arch, variant) in [("amd64", None), ("arm64", Some("v8")), ("arm", Some("v7")), ("arm", Some("v6"))] {
        let name = format!("{arch}{}", variant.unwrap_or(""));
        let l = layer(tar_of(&[("arch", Some(name.as_bytes()))]), Compression::Gzip);
        let (bytes, digest) = reg.push_image("multi", None, &format!("{arch}{}", variant.map(|v| format!("/{v}")).unwrap_or_default()), &[l]);
        let mut platform = json!({"os": "linux", "architecture": arch});
        if let Some(v) = variant {
            platform["variant"] = json!(v);
        }
        entries.push(json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": bytes.len(), "platform": platform}));
    }
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries})).unwrap();
    let index_digest = reg.put_manifest("multi", "latest", "application/vnd.oci.image.index.v1+json", &index);
    let d = Daemon::start(None, &[]);
    let image = format!("{}/multi", reg.addr);
    let arch_of = |d: &Daemon| {
        let v = d.api_get(&format!("/images/{image}/json"));
        format!("{}{}", v["Architecture"].as_str().unwrap_or(""), v["Variant"].as_str().unwrap_or(""))
    };
    let out = d.docker(&["pull", &image]);
    assert!(pulled_ok(&out), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(&format!("Digest: {index_digest}")), "{}", stdout(&out));
    assert_eq!(arch_of(&d), host_arch);
    for (platform, want) in [("linux/arm64", "arm64v8"), ("linux/arm/v6", "armv6"), ("linux/arm", "armv7")] {
        let out = d.docker(&["pull", "--platform", platform, &image]);
        assert!(pulled_ok(&out), "{platform}: {}{}", stdout(&out), stderr(&out));
        assert_eq!(arch_of(&d), want, "{platform}");
    }
    let out = d.docker(&["pull", "--platform", "linux/s390x", &image]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no matching manifest for linux/s390x in the manifest list entries"), "{}", stderr(&out));
    // As Docker's: said after "Pulling from", as the stream's error line (exit 1, no
    // "Error response from daemon"), with the real CLIs too.
    assert_eq!(stdout(&out), "Using default tag: latest\nlatest: Pulling from multi\n");
    for cli in common::real_clis() {
        let o = Command::new(cli).arg("-H").arg(format!("unix://{}", d.sock().display())).args(["pull", "--platform", "linux/s390x", &image]).env("DOCKER_CONFIG", d.tmp.join("docker-config")).output().unwrap();
        assert_eq!((o.status.code(), stderr(&o).trim()), (Some(1), "no matching manifest for linux/s390x in the manifest list entries"), "{cli}: {}", stdout(&o));
        assert!(stdout(&o).ends_with("latest: Pulling from multi\n"), "{cli}: {}", stdout(&o));
    }
}

#[test]
fn basic_auth_registry_with_login_and_logout() {
    if !require_root() {
        return;
    }
    let reg = OwnRegistry::start(Some(("alice", "s3cret")));
    reg.push_image("private", Some("latest"), "amd64", &[layer(tar_of(&[("secret", Some(b"42"))]), Compression::Gzip)]);
    let d = Daemon::start(None, &[]);
    let image = format!("{}/private", reg.addr);
    let denied = d.docker(&["pull", &image]);
    assert!(!denied.status.success());
    assert!(stderr(&denied).contains("pull access denied") || stderr(&denied).contains("unauthorized"), "{}", stderr(&denied));

    let bad = d.docker(&["login", "-u", "alice", "-p", "wrong", &reg.addr]);
    assert!(!bad.status.success(), "{}", stdout(&bad));
    assert!(!d.tmp.join("docker-config/config.json").exists() || !std::fs::read_to_string(d.tmp.join("docker-config/config.json")).unwrap().contains(&reg.addr));

    let mut login = d.docker_cmd(&["login", "-u", "alice", "--password-stdin", &reg.addr]);
    let mut child = login.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let ok = child.wait_with_output().unwrap();
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert_eq!(stdout(&ok), "Login Succeeded\n");
    let config: Value = serde_json::from_slice(&std::fs::read(d.tmp.join("docker-config/config.json")).unwrap()).unwrap();
    assert_eq!(config["auths"][&reg.addr]["auth"], json!(dockbox::base64::encode(b"alice:s3cret")));

    let pulled = d.docker(&["pull", &image]);
    assert!(pulled.status.success(), "{}", stderr(&pulled));

    let out = d.docker(&["logout", &reg.addr]);
    assert_eq!(stdout(&out), format!("Removing login credentials for {}\n", reg.addr));
    let config: Value = serde_json::from_slice(&std::fs::read(d.tmp.join("docker-config/config.json")).unwrap()).unwrap();
    assert!(config["auths"].get(&reg.addr).is_none());
    assert!(!d.docker(&["pull", &format!("{image}:other")]).status.success());
    assert_eq!(stdout(&d.docker(&["logout", &reg.addr])), format!("Not logged in to {}\n", reg.addr));
}

#[test]
fn corrupted_blob_is_rejected_and_nothing_is_stored() {
    if !require_root() {
        return;
    }
    let reg = OwnRegistry::start(None);
    let l = layer(tar_of(&[("file", Some(&noise(100_000, 7)))]), Compression::None);
    let digest = sha(&l.blob);
    reg.push_image("corrupt", Some("latest"), "amd64", &[l]);
    let path = reg.blob_data_path(&digest);
    let mut data = std::fs::read(&path).unwrap();
    data[50_000] ^= 0xff;
    std::fs::write(&path, &data).unwrap();
    let d = Daemon::start(None, &[]);
    let out = d.docker(&["pull", &format!("{}/corrupt", reg.addr)]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&format!("filesystem layer verification failed for digest {digest}")), "{}", stderr(&out));
    assert_eq!(d.image_names(), "");
    for dir in ["blobs/sha256", "blobs/partial", "tmp"] {
        assert_eq!(std::fs::read_dir(d.data_root.join(dir)).unwrap().count(), 0, "{dir}");
    }
}

#[test]
fn connection_cut_mid_layer_is_resumed_with_range() {
    if !require_root() {
        return;
    }
    let reg = OwnRegistry::start(None);
    let l = layer(tar_of(&[("big", Some(&noise(2_000_000, 11)))]), Compression::None);
    let digest = sha(&l.blob);
    reg.push_image("cut", Some("latest"), "amd64", &[l]);
    let proxy = Proxy::start(&reg.addr, &digest, Fault::CutOnce(700_000));
    let d = Daemon::start(None, &[]);
    let out = d.docker(&["pull", &format!("{}/cut", proxy.addr)]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(proxy.range_requests.load(Ordering::SeqCst) >= 1, "the rest was fetched with a Range request");
    assert!(d.image_names().contains("/cut:latest"), "{}", d.image_names());
}

#[test]
fn dockerd_killed_mid_pull_keeps_the_store_and_resumes() {
    if !require_root() {
        return;
    }
    let reg = OwnRegistry::start(None);
    reg.push_image("first", Some("latest"), "amd64", &[layer(tar_of(&[("one", Some(b"1"))]), Compression::Gzip)]);
    let small = layer(tar_of(&[("small", Some(&noise(50_000, 3)))]), Compression::Gzip);
    let big = layer(tar_of(&[("big", Some(&noise(1_500_000, 5)))]), Compression::None);
    let (small_digest, small_chain, big_digest) = (sha(&small.blob), sha(&small.tar), sha(&big.blob));
    reg.push_image("second", Some("latest"), "amd64", &[small, big]);
    let proxy = Proxy::start(&reg.addr, &big_digest, Fault::Stall(600_000));
    let mut d = Daemon::start(None, &[]);
    let first = format!("{}/first", proxy.addr);
    assert!(d.docker(&["pull", &first]).status.success());

    let second = format!("{}/second", proxy.addr);
    let mut pull = d.docker_cmd(&["pull", &second]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // The small layer is committed, the big one half extracted into its staging directory.
    wait_for_staged(&d, "big", 500_000);
    let small_layer = d.data_root.join("image/overlay2/layerdb/sha256").join(&small_chain[7..]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !small_layer.exists() {
        assert!(Instant::now() < deadline, "the small layer was never committed");
        std::thread::sleep(Duration::from_millis(50));
    }
    d.kill9();
    let _ = pull.wait();
    d.spawn();
    let names = d.image_names();
    assert!(names.contains("/first:latest") && !names.contains("/second"), "{names}");
    assert!(small_layer.exists(), "the finished layer was kept");
    assert_eq!(names_in(&d.data_root.join("tmp")), Vec::<String>::new(), "the half-extracted layer is gone after the start");
    // Written once: no compressed blob was kept anywhere.
    for dir in ["blobs/sha256", "blobs/partial"] {
        assert_eq!(names_in(&d.data_root.join(dir)), Vec::<String>::new(), "{dir}");
    }
    proxy.release.store(true, Ordering::Relaxed);
    let gets_before = proxy.blob_gets.lock().unwrap().len();
    let out = d.docker(&["pull", &second]);
    assert!(out.status.success(), "{}{}\n{}", stdout(&out), stderr(&out), d.log());
    // The next pull starts at the layer it was on: the finished one is not fetched again.
    let again: Vec<String> = proxy.blob_gets.lock().unwrap()[gets_before..].to_vec();
    assert!(!again.contains(&small_digest), "the finished layer was downloaded again: {again:?}");
    assert!(again.contains(&big_digest), "{again:?}");
    assert!(stdout(&out).contains(&format!("{}: Already exists", &small_digest[7..19])), "{}", stdout(&out));
    let names = d.image_names();
    assert!(names.contains("/first:latest") && names.contains("/second:latest"), "{names}");
    let sizes: Vec<u64> = std::fs::read_dir(d.data_root.join("overlay2")).unwrap().flatten().filter_map(|e| std::fs::metadata(e.path().join("diff/big")).ok()).map(|m| m.len()).collect();
    assert_eq!(sizes, [1_500_000], "the big layer is whole");
}

/// Waits until the file `name` of a layer being pulled holds `bytes` in its staging directory.
fn wait_for_staged(d: &Daemon, name: &str, bytes: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let staged = std::fs::read_dir(d.data_root.join("tmp")).into_iter().flatten().flatten().filter_map(|e| std::fs::metadata(e.path().join("diff").join(name)).ok()).map(|m| m.len()).max();
        if staged.unwrap_or(0) >= bytes {
            return;
        }
        assert!(Instant::now() < deadline, "the stalled layer never got its first bytes");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn names_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
}

#[test]
fn rmi_during_a_pull_keeps_the_layer_the_pull_found() {
    if !require_root() {
        return;
    }
    let reg = OwnRegistry::start(None);
    let base = layer(busybox_tar(), Compression::Gzip);
    let top = layer(tar_of(&[("top", Some(&noise(1_500_000, 11)))]), Compression::None);
    let (base_chain, top_digest) = (sha(&base.tar), sha(&top.blob));
    reg.push_image("base", Some("latest"), "amd64", std::slice::from_ref(&base));
    reg.push_image("both", Some("latest"), "amd64", &[base, top]);
    let proxy = Proxy::start(&reg.addr, &top_digest, Fault::Stall(600_000));
    let d = Daemon::start(None, &[]);
    let (base_ref, both_ref) = (format!("{}/base", proxy.addr), format!("{}/both", proxy.addr));
    assert!(d.docker(&["pull", &base_ref]).status.success());
    let base_id = String::from_utf8(d.docker(&["inspect", "--format", "{{.Id}}", &base_ref]).stdout).unwrap().trim().to_string();

    // The pull has found the shared layer present ("Already exists") and is downloading the
    // other: removing the only image with that layer must leave it to the pull.
    let pull = d.docker_cmd(&["pull", &both_ref]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    wait_for_staged(&d, "top", 500_000);
    let out = d.docker(&["rmi", "-f", &base_ref]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).ends_with(&format!("Deleted: {base_id}\n")), "the image goes, not the layer the pull holds: {}", stdout(&out));
    assert!(d.data_root.join("image/overlay2/layerdb/sha256").join(&base_chain[7..]).exists());
    proxy.release.store(true, Ordering::Relaxed);
    let pulled = pull.wait_with_output().unwrap();
    assert!(pulled.status.success(), "{}{}", stdout(&pulled), stderr(&pulled));
    assert!(stdout(&pulled).contains(": Already exists\n"), "{}", stdout(&pulled));
    let out = d.docker(&["run", "--rm", &both_ref, "cat", "/etc/passwd"]);
    assert!(stdout(&out).starts_with("root:x:0:0:"), "the image stands on its shared layer: {}{}", stdout(&out), stderr(&out));
}

#[test]
fn prune_reclaims_what_a_killed_pull_left() {
    if !require_root() {
        return;
    }
    let reg = OwnRegistry::start(None);
    let small = layer(tar_of(&[("small", Some(&noise(50_000, 3)))]), Compression::Gzip);
    let big = layer(tar_of(&[("big", Some(&noise(1_500_000, 5)))]), Compression::None);
    let (small_chain, big_digest) = (sha(&small.tar), sha(&big.blob));
    reg.push_image("second", Some("latest"), "amd64", &[small, big]);
    let proxy = Proxy::start(&reg.addr, &big_digest, Fault::Stall(600_000));
    let mut d = Daemon::start(None, &[]);
    let second = format!("{}/second", proxy.addr);
    let mut pull = d.docker_cmd(&["pull", &second]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_for_staged(&d, "big", 500_000);
    let small_layer = d.data_root.join("image/overlay2/layerdb/sha256").join(&small_chain[7..]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !small_layer.exists() {
        assert!(Instant::now() < deadline, "the small layer was never committed");
        std::thread::sleep(Duration::from_millis(50));
    }
    d.kill9();
    let _ = pull.wait();
    d.spawn();

    // Kept for a resume: the committed layer (no blob: layers are written once).
    let layer_size: u64 = std::fs::read_to_string(small_layer.join("size")).unwrap().trim().parse().unwrap();
    let abandoned = layer_size;
    assert_eq!(d.api_get("/system/df")["LayersSize"].as_u64(), Some(abandoned), "df counts them");
    let out = d.docker(&["system", "df"]);
    let images_row: Vec<String> = stdout(&out).lines().nth(1).unwrap().split_whitespace().map(String::from).collect();
    assert_eq!(images_row[1..3], ["0", "0"]);
    assert_eq!(images_row[3], dockbox::units::human_size(abandoned as f64));
    assert_eq!(images_row[4..], [dockbox::units::human_size(abandoned as f64), "(100%)".into()], "all reclaimable");

    let c = Command::new("curl").arg("-sS").arg("-XPOST").arg("--unix-socket").arg(d.sock()).arg("http://d/images/prune").output().unwrap();
    let report: Value = serde_json::from_slice(&c.stdout).unwrap();
    assert_eq!(report, json!({"ImagesDeleted": [{"Deleted": small_chain}], "SpaceReclaimed": abandoned}));
    for dir in ["blobs/sha256", "blobs/partial", "image/overlay2/layerdb/sha256"] {
        assert_eq!(names_in(&d.data_root.join(dir)), Vec::<String>::new(), "{dir}");
    }
    assert_eq!(names_in(&d.data_root.join("overlay2")), ["l"]);
    assert_eq!(d.api_get("/system/df")["LayersSize"].as_u64(), Some(0));

    // The store is whole: the pull starts over and completes.
    proxy.release.store(true, Ordering::Relaxed);
    let out = d.docker(&["pull", &second]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn full_disk_mid_pull_is_a_clear_error_and_the_store_recovers() {
    if !require_root() {
        return;
    }
    let reg = OwnRegistry::start(None);
    reg.push_image("tiny", Some("latest"), "amd64", &[layer(tar_of(&[("t", Some(b"t"))]), Compression::Gzip)]);
    reg.push_image("huge", Some("latest"), "amd64", &[layer(tar_of(&[("h", Some(&noise(4_000_000, 9)))]), Compression::None)]);
    let mnt = TempDir::new("pf-tmpfs");
    let data = mnt.join("data");
    std::fs::create_dir_all(&data).unwrap();
    nix::mount::mount(Some("tmpfs"), &data, Some("tmpfs"), nix::mount::MsFlags::empty(), Some("size=3m")).unwrap();
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    let _unmount = Unmount(data.clone());
    {
        let d = Daemon::start(Some(data.clone()), &[]);
        let out = d.docker(&["pull", &format!("{}/huge", reg.addr)]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains("no space left on device"), "{}", stderr(&out));
        assert_eq!(d.image_names(), "");
        let out = d.docker(&["pull", &format!("{}/tiny", reg.addr)]);
        assert!(out.status.success(), "after a failed pull the space is free again: {}", stderr(&out));
        assert!(d.image_names().contains("/tiny:latest"));
    }
}

#[test]
fn overlay2_and_vfs_run_containers_and_report_their_changes() {
    if !require_root() {
        return;
    }
    let reg = OwnRegistry::start(None);
    reg.push_image("bb", Some("latest"), "amd64", &[layer(busybox_tar(), Compression::Gzip), layer(tar_of(&[("tmp/old", Some(b"o"))]), Compression::Gzip)]);
    let image = format!("{}/bb", reg.addr);
    for driver in ["overlay2", "vfs"] {
        let d = Daemon::start(None, &["--storage-driver", driver]);
        assert!(d.docker(&["pull", &image]).status.success(), "{driver}");
        let run = d.docker(&["run", "--name", "changed", &image, "sh", "-c", "echo hi > /new && rm /etc/group /tmp/old && echo x >> /etc/passwd && mkdir -p /var/d && echo ok"]);
        assert_eq!(stdout(&run), "ok\n", "{driver}: {}", stderr(&run));
        let diff = stdout(&d.docker(&["diff", "changed"]));
        let lines: Vec<&str> = diff.lines().collect();
        for want in ["A /new", "C /etc", "D /etc/group", "C /etc/passwd", "C /tmp", "D /tmp/old", "A /var", "A /var/d"] {
            assert!(lines.contains(&want), "{driver}: {want} missing from\n{diff}");
        }
        assert!(!lines.iter().any(|l| l.ends_with("/etc/hosts") || l.ends_with("/.dockerenv")), "{driver}: init layer entries are not changes\n{diff}");
        if driver == "vfs" {
            assert_eq!(std::fs::read_dir(d.data_root.join("vfs/dir")).unwrap().count(), 1);
            assert!(common::mounts_under(&d.data_root).is_empty(), "vfs mounts nothing");
        }
        assert!(d.docker(&["rm", "changed"]).status.success());
        if driver == "vfs" {
            assert_eq!(std::fs::read_dir(d.data_root.join("vfs/dir")).unwrap().count(), 0);
        }
    }
}

/// A token server and a gate in front of the registry, on one port: `/token` hands out a
/// Bearer token for Basic `bob:pw` (recording the scope and service asked for), and every
/// `/v2/` request without that token gets Docker Hub's 401 challenge; with it, the request
/// goes on to the registry.
fn token_gate(upstream: &str, scopes: Arc<Mutex<Vec<String>>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (upstream, me) = (upstream.to_string(), addr.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut client) = conn else { continue };
            let (upstream, me, scopes) = (upstream.clone(), me.clone(), scopes.clone());
            std::thread::spawn(move || {
                let Ok(head) = common::read_request_head(&mut client) else { return };
                let text = String::from_utf8_lossy(&head).to_string();
                let target = text.split_whitespace().nth(1).unwrap_or("").to_string();
                let header = |name: &str| text.lines().find(|l| l.to_ascii_lowercase().starts_with(&format!("{name}:"))).map(|l| l[name.len() + 1..].trim().to_string());
                let reply = |client: &mut TcpStream, status: &str, extra: &str, body: &str| {
                    let _ = write!(client, "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n{extra}\r\n{body}", body.len());
                };
                if target.starts_with("/token") {
                    scopes.lock().unwrap().push(target.clone());
                    if header("authorization").as_deref() == Some(&format!("Basic {}", dockbox::base64::encode(b"bob:pw"))) {
                        reply(&mut client, "200 OK", "", r#"{"token":"good-token","expires_in":300}"#);
                    } else {
                        reply(&mut client, "401 Unauthorized", "", r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#);
                    }
                    return;
                }
                if header("authorization").as_deref() != Some("Bearer good-token") {
                    let repo = target.strip_prefix("/v2/").and_then(|r| r.split("/manifests/").next().or(r.split("/blobs/").next())).unwrap_or("");
                    let scope = if repo.is_empty() || target == "/v2/" { String::new() } else { format!(",scope=\"repository:{repo}:pull\"") };
                    let challenge = format!("WWW-Authenticate: Bearer realm=\"http://{me}/token\",service=\"gate\"{scope}\r\n");
                    reply(&mut client, "401 Unauthorized", &challenge, r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#);
                    return;
                }
                let Ok(mut server) = TcpStream::connect(&upstream) else { return };
                let rewritten: String = text.trim_end_matches("\r\n").lines().filter(|l| !l.to_ascii_lowercase().starts_with("connection:")).collect::<Vec<_>>().join("\r\n");
                let _ = server.write_all(format!("{rewritten}\r\nConnection: close\r\n\r\n").as_bytes());
                let _ = std::io::copy(&mut server, &mut client);
            });
        }
    });
    addr
}

#[test]
fn bearer_token_flow_with_stored_credentials() {
    if !require_root() {
        return;
    }
    let reg = OwnRegistry::start(None);
    reg.push_image("tokened", Some("latest"), "amd64", &[layer(tar_of(&[("t", Some(b"t"))]), Compression::Gzip)]);
    let scopes = Arc::new(Mutex::new(Vec::new()));
    let gate = token_gate(&reg.addr, scopes.clone());
    let d = Daemon::start(None, &[]);
    let image = format!("{gate}/tokened");
    let denied = d.docker(&["pull", &image]);
    assert!(!denied.status.success());
    assert!(stderr(&denied).contains("authentication required"), "{}", stderr(&denied));
    assert!(!d.docker(&["login", "-u", "bob", "-p", "nope", &gate]).status.success());
    let login = d.docker(&["login", "-u", "bob", "-p", "pw", &gate]);
    assert!(login.status.success(), "{}", stderr(&login));
    assert!(stderr(&login).contains("WARNING! Using --password via the CLI is insecure"));
    let out = d.docker(&["pull", &image]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let asked = scopes.lock().unwrap().clone();
    assert!(asked.iter().any(|t| t.contains("scope=repository%3Atokened%3Apull") && t.contains("service=gate")), "{asked:?}");
}

#[test]
fn all_tags_quiet_default_tag_and_an_index_entry_by_digest() {
    if !require_root() {
        return;
    }
    let reg = OwnRegistry::start(None);
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    };
    for tag in ["one", "two"] {
        reg.push_image("tags", Some(tag), arch, &[layer(tar_of(&[("tag", Some(tag.as_bytes()))]), Compression::Gzip)]);
    }
    let (entry_bytes, entry_digest) = reg.push_image("multi", None, arch, &[layer(tar_of(&[("entry", Some(b"host".as_slice()))]), Compression::Gzip)]);
    let other = reg.push_image("multi", None, "s390x", &[layer(tar_of(&[("entry", Some(b"s390x".as_slice()))]), Compression::Gzip)]);
    let entry = |bytes: &[u8], digest: &str, arch: &str| json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": bytes.len(), "platform": {"os": "linux", "architecture": arch}});
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [entry(&entry_bytes, &entry_digest, arch), entry(&other.0, &other.1, "s390x")]})).unwrap();
    reg.put_manifest("multi", "latest", "application/vnd.oci.image.index.v1+json", &index);
    let repo = format!("{}/tags", reg.addr);

    let clis: Vec<Option<&str>> = common::clients();
    for cli in clis {
        let d = Daemon::start(None, &[]);
        let run = |args: &[&str]| match cli {
            Some(cli) => Command::new(cli).arg("-H").arg(format!("unix://{}", d.sock().display())).args(args).env("DOCKER_CONFIG", d.tmp.join("docker-config")).stdin(Stdio::null()).output().unwrap(),
            None => d.docker(args),
        };
        // Every tag, one status for the repository, and the repository printed last.
        let out = run(&["pull", "--all-tags", &repo]);
        assert!(out.status.success(), "{cli:?}: {}{}", stdout(&out), stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("one: Pulling from tags") && text.contains("two: Pulling from tags"), "{cli:?}: {text}");
        assert!(text.contains(&format!("Status: Downloaded newer image for {repo}\n")), "{cli:?}: {text}");
        assert_eq!(text.lines().last(), Some(repo.as_str()), "{cli:?}: {text}");
        assert_eq!(d.image_names().lines().filter(|l| l.starts_with(&repo)).count(), 2, "{cli:?}: {}", d.image_names());
        let out = run(&["pull", "-a", &format!("{repo}:one")]);
        assert_eq!((out.status.code(), stderr(&out).trim()), (Some(1), "tag can't be used with --all-tags/-a"), "{cli:?}");

        // No tag: "latest", said first; --quiet prints the reference alone.
        let multi = format!("{}/multi", reg.addr);
        let out = run(&["pull", &multi]);
        assert!(out.status.success(), "{cli:?}: {}", stderr(&out));
        assert!(stdout(&out).starts_with("Using default tag: latest\n"), "{cli:?}: {}", stdout(&out));
        let out = run(&["pull", "-q", &format!("{repo}:two")]);
        assert_eq!(stdout(&out), format!("{repo}:two\n"), "{cli:?}: {}", stderr(&out));

        // An index entry by its own digest: that image, with that digest in RepoDigests.
        let by_digest = format!("{multi}@{entry_digest}");
        let out = run(&["pull", &by_digest]);
        assert!(out.status.success(), "{cli:?}: {}{}", stdout(&out), stderr(&out));
        let v = d.api_get(&format!("/images/{by_digest}/json"));
        let digests: Vec<&str> = v["RepoDigests"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert!(digests.contains(&by_digest.as_str()) && digests.contains(&format!("{multi}@{}", sha(&index)).as_str()), "{cli:?}: {digests:?}");
    }
}

/// An ext4 file system of its own on a loop device, mounted `noatime` (so reading does not
/// dirty anything); unmounted and detached on drop.
struct LoopExt4 {
    _dir: TempDir,
    dev: String,
    mnt: PathBuf,
}

impl LoopExt4 {
    fn new(mib: u64) -> LoopExt4 {
        let dir = TempDir::new("pf-loop");
        let img = dir.join("ext4.img");
        std::fs::File::create(&img).unwrap().set_len(mib << 20).unwrap();
        assert!(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&img).status().unwrap().success());
        let out = Command::new("losetup").args(["-f", "--show"]).arg(&img).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let dev = stdout(&out).trim().to_string();
        let mnt = dir.join("mnt");
        std::fs::create_dir_all(&mnt).unwrap();
        let l = LoopExt4 { _dir: dir, dev, mnt };
        nix::mount::mount(Some(l.dev.as_str()), &l.mnt, Some("ext4"), nix::mount::MsFlags::MS_NOATIME, None::<&str>).unwrap();
        l
    }

    fn name(&self) -> &str {
        self.dev.trim_start_matches("/dev/")
    }

    /// The block device's `major:minor`.
    fn dev_numbers(&self) -> String {
        std::fs::read_to_string(format!("/sys/block/{}/dev", self.name())).unwrap().trim().to_string()
    }

    /// Bytes the device has had written to it.
    fn written(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/sys/block/{}/stat", self.name())).unwrap();
        stat.split_whitespace().nth(6).unwrap().parse::<u64>().unwrap() * 512
    }

    /// Dirty and under-writeback page cache of the device's file system, in kB (the
    /// backing device's own accounting in debugfs), if the kernel shows it.
    fn unwritten_kb(&self) -> Option<u64> {
        let stats = std::fs::read_to_string(format!("/sys/kernel/debug/bdi/{}/stats", self.dev_numbers())).ok()?;
        let field = |name: &str| stats.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<u64>().ok());
        Some(field("BdiReclaimable:")? + field("BdiWriteback:")?)
    }
}

impl Drop for LoopExt4 {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.mnt, nix::mount::MntFlags::MNT_DETACH);
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

fn files_under(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            files_under(&e.path(), out);
        } else if ft.is_file() {
            out.push(e.path());
        }
    }
}

#[test]
fn a_pull_writes_once_leaves_nothing_dirty_and_little_cached() {
    if !require_root() {
        return;
    }
    let reg = OwnRegistry::start(None);
    let layers: Vec<Layer> = (0..4).map(|i| layer(tar_of(&[(&format!("noise{i}"), Some(&noise(5 << 20, 100 + i as u64)))]), if i % 2 == 0 { Compression::Gzip } else { Compression::None })).collect();
    let plain_bytes: u64 = layers.iter().map(|l| l.tar.len() as u64).sum();
    reg.push_image("flash", Some("latest"), "amd64", &layers);
    // Declared first, dropped last: the daemon is gone before the file system goes.
    let fs = LoopExt4::new(256);
    let d = Daemon::start(Some(fs.mnt.join("data")), &[]);
    let before = fs.written();
    let out = d.docker(&["pull", &format!("{}/flash", reg.addr)]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // Read the moment the pull returns.
    let unwritten = fs.unwritten_kb();
    let written = fs.written() - before;

    eprintln!("pull onto a loop ext4: {written} bytes written for {plain_bytes} layer bytes, {unwritten:?} kB unwritten at return");
    // Durable when it returns: nothing of the store waits in the page cache for writeback.
    if let Some(kb) = unwritten {
        // The bdi counters are per-CPU sums read without folding: a few hundred kB of slack.
        assert!(kb <= 512, "{kb} kB of the store were not on disk when pull returned");
    }
    // Written once: the layers' bytes and the file system's metadata, not a blob besides.
    let ratio = written as f64 / plain_bytes as f64;
    assert!(ratio < 1.3, "{written} bytes written for {plain_bytes} bytes of layers ({ratio:.2}x)");
    // The extracted files left the page cache.
    let mut files = Vec::new();
    files_under(&fs.mnt.join("data/overlay2"), &mut files);
    let cached: u64 = files.iter().map(|f| dockbox::writeback::cached_bytes(&std::fs::File::open(f).unwrap()).unwrap()).sum();
    eprintln!("{cached} bytes of the pulled files cached");
    assert!(cached <= 8 << 20, "{cached} bytes of the pulled files are still cached");
    let sizes: u64 = files.iter().map(|f| std::fs::metadata(f).unwrap().len()).sum();
    assert!(sizes >= 20 << 20, "the layers were extracted: {sizes}");
}

#[test]
fn a_pull_cut_off_for_good_keeps_its_finished_layers_for_the_next() {
    if !require_root() {
        return;
    }
    let reg = OwnRegistry::start(None);
    let small = layer(tar_of(&[("small", Some(&noise(50_000, 3)))]), Compression::Gzip);
    let big = layer(tar_of(&[("big", Some(&noise(1_500_000, 5)))]), Compression::Gzip);
    let (small_digest, small_chain, big_digest) = (sha(&small.blob), sha(&small.tar), sha(&big.blob));
    reg.push_image("lossy", Some("latest"), "amd64", &[small, big]);
    let failing = Proxy::start(&reg.addr, &big_digest, Fault::AlwaysCut(100_000));
    let d = Daemon::start(None, &[]);
    let out = d.docker(&["pull", &format!("{}/lossy", failing.addr)]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains(&format!("error pulling layer {big_digest}")), "{}", stderr(&out));
    assert!(failing.range_requests.load(Ordering::SeqCst) >= 1, "the cut layer was continued with Range requests first");
    assert!(d.data_root.join("image/overlay2/layerdb/sha256").join(&small_chain[7..]).exists(), "the finished layer was kept");
    assert_eq!(names_in(&d.data_root.join("tmp")), Vec::<String>::new(), "the cut layer left nothing staged");

    // The network is back: only the layer the pull was on is fetched.
    let healthy = Proxy::start(&reg.addr, "sha256:none", Fault::CutOnce(0));
    let out = d.docker(&["pull", &format!("{}/lossy", healthy.addr)]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let gets = healthy.blob_gets.lock().unwrap().clone();
    assert!(!gets.contains(&small_digest) && gets.contains(&big_digest), "{gets:?}");
    assert!(stdout(&out).contains(&format!("{}: Already exists", &small_digest[7..19])), "{}", stdout(&out));
}
