//! Desired against actual state: the labels compose v2 puts on what it creates, the
//! service's config hash, the create request of a service's container (worded as the
//! `docker run` flags the client already turns into requests), and the project's
//! containers as the daemon lists them.

use super::model::Project;
use crate::client::api::{seg, Api, ApiError};
use serde_json::{json, Map, Value};

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const NUMBER: &str = "com.docker.compose.container-number";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const ENV_FILE: &str = "com.docker.compose.project.environment_file";
pub const VERSION: &str = "com.docker.compose.version";
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
pub const SLUG: &str = "com.docker.compose.slug";
pub const IMAGE: &str = "com.docker.compose.image";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";

/// The compose version written in `com.docker.compose.version`: the compose v2 release whose
/// labels and config hash (`hash`) ours match, so that compose v2 takes what we made for its
/// own (it reads the label to tell which compose made a container).
pub const COMPOSE_VERSION: &str = "2.40.3";

pub use super::hash::config_hash;

/// The image a service runs: `image`, or for a service with only `build`,
/// `project-service` as compose v2 names it.
pub fn image_name(project: &Project, service: &str) -> String {
    match project.services.get(service).and_then(|s| s["image"].as_str()) {
        Some(i) => i.to_string(),
        None => format!("{}-{service}", project.name),
    }
}

/// The container name of replica `n`: `container_name`, or `project-service-n`.
pub fn container_name(project: &Project, service: &str, n: u32) -> String {
    match project.services.get(service).and_then(|s| s["container_name"].as_str()) {
        Some(name) => name.to_string(),
        None => format!("{}-{service}-{n}", project.name),
    }
}

/// Labels shared by networks and volumes of the project.
pub fn object_labels(project: &Project, kind: &str, key: &str, own: &Value) -> Value {
    let mut l: Map<String, Value> = own["labels"].as_object().cloned().unwrap_or_default();
    l.insert(PROJECT.into(), json!(project.name));
    l.insert(kind.into(), json!(key));
    l.insert(VERSION.into(), json!(COMPOSE_VERSION));
    Value::Object(l)
}

/// The Docker name of the network key `key`.
pub fn network_name(project: &Project, key: &str) -> String {
    project.networks.get(key).and_then(|n| n["name"].as_str()).map(str::to_string).unwrap_or_else(|| format!("{}_{key}", project.name))
}

/// Docker's name of the volume key `key`.
pub fn volume_name(project: &Project, key: &str) -> String {
    project.volumes.get(key).and_then(|n| n["name"].as_str()).map(str::to_string).unwrap_or_else(|| format!("{}_{key}", project.name))
}

/// The service's networks in the order compose connects them: highest priority first,
/// then by name.
pub fn service_networks(svc: &Value) -> Vec<(String, Value)> {
    let mut nets: Vec<(String, Value)> = svc["networks"].as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    nets.sort_by_key(|(k, v)| (-v["priority"].as_i64().unwrap_or(0), k.clone()));
    nets
}

fn nanos(d: &Value) -> i64 {
    d.as_str().and_then(crate::timestamp::parse_go_duration).unwrap_or(0) as i64
}

