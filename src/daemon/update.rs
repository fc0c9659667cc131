//! `POST /containers/{id}/update`: new resource limits and restart policy for a container,
//! as Docker's daemon/update.go applies them. The request's non-zero fields replace the
//! stored ones, the merged HostConfig is checked as create checks it and saved, and a running
//! container's cgroup gets the new limits at once (containerd → shim → `runtime update`).
//! The restart policy needs nothing more: the restart code reads it at each exit.

use super::errors::ApiError;
use crate::rpc::ErrorKind;
use super::{Daemon, Entry};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The request fields an update changes, each replacing the stored value when not zero.
const UPDATED: &[&str] = &[
    "BlkioWeight",
    "CpuShares",
    "NanoCpus",
    "CpuPeriod",
    "CpuQuota",
    "CpusetCpus",
    "CpusetMems",
    "Memory",
    "MemorySwap",
    "MemoryReservation",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
];

fn int(h: &Value, key: &str) -> i64 {
    h.get(key).and_then(Value::as_i64).unwrap_or(0)
}

/// A field of the request this daemon cannot change on an existing container, set to
/// something: refused rather than ignored.
fn refused_field(request: &Map<String, Value>) -> Option<&str> {
    request.iter().find(|(k, v)| !UPDATED.contains(&k.as_str()) && !matches!(k.as_str(), "PidsLimit" | "RestartPolicy") && !super::create_fields::is_zero(v)).map(|(k, _)| k.as_str())
}

/// The stored HostConfig `current` with the request's changes, or Docker's conflict.
fn merge(current: &Value, request: &Map<String, Value>) -> Result<Value, String> {
    let asked = |k: &str| request.get(k).filter(|v| !super::create_fields::is_zero(v));
    let given = |k: &str| asked(k).is_some();
    // --cpus sets the period and quota itself: neither can change once the other way is used.
    for (new, old, what) in [("NanoCpus", "CpuPeriod", "CPU Period"), ("NanoCpus", "CpuQuota", "CPU Quota"), ("CpuPeriod", "NanoCpus", "CPU Period"), ("CpuQuota", "NanoCpus", "CPU Quota")] {
        if given(new) && int(current, old) > 0 {
            return Err(format!("Conflicting options: {what} cannot be updated as NanoCPUs has already been set"));
        }
    }
    let memory = request.get("Memory").and_then(Value::as_i64).unwrap_or(0);
    if memory != 0 && memory > int(current, "MemorySwap") && !given("MemorySwap") {
        return Err("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time".into());
    }
    let mut merged = current.clone();
    for key in UPDATED {
        if let Some(v) = asked(key) {
            merged[*key] = v.clone();
        }
    }
    match request.get("PidsLimit").and_then(Value::as_i64) {
        // 0 and any negative value both mean unlimited.
        Some(p) => merged["PidsLimit"] = json!(p.max(0)),
        None if request.get("PidsLimit").is_some_and(|p| !p.is_null()) => return Err("invalid PidsLimit: not an integer".into()),
        None => {}
    }
    let policy = request.get("RestartPolicy").cloned().unwrap_or(Value::Null);
    let name = policy.get("Name").and_then(Value::as_str).unwrap_or("");
    if !name.is_empty() {
        if current.get("AutoRemove").and_then(Value::as_bool) == Some(true) && name != "no" {
            return Err("Restart policy cannot be updated because AutoRemove is enabled for the container".into());
        }
        merged["RestartPolicy"] = json!({"Name": name, "MaximumRetryCount": policy.get("MaximumRetryCount").cloned().unwrap_or(json!(0))});
    }
    Ok(merged)
}

