//! The `docker compose` subcommands.

use super::model::Project;
use super::{Globals, Sub};
use crate::client::flags::{flag, Kind, Parsed};
use crate::client::{out, Ctx, Failure};
use serde_json::{json, Map, Value};

pub const SUBS: &[Sub] = &[
    Sub {
        name: "up",
        usage: "docker compose up [OPTIONS] [SERVICE...]",
        short: "Create and start containers",
        flags: &[
            flag("build", None, Kind::Bool, "Build images before starting containers"),
            flag("detach", Some('d'), Kind::Bool, "Detached mode: Run containers in the background"),
            flag("force-recreate", None, Kind::Bool, "Recreate containers even if their configuration and image haven't changed"),
            flag("no-recreate", None, Kind::Bool, "If containers already exist, don't recreate them. Incompatible with --force-recreate."),
            flag("no-start", None, Kind::Bool, "Don't start the services after creating them"),
            flag("remove-orphans", None, Kind::Bool, "Remove containers for services not defined in the Compose file"),
            flag("scale", None, Kind::List, "Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present."),
            flag("wait", None, Kind::Bool, "Wait for services to be running|healthy. Implies detached mode."),
            flag("wait-timeout", None, Kind::Value, "Maximum duration in seconds to wait for the project to be running|healthy"),
        ],
        run: super::up::up_cmd,
    },
    Sub {
        name: "down",
        usage: "docker compose down [OPTIONS] [SERVICES]",
        short: "Stop and remove containers, networks",
        flags: &[
            flag("remove-orphans", None, Kind::Bool, "Remove containers for services not defined in the Compose file"),
            flag("rmi", None, Kind::Value, "Remove images used by services. \"local\" remove only images that don't have a custom tag (\"local\"|\"all\")"),
            flag("timeout", Some('t'), Kind::Value, "Specify a shutdown timeout in seconds"),
            flag("volumes", Some('v'), Kind::Bool, "Remove named volumes declared in the \"volumes\" section of the Compose file and anonymous volumes attached to containers"),
        ],
        run: super::up::down_cmd,
    },
    Sub {
        name: "ps",
        usage: "docker compose ps [OPTIONS] [SERVICE...]",
        short: "List containers",
        flags: &[
            flag("all", Some('a'), Kind::Bool, "Show all stopped containers (including those created by the run command)"),
            flag("quiet", Some('q'), Kind::Bool, "Only display IDs"),
            flag("services", None, Kind::Bool, "Display services"),
        ],
        run: super::up::ps_cmd,
    },
    Sub {
        name: "logs",
        usage: "docker compose logs [OPTIONS] [SERVICE...]",
        short: "View output from containers",
        flags: &[
            flag("follow", Some('f'), Kind::Bool, "Follow log output"),
            flag("no-color", None, Kind::Bool, "Produce monochrome output"),
            flag("no-log-prefix", None, Kind::Bool, "Don't print prefix in logs"),
            flag("tail", Some('n'), Kind::Value, "Number of lines to show from the end of the logs for each container"),
            flag("timestamps", Some('t'), Kind::Bool, "Show timestamps"),
        ],
        run: super::up::logs_cmd,
    },
    Sub {
        name: "start",
        usage: "docker compose start [SERVICE...]",
        short: "Start services",
        flags: &[],
        run: super::up::start_cmd,
    },
    Sub {
        name: "stop",
        usage: "docker compose stop [OPTIONS] [SERVICE...]",
        short: "Stop services",
        flags: &[flag("timeout", Some('t'), Kind::Value, "Specify a shutdown timeout in seconds")],
        run: super::up::stop_cmd,
    },
    Sub {
        name: "restart",
        usage: "docker compose restart [OPTIONS] [SERVICE...]",
        short: "Restart service containers",
        flags: &[flag("timeout", Some('t'), Kind::Value, "Specify a shutdown timeout in seconds")],
        run: super::up::restart_cmd,
    },
    Sub {
        name: "build",
        usage: "docker compose build [SERVICE...]",
        short: "Build or rebuild services",
        flags: &[],
        run: super::up::build_cmd,
    },
    Sub {
        name: "exec",
        usage: "docker compose exec [OPTIONS] SERVICE COMMAND [ARGS...]",
        short: "Execute a command in a running container",
        flags: &[
            flag("detach", Some('d'), Kind::Bool, "Detached mode: Run command in the background"),
            flag("env", Some('e'), Kind::List, "Set environment variables"),
            flag("index", None, Kind::Value, "Index of the container if service has multiple replicas"),
            flag("no-TTY", Some('T'), Kind::Bool, "Disable pseudo-TTY allocation. By default `docker compose exec` allocates a TTY."),
            flag("privileged", None, Kind::Bool, "Give extended privileges to the process"),
            flag("user", Some('u'), Kind::Value, "Run the command as this user"),
            flag("workdir", Some('w'), Kind::Value, "Path to workdir directory for this command"),
        ],
        run: super::oneoff::exec_cmd,
    },
    Sub {
        name: "run",
        usage: "docker compose run [OPTIONS] SERVICE [COMMAND] [ARGS...]",
        short: "Run a one-off command on a service",
        flags: &[
            flag("detach", Some('d'), Kind::Bool, "Run container in background and print container ID"),
            flag("entrypoint", None, Kind::Value, "Override the entrypoint of the image"),
            flag("env", Some('e'), Kind::List, "Set environment variables"),
            flag("label", Some('l'), Kind::List, "Add or override a label"),
            flag("name", None, Kind::Value, "Assign a name to the container"),
            flag("no-TTY", Some('T'), Kind::Bool, "Disable pseudo-TTY allocation (default: auto-detected)"),
            flag("no-deps", None, Kind::Bool, "Don't start linked services"),
            flag("publish", Some('p'), Kind::List, "Publish a container's port(s) to the host"),
            flag("rm", None, Kind::Bool, "Automatically remove the container when it exits"),
            flag("service-ports", None, Kind::Bool, "Run command with all service's ports enabled and mapped to the host"),
            flag("user", Some('u'), Kind::Value, "Run as specified username or uid"),
            flag("volume", Some('v'), Kind::List, "Bind mount a volume"),
            flag("workdir", Some('w'), Kind::Value, "Working directory inside the container"),
        ],
        run: super::oneoff::run_cmd,
    },
    Sub {
        name: "pull",
        usage: "docker compose pull [OPTIONS] [SERVICE...]",
        short: "Pull service images",
        flags: &[flag("ignore-pull-failures", None, Kind::Bool, "Pull what it can and ignores images with pull failures")],
        run: super::oneoff::pull_cmd,
    },
    Sub {
        name: "ls",
        usage: "docker compose ls [OPTIONS]",
        short: "List running compose projects",
        flags: &[
            flag("all", Some('a'), Kind::Bool, "Show all stopped Compose projects"),
            flag("format", None, Kind::Value, "Format the output. Values: [table | json]"),
            flag("quiet", Some('q'), Kind::Bool, "Only display project names"),
        ],
        run: super::oneoff::ls_cmd,
    },
    Sub {
        name: "images",
        usage: "docker compose images [OPTIONS] [SERVICE...]",
        short: "List images used by the created containers",
        flags: &[flag("quiet", Some('q'), Kind::Bool, "Only display IDs")],
        run: super::oneoff::images_cmd,
    },
    Sub {
        name: "top",
        usage: "docker compose top [SERVICES...]",
        short: "Display the running processes",
        flags: &[],
        run: super::oneoff::top_cmd,
    },
    Sub {
    name: "config",
    usage: "docker compose config [OPTIONS] [SERVICE...]",
    short: "Parse, resolve and render compose file in canonical format",
    flags: &[
        flag("format", None, Kind::Value, "Format the output. Values: [yaml | json] (default \"yaml\")"),
        flag("hash", None, Kind::Value, "Print the service config hash, one per line."),
        flag("images", None, Kind::Bool, "Print the image names, one per line."),
        flag("networks", None, Kind::Bool, "Print the network names, one per line."),
        flag("output", Some('o'), Kind::Value, "Save to file (default to stdout)"),
        flag("profiles", None, Kind::Bool, "Print the profile names, one per line."),
        flag("quiet", Some('q'), Kind::Bool, "Only validate the configuration, don't print anything."),
        flag("services", None, Kind::Bool, "Print the service names, one per line."),
        flag("volumes", None, Kind::Bool, "Print the volume names, one per line."),
    ],
    run: config_cmd,
    },
];

