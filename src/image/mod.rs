//! The content-addressed image and layer store under `<data-root>/image`, in Docker's overlay2
//! layout, and pulling into it from a registry.
//!
//! ```text
//! image/overlay2/imagedb/content/sha256/<image-hex>       config JSON as pulled
//! image/overlay2/layerdb/sha256/<chain-hex>/{diff,size,cache-id,parent}
//! image/overlay2/layerdb/mounts/<container-id>/{mount-id,init-id,parent}   (see refcount)
//! image/overlay2/repositories.json                        {"Repositories":{name:{ref:id}}}
//! overlay2/<cache-id>/{diff/,link,lower,work/}            extracted layers
//! overlay2/l/<short> -> ../<cache-id>/diff
//! tmp/layer-<short>-<r>/{diff/,tar-split.json.gz}         a layer being staged (layer_stream)
//! ```
//! Layers are written once, streamed into a staging directory and renamed into place; layers
//! committed by a pull that then failed stay, so the next pull downloads only the rest.
//! (`blobs/` holds what older versions downloaded; prune still deletes it.)
//! Anything becomes visible by a rename, so a kill at any point leaves no half-made image.

mod archive_formats;
mod commit;
pub mod run_config;
mod distribution;
mod layer_stream;
mod progress;
mod pull;
mod push;
mod refcount;
mod remove;

pub use archive_formats::tar_directory;
use archive_formats::hex_of;
pub use commit::{NewImage, EMPTY_LAYER_DIFF_ID};
pub use distribution::BlobSource;

pub use progress::{human_size, progress_bar};
pub use refcount::ContainerLayers;
pub use remove::ImageUser;

use crate::reference::Reference;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Docker's limit on a layer chain: overlay2 stacks at most 128 lower directories, and a
/// container adds its init and writable layers on top of the image's.
pub const MAX_LAYER_DEPTH: usize = 125;

/// An image as the daemon shows it.
#[derive(Debug, Clone)]
pub struct Image {
    /// `sha256:<hex>`, the digest of the config JSON.
    pub id: String,
    pub config: Value,
    /// Familiar tagged names: `busybox:latest`.
    pub repo_tags: Vec<String>,
    /// `127.0.0.1:5000/busybox@sha256:...`.
    pub repo_digests: Vec<String>,
    pub size: u64,
    pub created: String,
    /// Chain ids (`sha256:<hex>`) of the layers, bottom first.
    pub layers: Vec<String>,
}

/// How to reach the registry.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `host[:port]` or CIDR entries spoken to over plain HTTP (loopback always is).
    pub insecure_registries: Vec<String>,
    /// The X-Registry-Auth header the docker CLI sent (base64url JSON credentials).
    pub auth: Option<String>,
    /// `--platform`: which entry of a manifest list to pull (this machine's when `None`).
    pub platform: Option<crate::registry::Platform>,
    /// `--registry-mirror` URLs tried, in order, before Docker Hub for `docker.io` images.
    pub registry_mirrors: Vec<String>,
    /// `--max-concurrent-downloads` (0 means Docker's default, 3).
    pub max_concurrent_downloads: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullErrorKind {
    NotFound,
    Unauthorized,
    InvalidReference,
    Other,
}

/// A failed pull; `message` is Docker's text for it.
#[derive(Debug)]
pub struct PullError {
    pub kind: PullErrorKind,
    pub message: String,
}

impl std::fmt::Display for PullError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PullError {}

