//! Pushing an image: each layer gzip-compressed deterministically (the digest is remembered
//! per diff id so a re-push uploads the same blob), skipped when the registry has it,
//! mounted from another repository of the same registry when we pushed it there, else
//! uploaded; then the config and a Docker schema2 manifest, with Docker's messages.

use super::progress::{bytes as progress_bytes, status, with_id};
use super::{diff_ids, ImageStore, PullError, PullErrorKind, PullOptions};
use crate::reference::Reference;
use crate::registry::{MountResult, RegistryClient, RegistryError, PUSH_CHUNK_SIZE};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::io::{self, Write};
use std::path::PathBuf;

const MEDIA_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const MEDIA_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

fn other(message: String) -> PullError {
    PullError { kind: PullErrorKind::Other, message }
}

fn registry_error(e: RegistryError) -> PullError {
    match e {
        RegistryError::NotFound(t) | RegistryError::NameUnknown(t) => PullError { kind: PullErrorKind::NotFound, message: t },
        RegistryError::Unauthorized(t) => PullError { kind: PullErrorKind::Unauthorized, message: t },
        RegistryError::Transport(t) | RegistryError::Other(t) => other(t),
    }
}

/// What we know of a layer's compressed blob: its digest and size, and where we pushed it.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct BlobRecord {
    digest: String,
    size: u64,
    /// Repositories (`127.0.0.1:5000/name`) known to hold the blob.
    repositories: Vec<String>,
}

struct Gzipped {
    path: PathBuf,
    digest: String,
    size: u64,
}

impl Drop for Gzipped {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}


impl ImageStore {
    fn blob_record_path(&self, diff_id: &str) -> PathBuf {
        self.meta_dir().join("distribution/v2metadata-by-diffid/sha256").join(diff_id.strip_prefix("sha256:").unwrap_or(diff_id))
    }

    fn blob_record(&self, diff_id: &str) -> Option<BlobRecord> {
        serde_json::from_slice(&std::fs::read(self.blob_record_path(diff_id)).ok()?).ok()
    }

    fn save_blob_record(&self, diff_id: &str, record: &BlobRecord) -> io::Result<()> {
        let path = self.blob_record_path(diff_id);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let _guard = self.lock();
        crate::sys::write_atomic(&path, &serde_json::to_vec(record).map_err(io::Error::other)?)
    }

