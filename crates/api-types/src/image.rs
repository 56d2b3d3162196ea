//! Image bodies: list, inspect, delete, history, prune.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::container::HealthConfig;
use crate::network::PortSet;
use crate::oci::{Descriptor, Platform};
use crate::serde_util::{EmptyObject, is_false, is_zero, nullable, string_type};
use crate::storage::DriverData;

/// One entry of `GET /images/json` (Go `image.Summary`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Containers using the image (API 1.51+; -1 "not computed" before).
    #[serde(rename = "Containers", default, deserialize_with = "nullable")]
    pub containers: i64,
    /// Unix seconds.
    #[serde(rename = "Created", default, deserialize_with = "nullable")]
    pub created: i64,
    #[serde(rename = "Id", default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(rename = "Labels", default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "ParentId", default, deserialize_with = "nullable")]
    pub parent_id: String,
    /// API 1.48+.
    #[serde(
        rename = "Descriptor",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub descriptor: Option<Descriptor>,
    /// Only with `?manifests=1`.
    #[serde(
        rename = "Manifests",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub manifests: Vec<ManifestSummary>,
    /// `[]`, never `null`, since API 1.43.
    #[serde(rename = "RepoDigests", default, deserialize_with = "nullable")]
    pub repo_digests: Vec<String>,
    #[serde(rename = "RepoTags", default, deserialize_with = "nullable")]
    pub repo_tags: Vec<String>,
    /// -1 unless computed (`?shared-size=1`).
    #[serde(rename = "SharedSize", default, deserialize_with = "nullable")]
    pub shared_size: i64,
    #[serde(rename = "Size", default, deserialize_with = "nullable")]
    pub size: i64,
    /// Set (to `Size`) only for API < 1.44, which still had it.
    #[serde(
        rename = "VirtualSize",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub virtual_size: Option<i64>,
}

string_type! {
    ManifestKind {
        IMAGE = "image",
        ATTESTATION = "attestation",
        UNKNOWN = "unknown",
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSize {
    /// Bytes of the manifest's blobs present in the store.
    #[serde(rename = "Content", default, deserialize_with = "nullable")]
    pub content: i64,
    /// Content plus unpacked snapshots.
    #[serde(rename = "Total", default, deserialize_with = "nullable")]
    pub total: i64,
}

/// One platform manifest of an image index (`Manifests` in list/inspect).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSummary {
    #[serde(rename = "ID", default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(rename = "Descriptor", default, deserialize_with = "nullable")]
    pub descriptor: Descriptor,
    /// All its content is in the store.
    #[serde(rename = "Available", default, deserialize_with = "nullable")]
    pub available: bool,
    #[serde(rename = "Size", default, deserialize_with = "nullable")]
    pub size: ManifestSize,
    #[serde(rename = "Kind", default, deserialize_with = "nullable")]
    pub kind: ManifestKind,
    #[serde(rename = "ImageData", default, skip_serializing_if = "Option::is_none")]
    pub image_data: Option<ImageProperties>,
    #[serde(
        rename = "AttestationData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub attestation_data: Option<AttestationProperties>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnpackedSize {
    #[serde(rename = "Unpacked", default, deserialize_with = "nullable")]
    pub unpacked: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageProperties {
    #[serde(rename = "Platform", default, deserialize_with = "nullable")]
    pub platform: Platform,
    /// Signature / provenance data (API 1.53+); passed through as is.
    #[serde(rename = "Identity", default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Value>,
    #[serde(rename = "Size", default, deserialize_with = "nullable")]
    pub size: UnpackedSize,
    /// Ids of containers using this platform's image.
    #[serde(rename = "Containers", default)]
    pub containers: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationProperties {
    /// Digest of the manifest the attestation is about.
    #[serde(rename = "For", default, deserialize_with = "nullable")]
    pub for_digest: String,
}

/// An image's runtime defaults as inspect shows them (Go's
/// `dockerspec.DockerOCIImageConfig`): every field is `omitempty`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(
        rename = "User",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub user: String,
    #[serde(
        rename = "ExposedPorts",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub exposed_ports: PortSet,
    #[serde(
        rename = "Env",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env: Vec<String>,
    #[serde(
        rename = "Entrypoint",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub entrypoint: Vec<String>,
    #[serde(
        rename = "Cmd",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cmd: Vec<String>,
    #[serde(
        rename = "Volumes",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub volumes: BTreeMap<String, EmptyObject>,
    #[serde(
        rename = "WorkingDir",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub working_dir: String,
    #[serde(
        rename = "Labels",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(
        rename = "StopSignal",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub stop_signal: String,
    #[serde(
        rename = "ArgsEscaped",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_false"
    )]
    pub args_escaped: bool,
    #[serde(
        rename = "Healthcheck",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub healthcheck: Option<HealthConfig>,
    #[serde(
        rename = "OnBuild",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub on_build: Vec<String>,
    #[serde(
        rename = "Shell",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub shell: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(
        rename = "Type",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub typ: String,
    /// Diff ids, base layer first.
    #[serde(
        rename = "Layers",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub layers: Vec<String>,
}

/// Go's `omitempty` has no effect on a struct, so `LastTagTime` is always
/// written, as the zero time when the image was never tagged locally.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(
        rename = "LastTagTime",
        default = "crate::time::zero_time",
        with = "crate::time::rfc3339_nano"
    )]
    pub last_tag_time: DateTime<Utc>,
}

