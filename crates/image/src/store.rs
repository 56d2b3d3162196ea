//! The image store proper.
//!
//! Persisted in `<root>/images.json` (atomic replace on every change):
//! image records keyed by ID (manifest digest, layer blobs and diff IDs,
//! unpacked size, parent, last tag time) and references (full form →
//! ID). Configs and manifests live in the content store; layers are
//! committed snapshots named by chain ID and labelled [`LABEL_LAYER`].
//!
//! One mutex guards the state. Long work (unpacking a layer) runs without
//! it; a layer being unpacked is "pending" so that garbage collection and
//! deletes never remove a snapshot an import is about to record.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use berth_archive::{ApplyOptions, apply_layer, decompress};
use berth_content::{ContentStore, Digest, Ingest};
use berth_snapshot::{Kind, Snapshotter, WhiteoutFormat};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::blobs::{image_blobs, prune_db};
use crate::config::{
    Descriptor, History, ImageConfig, MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER_TAR, MEDIA_TYPE_MANIFEST,
    Manifest, RootFs, RuntimeConfig,
};
use crate::reference::is_hex64;
use crate::{
    DeleteItem, Error, ErrorKind, Image, ImportOptions, InUse, Reference, Result, apply_changes,
    chain_id, chain_ids,
};

/// Label on committed layer snapshots this store made (value: the diff ID).
pub const LABEL_LAYER: &str = "berth.image/layer";
/// Label on the active snapshots layers are extracted into.
pub const LABEL_EXTRACT: &str = "berth.image/extract";
const EXTRACT_PREFIX: &str = "extract-";
const DB_FILE: &str = "images.json";
const DB_VERSION: u32 = 1;
/// Configs and manifests are small; anything bigger is not one of ours.
pub(crate) const MAX_JSON_BLOB: u64 = 8 << 20;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct LayerRec {
    /// The blob in the content store (for imports: the uncompressed tar, so
    /// its digest is the diff ID; `docker save` can stream it as is).
    pub(crate) blob: Digest,
    pub(crate) media_type: String,
    pub(crate) blob_size: u64,
    pub(crate) diff_id: Digest,
    /// Unpacked size of this layer alone.
    pub(crate) size: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Rec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) manifest: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) parent: Option<Digest>,
    pub(crate) layers: Vec<LayerRec>,
    pub(crate) size: u64,
    pub(crate) recorded: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_tag_time: Option<DateTime<Utc>>,
}

/// A blob and its size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BlobRef {
    pub(crate) digest: Digest,
    pub(crate) size: u64,
}

/// What the store learnt about a layer, by diff ID: it holds for every
/// image with that layer, whichever blob each recorded. Kept beside the
/// records (not in `LayerRec`) so one computation serves all of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LayerMeta {
    /// Size of the uncompressed tar: `docker save` writes a compressed blob
    /// decompressed and needs the size for the tar header before it starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tar_size: Option<u64>,
    /// The gzip copy `push_plan` made of an uncompressed layer, so that
    /// every later push sends the same bytes (and the same digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) gzip: Option<BlobRef>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Db {
    pub(crate) version: u32,
    pub(crate) images: BTreeMap<Digest, Rec>,
    /// Full reference (`docker.io/library/busybox:latest` or
    /// `name@sha256:…`) → image ID.
    pub(crate) refs: BTreeMap<String, Digest>,
    /// Diff ID → facts about that layer. Entries go with the last image
    /// using the diff ID.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) layer_meta: BTreeMap<Digest, LayerMeta>,
    /// Image ID → further blobs the image keeps (a pulled manifest list, a
    /// manifest made for a push). Beside the records so that older
    /// images.json files and code building `Rec`s stay as they were.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) extra_blobs: BTreeMap<Digest, BTreeSet<Digest>>,
}

impl Default for Db {
    fn default() -> Self {
        Db {
            version: DB_VERSION,
            images: BTreeMap::new(),
            refs: BTreeMap::new(),
            layer_meta: BTreeMap::new(),
            extra_blobs: BTreeMap::new(),
        }
    }
}

pub(crate) struct State {
    pub(crate) db: Db,
    pub(crate) configs: HashMap<Digest, ImageConfig>,
    /// Chain IDs an unfinished import or pull is using, with a count.
    pub(crate) pending: HashMap<String, usize>,
    /// Blobs an unfinished pull, load or push is using, with a count:
    /// `gc_blobs` leaves them alone.
    pub(crate) pending_blobs: HashMap<Digest, usize>,
}

