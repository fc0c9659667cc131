//! The spec's `linux.resources`, typed for the cgroup code (the OCI types keep all but the
//! device rules as JSON), and runc's v1 → v2 value conversions.

use crate::oci::DeviceRule;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<Pids>,
    #[serde(rename = "blockIO", default, skip_serializing_if = "Option::is_none")]
    pub block_io: Option<BlockIo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hugepage_limits: Vec<HugepageLimit>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unified: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<i64>,
    #[serde(rename = "kernelTCP", default, skip_serializing_if = "Option::is_none")]
    pub kernel_tcp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swappiness: Option<u64>,
    #[serde(rename = "disableOOMKiller", default, skip_serializing_if = "Option::is_none")]
    pub disable_oom_killer: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Cpu {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realtime_runtime: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realtime_period: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mems: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Pids {
    pub limit: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BlockIo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_weight: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weight_device: Vec<WeightDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub throttle_read_bps_device: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub throttle_write_bps_device: Vec<ThrottleDevice>,
    #[serde(rename = "throttleReadIOPSDevice", default, skip_serializing_if = "Vec::is_empty")]
    pub throttle_read_iops_device: Vec<ThrottleDevice>,
    #[serde(rename = "throttleWriteIOPSDevice", default, skip_serializing_if = "Vec::is_empty")]
    pub throttle_write_iops_device: Vec<ThrottleDevice>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WeightDevice {
    pub major: i64,
    pub minor: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_weight: Option<u16>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ThrottleDevice {
    pub major: i64,
    pub minor: i64,
    pub rate: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HugepageLimit {
    /// "2MB", "1GB", as in hugetlb.<size>.limit_in_bytes.
    pub page_size: String,
    pub limit: u64,
}

impl Resources {
    /// The typed view of the spec's resources.
    pub fn from_spec(r: &crate::oci::Resources) -> Result<Resources, String> {
        let value = serde_json::to_value(r).map_err(|e| e.to_string())?;
        serde_json::from_value(value).map_err(|e| format!("linux.resources: {e}"))
    }
}

/// runc's cpu.shares (2..262144) → cpu.weight (1..10000); 0 means unset.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        0
    } else {
        1 + (shares.saturating_sub(2) * 9999) / 262142
    }
}

/// runc's blkio.weight (10..1000) → io.weight (1..10000); 0 means unset.
pub fn blkio_weight_to_io_weight(weight: u64) -> u64 {
    if weight == 0 {
        0
    } else {
        1 + (weight.saturating_sub(10) * 9999) / 990
    }
}

/// memory.swap.max from the spec's memory+swap value, as runc converts it: -1 is "max",
/// 0 is unset, otherwise the swap part alone.
pub fn swap_to_v2(swap: i64, memory: i64) -> Result<i64, String> {
    if memory == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if memory == 0 || memory == -1 {
        return Err("unable to set swap limit without memory limit".into());
    }
    if memory < 0 {
        return Err(format!("invalid memory value: {memory}"));
    }
    if swap < memory {
        return Err("memory+swap limit should be >= memory limit".into());
    }
    Ok(swap - memory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_match_runc() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10000);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(swap_to_v2(200, 100), Ok(100));
        assert_eq!(swap_to_v2(-1, 100), Ok(-1));
        assert_eq!(swap_to_v2(0, -1), Ok(-1));
        assert!(swap_to_v2(50, 100).is_err());
        assert!(swap_to_v2(50, 0).is_err());
    }

    #[test]
    fn spec_resources_parse() {
        let r: crate::oci::Resources = serde_json::from_str(
            r#"{"devices":[{"allow":false,"access":"rwm"}],"memory":{"limit":67108864,"swap":134217728},"cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0"},"pids":{"limit":10},"blockIO":{"weight":300,"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}]},"hugepageLimits":[{"pageSize":"2MB","limit":0}]}"#,
        )
        .unwrap();
        let t = Resources::from_spec(&r).unwrap();
        assert_eq!(t.memory.as_ref().unwrap().limit, Some(67108864));
        assert_eq!(t.cpu.as_ref().unwrap().cpus.as_deref(), Some("0"));
        assert_eq!(t.pids, Some(Pids { limit: 10 }));
        assert_eq!(t.block_io.as_ref().unwrap().throttle_read_bps_device[0].rate, 1048576);
        assert_eq!(t.hugepage_limits[0].page_size, "2MB");
        assert_eq!(t.devices.len(), 1);
    }
}
