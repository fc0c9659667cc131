//! dockerd: the Engine API daemon. It keeps containers and images under the data-root,
//! writes each container's OCI bundle under the exec-root, and drives docker-containerd (its
//! child, unless `--containerd` names a running one) over our RPC protocol.

mod api;
mod attach;
mod build_backend;
mod commit;
mod container;
pub mod config;
pub mod create_fields;
mod leftovers;
mod listeners;
mod host_spec;
mod init;
mod exec;
mod events;
mod filters;
mod health;
pub mod healthcheck;
mod container_fs;
mod container_list;
mod image_list;
pub mod net_options;
mod net_settings;
mod sandbox;
mod endpoints;
pub mod networks;
mod errors;
mod mounts;
mod ops;
mod resources;
mod restart;
pub mod seccomp_profile;
pub mod platform_check;
mod spec;
mod stats;
mod stdin;
mod streams;
mod update;
mod verbs;

use crate::containerd::client::Client as Containerd;
use crate::image::ImageStore;
use crate::snapshot::Snapshotter;
use container::Container;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

pub use api::handle as handle_request;

/// Flags, as dockerd's.
#[derive(clap::Parser, Debug, Clone)]
#[command(name = "dockerd", about = "A self-sufficient runtime for containers.", disable_version_flag = true)]
pub struct Options {
    /// Root directory of persistent Docker state
    #[arg(long = "data-root", default_value = "/var/lib/docker")]
    pub data_root: PathBuf,
    /// Root directory for execution state files
    #[arg(long = "exec-root", default_value = "/var/run/docker")]
    pub exec_root: PathBuf,
    /// Path to use for daemon PID file
    #[arg(short = 'p', long = "pidfile", default_value = "/var/run/docker.pid")]
    pub pidfile: PathBuf,
    /// Daemon socket(s) to connect to
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    /// Enable insecure registry communication
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
    /// Preferred registry mirror
    #[arg(long = "registry-mirror")]
    pub registry_mirrors: Vec<String>,
    /// Set the max concurrent downloads
    #[arg(long = "max-concurrent-downloads", default_value_t = 3)]
    pub max_concurrent_downloads: usize,
    /// containerd grpc address
    #[arg(long = "containerd")]
    pub containerd: Option<PathBuf>,
    /// Default OCI runtime for containers (a path or a name in PATH)
    #[arg(long = "default-runtime")]
    pub default_runtime: Option<String>,
    /// Storage driver to use (overlay2 where the kernel can, else vfs)
    #[arg(short = 's', long = "storage-driver", default_value = "")]
    pub storage_driver: String,
    /// Enable live restore of docker when containers are still running
    #[arg(long = "live-restore")]
    pub live_restore: bool,
    /// IP address to use for `host-gateway` in `--add-host` (there is no bridge to derive it from)
    #[arg(long = "host-gateway-ip")]
    pub host_gateway_ip: Option<std::net::IpAddr>,
    /// Run an init in the container to forward signals and reap processes
    #[arg(long = "init", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = false)]
    pub init: bool,
    /// Path to the docker-init binary (default: this executable)
    #[arg(long = "init-path")]
    pub init_path: Option<PathBuf>,
    #[command(flatten)]
    pub net: net_options::NetworkOptions,
    #[command(flatten)]
    pub config: config::ConfigOptions,
    /// Enable debug mode
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    /// Check the kernel's configuration for what the engine needs (CONFIG=file to name it) and quit
    #[arg(long = "check-config")]
    pub check_config: bool,
}

/// One container and what waits on it.
pub struct Entry {
    slot: Mutex<Slot>,
    changed: Condvar,
    pub output: Arc<streams::Output>,
    /// The container's stdin, shared by attached clients.
    pub input: Arc<stdin::Input>,
}

pub struct Slot {
    pub c: Container,
    /// The OCI spec of the current run, kept by `start` so an exec starts from its process
    /// without reading config.json (`None` after a dockerd restart: read once then).
    pub spec: Option<Arc<serde_json::Value>>,
    /// Counts the runs that ended, so `wait?condition=next-exit` can tell a new exit.
    pub exits: u64,
    pub removed: bool,
    /// The daemon's own users (cp, export) of the root of this container while it is
    /// stopped: the last one unmounts it, never one while another still reads it.
    pub host_users: usize,
}

