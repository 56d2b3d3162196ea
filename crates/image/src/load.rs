//! `docker load`: reads an image archive once, as a stream.
//!
//! Accepted: Docker 25+ archives (OCI layout plus `manifest.json`), older
//! docker-archives (`manifest.json`, `<id>/layer.tar`, `<id>.json`,
//! duplicate layers as symlinks), podman's docker-archive, and plain OCI
//! layouts (podman's oci-archive) — each possibly gzip/bzip2/xz/zstd
//! compressed as a whole.
//!
//! Nothing is extracted to disk: every regular file goes into the content
//! store as it streams by (files named `blobs/sha256/<hex>` must have that
//! digest), except the few small top-level JSON files, kept in memory.
//! Symlinks and hardlinks are resolved afterwards within the archive's own
//! namespace. Then each image goes through `add_image`'s two phases, all
//! prepared before any is recorded, so a failure leaves no image, no
//! reference and (after `gc_blobs`) no new blob.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};

use berth_archive::decompress::{self, Compression};
use berth_content::Digest;
use serde::Deserialize;

use crate::add::{LayerEvent, LayerProgress, ToRecord, Verified, parse_manifest, ref_keys};
use crate::blobs::BlobLease;
use crate::config::{MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER_TAR, MEDIA_TYPE_MANIFEST, Manifest};
use crate::oci::{
    ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, Index, IndexEntry, descriptor, is_index_type,
    is_manifest_type, layer_compression, oci_layer_type,
};
use crate::store::{MAX_JSON_BLOB, host_arch};
use crate::{Error, ImageStore, Reference, Result};

/// Archives with more entries than this are refused: each regular file
/// becomes a blob until the load ends.
const MAX_ENTRIES: usize = 100_000;
/// Images (manifest.json items, index.json entries) per archive.
const MAX_IMAGES: usize = 10_000;
/// The top-level JSON files kept in memory, each capped at
/// `MAX_JSON_BLOB`.
const SMALL_FILES: [&str; 4] = ["manifest.json", "index.json", "repositories", "oci-layout"];
/// Symlinks followed while resolving one path.
const MAX_LINKS: usize = 64;
/// Nested indexes followed from an `index.json` entry.
const MAX_INDEX_DEPTH: usize = 4;
/// How often a file being read reports progress.
const PROGRESS_STEP: u64 = 8 << 20;

/// An image `load` made visible.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedImage {
    pub id: Digest,
    /// The tags loaded for it, in archive order: the daemon prints
    /// `Loaded image: <familiar tag>` for each and `Loaded image ID: <id>`
    /// when there are none.
    pub tags: Vec<Reference>,
}

/// Progress of a load, shaped like the JSON messages dockerd sends:
/// `{"id": …, "status": "Loading layer", "progressDetail": {…}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadEvent {
    /// What the event is about: 12 hex digits of a blob or layer ID, or
    /// the archive path when it has none.
    pub id: String,
    /// `Loading layer` (a file of the archive streaming into the store),
    /// then per layer of each image `Extracting`, `Loaded` or
    /// `Already exists`.
    pub status: String,
    /// Bytes read so far and in all, for `Loading layer`.
    pub current: Option<u64>,
    pub total: Option<u64>,
}

impl LoadEvent {
    fn layer(p: &LayerProgress) -> LoadEvent {
        let status = match p.event {
            LayerEvent::Extracting => "Extracting",
            LayerEvent::Done => "Loaded",
            LayerEvent::AlreadyExists => "Already exists",
        };
        LoadEvent {
            id: p.digest.short().to_string(),
            status: status.to_string(),
            current: None,
            total: None,
        }
    }
}

/// The progress ID of an archive file: the hex of a blob name or of a
/// legacy layer directory, shortened as Docker shortens IDs.
fn progress_id(path: &str) -> String {
    let hex = path
        .strip_prefix("blobs/sha256/")
        .or_else(|| path.strip_suffix("/layer.tar"))
        .or_else(|| path.strip_suffix(".tar"))
        .unwrap_or(path);
    if hex.len() >= 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex[..12].to_string()
    } else {
        path.to_string()
    }
}

/// One path of the archive.
enum Node {
    File { digest: Digest },
    Small(Vec<u8>),
    Symlink(String),
    Hardlink(String),
}

/// `manifest.json` of docker-archives (moby's `manifestItem`).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestItem {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
    #[serde(default)]
    layer_sources: Option<BTreeMap<String, serde_json::Value>>,
}

