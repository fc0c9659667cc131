//! Commands that move and manage images: `tag`, `rmi`, `history`, `image prune`,
//! `system df`, `save`, `load`, `export`, `import` and `push`, with Docker's output.

use super::api::{seg, Api, ApiError};
use super::flags::{flag, Kind, Parsed};
use super::images::Reference;
use super::{human, out, Args, Command, Ctx, Failure};
use serde_json::Value;
use std::io::{Read, Write};

pub const COMMANDS: &[Command] = &[
    Command { name: "tag", usage: "docker tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", args: Args::Exact(2), interspersed: true, flags: &[], run: tag_cmd },
    Command {
        name: "rmi",
        usage: "docker rmi [OPTIONS] IMAGE [IMAGE...]",
        short: "Remove one or more images",
        args: Args::AtLeast(1),
        interspersed: true,
        flags: &[flag("force", Some('f'), Kind::Bool, "Force removal of the image"), flag("no-prune", None, Kind::Bool, "Do not delete untagged parents")],
        run: rmi_cmd,
    },
    Command {
        name: "history",
        usage: "docker history [OPTIONS] IMAGE",
        short: "Show the history of an image",
        args: Args::Exact(1),
        interspersed: true,
        flags: &[
            flag("human", Some('H'), Kind::Bool, "Print sizes and dates in human readable format"),
            flag("no-trunc", None, Kind::Bool, "Don't truncate output"),
            flag("quiet", Some('q'), Kind::Bool, "Only show image IDs"),
            flag("format", None, Kind::Value, "Format output using a custom template"),
        ],
        run: history_cmd,
    },
    Command {
        name: "image prune",
        usage: "docker image prune [OPTIONS]",
        short: "Remove unused images",
        args: Args::None,
        interspersed: true,
        flags: &[
            flag("all", Some('a'), Kind::Bool, "Remove all unused images, not just dangling ones"),
            flag("force", Some('f'), Kind::Bool, "Do not prompt for confirmation"),
            flag("filter", None, Kind::List, "Provide filter values (e.g. \"until=<timestamp>\")"),
        ],
        run: prune_cmd,
    },
    Command {
        name: "system df",
        usage: "docker system df [OPTIONS]",
        short: "Show docker disk usage",
        args: Args::None,
        interspersed: true,
        flags: &[flag("verbose", Some('v'), Kind::Bool, "Show detailed information on space usage")],
        run: df_cmd,
    },
    Command {
        name: "save",
        usage: "docker save [OPTIONS] IMAGE [IMAGE...]",
        short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
        args: Args::AtLeast(1),
        interspersed: true,
        flags: &[flag("output", Some('o'), Kind::Value, "Write to a file, instead of STDOUT")],
        run: save_cmd,
    },
    Command {
        name: "load",
        usage: "docker load [OPTIONS]",
        short: "Load an image from a tar archive or STDIN",
        args: Args::None,
        interspersed: true,
        flags: &[flag("input", Some('i'), Kind::Value, "Read from tar archive file, instead of STDIN"), flag("quiet", Some('q'), Kind::Bool, "Suppress the load output")],
        run: load_cmd,
    },
    Command {
        name: "export",
        usage: "docker export [OPTIONS] CONTAINER",
        short: "Export a container's filesystem as a tar archive",
        args: Args::Exact(1),
        interspersed: true,
        flags: &[flag("output", Some('o'), Kind::Value, "Write to a file, instead of STDOUT")],
        run: export_cmd,
    },
    Command {
        name: "import",
        usage: "docker import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
        short: "Import the contents from a tarball to create a filesystem image",
        args: Args::AtLeast(1),
        interspersed: true,
        flags: &[
            flag("change", Some('c'), Kind::List, "Apply Dockerfile instruction to the created image"),
            flag("message", Some('m'), Kind::Value, "Set commit message for imported image"),
            flag("platform", None, Kind::Value, "Set platform if server is multi-platform capable"),
        ],
        run: import_cmd,
    },
    Command {
        name: "push",
        usage: "docker push [OPTIONS] NAME[:TAG]",
        short: "Upload an image to a registry",
        args: Args::Exact(1),
        interspersed: true,
        flags: &[flag("all-tags", Some('a'), Kind::Bool, "Push all tags of an image to the repository"), flag("quiet", Some('q'), Kind::Bool, "Suppress verbose output")],
        run: push_cmd,
    },
];

/// `docker image rm` and friends.
pub fn management_alias(group: &str, sub: &str) -> Option<&'static str> {
    Some(match (group, sub) {
        ("image", "rm" | "remove") => "rmi",
        ("image", "tag") => "tag",
        ("image", "history") => "history",
        ("image", "prune") => "image prune",
        ("image", "save") => "save",
        ("image", "load") => "load",
        ("image", "import") => "import",
        ("image", "push") => "push",
        ("container", "export") => "export",
        ("system", "df") => "system df",
        _ => return None,
    })
}

