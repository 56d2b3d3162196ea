//! The daemon's errors. Messages are Docker's where clients match on them
//! ("No such container: x").

use std::io;

#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    InvalidArgument,
    Conflict,
    PermissionDenied,
    NotImplemented,
    Unavailable,
    /// Registry credentials missing or refused (401, as dockerd's errdefs.Unauthorized).
    Unauthorized,
    Internal,
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, m)
    }
    pub fn invalid(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, m)
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, m)
    }
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, m)
    }
    pub fn not_implemented(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotImplemented, m)
    }
    pub fn no_such_container(name: &str) -> Self {
        Self::not_found(format!("No such container: {name}"))
    }
    /// An I/O failure during `what`, with the path or object it concerned.
    pub fn io(what: impl std::fmt::Display, e: io::Error) -> Self {
        let kind = match e.kind() {
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            io::ErrorKind::AlreadyExists => ErrorKind::Conflict,
            _ if e.raw_os_error() == Some(libc::EROFS) => ErrorKind::PermissionDenied,
            _ => ErrorKind::Internal,
        };
        Error::new(kind, format!("{what}: {e}"))
    }
}

macro_rules! from_storage_error {
    ($t:ty, $k:ty) => {
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                use $k as K;
                let kind = match e.kind() {
                    K::NotFound => ErrorKind::NotFound,
                    K::InvalidArgument => ErrorKind::InvalidArgument,
                    K::Conflict => ErrorKind::Conflict,
                    K::PermissionDenied => ErrorKind::PermissionDenied,
                    K::NotImplemented => ErrorKind::NotImplemented,
                    K::Unavailable => ErrorKind::Unavailable,
                    _ => ErrorKind::Internal,
                };
                Error::new(kind, e.to_string())
            }
        }
    };
}

from_storage_error!(berth_image::Error, berth_image::ErrorKind);
from_storage_error!(berth_snapshot::Error, berth_snapshot::ErrorKind);
from_storage_error!(berth_content::Error, berth_content::ErrorKind);
from_storage_error!(berth_runtime::Error, berth_runtime::ErrorKind);
from_storage_error!(berth_archive::Error, berth_archive::ErrorKind);
