//! Images as tar archives: layer tars reproduced from overlay2 diffs (byte-exact through a
//! recorded tar-split), `docker save`/`load` (legacy manifest.json and OCI layout together),
//! container export and `docker import`, plus history and prune.

use super::{chain_ids, diff_ids, ImageStore};
use crate::reference::Reference;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::layer_stream::TAR_SPLIT;
const MEDIA_OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// A read error of a tar stream, in the words of Go's archive/tar that Docker shows: the
/// stream ends inside a header or a file ("unexpected EOF"), or what should be a header is
/// not one ("archive/tar: invalid tar header").
fn tar_error(e: io::Error) -> io::Error {
    let text = e.to_string();
    if e.kind() == io::ErrorKind::UnexpectedEof || text.contains("failed to read entire block") || text.contains("unexpected EOF") {
        bad("unexpected EOF")
    } else if text.contains("checksum") || text.contains("numeric field") || text.contains("header") {
        bad("archive/tar: invalid tar header")
    } else {
        e
    }
}

/// Copies a tar entry's data, a cut-short entry being the archive's fault, not the disk's.
fn copy_entry(entry: &mut dyn Read, out: &mut File) -> io::Result<()> {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(tar_error(e)),
        };
        out.write_all(&buf[..n])?;
    }
}

pub(super) fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

fn tmp_name(prefix: &str) -> String {
    format!("{prefix}-{}", &crate::ids::new_id()[..16])
}

/// Hashes and counts everything written through it.
pub(super) struct HashingWriter<W> {
    pub(super) inner: W,
    pub(super) hasher: Sha256,
    pub(super) count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads `path` inside `root` without following a symlink in its last component.
fn open_in(root: &Path, rel: &str) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(root.join(rel))
}

