//! runc's command line, parsed by hand (the runtime is on `docker run`'s hot path): global
//! flags, then a command with its own flags, then positional arguments. As with runc's
//! urfave/cli, a command's flags that follow its arguments are moved in front first (all
//! commands but `exec` and `ps`: see `flags::reorder`), and flags end at the first
//! positional argument. An unknown command is runc's "No help topic" with status 3.

use super::flags::{check_args, parse_flags, split_eq, FlagSpec};
use super::{container, help, state, Error, Global, Result};
use std::path::PathBuf;

/// `runc --version`: runc's lines, which containerd, Docker and others parse. The first is
/// `runc version X.Y.Z` with the runc release whose behaviour this runtime follows; no later
/// line may contain the word "version" (Docker takes the last such line for the version).
pub fn version_text() -> String {
    format!(
        "runc version {}\ncommit: dockbox-{}-{}\nspec: {}\ngo: none (dockbox {} is written in Rust)\nlibseccomp: none (dockbox compiles seccomp filters itself)\n",
        RUNC_COMPAT,
        crate::version::DOCKBOX,
        crate::version::GIT_COMMIT,
        RUNC_SPEC,
        crate::version::DOCKBOX,
    )
}

/// The runc release whose command line and behaviour docker-runc follows.
const RUNC_COMPAT: &str = "1.1.12";
/// The runtime-spec version runc 1.1 reports in `--version`.
const RUNC_SPEC: &str = "1.0.2-dev";

/// Parses the global options; returns them and the command with its arguments.
pub fn parse_global(args: &[String]) -> Result<(Global, Vec<String>)> {
    let mut g = Global::default();
    let mut i = 0;
    while i < args.len() {
        let (name, inline) = split_eq(&args[i]);
        if !name.starts_with('-') {
            break;
        }
        let value = |i: &mut usize| -> Result<String> {
            if let Some(v) = inline {
                return Ok(v.to_string());
            }
            *i += 1;
            args.get(*i).cloned().ok_or_else(|| Error::new(format!("flag needs an argument: {name}")))
        };
        match name.trim_start_matches('-') {
            "root" => g.root = PathBuf::from(value(&mut i)?),
            "log" => {
                let v = value(&mut i)?;
                g.log = if v.is_empty() || v == "/dev/stderr" { None } else { Some(PathBuf::from(v)) };
            }
            "log-format" => match value(&mut i)?.as_str() {
                "text" => g.log_json = false,
                "json" => g.log_json = true,
                other => return Err(Error::new(format!("invalid log-format: {other}"))),
            },
            "debug" => g.debug = true,
            "systemd-cgroup" if inline != Some("false") => return Err(Error::new("the systemd cgroup driver (--systemd-cgroup) is not supported; use cgroupfs paths")),
            "systemd-cgroup" | "rootless" | "no-systemd-cgroup" => {}
            "criu" => {
                value(&mut i)?;
            }
            "help" | "h" => return Ok((g, vec!["help".into()])),
            "version" | "v" => {
                print!("{}", version_text());
                std::process::exit(0);
            }
            _ => return Err(Error::new(format!("flag provided but not defined: {name}"))),
        }
        i += 1;
    }
    // Commands chdir into the bundle: relative paths are taken from where we started.
    if let Ok(cwd) = std::env::current_dir() {
        g.root = cwd.join(&g.root);
        g.log = g.log.map(|l| cwd.join(l));
    }
    Ok((g, args[i..].to_vec()))
}



const CREATE_FLAGS: FlagSpec = &[
    (&["bundle", "b"], true),
    (&["console-socket"], true),
    (&["pid-file"], true),
    (&["no-pivot"], false),
    (&["no-new-keyring"], false),
    (&["preserve-fds"], true),
];
const RUN_FLAGS: FlagSpec = &[
    (&["bundle", "b"], true),
    (&["console-socket"], true),
    (&["detach", "d"], false),
    (&["keep"], false),
    (&["pid-file"], true),
    (&["no-subreaper"], false),
    (&["no-pivot"], false),
    (&["no-new-keyring"], false),
    (&["preserve-fds"], true),
];
const LIST_FLAGS: FlagSpec = &[(&["format", "f"], true), (&["quiet", "q"], false)];
const KILL_FLAGS: FlagSpec = &[(&["all", "a"], false)];
const DELETE_FLAGS: FlagSpec = &[(&["force", "f"], false)];
const SPEC_FLAGS: FlagSpec = &[(&["bundle", "b"], true), (&["rootless"], false)];
const NO_FLAGS: FlagSpec = &[];
const EXEC_FLAGS: FlagSpec = &[
    (&["process", "p"], true),
    (&["tty", "t"], false),
    (&["detach", "d"], false),
    (&["console-socket"], true),
    (&["cwd"], true),
    (&["env", "e"], true),
    (&["user", "u"], true),
    (&["additional-gids", "g"], true),
    (&["cap", "c"], true),
    (&["no-new-privs"], false),
    (&["pid-file"], true),
    (&["preserve-fds"], true),
    (&["process-label"], true),
    (&["apparmor"], true),
    (&["ignore-paused"], false),
    (&["cgroup"], true),
];



