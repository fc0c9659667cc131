//! Distribution metadata, as Docker keeps it: for each layer (by diff id) the compressed blobs
//! it is known by and the repository each was seen in, recorded by pulls and pushes, so a push
//! asks the registry about (`HEAD`), or mounts from another repository of the same registry,
//! the very blob that was pulled instead of compressing the layer again under a new digest.
//!
//! `image/overlay2/distribution/v2metadata-by-diffid/sha256/<diff-hex>` holds a JSON list of
//! `{"Digest", "SourceRepository", "Size", "MediaType"}` (Docker's fields and two more: the
//! size and media type a manifest needs), oldest first.

use super::ImageStore;
use std::io;
use std::path::PathBuf;

/// Docker keeps at most this many entries per layer; the oldest go first.
const MAX_SOURCES: usize = 50;

/// One compressed blob a layer is known by, in one repository.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct BlobSource {
    #[serde(rename = "Digest")]
    pub digest: String,
    /// `host[:port]/path` (`docker.io/library/busybox`).
    #[serde(rename = "SourceRepository")]
    pub repository: String,
    #[serde(rename = "Size", default)]
    pub size: u64,
    /// The layer media type the blob was listed with; empty in entries of our own pushes
    /// (always gzip).
    #[serde(rename = "MediaType", default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
}

impl BlobSource {
    /// Whether a Docker schema2 manifest may list the blob as a gzip layer.
    pub fn is_gzip(&self) -> bool {
        self.media_type.is_empty() || self.media_type.ends_with("gzip")
    }

    /// The registry part of the repository (`127.0.0.1:5000`).
    pub fn registry(&self) -> &str {
        self.repository.split_once('/').map(|(domain, _)| domain).unwrap_or("")
    }
}

/// The record an older dockbox wrote: one blob and the repositories it was pushed to.
#[derive(serde::Deserialize)]
struct OldRecord {
    digest: String,
    size: u64,
    repositories: Vec<String>,
}

impl ImageStore {
    fn blob_sources_path(&self, diff_id: &str) -> PathBuf {
        self.meta_dir().join("distribution/v2metadata-by-diffid/sha256").join(diff_id.strip_prefix("sha256:").unwrap_or(diff_id))
    }

    /// Every blob the layer `diff_id` is known by, oldest first (none when the record is
    /// missing or unreadable: it is a cache, and a push without it compresses again).
    pub fn blob_sources(&self, diff_id: &str) -> Vec<BlobSource> {
        let Ok(bytes) = std::fs::read(self.blob_sources_path(diff_id)) else { return Vec::new() };
        if let Ok(list) = serde_json::from_slice::<Vec<BlobSource>>(&bytes) {
            return list;
        }
        match serde_json::from_slice::<OldRecord>(&bytes) {
            Ok(old) => old.repositories.into_iter().map(|repository| BlobSource { digest: old.digest.clone(), repository, size: old.size, media_type: String::new() }).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Records that the layer `diff_id` is blob `source.digest` in `source.repository` (the
    /// entry moves to the end when it was known already).
    pub fn add_blob_source(&self, diff_id: &str, source: BlobSource) -> io::Result<()> {
        let path = self.blob_sources_path(diff_id);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // The store lock: the read-modify-write is not lost to another pull or push of the
        // same layer, and the atomic write's temporary name is per process.
        let _guard = self.lock();
        let mut list = self.blob_sources(diff_id);
        list.retain(|s| !(s.digest == source.digest && s.repository == source.repository));
        list.push(source);
        if list.len() > MAX_SOURCES {
            list.drain(..list.len() - MAX_SOURCES);
        }
        // Not fsynced: a record lost to a power cut only costs a later push a compression.
        crate::sys::write_atomic_volatile(&path, &serde_json::to_vec(&list).map_err(io::Error::other)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_kept_per_repository_and_old_records_still_read() {
        let dir = std::env::temp_dir().join(format!("dbx-distribution-{}", &crate::ids::new_id()[..12]));
        let store = ImageStore::open(&dir).unwrap();
        let diff = format!("sha256:{}", "a".repeat(64));
        assert!(store.blob_sources(&diff).is_empty());
        let src = |d: &str, r: &str| BlobSource { digest: d.into(), repository: r.into(), size: 7, media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into() };
        store.add_blob_source(&diff, src("sha256:1", "reg:5000/a")).unwrap();
        store.add_blob_source(&diff, src("sha256:1", "reg:5000/b")).unwrap();
        store.add_blob_source(&diff, src("sha256:1", "reg:5000/a")).unwrap();
        let got = store.blob_sources(&diff);
        assert_eq!(got.iter().map(|s| s.repository.as_str()).collect::<Vec<_>>(), ["reg:5000/b", "reg:5000/a"]);
        assert!(got[0].is_gzip() && got[0].registry() == "reg:5000");
        std::fs::write(store.blob_sources_path(&diff), br#"{"digest":"sha256:2","size":9,"repositories":["r/x","r/y"]}"#).unwrap();
        let old = store.blob_sources(&diff);
        assert_eq!(old.len(), 2);
        assert_eq!((old[1].digest.as_str(), old[1].size, old[1].repository.as_str()), ("sha256:2", 9, "r/y"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
