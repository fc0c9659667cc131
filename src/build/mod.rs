//! Docker's classic builder (`POST /build`): a parsed Dockerfile ([`crate::dockerfile`]) run
//! step by step over the daemon's container and image services, reached only through the
//! narrow [`Backend`] trait (dockerd implements it in `daemon::build_backend`).
//!
//! Each step starts from the current image and its run config (the image's `config` object),
//! and ends with a new image whose parent is the previous one, as the classic builder does:
//! metadata steps (ENV, CMD, LABEL, ...) commit no layer; RUN runs a real container (created,
//! started, waited for and removed through the same path as `docker run`) and commits its
//! writable layer; COPY and ADD lay their sources out as a tar extracted into a new layer.
//! The cache is the classic one: a child of the current image whose `container_config`
//! equals the step's (its `Cmd` carrying the instruction, `#(nop) ...`, and COPY/ADD's
//! source checksums) is reused. The output is the classic builder's text, handed to an
//! [`Emitter`] that the API layer turns into Docker's JSON lines.

pub mod context;
pub mod copy;
pub mod git_context;

use crate::dockerfile::{self, Command, CommandLine, Dockerfile, Instruction};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The proxy args every build may pass without an ARG (kept out of the cache key unless
/// declared).
pub const BUILTIN_ARGS: [&str; 10] = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"];

const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// What the build was asked for (the honoured `POST /build` query parameters).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub tags: Vec<String>,
    pub no_cache: bool,
    pub pull: bool,
    pub remove: bool,
    pub force_remove: bool,
    pub build_args: BTreeMap<String, Option<String>>,
    pub labels: BTreeMap<String, String>,
    pub target: Option<String>,
    pub cache_from: Vec<String>,
    pub platform: Option<String>,
    /// The HostConfig of every RUN container: NetworkMode, ExtraHosts, ShmSize, Memory,
    /// MemorySwap, CpusetCpus, CpusetMems, CpuShares, CpuPeriod, CpuQuota.
    pub host_config: Map<String, Value>,
}

/// An image as the builder sees it.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    /// `sha256:<hex>`.
    pub id: String,
    /// The whole image config JSON (`config`, `container_config`, `created`, `os`, ...).
    pub json: Value,
}

/// A new image to make from a step.
pub struct CommitRequest<'a> {
    pub parent: Option<&'a str>,
    /// The container whose writable layer becomes the new layer.
    pub container: Option<&'a str>,
    /// A directory holding the new layer instead (a build from scratch).
    pub layer_dir: Option<&'a Path>,
    /// The container id recorded in the image (metadata steps name their step's).
    pub container_id: &'a str,
    pub config: Value,
    pub container_config: Value,
    pub author: &'a str,
    pub created_by: String,
}

/// The daemon services a build uses; dockerd implements it over its own.
pub trait Backend: Sync {
    /// A local image by name or id.
    fn image(&self, name: &str) -> Option<ImageInfo>;
    /// Pulls `name`, handing Docker's progress messages to `progress`.
    fn pull(&self, name: &str, platform: Option<&str>, progress: &mut dyn FnMut(&Value)) -> std::result::Result<ImageInfo, String>;
    /// The images made from `id` by a build or commit (its children).
    fn children(&self, id: &str) -> Vec<ImageInfo>;
    /// The parent recorded for `id`, if it was made here.
    fn parent(&self, id: &str) -> Option<String>;
    /// Creates a container of `image` (not started) from `config` and `host_config`.
    fn create_container(&self, image: &str, config: &Value, host_config: &Value) -> std::result::Result<String, String>;
    /// Starts the container, hands its output to `output` (`true` for stderr) and returns its
    /// exit code; `cancelled` turning true kills it.
    fn run_container(&self, id: &str, output: &mut dyn FnMut(bool, &[u8]), cancelled: &AtomicBool) -> std::result::Result<i64, String>;
    /// Runs `f` with the container's root filesystem mounted at the path it is given.
    fn with_container_root(&self, id: &str, f: &mut dyn FnMut(&Path) -> std::result::Result<(), String>) -> std::result::Result<(), String>;
    /// Makes an image from a step; returns its id.
    fn commit(&self, req: &CommitRequest) -> std::result::Result<String, String>;
    fn remove_container(&self, id: &str) -> std::result::Result<(), String>;
    fn tag(&self, image_id: &str, reference: &str) -> std::result::Result<(), String>;
    /// Records `parent` as the parent of the image `id` (a `--cache-from` image adopted).
    fn set_parent(&self, id: &str, parent: &str) -> std::result::Result<(), String>;
    /// Stores an image config whose layers are all present, with its parent; returns its id.
    fn create_image(&self, config: &Value, parent: Option<&str>) -> std::result::Result<String, String>;
    /// A private directory for the build's scratch files (removed by the caller).
    fn scratch_dir(&self) -> PathBuf;
}

/// Where the build's output goes.
pub trait Emitter {
    /// Text for the client (a `{"stream": ...}` message).
    fn stream(&mut self, text: &str);
    /// A RUN step's stderr.
    fn stderr(&mut self, text: &str);
    /// A message passed on whole (pull progress).
    fn raw(&mut self, message: &Value);
    /// `{"aux": ...}`.
    fn aux(&mut self, value: Value);
}

/// A failed build: Docker's message, and the exit code for a failed RUN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    pub message: String,
    pub code: Option<i64>,
}

impl BuildError {
    fn new(message: impl Into<String>) -> BuildError {
        BuildError { message: message.into(), code: None }
    }
}

type Result<T> = std::result::Result<T, BuildError>;

/// The first 12 hex digits of an id, `sha256:` dropped.
pub fn short_id(id: &str) -> String {
    id.strip_prefix("sha256:").unwrap_or(id).chars().take(12).collect()
}

