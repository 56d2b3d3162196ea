//! Exec bodies: create, start, inspect.

use serde::{Deserialize, Serialize};

use crate::serde_util::{base64_bytes, is_false, nullable, strslice};

/// Body of `POST /containers/{id}/exec`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecCreateRequest {
    #[serde(
        rename = "User",
        alias = "user",
        default,
        deserialize_with = "nullable"
    )]
    pub user: String,
    #[serde(
        rename = "Privileged",
        alias = "privileged",
        default,
        deserialize_with = "nullable"
    )]
    pub privileged: bool,
    #[serde(rename = "Tty", alias = "tty", default, deserialize_with = "nullable")]
    pub tty: bool,
    /// Initial TTY size: height, width.
    #[serde(
        rename = "ConsoleSize",
        alias = "consolesize",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub console_size: Option<[u64; 2]>,
    #[serde(
        rename = "AttachStdin",
        alias = "attachstdin",
        default,
        deserialize_with = "nullable"
    )]
    pub attach_stdin: bool,
    #[serde(
        rename = "AttachStderr",
        alias = "attachstderr",
        default,
        deserialize_with = "nullable"
    )]
    pub attach_stderr: bool,
    #[serde(
        rename = "AttachStdout",
        alias = "attachstdout",
        default,
        deserialize_with = "nullable"
    )]
    pub attach_stdout: bool,
    /// Sent by older Go clients; the daemon ignores it on create.
    #[serde(
        rename = "Detach",
        alias = "detach",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_false"
    )]
    pub detach: bool,
    /// Overrides the detach sequence (`ctrl-p,ctrl-q`).
    // docker-py sends `detachKeys`; Go matches keys in any case.
    #[serde(
        rename = "DetachKeys",
        alias = "detachkeys",
        alias = "detachKeys",
        default,
        deserialize_with = "nullable"
    )]
    pub detach_keys: String,
    #[serde(rename = "Env", alias = "env", default)]
    pub env: Option<Vec<String>>,
    #[serde(
        rename = "WorkingDir",
        alias = "workingdir",
        default,
        deserialize_with = "nullable"
    )]
    pub working_dir: String,
    #[serde(
        rename = "Cmd",
        alias = "cmd",
        default,
        deserialize_with = "strslice::deserialize"
    )]
    pub cmd: Option<Vec<String>>,
}

/// Body of `POST /exec/{id}/start`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecStartRequest {
    #[serde(
        rename = "Detach",
        alias = "detach",
        default,
        deserialize_with = "nullable"
    )]
    pub detach: bool,
    #[serde(rename = "Tty", alias = "tty", default, deserialize_with = "nullable")]
    pub tty: bool,
    #[serde(
        rename = "ConsoleSize",
        alias = "consolesize",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub console_size: Option<[u64; 2]>,
}

/// `GET /exec/{id}/json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecInspect {
    #[serde(rename = "ID", default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(rename = "Running", default, deserialize_with = "nullable")]
    pub running: bool,
    /// `null` until the process has exited.
    #[serde(rename = "ExitCode", default)]
    pub exit_code: Option<i64>,
    #[serde(rename = "ProcessConfig", default)]
    pub process_config: Option<ExecProcessConfig>,
    #[serde(rename = "OpenStdin", default, deserialize_with = "nullable")]
    pub open_stdin: bool,
    #[serde(rename = "OpenStderr", default, deserialize_with = "nullable")]
    pub open_stderr: bool,
    #[serde(rename = "OpenStdout", default, deserialize_with = "nullable")]
    pub open_stdout: bool,
    #[serde(rename = "CanRemove", default, deserialize_with = "nullable")]
    pub can_remove: bool,
    #[serde(rename = "ContainerID", default, deserialize_with = "nullable")]
    pub container_id: String,
    /// The detach sequence as bytes; a Go `[]byte`, so base64 on the wire
    /// and `null` when unset.
    #[serde(rename = "DetachKeys", default, with = "base64_bytes")]
    pub detach_keys: Option<Vec<u8>>,
    /// Host PID of the exec'd process; 0 when not running.
    #[serde(rename = "Pid", default, deserialize_with = "nullable")]
    pub pid: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecProcessConfig {
    #[serde(default, deserialize_with = "nullable")]
    pub tty: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub entrypoint: String,
    #[serde(default, deserialize_with = "nullable")]
    pub arguments: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub user: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_from_cli() {
        let r: ExecCreateRequest = serde_json::from_str(
            r#"{"User":"","Privileged":false,"Tty":true,"ConsoleSize":[24,80],"AttachStdin":true,"AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"","Env":null,"WorkingDir":"","Cmd":["sh"]}"#,
        )
        .unwrap();
        assert_eq!(r.console_size, Some([24, 80]));
        assert_eq!(r.cmd.as_deref(), Some(&["sh".to_owned()][..]));
        assert!(r.tty && r.attach_stdin);
        let s: ExecStartRequest = serde_json::from_str(r#"{"Detach":false,"Tty":true}"#).unwrap();
        assert!(s.tty && s.console_size.is_none());
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"Detach":false,"Tty":true}"#
        );
    }

    #[test]
    fn inspect_shape() {
        let mut i = ExecInspect::default();
        let v = serde_json::to_value(&i).unwrap();
        assert!(v["ExitCode"].is_null());
        assert!(v["ProcessConfig"].is_null());
        assert!(v["DetachKeys"].is_null());
        i.detach_keys = Some(vec![16, 17]);
        i.exit_code = Some(0);
        i.process_config = Some(ExecProcessConfig {
            entrypoint: "sh".into(),
            arguments: vec!["-c".into(), "true".into()],
            ..Default::default()
        });
        let v = serde_json::to_value(&i).unwrap();
        assert_eq!(v["DetachKeys"], "EBE=");
        assert_eq!(v["ExitCode"], 0);
        assert_eq!(
            v["ProcessConfig"],
            serde_json::json!({"tty": false, "entrypoint": "sh", "arguments": ["-c", "true"]})
        );
        let back: ExecInspect = serde_json::from_value(v).unwrap();
        assert_eq!(back, i);
    }
}