/// The `trusted.overlay.opaque` flag of a directory.
fn is_opaque(dir: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { return false };
    let mut buf = [0u8; 4];
    // SAFETY: both strings are NUL-terminated and outlive the call; buf's length is passed.
    let n = unsafe { libc::lgetxattr(c.as_ptr(), c"trusted.overlay.opaque".as_ptr(), buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
    n == 1 && buf[0] == b'y'
}

/// Writes a tar of `dir` (sorted, so the same tree gives the same bytes). With `overlay`, the
/// overlayfs whiteouts of a layer diff become AUFS `.wh.` entries as image layers carry them.
pub fn tar_directory(dir: &Path, out: &mut dyn Write, overlay: bool) -> io::Result<()> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(&abs)?.map(|e| e.map(|e| e.file_name())).collect::<io::Result<_>>()?;
        names.sort();
        if overlay && !rel.as_os_str().is_empty() && is_opaque(&abs) {
            append_whiteout(&mut builder, &rel.join(".wh..wh..opq"))?;
        }
        let mut subdirs = Vec::new();
        for name in names {
            let r = rel.join(&name);
            let p = dir.join(&r);
            let md = std::fs::symlink_metadata(&p)?;
            let ft = md.file_type();
            if overlay && ft.is_char_device() && md.rdev() == 0 {
                let wh = rel.join(format!(".wh.{}", name.to_string_lossy()));
                append_whiteout(&mut builder, &wh)?;
                continue;
            }
            let mut h = tar::Header::new_gnu();
            h.set_metadata_in_mode(&md, tar::HeaderMode::Complete);
            if ft.is_dir() {
                h.set_size(0);
                builder.append_data(&mut h, &r, io::empty())?;
                subdirs.push(r);
            } else if ft.is_symlink() {
                h.set_size(0);
                let target = std::fs::read_link(&p)?;
                builder.append_link(&mut h, &r, &target)?;
            } else if ft.is_file() {
                if md.nlink() > 1 {
                    if let Some(first) = links.get(&(md.dev(), md.ino())) {
                        h.set_entry_type(tar::EntryType::Link);
                        h.set_size(0);
                        builder.append_link(&mut h, &r, first)?;
                        continue;
                    }
                    links.insert((md.dev(), md.ino()), r.clone());
                }
                let f = open_in(dir, &r.to_string_lossy())?;
                builder.append_data(&mut h, &r, f)?;
            } else {
                // Devices and FIFOs: the header says it all.
                h.set_size(0);
                builder.append_data(&mut h, &r, io::empty())?;
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    builder.finish()
}

fn append_whiteout<W: Write>(b: &mut tar::Builder<W>, path: &Path) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(0);
    h.set_mode(0o644);
    h.set_mtime(0);
    b.append_data(&mut h, path, io::empty())
}

impl ImageStore {
    fn tar_split_path(&self, chain_id: &str) -> PathBuf {
        self.layer_dir(chain_id).join(TAR_SPLIT)
    }

    fn diff_dir(&self, chain_id: &str) -> io::Result<PathBuf> {
        let cache = self.cache_id(chain_id).ok_or_else(|| bad(format!("layer {chain_id} does not exist")))?;
        Ok(self.layers_dir().join(cache).join("diff"))
    }

    /// Writes the layer's uncompressed tar to `out`: exactly the original bytes when a
    /// tar-split was recorded, else a tar made from the diff directory.
    pub fn write_layer_tar(&self, chain_id: &str, out: &mut dyn Write) -> io::Result<()> {
        let diff = self.diff_dir(chain_id)?;
        let Ok(f) = File::open(self.tar_split_path(chain_id)) else { return tar_directory(&diff, out, true) };
        for line in BufReader::new(flate2::read::GzDecoder::new(f)).lines() {
            let v: Value = serde_json::from_str(&line?).map_err(|e| bad(format!("tar-split: {e}")))?;
            if v["type"] == 2 {
                out.write_all(&crate::base64::decode(v["payload"].as_str().unwrap_or("")).ok_or_else(|| bad("bad base64 in tar-split"))?)?;
            } else {
                let size = v["size"].as_u64().unwrap_or(0);
                let name = v["name"].as_str().unwrap_or("");
                let copied = io::copy(&mut open_in(&diff, name)?.take(size), out)?;
                if copied != size {
                    return Err(bad(format!("layer file {name} changed size")));
                }
            }
        }
        Ok(())
    }

    /// The layer tar in a temporary file (removed by the caller), checked against its diff id.
    pub(super) fn layer_tar_file(&self, chain_id: &str, diff_id: &str) -> io::Result<(PathBuf, u64)> {
        let path = self.tmp_dir().join(tmp_name("layer-tar"));
        let result = (|| {
            let mut w = HashingWriter { inner: io::BufWriter::new(File::create(&path)?), hasher: Sha256::new(), count: 0 };
            self.write_layer_tar(chain_id, &mut w)?;
            w.flush()?;
            let got = format!("sha256:{:x}", w.hasher.finalize());
            if got != diff_id {
                return Err(bad(format!("layer {chain_id} reproduces as {got}, not its diff id {diff_id}")));
            }
            Ok(w.count)
        })();
        match result {
            Ok(n) => Ok((path, n)),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// Extracts a layer tar (plain, gzip or zstd) read from `input` on top of `parent` in one
    /// pass (see `layer_stream`), verifying the diff id when one is expected, and commits it
    /// (once) with its tar-split; `hold` holds it from before it is looked for. Returns the
    /// diff id and the chain id.
    pub(super) fn register_layer(&self, input: &mut dyn Read, parent: Option<&str>, expected_diff: Option<&str>, hold: &mut super::refcount::Hold<'_>) -> io::Result<(String, String)> {
        let boxed: Box<dyn Read + '_> = Box::new(input);
        let mut plain = super::layer_stream::decompressed(BufReader::with_capacity(64 << 10, boxed))?;
        let staged = match self.stage_layer_hashed(&mut plain, "register") {
            Ok(s) => s,
            Err(f) => {
                if let (Some(want), Some(got)) = (expected_diff, &f.diff_id) {
                    if want != got {
                        return Err(bad(format!("invalid diffID for layer: expected {want:?}, got {got:?}")));
                    }
                }
                return Err(tar_error(f.error));
            }
        };
        self.register_staged(staged, parent, expected_diff, hold)
    }

    /// Commits a staged layer on top of `parent` (see [`register_layer`](Self::register_layer)).
    pub(super) fn register_staged(&self, staged: super::layer_stream::Staged, parent: Option<&str>, expected_diff: Option<&str>, hold: &mut super::refcount::Hold<'_>) -> io::Result<(String, String)> {
        let diff_id = staged.diff_id.clone();
        if let Some(want) = expected_diff {
            if want != diff_id {
                staged.discard();
                return Err(bad(format!("invalid diffID for layer: expected {want:?}, got {diff_id:?}")));
            }
        }
        let chain = match parent {
            None => diff_id.clone(),
            Some(p) => chain_ids(&[p.to_string(), diff_id.clone()])[1].clone(),
        };
        hold.add(std::slice::from_ref(&chain), &[]);
        if !self.layer_exists(&chain) {
            self.commit_extracted(&staged.work, &chain, &diff_id, parent, staged.size)?;
        } else {
            if !self.tar_split_path(&chain).exists() {
                let _guard = self.lock();
                let _ = std::fs::rename(staged.work.join(TAR_SPLIT), self.tar_split_path(&chain));
            }
            staged.discard();
        }
        Ok((diff_id, chain))
    }

    /// Stores an image config (its id is its digest) and returns the id. The caller holds
    /// the store lock, and tags the image before letting go of it.
    pub(super) fn store_config_locked(&self, bytes: &[u8]) -> io::Result<String> {
        let hex = format!("{:x}", Sha256::digest(bytes));
        self.write_config_locked(&hex, bytes)?;
        Ok(format!("sha256:{hex}"))
    }

    /// Points the tag `reference` at `id`; returns the id it pointed at before, if another.
    pub fn set_tag(&self, reference: &Reference, id: &str) -> io::Result<Option<String>> {
        let r = reference.clone().with_default_tag();
        let mut repos = self.repos();
        let old = repos.entry(r.familiar_name()).or_default().insert(r.familiar_string(), id.to_string());
        self.save_repositories(&repos)?;
        Ok(old.filter(|o| o != id))
    }

    /// The raw config bytes of an image.
    pub fn config_bytes(&self, id: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.content_dir().join(hex_of(id)))
    }

    /// `docker history`: newest first, as the Engine API's HistoryResponseItem.
    pub fn history(&self, name: &str) -> Option<Vec<Value>> {
        let image = self.get(name)?;
        let entries = image.config.get("history").and_then(|h| h.as_array()).cloned().unwrap_or_default();
        let mut layer_sizes = image.layers.iter().map(|c| self.layer_size(c).unwrap_or(0));
        let mut out: Vec<Value> = Vec::new();
        for h in &entries {
            let empty = h.get("empty_layer").and_then(|e| e.as_bool()).unwrap_or(false);
            let size = if empty { 0 } else { layer_sizes.next().unwrap_or(0) };
            out.push(json!({
                "Id": "<missing>",
                "Created": crate::sys::parse_rfc3339(h.get("created").and_then(|c| c.as_str()).unwrap_or(""))
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_secs()).unwrap_or(0),
                "CreatedBy": h.get("created_by").and_then(|c| c.as_str()).unwrap_or(""),
                "Tags": null,
                "Size": size,
                "Comment": h.get("comment").and_then(|c| c.as_str()).unwrap_or(""),
            }));
        }
        if out.is_empty() {
            out.push(json!({"Id": "<missing>", "Created": 0, "CreatedBy": "", "Tags": null, "Size": image.size, "Comment": ""}));
        }
        out.reverse();
        // The newest entries name the image and the images it was made from, as far as the
        // recorded parents go; the rest are `<missing>`.
        let mut current = Some(image);
        for entry in out.iter_mut() {
            let Some(img) = current.take() else { break };
            entry["Id"] = json!(img.id);
            entry["Tags"] = if img.repo_tags.is_empty() { Value::Null } else { json!(img.repo_tags) };
            current = self.parent_of(&img.id).and_then(|p| self.get(&p));
        }
        Some(out)
    }

    /// `docker save`: writes a tar holding the images both as Docker's legacy layout
    /// (manifest.json, repositories, `<id>/layer.tar` links) and as an OCI image layout
    /// (oci-layout, index.json, blobs/sha256), as Docker 25 and later do.
    pub fn save(&self, names: &[String], out: &mut dyn Write) -> io::Result<()> {
        let mut images = Vec::new();
        let mut hold = self.hold();
        for n in names {
            let image = self.get(n).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("No such image: {n}")))?;
            hold.add(&image.layers, &[]);
            let tag = Reference::parse_normalized(n).ok().filter(|r| r.digest.is_none() && !n.starts_with("sha256:") && !image.id.contains(n.as_str())).map(|r| r.with_default_tag());
            images.push((image, tag));
        }
        let mut builder = tar::Builder::new(out);
        let mut written: HashSet<String> = HashSet::new();
        let add_blob = |b: &mut tar::Builder<&mut dyn Write>, written: &mut HashSet<String>, hex: &str, data: &mut dyn Read, size: u64| -> io::Result<()> {
            if written.insert(hex.to_string()) {
                let mut h = file_header(size);
                b.append_data(&mut h, format!("blobs/sha256/{hex}"), data)?;
            }
            Ok(())
        };
        for dir in ["blobs", "blobs/sha256"] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            builder.append_data(&mut h, dir, io::empty())?;
        }
        let mut manifest_json = Vec::new();
        let mut index_manifests = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (image, tag) in &images {
            let config = self.config_bytes(&image.id)?;
            let config_hex = hex_of(&image.id).to_string();
            add_blob(&mut builder, &mut written, &config_hex, &mut &config[..], config.len() as u64)?;
            let diffs = diff_ids(&image.config)?;
            let mut layer_paths = Vec::new();
            let mut oci_layers = Vec::new();
            for (diff, chain) in diffs.iter().zip(&image.layers) {
                let hex = hex_of(diff).to_string();
                let (path, size) = self.layer_tar_file(chain, diff)?;
                let r = add_blob(&mut builder, &mut written, &hex, &mut File::open(&path)?, size);
                let _ = std::fs::remove_file(&path);
                r?;
                layer_paths.push(format!("blobs/sha256/{hex}"));
                oci_layers.push(json!({"mediaType": MEDIA_OCI_LAYER_TAR, "digest": diff, "size": size}));
            }
            let manifest = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": MEDIA_OCI_MANIFEST,
                "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": image.id, "size": config.len()},
                "layers": oci_layers,
            }))?;
            let manifest_hex = format!("{:x}", Sha256::digest(&manifest));
            add_blob(&mut builder, &mut written, &manifest_hex, &mut &manifest[..], manifest.len() as u64)?;
            let tags: Vec<String> = tag.iter().map(|t| t.familiar_string()).collect();
            let mut entry = json!({"mediaType": MEDIA_OCI_MANIFEST, "digest": format!("sha256:{manifest_hex}"), "size": manifest.len()});
            if let Some(t) = tag {
                entry["annotations"] = json!({
                    "io.containerd.image.name": format!("{}:{}", t.repository(), t.tag.as_deref().unwrap_or("latest")),
                    "org.opencontainers.image.ref.name": t.tag.as_deref().unwrap_or("latest"),
                });
                repositories.entry(t.familiar_name()).or_default().insert(t.tag.clone().unwrap_or_default(), config_hex.clone());
            }
            index_manifests.push(entry);
            manifest_json.push(json!({"Config": format!("blobs/sha256/{config_hex}"), "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags) }, "Layers": layer_paths}));
        }
        let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": index_manifests}))?;
        let small = |b: &mut tar::Builder<&mut dyn Write>, name: &str, data: &[u8]| -> io::Result<()> { b.append_data(&mut file_header(data.len() as u64), name, data) };
        small(&mut builder, "index.json", &index)?;
        small(&mut builder, "manifest.json", &serde_json::to_vec(&manifest_json)?)?;
        small(&mut builder, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        if !repositories.is_empty() {
            small(&mut builder, "repositories", &serde_json::to_vec(&repositories)?)?;
        }
        builder.into_inner()?.flush()
    }

    /// `docker load`: reads a saved archive (legacy manifest.json or OCI index.json), verifies
    /// and registers each layer, stores the configs and tags. Returns the lines Docker prints
    /// (`Loaded image: busybox:latest` or `Loaded image ID: sha256:...`).
    pub fn load_archive(&self, input: &mut dyn Read) -> io::Result<Vec<String>> {
        let dir = self.tmp_dir().join(tmp_name("load"));
        std::fs::create_dir_all(&dir)?;
        let result = self.load_from(input, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    fn load_from(&self, input: &mut dyn Read, dir: &Path) -> io::Result<Vec<String>> {
        // Regular files that look like layers (a tar, gzip or zstd stream) are staged as they
        // are read, written once; other regular files are unpacked (as numbered files); links
        // are remembered by name. Nothing is committed before the manifest is read.
        let mut files: HashMap<String, PathBuf> = HashMap::new();
        let mut layers: HashMap<String, usize> = HashMap::new();
        let mut staged = StagedLayers::default();
        let mut links: HashMap<String, String> = HashMap::new();
        let mut archive = tar::Archive::new(input);
        for (n, entry) in archive.entries().map_err(tar_error)?.enumerate() {
            let mut entry = entry.map_err(tar_error)?;
            let parts = crate::archive::clean_components(&entry.path_bytes())?;
            let name = parts.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect::<Vec<_>>().join("/");
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let mut head = Vec::with_capacity(512);
                    (&mut entry).take(512).read_to_end(&mut head).map_err(tar_error)?;
                    if looks_like_layer(&head) {
                        let remaining = entry.size().saturating_sub(head.len() as u64);
                        let mut whole = (&head[..]).chain(CutShort { inner: &mut entry, remaining, cut: false });
                        let boxed: Box<dyn Read + '_> = Box::new(&mut whole);
                        let result = super::layer_stream::decompressed(BufReader::with_capacity(64 << 10, boxed))
                            .map_err(|error| super::layer_stream::StageFailure { error, diff_id: None })
                            .and_then(|mut plain| self.stage_layer_hashed(&mut plain, "load"));
                        // An archive cut short is the archive's fault, whatever was in it.
                        if whole.get_ref().1.cut {
                            if let Ok(s) = result {
                                s.discard();
                            }
                            return Err(bad("unexpected EOF"));
                        }
                        layers.insert(name, staged.0.len());
                        staged.0.push(Some(result));
                    } else {
                        let p = dir.join(n.to_string());
                        let mut f = File::create(&p)?;
                        f.write_all(&head)?;
                        copy_entry(&mut entry, &mut f)?;
                        files.insert(name, p);
                    }
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry.link_name_bytes().map(|b| b.into_owned()).unwrap_or_default();
                    let base = if entry.header().entry_type() == tar::EntryType::Symlink { name.rsplit_once('/').map(|(d, _)| format!("{d}/")).unwrap_or_default() } else { String::new() };
                    let joined = if target.starts_with(b"/") { target } else { [base.as_bytes(), &target].concat() };
                    let clean = crate::archive::clean_components(&joined)?;
                    links.insert(name, clean.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect::<Vec<_>>().join("/"));
                }
                _ => {}
            }
        }
        let lookup_any = |name: &str| -> io::Result<Found> {
            let mut n = name.trim_start_matches("./").to_string();
            for _ in 0..16 {
                if let Some(p) = files.get(&n) {
                    return Ok(Found::File(p.clone()));
                }
                if let Some(i) = layers.get(&n) {
                    return Ok(Found::Layer(*i));
                }
                // Docker's words for a file the manifest names and the archive lacks.
                n = links.get(&n).cloned().ok_or_else(|| bad(format!("invalid archive: open {name}: no such file or directory")))?;
            }
            Err(bad(format!("invalid archive: too many levels of links for {name}")))
        };
        let lookup = |name: &str| -> io::Result<PathBuf> {
            match lookup_any(name)? {
                Found::File(p) => Ok(p),
                Found::Layer(_) => Err(bad(format!("invalid archive: {name} is a layer, not JSON"))),
            }
        };
        // (config path, tags, layer paths)
        let mut wanted: Vec<(PathBuf, Vec<String>, Vec<Found>)> = Vec::new();
        let names = |v: &Value, key: &str| -> io::Result<String> { v[key].as_str().map(str::to_string).ok_or_else(|| bad(format!("invalid archive: manifest.json: {key} is not a string"))) };
        if let Ok(m) = lookup("manifest.json") {
            let v: Value = serde_json::from_slice(&std::fs::read(m)?).map_err(|e| bad(format!("invalid archive: failed to decode manifest.json: {e}")))?;
            let entries = match v {
                Value::Null => return Err(bad("invalid manifest, manifest cannot be null (but can be [])")),
                Value::Array(a) => a,
                _ => return Err(bad("invalid archive: failed to decode manifest.json: not a list of images")),
            };
            for e in entries {
                let tags = e["RepoTags"].as_array().map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect()).unwrap_or_default();
                let layers = e["Layers"].as_array().cloned().unwrap_or_default().iter().map(|l| lookup_any(l.as_str().unwrap_or(""))).collect::<io::Result<_>>()?;
                wanted.push((lookup(&names(&e, "Config")?)?, tags, layers));
            }
        } else if let Ok(i) = lookup("index.json") {
            let blob_any = |d: &str| lookup_any(&format!("blobs/{}", d.replacen(':', "/", 1)));
            let blob = |d: &str| lookup(&format!("blobs/{}", d.replacen(':', "/", 1)));
            let v: Value = serde_json::from_slice(&std::fs::read(i)?).map_err(|e| bad(format!("invalid archive: failed to decode index.json: {e}")))?;
            for e in v["manifests"].as_array().cloned().unwrap_or_default() {
                let m: Value = serde_json::from_slice(&std::fs::read(blob(e["digest"].as_str().unwrap_or(""))?)?).map_err(|e| bad(format!("invalid archive: failed to decode image manifest: {e}")))?;
                let name = e["annotations"]["io.containerd.image.name"].as_str().map(str::to_string);
                let layers = m["layers"].as_array().cloned().unwrap_or_default().iter().map(|l| blob_any(l["digest"].as_str().unwrap_or(""))).collect::<io::Result<_>>()?;
                wanted.push((blob(m["config"]["digest"].as_str().unwrap_or(""))?, name.into_iter().collect(), layers));
            }
        } else {
            return Err(bad("invalid archive: does not contain a manifest.json"));
        }
        // Everything is checked before anything is stored: a bad archive leaves no trace.
        let mut images = Vec::new();
        for (config_path, tags, layers) in wanted {
            let config_bytes = std::fs::read(&config_path)?;
            let config: Value = serde_json::from_slice(&config_bytes).map_err(|e| bad(format!("invalid image config: {e}")))?;
            let diffs = diff_ids(&config)?;
            if diffs.len() != layers.len() {
                return Err(bad(format!("invalid manifest, layers length mismatch: expected {}, got {}", layers.len(), diffs.len())));
            }
            let references = tags.iter().map(|t| Reference::parse_normalized(t).map(Reference::with_default_tag).map_err(|e| bad(e.to_string()))).collect::<io::Result<Vec<_>>>()?;
            images.push((config_bytes, diffs, layers, references));
        }
        // Held from before the first layer is committed until the images hold them.
        let mut hold = self.hold();
        let mut new_layers = Vec::new();
        let registered = (|| {
            for (_, diffs, layers, _) in &images {
                let chains = chain_ids(diffs);
                hold.add(&chains, &[]);
                new_layers.extend(chains.into_iter().filter(|c| !self.layer_exists(c)));
                let mut parent: Option<String> = None;
                for (i, (diff, found)) in diffs.iter().zip(layers).enumerate() {
                    let (_, chain) = self.register_found(found, &mut staged, parent.as_deref(), diff, &mut hold).map_err(|e| {
                        let text = e.to_string();
                        match text.strip_prefix("invalid diffID for layer:") {
                            Some(rest) => bad(format!("invalid diffID for layer {i}:{rest}")),
                            None => e,
                        }
                    })?;
                    parent = Some(chain);
                }
            }
            Ok::<(), io::Error>(())
        })();
        if let Err(e) = registered {
            drop(hold);
            // The layers this load committed, unless something else took them up meanwhile.
            let holds = self.lock();
            let _ = self.free_layers(&holds, &new_layers);
            return Err(e);
        }
        let mut printed = Vec::new();
        let _guard = self.lock();
        for (config_bytes, _, _, references) in images {
            let id = self.store_config_locked(&config_bytes)?;
            if references.is_empty() {
                printed.push(format!("Loaded image ID: {id}"));
            }
            for r in references {
                if let Some(old) = self.set_tag(&r, &id)? {
                    printed.push(format!("The image {} already exists, renaming the old one with ID {old} to empty string", r.familiar_string()));
                }
                printed.push(format!("Loaded image: {}", r.familiar_string()));
            }
        }
        Ok(printed)
    }

    /// Registers a layer of an archive being loaded: staged as it was read, or (a file that
    /// did not look like a layer) read from its file now.
    fn register_found(&self, found: &Found, staged: &mut StagedLayers, parent: Option<&str>, diff: &str, hold: &mut super::refcount::Hold<'_>) -> io::Result<(String, String)> {
        let i = match found {
            Found::File(p) => return self.register_layer(&mut File::open(p)?, parent, Some(diff), hold),
            Found::Layer(i) => *i,
        };
        match staged.0[i].take() {
            Some(Ok(s)) => {
                let r = self.register_staged(s, parent, Some(diff), hold);
                if let Ok((d, _)) = &r {
                    staged.1.insert(i, d.clone());
                }
                r
            }
            Some(Err(f)) => match &f.diff_id {
                Some(got) if got != diff => Err(bad(format!("invalid diffID for layer: expected {diff:?}, got {got:?}"))),
                _ => Err(tar_error(f.error)),
            },
            // The same layer again (two images of the archive share it): already committed.
            None => {
                let got = staged.1.get(&i).cloned().unwrap_or_default();
                if got != diff {
                    return Err(bad(format!("invalid diffID for layer: expected {diff:?}, got {got:?}")));
                }
                let chain = match parent {
                    None => got.clone(),
                    Some(p) => chain_ids(&[p.to_string(), got.clone()])[1].clone(),
                };
                hold.add(std::slice::from_ref(&chain), &[]);
                if !self.layer_exists(&chain) {
                    return Err(bad(format!("invalid archive: layer {got} is used on two different parents")));
                }
                Ok((got, chain))
            }
        }
    }

    /// `docker import`: one layer from a tar of a root filesystem, with a fresh config that
    /// `changes` (already parsed Dockerfile instructions, as config keys) amend.
    pub fn import(&self, input: &mut dyn Read, reference: Option<&Reference>, changes: &serde_json::Map<String, Value>, message: &str) -> io::Result<String> {
        let result = (|| {
            let mut hold = self.hold();
            let (diff_id, _) = self.register_layer(input, None, None, &mut hold)?;
            let now = crate::sys::rfc3339_nanos(std::time::SystemTime::now());
            let mut cfg = serde_json::Map::new();
            for (k, v) in changes {
                cfg.insert(k.clone(), v.clone());
            }
            let config = json!({
                "architecture": crate::registry::host_platform().0,
                "os": "linux",
                "created": now,
                "comment": if message.is_empty() { "Imported from -" } else { message },
                "config": cfg,
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                "history": [{"created": now, "created_by": "", "comment": if message.is_empty() { "Imported from -" } else { message }}],
            });
            let _guard = self.lock();
            let id = self.store_config_locked(&serde_json::to_vec(&config)?)?;
            if let Some(r) = reference {
                self.set_tag(r, &id)?;
            }
            Ok(id)
        })();
        result
    }
}

