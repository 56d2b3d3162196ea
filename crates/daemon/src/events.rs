//! The event log behind `GET /events` (moby `daemon/events`): a bounded
//! ring of recent events, so that `since` can replay them, and a broadcast
//! to live subscribers. A subscriber that cannot keep up loses events (it
//! lags); it never slows the daemon down.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use berth_api_types::events::{Actor, EventAction, EventType, Message};
use berth_api_types::filters::Filters;
use chrono::{DateTime, Utc};
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::sync::broadcast;

use crate::Daemon;
use crate::container::Container;
use crate::error::{Error, Result};

/// Events kept for `since` (moby keeps 256; they are small).
const RING: usize = 1024;
/// Events a live subscriber may fall behind by before it lags.
const BACKLOG: usize = 1024;

/// The filter keys `GET /events` accepts (moby's events filter).
const ACCEPTED_FILTERS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

pub(crate) struct EventBus {
    ring: Mutex<VecDeque<Message>>,
    live: broadcast::Sender<Message>,
}

impl EventBus {
    pub(crate) fn new() -> EventBus {
        EventBus {
            ring: Mutex::new(VecDeque::with_capacity(RING)),
            live: broadcast::channel(BACKLOG).0,
        }
    }

    fn publish(&self, m: Message) {
        // Under the ring's lock, so a subscriber that takes the ring and
        // subscribes under it neither misses nor repeats an event.
        let mut ring = self.ring.lock().unwrap();
        if ring.len() == RING {
            ring.pop_front();
        }
        ring.push_back(m.clone());
        let _ = self.live.send(m);
    }

    /// Past events in `[since, until]` (none unless one is given, as moby
    /// does) and a receiver for what follows.
    fn subscribe(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> (Vec<Message>, broadcast::Receiver<Message>) {
        let ring = self.ring.lock().unwrap();
        let rx = self.live.subscribe();
        let past = if since.is_none() && until.is_none() {
            Vec::new()
        } else {
            let since = since.map(nanos).unwrap_or(i64::MIN);
            let until = until.map(nanos).unwrap_or(i64::MAX);
            ring.iter()
                .filter(|m| m.time_nano >= since && m.time_nano <= until)
                .cloned()
                .collect()
        };
        (past, rx)
    }
}

fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

impl Daemon {
    /// Records and broadcasts one event, stamped now.
    pub(crate) fn emit_event(
        &self,
        typ: EventType,
        action: &str,
        id: &str,
        attrs: BTreeMap<String, String>,
    ) {
        let now = Utc::now();
        self.events.publish(Message {
            typ,
            action: EventAction::new(action),
            actor: Actor {
                id: id.to_string(),
                attributes: Some(attrs),
            },
            scope: "local".into(),
            time: now.timestamp(),
            time_nano: nanos(now),
            ..Default::default()
        });
    }

    /// A container event with dockerd's attributes: the container's labels,
    /// `image` (as the user named it) and `name`, plus `extra` (`exitCode`,
    /// `signal`, `execID`, …).
    pub(crate) fn container_event(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        let (labels, image, name) = {
            let g = c.lock();
            (
                g.rec.config.labels.clone().unwrap_or_default(),
                g.rec.image.clone(),
                g.rec.name.trim_start_matches('/').to_string(),
            )
        };
        let mut attrs = labels;
        attrs.insert("image".into(), image);
        attrs.insert("name".into(), name);
        for (k, v) in extra {
            attrs.insert(k.to_string(), v.clone());
        }
        self.emit_event(EventType::CONTAINER, action, &c.id, attrs);
    }

    /// An image event: `id` as moby logs it (an image id or a reference),
    /// `name` the reference, plus the image's labels.
    pub(crate) fn image_event(
        &self,
        action: &str,
        id: &str,
        name: &str,
        labels: Option<&BTreeMap<String, String>>,
    ) {
        let mut attrs = labels.cloned().unwrap_or_default();
        attrs.insert("name".into(), name.to_string());
        self.emit_event(EventType::IMAGE, action, id, attrs);
    }

