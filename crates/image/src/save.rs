//! `docker save`: the archive Docker 25+ writes, streamed.
//!
//! ```text
//! blobs/sha256/<hex>   configs, OCI manifests, layers (uncompressed tars)
//! index.json           OCI index: a manifest descriptor per tag
//! manifest.json        the docker-archive manifest older Dockers load
//! oci-layout
//! repositories         legacy tags → top layer, for tagged images only
//! ```
//!
//! Layers are written uncompressed, as Docker writes them (`blobs/sha256/
//! <diff ID>`): Docker 20.10's load would take compressed ones too, but
//! tools that read the OCI layout expect the media type to match the bytes.
//! A layer stored compressed is decompressed straight into its tar entry;
//! its size (needed first, for the header) is recorded per diff ID when
//! the layer is unpacked, or measured once here. Entries come in Docker's
//! order (lexical), and every blob once, however many images share it.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use berth_archive::decompress;
use berth_content::Digest;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::config::{MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER_TAR, MEDIA_TYPE_MANIFEST, Manifest};
use crate::oci::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, Index, IndexEntry, descriptor};
use crate::store::State;
use crate::{Error, ImageStore, Reference, Result};

/// Docker writes exactly these bytes.
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion": "1.0.0"}"#;
const COPY_BUFFER: usize = 1 << 20;

/// An entry of `manifest.json` (moby's `manifestItem`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestItem {
    config: String,
    /// `null` for an image saved by ID, as Docker writes it.
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

enum Source {
    Bytes(Vec<u8>),
    /// A blob copied as it is.
    Blob(Digest),
    /// A compressed blob written decompressed; its digest must come out as
    /// the diff ID.
    Decompress {
        blob: Digest,
        diff_id: Digest,
    },
}

struct BlobOut {
    size: u64,
    mtime: i64,
    source: Source,
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn to_json(v: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::internal(format!("save: encode json: {e}")))
}

impl ImageStore {
    /// `docker save`: writes the named images (tags, `name@digest`, IDs; a
    /// bare repository name means all its tags) to `out`. Every name is
    /// resolved before the first byte is written.
    pub fn save(&self, names: &[String], out: &mut dyn Write) -> Result<()> {
        let selected = {
            let st = self.lock();
            select(&st, names)?
        };
        let mut lease = self.lease_blobs(&[]);
        let mut blobs: BTreeMap<Digest, BlobOut> = BTreeMap::new();
        let mut index = Vec::new();
        let mut manifest_json = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (id, tags) in &selected {
            let (rec, created, meta) = {
                let st = self.lock();
                let rec = st
                    .db
                    .images
                    .get(id)
                    .cloned()
                    .ok_or_else(|| Error::not_found(format!("No such image: {id}")))?;
                let created = st.configs.get(id).and_then(|c| c.created);
                let meta: Vec<Option<u64>> = rec
                    .layers
                    .iter()
                    .map(|l| st.db.layer_meta.get(&l.diff_id).and_then(|m| m.tar_size))
                    .collect();
                (rec, created, meta)
            };
            let mtime = created.as_ref().map_or(0, DateTime::<Utc>::timestamp);
            lease.add(id);
            let config_size = self.content.size(id)?;
            blobs.entry(id.clone()).or_insert(BlobOut {
                size: config_size,
                mtime,
                source: Source::Blob(id.clone()),
            });
            let mut layers = Vec::with_capacity(rec.layers.len());
            for (l, tar_size) in rec.layers.iter().zip(meta) {
                lease.add(&l.blob);
                let out = if l.blob == l.diff_id {
                    BlobOut {
                        size: self.content.size(&l.blob)?,
                        mtime,
                        source: Source::Blob(l.blob.clone()),
                    }
                } else {
                    let size = match tar_size {
                        Some(s) => s,
                        None => self.measure_tar_size(&l.blob, &l.diff_id)?,
                    };
                    BlobOut {
                        size,
                        mtime,
                        source: Source::Decompress {
                            blob: l.blob.clone(),
                            diff_id: l.diff_id.clone(),
                        },
                    }
                };
                layers.push(descriptor(MEDIA_TYPE_LAYER_TAR, &l.diff_id, out.size));
                blobs.entry(l.diff_id.clone()).or_insert(out);
            }
            // The manifest of what the archive holds (uncompressed layers),
            // byte for byte what Docker writes for the same image.
            let manifest = to_json(&Manifest {
                schema_version: 2,
                media_type: Some(MEDIA_TYPE_MANIFEST.into()),
                config: descriptor(MEDIA_TYPE_CONFIG, id, config_size),
                layers,
                annotations: None,
            })?;
            let manifest_digest = Digest::of(&manifest);
            let manifest_size = manifest.len() as u64;
            blobs.entry(manifest_digest.clone()).or_insert(BlobOut {
                size: manifest_size,
                mtime: 0,
                source: Source::Bytes(manifest),
            });
            let entry = |annotations| IndexEntry {
                media_type: MEDIA_TYPE_MANIFEST.into(),
                digest: manifest_digest.clone(),
                size: manifest_size,
                annotations,
                platform: None,
            };
            if tags.is_empty() {
                index.push(entry(None));
            }
            for t in tags {
                let tag = t.tag().unwrap_or("latest").to_string();
                let mut a = BTreeMap::new();
                a.insert(ANNOTATION_IMAGE_NAME.to_string(), t.full());
                a.insert(ANNOTATION_REF_NAME.to_string(), tag.clone());
                index.push(entry(Some(a)));
                if let Some(top) = rec.layers.last() {
                    repositories
                        .entry(t.familiar_name())
                        .or_default()
                        .insert(tag, top.diff_id.hex().to_string());
                }
            }
            manifest_json.push(ManifestItem {
                config: blob_path(id),
                repo_tags: (!tags.is_empty()).then(|| tags.iter().map(|t| t.familiar()).collect()),
                layers: rec.layers.iter().map(|l| blob_path(&l.diff_id)).collect(),
            });
        }

        let index = to_json(&Index {
            schema_version: 2,
            media_type: Some(crate::oci::MEDIA_TYPE_INDEX.into()),
            manifests: index,
            annotations: None,
        })?;
        // Go's json.Encoder ends these two with a newline.
        let mut manifest_json = to_json(&manifest_json)?;
        manifest_json.push(b'\n');
        let mut repos = to_json(&repositories)?;
        repos.push(b'\n');

        let mut w = TarWriter { out };
        w.dir("blobs/")?;
        w.dir("blobs/sha256/")?;
        for (d, b) in &blobs {
            self.write_blob_entry(&mut w, d, b)?;
        }
        w.file("index.json", 0, &index)?;
        w.file("manifest.json", 0, &manifest_json)?;
        w.file("oci-layout", 0, OCI_LAYOUT)?;
        if !repositories.is_empty() {
            w.file("repositories", 0, &repos)?;
        }
        w.finish()?;
        drop(lease);
        Ok(())
    }

