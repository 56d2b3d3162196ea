//! Extended attributes on an open fd, or on a name inside an open directory.
//!
//! Symlinks and device nodes cannot (or must not) be opened to get an fd, and
//! Linux has no `*xattrat` before 6.13, so names are reached through
//! `/proc/self/fd/<dirfd>/<name>` with the `l*` calls: the magic link jumps
//! to exactly the directory we already hold, and the final component is not
//! followed. `name` is always a single component we validated.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use rustix::fs::{self as rfs, XattrFlags};
use rustix::io::Errno;

#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    Fd(BorrowedFd<'a>),
    At(BorrowedFd<'a>, &'a OsStr),
}

fn proc_path(dir: BorrowedFd<'_>, name: &OsStr) -> PathBuf {
    let mut p = OsString::from(format!("/proc/self/fd/{}/", dir.as_raw_fd())).into_vec();
    p.extend_from_slice(name.as_bytes());
    PathBuf::from(OsString::from_vec(p))
}

pub(crate) fn set(t: Target<'_>, key: &OsStr, value: &[u8]) -> Result<(), Errno> {
    match t {
        Target::Fd(fd) => rfs::fsetxattr(fd, key, value, XattrFlags::empty()),
        Target::At(dir, name) => {
            rfs::lsetxattr(proc_path(dir, name), key, value, XattrFlags::empty())
        }
    }
}

pub(crate) fn list(t: Target<'_>) -> Result<Vec<OsString>, Errno> {
    for _ in 0..8 {
        let size = match t {
            Target::Fd(fd) => rfs::flistxattr_query(fd)?,
            Target::At(dir, name) => rfs::llistxattr_query(proc_path(dir, name))?,
        };
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; size];
        let got = match t {
            Target::Fd(fd) => rfs::flistxattr(fd, &mut buf[..]),
            Target::At(dir, name) => rfs::llistxattr(proc_path(dir, name), &mut buf[..]),
        };
        match got {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf
                    .split(|b| *b == 0)
                    .filter(|s| !s.is_empty())
                    .map(|s| OsStr::from_bytes(s).to_os_string())
                    .collect());
            }
            // The list grew between the two calls.
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Errno::RANGE)
}

pub(crate) fn get(t: Target<'_>, key: &OsStr) -> Result<Vec<u8>, Errno> {
    for _ in 0..8 {
        let size = match t {
            Target::Fd(fd) => rfs::fgetxattr_query(fd, key)?,
            Target::At(dir, name) => rfs::lgetxattr_query(proc_path(dir, name), key)?,
        };
        let mut buf = vec![0u8; size];
        let got = match t {
            Target::Fd(fd) => rfs::fgetxattr(fd, key, &mut buf[..]),
            Target::At(dir, name) => rfs::lgetxattr(proc_path(dir, name), key, &mut buf[..]),
        };
        match got {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Errno::RANGE)
}

/// Copies every xattr from `src` to `dst`. Attributes the destination
/// filesystem or our privileges refuse (ENOTSUP, EPERM on `security.*` and
/// `trusted.*` when unprivileged) are skipped with a warning, as
/// containerd's continuity copy does.
pub(crate) fn copy_all(src: Target<'_>, dst: Target<'_>, what: &str) -> Result<(), Errno> {
    let keys = match list(src) {
        Ok(k) => k,
        Err(Errno::NOTSUP) => return Ok(()),
        Err(e) => return Err(e),
    };
    for key in keys {
        let value = match get(src, &key) {
            Ok(v) => v,
            Err(Errno::NODATA) => continue,
            Err(e) => return Err(e),
        };
        match set(dst, &key, &value) {
            Ok(()) => {}
            Err(e) if tolerable(e) => {
                tracing::warn!(path = what, key = ?key, error = %e, "xattr not copied");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Failures to set an xattr that mean "this filesystem or this user cannot
/// hold it" rather than a broken tree.
pub(crate) fn tolerable(e: Errno) -> bool {
    matches!(e, Errno::NOTSUP | Errno::PERM | Errno::ACCESS)
}
