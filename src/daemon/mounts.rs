//! A container's mounts, planned in one place: `-v`/`HostConfig.Binds` (host paths, named
//! volumes), `--mount`/`HostConfig.Mounts` (bind, volume, tmpfs), `--volumes-from`, and the
//! anonymous volumes of `Config.Volumes` and the image's `VOLUME`s. Create parses and checks
//! them as Docker's Linux parser does ([`validate`], then [`plan`]: volumes made and
//! referenced, the list kept in config.v2.json as `MountPoints`); start acquires the volumes,
//! fills new ones with the image's content and turns the list into the spec's mounts
//! ([`setup`]); the exit releases them ([`release`]); rm dereferences them and, with `-v` or
//! `--rm`, removes the anonymous ones ([`remove`]). `HostConfig.Tmpfs` stays with the host
//! settings (`host_spec`), as Docker keeps it out of the mount points.

use super::errors::ApiError;
use super::Daemon;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One mount of a container, as config.v2.json's `MountPoints` keep it (Docker's keys, plus
/// what start needs to make it again).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    /// `bind`, `volume` or `tmpfs`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// The volume's name (volumes only).
    pub name: String,
    /// The host path: a bind's source, a volume's `_data` (or its sub-path).
    pub source: String,
    pub destination: String,
    pub driver: String,
    /// The `-v` options as given (`z` for a local volume given without any, as Docker).
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
    /// Named by the user (`-v name:/x`, `--mount source=name`): `rm -v` keeps it.
    pub named: bool,
    /// The image's content at the destination is copied into the volume if it is empty.
    pub copy_data: bool,
    /// `volume-subpath`: the directory of the volume that is mounted.
    pub subpath: String,
    /// `bind-nonrecursive`: no `rbind`.
    pub non_recursive: bool,
    /// `bind-recursive=writable`: read-only, but not the mounts below it.
    pub read_only_non_recursive: bool,
    /// `bind-recursive=readonly`: recursively read-only, or an error.
    pub read_only_force_recursive: bool,
    /// A `-v` bind whose missing source is made as a directory (never for `--mount`).
    pub create_source: bool,
    /// A tmpfs's mount data (`size=...,mode=...`).
    pub tmpfs_options: String,
}

impl MountPoint {
    /// inspect's (and `GET /containers/json`'s) entry, as Docker fills it.
    pub fn to_api(&self) -> Value {
        let mut v = json!({"Type": self.kind});
        if self.kind == "volume" {
            v["Name"] = json!(self.name);
        }
        v["Source"] = json!(self.source);
        v["Destination"] = json!(self.destination);
        if self.kind == "volume" {
            v["Driver"] = json!(self.driver);
        }
        v["Mode"] = json!(self.mode);
        v["RW"] = json!(self.rw);
        v["Propagation"] = json!(self.propagation);
        v
    }
}

const PROPAGATIONS: &[&str] = &["private", "rprivate", "shared", "rshared", "slave", "rslave"];

/// Docker's check of a `-v` mode: each kind of option at most once.
fn valid_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let mut counts = [0; 5];
    for o in mode.split(',') {
        let i = match o {
            "ro" | "rw" => 0,
            "z" | "Z" => 1,
            p if PROPAGATIONS.contains(&p) => 2,
            "nocopy" => 3,
            "consistent" | "cached" | "delegated" => 4,
            _ => return false,
        };
        counts[i] += 1;
    }
    counts.iter().all(|&c| c <= 1)
}

fn clean(path: &str) -> String {
    let parts = crate::rootfs_access::clean_components(path);
    crate::rootfs_access::absolute(&parts)
}

fn invalid_spec(raw: &str) -> String {
    format!("invalid volume specification: '{raw}'")
}

fn mount_config_error(kind: &str, why: &str) -> String {
    format!("invalid mount config for type \"{kind}\": {why}")
}

fn check_target(kind: &str, target: &str) -> Result<(), String> {
    if target.is_empty() {
        return Err(mount_config_error(kind, "field Target must not be empty"));
    }
    if clean(target) == "/" && target.starts_with('/') {
        return Err(mount_config_error(kind, "invalid specification: destination can't be '/'"));
    }
    if !target.starts_with('/') {
        return Err(mount_config_error(kind, &format!("invalid mount path: '{target}' mount path must be absolute")));
    }
    Ok(())
}

/// One `HostConfig.Binds` entry (`/host:/ctr[:mode]`, `name:/ctr[:mode]`), as Docker's Linux
/// parser reads it. `volume_driver` is `HostConfig.VolumeDriver`.
pub fn parse_bind(raw: &str, volume_driver: &str) -> Result<MountPoint, String> {
    let parts: Vec<&str> = raw.splitn(4, ':').collect();
    if parts[0].is_empty() {
        return Err(invalid_spec(raw));
    }
    let (source, target, mode) = match parts.as_slice() {
        [t] => ("", *t, ""),
        [_, m] if valid_mode(m) => return Err(invalid_spec(raw)),
        [s, t] => (*s, *t, ""),
        [s, t, m] => (*s, *t, *m),
        _ => return Err(invalid_spec(raw)),
    };
    if !valid_mode(mode) {
        return Err(format!("invalid mode: {mode}"));
    }
    let opts: Vec<&str> = mode.split(',').filter(|o| !o.is_empty()).collect();
    let kind = if source.starts_with('/') { "bind" } else { "volume" };
    check_target(kind, target).map_err(|e| format!("{}: {e}", invalid_spec(raw)))?;
    let mut m = MountPoint {
        kind: kind.into(),
        destination: clean(target),
        mode: mode.into(),
        rw: !opts.contains(&"ro"),
        ..MountPoint::default()
    };
    if kind == "bind" {
        m.source = clean(source);
        m.propagation = opts.iter().find(|o| PROPAGATIONS.contains(o)).map_or("rprivate", |p| p).to_string();
        m.create_source = true;
    } else {
        // The name is the volume store's to check, when it makes the volume (Docker's
        // "create NAME: ... includes invalid characters ...").
        m.name = source.into();
        m.named = !source.is_empty();
        m.driver = volume_driver.into();
        m.copy_data = !opts.contains(&"nocopy");
    }
    Ok(m)
}

