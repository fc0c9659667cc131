//! The compose file model: finding and reading the files, interpolation, merging several
//! `-f` files in order, the project name, and each service brought to one canonical form
//! (the form `docker compose config` prints and the planner reads). Every key is either
//! implemented or refused by name.

use super::interpolate::{self, Vars};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use yaml_rust2::{Yaml, YamlLoader};

/// What the command line and the environment say about where the project is.
#[derive(Default, Debug, Clone)]
pub struct Options {
    pub files: Vec<String>,
    pub project_name: Option<String>,
    pub project_directory: Option<String>,
    pub env_files: Vec<String>,
    pub profiles: Vec<String>,
}

/// A loaded project: canonical services, networks and volumes keyed by their names in
/// the file.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub working_dir: PathBuf,
    pub config_files: Vec<PathBuf>,
    pub env_files: Vec<PathBuf>,
    /// Services enabled by the active profiles.
    pub services: BTreeMap<String, Value>,
    /// Services a profile not asked for leaves out.
    pub disabled: BTreeMap<String, Value>,
    pub networks: BTreeMap<String, Value>,
    pub volumes: BTreeMap<String, Value>,
}

/// Names compose looks for, in its order.
const DEFAULT_FILES: &[&str] = &["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"];
const OVERRIDE_FILES: &[&str] = &["compose.override.yaml", "compose.override.yml", "docker-compose.override.yml", "docker-compose.override.yaml"];

/// Top-level keys of the Compose Specification that dockbox does not implement yet.
const UNSUPPORTED_TOP: &[&str] = &["configs", "secrets", "include", "models"];

/// Service keys of the specification not implemented yet: refused by name.
const UNSUPPORTED_SERVICE: &[&str] = &[
    "annotations", "attach", "blkio_config", "cgroup", "cgroup_parent", "configs", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota", "cpu_rt_period",
    "cpu_rt_runtime", "cpu_shares", "cpuset", "credential_spec", "develop", "device_cgroup_rules", "dns_opt", "dns_search", "domainname", "external_links",
    "extends", "gpus", "group_add", "ipc", "isolation", "label_file", "links", "mac_address", "mem_reservation", "mem_swappiness", "memswap_limit",
    "network_mode", "oom_kill_disable", "oom_score_adj", "pid", "platform", "post_start", "pre_stop", "provider", "pull_policy", "runtime", "scale",
    "secrets", "security_opt", "shm_size", "storage_opt", "use_api_socket", "userns_mode", "uts", "volumes_from", "models",
];

/// Loads the project the options describe. `warn` receives compose's warnings.
pub fn load(opts: &Options, warn: &mut dyn FnMut(String)) -> Result<Project, String> {
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    let os: Vars = std::env::vars().collect();
    let given_dir = opts.project_directory.as_ref().map(|d| absolute(&cwd, d));
    let first_dir = opts.files.first().filter(|f| *f != "-").map(|f| absolute(&cwd, f).parent().map(Path::to_path_buf).unwrap_or_default());
    let mut working_dir = given_dir.clone().or(first_dir).unwrap_or_else(|| cwd.clone());

    // `.env` of the project directory (or --env-file), under the process environment.
    let env_files: Vec<PathBuf> = if opts.env_files.is_empty() { vec![working_dir.join(".env")] } else { opts.env_files.iter().map(|f| absolute(&cwd, f)).collect() };
    let mut vars = Vars::new();
    for f in &env_files {
        match std::fs::read_to_string(f) {
            Ok(text) => {
                let mut base = vars.clone();
                base.extend(os.clone());
                vars.extend(interpolate::parse_dotenv(&text, &base).map_err(|e| format!("failed to read {}: {e}", f.display()))?);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && opts.env_files.is_empty() => {}
            Err(e) => return Err(format!("couldn't find env file {}: {e}", f.display())),
        }
    }
    vars.extend(os);

    let mut files: Vec<String> = opts.files.clone();
    if files.is_empty() {
        if let Some(list) = vars.get("COMPOSE_FILE").filter(|s| !s.is_empty()) {
            let sep = vars.get("COMPOSE_PATH_SEPARATOR").cloned().unwrap_or_else(|| ":".into());
            files = list.split(sep.as_str()).map(str::to_string).collect();
        } else {
            let (dir, found) = find_default_files(given_dir.as_deref().unwrap_or(&cwd))?;
            if given_dir.is_none() {
                working_dir = dir;
            }
            files = found.iter().map(|p| p.display().to_string()).collect();
        }
    }
    let config_files: Vec<PathBuf> = files.iter().map(|f| if f == "-" { working_dir.join("-") } else { absolute(&cwd, f) }).collect();

    let mut merged = Value::Object(Map::new());
    for (f, path) in files.iter().zip(&config_files) {
        let text = if f == "-" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| e.to_string())?;
            s
        } else {
            std::fs::read_to_string(path).map_err(|e| format!("open {}: {}", path.display(), os_error(&e)))?
        };
        let file = parse_file(&text, &path.display().to_string(), &vars, &working_dir, warn)?;
        merge(&mut merged, file, "");
    }

    let name = project_name(opts, &vars, &merged, &working_dir)?;
    let mut networks = take_map(&merged, "networks");
    let volumes = take_map(&merged, "volumes");
    let mut all = take_map(&merged, "services");
    if all.is_empty() && merged.get("services").is_none() {
        return Err("no service selected".into());
    }
    for (svc_name, svc) in all.iter_mut() {
        finish_service(svc_name, svc, &vars, &working_dir, &networks, &volumes)?;
    }
    if all.values().any(|s| s["networks"].get("default").is_some()) && !networks.contains_key("default") {
        networks.insert("default".into(), json!({}));
    }
    for (key, net) in networks.iter_mut() {
        name_object(net, &name, key);
    }
    let mut volumes = volumes;
    for (key, vol) in volumes.iter_mut() {
        name_object(vol, &name, key);
    }
    let profiles: Vec<String> = if opts.profiles.is_empty() {
        vars.get("COMPOSE_PROFILES").map(|p| p.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect()).unwrap_or_default()
    } else {
        opts.profiles.clone()
    };
    let (services, disabled): (BTreeMap<_, _>, BTreeMap<_, _>) = all.into_iter().partition(|(_, s)| {
        let p = s["profiles"].as_array();
        p.is_none_or(|p| p.is_empty()) || profiles.iter().any(|want| want == "*" || p.is_some_and(|p| p.iter().any(|x| x == want.as_str())))
    });
    for (svc_name, svc) in &services {
        for dep in svc["depends_on"].as_object().into_iter().flat_map(|m| m.iter()) {
            if disabled.contains_key(dep.0) && dep.1["required"] != false {
                return Err(format!("service {svc_name:?} depends on undefined service {:?}: invalid compose project", dep.0));
            }
        }
    }
    Ok(Project { name, working_dir, config_files, env_files: if opts.env_files.is_empty() { Vec::new() } else { env_files }, services, disabled, networks, volumes })
}

