//! `docker build` (the classic builder's client, as Docker's CLI runs it without BuildKit)
//! and `docker builder prune`. The context is a directory sent as a tar that honours
//! `.dockerignore` (the Dockerfile and `.dockerignore` always go, for the daemon to drop),
//! a tar or a Dockerfile on stdin (`-`), with `-f` inside or outside the context or `-f -`;
//! the daemon's JSON lines are printed as Docker prints them, and a failed RUN's exit code is
//! the client's.

use super::api::ApiError;
use super::flags::{flag, Kind, Parsed};
use super::{out, Args, Command, Ctx, Failure};
use crate::dockerfile::ignore::{MatchInfo, PatternMatcher, WalkDecision};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub const COMMANDS: &[Command] = &[
    Command {
        name: "build",
        usage: "docker build [OPTIONS] PATH | URL | -",
        short: "Build an image from a Dockerfile",
        args: Args::Exact(1),
        interspersed: true,
        flags: &[
            flag("add-host", None, Kind::List, "Add a custom host-to-IP mapping (\"host:ip\")"),
            flag("build-arg", None, Kind::List, "Set build-time variables"),
            flag("cache-from", None, Kind::List, "Images to consider as cache sources"),
            flag("cgroup-parent", None, Kind::Value, "Set the parent cgroup for the \"RUN\" instructions during build"),
            flag("compress", None, Kind::Bool, "Compress the build context using gzip"),
            flag("cpu-period", None, Kind::Value, "Limit the CPU CFS (Completely Fair Scheduler) period"),
            flag("cpu-quota", None, Kind::Value, "Limit the CPU CFS (Completely Fair Scheduler) quota"),
            flag("cpu-shares", Some('c'), Kind::Value, "CPU shares (relative weight)"),
            flag("cpuset-cpus", None, Kind::Value, "CPUs in which to allow execution (0-3, 0,1)"),
            flag("cpuset-mems", None, Kind::Value, "MEMs in which to allow execution (0-3, 0,1)"),
            flag("disable-content-trust", None, Kind::Bool, "Skip image verification"),
            flag("file", Some('f'), Kind::Value, "Name of the Dockerfile (Default is \"PATH/Dockerfile\")"),
            flag("force-rm", None, Kind::Bool, "Always remove intermediate containers"),
            flag("iidfile", None, Kind::Value, "Write the image ID to the file"),
            flag("isolation", None, Kind::Value, "Container isolation technology"),
            flag("label", None, Kind::List, "Set metadata for an image"),
            flag("memory", Some('m'), Kind::Value, "Memory limit"),
            flag("memory-swap", None, Kind::Value, "Swap limit equal to memory plus swap: -1 to enable unlimited swap"),
            flag("network", None, Kind::Value, "Set the networking mode for the RUN instructions during build"),
            flag("no-cache", None, Kind::Bool, "Do not use cache when building the image"),
            flag("platform", None, Kind::Value, "Set platform if server is multi-platform capable"),
            flag("pull", None, Kind::Bool, "Always attempt to pull a newer version of the image"),
            flag("quiet", Some('q'), Kind::Bool, "Suppress the build output and print image ID on success"),
            flag("rm", None, Kind::Bool, "Remove intermediate containers after a successful build"),
            flag("security-opt", None, Kind::List, "Security options"),
            flag("shm-size", None, Kind::Value, "Size of /dev/shm"),
            flag("squash", None, Kind::Bool, "Squash newly built layers into a single new layer"),
            flag("tag", Some('t'), Kind::List, "Name and optionally a tag in the \"name:tag\" format"),
            flag("target", None, Kind::Value, "Set the target build stage to build."),
            flag("ulimit", None, Kind::List, "Ulimit options"),
        ],
        run: build_cmd,
    },
    Command {
        name: "builder prune",
        usage: "docker builder prune",
        short: "Remove build cache",
        args: Args::None,
        interspersed: true,
        flags: &[
            flag("all", Some('a'), Kind::Bool, "Remove all unused build cache, not just dangling ones"),
            flag("filter", None, Kind::List, "Provide filter values (e.g. \"until=24h\")"),
            flag("force", Some('f'), Kind::Bool, "Do not prompt for confirmation"),
            flag("keep-storage", None, Kind::Value, "Amount of disk space to keep for cache"),
        ],
        run: prune_cmd,
    },
];

