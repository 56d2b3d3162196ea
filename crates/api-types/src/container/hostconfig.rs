//! The host-dependent part of a container's configuration
//! (moby `container.HostConfig` and `container.Resources`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::mount::Mount;
use crate::network::PortMap;
use crate::serde_util::{nullable, string_type, strslice};

string_type! {
    /// `HostConfig.NetworkMode`: a mode below, `container:<id|name>`, or the
    /// name of a user-defined network.
    NetworkMode {
        DEFAULT = "default",
        BRIDGE = "bridge",
        HOST = "host",
        NONE = "none",
    }
}

impl NetworkMode {
    /// The container named by `container:<id|name>`.
    pub fn container(&self) -> Option<&str> {
        container_ref(self)
    }

    /// Neither a built-in mode nor `container:`; empty counts as default.
    pub fn is_user_defined(&self) -> bool {
        !self.is_empty()
            && *self != Self::DEFAULT
            && *self != Self::BRIDGE
            && *self != Self::HOST
            && *self != Self::NONE
            && self.container().is_none()
    }
}

string_type! {
    /// `HostConfig.IpcMode`: a mode below or `container:<id|name>`.
    IpcMode {
        NONE = "none",
        HOST = "host",
        PRIVATE = "private",
        SHAREABLE = "shareable",
    }
}

impl IpcMode {
    pub fn container(&self) -> Option<&str> {
        container_ref(self)
    }
}

string_type! {
    /// `HostConfig.PidMode`: empty (private), `host`, or `container:<id|name>`.
    PidMode {
        HOST = "host",
    }
}

impl PidMode {
    pub fn container(&self) -> Option<&str> {
        container_ref(self)
    }
}

string_type! {
    /// `HostConfig.CgroupnsMode`; empty means the daemon default.
    CgroupnsMode {
        PRIVATE = "private",
        HOST = "host",
    }
}

string_type! {
    /// `HostConfig.Isolation`: Windows only; Linux accepts empty or `default`.
    Isolation {
        DEFAULT = "default",
        PROCESS = "process",
        HYPERV = "hyperv",
    }
}

string_type! {
    /// `HostConfig.UsernsMode`: empty or `host`.
    UsernsMode {
        HOST = "host",
    }
}

string_type! {
    /// `HostConfig.UTSMode`: empty or `host`.
    UtsMode {
        HOST = "host",
    }
}

string_type! {
    /// `HostConfig.Cgroup`: empty or `container:<id|name>`.
    CgroupSpec {}
}

impl CgroupSpec {
    pub fn container(&self) -> Option<&str> {
        container_ref(self)
    }
}

string_type! {
    /// `RestartPolicy.Name`; empty is the same as `no`.
    RestartPolicyMode {
        DISABLED = "no",
        ALWAYS = "always",
        ON_FAILURE = "on-failure",
        UNLESS_STOPPED = "unless-stopped",
    }
}

fn container_ref(mode: &str) -> Option<&str> {
    mode.strip_prefix("container:")
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    #[serde(
        rename = "Type",
        alias = "type",
        default,
        deserialize_with = "nullable"
    )]
    pub typ: String,
    #[serde(rename = "Config", alias = "config", default)]
    pub config: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    #[serde(
        rename = "Name",
        alias = "name",
        default,
        deserialize_with = "nullable"
    )]
    pub name: RestartPolicyMode,
    #[serde(
        rename = "MaximumRetryCount",
        alias = "maximumretrycount",
        default,
        deserialize_with = "nullable"
    )]
    pub maximum_retry_count: i64,
}