/// An OS error worded as Go words it (`no such file or directory`).
pub fn os_error(e: &std::io::Error) -> String {
    let s = e.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s).to_string();
    let mut c = s.chars();
    c.next().map(|f| f.to_lowercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

fn absolute(cwd: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    let joined = if p.is_absolute() { p.to_path_buf() } else { cwd.join(p) };
    clean(&joined)
}

/// Lexical cleanup of `.` and `..` components, as Go's filepath.Clean.
fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The first default file in `dir` or the nearest parent holding one, with its override.
fn find_default_files(dir: &Path) -> Result<(PathBuf, Vec<PathBuf>), String> {
    let mut at = Some(dir);
    while let Some(d) = at {
        if let Some(f) = DEFAULT_FILES.iter().map(|n| d.join(n)).find(|p| p.is_file()) {
            let mut found = vec![f];
            found.extend(OVERRIDE_FILES.iter().map(|n| d.join(n)).find(|p| p.is_file()));
            return Ok((d.to_path_buf(), found));
        }
        at = d.parent();
    }
    Err("no configuration file provided: not found".into())
}

/// Compose's project name: `-p`, then COMPOSE_PROJECT_NAME, then the file's `name:`, then
/// the directory's base name normalized (lower case, only `[a-z0-9_-]`, starting with a
/// letter or digit).
fn project_name(opts: &Options, vars: &Vars, file: &Value, dir: &Path) -> Result<String, String> {
    let explicit = opts.project_name.clone().or_else(|| vars.get("COMPOSE_PROJECT_NAME").filter(|s| !s.is_empty()).cloned()).or_else(|| file["name"].as_str().map(str::to_string));
    if let Some(n) = explicit {
        if !valid_project_name(&n) {
            return Err(format!("invalid project name {n:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"));
        }
        return Ok(n);
    }
    let base = dir.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let n = normalize_project_name(&base);
    if n.is_empty() {
        return Err(format!("project name must not be empty: directory {:?} gives none; use -p", dir.display().to_string()));
    }
    Ok(n)
}

pub fn normalize_project_name(s: &str) -> String {
    let kept: String = s.to_lowercase().chars().filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-').collect();
    kept.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()).to_string()
}

pub fn valid_project_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn take_map(v: &Value, key: &str) -> BTreeMap<String, Value> {
    v[key].as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
}

/// Docker's name of a network or volume: `name:`, else the key for external ones, else
/// `project_key`.
fn name_object(obj: &mut Value, project: &str, key: &str) {
    if obj["name"].as_str().is_none() {
        let name = if obj["external"] == true { key.to_string() } else { format!("{project}_{key}") };
        obj["name"] = json!(name);
    }
}

/// One file: YAML to JSON values with interpolation, then each section made canonical.
pub fn parse_file(text: &str, file: &str, vars: &Vars, dir: &Path, warn: &mut dyn FnMut(String)) -> Result<Value, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("yaml: {file}: {e}"))?;
    let Some(doc) = docs.into_iter().next() else {
        return Err(format!("empty compose file: {file}"));
    };
    let mut warned = std::collections::BTreeSet::new();
    let mut on_unset = |n: &str| {
        if warned.insert(n.to_string()) {
            warn(format!("The \"{n}\" variable is not set. Defaulting to a blank string."));
        }
    };
    let raw = to_value(&doc, "", vars, &mut on_unset)?;
    let Some(top) = raw.as_object() else {
        return Err(format!("{file}: top-level object must be a mapping"));
    };
    let mut out = Map::new();
    for (k, v) in top {
        match k.as_str() {
            "version" => warn(format!("{file}: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion")),
            "name" => {
                out.insert(k.clone(), json!(string(v, "name")?));
            }
            "services" => {
                let mut services = Map::new();
                for (name, svc) in object(v, "services")? {
                    services.insert(name.clone(), service(name, svc, vars, dir)?);
                }
                out.insert(k.clone(), Value::Object(services));
            }
            "networks" => {
                let mut m = Map::new();
                for (name, n) in object(v, "networks")? {
                    m.insert(name.clone(), network(name, n)?);
                }
                out.insert(k.clone(), Value::Object(m));
            }
            "volumes" => {
                let mut m = Map::new();
                for (name, n) in object(v, "volumes")? {
                    m.insert(name.clone(), volume(name, n)?);
                }
                out.insert(k.clone(), Value::Object(m));
            }
            x if x.starts_with("x-") => {}
            x if UNSUPPORTED_TOP.contains(&x) => return Err(format!("{x}: top-level `{x}` is not supported by dockbox compose")),
            x => return Err(format!("validating {file}: (root) additional properties '{x}' not allowed")),
        }
    }
    Ok(Value::Object(out))
}

/// YAML to JSON: string scalars interpolated (keys are not), `<<` merge keys applied.
fn to_value(y: &Yaml, path: &str, vars: &Vars, unset: &mut dyn FnMut(&str)) -> Result<Value, String> {
    Ok(match y {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => json!(b),
        Yaml::Integer(i) => json!(i),
        Yaml::Real(s) => s.parse::<f64>().ok().and_then(|f| serde_json::Number::from_f64(f).map(Value::Number)).unwrap_or_else(|| json!(s)),
        Yaml::String(s) => json!(interpolate::interpolate(s, vars, unset).map_err(|e| match e {
            interpolate::Error::Syntax => format!("invalid interpolation format for {path}.\nYou may need to escape any $ with another $.\n{s}"),
            interpolate::Error::Required(m) => format!("error while interpolating {path}: {m}"),
        })?),
        Yaml::Array(a) => Value::Array(a.iter().enumerate().map(|(i, x)| to_value(x, &format!("{path}[{i}]"), vars, unset)).collect::<Result<_, _>>()?),
        Yaml::Hash(h) => {
            let mut m = Map::new();
            let mut merges = Vec::new();
            for (k, v) in h {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Real(s) => s.clone(),
                    Yaml::Boolean(b) => b.to_string(),
                    Yaml::Null => "null".into(),
                    _ => return Err(format!("{path}: unsupported mapping key")),
                };
                let sub = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                if key == "<<" {
                    merges.push(to_value(v, &sub, vars, unset)?);
                    continue;
                }
                m.insert(key, to_value(v, &sub, vars, unset)?);
            }
            // Keys of `<<: *anchor` (or a list of anchors, the first winning) fill in what
            // the mapping does not set itself.
            for merged in merges {
                let sources = match merged {
                    Value::Array(a) => a,
                    other => vec![other],
                };
                for src in sources {
                    let Value::Object(src) = src else { return Err(format!("{path}: map merge requires map or sequence of maps as the value")) };
                    for (k, v) in src {
                        m.entry(k).or_insert(v);
                    }
                }
            }
            Value::Object(m)
        }
        Yaml::Alias(_) | Yaml::BadValue => return Err(format!("{path}: invalid YAML value")),
    })
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, String> {
    match v {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(EMPTY.get_or_init(Map::new)),
        _ => Err(format!("{path} must be a mapping")),
    }
}

