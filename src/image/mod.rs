//! The content-addressed image and layer store under `<data-root>/image`, in Docker's overlay2
//! layout, and pulling into it from a registry.
//!
//! ```text
//! image/overlay2/imagedb/content/sha256/<image-hex>       config JSON as pulled
//! image/overlay2/layerdb/sha256/<chain-hex>/{diff,size,cache-id,parent}
//! image/overlay2/repositories.json                        {"Repositories":{name:{ref:id}}}
//! overlay2/<cache-id>/{diff/,link,lower,work/}            extracted layers
//! overlay2/l/<short> -> ../<cache-id>/diff
//! tmp/                                                    extractions in progress
//! blobs/partial/<hex>                                     a layer download in progress
//! blobs/sha256/<hex>                                      a verified layer download
//! ```
//! Downloads outlive a crash: a partial blob is resumed (re-hashed, then a `Range` request)
//! and a verified one is used as is, until the image that needed it is committed.
//! Anything becomes visible by a rename, so a kill at any point leaves no half-made image.

mod archive_formats;
mod progress;
mod pull;
mod push;

pub use archive_formats::tar_directory;

pub use progress::{human_size, progress_bar};

use crate::reference::Reference;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
    /// Held while a layer is made visible, so two pulls of one layer commit it once.
    layer_commit: Mutex<()>,
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

