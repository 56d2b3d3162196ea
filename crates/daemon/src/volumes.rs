//! Volumes with the `local` driver: a directory per volume under
//! `DATA_ROOT/volumes/NAME/_data`, its metadata beside it in `volume.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::names;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Made for a container (`-v /path`, an image's VOLUME); removed with the
    /// container by `rm -v` and `--rm`.
    #[serde(default)]
    pub anonymous: bool,
}

pub struct VolumeStore {
    root: PathBuf,
    vols: Mutex<BTreeMap<String, VolumeRecord>>,
}

const META: &str = "volume.json";

impl VolumeStore {
    pub fn open(root: PathBuf) -> Result<VolumeStore> {
        std::fs::create_dir_all(&root)
            .map_err(|e| Error::io(format!("create {}", root.display()), e))?;
        let mut vols = BTreeMap::new();
        let rd = std::fs::read_dir(&root)
            .map_err(|e| Error::io(format!("read {}", root.display()), e))?;
        for ent in rd.flatten() {
            let dir = ent.path();
            match std::fs::read(dir.join(META)) {
                Ok(b) => match serde_json::from_slice::<VolumeRecord>(&b) {
                    Ok(v) => {
                        vols.insert(v.name.clone(), v);
                    }
                    Err(e) => {
                        tracing::warn!(dir = %dir.display(), error = %e, "unreadable volume metadata; ignored")
                    }
                },
                // A create that crashed before its metadata landed: nothing
                // refers to it.
                Err(_) => {
                    let _ = std::fs::remove_dir_all(&dir);
                }
            }
        }
        Ok(VolumeStore {
            root,
            vols: Mutex::new(vols),
        })
    }

    pub fn data_path(&self, name: &str) -> PathBuf {
        self.root.join(name).join("_data")
    }

    pub fn get(&self, name: &str) -> Option<VolumeRecord> {
        self.vols.lock().unwrap().get(name).cloned()
    }

    pub fn list(&self) -> Vec<VolumeRecord> {
        self.vols.lock().unwrap().values().cloned().collect()
    }

    /// Creates the volume, or returns the existing one of that name (Docker's
    /// create is idempotent). `name: None` makes an anonymous volume.
    pub fn create(
        &self,
        name: Option<&str>,
        driver: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<(VolumeRecord, bool)> {
        if let Some(d) = driver
            && !d.is_empty()
            && d != "local"
        {
            return Err(Error::not_found(format!(
                "error looking up volume plugin {d}: plugin \"{d}\" not found"
            )));
        }
        if !options.is_empty() {
            return Err(Error::invalid(
                "berth's local volume driver does not take options (type, device, o) yet",
            ));
        }
        let (name, anonymous) = match name {
            Some(n) if !n.is_empty() => (n.to_string(), false),
            _ => (names::random_id(), true),
        };
        if !names::valid_name(&name) {
            return Err(Error::invalid(format!(
                "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
            )));
        }
        let mut vols = self.vols.lock().unwrap();
        if let Some(v) = vols.get(&name) {
            return Ok((v.clone(), false));
        }
        let dir = self.root.join(&name);
        let data = dir.join("_data");
        std::fs::create_dir_all(&data)
            .map_err(|e| Error::io(format!("create volume {name}"), e))?;
        let rec = VolumeRecord {
            name: name.clone(),
            created_at: Utc::now(),
            labels,
            options,
            anonymous,
        };
        let bytes = serde_json::to_vec(&rec).map_err(|e| Error::internal(e.to_string()))?;
        berth_content::fsutil::atomic_write(&dir.join(META), &bytes, 0o600)
            .map_err(|e| Error::io(format!("create volume {name}"), e))?;
        vols.insert(name, rec.clone());
        Ok((rec, true))
    }

    /// Removes the volume; the caller has checked that no container uses it.
    pub fn remove(&self, name: &str) -> Result<u64> {
        let mut vols = self.vols.lock().unwrap();
        if !vols.contains_key(name) {
            return Err(Error::not_found(format!("get {name}: no such volume")));
        }
        let dir = self.root.join(name);
        let size = dir_size(&dir.join("_data"));
        // Metadata first: a crash mid-removal leaves a dir without metadata,
        // which `open` cleans up.
        let _ = std::fs::remove_file(dir.join(META));
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(format!("remove volume {name}"), e))?;
        vols.remove(name);
        Ok(size)
    }

    pub fn is_empty_dir(&self, name: &str) -> bool {
        std::fs::read_dir(self.data_path(name))
            .map(|mut d| d.next().is_none())
            .unwrap_or(false)
    }
}

/// Bytes used under `dir`, not following symlinks and not crossing into
/// other mounts (lstat only).
pub fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for ent in rd.flatten() {
            let Ok(md) = ent.metadata() else { continue };
            if md.is_dir() {
                stack.push(ent.path());
            } else {
                total += md.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_is_idempotent_and_persistent() {
        let dir = tempfile::tempdir().unwrap();
        let store = VolumeStore::open(dir.path().to_path_buf()).unwrap();
        let (v, created) = store
            .create(Some("vol1"), None, BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert!(created);
        assert!(!v.anonymous);
        let (_, again) = store
            .create(
                Some("vol1"),
                Some("local"),
                BTreeMap::new(),
                BTreeMap::new(),
            )
            .unwrap();
        assert!(!again);
        std::fs::write(store.data_path("vol1").join("f"), b"1234").unwrap();
        let (anon, _) = store
            .create(None, None, BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert!(anon.anonymous);
        assert_eq!(anon.name.len(), 64);
        // A half-made volume (no metadata) disappears at open.
        std::fs::create_dir_all(dir.path().join("half/_data")).unwrap();
        let store = VolumeStore::open(dir.path().to_path_buf()).unwrap();
        assert_eq!(store.list().len(), 2);
        assert!(!dir.path().join("half").exists());
        assert_eq!(store.remove("vol1").unwrap(), 4);
        assert!(store.get("vol1").is_none());
        assert!(store.remove("vol1").is_err());
        assert!(
            store
                .create(Some("bad/name"), None, BTreeMap::new(), BTreeMap::new())
                .is_err()
        );
        assert!(
            store
                .create(Some("x"), Some("nfs"), BTreeMap::new(), BTreeMap::new())
                .is_err()
        );
    }
}
