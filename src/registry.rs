//! A Registry HTTP API V2 client: manifests and blobs by digest, with the anonymous (or
//! basic-credential) Bearer token flow Docker Hub uses. How a registry is reached (endpoints,
//! TLS trust) is `transport`'s job.

use sha2::{Digest as _, Sha256};
use std::io::{self, Read};
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::Mutex;

pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MEDIA_DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
const MEDIA_DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Docker Hub's registry answers at a different host than its image names say.
const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";
const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// What went wrong talking to a registry, classified the way the puller reports it.
#[derive(Debug)]
pub enum RegistryError {
    /// 404 or MANIFEST_UNKNOWN/BLOB_UNKNOWN: the text is the registry's `code: message`.
    NotFound(String),
    /// NAME_UNKNOWN: the repository does not exist.
    NameUnknown(String),
    /// 401/403 after the token flow.
    Unauthorized(String),
    /// No HTTP answer at all: DNS, connection or TLS failure (Go's `Get "url": ...` text).
    Transport(String),
    Other(String),
}

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistryError::NotFound(s) | RegistryError::NameUnknown(s) | RegistryError::Unauthorized(s) | RegistryError::Transport(s) | RegistryError::Other(s) => f.write_str(s),
        }
    }
}

impl From<io::Error> for RegistryError {
    fn from(e: io::Error) -> Self {
        RegistryError::Other(e.to_string())
    }
}

/// A content descriptor from a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// An image manifest resolved to one platform.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The digest the user sees in `Digest:` (of the index when the tag named one, as Docker).
    pub digest: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// One repository on one registry.
pub struct RegistryClient {
    agent: ureq::Agent,
    /// The endpoint in use (`https://host`).
    base: String,
    /// The endpoints to fall back to, in order, if `base` gives no HTTP answer to the ping.
    fallbacks: Vec<String>,
    repo: String,
    credentials: Option<(String, String)>,
    authorization: Mutex<Option<String>>,
}

/// Whether Docker treats `host[:port]` as an insecure registry (HTTPS without certificate
/// verification, then plain HTTP): loopback hosts, and those listed (by `host[:port]` or by a
/// CIDR containing its address) in `insecure`.
pub fn is_insecure(domain: &str, insecure: &[String]) -> bool {
    if insecure.iter().any(|i| i == domain) {
        return true;
    }
    let host = host_of(domain);
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) if host == "localhost" => return true,
        // Resolving a name only matters for CIDR entries; skip the lookup otherwise.
        Err(_) if !insecure.iter().any(|i| i.contains('/')) => return false,
        Err(_) => (host, 0).to_socket_addrs().map(|a| a.map(|s| s.ip()).collect()).unwrap_or_default(),
    };
    addrs.iter().any(|ip| ip.is_loopback() || insecure.iter().any(|c| cidr_contains(c, ip)))
}

fn host_of(domain: &str) -> &str {
    if let Some(rest) = domain.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    domain.rsplit_once(':').map(|(h, _)| h).unwrap_or(domain)
}

fn cidr_contains(cidr: &str, ip: &IpAddr) -> bool {
    let Some((net, bits)) = cidr.split_once('/') else { return false };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else { return false };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if bits <= 32 => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(n) & mask == u32::from(*i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if bits <= 128 => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(n) & mask == u128::from(*i) & mask
        }
        _ => false,
    }
}

/// Decodes the docker CLI's X-Registry-Auth header (base64url JSON) to username and password.
pub fn decode_registry_auth(header: &str) -> Option<(String, String)> {
    let bytes = crate::base64::decode(header.trim())?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let user = v.get("username").and_then(|u| u.as_str()).unwrap_or("");
    let pass = v.get("password").and_then(|u| u.as_str()).unwrap_or("");
    if user.is_empty() {
        return None;
    }
    Some((user.to_string(), pass.to_string()))
}

/// The error a registry's failure status means, with the registry's own text when its body
/// carries one; `what` names the request in the fallback text.
pub(crate) fn status_error(code: u16, resp: ureq::Response, what: &str) -> RegistryError {
    let body = resp.into_string().unwrap_or_default();
    let (errcode, text) = registry_error_text(&body).unwrap_or_else(|| (String::new(), format!("unexpected HTTP status {code} from {what}")));
    match (code, errcode.as_str()) {
        (_, "NAME_UNKNOWN") => RegistryError::NameUnknown(text),
        (401, _) | (403, _) | (_, "UNAUTHORIZED") | (_, "DENIED") => RegistryError::Unauthorized(text),
        (404, _) => RegistryError::NotFound(text),
        _ => RegistryError::Other(text),
    }
}

