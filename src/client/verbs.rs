//! Container verbs beside the life cycle: `pause`, `unpause`, `rename`, `restart`, `top`,
//! `stats`, `port`, `events`, `container prune` and `system prune`, with Docker's output.

use super::api::{seg, Api};
use super::flags::{flag, Kind, Parsed, Spec};
use super::{for_each, human, out, Args, Command, Ctx, Failure};
use serde_json::{json, Map, Value};
use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

pub const COMMANDS: &[Command] = &[
    Command {
        name: "pause",
        usage: "docker pause CONTAINER [CONTAINER...]",
        short: "Pause all processes within one or more containers",
        args: Args::AtLeast(1),
        interspersed: true,
        flags: &[],
        run: pause_cmd,
    },
    Command {
        name: "unpause",
        usage: "docker unpause CONTAINER [CONTAINER...]",
        short: "Unpause all processes within one or more containers",
        args: Args::AtLeast(1),
        interspersed: true,
        flags: &[],
        run: unpause_cmd,
    },
    Command {
        name: "rename",
        usage: "docker rename CONTAINER NEW_NAME",
        short: "Rename a container",
        args: Args::Exact(2),
        interspersed: true,
        flags: &[],
        run: rename_cmd,
    },
    Command {
        name: "restart",
        usage: "docker restart [OPTIONS] CONTAINER [CONTAINER...]",
        short: "Restart one or more containers",
        args: Args::AtLeast(1),
        interspersed: true,
        flags: &[
            flag("signal", Some('s'), Kind::Value, "Signal to send to the container"),
            // Deprecated, hidden from help as the CLI 28 hides it.
            flag("time", None, Kind::Value, ""),
            Spec { value_name: "int", ..flag("timeout", Some('t'), Kind::Value, "Seconds to wait before killing the container") },
        ],
        run: restart_cmd,
    },
    Command {
        name: "top",
        usage: "docker top CONTAINER [ps OPTIONS]",
        short: "Display the running processes of a container",
        args: Args::AtLeast(1),
        interspersed: false,
        flags: &[],
        run: top_cmd,
    },
    Command {
        name: "stats",
        usage: "docker stats [OPTIONS] [CONTAINER...]",
        short: "Display a live stream of container(s) resource usage statistics",
        args: Args::AtLeast(0),
        interspersed: true,
        flags: &[
            flag("all", Some('a'), Kind::Bool, "Show all containers (default shows just running)"),
            flag("format", None, Kind::Value, "Format output using a custom template"),
            flag("no-stream", None, Kind::Bool, "Disable streaming stats and only pull the first result"),
            flag("no-trunc", None, Kind::Bool, "Do not truncate output"),
        ],
        run: stats_cmd,
    },
    Command {
        name: "port",
        usage: "docker port CONTAINER [PRIVATE_PORT[/PROTO]]",
        short: "List port mappings or a specific mapping for the container",
        args: Args::AtLeast(1),
        interspersed: true,
        flags: &[],
        run: port_cmd,
    },
    Command {
        name: "events",
        usage: "docker events [OPTIONS]",
        short: "Get real time events from the server",
        args: Args::None,
        interspersed: true,
        flags: &[
            flag("filter", Some('f'), Kind::List, "Filter output based on conditions provided"),
            flag("format", None, Kind::Value, "Format output using a custom template"),
            flag("since", None, Kind::Value, "Show all events created since timestamp"),
            flag("until", None, Kind::Value, "Stream events until this timestamp"),
        ],
        run: events_cmd,
    },
    Command {
        name: "container prune",
        usage: "docker container prune [OPTIONS]",
        short: "Remove all stopped containers",
        args: Args::None,
        interspersed: true,
        flags: &[
            flag("filter", None, Kind::List, "Provide filter values (e.g. \"until=<timestamp>\")"),
            flag("force", Some('f'), Kind::Bool, "Do not prompt for confirmation"),
        ],
        run: container_prune_cmd,
    },
    Command {
        name: "system prune",
        usage: "docker system prune [OPTIONS]",
        short: "Remove unused data",
        args: Args::None,
        interspersed: true,
        flags: &[
            flag("all", Some('a'), Kind::Bool, "Remove all unused images not just dangling ones"),
            flag("filter", None, Kind::List, "Provide filter values (e.g. \"label=<key>=<value>\")"),
            flag("force", Some('f'), Kind::Bool, "Do not prompt for confirmation"),
            flag("volumes", None, Kind::Bool, "Prune anonymous volumes"),
        ],
        run: system_prune_cmd,
    },
];

