//! `add_image`: records an image whose manifest, config and layer blobs are
//! already in the content store (pull and load end here).
//!
//! Two phases, so that `load` can make several images visible at once or
//! none: [`ImageStore::prepare_image`] validates and unpacks (holding each
//! layer and blob against garbage collection), [`ImageStore::record_images`]
//! writes the records and references in one persist.

use std::collections::HashMap;
use std::io::Read;

use berth_archive::decompress;
use berth_content::Digest;
use berth_snapshot::{Kind, WhiteoutFormat};
use chrono::Utc;
use sha2::{Digest as _, Sha256};

use crate::blobs::BlobLease;
use crate::config::{ImageConfig, Manifest};
use crate::oci::{is_config_type, is_index_type, is_manifest_type, layer_compression};
use crate::store::{
    LayerRec, MAX_JSON_BLOB, PendingLayer, Rec, check_tag_name, host_arch, parse_platform,
};
use crate::{Error, Image, ImageStore, Reference, Result, chain_ids};

/// Progress of one layer of an image being added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerProgress {
    /// Position in the manifest, bottom layer 0.
    pub index: usize,
    /// The layer's blob (as the manifest names it).
    pub digest: Digest,
    pub event: LayerEvent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerEvent {
    /// Unpacking into a snapshot starts.
    Extracting,
    /// Unpacked and committed.
    Done,
    /// The layer's chain-ID snapshot exists already.
    AlreadyExists,
}

/// What the store has made ready for a record: the layers are unpacked and
/// held, the blobs leased.
pub(crate) struct Prepared<'a> {
    pub(crate) id: Digest,
    /// None when the image was recorded already.
    new: Option<NewImage>,
    _layers: Vec<PendingLayer<'a>>,
    _lease: BlobLease<'a>,
}

struct NewImage {
    rec: Rec,
    config: ImageConfig,
    /// Uncompressed tar sizes learnt for compressed layer blobs.
    tar_sizes: Vec<(Digest, u64)>,
}

/// One image to record with its references (as [`ref_keys`] makes them)
/// and extra blobs.
pub(crate) struct ToRecord<'a> {
    pub(crate) prepared: Prepared<'a>,
    pub(crate) refs: Vec<RefKey>,
    pub(crate) extra: Vec<Digest>,
}

/// A reference as images.json keys it, and whether it is a tag.
pub(crate) struct RefKey {
    key: String,
    tag: bool,
}

/// Blob/diff-ID pairs verified during one operation, with (unpacked size,
/// tar size): a load of images sharing layers checks each pair once.
pub(crate) type Verified = HashMap<(Digest, Digest), (u64, Option<u64>)>;

/// Validates references for recording: tags get `:latest` when bare and
/// must not be named like a digest algorithm; digest references are kept
/// as `name@digest`.
pub(crate) fn ref_keys(refs: &[Reference]) -> Result<Vec<RefKey>> {
    refs.iter()
        .map(|r| match r.digest() {
            Some(d) => Ok(RefKey {
                key: format!("{}@{d}", r.name()),
                tag: false,
            }),
            None => {
                check_tag_name(r)?;
                Ok(RefKey {
                    key: r.tag_name_only().full(),
                    tag: true,
                })
            }
        })
        .collect()
}

/// Parses and checks an image manifest (Docker schema2 or OCI).
pub(crate) fn parse_manifest(digest: &Digest, bytes: &[u8]) -> Result<Manifest> {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::invalid(format!("manifest {digest}: {e}")))?;
    let media_type = v.get("mediaType").and_then(|m| m.as_str()).unwrap_or("");
    if is_index_type(media_type) || (media_type.is_empty() && v.get("manifests").is_some()) {
        return Err(Error::invalid(format!(
            "manifest {digest} is an image index, not an image manifest"
        )));
    }
    if !media_type.is_empty() && !is_manifest_type(media_type) {
        return Err(Error::invalid(format!(
            "manifest {digest}: unsupported media type {media_type:?}"
        )));
    }
    if v.get("schemaVersion").and_then(|s| s.as_u64()) != Some(2) {
        return Err(Error::invalid(format!(
            "manifest {digest}: unsupported schema version {} (only 2)",
            v.get("schemaVersion").unwrap_or(&serde_json::Value::Null)
        )));
    }
    let m: Manifest =
        serde_json::from_value(v).map_err(|e| Error::invalid(format!("manifest {digest}: {e}")))?;
    if !is_config_type(&m.config.media_type) {
        return Err(Error::invalid(format!(
            "manifest {digest}: unsupported config media type {:?}",
            m.config.media_type
        )));
    }
    for l in &m.layers {
        layer_compression(&l.media_type).map_err(|e| e.context(format!("manifest {digest}")))?;
    }
    Ok(m)
}

