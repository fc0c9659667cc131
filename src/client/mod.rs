//! The `docker` command-line client: global options, the command table, and Docker's
//! error and exit-code conventions; each command talks to dockerd over the Engine API.

pub mod api;
mod attach;
mod build;
mod containers;
mod create_flags;
mod commit;
#[cfg(not(feature = "without-compose"))]
mod compose;
mod cp;
pub mod flags;
pub mod format;
pub mod human;
mod image_cmds;
mod images;
mod login;
mod mount_flags;
mod network;
mod diff;
mod exec;
pub mod progress;
mod ps;
mod resources;
mod system;
mod volume;
mod update;
pub mod tty;
mod verbs;

use api::{Api, ApiError};
use flags::{flag, Kind, Parsed, Spec};
use std::cell::OnceCell;

use crate::http::client::Endpoint;

/// Where the client talks to when neither `-H` nor `DOCKER_HOST` says otherwise.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Exit status for wrong argument counts. Docker's CLIs (20.10 and 28 alike) exit 1 here;
/// flag errors exit 125.
const ARGS_ERROR_EXIT: i32 = 1;

/// A failed command: what to print on stderr and the exit status.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: i32,
}

impl Failure {
    pub fn new(message: impl Into<String>, code: i32) -> Failure {
        Failure { message: message.into(), code }
    }
    /// Exit status only; everything was printed already.
    pub fn silent(code: i32) -> Failure {
        Failure { message: String::new(), code }
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure::new(e.to_string(), 1)
    }
}

/// Expected positional arguments.
#[derive(Clone, Copy)]
pub enum Args {
    None,
    Exact(usize),
    AtLeast(usize),
    AtMost(usize),
    /// Between the two, inclusive.
    Range(usize, usize),
}

pub struct Command {
    pub name: &'static str,
    /// The usage line after "Usage:  ".
    pub usage: &'static str,
    pub short: &'static str,
    pub args: Args,
    /// Whether flags may follow positional arguments (false for run/create, whose
    /// command line starts at IMAGE).
    pub interspersed: bool,
    pub flags: &'static [Spec],
    pub run: fn(&Ctx, &Parsed) -> Result<i32, Failure>,
}

/// What every command shares: the daemon endpoint and the lazily negotiated API.
pub struct Ctx {
    pub host: String,
    api: OnceCell<Api>,
}

impl Ctx {
    pub fn new(host: String) -> Ctx {
        Ctx { host, api: OnceCell::new() }
    }

    /// The API, pinging the daemon on first use.
    pub fn api(&self) -> Result<&Api, ApiError> {
        if let Some(a) = self.api.get() {
            return Ok(a);
        }
        let endpoint = Endpoint::parse(&self.host).map_err(ApiError::Io)?;
        let api = Api::connect(endpoint)?;
        Ok(self.api.get_or_init(|| api))
    }
}

const GLOBAL_FLAGS: &[Spec] = &[
    flag("config", None, Kind::Value, "Location of client config files"),
    flag("context", Some('c'), Kind::Value, "Name of the context to use to connect to the daemon"),
    flag("debug", Some('D'), Kind::Bool, "Enable debug mode"),
    flag("host", Some('H'), Kind::List, "Daemon socket(s) to connect to"),
    flag("log-level", Some('l'), Kind::Value, "Set the logging level (\"debug\"|\"info\"|\"warn\"|\"error\"|\"fatal\")"),
    flag("tls", None, Kind::Bool, "Use TLS; implied by --tlsverify"),
    flag("tlscacert", None, Kind::Value, "Trust certs signed only by this CA"),
    flag("tlscert", None, Kind::Value, "Path to TLS certificate file"),
    flag("tlskey", None, Kind::Value, "Path to TLS key file"),
    flag("tlsverify", None, Kind::Bool, "Use TLS and verify the remote"),
    flag("version", Some('v'), Kind::Bool, "Print version information and quit"),
];

fn commands() -> Vec<&'static Command> {
    let mut all: Vec<&'static Command> = Vec::new();
    all.extend(containers::COMMANDS.iter());
    all.extend(attach::COMMANDS.iter());
    all.extend(images::COMMANDS.iter());
    all.extend(image_cmds::COMMANDS.iter());
    all.extend(system::COMMANDS.iter());
    all.extend(login::COMMANDS.iter());
    all.extend(diff::COMMANDS.iter());
    all.extend(commit::COMMANDS.iter());
    all.extend(exec::COMMANDS.iter());
    all.extend(verbs::COMMANDS.iter());
    all.extend(cp::COMMANDS.iter());
    all.extend(update::COMMANDS.iter());
    all.extend(network::COMMANDS.iter());
    all.extend(volume::COMMANDS.iter());
    #[cfg(not(feature = "without-compose"))]
    all.extend(compose::COMMANDS.iter());
    all.extend(build::COMMANDS.iter());
    all.sort_by_key(|c| c.name);
    all
}

/// `docker container X` for these X is the top-level `docker X`.
const CONTAINER_VERBS: &[&str] = &["attach", "run", "create", "start", "stop", "kill", "logs", "wait", "inspect", "cp", "exec", "update"];

/// `docker container ls` and friends map onto the classic top-level commands.
fn management_alias(group: &str, sub: &str) -> Option<&'static str> {
    Some(match (group, sub) {
        ("container", "ls" | "list" | "ps") => "ps",
        ("container", "rm" | "remove") => "rm",
        ("container", s) if CONTAINER_VERBS.contains(&s) => return CONTAINER_VERBS.iter().copied().find(|c| *c == s),
        ("image", "ls" | "list") => "images",
        ("image", "pull") => "pull",
        ("image", "inspect") => "inspect",
        ("system", "info") => "info",
        (group, sub) => return image_cmds::management_alias(group, sub).or_else(|| build::management_alias(group, sub)).or_else(|| verbs::management_alias(group, sub)).or_else(|| network::management_alias(group, sub)).or_else(|| volume::management_alias(group, sub)),
    })
}