impl Default for Metadata {
    fn default() -> Self {
        Metadata {
            last_tag_time: crate::time::zero_time(),
        }
    }
}

/// `GET /images/{name}/json` (Go `image.InspectResponse`, API 1.52+ shape;
/// see [`InspectResponse::legacy_fields`] for older versions).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectResponse {
    #[serde(rename = "Id", default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(rename = "RepoTags", default, deserialize_with = "nullable")]
    pub repo_tags: Vec<String>,
    #[serde(rename = "RepoDigests", default, deserialize_with = "nullable")]
    pub repo_digests: Vec<String>,
    /// Legacy builder only; written when set.
    #[serde(
        rename = "Parent",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub parent: String,
    #[serde(
        rename = "Comment",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub comment: String,
    /// RFC3339Nano; omitted when the image config has no date.
    #[serde(
        rename = "Created",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub created: String,
    /// Legacy builder only; written when set.
    #[serde(
        rename = "DockerVersion",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub docker_version: String,
    #[serde(
        rename = "Author",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub author: String,
    #[serde(rename = "Config", default, deserialize_with = "nullable")]
    pub config: ImageConfig,
    #[serde(rename = "Architecture", default, deserialize_with = "nullable")]
    pub architecture: String,
    #[serde(
        rename = "Variant",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub variant: String,
    #[serde(rename = "Os", default, deserialize_with = "nullable")]
    pub os: String,
    #[serde(
        rename = "OsVersion",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub os_version: String,
    #[serde(rename = "Size", default, deserialize_with = "nullable")]
    pub size: i64,
    /// Set (to `Size`) only for API < 1.44.
    #[serde(
        rename = "VirtualSize",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub virtual_size: Option<i64>,
    #[serde(
        rename = "GraphDriver",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub graph_driver: Option<DriverData>,
    #[serde(rename = "RootFS", default, deserialize_with = "nullable")]
    pub root_fs: RootFs,
    #[serde(rename = "Metadata", default, deserialize_with = "nullable")]
    pub metadata: Metadata,
    /// API 1.48+.
    #[serde(
        rename = "Descriptor",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub descriptor: Option<Descriptor>,
    /// Only with `?manifests=1`.
    #[serde(
        rename = "Manifests",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub manifests: Vec<ManifestSummary>,
    /// API 1.53+; passed through as is.
    #[serde(rename = "Identity", default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Value>,
}

impl InspectResponse {
    /// The fields dockerd adds for API `1.<api_minor>` clients (moby's image
    /// router), to merge with [`crate::compat::merge_extra_fields`]: the
    /// always-present `Parent`/`Comment`/`DockerVersion`/`Author` and `null`
    /// config fields before 1.52, `VirtualSize` and the zero `Created`
    /// before 1.44. An empty object when nothing is due.
    pub fn legacy_fields(&self, api_minor: u32) -> Value {
        let mut extra = json!({});
        if api_minor < 44 {
            extra["VirtualSize"] = json!(self.size);
            if self.created.is_empty() {
                extra["Created"] = json!(crate::time::ZERO_TIME);
            }
        }
        if api_minor < 52 {
            extra["Parent"] = json!(self.parent);
            extra["Comment"] = json!(self.comment);
            extra["DockerVersion"] = json!(self.docker_version);
            extra["Author"] = json!(self.author);
            extra["Config"] = if api_minor < 50 {
                json!({
                    "AttachStderr": false, "AttachStdin": false, "AttachStdout": false,
                    "Cmd": null, "Domainname": "", "Entrypoint": null, "Env": null,
                    "Hostname": "", "Image": "", "Labels": null, "OnBuild": null,
                    "OpenStdin": false, "StdinOnce": false, "Tty": false, "User": "",
                    "Volumes": null, "WorkingDir": ""
                })
            } else {
                json!({
                    "Cmd": null, "Entrypoint": null, "Env": null, "Labels": null,
                    "OnBuild": null, "User": "", "Volumes": null, "WorkingDir": ""
                })
            };
        }
        extra
    }
}

/// One entry of `DELETE /images/{name}` and of a prune report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteResponseItem {
    #[serde(
        rename = "Untagged",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub untagged: String,
    #[serde(
        rename = "Deleted",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub deleted: String,
}

/// One entry of `GET /images/{name}/history`, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryResponseItem {
    /// The image id for entries that are images, `<missing>` otherwise.
    #[serde(rename = "Id", default, deserialize_with = "nullable")]
    pub id: String,
    /// Unix seconds.
    #[serde(rename = "Created", default, deserialize_with = "nullable")]
    pub created: i64,
    #[serde(rename = "CreatedBy", default, deserialize_with = "nullable")]
    pub created_by: String,
    #[serde(rename = "Tags", default)]
    pub tags: Option<Vec<String>>,
    #[serde(rename = "Size", default, deserialize_with = "nullable")]
    pub size: i64,
    #[serde(rename = "Comment", default, deserialize_with = "nullable")]
    pub comment: String,
}

