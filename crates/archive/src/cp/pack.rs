//! Packing a container tree into the tar dockerd writes: `GET /archive`
//! (`Resource::write_tar`) and `GET /containers/{id}/export` (`export`).
//!
//! The format is what dockerd 20.10's `addTarFile` hands Go's
//! `archive/tar` writer: `FileInfoHeader` with `Format = PAX` (so USTAR
//! whenever a header fits, with the name split into prefix/name, and a PAX
//! extended header otherwise), mtime truncated to the second, no atime or
//! ctime, the mode with its file-type bits (20.10's `fillGo18FileTypeBits`),
//! no user or group names (looking them up is what loaded the container's
//! nss modules in CVE-2019-14271), hardlinks within the tree as tar links
//! to the first name seen, sockets skipped, `security.capability`
//! (VFS_CAP_REVISION_3 turned into revision 2, as moby does) and, beyond
//! Docker, `user.*` and POSIX ACL xattrs. Directories are walked in byte
//! order of their names, as Go's `filepath.Walk`, so the stream is the one
//! dockerd would send for the same tree. Two zero blocks end it.
//!
//! Performance: each directory is read with one large `getdents` buffer;
//! a regular file costs `openat` (relative to its directory, `O_NOFOLLOW`),
//! `statx` on that fd, `flistxattr` on it, and reads sized from the stat
//! straight into the output buffer, which goes to `out` in 1 MiB writes.
//! There is no per-file path resolution from the root.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io::Write;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, RawDir, StatxFlags};
use rustix::io::Errno;

use super::gopath::{self, lossy};
use super::resolve::Resource;
use crate::{Error, Result};

/// Output buffer: headers and small files are gathered into it, big files
/// are read into it; it goes to `out` in writes of exactly this size (the
/// daemon's channel writer passes such writes through without copying
/// them again).
const OUT_CAP: usize = 1 << 20;
/// getdents buffer.
const DENTS_CAP: usize = 64 << 10;
const BLOCK: usize = 512;

pub(crate) const TYPE_REG: u8 = b'0';
const TYPE_LINK: u8 = b'1';
const TYPE_SYMLINK: u8 = b'2';
const TYPE_CHAR: u8 = b'3';
const TYPE_BLOCK: u8 = b'4';
const TYPE_DIR: u8 = b'5';
const TYPE_FIFO: u8 = b'6';
const TYPE_PAX: u8 = b'x';

/// The tar stream being written, batched into 1 MiB writes.
pub(crate) struct TarOut<'a> {
    out: &'a mut dyn Write,
    buf: Vec<u8>,
    pos: usize,
    /// Headers written (PAX extended headers not counted).
    pub(crate) entries: u64,
}

fn out_err(e: std::io::Error) -> Error {
    Error::io_what("write archive", "stream", e)
}

impl<'a> TarOut<'a> {
    pub(super) fn new(out: &'a mut dyn Write) -> Self {
        TarOut {
            out,
            buf: vec![0u8; OUT_CAP],
            pos: 0,
            entries: 0,
        }
    }

    fn flush_buf(&mut self) -> Result<()> {
        if self.pos > 0 {
            self.out.write_all(&self.buf[..self.pos]).map_err(out_err)?;
            self.pos = 0;
        }
        Ok(())
    }