/// Go's `time.Duration` String form (`0s`, `1m30s`, `1.5s`, `300ms`).
fn go_duration(d: std::time::Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    let frac = |v: u128, unit: u128, suffix: &str| {
        let whole = v / unit;
        let rest = v % unit;
        if rest == 0 {
            format!("{whole}{suffix}")
        } else {
            let digits = format!("{:0width$}", rest, width = unit.to_string().len() - 1);
            format!("{whole}.{}{suffix}", digits.trim_end_matches('0'))
        }
    };
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return frac(ns, 1_000, "\u{b5}s");
    }
    if ns < 1_000_000_000 {
        return frac(ns, 1_000_000, "ms");
    }
    let secs = ns / 1_000_000_000;
    let sub = ns % 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&frac(s * 1_000_000_000 + sub, 1_000_000_000, "s"));
    out
}

/// Go's `%q` of a string slice: `["a" "b"]`.
fn go_quote_list(list: &[String]) -> String {
    let words: Vec<String> = list.iter().map(|s| serde_json::to_string(s).unwrap_or_default()).collect();
    format!("[{}]", words.join(" "))
}

fn history_of(image: &Value) -> Vec<Value> {
    image.get("history").and_then(Value::as_array).cloned().unwrap_or_default()
}

/// Two history entries as Go compares the structs they decode to: the same instant, author,
/// command, comment and empty-layer flag, however each config spelled them.
fn same_history_entry(a: &Value, b: &Value) -> bool {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let created = |v: &Value| v.get("created").and_then(Value::as_str).and_then(crate::sys::parse_rfc3339);
    let empty = |v: &Value| v.get("empty_layer").and_then(Value::as_bool).unwrap_or(false);
    created(a) == created(b) && ["author", "created_by", "comment"].iter().all(|k| text(a, k) == text(b, k)) && empty(a) == empty(b)
}

fn diff_ids_of(image: &Value) -> Vec<Value> {
    image.pointer("/rootfs/diff_ids").and_then(Value::as_array).cloned().unwrap_or_default()
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array).map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
}

/// Build args: those given, those declared (ARG) in the stage, and the ARGs before FROM.
#[derive(Debug, Clone, Default)]
struct BuildArgs {
    given: BTreeMap<String, Option<String>>,
    /// Declared in this stage, in order, with their defaults.
    declared: Vec<(String, Option<String>)>,
    meta: BTreeMap<String, Option<String>>,
    referenced: BTreeSet<String>,
}

impl BuildArgs {
    fn value(&self, key: &str) -> Option<String> {
        if let Some(Some(v)) = self.given.get(key) {
            return Some(v.clone());
        }
        if let Some((_, Some(v))) = self.declared.iter().rev().find(|(k, _)| k == key) {
            return Some(v.clone());
        }
        self.meta.get(key).cloned().flatten()
    }

    fn declare(&mut self, key: &str, default: Option<String>) {
        self.referenced.insert(key.to_string());
        let default = default.or_else(|| self.meta.get(key).cloned().flatten());
        self.declared.push((key.to_string(), default));
    }

    /// The meta args' values (for FROM lines).
    fn meta_value(&self, key: &str) -> Option<String> {
        if !self.meta.contains_key(key) {
            return None;
        }
        if let Some(Some(v)) = self.given.get(key) {
            return Some(v.clone());
        }
        self.meta.get(key).cloned().flatten()
    }

    /// Docker's `FilterAllowed`: `k=v` of the declared args and given builtin args that the
    /// stage's ENV does not set.
    fn allowed_env(&self, env: &[String]) -> Vec<String> {
        let in_env = |k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for (k, _) in &self.declared {
            if seen.insert(k.clone()) && !in_env(k) {
                if let Some(v) = self.value(k) {
                    out.push(format!("{k}={v}"));
                }
            }
        }
        for k in BUILTIN_ARGS {
            if !seen.contains(k) && !in_env(k) {
                if let Some(Some(v)) = self.given.get(k) {
                    out.push(format!("{k}={v}"));
                }
            }
        }
        out
    }

    fn counts_in_cache_key(&self, key: &str) -> bool {
        self.declared.iter().any(|(k, _)| k == key) || !BUILTIN_ARGS.contains(&key)
    }
}

/// One stage's state: the current image and its run config.
struct State {
    image_id: Option<String>,
    config: Map<String, Value>,
    args: BuildArgs,
    /// What the metadata dispatch remembers (a CMD given, MAINTAINER).
    dispatch: crate::image::run_config::DispatchState,
    /// The `--cache-from` image the cache follows once one step came from it.
    cache_source: Option<String>,
}

impl State {
    fn env(&self) -> Vec<String> {
        string_list(self.config.get("Env"))
    }

    fn shell(&self) -> Vec<String> {
        let s = string_list(self.config.get("Shell"));
        if s.is_empty() {
            DEFAULT_SHELL.iter().map(|s| s.to_string()).collect()
        } else {
            s
        }
    }

    fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |k: &str| {
            let env = self.env();
            if let Some(v) = env.iter().rev().find_map(|e| e.strip_prefix(&format!("{k}=")).map(String::from)) {
                return Some(v);
            }
            self.args.allowed_env(&env).iter().find_map(|e| e.strip_prefix(&format!("{k}=")).map(String::from))
        }
    }
}

/// What a finished stage left: its name and image.
struct StageResult {
    name: Option<String>,
    image_id: Option<String>,
}

/// Runs a build. `ctx` is the extracted context; returns the final image id.
pub struct Build<'a> {
    pub backend: &'a dyn Backend,
    pub options: &'a Options,
    pub context_root: &'a Path,
    /// The context's tarsums (`None`: hash its files from disk).
    pub context_sums: Option<&'a copy::ContextSums>,
    pub cancelled: &'a AtomicBool,
}