static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();

/// A scalar as a string, the way compose casts numbers and booleans given where text is.
fn string(v: &Value, path: &str) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(format!("{path} must be a string")),
    }
}

fn boolean(v: &Value, path: &str) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.as_str() {
            "true" | "True" | "TRUE" | "yes" | "y" | "on" => Ok(true),
            "false" | "False" | "FALSE" | "no" | "n" | "off" => Ok(false),
            _ => Err(format!("{path} must be a boolean")),
        },
        _ => Err(format!("{path} must be a boolean")),
    }
}

fn integer(v: &Value, path: &str) -> Result<i64, String> {
    match v {
        Value::Number(n) if n.is_i64() => Ok(n.as_i64().unwrap_or(0)),
        Value::String(s) => s.trim().parse().map_err(|_| format!("{path} must be an integer")),
        _ => Err(format!("{path} must be an integer")),
    }
}

fn strings(v: &Value, path: &str) -> Result<Vec<String>, String> {
    match v {
        Value::Array(a) => a.iter().enumerate().map(|(i, x)| string(x, &format!("{path}[{i}]"))).collect(),
        Value::Null => Ok(Vec::new()),
        other => Ok(vec![string(other, path)?]),
    }
}

/// A mapping given as `{K: V}` or as a list of `K=V` (or `K`, `K:V` with `colon`).
fn dict(v: &Value, path: &str, sep: &[char]) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let val = if x.is_null() { Value::Null } else { json!(string(x, &format!("{path}.{k}"))?) };
                out.insert(k.clone(), val);
            }
        }
        Value::Array(_) => {
            for item in strings(v, path)? {
                match item.split_once(sep) {
                    Some((k, x)) => out.insert(k.trim().to_string(), json!(x)),
                    None => out.insert(item.clone(), Value::Null),
                };
            }
        }
        Value::Null => {}
        _ => return Err(format!("{path} must be a mapping or a list")),
    }
    Ok(out)
}

/// A Go duration, kept in the file's spelling once checked.
fn duration(v: &Value, path: &str) -> Result<String, String> {
    let s = string(v, path)?;
    crate::timestamp::parse_go_duration(&s).ok_or_else(|| format!("{path}: invalid duration {s:?}"))?;
    Ok(s)
}

/// Splits a command given as one string the way compose does (shell words: quotes and
/// backslashes, no expansion).
pub fn shell_split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("invalid command line string: unterminated quote in {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err(format!("invalid command line string: unterminated quote in {s:?}")),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(format!("invalid command line string: unterminated quote in {s:?}")),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

fn command(v: &Value, path: &str) -> Result<Value, String> {
    Ok(match v {
        Value::Null => Value::Null,
        Value::Array(_) => json!(strings(v, path)?),
        other => json!(shell_split(&string(other, path)?)?),
    })
}

/// Bytes from `mem_limit: 512m` or a number, as compose stores them.
fn bytes(v: &Value, path: &str) -> Result<i64, String> {
    match v {
        Value::Number(n) => n.as_i64().ok_or_else(|| format!("{path} must be a size")),
        other => crate::client::resources::ram_in_bytes(&string(other, path)?).map_err(|e| format!("{path}: {e}")),
    }
}

fn cpus(v: &Value, path: &str) -> Result<Value, String> {
    let s = string(v, path)?;
    let f: f64 = s.parse().map_err(|_| format!("{path}: invalid cpus {s:?}"))?;
    Ok(serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null))
}

/// One service in canonical form; unknown keys and those not implemented are refused.
fn service(name: &str, raw: &Value, _vars: &Vars, dir: &Path) -> Result<Value, String> {
    let p = format!("services.{name}");
    let mut out = Map::new();
    for (k, v) in object(raw, &p)? {
        let kp = format!("{p}.{k}");
        let canonical = match k.as_str() {
            "image" | "container_name" | "user" | "working_dir" | "hostname" | "stop_signal" => json!(string(v, &kp)?),
            "build" => build(v, &kp, dir)?,
            "command" | "entrypoint" => command(v, &kp)?,
            "environment" => Value::Object(dict(v, &kp, &['='])?),
            "env_file" => env_file(v, &kp, dir)?,
            "ports" => ports(v, &kp)?,
            "expose" => json!(strings(v, &kp)?),
            "volumes" => service_volumes(v, &kp, dir)?,
            "tmpfs" | "cap_add" | "cap_drop" | "dns" | "profiles" => json!(strings(v, &kp)?),
            "devices" => devices(v, &kp)?,
            "networks" => service_networks(v, &kp)?,
            "depends_on" => depends_on(v, &kp)?,
            "restart" => {
                let r = string(v, &kp)?;
                let ok = matches!(r.as_str(), "no" | "always" | "unless-stopped" | "on-failure") || r.strip_prefix("on-failure:").is_some_and(|n| n.parse::<u32>().is_ok());
                if !ok {
                    return Err(format!("{kp}: invalid restart policy {r:?}"));
                }
                json!(r)
            }
            "healthcheck" => healthcheck(v, &kp)?,
            "labels" | "sysctls" => Value::Object(dict(v, &kp, &['='])?.into_iter().map(|(k, v)| (k, if v.is_null() { json!("") } else { v })).collect()),
            "extra_hosts" => extra_hosts(v, &kp)?,
            "privileged" | "read_only" | "init" | "tty" | "stdin_open" => json!(boolean(v, &kp)?),
            "stop_grace_period" => json!(duration(v, &kp)?),
            "ulimits" => ulimits(v, &kp)?,
            "logging" => logging(v, &kp)?,
            "mem_limit" => json!(bytes(v, &kp)?),
            "cpus" => cpus(v, &kp)?,
            "pids_limit" => json!(integer(v, &kp)?),
            "deploy" => deploy(v, &kp)?,
            "expose_" => unreachable!(),
            x if x.starts_with("x-") => continue,
            x if UNSUPPORTED_SERVICE.contains(&x) => return Err(format!("{kp}: `{x}` is not supported by dockbox compose")),
            x => return Err(format!("validating compose file: {p} additional properties '{x}' not allowed")),
        };
        out.insert(k.clone(), canonical);
    }
    Ok(Value::Object(out))
}