/// One `HostConfig.Mounts` entry (`--mount`), checked as Docker checks a mount spec.
pub fn parse_mount(spec: &Value) -> Result<MountPoint, String> {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let kind = s(spec, "Type");
    let target = s(spec, "Target");
    let source = s(spec, "Source");
    let read_only = spec.get("ReadOnly").and_then(Value::as_bool).unwrap_or(false);
    let opt = |k: &str| spec.get(k).filter(|v| !v.is_null());
    for (k, owner) in [("BindOptions", "bind"), ("VolumeOptions", "volume"), ("TmpfsOptions", "tmpfs"), ("ImageOptions", "image"), ("ClusterOptions", "cluster")] {
        if opt(k).is_some() && kind != owner {
            return Err(mount_config_error(&kind, &format!("field {k} must not be specified")));
        }
    }
    if let Some(c) = spec.get("Consistency").and_then(Value::as_str).filter(|c| !c.is_empty()) {
        if !["default", "consistent", "cached", "delegated"].contains(&c) {
            return Err(mount_config_error(&kind, &format!("invalid consistency: {c}")));
        }
    }
    check_target(&kind, &target)?;
    let mut m = MountPoint { kind: kind.clone(), destination: clean(&target), rw: !read_only, ..MountPoint::default() };
    match kind.as_str() {
        "bind" => {
            if source.is_empty() {
                return Err(mount_config_error(&kind, "field Source must not be empty"));
            }
            let b = opt("BindOptions").cloned().unwrap_or(Value::Null);
            let propagation = s(&b, "Propagation");
            if !propagation.is_empty() && !PROPAGATIONS.contains(&propagation.as_str()) {
                return Err(mount_config_error(&kind, &format!("invalid propagation mode: {propagation}")));
            }
            if !source.starts_with('/') {
                return Err(mount_config_error(&kind, &format!("invalid mount path: '{source}' mount path must be absolute")));
            }
            let create = b.get("CreateMountpoint").and_then(Value::as_bool).unwrap_or(false);
            if !create && std::fs::symlink_metadata(&source).is_err() {
                return Err(mount_config_error(&kind, &format!("bind source path does not exist: {source}")));
            }
            let flag = |k: &str| b.get(k).and_then(Value::as_bool).unwrap_or(false);
            m.read_only_non_recursive = flag("ReadOnlyNonRecursive");
            m.read_only_force_recursive = flag("ReadOnlyForceRecursive");
            // Docker's checks of these (at start there, at create here).
            if !read_only && m.read_only_non_recursive {
                return Err("mount options conflict: !ReadOnly && BindOptions.ReadOnlyNonRecursive".into());
            }
            if !read_only && m.read_only_force_recursive {
                return Err("mount options conflict: !ReadOnly && BindOptions.ReadOnlyForceRecursive".into());
            }
            if m.read_only_non_recursive && m.read_only_force_recursive {
                return Err("mount options conflict: ReadOnlyNonRecursive && BindOptions.ReadOnlyForceRecursive".into());
            }
            m.source = clean(&source);
            m.propagation = if propagation.is_empty() { "rprivate".into() } else { propagation };
            m.non_recursive = b.get("NonRecursive").and_then(Value::as_bool).unwrap_or(false);
            m.create_source = create;
        }
        "volume" => {
            let v = opt("VolumeOptions").cloned().unwrap_or(Value::Null);
            let subpath = s(&v, "Subpath");
            if !subpath.is_empty() {
                if source.is_empty() {
                    return Err(mount_config_error(&kind, "must not set Subpath when using anonymous volumes"));
                }
                if subpath.starts_with('/') || subpath.split('/').any(|c| c == "..") {
                    return Err(mount_config_error(&kind, "subpath must be a relative path within the volume"));
                }
            }
            m.name = source.clone();
            m.named = !source.is_empty();
            m.driver = v.pointer("/DriverConfig/Name").and_then(Value::as_str).unwrap_or("").to_string();
            m.copy_data = !v.get("NoCopy").and_then(Value::as_bool).unwrap_or(false);
            m.subpath = subpath;
        }
        "tmpfs" => {
            if !source.is_empty() {
                return Err(mount_config_error(&kind, "field Source must not be specified"));
            }
            m.tmpfs_options = tmpfs_data(opt("TmpfsOptions"), read_only).map_err(|e| mount_config_error(&kind, &e))?;
        }
        "npipe" | "cluster" | "image" => return Err(format!("mount type \"{kind}\" (HostConfig.Mounts) is not supported by this daemon")),
        _ => return Err(mount_config_error(&kind, "mount type unknown")),
    }
    Ok(m)
}

/// The mount data of a `--mount type=tmpfs`, as Docker converts TmpfsOptions.
fn tmpfs_data(opts: Option<&Value>, read_only: bool) -> Result<String, String> {
    let mut out = Vec::new();
    if read_only {
        out.push("ro".to_string());
    }
    let Some(o) = opts else { return Ok(out.join(",")) };
    let mode = o.get("Mode").and_then(Value::as_u64).unwrap_or(0);
    if mode != 0 {
        out.push(format!("mode={:o}", mode & 0o7777));
    }
    let size = o.get("SizeBytes").and_then(Value::as_i64).unwrap_or(0);
    if size < 0 {
        return Err(format!("invalid tmpfs size: {size}"));
    }
    if size != 0 {
        let (n, suffix) = [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)].iter().find(|(_, d)| size % d == 0).map_or((size, ""), |(s, d)| (size / d, *s));
        out.push(format!("size={n}{suffix}"));
    }
    for pair in o.get("Options").and_then(Value::as_array).into_iter().flatten() {
        let parts: Vec<&str> = pair.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        match parts.as_slice() {
            [k] if matches!(*k, "exec" | "noexec") => out.push(k.to_string()),
            [k, v] if matches!(*k, "exec" | "noexec") => out.push(format!("{k}={v}")),
            [k, ..] if !parts.is_empty() && parts.len() <= 2 => return Err(format!("invalid option: {k}")),
            _ => return Err("invalid option array length".into()),
        }
    }
    Ok(out.join(","))
}