impl Build<'_> {
    pub fn run(&self, df: &Dockerfile, out: &mut dyn Emitter) -> Result<String> {
        let mut stages: Vec<dockerfile::Stage> = df.stages.clone();
        if let Some(target) = &self.options.target {
            match df.stage_index(target) {
                Some(i) => stages.truncate(i + 1),
                None => return Err(BuildError::new(format!("failed to reach build target {target} in Dockerfile"))),
            }
        }
        // `--label`s: one LABEL step each at the end of the last stage, as Docker adds them.
        if let Some(last) = stages.last_mut() {
            for (k, v) in &self.options.labels {
                let text = format!("LABEL {k}={v}");
                last.instructions.push(Instruction {
                    source: dockerfile::Source { original: text.clone(), keyword: "LABEL".into(), start_line: 0, end_line: 0 },
                    command: Command::Label(vec![dockerfile::KeyValue { key: k.clone(), value: v.clone(), legacy_form: false }]),
                });
            }
        }
        for w in &df.warnings {
            out.stream(&format!("[WARNING]: {w}\n"));
        }
        let total = df.args_before_from.len() + stages.iter().map(|s| 1 + s.instructions.len()).sum::<usize>();
        let mut step = 1;
        let mut args = BuildArgs { given: self.options.build_args.clone(), ..Default::default() };
        for a in &df.args_before_from {
            out.stream(&format!("Step {step}/{total} : {}\n", a.source.original));
            step += 1;
            for def in &a.args {
                let lookup = |k: &str| args.meta_value(k);
                let key = dockerfile::shell::expand(&def.key, &lookup, df.escape).map_err(|e| BuildError::new(e.0))?;
                let value = match &def.value {
                    Some(v) => Some(dockerfile::shell::expand(v, &lookup, df.escape).map_err(|e| BuildError::new(e.0))?),
                    None => None,
                };
                args.referenced.insert(key.clone());
                args.meta.insert(key, value);
            }
        }
        let mut results: Vec<StageResult> = Vec::new();
        let mut last_image: Option<String> = None;
        for stage in &stages {
            self.check_cancelled(out)?;
            out.stream(&format!("Step {step}/{total} : {}\n", stage.source.original));
            step += 1;
            let mut state = self.begin_stage(stage, &args, &results, df.escape, out)?;
            out.stream(&format!(" ---> {}\n", short_id(state.image_id.as_deref().unwrap_or(""))));
            self.run_triggers(&mut state, df.escape, out)?;
            for inst in &stage.instructions {
                self.check_cancelled(out)?;
                out.stream(&format!("Step {step}/{total} : {}\n", inst.source.original));
                step += 1;
                self.dispatch(&mut state, inst, df.escape, &results, out)?;
                out.stream(&format!(" ---> {}\n", short_id(state.image_id.as_deref().unwrap_or(""))));
            }
            if let Some(id) = &state.image_id {
                out.aux(json!({"ID": id}));
            }
            args.referenced.extend(state.args.referenced.iter().cloned());
            last_image = state.image_id.clone();
            results.push(StageResult { name: stage.name.clone(), image_id: state.image_id });
        }
        let unused: Vec<&String> = self.options.build_args.keys().filter(|k| !args.referenced.contains(*k) && !BUILTIN_ARGS.contains(&k.as_str())).collect();
        if !unused.is_empty() {
            let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            out.stream(&format!("[Warning] One or more build-args [{}] were not consumed\n", names.join(" ")));
        }
        last_image.ok_or_else(|| BuildError::new("No image was generated. Is your Dockerfile empty?"))
    }

    fn check_cancelled(&self, out: &mut dyn Emitter) -> Result<()> {
        if self.cancelled.load(Ordering::Relaxed) {
            out.stream("Build cancelled\n");
            return Err(BuildError::new("Build cancelled"));
        }
        Ok(())
    }

    /// FROM: the base image (a stage's, a local one, or pulled), its config as the run config.
    fn begin_stage(&self, stage: &dockerfile::Stage, args: &BuildArgs, results: &[StageResult], escape: char, out: &mut dyn Emitter) -> Result<State> {
        let lookup = |k: &str| args.meta_value(k);
        let name = dockerfile::shell::expand(&stage.base_name, &lookup, escape).map_err(|e| BuildError::new(e.0))?;
        if name.is_empty() {
            return Err(BuildError::new("base name (".to_string() + &stage.base_name + ") should not be blank"));
        }
        let platform = match &stage.platform {
            Some(p) => Some(dockerfile::shell::expand(p, &lookup, escape).map_err(|e| BuildError::new(format!("failed to process arguments for platform {p}: {}", e.0)))?),
            None => self.options.platform.clone(),
        };
        let stage_args = BuildArgs { given: args.given.clone(), meta: args.meta.clone(), ..Default::default() };
        let image = if name.eq_ignore_ascii_case("scratch") {
            None
        } else if let Some(r) = results.iter().rev().find(|r| r.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(&name))) {
            match &r.image_id {
                Some(id) => Some(self.backend.image(id).ok_or_else(|| BuildError::new(format!("No such image: {id}")))?),
                None => None,
            }
        } else {
            Some(self.base_image(&name, platform.as_deref(), out)?)
        };
        let mut config = image.as_ref().and_then(|i| i.json.get("config")).and_then(Value::as_object).cloned().unwrap_or_default();
        if config.get("Env").is_none_or(Value::is_null) {
            // Docker's default PATH for a stage whose image has no Env.
            config.insert("Env".into(), json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]));
        }
        Ok(State { image_id: image.map(|i| i.id), config, args: stage_args, dispatch: Default::default(), cache_source: None })
    }

    fn base_image(&self, name: &str, platform: Option<&str>, out: &mut dyn Emitter) -> Result<ImageInfo> {
        if !self.options.pull {
            if let Some(i) = self.backend.image(name) {
                return Ok(i);
            }
        }
        // An id is never pulled.
        let bare = name.strip_prefix("sha256:").unwrap_or(name);
        if bare.len() == 64 && bare.bytes().all(|b| b.is_ascii_hexdigit()) {
            return self.backend.image(name).ok_or_else(|| BuildError::new(format!("No such image: {name}")));
        }
        self.backend.pull(name, platform, &mut |m| out.raw(m)).map_err(BuildError::new)
    }

    /// The base image's ONBUILD triggers, run right after FROM.
    fn run_triggers(&self, state: &mut State, escape: char, out: &mut dyn Emitter) -> Result<()> {
        let triggers = string_list(state.config.get("OnBuild"));
        if triggers.is_empty() {
            return Ok(());
        }
        // Cleared as Docker's builder clears them (null, not an empty list).
        state.config.insert("OnBuild".into(), Value::Null);
        out.stream(&format!("# Executing {} build trigger{}\n", triggers.len(), if triggers.len() == 1 { "" } else { "s" }));
        for t in triggers {
            let parsed = dockerfile::parse_commands(&t).map_err(|e| BuildError::new(e.to_string()))?;
            for (keyword, inst) in parsed {
                if matches!(keyword.to_uppercase().as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                    return Err(BuildError::new(format!("{} isn't allowed as an ONBUILD trigger", keyword.to_uppercase())));
                }
                let inst = inst.map_err(|e| BuildError::new(e.to_string()))?;
                self.dispatch(state, &inst, escape, &[], out)?;
            }
        }
        Ok(())
    }

    fn dispatch(&self, state: &mut State, inst: &Instruction, escape: char, results: &[StageResult], out: &mut dyn Emitter) -> Result<()> {
        if let Some(refusal) = inst.command.classic_builder_refusal() {
            return Err(BuildError::new(refusal));
        }
        if let Some(id) = &state.image_id {
            state.config.insert("Image".into(), json!(id));
        }
        let command = {
            let lookup = state.lookup();
            inst.command.expand(&lookup, escape).map_err(|e| BuildError::new(e.0))?
        };
        if let Some(comment) = metadata_comment(&command) {
            crate::image::run_config::apply(&mut state.config, &mut state.dispatch, &command).map_err(BuildError::new)?;
            return match &command {
                Command::Workdir(_) => {
                    let wd = state.config.get("WorkingDir").and_then(Value::as_str).unwrap_or("/").to_string();
                    self.commit_workdir(state, &wd, out)
                }
                Command::Cmd(_) => {
                    let cmd = string_list(state.config.get("Cmd"));
                    self.commit_metadata(state, &format!("CMD {}", go_quote_list(&cmd)), false, out)
                }
                Command::Entrypoint(_) => {
                    let ep = string_list(state.config.get("Entrypoint"));
                    self.commit_metadata(state, &format!("ENTRYPOINT {}", go_quote_list(&ep)), false, out)
                }
                _ => self.commit_metadata(state, &comment, false, out),
            };
        }
        match command {
            Command::Arg(defs) => {
                let mut parts = Vec::new();
                for d in &defs {
                    parts.push(match &d.value {
                        Some(v) => format!("{}={v}", d.key),
                        None => d.key.clone(),
                    });
                    state.args.declare(&d.key, d.value.clone());
                }
                self.commit_metadata(state, &format!("ARG {}", parts.join(" ")), false, out)
            }
            Command::Run(r) => self.run_step(state, &r.command, out),
            Command::Copy(c) => {
                let from = match &c.from {
                    Some(f) => Some(self.copy_source_image(f, results, out)?),
                    None => None,
                };
                self.copy_step(state, "COPY", &c.spec, from.as_ref(), false, out)
            }
            Command::Add(a) => self.copy_step(state, "ADD", &a.spec, None, true, out),
            _ => Ok(()),
        }
    }

    /// RUN/CMD/ENTRYPOINT words: the exec form as written, the shell form behind SHELL.
    fn command_words(&self, state: &State, cl: &CommandLine) -> Vec<String> {
        if cl.prepend_shell {
            let mut words = state.shell();
            words.push(cl.args.join(" "));
            words
        } else {
            cl.args.clone()
        }
    }

    /// The cached image for a step, if any: a child of the current image whose container
    /// config is the step's (newest first), else one from `--cache-from` images
    /// ([`Build::probe_cache_from`]).
    fn probe_cache(&self, state: &mut State, container_config: &Value, out: &mut dyn Emitter) -> bool {
        if self.options.no_cache {
            return false;
        }
        let Some(parent) = state.image_id.clone() else { return false };
        let mut candidates: Vec<ImageInfo> = self.backend.children(&parent);
        candidates.sort_by(|a, b| b.json.get("created").and_then(Value::as_str).cmp(&a.json.get("created").and_then(Value::as_str)));
        let hit = candidates.into_iter().find(|c| c.json.get("container_config").is_some_and(|cc| same_config(cc, container_config))).map(|i| i.id);
        match hit.or_else(|| self.probe_cache_from(state, &parent, container_config)) {
            Some(id) => {
                out.stream(" ---> Using cache\n");
                state.image_id = Some(id);
                true
            }
            None => false,
        }
    }

    /// Docker's cache of `--cache-from` images (`image/cache.ImageCache`), which need not
    /// have been built here: a source whose history and layers begin with the parent's, and
    /// whose next history entry was made by the step's command (`created_by` is its Cmd
    /// joined by spaces). When that entry is the source's last, the source itself is the
    /// step's image (made a child of the parent); otherwise an image is made of the parent
    /// and that one entry (and its layer, if it has one), and the build follows that source
    /// alone from then on.
    fn probe_cache_from(&self, state: &mut State, parent_id: &str, container_config: &Value) -> Option<String> {
        if self.options.cache_from.is_empty() {
            return None;
        }
        let parent = self.backend.image(parent_id)?;
        let parent_history = history_of(&parent.json);
        let parent_layers = diff_ids_of(&parent.json);
        let created_by = string_list(container_config.get("Cmd")).join(" ");
        let names: Vec<String> = match &state.cache_source {
            Some(id) => vec![id.clone()],
            None => self.options.cache_from.clone(),
        };
        for name in names {
            let Some(target) = self.backend.image(&name) else { continue };
            let history = history_of(&target.json);
            let layers = diff_ids_of(&target.json);
            let continues_parent = !history.is_empty()
                && ((parent_history.is_empty() && parent_layers.is_empty())
                    || (parent_history.len() < history.len()
                        && parent_layers.len() <= layers.len()
                        && history.iter().zip(&parent_history).all(|(a, b)| same_history_entry(a, b))
                        && layers[..parent_layers.len()] == parent_layers[..]));
            if !continues_parent {
                continue;
            }
            let n = parent_history.len();
            let Some(entry) = history.get(n) else { continue };
            if entry.get("created_by").and_then(Value::as_str).unwrap_or("") != created_by {
                continue;
            }
            if n + 1 == history.len() {
                self.backend.set_parent(&target.id, parent_id).ok()?;
                return Some(target.id);
            }
            // The entry's layer: the one after as many layers as non-empty entries before it.
            let mut rootfs = parent_layers.clone();
            if !entry.get("empty_layer").and_then(Value::as_bool).unwrap_or(false) {
                let index = history[..n].iter().filter(|h| !h.get("empty_layer").and_then(Value::as_bool).unwrap_or(false)).count();
                rootfs.push(layers.get(index)?.clone());
            }
            let mut restored = Map::new();
            restored.insert("architecture".into(), target.json.get("architecture").cloned().unwrap_or(Value::Null));
            if let Some(a) = target.json.get("author") {
                restored.insert("author".into(), a.clone());
            }
            restored.insert("config".into(), Value::Object(state.config.clone()));
            restored.insert("container_config".into(), container_config.clone());
            restored.insert("created".into(), entry.get("created").cloned().unwrap_or(Value::Null));
            let mut new_history = parent_history.clone();
            new_history.push(entry.clone());
            restored.insert("history".into(), Value::Array(new_history));
            restored.insert("os".into(), target.json.get("os").cloned().unwrap_or_else(|| json!("linux")));
            restored.insert("rootfs".into(), json!({"type": "layers", "diff_ids": rootfs}));
            for key in ["os.version", "os.features", "variant"] {
                if let Some(v) = target.json.get(key) {
                    restored.insert(key.into(), v.clone());
                }
            }
            let id = self.backend.create_image(&Value::Object(restored), Some(parent_id)).ok()?;
            state.cache_source = Some(target.id);
            return Some(id);
        }
        None
    }

    fn config_with_cmd(&self, state: &State, cmd: Vec<String>) -> Value {
        let mut c = state.config.clone();
        c.insert("Cmd".into(), json!(cmd));
        Value::Object(c)
    }

    /// A step that changes only the config: the classic builder's commit of a container of
    /// the `#(nop)` command. With `rm` the step's container is never made (it would run
    /// nothing and be removed at once); without it, it is made and left, as Docker leaves it.
    fn commit_metadata(&self, state: &mut State, comment: &str, single_arg: bool, out: &mut dyn Emitter) -> Result<()> {
        let mut cmd = state.shell();
        if single_arg {
            cmd.push(format!("#(nop) {comment}"));
        } else {
            cmd.push("#(nop) ".into());
            cmd.push(comment.into());
        }
        let container_config = self.config_with_cmd(state, cmd);
        if self.probe_cache(state, &container_config, out) {
            return Ok(());
        }
        let keep_container = !self.options.remove && !self.options.force_remove && state.image_id.is_some();
        let container_id = if keep_container {
            self.backend.create_container(state.image_id.as_deref().unwrap_or(""), &container_config, &Value::Object(self.run_host_config())).map_err(BuildError::new)?
        } else {
            crate::ids::new_id()
        };
        out.stream(&format!(" ---> Running in {}\n", short_id(&container_id)));
        let id = self.commit(state, None, None, &container_id, container_config)?;
        if !keep_container {
            out.stream(&format!("Removing intermediate container {}\n", short_id(&container_id)));
        }
        state.image_id = Some(id);
        Ok(())
    }

    /// WORKDIR: its directory made in a layer (only when the image lacks it), as Docker's
    /// ContainerCreateWorkdir does.
    fn commit_workdir(&self, state: &mut State, wd: &str, out: &mut dyn Emitter) -> Result<()> {
        let mut cmd = state.shell();
        cmd.push(format!("#(nop) WORKDIR {wd}"));
        let container_config = self.config_with_cmd(state, cmd);
        if self.probe_cache(state, &container_config, out) {
            return Ok(());
        }
        let Some(parent) = state.image_id.clone() else {
            let dir = self.scratch_layer()?;
            std::fs::create_dir_all(dir.join(wd.trim_start_matches('/'))).map_err(|e| BuildError::new(e.to_string()))?;
            let container_id = crate::ids::new_id();
            out.stream(&format!(" ---> Running in {}\n", short_id(&container_id)));
            let r = self.commit(state, None, Some(&dir), &container_id, container_config);
            let _ = std::fs::remove_dir_all(&dir);
            out.stream(&format!("Removing intermediate container {}\n", short_id(&container_id)));
            state.image_id = Some(r?);
            return Ok(());
        };
        let container = self.backend.create_container(&parent, &container_config, &Value::Object(self.run_host_config())).map_err(BuildError::new)?;
        out.stream(&format!(" ---> Running in {}\n", short_id(&container)));
        let made = self.backend.with_container_root(&container, &mut |root| {
            let target = copy::resolve_scoped(root, wd.trim_start_matches('/')).map_err(|e| e.to_string())?;
            if !target.exists() {
                std::fs::create_dir_all(&target).map_err(|e| format!("mkdir {wd}: {e}"))?;
            }
            Ok(())
        });
        let result = made.map_err(BuildError::new).and_then(|_| self.commit(state, Some(&container), None, &container, container_config));
        self.finish_container(&container, result.is_ok(), out);
        state.image_id = Some(result?);
        Ok(())
    }

    fn scratch_layer(&self) -> Result<PathBuf> {
        let dir = self.backend.scratch_dir().join(format!("layer-{}", &crate::ids::new_id()[..12]));
        std::fs::create_dir_all(&dir).map_err(|e| BuildError::new(e.to_string()))?;
        Ok(dir)
    }

    /// Docker's `rm`/`forcerm` at the end of a step that made a container.
    fn finish_container(&self, id: &str, ok: bool, out: &mut dyn Emitter) {
        if self.options.force_remove || (self.options.remove && ok) {
            match self.backend.remove_container(id) {
                Ok(()) => out.stream(&format!("Removing intermediate container {}\n", short_id(id))),
                Err(e) => out.stream(&format!("Error removing intermediate container {}: {e}\n", short_id(id))),
            }
        }
    }

    fn commit(&self, state: &State, container: Option<&str>, layer_dir: Option<&Path>, container_id: &str, container_config: Value) -> Result<String> {
        let created_by = string_list(container_config.get("Cmd")).join(" ");
        let mut config = state.config.clone();
        if let Some(id) = &state.image_id {
            config.insert("Image".into(), json!(id));
        }
        let req = CommitRequest {
            parent: state.image_id.as_deref(),
            container,
            layer_dir,
            container_id,
            config: Value::Object(config),
            container_config,
            author: state.dispatch.maintainer.as_deref().unwrap_or(""),
            created_by,
        };
        self.backend.commit(&req).map_err(BuildError::new)
    }

    /// The HostConfig of a build's containers (the build's resources and network).
    fn run_host_config(&self) -> Map<String, Value> {
        let mut hc = self.options.host_config.clone();
        hc.insert("LogConfig".into(), json!({"Type": "none", "Config": {}}));
        hc
    }

    fn run_step(&self, state: &mut State, cl: &CommandLine, out: &mut dyn Emitter) -> Result<()> {
        let cmd = self.command_words(state, cl);
        let env = state.env();
        let build_env = state.args.allowed_env(&env);
        let mut save_cmd = cmd.clone();
        if !build_env.is_empty() {
            let mut keyed: Vec<String> = build_env.iter().filter(|e| state.args.counts_in_cache_key(e.split('=').next().unwrap_or(""))).cloned().collect();
            keyed.sort();
            save_cmd = std::iter::once(format!("|{}", keyed.len())).chain(keyed).chain(cmd.iter().cloned()).collect();
        }
        let mut probe = state.config.clone();
        probe.insert("Cmd".into(), json!(save_cmd));
        probe.insert("Entrypoint".into(), Value::Null);
        let probe = Value::Object(probe);
        if self.probe_cache(state, &probe, out) {
            return Ok(());
        }
        let Some(parent) = state.image_id.clone() else {
            return Err(BuildError::new(format!("The command '{}' returned a non-zero code: 127: exec: \"{}\": stat {}: no such file or directory", cmd.join(" "), cmd[0], cmd[0])));
        };
        let mut run = state.config.clone();
        run.insert("Cmd".into(), json!(cmd));
        let mut run_env = env.clone();
        run_env.extend(build_env);
        run.insert("Env".into(), json!(run_env));
        run.insert("Entrypoint".into(), json!([""]));
        run.insert("Healthcheck".into(), json!({"Test": ["NONE"]}));
        run.insert("AttachStdout".into(), json!(true));
        run.insert("AttachStderr".into(), json!(true));
        let container = self.backend.create_container(&parent, &Value::Object(run), &Value::Object(self.run_host_config())).map_err(BuildError::new)?;
        out.stream(&format!(" ---> Running in {}\n", short_id(&container)));
        let exit = self.backend.run_container(&container, &mut |is_err, data| {
            let text = String::from_utf8_lossy(data);
            if is_err {
                out.stderr(&text)
            } else {
                out.stream(&text)
            }
        }, self.cancelled);
        if self.cancelled.load(Ordering::Relaxed) {
            // The client went away: the step's container goes whatever rm says.
            let _ = self.backend.remove_container(&container);
            return Err(BuildError::new("Build cancelled"));
        }
        let result = match exit {
            Ok(0) => self.commit(state, Some(&container), None, &container, probe),
            Ok(code) => Err(BuildError { message: format!("The command '{}' returned a non-zero code: {code}", cmd.join(" ")), code: Some(code) }),
            Err(e) => Err(BuildError::new(e)),
        };
        self.finish_container(&container, result.is_ok(), out);
        state.image_id = Some(result?);
        Ok(())
    }

    /// `COPY --from`'s source: a stage (by name or index) or an image (pulled when missing).
    fn copy_source_image(&self, from: &str, results: &[StageResult], out: &mut dyn Emitter) -> Result<Option<String>> {
        if let Some(r) = results.iter().rev().find(|r| r.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(from))) {
            return Ok(r.image_id.clone());
        }
        if let Ok(i) = from.parse::<usize>() {
            return match results.get(i) {
                Some(r) => Ok(r.image_id.clone()),
                None => Err(BuildError::new(format!("invalid from flag value {from}: refers to current build stage"))),
            };
        }
        if from.eq_ignore_ascii_case("scratch") {
            return Ok(None);
        }
        self.base_image(from, self.options.platform.as_deref(), out).map(|i| Some(i.id)).map_err(|e| BuildError::new(format!("invalid from flag value {from}: {}", e.message)))
    }

    #[allow(clippy::too_many_arguments)]
    fn copy_step(&self, state: &mut State, name: &str, spec: &dockerfile::CopySpec, from: Option<&Option<String>>, allow_archive: bool, out: &mut dyn Emitter) -> Result<()> {
        // Sources: from the context, or from another stage's or image's root, mounted through
        // a container of it (never started) for the whole copy.
        let from_container = match from {
            Some(Some(image)) => Some(self.backend.create_container(image, &json!({"Cmd": ["/bin/sh", "-c", "#(nop) "]}), &json!({})).map_err(BuildError::new)?),
            _ => None,
        };
        let result = match (&from_container, from) {
            (Some(c), _) => {
                let mut r = Ok(());
                let mounted = self.backend.with_container_root(c, &mut |root| {
                    r = self.copy_from(state, name, spec, root, true, allow_archive, out);
                    Ok(())
                });
                mounted.map_err(|m| BuildError::new(format!("{name} failed: {m}"))).and(r)
            }
            (None, Some(None)) => {
                // `--from` a stage or image without files (scratch): an empty root.
                let empty = self.scratch_layer()?;
                let r = self.copy_from(state, name, spec, &empty, true, allow_archive, out);
                let _ = std::fs::remove_dir_all(&empty);
                r
            }
            _ => self.copy_from(state, name, spec, self.context_root, false, allow_archive, out),
        };
        if let Some(c) = from_container {
            let _ = self.backend.remove_container(&c);
        }
        result
    }

    /// COPY/ADD with its sources in `src_root`: checksummed, probed in the cache, then laid
    /// out as a tar and extracted into a new layer on the current image.
    #[allow(clippy::too_many_arguments)]
    fn copy_from(&self, state: &mut State, name: &str, spec: &dockerfile::CopySpec, src_root: &Path, from_image: bool, allow_archive: bool, out: &mut dyn Emitter) -> Result<()> {
        let fail = |m: String| BuildError::new(format!("{name} failed: {m}"));
        let mode = match &spec.chmod {
            Some(m) => Some(u32::from_str_radix(m, 8).ok().filter(|v| *v <= 0o7777).ok_or_else(|| BuildError::new(format!("invalid chmod parameter: {m}")))?),
            None => None,
        };
        let staging = self.scratch_layer()?;
        let sums = match self.context_sums {
            Some(map) if !from_image => copy::Sums::Archive(map),
            _ => copy::Sums::Disk,
        };
        let mut infos = Vec::new();
        for s in &spec.sources {
            let found = if allow_archive && copy::is_url(s) { copy::fetch_url(s, &staging.join("urls")).map(|i| vec![i]) } else { copy::find_sources(src_root, s, allow_archive, from_image, sums) };
            match found {
                Ok(list) => infos.extend(list),
                Err(m) => {
                    let _ = std::fs::remove_dir_all(&staging);
                    return Err(fail(m));
                }
            }
        }
        if infos.is_empty() {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(fail("no source files were specified".into()));
        }
        let dest_raw = spec.dest.clone();
        let workdir = state.config.get("WorkingDir").and_then(Value::as_str).unwrap_or("").to_string();
        let dest_abs = if dest_raw.starts_with('/') { dest_raw.clone() } else { format!("{}/{dest_raw}", workdir.trim_end_matches('/')) };
        let wants_dir = dest_raw.ends_with('/') || dest_raw == "." || dest_raw.ends_with("/.");
        if infos.len() > 1 && !wants_dir {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(BuildError::new(format!("When using {name} with more than one source file, the destination must be a directory and end with a /")));
        }
        let mut hash = copy::sources_hash(&infos);
        if let Some(m) = mode {
            hash = format!("{hash} --chmod={m:o}");
        }
        let chown_comment = spec.chown.as_ref().map(|c| format!("--chown={c}")).unwrap_or_default();
        let mut cmd = state.shell();
        cmd.push(format!("#(nop) {name} {chown_comment}{hash} in {dest_raw} "));
        let container_config = self.config_with_cmd(state, cmd);
        if self.probe_cache(state, &container_config, out) {
            let _ = std::fs::remove_dir_all(&staging);
            return Ok(());
        }
        // Ownership: --chown (names from the destination's /etc files), else root, else
        // (COPY --from) the source's own.
        let write = |root: Option<&Path>, dest: &str, dest_is_dir: bool| -> std::result::Result<PathBuf, String> {
            let ids = match &spec.chown {
                Some(c) => Some(copy::parse_chown(c, root)?),
                None if from_image => None,
                None => Some((0, 0)),
            };
            let path = staging.join("copy.tar");
            let mut f = std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| e.to_string())?);
            copy::write_tar(&mut f, &infos, dest, dest_is_dir, copy::Ownership { ids, mode }).map_err(|e| e.to_string())?;
            std::io::Write::flush(&mut f).map_err(|e| e.to_string())?;
            Ok(path)
        };
        let extract = |tar: &Path, root: &Path| -> std::result::Result<(), String> {
            let f = std::fs::File::open(tar).map_err(|e| e.to_string())?;
            crate::archive::extract_layer(f, root, crate::archive::Whiteouts::Keep).map(|_| ()).map_err(|e| e.to_string())
        };
        let id = match state.image_id.clone() {
            None => {
                let layer = staging.join("layer");
                let made = std::fs::create_dir_all(&layer).map_err(|e| e.to_string()).and_then(|_| write(None, dest_abs.trim_start_matches('/'), wants_dir)).and_then(|tar| extract(&tar, &layer));
                made.map_err(fail).and_then(|_| self.commit(state, None, Some(&layer), "", container_config))
            }
            Some(parent) => {
                let container = self.backend.create_container(&parent, &container_config, &json!({})).map_err(BuildError::new)?;
                let copied = self.backend.with_container_root(&container, &mut |root| {
                    // The destination as Docker's ResolveScopedPath finds it: symlinks in it
                    // (its last part too) followed inside the image's root, so a COPY to a
                    // path under a linked directory lands in the directory linked to.
                    let resolved = copy::resolve_scoped(root, dest_abs.trim_start_matches('/')).map_err(|e| e.to_string())?;
                    let dest = resolved.strip_prefix(root).map_err(|_| format!("{dest_raw} is outside the image's root"))?.to_string_lossy().into_owned();
                    // A destination naming an existing directory takes the sources into it.
                    let existing_dir = resolved.is_dir();
                    let tar = write(Some(root), &dest, wants_dir || existing_dir)?;
                    extract(&tar, root)
                });
                let r = copied.map_err(fail).and_then(|_| self.commit(state, Some(&container), None, "", container_config));
                let _ = self.backend.remove_container(&container);
                r
            }
        };
        let _ = std::fs::remove_dir_all(&staging);
        state.image_id = Some(id?);
        Ok(())
    }
}

