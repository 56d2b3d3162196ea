//! `GET /events` messages (moby `events.Message`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::serde_util::{is_zero, nullable, string_type};

string_type! {
    /// The kind of object an event is about.
    EventType {
        BUILDER = "builder",
        CONFIG = "config",
        CONTAINER = "container",
        DAEMON = "daemon",
        IMAGE = "image",
        NETWORK = "network",
        NODE = "node",
        PLUGIN = "plugin",
        SECRET = "secret",
        SERVICE = "service",
        VOLUME = "volume",
    }
}

string_type! {
    /// What happened. Exec and health actions carry details after a colon
    /// (`exec_start: sh -c ...`, `health_status: healthy`).
    EventAction {
        CREATE = "create",
        START = "start",
        RESTART = "restart",
        STOP = "stop",
        CHECKPOINT = "checkpoint",
        PAUSE = "pause",
        UNPAUSE = "unpause",
        ATTACH = "attach",
        DETACH = "detach",
        RESIZE = "resize",
        UPDATE = "update",
        RENAME = "rename",
        KILL = "kill",
        DIE = "die",
        OOM = "oom",
        DESTROY = "destroy",
        REMOVE = "remove",
        COMMIT = "commit",
        TOP = "top",
        COPY = "copy",
        ARCHIVE_PATH = "archive-path",
        EXTRACT_TO_DIR = "extract-to-dir",
        EXPORT = "export",
        IMPORT = "import",
        SAVE = "save",
        LOAD = "load",
        TAG = "tag",
        UNTAG = "untag",
        PUSH = "push",
        PULL = "pull",
        PRUNE = "prune",
        DELETE = "delete",
        ENABLE = "enable",
        DISABLE = "disable",
        CONNECT = "connect",
        DISCONNECT = "disconnect",
        RELOAD = "reload",
        MOUNT = "mount",
        UNMOUNT = "unmount",
        EXEC_CREATE = "exec_create",
        EXEC_START = "exec_start",
        EXEC_DIE = "exec_die",
        EXEC_DETACH = "exec_detach",
        HEALTH_STATUS = "health_status",
        HEALTH_STATUS_RUNNING = "health_status: running",
        HEALTH_STATUS_HEALTHY = "health_status: healthy",
        HEALTH_STATUS_UNHEALTHY = "health_status: unhealthy",
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID", default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: Option<BTreeMap<String, String>>,
}

/// One event. `status`, `id` and `from` are the pre-1.22 duplicates of
/// Action / Actor.ID / Actor.Attributes["image"]; dockerd dropped them in
/// API 1.52, so fill them only for older clients.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub status: String,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub id: String,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub from: String,

    #[serde(rename = "Type", default, deserialize_with = "nullable")]
    pub typ: EventType,
    #[serde(rename = "Action", default, deserialize_with = "nullable")]
    pub action: EventAction,
    #[serde(rename = "Actor", default, deserialize_with = "nullable")]
    pub actor: Actor,
    /// "local" or "swarm".
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub scope: String,
    /// Unix seconds.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub time: i64,
    /// Unix nanoseconds (the same instant as `time`, more precisely).
    #[serde(
        rename = "timeNano",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub time_nano: i64,
}

impl Message {
    /// Fills the pre-1.52 duplicate fields as dockerd did: `status` and `id`
    /// for container and image events, `from` for container events only.
    pub fn with_legacy_fields(mut self) -> Self {
        if self.typ == EventType::CONTAINER || self.typ == EventType::IMAGE {
            self.status = self.action.to_string();
            self.id = self.actor.id.clone();
        }
        if self.typ == EventType::CONTAINER
            && let Some(image) = self.actor.attributes.as_ref().and_then(|a| a.get("image"))
        {
            self.from = image.clone();
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        let m = Message {
            typ: EventType::CONTAINER,
            action: EventAction::START,
            actor: Actor {
                id: "abc".into(),
                attributes: Some([("image".to_owned(), "busybox".to_owned())].into()),
            },
            scope: "local".into(),
            time: 1_700_000_000,
            time_nano: 1_700_000_000_000_000_001,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"image":"busybox"}},"scope":"local","time":1700000000,"timeNano":1700000000000000001}"#
        );
        let legacy = serde_json::to_value(m.clone().with_legacy_fields()).unwrap();
        assert_eq!(legacy["status"], "start");
        assert_eq!(legacy["id"], "abc");
        assert_eq!(legacy["from"], "busybox");
        let img = Message {
            typ: EventType::IMAGE,
            ..m.clone()
        }
        .with_legacy_fields();
        assert_eq!((img.status.as_str(), img.from.as_str()), ("start", ""));
        let net = Message {
            typ: EventType::NETWORK,
            ..m.clone()
        }
        .with_legacy_fields();
        assert!(net.status.is_empty() && net.id.is_empty());
        let back: Message = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }
}
