//! Container bodies: create, inspect, list, wait, top, changes, update,
//! prune, exec, and the docker cp path stat.

mod config;
mod exec;
mod filemode;
mod hostconfig;
mod mount;

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use self::config::{Config, HealthConfig};
pub use self::exec::{ExecCreateRequest, ExecInspect, ExecProcessConfig, ExecStartRequest};
pub use self::filemode::*;
pub use self::hostconfig::{
    CgroupSpec, CgroupnsMode, DeviceMapping, DeviceRequest, HostConfig, IpcMode, Isolation,
    LogConfig, NetworkMode, PidMode, Resources, RestartPolicy, RestartPolicyMode, ThrottleDevice,
    Ulimit, UpdateConfig, UsernsMode, UtsMode, WeightDevice,
};
pub use self::mount::{
    BindOptions, Consistency, Driver, ImageOptions, Mount, MountType, Propagation, TmpfsOptions,
    VolumeOptions,
};
pub use crate::network::{
    EndpointIpamConfig, EndpointSettings, NetworkingConfig, PortBinding, PortMap, PortSet,
};
use crate::oci::Descriptor;
use crate::serde_util::{is_zero, nullable, nullable_map_values, string_type};
use crate::storage::{DriverData, Storage};

string_type! {
    /// `State.Status` and the `State` of list entries.
    ContainerState {
        CREATED = "created",
        RUNNING = "running",
        PAUSED = "paused",
        RESTARTING = "restarting",
        REMOVING = "removing",
        EXITED = "exited",
        DEAD = "dead",
    }
}

string_type! {
    HealthStatus {
        /// No health check is configured (list entries only).
        NONE = "none",
        STARTING = "starting",
        HEALTHY = "healthy",
        UNHEALTHY = "unhealthy",
    }
}

/// Body of `POST /containers/create`: the [`Config`] fields at the top
/// level, next to `HostConfig` and `NetworkingConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateRequest {
    #[serde(flatten)]
    pub config: Config,
    #[serde(
        rename = "HostConfig",
        alias = "hostconfig",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub host_config: Option<HostConfig>,
    #[serde(
        rename = "NetworkingConfig",
        alias = "networkingconfig",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub networking_config: Option<NetworkingConfig>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateResponse {
    #[serde(rename = "Id", default, deserialize_with = "nullable")]
    pub id: String,
    /// Always an array, `[]` when there is nothing to say.
    #[serde(rename = "Warnings", default, deserialize_with = "nullable")]
    pub warnings: Vec<String>,
}

/// `POST /containers/{id}/update`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateResponse {
    #[serde(rename = "Warnings", default, deserialize_with = "nullable")]
    pub warnings: Vec<String>,
}

/// `POST /containers/{id}/wait`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitResponse {
    /// Omitted when there was no error (Go `omitempty` pointer).
    #[serde(rename = "Error", default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WaitExitError>,
    #[serde(rename = "StatusCode", default, deserialize_with = "nullable")]
    pub status_code: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitExitError {
    #[serde(
        rename = "Message",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub message: String,
}

/// `GET /containers/{id}/top`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopResponse {
    #[serde(rename = "Titles", default)]
    pub titles: Option<Vec<String>>,
    #[serde(rename = "Processes", default)]
    pub processes: Option<Vec<Vec<String>>>,
}

/// The kind of a filesystem change; a Go `uint8` on the wire.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct ChangeType(pub u8);

impl ChangeType {
    pub const MODIFY: ChangeType = ChangeType(0);
    pub const ADD: ChangeType = ChangeType(1);
    pub const DELETE: ChangeType = ChangeType(2);

    /// The letter `docker diff` prints: `C`, `A`, `D`.
    pub fn letter(self) -> &'static str {
        match self {
            ChangeType::MODIFY => "C",
            ChangeType::ADD => "A",
            ChangeType::DELETE => "D",
            _ => "",
        }
    }
}

/// One entry of `GET /containers/{id}/changes`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesystemChange {
    #[serde(rename = "Path", default, deserialize_with = "nullable")]
    pub path: String,
    #[serde(rename = "Kind", default, deserialize_with = "nullable")]
    pub kind: ChangeType,
}

/// Header carrying a base64 [`PathStat`] on `HEAD`/`GET`/`PUT
/// /containers/{id}/archive`.
pub const PATH_STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