    fn put(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            if self.pos == OUT_CAP {
                self.flush_buf()?;
            }
            let n = (OUT_CAP - self.pos).min(data.len());
            self.buf[self.pos..self.pos + n].copy_from_slice(&data[..n]);
            self.pos += n;
            data = &data[n..];
        }
        Ok(())
    }

    fn zeros(&mut self, mut n: u64) -> Result<()> {
        while n > 0 {
            if self.pos == OUT_CAP {
                self.flush_buf()?;
            }
            let k = ((OUT_CAP - self.pos) as u64).min(n) as usize;
            self.buf[self.pos..self.pos + k].fill(0);
            self.pos += k;
            n -= k as u64;
        }
        Ok(())
    }

    fn pad(&mut self, size: u64) -> Result<()> {
        let rem = size % BLOCK as u64;
        if rem != 0 {
            self.zeros(BLOCK as u64 - rem)?;
        }
        Ok(())
    }

    /// `size` bytes of `fd` (already declared in the header) and the
    /// padding. A file that shrank meanwhile is padded with zeros and one
    /// that grew is cut, so the stream stays well formed (Go's writer would
    /// leave it corrupt); a read error likewise, with a warning, as dockerd
    /// logs and goes on.
    fn file_data(&mut self, fd: BorrowedFd<'_>, size: u64, what: &[u8]) -> Result<()> {
        let mut left = size;
        while left > 0 {
            if self.pos == OUT_CAP {
                self.flush_buf()?;
            }
            let want = ((OUT_CAP - self.pos) as u64).min(left) as usize;
            match rustix::io::read(fd, &mut self.buf[self.pos..self.pos + want]) {
                Ok(0) => {
                    tracing::warn!(path = %lossy(what), missing = left, "file shrank while archived; padded");
                    self.zeros(left)?;
                    break;
                }
                Ok(n) => {
                    self.pos += n;
                    left -= n as u64;
                }
                Err(Errno::INTR) => {}
                Err(e) => {
                    tracing::warn!(path = %lossy(what), error = %e, "read failed while archiving; padded");
                    self.zeros(left)?;
                    break;
                }
            }
        }
        self.pad(size)
    }

    /// The end-of-archive marker, then everything to `out`.
    pub(crate) fn finish(&mut self) -> Result<()> {
        self.zeros(2 * BLOCK as u64)?;
        self.flush_buf()?;
        self.out.flush().map_err(out_err)
    }

    /// Writes one header the way Go's `tar.Writer.WriteHeader` does for a
    /// header with `Format = FormatPAX`.
    pub(crate) fn header(&mut self, h: &Header<'_>) -> Result<()> {
        let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut ustar = true;
        let name_ascii = is_ascii(h.name);
        if !name_ascii || h.name.len() > 100 {
            pax.push((b"path".to_vec(), h.name.to_vec()));
            if split_ustar(h.name).is_none() {
                ustar = false;
            }
        }
        if !is_ascii(h.link) || h.link.len() > 100 {
            pax.push((b"linkpath".to_vec(), h.link.to_vec()));
            ustar = false;
        }
        for (key, v) in [(&b"uid"[..], h.uid as u64), (&b"gid"[..], h.gid as u64)] {
            if !fits_octal(8, v) {
                pax.push((key.to_vec(), v.to_string().into_bytes()));
                ustar = false;
            }
        }
        if !fits_octal(12, h.size) {
            pax.push((b"size".to_vec(), h.size.to_string().into_bytes()));
            ustar = false;
        }
        if h.mtime < 0 || !fits_octal(12, h.mtime as u64) {
            pax.push((b"mtime".to_vec(), h.mtime.to_string().into_bytes()));
            ustar = false;
        }
        if !h.xattrs.is_empty() {
            for (k, v) in h.xattrs {
                let mut key = b"SCHILY.xattr.".to_vec();
                key.extend_from_slice(k);
                pax.push((key, v.clone()));
            }
            ustar = false;
        }

        let mut blk = [0u8; BLOCK];
        if ustar {
            match split_ustar(h.name) {
                Some((prefix, suffix)) => {
                    fmt_str(&mut blk[0..100], suffix);
                    fmt_str(&mut blk[345..500], prefix);
                }
                None => fmt_str(&mut blk[0..100], h.name),
            }
            fmt_str(&mut blk[157..257], h.link);
            self.v7_numbers(&mut blk, h);
        } else {
            pax.sort();
            let mut records = Vec::new();
            for (k, v) in &pax {
                pax_record(&mut records, k, v);
            }
            let (dir, file) = gopath::split(h.name);
            let mut pname = dir.to_vec();
            pname.extend_from_slice(b"/PaxHeaders.0/");
            pname.extend_from_slice(file);
            let mut pname = gopath::to_ascii(&gopath::clean(&pname));
            pname.truncate(100);
            while pname.last() == Some(&b'/') {
                pname.pop();
            }
            let mut xblk = [0u8; BLOCK];
            fmt_str(&mut xblk[0..100], &pname);
            octal(&mut xblk[100..108], 0);
            octal(&mut xblk[108..116], 0);
            octal(&mut xblk[116..124], 0);
            octal(&mut xblk[124..136], records.len() as u64);
            octal(&mut xblk[136..148], 0);
            xblk[156] = TYPE_PAX;
            set_magic_and_checksum(&mut xblk);
            self.put(&xblk)?;
            self.put(&records)?;
            self.pad(records.len() as u64)?;

            fmt_str(&mut blk[0..100], &gopath::to_ascii(h.name));
            fmt_str(&mut blk[157..257], &gopath::to_ascii(h.link));
            self.v7_numbers(&mut blk, h);
        }
        blk[156] = h.typeflag;
        set_magic_and_checksum(&mut blk);
        self.entries += 1;
        self.put(&blk)
    }

    fn v7_numbers(&self, blk: &mut [u8; BLOCK], h: &Header<'_>) {
        octal(&mut blk[100..108], h.mode as u64);
        octal(&mut blk[108..116], h.uid as u64);
        octal(&mut blk[116..124], h.gid as u64);
        octal(&mut blk[124..136], h.size);
        octal(&mut blk[136..148], h.mtime.max(0) as u64);
        // uname/gname (265..329) stay empty: no name lookups.
        octal(&mut blk[329..337], h.devmajor as u64);
        octal(&mut blk[337..345], h.devminor as u64);
    }
}

