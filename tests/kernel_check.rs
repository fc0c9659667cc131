//! The kernel as the board holder meets it: `dockerd --check-config` (this machine's config,
//! a config file named by CONFIG, plain and gzip, one lacking a required option), and
//! dockerd falling back to vfs, with a warning, where overlayfs cannot be mounted (a data
//! root on an overlay mount), or refusing `--storage-driver overlay2` there.

mod common;

use common::{applet, require_root, stderr, stdout, TempDir};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn check_config(config: Option<&std::path::Path>) -> std::process::Output {
    let mut cmd = applet("dockerd");
    cmd.arg("--check-config");
    match config {
        Some(p) => cmd.env("CONFIG", p),
        None => cmd.env_remove("CONFIG"),
    };
    cmd.output().unwrap()
}

/// Every option the report lists as required, set to `y`.
fn full_config() -> String {
    dockbox::kernel_check::required_options((6, 1)).iter().map(|o| format!("CONFIG_{o}=y\n")).collect::<String>() + "CONFIG_OVERLAY_FS=m\n"
}

#[test]
fn check_config_reads_this_kernel_and_named_files() {
    let mine = check_config(None);
    let text = stdout(&mine);
    if std::path::Path::new("/proc/config.gz").exists() {
        assert!(text.starts_with("info: reading kernel config from /proc/config.gz ..."), "{text}");
        assert!(text.contains("Generally Necessary:") && text.contains("Optional Features:") && text.contains("- Storage Drivers:"), "{text}");
        assert!(text.contains("- CONFIG_NAMESPACES: enabled"), "{text}");
    }
    let dir = TempDir::new("kcheck");
    let plain = dir.join("config");
    std::fs::write(&plain, full_config()).unwrap();
    let o = check_config(Some(&plain));
    let text = stdout(&o);
    assert!(text.contains("- CONFIG_VETH: enabled\n") && text.contains("- CONFIG_OVERLAY_FS: enabled (as module)"), "{text}");
    assert!(text.contains("- CONFIG_USER_NS: missing"), "optional options are listed too: {text}");

    // The same, gzip-compressed, with a required option gone: exit status 1.
    let gz = dir.join("config.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::default());
    enc.write_all(full_config().replace("CONFIG_VETH=y\n", "").as_bytes()).unwrap();
    enc.finish().unwrap();
    let o = check_config(Some(&gz));
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("- CONFIG_VETH: missing"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("(without it dockerd uses \"vfs\""), "overlay is there");

    let o = check_config(Some(&dir.join("nope")));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot find kernel config"), "{}", stderr(&o));
}

/// A dockerd on `data_root` with `extra` flags: its log once it answers (or dies).
fn dockerd_log(dir: &TempDir, data_root: &std::path::Path, extra: &[&str]) -> (Option<std::process::Child>, String) {
    let log = dir.join("dockerd.log");
    let mut cmd = Command::new("unshare");
    cmd.arg("--net").arg(common::applet_dir().join("dockerd"));
    cmd.arg("--data-root").arg(data_root).arg("--exec-root").arg(dir.join("exec")).arg("--pidfile").arg(dir.join("pid"));
    cmd.arg("-H").arg(format!("unix://{}", dir.join("sock").display())).args(["--bridge=none", "--iptables=false", "--ip6tables=false"]).args(extra);
    cmd.stdin(Stdio::null()).stdout(std::fs::File::create(&log).unwrap()).stderr(std::fs::File::create(dir.join("stderr")).unwrap());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let up = std::os::unix::net::UnixStream::connect(dir.join("sock")).is_ok();
        let exited = child.try_wait().unwrap().is_some();
        if up || exited || Instant::now() > deadline {
            let text = std::fs::read_to_string(&log).unwrap_or_default() + &std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
            return (if exited { None } else { Some(child) }, text);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn without_overlay_dockerd_falls_back_to_vfs_or_refuses_overlay2() {
    if !require_root() {
        return;
    }
    let dir = TempDir::new("no-overlay");
    // A data root on an overlay mount: overlayfs cannot take its upper layer there.
    for d in ["l", "u", "w", "m"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let opts = format!("lowerdir={},upperdir={},workdir={}", dir.join("l").display(), dir.join("u").display(), dir.join("w").display());
    nix::mount::mount(Some("overlay"), &dir.join("m"), Some("overlay"), nix::mount::MsFlags::empty(), Some(opts.as_str())).unwrap();
    let data = dir.join("m/data");
    let (child, log) = dockerd_log(&dir, &data, &["--storage-driver", "overlay2"]);
    assert!(child.is_none(), "dockerd started with overlay2 where it cannot mount: {log}");
    assert!(log.contains("error initializing graphdriver: driver not supported: overlay2"), "{log}");

    let (child, log) = dockerd_log(&dir, &data, &[]);
    let mut child = child.unwrap_or_else(|| panic!("dockerd did not start: {log}"));
    let info = Command::new(common::applet_dir().join("docker")).arg("-H").arg(format!("unix://{}", dir.join("sock").display())).args(["info", "--format", "{{.Driver}}"]).output().unwrap();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM);
    let _ = child.wait();
    let _ = nix::mount::umount2(&dir.join("m"), nix::mount::MntFlags::MNT_DETACH);
    assert_eq!(stdout(&info).trim(), "vfs", "{}", stderr(&info));
    assert!(log.contains("level=warning") && log.contains("[graphdriver] overlay2 cannot be used here: using vfs"), "{log}");
}
