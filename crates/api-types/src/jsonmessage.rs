//! The newline-delimited JSON progress stream of pull, push, import, load
//! and build (moby `jsonstream.Message`, formerly `jsonmessage.JSONMessage`).

use serde::{Deserialize, Serialize};

use crate::serde_util::{is_false, is_zero, nullable};

/// One line of a progress stream. Every field is omitted when empty, so a
/// status line is just `{"status":"...","id":"..."}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JsonMessage {
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub stream: String,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub status: String,
    #[serde(
        rename = "progressDetail",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub progress_detail: Option<JsonProgress>,
    /// Pre-rendered progress bar; deprecated since API 1.8 and no longer
    /// sent by dockerd, kept for clients that still print it.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub progress: String,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub id: String,
    /// Deprecated; no longer set by dockerd.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub from: String,
    /// Deprecated; no longer set by dockerd.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub time: i64,
    /// Deprecated; no longer set by dockerd.
    #[serde(
        rename = "timeNano",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub time_nano: i64,
    #[serde(
        rename = "errorDetail",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub error_detail: Option<JsonError>,
    /// Deprecated duplicate of `errorDetail.message`; dockerd still sends it
    /// and docker-py reads it.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub error: String,
    /// Out-of-band data (the pushed digest, a loaded image id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

impl JsonMessage {
    /// A status line, optionally about one layer or image (`id`).
    pub fn status(id: impl Into<String>, status: impl Into<String>) -> Self {
        JsonMessage {
            id: id.into(),
            status: status.into(),
            ..Default::default()
        }
    }

    /// A progress line; dockerd always sends `progressDetail`, `{}` included.
    pub fn progress(
        id: impl Into<String>,
        action: impl Into<String>,
        current: i64,
        total: i64,
    ) -> Self {
        JsonMessage {
            id: id.into(),
            status: action.into(),
            progress_detail: Some(JsonProgress {
                current,
                total,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// An error line as dockerd's stream formatter writes it: both the
    /// legacy `error` string and `errorDetail`.
    pub fn error(message: impl Into<String>) -> Self {
        let message = message.into();
        JsonMessage {
            error: message.clone(),
            error_detail: Some(JsonError { code: 0, message }),
            ..Default::default()
        }
    }

    /// Output of a build step or similar free text.
    pub fn stream(text: impl Into<String>) -> Self {
        JsonMessage {
            stream: text.into(),
            ..Default::default()
        }
    }

    /// Out-of-band data (`{"aux":{"ID":"sha256:..."}}`).
    pub fn aux(value: serde_json::Value) -> Self {
        JsonMessage {
            aux: Some(value),
            ..Default::default()
        }
    }

    /// The error this line reports, if any.
    pub fn error_message(&self) -> Option<&str> {
        match &self.error_detail {
            Some(e) if !e.message.is_empty() => Some(&e.message),
            _ if !self.error.is_empty() => Some(&self.error),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonProgress {
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub current: i64,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub total: i64,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub start: i64,
    #[serde(
        rename = "hidecounts",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_false"
    )]
    pub hide_counts: bool,
    /// Unit for the counts; clients assume bytes when empty.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub units: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonError {
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub code: i64,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_dockerd() {
        let s = |m: &JsonMessage| serde_json::to_string(m).unwrap();
        assert_eq!(
            s(&JsonMessage::status("", "Pulling from library/busybox")),
            r#"{"status":"Pulling from library/busybox"}"#
        );
        assert_eq!(
            s(&JsonMessage::progress("abc", "Downloading", 10, 100)),
            r#"{"status":"Downloading","progressDetail":{"current":10,"total":100},"id":"abc"}"#
        );
        assert_eq!(
            s(&JsonMessage::progress("abc", "Pull complete", 0, 0)),
            r#"{"status":"Pull complete","progressDetail":{},"id":"abc"}"#
        );
        // the text moby's streamformatter test expects (key order aside)
        let e: serde_json::Value =
            serde_json::from_str(&s(&JsonMessage::error("Json error"))).unwrap();
        assert_eq!(
            e,
            serde_json::json!({"error":"Json error","errorDetail":{"message":"Json error"}})
        );
        assert_eq!(s(&JsonMessage::default()), "{}");
    }

    #[test]
    fn reads_what_clients_and_registries_produce() {
        let m: JsonMessage = serde_json::from_str(
            r#"{"status":"Downloading","progressDetail":{"current":1,"total":null},"progress":"[=>  ]","id":"x","aux":{"ID":"sha256:1"},"unknown":1}"#,
        )
        .unwrap();
        assert_eq!(m.progress_detail.as_ref().unwrap().current, 1);
        assert_eq!(m.progress, "[=>  ]");
        assert_eq!(m.aux.as_ref().unwrap()["ID"], "sha256:1");
        let m: JsonMessage =
            serde_json::from_str(r#"{"errorDetail":{"code":50,"message":"boom"}}"#).unwrap();
        assert_eq!(m.error_message(), Some("boom"));
        let m: JsonMessage = serde_json::from_str(r#"{"error":"old style"}"#).unwrap();
        assert_eq!(m.error_message(), Some("old style"));
    }
}
