//! `runc features`: what this runtime implements, as runc's JSON document (runtime-spec
//! features.md), and the `checkpoint`/`restore` refusal (there is no CRIU here).

use super::{Error, Result};
use serde_json::json;

/// The document `runc features` prints.
pub fn document() -> serde_json::Value {
    let caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let mount_options = [
        "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "mand", "noatime", "nodev",
        "nodiratime", "noexec", "nomand", "norelatime", "nostrictatime", "nosuid", "private", "rbind", "relatime",
        "remount", "ro", "rprivate", "rshared", "rslave", "runbindable", "rw", "shared", "slave", "strictatime",
        "suid", "sync", "unbindable",
    ];
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::version::OCI_SPEC,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mount_options.to_vec(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {"enabled": false},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
        },
        "annotations": {
            "org.opencontainers.runc.version": crate::version::DOCKBOX,
            "org.opencontainers.runc.commit": crate::version::GIT_COMMIT,
        },
    })
}

/// checkpoint and restore need CRIU, which this runtime does not drive.
pub fn unsupported(cmd: &str) -> Result<i32> {
    Err(Error::new(format!("{cmd} is not supported: this runtime does not implement checkpoint/restore (CRIU)")))
}