pub struct ImageStore {
    pub(crate) root: PathBuf,
    pub(crate) db_path: PathBuf,
    pub(crate) content: Arc<ContentStore>,
    pub(crate) snapshotter: Arc<dyn Snapshotter>,
    pub(crate) state: Mutex<State>,
    pub(crate) max_layer_bytes: Option<u64>,
}

/// Keeps a chain ID out of garbage collection until dropped.
pub(crate) struct PendingLayer<'a> {
    store: &'a ImageStore,
    chain: String,
}

impl Drop for PendingLayer<'_> {
    fn drop(&mut self) {
        let mut st = self.store.lock();
        if let Some(n) = st.pending.get_mut(&self.chain) {
            *n -= 1;
            if *n == 0 {
                st.pending.remove(&self.chain);
            }
        }
    }
}

/// Where the bytes of a layer stream go besides the snapshot.
enum Sink {
    /// Stored as a blob (the layer is new to the content store).
    Ingest(Ingest),
    /// Only hashed, to verify a diff ID (the blob is already stored,
    /// perhaps compressed).
    Hash(Sha256, u64),
}

struct Tee<'a, R> {
    inner: R,
    sink: &'a mut Sink,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        match self.sink {
            Sink::Ingest(i) => i.write_all(&buf[..n])?,
            Sink::Hash(h, len) => {
                h.update(&buf[..n]);
                *len += n as u64;
            }
        }
        Ok(n)
    }
}

pub(crate) struct Unpacked<'a> {
    pub(crate) diff_id: Digest,
    pub(crate) chain: Digest,
    /// Uncompressed size of the tar stream.
    pub(crate) tar_size: u64,
    pub(crate) size: u64,
    pub(crate) _pending: PendingLayer<'a>,
}

pub(crate) use crate::oci::host_arch;

/// "os[/arch[/variant]]" → (os, arch, variant); only the host's platform.
pub(crate) fn parse_platform(p: Option<&str>) -> Result<(String, String, Option<String>)> {
    let host = host_arch();
    let plat = crate::oci::Platform::parse(p)?;
    if plat.os != "linux" || plat.architecture != host {
        return Err(Error::invalid(format!(
            "platform {:?} is not supported: this engine runs linux/{host} images",
            p.unwrap_or_default()
        )));
    }
    Ok((plat.os, plat.architecture, plat.variant))
}

pub(crate) fn short_id(s: &str) -> &str {
    let s = s.strip_prefix("sha256:").unwrap_or(s);
    &s[..s.len().min(12)]
}

struct Conflict {
    hard: bool,
    used: bool,
    message: String,
}

