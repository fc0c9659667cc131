//! A running container's resource usage in Docker's stats JSON (`GET /containers/{id}/stats`):
//! its cgroup's counters (v1 or v2), the host's CPU time and memory, and the interfaces of its
//! network namespace.

use crate::cgroups::{Cgroup, Mode};
use serde_json::{json, Map, Value};
use std::path::Path;
use std::time::SystemTime;

/// Docker's zero time, for `read` and `preread` of frames without a sample.
const ZERO_TIME: &str = super::container::ZERO_TIME;

/// The CPU section with nothing measured, as Docker sends it before a first sample.
pub fn empty_cpu() -> Value {
    json!({
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    })
}

/// A frame of a container that is not running: its name and id, everything else zero.
pub fn empty_frame(name: &str, id: &str) -> Value {
    json!({
        "name": name,
        "id": id,
        "read": ZERO_TIME,
        "preread": ZERO_TIME,
        "pids_stats": {},
        "blkio_stats": blkio(None, None, false),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": empty_cpu(),
        "precpu_stats": empty_cpu(),
        "memory_stats": {},
    })
}

/// Docker's blkio section: cgroup v1 fills every list (empty ones `[]`), v2 only the bytes
/// (read and write; an empty list is `null`, as Go encodes a nil slice), nothing when not running.
fn blkio(bytes: Option<Vec<Value>>, ios: Option<Vec<Value>>, v1: bool) -> Value {
    let list = |v: Option<Vec<Value>>| match v {
        Some(v) if v1 || !v.is_empty() => Value::Array(v),
        _ if v1 => json!([]),
        _ => Value::Null,
    };
    json!({
        "io_service_bytes_recursive": list(bytes),
        "io_serviced_recursive": list(ios),
        "io_queue_recursive": list(None),
        "io_service_time_recursive": list(None),
        "io_wait_time_recursive": list(None),
        "io_merged_recursive": list(None),
        "io_time_recursive": list(None),
        "sectors_recursive": list(None),
    })
}

/// One sample of a running container (`precpu_stats`/`preread` are the caller's to fill).
pub fn sample(name: &str, id: &str, cgroup: &Cgroup, pid: u32) -> Result<Value, String> {
    let read = crate::sys::rfc3339_nanos(SystemTime::now());
    let s = cgroup.stats()?;
    let v2 = cgroup.mode == Mode::Unified;
    let mut cpu_usage = json!({"total_usage": s.cpu.usage.total, "usage_in_kernelmode": s.cpu.usage.kernel, "usage_in_usermode": s.cpu.usage.user});
    if !s.cpu.usage.percpu.is_empty() {
        cpu_usage["percpu_usage"] = json!(s.cpu.usage.percpu);
    }
    let cpu = json!({
        "cpu_usage": cpu_usage,
        "system_cpu_usage": system_cpu_usage(),
        "online_cpus": online_cpus(),
        "throttling_data": {"periods": s.cpu.throttling.periods, "throttled_periods": s.cpu.throttling.throttled_periods, "throttled_time": s.cpu.throttling.throttled_time},
    });
    let machine = machine_memory();
    // No limit reads as a huge number (v1) or "max" (v2, read as 0 here): the host's memory.
    let limit = match s.memory.usage.limit {
        0 => machine,
        l if machine > 0 && l > machine => machine,
        l => l,
    };
    let mut memory = json!({"usage": s.memory.usage.usage, "stats": s.memory.raw, "limit": limit});
    if !v2 {
        memory["max_usage"] = json!(s.memory.usage.max);
        memory["failcnt"] = json!(s.memory.usage.failcnt);
    } else if let Some(oom) = cgroup.unified.as_deref().and_then(|d| crate::cgroups::read_keyed(d, "memory.events").get("oom").copied()).filter(|n| *n > 0) {
        memory["failcnt"] = json!(oom);
    }
    let entry = |e: &crate::cgroups::stats::BlkioEntry| json!({"major": e.major, "minor": e.minor, "op": if v2 { e.op.to_ascii_lowercase() } else { e.op.clone() }, "value": e.value});
    let mut pids = Map::new();
    if s.pids.current > 0 {
        pids.insert("current".into(), json!(s.pids.current));
    }
    if s.pids.limit > 0 {
        pids.insert("limit".into(), json!(s.pids.limit));
    }
    let mut v = json!({
        "name": name,
        "id": id,
        "read": read,
        "preread": ZERO_TIME,
        "pids_stats": pids,
        "blkio_stats": blkio(Some(s.blkio.io_service_bytes_recursive.iter().map(entry).collect()), (!v2).then(|| s.blkio.io_serviced_recursive.iter().map(entry).collect()), !v2),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu,
        "precpu_stats": empty_cpu(),
        "memory_stats": memory,
    });
    let networks = networks(pid);
    if !networks.is_empty() {
        v["networks"] = Value::Object(networks);
    }
    Ok(v)
}

/// Fills `frame`'s `precpu_stats` and `preread` from the sample before it.
pub fn with_previous(mut frame: Value, previous: Option<&Value>) -> Value {
    if let Some(p) = previous {
        frame["precpu_stats"] = p["cpu_stats"].clone();
        frame["preread"] = p["read"].clone();
    }
    frame
}

/// The host's CPU time in nanoseconds: the first seven fields of /proc/stat's `cpu` line
/// (user to softirq), in clock ticks, as Docker counts it.
fn system_cpu_usage() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else { return 0 };
    let ticks: u64 = line.split_whitespace().skip(1).take(7).filter_map(|f| f.parse::<u64>().ok()).sum();
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * (1_000_000_000 / hz)
}

fn online_cpus() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as u64
}

/// MemTotal in bytes, read once (as Docker does at start): stats streams ask every second.
pub(super) fn machine_memory() -> u64 {
    static TOTAL: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TOTAL.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        text.lines().find_map(|l| l.strip_prefix("MemTotal:")).and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok()).map(|kb| kb * 1024).unwrap_or(0)
    })
}

/// The interfaces of the process's network namespace but loopback, from /proc/PID/net/dev.
fn networks(pid: u32) -> Map<String, Value> {
    parse_net_dev(&std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("net/dev")).unwrap_or_default())
}

fn parse_net_dev(text: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else { continue };
        let name = name.trim();
        let f: Vec<u64> = counters.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        if name == "lo" || f.len() < 12 {
            continue;
        }
        out.insert(
            name.to_string(),
            json!({
                "rx_bytes": f[0], "rx_packets": f[1], "rx_errors": f[2], "rx_dropped": f[3],
                "tx_bytes": f[8], "tx_packets": f[9], "tx_errors": f[10], "tx_dropped": f[11],
            }),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_counters_map_to_dockers_names() {
        let text = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n    lo: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n  eth0: 1500 12 1 2 0 0 0 0 900 7 3 4 0 0 0 0\n";
        let n = parse_net_dev(text);
        assert_eq!(n.len(), 1);
        assert_eq!(n["eth0"], json!({"rx_bytes": 1500, "rx_packets": 12, "rx_errors": 1, "rx_dropped": 2, "tx_bytes": 900, "tx_packets": 7, "tx_errors": 3, "tx_dropped": 4}));
        let e = empty_frame("/x", "abc");
        assert_eq!((e["read"].as_str(), e["memory_stats"].clone()), (Some(ZERO_TIME), json!({})));
    }
}
