//! Volume bodies: create, inspect, list, prune.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::serde_util::nullable;

/// `GET /volumes/{name}` and list entries (Go `volume.Volume`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Swarm cluster volumes only; passed through.
    #[serde(
        rename = "ClusterVolume",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cluster_volume: Option<serde_json::Value>,
    /// RFC 3339.
    #[serde(
        rename = "CreatedAt",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub created_at: String,
    #[serde(rename = "Driver", default, deserialize_with = "nullable")]
    pub driver: String,
    #[serde(rename = "Labels", default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// Host path of the volume's data.
    #[serde(rename = "Mountpoint", default, deserialize_with = "nullable")]
    pub mountpoint: String,
    #[serde(rename = "Name", default, deserialize_with = "nullable")]
    pub name: String,
    /// Driver options given at creation.
    #[serde(rename = "Options", default)]
    pub options: Option<BTreeMap<String, String>>,
    /// `local` or `global`.
    #[serde(rename = "Scope", default, deserialize_with = "nullable")]
    pub scope: String,
    /// Driver-specific status.
    #[serde(
        rename = "Status",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub status: BTreeMap<String, serde_json::Value>,
    /// Only from `GET /system/df`.
    #[serde(rename = "UsageData", default, skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<UsageData>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageData {
    /// Containers referencing the volume; -1 when not computed.
    #[serde(rename = "RefCount", default, deserialize_with = "nullable")]
    pub ref_count: i64,
    /// Bytes; -1 when not computed.
    #[serde(rename = "Size", default, deserialize_with = "nullable")]
    pub size: i64,
}

/// Body of `POST /volumes/create`. Every field is optional; an empty name
/// asks for a generated one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateOptions {
    #[serde(
        rename = "ClusterVolumeSpec",
        alias = "clustervolumespec",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cluster_volume_spec: Option<serde_json::Value>,
    #[serde(
        rename = "Driver",
        alias = "driver",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub driver: String,
    #[serde(
        rename = "DriverOpts",
        alias = "driveropts",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(
        rename = "Labels",
        alias = "labels",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(
        rename = "Name",
        alias = "name",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
}

/// Go's current name for [`CreateOptions`].
pub type CreateRequest = CreateOptions;

/// `GET /volumes`. Both lists are written as arrays even when empty, which
/// every client accepts (Go may write `null`; docker-py copes with both).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListResponse {
    #[serde(rename = "Volumes", default, deserialize_with = "nullable")]
    pub volumes: Vec<Volume>,
    #[serde(rename = "Warnings", default, deserialize_with = "nullable")]
    pub warnings: Vec<String>,
}

/// `POST /volumes/prune`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneReport {
    #[serde(rename = "VolumesDeleted", default)]
    pub volumes_deleted: Option<Vec<String>>,
    #[serde(rename = "SpaceReclaimed", default, deserialize_with = "nullable")]
    pub space_reclaimed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn volume_shape() {
        let v = Volume {
            created_at: "2024-01-01T00:00:00Z".into(),
            driver: "local".into(),
            mountpoint: "/var/lib/berth/volumes/data/_data".into(),
            name: "data".into(),
            scope: "local".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            json!({
                "CreatedAt": "2024-01-01T00:00:00Z", "Driver": "local", "Labels": null,
                "Mountpoint": "/var/lib/berth/volumes/data/_data", "Name": "data",
                "Options": null, "Scope": "local"
            })
        );
        let with_usage = Volume {
            usage_data: Some(UsageData {
                ref_count: -1,
                size: -1,
            }),
            ..v
        };
        assert_eq!(
            serde_json::to_value(&with_usage).unwrap()["UsageData"],
            json!({"RefCount": -1, "Size": -1})
        );
    }

    #[test]
    fn create_bodies() {
        // the docker CLI's body for `docker volume create data`
        let c: CreateOptions =
            serde_json::from_str(r#"{"Driver":"local","DriverOpts":{},"Labels":{},"Name":"data"}"#)
                .unwrap();
        assert_eq!(c.name, "data");
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"Driver":"local","Name":"data"}"#
        );
        let c: CreateOptions = serde_json::from_str(r#"{"Labels":null,"name":"x"}"#).unwrap();
        assert_eq!(c.name, "x");
        assert_eq!(
            serde_json::to_string(&CreateOptions::default()).unwrap(),
            "{}"
        );
    }

    #[test]
    fn list_and_prune() {
        assert_eq!(
            serde_json::to_string(&ListResponse::default()).unwrap(),
            r#"{"Volumes":[],"Warnings":[]}"#
        );
        let l: ListResponse = serde_json::from_str(r#"{"Volumes":null,"Warnings":null}"#).unwrap();
        assert!(l.volumes.is_empty());
        assert_eq!(
            serde_json::to_string(&PruneReport {
                volumes_deleted: Some(vec!["a".into()]),
                space_reclaimed: 3
            })
            .unwrap(),
            r#"{"VolumesDeleted":["a"],"SpaceReclaimed":3}"#
        );
    }
}
