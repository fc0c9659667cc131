//! The lifecycle commands: `up` converges the daemon's containers, networks and volumes on
//! the file (the planner decides per container: keep, start, create, recreate, remove),
//! `down` removes them, `ps`, `logs`, `start`, `stop` and `restart` act on what the
//! project's labels find.

use super::model::{self, Project};
use super::plan::{self, Existing};
use super::Globals;
use crate::client::api::{seg, Api, ApiError};
use crate::client::flags::Parsed;
use crate::client::{out, Ctx, Failure};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One line of compose's plain progress output (on stderr).
fn event(kind: &str, name: &str, status: &str) {
    eprintln!(" {kind} {name}  {status}");
}

fn fail(e: impl ToString) -> Failure {
    Failure::new(e.to_string(), 1)
}

/// The services named on the command line (all when none), each checked.
fn selected(project: &Project, names: &[String]) -> Result<Vec<String>, Failure> {
    for n in names {
        if !project.services.contains_key(n) {
            return Err(fail(format!("no such service: {n}")));
        }
    }
    Ok(if names.is_empty() { project.services.keys().cloned().collect() } else { names.to_vec() })
}

/// `names` and every service they depend on, transitively.
fn with_dependencies(project: &Project, names: &[String]) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    let mut todo: Vec<String> = names.to_vec();
    while let Some(n) = todo.pop() {
        if all.insert(n.clone()) {
            if let Some(deps) = project.services.get(&n).and_then(|s| s["depends_on"].as_object()) {
                todo.extend(deps.keys().filter(|d| project.services.contains_key(*d)).cloned());
            }
        }
    }
    all
}

fn scales(p: &Parsed, project: &Project) -> Result<BTreeMap<String, u32>, Failure> {
    let mut out = BTreeMap::new();
    for (name, svc) in &project.services {
        if let Some(r) = svc["deploy"]["replicas"].as_i64() {
            out.insert(name.clone(), r.max(0) as u32);
        }
    }
    for s in p.list("scale") {
        let (name, n) = s.split_once('=').ok_or_else(|| fail(format!("invalid --scale option {s:?}: should be SERVICE=NUM")))?;
        if !project.services.contains_key(name) {
            return Err(fail(format!("no such service: {name}")));
        }
        let n: u32 = n.parse().map_err(|_| fail(format!("invalid --scale option {s:?}: should be SERVICE=NUM")))?;
        out.insert(name.to_string(), n);
    }
    Ok(out)
}

pub fn up_cmd(ctx: &Ctx, g: &Globals, p: &Parsed) -> Result<i32, Failure> {
    if p.bool("force-recreate") && p.bool("no-recreate") {
        return Err(fail("--force-recreate and --no-recreate are incompatible"));
    }
    let wait_timeout = p.value("wait-timeout").map(|t| t.parse::<u64>().map_err(|_| fail(format!("invalid --wait-timeout {t:?}")))).transpose()?;
    let project = g.project()?;
    let chosen = selected(&project, &p.args)?;
    let scale = scales(p, &project)?;
    let active = with_dependencies(&project, &chosen);
    let order: Vec<String> = model::start_order(&project.services).map_err(fail)?.into_iter().filter(|s| active.contains(s)).collect();
    let api = ctx.api()?;
    let existing = plan::containers(api, &project.name, true)?;

    let orphans: Vec<&Existing> = existing.iter().filter(|c| !c.oneoff && !project.services.contains_key(&c.service) && !project.disabled.contains_key(&c.service)).collect();
    if !orphans.is_empty() {
        if p.bool("remove-orphans") {
            for c in &orphans {
                remove_container(api, c, false, None)?;
            }
        } else {
            let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
            eprintln!("WARN[0000] Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.", names.join(" "));
        }
    }

    let opts = Converge { build: p.bool("build"), force: p.bool("force-recreate"), no_recreate: p.bool("no-recreate"), start: !p.bool("no-start") };
    converge_all(api, &project, &order, &existing, &scale, &opts)?;
    if p.bool("wait") {
        wait_running(api, &project, &chosen, wait_timeout.map(Duration::from_secs))?;
    } else if !p.bool("detach") {
        let attached: Vec<String> = order.iter().filter(|s| chosen.contains(s)).cloned().collect();
        return attach_and_wait(api, &project, &attached);
    }
    Ok(0)
}