/// `docker container pause` and the other group spellings of these commands.
pub fn management_alias(group: &str, sub: &str) -> Option<&'static str> {
    Some(match (group, sub) {
        ("container", "prune") => "container prune",
        ("container", s) => return ["pause", "unpause", "rename", "restart", "top", "stats", "port", "diff", "commit"].into_iter().find(|c| *c == s),
        ("system", "prune") => "system prune",
        ("system", "events") => "events",
        _ => return None,
    })
}

/// `docker container`, `docker image`, `docker system` without a command (on stderr, as the
/// CLI 28 prints it) or with `--help` (on stdout): the group's usage, listing the subcommands this client has (`short_of` finds each one's
/// summary). None for a name that is not a group.
pub fn group_usage(group: &str, short_of: &dyn Fn(&str) -> Option<&'static str>) -> Option<String> {
    let (title, subs): (&str, &[&str]) = match group {
        "container" => ("Manage containers", &["attach", "commit", "cp", "create", "diff", "exec", "export", "inspect", "kill", "logs", "ls", "pause", "port", "prune", "rename", "restart", "rm", "run", "start", "stats", "stop", "top", "unpause", "update", "wait"]),
        "image" => ("Manage images", &["build", "history", "import", "inspect", "load", "ls", "prune", "pull", "push", "rm", "save", "tag"]),
        "system" => ("Manage Docker", &["df", "events", "info", "prune"]),
        "network" => ("Manage networks", &["connect", "create", "disconnect", "inspect", "ls", "prune", "rm"]),
        "volume" => ("Manage volumes", &["create", "inspect", "ls", "prune", "rm", "update"]),
        "builder" => ("Manage builds", &["build", "prune"]),
        _ => return None,
    };
    let mut s = format!("Usage:  docker {group} COMMAND\n\n{title}\n\nCommands:\n");
    for sub in subs {
        if let Some(short) = short_of(sub) {
            s.push_str(&format!("  {sub:<11} {short}\n"));
        }
    }
    s.push_str(&format!("\nRun 'docker {group} COMMAND --help' for more information on a command.\n"));
    Some(s)
}

/// The `--filter` flags of command `cmd` (`flag` as its help names it: `-f, --filter`), as
/// the Engine API's `filters` JSON with `extra`; a malformed one is the CLI 28's flag error.
pub fn filter_flags(p: &Parsed, extra: &[(&str, &str)], flag: &str, cmd: &str, usage: &str) -> Result<Option<String>, Failure> {
    filters_json(&p.list("filter"), extra).map_err(|bad| {
        Failure::new(format!("invalid argument \"{bad}\" for \"{flag}\" flag: bad format of filter (expected name=value)\n\nUsage:  {usage}\n\nRun 'docker {cmd} --help' for more information"), 125)
    })
}

/// `--filter k=v` values as the Engine API's `filters` JSON (`{"k":{"v":true}}`), with
/// `extra`; Err is the value without `=`.
pub fn filters_json(given: &[&str], extra: &[(&str, &str)]) -> Result<Option<String>, String> {
    let mut m = Map::new();
    for f in given {
        let Some((k, v)) = f.split_once('=') else {
            return Err(f.to_string());
        };
        if let Some(o) = m.entry(k.trim().to_lowercase()).or_insert_with(|| json!({})).as_object_mut() {
            o.insert(v.trim().to_string(), json!(true));
        }
    }
    for (k, v) in extra {
        if let Some(o) = m.entry(k.to_string()).or_insert_with(|| json!({})).as_object_mut() {
            o.insert(v.to_string(), json!(true));
        }
    }
    Ok((!m.is_empty()).then(|| Value::Object(m).to_string()))
}

