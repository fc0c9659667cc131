//! Pulling an image: manifest, config, then the missing layers downloaded concurrently
//! (resumable, verified while streaming), extracted in order into a temporary directory and
//! committed by rename, with Docker's messages.

use super::progress::{bytes as progress_bytes, status, with_id};
use super::{chain_ids, diff_ids, ImageStore, PullError, PullErrorKind, PullOptions};
use crate::archive::{extract_layer, Whiteouts};
use crate::reference::Reference;
use crate::registry::{Descriptor, RegistryClient, RegistryError, VerifyingReader};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
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
        RegistryError::Transport(text) | RegistryError::Other(text) => other(text),
    }
}

/// Docker's text for a config blob that cannot be had: the manifest names a blob the
/// registry lacks, or one that does not verify.
fn config_error(reference: &Reference, e: RegistryError) -> PullError {
    match e {
        RegistryError::NotFound(text) => other(format!("error pulling image configuration: {text}")),
        RegistryError::Unauthorized(_) | RegistryError::NameUnknown(_) => manifest_error(reference, e),
        RegistryError::Transport(text) | RegistryError::Other(text) => other(format!("error pulling image configuration: {text}")),
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

/// What the download threads tell the pulling thread.
enum Event {
    Progress(Value),
    Downloaded(usize, Result<PathBuf, PullError>),
}

/// Docker's default `--max-concurrent-downloads`.
const DEFAULT_CONCURRENT_DOWNLOADS: usize = 3;
/// How many times a dropped download is resumed before the pull fails.
const MAX_RESUMES: u32 = 5;

/// The client for the registry that serves `reference`: the first mirror that has the
/// manifest for a Docker Hub image, else the registry itself.
fn connect(reference: &Reference, tag_or_digest: &str, opts: &PullOptions) -> Result<(RegistryClient, crate::registry::Manifest), PullError> {
    if reference.domain == crate::reference::DEFAULT_DOMAIN {
        for mirror in &opts.registry_mirrors {
            let Ok(mut client) = RegistryClient::for_mirror(mirror, reference.remote_name(), &opts.insecure_registries, opts.auth.as_deref()) else { continue };
            if client.ping().is_err() {
                continue;
            }
            if let Ok(m) = client.manifest_for(tag_or_digest, opts.platform.as_ref()) {
                return Ok((client, m));
            }
        }
    }
    let mut client = RegistryClient::new(&reference.domain, reference.remote_name(), &opts.insecure_registries, opts.auth.as_deref()).map_err(|e| manifest_error(reference, e))?;
    client.ping().map_err(|e| manifest_error(reference, e))?;
    let manifest = client.manifest_for(tag_or_digest, opts.platform.as_ref()).map_err(|e| manifest_error(reference, e))?;
    Ok((client, manifest))
}

pub(super) fn pull(store: &ImageStore, reference: &Reference, opts: &PullOptions, progress: &mut dyn FnMut(&Value)) -> Result<super::Image, PullError> {
    let reference = reference.clone().with_default_tag();
    let (image, changed) = pull_tag(store, &reference, opts, progress)?;
    progress(&status(&status_line(changed, &reference.familiar_string())));
    Ok(image)
}

fn status_line(changed: bool, name: &str) -> String {
    format!("Status: {} {name}", if changed { "Downloaded newer image for" } else { "Image is up to date for" })
}

/// `docker pull --all-tags`: every tag the registry lists for the repository, one after the
/// other (the first failure ends it, as Docker's), then one status for the repository.
pub(super) fn pull_all_tags(store: &ImageStore, repository: &Reference, opts: &PullOptions, progress: &mut dyn FnMut(&Value)) -> Result<Vec<super::Image>, PullError> {
    let name_only = Reference { tag: None, digest: None, ..repository.clone() };
    let mut client = RegistryClient::new(&name_only.domain, name_only.remote_name(), &opts.insecure_registries, opts.auth.as_deref()).map_err(|e| manifest_error(&name_only, e))?;
    client.ping().map_err(|e| manifest_error(&name_only, e))?;
    let tags = client.tags().map_err(|e| manifest_error(&name_only, e))?;
    let mut changed = false;
    let mut images = Vec::new();
    for tag in tags {
        let tagged = Reference { tag: Some(tag), ..name_only.clone() };
        let (image, c) = pull_tag(store, &tagged, opts, progress)?;
        changed |= c;
        images.push(image);
    }
    progress(&status(&status_line(changed, &name_only.familiar_name())));
    Ok(images)
}

/// Pulls one tag or digest; returns the image and whether the reference now points to
/// something new. Every status but the closing one is reported.
fn pull_tag(store: &ImageStore, reference: &Reference, opts: &PullOptions, progress: &mut dyn FnMut(&Value)) -> Result<(super::Image, bool), PullError> {
    let reference = reference.clone();
    let tag_or_digest = reference.digest.clone().or_else(|| reference.tag.clone()).unwrap_or_default();
    // As Docker, nothing is streamed before the manifest is in hand: a registry that cannot
    // be reached or refuses us is an error status of the request, not a line of progress.
    let pulling_from = serde_json::json!({ "status": format!("Pulling from {}", reference.remote_name()), "id": tag_or_digest });
    let (client, manifest) = match connect(&reference, &tag_or_digest, opts) {
        Ok(found) => found,
        // Docker has the index in hand, and has said "Pulling from", when it finds no entry
        // for the platform: the error is a line of the stream.
        Err(e) if e.message.starts_with("no matching manifest for ") => {
            progress(&pulling_from);
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    progress(&pulling_from);
    let config_bytes = client.blob_bytes(&manifest.config.digest, MAX_CONFIG_BYTES).map_err(|e| config_error(&reference, e))?;
    let config: Value = serde_json::from_slice(&config_bytes).map_err(|e| other(format!("error pulling image configuration: invalid image config: {e}")))?;
    let diffs = diff_ids(&config)?;
    if diffs.len() != manifest.layers.len() {
        return Err(other(format!("image config has {} diff ids but the manifest lists {} layers", diffs.len(), manifest.layers.len())));
    }
    let chains = chain_ids(&diffs);
    let image_hex = manifest.config.digest.strip_prefix("sha256:").unwrap_or(&manifest.config.digest).to_string();

    // Held before looking: a layer present now cannot be deleted (by a concurrent rmi or
    // prune) before the image that needs it is committed, nor a blob before it is extracted.
    let mut hold = store.hold();
    hold.add(&chains, &manifest.layers.iter().map(|l| l.digest.clone()).collect::<Vec<_>>());
    let present: Vec<bool> = chains.iter().map(|c| store.layer_exists(c)).collect();
    let missing: Vec<usize> = (0..chains.len()).filter(|i| !present[*i]).collect();
    let concurrency = if opts.max_concurrent_downloads == 0 { DEFAULT_CONCURRENT_DOWNLOADS } else { opts.max_concurrent_downloads };
    for (layer, have) in manifest.layers.iter().zip(&present) {
        progress(&with_id(if *have { "Already exists" } else { "Pulling fs layer" }, &short_id(&layer.digest)));
    }
    for i in missing.iter().skip(concurrency) {
        progress(&with_id("Waiting", &short_id(&manifest.layers[*i].digest)));
    }

    // Downloads run on `concurrency` threads in manifest order; layers are extracted here, in
    // order, as soon as each one and all below it are downloaded.
    let queue = Mutex::new(missing.iter().copied().collect::<VecDeque<usize>>());
    let cancel = AtomicBool::new(false);
    let mut failure: Option<PullError> = None;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Event>();
        for _ in 0..concurrency.min(missing.len()) {
            let (tx, queue, cancel, client, layers) = (tx.clone(), &queue, &cancel, &client, &manifest.layers);
            scope.spawn(move || loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                let Some(i) = next else { break };
                if cancel.load(Ordering::Relaxed) {
                    break;
                }
                let result = download_blob(store, client, &layers[i], &tx, cancel);
                let _ = tx.send(Event::Downloaded(i, result));
            });
        }
        drop(tx);
        let mut ready: HashMap<usize, PathBuf> = HashMap::new();
        let mut pending = missing.iter().copied().peekable();
        for event in rx {
            match event {
                Event::Progress(v) => progress(&v),
                Event::Downloaded(i, Ok(blob)) => {
                    ready.insert(i, blob);
                }
                Event::Downloaded(_, Err(e)) => {
                    cancel.store(true, Ordering::Relaxed);
                    failure.get_or_insert(e);
                }
            }
            while failure.is_none() {
                let Some(&i) = pending.peek() else { break };
                let Some(blob) = ready.remove(&i) else { break };
                pending.next();
                let parent = if i == 0 { None } else { Some(chains[i - 1].as_str()) };
                if let Err(e) = extract_blob(store, &blob, &manifest.layers[i], &diffs[i], &chains[i], parent, progress) {
                    cancel.store(true, Ordering::Relaxed);
                    failure = Some(e);
                }
            }
        }
    });
    if let Some(e) = failure {
        // As Docker's layer store releases them, the layers this pull committed go again
        // unless something else took them up; the downloads stay, for a retry to resume.
        drop(hold);
        let committed: Vec<String> = missing.iter().map(|i| chains[*i].clone()).collect();
        let holds = store.lock();
        let _ = store.free_layers(&holds, &committed);
        return Err(e);
    }

    let changed = {
        // Config and reference together, so a concurrent rmi sees both or neither.
        let _guard = store.lock();
        store.write_config_locked(&image_hex, &config_bytes)?;
        store.set_reference(&reference, &manifest.digest, &format!("sha256:{image_hex}"))?
    };
    // The image is committed: its downloads are no longer needed to resume anything.
    hold.delete_unshared_blobs();
    // Which blob each layer is in this repository, so a push finds or mounts it there.
    for (layer, diff_id) in manifest.layers.iter().zip(&diffs) {
        let source = super::BlobSource { digest: layer.digest.clone(), repository: reference.repository(), size: layer.size, media_type: layer.media_type.clone() };
        store.add_blob_source(diff_id, source)?;
    }
    progress(&status(&format!("Digest: {}", manifest.digest)));
    let image = store.load(&image_hex).ok_or_else(|| other(format!("image {image_hex} vanished after the pull")))?;
    Ok((image, changed))
}

/// Downloads a layer blob to `blobs/sha256/<hex>`, verified, and returns its path. A verified
/// blob already there is used as is; a partial one (from a dropped connection or a killed
/// daemon) is re-hashed and continued with a `Range` request. An flock on the partial file
/// keeps two pulls of the same layer from writing it at once.
fn download_blob(store: &ImageStore, client: &RegistryClient, layer: &Descriptor, tx: &mpsc::Sender<Event>, cancel: &AtomicBool) -> Result<PathBuf, PullError> {
    let id = short_id(&layer.digest);
    let total = layer.size;
    let hex = layer.digest.strip_prefix("sha256:").unwrap_or(&layer.digest).to_string();
    let blob = store.blob_path(&layer.digest);
    let done = |tx: &mpsc::Sender<Event>| {
        let _ = tx.send(Event::Progress(with_id("Verifying Checksum", &id)));
        let _ = tx.send(Event::Progress(with_id("Download complete", &id)));
    };
    if blob.exists() {
        done(tx);
        return Ok(blob);
    }
    let partial_path = store.blobs_dir().join("partial").join(&hex);
    let layer_error = |e: &dyn std::fmt::Display| other(format!("error pulling layer {}: {e}", layer.digest));
    let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&partial_path)?;
    let mut file = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| io::Error::from(e))?;
    if blob.exists() {
        done(tx);
        return Ok(blob);
    }
    let result = (|| -> Result<(), PullError> {
        let mut hasher = Sha256::new();
        let mut have = io::copy(&mut *file, &mut HashWriter(&mut hasher))?;
        if total > 0 && have > total {
            file.set_len(0)?;
            hasher = Sha256::new();
            have = 0;
        }
        let mut resumes = 0;
        let mut buf = vec![0u8; 64 * 1024];
        let mut last = Instant::now() - PROGRESS_INTERVAL;
        'request: while total == 0 || have < total {
            let (mut body, start) = match client.blob_from(&layer.digest, have) {
                Ok(b) => b,
                Err(RegistryError::Transport(e) | RegistryError::Other(e)) if resumes < MAX_RESUMES => {
                    resumes += 1;
                    let _ = tx.send(Event::Progress(with_id(&format!("Retrying in {resumes} second{}", if resumes > 1 { "s" } else { "" }), &id)));
                    std::thread::sleep(Duration::from_millis(200 * resumes as u64));
                    let _ = e;
                    continue;
                }
                Err(e) => return Err(layer_error(&e)),
            };
            if start != have {
                file.set_len(0)?;
                hasher = Sha256::new();
                have = 0;
            }
            file.seek(SeekFrom::Start(have))?;
            loop {
                if cancel.load(Ordering::Relaxed) {
                    return Err(other("pull cancelled".into()));
                }
                let n = match body.read(&mut buf) {
                    Ok(0) if total != 0 && have < total => {
                        // A body cut short without an error is a dropped connection too.
                        if resumes >= MAX_RESUMES {
                            return Err(layer_error(&"unexpected EOF"));
                        }
                        resumes += 1;
                        continue 'request;
                    }
                    Ok(0) => break 'request,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if resumes < MAX_RESUMES => {
                        resumes += 1;
                        let _ = e;
                        continue 'request;
                    }
                    Err(e) => return Err(layer_error(&e)),
                };
                file.write_all(&buf[..n]).map_err(|e| other(format!("write {}: {}", partial_path.display(), crate::sys::go_error_text(&e))))?;
                hasher.update(&buf[..n]);
                have += n as u64;
                if last.elapsed() >= PROGRESS_INTERVAL || have == total {
                    last = Instant::now();
                    let _ = tx.send(Event::Progress(progress_bytes("Downloading", &id, have, total)));
                }
            }
        }
        crate::durable::fsync(&file)?;
        let _ = tx.send(Event::Progress(with_id("Verifying Checksum", &id)));
        let got = format!("sha256:{:x}", hasher.finalize());
        if got != layer.digest {
            return Err(other(format!("filesystem layer verification failed for digest {}", layer.digest)));
        }
        crate::durable::step_at("rename", &blob);
        std::fs::rename(&partial_path, &blob)?;
        let _ = crate::durable::fsync_dir(&store.blobs_dir().join("sha256"));
        Ok(())
    })();
    match result {
        Ok(()) => {
            let _ = tx.send(Event::Progress(with_id("Download complete", &id)));
            Ok(blob)
        }
        Err(e) => {
            // A bad or unwritable download is dropped; a cancelled or cut one is kept to resume.
            let keep = e.message.starts_with("error pulling layer") || e.message == "pull cancelled";
            if !keep {
                let _ = std::fs::remove_file(&partial_path);
            }
            Err(e)
        }
    }
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The layer's tar stream, whatever its compression: gzip, zstd, or none (by magic number).
fn decompressed<'a>(head: io::BufReader<Box<dyn Read + 'a>>) -> io::Result<Box<dyn Read + 'a>> {
    let mut head = head;
    let magic = io::BufRead::fill_buf(&mut head)?;
    if magic.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(head)))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let z = ruzstd::decoding::StreamingDecoder::new(head).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}")))?;
        Ok(Box::new(z))
    } else {
        Ok(Box::new(head))
    }
}

