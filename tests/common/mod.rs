//! Fixtures every integration test shares: private temporary directories, a busybox root
//! filesystem from Debian's busybox-static, and the applet symlinks of the built binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A directory removed (after unmounting anything left under it) when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let base = std::env::var_os("DOCKBOX_TEST_TMP").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("dbx-{tag}-{}-{}", std::process::id(), &dockbox::ids::new_id()[..8]));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = dockbox::mounts::unmount_all_under(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The dockbox binary cargo built for these tests.
pub fn dockbox() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dockbox"))
}

/// A directory of applet symlinks (docker, dockerd, docker-runc, ...) to the built binary.
pub fn applet_dir() -> PathBuf {
    let dir = dockbox().parent().unwrap().join("applets");
    if !dir.join("docker-runc").exists() {
        let tmp = dir.with_extension(format!("tmp{}", std::process::id()));
        let ok = Command::new(dockbox()).arg("--install").arg(&tmp).status().unwrap().success();
        assert!(ok, "dockbox --install failed");
        // Another test process may have won the race; either copy is the same.
        let _ = std::fs::rename(&tmp, &dir);
        let _ = std::fs::remove_dir_all(&tmp);
    }
    dir
}

/// A command running `applet` of the built binary.
pub fn applet(name: &str) -> Command {
    Command::new(applet_dir().join(name))
}

/// Fills `rootfs` with busybox-static, its applet links, and minimal /etc files.
pub fn busybox_rootfs(rootfs: &Path) {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"].into_iter().map(Path::new).find(|p| p.exists()).expect("busybox-static is not installed (apt-get install busybox-static)");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
    let list = Command::new(busybox).arg("--list").output().unwrap();
    for name in String::from_utf8_lossy(&list.stdout).lines() {
        if name != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(name));
        }
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n").unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}

/// Whether this run must not skip root-only tests (CI sets CI=true).
pub fn require_root() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root && std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true: this test needs root");
    }
    root
}

/// The repository's scripts directory.
pub fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts")
}

/// A Distribution registry on 127.0.0.1 holding the test images `busybox:latest` and
/// `hello-world:latest`: the one `scripts/test.sh` started (DOCKBOX_TEST_REGISTRY), or a
/// private one started here and stopped on drop.
pub struct Registry {
    pub addr: String,
    own: Option<TempDir>,
}

impl Registry {
    pub fn get() -> Registry {
        if let Ok(addr) = std::env::var("DOCKBOX_TEST_REGISTRY") {
            if !addr.is_empty() {
                return Registry { addr, own: None };
            }
        }
        let dir = TempDir::new("registry");
        let out = Command::new("bash").arg(scripts().join("registry.sh")).arg("start").arg(dir.path()).output().unwrap();
        assert!(out.status.success(), "registry.sh start: {}", String::from_utf8_lossy(&out.stderr));
        let addr = String::from_utf8_lossy(&out.stdout).trim().lines().last().unwrap_or_default().to_string();
        let registry = Registry { addr, own: Some(dir) };
        let images = registry.own.as_ref().unwrap().join("images");
        let ok = Command::new("bash").arg(scripts().join("images.sh")).arg(&images).status().unwrap().success();
        assert!(ok, "images.sh failed");
        for name in ["busybox", "hello-world"] {
            let ok = Command::new("bash")
                .arg(scripts().join("registry.sh"))
                .arg("push")
                .arg(registry.own.as_ref().unwrap().path())
                .arg(images.join(name))
                .arg(format!("{name}:latest"))
                .status()
                .unwrap()
                .success();
            assert!(ok, "pushing {name} failed");
        }
        registry
    }

    /// `<addr>/<name>`.
    pub fn image(&self, name: &str) -> String {
        format!("{}/{name}", self.addr)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(dir) = &self.own {
            let _ = Command::new("bash").arg(scripts().join("registry.sh")).arg("stop").arg(dir.path()).status();
        }
    }
}