impl ImageStore {
    /// Opens (creating) the store under `data_root`, dropping leftovers of interrupted pulls.
    pub fn open(data_root: &Path) -> io::Result<ImageStore> {
        let store = ImageStore { data_root: data_root.to_path_buf(), repositories: Mutex::new(Repositories::new()), layer_commit: Mutex::new(()) };
        for d in [store.content_dir(), store.layerdb_dir(), store.meta_dir().join("layerdb/tmp"), store.layers_dir().join("l"), store.tmp_dir(), store.blobs_dir().join("sha256"), store.blobs_dir().join("partial")] {
            std::fs::create_dir_all(d)?;
        }
        for tmp in [store.tmp_dir(), store.meta_dir().join("layerdb/tmp")] {
            for e in std::fs::read_dir(&tmp)?.flatten() {
                let _ = std::fs::remove_dir_all(e.path()).or_else(|_| std::fs::remove_file(e.path()));
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
        let hex = self.resolve(name_or_id).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("No such image: {name_or_id}")))?;
        let reference = reference.clone().with_default_tag();
        if reference.digest.is_some() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "refusing to create a tag with a digest reference"));
        }
        let mut repos = self.repos();
        repos.entry(reference.familiar_name()).or_default().insert(reference.familiar_string(), format!("sha256:{hex}"));
        self.save_repositories(&repos)
    }

    /// `docker rmi`: untags `name_or_id`, and deletes the image (config, then every layer no
    /// other image uses, top first) once nothing refers to it. Returns Docker's response
    /// entries (`{"Untagged": ..}`, `{"Deleted": ..}`). Whether a container uses the image
    /// is the daemon's business: check before calling.
    pub fn remove(&self, name_or_id: &str, force: bool) -> Result<Vec<Value>, RemoveError> {
        let not_found = || RemoveError { kind: RemoveErrorKind::NotFound, message: format!("No such image: {name_or_id}") };
        let hex = self.resolve(name_or_id).ok_or_else(not_found)?;
        let id = format!("sha256:{hex}");
        // A name counts as a reference only if the store has exactly that reference;
        // otherwise it was an id or id prefix.
        let by_reference = Reference::parse_normalized(name_or_id).ok().map(|r| r.with_default_tag()).and_then(|r| {
            let name = r.familiar_name();
            let key = match &r.digest {
                Some(d) => format!("{name}@{d}"),
                None => r.familiar_string(),
            };
            self.repos().get(&name).is_some_and(|m| m.contains_key(&key)).then_some((name, key))
        });
        let mut response = Vec::new();
        let _guard = self.layer_commit.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut repos = self.repos();
            let refs_of_image: Vec<(String, String)> =
                repos.iter().flat_map(|(name, m)| m.iter().filter(|(_, v)| **v == id).map(move |(k, _)| (name.clone(), k.clone()))).collect();
            let untag: Vec<(String, String)> = match &by_reference {
                Some((name, key)) => {
                    let mut untag = vec![(name.clone(), key.clone())];
                    let digest_prefix = format!("{name}@");
                    let is_digest = key.starts_with(&digest_prefix);
                    let other_tag_in_repo = refs_of_image.iter().any(|(n, k)| n == name && k != key && !k.starts_with(&digest_prefix));
                    if !is_digest && !other_tag_in_repo {
                        // The last tag of a repository takes its digest references with it.
                        untag.extend(refs_of_image.iter().filter(|(n, k)| n == name && k.starts_with(&digest_prefix)).cloned());
                    }
                    untag
                }
                None => {
                    let repos_used: std::collections::BTreeSet<&String> = refs_of_image.iter().map(|(n, _)| n).collect();
                    if repos_used.len() > 1 && !force {
                        return Err(RemoveError {
                            kind: RemoveErrorKind::Conflict,
                            message: format!("conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories", &hex[..12]),
                        });
                    }
                    refs_of_image.clone()
                }
            };
            for (name, key) in &untag {
                if let Some(m) = repos.get_mut(name) {
                    m.remove(key);
                    if m.is_empty() {
                        repos.remove(name);
                    }
                }
                response.push(serde_json::json!({ "Untagged": key }));
            }
            if !untag.is_empty() {
                self.save_repositories(&repos).map_err(RemoveError::other)?;
            }
            if repos.values().any(|m| m.values().any(|v| *v == id)) {
                return Ok(response);
            }
        }
        let config: Value = std::fs::read(self.content_dir().join(&hex)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
        let chains = diff_ids(&config).map(|d| chain_ids(&d)).unwrap_or_default();
        std::fs::remove_file(self.content_dir().join(&hex)).map_err(RemoveError::other)?;
        response.push(serde_json::json!({ "Deleted": id }));
        let in_use: std::collections::HashSet<String> = self.image_ids().iter().filter_map(|other| {
            let b = std::fs::read(self.content_dir().join(other)).ok()?;
            let v: Value = serde_json::from_slice(&b).ok()?;
            Some(chain_ids(&diff_ids(&v).ok()?))
        }).flatten().collect();
        for chain in chains.iter().rev() {
            if in_use.contains(chain) || !self.layer_exists(chain) {
                continue;
            }
            self.delete_layer(chain).map_err(RemoveError::other)?;
            response.push(serde_json::json!({ "Deleted": chain }));
        }
        Ok(response)
    }

    /// Hides the layer's layerdb entry by rename first, then deletes its files.
    fn delete_layer(&self, chain_id: &str) -> io::Result<()> {
        let cache_id = self.cache_id(chain_id);
        let trash = self.meta_dir().join("layerdb/tmp").join(format!("delete-{}", &crate::ids::new_id()[..16]));
        std::fs::rename(self.layer_dir(chain_id), &trash)?;
        if let Some(cache_id) = cache_id.filter(|c| !c.is_empty() && !c.contains('/') && c != "l") {
            let dir = self.layers_dir().join(&cache_id);
            if let Ok(link) = std::fs::read_to_string(dir.join("link")) {
                let link = link.trim();
                if !link.is_empty() && !link.contains('/') {
                    let _ = std::fs::remove_file(self.layers_dir().join("l").join(link));
                }
            }
            match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::remove_dir_all(&trash)
    }

    /// Pulls `reference` (tag `latest` when it names neither tag nor digest), streaming
    /// Docker's progress messages to `progress`.
    pub fn pull(&self, reference: &Reference, opts: &PullOptions, progress: &mut dyn FnMut(&Value)) -> Result<Image, PullError> {
        pull::pull(self, reference, opts, progress)
    }
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
