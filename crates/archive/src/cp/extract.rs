//! `PUT /containers/{id}/archive`: extracting a tar stream into a directory
//! of a container with the semantics of dockerd 20.10's `Untar` (run in
//! `docker-untar`, chroot'ed into the container), without its holes.
//!
//! Scope is the extraction directory `dir`, held as an fd. Each entry's
//! parent directory is resolved from `dir` with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS)`: a path that would leave `dir` through `..` or
//! an absolute symlink (one on disk, or one this archive just created:
//! CVE-2014-6407's pattern, "duplicate entries replacing a symlinked dir",
//! a container racing a swap, CVE-2018-15664) is refused with an error
//! naming the entry. When `dir` is the container's root (dest "/"),
//! symlinks that were already on disk are followed as the container sees
//! them (`RESOLVE_IN_ROOT`: `/var/run -> /run` is common) — still never out
//! of `dir` — but not one this archive created. The final component is
//! always created or replaced with a single-name `*at` call that does not
//! follow symlinks, and metadata goes on through the fd just created.
//!
//! dockerd's own refusals are kept with its texts: names climbing out of
//! the destination (`"../x" is outside of "/tmp"`), hardlinks to targets
//! outside it, and relative symlinks pointing above it (20.10's `invalid
//! symlink` check). Every error carries dockerd 20.10's prefix
//! `Error processing tar file(exit status 1): `, which is what the docker
//! CLI prints for any failure of `docker-untar`.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufReader, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::rc::Rc;

use rustix::fs::{
    self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps,
};
use rustix::io::Errno;

use super::gopath::{self, lossy};
use crate::entry::{self, Kind, ParseError, Parsed};
use crate::fsutil::remove_all_at;
use crate::xattr::{self, Target};
use crate::{Error, ErrorKind, Result};

/// What dockerd 20.10 puts before any extraction error (its re-exec'd
/// `docker-untar` failed; the CLI shows the whole text).
const PREFIX: &str = "Error processing tar file(exit status 1): ";
const COPY_BUFFER: usize = 1 << 20;
const INPUT_BUFFER: usize = 256 << 10;
const PARENT_CACHE: usize = 256;
/// Go's `system.Chtimes` sets times outside what a time.Time in nanoseconds
/// can hold (before 1970 or after 2262) to the epoch.
const MAX_TIME_SEC: i64 = i64::MAX / 1_000_000_000;

#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// `noOverwriteDirNonDir`: refuse to replace a directory with a
    /// non-directory and back (the docker CLI always sets it).
    pub no_overwrite_dir_non_dir: bool,
    /// `docker cp -a`: every entry owned by this (uid, gid) (the daemon
    /// resolves the container's user safely). Otherwise the tar's ids.
    pub chown: Option<(u32, u32)>,
    /// Decompression-bomb guard: total file bytes written.
    pub max_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct ExtractStats {
    /// Tar entries read (skipped ones included).
    pub entries: u64,
    /// File data bytes written.
    pub bytes: u64,
}

/// Extracts a tar stream (plain, gzip, bzip2, xz or zstd, sniffed) into
/// `dir`. Error texts name the destination by the path `dir` has in this
/// process's view (`/proc/self/fd`), which for a container root reached
/// through `/proc/PID/root` is the container path; `extract_to` takes the
/// container path explicitly (dockerd's texts need it).
///
/// A failed extraction may leave the entries already written, as dockerd
/// does, but never anything outside `dir`.
pub fn extract(dir: &pathrs::Handle, r: impl Read, opts: &ExtractOptions) -> Result<ExtractStats> {
    let dest = dest_from_fd(dir.as_fd());
    extract_to(dir, &dest, r, opts)
}

