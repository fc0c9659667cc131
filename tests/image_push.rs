//! Pushing what was pulled: the distribution metadata a pull records lets a push find the
//! very blobs it pulled (HEAD, or a mount from the repository it came from), so an unchanged
//! image keeps its manifest digest; a push cut short is retried to the same result.
//! Never pushes to the shared `busybox`/`hello-world` repositories: only to unique names.

mod common;

use common::{ok, stderr, Dockerd, TempDir};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &dockbox::ids::new_id()[..10])
}

/// The registry's manifest of `repo:tag` (`host:port/path`), as a Docker client asks for it.
fn manifest(repo_ref: &str) -> Value {
    let (repo, tag) = repo_ref.rsplit_once(':').filter(|(_, t)| !t.contains('/')).unwrap_or((repo_ref, "latest"));
    let (host, path) = repo.split_once('/').unwrap();
    let accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";
    let o = std::process::Command::new("curl").args(["-sSf", "-H", &format!("Accept: {accept}"), &format!("http://{host}/v2/{path}/manifests/{tag}")]).output().unwrap();
    assert!(o.status.success(), "manifest of {repo_ref}: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn layer_digests(m: &Value) -> Vec<String> {
    m["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_string()).collect()
}

/// The digest a push printed last (`tag: digest: sha256:... size: N`).
fn pushed_digest(out: &str) -> String {
    let last = out.lines().rfind(|l| l.contains(": digest: ")).unwrap_or_else(|| panic!("no digest line: {out}"));
    last.split_whitespace().nth(2).unwrap().to_string()
}

#[test]
fn a_pulled_image_is_pushed_by_the_digests_it_was_pulled_by() {
    let Some(d) = Dockerd::start() else { return };
    let source = d.registry.image("busybox");
    ok(&d.docker(&["pull", &source]), &d);
    let pulled = layer_digests(&manifest(&source));

    // Another repository of the same registry: the layer is mounted, not compressed again.
    let first = d.registry.image(&format!("{}/a", unique("pushpulled")));
    ok(&d.docker(&["tag", &source, &first]), &d);
    let out = ok(&d.docker(&["push", &first]), &d);
    assert!(out.contains(": Mounted from busybox") && !out.contains("Pushed"), "{out}");
    let pushed = manifest(&first);
    assert_eq!(layer_digests(&pushed), pulled, "{pushed}");
    assert_eq!(pushed["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
    let digest = pushed_digest(&out);

    // Pushed again: the registry has it; nothing uploaded, the same manifest.
    let out = ok(&d.docker(&["push", &first]), &d);
    assert!(out.contains(": Layer already exists") && !out.contains("Pushed") && !out.contains("Mounted"), "{out}");
    assert_eq!(pushed_digest(&out), digest);

    // A daemon that only pulled the pushed image pushes it, with the real CLI, under the
    // manifest digest it had: Docker's manifest bytes, the pulled layer digests.
    let Some(d2) = Dockerd::start() else { return };
    ok(&d2.docker(&["pull", &first]), &d2);
    let second = d.registry.image(&format!("{}/b", unique("pushpulled")));
    ok(&d2.docker(&["tag", &first, &second]), &d2);
    for cli in common::real_clis().into_iter().map(Some).chain([None]) {
        let o = match cli {
            Some(cli) => d2.real_docker(cli, &["push", &second]),
            None => d2.docker(&["push", &second]),
        };
        let out = ok(&o, &d2);
        assert_eq!(pushed_digest(&out), digest, "{cli:?}: {out}");
        assert!(!out.contains("Pushed"), "{cli:?}: {out}");
    }
    assert_eq!(layer_digests(&manifest(&second)), pulled);
    let inspect = ok(&d2.docker(&["image", "inspect", "--format", "{{json .RepoDigests}}", &second]), &d2);
    let digests: Vec<String> = serde_json::from_str(inspect.trim()).unwrap();
    assert!(digests.iter().any(|r| *r == format!("{}@{digest}", second)), "{digests:?}");
}

/// A TCP relay to `upstream` that, while `cut` is set, drops every connection once `limit`
/// bytes in all went up through it: a link that fails in the middle of an upload.
struct CuttingProxy {
    addr: String,
    cut: Arc<AtomicBool>,
}

impl CuttingProxy {
    fn start(upstream: String, limit: u64) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let cut = Arc::new(AtomicBool::new(true));
        let sent = Arc::new(AtomicU64::new(0));
        let flag = cut.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (mut s_in, mut c_out) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_in, &mut c_out);
                    let _ = c_out.shutdown(Shutdown::Both);
                });
                let (flag, sent) = (flag.clone(), sent.clone());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 << 10];
                    loop {
                        let n = match c_in.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if flag.load(Ordering::SeqCst) && sent.fetch_add(n as u64, Ordering::SeqCst) + n as u64 > limit {
                            break;
                        }
                        if s_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = s_out.shutdown(Shutdown::Both);
                    let _ = c_in.shutdown(Shutdown::Both);
                });
            }
        });
        CuttingProxy { addr, cut }
    }
}

#[test]
fn a_push_cut_mid_upload_fails_and_a_retry_completes_it() {
    let Some(d) = Dockerd::start() else { return };
    // A layer of its own, large enough to be cut in the middle of its upload.
    let tmp = TempDir::new("push-retry");
    let mut noise = vec![0u8; 3 << 20];
    std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut noise).unwrap();
    std::fs::write(tmp.join("noise"), &noise).unwrap();
    let tar = tmp.join("rootfs.tar");
    assert!(std::process::Command::new("tar").arg("-cf").arg(&tar).arg("-C").arg(tmp.path()).arg("noise").status().unwrap().success());

    let proxy = CuttingProxy::start(d.registry.addr.clone(), 1 << 20);
    let repo = format!("{}/{}", proxy.addr, unique("retried"));
    ok(&d.docker(&["import", tar.to_str().unwrap(), &repo]), &d);
    let o = d.docker(&["push", &repo]);
    assert_eq!(o.status.code(), Some(1), "a cut push must fail: {}{}", common::stdout(&o), stderr(&o));

    proxy.cut.store(false, Ordering::SeqCst);
    let out = ok(&d.docker(&["push", &repo]), &d);
    assert!(out.contains(": Pushed"), "{out}");
    let digest = pushed_digest(&out);
    let m = manifest(&format!("{repo}:latest"));
    assert!(m["layers"][0]["size"].as_u64().unwrap() > 3 << 20, "{m}");

    // What the registry holds is whole: a fresh daemon pulls it by digest (every blob
    // verified) and has the same image.
    let Some(d2) = Dockerd::start() else { return };
    ok(&d2.docker(&["pull", &format!("{repo}@{digest}")]), &d2);
    let id = |d: &Dockerd, r: &str| ok(&d.docker(&["image", "inspect", "--format", "{{.Id}}", r]), d);
    assert_eq!(id(&d2, &format!("{repo}@{digest}")), id(&d, &repo));
}
