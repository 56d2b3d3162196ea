//! Applying an image layer (a tar stream, already decompressed) onto a
//! snapshot's writable directory, with the OCI image-spec changeset
//! semantics and Docker's `UnpackLayer` behaviour.
//!
//! Every entry is created relative to a directory fd resolved inside `dest`
//! by `pathrs` (`RESOLVE_IN_ROOT`), and the final component is always
//! handled with a single-name `*at` call that does not follow symlinks. The
//! only thing ever resolved through a symlink is a parent directory, and
//! then only a symlink that was already on disk before this layer (the naive
//! snapshotter's copy of lower layers, which a chroot'ed Docker follows
//! too); symlinks planted earlier in the same layer are refused, like GNU
//! tar's delayed-symlink protection. These are the classes of Docker's
//! CVE-2014-6407 (symlink and hardlink escapes while extracting layers) and
//! CVE-2014-9356 (absolute symlinks followed on the host); here both are
//! closed by construction, not by string checks on joined paths.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::rc::Rc;

use rustix::fs::{self as rfs, AtFlags, Dir, FileType, Mode, OFlags, Timespec, Timestamps};
use rustix::io::Errno;

use crate::entry::{self, Kind, ParseError};
use crate::fsutil::{open_dir_at, open_dir_path, remove_all_at};
use crate::xattr::{self, Target};
use crate::{Error, ErrorKind, Result};

/// Whiteout file prefix (`.wh.<name>` deletes `<name>`).
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// AUFS metadata prefix; such entries at the top level are skipped.
pub const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
/// Marks its directory opaque: lower layers' children are hidden.
pub const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
/// The xattr overlayfs reads to treat an upper directory as opaque.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Data copy buffer: large reads keep syscalls per byte low for big files.
const COPY_BUFFER: usize = 1 << 20;
/// Parent directory fds kept open; tar streams are grouped by directory, so
/// a small cache catches nearly every lookup.
const PARENT_CACHE: usize = 256;

/// How deletions in a layer are represented on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutFormat {
    /// As overlayfs expects in an upper dir: a 0/0 character device for a
    /// deleted path, `trusted.overlay.opaque=y` on an opaque directory.
    Overlay,
    /// Apply deletions to the destination tree directly (the destination
    /// already holds the lower layers' content).
    Naive,
}

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub whiteouts: WhiteoutFormat,
    /// Refuse the layer once this many bytes (file data, plus any trailing
    /// data after the end-of-archive marker) have been read: a guard against
    /// decompression bombs.
    pub max_bytes: Option<u64>,
}