/// One image the archive holds: its manifest (in the content store) and
/// the references to give it.
struct Planned {
    manifest: Digest,
    config: Digest,
    refs: Vec<Reference>,
}

fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::invalid(format!("load: {msg}"))
}

/// Splits an archive path into components: `.` and empty ones dropped,
/// `..` applied. Absolute paths and `..` above the root are refused.
fn components(path: &str) -> Result<Vec<String>> {
    if path.starts_with('/') {
        return Err(invalid(format!("absolute path {path:?} in archive")));
    }
    push_components(Vec::new(), path)
        .ok_or_else(|| invalid(format!("path {path:?} escapes the archive")))
}

fn push_components(mut base: Vec<String>, rel: &str) -> Option<Vec<String>> {
    for c in rel.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                base.pop()?;
            }
            c => base.push(c.to_string()),
        }
    }
    Some(base)
}

/// Where a symlink at `path` (components) pointing at `target` leads.
fn link_target(dir: &[String], path: &str, target: &str) -> Result<Vec<String>> {
    if target.starts_with('/') {
        return Err(invalid(format!(
            "symlink {path} points outside the archive (absolute target {target:?})"
        )));
    }
    push_components(dir.to_vec(), target).ok_or_else(|| {
        invalid(format!(
            "symlink {path} points outside the archive ({target:?})"
        ))
    })
}

struct Archive {
    nodes: HashMap<String, Node>,
}

impl Archive {
    /// Follows symlinks (in any component) and hardlinks to the node a
    /// path names.
    fn lookup(&self, path: &str) -> Result<Option<&Node>> {
        let mut comps = components(path)?;
        let mut budget = MAX_LINKS;
        'again: loop {
            for i in 0..comps.len() {
                let prefix = comps[..=i].join("/");
                let mut next = match self.nodes.get(&prefix) {
                    Some(Node::Symlink(t)) => link_target(&comps[..i], &prefix, t)?,
                    Some(Node::Hardlink(t)) if i + 1 == comps.len() => components(t)?,
                    _ => continue,
                };
                budget = budget
                    .checked_sub(1)
                    .ok_or_else(|| invalid(format!("too many levels of links at {path}")))?;
                next.extend_from_slice(&comps[i + 1..]);
                comps = next;
                continue 'again;
            }
            return Ok(self.nodes.get(&comps.join("/")));
        }
    }

    /// The blob a path of the archive holds.
    fn blob(&self, path: &str) -> Result<Digest> {
        match self.lookup(path)? {
            Some(Node::File { digest }) => Ok(digest.clone()),
            Some(_) => Err(invalid(format!("{path} is not a regular file"))),
            None => Err(Error::invalid(format!(
                "load: missing blob: {path} is not in the archive"
            ))),
        }
    }

    /// The blob a descriptor names, which must be at `blobs/sha256/<hex>`.
    fn descriptor_blob(&self, d: &Digest) -> Result<()> {
        let path = format!("blobs/sha256/{}", d.hex());
        match self.lookup(&path)? {
            Some(Node::File { digest }) if digest == d => Ok(()),
            Some(Node::File { digest }) => {
                Err(invalid(format!("{path} has digest {digest}, not {d}")))
            }
            Some(_) => Err(invalid(format!("{path} is not a regular file"))),
            None => Err(Error::invalid(format!(
                "load: missing blob {d}: {path} is not in the archive"
            ))),
        }
    }

    fn small(&self, name: &str) -> Option<&[u8]> {
        match self.nodes.get(name) {
            Some(Node::Small(b)) => Some(b),
            _ => None,
        }
    }
}

impl ImageStore {
    /// `docker load`. Returns the images loaded, in archive order.
    pub fn load(
        &self,
        r: impl Read,
        progress: &mut dyn FnMut(LoadEvent),
    ) -> Result<Vec<LoadedImage>> {
        let mut ingested = Vec::new();
        let mut lease = self.lease_blobs(&[]);
        let result = self.load_inner(r, progress, &mut ingested, &mut lease);
        drop(lease);
        // On success this drops what no image uses (the v1 `json` and
        // `VERSION` files of old archives); on failure, everything new.
        self.gc_blobs(&ingested);
        if result.is_err() {
            // Layers unpacked for images that were not recorded.
            if let Err(e) = self.gc_layers() {
                tracing::warn!(error = %e, "could not free layers of a failed load");
            }
        }
        result
    }

