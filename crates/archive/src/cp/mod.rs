//! The container-filesystem side of `docker cp` (HEAD/GET/PUT
//! `/containers/{id}/archive`), `docker export` and `docker diff`, with
//! dockerd's semantics and none of its holes.
//!
//! Everything below a container root is reached through descriptors: a path
//! the user names is resolved once with `pathrs` (`RESOLVE_IN_ROOT`), and
//! from then on every walk or creation is a single-name `*at` call relative
//! to a directory fd, never following a symlink it did not mean to. That is
//! what closes the symlink-swap race of CVE-2018-15664 (dockerd resolved a
//! path, then used the string) by construction. Nothing from the container
//! is ever loaded or executed (CVE-2019-14271: dockerd's `docker-tar`
//! chroot'ed into the container and let glibc load its nss modules); user
//! names are never looked up.
//!
//! The reference behaviour is dockerd 20.10 (Debian's `docker.io`, the one
//! the differential tests run) with moby/go-archive where they agree; where
//! they differ the choice is said in a comment.

mod changes;
mod extract;
pub(crate) mod gopath;
pub(crate) mod pack;
mod resolve;

#[cfg(test)]
mod tests;

pub use changes::{Change, ChangeKind, changes_naive, changes_overlay};
pub use extract::{ExtractOptions, ExtractStats, extract, extract_to};
pub use pack::export;
pub use resolve::{PathInfo, Resource, extract_dest_path, open_resource, resolve_extract_dir};

/// Go's text for an errno (`syscall.Errno.Error()`): glibc's strerror with a
/// lower-case first letter, which is what dockerd puts in its messages.
pub(crate) fn go_errno(e: rustix::io::Errno) -> String {
    let s = std::io::Error::from_raw_os_error(e.raw_os_error()).to_string();
    let s = match s.rfind(" (os error ") {
        Some(i) => &s[..i],
        None => &s[..],
    };
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