fn short_id(id: &str) -> String {
    id.strip_prefix("sha256:").unwrap_or(id).chars().take(12).collect()
}

/// A request whose body (a tar) streams from `body`, answered by a response the caller reads.
fn raw_call(api: &Api, method: &str, path: &str, query: &[(&str, String)], body: &mut dyn Read, content_type: &str) -> Result<crate::http::client::Response, ApiError> {
    let mut p = format!("/v{}{}", api.version, path);
    for (i, (k, v)) in query.iter().enumerate() {
        p.push(if i == 0 { '?' } else { '&' });
        p.push_str(&format!("{k}={}", crate::http::percent_encode(v)));
    }
    let resp = crate::http::client::request_streaming(&api.endpoint, method, &p, &[("Content-Type", content_type)], body).map_err(|e| ApiError::Io(e.to_string()))?;
    if resp.status >= 400 {
        let status = resp.status;
        return Err(ApiError::Daemon { status, message: resp.error_message() });
    }
    Ok(resp)
}

fn tag_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let target = Reference::parse(&p.args[1]);
    if target.is_digest {
        return Err(Failure::new("refusing to create a tag with a digest reference", 1));
    }
    api.call("POST", &format!("/images/{}/tag", seg(&p.args[0])), &[("repo", target.name), ("tag", target.tag)], None, &[])?;
    Ok(0)
}

fn rmi_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let mut query = vec![("force", if p.bool("force") { "1" } else { "0" }.to_string())];
    if p.bool("no-prune") {
        query.push(("noprune", "1".into()));
    }
    super::for_each(&p.args, |name| {
        let v = api.json("DELETE", &format!("/images/{}", seg(name)), &query, None).map_err(|e| e.to_string())?;
        let lines: Vec<String> = v
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|e| e.get("Untagged").and_then(Value::as_str).map(|u| format!("Untagged: {u}")).or_else(|| e.get("Deleted").and_then(Value::as_str).map(|d| format!("Deleted: {d}"))))
            .collect();
        Ok((!lines.is_empty()).then(|| lines.join("\n")))
    })
}

fn history_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let v = api.json("GET", &format!("/images/{}/history", seg(&p.args[0])), &[], None)?;
    let entries = v.as_array().cloned().unwrap_or_default();
    let trunc = !p.bool("no-trunc");
    let human_on = !p.has("human") || p.bool("human");
    let format = match p.value("format").filter(|f| !f.is_empty()) {
        None | Some("table") if p.bool("quiet") => "{{.ID}}",
        None | Some("table") if !human_on => "table {{.ID}}\\t{{.CreatedAt}}\\t{{.CreatedBy}}\\t{{.Size}}\\t{{.Comment}}",
        None | Some("table") => "table {{.ID}}\\t{{.CreatedSince}}\\t{{.CreatedBy}}\\t{{.Size}}\\t{{.Comment}}",
        Some(f) => f,
    };
    let items: Vec<Value> = entries.iter().map(|e| history_context(e, trunc, human_on)).collect();
    let titles = super::format::titles(&[("ID", "IMAGE"), ("CreatedSince", "CREATED"), ("CreatedAt", "CREATED AT"), ("CreatedBy", "CREATED BY"), ("Size", "SIZE"), ("Comment", "COMMENT")]);
    out(&super::format::write_list(format, &items, &titles, &[]).map_err(|e| Failure::new(e, 1))?);
    Ok(0)
}

/// Docker's history context: every field a `--format` template may name.
fn history_context(e: &Value, trunc: bool, human_on: bool) -> Value {
    let id = e["Id"].as_str().unwrap_or("");
    let created = e["Created"].as_i64().unwrap_or(0);
    let created_at = go_rfc3339(created);
    // Docker shows no age for what claims to predate 2000 (a zero or made-up date).
    let since = if !human_on {
        created_at.clone()
    } else if created <= 946_684_800 {
        "N/A".to_string()
    } else {
        human::ago_from_unix(created)
    };
    let by = e["CreatedBy"].as_str().unwrap_or("").replace('\t', " ");
    let size = e["Size"].as_i64().unwrap_or(0);
    serde_json::json!({
        "Comment": e["Comment"].as_str().unwrap_or(""),
        "CreatedAt": created_at,
        "CreatedBy": if trunc { human::ellipsis(&by, 45) } else { by },
        "CreatedSince": since,
        "ID": if trunc && id != "<missing>" { short_id(id) } else { id.to_string() },
        "Size": if human_on { crate::units::human_size_with_precision(size as f64, 3) } else { size.to_string() },
        (crate::template::GO_MARSHAL): true,
    })
}