/// Extracts a verified blob into `tmp/`, checks it against its diff id, and commits it.
fn extract_blob(store: &ImageStore, blob: &Path, layer: &Descriptor, diff_id: &str, chain_id: &str, parent: Option<&str>, progress: &mut dyn FnMut(&Value)) -> Result<(), PullError> {
    let id = short_id(&layer.digest);
    let total = layer.size;
    let work = store.tmp_dir().join(format!("layer-{}-{}", id, random_suffix()));
    std::fs::create_dir_all(work.join("diff"))?;
    let extracted = (|| {
        let mut report = |n: u64| progress(&progress_bytes("Extracting", &id, n.min(total), total));
        let counting: Box<dyn Read + '_> =
            Box::new(Counting { inner: std::fs::File::open(blob)?, count: 0, last: Instant::now() - PROGRESS_INTERVAL, report: &mut report });
        // Hash the uncompressed stream while extracting: the config's diff id vouches for
        // the content, not just the registry's blob digest.
        let plain = decompressed(io::BufReader::new(counting))?;
        let mut hashed = VerifyingReader::new(plain, diff_id);
        let size = extract_layer(&mut hashed, &work.join("diff"), Whiteouts::Overlay).map_err(|e| other(format!("failed to register layer: {}", crate::sys::go_error_text(&e))))?;
        io::copy(&mut hashed, &mut io::sink())?;
        hashed.verify().map_err(|_| other(format!("failed to register layer: layer content does not match diff id {diff_id}")))?;
        Ok::<u64, PullError>(size)
    })();
    let committed = extracted.and_then(|size| {
        progress(&progress_bytes("Extracting", &id, total, total));
        store.commit_extracted(&work, chain_id, diff_id, parent, size).map_err(|e| other(format!("failed to register layer: {}", crate::sys::go_error_text(&e))))
    });
    if committed.is_err() {
        let _ = std::fs::remove_dir_all(&work);
    }
    committed?;
    // Lets save and push reproduce the layer byte for byte.
    let _ = store.record_tar_split_from_blob(chain_id, blob);
    progress(&with_id("Pull complete", &id));
    Ok(())
}
