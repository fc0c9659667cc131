//! What differs per CPU and per board: the architecture `docker info` and `docker version`
//! report (Docker's names), and DOCKER_RAMDISK (no pivot_root, for hosts running from an
//! initramfs) reaching the runtime.

mod common;

use common::{applet_dir, ok, real_clis, stderr, stdout, Dockerd, TempDir};
use std::os::unix::fs::PermissionsExt;

/// Go's GOARCH for this build's CPU: what `docker version` reports as Arch.
fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => panic!("no GOARCH known for {other}"),
    }
}

fn uname_machine() -> String {
    let o = std::process::Command::new("uname").arg("-m").output().unwrap();
    stdout(&o).trim().to_string()
}

#[test]
fn info_reports_uname_machine_and_version_reports_goarch() {
    let Some(d) = Dockerd::start() else { return };
    let machine = uname_machine();
    assert!(!machine.is_empty());
    let mut clients: Vec<Option<&str>> = vec![None];
    clients.extend(real_clis().into_iter().map(Some));
    for cli in clients {
        let run = |args: &[&str]| match cli {
            Some(cli) => d.real_docker(cli, args),
            None => d.docker(args),
        };
        assert_eq!(ok(&run(&["info", "--format", "{{.Architecture}}"]), &d).trim(), machine, "{cli:?}");
        assert_eq!(ok(&run(&["version", "--format", "{{.Server.Arch}}"]), &d).trim(), goarch(), "{cli:?}");
        let plain = ok(&run(&["info"]), &d);
        assert!(plain.lines().any(|l| l.trim() == format!("Architecture: {machine}")), "{cli:?}: {plain}");
    }
    // Our client's own Arch and its plain output.
    assert_eq!(ok(&d.docker(&["version", "--format", "{{.Client.Arch}}"]), &d).trim(), goarch());
    let plain = ok(&d.docker(&["version"]), &d);
    assert!(plain.contains(&format!("linux/{}", goarch())), "{plain}");
    let (status, v) = d.api("GET", "/version", None);
    assert_eq!((status, v["Arch"].as_str()), (200, Some(goarch())));
    let (status, v) = d.api("GET", "/info", None);
    assert_eq!((status, v["Architecture"].as_str()), (200, Some(machine.as_str())));
}

/// A runtime that records its arguments, then is our runc.
fn logging_runtime(dir: &TempDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let log = dir.join("runtime-args.log");
    let script = dir.join("logged-runc");
    let runc = applet_dir().join("docker-runc");
    std::fs::write(&script, format!("#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n", log.display(), runc.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, log)
}

/// Runs a container through the logging runtime on a dockerd with DOCKER_RAMDISK=`ramdisk`;
/// returns the runtime's `create` command lines.
fn creates_with(ramdisk: &str) -> Vec<String> {
    let dir = TempDir::new("ramdisk");
    let (script, log) = logging_runtime(&dir);
    let runtime = format!("logged={}", script.display());
    let Some((d, _ns)) = Dockerd::start_networked_env(&["--add-runtime", &runtime], None, &[("DOCKER_RAMDISK", ramdisk)]) else { return Vec::new() };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", &image]), &d);
    // The container works either way: with the variable, runc's move mount and chroot.
    let out = d.docker(&["run", "--rm", "--runtime", "logged", "--network", "none", &image, "sh", "-c", "cat /etc/hostname >/dev/null && echo in"]);
    assert_eq!(stdout(&out), "in\n", "{}\n{}", stderr(&out), d.log());
    // And a terminal one (the shim's other create).
    let out = d.docker(&["run", "--rm", "-t", "--runtime", "logged", "--network", "none", &image, "echo", "tty"]);
    assert_eq!(stdout(&out).trim(), "tty", "{}\n{}", stderr(&out), d.log());
    let lines = std::fs::read_to_string(&log).unwrap();
    lines.lines().filter(|l| l.split_whitespace().any(|w| w == "create")).map(str::to_string).collect()
}

#[test]
fn docker_ramdisk_makes_the_runtime_skip_pivot_root() {
    if !common::require_root() {
        return;
    }
    let creates = creates_with("true");
    assert_eq!(creates.len(), 2, "{creates:?}");
    for c in &creates {
        assert!(c.split_whitespace().any(|w| w == "--no-pivot"), "{c}");
    }
    // Unset in effect (empty, as Docker treats it): pivot_root as usual.
    let creates = creates_with("");
    assert_eq!(creates.len(), 2, "{creates:?}");
    for c in &creates {
        assert!(!c.contains("--no-pivot"), "{c}");
    }
}

fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{:x}", sha2::Sha256::digest(data))
}

/// Pushes `data` as a blob of `repo` to the test registry; returns its digest.
fn push_blob(registry: &str, repo: &str, data: &[u8]) -> String {
    let digest = sha256(data);
    let resp = ureq::post(&format!("http://{registry}/v2/{repo}/blobs/uploads/")).call().unwrap();
    let location = resp.header("Location").unwrap().to_string();
    let location = if location.starts_with('/') { format!("http://{registry}{location}") } else { location };
    let sep = if location.contains('?') { '&' } else { '?' };
    ureq::put(&format!("{location}{sep}digest={digest}")).set("Content-Type", "application/octet-stream").send_bytes(data).unwrap();
    digest
}

