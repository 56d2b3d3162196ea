//! The Docker Engine API over HTTP/1.1: routing per API area, version
//! prefixes, hijacked streams, and errors in Docker's shape. The engine is
//! reached only through the traits in [`backend`].

#![forbid(unsafe_code)]

pub mod backend;
mod endpoints;
pub mod error;
mod params;
mod routes;
mod serve;
pub mod version;

pub use backend::Backend;
pub use error::{ApiError, ApiResult, ErrorKind};
pub use routes::router;
pub use serve::serve;