/// Runs one command; Ok is the exit code.
pub fn run_command(g: &Global, argv: &[String]) -> Result<i32> {
    let Some(cmd) = argv.first() else {
        print!("{}", help::MAIN);
        return Ok(0);
    };
    let rest = &argv[1..];
    let spec = match cmd.as_str() {
        "create" => CREATE_FLAGS,
        "run" => RUN_FLAGS,
        "list" => LIST_FLAGS,
        "kill" => KILL_FLAGS,
        "delete" => DELETE_FLAGS,
        "spec" => SPEC_FLAGS,
        "start" | "state" | "features" => NO_FLAGS,
        "exec" => EXEC_FLAGS,
        "checkpoint" | "restore" => {
            // Their help works; running them is refused (no CRIU).
            let p = parse_flags(cmd, &[], rest, true).unwrap_or_default();
            if p.flag("help") {
                print!("{}", help::command(cmd).unwrap_or_default());
                return Ok(0);
            }
            return super::features::unsupported(cmd);
        }
        "update" | "pause" | "resume" | "events" | "ps" => return super::manage::command(g, cmd, rest),
        // runc 1.1 has no `version` command; `runc version` answers as `--version` does.
        "version" if rest.is_empty() => {
            print!("{}", version_text());
            return Ok(0);
        }
        "help" | "h" => {
            match rest.first() {
                Some(c) => match help::command(c) {
                    Some(text) => print!("{text}"),
                    None => return Err(Error { msg: format!("No help topic for '{c}'"), code: 3 }),
                },
                None => print!("{}", help::MAIN),
            }
            return Ok(0);
        }
        other => return Err(Error { msg: format!("No help topic for '{other}'"), code: 3 }),
    };
    let p = parse_flags(cmd, spec, rest, cmd != "exec")?;
    if p.flag("help") {
        print!("{}", help::command(cmd).unwrap_or_default());
        return Ok(0);
    }
    match cmd.as_str() {
        "create" | "run" => {
            check_args(cmd, &p, 1, 1)?;
            let opts = container::CreateOptions {
                id: p.args[0].clone(),
                bundle: p.value("bundle").map(PathBuf::from),
                pid_file: p.value("pid-file").map(PathBuf::from),
                console_socket: p.value("console-socket").map(PathBuf::from),
                no_pivot: p.flag("no-pivot"),
                no_new_keyring: p.flag("no-new-keyring"),
                preserve_fds: match p.value("preserve-fds") {
                    Some(v) => v.parse().map_err(|_| Error::new(format!("invalid value {v:?} for flag -preserve-fds")))?,
                    None => 0,
                },
                detach: p.flag("detach"),
                keep: p.flag("keep"),
                no_subreaper: p.flag("no-subreaper"),
                console_fd: None,
            };
            if cmd == "create" {
                container::create(g, &opts).map_err(|e| Error::new(format!("runc create failed: {}", e.msg)))?;
                Ok(0)
            } else {
                container::run(g, &opts).map_err(|e| Error { msg: format!("runc run failed: {}", e.msg), code: e.code })
            }
        }
        "start" => {
            check_args(cmd, &p, 1, 1)?;
            container::start(g, &p.args[0])?;
            Ok(0)
        }
        "state" => {
            check_args(cmd, &p, 1, 1)?;
            let c = state::Container::load(g, &p.args[0])?;
            let doc = c.state_document(false);
            print!("{}", serde_json::to_string_pretty(&doc).map_err(|e| Error::new(e.to_string()))?);
            Ok(0)
        }
        "list" => {
            check_args(cmd, &p, 0, 0)?;
            state::list(g, p.value("format").unwrap_or("table"), p.flag("quiet"))?;
            Ok(0)
        }
        "kill" => {
            check_args(cmd, &p, 1, 2)?;
            let signal = parse_signal(p.args.get(1).map(String::as_str).unwrap_or("SIGTERM"))?;
            container::kill(g, &p.args[0], signal, p.flag("all"))?;
            Ok(0)
        }
        "delete" => {
            check_args(cmd, &p, 1, 1)?;
            container::delete(g, &p.args[0], p.flag("force"))?;
            Ok(0)
        }
        "spec" => {
            check_args(cmd, &p, 0, 0)?;
            write_spec(p.value("bundle"), p.flag("rootless"))?;
            Ok(0)
        }
        "exec" => {
            if p.value("process").is_some() {
                check_args(cmd, &p, 1, usize::MAX)?;
            } else {
                check_args(cmd, &p, 2, usize::MAX)?;
            }
            let all = |name: &str| p.values(name);
            let opts = super::exec::ExecOptions {
                id: p.args[0].clone(),
                args: p.args[1..].to_vec(),
                process_file: p.value("process").map(PathBuf::from),
                tty: p.flag("tty"),
                detach: p.flag("detach"),
                console_socket: p.value("console-socket").map(PathBuf::from),
                cwd: p.value("cwd").map(str::to_string),
                env: all("env"),
                user: p.value("user").map(str::to_string),
                additional_gids: all("additional-gids").iter().flat_map(|v| v.split(',').map(str::to_string).collect::<Vec<_>>()).collect(),
                caps: all("cap"),
                no_new_privs: p.flag("no-new-privs"),
                pid_file: p.value("pid-file").map(PathBuf::from),
                preserve_fds: match p.value("preserve-fds") {
                    Some(v) => v.parse().map_err(|_| Error::new(format!("invalid value {v:?} for flag -preserve-fds")))?,
                    None => 0,
                },
                process_label: p.value("process-label").map(str::to_string),
                apparmor: p.value("apparmor").map(str::to_string),
                ignore_paused: p.flag("ignore-paused"),
                cgroups: all("cgroup"),
            };
            // A failure of runc itself (not of the process) is 255, as runc's `exec failed`.
            super::exec::exec(g, &opts).map_err(|e| Error {
                msg: if e.msg.starts_with("exec failed: ") { e.msg } else { format!("exec failed: {}", e.msg) },
                code: 255,
            })
        }
        "features" => {
            check_args(cmd, &p, 0, 0)?;
            println!("{}", serde_json::to_string_pretty(&super::features::document()).map_err(|e| Error::new(e.to_string()))?);
            Ok(0)
        }
        _ => unreachable!("commands are matched above"),
    }
}

