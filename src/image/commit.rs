//! Images made here rather than pulled: `docker commit` and the builder's steps. A new image
//! is its parent's layers plus, when the change is not empty, one layer made from a directory
//! of changes (a container's overlay upper directory), with a config the caller gives and one
//! more history entry. The parent is recorded as Docker records it,
//! `imagedb/metadata/sha256/<id>/parent`, which is what the builder's cache looks children up
//! by and what keeps `docker rmi` from deleting an image other images were made from.

use super::{diff_ids, hex_of, Image, ImageStore};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};

/// The diff id of a layer tar with no entries (the end-of-archive blocks alone): Docker counts
/// such a layer as empty and adds no layer for it, only a history entry marked `empty_layer`.
pub const EMPTY_LAYER_DIFF_ID: &str = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// Which images were made from which: parent id → its children's ids (`sha256:<hex>`).
#[derive(Default)]
pub(super) struct Family {
    children: HashMap<String, BTreeSet<String>>,
}

impl Family {
    fn add(&mut self, parent: &str, child: &str) {
        self.children.entry(parent.to_string()).or_default().insert(child.to_string());
    }
}

/// What a new image is made of.
pub struct NewImage<'a> {
    /// The parent image's id (`sha256:<hex>`); `None` makes an image from scratch.
    pub parent: Option<&'a str>,
    /// A directory of changes (an overlay upper directory: its whiteouts become `.wh.`
    /// entries). `None`, or a directory with nothing in it, adds no layer.
    pub layer_dir: Option<&'a Path>,
    /// The new image's complete `config` object (Cmd, Env, Entrypoint, ...).
    pub config: Value,
    /// The container the image was made from.
    pub container: Option<&'a str>,
    /// The container's config as the classic builder records it (`Cmd` of `#(nop)` steps).
    pub container_config: Option<Value>,
    pub author: &'a str,
    pub comment: &'a str,
    /// The history entry's `created_by`.
    pub created_by: &'a str,
}

impl ImageStore {
    fn image_metadata_dir(&self, hex: &str) -> PathBuf {
        self.meta_dir().join("imagedb/metadata/sha256").join(hex)
    }

    /// The image `id` was made from (committed or built on), if it was made here.
    pub fn parent_of(&self, id: &str) -> Option<String> {
        let parent = std::fs::read_to_string(self.image_metadata_dir(hex_of(id)).join("parent")).ok()?;
        let parent = parent.trim().to_string();
        self.content_dir().join(hex_of(&parent)).exists().then_some(parent)
    }

    /// The images made from `id`, from the family map (no directory scan per call: image
    /// listing asks this of every untagged image, and the builder at every cache probe).
    pub fn children_of(&self, id: &str) -> Vec<String> {
        let want = format!("sha256:{}", hex_of(id));
        self.with_family(|f| f.children.get(&want).map(|c| c.iter().cloned().collect()).unwrap_or_default())
    }

    /// Runs `f` on the family map, reading it from `imagedb/metadata` the first time: every
    /// recorded parent whose child's config is present. The map's mutex is a leaf (nothing is
    /// locked while it is held), so callers may hold the store lock.
    fn with_family<T>(&self, f: impl FnOnce(&mut Family) -> T) -> T {
        let mut guard = self.family.lock().unwrap_or_else(|e| e.into_inner());
        let family = guard.get_or_insert_with(|| {
            let mut family = Family::default();
            let Ok(rd) = std::fs::read_dir(self.meta_dir().join("imagedb/metadata/sha256")) else { return family };
            for hex in rd.flatten().filter_map(|e| e.file_name().into_string().ok()) {
                if !self.content_dir().join(&hex).exists() {
                    continue;
                }
                if let Ok(parent) = std::fs::read_to_string(self.image_metadata_dir(&hex).join("parent")) {
                    family.add(parent.trim(), &format!("sha256:{hex}"));
                }
            }
            family
        });
        f(family)
    }

