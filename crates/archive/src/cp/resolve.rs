//! Resolving the path of a docker cp request inside a container root, as
//! dockerd 20.10's `ResolvePath`/`StatPath`/`GetResourcePath` do, but with
//! `pathrs` (`RESOLVE_IN_ROOT`) and holding the result open.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{self as rfs, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use super::gopath::{self, lossy};
use crate::{Error, ErrorKind, Result};

/// Docker's `container.PathStat` in raw terms (the daemon converts `st_mode`
/// to a Go `FileMode` and the mtime to RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathInfo {
    /// Go's `filepath.Base(absPath)`: "etc" for "/etc/", "." for "/etc/.",
    /// "/" for "/".
    pub name: String,
    pub size: i64,
    pub st_mode: u32,
    pub mtime_sec: i64,
    pub mtime_nsec: u32,
    /// For a symlink, its target fully resolved inside the container (as far
    /// as it resolves when broken); "" otherwise.
    pub link_target: String,
}

/// A resource of a container, resolved and held open: what `info` describes
/// is exactly what `write_tar` archives, whatever the container does to the
/// path meanwhile (CVE-2018-15664 was dockerd re-resolving the string).
pub struct Resource {
    pub(super) info: PathInfo,
    /// `O_PATH` descriptor of the object itself (a symlink is not followed).
    pub(super) fd: OwnedFd,
    pub(super) st: Stat,
    /// The name the archive's entries are rebased on (`filepath.Base(absPath)`).
    pub(super) base: Vec<u8>,
}

impl std::fmt::Debug for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resource")
            .field("info", &self.info)
            .finish()
    }
}

impl Resource {
    pub fn info(&self) -> &PathInfo {
        &self.info
    }

    /// Streams the tar dockerd's `GET /archive` produces for this resource:
    /// entries named under `info().name` (the CLI rebases on it), a directory
    /// recursively, a symlink as itself. See `pack` for the format details.
    pub fn write_tar(&self, out: &mut dyn std::io::Write) -> Result<()> {
        super::pack::write_resource(self, out)
    }
}

fn os_of(e: &pathrs::error::Error) -> Option<Errno> {
    match e.kind() {
        pathrs::error::ErrorKind::OsError(Some(n)) => Some(Errno::from_raw_os_error(n)),
        _ => None,
    }
}

fn pathrs_err(op: &str, what: &str, e: pathrs::error::Error) -> Error {
    match os_of(&e) {
        Some(n) => Error::go(op, what, n),
        None => Error::pathrs(op, what, e),
    }
}

fn path_of(b: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(b))
}

/// The resource at `path` in the container's root, resolved as dockerd
/// does for HEAD/GET `/archive`: every component but the last followed in
/// scope, the last `lstat`ed unless the path ends in "/" or "/." (then it is
/// followed). `ErrorKind::NotFound` when it does not exist.
pub fn open_resource(root: &pathrs::Root, path: &str) -> Result<Resource> {
    let abs = gopath::abs_path(path.as_bytes());
    let shown = lossy(&abs);
    // ResolvePath: split absPath, resolve the directory part in scope, and
    // keep the base as is. A base of "" or "." means "the directory itself".
    let (dir, base) = gopath::split(&abs);
    let dirfd = OwnedFd::from(
        root.resolve(path_of(dir))
            .map_err(|e| pathrs_err("lstat", &shown, e))?,
    );
    let (fd, st) = if base.is_empty() || base == b"." {
        let st = rfs::fstat(&dirfd).map_err(|e| Error::go("lstat", &shown, e))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
            return Err(Error::go("lstat", &shown, Errno::NOTDIR));
        }
        (dirfd, st)
    } else {
        let fd = rfs::openat(
            &dirfd,
            OsStr::from_bytes(base),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::go("lstat", &shown, e))?;
        let st = rfs::fstat(&fd).map_err(|e| Error::go("lstat", &shown, e))?;
        (fd, st)
    };
    let link_target = if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        lossy(&follow_in_scope(root, &abs)?)
    } else {
        String::new()
    };
    let name = gopath::base(&abs).to_vec();
    Ok(Resource {
        info: PathInfo {
            name: lossy(&name),
            size: st.st_size,
            st_mode: st.st_mode,
            mtime_sec: st.st_mtime,
            mtime_nsec: st.st_mtime_nsec as u32,
            link_target,
        },
        fd,
        st,
        base: name,
    })
}