/// A file of a loaded archive: unpacked to a file, or staged as a layer.
enum Found {
    File(PathBuf),
    Layer(usize),
}

/// The layers of an archive being loaded, staged as read (taken when committed; the rest are
/// discarded), and the diff id of each committed.
#[derive(Default)]
struct StagedLayers(Vec<Option<Result<super::layer_stream::Staged, super::layer_stream::StageFailure>>>, HashMap<usize, String>);

impl Drop for StagedLayers {
    fn drop(&mut self) {
        for s in self.0.drain(..).flatten().flatten() {
            s.discard();
        }
    }
}

/// Whether a file of an archive starts as a layer does: gzip, zstd, a POSIX/GNU tar header,
/// or the zero blocks of an empty tar.
fn looks_like_layer(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) || (head.len() >= 262 && &head[257..262] == b"ustar") || (head.len() == 512 && head.iter().all(|b| *b == 0))
}

/// A tar entry's data that notices when the archive ends inside it (the entry then reads as
/// short, not as an error).
struct CutShort<R> {
    inner: R,
    remaining: u64,
    cut: bool,
}

impl<R: Read> Read for CutShort<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).map_err(tar_error)?;
        if n == 0 && !buf.is_empty() && self.remaining > 0 {
            self.cut = true;
            return Err(bad("unexpected EOF"));
        }
        self.remaining = self.remaining.saturating_sub(n as u64);
        Ok(n)
    }
}

