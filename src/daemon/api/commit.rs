//! `POST /commit`: a container's changes as a new image (`daemon::commit`).

use crate::daemon::commit::CommitRequest;
use crate::daemon::errors::ApiError;
use crate::daemon::Daemon;
use crate::http::server::{Request, Response};
use crate::reference::Reference;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The tag `repo` and `tag` name together, as Docker reads them for commit and import: none
/// without a repository, `latest` without a tag, never a digest.
pub fn repo_tag_reference(repo: &str, tag: &str) -> Result<Option<Reference>, ApiError> {
    if repo.is_empty() {
        return Ok(None);
    }
    let named = Reference::parse_normalized(repo).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if named.digest.is_some() {
        return Err(ApiError::bad_request("cannot import digest reference"));
    }
    if tag.is_empty() {
        return Ok(Some(named.with_default_tag()));
    }
    // Docker's tag grammar: a word character, then up to 127 of word characters, `.` and `-`.
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let valid = tag.len() <= 128 && tag.starts_with(word) && tag.chars().all(|c| word(c) || c == '.' || c == '-');
    if !valid {
        return Err(ApiError::bad_request("invalid tag format"));
    }
    Ok(Some(Reference { tag: Some(tag.to_string()), ..named }))
}

/// POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=; the body, when not
/// empty or `null`, is the new image's config.
pub fn commit(d: &Arc<Daemon>, req: &Request) -> Result<Response, ApiError> {
    let config = if req.body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(&req.body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))? {
            Value::Null => None,
            Value::Object(o) => Some(o),
            _ => return Err(ApiError::bad_request("invalid JSON: the config must be an object")),
        }
    };
    let reference = repo_tag_reference(req.query("repo").unwrap_or_default(), req.query("tag").unwrap_or_default())?;
    let pause = match req.query("pause") {
        None => true,
        Some(_) => req.query_bool("pause"),
    };
    let entry = d.find(req.query("container").unwrap_or_default())?;
    let changes: Vec<String> = req.query.iter().filter(|(k, _)| k == "changes").map(|(_, v)| v.clone()).collect();
    // Bad instructions are the caller's fault, found before anything is paused or written.
    let mut probe = Map::new();
    crate::image::run_config::apply_changes(&mut probe, &changes).map_err(ApiError::bad_request)?;
    let request = CommitRequest {
        reference,
        author: req.query("author").unwrap_or_default().to_string(),
        comment: req.query("comment").unwrap_or_default().to_string(),
        pause,
        config,
        changes,
    };
    let daemon = d.clone();
    let id = std::thread::Builder::new()
        .name("commit".into())
        .spawn(move || daemon.commit(&entry, request))
        .map_err(|e| ApiError::internal(e.to_string()))?
        .join()
        .map_err(|_| ApiError::internal("commit panicked"))??;
    Ok(Response::json(201, &json!({ "Id": id })))
}