    fn write_blob_entry(&self, w: &mut TarWriter<'_>, d: &Digest, b: &BlobOut) -> Result<()> {
        let name = blob_path(d);
        match &b.source {
            Source::Bytes(bytes) => w.file(&name, b.mtime, bytes),
            Source::Blob(blob) => {
                let f = self.content.open_blob(blob)?;
                w.stream(&name, b.mtime, b.size, f, None)
            }
            Source::Decompress { blob, diff_id } => {
                let f = self.content.open_blob(blob)?;
                let (_, r) = decompress::sniff_reader(f)
                    .map_err(|e| Error::stream(&format!("save: read blob {blob}"), e))?;
                w.stream(&name, b.mtime, b.size, r, Some(diff_id))
            }
        }
    }

    /// Decompresses a layer blob once to learn its tar size (records from
    /// before sizes were kept), verifying the diff ID, and remembers it.
    fn measure_tar_size(&self, blob: &Digest, diff_id: &Digest) -> Result<u64> {
        let size = self.verify_blob(blob, diff_id)?;
        let mut st = self.lock();
        if st
            .db
            .images
            .values()
            .any(|r| r.layers.iter().any(|l| l.diff_id == *diff_id))
        {
            let mut db = st.db.clone();
            db.layer_meta.entry(diff_id.clone()).or_default().tar_size = Some(size);
            // Only a cache: failing to persist it costs a measurement.
            if self.persist(&db).is_ok() {
                st.db = db;
            }
        }
        Ok(size)
    }
}

