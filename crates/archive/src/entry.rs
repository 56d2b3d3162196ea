//! Reading one tar header into the facts both extractors act on (layer
//! application in `apply`, `docker cp` extraction in `cp::extract`): the
//! name, the kind, ownership, mode, times and `SCHILY.xattr.*` records, with
//! Go's `archive/tar` reader semantics where tar-rs differs from it.

use std::io::Read;

use rustix::fs::FileType;

pub(crate) enum Kind {
    Dir,
    File,
    Symlink(Vec<u8>),
    Hardlink(Vec<u8>),
    Device(FileType, u32, u32),
    Fifo,
}

pub(crate) struct Parsed {
    /// The name as stored (PAX `path` or GNU long name applied).
    pub raw: Vec<u8>,
    pub kind: Kind,
    /// Permission bits with setuid/setgid/sticky (`mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Seconds and nanoseconds; PAX `mtime` when present.
    pub mtime: (i64, i64),
    /// PAX `atime`, when the archive has one.
    pub atime: Option<(i64, i64)>,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// Declared data size.
    pub size: u64,
}

pub(crate) enum ParseError {
    /// The stream itself failed (truncated, corrupt, or the reader below).
    Stream(std::io::Error),
    /// The header is readable but says something we refuse.
    Invalid { name: Vec<u8>, why: String },
}

/// Parses the header of `e`. `Ok(None)` for entries that carry no file (a
/// PAX global header: git-archive writes one; Go and containerd ignore them).
pub(crate) fn parse<R: Read>(
    e: &mut tar::Entry<'_, R>,
) -> std::result::Result<Option<Parsed>, ParseError> {
    let hdr = e.header().clone();
    let etype = hdr.entry_type();
    if etype.is_pax_global_extensions() {
        return Ok(None);
    }
    let raw = e.path_bytes().into_owned();
    let invalid = |why: String| ParseError::Invalid {
        name: raw.clone(),
        why,
    };

    let mut xattrs = Vec::new();
    let mut pax_mtime = None;
    let mut pax_atime = None;
    if let Some(exts) = e.pax_extensions().map_err(ParseError::Stream)? {
        for ext in exts {
            let ext = ext.map_err(ParseError::Stream)?;
            let key = ext.key_bytes();
            if let Some(k) = key.strip_prefix(b"SCHILY.xattr.") {
                xattrs.push((k.to_vec(), ext.value_bytes().to_vec()));
            } else if key == b"mtime" {
                pax_mtime = parse_pax_time(ext.value_bytes());
            } else if key == b"atime" {
                pax_atime = parse_pax_time(ext.value_bytes());
            }
        }
    }
    let link = e.link_name_bytes().map(|c| c.into_owned());

    // Go's reader reads an empty (all NUL or space) numeric field as 0;
    // some writers leave unused fields so. tar-rs refuses them.
    let raw_hdr = hdr.as_bytes();
    let lenient = |r: std::io::Result<u64>, field: std::ops::Range<usize>| match r {
        Ok(v) => Ok(v),
        Err(_) if raw_hdr[field].iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        Err(err) => Err(invalid(err.to_string())),
    };
    let mode = lenient(hdr.mode().map(u64::from), 100..108)? as u32 & 0o7777;
    let uid = lenient(hdr.uid(), 108..116)?;
    let gid = lenient(hdr.gid(), 116..124)?;
    let uid = u32::try_from(uid).map_err(|_| invalid("uid out of range".into()))?;
    let gid = u32::try_from(gid).map_err(|_| invalid("gid out of range".into()))?;
    let mtime = match pax_mtime {
        Some(t) => t,
        None => {
            let m = lenient(hdr.mtime(), 136..148)?;
            (i64::try_from(m).unwrap_or(i64::MAX), 0)
        }
    };

    let kind = match etype {
        // Go's archive/tar reads an old-style regular entry ('\0') whose
        // name ends in '/' as a directory.
        tar::EntryType::Regular if hdr.as_bytes()[156] == 0 && raw.ends_with(b"/") => Kind::Dir,
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
            Kind::File
        }
        tar::EntryType::Directory => Kind::Dir,
        tar::EntryType::Symlink => {
            Kind::Symlink(link.ok_or_else(|| invalid("symlink without a target".into()))?)
        }
        tar::EntryType::Link => {
            Kind::Hardlink(link.ok_or_else(|| invalid("hardlink without a target".into()))?)
        }
        tar::EntryType::Char | tar::EntryType::Block => {
            let major = hdr
                .device_major()
                .map_err(|err| invalid(err.to_string()))?
                .unwrap_or(0);
            let minor = hdr
                .device_minor()
                .map_err(|err| invalid(err.to_string()))?
                .unwrap_or(0);
            let t = if etype == tar::EntryType::Char {
                FileType::CharacterDevice
            } else {
                FileType::BlockDevice
            };
            Kind::Device(t, major, minor)
        }
        tar::EntryType::Fifo => Kind::Fifo,
        other => {
            return Err(invalid(format!(
                "unsupported tar entry type {:?}",
                other.as_byte() as char
            )));
        }
    };
    let size = match kind {
        Kind::File => e.size(),
        _ => 0,
    };
    Ok(Some(Parsed {
        raw,
        kind,
        mode,
        uid,
        gid,
        mtime,
        atime: pax_atime,
        xattrs,
        size,
    }))
}

