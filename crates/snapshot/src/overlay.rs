use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::core::{Core, Flavor, is_root, rand_u64};
use crate::{Error, Info, Mount, Result, Snapshotter, WhiteoutFormat, mount_all, unmount};

/// Option sets tried in order. `index=off` as Docker's overlay2 passes it
/// (copied-up files must not be tied to lower inodes, layers are moved and
/// shared); `redirect_dir=off` and `metacopy=off` so that a renamed
/// directory or a chown'ed file is copied up whole: diff and commit read the
/// upper dir alone and need real content there, not redirects.
const OPTION_SETS: &[&[&str]] = &[
    &["index=off", "redirect_dir=off", "metacopy=off"],
    &["index=off"],
    &[],
];

/// Overlayfs snapshotter: committed parents are lower dirs, an active
/// snapshot's own directory is the upper dir.
pub struct OverlaySnapshotter {
    core: Core,
}

impl OverlaySnapshotter {
    /// Opens (creating if needed) an overlay snapshotter at `root`. As root,
    /// probes which overlay options the kernel accepts; it does not check
    /// that overlay works at all — ask [`OverlaySnapshotter::supported`].
    pub fn new(root: &Path) -> Result<Self> {
        let snaps = root.join("snapshots");
        fs::create_dir_all(&snaps).map_err(|e| Error::io("create snapshotter dir", &snaps, e))?;
        let canon =
            fs::canonicalize(root).map_err(|e| Error::io("resolve snapshotter root", root, e))?;
        let s = canon.to_string_lossy();
        // ',' separates overlay options and ':' lower dirs; the kernel's
        // escaping of them is not worth relying on for our own paths.
        if s.contains(',') || s.contains(':') || s.contains('\n') {
            return Err(Error::invalid(format!(
                "overlay snapshotter root {s:?} must not contain ',' or ':'"
            )));
        }
        let options = if is_root() {
            probe_options(&canon).unwrap_or_else(|| to_strings(OPTION_SETS[0]))
        } else {
            to_strings(OPTION_SETS[0])
        };
        Ok(OverlaySnapshotter {
            core: Core::open(&canon, Flavor::Overlay { options })?,
        })
    }

    /// Whether an overlay mount with an upper dir on `root`'s filesystem
    /// really works here (not on overlay itself, d_type, privileges...).
    pub fn supported(root: &Path) -> bool {
        let snaps = root.join("snapshots");
        if fs::create_dir_all(&snaps).is_err() {
            return false;
        }
        probe_options(&snaps.parent().map(Path::to_path_buf).unwrap_or_default()).is_some()
    }

    pub fn root(&self) -> &Path {
        self.core.root()
    }
}

fn to_strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

fn probe_options(root: &Path) -> Option<Vec<String>> {
    for set in OPTION_SETS {
        match probe(root, set) {
            Ok(()) => return Some(to_strings(set)),
            Err(e) => tracing::debug!(options = ?set, error = %e, "overlay probe failed"),
        }
    }
    None
}

/// Mounts a one-lower overlay in a scratch dir under `root/snapshots` (so a
/// crash leaves it to the next open's cleanup) and checks the merged view.
fn probe(root: &Path, set: &[&str]) -> Result<()> {
    let dir: PathBuf = root
        .join("snapshots")
        .join(format!("probe-{:016x}", rand_u64()));
    let res = (|| {
        for d in ["lower", "upper", "work", "merged"] {
            let p = dir.join(d);
            fs::create_dir_all(&p).map_err(|e| Error::io("create", &p, e))?;
        }
        fs::write(dir.join("lower/probe"), b"ok").map_err(|e| Error::io("write", &dir, e))?;
        let mut options = to_strings(set);
        options.push(format!("lowerdir={}", dir.join("lower").display()));
        options.push(format!("upperdir={}", dir.join("upper").display()));
        options.push(format!("workdir={}", dir.join("work").display()));
        let m = Mount {
            kind: "overlay".into(),
            source: "overlay".into(),
            options,
        };
        let merged = dir.join("merged");
        mount_all(&[m], &merged)?;
        let seen = fs::read(merged.join("probe"));
        let wrote = fs::write(merged.join("upper-probe"), b"x");
        unmount(&merged)?;
        match (seen, wrote) {
            (Ok(b), Ok(())) if b == b"ok" => Ok(()),
            _ => Err(Error::internal("overlay probe: merged view is wrong")),
        }
    })();
    let _ = berth_archive::fsutil::remove_all(&dir);
    res
}