/// The `code: message` text of a registry error body, as Docker prints it.
fn registry_error_text(body: &str) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let e = v.get("errors")?.as_array()?.first()?;
    let code = e.get("code")?.as_str()?.to_string();
    let msg = e.get("message").and_then(|m| m.as_str()).unwrap_or("");
    let text = format!("{}: {msg}", code.replace('_', " ").to_lowercase());
    Some((code, text))
}

/// Parses `Bearer realm="..",service="..",scope=".."` into its scheme and parameters.
fn parse_challenge(h: &str) -> (String, Vec<(String, String)>) {
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    let mut params = Vec::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let Some((k, after)) = s.split_once('=') else { break };
        let k = k.trim().trim_start_matches(',').trim().to_string();
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            (q[..end].to_string(), q.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.push((k, v));
        s = next.trim_start_matches([',', ' ']);
    }
    (scheme.to_lowercase(), params)
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The OCI name of this machine's architecture, and the variant to prefer.
pub fn host_platform() -> (&'static str, Option<&'static str>) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", None),
        "aarch64" => ("arm64", Some("v8")),
        "arm" => ("arm", Some("v7")),
        "x86" => ("386", None),
        "powerpc64" => ("ppc64le", None),
        "s390x" => ("s390x", None),
        "riscv64" => ("riscv64", None),
        other => (other, None),
    }
}

