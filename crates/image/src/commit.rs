//! `docker commit`: a container's changes become one new layer on top of
//! its image.
//!
//! The semantics are moby's (`daemon/commit.go` `CreateImageFromContainer`,
//! `daemon/images/image_commit.go` and `daemon/internal/image/image.go`
//! `NewChildImage` for the graph-driver store,
//! `daemon/containerd/image_commit.go` for the containerd one):
//!
//! - the runtime config starts from the container's `Config`, gets the
//!   `--change` instructions (`dockerfile.BuildFromConfig`), and is then
//!   `merge`d with the container's config again (fields left empty are
//!   taken back);
//! - the layer is the container's diff. When it has no entries at all
//!   (`layer.IsEmpty(diffID)` / containerd's `archive.IsEmpty`), no layer
//!   is added: `rootfs.diff_ids` stays the parent's and the history entry
//!   says `empty_layer`;
//! - the new config keeps only the parent's platform (architecture,
//!   variant, OS, OS version), `rootfs` and `history`; it gets `created`,
//!   `author` and a history entry `{created, created_by, author, comment}`.
//!   The message goes into the history only, not the top-level `comment`
//!   (`NewChildImage` leaves `V1Image.Comment` empty; `docker inspect`
//!   shows the last history comment then, as moby's `image_inspect.go`
//!   does). The legacy `container` / `container_config` fields are not
//!   written (the containerd store does not write them either);
//! - the image records its parent (`imageStore.SetParent`), so the parent
//!   cannot be deleted while the child exists.
//!
//! The layer is stored uncompressed (its digest is its diff ID, like an
//! import's) and applied onto a snapshot on the parent's top layer in the
//! same pass (`unpack` tees the stream into the content store while
//! `apply_layer` reads it).

use std::collections::BTreeMap;
use std::io::{self, Cursor, Read};
use std::path::Path;

use berth_content::Digest;
use chrono::Utc;

use crate::config::{Empty, History, ImageConfig, MEDIA_TYPE_LAYER_TAR, RootFs, RuntimeConfig};
use crate::store::{LayerRec, Rec, check_tag_name, host_arch};
use crate::{Error, Image, ImageStore, Reference, Result, apply_changes, chain_ids};

/// Options of `docker commit` (`POST /commit`).
#[derive(Clone, Debug, Default)]
pub struct CommitOptions {
    /// `repo[:tag]` to give the new image (`:latest` when untagged); a
    /// digest reference is refused.
    pub reference: Option<Reference>,
    /// Commit message (`-m`): the new history entry's comment.
    pub comment: String,
    /// `-a`: the config's and the history entry's author.
    pub author: String,
    /// Dockerfile-style `--change` instructions.
    pub changes: Vec<String>,
    /// The container's `Config` (what it was created with): the changes
    /// apply to it, and it fills what they leave empty.
    pub container_config: RuntimeConfig,
    /// The history entry's `created_by`. moby writes the container's `Cmd`
    /// joined with spaces; when this is empty, that is what is written.
    pub created_by: String,
}

/// The new image's runtime config: the container's config with the changes
/// applied (`BuildFromConfig`), then moby's `merge` with the container's
/// config.
pub(crate) fn commit_config(
    container: &RuntimeConfig,
    changes: &[String],
) -> Result<RuntimeConfig> {
    let mut c = container.clone();
    apply_changes(&mut c, changes)?;
    merge(&mut c, container);
    Ok(c)
}

fn is_blank(s: &Option<String>) -> bool {
    s.as_deref().is_none_or(str::is_empty)
}

fn is_empty_vec<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_none_or(Vec::is_empty)
}

fn is_empty_map<K, V>(m: &Option<BTreeMap<K, V>>) -> bool {
    m.as_ref().is_none_or(BTreeMap::is_empty)
}

