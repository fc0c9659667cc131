//! Pushing an image: each layer found in the repository by a blob it is known by (pulled or
//! pushed before: `distribution`), else mounted from another repository of the same registry,
//! else gzip-compressed deterministically and uploaded; then the config and a Docker schema2
//! manifest written as Docker writes it, with Docker's messages.

use super::progress::{bytes as progress_bytes, status, with_id};
use super::{diff_ids, ImageStore, PullError, PullErrorKind, PullOptions};
use crate::reference::Reference;
use crate::registry::{MountResult, RegistryClient, RegistryError, PUSH_CHUNK_SIZE};
use super::distribution::BlobSource;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::io::{self, Write};
use std::path::PathBuf;

const MEDIA_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const MEDIA_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// How many known blobs are asked about (`HEAD`) per layer, and how many mounts tried: as
/// Docker, a few, so a layer known in many places does not cost a request for each.
const MAX_EXISTENCE_CHECKS: usize = 3;
const MAX_MOUNT_ATTEMPTS: usize = 3;

/// A Docker schema2 manifest, byte for byte as Docker writes it (its field order, three-space
/// indent), so the same config and layers give the same manifest digest whoever pushes them.
fn schema2_manifest(config_size: u64, config_digest: &str, layers: &[(String, u64)]) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Descriptor<'a> {
        #[serde(rename = "mediaType")]
        media_type: &'a str,
        size: u64,
        digest: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Manifest<'a> {
        #[serde(rename = "schemaVersion")]
        schema_version: u32,
        #[serde(rename = "mediaType")]
        media_type: &'a str,
        config: Descriptor<'a>,
        layers: Vec<Descriptor<'a>>,
    }
    let m = Manifest {
        schema_version: 2,
        media_type: crate::registry::MEDIA_DOCKER_MANIFEST,
        config: Descriptor { media_type: MEDIA_CONFIG, size: config_size, digest: config_digest },
        layers: layers.iter().map(|(digest, size)| Descriptor { media_type: MEDIA_LAYER_GZIP, size: *size, digest }).collect(),
    };
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, serde_json::ser::PrettyFormatter::with_indent(b"   "));
    serde::Serialize::serialize(&m, &mut ser).expect("a manifest serializes");
    out
}

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

    /// Pushes one layer, or finds it there, and returns the (digest, size) its manifest
    /// entry names: first a blob the layer is known by in this repository, if the registry
    /// still has it (`HEAD`); then one known in another repository of the same registry,
    /// mounted; then one known elsewhere that this repository happens to hold; only then is
    /// the layer compressed and uploaded. A pulled layer so keeps the digest it was pulled
    /// by, and an unchanged image its manifest digest.
    fn push_layer(&self, client: &RegistryClient, reference: &Reference, diff_id: &str, chain_id: &str, progress: &mut dyn FnMut(&Value)) -> Result<(String, u64), PullError> {
        let id = diff_id.strip_prefix("sha256:").unwrap_or(diff_id)[..12].to_string();
        let this_repo = reference.repository();
        let record = |digest: &str, size: u64, media_type: &str| {
            let source = BlobSource { digest: digest.to_string(), repository: this_repo.clone(), size, media_type: media_type.to_string() };
            self.add_blob_source(diff_id, source)
        };
        // Newest first, and only blobs a Docker manifest may list as gzip layers.
        let sources: Vec<BlobSource> = self.blob_sources(diff_id).into_iter().rev().filter(BlobSource::is_gzip).collect();
        let mut checked: Vec<&str> = Vec::new();
        for s in sources.iter().filter(|s| s.repository == this_repo).take(MAX_EXISTENCE_CHECKS) {
            checked.push(&s.digest);
            if let Some(size) = client.blob_size(&s.digest).map_err(registry_error)? {
                progress(&with_id("Layer already exists", &id));
                let size = if size > 0 { size } else { s.size };
                record(&s.digest, size, &s.media_type)?;
                return Ok((s.digest.clone(), size));
            }
        }
        let domain_prefix = format!("{}/", reference.domain);
        for s in sources.iter().filter(|s| s.repository != this_repo && s.repository.starts_with(&domain_prefix)).take(MAX_MOUNT_ATTEMPTS) {
            let from = &s.repository[domain_prefix.len()..];
            match client.mount_blob(&s.digest, from).map_err(registry_error)? {
                MountResult::Mounted => {
                    progress(&with_id(&format!("Mounted from {from}"), &id));
                    let size = if s.size > 0 { s.size } else { client.blob_size(&s.digest).map_err(registry_error)?.unwrap_or(0) };
                    record(&s.digest, size, &s.media_type)?;
                    return Ok((s.digest.clone(), size));
                }
                // The registry could not mount it (the source lost it, or we may not read
                // there) and opened an upload instead: that session is not ours to use.
                MountResult::Upload(location) => client.cancel_upload(&location),
            }
        }
        let mut unchecked: Vec<&BlobSource> = sources.iter().filter(|s| !checked.contains(&s.digest.as_str())).collect();
        unchecked.dedup_by(|a, b| a.digest == b.digest);
        unchecked.truncate(MAX_EXISTENCE_CHECKS);
        for s in unchecked {
            if let Some(size) = client.blob_size(&s.digest).map_err(registry_error)? {
                progress(&with_id("Layer already exists", &id));
                let size = if size > 0 { size } else { s.size };
                record(&s.digest, size, &s.media_type)?;
                return Ok((s.digest.clone(), size));
            }
        }
        let gz = self.gzip_layer(chain_id, diff_id)?;
        if client.blob_size(&gz.digest).map_err(registry_error)?.is_some() {
            progress(&with_id("Layer already exists", &id));
        } else {
            let location = client.start_upload().map_err(registry_error)?;
            let total = gz.size;
            let mut report = |n: u64| progress(&progress_bytes("Pushing", &id, n, total));
            report(0);
            client.upload_blob(&location, &gz.digest, &gz.path, gz.size, PUSH_CHUNK_SIZE, &mut report).map_err(registry_error)?;
            progress(&with_id("Pushed", &id));
        }
        record(&gz.digest, gz.size, "")?;
        Ok((gz.digest.clone(), gz.size))
    }

    fn push_one(&self, client: &RegistryClient, reference: &Reference, tag: &str, image: &super::Image, progress: &mut dyn FnMut(&Value)) -> Result<(), PullError> {
        let mut hold = self.hold();
        hold.add(&image.layers, &[]);
        let diffs = diff_ids(&image.config)?;
        let short = |d: &str| d.strip_prefix("sha256:").unwrap_or(d)[..12].to_string();
        for d in diffs.iter().rev() {
            progress(&with_id("Preparing", &short(d)));
        }
        let mut layers = Vec::new();
        for (d, chain) in diffs.iter().zip(&image.layers).rev() {
            layers.push(self.push_layer(client, reference, d, chain, progress)?);
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
        let bytes = schema2_manifest(config.len() as u64, &image.id, &layers);
        let digest = client.put_manifest(tag, crate::registry::MEDIA_DOCKER_MANIFEST, &bytes).map_err(registry_error)?;
        self.set_reference(&Reference { digest: Some(digest.clone()), tag: None, ..reference.clone() }, &digest, &image.id)?;
        progress(&status(&format!("{tag}: digest: {digest} size: {}", bytes.len())));
        progress(&json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": bytes.len()}}));
        Ok(())
    }
}
