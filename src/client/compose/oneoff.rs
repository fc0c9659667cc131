//! Commands on single containers and listings: `exec` and `run` (handing the attached
//! session to the client's own `docker exec` and `docker start -a`), `pull`, `ls`,
//! `images` and `top`.

use super::model;
use super::plan::{self, Existing};
use super::Globals;
use crate::client::api::seg;
use crate::client::flags::Parsed;
use crate::client::{out, Ctx, Failure};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn fail(e: impl ToString) -> Failure {
    Failure::new(e.to_string(), 1)
}

/// Runs one of the client's own commands (`exec`, `start`) with `args`.
fn client_command(ctx: &Ctx, name: &str, args: &[String]) -> i32 {
    let all = crate::client::commands();
    let Some(cmd) = all.iter().find(|c| c.name == name) else { return 1 };
    crate::client::run_command(ctx, cmd, args)
}

/// Whether compose would allocate a terminal: stdin and stdout are terminals and `-T`
/// was not given.
fn wants_tty(p: &Parsed) -> bool {
    !p.bool("no-TTY") && crate::client::is_terminal(0) && crate::client::is_terminal(1)
}

pub fn exec_cmd(ctx: &Ctx, g: &Globals, p: &Parsed) -> Result<i32, Failure> {
    let Some(service) = p.args.first() else {
        return Err(fail("\"docker compose exec\" requires at least 2 arguments."));
    };
    if p.args.len() < 2 {
        return Err(fail("\"docker compose exec\" requires at least 2 arguments."));
    }
    let project = g.project()?;
    if !project.services.contains_key(service) {
        return Err(fail(format!("no such service: {service}")));
    }
    let index: u32 = p.value("index").unwrap_or("1").parse().map_err(|_| fail("invalid --index"))?;
    let api = ctx.api()?;
    let list = plan::containers(api, &project.name, false)?;
    let Some(c) = list.iter().find(|c| &c.service == service && !c.oneoff && c.number == index) else {
        return Err(fail(format!("service {service:?} is not running")));
    };
    let mut args: Vec<String> = Vec::new();
    if p.bool("detach") {
        args.push("--detach".into());
    } else {
        args.push("--interactive".into());
        if wants_tty(p) {
            args.push("--tty".into());
        }
    }
    for e in p.list("env") {
        args.push(format!("--env={e}"));
    }
    for (k, f) in [("user", "user"), ("workdir", "workdir")] {
        if let Some(v) = p.value(k) {
            args.push(format!("--{f}={v}"));
        }
    }
    if p.bool("privileged") {
        args.push("--privileged".into());
    }
    args.push(c.id.clone());
    args.extend(p.args[1..].iter().cloned());
    Ok(client_command(ctx, "exec", &args))
}

