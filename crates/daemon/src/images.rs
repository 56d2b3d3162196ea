//! The image API on top of the image store: import, list, inspect, tag,
//! remove (with the in-use check against containers).

use std::collections::BTreeMap;
use std::io;

use berth_api_types::filters::Filters;
use berth_api_types::image::{
    DeleteResponseItem, HistoryResponseItem, ImageConfig, InspectResponse, Metadata, PruneReport,
    RootFs, Summary,
};
use berth_image::{DeleteItem, Image, InUse, Reference};
use bytes::Bytes;
use futures_util::Stream;

use crate::Daemon;
use crate::container::Status;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub changes: Vec<String>,
    pub message: String,
    pub platform: Option<String>,
}

fn reference(repo: &str, tag: Option<&str>) -> Result<Reference> {
    Ok(match tag {
        Some(t) => Reference::parse_named(repo)?.with_tag(t)?,
        None => Reference::parse(repo)?,
    })
}

impl Daemon {
    /// `docker import`: the body is streamed into the store on a blocking
    /// thread; nothing is held in memory whole.
    pub async fn image_import<S>(&self, opts: ImportOptions, body: S) -> Result<String>
    where
        S: Stream<Item = io::Result<Bytes>> + Send + Unpin + 'static,
    {
        let reference = match opts.repo.as_deref() {
            Some(r) => Some(reference(r, opts.tag.as_deref())?),
            None => None,
        };
        let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(body));
        let images = self.images.clone();
        let iopts = berth_image::ImportOptions {
            reference,
            changes: opts.changes,
            message: opts.message,
            platform: opts.platform,
        };
        let image = tokio::task::spawn_blocking(move || images.import(Box::new(reader), iopts))
            .await
            .map_err(|e| Error::internal(e.to_string()))??;
        let id = image.id.to_string();
        self.image_event("import", &id, &id, image.config.config.labels.as_ref());
        Ok(id)
    }

    pub fn image_list(&self, all: bool, _digests: bool, filters: &Filters) -> Result<Vec<Summary>> {
        filters
            .validate(&[
                "dangling",
                "label",
                "label!",
                "before",
                "since",
                "reference",
                "until",
            ])
            .map_err(|e| Error::invalid(e.to_string()))?;
        let dangling = filters
            .get_bool_or_default("dangling", false)
            .map_err(|e| Error::invalid(e.to_string()))?;
        let before = filters
            .get("before")
            .first()
            .map(|r| self.images.get(r))
            .transpose()?;
        let since = filters
            .get("since")
            .first()
            .map(|r| self.images.get(r))
            .transpose()?;
        let until = until_filter(filters)?;
        let mut images = self.images.list();
        images.sort_by_key(|i| std::cmp::Reverse(i.created));
        let parents: std::collections::HashSet<String> = images
            .iter()
            .filter_map(|i| i.parent.as_ref().map(|p| p.to_string()))
            .collect();
        let mut out = Vec::new();
        for img in images {
            let untagged = img.repo_tags.is_empty() && img.repo_digests.is_empty();
            if filters.contains("dangling") && untagged != dangling {
                continue;
            }
            // An untagged image others were committed on is an intermediate
            // one: listed only with `-a` (moby's Images()).
            if untagged && !all && parents.contains(&img.id.to_string()) {
                continue;
            }
            let labels = img.config.config.labels.clone().unwrap_or_default();
            if (filters.contains("label") && !filters.match_kv_list("label", &labels))
                || (filters.contains("label!") && filters.match_kv_list("label!", &labels))
            {
                continue;
            }
            if until.is_some_and(|u| img.created >= u) {
                continue;
            }
            if before.as_ref().is_some_and(|b| img.created >= b.created)
                || since.as_ref().is_some_and(|s| img.created <= s.created)
            {
                continue;
            }
            let mut tags = img.repo_tags.clone();
            let mut digests = img.repo_digests.clone();
            // moby's Images(): each tag and digest reference is kept only
            // if a pattern matches it; an image with none left is skipped.
            if filters.contains("reference") {
                let patterns = filters.get("reference");
                let keep = |r: &String| patterns.iter().any(|pat| reference_matches(pat, r));
                tags.retain(keep);
                digests.retain(keep);
                if tags.is_empty() && digests.is_empty() {
                    continue;
                }
            }
            let mut s = summary(&img);
            s.repo_tags = tags;
            s.repo_digests = digests;
            out.push(s);
        }
        Ok(out)
    }

    pub fn image_inspect(&self, name: &str) -> Result<InspectResponse> {
        let img = self.images.get(name)?;
        Ok(inspect_view(&img, self.storage_driver))
    }

    pub fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let r = reference(repo, tag)?;
        self.images.tag(name, &r)?;
        if let Ok(img) = self.images.get(&r.familiar()) {
            self.image_event(
                "tag",
                &img.id.to_string(),
                &r.familiar(),
                img.config.config.labels.as_ref(),
            );
        }
        Ok(())
    }

    pub async fn image_remove(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> Result<Vec<DeleteResponseItem>> {
        let users: Vec<(String, String, bool)> = self
            .containers
            .read()
            .unwrap()
            .all()
            .iter()
            .map(|c| {
                let g = c.lock();
                (
                    g.rec.image_id.clone(),
                    c.id.clone(),
                    g.rec.state.status.is_live() || g.rec.state.status == Status::Removing,
                )
            })
            .collect();
        let images = self.images.clone();
        let target = self.images.get(name).ok();
        let name = name.to_string();
        let items = tokio::task::spawn_blocking(move || {
            let in_use = |id: &berth_content::Digest| -> Option<InUse> {
                let id = id.to_string();
                // A running user makes the conflict unforceable, so report it first.
                let mut hits: Vec<&(String, String, bool)> =
                    users.iter().filter(|u| u.0 == id).collect();
                hits.sort_by_key(|u| !u.2);
                hits.first().map(|u| InUse {
                    container_id: u.1.clone(),
                    running: u.2,
                })
            };
            images.delete(&name, force, noprune, &in_use)
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
        // dockerd's events name the image by its id for both.
        let id = target.map(|t| t.id.to_string()).unwrap_or_default();
        for item in &items {
            match item {
                DeleteItem::Untagged(_) => self.image_event("untag", &id, &id, None),
                DeleteItem::Deleted(d) => self.image_event("delete", d, d, None),
            }
        }
        Ok(items
            .into_iter()
            .map(|i| match i {
                DeleteItem::Untagged(s) => DeleteResponseItem {
                    untagged: s,
                    ..Default::default()
                },
                DeleteItem::Deleted(s) => DeleteResponseItem {
                    deleted: s,
                    ..Default::default()
                },
            })
            .collect())
    }
}

impl Daemon {
    /// `docker history`, as moby's ImageHistory: one entry per history
    /// item, newest first; a non-empty entry is sized by its layer; IDs
    /// are filled from the top down the Parent chain, one per entry,
    /// `<missing>` after it ends.
    pub fn image_history(&self, name: &str) -> Result<Vec<HistoryResponseItem>> {
        let img = self.images.get(name)?;
        let layers = self.images.layers(&img.id.to_string())?;
        let mut items = Vec::new();
        let mut next_layer = 0;
        for h in &img.config.history {
            let mut size = 0;
            if !h.empty_layer {
                let Some(l) = layers.get(next_layer) else {
                    return Err(Error::internal(
                        "too many non-empty layers in History section",
                    ));
                };
                size = l.size as i64;
                next_layer += 1;
            }
            items.push(HistoryResponseItem {
                id: "<missing>".into(),
                created: h.created.map(|c| c.timestamp()).unwrap_or(0),
                created_by: h.created_by.clone().unwrap_or_default(),
                tags: None,
                size,
                comment: h.comment.clone().unwrap_or_default(),
            });
        }
        items.reverse();
        let mut cur = Some(img);
        for item in &mut items {
            let Some(im) = cur.take() else { break };
            item.id = im.id.to_string();
            if !im.repo_tags.is_empty() {
                item.tags = Some(im.repo_tags.clone());
            }
            cur = im
                .parent
                .as_ref()
                .and_then(|p| self.images.get(&p.to_string()).ok());
        }
        Ok(items)
    }

    /// Image IDs used by containers, with how many use each.
    fn image_users(&self) -> BTreeMap<String, i64> {
        let mut m = BTreeMap::new();
        for c in self.containers.read().unwrap().all() {
            *m.entry(c.lock().rec.image_id.clone()).or_insert(0) += 1;
        }
        m
    }

    /// `docker image prune`: dangling images (all unused ones with
    /// `dangling=false`) that no container uses, filtered by `until` and
    /// labels, removed as `docker rmi` would without force.
    pub async fn image_prune(&self, filters: &Filters) -> Result<PruneReport> {
        filters
            .validate(&["dangling", "until", "label", "label!"])
            .map_err(|e| Error::invalid(e.to_string()))?;
        let dangling_only = filters
            .get_bool_or_default("dangling", true)
            .map_err(|e| Error::invalid(e.to_string()))?;
        let until = until_filter(filters)?;
        let users = self.image_users();
        let all = self.images.list();
        // Chain ID -> layer size, taken before anything is removed.
        let mut layer_sizes: BTreeMap<String, u64> = BTreeMap::new();
        for img in &all {
            for l in self.images.layers(&img.id.to_string()).unwrap_or_default() {
                layer_sizes.insert(l.chain_id.to_string(), l.size);
            }
        }
        let parents: std::collections::HashSet<String> = all
            .iter()
            .filter_map(|i| i.parent.as_ref().map(|p| p.to_string()))
            .collect();
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for img in all {
            let id = img.id.to_string();
            if dangling_only && !img.repo_tags.is_empty() {
                continue;
            }
            // An image others are built on goes with its children, as
            // Docker's prune only takes leaves.
            if users.contains_key(&id) || parents.contains(&id) {
                continue;
            }
            if until.is_some_and(|u| img.created >= u) {
                continue;
            }
            let labels = img.config.config.labels.clone().unwrap_or_default();
            if (filters.contains("label") && !filters.match_kv_list("label", &labels))
                || (filters.contains("label!") && filters.match_kv_list("label!", &labels))
            {
                continue;
            }
            // Tags go first (the image is unused); then the ID.
            let force = !img.repo_tags.is_empty() || !img.repo_digests.is_empty();
            match self.image_remove(&id, force, false).await {
                Ok(items) => {
                    for it in &items {
                        if let Some(sz) = layer_sizes.get(&it.deleted) {
                            reclaimed += sz;
                        }
                    }
                    deleted.extend(items);
                }
                Err(e) if e.kind == crate::error::ErrorKind::Conflict => continue,
                Err(e) if e.kind == crate::error::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        let mut attrs = BTreeMap::new();
        attrs.insert("reclaimed".to_string(), reclaimed.to_string());
        self.emit_event(
            berth_api_types::events::EventType::IMAGE,
            "prune",
            "",
            attrs,
        );
        Ok(PruneReport {
            images_deleted: if deleted.is_empty() {
                None
            } else {
                Some(deleted)
            },
            space_reclaimed: reclaimed,
        })
    }

    /// The image half of `docker system df`: image summaries with their
    /// shared size and container counts, and the size of all layers
    /// counted once.
    pub fn image_usage(&self) -> Result<(Vec<Summary>, i64)> {
        let users = self.image_users();
        let all = self.images.list();
        let mut per_chain: BTreeMap<String, (u64, i64)> = BTreeMap::new();
        let mut layers_of = Vec::new();
        for img in &all {
            let layers = self.images.layers(&img.id.to_string())?;
            for l in &layers {
                per_chain
                    .entry(l.chain_id.to_string())
                    .or_insert((l.size, 0))
                    .1 += 1;
            }
            layers_of.push(layers);
        }
        let layers_size: u64 = per_chain.values().map(|(s, _)| s).sum();
        let mut out = Vec::new();
        for (img, layers) in all.iter().zip(layers_of) {
            let shared: u64 = layers
                .iter()
                .filter(|l| per_chain[&l.chain_id.to_string()].1 > 1)
                .map(|l| l.size)
                .sum();
            let mut s = summary(img);
            s.shared_size = shared as i64;
            s.containers = users.get(&img.id.to_string()).copied().unwrap_or(0);
            out.push(s);
        }
        Ok((out, layers_size as i64))
    }
}

/// The `until` filter of image list and prune: one timestamp at most.
pub(crate) fn until_filter(filters: &Filters) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    match filters.get("until").as_slice() {
        [] => Ok(None),
        [u] => berth_api_types::time::parse_timestamp(u, chrono::Utc::now())
            .map(Some)
            .map_err(|e| Error::invalid(e.to_string())),
        _ => Err(Error::invalid("more than one until filter specified")),
    }
}

fn summary(img: &Image) -> Summary {
    let labels = img.config.config.labels.clone().unwrap_or_default();
    Summary {
        id: img.id.to_string(),
        parent_id: img
            .parent
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        repo_tags: img.repo_tags.clone(),
        repo_digests: img.repo_digests.clone(),
        created: img.created.timestamp(),
        size: img.size as i64,
        shared_size: -1,
        virtual_size: Some(img.size as i64),
        labels: Some(labels),
        containers: -1,
        ..Default::default()
    }
}

/// `reference=` filter (distribution's FamiliarMatch): a glob over the
/// familiar reference, or over its name alone (without tag or digest).
fn reference_matches(pattern: &str, reference: &str) -> bool {
    let name = match reference.split_once('@') {
        Some((n, _)) => n,
        None => match reference.rsplit_once(':') {
            // A registry port is not a tag.
            Some((n, t)) if !t.contains('/') => n,
            _ => reference,
        },
    };
    glob(pattern, reference) || glob(pattern, name)
}

fn glob(pat: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], s) || (!s.is_empty() && s[0] != b'/' && go(p, &s[1..])),
            (Some(b'?'), Some(c)) if *c != b'/' => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(pat.as_bytes(), s.as_bytes())
}

fn inspect_view(img: &Image, driver: &str) -> InspectResponse {
    let c = &img.config.config;
    let config = ImageConfig {
        user: c.user.clone().unwrap_or_default(),
        exposed_ports: c
            .exposed_ports
            .as_ref()
            .map(|p| p.keys().map(|k| (k.clone(), Default::default())).collect())
            .unwrap_or_default(),
        env: c.env.clone().unwrap_or_default(),
        entrypoint: c.entrypoint.clone().unwrap_or_default(),
        cmd: c.cmd.clone().unwrap_or_default(),
        volumes: c
            .volumes
            .as_ref()
            .map(|v| v.keys().map(|k| (k.clone(), Default::default())).collect())
            .unwrap_or_default(),
        working_dir: c.working_dir.clone().unwrap_or_default(),
        labels: c.labels.clone().unwrap_or_default(),
        stop_signal: c.stop_signal.clone().unwrap_or_default(),
        on_build: c.on_build.clone().unwrap_or_default(),
        shell: c.shell.clone().unwrap_or_default(),
        ..Default::default()
    };
    InspectResponse {
        id: img.id.to_string(),
        repo_tags: img.repo_tags.clone(),
        repo_digests: img.repo_digests.clone(),
        // moby's image_inspect: a committed image has no top-level
        // comment; the last history entry's stands in.
        comment: img
            .config
            .comment
            .clone()
            .or_else(|| img.config.history.last().and_then(|h| h.comment.clone()))
            .unwrap_or_default(),
        created: berth_api_types::time::format_rfc3339_nano(img.created),
        author: img.config.author.clone().unwrap_or_default(),
        parent: img
            .parent
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        config,
        architecture: img.config.architecture.clone(),
        os: img.config.os.clone(),
        size: img.size as i64,
        virtual_size: Some(img.size as i64),
        graph_driver: Some(berth_api_types::storage::DriverData {
            data: Some(BTreeMap::new()),
            name: driver.to_string(),
        }),
        root_fs: RootFs {
            typ: "layers".into(),
            layers: img
                .config
                .rootfs
                .diff_ids
                .iter()
                .map(|d| d.to_string())
                .collect(),
        },
        metadata: Metadata {
            last_tag_time: img
                .last_tag_time
                .unwrap_or_else(berth_api_types::time::zero_time),
        },
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        assert!(glob("busy*", "busybox"));
        assert!(glob("busybox:*", "busybox:latest"));
        assert!(!glob("busy*", "library/busybox"));
        assert!(glob("b?sybox", "busybox"));
        assert!(super::reference_matches(
            "127.0.0.1:5000/x",
            "127.0.0.1:5000/x@sha256:abc"
        ));
        assert!(super::reference_matches(
            "127.0.0.1:5000/x",
            "127.0.0.1:5000/x:1"
        ));
        assert!(!super::reference_matches(
            "127.0.0.1:5000/x",
            "127.0.0.1:5000/y:1"
        ));
    }
}
