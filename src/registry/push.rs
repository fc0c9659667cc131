//! The push side of the Registry API V2 client: blob uploads (monolithic, or chunked with
//! PATCH), existence checks, cross-repository mounts, and manifest uploads.

use super::{percent_encode, sha256_hex, transport, RegistryClient, RegistryError};
use std::io::{self, Read};

/// Blobs larger than this are uploaded in PATCH chunks of this size.
pub const PUSH_CHUNK_SIZE: u64 = 8 << 20;

/// The outcome of asking a registry to mount a blob from another repository.
pub enum MountResult {
    Mounted,
    /// The registry started an upload instead (at this location).
    Upload(String),
}

impl RegistryClient {
    /// Any request with the current authorization; on a 401 challenge, authenticates once
    /// and retries. `body` is sent whole (with its length).
    fn send_push(&self, method: &str, url: &str, headers: &[(&str, String)], body: Option<&mut dyn FnMut() -> io::Result<Box<dyn Read>>>, length: u64) -> Result<ureq::Response, RegistryError> {
        let mut body = body;
        let mut retried = false;
        loop {
            let mut req = self.agent.request(method, url);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            if let Some(auth) = self.authorization.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                req = req.set("Authorization", &auth);
            }
            let result = match body.as_mut() {
                Some(make) => req.set("Content-Length", &length.to_string()).send(make()?),
                None => req.call(),
            };
            match result {
                Ok(resp) => return Ok(resp),
                Err(ureq::Error::Status(401, resp)) if !retried => {
                    let challenge = resp.header("WWW-Authenticate").unwrap_or("").to_string();
                    self.authenticate(&challenge)?;
                    retried = true;
                }
                Err(ureq::Error::Status(code, resp)) => return Err(super::status_error(code, resp, &format!("{method} {url}"))),
                Err(ureq::Error::Transport(t)) => return Err(RegistryError::Transport(transport::error_text(method, url, &t))),
            }
        }
    }

    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{}", self.base, location)
        }
    }

    /// HEAD of a blob: its size if the repository has it.
    pub fn blob_size(&self, digest: &str) -> Result<Option<u64>, RegistryError> {
        let url = format!("{}/v2/{}/blobs/{}", self.base, self.repo, digest);
        match self.send_push("HEAD", &url, &[], None, 0) {
            Ok(r) => Ok(Some(r.header("Content-Length").and_then(|l| l.parse().ok()).unwrap_or(0))),
            Err(RegistryError::NotFound(_)) => Ok(None),
            Err(RegistryError::Other(t)) if t.contains("unexpected HTTP status 404") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Asks the registry to link `digest` from the repository `from` (`POST
    /// /v2/<repo>/blobs/uploads/?mount=<digest>&from=<repo>`).
    pub fn mount_blob(&self, digest: &str, from: &str) -> Result<MountResult, RegistryError> {
        let url = format!("{}/v2/{}/blobs/uploads/?mount={}&from={}", self.base, self.repo, percent_encode(digest), percent_encode(from));
        let r = self.send_push("POST", &url, &[], None, 0)?;
        if r.status() == 201 {
            return Ok(MountResult::Mounted);
        }
        Ok(MountResult::Upload(self.absolute(r.header("Location").unwrap_or(""))))
    }

    /// Abandons the upload session at `location` (`DELETE`); a registry that refuses lets
    /// it expire, so the outcome is not reported.
    pub fn cancel_upload(&self, location: &str) {
        if !location.is_empty() {
            let _ = self.send_push("DELETE", &self.absolute(location), &[], None, 0);
        }
    }

    /// Starts an upload session; returns its location.
    pub fn start_upload(&self) -> Result<String, RegistryError> {
        let url = format!("{}/v2/{}/blobs/uploads/", self.base, self.repo);
        let r = self.send_push("POST", &url, &[], None, 0)?;
        let loc = r.header("Location").ok_or_else(|| RegistryError::Other("registry started an upload without a Location".into()))?;
        Ok(self.absolute(loc))
    }

    /// Uploads `size` bytes of `path` as blob `digest` at `location`: one PUT when the blob
    /// is at most `chunk` bytes, else PATCH chunks then a closing PUT. `progress` gets the
    /// bytes sent so far.
    pub fn upload_blob(&self, location: &str, digest: &str, path: &std::path::Path, size: u64, chunk: u64, progress: &mut dyn FnMut(u64)) -> Result<(), RegistryError> {
        let with_digest = |loc: &str| format!("{loc}{}digest={}", if loc.contains('?') { '&' } else { '?' }, percent_encode(digest));
        let octets = [("Content-Type", "application/octet-stream".to_string())];
        if size <= chunk {
            let mut open = || -> io::Result<Box<dyn Read>> { Ok(Box::new(std::fs::File::open(path)?)) };
            self.send_push("PUT", &with_digest(location), &octets, Some(&mut open), size)?;
            progress(size);
            return Ok(());
        }
        let mut location = location.to_string();
        let mut offset = 0u64;
        while offset < size {
            let len = chunk.min(size - offset);
            let mut buf = vec![0u8; len as usize];
            {
                use std::io::{Seek, SeekFrom};
                let mut f = std::fs::File::open(path)?;
                f.seek(SeekFrom::Start(offset))?;
                f.read_exact(&mut buf)?;
            }
            let headers = [("Content-Type", "application/octet-stream".to_string()), ("Content-Range", format!("{}-{}", offset, offset + len - 1))];
            let mut open = || -> io::Result<Box<dyn Read>> { Ok(Box::new(io::Cursor::new(buf.clone()))) };
            let r = self.send_push("PATCH", &location, &headers, Some(&mut open), len)?;
            if let Some(l) = r.header("Location") {
                location = self.absolute(l);
            }
            offset += len;
            progress(offset);
        }
        let mut empty = || -> io::Result<Box<dyn Read>> { Ok(Box::new(io::empty())) };
        self.send_push("PUT", &with_digest(&location), &[], Some(&mut empty), 0)?;
        Ok(())
    }

    /// PUT of a manifest under `tag`; returns its digest.
    pub fn put_manifest(&self, tag: &str, media_type: &str, bytes: &[u8]) -> Result<String, RegistryError> {
        let url = format!("{}/v2/{}/manifests/{}", self.base, self.repo, tag);
        let owned = bytes.to_vec();
        let mut open = || -> io::Result<Box<dyn Read>> { Ok(Box::new(io::Cursor::new(owned.clone()))) };
        self.send_push("PUT", &url, &[("Content-Type", media_type.to_string())], Some(&mut open), bytes.len() as u64)?;
        Ok(format!("sha256:{}", sha256_hex(bytes)))
    }
}
