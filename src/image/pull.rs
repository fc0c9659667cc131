//! Pulling an image: manifest, config, then the missing layers downloaded concurrently
//! (resumable, verified while streaming), extracted in order into a temporary directory and
//! committed by rename, with Docker's messages.

use super::progress::{bytes as progress_bytes, status, with_id};
use super::{chain_ids, diff_ids, ImageStore, PullError, PullErrorKind, PullOptions};
use super::layer_stream::{decompressed, Staged};
use crate::reference::Reference;
use crate::registry::{Descriptor, RegistryClient, RegistryError};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read};
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

/// What the download threads tell the pulling thread.
enum Event {
    Progress(Value),
    Staged(usize, Result<Staged, PullError>),
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

    // Layers stream on `concurrency` threads in manifest order, each straight from the socket
    // into its staging directory (verified on the way); they are committed here, in order, as
    // soon as each one and all below it are staged.
    let queue = Mutex::new(missing.iter().copied().collect::<VecDeque<usize>>());
    let cancel = AtomicBool::new(false);
    let mut failure: Option<PullError> = None;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Event>();
        for _ in 0..concurrency.min(missing.len()) {
            let (tx, queue, cancel, client, layers, diffs) = (tx.clone(), &queue, &cancel, &client, &manifest.layers, &diffs);
            scope.spawn(move || loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                let Some(i) = next else { break };
                if cancel.load(Ordering::Relaxed) {
                    break;
                }
                let result = stream_layer(store, client, &layers[i], &diffs[i], &tx, cancel);
                let _ = tx.send(Event::Staged(i, result));
            });
        }
        drop(tx);
        let mut ready: HashMap<usize, Staged> = HashMap::new();
        let mut pending = missing.iter().copied().peekable();
        let mut broken = false;
        for event in rx {
            match event {
                Event::Progress(v) => progress(&v),
                Event::Staged(i, Ok(staged)) => {
                    ready.insert(i, staged);
                }
                Event::Staged(_, Err(e)) => {
                    cancel.store(true, Ordering::Relaxed);
                    failure.get_or_insert(e);
                }
            }
            // Even after a failure elsewhere, a layer staged whole is committed when all below
            // it are: the next pull starts where this one stopped.
            while !broken {
                let Some(&i) = pending.peek() else { break };
                let Some(staged) = ready.remove(&i) else { break };
                pending.next();
                let parent = if i == 0 { None } else { Some(chains[i - 1].as_str()) };
                if let Err(e) = commit_staged(store, staged, &manifest.layers[i], &diffs[i], &chains[i], parent, progress) {
                    cancel.store(true, Ordering::Relaxed);
                    failure.get_or_insert(e);
                    broken = true;
                }
            }
        }
        for (_, staged) in ready.drain() {
            staged.discard();
        }
    });
    if let Some(e) = failure {
        // The layers committed stay (unreferenced until an image uses them, and pruned as
        // any other): a retry finds them and downloads only the rest.
        drop(hold);
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
    // The image and everything the pull wrote are on disk before it says so (the layers
    // were synced at their commits; this catches the records written since, and costs
    // little when there are none).
    if !missing.is_empty() || changed {
        crate::durable::syncfs(&std::fs::File::open(store.tmp_dir())?)?;
    }
    progress(&status(&format!("Digest: {}", manifest.digest)));
    let image = store.load(&image_hex).ok_or_else(|| other(format!("image {image_hex} vanished after the pull")))?;
    Ok((image, changed))
}

/// The compressed body of a layer blob as one stream: hashed as it is read (its digest),
/// and a dropped connection continued transparently with a `Range` request from where it
/// stopped (or, from a registry that ignores the range, by skipping what was had), up to
/// `MAX_RESUMES` times. Download progress is reported as it goes.
struct LayerBody<'a> {
    client: &'a RegistryClient,
    layer: &'a Descriptor,
    id: String,
    tx: &'a mpsc::Sender<Event>,
    cancel: &'a AtomicBool,
    body: Option<Box<dyn Read + Send + Sync>>,
    have: u64,
    hasher: Sha256,
    resumes: u32,
    last: Instant,
    /// Why the stream ended in error (the error seen by the reader above is only its echo).
    failed: Option<PullError>,
}

impl LayerBody<'_> {
    fn fail(&mut self, e: PullError) -> io::Error {
        let err = io::Error::other(e.message.clone());
        self.failed = Some(e);
        err
    }

    fn layer_error(&self, e: &dyn std::fmt::Display) -> PullError {
        other(format!("error pulling layer {}: {e}", self.layer.digest))
    }

    /// A connection for the rest of the blob.
    fn reconnect(&mut self) -> io::Result<()> {
        loop {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(self.fail(other("pull cancelled".into())));
            }
            match self.client.blob_from(&self.layer.digest, self.have) {
                Ok((mut body, start)) => {
                    if start < self.have {
                        // Served from the start: what we have is skipped, not hashed again.
                        let skip = self.have - start;
                        let skipped = io::copy(&mut (&mut body).take(skip), &mut io::sink());
                        if !matches!(skipped, Ok(n) if n == skip) {
                            self.resumes += 1;
                            if self.resumes > MAX_RESUMES {
                                return Err(self.fail(self.layer_error(&"unexpected EOF")));
                            }
                            continue;
                        }
                    }
                    self.body = Some(body);
                    return Ok(());
                }
                Err(RegistryError::Transport(_) | RegistryError::Other(_)) if self.resumes < MAX_RESUMES => {
                    self.resumes += 1;
                    let n = self.resumes;
                    let _ = self.tx.send(Event::Progress(with_id(&format!("Retrying in {n} second{}", if n > 1 { "s" } else { "" }), &self.id)));
                    std::thread::sleep(Duration::from_millis(200 * n as u64));
                }
                Err(e) => {
                    let e = self.layer_error(&e);
                    return Err(self.fail(e));
                }
            }
        }
    }
}