/// moby `daemon/commit.go` `merge(userConf, imageConf)`: fills what `user`
/// (the config after the changes) leaves empty from `image` (the
/// container's config), field by field.
pub(crate) fn merge(user: &mut RuntimeConfig, image: &RuntimeConfig) {
    if is_blank(&user.user) {
        user.user = image.user.clone();
    }
    if is_empty_map(&user.exposed_ports) {
        user.exposed_ports = image.exposed_ports.clone();
    } else if let (Some(u), Some(i)) = (user.exposed_ports.as_mut(), &image.exposed_ports) {
        for port in i.keys() {
            u.entry(port.clone()).or_insert(Empty {});
        }
    }
    if is_empty_vec(&user.env) {
        user.env = image.env.clone();
    } else if let (Some(u), Some(i)) = (user.env.as_mut(), &image.env) {
        let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
        for e in i {
            let k = key(e);
            if !u.iter().any(|x| key(x) == k) {
                u.push(e.clone());
            }
        }
    }
    // moby makes Labels non-nil here; an empty map is not written (the
    // containerd store's OCI config omits it), so only add what exists.
    if let Some(i) = &image.labels {
        let u = user.labels.get_or_insert_with(BTreeMap::new);
        for (k, v) in i {
            u.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if is_empty_vec(&user.entrypoint) {
        if is_empty_vec(&user.cmd) {
            user.cmd = image.cmd.clone();
        }
        if user.entrypoint.is_none() {
            user.entrypoint = image.entrypoint.clone();
        }
    }
    if let Some(ih) = &image.healthcheck {
        match &mut user.healthcheck {
            None => user.healthcheck = Some(ih.clone()),
            Some(uh) => {
                if let (Some(u), Some(i)) = (uh.as_object_mut(), ih.as_object()) {
                    for key in [
                        "Test",
                        "Interval",
                        "Timeout",
                        "StartPeriod",
                        "StartInterval",
                        "Retries",
                    ] {
                        let unset = match u.get(key) {
                            None | Some(serde_json::Value::Null) => true,
                            Some(serde_json::Value::Array(a)) => a.is_empty(),
                            Some(serde_json::Value::Number(n)) => n.as_f64() == Some(0.0),
                            _ => false,
                        };
                        if unset && let Some(v) = i.get(key) {
                            u.insert(key.to_string(), v.clone());
                        }
                    }
                }
            }
        }
    }
    if is_blank(&user.working_dir) {
        user.working_dir = image.working_dir.clone();
    }
    if is_empty_map(&user.volumes) {
        user.volumes = image.volumes.clone();
    } else if let (Some(u), Some(i)) = (user.volumes.as_mut(), &image.volumes) {
        for v in i.keys() {
            u.entry(v.clone()).or_insert(Empty {});
        }
    }
    if is_blank(&user.stop_signal) {
        user.stop_signal = image.stop_signal.clone();
    }
}

/// Reads the start of a layer stream: whether it is a tar without entries
/// (Go's `tar.Reader.Next` says EOF: nothing, or zero blocks up to the end
/// marker), and the bytes read.
fn peek_empty(r: &mut impl Read) -> io::Result<(bool, Vec<u8>)> {
    let mut head = vec![0u8; 1024];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(n);
    Ok((head.iter().all(|b| *b == 0), head))
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

impl ImageStore {
    /// `docker commit`: a new image = the parent image (by ID; None for a
    /// container from `scratch`) + one layer read from `layer`, an
    /// uncompressed tar stream (`berth_archive::write_layer` on a blocking
    /// thread, through a pipe). The layer is stored as an uncompressed blob
    /// (digest = diff ID) and unpacked onto a snapshot on the parent's top
    /// layer in one pass. A layer without entries adds no layer, only a
    /// history entry marked `empty_layer`, as Docker does. Blocking.
    pub fn commit(
        &self,
        parent: Option<&Digest>,
        mut layer: impl Read,
        opts: CommitOptions,
    ) -> Result<Image> {
        // Everything that can be refused is, before the layer is read.
        if let Some(rf) = &opts.reference {
            if rf.digest().is_some() {
                // moby's `RepoTagReference` has this message for commit too.
                return Err(Error::invalid("cannot import digest reference"));
            }
            check_tag_name(rf)?;
        }
        let runtime = commit_config(&opts.container_config, &opts.changes)?;
        let lookup = |st: &crate::store::State, id: &Digest| -> Result<(Rec, ImageConfig)> {
            match (st.db.images.get(id), st.configs.get(id)) {
                (Some(rec), Some(cfg)) => Ok((rec.clone(), cfg.clone())),
                _ => Err(Error::not_found(format!("No such image: {id}"))),
            }
        };
        let parent_state = match parent {
            Some(id) => Some(lookup(&self.lock(), id)?),
            None => None,
        };
        let parent_top = parent_state
            .as_ref()
            .and_then(|(_, cfg)| chain_ids(&cfg.rootfs.diff_ids).last().cloned());
        // Keep the parent's top layer from garbage collection while the new
        // layer is built on it; the parent must still be there once held.
        let _parent_hold = parent_top.as_ref().map(|c| self.hold_layer(c));
        if let (Some(id), Some((_, cfg))) = (parent, &parent_state)
            && lookup(&self.lock(), id)?.1.rootfs != cfg.rootfs
        {
            return Err(Error::conflict(format!(
                "image {id} changed while committing on it"
            )));
        }

        let read_err = |e| Error::io("commit: read", Path::new("container layer stream"), e);
        let (empty, head) = peek_empty(&mut layer).map_err(read_err)?;
        let unpacked = if empty {
            // Whatever follows the end marker is not part of the archive;
            // read it so the writer is not left blocked.
            io::copy(&mut layer, &mut io::sink()).map_err(read_err)?;
            None
        } else {
            Some(self.unpack(
                parent_top.as_ref(),
                Cursor::new(head).chain(layer),
                None,
                true,
            )?)
        };

        let (parent_rec, parent_cfg) = parent_state.unwrap_or_else(|| {
            (
                Rec {
                    manifest: None,
                    parent: None,
                    layers: Vec::new(),
                    size: 0,
                    recorded: Utc::now(),
                    last_tag_time: None,
                },
                ImageConfig::default(),
            )
        });
        let created = Utc::now();
        let author = non_empty(&opts.author);
        let created_by = if opts.created_by.is_empty() {
            opts.container_config
                .cmd
                .as_deref()
                .unwrap_or_default()
                .join(" ")
        } else {
            opts.created_by.clone()
        };
        let mut diff_ids = parent_cfg.rootfs.diff_ids.clone();
        let mut layers = parent_rec.layers.clone();
        if let Some(l) = &unpacked {
            diff_ids.push(l.diff_id.clone());
            layers.push(LayerRec {
                blob: l.diff_id.clone(),
                media_type: MEDIA_TYPE_LAYER_TAR.into(),
                blob_size: l.tar_size,
                diff_id: l.diff_id.clone(),
                size: l.size,
            });
        }
        let mut history = parent_cfg.history.clone();
        history.push(History {
            created: Some(created),
            created_by: non_empty(&created_by),
            author: author.clone(),
            comment: non_empty(&opts.comment),
            empty_layer: unpacked.is_none(),
        });
        // The parent's platform; the host's for an image from scratch (or
        // a parent that lacks one), as `BaseImgArch` falls back to GOARCH.
        let config = ImageConfig {
            created: Some(created),
            author,
            architecture: if parent_cfg.architecture.is_empty() {
                host_arch().into()
            } else {
                parent_cfg.architecture.clone()
            },
            variant: parent_cfg.variant.clone(),
            os: if parent_cfg.os.is_empty() {
                "linux".into()
            } else {
                parent_cfg.os.clone()
            },
            os_version: parent_cfg.os_version.clone(),
            config: runtime,
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids,
            },
            history,
            ..Default::default()
        };
        let (id, manifest_digest) = self.write_config_and_manifest(&config, &layers)?;

        let size = parent_rec.size + unpacked.as_ref().map_or(0, |l| l.size);
        let mut rec = Rec {
            manifest: Some(manifest_digest),
            parent: None,
            layers,
            size,
            recorded: created,
            last_tag_time: None,
        };
        let mut st = self.lock();
        let mut db = st.db.clone();
        // The parent's layer was held, not the parent: deleted meanwhile
        // (`rmi -f`), its blobs are gone, and Docker's commit would not have
        // found it either. The new layer snapshot is collected later.
        if let Some(p) = parent
            && !db.images.contains_key(p)
        {
            return Err(Error::not_found(format!("No such image: {p}")));
        }
        rec.parent = parent.cloned();
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
        // Only now may the layers be collected with the image.
        drop(unpacked);
        Ok(img)
    }
}

#[cfg(test)]
#[path = "commit_tests.rs"]
mod tests;