    fn load_inner<'a>(
        &'a self,
        r: impl Read,
        progress: &mut dyn FnMut(LoadEvent),
        ingested: &mut Vec<Digest>,
        lease: &mut BlobLease<'a>,
    ) -> Result<Vec<LoadedImage>> {
        let archive = self.read_archive(r, progress, ingested, lease)?;
        let plan = if let Some(m) = archive.small("manifest.json") {
            self.plan_docker(&archive, m, ingested, lease)?
        } else if let Some(i) = archive.small("index.json") {
            self.plan_oci(&archive, i)?
        } else if archive.nodes.is_empty() {
            return Err(invalid("the archive is empty"));
        } else {
            return Err(invalid(
                "no manifest.json or index.json in the archive: not a docker or OCI image archive",
            ));
        };
        if plan.is_empty() {
            return Err(invalid("the archive holds no image"));
        }

        let mut keys = Vec::with_capacity(plan.len());
        for p in &plan {
            keys.push(ref_keys(&p.refs).map_err(|e| e.context("load"))?);
        }
        let mut verified = Verified::new();
        let mut items = Vec::with_capacity(plan.len());
        for (p, refs) in plan.iter().zip(keys) {
            let prepared = self
                .prepare_image(
                    &p.manifest,
                    &mut |layer| progress(LoadEvent::layer(&layer)),
                    &mut verified,
                )
                .map_err(|e| e.context(format!("load image {}", p.config)))?;
            items.push(ToRecord {
                prepared,
                refs,
                extra: Vec::new(),
            });
        }
        let images = self.record_images(items)?;
        Ok(images
            .into_iter()
            .zip(plan)
            .map(|(img, p)| LoadedImage {
                id: img.id,
                tags: p
                    .refs
                    .into_iter()
                    .filter(|r| r.digest().is_none())
                    .collect(),
            })
            .collect())
    }

    /// Reads the whole stream: regular files into the content store (or
    /// memory), links noted.
    fn read_archive<'a>(
        &'a self,
        r: impl Read,
        progress: &mut dyn FnMut(LoadEvent),
        ingested: &mut Vec<Digest>,
        lease: &mut BlobLease<'a>,
    ) -> Result<Archive> {
        let (_, dec) =
            decompress::sniff_reader(r).map_err(|e| Error::stream("load: read archive", e))?;
        let mut tar = tar::Archive::new(dec);
        let entries = tar.entries().map_err(|e| tar_error(e, true))?;
        let mut nodes = HashMap::new();
        let mut count = 0usize;
        for entry in entries {
            let mut entry = entry.map_err(|e| tar_error(e, count == 0))?;
            count += 1;
            if count > MAX_ENTRIES {
                return Err(invalid(format!(
                    "more than {MAX_ENTRIES} entries: not an image archive"
                )));
            }
            let raw = entry.path_bytes().into_owned();
            let Ok(name) = String::from_utf8(raw) else {
                // No manifest can name it (JSON strings are UTF-8).
                continue;
            };
            let comps = components(&name)?;
            let path = comps.join("/");
            let kind = entry.header().entry_type();
            if kind.is_file() || kind == tar::EntryType::Continuous {
                if path.is_empty() {
                    return Err(invalid(format!("file entry {name:?} has no name")));
                }
                let size = entry.header().size().map_err(|e| tar_error(e, false))?;
                let node = if SMALL_FILES.contains(&path.as_str()) {
                    if size > MAX_JSON_BLOB {
                        return Err(invalid(format!(
                            "{path} is {size} bytes, more than the {MAX_JSON_BLOB} allowed"
                        )));
                    }
                    let mut buf = Vec::with_capacity(size as usize);
                    (&mut entry)
                        .take(MAX_JSON_BLOB)
                        .read_to_end(&mut buf)
                        .map_err(|e| read_error(&path, e))?;
                    if (buf.len() as u64) < size {
                        return Err(read_error(&path, io::ErrorKind::UnexpectedEof.into()));
                    }
                    Node::Small(buf)
                } else {
                    let digest =
                        self.ingest_entry(&path, &mut entry, size, progress, ingested, lease)?;
                    Node::File { digest }
                };
                nodes.insert(path, node);
            } else if kind.is_symlink() {
                let target = link_name(&entry)?;
                link_target(&comps[..comps.len().saturating_sub(1)], &path, &target)?;
                nodes.insert(path, Node::Symlink(target));
            } else if kind.is_hard_link() {
                let target = link_name(&entry)?;
                components(&target).map_err(|e| e.context(format!("hardlink {path}")))?;
                nodes.insert(path, Node::Hardlink(target));
            }
            // Directories and special files carry nothing a load needs.
        }
        Ok(Archive { nodes })
    }

    /// Streams one file into the content store; a `blobs/sha256/<hex>`
    /// file must have that digest.
    fn ingest_entry<'a>(
        &'a self,
        path: &str,
        entry: &mut impl Read,
        size: u64,
        progress: &mut dyn FnMut(LoadEvent),
        ingested: &mut Vec<Digest>,
        lease: &mut BlobLease<'a>,
    ) -> Result<Digest> {
        let expected = path
            .strip_prefix("blobs/sha256/")
            .and_then(|hex| Digest::from_hex(hex).ok());
        if let Some(d) = &expected {
            lease.add(d);
        }
        let mut ing = self.content.ingest()?;
        let report = size >= PROGRESS_STEP;
        let id = progress_id(path);
        let mut event = |current| {
            if report {
                progress(LoadEvent {
                    id: id.clone(),
                    status: "Loading layer".to_string(),
                    current: Some(current),
                    total: Some(size),
                })
            }
        };
        event(0);
        let mut buf = vec![0u8; 1 << 20];
        let mut done = 0u64;
        let mut next_report = PROGRESS_STEP;
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(path, e)),
            };
            ing.write_all(&buf[..n])
                .map_err(|e| Error::stream("load: write blob", e))?;
            done += n as u64;
            if done >= next_report {
                event(done);
                next_report = done + PROGRESS_STEP;
            }
        }
        event(done);
        if done < size {
            // tar-rs ends an entry cut short quietly.
            return Err(Error::invalid(format!(
                "load: unexpected EOF reading {path}: the archive is truncated"
            )));
        }
        let (digest, _) =
            ing.commit(expected.as_ref(), Some(size))
                .map_err(|e| match &expected {
                    Some(_) => invalid(format!("{path}: digest mismatch: {}", e.message())),
                    None => invalid(format!("{path}: {}", e.message())),
                })?;
        lease.add(&digest);
        ingested.push(digest.clone());
        Ok(digest)
    }

    /// Images of a docker-archive `manifest.json` (every Docker version,
    /// podman's docker-archive).
    fn plan_docker<'a>(
        &'a self,
        archive: &Archive,
        manifest_json: &[u8],
        ingested: &mut Vec<Digest>,
        lease: &mut BlobLease<'a>,
    ) -> Result<Vec<Planned>> {
        let items: Vec<ManifestItem> = serde_json::from_slice(manifest_json)
            .map_err(|e| invalid(format!("manifest.json: {e}")))?;
        if items.len() > MAX_IMAGES {
            return Err(invalid(format!(
                "manifest.json lists more than {MAX_IMAGES} images"
            )));
        }
        // Docker 25+ archives carry OCI manifests too: use them when they
        // describe the same image, so the manifest digest survives.
        let oci: Vec<(Digest, Manifest)> = match archive.small("index.json") {
            Some(i) => self.oci_manifests(archive, i).unwrap_or_default(),
            None => Vec::new(),
        };
        let mut plan: Vec<Planned> = Vec::new();
        for item in items {
            let config = archive
                .blob(&item.config)
                .map_err(|e| e.context("manifest.json Config"))?;
            let mut refs = Vec::new();
            for t in item.repo_tags.iter().flatten() {
                let r = Reference::parse_named(t)
                    .map_err(|e| invalid(format!("invalid tag {t:?}: {e}")))?;
                if r.tag().is_none() || r.digest().is_some() {
                    return Err(invalid(format!("invalid tag {t:?}")));
                }
                refs.push(r);
            }
            for src in item.layer_sources.iter().flat_map(|m| m.values()) {
                if let Some(mt) = src.get("mediaType").and_then(|m| m.as_str()) {
                    layer_compression(mt).map_err(|e| e.context("load"))?;
                }
            }
            let mut layers = Vec::with_capacity(item.layers.len());
            for path in &item.layers {
                let blob = archive.blob(path)?;
                layers.push(self.layer_descriptor(&blob, ingested, lease)?);
            }
            if let Some(p) = plan.iter_mut().find(|p| p.config == config) {
                for r in refs {
                    if !p.refs.contains(&r) {
                        p.refs.push(r);
                    }
                }
                continue;
            }
            let manifest = match oci.iter().find(|(_, m)| {
                m.config.digest == config
                    && m.layers.len() == layers.len()
                    && m.layers
                        .iter()
                        .zip(&layers)
                        .all(|(a, b)| a.digest == b.digest)
            }) {
                Some((d, _)) => d.clone(),
                None => {
                    let size = self.content.size(&config)?;
                    let m = Manifest {
                        schema_version: 2,
                        media_type: Some(MEDIA_TYPE_MANIFEST.into()),
                        config: descriptor(MEDIA_TYPE_CONFIG, &config, size),
                        layers,
                        annotations: None,
                    };
                    let bytes = serde_json::to_vec(&m)
                        .map_err(|e| Error::internal(format!("encode manifest: {e}")))?;
                    let d = Digest::of(&bytes);
                    lease.add(&d);
                    self.content.write_blob(&bytes)?;
                    ingested.push(d.clone());
                    d
                }
            };
            plan.push(Planned {
                manifest,
                config,
                refs,
            });
        }
        Ok(plan)
    }

    /// A descriptor for a docker-archive layer file, by its content:
    /// plain, gzip and zstd blobs as they are; bzip2 and xz (which have no
    /// media type) decompressed into a new blob.
    fn layer_descriptor<'a>(
        &'a self,
        blob: &Digest,
        ingested: &mut Vec<Digest>,
        lease: &mut BlobLease<'a>,
    ) -> Result<crate::Descriptor> {
        let mut head = [0u8; 6];
        let mut f = self.content.open_blob(blob)?;
        let mut n = 0;
        while n < head.len() {
            match f.read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::stream(&format!("read blob {blob}"), e)),
            }
        }
        let comp = decompress::detect(&head[..n]);
        if let Some(mt) = oci_layer_type(comp) {
            return Ok(descriptor(mt, blob, self.content.size(blob)?));
        }
        debug_assert!(matches!(comp, Compression::Bzip2 | Compression::Xz));
        let (_, mut r) = decompress::sniff_reader(self.content.open_blob(blob)?)
            .map_err(|e| Error::stream(&format!("read blob {blob}"), e))?;
        let mut ing = self.content.ingest()?;
        io::copy(&mut r, &mut ing).map_err(|e| invalid(format!("decompress layer {blob}: {e}")))?;
        let (d, size) = ing.commit(None, None)?;
        lease.add(&d);
        ingested.push(d.clone());
        Ok(descriptor(MEDIA_TYPE_LAYER_TAR, &d, size))
    }

    /// The image manifests `index.json` leads to (through nested indexes,
    /// picking this host's platform), with the names its entries carry.
    fn plan_oci(&self, archive: &Archive, index_json: &[u8]) -> Result<Vec<Planned>> {
        let index = parse_index("index.json", index_json)?;
        let mut plan: Vec<Planned> = Vec::new();
        for entry in &index.manifests {
            let Some((manifest, m)) = self.pick_manifest(archive, entry, 0)? else {
                continue;
            };
            let refs = entry_refs(entry)?;
            match plan.iter_mut().find(|p| p.manifest == manifest) {
                Some(p) => {
                    for r in refs {
                        if !p.refs.contains(&r) {
                            p.refs.push(r);
                        }
                    }
                }
                None => plan.push(Planned {
                    manifest,
                    config: m.config.digest.clone(),
                    refs,
                }),
            }
        }
        if plan.is_empty() && !index.manifests.is_empty() {
            return Err(invalid(format!(
                "no image for linux/{} in index.json",
                host_arch()
            )));
        }
        Ok(plan)
    }

    /// Every image manifest index.json names directly (for Docker 25+
    /// archives, whose manifests may be reused).
    fn oci_manifests(
        &self,
        archive: &Archive,
        index_json: &[u8],
    ) -> Result<Vec<(Digest, Manifest)>> {
        let index = parse_index("index.json", index_json)?;
        let mut out = Vec::new();
        for e in &index.manifests {
            if is_manifest_type(&e.media_type)
                && let Ok(Some(m)) = self.pick_manifest(archive, e, MAX_INDEX_DEPTH)
            {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Follows an index entry to an image manifest present in the archive
    /// (with its config and layers); None for entries of other platforms
    /// or kinds (attestations).
    fn pick_manifest(
        &self,
        archive: &Archive,
        entry: &IndexEntry,
        depth: usize,
    ) -> Result<Option<(Digest, Manifest)>> {
        let d = &entry.digest;
        archive.descriptor_blob(d)?;
        let bytes = self
            .content
            .read_blob(d, MAX_JSON_BLOB)
            .map_err(|e| Error::from(e).context("load"))?;
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| invalid(format!("blob {d}: {e}")))?;
        let mt = match v.get("mediaType").and_then(|m| m.as_str()) {
            Some(mt) => mt.to_string(),
            None if v.get("manifests").is_some() => crate::oci::MEDIA_TYPE_INDEX.to_string(),
            None => entry.media_type.clone(),
        };
        if is_index_type(&mt) {
            if depth >= MAX_INDEX_DEPTH {
                return Err(invalid(format!("indexes nested too deep at {d}")));
            }
            let index = parse_index(d.as_str(), &bytes)?;
            return match index.choose(&crate::oci::Platform::host()) {
                Some(e) => self.pick_manifest(archive, e, depth + 1),
                None => Ok(None),
            };
        }
        if !is_manifest_type(&mt) && !mt.is_empty() {
            // Artifacts and the like: not an image.
            return Ok(None);
        }
        let m = parse_manifest(d, &bytes).map_err(|e| e.context("load"))?;
        archive.descriptor_blob(&m.config.digest)?;
        for l in &m.layers {
            archive.descriptor_blob(&l.digest)?;
        }
        Ok(Some((d.clone(), m)))
    }
}

fn parse_index(what: &str, bytes: &[u8]) -> Result<Index> {
    let index: Index =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("{what}: {e}")))?;
    if index.schema_version != 2 {
        return Err(invalid(format!(
            "{what}: unsupported schema version {}",
            index.schema_version
        )));
    }
    if index.manifests.len() > MAX_IMAGES {
        return Err(invalid(format!(
            "{what} lists more than {MAX_IMAGES} manifests"
        )));
    }
    Ok(index)
}

