//! Who holds a layer, and freeing what nobody holds.
//!
//! A layer (its `layerdb/sha256/<chain>` entry and `overlay2/<cache-id>` directory) is held by
//! every image whose config lists it, by every container standing on it, and — in memory, while
//! they run — by the pulls, loads, imports, saves and pushes that use it. A container's holding
//! is the file set `layerdb/mounts/<container-id>/{mount-id,init-id,parent}` (Docker's layout;
//! `parent` is the chain id of the image's top layer, whose ancestors follow from each layer's
//! `parent` file), written before the container's filesystem is made and removed after it is
//! gone, so it outlives the image record and daemon restarts. The durable holders are files, so
//! the counts are recomputed from them, under the store lock, each time something may be
//! freed: no crash can leave a count behind that is wrong.
//!
//! Deleting a layer hides its layerdb entry by rename (and fsyncs the directory) before its
//! files go, children before parents, so a crash leaves either the layer or an unreferenced
//! directory that the next daemon start removes.

use super::{chain_ids, diff_ids, is_hex, ImageStore};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

/// Layers and blobs that operations in flight use, counted: what the store lock guards.
#[derive(Default)]
pub(super) struct Holds {
    layers: HashMap<String, usize>,
    blobs: HashMap<String, usize>,
}

/// What one operation in flight holds; let go when dropped.
pub(super) struct Hold<'a> {
    store: &'a ImageStore,
    layers: Vec<String>,
    blobs: Vec<String>,
}

impl Hold<'_> {
    /// Holds `layers` (chain ids) and `blobs` (digests) from now on. Call this before looking
    /// whether they exist: what exists then stays until the hold is dropped.
    pub(super) fn add(&mut self, layers: &[String], blobs: &[String]) {
        let mut holds = self.store.lock();
        for l in layers {
            *holds.layers.entry(l.clone()).or_default() += 1;
            self.layers.push(l.clone());
        }
        for b in blobs {
            *holds.blobs.entry(b.clone()).or_default() += 1;
            self.blobs.push(b.clone());
        }
    }

    /// Deletes the downloaded blobs of this hold that no other operation holds.
    pub(super) fn delete_unshared_blobs(&self) {
        let holds = self.store.lock();
        for b in &self.blobs {
            if holds.blobs.get(b) == Some(&1) {
                let _ = std::fs::remove_file(self.store.blob_path(b));
            }
        }
    }
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        let mut guard = self.store.lock();
        let holds = &mut *guard;
        for (map, keys) in [(&mut holds.layers, &self.layers), (&mut holds.blobs, &self.blobs)] {
            for k in keys {
                if let Some(n) = map.get_mut(k) {
                    *n -= 1;
                    if *n == 0 {
                        map.remove(k);
                    }
                }
            }
        }
    }
}

/// A container's layer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerLayers {
    pub container_id: String,
    pub mount_id: String,
    /// The chain id of the top image layer the container stands on (none for an image
    /// without layers).
    pub parent: Option<String>,
}

use crate::durable::fsync_dir;

use crate::durable::write_file as write_synced;

fn random_suffix() -> String {
    crate::ids::new_id()[..16].to_string()
}

fn check_container_id(id: &str) -> io::Result<()> {
    if id.len() == 64 && is_hex(id) {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, format!("invalid container id {id:?}")))
    }
}

