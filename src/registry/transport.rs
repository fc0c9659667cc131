//! How dockerd reaches a registry, as Docker does: the endpoints to try (HTTPS; then plain
//! HTTP for an insecure registry), the TLS trust for each (the system roots found the way Go
//! finds them, plus the CAs and client certificates of `/etc/docker/certs.d/<host[:port]>/`,
//! or no verification at all for an insecure registry), and transport errors worded as Go's.

use super::RegistryError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Where Docker looks for per-registry CAs and client certificates.
const CERTS_DIR: &str = "/etc/docker/certs.d";

/// The bundle files Go's crypto/x509 tries on Linux, in its order; the first that exists wins.
const SYSTEM_BUNDLES: [&str; 6] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The directories Go's crypto/x509 reads on Linux besides the bundle.
const SYSTEM_CERT_DIRS: [&str; 2] = ["/etc/ssl/certs", "/etc/pki/tls/certs"];

/// Go's http.Transport (Docker's registry transport keeps it) gives up on a TLS handshake
/// after 10 s; without this a server that never answers one would hold a pull for the whole
/// read timeout.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a registry's certificate is checked.
pub(super) enum Trust<'a> {
    /// Against the system roots plus the CAs of `certs.d/<host>` when `certs_d` names a host
    /// (whose client certificates are offered too).
    Verify { certs_d: Option<&'a str> },
    /// Not at all (`--insecure-registry`, loopback): Docker sets InsecureSkipVerify.
    Skip,
}

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())).clone()
}

/// The HTTP agent for a registry trusted as `trust`. Every endpoint of one registry (HTTPS
/// and plain HTTP) and every redirect from it share the registry's TLS settings, as the one Go
/// transport Docker builds per endpoint does.
pub(super) fn agent(trust: Trust<'_>) -> Result<ureq::Agent, RegistryError> {
    let config = Arc::new(client_config(trust)?);
    Ok(ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(15))
        .timeout_read(Duration::from_secs(120))
        .user_agent(&format!("dockbox/{}", crate::version::DOCKBOX))
        // [`get`] follows redirects itself, to decide where credentials go.
        .redirects(0)
        .tls_connector(Arc::new(HandshakeTimeout(config)))
        .build())
}

fn client_config(trust: Trust<'_>) -> Result<ClientConfig, RegistryError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .map_err(|e| RegistryError::Other(format!("tls: {e}")))?;
    match trust {
        Trust::Skip => Ok(builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerification(provider()))).with_no_client_auth()),
        Trust::Verify { certs_d } => {
            let mut roots = system_roots().clone();
            let mut client_keys = Vec::new();
            if let Some(host) = certs_d {
                read_certs_dir(&Path::new(CERTS_DIR).join(host), &mut roots, &mut client_keys)?;
            }
            let builder = builder.with_root_certificates(roots);
            Ok(if client_keys.is_empty() { builder.with_no_client_auth() } else { builder.with_client_cert_resolver(Arc::new(ClientCertificates(client_keys))) })
        }
    }
}

/// The system roots, read once per process as Go does: `SSL_CERT_FILE` or the first bundle
/// of [`SYSTEM_BUNDLES`] that exists, plus every file of `SSL_CERT_DIR` (colon-separated) or
/// of [`SYSTEM_CERT_DIRS`]. A host with none at all (a bare embedded root filesystem) gets the
/// Mozilla roots built into the binary instead, so Docker Hub still works there.
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let bundles: Vec<String> = match env("SSL_CERT_FILE") {
            Some(f) => vec![f],
            None => SYSTEM_BUNDLES.iter().map(|s| s.to_string()).collect(),
        };
        let dirs: Vec<String> = match env("SSL_CERT_DIR") {
            Some(d) => d.split(':').map(str::to_string).collect(),
            None => SYSTEM_CERT_DIRS.iter().map(|s| s.to_string()).collect(),
        };
        let mut pool = CertPool::new();
        if let Some(data) = bundles.iter().find_map(|f| std::fs::read(f).ok()) {
            pool.add_pem(&data);
        }
        for dir in &dirs {
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for path in paths {
                // Hash links (`5ed36f99.0 -> ISRG_Root_X1.pem`) repeat a file of the same
                // directory; Go skips them too.
                if std::fs::read_link(&path).is_ok_and(|t| t.components().count() == 1) {
                    continue;
                }
                if let Ok(data) = std::fs::read(&path) {
                    pool.add_pem(&data);
                }
            }
        }
        if pool.roots.is_empty() {
            pool.roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        pool.roots
    })
}