/// `extract`, naming the destination `dest` (the directory's path inside
/// the container, from `extract_dest_path`) in error messages, and using it
/// to know whether `dir` is the container's root.
pub fn extract_to(
    dir: &pathrs::Handle,
    dest: &str,
    r: impl Read,
    opts: &ExtractOptions,
) -> Result<ExtractStats> {
    // The directory exists (the caller resolved it): a "not found" from
    // here on is about the archive's content (a hardlink to a missing
    // target) or a race, never "no such container path" (404).
    let fix = |e: Error| {
        let e = e.prefixed(PREFIX);
        if e.kind() == ErrorKind::NotFound {
            e.with_kind(ErrorKind::InvalidArgument)
        } else {
            e
        }
    };
    let mut x = Extractor::new(dir.as_fd(), dest, opts).map_err(fix)?;
    x.run(r).map_err(fix)?;
    Ok(x.stats)
}

fn dest_from_fd(fd: BorrowedFd<'_>) -> String {
    match std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())) {
        Ok(p) if p.is_absolute() => p.to_string_lossy().into_owned(),
        _ => "/".to_string(),
    }
}

fn stream_err(e: std::io::Error) -> Error {
    if e.raw_os_error().is_some() {
        return Error::io_what("read", "archive", e);
    }
    let text = e.to_string();
    // Go's archive/tar texts, which dockerd shows.
    let msg = if e.kind() == std::io::ErrorKind::UnexpectedEof
        || text.contains("failed to read entire block")
    {
        "unexpected EOF".to_string()
    } else if text.contains("checksum") {
        "archive/tar: invalid tar header".to_string()
    } else {
        text
    };
    Error::new(ErrorKind::InvalidArgument, msg)
}

fn invalid(name: &str, why: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidArgument, format!("entry {name:?}: {why}"))
}

fn ts((sec, nsec): (i64, i64)) -> Timespec {
    let (sec, nsec) = if !(0..=MAX_TIME_SEC).contains(&sec) {
        (0, 0)
    } else {
        (sec, nsec)
    };
    Timespec {
        tv_sec: sec as _,
        tv_nsec: nsec as _,
    }
}

fn key_of(comps: &[&[u8]]) -> Vec<u8> {
    comps.join(&b'/')
}

struct DeferredDir {
    key: Vec<u8>,
    mode: u32,
    times: Timestamps,
}

struct Extractor<'a> {
    dir: BorrowedFd<'a>,
    /// `dir` as a parent fd for top-level entries.
    root: Rc<OwnedFd>,
    dest: Vec<u8>,
    /// `dir` is the container's root: pre-existing absolute symlinks may be
    /// followed in scope.
    in_root: bool,
    /// Fallback when the kernel has no openat2 (before 5.6).
    pathrs_root: Option<pathrs::Root>,
    opts: ExtractOptions,
    cache: HashMap<Vec<u8>, Rc<OwnedFd>>,
    /// Symlinks this archive created, by key.
    created_symlinks: HashSet<Vec<u8>>,
    dirs: Vec<DeferredDir>,
    buf: Vec<u8>,
    stats: ExtractStats,
    privileged: bool,
}

enum Resolved {
    Fd(OwnedFd),
    /// The path leaves `dir` (or goes through a symlink this archive made
    /// that would).
    Escapes,
}

impl<'a> Extractor<'a> {
    fn new(dir: BorrowedFd<'a>, dest: &str, opts: &ExtractOptions) -> Result<Self> {
        let root =
            rustix::io::fcntl_dupfd_cloexec(dir, 0).map_err(|e| Error::go("dup", dest, e))?;
        let dest = gopath::clean(dest.as_bytes());
        Ok(Extractor {
            dir,
            root: Rc::new(root),
            in_root: dest == b"/",
            dest,
            pathrs_root: None,
            opts: opts.clone(),
            cache: HashMap::new(),
            created_symlinks: HashSet::new(),
            dirs: Vec::new(),
            buf: vec![0u8; COPY_BUFFER],
            stats: ExtractStats::default(),
            privileged: rustix::process::geteuid().is_root(),
        })
    }