/// `docker builder build|prune`, `docker image build`.
pub fn management_alias(group: &str, sub: &str) -> Option<&'static str> {
    Some(match (group, sub) {
        ("builder" | "image", "build") => "build",
        ("builder", "prune") => "builder prune",
        _ => return None,
    })
}

fn usage_error(message: &str) -> Failure {
    Failure::new(format!("{message}\nSee 'docker build --help'."), 125)
}

/// Adds `dir` (relative name `rel`) to the tar, walking as Docker's CLI walks with the
/// `.dockerignore` matcher; owners are root's, as the CLI sends them.
fn add_dir(b: &mut tar::Builder<&mut dyn Write>, root: &Path, rel: &str, matcher: &PatternMatcher, parent: &MatchInfo, always: &[String]) -> std::io::Result<()> {
    let dir = if rel.is_empty() { root.to_path_buf() } else { root.join(rel) };
    let mut names: Vec<String> = std::fs::read_dir(&dir)?.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    for n in names {
        let path = if rel.is_empty() { n.clone() } else { format!("{rel}/{n}") };
        let host = root.join(&path);
        let meta = std::fs::symlink_metadata(&host)?;
        let (decision, info) = matcher.walk_decision(&path, meta.is_dir(), parent);
        let forced = always.contains(&path);
        if decision == WalkDecision::Exclude && !forced {
            continue;
        }
        if decision == WalkDecision::Include || forced {
            let mut h = tar::Header::new_gnu();
            h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
            // The permission bits alone, as Docker's CLI 28 sends them (Go's FileInfoHeader):
            // they go into the daemon's tarsum of the entry, so COPY's cache key and history.
            h.set_mode(meta.mode() & 0o7777);
            h.set_uid(0);
            h.set_gid(0);
            if meta.file_type().is_symlink() {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, &path, std::fs::read_link(&host)?)?;
            } else if meta.is_dir() {
                h.set_size(0);
                b.append_data(&mut h, format!("{path}/"), std::io::empty())?;
            } else if meta.is_file() {
                b.append_data(&mut h, &path, std::fs::File::open(&host)?)?;
            }
        }
        if meta.is_dir() {
            add_dir(b, root, &path, matcher, &info, always)?;
        }
    }
    Ok(())
}

/// A file entry for the tar (the Dockerfile sent from elsewhere).
fn add_file(b: &mut tar::Builder<&mut dyn Write>, name: &str, data: &[u8]) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o600);
    h.set_size(data.len() as u64);
    h.set_mtime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
    b.append_data(&mut h, name, data)
}

/// The tar of a context directory; `extra` is a Dockerfile added under its own name.
fn context_tar(dir: &Path, dockerfile_in_context: Option<&str>, extra: Option<(&str, &[u8])>) -> Result<Vec<u8>, Failure> {
    let patterns = std::fs::read_to_string(dir.join(".dockerignore")).map(|t| crate::dockerfile::ignore::read_ignore_file(&t)).unwrap_or_default();
    let matcher = PatternMatcher::new(&patterns).map_err(|e| Failure::new(e.0, 1))?;
    // The Dockerfile and .dockerignore always go (Docker's CLI keeps them for the daemon).
    let mut always = vec![".dockerignore".to_string()];
    if let Some(df) = dockerfile_in_context {
        always.push(crate::dockerfile::ignore::clean_path(df));
    }
    let mut data = Vec::new();
    {
        let w: &mut dyn Write = &mut data;
        let mut b = tar::Builder::new(w);
        b.follow_symlinks(false);
        add_dir(&mut b, dir, "", &matcher, &MatchInfo::default(), &always).map_err(|e| Failure::new(format!("error checking context: {e}"), 1))?;
        if let Some((name, bytes)) = extra {
            add_file(&mut b, name, bytes).map_err(|e| Failure::new(e.to_string(), 1))?;
        }
        b.finish().map_err(|e| Failure::new(e.to_string(), 1))?;
    }
    Ok(data)
}

