//! Pulling an image: manifest, config, then each missing layer downloaded, verified,
//! extracted into a temporary directory and committed by rename, with Docker's messages.

use super::progress::{bytes as progress_bytes, status, with_id};
use super::{chain_ids, diff_ids, ImageStore, PullError, PullErrorKind, PullOptions};
use crate::archive::{extract_layer, Whiteouts};
use crate::reference::Reference;
use crate::registry::{Descriptor, RegistryClient, RegistryError, VerifyingReader};
use serde_json::Value;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MAX_CONFIG_BYTES: u64 = 32 << 20;
/// How often byte counts are reported while downloading or extracting.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

fn other(message: String) -> PullError {
    PullError { kind: PullErrorKind::Other, message }
}

/// Docker's text for a failed manifest fetch.
fn manifest_error(reference: &Reference, e: RegistryError) -> PullError {
    match e {
        RegistryError::NotFound(text) => PullError { kind: PullErrorKind::NotFound, message: format!("manifest for {} not found: {text}", reference.familiar_string()) },
        RegistryError::NameUnknown(text) => PullError {
            kind: PullErrorKind::NotFound,
            message: format!("pull access denied for {}, repository does not exist or may require 'docker login': {text}", reference.familiar_name()),
        },
        RegistryError::Unauthorized(text) => PullError {
            kind: PullErrorKind::Unauthorized,
            message: format!("pull access denied for {}, repository does not exist or may require 'docker login': {text}", reference.familiar_name()),
        },
        RegistryError::Other(text) => other(text),
    }
}

fn short_id(digest: &str) -> String {
    let hex = digest.split_once(':').map(|(_, h)| h).unwrap_or(digest);
    hex[..hex.len().min(12)].to_string()
}

/// Random names for temporary files and short layer links.
fn random_suffix() -> String {
    crate::ids::new_id()[..16].to_string()
}

/// Docker's 26-character overlay2 short link name (base32 alphabet).
fn short_link_name() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let id = crate::ids::new_id();
    let raw: Vec<u8> = (0..26).map(|i| u8::from_str_radix(&id[i * 2..i * 2 + 2], 16).unwrap_or(0)).collect();
    raw.iter().map(|b| ALPHABET[(*b as usize) % 32] as char).collect()
}

/// Counts bytes read and reports them through a throttled callback.
struct Counting<'a, R> {
    inner: R,
    count: u64,
    last: Instant,
    report: &'a mut dyn FnMut(u64),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if n > 0 && self.last.elapsed() >= PROGRESS_INTERVAL {
            self.last = Instant::now();
            (self.report)(self.count);
        }
        Ok(n)
    }
}

pub(super) fn pull(store: &ImageStore, reference: &Reference, opts: &PullOptions, progress: &mut dyn FnMut(&Value)) -> Result<super::Image, PullError> {
    let reference = reference.clone().with_default_tag();
    let tag_or_digest = reference.digest.clone().or_else(|| reference.tag.clone()).unwrap_or_default();
    progress(&serde_json::json!({ "status": format!("Pulling from {}", reference.remote_name()), "id": tag_or_digest }));

    let client = RegistryClient::new(&reference.domain, reference.remote_name(), &opts.insecure_registries, opts.auth.as_deref());
    client.ping().map_err(|e| manifest_error(&reference, e))?;
    let manifest = client.manifest(&tag_or_digest).map_err(|e| manifest_error(&reference, e))?;
    let config_bytes = client.blob_bytes(&manifest.config.digest, MAX_CONFIG_BYTES).map_err(|e| manifest_error(&reference, e))?;
    let config: Value = serde_json::from_slice(&config_bytes).map_err(|e| other(format!("invalid image config: {e}")))?;
    let diffs = diff_ids(&config)?;
    if diffs.len() != manifest.layers.len() {
        return Err(other(format!("image config has {} diff ids but the manifest lists {} layers", diffs.len(), manifest.layers.len())));
    }
    let chains = chain_ids(&diffs);
    let image_hex = manifest.config.digest.strip_prefix("sha256:").unwrap_or(&manifest.config.digest).to_string();

    let present: Vec<bool> = chains.iter().map(|c| store.layer_exists(c)).collect();
    for (layer, have) in manifest.layers.iter().zip(&present) {
        progress(&with_id(if *have { "Already exists" } else { "Pulling fs layer" }, &short_id(&layer.digest)));
    }
    let mut first_missing = true;
    for (layer, have) in manifest.layers.iter().zip(&present) {
        if !*have {
            if !first_missing {
                progress(&with_id("Waiting", &short_id(&layer.digest)));
            }
            first_missing = false;
        }
    }
    for (i, layer) in manifest.layers.iter().enumerate() {
        if present[i] {
            continue;
        }
        let parent = if i == 0 { None } else { Some(chains[i - 1].as_str()) };
        pull_layer(store, &client, layer, &diffs[i], &chains[i], parent, progress)?;
    }

    let config_path = store.content_dir().join(&image_hex);
    {
        // write_atomic's temporary name is per process, so threads take turns.
        let _guard = store.layer_commit.lock().unwrap_or_else(|e| e.into_inner());
        if !config_path.exists() {
            crate::sys::write_atomic(&config_path, &config_bytes)?;
        }
    }
    let changed = store.set_reference(&reference, &manifest.digest, &format!("sha256:{image_hex}"))?;
    progress(&status(&format!("Digest: {}", manifest.digest)));
    let summary = if changed { "Downloaded newer image for" } else { "Image is up to date for" };
    progress(&status(&format!("Status: {summary} {}", reference.familiar_string())));
    store.load(&image_hex).ok_or_else(|| other(format!("image {image_hex} vanished after the pull")))
}

