use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::core::{Core, Flavor};
use crate::{Info, Kind, Mount, Result, Snapshotter, WhiteoutFormat};

/// Copying snapshotter, for filesystems that cannot host overlay upper dirs
/// (like containerd's "native" and Docker's "vfs"): `prepare` copies the
/// parent's whole tree (owners, modes, times, xattrs, links) into the new
/// snapshot, whose mount is one rbind. Slow and space-hungry, but it works
/// anywhere.
pub struct NaiveSnapshotter {
    core: Core,
}

impl NaiveSnapshotter {
    pub fn new(root: &Path) -> Result<Self> {
        Ok(NaiveSnapshotter {
            core: Core::open(root, Flavor::Naive)?,
        })
    }

    pub fn root(&self) -> &Path {
        self.core.root()
    }
}

impl Snapshotter for NaiveSnapshotter {
    fn prepare(
        &self,
        key: &str,
        parent: Option<&str>,
        labels: BTreeMap<String, String>,
    ) -> Result<Vec<Mount>> {
        self.core.create(Kind::Active, key, parent, labels)
    }
    fn view(
        &self,
        key: &str,
        parent: Option<&str>,
        labels: BTreeMap<String, String>,
    ) -> Result<Vec<Mount>> {
        self.core.create(Kind::View, key, parent, labels)
    }
    fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        self.core.mounts(key)
    }
    fn commit(&self, name: &str, key: &str, labels: BTreeMap<String, String>) -> Result<()> {
        self.core.commit(name, key, labels)
    }
    fn remove(&self, key: &str) -> Result<()> {
        self.core.remove(key)
    }
    fn stat(&self, key: &str) -> Result<Info> {
        self.core.stat(key)
    }
    fn list(&self) -> Result<Vec<Info>> {
        self.core.list()
    }
    fn usage(&self, key: &str) -> Result<u64> {
        self.core.usage(key)
    }
    fn writable_dir(&self, key: &str) -> Result<PathBuf> {
        self.core.writable_dir(key)
    }
    fn parent_dirs(&self, key: &str) -> Result<Vec<PathBuf>> {
        self.core.parent_dirs(key)
    }
    fn whiteout_format(&self) -> WhiteoutFormat {
        self.core.whiteout_format()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance;

    #[test]
    fn conformance_suite() {
        conformance::run_all(&|root| Box::new(NaiveSnapshotter::new(root).unwrap()));
    }

    #[test]
    fn prepare_copies_parent_tree() {
        let td = tempfile::tempdir().unwrap();
        let s = NaiveSnapshotter::new(td.path()).unwrap();
        s.prepare("a", None, BTreeMap::new()).unwrap();
        let w = s.writable_dir("a").unwrap();
        std::fs::create_dir(w.join("d")).unwrap();
        std::fs::write(w.join("d/f"), b"x").unwrap();
        std::os::unix::fs::symlink("/nowhere", w.join("l")).unwrap();
        s.commit("base", "a", BTreeMap::new()).unwrap();
        let m = s.prepare("b", Some("base"), BTreeMap::new()).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].kind, "bind");
        let w2 = s.writable_dir("b").unwrap();
        assert_eq!(std::fs::read(w2.join("d/f")).unwrap(), b"x");
        assert_eq!(
            std::fs::read_link(w2.join("l")).unwrap(),
            Path::new("/nowhere")
        );
        // Writes to the child do not reach the committed parent.
        std::fs::write(w2.join("d/f"), b"changed").unwrap();
        assert_eq!(
            std::fs::read(s.parent_dirs("b").unwrap()[0].join("d/f")).unwrap(),
            b"x"
        );
        assert_eq!(s.whiteout_format(), WhiteoutFormat::Naive);
    }
}