/// Whether stdin's bytes are an archive (tar, or compressed) rather than a Dockerfile.
fn looks_like_archive(head: &[u8]) -> bool {
    use crate::build::context::{detect, Compression};
    if detect(head) != Compression::None {
        return true;
    }
    head.len() >= 262 && &head[257..262] == b"ustar"
}

fn random_dockerfile_name() -> String {
    format!(".dockerfile.{}", &crate::ids::new_id()[..20])
}

fn build_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let context_arg = p.args[0].as_str();
    let file = p.value("file");
    if context_arg == "-" && file == Some("-") {
        return Err(usage_error("invalid argument: can't use stdin for both build context and dockerfile"));
    }
    // A git URL is cloned here and sent as a directory, as Docker's CLI does (a local
    // `github.com/...` directory is a directory).
    let _cloned;
    let cloned_root;
    let context_arg = if crate::build::git_context::is_git_url(context_arg) && !(context_arg.starts_with("github.com/") && Path::new(context_arg).exists()) {
        let dir = std::env::temp_dir().join(format!("docker-build-git{}", &crate::ids::new_id()[..12]));
        let ctx = crate::build::git_context::clone(context_arg, &dir).map_err(|e| Failure::new(format!("unable to prepare context: unable to 'git clone' to temporary context directory: {e}"), 1))?;
        cloned_root = ctx.root().to_string_lossy().into_owned();
        _cloned = ctx;
        cloned_root.as_str()
    } else {
        context_arg
    };
    // A URL is fetched by the daemon (`remote`), as Docker's CLI has it do.
    let remote = (context_arg.starts_with("http://") || context_arg.starts_with("https://")).then(|| context_arg.to_string());
    let mut dockerfile_param = file.unwrap_or("").to_string();
    let body: Vec<u8> = if remote.is_some() {
        Vec::new()
    } else if context_arg == "-" {
        let mut all = Vec::new();
        std::io::stdin().read_to_end(&mut all).map_err(|e| Failure::new(e.to_string(), 1))?;
        if looks_like_archive(&all) {
            all
        } else {
            // A Dockerfile on stdin: the context is that file alone.
            let name = random_dockerfile_name();
            let mut data = Vec::new();
            {
                let w: &mut dyn Write = &mut data;
                let mut b = tar::Builder::new(w);
                add_file(&mut b, &name, &all).map_err(|e| Failure::new(e.to_string(), 1))?;
                b.finish().map_err(|e| Failure::new(e.to_string(), 1))?;
            }
            dockerfile_param = name;
            data
        }
    } else {
        let dir = Path::new(context_arg);
        let abs = std::fs::canonicalize(dir).map_err(|_| Failure::new(format!("unable to prepare context: path {context_arg:?} not found"), 1))?;
        if !abs.is_dir() {
            return Err(Failure::new(format!("unable to prepare context: context must be a directory: {}", abs.display()), 1));
        }
        match file {
            Some("-") => {
                let mut df = Vec::new();
                std::io::stdin().read_to_end(&mut df).map_err(|e| Failure::new(e.to_string(), 1))?;
                let name = random_dockerfile_name();
                dockerfile_param = name.clone();
                context_tar(&abs, None, Some((&name, &df)))?
            }
            _ => {
                let given = file.map(Path::new);
                let df_path = match given {
                    Some(f) if f.is_absolute() => f.to_path_buf(),
                    Some(f) => std::env::current_dir().map(|c| c.join(f)).unwrap_or_else(|_| f.to_path_buf()),
                    None => {
                        let d = abs.join("Dockerfile");
                        if d.exists() || !abs.join("dockerfile").exists() {
                            d
                        } else {
                            abs.join("dockerfile")
                        }
                    }
                };
                let df_abs = std::fs::canonicalize(&df_path).map_err(|_| Failure::new(format!("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory", df_path.display()), 1))?;
                match df_abs.strip_prefix(&abs) {
                    Ok(rel) => {
                        let rel = rel.to_string_lossy().into_owned();
                        dockerfile_param = rel.clone();
                        context_tar(&abs, Some(&rel), None)?
                    }
                    Err(_) => {
                        // Outside the context: sent inside it under a name of its own.
                        let df = std::fs::read(&df_abs).map_err(|e| Failure::new(e.to_string(), 1))?;
                        let name = random_dockerfile_name();
                        dockerfile_param = name.clone();
                        context_tar(&abs, None, Some((&name, &df)))?
                    }
                }
            }
        }
    };
    if p.has("disable-content-trust") && !p.bool("disable-content-trust") {
        return Err(Failure::new("content trust (--disable-content-trust=false) is not supported by this client", 125));
    }
    let body = if p.bool("compress") && remote.is_none() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&body).and_then(|_| gz.finish()).map_err(|e| Failure::new(e.to_string(), 1))?
    } else {
        body
    };
    let quiet = p.bool("quiet");
    if !quiet && remote.is_none() {
        print_sending(body.len());
    }
    let mut query: Vec<(&str, String)> = Vec::new();
    for t in p.list("tag") {
        query.push(("t", t.to_string()));
    }
    for h in p.list("add-host") {
        query.push(("extrahosts", h.to_string()));
    }
    for s in p.list("security-opt") {
        query.push(("securityopt", s.to_string()));
    }
    if let Some(r) = &remote {
        query.push(("remote", r.clone()));
    }
    if quiet {
        query.push(("q", "1".into()));
    }
    if p.bool("no-cache") {
        query.push(("nocache", "1".into()));
    }
    query.push(("rm", if !p.has("rm") || p.bool("rm") { "1" } else { "0" }.into()));
    if p.bool("force-rm") {
        query.push(("forcerm", "1".into()));
    }
    if p.bool("pull") {
        query.push(("pull", "1".into()));
    }
    if p.bool("squash") {
        query.push(("squash", "1".into()));
    }
    if let Some(i) = p.value("isolation").filter(|i| !i.is_empty() && *i != "default") {
        query.push(("isolation", i.to_string()));
    }
    let int = |name: &str| -> Result<i64, Failure> {
        match p.value(name) {
            Some(v) => v.parse::<i64>().map_err(|_| usage_error(&format!("invalid argument \"{v}\" for \"--{name}\" flag: strconv.ParseInt: parsing \"{v}\": invalid syntax"))),
            None => Ok(0),
        }
    };
    let bytes = |name: &str| -> Result<i64, Failure> {
        match p.value(name) {
            Some("-1") if name == "memory-swap" => Ok(-1),
            Some(v) => super::resources::ram_in_bytes(v).map_err(|e| usage_error(&format!("invalid argument \"{v}\" for \"--{name}\" flag: {e}"))),
            None => Ok(0),
        }
    };
    query.push(("cpusetcpus", p.value("cpuset-cpus").unwrap_or("").to_string()));
    query.push(("networkmode", p.value("network").unwrap_or("default").to_string()));
    query.push(("cpusetmems", p.value("cpuset-mems").unwrap_or("").to_string()));
    query.push(("cpushares", int("cpu-shares")?.to_string()));
    query.push(("cpuquota", int("cpu-quota")?.to_string()));
    query.push(("cpuperiod", int("cpu-period")?.to_string()));
    query.push(("memory", bytes("memory")?.to_string()));
    query.push(("memswap", bytes("memory-swap")?.to_string()));
    query.push(("cgroupparent", p.value("cgroup-parent").unwrap_or("").to_string()));
    query.push(("shmsize", bytes("shm-size")?.to_string()));
    query.push(("dockerfile", dockerfile_param));
    query.push(("target", p.value("target").unwrap_or("").to_string()));
    let mut ulimits = Vec::new();
    for u in p.list("ulimit") {
        let (name, limits) = u.split_once('=').ok_or_else(|| usage_error(&format!("invalid argument \"{u}\" for \"--ulimit\" flag: invalid ulimit argument: {u}")))?;
        let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
        let n = |s: &str| s.parse::<i64>().map_err(|_| usage_error(&format!("invalid argument \"{u}\" for \"--ulimit\" flag: invalid ulimit argument: {u}")));
        ulimits.push(json!({"Name": name, "Soft": n(soft)?, "Hard": n(hard)?}));
    }
    query.push(("ulimits", Value::Array(ulimits).to_string()));
    let mut args = serde_json::Map::new();
    for a in p.list("build-arg") {
        match a.split_once('=') {
            Some((k, v)) => {
                args.insert(k.to_string(), json!(v));
            }
            None => {
                args.insert(a.to_string(), std::env::var(a).map(Value::String).unwrap_or(Value::Null));
            }
        }
    }
    query.push(("buildargs", Value::Object(args).to_string()));
    let mut labels = serde_json::Map::new();
    for l in p.list("label") {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), json!(v));
    }
    query.push(("labels", Value::Object(labels).to_string()));
    let cache_from: Vec<&str> = p.list("cache-from");
    query.push(("cachefrom", json!(cache_from).to_string()));
    if let Some(pl) = p.value("platform").filter(|p| !p.is_empty()) {
        query.push(("platform", pl.to_lowercase()));
    }
    query.push(("version", "1".into()));
    let api = ctx.api()?;
    let mut path = format!("/v{}/build", api.version);
    for (i, (k, v)) in query.iter().enumerate() {
        path.push(if i == 0 { '?' } else { '&' });
        path.push_str(&format!("{k}={}", crate::http::percent_encode(v)));
    }
    let mut reader: &[u8] = &body;
    let resp = crate::http::client::request_streaming(&api.endpoint, "POST", &path, &[("Content-Type", "application/x-tar")], &mut reader).map_err(|e| Failure::from(ApiError::Io(e.to_string())))?;
    if resp.status >= 400 {
        let status = resp.status;
        return Err(Failure::from(ApiError::Daemon { status, message: resp.error_message() }));
    }
    let mut image_id = String::new();
    let mut stdout = std::io::stdout();
    let r = BufReader::new(resp.into_body());
    for line in r.lines() {
        let line = line.map_err(|e| Failure::new(format!("error during connect: {e}"), 1))?;
        let Ok(msg) = serde_json::from_str::<Value>(line.trim()) else { continue };
        if let Some(detail) = msg.get("errorDetail").filter(|d| d.is_object()) {
            let message = detail.get("message").and_then(Value::as_str).or_else(|| msg.get("error").and_then(Value::as_str)).unwrap_or("").to_string();
            let code = detail.get("code").and_then(Value::as_i64).filter(|c| *c != 0).unwrap_or(1);
            return Err(Failure::new(message, code as i32));
        }
        if let Some(e) = msg.get("error").and_then(Value::as_str) {
            return Err(Failure::new(e, 1));
        }
        if let Some(id) = msg.get("aux").and_then(|a| a.get("ID")).and_then(Value::as_str) {
            image_id = id.to_string();
            continue;
        }
        if let Some(s) = msg.get("stream").and_then(Value::as_str) {
            if quiet {
                if image_id.is_empty() && s.trim().starts_with("sha256:") {
                    image_id = s.trim().to_string();
                }
                continue;
            }
            let _ = stdout.write_all(s.as_bytes());
            let _ = stdout.flush();
        } else if let Some(status) = msg.get("status").and_then(Value::as_str) {
            if quiet || msg.get("progressDetail").is_some_and(|p| p.get("current").is_some()) {
                continue;
            }
            let line = match msg.get("id").and_then(Value::as_str) {
                Some(id) => format!("{id}: {status}\n"),
                None => format!("{status}\n"),
            };
            let _ = stdout.write_all(line.as_bytes());
        }
    }
    if quiet && !image_id.is_empty() {
        out(&format!("{image_id}\n"));
    }
    if let Some(f) = p.value("iidfile") {
        if image_id.is_empty() {
            return Err(Failure::new("Server did not provide an image ID. Cannot write --iidfile", 1));
        }
        std::fs::write(f, &image_id).map_err(|e| Failure::new(format!("Failed to write image ID to file: {e}"), 1))?;
    }
    Ok(0)
}