/// Roots without duplicates (a bundle and the directory it was built from hold the same CAs).
struct CertPool {
    roots: RootCertStore,
    seen: HashSet<Vec<u8>>,
}

impl CertPool {
    fn new() -> CertPool {
        CertPool { roots: RootCertStore::empty(), seen: HashSet::new() }
    }

    /// Adds every parsable certificate of a PEM file, skipping anything else, as Go's
    /// AppendCertsFromPEM does.
    fn add_pem(&mut self, data: &[u8]) {
        for cert in CertificateDer::pem_slice_iter(data).filter_map(Result::ok) {
            if self.seen.insert(cert.to_vec()) {
                let _ = self.roots.add(cert);
            }
        }
    }
}

/// Reads Docker's per-registry directory: each `*.crt` is a CA added to `roots`; each
/// `*.cert` with the `*.key` of the same name is a client certificate. A certificate without
/// its key, or a key without its certificate, is refused as Docker refuses it.
fn read_certs_dir(dir: &Path, roots: &mut RootCertStore, client_keys: &mut Vec<Arc<CertifiedKey>>) -> Result<(), RegistryError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(RegistryError::Other(format!("open {}: {}", dir.display(), go_cause(&e.to_string())))),
    };
    let mut names: Vec<String> = entries.flatten().filter_map(|e| e.file_name().into_string().ok()).collect();
    names.sort();
    let has = |name: &str| names.iter().any(|n| n == name);
    for name in &names {
        let path = dir.join(name);
        if name.ends_with(".crt") {
            let data = std::fs::read(&path).map_err(|e| RegistryError::Other(format!("open {}: {}", path.display(), go_cause(&e.to_string()))))?;
            for cert in CertificateDer::pem_slice_iter(&data).filter_map(Result::ok) {
                let _ = roots.add(cert);
            }
        } else if let Some(stem) = name.strip_suffix(".cert") {
            let key_name = format!("{stem}.key");
            if !has(&key_name) {
                return Err(RegistryError::Other(format!("missing key {key_name} for client certificate {name}. CA certificates must use the extension .crt")));
            }
            client_keys.push(Arc::new(load_key_pair(&path, &dir.join(&key_name))?));
        } else if let Some(stem) = name.strip_suffix(".key") {
            let cert_name = format!("{stem}.cert");
            if !has(&cert_name) {
                return Err(RegistryError::Other(format!("missing client certificate {cert_name} for key {name}")));
            }
        }
    }
    Ok(())
}

/// A client certificate chain and its private key, checked to belong together.
fn load_key_pair(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, RegistryError> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| RegistryError::Other(format!("open {}: {}", p.display(), go_cause(&e.to_string()))));
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert_path)?).filter_map(Result::ok).collect();
    if chain.is_empty() {
        return Err(RegistryError::Other("tls: failed to find any PEM data in certificate input".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(key_path)?).map_err(|_| RegistryError::Other("tls: failed to find any PEM data in key input".into()))?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => RegistryError::Other("tls: private key does not match public key".into()),
        e => RegistryError::Other(format!("tls: failed to parse private key: {e}")),
    })
}

/// Offers the first client certificate whose key can sign with a scheme the server accepts
/// (Go picks the same way among several).
#[derive(Debug)]
struct ClientCertificates(Vec<Arc<CertifiedKey>>);