fn sha256_hex(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

impl RegistryClient {
    /// A client for `repo` (`library/busybox`) on the registry of `domain`; nothing is sent
    /// before [`ping`](Self::ping). Fails when `/etc/docker/certs.d/<domain>/` is unusable.
    pub fn new(domain: &str, repo: &str, insecure: &[String], auth_header: Option<&str>) -> Result<RegistryClient, RegistryError> {
        // Docker Hub is always verified against the system roots alone.
        let official = domain == crate::reference::DEFAULT_DOMAIN;
        let host = if official { DOCKER_HUB_ENDPOINT } else { domain };
        let insecure = !official && is_insecure(domain, insecure);
        let trust = if insecure { transport::Trust::Skip } else { transport::Trust::Verify { certs_d: (!official).then_some(domain) } };
        let mut endpoints = transport::endpoints(host, insecure);
        let base = endpoints.remove(0);
        Ok(RegistryClient::with_agent(transport::agent(trust)?, base, endpoints, repo, auth_header))
    }

    /// A client for `repo` on a mirror of Docker Hub (`--registry-mirror`, a URL; `https://`
    /// when it names no scheme). The mirror is trusted as a registry of its host would be.
    pub fn for_mirror(mirror: &str, repo: &str, insecure: &[String], auth_header: Option<&str>) -> Result<RegistryClient, RegistryError> {
        let mut base = mirror.trim_end_matches('/').to_string();
        if !base.contains("://") {
            base = format!("https://{base}");
        }
        let host = base.split("://").nth(1).and_then(|r| r.split('/').next()).unwrap_or("").to_string();
        let trust = if is_insecure(&host, insecure) { transport::Trust::Skip } else { transport::Trust::Verify { certs_d: Some(&host) } };
        Ok(RegistryClient::with_agent(transport::agent(trust)?, base, Vec::new(), repo, auth_header))
    }

    fn with_agent(agent: ureq::Agent, base: String, fallbacks: Vec<String>, repo: &str, auth_header: Option<&str>) -> RegistryClient {
        RegistryClient { agent, base, fallbacks, repo: repo.to_string(), credentials: auth_header.and_then(decode_registry_auth), authorization: Mutex::new(None) }
    }

    /// The registry's base URL (`https://host`), for messages.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// GET with the current authorization; on a 401 challenge, authenticates once and retries.
    fn get(&self, url: &str, accept: Option<&str>) -> Result<ureq::Response, RegistryError> {
        self.get_with(url, accept, None)
    }

    fn get_with(&self, url: &str, accept: Option<&str>, range: Option<&str>) -> Result<ureq::Response, RegistryError> {
        let headers: Vec<(&str, &str)> = [("Accept", accept), ("Range", range)].into_iter().filter_map(|(k, v)| Some((k, v?))).collect();
        let mut retried = false;
        loop {
            let auth = self.authorization.lock().unwrap_or_else(|e| e.into_inner()).clone();
            match transport::get(&self.agent, url, &headers, auth.as_deref()) {
                Ok(resp) if transport::is_redirect(resp.status()) && resp.header("Location").is_some() => {
                    return Err(RegistryError::Transport(format!("Get \"{url}\": stopped after {} redirects", transport::MAX_REDIRECTS)));
                }
                Ok(resp) => return Ok(resp),
                Err(ureq::Error::Status(401, resp)) if !retried => {
                    let challenge = resp.header("WWW-Authenticate").unwrap_or("").to_string();
                    self.authenticate(&challenge)?;
                    retried = true;
                }
                Err(ureq::Error::Status(code, resp)) => return Err(status_error(code, resp, url)),
                Err(ureq::Error::Transport(t)) => return Err(RegistryError::Transport(transport::error_text("GET", url, &t))),
            }
        }
    }

    fn authenticate(&self, challenge: &str) -> Result<(), RegistryError> {
        let (scheme, params) = parse_challenge(challenge);
        let param = |k: &str| params.iter().find(|(pk, _)| pk.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
        let basic = self.credentials.as_ref().map(|(u, p)| format!("Basic {}", crate::base64::encode(format!("{u}:{p}").as_bytes())));
        let header = match scheme.as_str() {
            "bearer" => {
                let realm = param("realm").ok_or_else(|| RegistryError::Other(format!("bad WWW-Authenticate header: {challenge}")))?;
                // A login (no repository) asks for a token without scope, as Docker does.
                let scope = param("scope").or_else(|| (!self.repo.is_empty()).then(|| format!("repository:{}:pull", self.repo)));
                let mut query = Vec::new();
                if let Some(scope) = scope {
                    query.push(format!("scope={}", percent_encode(&scope)));
                }
                if let Some(service) = param("service") {
                    query.push(format!("service={}", percent_encode(&service)));
                }
                let sep = if realm.contains('?') { '&' } else { '?' };
                let url = if query.is_empty() { realm.clone() } else { format!("{realm}{sep}{}", query.join("&")) };
                let resp = transport::get(&self.agent, &url, &[], basic.as_deref()).map_err(|e| match e {
                    ureq::Error::Status(code, r) => {
                        let body = r.into_string().unwrap_or_default();
                        let text = registry_error_text(&body).map(|(_, t)| t).unwrap_or_else(|| format!("token server answered {code}"));
                        RegistryError::Unauthorized(text)
                    }
                    ureq::Error::Transport(t) => RegistryError::Other(transport::error_text("GET", &url, &t)),
                })?;
                let v: serde_json::Value = serde_json::from_str(&resp.into_string()?).map_err(|e| RegistryError::Other(format!("bad token response: {e}")))?;
                let token = v.get("token").or_else(|| v.get("access_token")).and_then(|t| t.as_str()).unwrap_or("");
                if token.is_empty() {
                    return Err(RegistryError::Unauthorized("token server returned no token".into()));
                }
                format!("Bearer {token}")
            }
            "basic" => basic.ok_or_else(|| RegistryError::Unauthorized("unauthorized: authentication required".into()))?,
            _ => return Err(RegistryError::Unauthorized(format!("unsupported authentication challenge: {challenge}"))),
        };
        *self.authorization.lock().unwrap_or_else(|e| e.into_inner()) = Some(header);
        Ok(())
    }

    /// GET /v2/: picks the first endpoint that answers over HTTP (insecure registries: HTTPS
    /// without verification, then plain HTTP, as Docker tries them) and checks it speaks API
    /// v2 (priming authentication). When none answers, the error is that of the endpoint
    /// Docker tries last (plain HTTP).
    pub fn ping(&mut self) -> Result<(), RegistryError> {
        let fell_back = !self.fallbacks.is_empty();
        let mut failures = Vec::new();
        loop {
            match self.get(&format!("{}/v2/", self.base), None) {
                Err(RegistryError::Transport(e)) if !self.fallbacks.is_empty() => {
                    failures.push((self.base.clone(), e));
                    self.base = self.fallbacks.remove(0);
                }
                Err(RegistryError::Transport(e)) => {
                    failures.push((self.base.clone(), e));
                    let last = failures.iter().position(|(b, _)| b.starts_with("http://")).unwrap_or(failures.len() - 1);
                    return Err(RegistryError::Transport(failures.swap_remove(last).1));
                }
                result => {
                    if fell_back {
                        transport::remember_scheme(&self.base);
                    }
                    self.fallbacks.clear();
                    return match result {
                        Err(RegistryError::Other(e)) => Err(RegistryError::Other(e)),
                        // A registry that wants credentials for /v2/ itself still speaks v2.
                        _ => Ok(()),
                    };
                }
            }
        }
    }

    /// `docker login`'s check: GET /v2/ with the client's credentials must succeed on the
    /// endpoint [`ping`](Self::ping) picks.
    pub fn check_login(&mut self) -> Result<(), RegistryError> {
        if self.credentials.is_none() {
            return Err(RegistryError::Unauthorized("unauthorized: no credentials".into()));
        }
        self.ping()?;
        self.get(&format!("{}/v2/", self.base), None).map(|_| ())
    }

    /// Fetches the manifest for `tag_or_digest` and, for an index, the one for this platform.
    pub fn manifest(&self, tag_or_digest: &str) -> Result<Manifest, RegistryError> {
        self.manifest_for(tag_or_digest, None)
    }

    /// Like [`manifest`](Self::manifest), choosing `platform` (`linux/arm64`, `linux/arm/v7`)
    /// from an index instead of this machine's.
    pub fn manifest_for(&self, tag_or_digest: &str, platform: Option<&Platform>) -> Result<Manifest, RegistryError> {
        let (bytes, media_type, digest) = self.fetch_manifest(tag_or_digest)?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| manifest_decode_error(&media_type, e))?;
        let media_type = v.get("mediaType").and_then(|m| m.as_str()).map(str::to_string).unwrap_or(media_type);
        if v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1) || media_type == MEDIA_DOCKER_SCHEMA1 || media_type == MEDIA_DOCKER_SCHEMA1_SIGNED {
            return Err(RegistryError::Other(
                "Docker Image manifest version 2, schema 1 is not supported: ask the image's author to push it in the OCI format or as Docker Image manifest v2, schema 2".into(),
            ));
        }
        if media_type == MEDIA_DOCKER_LIST || media_type == MEDIA_OCI_INDEX || v.get("manifests").is_some() {
            let wanted = platform.cloned().unwrap_or_else(Platform::host);
            let chosen = pick_platform_for(&v, &wanted)?;
            let (bytes, _, _) = self.fetch_manifest(&chosen)?;
            let inner: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| RegistryError::Other(format!("invalid manifest: {e}")))?;
            let mut m = parse_image_manifest(&inner)?;
            m.digest = digest;
            return Ok(m);
        }
        let mut m = parse_image_manifest(&v)?;
        m.digest = digest;
        Ok(m)
    }

    fn fetch_manifest(&self, reference: &str) -> Result<(Vec<u8>, String, String), RegistryError> {
        let accept = [MEDIA_DOCKER_MANIFEST, MEDIA_DOCKER_LIST, MEDIA_OCI_MANIFEST, MEDIA_OCI_INDEX].join(", ");
        let url = format!("{}/v2/{}/manifests/{}", self.base, self.repo, reference);
        let resp = self.get(&url, Some(&accept))?;
        let media_type = resp.content_type().to_string();
        let mut bytes = Vec::new();
        resp.into_reader().take(MAX_MANIFEST_BYTES).read_to_end(&mut bytes)?;
        let digest = format!("sha256:{}", sha256_hex(&bytes));
        if reference.contains(':') && reference != digest {
            return Err(RegistryError::Other(format!("manifest verification failed for digest {reference}")));
        }
        Ok((bytes, media_type, digest))
    }

    /// Streams the blob `digest`; the caller verifies it with [`VerifyingReader`].
    pub fn blob(&self, digest: &str) -> Result<Box<dyn Read + Send + Sync>, RegistryError> {
        let url = format!("{}/v2/{}/blobs/{}", self.base, self.repo, digest);
        Ok(self.get(&url, None)?.into_reader())
    }

    /// Streams the blob `digest` from byte `offset` on (a `Range` request); returns the body
    /// and the offset it starts at, which is 0 when the registry ignored the range.
    pub fn blob_from(&self, digest: &str, offset: u64) -> Result<(Box<dyn Read + Send + Sync>, u64), RegistryError> {
        let url = format!("{}/v2/{}/blobs/{}", self.base, self.repo, digest);
        if offset == 0 {
            return Ok((self.get(&url, None)?.into_reader(), 0));
        }
        let resp = self.get_with(&url, None, Some(&format!("bytes={offset}-")))?;
        let start = if resp.status() == 206 { offset } else { 0 };
        Ok((resp.into_reader(), start))
    }

    /// The repository's tags (`GET /v2/<name>/tags/list`), following the `Link` header of a
    /// registry that pages them.
    pub fn tags(&self) -> Result<Vec<String>, RegistryError> {
        let mut tags = Vec::new();
        let mut url = format!("{}/v2/{}/tags/list", self.base, self.repo);
        loop {
            let resp = self.get(&url, Some("application/json"))?;
            let next = resp.header("Link").and_then(|l| l.split_once('<')).and_then(|(_, rest)| rest.split_once('>')).map(|(target, _)| target.to_string());
            let mut bytes = Vec::new();
            resp.into_reader().take(MAX_MANIFEST_BYTES).read_to_end(&mut bytes)?;
            let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| RegistryError::Other(format!("invalid tag list: {e}")))?;
            tags.extend(v.get("tags").and_then(|t| t.as_array()).into_iter().flatten().filter_map(|t| t.as_str()).map(str::to_string));
            match next {
                Some(n) if n.starts_with("http://") || n.starts_with("https://") => url = n,
                Some(n) => url = format!("{}{n}", self.base),
                None => return Ok(tags),
            }
        }
    }

    /// Fetches a small blob (a config) whole, verifying its digest.
    pub fn blob_bytes(&self, digest: &str, limit: u64) -> Result<Vec<u8>, RegistryError> {
        let mut r = VerifyingReader::new(self.blob(digest)?.take(limit), digest);
        let mut bytes = Vec::new();
        r.read_to_end(&mut bytes)?;
        r.verify()?;
        Ok(bytes)
    }
}

