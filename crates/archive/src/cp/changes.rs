//! `docker diff`: what a container changed, as dockerd reports it.
//!
//! dockerd (20.10 and today, overlay2 and the containerd snapshotters
//! alike) computes it with go-archive's `ChangesDirs(containerRoot,
//! parentRoot)` on the two *merged* views: every path of the new tree
//! missing from the old one is Added (and everything below it), every path
//! of the old one missing from the new one is Deleted (only the top of a
//! deleted subtree), a path in both is Modified when `statDifferent` says so
//! (mode, uid, gid, rdev, and for non-directories mtime and size) or its
//! `security.capability` differs, and a directory with any change below it
//! that is not itself Added or Modified is reported Modified.
//!
//! `changes_overlay` derives exactly that from an overlay upper directory
//! and its lower directories without walking the image: a path can only
//! differ between the two views if the upper dir has something at it (an
//! entry, a whiteout, an opaque or redirected directory), so the walk
//! follows the upper dir and looks each name up in the lowers (nearest
//! first, honouring their whiteouts and opaque directories as overlayfs
//! does). Lower directories are listed only where the merged view really
//! hides or moves them (opaque and redirected directories).
//!
//! `changes_naive` is `ChangesDirs` itself on two full trees, with its
//! pruning of entries whose inode is the same on the same device.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, RawDir, Stat};
use rustix::io::Errno;

use super::gopath::lossy;
use crate::apply::{OVERLAY_OPAQUE_XATTR, WHITEOUT_META_PREFIX, WHITEOUT_OPAQUE, WHITEOUT_PREFIX};
use crate::xattr::{self, Target};
use crate::{Error, Result};

/// Docker's `archive.ChangeType`: Modified 0, Added 1, Deleted 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Modified,
    Added,
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Absolute, "/etc/passwd".
    pub path: String,
    pub kind: ChangeKind,
}

const OVERLAY_REDIRECT_XATTR: &str = "trusted.overlay.redirect";
const USER_OPAQUE_XATTR: &str = "user.overlay.opaque";
const USER_REDIRECT_XATTR: &str = "user.overlay.redirect";
const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFCHR: u32 = 0o020000;

/// `docker diff` from an overlay upper dir and its lower dirs (nearest
/// first), in time proportional to the upper dir. Sorted by path.
pub fn changes_overlay(upper: &Path, lowers: &[PathBuf]) -> Result<Vec<Change>> {
    let upper_fd = open_path(upper)?;
    let mut roots = Vec::with_capacity(lowers.len());
    for l in lowers {
        roots.push(open_path(l)?);
    }
    let mut d = Differ::new(true, roots.iter().map(dup).collect::<Result<_>>()?);
    d.run(Frame {
        upper: Some(upper_fd),
        new_lower: NewLower::Same,
        old: roots,
        path: Vec::new(),
        added: false,
        reported: false,
        mark: 0,
    })?;
    Ok(d.finish())
}

/// `docker diff` for a snapshotter without an upper dir: `rw` is the
/// container's full tree, `base` its parent's (go-archive `ChangesDirs`).
/// Sorted by path.
pub fn changes_naive(rw: &Path, base: &Path) -> Result<Vec<Change>> {
    let rw_fd = open_path(rw)?;
    let base_fd = open_path(base)?;
    let (a, b) = (fstat(&rw_fd, rw)?, fstat(&base_fd, base)?);
    let mut d = Differ::new(false, Vec::new());
    d.same_device = a.st_dev == b.st_dev;
    d.run(Frame {
        upper: Some(rw_fd),
        new_lower: NewLower::Stack(Vec::new()),
        old: vec![base_fd],
        path: Vec::new(),
        added: false,
        reported: false,
        mark: 0,
    })?;
    Ok(d.finish())
}

fn open_path(p: &Path) -> Result<OwnedFd> {
    rfs::open(
        p,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::go("open", &p.display().to_string(), e))
}

fn dup(fd: &OwnedFd) -> Result<OwnedFd> {
    rustix::io::fcntl_dupfd_cloexec(fd, 0).map_err(|e| Error::go("dup", "dir", e))
}

fn fstat(fd: &OwnedFd, p: &Path) -> Result<Stat> {
    rfs::fstat(fd).map_err(|e| Error::go("stat", &p.display().to_string(), e))
}

