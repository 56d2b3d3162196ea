//! Media types and the OCI image index, plus the checks `add_image`, `load`
//! and `push_plan` share about which manifests and layers this store takes.

use std::collections::BTreeMap;

use berth_archive::decompress::Compression;
use berth_content::Digest;
use serde::{Deserialize, Serialize};

use crate::config::{
    Descriptor, MEDIA_TYPE_CONFIG, MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_TAR, MEDIA_TYPE_MANIFEST,
};
use crate::{Error, Result};

pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_TYPE_DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MEDIA_TYPE_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const MEDIA_TYPE_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const MEDIA_TYPE_DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const MEDIA_TYPE_DOCKER_FOREIGN_LAYER: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
const NONDISTRIBUTABLE_PREFIX: &str = "application/vnd.oci.image.layer.nondistributable.";

/// containerd's (and Docker 25+'s) annotation for the full image name.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// The OCI annotation for a reference name (Docker writes the tag alone).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The OCI platform of an index entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// The host's architecture in OCI's (GOARCH) spelling.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// An architecture as users and uname spell it, in OCI's spelling.
pub fn normalize_arch(a: &str) -> String {
    match a.to_ascii_lowercase().as_str() {
        "x86_64" | "x86-64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        "i386" | "i686" => "386".into(),
        other => other.into(),
    }
}

impl Platform {
    /// This machine's platform (no variant).
    pub fn host() -> Platform {
        Platform {
            architecture: host_arch().into(),
            os: "linux".into(),
            variant: None,
        }
    }

    /// `os[/arch[/variant]]` as `--platform` takes it; the host's when
    /// absent or empty, the host's architecture when only the os is given.
    pub fn parse(p: Option<&str>) -> Result<Platform> {
        let Some(p) = p.filter(|p| !p.is_empty()) else {
            return Ok(Platform::host());
        };
        let parts: Vec<&str> = p.split('/').collect();
        if parts.len() > 3 || parts.iter().any(|s| s.is_empty()) {
            return Err(Error::invalid(format!("invalid platform {p:?}")));
        }
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: parts
                .get(1)
                .map(|a| normalize_arch(a))
                .unwrap_or_else(|| host_arch().into()),
            variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
        })
    }

    /// `os/arch[/variant]`.
    pub fn display(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// A descriptor as an index lists it (with a platform).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexEntry {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// An OCI image index (`index.json` of a layout) or a Docker manifest list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<IndexEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Index {
    /// The entry for `want`, as containerd's platform matcher picks it: os
    /// and architecture must match; a requested variant must match, else
    /// an entry without a variant wins over the first with one.
    pub fn choose(&self, want: &Platform) -> Option<&IndexEntry> {
        let candidates: Vec<&IndexEntry> = self
            .manifests
            .iter()
            .filter(|m| {
                m.platform.as_ref().is_some_and(|p| {
                    p.os == want.os && normalize_arch(&p.architecture) == want.architecture
                })
            })
            .collect();
        let variant = |m: &&IndexEntry| m.platform.as_ref().and_then(|p| p.variant.clone());
        match &want.variant {
            Some(v) => candidates
                .into_iter()
                .find(|m| variant(m).as_ref() == Some(v)),
            None => candidates
                .iter()
                .find(|m| variant(m).is_none())
                .or(candidates.first())
                .copied(),
        }
    }
}

pub(crate) fn is_index_type(mt: &str) -> bool {
    mt == MEDIA_TYPE_INDEX || mt == MEDIA_TYPE_DOCKER_MANIFEST_LIST
}

pub(crate) fn is_manifest_type(mt: &str) -> bool {
    mt == MEDIA_TYPE_MANIFEST || mt == MEDIA_TYPE_DOCKER_MANIFEST
}

pub(crate) fn is_config_type(mt: &str) -> bool {
    mt == MEDIA_TYPE_CONFIG || mt == MEDIA_TYPE_DOCKER_CONFIG
}

/// The compression a layer media type announces; foreign and unknown
/// layers are refused here, with the reason.
pub(crate) fn layer_compression(mt: &str) -> Result<Compression> {
    match mt {
        MEDIA_TYPE_LAYER_TAR | MEDIA_TYPE_DOCKER_LAYER_TAR => Ok(Compression::None),
        MEDIA_TYPE_LAYER_GZIP | MEDIA_TYPE_DOCKER_LAYER_GZIP => Ok(Compression::Gzip),
        MEDIA_TYPE_LAYER_ZSTD => Ok(Compression::Zstd),
        _ if mt == MEDIA_TYPE_DOCKER_FOREIGN_LAYER || mt.starts_with(NONDISTRIBUTABLE_PREFIX) => {
            Err(Error::invalid(format!(
                "foreign (non-distributable) layers are not supported: media type {mt}"
            )))
        }
        _ => Err(Error::invalid(format!(
            "unsupported layer media type {mt:?}"
        ))),
    }
}

/// The OCI layer media type for a blob of this compression (`load` uses it
/// for layer files of docker-archives, whose manifests carry none).
pub(crate) fn oci_layer_type(c: Compression) -> Option<&'static str> {
    match c {
        Compression::None => Some(MEDIA_TYPE_LAYER_TAR),
        Compression::Gzip => Some(MEDIA_TYPE_LAYER_GZIP),
        Compression::Zstd => Some(MEDIA_TYPE_LAYER_ZSTD),
        Compression::Bzip2 | Compression::Xz => None,
    }
}

pub(crate) fn descriptor(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.to_string(),
        digest: digest.clone(),
        size,
        annotations: None,
    }
}