/// What `docker cp` learns about a path (Go `container.PathStat`).
///
/// The default has the zero time as `mtime`: the Go client fails to decode
/// the header if `mtime` is not an RFC 3339 time, so it must never be empty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathStat {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub size: i64,
    /// A Go `os.FileMode`, not an `st_mode`: convert with [`go_file_mode`].
    #[serde(default, deserialize_with = "nullable")]
    pub mode: u32,
    /// RFC3339Nano, as [`crate::time::format_rfc3339_nano`] writes it.
    #[serde(default, deserialize_with = "nullable")]
    pub mtime: String,
    /// For a symlink, where it points (as the container sees it).
    #[serde(rename = "linkTarget", default, deserialize_with = "nullable")]
    pub link_target: String,
}

impl Default for PathStat {
    fn default() -> Self {
        PathStat {
            name: String::new(),
            size: 0,
            mode: 0,
            mtime: crate::time::ZERO_TIME.to_owned(),
            link_target: String::new(),
        }
    }
}

impl PathStat {
    /// From what `lstat` says: converts `st_mode` to a Go file mode and
    /// formats `mtime` as Go does.
    pub fn from_stat(
        name: impl Into<String>,
        size: i64,
        st_mode: u32,
        mtime: DateTime<Utc>,
        link_target: impl Into<String>,
    ) -> Self {
        PathStat {
            name: name.into(),
            size,
            mode: go_file_mode(st_mode),
            mtime: crate::time::format_rfc3339_nano(mtime),
            link_target: link_target.into(),
        }
    }

    /// The [`PATH_STAT_HEADER`] value: base64 (standard, padded) of the JSON.
    pub fn to_header_value(&self) -> String {
        BASE64.encode(serde_json::to_vec(self).expect("a PathStat always serialises"))
    }

    pub fn from_header_value(value: &str) -> Result<PathStat, String> {
        let raw = BASE64
            .decode(value.trim())
            .map_err(|e| format!("invalid path stat header: {e}"))?;
        serde_json::from_slice(&raw).map_err(|e| format!("invalid path stat header: {e}"))
    }

    pub fn is_dir(&self) -> bool {
        self.mode & MODE_DIR != 0
    }

    pub fn is_symlink(&self) -> bool {
        self.mode & MODE_SYMLINK != 0
    }
}

/// `POST /containers/prune`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneReport {
    #[serde(rename = "ContainersDeleted", default)]
    pub containers_deleted: Option<Vec<String>>,
    #[serde(rename = "SpaceReclaimed", default, deserialize_with = "nullable")]
    pub space_reclaimed: u64,
}

/// A mount as inspect and list report it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    #[serde(
        rename = "Type",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "MountType::is_empty"
    )]
    pub typ: MountType,
    /// Volume name; empty for binds and tmpfs.
    #[serde(
        rename = "Name",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    #[serde(rename = "Source", default, deserialize_with = "nullable")]
    pub source: String,
    #[serde(rename = "Destination", default, deserialize_with = "nullable")]
    pub destination: String,
    #[serde(
        rename = "Driver",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub driver: String,
    /// The options as given (`ro`, `z`, ...); often empty.
    #[serde(rename = "Mode", default, deserialize_with = "nullable")]
    pub mode: String,
    #[serde(rename = "RW", default, deserialize_with = "nullable")]
    pub rw: bool,
    #[serde(rename = "Propagation", default, deserialize_with = "nullable")]
    pub propagation: Propagation,
}

/// `State` of `GET /containers/{id}/json`. The default is a container that
/// was created and never started (Docker's zero times, status `created`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    #[serde(rename = "Status", default, deserialize_with = "nullable")]
    pub status: ContainerState,
    #[serde(rename = "Running", default, deserialize_with = "nullable")]
    pub running: bool,
    #[serde(rename = "Paused", default, deserialize_with = "nullable")]
    pub paused: bool,
    #[serde(rename = "Restarting", default, deserialize_with = "nullable")]
    pub restarting: bool,
    #[serde(rename = "OOMKilled", default, deserialize_with = "nullable")]
    pub oom_killed: bool,
    #[serde(rename = "Dead", default, deserialize_with = "nullable")]
    pub dead: bool,
    #[serde(rename = "Pid", default, deserialize_with = "nullable")]
    pub pid: i64,
    #[serde(rename = "ExitCode", default, deserialize_with = "nullable")]
    pub exit_code: i64,
    #[serde(rename = "Error", default, deserialize_with = "nullable")]
    pub error: String,
    /// RFC3339Nano; [`crate::time::ZERO_TIME`] when never started.
    #[serde(rename = "StartedAt", default, deserialize_with = "nullable")]
    pub started_at: String,
    /// RFC3339Nano; [`crate::time::ZERO_TIME`] when never exited.
    #[serde(rename = "FinishedAt", default, deserialize_with = "nullable")]
    pub finished_at: String,
    #[serde(rename = "Health", default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