    fn run(&mut self, r: impl Read) -> Result<()> {
        let input = BufReader::with_capacity(INPUT_BUFFER, r);
        let (_, plain) = crate::decompress::sniff_reader(input).map_err(stream_err)?;
        let mut archive = tar::Archive::new(crate::guard::HeaderGuard::new(plain));
        {
            let entries = archive.entries().map_err(stream_err)?;
            for e in entries {
                let mut e = e.map_err(stream_err)?;
                self.entry(&mut e)?;
            }
        }
        self.finish_dirs()?;
        let mut rest = archive.into_inner();
        self.drain(&mut rest)
    }

    fn dest_str(&self) -> String {
        lossy(&self.dest)
    }

    /// Go's `filepath.Join(dest, name)`, which dockerd's messages show.
    fn shown_path(&self, cleaned: &[u8]) -> String {
        lossy(&gopath::join(&self.dest, cleaned))
    }

    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<()> {
        let p = match entry::parse(e) {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(()),
            Err(ParseError::Stream(err)) => return Err(stream_err(err)),
            Err(ParseError::Invalid { name, why }) => return Err(invalid(&lossy(&name), why)),
        };
        self.stats.entries += 1;
        let name = lossy(&p.raw);
        if p.raw.contains(&0) {
            return Err(invalid(&name, "name contains a NUL byte"));
        }
        // 20.10: hdr.Name = filepath.Clean(hdr.Name); then Join(dest, name)
        // must stay below dest. dockerd takes an absolute name below dest
        // and clamps a climbing one at dest "/"; berth refuses both, as no
        // archive a client makes for `docker cp` has them (the one thing
        // this costs: re-importing dockerd's own archive of "/", whose
        // names start with "/", is refused too). The root entry "/" alone
        // is dockerd's own and names the destination itself.
        if p.raw.first() == Some(&b'/') && p.raw.iter().any(|b| *b != b'/') {
            return Err(invalid(&name, "absolute names are not accepted"));
        }
        let cleaned = gopath::clean(&p.raw);
        let comps: Vec<&[u8]> = cleaned
            .split(|b| *b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .collect();
        if comps.first() == Some(&&b".."[..]) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("{:?} is outside of {:?}", lossy(&cleaned), self.dest_str()),
            ));
        }
        let path = self.shown_path(&cleaned);

        let Some((base, parent)) = comps.split_last() else {
            // The destination itself ("./", "/"). dockerd skips a directory
            // entry for it; a non-directory would replace the extraction
            // directory, which is refused.
            return match p.kind {
                Kind::Dir => Ok(()),
                _ if self.opts.no_overwrite_dir_non_dir => Err(Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "cannot overwrite directory {:?} with non-directory {:?}",
                        path,
                        self.dest_str()
                    ),
                )),
                _ => Err(invalid(&name, "cannot replace the extraction directory")),
            };
        };
        let key = key_of(&comps);

        // dockerd 20.10's link checks, made before anything is removed.
        let mut hardlink_target: Option<Vec<Vec<u8>>> = None;
        match &p.kind {
            Kind::Symlink(target) if target.first() != Some(&b'/') && !self.in_root => {
                // 20.10: Join(Dir(path), linkname) must stay below dest (an
                // absolute target is joined, so always is; at dest "/"
                // everything is).
                let (dir_of, _) = gopath::split(&key);
                let resolved = gopath::join(dir_of, target);
                if resolved == b".." || resolved.starts_with(b"../") {
                    return Err(Error::new(
                        ErrorKind::InvalidArgument,
                        format!("invalid symlink {:?} -> {:?}", path, lossy(target)),
                    ));
                }
            }
            Kind::Hardlink(target) => {
                if target.first() == Some(&b'/') {
                    return Err(Error::new(
                        ErrorKind::InvalidArgument,
                        format!(
                            "invalid hardlink {:?} -> {:?}: absolute link targets are not accepted",
                            path,
                            lossy(target)
                        ),
                    ));
                }
                let tclean = gopath::clean(target);
                let tcomps: Vec<&[u8]> = tclean
                    .split(|b| *b == b'/')
                    .filter(|c| !c.is_empty() && *c != b".")
                    .collect();
                if tcomps.first() == Some(&&b".."[..]) {
                    return Err(Error::new(
                        ErrorKind::InvalidArgument,
                        format!(
                            "invalid hardlink {:?} -> {:?}",
                            self.shown_path(&tclean),
                            lossy(target)
                        ),
                    ));
                }
                if tcomps.is_empty() {
                    return Err(invalid(&name, "hardlink to the extraction directory"));
                }
                if tcomps == comps {
                    // A link to itself: dockerd would delete the file and
                    // then fail to link it; keep the file instead.
                    return Ok(());
                }
                hardlink_target = Some(tcomps.iter().map(|c| c.to_vec()).collect());
            }
            _ => {}
        }

        let pfd = self.parent(parent, true, &name)?;
        let bname = OsStr::from_bytes(base);
        let is_dir_entry = matches!(p.kind, Kind::Dir);
        let mut exists_as_dir = false;
        match rfs::statat(pfd.as_fd(), bname, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => {
                let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
                if self.opts.no_overwrite_dir_non_dir && is_dir && !is_dir_entry {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!(
                            "cannot overwrite directory {:?} with non-directory {:?}",
                            path,
                            self.dest_str()
                        ),
                    ));
                }
                if self.opts.no_overwrite_dir_non_dir && !is_dir && is_dir_entry {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!(
                            "cannot overwrite non-directory {:?} with directory {:?}",
                            path,
                            self.dest_str()
                        ),
                    ));
                }
                if is_dir && is_dir_entry {
                    exists_as_dir = true;
                } else {
                    // dockerd: "If path exits we almost always just want to
                    // remove and replace it."
                    remove_all_at(pfd.as_fd(), bname)
                        .map_err(|e| Error::go("unlinkat", &path, e))?;
                    self.forget_under(&key);
                    if is_dir {
                        self.cache.clear();
                    }
                }
            }
            Err(Errno::NOENT) => {}
            Err(e) => return Err(Error::go("lstat", &path, e)),
        }

        let (uid, gid) = self.opts.chown.unwrap_or((p.uid, p.gid));
        match &p.kind {
            Kind::Dir => {
                if !exists_as_dir {
                    // Owner-writable until the end; the mode is applied after
                    // the contents (a read-only mode would block them).
                    rfs::mkdirat(pfd.as_fd(), bname, Mode::from_raw_mode(0o700))
                        .map_err(|e| Error::go("mkdir", &path, e))?;
                }
                let dfd = open_dir_nofollow(pfd.as_fd(), bname)
                    .map_err(|e| Error::go("open", &path, e))?;
                self.chown(
                    rfs::fchown(&dfd, Some(uid_of(uid)), Some(gid_of(gid))),
                    &path,
                    uid,
                    gid,
                )?;
                self.set_xattrs(Target::Fd(dfd.as_fd()), &p, &path)?;
                // Directory times last (20.10 sets them after all entries):
                // atime is the archive's or the epoch, as system.Chtimes
                // turns Go's zero time into.
                self.dirs.push(DeferredDir {
                    key,
                    mode: p.mode,
                    times: Timestamps {
                        last_access: ts(p.atime.unwrap_or((0, 0))),
                        last_modification: ts(p.mtime),
                    },
                });
            }
            Kind::File => {
                let size = p.size;
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
                .map_err(|e| Error::go("open", &path, e))?;
                let mut f = File::from(fd);
                let n = self.copy_data(e, &mut f, &name, &path)?;
                if n < size {
                    return Err(Error::new(ErrorKind::InvalidArgument, "unexpected EOF"));
                }
                self.chown(
                    rfs::fchown(&f, Some(uid_of(uid)), Some(gid_of(gid))),
                    &path,
                    uid,
                    gid,
                )?;
                self.set_xattrs(Target::Fd(f.as_fd()), &p, &path)?;
                rfs::fchmod(&f, Mode::from_raw_mode(p.mode))
                    .map_err(|e| Error::go("chmod", &path, e))?;
                rfs::futimens(&f, &file_times(&p)).map_err(|e| Error::go("chtimes", &path, e))?;
            }
            Kind::Symlink(target) => {
                // Stored verbatim: only ever interpreted by the container or
                // by in-scope lookups, never by us on the host.
                rfs::symlinkat(OsStr::from_bytes(target), pfd.as_fd(), bname)
                    .map_err(|e| Error::go("symlink", &path, e))?;
                self.created_symlinks.insert(key);
                self.chown(
                    rfs::chownat(
                        pfd.as_fd(),
                        bname,
                        Some(uid_of(uid)),
                        Some(gid_of(gid)),
                        AtFlags::SYMLINK_NOFOLLOW,
                    ),
                    &path,
                    uid,
                    gid,
                )?;
                self.set_xattrs(Target::At(pfd.as_fd(), bname), &p, &path)?;
                rfs::utimensat(
                    pfd.as_fd(),
                    bname,
                    &file_times(&p),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(|e| Error::go("lutimes", &path, e))?;
            }
            Kind::Hardlink(_) => {
                let tcomps = hardlink_target.expect("set for hardlinks");
                let tcomps: Vec<&[u8]> = tcomps.iter().map(|c| c.as_slice()).collect();
                let (tbase, tparent) = tcomps.split_last().expect("non-empty target");
                let tshown = lossy(&gopath::join(&self.dest, &key_of(&tcomps)));
                let tfd = match self.parent(tparent, false, &name) {
                    Ok(fd) => fd,
                    Err(err) if err.kind() == ErrorKind::NotFound => {
                        return Err(Error::go("link", &format!("{tshown} {path}"), Errno::NOENT));
                    }
                    Err(err) => return Err(err),
                };
                rfs::linkat(
                    tfd.as_fd(),
                    OsStr::from_bytes(tbase),
                    pfd.as_fd(),
                    bname,
                    AtFlags::empty(),
                )
                .map_err(|e| Error::go("link", &format!("{tshown} {path}"), e))?;
                // dockerd applies the entry's owner, mode and times to the
                // linked inode too (mode and times only when it is not a
                // symlink).
                self.chown(
                    rfs::chownat(
                        pfd.as_fd(),
                        bname,
                        Some(uid_of(uid)),
                        Some(gid_of(gid)),
                        AtFlags::SYMLINK_NOFOLLOW,
                    ),
                    &path,
                    uid,
                    gid,
                )?;
                self.set_xattrs(Target::At(pfd.as_fd(), bname), &p, &path)?;
                if chmod_nofollow(pfd.as_fd(), bname, p.mode)
                    .map_err(|e| Error::go("chmod", &path, e))?
                {
                    rfs::utimensat(
                        pfd.as_fd(),
                        bname,
                        &file_times(&p),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )
                    .map_err(|e| Error::go("chtimes", &path, e))?;
                }
            }
            Kind::Device(t, major, minor) => {
                if !self.privileged {
                    // dockerd in a user namespace skips device nodes.
                    tracing::warn!(entry = %name, "cannot create device node without privileges; skipped");
                    return Ok(());
                }
                rfs::mknodat(
                    pfd.as_fd(),
                    bname,
                    *t,
                    Mode::from_raw_mode(p.mode & 0o777),
                    rfs::makedev(*major, *minor),
                )
                .map_err(|e| Error::go("mknod", &path, e))?;
                self.node_meta(pfd.as_fd(), bname, &p, &path, uid, gid)?;
            }
            Kind::Fifo => {
                rfs::mknodat(
                    pfd.as_fd(),
                    bname,
                    FileType::Fifo,
                    Mode::from_raw_mode(p.mode & 0o777),
                    0,
                )
                .map_err(|e| Error::go("mknod", &path, e))?;
                self.node_meta(pfd.as_fd(), bname, &p, &path, uid, gid)?;
            }
        }
        Ok(())
    }

    fn node_meta(
        &self,
        dir: BorrowedFd<'_>,
        bname: &OsStr,
        p: &Parsed,
        path: &str,
        uid: u32,
        gid: u32,
    ) -> Result<()> {
        self.chown(
            rfs::chownat(
                dir,
                bname,
                Some(uid_of(uid)),
                Some(gid_of(gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            ),
            path,
            uid,
            gid,
        )?;
        self.set_xattrs(Target::At(dir, bname), p, path)?;
        chmod_nofollow(dir, bname, p.mode).map_err(|e| Error::go("chmod", path, e))?;
        rfs::utimensat(dir, bname, &file_times(p), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| Error::go("chtimes", path, e))
    }

    /// As root a failed chown is an error (dockerd's `lchown`); without
    /// privileges the entry keeps our ids, as rootless dockerd does.
    fn chown(
        &self,
        r: std::result::Result<(), Errno>,
        path: &str,
        uid: u32,
        gid: u32,
    ) -> Result<()> {
        match r {
            Ok(()) => Ok(()),
            Err(Errno::PERM | Errno::INVAL) if !self.privileged => Ok(()),
            Err(e) => {
                tracing::debug!(path, uid, gid, "chown failed");
                Err(Error::go("lchown", path, e))
            }
        }
    }

    fn set_xattrs(&self, t: Target<'_>, p: &Parsed, path: &str) -> Result<()> {
        for (k, v) in &p.xattrs {
            // Overlay's own metadata is never taken from an archive: a forged
            // `trusted.overlay.*` could rewire an overlay's merged view.
            if k.starts_with(b"trusted.overlay.") || k.starts_with(b"user.overlay.") {
                tracing::warn!(path, key = %lossy(k), "ignored overlay xattr in archive");
                continue;
            }
            match xattr::set(t, OsStr::from_bytes(k), v) {
                Ok(()) => {}
                // dockerd ignores ENOTSUP and EPERM ("not all graphdrivers
                // support xattrs"), with a warning.
                Err(Errno::NOTSUP | Errno::PERM) => {
                    tracing::warn!(path, key = %lossy(k), "xattr not supported or not permitted; ignored");
                }
                Err(e) => return Err(Error::go("lsetxattr", path, e)),
            }
        }
        Ok(())
    }

    fn copy_data(
        &mut self,
        r: &mut impl Read,
        out: &mut File,
        name: &str,
        path: &str,
    ) -> Result<u64> {
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
            CopyError::Write(e) => match e.raw_os_error() {
                Some(n) => Error::go("write", path, Errno::from_raw_os_error(n)),
                None => Error::io_what("write", path, e),
            },
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
                    format!("archive exceeds the {max}-byte limit after its end"),
                )
            },
        )
    }

    fn finish_dirs(&mut self) -> Result<()> {
        let dirs = std::mem::take(&mut self.dirs);
        for d in dirs {
            let shown = lossy(&gopath::join(&self.dest, &d.key));
            let fd = match self.resolve(
                &d.key,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW,
            ) {
                Ok(Resolved::Fd(fd)) => fd,
                // Removed, replaced by a non-directory, or now behind a
                // symlink: not ours to touch any more.
                Ok(Resolved::Escapes) => continue,
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
                Err(e) => return Err(Error::go("open", &shown, e)),
            };
            rfs::fchmod(&fd, Mode::from_raw_mode(d.mode))
                .map_err(|e| Error::go("chmod", &shown, e))?;
            rfs::futimens(&fd, &d.times).map_err(|e| Error::go("chtimes", &shown, e))?;
        }
        Ok(())
    }

    /// Resolves `key` (a path below `dir`) with `flags`, never leaving
    /// `dir`. See the module comment for the rules.
    fn resolve(&mut self, key: &[u8], flags: OFlags) -> std::result::Result<Resolved, Errno> {
        let path = OsStr::from_bytes(key);
        if self.pathrs_root.is_none() {
            let mut tries = 0;
            let r = loop {
                match rfs::openat2(
                    self.dir,
                    path,
                    flags | OFlags::CLOEXEC,
                    Mode::empty(),
                    ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
                ) {
                    // A rename raced the lookup of "..": try again.
                    Err(Errno::AGAIN) if tries < 16 => tries += 1,
                    other => break other,
                }
            };
            match r {
                Ok(fd) => return Ok(Resolved::Fd(fd)),
                Err(Errno::XDEV) => {
                    if !self.in_root || self.through_created_symlink(key) {
                        return Ok(Resolved::Escapes);
                    }
                    // The container's root: its own absolute symlinks are
                    // followed as it sees them.
                    return self.resolve_in_root(key, flags);
                }
                Err(Errno::NOSYS) => {
                    let dup = rustix::io::fcntl_dupfd_cloexec(self.dir, 0)?;
                    self.pathrs_root = Some(pathrs::Root::from_fd(dup));
                }
                Err(e) => return Err(e),
            }
        }
        if self.through_created_symlink(key) {
            return Ok(Resolved::Escapes);
        }
        self.resolve_in_root(key, flags)
    }

    /// `RESOLVE_IN_ROOT` at `dir` (pathrs): absolute symlinks re-rooted at
    /// `dir`, `..` clamped there.
    fn resolve_in_root(
        &mut self,
        key: &[u8],
        flags: OFlags,
    ) -> std::result::Result<Resolved, Errno> {
        if self.pathrs_root.is_none() {
            let dup = rustix::io::fcntl_dupfd_cloexec(self.dir, 0)?;
            self.pathrs_root = Some(pathrs::Root::from_fd(dup));
        }
        let root = self.pathrs_root.as_ref().expect("set above");
        let path = std::path::Path::new(OsStr::from_bytes(key));
        let handle = if flags.contains(OFlags::NOFOLLOW) {
            root.resolve_nofollow(path)
        } else {
            root.resolve(path)
        }
        .map_err(|e| match e.kind() {
            pathrs::error::ErrorKind::OsError(Some(n)) => Errno::from_raw_os_error(n),
            _ => Errno::XDEV,
        })?;
        let fd = OwnedFd::from(handle);
        let st = rfs::fstat(&fd)?;
        if flags.contains(OFlags::DIRECTORY)
            && FileType::from_raw_mode(st.st_mode) != FileType::Directory
        {
            return Err(Errno::NOTDIR);
        }
        if flags.contains(OFlags::PATH) {
            return Ok(Resolved::Fd(fd));
        }
        // Reopen the O_PATH handle for reading (directories: "." of it).
        let reopened = rfs::openat(
            &fd,
            ".",
            flags & !OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Resolved::Fd(reopened))
    }

    /// Whether `key` goes through a symlink created by this archive.
    fn through_created_symlink(&self, key: &[u8]) -> bool {
        if self.created_symlinks.is_empty() {
            return false;
        }
        let mut end = 0;
        for c in key.split(|b| *b == b'/') {
            end += c.len();
            if self.created_symlinks.contains(&key[..end]) {
                return true;
            }
            end += 1;
        }
        false
    }

    fn forget_under(&mut self, key: &[u8]) {
        if self.created_symlinks.is_empty() {
            return;
        }
        self.created_symlinks.retain(|p| {
            !(p.as_slice() == key || (p.starts_with(key) && p.get(key.len()) == Some(&b'/')))
        });
    }

    fn escapes(&self, name: &str) -> Error {
        invalid(
            name,
            "refusing to write through a symlink that leads out of the extraction directory",
        )
    }

    /// The directory holding an entry. Missing parents are created 0755 when
    /// `create`, as dockerd's `MkdirAllAndChownNew`.
    fn parent(&mut self, comps: &[&[u8]], create: bool, name: &str) -> Result<Rc<OwnedFd>> {
        if comps.is_empty() {
            return Ok(self.root.clone());
        }
        let key = key_of(comps);
        if let Some(fd) = self.cache.get(&key) {
            return Ok(fd.clone());
        }
        let shown = lossy(&gopath::join(&self.dest, &key));
        let fd = match self.resolve(&key, OFlags::PATH | OFlags::DIRECTORY) {
            Ok(Resolved::Fd(fd)) => fd,
            Ok(Resolved::Escapes) => return Err(self.escapes(name)),
            Err(Errno::NOENT) if create => self.make_parents(comps, name)?,
            Err(Errno::NOTDIR) => return Err(Error::go("mkdir", &shown, Errno::NOTDIR)),
            Err(e) => return Err(Error::go("open", &shown, e)),
        };
        let fd = Rc::new(fd);
        if self.cache.len() >= PARENT_CACHE {
            self.cache.clear();
        }
        self.cache.insert(key, fd.clone());
        Ok(fd)
    }

    fn make_parents(&mut self, comps: &[&[u8]], name: &str) -> Result<OwnedFd> {
        let mut cur = rustix::io::fcntl_dupfd_cloexec(self.dir, 0)
            .map_err(|e| Error::go("dup", &self.dest_str(), e))?;
        for i in 0..comps.len() {
            let key = key_of(&comps[..=i]);
            let shown = lossy(&gopath::join(&self.dest, &key));
            let mut created = false;
            let next = match self.resolve(&key, OFlags::PATH | OFlags::DIRECTORY) {
                Ok(Resolved::Fd(fd)) => fd,
                Ok(Resolved::Escapes) => return Err(self.escapes(name)),
                Err(Errno::NOENT) => {
                    match rfs::mkdirat(
                        &cur,
                        OsStr::from_bytes(comps[i]),
                        Mode::from_raw_mode(0o755),
                    ) {
                        Ok(()) => created = true,
                        Err(Errno::EXIST) => {}
                        Err(e) => return Err(Error::go("mkdir", &shown, e)),
                    }
                    match self.resolve(&key, OFlags::PATH | OFlags::DIRECTORY) {
                        Ok(Resolved::Fd(fd)) => fd,
                        Ok(Resolved::Escapes) => return Err(self.escapes(name)),
                        Err(e) => return Err(Error::go("mkdir", &shown, e)),
                    }
                }
                Err(e) => return Err(Error::go("mkdir", &shown, e)),
            };
            if created {
                // Exactly 0755 whatever our umask (dockerd's is 022).
                if let Ok(d) = open_dir_nofollow(cur.as_fd(), OsStr::from_bytes(comps[i])) {
                    let _ = rfs::fchmod(&d, Mode::from_raw_mode(0o755));
                }
            }
            cur = next;
        }
        Ok(cur)
    }
}