/// The create request of replica `n` of `service`, and the networks to connect after
/// create (Docker name, endpoint config).
pub fn create_request(project: &Project, service: &str, n: u32, image_id: Option<&str>) -> Result<(Value, Vec<(String, Value)>), String> {
    let svc = &project.services[service];
    let name = container_name(project, service, n);
    let mut a: Vec<String> = Vec::new();
    // `--flag=value`: one spelling for bools and values alike.
    let mut flag = |f: &str, v: String| a.push(format!("--{f}={v}"));
    let s = |k: &str| svc[k].as_str().map(str::to_string);
    let list = |k: &str| svc[k].as_array().cloned().unwrap_or_default().into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect::<Vec<_>>();
    flag("name", name.clone());
    for (k, v) in svc["environment"].as_object().into_iter().flatten() {
        if let Some(v) = v.as_str() {
            flag("env", format!("{k}={v}"));
        }
    }
    let mut labels: Map<String, Value> = svc["labels"].as_object().cloned().unwrap_or_default();
    let depends: Vec<String> = svc["depends_on"].as_object().into_iter().flatten().map(|(d, c)| format!("{d}:{}:{}", c["condition"].as_str().unwrap_or("service_started"), c["restart"] == true)).collect();
    for (k, v) in [
        (PROJECT, project.name.clone()),
        (SERVICE, service.to_string()),
        (NUMBER, n.to_string()),
        (ONEOFF, "False".into()),
        (CONFIG_HASH, config_hash(svc)),
        (WORKING_DIR, project.working_dir.display().to_string()),
        (CONFIG_FILES, project.config_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(",")),
        (VERSION, COMPOSE_VERSION.into()),
        (DEPENDS_ON, depends.join(",")),
    ] {
        labels.insert(k.into(), json!(v));
    }
    if !project.env_files.is_empty() {
        labels.insert(ENV_FILE.into(), json!(project.env_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(",")));
    }
    if let Some(id) = image_id {
        labels.insert(IMAGE.into(), json!(id));
    }
    for p in svc["ports"].as_array().into_iter().flatten() {
        let target = p["target"].as_i64().unwrap_or(0);
        let proto = p["protocol"].as_str().unwrap_or("tcp");
        let ip = p["host_ip"].as_str().map(|ip| if ip.contains(':') { format!("[{ip}]:") } else { format!("{ip}:") }).unwrap_or_default();
        let published = p["published"].as_str().unwrap_or("");
        let spec = if ip.is_empty() && published.is_empty() { format!("{target}/{proto}") } else { format!("{ip}{published}:{target}/{proto}") };
        flag("publish", spec);
    }
    for e in list("expose") {
        flag("expose", e);
    }
    for v in svc["volumes"].as_array().into_iter().flatten() {
        let target = v["target"].as_str().unwrap_or("");
        let ro = if v["read_only"] == true { ":ro" } else { "" };
        match v["type"].as_str() {
            Some("bind") if v["bind"]["create_host_path"] == true => {
                let prop = v["bind"]["propagation"].as_str().map(|p| if ro.is_empty() { format!(":{p}") } else { format!(",{p}") }).unwrap_or_default();
                flag("volume", format!("{}:{target}{ro}{prop}", v["source"].as_str().unwrap_or("")));
            }
            Some("bind") => {
                let mut m = format!("type=bind,source={},target={target}", v["source"].as_str().unwrap_or(""));
                if v["read_only"] == true {
                    m.push_str(",readonly");
                }
                if let Some(p) = v["bind"]["propagation"].as_str() {
                    m.push_str(&format!(",bind-propagation={p}"));
                }
                flag("mount", m);
            }
            Some("volume") => match v["source"].as_str().filter(|s| !s.is_empty()) {
                Some(src) => {
                    let nocopy = if v["volume"]["nocopy"] == true { if ro.is_empty() { ":nocopy" } else { ",nocopy" } } else { "" };
                    flag("volume", format!("{}:{target}{ro}{nocopy}", volume_name(project, src)));
                }
                None => flag("volume", target.to_string()),
            },
            Some("tmpfs") => {
                let size = v["tmpfs"]["size"].as_i64().map(|s| format!(",tmpfs-size={s}")).unwrap_or_default();
                flag("mount", format!("type=tmpfs,target={target}{size}"));
            }
            other => return Err(format!("volume type {other:?} is not supported")),
        }
    }
    for t in list("tmpfs") {
        flag("tmpfs", t);
    }
    for (key, f) in [("user", "user"), ("working_dir", "workdir"), ("hostname", "hostname"), ("stop_signal", "stop-signal"), ("restart", "restart")] {
        if let Some(v) = s(key) {
            flag(f, v);
        }
    }
    for (key, f) in [("devices", "device"), ("cap_add", "cap-add"), ("cap_drop", "cap-drop"), ("dns", "dns"), ("extra_hosts", "add-host")] {
        for v in list(key) {
            flag(f, v);
        }
    }
    for (key, f) in [("privileged", "privileged"), ("read_only", "read-only"), ("init", "init"), ("tty", "tty"), ("stdin_open", "interactive")] {
        if svc[key] == true {
            flag(f, "true".into());
        }
    }
    if let Some(d) = svc.get("stop_grace_period") {
        flag("stop-timeout", (nanos(d) / 1_000_000_000).to_string());
    }
    for (k, v) in svc["ulimits"].as_object().into_iter().flatten() {
        let spec = if let Some(n) = v.as_i64() { format!("{k}={n}:{n}") } else { format!("{k}={}:{}", v["soft"], v["hard"]) };
        flag("ulimit", spec);
    }
    for (k, v) in svc["sysctls"].as_object().into_iter().flatten() {
        flag("sysctl", format!("{k}={}", v.as_str().unwrap_or("")));
    }
    if let Some(d) = svc["logging"]["driver"].as_str() {
        flag("log-driver", d.to_string());
    }
    for (k, v) in svc["logging"]["options"].as_object().into_iter().flatten() {
        flag("log-opt", format!("{k}={}", v.as_str().unwrap_or("")));
    }
    let limits = &svc["deploy"]["resources"]["limits"];
    if let Some(m) = svc["mem_limit"].as_i64().or(limits["memory"].as_i64()) {
        flag("memory", m.to_string());
    }
    if let Some(c) = svc["cpus"].as_f64().or(limits["cpus"].as_f64()) {
        flag("cpus", c.to_string());
    }
    if let Some(p) = svc["pids_limit"].as_i64().or(limits["pids"].as_i64()) {
        flag("pids-limit", p.to_string());
    }
    let nets = service_networks(svc);
    let endpoint = |key: &str, cfg: &Value| {
        let mut aliases = vec![json!(service)];
        aliases.extend(cfg["aliases"].as_array().cloned().unwrap_or_default());
        let mut e = json!({"Aliases": aliases});
        if let Some(ip) = cfg["ipv4_address"].as_str() {
            e["IPAMConfig"]["IPv4Address"] = json!(ip);
        }
        if let Some(ip) = cfg["ipv6_address"].as_str() {
            e["IPAMConfig"]["IPv6Address"] = json!(ip);
        }
        (network_name(project, key), e)
    };
    let mut endpoints: Vec<(String, Value)> = nets.iter().map(|(k, c)| endpoint(k, c)).collect();
    if let Some((net, _)) = endpoints.first() {
        flag("network", net.clone());
    }
    a.push(image_name(project, service));
    if let Some(cmd) = svc["command"].as_array() {
        a.extend(cmd.iter().map(|c| c.as_str().unwrap_or("").to_string()));
    }
    let mut body = crate::client::containers::run_request(&a).map_err(|e| format!("service {service:?}: {e}"))?;
    body["Labels"] = Value::Object(labels);
    if let Some(ep) = svc["entrypoint"].as_array() {
        body["Entrypoint"] = json!(ep);
    }
    if let Some(cmd) = svc["command"].as_array() {
        body["Cmd"] = json!(cmd);
    }
    let hc = &svc["healthcheck"];
    if hc.is_object() {
        let test = if hc["disable"] == true { json!(["NONE"]) } else { hc["test"].clone() };
        let mut h = json!({"Test": test});
        for (k, f) in [("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod"), ("start_interval", "StartInterval")] {
            if let Some(d) = hc.get(k) {
                h[f] = json!(nanos(d));
            }
        }
        if let Some(r) = hc["retries"].as_i64() {
            h["Retries"] = json!(r);
        }
        body["Healthcheck"] = h;
    }
    let rest = if endpoints.is_empty() { Vec::new() } else { endpoints.split_off(1) };
    if let Some((net, e)) = endpoints.pop() {
        body["NetworkingConfig"] = json!({"EndpointsConfig": {net: e}});
    }
    Ok((body, rest))
}