impl Default for State {
    fn default() -> Self {
        State {
            status: ContainerState::CREATED,
            running: false,
            paused: false,
            restarting: false,
            oom_killed: false,
            dead: false,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            started_at: crate::time::ZERO_TIME.to_owned(),
            finished_at: crate::time::ZERO_TIME.to_owned(),
            health: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    #[serde(rename = "Status", default, deserialize_with = "nullable")]
    pub status: HealthStatus,
    #[serde(rename = "FailingStreak", default, deserialize_with = "nullable")]
    pub failing_streak: i64,
    /// The last few results, oldest first.
    #[serde(rename = "Log", default, deserialize_with = "nullable")]
    pub log: Vec<HealthcheckResult>,
}

/// The health of a list entry (API 1.52+).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthSummary {
    #[serde(rename = "Status", default, deserialize_with = "nullable")]
    pub status: HealthStatus,
    #[serde(rename = "FailingStreak", default, deserialize_with = "nullable")]
    pub failing_streak: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthcheckResult {
    #[serde(
        rename = "Start",
        default = "crate::time::zero_time",
        with = "crate::time::rfc3339_nano"
    )]
    pub start: DateTime<Utc>,
    #[serde(
        rename = "End",
        default = "crate::time::zero_time",
        with = "crate::time::rfc3339_nano"
    )]
    pub end: DateTime<Utc>,
    /// 0 healthy, 1 unhealthy, 2 reserved, other: the probe failed to run.
    #[serde(rename = "ExitCode", default, deserialize_with = "nullable")]
    pub exit_code: i64,
    #[serde(rename = "Output", default, deserialize_with = "nullable")]
    pub output: String,
}

impl Default for HealthcheckResult {
    fn default() -> Self {
        HealthcheckResult {
            start: crate::time::zero_time(),
            end: crate::time::zero_time(),
            exit_code: 0,
            output: String::new(),
        }
    }
}

/// `NetworkSettings` of `GET /containers/{id}/json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSettings {
    /// Fields dropped in API 1.52. Set them (copied from the `bridge`
    /// endpoint, as dockerd does) when answering older API versions; `None`
    /// omits them all.
    #[serde(flatten)]
    pub legacy: Option<LegacyNetworkSettings>,
    #[serde(rename = "SandboxID", default, deserialize_with = "nullable")]
    pub sandbox_id: String,
    /// Path of the network namespace.
    #[serde(rename = "SandboxKey", default, deserialize_with = "nullable")]
    pub sandbox_key: String,
    #[serde(rename = "Ports", default)]
    pub ports: Option<PortMap>,
    #[serde(rename = "Networks", default, deserialize_with = "nullable_map_values")]
    pub networks: Option<BTreeMap<String, EndpointSettings>>,
}

/// The top-level `NetworkSettings` fields of API < 1.52 (Go's
/// `NetworkSettingsBase` and `DefaultNetworkSettings`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyNetworkSettings {
    #[serde(rename = "Bridge", default, deserialize_with = "nullable")]
    pub bridge: String,
    #[serde(rename = "HairpinMode", default, deserialize_with = "nullable")]
    pub hairpin_mode: bool,
    #[serde(
        rename = "LinkLocalIPv6Address",
        default,
        deserialize_with = "nullable"
    )]
    pub link_local_ipv6_address: String,
    #[serde(
        rename = "LinkLocalIPv6PrefixLen",
        default,
        deserialize_with = "nullable"
    )]
    pub link_local_ipv6_prefix_len: i64,
    #[serde(rename = "SecondaryIPAddresses", default)]
    pub secondary_ip_addresses: Option<Vec<serde_json::Value>>,
    #[serde(rename = "SecondaryIPv6Addresses", default)]
    pub secondary_ipv6_addresses: Option<Vec<serde_json::Value>>,
    // No `default` here on purpose: a body without `EndpointID` has no
    // legacy block, and this makes the flattened `Option` read as `None`.
    #[serde(rename = "EndpointID", deserialize_with = "nullable")]
    pub endpoint_id: String,
    #[serde(rename = "Gateway", default, deserialize_with = "nullable")]
    pub gateway: String,
    #[serde(rename = "GlobalIPv6Address", default, deserialize_with = "nullable")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen", default, deserialize_with = "nullable")]
    pub global_ipv6_prefix_len: i64,
    #[serde(rename = "IPAddress", default, deserialize_with = "nullable")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen", default, deserialize_with = "nullable")]
    pub ip_prefix_len: i64,
    #[serde(rename = "IPv6Gateway", default, deserialize_with = "nullable")]
    pub ipv6_gateway: String,
    #[serde(rename = "MacAddress", default, deserialize_with = "nullable")]
    pub mac_address: String,
}