/// `CT[:mode]` of `--volumes-from`.
pub fn parse_volumes_from(spec: &str) -> Result<(String, String), String> {
    if spec.is_empty() {
        return Err("volumes-from specification cannot be an empty string".into());
    }
    let (id, mode) = spec.split_once(':').unwrap_or((spec, ""));
    if mode.is_empty() {
        return Ok((id.into(), "rw".into()));
    }
    let has = |set: &[&str]| mode.split(',').any(|o| set.contains(&o));
    if !valid_mode(mode) || has(PROPAGATIONS) || has(&["nocopy"]) {
        return Err(format!("invalid mode: {mode}"));
    }
    Ok((id.into(), mode.into()))
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key).and_then(Value::as_array).into_iter().flatten().filter_map(|s| s.as_str().map(String::from)).collect()
}

fn tmpfs_destinations(h: &Value) -> Vec<String> {
    h.get("Tmpfs").and_then(Value::as_object).into_iter().flatten().map(|(k, _)| clean(k)).collect()
}

/// The checks of create that need no daemon state: every bind, mount and volumes-from
/// parses, no destination twice (Docker's "Duplicate mount point"). Volume names and drivers
/// are the volume store's to refuse, when `plan` makes the volumes.
pub fn validate(h: &Value) -> Result<(), String> {
    let driver = h.get("VolumeDriver").and_then(Value::as_str).unwrap_or("");
    let tmpfs = tmpfs_destinations(h);
    let mut seen: Vec<String> = Vec::new();
    for raw in strings(h, "Binds") {
        let m = parse_bind(&raw, driver)?;
        if seen.contains(&m.destination) || tmpfs.contains(&m.destination) {
            return Err(format!("Duplicate mount point: {}", m.destination));
        }
        seen.push(m.destination);
    }
    for spec in h.get("Mounts").and_then(Value::as_array).into_iter().flatten() {
        let m = parse_mount(spec)?;
        if seen.contains(&m.destination) {
            return Err(format!("Duplicate mount point: {}", m.destination));
        }
        seen.push(m.destination);
    }
    for spec in strings(h, "VolumesFrom") {
        parse_volumes_from(&spec)?;
    }
    Ok(())
}

fn volume_error(e: crate::volume::Error) -> ApiError {
    let status = match e.kind {
        crate::volume::ErrorKind::Invalid => 400,
        crate::volume::ErrorKind::NotFound => 404,
        crate::volume::ErrorKind::Conflict => 409,
        crate::volume::ErrorKind::System => 500,
    };
    ApiError::new(status, e.message)
}

/// What a container gets mounted, decided at create: the mount points of `--volumes-from`
/// containers, then binds, then `HostConfig.Mounts`, then anonymous volumes for the
/// `Config.Volumes` (the image's included) nothing else covers. Volumes are created as needed
/// and referenced by `id`; on an error nothing stays referenced or created.
pub fn plan(d: &Daemon, id: &str, config: &Value, h: &Value) -> Result<Vec<MountPoint>, ApiError> {
    let mut points: Vec<MountPoint> = Vec::new();
    let mut created: Vec<String> = Vec::new();
    let result = plan_into(d, id, config, h, &mut points, &mut created);
    if let Err(e) = result {
        undo_plan(d, id, &points, &created);
        return Err(e);
    }
    Ok(points)
}

fn undo_plan(d: &Daemon, id: &str, points: &[MountPoint], created: &[String]) {
    for m in points.iter().filter(|m| m.kind == "volume") {
        let _ = d.volumes.dereference(&m.name, id);
    }
    for name in created {
        let _ = d.volumes.remove(name, true);
    }
}

fn put(points: &mut Vec<MountPoint>, m: MountPoint, d: &Daemon, id: &str) {
    if let Some(i) = points.iter().position(|p| p.destination == m.destination) {
        let old = points.remove(i);
        if old.kind == "volume" && !points.iter().any(|p| p.kind == "volume" && p.name == old.name) && old.name != m.name {
            let _ = d.volumes.dereference(&old.name, id);
        }
    }
    points.push(m);
}

