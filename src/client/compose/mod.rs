//! `docker compose`: the Compose Specification as compose v2 reads it (`model`, with
//! `interpolate` for variables and `.env`), a planner that compares what the file asks for
//! with the containers, networks and volumes the daemon has (`plan`), and the commands
//! (`commands`). Everything goes through the client's Engine API code, so it drives any
//! Docker daemon.

mod commands;
mod emit;
mod hash;
mod interpolate;
pub mod model;
mod oneoff;
mod plan;
mod up;

use super::flags::{flag, Kind, Parsed, Spec};
use super::{Args, Command, Ctx, Failure};

pub const COMMANDS: &[Command] = &[Command {
    name: "compose",
    usage: "docker compose [OPTIONS] COMMAND",
    short: "Docker Compose",
    args: Args::AtLeast(0),
    interspersed: false,
    flags: FLAGS,
    run: compose_cmd,
}];

const FLAGS: &[Spec] = &[
    flag("env-file", None, Kind::List, "Specify an alternate environment file"),
    flag("file", Some('f'), Kind::List, "Compose configuration files"),
    flag("profile", None, Kind::List, "Specify a profile to enable"),
    flag("project-directory", None, Kind::Value, "Specify an alternate working directory\n(default: the path of the, first specified, Compose file)"),
    flag("project-name", Some('p'), Kind::Value, "Project name"),
];

/// One `docker compose` subcommand.
pub struct Sub {
    pub name: &'static str,
    pub usage: &'static str,
    pub short: &'static str,
    pub flags: &'static [Spec],
    pub run: fn(&Ctx, &Globals, &Parsed) -> Result<i32, Failure>,
}

/// The options before the subcommand.
pub struct Globals {
    pub options: model::Options,
}

impl Globals {
    /// Loads the project, printing compose's warnings on stderr.
    pub fn project(&self) -> Result<model::Project, Failure> {
        model::load(&self.options, &mut |w| eprintln!("WARN[0000] {w}")).map_err(|e| Failure::new(e, 1))
    }
}

fn compose_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let globals = Globals {
        options: model::Options {
            files: p.list("file").into_iter().map(str::to_string).collect(),
            project_name: p.value("project-name").map(str::to_string),
            project_directory: p.value("project-directory").map(str::to_string),
            env_files: p.list("env-file").into_iter().map(str::to_string).collect(),
            profiles: p.list("profile").into_iter().map(str::to_string).collect(),
        },
    };
    let Some(name) = p.args.first() else {
        print!("{}", usage());
        return Ok(0);
    };
    let Some(sub) = commands::SUBS.iter().find(|s| s.name == name) else {
        return Err(Failure::new(format!("unknown docker command: \"compose {name}\""), 1));
    };
    // exec and run take a command after the service: options end at the service.
    let interspersed = !matches!(sub.name, "exec" | "run");
    let parsed = super::flags::parse(sub.flags, &p.args[1..], interspersed).map_err(|e| Failure::new(format!("{e}\nSee 'docker compose {} --help'.", sub.name), 1))?;
    if parsed.help {
        let mut s = format!("\nUsage:  {}\n\n{}\n", sub.usage, sub.short);
        if !sub.flags.is_empty() {
            s.push_str("\nOptions:\n");
            s.push_str(&super::flags::options_help(sub.flags));
        }
        super::out(&s);
        return Ok(0);
    }
    (sub.run)(ctx, &globals, &parsed)
}

fn usage() -> String {
    let mut s = String::from("\nUsage:  docker compose [OPTIONS] COMMAND\n\nDefine and run multi-container applications with Docker\n\nOptions:\n");
    s.push_str(&super::flags::options_help(FLAGS));
    s.push_str("\nCommands:\n");
    for c in commands::SUBS {
        s.push_str(&format!("  {:<11} {}\n", c.name, c.short));
    }
    s.push_str("\nRun 'docker compose COMMAND --help' for more information on a command.\n");
    s
}