impl Read for LayerBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let total = self.layer.size;
        loop {
            if let Some(e) = &self.failed {
                return Err(io::Error::other(e.message.clone()));
            }
            if self.cancel.load(Ordering::Relaxed) {
                return Err(self.fail(other("pull cancelled".into())));
            }
            if total > 0 && self.have >= total {
                return Ok(0);
            }
            if self.body.is_none() {
                self.reconnect()?;
            }
            let want = if total > 0 { buf.len().min((total - self.have) as usize) } else { buf.len() };
            let Some(body) = self.body.as_mut() else { continue };
            match body.read(&mut buf[..want]) {
                Ok(0) if total != 0 => {
                    // A body cut short without an error is a dropped connection too.
                    self.body = None;
                    self.resumes += 1;
                    if self.resumes > MAX_RESUMES {
                        return Err(self.fail(self.layer_error(&"unexpected EOF")));
                    }
                }
                Ok(0) => return Ok(0),
                Ok(n) => {
                    self.hasher.update(&buf[..n]);
                    self.have += n as u64;
                    if self.last.elapsed() >= PROGRESS_INTERVAL || self.have == total {
                        self.last = Instant::now();
                        let _ = self.tx.send(Event::Progress(progress_bytes("Downloading", &self.id, self.have, total)));
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.body = None;
                    self.resumes += 1;
                    if self.resumes > MAX_RESUMES {
                        return Err(self.fail(self.layer_error(&e)));
                    }
                }
            }
        }
    }
}

/// Streams one layer from the registry into a staging directory in a single pass: the
/// compressed bytes hashed against the layer's digest, decompressed, hashed against its diff
/// id, its tar-split recorded, its files extracted. Nothing of a layer that fails (a digest
/// or diff-id mismatch, a broken archive, a dropped connection) is left.
fn stream_layer(store: &ImageStore, client: &RegistryClient, layer: &Descriptor, diff_id: &str, tx: &mpsc::Sender<Event>, cancel: &AtomicBool) -> Result<Staged, PullError> {
    let id = short_id(&layer.digest);
    let mut body = LayerBody {
        client,
        layer,
        id: id.clone(),
        tx,
        cancel,
        body: None,
        have: 0,
        hasher: Sha256::new(),
        resumes: 0,
        last: Instant::now() - PROGRESS_INTERVAL,
        failed: None,
    };
    let staged = (|| {
        let head: Box<dyn Read + '_> = Box::new(&mut body);
        let mut plain = decompressed(io::BufReader::with_capacity(64 << 10, head))?;
        store.stage_layer(&mut plain, &id)
    })();
    // The digest covers every byte of the blob, also those the decompressor left unread.
    let drained = if body.failed.is_none() { io::copy(&mut body, &mut io::sink()).map(|_| ()) } else { Ok(()) };
    let discard = |staged: io::Result<Staged>| {
        if let Ok(s) = staged {
            s.discard();
        }
    };
    if let Some(e) = body.failed.take() {
        discard(staged);
        return Err(e);
    }
    if let Err(e) = drained {
        discard(staged);
        return Err(other(format!("error pulling layer {}: {e}", layer.digest)));
    }
    let _ = tx.send(Event::Progress(with_id("Verifying Checksum", &id)));
    let got = format!("sha256:{:x}", body.hasher.finalize());
    if got != layer.digest {
        discard(staged);
        return Err(other(format!("filesystem layer verification failed for digest {}", layer.digest)));
    }
    let staged = staged.map_err(|e| other(format!("failed to register layer: {}", crate::sys::go_error_text(&e))))?;
    if staged.diff_id != diff_id {
        staged.discard();
        return Err(other(format!("failed to register layer: layer content does not match diff id {diff_id}")));
    }
    let _ = tx.send(Event::Progress(with_id("Download complete", &id)));
    Ok(staged)
}

/// Commits a staged layer in place of its chain id, with Docker's last messages for it.
fn commit_staged(store: &ImageStore, staged: Staged, layer: &Descriptor, diff_id: &str, chain_id: &str, parent: Option<&str>, progress: &mut dyn FnMut(&Value)) -> Result<(), PullError> {
    let id = short_id(&layer.digest);
    progress(&progress_bytes("Extracting", &id, layer.size, layer.size));
    store.commit_extracted(&staged.work, chain_id, diff_id, parent, staged.size).map_err(|e| other(format!("failed to register layer: {}", crate::sys::go_error_text(&e))))?;
    progress(&with_id("Pull complete", &id));
    Ok(())
}