/// Docker's note of the context's size, before the build's own output.
fn print_sending(len: usize) {
    out(&format!("Sending build context to Docker daemon  {}\n", crate::units::human_size_with_precision(len as f64, 4)));
}

fn prune_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let filters = super::verbs::filter_flags(p, &[], "--filter", "builder prune", "docker builder prune [OPTIONS]")?;
    if !p.bool("force") {
        let warning = if p.bool("all") { "WARNING! This will remove all build cache." } else { "WARNING! This will remove all dangling build cache." };
        print!("{warning} Are you sure you want to continue? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
            return Ok(0);
        }
    }
    let api = ctx.api()?;
    let mut query: Vec<(&str, String)> = Vec::new();
    if p.bool("all") {
        query.push(("all", "1".into()));
    }
    if let Some(f) = filters {
        query.push(("filters", f));
    }
    if let Some(k) = p.value("keep-storage") {
        let n = super::resources::ram_in_bytes(k).map_err(|e| usage_error(&format!("invalid argument \"{k}\" for \"--keep-storage\" flag: {e}")))?;
        query.push(("keep-storage", n.to_string()));
    }
    let v = api.json("POST", "/build/prune", &query, None)?;
    let mut text = String::new();
    if let Some(list) = v.get("CachesDeleted").and_then(Value::as_array).filter(|l| !l.is_empty()) {
        text.push_str("Deleted build cache objects:\n");
        for id in list.iter().filter_map(Value::as_str) {
            text.push_str(&format!("{id}\n"));
        }
        text.push('\n');
    }
    text.push_str(&format!("Total reclaimed space: {}\n", crate::units::human_size(v.get("SpaceReclaimed").and_then(Value::as_f64).unwrap_or(0.0))));
    out(&text);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_told_from_dockerfiles() {
        assert!(looks_like_archive(&[0x1f, 0x8b, 0x08, 0, 0]));
        assert!(!looks_like_archive(b"FROM busybox\nRUN true\n"));
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert!(looks_like_archive(&tar));
    }

    #[test]
    fn context_honours_dockerignore() {
        let d = std::env::temp_dir().join(format!("dbx-cli-ctx-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("sub/keep")).unwrap();
        std::fs::write(d.join("Dockerfile"), "FROM busybox\n").unwrap();
        std::fs::write(d.join(".dockerignore"), "*.log\nsub\n!sub/keep\nDockerfile\n").unwrap();
        std::fs::write(d.join("a.log"), "x").unwrap();
        std::fs::write(d.join("b.txt"), "x").unwrap();
        std::fs::write(d.join("sub/x"), "x").unwrap();
        std::fs::write(d.join("sub/keep/y"), "y").unwrap();
        let data = context_tar(&d, Some("Dockerfile"), None).unwrap();
        let mut names: Vec<String> = tar::Archive::new(&data[..]).entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect();
        names.sort();
        assert_eq!(names, vec![".dockerignore", "Dockerfile", "b.txt", "sub/keep/", "sub/keep/y"]);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
