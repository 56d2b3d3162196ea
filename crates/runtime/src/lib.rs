//! berth's container runtime layer: OCI bundle generation that matches what
//! dockerd generates for the same `docker run` flags ([`spec`]), Docker's
//! default capability set ([`caps`]) and seccomp profile ([`seccomp`]),
//! `--user` resolution ([`user`]), signal names ([`signal`]), and a thin
//! async wrapper around the OCI runtime CLI, runc or crun ([`runc`]).
#![forbid(unsafe_code)]

pub mod caps;
mod error;
pub mod exec;
pub mod runc;
pub mod seccomp;
pub mod shim;
pub mod signal;
pub mod spec;
pub mod user;

pub use error::{Error, ErrorKind};
