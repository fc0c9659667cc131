//! Image commands: `pull` with Docker's progress output and `images`; also the reference
//! handling `run`/`create` need to pull a missing image.

use super::api::Api;
use super::flags::{flag, Kind, Parsed, Spec};
use super::{human, out, Args, Command, Ctx, Failure};
use serde_json::Value;

pub const COMMANDS: &[Command] = &[
    Command {
        name: "pull",
        usage: "docker pull [OPTIONS] NAME[:TAG|@DIGEST]",
        short: "Download an image from a registry",
        args: Args::Exact(1),
        interspersed: true,
        flags: PULL_FLAGS,
        run: pull_cmd,
    },
    Command {
        name: "images",
        usage: "docker images [OPTIONS] [REPOSITORY[:TAG]]",
        short: "List images",
        args: Args::AtMost(1),
        interspersed: true,
        flags: IMAGES_FLAGS,
        run: images_cmd,
    },
];

const PULL_FLAGS: &[Spec] = &[
    flag("all-tags", Some('a'), Kind::Bool, "Download all tagged images in the repository"),
    flag("quiet", Some('q'), Kind::Bool, "Suppress verbose output"),
    flag("platform", None, Kind::Value, "Set platform if server is multi-platform capable"),
];

const IMAGES_FLAGS: &[Spec] = &[
    flag("all", Some('a'), Kind::Bool, "Show all images (default hides intermediate images)"),
    flag("quiet", Some('q'), Kind::Bool, "Only show image IDs"),
    flag("no-trunc", None, Kind::Bool, "Don't truncate output"),
    flag("digests", None, Kind::Bool, "Show digests"),
    flag("filter", Some('f'), Kind::List, "Filter output based on conditions provided"),
    flag("format", None, Kind::Value, "Pretty-print images using a Go template"),
];

/// An image reference split the way the pull endpoint wants it.
#[derive(Debug, PartialEq, Eq)]
pub struct Reference {
    /// The repository in its short form (`busybox`, `127.0.0.1:5000/busybox`).
    pub name: String,
    /// A tag, or a digest (`sha256:...`).
    pub tag: String,
    pub is_digest: bool,
}

impl Reference {
    pub fn parse(s: &str) -> Reference {
        let (name, tag, is_digest) = if let Some((n, d)) = s.split_once('@') {
            (n.to_string(), d.to_string(), true)
        } else {
            let slash = s.rfind('/').map(|i| i + 1).unwrap_or(0);
            match s[slash..].rfind(':') {
                Some(i) => (s[..slash + i].to_string(), s[slash + i + 1..].to_string(), false),
                None => (s.to_string(), "latest".to_string(), false),
            }
        };
        let name = name.strip_prefix("docker.io/").or_else(|| name.strip_prefix("index.docker.io/")).map(|n| n.strip_prefix("library/").unwrap_or(n).to_string()).unwrap_or(name);
        Reference { name, tag, is_digest }
    }

    /// `busybox:latest`, `repo@sha256:...`.
    pub fn familiar(&self) -> String {
        if self.is_digest {
            format!("{}@{}", self.name, self.tag)
        } else {
            format!("{}:{}", self.name, self.tag)
        }
    }

    /// The fully qualified form `docker pull` prints at the end.
    pub fn qualified(&self) -> String {
        let first = self.name.split('/').next().unwrap_or("");
        let has_domain = self.name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
        let name = if has_domain {
            self.name.clone()
        } else if self.name.contains('/') {
            format!("docker.io/{}", self.name)
        } else {
            format!("docker.io/library/{}", self.name)
        };
        if self.is_digest {
            format!("{name}@{}", self.tag)
        } else {
            format!("{name}:{}", self.tag)
        }
    }
}

/// Pulls `image`, drawing progress on `sink` (stdout for `docker pull`, stderr for run).
pub fn pull(api: &Api, image: &str, to_stderr: bool, quiet: bool) -> Result<(), String> {
    pull_platform(api, image, None, to_stderr, quiet)
}

/// [`pull`] with `--platform`; sends the stored credentials of the image's registry.
pub fn pull_platform(api: &Api, image: &str, platform: Option<&str>, to_stderr: bool, quiet: bool) -> Result<(), String> {
    pull_with(api, image, platform, false, to_stderr, quiet)
}

