//! Helpers for tests in this and the other storage crates: a raw layer-tar
//! builder (it writes names exactly as given, `..` and all, which tar-rs's
//! own builder refuses to) and the root-test gate.

use std::io::Write;

/// Whether a root-only test may run. Not root: prints why it skips and
/// returns false, unless `BERTH_REQUIRE_ROOT_TESTS=1` (as CI sets), in which
/// case skipping is a failure.
pub fn require_root(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    if std::env::var("BERTH_REQUIRE_ROOT_TESTS").as_deref() == Ok("1") {
        panic!("{test}: needs root, and BERTH_REQUIRE_ROOT_TESTS=1 forbids skipping");
    }
    eprintln!("skipping {test}: needs root (mount, mknod, chown or trusted.* xattrs)");
    false
}

/// One raw tar entry.
#[derive(Clone, Debug)]
pub struct RawEntry {
    pub name: Vec<u8>,
    pub kind: tar::EntryType,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub link: Option<Vec<u8>>,
    pub data: Vec<u8>,
    pub dev: (u32, u32),
    /// Extra PAX records (`SCHILY.xattr.*`, `mtime`, ...).
    pub pax: Vec<(String, Vec<u8>)>,
}

impl RawEntry {
    pub fn new(name: impl AsRef<[u8]>, kind: tar::EntryType) -> Self {
        let mode = match kind {
            tar::EntryType::Directory => 0o755,
            _ => 0o644,
        };
        RawEntry {
            name: name.as_ref().to_vec(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
            link: None,
            data: Vec::new(),
            dev: (0, 0),
            pax: Vec::new(),
        }
    }
}

/// Builds a layer tar entry by entry.
pub struct LayerBuilder {
    b: tar::Builder<Vec<u8>>,
    uid: u64,
    gid: u64,
}

impl Default for LayerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerBuilder {
    pub fn new() -> Self {
        LayerBuilder {
            b: tar::Builder::new(Vec::new()),
            uid: 0,
            gid: 0,
        }
    }

    /// Owner for the entries added after this call.
    pub fn owner(mut self, uid: u64, gid: u64) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    pub fn raw(mut self, e: RawEntry) -> Self {
        let mut pax: Vec<(String, Vec<u8>)> = e.pax.clone();
        let mut h = tar::Header::new_ustar();
        if e.name.len() > 100 {
            pax.push(("path".into(), e.name.clone()));
        }
        if let Some(l) = &e.link
            && l.len() > 100
        {
            pax.push(("linkpath".into(), l.clone()));
        }
        {
            let old = h.as_old_mut();
            let n = e.name.len().min(100);
            old.name = [0; 100];
            old.name[..n].copy_from_slice(&e.name[..n]);
            if let Some(l) = &e.link {
                let n = l.len().min(100);
                old.linkname = [0; 100];
                old.linkname[..n].copy_from_slice(&l[..n]);
            }
        }
        h.set_entry_type(e.kind);
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        h.set_size(e.data.len() as u64);
        if matches!(e.kind, tar::EntryType::Char | tar::EntryType::Block) {
            h.set_device_major(e.dev.0)
                .expect("ustar has device fields");
            h.set_device_minor(e.dev.1)
                .expect("ustar has device fields");
        }
        h.set_cksum();
        if !pax.is_empty() {
            self.b
                .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .expect("write to Vec");
        }
        self.b.append(&h, e.data.as_slice()).expect("write to Vec");
        self
    }

    fn entry(&self, name: &str, kind: tar::EntryType) -> RawEntry {
        let mut e = RawEntry::new(name, kind);
        e.uid = self.uid;
        e.gid = self.gid;
        e
    }

    pub fn dir(self, name: &str, mode: u32) -> Self {
        let mut e = self.entry(name, tar::EntryType::Directory);
        e.mode = mode;
        self.raw(e)
    }

    pub fn file(self, name: &str, mode: u32, data: &[u8]) -> Self {
        let mut e = self.entry(name, tar::EntryType::Regular);
        e.mode = mode;
        e.data = data.to_vec();
        self.raw(e)
    }

    pub fn symlink(self, name: &str, target: &str) -> Self {
        let mut e = self.entry(name, tar::EntryType::Symlink);
        e.mode = 0o777;
        e.link = Some(target.as_bytes().to_vec());
        self.raw(e)
    }

    pub fn hardlink(self, name: &str, target: &str) -> Self {
        let mut e = self.entry(name, tar::EntryType::Link);
        e.link = Some(target.as_bytes().to_vec());
        self.raw(e)
    }

    pub fn fifo(self, name: &str, mode: u32) -> Self {
        let mut e = self.entry(name, tar::EntryType::Fifo);
        e.mode = mode;
        self.raw(e)
    }

    pub fn char_dev(self, name: &str, mode: u32, major: u32, minor: u32) -> Self {
        let mut e = self.entry(name, tar::EntryType::Char);
        e.mode = mode;
        e.dev = (major, minor);
        self.raw(e)
    }

    /// `.wh.<base>` next to `path`: deletes `path` from lower layers.
    pub fn whiteout(self, path: &str) -> Self {
        let (dir, base) = match path.rsplit_once('/') {
            Some((d, b)) => (format!("{d}/"), b),
            None => (String::new(), path),
        };
        let e = self.entry(&format!("{dir}.wh.{base}"), tar::EntryType::Regular);
        self.raw(e)
    }

    /// `<dir>/.wh..wh..opq`: hides everything lower layers have in `dir`.
    pub fn opaque(self, dir: &str) -> Self {
        let name = if dir.is_empty() {
            ".wh..wh..opq".to_string()
        } else {
            format!("{dir}/.wh..wh..opq")
        };
        let e = self.entry(&name, tar::EntryType::Regular);
        self.raw(e)
    }

    pub fn finish(self) -> Vec<u8> {
        let mut v = self.b.into_inner().expect("write to Vec");
        v.flush().expect("flush Vec");
        v
    }
}
