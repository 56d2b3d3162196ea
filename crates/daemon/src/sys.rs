//! The daemon's few system calls that need `unsafe`.

use std::io;
use std::path::Path;

/// Creates a network namespace with its loopback up and pins it by
/// bind-mounting it on `pin` (an existing empty file). The namespace is made
/// on a fresh thread: unsharing the network namespace affects only the
/// calling thread, and this one exits right after, so no tokio worker ever
/// runs in it.
pub fn create_pinned_netns(pin: &Path) -> io::Result<()> {
    let pin = pin.to_path_buf();
    std::thread::Builder::new()
        .name("netns".into())
        .spawn(move || -> io::Result<()> {
            // SAFETY: CLONE_NEWNET only changes this thread's network
            // namespace; the hazard rustix guards against (CLONE_FILES
            // splitting the fd table between threads) does not arise.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }
                .map_err(io::Error::from)?;
            rustix::mount::mount_bind("/proc/thread-self/ns/net", &pin).map_err(io::Error::from)?;
            loopback_up()
        })?
        .join()
        .map_err(|_| io::Error::other("netns thread panicked"))?
}

/// `ip link set lo up` in the calling thread's network namespace, with the
/// SIOCSIFFLAGS ioctl rather than a process spawn (this is on the path of
/// every `docker run`).
fn loopback_up() -> io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: plain socket(2); the result is checked and owned at once.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, valid descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name from and writes the flags into
    // `req`, which lives across the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the flags member of the union was just written by the kernel.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: as above; SIOCSIFFLAGS only reads `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Gives the calling thread a mount namespace of its own in which nothing
/// propagates back to the host (`/` made a recursive slave first).
pub fn unshare_private_mount_namespace() -> io::Result<()> {
    // SAFETY: NEWNS (which implies FS) changes only this thread's mount
    // namespace, root and cwd; the caller is a dedicated thread that ends
    // after building the view. CLONE_FILES, the flag that makes unshare
    // unsound for other threads' fds, is not used.
    unsafe {
        rustix::thread::unshare_unsafe(
            rustix::thread::UnshareFlags::NEWNS | rustix::thread::UnshareFlags::FS,
        )
    }
    .map_err(io::Error::from)?;
    rustix::mount::mount_change(
        "/",
        rustix::mount::MountPropagationFlags::DOWNSTREAM
            | rustix::mount::MountPropagationFlags::REC,
    )
    .map_err(io::Error::from)
}

pub fn bind_mount(source: &Path, target: &Path) -> io::Result<()> {
    rustix::mount::mount_bind_recursive(source, target).map_err(io::Error::from)?;
    // A view's mounts must not propagate anywhere, whatever the source's
    // propagation was. Propagation changes refuse /proc/self/fd paths, so
    // this goes through the path the fd stands for (in the view's private
    // namespace).
    let real = std::fs::read_link(target).unwrap_or_else(|_| target.to_path_buf());
    rustix::mount::mount_change(
        &real,
        rustix::mount::MountPropagationFlags::PRIVATE | rustix::mount::MountPropagationFlags::REC,
    )
    .map_err(io::Error::from)
}

pub fn mount_tmpfs(target: &Path, data: &str) -> io::Result<()> {
    let data = std::ffi::CString::new(data).map_err(io::Error::other)?;
    rustix::mount::mount(
        "tmpfs",
        target,
        "tmpfs",
        rustix::mount::MountFlags::NOSUID | rustix::mount::MountFlags::NODEV,
        Some(data.as_c_str()),
    )
    .map_err(io::Error::from)
}

pub fn remount_readonly(target: &Path) -> io::Result<()> {
    rustix::mount::mount_remount(
        target,
        rustix::mount::MountFlags::BIND | rustix::mount::MountFlags::RDONLY,
        "",
    )
    .map_err(io::Error::from)
}
