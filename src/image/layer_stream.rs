//! A layer written once: its uncompressed tar stream, as it arrives (from a registry's socket,
//! a `docker load` archive, an import, a commit), is hashed (its diff id), its tar-split
//! recorded and its files extracted into a staging directory, all in the same pass. Neither
//! the compressed blob nor a decompressed copy is written anywhere.
//!
//! A staging directory is `tmp/layer-<tag>-<random>/` holding `diff/` (the files) and
//! `tar-split.json.gz`; [`ImageStore::commit_extracted`](super::ImageStore) renames it into
//! place. The extracted files are written behind ([`crate::writeback`]): on their way to the
//! disk as they are written and out of the page cache once written, so the `syncfs` before
//! the commit has little left to do and the pull leaves the cache to the containers.

use super::ImageStore;
use crate::archive::{ExtractObserver, Whiteouts};
use crate::writeback::WriteBehind;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// The tar-split's file name, in a staging directory and in the layer's layerdb directory.
pub(super) const TAR_SPLIT: &str = "tar-split.json.gz";
/// Raw bytes between files are flushed to the tar-split in lines of at most this size.
const MAX_SEGMENT: usize = 1 << 20;

/// A layer extracted into its staging directory, not yet committed.
#[derive(Debug)]
pub(super) struct Staged {
    pub work: PathBuf,
    pub diff_id: String,
    /// Total size of its regular files.
    pub size: u64,
}

impl Staged {
    /// Removes the staging directory (a layer that failed verification, or one not needed).
    pub fn discard(self) {
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

/// The tar-split being written: the raw bytes of the tar stream between file contents, and
/// each file's name and size, as gzip-compressed JSON lines (see `write_layer_tar`).
struct SplitState {
    out: flate2::write::GzEncoder<BufWriter<File>>,
    pending: Vec<u8>,
    /// Bytes of file data still to come, not recorded (they are in the extracted file).
    skip: u64,
    failed: Option<io::Error>,
}

impl SplitState {
    fn line(&mut self, v: serde_json::Value) {
        if self.failed.is_some() {
            return;
        }
        let r = serde_json::to_writer(&mut self.out, &v).map_err(io::Error::other).and_then(|_| self.out.write_all(b"\n"));
        if let Err(e) = r {
            self.failed = Some(e);
        }
    }

    fn flush_pending(&mut self) {
        if !self.pending.is_empty() {
            let payload = crate::base64::encode(&self.pending);
            self.pending.clear();
            self.line(json!({"type": 2, "payload": payload}));
        }
    }

    fn consume(&mut self, mut bytes: &[u8]) {
        let k = (self.skip.min(bytes.len() as u64)) as usize;
        self.skip -= k as u64;
        bytes = &bytes[k..];
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= MAX_SEGMENT {
            self.flush_pending();
        }
    }
}

/// Reads through to the tar parser, recording what the tar-split keeps.
struct Recording<'a, R> {
    inner: R,
    split: &'a RefCell<SplitState>,
}

impl<R: Read> Read for Recording<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.split.borrow_mut().consume(&buf[..n]);
        Ok(n)
    }
}

struct Observer<'a> {
    split: &'a RefCell<SplitState>,
    write_behind: WriteBehind,
}

impl ExtractObserver for Observer<'_> {
    fn regular_file(&mut self, name: &[u8], size: u64) {
        let mut s = self.split.borrow_mut();
        s.flush_pending();
        s.line(json!({"type": 1, "name": String::from_utf8_lossy(name), "size": size}));
        s.skip = size;
    }

    fn write_file(&mut self, data: &mut dyn Read, file: File) -> io::Result<u64> {
        self.write_behind.copy_into(data, file)
    }
}

impl ImageStore {
    /// Extracts the uncompressed layer tar read from `tar` into a new staging directory,
    /// recording its tar-split and its diff id on the way; the whole stream is read. On an
    /// error nothing is left. `tag` names the directory (a short digest, for the curious).
    pub(super) fn stage_layer(&self, tar: &mut dyn Read, tag: &str) -> io::Result<Staged> {
        self.stage_layer_hashed(tar, tag).map_err(|f| f.error)
    }

    /// [`stage_layer`](Self::stage_layer), and on an error the diff id of the stream all the
    /// same when it could be read to its end (a caller expecting a diff id names that first).
    pub(super) fn stage_layer_hashed(&self, tar: &mut dyn Read, tag: &str) -> Result<Staged, StageFailure> {
        let work = self.tmp_dir().join(format!("layer-{tag}-{}", &crate::ids::new_id()[..16]));
        std::fs::create_dir_all(work.join("diff")).map_err(|error| StageFailure { error, diff_id: None })?;
        let mut hasher = Sha256::new();
        match stage_into(tar, &work, &mut hasher) {
            Ok((diff_id, size)) => Ok(Staged { work, diff_id, size }),
            Err(error) => {
                let _ = std::fs::remove_dir_all(&work);
                let rest = io::copy(&mut HashingReader { inner: tar, hasher: &mut hasher }, &mut io::sink());
                let diff_id = rest.ok().map(|_| format!("sha256:{:x}", hasher.finalize()));
                Err(StageFailure { error, diff_id })
            }
        }
    }
}

