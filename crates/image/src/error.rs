use std::fmt;

/// What went wrong, coarsely; the daemon maps this to an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    NotFound,
    InvalidArgument,
    Conflict,
    PermissionDenied,
    NotImplemented,
    Unavailable,
    Internal,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::Conflict => "conflict",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::NotImplemented => "not implemented",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal error",
        };
        f.write_str(s)
    }
}

/// An image-store error. The message already carries the cause's text, so
/// printing the top-level error is enough for an API response.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    os: Option<i32>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            os: None,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The errno behind this error, when it came from a system call.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.os
    }

    /// Wraps an I/O error as `<op> <path>: <cause>`, keeping NotFound and
    /// PermissionDenied distinguishable for the caller.
    pub fn io(op: &str, path: &std::path::Path, err: std::io::Error) -> Self {
        let kind = match err.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            std::io::ErrorKind::AlreadyExists => ErrorKind::Conflict,
            std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
                ErrorKind::InvalidArgument
            }
            _ => ErrorKind::Internal,
        };
        Error {
            kind,
            message: format!("{op} {}: {err}", path.display()),
            os: err.raw_os_error(),
        }
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Conflict, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound, message)
    }

    /// An I/O error on a stream (no path to name): truncation and bad data
    /// are the input's fault, the rest ours.
    pub(crate) fn stream(op: &str, err: std::io::Error) -> Self {
        let kind = match err.kind() {
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::InvalidData
            | std::io::ErrorKind::InvalidInput => ErrorKind::InvalidArgument,
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            _ => ErrorKind::Internal,
        };
        Error {
            kind,
            message: format!("{op}: {err}"),
            os: err.raw_os_error(),
        }
    }

    /// The same error with `what` in front of its message.
    pub(crate) fn context(self, what: impl std::fmt::Display) -> Self {
        Error {
            message: format!("{what}: {}", self.message),
            ..self
        }
    }
}

macro_rules! from_kind {
    ($t:path, $k:path) => {
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
                Error {
                    kind,
                    message: e.message().to_string(),
                    os: e.raw_os_error(),
                }
            }
        }
    };
}

from_kind!(berth_content::Error, berth_content::ErrorKind);
from_kind!(berth_snapshot::Error, berth_snapshot::ErrorKind);
from_kind!(berth_archive::Error, berth_archive::ErrorKind);
