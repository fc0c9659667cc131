//! The resource flags of `docker run`/`docker create` (`-m`, `--cpus`, `--pids-limit`,
//! `--device-read-bps`, ...) turned into the HostConfig fields the real CLI sends.

use super::flags::{flag, Kind, Parsed, Spec};
use serde_json::{json, Value};

pub const FLAGS: &[Spec] = &[
    flag("blkio-weight", None, Kind::Value, "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)"),
    flag("cgroup-parent", None, Kind::Value, "Optional parent cgroup for the container"),
    flag("cpu-period", None, Kind::Value, "Limit CPU CFS (Completely Fair Scheduler) period"),
    flag("cpu-quota", None, Kind::Value, "Limit CPU CFS (Completely Fair Scheduler) quota"),
    flag("cpu-shares", Some('c'), Kind::Value, "CPU shares (relative weight)"),
    flag("cpus", None, Kind::Value, "Number of CPUs"),
    flag("cpuset-cpus", None, Kind::Value, "CPUs in which to allow execution (0-3, 0,1)"),
    flag("cpuset-mems", None, Kind::Value, "MEMs in which to allow execution (0-3, 0,1)"),
    flag("device-read-bps", None, Kind::List, "Limit read rate (bytes per second) from a device (default [])"),
    flag("device-read-iops", None, Kind::List, "Limit read rate (IO per second) from a device (default [])"),
    flag("device-write-bps", None, Kind::List, "Limit write rate (bytes per second) to a device (default [])"),
    flag("device-write-iops", None, Kind::List, "Limit write rate (IO per second) to a device (default [])"),
    flag("memory", Some('m'), Kind::Value, "Memory limit"),
    flag("memory-reservation", None, Kind::Value, "Memory soft limit"),
    flag("memory-swap", None, Kind::Value, "Swap limit equal to memory plus swap: '-1' to enable unlimited swap"),
    flag("memory-swappiness", None, Kind::Value, "Tune container memory swappiness (0 to 100) (default -1)"),
    flag("oom-kill-disable", None, Kind::Bool, "Disable OOM Killer"),
    flag("pids-limit", None, Kind::Value, "Tune container pids limit (set -1 for unlimited)"),
];

/// `a` followed by `b`, at compile time: a command's own flags plus [`FLAGS`].
pub const fn concat<const N: usize>(a: &[Spec], b: &[Spec]) -> [Spec; N] {
    let mut out = [flag("", None, Kind::Bool, ""); N];
    let mut i = 0;
    while i < N {
        out[i] = if i < a.len() { a[i] } else { b[i - a.len()] };
        i += 1;
    }
    out
}

/// Docker's RAMInBytes: `64m`, `1.5g`, `512k`, `1024`, with optional `b`/`ib`.
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let t = lower.strip_suffix("ib").or_else(|| lower.strip_suffix('b')).unwrap_or(&lower);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some('p') => (&t[..t.len() - 1], 1 << 50),
        _ => (t, 1),
    };
    match num.parse::<f64>() {
        Ok(n) if n >= 0.0 => Ok((n * mult as f64) as i64),
        _ => Err(format!("invalid size: '{s}'")),
    }
}

fn bad(value: &str, short: Option<char>, long: &str, why: impl std::fmt::Display) -> String {
    let name = match short {
        Some(c) => format!("-{c}, --{long}"),
        None => format!("--{long}"),
    };
    format!("invalid argument \"{value}\" for \"{name}\" flag: {why}")
}

/// `PATH:RATE` device limits.
fn device_rates(p: &Parsed, long: &str, bytes: bool) -> Result<Value, String> {
    let mut out = Vec::new();
    for v in p.list(long) {
        let (path, rate) = v.rsplit_once(':').ok_or_else(|| bad(v, None, long, format!("bad format: {v}")))?;
        if !path.starts_with("/dev/") {
            return Err(bad(v, None, long, format!("bad format for device path: {path}")));
        }
        let rate = if bytes { ram_in_bytes(rate).map_err(|e| bad(v, None, long, e))? } else { rate.parse::<i64>().map_err(|_| bad(v, None, long, format!("invalid rate for device: {v}. The correct format is <device-path>:<number>. Number must be a positive integer")))? };
        out.push(json!({"Path": path, "Rate": rate}));
    }
    Ok(if out.is_empty() { Value::Null } else { json!(out) })
}