fn plan_into(d: &Daemon, id: &str, config: &Value, h: &Value, points: &mut Vec<MountPoint>, created: &mut Vec<String>) -> Result<(), ApiError> {
    let driver = h.get("VolumeDriver").and_then(Value::as_str).unwrap_or("");
    // A volume for a mount point: made if it does not exist, referenced by the container.
    let mut volume_for = |m: &mut MountPoint, labels: Option<BTreeMap<String, String>>, options: Option<BTreeMap<String, String>>| -> Result<(), ApiError> {
        // A prune may take a volume between its making and its reference: made again then.
        let mut attempts = 0;
        let v = loop {
            attempts += 1;
            let existed = !m.name.is_empty() && d.volumes.get(&m.name).is_ok();
            let v = d.volumes.get_or_create(Some(m.name.as_str()).filter(|n| !n.is_empty()), &m.driver, labels.clone(), options.clone()).map_err(volume_error)?;
            if !existed {
                created.push(v.name.clone());
                d.events.volume("create", &v.name, crate::volume::DRIVER);
            }
            match d.volumes.reference(&v.name, id) {
                Err(e) if e.kind == crate::volume::ErrorKind::NotFound && attempts < 3 => continue,
                r => r.map_err(volume_error)?,
            }
            break v;
        };
        m.name = v.name.clone();
        m.driver = crate::volume::DRIVER.into();
        m.source = v.mountpoint.display().to_string();
        if !m.subpath.is_empty() {
            m.source = v.mountpoint.join(&m.subpath).display().to_string();
        }
        Ok(())
    };

    for spec in strings(h, "VolumesFrom") {
        let (name, mode) = parse_volumes_from(&spec).map_err(ApiError::bad_request)?;
        let donor = d.find(&name).map_err(|e| ApiError::bad_request(e.message))?;
        let donor_points = donor.lock().c.mount_points.clone();
        let rw_mode = !mode.split(',').any(|o| o == "ro");
        for mut m in donor_points {
            m.rw = m.rw && rw_mode;
            m.copy_data = false;
            if m.kind == "volume" {
                d.volumes.reference(&m.name, id).map_err(volume_error)?;
            }
            put(points, m, d, id);
        }
    }
    let tmpfs = tmpfs_destinations(h);
    let mut given: Vec<String> = Vec::new();
    for raw in strings(h, "Binds") {
        let mut m = parse_bind(&raw, driver).map_err(ApiError::bad_request)?;
        if given.contains(&m.destination) || tmpfs.contains(&m.destination) {
            return Err(ApiError::bad_request(format!("Duplicate mount point: {}", m.destination)));
        }
        if m.kind == "volume" {
            volume_for(&mut m, None, None)?;
            if m.mode.is_empty() {
                m.mode = "z".into();
            }
        }
        given.push(m.destination.clone());
        put(points, m, d, id);
    }
    for spec in h.get("Mounts").and_then(Value::as_array).into_iter().flatten() {
        let mut m = parse_mount(spec).map_err(ApiError::bad_request)?;
        if given.contains(&m.destination) {
            return Err(ApiError::bad_request(format!("Duplicate mount point: {}", m.destination)));
        }
        if m.kind == "volume" {
            let to_map = |v: Option<&Value>| v.and_then(Value::as_object).map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect::<BTreeMap<_, _>>());
            let options = to_map(spec.pointer("/VolumeOptions/DriverConfig/Options"));
            let labels = to_map(spec.pointer("/VolumeOptions/Labels"));
            volume_for(&mut m, labels, options)?;
            m.mode = "z".into();
        }
        given.push(m.destination.clone());
        put(points, m, d, id);
    }
    let mut anonymous: Vec<String> = config.get("Volumes").and_then(Value::as_object).into_iter().flatten().map(|(k, _)| k.clone()).collect();
    anonymous.sort();
    for dest in anonymous {
        if !dest.starts_with('/') {
            return Err(ApiError::bad_request(format!("invalid mount config for type \"volume\": invalid mount path: '{dest}' mount path must be absolute")));
        }
        let dest = clean(&dest);
        if dest == "/" {
            return Err(ApiError::bad_request("invalid mount config for type \"volume\": invalid specification: destination can't be '/'"));
        }
        if points.iter().any(|p| p.destination == dest) || tmpfs.contains(&dest) {
            continue;
        }
        let mut m = MountPoint { kind: "volume".into(), destination: dest, rw: true, copy_data: true, driver: driver.into(), ..MountPoint::default() };
        volume_for(&mut m, None, None)?;
        points.push(m);
    }
    Ok(())
}

/// The mount points of a container saved before they were kept (config.v2.json without
/// `MountPoints`): its `HostConfig.Binds`, which could then only be host paths.
pub fn from_old_record(h: &Value) -> Vec<MountPoint> {
    strings(h, "Binds").iter().filter_map(|b| parse_bind(b, "").ok()).filter(|m| m.kind == "bind").collect()
}

/// A reloaded container's volumes referenced again (and acquired when it runs), so that
/// `Store::unmount_unused` keeps what running containers use.
pub fn restore(d: &Daemon, id: &str, points: &[MountPoint], running: bool) {
    for m in points.iter().filter(|m| m.kind == "volume") {
        let r = if running { d.volumes.acquire(&m.name, id).map(|_| ()) } else { d.volumes.reference(&m.name, id) };
        if let Err(e) = r {
            crate::log::line(crate::log::Level::Error, &format!("volume {}: {e}", m.name), &[("container", id)]);
        }
    }
}

