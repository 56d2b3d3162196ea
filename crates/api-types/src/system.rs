//! `GET /info`, `GET /version`, `GET /system/df`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::container::Isolation;
use crate::serde_util::{is_false, is_zero, nullable};

/// `GET /info` (Go `system.Info`).
///
/// [`Info::default`] holds what is true of any berth daemon on Linux, so the
/// daemon only fills what it measures: ids and counts, driver status,
/// kernel and OS, CPU and memory, versions, the time, and the cgroup
/// capabilities if they differ from a cgroup v2 host's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Info {
    #[serde(rename = "ID", deserialize_with = "nullable")]
    pub id: String,
    #[serde(rename = "Containers", deserialize_with = "nullable")]
    pub containers: i64,
    #[serde(rename = "ContainersRunning", deserialize_with = "nullable")]
    pub containers_running: i64,
    #[serde(rename = "ContainersPaused", deserialize_with = "nullable")]
    pub containers_paused: i64,
    #[serde(rename = "ContainersStopped", deserialize_with = "nullable")]
    pub containers_stopped: i64,
    #[serde(rename = "Images", deserialize_with = "nullable")]
    pub images: i64,
    #[serde(rename = "Driver", deserialize_with = "nullable")]
    pub driver: String,
    /// Name/value pairs `docker info` prints under the driver.
    #[serde(rename = "DriverStatus")]
    pub driver_status: Option<Vec<[String; 2]>>,
    /// Classic Swarm only.
    #[serde(
        rename = "SystemStatus",
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub system_status: Vec<[String; 2]>,
    #[serde(rename = "Plugins", deserialize_with = "nullable")]
    pub plugins: PluginsInfo,
    #[serde(rename = "MemoryLimit", deserialize_with = "nullable")]
    pub memory_limit: bool,
    #[serde(rename = "SwapLimit", deserialize_with = "nullable")]
    pub swap_limit: bool,
    #[serde(rename = "CpuCfsPeriod", deserialize_with = "nullable")]
    pub cpu_cfs_period: bool,
    #[serde(rename = "CpuCfsQuota", deserialize_with = "nullable")]
    pub cpu_cfs_quota: bool,
    #[serde(rename = "CPUShares", deserialize_with = "nullable")]
    pub cpu_shares: bool,
    #[serde(rename = "CPUSet", deserialize_with = "nullable")]
    pub cpu_set: bool,
    #[serde(rename = "PidsLimit", deserialize_with = "nullable")]
    pub pids_limit: bool,
    #[serde(rename = "IPv4Forwarding", deserialize_with = "nullable")]
    pub ipv4_forwarding: bool,
    #[serde(rename = "Debug", deserialize_with = "nullable")]
    pub debug: bool,
    /// Open file descriptors of the daemon.
    #[serde(rename = "NFd", deserialize_with = "nullable")]
    pub n_fd: i64,
    #[serde(rename = "OomKillDisable", deserialize_with = "nullable")]
    pub oom_kill_disable: bool,
    /// Go's goroutine count; report the daemon's task or thread count.
    #[serde(rename = "NGoroutines", deserialize_with = "nullable")]
    pub n_goroutines: i64,
    /// RFC3339Nano, with the daemon's local offset in dockerd.
    #[serde(rename = "SystemTime", deserialize_with = "nullable")]
    pub system_time: String,
    #[serde(rename = "LoggingDriver", deserialize_with = "nullable")]
    pub logging_driver: String,
    /// `cgroupfs`, `systemd` or `none`.
    #[serde(rename = "CgroupDriver", deserialize_with = "nullable")]
    pub cgroup_driver: String,
    /// `1` or `2`.
    #[serde(
        rename = "CgroupVersion",
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub cgroup_version: String,
    #[serde(rename = "NEventsListener", deserialize_with = "nullable")]
    pub n_events_listener: i64,
    #[serde(rename = "KernelVersion", deserialize_with = "nullable")]
    pub kernel_version: String,
    /// `PRETTY_NAME` of os-release.
    #[serde(rename = "OperatingSystem", deserialize_with = "nullable")]
    pub operating_system: String,
    /// `VERSION_ID` of os-release.
    #[serde(rename = "OSVersion", deserialize_with = "nullable")]
    pub os_version: String,
    #[serde(rename = "OSType", deserialize_with = "nullable")]
    pub os_type: String,
    /// `uname -m` (`x86_64`, `aarch64`), unlike the Go names of `/version`.
    #[serde(rename = "Architecture", deserialize_with = "nullable")]
    pub architecture: String,
    #[serde(rename = "IndexServerAddress", deserialize_with = "nullable")]
    pub index_server_address: String,
    #[serde(rename = "RegistryConfig")]
    pub registry_config: Option<RegistryServiceConfig>,
    #[serde(rename = "NCPU", deserialize_with = "nullable")]
    pub ncpu: i64,
    /// Bytes.
    #[serde(rename = "MemTotal", deserialize_with = "nullable")]
    pub mem_total: i64,
    /// Swarm resources; passed through as is.
    #[serde(rename = "GenericResources")]
    pub generic_resources: Option<Vec<serde_json::Value>>,
    #[serde(rename = "DockerRootDir", deserialize_with = "nullable")]
    pub docker_root_dir: String,
    #[serde(rename = "HttpProxy", deserialize_with = "nullable")]
    pub http_proxy: String,
    #[serde(rename = "HttpsProxy", deserialize_with = "nullable")]
    pub https_proxy: String,
    #[serde(rename = "NoProxy", deserialize_with = "nullable")]
    pub no_proxy: String,
    /// The host name.
    #[serde(rename = "Name", deserialize_with = "nullable")]
    pub name: String,
    #[serde(rename = "Labels", deserialize_with = "nullable")]
    pub labels: Vec<String>,
    #[serde(rename = "ExperimentalBuild", deserialize_with = "nullable")]
    pub experimental_build: bool,
    #[serde(rename = "ServerVersion", deserialize_with = "nullable")]
    pub server_version: String,
    #[serde(rename = "Runtimes", deserialize_with = "nullable")]
    pub runtimes: BTreeMap<String, RuntimeWithStatus>,
    #[serde(rename = "DefaultRuntime", deserialize_with = "nullable")]
    pub default_runtime: String,
    #[serde(rename = "Swarm", deserialize_with = "nullable")]
    pub swarm: SwarmInfo,
    #[serde(rename = "LiveRestoreEnabled", deserialize_with = "nullable")]
    pub live_restore_enabled: bool,
    #[serde(rename = "Isolation", deserialize_with = "nullable")]
    pub isolation: Isolation,
    #[serde(rename = "InitBinary", deserialize_with = "nullable")]
    pub init_binary: String,
    #[serde(rename = "ContainerdCommit", deserialize_with = "nullable")]
    pub containerd_commit: Commit,
    #[serde(rename = "RuncCommit", deserialize_with = "nullable")]
    pub runc_commit: Commit,
    #[serde(rename = "InitCommit", deserialize_with = "nullable")]
    pub init_commit: Commit,
    /// `name=seccomp,profile=builtin` style entries; `docker info` parses them.
    #[serde(rename = "SecurityOptions")]
    pub security_options: Option<Vec<String>>,
    #[serde(
        rename = "ProductLicense",
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub product_license: String,
    #[serde(
        rename = "DefaultAddressPools",
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub default_address_pools: Vec<NetworkAddressPool>,
    /// API 1.49+.
    #[serde(rename = "FirewallBackend", skip_serializing_if = "Option::is_none")]
    pub firewall_backend: Option<FirewallInfo>,
    #[serde(rename = "CDISpecDirs")]
    pub cdi_spec_dirs: Option<Vec<String>>,
    /// API 1.50+.
    #[serde(
        rename = "DiscoveredDevices",
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub discovered_devices: Vec<DeviceInfo>,
    /// API 1.53+.
    #[serde(rename = "NRI", skip_serializing_if = "Option::is_none")]
    pub nri: Option<NriInfo>,
    /// API 1.46+.
    #[serde(rename = "Containerd", skip_serializing_if = "Option::is_none")]
    pub containerd: Option<ContainerdInfo>,
    /// Shown at the end of `docker info`.
    #[serde(rename = "Warnings")]
    pub warnings: Option<Vec<String>>,
}