/// [`pull_platform`], or with `all_tags` every tag of the repository `image` names (the
/// endpoint pulls them all when it is given no tag).
fn pull_with(api: &Api, image: &str, platform: Option<&str>, all_tags: bool, to_stderr: bool, quiet: bool) -> Result<(), String> {
    let r = Reference::parse(image);
    let tag = if all_tags { String::new() } else { r.tag.clone() };
    let mut query = vec![("fromImage", r.name.clone()), ("tag", tag)];
    if let Some(p) = platform.filter(|p| !p.is_empty()) {
        query.push(("platform", p.to_string()));
    }
    let domain = crate::reference::Reference::parse_normalized(image).map(|r| r.domain).unwrap_or_default();
    let auth = crate::auth::registry_auth_header(&domain);
    let resp = api.call("POST", "/images/create", &query, None, &[("X-Registry-Auth", &auth)]).map_err(|e| e.to_string())?;
    let fd = if to_stderr { 2 } else { 1 };
    let terminal = super::is_terminal(fd);
    let result = if quiet {
        super::progress::display(resp.into_body(), &mut std::io::sink(), false)
    } else if to_stderr {
        super::progress::display(resp.into_body(), &mut std::io::stderr(), terminal)
    } else {
        super::progress::display(resp.into_body(), &mut std::io::stdout(), terminal)
    };
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e),
        Err(e) => Err(format!("error during connect: {e}")),
    }
}

fn pull_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let image = &p.args[0];
    let (quiet, all_tags) = (p.bool("quiet"), p.bool("all-tags"));
    let parsed = crate::reference::Reference::parse_normalized(image).map_err(|e| Failure::new(e.to_string(), 1))?;
    let name_only = parsed.tag.is_none() && parsed.digest.is_none();
    if all_tags && !name_only {
        return Err(Failure::new("tag can't be used with --all-tags/-a", 1));
    }
    if !all_tags && name_only && !quiet {
        out("Using default tag: latest\n");
    }
    let api = ctx.api()?;
    pull_with(api, image, p.value("platform"), all_tags, false, quiet).map_err(|e| Failure::new(e, 1))?;
    // The reference pulled, fully qualified: the repository alone for every tag.
    out(&format!("{}\n", if all_tags { parsed.repository() } else { Reference::parse(image).qualified() }));
    Ok(0)
}

fn short_id(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.chars().take(12).collect()
}

fn images_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let api = ctx.api()?;
    let mut query = Vec::new();
    if p.bool("all") {
        query.push(("all", "1".to_string()));
    }
    let mut filters = serde_json::Map::new();
    for f in p.list("filter") {
        let (k, v) = f.split_once('=').unwrap_or((f, ""));
        if let Some(a) = filters.entry(k.to_string()).or_insert_with(|| Value::Array(vec![])).as_array_mut() {
            a.push(Value::String(v.into()));
        }
    }
    if let Some(r) = p.args.first() {
        filters.insert("reference".into(), Value::Array(vec![Value::String(r.clone())]));
    }
    if !filters.is_empty() {
        query.push(("filters", Value::Object(filters).to_string()));
    }
    let list = api.json("GET", "/images/json", &query, None)?;
    let images = list.as_array().cloned().unwrap_or_default();
    let no_trunc = p.bool("no-trunc");
    let custom = p.value("format").filter(|f| !f.is_empty()).map(str::to_string).or_else(|| if p.bool("quiet") { None } else { super::format::config_format("imagesFormat") });
    let custom = custom.as_deref();
    let digests = p.bool("digests");
    let format = match custom {
        None | Some("table") if p.bool("quiet") => "{{.ID}}".to_string(),
        Some("raw") if p.bool("quiet") => "image_id: {{.ID}}".to_string(),
        Some("raw") if digests => "repository: {{ .Repository }}\ntag: {{.Tag}}\ndigest: {{.Digest}}\nimage_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n".to_string(),
        Some("raw") => "repository: {{ .Repository }}\ntag: {{.Tag}}\nimage_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n".to_string(),
        None | Some("table") if digests => DEFAULT_IMAGE_TABLE_WITH_DIGEST.to_string(),
        None | Some("table") => DEFAULT_IMAGE_TABLE.to_string(),
        Some(f) if f.starts_with("table") && digests && !f.contains("{{.Digest}}") => format!("{f}\\t{{{{.Digest}}}}"),
        Some(f) => f.to_string(),
    };
    let need_digest = digests || format.contains("{{.Digest}}");
    let mut items = Vec::new();
    for img in &images {
        for (repo, tag, digest) in image_rows(img, need_digest, digests) {
            items.push(image_context(img, &repo, &tag, &digest, !no_trunc));
        }
    }
    let t = super::format::titles(&[
        ("ID", "IMAGE ID"),
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("Digest", "DIGEST"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("Size", "SIZE"),
        ("Containers", "CONTAINERS"),
        ("VirtualSize", "SIZE"),
        ("SharedSize", "SHARED SIZE"),
        ("UniqueSize", "UNIQUE SIZE"),
    ]);
    out(&super::format::write_list(&format, &items, &t, &[]).map_err(|e| Failure::new(e, 1))?);
    Ok(0)
}