/// The end of a run: the container's volumes released (a device unmounted when unused).
pub fn release(d: &Daemon, id: &str, points: &[MountPoint]) {
    release_held(d, id);
    for m in points.iter().filter(|m| m.kind == "volume") {
        if d.volumes.release(&m.name, id).is_ok() {
            d.events.log("volume", "unmount", &m.name, [("driver", m.driver.as_str()), ("container", id)].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        }
    }
}

/// At rm: every volume dereferenced; with `remove_anonymous` (`rm -v`, `--rm`) the anonymous
/// ones are removed, unless another container still uses them.
pub fn remove(d: &Daemon, id: &str, points: &[MountPoint], remove_anonymous: bool) {
    for m in points.iter().filter(|m| m.kind == "volume") {
        let _ = d.volumes.dereference(&m.name, id);
        if remove_anonymous && !m.named {
            match d.volumes.remove(&m.name, true) {
                Ok(Some(v)) => d.events.volume("destroy", &v.name, crate::volume::DRIVER),
                Ok(None) => {}
                Err(e) if e.kind == crate::volume::ErrorKind::Conflict => {}
                Err(e) => crate::log::line(crate::log::Level::Error, "failed to remove volume", &[("volume", &m.name), ("error", &e.to_string())]),
            }
        }
    }
}

/// At start: the container's volumes acquired (their devices mounted), new volumes filled
/// with the image's content, missing `-v` bind sources made, and the spec's mounts, sorted
/// as Docker sorts them (parents before children). `rootfs` is the mounted root. On an error
/// nothing stays acquired.
pub fn setup(d: &Daemon, id: &str, points: &mut [MountPoint], rootfs: &Path) -> Result<Vec<Value>, ApiError> {
    let mut acquired: Vec<String> = Vec::new();
    let result = (|| -> Result<Vec<Value>, ApiError> {
        let mut mounts = Vec::new();
        for m in points.iter_mut() {
            match m.kind.as_str() {
                "volume" => {
                    let data = d.volumes.acquire(&m.name, id).map_err(volume_error)?;
                    acquired.push(m.name.clone());
                    let attributes = [("driver", m.driver.as_str()), ("container", id), ("destination", m.destination.as_str()), ("read/write", if m.rw { "true" } else { "false" }), ("propagation", m.propagation.as_str())];
                    d.events.log("volume", "mount", &m.name, attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
                    // One copy at a time: two containers starting on one new volume must
                    // not see each other's copy as an interrupted one.
                    let _copying = copy_up::LOCK.lock().unwrap_or_else(|e| e.into_inner());
                    copy_up::finish_interrupted(&data).map_err(|e| ApiError::internal(format!("failed to populate volume: {e}")))?;
                    // A sub-path mount gets no copy (the image's content belongs at the
                    // volume's top, and the sub-path is whatever the user put there).
                    if m.copy_data && m.subpath.is_empty() {
                        copy_up::populate(rootfs, &m.destination, &data).map_err(|e| ApiError::internal(format!("failed to populate volume: {e}")))?;
                        m.copy_data = false;
                    }
                    let mut source = data.clone();
                    m.source = data.display().to_string();
                    if !m.subpath.is_empty() {
                        let at = held_dir(d, id).join(mounts.len().to_string());
                        source = hold_subpath(&data, &m.subpath, &at).map_err(|e| ApiError::bad_request(format!("cannot access path {}: {e}", data.join(&m.subpath).display())))?;
                        m.source = data.join(&m.subpath).display().to_string();
                    }
                    mounts.push(bind_mount(m, &source)?);
                }
                "bind" => {
                    let source = PathBuf::from(&m.source);
                    if std::fs::symlink_metadata(&source).is_err() {
                        if !m.create_source {
                            return Err(ApiError::bad_request(format!("invalid mount config for type \"bind\": bind source path does not exist: {}", m.source)));
                        }
                        std::fs::create_dir_all(&source).map_err(|e| ApiError::bad_request(format!("error while creating mount source path '{}': mkdir {}: {}", m.source, m.source, crate::sys::go_error_text(&e))))?;
                    }
                    mounts.push(bind_mount(m, &source)?);
                }
                "tmpfs" => {
                    let mut options = vec!["noexec".to_string(), "nosuid".into(), "nodev".into()];
                    options.extend(m.tmpfs_options.split(',').filter(|o| !o.is_empty()).map(String::from));
                    mounts.push(json!({"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": options}));
                }
                _ => {}
            }
        }
        // Parents first (Docker's order: by the number of path components).
        mounts.sort_by_key(|m| m["destination"].as_str().unwrap_or("").split('/').filter(|c| !c.is_empty()).count());
        Ok(mounts)
    })();
    if result.is_err() {
        for name in acquired {
            let _ = d.volumes.release(&name, id);
        }
        release_held(d, id);
    }
    result
}

/// Whether the kernel has mount_setattr(2) (5.12), which recursive read-only needs.
fn kernel_has_mount_setattr() -> bool {
    let release = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    let mut nums = release.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse::<u32>().ok());
    (nums.next().unwrap_or(0), nums.next().unwrap_or(0)) >= (5, 12)
}

fn bind_mount(m: &MountPoint, source: &Path) -> Result<Value, ApiError> {
    let mut options = vec![if m.non_recursive { "bind" } else { "rbind" }.to_string()];
    if !m.propagation.is_empty() {
        options.push(m.propagation.clone());
    } else {
        options.push("rprivate".into());
    }
    if !m.rw {
        options.push("ro".into());
        // As Docker >= 25: read-only all the way down where the kernel can, unless
        // `bind-recursive=writable`; `readonly` insists.
        if m.read_only_force_recursive && !kernel_has_mount_setattr() {
            return Err(ApiError::bad_request("read-only mount is not recursively read-only: the kernel lacks mount_setattr (Linux 5.12)"));
        }
        if !m.non_recursive && !m.read_only_non_recursive && kernel_has_mount_setattr() {
            options.push("rro".into());
        }
    }
    Ok(json!({"destination": m.destination, "type": "bind", "source": source, "options": options}))
}

/// Where the sub-paths of a container's volumes are held while it runs.
fn held_dir(d: &Daemon, id: &str) -> PathBuf {
    d.opts.exec_root.join("mounts").join(id)
}

/// A volume's sub-path, held still for runc: resolved inside the volume (no symlink leads
/// out of it), opened, and that very file or directory bound at `<exec-root>/mounts/<id>/<n>`,
/// so that a container swapping a component of the path for a symlink meanwhile cannot have
/// runc bind something else (Docker's safepath).
fn hold_subpath(data: &Path, subpath: &str, at: &Path) -> std::io::Result<PathBuf> {
    use nix::fcntl::OFlag;
    let root = crate::rootfs_access::RootFs::open(data)?;
    let found = root.locate(subpath, true)?;
    let fd = found.open(OFlag::O_PATH | OFlag::O_CLOEXEC)?;
    let st = crate::fs64::fstat(std::os::fd::AsRawFd::as_raw_fd(&fd))?;
    let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    if !is_dir && st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(std::io::Error::other("not a file or directory"));
    }
    if let Some(parent) = at.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if is_dir {
        std::fs::create_dir(at)?;
    } else {
        std::fs::File::create(at)?;
    }
    let source = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
    nix::mount::mount(Some(source.as_str()), at, None::<&str>, nix::mount::MsFlags::MS_BIND | nix::mount::MsFlags::MS_REC, None::<&str>)?;
    nix::mount::mount(None::<&str>, at, None::<&str>, nix::mount::MsFlags::MS_PRIVATE | nix::mount::MsFlags::MS_REC, None::<&str>)?;
    Ok(at.to_path_buf())
}

