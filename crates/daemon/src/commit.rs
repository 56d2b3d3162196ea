//! `docker commit`: the container's changes become one layer on its image.
//!
//! The layer is exactly what `docker diff` reports (the same change list,
//! the same exclusions), written as a tar by `berth_archive::write_layer`
//! from the writable directory and streamed through a pipe into the image
//! store, which stores and unpacks it in one pass. So a container of the
//! committed image sees those changes, and its own diff starts empty.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::sync::Arc;

use berth_api_types::container::Config;
use berth_image::{CommitOptions as StoreCommitOptions, Reference, RuntimeConfig};

use crate::Daemon;
use crate::container::Status;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub container: String,
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub comment: String,
    pub author: String,
    pub pause: bool,
    pub changes: Vec<String>,
    pub config: Option<Config>,
}

impl Daemon {
    /// Returns the new image's ID.
    pub async fn image_commit(self: &Arc<Self>, opts: CommitOptions) -> Result<String> {
        let c = self.lookup(&opts.container)?;
        let reference = match opts.repo.as_deref() {
            Some(repo) => Some(match opts.tag.as_deref() {
                Some(t) => Reference::parse_named(repo)?.with_tag(t)?,
                None => Reference::parse_named(repo)?,
            }),
            None => None,
        };
        // Nothing may start, stop or remove the container's filesystem
        // under the walk.
        let _fs = c.fs_lock.clone().read_owned().await;
        let (rec, status) = {
            let g = c.lock();
            (g.rec.clone(), g.rec.state.status)
        };
        if status == Status::Removing || status == Status::Dead {
            return Err(Error::conflict(format!(
                "You cannot commit container {} which is being removed",
                c.id
            )));
        }
        let mut paused_here = opts.pause && status == Status::Running;
        if paused_here && let Err(e) = self.container_pause(&c.id).await {
            // It exited between the look and the pause (runc: "container
            // not running"): once its exit is recorded nothing can change
            // its files, so commit it as it is.
            if !self
                .wait_exit_recorded(&c, std::time::Duration::from_secs(5))
                .await
            {
                return Err(e);
            }
            paused_here = false;
        }
        let image_ref = reference.as_ref().map(|r| r.familiar()).unwrap_or_default();
        let comment = opts.comment.clone();
        let result = self.commit_paused(&c, &rec, reference, opts).await;
        if let Ok(id) = &result {
            self.container_event(
                &c,
                "commit",
                &[
                    ("comment", comment),
                    ("imageID", id.clone()),
                    ("imageRef", image_ref.clone()),
                ],
            );
            if !image_ref.is_empty() {
                self.image_event("tag", id, &image_ref, None);
            }
        }
        if paused_here && let Err(e) = self.container_unpause(&c.id).await {
            tracing::warn!(container = %c.id, error = %e, "could not unpause after commit");
        }
        result
    }

    async fn commit_paused(
        &self,
        c: &Arc<crate::container::Container>,
        rec: &crate::container::Record,
        reference: Option<Reference>,
        opts: CommitOptions,
    ) -> Result<String> {
        // moby's CreateImageFromContainer: the request's config (or the
        // container's) with the changes applied, then what it left unset
        // taken from the container's config.
        let base = opts.config.clone().unwrap_or_else(|| rec.config.clone());
        let mut runtime = runtime_config(&base);
        merge_unset(&mut runtime, &runtime_config(&rec.config));
        let created_by = rec.config.cmd.clone().unwrap_or_default().join(" ");
        let parent = if rec.image_id.is_empty() {
            None
        } else {
            Some(
                rec.image_id
                    .parse::<berth_content::Digest>()
                    .map_err(|e| Error::internal(format!("container image id: {e}")))?,
            )
        };
        let store_opts = StoreCommitOptions {
            reference,
            comment: opts.comment,
            author: opts.author,
            changes: opts.changes,
            container_config: runtime,
            created_by,
        };

        let excluded = crate::cp::excluded_paths(c);
        let snapshotter = self.images.snapshotter().clone();
        let snapshot_key = rec.snapshot_key.clone();
        let (r, w) = rustix::pipe::pipe().map_err(|e| Error::io("create a pipe", e.into()))?;
        // A larger pipe halves the context switches between the two threads.
        let _ = rustix::pipe::fcntl_setpipe_size(&w, 1 << 20);
        let writer = tokio::task::spawn_blocking(move || -> Result<()> {
            let changes = crate::cp::compute_changes(&*snapshotter, &snapshot_key, &excluded)?;
            let src = snapshotter.writable_dir(&snapshot_key)?;
            let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::from(w));
            berth_archive::write_layer(&src, &changes, &mut out)?;
            out.flush().map_err(|e| Error::io("write the layer", e))?;
            Ok(())
        });
        let images = self.images.clone();
        let reader = tokio::task::spawn_blocking(move || {
            images.commit(parent.as_ref(), std::fs::File::from(r), store_opts)
        });
        let (w_res, r_res) = tokio::join!(writer, reader);
        let w_res = w_res.map_err(|e| Error::internal(e.to_string()))?;
        let r_res = r_res.map_err(|e| Error::internal(e.to_string()))?;
        // The writer's error explains a reader's "unexpected end of stream".
        w_res?;
        let image = r_res?;
        Ok(image.id.to_string())
    }
}