impl ResolvesClientCert for ClientCertificates {
    fn resolve(&self, _root_hint_subjects: &[&[u8]], sigschemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.0.iter().find(|k| k.key.choose_scheme(sigschemes).is_some()).cloned()
    }

    fn has_certs(&self) -> bool {
        !self.0.is_empty()
    }
}

/// Accepts any certificate (InsecureSkipVerify), but still checks that the server's
/// handshake signatures are made by the key of the certificate it sent, as Go does.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(&self, _end_entity: &CertificateDer<'_>, _intermediates: &[CertificateDer<'_>], _server_name: &ServerName<'_>, _ocsp: &[u8], _now: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// ureq's rustls connector with Go's handshake time limit; the socket gets its read timeout
/// back once the handshake is done.
struct HandshakeTimeout(Arc<ClientConfig>);

impl ureq::TlsConnector for HandshakeTimeout {
    fn connect(&self, dns_name: &str, io: Box<dyn ureq::ReadWrite>) -> Result<Box<dyn ureq::ReadWrite>, ureq::Error> {
        let read_timeout = io.socket().and_then(|s| s.read_timeout().ok().flatten());
        if let Some(s) = io.socket() {
            let _ = s.set_read_timeout(Some(TLS_HANDSHAKE_TIMEOUT));
        }
        let stream = self.0.connect(dns_name, io)?;
        if let Some(s) = stream.socket() {
            let _ = s.set_read_timeout(read_timeout);
        }
        Ok(stream)
    }
}

/// Go's http.Client gives up after this many redirects.
pub(super) const MAX_REDIRECTS: usize = 10;

pub(super) fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// GET `url` with `headers`, following redirects. `authorization` goes only to the scheme,
/// host and port of `url`: Docker attaches registry credentials per endpoint (the
/// host:port it pinged), so a blob redirected to a storage host, even on another port of
/// the same host, never sees them (S3-style storage also refuses a request that carries both
/// a presigned URL and an Authorization header). After [`MAX_REDIRECTS`] redirects the last
/// one is returned as it is.
// The error is ureq's own, handed straight to callers that match on it.
#[allow(clippy::result_large_err)]
pub(super) fn get(agent: &ureq::Agent, url: &str, headers: &[(&str, &str)], authorization: Option<&str>) -> Result<ureq::Response, ureq::Error> {
    let origin = origin_of(url);
    let mut url = url.to_string();
    let mut redirects = 0;
    loop {
        let mut req = agent.get(&url);
        for (k, v) in headers {
            req = req.set(k, v);
        }
        if let Some(a) = authorization.filter(|_| origin_of(&url) == origin) {
            req = req.set("Authorization", a);
        }
        let resp = req.call()?;
        match resp.header("Location") {
            Some(location) if is_redirect(resp.status()) && redirects < MAX_REDIRECTS => {
                url = resolve_location(&url, location);
                redirects += 1;
            }
            _ => return Ok(resp),
        }
    }
}

/// `(scheme, host, port)` of a URL, the port defaulted from the scheme.
fn origin_of(url: &str) -> (String, String, u16) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map(|(_, a)| a).unwrap_or(authority);
    let default_port = if scheme == "https" { 443 } else { 80 };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, p.parse().unwrap_or(default_port)),
        _ => (authority, default_port),
    };
    (scheme, host.to_ascii_lowercase(), port)
}

/// A redirect's `Location` made absolute against the URL that answered with it.
fn resolve_location(base: &str, location: &str) -> String {
    let is_scheme = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if location.split_once("://").is_some_and(|(s, _)| is_scheme(s)) {
        return location.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if let Some(l) = location.strip_prefix("//") {
        return format!("{scheme}://{l}");
    }
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let path = rest[authority.len()..].split(['?', '#']).next().unwrap_or("");
    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    format!("{scheme}://{authority}{dir}/{location}")
}

/// Hosts (`host[:port]`) of insecure registries that answered over plain HTTP: this daemon
/// tries HTTP first for them from then on, instead of paying for a failed HTTPS attempt on
/// every pull.
fn plain_http_hosts() -> &'static Mutex<HashSet<String>> {
    static HOSTS: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    HOSTS.get_or_init(Default::default)
}