impl LegacyNetworkSettings {
    /// The legacy block dockerd derives from the default bridge endpoint.
    pub fn from_endpoint(ep: &EndpointSettings) -> Self {
        LegacyNetworkSettings {
            endpoint_id: ep.endpoint_id.clone(),
            gateway: ep.gateway.clone(),
            global_ipv6_address: ep.global_ipv6_address.clone(),
            global_ipv6_prefix_len: ep.global_ipv6_prefix_len,
            ip_address: ep.ip_address.clone(),
            ip_prefix_len: ep.ip_prefix_len,
            ipv6_gateway: ep.ipv6_gateway.clone(),
            mac_address: ep.mac_address.clone(),
            ..Default::default()
        }
    }
}

/// `GET /containers/{id}/json` (Go `container.InspectResponse`).
///
/// `State`, `HostConfig`, `Config` and `NetworkSettings` are pointers in Go
/// but dockerd always fills them, so they are plain values here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectResponse {
    #[serde(rename = "Id", default, deserialize_with = "nullable")]
    pub id: String,
    /// RFC3339Nano.
    #[serde(rename = "Created", default, deserialize_with = "nullable")]
    pub created: String,
    #[serde(rename = "Path", default, deserialize_with = "nullable")]
    pub path: String,
    #[serde(rename = "Args", default, deserialize_with = "nullable")]
    pub args: Vec<String>,
    #[serde(rename = "State", default, deserialize_with = "nullable")]
    pub state: State,
    /// The image id (`sha256:...`).
    #[serde(rename = "Image", default, deserialize_with = "nullable")]
    pub image: String,
    #[serde(rename = "ResolvConfPath", default, deserialize_with = "nullable")]
    pub resolv_conf_path: String,
    #[serde(rename = "HostnamePath", default, deserialize_with = "nullable")]
    pub hostname_path: String,
    #[serde(rename = "HostsPath", default, deserialize_with = "nullable")]
    pub hosts_path: String,
    #[serde(rename = "LogPath", default, deserialize_with = "nullable")]
    pub log_path: String,
    /// Classic Swarm only; never set by a single-host engine.
    #[serde(rename = "Node", default, skip_serializing_if = "Option::is_none")]
    pub node: Option<serde_json::Value>,
    /// With the leading `/`.
    #[serde(rename = "Name", default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(rename = "RestartCount", default, deserialize_with = "nullable")]
    pub restart_count: i64,
    #[serde(rename = "Driver", default, deserialize_with = "nullable")]
    pub driver: String,
    #[serde(rename = "Platform", default, deserialize_with = "nullable")]
    pub platform: String,
    #[serde(rename = "MountLabel", default, deserialize_with = "nullable")]
    pub mount_label: String,
    #[serde(rename = "ProcessLabel", default, deserialize_with = "nullable")]
    pub process_label: String,
    #[serde(rename = "AppArmorProfile", default, deserialize_with = "nullable")]
    pub app_armor_profile: String,
    /// `null` when the container has no exec sessions.
    #[serde(rename = "ExecIDs", default)]
    pub exec_ids: Option<Vec<String>>,
    #[serde(rename = "HostConfig", default, deserialize_with = "nullable")]
    pub host_config: HostConfig,
    /// Omitted from API 1.52 when a snapshotter is used (then `Storage` is set).
    #[serde(
        rename = "GraphDriver",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub graph_driver: Option<DriverData>,
    #[serde(rename = "Storage", default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
    /// Only with `?size=true`.
    #[serde(rename = "SizeRw", default, skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    /// Only with `?size=true`.
    #[serde(
        rename = "SizeRootFs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub size_root_fs: Option<i64>,
    #[serde(rename = "Mounts", default, deserialize_with = "nullable")]
    pub mounts: Vec<MountPoint>,
    #[serde(rename = "Config", default, deserialize_with = "nullable")]
    pub config: Config,
    #[serde(rename = "NetworkSettings", default, deserialize_with = "nullable")]
    pub network_settings: NetworkSettings,
    /// API 1.48+.
    #[serde(
        rename = "ImageManifestDescriptor",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub image_manifest_descriptor: Option<Descriptor>,
}

