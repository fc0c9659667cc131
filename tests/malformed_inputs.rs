//! Malformed input to load, import and pull: Docker's status and form of error (a load
//! always answers 200 with an `errorDetail` line; an import or a pull that fails before any
//! progress answers an error status), a message that says what is wrong, and nothing stored.

mod common;

use common::{stderr, stdout, Dockerd, TempDir};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

fn sha(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// Nothing of an image anywhere: no image, no layer, nothing extracted.
fn assert_store_empty(d: &Dockerd, what: &str) {
    assert_store_holds_only_layers(d, what, &[]);
}

/// No image and nothing half-made is stored; the only layers are `kept` (chain ids
/// `sha256:<hex>`): what a failed pull finished stays for the next pull (issue 19), until a
/// prune reclaims it.
fn assert_store_holds_only_layers(d: &Dockerd, what: &str, kept: &[String]) {
    let (_, list) = d.api("GET", "/images/json?all=1", None);
    assert_eq!(list, json!([]), "{what}: images left");
    let data = d.tmp.join("data");
    let names = |dir: &str| -> Vec<String> { std::fs::read_dir(data.join(dir)).map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default() };
    for dir in ["image/overlay2/imagedb/content/sha256", "tmp"] {
        let left = names(dir);
        assert!(left.is_empty(), "{what}: {dir} holds {left:?}");
    }
    let layers = names("image/overlay2/layerdb/sha256");
    assert!(layers.iter().all(|l| kept.iter().any(|k| k.strip_prefix("sha256:") == Some(l.as_str()))), "{what}: layerdb holds {layers:?}, kept only {kept:?}");
    let overlay: Vec<_> = names("overlay2").into_iter().filter(|n| n != "l").collect();
    assert!(overlay.len() <= layers.len(), "{what}: overlay2 holds {overlay:?} for layers {layers:?}");
}

/// A docker-save archive of one image of `layers`, with `mangle` applied to its files.
fn archive(layers: &[Vec<u8>], mangle: impl Fn(&mut Vec<(String, Vec<u8>)>)) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha(l)).collect();
    let config = serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z", "config": {}, "rootfs": {"type": "layers", "diff_ids": diff_ids}})).unwrap();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let config_name = format!("blobs/sha256/{}", &sha(&config)[7..]);
    let mut layer_names = Vec::new();
    for l in layers {
        let name = format!("blobs/sha256/{}", &sha(l)[7..]);
        files.push((name.clone(), l.clone()));
        layer_names.push(name);
    }
    files.push((config_name.clone(), config));
    files.push(("manifest.json".into(), serde_json::to_vec(&json!([{"Config": config_name, "RepoTags": ["broken:v1"], "Layers": layer_names}])).unwrap()));
    mangle(&mut files);
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    tar_of(&refs)
}

fn replace(files: &mut [(String, Vec<u8>)], name: &str, data: &[u8]) {
    files.iter_mut().find(|(n, _)| n == name).unwrap().1 = data.to_vec();
}

fn docker_py_load(d: &Dockerd, file: &Path) -> Option<String> {
    let script = "import docker,sys\nc=docker.DockerClient(base_url=sys.argv[1])\ntry:\n    c.images.load(open(sys.argv[2],'rb').read())\n    print('NO ERROR')\nexcept docker.errors.ImageLoadError as e:\n    print('ImageLoadError:', e)\n";
    let o = Command::new("python3").args(["-c", script, &d.host(), file.to_str().unwrap()]).output().ok()?;
    if stderr(&o).contains("No module named 'docker'") {
        return None;
    }
    Some(stdout(&o).trim().to_string())
}