fn file_header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(tar_bytes: &[u8]) -> Vec<(String, u64)> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries().unwrap().map(|e| e.unwrap()).map(|e| (e.path().unwrap().to_string_lossy().into_owned(), e.header().entry_size().unwrap())).collect()
    }

    #[test]
    fn overlay_whiteouts_become_wh_files() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("dbx-whiteout-{}", &crate::ids::new_id()[..12]));
        std::fs::create_dir_all(dir.join("opaque/kept")).unwrap();
        std::fs::write(dir.join("file"), b"data").unwrap();
        nix::sys::stat::mknod(&dir.join("gone"), nix::sys::stat::SFlag::S_IFCHR, nix::sys::stat::Mode::empty(), 0).unwrap();
        let c = std::ffi::CString::new(dir.join("opaque").as_os_str().as_bytes()).unwrap();
        // SAFETY: NUL-terminated strings and a one-byte value, all alive for the call.
        let rc = unsafe { libc::setxattr(c.as_ptr(), c"trusted.overlay.opaque".as_ptr(), b"y".as_ptr() as *const libc::c_void, 1, 0) };
        let mut out = Vec::new();
        let r = tar_directory(&dir, &mut out, true);
        std::fs::remove_dir_all(&dir).unwrap();
        r.unwrap();
        let names: Vec<String> = entries(&out).into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&".wh.gone".to_string()), "{names:?}");
        assert!(!names.contains(&"gone".to_string()), "{names:?}");
        assert!(names.contains(&"file".to_string()), "{names:?}");
        if rc == 0 {
            assert!(names.contains(&"opaque/.wh..wh..opq".to_string()), "{names:?}");
        }
    }

}
