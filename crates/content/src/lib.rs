//! Digest-addressed blob store, after containerd's `content/local` store.
//!
//! Layout under the store root:
//!
//! ```text
//! blobs/sha256/<hex>   committed blobs, read-only once in place
//! ingest/<random>      in-flight writes; anything here at open is garbage
//! ```
//!
//! A blob only becomes visible by `rename(2)` of a fully written, verified and
//! fsynced temp file, so a crash at any point leaves either nothing or the
//! whole blob.
#![forbid(unsafe_code)]

mod digest;
mod error;
pub mod fsutil;
mod store;

pub use digest::Digest;
pub use error::{Error, ErrorKind, Result};
pub use store::{ContentStore, Ingest};