/// `build: DIR` or `{context, dockerfile, args}`; the builder's other options are refused.
fn build(v: &Value, path: &str, dir: &Path) -> Result<Value, String> {
    let (context, dockerfile, args) = match v {
        Value::Object(m) => {
            for k in m.keys() {
                if !matches!(k.as_str(), "context" | "dockerfile" | "args") && !k.starts_with("x-") {
                    return Err(format!("{path}.{k}: `build.{k}` is not supported by dockbox compose"));
                }
            }
            let context = m.get("context").map(|c| string(c, path)).transpose()?.unwrap_or_else(|| ".".into());
            let dockerfile = m.get("dockerfile").map(|c| string(c, path)).transpose()?.unwrap_or_else(|| "Dockerfile".into());
            (context, dockerfile, m.get("args").map(|a| dict(a, &format!("{path}.args"), &['='])).transpose()?.unwrap_or_default())
        }
        other => (string(other, path)?, "Dockerfile".into(), Map::new()),
    };
    if context.contains("://") || context.starts_with("git@") {
        return Err(format!("{path}.context: remote build contexts are not supported by dockbox compose"));
    }
    let mut out = json!({"context": absolute(dir, &context).display().to_string(), "dockerfile": dockerfile});
    if !args.is_empty() {
        out["args"] = Value::Object(args);
    }
    Ok(out)
}

fn env_file(v: &Value, path: &str, dir: &Path) -> Result<Value, String> {
    let items: Vec<Value> = match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        let (file, required) = match item {
            Value::Object(m) => {
                for k in m.keys() {
                    if !matches!(k.as_str(), "path" | "required" | "format") {
                        return Err(format!("{ip} additional properties '{k}' not allowed"));
                    }
                }
                if m.get("format").is_some_and(|f| !f.is_null()) {
                    return Err(format!("{ip}.format is not supported by dockbox compose"));
                }
                (string(&m["path"], &format!("{ip}.path"))?, m.get("required").map(|r| boolean(r, &ip)).transpose()?.unwrap_or(true))
            }
            other => (string(other, &ip)?, true),
        };
        out.push(json!({"path": absolute(dir, &file).display().to_string(), "required": required}));
    }
    Ok(json!(out))
}

/// Ports in long syntax. Short syntax: `[[IP:][HOST[-HOST]]:]CONTAINER[-CONTAINER][/PROTO]`;
/// ranges give one entry per port.
fn ports(v: &Value, path: &str) -> Result<Value, String> {
    let Value::Array(items) = v else { return Err(format!("{path} must be a list")) };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        match item {
            Value::Object(m) => {
                let mut e = Map::new();
                for (k, x) in m {
                    match k.as_str() {
                        "target" => e.insert(k.clone(), json!(integer(x, &ip)?)),
                        "published" | "host_ip" | "protocol" | "mode" | "name" | "app_protocol" => e.insert(k.clone(), json!(string(x, &ip)?)),
                        _ => return Err(format!("{ip} additional properties '{k}' not allowed")),
                    };
                }
                if e.get("mode").is_some_and(|m| m != "ingress" && m != "host") {
                    return Err(format!("{ip}.mode must be ingress or host"));
                }
                e.entry("mode").or_insert(json!("ingress"));
                e.entry("protocol").or_insert(json!("tcp"));
                if !e.contains_key("target") {
                    return Err(format!("{ip}.target is required"));
                }
                out.push(Value::Object(e));
            }
            other => out.extend(short_port(&string(other, &ip)?).map_err(|e| format!("{ip}: {e}"))?),
        }
    }
    Ok(json!(out))
}

fn port_range(s: &str) -> Result<(u32, u32), String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u32 = a.parse().map_err(|_| format!("invalid port {s:?}"))?;
    let b: u32 = b.parse().map_err(|_| format!("invalid port {s:?}"))?;
    if a > 65535 || b > 65535 || b < a {
        return Err(format!("invalid port range {s:?}"));
    }
    Ok((a, b))
}

pub fn short_port(spec: &str) -> Result<Vec<Value>, String> {
    let (rest, proto) = spec.rsplit_once('/').unwrap_or((spec, "tcp"));
    // The container part is after the last colon; an IPv6 host address is in brackets.
    let (host, container) = match rest.rsplit_once(':') {
        Some((h, c)) => (Some(h), c),
        None => (None, rest),
    };
    let (host_ip, published) = match host {
        None => ("", ""),
        Some(h) => match h.rsplit_once(':') {
            Some((ip, port)) => (ip.trim_start_matches('[').trim_end_matches(']'), port),
            None => ("", h),
        },
    };
    let (c0, c1) = port_range(container)?;
    let published_range = if published.is_empty() { None } else { Some(port_range(published)?) };
    if let Some((p0, p1)) = published_range {
        if p1 - p0 != c1 - c0 && c0 != c1 {
            return Err(format!("port ranges don't match in length: {spec:?}"));
        }
    }
    let mut out = Vec::new();
    for (n, target) in (c0..=c1).enumerate() {
        let mut e = json!({"mode": "ingress", "target": target, "protocol": proto});
        match published_range {
            Some((p0, p1)) if c0 == c1 && p0 != p1 => e["published"] = json!(format!("{p0}-{p1}")),
            Some((p0, _)) => e["published"] = json!((p0 + n as u32).to_string()),
            None => {}
        }
        if !host_ip.is_empty() {
            e["host_ip"] = json!(host_ip);
        }
        out.push(e);
    }
    // compose-go lists a range's ports in the order of their `PORT/PROTO` strings.
    out.sort_by_key(|e| format!("{}/{}", e["target"], proto));
    Ok(out)
}

