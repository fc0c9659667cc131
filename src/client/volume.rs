//! `docker volume create|ls|inspect|rm|prune`, with the docker CLI 28's flags, requests,
//! output and errors.

use super::api::seg;
use super::flags::{check_args_cli28, flag, map_flag, Kind, Parsed};
use super::format::{self, titles};
use super::{out, Args, Command, Ctx, Failure};
use serde_json::{json, Map, Value};

const FORMAT_HELP: &str = "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates";

pub const COMMANDS: &[Command] = &[
    Command {
        name: "volume create",
        usage: "docker volume create [OPTIONS] [VOLUME]",
        short: "Create a volume",
        args: Args::AtLeast(0),
        interspersed: true,
        flags: &[
            flag("driver", Some('d'), Kind::Value, "Specify volume driver name (default \"local\")"),
            flag("label", None, Kind::List, "Set metadata for a volume"),
            flag("name", None, Kind::Value, "Specify volume name"),
            flag("opt", Some('o'), Kind::List, "Set driver specific options (default map[])"),
        ],
        run: create_cmd,
    },
    Command {
        name: "volume ls",
        usage: "docker volume ls [OPTIONS]",
        short: "List volumes",
        args: Args::AtLeast(0),
        interspersed: true,
        flags: &[
            flag("filter", Some('f'), Kind::List, "Provide filter values (e.g. \"dangling=true\")"),
            flag("format", None, Kind::Value, FORMAT_HELP),
            flag("quiet", Some('q'), Kind::Bool, "Only display volume names"),
        ],
        run: ls_cmd,
    },
    Command {
        name: "volume inspect",
        usage: "docker volume inspect [OPTIONS] VOLUME [VOLUME...]",
        short: "Display detailed information on one or more volumes",
        args: Args::AtLeast(0),
        interspersed: true,
        flags: &[flag("format", Some('f'), Kind::Value, "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates")],
        run: inspect_cmd,
    },
    Command {
        name: "volume rm",
        usage: "docker volume rm [OPTIONS] VOLUME [VOLUME...]",
        short: "Remove one or more volumes",
        args: Args::AtLeast(0),
        interspersed: true,
        flags: &[flag("force", Some('f'), Kind::Bool, "Force the removal of one or more volumes")],
        run: rm_cmd,
    },
    Command {
        name: "volume prune",
        usage: "docker volume prune [OPTIONS]",
        short: "Remove unused local volumes",
        args: Args::AtLeast(0),
        interspersed: true,
        flags: &[
            flag("all", Some('a'), Kind::Bool, "Remove all unused volumes, not just anonymous ones"),
            flag("filter", None, Kind::List, "Provide filter values (e.g. \"label=<label>\")"),
            flag("force", Some('f'), Kind::Bool, "Do not prompt for confirmation"),
        ],
        run: prune_cmd,
    },
    Command {
        name: "volume update",
        usage: "docker volume update [OPTIONS] [VOLUME]",
        short: "Update a volume (cluster volumes only)",
        args: Args::AtLeast(0),
        interspersed: true,
        flags: &[flag("availability", None, Kind::Value, "Cluster Volume availability (\"active\", \"pause\", \"drain\") (default \"active\")")],
        run: update_cmd,
    },
];

/// `docker volume X` → the command's name in the table.
pub fn management_alias(group: &str, sub: &str) -> Option<&'static str> {
    if group != "volume" {
        return None;
    }
    Some(match sub {
        "create" => "volume create",
        "ls" | "list" => "volume ls",
        "inspect" => "volume inspect",
        "rm" | "remove" => "volume rm",
        "prune" => "volume prune",
        "update" => "volume update",
        _ => return None,
    })
}

