//! The portable part of a container's configuration (moby `container.Config`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::network::PortSet;
use crate::serde_util::{EmptyObject, is_false, is_none_or_empty, is_zero, nullable, strslice};

/// Go's `container.Config`.
///
/// `Option` fields are the ones Go can write as `null` (nil slices and
/// maps); plain `Vec`/`BTreeMap` fields are `omitempty` in Go, where nil and
/// empty look the same.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    #[serde(
        rename = "Hostname",
        alias = "hostname",
        default,
        deserialize_with = "nullable"
    )]
    pub hostname: String,
    #[serde(
        rename = "Domainname",
        alias = "domainname",
        default,
        deserialize_with = "nullable"
    )]
    pub domainname: String,
    /// `user`, `user:group`, or numeric ids.
    #[serde(
        rename = "User",
        alias = "user",
        default,
        deserialize_with = "nullable"
    )]
    pub user: String,
    #[serde(
        rename = "AttachStdin",
        alias = "attachstdin",
        default,
        deserialize_with = "nullable"
    )]
    pub attach_stdin: bool,
    #[serde(
        rename = "AttachStdout",
        alias = "attachstdout",
        default,
        deserialize_with = "nullable"
    )]
    pub attach_stdout: bool,
    #[serde(
        rename = "AttachStderr",
        alias = "attachstderr",
        default,
        deserialize_with = "nullable"
    )]
    pub attach_stderr: bool,
    #[serde(
        rename = "ExposedPorts",
        alias = "exposedports",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub exposed_ports: PortSet,
    #[serde(rename = "Tty", alias = "tty", default, deserialize_with = "nullable")]
    pub tty: bool,
    #[serde(
        rename = "OpenStdin",
        alias = "openstdin",
        default,
        deserialize_with = "nullable"
    )]
    pub open_stdin: bool,
    #[serde(
        rename = "StdinOnce",
        alias = "stdinonce",
        default,
        deserialize_with = "nullable"
    )]
    pub stdin_once: bool,
    #[serde(rename = "Env", alias = "env", default)]
    pub env: Option<Vec<String>>,
    /// A bare string is accepted as a one-element command.
    #[serde(
        rename = "Cmd",
        alias = "cmd",
        default,
        deserialize_with = "strslice::deserialize"
    )]
    pub cmd: Option<Vec<String>>,
    #[serde(
        rename = "Healthcheck",
        alias = "healthcheck",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub healthcheck: Option<HealthConfig>,
    /// Windows only: the command line is already escaped.
    #[serde(
        rename = "ArgsEscaped",
        alias = "argsescaped",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_false"
    )]
    pub args_escaped: bool,
    /// The image as the user named it (possibly a tag, not an id).
    #[serde(
        rename = "Image",
        alias = "image",
        default,
        deserialize_with = "nullable"
    )]
    pub image: String,
    /// Anonymous volumes: container path to `{}`.
    #[serde(rename = "Volumes", alias = "volumes", default)]
    pub volumes: Option<BTreeMap<String, EmptyObject>>,
    #[serde(
        rename = "WorkingDir",
        alias = "workingdir",
        default,
        deserialize_with = "nullable"
    )]
    pub working_dir: String,
    #[serde(
        rename = "Entrypoint",
        alias = "entrypoint",
        default,
        deserialize_with = "strslice::deserialize"
    )]
    pub entrypoint: Option<Vec<String>>,
    #[serde(
        rename = "NetworkDisabled",
        alias = "networkdisabled",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_false"
    )]
    pub network_disabled: bool,
    /// Container-wide MAC address: accepted by create before API 1.52, and
    /// shown by inspect for those versions; newer clients put it in the
    /// endpoint settings.
    #[serde(
        rename = "MacAddress",
        alias = "macaddress",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub mac_address: String,
    /// `omitempty` from API 1.52; older versions showed `null`
    /// (see [`crate::compat`]).
    #[serde(
        rename = "OnBuild",
        alias = "onbuild",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub on_build: Vec<String>,
    #[serde(rename = "Labels", alias = "labels", default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(
        rename = "StopSignal",
        alias = "stopsignal",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub stop_signal: String,
    /// Seconds to wait after the stop signal before killing.
    #[serde(
        rename = "StopTimeout",
        alias = "stoptimeout",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_timeout: Option<i64>,
    #[serde(
        rename = "Shell",
        alias = "shell",
        default,
        deserialize_with = "strslice::deserialize",
        skip_serializing_if = "is_none_or_empty"
    )]
    pub shell: Option<Vec<String>>,
}

/// A health check (Go's `HealthcheckConfig`, shared with image configs).
/// Durations are Go `time.Duration`s: integer nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// `[]` inherits, `["NONE"]` disables, `["CMD", args...]` execs,
    /// `["CMD-SHELL", command]` runs through the shell.
    #[serde(
        rename = "Test",
        alias = "test",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub test: Vec<String>,
    #[serde(
        rename = "Interval",
        alias = "interval",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub interval: i64,
    #[serde(
        rename = "Timeout",
        alias = "timeout",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub timeout: i64,
    #[serde(
        rename = "StartPeriod",
        alias = "startperiod",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub start_period: i64,
    #[serde(
        rename = "StartInterval",
        alias = "startinterval",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub start_interval: i64,
    #[serde(
        rename = "Retries",
        alias = "retries",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub retries: i64,
}