fn simple_post(ctx: &Ctx, p: &Parsed, verb: &str) -> Result<i32, Failure> {
    let api = ctx.api()?;
    for_each(&p.args, |name| api.call("POST", &format!("/containers/{}/{verb}", seg(name)), &[], None, &[]).map(|_| Some(name.to_string())).map_err(|e| e.to_string()))
}

fn pause_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    simple_post(ctx, p, "pause")
}

fn unpause_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    simple_post(ctx, p, "unpause")
}

fn rename_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let (old, new) = (p.args[0].trim(), p.args[1].trim());
    if old.is_empty() || new.is_empty() {
        return Err(Failure::new("Error: Neither old nor new names may be empty", 1));
    }
    match ctx.api()?.call("POST", &format!("/containers/{}/rename", seg(old)), &[("name", new.to_string())], None, &[]) {
        Ok(_) => Ok(0),
        Err(e) => Err(Failure::new(format!("{e}\nError: failed to rename container named {old}"), 1)),
    }
}

fn restart_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let mut query: Vec<(&str, String)> = Vec::new();
    if p.has("time") && p.has("timeout") {
        return Err(Failure::new("conflicting options: cannot specify both --timeout and --time", 1));
    }
    if p.has("time") {
        eprintln!("Flag --time has been deprecated, use --timeout instead");
    }
    if let Some((name, t)) = p.value("timeout").map(|t| ("-t, --timeout", t)).or_else(|| p.value("time").map(|t| ("--time", t))) {
        let n: i64 = t.parse().map_err(|_| Failure::new(format!("invalid argument \"{t}\" for \"{name}\" flag: strconv.ParseInt: parsing \"{t}\": invalid syntax\nSee 'docker restart --help'."), 125))?;
        query.push(("t", n.to_string()));
    }
    if let Some(s) = p.value("signal") {
        query.push(("signal", s.to_string()));
    }
    for_each(&p.args, |name| api.call("POST", &format!("/containers/{}/restart", seg(name)), &query, None, &[]).map(|_| Some(name.to_string())).map_err(|e| e.to_string()))
}

fn top_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let mut query = Vec::new();
    if p.args.len() > 1 {
        query.push(("ps_args", p.args[1..].join(" ")));
    }
    let v = api.json("GET", &format!("/containers/{}/top", seg(&p.args[0])), &query, None)?;
    let strings = |x: &Value| -> Vec<String> { x.as_array().into_iter().flatten().map(|c| c.as_str().unwrap_or_default().to_string()).collect() };
    let mut rows = vec![strings(&v["Titles"])];
    rows.extend(v["Processes"].as_array().into_iter().flatten().map(strings));
    out(&table_min(&rows, 20));
    Ok(0)
}

/// Go's tabwriter with minimum cell width `min` and padding 3 (the last column unpadded).
fn table_min(rows: &[Vec<String>], min: usize) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            widths[i] = widths[i].max((cell.chars().count() + 3).max(min));
        }
    }
    let mut s = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < row.len() {
                s.push_str(&format!("{cell:<w$}", w = widths[i]));
            } else {
                s.push_str(cell);
            }
        }
        s.push('\n');
    }
    s
}

