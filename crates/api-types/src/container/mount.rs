//! `--mount` specifications (moby `api/types/mount`). Every field is
//! `omitempty` in Go, so an unset field never appears on the wire.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::serde_util::{is_false, is_zero, nullable, string_type};

string_type! {
    MountType {
        BIND = "bind",
        VOLUME = "volume",
        TMPFS = "tmpfs",
        NAMED_PIPE = "npipe",
        CLUSTER = "cluster",
        IMAGE = "image",
    }
}

string_type! {
    /// Mount propagation; empty means the default (`rprivate`).
    Propagation {
        RPRIVATE = "rprivate",
        PRIVATE = "private",
        RSHARED = "rshared",
        SHARED = "shared",
        RSLAVE = "rslave",
        SLAVE = "slave",
    }
}

string_type! {
    /// macOS-only hint, accepted and ignored on Linux.
    Consistency {
        FULL = "consistent",
        CACHED = "cached",
        DELEGATED = "delegated",
        DEFAULT = "default",
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    #[serde(
        rename = "Type",
        alias = "type",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "MountType::is_empty"
    )]
    pub typ: MountType,
    /// Host path (bind), volume name (volume; empty for anonymous), image
    /// reference (image); unused for tmpfs.
    #[serde(
        rename = "Source",
        alias = "source",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub source: String,
    /// Path inside the container.
    #[serde(
        rename = "Target",
        alias = "target",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub target: String,
    #[serde(
        rename = "ReadOnly",
        alias = "readonly",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_false"
    )]
    pub read_only: bool,
    #[serde(
        rename = "Consistency",
        alias = "consistency",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Consistency::is_empty"
    )]
    pub consistency: Consistency,
    #[serde(
        rename = "BindOptions",
        alias = "bindoptions",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub bind_options: Option<BindOptions>,
    #[serde(
        rename = "VolumeOptions",
        alias = "volumeoptions",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub volume_options: Option<VolumeOptions>,
    #[serde(
        rename = "ImageOptions",
        alias = "imageoptions",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub image_options: Option<ImageOptions>,
    #[serde(
        rename = "TmpfsOptions",
        alias = "tmpfsoptions",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tmpfs_options: Option<TmpfsOptions>,
    /// Swarm only; carried through untouched.
    #[serde(
        rename = "ClusterOptions",
        alias = "clusteroptions",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cluster_options: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindOptions {
    #[serde(
        rename = "Propagation",
        alias = "propagation",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Propagation::is_empty"
    )]
    pub propagation: Propagation,
    /// Do not bind submounts (plain `MS_BIND` instead of `MS_REC`).
    #[serde(
        rename = "NonRecursive",
        alias = "nonrecursive",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_false"
    )]
    pub non_recursive: bool,
    /// Create the host path when it is missing, instead of failing.
    #[serde(
        rename = "CreateMountpoint",
        alias = "createmountpoint",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_false"
    )]
    pub create_mountpoint: bool,
    /// With `ReadOnly`: make only the top mount read-only.
    #[serde(
        rename = "ReadOnlyNonRecursive",
        alias = "readonlynonrecursive",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_false"
    )]
    pub read_only_non_recursive: bool,
    /// With `ReadOnly`: fail unless submounts can be made read-only too.
    #[serde(
        rename = "ReadOnlyForceRecursive",
        alias = "readonlyforcerecursive",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_false"
    )]
    pub read_only_force_recursive: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeOptions {
    /// Do not copy the image's content at the target into a new volume.
    #[serde(
        rename = "NoCopy",
        alias = "nocopy",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_false"
    )]
    pub no_copy: bool,
    #[serde(
        rename = "Labels",
        alias = "labels",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// Mount only this path inside the volume.
    #[serde(
        rename = "Subpath",
        alias = "subpath",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub subpath: String,
    #[serde(
        rename = "DriverConfig",
        alias = "driverconfig",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub driver_config: Option<Driver>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Driver {
    #[serde(
        rename = "Name",
        alias = "name",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    #[serde(
        rename = "Options",
        alias = "options",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub options: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageOptions {
    #[serde(
        rename = "Subpath",
        alias = "subpath",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub subpath: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TmpfsOptions {
    /// 0 for unlimited (the kernel's default of half the RAM).
    #[serde(
        rename = "SizeBytes",
        alias = "sizebytes",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub size_bytes: i64,
    /// A Go `os.FileMode`; only the permission bits matter here.
    #[serde(
        rename = "Mode",
        alias = "mode",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub mode: u32,
    /// Extra mount options as `[key]` or `[key, value]` pairs.
    #[serde(
        rename = "Options",
        alias = "options",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub options: Vec<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omits_everything_unset() {
        assert_eq!(serde_json::to_string(&Mount::default()).unwrap(), "{}");
        let m = Mount {
            typ: MountType::TMPFS,
            target: "/t".into(),
            tmpfs_options: Some(TmpfsOptions {
                size_bytes: 1 << 20,
                mode: 0o1777,
                options: vec![],
            }),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576,"Mode":1023}}"#
        );
    }

    #[test]
    fn reads_full_spec() {
        let m: Mount = serde_json::from_str(
            r#"{"Type":"volume","Source":"data","Target":"/data","ReadOnly":true,
                "VolumeOptions":{"NoCopy":true,"Labels":{"a":"b"},"Subpath":"sub",
                "DriverConfig":{"Name":"local","Options":{"type":"nfs"}}},
                "BindOptions":{"Propagation":"rshared","CreateMountpoint":true,"ReadOnlyNonRecursive":true}}"#,
        )
        .unwrap();
        assert_eq!(m.typ, MountType::VOLUME);
        assert!(m.read_only);
        let vo = m.volume_options.as_ref().unwrap();
        assert!(vo.no_copy);
        assert_eq!(vo.subpath, "sub");
        assert_eq!(vo.driver_config.as_ref().unwrap().options["type"], "nfs");
        let bo = m.bind_options.as_ref().unwrap();
        assert_eq!(bo.propagation, Propagation::RSHARED);
        assert!(bo.create_mountpoint && bo.read_only_non_recursive && !bo.non_recursive);
        let again: Mount = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(again, m);
    }
}