/// A signal as runc reads one: any number (0 is a liveness check; the kernel judges the
/// rest), or a name with or without `SIG`, in any case (real-time ones by number only).
pub fn parse_signal(s: &str) -> Result<libc::c_int> {
    if let Ok(n) = s.parse::<libc::c_int>() {
        return Ok(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    format!("SIG{name}").parse::<nix::sys::signal::Signal>().map(|s| s as libc::c_int).map_err(|_| Error::new(format!("unknown signal {s:?}")))
}

/// `runc spec`: writes the default config.json into the bundle directory (cwd by default).
fn write_spec(bundle: Option<&str>, rootless: bool) -> Result<()> {
    if let Some(b) = bundle {
        if !b.is_empty() {
            std::env::set_current_dir(b).map_err(|e| Error::new(format!("chdir {b}: {}", state::errno_text(&e))))?;
        }
    }
    if std::path::Path::new("config.json").exists() {
        return Err(Error::new("File config.json exists. Remove it first"));
    }
    let spec = crate::oci::Spec::example(rootless, nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
    std::fs::write("config.json", spec.to_pretty_json()).map_err(|e| Error::new(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_and_number() {
        assert_eq!(parse_signal("KILL").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("SIGTERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("usr1").unwrap(), libc::SIGUSR1);
        assert!(parse_signal("FOO").is_err());
        assert_eq!(parse_signal("0").unwrap(), 0);
        assert_eq!(parse_signal("40").unwrap(), 40);
        assert_eq!(parse_signal("sigcont").unwrap(), libc::SIGCONT);
        assert!(parse_signal("RTMIN").is_err(), "runc knows no real-time names");
    }

    #[test]
    fn flags_stop_at_first_argument() {
        let args: Vec<String> = ["-b", "/x", "--pid-file=/p", "id", "--keep"].iter().map(|s| s.to_string()).collect();
        let p = parse_flags("exec", EXEC_FLAGS, &args[2..], false).unwrap();
        assert_eq!(p.value("pid-file"), Some("/p"));
        assert_eq!(p.args, vec!["id", "--keep"]);
        assert!(!p.flag("keep"));
        // Every other command takes its flags after the id too, as runc's urfave/cli does.
        let p = parse_flags("run", RUN_FLAGS, &args, true).unwrap();
        assert_eq!(p.value("bundle"), Some("/x"));
        assert_eq!(p.args, vec!["id"]);
        assert!(p.flag("keep"));
    }
}
