//! Which content-store blobs the image store keeps, and the collection of
//! the others.
//!
//! A blob is referenced when a record names it: the config (the image
//! ID), the manifest, the layer blobs, the image's extra blobs, and the
//! gzip copies of layers in use. Everything else in the content store is
//! garbage once no operation is working with it: pulls, loads and pushes
//! lease what they ingest until they record it (or fail and hand it to
//! [`ImageStore::gc_blobs`]).

use std::collections::HashSet;

use berth_content::Digest;

use crate::store::{Db, Rec, State};
use crate::{ImageStore, Result};

/// The blobs a record names directly.
pub(crate) fn image_blobs(id: &Digest, rec: &Rec) -> Vec<Digest> {
    let mut v = vec![id.clone()];
    v.extend(rec.manifest.iter().cloned());
    v.extend(rec.layers.iter().map(|l| l.blob.clone()));
    v
}

/// Every blob `db` keeps.
pub(crate) fn referenced_blobs(db: &Db) -> HashSet<Digest> {
    let mut used = HashSet::new();
    for (id, rec) in &db.images {
        used.extend(image_blobs(id, rec));
    }
    for (id, extra) in &db.extra_blobs {
        if db.images.contains_key(id) {
            used.extend(extra.iter().cloned());
        }
    }
    for meta in db.layer_meta.values() {
        if let Some(g) = &meta.gzip {
            used.insert(g.digest.clone());
        }
    }
    used
}

/// Drops layer facts of diff IDs no record has any more and extra blobs of
/// images that are gone; returns the blobs those entries referenced.
pub(crate) fn prune_db(db: &mut Db) -> Vec<Digest> {
    let in_use: HashSet<&Digest> = db
        .images
        .values()
        .flat_map(|r| r.layers.iter().map(|l| &l.diff_id))
        .collect();
    let mut dropped = Vec::new();
    let gone: Vec<Digest> = db
        .layer_meta
        .keys()
        .filter(|d| !in_use.contains(d))
        .cloned()
        .collect();
    for d in gone {
        if let Some(g) = db.layer_meta.remove(&d).and_then(|m| m.gzip) {
            dropped.push(g.digest);
        }
    }
    let gone: Vec<Digest> = db
        .extra_blobs
        .keys()
        .filter(|id| !db.images.contains_key(*id))
        .cloned()
        .collect();
    for id in gone {
        dropped.extend(db.extra_blobs.remove(&id).into_iter().flatten());
    }
    dropped
}

/// Keeps blobs out of [`ImageStore::gc_blobs`] (and out of the deletes
/// of other images) until dropped. Dropping it deletes nothing: a blob a
/// lease kept past the delete of its last image is collected at the next
/// open.
pub struct BlobLease<'a> {
    store: &'a ImageStore,
    blobs: Vec<Digest>,
}

impl BlobLease<'_> {
    /// Adds a blob to the lease.
    pub fn add(&mut self, d: &Digest) {
        let mut st = self.store.lock();
        *st.pending_blobs.entry(d.clone()).or_insert(0) += 1;
        self.blobs.push(d.clone());
    }
}

impl Drop for BlobLease<'_> {
    fn drop(&mut self) {
        let mut st = self.store.lock();
        for d in &self.blobs {
            if let Some(n) = st.pending_blobs.get_mut(d) {
                *n -= 1;
                if *n == 0 {
                    st.pending_blobs.remove(d);
                }
            }
        }
    }
}

impl ImageStore {
    /// Leases `blobs`: until the lease is dropped, [`ImageStore::gc_blobs`]
    /// and deletes of other images leave them in place. A pull takes one
    /// for what it ingests, before `add_image` records it.
    pub fn lease_blobs(&self, blobs: &[Digest]) -> BlobLease<'_> {
        let mut lease = BlobLease {
            store: self,
            blobs: Vec::new(),
        };
        for d in blobs {
            lease.add(d);
        }
        lease
    }

    /// Deletes those of `candidates` that no image record references and
    /// no operation has leased: what a failed pull or load ingested.
    /// Missing blobs are fine. Returns the blobs deleted.
    pub fn gc_blobs(&self, candidates: &[Digest]) -> Vec<Digest> {
        let st = self.lock();
        self.delete_unreferenced(&st, &st.db, candidates)
    }

    /// With the lock held: deletes the candidates `db` does not reference
    /// and nobody leased.
    pub(crate) fn delete_unreferenced(
        &self,
        st: &State,
        db: &Db,
        candidates: &[Digest],
    ) -> Vec<Digest> {
        let used = referenced_blobs(db);
        let mut deleted = Vec::new();
        let mut seen = HashSet::new();
        for d in candidates {
            if !seen.insert(d) || used.contains(d) || st.pending_blobs.contains_key(d) {
                continue;
            }
            if self.delete_blob(d) {
                deleted.push(d.clone());
            }
        }
        deleted
    }

    /// Deletes a blob, logging failures; true when it was there.
    pub(crate) fn delete_blob(&self, d: &Digest) -> bool {
        match self.content.delete(d) {
            Ok(()) => true,
            Err(e) if e.kind() == berth_content::ErrorKind::NotFound => false,
            Err(e) => {
                tracing::warn!(blob = %d, error = %e, "could not delete blob");
                false
            }
        }
    }

    /// At open: deletes every blob no record references.
    pub(crate) fn gc_content(&self) -> Result<()> {
        let all: Vec<Digest> = self.content.list()?.into_iter().map(|(d, _)| d).collect();
        let deleted = self.gc_blobs(&all);
        if !deleted.is_empty() {
            tracing::info!(count = deleted.len(), "deleted blobs no image references");
        }
        Ok(())
    }
}