/// PUT `/archive`'s destination: `Join("/", path)` with every component,
/// the last included, followed in scope (so a symlink to a directory works,
/// as dockerd's `GetResourcePath` does). NotFound when missing;
/// InvalidArgument "extraction point is not a directory" (dockerd's text)
/// when it is something else.
pub fn resolve_extract_dir(root: &pathrs::Root, path: &str) -> Result<pathrs::Handle> {
    let abs = gopath::abs_path(path.as_bytes());
    let shown = lossy(&abs);
    let h = root
        .resolve(path_of(&abs))
        .map_err(|e| pathrs_err("lstat", &shown, e))?;
    let st = rfs::fstat(&h).map_err(|e| Error::go("lstat", &shown, e))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "extraction point is not a directory",
        ));
    }
    Ok(h)
}

/// The extraction directory's path inside the container as dockerd 20.10
/// names it in extraction errors (`"/tmp"` in `cannot overwrite directory
/// "/tmp/x" with non-directory "/tmp"`): `path` with every symlink resolved
/// in scope. Pass it to `extract_to`.
pub fn extract_dest_path(root: &pathrs::Root, path: &str) -> Result<String> {
    let abs = gopath::abs_path(path.as_bytes());
    Ok(lossy(&follow_in_scope(root, &abs)?))
}

/// moby's `FollowSymlinkInScope(path, "/")` inside `root`: the path with
/// every symlink expanded (absolute targets re-rooted, `..` lexical and
/// clamped), missing components accepted as they are. Each step is an
/// `lstat` of a path whose prefix holds no symlinks, done with
/// `resolve_nofollow`, so nothing is resolved outside the root.
pub(crate) fn follow_in_scope(root: &pathrs::Root, abs: &[u8]) -> Result<Vec<u8>> {
    const MAX_ITER: usize = 255;
    let original = lossy(abs);
    let mut path: Vec<u8> = gopath::clean(abs);
    let mut b: Vec<u8> = Vec::new();
    let mut n = 0usize;
    while !path.is_empty() {
        if n > MAX_ITER {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("evalSymlinksInScope: too many links in {original}"),
            ));
        }
        n += 1;
        let (p, rest) = match path.iter().position(|c| *c == b'/') {
            Some(i) => (path[..i].to_vec(), path[i + 1..].to_vec()),
            None => (std::mem::take(&mut path), Vec::new()),
        };
        path = rest;
        if p.is_empty() {
            continue;
        }
        let mut joined = Vec::with_capacity(b.len() + p.len() + 1);
        joined.push(b'/');
        joined.extend_from_slice(&b);
        joined.extend_from_slice(&p);
        let clean_p = gopath::clean(&joined);
        if clean_p == b"/" {
            b.clear();
            continue;
        }
        let handle = match root.resolve_nofollow(path_of(&clean_p)) {
            Ok(h) => h,
            Err(e) if os_of(&e) == Some(Errno::NOENT) => {
                b.extend_from_slice(&p);
                b.push(b'/');
                continue;
            }
            Err(e) => return Err(pathrs_err("lstat", &lossy(&clean_p), e)),
        };
        let st = rfs::fstat(&handle).map_err(|e| Error::go("lstat", &lossy(&clean_p), e))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
            b.extend_from_slice(&p);
            b.push(b'/');
            continue;
        }
        let dest = rfs::readlinkat(handle.as_fd(), "", Vec::new())
            .map_err(|e| Error::go("readlink", &lossy(&clean_p), e))?
            .into_bytes();
        if dest.first() == Some(&b'/') {
            b.clear();
        }
        let mut next = dest;
        next.push(b'/');
        next.extend_from_slice(&path);
        path = next;
    }
    let mut last = Vec::with_capacity(b.len() + 1);
    last.push(b'/');
    last.extend_from_slice(&b);
    Ok(gopath::clean(&last))
}
