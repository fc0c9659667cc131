//! `docker commit`: a new image from a container's changes.

use super::flags::{flag, Kind, Parsed};
use super::{out, Args, Command, Ctx, Failure};

pub const COMMANDS: &[Command] = &[Command {
    name: "commit",
    usage: "docker commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
    short: "Create a new image from a container's changes",
    args: Args::Range(1, 2),
    interspersed: true,
    flags: &[
        flag("author", Some('a'), Kind::Value, "Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")"),
        flag("change", Some('c'), Kind::List, "Apply Dockerfile instruction to the created image"),
        flag("message", Some('m'), Kind::Value, "Commit message"),
        flag("pause", Some('p'), Kind::Bool, "Pause container during commit (default true)"),
    ],
    run: commit_cmd,
}];

fn commit_cmd(ctx: &Ctx, p: &Parsed) -> Result<i32, Failure> {
    let mut query = vec![
        ("container", p.args[0].clone()),
        ("comment", p.value("message").unwrap_or_default().to_string()),
        ("author", p.value("author").unwrap_or_default().to_string()),
        ("pause", (!p.has("pause") || p.bool("pause")).to_string()),
    ];
    if let Some(name) = p.args.get(1) {
        // The repository and tag go apart, as Docker's CLI sends them; the daemon validates.
        let (repo, tag) = split_repo_tag(name);
        query.push(("repo", repo.to_string()));
        query.push(("tag", tag.to_string()));
    }
    for c in p.list("change") {
        query.push(("changes", c.to_string()));
    }
    let v = ctx.api()?.json("POST", "/commit", &query, None)?;
    out(&format!("{}\n", v["Id"].as_str().unwrap_or_default()));
    Ok(0)
}

/// `host:5000/name:tag` → (`host:5000/name`, `tag`): the tag is after the last colon that
/// follows the last slash.
fn split_repo_tag(name: &str) -> (&str, &str) {
    let last_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    match name[last_slash..].rfind(':') {
        Some(i) if !name[last_slash..].contains('@') => (&name[..last_slash + i], &name[last_slash + i + 1..]),
        _ => (name, ""),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn repository_and_tag_split_after_the_last_slash() {
        assert_eq!(super::split_repo_tag("busybox"), ("busybox", ""));
        assert_eq!(super::split_repo_tag("busybox:v1"), ("busybox", "v1"));
        assert_eq!(super::split_repo_tag("127.0.0.1:5000/a/b"), ("127.0.0.1:5000/a/b", ""));
        assert_eq!(super::split_repo_tag("127.0.0.1:5000/a/b:t"), ("127.0.0.1:5000/a/b", "t"));
    }
}
