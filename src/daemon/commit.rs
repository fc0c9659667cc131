//! `docker commit`: a container's changes become a new image on its own image, with Docker's
//! rules for the new image's config (the caller's config, or the container's, amended by the
//! `--change` instructions, then completed from the container's config).

use super::errors::ApiError;
use super::{Daemon, Entry};
use crate::reference::Reference;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// What `POST /commit` asks for.
pub struct CommitRequest {
    /// The tag the new image gets, if any.
    pub reference: Option<Reference>,
    pub author: String,
    pub comment: String,
    /// Freeze a running container while its changes are read (Docker's default).
    pub pause: bool,
    /// The config the caller gave (the request body), or `None` for the container's.
    pub config: Option<Map<String, Value>>,
    /// The `--change` instructions, applied to that config (`image::run_config::apply_changes`).
    pub changes: Vec<String>,
}

impl Daemon {
    /// Makes an image of the container's filesystem and returns its id (`sha256:<hex>`).
    pub fn commit(&self, entry: &Arc<Entry>, req: CommitRequest) -> Result<String, ApiError> {
        let (id, mount_id, image, container_config, running, paused) = {
            let slot = entry.lock();
            let c = &slot.c;
            if c.state.dead {
                return Err(ApiError::conflict(format!("You cannot commit container {} which is Dead", c.id)));
            }
            if c.state.status == "removing" {
                return Err(ApiError::conflict(format!("You cannot commit container {} which is being removed", c.id)));
            }
            (c.id.clone(), c.mount_id.clone(), c.image.clone(), c.config.clone(), c.state.running, c.state.paused)
        };
        // A pause that fails (the container stopped meanwhile) is no reason not to commit.
        let paused_here = req.pause && running && !paused && self.pause(entry).is_ok();
        let result = (|| {
            let container_map = container_config.as_object().cloned().unwrap_or_default();
            let mut config = req.config.clone().unwrap_or_else(|| container_map.clone());
            crate::image::run_config::apply_changes(&mut config, &req.changes).map_err(ApiError::bad_request)?;
            merge_config(&mut config, &container_map);
            let created_by = container_config.get("Cmd").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" ")).unwrap_or_default();
            let changes = self.snapshots.upper_dir(&mount_id).map_err(|e| ApiError::internal(format!("reading the changes of {id}: {e}")))?;
            let new = crate::image::NewImage {
                parent: Some(&image),
                layer_dir: Some(&changes),
                config: Value::Object(config),
                container: Some(&id),
                container_config: Some(container_config.clone()),
                author: &req.author,
                comment: &req.comment,
                created_by: &created_by,
            };
            self.images.create_child(&new).map_err(|e| ApiError::internal(e.to_string()))
        })();
        // Docker tags and reports the commit before it thaws the container.
        let result = result.and_then(|made| {
            let mut image_ref = String::new();
            if let Some(r) = &req.reference {
                self.images.set_tag(r, &made.id).map_err(|e| ApiError::internal(e.to_string()))?;
                image_ref = r.familiar_string();
                self.events.image("tag", &made.id, &image_ref);
            }
            let slot = entry.lock();
            self.events.container(&slot.c, "commit", &[("comment", &req.comment), ("imageID", &made.id), ("imageRef", &image_ref)]);
            Ok(made)
        });
        if paused_here {
            let _ = self.unpause(entry);
        }
        let made = result?;
        Ok(made.id)
    }
}

/// Completes the new image's config from the container's, as Docker's commit does: what the
/// caller left empty is the container's; Env, Labels, ExposedPorts and Volumes are unions
/// (the caller's value wins for a key both have); Cmd is the container's only when neither
/// Cmd nor Entrypoint was given.
pub fn merge_config(user: &mut Map<String, Value>, container: &Map<String, Value>) {
    let empty = |v: Option<&Value>| match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    };
    for key in ["User", "WorkingDir", "StopSignal"] {
        if empty(user.get(key)) {
            if let Some(v) = container.get(key) {
                user.insert(key.into(), v.clone());
            }
        }
    }
    for key in ["ExposedPorts", "Labels", "Volumes"] {
        let Some(theirs) = container.get(key).and_then(Value::as_object) else { continue };
        let mine = user.entry(key).or_insert_with(|| json!({}));
        if !mine.is_object() {
            *mine = json!({});
        }
        if let Some(mine) = mine.as_object_mut() {
            for (k, v) in theirs {
                // Volumes: the container's entry is copied over, as Docker's maps.Copy does.
                if key == "Volumes" || !mine.contains_key(k) {
                    mine.insert(k.clone(), v.clone());
                }
            }
        }
    }
    if empty(user.get("Env")) {
        if let Some(v) = container.get("Env") {
            user.insert("Env".into(), v.clone());
        }
    } else if let (Some(Value::Array(mine)), Some(Value::Array(theirs))) = (user.get("Env").cloned(), container.get("Env")) {
        let key_of = |e: &Value| e.as_str().map(|s| s.split('=').next().unwrap_or("").to_string());
        let mut merged = mine.clone();
        for e in theirs {
            if !mine.iter().any(|m| key_of(m) == key_of(e)) {
                merged.push(e.clone());
            }
        }
        user.insert("Env".into(), Value::Array(merged));
    }
    if empty(user.get("Entrypoint")) {
        if empty(user.get("Cmd")) {
            if let Some(v) = container.get("Cmd") {
                user.insert("Cmd".into(), v.clone());
            }
        }
        if user.get("Entrypoint").is_none_or(Value::is_null) {
            if let Some(v) = container.get("Entrypoint") {
                user.insert("Entrypoint".into(), v.clone());
            }
        }
    }
    match (user.get("Healthcheck").cloned(), container.get("Healthcheck")) {
        (None | Some(Value::Null), Some(theirs)) => drop(user.insert("Healthcheck".into(), theirs.clone())),
        (Some(Value::Object(mut mine)), Some(Value::Object(theirs))) => {
            for key in ["Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"] {
                if empty(mine.get(key)) || mine.get(key).and_then(Value::as_i64) == Some(0) {
                    if let Some(v) = theirs.get(key) {
                        mine.insert(key.into(), v.clone());
                    }
                }
            }
            user.insert("Healthcheck".into(), Value::Object(mine));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn merge_fills_what_the_caller_left_empty() {
        let mut user = obj(json!({"Env": ["A=mine"], "Labels": {"x": "mine"}, "Cmd": null}));
        let container = obj(json!({"Env": ["A=theirs", "B=2"], "Labels": {"x": "theirs", "y": "1"}, "Cmd": ["sh"], "User": "nobody", "Volumes": {"/data": {}}}));
        merge_config(&mut user, &container);
        assert_eq!(user["Env"], json!(["A=mine", "B=2"]));
        assert_eq!(user["Labels"], json!({"x": "mine", "y": "1"}));
        assert_eq!(user["Cmd"], json!(["sh"]));
        assert_eq!(user["User"], json!("nobody"));
        assert_eq!(user["Volumes"], json!({"/data": {}}));
    }

    #[test]
    fn an_entrypoint_given_keeps_the_containers_cmd_out() {
        let mut user = obj(json!({"Entrypoint": ["/bin/top"], "Cmd": null}));
        merge_config(&mut user, &obj(json!({"Cmd": ["sh"], "Entrypoint": null})));
        assert_eq!(user["Cmd"], Value::Null);
        assert_eq!(user["Entrypoint"], json!(["/bin/top"]));
    }
}
