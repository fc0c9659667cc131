//! Image references: parsing and normalising names as Docker does
//! (`busybox` → `docker.io/library/busybox:latest`).

use std::fmt;

pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
pub const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A normalized image reference: `domain/path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// A reference that does not parse; its text is Docker's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceError(pub String);

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReferenceError {}

fn invalid() -> ReferenceError {
    ReferenceError("invalid reference format".into())
}

impl Reference {
    /// Parses a name as the docker CLI accepts it, filling in Docker Hub's domain and the
    /// `library/` prefix of official images. No default tag is added.
    pub fn parse_normalized(s: &str) -> Result<Reference, ReferenceError> {
        if s.len() == 64 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ReferenceError(format!("invalid repository name ({s}), cannot specify 64-byte hexadecimal strings")));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = remainder.split(':').next().unwrap_or("");
        if remote.to_lowercase() != remote {
            return Err(ReferenceError(format!("invalid reference format: repository name ({remote}) must be lowercase")));
        }
        Self::parse(&format!("{domain}/{remainder}"))
    }

    /// Parses a fully qualified reference (`domain/path[:tag][@digest]`).
    fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(d)),
            None => (s, None),
        };
        let last_slash = rest.rfind('/').ok_or_else(invalid)?;
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        let (domain, path) = name.split_once('/').ok_or_else(invalid)?;
        let components_ok = valid_domain(domain) && path.split('/').all(valid_path_component);
        let tag_ok = tag.is_none_or(valid_tag);
        let digest_ok = digest.is_none_or(digest_matches_grammar);
        if !(components_ok && tag_ok && digest_ok) {
            let lowered = s.to_lowercase();
            if lowered != s && Self::parse(&lowered).is_ok() {
                return Err(ReferenceError("repository name must be lowercase".into()));
            }
            return Err(invalid());
        }
        if name.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError(format!("repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")));
        }
        if let Some(d) = digest {
            validate_digest(d)?;
        }
        Ok(Reference {
            domain: domain.to_string(),
            path: path.to_string(),
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// Adds the tag `latest` when the reference names neither a tag nor a digest.
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// `docker.io/library/busybox`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The short name users type: `busybox`, `user/app`, `127.0.0.1:5000/hello-world`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.repository()
        }
    }

    /// The familiar name with tag and digest: `busybox:latest`.
    pub fn familiar_string(&self) -> String {
        with_suffixes(self.familiar_name(), self)
    }

    /// The path the registry knows the repository by (`library/busybox`).
    pub fn remote_name(&self) -> &str {
        &self.path
    }
}

fn with_suffixes(mut s: String, r: &Reference) -> String {
    if let Some(t) = &r.tag {
        s.push(':');
        s.push_str(t);
    }
    if let Some(d) = &r.digest {
        s.push('@');
        s.push_str(d);
    }
    s
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&with_suffixes(self.repository(), self))
    }
}

/// Splits off the registry host: the first component is a host only if it looks like one
/// (has a dot or a port, is `localhost`, or has capitals, which repository names cannot).
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first == "localhost" || first.to_lowercase() != first =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
    }
    (domain, remainder)
}

/// `host[:port]` where host is dot-separated labels or a bracketed IPv6 address.
fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else { return false };
        if v6.is_empty() || !v6.bytes().all(|c| c.is_ascii_hexdigit() || c == b':') {
            return false;
        }
        match after.strip_prefix(':') {
            Some(p) => ("ok", Some(p)),
            None if after.is_empty() => ("ok", None),
            None => return false,
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or any number of `-`.
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_lower_alnum(b[0]) || !is_lower_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_lower_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_lower_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|s| s == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// `[\w][\w.-]{0,127}`.
fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty() && b.len() <= 128 && is_word(b[0]) && b.iter().all(|c| is_word(*c) || *c == b'.' || *c == b'-')
}

/// `algorithm:hex` with at least 32 hex digits (the grammar; [`validate_digest`] checks more).
fn digest_matches_grammar(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else { return false };
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|part| {
        let b = part.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(|c| c.is_ascii_alphanumeric())
    });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|c| c.is_ascii_hexdigit())
}

/// The digest checks of the OCI go-digest package Docker uses.
pub fn validate_digest(d: &str) -> Result<(), ReferenceError> {
    let Some((alg, hex)) = d.split_once(':') else {
        return Err(ReferenceError("invalid checksum digest format".into()));
    };
    let want = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(ReferenceError("unsupported digest algorithm".into())),
    };
    if hex.len() != want {
        return Err(ReferenceError("invalid checksum digest length".into()));
    }
    if !hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(ReferenceError("invalid checksum digest format".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_docker_hub_names() {
        let r = Reference::parse_normalized("busybox").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox");
        assert_eq!(r.clone().with_default_tag().to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.with_default_tag().familiar_string(), "busybox:latest");
        let r = Reference::parse_normalized("index.docker.io/user/app:1.0").unwrap();
        assert_eq!(r.repository(), "docker.io/user/app");
        assert_eq!(r.familiar_string(), "user/app:1.0");
    }
}
