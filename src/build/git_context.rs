//! A git repository as a build context (`remote=` naming a git URL), as Docker's classic
//! builder fetches one: `git init`, `git remote add origin URL`, `git fetch [--depth 1] origin
//! -- REF` (shallow unless the server is a "dumb" HTTP one, which cannot), `git checkout REF`
//! (or `FETCH_HEAD` when REF names no branch), the submodules, then the fragment's
//! subdirectory (`URL#REF:DIR`, REF `master` when empty) as the context's root.

use super::context::{resolve_below, Context, Escape};
use std::path::Path;
use std::process::Command;

/// Whether `remote` names a git repository, as Docker's `urlutil.IsGitURL` tells: an http(s)
/// URL whose path ends in `.git` (a fragment may follow), or a `git://`, `git@`, `ssh://` or
/// `github.com/` one.
pub fn is_git_url(remote: &str) -> bool {
    let is_http = remote.starts_with("http://") || remote.starts_with("https://");
    if is_http {
        let path = match remote.split_once('#') {
            Some((p, frag)) if !frag.is_empty() => p,
            Some(_) => return false,
            None => remote,
        };
        if path.ends_with(".git") {
            return true;
        }
    }
    ["git://", "github.com/", "git@", "ssh://"].iter().any(|p| remote.starts_with(p))
}

/// A git URL taken apart: the repository, the ref to check out and the subdirectory.
#[derive(Debug, PartialEq, Eq)]
pub struct GitRemote {
    pub remote: String,
    pub git_ref: String,
    pub subdir: String,
}

/// Splits `URL#REF:DIR` as Docker does (`github.com/...` gains `https://`); a ref starting
/// with `-` is refused (it would be read as an option).
pub fn parse(url: &str) -> Result<GitRemote, String> {
    let transport = ["http://", "https://", "git://", "git@", "ssh://"].iter().any(|p| url.starts_with(p));
    let url = if transport { url.to_string() } else { format!("https://{url}") };
    let (remote, fragment) = match url.split_once('#') {
        Some((r, f)) => (r.to_string(), f.to_string()),
        None => (url.clone(), String::new()),
    };
    let (git_ref, subdir) = match fragment.split_once(':') {
        Some((r, d)) => (r.to_string(), d.to_string()),
        None => (fragment.clone(), String::new()),
    };
    let git_ref = if git_ref.is_empty() { "master".to_string() } else { git_ref };
    if git_ref.starts_with('-') {
        return Err(format!("invalid refspec: {git_ref}"));
    }
    Ok(GitRemote { remote, git_ref, subdir })
}

fn git_in(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("--work-tree")
        .arg(dir)
        .arg("--git-dir")
        .arg(dir.join(".git"))
        .args(args)
        // Never a prompt for credentials on the daemon's terminal.
        .env("GIT_TERMINAL_PROMPT", "0")
        .current_dir(dir)
        .output()
        .map_err(|e| format!("unable to run git: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{}: {}", out.status, text.trim()))
    }
}

/// Whether fetching from `remote` may be shallow: anything but an HTTP server that does not
/// speak git's smart protocol (it answers `info/refs?service=git-upload-pack` with the
/// upload-pack advertisement).
fn supports_shallow(remote: &str) -> bool {
    if !(remote.starts_with("http://") || remote.starts_with("https://")) {
        return true;
    }
    let url = format!("{remote}/info/refs?service=git-upload-pack");
    let agent = ureq::AgentBuilder::new().timeout(std::time::Duration::from_secs(30)).build();
    let resp = match agent.head(&url).call() {
        Ok(r) => Ok(r),
        Err(_) => agent.get(&url).call(),
    };
    matches!(resp, Ok(r) if r.header("Content-Type") == Some("application/x-git-upload-pack-advertisement"))
}

/// Fetches `url` into `dir` and returns the context (its root the checkout, or its
/// subdirectory).
pub fn clone(url: &str, dir: &Path) -> Result<Context, String> {
    let repo = parse(url)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make the build directory: {e}"))?;
    let ctx = Context { dir: dir.to_path_buf(), sums: None };
    let checkout = dir.join("git");
    std::fs::create_dir(&checkout).map_err(|e| e.to_string())?;
    git_in(&checkout, &["init", "-q"]).map_err(|e| format!("failed to init repo at {}: {e}", checkout.display()))?;
    git_in(&checkout, &["remote", "add", "origin", &repo.remote]).map_err(|e| format!("failed add origin repo at {}: {e}", repo.remote))?;
    let mut fetch = vec!["fetch"];
    if supports_shallow(&repo.remote) {
        fetch.extend(["--depth", "1"]);
    }
    fetch.extend(["origin", "--", &repo.git_ref]);
    git_in(&checkout, &fetch).map_err(|e| format!("error fetching: {e}"))?;
    if let Err(e) = git_in(&checkout, &["checkout", "-q", &repo.git_ref]) {
        git_in(&checkout, &["checkout", "-q", "FETCH_HEAD"]).map_err(|_| format!("error checking out {}: {e}", repo.git_ref))?;
    }
    git_in(&checkout, &["submodule", "update", "--init", "--recursive", "--depth=1"]).map_err(|e| format!("error initializing submodules: {e}"))?;
    let root = if repo.subdir.is_empty() {
        checkout.clone()
    } else {
        let sub = resolve_below(&checkout, &repo.subdir, Escape::Clamp).map_err(|e| format!("error setting git context, {:?} not within git root: {e}", repo.subdir))?;
        match std::fs::metadata(&sub) {
            Ok(m) if m.is_dir() => sub,
            Ok(_) => return Err(format!("error setting git context, not a directory: {}", repo.subdir)),
            Err(e) => return Err(format!("error setting git context, {}: {e}", repo.subdir)),
        }
    };
    std::fs::rename(&root, ctx.root()).map_err(|e| format!("error setting git context: {e}"))?;
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_urls_as_docker_tells_them() {
        assert!(is_git_url("https://example.com/r.git"));
        assert!(is_git_url("http://127.0.0.1:8080/r.git#main:dir"));
        assert!(is_git_url("git://example.com/r"));
        assert!(is_git_url("git@example.com:r.git"));
        assert!(is_git_url("github.com/docker/cli"));
        assert!(!is_git_url("https://example.com/ctx.tar.gz"));
        assert!(!is_git_url("https://example.com/r.git#"));
        assert!(!is_git_url("https://example.com/r.gitx"));
    }

    #[test]
    fn fragments_name_the_ref_and_the_subdirectory() {
        let r = parse("http://h/r.git#v1:sub/dir").unwrap();
        assert_eq!(r, GitRemote { remote: "http://h/r.git".into(), git_ref: "v1".into(), subdir: "sub/dir".into() });
        assert_eq!(parse("http://h/r.git").unwrap().git_ref, "master");
        assert_eq!(parse("http://h/r.git#:d").unwrap(), GitRemote { remote: "http://h/r.git".into(), git_ref: "master".into(), subdir: "d".into() });
        assert_eq!(parse("github.com/a/b").unwrap().remote, "https://github.com/a/b");
        assert!(parse("http://h/r.git#--upload-pack=x").is_err());
    }
}