fn port_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    if p.args.len() > 2 {
        return Err(Failure::new("\"docker port\" requires at least 1 and at most 2 arguments.\nSee 'docker port --help'.\n\nUsage:  docker port CONTAINER [PRIVATE_PORT[/PROTO]]\n\nList port mappings or a specific mapping for the container", 1));
    }
    let v = ctx.api()?.json("GET", &format!("/containers/{}/json", seg(&p.args[0])), &[], None)?;
    // port → [(HostIp, HostPort)], printed by `network::portspec` (Go's JoinHostPort,
    // natural order).
    let ports: std::collections::BTreeMap<String, Vec<(String, String)>> = v["NetworkSettings"]["Ports"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, b)| (k.clone(), b.as_array().into_iter().flatten().map(|x| (x["HostIp"].as_str().unwrap_or("").to_string(), x["HostPort"].as_str().unwrap_or("").to_string())).collect()))
        .collect();
    if let Some(wanted) = p.args.get(1) {
        return match crate::network::portspec::port_lines_for(&ports, wanted, &p.args[0]) {
            Ok(list) => {
                out(&list.iter().map(|l| format!("{l}\n")).collect::<String>());
                Ok(0)
            }
            Err(_) => Err(Failure::new(format!("Error: No public port '{wanted}' published for {}", p.args[0]), 1)),
        };
    }
    out(&crate::network::portspec::port_lines(&ports).iter().map(|l| format!("{l}\n")).collect::<String>());
    Ok(0)
}

/// One row of `docker stats`, with the CLI's arithmetic.
#[derive(Clone, Default)]
struct StatsRow {
    container: String,
    name: String,
    id: String,
    cpu: f64,
    mem: f64,
    mem_limit: f64,
    mem_percent: f64,
    net: (f64, f64),
    block: (f64, f64),
    pids: u64,
    invalid: bool,
}

impl StatsRow {
    fn from_frame(container: &str, v: &Value) -> StatsRow {
        let n = |x: &Value| x.as_u64().unwrap_or(0) as f64;
        let cpu_delta = n(&v["cpu_stats"]["cpu_usage"]["total_usage"]) - n(&v["precpu_stats"]["cpu_usage"]["total_usage"]);
        let system_delta = n(&v["cpu_stats"]["system_cpu_usage"]) - n(&v["precpu_stats"]["system_cpu_usage"]);
        let mut online = n(&v["cpu_stats"]["online_cpus"]);
        if online == 0.0 {
            online = v["cpu_stats"]["cpu_usage"]["percpu_usage"].as_array().map(|a| a.len()).unwrap_or(0) as f64;
        }
        let cpu = if system_delta > 0.0 && cpu_delta > 0.0 { cpu_delta / system_delta * online * 100.0 } else { 0.0 };
        let m = &v["memory_stats"];
        let usage = n(&m["usage"]);
        let mem = match (m["stats"].get("total_inactive_file").and_then(Value::as_u64), m["stats"].get("inactive_file").and_then(Value::as_u64)) {
            (Some(i), _) if (i as f64) < usage => usage - i as f64,
            (None, Some(i)) if (i as f64) < usage => usage - i as f64,
            (None, None) => usage,
            _ => usage,
        };
        let mem_limit = n(&m["limit"]);
        let mut block = (0.0, 0.0);
        for e in v["blkio_stats"]["io_service_bytes_recursive"].as_array().into_iter().flatten() {
            match e["op"].as_str().unwrap_or("").bytes().next() {
                Some(b'r' | b'R') => block.0 += n(&e["value"]),
                Some(b'w' | b'W') => block.1 += n(&e["value"]),
                _ => {}
            }
        }
        let mut net = (0.0, 0.0);
        for i in v["networks"].as_object().into_iter().flat_map(|o| o.values()) {
            net.0 += n(&i["rx_bytes"]);
            net.1 += n(&i["tx_bytes"]);
        }
        StatsRow {
            container: container.to_string(),
            name: v["name"].as_str().unwrap_or("").to_string(),
            id: v["id"].as_str().unwrap_or("").to_string(),
            cpu,
            mem,
            mem_limit,
            mem_percent: if mem_limit != 0.0 { mem / mem_limit * 100.0 } else { 0.0 },
            net,
            block,
            pids: v["pids_stats"]["current"].as_u64().unwrap_or(0),
            invalid: false,
        }
    }