/// Networks, volumes, then each service of `order` (dependencies met first).
/// Services of the same dependency depth converge side by side, as compose's do.
fn converge_all(api: &Api, project: &Project, order: &[String], existing: &[Existing], scale: &BTreeMap<String, u32>, opts: &Converge) -> Result<(), Failure> {
    ensure_for(api, project, order)?;
    let depth = depths(order, |s| project.services[s]["depends_on"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default());
    let one = |name: &String| -> Result<(), Failure> {
        if opts.start {
            wait_for_dependencies(api, project, name)?;
        }
        let want = scale.get(name).copied().unwrap_or(1);
        let mine: Vec<&Existing> = existing.iter().filter(|c| &c.service == name && !c.oneoff).collect();
        converge(api, project, name, want, &mine, opts)
    };
    for level in 0..=depth.values().copied().max().unwrap_or(0) {
        let group: Vec<&String> = order.iter().filter(|s| depth[*s] == level).collect();
        in_parallel(&group, |s| one(s))?;
    }
    Ok(())
}

/// Each of `names`' depth along `next` (its dependencies, or its dependents), counting
/// only links between the names themselves: 0 for one with none.
fn depths(names: &[String], next: impl Fn(&str) -> Vec<String>) -> BTreeMap<String, usize> {
    fn depth_of(n: &str, names: &[String], next: &dyn Fn(&str) -> Vec<String>, memo: &mut BTreeMap<String, usize>) -> usize {
        if let Some(d) = memo.get(n) {
            return *d;
        }
        // start_order has refused cycles; the provisional 0 only guards against recursion.
        memo.insert(n.to_string(), 0);
        let d = next(n).iter().filter(|m| names.contains(m)).map(|m| 1 + depth_of(m, names, next, memo)).max().unwrap_or(0);
        memo.insert(n.to_string(), d);
        d
    }
    let mut memo = BTreeMap::new();
    for n in names {
        depth_of(n, names, &next, &mut memo);
    }
    memo
}

/// `f` on every item at once, each on a thread of its own; the first failure is returned
/// once all have ended.
fn in_parallel<T: Sync>(items: &[T], f: impl Fn(&T) -> Result<(), Failure> + Sync) -> Result<(), Failure> {
    if items.len() <= 1 {
        return items.iter().try_for_each(&f);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = items.iter().map(|item| scope.spawn(|| f(item))).collect();
        let mut result = Ok(());
        for h in handles {
            let r = h.join().unwrap_or_else(|_| Err(fail("a worker thread panicked")));
            if result.is_ok() {
                result = r;
            }
        }
        result
    })
}

/// `up -d` of `names` and what they depend on (for `run`).
pub fn up_services(ctx: &Ctx, project: &Project, names: &[String]) -> Result<(), Failure> {
    let active = with_dependencies(project, names);
    let order: Vec<String> = model::start_order(&project.services).map_err(fail)?.into_iter().filter(|s| active.contains(s)).collect();
    let api = ctx.api()?;
    let existing = plan::containers(api, &project.name, true)?;
    let scale = project.services.iter().filter_map(|(n, s)| s["deploy"]["replicas"].as_i64().map(|r| (n.clone(), r.max(0) as u32))).collect();
    converge_all(api, project, &order, &existing, &scale, &Converge { build: false, force: false, no_recreate: false, start: true })
}

/// The networks and volumes `services` use, made when missing.
pub fn ensure_for(api: &Api, project: &Project, services: &[String]) -> Result<(), Failure> {
    ensure_networks(api, project, services)?;
    ensure_volumes(api, project, services)
}

struct Converge {
    build: bool,
    force: bool,
    no_recreate: bool,
    start: bool,
}

/// Brings the containers of one service to `want` replicas of its current configuration.
fn converge(api: &Api, project: &Project, name: &str, want: u32, mine: &[&Existing], opts: &Converge) -> Result<(), Failure> {
    let svc = &project.services[name];
    let hash = plan::config_hash(svc);
    for c in mine.iter().rev().filter(|c| c.number > want) {
        remove_container(api, c, false, None)?;
    }
    let image_owned = plan::image_name(project, name);
    let image = image_owned.as_str();
    if svc.get("build").is_some() && (opts.build || plan::image_id(api, image)?.is_none()) {
        build_service(ctx_of(api), project, name)?;
    }
    let mut image_id = None;
    for n in 1..=want {
        let current = mine.iter().find(|c| c.number == n);
        match current {
            Some(c) if (opts.force || c.hash != hash) && !opts.no_recreate => {
                if image_id.is_none() {
                    image_id = Some(ensure_image(api, image)?);
                }
                event("Container", &c.name, "Recreate");
                stop_container(api, c, None)?;
                api.call("DELETE", &format!("/containers/{}", seg(&c.id)), &[], None, &[])?;
                let id = create(api, project, name, n, image_id.as_ref().and_then(|i| i.as_deref()))?;
                event("Container", &c.name, "Recreated");
                if opts.start {
                    start(api, &id, &c.name)?;
                }
            }
            Some(c) => {
                if c.state == "running" {
                    event("Container", &c.name, "Running");
                } else if opts.start {
                    start(api, &c.id, &c.name)?;
                }
            }
            None => {
                if image_id.is_none() {
                    image_id = Some(ensure_image(api, image)?);
                }
                let cname = plan::container_name(project, name, n);
                event("Container", &cname, "Creating");
                let id = create(api, project, name, n, image_id.as_ref().and_then(|i| i.as_deref()))?;
                event("Container", &cname, "Created");
                if opts.start {
                    start(api, &id, &cname)?;
                }
            }
        }
    }
    Ok(())
}