impl Entry {
    fn new(c: Container) -> Arc<Entry> {
        Arc::new(Entry { slot: Mutex::new(Slot { c, spec: None, exits: 0, removed: false, host_users: 0 }), changed: Condvar::new(), output: Arc::default(), input: Arc::default() })
    }

    pub fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `done` holds, or the timeout passes; returns the guard either way.
    pub fn wait_until<'a>(&'a self, mut guard: MutexGuard<'a, Slot>, timeout: Option<std::time::Duration>, done: impl Fn(&Slot) -> bool) -> MutexGuard<'a, Slot> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        while !done(&guard) {
            guard = match deadline {
                None => self.changed.wait(guard).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = std::time::Instant::now();
                    if now >= d {
                        break;
                    }
                    self.changed.wait_timeout(guard, d - now).unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
        guard
    }

    pub fn notify(&self) {
        self.changed.notify_all();
    }
}

pub struct Daemon {
    pub opts: Options,
    pub images: ImageStore,
    pub snapshots: Snapshotter,
    pub containerd: Containerd,
    containers: Mutex<HashMap<String, Arc<Entry>>>,
    containerd_child: Mutex<Option<Child>>,
    /// Serialises name allocation with creation.
    create_lock: Mutex<()>,
    /// Containers' network sandboxes: namespaces, veths, published ports, DNS.
    net: Arc<sandbox::Networking>,
    /// `docker exec` instances.
    execs: exec::Store,
    /// The recent events, for `GET /events`.
    pub events: events::Events,
    /// Restarts waiting for their backoff (restart policies).
    restarts: restart::Scheduler,
    /// The networks (`/networks`), with their IPAM state.
    pub networks: networks::Networks,
    /// The local driver's volumes (`/volumes`).
    pub volumes: crate::volume::Store,
    /// The settings `SIGHUP` reloads from daemon.json.
    pub live: config::Live,
    /// The health-check monitors of running containers.
    health: health::Monitors,
}

impl Daemon {
    /// The settings daemon.json may change while dockerd runs (debug, labels, live-restore,
    /// registries, runtimes, ...): read them here, not from `opts`.
    pub fn settings(&self) -> Arc<config::Reloadable> {
        self.live.get()
    }