/// Parses an image config and checks it is one this engine can run.
pub(crate) fn parse_config(id: &Digest, bytes: &[u8]) -> Result<ImageConfig> {
    let c: ImageConfig = serde_json::from_slice(bytes)
        .map_err(|e| Error::invalid(format!("image config {id}: {e}")))?;
    if c.rootfs.kind != "layers" {
        return Err(Error::invalid(format!(
            "image config {id}: unsupported rootfs type {:?}",
            c.rootfs.kind
        )));
    }
    // An empty os or architecture means the host's, as Docker reads it.
    let os = if c.os.is_empty() { "linux" } else { &c.os };
    let arch = if c.architecture.is_empty() {
        host_arch()
    } else {
        &c.architecture
    };
    parse_platform(Some(&format!("{os}/{arch}"))).map_err(|e| e.context(format!("image {id}")))?;
    Ok(c)
}

impl ImageStore {
    /// Records the image whose manifest (Docker v2 schema2 or OCI), config
    /// and layer blobs are in the content store, unpacking the layers whose
    /// chain-ID snapshot is missing (each diff ID verified against the
    /// config), and points `refs` at it: tags (`:latest` added to a bare
    /// name) move from any image they named before; digest references are
    /// kept as `name@digest`. Compressed layer blobs are recorded as they
    /// are, so that a push sends the same bytes. An image that exists
    /// already just gains the references.
    pub fn add_image(
        &self,
        manifest: &Digest,
        refs: &[Reference],
        progress: &mut dyn FnMut(LayerProgress),
    ) -> Result<Image> {
        self.add_image_with(manifest, refs, &[], progress)
    }

    /// [`ImageStore::add_image`], also keeping `extra` blobs with the
    /// image (the manifest list a pull resolved the manifest from), so that
    /// garbage collection leaves them.
    pub fn add_image_with(
        &self,
        manifest: &Digest,
        refs: &[Reference],
        extra: &[Digest],
        progress: &mut dyn FnMut(LayerProgress),
    ) -> Result<Image> {
        let refs = ref_keys(refs)?;
        let prepared = self.prepare_image(manifest, progress, &mut Verified::new())?;
        let mut images = self.record_images(vec![ToRecord {
            prepared,
            refs,
            extra: extra.to_vec(),
        }])?;
        Ok(images.remove(0))
    }