impl Default for Info {
    fn default() -> Self {
        Info {
            id: String::new(),
            containers: 0,
            containers_running: 0,
            containers_paused: 0,
            containers_stopped: 0,
            images: 0,
            driver: String::new(),
            driver_status: None,
            system_status: Vec::new(),
            plugins: PluginsInfo::default(),
            // what a cgroup v2 host with all controllers delegated offers
            memory_limit: true,
            swap_limit: true,
            cpu_cfs_period: true,
            cpu_cfs_quota: true,
            cpu_shares: true,
            cpu_set: true,
            pids_limit: true,
            ipv4_forwarding: true,
            debug: false,
            n_fd: 0,
            oom_kill_disable: false,
            n_goroutines: 0,
            system_time: String::new(),
            logging_driver: "json-file".to_owned(),
            cgroup_driver: "cgroupfs".to_owned(),
            cgroup_version: "2".to_owned(),
            n_events_listener: 0,
            kernel_version: String::new(),
            operating_system: String::new(),
            os_version: String::new(),
            os_type: "linux".to_owned(),
            architecture: std::env::consts::ARCH.to_owned(),
            index_server_address: "https://index.docker.io/v1/".to_owned(),
            registry_config: Some(RegistryServiceConfig::default()),
            ncpu: 0,
            mem_total: 0,
            generic_resources: None,
            docker_root_dir: String::new(),
            http_proxy: String::new(),
            https_proxy: String::new(),
            no_proxy: String::new(),
            name: String::new(),
            labels: Vec::new(),
            experimental_build: false,
            server_version: String::new(),
            runtimes: [(
                "runc".to_owned(),
                RuntimeWithStatus {
                    path: "runc".to_owned(),
                    ..Default::default()
                },
            )]
            .into(),
            default_runtime: "runc".to_owned(),
            swarm: SwarmInfo::default(),
            live_restore_enabled: false,
            isolation: Isolation::default(),
            init_binary: String::new(),
            containerd_commit: Commit::default(),
            runc_commit: Commit::default(),
            init_commit: Commit::default(),
            security_options: Some(vec![
                "name=seccomp,profile=builtin".to_owned(),
                "name=cgroupns".to_owned(),
            ]),
            product_license: String::new(),
            default_address_pools: Vec::new(),
            firewall_backend: None,
            cdi_spec_dirs: Some(Vec::new()),
            discovered_devices: Vec::new(),
            nri: None,
            containerd: None,
            warnings: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PluginsInfo {
    #[serde(rename = "Volume")]
    pub volume: Option<Vec<String>>,
    #[serde(rename = "Network")]
    pub network: Option<Vec<String>>,
    #[serde(rename = "Authorization")]
    pub authorization: Option<Vec<String>>,
    #[serde(rename = "Log")]
    pub log: Option<Vec<String>>,
}

impl Default for PluginsInfo {
    fn default() -> Self {
        let list = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect());
        PluginsInfo {
            volume: list(&["local"]),
            network: list(&["bridge", "host", "null"]),
            authorization: None,
            log: list(&["json-file"]),
        }
    }
}

/// A component's commit; dockerd stopped sending `Expected` in API 1.49.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    #[serde(rename = "ID", default, deserialize_with = "nullable")]
    pub id: String,
}

/// A configured OCI runtime (Go `RuntimeWithStatus`: `Runtime` embedded).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeWithStatus {
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub path: String,
    #[serde(
        rename = "runtimeArgs",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub runtime_args: Vec<String>,
    /// A containerd shim name instead of a path.
    #[serde(
        rename = "runtimeType",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub runtime_type: String,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub options: BTreeMap<String, serde_json::Value>,
    /// API 1.44+.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub status: BTreeMap<String, String>,
}

