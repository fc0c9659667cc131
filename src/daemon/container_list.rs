//! `GET /containers/json`: which containers, in which order, with which fields. Docker's
//! `filters` (`status`, `name`, `label`, `ancestor`, `exited`, `id`, `before`, `since`,
//! `health`, `network`, `volume`, `is-task`, `isolation`, `publish`, `expose`), `all`,
//! `limit` and `size`, evaluated as its daemon does: newest first, `before`/`since` by
//! position in that order, `status` implying `all`, `limit` including stopped containers.

use super::errors::ApiError;
use super::Daemon;
use serde_json::{json, Value};
use super::filters::{labels_of, Filters};
use std::collections::BTreeSet;
use std::time::SystemTime;

const ACCEPTED: &[&str] = &["ancestor", "before", "exited", "id", "isolation", "label", "name", "status", "health", "since", "volume", "network", "is-task", "publish", "expose"];
const STATES: &[&str] = &["created", "running", "paused", "restarting", "removing", "exited", "dead"];
const HEALTHS: &[&str] = &["none", "starting", "healthy", "unhealthy"];

/// `80`, `80/udp`, `8000-8010/tcp` → the `port/proto` strings they cover.
fn port_set(key: &str, value: &str) -> Result<Vec<String>, ApiError> {
    if value.contains(':') {
        return Err(ApiError::bad_request(format!("filter for '{key}' should not contain ':': {value}")));
    }
    let (ports, proto) = value.split_once('/').unwrap_or((value, "tcp"));
    let (lo, hi) = ports.split_once('-').unwrap_or((ports, ports));
    let bad = || ApiError::bad_request(format!("error while looking up for {key} {value}: invalid port range"));
    let (lo, hi): (u16, u16) = (lo.parse().map_err(|_| bad())?, hi.parse().map_err(|_| bad())?);
    if lo > hi {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// One container as the list sees it.
struct Row {
    summary: Value,
    id: String,
    name: String,
    image_id: String,
    created: String,
    /// Running, or restarting (which `docker ps` lists among the running).
    running: bool,
    exit_code: i32,
    started: bool,
    mount_id: String,
    /// `none` without a health check.
    health: String,
}

/// `SizeRw` (the writable layer's files) and `SizeRootFs` (that and the image).
pub fn sizes(d: &Daemon, mount_id: &str, image_id: &str) -> (u64, u64) {
    let rw = d.snapshots.rw_size(mount_id);
    let image = d.images.get(image_id).map(|i| i.size).unwrap_or(0);
    (rw, image + rw)
}

pub fn list(d: &Daemon, all: bool, limit: Option<usize>, size: bool, filters: &Filters) -> Result<Value, ApiError> {
    filters.validate(ACCEPTED)?;
    let get = |k: &str| filters.get(k);
    let mut all = all;
    let mut exited = Vec::new();
    for v in get("exited") {
        exited.push(v.parse::<i32>().map_err(|_| ApiError::bad_request(format!("invalid filter 'exited={v}': strconv.Atoi: parsing {v:?}: invalid syntax")))?);
    }
    for v in get("status") {
        if !STATES.contains(&v.as_str()) {
            return Err(ApiError::bad_request(format!("invalid filter 'status={v}': invalid value for state ({v}): must be one of {}", STATES.join(", "))));
        }
        all = true;
    }
    for v in get("health") {
        if !HEALTHS.contains(&v.as_str()) {
            return Err(ApiError::bad_request(format!("invalid filter 'health={v}': invalid value for health ({v}): must be one of {}", HEALTHS.join(", "))));
        }
    }
    let is_task = filters.bool_value("is-task")?;
    let mut publish = BTreeSet::new();
    for v in get("publish") {
        publish.extend(port_set("publish", v)?);
    }
    let mut expose = BTreeSet::new();
    for v in get("expose") {
        expose.extend(port_set("expose", v)?);
    }

    let now = SystemTime::now();
    let mut rows: Vec<Row> = d
        .containers()
        .iter()
        .map(|e| {
            let s = e.lock();
            let c = &s.c;
            let mut summary = c.summary(&c.image, now);
            // Docker shows the image id once the name no longer leads to the container's image.
            if d.images.resolve_id(&c.image_name()).as_deref() != Some(c.image.as_str()) {
                summary["Image"] = json!(c.image);
            }
            Row {
                summary,
                id: c.id.clone(),
                name: c.name.clone(),
                image_id: c.image.clone(),
                created: c.created.clone(),
                running: c.state.running || c.state.restarting,
                exit_code: c.state.exit_code,
                started: c.state.started_at != super::container::ZERO_TIME,
                mount_id: c.mount_id.clone(),
                health: c.health_status().to_string(),
            }
        })
        .collect();
    rows.sort_by(|a, b| b.created.cmp(&a.created));

    // `before`/`since` name a container by id (or prefix) or name.
    let find = |v: &str| -> Result<String, ApiError> {
        let bare = v.trim_start_matches('/');
        rows.iter()
            .find(|r| r.id == v || r.name.trim_start_matches('/') == bare)
            .or_else(|| rows.iter().find(|r| r.id.starts_with(v)))
            .map(|r| r.id.clone())
            .ok_or_else(|| ApiError::not_found(format!("No such container: {v}")))
    };
    let mut before = get("before").iter().map(|v| find(v)).collect::<Result<Vec<_>, _>>()?.pop();
    let since = get("since").iter().map(|v| find(v)).collect::<Result<Vec<_>, _>>()?.pop();
    let ancestors: Option<BTreeSet<String>> = filters.contains("ancestor").then(|| get("ancestor").iter().filter_map(|a| d.images.resolve_id(a)).collect());

    let mut out = Vec::new();
    for r in rows {
        if let Some(b) = &before {
            if &r.id == b {
                before = None;
            }
            continue;
        }
        if since.as_deref() == Some(r.id.as_str()) {
            break;
        }
        if !r.running && !all && limit.is_none() {
            continue;
        }
        if !filters.match_value("name", &r.name) && !filters.match_value("name", r.name.trim_start_matches('/')) {
            continue;
        }
        if !filters.match_value("id", &r.id) {
            continue;
        }
        if is_task == Some(true) {
            continue;
        }
        if !filters.match_kv_list("label", &labels_of(r.summary.get("Labels"))) {
            continue;
        }
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        let exited_as_asked = exited.contains(&r.exit_code) && !r.running && r.started;
        if !exited.is_empty() && !exited_as_asked {
            continue;
        }
        let state = r.summary["State"].as_str().unwrap_or_default().to_string();
        if !filters.match_value("status", &state) {
            continue;
        }
        if !filters.exact_match("health", &r.health) {
            continue;
        }
        let mounts = r.summary["Mounts"].as_array().cloned().unwrap_or_default();
        if filters.contains("volume") {
            let hit = get("volume").iter().any(|v| {
                mounts.iter().any(|m| {
                    let key = if m["Name"].as_str().unwrap_or("").is_empty() { m["Source"].as_str() } else { m["Name"].as_str() };
                    m["Destination"].as_str() == Some(v.as_str()) || key == Some(v.as_str())
                })
            });
            if !hit {
                continue;
            }
        }
        if let Some(set) = &ancestors {
            if !set.contains(&r.image_id) {
                continue;
            }
        }
        if filters.contains("network") {
            let networks = r.summary.pointer("/NetworkSettings/Networks").and_then(Value::as_object).cloned().unwrap_or_default();
            let hit = get("network").iter().any(|v| networks.contains_key(v.as_str()) || networks.values().any(|n| n["NetworkID"].as_str().is_some_and(|id| !id.is_empty() && id.starts_with(v.as_str()))));
            if !hit {
                continue;
            }
        }
        if !publish.is_empty() || !expose.is_empty() {
            let ports = r.summary["Ports"].as_array().cloned().unwrap_or_default();
            let hit = ports.iter().any(|p| {
                let proto = p["Type"].as_str().unwrap_or("tcp");
                publish.contains(&format!("{}/{proto}", p["PublicPort"].as_u64().unwrap_or(0))) || expose.contains(&format!("{}/{proto}", p["PrivatePort"].as_u64().unwrap_or(0)))
            });
            if !hit {
                continue;
            }
        }
        let mut summary = r.summary;
        if size {
            let (rw, root) = sizes(d, &r.mount_id, &r.image_id);
            summary["SizeRw"] = json!(rw);
            summary["SizeRootFs"] = json!(root);
        }
        out.push(summary);
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_filters_cover_ranges() {
        assert_eq!(port_set("publish", "80-81/udp").unwrap(), vec!["80/udp", "81/udp"]);
        assert!(port_set("publish", "1:2").is_err());
    }
}
