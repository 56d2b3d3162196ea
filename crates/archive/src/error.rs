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

/// An archive error. The message already carries the cause's text, so
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
            message: bounded(message.into()),
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
    #[allow(dead_code)]
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

    /// `<op> <what>: <errno text>`; `what` is usually an entry or path name
    /// already quoted by the caller.
    pub(crate) fn errno(op: &str, what: &str, e: rustix::io::Errno) -> Self {
        let io = std::io::Error::from(e);
        Error {
            kind: kind_for_errno(e.raw_os_error()),
            message: format!("{op} {what}: {io}"),
            os: Some(e.raw_os_error()),
        }
    }

    /// `<op> <what>: <Go's errno text>`, the shape of dockerd's messages
    /// (`lstat /etc/x: no such file or directory`).
    pub(crate) fn go(op: &str, what: &str, e: rustix::io::Errno) -> Self {
        Error {
            kind: kind_for_errno(e.raw_os_error()),
            message: format!("{op} {what}: {}", crate::cp::go_errno(e)),
            os: Some(e.raw_os_error()),
        }
    }

    /// The same error with another kind.
    pub(crate) fn with_kind(self, kind: ErrorKind) -> Self {
        Error { kind, ..self }
    }

    /// The same message with `prefix` in front, keeping kind and errno.
    pub(crate) fn prefixed(self, prefix: &str) -> Self {
        Error {
            message: format!("{prefix}{}", self.message),
            ..self
        }
    }

    pub(crate) fn io_what(op: &str, what: &str, e: std::io::Error) -> Self {
        let kind = match e.raw_os_error() {
            Some(n) => kind_for_errno(n),
            None => match e.kind() {
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData => {
                    ErrorKind::InvalidArgument
                }
                _ => ErrorKind::Internal,
            },
        };
        Error {
            kind,
            message: format!("{op} {what}: {e}"),
            os: e.raw_os_error(),
        }
    }

    pub(crate) fn pathrs(op: &str, what: &str, e: pathrs::error::Error) -> Self {
        use pathrs::error::ErrorKind as P;
        let (kind, os) = match e.kind() {
            P::OsError(Some(n)) => (kind_for_errno(n), Some(n)),
            P::SafetyViolation => (ErrorKind::PermissionDenied, None),
            P::InvalidArgument => (ErrorKind::InvalidArgument, None),
            P::NotImplemented | P::NotSupported => (ErrorKind::NotImplemented, None),
            _ => (ErrorKind::Internal, None),
        };
        Error {
            kind,
            message: format!("{op} {what}: {e}"),
            os,
        }
    }
}

/// Errors caused by what an archive or a path asks for are the caller's
/// fault (InvalidArgument); running out of space or similar is ours.
pub(crate) fn kind_for_errno(n: i32) -> ErrorKind {
    match n {
        libc::ENOENT => ErrorKind::NotFound,
        libc::EACCES | libc::EPERM | libc::EROFS => ErrorKind::PermissionDenied,
        libc::EEXIST | libc::ENOTEMPTY | libc::EBUSY => ErrorKind::Conflict,
        libc::ENOTDIR
        | libc::EISDIR
        | libc::ELOOP
        | libc::EINVAL
        | libc::ENAMETOOLONG
        | libc::EXDEV
        | libc::EMLINK => ErrorKind::InvalidArgument,
        libc::ENOSYS | libc::EOPNOTSUPP => ErrorKind::NotImplemented,
        _ => ErrorKind::Internal,
    }
}

/// Messages quote entry names from the archive, which the client chose:
/// keep what goes back in the API answer and into the log bounded.
const MAX_MESSAGE: usize = 1024;

fn bounded(mut m: String) -> String {
    if m.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !m.is_char_boundary(cut) {
            cut -= 1;
        }
        m.truncate(cut);
        m.push_str("…(truncated)");
    }
    m
}
