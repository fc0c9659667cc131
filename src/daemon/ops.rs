//! What dockerd does to containers: create, start, stop, kill, remove, wait, and the
//! bookkeeping when containerd reports an exit. Errors carry Docker's status and message.

use super::container::{Container, State};
use super::streams::Fifos;
use super::{spec, Daemon, Entry, Slot};
use crate::containerd::client::{CreateTask, Event};
use super::errors::ApiError;
use crate::signals::parse_signal;
use crate::rpc::{ErrorKind, RpcError};
use serde_json::{json, Map, Value};
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, SystemTime};

/// Which exit a waiter waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

/// The exit code Docker gives a start failure: 127 for a missing command, 126 for one that
/// cannot be run, else 128.
fn start_error_exit_code(message: &str) -> i32 {
    if message.contains("executable file not found") || message.contains("no such file or directory") {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        128
    }
}

/// `v[outer][inner]` as a string, "" when absent.
fn str_at<'a>(v: &'a Value, outer: &str, inner: &str) -> &'a str {
    v.get(outer).and_then(|o| o.get(inner)).and_then(Value::as_str).unwrap_or("")
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array).map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default()
}

/// Docker's merge of a create request's Config with the image's defaults.
fn merge_image_config(config: &mut Map<String, Value>, image: &Value) {
    let empty = |v: Option<&Value>| v.is_none_or(|v| v.is_null() || v.as_str() == Some("") || v.as_array().is_some_and(|a| a.is_empty()));
    let image_env = string_list(image.get("Env"));
    let mut env = image_env;
    for e in string_list(config.get("Env")) {
        let key = e.split('=').next().unwrap_or("").to_string();
        env.retain(|x| x.split('=').next() != Some(key.as_str()));
        env.push(e);
    }
    config.insert("Env".into(), json!(env));
    // `--entrypoint ""` (and a build's RUN) sends `[""]`: no entrypoint, not the image's.
    let entrypoint_cleared = config.get("Entrypoint").and_then(Value::as_array).is_some_and(|a| a.len() == 1 && a[0].as_str() == Some(""));
    if entrypoint_cleared {
        config.insert("Entrypoint".into(), Value::Null);
    }
    let entrypoint_given = entrypoint_cleared || !empty(config.get("Entrypoint"));
    if empty(config.get("Cmd")) && !entrypoint_given {
        if let Some(cmd) = image.get("Cmd").filter(|c| !c.is_null()) {
            config.insert("Cmd".into(), cmd.clone());
        }
    }
    if !entrypoint_given {
        if let Some(ep) = image.get("Entrypoint").filter(|c| !c.is_null()) {
            config.insert("Entrypoint".into(), ep.clone());
        }
    }
    for key in ["User", "WorkingDir", "StopSignal"] {
        if empty(config.get(key)) {
            if let Some(v) = image.get(key).filter(|v| !empty(Some(v))) {
                config.insert(key.into(), v.clone());
            }
        }
    }
    let mut labels = image.get("Labels").and_then(Value::as_object).cloned().unwrap_or_default();
    if let Some(own) = config.get("Labels").and_then(Value::as_object) {
        labels.extend(own.clone());
    }
    config.insert("Labels".into(), Value::Object(labels));
    super::healthcheck::merge_image_healthcheck(config, image);
    // The image's VOLUMEs join the request's (both become anonymous volumes).
    if let Some(image_volumes) = image.get("Volumes").and_then(Value::as_object).filter(|v| !v.is_empty()) {
        let mut volumes = config.get("Volumes").and_then(Value::as_object).cloned().unwrap_or_default();
        for (k, v) in image_volumes {
            volumes.entry(k.clone()).or_insert_with(|| v.clone());
        }
        config.insert("Volumes".into(), Value::Object(volumes));
    }
}

impl Daemon {
    /// Calls containerd, and once more after it is back when it was unreachable (being
    /// restarted after a crash).
    pub(super) fn containerd_call<T>(&self, f: impl Fn(&crate::containerd::client::Client) -> Result<T, RpcError>) -> Result<T, RpcError> {
        match f(&self.containerd) {
            Err(e) if e.kind == ErrorKind::Unavailable => {
                let deadline = std::time::Instant::now() + Duration::from_secs(15);
                while self.containerd.version().is_err() && std::time::Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                f(&self.containerd)
            }
            r => r,
        }
    }

    /// Finds a container by full id, name, or unique id prefix.
    pub fn find(&self, name: &str) -> Result<Arc<Entry>, ApiError> {
        self.find_other(name, "")
    }

    /// `find`, never looking at (so never locking) the container `except`: a container whose
    /// lock its caller holds looks up the ones it links to.
    pub fn find_other(&self, name: &str, except: &str) -> Result<Arc<Entry>, ApiError> {
        let map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = map.get(name).filter(|_| name != except) {
            return Ok(e.clone());
        }
        // Names are compared without the map's lock held: a removal holds a container's lock
        // and then takes the map's, so the other order would deadlock with it.
        let entries: Vec<Arc<Entry>> = map.iter().filter(|(id, _)| id.as_str() != except).map(|(_, e)| e.clone()).collect();
        drop(map);
        let slashed = if name.starts_with('/') { name.to_string() } else { format!("/{name}") };
        if let Some(e) = entries.iter().find(|e| e.lock().c.name == slashed) {
            return Ok(e.clone());
        }
        let map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        let matches: Vec<_> = if name.is_empty() { vec![] } else { map.iter().filter(|(id, _)| id.starts_with(name) && id.as_str() != except).map(|(_, e)| e.clone()).collect() };
        match matches.len() {
            1 => Ok(matches[0].clone()),
            0 => Err(ApiError::not_found(format!("No such container: {name}"))),
            _ => Err(ApiError::bad_request(format!("multiple IDs found with provided prefix: {name}"))),
        }
    }

