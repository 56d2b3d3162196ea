//! Tar and filesystem-tree work for container roots and image layers.
//!
//! Decompression sniffing, applying a layer onto a snapshot (`apply_layer`,
//! with overlay or naive whiteouts), preserving tree copies (`copy_dir`,
//! `copy_into_volume`), fd-relative helpers the storage crates share
//! (`fsutil`), the container-filesystem side of `docker cp`, export and
//! diff (`cp`), and the layer tar `docker commit` stores (`write_layer`).
//!
//! Nothing here needs `unsafe`: rustix wraps every system call used.
#![forbid(unsafe_code)]

mod apply;
mod copy;
pub mod cp;
pub mod decompress;
mod entry;
mod error;
pub mod fsutil;
mod guard;
mod layer;
#[doc(hidden)]
pub mod testutil;
mod xattr;

pub use apply::{
    ApplyOptions, ApplyStats, OVERLAY_OPAQUE_XATTR, WHITEOUT_META_PREFIX, WHITEOUT_OPAQUE,
    WHITEOUT_PREFIX, WhiteoutFormat, apply_layer,
};
pub use copy::{copy_dir, copy_into_volume};
pub use error::{Error, ErrorKind, Result};
pub use layer::{LayerStats, write_layer};
