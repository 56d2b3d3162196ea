//! A container's filesystem as the container sees it, for docker cp, export
//! and the init layer — never by mounting into the host's namespace.
//!
//! - A running (or paused) container: its own mount tree, reached through
//!   `/proc/PID/root` (checked against a pidfd, so a recycled pid cannot
//!   hand us another process's root). Volumes, binds and tmpfs mounts are
//!   there because the container has them. (dockerd 20.10 builds a view
//!   without the tmpfs mounts, so a copy into a running container's tmpfs
//!   lands invisibly underneath; we do not copy that.)
//! - A created or exited one: a private mount namespace, made on a
//!   short-lived thread, holding the rootfs overlay and the container's
//!   volumes and binds (and fresh tmpfs mounts, as the container would find
//!   them at its next start), as moby's containerfs does. The namespace is
//!   kept alive by an fd to it; the view's root fd resolves through its
//!   mounts from any thread, and dropping the view releases everything.
//!
//! Every path inside goes through `pathrs` (RESOLVE_IN_ROOT).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::container::{Container, MountKind, MountRecord, Status};
use crate::error::{Error, Result};
use crate::{Daemon, sys};

/// What the view must contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    /// The rootfs and the container's mounts: what `docker cp` sees.
    Full,
    /// The rootfs alone: `docker export` leaves the mounts out.
    RootfsOnly,
}

pub struct FsView {
    root: Option<pathrs::Root>,
    root_mnt_id: u64,
    ns: Option<OwnedFd>,
    mount_dir: Option<PathBuf>,
    _guard: Option<tokio::sync::OwnedRwLockReadGuard<()>>,
}

impl FsView {
    pub fn root(&self) -> &pathrs::Root {
        self.root.as_ref().expect("root lives as long as the view")
    }

    /// Whether `fd` (something resolved in this view) lies on the
    /// container's rootfs mount rather than on one of its volumes or binds.
    pub fn on_rootfs(&self, fd: impl AsFd) -> bool {
        mnt_id(fd).is_ok_and(|id| id == self.root_mnt_id)
    }
}