impl ImageStore {
    /// Opens the store under `root` and reconciles it with the content store
    /// and snapshotter: records whose config or manifest blob is gone are
    /// dropped (with their references), missing layer snapshots are unpacked
    /// again from their blobs, half-extracted snapshots are removed, and
    /// layer snapshots no image uses (and nothing is built on) are freed.
    pub fn open(
        root: &Path,
        content: Arc<ContentStore>,
        snapshotter: Arc<dyn Snapshotter>,
    ) -> Result<Self> {
        std::fs::create_dir_all(root).map_err(|e| Error::io("create image store dir", root, e))?;
        let db_path = root.join(DB_FILE);
        let db = match std::fs::read(&db_path) {
            Ok(b) => serde_json::from_slice::<Db>(&b).map_err(|e| {
                Error::internal(format!("read image store {}: {e}", db_path.display()))
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Db::default(),
            Err(e) => return Err(Error::io("read image store", &db_path, e)),
        };
        if db.version != DB_VERSION {
            return Err(Error::internal(format!(
                "image store {}: unsupported version {}",
                db_path.display(),
                db.version
            )));
        }
        let store = ImageStore {
            root: root.to_path_buf(),
            db_path,
            content,
            snapshotter,
            state: Mutex::new(State {
                db,
                configs: HashMap::new(),
                pending: HashMap::new(),
                pending_blobs: HashMap::new(),
            }),
            max_layer_bytes: None,
        };
        store.reconcile()?;
        Ok(store)
    }

    /// Refuse layers that unpack to more than `max` bytes (decompression
    /// bombs); unlimited by default.
    pub fn set_max_layer_bytes(&mut self, max: Option<u64>) {
        self.max_layer_bytes = max;
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn snapshotter(&self) -> &Arc<dyn Snapshotter> {
        &self.snapshotter
    }

    pub fn content(&self) -> &Arc<ContentStore> {
        &self.content
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn persist(&self, db: &Db) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(db)
            .map_err(|e| Error::internal(format!("encode image store: {e}")))?;
        berth_content::fsutil::atomic_write(&self.db_path, &bytes, 0o600)
            .map_err(|e| Error::io("write image store", &self.db_path, e))
    }

    pub(crate) fn read_config(&self, id: &Digest) -> Result<ImageConfig> {
        let bytes = self.content.read_blob(id, MAX_JSON_BLOB)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(format!("image config {id}: {e}")))
    }

    fn reconcile(&self) -> Result<()> {
        for info in self.snapshotter.list()? {
            if info.kind != Kind::Committed
                && (info.name.starts_with(EXTRACT_PREFIX)
                    || info.labels.contains_key(LABEL_EXTRACT))
            {
                tracing::info!(snapshot = %info.name, "removing half-extracted layer");
                if let Err(e) = self.snapshotter.remove(&info.name) {
                    tracing::warn!(snapshot = %info.name, error = %e, "could not remove half-extracted layer");
                }
            }
        }
        let mut db = self.lock().db.clone();
        let mut configs = HashMap::new();
        let mut changed = false;
        let ids: Vec<Digest> = db.images.keys().cloned().collect();
        for id in ids {
            let rec = db.images[&id].clone();
            let checked = self.read_config(&id).and_then(|cfg| {
                if let Some(m) = &rec.manifest
                    && !self.content.exists(m)
                {
                    return Err(Error::not_found(format!("manifest {m} is missing")));
                }
                self.ensure_unpacked(&rec, &cfg)?;
                Ok(cfg)
            });
            match checked {
                Ok(cfg) => {
                    configs.insert(id, cfg);
                }
                Err(e) => {
                    tracing::warn!(image = %id, error = %e, "dropping unusable image record");
                    db.images.remove(&id);
                    changed = true;
                }
            }
        }
        let before = db.refs.len();
        db.refs.retain(|_, id| db.images.contains_key(id));
        changed |= db.refs.len() != before;
        changed |= !prune_db(&mut db).is_empty();
        if changed {
            self.persist(&db)?;
        }
        {
            let mut st = self.lock();
            st.db = db;
            st.configs = configs;
        }
        let freed = self.gc_layers()?;
        if !freed.is_empty() {
            tracing::info!(count = freed.len(), "freed unused layer snapshots");
        }
        // Blobs no record references are what a crash between ingest and
        // record (pull, load, commit, push) left behind. Nothing else runs
        // during open, so none of them can be in use.
        self.gc_content()?;
        Ok(())
    }

    /// Unpacks again any layer whose snapshot is missing, from its blob.
    fn ensure_unpacked(&self, rec: &Rec, cfg: &ImageConfig) -> Result<()> {
        let chains = chain_ids(&cfg.rootfs.diff_ids);
        for (i, chain) in chains.iter().enumerate() {
            if self.snapshotter.stat(chain.as_str()).is_ok() {
                continue;
            }
            let layer = rec
                .layers
                .get(i)
                .ok_or_else(|| Error::internal(format!("image record lacks layer {i}")))?;
            tracing::info!(chain = %chain, "unpacking missing layer snapshot from its blob");
            let blob = self.content.open_blob(&layer.blob)?;
            let (_, r) = decompress::sniff(blob)
                .map_err(|e| Error::io("read layer", Path::new(layer.blob.as_str()), e))?;
            let parent = if i == 0 { None } else { Some(&chains[i - 1]) };
            let done = self.unpack(parent, r, Some(&layer.diff_id), false)?;
            if done.chain != *chain {
                return Err(Error::internal(format!(
                    "layer {i} unpacked to {} not {chain}",
                    done.chain
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn hold_layer(&self, chain: &Digest) -> PendingLayer<'_> {
        let mut st = self.lock();
        *st.pending.entry(chain.to_string()).or_insert(0) += 1;
        PendingLayer {
            store: self,
            chain: chain.to_string(),
        }
    }

    /// Streams one uncompressed layer onto a new snapshot on `parent` (a
    /// chain ID) and commits it under its chain ID — or drops the work if
    /// that snapshot exists already. One pass over the input: the bytes
    /// are teed into the content store (`store_blob`) or a hasher while
    /// `apply_layer` consumes them, and the diff ID checked when known.
    pub(crate) fn unpack(
        &self,
        parent: Option<&Digest>,
        r: impl Read,
        expected_diff: Option<&Digest>,
        store_blob: bool,
    ) -> Result<Unpacked<'_>> {
        let key = format!("{EXTRACT_PREFIX}{:032x}", rand_u128());
        let mut labels = BTreeMap::new();
        labels.insert(LABEL_EXTRACT.to_string(), "1".to_string());
        self.snapshotter
            .prepare(&key, parent.map(Digest::as_str), labels)?;
        let applied = (|| -> Result<(Digest, u64, u64)> {
            let dir = self.snapshotter.writable_dir(&key)?;
            let mut sink = if store_blob {
                Sink::Ingest(self.content.ingest()?)
            } else {
                Sink::Hash(Sha256::new(), 0)
            };
            let opts = ApplyOptions {
                whiteouts: self.snapshotter.whiteout_format(),
                max_bytes: self.max_layer_bytes,
            };
            let stats = apply_layer(
                &dir,
                Tee {
                    inner: r,
                    sink: &mut sink,
                },
                &opts,
            )?;
            let (diff, len) = match sink {
                Sink::Ingest(i) => i.commit(expected_diff, None)?,
                Sink::Hash(h, len) => {
                    let d = Digest::from_sha256(h.finalize().as_slice());
                    if let Some(want) = expected_diff
                        && *want != d
                    {
                        return Err(Error::invalid(format!(
                            "layer diff ID is {d}, expected {want}"
                        )));
                    }
                    (d, len)
                }
            };
            Ok((diff, len, stats.bytes))
        })();
        let (diff_id, tar_size, data_bytes) = match applied {
            Ok(x) => x,
            Err(e) => {
                if let Err(re) = self.snapshotter.remove(&key) {
                    tracing::warn!(snapshot = %key, error = %re, "could not remove failed extraction");
                }
                return Err(e);
            }
        };
        let chain = match parent {
            None => diff_id.clone(),
            Some(p) => chain_id(p, &diff_id),
        };
        let pending = self.hold_layer(&chain);
        let exists = match self.snapshotter.stat(chain.as_str()) {
            Ok(i) if i.kind == Kind::Committed => true,
            Ok(_) => {
                let _ = self.snapshotter.remove(&key);
                return Err(Error::conflict(format!(
                    "snapshot {chain} exists and is not committed"
                )));
            }
            Err(e) if e.kind() == berth_snapshot::ErrorKind::NotFound => false,
            Err(e) => {
                let _ = self.snapshotter.remove(&key);
                return Err(e.into());
            }
        };
        if exists {
            self.snapshotter.remove(&key)?;
        } else {
            let mut labels = BTreeMap::new();
            labels.insert(LABEL_LAYER.to_string(), diff_id.to_string());
            match self.snapshotter.commit(chain.as_str(), &key, labels) {
                Ok(()) => {}
                // Another import of the same layer won the race.
                Err(e) if e.kind() == berth_snapshot::ErrorKind::Conflict => {
                    self.snapshotter.remove(&key)?;
                }
                Err(e) => {
                    let _ = self.snapshotter.remove(&key);
                    return Err(e.into());
                }
            }
        }
        // An overlay layer's directory holds that layer alone; a naive one
        // holds the whole tree, so count what the stream wrote instead.
        let size = match self.snapshotter.whiteout_format() {
            WhiteoutFormat::Overlay => self.snapshotter.usage(chain.as_str())?,
            WhiteoutFormat::Naive => data_bytes,
        };
        Ok(Unpacked {
            diff_id,
            chain,
            tar_size,
            size,
            _pending: pending,
        })
    }

    /// `docker import`: the (optionally compressed) tar becomes a one-layer
    /// image. The layer blob is stored uncompressed (its digest is the diff
    /// ID, and `docker save` writes uncompressed layers anyway).
    pub fn import(&self, r: Box<dyn Read + Send>, opts: ImportOptions) -> Result<Image> {
        let (os, arch, variant) = parse_platform(opts.platform.as_deref())?;
        if let Some(rf) = &opts.reference {
            if rf.digest().is_some() {
                return Err(Error::invalid("cannot import digest reference"));
            }
            check_tag_name(rf)?;
        }
        let mut runtime = RuntimeConfig::default();
        apply_changes(&mut runtime, &opts.changes)?;
        let (_, stream) = decompress::sniff(r)
            .map_err(|e| Error::invalid(format!("import: read stream: {e}")))?;
        let layer = self.unpack(None, stream, None, true)?;

        let created = Utc::now();
        let message = if opts.message.is_empty() {
            "Imported from -".to_string()
        } else {
            opts.message.clone()
        };
        let config = ImageConfig {
            created: Some(created),
            architecture: arch,
            variant,
            os,
            config: runtime,
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![layer.diff_id.clone()],
            },
            history: vec![History {
                created: Some(created),
                comment: Some(message.clone()),
                ..Default::default()
            }],
            comment: Some(message),
            ..Default::default()
        };
        let layers = vec![LayerRec {
            blob: layer.diff_id.clone(),
            media_type: MEDIA_TYPE_LAYER_TAR.into(),
            blob_size: layer.tar_size,
            diff_id: layer.diff_id.clone(),
            size: layer.size,
        }];
        let (id, manifest_digest) = self.write_config_and_manifest(&config, &layers)?;

        let mut rec = Rec {
            manifest: Some(manifest_digest),
            parent: None,
            layers,
            size: layer.size,
            recorded: created,
            last_tag_time: None,
        };
        let mut st = self.lock();
        let mut db = st.db.clone();
        if let Some(rf) = &opts.reference {
            db.refs.insert(rf.tag_name_only().full(), id.clone());
            rec.last_tag_time = Some(Utc::now());
        }
        db.images.insert(id.clone(), rec);
        self.persist(&db)?;
        st.db = db;
        st.configs.insert(id.clone(), config);
        let img = Self::image(&st, &id);
        drop(st);
        drop(layer);
        Ok(img)
    }

    /// Stores an image config we made and the OCI manifest naming it and
    /// `layers`; returns (image ID, manifest digest). Import and commit.
    pub(crate) fn write_config_and_manifest(
        &self,
        config: &ImageConfig,
        layers: &[LayerRec],
    ) -> Result<(Digest, Digest)> {
        let config_bytes = serde_json::to_vec(config)
            .map_err(|e| Error::internal(format!("encode image config: {e}")))?;
        let id = self.content.write_blob(&config_bytes)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_MANIFEST.into()),
            config: Descriptor {
                media_type: MEDIA_TYPE_CONFIG.into(),
                digest: id.clone(),
                size: config_bytes.len() as u64,
                annotations: None,
            },
            layers: layers
                .iter()
                .map(|l| Descriptor {
                    media_type: l.media_type.clone(),
                    digest: l.blob.clone(),
                    size: l.blob_size,
                    annotations: None,
                })
                .collect(),
            annotations: None,
        };
        let manifest_bytes = serde_json::to_vec(&manifest)
            .map_err(|e| Error::internal(format!("encode manifest: {e}")))?;
        let manifest_digest = self.content.write_blob(&manifest_bytes)?;
        Ok((id, manifest_digest))
    }

    pub(crate) fn refs_of(st: &State, id: &Digest) -> Vec<Reference> {
        st.db
            .refs
            .iter()
            .filter(|(_, v)| *v == id)
            .filter_map(|(k, _)| Reference::parse_named(k).ok())
            .collect()
    }

    pub(crate) fn image(st: &State, id: &Digest) -> Image {
        let rec = &st.db.images[id];
        let config = st.configs.get(id).cloned().unwrap_or_default();
        let mut repo_tags = Vec::new();
        let mut repo_digests = Vec::new();
        for r in Self::refs_of(st, id) {
            if r.digest().is_some() {
                repo_digests.push(r.familiar());
            } else {
                repo_tags.push(r.familiar());
            }
        }
        Image {
            id: id.clone(),
            repo_tags,
            repo_digests,
            manifest: rec.manifest.clone(),
            size: rec.size,
            top_layer: chain_ids(&config.rootfs.diff_ids)
                .last()
                .map(|d| d.to_string()),
            parent: rec.parent.clone(),
            created: config.created.unwrap_or(rec.recorded),
            last_tag_time: rec.last_tag_time,
            config,
        }
    }

    /// All images, newest first.
    pub fn list(&self) -> Vec<Image> {
        let st = self.lock();
        let mut v: Vec<Image> = st.db.images.keys().map(|id| Self::image(&st, id)).collect();
        v.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        v
    }

    pub fn count(&self) -> usize {
        self.lock().db.images.len()
    }

    /// By reference ("busybox" means "busybox:latest"), full or bare hex
    /// ID, unambiguous ID prefix, or `name@digest`.
    pub fn get(&self, name_or_id: &str) -> Result<Image> {
        let st = self.lock();
        let id = Self::resolve(&st, name_or_id)?;
        Ok(Self::image(&st, &id))
    }

    pub(crate) fn resolve(st: &State, input: &str) -> Result<Digest> {
        let not_found = || Error::not_found(format!("No such image: {input}"));
        let known = |d: Digest| {
            if st.db.images.contains_key(&d) {
                Ok(d)
            } else {
                Err(not_found())
            }
        };
        // Docker's ParseAnyReference: a full ID in either spelling.
        if is_hex64(input) {
            return known(Digest::from_hex(input)?);
        }
        if let Ok(d) = input.parse::<Digest>() {
            return known(d);
        }
        let r = Reference::parse_named(input)?;
        if let Some(dg) = r.digest() {
            let key = format!("{}@{dg}", r.name());
            if let Some(id) = st.db.refs.get(&key) {
                return Ok(id.clone());
            }
            // An image of that repository whose manifest (or config) has
            // that digest, as the containerd-backed Docker resolves it.
            let name = r.name();
            for (id, rec) in &st.db.images {
                if (rec.manifest.as_ref() == Some(dg) || id == dg)
                    && Self::refs_of(st, id).iter().any(|x| x.name() == name)
                {
                    return Ok(id.clone());
                }
            }
            return Err(not_found());
        }
        if let Some(id) = st.db.refs.get(&r.tag_name_only().full()) {
            return Ok(id.clone());
        }
        let prefix = input.strip_prefix("sha256:").unwrap_or(input);
        if !prefix.is_empty()
            && prefix
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            let mut matches = st.db.images.keys().filter(|d| d.hex().starts_with(prefix));
            if let (Some(only), None) = (matches.next(), matches.next()) {
                return Ok(only.clone());
            }
        }
        Err(not_found())
    }

    /// `docker tag`: points `new` (`:latest` added if untagged) at the image;
    /// an existing tag is moved.
    pub fn tag(&self, name_or_id: &str, new: &Reference) -> Result<()> {
        if new.digest().is_some() {
            return Err(Error::invalid(
                "refusing to create a tag with a digest reference",
            ));
        }
        check_tag_name(new)?;
        let mut st = self.lock();
        let id = Self::resolve(&st, name_or_id)?;
        let mut db = st.db.clone();
        db.refs.insert(new.tag_name_only().full(), id.clone());
        if let Some(rec) = db.images.get_mut(&id) {
            rec.last_tag_time = Some(Utc::now());
        }
        self.persist(&db)?;
        st.db = db;
        Ok(())
    }

    /// `docker rmi`, with moby's semantics and messages
    /// (daemon/images/image_delete.go).
    ///
    /// `in_use` reports a container using an image; when several do, it must
    /// return a running one if there is one (Docker checks running containers
    /// first). It is called without the store's lock held.
    pub fn delete(
        &self,
        name_or_id: &str,
        force: bool,
        noprune: bool,
        in_use: &dyn Fn(&Digest) -> Option<InUse>,
    ) -> Result<Vec<DeleteItem>> {
        // Ask about containers before locking: the callback is the daemon's
        // and must be free to take its own locks.
        let (id, ancestry) = {
            let st = self.lock();
            let id = Self::resolve(&st, name_or_id)?;
            let mut ancestry = vec![id.clone()];
            let mut cur = st.db.images.get(&id).and_then(|r| r.parent.clone());
            while let Some(p) = cur {
                if ancestry.contains(&p) || !st.db.images.contains_key(&p) {
                    break;
                }
                cur = st.db.images.get(&p).and_then(|r| r.parent.clone());
                ancestry.push(p);
            }
            (id, ancestry)
        };
        let usage: HashMap<Digest, Option<InUse>> =
            ancestry.iter().map(|d| (d.clone(), in_use(d))).collect();

        let mut st = self.lock();
        if Self::resolve(&st, name_or_id)? != id {
            return Err(Error::conflict(format!(
                "conflict: {name_or_id} changed while it was being deleted; try again"
            )));
        }
        let mut db = st.db.clone();
        let mut records = Vec::new();
        let repo_refs = refs_of_db(&db, &id);
        let mut removed_repository_ref = false;

        if !is_image_id_prefix(id.as_str(), name_or_id) {
            if !force
                && is_single_reference(&repo_refs)
                && let Some(Some(c)) = usage.get(&id)
            {
                return Err(Error::conflict(format!(
                    "conflict: unable to remove repository reference \"{name_or_id}\" (must force) - container {} is using its referenced image {}",
                    short_id(&c.container_id),
                    id.short()
                )));
            }
            let parsed = Reference::parse_named(name_or_id)?.tag_name_only();
            let canonical = parsed.digest().is_some();
            if db.refs.remove(&parsed.full()).is_some()
                || (canonical
                    && db
                        .refs
                        .remove(&format!(
                            "{}@{}",
                            parsed.name(),
                            parsed.digest().expect("canonical")
                        ))
                        .is_some())
            {
                records.push(DeleteItem::Untagged(parsed.familiar()));
            } else if canonical {
                // Found through its manifest digest: untag that repository's
                // tags of the image.
                let name = parsed.name();
                for r in refs_of_db(&db, &id)
                    .into_iter()
                    .filter(|r| r.name() == name)
                {
                    db.refs.remove(&r.full());
                    records.push(DeleteItem::Untagged(r.familiar()));
                }
            }
            let mut remaining = refs_of_db(&db, &id);
            if !canonical {
                // The last tag of a repository takes that repository's
                // digest references with it.
                let same_repo_tag = remaining
                    .iter()
                    .any(|r| r.digest().is_none() && r.name() == parsed.name());
                if !same_repo_tag {
                    remaining.retain(|r| {
                        if r.digest().is_some() && r.name() == parsed.name() {
                            db.refs.remove(&r.full());
                            records.push(DeleteItem::Untagged(r.familiar()));
                            false
                        } else {
                            true
                        }
                    });
                }
            }
            if !remaining.is_empty() {
                self.persist(&db)?;
                st.db = db;
                return Ok(records);
            }
            removed_repository_ref = true;
        } else if is_single_reference(&repo_refs) {
            // Deleting by ID an image with one name: untag it first, unless
            // a container stands in the way.
            if let Some(c) = Self::conflict(
                &db,
                &id,
                usage.get(&id).cloned().flatten(),
                true,
                !force,
                false,
            ) {
                return Err(conflict_error(&id, &c));
            }
            for r in &repo_refs {
                db.refs.remove(&r.full());
                records.push(DeleteItem::Untagged(r.familiar()));
            }
        }

        let result = self.delete_helper(
            &mut st,
            &mut db,
            &id,
            &usage,
            &mut records,
            force,
            !noprune,
            removed_repository_ref,
        );
        // Whatever happened, what was removed stays removed.
        self.persist(&db)?;
        st.db = db;
        result?;
        Ok(records)
    }

    /// Conflict check with moby's masks: hard conflicts (dependent child
    /// images, a running container) always count; soft ones (other
    /// references, a stopped container) only when not forced.
    fn conflict(
        db: &Db,
        id: &Digest,
        usage: Option<InUse>,
        hard: bool,
        soft_stopped: bool,
        soft_refs: bool,
    ) -> Option<Conflict> {
        if hard && db.images.values().any(|r| r.parent.as_ref() == Some(id)) {
            return Some(Conflict {
                hard: true,
                used: false,
                message: "image has dependent child images".into(),
            });
        }
        if hard
            && let Some(c) = &usage
            && c.running
        {
            return Some(Conflict {
                hard: true,
                used: true,
                message: format!(
                    "image is being used by running container {}",
                    short_id(&c.container_id)
                ),
            });
        }
        if soft_refs && !refs_of_db(db, id).is_empty() {
            return Some(Conflict {
                hard: false,
                used: false,
                message: "image is referenced in multiple repositories".into(),
            });
        }
        if soft_stopped
            && let Some(c) = &usage
            && !c.running
        {
            return Some(Conflict {
                hard: false,
                used: true,
                message: format!(
                    "image is being used by stopped container {}",
                    short_id(&c.container_id)
                ),
            });
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    fn delete_helper(
        &self,
        st: &mut State,
        db: &mut Db,
        id: &Digest,
        usage: &HashMap<Digest, Option<InUse>>,
        records: &mut Vec<DeleteItem>,
        force: bool,
        prune: bool,
        quiet: bool,
    ) -> Result<()> {
        let used_by = usage.get(id).cloned().flatten();
        if let Some(c) = Self::conflict(db, id, used_by, true, !force, !force) {
            let dangling = refs_of_db(db, id).is_empty()
                && !db.images.values().any(|r| r.parent.as_ref() == Some(id));
            // Untagging by name already happened; an image still in use (or
            // still named) just stays, as Docker leaves it.
            if quiet && (!dangling || c.used) {
                return Ok(());
            }
            return Err(conflict_error(id, &c));
        }
        let Some(rec) = db.images.get(id).cloned() else {
            return Ok(());
        };
        for r in refs_of_db(db, id) {
            db.refs.remove(&r.full());
            records.push(DeleteItem::Untagged(r.familiar()));
        }
        db.images.remove(id);
        let config = st.configs.remove(id).unwrap_or_default();
        records.push(DeleteItem::Deleted(id.to_string()));
        for chain in self.release_layers(st, db, &config) {
            records.push(DeleteItem::Deleted(chain));
        }
        let mut doomed = image_blobs(id, &rec);
        doomed.extend(prune_db(db));
        self.delete_unreferenced(st, db, &doomed);
        if prune && let Some(parent) = rec.parent {
            return self.delete_helper(st, db, &parent, usage, records, false, true, true);
        }
        Ok(())
    }

    /// Removes the image's layer snapshots from the top down while nothing
    /// else needs them: not another image, not an unfinished import, not a
    /// snapshot built on them (a container's rootfs). Returns the chain IDs
    /// removed.
    pub(crate) fn release_layers(&self, st: &State, db: &Db, config: &ImageConfig) -> Vec<String> {
        let used: HashSet<String> = db
            .images
            .keys()
            .filter_map(|other| st.configs.get(other))
            .flat_map(|c| chain_ids(&c.rootfs.diff_ids))
            .map(|d| d.to_string())
            .collect();
        let mut removed = Vec::new();
        for chain in chain_ids(&config.rootfs.diff_ids).iter().rev() {
            let name = chain.to_string();
            if used.contains(&name) || st.pending.contains_key(&name) {
                break;
            }
            match self.snapshotter.remove(&name) {
                Ok(()) => removed.push(name),
                Err(e) if e.kind() == berth_snapshot::ErrorKind::NotFound => {}
                Err(e) if e.kind() == berth_snapshot::ErrorKind::Conflict => break,
                Err(e) => {
                    tracing::warn!(chain = %name, error = %e, "could not remove layer snapshot");
                    break;
                }
            }
        }
        removed
    }

    /// Removes committed layer snapshots (labelled [`LABEL_LAYER`]) that no
    /// image uses, no import is working on and nothing is built on. The
    /// daemon calls this after removing a container whose image was deleted
    /// while it existed. Returns the chain IDs removed.
    pub fn gc_layers(&self) -> Result<Vec<String>> {
        let st = self.lock();
        let used: HashSet<String> = st
            .configs
            .values()
            .flat_map(|c| chain_ids(&c.rootfs.diff_ids))
            .map(|d| d.to_string())
            .collect();
        let mut removed = Vec::new();
        let mut tried: HashSet<String> = HashSet::new();
        loop {
            let infos = self.snapshotter.list()?;
            let parents: HashSet<&str> = infos.iter().filter_map(|i| i.parent.as_deref()).collect();
            let candidates: Vec<String> = infos
                .iter()
                .filter(|i| {
                    i.kind == Kind::Committed
                        && i.labels.contains_key(LABEL_LAYER)
                        && !used.contains(&i.name)
                        && !parents.contains(i.name.as_str())
                        && !st.pending.contains_key(&i.name)
                        && !tried.contains(&i.name)
                })
                .map(|i| i.name.clone())
                .collect();
            if candidates.is_empty() {
                break;
            }
            for c in candidates {
                match self.snapshotter.remove(&c) {
                    Ok(()) => removed.push(c.clone()),
                    Err(e) => {
                        tracing::warn!(snapshot = %c, error = %e, "could not free layer snapshot")
                    }
                }
                tried.insert(c);
            }
        }
        Ok(removed)
    }
}

pub(crate) fn refs_of_db(db: &Db, id: &Digest) -> Vec<Reference> {
    db.refs
        .iter()
        .filter(|(_, v)| *v == id)
        .filter_map(|(k, _)| Reference::parse_named(k).ok())
        .collect()
}

fn conflict_error(id: &Digest, c: &Conflict) -> Error {
    let force = if c.hard {
        "cannot be forced"
    } else {
        "must be forced"
    };
    Error::new(
        ErrorKind::Conflict,
        format!(
            "conflict: unable to delete {} ({force}) - {}",
            id.short(),
            c.message
        ),
    )
}

/// moby's isImageIDPrefix: the input as typed is a prefix of the ID, with or
/// without the algorithm.
fn is_image_id_prefix(id: &str, input: &str) -> bool {
    id.starts_with(input)
        || id
            .split_once(':')
            .is_some_and(|(_, hex)| hex.starts_with(input))
}

/// moby's isSingleReference: one tag (plus, possibly, digest references of
/// the same repository).
fn is_single_reference(refs: &[Reference]) -> bool {
    if refs.len() <= 1 {
        return refs.len() == 1;
    }
    let mut single: Option<&Reference> = None;
    let mut canonical: HashSet<String> = HashSet::new();
    for r in refs {
        if r.digest().is_some() {
            canonical.insert(r.name());
        } else if single.is_none() {
            single = Some(r);
        } else {
            return false;
        }
    }
    let single = single.unwrap_or(&refs[0]);
    canonical.len() == 1 && canonical.contains(&single.name())
}

/// Docker refuses a tag whose name is a digest algorithm: "sha256:abc"
/// would then mean two things.
pub(crate) fn check_tag_name(r: &Reference) -> Result<()> {
    if r.familiar_name() == "sha256" {
        return Err(Error::invalid(
            "refusing to create an ambiguous tag using digest algorithm as name",
        ));
    }
    Ok(())
}

pub(crate) fn rand_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let a = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (u128::from(a) << 64) | u128::from(h.finish())
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
