//! Registry credentials as the docker CLI keeps them: `~/.docker/config.json`'s `auths`
//! (base64 `user:password` per registry), and the X-Registry-Auth header built from them.

use serde_json::{json, Value};
use std::io;
use std::path::PathBuf;

/// The key Docker uses for Docker Hub in `auths`.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The registry domain a `docker login` argument names: `docker.io` for nothing or any of
/// Docker Hub's spellings, else the host[:port] without scheme or path.
pub fn registry_domain(server: &str) -> String {
    let s = server.trim();
    let s = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s);
    let host = s.split('/').next().unwrap_or("");
    match host {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => crate::reference::DEFAULT_DOMAIN.to_string(),
        h => h.to_string(),
    }
}

/// The `auths` key for a domain.
fn config_key(domain: &str) -> String {
    if domain == crate::reference::DEFAULT_DOMAIN {
        DOCKER_HUB_KEY.to_string()
    } else {
        domain.to_string()
    }
}

/// `$DOCKER_CONFIG/config.json`, or `~/.docker/config.json`.
pub fn config_file() -> PathBuf {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".docker"));
    dir.join("config.json")
}

fn load_config() -> io::Result<Value> {
    match std::fs::read(config_file()) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", config_file().display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(e),
    }
}

fn save_config(v: &Value) -> io::Result<()> {
    let path = config_file();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_vec_pretty(v).map_err(io::Error::other)?;
    crate::sys::write_atomic(&path, &text)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
}

/// The stored user and password for `domain`, if any.
pub fn load_credentials(domain: &str) -> Option<(String, String)> {
    let config = load_config().ok()?;
    let auths = config.get("auths")?;
    let key = config_key(domain);
    // Docker also accepts keys written with a scheme (`https://host`).
    let entry = auths.get(&key).or_else(|| auths.as_object()?.iter().find(|(k, _)| registry_domain(k) == domain).map(|(_, v)| v))?;
    let decoded = crate::base64::decode(entry.get("auth")?.as_str()?)?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// Records credentials for `domain` (what `docker login` does after the daemon accepted them).
pub fn store_credentials(domain: &str, user: &str, password: &str) -> io::Result<()> {
    let mut config = load_config()?;
    if !config.is_object() {
        config = json!({});
    }
    if !config.get("auths").is_some_and(|a| a.is_object()) {
        config["auths"] = json!({});
    }
    config["auths"][config_key(domain)] = json!({ "auth": crate::base64::encode(format!("{user}:{password}").as_bytes()) });
    save_config(&config)
}

/// Forgets the credentials for `domain`; returns whether there were any.
pub fn remove_credentials(domain: &str) -> io::Result<bool> {
    let mut config = load_config()?;
    let Some(auths) = config.get_mut("auths").and_then(|a| a.as_object_mut()) else { return Ok(false) };
    let keys: Vec<String> = auths.keys().filter(|k| **k == config_key(domain) || registry_domain(k) == domain).cloned().collect();
    for k in &keys {
        auths.remove(k);
    }
    if !keys.is_empty() {
        save_config(&config)?;
    }
    Ok(!keys.is_empty())
}

/// The X-Registry-Auth value the docker CLI sends: base64url of the JSON auth config.
pub fn encode_registry_auth(user: &str, password: &str, server: &str) -> String {
    let body = json!({ "username": user, "password": password, "serveraddress": server });
    crate::base64::encode(body.to_string().as_bytes()).replace('+', "-").replace('/', "_")
}

/// The X-Registry-Auth header for an image on `domain`: stored credentials, or `{}`.
pub fn registry_auth_header(domain: &str) -> String {
    match load_credentials(domain) {
        Some((u, p)) => encode_registry_auth(&u, &p, &config_key(domain)),
        None => "e30=".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_of_login_arguments() {
        assert_eq!(registry_domain(""), "docker.io");
        assert_eq!(registry_domain("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_domain("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
        assert_eq!(registry_domain("myreg:5000"), "myreg:5000");
    }

    #[test]
    fn header_decodes_back() {
        let h = encode_registry_auth("me", "s3cret/+?", "127.0.0.1:5000");
        assert!(!h.contains('+') && !h.contains('/'));
        assert_eq!(crate::registry::decode_registry_auth(&h), Some(("me".into(), "s3cret/+?".into())));
    }
}
