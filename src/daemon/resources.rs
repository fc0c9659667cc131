//! A container's HostConfig limits as the spec's `linux.resources`, the way dockerd fills
//! them in (cgroupfs driver: cgroupsPath `/docker/<id>`), with the device rules Docker puts
//! in every spec.

use serde_json::{json, Map, Value};

/// dockerd's `--cgroup-parent`, set once at start (`set_default_parent`).
static DEFAULT_PARENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The parent of containers that name none (Docker's `/docker` unless `--cgroup-parent`).
pub fn set_default_parent(parent: &str) {
    let _ = DEFAULT_PARENT.set(parent.to_string());
}

/// `/docker/<id>`: Docker's cgroupfs driver with the default cgroup parent (or dockerd's
/// `--cgroup-parent`).
pub fn cgroups_path(host_config: &Value, id: &str) -> String {
    let default = DEFAULT_PARENT.get().map(String::as_str).unwrap_or("/docker");
    let parent = host_config.get("CgroupParent").and_then(Value::as_str).filter(|p| !p.is_empty()).unwrap_or(default);
    format!("{}/{id}", parent.trim_end_matches('/'))
}

fn int(h: &Value, key: &str) -> i64 {
    h.get(key).and_then(Value::as_i64).unwrap_or(0)
}

/// Docker's checks of the HostConfig limits, with its messages.
pub fn validate(h: &Value) -> Result<(), String> {
    let memory = int(h, "Memory");
    if memory != 0 && memory < 6 * 1024 * 1024 {
        return Err("Minimum memory limit allowed is 6MB".into());
    }
    let swap = int(h, "MemorySwap");
    if memory > 0 && swap > 0 && swap < memory {
        return Err("Minimum memoryswap limit should be larger than memory limit, see usage".into());
    }
    if memory == 0 && swap > 0 {
        return Err("You should always set the Memory limit when using Memoryswap limit, see usage".into());
    }
    let reservation = int(h, "MemoryReservation");
    if memory > 0 && reservation > 0 && memory < reservation {
        return Err("Minimum memory limit can not be less than memory reservation limit, see usage".into());
    }
    if reservation != 0 && reservation < 6 * 1024 * 1024 {
        return Err("Minimum memory reservation allowed is 6MB".into());
    }
    let nano = int(h, "NanoCpus");
    if nano > 0 && int(h, "CpuPeriod") > 0 {
        return Err("Conflicting options: Nano CPUs and CPU Period cannot both be set".into());
    }
    if nano > 0 && int(h, "CpuQuota") > 0 {
        return Err("Conflicting options: Nano CPUs and CPU Quota cannot both be set".into());
    }
    let cpus = std::thread::available_parallelism().map(|n| n.get() as i64).unwrap_or(1);
    if nano < 0 || nano > cpus * 1_000_000_000 {
        return Err(format!("range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"));
    }
    let period = int(h, "CpuPeriod");
    if period != 0 && !(1000..=1_000_000).contains(&period) {
        return Err("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)".into());
    }
    let quota = int(h, "CpuQuota");
    if quota > 0 && quota < 1000 {
        return Err("CPU cfs quota can not be less than 1ms (i.e. 1000)".into());
    }
    let weight = int(h, "BlkioWeight");
    if weight > 0 && !(10..=1000).contains(&weight) {
        return Err("Range of blkio weight is from 10 to 1000".into());
    }
    for d in h.get("BlkioWeightDevice").and_then(Value::as_array).into_iter().flatten() {
        let w = d.get("Weight").and_then(Value::as_i64).unwrap_or(0);
        if !(10..=1000).contains(&w) && w != 0 {
            return Err(format!("invalid BlkioWeightDevice: weight {w} is out of range: weights are from 10 to 1000"));
        }
    }
    let (rt_period, rt_runtime) = (int(h, "CpuRealtimePeriod"), int(h, "CpuRealtimeRuntime"));
    if rt_period > 0 && rt_runtime > rt_period {
        return Err("cpu-rt-runtime cannot be higher than cpu-rt-period".into());
    }
    Ok(())
}

/// `major:minor` of the device node at `path`.
fn device_numbers(path: &str) -> Result<(u64, u64), String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = std::fs::metadata(path).map_err(|e| format!("failed to stat device {path}: {e}"))?;
    if !meta.file_type().is_block_device() && !meta.file_type().is_char_device() {
        return Err(format!("{path} is not a device"));
    }
    let rdev = meta.rdev();
    Ok((libc::major(rdev) as u64, libc::minor(rdev) as u64))
}

fn throttles(h: &Value, key: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for d in h.get(key).and_then(Value::as_array).into_iter().flatten() {
        let path = d.get("Path").and_then(Value::as_str).unwrap_or("");
        let (major, minor) = device_numbers(path)?;
        out.push(json!({"major": major, "minor": minor, "rate": d.get("Rate").and_then(Value::as_u64).unwrap_or(0)}));
    }
    Ok(out)
}

/// Whether the host's blkio (v1) or io (v2) controller takes a weight.
fn blkio_weight_supported() -> bool {
    ["/sys/fs/cgroup/blkio/blkio.weight", "/sys/fs/cgroup/blkio/blkio.bfq.weight", "/sys/fs/cgroup/cgroup.controllers"].iter().any(|p| std::path::Path::new(p).exists())
}

/// Docker's device rules: nothing but mknod and the standard character devices.
fn default_device_rules() -> Vec<Value> {
    let mut rules = vec![json!({"allow": false, "access": "rwm"})];
    rules.extend(crate::cgroups::devices::default_allowed().iter().map(|r| serde_json::to_value(r).expect("rules serialize")));
    rules
}

