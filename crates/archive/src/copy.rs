//! Tree copies that preserve everything: the naive snapshotter's prepare and
//! Docker's "populate a new volume from the image" step.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use pathrs::flags::OpenFlags;
use rustix::fs::{self as rfs, AtFlags, Dir, FileType, Mode, OFlags, Stat, Timespec, Timestamps};
use rustix::io::Errno;

use crate::fsutil::{open_dir_at, open_dir_path};
use crate::xattr::{self, Target};
use crate::{Error, Result};

/// Copies the contents of `path_in_root`, resolved inside `root` as the
/// container would see it (`RESOLVE_IN_ROOT`: absolute symlinks re-rooted,
/// `..` clamped), into the host directory `dest`.
///
/// Follows Docker's `copyExistingContents`: nothing is copied (and `false`
/// returned) when the path does not exist in the image, is not a directory,
/// or when `dest` is not empty (a volume that already has data keeps it).
/// Otherwise the source directory's owner, mode, xattrs and times are also
/// applied to `dest` itself, which is how a named volume mounted on
/// `/var/lib/postgresql/data` ends up owned by the image's postgres user.
///
/// Below the resolved directory nothing is followed: symlinks are copied as
/// symlinks, so a link pointing at `/etc` copies the link, never host files.
pub fn copy_into_volume(root: &Path, path_in_root: &str, dest: &Path) -> Result<bool> {
    let r = pathrs::Root::open(root)
        .map_err(|e| Error::pathrs("open root", &format!("{}", root.display()), e))?;
    let src = match r.open_subpath(
        path_in_root,
        OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY | OpenFlags::O_CLOEXEC,
    ) {
        Ok(f) => OwnedFd::from(f),
        Err(e) => match e.kind() {
            pathrs::error::ErrorKind::OsError(Some(libc::ENOENT | libc::ENOTDIR)) => {
                return Ok(false);
            }
            _ => return Err(Error::pathrs("resolve", &format!("{path_in_root:?}"), e)),
        },
    };
    let dst = open_dir_path(dest)
        .map_err(|e| Error::io_what("open volume dir", &format!("{}", dest.display()), e))?;
    if !dir_is_empty(dst.as_fd())
        .map_err(|e| Error::errno("read volume dir", &format!("{}", dest.display()), e))?
    {
        tracing::debug!(dest = %dest.display(), "volume not empty, not copying image content");
        return Ok(false);
    }
    copy_tree(src, dst, &format!("{path_in_root:?}"))?;
    Ok(true)
}

/// Copies everything inside the host directory `src` into the existing host
/// directory `dest` (normally empty), preserving type, mode, owner, times,
/// xattrs, symlinks and hardlinks within the tree; `dest` itself takes
/// `src`'s metadata.
pub fn copy_dir(src: &Path, dest: &Path) -> Result<()> {
    let s =
        open_dir_path(src).map_err(|e| Error::io_what("open", &format!("{}", src.display()), e))?;
    let d = open_dir_path(dest)
        .map_err(|e| Error::io_what("open", &format!("{}", dest.display()), e))?;
    copy_tree(s, d, &format!("{}", src.display()))
}

fn dir_is_empty(fd: BorrowedFd<'_>) -> std::result::Result<bool, Errno> {
    let mut d = Dir::read_from(fd)?;
    while let Some(ent) = d.read() {
        let n = ent?.file_name().to_bytes().to_vec();
        if n != b"." && n != b".." {
            return Ok(false);
        }
    }
    Ok(true)
}

struct Frame {
    src: Dir,
    dst: OwnedFd,
    /// Path below the destination root, for hardlinks and messages.
    rel: Vec<u8>,
    stat: Stat,
}

fn join(rel: &[u8], name: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(rel.len() + name.len() + 1);
    if !rel.is_empty() {
        v.extend_from_slice(rel);
        v.push(b'/');
    }
    v.extend_from_slice(name);
    v
}

fn shown(base: &str, rel: &[u8]) -> String {
    format!("{base}/{}", String::from_utf8_lossy(rel))
}