#[test]
fn malformed_archives_for_load_say_what_is_wrong_in_the_stream_and_store_nothing() {
    let Some(d) = Dockerd::start() else { return };
    let tmp = TempDir::new("malformed-load");
    let good = tar_of(&[("a", b"first layer")]);
    let second = tar_of(&[("b", b"second layer")]);
    let full = archive(&[good.clone(), second.clone()], |_| {});
    let good_name = format!("blobs/sha256/{}", &sha(&good)[7..]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not an archive", b"these bytes are no tar at all\n".to_vec(), "unexpected EOF"),
        ("random bytes", (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect(), "archive/tar: invalid tar header"),
        ("truncated", full[..full.len() / 2].to_vec(), "unexpected EOF"),
        ("no manifest.json", tar_of(&[("hello", b"x")]), "invalid archive: does not contain a manifest.json"),
        ("manifest.json not JSON", archive(std::slice::from_ref(&good), |f| replace(f, "manifest.json", b"[{\"Config\": ")), "invalid archive: failed to decode manifest.json: "),
        ("manifest.json null", archive(std::slice::from_ref(&good), |f| replace(f, "manifest.json", b"null")), "invalid manifest, manifest cannot be null (but can be [])"),
        (
            "config missing",
            archive(std::slice::from_ref(&good), |f| f.retain(|(n, _)| n == "manifest.json" || *n == good_name)),
            "invalid archive: open blobs/sha256/",
        ),
        (
            // The first layer is good and gets committed before the second fails.
            "second layer not its diff id",
            archive(&[good.clone(), second.clone()], |f| {
                let name = format!("blobs/sha256/{}", &sha(&tar_of(&[("b", b"second layer")]))[7..]);
                replace(f, &name, &tar_of(&[("b", b"other bytes!")]));
            }),
            "invalid diffID for layer 1: expected",
        ),
    ];
    for (what, bytes, wanted) in cases {
        let file = tmp.join("in.tar");
        std::fs::write(&file, &bytes).unwrap();
        // The endpoint: 200 and an error line.
        let o = d.curl(&["-X", "POST", "-H", "Content-Type: application/x-tar", "--data-binary", &format!("@{}", file.display()), "-w", "\n%{http_code}", "http://d/images/load"]);
        let text = stdout(&o);
        let (body, status) = text.trim_end().rsplit_once('\n').unwrap();
        assert_eq!(status, "200", "{what}: {text}");
        let line: Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
        let message = line["errorDetail"]["message"].as_str().unwrap_or_else(|| panic!("{what}: no errorDetail in {body}"));
        assert!(message.starts_with(wanted), "{what}: {message:?} is not {wanted:?}");
        assert_eq!(line["error"], message);
        // Every client: exit 1, the message on stderr.
        for cli in common::clients() {
            let o = d.client_with_input(cli, &["load", "-i", file.to_str().unwrap()], None);
            assert_eq!(o.status.code(), Some(1), "{what} {cli:?}: {}{}", stdout(&o), stderr(&o));
            assert!(stderr(&o).contains(wanted), "{what} {cli:?}: {}", stderr(&o));
        }
        if let Some(py) = docker_py_load(&d, &file) {
            assert!(py.starts_with(&format!("ImageLoadError: {wanted}")), "{what}: docker-py: {py}");
        }
        assert_store_empty(&d, what);
    }
    // The same archive whole loads.
    let file = tmp.join("good.tar");
    std::fs::write(&file, &full).unwrap();
    let o = d.docker(&["load", "-i", file.to_str().unwrap()]);
    assert_eq!(stdout(&o), "Loaded image: broken:v1\n", "{}", stderr(&o));
}

#[test]
fn malformed_imports_are_an_error_status_and_store_nothing() {
    let Some(d) = Dockerd::start() else { return };
    let tmp = TempDir::new("malformed-import");
    let good = tar_of(&[("a", &[7u8; 3000])]);
    for (what, bytes, wanted) in [
        ("not a tar", b"these bytes are no tar at all\n".to_vec(), "unexpected EOF"),
        ("random bytes", (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect::<Vec<u8>>(), "archive/tar: invalid tar header"),
        ("truncated", good[..1500].to_vec(), "unexpected EOF"),
    ] {
        let file = tmp.join("in.tar");
        std::fs::write(&file, &bytes).unwrap();
        let o = d.curl(&["-X", "POST", "--data-binary", &format!("@{}", file.display()), "-w", "\n%{http_code}", "http://d/images/create?fromSrc=-&repo=imp&tag=x"]);
        let text = stdout(&o);
        let (body, status) = text.trim_end().rsplit_once('\n').unwrap();
        assert_eq!(status, "500", "{what}: {text}");
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["message"], wanted, "{what}");
        for cli in common::clients() {
            let o = d.client_with_input(cli, &["import", file.to_str().unwrap(), "imp:x"], None);
            assert_eq!(o.status.code(), Some(1), "{what} {cli:?}");
            assert_eq!(stderr(&o).trim(), format!("Error response from daemon: {wanted}"), "{what} {cli:?}");
        }
        assert_store_empty(&d, what);
    }
}

/// A registry that answers from a fixed table (path → status, content type, body), one
/// request a connection; anything else is Docker's BLOB_UNKNOWN / MANIFEST_UNKNOWN 404.
fn fake_registry(routes: HashMap<String, (u16, String, Vec<u8>)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let routes = Arc::new(routes);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let routes = routes.clone();
            std::thread::spawn(move || {
                // A TLS ClientHello (the HTTPS try before plain HTTP): no TLS here.
                let mut byte = [0u8; 1];
                if conn.peek(&mut byte).is_err() || byte[0] == 0x16 {
                    return;
                }
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    return;
                }
                let mut parts = first.split_whitespace();
                let (Some(method), Some(path)) = (parts.next(), parts.next()) else { return };
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                }
                let unknown = |code: &str| (404, "application/json".to_string(), serde_json::to_vec(&json!({"errors": [{"code": code, "message": format!("{} unknown to registry", code.split('_').next().unwrap().to_lowercase())}]})).unwrap());
                let (status, ct, body) = match routes.get(path) {
                    Some(r) => r.clone(),
                    None if path == "/v2/" => (200, "application/json".into(), b"{}".to_vec()),
                    None if path.contains("/blobs/") => unknown("BLOB_UNKNOWN"),
                    None => unknown("MANIFEST_UNKNOWN"),
                };
                let mut w = conn;
                let head = format!("HTTP/1.1 {status} X\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nDocker-Distribution-Api-Version: registry/2.0\r\nConnection: close\r\n\r\n", body.len());
                let _ = w.write_all(head.as_bytes());
                if method != "HEAD" {
                    let _ = w.write_all(&body);
                }
            });
        }
    });
    addr
}