    /// The template fields of Docker's stats formatter.
    fn fields(&self, trunc: bool) -> Value {
        let dash = |s: String| if self.invalid { "--".to_string() } else { s };
        let size = |(a, b): (f64, f64)| format!("{} / {}", crate::units::human_size_with_precision(a, 3), crate::units::human_size_with_precision(b, 3));
        json!({
            "Container": self.container,
            "Name": if self.name.len() > 1 { self.name[1..].to_string() } else { "--".into() },
            "ID": if trunc { self.id.chars().take(12).collect() } else { self.id.clone() },
            "CPUPerc": dash(format!("{:.2}%", self.cpu)),
            "MemUsage": if self.invalid { "-- / --".into() } else { format!("{} / {}", crate::units::bytes_size(self.mem), crate::units::bytes_size(self.mem_limit)) },
            "MemPerc": dash(format!("{:.2}%", self.mem_percent)),
            "NetIO": dash(size(self.net)),
            "BlockIO": dash(size(self.block)),
            "PIDs": dash(self.pids.to_string()),
        })
    }
}

const STATS_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

fn stats_headers() -> Value {
    json!({"Container": "CONTAINER", "Name": "NAME", "ID": "CONTAINER ID", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"})
}

/// Renders rows with a `--format` (`table ...`, `json`, or a template per line).
fn render_rows(format: &str, headers: &Value, rows: &[Value]) -> Result<String, String> {
    let format = if format == "json" { "{{json .}}" } else { format };
    if let Some(t) = format.strip_prefix("table") {
        let t = t.trim_start();
        let t = if t.is_empty() { STATS_TABLE.trim_start_matches("table ") } else { t };
        let mut table = vec![super::format::render_template(t, headers)?.split('\t').map(str::to_string).collect::<Vec<_>>()];
        for r in rows {
            table.push(super::format::render_template(t, r)?.split('\t').map(str::to_string).collect());
        }
        return Ok(human::table(&table));
    }
    let mut s = String::new();
    for r in rows {
        s.push_str(&super::format::render_template(format, r)?);
        s.push('\n');
    }
    Ok(s)
}

fn list_containers(api: &Api, all: bool) -> Result<Vec<String>, Failure> {
    let v = api.json("GET", "/containers/json", &[("all", if all { "1" } else { "0" }.to_string())], None)?;
    Ok(v.as_array().into_iter().flatten().filter_map(|c| c["Id"].as_str().map(|id| id[..12.min(id.len())].to_string())).collect())
}

fn stats_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let format = p.value("format").unwrap_or(STATS_TABLE).to_string();
    let format = if format.is_empty() { STATS_TABLE.to_string() } else { format };
    let trunc = !p.bool("no-trunc");
    let named = !p.args.is_empty();
    let names = if named { p.args.clone() } else { list_containers(api, p.bool("all"))? };
    let render = |rows: &[StatsRow]| -> Result<String, Failure> {
        let values: Vec<Value> = rows.iter().map(|r| r.fields(trunc)).collect();
        render_rows(&format, &stats_headers(), &values).map_err(|e| Failure::new(e, 64))
    };
    if p.bool("no-stream") {
        // One request per container, all at once, as the CLI's collectors run.
        let results: Vec<Result<StatsRow, String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = names
                .iter()
                .map(|n| {
                    scope.spawn(move || {
                        let v = api.json("GET", &format!("/containers/{}/stats", seg(n)), &[("stream", "0".to_string())], None).map_err(|e| e.to_string())?;
                        Ok(StatsRow::from_frame(n, &v))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("stats collector panicked".into()))).collect()
        });
        let errors: Vec<String> = results.iter().filter_map(|r| r.as_ref().err().cloned()).collect();
        if named && !errors.is_empty() {
            return Err(Failure::new(errors.join("\n"), 1));
        }
        let rows: Vec<StatsRow> = results.into_iter().filter_map(Result::ok).collect();
        out(&render(&rows)?);
        return Ok(0);
    }
    stream_stats(ctx, p, names, &render)
}

/// `docker stats` without --no-stream: a collector thread per container, the screen
/// redrawn every half second; without names the list follows containers as they come and go.
fn stream_stats(ctx: &Ctx, p: &Parsed, mut names: Vec<String>, render: &dyn Fn(&[StatsRow]) -> Result<String, Failure>) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let endpoint = api.endpoint.clone();
    let version = api.version.clone();
    let rows: Arc<Mutex<Vec<StatsRow>>> = Arc::default();
    let start = |name: String, rows: Arc<Mutex<Vec<StatsRow>>>| {
        rows.lock().unwrap_or_else(|e| e.into_inner()).push(StatsRow { container: name.clone(), invalid: true, ..Default::default() });
        let (endpoint, version) = (endpoint.clone(), version.clone());
        std::thread::spawn(move || {
            let path = format!("/v{version}/containers/{}/stats?stream=1", seg(&name));
            let Ok(resp) = crate::http::client::request(&endpoint, "GET", &path, &[], None) else { return };
            if resp.status >= 400 {
                return;
            }
            for line in BufReader::new(resp.into_body()).lines() {
                let Ok(line) = line else { break };
                let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
                let row = StatsRow::from_frame(&name, &v);
                let mut all = rows.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(r) = all.iter_mut().find(|r| r.container == name) {
                    *r = row;
                } else {
                    break;
                }
            }
        });
    };
    for n in &names {
        start(n.clone(), rows.clone());
    }
    loop {
        std::thread::sleep(Duration::from_millis(500));
        if p.args.is_empty() {
            let now = list_containers(api, p.bool("all"))?;
            rows.lock().unwrap_or_else(|e| e.into_inner()).retain(|r| now.contains(&r.container));
            for n in now.iter().filter(|n| !names.contains(n)) {
                start(n.clone(), rows.clone());
            }
            names = now;
        }
        let snapshot = rows.lock().unwrap_or_else(|e| e.into_inner()).clone();
        out(&format!("\x1b[2J\x1b[H{}", render(&snapshot)?));
    }
}