/// `POST /images/prune`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneReport {
    #[serde(rename = "ImagesDeleted", default)]
    pub images_deleted: Option<Vec<DeleteResponseItem>>,
    #[serde(rename = "SpaceReclaimed", default, deserialize_with = "nullable")]
    pub space_reclaimed: u64,
}

/// The per-type block of `GET /system/df` from API 1.52 (the same shape
/// for images, containers, volumes and build cache).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "T: Serialize", deserialize = "T: Deserialize<'de>"))]
pub struct UsageSummary<T> {
    #[serde(
        rename = "ActiveCount",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub active_count: i64,
    /// Only with `?verbose=1`.
    #[serde(
        rename = "Items",
        default = "Vec::new",
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub items: Vec<T>,
    #[serde(
        rename = "Reclaimable",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub reclaimable: i64,
    #[serde(
        rename = "TotalCount",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub total_count: i64,
    #[serde(
        rename = "TotalSize",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub total_size: i64,
}

impl<T> Default for UsageSummary<T> {
    fn default() -> Self {
        UsageSummary {
            active_count: 0,
            items: Vec::new(),
            reclaimable: 0,
            total_count: 0,
            total_size: 0,
        }
    }
}

/// Image usage in `GET /system/df`.
pub type DiskUsage = UsageSummary<Summary>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_shape() {
        let v = serde_json::to_value(Summary {
            shared_size: -1,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            v,
            json!({
                "Containers": 0, "Created": 0, "Id": "", "Labels": null, "ParentId": "",
                "RepoDigests": [], "RepoTags": [], "SharedSize": -1, "Size": 0
            })
        );
        let v = serde_json::to_value(Summary {
            virtual_size: Some(5),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(v["VirtualSize"], 5);
    }

    #[test]
    fn inspect_shape_and_legacy_fields() {
        let mut r = InspectResponse {
            id: "sha256:abc".into(),
            repo_tags: vec!["busybox:latest".into()],
            created: "2024-01-01T00:00:00Z".into(),
            architecture: "amd64".into(),
            os: "linux".into(),
            size: 4_000_000,
            config: ImageConfig {
                cmd: vec!["sh".into()],
                ..Default::default()
            },
            root_fs: RootFs {
                typ: "layers".into(),
                layers: vec!["sha256:l1".into()],
            },
            ..Default::default()
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            json!({
                "Id": "sha256:abc", "RepoTags": ["busybox:latest"], "RepoDigests": [],
                "Created": "2024-01-01T00:00:00Z", "Config": {"Cmd": ["sh"]},
                "Architecture": "amd64", "Os": "linux", "Size": 4_000_000,
                "RootFS": {"Type": "layers", "Layers": ["sha256:l1"]},
                "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"}
            })
        );
        assert_eq!(
            serde_json::from_value::<InspectResponse>(v.clone()).unwrap(),
            r
        );

        // API 1.51 (docker CLI v28)
        let mut old = v.clone();
        crate::compat::merge_extra_fields(&mut old, r.legacy_fields(51));
        assert_eq!(old["Parent"], "");
        assert_eq!(old["Author"], "");
        assert_eq!(old["Config"]["Cmd"], json!(["sh"]));
        assert!(old["Config"]["Entrypoint"].is_null());
        assert_eq!(old["Config"]["WorkingDir"], "");
        assert!(old["Config"].get("Hostname").is_none());
        assert!(old.get("VirtualSize").is_none());
        // API 1.43
        r.created.clear();
        let mut older = serde_json::to_value(&r).unwrap();
        crate::compat::merge_extra_fields(&mut older, r.legacy_fields(43));
        assert_eq!(older["VirtualSize"], 4_000_000);
        assert_eq!(older["Created"], "0001-01-01T00:00:00Z");
        assert_eq!(older["Config"]["Hostname"], "");
        assert_eq!(r.legacy_fields(55), json!({}));
    }

    #[test]
    fn small_items() {
        assert_eq!(
            serde_json::to_string(&DeleteResponseItem {
                untagged: "busybox:latest".into(),
                ..Default::default()
            })
            .unwrap(),
            r#"{"Untagged":"busybox:latest"}"#
        );
        assert_eq!(
            serde_json::to_string(&PruneReport::default()).unwrap(),
            r#"{"ImagesDeleted":null,"SpaceReclaimed":0}"#
        );
        assert_eq!(serde_json::to_string(&DiskUsage::default()).unwrap(), "{}");
        let h: HistoryResponseItem = serde_json::from_str(
            r#"{"Id":"<missing>","Created":1,"CreatedBy":"/bin/sh","Tags":null,"Size":0,"Comment":""}"#,
        )
        .unwrap();
        assert_eq!(h.id, "<missing>");
    }
}