fn too_big(name: &str, max: u64) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("entry {name:?}: archive exceeds the {max}-byte limit"),
    )
}

fn uid_of(u: u32) -> rfs::Uid {
    rfs::Uid::from_raw(u)
}

fn gid_of(g: u32) -> rfs::Gid {
    rfs::Gid::from_raw(g)
}

/// Times of a non-directory as dockerd sets them: atime never before mtime.
fn file_times(p: &Parsed) -> Timestamps {
    let atime = match p.atime {
        Some(a) if a > p.mtime => a,
        _ => p.mtime,
    };
    Timestamps {
        last_access: ts(atime),
        last_modification: ts(p.mtime),
    }
}

fn open_dir_nofollow(dir: BorrowedFd<'_>, name: &OsStr) -> std::result::Result<OwnedFd, Errno> {
    rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// chmod of `name` in `dir` that never follows a symlink (Linux has no
/// lchmod before fchmodat2): the node is pinned with `O_PATH|O_NOFOLLOW`
/// and changed through its `/proc/self/fd` link, which names exactly that
/// inode. A container swapping the name for a symlink to a host path thus
/// cannot make us chmod the host file. Returns false for a symlink (left
/// alone).
fn chmod_nofollow(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    mode: u32,
) -> std::result::Result<bool, Errno> {
    let fd = rfs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = rfs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        return Ok(false);
    }
    rfs::chmod(
        format!("/proc/self/fd/{}", fd.as_raw_fd()),
        Mode::from_raw_mode(mode),
    )?;
    Ok(true)
}