/// One tar header's fields.
pub(crate) struct Header<'a> {
    pub name: &'a [u8],
    pub link: &'a [u8],
    pub typeflag: u8,
    /// The whole `st_mode`: dockerd 20.10 keeps the file-type bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: i64,
    pub devmajor: u32,
    pub devminor: u32,
    /// Sorted by key.
    pub xattrs: &'a [(Vec<u8>, Vec<u8>)],
}

fn is_ascii(s: &[u8]) -> bool {
    s.iter().all(|b| *b < 0x80)
}

/// Go's `fitsInOctal`: `n - 1` octal digits and a NUL.
fn fits_octal(n: usize, v: u64) -> bool {
    n >= 22 || v < 1u64 << ((n - 1) * 3)
}

/// Go's `formatOctal`: zero-padded digits and a NUL; 0 when it does not fit
/// (the PAX record carries the value then).
fn octal(field: &mut [u8], v: u64) {
    let v = if fits_octal(field.len(), v) { v } else { 0 };
    let s = format!("{:0width$o}", v, width = field.len() - 1);
    field[..s.len()].copy_from_slice(s.as_bytes());
    field[s.len()] = 0;
}

/// Go's `formatString` into a zeroed field: truncated, NUL-terminated when
/// shorter, and never leaving a truncated name ending in '/' (old readers
/// would take a file for a directory).
fn fmt_str(field: &mut [u8], s: &[u8]) {
    let n = s.len().min(field.len());
    field[..n].copy_from_slice(&s[..n]);
    if s.len() < field.len() {
        field[s.len()] = 0;
    }
    if s.len() > field.len() && field[field.len() - 1] == b'/' {
        let mut k = field.len() - 1;
        while k > 0 && s[k - 1] == b'/' {
            k -= 1;
        }
        field[k] = 0;
    }
}

/// Go's `splitUSTARPath`: a long ASCII name split at a '/' into a prefix of
/// at most 155 bytes and a name of at most 100.
fn split_ustar(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut length = s.len();
    if length <= 100 || !is_ascii(s) {
        return None;
    } else if length > 156 {
        length = 156;
    } else if s[length - 1] == b'/' {
        length -= 1;
    }
    let i = s[..length].iter().rposition(|b| *b == b'/')?;
    let nlen = s.len() - i - 1;
    if i == 0 || nlen > 100 || nlen == 0 || i > 155 {
        return None;
    }
    Some((&s[..i], &s[i + 1..]))
}

