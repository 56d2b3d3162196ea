//! docker cp (stat, archive, extract), export and diff, on top of the
//! container's filesystem view and the archive crate.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use berth_api_types::container::{ChangeType, FilesystemChange, PathStat};
use berth_archive::cp::{self as acp, ChangeKind};
use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::{mpsc, oneshot};

use crate::Daemon;
use crate::container::Container;
use crate::error::{Error, ErrorKind, Result};
use crate::fsview::{ViewKind, on_readonly_mount};
use crate::netfiles;

/// Chunks handed to the HTTP body: large enough that a big file moves in
/// few sends, small enough that memory stays flat (at most CHANNEL_DEPTH of
/// them in flight).
const CHUNK: usize = 1 << 20;
pub(crate) const CHANNEL_DEPTH: usize = 4;

/// A compressed upload may expand this much before it counts as a bomb
/// (plus a fixed allowance); a plain tar is bounded by the free space only.
const MAX_EXPANSION: u64 = 100;
const EXPANSION_SLACK: u64 = 64 << 20;

pub type ByteReceiver = mpsc::Receiver<io::Result<Bytes>>;

#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractOptions {
    pub no_overwrite_dir_non_dir: bool,
    pub copy_uid_gid: bool,
}

fn not_found(path: &str, container: &str) -> Error {
    // moby's containerFileNotFound; the CLI shows it as is.
    Error::not_found(format!(
        "Could not find the file {path} in container {container}"
    ))
}

fn map_archive_error(e: berth_archive::Error, path: &str, container: &str) -> Error {
    match e.kind() {
        berth_archive::ErrorKind::NotFound => not_found(path, container),
        _ => e.into(),
    }
}

/// HEAD/GET: dockerd passes a failed lstat through unclassified (500); a
/// path through a non-directory ("lstat /f/: not a directory") is one.
fn map_stat_error(e: berth_archive::Error, path: &str, container: &str) -> Error {
    let mut e = map_archive_error(e, path, container);
    if e.kind == ErrorKind::InvalidArgument && e.message.ends_with("not a directory") {
        e.kind = ErrorKind::Internal;
    }
    e
}

fn path_stat(info: &acp::PathInfo) -> PathStat {
    let mtime =
        chrono::DateTime::from_timestamp(info.mtime_sec, info.mtime_nsec).unwrap_or_default();
    PathStat::from_stat(
        info.name.clone(),
        info.size,
        info.st_mode,
        mtime,
        info.link_target.clone(),
    )
}

fn require_path(path: &str) -> Result<()> {
    if path.is_empty() {
        return Err(Error::invalid("Path cannot be empty"));
    }
    Ok(())
}

impl Daemon {
    pub async fn container_stat_path(&self, key: &str, path: &str) -> Result<PathStat> {
        require_path(path)?;
        let c = self.lookup(key)?;
        let view = self.open_fs_view(&c, ViewKind::Full).await?;
        let (p, name) = (path.to_string(), key.to_string());
        tokio::task::spawn_blocking(move || {
            let r =
                acp::open_resource(view.root(), &p).map_err(|e| map_stat_error(e, &p, &name))?;
            Ok(path_stat(r.info()))
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))?
    }

    /// GET /archive: the stat header first, then the tar, streamed from what
    /// was stat'ed.
    pub async fn container_archive(
        &self,
        key: &str,
        path: &str,
    ) -> Result<(PathStat, ByteReceiver)> {
        require_path(path)?;
        let c = self.lookup(key)?;
        let view = self.open_fs_view(&c, ViewKind::Full).await?;
        let (info_tx, info_rx) = oneshot::channel();
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        let (p, name) = (path.to_string(), key.to_string());
        tokio::task::spawn_blocking(move || {
            let resource = match acp::open_resource(view.root(), &p) {
                Ok(r) => r,
                Err(e) => {
                    let _ = info_tx.send(Err(map_stat_error(e, &p, &name)));
                    return;
                }
            };
            if info_tx.send(Ok(path_stat(resource.info()))).is_err() {
                return;
            }
            let mut w = ChannelWriter::new(tx);
            let result = resource
                .write_tar(&mut w)
                .map_err(io::Error::other)
                .and_then(|()| w.flush());
            if let Err(e) = result {
                w.fail(e);
            }
            // The view (its namespace, and the container's filesystem lock)
            // is released only now that the stream has ended.
            drop(view);
        });
        let info = info_rx
            .await
            .map_err(|_| Error::internal("archive worker ended early"))??;
        self.container_event(&c, "archive-path", &[]);
        Ok((info, rx))
    }