impl Default for InspectResponse {
    fn default() -> Self {
        InspectResponse {
            id: String::new(),
            created: crate::time::ZERO_TIME.to_owned(),
            path: String::new(),
            args: Vec::new(),
            state: State::default(),
            image: String::new(),
            resolv_conf_path: String::new(),
            hostname_path: String::new(),
            hosts_path: String::new(),
            log_path: String::new(),
            node: None,
            name: String::new(),
            restart_count: 0,
            driver: String::new(),
            platform: "linux".to_owned(),
            mount_label: String::new(),
            process_label: String::new(),
            app_armor_profile: String::new(),
            exec_ids: None,
            host_config: HostConfig::default(),
            graph_driver: None,
            storage: None,
            size_rw: None,
            size_root_fs: None,
            mounts: Vec::new(),
            config: Config::default(),
            network_settings: NetworkSettings::default(),
            image_manifest_descriptor: None,
        }
    }
}

/// A published or exposed port of a list entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// Host address; omitted for exposed-only ports.
    #[serde(
        rename = "IP",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub ip: String,
    #[serde(rename = "PrivatePort", default, deserialize_with = "nullable")]
    pub private_port: u16,
    #[serde(
        rename = "PublicPort",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub public_port: u16,
    /// `tcp`, `udp` or `sctp`.
    #[serde(rename = "Type", default, deserialize_with = "nullable")]
    pub typ: String,
}

/// Go's name for [`Port`] since API 1.52.
pub type PortSummary = Port;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryHostConfig {
    #[serde(
        rename = "NetworkMode",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub network_mode: String,
    #[serde(
        rename = "Annotations",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryNetworkSettings {
    #[serde(rename = "Networks", default, deserialize_with = "nullable_map_values")]
    pub networks: Option<BTreeMap<String, EndpointSettings>>,
}

/// One entry of `GET /containers/json` (Go `container.Summary`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    #[serde(rename = "Id", default, deserialize_with = "nullable")]
    pub id: String,
    /// Each with its leading `/`; links add `/other/alias` entries.
    #[serde(rename = "Names", default, deserialize_with = "nullable")]
    pub names: Vec<String>,
    /// The image as the user named it, or its id when that name is gone.
    #[serde(rename = "Image", default, deserialize_with = "nullable")]
    pub image: String,
    #[serde(rename = "ImageID", default, deserialize_with = "nullable")]
    pub image_id: String,
    #[serde(
        rename = "ImageManifestDescriptor",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub image_manifest_descriptor: Option<Descriptor>,
    /// The command line, shell-quoted for display.
    #[serde(rename = "Command", default, deserialize_with = "nullable")]
    pub command: String,
    /// Unix seconds.
    #[serde(rename = "Created", default, deserialize_with = "nullable")]
    pub created: i64,
    #[serde(rename = "Ports", default, deserialize_with = "nullable")]
    pub ports: Vec<Port>,
    #[serde(
        rename = "SizeRw",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub size_rw: i64,
    #[serde(
        rename = "SizeRootFs",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub size_root_fs: i64,
    #[serde(rename = "Labels", default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "State", default, deserialize_with = "nullable")]
    pub state: ContainerState,
    /// Human text: `Up 5 minutes`, `Exited (0) 2 hours ago`.
    #[serde(rename = "Status", default, deserialize_with = "nullable")]
    pub status: String,
    #[serde(rename = "HostConfig", default, deserialize_with = "nullable")]
    pub host_config: SummaryHostConfig,
    /// API 1.52+; `None` omits it.
    #[serde(rename = "Health", default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthSummary>,
    #[serde(rename = "NetworkSettings", default, deserialize_with = "nullable")]
    pub network_settings: SummaryNetworkSettings,
    #[serde(rename = "Mounts", default, deserialize_with = "nullable")]
    pub mounts: Vec<MountPoint>,
}

#[cfg(test)]
mod tests;