/// A manifest list in the test registry with one small image per platform (`arch` or
/// `arch/variant`), each holding /platform naming it; returns the repository's name.
fn push_manifest_list(registry: &str, platforms: &[&str]) -> String {
    let repo = format!("dbx-platforms-{}", std::process::id());
    let mut entries = Vec::new();
    for platform in platforms {
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(platform.len() as u64);
        h.set_mtime(1_700_000_000);
        tar.append_data(&mut h, "platform", platform.as_bytes()).unwrap();
        let layer = tar.into_inner().unwrap();
        let layer_digest = push_blob(registry, &repo, &layer);
        let (arch, variant) = platform.split_once('/').map(|(a, v)| (a, Some(v))).unwrap_or((platform, None));
        let mut config = serde_json::json!({
            "architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
            "config": {"Cmd": ["/bin/sh"]}, "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        });
        let mut entry_platform = serde_json::json!({"os": "linux", "architecture": arch});
        if let Some(v) = variant {
            config["variant"] = serde_json::json!(v);
            entry_platform["variant"] = serde_json::json!(v);
        }
        let config = serde_json::to_vec(&config).unwrap();
        let config_digest = push_blob(registry, &repo, &config);
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
        }))
        .unwrap();
        let digest = sha256(&manifest);
        ureq::put(&format!("http://{registry}/v2/{repo}/manifests/{digest}")).set("Content-Type", "application/vnd.oci.image.manifest.v1+json").send_bytes(&manifest).unwrap();
        entries.push(serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": manifest.len(), "platform": entry_platform}));
    }
    let index = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries})).unwrap();
    ureq::put(&format!("http://{registry}/v2/{repo}/manifests/latest")).set("Content-Type", "application/vnd.oci.image.index.v1+json").send_bytes(&index).unwrap();
    repo
}

#[test]
fn run_platform_pulls_another_cpus_image_and_a_foreign_image_is_warned_about() {
    let Some(d) = Dockerd::start() else { return };
    let repo = push_manifest_list(&d.registry.addr, &["amd64", "arm64/v8", "arm/v7", "arm/v5"]);
    let image = d.registry.image(&repo);
    let host = match goarch() {
        "arm64" => "linux/arm64/v8".to_string(),
        "arm" => "linux/arm/v7".to_string(),
        other => format!("linux/{other}"),
    };
    let arch_of = || {
        let (_, v) = d.api("GET", &format!("/images/{image}/json"), None);
        let arch = v["Architecture"].as_str().unwrap_or_default().to_string();
        match v["Variant"].as_str().filter(|v| !v.is_empty()) {
            Some(variant) => format!("{arch}/{variant}"),
            None => arch,
        }
    };
    // This CPU's entry by default: created without a warning.
    ok(&d.docker(&["pull", "-q", &image]), &d);
    let mine = arch_of();
    assert!(host.ends_with(&mine) || host.ends_with(mine.split('/').next().unwrap()), "{mine} for {host}");
    let out = d.docker(&["create", &image, "true"]);
    assert!(out.status.success() && !stderr(&out).contains("WARNING"), "{}", stderr(&out));
    // --platform of another CPU: the local image does not match, so the client pulls that one.
    let other = if goarch() == "amd64" { "linux/arm/v5" } else { "linux/amd64" };
    let out = d.docker(&["create", "--platform", other, &image, "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("Unable to find image '{image}:latest' locally")), "{}", stderr(&out));
    assert_eq!(format!("linux/{}", arch_of()), other);
    // --platform matching what is there: no pull.
    let out = d.docker(&["create", "--platform", other, &image, "true"]);
    assert!(out.status.success() && !stderr(&out).contains("Unable to find"), "{}", stderr(&out));
    // The image of another CPU without --platform: created, with Docker's warning, with every client.
    let warning = format!("WARNING: The requested image's platform ({other}) does not match the detected host platform ({host}) and no specific platform was requested");
    let out = d.docker(&["create", &image, "true"]);
    assert!(out.status.success() && stderr(&out).contains(&warning), "{}", stderr(&out));
    for cli in real_clis() {
        let out = d.real_docker(cli, &["create", &image, "true"]);
        assert!(out.status.success() && stderr(&out).contains(&warning), "{cli}: {}", stderr(&out));
    }
    // Through the API: the warning in the create response, and a 404 for a platform not there.
    let body = serde_json::json!({"Image": image, "Cmd": ["true"]}).to_string();
    let (status, v) = d.api("POST", "/containers/create", Some(&body));
    assert_eq!(status, 201, "{v}");
    assert!(v["Warnings"].as_array().unwrap().iter().any(|w| warning.ends_with(w.as_str().unwrap())), "{v}");
    let (status, v) = d.api("POST", "/containers/create?platform=linux/arm64", Some(&body));
    assert_eq!(status, 404, "{v}");
    let want = format!("image with reference {image} was found but does not match the specified platform: wanted linux/arm64, actual: {other}");
    assert_eq!(v["message"].as_str(), Some(want.as_str()), "{v}");
    let (status, v) = d.api("POST", "/containers/create?platform=linux/", Some(&body));
    assert_eq!(status, 400, "{v}");
}