    /// PUT /archive: extracts the (possibly compressed) tar stream into the
    /// directory `path`.
    pub async fn container_extract<S>(
        &self,
        key: &str,
        path: &str,
        opts: ExtractOptions,
        body: S,
    ) -> Result<()>
    where
        S: Stream<Item = io::Result<Bytes>> + Send + Unpin + 'static,
    {
        require_path(path)?;
        let c = self.lookup(key)?;
        let view = self.open_fs_view(&c, ViewKind::Full).await?;
        let user = c.lock().rec.config.user.clone();
        let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(body));
        let (p, name) = (path.to_string(), key.to_string());
        tokio::task::spawn_blocking(move || -> Result<()> {
            let dir = acp::resolve_extract_dir(view.root(), &p)
                .map_err(|e| map_archive_error(e, &p, &name))?;
            // dockerd's errors name the destination as the container sees it.
            let dest = acp::extract_dest_path(view.root(), &p)
                .map_err(|e| map_archive_error(e, &p, &name))?;
            if on_readonly_mount(&dir) {
                // The texts dockerd gives; 403 as the API documents.
                let what = if view.on_rootfs(&dir) {
                    "container rootfs is marked read-only"
                } else {
                    "mounted volume is marked read-only"
                };
                return Err(Error::new(ErrorKind::PermissionDenied, what));
            }
            let chown = if opts.copy_uid_gid && !user.is_empty() {
                Some(resolve_user_in_view(view.root(), &user)?)
            } else {
                None
            };
            let free = rustix::fs::fstatvfs(&dir)
                .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
                .unwrap_or(u64::MAX);
            let input = Arc::new(AtomicU64::new(0));
            let counted = Counting {
                inner: reader,
                n: input.clone(),
            };
            let (compression, plain) = berth_archive::decompress::sniff(counted)
                .map_err(|e| Error::io("read the archive", e))?;
            let plain: Box<dyn Read + Send> =
                if compression == berth_archive::decompress::Compression::None {
                    plain
                } else {
                    Box::new(BombGuard {
                        inner: plain,
                        input,
                        output: 0,
                    })
                };
            let xopts = acp::ExtractOptions {
                no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
                chown,
                max_bytes: Some(free),
            };
            acp::extract_to(&dir, &dest, plain, &xopts).map_err(Error::from)?;
            drop(view);
            Ok(())
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
        self.container_event(&c, "extract-to-dir", &[]);
        Ok(())
    }

    pub async fn container_export(&self, key: &str) -> Result<ByteReceiver> {
        let c = self.lookup(key)?;
        let view = self.open_fs_view(&c, ViewKind::RootfsOnly).await?;
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        tokio::task::spawn_blocking(move || {
            let mut w = ChannelWriter::new(tx);
            let result = acp::export(view.root(), &mut w)
                .map_err(io::Error::other)
                .and_then(|()| w.flush());
            if let Err(e) = result {
                w.fail(e);
            }
            drop(view);
        });
        self.container_event(&c, "export", &[]);
        Ok(rx)
    }

    /// `docker diff`: the writable layer's changes, without what the daemon
    /// itself put there (its bind-mount targets and mount points).
    pub async fn container_changes(&self, key: &str) -> Result<Vec<FilesystemChange>> {
        let c = self.lookup(key)?;
        let snapshot_key = c.lock().rec.snapshot_key.clone();
        let excluded = excluded_paths(&c);
        let snapshotter = self.images.snapshotter().clone();
        let changes = tokio::task::spawn_blocking(move || {
            compute_changes(&*snapshotter, &snapshot_key, &excluded)
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
        Ok(changes
            .into_iter()
            .map(|ch| FilesystemChange {
                path: ch.path,
                kind: match ch.kind {
                    ChangeKind::Modified => ChangeType::MODIFY,
                    ChangeKind::Added => ChangeType::ADD,
                    ChangeKind::Deleted => ChangeType::DELETE,
                },
            })
            .collect())
    }
}

/// The container's changes as `docker diff` shows them (and `docker
/// commit` writes them), on a blocking thread.
pub(crate) fn compute_changes(
    snapshotter: &dyn berth_snapshot::Snapshotter,
    snapshot_key: &str,
    excluded: &[String],
) -> Result<Vec<acp::Change>> {
    let rw = snapshotter.writable_dir(snapshot_key)?;
    let lowers = snapshotter.parent_dirs(snapshot_key)?;
    let changes = match snapshotter.whiteout_format() {
        berth_snapshot::WhiteoutFormat::Overlay => acp::changes_overlay(&rw, &lowers)?,
        berth_snapshot::WhiteoutFormat::Naive => match lowers.first() {
            Some(base) => acp::changes_naive(&rw, base)?,
            None => acp::changes_naive(&rw, &empty_dir()?)?,
        },
    };
    Ok(filter_changes(changes, excluded))
}

fn empty_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join("berth-empty-base");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create an empty base dir", e))?;
    Ok(dir)
}

/// Paths the daemon bind-mounts over, which never show in Docker's diff
/// (its init layer has them; so does ours, this is a second guard).
/// Mount points of volumes, binds and tmpfs are not excluded: dockerd and
/// Docker 28 both list them ("A /data") when the runtime had to make them,
/// as the side-by-side test with dockerd shows.
pub(crate) fn excluded_paths(_c: &Container) -> Vec<String> {
    let mut out: Vec<String> = netfiles::FILES
        .iter()
        .map(|(_, dest)| dest.to_string())
        .collect();
    out.push("/.dockerenv".into());
    out
}

/// Drops the excluded paths, and the directories that appear only as their
/// parents (a mount point the runtime had to create under them).
fn filter_changes(changes: Vec<acp::Change>, excluded: &[String]) -> Vec<acp::Change> {
    let is_under = |p: &str, dir: &str| {
        p.len() > dir.len() && p.starts_with(dir) && p.as_bytes()[dir.len()] == b'/'
    };
    let kept: Vec<acp::Change> = changes
        .into_iter()
        .filter(|ch| !excluded.contains(&ch.path))
        .collect();
    // Deepest first, so a parent sees whether its children survived.
    let mut order: Vec<usize> = (0..kept.len()).collect();
    order.sort_by_key(|i| std::cmp::Reverse(kept[*i].path.matches('/').count()));
    let mut keep = vec![false; kept.len()];
    for i in order {
        let ch = &kept[i];
        let parent_of_excluded = excluded.iter().any(|e| is_under(e, &ch.path));
        keep[i] = !parent_of_excluded
            || ch.kind == ChangeKind::Deleted
            // Still a change of its own if anything else below it changed.
            || kept
                .iter()
                .enumerate()
                .any(|(j, other)| keep[j] && is_under(&other.path, &ch.path));
    }
    kept.into_iter()
        .zip(keep)
        .filter_map(|(ch, k)| k.then_some(ch))
        .collect()
}

/// `docker cp -a`: the container's configured user, looked up in the
/// container's own /etc/passwd and /etc/group (through the view's root).
/// dockerd looks it up in the host's database instead, which names the
/// wrong ids and loads the host's nss; current Docker documents the
/// container's user.
fn resolve_user_in_view(root: &pathrs::Root, user: &str) -> Result<(u32, u32)> {
    let (passwd, group) = crate::lifecycle::read_id_files(root);
    let u = berth_runtime::user::resolve(user, passwd.as_deref(), group.as_deref(), &[]).map_err(
        |e| {
            // Docker 28's wording; the reason is the resolver's last clause.
            let e = Error::from(e);
            let reason = e
                .message
                .rsplit(": ")
                .next()
                .unwrap_or(&e.message)
                .to_string();
            Error::new(
                e.kind,
                format!("failed to look up user {user:?} in container: {reason}"),
            )
        },
    )?;
    Ok((u.uid, u.gid))
}

/// Collects small writes into big chunks for the body channel.
pub(crate) struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    pub(crate) fn new(tx: mpsc::Sender<io::Result<Bytes>>) -> Self {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self, b: Bytes) -> io::Result<()> {
        self.tx
            .blocking_send(Ok(b))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }

    /// Ends the body with an error, so the client sees a broken stream
    /// rather than a short archive that looks complete.
    pub(crate) fn fail(self, e: io::Error) {
        tracing::debug!(error = %e, "archive stream failed");
        let _ = self.tx.blocking_send(Err(e));
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.is_empty() && data.len() >= CHUNK {
            self.send(Bytes::copy_from_slice(data))?;
            return Ok(data.len());
        }
        let room = CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
            self.send(Bytes::from(full))?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            self.send(Bytes::from(rest))?;
        }
        Ok(())
    }
}