/// A container of the project as the daemon lists it.
#[derive(Debug, Clone)]
pub struct Existing {
    pub id: String,
    pub name: String,
    pub service: String,
    pub number: u32,
    pub hash: String,
    pub state: String,
    pub oneoff: bool,
    pub summary: Value,
}

/// The project's containers (all states), one-off ones included, by service and number.
pub fn containers(api: &Api, project: &str, all: bool) -> Result<Vec<Existing>, ApiError> {
    let filters = json!({"label": [format!("{PROJECT}={project}")]}).to_string();
    let list = api.json("GET", "/containers/json", &[("all", if all { "1" } else { "0" }.to_string()), ("filters", filters)], None)?;
    let mut out: Vec<Existing> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let l = &c["Labels"];
            Existing {
                id: c["Id"].as_str().unwrap_or("").to_string(),
                name: c["Names"][0].as_str().unwrap_or("").trim_start_matches('/').to_string(),
                service: l[SERVICE].as_str().unwrap_or("").to_string(),
                number: l[NUMBER].as_str().and_then(|n| n.parse().ok()).unwrap_or(0),
                hash: l[CONFIG_HASH].as_str().unwrap_or("").to_string(),
                state: c["State"].as_str().unwrap_or("").to_string(),
                oneoff: l[ONEOFF].as_str().is_some_and(|o| o.eq_ignore_ascii_case("true")),
                summary: c.clone(),
            }
        })
        .collect();
    out.sort_by(|a, b| (a.service.as_str(), a.number, a.name.as_str()).cmp(&(b.service.as_str(), b.number, b.name.as_str())));
    Ok(out)
}