    /// Validates the manifest and its config and makes every layer's
    /// snapshot exist, holding them (and the blobs) until the result is
    /// dropped or recorded.
    pub(crate) fn prepare_image(
        &self,
        manifest: &Digest,
        progress: &mut dyn FnMut(LayerProgress),
        verified: &mut Verified,
    ) -> Result<Prepared<'_>> {
        let mut lease = self.lease_blobs(std::slice::from_ref(manifest));
        let bytes = self
            .content
            .read_blob(manifest, MAX_JSON_BLOB)
            .map_err(|e| Error::from(e).context(format!("read manifest {manifest}")))?;
        let m = parse_manifest(manifest, &bytes)?;
        let id = m.config.digest.clone();
        lease.add(&id);
        for l in &m.layers {
            lease.add(&l.digest);
        }
        for (what, d) in
            std::iter::once(("config", &m.config)).chain(m.layers.iter().map(|l| ("layer", l)))
        {
            match self.content.size(&d.digest) {
                Ok(n) if n == d.size => {}
                Ok(n) => {
                    return Err(Error::invalid(format!(
                        "{what} blob {} is {n} bytes, the manifest says {}",
                        d.digest, d.size
                    )));
                }
                Err(e) if e.kind() == berth_content::ErrorKind::NotFound => {
                    return Err(Error::not_found(format!(
                        "missing blob {} ({what} of manifest {manifest})",
                        d.digest
                    )));
                }
                Err(e) => return Err(e.into()),
            }
        }
        let config_bytes = self.content.read_blob(&id, MAX_JSON_BLOB)?;
        let config = parse_config(&id, &config_bytes)?;
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != m.layers.len() {
            // Docker's words (image/tarexport/load.go).
            return Err(Error::invalid(format!(
                "invalid manifest, layers length mismatch: expected {}, got {}",
                m.layers.len(),
                diff_ids.len()
            )));
        }
        if self.lock().db.images.contains_key(&id) {
            return Ok(Prepared {
                id,
                new: None,
                _layers: Vec::new(),
                _lease: lease,
            });
        }

