//! `GET /containers/{id}/stats` bodies (moby `container.StatsResponse`).
//! Go's `omitempty` never omits a struct, so the nested objects are always
//! there; scalars marked omitempty in Go are left out when zero.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::serde_util::is_zero;

/// One sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatsResponse {
    /// With the leading '/'.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default = "crate::time::zero_time", with = "crate::time::rfc3339_nano")]
    pub read: DateTime<Utc>,
    #[serde(default = "crate::time::zero_time", with = "crate::time::rfc3339_nano")]
    pub preread: DateTime<Utc>,
    #[serde(default)]
    pub pids_stats: PidsStats,
    #[serde(default)]
    pub blkio_stats: BlkioStats,
    #[serde(default)]
    pub num_procs: u32,
    #[serde(default)]
    pub storage_stats: StorageStats,
    #[serde(default)]
    pub cpu_stats: CpuStats,
    #[serde(default)]
    pub precpu_stats: CpuStats,
    #[serde(default)]
    pub memory_stats: MemoryStats,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<BTreeMap<String, NetworkStats>>,
}

impl Default for StatsResponse {
    fn default() -> Self {
        StatsResponse {
            name: String::new(),
            id: String::new(),
            read: crate::time::zero_time(),
            preread: crate::time::zero_time(),
            pids_stats: PidsStats::default(),
            blkio_stats: BlkioStats::default(),
            num_procs: 0,
            storage_stats: StorageStats::default(),
            cpu_stats: CpuStats::default(),
            precpu_stats: CpuStats::default(),
            memory_stats: MemoryStats::default(),
            networks: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidsStats {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub current: u64,
    /// 0: no limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// The lists are `null` when the kernel gave nothing, as in Go.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioStats {
    #[serde(default)]
    pub io_service_bytes_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_serviced_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_queue_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_service_time_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_wait_time_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_merged_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_time_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub sectors_recursive: Option<Vec<BlkioStatEntry>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioStatEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

/// Windows only; always empty here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageStats {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub read_count_normalized: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub read_size_bytes: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub write_count_normalized: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub write_size_bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuStats {
    #[serde(default)]
    pub cpu_usage: CpuUsage,
    /// The host's CPU time in nanoseconds (from /proc/stat).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub system_cpu_usage: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub online_cpus: u32,
    #[serde(default)]
    pub throttling_data: ThrottlingData,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuUsage {
    /// Nanoseconds.
    #[serde(default)]
    pub total_usage: u64,
    /// cgroup v1 only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_usage: Vec<u64>,
    #[serde(default)]
    pub usage_in_kernelmode: u64,
    #[serde(default)]
    pub usage_in_usermode: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottlingData {
    #[serde(default)]
    pub periods: u64,
    #[serde(default)]
    pub throttled_periods: u64,
    #[serde(default)]
    pub throttled_time: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// cgroup v1 only.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_usage: u64,
    /// memory.stat, as the kernel names its keys.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stats: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failcnt: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_sample_is_shaped_like_dockerds() {
        let s = StatsResponse {
            name: "/c".into(),
            id: "abc".into(),
            ..Default::default()
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["read"], "0001-01-01T00:00:00Z");
        assert_eq!(v["pids_stats"], serde_json::json!({}));
        assert_eq!(
            v["blkio_stats"]["io_service_bytes_recursive"],
            serde_json::Value::Null
        );
        assert_eq!(v["num_procs"], 0);
        assert_eq!(
            v["cpu_stats"],
            serde_json::json!({
                "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
            })
        );
        assert_eq!(v["memory_stats"], serde_json::json!({}));
        assert!(v.get("networks").is_none());
        let back: StatsResponse = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }
}