    /// A volume event (`driver` is always `local`).
    pub(crate) fn volume_event(&self, action: &str, name: &str, extra: &[(&str, String)]) {
        let mut attrs = BTreeMap::new();
        attrs.insert("driver".to_string(), "local".to_string());
        for (k, v) in extra {
            attrs.insert(k.to_string(), v.clone());
        }
        self.emit_event(EventType::VOLUME, action, name, attrs);
    }

    /// `GET /events`: replayed events, then live ones until `until`.
    pub fn events(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        filters: &Filters,
    ) -> Result<BoxStream<'static, Message>> {
        filters
            .validate(ACCEPTED_FILTERS)
            .map_err(|e| Error::invalid(e.to_string()))?;
        let (past, rx) = self.events.subscribe(since, until);
        let f1 = filters.clone();
        let past = stream::iter(past.into_iter().filter(move |m| include(&f1, m)));
        let now = Utc::now();
        // Only the past was asked for.
        if until.is_some_and(|u| u <= now) {
            return Ok(past.boxed());
        }
        let deadline =
            until.map(|u| tokio::time::Instant::now() + (u - now).to_std().unwrap_or_default());
        let filters = filters.clone();
        let live = stream::unfold(rx, move |mut rx| {
            let filters = filters.clone();
            async move {
                loop {
                    let next = match deadline {
                        Some(d) => match tokio::time::timeout_at(d, rx.recv()).await {
                            Ok(r) => r,
                            Err(_) => return None,
                        },
                        None => rx.recv().await,
                    };
                    match next {
                        Ok(m) if include(&filters, &m) => return Some((m, rx)),
                        Ok(_) => continue,
                        // Fell behind: the lost events are gone, go on.
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            tracing::debug!(lost = n, "events subscriber lagged");
                            continue;
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        });
        Ok(past.chain(live).boxed())
    }
}

/// moby's events `Filter.Include`.
fn include(f: &Filters, m: &Message) -> bool {
    let attrs = m.actor.attributes.clone().unwrap_or_default();
    let attr = |k: &str| attrs.get(k).map(String::as_str).unwrap_or("");
    let fuzzy_name = |key: &str, typ: EventType| {
        // Only events of that type can match a `container=`/`volume=`
        // filter by id or name; moby checks the key against every event,
        // which is the same thing since other types carry other ids.
        !f.contains(key)
            || (m.typ == typ
                && (f.fuzzy_match(key, &m.actor.id) || f.fuzzy_match(key, attr("name"))))
    };
    let action = m.action.as_str();
    // "exec_start" matches "exec_start: sh -c …" (moby #25798).
    let event_ok = if ["health_status", "exec_create", "exec_start"]
        .iter()
        .any(|k| f.get("event").contains(k))
    {
        f.fuzzy_match("event", action)
    } else {
        f.exact_match("event", action)
    };
    let image_ok = {
        let name = if m.typ == EventType::IMAGE {
            attr("name")
        } else {
            attr("image")
        };
        !f.contains("image")
            || [
                &m.actor.id as &str,
                name,
                strip_tag(&m.actor.id),
                strip_tag(name),
            ]
            .iter()
            .any(|s| !s.is_empty() && f.exact_match("image", s))
    };
    event_ok
        && f.exact_match("type", m.typ.as_str())
        && (!f.contains("scope") || f.exact_match("scope", &m.scope))
        && fuzzy_name("container", EventType::CONTAINER)
        && fuzzy_name("volume", EventType::VOLUME)
        && fuzzy_name("network", EventType::NETWORK)
        && fuzzy_name("daemon", EventType::DAEMON)
        && fuzzy_name("plugin", EventType::PLUGIN)
        && fuzzy_name("node", EventType::NODE)
        && fuzzy_name("service", EventType::SERVICE)
        && fuzzy_name("secret", EventType::SECRET)
        && fuzzy_name("config", EventType::CONFIG)
        && image_ok
        && f.match_kv_list("label", &attrs)
}

/// `busybox:1.36` → `busybox`; `localhost:5000/a` stays; a digest goes too.
fn strip_tag(name: &str) -> &str {
    let name = name.split('@').next().unwrap_or(name);
    match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => &name[..i],
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(typ: EventType, action: &str, id: &str, attrs: &[(&str, &str)]) -> Message {
        Message {
            typ,
            action: EventAction::new(action),
            actor: Actor {
                id: id.into(),
                attributes: Some(
                    attrs
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
            },
            scope: "local".into(),
            ..Default::default()
        }
    }

    fn f(json: &str) -> Filters {
        Filters::parse(json).unwrap()
    }

    #[test]
    fn filters_match_like_moby() {
        let start = msg(
            EventType::CONTAINER,
            "start",
            "abcdef123",
            &[
                ("name", "web"),
                ("image", "busybox:latest"),
                ("tier", "front"),
            ],
        );
        let exec = msg(
            EventType::CONTAINER,
            "exec_start: sh -c true",
            "abcdef123",
            &[("name", "web"), ("image", "busybox")],
        );
        let pull = msg(
            EventType::IMAGE,
            "pull",
            "busybox:latest",
            &[("name", "busybox:latest")],
        );
        let vol = msg(EventType::VOLUME, "create", "data", &[("driver", "local")]);
        let all = [&start, &exec, &pull, &vol];
        let count = |json: &str| all.iter().filter(|m| include(&f(json), m)).count();
        assert_eq!(count("{}"), 4);
        assert_eq!(count(r#"{"type":{"container":true}}"#), 2);
        assert_eq!(count(r#"{"event":{"start":true}}"#), 1);
        assert_eq!(count(r#"{"event":{"exec_start":true}}"#), 1);
        assert_eq!(count(r#"{"container":{"web":true}}"#), 2);
        assert_eq!(count(r#"{"container":{"abc":true}}"#), 2);
        assert_eq!(count(r#"{"container":{"nope":true}}"#), 0);
        // image= matches container events by their image, with or without
        // the tag, and image events by id or name.
        assert_eq!(count(r#"{"image":{"busybox":true}}"#), 3);
        assert_eq!(count(r#"{"image":{"busybox:latest":true}}"#), 2);
        assert_eq!(count(r#"{"label":{"tier=front":true}}"#), 1);
        assert_eq!(count(r#"{"label":{"tier":true}}"#), 1);
        assert_eq!(count(r#"{"volume":{"data":true}}"#), 1);
        assert_eq!(count(r#"{"type":{"volume":true,"image":true}}"#), 2);
        assert_eq!(strip_tag("localhost:5000/a"), "localhost:5000/a");
        assert_eq!(strip_tag("localhost:5000/a:1"), "localhost:5000/a");
        assert_eq!(strip_tag("a@sha256:00"), "a");
    }

    #[test]
    fn the_ring_is_bounded_and_replays_since() {
        let bus = EventBus::new();
        for i in 0..(RING + 10) {
            let mut m = msg(EventType::VOLUME, "create", &format!("v{i}"), &[]);
            m.time_nano = i as i64;
            bus.publish(m);
        }
        let (past, _) = bus.subscribe(None, None);
        assert!(past.is_empty(), "no replay without since or until");
        let (past, _) = bus.subscribe(Some(DateTime::from_timestamp_nanos(0)), None);
        assert_eq!(past.len(), RING);
        assert_eq!(past[0].actor.id, "v10");
        let (past, _) = bus.subscribe(
            Some(DateTime::from_timestamp_nanos(RING as i64)),
            Some(DateTime::from_timestamp_nanos(RING as i64 + 2)),
        );
        let ids: Vec<_> = past.iter().map(|m| m.actor.id.as_str()).collect();
        let want: Vec<String> = (RING..=RING + 2).map(|i| format!("v{i}")).collect();
        assert_eq!(ids, want);
    }

    #[test]
    fn a_stalled_subscriber_never_blocks_publishing() {
        let bus = EventBus::new();
        let (_, mut rx) = bus.subscribe(None, None);
        for i in 0..(BACKLOG * 3) {
            bus.publish(msg(EventType::VOLUME, "create", &format!("v{i}"), &[]));
        }
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
        // It goes on with what is still there.
        assert!(rx.try_recv().is_ok());
    }
}