/// Unbinds the held sub-paths of a container's run.
/// The volume sub-path binds of a run a crash interrupted (`daemon::leftovers`).
pub(super) fn release_held_binds(d: &Daemon, id: &str) {
    release_held(d, id);
}

fn release_held(d: &Daemon, id: &str) {
    let dir = held_dir(d, id);
    if dir.exists() {
        let _ = crate::mounts::unmount_all_under(&dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Puts the planned mounts in the spec: over a default mount of the same destination, and
/// the rootfs propagation Docker sets for shared or slave binds (their source must then be
/// a shared, or shared or slave, mount).
pub fn apply_to_spec(spec: &mut Value, mounts: Vec<Value>) -> Result<(), String> {
    let mut propagation: Option<&str> = None;
    for m in &mounts {
        let opts: Vec<&str> = m["options"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let source = Path::new(m["source"].as_str().unwrap_or(""));
        if opts.iter().any(|o| *o == "shared" || *o == "rshared") {
            ensure_propagation(source, &["shared"])?;
            propagation = Some("rshared");
        } else if opts.iter().any(|o| *o == "slave" || *o == "rslave") {
            ensure_propagation(source, &["shared", "master"])?;
            if propagation.is_none() {
                propagation = Some("rslave");
            }
        }
    }
    if let Some(list) = spec["mounts"].as_array_mut() {
        for m in mounts {
            list.retain(|x| x["destination"] != m["destination"]);
            list.push(m);
        }
    }
    if let Some(p) = propagation {
        spec["linux"]["rootfsPropagation"] = json!(p);
    }
    Ok(())
}

/// The mount holding `path` must have one of these propagation tags (mountinfo's optional
/// fields `shared:N`, `master:N`), as Docker's `ensureShared`/`ensureSharedOrSlave`.
fn ensure_propagation(path: &Path, tags: &[&str]) -> Result<(), String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut best: Option<(usize, String, bool)> = None;
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else { continue };
        let Some(point) = fields.get(4) else { continue };
        let point = crate::mounts::parse_mountinfo(line).into_iter().next().map(|m| m.mount_point).unwrap_or_else(|| PathBuf::from(point));
        if !path.starts_with(&point) {
            continue;
        }
        let len = point.as_os_str().len();
        let tagged = fields[6..sep].iter().any(|f| tags.iter().any(|t| f.starts_with(&format!("{t}:"))));
        if best.as_ref().is_none_or(|(l, _, _)| len >= *l) {
            best = Some((len, point.display().to_string(), tagged));
        }
    }
    match best {
        Some((_, _, true)) => Ok(()),
        Some((_, point, false)) => {
            let kind = if tags.len() == 1 { "shared" } else { "shared or slave" };
            Err(format!("path {} is mounted on {point} but it is not a {kind} mount", path.display()))
        }
        None => Err(format!("could not find the mount of {}", path.display())),
    }
}

/// Copying the image's content at a volume's destination into the volume, crash-safe: a
/// marker beside `_data` (in the volume's directory) is made before the copy and removed
/// once it is complete and synced; a marker found at the next start means the copy was cut
/// short (dockerd killed), so the volume, which was empty before it began, is emptied and the
/// copy done again.
mod copy_up {
    use std::io;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::{Path, PathBuf};

    const MARKER: &str = "copy-in-progress";

    /// Held while a volume is checked for an interrupted copy and filled.
    pub static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn marker(data: &Path) -> PathBuf {
        data.parent().unwrap_or(data).join(MARKER)
    }

    /// A copy a crash interrupted: the volume emptied (it was empty when the copy began).
    pub fn finish_interrupted(data: &Path) -> io::Result<()> {
        let marker = marker(data);
        if !marker.exists() {
            return Ok(());
        }
        for e in std::fs::read_dir(data)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                std::fs::remove_dir_all(e.path())?;
            } else {
                std::fs::remove_file(e.path())?;
            }
        }
        sync(data)?;
        std::fs::remove_file(&marker)
    }

    fn sync(dir: &Path) -> io::Result<()> {
        crate::durable::syncfs(&std::fs::File::open(dir)?)
    }

    /// Copies what the container's root has at `dest` (resolved inside the root, never
    /// following a symlink out of it) into the empty volume `data`: ownership, modes, times
    /// of files and directories, symlinks as symlinks, hard links kept. Nothing when the
    /// volume is not empty or the path is no directory.
    pub fn populate(rootfs: &Path, dest: &str, data: &Path) -> io::Result<()> {
        if std::fs::read_dir(data)?.next().is_some() {
            return Ok(());
        }
        let root = crate::rootfs_access::RootFs::open(rootfs)?;
        let dir = match root.open_dir(dest) {
            Ok(fd) => fd,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let src = PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&dir)));
        let marker = marker(data);
        crate::durable::step_at("write", &marker);
        std::fs::write(&marker, b"")?;
        let mut links = std::collections::HashMap::new();
        crate::durable::step_at("copy", data);
        copy_dir(&src, data, &mut links)?;
        let top = std::fs::metadata(&src)?;
        copy_attributes(data, &top)?;
        sync(data)?;
        crate::durable::step_at("unlink", &marker);
        std::fs::remove_file(&marker)
    }

    /// The extended attributes of `from` (file capabilities, ACLs, ...) set on `to`, as
    /// Docker's copy keeps them; a filesystem without xattrs on either side is no error.
    fn copy_xattrs(from: &Path, to: &Path) -> io::Result<()> {
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other);
        let (from_c, to_c) = (c(from)?, c(to)?);
        let unsupported = |e: &io::Error| e.raw_os_error() == Some(libc::EOPNOTSUPP);
        // SAFETY: with a zero size llistxattr only returns the size the list needs.
        let size = unsafe { libc::llistxattr(from_c.as_ptr(), std::ptr::null_mut(), 0) };
        if size <= 0 {
            let e = io::Error::last_os_error();
            return if size == 0 || unsupported(&e) { Ok(()) } else { Err(e) };
        }
        let mut names = vec![0u8; size as usize];
        // SAFETY: llistxattr writes at most names.len() bytes into names; the path is NUL-terminated.
        let n = unsafe { libc::llistxattr(from_c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if unsupported(&e) { Ok(()) } else { Err(e) };
        }
        names.truncate(n as usize);
        for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
            let name_c = std::ffi::CString::new(name).map_err(io::Error::other)?;
            let mut value = vec![0u8; 65536];
            // SAFETY: lgetxattr writes at most value.len() bytes into value; both strings are NUL-terminated.
            let len = unsafe { libc::lgetxattr(from_c.as_ptr(), name_c.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
            if len < 0 {
                continue;
            }
            // SAFETY: lsetxattr reads len bytes of value, which holds them; both strings are NUL-terminated.
            let rc = unsafe { libc::lsetxattr(to_c.as_ptr(), name_c.as_ptr(), value.as_ptr().cast(), len as usize, 0) };
            if rc != 0 {
                let e = io::Error::last_os_error();
                if !unsupported(&e) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn copy_attributes(path: &Path, m: &std::fs::Metadata) -> io::Result<()> {
        std::os::unix::fs::lchown(path, Some(m.uid()), Some(m.gid()))?;
        if !m.file_type().is_symlink() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
        }
        let times = [crate::fs64::timespec(m.atime(), m.atime_nsec()), crate::fs64::timespec(m.mtime(), m.mtime_nsec())];
        nix::sys::stat::utimensat(None, path, &times[0], &times[1], nix::sys::stat::UtimensatFlags::NoFollowSymlink).map_err(io::Error::from)
    }

    fn copy_dir(src: &Path, dst: &Path, links: &mut std::collections::HashMap<(u64, u64), PathBuf>) -> io::Result<()> {
        let src_dev = std::fs::metadata(src)?.dev();
        for e in std::fs::read_dir(src)? {
            let e = e?;
            let from = e.path();
            let to = dst.join(e.file_name());
            let m = std::fs::symlink_metadata(&from)?;
            let ft = m.file_type();
            if ft.is_dir() {
                std::fs::create_dir(&to)?;
                if m.dev() == src_dev {
                    copy_dir(&from, &to, links)?;
                }
            } else if ft.is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
            } else if ft.is_file() {
                if m.nlink() > 1 {
                    if let Some(first) = links.get(&(m.dev(), m.ino())) {
                        std::fs::hard_link(first, &to)?;
                        continue;
                    }
                    links.insert((m.dev(), m.ino()), to.clone());
                }
                std::fs::copy(&from, &to)?;
            } else {
                // Devices, FIFOs, sockets: made again as nodes.
                let kind = nix::sys::stat::SFlag::from_bits_truncate(m.mode() & libc::S_IFMT);
                let perm = nix::sys::stat::Mode::from_bits_truncate(m.mode() & 0o7777);
                nix::sys::stat::mknod(&to, kind, perm, m.rdev()).map_err(io::Error::from)?;
            }
            copy_attributes(&to, &m)?;
            // After the chown, which drops file capabilities.
            copy_xattrs(&from, &to)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_parse_as_dockers_linux_parser() {
        let m = parse_bind("/h:/c", "").unwrap();
        assert_eq!((m.kind.as_str(), m.source.as_str(), m.destination.as_str(), m.rw, m.propagation.as_str(), m.mode.as_str()), ("bind", "/h", "/c", true, "rprivate", ""));
        let m = parse_bind("/h:/c/:ro,rshared", "").unwrap();
        assert_eq!((m.destination.as_str(), m.rw, m.propagation.as_str()), ("/c", false, "rshared"));
        let m = parse_bind("data:/d:nocopy", "").unwrap();
        assert_eq!((m.kind.as_str(), m.name.as_str(), m.named, m.copy_data), ("volume", "data", true, false));
        let m = parse_bind("/anon", "").unwrap();
        assert_eq!((m.kind.as_str(), m.name.as_str(), m.named, m.copy_data), ("volume", "", false, true));
        assert_eq!(parse_bind("/c:rw", "").unwrap_err(), "invalid volume specification: '/c:rw'");
        assert_eq!(parse_bind("/h:/c:bogus", "").unwrap_err(), "invalid mode: bogus");
        assert_eq!(parse_bind("/h:/c:ro,rw", "").unwrap_err(), "invalid mode: ro,rw");
        assert_eq!(parse_bind("/h:c", "").unwrap_err(), "invalid volume specification: '/h:c': invalid mount config for type \"bind\": invalid mount path: 'c' mount path must be absolute");
        assert_eq!(parse_bind("/h:/", "").unwrap_err(), "invalid volume specification: '/h:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'");
        assert_eq!(parse_bind(":/c", "").unwrap_err(), "invalid volume specification: ':/c'");
    }

    #[test]
    fn mount_specs_are_checked_as_docker_checks_them() {
        let e = parse_mount(&json!({"Type": "bind", "Source": "/nonexistent-dbx", "Target": "/x"})).unwrap_err();
        assert_eq!(e, "invalid mount config for type \"bind\": bind source path does not exist: /nonexistent-dbx");
        let e = parse_mount(&json!({"Type": "bind", "Target": "/x"})).unwrap_err();
        assert_eq!(e, "invalid mount config for type \"bind\": field Source must not be empty");
        let e = parse_mount(&json!({"Type": "volume", "Target": "/x", "BindOptions": {}})).unwrap_err();
        assert_eq!(e, "invalid mount config for type \"volume\": field BindOptions must not be specified");
        let e = parse_mount(&json!({"Type": "volume", "Target": "/x", "VolumeOptions": {"Subpath": "a"}})).unwrap_err();
        assert_eq!(e, "invalid mount config for type \"volume\": must not set Subpath when using anonymous volumes");
        let e = parse_mount(&json!({"Type": "volume", "Source": "v1", "Target": "/x", "VolumeOptions": {"Subpath": "../a"}})).unwrap_err();
        assert_eq!(e, "invalid mount config for type \"volume\": subpath must be a relative path within the volume");
        let e = parse_mount(&json!({"Type": "tmpfs", "Source": "x", "Target": "/x"})).unwrap_err();
        assert_eq!(e, "invalid mount config for type \"tmpfs\": field Source must not be specified");
        let e = parse_mount(&json!({"Type": "floppy", "Target": "/x"})).unwrap_err();
        assert_eq!(e, "invalid mount config for type \"floppy\": mount type unknown");
        let e = parse_mount(&json!({"Type": "tmpfs", "Target": "x"})).unwrap_err();
        assert_eq!(e, "invalid mount config for type \"tmpfs\": invalid mount path: 'x' mount path must be absolute");
        let m = parse_mount(&json!({"Type": "tmpfs", "Target": "/t", "ReadOnly": true, "TmpfsOptions": {"SizeBytes": 65536, "Mode": 0o1777}})).unwrap();
        assert_eq!(m.tmpfs_options, "ro,mode=1777,size=64k");
        let m = parse_mount(&json!({"Type": "bind", "Source": "/tmp", "Target": "/t", "BindOptions": {"Propagation": "rslave", "NonRecursive": true}})).unwrap();
        assert_eq!((m.propagation.as_str(), m.non_recursive, m.create_source), ("rslave", true, false));
    }

    #[test]
    fn volumes_from_modes() {
        assert_eq!(parse_volumes_from("c1").unwrap(), ("c1".into(), "rw".into()));
        assert_eq!(parse_volumes_from("c1:ro").unwrap(), ("c1".into(), "ro".into()));
        assert_eq!(parse_volumes_from("c1:rshared").unwrap_err(), "invalid mode: rshared");
        assert_eq!(parse_volumes_from("c1:nocopy").unwrap_err(), "invalid mode: nocopy");
    }

    #[test]
    fn copy_up_keeps_owners_modes_links_and_xattrs_and_is_redone_after_a_crash() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let base = std::env::temp_dir().join(format!("dbx-copyup-{}", crate::ids::new_id()));
        let (rootfs, data) = (base.join("rootfs"), base.join("vol/_data"));
        std::fs::create_dir_all(rootfs.join("srv/sub")).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(rootfs.join("srv/f"), b"x").unwrap();
        std::os::unix::fs::lchown(rootfs.join("srv/f"), Some(1234), Some(5678)).unwrap();
        std::fs::set_permissions(rootfs.join("srv/f"), std::fs::Permissions::from_mode(0o4750)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", rootfs.join("srv/abs")).unwrap();
        std::fs::hard_link(rootfs.join("srv/f"), rootfs.join("srv/sub/h")).unwrap();
        // /link -> /srv inside the root: the destination is followed inside it.
        std::os::unix::fs::symlink("/srv", rootfs.join("link")).unwrap();
        let path = std::ffi::CString::new(rootfs.join("srv/f").to_str().unwrap()).unwrap();
        // SAFETY: NUL-terminated strings and a 3-byte value that outlive the call.
        let xattr = unsafe { libc::lsetxattr(path.as_ptr(), c"user.dbx".as_ptr(), b"yes".as_ptr().cast(), 3, 0) } == 0;

        // An interrupted copy: marker and a part.
        std::fs::write(data.join("part"), b"p").unwrap();
        std::fs::write(base.join("vol/copy-in-progress"), b"").unwrap();
        copy_up::finish_interrupted(&data).unwrap();
        assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0);
        copy_up::populate(&rootfs, "/link", &data).unwrap();
        assert!(!base.join("vol/copy-in-progress").exists());
        let m = std::fs::symlink_metadata(data.join("f")).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777, m.nlink()), (1234, 5678, 0o4750, 2));
        assert_eq!(std::fs::read_link(data.join("abs")).unwrap(), Path::new("/etc/passwd"));
        assert_eq!(std::fs::metadata(data.join("sub/h")).unwrap().ino(), m.ino());
        if xattr {
            let to = std::ffi::CString::new(data.join("f").to_str().unwrap()).unwrap();
            let mut buf = [0u8; 8];
            // SAFETY: lgetxattr writes at most buf.len() bytes into buf.
            let n = unsafe { libc::lgetxattr(to.as_ptr(), c"user.dbx".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
            assert_eq!(&buf[..n.max(0) as usize], b"yes");
        }
        // A volume with content is never filled again.
        std::fs::remove_file(data.join("abs")).unwrap();
        copy_up::populate(&rootfs, "/srv", &data).unwrap();
        assert!(!data.join("abs").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn records_without_mount_points_keep_their_binds() {
        let points = from_old_record(&json!({"Binds": ["/h:/c:ro", "bogus"]}));
        assert_eq!(points.len(), 1);
        assert_eq!((points[0].source.as_str(), points[0].destination.as_str(), points[0].rw), ("/h", "/c", false));
        assert!(from_old_record(&json!({})).is_empty());
    }

    #[test]
    fn duplicates_are_refused() {
        assert_eq!(validate(&json!({"Binds": ["/a:/x", "v1:/x/"]})).unwrap_err(), "Duplicate mount point: /x");
        assert_eq!(validate(&json!({"Binds": ["/a:/x"], "Tmpfs": {"/x": ""}})).unwrap_err(), "Duplicate mount point: /x");
        assert_eq!(validate(&json!({"Binds": ["/a:/x"], "Mounts": [{"Type": "tmpfs", "Target": "/x"}]})).unwrap_err(), "Duplicate mount point: /x");
        assert_eq!(validate(&json!({"Binds": ["/a:/x"], "Mounts": [{"Type": "tmpfs", "Target": "/y"}], "VolumesFrom": ["c:ro"]})), Ok(()));
    }
}