/// Go's `time.Unix(secs, 0).Format(time.RFC3339)` in the local zone.
fn go_rfc3339(secs: i64) -> String {
    // go_time_string: `2006-01-02 15:04:05 -0700 MST`.
    let s = super::format::go_time_string(secs);
    let mut parts = s.split(' ');
    let (Some(date), Some(time), Some(off)) = (parts.next(), parts.next(), parts.next()) else { return s };
    let zone = if off == "+0000" { "Z".to_string() } else { format!("{}:{}", &off[..3], &off[3..]) };
    format!("{date}T{time}{zone}")
}

fn confirm(question: &str) -> bool {
    out(&format!("{question} [y/N] "));
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes" | "Yes")
}

fn prune_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let all = p.bool("all");
    let filters = super::verbs::filter_flags(p, &[("dangling", if all { "false" } else { "true" })], "--filter", "image prune", "docker image prune [OPTIONS]")?.unwrap_or_default();
    if !p.bool("force") {
        let warning = if all {
            "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
        } else {
            "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
        };
        if !confirm(warning) {
            return Ok(0);
        }
    }
    let v = api.json("POST", "/images/prune", &[("filters", filters)], None)?;
    let deleted = v["ImagesDeleted"].as_array().cloned().unwrap_or_default();
    let mut text = String::new();
    if !deleted.is_empty() {
        text.push_str("Deleted Images:\n");
        for d in &deleted {
            if let Some(u) = d["Untagged"].as_str() {
                text.push_str(&format!("untagged: {u}\n"));
            } else if let Some(x) = d["Deleted"].as_str() {
                text.push_str(&format!("deleted: {x}\n"));
            }
        }
        text.push('\n');
    }
    text.push_str(&format!("Total reclaimed space: {}\n", crate::units::human_size_with_precision(v["SpaceReclaimed"].as_f64().unwrap_or(0.0), 4)));
    out(&text);
    Ok(0)
}

fn reclaimable(amount: f64, total: f64, percent: bool) -> String {
    if percent && total > 0.0 {
        format!("{} ({}%)", human::human_size(amount), (amount * 100.0 / total) as i64)
    } else {
        human::human_size(amount)
    }
}

fn df_cmd(ctx: &Ctx, _p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let v = api.json("GET", "/system/df", &[], None)?;
    let images = v["Images"].as_array().cloned().unwrap_or_default();
    let containers = v["Containers"].as_array().cloned().unwrap_or_default();
    let active_images = images.iter().filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0).count();
    let layers = v["LayersSize"].as_f64().unwrap_or(0.0);
    // Docker's arithmetic: what active images hold apart from layers they share is in use.
    let used: f64 = images
        .iter()
        .filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0 && i["SharedSize"].as_i64() != Some(-1))
        .map(|i| i["Size"].as_f64().unwrap_or(0.0) - i["SharedSize"].as_f64().unwrap_or(0.0))
        .sum();
    let active_containers = containers.iter().filter(|c| c["State"] == "running").count();
    let rw_total: f64 = containers.iter().map(|c| c["SizeRw"].as_f64().unwrap_or(0.0)).sum();
    let rw_free: f64 = containers.iter().filter(|c| c["State"] != "running").map(|c| c["SizeRw"].as_f64().unwrap_or(0.0)).sum();
    let volumes = v["Volumes"].as_array().cloned().unwrap_or_default();
    let volume_size = |v: &Value| v["UsageData"]["Size"].as_f64().filter(|s| *s > 0.0).unwrap_or(0.0);
    let in_use = |v: &Value| v["UsageData"]["RefCount"].as_i64().unwrap_or(0) > 0;
    let volumes_total: f64 = volumes.iter().map(volume_size).sum();
    let volumes_free: f64 = volumes.iter().filter(|v| !in_use(v)).map(volume_size).sum();
    let rows = vec![
        vec!["TYPE".to_string(), "TOTAL".into(), "ACTIVE".into(), "SIZE".into(), "RECLAIMABLE".into()],
        vec!["Images".into(), images.len().to_string(), active_images.to_string(), human::human_size(layers), reclaimable((layers - used).max(0.0), layers, true)],
        vec!["Containers".into(), containers.len().to_string(), active_containers.to_string(), human::human_size(rw_total), reclaimable(rw_free, rw_total, true)],
        vec!["Local Volumes".into(), volumes.len().to_string(), volumes.iter().filter(|v| in_use(v)).count().to_string(), human::human_size(volumes_total), reclaimable(volumes_free, volumes_total, true)],
        vec!["Build Cache".into(), "0".into(), "0".into(), "0B".into(), "0B".into()],
    ];
    out(&human::table(&rows));
    Ok(0)
}