impl RestartPolicy {
    pub fn is_none(&self) -> bool {
        self.name.is_empty() || self.name == RestartPolicyMode::DISABLED
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightDevice {
    #[serde(
        rename = "Path",
        alias = "path",
        default,
        deserialize_with = "nullable"
    )]
    pub path: String,
    #[serde(
        rename = "Weight",
        alias = "weight",
        default,
        deserialize_with = "nullable"
    )]
    pub weight: u16,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottleDevice {
    #[serde(
        rename = "Path",
        alias = "path",
        default,
        deserialize_with = "nullable"
    )]
    pub path: String,
    #[serde(
        rename = "Rate",
        alias = "rate",
        default,
        deserialize_with = "nullable"
    )]
    pub rate: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceMapping {
    #[serde(
        rename = "PathOnHost",
        alias = "pathonhost",
        default,
        deserialize_with = "nullable"
    )]
    pub path_on_host: String,
    #[serde(
        rename = "PathInContainer",
        alias = "pathincontainer",
        default,
        deserialize_with = "nullable"
    )]
    pub path_in_container: String,
    /// Some of `rwm`.
    #[serde(
        rename = "CgroupPermissions",
        alias = "cgrouppermissions",
        default,
        deserialize_with = "nullable"
    )]
    pub cgroup_permissions: String,
}

/// A request for devices from a device driver (`--gpus`, CDI).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRequest {
    #[serde(
        rename = "Driver",
        alias = "driver",
        default,
        deserialize_with = "nullable"
    )]
    pub driver: String,
    /// -1 for all devices.
    #[serde(
        rename = "Count",
        alias = "count",
        default,
        deserialize_with = "nullable"
    )]
    pub count: i64,
    #[serde(rename = "DeviceIDs", alias = "deviceids", default)]
    pub device_ids: Option<Vec<String>>,
    /// An OR of ANDs of capabilities (`[["gpu", "nvidia"]]`).
    #[serde(rename = "Capabilities", alias = "capabilities", default)]
    pub capabilities: Option<Vec<Vec<String>>>,
    #[serde(rename = "Options", alias = "options", default)]
    pub options: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    #[serde(
        rename = "Name",
        alias = "name",
        default,
        deserialize_with = "nullable"
    )]
    pub name: String,
    #[serde(
        rename = "Hard",
        alias = "hard",
        default,
        deserialize_with = "nullable"
    )]
    pub hard: i64,
    #[serde(
        rename = "Soft",
        alias = "soft",
        default,
        deserialize_with = "nullable"
    )]
    pub soft: i64,
}

