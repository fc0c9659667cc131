//! A cgroup's statistics in the JSON shape of runc's `events --stats` (`data` of a
//! `{"type":"stats"}` event).

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub cpuset: CpuSet,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
    /// runc manages no Intel RDT group for an OCI spec's container: always `{}`.
    pub intel_rdt: IntelRdt,
    /// runc 1.1 reports interfaces only for networks of its own configuration, which an
    /// OCI spec cannot name: always `null`, as runc's.
    pub network_interfaces: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct IntelRdt {}

/// v1's cpuset files (runc reports none on cgroup2: the lists stay out, the rest 0).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuSet {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    pub cpu_exclusive: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

/// A cpuset list (`0-3,8`) as its numbers.
pub fn parse_cpu_list(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u16>().ok()),
        }
    }
    out
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuUsage {
    /// Nanoseconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Throttling {
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    #[serde(rename = "throttledPeriods", skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    #[serde(rename = "throttledTime", skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Memory {
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Pids {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Blkio {
    #[serde(rename = "ioServiceBytesRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioServicedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    #[serde(rename = "failcnt")]
    pub failcnt: u64,
}

/// blkio's `MAJ:MIN Op value` lines (v1), skipping the `Total` line.
pub fn parse_blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() != 3 {
                return None;
            }
            let (maj, min) = f[0].split_once(':')?;
            Some(BlkioEntry { major: maj.parse().ok()?, minor: min.parse().ok()?, op: f[1].to_string(), value: f[2].parse().ok()? })
        })
        .collect()
}

/// io.stat's `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=..` lines (v2) as runc reports them:
/// (bytes, ios) entries with ops Read and Write.
pub fn parse_io_stat_v2(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some((maj, min)) = f.next().and_then(|d| d.split_once(':')) else { continue };
        let (Ok(major), Ok(minor)) = (maj.parse(), min.parse()) else { continue };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else { continue };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry { major, minor, op: op.into(), value });
        }
    }
    (bytes, ios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blkio_lines_parse() {
        let v1 = parse_blkio_v1("8:0 Read 4096\n8:0 Write 0\nTotal 4096\n");
        assert_eq!(v1.len(), 2);
        assert_eq!((v1[0].major, v1[0].op.as_str(), v1[0].value), (8, "Read", 4096));
        let (b, i) = parse_io_stat_v2("259:0 rbytes=512 wbytes=1024 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(b.iter().map(|e| e.value).collect::<Vec<_>>(), vec![512, 1024]);
        assert_eq!(i[1].op, "Write");
    }

    #[test]
    fn cpu_lists_and_runc_shape() {
        assert_eq!(parse_cpu_list("0-2,5\n"), vec![0, 1, 2, 5]);
        assert_eq!(parse_cpu_list(""), Vec::<u16>::new());
        let v = serde_json::to_value(Stats::default()).unwrap();
        assert_eq!(v["network_interfaces"], serde_json::Value::Null);
        assert_eq!(v["intel_rdt"], serde_json::json!({}));
        assert_eq!(v["hugetlb"], serde_json::json!({}));
        assert_eq!(v["memory"]["usage"], serde_json::json!({"limit": 0, "failcnt": 0}));
        assert_eq!(v["cpu"]["usage"], serde_json::json!({"kernel": 0, "user": 0}));
    }
}