fn events_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let format = p.value("format").unwrap_or("").to_string();
    let now = SystemTime::now();
    let mut query: Vec<(&str, String)> = Vec::new();
    for key in ["since", "until"] {
        if let Some(v) = p.value(key).filter(|v| !v.is_empty()) {
            query.push((key, crate::timestamp::client_timestamp(v, now).map_err(|e| Failure::new(e, 1))?));
        }
    }
    if let Some(f) = filter_flags(p, &[], "-f, --filter", "events", "docker events [OPTIONS]")? {
        query.push(("filters", f));
    }
    let resp = ctx.api()?.call("GET", "/events", &query, None, &[])?;
    for line in BufReader::new(resp.into_body()).lines() {
        let line = line.map_err(|e| Failure::new(format!("error during connect: {e}"), 1))?;
        let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
        let text = match format.as_str() {
            "" => pretty_event(&v),
            "json" | "{{json .}}" => event_json(&v),
            f => super::format::render_template(f, &go_event(&v)).map_err(|e| Failure::new(format!("Error parsing format: {e}"), 64))?,
        };
        out(&format!("{text}\n"));
    }
    Ok(0)
}

/// `2024-01-02T03:04:05.000000000Z container start ID (image=busybox, name=x)`.
fn pretty_event(v: &Value) -> String {
    let nanos = v["timeNano"].as_i64().filter(|n| *n != 0).unwrap_or_else(|| v["time"].as_i64().unwrap_or(0) * 1_000_000_000);
    let t = SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos.max(0) as u64);
    let mut s = format!("{} {} {} {}", crate::sys::rfc3339_nanos(t), v["Type"].as_str().unwrap_or(""), v["Action"].as_str().unwrap_or(""), v["Actor"]["ID"].as_str().unwrap_or(""));
    if let Some(attrs) = v["Actor"]["Attributes"].as_object().filter(|a| !a.is_empty()) {
        let mut kv: Vec<String> = attrs.iter().map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or(""))).collect();
        kv.sort();
        s.push_str(&format!(" ({})", kv.join(", ")));
    }
    s
}