/// Parses a PAX time ("1700000000.123456789", possibly negative).
pub(crate) fn parse_pax_time(v: &[u8]) -> Option<(i64, i64)> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (secs, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    if secs.is_empty()
        || !secs.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let mut nanos: i64 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nanos += i64::from(b - b'0') * 10i64.pow(8 - i as u32);
    }
    if neg {
        if nanos > 0 {
            Some((-secs - 1, 1_000_000_000 - nanos))
        } else {
            Some((-secs, 0))
        }
    } else {
        Some((secs, nanos))
    }
}

/// End-of-archive blocks and record padding (tar pads to 10 KiB records)
/// after the last entry are normal; only what goes beyond counts.
const TRAILER_ALLOWANCE: u64 = 64 * 1024;

/// Reads what follows the end-of-archive marker, so a caller hashing the
/// stream sees every byte (and a `docker-untar` peer is not cut off), with
/// the bytes already `written` and the trailer counted against `max`.
pub(crate) fn drain_trailer(
    r: &mut impl Read,
    buf: &mut [u8],
    written: u64,
    max: Option<u64>,
    stream_err: impl Fn(std::io::Error) -> crate::Error,
    over: impl Fn(u64) -> crate::Error,
) -> crate::Result<()> {
    let mut trailing = 0u64;
    loop {
        let k = match r.read(buf) {
            Ok(0) => return Ok(()),
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(stream_err(e)),
        };
        trailing += k as u64;
        if let Some(max) = max
            && written.saturating_add(trailing.saturating_sub(TRAILER_ALLOWANCE)) > max
        {
            return Err(over(max));
        }
    }
}

/// Why `copy_bounded` stopped.
pub(crate) enum CopyError {
    Read(std::io::Error),
    /// The total passed this limit.
    Over(u64),
    Write(std::io::Error),
}

/// Copies one entry's data to `out` through `buf`, counting every byte into
/// `total` against `max` (the decompression-bomb guard both extractors
/// share). Returns the entry's byte count.
pub(crate) fn copy_bounded(
    r: &mut impl Read,
    out: &mut impl std::io::Write,
    buf: &mut [u8],
    total: &mut u64,
    max: Option<u64>,
) -> std::result::Result<u64, CopyError> {
    let mut n = 0u64;
    loop {
        let k = match r.read(buf) {
            Ok(0) => return Ok(n),
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        n += k as u64;
        *total += k as u64;
        if let Some(max) = max
            && *total > max
        {
            return Err(CopyError::Over(max));
        }
        out.write_all(&buf[..k]).map_err(CopyError::Write)?;
    }
}