    /// The layer's tar, gzip-compressed with a fixed header (no name, mtime 0) so the same
    /// layer always compresses to the same blob.
    fn gzip_layer(&self, chain_id: &str, diff_id: &str) -> io::Result<Gzipped> {
        let path = self.tmp_dir().join(format!("push-{}", &crate::ids::new_id()[..16]));
        let mut out = Gzipped { path, digest: String::new(), size: 0 };
        let file = io::BufWriter::new(std::fs::File::create(&out.path)?);
        let counted = super::archive_formats::HashingWriter { inner: file, hasher: Sha256::new(), count: 0 };
        let mut gz = flate2::GzBuilder::new().mtime(0).write(counted, flate2::Compression::default());
        let mut plain = super::archive_formats::HashingWriter { inner: &mut gz, hasher: Sha256::new(), count: 0 };
        self.write_layer_tar(chain_id, &mut plain)?;
        let got = format!("sha256:{:x}", plain.hasher.finalize());
        if got != diff_id {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("layer {chain_id} reproduces as {got}, not its diff id {diff_id}")));
        }
        let mut counted = gz.finish()?;
        counted.flush()?;
        out.digest = format!("sha256:{:x}", counted.hasher.finalize());
        out.size = counted.count;
        Ok(out)
    }

    /// `docker push`: pushes the tag of `reference`, or every tag of its repository when it
    /// has none, streaming Docker's progress messages.
    pub fn push(&self, reference: &Reference, opts: &PullOptions, progress: &mut dyn FnMut(&Value)) -> Result<(), PullError> {
        let name = reference.familiar_name();
        let tags: Vec<String> = match &reference.tag {
            Some(t) => vec![t.clone()],
            None => {
                let repos = self.repos();
                let prefix = format!("{name}:");
                repos.get(&name).map(|m| m.keys().filter_map(|k| k.strip_prefix(&prefix).map(str::to_string)).collect()).unwrap_or_default()
            }
        };
        if tags.is_empty() {
            return Err(PullError { kind: PullErrorKind::NotFound, message: format!("An image does not exist locally with the tag: {name}") });
        }
        progress(&status(&format!("The push refers to repository [{}]", reference.repository())));
        let mut client = RegistryClient::new(&reference.domain, reference.remote_name(), &opts.insecure_registries, opts.auth.as_deref()).map_err(registry_error)?;
        client.ping().map_err(registry_error)?;
        for tag in tags {
            let mut tagged = reference.clone();
            tagged.tag = Some(tag.clone());
            tagged.digest = None;
            let image = self
                .get(&tagged.familiar_string())
                .ok_or_else(|| PullError { kind: PullErrorKind::NotFound, message: format!("tag does not exist: {}", tagged.familiar_string()) })?;
            self.push_one(&client, &tagged, &tag, &image, progress)?;
        }
        Ok(())
    }

    fn push_one(&self, client: &RegistryClient, reference: &Reference, tag: &str, image: &super::Image, progress: &mut dyn FnMut(&Value)) -> Result<(), PullError> {
        let mut hold = self.hold();
        hold.add(&image.layers, &[]);
        let diffs = diff_ids(&image.config)?;
        let short = |d: &str| d.strip_prefix("sha256:").unwrap_or(d)[..12].to_string();
        let this_repo = reference.repository();
        for d in diffs.iter().rev() {
            progress(&with_id("Preparing", &short(d)));
        }
        let mut layers = Vec::new();
        for (d, chain) in diffs.iter().zip(&image.layers).rev() {
            let id = short(d);
            let mut record = self.blob_record(d).unwrap_or_default();
            // A remembered blob the registry already has costs no compression at all.
            if !record.digest.is_empty() && client.blob_size(&record.digest).map_err(registry_error)?.is_some() {
                progress(&with_id("Layer already exists", &id));
                if !record.repositories.contains(&this_repo) {
                    record.repositories.push(this_repo.clone());
                    self.save_blob_record(d, &record)?;
                }
                layers.push((record.digest.clone(), record.size));
                continue;
            }
            let gz = self.gzip_layer(chain, d)?;
            if !record.digest.is_empty() && record.digest != gz.digest {
                record.repositories.clear();
            }
            record.digest = gz.digest.clone();
            record.size = gz.size;
            if client.blob_size(&gz.digest).map_err(registry_error)?.is_some() {
                progress(&with_id("Layer already exists", &id));
            } else {
                let domain_prefix = format!("{}/", reference.domain);
                let source = record.repositories.iter().find(|r| **r != this_repo && r.starts_with(&domain_prefix)).cloned();
                let mut location = None;
                if let Some(src) = source {
                    let from = &src[domain_prefix.len()..];
                    match client.mount_blob(&gz.digest, from).map_err(registry_error)? {
                        MountResult::Mounted => progress(&with_id(&format!("Mounted from {from}"), &id)),
                        MountResult::Upload(loc) => location = Some(loc),
                    }
                } else {
                    location = Some(client.start_upload().map_err(registry_error)?);
                }
                if let Some(loc) = location {
                    let total = gz.size;
                    let mut report = |n: u64| progress(&progress_bytes("Pushing", &id, n, total));
                    report(0);
                    client.upload_blob(&loc, &gz.digest, &gz.path, gz.size, PUSH_CHUNK_SIZE, &mut report).map_err(registry_error)?;
                    progress(&with_id("Pushed", &id));
                }
            }
            if !record.repositories.contains(&this_repo) {
                record.repositories.push(this_repo.clone());
            }
            self.save_blob_record(d, &record)?;
            layers.push((gz.digest.clone(), gz.size));
        }
        layers.reverse();

        let config = self.config_bytes(&image.id)?;
        if client.blob_size(&image.id).map_err(registry_error)?.is_none() {
            let path = self.tmp_dir().join(format!("push-config-{}", &crate::ids::new_id()[..16]));
            std::fs::write(&path, &config)?;
            let loc = client.start_upload().map_err(registry_error);
            let r = loc.and_then(|loc| client.upload_blob(&loc, &image.id, &path, config.len() as u64, PUSH_CHUNK_SIZE, &mut |_| {}).map_err(registry_error));
            let _ = std::fs::remove_file(&path);
            r?;
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": crate::registry::MEDIA_DOCKER_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "size": config.len(), "digest": image.id},
            "layers": layers.iter().map(|(d, s)| json!({"mediaType": MEDIA_LAYER_GZIP, "size": s, "digest": d})).collect::<Vec<_>>(),
        });
        let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| other(e.to_string()))?;
        let digest = client.put_manifest(tag, crate::registry::MEDIA_DOCKER_MANIFEST, &bytes).map_err(registry_error)?;
        self.set_reference(&Reference { digest: Some(digest.clone()), tag: None, ..reference.clone() }, &digest, &image.id)?;
        progress(&status(&format!("{tag}: digest: {digest} size: {}", bytes.len())));
        progress(&json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": bytes.len()}}));
        Ok(())
    }
}
