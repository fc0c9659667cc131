//! How dockerd reaches registries, against Debian's docker-registry serving TLS with
//! certificates made here by openssl: unknown CAs refused with Go's error, CAs from
//! /etc/docker/certs.d and SSL_CERT_FILE, client certificates, insecure registries over
//! HTTPS without verification and over plain HTTP, a redirected blob losing the
//! Authorization header, and a Docker Hub mirror.
//!
//! Loopback registries are always insecure, so each TLS registry listens on a non-loopback
//! address of a network namespace made by the test (with dockerd inside it too): nothing can
//! leave the machine, not even Docker's fallback to Docker Hub.

mod common;

use common::{applet, read_request_head, require_root, stderr, stdout, Dockerd, NetNs, Registry, TempDir};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The registries' address inside their namespace (on its `lo`, so not loopback).
const REGISTRY_IP: &str = "10.213.0.1";

/// A namespace holding [`REGISTRY_IP`].
fn sealed_netns() -> NetNs {
    let ns = NetNs::new();
    ns.ip(&["addr", "add", &format!("{REGISTRY_IP}/32"), "dev", "lo"]);
    ns
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", stderr(&out));
    out
}

/// Certificates made with openssl: `ca.crt` signs `server.crt` (for REGISTRY_IP);
/// `client-ca.crt` signs `client.cert` (with `client.key`).
struct Pki {
    dir: TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = TempDir::new("pki");
        let openssl = |args: &[&str]| run(Command::new("openssl").args(args).current_dir(dir.path()));
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        for (ca, cn) in [("ca", "dockbox test CA"), ("client-ca", "dockbox test client CA")] {
            openssl(&[&["req", "-x509"], &ec[..], &["-keyout", &format!("{ca}.key"), "-out", &format!("{ca}.crt"), "-days", "3", "-subj", &format!("/CN={cn}")]].concat());
        }
        for (name, ca, ext, out) in [
            ("server", "ca", format!("subjectAltName=IP:{REGISTRY_IP}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"), "server.crt"),
            ("client", "client-ca", "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n".to_string(), "client.cert"),
        ] {
            std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
            openssl(&[&["req"], &ec[..], &["-keyout", &format!("{name}.key"), "-out", &format!("{name}.csr"), "-subj", &format!("/CN={name}")]].concat());
            openssl(&[
                "x509", "-req", "-in", &format!("{name}.csr"), "-CA", &format!("{ca}.crt"), "-CAkey", &format!("{ca}.key"), "-CAcreateserial", "-days", "3", "-out", out, "-extfile", &format!("{name}.ext"),
            ]);
        }
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// How a test registry serves.
#[derive(Default)]
struct Serving<'a> {
    /// TLS with the server certificate of this PKI (else plain HTTP).
    tls: Option<&'a Pki>,
    /// Clients must present a certificate signed by the PKI's client CA.
    client_certs: bool,
    /// htpasswd Basic auth for this user and password.
    basic: Option<(&'a str, &'a str)>,
}

/// Debian's docker-registry inside a namespace, killed on drop.
struct NsRegistry {
    dir: TempDir,
    child: Child,
    addr: String,
}

