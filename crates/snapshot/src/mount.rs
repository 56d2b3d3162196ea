//! Performing snapshot mounts. Kept in one place because it is the only
//! part of the crate that changes the mount table; rustix wraps the calls
//! safely, so no `unsafe` is needed.

use std::ffi::CString;
use std::path::Path;

use rustix::fs::CWD;
use rustix::io::Errno;
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags, UnmountFlags,
};

use crate::{Error, Mount, Result};

/// The kernel copies mount data into one page; overlay options longer than
/// that are refused by mount(2). 4096 is the smallest page size we run on.
const MOUNT_DATA_MAX: usize = 4095;

struct Parsed {
    flags: MountFlags,
    data: Vec<String>,
}

/// Splits containerd-style options into mount flags and filesystem data.
fn parse(options: &[String]) -> Parsed {
    let mut flags = MountFlags::empty();
    let mut data = Vec::new();
    for o in options {
        match o.as_str() {
            "defaults" => {}
            "ro" => flags |= MountFlags::RDONLY,
            "rw" => flags.remove(MountFlags::RDONLY),
            "bind" => flags |= MountFlags::BIND,
            "rbind" => flags |= MountFlags::BIND | MountFlags::REC,
            "nosuid" => flags |= MountFlags::NOSUID,
            "suid" => flags.remove(MountFlags::NOSUID),
            "nodev" => flags |= MountFlags::NODEV,
            "dev" => flags.remove(MountFlags::NODEV),
            "noexec" => flags |= MountFlags::NOEXEC,
            "exec" => flags.remove(MountFlags::NOEXEC),
            "noatime" => flags |= MountFlags::NOATIME,
            "relatime" => flags |= MountFlags::RELATIME,
            "strictatime" => flags |= MountFlags::STRICTATIME,
            "nodiratime" => flags |= MountFlags::NODIRATIME,
            "sync" => flags |= MountFlags::SYNCHRONOUS,
            "dirsync" => flags |= MountFlags::DIRSYNC,
            _ => data.push(o.clone()),
        }
    }
    Parsed { flags, data }
}

fn cstring(s: &str, target: &Path) -> Result<CString> {
    CString::new(s)
        .map_err(|_| Error::invalid(format!("mount {}: option contains NUL", target.display())))
}

/// Performs `mounts` on `target`, in order, in the calling thread's mount
/// namespace. On failure, the mounts already made are undone.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<()> {
    for (i, m) in mounts.iter().enumerate() {
        if let Err(e) = mount_one(m, target) {
            for _ in 0..i {
                let _ = unmount(target);
            }
            return Err(e);
        }
    }
    Ok(())
}

fn mount_one(m: &Mount, target: &Path) -> Result<()> {
    let p = parse(&m.options);
    let merr = |e: Errno| Error::errno(&format!("mount {} {} on", m.kind, m.source), target, e);
    match m.kind.as_str() {
        "bind" => {
            let bind = p.flags & (MountFlags::BIND | MountFlags::REC) | MountFlags::BIND;
            rustix::mount::mount(m.source.as_str(), target, "", bind, None).map_err(merr)?;
            // Flags other than BIND/REC are ignored on the initial bind; a
            // read-only (or nosuid...) bind needs a remount.
            let rest = p.flags - (MountFlags::BIND | MountFlags::REC);
            if !rest.is_empty()
                && let Err(e) = rustix::mount::mount_remount(target, MountFlags::BIND | rest, "")
            {
                let _ = unmount(target);
                return Err(merr(e));
            }
            Ok(())
        }
        "overlay" => {
            let data = p.data.join(",");
            if data.len() <= MOUNT_DATA_MAX {
                let c = cstring(&data, target)?;
                rustix::mount::mount(
                    m.source.as_str(),
                    target,
                    "overlay",
                    p.flags,
                    Some(c.as_c_str()),
                )
                .map_err(merr)
            } else {
                mount_overlay_fsconfig(&p, target).map_err(|e| match e {
                    Errno::INVAL => Error::invalid(format!(
                        "mount overlay on {}: {} bytes of options exceed a page and this kernel \
                         does not accept lowerdir+ (Linux 6.8 or later needed for this many layers)",
                        target.display(),
                        data.len()
                    )),
                    e => merr(e),
                })
            }
        }
        other => {
            let data = p.data.join(",");
            let c = cstring(&data, target)?;
            let d = if data.is_empty() {
                None
            } else {
                Some(c.as_c_str())
            };
            rustix::mount::mount(m.source.as_str(), target, other, p.flags, d).map_err(merr)
        }
    }
}

/// The new mount API takes overlay options one by one, and `lowerdir+`
/// (Linux 6.8) one layer at a time, so no page limit applies. containerd
/// instead shortens paths by chdir-ing in a child process, which a threaded
/// daemon cannot do safely.
fn mount_overlay_fsconfig(p: &Parsed, target: &Path) -> std::result::Result<(), Errno> {
    let fs = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    for o in &p.data {
        match o.split_once('=') {
            Some(("lowerdir", v)) => {
                for l in v.split(':') {
                    rustix::mount::fsconfig_set_string(&fs, "lowerdir+", l)?;
                }
            }
            Some((k, v)) => rustix::mount::fsconfig_set_string(&fs, k, v)?,
            None => rustix::mount::fsconfig_set_flag(&fs, o.as_str())?,
        }
    }
    rustix::mount::fsconfig_create(&fs)?;
    let mut attrs = MountAttrFlags::empty();
    if p.flags.contains(MountFlags::RDONLY) {
        attrs |= MountAttrFlags::MOUNT_ATTR_RDONLY;
    }
    if p.flags.contains(MountFlags::NOSUID) {
        attrs |= MountAttrFlags::MOUNT_ATTR_NOSUID;
    }
    if p.flags.contains(MountFlags::NODEV) {
        attrs |= MountAttrFlags::MOUNT_ATTR_NODEV;
    }
    if p.flags.contains(MountFlags::NOEXEC) {
        attrs |= MountAttrFlags::MOUNT_ATTR_NOEXEC;
    }
    let mnt = rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)?;
    rustix::mount::move_mount(
        &mnt,
        "",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
}

/// Unmounts `target`; lazily (MNT_DETACH) if it is busy. A target that is
/// not a mount point is not an error.
pub fn unmount(target: &Path) -> Result<()> {
    match rustix::mount::unmount(target, UnmountFlags::empty()) {
        Ok(()) | Err(Errno::INVAL) => Ok(()),
        Err(Errno::BUSY) => match rustix::mount::unmount(target, UnmountFlags::DETACH) {
            Ok(()) | Err(Errno::INVAL) => Ok(()),
            Err(e) => Err(Error::errno("unmount", target, e)),
        },
        Err(e) => Err(Error::errno("unmount", target, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_splits_flags_and_data() {
        let p = parse(&[
            "ro".into(),
            "rbind".into(),
            "index=off".into(),
            "lowerdir=/a:/b".into(),
            "nosuid".into(),
        ]);
        assert!(p.flags.contains(
            MountFlags::RDONLY | MountFlags::BIND | MountFlags::REC | MountFlags::NOSUID
        ));
        assert_eq!(
            p.data,
            vec!["index=off".to_string(), "lowerdir=/a:/b".to_string()]
        );
        let p = parse(&["ro".into(), "rw".into()]);
        assert!(!p.flags.contains(MountFlags::RDONLY));
    }
}