/// `linux.resources` for the HostConfig `h`.
pub fn linux_resources(h: &Value) -> Result<Value, String> {
    validate(h)?;
    let mut r = Map::new();
    r.insert("devices".into(), json!(default_device_rules()));

    let mut memory = Map::new();
    let limit = int(h, "Memory");
    if limit > 0 {
        memory.insert("limit".into(), json!(limit));
    }
    let reservation = int(h, "MemoryReservation");
    if reservation > 0 {
        memory.insert("reservation".into(), json!(reservation));
    }
    // dockerd's default: swap as large as the memory limit (memory+swap = twice the limit).
    let swap = match int(h, "MemorySwap") {
        0 if limit > 0 => limit * 2,
        s => s,
    };
    if swap != 0 {
        memory.insert("swap".into(), json!(swap));
    }
    if let Some(s) = h.get("MemorySwappiness").and_then(Value::as_i64).filter(|s| *s >= 0) {
        memory.insert("swappiness".into(), json!(s));
    }
    if h.get("OomKillDisable").and_then(Value::as_bool) == Some(true) {
        memory.insert("disableOOMKiller".into(), json!(true));
    }
    if !memory.is_empty() {
        r.insert("memory".into(), Value::Object(memory));
    }

    let mut cpu = Map::new();
    if int(h, "CpuShares") > 0 {
        cpu.insert("shares".into(), json!(int(h, "CpuShares")));
    }
    let nano = int(h, "NanoCpus");
    if nano > 0 {
        // --cpus: a 100 ms period and the matching share of it.
        let period = 100_000i64;
        cpu.insert("quota".into(), json!(nano * period / 1_000_000_000));
        cpu.insert("period".into(), json!(period));
    } else {
        if int(h, "CpuQuota") != 0 {
            cpu.insert("quota".into(), json!(int(h, "CpuQuota")));
        }
        if int(h, "CpuPeriod") != 0 {
            cpu.insert("period".into(), json!(int(h, "CpuPeriod")));
        }
    }
    if int(h, "CpuRealtimePeriod") > 0 {
        cpu.insert("realtimePeriod".into(), json!(int(h, "CpuRealtimePeriod")));
    }
    if int(h, "CpuRealtimeRuntime") > 0 {
        cpu.insert("realtimeRuntime".into(), json!(int(h, "CpuRealtimeRuntime")));
    }
    for (key, name) in [("CpusetCpus", "cpus"), ("CpusetMems", "mems")] {
        if let Some(v) = h.get(key).and_then(Value::as_str).filter(|v| !v.is_empty()) {
            cpu.insert(name.into(), json!(v));
        }
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }

    if let Some(p) = h.get("PidsLimit").and_then(Value::as_i64) {
        // 0 and -1 both mean unlimited.
        r.insert("pids".into(), json!({"limit": if p > 0 { p } else { -1 }}));
    }

    let mut blkio = Map::new();
    let weight = int(h, "BlkioWeight");
    if weight > 0 && blkio_weight_supported() {
        blkio.insert("weight".into(), json!(weight));
    }
    let mut weights = Vec::new();
    for d in h.get("BlkioWeightDevice").and_then(Value::as_array).into_iter().flatten() {
        let (major, minor) = device_numbers(d.get("Path").and_then(Value::as_str).unwrap_or(""))?;
        weights.push(json!({"major": major, "minor": minor, "weight": d.get("Weight").and_then(Value::as_u64).unwrap_or(0)}));
    }
    if !weights.is_empty() {
        blkio.insert("weightDevice".into(), json!(weights));
    }
    for (key, name) in [
        ("BlkioDeviceReadBps", "throttleReadBpsDevice"),
        ("BlkioDeviceWriteBps", "throttleWriteBpsDevice"),
        ("BlkioDeviceReadIOps", "throttleReadIOPSDevice"),
        ("BlkioDeviceWriteIOps", "throttleWriteIOPSDevice"),
    ] {
        let list = throttles(h, key)?;
        if !list.is_empty() {
            blkio.insert(name.into(), json!(list));
        }
    }
    if !blkio.is_empty() {
        r.insert("blockIO".into(), Value::Object(blkio));
    }
    Ok(Value::Object(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_config_becomes_resources_as_docker_does() {
        let h = json!({"Memory": 67108864, "MemoryReservation": 33554432, "NanoCpus": 500000000, "CpuShares": 512, "CpusetCpus": "0", "PidsLimit": 20, "MemorySwappiness": -1});
        let r = linux_resources(&h).unwrap();
        assert_eq!(r["memory"], json!({"limit": 67108864, "reservation": 33554432, "swap": 134217728}));
        assert_eq!(r["cpu"], json!({"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"}));
        assert_eq!(r["pids"], json!({"limit": 20}));
        assert_eq!(r["devices"][0], json!({"allow": false, "access": "rwm"}));
        assert!(r["devices"].as_array().unwrap().contains(&json!({"allow": true, "type": "c", "major": 136, "access": "rwm"})));
        assert_eq!(linux_resources(&json!({"PidsLimit": 0})).unwrap()["pids"], json!({"limit": -1}));
        assert_eq!(linux_resources(&json!({"Memory": 1024})).unwrap_err(), "Minimum memory limit allowed is 6MB");
        assert!(linux_resources(&json!({"NanoCpus": 1, "CpuPeriod": 100000})).unwrap_err().contains("Conflicting options"));
        let r = linux_resources(&json!({"BlkioDeviceReadBps": [{"Path": "/dev/null", "Rate": 1024}]})).unwrap();
        assert_eq!(r["blockIO"]["throttleReadBpsDevice"], json!([{"major": 1, "minor": 3, "rate": 1024}]));
        assert_eq!(cgroups_path(&json!({}), "abc"), "/docker/abc");
    }
}