struct Counting<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Stops a decompression bomb: a compressed upload may not expand past
/// MAX_EXPANSION times its compressed size (plus a fixed allowance).
struct BombGuard<R> {
    inner: R,
    input: Arc<AtomicU64>,
    output: u64,
}

impl<R: Read> Read for BombGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.output += n as u64;
        let allowed = self
            .input
            .load(Ordering::Relaxed)
            .saturating_mul(MAX_EXPANSION)
            .saturating_add(EXPANSION_SLACK);
        if self.output > allowed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the compressed archive expands more than {MAX_EXPANSION} times its size; refusing it as a decompression bomb"
                ),
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(path: &str, kind: ChangeKind) -> acp::Change {
        acp::Change {
            path: path.into(),
            kind,
        }
    }

    #[test]
    fn daemon_made_paths_are_not_changes() {
        let excluded = vec!["/var/lib/data".to_string(), "/etc/hosts".to_string()];
        let got = filter_changes(
            vec![
                ch("/etc", ChangeKind::Modified),
                ch("/etc/hosts", ChangeKind::Modified),
                ch("/var", ChangeKind::Modified),
                ch("/var/lib", ChangeKind::Modified),
                ch("/var/lib/data", ChangeKind::Added),
                ch("/tmp", ChangeKind::Modified),
                ch("/tmp/x", ChangeKind::Added),
            ],
            &excluded,
        );
        let paths: Vec<&str> = got.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, vec!["/tmp", "/tmp/x"]);
        // A parent with a change of its own below stays.
        let got = filter_changes(
            vec![
                ch("/etc", ChangeKind::Modified),
                ch("/etc/hosts", ChangeKind::Modified),
                ch("/etc/passwd", ChangeKind::Modified),
            ],
            &excluded,
        );
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn bomb_guard_stops_runaway_expansion() {
        let input = Arc::new(AtomicU64::new(10));
        let mut g = BombGuard {
            inner: std::io::repeat(0),
            input,
            output: 0,
        };
        let mut sink = vec![0u8; 1 << 20];
        let mut total = 0u64;
        let err = loop {
            match g.read(&mut sink) {
                Ok(n) => total += n as u64,
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(total <= 10 * MAX_EXPANSION + EXPANSION_SLACK);
    }

    #[test]
    fn channel_writer_batches_and_passes_big_writes() {
        let (tx, mut rx) = mpsc::channel(64);
        let mut w = ChannelWriter::new(tx);
        w.write_all(&[1u8; 10]).unwrap();
        w.write_all(&vec![2u8; CHUNK + 5]).unwrap();
        w.flush().unwrap();
        drop(w);
        let mut total = 0;
        let mut chunks = 0;
        while let Ok(Ok(b)) = rx.try_recv() {
            total += b.len();
            chunks += 1;
        }
        assert_eq!(total, 10 + CHUNK + 5);
        assert!(chunks <= 3);
    }
}
