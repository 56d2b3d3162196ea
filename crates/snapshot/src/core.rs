//! Metadata and directory management shared by both snapshotters.
//!
//! `metadata.json` is the source of truth and is replaced atomically on
//! every change. Directories are made under a temporary name and renamed to
//! `snapshots/<id>` before the metadata naming them is written; removal
//! writes the metadata first. So after a crash a directory may exist that
//! no record names, never the reverse, and `open` removes such directories.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use berth_archive::fsutil::{atomic_write, disk_usage, remove_all};

use crate::{Error, Info, Kind, Mount, Result, WhiteoutFormat};

const META_FILE: &str = "metadata.json";
const META_VERSION: u32 = 1;

#[derive(Clone, Debug)]
pub(crate) enum Flavor {
    /// Extra overlay options (index=off, ...) that the kernel accepted.
    Overlay {
        options: Vec<String>,
    },
    Naive,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Record {
    id: u64,
    kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parent: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    created: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Meta {
    version: u32,
    next_id: u64,
    snapshots: BTreeMap<String, Record>,
}

impl Default for Meta {
    fn default() -> Self {
        Meta {
            version: META_VERSION,
            next_id: 1,
            snapshots: BTreeMap::new(),
        }
    }
}

struct State {
    meta: Meta,
    /// Keys being prepared (directory being built outside the lock), with
    /// their parent: they block reuse of the key and removal of the parent.
    pending: HashMap<String, Option<String>>,
}

pub(crate) struct Core {
    root: PathBuf,
    snaps: PathBuf,
    meta_path: PathBuf,
    flavor: Flavor,
    state: Mutex<State>,
}

fn check_name(what: &str, s: &str) -> Result<()> {
    if s.is_empty() {
        return Err(Error::invalid(format!("snapshot {what} must not be empty")));
    }
    Ok(())
}

impl Core {
    pub(crate) fn open(root: &Path, flavor: Flavor) -> Result<Core> {
        let snaps = root.join("snapshots");
        fs::create_dir_all(&snaps).map_err(|e| Error::io("create snapshotter dir", &snaps, e))?;
        // Mount options carry these paths; resolve symlinks once so they are
        // stable and absolute.
        let root =
            fs::canonicalize(root).map_err(|e| Error::io("resolve snapshotter root", root, e))?;
        let snaps = root.join("snapshots");
        let meta_path = root.join(META_FILE);
        let meta = match fs::read(&meta_path) {
            Ok(bytes) => serde_json::from_slice::<Meta>(&bytes).map_err(|e| {
                Error::internal(format!(
                    "read snapshot metadata {}: {e}",
                    meta_path.display()
                ))
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Meta::default(),
            Err(e) => return Err(Error::io("read snapshot metadata", &meta_path, e)),
        };
        if meta.version != META_VERSION {
            return Err(Error::internal(format!(
                "snapshot metadata {}: unsupported version {}",
                meta_path.display(),
                meta.version
            )));
        }
        let core = Core {
            root,
            snaps,
            meta_path,
            flavor,
            state: Mutex::new(State {
                meta,
                pending: HashMap::new(),
            }),
        };
        core.reconcile()?;
        Ok(core)
    }

    /// Removes directories no record names: half-made snapshots from a crash
    /// mid-prepare, half-removed ones, probe leftovers.
    fn reconcile(&self) -> Result<()> {
        let mut st = self.lock();
        let known: std::collections::HashSet<String> = st
            .meta
            .snapshots
            .values()
            .map(|r| r.id.to_string())
            .collect();
        let max_id = st.meta.snapshots.values().map(|r| r.id).max().unwrap_or(0);
        if st.meta.next_id <= max_id {
            st.meta.next_id = max_id + 1;
        }
        let entries = fs::read_dir(&self.snaps).map_err(|e| Error::io("read", &self.snaps, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("read", &self.snaps, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if known.contains(&name) {
                continue;
            }
            let p = entry.path();
            tracing::info!(path = %p.display(), "removing snapshot directory without metadata");
            remove_all(&p).map_err(|e| Error::io("remove stale snapshot", &p, e))?;
        }
        for (key, r) in &st.meta.snapshots {
            let dir = self.fs_dir(r.id);
            if !dir.is_dir() {
                tracing::warn!(snapshot = %key, dir = %dir.display(), "snapshot directory is missing");
            }
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the in-memory state as it
        // was before the failed change (changes are applied after persisting).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    fn snap_dir(&self, id: u64) -> PathBuf {
        self.snaps.join(id.to_string())
    }

    fn fs_dir(&self, id: u64) -> PathBuf {
        self.snap_dir(id).join("fs")
    }

    fn work_dir(&self, id: u64) -> PathBuf {
        self.snap_dir(id).join("work")
    }

    fn persist(&self, meta: &Meta) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(meta)
            .map_err(|e| Error::internal(format!("encode snapshot metadata: {e}")))?;
        atomic_write(&self.meta_path, &bytes, 0o600)
            .map_err(|e| Error::io("write snapshot metadata", &self.meta_path, e))
    }

    fn get<'a>(st: &'a State, key: &str) -> Result<&'a Record> {
        st.meta
            .snapshots
            .get(key)
            .ok_or_else(|| Error::not_found(format!("snapshot {key}: not found")))
    }

    /// Ids of `parent` and its ancestors, nearest first.
    fn chain<'a>(st: &'a State, mut parent: Option<&'a str>) -> Result<Vec<u64>> {
        let mut ids = Vec::new();
        while let Some(p) = parent {
            let r = st.meta.snapshots.get(p).ok_or_else(|| {
                Error::internal(format!("snapshot metadata: parent {p} is missing"))
            })?;
            ids.push(r.id);
            parent = r.parent.as_deref();
            if ids.len() > st.meta.snapshots.len() {
                return Err(Error::internal("snapshot metadata: parent cycle"));
            }
        }
        Ok(ids)
    }

    pub(crate) fn create(
        &self,
        kind: Kind,
        key: &str,
        parent: Option<&str>,
        labels: BTreeMap<String, String>,
    ) -> Result<Vec<Mount>> {
        check_name("key", key)?;
        let parent_id = {
            let mut st = self.lock();
            if st.meta.snapshots.contains_key(key) || st.pending.contains_key(key) {
                return Err(Error::conflict(format!("snapshot {key}: already exists")));
            }
            let parent_id = match parent {
                None => None,
                Some(p) => match st.meta.snapshots.get(p) {
                    None => {
                        return Err(Error::not_found(format!("parent snapshot {p}: not found")));
                    }
                    Some(r) if r.kind != Kind::Committed => {
                        return Err(Error::not_found(format!(
                            "parent snapshot {p}: not found (it is not committed)"
                        )));
                    }
                    Some(r) => Some(r.id),
                },
            };
            st.pending
                .insert(key.to_string(), parent.map(str::to_string));
            parent_id
        };

        let built = self.build_dir(kind, parent_id);
        let mut st = self.lock();
        st.pending.remove(key);
        let tmp = built?;
        let id = st.meta.next_id;
        let dir = self.snap_dir(id);
        if let Err(e) = fs::rename(&tmp, &dir) {
            let _ = remove_all(&tmp);
            return Err(Error::io("create snapshot", &dir, e));
        }
        let mut meta = st.meta.clone();
        meta.next_id = id + 1;
        meta.snapshots.insert(
            key.to_string(),
            Record {
                id,
                kind,
                parent: parent.map(str::to_string),
                labels,
                created: Utc::now(),
            },
        );
        if let Err(e) = self.persist(&meta) {
            let _ = remove_all(&dir);
            return Err(e);
        }
        st.meta = meta;
        self.mounts_locked(&st, key)
    }

    /// Makes the new snapshot's directory under a temporary name.
    fn build_dir(&self, kind: Kind, parent_id: Option<u64>) -> Result<PathBuf> {
        let tmp = self.snaps.join(format!("new-{:016x}", rand_u64()));
        let res = (|| {
            let fsd = tmp.join("fs");
            fs::create_dir_all(&fsd).map_err(|e| Error::io("create snapshot dir", &fsd, e))?;
            fs::set_permissions(&fsd, fs::Permissions::from_mode(0o755))
                .map_err(|e| Error::io("chmod", &fsd, e))?;
            match (&self.flavor, kind) {
                (Flavor::Overlay { .. }, Kind::Active) => {
                    let w = tmp.join("work");
                    fs::create_dir(&w).map_err(|e| Error::io("create snapshot dir", &w, e))?;
                    fs::set_permissions(&w, fs::Permissions::from_mode(0o700))
                        .map_err(|e| Error::io("chmod", &w, e))?;
                    if let Some(pid) = parent_id {
                        // The merged root takes its attributes from the upper
                        // dir, so start it as the parent's root (containerd
                        // does the same for ownership).
                        let pm = fs::metadata(self.fs_dir(pid))
                            .map_err(|e| Error::io("stat parent", &self.fs_dir(pid), e))?;
                        std::os::unix::fs::chown(&fsd, Some(pm.uid()), Some(pm.gid()))
                            .or_else(|e| if is_root() { Err(e) } else { Ok(()) })
                            .map_err(|e| Error::io("chown", &fsd, e))?;
                        fs::set_permissions(&fsd, fs::Permissions::from_mode(pm.mode() & 0o7777))
                            .map_err(|e| Error::io("chmod", &fsd, e))?;
                    }
                }
                (Flavor::Naive, Kind::Active) => {
                    if let Some(pid) = parent_id {
                        berth_archive::copy_dir(&self.fs_dir(pid), &fsd)?;
                    }
                }
                _ => {}
            }
            Ok(())
        })();
        match res {
            Ok(()) => Ok(tmp),
            Err(e) => {
                let _ = remove_all(&tmp);
                Err(e)
            }
        }
    }

    pub(crate) fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        let st = self.lock();
        self.mounts_locked(&st, key)
    }

    fn mounts_locked(&self, st: &State, key: &str) -> Result<Vec<Mount>> {
        let r = Self::get(st, key)?;
        if r.kind == Kind::Committed {
            return Err(Error::invalid(format!(
                "snapshot {key} is committed; prepare or view it to get mounts"
            )));
        }
        let parents = Self::chain(st, r.parent.as_deref())?;
        let bind = |src: PathBuf, ro: bool| Mount {
            kind: "bind".into(),
            source: src.to_string_lossy().into_owned(),
            options: vec![if ro { "ro" } else { "rw" }.into(), "rbind".into()],
        };
        let m = match (&self.flavor, r.kind) {
            (Flavor::Naive, Kind::Active) => bind(self.fs_dir(r.id), false),
            (Flavor::Naive, _) => match parents.first() {
                // A naive committed snapshot is a whole tree: a view of it
                // is a read-only bind, no copy needed.
                Some(&p) => bind(self.fs_dir(p), true),
                None => bind(self.fs_dir(r.id), true),
            },
            (Flavor::Overlay { .. }, kind) if parents.is_empty() => {
                // Overlay needs a lower dir; a parentless snapshot is its
                // own directory, bind mounted.
                bind(self.fs_dir(r.id), kind != Kind::Active)
            }
            (Flavor::Overlay { .. }, Kind::View) if parents.len() == 1 => {
                bind(self.fs_dir(parents[0]), true)
            }
            (Flavor::Overlay { options }, kind) => {
                let mut opts = options.clone();
                if kind == Kind::Active {
                    opts.push(format!("workdir={}", self.work_dir(r.id).display()));
                    opts.push(format!("upperdir={}", self.fs_dir(r.id).display()));
                }
                let lowers: Vec<String> = parents
                    .iter()
                    .map(|&p| self.fs_dir(p).display().to_string())
                    .collect();
                opts.push(format!("lowerdir={}", lowers.join(":")));
                Mount {
                    kind: "overlay".into(),
                    source: "overlay".into(),
                    options: opts,
                }
            }
        };
        Ok(vec![m])
    }

    pub(crate) fn commit(
        &self,
        name: &str,
        key: &str,
        labels: BTreeMap<String, String>,
    ) -> Result<()> {
        check_name("name", name)?;
        let mut st = self.lock();
        let r = Self::get(&st, key)?.clone();
        if r.kind != Kind::Active {
            return Err(Error::invalid(format!("snapshot {key} is not active")));
        }
        if st.meta.snapshots.contains_key(name) || st.pending.contains_key(name) {
            return Err(Error::conflict(format!("snapshot {name}: already exists")));
        }
        let mut meta = st.meta.clone();
        meta.snapshots.remove(key);
        meta.snapshots.insert(
            name.to_string(),
            Record {
                id: r.id,
                kind: Kind::Committed,
                parent: r.parent,
                labels,
                created: Utc::now(),
            },
        );
        self.persist(&meta)?;
        st.meta = meta;
        // The overlay workdir is kept, as containerd keeps it: the snapshot
        // may still be mounted by whoever prepared it.
        Ok(())
    }

    pub(crate) fn remove(&self, key: &str) -> Result<()> {
        let mut st = self.lock();
        let r = Self::get(&st, key)?.clone();
        let has_child = st
            .meta
            .snapshots
            .values()
            .any(|c| c.parent.as_deref() == Some(key))
            || st.pending.values().any(|p| p.as_deref() == Some(key));
        if has_child {
            return Err(Error::conflict(format!(
                "cannot remove snapshot {key}: it has children"
            )));
        }
        let mut meta = st.meta.clone();
        meta.snapshots.remove(key);
        self.persist(&meta)?;
        st.meta = meta;
        let dir = self.snap_dir(r.id);
        let doomed = self.snaps.join(format!("rm-{}", r.id));
        let target = match fs::rename(&dir, &doomed) {
            Ok(()) => doomed,
            Err(_) => dir,
        };
        drop(st);
        // Not fatal: the record is gone, and open() removes what is left.
        if let Err(e) = remove_all(&target) {
            tracing::warn!(dir = %target.display(), error = %e, "could not remove snapshot directory");
        }
        Ok(())
    }

    fn info(key: &str, r: &Record) -> Info {
        Info {
            name: key.to_string(),
            parent: r.parent.clone(),
            kind: r.kind,
            labels: r.labels.clone(),
            created: r.created,
        }
    }

    pub(crate) fn stat(&self, key: &str) -> Result<Info> {
        let st = self.lock();
        Ok(Self::info(key, Self::get(&st, key)?))
    }

    pub(crate) fn list(&self) -> Result<Vec<Info>> {
        let st = self.lock();
        Ok(st
            .meta
            .snapshots
            .iter()
            .map(|(k, r)| Self::info(k, r))
            .collect())
    }

    pub(crate) fn usage(&self, key: &str) -> Result<u64> {
        let dir = {
            let st = self.lock();
            self.fs_dir(Self::get(&st, key)?.id)
        };
        disk_usage(&dir).map_err(|e| Error::io("measure snapshot", &dir, e))
    }

    pub(crate) fn writable_dir(&self, key: &str) -> Result<PathBuf> {
        let st = self.lock();
        let r = Self::get(&st, key)?;
        if r.kind != Kind::Active {
            return Err(Error::invalid(format!("snapshot {key} is not active")));
        }
        Ok(self.fs_dir(r.id))
    }

    pub(crate) fn parent_dirs(&self, key: &str) -> Result<Vec<PathBuf>> {
        let st = self.lock();
        let r = Self::get(&st, key)?;
        Ok(Self::chain(&st, r.parent.as_deref())?
            .into_iter()
            .map(|id| self.fs_dir(id))
            .collect())
    }

    pub(crate) fn whiteout_format(&self) -> WhiteoutFormat {
        match self.flavor {
            Flavor::Overlay { .. } => WhiteoutFormat::Overlay,
            Flavor::Naive => WhiteoutFormat::Naive,
        }
    }
}

pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

pub(crate) fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded from the OS once per process; mixing in a
    // counter and the time gives distinct temp names without a rand dep.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(N.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}