    /// Records `parent` as the image `id` was made from (the classic builder's cache adopting
    /// a `--cache-from` image whose history continues `parent`'s, as Docker's does).
    pub fn set_parent(&self, id: &str, parent: &str) -> io::Result<()> {
        let (id, parent) = (format!("sha256:{}", hex_of(id)), format!("sha256:{}", hex_of(parent)));
        let _guard = self.lock();
        if !self.content_dir().join(hex_of(&id)).exists() || !self.content_dir().join(hex_of(&parent)).exists() {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("No such image: {id} or {parent}")));
        }
        let meta = self.image_metadata_dir(hex_of(&id));
        std::fs::create_dir_all(&meta)?;
        crate::sys::write_atomic(&meta.join("parent"), parent.as_bytes())?;
        self.with_family(|f| {
            for children in f.children.values_mut() {
                children.remove(&id);
            }
            f.add(&parent, &id);
        });
        Ok(())
    }

    /// Stores an image config whose layers are all present already (the cache's image made of
    /// a parent and one step of a `--cache-from` image) and records its parent. Returns its id.
    pub fn create_from_config(&self, config: &Value, parent: Option<&str>) -> io::Result<String> {
        let diff_ids = diff_ids(config)?;
        let bytes = serde_json::to_vec(config)?;
        let _guard = self.lock();
        if let Some(missing) = super::chain_ids(&diff_ids).iter().find(|c| !self.layer_exists(c)) {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("layer {missing} is not present")));
        }
        let id = self.store_config_locked(&bytes)?;
        if let Some(p) = parent {
            let p = format!("sha256:{}", hex_of(p));
            let meta = self.image_metadata_dir(hex_of(&id));
            std::fs::create_dir_all(&meta)?;
            crate::sys::write_atomic(&meta.join("parent"), p.as_bytes())?;
            self.with_family(|f| f.add(&p, &id));
        }
        Ok(id)
    }

    /// Removes what `imagedb/metadata` keeps of a deleted image, and the image from the family
    /// map (as a child of its parent; its own children, if any were forced out, lose it too).
    pub(super) fn forget_metadata(&self, hex: &str) {
        let _ = std::fs::remove_dir_all(self.image_metadata_dir(hex));
        let id = format!("sha256:{hex}");
        self.with_family(|f| {
            f.children.retain(|_, c| {
                c.remove(&id);
                !c.is_empty()
            });
            f.children.remove(&id);
        });
    }

    /// Makes an image from `new` and returns it: the layer (if any) is registered on top of
    /// the parent's, then the config is stored and the parent recorded. Nothing is tagged.
    pub fn create_child(&self, new: &NewImage) -> io::Result<Image> {
        let parent = match new.parent {
            Some(p) => Some(self.get(p).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("No such image: {p}")))?),
            None => None,
        };
        let mut hold = self.hold();
        if let Some(p) = &parent {
            // The parent's layers stay while the new one is stacked on them.
            hold.add(&p.layers, &[]);
        }
        let mut rootfs: Vec<String> = match &parent {
            Some(p) => diff_ids(&p.config)?,
            None => Vec::new(),
        };
        let mut empty_layer = true;
        if let Some(dir) = new.layer_dir {
            // The layer tar goes through a pipe, straight into its staging directory: written
            // once, no tar file in between.
            let (reader, writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
            let (mut reader, mut writer) = (std::fs::File::from(reader), std::fs::File::from(writer));
            let (written, staged) = std::thread::scope(|scope| {
                let tarring = scope.spawn(move || {
                    let r = super::tar_directory(dir, &mut writer, true);
                    drop(writer);
                    r
                });
                let staged = self.stage_layer(&mut reader, "commit");
                drop(reader);
                (tarring.join().unwrap_or_else(|_| Err(io::Error::other("tar of the layer panicked"))), staged)
            });
            let result = match (written, staged) {
                (Err(e), Ok(staged)) => {
                    staged.discard();
                    Err(e)
                }
                (Err(e), Err(_)) | (Ok(()), Err(e)) => Err(e),
                (Ok(()), Ok(staged)) if staged.diff_id == EMPTY_LAYER_DIFF_ID => {
                    staged.discard();
                    Ok(None)
                }
                (Ok(()), Ok(staged)) => {
                    let top = parent.as_ref().and_then(|p| p.layers.last().cloned());
                    self.register_staged(staged, top.as_deref(), None, &mut hold).map(|(diff_id, _)| Some(diff_id))
                }
            };
            if let Some(diff_id) = result? {
                rootfs.push(diff_id);
                empty_layer = false;
            }
        }
        if rootfs.len() > super::MAX_LAYER_DEPTH {
            return Err(io::Error::other("max depth exceeded"));
        }
        let now = crate::sys::rfc3339_nanos(std::time::SystemTime::now());
        let mut history: Vec<Value> = parent.as_ref().and_then(|p| p.config.get("history")).and_then(Value::as_array).cloned().unwrap_or_default();
        let mut entry = serde_json::Map::new();
        entry.insert("created".into(), json!(now));
        if !new.author.is_empty() {
            entry.insert("author".into(), json!(new.author));
        }
        entry.insert("created_by".into(), json!(new.created_by));
        if !new.comment.is_empty() {
            entry.insert("comment".into(), json!(new.comment));
        }
        if empty_layer {
            entry.insert("empty_layer".into(), json!(true));
        }
        history.push(Value::Object(entry));
        let (arch, variant) = match &parent {
            Some(p) => (p.config.get("architecture").cloned().unwrap_or_else(|| json!(crate::registry::host_platform().0)), p.config.get("variant").cloned()),
            None => (json!(crate::registry::host_platform().0), crate::registry::host_platform().1.map(|v| json!(v))),
        };
        let mut config = serde_json::Map::new();
        config.insert("architecture".into(), arch);
        if !new.author.is_empty() {
            config.insert("author".into(), json!(new.author));
        }
        if !new.comment.is_empty() {
            config.insert("comment".into(), json!(new.comment));
        }
        config.insert("config".into(), new.config.clone());
        if let Some(c) = new.container {
            config.insert("container".into(), json!(c));
        }
        if let Some(cc) = &new.container_config {
            config.insert("container_config".into(), cc.clone());
        }
        config.insert("created".into(), json!(now));
        config.insert("docker_version".into(), json!(crate::version::DOCKBOX));
        config.insert("history".into(), Value::Array(history));
        config.insert("os".into(), json!("linux"));
        config.insert("rootfs".into(), json!({"type": "layers", "diff_ids": rootfs}));
        if let Some(v) = variant {
            config.insert("variant".into(), v);
        }
        let bytes = serde_json::to_vec(&Value::Object(config))?;
        let id = {
            let _guard = self.lock();
            let id = self.store_config_locked(&bytes)?;
            if let Some(p) = &parent {
                let meta = self.image_metadata_dir(hex_of(&id));
                std::fs::create_dir_all(&meta)?;
                crate::sys::write_atomic(&meta.join("parent"), p.id.as_bytes())?;
                self.with_family(|f| f.add(&p.id, &id));
            }
            id
        };
        drop(hold);
        self.get(&id).ok_or_else(|| io::Error::other(format!("image {id} vanished after it was made")))
    }
}
