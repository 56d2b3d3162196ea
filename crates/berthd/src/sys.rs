//! The binary's one `unsafe` call.

use std::io;
use std::os::fd::OwnedFd;

use tokio::io::unix::AsyncFd;

/// Registers an owned fd (a pipe end or a pty master) with the reactor.
pub fn async_fd(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an `OwnedFd` is a valid open descriptor that only its owner
    // can close, and the `AsyncFd` owns it: it stays open and always returns
    // the same raw fd for the `AsyncFd`'s whole lifetime.
    unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)
}