/// Adds the resource fields to the create body's HostConfig.
pub fn add_to_host_config(p: &Parsed, body: &mut Value) -> Result<(), String> {
    let h = body["HostConfig"].as_object_mut().ok_or("no HostConfig")?;
    let int = |long: &str, short: Option<char>| -> Result<i64, String> {
        match p.value(long) {
            Some(v) => v.parse::<i64>().map_err(|e| {
                // Go's strconv wording.
                let why = if matches!(e.kind(), std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow) { "value out of range" } else { "invalid syntax" };
                bad(v, short, long, format!("strconv.ParseInt: parsing \"{v}\": {why}"))
            }),
            None => Ok(0),
        }
    };
    let bytes = |long: &str, short: Option<char>| -> Result<i64, String> {
        match p.value(long) {
            Some("-1") if long == "memory-swap" => Ok(-1),
            Some(v) => ram_in_bytes(v).map_err(|e| bad(v, short, long, e)),
            None => Ok(0),
        }
    };
    h.insert("Memory".into(), json!(bytes("memory", Some('m'))?));
    h.insert("MemoryReservation".into(), json!(bytes("memory-reservation", None)?));
    h.insert("MemorySwap".into(), json!(bytes("memory-swap", None)?));
    h.insert("MemorySwappiness".into(), if p.has("memory-swappiness") { json!(int("memory-swappiness", None)?) } else { Value::Null });
    h.insert("OomKillDisable".into(), json!(p.bool("oom-kill-disable")));
    h.insert("CpuShares".into(), json!(int("cpu-shares", Some('c'))?));
    h.insert("CpuQuota".into(), json!(int("cpu-quota", None)?));
    h.insert("CpuPeriod".into(), json!(int("cpu-period", None)?));
    let nano = match p.value("cpus") {
        Some(v) => {
            let n: f64 = v.parse().map_err(|_| bad(v, None, "cpus", format!("failed to parse {v} as a rational number")))?;
            (n * 1e9).round() as i64
        }
        None => 0,
    };
    h.insert("NanoCpus".into(), json!(nano));
    h.insert("CpusetCpus".into(), json!(p.value("cpuset-cpus").unwrap_or("")));
    h.insert("CpusetMems".into(), json!(p.value("cpuset-mems").unwrap_or("")));
    // The CLI sends PidsLimit only when the flag is non-zero.
    let pids = int("pids-limit", None)?;
    h.insert("PidsLimit".into(), if pids != 0 { json!(pids) } else { Value::Null });
    let weight = int("blkio-weight", None)?;
    h.insert("BlkioWeight".into(), json!(weight));
    h.insert("BlkioDeviceReadBps".into(), device_rates(p, "device-read-bps", true)?);
    h.insert("BlkioDeviceWriteBps".into(), device_rates(p, "device-write-bps", true)?);
    h.insert("BlkioDeviceReadIOps".into(), device_rates(p, "device-read-iops", false)?);
    h.insert("BlkioDeviceWriteIOps".into(), device_rates(p, "device-write-iops", false)?);
    h.insert("CgroupParent".into(), json!(p.value("cgroup-parent").unwrap_or("")));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_host_config_fields() {
        let args: Vec<String> = ["-m", "64m", "--pids-limit", "20", "--cpus", "1.5", "-c", "512", "--device-read-bps", "/dev/sda:1mb", "busybox"].iter().map(|s| s.to_string()).collect();
        let p = super::super::flags::parse(FLAGS, &args, false).unwrap();
        let mut body = json!({"HostConfig": {}});
        add_to_host_config(&p, &mut body).unwrap();
        let h = &body["HostConfig"];
        assert_eq!(h["Memory"], 67108864);
        assert_eq!(h["PidsLimit"], 20);
        assert_eq!(h["NanoCpus"], 1_500_000_000i64);
        assert_eq!(h["CpuShares"], 512);
        assert_eq!(h["BlkioDeviceReadBps"], json!([{"Path": "/dev/sda", "Rate": 1048576}]));
        assert_eq!(ram_in_bytes("1.5g").unwrap(), 1610612736);
        assert_eq!(ram_in_bytes("10MiB").unwrap(), 10 << 20);
        assert!(ram_in_bytes("lots").is_err());
    }
}