        let chains = chain_ids(diff_ids);
        let mut held = Vec::with_capacity(m.layers.len());
        let mut layers = Vec::with_capacity(m.layers.len());
        let mut tar_sizes = Vec::new();
        for (i, desc) in m.layers.iter().enumerate() {
            let diff = &diff_ids[i];
            let chain = &chains[i];
            let parent = i.checked_sub(1).map(|p| &chains[p]);
            let what = || format!("layer {i} ({})", desc.digest);
            held.push(self.hold_layer(chain));
            let present = match self.snapshotter.stat(chain.as_str()) {
                Ok(info) => info.kind == Kind::Committed,
                Err(e) if e.kind() == berth_snapshot::ErrorKind::NotFound => false,
                Err(e) => return Err(Error::from(e).context(what())),
            };
            let event = |event| LayerProgress {
                index: i,
                digest: desc.digest.clone(),
                event,
            };
            let (size, tar_size) = if present {
                progress(event(LayerEvent::AlreadyExists));
                let key = (desc.digest.clone(), diff.clone());
                match verified
                    .get(&key)
                    .cloned()
                    .or_else(|| self.known_layer(&key))
                {
                    Some(k) => k,
                    None => {
                        let tar_size = if desc.digest == *diff {
                            desc.size
                        } else {
                            // Not unpacked from this blob: check that it
                            // really holds this layer before recording it
                            // (a save or push would send it).
                            self.verify_blob(&desc.digest, diff)
                                .map_err(|e| e.context(what()))?
                        };
                        (self.layer_size(diff, chain, tar_size)?, Some(tar_size))
                    }
                }
            } else {
                progress(event(LayerEvent::Extracting));
                let blob = self.content.open_blob(&desc.digest)?;
                let (_, r) = decompress::sniff_reader(blob)
                    .map_err(|e| Error::stream(&format!("read {}", what()), e))?;
                let u = self
                    .unpack(parent, r, Some(diff), false)
                    .map_err(|e| e.context(what()))?;
                held.push(u._pending);
                progress(event(LayerEvent::Done));
                (u.size, Some(u.tar_size))
            };
            verified.insert((desc.digest.clone(), diff.clone()), (size, tar_size));
            if desc.digest != *diff
                && let Some(t) = tar_size
            {
                tar_sizes.push((diff.clone(), t));
            }
            layers.push(LayerRec {
                blob: desc.digest.clone(),
                media_type: desc.media_type.clone(),
                blob_size: desc.size,
                diff_id: diff.clone(),
                size,
            });
        }
        let size = layers.iter().map(|l| l.size).sum();
        Ok(Prepared {
            id,
            new: Some(NewImage {
                rec: Rec {
                    manifest: Some(manifest.clone()),
                    parent: None,
                    layers,
                    size,
                    recorded: Utc::now(),
                    last_tag_time: None,
                },
                config,
                tar_sizes,
            }),
            _layers: held,
            _lease: lease,
        })
    }

    /// Writes the records and references of prepared images in one
    /// persist: all become visible, or (on error) none.
    pub(crate) fn record_images(&self, items: Vec<ToRecord<'_>>) -> Result<Vec<Image>> {
        let mut st = self.lock();
        let mut db = st.db.clone();
        let now = Utc::now();
        let mut configs = Vec::new();
        for item in &items {
            let id = &item.prepared.id;
            if !db.images.contains_key(id) {
                let Some(new) = &item.prepared.new else {
                    return Err(Error::conflict(format!(
                        "image {id} was deleted while it was being added; try again"
                    )));
                };
                db.images.insert(id.clone(), new.rec.clone());
                configs.push((id.clone(), new.config.clone()));
                for (diff, t) in &new.tar_sizes {
                    db.layer_meta
                        .entry(diff.clone())
                        .or_default()
                        .tar_size
                        .get_or_insert(*t);
                }
            }
            for r in &item.refs {
                db.refs.insert(r.key.clone(), id.clone());
            }
            let rec = db.images.get_mut(id).expect("inserted above");
            if item.refs.iter().any(|r| r.tag) {
                rec.last_tag_time = Some(now);
            }
            let own = crate::blobs::image_blobs(id, rec);
            let extra: Vec<&Digest> = item.extra.iter().filter(|d| !own.contains(d)).collect();
            if !extra.is_empty() {
                db.extra_blobs
                    .entry(id.clone())
                    .or_default()
                    .extend(extra.into_iter().cloned());
            }
        }
        self.persist(&db)?;
        st.db = db;
        for (id, c) in configs {
            st.configs.insert(id, c);
        }
        let images = items
            .iter()
            .map(|i| Self::image(&st, &i.prepared.id))
            .collect();
        // The holds take the lock when they go.
        drop(st);
        drop(items);
        Ok(images)
    }

    /// (unpacked size, tar size) of a blob/diff-ID pair a record has.
    fn known_layer(&self, key: &(Digest, Digest)) -> Option<(u64, Option<u64>)> {
        let st = self.lock();
        let l = st
            .db
            .images
            .values()
            .flat_map(|r| &r.layers)
            .find(|l| l.blob == key.0 && l.diff_id == key.1)?;
        let tar_size = if l.blob == l.diff_id {
            Some(l.blob_size)
        } else {
            st.db.layer_meta.get(&l.diff_id).and_then(|m| m.tar_size)
        };
        Some((l.size, tar_size))
    }

    /// Unpacked size of a layer present as a snapshot: from a record with
    /// that diff ID, else measured.
    fn layer_size(&self, diff: &Digest, chain: &Digest, tar_size: u64) -> Result<u64> {
        if let Some(l) = self
            .lock()
            .db
            .images
            .values()
            .flat_map(|r| &r.layers)
            .find(|l| l.diff_id == *diff)
        {
            return Ok(l.size);
        }
        Ok(match self.snapshotter.whiteout_format() {
            WhiteoutFormat::Overlay => self.snapshotter.usage(chain.as_str())?,
            // A naive snapshot holds the whole tree; the tar size is the
            // nearest figure at hand for this layer alone.
            WhiteoutFormat::Naive => tar_size,
        })
    }

    /// Decompresses a layer blob and checks its digest is `diff`; returns
    /// the uncompressed size.
    pub(crate) fn verify_blob(&self, blob: &Digest, diff: &Digest) -> Result<u64> {
        let f = self.content.open_blob(blob)?;
        let (_, mut r) = decompress::sniff_reader(f)
            .map_err(|e| Error::stream(&format!("read blob {blob}"), e))?;
        let mut h = Sha256::new();
        let mut n = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let k = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::stream(&format!("decompress blob {blob}"), e)),
            };
            h.update(&buf[..k]);
            n += k as u64;
        }
        let got = Digest::from_sha256(h.finalize().as_slice());
        if got != *diff {
            return Err(Error::invalid(format!(
                "blob {blob} holds the layer with diff ID {got}, the image config says {diff}"
            )));
        }
        Ok(n)
    }
}
