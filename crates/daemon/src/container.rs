//! Container records, their state machine and the in-memory index.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use berth_api_types::container::{Config, HostConfig};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::net::UnixStream;
use tokio::sync::{oneshot, watch};

use crate::error::{Error, Result};
use crate::task::TaskPaths;

pub const RECORD_FILE: &str = "container.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
    /// Has a live task (a process that can be signalled).
    pub fn is_live(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateRecord {
    pub status: Status,
    pub pid: i32,
    pub exit_code: i32,
    #[serde(default)]
    pub error: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub oom_killed: bool,
    /// The health check's state, when the container has one.
    #[serde(default)]
    pub health: Option<berth_api_types::container::Health>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Volume => "volume",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// A mount as resolved at create time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MountRecord {
    pub kind: MountKind,
    /// The volume's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Host path (a volume's `_data` dir); empty for tmpfs.
    pub source: String,
    pub destination: String,
    pub rw: bool,
    /// The mode string as the client gave it (`-v a:b:ro,z` → "ro,z").
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub propagation: String,
    /// Fill an empty volume from the image's content at first start.
    #[serde(default)]
    pub copy_data: bool,
    /// tmpfs mount options (size=, mode=, …).
    #[serde(default)]
    pub options: Vec<String>,
    /// Came from an image VOLUME or `-v /path`.
    #[serde(default)]
    pub anonymous: bool,
    /// Binds only: make the host directory if it is missing (`-v` does,
    /// `--mount` does not).
    #[serde(default)]
    pub create_source: bool,
}

impl MountRecord {
    /// A read-write mount of `kind` at `destination`, every option unset.
    pub fn new(kind: MountKind, destination: impl Into<String>) -> Self {
        MountRecord {
            kind,
            name: None,
            source: String::new(),
            destination: destination.into(),
            rw: true,
            mode: String::new(),
            propagation: String::new(),
            copy_data: false,
            options: Vec::new(),
            anonymous: false,
            create_source: false,
        }
    }
}

/// What is persisted per container (`DATA_ROOT/containers/ID/container.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// With the leading '/', as Docker shows it.
    pub name: String,
    pub created: DateTime<Utc>,
    /// The image as the client named it.
    pub image: String,
    pub image_id: String,
    pub config: Config,
    pub host_config: HostConfig,
    pub path: String,
    pub args: Vec<String>,
    pub state: StateRecord,
    pub mounts: Vec<MountRecord>,
    #[serde(default)]
    pub restart_count: u64,
    #[serde(default)]
    pub has_been_started: bool,
    /// Stopped by `docker stop`/`kill`: no restart policy applies until
    /// the next start by a user.
    #[serde(default)]
    pub manually_stopped: bool,
    /// The snapshot holding the container's writable layer.
    pub snapshot_key: String,
}

/// What waiters watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    pub status: Status,
    pub exit_code: i32,
    /// Counts exits, so `condition=next-exit` can tell a new one.
    pub exits: u64,
    pub removed: bool,
}

/// An attach that arrived before the container's task existed; served when
/// the next start has spawned the shim, before the process runs.
pub struct PendingAttach {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tx: oneshot::Sender<UnixStream>,
}

pub struct Inner {
    pub rec: Record,
    /// A shim is serving this container (between spawn and exit).
    pub task_live: bool,
    pub pending: Vec<PendingAttach>,
    /// The restart policy's current back-off (moby keeps it in memory too).
    pub backoff: std::time::Duration,
    /// Stops the running health monitor.
    pub health_stop: Option<tokio_util::sync::CancellationToken>,
}

pub struct Container {
    pub id: String,
    /// `DATA_ROOT/containers/ID`: record, logs, hostname/hosts/resolv.conf.
    pub dir: PathBuf,
    pub paths: TaskPaths,
    inner: Mutex<Inner>,
    /// Serialises start/stop/restart/remove of this container. Exit handling
    /// does not take it (a stop holds it while waiting for the exit).
    pub ops: tokio::sync::Mutex<()>,
    /// Held shared by filesystem views (docker cp, export) for as long as
    /// their streams run; start and remove take it exclusively, so a
    /// container is neither removed nor remounted under a stream.
    pub fs_lock: Arc<tokio::sync::RwLock<()>>,
    watch: watch::Sender<Watch>,
}