pub fn build_cmd(ctx: &Ctx, g: &Globals, p: &Parsed) -> Result<i32, Failure> {
    let project = g.project()?;
    for name in selected(&project, &p.args)? {
        if project.services[&name].get("build").is_some() {
            build_service(Ctx::new(ctx.host.clone()), &project, &name)?;
        }
    }
    Ok(0)
}

/// A context for the client's own commands on the same daemon.
fn ctx_of(api: &Api) -> Ctx {
    Ctx::new(api.endpoint.display())
}

/// Builds the service's image with the client's own `docker build`.
pub fn build_service(ctx: Ctx, project: &Project, service: &str) -> Result<(), Failure> {
    let b = &project.services[service]["build"];
    let image = plan::image_name(project, service);
    event("Image", &image, "Building");
    let context = b["context"].as_str().unwrap_or(".");
    let dockerfile = std::path::Path::new(context).join(b["dockerfile"].as_str().unwrap_or("Dockerfile"));
    let mut args = vec![format!("--tag={image}"), format!("--file={}", dockerfile.display()), "--quiet".to_string()];
    // compose's labels on what it builds (down --rmi finds them by the project's).
    for (k, v) in [(plan::VERSION, plan::COMPOSE_VERSION), (plan::PROJECT, project.name.as_str()), (plan::SERVICE, service)] {
        args.push(format!("--label={k}={v}"));
    }
    for (k, v) in b["args"].as_object().into_iter().flatten() {
        match v.as_str() {
            Some(v) => args.push(format!("--build-arg={k}={v}")),
            None => args.push(format!("--build-arg={k}")),
        }
    }
    args.push(context.to_string());
    let all = crate::client::commands();
    let cmd = all.iter().find(|c| c.name == "build").ok_or_else(|| fail("docker build is missing"))?;
    let code = crate::client::run_command(&ctx, cmd, &args);
    if code != 0 {
        return Err(Failure::new(format!("failed to build the image of service {service:?}"), code));
    }
    event("Image", &image, "Built");
    Ok(())
}

/// The image's id, pulling it first when the daemon lacks it.
pub fn ensure_image(api: &Api, image: &str) -> Result<Option<String>, Failure> {
    if let Some(id) = plan::image_id(api, image)? {
        return Ok(Some(id));
    }
    event("Image", image, "Pulling");
    crate::client::images::pull(api, image, true, true).map_err(fail)?;
    event("Image", image, "Pulled");
    Ok(plan::image_id(api, image)?)
}

fn create(api: &Api, project: &Project, service: &str, n: u32, image_id: Option<&str>) -> Result<String, Failure> {
    let (body, more) = plan::create_request(project, service, n, image_id).map_err(fail)?;
    let name = plan::container_name(project, service, n);
    let resp = api.json("POST", "/containers/create", &[("name", name)], Some(&body))?;
    let id = resp["Id"].as_str().unwrap_or("").to_string();
    for (net, endpoint) in more {
        api.call("POST", &format!("/networks/{}/connect", seg(&net)), &[], Some(&json!({"Container": id, "EndpointConfig": endpoint})), &[])?;
    }
    Ok(id)
}

fn start(api: &Api, id: &str, name: &str) -> Result<(), Failure> {
    event("Container", name, "Starting");
    api.call("POST", &format!("/containers/{}/start", seg(id)), &[], None, &[])?;
    event("Container", name, "Started");
    Ok(())
}

fn stop_container(api: &Api, c: &Existing, timeout: Option<&str>) -> Result<(), Failure> {
    event("Container", &c.name, "Stopping");
    let q: Vec<(&str, String)> = timeout.map(|t| vec![("t", t.to_string())]).unwrap_or_default();
    api.call("POST", &format!("/containers/{}/stop", seg(&c.id)), &q, None, &[])?;
    event("Container", &c.name, "Stopped");
    Ok(())
}

