//! Writing an image layer from a change list: the tar stream `docker commit`
//! stores for a container's changes, as go-archive's `ExportChanges` writes
//! it (what dockerd's naive-diff graph drivers and `Register` of the commit
//! path consume).
//!
//! - Changes are written in byte order of their paths (go-archive sorts
//!   them with `changesByPath` too). A path sorts right after every prefix
//!   of it, so a directory always comes before its children whatever sorts
//!   in between (`/a`, `/a b`, `/a/b`); the change list reports every
//!   directory with a change below it (Modified), so each child's parent
//!   entry is in the stream before it.
//! - A Deleted path becomes a whiteout `dir/.wh.name`: an empty regular
//!   file, mode 0, owned by root, stamped now, exactly the header
//!   `ExportChanges` writes.
//! - An Added or Modified path is that one object read from `src`, with the
//!   header `cp::pack` writes for `docker cp` and export (dockerd's
//!   `addTarFile`): directories as `name/` with no children (they are
//!   changes of their own), hardlinks within the layer as links to the first
//!   name written, `security.capability` and friends as PAX xattrs, long or
//!   non-ASCII names in PAX records.
//!
//! `src` is a host directory the daemon controls (an overlay upper dir,
//! which holds every added or modified path in full since overlayfs copies
//! up whole files and directories — our snapshotter mounts with
//! `metacopy=off,redirect_dir=off` — or the naive snapshotter's full rw
//! tree), but every name inside it is the container's: each path is walked
//! one component at a time with `openat(O_DIRECTORY|O_NOFOLLOW)` from a
//! cursor of open directories, so a symlink planted by the container is
//! archived as a symlink and never followed, and `..` never appears.
//!
//! The change list spells paths as (lossy) UTF-8 strings, as `docker diff`
//! shows them; a component that is not on disk under that spelling and
//! contains U+FFFD is looked up among the directory's names by the same
//! lossy conversion, so files with non-UTF-8 names still get committed.

use std::ffi::OsStr;
use std::io::Write;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, RawDir};
use rustix::io::Errno;

use crate::apply::WHITEOUT_PREFIX;
use crate::cp::pack::{Header, TYPE_REG, Walker};
use crate::cp::{Change, ChangeKind};
use crate::{Error, ErrorKind, Result};

/// What [`write_layer`] wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LayerStats {
    /// Tar entries (whiteouts included; PAX extended headers not counted).
    pub entries: u64,
    /// Length of the tar stream, end-of-archive marker included.
    pub bytes: u64,
}

const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

/// Writes the layer tar of `changes` (from `changes_overlay` or
/// `changes_naive`) to `out`: whiteouts for Deleted paths, the objects in
/// `src` for Added and Modified ones, then the end-of-archive marker.
/// Names are relative (`etc/passwd`, `etc/`). A path that vanished from
/// `src` meanwhile (a running container) is skipped, as `ExportChanges`
/// logs and goes on. Blocking; streams with 1 MiB writes.
pub fn write_layer(src: &Path, changes: &[Change], out: &mut dyn Write) -> Result<LayerStats> {
    let shown_src = src.display().to_string();
    let root = rfs::open(
        src,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::errno("write layer: open", &shown_src, e))?;

    let mut order: Vec<&Change> = changes.iter().collect();
    order.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    order.dedup_by(|a, b| a.path == b.path);

    let mut counting = Counting { inner: out, n: 0 };
    let entries = {
        let mut w = Walker::new(&mut counting, None);
        let mut dirs = DirCursor {
            root,
            stack: Vec::new(),
            dents: vec![MaybeUninit::uninit(); 64 << 10],
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        for ch in order {
            let comps = components(&ch.path)?;
            // The root itself is never a change (`ChangesDirs` skips it).
            let Some((base, parents)) = comps.split_last() else {
                continue;
            };
            let plain = !comps.iter().any(|c| is_lossy(c));
            match ch.kind {
                ChangeKind::Deleted if plain => {
                    // Nothing to read: the whiteout is a name alone.
                    let name = whiteout_name(&join(parents), base);
                    w.tw.header(&whiteout_header(&name, now))?;
                }
                kind => {
                    if !dirs
                        .open(parents)
                        .map_err(|e| Error::errno("write layer: open", &ch.path, e))?
                    {
                        tracing::warn!(path = %ch.path, "parent directory gone from the layer source; skipped");
                        continue;
                    }
                    let raw_parent = dirs.raw_path();
                    let names = dirs
                        .names_for(base, kind == ChangeKind::Deleted)
                        .map_err(|e| Error::errno("write layer: read directory", &ch.path, e))?;
                    if names.is_empty() && kind == ChangeKind::Deleted {
                        tracing::warn!(path = %ch.path, "cannot tell which non-UTF-8 name was deleted; no whiteout written");
                    }
                    let single = names.len() == 1;
                    for raw in names {
                        if kind == ChangeKind::Deleted {
                            let name = whiteout_name(&raw_parent, &raw);
                            w.tw.header(&whiteout_header(&name, now))?;
                            continue;
                        }
                        let mut name = raw_parent.clone();
                        if !name.is_empty() {
                            name.push(b'/');
                        }
                        name.extend_from_slice(&raw);
                        let opened = w.entry(
                            dirs.top(),
                            OsStr::from_bytes(&raw),
                            FileType::Unknown,
                            &name,
                        )?;
                        // A directory's children come next: keep it open.
                        if let Some(fd) = opened
                            && single
                        {
                            dirs.stack.push((base.to_vec(), raw, fd));
                        }
                    }
                }
            }
        }
        w.tw.finish()?;
        w.tw.entries
    };
    Ok(LayerStats {
        entries,
        bytes: counting.n,
    })
}

/// The components of a change path ("/etc/passwd"); `..` is refused (the
/// differ never produces it, and it must not reach `openat`).
fn components(path: &str) -> Result<Vec<&[u8]>> {
    let mut out = Vec::new();
    for c in path.as_bytes().split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("write layer: change path {path:?} climbs out of the layer"),
                ));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