    /// POST /containers/create.
    pub fn create(&self, body: &Value, name: Option<&str>) -> Result<Value, ApiError> {
        let mut config = body.as_object().cloned().ok_or_else(|| ApiError::bad_request("config cannot be empty in order to create a container"))?;
        let mut host_config = config.remove("HostConfig").filter(|h| h.is_object()).unwrap_or_else(|| json!({}));
        let networking = config.remove("NetworkingConfig").unwrap_or(Value::Null);
        // Every field is honoured or refused (create_fields), and checked as Docker checks it.
        super::create_fields::check_refused(&config, &host_config, &networking).map_err(ApiError::bad_request)?;
        // dockerd's defaults (--log-driver, --default-shm-size, --default-runtime, ...).
        super::config::apply_create_defaults(&self.opts, &self.settings(), &mut host_config).map_err(ApiError::bad_request)?;
        let gateway = self.host_gateway_ip().map(|ip| ip.to_string());
        super::create_fields::validate_network_fields(&config, &host_config, &networking).map_err(ApiError::bad_request)?;
        super::create_fields::validate(&config, &host_config, gateway.as_deref()).map_err(|m| {
            // An unknown network is Docker's 404, every other refusal its 400.
            if m.starts_with("network ") && m.ends_with(" not found") {
                ApiError::not_found(m)
            } else {
                ApiError::bad_request(m)
            }
        })?;
        super::resources::validate(&host_config).map_err(ApiError::bad_request)?;
        super::init::validate(&host_config).map_err(ApiError::bad_request)?;
        let host_config = super::create_fields::fill_host_config(&host_config, spec::MASKED_PATHS, spec::READONLY_PATHS);
        let image_name = config.get("Image").and_then(Value::as_str).unwrap_or_default().to_string();
        if image_name.is_empty() {
            return Err(ApiError::bad_request("No such image: "));
        }
        let reference = crate::reference::Reference::parse_normalized(&image_name);
        let image = match self.images.get(&image_name) {
            Some(i) => i,
            None => {
                let shown = match reference {
                    Ok(r) => r.with_default_tag().familiar_string(),
                    Err(_) if image_name.starts_with("sha256:") || image_name.bytes().all(|b| b.is_ascii_hexdigit()) => image_name.clone(),
                    Err(e) => return Err(ApiError::bad_request(e.to_string())),
                };
                return Err(ApiError::not_found(format!("No such image: {shown}")));
            }
        };
        merge_image_config(&mut config, image.config.get("config").unwrap_or(&Value::Null));
        let config = Value::Object(config);
        let network_settings = self.plan_networks(&config, &host_config, &networking)?;
        let args = spec::process_args(&config);
        if args.is_empty() {
            return Err(ApiError::bad_request("No command specified"));
        }
        if let Some(n) = name {
            let bare = n.trim_start_matches('/');
            if !super::container::valid_name(bare) {
                return Err(ApiError::bad_request(format!("Invalid container name ({bare}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")));
            }
        }

        let _guard = self.create_lock.lock().unwrap_or_else(|e| e.into_inner());
        let name = match name {
            Some(n) => {
                let slashed = format!("/{}", n.trim_start_matches('/'));
                if let Some(other) = self.containers().into_iter().find(|e| e.lock().c.name == slashed) {
                    let id = other.lock().c.id.clone();
                    return Err(ApiError::conflict(format!(
                        "Conflict. The container name \"{slashed}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
                    )));
                }
                slashed
            }
            None => self.unused_name(),
        };
        let id = crate::ids::new_id();
        let dir = Container::dir(&self.opts.data_root, &id);
        let mount_id = crate::ids::new_id();
        // Its volumes made and referenced (undone on any failure below).
        let mount_points = super::mounts::plan(self, &id, &config, &host_config)?;
        let unplan = |points: &[super::mounts::MountPoint]| super::mounts::remove(self, &id, points, true);
        // The record of the layers it stands on comes first: from then on no rmi deletes them,
        // and a crash before the container is saved leaves a record the next start collects.
        if let Err(e) = self.images.record_container_layers(&id, &mount_id, &image) {
            unplan(&mount_points);
            return Err(match e.kind() {
                std::io::ErrorKind::NotFound => ApiError::not_found(format!("No such image: {image_name}")),
                _ => ApiError::internal(format!("failed to create the container's filesystem: {e}")),
            });
        }
        let c = Container {
            id: id.clone(),
            name,
            created: crate::sys::rfc3339_nanos(SystemTime::now()),
            path: args[0].clone(),
            args: args[1..].to_vec(),
            config,
            state: State::default(),
            image: image.id.clone(),
            driver: "overlay2".into(),
            mount_id: mount_id.clone(),
            restart_count: 0,
            has_been_started_before: false,
            has_been_manually_stopped: false,
            restart_canceled: false,
            hostname_path: dir.join("hostname").display().to_string(),
            hosts_path: dir.join("hosts").display().to_string(),
            resolv_conf_path: dir.join("resolv.conf").display().to_string(),
            // Only json-file shows its file as LogPath (Docker keeps local's files private).
            log_path: if matches!(str_at(&host_config, "LogConfig", "Type"), "" | "json-file") { dir.join(format!("{id}-json.log")).display().to_string() } else { String::new() },
            host_config,
            network_settings,
            mount_points,
        };
        // The container's directory and hostconfig.json (fsynced) while its layers are made:
        // independent, and each waits on the disk. hostname, hosts and resolv.conf are written
        // at start, as Docker does. config.v2.json, which makes the container, comes last.
        // config.v2.json's data is fsynced there too, and only its rename waits for the layers.
        let (files, layers) = std::thread::scope(|scope| {
            let files = scope.spawn(|| {
                crate::durable::step_at("mkdir", &dir);
                std::fs::create_dir_all(&dir)?;
                c.save_host_config(&self.opts.data_root)?;
                c.prepare_config(&self.opts.data_root, crate::sys::Flush::DataAndName)
            });
            let layers = self.snapshots.create_rw(&mount_id, &image);
            (files.join().unwrap_or_else(|_| Err(std::io::Error::other("writing hostconfig.json panicked"))), layers)
        });
        if let Err(e) = layers {
            drop(files);
            let _ = std::fs::remove_dir_all(&dir);
            let _ = self.images.release_container_layers(&id);
            unplan(&c.mount_points);
            return Err(ApiError::internal(format!("failed to create the container's filesystem: {e}")));
        }
        if let Err(e) = files.and_then(|config| config.commit()) {
            let _ = std::fs::remove_dir_all(&dir);
            let _ = self.snapshots.remove(&mount_id);
            let _ = self.images.release_container_layers(&id);
            unplan(&c.mount_points);
            return Err(ApiError::internal(format!("failed to save the container: {e}")));
        }
        // As Docker's: ports a host-network container cannot publish are named in a warning.
        let host_network = c.host_config.get("NetworkMode").and_then(Value::as_str) == Some("host");
        let warnings: Vec<&str> = if host_network && super::create_fields::publishes_ports(&c.host_config) { vec!["Published ports are discarded when using host network mode"] } else { vec![] };
        self.events.container(&c, "create", &[]);
        self.containers.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), Entry::new(c));
        Ok(json!({"Id": id, "Warnings": warnings}))
    }

    fn unused_name(&self) -> String {
        let taken: Vec<String> = self.containers().iter().map(|e| e.lock().c.name.clone()).collect();
        (0..).map(|i| format!("/{}", crate::ids::random_name(if i < 5 { 0 } else { i }))).find(|n| !taken.contains(n)).unwrap_or_default()
    }

    /// hostname, hosts and resolv.conf, bind-mounted into the container.
    /// hostname and resolv.conf (hosts waits for the container's addresses).
    fn write_container_files(&self, c: &Container) -> std::io::Result<()> {
        use super::host_spec;
        std::fs::write(&c.hostname_path, format!("{}\n", host_spec::hostname(c)))?;
        let host = std::fs::read_to_string(super::sandbox::host_resolv_conf_path()).unwrap_or_default();
        // The daemon's --dns, --dns-search and --dns-opt stand in for the container's own.
        let with_defaults = super::config::with_dns_defaults(&self.opts, &c.host_config).map(|h| Container { host_config: h, ..c.clone() });
        let text = host_spec::resolv_conf(with_defaults.as_ref().unwrap_or(c), &host, self.uses_embedded_dns(c));
        std::fs::write(&c.resolv_conf_path, text)
    }

    /// `/etc/hosts`, with the container's own addresses and links.
    pub(super) fn write_hosts_file(&self, c: &Container) -> std::io::Result<()> {
        use super::host_spec;
        let gateway = self.host_gateway_ip().map(|ip| ip.to_string());
        let own = self.own_hosts_lines(c, &host_spec::hostname(c));
        std::fs::write(&c.hosts_path, host_spec::hosts_file(c, gateway.as_deref(), &own))
    }

    /// POST /containers/{id}/start: a start by hand, after which the restart policy counts
    /// afresh.
    pub fn start(&self, entry: &Arc<Entry>) -> Result<bool, ApiError> {
        self.start_as(entry, true)
    }

    /// The start a restart policy asks for, once its backoff is over.
    pub fn start_for_restart(&self, entry: &Arc<Entry>) -> Result<bool, ApiError> {
        self.start_as(entry, false)
    }

    fn start_as(&self, entry: &Arc<Entry>, by_hand: bool) -> Result<bool, ApiError> {
        // The container whose pid namespace it joins, found before our lock is taken (finding
        // by name locks each container in turn).
        let (pid_mode, ipc_mode, net_mode) = {
            let s = entry.lock();
            let mode = |k: &str| s.c.host_config.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (mode("PidMode"), mode("IpcMode"), mode("NetworkMode"))
        };
        let peers = super::host_spec::Peers {
            pid: pid_mode.strip_prefix("container:").map(|name| self.running_pid(name)),
            ipc: ipc_mode.strip_prefix("container:").map(|name| self.ipc_donor(name)),
            net: net_mode.strip_prefix("container:").map(|name| self.net_donor(name)),
        };
        // The lock is held for the whole start: a concurrent start, stop or exit waits for it.
        let mut slot = entry.lock();
        if slot.removed {
            return Err(ApiError::not_found(format!("No such container: {}", slot.c.id)));
        }
        if slot.c.state.running {
            return Ok(false);
        }
        if by_hand {
            slot.c.has_been_manually_stopped = false;
            self.restarts.forget(&slot.c.id);
        } else if !slot.c.state.restarting {
            // Stopped (or started by hand) while it waited for its backoff.
            return Ok(false);
        }
        slot.c.restart_canceled = false;
        let result = self.start_locked(entry, &mut slot, &peers);
        if result.is_ok() {
            self.events.container(&slot.c, "start", &[]);
            self.health_start(entry, &mut slot.c);
        }
        let mut auto_remove = false;
        if let Err(e) = &result {
            let code = start_error_exit_code(&e.message);
            slot.c.set_start_error(&e.message, code);
            let _ = slot.c.save_state(&self.opts.data_root);
            auto_remove = slot.c.auto_remove();
        }
        entry.notify();
        drop(slot);
        // A --rm container that cannot start is removed too, so `wait?condition=removed` ends.
        if auto_remove {
            let _ = self.remove_with_volumes(entry, true, true);
        }
        result.map(|_| true)
    }

    fn start_locked(&self, entry: &Arc<Entry>, slot: &mut MutexGuard<'_, Slot>, peers: &super::host_spec::Peers) -> Result<(), ApiError> {
        let id = slot.c.id.clone();
        let mount_id = slot.c.mount_id.clone();
        let bundle = self.bundle_dir(&id);
        self.check_links(&slot.c)?;
        // The runtime's path goes to containerd, and from it to the shim.
        let runtime = self.settings().runtime_path(slot.c.host_config.get("Runtime").and_then(Value::as_str).unwrap_or_default()).map_err(ApiError::bad_request)?;
        let shm = super::host_spec::shm_dir(&self.opts.data_root, &id);
        let undo = |d: &Daemon, c: &mut Container| {
            super::mounts::release(d, &id, &c.mount_points);
            let _ = std::fs::remove_dir_all(d.bundle_dir(&id));
            let _ = d.snapshots.unmount(&mount_id);
            super::host_spec::release_shm(&shm);
            d.release_sandbox(c);
        };
        // The overlay is mounted while the container's files, the bundle directory and the
        // FIFOs are made (new inodes, slow on a busy disk) and its network sandbox is built;
        // the spec needs the mounted root and the sandbox's namespace file.
        let mut networked = slot.c.clone();
        let mut mount_points = slot.c.mount_points.clone();
        let c = &slot.c;
        let (rootfs, files, sandbox) = std::thread::scope(|scope| {
            let files = scope.spawn(|| -> Result<Fifos, ApiError> {
                self.write_container_files(c).map_err(|e| ApiError::internal(e.to_string()))?;
                std::fs::create_dir_all(&bundle).map_err(|e| ApiError::internal(e.to_string()))?;
                let logger = c.open_logger(&self.opts.data_root).map_err(|e| ApiError::internal(format!("failed to initialize logging driver: {e}")))?;
                let fifos = Fifos::create(&bundle, c.open_stdin(), c.tty()).map_err(|e| ApiError::internal(e.to_string()))?;
                entry.output.start(&fifos, logger).map_err(|e| ApiError::internal(e.to_string()))?;
                Ok(fifos)
            });
            let sandbox = scope.spawn(|| self.connect_sandbox(&mut networked));
            let rootfs = if c.auto_remove() { self.snapshots.mount_disposable(&mount_id) } else { self.snapshots.mount(&mount_id) };
            let rootfs = rootfs.map_err(|e| ApiError::internal(format!("error mounting the container's filesystem: {e}")));
            (
                rootfs,
                files.join().unwrap_or_else(|_| Err(ApiError::internal("preparing the bundle panicked"))),
                sandbox.join().unwrap_or_else(|_| Err(ApiError::internal("setting up the network panicked"))),
            )
        });
        // What the sandbox got (addresses, ports, the namespace file) is the container's now,
        // so that any undo below finds it.
        slot.c.network_settings = networked.network_settings;
        // The volumes acquired (and filled from the image), the binds' sources made.
        let mounts = rootfs.and_then(|rootfs| super::mounts::setup(self, &id, &mut mount_points, &rootfs).map(|m| (rootfs, m)));
        slot.c.mount_points = mount_points;
        let c = &slot.c;
        let prepared = files.and_then(|fifos| {
            let written = sandbox.and_then(|netns| {
                self.write_hosts_file(c).map_err(|e| ApiError::internal(e.to_string()))?;
                let config = mounts.and_then(|(rootfs, mounts)| {
                    let mut config = spec::build(c, &rootfs, &self.opts.data_root, netns.as_deref()).map_err(ApiError::internal)?;
                    super::mounts::apply_to_spec(&mut config, mounts).map_err(ApiError::bad_request)?;
                    Ok(config)
                });
                let config = config.and_then(|mut config| super::config::apply_spec_defaults(&self.opts, &c.host_config, &mut config).map(|()| config).map_err(ApiError::internal));
                let config = config.and_then(|mut config| {
                    super::host_spec::join_peers(&mut config, peers).map_err(ApiError::bad_request)?;
                    if c.host_config.get("IpcMode").and_then(Value::as_str) == Some("shareable") {
                        let size = c.host_config.get("ShmSize").and_then(Value::as_i64).filter(|s| *s > 0).unwrap_or(super::create_fields::DEFAULT_SHM_SIZE);
                        super::host_spec::mount_shareable_shm(&shm, size).map_err(|e| ApiError::internal(e.to_string()))?;
                        super::host_spec::use_shm(&mut config, &shm);
                    }
                    if let Some(env) = config.pointer_mut("/process/env").and_then(Value::as_array_mut) {
                        env.extend(self.link_env(c).into_iter().map(Value::String));
                    }
                    Ok(config)
                });
                let config = config.and_then(|config| self.with_init(c, config));
                // The bundle lives in the exec-root, volatile: nothing reads it after a reboot.
                config.and_then(|config| {
                    crate::sys::write_atomic_volatile(&bundle.join("config.json"), &serde_json::to_vec_pretty(&config).unwrap_or_default()).map_err(|e| ApiError::internal(e.to_string()))?;
                    Ok(config)
                })
            });
            match written {
                Ok(config) => Ok((fifos, config)),
                Err(e) => {
                    super::streams::Output::release(&fifos);
                    Err(e)
                }
            }
        });
        let (fifos, spec) = match prepared {
            Ok(f) => f,
            Err(e) => {
                undo(self, &mut slot.c);
                return Err(e);
            }
        };
        let task = CreateTask {
            id: id.clone(),
            bundle: bundle.clone(),
            runtime: runtime.map(|p| p.display().to_string()),
            stdin: fifos.stdin.clone(),
            stdout: Some(fifos.stdout.clone()),
            stderr: fifos.stderr.clone(),
            terminal: slot.c.tty(),
            no_pivot: no_pivot_root(),
        };
        let created = self.containerd_call(|c| c.create(&task));
        let started = created.and_then(|pid| {
            entry.output.open_gate();
            if let Some(stdin) = &fifos.stdin {
                if let Err(e) = entry.input.open(stdin) {
                    crate::log::line(crate::log::Level::Error, "opening the container's stdin", &[("container", &id), ("error", &e.to_string())]);
                }
            }
            // The running state's file is written, its data fsynced, while the task starts; it
            // is renamed in once the start has succeeded (and dropped if it has not).
            let mut running = slot.c.clone();
            running.set_running(pid);
            let (started, prepared) = std::thread::scope(|scope| {
                let prepared = scope.spawn(|| running.prepare_config(&self.opts.data_root, crate::sys::Flush::Data));
                let started = self.containerd_call(|c| c.start(&id));
                (started, prepared.join().unwrap_or_else(|_| Err(std::io::Error::other("writing config.v2.json panicked"))))
            });
            started.map(|_| (running, prepared))
        });
        match started {
            Ok((running, prepared)) => {
                slot.c = running;
                slot.spec = Some(Arc::new(spec));
                prepared.and_then(|p| p.commit()).map_err(|e| ApiError::internal(e.to_string()))?;
                Ok(())
            }
            Err(e) => {
                // The task may be running (a start whose answer a containerd restart lost, then
                // refused when retried) and containerd may be restarting: it is killed and
                // deleted once containerd answers again, not left behind.
                self.end_task(&id, "unknown");
                entry.input.clear();
                super::streams::Output::release(&fifos);
                undo(self, &mut slot.c);
                Err(ApiError::bad_request(format!("failed to create task for container: {}", e.message)))
            }
        }
    }

    /// Handles the end of a run: containerd delete, unmount, state, auto-remove, waiters.
    pub fn handle_exit(&self, id: &str, exit_status: i32, exited_at: &str) {
        let Ok(entry) = self.find(id) else { return };
        let handled = std::thread::scope(|scope| {
            // The task's deletion (containerd, the shim, the runtime's `delete`) starts at once:
            // it touches nothing the container's lock guards, so it need not wait behind a
            // start still saving its state (a short-lived container's exit comes that early),
            // and it runs beside our own cleanup. An exit event is only ever sent once the
            // task's start has returned, and a task of this id is only made again after this
            // deletion. It is over before any waiter hears of the exit, so a next `start`
            // finds no task in the way.
            let task_deleted = scope.spawn(|| {
                let _ = self.containerd_call(|c| c.delete(id));
            });
            // The output the container wrote before it ended is logged before its exit is
            // recorded (Docker waits up to 2 s for its copiers): `docker wait` then `docker
            // logs` sees all of it.
            entry.output.wait_closed(std::time::Duration::from_secs(2));
            let mut slot = entry.lock();
            if !slot.c.state.running || slot.c.id != id {
                return false;
            }
            let _ = self.snapshots.unmount(&slot.c.mount_id);
            super::mounts::release(self, id, &slot.c.mount_points);
            let _ = std::fs::remove_dir_all(self.bundle_dir(id));
            let ran = crate::sys::parse_rfc3339(&slot.c.state.started_at).and_then(|t| SystemTime::now().duration_since(t).ok()).unwrap_or_default();
            super::host_spec::release_shm(&super::host_spec::shm_dir(&self.opts.data_root, id));
            self.release_sandbox(&mut slot.c);
            self.health_stop(&entry, &mut slot.c);
            slot.c.set_exited(exit_status, exited_at);
            slot.spec = None;
            entry.input.clear();
            slot.exits += 1;
            self.events.container(&slot.c, "die", &[("exitCode", &exit_status.to_string()), ("execDuration", &ran.as_secs().to_string())]);
            self.restarts.after_exit(&mut slot.c, exit_status);
            if slot.c.auto_remove() {
                // No state written first: should the removal not happen (a crash), the next
                // start finds the container "running" without a task and ends it the same way.
                let _ = self.remove_stopped(&mut slot, true);
            } else {
                let _ = slot.c.save_state(&self.opts.data_root);
            }
            let _ = task_deleted.join();
            true
        });
        if handled {
            self.execs_died_with(id);
            entry.notify();
        }
    }

    /// The init pid of the running container `name` (`--pid container:NAME`), or Docker's error.
    fn running_pid(&self, name: &str) -> Result<u32, String> {
        let entry = self.find(name).map_err(|e| e.message)?;
        let slot = entry.lock();
        if !slot.c.state.running {
            return Err(format!("cannot join PID of a non running container: {}", slot.c.id));
        }
        Ok(slot.c.state.pid)
    }

    /// The running container `name` whose network namespace (and name files) a container
    /// joins (`--network container:NAME`), or Docker's error.
    fn net_donor(&self, name: &str) -> Result<super::host_spec::NetDonor, String> {
        let entry = self.find(name).map_err(|e| e.message)?;
        let slot = entry.lock();
        if !slot.c.state.running {
            return Err(format!("cannot join network namespace of a non running container: container {} is not running", slot.c.id));
        }
        let c = &slot.c;
        Ok(super::host_spec::NetDonor { pid: c.state.pid, hostname_path: c.hostname_path.clone().into(), hosts_path: c.hosts_path.clone().into(), resolv_conf_path: c.resolv_conf_path.clone().into() })
    }

    /// The pid and /dev/shm of the running, shareable container `name` (`--ipc container:NAME`),
    /// or Docker's error.
    fn ipc_donor(&self, name: &str) -> Result<(u32, std::path::PathBuf), String> {
        let entry = self.find(name).map_err(|e| e.message)?;
        let slot = entry.lock();
        let id = &slot.c.id;
        if slot.c.state.restarting {
            return Err(format!("Container {id} is restarting, wait until the container is running"));
        }
        if !slot.c.state.running {
            return Err(format!("Container {id} is not running"));
        }
        let shm = super::host_spec::shm_dir(&self.opts.data_root, id);
        if !crate::mounts::is_mountpoint(&shm) {
            return Err(format!("container {name}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)"));
        }
        Ok((slot.c.state.pid, shm))
    }

    /// Records a stop or kill asked for through the API, as Docker does: `unless-stopped`
    /// then leaves the container stopped, and the exit that `signal` brings is not followed by
    /// a restart when it is the stop signal (any signal without one) or SIGKILL.
    fn note_manual_stop(&self, c: &mut Container, signal: i32) {
        if self.restarts.shutting_down() {
            return;
        }
        c.has_been_manually_stopped = true;
        let stop_signal = c.config.get("StopSignal").and_then(Value::as_str).filter(|s| !s.is_empty()).and_then(parse_signal);
        if signal == libc::SIGKILL || stop_signal.is_none_or(|s| s == signal) {
            c.restart_canceled = true;
        }
    }

    /// Sends `signal` to the container's process.
    pub fn kill(&self, entry: &Arc<Entry>, signal: i32) -> Result<(), ApiError> {
        let mut slot = entry.lock();
        if !slot.c.state.running {
            return Err(ApiError::conflict(format!("Container {} is not running", slot.c.id)));
        }
        self.note_manual_stop(&mut slot.c, signal);
        let id = slot.c.id.clone();
        drop(slot);
        self.signal_task(entry, &id, signal, false).map_err(ApiError::from)?;
        self.thaw_after_signal(entry, signal);
        Ok(())
    }

    /// Signals the task and records the "kill" event. The container's lock is held meanwhile:
    /// the exit the signal causes is handled under that lock, so its "die" always follows.
    fn signal_task(&self, entry: &Arc<Entry>, id: &str, signal: i32, all: bool) -> Result<(), RpcError> {
        let slot = entry.lock();
        self.containerd_call(|c| c.kill(id, signal, all))?;
        self.events.container(&slot.c, "kill", &[("signal", &signal.to_string())]);
        Ok(())
    }

    /// Stops with the stop signal, then SIGKILL after `timeout`; `Ok(false)` when not running.
    pub fn stop(&self, entry: &Arc<Entry>, timeout: Option<Duration>) -> Result<bool, ApiError> {
        self.stop_with(entry, timeout, None)
    }

    /// [`Daemon::stop`] with `signal` (the `signal` query) instead of the container's own.
    pub fn stop_with(&self, entry: &Arc<Entry>, timeout: Option<Duration>, signal: Option<i32>) -> Result<bool, ApiError> {
        let mut slot = entry.lock();
        if slot.c.state.restarting && !slot.c.state.running {
            // Waiting for its backoff: it stays stopped.
            slot.c.state.restarting = false;
            slot.c.state.status = "exited".into();
            self.note_manual_stop(&mut slot.c, libc::SIGKILL);
            let _ = slot.c.save_state(&self.opts.data_root);
            entry.notify();
            return Ok(true);
        }
        if !slot.c.state.running {
            return Ok(false);
        }
        let exits = slot.exits;
        let signal = signal.unwrap_or_else(|| slot.c.config.get("StopSignal").and_then(Value::as_str).and_then(parse_signal).unwrap_or(libc::SIGTERM));
        self.note_manual_stop(&mut slot.c, libc::SIGKILL);
        let stop_timeout = slot.c.config.get("StopTimeout").and_then(Value::as_i64);
        let id = slot.c.id.clone();
        drop(slot);
        // The request's timeout, else the container's StopTimeout (negative: no limit), else 10 s.
        let timeout = timeout.unwrap_or(match stop_timeout {
            Some(t) if t < 0 => Duration::from_secs(u32::MAX as u64),
            Some(t) => Duration::from_secs(t as u64),
            None => Duration::from_secs(10),
        });
        match self.signal_task(entry, &id, signal, false) {
            Err(e) if e.kind != ErrorKind::NotFound => return Err(e.into()),
            Err(_) => {}
            Ok(()) => self.thaw_after_signal(entry, signal),
        }
        let slot = entry.wait_until(entry.lock(), Some(timeout), |s| s.exits > exits || !s.c.state.running);
        if slot.exits > exits || !slot.c.state.running {
            self.events.container(&slot.c, "stop", &[]);
            return Ok(true);
        }
        drop(slot);
        if self.signal_task(entry, &id, libc::SIGKILL, true).is_ok() {
            self.thaw_after_signal(entry, libc::SIGKILL);
        }
        let slot = entry.wait_until(entry.lock(), Some(Duration::from_secs(30)), |s| s.exits > exits || !s.c.state.running);
        if slot.c.state.running {
            return Err(ApiError::internal(format!("cannot stop container: {id}: tried to kill container, but did not receive an exit event")));
        }
        self.events.container(&slot.c, "stop", &[]);
        Ok(true)
    }

    /// DELETE /containers/{id} without `v`: its volumes are kept.
    pub fn remove(&self, entry: &Arc<Entry>, force: bool) -> Result<(), ApiError> {
        self.remove_with_volumes(entry, force, false)
    }

    /// DELETE /containers/{id}; `volumes` (`rm -v`) removes its anonymous volumes too.
    pub fn remove_with_volumes(&self, entry: &Arc<Entry>, force: bool, volumes: bool) -> Result<(), ApiError> {
        let slot = entry.lock();
        if slot.removed {
            return Ok(());
        }
        if slot.c.state.restarting && !slot.c.state.running && !force {
            return Err(ApiError::conflict(format!(
                "cannot remove container \"{}\": container is restarting: stop the container before removing or force remove",
                slot.c.name
            )));
        }
        if slot.c.state.running {
            if !force && slot.c.state.paused {
                return Err(ApiError::conflict(format!("cannot remove container \"{}\": container is paused and must be unpaused first", slot.c.name)));
            }
            if !force {
                return Err(ApiError::conflict(format!(
                    "cannot remove container \"{}\": container is running: stop the container before removing or force remove",
                    slot.c.name
                )));
            }
            drop(slot);
            self.stop(entry, Some(Duration::ZERO))?;
        } else {
            drop(slot);
        }
        let mut slot = entry.lock();
        if slot.removed {
            return Ok(());
        }
        let removed = self.remove_stopped(&mut slot, volumes);
        entry.notify();
        removed
    }

    /// Removes a container that is not running, under its lock; the caller notifies waiters.
    fn remove_stopped(&self, slot: &mut Slot, volumes: bool) -> Result<(), ApiError> {
        slot.c.state.status = "removing".into();
        let id = slot.c.id.clone();
        let dir = Container::dir(&self.opts.data_root, &id);
        // Forgotten first (durably), so a crash from here on leaves no half-removed container,
        // only its filesystem and layer record, which the next start collects; the layers it
        // stood on go last, once nothing else holds them.
        Container::forget(&dir).map_err(|e| ApiError::internal(format!("unable to remove {id}: {e}")))?;
        // What follows goes two at a time where the order allows: deleting directory entries
        // is slow on some disks, and these are independent.
        crate::durable::step_at("remove layers of", &dir);
        let removed = std::thread::scope(|scope| {
            let bundle = scope.spawn(|| std::fs::remove_dir_all(self.bundle_dir(&id)));
            let removed = self.snapshots.remove(&slot.c.mount_id);
            let _ = bundle.join();
            removed
        });
        if let Err(e) = removed {
            slot.c.state.status = "dead".into();
            slot.c.state.dead = true;
            // config.v2.json is gone already: this makes the container again.
            let _ = slot.c.save(&self.opts.data_root);
            return Err(ApiError::internal(format!("unable to remove filesystem for {id}: {e}")));
        }
        std::thread::scope(|scope| {
            let files = scope.spawn(|| crate::durable::remove_dir_all(&dir));
            if let Err(e) = self.images.release_container_layers(&id) {
                crate::log::line(crate::log::Level::Error, "releasing the container's layers; the next start frees them", &[("container", &id), ("error", &e.to_string())]);
            }
            files.join().unwrap_or_else(|_| Err(std::io::Error::other("removing the container's directory panicked")))
        })
        .map_err(|e| ApiError::internal(format!("unable to remove {id}: {e}")))?;
        self.containers.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        super::mounts::remove(self, &id, &slot.c.mount_points, volumes);
        self.execs.forget_container(&id);
        self.restarts.forget(&id);
        slot.removed = true;
        self.events.container(&slot.c, "destroy", &[]);
        Ok(())
    }

    /// A function that blocks until `condition` holds, judged from now, and returns the
    /// exit code.
    pub fn waiter(&self, entry: &Arc<Entry>, condition: WaitCondition) -> impl FnOnce() -> i32 + Send + 'static {
        let exits = entry.lock().exits;
        let entry = entry.clone();
        move || {
            let slot = entry.lock();
            let slot = match condition {
                WaitCondition::NotRunning => entry.wait_until(slot, None, |s| (!s.c.state.running && !s.c.state.restarting) || s.removed),
                WaitCondition::NextExit => entry.wait_until(slot, None, |s| s.exits > exits || s.removed),
                WaitCondition::Removed => entry.wait_until(slot, None, |s| s.removed),
            };
            slot.c.state.exit_code
        }
    }

    /// Loads containers saved under the data-root and reconciles them with containerd.
    pub fn restore(&self) {
        let Ok(dir) = std::fs::read_dir(self.opts.data_root.join("containers")) else { return };
        for d in dir.flatten() {
            match Container::load(&d.path()) {
                Ok(mut c) => {
                    let id = c.id.clone();
                    let running = c.state.running;
                    if c.mount_points.is_empty() {
                        c.mount_points = super::mounts::from_old_record(&c.host_config);
                    }
                    super::mounts::restore(self, &id, &c.mount_points, running);
                    let entry = Entry::new(c);
                    if running {
                        let bundle = self.bundle_dir(&id);
                        let stderr = Some(bundle.join("init-stderr")).filter(|p| p.exists());
                        let fifos = Fifos { stdin: None, stdout: bundle.join("init-stdout"), stderr };
                        // A driver that cannot open now (a syslog server away) leaves the output
                        // drained and unlogged rather than blocking the container.
                        let logger = entry.lock().c.open_logger(&self.opts.data_root).unwrap_or_else(|e| {
                            crate::log::line(crate::log::Level::Error, &format!("failed to initialize logging driver: {e}"), &[("container", &id)]);
                            crate::logger::Logger::none()
                        });
                        if fifos.stdout.exists() {
                            let _ = entry.output.resume(&fifos, logger);
                        }
                        let stdin = bundle.join("init-stdin");
                        if stdin.exists() {
                            let _ = entry.input.open(&stdin);
                        }
                    }
                    self.containers.lock().unwrap_or_else(|e| e.into_inner()).insert(id, entry);
                }
                // A removal that a crash interrupted: the container was already forgotten.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let _ = std::fs::remove_dir_all(d.path());
                }
                Err(e) => crate::log::line(crate::log::Level::Error, "failed to load container", &[("path", &d.path().display().to_string()), ("error", &e.to_string())]),
            }
        }
    }

    /// After `restore`, before any request: every container's layers recorded, and what a
    /// crash left half made or half removed (container filesystems, layer directories)
    /// deleted.
    pub fn recover_storage(&self) {
        // Every container with a config.v2.json counts, even one `restore` could not load:
        // what it stands on is kept.
        let live: Vec<(String, String, String)> = std::fs::read_dir(self.opts.data_root.join("containers"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|d| {
                let config: Value = serde_json::from_slice(&std::fs::read(d.path().join("config.v2.json")).ok()?).ok()?;
                let field = |k: &str| config.get(k).and_then(Value::as_str).map(str::to_string);
                Some((field("ID")?, field("MountID")?, field("Image").unwrap_or_default()))
            })
            .collect();
        if let Err(e) = self.images.recover(&live, &|mount_id| self.snapshots.remove(mount_id)) {
            crate::log::error(&format!("recovering the layer store: {e}"));
        }
        // Layer files a power cut emptied (written without fsync at create).
        for (id, mount_id, image) in &live {
            if let Err(e) = self.snapshots.repair_rw(mount_id, &|| self.images.get(image)) {
                crate::log::line(crate::log::Level::Error, "repairing the container's filesystem", &[("container", id), ("error", &e.to_string())]);
            }
        }
        let mounts: std::collections::HashSet<String> = live.into_iter().map(|(_, m, _)| m).collect();
        if let Err(e) = self.snapshots.remove_orphan_roots(&mounts) {
            crate::log::error(&format!("removing leftover container roots: {e}"));
        }
    }

    /// Exits that happened while we were not listening (a restart of dockerd or containerd).
    /// Run once at start before the API serves, so that no container reads as running whose
    /// task is gone, and again each time the event subscription is in place.
    pub(super) fn reconcile(&self) {
        for entry in self.containers() {
            let (id, running) = {
                let s = entry.lock();
                (s.c.id.clone(), s.c.state.running)
            };
            if !running {
                continue;
            }
            match self.containerd.state(&id) {
                Ok(t) if t.status == "stopped" => {
                    self.handle_exit(&id, t.exit_status.unwrap_or(255), t.exited_at.as_deref().unwrap_or(super::container::ZERO_TIME));
                }
                Ok(_) => {}
                Err(e) if e.kind == ErrorKind::NotFound => {
                    self.handle_exit(&id, 255, &crate::sys::rfc3339_nanos(SystemTime::now()));
                }
                Err(_) => {}
            }
        }
    }

    /// Follows containerd's events forever, reconnecting (and restarting our containerd
    /// child if it died) when the stream breaks.
    pub fn follow_events(&self) {
        loop {
            if self.containerd.version().is_ok() {
                // Exits we missed are looked for once the subscription is in place, so that
                // none falls between the look and the subscription.
                let _ = self.containerd.raw_events(&mut |v| {
                    if v.get("topic").and_then(Value::as_str) == Some("/subscribed") {
                        self.reconcile();
                        self.reconcile_execs();
                        self.restarts.events_followed();
                    } else {
                        match crate::containerd::client::parse_event(v) {
                            Some(Event::Exit { id, exit_status, exited_at, .. }) => self.handle_exit(&id, exit_status, &exited_at),
                            Some(Event::ExecExit { id, exec_id, exit_status, .. }) => self.exec_exited(&id, &exec_id, exit_status),
                            _ => {}
                        }
                    }
                    true
                });
            }
            // A dead containerd of ours is started again by `watch_containerd`.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Restarts our containerd child when it dies, until dockerd's shutdown takes the child
    /// away. A thread of its own, asleep in `waitid` until the exit (no polling: an idle
    /// device stays idle), which leaves the reaping to `restart_containerd_if_dead`. Not the
    /// events thread: it may itself be waiting for containerd to come back (an exit's task
    /// deletion, through `containerd_call`), and would wait in vain.
    pub(super) fn watch_containerd(&self) {
        use nix::sys::wait::{waitid, Id, WaitPidFlag};
        loop {
            let pid = match self.containerd_child.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                Some(c) => nix::unistd::Pid::from_raw(c.id() as i32),
                None => return,
            };
            match waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                // Already reaped, and a restart that failed is tried again after a pause.
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
            self.restart_containerd_if_dead();
        }
    }

    fn restart_containerd_if_dead(&self) {
        let mut child = self.containerd_child.lock().unwrap_or_else(|e| e.into_inner());
        let Some(c) = child.as_mut() else { return };
        if matches!(c.try_wait(), Ok(Some(_))) {
            crate::log::warn("containerd exited; starting it again");
            match crate::containerd::client::spawn_daemon(
                &self.containerd_address(),
                &self.opts.data_root.join("containerd").join("daemon"),
                &self.opts.exec_root.join("containerd").join("daemon"),
                self.opts.default_runtime.as_deref(),
                self.opts.debug,
            ) {
                Ok(new) => *child = Some(new),
                Err(e) => crate::log::error(&format!("restarting containerd: {e}")),
            }
        }
    }

    /// Stops running containers (unless live-restore), then our containerd. Each container
    /// is stopped as `docker stop` would, with its own stop signal and timeout, all at once;
    /// none counts as stopped by hand, so the next start restarts those whose policy says so.
    pub fn shutdown(&self) {
        self.restarts.shut_down();
        if !self.settings().live_restore {
            let running: Vec<_> = self.containers().into_iter().filter(|e| e.lock().c.state.running).collect();
            std::thread::scope(|scope| {
                for e in &running {
                    let stopping = std::thread::Builder::new().stack_size(256 * 1024).spawn_scoped(scope, move || {
                        if let Err(err) = self.stop(e, None) {
                            crate::log::line(crate::log::Level::Error, "failed to shut down container", &[("container", &e.lock().c.id), ("error", &err.message)]);
                        }
                    });
                    if stopping.is_err() {
                        let _ = self.stop(e, None);
                    }
                }
            });
        }
        // What running containers write from now on waits in their FIFOs for the next dockerd.
        super::streams::stop_readers();
        if let Some(mut c) = self.containerd_child.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGTERM);
            let _ = c.wait();
        }
    }
}