/// Volumes in long syntax. Short syntax `SRC:TARGET[:MODE]`: a source starting with `.`,
/// `/` or `~` is a bind (relative to the project directory), else a named volume; a lone
/// target is an anonymous volume.
fn service_volumes(v: &Value, path: &str, dir: &Path) -> Result<Value, String> {
    let Value::Array(items) = v else { return Err(format!("{path} must be a list")) };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        let mut e = match item {
            Value::Object(m) => {
                let mut e = Map::new();
                for (k, x) in m {
                    let val = match k.as_str() {
                        "type" | "source" | "target" | "consistency" => json!(string(x, &ip)?),
                        "read_only" => json!(boolean(x, &ip)?),
                        "bind" => sub_options(x, &format!("{ip}.bind"), &["propagation", "create_host_path", "selinux"])?,
                        "volume" => sub_options(x, &format!("{ip}.volume"), &["nocopy", "subpath"])?,
                        "tmpfs" => sub_options(x, &format!("{ip}.tmpfs"), &["size", "mode"])?,
                        _ => return Err(format!("{ip} additional properties '{k}' not allowed")),
                    };
                    e.insert(k.clone(), val);
                }
                let t = e.get("type").and_then(Value::as_str).unwrap_or("");
                if !matches!(t, "bind" | "volume" | "tmpfs") {
                    return Err(format!("{ip}.type: {t:?} is not supported by dockbox compose (bind, volume, tmpfs)"));
                }
                if e.get("bind").is_some_and(|b| b.get("selinux").is_some()) {
                    return Err(format!("{ip}.bind.selinux is not supported by dockbox compose"));
                }
                if e.get("volume").is_some_and(|b| b.get("subpath").is_some()) {
                    return Err(format!("{ip}.volume.subpath is not supported by dockbox compose"));
                }
                e
            }
            other => short_volume(&string(other, &ip)?).map_err(|e| format!("{ip}: {e}"))?,
        };
        if !e.contains_key("target") {
            return Err(format!("{ip}.target is required"));
        }
        if e["type"] == "bind" {
            let src = e.get("source").and_then(Value::as_str).unwrap_or("").to_string();
            let home = std::env::var("HOME").unwrap_or_default();
            let src = match src.strip_prefix('~') {
                Some(rest) => format!("{home}{rest}"),
                None => src,
            };
            e.insert("source".into(), json!(absolute(dir, &src).display().to_string()));
        }
        out.push(Value::Object(e));
    }
    Ok(json!(out))
}

fn sub_options(v: &Value, path: &str, allowed: &[&str]) -> Result<Value, String> {
    let m = object(v, path)?;
    for k in m.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(format!("{path} additional properties '{k}' not allowed"));
        }
    }
    Ok(v.clone())
}

pub fn short_volume(spec: &str) -> Result<Map<String, Value>, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let mut e = Map::new();
    let (source, target, mode) = match parts.as_slice() {
        [t] => (None, *t, None),
        [s, t] => (Some(*s), *t, None),
        [s, t, m] => (Some(*s), *t, Some(*m)),
        _ => return Err(format!("invalid volume specification {spec:?}")),
    };
    match source {
        // compose-go gives a volume of the short syntax an empty `volume: {}` (its config
        // hash tells the two syntaxes apart by it).
        None => {
            e.insert("type".into(), json!("volume"));
            e.insert("volume".into(), json!({}));
        }
        Some(s) if s.starts_with('.') || s.starts_with('/') || s.starts_with('~') => {
            e.insert("type".into(), json!("bind"));
            e.insert("source".into(), json!(s));
            e.insert("bind".into(), json!({"create_host_path": true}));
        }
        Some(s) => {
            e.insert("type".into(), json!("volume"));
            e.insert("source".into(), json!(s));
            e.insert("volume".into(), json!({}));
        }
    }
    e.insert("target".into(), json!(target));
    for m in mode.into_iter().flat_map(|m| m.split(',')) {
        match m {
            "ro" => {
                e.insert("read_only".into(), json!(true));
            }
            "rw" => {}
            "nocopy" if e["type"] == "volume" => {
                e.insert("volume".into(), json!({"nocopy": true}));
            }
            "rprivate" | "private" | "rshared" | "shared" | "rslave" | "slave" if e["type"] == "bind" => {
                e.insert("bind".into(), json!({"create_host_path": true, "propagation": m}));
            }
            other => return Err(format!("invalid mode {other:?} in volume specification {spec:?} (dockbox compose knows ro, rw, nocopy and propagation)")),
        }
    }
    Ok(e)
}

fn devices(v: &Value, path: &str) -> Result<Value, String> {
    let Value::Array(items) = v else { return Err(format!("{path} must be a list")) };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        out.push(match item {
            Value::Object(m) => {
                let s = string(&m["source"], &ip)?;
                let t = m.get("target").map(|t| string(t, &ip)).transpose()?.unwrap_or_else(|| s.clone());
                let perm = m.get("permissions").map(|t| string(t, &ip)).transpose()?.unwrap_or_else(|| "rwm".into());
                format!("{s}:{t}:{perm}")
            }
            other => string(other, &ip)?,
        });
    }
    Ok(json!(out))
}

fn service_networks(v: &Value, path: &str) -> Result<Value, String> {
    let mut out = Map::new();
    match v {
        Value::Array(_) => {
            for n in strings(v, path)? {
                out.insert(n, Value::Null);
            }
        }
        Value::Object(m) => {
            for (n, cfg) in m {
                let np = format!("{path}.{n}");
                // `net:` (null) and `net: {}` differ in compose's config hash.
                if cfg.is_null() {
                    out.insert(n.clone(), Value::Null);
                    continue;
                }
                let mut c = Map::new();
                for (k, x) in object(cfg, &np)? {
                    let val = match k.as_str() {
                        "aliases" => json!(strings(x, &np)?),
                        "ipv4_address" | "ipv6_address" => json!(string(x, &np)?),
                        "priority" => json!(integer(x, &np)?),
                        x if x.starts_with("x-") => continue,
                        other => return Err(format!("{np}.{other} is not supported by dockbox compose")),
                    };
                    c.insert(k.clone(), val);
                }
                out.insert(n.clone(), Value::Object(c));
            }
        }
        _ => return Err(format!("{path} must be a list or a mapping")),
    }
    Ok(Value::Object(out))
}

fn depends_on(v: &Value, path: &str) -> Result<Value, String> {
    let mut out = Map::new();
    match v {
        Value::Array(_) => {
            for n in strings(v, path)? {
                out.insert(n, json!({"condition": "service_started", "required": true}));
            }
        }
        Value::Object(m) => {
            for (n, cfg) in m {
                let np = format!("{path}.{n}");
                let mut c = json!({"condition": "service_started", "required": true});
                for (k, x) in object(cfg, &np)? {
                    match k.as_str() {
                        "condition" => {
                            let cond = string(x, &np)?;
                            if !matches!(cond.as_str(), "service_started" | "service_healthy" | "service_completed_successfully") {
                                return Err(format!("{np}.condition: {cond:?} must be one of service_started, service_healthy, service_completed_successfully"));
                            }
                            c["condition"] = json!(cond);
                        }
                        "required" | "restart" => c[k] = json!(boolean(x, &np)?),
                        other => return Err(format!("{np} additional properties '{other}' not allowed")),
                    }
                }
                out.insert(n.clone(), c);
            }
        }
        _ => return Err(format!("{path} must be a list or a mapping")),
    }
    Ok(Value::Object(out))
}