/// A manifest body that is not JSON: Docker's words when the registry did not even call it a
/// manifest (its media type is none we know), else what is wrong with the JSON.
fn manifest_decode_error(content_type: &str, e: serde_json::Error) -> RegistryError {
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    let known = [MEDIA_DOCKER_MANIFEST, MEDIA_DOCKER_LIST, MEDIA_OCI_MANIFEST, MEDIA_OCI_INDEX, MEDIA_DOCKER_SCHEMA1, MEDIA_DOCKER_SCHEMA1_SIGNED];
    if known.contains(&media_type) {
        RegistryError::Other(format!("invalid manifest: {e}"))
    } else {
        RegistryError::Other(format!("unsupported manifest media type and no default available: {media_type}"))
    }
}

fn descriptor(v: &serde_json::Value) -> Option<Descriptor> {
    Some(Descriptor {
        media_type: v.get("mediaType").and_then(|m| m.as_str()).unwrap_or("").to_string(),
        digest: v.get("digest")?.as_str()?.to_string(),
        size: v.get("size").and_then(|s| s.as_u64()).unwrap_or(0),
    })
}

fn parse_image_manifest(v: &serde_json::Value) -> Result<Manifest, RegistryError> {
    let bad = || RegistryError::Other("invalid manifest: missing config or layers".into());
    let config = v.get("config").and_then(descriptor).ok_or_else(bad)?;
    let layers = v.get("layers").and_then(|l| l.as_array()).ok_or_else(bad)?.iter().map(descriptor).collect::<Option<Vec<_>>>().ok_or_else(bad)?;
    for d in std::iter::once(&config).chain(&layers) {
        crate::reference::validate_digest(&d.digest).map_err(|e| RegistryError::Other(format!("invalid manifest digest {}: {e}", d.digest)))?;
    }
    Ok(Manifest { digest: String::new(), config, layers })
}