/// The `#(nop)` text of a metadata instruction's commit, as the classic builder writes it
/// (CMD, ENTRYPOINT and WORKDIR are written from the config once applied); `None` for RUN,
/// COPY, ADD and ARG.
fn metadata_comment(command: &Command) -> Option<String> {
    let kvs = |name: &str, list: &[dockerfile::KeyValue]| {
        let mut s = name.to_string();
        for kv in list {
            s.push_str(&format!(" {}={}", kv.key, kv.value));
        }
        s
    };
    Some(match command {
        Command::Env(list) => kvs("ENV", list),
        Command::Label(list) => kvs("LABEL", list),
        Command::Maintainer(m) => format!("MAINTAINER {m}"),
        Command::Expose(ports) => format!("EXPOSE {}", ports.join(" ")),
        Command::User(u) => format!("USER {u}"),
        Command::Volume(v) => format!("VOLUME [{}]", v.join(" ")),
        Command::StopSignal(s) => format!("STOPSIGNAL {s}"),
        Command::Onbuild(t) => format!("ONBUILD {t}"),
        // Docker's builder writes the shell with Go's %v: `[/bin/sh -c]`, unquoted.
        Command::Shell(sh) => format!("SHELL [{}]", sh.join(" ")),
        Command::Healthcheck(hc) => {
            let dur = |d: std::time::Duration| format!("\"{}\"", go_duration(d));
            format!("HEALTHCHECK &{{{} {} {} {} {} '\\x{:02x}'}}", go_quote_list(&hc.test), dur(hc.interval), dur(hc.timeout), dur(hc.start_period), dur(hc.start_interval), hc.retries)
        }
        Command::Workdir(w) => format!("WORKDIR {w}"),
        Command::Cmd(_) | Command::Entrypoint(_) => String::new(),
        Command::Run(_) | Command::Copy(_) | Command::Add(_) | Command::Arg(_) => return None,
    })
}