fn healthcheck(v: &Value, path: &str) -> Result<Value, String> {
    let mut out = Map::new();
    for (k, x) in object(v, path)? {
        let kp = format!("{path}.{k}");
        let val = match k.as_str() {
            "test" => match x {
                Value::Array(_) => json!(strings(x, &kp)?),
                other => json!(["CMD-SHELL", string(other, &kp)?]),
            },
            "interval" | "timeout" | "start_period" | "start_interval" => json!(duration(x, &kp)?),
            "retries" => json!(integer(x, &kp)?),
            "disable" => json!(boolean(x, &kp)?),
            other => return Err(format!("{path} additional properties '{other}' not allowed")),
        };
        out.insert(k.clone(), val);
    }
    if let Some(t) = out.get("test").and_then(Value::as_array) {
        if !matches!(t.first().and_then(Value::as_str), Some("NONE" | "CMD" | "CMD-SHELL")) {
            return Err(format!("{path}.test must start with NONE, CMD or CMD-SHELL"));
        }
    }
    Ok(Value::Object(out))
}

fn extra_hosts(v: &Value, path: &str) -> Result<Value, String> {
    let mut out = Vec::new();
    match v {
        Value::Object(m) => {
            for (h, ip) in m {
                for ip in strings(ip, path)? {
                    out.push(format!("{h}={ip}"));
                }
            }
        }
        _ => {
            for e in strings(v, path)? {
                // `host:ip` is the older spelling; an IPv6 address holds colons itself.
                let e = if e.contains('=') {
                    e
                } else {
                    match e.split_once(':') {
                        Some((h, ip)) => format!("{h}={ip}"),
                        None => return Err(format!("{path}: invalid extra host {e:?}")),
                    }
                };
                out.push(e);
            }
        }
    }
    Ok(json!(out))
}

fn ulimits(v: &Value, path: &str) -> Result<Value, String> {
    let mut out = Map::new();
    for (name, x) in object(v, path)? {
        let np = format!("{path}.{name}");
        let val = match x {
            Value::Object(m) => {
                for k in m.keys() {
                    if k != "soft" && k != "hard" {
                        return Err(format!("{np} additional properties '{k}' not allowed"));
                    }
                }
                json!({"soft": integer(&m["soft"], &np)?, "hard": integer(&m["hard"], &np)?})
            }
            other => json!(integer(other, &np)?),
        };
        out.insert(name.clone(), val);
    }
    Ok(Value::Object(out))
}

fn logging(v: &Value, path: &str) -> Result<Value, String> {
    let mut out = Map::new();
    for (k, x) in object(v, path)? {
        match k.as_str() {
            "driver" => out.insert(k.clone(), json!(string(x, path)?)),
            "options" => out.insert(k.clone(), Value::Object(dict(x, &format!("{path}.options"), &['='])?)),
            other => return Err(format!("{path} additional properties '{other}' not allowed")),
        };
    }
    Ok(Value::Object(out))
}

fn deploy(v: &Value, path: &str) -> Result<Value, String> {
    let mut out = Map::new();
    for (k, x) in object(v, path)? {
        let kp = format!("{path}.{k}");
        match k.as_str() {
            "replicas" => {
                out.insert(k.clone(), json!(integer(x, &kp)?));
            }
            "resources" => {
                let mut res = Map::new();
                for (rk, rx) in object(x, &kp)? {
                    let rp = format!("{kp}.{rk}");
                    if rk != "limits" {
                        return Err(format!("{rp} is not supported by dockbox compose"));
                    }
                    let mut limits = Map::new();
                    for (lk, lx) in object(rx, &rp)? {
                        let lp = format!("{rp}.{lk}");
                        let val = match lk.as_str() {
                            "cpus" => cpus(lx, &lp)?,
                            "memory" => json!(bytes(lx, &lp)?),
                            "pids" => json!(integer(lx, &lp)?),
                            other => return Err(format!("{rp}.{other} is not supported by dockbox compose")),
                        };
                        limits.insert(lk.clone(), val);
                    }
                    res.insert(rk.clone(), Value::Object(limits));
                }
                out.insert(k.clone(), Value::Object(res));
            }
            x if x.starts_with("x-") => {}
            other => return Err(format!("{kp}: `deploy.{other}` is not supported by dockbox compose")),
        }
    }
    Ok(Value::Object(out))
}

fn network(name: &str, v: &Value) -> Result<Value, String> {
    let p = format!("networks.{name}");
    let mut out = Map::new();
    for (k, x) in object(v, &p)? {
        let kp = format!("{p}.{k}");
        let val = match k.as_str() {
            "name" | "driver" => json!(string(x, &kp)?),
            "external" | "internal" | "attachable" | "enable_ipv6" | "enable_ipv4" => json!(boolean(x, &kp)?),
            "driver_opts" | "labels" => Value::Object(dict(x, &kp, &['='])?),
            "ipam" => ipam(x, &kp)?,
            x if x.starts_with("x-") => continue,
            other => return Err(format!("{kp}: `{other}` is not supported by dockbox compose")),
        };
        out.insert(k.clone(), val);
    }
    Ok(Value::Object(out))
}

fn ipam(v: &Value, path: &str) -> Result<Value, String> {
    let mut out = Map::new();
    for (k, x) in object(v, path)? {
        let kp = format!("{path}.{k}");
        let val = match k.as_str() {
            "driver" => json!(string(x, &kp)?),
            "options" => Value::Object(dict(x, &kp, &['='])?),
            "config" => {
                let Value::Array(items) = x else { return Err(format!("{kp} must be a list")) };
                let mut configs = Vec::new();
                for item in items {
                    let mut c = Map::new();
                    for (ck, cx) in object(item, &kp)? {
                        match ck.as_str() {
                            "subnet" | "gateway" | "ip_range" => c.insert(ck.clone(), json!(string(cx, &kp)?)),
                            "aux_addresses" => c.insert(ck.clone(), Value::Object(dict(cx, &kp, &['='])?)),
                            other => return Err(format!("{kp} additional properties '{other}' not allowed")),
                        };
                    }
                    configs.push(Value::Object(c));
                }
                json!(configs)
            }
            other => return Err(format!("{path} additional properties '{other}' not allowed")),
        };
        out.insert(k.clone(), val);
    }
    Ok(Value::Object(out))
}