impl ApplyOptions {
    pub fn new(whiteouts: WhiteoutFormat) -> Self {
        ApplyOptions {
            whiteouts,
            max_bytes: None,
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ApplyStats {
    /// Tar entries processed (whiteouts included).
    pub entries: u64,
    /// File data bytes written.
    pub bytes: u64,
}

/// Applies one layer tar stream onto `dest`, a trusted host directory (the
/// snapshot's writable dir). On error `dest` may hold part of the layer; the
/// caller discards the snapshot. Nothing outside `dest` is ever touched.
///
/// The stream is read to its end (past the end-of-archive marker) so that a
/// caller hashing it sees every byte, as containerd's applier does.
pub fn apply_layer(dest: &Path, r: impl Read, opts: &ApplyOptions) -> Result<ApplyStats> {
    let shown_dest = format!("{}", dest.display());
    let root =
        pathrs::Root::open(dest).map_err(|e| Error::pathrs("apply layer: open", &shown_dest, e))?;
    let root_path_fd = rustix::io::fcntl_dupfd_cloexec(&root, 0)
        .map_err(|e| Error::errno("apply layer: dup", &shown_dest, e))?;
    let root_dir =
        open_dir_path(dest).map_err(|e| Error::io_what("apply layer: open", &shown_dest, e))?;
    let mut ap = Applier {
        root,
        root_fd: Rc::new(root_path_fd),
        root_dir,
        opts: opts.clone(),
        cache: HashMap::new(),
        layer_symlinks: HashSet::new(),
        unpacked: match opts.whiteouts {
            WhiteoutFormat::Naive => Some(HashSet::new()),
            WhiteoutFormat::Overlay => None,
        },
        dirs: Vec::new(),
        buf: vec![0u8; COPY_BUFFER],
        stats: ApplyStats::default(),
        privileged: rustix::process::geteuid().is_root(),
    };
    let mut archive = tar::Archive::new(crate::guard::HeaderGuard::new(r));
    {
        let entries = archive.entries().map_err(stream_err)?;
        for entry in entries {
            let mut entry = entry.map_err(stream_err)?;
            ap.entry(&mut entry)?;
        }
    }
    ap.finish_dirs()?;
    let mut rest = archive.into_inner();
    ap.drain(&mut rest)?;
    Ok(ap.stats)
}

fn stream_err(e: std::io::Error) -> Error {
    match e.raw_os_error() {
        // The reader below us failed (a tee that ran out of space, say).
        Some(_) => Error::io_what("apply layer: read", "tar stream", e),
        // Anything else is the stream itself: truncated, corrupt, not tar.
        None => Error::new(
            ErrorKind::InvalidArgument,
            format!("apply layer: invalid or truncated tar stream: {e}"),
        ),
    }
}

fn invalid(entry: &str, why: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("apply layer: entry {entry:?}: {why}"),
    )
}

/// Lexically cleans a tar name into components, as Go's `filepath.Clean`
/// followed by Docker's breakout check: a leading `/` is dropped (the name
/// is taken relative to the layer root, and `..` at the root stays at the
/// root), but a relative name whose `..` climbs above the root is refused.
pub(crate) fn clean(raw: &[u8]) -> std::result::Result<Vec<&[u8]>, &'static str> {
    if raw.contains(&0) {
        return Err("name contains a NUL byte");
    }
    let absolute = raw.first() == Some(&b'/');
    let mut out: Vec<&[u8]> = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() && !absolute {
                    return Err("path climbs out of the layer root");
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

fn join(comps: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            v.push(b'/');
        }
        v.extend_from_slice(c);
    }
    v
}

fn shown(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    times: Timestamps,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

struct DeferredDir {
    path: Vec<u8>,
    mode: u32,
    times: Timestamps,
}

struct Applier {
    root: pathrs::Root,
    /// `O_PATH` fd of `dest`, the parent of top-level entries.
    root_fd: Rc<OwnedFd>,
    /// A readable fd of `dest`, for metadata on the layer root itself.
    root_dir: OwnedFd,
    opts: ApplyOptions,
    cache: HashMap<Vec<u8>, Rc<OwnedFd>>,
    /// Symlinks created by this layer; writing through them is refused.
    layer_symlinks: HashSet<Vec<u8>>,
    /// Paths this layer created (and their ancestors), for naive opaque
    /// directories; None in overlay format, where it is not needed.
    unpacked: Option<HashSet<Vec<u8>>>,
    dirs: Vec<DeferredDir>,
    buf: Vec<u8>,
    stats: ApplyStats,
    privileged: bool,
}

fn ts(sec: i64, nsec: i64) -> Timespec {
    Timespec {
        tv_sec: sec as _,
        tv_nsec: nsec as _,
    }
}

impl Applier {
    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<()> {
        let p = match entry::parse(e) {
            Ok(Some(p)) => p,
            // A PAX global header: git-archive writes one; Docker and
            // containerd ignore them.
            Ok(None) => return Ok(()),
            Err(ParseError::Stream(err)) => return Err(stream_err(err)),
            Err(ParseError::Invalid { name, why }) => return Err(invalid(&shown(&name), why)),
        };
        let raw = p.raw;
        let name = shown(&raw);
        self.stats.entries += 1;
        let comps = clean(&raw).map_err(|why| invalid(&name, why))?;
        let (msec, mnsec) = p.mtime;
        // containerd sets atime to the later of atime and mtime.
        let (asec, ansec) = match p.atime {
            Some(a) if a > (msec, mnsec) => a,
            _ => (msec, mnsec),
        };
        let meta = Meta {
            mode: p.mode,
            uid: p.uid,
            gid: p.gid,
            times: Timestamps {
                last_access: ts(asec, ansec),
                last_modification: ts(msec, mnsec),
            },
            xattrs: p.xattrs,
        };
        let kind = p.kind;

        // Docker's UnpackLayer skips AUFS metadata at the layer root
        // (`.wh..wh.plnk`, `.wh..wh.aufs`), but not a root opaque marker.
        if let Some(first) = comps.first()
            && first.starts_with(WHITEOUT_META_PREFIX.as_bytes())
            && !(comps.len() == 1 && *first == WHITEOUT_OPAQUE.as_bytes())
        {
            tracing::debug!(entry = %name, "skipping aufs metadata");
            return Ok(());
        }

        let Some((base, parent)) = comps.split_last() else {
            return match kind {
                Kind::Dir => self.root_dir_meta(&meta, &name),
                _ => Err(invalid(
                    &name,
                    "a non-directory cannot replace the layer root",
                )),
            };
        };
        self.check_no_layer_symlink(parent, &name)?;

        if base.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            return self.whiteout(parent, base, &meta, &name);
        }

        if let Kind::Hardlink(target) = &kind {
            let tcomps = clean(target).map_err(|why| {
                invalid(&name, format!("hardlink target {:?}: {why}", shown(target)))
            })?;
            if tcomps == comps {
                // A link to itself: nothing to do (replacing it first would
                // delete the very file it names).
                return Ok(());
            }
        }

        let pfd = self.parent(parent, true, &name)?;
        let key = join(&comps);
        let is_dir_entry = matches!(kind, Kind::Dir);
        let mut exists_as_dir = false;
        match rfs::statat(
            pfd.as_fd(),
            OsStr::from_bytes(base),
            AtFlags::SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => {
                let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
                if is_dir && is_dir_entry {
                    exists_as_dir = true;
                } else {
                    // Docker: "If path exits we almost always just want to
                    // remove and replace it. The only exception is when it
                    // is a directory *and* the file from the layer is also a
                    // directory."
                    remove_all_at(pfd.as_fd(), OsStr::from_bytes(base)).map_err(|e| {
                        Error::errno("apply layer: replace", &format!("{name:?}"), e)
                    })?;
                    self.forget_under(&key);
                    self.cache.clear();
                }
            }
            Err(Errno::NOENT) => {}
            Err(e) => return Err(Error::errno("apply layer: stat", &format!("{name:?}"), e)),
        }

        let bname = OsStr::from_bytes(base);
        match kind {
            Kind::Dir => {
                if !exists_as_dir {
                    // Owner-writable until the end, so later entries can be
                    // created even when the final mode forbids it.
                    rfs::mkdirat(
                        pfd.as_fd(),
                        bname,
                        Mode::from_raw_mode((meta.mode | 0o700) & 0o777),
                    )
                    .map_err(|e| Error::errno("apply layer: mkdir", &format!("{name:?}"), e))?;
                }
                let dfd = open_dir_at(pfd.as_fd(), bname)
                    .map_err(|e| Error::errno("apply layer: open", &format!("{name:?}"), e))?;
                self.chown(
                    rfs::fchown(
                        dfd.as_fd(),
                        Some(rfs::Uid::from_raw(meta.uid)),
                        Some(rfs::Gid::from_raw(meta.gid)),
                    ),
                    &name,
                )?;
                self.set_xattrs(Target::Fd(dfd.as_fd()), &meta, &name, true)?;
                self.dirs.push(DeferredDir {
                    path: key.clone(),
                    mode: meta.mode,
                    times: meta.times.clone(),
                });
            }
            Kind::File => {
                let size = e.size();
                if let Some(max) = self.opts.max_bytes
                    && self.stats.bytes.saturating_add(size) > max
                {
                    return Err(too_big(&name, max));
                }
                let fd = rfs::openat(
                    pfd.as_fd(),
                    bname,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC
                        | OFlags::NOCTTY,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|err| Error::errno("apply layer: create", &format!("{name:?}"), err))?;
                let mut f = File::from(fd);
                let n = self.copy_data(e, &mut f, &name)?;
                if n < size {
                    return Err(invalid(&name, format!("truncated: {n} of {size} bytes")));
                }
                self.chown(
                    rfs::fchown(
                        &f,
                        Some(rfs::Uid::from_raw(meta.uid)),
                        Some(rfs::Gid::from_raw(meta.gid)),
                    ),
                    &name,
                )?;
                rfs::fchmod(&f, Mode::from_raw_mode(meta.mode))
                    .map_err(|err| Error::errno("apply layer: chmod", &format!("{name:?}"), err))?;
                self.set_xattrs(Target::Fd(f.as_fd()), &meta, &name, true)?;
                rfs::futimens(&f, &meta.times).map_err(|err| {
                    Error::errno("apply layer: set times", &format!("{name:?}"), err)
                })?;
            }
            Kind::Symlink(target) => {
                // Stored verbatim: the target is only ever interpreted by the
                // container (or by RESOLVE_IN_ROOT lookups), never here.
                rfs::symlinkat(OsStr::from_bytes(&target), pfd.as_fd(), bname).map_err(|err| {
                    Error::errno("apply layer: symlink", &format!("{name:?}"), err)
                })?;
                self.node_meta(pfd.as_fd(), bname, &meta, &name, false)?;
                self.layer_symlinks.insert(key.clone());
            }
            Kind::Hardlink(target) => {
                let tcomps = clean(&target).map_err(|why| {
                    invalid(
                        &name,
                        format!("hardlink target {:?}: {why}", shown(&target)),
                    )
                })?;
                let Some((tbase, tparent)) = tcomps.split_last() else {
                    return Err(invalid(&name, "hardlink to the layer root"));
                };
                self.check_no_layer_symlink(tparent, &name)?;
                let tfd = match self.parent(tparent, false, &name) {
                    Ok(fd) => fd,
                    Err(err)
                        if err.kind() == ErrorKind::NotFound
                            || err.kind() == ErrorKind::InvalidArgument =>
                    {
                        return Err(invalid(
                            &name,
                            format!("hardlink target {:?} does not exist", shown(&target)),
                        ));
                    }
                    Err(err) => return Err(err),
                };
                match rfs::linkat(
                    tfd.as_fd(),
                    OsStr::from_bytes(tbase),
                    pfd.as_fd(),
                    bname,
                    AtFlags::empty(),
                ) {
                    Ok(()) => {}
                    Err(Errno::NOENT) => {
                        return Err(invalid(
                            &name,
                            format!("hardlink target {:?} does not exist", shown(&target)),
                        ));
                    }
                    Err(Errno::PERM) => {
                        return Err(invalid(
                            &name,
                            format!(
                                "hardlink target {:?} is a directory or not linkable",
                                shown(&target)
                            ),
                        ));
                    }
                    Err(err) => {
                        return Err(Error::errno("apply layer: link", &format!("{name:?}"), err));
                    }
                }
            }
            Kind::Device(t, major, minor) => {
                match rfs::mknodat(
                    pfd.as_fd(),
                    bname,
                    t,
                    Mode::from_raw_mode(meta.mode),
                    rfs::makedev(major, minor),
                ) {
                    Ok(()) => {}
                    // Without CAP_MKNOD (rootless), moby skips device nodes.
                    Err(Errno::PERM) if !self.privileged => {
                        tracing::warn!(entry = %name, "cannot create device node without privileges; skipped");
                        return Ok(());
                    }
                    Err(err) => {
                        return Err(Error::errno(
                            "apply layer: mknod",
                            &format!("{name:?}"),
                            err,
                        ));
                    }
                }
                self.node_meta(pfd.as_fd(), bname, &meta, &name, true)?;
            }
            Kind::Fifo => {
                rfs::mknodat(
                    pfd.as_fd(),
                    bname,
                    FileType::Fifo,
                    Mode::from_raw_mode(meta.mode),
                    0,
                )
                .map_err(|err| Error::errno("apply layer: mkfifo", &format!("{name:?}"), err))?;
                self.node_meta(pfd.as_fd(), bname, &meta, &name, true)?;
            }
        }
        self.mark_unpacked(&comps);
        Ok(())
    }

    /// Refuses to go through a symlink this layer created (`a -> /etc` then
    /// `a/passwd`): the classic tar escape, and never what a real layer means.
    fn check_no_layer_symlink(&self, comps: &[&[u8]], name: &str) -> Result<()> {
        if self.layer_symlinks.is_empty() {
            return Ok(());
        }
        let mut p = Vec::new();
        for c in comps {
            if !p.is_empty() {
                p.push(b'/');
            }
            p.extend_from_slice(c);
            if self.layer_symlinks.contains(&p) {
                return Err(invalid(
                    name,
                    format!(
                        "refusing to write through symlink {:?} created earlier in this layer",
                        shown(&p)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn forget_under(&mut self, key: &[u8]) {
        if self.layer_symlinks.is_empty() {
            return;
        }
        self.layer_symlinks.retain(|p| {
            !(p.as_slice() == key || (p.starts_with(key) && p.get(key.len()) == Some(&b'/')))
        });
    }

    fn mark_unpacked(&mut self, comps: &[&[u8]]) {
        let Some(set) = self.unpacked.as_mut() else {
            return;
        };
        // Ancestors count as part of this layer: an opaque marker for a
        // directory above must not remove a directory this layer wrote into.
        for i in (1..=comps.len()).rev() {
            if !set.insert(join(&comps[..i])) && i < comps.len() {
                break;
            }
        }
    }

    /// The directory holding an entry, resolved inside `dest`. Missing
    /// parents are created 0755 as Docker's `MkdirAll` does when `create`.
    fn parent(&mut self, comps: &[&[u8]], create: bool, name: &str) -> Result<Rc<OwnedFd>> {
        if comps.is_empty() {
            return Ok(self.root_fd.clone());
        }
        let key = join(comps);
        if let Some(fd) = self.cache.get(&key) {
            return Ok(fd.clone());
        }
        let path = Path::new(OsStr::from_bytes(&key));
        let handle = match self.root.resolve(path) {
            Ok(h) => h,
            Err(e)
                if create && e.kind() == pathrs::error::ErrorKind::OsError(Some(libc::ENOENT)) =>
            {
                self.root
                    .mkdir_all(path, &std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| {
                        Error::pathrs("apply layer: create parent of", &format!("{name:?}"), e)
                    })?
            }
            Err(e) => {
                return Err(Error::pathrs(
                    "apply layer: resolve parent of",
                    &format!("{name:?}"),
                    e,
                ));
            }
        };
        let fd = OwnedFd::from(handle);
        let st = rfs::fstat(&fd)
            .map_err(|e| Error::errno("apply layer: stat parent of", &format!("{name:?}"), e))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
            return Err(invalid(
                name,
                format!("parent {:?} is not a directory", shown(&key)),
            ));
        }
        let fd = Rc::new(fd);
        if self.cache.len() >= PARENT_CACHE {
            self.cache.clear();
        }
        self.cache.insert(key, fd.clone());
        Ok(fd)
    }

    fn whiteout(&mut self, parent: &[&[u8]], base: &[u8], meta: &Meta, name: &str) -> Result<()> {
        if base == WHITEOUT_OPAQUE.as_bytes() {
            let pfd = match self.opts.whiteouts {
                WhiteoutFormat::Overlay => self.parent(parent, true, name)?,
                WhiteoutFormat::Naive => match self.parent(parent, false, name) {
                    Ok(fd) => fd,
                    Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                    Err(e) => return Err(e),
                },
            };
            let dir = rfs::openat(
                pfd.as_fd(),
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::errno("apply layer: open", &format!("{name:?}"), e))?;
            return match self.opts.whiteouts {
                WhiteoutFormat::Overlay => xattr::set(
                    Target::Fd(dir.as_fd()),
                    OsStr::new(OVERLAY_OPAQUE_XATTR),
                    b"y",
                )
                .map_err(|e| Error::errno("apply layer: mark opaque", &format!("{name:?}"), e)),
                WhiteoutFormat::Naive => {
                    let r = self.remove_lower_children(dir, join(parent), name);
                    self.cache.clear();
                    r
                }
            };
        }

        let target = &base[WHITEOUT_PREFIX.len()..];
        if target.is_empty() || target == b"." || target == b".." {
            return Err(invalid(name, "invalid whiteout name"));
        }
        let tname = OsStr::from_bytes(target);
        let mut tcomps: Vec<&[u8]> = parent.to_vec();
        tcomps.push(target);
        let tkey = join(&tcomps);
        match self.opts.whiteouts {
            WhiteoutFormat::Overlay => {
                let pfd = self.parent(parent, true, name)?;
                remove_all_at(pfd.as_fd(), tname)
                    .map_err(|e| Error::errno("apply layer: replace", &format!("{name:?}"), e))?;
                rfs::mknodat(
                    pfd.as_fd(),
                    tname,
                    FileType::CharacterDevice,
                    Mode::empty(),
                    rfs::makedev(0, 0),
                )
                .map_err(|e| {
                    Error::errno("apply layer: create whiteout", &format!("{name:?}"), e)
                })?;
                // containerd gives the whiteout the entry's owner.
                self.chown(
                    rfs::chownat(
                        pfd.as_fd(),
                        tname,
                        Some(rfs::Uid::from_raw(meta.uid)),
                        Some(rfs::Gid::from_raw(meta.gid)),
                        AtFlags::SYMLINK_NOFOLLOW,
                    ),
                    name,
                )?;
            }
            WhiteoutFormat::Naive => {
                let pfd = match self.parent(parent, false, name) {
                    Ok(fd) => fd,
                    // Nothing below a missing (or non-directory) parent to delete.
                    Err(e)
                        if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidArgument) =>
                    {
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                };
                remove_all_at(pfd.as_fd(), tname)
                    .map_err(|e| Error::errno("apply layer: remove", &format!("{name:?}"), e))?;
            }
        }
        self.forget_under(&tkey);
        self.cache.clear();
        Ok(())
    }

    /// Naive opaque directory: remove what lower layers put below `dir`,
    /// keeping what this layer already wrote there.
    fn remove_lower_children(&mut self, dir: OwnedFd, key: Vec<u8>, name: &str) -> Result<()> {
        let unpacked = self
            .unpacked
            .as_ref()
            .expect("naive format tracks unpacked paths");
        struct Frame {
            fd: OwnedFd,
            key: Vec<u8>,
            names: Vec<Vec<u8>>,
        }
        let list = |fd: BorrowedFd<'_>| -> std::result::Result<Vec<Vec<u8>>, Errno> {
            let mut d = Dir::read_from(fd)?;
            let mut names = Vec::new();
            while let Some(ent) = d.read() {
                let n = ent?.file_name().to_bytes().to_vec();
                if n != b"." && n != b".." {
                    names.push(n);
                }
            }
            Ok(names)
        };
        let err = |e| Error::errno("apply layer: opaque", &format!("{name:?}"), e);
        let names = list(dir.as_fd()).map_err(err)?;
        let mut stack = vec![Frame {
            fd: dir,
            key,
            names,
        }];
        while let Some(top) = stack.last_mut() {
            let Some(child) = top.names.pop() else {
                stack.pop();
                continue;
            };
            let mut ck = top.key.clone();
            if !ck.is_empty() {
                ck.push(b'/');
            }
            ck.extend_from_slice(&child);
            let cname = OsStr::from_bytes(&child);
            if !unpacked.contains(&ck) {
                remove_all_at(top.fd.as_fd(), cname).map_err(err)?;
                continue;
            }
            match open_dir_at(top.fd.as_fd(), cname) {
                Ok(sub) => {
                    let names = list(sub.as_fd()).map_err(err)?;
                    stack.push(Frame {
                        fd: sub,
                        key: ck,
                        names,
                    });
                }
                Err(Errno::NOTDIR | Errno::LOOP | Errno::NOENT) => {}
                Err(e) => return Err(err(e)),
            }
        }
        Ok(())
    }

    fn copy_data(&mut self, r: &mut impl Read, out: &mut File, name: &str) -> Result<u64> {
        use crate::entry::CopyError;
        crate::entry::copy_bounded(
            r,
            out,
            &mut self.buf,
            &mut self.stats.bytes,
            self.opts.max_bytes,
        )
        .map_err(|e| match e {
            CopyError::Read(e) => stream_err(e),
            CopyError::Over(max) => too_big(name, max),
            CopyError::Write(e) => Error::io_what("apply layer: write", &format!("{name:?}"), e),
        })
    }

    fn drain(&mut self, r: &mut impl Read) -> Result<()> {
        crate::entry::drain_trailer(
            r,
            &mut self.buf,
            self.stats.bytes,
            self.opts.max_bytes,
            stream_err,
            |max| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "apply layer: stream exceeds the {max}-byte limit after the end of the archive"
                    ),
                )
            },
        )
    }

    /// As root a failed chown is a real error; unprivileged (rootless)
    /// callers cannot give files away and keep their own ids, as moby does.
    fn chown(&self, r: std::result::Result<(), Errno>, name: &str) -> Result<()> {
        match r {
            Ok(()) => Ok(()),
            Err(Errno::PERM | Errno::INVAL) if !self.privileged => Ok(()),
            Err(e) => Err(Error::errno("apply layer: chown", &format!("{name:?}"), e)),
        }
    }

    fn set_xattrs(
        &self,
        t: Target<'_>,
        meta: &Meta,
        name: &str,
        regular_or_dir: bool,
    ) -> Result<()> {
        for (k, v) in &meta.xattrs {
            // Overlay's own metadata is never taken from a layer: a forged
            // `trusted.overlay.redirect`/`opaque`/`metacopy` would let a
            // layer rewire what the merged view shows.
            if k.starts_with(b"trusted.overlay.") || k.starts_with(b"user.overlay.") {
                tracing::warn!(entry = %name, key = %shown(k), "ignored overlay xattr in layer");
                continue;
            }
            match xattr::set(t, OsStr::from_bytes(k), v) {
                Ok(()) => {}
                Err(Errno::NOTSUP) => {
                    tracing::warn!(entry = %name, key = %shown(k), "xattr not supported here; ignored");
                }
                // Unprivileged: security.*/trusted.* need CAP_SYS_ADMIN; the
                // kernel refuses user.* on symlinks and device nodes.
                Err(Errno::PERM)
                    if (!self.privileged
                        && (k.starts_with(b"security.") || k.starts_with(b"trusted.")))
                        || (!regular_or_dir && k.starts_with(b"user.")) =>
                {
                    tracing::warn!(entry = %name, key = %shown(k), "xattr not permitted; ignored");
                }
                Err(e) => {
                    return Err(Error::errno(
                        "apply layer: set xattr",
                        &format!("{:?} on {name:?}", shown(k)),
                        e,
                    ));
                }
            }
        }
        Ok(())
    }

    /// Metadata by name for things we do not open: symlinks and nodes.
    fn node_meta(
        &self,
        dir: BorrowedFd<'_>,
        bname: &OsStr,
        meta: &Meta,
        name: &str,
        chmod: bool,
    ) -> Result<()> {
        self.chown(
            rfs::chownat(
                dir,
                bname,
                Some(rfs::Uid::from_raw(meta.uid)),
                Some(rfs::Gid::from_raw(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            ),
            name,
        )?;
        self.set_xattrs(Target::At(dir, bname), meta, name, false)?;
        if chmod {
            // We just created this node with mknodat, so it is no symlink.
            rfs::chmodat(dir, bname, Mode::from_raw_mode(meta.mode), AtFlags::empty())
                .map_err(|e| Error::errno("apply layer: chmod", &format!("{name:?}"), e))?;
        }
        rfs::utimensat(dir, bname, &meta.times, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| Error::errno("apply layer: set times", &format!("{name:?}"), e))
    }

    fn root_dir_meta(&mut self, meta: &Meta, name: &str) -> Result<()> {
        let fd = rustix::io::fcntl_dupfd_cloexec(&self.root_dir, 0)
            .map_err(|e| Error::errno("apply layer: dup", &format!("{name:?}"), e))?;
        self.chown(
            rfs::fchown(
                &fd,
                Some(rfs::Uid::from_raw(meta.uid)),
                Some(rfs::Gid::from_raw(meta.gid)),
            ),
            name,
        )?;
        self.set_xattrs(Target::Fd(fd.as_fd()), meta, name, true)?;
        self.dirs.push(DeferredDir {
            path: Vec::new(),
            mode: meta.mode,
            times: meta.times.clone(),
        });
        Ok(())
    }

    /// Directory modes and times last: creating children changes a
    /// directory's mtime, and a read-only mode would block later entries.
    fn finish_dirs(&mut self) -> Result<()> {
        let dirs = std::mem::take(&mut self.dirs);
        for d in dirs {
            let shown_path = shown(&d.path);
            let fd = if d.path.is_empty() {
                rustix::io::fcntl_dupfd_cloexec(&self.root_dir, 0)
                    .map_err(|e| Error::errno("apply layer: dup", &format!("{shown_path:?}"), e))?
            } else {
                let comps: Vec<&[u8]> = d.path.split(|b| *b == b'/').collect();
                let (base, parent) = comps.split_last().expect("non-empty path");
                // A directory later replaced by (or moved under) a symlink of
                // this layer is not ours to touch any more.
                if self.check_no_layer_symlink(&comps, &shown_path).is_err() {
                    continue;
                }
                let pfd = match self.parent(parent, false, &shown_path) {
                    Ok(fd) => fd,
                    Err(e)
                        if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidArgument) =>
                    {
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                match open_dir_at(pfd.as_fd(), OsStr::from_bytes(base)) {
                    Ok(fd) => fd,
                    // Removed or replaced by a non-directory later on.
                    Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
                    Err(e) => {
                        return Err(Error::errno(
                            "apply layer: open",
                            &format!("{shown_path:?}"),
                            e,
                        ));
                    }
                }
            };
            rfs::fchmod(&fd, Mode::from_raw_mode(d.mode))
                .map_err(|e| Error::errno("apply layer: chmod", &format!("{shown_path:?}"), e))?;
            rfs::futimens(&fd, &d.times).map_err(|e| {
                Error::errno("apply layer: set times", &format!("{shown_path:?}"), e)
            })?;
        }
        Ok(())
    }
}

fn too_big(name: &str, max: u64) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("apply layer: entry {name:?}: layer exceeds the {max}-byte limit"),
    )
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