fn create_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    check_args_cli28(p, "volume create", "docker volume create [OPTIONS] [VOLUME]", Args::AtMost(1))?;
    let name = match (p.value("name"), p.args.first()) {
        (Some(n), Some(a)) if !n.is_empty() && n != a => return Err(Failure::new("conflicting options: either specify --name or provide positional arg, not both", 1)),
        (_, Some(a)) => a.as_str(),
        (Some(n), None) => n,
        (None, None) => "",
    };
    let mut opts = Map::new();
    for o in p.list("opt") {
        match o.split_once('=') {
            Some((k, v)) => {
                opts.insert(k.to_string(), json!(v));
            }
            None => return Err(Failure::new(format!("invalid argument \"{o}\" for \"-o, --opt\" flag: invalid key value pair format in driver options\nSee 'docker volume create --help'."), 125)),
        }
    }
    // As the CLI 28 sends it: empty fields left out.
    let mut body = json!({"Driver": p.value("driver").unwrap_or("local")});
    let labels = map_flag(p, "label");
    if !opts.is_empty() {
        body["DriverOpts"] = Value::Object(opts);
    }
    if !labels.is_empty() {
        body["Labels"] = Value::Object(labels);
    }
    if !name.is_empty() {
        body["Name"] = json!(name);
    }
    let v = ctx.api()?.json("POST", "/volumes/create", &[], Some(&body))?;
    out(&format!("{}\n", v["Name"].as_str().unwrap_or("")));
    Ok(0)
}

/// The volume formatter's context: the fields `--format` may name.
fn context(v: &Value) -> Value {
    let mut labels: Vec<String> = v["Labels"].as_object().into_iter().flatten().map(|(k, val)| format!("{k}={}", val.as_str().unwrap_or(""))).collect();
    labels.sort();
    let usage = &v["UsageData"];
    let (links, size) = if usage.is_object() {
        let size = usage["Size"].as_i64().unwrap_or(-1);
        (usage["RefCount"].as_i64().unwrap_or(0).to_string(), if size < 0 { "N/A".to_string() } else { crate::units::human_size_with_precision(size as f64, 4) })
    } else {
        ("N/A".to_string(), "N/A".to_string())
    };
    json!({
        "Name": v["Name"],
        "Driver": v["Driver"],
        "Scope": v["Scope"],
        "Mountpoint": v["Mountpoint"],
        "Labels": labels.join(","),
        "Links": links,
        "Size": size,
        "Group": "N/A",
        "Availability": "N/A",
        "Status": "N/A",
        "_labels": v["Labels"],
        (crate::template::GO_MARSHAL): true,
    })
}

/// `{{.Label "k"}}`.
fn label(dot: &Value, args: &[Value]) -> Result<Value, String> {
    let key = args.first().and_then(Value::as_str).unwrap_or("");
    Ok(dot["_labels"].get(key).cloned().unwrap_or(json!("")))
}

const DEFAULT_TABLE: &str = "table {{.Driver}}\t{{.Name}}";

fn ls_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    check_args_cli28(p, "volume ls", "docker volume ls [OPTIONS]", Args::None)?;
    let filters = super::verbs::filter_flags(p, &[], "-f, --filter", "volume ls", "docker volume ls [OPTIONS]")?;
    let query: Vec<(&str, String)> = filters.map(|f| vec![("filters", f)]).unwrap_or_default();
    let list = ctx.api()?.json("GET", "/volumes", &query, None)?;
    for w in list["Warnings"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        eprintln!("{w}");
    }
    let mut vols = list["Volumes"].as_array().cloned().unwrap_or_default();
    vols.sort_by(|a, b| crate::sortorder::natural_cmp(a["Name"].as_str().unwrap_or(""), b["Name"].as_str().unwrap_or("")));
    let custom = p.value("format").filter(|f| !f.is_empty()).map(str::to_string).or_else(|| if p.bool("quiet") { None } else { format::config_format("volumesFormat") });
    let format = match custom.as_deref() {
        None | Some("table") if p.bool("quiet") => "{{.Name}}".to_string(),
        None | Some("table") => DEFAULT_TABLE.to_string(),
        Some(f) => f.to_string(),
    };
    let items: Vec<Value> = vols.iter().map(context).collect();
    let t = titles(&[("Name", "VOLUME NAME"), ("Driver", "DRIVER"), ("Scope", "SCOPE"), ("Mountpoint", "MOUNTPOINT"), ("Labels", "LABELS"), ("Links", "LINKS"), ("Size", "SIZE"), ("Group", "GROUP"), ("Availability", "AVAILABILITY"), ("Status", "STATUS")]);
    out(&format::write_list(&format, &items, &t, &[("Label", label)]).map_err(|e| Failure::new(e, 1))?);
    Ok(0)
}

