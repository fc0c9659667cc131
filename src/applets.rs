//! The applet table and argv[0] dispatch, busybox-style.
//!
//! Every role is entered as `fn(args) -> exit code`, where `args[0]` is the name the program
//! was started under. Roles start each other by re-executing this same file
//! ([`crate::sys::applet_command`]), so the process tree is the one Docker documents.

use std::ffi::OsString;
use std::path::Path;

/// One role of the executable.
pub struct Applet {
    /// Names that select it: the seed name first, then modern aliases.
    pub names: &'static [&'static str],
    pub main: fn(Vec<String>) -> i32,
    pub summary: &'static str,
}

pub const APPLETS: &[Applet] = &[
    Applet { names: &["docker"], main: crate::client::main, summary: "the Docker command-line client" },
    Applet { names: &["dockerd"], main: crate::daemon::main, summary: "the Docker Engine API daemon" },
    Applet {
        names: &["docker-containerd", "containerd"],
        main: crate::containerd::main,
        summary: "the container supervisor dockerd talks to",
    },
    Applet {
        names: &["docker-containerd-ctr", "ctr"],
        main: crate::containerd::ctr::main,
        summary: "a command-line client of docker-containerd",
    },
    Applet {
        names: &["docker-containerd-shim", "containerd-shim"],
        main: crate::shim::main,
        summary: "the per-container parent that holds its stdio and exit status",
    },
    Applet { names: crate::runc::APPLET_NAMES, main: crate::runc::main, summary: "the OCI runtime" },
    Applet {
        names: &["docker-init"],
        main: crate::docker_init::main,
        summary: "the init `docker run --init` runs as PID 1 (tini's command line)",
    },
    Applet {
        names: &["docker-proxy"],
        main: crate::docker_proxy::main,
        summary: "the userland proxy of one published port (Docker's command line)",
    },
];

pub fn find(name: &str) -> Option<&'static Applet> {
    APPLETS.iter().find(|a| a.names.contains(&name))
}

fn all_names() -> impl Iterator<Item = &'static str> {
    APPLETS.iter().flat_map(|a| a.names.iter().copied())
}

/// Runs the applet named by argv[0], or the multiplexer itself.
pub fn dispatch() -> i32 {
    let args: Vec<String> = std::env::args_os().map(lossy).collect();
    let invoked = args.first().map(|a| basename(a)).unwrap_or_default();
    if let Some(applet) = find(&invoked) {
        crate::sys::set_process_name(&invoked);
        return (applet.main)(args);
    }
    if invoked == "dockbox" || invoked.starts_with("dockbox") {
        return multiplexer(args);
    }
    eprintln!("dockbox: applet not found: {invoked} (applets: {})", all_names().collect::<Vec<_>>().join(", "));
    1
}

fn multiplexer(args: Vec<String>) -> i32 {
    match args.get(1).map(String::as_str) {
        None | Some("--help") | Some("-h") => {
            print_usage();
            0
        }
        Some("--version") => {
            println!("dockbox {} (commit {})", crate::version::DOCKBOX, crate::version::GIT_COMMIT);
            0
        }
        Some("--list") => {
            for name in all_names() {
                println!("{name}");
            }
            0
        }
        Some("--install") => match args.get(2) {
            Some(dir) => match install(Path::new(dir)) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("dockbox: --install {dir}: {e}");
                    1
                }
            },
            None => {
                eprintln!("dockbox: --install needs a directory");
                1
            }
        },
        Some(name) => match find(name) {
            Some(applet) => {
                crate::sys::set_process_name(name);
                (applet.main)(args[1..].to_vec())
            }
            None => {
                eprintln!("dockbox: applet not found: {name} (applets: {})", all_names().collect::<Vec<_>>().join(", "));
                1
            }
        },
    }
}

fn print_usage() {
    println!("dockbox {}: Docker's architecture in one executable\n", crate::version::DOCKBOX);
    println!("Usage: dockbox APPLET [ARGS...]   or   ln -s dockbox APPLET; APPLET [ARGS...]");
    println!("       dockbox --list | --install DIR | --version\n");
    println!("Applets:");
    for a in APPLETS {
        println!("  {:<40} {}", a.names.join(", "), a.summary);
    }
}

/// Makes a symlink to this executable for every applet name in `dir`.
fn install(dir: &Path) -> std::io::Result<()> {
    let exe = std::env::current_exe()?;
    std::fs::create_dir_all(dir)?;
    for name in all_names() {
        let link = dir.join(name);
        match std::fs::symlink_metadata(&link) {
            Ok(m) if m.file_type().is_symlink() || m.is_file() => std::fs::remove_file(&link)?,
            Ok(_) => return Err(std::io::Error::other(format!("{} exists and is not a file", link.display()))),
            Err(_) => {}
        }
        std::os::unix::fs::symlink(&exe, &link)?;
    }
    Ok(())
}

fn basename(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

fn lossy(s: OsString) -> String {
    s.into_string().unwrap_or_else(|s| s.to_string_lossy().into_owned())
}
