//! Per-layer figures for `docker history`, `docker system df` and prune.

use berth_content::Digest;

use crate::{ImageStore, Result, chain_ids};

/// One layer of an image as the store accounts for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerUsage {
    pub diff_id: Digest,
    pub chain_id: Digest,
    /// Unpacked size of this layer alone.
    pub size: u64,
}

impl ImageStore {
    /// The image's layers, bottom first.
    pub fn layers(&self, name_or_id: &str) -> Result<Vec<LayerUsage>> {
        let st = self.lock();
        let id = Self::resolve(&st, name_or_id)?;
        let rec = &st.db.images[&id];
        let diff_ids: Vec<Digest> = rec.layers.iter().map(|l| l.diff_id.clone()).collect();
        Ok(rec
            .layers
            .iter()
            .zip(chain_ids(&diff_ids))
            .map(|(l, chain_id)| LayerUsage {
                diff_id: l.diff_id.clone(),
                chain_id,
                size: l.size,
            })
            .collect())
    }
}

impl ImageStore {
    /// For the config blob `config` (in the content store), whether each of
    /// its layers is already unpacked (its chain-ID snapshot exists): a
    /// pull reports those as "Already exists".
    pub fn present_layers(&self, config: &Digest) -> Result<Vec<bool>> {
        let cfg = self.read_config(config)?;
        Ok(chain_ids(&cfg.rootfs.diff_ids)
            .iter()
            .map(|c| self.snapshotter.stat(c.as_str()).is_ok())
            .collect())
    }
}