/// The project as `docker compose config` shows it: name, services, networks, volumes.
pub fn resolved(project: &Project, only: &[String]) -> Value {
    let mut top = Map::new();
    top.insert("name".into(), json!(project.name));
    let services: Map<String, Value> = project.services.iter().filter(|(n, _)| only.is_empty() || only.contains(n)).map(|(n, s)| (n.clone(), s.clone())).collect();
    top.insert("services".into(), Value::Object(services));
    if !project.networks.is_empty() {
        top.insert("networks".into(), json!(project.networks));
    }
    if !project.volumes.is_empty() {
        top.insert("volumes".into(), json!(project.volumes));
    }
    Value::Object(top)
}

fn config_cmd(_ctx: &Ctx, g: &Globals, p: &Parsed) -> Result<i32, Failure> {
    let project = g.project()?;
    for s in &p.args {
        if !project.services.contains_key(s) {
            return Err(Failure::new(format!("no such service: {s}"), 1));
        }
    }
    if p.bool("quiet") {
        return Ok(0);
    }
    let lines = |items: Vec<String>| {
        out(&items.iter().map(|l| format!("{l}\n")).collect::<String>());
        Ok(0)
    };
    if let Some(which) = p.value("hash") {
        // The hash `up` writes in com.docker.compose.config-hash, by service name.
        let names: Vec<String> = if which == "*" { project.services.keys().cloned().collect() } else { which.split(',').map(str::to_string).collect() };
        let mut hashes = Vec::new();
        for name in names {
            let svc = project.services.get(&name).ok_or_else(|| Failure::new(format!("no such service: {name}"), 1))?;
            hashes.push(format!("{name} {}", super::plan::config_hash(svc)));
        }
        hashes.sort();
        return lines(hashes);
    }
    if p.bool("services") {
        return lines(project.services.keys().cloned().collect());
    }
    if p.bool("volumes") {
        return lines(project.volumes.keys().cloned().collect());
    }
    if p.bool("networks") {
        return lines(project.networks.keys().cloned().collect());
    }
    if p.bool("images") {
        return lines(project.services.values().filter_map(|s| s["image"].as_str().map(str::to_string)).collect());
    }
    if p.bool("profiles") {
        let mut all: Vec<String> = project.services.values().chain(project.disabled.values()).flat_map(|s| s["profiles"].as_array().cloned().unwrap_or_default()).filter_map(|v| v.as_str().map(str::to_string)).collect();
        all.sort();
        all.dedup();
        return lines(all);
    }
    let doc = resolved(&project, &p.args);
    let text = match p.value("format").unwrap_or("yaml") {
        // Compose's order of the top-level keys, not the alphabet's.
        "yaml" => ["name", "services", "networks", "volumes"].iter().filter_map(|k| doc.get(*k).map(|v| super::emit::to_yaml(&json!({ *k: v })))).collect(),
        "json" => serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n",
        other => return Err(Failure::new(format!("unsupported format {other:?}"), 1)),
    };
    match p.value("output") {
        Some(f) => std::fs::write(f, text).map_err(|e| Failure::new(e.to_string(), 1))?,
        None => out(&text),
    }
    Ok(0)
}
