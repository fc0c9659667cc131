//! Image commands: `pull` with Docker's progress output and `images`; also the reference
//! handling `run`/`create` need to pull a missing image.

use super::api::Api;
use super::flags::{flag, Kind, Parsed, Spec};
use super::{human, out, Args, Command, Ctx, Failure};
use serde_json::Value;
use std::collections::HashSet;

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
    let r = Reference::parse(image);
    let mut query = vec![("fromImage", r.name.clone()), ("tag", r.tag.clone())];
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
    let api = ctx.api()?;
    let image = &p.args[0];
    let quiet = p.bool("quiet");
    pull_platform(api, image, p.value("platform"), false, quiet).map_err(|e| Failure::new(e, 1))?;
    out(&format!("{}\n", Reference::parse(image).qualified()));
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
    let id_of = |img: &Value| {
        let id = img["Id"].as_str().unwrap_or("");
        if no_trunc {
            id.to_string()
        } else {
            short_id(id)
        }
    };
    if p.bool("quiet") {
        let mut seen = HashSet::new();
        for img in &images {
            let id = id_of(img);
            if seen.insert(id.clone()) {
                out(&format!("{id}\n"));
            }
        }
        return Ok(0);
    }
    let mut rows = vec![vec!["REPOSITORY".to_string(), "TAG".into(), "IMAGE ID".into(), "CREATED".into(), "SIZE".into()]];
    for img in &images {
        let created = human::ago_from_unix(img["Created"].as_i64().unwrap_or(0));
        let size = human::human_size(img["Size"].as_f64().unwrap_or(0.0));
        let tags: Vec<&str> = img["RepoTags"].as_array().map(|a| a.iter().filter_map(Value::as_str).filter(|t| *t != "<none>:<none>").collect()).unwrap_or_default();
        if tags.is_empty() {
            let repo = img["RepoDigests"].as_array().and_then(|a| a.first()).and_then(Value::as_str).and_then(|d| d.split_once('@')).map(|(r, _)| r).unwrap_or("<none>");
            rows.push(vec![repo.to_string(), "<none>".into(), id_of(img), created.clone(), size.clone()]);
        }
        for t in tags {
            let r = Reference::parse(t);
            rows.push(vec![r.name, r.tag, id_of(img), created.clone(), size.clone()]);
        }
    }
    out(&human::table(&rows));
    Ok(0)
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