#[test]
fn malformed_manifests_and_missing_blobs_fail_the_pull_and_store_no_image() {
    let Some(d) = Dockerd::start() else { return };
    let layer = tar_of(&[("a", b"present layer")]);
    let missing_layer = tar_of(&[("b", b"never served")]);
    let config = |diffs: &[&Vec<u8>]| serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": diffs.iter().map(|l| sha(l)).collect::<Vec<_>>()}})).unwrap();
    let two = config(&[&layer, &missing_layer]);
    let manifest = |config: &[u8], layers: &[&Vec<u8>]| {
        serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": config.len()},
            "layers": layers.iter().map(|l| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(l), "size": l.len()})).collect::<Vec<_>>(),
        }))
        .unwrap()
    };
    let oci = "application/vnd.oci.image.manifest.v1+json".to_string();
    let mut routes = HashMap::new();
    routes.insert("/v2/badjson/manifests/latest".to_string(), (200, oci.clone(), b"{\"schemaVersion\": 2, \"config\": ".to_vec()));
    routes.insert("/v2/html/manifests/latest".to_string(), (200, "text/html".to_string(), b"<html>login here</html>".to_vec()));
    routes.insert("/v2/noconfig/manifests/latest".to_string(), (200, oci.clone(), manifest(&config(&[&layer]), &[&layer])));
    routes.insert("/v2/nolayer/manifests/latest".to_string(), (200, oci.clone(), manifest(&two, &[&layer, &missing_layer])));
    routes.insert(format!("/v2/nolayer/blobs/{}", sha(&two)), (200, "application/octet-stream".into(), two.clone()));
    routes.insert(format!("/v2/nolayer/blobs/{}", sha(&layer)), (200, "application/octet-stream".into(), layer.clone()));
    let addr = fake_registry(routes);
    // (repository, endpoint status, the message starts with): a manifest the registry cannot
    // be read is an error status; what fails after "Pulling from" an error line.
    for (repo, status, wanted) in [
        ("badjson", 500, "invalid manifest: "),
        ("html", 500, "unsupported manifest media type and no default available: text/html"),
        ("noconfig", 200, "error pulling image configuration: blob unknown"),
        ("nolayer", 200, &format!("error pulling layer {}: blob unknown", sha(&missing_layer)) as &str),
    ] {
        let image = format!("{addr}/{repo}");
        let o = d.curl(&["-X", "POST", "-w", "\n%{http_code}", &format!("http://d/images/create?fromImage={image}&tag=latest")]);
        let text = stdout(&o);
        let (body, code) = text.trim_end().rsplit_once('\n').unwrap();
        assert_eq!(code, status.to_string(), "{repo}: {text}");
        let last: Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
        let message = if status == 200 { last["errorDetail"]["message"].clone() } else { last["message"].clone() };
        assert!(message.as_str().is_some_and(|m| m.starts_with(wanted)), "{repo}: {message} is not {wanted:?}");
        for cli in common::clients() {
            let o = d.client_with_input(cli, &["pull", &image], None);
            assert_eq!(o.status.code(), Some(1), "{repo} {cli:?}");
            assert!(stderr(&o).contains(wanted), "{repo} {cli:?}: {}", stderr(&o));
        }
        // The layer that was served, being the first, is its own chain id.
        let kept = if repo == "nolayer" { vec![sha(&layer)] } else { Vec::new() };
        assert_store_holds_only_layers(&d, repo, &kept);
    }
}