    pub fn containers(&self) -> Vec<Arc<Entry>> {
        self.containers.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    /// The container of exactly this id: no search by name, so no container's lock is taken.
    pub fn get(&self, id: &str) -> Option<Arc<Entry>> {
        self.containers.lock().unwrap_or_else(|e| e.into_inner()).get(id).cloned()
    }

    fn bundle_dir(&self, id: &str) -> PathBuf {
        self.opts.exec_root.join("libcontainerd").join(id)
    }

    fn containerd_address(&self) -> PathBuf {
        self.opts.containerd.clone().unwrap_or_else(|| self.opts.exec_root.join("containerd").join("docker-containerd.sock"))
    }
}

pub fn main(args: Vec<String>) -> i32 {
    let opts = match config::load(&args) {
        Ok(l) => l.opts,
        Err(config::LoadError::Clap(e)) => {
            let _ = e.print();
            return if e.use_stderr() { 125 } else { 0 };
        }
        Err(config::LoadError::Config(e)) => {
            eprintln!("{e}");
            return 1;
        }
    };
    if opts.version {
        println!("Docker version {}-dockbox, build {}", crate::version::DOCKBOX, crate::version::GIT_COMMIT);
        return 0;
    }
    if opts.check_config {
        return crate::kernel_check::check_config_main();
    }
    match run(opts, args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("failed to start daemon: {e}");
            1
        }
    }
}

/// The storage driver: the one asked for, which must work here; else the one a data root
/// already holds containers of (vfs), else overlay2 where the kernel and the data root's
/// filesystem can mount it, else vfs with a warning, as Docker falls back.
fn choose_storage_driver(asked: &str, data_root: &Path) -> Result<String, String> {
    let probe = || crate::kernel_check::overlay_works(data_root);
    match asked {
        "vfs" => Ok("vfs".into()),
        "overlay2" => probe().map(|()| "overlay2".into()).map_err(|why| format!("error initializing graphdriver: driver not supported: overlay2 ({why})")),
        _ => {
            let prior_vfs = std::fs::read_dir(data_root.join("vfs/dir")).map(|mut d| d.next().is_some()).unwrap_or(false);
            if prior_vfs {
                return Ok("vfs".into());
            }
            match probe() {
                Ok(()) => Ok("overlay2".into()),
                Err(why) => {
                    crate::log::line(crate::log::Level::Warn, "[graphdriver] overlay2 cannot be used here: using vfs, which copies each layer in full", &[("error", &why)]);
                    Ok("vfs".into())
                }
            }
        }
    }
}

fn run(mut opts: Options, args: Vec<String>) -> Result<(), String> {
    crate::sys::one_malloc_arena();
    crate::durable::init_from_env();
    let missing = crate::kernel_check::missing_runtime_features(Path::new("/proc"));
    if !missing.is_empty() {
        return Err(format!("this kernel lacks {}, which containers need (dockerd --check-config lists the kernel options)", missing.join(", ")));
    }
    if !matches!(opts.storage_driver.as_str(), "" | "overlay2" | "vfs") {
        return Err(format!("error initializing graphdriver: driver not supported: {}", opts.storage_driver));
    }
    if opts.hosts.is_empty() {
        opts.hosts.push("unix:///var/run/docker.sock".into());
    }
    config::validate(&opts)?;
    config::set_log_level(&opts, opts.debug);
    if let Some(parent) = opts.config.cgroup_parent.as_deref().filter(|p| !p.is_empty()) {
        resources::set_default_parent(parent);
    }
    if let Some(adj) = opts.config.oom_score_adjust {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(|e| format!("failed to set oom_score_adj to {adj}: {e}"))?;
    }
    for dir in [&opts.data_root, &opts.exec_root] {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    opts.storage_driver = choose_storage_driver(&opts.storage_driver, &opts.data_root)?;
    std::fs::create_dir_all(opts.data_root.join("containers")).map_err(|e| e.to_string())?;
    write_pidfile(&opts.pidfile)?;
    let mut start_failed = UndoFailedStart { containerd: None, pidfile: Some(opts.pidfile.clone()) };
    let listening = listeners::open(&opts.hosts, &opts.config)?;
    let signals = block_shutdown_signals();

    let containerd_child = match &opts.containerd {
        Some(_) => None,
        None => {
            let address = opts.exec_root.join("containerd").join("docker-containerd.sock");
            let child = crate::containerd::client::spawn_daemon(
                &address,
                &opts.data_root.join("containerd").join("daemon"),
                &opts.exec_root.join("containerd").join("daemon"),
                opts.default_runtime.as_deref(),
                opts.debug,
            )
            .map_err(|e| format!("starting containerd: {e}"))?;
            Some(child)
        }
    };
    start_failed.containerd = containerd_child.as_ref().map(|c| c.id() as i32);
    let images = ImageStore::open(&opts.data_root).map_err(|e| format!("image store: {e}"))?;
    crate::http::server::set_spool_dir(opts.data_root.join("tmp"));
    let snapshots = Snapshotter::open_driver(&opts.data_root, &opts.storage_driver).map_err(|e| format!("error initializing graphdriver: {e}"))?;
    let containerd_address = opts.containerd.clone().unwrap_or_else(|| opts.exec_root.join("containerd").join("docker-containerd.sock"));
    let net = Arc::new(sandbox::Networking::new(&opts.net, &opts.exec_root, crate::network::netns::Pool::start())?);
    let (restarts, restarts_due) = restart::Scheduler::new();
    let networks = sandbox::open_networks(&opts.net, &opts.data_root.join("network"), &net)?;
    let volumes = crate::volume::Store::open(&opts.data_root).map_err(|e| format!("volume store: {e}"))?;
    let daemon = Arc::new(Daemon {
        containerd: Containerd::new(&containerd_address),
        opts: opts.clone(),
        images,
        snapshots,
        containers: Mutex::new(HashMap::new()),
        containerd_child: Mutex::new(containerd_child),
        create_lock: Mutex::new(()),
        net,
        execs: exec::Store::open(opts.exec_root.join("execs")),
        events: events::Events::default(),
        restarts,
        networks,
        volumes,
        live: config::Live::new(config::Reloadable::from_options(&opts)),
        health: health::Monitors::default(),
    });
    daemon.health.attach(&daemon);
    daemon.restore();
    daemon.clear_interrupted_runs();
    daemon.restore_networking();
    daemon.restore_execs();
    daemon.reconcile();
    daemon.restore_health();
    daemon.recover_storage();
    // Devices of volumes that no restored container holds, left mounted by a crash.
    daemon.volumes.unmount_unused();
    {
        let d = daemon.clone();
        std::thread::Builder::new().name("restarts".into()).spawn(move || restart::run(d, restarts_due)).map_err(|e| e.to_string())?;
    }
    restart::start_at_boot(&daemon);
    {
        let d = daemon.clone();
        std::thread::Builder::new().name("events".into()).spawn(move || d.follow_events()).map_err(|e| e.to_string())?;
    }
    if daemon.containerd_child.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
        let d = daemon.clone();
        std::thread::Builder::new().name("containerd-watch".into()).stack_size(256 * 1024).spawn(move || d.watch_containerd()).map_err(|e| e.to_string())?;
    }

    let handler: crate::http::server::Handler = {
        let d = daemon.clone();
        match opts.config.api_cors_header.clone() {
            None => Arc::new(move |req| api::handle(&d, req)),
            Some(origin) => Arc::new(move |req| config::with_cors(&origin, req, |req| api::handle(&d, req))),
        }
    };
    let sockets = listening.serve(handler)?;
    start_failed.disarm();

    while wait_for_shutdown_signal(signals) == Some(nix::sys::signal::Signal::SIGHUP) {
        match config::reload(&args, &daemon.live) {
            Ok(shown) => {
                config::set_log_level(&opts, daemon.settings().debug);
                crate::log::info(&format!("Reloaded configuration: {shown}"));
            }
            Err(e) => crate::log::error(&format!("Error reconfiguring the daemon: {e}")),
        }
    }
    daemon.shutdown();
    for s in sockets {
        let _ = std::fs::remove_file(s);
    }
    let _ = std::fs::remove_file(&opts.pidfile);
    Ok(())
}

/// What a start that fails after containerd is up leaves behind otherwise: that containerd
/// (it would serve on with nobody to talk to) and the pid file.
struct UndoFailedStart {
    containerd: Option<i32>,
    pidfile: Option<PathBuf>,
}

impl UndoFailedStart {
    fn disarm(&mut self) {
        self.containerd = None;
        self.pidfile = None;
    }
}

impl Drop for UndoFailedStart {
    fn drop(&mut self) {
        if let Some(pid) = self.containerd {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while let Ok(nix::sys::wait::WaitStatus::StillAlive) = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                if std::time::Instant::now() > deadline {
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                    let _ = nix::sys::wait::waitpid(pid, None);
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        if let Some(path) = &self.pidfile {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn write_pidfile(path: &Path) -> Result<(), String> {
    if let Ok(old) = std::fs::read_to_string(path) {
        if let Ok(pid) = old.trim().parse::<i32>() {
            if pid != std::process::id() as i32 && Path::new(&format!("/proc/{pid}")).exists() {
                return Err(format!("pid file found, ensure docker is not running or delete {}", path.display()));
            }
        }
    }
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::fs::write(path, std::process::id().to_string()).map_err(|e| format!("{}: {e}", path.display()))
}

/// Blocks SIGTERM, SIGINT, SIGQUIT and SIGHUP (reload) in every thread (threads spawned
/// later inherit the mask), so one thread can take them synchronously.
fn block_shutdown_signals() -> nix::sys::signal::SigSet {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.add(Signal::SIGQUIT);
    set.add(Signal::SIGHUP);
    let _ = set.thread_block();
    set
}

fn wait_for_shutdown_signal(set: nix::sys::signal::SigSet) -> Option<nix::sys::signal::Signal> {
    set.wait().ok()
}