impl From<io::Error> for PullError {
    fn from(e: io::Error) -> Self {
        PullError { kind: PullErrorKind::Other, message: e.to_string() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveErrorKind {
    NotFound,
    Conflict,
    Other,
}

/// A failed `docker rmi`; `message` is Docker's text for it.
#[derive(Debug)]
pub struct RemoveError {
    pub kind: RemoveErrorKind,
    pub message: String,
}

impl RemoveError {
    fn other(e: io::Error) -> RemoveError {
        RemoveError { kind: RemoveErrorKind::Other, message: e.to_string() }
    }
}

impl std::fmt::Display for RemoveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RemoveError {}

/// Familiar name → (familiar reference → image id), Docker's repositories.json.
type Repositories = BTreeMap<String, BTreeMap<String, String>>;

/// The image store; safe to share between threads.
pub struct ImageStore {
    data_root: PathBuf,
    repositories: Mutex<Repositories>,
    /// The store lock: held while images, layers or their holders change (a layer committed
    /// or deleted, an image config written or removed with its references, a container's
    /// layers recorded or released), so two pulls of one layer commit it once and nothing is
    /// deleted that something is about to use. It guards the holds of operations in flight.
    lock: Mutex<refcount::Holds>,
    /// Which image was made from which (`commit::Family`), read from `imagedb/metadata` on
    /// first use and kept up to date by `create_child` and image deletion.
    family: Mutex<Option<commit::Family>>,
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

impl ImageStore {
    /// Opens (creating) the store under `data_root`, dropping leftovers of interrupted work:
    /// extractions, half-written or half-deleted layerdb entries and the temporary files of
    /// atomic writes. Downloads stay, for the next pull to resume.
    pub fn open(data_root: &Path) -> io::Result<ImageStore> {
        let store = ImageStore { data_root: data_root.to_path_buf(), repositories: Mutex::new(Repositories::new()), lock: Mutex::default(), family: Mutex::default() };
        for d in [store.content_dir(), store.layerdb_dir(), store.meta_dir().join("layerdb/tmp"), store.meta_dir().join("layerdb/mounts"), store.layers_dir().join("l"), store.tmp_dir(), store.blobs_dir().join("sha256"), store.blobs_dir().join("partial")] {
            std::fs::create_dir_all(d)?;
        }
        for tmp in [store.tmp_dir(), store.meta_dir().join("layerdb/tmp")] {
            for e in std::fs::read_dir(&tmp)?.flatten() {
                let _ = std::fs::remove_dir_all(e.path()).or_else(|_| std::fs::remove_file(e.path()));
            }
        }
        let mut atomic_write_dirs = vec![store.meta_dir(), store.content_dir(), store.meta_dir().join("distribution/v2metadata-by-diffid/sha256")];
        atomic_write_dirs.extend(std::fs::read_dir(store.layerdb_dir())?.flatten().map(|e| e.path()));
        for dir in atomic_write_dirs {
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if crate::sys::is_atomic_write_temp(&e.file_name()) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let repos = match std::fs::read(store.repositories_file()) {
            Ok(bytes) => {
                let v: Value = serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("repositories.json: {e}")))?;
                serde_json::from_value(v.get("Repositories").cloned().unwrap_or(Value::Null)).unwrap_or_default()
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Repositories::new(),
            Err(e) => return Err(e),
        };
        *store.repositories.lock().unwrap_or_else(|e| e.into_inner()) = repos;
        Ok(store)
    }

    fn meta_dir(&self) -> PathBuf {
        self.data_root.join("image/overlay2")
    }
    fn content_dir(&self) -> PathBuf {
        self.meta_dir().join("imagedb/content/sha256")
    }
    fn layerdb_dir(&self) -> PathBuf {
        self.meta_dir().join("layerdb/sha256")
    }
    fn repositories_file(&self) -> PathBuf {
        self.meta_dir().join("repositories.json")
    }
    fn layers_dir(&self) -> PathBuf {
        self.data_root.join("overlay2")
    }
    fn tmp_dir(&self) -> PathBuf {
        self.data_root.join("tmp")
    }
    fn blobs_dir(&self) -> PathBuf {
        self.data_root.join("blobs")
    }

    fn repos(&self) -> std::sync::MutexGuard<'_, Repositories> {
        self.repositories.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save_repositories(&self, repos: &Repositories) -> io::Result<()> {
        let doc = serde_json::json!({ "Repositories": repos });
        crate::sys::write_atomic(&self.repositories_file(), &serde_json::to_vec(&doc).map_err(io::Error::other)?)
    }

    fn image_ids(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(self.content_dir()) else { return Vec::new() };
        rd.flatten().filter_map(|e| e.file_name().into_string().ok()).filter(|n| n.len() == 64 && is_hex(n)).collect()
    }

    /// The image's hex id for anything `docker` accepts: a name (tag `latest` implied), a
    /// name with tag or digest, a full id with or without `sha256:`, or an unambiguous prefix.
    fn resolve(&self, name_or_id: &str) -> Option<String> {
        let bare = name_or_id.strip_prefix("sha256:").unwrap_or(name_or_id);
        if bare.len() == 64 && is_hex(bare) {
            return self.content_dir().join(bare).exists().then(|| bare.to_string());
        }
        if let Ok(r) = Reference::parse_normalized(name_or_id) {
            let r = r.with_default_tag();
            let key = if r.digest.is_some() { format!("{}@{}", r.familiar_name(), r.digest.as_deref().unwrap_or("")) } else { r.familiar_string() };
            if let Some(id) = self.repos().get(&r.familiar_name()).and_then(|m| m.get(&key)) {
                return id.strip_prefix("sha256:").map(str::to_string);
            }
        }
        if is_hex(bare) {
            let mut matches = self.image_ids().into_iter().filter(|id| id.starts_with(bare));
            let first = matches.next()?;
            return matches.next().is_none().then_some(first);
        }
        None
    }

    /// The id (`sha256:<hex>`) of the image `name_or_id` names, without loading it.
    pub fn resolve_id(&self, name_or_id: &str) -> Option<String> {
        self.resolve(name_or_id).map(|hex| format!("sha256:{hex}"))
    }

    /// Looks an image up by name, name:tag, name@digest, id, or short id.
    pub fn get(&self, name_or_id: &str) -> Option<Image> {
        self.load(&self.resolve(name_or_id)?)
    }

    /// Every image in the store.
    pub fn list(&self) -> Vec<Image> {
        let mut images: Vec<Image> = self.image_ids().iter().filter_map(|id| self.load(id)).collect();
        images.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        images
    }

    fn load(&self, hex: &str) -> Option<Image> {
        let bytes = std::fs::read(self.content_dir().join(hex)).ok()?;
        let config: Value = serde_json::from_slice(&bytes).ok()?;
        let id = format!("sha256:{hex}");
        let diff_ids = diff_ids(&config).ok()?;
        let layers = chain_ids(&diff_ids);
        let size = layers.iter().filter_map(|c| self.layer_size(c)).sum();
        let (mut repo_tags, mut repo_digests) = (Vec::new(), Vec::new());
        for (name, refs) in self.repos().iter() {
            for (r, target) in refs {
                if *target != id {
                    continue;
                }
                if r.starts_with(&format!("{name}@")) {
                    // Docker shows digests with the full registry name unless it is Docker Hub.
                    repo_digests.push(r.clone());
                } else {
                    repo_tags.push(r.clone());
                }
            }
        }
        Some(Image {
            id,
            created: config.get("created").and_then(|c| c.as_str()).unwrap_or("").to_string(),
            config,
            repo_tags,
            repo_digests,
            size,
            layers,
        })
    }

    fn layer_dir(&self, chain_id: &str) -> PathBuf {
        self.layerdb_dir().join(chain_id.strip_prefix("sha256:").unwrap_or(chain_id))
    }

    fn layer_exists(&self, chain_id: &str) -> bool {
        self.layer_dir(chain_id).join("cache-id").exists()
    }

    fn layer_size(&self, chain_id: &str) -> Option<u64> {
        std::fs::read_to_string(self.layer_dir(chain_id).join("size")).ok()?.trim().parse().ok()
    }

    /// The overlay2 directory name of a committed layer.
    pub fn cache_id(&self, chain_id: &str) -> Option<String> {
        std::fs::read_to_string(self.layer_dir(chain_id).join("cache-id")).ok().map(|s| s.trim().to_string())
    }

    /// Writes an image config under `imagedb` unless it is there (the caller holds the store
    /// lock: write_atomic's temporary name is per process, so threads take turns).
    fn write_config_locked(&self, hex: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.content_dir().join(hex);
        if path.exists() {
            return Ok(());
        }
        crate::sys::write_atomic(&path, bytes)
    }

    /// Makes an extracted layer (`work`, holding `diff/`, perhaps its tar-split) visible:
    /// everything it needs is written first (its link and lower files, the layerdb entry
    /// prepared in `layerdb/tmp`) and one `syncfs` puts all of it and the extracted files on
    /// disk; then the overlay2 directory is renamed into place, its short link made, and the
    /// layerdb entry renamed into place — the step that makes it count as present — and that
    /// directory fsynced. No file is fsynced one by one. Another commit of the same layer
    /// that won the race makes this one a no-op.
    fn commit_extracted(&self, work: &Path, chain_id: &str, diff_id: &str, parent: Option<&str>, size: u64) -> io::Result<()> {
        let set = self.meta_dir().join("layerdb/tmp").join(format!("write-set-{}", &crate::ids::new_id()[..16]));
        let result = self.commit_prepared(work, &set, chain_id, diff_id, parent, size);
        if result.is_err() || work.exists() {
            let _ = std::fs::remove_dir_all(work);
            let _ = std::fs::remove_dir_all(&set);
        }
        result
    }

    fn commit_prepared(&self, work: &Path, set: &Path, chain_id: &str, diff_id: &str, parent: Option<&str>, size: u64) -> io::Result<()> {
        if self.layer_exists(chain_id) {
            return Ok(());
        }
        let layers = self.layers_dir();
        let link = short_link_name();
        std::fs::write(work.join("link"), link.as_bytes())?;
        if let Some(parent) = parent {
            let parent_cache = self.cache_id(parent).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("parent layer {parent} is missing")))?;
            let parent_link = std::fs::read_to_string(layers.join(&parent_cache).join("link"))?;
            let mut lower = format!("l/{}", parent_link.trim());
            if let Ok(parent_lower) = std::fs::read_to_string(layers.join(&parent_cache).join("lower")) {
                lower = format!("{lower}:{}", parent_lower.trim());
            }
            if lower.split(':').count() >= MAX_LAYER_DEPTH {
                return Err(io::Error::other("max depth exceeded"));
            }
            std::fs::write(work.join("lower"), lower.as_bytes())?;
            std::fs::create_dir_all(work.join("work"))?;
        }
        let cache_id = crate::ids::new_id();
        crate::durable::step_at("mkdir", set);
        std::fs::create_dir_all(set)?;
        // A tar-split recorded while staging goes with the layer's record, so save and push
        // find it from the moment the layer exists.
        let staged_split = work.join(layer_stream::TAR_SPLIT);
        if staged_split.exists() {
            std::fs::rename(&staged_split, set.join(layer_stream::TAR_SPLIT))?;
        }
        let mut files: Vec<(&str, String)> = vec![("diff", diff_id.to_string()), ("size", size.to_string()), ("cache-id", cache_id.clone())];
        if let Some(parent) = parent {
            files.push(("parent", parent.to_string()));
        }
        for (name, value) in files {
            crate::durable::step_at("write", &set.join(name));
            std::fs::write(set.join(name), value.as_bytes())?;
        }
        // One syncfs, before the store lock (it may take a while), puts the extracted files
        // and the records on disk before a rename makes the layer present, or a power cut
        // could leave it with empty files.
        crate::durable::syncfs(&std::fs::File::open(work)?)?;
        let _guard = self.lock();
        if self.layer_exists(chain_id) {
            return Ok(());
        }
        crate::durable::step_at("rename", &layers.join(&cache_id));
        std::fs::rename(work, layers.join(&cache_id))?;
        crate::durable::step_at("symlink", &layers.join("l").join(&link));
        std::os::unix::fs::symlink(format!("../{cache_id}/diff"), layers.join("l").join(&link))?;
        crate::durable::step_at("rename", &self.layer_dir(chain_id));
        std::fs::rename(set, self.layer_dir(chain_id))?;
        crate::durable::fsync_dir(&self.layerdb_dir())
    }

    /// Points `reference` at image `id`; returns whether it pointed elsewhere before.
    fn set_reference(&self, reference: &Reference, manifest_digest: &str, id: &str) -> io::Result<bool> {
        let mut repos = self.repos();
        let name = reference.familiar_name();
        let entry = repos.entry(name.clone()).or_default();
        let mut changed = false;
        if reference.tag.is_some() && reference.digest.is_none() {
            changed |= entry.insert(reference.familiar_string(), id.to_string()).as_deref() != Some(id);
        }
        changed |= entry.insert(format!("{name}@{manifest_digest}"), id.to_string()).as_deref() != Some(id);
        self.save_repositories(&repos)?;
        Ok(changed)
    }

    /// `docker tag`: points `reference` (tag `latest` by default) at the image `name_or_id`.
    pub fn tag(&self, name_or_id: &str, reference: &Reference) -> io::Result<()> {
        // Under the store lock, so the image cannot be deleted between lookup and tag.
        let _guard = self.lock();
        let hex = self.resolve(name_or_id).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("No such image: {name_or_id}")))?;
        let reference = reference.clone().with_default_tag();
        if reference.digest.is_some() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "refusing to create a tag with a digest reference"));
        }
        let mut repos = self.repos();
        repos.entry(reference.familiar_name()).or_default().insert(reference.familiar_string(), format!("sha256:{hex}"));
        self.save_repositories(&repos)
    }

    /// Pulls `reference` (tag `latest` when it names neither tag nor digest), streaming
    /// Docker's progress messages to `progress`.
    pub fn pull(&self, reference: &Reference, opts: &PullOptions, progress: &mut dyn FnMut(&Value)) -> Result<Image, PullError> {
        pull::pull(self, reference, opts, progress)
    }

    /// `docker pull --all-tags`: every tag of the repository `reference` names.
    pub fn pull_all_tags(&self, reference: &Reference, opts: &PullOptions, progress: &mut dyn FnMut(&Value)) -> Result<Vec<Image>, PullError> {
        pull::pull_all_tags(self, reference, opts, progress)
    }
}

