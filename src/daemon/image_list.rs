//! `GET /images/json`: the images, newest first, with Docker's filters (`dangling`,
//! `label`, `label!`, `before`, `since`, `until`, `reference`): a `reference` pattern (Go's
//! `path.Match` on the familiar name with and without tag) also keeps only the matching
//! names in `RepoTags` and `RepoDigests`.

use super::filters::{labels_of, Filters};
use super::errors::ApiError;
use super::Daemon;
use crate::reference::Reference;
use serde_json::{json, Value};

const ACCEPTED: &[&str] = &["dangling", "label", "label!", "before", "since", "reference", "until"];

/// Go's `path.Match`: `*` (not across `/`), `?`, `[...]` classes (`^` or `!` negates), `\`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).take_while(|&i| i == 0 || n[i - 1] != '/').any(|i| go(rest, &n[i..])),
            Some(('?', rest)) => n.first().is_some_and(|c| *c != '/') && go(rest, &n[1..]),
            Some(('[', rest)) => {
                let Some((&c, n_rest)) = n.split_first() else { return false };
                let Some(end) = rest.iter().skip(1).position(|x| *x == ']').map(|i| i + 1) else { return false };
                let (mut class, after) = (&rest[..end], &rest[end + 1..]);
                let negated = matches!(class.first(), Some('^') | Some('!'));
                if negated {
                    class = &class[1..];
                }
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= c && c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == c;
                        i += 1;
                    }
                }
                hit != negated && go(after, n_rest)
            }
            Some(('\\', rest)) => rest.split_first().is_some_and(|(x, r)| n.first() == Some(x) && go(r, &n[1..])),
            Some((x, rest)) => n.first() == Some(x) && go(rest, &n[1..]),
        }
    }
    go(&pattern.chars().collect::<Vec<_>>(), &name.chars().collect::<Vec<_>>())
}

/// Docker's `FamiliarMatch`: the pattern against `name:tag` (or `name@digest`), then `name`.
fn reference_matches(pattern: &str, reference: &str) -> bool {
    match Reference::parse_normalized(reference) {
        Ok(r) => glob_match(pattern, &r.familiar_string()) || glob_match(pattern, &r.familiar_name()),
        Err(_) => false,
    }
}

/// `all` also lists the intermediate images: untagged ones other images were made from.
pub fn list(d: &Daemon, v: (u32, u32), filters: &Filters, all: bool) -> Result<Value, ApiError> {
    filters.validate(ACCEPTED)?;
    let dangling = filters.bool_value("dangling")?;
    let created_of = |name: &str| -> Result<String, ApiError> { d.images.get(name).map(|i| i.created).ok_or_else(|| ApiError::not_found(format!("No such image: {name}"))) };
    let before: Vec<String> = filters.get("before").iter().map(|n| created_of(n)).collect::<Result<_, _>>()?;
    let since: Vec<String> = filters.get("since").iter().map(|n| created_of(n)).collect::<Result<_, _>>()?;
    let until = filters.earliest_time("until")?;
    let patterns = filters.get("reference");
    let mut images = d.images.list();
    images.sort_by(|a, b| b.created.cmp(&a.created));
    let mut out = Vec::new();
    for i in images {
        let at = |c: &String| crate::sys::parse_rfc3339(c);
        if before.iter().any(|b| at(&i.created) >= at(b)) || since.iter().any(|s| at(&i.created) <= at(s)) {
            continue;
        }
        if until.is_some_and(|u| !super::filters::created_before(&i.created, u)) {
            continue;
        }
        if !filters.match_labels(&labels_of(i.config.pointer("/config/Labels"))) {
            continue;
        }
        let keep = |r: &String| patterns.is_empty() || patterns.iter().any(|p| reference_matches(p, r));
        let tags: Vec<String> = i.repo_tags.iter().filter(|r| keep(r)).cloned().collect();
        let digests: Vec<String> = i.repo_digests.iter().filter(|r| keep(r)).cloned().collect();
        let untagged = i.repo_tags.is_empty();
        if !patterns.is_empty() && tags.is_empty() && digests.is_empty() {
            continue;
        }
        let parent = d.images.parent_of(&i.id);
        if !all && i.repo_tags.is_empty() && i.repo_digests.is_empty() && !d.images.children_of(&i.id).is_empty() {
            continue;
        }
        match dangling {
            Some(true) if !untagged => continue,
            Some(false) if untagged => continue,
            _ => {}
        }
        let mut o = json!({
            "Containers": -1,
            "Created": crate::daemon::container::unix_seconds(&i.created),
            "Id": i.id,
            "Labels": i.config.pointer("/config/Labels").cloned().unwrap_or(Value::Null),
            "ParentId": parent.unwrap_or_default(),
            "RepoDigests": digests,
            "RepoTags": tags,
            "SharedSize": -1,
            "Size": i.size,
        });
        if v < (1, 44) {
            o["VirtualSize"] = json!(i.size);
        }
        out.push(o);
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_like_go_path_match() {
        assert!(glob_match("busy*", "busybox"));
        assert!(!glob_match("*", "a/b"));
        assert!(glob_match("*/busybox", "127.0.0.1:5000/busybox"));
        assert!(glob_match("b?sy[a-c]ox", "busybox"));
        assert!(!glob_match("b[!u]sybox", "busybox"));
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busybox:lat*", "busybox:latest"));
        assert!(!reference_matches("alpine", "busybox:latest"));
    }
}