impl ImageStore {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Holds> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new, empty hold for an operation about to use layers or blobs.
    pub(super) fn hold(&self) -> Hold<'_> {
        Hold { store: self, layers: Vec::new(), blobs: Vec::new() }
    }

    pub(super) fn blob_path(&self, digest: &str) -> PathBuf {
        self.blobs_dir().join("sha256").join(digest.strip_prefix("sha256:").unwrap_or(digest))
    }

    fn mounts_dir(&self) -> PathBuf {
        self.meta_dir().join("layerdb/mounts")
    }

    fn trash_name(&self, what: &str) -> PathBuf {
        self.meta_dir().join("layerdb/tmp").join(format!("{what}-{}", random_suffix()))
    }

    /// Records that container `container_id` (filesystem `mount_id`) stands on `image`'s
    /// layers; from then on they stay until [`release_container_layers`](Self::release_container_layers),
    /// whatever happens to the image. Fails with `NotFound` when the image or one of its
    /// layers is gone (removed since the caller looked it up).
    pub fn record_container_layers(&self, container_id: &str, mount_id: &str, image: &super::Image) -> io::Result<()> {
        let _guard = self.lock();
        let hex = image.id.strip_prefix("sha256:").unwrap_or(&image.id);
        if !self.content_dir().join(hex).exists() || !image.layers.iter().all(|c| self.layer_exists(c)) {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("No such image: {}", image.id)));
        }
        // Not fsynced (four fsyncs on every create): until a power cut it holds like any file,
        // and after one, a container whose record was lost or torn gets it rebuilt at start
        // from its image, whose config a forced rmi deletes only after making the records of
        // the containers on it durable (`make_records_durable`).
        self.write_container_record(container_id, mount_id, image.layers.last().map(String::as_str), false)
    }

    /// Writes `layerdb/mounts/<container-id>` whole (files, then one rename), replacing a torn
    /// one; with `durable`, fsynced (files, then the directory).
    fn write_container_record(&self, container_id: &str, mount_id: &str, parent: Option<&str>, durable: bool) -> io::Result<()> {
        check_container_id(container_id)?;
        let set = self.trash_name("mount");
        std::fs::create_dir_all(&set)?;
        let write = |path: &Path, data: &[u8]| {
            if durable {
                write_synced(path, data)
            } else {
                crate::durable::step_at("write", path);
                std::fs::write(path, data)
            }
        };
        let written = (|| {
            write(&set.join("mount-id"), mount_id.as_bytes())?;
            write(&set.join("init-id"), format!("{mount_id}-init").as_bytes())?;
            if let Some(p) = parent {
                write(&set.join("parent"), p.as_bytes())?;
            }
            std::fs::create_dir_all(self.mounts_dir())?;
            let at = self.mounts_dir().join(container_id);
            if at.exists() {
                // Torn by a power cut (see record_container_layers): out of the way first.
                let torn = self.trash_name("torn");
                crate::durable::step_at("rename", &at);
                std::fs::rename(&at, &torn)?;
                let _ = std::fs::remove_dir_all(&torn);
            }
            crate::durable::step_at("rename", &at);
            std::fs::rename(&set, &at)?;
            if durable {
                fsync_dir(&self.mounts_dir())?;
            }
            Ok(())
        })();
        if written.is_err() {
            let _ = std::fs::remove_dir_all(&set);
        }
        written
    }

    /// Every container layer record, less those a power cut tore (an empty `mount-id`, or a
    /// `parent` file that is there but empty), which the next start writes again.
    pub fn container_records(&self) -> Vec<ContainerLayers> {
        let Ok(rd) = std::fs::read_dir(self.mounts_dir()) else { return Vec::new() };
        rd.flatten()
            .filter_map(|e| {
                let container_id = e.file_name().into_string().ok()?;
                let read = |f: &str| std::fs::read_to_string(e.path().join(f)).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
                let parent = read("parent");
                if parent.is_none() && e.path().join("parent").exists() {
                    return None;
                }
                Some(ContainerLayers { container_id, mount_id: read("mount-id")?, parent })
            })
            .collect()
    }

    /// Makes durable the records of the containers standing on `top` (an image's top layer),
    /// before that image's config goes: a record a power cut loses is rebuilt from the image.
    pub(super) fn make_records_durable(&self, top: &str) -> io::Result<()> {
        let mut any = false;
        for r in self.container_records().into_iter().filter(|r| r.parent.as_deref() == Some(top)) {
            let dir = self.mounts_dir().join(&r.container_id);
            for f in ["mount-id", "init-id", "parent"] {
                crate::durable::fsync(&std::fs::File::open(dir.join(f))?)?;
            }
            fsync_dir(&dir)?;
            any = true;
        }
        if any {
            fsync_dir(&self.mounts_dir())?;
        }
        Ok(())
    }

    /// Forgets container `container_id`'s record (its filesystem must be gone already, and the
    /// container itself durably, so a record a power cut brings back is collected at start) and
    /// deletes the layers nothing holds any more. Returns their chain ids, top first.
    pub fn release_container_layers(&self, container_id: &str) -> io::Result<Vec<String>> {
        check_container_id(container_id)?;
        let holds = self.lock();
        let record = self.mounts_dir().join(container_id);
        let parent = std::fs::read_to_string(record.join("parent")).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let trash = self.trash_name("unmount");
        // Not fsynced: the container is durably gone already (or never was), and a record of a
        // container that does not exist is collected at start.
        crate::durable::step_at("rename", &record);
        match std::fs::rename(&record, &trash) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            r => r?,
        }
        let _ = crate::durable::remove_dir_all(&trash);
        let candidates = parent.map(|p| self.ancestry(&p)).unwrap_or_default();
        self.free_layers(&holds, &candidates)
    }

    /// A layer and its ancestors, top first (following the `parent` files).
    fn ancestry(&self, chain_id: &str) -> Vec<String> {
        let mut out = vec![chain_id.to_string()];
        while out.len() < 10_000 {
            let parent = std::fs::read_to_string(self.layer_dir(out.last().map(String::as_str).unwrap_or_default()).join("parent"));
            match parent.ok().map(|p| p.trim().to_string()).filter(|p| !p.is_empty()) {
                Some(p) => out.push(p),
                None => break,
            }
        }
        out
    }

    /// Chain id → how many images list the layer.
    pub(super) fn image_layer_counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for id in self.image_ids() {
            for chain in self.chains_of_image(&id) {
                *counts.entry(chain).or_default() += 1;
            }
        }
        counts
    }

    pub(super) fn chains_of_image(&self, hex: &str) -> Vec<String> {
        let config: Option<Value> = std::fs::read(self.content_dir().join(hex)).ok().and_then(|b| serde_json::from_slice(&b).ok());
        config.and_then(|c| diff_ids(&c).ok()).map(|d| chain_ids(&d)).unwrap_or_default()
    }

    /// Every layer some image, container or operation in flight holds (with its ancestors).
    fn layers_in_use(&self, holds: &Holds) -> HashSet<String> {
        let mut used: HashSet<String> = self.image_layer_counts().into_keys().collect();
        for r in self.container_records() {
            if let Some(p) = r.parent {
                used.extend(self.ancestry(&p));
            }
        }
        for held in holds.layers.keys() {
            used.extend(self.ancestry(held));
        }
        used
    }

    /// Every committed layer: chain id → its parent's.
    fn layer_parents(&self) -> HashMap<String, Option<String>> {
        let Ok(rd) = std::fs::read_dir(self.layerdb_dir()) else { return HashMap::new() };
        rd.flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.len() == 64 && is_hex(n))
            .map(|hex| {
                let chain = format!("sha256:{hex}");
                let parent = std::fs::read_to_string(self.layer_dir(&chain).join("parent")).ok().map(|p| p.trim().to_string()).filter(|p| !p.is_empty());
                (chain, parent)
            })
            .collect()
    }

    /// Under the store lock (`holds` is what it guards): deletes those of `candidates` that
    /// nothing holds, with any unheld layers built on them, children before parents. Returns
    /// the deleted chain ids in that order.
    pub(super) fn free_layers(&self, holds: &Holds, candidates: &[String]) -> io::Result<Vec<String>> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let in_use = self.layers_in_use(holds);
        let parents = self.layer_parents();
        let doomed: HashSet<&String> = candidates.iter().filter(|c| !in_use.contains(*c) && parents.contains_key(*c)).collect();
        // A layer on top of a doomed one is unusable once its parent goes: it goes first.
        // (Nothing holds it: what is held has every ancestor held too.)
        let depth_if_doomed = |chain: &String| -> Option<usize> {
            let mut depth = 0;
            let mut cur = Some(chain);
            let mut hit = false;
            while let Some(c) = cur {
                hit |= doomed.contains(c);
                depth += 1;
                cur = parents.get(c).and_then(|p| p.as_ref());
                if depth > 10_000 {
                    break;
                }
            }
            hit.then_some(depth)
        };
        let mut order: Vec<(usize, &String)> = parents.keys().filter(|c| !in_use.contains(*c)).filter_map(|c| depth_if_doomed(c).map(|d| (d, c))).collect();
        order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        let mut freed = Vec::new();
        for (_, chain) in order {
            self.delete_layer(chain)?;
            freed.push(chain.clone());
        }
        Ok(freed)
    }

    /// Hides the layer's layerdb entry by rename (durably), then deletes its files.
    fn delete_layer(&self, chain_id: &str) -> io::Result<()> {
        let cache_id = self.cache_id(chain_id);
        let trash = self.trash_name("delete");
        crate::durable::step_at("rename", &self.layer_dir(chain_id));
        std::fs::rename(self.layer_dir(chain_id), &trash)?;
        fsync_dir(&self.layerdb_dir())?;
        if let Some(cache_id) = cache_id.filter(|c| !c.is_empty() && !c.contains('/') && c != "l") {
            self.remove_layer_dir(&cache_id)?;
        }
        crate::durable::remove_dir_all(&trash)
    }

    /// Deletes `overlay2/<name>` and its short link (never through a mount left on it).
    fn remove_layer_dir(&self, name: &str) -> io::Result<()> {
        let dir = self.layers_dir().join(name);
        if let Ok(link) = std::fs::read_to_string(dir.join("link")) {
            let link = link.trim();
            if !link.is_empty() && !link.contains('/') {
                let _ = std::fs::remove_file(self.layers_dir().join("l").join(link));
            }
        }
        crate::mounts::unmount_all_under(&dir)?;
        match crate::durable::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Deletes every layer and downloaded blob nothing holds: what interrupted pulls, loads and
    /// imports (and images deleted under a container since removed) left. Returns the deleted
    /// chain ids and the bytes freed.
    pub(super) fn delete_unheld(&self) -> io::Result<(Vec<String>, u64)> {
        let holds = self.lock();
        let sizes = self.layer_sizes();
        let in_use = self.layers_in_use(&holds);
        let orphans: Vec<String> = sizes.keys().filter(|c| !in_use.contains(*c)).cloned().collect();
        let freed = self.free_layers(&holds, &orphans)?;
        let mut bytes: u64 = freed.iter().filter_map(|c| sizes.get(c)).sum();
        for (path, size) in self.unheld_blobs(&holds) {
            if std::fs::remove_file(&path).is_ok() {
                bytes += size;
            }
        }
        Ok((freed, bytes))
    }

    /// Downloaded blobs (verified or partial) no pull in flight holds, with their sizes.
    fn unheld_blobs(&self, holds: &Holds) -> Vec<(PathBuf, u64)> {
        let mut out = Vec::new();
        for sub in ["sha256", "partial"] {
            let Ok(rd) = std::fs::read_dir(self.blobs_dir().join(sub)) else { continue };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if holds.blobs.contains_key(&format!("sha256:{name}")) {
                    continue;
                }
                out.push((e.path(), e.metadata().map(|m| m.len()).unwrap_or(0)));
            }
        }
        out
    }

    /// Chain id → size of every committed layer.
    pub(super) fn layer_sizes(&self) -> HashMap<String, u64> {
        self.layer_parents().into_keys().map(|c| {
            let size = self.layer_size(&c).unwrap_or(0);
            (c, size)
        }).collect()
    }

    /// Bytes that only `docker image prune` would reclaim: layers nothing holds, and blobs of
    /// abandoned downloads.
    pub(super) fn unheld_bytes(&self) -> u64 {
        let holds = self.lock();
        let in_use = self.layers_in_use(&holds);
        let layers: u64 = self.layer_sizes().iter().filter(|(c, _)| !in_use.contains(*c)).map(|(_, s)| s).sum();
        layers + self.unheld_blobs(&holds).iter().map(|(_, s)| s).sum::<u64>()
    }

    /// At daemon start, before any request: gives containers from before layer records a
    /// record, and forgets what a crash left half made or half deleted — records of containers
    /// that no longer exist (their filesystems are removed by `remove_filesystem`, then their
    /// layers freed), and `overlay2` directories and short links nothing refers to. `live`
    /// lists every container: (id, mount id, image id). Downloads are kept: a pull resumes them.
    pub fn recover(&self, live: &[(String, String, String)], remove_filesystem: &dyn Fn(&str) -> io::Result<()>) -> io::Result<()> {
        let records = self.container_records();
        let recorded: HashSet<&str> = records.iter().map(|r| r.container_id.as_str()).collect();
        for (id, mount_id, image) in live {
            if !recorded.contains(id.as_str()) && self.layers_dir().join(mount_id).is_dir() {
                let written = match self.parent_of_container(mount_id, image) {
                    Some(parent) => self.write_container_record(id, mount_id, parent.as_deref(), true),
                    None => Err(io::Error::other("cannot tell which layers it stands on")),
                };
                if let Err(e) = written {
                    crate::log::line(crate::log::Level::Error, "recording the container's layers; only its image holds them", &[("container", id), ("error", &e.to_string())]);
                }
            }
        }
        let live_ids: HashSet<&str> = live.iter().map(|(id, _, _)| id.as_str()).collect();
        for r in &records {
            if !live_ids.contains(r.container_id.as_str()) {
                if let Err(e) = remove_filesystem(&r.mount_id).and_then(|_| self.release_container_layers(&r.container_id)) {
                    crate::log::line(crate::log::Level::Error, "removing what is left of a container", &[("container", &r.container_id), ("error", &e.to_string())]);
                }
            }
        }
        // Torn records of containers that do not exist (their filesystems go below).
        for e in std::fs::read_dir(self.mounts_dir()).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !live_ids.contains(name.as_str()) && !recorded.contains(name.as_str()) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let _guard = self.lock();
        let mut keep: HashSet<String> = HashSet::from(["l".to_string()]);
        for (_, mount_id, _) in live {
            keep.insert(mount_id.clone());
            keep.insert(format!("{mount_id}-init"));
        }
        for r in self.container_records() {
            keep.insert(format!("{}-init", r.mount_id));
            keep.insert(r.mount_id);
        }
        keep.extend(self.layer_parents().keys().filter_map(|c| self.cache_id(c)));
        for e in std::fs::read_dir(self.layers_dir())?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) {
                self.remove_layer_dir(&name)?;
            }
        }
        for e in std::fs::read_dir(self.layers_dir().join("l"))?.flatten() {
            if !e.path().exists() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(())
    }

    /// The top image layer under a container made before layer records existed: its image's,
    /// or else the layer its init layer's `lower` names first. `None` when neither tells.
    fn parent_of_container(&self, mount_id: &str, image_id: &str) -> Option<Option<String>> {
        let hex = image_id.strip_prefix("sha256:").unwrap_or(image_id);
        if is_hex(hex) && self.content_dir().join(hex).exists() {
            return Some(self.chains_of_image(hex).pop());
        }
        let lower = std::fs::read_to_string(self.layers_dir().join(format!("{mount_id}-init")).join("lower")).ok();
        let Some(first) = lower.as_deref().and_then(|l| l.trim().split(':').find(|s| !s.is_empty())) else { return Some(None) };
        let target = std::fs::read_link(self.layers_dir().join(first)).ok()?;
        let cache_id = target.parent()?.file_name()?.to_string_lossy().into_owned();
        self.layer_parents().into_keys().find(|c| self.cache_id(c).as_deref() == Some(cache_id.as_str())).map(Some)
    }
}
