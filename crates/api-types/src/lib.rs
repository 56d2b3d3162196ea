//! Docker Engine API wire types, shaped exactly as moby's Go structs
//! encode them, plus the multiplexed stream framing. No I/O.
//!
//! Conventions, because clients depend on them:
//! - Field names follow the Go JSON names (PascalCase, with the odd
//!   lower-case or acronym exception), set with `#[serde(rename)]`.
//! - A Go slice or map that is *not* `omitempty` is an `Option` here: `None`
//!   is written as `null`, like a nil slice. An `omitempty` one is a plain
//!   `Vec`/`BTreeMap` that is left out when empty, as Go leaves out both nil
//!   and empty.
//! - Decoding is as forgiving as Go's: unknown keys are ignored, `null`
//!   and missing keys give the zero value, and request types also take the
//!   all-lower-case spelling of their keys (Go matches keys without regard
//!   to case).
//! - The types describe the newest API (1.55). Fields older versions still
//!   need are `Option`s left unset by default, or are added to the encoded
//!   JSON with [`compat`], as dockerd does.

#![forbid(unsafe_code)]

mod serde_util;

pub mod compat;
pub mod container;
pub mod error;
pub mod events;
pub mod filters;
pub mod image;
pub mod jsonmessage;
pub mod media_types;
pub mod network;
pub mod oci;
pub mod registry;
pub mod stats;
pub mod stdcopy;
pub mod storage;
pub mod system;
pub mod time;
pub mod volume;

pub use serde_util::EmptyObject;

pub use container::{
    Config as ContainerConfig, CreateRequest as ContainerCreateRequest,
    CreateResponse as ContainerCreateResponse, ExecCreateRequest, ExecInspect, ExecStartRequest,
    FilesystemChange, HealthConfig, HostConfig, InspectResponse as ContainerInspectResponse, Mount,
    MountPoint, PathStat, Resources, Summary as ContainerSummary, WaitResponse, go_file_mode,
    unix_mode_from_go,
};
pub use error::{ErrorResponse, IdResponse};
pub use events::Message as EventMessage;
pub use filters::{FilterError, Filters};
pub use image::{
    DeleteResponseItem as ImageDeleteResponseItem, HistoryResponseItem as ImageHistoryResponseItem,
    InspectResponse as ImageInspect, Summary as ImageSummary,
};
pub use jsonmessage::JsonMessage;
pub use network::{EndpointSettings, NetworkingConfig};
pub use stdcopy::StdType;
pub use system::{DiskUsage as SystemDiskUsage, Info as SystemInfo, Version as SystemVersion};
pub use volume::{CreateOptions as VolumeCreateOptions, Volume};

/// What kind of failure an error of this crate is, for the API server's
/// single error-to-status function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A malformed or unacceptable value from the client (HTTP 400).
    InvalidArgument,
}
