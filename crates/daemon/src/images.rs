//! The image API on top of the image store: import, list, inspect, tag,
//! remove (with the in-use check against containers).

use std::collections::BTreeMap;
use std::io;

use berth_api_types::filters::Filters;
use berth_api_types::image::{
    DeleteResponseItem, ImageConfig, InspectResponse, Metadata, RootFs, Summary,
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
        Ok(image.id.to_string())
    }

    pub fn image_list(
        &self,
        _all: bool,
        _digests: bool,
        filters: &Filters,
    ) -> Result<Vec<Summary>> {
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
        let mut images = self.images.list();
        images.sort_by_key(|i| std::cmp::Reverse(i.created));
        let mut out = Vec::new();
        for img in images {
            if filters.contains("dangling") && img.repo_tags.is_empty() != dangling {
                continue;
            }
            let labels = img.config.config.labels.clone().unwrap_or_default();
            if filters.contains("label") && !filters.match_kv_list("label", &labels) {
                continue;
            }
            if before.as_ref().is_some_and(|b| img.created >= b.created)
                || since.as_ref().is_some_and(|s| img.created <= s.created)
            {
                continue;
            }
            let mut tags = img.repo_tags.clone();
            if filters.contains("reference") {
                tags.retain(|t| {
                    filters
                        .get("reference")
                        .iter()
                        .any(|pat| reference_matches(pat, t))
                });
                if tags.is_empty() {
                    continue;
                }
            }
            out.push(Summary {
                id: img.id.to_string(),
                parent_id: String::new(),
                repo_tags: tags,
                repo_digests: img.repo_digests.clone(),
                created: img.created.timestamp(),
                size: img.size as i64,
                shared_size: -1,
                virtual_size: Some(img.size as i64),
                labels: Some(labels),
                containers: -1,
                ..Default::default()
            });
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

/// `reference=` filter: a glob over the familiar name, with or without tag.
fn reference_matches(pattern: &str, tag: &str) -> bool {
    let name = tag.rsplit_once(':').map(|(n, _)| n).unwrap_or(tag);
    glob(pattern, tag) || glob(pattern, name)
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
        comment: img.config.comment.clone().unwrap_or_default(),
        created: berth_api_types::time::format_rfc3339_nano(img.created),
        author: img.config.author.clone().unwrap_or_default(),
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
    }
}