const DEFAULT_IMAGE_TABLE: &str = "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\\t{{.Size}}";
const DEFAULT_IMAGE_TABLE_WITH_DIGEST: &str = "table {{.Repository}}\\t{{.Tag}}\\t{{.Digest}}\\t{{.ID}}\\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\\t{{.Size}}";

/// The (repository, tag, digest) rows of one image, as Docker's image formatter makes them.
fn image_rows(img: &Value, need_digest: bool, show_digests: bool) -> Vec<(String, String, String)> {
    let list = |k: &str| -> Vec<String> { img[k].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect() };
    let (tags, digests) = (list("RepoTags"), list("RepoDigests"));
    let dangling = (tags.is_empty() && digests.is_empty()) || (tags == ["<none>:<none>"] && digests == ["<none>@<none>"]);
    if dangling {
        return vec![("<none>".into(), "<none>".into(), "<none>".into())];
    }
    let mut repo_tags: Vec<(String, Vec<String>)> = Vec::new();
    for t in &tags {
        let Ok(r) = crate::reference::Reference::parse_normalized(t) else { continue };
        let Some(tag) = r.tag.clone() else { continue };
        let name = r.familiar_name();
        match repo_tags.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => v.push(tag),
            None => repo_tags.push((name, vec![tag])),
        }
    }
    let mut repo_digests: Vec<(String, Vec<String>)> = Vec::new();
    for d in &digests {
        let Ok(r) = crate::reference::Reference::parse_normalized(d) else { continue };
        let Some(digest) = r.digest.clone() else { continue };
        let name = r.familiar_name();
        match repo_digests.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => v.push(digest),
            None => repo_digests.push((name, vec![digest])),
        }
    }
    let mut rows = Vec::new();
    for (repo, tags) in repo_tags {
        let ds = match repo_digests.iter().position(|(n, _)| *n == repo) {
            Some(i) => repo_digests.remove(i).1,
            None => Vec::new(),
        };
        let ds = if need_digest { ds } else { Vec::new() };
        for tag in tags {
            if ds.is_empty() {
                rows.push((repo.clone(), tag.clone(), "<none>".to_string()));
            }
            for d in &ds {
                rows.push((repo.clone(), tag.clone(), d.clone()));
            }
        }
    }
    for (repo, ds) in repo_digests {
        if show_digests {
            for d in ds {
                rows.push((repo.clone(), "<none>".into(), d));
            }
        } else {
            rows.push((repo, "<none>".into(), String::new()));
        }
    }
    rows
}

/// Docker's image context: every field a template may name.
fn image_context(img: &Value, repo: &str, tag: &str, digest: &str, trunc: bool) -> Value {
    let id = img["Id"].as_str().unwrap_or("");
    let created = img["Created"].as_i64().unwrap_or(0);
    let size = img["Size"].as_i64().unwrap_or(0);
    let shared = img["SharedSize"].as_i64().unwrap_or(-1);
    let containers = img["Containers"].as_i64().unwrap_or(-1);
    serde_json::json!({
        "Containers": if containers == -1 { "N/A".to_string() } else { containers.to_string() },
        "CreatedAt": super::format::go_time_string(created),
        "CreatedSince": human::ago_from_unix(created),
        "Digest": digest,
        "ID": if trunc { short_id(id) } else { id.to_string() },
        "Repository": repo,
        "SharedSize": if shared == -1 { "N/A".to_string() } else { crate::units::human_size_with_precision(shared as f64, 4) },
        "Size": crate::units::human_size_with_precision(size as f64, 3),
        "Tag": tag,
        "UniqueSize": if size == -1 || shared == -1 { "N/A".to_string() } else { crate::units::human_size_with_precision((size - shared) as f64, 4) },
        "VirtualSize": crate::units::human_size_with_precision(size as f64, 4),
        (crate::template::GO_MARSHAL): true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_and_qualify() {
        let r = Reference::parse("busybox");
        assert_eq!((r.name.as_str(), r.tag.as_str(), r.familiar()), ("busybox", "latest", "busybox:latest".to_string()));
        assert_eq!(r.qualified(), "docker.io/library/busybox:latest");
        let r = Reference::parse("127.0.0.1:5000/team/app:v1");
        assert_eq!((r.name.as_str(), r.tag.as_str()), ("127.0.0.1:5000/team/app", "v1"));
        assert_eq!(r.qualified(), "127.0.0.1:5000/team/app:v1");
        let r = Reference::parse("docker.io/library/alpine@sha256:abc");
        assert_eq!(r.familiar(), "alpine@sha256:abc");
        assert!(r.is_digest);
    }
}
