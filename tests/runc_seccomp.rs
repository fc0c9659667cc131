//! The seccomp filter docker-runc compiles, against runc 1.1's (issue 14, "Seccomp"):
//! syscalls newer than the profile (above the largest number it names) get ENOSYS, so libc
//! falls back to older calls; known ones not allowed get the default errno
//! (`defaultErrnoRet`). Checked by loading the compiled filter in a forked child.

use dockbox::seccomp::Seccomp;

/// Loads the profile's filter in a child (no_new_privs first, so no privilege is needed)
/// and returns the errno (0 on success) of each raw syscall of `calls` made under it.
fn errnos_under(profile: serde_json::Value, calls: &[libc::c_long]) -> Vec<i32> {
    let filter = Seccomp::from_value(&profile).unwrap().compile().unwrap();
    let (r, w) = nix::unistd::pipe().unwrap();
    // SAFETY: the child only makes raw syscalls and writes to a pipe before _exit.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            // SAFETY: plain integer arguments.
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            if dockbox::seccomp::install(&filter).is_err() {
                // SAFETY: leaving the forked child.
                unsafe { libc::_exit(2) };
            }
            let mut out = [0u8; 64];
            for (i, nr) in calls.iter().enumerate() {
                // SAFETY: the calls are given bad or null arguments on purpose; none of
                // them dereferences memory we own (the profile decides before the kernel).
                let rc = unsafe { libc::syscall(*nr, 0usize, 0usize, 0usize) };
                out[i] = if rc < 0 { std::io::Error::last_os_error().raw_os_error().unwrap_or(255) as u8 } else { 0 };
            }
            let _ = nix::unistd::write(&w, &out[..calls.len()]);
            // SAFETY: leaving the forked child.
            unsafe { libc::_exit(0) };
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(w);
            let mut buf = [0u8; 64];
            let n = nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&r), &mut buf).unwrap();
            let status = nix::sys::wait::waitpid(child, None).unwrap();
            assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            buf[..n].iter().map(|b| *b as i32).collect()
        }
    }
}

fn native_arch() -> &'static str {
    if cfg!(target_arch = "x86_64") {
        "SCMP_ARCH_X86_64"
    } else if cfg!(target_arch = "aarch64") {
        "SCMP_ARCH_AARCH64"
    } else if cfg!(target_arch = "arm") {
        "SCMP_ARCH_ARM"
    } else {
        "SCMP_ARCH_X86"
    }
}

#[test]
fn syscalls_newer_than_the_profile_get_enosys_and_known_ones_the_default_errno() {
    // The largest call the profile names is openat: pidfd_open (newer) is unknown to it.
    let allowed = ["read", "write", "close", "exit", "exit_group", "getpid", "openat"];
    let calls = [libc::SYS_getpid, libc::SYS_pidfd_open, libc::SYS_mkdirat];
    const { assert!(libc::SYS_pidfd_open > libc::SYS_openat) };
    let profile = serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": [native_arch()],
        "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}],
    });
    let mkdirat_is_newer = libc::SYS_mkdirat > libc::SYS_openat;
    let got = errnos_under(profile.clone(), &calls);
    assert_eq!(got[0], 0, "allowed");
    assert_eq!(got[1], libc::ENOSYS, "newer than the profile: ENOSYS, as runc's stub");
    assert_eq!(got[2], if mkdirat_is_newer { libc::ENOSYS } else { libc::EPERM }, "a known call not allowed: the default errno");

    // defaultErrnoRet replaces EPERM for known calls; newer ones still get ENOSYS.
    let mut with_errno = profile.clone();
    with_errno["defaultErrnoRet"] = serde_json::json!(libc::EACCES);
    let got = errnos_under(with_errno, &calls);
    assert_eq!(got[1], libc::ENOSYS);
    assert_eq!(got[2], if mkdirat_is_newer { libc::ENOSYS } else { libc::EACCES });

    // No stub when the default lets calls through, or without architectures (as runc).
    let mut permissive = profile.clone();
    permissive["defaultAction"] = serde_json::json!("SCMP_ACT_ALLOW");
    permissive["syscalls"] = serde_json::json!([{"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO"}]);
    let got = errnos_under(permissive, &calls);
    assert_eq!(got[2], libc::EPERM);
    assert_ne!(got[1], libc::EPERM, "pidfd_open(0) is not denied");
    let mut no_arches = profile;
    no_arches["architectures"] = serde_json::json!([]);
    assert_eq!(errnos_under(no_arches, &calls)[1], libc::EPERM);
}
