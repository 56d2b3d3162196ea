//! Where a container's or image's filesystem lives (moby `api/types/storage`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::serde_util::nullable;

/// `GraphDriver`: the storage driver's name and its private data
/// (`LowerDir`, `MergedDir`, `UpperDir`, `WorkDir` for overlay2).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverData {
    #[serde(rename = "Data", default)]
    pub data: Option<BTreeMap<String, String>>,
    #[serde(rename = "Name", default, deserialize_with = "nullable")]
    pub name: String,
}

/// `Storage` (API 1.52+): set instead of `GraphDriver` when a snapshotter
/// holds the filesystem.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storage {
    #[serde(rename = "RootFS", default, skip_serializing_if = "Option::is_none")]
    pub root_fs: Option<RootFsStorage>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFsStorage {
    #[serde(rename = "Snapshot", default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<RootFsStorageSnapshot>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFsStorageSnapshot {
    #[serde(
        rename = "Name",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
}
