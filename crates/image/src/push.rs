//! What `docker push` sends for an image.
//!
//! A pulled image is pushed as it was pulled: its registry manifest and
//! compressed blobs, so the digest the registry computes is the one the
//! image was pulled by. Images whose layers are stored uncompressed
//! (imported, committed, loaded) are pushed as Docker pushes them: each
//! such layer gzip-compressed once (the copy is kept, per diff ID, so a
//! re-push sends identical bytes) in a Docker v2 schema2 manifest.

use std::io::{self, Read, Write};

use berth_content::Digest;
use flate2::Compression as Level;
use flate2::write::GzEncoder;

use crate::add::parse_manifest;
use crate::blobs::image_blobs;
use crate::config::{
    Descriptor, MEDIA_TYPE_CONFIG, MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_MANIFEST, Manifest,
};
use crate::oci::{MEDIA_TYPE_DOCKER_LAYER_GZIP, descriptor};
use crate::store::{BlobRef, MAX_JSON_BLOB};
use crate::{Error, ImageStore, Reference, Result};

/// Gzip level of the copies pushed. Measured (release build, flate2's
/// miniz_oxide backend, a tar of /usr/bin): level 1 147 MB/s at 44% of the
/// input, level 3 54 MB/s at 37%, level 6 (Docker's default) 21 MB/s at
/// 36%. Level 3 keeps nearly all of level 6's ratio at 2.5 times the speed.
const GZIP_LEVEL: u32 = 3;

/// The manifest and blobs `docker push` uploads for an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushPlan {
    pub manifest: Digest,
    pub manifest_media_type: String,
    /// The manifest exactly as to be uploaded (its digest is `manifest`).
    pub manifest_bytes: Vec<u8>,
    pub config: Descriptor,
    /// Layer blobs, all in the content store.
    pub layers: Vec<Descriptor>,
}

impl ImageStore {
    /// The push view of an image: its pulled manifest as it is when every
    /// layer blob is compressed, else a Docker v2 schema2 manifest whose
    /// uncompressed layers are replaced by gzip copies (made now, once).
    /// The manifest blob is stored and kept with the image.
    pub fn push_plan(&self, name: &str) -> Result<PushPlan> {
        let (id, rec, gzip) = {
            let st = self.lock();
            let id = Self::resolve(&st, name)?;
            let rec = st.db.images[&id].clone();
            let gzip: Vec<Option<BlobRef>> = rec
                .layers
                .iter()
                .map(|l| {
                    st.db
                        .layer_meta
                        .get(&l.diff_id)
                        .and_then(|m| m.gzip.clone())
                })
                .collect();
            (id, rec, gzip)
        };
        let mut lease = self.lease_blobs(&image_blobs(&id, &rec));

        if let Some(m) = &rec.manifest
            && rec.layers.iter().all(|l| l.blob != l.diff_id)
        {
            let bytes = self.content.read_blob(m, MAX_JSON_BLOB)?;
            let parsed = parse_manifest(m, &bytes)?;
            let same = parsed.config.digest == id
                && parsed.layers.len() == rec.layers.len()
                && parsed
                    .layers
                    .iter()
                    .zip(&rec.layers)
                    .all(|(d, l)| d.digest == l.blob);
            if same {
                let media_type = parsed
                    .media_type
                    .clone()
                    .unwrap_or_else(|| MEDIA_TYPE_MANIFEST.to_string());
                return Ok(PushPlan {
                    manifest: m.clone(),
                    manifest_media_type: media_type,
                    manifest_bytes: bytes,
                    config: parsed.config,
                    layers: parsed.layers,
                });
            }
        }

        let mut layers = Vec::with_capacity(rec.layers.len());
        let mut made = Vec::new();
        for (l, g) in rec.layers.iter().zip(gzip) {
            if l.blob != l.diff_id {
                layers.push(descriptor(&l.media_type, &l.blob, l.blob_size));
                continue;
            }
            let g = match g {
                Some(g) if self.content.exists(&g.digest) => g,
                _ => {
                    let g = self.gzip_blob(&l.blob, &mut lease)?;
                    made.push((l.diff_id.clone(), g.clone()));
                    g
                }
            };
            lease.add(&g.digest);
            layers.push(descriptor(MEDIA_TYPE_LAYER_GZIP, &g.digest, g.size));
        }
        // Docker's manifest when every layer is gzip (as Docker pushes);
        // OCI when some kept layer is zstd, which schema2 cannot name.
        let gzip_only = layers.iter().all(|d| {
            d.media_type == MEDIA_TYPE_LAYER_GZIP || d.media_type == MEDIA_TYPE_DOCKER_LAYER_GZIP
        });
        let (manifest_type, config_type, gzip_type) = if gzip_only {
            (
                MEDIA_TYPE_DOCKER_MANIFEST,
                MEDIA_TYPE_DOCKER_CONFIG,
                MEDIA_TYPE_DOCKER_LAYER_GZIP,
            )
        } else {
            (
                MEDIA_TYPE_MANIFEST,
                MEDIA_TYPE_CONFIG,
                MEDIA_TYPE_LAYER_GZIP,
            )
        };
        for d in &mut layers {
            if d.media_type == MEDIA_TYPE_LAYER_GZIP || d.media_type == MEDIA_TYPE_DOCKER_LAYER_GZIP
            {
                d.media_type = gzip_type.to_string();
            }
        }
        let config = descriptor(config_type, &id, self.content.size(&id)?);
        let manifest_bytes = serde_json::to_vec(&Manifest {
            schema_version: 2,
            media_type: Some(manifest_type.to_string()),
            config: config.clone(),
            layers: layers.clone(),
            annotations: None,
        })
        .map_err(|e| Error::internal(format!("encode manifest: {e}")))?;
        let manifest = Digest::of(&manifest_bytes);
        lease.add(&manifest);
        self.content.write_blob(&manifest_bytes)?;

        let mut st = self.lock();
        if st.db.images.contains_key(&id) {
            let mut db = st.db.clone();
            for (diff, g) in made {
                db.layer_meta.entry(diff).or_default().gzip = Some(g);
            }
            if rec.manifest.as_ref() != Some(&manifest) {
                db.extra_blobs
                    .entry(id.clone())
                    .or_default()
                    .insert(manifest.clone());
            }
            self.persist(&db)?;
            st.db = db;
        }
        drop(st);
        drop(lease);
        Ok(PushPlan {
            manifest,
            manifest_media_type: manifest_type.to_string(),
            manifest_bytes,
            config,
            layers,
        })
    }

