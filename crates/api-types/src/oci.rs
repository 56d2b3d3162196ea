//! OCI image-spec types that appear inside Docker responses
//! (`ImageManifestDescriptor`, image `Descriptor`, manifest summaries).
//! Their JSON names are the OCI spec's lower-case ones.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::serde_util::nullable;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default, deserialize_with = "nullable")]
    pub media_type: String,
    #[serde(default, deserialize_with = "nullable")]
    pub digest: String,
    #[serde(default, deserialize_with = "nullable")]
    pub size: i64,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub urls: Vec<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    /// Embedded content, base64 as Go writes a `[]byte`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub data: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(
        rename = "artifactType",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub artifact_type: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default, deserialize_with = "nullable")]
    pub architecture: String,
    #[serde(default, deserialize_with = "nullable")]
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub os_version: String,
    #[serde(
        rename = "os.features",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub os_features: Vec<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub variant: String,
}

/// Go's `GOARCH` name for a Rust `target_arch` / `uname -m` name
/// (`x86_64` is `amd64`); unknown names pass through.
pub fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "x86" | "i386" | "i686" => "386",
        "aarch64" => "arm64",
        "powerpc64" | "ppc64le" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

impl Platform {
    /// The platform this process runs on, in OCI terms.
    pub fn host() -> Self {
        Platform {
            architecture: go_arch(std::env::consts::ARCH).to_owned(),
            os: std::env::consts::OS.to_owned(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_arch_names() {
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
        assert_eq!(go_arch("riscv64"), "riscv64");
        assert_eq!(Platform::host().os, "linux");
    }

    #[test]
    fn omits_optional_parts() {
        let d = Descriptor {
            media_type: "application/vnd.oci.image.index.v1+json".into(),
            digest: "sha256:00".into(),
            size: 10,
            platform: Some(Platform {
                architecture: "amd64".into(),
                os: "linux".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:00","size":10,"platform":{"architecture":"amd64","os":"linux"}}"#
        );
    }
}