/// Docker's 26-character overlay2 short link name (base32 alphabet).
fn short_link_name() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let id = crate::ids::new_id();
    (0..26).map(|i| ALPHABET[(u8::from_str_radix(&id[i * 2..i * 2 + 2], 16).unwrap_or(0) % 32) as usize] as char).collect()
}

/// The config's `rootfs.diff_ids`.
fn diff_ids(config: &Value) -> io::Result<Vec<String>> {
    let ids = config.get("rootfs").and_then(|r| r.get("diff_ids")).and_then(|d| d.as_array());
    let ids = ids.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "image config has no rootfs.diff_ids"))?;
    ids.iter().map(|d| d.as_str().map(str::to_string).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad diff_id"))).collect()
}

/// Chain ids: the first layer's diff id, then sha256("<parent chain> <diff id>").
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    use sha2::Digest as _;
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(parent) => format!("sha256:{:x}", sha2::Sha256::digest(format!("{parent} {d}").as_bytes())),
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn chain_ids_follow_docker() {
        let d = vec!["sha256:a".to_string(), "sha256:b".to_string()];
        let c = super::chain_ids(&d);
        assert_eq!(c[0], "sha256:a");
        use sha2::Digest as _;
        assert_eq!(c[1], format!("sha256:{:x}", sha2::Sha256::digest(b"sha256:a sha256:b")));
    }
}