impl Drop for FsView {
    fn drop(&mut self) {
        // Root fd first, then the namespace: the mounts go with it. The
        // empty mount point dir on the host goes last.
        drop(self.root.take());
        drop(self.ns.take());
        if let Some(dir) = self.mount_dir.take() {
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

pub fn mnt_id(fd: impl AsFd) -> std::io::Result<u64> {
    let st = rustix::fs::statx(
        fd,
        "",
        rustix::fs::AtFlags::EMPTY_PATH,
        rustix::fs::StatxFlags::MNT_ID,
    )?;
    Ok(st.stx_mnt_id)
}

/// True when `fd` is on a read-only mount.
pub fn on_readonly_mount(fd: impl AsFd) -> bool {
    rustix::fs::fstatvfs(fd).is_ok_and(|s| s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY))
}

impl Daemon {
    /// Opens a view of the container's filesystem. The view holds the
    /// container's filesystem lock (shared), so the container is not
    /// removed or started underneath a stream until the view is dropped.
    pub(crate) async fn open_fs_view(&self, c: &Arc<Container>, kind: ViewKind) -> Result<FsView> {
        let guard = c.fs_lock.clone().read_owned().await;
        let (status, pid, rec) = {
            let g = c.lock();
            let live = g.task_live && g.rec.state.status.is_live();
            (
                g.rec.state.status,
                if live { g.rec.state.pid } else { 0 },
                g.rec.clone(),
            )
        };
        if matches!(status, Status::Removing | Status::Dead) {
            return Err(Error::conflict(format!(
                "container {} is being removed",
                c.id
            )));
        }
        if pid > 0 {
            let view = match kind {
                ViewKind::Full => live_root(pid)?,
                // The host's mount of the rootfs has none of the mounts the
                // runtime made inside the container's namespace.
                ViewKind::RootfsOnly => {
                    let root = pathrs::Root::open(c.paths.rootfs())
                        .map_err(|e| Error::internal(format!("open rootfs of {}: {e}", c.id)))?;
                    let id = mnt_id(root_fd(&root)).map_err(|e| Error::io("statx rootfs", e))?;
                    (root, id)
                }
            };
            return Ok(FsView {
                root: Some(view.0),
                root_mnt_id: view.1,
                ns: None,
                mount_dir: None,
                _guard: Some(guard),
            });
        }
        let snapshot_mounts = self.images.snapshotter().mounts(&rec.snapshot_key)?;
        let dir = self.cfg.exec_root.join("views").join(format!(
            "{}-{}",
            &c.id[..12],
            &crate::names::random_id()[..8]
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        let extra = if kind == ViewKind::Full {
            let mut m = rec.mounts.clone();
            // What the container has at /etc/hostname, /etc/hosts and
            // /etc/resolv.conf once it has run (dockerd's view has them too);
            // before that, the init layer's empty placeholders.
            for (file, dest) in crate::netfiles::FILES {
                let source = c.dir.join(file);
                if rec.has_been_started
                    && source.is_file()
                    && !m.iter().any(|x| x.destination == *dest)
                {
                    m.push(MountRecord {
                        source: source.to_string_lossy().into_owned(),
                        ..MountRecord::new(MountKind::Bind, *dest)
                    });
                }
            }
            m
        } else {
            Vec::new()
        };
        let readonly = rec.host_config.readonly_rootfs;
        let target = dir.clone();
        let built = tokio::task::spawn_blocking(move || {
            // A fresh thread, not a pool thread: unsharing the mount
            // namespace changes the calling thread for good.
            std::thread::spawn(move || {
                build_private_view(&snapshot_mounts, &target, readonly, &extra)
            })
            .join()
            .map_err(|_| Error::internal("filesystem view thread panicked"))?
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))?;
        match built {
            Ok((root, ns, id)) => Ok(FsView {
                root: Some(root),
                root_mnt_id: id,
                ns: Some(ns),
                mount_dir: Some(dir),
                _guard: Some(guard),
            }),
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                Err(e)
            }
        }
    }
}

fn root_fd(root: &pathrs::Root) -> std::os::fd::BorrowedFd<'_> {
    root.as_fd()
}

/// The root of a running container's mount namespace.
fn live_root(pid: i32) -> Result<(pathrs::Root, u64)> {
    let gone = || Error::conflict("the container's process exited during the operation");
    let p = rustix::process::Pid::from_raw(pid).ok_or_else(gone)?;
    let pidfd =
        rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).map_err(|_| gone())?;
    // Opened by hand: following the /proc magic link is exactly what is
    // wanted here (it is the container's root), and pathrs refuses magic
    // links. From then on every lookup goes through pathrs in that root.
    let fd = rustix::fs::open(
        format!("/proc/{pid}/root"),
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|_| gone())?;
    let root = pathrs::Root::from_fd(fd);
    // The pidfd becomes readable when its process exits. Still running now
    // means the pid was not recycled between pidfd_open and the open above,
    // so `root` is this container's.
    let mut fds = [rustix::event::PollFd::new(
        &pidfd,
        rustix::event::PollFlags::IN,
    )];
    let ready = rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default()))
        .map_err(|e| Error::internal(format!("poll pidfd: {e}")))?;
    if ready > 0 {
        return Err(gone());
    }
    let id = mnt_id(root.as_fd()).map_err(|e| Error::io("statx container root", e))?;
    Ok((root, id))
}

/// Runs on a dedicated thread: unshares its mount namespace, mounts the
/// rootfs and the container's mounts on `target`, and returns the root, the
/// namespace (which keeps those mounts alive) and the rootfs mount id.
fn build_private_view(
    snapshot_mounts: &[berth_snapshot::Mount],
    target: &Path,
    readonly_rootfs: bool,
    extra: &[MountRecord],
) -> Result<(pathrs::Root, OwnedFd, u64)> {
    sys::unshare_private_mount_namespace()
        .map_err(|e| Error::internal(format!("private mount namespace: {e}")))?;
    berth_snapshot::mount_all(snapshot_mounts, target)?;
    let root =
        pathrs::Root::open(target).map_err(|e| Error::internal(format!("open rootfs: {e}")))?;
    let root_id = mnt_id(root.as_fd()).map_err(|e| Error::io("statx rootfs", e))?;
    // Parents first, as the runtime mounts them.
    let mut mounts: Vec<&MountRecord> = extra.iter().collect();
    mounts.sort_by_key(|m| m.destination.matches('/').count());
    for m in mounts {
        mount_in_view(&root, m).map_err(|e| {
            Error::internal(format!(
                "mount {} in the container's view: {e}",
                m.destination
            ))
        })?;
    }
    // Read-only last: the mount points above may have had to be made, as the
    // runtime makes them before it remounts the rootfs.
    if readonly_rootfs {
        sys::remount_readonly(target)
            .map_err(|e| Error::internal(format!("remount rootfs read-only: {e}")))?;
    }
    let ns = std::fs::File::open("/proc/thread-self/ns/mnt")
        .map_err(|e| Error::io("open the view's mount namespace", e))?;
    Ok((root, ns.into(), root_id))
}