fn inspect_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    check_args_cli28(p, "volume inspect", "docker volume inspect [OPTIONS] VOLUME [VOLUME...]", Args::AtLeast(1))?;
    let api = ctx.api()?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &p.args {
        match api.call("GET", &format!("/volumes/{}", seg(name)), &[], None, &[]) {
            Ok(r) => found.push(r.bytes().map(|b| String::from_utf8_lossy(&b).trim().to_string()).map_err(|e| Failure::new(e.to_string(), 1))?),
            Err(e) => errors.push(e.to_string()),
        }
    }
    super::system::print_inspected(&found, p.value("format").filter(|f| !f.is_empty()), errors)
}

fn rm_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    check_args_cli28(p, "volume rm", "docker volume rm [OPTIONS] VOLUME [VOLUME...]", Args::AtLeast(1))?;
    let api = ctx.api()?;
    let query: Vec<(&str, String)> = if p.bool("force") { vec![("force", "1".into())] } else { vec![] };
    super::for_each(&p.args, |name| {
        api.call("DELETE", &format!("/volumes/{}", seg(name)), &query, None, &[]).map(|_| Some(name.to_string())).map_err(|e| e.to_string())
    })
}

fn prune_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    check_args_cli28(p, "volume prune", "docker volume prune [OPTIONS]", Args::None)?;
    let extra: &[(&str, &str)] = if p.bool("all") { &[("all", "true")] } else { &[] };
    let filters = super::verbs::filter_flags(p, extra, "--filter", "volume prune", "docker volume prune [OPTIONS]")?;
    let all = p.bool("all") || p.list("filter").iter().any(|f| matches!(f.split_once('='), Some(("all", v)) if v == "true" || v == "1"));
    if !p.bool("force") {
        let what = if all { "all local volumes" } else { "anonymous local volumes" };
        out(&format!("WARNING! This will remove {what} not used by at least one container.\nAre you sure you want to continue? [y/N] "));
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            // The CLI 28 treats a "no" as a cancel: nothing printed, status 0.
            return Ok(0);
        }
    }
    let query: Vec<(&str, String)> = filters.map(|f| vec![("filters", f)]).unwrap_or_default();
    let v = ctx.api()?.json("POST", "/volumes/prune", &query, None)?;
    let mut text = String::new();
    let deleted: Vec<&str> = v["VolumesDeleted"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if !deleted.is_empty() {
        text.push_str("Deleted Volumes:\n");
        for n in deleted {
            text.push_str(n);
            text.push('\n');
        }
        text.push('\n');
    }
    text.push_str(&format!("Total reclaimed space: {}\n", crate::units::human_size_with_precision(v["SpaceReclaimed"].as_f64().unwrap_or(0.0), 4)));
    out(&text);
    Ok(0)
}

/// Only cluster volumes can be updated, and the daemon has none: the CLI 28 finds that out
/// from the volume's inspect before sending anything.
fn update_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    if p.args.len() != 1 {
        return Err(Failure::new("docker: 'docker volume update' requires 1 argument\n\nUsage:  docker volume update [OPTIONS] [VOLUME]\n\nRun 'docker volume update --help' for more information", 1));
    }
    let v = ctx.api()?.json("GET", &format!("/volumes/{}", seg(&p.args[0])), &[], None)?;
    if v.get("ClusterVolume").is_none_or(Value::is_null) {
        return Err(Failure::new("can only update cluster volumes", 1));
    }
    Err(Failure::new("volume update only valid for cluster volumes, but swarm is unavailable", 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_rows_show_labels_and_usage() {
        let v = json!({"Name": "v1", "Driver": "local", "Scope": "local", "Mountpoint": "/m", "Labels": {"b": "2", "a": "1"}, "UsageData": {"Size": 2048, "RefCount": 1}});
        let c = context(&v);
        assert_eq!(c["Labels"], "a=1,b=2");
        assert_eq!(c["Links"], "1");
        assert_eq!(c["Size"], "2.048kB");
        let c = context(&json!({"Name": "v2", "Labels": null}));
        assert_eq!((c["Labels"].as_str(), c["Size"].as_str()), (Some(""), Some("N/A")));
    }
}