/// Go's `formatPAXRecord`: "<len> <key>=<value>\n" where len counts itself.
fn pax_record(out: &mut Vec<u8>, k: &[u8], v: &[u8]) {
    let base = k.len() + v.len() + 3;
    let mut size = base + base.to_string().len();
    if (base + size.to_string().len()) != size {
        size = base + size.to_string().len();
    }
    out.extend_from_slice(size.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(k);
    out.push(b'=');
    out.extend_from_slice(v);
    out.push(b'\n');
}

/// USTAR magic and version, then the checksum (six octal digits, NUL,
/// space), as Go's `block.setFormat`.
fn set_magic_and_checksum(blk: &mut [u8; BLOCK]) {
    blk[257..263].copy_from_slice(b"ustar\0");
    blk[263..265].copy_from_slice(b"00");
    blk[148..156].fill(b' ');
    let sum: u64 = blk.iter().map(|b| *b as u64).sum();
    octal(&mut blk[148..155], sum);
    blk[155] = b' ';
}

/// What `statx` told us about one object.
#[derive(Clone, Copy)]
struct St {
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: i64,
    nlink: u32,
    dev: (u32, u32),
    ino: u64,
    rdev: (u32, u32),
    mnt_id: u64,
}

impl St {
    fn ftype(&self) -> FileType {
        FileType::from_raw_mode(self.mode)
    }
}

fn statx_at(dir: BorrowedFd<'_>, name: &OsStr, flags: AtFlags) -> std::result::Result<St, Errno> {
    let x = rfs::statx(
        dir,
        name,
        flags,
        StatxFlags::BASIC_STATS | StatxFlags::MNT_ID,
    )?;
    Ok(St {
        mode: x.stx_mode as u32,
        uid: x.stx_uid,
        gid: x.stx_gid,
        size: x.stx_size,
        mtime: x.stx_mtime.tv_sec,
        nlink: x.stx_nlink,
        dev: (x.stx_dev_major, x.stx_dev_minor),
        ino: x.stx_ino,
        rdev: (x.stx_rdev_major, x.stx_rdev_minor),
        mnt_id: x.stx_mnt_id,
    })
}

fn statx_fd(fd: BorrowedFd<'_>) -> std::result::Result<St, Errno> {
    statx_at(fd, OsStr::new(""), AtFlags::EMPTY_PATH)
}

/// Pseudo filesystems whose contents are the kernel's, not the container's.
fn is_kernel_fs(fd: BorrowedFd<'_>) -> bool {
    const KERNEL_FS: &[i64] = &[
        0x9fa0,      // proc
        0x6265_6572, // sysfs
        0x0027_e0eb, // cgroup
        0x6367_7270, // cgroup2
        0x1cd1,      // devpts
        0x1980_0202, // mqueue
        0x6462_6720, // debugfs
        0x7363_6673, // securityfs
        0x7472_6163, // tracefs
        0xcafe_4a11, // bpf
    ];
    rustix::fs::fstatfs(fd).is_ok_and(|s| KERNEL_FS.contains(&s.f_type))
}

fn open_dir(dir: BorrowedFd<'_>, name: &OsStr) -> std::result::Result<OwnedFd, Errno> {
    rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// A regular file for reading: never through a symlink, and never blocking
/// (a FIFO swapped in since `getdents` opens at once and is then refused by
/// the type check on the fd's own stat).
fn open_file(dir: BorrowedFd<'_>, name: &OsStr) -> std::result::Result<OwnedFd, Errno> {
    rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// One directory's entries, sorted by name bytes (Go's `filepath.Walk`
/// order), names kept in one arena.
struct Listing {
    arena: Vec<u8>,
    ents: Vec<(u32, u32, FileType)>,
}

impl Listing {
    fn name(&self, i: usize) -> &[u8] {
        let (off, len, _) = self.ents[i];
        &self.arena[off as usize..(off + len) as usize]
    }
}

fn list_dir(
    fd: BorrowedFd<'_>,
    buf: &mut [MaybeUninit<u8>],
) -> std::result::Result<Listing, Errno> {
    let mut arena = Vec::new();
    let mut ents = Vec::new();
    let mut it = RawDir::new(fd, buf);
    while let Some(ent) = it.next() {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n == b"." || n == b".." {
            continue;
        }
        ents.push((arena.len() as u32, n.len() as u32, ent.file_type()));
        arena.extend_from_slice(n);
    }
    ents.sort_unstable_by(|a, b| {
        arena[a.0 as usize..(a.0 + a.1) as usize].cmp(&arena[b.0 as usize..(b.0 + b.1) as usize])
    });
    Ok(Listing { arena, ents })
}

struct Frame {
    fd: OwnedFd,
    list: Listing,
    idx: usize,
    /// Length of the archive-name prefix of this directory's children.
    prefix_len: usize,
}

pub(crate) struct Walker<'o> {
    pub(crate) tw: TarOut<'o>,
    /// First archive name of each multiply-linked inode, by (dev, ino).
    seen: HashMap<((u32, u32), u64), Vec<u8>>,
    dents: Vec<MaybeUninit<u8>>,
    xlist: Vec<u8>,
    /// Devices whose filesystem has no xattrs: not asked again.
    no_xattrs: HashSet<(u32, u32)>,
    /// export: the root's mount; entries on other mounts are not archived.
    root_mnt: Option<u64>,
}

/// The xattrs Docker archives (`security.capability`) and the ones we add
/// because a copy should keep them (`user.*`, POSIX ACLs). `trusted.*`
/// (overlay's own metadata among them) and `security.selinux` stay behind.
fn wanted_xattr(k: &[u8]) -> bool {
    k == b"security.capability"
        // `user.overlay.*` is overlayfs' own metadata in an upper dir
        // mounted with `userxattr` (what a layer is written from); appliers
        // refuse it anyway.
        || (k.starts_with(b"user.") && !k.starts_with(b"user.overlay."))
        || k == b"system.posix_acl_access"
        || k == b"system.posix_acl_default"
}

impl<'o> Walker<'o> {
    pub(crate) fn new(out: &'o mut dyn Write, root_mnt: Option<u64>) -> Self {
        Walker {
            tw: TarOut::new(out),
            seen: HashMap::new(),
            dents: vec![MaybeUninit::uninit(); DENTS_CAP],
            xlist: vec![0u8; 4096],
            no_xattrs: HashSet::new(),
            root_mnt,
        }
    }

    /// The archived xattrs of an open regular file or directory, sorted.
    /// One `flistxattr` in the common case of none.
    fn xattrs(&mut self, fd: BorrowedFd<'_>, st: &St, what: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        if self.no_xattrs.contains(&st.dev) {
            return Vec::new();
        }
        let n = loop {
            match rfs::flistxattr(fd, &mut self.xlist[..]) {
                Ok(n) => break n,
                Err(Errno::RANGE) => match rfs::flistxattr_query(fd) {
                    Ok(sz) => self.xlist.resize(sz.max(self.xlist.len() * 2), 0),
                    Err(_) => return Vec::new(),
                },
                Err(Errno::NOTSUP) => {
                    self.no_xattrs.insert(st.dev);
                    return Vec::new();
                }
                Err(e) => {
                    tracing::warn!(path = %lossy(what), error = %e, "cannot list xattrs");
                    return Vec::new();
                }
            }
        };
        if n == 0 {
            return Vec::new();
        }
        let mut out = Vec::new();
        for key in self.xlist[..n].split(|b| *b == 0) {
            if key.is_empty() || !wanted_xattr(key) {
                continue;
            }
            let Ok(mut v) = crate::xattr::get(crate::xattr::Target::Fd(fd), OsStr::from_bytes(key))
            else {
                continue;
            };
            if key == b"security.capability" && v.len() >= 20 && v.get(3) == Some(&3) {
                // VFS_CAP_REVISION_3 names a namespace root uid that means
                // nothing outside; moby stores revision 2.
                v[3] = 2;
                v.truncate(20);
            }
            out.push((key.to_vec(), v));
        }
        out.sort();
        out
    }

    fn hdr<'h>(
        name: &'h [u8],
        link: &'h [u8],
        typeflag: u8,
        st: &St,
        xattrs: &'h [(Vec<u8>, Vec<u8>)],
    ) -> Header<'h> {
        let (devmajor, devminor) = match st.ftype() {
            FileType::CharacterDevice | FileType::BlockDevice => st.rdev,
            _ => (0, 0),
        };
        Header {
            name,
            link,
            typeflag,
            mode: st.mode,
            uid: st.uid,
            gid: st.gid,
            size: if typeflag == TYPE_REG { st.size } else { 0 },
            mtime: st.mtime,
            devmajor,
            devminor,
            xattrs,
        }
    }

    /// Non-directories with more than one link: a tar link to the first
    /// name archived, as go-archive's seen-inodes map (keyed by dev too).
    fn hardlink(&mut self, name: &[u8], st: &St, xattrs: &[(Vec<u8>, Vec<u8>)]) -> Result<bool> {
        if st.nlink <= 1 {
            return Ok(false);
        }
        match self.seen.get(&(st.dev, st.ino)) {
            Some(first) => {
                let first = first.clone();
                self.tw
                    .header(&Self::hdr(name, &first, TYPE_LINK, st, xattrs))?;
                Ok(true)
            }
            None => {
                self.seen.insert((st.dev, st.ino), name.to_vec());
                Ok(false)
            }
        }
    }

    fn emit_file(&mut self, fd: BorrowedFd<'_>, st: &St, name: &[u8]) -> Result<()> {
        let xattrs = self.xattrs(fd, st, name);
        if self.hardlink(name, st, &xattrs)? {
            return Ok(());
        }
        self.tw
            .header(&Self::hdr(name, b"", TYPE_REG, st, &xattrs))?;
        self.tw.file_data(fd, st.size, name)
    }

    /// The directory's header (its name gets the trailing '/'); the fd back
    /// when its children are to be archived.
    fn emit_dir(&mut self, fd: OwnedFd, st: &St, name: &[u8]) -> Result<Option<OwnedFd>> {
        let xattrs = self.xattrs(fd.as_fd(), st, name);
        let mut n = name.to_vec();
        if !n.ends_with(b"/") {
            n.push(b'/');
        }
        self.tw.header(&Self::hdr(&n, b"", TYPE_DIR, st, &xattrs))?;
        if let Some(m) = self.root_mnt
            && st.mnt_id != m
        {
            // A mount point: its own content is another filesystem's.
            return Ok(None);
        }
        if is_kernel_fs(fd.as_fd()) {
            // A running container's /proc, /sys, cgroup or devpts: kernel
            // views of the host, not files. dockerd's view has them empty;
            // so do we (and we never read the host's sysfs into an archive).
            return Ok(None);
        }
        Ok(Some(fd))
    }

    /// Symlinks, devices, FIFOs (by name, never opened); sockets skipped as
    /// Go's `FileInfoHeader` refuses them.
    fn emit_node(
        &mut self,
        dir: BorrowedFd<'_>,
        bname: &OsStr,
        st: &St,
        name: &[u8],
    ) -> Result<()> {
        let (typeflag, link) = match st.ftype() {
            FileType::Symlink => match rfs::readlinkat(dir, bname, Vec::new()) {
                Ok(l) => (TYPE_SYMLINK, l.into_bytes()),
                Err(e) => {
                    tracing::warn!(path = %lossy(name), error = %e, "cannot read symlink; skipped");
                    return Ok(());
                }
            },
            FileType::CharacterDevice => (TYPE_CHAR, Vec::new()),
            FileType::BlockDevice => (TYPE_BLOCK, Vec::new()),
            FileType::Fifo => (TYPE_FIFO, Vec::new()),
            _ => return Ok(()),
        };
        if self.hardlink(name, st, &[])? {
            return Ok(());
        }
        self.tw.header(&Self::hdr(name, &link, typeflag, st, &[]))
    }

    /// Archives `bname` in `dir` as `name`; a directory comes back to be
    /// descended into.
    pub(crate) fn entry(
        &mut self,
        dir: BorrowedFd<'_>,
        bname: &OsStr,
        dtype: FileType,
        name: &[u8],
    ) -> Result<Option<OwnedFd>> {
        let skip = |e: Errno, name: &[u8]| {
            if e != Errno::NOENT {
                tracing::warn!(path = %lossy(name), error = %e, "cannot archive; skipped");
            }
        };
        // Open first when getdents says so (one syscall saved); the fd's
        // own stat decides what it is, so a swap in between is harmless.
        let opened = match dtype {
            FileType::Directory => open_dir(dir, bname),
            FileType::RegularFile => open_file(dir, bname),
            _ => Err(Errno::NOTSUP),
        };
        let fd = match opened {
            Ok(fd) => Some(fd),
            Err(Errno::NOTSUP | Errno::NOTDIR | Errno::LOOP | Errno::NXIO) => None,
            Err(e) => {
                skip(e, name);
                return Ok(None);
            }
        };
        let (fd, st) = match fd {
            Some(fd) => match statx_fd(fd.as_fd()) {
                Ok(st) => (Some(fd), st),
                Err(e) => {
                    skip(e, name);
                    return Ok(None);
                }
            },
            None => match statx_at(dir, bname, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => (None, st),
                Err(e) => {
                    skip(e, name);
                    return Ok(None);
                }
            },
        };
        match (st.ftype(), fd) {
            (FileType::RegularFile, Some(fd)) => {
                if let Some(m) = self.root_mnt
                    && st.mnt_id != m
                {
                    // A file bind-mounted over the tree: not ours to export.
                    return Ok(None);
                }
                self.emit_file(fd.as_fd(), &st, name)?;
                Ok(None)
            }
            (FileType::Directory, Some(fd)) => self.emit_dir(fd, &st, name),
            (FileType::RegularFile, None) => match open_file(dir, bname) {
                Ok(fd) => match statx_fd(fd.as_fd()) {
                    Ok(st2) if st2.ftype() == FileType::RegularFile => {
                        self.emit_file(fd.as_fd(), &st2, name)?;
                        Ok(None)
                    }
                    _ => Ok(None),
                },
                Err(e) => {
                    skip(e, name);
                    Ok(None)
                }
            },
            (FileType::Directory, None) => match open_dir(dir, bname) {
                Ok(fd) => match statx_fd(fd.as_fd()) {
                    Ok(st2) => self.emit_dir(fd, &st2, name),
                    Err(e) => {
                        skip(e, name);
                        Ok(None)
                    }
                },
                Err(e) => {
                    skip(e, name);
                    Ok(None)
                }
            },
            (_, _) => {
                self.emit_node(dir, bname, &st, name)?;
                Ok(None)
            }
        }
    }

    /// Archives everything below the open directory `fd`, children named
    /// `prefix` + their path. Iterative: a container can nest directories
    /// deeper than any thread stack.
    fn walk(&mut self, fd: OwnedFd, prefix: Vec<u8>) -> Result<()> {
        let mut path = prefix;
        let mut stack: Vec<Frame> = Vec::new();
        let list = self.list(fd.as_fd(), &path);
        stack.push(Frame {
            fd,
            list,
            idx: 0,
            prefix_len: path.len(),
        });
        while let Some(top) = stack.last_mut() {
            if top.idx == top.list.ents.len() {
                stack.pop();
                continue;
            }
            let i = top.idx;
            top.idx += 1;
            path.truncate(top.prefix_len);
            path.extend_from_slice(top.list.name(i));
            let dtype = top.list.ents[i].2;
            let top = stack.last().expect("stack is not empty");
            let bname = OsStr::from_bytes(&path[top.prefix_len..]);
            let sub = self.entry(top.fd.as_fd(), bname, dtype, &path)?;
            if let Some(sub) = sub {
                path.push(b'/');
                let list = self.list(sub.as_fd(), &path);
                stack.push(Frame {
                    fd: sub,
                    list,
                    idx: 0,
                    prefix_len: path.len(),
                });
            }
        }
        Ok(())
    }

    fn list(&mut self, fd: BorrowedFd<'_>, what: &[u8]) -> Listing {
        match list_dir(fd, &mut self.dents) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(path = %lossy(what), error = %e, "cannot read directory; archived empty");
                Listing {
                    arena: Vec::new(),
                    ents: Vec::new(),
                }
            }
        }
    }
}