impl NsRegistry {
    fn start(ns: &NetNs, ip: &str, serving: Serving<'_>) -> NsRegistry {
        let dir = TempDir::new("tls-registry");
        // The port only has to be unique on this host for the certs.d directory it names.
        let port = loop {
            let id = dockbox::ids::new_id();
            let port = 20000 + u16::from_str_radix(&id[..4], 16).unwrap() % 40000;
            if !certs_d_root().join(format!("{ip}:{port}")).exists() {
                break port;
            }
        };
        let addr = format!("{ip}:{port}");
        let mut http = format!("http:\n  addr: {addr}\n");
        if let Some(pki) = serving.tls {
            http += &format!("  tls:\n    certificate: {}\n    key: {}\n", pki.path("server.crt").display(), pki.path("server.key").display());
            if serving.client_certs {
                http += &format!("    clientcas:\n      - {}\n", pki.path("client-ca.crt").display());
            }
        }
        let mut auth = String::new();
        if let Some((user, pass)) = serving.basic {
            let out = run(Command::new("htpasswd").args(["-Bbn", user, pass]));
            std::fs::write(dir.join("htpasswd"), &out.stdout).unwrap();
            auth = format!("auth:\n  htpasswd:\n    realm: test\n    path: {}\n", dir.join("htpasswd").display());
        }
        let config = format!("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n{http}{auth}", dir.join("storage").display());
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let child = ns.command("docker-registry").arg("serve").arg(dir.join("config.yml")).stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
        let r = NsRegistry { dir, child, addr };
        // Its sockets are in its namespace: /proc/<pid>/net/tcp lists them.
        let wanted = format!(":{port:04X} 00000000:0000 0A");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !std::fs::read_to_string(format!("/proc/{}/net/tcp", r.child.id())).unwrap_or_default().contains(&wanted) {
            assert!(Instant::now() < deadline, "registry did not start: {}", std::fs::read_to_string(r.dir.join("registry.log")).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    /// Copies the test image `image` (from the shared test registry) here as `name:latest`,
    /// with skopeo inside the namespace, presenting `pki`'s client certificate and `creds`.
    fn push(&self, ns: &NetNs, image: &str, name: &str, pki: Option<&Pki>, creds: Option<&str>) {
        let layout = TempDir::new("tls-layout");
        let shared = Registry::get();
        run(Command::new("skopeo").args(["copy", "--quiet", "--insecure-policy", "--src-tls-verify=false"]).arg(format!("docker://{}:latest", shared.image(image))).arg(format!("oci:{}:latest", layout.join("img").display())));
        let mut copy = ns.command("skopeo");
        copy.args(["copy", "--quiet", "--insecure-policy", "--dest-tls-verify=false"]);
        if let Some(pki) = pki {
            let certs = layout.join("certs");
            std::fs::create_dir(&certs).unwrap();
            for f in ["client.cert", "client.key"] {
                std::fs::copy(pki.path(f), certs.join(f)).unwrap();
            }
            copy.arg("--dest-cert-dir").arg(&certs);
        }
        if let Some(c) = creds {
            copy.args(["--dest-creds", c]);
        }
        run(copy.arg(format!("oci:{}:latest", layout.join("img").display())).arg(format!("docker://{}/{name}:latest", self.addr)));
    }
}

impl Drop for NsRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn certs_d_root() -> PathBuf {
    PathBuf::from("/etc/docker/certs.d")
}

/// `/etc/docker/certs.d/<host:port>/`, made for one test and removed when dropped (also when
/// the test panics), with `/etc/docker/certs.d` itself if nothing else is left in it.
struct CertsD(PathBuf);

impl CertsD {
    fn new(addr: &str) -> CertsD {
        let dir = certs_d_root().join(addr);
        loop {
            std::fs::create_dir_all(certs_d_root()).unwrap();
            match std::fs::create_dir(&dir) {
                Ok(()) => return CertsD(dir),
                // Another test removed the emptied parent in between.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => panic!("{}: {e}", dir.display()),
            }
        }
    }

    fn add(&self, name: &str, from: &Path) {
        std::fs::copy(from, self.0.join(name)).unwrap();
    }
}

impl Drop for CertsD {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_dir(certs_d_root());
    }
}

/// Every tag in dockerd's store.
fn tags(d: &Dockerd) -> Vec<String> {
    let (_, list) = d.api("GET", "/images/json", None);
    list.as_array().unwrap().iter().flat_map(|i| i["RepoTags"].as_array().cloned().unwrap_or_default()).filter_map(|t| t.as_str().map(str::to_string)).collect()
}

/// Our client with a private config directory (for login).
fn docker_with_config(d: &Dockerd, args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = applet("docker");
    c.arg("-H").arg(d.host()).args(args).env("DOCKER_CONFIG", d.tmp.join("docker-config"));
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn pulled(o: &Output) -> bool {
    o.status.success() && stdout(o).contains("Status: Downloaded newer image for")
}

#[test]
fn unknown_ca_is_refused_with_dockers_error_and_nothing_is_stored() {
    if !require_root() {
        return;
    }
    let (pki, ns) = (Pki::new(), sealed_netns());
    let reg = NsRegistry::start(&ns, REGISTRY_IP, Serving { tls: Some(&pki), ..Default::default() });
    reg.push(&ns, "hello-world", "hello", None, None);
    let d = Dockerd::start_in(&ns, &[], &[]).unwrap();
    let o = d.docker(&["pull", &format!("{}/hello:latest", reg.addr)]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert_eq!(stderr(&o), format!("Error response from daemon: Get \"https://{}/v2/\": tls: failed to verify certificate: x509: certificate signed by unknown authority\n", reg.addr));
    assert_eq!(stdout(&o), "");
    assert!(tags(&d).is_empty());
    let blobs = d.tmp.join("data/blobs/sha256");
    assert!(!blobs.exists() || std::fs::read_dir(&blobs).unwrap().count() == 0);
}

#[test]
fn ca_in_certs_d_is_trusted_and_a_lone_client_cert_is_refused() {
    if !require_root() {
        return;
    }
    let (pki, ns) = (Pki::new(), sealed_netns());
    let reg = NsRegistry::start(&ns, REGISTRY_IP, Serving { tls: Some(&pki), ..Default::default() });
    reg.push(&ns, "hello-world", "hello", None, None);
    let certs = CertsD::new(&reg.addr);
    certs.add("ca.crt", &pki.path("ca.crt"));
    let d = Dockerd::start_in(&ns, &[], &[]).unwrap();
    let image = format!("{}/hello:latest", reg.addr);
    let o = d.docker(&["pull", &image]);
    assert!(pulled(&o), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(tags(&d), std::slice::from_ref(&image));

    // A client certificate without its key is a configuration error, as in Docker.
    certs.add("extra.cert", &pki.path("client.cert"));
    let o = d.docker(&["pull", &image]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "Error response from daemon: missing key extra.key for client certificate extra.cert. CA certificates must use the extension .crt\n");
}

#[test]
fn ssl_cert_file_bundle_is_trusted_for_login_and_pull() {
    if !require_root() {
        return;
    }
    let (pki, ns) = (Pki::new(), sealed_netns());
    let reg = NsRegistry::start(&ns, REGISTRY_IP, Serving { tls: Some(&pki), basic: Some(("alice", "s3cret")), ..Default::default() });
    reg.push(&ns, "hello-world", "private", None, Some("alice:s3cret"));
    let bundle = pki.path("ca.crt");
    let d = Dockerd::start_in(&ns, &[], &[("SSL_CERT_FILE", bundle.to_str().unwrap())]).unwrap();
    let image = format!("{}/private:latest", reg.addr);
    // Trusted, but not logged in yet: the registry itself says no.
    let o = docker_with_config(&d, &["pull", &image], None);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no basic auth credentials") || stderr(&o).contains("unauthorized"), "{}", stderr(&o));
    let o = docker_with_config(&d, &["login", "-u", "alice", "--password-stdin", &reg.addr], Some("s3cret\n"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "Login Succeeded\n");
    let o = docker_with_config(&d, &["pull", &image], None);
    assert!(pulled(&o), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn insecure_registry_is_spoken_to_over_https_without_verification() {
    if !require_root() {
        return;
    }
    let (pki, ns) = (Pki::new(), sealed_netns());
    let reg = NsRegistry::start(&ns, REGISTRY_IP, Serving { tls: Some(&pki), ..Default::default() });
    reg.push(&ns, "hello-world", "hello", None, None);
    // The registry serves TLS only (plain HTTP gets a 400), so a pull can only work over HTTPS.
    let d = Dockerd::start_in(&ns, &["--insecure-registry", &reg.addr], &[]).unwrap();
    let image = format!("{}/hello:latest", reg.addr);
    let o = d.docker(&["pull", &image]);
    assert!(pulled(&o), "{}{}", stdout(&o), stderr(&o));
    let o = d.docker(&["pull", &image]);
    assert!(o.status.success() && stdout(&o).contains("Image is up to date"), "{}{}", stdout(&o), stderr(&o));
    // Pushes take the same way.
    let copy = format!("{}/copy:latest", reg.addr);
    assert!(d.docker(&["tag", &image, &copy]).status.success());
    let o = d.docker(&["push", &copy]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("latest: digest: sha256:"), "{}", stdout(&o));
}

#[test]
fn insecure_registry_over_plain_http_is_reached_after_https_fails() {
    if !require_root() {
        return;
    }
    let ns = sealed_netns();
    let reg = NsRegistry::start(&ns, REGISTRY_IP, Serving::default());
    reg.push(&ns, "hello-world", "hello", None, None);
    let image = format!("{}/hello:latest", reg.addr);
    {
        // Not declared insecure: HTTPS only, and Go's words for what answered.
        let d = Dockerd::start_in(&ns, &[], &[]).unwrap();
        let o = d.docker(&["pull", &image]);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(stderr(&o), format!("Error response from daemon: Get \"https://{}/v2/\": http: server gave HTTP response to HTTPS client\n", reg.addr));
    }
    // Declared by CIDR this time.
    let d = Dockerd::start_in(&ns, &["--insecure-registry", "10.213.0.0/16"], &[]).unwrap();
    let o = d.docker(&["pull", &image]);
    assert!(pulled(&o), "{}{}", stdout(&o), stderr(&o));
    // Then straight over HTTP (remembered), and still right.
    let o = d.docker(&["pull", &image]);
    assert!(o.status.success() && stdout(&o).contains("Image is up to date"), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn registry_requiring_a_client_certificate_gets_the_one_in_certs_d() {
    if !require_root() {
        return;
    }
    let (pki, ns) = (Pki::new(), sealed_netns());
    let reg = NsRegistry::start(&ns, REGISTRY_IP, Serving { tls: Some(&pki), client_certs: true, ..Default::default() });
    reg.push(&ns, "hello-world", "hello", Some(&pki), None);
    let certs = CertsD::new(&reg.addr);
    certs.add("ca.crt", &pki.path("ca.crt"));
    let d = Dockerd::start_in(&ns, &[], &[]).unwrap();
    let image = format!("{}/hello:latest", reg.addr);
    let o = d.docker(&["pull", &image]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.starts_with(&format!("Error response from daemon: Get \"https://{}/v2/\": ", reg.addr)), "{err}");
    assert!(err.contains("remote error: tls: ") || err.contains("connection reset by peer"), "{err}");
    assert!(tags(&d).is_empty());

    certs.add("client.cert", &pki.path("client.cert"));
    certs.add("client.key", &pki.path("client.key"));
    let o = d.docker(&["pull", &image]);
    assert!(pulled(&o), "{}{}", stdout(&o), stderr(&o));
}

/// Counts of requests a fake server saw, and of those that carried Authorization.
#[derive(Default)]
struct Seen {
    requests: AtomicUsize,
    with_authorization: AtomicUsize,
}

/// Serves each connection of a new listener on 127.0.0.1 with `handle(stream, request head)`.
fn fake_server(handle: impl Fn(TcpStream, String) + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut stream) = conn else { continue };
            let handle = handle.clone();
            std::thread::spawn(move || {
                if let Ok(head) = read_request_head(&mut stream) {
                    handle(stream, String::from_utf8_lossy(&head).into_owned());
                }
            });
        }
    });
    addr
}

fn has_authorization(head: &str) -> bool {
    head.lines().any(|l| l.to_ascii_lowercase().starts_with("authorization:"))
}

/// Sends the request `head` on to `upstream` (one request per connection) and its answer back.
fn forward(mut client: TcpStream, head: &str, upstream: &str) {
    let Ok(mut server) = TcpStream::connect(upstream) else { return };
    let kept: Vec<&str> = head.trim_end().lines().filter(|l| !l.to_ascii_lowercase().starts_with("connection:")).collect();
    let _ = server.write_all(format!("{}\r\nConnection: close\r\n\r\n", kept.join("\r\n")).as_bytes());
    let _ = std::io::copy(&mut server, &mut client);
}

#[test]
fn blob_redirected_to_another_host_loses_the_authorization_header() {
    if !require_root() {
        return;
    }
    let shared = Registry::get();
    // Blob storage on another port, reached by another host name (localhost) or the same
    // one (127.0.0.1): Docker sends registry credentials to neither.
    let storage_seen = Arc::new(Seen::default());
    let storage_hosts = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (seen, hosts, upstream) = (storage_seen.clone(), storage_hosts.clone(), shared.addr.clone());
    let storage = fake_server(move |client, head| {
        seen.requests.fetch_add(1, Ordering::SeqCst);
        if has_authorization(&head) {
            seen.with_authorization.fetch_add(1, Ordering::SeqCst);
        }
        let host = head.lines().find_map(|l| l.strip_prefix("Host: ").or_else(|| l.strip_prefix("host: "))).unwrap_or("").trim().to_string();
        hosts.lock().unwrap().push(host);
        forward(client, &head, &upstream);
    });
    let storage_port = storage.rsplit(':').next().unwrap().to_string();
    // The registry, behind Basic auth, redirecting every blob GET to the storage, to each of
    // its names in turn.
    let gate_seen = Arc::new(Seen::default());
    let (seen, upstream, port) = (gate_seen.clone(), shared.addr.clone(), storage_port.clone());
    let credentials = format!("Basic {}", dockbox::base64::encode(b"bob:pw"));
    let redirects = AtomicUsize::new(0);
    let gate = fake_server(move |mut client, head| {
        seen.requests.fetch_add(1, Ordering::SeqCst);
        let authorized = head.lines().any(|l| l.to_ascii_lowercase().starts_with("authorization:") && l[14..].trim() == credentials);
        let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
        if !authorized {
            let _ = client.write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            return;
        }
        seen.with_authorization.fetch_add(1, Ordering::SeqCst);
        if head.starts_with("GET ") && target.contains("/blobs/sha256:") {
            let host = if redirects.fetch_add(1, Ordering::SeqCst) % 2 == 0 { "localhost" } else { "127.0.0.1" };
            let _ = write!(client, "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{host}:{port}{target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            return;
        }
        forward(client, &head, &upstream);
    });
    let d = Dockerd::start().unwrap();
    let o = docker_with_config(&d, &["login", "-u", "bob", "--password-stdin", &gate], Some("pw\n"));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = docker_with_config(&d, &["pull", &format!("{gate}/hello-world:latest")], None);
    assert!(pulled(&o), "{}{}", stdout(&o), stderr(&o));
    assert!(gate_seen.with_authorization.load(Ordering::SeqCst) >= 2, "the registry got the credentials");
    let hosts = storage_hosts.lock().unwrap().clone();
    for name in ["localhost", "127.0.0.1"] {
        assert!(hosts.contains(&format!("{name}:{storage_port}")), "config and layer came from the storage host by both names: {hosts:?}");
    }
    assert_eq!(storage_seen.with_authorization.load(Ordering::SeqCst), 0, "the storage host never saw Authorization");
}

#[test]
fn docker_hub_images_come_from_the_mirror() {
    if !require_root() {
        return;
    }
    // Only lo in here: when the mirror fails, Docker Hub is tried and cannot be reached.
    let ns = NetNs::new();
    let mirror = NsRegistry::start(&ns, "127.0.0.1", Serving::default());
    mirror.push(&ns, "busybox", "library/busybox", None, None);
    let d = Dockerd::start_in(&ns, &["--registry-mirror", &format!("http://{}", mirror.addr)], &[]).unwrap();
    let o = d.docker(&["pull", "busybox"]);
    assert!(pulled(&o), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("Status: Downloaded newer image for busybox:latest"), "{}", stdout(&o));
    assert_eq!(tags(&d), ["busybox:latest"]);
    let run = d.docker(&["run", "--rm", "busybox", "echo", "from the mirror"]);
    assert_eq!(stdout(&run), "from the mirror\n", "{}", stderr(&run));
    // Not on the mirror: Docker Hub itself is tried, and is out of reach.
    let o = d.docker(&["pull", "hello-world"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("registry-1.docker.io"), "{}", stderr(&o));
}
