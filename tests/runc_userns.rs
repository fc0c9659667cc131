//! User namespaces (issue 14): a bind-mount source that the container's root cannot reach
//! (under a directory only the host's root may enter) still mounts, because runc opens the
//! sources in its own context and hands the descriptors to the init (runc 1.1's mount-source
//! fds). Run on docker-runc and, where installed, on the real runc.

mod common;
mod runtimes;

use common::{require_root, text, Bundle};
use runtimes::runtimes;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

#[test]
fn bind_sources_the_container_root_cannot_reach_still_mount() {
    if !require_root() {
        return;
    }
    let _ = dockbox::sys::set_child_subreaper();
    let b = Bundle::new("userns-binds");
    let locked = b.dir.join("locked");
    std::fs::create_dir_all(locked.join("data")).unwrap();
    std::fs::write(locked.join("data/file"), "behind a 0700 directory\n").unwrap();
    std::fs::write(locked.join("single"), "a file bound alone\n").unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
    // The targets exist: the container's root could not make them in a root the host's owns.
    std::fs::create_dir_all(b.rootfs().join("mnt/data")).unwrap();
    std::fs::write(b.rootfs().join("single"), "").unwrap();
    for rt in runtimes(&b) {
        let mut spec = b.config(&["sh", "-c", "cat /mnt/data/file /single; id -u"]);
        spec["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
        spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        let mounts = spec["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/mnt/data", "type": "bind", "source": locked.join("data"), "options": ["rbind", "ro"]}));
        // A relative source is the bundle's.
        mounts.push(json!({"destination": "/single", "type": "none", "source": "../locked/single", "options": ["bind"]}));
        b.write(&spec);
        let id = format!("u-{}", rt.name);
        let out = rt.run(&["run", "--bundle", b.bundle().to_str().unwrap(), &id]);
        assert_eq!(text(&out.stdout), "behind a 0700 directory\na file bound alone\n0\n", "{}: {}", rt.name, text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{}", rt.name);
        let _ = rt.run(&["delete", "-f", &id]);
    }
}