/// What the lower layers contribute to the *new* (merged) view of a
/// directory.
enum NewLower {
    /// Exactly the old view's directories: names the upper dir does not
    /// have are the same in both views and need no look.
    Same,
    /// These directories (none for an opaque or new directory, another
    /// path's for a redirected one, nothing at all in naive mode).
    Stack(Vec<OwnedFd>),
}

struct Frame {
    /// The upper (or rw) directory at this path, if it has one.
    upper: Option<OwnedFd>,
    new_lower: NewLower,
    /// The old view's directories at this path (lower stack; the base dir
    /// in naive mode); empty when the path is new or was not a directory.
    old: Vec<OwnedFd>,
    /// "" for the root, "/a/b" below.
    path: Vec<u8>,
    /// This directory was reported Added: so is everything below it.
    added: bool,
    /// This directory was reported (Added or Modified) itself.
    reported: bool,
    /// `changes.len()` when the frame started.
    mark: usize,
}

/// Where the new view's object of a name lives.
#[derive(Clone, Copy)]
enum Src {
    Upper,
    /// Index into the frame's `NewLower::Stack`.
    Lower(usize),
}

struct Work {
    name: Vec<u8>,
    action: Action,
}

enum Action {
    /// Present in the new view (stat taken from `src`).
    New(Src, Stat),
    /// Absent from the new view (a whiteout, or hidden): Deleted if the old
    /// view has it.
    Gone,
    /// Known to be in the old view and not in the new one.
    Deleted,
}

struct Listed {
    name: Vec<u8>,
    ino: u64,
    dtype: FileType,
}

struct Differ {
    overlay: bool,
    /// Lower roots, for redirects (overlay mode).
    lower_roots: Vec<OwnedFd>,
    same_device: bool,
    changes: Vec<Change>,
    dents: Vec<MaybeUninit<u8>>,
}

fn is_whiteout(st: &Stat) -> bool {
    st.st_mode & S_IFMT == S_IFCHR && st.st_rdev == 0
}

fn same_time(a: (i64, u64), b: (i64, u64)) -> bool {
    a.0 == b.0 && (a.1 == b.1 || a.1 == 0 || b.1 == 0)
}

/// go-archive's `statDifferent` (20.10, on the raw `st_mode`).
fn stat_different(old: &Stat, new: &Stat) -> bool {
    old.st_mode != new.st_mode
        || old.st_uid != new.st_uid
        || old.st_gid != new.st_gid
        || old.st_rdev != new.st_rdev
        || (old.st_mode & S_IFDIR != S_IFDIR
            && (!same_time(
                (old.st_mtime, old.st_mtime_nsec),
                (new.st_mtime, new.st_mtime_nsec),
            ) || old.st_size != new.st_size))
}

fn join_path(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(parent.len() + name.len() + 1);
    v.extend_from_slice(parent);
    v.push(b'/');
    v.extend_from_slice(name);
    v
}