/// The references an index.json entry names: containerd's full image name,
/// else an `org.opencontainers.image.ref.name` that is a full reference
/// (podman and skopeo write `name:tag` there; Docker writes the bare tag,
/// which names nothing without the other annotation).
fn entry_refs(entry: &IndexEntry) -> Result<Vec<Reference>> {
    let Some(a) = &entry.annotations else {
        return Ok(Vec::new());
    };
    let name = match (a.get(ANNOTATION_IMAGE_NAME), a.get(ANNOTATION_REF_NAME)) {
        (Some(n), _) => n,
        (None, Some(n)) if n.contains([':', '/', '@']) => n,
        _ => return Ok(Vec::new()),
    };
    let r = Reference::parse_named(name)
        .map_err(|e| invalid(format!("invalid image name {name:?}: {e}")))?;
    Ok(vec![r.tag_name_only()])
}

fn link_name<R: Read>(entry: &tar::Entry<'_, R>) -> Result<String> {
    let Some(t) = entry.link_name_bytes() else {
        return Err(invalid("link entry without a target"));
    };
    String::from_utf8(t.into_owned()).map_err(|_| invalid("link target is not UTF-8"))
}

fn read_error(path: &str, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return Error::invalid(format!(
            "load: unexpected EOF reading {path}: the archive is truncated"
        ));
    }
    Error::stream(&format!("load: read {path}"), e)
}

/// A tar-level error: the stream is not a tar, or is cut short. Docker
/// reports Go's `archive/tar: invalid tar header` for input that is not a
/// tar; the detail tar-rs gives (which header field failed) helps nobody
/// at the first entry.
fn tar_error(e: io::Error, first: bool) -> Error {
    // tar-rs reports a header cut short as "failed to read entire block".
    let short = e.to_string().contains("entire block");
    match e.kind() {
        _ if short => Error::invalid("load: unexpected EOF: the archive is truncated"),
        io::ErrorKind::UnexpectedEof => {
            Error::invalid("load: unexpected EOF: the archive is truncated")
        }
        io::ErrorKind::Other | io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput
            if first =>
        {
            Error::invalid(
                "load: invalid tar header: the input is not a tar archive \
                 (plain or gzip, bzip2, xz or zstd compressed)",
            )
        }
        io::ErrorKind::Other | io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => {
            Error::invalid(format!("load: invalid tar header: {e}"))
        }
        _ => Error::stream("load: read archive", e),
    }
}

#[cfg(test)]
#[path = "transfer_tests.rs"]
mod tests;
