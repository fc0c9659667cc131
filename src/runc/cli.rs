//! runc's command line, parsed by hand (the runtime is on `docker run`'s hot path): global
//! flags, then a command with its own flags, then positional arguments. As with runc's
//! urfave/cli, flags end at the first positional argument.

use super::flags::{check_args, parse_flags, split_eq, FlagSpec};
use super::{container, state, Error, Global, Result};
use std::path::PathBuf;

const USAGE: &str = "USAGE:
   runc [global options] command [command options] [arguments...]

COMMANDS:
   create      create a container
   checkpoint  checkpoint a running container (not supported)
   delete      delete any resources held by the container often used with detached container
   events      show the container's resource usage (and OOM events) as JSON
   exec        execute new process inside the container
   features    show the enabled features
   kill        kill sends the specified signal (default: SIGTERM) to the container's init process
   list        lists containers started by runc with the given root
   pause       freeze every process of the container
   ps          list the processes of the container
   restore     restore a container from a previous checkpoint (not supported)
   resume      thaw every process of a paused container
   run         create and run a container
   spec        create a new specification file
   start       executes the user defined process in a created container
   state       output the state of a container
   update      change the resource limits of a running container
   help, h     Shows a list of commands or help for one command

GLOBAL OPTIONS:
   --debug             enable debug logging
   --log value         set the log file to write runc logs to (default is '/dev/stderr')
   --log-format value  set the log format ('text' (default), or 'json') (default: \"text\")
   --root value        root directory for storage of container state (this should be located in tmpfs) (default: \"/run/runc\")
   --help, -h          show help
   --version, -v       print the version
";

fn version_text() -> String {
    format!(
        "runc version 1.1.x-compatible dockbox {}\ncommit: {}\nspec: {}\n",
        crate::version::DOCKBOX,
        crate::version::GIT_COMMIT,
        crate::version::OCI_SPEC
    )
}

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



fn command_help(cmd: &str) -> String {
    let (usage, flags) = match cmd {
        "create" => ("runc create [command options] <container-id>", "   --bundle value, -b value  path to the root of the bundle directory, defaults to the current directory\n   --console-socket value    path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal\n   --pid-file value          specify the file to write the process id to\n   --no-pivot                do not use pivot root to jail process inside rootfs\n   --no-new-keyring          do not create a new session keyring for the container\n   --preserve-fds value      Pass N additional file descriptors to the container (stdio + N in total) (default: 0)\n"),
        "run" => ("runc run [command options] <container-id>", "   --bundle value, -b value  path to the root of the bundle directory, defaults to the current directory\n   --console-socket value    path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal\n   --detach, -d              detach from the container's process\n   --keep                    do not delete the container after it exits\n   --pid-file value          specify the file to write the process id to\n   --no-subreaper            disable the use of the subreaper used to reap reparented processes\n   --no-pivot                do not use pivot root to jail process inside rootfs\n   --no-new-keyring          do not create a new session keyring for the container\n   --preserve-fds value      Pass N additional file descriptors to the container (stdio + N in total) (default: 0)\n"),
        "start" => ("runc start <container-id>", ""),
        "state" => ("runc state <container-id>", ""),
        "list" => ("runc list [command options]", "   --format value, -f value  select one of: table or json (default: \"table\")\n   --quiet, -q               display only container IDs\n"),
        "kill" => ("runc kill [command options] <container-id> [signal]", "   --all, -a  send the specified signal to all processes inside the container\n"),
        "delete" => ("runc delete [command options] <container-id>", "   --force, -f  Forcibly deletes the container if it is still running (uses SIGKILL)\n"),
        "spec" => ("runc spec [command options]", "   --bundle value, -b value  path to the root of the bundle directory\n   --rootless                generate a configuration for a rootless container\n"),
        "exec" => ("runc exec [command options] <container-id> <command> [command options]  || -p process.json <container-id>", "   --console-socket value         path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal\n   --cwd value                    current working directory in the container\n   --env value, -e value          set environment variables\n   --tty, -t                      allocate a pseudo-TTY\n   --user value, -u value         UID (format: <uid>[:<gid>])\n   --additional-gids value, -g value  additional gids\n   --process value, -p value      path to the process.json\n   --detach, -d                   detach from the container's process\n   --pid-file value               specify the file to write the process id to\n   --process-label value          set the asm process label for the process commonly used with selinux\n   --apparmor value               set the apparmor profile for the process\n   --no-new-privs                 set the no new privileges value for the process\n   --cap value, -c value          add a capability to the bounding set for the process\n   --preserve-fds value           Pass N additional file descriptors to the container (stdio + N in total) (default: 0)\n"),
        "features" => ("runc features", ""),
        _ => ("runc [global options] command [command options] [arguments...]", ""),
    };
    format!("NAME:\n   runc {cmd}\n\nUSAGE:\n   {usage}\n\nOPTIONS:\n{flags}")
}

/// Runs one command; Ok is the exit code.
pub fn run_command(g: &Global, argv: &[String]) -> Result<i32> {
    let Some(cmd) = argv.first() else {
        print!("NAME:\n   runc - Open Container Initiative runtime\n\n{USAGE}");
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
        "checkpoint" | "restore" => return super::features::unsupported(cmd),
        "update" | "pause" | "resume" | "events" | "ps" => return super::manage::command(g, cmd, rest),
        "help" | "h" => {
            match rest.first() {
                Some(c) if matches!(c.as_str(), "update" | "pause" | "resume" | "events" | "ps") => print!("{}", super::manage::help(c)),
                Some(c) => print!("{}", command_help(c)),
                None => print!("NAME:\n   runc - Open Container Initiative runtime\n\n{USAGE}"),
            }
            return Ok(0);
        }
        other => return Err(Error::new(format!("No help topic for '{other}'"))),
    };
    let p = parse_flags(cmd, spec, rest)?;
    if p.flag("help") {
        print!("{}", command_help(cmd));
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
            };
            super::exec::exec(g, &opts)
        }
        "features" => {
            check_args(cmd, &p, 0, 0)?;
            println!("{}", serde_json::to_string_pretty(&super::features::document()).map_err(|e| Error::new(e.to_string()))?);
            Ok(0)
        }
        _ => unreachable!("commands are matched above"),
    }
}

/// A signal by number, name (KILL) or full name (SIGKILL).
pub fn parse_signal(s: &str) -> Result<libc::c_int> {
    if let Ok(n) = s.parse::<libc::c_int>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(Error::new(format!("unknown signal {s:?}")));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    name.parse::<nix::sys::signal::Signal>().map(|s| s as libc::c_int).map_err(|_| Error::new(format!("unknown signal {s:?}")))
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
    }

    #[test]
    fn flags_stop_at_first_argument() {
        let args: Vec<String> = ["-b", "/x", "--pid-file=/p", "id", "--keep"].iter().map(|s| s.to_string()).collect();
        let p = parse_flags("run", RUN_FLAGS, &args).unwrap();
        assert_eq!(p.value("bundle"), Some("/x"));
        assert_eq!(p.value("pid-file"), Some("/p"));
        assert_eq!(p.args, vec!["id", "--keep"]);
        assert!(!p.flag("keep"));
    }
}
