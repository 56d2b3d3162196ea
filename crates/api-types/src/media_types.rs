//! Content types of Docker's streaming responses (moby `api/types/types.go`).

/// Attach / logs / exec output when the container has a TTY: bytes as-is.
pub const RAW_STREAM: &str = "application/vnd.docker.raw-stream";
/// Attach / logs / exec output without a TTY: [`crate::stdcopy`] frames.
pub const MULTIPLEXED_STREAM: &str = "application/vnd.docker.multiplexed-stream";
pub const JSON: &str = "application/json";
/// Newline-delimited JSON (events, pull progress).
pub const NDJSON: &str = "application/x-ndjson";
/// JSON Lines; events may negotiate it from API 1.53.
pub const JSON_LINES: &str = "application/jsonl";
/// RFC 7464 JSON text sequences; events may negotiate it from API 1.52.
pub const JSON_SEQUENCE: &str = "application/json-seq";
