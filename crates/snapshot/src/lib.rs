//! Snapshotters, in containerd's model: a snapshot is either *active*
//! (writable, named by a key), a *view* (read-only, named by a key) or
//! *committed* (immutable, named by a name, usable as a parent). Image
//! layers are committed snapshots chained by parent; a container's rootfs is
//! an active snapshot prepared on the image's top layer.
//!
//! Two implementations share one on-disk layout and one metadata store:
//!
//! ```text
//! <root>/metadata.json           key/name -> {id, kind, parent, labels, created}
//! <root>/snapshots/<id>/fs       the snapshot's own directory
//! <root>/snapshots/<id>/work     overlay workdir (overlay, active only)
//! ```
//!
//! [`OverlaySnapshotter`] stacks parents as overlay lower dirs;
//! [`NaiveSnapshotter`] copies the parent's whole tree (for filesystems that
//! cannot host overlay upper dirs). Both pass [`conformance::run_all`].
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use berth_archive::WhiteoutFormat;

pub mod conformance;
mod core;
mod error;
mod mount;
mod naive;
mod overlay;

pub use error::{Error, ErrorKind, Result};
pub use mount::{mount_all, unmount};
pub use naive::NaiveSnapshotter;
pub use overlay::OverlaySnapshotter;

/// One mount to perform, in containerd's shape: `options` holds both flags
/// (`ro`, `rbind`, ...) and filesystem data (`lowerdir=...`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// "overlay" or "bind".
    pub kind: String,
    pub source: String,
    pub options: Vec<String>,
}

impl Mount {
    /// Whether this mount is read-only.
    pub fn is_readonly(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
            || (self.kind == "overlay" && !self.options.iter().any(|o| o.starts_with("upperdir=")))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Active,
    View,
    Committed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// The key (active, view) or name (committed).
    pub name: String,
    /// The committed parent's name.
    pub parent: Option<String>,
    pub kind: Kind,
    pub labels: BTreeMap<String, String>,
    pub created: DateTime<Utc>,
}

/// The snapshotter interface both implementations provide.
pub trait Snapshotter: Send + Sync {
    /// Creates an active (writable) snapshot `key` on top of the committed
    /// `parent`. Conflict if `key` exists; NotFound if `parent` does not
    /// exist or is not committed.
    fn prepare(
        &self,
        key: &str,
        parent: Option<&str>,
        labels: BTreeMap<String, String>,
    ) -> Result<Vec<Mount>>;
    /// Like `prepare`, but the mounts are read-only.
    fn view(
        &self,
        key: &str,
        parent: Option<&str>,
        labels: BTreeMap<String, String>,
    ) -> Result<Vec<Mount>>;
    /// The mounts of an active snapshot or view.
    fn mounts(&self, key: &str) -> Result<Vec<Mount>>;
    /// Turns the active snapshot `key` into the committed snapshot `name`
    /// (Conflict if `name` exists). `key` is gone afterwards.
    fn commit(&self, name: &str, key: &str, labels: BTreeMap<String, String>) -> Result<()>;
    /// Removes a snapshot; Conflict while it has children. The caller must
    /// have unmounted it.
    fn remove(&self, key: &str) -> Result<()>;
    fn stat(&self, key: &str) -> Result<Info>;
    fn list(&self) -> Result<Vec<Info>>;
    /// Bytes used by this snapshot's own directory (apparent sizes, each
    /// inode once, as Docker counts layer sizes).
    fn usage(&self, key: &str) -> Result<u64>;
    /// Where writes to an active snapshot land (the overlay upper dir, or
    /// the naive copy): layers are applied here; diff and commit read here.
    fn writable_dir(&self, key: &str) -> Result<PathBuf>;
    /// The committed ancestors' directories, nearest first.
    fn parent_dirs(&self, key: &str) -> Result<Vec<PathBuf>>;
    /// How deletions must be written into `writable_dir`.
    fn whiteout_format(&self) -> WhiteoutFormat;
}