impl Container {
    pub fn new(rec: Record, dir: PathBuf, paths: TaskPaths) -> Arc<Container> {
        let w = Watch {
            status: rec.state.status,
            exit_code: rec.state.exit_code,
            exits: 0,
            removed: false,
        };
        Arc::new(Container {
            id: rec.id.clone(),
            dir,
            paths,
            inner: Mutex::new(Inner {
                rec,
                task_live: false,
                pending: Vec::new(),
                backoff: std::time::Duration::ZERO,
                health_stop: None,
            }),
            ops: tokio::sync::Mutex::new(()),
            fs_lock: Arc::new(tokio::sync::RwLock::new(())),
            watch: watch::channel(w).0,
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record(&self) -> Record {
        self.lock().rec.clone()
    }

    pub fn status(&self) -> Status {
        self.lock().rec.state.status
    }

    pub fn name(&self) -> String {
        self.lock().rec.name.clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<Watch> {
        self.watch.subscribe()
    }

    /// Persists the record and tells waiters; call after changing state.
    pub fn commit(&self, inner: &Inner) -> Result<()> {
        let rec = &inner.rec;
        self.watch.send_modify(|w| {
            // An exit is an exit whether a restart policy follows or not
            // (moby's SetRestarting releases waiters as SetStopped does).
            let stopped = w.status.is_live()
                && !rec.state.status.is_live()
                && rec.state.status != Status::Removing;
            let restarting =
                rec.state.status == Status::Restarting && w.status != Status::Restarting;
            if stopped || restarting {
                w.exits += 1;
            }
            w.status = rec.state.status;
            w.exit_code = rec.state.exit_code;
        });
        save_record(&self.dir, rec)
    }

    pub fn mark_removed(&self) {
        self.watch.send_modify(|w| w.removed = true);
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("{}-json.log", self.id))
    }
}

pub fn save_record(dir: &Path, rec: &Record) -> Result<()> {
    let bytes = serde_json::to_vec(rec).map_err(|e| Error::internal(e.to_string()))?;
    berth_content::fsutil::atomic_write(&dir.join(RECORD_FILE), &bytes, 0o600)
        .map_err(|e| Error::io(format!("save container {}", rec.id), e))
}

pub fn load_record(dir: &Path) -> Result<Record> {
    let bytes = std::fs::read(dir.join(RECORD_FILE))
        .map_err(|e| Error::io(format!("read {}", dir.display()), e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::internal(format!("parse {}: {e}", dir.display())))
}

/// The index of containers by id and name.
#[derive(Default)]
pub struct Index {
    by_id: HashMap<String, Arc<Container>>,
    /// Name without the leading '/' → id.
    names: HashMap<String, String>,
}

impl Index {
    pub fn insert(&mut self, c: Arc<Container>) {
        let name = c.name();
        self.names
            .insert(name.trim_start_matches('/').to_string(), c.id.clone());
        self.by_id.insert(c.id.clone(), c);
    }

    pub fn remove(&mut self, id: &str) {
        if let Some(c) = self.by_id.remove(id) {
            let name = c.name();
            let name = name.trim_start_matches('/');
            if self.names.get(name).map(String::as_str) == Some(id) {
                self.names.remove(name);
            }
        }
    }

    /// Reserves `name` for `id`; Docker's 409 when another container has it.
    pub fn reserve_name(&mut self, name: &str, id: &str) -> Result<()> {
        if let Some(other) = self.names.get(name)
            && other != id
        {
            return Err(Error::conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        self.names.insert(name.to_string(), id.to_string());
        Ok(())
    }

    pub fn release_name(&mut self, name: &str, id: &str) {
        if self.names.get(name).map(String::as_str) == Some(id) {
            self.names.remove(name);
        }
    }

    pub fn name_taken(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    /// Docker's lookup order: full id, name, unique id prefix.
    pub fn get(&self, key: &str) -> Result<Arc<Container>> {
        if key.is_empty() {
            return Err(Error::no_such_container(key));
        }
        if let Some(c) = self.by_id.get(key) {
            return Ok(c.clone());
        }
        if let Some(id) = self.names.get(key.strip_prefix('/').unwrap_or(key))
            && let Some(c) = self.by_id.get(id)
        {
            return Ok(c.clone());
        }
        let mut found = None;
        for (id, c) in &self.by_id {
            if id.starts_with(key) {
                if found.is_some() {
                    return Err(Error::invalid(format!(
                        "Multiple IDs found with provided prefix: {key}"
                    )));
                }
                found = Some(c.clone());
            }
        }
        found.ok_or_else(|| Error::no_such_container(key))
    }

    pub fn all(&self) -> Vec<Arc<Container>> {
        self.by_id.values().cloned().collect()
    }
}

/// Go's `units.HumanDuration`, as `docker ps` shows "Up 3 minutes".
pub fn human_duration(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    if secs < 1 {
        return "Less than a second".into();
    }
    if secs == 1 {
        return "1 second".into();
    }
    if secs < 60 {
        return format!("{secs} seconds");
    }
    let mins = d.num_minutes();
    if mins == 1 {
        return "About a minute".into();
    }
    if mins < 60 {
        return format!("{mins} minutes");
    }
    let hours = (d.num_seconds() as f64 / 3600.0).round() as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_docker() {
        let s = chrono::Duration::seconds;
        assert_eq!(
            human_duration(chrono::Duration::milliseconds(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(45)), "45 seconds");
        assert_eq!(human_duration(s(90)), "About a minute");
        assert_eq!(human_duration(s(600)), "10 minutes");
        assert_eq!(human_duration(s(3600)), "About an hour");
        assert_eq!(human_duration(s(5 * 3600)), "5 hours");
        assert_eq!(human_duration(s(3 * 86400)), "3 days");
    }
}