fn volume(name: &str, v: &Value) -> Result<Value, String> {
    let p = format!("volumes.{name}");
    let mut out = Map::new();
    for (k, x) in object(v, &p)? {
        let kp = format!("{p}.{k}");
        let val = match k.as_str() {
            "name" | "driver" => json!(string(x, &kp)?),
            "external" => json!(boolean(x, &kp)?),
            "driver_opts" | "labels" => Value::Object(dict(x, &kp, &['='])?),
            x if x.starts_with("x-") => continue,
            other => return Err(format!("{kp}: `{other}` is not supported by dockbox compose")),
        };
        out.insert(k.clone(), val);
    }
    Ok(Value::Object(out))
}

/// Merges `over` into `base` with compose's rules: mappings key by key; `command`,
/// `entrypoint` and `healthcheck.test` replaced; `volumes` of a service merged by target,
/// `ports` by their whole value; other lists appended without duplicates.
pub fn merge(base: &mut Value, over: Value, path: &str) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                let sub = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match b.get_mut(&k) {
                    Some(existing) if !v.is_null() => merge(existing, v, &sub),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(o)) => {
            let last = path.rsplit('.').next().unwrap_or("");
            let in_service = path.starts_with("services.");
            match last {
                "command" | "entrypoint" | "test" => *b = o,
                "volumes" if in_service => {
                    for v in o {
                        match b.iter_mut().find(|x| x["target"] == v["target"]) {
                            Some(slot) => *slot = v,
                            None => b.push(v),
                        }
                    }
                }
                _ => {
                    for v in o {
                        if !b.contains(&v) {
                            b.push(v);
                        }
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// After merging: env_file read into environment, value-less variables taken from the
/// environment, the default network, and references to networks, volumes and services
/// checked.
fn finish_service(name: &str, svc: &mut Value, vars: &Vars, _dir: &Path, networks: &BTreeMap<String, Value>, volumes: &BTreeMap<String, Value>) -> Result<(), String> {
    if svc.get("image").is_none() && svc.get("build").is_none() {
        return Err(format!("service {name:?} has neither an image nor a build context specified: invalid compose project"));
    }
    let mut env = Map::new();
    if let Some(files) = svc.as_object_mut().and_then(|m| m.remove("env_file")) {
        for f in files.as_array().into_iter().flatten() {
            let path = f["path"].as_str().unwrap_or("");
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    for (k, v) in interpolate::parse_dotenv(&text, vars).map_err(|e| format!("failed to read {path}: {e}"))? {
                        env.insert(k, json!(v));
                    }
                }
                Err(_) if f["required"] == false => {}
                Err(e) => return Err(format!("env file {path} not found: {}", os_error(&e))),
            }
        }
    }
    if let Some(m) = svc["environment"].as_object() {
        for (k, v) in m {
            let v = if v.is_null() { vars.get(k).map(|s| json!(s)).unwrap_or(Value::Null) } else { v.clone() };
            env.insert(k.clone(), v);
        }
    }
    if !env.is_empty() || svc.get("environment").is_some() {
        svc["environment"] = Value::Object(env);
    }
    let nets = svc.get("networks").and_then(Value::as_object).cloned().unwrap_or_default();
    if nets.is_empty() {
        svc["networks"] = json!({"default": null});
    } else {
        for n in nets.keys() {
            if n != "default" && !networks.contains_key(n) {
                return Err(format!("service {name:?} refers to undefined network {n}: invalid compose project"));
            }
        }
    }
    for v in svc["volumes"].as_array().into_iter().flatten() {
        if v["type"] == "volume" {
            if let Some(src) = v["source"].as_str().filter(|s| !s.is_empty()) {
                if !volumes.contains_key(src) {
                    return Err(format!("service {name:?} refers to undefined volume {src}: invalid compose project"));
                }
            }
        }
    }
    Ok(())
}

/// Checks `depends_on` names and orders services so that each comes after those it
/// depends on (compose's start order); a cycle is an error.
pub fn start_order(services: &BTreeMap<String, Value>) -> Result<Vec<String>, String> {
    let mut order: Vec<String> = Vec::new();
    let mut visiting = Vec::new();
    fn visit(n: &str, services: &BTreeMap<String, Value>, order: &mut Vec<String>, visiting: &mut Vec<String>) -> Result<(), String> {
        if order.iter().any(|o| o == n) {
            return Ok(());
        }
        if visiting.iter().any(|v| v == n) {
            return Err(format!("dependency cycle detected: {} -> {n}", visiting.join(" -> ")));
        }
        visiting.push(n.to_string());
        if let Some(deps) = services.get(n).and_then(|s| s["depends_on"].as_object()) {
            for (d, cfg) in deps {
                if services.contains_key(d) {
                    visit(d, services, order, visiting)?;
                } else if cfg["required"] != false {
                    return Err(format!("service {n:?} depends on undefined service {d:?}: invalid compose project"));
                }
            }
        }
        visiting.pop();
        order.push(n.to_string());
        Ok(())
    }
    for n in services.keys() {
        visit(n, services, &mut order, &mut visiting)?;
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Value, String> {
        parse_file(text, "compose.yaml", &Vars::new(), Path::new("/proj"), &mut |_| {})
    }

    #[test]
    fn project_names_as_compose_normalizes_them() {
        assert_eq!(normalize_project_name("My App.v2"), "myappv2");
        assert_eq!(normalize_project_name("__x-Y_"), "x-y_");
        assert_eq!(normalize_project_name("..."), "");
        assert!(valid_project_name("a_b-1"));
        assert!(!valid_project_name("_a"));
        assert!(!valid_project_name("A"));
        assert!(!valid_project_name(""));
    }

    #[test]
    fn short_ports_from_the_specification() {
        let one = |s: &str| short_port(s).unwrap();
        assert_eq!(one("3000"), vec![json!({"mode": "ingress", "target": 3000, "protocol": "tcp"})]);
        assert_eq!(one("3000-3002").len(), 3);
        assert_eq!(one("8000:8000")[0]["published"], "8000");
        assert_eq!(one("9090-9091:8080-8081")[1], json!({"mode": "ingress", "target": 8081, "published": "9091", "protocol": "tcp"}));
        assert_eq!(one("49100:22")[0]["target"], 22);
        assert_eq!(one("127.0.0.1:8001:8001")[0]["host_ip"], "127.0.0.1");
        assert_eq!(one("127.0.0.1:5000-5010:5000-5010").len(), 11);
        assert_eq!(one("6060:6060/udp")[0]["protocol"], "udp");
        assert_eq!(one("[::1]:6001:6001")[0]["host_ip"], "::1");
        assert_eq!(one("127.0.0.1::80")[0].get("published"), None);
        assert!(short_port("1-2:3-5").is_err());
        assert!(short_port("70000").is_err());
    }

    #[test]
    fn short_volumes_from_the_specification() {
        let v = short_volume("/var/lib/mysql").unwrap();
        assert_eq!(Value::Object(v), json!({"type": "volume", "target": "/var/lib/mysql", "volume": {}}));
        let v = short_volume("./cache:/tmp/cache:ro").unwrap();
        assert_eq!(Value::Object(v), json!({"type": "bind", "source": "./cache", "target": "/tmp/cache", "read_only": true, "bind": {"create_host_path": true}}));
        let v = short_volume("datavolume:/var/lib/mysql").unwrap();
        assert_eq!(v["type"], "volume");
        assert!(short_volume("a:b:c:d").is_err());
        assert!(short_volume("a:/b:z").is_err());
    }

    #[test]
    fn services_become_canonical() {
        let f = parse(
            r#"
services:
  web:
    image: busybox
    command: httpd -f -p "8080"
    environment: [A=1, B]
    ports: ["8080:80", {target: 443, published: "8443"}]
    volumes: ["./html:/www", "data:/data"]
    depends_on: [db]
    healthcheck: {test: wget -q localhost, interval: 1s}
    labels: [x=y]
    extra_hosts: ["h:1.2.3.4"]
    mem_limit: 1g
  db:
    image: busybox
    depends_on: {web: {condition: service_healthy}}
volumes:
  data: {}
"#,
        )
        .unwrap();
        let web = &f["services"]["web"];
        assert_eq!(web["command"], json!(["httpd", "-f", "-p", "8080"]));
        assert_eq!(web["environment"], json!({"A": "1", "B": null}));
        assert_eq!(web["ports"][1], json!({"target": 443, "published": "8443", "mode": "ingress", "protocol": "tcp"}));
        assert_eq!(web["volumes"][0]["source"], "/proj/html");
        assert_eq!(web["depends_on"], json!({"db": {"condition": "service_started", "required": true}}));
        assert_eq!(web["healthcheck"]["test"], json!(["CMD-SHELL", "wget -q localhost"]));
        assert_eq!(web["labels"], json!({"x": "y"}));
        assert_eq!(web["extra_hosts"], json!(["h=1.2.3.4"]));
        assert_eq!(web["mem_limit"], json!(1 << 30));
        assert_eq!(f["services"]["db"]["depends_on"]["web"]["condition"], "service_healthy");
    }

    #[test]
    fn unknown_and_unimplemented_keys_are_refused_by_name() {
        let e = parse("services:\n  a:\n    image: x\n    secrets: [s]\n").unwrap_err();
        assert!(e.contains("secrets") && e.contains("not supported"), "{e}");
        let e = parse("services:\n  a:\n    image: x\n    bogus: 1\n").unwrap_err();
        assert!(e.contains("additional properties 'bogus' not allowed"), "{e}");
        let e = parse("services:\n  a:\n    build: {context: ., ssh: [default]}\n").unwrap_err();
        assert!(e.contains("services.a.build.ssh"), "{e}");
        let e = parse("configs: {}\nservices: {}\n").unwrap_err();
        assert!(e.contains("configs"), "{e}");
        let e = parse("services:\n  a:\n    image: x\n    deploy: {placement: {}}\n").unwrap_err();
        assert!(e.contains("deploy.placement"), "{e}");
        // Extensions are allowed everywhere.
        assert!(parse("x-common: &c {image: x}\nservices:\n  a:\n    <<: *c\n    x-note: hi\n").is_ok());
    }

    #[test]
    fn anchors_and_merge_keys() {
        let f = parse("x-base: &base\n  image: busybox\n  environment: {A: '1'}\nservices:\n  a:\n    <<: *base\n    environment: {B: '2'}\n").unwrap();
        assert_eq!(f["services"]["a"]["image"], "busybox");
        assert_eq!(f["services"]["a"]["environment"], json!({"B": "2"}));
    }

    #[test]
    fn interpolation_in_values_not_keys() {
        let vars: Vars = [("TAG".to_string(), "1.2".to_string())].into();
        let f = parse_file("services:\n  $$a:\n    image: \"busybox:${TAG}\"\n    command: echo $$HOME\n", "f", &vars, Path::new("/"), &mut |_| {}).unwrap();
        assert_eq!(f["services"]["$$a"]["image"], "busybox:1.2");
        assert_eq!(f["services"]["$$a"]["command"], json!(["echo", "$HOME"]));
        let e = parse_file("services:\n  a:\n    image: ${NOPE:?give an image}\n", "f", &Vars::new(), Path::new("/"), &mut |_| {}).unwrap_err();
        assert_eq!(e, "error while interpolating services.a.image: required variable NOPE is missing a value: give an image");
        let mut warned = Vec::new();
        parse_file("services:\n  a:\n    image: x$UNSET\n", "f", &Vars::new(), Path::new("/"), &mut |w| warned.push(w)).unwrap();
        assert_eq!(warned, ["The \"UNSET\" variable is not set. Defaulting to a blank string."]);
    }

    #[test]
    fn files_merge_in_order() {
        let mut base = parse("services:\n  web:\n    image: a\n    command: [x, y]\n    environment: {A: '1', B: '2'}\n    ports: ['80:80']\n    volumes: ['/h:/data', '/c:/cache']\n").unwrap();
        let over = parse("services:\n  web:\n    image: b\n    command: [z]\n    environment: {B: '3'}\n    ports: ['443:443']\n    volumes: ['/h2:/data']\n").unwrap();
        merge(&mut base, over, "");
        let web = &base["services"]["web"];
        assert_eq!(web["image"], "b");
        assert_eq!(web["command"], json!(["z"]));
        assert_eq!(web["environment"], json!({"A": "1", "B": "3"}));
        assert_eq!(web["ports"].as_array().unwrap().len(), 2);
        let vols = web["volumes"].as_array().unwrap();
        assert_eq!(vols.len(), 2);
        assert_eq!(vols[0]["source"], "/h2");
    }

    #[test]
    fn start_order_follows_dependencies() {
        let f = parse("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [c]}\n  c: {image: x}\n").unwrap();
        let services = take_map(&f, "services");
        assert_eq!(start_order(&services).unwrap(), ["c", "b", "a"]);
        let f = parse("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n").unwrap();
        assert!(start_order(&take_map(&f, "services")).unwrap_err().contains("cycle"));
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_split(r#"sh -c "echo \"hi\" 'x'" a\ b"#).unwrap(), ["sh", "-c", "echo \"hi\" 'x'", "a b"]);
        assert!(shell_split("'open").is_err());
    }
}
