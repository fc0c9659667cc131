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