fn remove_container(api: &Api, c: &Existing, volumes: bool, timeout: Option<&str>) -> Result<(), Failure> {
    if c.state == "running" || c.state == "restarting" || c.state == "paused" {
        stop_container(api, c, timeout)?;
    }
    event("Container", &c.name, "Removing");
    let q = vec![("v", if volumes { "1" } else { "0" }.to_string()), ("force", "1".to_string())];
    match api.call("DELETE", &format!("/containers/{}", seg(&c.id)), &q, None, &[]) {
        Ok(_) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    event("Container", &c.name, "Removed");
    Ok(())
}

fn used_networks(project: &Project, services: &[String]) -> BTreeSet<String> {
    services.iter().filter_map(|s| project.services.get(s)).flat_map(|s| s["networks"].as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default()).collect()
}

fn used_volumes(project: &Project, services: &[String]) -> BTreeSet<String> {
    services
        .iter()
        .filter_map(|s| project.services.get(s))
        .flat_map(|s| s["volumes"].as_array().cloned().unwrap_or_default())
        .filter(|v| v["type"] == "volume")
        .filter_map(|v| v["source"].as_str().filter(|s| !s.is_empty()).map(str::to_string))
        .collect()
}

fn ensure_networks(api: &Api, project: &Project, services: &[String]) -> Result<(), Failure> {
    for key in used_networks(project, services) {
        let net = project.networks.get(&key).cloned().unwrap_or_else(|| json!({}));
        let name = plan::network_name(project, &key);
        match api.json("GET", &format!("/networks/{}", seg(&name)), &[], None) {
            Ok(_) => continue,
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        if net["external"] == true {
            return Err(fail(format!("network {name} declared as external, but could not be found")));
        }
        event("Network", &name, "Creating");
        let mut body = json!({
            "Name": name,
            "Driver": net["driver"].as_str().unwrap_or("bridge"),
            "Labels": plan::object_labels(project, plan::NETWORK, &key, &net),
            "Internal": net["internal"] == true,
            "Attachable": net["attachable"] == true,
            "CheckDuplicate": true,
        });
        if let Some(o) = net.get("driver_opts") {
            body["Options"] = o.clone();
        }
        if net["enable_ipv6"] == true {
            body["EnableIPv6"] = json!(true);
        }
        if let Some(ipam) = net.get("ipam") {
            let config: Vec<Value> = ipam["config"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let mut e = json!({});
                    for (k, f) in [("subnet", "Subnet"), ("gateway", "Gateway"), ("ip_range", "IPRange"), ("aux_addresses", "AuxiliaryAddresses")] {
                        if let Some(v) = c.get(k) {
                            e[f] = v.clone();
                        }
                    }
                    e
                })
                .collect();
            body["IPAM"] = json!({"Driver": ipam["driver"].as_str().unwrap_or("default"), "Config": config, "Options": ipam.get("options").cloned().unwrap_or(json!({}))});
        }
        api.call("POST", "/networks/create", &[], Some(&body), &[])?;
        event("Network", &name, "Created");
    }
    Ok(())
}

fn ensure_volumes(api: &Api, project: &Project, services: &[String]) -> Result<(), Failure> {
    for key in used_volumes(project, services) {
        let vol = project.volumes.get(&key).cloned().unwrap_or_else(|| json!({}));
        let name = plan::volume_name(project, &key);
        match api.json("GET", &format!("/volumes/{}", seg(&name)), &[], None) {
            Ok(_) => continue,
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        if vol["external"] == true {
            return Err(fail(format!("external volume \"{name}\" not found")));
        }
        let shown = format!("\"{name}\"");
        event("Volume", &shown, "Creating");
        let body = json!({
            "Name": name,
            "Driver": vol["driver"].as_str().unwrap_or("local"),
            "DriverOpts": vol.get("driver_opts").cloned().unwrap_or(json!({})),
            "Labels": plan::object_labels(project, plan::VOLUME, &key, &vol),
        });
        api.call("POST", "/volumes/create", &[], Some(&body), &[])?;
        event("Volume", &shown, "Created");
    }
    Ok(())
}

/// Waits until each dependency of `service` meets its `condition`.
fn wait_for_dependencies(api: &Api, project: &Project, service: &str) -> Result<(), Failure> {
    let Some(deps) = project.services[service]["depends_on"].as_object() else { return Ok(()) };
    for (dep, cfg) in deps {
        if !project.services.contains_key(dep) {
            continue;
        }
        let condition = cfg["condition"].as_str().unwrap_or("service_started");
        if condition == "service_started" {
            continue;
        }
        for c in plan::containers(api, &project.name, true)?.iter().filter(|c| &c.service == dep && !c.oneoff) {
            event("Container", &c.name, "Waiting");
            match condition {
                "service_healthy" => loop {
                    let info = api.json("GET", &format!("/containers/{}/json", seg(&c.id)), &[], None)?;
                    let health = info["State"]["Health"]["Status"].as_str();
                    match health {
                        Some("healthy") => {
                            event("Container", &c.name, "Healthy");
                            break;
                        }
                        Some("unhealthy") => return Err(fail(format!("dependency failed to start: container {} is unhealthy", c.name))),
                        None => return Err(fail(format!("dependency failed to start: container {} has no healthcheck configured", c.name))),
                        _ => {}
                    }
                    if info["State"]["Running"] != true {
                        return Err(fail(format!("dependency failed to start: container {} exited ({})", c.name, info["State"]["ExitCode"])));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                },
                _ => {
                    let v = api.json("POST", &format!("/containers/{}/wait", seg(&c.id)), &[("condition", "not-running".to_string())], None)?;
                    let code = v["StatusCode"].as_i64().unwrap_or(0);
                    if code != 0 {
                        return Err(fail(format!("service {dep:?} didn't complete successfully: exit {code}")));
                    }
                    event("Container", &c.name, "Exited");
                }
            }
        }
    }
    Ok(())
}

/// `up --wait`: every container of the services running, and healthy when it has a check.
fn wait_running(api: &Api, project: &Project, services: &[String], timeout: Option<Duration>) -> Result<(), Failure> {
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    for c in plan::containers(api, &project.name, true)?.iter().filter(|c| services.contains(&c.service) && !c.oneoff) {
        event("Container", &c.name, "Waiting");
        loop {
            let info = api.json("GET", &format!("/containers/{}/json", seg(&c.id)), &[], None)?;
            let running = info["State"]["Running"] == true;
            match info["State"]["Health"]["Status"].as_str() {
                Some("healthy") if running => break,
                None if running => break,
                Some("unhealthy") => return Err(fail(format!("container {} is unhealthy", c.name))),
                _ if !running && info["State"]["Status"] == "exited" => return Err(fail(format!("container {} exited ({})", c.name, info["State"]["ExitCode"]))),
                _ => {}
            }
            if deadline.is_some_and(|d| std::time::Instant::now() > d) {
                return Err(fail("application not healthy after timeout"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        event("Container", &c.name, "Healthy");
    }
    Ok(())
}

/// The project for commands that also work from a project name alone (`down -p NAME`):
/// the loaded file, or None when there is none but a name was given.
fn project_or_name(g: &Globals) -> Result<(Option<Project>, String), Failure> {
    match g.project() {
        Ok(p) => {
            let n = p.name.clone();
            Ok((Some(p), n))
        }
        Err(e) => match &g.options.project_name {
            Some(n) if e.message.starts_with("no configuration file provided") => Ok((None, n.clone())),
            _ => Err(e),
        },
    }
}

pub fn down_cmd(ctx: &Ctx, g: &Globals, p: &Parsed) -> Result<i32, Failure> {
    let rmi = p.value("rmi");
    if let Some(mode) = rmi.filter(|m| !matches!(*m, "local" | "all")) {
        return Err(Failure::new(format!("invalid value for --rmi: {mode:?}"), 1));
    }
    let (project, name) = project_or_name(g)?;
    let api = ctx.api()?;
    let timeout = p.value("timeout");
    let existing = plan::containers(api, &name, true)?;
    let known = |s: &str| project.as_ref().is_none_or(|pr| pr.services.contains_key(s) || pr.disabled.contains_key(s));
    let only: Vec<String> = p.args.clone();
    if let Some(pr) = &project {
        selected(pr, &only)?;
    }
    let orphans: Vec<&Existing> = existing.iter().filter(|c| !c.oneoff && !known(&c.service)).collect();
    if !orphans.is_empty() && !p.bool("remove-orphans") {
        let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
        eprintln!("WARN[0000] Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.", names.join(" "));
    }
    // Dependents first: the reverse of the start order.
    let order: Vec<String> = match &project {
        Some(pr) => model::start_order(&pr.services).map_err(fail)?,
        None => Vec::new(),
    };
    let rank = |s: &str| order.iter().position(|o| o == s).map(|i| i as i64).unwrap_or(i64::MAX);
    let mut doomed: Vec<&Existing> = existing
        .iter()
        .filter(|c| if !known(&c.service) { p.bool("remove-orphans") || c.oneoff } else { only.is_empty() || only.contains(&c.service) })
        .collect();
    doomed.sort_by_key(|c| (std::cmp::Reverse(rank(&c.service)), std::cmp::Reverse(c.number)));
    // Dependents go before what they depend on; containers of the same depth go together.
    let services: Vec<String> = doomed.iter().map(|c| c.service.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let dependents = |s: &str| -> Vec<String> { project.as_ref().map(|pr| pr.services.iter().filter(|(_, v)| v["depends_on"].get(s).is_some()).map(|(k, _)| k.clone()).collect()).unwrap_or_default() };
    let depth = depths(&services, dependents);
    for level in 0..=depth.values().copied().max().unwrap_or(0) {
        let group: Vec<&Existing> = doomed.iter().copied().filter(|c| depth[&c.service] == level).collect();
        in_parallel(&group, |c| remove_container(api, c, p.bool("volumes"), timeout))?;
    }
    if !only.is_empty() {
        return Ok(0);
    }
    // Networks and volumes: those the file declares, or without a file those labelled
    // with the project.
    let label = json!({"label": [format!("{}={name}", plan::PROJECT)]}).to_string();
    let networks: Vec<String> = match &project {
        Some(pr) => pr.networks.iter().filter(|(_, n)| n["external"] != true).map(|(k, _)| plan::network_name(pr, k)).collect(),
        None => api.json("GET", "/networks", &[("filters", label.clone())], None)?.as_array().into_iter().flatten().filter_map(|n| n["Name"].as_str().map(str::to_string)).collect(),
    };
    for n in networks {
        match api.call("DELETE", &format!("/networks/{}", seg(&n)), &[], None, &[]) {
            Ok(_) => {
                event("Network", &n, "Removing");
                event("Network", &n, "Removed");
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(mode) = rmi {
        for image in images_to_remove(api, project.as_ref(), &name, mode == "all", p.bool("remove-orphans"))? {
            match api.call("DELETE", &format!("/images/{}", seg(&image)), &[], None, &[]) {
                Ok(_) => {
                    event("Image", &image, "Removing");
                    event("Image", &image, "Removed");
                }
                Err(ApiError::Daemon { status: 409, .. }) => event("Image", &image, "Resource is still in use"),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    if p.bool("volumes") {
        let volumes: Vec<String> = match &project {
            Some(pr) => pr.volumes.iter().filter(|(_, v)| v["external"] != true).map(|(k, _)| plan::volume_name(pr, k)).collect(),
            None => api.json("GET", "/volumes", &[("filters", label)], None)?["Volumes"].as_array().into_iter().flatten().filter_map(|v| v["Name"].as_str().map(str::to_string)).collect(),
        };
        for v in volumes {
            match api.call("DELETE", &format!("/volumes/{}", seg(&v)), &[], None, &[]) {
                Ok(_) => {
                    event("Volume", &v, "Removing");
                    event("Volume", &v, "Removed");
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(0)
}

/// The images `down --rmi` removes, as compose v2 picks them: with `all` the images the
/// services name; in both modes the images built for the project (labelled with it by our
/// build as by compose's; for a known service unless `--remove-orphans`), and the
/// `project-service` images of services without `image` (built by a compose that did not
/// label them). Familiar names with their tag, each once, sorted.
fn images_to_remove(api: &Api, project: Option<&Project>, name: &str, all: bool, orphans_too: bool) -> Result<Vec<String>, Failure> {
    let exists = |image: &str| -> Result<bool, Failure> { Ok(plan::image_id(api, image)?.is_some()) };
    let mut images = Vec::new();
    let services: Vec<(&String, &Value)> = project.map(|p| p.services.iter().collect()).unwrap_or_default();
    if all {
        for (_, svc) in &services {
            if let Some(image) = svc["image"].as_str() {
                if exists(image)? {
                    images.push(image.to_string());
                }
            }
        }
    }
    let filters = json!({"label": [format!("{}={name}", plan::PROJECT)], "dangling": ["false"]}).to_string();
    for image in api.json("GET", "/images/json", &[("filters", filters)], None)?.as_array().into_iter().flatten() {
        let Some(tag) = image["RepoTags"][0].as_str() else { continue };
        let service = image["Labels"][plan::SERVICE].as_str().unwrap_or("");
        if orphans_too || project.is_none_or(|p| p.services.contains_key(service)) {
            images.push(tag.to_string());
        }
    }
    if let Some(p) = project {
        for (service, svc) in &services {
            if svc.get("image").is_none() {
                let image = plan::image_name(p, service);
                if exists(&image)? {
                    images.push(image);
                }
            }
        }
    }
    let mut out: Vec<String> = images.into_iter().map(|i| crate::reference::Reference::parse_normalized(&i).map(|r| r.with_default_tag().familiar_string()).unwrap_or(i)).collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// The project's service containers, narrowed to the services named.
fn service_containers(api: &Api, g: &Globals, names: &[String], all: bool) -> Result<Vec<Existing>, Failure> {
    let (project, name) = project_or_name(g)?;
    if let Some(pr) = &project {
        selected(pr, names)?;
    }
    Ok(plan::containers(api, &name, all)?.into_iter().filter(|c| names.is_empty() || names.contains(&c.service)).collect())
}

pub fn ps_cmd(ctx: &Ctx, g: &Globals, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let list: Vec<Existing> = service_containers(api, g, &p.args, p.bool("all"))?.into_iter().filter(|c| p.bool("all") || !c.oneoff).collect();
    if p.bool("services") {
        let services: BTreeSet<&str> = list.iter().map(|c| c.service.as_str()).collect();
        out(&services.iter().map(|s| format!("{s}\n")).collect::<String>());
        return Ok(0);
    }
    if p.bool("quiet") {
        out(&list.iter().map(|c| format!("{}\n", c.id)).collect::<String>());
        return Ok(0);
    }
    let mut rows = vec![["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"].iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    for c in &list {
        let ctx = crate::client::ps::context(&c.summary, true);
        let s = |k: &str| ctx[k].as_str().unwrap_or("").to_string();
        rows.push(vec![c.name.clone(), c.summary["Image"].as_str().unwrap_or("").to_string(), s("Command"), c.service.clone(), s("RunningFor"), s("Status"), s("Ports")]);
    }
    out(&crate::client::human::table(&rows));
    Ok(0)
}

/// Compose's prefix colours, in the order it hands them to containers.
const COLOURS: &[&str] = &["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

pub fn logs_cmd(ctx: &Ctx, g: &Globals, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let list: Vec<Existing> = service_containers(api, g, &p.args, true)?.into_iter().filter(|c| !c.oneoff).collect();
    let how = LogOptions { follow: p.bool("follow"), timestamps: p.bool("timestamps"), tail: p.value("tail").unwrap_or("all").to_string(), prefix: !p.bool("no-log-prefix"), colour: !p.bool("no-color"), exits: false };
    stream_logs(api, list, &how)?;
    Ok(0)
}

struct LogOptions {
    follow: bool,
    timestamps: bool,
    tail: String,
    prefix: bool,
    colour: bool,
    /// Say `NAME exited with code N` when a followed container's output ends (attached up).
    exits: bool,
}

/// The containers' logs, one thread each, every line after the container's prefix.
fn stream_logs(api: &Api, list: Vec<Existing>, how: &LogOptions) -> Result<(), Failure> {
    // Compose's layout: names padded to the longest plus one, then `| `.
    let width = list.iter().map(|c| c.name.len()).max().unwrap_or(0) + 1;
    let colour = how.colour && crate::client::is_terminal(1);
    let b = |v: bool| if v { "1" } else { "0" }.to_string();
    let query = vec![("stdout", "1".to_string()), ("stderr", "1".to_string()), ("follow", b(how.follow)), ("timestamps", b(how.timestamps)), ("tail", how.tail.clone())];
    let lock = std::sync::Arc::new(std::sync::Mutex::new(()));
    let mut threads = Vec::new();
    for (i, c) in list.into_iter().enumerate() {
        let prefix = if !how.prefix {
            String::new()
        } else if colour {
            format!("\x1b[{}m{:<width$} | \x1b[0m", COLOURS[i % COLOURS.len()], c.name)
        } else {
            format!("{:<width$} | ", c.name)
        };
        let api = Api { endpoint: api.endpoint.clone(), version: api.version.clone(), server_version: api.server_version.clone() };
        let query = query.clone();
        let lock = lock.clone();
        let exits = how.exits;
        threads.push(std::thread::spawn(move || -> Result<(), ApiError> {
            let tty = api.json("GET", &format!("/containers/{}/json", seg(&c.id)), &[], None)?["Config"]["Tty"] == true;
            let resp = api.call("GET", &format!("/containers/{}/logs", seg(&c.id)), &query, None, &[])?;
            let mut body = resp.into_body();
            let mut sink = LinePrefixer { prefix, pending: Vec::new(), lock, stderr: false };
            let r = if tty {
                std::io::copy(&mut body as &mut dyn std::io::Read, &mut sink).map(drop)
            } else {
                let mut err_sink = LinePrefixer { prefix: sink.prefix.clone(), pending: Vec::new(), lock: sink.lock.clone(), stderr: true };
                let r = crate::stdcopy::demux(&mut body, &mut sink, &mut err_sink);
                err_sink.finish();
                r
            };
            sink.finish();
            if exits {
                let v = api.json("POST", &format!("/containers/{}/wait", seg(&c.id)), &[("condition", "not-running".to_string())], None)?;
                let _guard = sink.lock.lock();
                out(&format!("{} exited with code {}\n", c.name, v["StatusCode"].as_i64().unwrap_or(0)));
            }
            r.map_err(|e| ApiError::Io(e.to_string()))
        }));
    }
    for t in threads {
        if let Ok(Err(e)) = t.join() {
            return Err(e.into());
        }
    }
    Ok(())
}

/// Attached `up`: the services' output until every container has exited; SIGINT or SIGTERM
/// stops them (compose's "Gracefully stopping...") and ends with 130.
fn attach_and_wait(api: &Api, project: &Project, services: &[String]) -> Result<i32, Failure> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    // Blocked before any thread starts, so every thread inherits it and the waiter below
    // is the one that takes the signal.
    let _ = set.thread_block();
    let list: Vec<Existing> = plan::containers(api, &project.name, true)?.into_iter().filter(|c| services.contains(&c.service) && !c.oneoff).collect();
    let stopper = Api { endpoint: api.endpoint.clone(), version: api.version.clone(), server_version: api.server_version.clone() };
    let to_stop = list.clone();
    std::thread::spawn(move || {
        if set.wait().is_ok() {
            eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
            for c in to_stop.iter().rev() {
                let _ = stop_container(&stopper, c, None);
            }
            std::process::exit(130);
        }
    });
    let how = LogOptions { follow: true, timestamps: false, tail: "all".into(), prefix: true, colour: true, exits: true };
    stream_logs(api, list, &how)?;
    Ok(0)
}

/// Writes whole lines to stdout (or stderr, for the container's stderr, as compose does),
/// each after the container's prefix.
struct LinePrefixer {
    prefix: String,
    pending: Vec<u8>,
    lock: std::sync::Arc<std::sync::Mutex<()>>,
    stderr: bool,
}

impl LinePrefixer {
    fn emit(&mut self, line: &[u8]) {
        let _guard = self.lock.lock();
        let mut text = self.prefix.clone().into_bytes();
        text.extend_from_slice(line);
        let _ = if self.stderr { std::io::Write::write_all(&mut std::io::stderr().lock(), &text) } else { std::io::Write::write_all(&mut std::io::stdout().lock(), &text) };
    }
    fn finish(&mut self) {
        if !self.pending.is_empty() {
            let mut line = std::mem::take(&mut self.pending);
            line.push(b'\n');
            self.emit(&line);
        }
    }
}

impl std::io::Write for LinePrefixer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(at) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=at).collect();
            self.emit(&line);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn start_cmd(ctx: &Ctx, g: &Globals, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let (project, _) = project_or_name(g)?;
    let mut list: Vec<Existing> = service_containers(api, g, &p.args, true)?.into_iter().filter(|c| !c.oneoff).collect();
    if let Some(pr) = &project {
        let order = model::start_order(&pr.services).map_err(fail)?;
        list.sort_by_key(|c| (order.iter().position(|o| *o == c.service), c.number));
    }
    if list.is_empty() {
        return Err(fail("no container found for the project"));
    }
    for c in list.iter().filter(|c| c.state != "running") {
        start(api, &c.id, &c.name)?;
    }
    Ok(0)
}

pub fn stop_cmd(ctx: &Ctx, g: &Globals, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    for c in service_containers(api, g, &p.args, false)?.iter().rev() {
        stop_container(api, c, p.value("timeout"))?;
    }
    Ok(0)
}

pub fn restart_cmd(ctx: &Ctx, g: &Globals, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let q: Vec<(&str, String)> = p.value("timeout").map(|t| vec![("t", t.to_string())]).unwrap_or_default();
    for c in service_containers(api, g, &p.args, true)?.iter().filter(|c| !c.oneoff) {
        event("Container", &c.name, "Restarting");
        api.call("POST", &format!("/containers/{}/restart", seg(&c.id)), &q, None, &[])?;
        event("Container", &c.name, "Started");
    }
    Ok(0)
}