fn mount_in_view(root: &pathrs::Root, m: &MountRecord) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir_perm = std::fs::Permissions::from_mode(0o755);
    let source_is_dir = m.kind != MountKind::Bind || Path::new(&m.source).is_dir();
    // The destination is made (and resolved) inside the root, so a symlink
    // the container planted cannot send the mount elsewhere.
    let target = if source_is_dir {
        root.mkdir_all(&m.destination, &dir_perm)
            .map_err(std::io::Error::other)?
    } else {
        let dest = Path::new(&m.destination);
        if let Some(parent) = dest.parent() {
            root.mkdir_all(parent, &dir_perm)
                .map_err(std::io::Error::other)?;
        }
        match root.resolve(dest) {
            Ok(h) => h,
            Err(_) => {
                root.create_file(
                    dest,
                    pathrs::flags::OpenFlags::O_CREAT | pathrs::flags::OpenFlags::O_RDONLY,
                    &std::fs::Permissions::from_mode(0o644),
                )
                .map_err(std::io::Error::other)?;
                root.resolve(dest).map_err(std::io::Error::other)?
            }
        }
    };
    let fd_path = format!("/proc/self/fd/{}", target.as_fd().as_raw_fd());
    match m.kind {
        MountKind::Bind | MountKind::Volume => {
            sys::bind_mount(Path::new(&m.source), Path::new(&fd_path))?
        }
        MountKind::Tmpfs => {
            let data: Vec<&str> = m
                .options
                .iter()
                .map(String::as_str)
                .filter(|o| o.starts_with("size=") || o.starts_with("mode="))
                .collect();
            sys::mount_tmpfs(Path::new(&fd_path), &data.join(","))?
        }
    }
    if !m.rw {
        // Remounts do not work on /proc/self/fd paths; the path the fd
        // now stands for does (moby does the same). It is resolved in this
        // private namespace only, so at worst a race makes some other mount
        // of this view read-only.
        let real = std::fs::read_link(&fd_path)?;
        sys::remount_readonly(&real)?;
    }
    Ok(())
}

/// Runs `f` on a dedicated thread with `mounts` mounted on `target` in a
/// private mount namespace of that thread, which ends (and takes the mounts
/// with it) when `f` returns.
pub(crate) fn with_private_mount<T: Send + 'static>(
    mounts: Vec<berth_snapshot::Mount>,
    target: PathBuf,
    f: impl FnOnce(&pathrs::Root) -> Result<T> + Send + 'static,
) -> Result<T> {
    std::thread::spawn(move || {
        sys::unshare_private_mount_namespace()
            .map_err(|e| Error::internal(format!("private mount namespace: {e}")))?;
        berth_snapshot::mount_all(&mounts, &target)?;
        let root = pathrs::Root::open(&target)
            .map_err(|e| Error::internal(format!("open {}: {e}", target.display())))?;
        f(&root)
    })
    .join()
    .map_err(|_| Error::internal("private mount thread panicked"))?
}

/// What Docker's init layer holds (moby daemon/initlayer): the mount points
/// the runtime needs and the files the daemon bind-mounts, made only where
/// the image lacks them. Being a layer of their own, they show in
/// `docker export` but never in `docker diff`.
pub(crate) fn fill_init_layer(root: &pathrs::Root) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    const ENTRIES: &[(&str, Option<&str>, bool)] = &[
        ("/dev/pts", None, true),
        ("/dev/shm", None, true),
        ("/proc", None, true),
        ("/sys", None, true),
        ("/.dockerenv", None, false),
        ("/etc/resolv.conf", None, false),
        ("/etc/hosts", None, false),
        ("/etc/hostname", None, false),
        ("/dev/console", None, false),
        ("/etc/mtab", Some("/proc/mounts"), false),
    ];
    let perm = std::fs::Permissions::from_mode(0o755);
    for (path, link, dir) in ENTRIES {
        if root.resolve_nofollow(path).is_ok() {
            continue;
        }
        let p = Path::new(path);
        if let Some(parent) = p.parent() {
            // The image's own layout wins: a parent that is not a directory
            // (a symlink, say) means the entry is not made.
            if root.mkdir_all(parent, &perm).is_err() {
                continue;
            }
        }
        let made = match (link, dir) {
            (Some(target), _) => root.create(p, &pathrs::InodeType::Symlink(PathBuf::from(target))),
            (None, true) => root.create(p, &pathrs::InodeType::Directory(perm.clone())),
            (None, false) => root.create(p, &pathrs::InodeType::File(perm.clone())),
        };
        if let Err(e) = made {
            tracing::debug!(path, error = %e, "init layer entry not made");
        }
    }
    Ok(())
}