fn join(comps: &[&[u8]]) -> Vec<u8> {
    comps.join(&b'/')
}

fn is_lossy(c: &[u8]) -> bool {
    c.windows(REPLACEMENT.len()).any(|w| w == REPLACEMENT)
}

fn whiteout_name(parent: &[u8], base: &[u8]) -> Vec<u8> {
    let mut n = parent.to_vec();
    if !n.is_empty() {
        n.push(b'/');
    }
    n.extend_from_slice(WHITEOUT_PREFIX.as_bytes());
    n.extend_from_slice(base);
    n
}

/// go-archive `ExportChanges`: `tar.Header{Name: whiteOut[1:], Size: 0,
/// ModTime: now}`, which Go writes as a regular file, mode 0, root-owned.
fn whiteout_header(name: &[u8], now: i64) -> Header<'_> {
    Header {
        name,
        link: b"",
        typeflag: TYPE_REG,
        mode: 0,
        uid: 0,
        gid: 0,
        size: 0,
        mtime: now,
        devmajor: 0,
        devminor: 0,
        xattrs: &[],
    }
}

/// Open directories along the path of the last change, so that siblings
/// and children cost one `openat` each at most.
struct DirCursor {
    root: OwnedFd,
    /// (component as the change list spells it, name on disk, fd).
    stack: Vec<(Vec<u8>, Vec<u8>, OwnedFd)>,
    dents: Vec<MaybeUninit<u8>>,
}

impl DirCursor {
    fn top(&self) -> BorrowedFd<'_> {
        match self.stack.last() {
            Some((_, _, fd)) => fd.as_fd(),
            None => self.root.as_fd(),
        }
    }

    /// The on-disk path of the current directory ("" for the root).
    fn raw_path(&self) -> Vec<u8> {
        let mut v = Vec::new();
        for (i, (_, raw, _)) in self.stack.iter().enumerate() {
            if i > 0 {
                v.push(b'/');
            }
            v.extend_from_slice(raw);
        }
        v
    }

    /// Moves to the directory `comps` below the root. False when it is not
    /// there (any more), or is not a directory (a symlink included).
    fn open(&mut self, comps: &[&[u8]]) -> std::result::Result<bool, Errno> {
        let keep = self
            .stack
            .iter()
            .zip(comps)
            .take_while(|((c, _, _), want)| c.as_slice() == **want)
            .count();
        self.stack.truncate(keep);
        for c in &comps[keep..] {
            let raw = match open_dir(self.top(), c) {
                Ok(fd) => {
                    self.stack.push((c.to_vec(), c.to_vec(), fd));
                    continue;
                }
                Err(Errno::NOENT) if is_lossy(c) => {
                    let mut m = self.lossy_matches(c, false)?;
                    // Two names that read the same: which one the change
                    // meant is unknowable.
                    if m.len() != 1 {
                        return Ok(false);
                    }
                    m.pop().expect("one match")
                }
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => return Ok(false),
                Err(e) => return Err(e),
            };
            match open_dir(self.top(), &raw) {
                Ok(fd) => self.stack.push((c.to_vec(), raw, fd)),
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// The on-disk names in the current directory that `base` stands for:
    /// itself, or the names it is the lossy spelling of (for a deletion,
    /// the overlay whiteouts among them).
    fn names_for(
        &mut self,
        base: &[u8],
        deleted: bool,
    ) -> std::result::Result<Vec<Vec<u8>>, Errno> {
        if !is_lossy(base) {
            return Ok(vec![base.to_vec()]);
        }
        match rfs::statat(
            self.top(),
            OsStr::from_bytes(base),
            AtFlags::SYMLINK_NOFOLLOW,
        ) {
            Ok(_) if !deleted => return Ok(vec![base.to_vec()]),
            Ok(_) | Err(Errno::NOENT) => {}
            Err(e) => return Err(e),
        }
        self.lossy_matches(base, deleted)
    }

    /// Names in the current directory whose lossy UTF-8 spelling is `c`:
    /// overlay whiteouts (0/0 character devices) only when `whiteouts`,
    /// anything else otherwise.
    fn lossy_matches(
        &mut self,
        c: &[u8],
        whiteouts: bool,
    ) -> std::result::Result<Vec<Vec<u8>>, Errno> {
        let dir = match self.stack.last() {
            Some((_, _, fd)) => fd,
            None => &self.root,
        };
        rfs::seek(dir, rfs::SeekFrom::Start(0))?;
        let mut found = Vec::new();
        let mut it = RawDir::new(dir, &mut self.dents[..]);
        while let Some(ent) = it.next() {
            let ent = ent?;
            let n = ent.file_name().to_bytes();
            if n != c && String::from_utf8_lossy(n).as_bytes() == c {
                found.push(n.to_vec());
            }
        }
        let mut out = Vec::new();
        for n in found {
            let st = match rfs::statat(dir, OsStr::from_bytes(&n), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(e),
            };
            let whiteout =
                FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0;
            if whiteout == whiteouts {
                out.push(n);
            }
        }
        Ok(out)
    }
}

fn open_dir(dir: BorrowedFd<'_>, name: &[u8]) -> std::result::Result<OwnedFd, Errno> {
    rfs::openat(
        dir,
        OsStr::from_bytes(name),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Counts what goes to the output.
struct Counting<'a> {
    inner: &'a mut dyn Write,
    n: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(buf)?;
        self.n += buf.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
#[path = "layer_tests.rs"]
mod tests;
