//! fd-relative filesystem helpers shared by the storage crates.
//!
//! Everything below a directory descriptor is reached one name at a time with
//! `O_NOFOLLOW`/`AT_SYMLINK_NOFOLLOW`, so a tree that a container could have
//! written (an overlay upper dir, a naive snapshot) can be walked, measured
//! and removed without ever following a symlink it planted. Walks keep an
//! explicit stack instead of recursing: a container can make a directory
//! chain deep enough to overflow a thread's stack.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;

/// Replaces `path` with `bytes` so that a crash leaves either the old or the
/// new content: temp file in the same directory, fsync, rename, fsync dir.
pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "atomic_write: no file name"))?;
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}-{}", std::process::id(), unique()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        fsync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (N.fetch_add(1, Ordering::Relaxed) << 48)
}

/// fsyncs a directory so that renames and creations inside it are durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

pub(crate) fn open_dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<OwnedFd, Errno> {
    rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

pub(crate) fn open_dir_path(path: &Path) -> io::Result<OwnedFd> {
    Ok(rfs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

fn split_parent(path: &Path) -> io::Result<(OwnedFd, OsString)> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: no final component", path.display()),
        )
    })?;
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok((open_dir_path(parent)?, name.to_os_string()))
}

/// Removes the host path `path` and everything below it, never following
/// symlinks. A missing path is not an error.
pub fn remove_all(path: &Path) -> io::Result<()> {
    let (parent, name) = match split_parent(path) {
        Ok(x) => x,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    Ok(remove_all_at(parent.as_fd(), &name)?)
}

/// Removes `name` inside `dir` and, if it is a directory, everything below
/// it. A missing name is not an error.
pub fn remove_all_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<(), Errno> {
    match rfs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => return Ok(()),
        // Linux says EISDIR for a directory; EPERM is POSIX's spelling.
        Err(Errno::ISDIR) | Err(Errno::PERM) => {}
        Err(e) => return Err(e),
    }
    struct Frame {
        dir: Dir,
        name: OsString,
        rewinds: u32,
    }
    let first = match open_dir_at(dir, name) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut stack = vec![Frame {
        dir: Dir::new(first)?,
        name: name.to_os_string(),
        rewinds: 0,
    }];
    while let Some(top) = stack.last_mut() {
        match top.dir.read() {
            Some(Ok(ent)) => {
                let child = OsStr::from_bytes(ent.file_name().to_bytes());
                if child == "." || child == ".." {
                    continue;
                }
                let fd = top.dir.fd()?;
                match rfs::unlinkat(fd, child, AtFlags::empty()) {
                    Ok(()) | Err(Errno::NOENT) => {}
                    Err(Errno::ISDIR) | Err(Errno::PERM) => match open_dir_at(fd, child) {
                        Ok(sub) => stack.push(Frame {
                            dir: Dir::new(sub)?,
                            name: child.to_os_string(),
                            rewinds: 0,
                        }),
                        Err(Errno::NOENT) => {}
                        Err(e) => return Err(e),
                    },
                    Err(e) => return Err(e),
                }
            }
            Some(Err(e)) => return Err(e),
            None => {
                let mut done = stack.pop().expect("stack is not empty");
                let parent = match stack.last() {
                    Some(p) => p.dir.fd()?,
                    None => dir,
                };
                match rfs::unlinkat(parent, &done.name, AtFlags::REMOVEDIR) {
                    Ok(()) | Err(Errno::NOENT) => {}
                    // Entries created while we were reading (or hidden from a
                    // readdir that raced our unlinks): read again, a bounded
                    // number of times.
                    Err(Errno::NOTEMPTY) if done.rewinds < 8 => {
                        done.dir.rewind();
                        done.rewinds += 1;
                        stack.push(done);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(())
}

/// Removes every entry inside `dir`, keeping `dir` itself.
pub fn remove_children(dir: BorrowedFd<'_>) -> Result<(), Errno> {
    let mut d = Dir::read_from(dir)?;
    let mut names = Vec::new();
    while let Some(ent) = d.read() {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(OsStr::from_bytes(n).to_os_string());
        }
    }
    for n in names {
        remove_all_at(dir, &n)?;
    }
    Ok(())
}

/// Apparent size of the tree at `path` as Docker's `directory.Size` counts
/// it: the sizes of all non-directories, each inode once. Symlinks are not
/// followed.
pub fn disk_usage(path: &Path) -> io::Result<u64> {
    let root = open_dir_path(path)?;
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![Dir::new(root)?];
    while let Some(top) = stack.last_mut() {
        match top.read() {
            Some(Ok(ent)) => {
                let name = OsStr::from_bytes(ent.file_name().to_bytes());
                if name == "." || name == ".." {
                    continue;
                }
                let fd = top.fd()?;
                let st = match rfs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => st,
                    Err(Errno::NOENT) => continue,
                    Err(e) => return Err(e.into()),
                };
                if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    match open_dir_at(fd, name) {
                        Ok(sub) => stack.push(Dir::new(sub)?),
                        Err(Errno::NOENT) => {}
                        Err(e) => return Err(e.into()),
                    }
                    continue;
                }
                let size = st.st_size.max(0) as u64;
                if size == 0 {
                    continue;
                }
                if st.st_nlink > 1 && !seen.insert((st.st_dev, st.st_ino)) {
                    continue;
                }
                total = total.saturating_add(size);
            }
            Some(Err(e)) => return Err(e.into()),
            None => {
                stack.pop();
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn remove_all_does_not_follow_symlinks() {
        let td = tempfile::tempdir().unwrap();
        let outside = td.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("keep"), b"x").unwrap();
        let victim = td.path().join("victim");
        fs::create_dir_all(victim.join("a/b/c")).unwrap();
        fs::write(victim.join("a/b/c/f"), b"y").unwrap();
        symlink(&outside, victim.join("a/link")).unwrap();
        symlink(&outside, victim.join("a/b/c/link2")).unwrap();
        remove_all(&victim).unwrap();
        assert!(!victim.exists());
        assert!(outside.join("keep").exists());
        // Missing is fine.
        remove_all(&victim).unwrap();
        // A plain file too.
        let f = td.path().join("file");
        fs::write(&f, b"z").unwrap();
        remove_all(&f).unwrap();
        assert!(!f.exists());
    }

    #[test]
    fn remove_all_handles_deep_trees_without_recursion() {
        let td = tempfile::tempdir().unwrap();
        let top = td.path().join("deep");
        fs::create_dir(&top).unwrap();
        // Built with *at calls so the path length never matters.
        let mut fd = open_dir_path(&top).unwrap();
        for _ in 0..600 {
            rfs::mkdirat(&fd, "d", Mode::from_raw_mode(0o755)).unwrap();
            fd = open_dir_at(fd.as_fd(), OsStr::new("d")).unwrap();
        }
        drop(fd);
        remove_all(&top).unwrap();
        assert!(!top.exists());
    }

    #[test]
    fn disk_usage_counts_hardlinks_once_and_skips_dirs() {
        let td = tempfile::tempdir().unwrap();
        let d = td.path();
        fs::create_dir(d.join("sub")).unwrap();
        fs::write(d.join("a"), vec![0u8; 1000]).unwrap();
        fs::write(d.join("sub/b"), vec![0u8; 234]).unwrap();
        fs::hard_link(d.join("a"), d.join("sub/a2")).unwrap();
        symlink("0123456789", d.join("l")).unwrap();
        assert_eq!(disk_usage(d).unwrap(), 1000 + 234 + 10);
    }

    #[test]
    fn remove_children_keeps_dir() {
        let td = tempfile::tempdir().unwrap();
        let d = td.path().join("d");
        fs::create_dir_all(d.join("x/y")).unwrap();
        fs::write(d.join("f"), b"1").unwrap();
        let fd = open_dir_path(&d).unwrap();
        remove_children(fd.as_fd()).unwrap();
        assert!(d.is_dir());
        assert_eq!(fs::read_dir(&d).unwrap().count(), 0);
    }
}