/// The base URLs to try for `host`, in order: `https://host` only for a secure registry;
/// HTTPS then plain HTTP for an insecure one (Docker's order), or the other way round once
/// this daemon has seen it answer over HTTP.
pub(super) fn endpoints(host: &str, insecure: bool) -> Vec<String> {
    let https = format!("https://{host}");
    if !insecure {
        return vec![https];
    }
    let http = format!("http://{host}");
    if plain_http_hosts().lock().unwrap_or_else(|e| e.into_inner()).contains(host) {
        vec![http, https]
    } else {
        vec![https, http]
    }
}

/// Records which scheme `base` (`http://host` or `https://host`) answered with.
pub(super) fn remember_scheme(base: &str) {
    let mut hosts = plain_http_hosts().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(host) = base.strip_prefix("http://") {
        hosts.insert(host.to_string());
    } else if let Some(host) = base.strip_prefix("https://") {
        hosts.remove(host);
    }
}

/// A transport failure worded like Go's net/http errors, which Docker passes through:
/// `Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused`,
/// `Get "https://10.0.0.1:5000/v2/": tls: failed to verify certificate: x509: certificate
/// signed by unknown authority`.
pub(super) fn error_text(method: &str, url: &str, t: &ureq::Transport) -> String {
    let method = capitalized(method);
    let host = url.split("://").nth(1).and_then(|r| r.split('/').next()).unwrap_or("");
    let io_error = std::error::Error::source(t).and_then(|s| s.downcast_ref::<std::io::Error>());
    if let Some(tls) = rustls_error(t) {
        return format!("{method} \"{url}\": {}", tls_text(tls, super::host_of(host)));
    }
    if t.message() == Some("tls connection init failed") {
        let cause = match io_error.map(|e| e.kind()) {
            Some(std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => "net/http: TLS handshake timeout".to_string(),
            Some(std::io::ErrorKind::UnexpectedEof) => "EOF".to_string(),
            _ => io_error.map(|e| go_cause(&e.to_string())).unwrap_or_else(|| "EOF".into()),
        };
        return format!("{method} \"{url}\": {cause}");
    }
    let mut cause = None;
    let mut source = std::error::Error::source(t);
    while let Some(s) = source {
        cause = Some(s.to_string());
        source = s.source();
    }
    let cause = cause.map(|c| go_cause(&c));
    match (t.kind(), cause) {
        (ureq::ErrorKind::ConnectionFailed, Some(c)) => format!("{method} \"{url}\": dial tcp {host}: connect: {c}"),
        (ureq::ErrorKind::Dns, Some(c)) => format!("{method} \"{url}\": dial tcp: lookup {host}: {c}"),
        (_, Some(c)) => format!("{method} \"{url}\": {}: {c}", t.message().unwrap_or("transport error")),
        (_, None) => format!("{method} \"{url}\": {t}"),
    }
}

/// The TLS failure behind a transport error, however deep ureq and std::io wrapped it (an
/// io::Error hides what it wraps from `source()`).
fn rustls_error(t: &ureq::Transport) -> Option<&rustls::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(t);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// An OS error's text as Go prints it: no `(os error N)`, first letter lowercase.
fn go_cause(c: &str) -> String {
    let c = c.split(" (os error").next().unwrap_or(c);
    let mut chars = c.chars();
    chars.next().map(|f| f.to_lowercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}

fn capitalized(method: &str) -> String {
    let lower = method.to_lowercase();
    let mut c = lower.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// A TLS failure in Go's words (crypto/tls, crypto/x509, net/http).
fn tls_text(e: &rustls::Error, host: &str) -> String {
    use rustls::{AlertDescription as A, Error as E, InvalidMessage};
    match e {
        E::InvalidCertificate(c) => format!("tls: failed to verify certificate: {}", x509_text(c, host)),
        // A plain HTTP server answers the ClientHello with "HTTP/1.1 400": not a TLS record.
        E::InvalidMessage(InvalidMessage::InvalidContentType) => "http: server gave HTTP response to HTTPS client".into(),
        E::AlertReceived(alert) => {
            let text = match alert {
                A::BadCertificate => "bad certificate".to_string(),
                A::CertificateRequired => "certificate required".into(),
                A::UnknownCA => "unknown certificate authority".into(),
                A::HandshakeFailure => "handshake failure".into(),
                A::ProtocolVersion => "protocol version not supported".into(),
                A::CertificateUnknown => "unknown certificate".into(),
                A::CertificateExpired => "expired certificate".into(),
                A::CertificateRevoked => "revoked certificate".into(),
                A::UnsupportedCertificate => "unsupported certificate".into(),
                A::AccessDenied => "access denied".into(),
                A::DecryptError => "error decrypting message".into(),
                A::DecodeError => "error decoding message".into(),
                A::InternalError => "internal error".into(),
                A::IllegalParameter => "illegal parameter".into(),
                A::UnrecognisedName => "unrecognized name".into(),
                other => format!("alert({})", u8::from(*other)),
            };
            format!("remote error: tls: {text}")
        }
        other => format!("tls: {}", go_cause(&other.to_string())),
    }
}

/// A certificate failure in crypto/x509's words.
fn x509_text(c: &rustls::CertificateError, host: &str) -> String {
    use rustls::CertificateError as C;
    let time = |t: &UnixTime| crate::sys::rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(t.as_secs()));
    match c {
        C::UnknownIssuer | C::BadSignature => "x509: certificate signed by unknown authority".into(),
        C::NotValidForNameContext { presented, .. } => {
            let is_ip = |s: &String| s.parse::<std::net::IpAddr>().is_ok();
            if host.parse::<std::net::IpAddr>().is_ok() {
                let ips: Vec<&str> = presented.iter().filter(|s| is_ip(s)).map(String::as_str).collect();
                if ips.is_empty() {
                    return format!("x509: cannot validate certificate for {host} because it doesn't contain any IP SANs");
                }
                return format!("x509: certificate is valid for {}, not {host}", ips.join(", "));
            }
            let names: Vec<&str> = presented.iter().filter(|s| !is_ip(s)).map(String::as_str).collect();
            if names.is_empty() {
                return format!("x509: certificate is not valid for any names, but wanted to match {host}");
            }
            format!("x509: certificate is valid for {}, not {host}", names.join(", "))
        }
        C::NotValidForName => format!("x509: certificate is not valid for any names, but wanted to match {host}"),
        C::ExpiredContext { time: now, not_after } => format!("x509: certificate has expired or is not yet valid: current time {} is after {}", time(now), time(not_after)),
        C::NotValidYetContext { time: now, not_before } => format!("x509: certificate has expired or is not yet valid: current time {} is before {}", time(now), time(not_before)),
        C::Expired | C::NotValidYet => "x509: certificate has expired or is not yet valid".into(),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => "x509: certificate specifies an incompatible key usage".into(),
        other => format!("x509: {}", go_cause(&rustls::Error::InvalidCertificate(other.clone()).to_string().replace("invalid peer certificate: ", ""))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_failures_read_as_go_prints_them() {
        let unknown = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert_eq!(tls_text(&unknown, "10.0.0.1"), "tls: failed to verify certificate: x509: certificate signed by unknown authority");
        let wrong_ip = rustls::CertificateError::NotValidForNameContext { expected: ServerName::try_from("10.0.0.2").unwrap().to_owned(), presented: vec!["10.0.0.1".into(), "reg.example".into()] };
        assert_eq!(x509_text(&wrong_ip, "10.0.0.2"), "x509: certificate is valid for 10.0.0.1, not 10.0.0.2");
        let no_ip = rustls::CertificateError::NotValidForNameContext { expected: ServerName::try_from("10.0.0.2").unwrap().to_owned(), presented: vec!["reg.example".into()] };
        assert_eq!(x509_text(&no_ip, "10.0.0.2"), "x509: cannot validate certificate for 10.0.0.2 because it doesn't contain any IP SANs");
        let expired = rustls::CertificateError::ExpiredContext { time: UnixTime::since_unix_epoch(Duration::from_secs(1_700_000_000)), not_after: UnixTime::since_unix_epoch(Duration::from_secs(1_600_000_000)) };
        assert_eq!(x509_text(&expired, "h"), "x509: certificate has expired or is not yet valid: current time 2023-11-14T22:13:20Z is after 2020-09-13T12:26:40Z");
        let http = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert_eq!(tls_text(&http, "h"), "http: server gave HTTP response to HTTPS client");
        assert_eq!(tls_text(&rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired), "h"), "remote error: tls: certificate required");
    }

    #[test]
    fn redirects_resolve_and_credentials_stay_with_their_endpoint() {
        assert_eq!(resolve_location("http://127.0.0.1:5000/v2/a/blobs/x", "http://localhost:9000/b?sig=1"), "http://localhost:9000/b?sig=1");
        assert_eq!(resolve_location("https://reg/v2/a/blobs/x", "/storage/x"), "https://reg/storage/x");
        assert_eq!(resolve_location("https://reg/v2/a/blobs/x", "//cdn.example/x"), "https://cdn.example/x");
        assert_eq!(resolve_location("https://reg/v2/a/blobs/x?y=1", "other"), "https://reg/v2/a/blobs/other");
        assert_eq!(origin_of("https://Reg.example/v2/"), origin_of("https://reg.example:443/x"));
        assert_ne!(origin_of("http://127.0.0.1:5000/v2/"), origin_of("http://127.0.0.1:9000/v2/"));
        assert_ne!(origin_of("https://reg/v2/"), origin_of("http://reg/v2/"));
        assert_eq!(origin_of("http://[::1]:5000/v2/").1, "[::1]");
    }

    #[test]
    fn insecure_hosts_try_https_first_until_http_answers() {
        let host = "198.51.100.7:5000";
        assert_eq!(endpoints(host, false), ["https://198.51.100.7:5000"]);
        assert_eq!(endpoints(host, true), ["https://198.51.100.7:5000", "http://198.51.100.7:5000"]);
        remember_scheme("http://198.51.100.7:5000");
        assert_eq!(endpoints(host, true), ["http://198.51.100.7:5000", "https://198.51.100.7:5000"]);
        remember_scheme("https://198.51.100.7:5000");
        assert_eq!(endpoints(host, true)[0], "https://198.51.100.7:5000");
    }

    #[test]
    fn certs_dir_pairs_client_certificates_with_keys() {
        let dir = std::env::temp_dir().join(format!("dockbox-certs-d-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("client.cert"), "").unwrap();
        let mut roots = RootCertStore::empty();
        let err = read_certs_dir(&dir, &mut roots, &mut Vec::new()).unwrap_err().to_string();
        assert_eq!(err, "missing key client.key for client certificate client.cert. CA certificates must use the extension .crt");
        std::fs::remove_file(dir.join("client.cert")).unwrap();
        std::fs::write(dir.join("other.key"), "").unwrap();
        let err = read_certs_dir(&dir, &mut roots, &mut Vec::new()).unwrap_err().to_string();
        assert_eq!(err, "missing client certificate other.cert for key other.key");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(read_certs_dir(&dir, &mut roots, &mut Vec::new()).is_ok(), "no directory, nothing to add");
    }
}