/// Resource limits: flattened into [`HostConfig`] on the wire, and alone the
/// body of `POST /containers/{id}/update` (with a restart policy, see
/// [`UpdateConfig`]).
///
/// For update, zero numbers mean "leave unchanged", `None` pointers too; for
/// the `Blkio*` lists, `None` leaves the rules alone and `Some(vec![])`
/// clears them (API 1.55).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Relative CPU weight.
    #[serde(
        rename = "CpuShares",
        alias = "cpushares",
        default,
        deserialize_with = "nullable"
    )]
    pub cpu_shares: i64,
    /// Bytes.
    #[serde(
        rename = "Memory",
        alias = "memory",
        default,
        deserialize_with = "nullable"
    )]
    pub memory: i64,
    /// CPU quota in billionths of a CPU (`--cpus 1.5` is 1500000000).
    #[serde(
        rename = "NanoCpus",
        alias = "nanocpus",
        alias = "NanoCPUs",
        default,
        deserialize_with = "nullable"
    )]
    pub nano_cpus: i64,
    #[serde(
        rename = "CgroupParent",
        alias = "cgroupparent",
        default,
        deserialize_with = "nullable"
    )]
    pub cgroup_parent: String,
    #[serde(
        rename = "BlkioWeight",
        alias = "blkioweight",
        default,
        deserialize_with = "nullable"
    )]
    pub blkio_weight: u16,
    #[serde(rename = "BlkioWeightDevice", alias = "blkioweightdevice", default)]
    pub blkio_weight_device: Option<Vec<WeightDevice>>,
    #[serde(rename = "BlkioDeviceReadBps", alias = "blkiodevicereadbps", default)]
    pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceWriteBps", alias = "blkiodevicewritebps", default)]
    pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceReadIOps", alias = "blkiodevicereadiops", default)]
    pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
    #[serde(
        rename = "BlkioDeviceWriteIOps",
        alias = "blkiodevicewriteiops",
        default
    )]
    pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
    #[serde(
        rename = "CpuPeriod",
        alias = "cpuperiod",
        default,
        deserialize_with = "nullable"
    )]
    pub cpu_period: i64,
    #[serde(
        rename = "CpuQuota",
        alias = "cpuquota",
        default,
        deserialize_with = "nullable"
    )]
    pub cpu_quota: i64,
    #[serde(
        rename = "CpuRealtimePeriod",
        alias = "cpurealtimeperiod",
        // docker-py's spelling (Go matches keys in any case).
        alias = "CPURealtimePeriod",
        default,
        deserialize_with = "nullable"
    )]
    pub cpu_realtime_period: i64,
    #[serde(
        rename = "CpuRealtimeRuntime",
        alias = "cpurealtimeruntime",
        // docker-py's spelling (Go matches keys in any case).
        alias = "CPURealtimeRuntime",
        default,
        deserialize_with = "nullable"
    )]
    pub cpu_realtime_runtime: i64,
    /// `0-2`, `0,1`.
    #[serde(
        rename = "CpusetCpus",
        alias = "cpusetcpus",
        default,
        deserialize_with = "nullable"
    )]
    pub cpuset_cpus: String,
    #[serde(
        rename = "CpusetMems",
        alias = "cpusetmems",
        default,
        deserialize_with = "nullable"
    )]
    pub cpuset_mems: String,
    #[serde(rename = "Devices", alias = "devices", default)]
    pub devices: Option<Vec<DeviceMapping>>,
    #[serde(rename = "DeviceCgroupRules", alias = "devicecgrouprules", default)]
    pub device_cgroup_rules: Option<Vec<String>>,
    #[serde(rename = "DeviceRequests", alias = "devicerequests", default)]
    pub device_requests: Option<Vec<DeviceRequest>>,
    /// Removed in API 1.52 and ignored; set only when answering older
    /// versions, which showed it (as `omitempty`).
    #[serde(
        rename = "KernelMemoryTCP",
        alias = "kernelmemorytcp",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub kernel_memory_tcp: Option<i64>,
    /// Soft limit, bytes.
    #[serde(
        rename = "MemoryReservation",
        alias = "memoryreservation",
        default,
        deserialize_with = "nullable"
    )]
    pub memory_reservation: i64,
    /// Memory plus swap, bytes; -1 for unlimited swap.
    #[serde(
        rename = "MemorySwap",
        alias = "memoryswap",
        default,
        deserialize_with = "nullable"
    )]
    pub memory_swap: i64,
    #[serde(rename = "MemorySwappiness", alias = "memoryswappiness", default)]
    pub memory_swappiness: Option<i64>,
    #[serde(rename = "OomKillDisable", alias = "oomkilldisable", default)]
    pub oom_kill_disable: Option<bool>,
    /// 0 or -1 for unlimited; `None` to leave unchanged.
    #[serde(rename = "PidsLimit", alias = "pidslimit", default)]
    pub pids_limit: Option<i64>,
    #[serde(rename = "Ulimits", alias = "ulimits", default)]
    pub ulimits: Option<Vec<Ulimit>>,
    /// Windows only.
    #[serde(
        rename = "CpuCount",
        alias = "cpucount",
        default,
        deserialize_with = "nullable"
    )]
    pub cpu_count: i64,
    /// Windows only.
    #[serde(
        rename = "CpuPercent",
        alias = "cpupercent",
        default,
        deserialize_with = "nullable"
    )]
    pub cpu_percent: i64,
    /// Windows only.
    #[serde(
        rename = "IOMaximumIOps",
        alias = "iomaximumiops",
        default,
        deserialize_with = "nullable"
    )]
    pub io_maximum_iops: u64,
    /// Windows only.
    #[serde(
        rename = "IOMaximumBandwidth",
        alias = "iomaximumbandwidth",
        default,
        deserialize_with = "nullable"
    )]
    pub io_maximum_bandwidth: u64,
}

/// Body of `POST /containers/{id}/update`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateConfig {
    #[serde(flatten)]
    pub resources: Resources,
    /// `None` when the client did not send one (leave it unchanged).
    #[serde(
        rename = "RestartPolicy",
        alias = "restartpolicy",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub restart_policy: Option<RestartPolicy>,
}