/// `GET /archive`: dockerd's `TarResourceRebase(resolved, Base(absPath))`.
pub(super) fn write_resource(res: &Resource, out: &mut dyn Write) -> Result<()> {
    let mut w = Walker::new(out, None);
    let shown = res.info.name.clone();
    match FileType::from_raw_mode(res.st.st_mode) {
        FileType::Directory => {
            let fd = rfs::openat(
                &res.fd,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::go("open", &shown, e))?;
            let st = statx_fd(fd.as_fd()).map_err(|e| Error::go("stat", &shown, e))?;
            // The include "." is renamed to the base name; "/" becomes ""
            // (moby special-cases the root so names do not start "//"):
            // "etc/", "etc/passwd"; "./", "./passwd"; "/", "/bin/".
            let rebase: &[u8] = if res.base == b"/" { b"" } else { &res.base };
            let root_name = if rebase.is_empty() {
                b"/".to_vec()
            } else {
                rebase.to_vec()
            };
            if let Some(fd) = w.emit_dir(fd, &st, &root_name)? {
                let mut prefix = rebase.to_vec();
                prefix.push(b'/');
                w.walk(fd, prefix)?;
            }
        }
        FileType::RegularFile => {
            // Reopened through the O_PATH fd (procfs), so the data is that
            // of the inode that was stat'ed.
            let file = pathrs::HandleRef::from_fd(res.fd.as_fd())
                .reopen(
                    pathrs::flags::OpenFlags::O_RDONLY
                        | pathrs::flags::OpenFlags::O_NONBLOCK
                        | pathrs::flags::OpenFlags::O_NOCTTY,
                )
                .map_err(|e| Error::pathrs("open", &shown, e))?;
            let st = statx_fd(file.as_fd()).map_err(|e| Error::go("stat", &shown, e))?;
            w.emit_file(file.as_fd(), &st, &res.base)?;
        }
        _ => {
            let st = statx_fd(res.fd.as_fd()).map_err(|e| Error::go("stat", &shown, e))?;
            w.emit_node(res.fd.as_fd(), OsStr::new(""), &st, &res.base)?;
        }
    }
    w.tw.finish()
}

/// `GET /containers/{id}/export`: the whole tree under `root` as dockerd's
/// `TarWithOptions(rootfs, {})` writes it (no entry for the root, names
/// without "./": "bin/", "bin/sh"), never crossing into another mount: a
/// directory whose mount id (`statx` `STATX_MNT_ID`) differs from the
/// root's is archived as an empty directory, a non-directory mount point is
/// left out. Streamed.
pub fn export(root: &pathrs::Root, out: &mut dyn Write) -> Result<()> {
    let fd = rfs::openat(
        root,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::go("open", "/", e))?;
    let st = statx_fd(fd.as_fd()).map_err(|e| Error::go("stat", "/", e))?;
    let mut w = Walker::new(out, Some(st.mnt_id));
    w.walk(fd, Vec::new())?;
    w.tw.finish()
}