/// Resolves save's names as moby's `parseNames` does: a tag saves that
/// tag, a bare repository name all its tags, an ID or `name@digest` the
/// image without tags. Returns (image, tags) in first-mention order.
fn select(st: &State, names: &[String]) -> Result<Vec<(Digest, Vec<Reference>)>> {
    let mut out: Vec<(Digest, Vec<Reference>)> = Vec::new();
    let mut add = |id: Digest, tag: Option<Reference>| {
        let i = match out.iter().position(|(d, _)| *d == id) {
            Some(i) => i,
            None => {
                out.push((id, Vec::new()));
                out.len() - 1
            }
        };
        if let Some(t) = tag
            && !out[i].1.contains(&t)
        {
            out[i].1.push(t);
        }
    };
    for name in names {
        let not_found = || Error::not_found(format!("No such image: {name}"));
        let by_id = name.parse::<Digest>().is_ok() || crate::reference::is_hex64(name);
        let named = if by_id {
            None
        } else {
            Some(Reference::parse_named(name)?)
        };
        match named {
            Some(r) if r.familiar_name() != "sha256" && r.digest().is_none() => {
                if r.tag().is_some() {
                    let id = st.db.refs.get(&r.full()).ok_or_else(not_found)?;
                    add(id.clone(), Some(r));
                    continue;
                }
                // A bare name: every tag of the repository.
                let repo = r.name();
                let tags: Vec<(Reference, Digest)> = st
                    .db
                    .refs
                    .iter()
                    .filter_map(|(k, id)| {
                        let t = Reference::parse_named(k).ok()?;
                        (t.digest().is_none() && t.name() == repo).then(|| (t, id.clone()))
                    })
                    .collect();
                if tags.is_empty() {
                    add(
                        ImageStore::resolve(st, name).map_err(|_| not_found())?,
                        None,
                    );
                }
                for (t, id) in tags {
                    add(id, Some(t));
                }
            }
            _ => add(
                ImageStore::resolve(st, name).map_err(|_| not_found())?,
                None,
            ),
        }
    }
    Ok(out)
}

/// Writes tar entries (ustar headers, as Go's writer does for names this
/// short) straight to the output, with a large copy buffer.
struct TarWriter<'a> {
    out: &'a mut dyn Write,
}

impl TarWriter<'_> {
    fn header(&mut self, name: &str, kind: tar::EntryType, mtime: i64, size: u64) -> Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_path(name)
            .map_err(|e| Error::internal(format!("save: tar name {name}: {e}")))?;
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(mtime.max(0) as u64);
        h.set_size(size);
        h.set_cksum();
        self.write(h.as_bytes())
    }

    fn write(&mut self, b: &[u8]) -> Result<()> {
        self.out
            .write_all(b)
            .map_err(|e| Error::stream("save: write archive", e))
    }

    fn pad(&mut self, size: u64) -> Result<()> {
        let rem = (size % 512) as usize;
        if rem != 0 {
            self.write(&[0u8; 512][..512 - rem])?;
        }
        Ok(())
    }

    fn dir(&mut self, name: &str) -> Result<()> {
        self.header(name, tar::EntryType::Directory, 0, 0)
    }

    fn file(&mut self, name: &str, mtime: i64, data: &[u8]) -> Result<()> {
        self.header(name, tar::EntryType::Regular, mtime, data.len() as u64)?;
        self.write(data)?;
        self.pad(data.len() as u64)
    }

    /// Copies exactly `size` bytes of `r` into an entry; with `digest`,
    /// also checks the bytes hash to it. A source that turns out shorter,
    /// longer or different fails the save (the archive is cut short, so
    /// the reader sees an error rather than a wrong layer).
    fn stream(
        &mut self,
        name: &str,
        mtime: i64,
        size: u64,
        mut r: impl Read,
        digest: Option<&Digest>,
    ) -> Result<()> {
        self.header(name, tar::EntryType::Regular, mtime, size)?;
        let mut hasher = digest.map(|_| Sha256::new());
        let mut buf = vec![0u8; COPY_BUFFER];
        let mut left = size;
        let read_err = |e: io::Error| Error::stream(&format!("save: read {name}"), e);
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = match r.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(Error::internal(format!(
                        "save: {name} ended {left} bytes short of its recorded size"
                    )));
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_err(e)),
            };
            if let Some(h) = hasher.as_mut() {
                h.update(&buf[..n]);
            }
            self.write(&buf[..n])?;
            left -= n as u64;
        }
        loop {
            match r.read(&mut buf[..1]) {
                Ok(0) => break,
                Ok(_) => {
                    return Err(Error::internal(format!(
                        "save: {name} is longer than its recorded size {size}"
                    )));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_err(e)),
            }
        }
        if let (Some(h), Some(want)) = (hasher, digest) {
            let got = Digest::from_sha256(h.finalize().as_slice());
            if got != *want {
                return Err(Error::internal(format!(
                    "save: {name} decompressed to {got}, not {want}"
                )));
            }
        }
        self.pad(size)
    }

    fn finish(&mut self) -> Result<()> {
        self.write(&[0u8; 1024])?;
        self.out
            .flush()
            .map_err(|e| Error::stream("save: write archive", e))
    }
}