pub fn run_cmd(ctx: &Ctx, g: &Globals, p: &Parsed) -> Result<i32, Failure> {
    let Some(service) = p.args.first().cloned() else {
        return Err(fail("\"docker compose run\" requires at least 1 argument."));
    };
    let mut project = g.project()?;
    if !project.services.contains_key(&service) {
        return Err(fail(format!("no such service: {service}")));
    }
    // Dependencies first, as `up -d` would bring them up.
    if !p.bool("no-deps") {
        let deps: Vec<String> = project.services[&service]["depends_on"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        if !deps.is_empty() {
            super::up::up_services(ctx, &project, &deps)?;
        }
    }
    let svc = project.services.get_mut(&service).ok_or_else(|| fail("no such service"))?;
    if p.args.len() > 1 {
        svc["command"] = json!(p.args[1..]);
    }
    if let Some(e) = p.value("entrypoint") {
        svc["entrypoint"] = json!(model::shell_split(e).map_err(fail)?);
    }
    for e in p.list("env") {
        let (k, v) = e.split_once('=').map(|(k, v)| (k.to_string(), Some(v.to_string()))).unwrap_or((e.to_string(), std::env::var(e).ok()));
        svc["environment"][&k] = v.map(Value::from).unwrap_or(Value::Null);
    }
    for (k, key) in [("user", "user"), ("workdir", "working_dir")] {
        if let Some(v) = p.value(k) {
            svc[key] = json!(v);
        }
    }
    for l in p.list("label") {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        svc["labels"][k] = json!(v);
    }
    for v in p.list("volume") {
        let mut vols = svc["volumes"].as_array().cloned().unwrap_or_default();
        vols.push(Value::Object(model::short_volume(v).map_err(fail)?));
        svc["volumes"] = json!(vols);
    }
    // Published ports only with --service-ports (compose's rule), or those given.
    if !p.bool("service-ports") {
        svc.as_object_mut().map(|m| m.remove("ports"));
    }
    for spec in p.list("publish") {
        let mut ports = svc["ports"].as_array().cloned().unwrap_or_default();
        ports.extend(model::short_port(spec).map_err(fail)?);
        svc["ports"] = json!(ports);
    }
    let tty = wants_tty(p);
    svc["tty"] = json!(tty);
    svc["stdin_open"] = json!(!p.bool("detach"));
    if p.bool("rm") {
        svc.as_object_mut().map(|m| m.remove("restart"));
    }
    svc.as_object_mut().map(|m| m.remove("container_name"));
    let slug = crate::ids::new_id();
    let name = p.value("name").map(str::to_string).unwrap_or_else(|| format!("{}-{service}-run-{}", project.name, &slug[..12]));
    let api = ctx.api()?;
    super::up::ensure_for(api, &project, std::slice::from_ref(&service))?;
    let image = project.services[&service]["image"].as_str().unwrap_or("").to_string();
    let image_id = super::up::ensure_image(api, &image)?;
    let (mut body, more) = plan::create_request(&project, &service, 1, image_id.as_deref()).map_err(fail)?;
    let labels = &mut body["Labels"];
    labels[plan::ONEOFF] = json!("True");
    labels[plan::SLUG] = json!(slug);
    if let Some(m) = labels.as_object_mut() {
        m.remove(plan::NUMBER);
    }
    if p.bool("rm") {
        body["HostConfig"]["AutoRemove"] = json!(true);
    }
    if !p.bool("detach") {
        // Attached, as `docker run -i`: the container's stdin closes with ours.
        for k in ["AttachStdin", "AttachStdout", "AttachStderr", "StdinOnce"] {
            body[k] = json!(true);
        }
    }
    let resp = api.json("POST", "/containers/create", &[("name", name.clone())], Some(&body))?;
    let id = resp["Id"].as_str().unwrap_or("").to_string();
    for (net, endpoint) in more {
        api.call("POST", &format!("/networks/{}/connect", seg(&net)), &[], Some(&json!({"Container": id, "EndpointConfig": endpoint})), &[])?;
    }
    if p.bool("detach") {
        api.call("POST", &format!("/containers/{}/start", seg(&id)), &[], None, &[])?;
        out(&format!("{name}\n"));
        return Ok(0);
    }
    attached_run(api, &id, tty, p.bool("rm"))
}

/// Attaches to the one-off container, starts it and waits for its exit, with the client's
/// attach code (as `docker run` does); the exit status is the container's.
fn attached_run(api: &crate::client::api::Api, id: &str, tty: bool, rm: bool) -> Result<i32, Failure> {
    use crate::client::attach::{attach, monitor_size, resize_path, wait_for_exit, End, Streams};
    crate::client::tty::block_resize_signal();
    let detach_keys = crate::client::tty::detach_keys(None).map_err(fail)?;
    if !tty {
        crate::client::attach::proxy_signals(api, id);
    }
    let attached = attach(api, id, &Streams { stdin: true, stdout: true, stderr: true, tty, detach_keys })?;
    let wait = wait_for_exit(api, id, if rm { "removed" } else { "next-exit" });
    api.call("POST", &format!("/containers/{}/start", seg(id)), &[], None, &[])?;
    if tty {
        monitor_size(api, resize_path(id));
    }
    if attached.wait() == End::Detached {
        return Ok(0);
    }
    match wait.recv() {
        Ok(Ok(v)) => Ok(v["StatusCode"].as_i64().unwrap_or(0) as i32),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(fail("wait ended without an answer")),
    }
}

pub fn pull_cmd(ctx: &Ctx, g: &Globals, p: &Parsed) -> Result<i32, Failure> {
    let project = g.project()?;
    let api = ctx.api()?;
    let names: Vec<String> = if p.args.is_empty() { project.services.keys().cloned().collect() } else { p.args.clone() };
    let mut failed = Vec::new();
    for n in &names {
        let Some(svc) = project.services.get(n) else { return Err(fail(format!("no such service: {n}"))) };
        let image = svc["image"].as_str().unwrap_or("");
        eprintln!(" {n} Pulling");
        match crate::client::images::pull(api, image, true, true) {
            Ok(()) => eprintln!(" {n} Pulled"),
            Err(e) if p.bool("ignore-pull-failures") => eprintln!(" {n} Warning {e}"),
            Err(e) => failed.push(format!("{n}: {e}")),
        }
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(fail(failed.join("\n")))
    }
}

pub fn ls_cmd(ctx: &Ctx, _g: &Globals, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let filters = json!({"label": [plan::PROJECT]}).to_string();
    let list = api.json("GET", "/containers/json", &[("all", "1".to_string()), ("filters", filters)], None)?;
    // project -> (state -> count, config files)
    let mut projects: BTreeMap<String, (BTreeMap<String, usize>, Vec<String>)> = BTreeMap::new();
    for c in list.as_array().into_iter().flatten() {
        let name = c["Labels"][plan::PROJECT].as_str().unwrap_or("").to_string();
        let entry = projects.entry(name).or_default();
        *entry.0.entry(c["State"].as_str().unwrap_or("").to_string()).or_default() += 1;
        for f in c["Labels"][plan::CONFIG_FILES].as_str().into_iter().flat_map(|s| s.split(',')) {
            if !f.is_empty() && !entry.1.iter().any(|x| x == f) {
                entry.1.push(f.to_string());
            }
        }
    }
    if !p.bool("all") {
        projects.retain(|_, (states, _)| states.contains_key("running"));
    }
    if p.bool("quiet") {
        out(&projects.keys().map(|k| format!("{k}\n")).collect::<String>());
        return Ok(0);
    }
    let format = p.value("format").unwrap_or("table");
    if format != "table" && format != "json" {
        return Err(fail(format!("format value {format:?} could not be parsed: use table or json")));
    }
    let status = |states: &BTreeMap<String, usize>| states.iter().map(|(s, n)| format!("{s}({n})")).collect::<Vec<_>>().join(", ");
    if format == "json" {
        let items: Vec<Value> = projects.iter().map(|(n, (s, f))| json!({"Name": n, "Status": status(s), "ConfigFiles": f.join(",")})).collect();
        out(&format!("{}\n", Value::Array(items)));
        return Ok(0);
    }
    let mut rows = vec![vec!["NAME".to_string(), "STATUS".into(), "CONFIG FILES".into()]];
    for (n, (s, f)) in &projects {
        rows.push(vec![n.clone(), status(s), f.join(",")]);
    }
    out(&crate::client::human::table(&rows));
    Ok(0)
}

fn project_containers(ctx: &Ctx, g: &Globals, names: &[String], all: bool) -> Result<Vec<Existing>, Failure> {
    let project = g.project()?;
    for n in names {
        if !project.services.contains_key(n) {
            return Err(fail(format!("no such service: {n}")));
        }
    }
    Ok(plan::containers(ctx.api()?, &project.name, all)?.into_iter().filter(|c| names.is_empty() || names.contains(&c.service)).collect())
}

pub fn images_cmd(ctx: &Ctx, g: &Globals, p: &Parsed) -> Result<i32, Failure> {
    let list = project_containers(ctx, g, &p.args, true)?;
    let api = ctx.api()?;
    if p.bool("quiet") {
        let mut ids: Vec<String> = Vec::new();
        for c in &list {
            let id = c.summary["ImageID"].as_str().unwrap_or("").to_string();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        out(&ids.iter().map(|i| format!("{i}\n")).collect::<String>());
        return Ok(0);
    }
    let mut rows = vec![["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"].iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    for c in &list {
        let image = c.summary["Image"].as_str().unwrap_or("");
        let r = crate::client::images::Reference::parse(image);
        let info = api.json("GET", &format!("/images/{}/json", seg(c.summary["ImageID"].as_str().unwrap_or(image))), &[], None).unwrap_or(Value::Null);
        let id = info["Id"].as_str().unwrap_or("").trim_start_matches("sha256:").chars().take(12).collect::<String>();
        let size = crate::units::human_size_with_precision(info["Size"].as_f64().unwrap_or(0.0), 3);
        rows.push(vec![c.name.clone(), r.name.clone(), r.tag.clone(), id, size]);
    }
    out(&crate::client::human::table(&rows));
    Ok(0)
}

pub fn top_cmd(ctx: &Ctx, g: &Globals, p: &Parsed) -> Result<i32, Failure> {
    let list = project_containers(ctx, g, &p.args, false)?;
    let api = ctx.api()?;
    let mut text = String::new();
    for c in list.iter().filter(|c| !c.oneoff) {
        let top = api.json("GET", &format!("/containers/{}/top", seg(&c.id)), &[], None)?;
        let mut rows = vec![top["Titles"].as_array().into_iter().flatten().map(|t| t.as_str().unwrap_or("").to_string()).collect::<Vec<_>>()];
        for proc_ in top["Processes"].as_array().into_iter().flatten() {
            rows.push(proc_.as_array().into_iter().flatten().map(|x| x.as_str().unwrap_or("").to_string()).collect());
        }
        text.push_str(&format!("{}\n{}\n", c.name, crate::client::human::table(&rows)));
    }
    out(&text);
    Ok(0)
}