/// Why a layer could not be staged.
#[derive(Debug)]
pub(super) struct StageFailure {
    pub error: io::Error,
    pub diff_id: Option<String>,
}

struct HashingReader<'a, R> {
    inner: R,
    hasher: &'a mut Sha256,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn stage_into(tar: &mut dyn Read, work: &Path, hasher: &mut Sha256) -> io::Result<(String, u64)> {
    let out = flate2::write::GzEncoder::new(BufWriter::new(File::create(work.join(TAR_SPLIT))?), flate2::Compression::default());
    let split = RefCell::new(SplitState { out, pending: Vec::new(), skip: 0, failed: None });
    let mut observer = Observer { split: &split, write_behind: WriteBehind::default() };
    let mut recording = Recording { inner: HashingReader { inner: tar, hasher }, split: &split };
    let size = crate::archive::extract_layer_observed(&mut recording, &work.join("diff"), Whiteouts::Overlay, &mut observer)?;
    // What follows the end-of-archive blocks belongs to the layer tar too (and its diff id).
    io::copy(&mut recording, &mut io::sink())?;
    let diff_id = format!("sha256:{:x}", recording.inner.hasher.clone().finalize());
    observer.write_behind.finish();
    let mut s = split.into_inner();
    s.flush_pending();
    if let Some(e) = s.failed.take() {
        return Err(e);
    }
    s.out.finish()?.into_inner().map_err(|e| e.into_error())?;
    Ok((diff_id, size))
}

/// The layer's tar stream, whatever its compression: gzip, zstd, or none (by magic number).
pub(super) fn decompressed<'a>(head: io::BufReader<Box<dyn Read + 'a>>) -> io::Result<Box<dyn Read + 'a>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |name: &str, data: &[u8], kind: tar::EntryType| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(1_600_000_000);
            b.append_data(&mut h, name, data).unwrap();
        };
        add("dir", b"", tar::EntryType::Directory);
        add("dir/small", b"hello", tar::EntryType::Regular);
        add("dir/empty", b"", tar::EntryType::Regular);
        // A GNU long name: its name lives in an entry of its own before the header.
        let long = format!("dir/{}", "n".repeat(150));
        add(&long, &vec![3u8; 70_000], tar::EntryType::Regular);
        add("big", &(0..3_000_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>(), tar::EntryType::Regular);
        let mut out = b.into_inner().unwrap();
        // Padding after the end-of-archive blocks is part of the layer too.
        out.extend_from_slice(&[0u8; 4096]);
        out
    }

    #[test]
    fn a_staged_layer_reproduces_its_tar_byte_for_byte() {
        let dir = std::env::temp_dir().join(format!("dbx-layer-stream-{}", &crate::ids::new_id()[..12]));
        let store = ImageStore::open(&dir).unwrap();
        let tar = sample_tar();
        let diff_id = format!("sha256:{:x}", Sha256::digest(&tar));
        let staged = store.stage_layer(&mut &tar[..], "test").unwrap();
        assert_eq!(staged.diff_id, diff_id);
        assert_eq!(staged.size, 5 + 70_000 + 3_000_000);
        let work = staged.work.clone();
        store.commit_extracted(&staged.work, &diff_id, &diff_id, None, staged.size).unwrap();
        assert!(!work.exists(), "the staging directory was renamed into place");
        let mut again = Vec::new();
        let r = store.write_layer_tar(&diff_id, &mut again);
        let split_kept = store.layer_dir(&diff_id).join(TAR_SPLIT).exists();
        let left_in_tmp = std::fs::read_dir(store.tmp_dir()).unwrap().count();
        std::fs::remove_dir_all(&dir).unwrap();
        r.unwrap();
        assert!(split_kept);
        assert_eq!(left_in_tmp, 0);
        assert!(again == tar, "the reproduced tar differs ({} bytes against {})", again.len(), tar.len());
    }

    #[test]
    fn a_broken_layer_leaves_nothing_and_still_has_its_diff_id() {
        let dir = std::env::temp_dir().join(format!("dbx-layer-stream-{}", &crate::ids::new_id()[..12]));
        let store = ImageStore::open(&dir).unwrap();
        let mut tar = sample_tar();
        // A corrupt header checksum in the second entry.
        tar[512 + 148] ^= 0x11;
        let want = format!("sha256:{:x}", Sha256::digest(&tar));
        let failure = store.stage_layer_hashed(&mut &tar[..], "test").unwrap_err();
        let left_in_tmp = std::fs::read_dir(store.tmp_dir()).unwrap().count();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(failure.diff_id.as_deref(), Some(want.as_str()), "{}", failure.error);
        assert_eq!(left_in_tmp, 0);
    }
}
