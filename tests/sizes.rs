//! A container's writable-layer size, one measure for `ps -s`, inspect `-s`, `system df` and
//! the space `container prune` reclaims, on overlay2 and vfs; through our client and the
//! real CLI 28.

mod common;

use common::{ok, stdout, Dockerd};
use std::path::Path;

const REAL_CLI: &str = "/usr/local/bin/docker";

fn sizes_on(driver: &str) {
    let Some(d) = Dockerd::start_with(&["--storage-driver", driver]) else { return };
    let image = d.registry.image("busybox");
    ok(&d.docker(&["pull", "-q", &image]), &d);
    // 12345 bytes, a hard link to them (counted once), and a file written then removed.
    let script = "head -c 12345 /dev/zero > /f && ln /f /g && head -c 999 /dev/zero > /tmp/gone && rm /tmp/gone";
    for name in ["w1", "w2"] {
        ok(&d.docker(&["run", "--name", name, &image, "sh", "-c", script]), &d);
    }
    let (status, list) = d.api("GET", "/containers/json?all=1&size=1", None);
    assert_eq!(status, 200);
    for c in list.as_array().unwrap() {
        assert_eq!(c["SizeRw"], 12345, "{driver}: {c}");
        assert!(c["SizeRootFs"].as_u64().unwrap() > 12345 + 1_000_000, "{driver}: {c}");
    }
    let (_, df) = d.api("GET", "/system/df", None);
    assert!(df["Containers"].as_array().unwrap().iter().all(|c| c["SizeRw"] == 12345), "{driver}: {df}");
    let o = ok(&d.docker(&["ps", "-a", "-s", "--format", "{{.Names}} {{.Size}}", "-f", "name=w1"]), &d);
    assert!(o.starts_with("w1 12.3kB (virtual "), "{driver}: {o}");
    if Path::new(REAL_CLI).exists() {
        assert_eq!(stdout(&d.real_docker(REAL_CLI, &["ps", "-a", "-s", "--format", "{{.Names}} {{.Size}}", "-f", "name=w1"])), o);
    }
    let w1 = ok(&d.docker(&["inspect", "-f", "{{.Id}}", "w1"]), &d).trim().to_string();
    let o = ok(&d.docker(&["container", "prune", "-f"]), &d);
    assert!(o.contains(&w1) && o.ends_with("\nTotal reclaimed space: 24.69kB\n"), "{driver}: {o}");
    // A vfs copy is gone with its container: nothing left to count.
    assert_eq!(std::fs::read_dir(d.tmp.join("data/vfs/dir")).map(|r| r.count()).unwrap_or(0), 0, "{driver}");
}

#[test]
fn writable_layer_size_on_overlay2() {
    sizes_on("overlay2");
}

#[test]
fn writable_layer_size_on_vfs() {
    sizes_on("vfs");
}