/// An OS/architecture/variant triple, as `--platform` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn host() -> Platform {
        let (arch, variant) = host_platform();
        Platform { os: "linux".into(), architecture: arch.into(), variant: variant.map(str::to_string) }
    }

    /// Parses `linux/arm64`, `linux/arm/v7`, `arm64` or `linux`, normalising the aliases
    /// containerd's platforms package knows (aarch64, x86_64, armhf, armel, i386).
    pub fn parse(s: &str) -> Result<Platform, String> {
        let parts: Vec<String> = s.trim().to_lowercase().split('/').map(str::to_string).collect();
        let bad = || format!("\"{s}\": unknown operating system or architecture: invalid argument");
        let (os, arch, variant) = match parts.as_slice() {
            [one] if one == "linux" || one == "windows" || one == "darwin" => (one.clone(), host_platform().0.to_string(), None),
            [one] if !one.is_empty() => ("linux".to_string(), one.clone(), None),
            [os, arch] if !os.is_empty() && !arch.is_empty() => (os.clone(), arch.clone(), None),
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => (os.clone(), arch.clone(), Some(variant.clone())),
            _ => return Err(bad()),
        };
        let (architecture, variant) = match (arch.as_str(), variant) {
            ("aarch64" | "arm64", v) => ("arm64".to_string(), v.filter(|v| v != "v8")),
            ("x86_64" | "x86-64" | "amd64", v) => ("amd64".to_string(), v),
            ("i386" | "386", v) => ("386".to_string(), v),
            ("armhf", _) => ("arm".to_string(), Some("v7".to_string())),
            ("armel", _) => ("arm".to_string(), Some("v6".to_string())),
            ("arm", None) => ("arm".to_string(), Some("v7".to_string())),
            ("arm", Some(v)) => ("arm".to_string(), Some(if v.starts_with('v') { v } else { format!("v{v}") })),
            (a, v) => (a.to_string(), v),
        };
        Ok(Platform { os, architecture, variant })
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Picks this machine's entry of a manifest list / OCI index.
#[cfg(test)]
fn pick_platform(index: &serde_json::Value) -> Result<String, RegistryError> {
    pick_platform_for(index, &Platform::host())
}

/// Picks `wanted`'s entry of a manifest list / OCI index: same os and architecture, and the
/// same variant (arm64's `v8` and no variant are the same thing); an entry without variant
/// serves when none names the wanted one.
fn pick_platform_for(index: &serde_json::Value, wanted: &Platform) -> Result<String, RegistryError> {
    let arch = wanted.architecture.as_str();
    let os = wanted.os.as_str();
    let variant = wanted.variant.as_deref().filter(|v| !(arch == "arm64" && *v == "v8"));
    let entries = index.get("manifests").and_then(|m| m.as_array()).cloned().unwrap_or_default();
    let matching: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| {
            let p = e.get("platform");
            let a = p.and_then(|p| p.get("architecture")).and_then(|o| o.as_str());
            p.and_then(|p| p.get("os")).and_then(|o| o.as_str()) == Some(os) && a == Some(arch)
        })
        .collect();
    let variant_of = |e: &serde_json::Value| {
        let v = e.get("platform").and_then(|p| p.get("variant")).and_then(|v| v.as_str()).map(str::to_string);
        if arch == "arm64" {
            v.filter(|v| v != "v8")
        } else {
            v
        }
    };
    let best = matching.iter().find(|e| variant_of(e).as_deref() == variant).or_else(|| matching.iter().find(|e| variant_of(e).is_none()));
    // Without an explicit variant any entry of the architecture will do (arm picks its newest).
    let best = best.or_else(|| if variant.is_none() { matching.first() } else { None });
    best.and_then(|e| e.get("digest")).and_then(|d| d.as_str()).map(str::to_string).ok_or_else(|| {
        RegistryError::Other(format!("no matching manifest for {wanted} in the manifest list entries"))
    })
}