/// The image-config half of a container config.
pub(crate) fn runtime_config(c: &Config) -> RuntimeConfig {
    let some_str = |s: &str| (!s.is_empty()).then(|| s.to_string());
    RuntimeConfig {
        user: some_str(&c.user),
        exposed_ports: (!c.exposed_ports.is_empty()).then(|| {
            c.exposed_ports
                .keys()
                .map(|k| (k.clone(), Default::default()))
                .collect()
        }),
        env: c.env.clone().filter(|e| !e.is_empty()),
        entrypoint: c.entrypoint.clone().filter(|e| !e.is_empty()),
        cmd: c.cmd.clone().filter(|e| !e.is_empty()),
        volumes: c
            .volumes
            .as_ref()
            .filter(|v| !v.is_empty())
            .map(|v| v.keys().map(|k| (k.clone(), Default::default())).collect()),
        working_dir: some_str(&c.working_dir),
        labels: c.labels.clone().filter(|l| !l.is_empty()),
        stop_signal: some_str(&c.stop_signal),
        args_escaped: c.args_escaped.then_some(true),
        healthcheck: c
            .healthcheck
            .as_ref()
            .and_then(|h| serde_json::to_value(h).ok()),
        on_build: (!c.on_build.is_empty()).then(|| c.on_build.clone()),
        shell: c.shell.clone().filter(|s| !s.is_empty()),
    }
}

/// moby daemon/commit.go `merge(userConf, imageConf)`: fields the user's
/// config leaves empty come from the container's; env and labels merge
/// key by key, the user's winning.
fn merge_unset(user: &mut RuntimeConfig, image: &RuntimeConfig) {
    if user.user.is_none() {
        user.user = image.user.clone();
    }
    if let Some(p) = &image.exposed_ports {
        let ports = user.exposed_ports.get_or_insert_with(BTreeMap::new);
        for k in p.keys() {
            ports.entry(k.clone()).or_default();
        }
    }
    if let Some(env) = &image.env {
        let mine = user.env.get_or_insert_with(Vec::new);
        for kv in env {
            let key = kv.split('=').next().unwrap_or("");
            if !mine.iter().any(|m| m.split('=').next() == Some(key)) {
                mine.push(kv.clone());
            }
        }
    }
    if let Some(l) = &image.labels {
        let labels = user.labels.get_or_insert_with(BTreeMap::new);
        for (k, v) in l {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if user.entrypoint.is_none() {
        if user.cmd.is_none() {
            user.cmd = image.cmd.clone();
            user.shell = image.shell.clone();
        }
        user.entrypoint = image.entrypoint.clone();
    }
    if user.healthcheck.is_none() {
        user.healthcheck = image.healthcheck.clone();
    }
    if user.working_dir.is_none() {
        user.working_dir = image.working_dir.clone();
    }
    if let Some(v) = &image.volumes {
        let vols = user.volumes.get_or_insert_with(BTreeMap::new);
        for k in v.keys() {
            vols.entry(k.clone()).or_default();
        }
    }
    if user.stop_signal.is_none() {
        user.stop_signal = image.stop_signal.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_the_users_values_and_fills_the_rest() {
        let mut user = RuntimeConfig {
            env: Some(vec!["A=1".into()]),
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        };
        let image = RuntimeConfig {
            env: Some(vec!["A=0".into(), "B=2".into()]),
            cmd: Some(vec!["top".into()]),
            entrypoint: Some(vec!["/init".into()]),
            working_dir: Some("/w".into()),
            ..Default::default()
        };
        merge_unset(&mut user, &image);
        assert_eq!(user.env, Some(vec!["A=1".into(), "B=2".into()]));
        assert_eq!(user.cmd, Some(vec!["sh".into()]));
        assert_eq!(user.entrypoint, Some(vec!["/init".into()]));
        assert_eq!(user.working_dir.as_deref(), Some("/w"));
    }
}