impl Daemon {
    /// POST /containers/{id}/update.
    pub fn update(&self, entry: &Arc<Entry>, body: &Value) -> Result<Value, ApiError> {
        let request = body.as_object().ok_or_else(|| ApiError::bad_request("invalid update: the body must be a JSON object"))?;
        if let Some(key) = refused_field(request) {
            return Err(ApiError::bad_request(format!("invalid update: {key} (HostConfig.{key}) cannot be updated on an existing container by this daemon")));
        }
        let mut slot = entry.lock();
        let id = slot.c.id.clone();
        if slot.removed {
            return Err(ApiError::not_found(format!("No such container: {id}")));
        }
        let cannot = |status: u16, why: &str| ApiError::new(status, format!("Cannot update container {id}: {why}"));
        let merged = merge(&slot.c.host_config, request).map_err(|e| cannot(409, &e))?;
        let gateway = self.opts.host_gateway_ip.map(|ip| ip.to_string());
        let config = slot.c.config.as_object().cloned().unwrap_or_default();
        super::create_fields::validate(&config, &merged, gateway.as_deref()).map_err(ApiError::bad_request)?;
        let resources = super::resources::linux_resources(&merged).map_err(ApiError::bad_request)?;

        let previous = std::mem::replace(&mut slot.c.host_config, merged);
        if let Err(e) = slot.c.save(&self.opts.data_root) {
            slot.c.host_config = previous;
            return Err(cannot(500, &e.to_string()));
        }
        // A container waiting for its restart gets the limits at its next start.
        if slot.c.state.running {
            match self.containerd_call(|c| c.update(&id, &resources)) {
                // The task ended meanwhile (its exit waits for our lock): the limits are
                // stored, and its next start applies them.
                Err(e) if matches!(e.kind, ErrorKind::NotFound | ErrorKind::FailedPrecondition) => {}
                Err(e) => {
                    slot.c.host_config = previous;
                    let _ = slot.c.save(&self.opts.data_root);
                    return Err(cannot(500, &e.message));
                }
                Ok(()) => {}
            }
        }
        self.events.container(&slot.c, "update", &[]);
        Ok(json!({"Warnings": []}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn non_zero_fields_replace_the_stored_ones() {
        let current = json!({"Memory": 67108864, "MemorySwap": 134217728, "CpuShares": 0, "PidsLimit": null, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}});
        let m = merge(&current, &request(json!({"Memory": 33554432, "CpuShares": 512, "CpusetCpus": "", "PidsLimit": 20, "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}}))).unwrap();
        assert_eq!(m["Memory"], 33554432);
        assert_eq!(m["MemorySwap"], 134217728);
        assert_eq!(m["CpuShares"], 512);
        assert_eq!(m["PidsLimit"], 20);
        assert_eq!(m["RestartPolicy"], json!({"Name": "on-failure", "MaximumRetryCount": 3}));
        let m = merge(&m, &request(json!({"PidsLimit": -1, "RestartPolicy": {"Name": "", "MaximumRetryCount": 0}}))).unwrap();
        assert_eq!(m["PidsLimit"], 0);
        assert_eq!(m["RestartPolicy"]["Name"], "on-failure");
    }

    #[test]
    fn docker_conflicts_are_refused() {
        let none = json!({"Memory": 0, "MemorySwap": 0});
        assert!(merge(&none, &request(json!({"Memory": 67108864}))).unwrap_err().starts_with("Memory limit should be smaller than already set memoryswap limit"));
        assert_eq!(merge(&none, &request(json!({"Memory": 67108864, "MemorySwap": -1}))).unwrap()["MemorySwap"], -1);
        let nano = json!({"NanoCpus": 500000000});
        assert_eq!(merge(&nano, &request(json!({"CpuQuota": 20000}))).unwrap_err(), "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set");
        let rm = json!({"AutoRemove": true});
        assert_eq!(merge(&rm, &request(json!({"RestartPolicy": {"Name": "always"}}))).unwrap_err(), "Restart policy cannot be updated because AutoRemove is enabled for the container");
        assert_eq!(refused_field(&request(json!({"Memory": 1, "Ulimits": null, "OomKillDisable": true}))), Some("OomKillDisable"));
        assert_eq!(refused_field(&request(json!({"Memory": 1, "Ulimits": null, "CgroupParent": ""}))), None);
    }
}