fn open_dir(dir: BorrowedFd<'_>, name: &[u8]) -> std::result::Result<OwnedFd, Errno> {
    rfs::openat(
        dir,
        OsStr::from_bytes(name),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn statat(dir: BorrowedFd<'_>, name: &[u8]) -> std::result::Result<Option<Stat>, Errno> {
    match rfs::statat(dir, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT | Errno::NOTDIR) => Ok(None),
        Err(e) => Err(e),
    }
}

fn capability(dir: BorrowedFd<'_>, name: &[u8]) -> Option<Vec<u8>> {
    xattr::get(
        Target::At(dir, OsStr::from_bytes(name)),
        OsStr::new("security.capability"),
    )
    .ok()
}

impl Differ {
    fn new(overlay: bool, lower_roots: Vec<OwnedFd>) -> Self {
        Differ {
            overlay,
            lower_roots,
            same_device: false,
            changes: Vec::new(),
            dents: vec![MaybeUninit::uninit(); 64 << 10],
        }
    }

    fn finish(mut self) -> Vec<Change> {
        self.changes.sort_by(|a, b| a.path.cmp(&b.path));
        self.changes
    }

    fn push(&mut self, path: &[u8], kind: ChangeKind) {
        self.changes.push(Change {
            path: lossy(path),
            kind,
        });
    }

    fn err(&self, op: &str, path: &[u8], e: Errno) -> Error {
        let shown = if path.is_empty() {
            "/".to_string()
        } else {
            lossy(path)
        };
        Error::go(op, &shown, e)
    }

    fn list(&mut self, fd: BorrowedFd<'_>) -> std::result::Result<Vec<Listed>, Errno> {
        let mut out = Vec::new();
        // From the start, whoever read this descriptor before.
        rfs::seek(fd, rustix::fs::SeekFrom::Start(0))?;
        let mut it = RawDir::new(fd, &mut self.dents[..]);
        while let Some(ent) = it.next() {
            let ent = ent?;
            let n = ent.file_name().to_bytes();
            if n == b"." || n == b".." {
                continue;
            }
            out.push(Listed {
                name: n.to_vec(),
                ino: ent.ino(),
                dtype: ent.file_type(),
            });
        }
        Ok(out)
    }

    /// Overlay metadata of a directory: (opaque, redirect).
    fn dir_flags(&self, fd: BorrowedFd<'_>) -> (bool, Option<Vec<u8>>) {
        if !self.overlay {
            return (false, None);
        }
        let keys = match xattr::list(Target::Fd(fd)) {
            Ok(k) => k,
            Err(_) => return (false, None),
        };
        let mut opaque = false;
        let mut redirect = None;
        for k in keys {
            if k == OVERLAY_OPAQUE_XATTR || k == USER_OPAQUE_XATTR {
                if let Ok(v) = xattr::get(Target::Fd(fd), &k) {
                    opaque |= v == b"y";
                }
            } else if (k == OVERLAY_REDIRECT_XATTR || k == USER_REDIRECT_XATTR)
                && let Ok(v) = xattr::get(Target::Fd(fd), &k)
            {
                redirect = Some(v);
            }
        }
        (opaque, redirect)
    }

    /// The object a stack of directories shows for `name`: the first layer
    /// that has it, unless a whiteout comes first.
    fn lookup(
        &self,
        stack: &[OwnedFd],
        name: &[u8],
    ) -> std::result::Result<Option<(Stat, usize)>, Errno> {
        for (i, fd) in stack.iter().enumerate() {
            if let Some(st) = statat(fd.as_fd(), name)? {
                if self.overlay && is_whiteout(&st) {
                    return Ok(None);
                }
                return Ok(Some((st, i)));
            }
        }
        Ok(None)
    }

    /// The directories a stack merges for `name` (overlayfs' lookup: down
    /// through directories, stopping at a whiteout, an opaque directory or
    /// a non-directory).
    fn sub_stack(
        &self,
        stack: &[OwnedFd],
        name: &[u8],
    ) -> std::result::Result<Vec<OwnedFd>, Errno> {
        let mut out = Vec::new();
        for fd in stack {
            let Some(st) = statat(fd.as_fd(), name)? else {
                continue;
            };
            if st.st_mode & S_IFMT != S_IFDIR {
                break;
            }
            let sub = match open_dir(fd.as_fd(), name) {
                Ok(s) => s,
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => break,
                Err(e) => return Err(e),
            };
            let (opaque, _) = self.dir_flags(sub.as_fd());
            out.push(sub);
            if opaque {
                break;
            }
        }
        Ok(out)
    }

    /// The lower stack at an absolute path (redirect targets).
    fn stack_at(&self, path: &[u8]) -> std::result::Result<Vec<OwnedFd>, Errno> {
        let mut stack: Vec<OwnedFd> = Vec::new();
        for r in &self.lower_roots {
            stack.push(rustix::io::fcntl_dupfd_cloexec(r, 0)?);
        }
        for c in path.split(|b| *b == b'/').filter(|c| !c.is_empty()) {
            stack = self.sub_stack(&stack, c)?;
            if stack.is_empty() {
                break;
            }
        }
        Ok(stack)
    }

    /// The names of the merged view of `stack`, with their inode in the
    /// layer that shows them; whiteouts hide names of the layers below.
    fn merged_names(
        &mut self,
        stack: &[OwnedFd],
    ) -> std::result::Result<HashMap<Vec<u8>, (usize, u64)>, Errno> {
        let mut out: HashMap<Vec<u8>, (usize, u64)> = HashMap::new();
        let mut hidden: HashSet<Vec<u8>> = HashSet::new();
        for (i, fd) in stack.iter().enumerate() {
            for l in self.list(fd.as_fd())? {
                if out.contains_key(&l.name) || hidden.contains(&l.name) {
                    continue;
                }
                if self.overlay
                    && l.dtype == FileType::CharacterDevice
                    && let Some(st) = statat(fd.as_fd(), &l.name)?
                    && is_whiteout(&st)
                {
                    hidden.insert(l.name);
                    continue;
                }
                out.insert(l.name, (i, l.ino));
            }
        }
        Ok(out)
    }

    fn run(&mut self, root: Frame) -> Result<()> {
        // Each stack element: a frame and its pending work.
        let mut stack: Vec<(Frame, Vec<Work>)> = Vec::new();
        let work = self.plan(&root)?;
        stack.push((root, work));
        while let Some((frame, work)) = stack.last_mut() {
            let Some(w) = work.pop() else {
                let (done, _) = stack.pop().expect("stack is not empty");
                // A directory with changes below it is Modified itself,
                // unless already reported (never the root).
                if self.changes.len() > done.mark && !done.reported && !done.path.is_empty() {
                    self.push(&done.path, ChangeKind::Modified);
                }
                continue;
            };
            let path = join_path(&frame.path, &w.name);
            let child = match w.action {
                Action::Deleted => {
                    self.push(&path, ChangeKind::Deleted);
                    None
                }
                Action::Gone => {
                    if !frame.added
                        && self
                            .lookup(&frame.old, &w.name)
                            .map_err(|e| self.err("lstat", &path, e))?
                            .is_some()
                    {
                        self.push(&path, ChangeKind::Deleted);
                    }
                    None
                }
                Action::New(src, st) => self
                    .compare(frame, &w.name, &path, src, st)
                    .map_err(|e| self.err("lstat", &path, e))?,
            };
            if let Some(mut child) = child {
                child.mark = self.changes.len();
                let work = self.plan(&child)?;
                stack.push((child, work));
            }
        }
        Ok(())
    }

    /// Reports `name` (present in the new view) and returns the frame for
    /// its directory, if it is one.
    fn compare(
        &mut self,
        frame: &Frame,
        name: &[u8],
        path: &[u8],
        src: Src,
        st: Stat,
    ) -> std::result::Result<Option<Frame>, Errno> {
        let old = if frame.added {
            None
        } else {
            self.lookup(&frame.old, name)?
        };
        let src_dir: BorrowedFd<'_> = match src {
            Src::Upper => frame.upper.as_ref().expect("upper source").as_fd(),
            Src::Lower(i) => match &frame.new_lower {
                NewLower::Stack(s) => s[i].as_fd(),
                NewLower::Same => frame.old[i].as_fd(),
            },
        };
        let (added, reported) = match &old {
            None => {
                self.push(path, ChangeKind::Added);
                (true, true)
            }
            Some((ost, oi)) => {
                let differs = stat_different(ost, &st)
                    || capability(frame.old[*oi].as_fd(), name) != capability(src_dir, name);
                if differs {
                    self.push(path, ChangeKind::Modified);
                }
                (false, differs)
            }
        };
        if st.st_mode & S_IFMT != S_IFDIR {
            return Ok(None);
        }
        // The child directory's two views.
        let old_is_dir = matches!(&old, Some((ost, _)) if ost.st_mode & S_IFMT == S_IFDIR);
        let child_old = if old_is_dir {
            self.sub_stack(&frame.old, name)?
        } else {
            Vec::new()
        };
        let (child_upper, new_lower) = match src {
            Src::Upper => {
                let up = match open_dir(src_dir, name) {
                    Ok(fd) => fd,
                    Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => return Ok(None),
                    Err(e) => return Err(e),
                };
                let (opaque, redirect) = self.dir_flags(up.as_fd());
                let new_lower = if !self.overlay || opaque {
                    NewLower::Stack(Vec::new())
                } else if let Some(r) = redirect {
                    let target = if r.first() == Some(&b'/') {
                        r
                    } else {
                        join_path(&frame.path, &r)
                    };
                    NewLower::Stack(self.stack_at(&target)?)
                } else {
                    match &frame.new_lower {
                        NewLower::Same if old_is_dir => NewLower::Same,
                        NewLower::Same => NewLower::Stack(self.sub_stack(&frame.old, name)?),
                        NewLower::Stack(s) => NewLower::Stack(self.sub_stack(s, name)?),
                    }
                };
                (Some(up), new_lower)
            }
            Src::Lower(_) => {
                let s = match &frame.new_lower {
                    NewLower::Stack(s) => self.sub_stack(s, name)?,
                    NewLower::Same => self.sub_stack(&frame.old, name)?,
                };
                (None, NewLower::Stack(s))
            }
        };
        Ok(Some(Frame {
            upper: child_upper,
            new_lower,
            old: child_old,
            path: path.to_vec(),
            added: frame.added || added,
            reported,
            mark: 0,
        }))
    }

    /// The work for one directory: the names whose two views may differ.
    fn plan(&mut self, f: &Frame) -> Result<Vec<Work>> {
        let mut work = Vec::new();
        let mut upper_names: Vec<Listed> = match &f.upper {
            Some(u) => self
                .list(u.as_fd())
                .map_err(|e| self.err("readdir", &f.path, e))?,
            None => Vec::new(),
        };
        let mut opaque_marker = false;
        // Upper entries: present objects and whiteouts.
        let mut present: HashSet<Vec<u8>> = HashSet::new();
        let mut gone: HashSet<Vec<u8>> = HashSet::new();
        let mut upper_ino: HashMap<Vec<u8>, u64> = HashMap::new();
        for l in upper_names.drain(..) {
            if self.overlay && l.name.starts_with(WHITEOUT_PREFIX.as_bytes()) {
                if l.name == WHITEOUT_OPAQUE.as_bytes() {
                    opaque_marker = true;
                } else if !l.name.starts_with(WHITEOUT_META_PREFIX.as_bytes()) {
                    gone.insert(l.name[WHITEOUT_PREFIX.len()..].to_vec());
                }
                continue;
            }
            let up = f.upper.as_ref().expect("listed from upper");
            let Some(st) = statat(up.as_fd(), &l.name)
                .map_err(|e| self.err("lstat", &join_path(&f.path, &l.name), e))?
            else {
                continue;
            };
            if self.overlay && is_whiteout(&st) {
                gone.insert(l.name);
                continue;
            }
            upper_ino.insert(l.name.clone(), l.ino);
            present.insert(l.name.clone());
            work.push(Work {
                name: l.name,
                action: Action::New(Src::Upper, st),
            });
        }
        let same = matches!(f.new_lower, NewLower::Same) && !opaque_marker;
        if same {
            // Lower-only names are identical in both views; whiteouts
            // delete what the old view has.
            for g in gone {
                if !present.contains(&g) {
                    work.push(Work {
                        name: g,
                        action: Action::Gone,
                    });
                }
            }
            return Ok(work);
        }
        // The new view is the upper dir plus `new_lower` (or the upper dir
        // alone): list both views fully.
        if !opaque_marker && let NewLower::Stack(s) = &f.new_lower {
            let s_names = self
                .merged_names(s)
                .map_err(|e| self.err("readdir", &f.path, e))?;
            for (name, (i, _)) in s_names {
                if present.contains(&name) || gone.contains(&name) {
                    continue;
                }
                let Some(st) = statat(s[i].as_fd(), &name)
                    .map_err(|e| self.err("lstat", &join_path(&f.path, &name), e))?
                else {
                    continue;
                };
                present.insert(name.clone());
                work.push(Work {
                    name,
                    action: Action::New(Src::Lower(i), st),
                });
            }
        }
        if !f.added && !f.old.is_empty() {
            let old_names = self
                .merged_names(&f.old)
                .map_err(|e| self.err("readdir", &f.path, e))?;
            let mut pruned: HashSet<Vec<u8>> = HashSet::new();
            for (name, (_, ino)) in old_names {
                if !present.contains(&name) {
                    work.push(Work {
                        name,
                        action: Action::Deleted,
                    });
                } else if !self.overlay && self.same_device && upper_ino.get(&name) == Some(&ino) {
                    // ChangesDirs prunes names with the same inode on the
                    // same device: nothing below can differ.
                    pruned.insert(name);
                }
            }
            if !pruned.is_empty() {
                work.retain(|w| !pruned.contains(&w.name));
            }
        }
        Ok(work)
    }
}