/// `docker ARGS...`; `args[0]` is the name the program was started as.
pub fn main(args: Vec<String>) -> i32 {
    let rest = args.get(1..).unwrap_or_default();
    let globals = match flags::parse(GLOBAL_FLAGS, rest, false) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{e}\nSee 'docker --help'.");
            return 125;
        }
    };
    // `--config DIR` names where config.json is (credentials, detachKeys), as DOCKER_CONFIG
    // does; set while the client still has one thread.
    if let Some(dir) = globals.value("config") {
        std::env::set_var("DOCKER_CONFIG", dir);
    }
    if globals.bool("version") {
        println!("Docker version {}, build {}", crate::version::DOCKBOX, crate::version::GIT_COMMIT);
        return 0;
    }
    let Some(name) = globals.args.first() else {
        print!("{}", main_usage());
        return 0;
    };
    if globals.help && globals.args.is_empty() {
        print!("{}", main_usage());
        return 0;
    }
    let mut name = name.as_str();
    let mut cmd_args = &globals.args[1..];
    if let Some(sub) = cmd_args.first() {
        if let Some(alias) = management_alias(name, sub) {
            name = alias;
            cmd_args = &cmd_args[1..];
        }
    }
    if name == "help" {
        print!("{}", main_usage());
        return 0;
    }
    let all = commands();
    let Some(cmd) = all.iter().find(|c| c.name == name) else {
        let short_of = |sub: &str| management_alias(name, sub).and_then(|n| all.iter().find(|c| c.name == n)).map(|c| c.short);
        if let Some(usage) = verbs::group_usage(name, &short_of) {
            match cmd_args.first().map(String::as_str) {
                None => eprint!("{usage}"),
                Some("--help" | "-h") => print!("{usage}"),
                Some(sub) => {
                    eprintln!("docker: unknown command: docker {name} {sub}\n\nUsage:  docker {name}\n\nRun 'docker {name} --help' for more information");
                    return 1;
                }
            }
            return 0;
        }
        eprintln!("docker: '{name}' is not a docker command.\nSee 'docker --help'");
        return 1;
    };
    let host = globals
        .list("host")
        .last()
        .map(|s| s.to_string())
        .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| DEFAULT_HOST.to_string());
    let ctx = Ctx::new(host);
    run_command(&ctx, cmd, cmd_args)
}

fn run_command(ctx: &Ctx, cmd: &Command, args: &[String]) -> i32 {
    let parsed = match flags::parse(cmd.flags, args, cmd.interspersed) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}\nSee 'docker {} --help'.", cmd.name);
            return 125;
        }
    };
    if parsed.help {
        print!("{}", command_help(cmd));
        return 0;
    }
    if let Some(e) = check_args(cmd, parsed.args.len()) {
        eprintln!("{e}");
        return ARGS_ERROR_EXIT;
    }
    match (cmd.run)(ctx, &parsed) {
        Ok(code) => code,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("{}", f.message);
            }
            f.code
        }
    }
}

fn check_args(cmd: &Command, n: usize) -> Option<String> {
    let plural = |k: usize| if k == 1 { "argument" } else { "arguments" };
    let what = match cmd.args {
        Args::None if n > 0 => "accepts no arguments".to_string(),
        Args::Exact(k) if n != k => format!("requires exactly {k} {}", plural(k)),
        Args::AtLeast(k) if n < k => format!("requires at least {k} {}", plural(k)),
        Args::AtMost(k) if n > k => format!("accepts at most {k} {}", plural(k)),
        Args::Range(lo, hi) if n < lo || n > hi => format!("requires at least {lo} and at most {hi} {}", plural(hi)),
        _ => return None,
    };
    Some(format!("\"docker {}\" {what}.\nSee 'docker {} --help'.\n\nUsage:  {}\n\n{}", cmd.name, cmd.name, cmd.usage, cmd.short))
}

fn command_help(cmd: &Command) -> String {
    let mut s = format!("\nUsage:  {}\n\n{}\n", cmd.usage, cmd.short);
    if !cmd.flags.is_empty() {
        s.push_str("\nOptions:\n");
        s.push_str(&flags::options_help(cmd.flags));
    }
    s
}

fn main_usage() -> String {
    let mut s = String::from("\nUsage:  docker [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers\n\nOptions:\n");
    s.push_str(&flags::options_help(GLOBAL_FLAGS));
    s.push_str("\nCommands:\n");
    for c in commands() {
        s.push_str(&format!("  {:<11} {}\n", c.name, c.short));
    }
    s.push_str("\nRun 'docker COMMAND --help' for more information on a command.\n");
    s
}

/// Whether the file descriptor is a terminal.
pub(crate) fn is_terminal(fd: i32) -> bool {
    // SAFETY: isatty only inspects the descriptor number.
    unsafe { libc::isatty(fd) == 1 }
}

/// Prints `text` to stdout and flushes, ignoring a closed pipe.
pub(crate) fn out(text: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
    let _ = o.flush();
}

/// Runs `f` for each argument, printing what it returns on success; errors are collected
/// and reported together at the end, as Docker's multi-container commands do.
pub(crate) fn for_each(names: &[String], mut f: impl FnMut(&str) -> Result<Option<String>, String>) -> Result<i32, Failure> {
    let mut errors = Vec::new();
    for n in names {
        match f(n) {
            Ok(Some(line)) => out(&format!("{line}\n")),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(Failure::new(errors.join("\n"), 1))
    }
}
