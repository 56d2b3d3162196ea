//! The image store: references → image IDs → manifests and configs in the
//! content store, layers unpacked into committed snapshots named by chain
//! ID. So far: `docker import`, `docker commit`, list/inspect/tag/delete,
//! and the layer plumbing pull and load will reuse.
#![forbid(unsafe_code)]

use berth_content::Digest;
use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

mod add;
mod blobs;
mod changes;
mod commit;
pub mod config;
mod error;
mod load;
pub mod oci;
mod push;
mod reference;
mod save;
mod store;
#[cfg(test)]
mod testenv;
mod usage;

pub use add::{LayerEvent, LayerProgress};
pub use blobs::BlobLease;
pub use changes::apply_changes;
pub use commit::CommitOptions;
pub use config::{Descriptor, History, ImageConfig, Manifest, RootFs, RuntimeConfig};
pub use error::{Error, ErrorKind, Result};
pub use load::{LoadEvent, LoadedImage};
pub use push::PushPlan;
pub use reference::Reference;
pub use store::{ImageStore, LABEL_EXTRACT, LABEL_LAYER};
pub use usage::LayerUsage;

/// An image as the API shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// The config digest.
    pub id: Digest,
    /// Familiar `name:tag` references, sorted by their full form.
    pub repo_tags: Vec<String>,
    /// Familiar `name@digest` references.
    pub repo_digests: Vec<String>,
    pub config: ImageConfig,
    pub manifest: Option<Digest>,
    /// Sum of the layers' unpacked sizes.
    pub size: u64,
    /// Chain ID of the top layer: the committed snapshot a container's rootfs
    /// is prepared on. None for an image without layers.
    pub top_layer: Option<String>,
    /// The image this one was built or committed from, if any.
    pub parent: Option<Digest>,
    pub created: DateTime<Utc>,
    pub last_tag_time: Option<DateTime<Utc>>,
}

/// Options of `docker import`.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Tag to give the image (`repo[:tag]`; a digest is refused).
    pub reference: Option<Reference>,
    /// Dockerfile-style `--change` instructions.
    pub changes: Vec<String>,
    /// Commit message; the API layer passes `"Imported from <src>"` when the
    /// user gave none, as Docker's router does. Empty means "Imported from -".
    pub message: String,
    /// "os[/arch[/variant]]"; the host's platform when None.
    pub platform: Option<String>,
}

/// One line of `docker rmi` output (Docker's `ImageDeleteResponseItem`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeleteItem {
    Untagged(String),
    Deleted(String),
}

/// A container using an image, as the daemon reports it to `delete`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InUse {
    pub container_id: String,
    pub running: bool,
}

/// OCI chain IDs: `chain(L0) = diff(L0)`, `chain(Ln) = sha256(chain(Ln-1) + " " + diff(Ln))`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => chain_id(prev, d),
        };
        out.push(next);
    }
    out
}

pub(crate) fn chain_id(parent: &Digest, diff: &Digest) -> Digest {
    let mut h = Sha256::new();
    h.update(parent.as_str().as_bytes());
    h.update(b" ");
    h.update(diff.as_str().as_bytes());
    Digest::from_sha256(h.finalize().as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OCI image-spec example values.
    #[test]
    fn chain_ids_match_the_spec() {
        let d = |h: &str| format!("sha256:{h}").parse::<Digest>().unwrap();
        let diffs = [
            d("a9d3a2e8b1c7e7c0a7d2ed3f3ee4c2c7ec7fa1c88d3b0d3e0e8c46ba27b4b4b8"),
            d("ec4b8955958665577945c89419d1af06b5f7636b4ac3da7f12184802ad867736"),
        ];
        let c = chain_ids(&diffs);
        assert_eq!(c[0], diffs[0]);
        let mut h = Sha256::new();
        h.update(format!("{} {}", diffs[0], diffs[1]).as_bytes());
        assert_eq!(c[1], Digest::from_sha256(h.finalize().as_slice()));
        assert!(chain_ids(&[]).is_empty());
        // A known value: chain of the empty tar's digest and itself.
        let e = Digest::of(b"");
        let c = chain_ids(&[e.clone(), e.clone()]);
        assert_eq!(c[1], Digest::of(format!("{e} {e}").as_bytes()));
    }
}