/// Go's `swarm.Info`. The default is a node that is not in a swarm, which
/// is what `docker info` expects from a single-host engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SwarmInfo {
    #[serde(rename = "NodeID", deserialize_with = "nullable")]
    pub node_id: String,
    #[serde(rename = "NodeAddr", deserialize_with = "nullable")]
    pub node_addr: String,
    /// `inactive`, `pending`, `active`, `error` or `locked`.
    #[serde(rename = "LocalNodeState", deserialize_with = "nullable")]
    pub local_node_state: String,
    #[serde(rename = "ControlAvailable", deserialize_with = "nullable")]
    pub control_available: bool,
    #[serde(rename = "Error", deserialize_with = "nullable")]
    pub error: String,
    #[serde(rename = "RemoteManagers")]
    pub remote_managers: Option<Vec<Peer>>,
    #[serde(
        rename = "Nodes",
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub nodes: i64,
    #[serde(
        rename = "Managers",
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub managers: i64,
    #[serde(rename = "Cluster", skip_serializing_if = "Option::is_none")]
    pub cluster: Option<serde_json::Value>,
    #[serde(
        rename = "Warnings",
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub warnings: Vec<String>,
}

impl Default for SwarmInfo {
    fn default() -> Self {
        SwarmInfo {
            node_id: String::new(),
            node_addr: String::new(),
            local_node_state: "inactive".to_owned(),
            control_available: false,
            error: String::new(),
            remote_managers: None,
            nodes: 0,
            managers: 0,
            cluster: None,
            warnings: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    #[serde(rename = "NodeID", default, deserialize_with = "nullable")]
    pub node_id: String,
    #[serde(rename = "Addr", default, deserialize_with = "nullable")]
    pub addr: String,
}

/// Registry settings (Go `registry.ServiceConfig`); the default is
/// dockerd's out-of-the-box configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistryServiceConfig {
    #[serde(rename = "InsecureRegistryCIDRs")]
    pub insecure_registry_cidrs: Option<Vec<String>>,
    #[serde(rename = "IndexConfigs")]
    pub index_configs: Option<BTreeMap<String, IndexInfo>>,
    #[serde(rename = "Mirrors")]
    pub mirrors: Option<Vec<String>>,
}

impl Default for RegistryServiceConfig {
    fn default() -> Self {
        RegistryServiceConfig {
            insecure_registry_cidrs: Some(vec!["::1/128".to_owned(), "127.0.0.0/8".to_owned()]),
            index_configs: Some(
                [(
                    "docker.io".to_owned(),
                    IndexInfo {
                        name: "docker.io".to_owned(),
                        mirrors: Some(Vec::new()),
                        secure: true,
                        official: true,
                    },
                )]
                .into(),
            ),
            mirrors: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexInfo {
    #[serde(rename = "Name", default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(rename = "Mirrors", default)]
    pub mirrors: Option<Vec<String>>,
    #[serde(rename = "Secure", default, deserialize_with = "nullable")]
    pub secure: bool,
    #[serde(rename = "Official", default, deserialize_with = "nullable")]
    pub official: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAddressPool {
    /// A CIDR.
    #[serde(rename = "Base", default, deserialize_with = "nullable")]
    pub base: String,
    /// Prefix length of the subnets carved out of `Base`.
    #[serde(rename = "Size", default, deserialize_with = "nullable")]
    pub size: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallInfo {
    /// `iptables`, `nftables`, ...
    #[serde(rename = "Driver", default, deserialize_with = "nullable")]
    pub driver: String,
    #[serde(
        rename = "Info",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub info: Vec<[String; 2]>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// The device driver (`cdi`).
    #[serde(rename = "Source", default, deserialize_with = "nullable")]
    pub source: String,
    #[serde(rename = "ID", default, deserialize_with = "nullable")]
    pub id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NriInfo {
    #[serde(
        rename = "Info",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub info: Vec<[String; 2]>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerdInfo {
    #[serde(
        rename = "Address",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub address: String,
    #[serde(rename = "Namespaces", default, deserialize_with = "nullable")]
    pub namespaces: ContainerdNamespaces,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerdNamespaces {
    #[serde(rename = "Containers", default, deserialize_with = "nullable")]
    pub containers: String,
    #[serde(rename = "Plugins", default, deserialize_with = "nullable")]
    pub plugins: String,
}

/// `GET /version` (Go `system.VersionResponse`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Version {
    /// `omitempty` on a struct does nothing in Go: always written.
    #[serde(rename = "Platform", deserialize_with = "nullable")]
    pub platform: PlatformInfo,
    #[serde(
        rename = "Components",
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub components: Vec<ComponentVersion>,
    #[serde(rename = "Version", deserialize_with = "nullable")]
    pub version: String,
    #[serde(rename = "ApiVersion", deserialize_with = "nullable")]
    pub api_version: String,
    #[serde(
        rename = "MinAPIVersion",
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub min_api_version: String,
    #[serde(
        rename = "GitCommit",
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub git_commit: String,
    #[serde(
        rename = "GoVersion",
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub go_version: String,
    #[serde(rename = "Os", deserialize_with = "nullable")]
    pub os: String,
    /// Go's architecture name (`amd64`, `arm64`).
    #[serde(rename = "Arch", deserialize_with = "nullable")]
    pub arch: String,
    #[serde(
        rename = "KernelVersion",
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub kernel_version: String,
    #[serde(
        rename = "Experimental",
        deserialize_with = "nullable",
        skip_serializing_if = "is_false"
    )]
    pub experimental: bool,
    /// RFC 3339.
    #[serde(
        rename = "BuildTime",
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub build_time: String,
}

impl Default for Version {
    fn default() -> Self {
        Version {
            platform: PlatformInfo::default(),
            components: Vec::new(),
            version: String::new(),
            api_version: String::new(),
            min_api_version: String::new(),
            git_commit: String::new(),
            go_version: String::new(),
            os: "linux".to_owned(),
            arch: crate::oci::go_arch(std::env::consts::ARCH).to_owned(),
            kernel_version: String::new(),
            experimental: false,
            build_time: String::new(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformInfo {
    #[serde(rename = "Name", default, deserialize_with = "nullable")]
    pub name: String,
}

/// `docker version` prints one block per component ("Engine" first).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentVersion {
    #[serde(rename = "Name", default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(rename = "Version", default, deserialize_with = "nullable")]
    pub version: String,
    #[serde(
        rename = "Details",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub details: BTreeMap<String, String>,
}

/// `GET /system/df`.
///
/// API < 1.52 has only the legacy fields (`LayersSize`, `Images`,
/// `Containers`, `Volumes`, `BuildCache`), 1.52 both (the legacy ones unless
/// `verbose`), 1.53+ only the `*Usage` blocks. Every field is omitted when
/// unset, so the API server fills what the version calls for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiskUsage {
    #[serde(
        rename = "LayersSize",
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub layers_size: i64,
    #[serde(rename = "Images", skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<crate::image::Summary>>,
    #[serde(rename = "Containers", skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<crate::container::Summary>>,
    #[serde(rename = "Volumes", skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<crate::volume::Volume>>,
    /// Build cache records; berth has no builder, so these pass through.
    #[serde(rename = "BuildCache", skip_serializing_if = "Option::is_none")]
    pub build_cache: Option<Vec<serde_json::Value>>,

    #[serde(rename = "ImageUsage", skip_serializing_if = "Option::is_none")]
    pub image_usage: Option<crate::image::UsageSummary<crate::image::Summary>>,
    #[serde(rename = "ContainerUsage", skip_serializing_if = "Option::is_none")]
    pub container_usage: Option<crate::image::UsageSummary<crate::container::Summary>>,
    #[serde(rename = "VolumeUsage", skip_serializing_if = "Option::is_none")]
    pub volume_usage: Option<crate::image::UsageSummary<crate::volume::Volume>>,
    #[serde(rename = "BuildCacheUsage", skip_serializing_if = "Option::is_none")]
    pub build_cache_usage: Option<crate::image::UsageSummary<serde_json::Value>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_info_is_printable() {
        let v = serde_json::to_value(Info::default()).unwrap();
        let o = v.as_object().unwrap();
        for k in [
            "SystemStatus",
            "ProductLicense",
            "DefaultAddressPools",
            "FirewallBackend",
            "DiscoveredDevices",
            "NRI",
            "Containerd",
            "KernelMemoryTCP",
        ] {
            assert!(!o.contains_key(k), "{k} should be omitted");
        }
        for k in ["DriverStatus", "GenericResources", "Warnings"] {
            assert!(o[k].is_null(), "{k} should be null");
        }
        assert_eq!(
            o["Swarm"],
            json!({"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                   "ControlAvailable": false, "Error": "", "RemoteManagers": null})
        );
        assert_eq!(o["ContainerdCommit"], json!({"ID": ""}));
        assert_eq!(o["Runtimes"], json!({"runc": {"path": "runc"}}));
        assert_eq!(o["OSType"], "linux");
        assert_eq!(o["CDISpecDirs"], json!([]));
        assert_eq!(o["CgroupVersion"], "2");
        assert_eq!(o["Plugins"]["Authorization"], json!(null));
        assert_eq!(
            o["RegistryConfig"]["IndexConfigs"]["docker.io"]["Official"],
            true
        );
        assert_eq!(o["Isolation"], "");
        // and it reads back, including from a sparse or null-ridden body
        assert_eq!(serde_json::from_value::<Info>(v).unwrap(), Info::default());
        let sparse: Info =
            serde_json::from_str(r#"{"ID":"x","Swarm":null,"NCPU":4,"Labels":null}"#).unwrap();
        assert_eq!(sparse.ncpu, 4);
        assert_eq!(sparse.swarm, SwarmInfo::default());
        assert!(sparse.labels.is_empty());
        assert_eq!(sparse.os_type, "linux");
    }

    #[test]
    fn version_shape() {
        let v = Version {
            platform: PlatformInfo {
                name: "berth".into(),
            },
            components: vec![ComponentVersion {
                name: "Engine".into(),
                version: "0.1.0".into(),
                details: [("ApiVersion".to_owned(), "1.55".to_owned())].into(),
            }],
            version: "0.1.0".into(),
            api_version: "1.55".into(),
            min_api_version: "1.24".into(),
            os: "linux".into(),
            arch: "amd64".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            json!({
                "Platform": {"Name": "berth"},
                "Components": [{"Name": "Engine", "Version": "0.1.0", "Details": {"ApiVersion": "1.55"}}],
                "Version": "0.1.0", "ApiVersion": "1.55", "MinAPIVersion": "1.24",
                "Os": "linux", "Arch": "amd64"
            })
        );
        assert_eq!(
            serde_json::to_value(Version::default()).unwrap()["Platform"],
            json!({"Name": ""})
        );
    }

    #[test]
    fn disk_usage_legacy_and_current() {
        assert_eq!(serde_json::to_string(&DiskUsage::default()).unwrap(), "{}");
        let legacy = DiskUsage {
            layers_size: 10,
            images: Some(vec![]),
            containers: Some(vec![]),
            volumes: Some(vec![]),
            build_cache: Some(vec![]),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&legacy).unwrap(),
            json!({"LayersSize": 10, "Images": [], "Containers": [], "Volumes": [], "BuildCache": []})
        );
        let current = DiskUsage {
            image_usage: Some(crate::image::UsageSummary {
                total_count: 2,
                total_size: 10,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&current).unwrap(),
            json!({"ImageUsage": {"TotalCount": 2, "TotalSize": 10}})
        );
    }
}