/// Hashes what passes through so a blob can be checked against its digest at the end.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    expected: String,
    pub count: u64,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected: &str) -> Self {
        VerifyingReader { inner, hasher: Sha256::new(), expected: expected.to_string(), count: 0 }
    }

    /// Whether the bytes read so far have the expected digest.
    pub fn verify(self) -> io::Result<()> {
        let got = format!("sha256:{:x}", self.hasher.finalize());
        if got != self.expected {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("filesystem layer verification failed for digest {}", self.expected)));
        }
        Ok(())
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

mod push;
mod transport;
pub use push::{MountResult, PUSH_CHUNK_SIZE};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let (s, p) = parse_challenge(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#);
        assert_eq!(s, "bearer");
        assert_eq!(p[0], ("realm".into(), "https://auth.docker.io/token".into()));
        assert_eq!(p[2], ("scope".into(), "repository:library/busybox:pull".into()));
    }

    #[test]
    fn insecure_rules() {
        assert!(is_insecure("127.0.0.1:5000", &[]));
        assert!(is_insecure("localhost:5000", &[]));
        assert!(is_insecure("[::1]:5000", &[]));
        assert!(!is_insecure("10.1.2.3:5000", &[]));
        assert!(is_insecure("10.1.2.3:5000", &["10.0.0.0/8".into()]));
        assert!(is_insecure("myreg:5000", &["myreg:5000".into()]));
    }

    #[test]
    fn base64_round_trip_and_auth_header() {
        let json = r#"{"username":"u","password":"p:w"}"#;
        let enc = crate::base64::encode(json.as_bytes()).replace('+', "-").replace('/', "_").trim_end_matches('=').to_string();
        assert_eq!(decode_registry_auth(&enc), Some(("u".into(), "p:w".into())));
        assert_eq!(crate::base64::decode(&crate::base64::encode(b"ab")).unwrap(), b"ab");
    }

    #[test]
    fn index_entry_for_this_platform_is_chosen() {
        let (arch, variant) = host_platform();
        let index = serde_json::json!({"manifests": [
            {"digest": "sha256:windows", "platform": {"os": "windows", "architecture": arch}},
            {"digest": "sha256:other", "platform": {"os": "linux", "architecture": "mips64le"}},
            {"digest": "sha256:odd-variant", "platform": {"os": "linux", "architecture": arch, "variant": "v0"}},
            {"digest": "sha256:mine", "platform": {"os": "linux", "architecture": arch, "variant": variant}},
        ]});
        assert_eq!(pick_platform(&index).unwrap(), "sha256:mine");
        let none = serde_json::json!({"manifests": [{"digest": "sha256:x", "platform": {"os": "linux", "architecture": "mips64le"}}]});
        assert!(matches!(pick_platform(&none), Err(RegistryError::Other(m)) if m.starts_with("no matching manifest for linux/")));
    }

    #[test]
    fn platforms_parse_and_choose_variants() {
        assert_eq!(Platform::parse("linux/arm64/v8").unwrap().to_string(), "linux/arm64");
        assert_eq!(Platform::parse("aarch64").unwrap().to_string(), "linux/arm64");
        assert_eq!(Platform::parse("linux/arm").unwrap().to_string(), "linux/arm/v7");
        assert_eq!(Platform::parse("linux/arm/6").unwrap().to_string(), "linux/arm/v6");
        assert_eq!(Platform::parse("linux/x86_64").unwrap().to_string(), "linux/amd64");
        assert!(Platform::parse("linux/a/b/c").is_err());
        let index = serde_json::json!({"manifests": [
            {"digest": "sha256:amd64", "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": "sha256:v6", "platform": {"os": "linux", "architecture": "arm", "variant": "v6"}},
            {"digest": "sha256:v7", "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
            {"digest": "sha256:arm64", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        ]});
        let pick = |p: &str| pick_platform_for(&index, &Platform::parse(p).unwrap()).map_err(|e| e.to_string());
        assert_eq!(pick("linux/arm/v6").unwrap(), "sha256:v6");
        assert_eq!(pick("linux/arm/v7").unwrap(), "sha256:v7");
        assert_eq!(pick("linux/arm64").unwrap(), "sha256:arm64");
        assert_eq!(pick("linux/arm64/v8").unwrap(), "sha256:arm64");
        assert_eq!(pick("linux/amd64").unwrap(), "sha256:amd64");
        assert_eq!(pick("linux/s390x").unwrap_err(), "no matching manifest for linux/s390x in the manifest list entries");
    }

    #[test]
    fn registry_errors_read_as_docker_prints_them() {
        let body = r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#;
        assert_eq!(registry_error_text(body).unwrap().1, "manifest unknown: manifest unknown");
    }
}