/// Go's `container.HostConfig`.
///
/// `Option` fields are the ones Go writes as `null` when unset; plain
/// `Vec`/`BTreeMap` fields are `omitempty` in Go.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostConfig {
    /// `-v` specs: `src:dst[:opts]`.
    #[serde(rename = "Binds", alias = "binds", default)]
    pub binds: Option<Vec<String>>,
    #[serde(
        rename = "ContainerIDFile",
        alias = "containeridfile",
        default,
        deserialize_with = "nullable"
    )]
    pub container_id_file: String,
    #[serde(
        rename = "LogConfig",
        alias = "logconfig",
        default,
        deserialize_with = "nullable"
    )]
    pub log_config: LogConfig,
    #[serde(
        rename = "NetworkMode",
        alias = "networkmode",
        default,
        deserialize_with = "nullable"
    )]
    pub network_mode: NetworkMode,
    #[serde(rename = "PortBindings", alias = "portbindings", default)]
    pub port_bindings: Option<PortMap>,
    #[serde(
        rename = "RestartPolicy",
        alias = "restartpolicy",
        default,
        deserialize_with = "nullable"
    )]
    pub restart_policy: RestartPolicy,
    #[serde(
        rename = "AutoRemove",
        alias = "autoremove",
        default,
        deserialize_with = "nullable"
    )]
    pub auto_remove: bool,
    #[serde(
        rename = "VolumeDriver",
        alias = "volumedriver",
        default,
        deserialize_with = "nullable"
    )]
    pub volume_driver: String,
    #[serde(rename = "VolumesFrom", alias = "volumesfrom", default)]
    pub volumes_from: Option<Vec<String>>,
    /// Initial TTY size: height, width.
    #[serde(
        rename = "ConsoleSize",
        alias = "consolesize",
        default,
        deserialize_with = "nullable"
    )]
    pub console_size: [u64; 2],
    #[serde(
        rename = "Annotations",
        alias = "annotations",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,

    #[serde(
        rename = "CapAdd",
        alias = "capadd",
        default,
        deserialize_with = "strslice::deserialize"
    )]
    pub cap_add: Option<Vec<String>>,
    #[serde(
        rename = "CapDrop",
        alias = "capdrop",
        default,
        deserialize_with = "strslice::deserialize"
    )]
    pub cap_drop: Option<Vec<String>>,
    #[serde(
        rename = "CgroupnsMode",
        alias = "cgroupnsmode",
        default,
        deserialize_with = "nullable"
    )]
    pub cgroupns_mode: CgroupnsMode,
    #[serde(rename = "Dns", alias = "dns", alias = "DNS", default)]
    pub dns: Option<Vec<String>>,
    #[serde(
        rename = "DnsOptions",
        alias = "dnsoptions",
        alias = "DNSOptions",
        default
    )]
    pub dns_options: Option<Vec<String>>,
    #[serde(
        rename = "DnsSearch",
        alias = "dnssearch",
        alias = "DNSSearch",
        default
    )]
    pub dns_search: Option<Vec<String>>,
    /// `host:ip` lines for /etc/hosts.
    #[serde(rename = "ExtraHosts", alias = "extrahosts", default)]
    pub extra_hosts: Option<Vec<String>>,
    #[serde(rename = "GroupAdd", alias = "groupadd", default)]
    pub group_add: Option<Vec<String>>,
    #[serde(
        rename = "IpcMode",
        alias = "ipcmode",
        default,
        deserialize_with = "nullable"
    )]
    pub ipc_mode: IpcMode,
    #[serde(
        rename = "Cgroup",
        alias = "cgroup",
        default,
        deserialize_with = "nullable"
    )]
    pub cgroup: CgroupSpec,
    #[serde(rename = "Links", alias = "links", default)]
    pub links: Option<Vec<String>>,
    #[serde(
        rename = "OomScoreAdj",
        alias = "oomscoreadj",
        default,
        deserialize_with = "nullable"
    )]
    pub oom_score_adj: i64,
    #[serde(
        rename = "PidMode",
        alias = "pidmode",
        default,
        deserialize_with = "nullable"
    )]
    pub pid_mode: PidMode,
    #[serde(
        rename = "Privileged",
        alias = "privileged",
        default,
        deserialize_with = "nullable"
    )]
    pub privileged: bool,
    #[serde(
        rename = "PublishAllPorts",
        alias = "publishallports",
        default,
        deserialize_with = "nullable"
    )]
    pub publish_all_ports: bool,
    #[serde(
        rename = "ReadonlyRootfs",
        alias = "readonlyrootfs",
        default,
        deserialize_with = "nullable"
    )]
    pub readonly_rootfs: bool,
    #[serde(rename = "SecurityOpt", alias = "securityopt", default)]
    pub security_opt: Option<Vec<String>>,
    #[serde(
        rename = "StorageOpt",
        alias = "storageopt",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub storage_opt: BTreeMap<String, String>,
    /// Container path to tmpfs mount options.
    #[serde(
        rename = "Tmpfs",
        alias = "tmpfs",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub tmpfs: BTreeMap<String, String>,
    #[serde(
        rename = "UTSMode",
        alias = "utsmode",
        default,
        deserialize_with = "nullable"
    )]
    pub uts_mode: UtsMode,
    #[serde(
        rename = "UsernsMode",
        alias = "usernsmode",
        default,
        deserialize_with = "nullable"
    )]
    pub userns_mode: UsernsMode,
    /// Bytes of /dev/shm; 0 for the daemon default.
    #[serde(
        rename = "ShmSize",
        alias = "shmsize",
        default,
        deserialize_with = "nullable"
    )]
    pub shm_size: i64,
    #[serde(
        rename = "Sysctls",
        alias = "sysctls",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub sysctls: BTreeMap<String, String>,
    #[serde(
        rename = "Runtime",
        alias = "runtime",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub runtime: String,
    #[serde(
        rename = "Isolation",
        alias = "isolation",
        default,
        deserialize_with = "nullable"
    )]
    pub isolation: Isolation,

    #[serde(flatten)]
    pub resources: Resources,

    /// `--mount` specs.
    #[serde(
        rename = "Mounts",
        alias = "mounts",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub mounts: Vec<Mount>,
    /// `None` asks for the default masked paths; `Some(vec![])` for none.
    #[serde(rename = "MaskedPaths", alias = "maskedpaths", default)]
    pub masked_paths: Option<Vec<String>>,
    /// `None` asks for the default read-only paths; `Some(vec![])` for none.
    #[serde(rename = "ReadonlyPaths", alias = "readonlypaths", default)]
    pub readonly_paths: Option<Vec<String>>,
    /// Run an init as PID 1; `None` for the daemon default.
    #[serde(
        rename = "Init",
        alias = "init",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub init: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_helpers() {
        assert_eq!(NetworkMode::new("container:web").container(), Some("web"));
        assert!(NetworkMode::new("mynet").is_user_defined());
        assert!(!NetworkMode::BRIDGE.is_user_defined());
        assert!(!NetworkMode::new("").is_user_defined());
        assert!(!NetworkMode::new("container:x").is_user_defined());
        assert_eq!(PidMode::new("container:db").container(), Some("db"));
        assert!(RestartPolicy::default().is_none());
        assert!(
            !RestartPolicy {
                name: RestartPolicyMode::ALWAYS,
                ..Default::default()
            }
            .is_none()
        );
        assert_eq!(NetworkMode::HOST, "host");
    }

    #[test]
    fn update_body_alone() {
        let u: UpdateConfig = serde_json::from_str(
            r#"{"Memory":314572800,"MemorySwap":-1,"CpuShares":512,"BlkioDeviceReadBps":[],"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}"#,
        )
        .unwrap();
        assert_eq!(u.resources.memory, 314_572_800);
        assert_eq!(u.resources.memory_swap, -1);
        assert_eq!(u.resources.blkio_device_read_bps, Some(vec![]));
        assert_eq!(u.resources.blkio_device_write_bps, None);
        let rp = u.restart_policy.unwrap();
        assert_eq!(rp.name, RestartPolicyMode::ON_FAILURE);
        assert_eq!(rp.maximum_retry_count, 3);
        let u: UpdateConfig = serde_json::from_str(r#"{"PidsLimit":null}"#).unwrap();
        assert_eq!(u, UpdateConfig::default());
    }
}
