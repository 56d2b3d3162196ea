//! The engine: container, volume and image records, the container state
//! machine, and restoring it all when berthd starts. The API server reaches
//! it through the backend traits, implemented by the binary.

// Unsafe code lives in `sys` only.
#![deny(unsafe_code)]

mod attach;
mod commit;
mod container;
mod cp;
mod create;
mod distribution;
pub mod error;
mod events;
mod exec;
mod fsview;
mod health;
mod image_archive;
mod images;
mod inspect;
mod lifecycle;
pub mod logs;
mod names;
mod netfiles;
mod network;
mod restart;
mod stats;
#[allow(unsafe_code)]
mod sys;
mod system;
mod task;
mod update;
mod volume_ops;
mod volumes;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use berth_content::ContentStore;
use berth_image::ImageStore;
use berth_runtime::runc::OciRuntime;
use berth_snapshot::{NaiveSnapshotter, OverlaySnapshotter, Snapshotter};

pub use attach::{AttachOptions, AttachSession, Conn};
pub use commit::CommitOptions;
pub use cp::ExtractOptions;
pub use distribution::{Messages, PullOptions};
pub use error::{Error, ErrorKind, Result};
pub use images::ImportOptions;
pub use lifecycle::{RemoveOptions, WaitCondition};
pub use system::VERSION;

use container::{Container, Index, Status};

#[derive(Debug, Clone)]
pub struct Config {
    /// Persistent state: images, containers, volumes (`/var/lib/berth`).
    pub data_root: PathBuf,
    /// Runtime state that dies with a reboot: bundles, shim sockets,
    /// namespaces (`/run/berth`).
    pub exec_root: PathBuf,
    /// The OCI runtime binary (runc or crun).
    pub runtime: PathBuf,
    /// The binary to run as `<shim_exe> shim …` (berthd itself).
    pub shim_exe: PathBuf,
    /// Registries reached over plain http besides loopback ones.
    pub insecure_registries: Vec<String>,
}

pub struct Daemon {
    cfg: Config,
    id: String,
    runtime: OciRuntime,
    images: Arc<ImageStore>,
    registry: berth_registry::Client,
    volumes: volumes::VolumeStore,
    containers: RwLock<Index>,
    storage_driver: &'static str,
    cgroup_v2: bool,
    events: events::EventBus,
    execs: exec::ExecStore,
}

impl Daemon {
    /// Opens every store under the data root and reconnects to the
    /// containers that kept running while no daemon was up.
    pub async fn open(cfg: Config) -> Result<Arc<Daemon>> {
        for dir in [
            cfg.data_root.join("containers"),
            cfg.exec_root.join("containers"),
            cfg.exec_root.join("s"),
            cfg.exec_root.join("netns"),
            cfg.exec_root.join("runtime"),
        ] {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        }
        let content = Arc::new(ContentStore::open(cfg.data_root.join("content"))?);
        let snap_root = cfg.data_root.join("snapshots");
        std::fs::create_dir_all(&snap_root).map_err(|e| Error::io("create snapshots dir", e))?;
        let (snapshotter, storage_driver): (Arc<dyn Snapshotter>, &'static str) =
            if OverlaySnapshotter::supported(&snap_root) {
                (
                    Arc::new(OverlaySnapshotter::new(&snap_root.join("overlayfs"))?),
                    "overlayfs",
                )
            } else {
                tracing::warn!("overlayfs is not usable here; using the copying snapshotter");
                (
                    Arc::new(NaiveSnapshotter::new(&snap_root.join("native"))?),
                    "native",
                )
            };
        let images = Arc::new(ImageStore::open(
            &cfg.data_root.join("image"),
            content,
            snapshotter,
        )?);
        let volumes = volumes::VolumeStore::open(cfg.data_root.join("volumes"))?;
        let runtime = OciRuntime::new(cfg.runtime.clone(), cfg.exec_root.join("runtime"));
        let registry = berth_registry::Client::new(berth_registry::RegistryConfig {
            insecure_registries: cfg.insecure_registries.clone(),
            user_agent: format!("berth/{}", system::VERSION),
        })?;
        let d = Arc::new(Daemon {
            id: engine_id(&cfg.data_root)?,
            runtime,
            images,
            registry,
            volumes,
            containers: RwLock::new(Index::default()),
            storage_driver,
            cgroup_v2: Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
            events: events::EventBus::new(),
            execs: exec::ExecStore::default(),
            cfg,
        });
        d.restore().await;
        Ok(d)
    }

    fn lookup(&self, key: &str) -> Result<Arc<Container>> {
        self.containers.read().unwrap().get(key)
    }

    /// Loads every container record; a container that was live when the
    /// previous daemon stopped is reconnected to its shim, or given the exit
    /// status its shim left behind.
    async fn restore(self: &Arc<Self>) {
        let dir = self.cfg.data_root.join("containers");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        let mut live = Vec::new();
        for ent in entries.flatten() {
            let cdir = ent.path();
            let rec = match container::load_record(&cdir) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(dir = %cdir.display(), error = %e, "skipping unreadable container");
                    continue;
                }
            };
            let paths = task::TaskPaths::new(&self.cfg.exec_root, &rec.id);
            let restarting = rec.state.status == Status::Restarting;
            let was_live = rec.state.status.is_live();
            let removing = rec.state.status == Status::Removing;
            let c = Container::new(rec, cdir, paths);
            self.containers.write().unwrap().insert(c.clone());
            if restarting && c.paths.client().state().await.is_err() {
                // The previous daemon died during a restart's back-off.
                self.cleanup_task(&c);
                self.spawn_restart(c, std::time::Duration::from_millis(100));
            } else if was_live {
                live.push(c);
            } else if removing {
                // A removal that a crash interrupted: finish it.
                let d = self.clone();
                let id = c.id.clone();
                tokio::spawn(async move {
                    let _ = d
                        .container_remove(
                            &id,
                            RemoveOptions {
                                force: true,
                                volumes: false,
                            },
                        )
                        .await;
                });
            } else {
                // A start that a crash interrupted may have left mounts.
                self.cleanup_task(&c);
            }
        }
        for c in live {
            match c.paths.client().state().await {
                Ok((_pid, None)) => {
                    c.lock().task_live = true;
                    self.spawn_monitor(c.clone());
                    self.start_health_monitor(&c);
                }
                Ok((_pid, Some(status))) => self.handle_exit(&c, status).await,
                Err(_) => {
                    let _ = self.runtime.delete(&c.id, true).await;
                    let status = lifecycle::exit_after_shim_gone(&c.paths.bundle);
                    if status.code == 255 {
                        let mut g = c.lock();
                        g.rec.state.error =
                            "the container's shim was gone when berthd started".into();
                    }
                    self.handle_exit(&c, status).await;
                }
            }
        }
    }

    pub fn data_root(&self) -> &Path {
        &self.cfg.data_root
    }
}

/// A stable id for this engine (`docker info`'s ID), made once.
fn engine_id(data_root: &Path) -> Result<String> {
    let path = data_root.join("engine-id");
    if let Ok(s) = std::fs::read_to_string(&path)
        && !s.trim().is_empty()
    {
        return Ok(s.trim().to_string());
    }
    let r = names::random_id();
    let id = format!(
        "{}-{}-{}-{}-{}",
        &r[0..8],
        &r[8..12],
        &r[12..16],
        &r[16..20],
        &r[20..32]
    );
    berth_content::fsutil::atomic_write(&path, id.as_bytes(), 0o644)
        .map_err(|e| Error::io("write engine id", e))?;
    Ok(id)
}