/// Docker's DOCKER_RAMDISK (any non-empty value): the host runs from an initramfs, where
/// pivot_root fails, so the runtime enters each rootfs with a move mount and chroot.
pub fn no_pivot_root() -> bool {
    std::env::var_os("DOCKER_RAMDISK").is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(config: Value, image: Value) -> Value {
        let mut c = config.as_object().cloned().unwrap();
        merge_image_config(&mut c, &image);
        Value::Object(c)
    }

    #[test]
    fn image_defaults_fill_what_the_request_leaves_out() {
        let image = json!({"Env": ["PATH=/bin", "A=1"], "Cmd": ["sh"], "WorkingDir": "/srv", "Labels": {"x": "1"}});
        let c = merged(json!({"Image": "busybox", "Env": ["A=2", "B=3"]}), image.clone());
        assert_eq!(c["Env"], json!(["PATH=/bin", "A=2", "B=3"]));
        assert_eq!(c["Cmd"], json!(["sh"]));
        assert_eq!(c["WorkingDir"], "/srv");
        assert_eq!(c["Labels"], json!({"x": "1"}));
        let c = merged(json!({"Image": "busybox", "Cmd": ["echo", "hi"], "WorkingDir": "/tmp"}), image.clone());
        assert_eq!((c["Cmd"].clone(), c["WorkingDir"].clone()), (json!(["echo", "hi"]), json!("/tmp")));
        // An entrypoint given with the request drops the image's command, as Docker does.
        let c = merged(json!({"Image": "busybox", "Entrypoint": ["/bin/echo"]}), image);
        assert_eq!(spec::process_args(&c), vec!["/bin/echo"]);
    }

    #[test]
    fn start_errors_map_to_dockers_exit_codes() {
        assert_eq!(start_error_exit_code("exec: \"nope\": executable file not found in $PATH"), 127);
        assert_eq!(start_error_exit_code("exec /etc/passwd: permission denied"), 126);
        assert_eq!(start_error_exit_code("something else"), 128);
    }
}