    /// After a push: `repo_ref` (`name@digest`, the manifest pushed) is a
    /// RepoDigest of image `id`, and that manifest stays with the image.
    pub fn record_pushed(&self, id: &Digest, repo_ref: &Reference) -> Result<()> {
        let Some(digest) = repo_ref.digest() else {
            return Err(Error::invalid(format!(
                "record push: {} is not a digest reference",
                repo_ref.familiar()
            )));
        };
        let mut st = self.lock();
        let Some(rec) = st.db.images.get(id) else {
            return Err(Error::not_found(format!("No such image: {id}")));
        };
        let mut db = st.db.clone();
        if rec.manifest.as_ref() != Some(digest) && self.content.exists(digest) {
            db.extra_blobs
                .entry(id.clone())
                .or_default()
                .insert(digest.clone());
        }
        db.refs
            .insert(format!("{}@{digest}", repo_ref.name()), id.clone());
        self.persist(&db)?;
        st.db = db;
        Ok(())
    }

    /// Gzips an uncompressed layer blob into the content store, streamed.
    fn gzip_blob<'a>(&'a self, blob: &Digest, lease: &mut crate::BlobLease<'a>) -> Result<BlobRef> {
        let mut f = self.content.open_blob(blob)?;
        let ing = self.content.ingest()?;
        let mut enc = GzEncoder::new(ing, Level::new(GZIP_LEVEL));
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::stream(&format!("compress blob {blob}"), e)),
            };
            enc.write_all(&buf[..n])
                .map_err(|e| Error::stream(&format!("compress blob {blob}"), e))?;
        }
        let ing = enc
            .finish()
            .map_err(|e| Error::stream(&format!("compress blob {blob}"), e))?;
        let (digest, size) = ing.commit(None, None)?;
        lease.add(&digest);
        Ok(BlobRef { digest, size })
    }
}