fn times_of(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: st.st_atime as _,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: Timespec {
            tv_sec: st.st_mtime as _,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

fn perm_of(st: &Stat) -> Mode {
    Mode::from_raw_mode(st.st_mode & 0o7777)
}

/// Owner, xattrs, mode and times onto an opened fd, in that order: chown
/// clears set-id bits and `security.capability`, so it must come first.
fn finish_fd(fd: BorrowedFd<'_>, src: Target<'_>, st: &Stat, what: &str) -> Result<()> {
    chown_tolerant(rfs::fchown(
        fd,
        Some(rfs::Uid::from_raw(st.st_uid)),
        Some(rfs::Gid::from_raw(st.st_gid)),
    ))
    .map_err(|e| Error::errno("chown", what, e))?;
    xattr::copy_all(src, Target::Fd(fd), what).map_err(|e| Error::errno("copy xattrs", what, e))?;
    rfs::fchmod(fd, perm_of(st)).map_err(|e| Error::errno("chmod", what, e))?;
    rfs::futimens(fd, &times_of(st)).map_err(|e| Error::errno("set times", what, e))
}

/// Unprivileged copies cannot give files away; as root a failure is real.
fn chown_tolerant(r: std::result::Result<(), Errno>) -> std::result::Result<(), Errno> {
    match r {
        Err(Errno::PERM | Errno::INVAL) if !rustix::process::geteuid().is_root() => Ok(()),
        other => other,
    }
}

fn copy_tree(src_root: OwnedFd, dst_root: OwnedFd, base: &str) -> Result<()> {
    let root_stat = rfs::fstat(&src_root).map_err(|e| Error::errno("stat", base, e))?;
    let dst_root_dup =
        rustix::io::fcntl_dupfd_cloexec(&dst_root, 0).map_err(|e| Error::errno("dup", base, e))?;
    let mut links: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    let mut stack = vec![Frame {
        src: Dir::new(src_root).map_err(|e| Error::errno("read dir", base, e))?,
        dst: dst_root,
        rel: Vec::new(),
        stat: root_stat,
    }];
    while let Some(top) = stack.last_mut() {
        let ent = match top.src.read() {
            Some(Ok(ent)) => ent,
            Some(Err(e)) => return Err(Error::errno("read dir", &shown(base, &top.rel), e)),
            None => {
                let done = stack.pop().expect("stack is not empty");
                let what = shown(base, &done.rel);
                let sfd = done
                    .src
                    .fd()
                    .map_err(|e| Error::errno("dir fd", &what, e))?;
                finish_fd(done.dst.as_fd(), Target::Fd(sfd), &done.stat, &what)?;
                continue;
            }
        };
        let name_bytes = ent.file_name().to_bytes().to_vec();
        if name_bytes == b"." || name_bytes == b".." {
            continue;
        }
        let name = OsStr::from_bytes(&name_bytes);
        let rel = join(&top.rel, &name_bytes);
        let what = shown(base, &rel);
        let sdir = top.src.fd().map_err(|e| Error::errno("dir fd", &what, e))?;
        let ddir = top.dst.as_fd();
        let st = match rfs::statat(sdir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(Error::errno("stat", &what, e)),
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                rfs::mkdirat(ddir, name, Mode::from_raw_mode(0o700))
                    .map_err(|e| Error::errno("mkdir", &what, e))?;
                let s = open_dir_at(sdir, name).map_err(|e| Error::errno("open", &what, e))?;
                let d = open_dir_at(ddir, name).map_err(|e| Error::errno("open", &what, e))?;
                stack.push(Frame {
                    src: Dir::new(s).map_err(|e| Error::errno("read dir", &what, e))?,
                    dst: d,
                    rel,
                    stat: st,
                });
            }
            FileType::RegularFile => {
                if st.st_nlink > 1
                    && let Some(first) = links.get(&(st.st_dev, st.st_ino))
                {
                    rfs::linkat(
                        &dst_root_dup,
                        OsStr::from_bytes(first),
                        ddir,
                        name,
                        AtFlags::empty(),
                    )
                    .map_err(|e| Error::errno("link", &what, e))?;
                    continue;
                }
                let s = rfs::openat(
                    sdir,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
                    Mode::empty(),
                )
                .map_err(|e| Error::errno("open", &what, e))?;
                let d = rfs::openat(
                    ddir,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| Error::errno("create", &what, e))?;
                let mut sf = File::from(s);
                let mut df = File::from(d);
                // File to file: std uses copy_file_range, so the data never
                // passes through user space (and reflinks where supported).
                std::io::copy(&mut sf, &mut df).map_err(|e| Error::io_what("copy", &what, e))?;
                finish_fd(df.as_fd(), Target::Fd(sf.as_fd()), &st, &what)?;
                if st.st_nlink > 1 {
                    links.insert((st.st_dev, st.st_ino), rel);
                }
            }
            FileType::Symlink => {
                let target = rfs::readlinkat(sdir, name, Vec::new())
                    .map_err(|e| Error::errno("readlink", &what, e))?;
                let target = OsString::from_vec(target.into_bytes());
                rfs::symlinkat(&target, ddir, name)
                    .map_err(|e| Error::errno("symlink", &what, e))?;
                finish_at(sdir, ddir, name, &st, &what, false)?;
            }
            t @ (FileType::Fifo
            | FileType::CharacterDevice
            | FileType::BlockDevice
            | FileType::Socket) => {
                rfs::mknodat(ddir, name, t, perm_of(&st), st.st_rdev)
                    .map_err(|e| Error::errno("mknod", &what, e))?;
                finish_at(sdir, ddir, name, &st, &what, true)?;
            }
            FileType::Unknown => {
                tracing::warn!(path = %what, "unknown file type, not copied");
            }
        }
    }
    Ok(())
}

/// Metadata for entries that are not opened (symlinks, nodes): by name with
/// the no-follow variants.
fn finish_at(
    sdir: BorrowedFd<'_>,
    ddir: BorrowedFd<'_>,
    name: &OsStr,
    st: &Stat,
    what: &str,
    chmod: bool,
) -> Result<()> {
    chown_tolerant(rfs::chownat(
        ddir,
        name,
        Some(rfs::Uid::from_raw(st.st_uid)),
        Some(rfs::Gid::from_raw(st.st_gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    ))
    .map_err(|e| Error::errno("chown", what, e))?;
    xattr::copy_all(Target::At(sdir, name), Target::At(ddir, name), what)
        .map_err(|e| Error::errno("copy xattrs", what, e))?;
    if chmod {
        // Not a symlink (we just made it with mknodat), so following is moot.
        rfs::chmodat(ddir, name, perm_of(st), AtFlags::empty())
            .map_err(|e| Error::errno("chmod", what, e))?;
    }
    rfs::utimensat(ddir, name, &times_of(st), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| Error::errno("set times", what, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    #[test]
    fn copies_tree_with_metadata() {
        let td = tempfile::tempdir().unwrap();
        let src = td.path().join("src");
        let dst = td.path().join("dst");
        fs::create_dir_all(src.join("d/e")).unwrap();
        fs::create_dir(&dst).unwrap();
        fs::write(src.join("d/f"), b"data").unwrap();
        fs::set_permissions(src.join("d/f"), fs::Permissions::from_mode(0o4751)).unwrap();
        fs::hard_link(src.join("d/f"), src.join("d/e/f2")).unwrap();
        symlink("/etc/passwd", src.join("d/abs")).unwrap();
        fs::set_permissions(src.join("d"), fs::Permissions::from_mode(0o711)).unwrap();
        let t = rustix::fs::Timestamps {
            last_access: Timespec {
                tv_sec: 1_000_000,
                tv_nsec: 5,
            },
            last_modification: Timespec {
                tv_sec: 1_234_567,
                tv_nsec: 890,
            },
        };
        rustix::fs::utimensat(rustix::fs::CWD, src.join("d"), &t, AtFlags::empty()).unwrap();
        rustix::fs::utimensat(
            rustix::fs::CWD,
            src.join("d/abs"),
            &t,
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            src.join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o640),
            0,
        )
        .unwrap();
        if is_root() {
            rustix::fs::chownat(
                rustix::fs::CWD,
                src.join("d/e"),
                Some(rfs::Uid::from_raw(1234)),
                Some(rfs::Gid::from_raw(4321)),
                AtFlags::empty(),
            )
            .unwrap();
            rfs::lsetxattr(src.join("d/f"), "user.k", b"v", rfs::XattrFlags::empty()).unwrap();
        }
        fs::set_permissions(&src, fs::Permissions::from_mode(0o750)).unwrap();

        copy_dir(&src, &dst).unwrap();

        assert_eq!(fs::read(dst.join("d/f")).unwrap(), b"data");
        let m = fs::metadata(dst.join("d/f")).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o4751);
        let m2 = fs::metadata(dst.join("d/e/f2")).unwrap();
        assert_eq!(m.ino(), m2.ino(), "hardlink preserved");
        assert_eq!(
            fs::read_link(dst.join("d/abs")).unwrap(),
            Path::new("/etc/passwd")
        );
        let dm = fs::symlink_metadata(dst.join("d")).unwrap();
        assert_eq!(dm.permissions().mode() & 0o7777, 0o711);
        assert_eq!(dm.mtime(), 1_234_567);
        assert_eq!(dm.mtime_nsec(), 890);
        let lm = fs::symlink_metadata(dst.join("d/abs")).unwrap();
        assert_eq!(lm.mtime(), 1_234_567);
        let ff = fs::symlink_metadata(dst.join("fifo")).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&ff.file_type()));
        assert_eq!(ff.permissions().mode() & 0o777, 0o640);
        assert_eq!(
            fs::metadata(&dst).unwrap().permissions().mode() & 0o7777,
            0o750
        );
        if is_root() {
            let em = fs::metadata(dst.join("d/e")).unwrap();
            assert_eq!((em.uid(), em.gid()), (1234, 4321));
            let v = rfs::lgetxattr(dst.join("d/f"), "user.k", &mut [0u8; 16][..]).unwrap();
            assert_eq!(v, 1);
        }
    }

    #[test]
    fn volume_copy_stays_inside_root() {
        let td = tempfile::tempdir().unwrap();
        let root = td.path().join("rootfs");
        let outside = td.path().join("outside");
        fs::create_dir_all(root.join("data/sub")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret"), b"host").unwrap();
        fs::write(root.join("data/sub/file"), b"img").unwrap();
        // A symlink inside the copied dir pointing out: copied as a link.
        symlink(&outside, root.join("data/escape")).unwrap();
        // A symlink that is the requested path: resolved inside the root.
        symlink("/data", root.join("link-to-data")).unwrap();
        // An absolute symlink out of the root as the requested path.
        symlink(&outside, root.join("abs-out")).unwrap();

        let v1 = td.path().join("v1");
        fs::create_dir(&v1).unwrap();
        assert!(copy_into_volume(&root, "/link-to-data", &v1).unwrap());
        assert_eq!(fs::read(v1.join("sub/file")).unwrap(), b"img");
        assert_eq!(fs::read_link(v1.join("escape")).unwrap(), outside);
        assert!(!v1.join("secret").exists());

        // `abs-out` is re-rooted: it names <root>/<outside path>, which does
        // not exist, so nothing is copied and the host dir is never read.
        let v2 = td.path().join("v2");
        fs::create_dir(&v2).unwrap();
        assert!(!copy_into_volume(&root, "abs-out", &v2).unwrap());
        assert_eq!(fs::read_dir(&v2).unwrap().count(), 0);

        // `..` is clamped at the root.
        let v3 = td.path().join("v3");
        fs::create_dir(&v3).unwrap();
        assert!(copy_into_volume(&root, "../../data", &v3).unwrap());
        assert!(v3.join("sub/file").exists());

        // Missing path, a file, or a non-empty volume: nothing copied.
        let v4 = td.path().join("v4");
        fs::create_dir(&v4).unwrap();
        assert!(!copy_into_volume(&root, "/nope", &v4).unwrap());
        assert!(!copy_into_volume(&root, "/data/sub/file", &v4).unwrap());
        fs::write(v4.join("existing"), b"keep").unwrap();
        assert!(!copy_into_volume(&root, "/data", &v4).unwrap());
        assert_eq!(fs::read_dir(&v4).unwrap().count(), 1);
    }
}
