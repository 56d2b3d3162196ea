//! What the crate's tests share: a store on fresh roots, per snapshotter.

use std::io::Write;
use std::sync::Arc;

use berth_archive::testutil::require_root;
use berth_content::ContentStore;
use berth_snapshot::{NaiveSnapshotter, OverlaySnapshotter, Snapshotter};

use crate::ImageStore;

pub(crate) struct Env {
    pub(crate) td: tempfile::TempDir,
    pub(crate) overlay: bool,
}

impl Env {
    pub(crate) fn new(overlay: bool) -> Env {
        Env {
            td: tempfile::tempdir().unwrap(),
            overlay,
        }
    }

    /// A store on fresh instances of everything (as after a restart).
    pub(crate) fn open(&self) -> ImageStore {
        let content = Arc::new(ContentStore::open(self.td.path().join("content")).unwrap());
        let snaps: Arc<dyn Snapshotter> = if self.overlay {
            Arc::new(OverlaySnapshotter::new(&self.td.path().join("overlay")).unwrap())
        } else {
            Arc::new(NaiveSnapshotter::new(&self.td.path().join("naive")).unwrap())
        };
        ImageStore::open(&self.td.path().join("image"), content, snaps).unwrap()
    }
}

/// The store kinds to run a test against: naive always, overlay as root.
pub(crate) fn envs(test: &str) -> Vec<Env> {
    let mut v = vec![Env::new(false)];
    if require_root(&format!("{test} (overlay)")) {
        v.push(Env::new(true));
    }
    v
}

pub(crate) fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}