/// Downloads one layer to `tmp/`, verifying its digest, then extracts and commits it.
fn pull_layer(
    store: &ImageStore,
    client: &RegistryClient,
    layer: &Descriptor,
    diff_id: &str,
    chain_id: &str,
    parent: Option<&str>,
    progress: &mut dyn FnMut(&Value),
) -> Result<(), PullError> {
    let id = short_id(&layer.digest);
    let total = layer.size;
    let download = store.tmp_dir().join(format!("download-{}-{}", id, random_suffix()));
    let result = (|| {
        let body = client.blob(&layer.digest).map_err(|e| other(format!("error pulling layer {}: {e}", layer.digest)))?;
        let mut verifying = VerifyingReader::new(body, &layer.digest);
        let mut file = std::fs::File::create(&download)?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut last = Instant::now() - PROGRESS_INTERVAL;
        loop {
            let n = verifying.read(&mut buf).map_err(|e| other(format!("error pulling layer {}: {e}", layer.digest)))?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n])?;
            if last.elapsed() >= PROGRESS_INTERVAL || verifying.count == total {
                last = Instant::now();
                progress(&progress_bytes("Downloading", &id, verifying.count, total));
            }
        }
        file.sync_all()?;
        progress(&with_id("Verifying Checksum", &id));
        verifying.verify()?;
        progress(&with_id("Download complete", &id));

        let work = store.tmp_dir().join(format!("layer-{}-{}", id, random_suffix()));
        std::fs::create_dir_all(work.join("diff"))?;
        let extracted = (|| {
            let mut report = |n: u64| progress(&progress_bytes("Extracting", &id, n.min(total), total));
            let counting = Counting { inner: std::fs::File::open(&download)?, count: 0, last: Instant::now() - PROGRESS_INTERVAL, report: &mut report };
            // Hash the uncompressed stream while extracting: the config's diff id vouches for
            // the content, not just the registry's blob digest.
            let mut head = io::BufReader::new(counting);
            let gz = io::BufRead::fill_buf(&mut head)?.starts_with(&[0x1f, 0x8b]);
            let plain: Box<dyn Read + '_> = if gz { Box::new(flate2::read::GzDecoder::new(head)) } else { Box::new(head) };
            let mut hashed = VerifyingReader::new(plain, diff_id);
            let size = extract_layer(&mut hashed, &work.join("diff"), Whiteouts::Overlay).map_err(|e| other(format!("failed to register layer: {e}")))?;
            io::copy(&mut hashed, &mut io::sink())?;
            hashed.verify().map_err(|_| other(format!("failed to register layer: layer content does not match diff id {diff_id}")))?;
            progress(&progress_bytes("Extracting", &id, total, total));
            commit_layer(store, &work, chain_id, diff_id, parent, size)
        })();
        if extracted.is_err() {
            let _ = std::fs::remove_dir_all(&work);
        }
        extracted
    })();
    if result.is_ok() {
        // Lets save and push reproduce the layer byte for byte.
        let _ = store.record_tar_split_from_blob(chain_id, &download);
    }
    let _ = std::fs::remove_file(&download);
    result?;
    progress(&with_id("Pull complete", &id));
    Ok(())
}

/// Makes an extracted layer visible: overlay2 directory by rename, short link, then the
/// layerdb entry by rename (the step that makes it count as present).
fn commit_layer(store: &ImageStore, work: &Path, chain_id: &str, diff_id: &str, parent: Option<&str>, size: u64) -> Result<(), PullError> {
    let _guard = store.layer_commit.lock().unwrap_or_else(|e| e.into_inner());
    if store.layer_exists(chain_id) {
        let _ = std::fs::remove_dir_all(work);
        return Ok(());
    }
    let layers = store.layers_dir();
    let link = short_link_name();
    crate::sys::write_atomic(&work.join("link"), link.as_bytes())?;
    if let Some(parent) = parent {
        let parent_cache = store.cache_id(parent).ok_or_else(|| other(format!("parent layer {parent} is missing")))?;
        let parent_link = std::fs::read_to_string(layers.join(&parent_cache).join("link"))?;
        let mut lower = format!("l/{}", parent_link.trim());
        if let Ok(parent_lower) = std::fs::read_to_string(layers.join(&parent_cache).join("lower")) {
            lower = format!("{lower}:{}", parent_lower.trim());
        }
        crate::sys::write_atomic(&work.join("lower"), lower.as_bytes())?;
        std::fs::create_dir_all(work.join("work"))?;
    }
    let cache_id = crate::ids::new_id();
    std::fs::rename(work, layers.join(&cache_id))?;
    std::os::unix::fs::symlink(format!("../{cache_id}/diff"), layers.join("l").join(&link))?;

    let set = store.meta_dir().join("layerdb/tmp").join(format!("write-set-{}", random_suffix()));
    std::fs::create_dir_all(&set)?;
    let mut files: Vec<(&str, String)> = vec![("diff", diff_id.to_string()), ("size", size.to_string()), ("cache-id", cache_id)];
    if let Some(parent) = parent {
        files.push(("parent", parent.to_string()));
    }
    for (name, value) in files {
        write_synced(&set.join(name), value.as_bytes())?;
    }
    std::fs::rename(&set, store.layer_dir(chain_id))?;
    if let Ok(d) = std::fs::File::open(store.layerdb_dir()) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn write_synced(path: &PathBuf, data: &[u8]) -> io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(data)?;
    f.sync_all()
}