impl Snapshotter for OverlaySnapshotter {
    fn prepare(
        &self,
        key: &str,
        parent: Option<&str>,
        labels: BTreeMap<String, String>,
    ) -> Result<Vec<Mount>> {
        self.core.create(crate::Kind::Active, key, parent, labels)
    }
    fn view(
        &self,
        key: &str,
        parent: Option<&str>,
        labels: BTreeMap<String, String>,
    ) -> Result<Vec<Mount>> {
        self.core.create(crate::Kind::View, key, parent, labels)
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

    fn overlay_ok(test: &str) -> Option<tempfile::TempDir> {
        if !berth_archive::testutil::require_root(test) {
            return None;
        }
        let td = tempfile::tempdir().unwrap();
        assert!(
            OverlaySnapshotter::supported(td.path()),
            "{test}: overlay is not usable on {} although we are root",
            td.path().display()
        );
        Some(td)
    }

    #[test]
    fn conformance_suite() {
        if overlay_ok("overlay conformance_suite").is_none() {
            return;
        }
        conformance::run_all(&|root| Box::new(OverlaySnapshotter::new(root).unwrap()));
    }

    #[test]
    fn mount_shapes() {
        let td = tempfile::tempdir().unwrap();
        let s = OverlaySnapshotter::new(td.path()).unwrap();
        let root = s.root().to_path_buf();
        let m = s.prepare("base", None, BTreeMap::new()).unwrap();
        assert_eq!(m[0].kind, "bind");
        assert_eq!(m[0].options, vec!["rw", "rbind"]);
        assert!(!m[0].is_readonly());
        s.commit("l1", "base", BTreeMap::new()).unwrap();
        s.prepare("k2", Some("l1"), BTreeMap::new()).unwrap();
        s.commit("l2", "k2", BTreeMap::new()).unwrap();
        let v1 = s.view("v1", Some("l1"), BTreeMap::new()).unwrap();
        assert_eq!(v1[0].kind, "bind");
        assert!(v1[0].options.contains(&"ro".to_string()));
        assert!(v1[0].is_readonly());
        let v2 = s.view("v2", Some("l2"), BTreeMap::new()).unwrap();
        assert_eq!(v2[0].kind, "overlay");
        assert!(v2[0].is_readonly());
        assert!(!v2[0].options.iter().any(|o| o.starts_with("upperdir=")));
        let a = s.prepare("c", Some("l2"), BTreeMap::new()).unwrap();
        assert_eq!(a[0].kind, "overlay");
        let lower = a[0]
            .options
            .iter()
            .find(|o| o.starts_with("lowerdir="))
            .unwrap();
        let dirs = s.parent_dirs("c").unwrap();
        assert_eq!(dirs.len(), 2);
        assert!(dirs[0].starts_with(&root));
        assert_eq!(
            *lower,
            format!("lowerdir={}:{}", dirs[0].display(), dirs[1].display()),
            "nearest parent first"
        );
        assert!(
            a[0].options
                .iter()
                .any(|o| *o == format!("upperdir={}", s.writable_dir("c").unwrap().display()))
        );
        assert!(a[0].options.contains(&"index=off".to_string()));
        assert_eq!(s.whiteout_format(), WhiteoutFormat::Overlay);
    }

    #[test]
    fn rejects_roots_that_break_option_strings() {
        let td = tempfile::tempdir().unwrap();
        let bad = td.path().join("a,b");
        let err = OverlaySnapshotter::new(&bad)
            .err()
            .expect("accepted a root with a comma");
        assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
    }

    /// More lower dirs than fit in one page of mount data: mount_all must
    /// switch to the new mount API.
    #[test]
    fn many_layers_exceed_a_page() {
        let Some(td) = overlay_ok("many_layers_exceed_a_page") else {
            return;
        };
        let root = td.path().join("r".repeat(150));
        let s = OverlaySnapshotter::new(&root).unwrap();
        let mut parent: Option<String> = None;
        for i in 0..40 {
            let key = format!("k{i}");
            s.prepare(&key, parent.as_deref(), BTreeMap::new()).unwrap();
            fs::write(
                s.writable_dir(&key).unwrap().join(format!("f{i}")),
                i.to_string(),
            )
            .unwrap();
            let name = format!("layer-{i}");
            s.commit(&name, &key, BTreeMap::new()).unwrap();
            parent = Some(name);
        }
        let m = s
            .prepare("top", parent.as_deref(), BTreeMap::new())
            .unwrap();
        let len: usize = m[0].options.iter().map(|o| o.len() + 1).sum();
        assert!(len > 4096, "test does not exceed a page: {len}");
        let target = td.path().join("mnt");
        fs::create_dir(&target).unwrap();
        mount_all(&m, &target).unwrap();
        let bottom = fs::read_to_string(target.join("f0"));
        let topf = fs::read_to_string(target.join("f39"));
        unmount(&target).unwrap();
        assert_eq!(bottom.unwrap(), "0");
        assert_eq!(topf.unwrap(), "39");
    }
}