/// The classic builder's cache comparison of two container configs (Docker's
/// `image/cache.compare`): the command, environment, entrypoint, shell, ports, volumes,
/// labels, triggers, user, working directory, stop signal and timeout, health check and the
/// stdio switches; never the image, hostname or domain.
pub fn same_config(a: &Value, b: &Value) -> bool {
    let list = |v: &Value, k: &str| string_list(v.get(k));
    let keys = |v: &Value, k: &str| -> BTreeSet<String> { v.get(k).and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default() };
    let scalar = |v: &Value, k: &str| -> Value {
        match v.get(k) {
            None | Some(Value::Null) => Value::Null,
            Some(Value::Bool(false)) => Value::Null,
            Some(Value::String(s)) if s.is_empty() => Value::Null,
            Some(x) => x.clone(),
        }
    };
    let labels = |v: &Value| -> BTreeMap<String, Value> { v.get("Labels").and_then(Value::as_object).map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default() };
    let health = |v: &Value| -> Value { v.get("Healthcheck").cloned().unwrap_or(Value::Null) };
    ["Env", "Cmd", "Entrypoint", "Shell", "OnBuild"].iter().all(|k| list(a, k) == list(b, k))
        && ["ExposedPorts", "Volumes"].iter().all(|k| keys(a, k) == keys(b, k))
        && labels(a) == labels(b)
        && ["AttachStdin", "AttachStdout", "AttachStderr", "NetworkDisabled", "Tty", "OpenStdin", "StdinOnce", "ArgsEscaped", "User", "WorkingDir", "StopSignal", "StopTimeout"].iter().all(|k| scalar(a, k) == scalar(b, k))
        && health(a) == health(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_comparison_as_docker() {
        let a = json!({"Cmd": ["/bin/sh", "-c", "#(nop) ", "ENV a=b"], "Env": ["PATH=/bin"], "Image": "sha256:1", "Hostname": "x"});
        let b = json!({"Cmd": ["/bin/sh", "-c", "#(nop) ", "ENV a=b"], "Env": ["PATH=/bin"], "Image": "sha256:2", "Labels": {}});
        assert!(same_config(&a, &b));
        let c = json!({"Cmd": ["/bin/sh", "-c", "#(nop) ", "ENV a=c"], "Env": ["PATH=/bin"]});
        assert!(!same_config(&a, &c));
        let d = json!({"Cmd": ["/bin/sh", "-c", "#(nop) ", "ENV a=b"], "Env": ["PATH=/bin"], "WorkingDir": "/app"});
        assert!(!same_config(&a, &d));
    }

    #[test]
    fn build_args_filtered_as_docker() {
        let mut args = BuildArgs::default();
        args.given.insert("FOO".into(), Some("given".into()));
        args.given.insert("HTTP_PROXY".into(), Some("http://p".into()));
        args.given.insert("UNUSED".into(), Some("x".into()));
        args.declare("FOO", Some("default".into()));
        args.declare("BAR", Some("bar".into()));
        let env = args.allowed_env(&["BAR=fromenv".to_string()]);
        assert_eq!(env, vec!["FOO=given".to_string(), "HTTP_PROXY=http://p".to_string()]);
        assert!(!args.counts_in_cache_key("HTTP_PROXY"));
        assert!(args.counts_in_cache_key("FOO"));
        assert_eq!(go_quote_list(&["sh".into(), "-c".into(), "echo \"hi\"".into()]), r#"["sh" "-c" "echo \"hi\""]"#);
    }
}