/// The event as the CLI re-encodes it: Docker's field order, empty fields left out.
fn event_json(v: &Value) -> String {
    let mut parts = Vec::new();
    for key in ["status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano"] {
        let x = &v[key];
        if x.is_null() || x.as_str() == Some("") || x.as_i64() == Some(0) {
            continue;
        }
        let encoded = if key == "Actor" {
            format!("{{\"ID\":{},\"Attributes\":{}}}", serde_json::to_string(&x["ID"]).unwrap_or_default(), serde_json::to_string(&x["Attributes"]).unwrap_or_default())
        } else {
            serde_json::to_string(x).unwrap_or_default()
        };
        parts.push(format!("\"{key}\":{encoded}"));
    }
    format!("{{{}}}", parts.join(","))
}

/// An event with the Go field names templates use (`.Status`, `.Actor.Attributes`, ...).
fn go_event(v: &Value) -> Value {
    json!({
        "Status": v["status"], "ID": v["id"], "From": v["from"],
        "Type": v["Type"], "Action": v["Action"], "Actor": v["Actor"],
        "Scope": v["scope"], "Time": v["time"], "TimeNano": v["timeNano"],
    })
}

/// Asks on stdout and reads the answer: only `y` (any case) says yes.
fn confirm(question: &str) -> bool {
    out(&format!("{question} [y/N] "));
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    answer.trim().eq_ignore_ascii_case("y")
}

/// Deleted containers and the bytes they freed; the text the CLI prints for them.
fn prune_containers(api: &Api, filters: &Option<String>) -> Result<(u64, String), Failure> {
    let query: Vec<(&str, String)> = filters.iter().map(|f| ("filters", f.clone())).collect();
    let v = api.json("POST", "/containers/prune", &query, None)?;
    let ids: Vec<&str> = v["ContainersDeleted"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if ids.is_empty() {
        return Ok((0, String::new()));
    }
    Ok((v["SpaceReclaimed"].as_u64().unwrap_or(0), format!("Deleted Containers:\n{}\n", ids.join("\n"))))
}

fn container_prune_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let filters = filter_flags(p, &[], "--filter", "container prune", "docker container prune [OPTIONS]")?;
    if !p.bool("force") && !confirm("WARNING! This will remove all stopped containers.\nAre you sure you want to continue?") {
        return Ok(0);
    }
    let (space, text) = prune_containers(ctx.api()?, &filters)?;
    if !text.is_empty() {
        out(&format!("{text}\n"));
    }
    out(&format!("Total reclaimed space: {}\n", crate::units::human_size_with_precision(space as f64, 4)));
    Ok(0)
}