/// Where `-o FILE` or stdout goes; Docker refuses to write a tar to a terminal.
fn output_for(p: &Parsed, what: &str) -> Result<Box<dyn Write>, Failure> {
    match p.value("output") {
        Some(f) => std::fs::File::create(f).map(|f| Box::new(f) as Box<dyn Write>).map_err(|e| Failure::new(format!("failed to {what}: {e}"), 1)),
        None if super::is_terminal(1) => Err(Failure::new("cowardly refusing to save to a terminal. Use the -o flag or redirect", 1)),
        None => Ok(Box::new(std::io::stdout())),
    }
}

fn copy_body(resp: crate::http::client::Response, mut to: Box<dyn Write>) -> Result<i32, Failure> {
    std::io::copy(&mut resp.into_body(), &mut to).map_err(|e| Failure::new(format!("error during connect: {e}"), 1))?;
    to.flush().map_err(|e| Failure::new(e.to_string(), 1))?;
    Ok(0)
}

fn save_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let to = output_for(p, "save image")?;
    let api = ctx.api()?;
    let query: Vec<(&str, String)> = p.args.iter().map(|n| ("names", n.clone())).collect();
    let resp = api.call("GET", "/images/get", &query, None, &[])?;
    copy_body(resp, to)
}

/// The file named by the flag (or the argument), or stdin for none or `-`.
fn open_input(file: Option<&str>, stdin_message: Option<&str>) -> Result<Box<dyn Read>, Failure> {
    match file.filter(|f| *f != "-") {
        Some(f) => std::fs::File::open(f)
            .map(|f| Box::new(f) as Box<dyn Read>)
            .map_err(|e| Failure::new(format!("open {f}: {}", e.to_string().split(" (os error").next().unwrap_or("").to_lowercase()), 1)),
        None => {
            if let Some(message) = stdin_message.filter(|_| super::is_terminal(0)) {
                return Err(Failure::new(message, 1));
            }
            Ok(Box::new(std::io::stdin()))
        }
    }
}

fn show_stream(resp: crate::http::client::Response, quiet: bool) -> Result<i32, Failure> {
    let r = if quiet {
        super::progress::display(resp.into_body(), &mut std::io::sink(), false)
    } else {
        super::progress::display(resp.into_body(), &mut std::io::stdout(), super::is_terminal(1))
    };
    match r {
        Ok(Ok(())) => Ok(0),
        Ok(Err(e)) => Err(Failure::new(e, 1)),
        Err(e) => Err(Failure::new(format!("error during connect: {e}"), 1)),
    }
}

fn load_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let mut input = open_input(p.value("input"), Some("requested load from stdin, but stdin is empty"))?;
    let api = ctx.api()?;
    let quiet = p.bool("quiet");
    let resp = raw_call(api, "POST", "/images/load", &[("quiet", if quiet { "1" } else { "0" }.to_string())], &mut input, "application/x-tar")?;
    // Docker prints the "Loaded image" lines even when quiet; only progress bars go away.
    show_stream(resp, false)
}

fn export_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let to = output_for(p, "export container")?;
    let api = ctx.api()?;
    let resp = api.call("GET", &format!("/containers/{}/export", seg(&p.args[0])), &[], None, &[])?;
    copy_body(resp, to)
}

fn import_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let mut input = open_input(Some(&p.args[0]), None)?;
    let api = ctx.api()?;
    let mut query = vec![("fromSrc", "-".to_string())];
    if let Some(r) = p.args.get(1) {
        let r = Reference::parse(r);
        query.push(("repo", r.name));
        query.push(("tag", r.tag));
    }
    if let Some(m) = p.value("message") {
        query.push(("message", m.to_string()));
    }
    for c in p.list("change") {
        query.push(("changes", c.to_string()));
    }
    let resp = raw_call(api, "POST", "/images/create", &query, &mut input, "application/x-tar")?;
    let body = resp.bytes().map_err(|e| Failure::new(e.to_string(), 1))?;
    for line in body.split(|b| *b == b'\n') {
        let Ok(v) = serde_json::from_slice::<Value>(line.trim_ascii()) else { continue };
        if let Some(e) = v["error"].as_str() {
            return Err(Failure::new(e, 1));
        }
        if let Some(s) = v["status"].as_str() {
            out(&format!("{s}\n"));
        }
    }
    Ok(0)
}

fn push_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let name = &p.args[0];
    let r = Reference::parse(name);
    let explicit_tag = !r.is_digest && name.rsplit('/').next().is_some_and(|last| last.contains(':'));
    let tag = if p.bool("all-tags") || !explicit_tag { String::new() } else { r.tag.clone() };
    let resp = api.call("POST", &format!("/images/{}/push", seg(&r.name)), &[("tag", tag)], None, &[("X-Registry-Auth", "e30=")])?;
    let quiet = p.bool("quiet");
    show_stream(resp, quiet)?;
    if quiet {
        out(&format!("{name}\n"));
    }
    Ok(0)
}
