//! `docker ps`: the daemon filters (`--filter` passed as Docker's `filters` JSON), the client
//! lays out Docker's container context (`.ID`, `.Names`, `.Label "k"`, ...) through
//! `--format` Go templates, `table`, `json`, or the default table; `-q`, `-s`, `-n`, `-l`,
//! `--no-trunc` as Docker's.

use super::flags::{flag, Kind, Parsed, Spec};
use super::format::{go_time_string, titles, write_list};
use super::{human, out, Ctx, Failure};
use serde_json::{json, Map, Value};

pub const PS_FLAGS: &[Spec] = &[
    flag("all", Some('a'), Kind::Bool, "Show all containers (default shows just running)"),
    flag("filter", Some('f'), Kind::List, "Filter output based on conditions provided"),
    flag("format", None, Kind::Value, "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates"),
    flag("last", Some('n'), Kind::Value, "Show n last created containers (includes all states)"),
    flag("latest", Some('l'), Kind::Bool, "Show the latest created container (includes all states)"),
    flag("no-trunc", None, Kind::Bool, "Don't truncate output"),
    flag("quiet", Some('q'), Kind::Bool, "Only display container IDs"),
    flag("size", Some('s'), Kind::Bool, "Display total file sizes"),
];

const DEFAULT_TABLE: &str = "table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Ports}}\\t{{.Names}}";

const RAW: &str = "container_id: {{.ID}}\nimage: {{.Image}}\ncommand: {{.Command}}\ncreated_at: {{.CreatedAt}}\nstate: {{- pad .State 1 0}}\nstatus: {{- pad .Status 1 0}}\nnames: {{.Names}}\nlabels: {{- pad .Labels 1 0}}\nports: {{- pad .Ports 1 0}}\n";

/// `--filter k=v` flags as the `filters` query Docker's CLI sends: `{"k":{"v":true}}`.
pub fn filters_json(flags: &[&str]) -> Result<Option<String>, Failure> {
    let mut filters = Map::new();
    for f in flags {
        let Some((k, v)) = f.split_once('=') else {
            return Err(Failure::new(format!("invalid argument \"{f}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)\nSee 'docker ps --help'."), 125));
        };
        let k = k.trim().to_lowercase();
        if let Some(m) = filters.entry(k).or_insert_with(|| json!({})).as_object_mut() {
            m.insert(v.trim().to_string(), json!(true));
        }
    }
    Ok((!filters.is_empty()).then(|| Value::Object(filters).to_string()))
}

fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// The IMAGE column: a short id when the container's image is shown by id, a reference
/// without its digest, else as the daemon gave it.
fn image_field(c: &Value, trunc: bool) -> String {
    let image = c["Image"].as_str().unwrap_or("");
    if image.is_empty() {
        return "<no image>".into();
    }
    if trunc {
        let image_id = c["ImageID"].as_str().unwrap_or("");
        if short(image_id) == short(image) {
            return short(image_id);
        }
        if let Ok(r) = crate::reference::Reference::parse_normalized(image) {
            return match &r.tag {
                Some(t) => format!("{}:{t}", r.familiar_name()),
                None => r.familiar_name(),
            };
        }
    }
    image.to_string()
}

/// Docker's container context: every field a template may name.
pub fn context(c: &Value, trunc: bool) -> Value {
    let id = c["Id"].as_str().unwrap_or("");
    let names: Vec<String> = c["Names"].as_array().into_iter().flatten().filter_map(Value::as_str).map(|n| n.strip_prefix('/').unwrap_or(n).to_string()).collect();
    let names = if trunc { names.iter().find(|n| !n.contains('/')).map(|n| vec![n.clone()]).unwrap_or(names) } else { names };
    let command = c["Command"].as_str().unwrap_or("");
    let command = if trunc { human::ellipsis(command, 20) } else { command.to_string() };
    let created = c["Created"].as_i64().unwrap_or(0);
    let mut labels: Vec<String> = c["Labels"].as_object().into_iter().flatten().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect();
    labels.sort();
    let mounts: Vec<String> = c["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let name = m["Name"].as_str().filter(|n| !n.is_empty()).or(m["Source"].as_str()).unwrap_or("");
            if trunc {
                human::ellipsis(name, 15)
            } else {
                name.to_string()
            }
        })
        .collect();
    let local_volumes = c["Mounts"].as_array().into_iter().flatten().filter(|m| m["Driver"] == "local").count();
    let networks: Vec<String> = c.pointer("/NetworkSettings/Networks").and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
    let (rw, root) = (c["SizeRw"].as_i64().unwrap_or(0), c["SizeRootFs"].as_i64().unwrap_or(0));
    let mut size = crate::units::human_size_with_precision(rw as f64, 3);
    if root > 0 {
        size = format!("{size} (virtual {})", crate::units::human_size_with_precision(root as f64, 3));
    }
    json!({
        "Command": go_quote(&command),
        "CreatedAt": go_time_string(created),
        "ID": if trunc { id.chars().take(12).collect::<String>() } else { id.to_string() },
        "Image": image_field(c, trunc),
        "Labels": labels.join(","),
        "LocalVolumes": local_volumes.to_string(),
        "Mounts": mounts.join(","),
        "Names": names.join(","),
        "Networks": networks.join(","),
        "Platform": null,
        "Ports": ports(c),
        "RunningFor": human::ago_from_unix(created),
        "Size": size,
        "State": c["State"],
        "Status": c["Status"],
        "_labels": c["Labels"],
        (crate::template::GO_MARSHAL): true,
    })
}