/// The image's id, for the `com.docker.compose.image` label; None when absent.
pub fn image_id(api: &Api, image: &str) -> Result<Option<String>, ApiError> {
    match api.json("GET", &format!("/images/{}/json", seg(image)), &[], None) {
        Ok(v) => Ok(v["Id"].as_str().map(str::to_string)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn project(text: &str) -> Project {
        let file = super::super::model::parse_file(text, "f", &Default::default(), std::path::Path::new("/p"), &mut |_| {}).unwrap();
        let take = |k: &str| file[k].as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<BTreeMap<_, _>>()).unwrap_or_default();
        let mut services = take("services");
        for s in services.values_mut() {
            if s.get("networks").is_none() {
                s["networks"] = json!({"default": null});
            }
        }
        Project { name: "demo".into(), working_dir: PathBuf::from("/p"), config_files: vec![PathBuf::from("/p/compose.yaml")], env_files: vec![], services, disabled: BTreeMap::new(), networks: take("networks"), volumes: take("volumes") }
    }

    #[test]
    fn create_request_carries_compose_labels_and_settings() {
        let p = project(
            "services:\n  web:\n    image: busybox\n    command: [httpd, -f]\n    entrypoint: [/bin/sh, -c]\n    environment: {A: '1'}\n    ports: ['127.0.0.1:8080:80']\n    volumes: [data:/data, /tmp:/host:ro]\n    restart: always\n    healthcheck: {test: [CMD, 'true'], interval: 2s, retries: 5}\n    init: true\n    mem_limit: 64m\n    networks:\n      back: {aliases: [w]}\n    depends_on: {db: {condition: service_healthy}}\n  db: {image: busybox}\nnetworks:\n  back: {}\nvolumes:\n  data: {}\n",
        );
        let (b, more) = create_request(&p, "web", 1, Some("sha256:abc")).unwrap();
        assert!(more.is_empty());
        let l = &b["Labels"];
        assert_eq!(l[PROJECT], "demo");
        assert_eq!(l[SERVICE], "web");
        assert_eq!(l[NUMBER], "1");
        assert_eq!(l[ONEOFF], "False");
        assert_eq!(l[CONFIG_HASH].as_str().unwrap().len(), 64);
        assert_eq!(l[WORKING_DIR], "/p");
        assert_eq!(l[CONFIG_FILES], "/p/compose.yaml");
        assert_eq!(l[DEPENDS_ON], "db:service_healthy:false");
        assert_eq!(l[IMAGE], "sha256:abc");
        assert_eq!(b["Image"], "busybox");
        assert_eq!(b["Cmd"], json!(["httpd", "-f"]));
        assert_eq!(b["Entrypoint"], json!(["/bin/sh", "-c"]));
        assert_eq!(b["Env"], json!(["A=1"]));
        assert_eq!(b["HostConfig"]["Binds"], json!(["demo_data:/data", "/tmp:/host:ro"]));
        assert_eq!(b["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"], "8080");
        assert_eq!(b["HostConfig"]["RestartPolicy"]["Name"], "always");
        assert_eq!(b["HostConfig"]["Init"], true);
        assert_eq!(b["HostConfig"]["Memory"], 64 << 20);
        assert_eq!(b["HostConfig"]["NetworkMode"], "demo_back");
        assert_eq!(b["NetworkingConfig"]["EndpointsConfig"]["demo_back"]["Aliases"], json!(["web", "w"]));
        assert_eq!(b["Healthcheck"], json!({"Test": ["CMD", "true"], "Interval": 2_000_000_000i64, "Retries": 5}));
    }

    #[test]
    fn hash_ignores_what_does_not_change_a_container() {
        let a = json!({"image": "x", "depends_on": {"b": {}}, "profiles": ["p"], "deploy": {"replicas": 3}});
        let b = json!({"image": "x", "deploy": {}});
        assert_eq!(config_hash(&a), config_hash(&b));
        assert_ne!(config_hash(&a), config_hash(&json!({"image": "y", "deploy": {}})));
    }
}