fn system_prune_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let given = p.list("filter");
    let volumes = p.bool("volumes");
    if volumes && given.iter().any(|f| f.starts_with("until=")) {
        return Err(Failure::new("ERROR: The \"until\" filter is not supported with \"--volumes\"", 1));
    }
    let all = p.bool("all");
    let filters = filter_flags(p, &[], "--filter", "system prune", "docker system prune [OPTIONS]")?;
    if !p.bool("force") {
        let mut warning = String::from("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container");
        if volumes {
            warning.push_str("\n  - all anonymous volumes not used by at least one container");
        }
        warning.push_str(if all { "\n  - all images without at least one container associated to them" } else { "\n  - all dangling images" });
        warning.push_str(if all { "\n  - all build cache" } else { "\n  - unused build cache" });
        let mut shown: Vec<&str> = given.iter().copied().filter(|f| ["label=", "label!=", "until="].iter().any(|k| f.starts_with(k))).collect();
        shown.sort();
        if !shown.is_empty() {
            warning.push_str("\n\n  Items to be pruned will be filtered with:");
            for f in shown {
                warning.push_str(&format!("\n  - {f}"));
            }
        }
        warning.push_str("\n\nAre you sure you want to continue?");
        if !confirm(&warning) {
            return Ok(0);
        }
    }
    let api = ctx.api()?;
    let mut total = 0u64;
    let (space, text) = prune_containers(api, &filters)?;
    total += space;
    let mut report = text;
    let with = |extra: &[(&str, &str)]| -> Result<Vec<(&'static str, String)>, Failure> { Ok(filters_json(&given, extra).unwrap_or_default().map(|f| vec![("filters", f)]).unwrap_or_default()) };
    let networks = api.json("POST", "/networks/prune", &with(&[])?, None)?;
    if let Some(list) = networks["NetworksDeleted"].as_array().filter(|l| !l.is_empty()) {
        report.push_str(&format!("Deleted Networks:\n{}\n", list.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n")));
    }
    if volumes {
        let v = api.json("POST", "/volumes/prune", &with(&[])?, None)?;
        if let Some(list) = v["VolumesDeleted"].as_array().filter(|l| !l.is_empty()) {
            report.push_str(&format!("Deleted Volumes:\n{}\n", list.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n")));
            total += v["SpaceReclaimed"].as_u64().unwrap_or(0);
        }
    }
    let images = api.json("POST", "/images/prune", &with(&[("dangling", if all { "false" } else { "true" })])?, None)?;
    if let Some(list) = images["ImagesDeleted"].as_array().filter(|l| !l.is_empty()) {
        if !report.is_empty() && !report.ends_with("\n\n") {
            report.push('\n');
        }
        report.push_str("Deleted Images:\n");
        for d in list {
            if let Some(u) = d["Untagged"].as_str() {
                report.push_str(&format!("untagged: {u}\n"));
            } else if let Some(x) = d["Deleted"].as_str() {
                report.push_str(&format!("deleted: {x}\n"));
            }
        }
        total += images["SpaceReclaimed"].as_u64().unwrap_or(0);
    }
    let mut build_query = with(&[])?;
    if all {
        build_query.push(("all", "1".to_string()));
    }
    let cache = api.json("POST", "/build/prune", &build_query, None)?;
    if let Some(list) = cache["CachesDeleted"].as_array().filter(|l| !l.is_empty()) {
        report.push_str(&format!("Deleted build cache objects:\n{}\n", list.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n")));
        total += cache["SpaceReclaimed"].as_u64().unwrap_or(0);
    }
    if !report.is_empty() {
        out(&format!("{report}\n"));
    }
    out(&format!("Total reclaimed space: {}\n", crate::units::human_size_with_precision(total as f64, 4)));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_rows_compute_as_the_cli() {
        let frame = json!({
            "name": "/web", "id": "0123456789abcdef",
            "cpu_stats": {"cpu_usage": {"total_usage": 2_000_000u64}, "system_cpu_usage": 100_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000u64}, "system_cpu_usage": 90_000_000u64},
            "memory_stats": {"usage": 3_145_728u64, "limit": 8_388_608u64, "stats": {"total_inactive_file": 1_048_576u64}},
            "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 1500}, {"op": "write", "value": 12}]},
            "networks": {"eth0": {"rx_bytes": 1000, "tx_bytes": 0}},
            "pids_stats": {"current": 3},
        });
        let f = StatsRow::from_frame("web", &frame).fields(true);
        assert_eq!(f["CPUPerc"], "20.00%");
        assert_eq!(f["MemUsage"], "2MiB / 8MiB");
        assert_eq!(f["MemPerc"], "25.00%");
        assert_eq!((f["NetIO"].as_str(), f["BlockIO"].as_str(), f["PIDs"].as_str()), (Some("1kB / 0B"), Some("1.5kB / 12B"), Some("3")));
        assert_eq!((f["ID"].as_str(), f["Name"].as_str()), (Some("0123456789ab"), Some("web")));
        let table = render_rows(STATS_TABLE, &stats_headers(), &[f]).unwrap();
        assert!(table.starts_with("CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O    BLOCK I/O     PIDS\n"), "{table}");
    }

    #[test]
    fn filters_become_the_apis_json() {
        assert_eq!(filters_json(&["label=a=b", "until=10m"], &[("dangling", "true")]).unwrap().unwrap(), r#"{"dangling":{"true":true},"label":{"a=b":true},"until":{"10m":true}}"#);
        assert!(filters_json(&["nope"], &[]).is_err());
        assert_eq!(filters_json(&[], &[]).unwrap(), None);
    }
}