/// `{{.Label "k"}}`.
fn label(dot: &Value, args: &[Value]) -> Result<Value, String> {
    let key = args.first().and_then(Value::as_str).unwrap_or("");
    Ok(dot["_labels"].get(key).cloned().unwrap_or(json!("")))
}

fn container_titles() -> Map<String, Value> {
    titles(&[
        ("ID", "CONTAINER ID"),
        ("Names", "NAMES"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("RunningFor", "CREATED"),
        ("Ports", "PORTS"),
        ("State", "STATE"),
        ("Status", "STATUS"),
        ("Size", "SIZE"),
        ("Labels", "LABELS"),
        ("Mounts", "MOUNTS"),
        ("LocalVolumes", "LOCAL VOLUMES"),
        ("Networks", "NETWORKS"),
        ("Platform", "PLATFORM"),
    ])
}

pub fn ps_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let quiet = p.bool("quiet");
    let custom = p.value("format").filter(|f| !f.is_empty());
    if custom.is_some() && quiet {
        eprintln!("WARNING: Ignoring custom format, because both --format and --quiet are set.");
    }
    let last: Option<i64> = match p.value("last") {
        Some(n) => Some(n.parse().map_err(|_| Failure::new(format!("invalid argument \"{n}\" for \"-n, --last\" flag: strconv.ParseInt: parsing \"{n}\": invalid syntax\nSee 'docker ps --help'."), 125))?),
        None => None,
    };
    let limit = match last {
        Some(n) if n != -1 => Some(n),
        _ if p.bool("latest") => Some(1),
        _ => None,
    };
    let format = custom.map(str::to_string).or_else(|| super::format::config_format("psFormat")).unwrap_or_else(|| "table".to_string());
    if format != "table" && format != "raw" && format != "json" {
        crate::template::Template::parse(&super::format::expand_escapes(format.strip_prefix("table").unwrap_or(&format))).map_err(|e| Failure::new(format!("failed to parse template: {e}"), 1))?;
    }
    // Docker's CLI asks for sizes when the template reads `.Size` or marshals the whole row
    // (it runs the template once on an empty row to see; `json` alone runs nothing there).
    let uses_size = format.contains(".Size") || format.contains("json .");
    let size = p.bool("size") || (!quiet && !p.has("size") && uses_size);
    let mut query = Vec::new();
    if p.bool("all") {
        query.push(("all", "1".to_string()));
    }
    if let Some(l) = limit.filter(|&l| l > 0) {
        query.push(("limit", l.to_string()));
    }
    if size {
        query.push(("size", "1".to_string()));
    }
    if let Some(f) = filters_json(&p.list("filter"))? {
        query.push(("filters", f));
    }
    let list = ctx.api()?.json("GET", "/containers/json", &query, None)?;
    let trunc = !p.bool("no-trunc");
    let items: Vec<Value> = list.as_array().into_iter().flatten().map(|c| context(c, trunc)).collect();
    let template = match format.as_str() {
        "raw" if quiet => "container_id: {{.ID}}".to_string(),
        "raw" => {
            let mut t = RAW.to_string();
            if size {
                t.push_str("size: {{.Size}}\\n");
            }
            t
        }
        _ if quiet => "{{.ID}}".to_string(),
        "table" => {
            let mut t = DEFAULT_TABLE.to_string();
            if size {
                t.push_str("\\t{{.Size}}");
            }
            t
        }
        f => f.to_string(),
    };
    let text = write_list(&template, &items, &container_titles(), &[("Label", label)]).map_err(|e| Failure::new(e, 1))?;
    out(&text);
    Ok(0)
}

/// Go's strconv.Quote for the text Docker puts in the COMMAND column.
fn go_quote(s: &str) -> String {
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => q.push_str(&format!("\\x{:02x}", c as u32)),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// The PORTS column.
/// PORTS as the CLI 28 writes it (`network::portspec::displayable_ports`).
fn ports(c: &Value) -> String {
    let list: Vec<crate::network::portspec::PortSummary> = c["Ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| crate::network::portspec::PortSummary {
            ip: p["IP"].as_str().unwrap_or("").to_string(),
            private_port: p["PrivatePort"].as_u64().unwrap_or(0) as u16,
            public_port: p["PublicPort"].as_u64().unwrap_or(0) as u16,
            proto: p["Type"].as_str().unwrap_or("tcp").to_string(),
        })
        .collect();
    crate::network::portspec::displayable_ports(&list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_quoted_as_go_does() {
        assert_eq!(go_quote("sh -c 'echo \"x\"'"), "\"sh -c 'echo \\\"x\\\"'\"");
    }
}
